/*
 * fetch_items.c - the data items of a FETCH command (RFC 3501 §6.4.5,
 * RFC 7162 MODSEQ/CHANGEDSINCE) as a list the job can serve.
 *
 * Parsing happens on the loop thread before any job starts, so that a
 * malformed request costs no database work and is answered BAD at once.
 */
/* System. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* libofc. */
#include "ofc_mem.h"

/* This program. */
#include "imap4.h"

/* A HEADER.FIELDS list longer than this is refused (each name is matched per field). */
#define MAX_FIELDS 256

static struct imap_fetch_item *add_item(struct imap_fetch_req *req, enum imap_fetch_kind kind)
{
    req->items = ofc_xrealloc(req->items, (req->n + 1) * sizeof(*req->items));
    struct imap_fetch_item *it = &req->items[req->n++];
    memset(it, 0, sizeof(*it));
    it->kind = kind;
    it->pfrom = -1;
    it->plen = -1;
    return it;
}

static bool has_kind(const struct imap_fetch_req *req, enum imap_fetch_kind kind)
{
    for (size_t i = 0; i < req->n; i++)
        if (req->items[i].kind == kind)
            return true;
    return false;
}

/* Adds a simple item once (FLAGS FLAGS is answered with one FLAGS). */
static void add_simple(struct imap_fetch_req *req, enum imap_fetch_kind kind)
{
    if (!has_kind(req, kind))
        (void)add_item(req, kind);
}

/* A field name may be sent in the response as an atom. */
static bool atom_safe(const char *s)
{
    if (*s == '\0')
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        if (*p <= ' ' || *p >= 0x7f || strchr("(){%*\"\\]", *p) != NULL)
            return false;
    return true;
}

/* Field names are printable ASCII without ':' (RFC 5322 ftext). */
static bool field_name_ok(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f || s[i] == ':')
            return false;
    return true;
}

/*
 * The section text "1.2.HEADER.FIELDS" -> part "1.2", text FIELDS.
 * Returns 0 or -1.
 */
static int split_section(const char *spec, struct imap_fetch_item *it)
{
    const char *p = spec;
    const char *part_end = spec;
    /* Part numbers: non-zero numbers separated by dots, then ".TEXT" etc. */
    while (isdigit((unsigned char)*p)) {
        const char *num = p;
        while (isdigit((unsigned char)*p))
            p++;
        if (*num == '0' || p - num > 9)
            return -1;
        part_end = p;
        if (*p != '.')
            break;
        p++;
        if (!isdigit((unsigned char)*p))
            break; /* the section text follows the dot */
    }
    if (part_end != spec && *part_end != '\0' && *part_end != '.')
        return -1; /* "1X" */
    if (part_end != spec && *part_end == '.' && *p == '\0')
        return -1; /* "1." */
    it->part = ofc_xstrndup(spec, (size_t)(part_end - spec));
    bool has_part = part_end != spec;
    if (*p == '\0')
        it->text = IMAP_FT_ALL;
    else if (strcasecmp(p, "HEADER") == 0)
        it->text = IMAP_FT_HEADER;
    else if (strcasecmp(p, "HEADER.FIELDS") == 0)
        it->text = IMAP_FT_FIELDS;
    else if (strcasecmp(p, "HEADER.FIELDS.NOT") == 0)
        it->text = IMAP_FT_FIELDS_NOT;
    else if (strcasecmp(p, "TEXT") == 0)
        it->text = IMAP_FT_TEXT;
    else if (strcasecmp(p, "MIME") == 0 && has_part)
        it->text = IMAP_FT_MIME;
    else
        return -1;
    return 0;
}

static void add_field(struct imap_fetch_item *it, const char *name, size_t len)
{
    it->fields = ofc_xrealloc(it->fields, (it->nfields + 1) * sizeof(*it->fields));
    it->fields[it->nfields++] = ofc_xstrndup(name, len);
}

/*
 * Fallback when the parser left the inside of [] unparsed: takes the
 * section text and the field names from the token text itself.
 */
