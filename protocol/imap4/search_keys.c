/*
 * search_keys.c - SEARCH keys (RFC 3501 §6.4.4, RFC 7162 MODSEQ) as one
 * SQL statement with parameters.
 *
 * Every key becomes a boolean expression that is never NULL (NOT of a
 * NULL would drop a message that should match), combined with AND, OR
 * and NOT as the client nested them. The client's strings, numbers and
 * dates only ever travel as parameters; the SQL text is made of our own
 * fragments.
 *
 * How text is matched (case-insensitive substring, RFC 3501):
 *   FROM TO CC BCC SUBJECT  the cached decoded first field (message.hdr_*)
 *   HEADER name s           every field of that name (message_header,
 *                           unfolded and RFC 2047-decoded)
 *   BODY s                  the raw body octets
 *   TEXT s                  the decoded header fields and the raw message
 * Raw octets are compared as ISO-8859-1 text with the needle's UTF-8
 * octets read the same way: any byte sequence matches itself, and case is
 * folded for ASCII (and Latin-1 bodies). Limits: bodies in base64 or
 * quoted-printable are not decoded, and non-ASCII letters in UTF-8
 * bodies match only in the case given.
 * Dates (BEFORE, ON, SINCE and the SENT* keys) are compared in UTC; a
 * message without a valid Date: field uses its internal date for SENT*.
 */
/* System. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* libofc. */
#include "ofc_mem.h"

/* This program. */
#include "imap4.h"

/* NOT, OR and parentheses nested deeper than this are refused. */
#define MAX_DEPTH 64

struct builder {
    const struct imap_view *v;
    struct ofc_strbuf sql;
    struct imap_search_query *q;
    int depth;
    const char *error;
};

/* Adds a parameter and returns its number ($n). */
static size_t add_param(struct builder *b, char *value)
{
    struct imap_search_query *q = b->q;
    q->params = ofc_xrealloc(q->params, (q->nparams + 1) * sizeof(*q->params));
    q->params[q->nparams++] = value;
    return q->nparams;
}

static void emit(struct builder *b, const char *text)
{
    ofc_strbuf_puts(&b->sql, text);
}