static int section_from_text(const char *open, struct imap_fetch_item *it)
{
    const char *close = strrchr(open, ']');
    if (close == NULL)
        return -1;
    const char *sp = open + 1;
    const char *end = sp;
    while (end < close && *end != ' ')
        end++;
    char *spec = ofc_xstrndup(sp, (size_t)(end - sp));
    int rc = split_section(spec, it);
    free(spec);
    if (rc != 0)
        return -1;
    if (it->text == IMAP_FT_FIELDS || it->text == IMAP_FT_FIELDS_NOT) {
        const char *p = end;
        while (p < close && *p == ' ')
            p++;
        if (p >= close || *p != '(')
            return -1;
        p++;
        while (p < close && *p != ')') {
            while (p < close && *p == ' ')
                p++;
            const char *w = p;
            while (p < close && *p != ' ' && *p != ')')
                p++;
            if (p > w) {
                if (!field_name_ok(w, (size_t)(p - w)) || it->nfields >= MAX_FIELDS)
                    return -1;
                add_field(it, w, (size_t)(p - w));
            }
        }
        if (p >= close || it->nfields == 0)
            return -1;
    } else if (end != close) {
        return -1;
    }
    return 0;
}

/* The label of a section item in the response: "BODY[1.HEADER.FIELDS (A B)]<0>". */
static void make_label(struct imap_fetch_item *it, const char *name)
{
    static const char *const texts[] = {"",     "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT",
                                        "MIME", "TEXT"};
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    ofc_strbuf_puts(&sb, name);
    ofc_strbuf_putc(&sb, '[');
    ofc_strbuf_puts(&sb, it->part);
    if (it->part[0] != '\0' && it->text != IMAP_FT_ALL)
        ofc_strbuf_putc(&sb, '.');
    ofc_strbuf_puts(&sb, texts[it->text]);
    if (it->nfields > 0) {
        ofc_strbuf_puts(&sb, " (");
        for (size_t i = 0; i < it->nfields; i++) {
            if (i > 0)
                ofc_strbuf_putc(&sb, ' ');
            /* Upper case, as Dovecot answers: clients compare without case. */
            char *u = ofc_xstrdup(it->fields[i]);
            for (char *q = u; *q != '\0'; q++)
                *q = (char)toupper((unsigned char)*q);
            if (atom_safe(u)) {
                ofc_strbuf_puts(&sb, u);
            } else {
                ofc_strbuf_putc(&sb, '"');
                ofc_strbuf_puts(&sb, u); /* field_name_ok: no '"' or '\\' worries below */
                ofc_strbuf_putc(&sb, '"');
            }
            free(u);
        }
        ofc_strbuf_putc(&sb, ')');
    }
    ofc_strbuf_putc(&sb, ']');
    if (it->pfrom >= 0)
        ofc_strbuf_printf(&sb, "<%lld>", it->pfrom);
    it->label = ofc_strbuf_detach(&sb);
}

/* BODY[...] / BODY.PEEK[...]; BINARY[part] / BINARY.PEEK[part] / BINARY.SIZE[part] (RFC 3516). */
static int parse_section(struct imap_fetch_req *req, const struct imap_arg *a, const char **error_r)
{
    const char *open = strchr(a->s, '[');
    if (open == NULL) {
        *error_r = "invalid FETCH item";
        return -1;
    }
    size_t nlen = (size_t)(open - a->s);
    bool peek = false, binary = false, size = false;
    if (nlen == 4 && strncasecmp(a->s, "BODY", 4) == 0)
        peek = false;
    else if (nlen == 9 && strncasecmp(a->s, "BODY.PEEK", 9) == 0)
        peek = true;
    else if (nlen == 6 && strncasecmp(a->s, "BINARY", 6) == 0)
        binary = true;
    else if (nlen == 11 && strncasecmp(a->s, "BINARY.PEEK", 11) == 0)
        binary = peek = true;
    else if (nlen == 11 && strncasecmp(a->s, "BINARY.SIZE", 11) == 0)
        binary = peek = size = true;
    else {
        *error_r = "unknown FETCH item";
        return -1;
    }
    struct imap_fetch_item *it = add_item(req, IMAP_FI_SECTION);
    it->sets_seen = !peek;
    it->binary = binary;
    it->binary_size = size;
    if (a->n > 0 && a->list != NULL) {
        if (a->list[0].type != IMAP_ARG_ATOM || split_section(a->list[0].s, it) != 0) {
            *error_r = "invalid section in FETCH";
            return -1;
        }
        bool wants_list = it->text == IMAP_FT_FIELDS || it->text == IMAP_FT_FIELDS_NOT;
        if (wants_list) {
            const struct imap_arg *l = a->n == 2 ? &a->list[1] : NULL;
            if (l == NULL || l->type != IMAP_ARG_LIST || l->n == 0 || l->n > MAX_FIELDS) {
                *error_r = "HEADER.FIELDS needs a list of field names";
                return -1;
            }
            for (size_t i = 0; i < l->n; i++) {
                const char *name = imap_arg_astring(&l->list[i]);
                if (name == NULL || !field_name_ok(name, strlen(name))) {
                    *error_r = "invalid header field name";
                    return -1;
                }
                add_field(it, name, strlen(name));
            }
        } else if (a->n != 1) {
            *error_r = "invalid section in FETCH";
            return -1;
        }
    } else if (open[1] != ']') {
        if (section_from_text(open, it) != 0) {
            *error_r = "invalid section in FETCH";
            return -1;
        }
    } else {
        it->part = ofc_xstrdup("");
        it->text = IMAP_FT_ALL;
    }
    if (a->partial_from >= 0) {
        if (a->partial_len < 0) {
            *error_r = "invalid partial in FETCH";
            return -1;
        }
        it->pfrom = a->partial_from;
        it->plen = a->partial_len;
    }
    if (binary && it->text != IMAP_FT_ALL) {
        *error_r = "BINARY takes part numbers only";
        return -1;
    }
    if (size && it->pfrom >= 0) {
        *error_r = "BINARY.SIZE takes no partial";
        return -1;
    }
    make_label(it, size ? "BINARY.SIZE" : binary ? "BINARY" : "BODY");
    return 0;
}

static void add_rfc822(struct imap_fetch_req *req, const char *label, enum imap_fetch_text text,
                       bool sets_seen)
{
    struct imap_fetch_item *it = add_item(req, IMAP_FI_SECTION);
    it->part = ofc_xstrdup("");
    it->text = text;
    it->sets_seen = sets_seen;
    it->label = ofc_xstrdup(label);
}

static int parse_item(struct imap_fetch_req *req, const struct imap_arg *a, bool top,
                      const char **error_r)
{
    if (a->type == IMAP_ARG_SECTION)
        return parse_section(req, a, error_r);
    if (a->type != IMAP_ARG_ATOM) {
        *error_r = "invalid FETCH item";
        return -1;
    }
    const char *w = a->s;
    if (top && strcasecmp(w, "ALL") == 0) {
        add_simple(req, IMAP_FI_FLAGS);
        add_simple(req, IMAP_FI_INTERNALDATE);
        add_simple(req, IMAP_FI_SIZE);
        add_simple(req, IMAP_FI_ENVELOPE);
    } else if (top && strcasecmp(w, "FAST") == 0) {
        add_simple(req, IMAP_FI_FLAGS);
        add_simple(req, IMAP_FI_INTERNALDATE);
        add_simple(req, IMAP_FI_SIZE);
    } else if (top && strcasecmp(w, "FULL") == 0) {
        add_simple(req, IMAP_FI_FLAGS);
        add_simple(req, IMAP_FI_INTERNALDATE);
        add_simple(req, IMAP_FI_SIZE);
        add_simple(req, IMAP_FI_ENVELOPE);
        add_simple(req, IMAP_FI_BODY);
    } else if (strcasecmp(w, "FLAGS") == 0) {
        add_simple(req, IMAP_FI_FLAGS);
    } else if (strcasecmp(w, "INTERNALDATE") == 0) {
        add_simple(req, IMAP_FI_INTERNALDATE);
    } else if (strcasecmp(w, "RFC822.SIZE") == 0) {
        add_simple(req, IMAP_FI_SIZE);
    } else if (strcasecmp(w, "ENVELOPE") == 0) {
        add_simple(req, IMAP_FI_ENVELOPE);
    } else if (strcasecmp(w, "BODY") == 0) {
        add_simple(req, IMAP_FI_BODY);
    } else if (strcasecmp(w, "BODYSTRUCTURE") == 0) {
        add_simple(req, IMAP_FI_BODYSTRUCTURE);
    } else if (strcasecmp(w, "UID") == 0) {
        add_simple(req, IMAP_FI_UID);
    } else if (strcasecmp(w, "MODSEQ") == 0) {
        add_simple(req, IMAP_FI_MODSEQ);
    } else if (strcasecmp(w, "RFC822") == 0) {
        add_rfc822(req, "RFC822", IMAP_FT_ALL, true);
    } else if (strcasecmp(w, "RFC822.HEADER") == 0) {
        add_rfc822(req, "RFC822.HEADER", IMAP_FT_HEADER, false);
    } else if (strcasecmp(w, "RFC822.TEXT") == 0) {
        add_rfc822(req, "RFC822.TEXT", IMAP_FT_TEXT, true);
    } else {
        *error_r = "unknown FETCH item";
        return -1;
    }
    return 0;
}