/* Strict UTF-8 (no overlongs, surrogates or NUL): PostgreSQL refuses others. */
static bool utf8_valid(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf)
            n = 1, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
            n = 2, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
            n = 3, cp = c & 0x07;
        else
            return false;
        for (size_t k = 1; k <= n; k++) {
            if (i + k >= len || (s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}

/* The astring argument at args[*i] as a parameter; advances *i. */
static int string_param(struct builder *b, const struct imap_arg *args, size_t nargs, size_t *i,
                        size_t *param_r)
{
    if (*i >= nargs) {
        b->error = "missing argument in SEARCH";
        return -1;
    }
    const struct imap_arg *a = &args[*i];
    const char *s = imap_arg_astring(a);
    if (s == NULL) {
        b->error = "SEARCH expects a string";
        return -1;
    }
    size_t len = a->type == IMAP_ARG_STRING ? a->len : strlen(s);
    if (!utf8_valid((const unsigned char *)s, len)) {
        b->error = "SEARCH string is not valid UTF-8";
        return -1;
    }
    (*i)++;
    *param_r = add_param(b, ofc_xstrndup(s, len));
    return 0;
}

static int number_param(struct builder *b, const struct imap_arg *args, size_t nargs, size_t *i,
                        size_t *param_r)
{
    if (*i >= nargs || args[*i].type != IMAP_ARG_ATOM) {
        b->error = "SEARCH expects a number";
        return -1;
    }
    const char *s = args[*i].s;
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(s, &end, 10);
    if (!isdigit((unsigned char)s[0]) || *end != '\0' || errno != 0 ||
        n > (unsigned long long)INT64_MAX) {
        b->error = "invalid number in SEARCH";
        return -1;
    }
    (*i)++;
    *param_r = add_param(b, ofc_xasprintf("%llu", n));
    return 0;
}

/* date = "d-Mon-yyyy" (RFC 3501 §9), quoted or not -> "yyyy-mm-dd". */
static int date_param(struct builder *b, const struct imap_arg *args, size_t nargs, size_t *i,
                      size_t *param_r)
{
    static const char *const months[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                         "jul", "aug", "sep", "oct", "nov", "dec"};
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    b->error = "invalid date in SEARCH";
    if (*i >= nargs)
        return -1;
    const char *s = imap_arg_astring(&args[*i]);
    if (s == NULL)
        return -1;
    int day = 0, k = 0;
    while (k < 2 && isdigit((unsigned char)s[k]))
        day = day * 10 + (s[k++] - '0');
    if (k == 0 || s[k] != '-' || strlen(s + k) != 9 || s[k + 4] != '-')
        return -1;
    int mon = -1;
    for (int m = 0; m < 12; m++)
        if (strncasecmp(s + k + 1, months[m], 3) == 0)
            mon = m;
    const char *y = s + k + 5;
    for (int d = 0; d < 4; d++)
        if (!isdigit((unsigned char)y[d]))
            return -1;
    int year = atoi(y);
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (mon < 0 || day < 1 || day > mdays[mon] || (mon == 1 && day == 29 && !leap) || year < 1)
        return -1;
    (*i)++;
    b->error = NULL;
    *param_r = add_param(b, ofc_xasprintf("%04d-%02d-%02d", year, mon + 1, day));
    return 0;
}

/* A sequence set (msns, or UIDs when uid) as the UIDs of the view it names. */
static int set_param(struct builder *b, const char *text, bool uid, size_t *param_r)
{
    struct imap_seqset set;
    if (imap_seqset_parse(text, &set) != 0) {
        b->error = "invalid sequence set in SEARCH";
        return -1;
    }
    const struct imap_view *v = b->v;
    uint32_t largest = uid ? (v->n > 0 ? v->uids[v->n - 1] : 0) : (uint32_t)v->n;
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    ofc_strbuf_putc(&sb, '{');
    bool first = true;
    for (size_t k = 0; k < v->n; k++) {
        uint32_t x = uid ? v->uids[k] : (uint32_t)(k + 1);
        if (imap_seqset_contains(&set, x, largest)) {
            ofc_strbuf_printf(&sb, first ? "%" PRIu32 : ",%" PRIu32, v->uids[k]);
            first = false;
        }
    }
    ofc_strbuf_putc(&sb, '}');
    imap_seqset_free(&set);
    *param_r = add_param(b, ofc_strbuf_detach(&sb));
    return 0;
}

static bool is_set(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if (!isdigit((unsigned char)*s) && strchr(":,*", *s) == NULL)
            return false;
    return true;
}

/* Flags that a KEYWORD may name (RFC 3501 lets a client try). */
static int system_flag(const char *s)
{
    static const struct {
        const char *name;
        int bit;
    } flags[] = {{"\\Seen", IMAP_SEEN},
                 {"\\Answered", IMAP_ANSWERED},
                 {"\\Flagged", IMAP_FLAGGED},
                 {"\\Deleted", IMAP_DELETED},
                 {"\\Draft", IMAP_DRAFT}};
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
        if (strcasecmp(s, flags[i].name) == 0)
            return flags[i].bit;
    return 0;
}

static int parse_key(struct builder *b, const struct imap_arg *args, size_t nargs, size_t *i);

/* Keys up to the end of args, ANDed. */
static int parse_keys(struct builder *b, const struct imap_arg *args, size_t nargs)
{
    if (nargs == 0) {
        b->error = "missing SEARCH key";
        return -1;
    }
    size_t i = 0;
    emit(b, "(");
    while (i < nargs) {
        if (i > 0)
            emit(b, " AND ");
        if (parse_key(b, args, nargs, &i) != 0)
            return -1;
    }
    emit(b, ")");
    return 0;
}

/* A flag test on p.flags. */
static void flag_test(struct builder *b, int bit, bool set)
{
    ofc_strbuf_printf(&b->sql, "(p.flags & %d %s 0)", bit, set ? "<>" : "=");
}

/* position(lower($n) IN lower(col)) > 0, never NULL. */
static void contains(struct builder *b, const char *col, size_t n)
{
    ofc_strbuf_printf(&b->sql, "coalesce(position(lower($%zu) IN lower(%s)) > 0, false)", n, col);
}

/* The raw octets (from `expr`, a bytea) read as Latin-1, holding the needle's octets. */
static void contains_raw(struct builder *b, const char *expr, size_t n)
{
    ofc_strbuf_printf(&b->sql,
                      "coalesce(position(lower(convert_from(convert_to($%zu, 'UTF8'), 'LATIN1'))"
                      " IN lower(convert_from(%s, 'LATIN1'))) > 0, false)",
                      n, expr);
}

static void header_value(struct builder *b, size_t name, size_t value)
{
    ofc_strbuf_puts(&b->sql,
                    "EXISTS (SELECT 1 FROM ofc.message_header h WHERE h.message_id = m.id");
    if (name > 0)
        ofc_strbuf_printf(&b->sql, " AND h.name = lower($%zu)", name);
    ofc_strbuf_printf(&b->sql, " AND position(lower($%zu) IN lower(h.value)) > 0)", value);
}

static int parse_key(struct builder *b, const struct imap_arg *args, size_t nargs, size_t *i)
{
    const struct imap_arg *a = &args[*i];
    if (++b->depth > MAX_DEPTH) {
        b->error = "SEARCH nested too deeply";
        return -1;
    }
    size_t n1 = 0, n2 = 0;
    int rc = 0;
    if (a->type == IMAP_ARG_LIST) {
        (*i)++;
        rc = parse_keys(b, a->list, a->n);
        b->depth--;
        return rc;
    }
    if (a->type != IMAP_ARG_ATOM) {
        b->error = "invalid SEARCH key";
        return -1;
    }
    const char *k = a->s;
    (*i)++;
    static const struct {
        const char *name;
        int bit;
        bool set;
    } flag_keys[] = {
        {"ANSWERED", IMAP_ANSWERED, true},  {"DELETED", IMAP_DELETED, true},
        {"DRAFT", IMAP_DRAFT, true},        {"FLAGGED", IMAP_FLAGGED, true},
        {"SEEN", IMAP_SEEN, true},          {"UNANSWERED", IMAP_ANSWERED, false},
        {"UNDELETED", IMAP_DELETED, false}, {"UNDRAFT", IMAP_DRAFT, false},
        {"UNFLAGGED", IMAP_FLAGGED, false}, {"UNSEEN", IMAP_SEEN, false},
    };
    static const struct {
        const char *name;
        const char *col;
    } addr_keys[] = {{"FROM", "m.hdr_from"},
                     {"TO", "m.hdr_to"},
                     {"CC", "m.hdr_cc"},
                     {"BCC", "m.hdr_bcc"},
                     {"SUBJECT", "m.hdr_subject"}};
    static const struct {
        const char *name;
        const char *col;
        const char *op;
    } date_keys[] = {
        {"BEFORE", "p.internaldate", "<"},
        {"ON", "p.internaldate", "="},
        {"SINCE", "p.internaldate", ">="},
        {"SENTBEFORE", "coalesce(m.hdr_date, p.internaldate)", "<"},
        {"SENTON", "coalesce(m.hdr_date, p.internaldate)", "="},
        {"SENTSINCE", "coalesce(m.hdr_date, p.internaldate)", ">="},
    };
    for (size_t f = 0; f < sizeof(flag_keys) / sizeof(flag_keys[0]); f++)
        if (strcasecmp(k, flag_keys[f].name) == 0) {
            flag_test(b, flag_keys[f].bit, flag_keys[f].set);
            goto out;
        }
    for (size_t f = 0; f < sizeof(addr_keys) / sizeof(addr_keys[0]); f++)
        if (strcasecmp(k, addr_keys[f].name) == 0) {
            if (string_param(b, args, nargs, i, &n1) != 0)
                return -1;
            contains(b, addr_keys[f].col, n1);
            goto out;
        }
    for (size_t f = 0; f < sizeof(date_keys) / sizeof(date_keys[0]); f++)
        if (strcasecmp(k, date_keys[f].name) == 0) {
            if (date_param(b, args, nargs, i, &n1) != 0)
                return -1;
            ofc_strbuf_printf(&b->sql, "((%s AT TIME ZONE 'UTC')::date %s $%zu::date)",
                              date_keys[f].col, date_keys[f].op, n1);
            goto out;
        }
    if (strcasecmp(k, "ALL") == 0) {
        emit(b, "true");
    } else if (strcasecmp(k, "NEW") == 0 || strcasecmp(k, "OLD") == 0 ||
               strcasecmp(k, "RECENT") == 0) {
        n1 = add_param(b, ofc_xasprintf("%" PRIu32, b->v->first_recent_uid));
        if (strcasecmp(k, "NEW") == 0)
            ofc_strbuf_printf(&b->sql, "(p.uid >= $%zu::bigint AND p.flags & 1 = 0)", n1);
        else
            ofc_strbuf_printf(&b->sql, "(p.uid %s $%zu::bigint)",
                              strcasecmp(k, "OLD") == 0 ? "<" : ">=", n1);
    } else if (strcasecmp(k, "KEYWORD") == 0 || strcasecmp(k, "UNKEYWORD") == 0) {
        bool un = toupper((unsigned char)k[0]) == 'U';
        const char *flag = *i < nargs ? imap_arg_astring(&args[*i]) : NULL;
        int bit = flag != NULL ? system_flag(flag) : 0;
        if (bit != 0) {
            (*i)++;
            flag_test(b, bit, !un);
        } else {
            if (string_param(b, args, nargs, i, &n1) != 0)
                return -1;
            ofc_strbuf_printf(&b->sql,
                              "(%sEXISTS (SELECT 1 FROM unnest(p.keywords) AS k(w)"
                              " WHERE lower(k.w) = lower($%zu)))",
                              un ? "NOT " : "", n1);
        }
    } else if (strcasecmp(k, "LARGER") == 0 || strcasecmp(k, "SMALLER") == 0) {
        if (number_param(b, args, nargs, i, &n1) != 0)
            return -1;
        ofc_strbuf_printf(&b->sql, "(m.size %s $%zu::bigint)",
                          toupper((unsigned char)k[0]) == 'L' ? ">" : "<", n1);
    } else if (strcasecmp(k, "HEADER") == 0) {
        if (string_param(b, args, nargs, i, &n1) != 0 || string_param(b, args, nargs, i, &n2) != 0)
            return -1;
        header_value(b, n1, n2);
    } else if (strcasecmp(k, "BODY") == 0) {
        if (string_param(b, args, nargs, i, &n1) != 0)
            return -1;
        contains_raw(b, "substring(m.raw FROM m.header_size::integer + 1)", n1);
    } else if (strcasecmp(k, "TEXT") == 0) {
        if (string_param(b, args, nargs, i, &n1) != 0)
            return -1;
        emit(b, "(");
        header_value(b, 0, n1);
        emit(b, " OR ");
        contains_raw(b, "m.raw", n1);
        emit(b, ")");
    } else if (strcasecmp(k, "NOT") == 0) {
        if (*i >= nargs) {
            b->error = "NOT needs a SEARCH key";
            return -1;
        }
        emit(b, "(NOT ");
        if (parse_key(b, args, nargs, i) != 0)
            return -1;
        emit(b, ")");
    } else if (strcasecmp(k, "OR") == 0) {
        if (*i + 1 >= nargs) {
            b->error = "OR needs two SEARCH keys";
            return -1;
        }
        emit(b, "(");
        if (parse_key(b, args, nargs, i) != 0)
            return -1;
        emit(b, " OR ");
        if (*i >= nargs) {
            b->error = "OR needs two SEARCH keys";
            return -1;
        }
        if (parse_key(b, args, nargs, i) != 0)
            return -1;
        emit(b, ")");
    } else if (strcasecmp(k, "UID") == 0) {
        if (*i >= nargs || args[*i].type != IMAP_ARG_ATOM) {
            b->error = "UID needs a sequence set";
            return -1;
        }
        if (set_param(b, args[*i].s, true, &n1) != 0)
            return -1;
        (*i)++;
        ofc_strbuf_printf(&b->sql, "(p.uid = ANY($%zu::bigint[]))", n1);
    } else if (strcasecmp(k, "MODSEQ") == 0) {
        /* MODSEQ [entry-name entry-type-req] mod-sequence-valzer (RFC 7162 §3.1.5). */
        if (*i < nargs && args[*i].type == IMAP_ARG_STRING) {
            const char *type = *i + 1 < nargs ? imap_arg_astring(&args[*i + 1]) : NULL;
            if (type == NULL || (strcasecmp(type, "priv") != 0 && strcasecmp(type, "shared") != 0 &&
                                 strcasecmp(type, "all") != 0)) {
                b->error = "invalid MODSEQ entry type";
                return -1;
            }
            *i += 2;
        }
        if (number_param(b, args, nargs, i, &n1) != 0)
            return -1;
        ofc_strbuf_printf(&b->sql, "(p.modseq >= $%zu::bigint)", n1);
        b->q->modseq = true;
    } else if (is_set(k)) {
        if (set_param(b, k, false, &n1) != 0)
            return -1;
        ofc_strbuf_printf(&b->sql, "(p.uid = ANY($%zu::bigint[]))", n1);
    } else {
        b->error = "unknown SEARCH key";
        return -1;
    }
out:
    b->depth--;
    return rc;
}

int imap_search_build(const struct imap_view *v, const struct imap_arg *args, size_t nargs,
                      struct imap_search_query *q, const char **error_r)
{
    memset(q, 0, sizeof(*q));
    if (nargs >= 1 && imap_arg_is(&args[0], "CHARSET")) {
        const char *cs = nargs >= 2 ? imap_arg_astring(&args[1]) : NULL;
        if (cs == NULL) {
            *error_r = "CHARSET needs a name";
            return -1;
        }
        if (strcasecmp(cs, "UTF-8") != 0 && strcasecmp(cs, "US-ASCII") != 0) {
            *error_r = "[BADCHARSET (UTF-8 US-ASCII)] unsupported charset";
            return -2;
        }
        args += 2;
        nargs -= 2;
    }
    struct builder b;
    memset(&b, 0, sizeof(b));
    b.v = v;
    b.q = q;
    (void)add_param(&b, ofc_xasprintf("%lld", v->mailbox_id));
    (void)add_param(&b, ofc_xasprintf("%" PRIu32, v->n > 0 ? v->uids[v->n - 1] : 0));
    ofc_strbuf_puts(&b.sql, "SELECT p.uid, p.modseq FROM ofc.mailbox_pointer p"
                            " JOIN ofc.message m ON m.id = p.message_id"
                            " WHERE p.mailbox_id = $1::bigint AND p.uid <= $2::bigint AND ");
    if (parse_keys(&b, args, nargs) != 0) {
        *error_r = b.error != NULL ? b.error : "invalid SEARCH";
        ofc_strbuf_free(&b.sql);
        return -1;
    }
    ofc_strbuf_puts(&b.sql, " ORDER BY p.uid");
    q->sql = ofc_strbuf_detach(&b.sql);
    return 0;
}

void imap_search_query_free(struct imap_search_query *q)
{
    free(q->sql);
    for (size_t i = 0; i < q->nparams; i++)
        free(q->params[i]);
    free(q->params);
    memset(q, 0, sizeof(*q));
}