/* (CHANGEDSINCE n): RFC 7162 §3.1.4. */
static int parse_modifiers(struct imap_fetch_req *req, const struct imap_arg *a,
                           const char **error_r)
{
    if (a->type != IMAP_ARG_LIST || a->n == 0) {
        *error_r = "invalid FETCH modifiers";
        return -1;
    }
    for (size_t i = 0; i < a->n; i++) {
        const struct imap_arg *m = &a->list[i];
        if (imap_arg_is(m, "CHANGEDSINCE") && i + 1 < a->n &&
            a->list[i + 1].type == IMAP_ARG_ATOM) {
            const char *v = a->list[i + 1].s;
            char *end = NULL;
            errno = 0;
            unsigned long long n = strtoull(v, &end, 10);
            if (!isdigit((unsigned char)v[0]) || *end != '\0' || errno != 0 || n == 0 ||
                n > (unsigned long long)INT64_MAX) {
                *error_r = "invalid CHANGEDSINCE value";
                return -1;
            }
            req->changedsince = (long long)n;
            i++;
        } else {
            *error_r = "unknown FETCH modifier";
            return -1;
        }
    }
    return 0;
}

int imap_fetch_parse(const struct imap_cmd *cmd, struct imap_fetch_req *req, const char **error_r)
{
    memset(req, 0, sizeof(*req));
    req->changedsince = -1;
    if (cmd->nargs < 2 || cmd->nargs > 3) {
        *error_r = "FETCH needs a sequence set and items";
        return -1;
    }
    /* UID FETCH always answers UID, first (RFC 3501 §6.4.8). */
    if (cmd->uid)
        add_simple(req, IMAP_FI_UID);
    const struct imap_arg *a = &cmd->args[1];
    if (a->type == IMAP_ARG_LIST) {
        if (a->n == 0) {
            *error_r = "empty FETCH item list";
            return -1;
        }
        for (size_t i = 0; i < a->n; i++)
            if (parse_item(req, &a->list[i], false, error_r) != 0)
                return -1;
    } else if (parse_item(req, a, true, error_r) != 0) {
        return -1;
    }
    if (cmd->nargs == 3 && parse_modifiers(req, &cmd->args[2], error_r) != 0)
        return -1;
    if (req->changedsince >= 0)
        add_simple(req, IMAP_FI_MODSEQ);
    for (size_t i = 0; i < req->n; i++)
        if (req->items[i].sets_seen)
            req->sets_seen = true;
    return 0;
}

void imap_fetch_req_free(struct imap_fetch_req *req)
{
    for (size_t i = 0; i < req->n; i++) {
        struct imap_fetch_item *it = &req->items[i];
        free(it->part);
        for (size_t j = 0; j < it->nfields; j++)
            free(it->fields[j]);
        free(it->fields);
        free(it->label);
    }
    free(req->items);
    memset(req, 0, sizeof(*req));
}
