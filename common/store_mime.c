/*
 * store_mime.c - MIME structure, IMAP ENVELOPE/BODYSTRUCTURE and section
 * offsets of a message, computed once at ingestion.
 *
 * Structure and offsets come from a small scanner of our own, not from
 * GMime's parser: IMAP needs the exact byte range of every header and body
 * as stored (BODY[n.MIME], BODY[n]<partial>, the sizes in BODYSTRUCTURE),
 * and the parts numbered exactly as the BODYSTRUCTURE we send describes
 * them. One scanner that produces both cannot disagree with itself. GMime
 * is used where it is good and offsets do not matter: RFC 2047 encoded
 * words, address display text and RFC 5322 dates for the cached columns.
 *
 * The scanner, in the terms of RFC 2045/2046:
 *
 *   - A header ends at the first empty line ("\n" or "\r\n"), which belongs
 *     to it; without one the whole entity is header. Lines without a colon
 *     or with an invalid field name are skipped, not taken as the end of the
 *     header (as Dovecot does), so BODY[HEADER] is what a reader expects.
 *   - A multipart's delimiter is a line "--boundary" or "--boundary--"
 *     followed only by white space. The line break before a delimiter
 *     belongs to the delimiter, not to the part (RFC 2046 §5.1.1). The
 *     delimiters of a multipart are found before its parts are parsed, so
 *     an unterminated inner multipart ends where its enclosing part ends.
 *     A missing close delimiter ends the last part at the end of the
 *     multipart's body. A multipart without a boundary parameter or without
 *     any delimiter line is served as holding one headerless text/plain part
 *     that spans its whole body (RFC 3501 requires at least one part).
 *   - message/rfc822 parts (and the default parts of multipart/digest) are
 *     parsed as messages whatever their transfer encoding says.
 *   - Containers deeper than STORE_MIME_MAX_DEPTH, and containers met after
 *     STORE_MIME_MAX_PARTS parts, are served as application/octet-stream
 *     leaves; after STORE_MIME_MAX_PARTS parts, further delimiters of a
 *     multipart are ignored (the rest is its last part).
 *   - Line counts are the number of LF octets in a body (as Dovecot counts:
 *     a final line without a line break does not count).
 *
 * ENVELOPE and BODYSTRUCTURE follow RFC 3501 §7.4.2 and, where the RFC
 * leaves room, what Dovecot sends (clients are tested against it): names
 * and subjects with runs of white space collapsed, encoded words kept as
 * written, "MISSING_MAILBOX"/"MISSING_DOMAIN" for incomplete addresses
 * (a NIL host would read as a group marker), RFC 2231 continuations merged
 * into one "name" or "name*" parameter, text parts without a charset given
 * ("CHARSET" "US-ASCII"). Local parts keep their quotes, so that
 * mailbox@host is an address again.
 */
/* System. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Libraries. */
#include <gmime/gmime.h>

/* libofc. */
#include "ofc_mem.h"
#include "store_mime.h"

/* More parameters (or language tags) than this in one field are ignored:
 * RFC 2231 merging is quadratic in their number. */
#define MAX_PARAMS 256
/* Address fields longer than this are cached as decoded text, not parsed. */
#define MAX_ADDRESS_TEXT (64 * 1024)

/* ---------------------------------------------------------------------
 * Text: everything we store must be valid UTF-8 without NUL.
 */

/* Length of the well-formed UTF-8 sequence (RFC 3629) at s, or 0. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F))
            return 0; /* overlong, or a surrogate */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] > 0x8F))
            return 0; /* overlong, or beyond U+10FFFF */
        return 4;
    }
    return 0;
}

/*
 * Appends n octets of s as valid UTF-8: well-formed sequences as they are,
 * any other octet as the ISO-8859-1 character of that code (8-bit headers
 * from before RFC 6532 are mostly Latin-1). NUL octets are dropped, and so
 * are CR and LF when nolf is set (unfolding).
 */
static void put_utf8(struct ofc_strbuf *sb, const char *s, size_t n, bool nolf)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        size_t run = i;

        /* Copy runs of ASCII in one go: the common case. */
        while (run < n && p[run] < 0x80 && p[run] != '\0' &&
               !(nolf && (p[run] == '\r' || p[run] == '\n')))
            run++;
        if (run > i) {
            ofc_strbuf_append(sb, p + i, run - i);
            i = run;
            continue;
        }
        if (p[i] == '\0' || p[i] == '\r' || p[i] == '\n') {
            i++;
            continue;
        }
        size_t k = utf8_seq_len(p + i, n - i);
        if (k > 0) {
            ofc_strbuf_append(sb, p + i, k);
            i += k;
        } else {
            ofc_strbuf_putc(sb, (char)(0xC0 | (p[i] >> 6)));
            ofc_strbuf_putc(sb, (char)(0x80 | (p[i] & 0x3F)));
            i++;
        }
    }
}

static bool is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

/* A heap copy of s (valid UTF-8, no NUL) without leading and trailing blanks. */
static char *dup_trimmed(const char *s)
{
    size_t n = strlen(s);

    while (n > 0 && (is_wsp(*s) || *s == '\r' || *s == '\n')) {
        s++;
        n--;
    }
    while (n > 0 && (is_wsp(s[n - 1]) || s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    return ofc_xstrndup(s, n);
}

/* s with every run of blanks made one space, trimmed ("for humans"). Heap. */
static char *humanize(const char *s)
{
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    bool space = false;

    ofc_strbuf_init(&sb);
    for (; *s != '\0'; s++) {
        if (is_wsp(*s) || *s == '\r' || *s == '\n') {
            space = sb.len > 0;
            continue;
        }
        if (space)
            ofc_strbuf_putc(&sb, ' ');
        space = false;
        ofc_strbuf_putc(&sb, *s);
    }
    return ofc_strbuf_detach(&sb);
}

/* ---------------------------------------------------------------------
 * IMAP strings.
 */

/*
 * Appends s (valid UTF-8, no NUL) as an IMAP string. CR and LF are dropped
 * (header values are unfolded). 7-bit text is a quoted string; 8-bit text
 * is a literal, since RFC 3501 allows only 7-bit in quoted strings.
 */
static void imap_string(struct ofc_strbuf *sb, const char *s)
{
    size_t n = 0;
    bool eight = false;

    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '\r' || *p == '\n')
            continue;
        n++;
        if ((unsigned char)*p >= 0x80)
            eight = true;
    }
    if (eight) {
        ofc_strbuf_printf(sb, "{%zu}\r\n", n);
        for (const char *p = s; *p != '\0'; p++)
            if (*p != '\r' && *p != '\n')
                ofc_strbuf_putc(sb, *p);
        return;
    }
    ofc_strbuf_putc(sb, '"');
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '\r' || *p == '\n')
            continue;
        if (*p == '"' || *p == '\\')
            ofc_strbuf_putc(sb, '\\');
        ofc_strbuf_putc(sb, *p);
    }
    ofc_strbuf_putc(sb, '"');
}

static void imap_nstring(struct ofc_strbuf *sb, const char *s)
{
    if (s == NULL)
        ofc_strbuf_puts(sb, "NIL");
    else
        imap_string(sb, s);
}

/* ---------------------------------------------------------------------
 * Raw headers: fields as byte ranges of the message.
 */

struct field {
    size_t name_off, name_len;
    size_t val_off, val_end; /* after the colon up to the field's last line break */
};

struct header {
    struct field *v;
    size_t n, cap;
};

static bool field_name_valid(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 33 || c > 126 || c == ':')
            return false;
    }
    return true;
}

/*
 * Collects the fields of the header that starts at `start` in raw and
 * returns where its body starts: after the first empty line, or `end` when
 * there is none. Never reads at or beyond `end`.
 */
static size_t header_parse(const char *raw, size_t start, size_t end, struct header *h)
{
    size_t pos = start;
    bool open = false; /* the last field may take continuation lines */

    while (pos < end) {
        const char *lf = memchr(raw + pos, '\n', end - pos);
        size_t next = lf != NULL ? (size_t)(lf - raw) + 1 : end;
        size_t cend = lf != NULL ? (size_t)(lf - raw) : end;

        if (cend > pos && raw[cend - 1] == '\r')
            cend--;
        if (cend == pos)
            return next; /* the empty line: part of the header */
        if (is_wsp(raw[pos])) {
            if (open)
                h->v[h->n - 1].val_end = cend;
        } else {
            const char *colon = memchr(raw + pos, ':', cend - pos);
            size_t name_len = colon != NULL ? (size_t)(colon - raw) - pos : 0;

            while (name_len > 0 && is_wsp(raw[pos + name_len - 1]))
                name_len--; /* obs-optional: "Subject : x" */
            open = colon != NULL && field_name_valid(raw + pos, name_len);
            if (open) {
                if (h->n == h->cap) {
                    h->cap = h->cap == 0 ? 16 : h->cap * 2;
                    h->v = ofc_xrealloc(h->v, h->cap * sizeof(*h->v));
                }
                h->v[h->n].name_off = pos;
                h->v[h->n].name_len = name_len;
                h->v[h->n].val_off = (size_t)(colon - raw) + 1;
                h->v[h->n].val_end = cend;
                h->n++;
            }
        }
        pos = next;
    }
    return end;
}

static const struct field *header_find(const char *raw, const struct header *h, const char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0; i < h->n; i++)
        if (h->v[i].name_len == n && strncasecmp(raw + h->v[i].name_off, name, n) == 0)
            return &h->v[i];
    return NULL;
}

/* The field's value unfolded, trimmed, as valid UTF-8. Heap string. */
static char *field_value(const char *raw, const struct field *f)
{
    struct ofc_strbuf sb = OFC_STRBUF_INIT;

    ofc_strbuf_init(&sb);
    put_utf8(&sb, raw + f->val_off, f->val_end - f->val_off, true);
    char *all = ofc_strbuf_detach(&sb);
    char *v = dup_trimmed(all);
    free(all);
    return v;
}

/* The value of the first field called name, or NULL. Heap string. */
static char *header_value(const char *raw, const struct header *h, const char *name)
{
    const struct field *f = header_find(raw, h, name);

    return f != NULL ? field_value(raw, f) : NULL;
}

/* ---------------------------------------------------------------------
 * A lexer for structured field values (RFC 2045 and RFC 5322), over an
 * unfolded NUL-terminated value.
 */

struct lex {
    const char *p;
};

/*
 * Skips white space and comments (nested, with quoted-pairs; an
 * unterminated comment runs to the end). When comment is not NULL it
 * receives the text of the last comment. Returns whether anything was
 * skipped.
 */
static bool lex_cfws(struct lex *lx, struct ofc_strbuf *comment)
{
    const char *start = lx->p;

    for (;;) {
        while (is_wsp(*lx->p))
            lx->p++;
        if (*lx->p != '(')
            break;
        if (comment != NULL)
            ofc_strbuf_reset(comment);
        lx->p++;
        unsigned depth = 1;
        while (*lx->p != '\0') {
            char c = *lx->p;
            if (c == '\\' && lx->p[1] != '\0') {
                if (comment != NULL)
                    ofc_strbuf_putc(comment, lx->p[1]);
                lx->p += 2;
                continue;
            }
            lx->p++;
            if (c == '(') {
                depth++;
            } else if (c == ')' && --depth == 0) {
                break;
            }
            if (comment != NULL)
                ofc_strbuf_putc(comment, c);
        }
    }
    return lx->p != start;
}

/* Reads a quoted string at '"'; raw keeps the quotes and backslashes. */
static void lex_quoted(struct lex *lx, struct ofc_strbuf *out, bool raw)
{
    if (raw)
        ofc_strbuf_putc(out, '"');
    lx->p++;
    while (*lx->p != '\0' && *lx->p != '"') {
        if (*lx->p == '\\' && lx->p[1] != '\0') {
            if (raw)
                ofc_strbuf_putc(out, '\\');
            lx->p++;
        }
        ofc_strbuf_putc(out, *lx->p++);
    }
    if (*lx->p == '"')
        lx->p++;
    if (raw)
        ofc_strbuf_putc(out, '"');
}

/* RFC 2045 token characters; 8-bit octets are let through (raw UTF-8 names). */
static bool is_token_char(char c)
{
    unsigned char u = (unsigned char)c;

    return u > 32 && u != 127 && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* RFC 5322 atext, 8-bit let through (RFC 6532). */
static bool is_atext(char c)
{
    unsigned char u = (unsigned char)c;

    return u > 32 && u != 127 && strchr("()<>[]:;@\\,.\"", c) == NULL;
}

/* Reads a (possibly empty) token. Heap string. */
static char *lex_token(struct lex *lx)
{
    const char *start = lx->p;

    while (is_token_char(*lx->p))
        lx->p++;
    return ofc_xstrndup(start, (size_t)(lx->p - start));
}

/* ---------------------------------------------------------------------
 * Content-Type/Content-Disposition parameters (RFC 2045, RFC 2231).
 */

struct param {
    char *name;
    char *value;
};

struct params {
    struct param *v;
    size_t n, cap;
};

static void params_add(struct params *ps, char *name, char *value)
{
    if (ps->n == ps->cap) {
        ps->cap = ps->cap == 0 ? 4 : ps->cap * 2;
        ps->v = ofc_xrealloc(ps->v, ps->cap * sizeof(*ps->v));
    }
    ps->v[ps->n].name = name;
    ps->v[ps->n].value = value;
    ps->n++;
}

static void params_free(struct params *ps)
{
    for (size_t i = 0; i < ps->n; i++) {
        free(ps->v[i].name);
        free(ps->v[i].value);
    }
    OFC_FREE(ps->v);
    ps->n = ps->cap = 0;
}

/* Skips to the next ';' (or the end), stepping over quoted strings. */
static void lex_skip_param(struct lex *lx)
{
    while (*lx->p != '\0' && *lx->p != ';') {
        if (*lx->p == '"') {
            struct ofc_strbuf junk = OFC_STRBUF_INIT;
            lex_quoted(lx, &junk, false);
            ofc_strbuf_free(&junk);
        } else {
            lx->p++;
        }
    }
}

/*
 * Reads `;attribute=value` pairs as written. Values are quoted strings or
 * tokens; an unquoted value with garbage after it (name=my file.pdf) runs
 * to the next ';', since that is what its sender meant. Attributes without
 * a value are dropped.
 */
static void params_read(struct lex *lx, struct params *out)
{
    for (;;) {
        (void)lex_cfws(lx, NULL);
        if (*lx->p == '\0')
            return;
        if (*lx->p == ';') {
            lx->p++;
            continue;
        }
        char *name = lex_token(lx);
        (void)lex_cfws(lx, NULL);
        if (*name == '\0' || *lx->p != '=' || out->n >= MAX_PARAMS) {
            free(name);
            if (*lx->p == '\0')
                return;
            lx->p++;
            lex_skip_param(lx);
            continue;
        }
        lx->p++;
        (void)lex_cfws(lx, NULL);
        struct ofc_strbuf value = OFC_STRBUF_INIT;
        ofc_strbuf_init(&value);
        if (*lx->p == '"') {
            lex_quoted(lx, &value, false);
            (void)lex_cfws(lx, NULL);
            lex_skip_param(lx);
        } else {
            const char *start = lx->p;
            while (is_token_char(*lx->p))
                lx->p++;
            const char *tok_end = lx->p;
            (void)lex_cfws(lx, NULL);
            if (*lx->p != '\0' && *lx->p != ';') {
                /* Unquoted value with spaces or specials. */
                while (*lx->p != '\0' && *lx->p != ';')
                    lx->p++;
                tok_end = lx->p;
                while (tok_end > start && is_wsp(tok_end[-1]))
                    tok_end--;
            }
            ofc_strbuf_append(&value, start, (size_t)(tok_end - start));
        }
        params_add(out, name, ofc_strbuf_detach(&value));
    }
}

/* An RFC 2231 section "name*N[*]" or "name*" of the parameter list. */
struct section2231 {
    size_t param; /* index into the parameter list */
    size_t base_len;
    unsigned idx;
    bool ext;
};

/* Whether name is an RFC 2231 section; fills *s (but not s->param). */
static bool rfc2231_split(const char *name, struct section2231 *s)
{
    const char *star = strchr(name, '*');

    if (star == NULL || star == name)
        return false;
    s->base_len = (size_t)(star - name);
    s->idx = 0;
    s->ext = false;
    const char *p = star + 1;
    if (*p == '\0') {
        s->ext = true; /* "name*": a single extended value */
        return true;
    }
    if (*p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (s->idx > 9999)
            return false; /* nobody writes that many sections */
        s->idx = s->idx * 10 + (unsigned)(*p - '0');
    }
    if (*p == '*') {
        s->ext = true;
        p++;
    }
    return *p == '\0';
}

/* RFC 2231: plain sections of an extended value are escaped. */
static void rfc2231_escape(struct ofc_strbuf *sb, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '%')
            ofc_strbuf_puts(sb, "%25");
        else
            ofc_strbuf_putc(sb, *s);
    }
}

/*
 * Merges RFC 2231 continuations as Dovecot does: name*0, name*1, ... become
 * one "name"; when any section is extended (charset'lang'%XX) the result is
 * "name*" with the sections' text joined, still percent-encoded, which is
 * what clients decode from BODYSTRUCTURE. Sections with gaps stay as they
 * are. Plain parameters keep their place; merged ones take the place of
 * their first section.
 */
static void params_merge2231(struct params *ps)
{
    struct section2231 *secs = ofc_xcalloc(ps->n + 1, sizeof(*secs));
    bool *is_sec = ofc_xcalloc(ps->n + 1, sizeof(*is_sec));
    bool *done = ofc_xcalloc(ps->n + 1, sizeof(*done));
    size_t *group = ofc_xcalloc(ps->n + 1, sizeof(*group));
    struct params out = {NULL, 0, 0};
    bool any = false;

    for (size_t i = 0; i < ps->n; i++) {
        is_sec[i] = rfc2231_split(ps->v[i].name, &secs[i]);
        secs[i].param = i;
        any = any || is_sec[i];
    }
    if (!any)
        goto out;

    for (size_t i = 0; i < ps->n; i++) {
        if (done[i])
            continue;
        if (!is_sec[i]) {
            params_add(&out, ps->v[i].name, ps->v[i].value);
            ps->v[i].name = ps->v[i].value = NULL;
            done[i] = true;
            continue;
        }
        /* Gather the sections of this name in index order (insertion sort). */
        size_t k = 0;
        const char *base = ps->v[i].name;
        size_t blen = secs[i].base_len;
        for (size_t j = i; j < ps->n; j++) {
            if (!is_sec[j] || done[j] || secs[j].base_len != blen ||
                strncasecmp(ps->v[j].name, base, blen) != 0)
                continue;
            size_t at = k++;
            while (at > 0 && secs[group[at - 1]].idx > secs[j].idx) {
                group[at] = group[at - 1];
                at--;
            }
            group[at] = j;
            done[j] = true;
        }
        bool ok = true, have_ext = false;
        for (size_t g = 0; g < k; g++) {
            ok = ok && secs[group[g]].idx == g;
            have_ext = have_ext || secs[group[g]].ext;
        }
        if (!ok) {
            for (size_t g = 0; g < k; g++) {
                struct section2231 *s = &secs[group[g]];
                params_add(&out,
                           ofc_xasprintf("%.*s*%u%s", (int)s->base_len, ps->v[s->param].name,
                                         s->idx, s->ext ? "*" : ""),
                           ps->v[s->param].value);
                ps->v[s->param].value = NULL;
            }
            continue;
        }
        struct ofc_strbuf value = OFC_STRBUF_INIT;
        ofc_strbuf_init(&value);
        if (have_ext && !secs[group[0]].ext)
            ofc_strbuf_puts(&value, "''");
        for (size_t g = 0; g < k; g++) {
            if (have_ext && !secs[group[g]].ext)
                rfc2231_escape(&value, ps->v[group[g]].value);
            else
                ofc_strbuf_puts(&value, ps->v[group[g]].value);
        }
        params_add(&out, ofc_xasprintf("%.*s%s", (int)blen, base, have_ext ? "*" : ""),
                   ofc_strbuf_detach(&value));
    }
    params_free(ps);
    *ps = out;
out:
    free(secs);
    free(is_sec);
    free(done);
    free(group);
}

static const char *params_get(const struct params *ps, const char *name)
{
    for (size_t i = 0; i < ps->n; i++)
        if (strcasecmp(ps->v[i].name, name) == 0)
            return ps->v[i].value;
    return NULL;
}

/* ---------------------------------------------------------------------
 * The entity tree.
 */

enum kind { KIND_LEAF, KIND_MULTIPART, KIND_MESSAGE };

struct entity {
    size_t hdr_start, body_start, end, lines;
    struct header hdr;
    enum kind kind;
    bool text;     /* TEXT/xxx: BODYSTRUCTURE carries a line count */
    bool degraded; /* a container served as a leaf (limits) */
    char *type;    /* as written; NULL: the default type */
    char *subtype;
    struct params params;
    char *id, *description, *encoding, *md5, *location;
    char *disposition; /* NULL: no disposition */
    struct params dparams;
    char **languages;
    size_t nlanguages;
    /* The parts of a multipart, or the one message inside message/rfc822. */
    struct entity *children;
    size_t nchildren, cap;
};

struct ctx {
    const char *raw;
    size_t len;
    size_t nparts;
};

static void entity_free(struct entity *e)
{
    for (size_t i = 0; i < e->nchildren; i++)
        entity_free(&e->children[i]);
    free(e->children);
    free(e->hdr.v);
    free(e->type);
    free(e->subtype);
    params_free(&e->params);
    free(e->id);
    free(e->description);
    free(e->encoding);
    free(e->md5);
    free(e->location);
    free(e->disposition);
    params_free(&e->dparams);
    for (size_t i = 0; i < e->nlanguages; i++)
        free(e->languages[i]);
    free(e->languages);
    memset(e, 0, sizeof(*e));
}

static size_t count_lf(const char *s, size_t n)
{
    size_t lines = 0;
    const char *end = s + n;

    while (s < end) {
        const char *lf = memchr(s, '\n', (size_t)(end - s));
        if (lf == NULL)
            break;
        lines++;
        s = lf + 1;
    }
    return lines;
}

/* Parses "type/subtype; params" into e; leaves e->type NULL if invalid. */
static void content_type_parse(struct entity *e, const char *value)
{
    struct lex lx = {value};

    (void)lex_cfws(&lx, NULL);
    char *type = lex_token(&lx);
    char *subtype = NULL;
    (void)lex_cfws(&lx, NULL);
    if (*lx.p == '/') {
        lx.p++;
        (void)lex_cfws(&lx, NULL);
        subtype = lex_token(&lx);
    }
    if (*type == '\0' || subtype == NULL || *subtype == '\0') {
        /* RFC 2045 §5.2: an invalid Content-Type means the default. */
        free(type);
        free(subtype);
        return;
    }
    e->type = type;
    e->subtype = subtype;
    params_read(&lx, &e->params);
    params_merge2231(&e->params);
}

static void disposition_parse(struct entity *e, const char *value)
{
    struct lex lx = {value};

    (void)lex_cfws(&lx, NULL);
    char *type = lex_token(&lx);
    if (*type == '\0') {
        free(type);
        return;
    }
    e->disposition = type;
    params_read(&lx, &e->dparams);
    params_merge2231(&e->dparams);
}

static void language_parse(struct entity *e, const char *value)
{
    struct lex lx = {value};

    while (e->nlanguages < MAX_PARAMS) {
        (void)lex_cfws(&lx, NULL);
        if (*lx.p == '\0')
            return;
        char *tag = lex_token(&lx);
        if (*tag == '\0') {
            free(tag);
            lx.p++; /* ',' or junk */
            continue;
        }
        e->languages = ofc_xrealloc(e->languages, (e->nlanguages + 1) * sizeof(char *));
        e->languages[e->nlanguages++] = tag;
    }
}

/* The Content-* fields of e's header. */
static void entity_content(struct ctx *c, struct entity *e, bool in_digest, unsigned depth)
{
    char *v;

    if ((v = header_value(c->raw, &e->hdr, "content-type")) != NULL) {
        content_type_parse(e, v);
        free(v);
    }
    if (e->type != NULL) {
        if (strcasecmp(e->type, "multipart") == 0)
            e->kind = KIND_MULTIPART;
        else if (strcasecmp(e->type, "message") == 0 && strcasecmp(e->subtype, "rfc822") == 0)
            e->kind = KIND_MESSAGE;
        else
            e->text = strcasecmp(e->type, "text") == 0;
    } else if (in_digest) {
        e->kind = KIND_MESSAGE; /* RFC 2046 §5.1.5 */
    } else {
        e->text = true;
    }
    if (e->kind != KIND_LEAF &&
        (depth >= STORE_MIME_MAX_DEPTH || c->nparts >= STORE_MIME_MAX_PARTS)) {
        e->kind = KIND_LEAF;
        e->degraded = true;
    }

    if ((v = header_value(c->raw, &e->hdr, "content-transfer-encoding")) != NULL) {
        struct lex lx = {v};
        (void)lex_cfws(&lx, NULL);
        char *enc = lex_token(&lx);
        (void)lex_cfws(&lx, NULL);
        if (*enc != '\0' && *lx.p == '\0')
            e->encoding = enc;
        else
            free(enc);
        free(v);
    }
    e->id = header_value(c->raw, &e->hdr, "content-id");
    e->description = header_value(c->raw, &e->hdr, "content-description");
    e->md5 = header_value(c->raw, &e->hdr, "content-md5");
    e->location = header_value(c->raw, &e->hdr, "content-location");
    if ((v = header_value(c->raw, &e->hdr, "content-disposition")) != NULL) {
        disposition_parse(e, v);
        free(v);
    }
    if ((v = header_value(c->raw, &e->hdr, "content-language")) != NULL) {
        language_parse(e, v);
        free(v);
    }
}

static void entity_parse(struct ctx *c, struct entity *e, size_t start, size_t end, unsigned depth,
                         bool in_digest);

/* A part without a header: what a multipart without delimiters holds. */
static void entity_headerless(struct ctx *c, struct entity *e, size_t start, size_t end)
{
    memset(e, 0, sizeof(*e));
    c->nparts++;
    e->hdr_start = e->body_start = start;
    e->end = end;
    e->text = true;
    e->lines = count_lf(c->raw + start, end - start);
}

static void entity_add_child(struct entity *parent, const struct entity *child)
{
    if (parent->nchildren == parent->cap) {
        parent->cap = parent->cap == 0 ? 4 : parent->cap * 2;
        parent->children = ofc_xrealloc(parent->children, parent->cap * sizeof(*parent->children));
    }
    parent->children[parent->nchildren++] = *child;
}

/*
 * Whether the line [pos, lend) (lend at its LF or the end) is a delimiter
 * of boundary b: "--b" or "--b--", then nothing but white space.
 */
static bool is_delimiter(const char *raw, size_t pos, size_t lend, const char *b, size_t blen,
                         bool *close_r)
{
    if (lend - pos < 2 + blen || raw[pos] != '-' || raw[pos + 1] != '-' ||
        memcmp(raw + pos + 2, b, blen) != 0)
        return false;
    size_t p = pos + 2 + blen;
    *close_r = false;
    if (lend - p >= 2 && raw[p] == '-' && raw[p + 1] == '-') {
        *close_r = true;
        p += 2;
    }
    while (p < lend && (is_wsp(raw[p]) || raw[p] == '\r'))
        p++;
    return p == lend;
}

static void multipart_split(struct ctx *c, struct entity *e, unsigned depth)
{
    const char *b = params_get(&e->params, "boundary");
    bool digest = strcasecmp(e->subtype, "digest") == 0;
    size_t blen = b != NULL ? strlen(b) : 0;
    size_t pos = e->body_start;
    size_t part_start = SIZE_MAX; /* no part open: preamble */
    bool closed = false;
    struct entity child;

    while (blen > 0 && pos < e->end) {
        const char *lf = memchr(c->raw + pos, '\n', e->end - pos);
        size_t lend = lf != NULL ? (size_t)(lf - c->raw) : e->end;
        size_t next = lf != NULL ? lend + 1 : e->end;
        bool close;

        if (c->raw[pos] == '-' && is_delimiter(c->raw, pos, lend, b, blen, &close)) {
            if (part_start != SIZE_MAX) {
                /* The line break before the delimiter is the delimiter's. */
                size_t pend = pos;
                if (pend > part_start && c->raw[pend - 1] == '\n') {
                    pend--;
                    if (pend > part_start && c->raw[pend - 1] == '\r')
                        pend--;
                }
                entity_parse(c, &child, part_start, pend, depth + 1, digest);
                entity_add_child(e, &child);
            }
            if (close) {
                closed = true;
                break;
            }
            part_start = next;
            if (c->nparts >= STORE_MIME_MAX_PARTS)
                break; /* the rest is the last part */
        }
        pos = next;
    }
    if (!closed && part_start != SIZE_MAX) {
        entity_parse(c, &child, part_start, e->end, depth + 1, digest);
        entity_add_child(e, &child);
    }
    if (e->nchildren == 0) {
        entity_headerless(c, &child, e->body_start, e->end);
        entity_add_child(e, &child);
    }
}

/*
 * Parses the entity [start, end) of raw into e: its header, its Content-*
 * fields and, for containers, its children. depth counts the containers
 * around it; in_digest makes message/rfc822 the default type.
 */
static void entity_parse(struct ctx *c, struct entity *e, size_t start, size_t end, unsigned depth,
                         bool in_digest)
{
    memset(e, 0, sizeof(*e));
    c->nparts++;
    e->hdr_start = start;
    e->end = end;
    e->body_start = header_parse(c->raw, start, end, &e->hdr);
    entity_content(c, e, in_digest, depth);
    e->lines = count_lf(c->raw + e->body_start, e->end - e->body_start);
    if (e->kind == KIND_MULTIPART) {
        multipart_split(c, e, depth);
    } else if (e->kind == KIND_MESSAGE) {
        struct entity child;
        entity_parse(c, &child, e->body_start, e->end, depth + 1, false);
        entity_add_child(e, &child);
    }
}

/* ---------------------------------------------------------------------
 * ENVELOPE addresses (RFC 3501 §7.4.2), from the raw header text.
 */

struct eaddr {
    char *name, *adl, *mailbox, *host; /* NULL: NIL */
};

struct eaddrs {
    struct eaddr *v;
    size_t n, cap;
};

static void eaddrs_push(struct eaddrs *l, char *name, char *adl, char *mailbox, char *host)
{
    if (l->n == l->cap) {
        l->cap = l->cap == 0 ? 4 : l->cap * 2;
        l->v = ofc_xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n].name = name;
    l->v[l->n].adl = adl;
    l->v[l->n].mailbox = mailbox;
    l->v[l->n].host = host;
    l->n++;
}

static void eaddrs_free(struct eaddrs *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].name);
        free(l->v[i].adl);
        free(l->v[i].mailbox);
        free(l->v[i].host);
    }
    OFC_FREE(l->v);
    l->n = l->cap = 0;
}

static void lex_atom(struct lex *lx, struct ofc_strbuf *out)
{
    while (is_atext(*lx->p))
        ofc_strbuf_putc(out, *lx->p++);
}

/* A domain literal "[...]" as written; unterminated runs to the end. */
static void lex_literal(struct lex *lx, struct ofc_strbuf *out)
{
    while (*lx->p != '\0') {
        char ch = *lx->p++;
        ofc_strbuf_putc(out, ch);
        if (ch == '\\' && *lx->p != '\0')
            ofc_strbuf_putc(out, *lx->p++);
        else if (ch == ']')
            break;
    }
}

/*
 * Before a word of an addr-spec: one space when blanks separated it from
 * the last word, but none after a dot ("john . doe" is john.doe).
 */
static void word_sep(struct ofc_strbuf *out, bool blank)
{
    if (blank && out->len > 0 && out->data[out->len - 1] != '.')
        ofc_strbuf_putc(out, ' ');
}

/*
 * Reads local-part ["@" domain] as written (quoted local parts keep their
 * quotes; blanks and comments around dots go), stopping at ',' or the end,
 * at ';' outside angle brackets, at '>' inside and at '<' outside them.
 * *at_r says whether an '@' was seen; the last comment goes to comment.
 */
static void lex_addr_spec(struct lex *lx, bool in_angle, struct ofc_strbuf *local,
                          struct ofc_strbuf *domain, bool *at_r, struct ofc_strbuf *comment)
{
    *at_r = false;
    for (;;) {
        bool blank = lex_cfws(lx, comment);
        char ch = *lx->p;
        struct ofc_strbuf *cur = *at_r ? domain : local;

        if (ch == '\0' || ch == ',' || (in_angle ? ch == '>' : (ch == ';' || ch == '<')))
            return;
        if (ch == '@' && !*at_r) {
            *at_r = true;
            lx->p++;
        } else if (ch == '"') {
            word_sep(cur, blank);
            lex_quoted(lx, cur, true);
        } else if (ch == '[') {
            word_sep(cur, blank);
            lex_literal(lx, cur);
        } else if (ch == '.') {
            ofc_strbuf_putc(cur, '.');
            lx->p++;
        } else if (is_atext(ch)) {
            word_sep(cur, blank);
            lex_atom(lx, cur);
        } else {
            lx->p++; /* a stray special: skip it */
        }
    }
}

static char *strbuf_or(struct ofc_strbuf *sb, const char *dflt)
{
    if (sb->len == 0)
        return ofc_xstrdup(dflt);
    return ofc_xstrdup(sb->data);
}

/* After '<': [route ":"] addr-spec [">"]. Pushes one address named name. */
static void lex_angle_addr(struct lex *lx, char *name, struct eaddrs *out)
{
    struct ofc_strbuf route = OFC_STRBUF_INIT, local = OFC_STRBUF_INIT, domain = OFC_STRBUF_INIT;
    bool at;

    ofc_strbuf_init(&route);
    ofc_strbuf_init(&local);
    ofc_strbuf_init(&domain);
    lx->p++;
    const char *save = lx->p;
    (void)lex_cfws(lx, NULL);
    if (*lx->p == '@') {
        /* obs-route: "@a,@b:" (RFC 5322 §4.4). */
        while (*lx->p == '@' || *lx->p == ',') {
            if (*lx->p++ == ',') {
                (void)lex_cfws(lx, NULL);
                continue;
            }
            if (route.len > 0)
                ofc_strbuf_putc(&route, ',');
            ofc_strbuf_putc(&route, '@');
            for (;;) {
                (void)lex_cfws(lx, NULL);
                if (*lx->p == '.') {
                    ofc_strbuf_putc(&route, *lx->p++);
                } else if (*lx->p == '[') {
                    lex_literal(lx, &route);
                } else if (is_atext(*lx->p)) {
                    lex_atom(lx, &route);
                } else {
                    break;
                }
            }
        }
        if (*lx->p == ':') {
            lx->p++;
        } else {
            ofc_strbuf_reset(&route); /* not a route after all */
            lx->p = save;
        }
    }
    lex_addr_spec(lx, true, &local, &domain, &at, NULL);
    if (*lx->p == '>')
        lx->p++;
    eaddrs_push(out, name, route.len > 0 ? ofc_xstrdup(route.data) : NULL,
                strbuf_or(&local, "MISSING_MAILBOX"),
                at ? strbuf_or(&domain, "MISSING_DOMAIN") : ofc_xstrdup("MISSING_DOMAIN"));
    ofc_strbuf_free(&route);
    ofc_strbuf_free(&local);
    ofc_strbuf_free(&domain);
}

static void addr_list_parse(struct lex *lx, struct eaddrs *out, bool in_group);

/* One mailbox or group. Always consumes at least one character. */
static void addr_parse_one(struct lex *lx, struct eaddrs *out, bool in_group)
{
    const char *start = lx->p;
    struct ofc_strbuf phrase = OFC_STRBUF_INIT;

    ofc_strbuf_init(&phrase);
    for (;;) {
        bool blank = lex_cfws(lx, NULL);
        char ch = *lx->p;

        /* Words of a phrase keep one blank between them, dots too. */
        if (blank && phrase.len > 0 && (ch == '"' || ch == '.' || is_atext(ch)))
            ofc_strbuf_putc(&phrase, ' ');
        if (ch == '"') {
            lex_quoted(lx, &phrase, false);
        } else if (ch == '.') {
            ofc_strbuf_putc(&phrase, '.');
            lx->p++;
        } else if (ch == '<') {
            char *name = phrase.len > 0 ? humanize(phrase.data) : NULL;
            if (name != NULL && *name == '\0')
                OFC_FREE(name);
            lex_angle_addr(lx, name, out);
            /* Whatever follows up to the next address is junk. */
            for (;;) {
                (void)lex_cfws(lx, NULL);
                ch = *lx->p;
                if (ch == '\0' || ch == ',' || (ch == ';' && in_group))
                    break;
                if (ch == '"') {
                    struct ofc_strbuf junk = OFC_STRBUF_INIT;
                    lex_quoted(lx, &junk, false);
                    ofc_strbuf_free(&junk);
                } else {
                    lx->p++;
                }
            }
            ofc_strbuf_free(&phrase);
            return;
        } else if (ch == ':' && !in_group) {
            /* group: the name is the mailbox of a NIL-host entry. */
            eaddrs_push(out, NULL, NULL, humanize(phrase.len > 0 ? phrase.data : ""), NULL);
            lx->p++;
            addr_list_parse(lx, out, true);
            if (*lx->p == ';')
                lx->p++;
            eaddrs_push(out, NULL, NULL, NULL, NULL);
            ofc_strbuf_free(&phrase);
            return;
        } else if (is_atext(ch)) {
            lex_atom(lx, &phrase);
        } else if (ch == '\0' || ch == ',' || ch == ';' || ch == '@' || ch == '>' || ch == ':') {
            break;
        } else {
            lx->p++; /* '[', ']', ')', '\\': junk in a phrase */
        }
    }
    ofc_strbuf_free(&phrase);

    /* Not name-addr nor group: an addr-spec, read again from the start. */
    struct ofc_strbuf local = OFC_STRBUF_INIT, domain = OFC_STRBUF_INIT, comment = OFC_STRBUF_INIT;
    bool at;
    ofc_strbuf_init(&local);
    ofc_strbuf_init(&domain);
    ofc_strbuf_init(&comment);
    lx->p = start;
    lex_addr_spec(lx, false, &local, &domain, &at, &comment);
    if (local.len > 0 || at) {
        /* "user@host (Real Name)": the comment is the name. */
        char *name = comment.len > 0 ? humanize(comment.data) : NULL;
        if (name != NULL && *name == '\0')
            OFC_FREE(name);
        eaddrs_push(out, name, NULL, strbuf_or(&local, "MISSING_MAILBOX"),
                    at ? strbuf_or(&domain, "MISSING_DOMAIN") : ofc_xstrdup("MISSING_DOMAIN"));
    }
    ofc_strbuf_free(&local);
    ofc_strbuf_free(&domain);
    ofc_strbuf_free(&comment);
    if (lx->p == start && *lx->p != '\0')
        lx->p++;
}

static void addr_list_parse(struct lex *lx, struct eaddrs *out, bool in_group)
{
    for (;;) {
        (void)lex_cfws(lx, NULL);
        char ch = *lx->p;
        if (ch == '\0')
            return;
        if (ch == ',') {
            lx->p++;
        } else if (ch == ';') {
            if (in_group)
                return;
            lx->p++;
        } else {
            addr_parse_one(lx, out, in_group);
        }
    }
}

static void write_addrs(struct ofc_strbuf *sb, const struct eaddrs *l)
{
    if (l->n == 0) {
        ofc_strbuf_puts(sb, "NIL");
        return;
    }
    ofc_strbuf_putc(sb, '(');
    for (size_t i = 0; i < l->n; i++) {
        ofc_strbuf_putc(sb, '(');
        imap_nstring(sb, l->v[i].name);
        ofc_strbuf_putc(sb, ' ');
        imap_nstring(sb, l->v[i].adl);
        ofc_strbuf_putc(sb, ' ');
        imap_nstring(sb, l->v[i].mailbox);
        ofc_strbuf_putc(sb, ' ');
        imap_nstring(sb, l->v[i].host);
        ofc_strbuf_putc(sb, ')');
    }
    ofc_strbuf_putc(sb, ')');
}

static void header_addrs(const char *raw, const struct header *h, const char *name,
                         struct eaddrs *out)
{
    char *v = header_value(raw, h, name);

    if (v != NULL) {
        struct lex lx = {v};
        addr_list_parse(&lx, out, false);
        free(v);
    }
}

/* The ENVELOPE of the message whose header is m's. */
static void write_envelope(struct ofc_strbuf *sb, const char *raw, const struct entity *m)
{
    static const char *const lists[] = {"to", "cc", "bcc"};
    struct eaddrs from = {NULL, 0, 0}, other = {NULL, 0, 0};
    char *v;

    ofc_strbuf_putc(sb, '(');
    v = header_value(raw, &m->hdr, "date");
    imap_nstring(sb, v);
    free(v);
    ofc_strbuf_putc(sb, ' ');
    v = header_value(raw, &m->hdr, "subject");
    if (v != NULL) {
        char *h = humanize(v);
        imap_string(sb, h);
        free(h);
        free(v);
    } else {
        ofc_strbuf_puts(sb, "NIL");
    }
    header_addrs(raw, &m->hdr, "from", &from);
    ofc_strbuf_putc(sb, ' ');
    write_addrs(sb, &from);
    /* RFC 3501: an absent or empty Sender or Reply-To is From. */
    header_addrs(raw, &m->hdr, "sender", &other);
    ofc_strbuf_putc(sb, ' ');
    write_addrs(sb, other.n > 0 ? &other : &from);
    eaddrs_free(&other);
    header_addrs(raw, &m->hdr, "reply-to", &other);
    ofc_strbuf_putc(sb, ' ');
    write_addrs(sb, other.n > 0 ? &other : &from);
    eaddrs_free(&other);
    eaddrs_free(&from);
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        header_addrs(raw, &m->hdr, lists[i], &other);
        ofc_strbuf_putc(sb, ' ');
        write_addrs(sb, &other);
        eaddrs_free(&other);
    }
    ofc_strbuf_putc(sb, ' ');
    v = header_value(raw, &m->hdr, "in-reply-to");
    imap_nstring(sb, v);
    free(v);
    ofc_strbuf_putc(sb, ' ');
    v = header_value(raw, &m->hdr, "message-id");
    imap_nstring(sb, v);
    free(v);
    ofc_strbuf_putc(sb, ')');
}

/* ---------------------------------------------------------------------
 * BODY and BODYSTRUCTURE.
 */

static void write_params(struct ofc_strbuf *sb, const struct params *ps, bool default_charset)
{
    bool charset = false;

    if (ps->n == 0 && !default_charset) {
        ofc_strbuf_puts(sb, "NIL");
        return;
    }
    ofc_strbuf_putc(sb, '(');
    for (size_t i = 0; i < ps->n; i++) {
        if (i > 0)
            ofc_strbuf_putc(sb, ' ');
        imap_string(sb, ps->v[i].name);
        ofc_strbuf_putc(sb, ' ');
        imap_string(sb, ps->v[i].value);
        charset = charset || strcasecmp(ps->v[i].name, "charset") == 0;
    }
    if (default_charset && !charset) {
        /* RFC 2046 §4.1.2: text without a charset is US-ASCII. */
        if (ps->n > 0)
            ofc_strbuf_putc(sb, ' ');
        ofc_strbuf_puts(sb, "\"CHARSET\" \"US-ASCII\"");
    }
    ofc_strbuf_putc(sb, ')');
}

/* body-fld-dsp SP body-fld-lang SP body-fld-loc, after a space. */
static void write_ext_common(struct ofc_strbuf *sb, const struct entity *e)
{
    ofc_strbuf_putc(sb, ' ');
    if (e->disposition == NULL) {
        ofc_strbuf_puts(sb, "NIL");
    } else {
        ofc_strbuf_putc(sb, '(');
        imap_string(sb, e->disposition);
        ofc_strbuf_putc(sb, ' ');
        write_params(sb, &e->dparams, false);
        ofc_strbuf_putc(sb, ')');
    }
    ofc_strbuf_putc(sb, ' ');
    if (e->nlanguages == 0) {
        ofc_strbuf_puts(sb, "NIL");
    } else {
        ofc_strbuf_putc(sb, '(');
        for (size_t i = 0; i < e->nlanguages; i++) {
            if (i > 0)
                ofc_strbuf_putc(sb, ' ');
            imap_string(sb, e->languages[i]);
        }
        ofc_strbuf_putc(sb, ')');
    }
    ofc_strbuf_putc(sb, ' ');
    imap_nstring(sb, e->location);
}

/* The body of e without its outer parentheses; ext: BODYSTRUCTURE. */
static void write_body(struct ofc_strbuf *sb, const char *raw, const struct entity *e, bool ext)
{
    if (e->kind == KIND_MULTIPART) {
        for (size_t i = 0; i < e->nchildren; i++) {
            ofc_strbuf_putc(sb, '(');
            write_body(sb, raw, &e->children[i], ext);
            ofc_strbuf_putc(sb, ')');
        }
        ofc_strbuf_putc(sb, ' ');
        imap_string(sb, e->subtype);
        if (ext) {
            ofc_strbuf_putc(sb, ' ');
            write_params(sb, &e->params, false);
            write_ext_common(sb, e);
        }
        return;
    }
    if (e->degraded) {
        ofc_strbuf_puts(sb, "\"APPLICATION\" \"OCTET-STREAM\"");
    } else if (e->type == NULL) {
        ofc_strbuf_puts(sb,
                        e->kind == KIND_MESSAGE ? "\"MESSAGE\" \"RFC822\"" : "\"TEXT\" \"PLAIN\"");
    } else {
        imap_string(sb, e->type);
        ofc_strbuf_putc(sb, ' ');
        imap_string(sb, e->subtype);
    }
    ofc_strbuf_putc(sb, ' ');
    write_params(sb, &e->params, e->text);
    ofc_strbuf_putc(sb, ' ');
    imap_nstring(sb, e->id);
    ofc_strbuf_putc(sb, ' ');
    imap_nstring(sb, e->description);
    ofc_strbuf_putc(sb, ' ');
    if (e->encoding != NULL)
        imap_string(sb, e->encoding);
    else
        ofc_strbuf_puts(sb, "\"7BIT\"");
    ofc_strbuf_printf(sb, " %zu", e->end - e->body_start);
    if (e->text) {
        ofc_strbuf_printf(sb, " %zu", e->lines);
    } else if (e->kind == KIND_MESSAGE) {
        ofc_strbuf_putc(sb, ' ');
        write_envelope(sb, raw, &e->children[0]);
        ofc_strbuf_puts(sb, " (");
        write_body(sb, raw, &e->children[0], ext);
        ofc_strbuf_printf(sb, ") %zu", e->lines);
    }
    if (ext) {
        ofc_strbuf_putc(sb, ' ');
        imap_nstring(sb, e->md5);
        write_ext_common(sb, e);
    }
}

/* ---------------------------------------------------------------------
 * Sections.
 */

static void sections_part(struct ofc_strbuf *sb, const struct entity *e, const char *num);

/* The parts of message m (top-level, or inside message/rfc822 part prefix). */
static void sections_message(struct ofc_strbuf *sb, const struct entity *m, const char *prefix)
{
    if (m->kind == KIND_MULTIPART) {
        for (size_t i = 0; i < m->nchildren; i++) {
            char *num = *prefix != '\0' ? ofc_xasprintf("%s.%zu", prefix, i + 1)
                                        : ofc_xasprintf("%zu", i + 1);
            sections_part(sb, &m->children[i], num);
            free(num);
        }
    } else {
        char *num = *prefix != '\0' ? ofc_xasprintf("%s.1", prefix) : ofc_xstrdup("1");
        sections_part(sb, m, num);
        free(num);
    }
}

static void sections_part(struct ofc_strbuf *sb, const struct entity *e, const char *num)
{
    ofc_strbuf_printf(sb, ",\"%s\":[%zu,%zu,%zu,%zu", num, e->hdr_start, e->body_start, e->end,
                      e->lines);
    if (e->kind == KIND_MESSAGE)
        ofc_strbuf_printf(sb, ",%zu", e->children[0].body_start);
    ofc_strbuf_putc(sb, ']');
    if (e->kind == KIND_MULTIPART) {
        for (size_t i = 0; i < e->nchildren; i++) {
            char *sub = ofc_xasprintf("%s.%zu", num, i + 1);
            sections_part(sb, &e->children[i], sub);
            free(sub);
        }
    } else if (e->kind == KIND_MESSAGE) {
        sections_message(sb, &e->children[0], num);
    }
}

/* ---------------------------------------------------------------------
 * Decoded header fields (GMime).
 */

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;
static GMimeParserOptions *gmime_options;

static void gmime_init_once(void)
{
    g_mime_init();
    gmime_options = g_mime_parser_options_new();
    /* Encoded words inside words and quoted strings, as real mail has them. */
    g_mime_parser_options_set_rfc2047_compliance_mode(gmime_options, GMIME_RFC_COMPLIANCE_LOOSE);
}

/* GMime's result as a trimmed valid UTF-8 heap string; frees it. */
static char *from_gmime(char *s)
{
    struct ofc_strbuf sb = OFC_STRBUF_INIT;

    ofc_strbuf_init(&sb);
    put_utf8(&sb, s, strlen(s), false);
    g_free(s);
    char *all = ofc_strbuf_detach(&sb);
    char *r = dup_trimmed(all);
    free(all);
    return r;
}

/* RFC 2047-decoded v (valid UTF-8). Heap string. */
static char *decode_text(const char *v)
{
    /* Text without encoded words is already decoded; GMime would only
     * spend memory on it (some 50 octets a word). */
    if (strstr(v, "=?") == NULL)
        return ofc_xstrdup(v);
    char *d = g_mime_utils_header_decode_text(gmime_options, v);

    return d != NULL ? from_gmime(d) : ofc_xstrdup(v);
}

/* An address field as display text: "Name <a@b>, c@d"; decoded text if it
 * holds no address GMime understands, or is too long. Heap string. */
static char *decode_addresses(const char *v)
{
    /* A list longer than any real one is a denial of service on GMime's
     * parser; its decoded text serves SEARCH just as well. */
    if (strlen(v) > MAX_ADDRESS_TEXT)
        return decode_text(v);
    InternetAddressList *list = internet_address_list_parse(gmime_options, v);
    char *r = NULL;

    if (list != NULL) {
        if (internet_address_list_length(list) > 0) {
            char *s = internet_address_list_to_string(list, NULL, FALSE);
            if (s != NULL)
                r = from_gmime(s);
        }
        g_object_unref(list);
    }
    return r != NULL ? r : decode_text(v);
}

/*
 * The date without comments and without blanks around ':', both of which
 * RFC 5322 §4.3 allows ("09 (x) : 55") and GMime's date parser misreads.
 * Heap string.
 */
static char *date_normalize(const char *v)
{
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    struct lex lx = {v};

    ofc_strbuf_init(&sb);
    for (;;) {
        bool blank = lex_cfws(&lx, NULL);
        if (*lx.p == '\0')
            break;
        if (blank && sb.len > 0 && sb.data[sb.len - 1] != ':' && *lx.p != ':')
            ofc_strbuf_putc(&sb, ' ');
        ofc_strbuf_putc(&sb, *lx.p++);
    }
    return ofc_strbuf_detach(&sb);
}

static char *cached_text(const char *raw, const struct header *h, const char *name,
                         char *(*decode)(const char *))
{
    char *v = header_value(raw, h, name);

    if (v == NULL || decode == NULL)
        return v;
    char *d = decode(v);
    free(v);
    return d;
}

static void cache_fields(struct store_mime *m, const char *raw, const struct header *h)
{
    char *v;

    m->headers = ofc_xcalloc(h->n + 1, sizeof(*m->headers));
    m->header_count = h->n;
    for (size_t i = 0; i < h->n; i++) {
        char *name = ofc_xstrndup(raw + h->v[i].name_off, h->v[i].name_len);
        for (char *p = name; *p != '\0'; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        v = field_value(raw, &h->v[i]);
        m->headers[i].name = name;
        m->headers[i].value = decode_text(v);
        free(v);
    }

    if ((v = header_value(raw, h, "date")) != NULL) {
        char *norm = date_normalize(v);
        GDateTime *dt = g_mime_utils_header_decode_date(norm);
        free(norm);
        if (dt != NULL) {
            m->date = (time_t)g_date_time_to_unix(dt);
            m->date_valid = true;
            g_date_time_unref(dt);
        }
        free(v);
    }
    m->subject = cached_text(raw, h, "subject", decode_text);
    m->from = cached_text(raw, h, "from", decode_addresses);
    m->to = cached_text(raw, h, "to", decode_addresses);
    m->cc = cached_text(raw, h, "cc", decode_addresses);
    m->bcc = cached_text(raw, h, "bcc", decode_addresses);
    m->message_id = cached_text(raw, h, "message-id", NULL);
    m->in_reply_to = cached_text(raw, h, "in-reply-to", NULL);
}

/* ---------------------------------------------------------------------
 * Public API.
 */

int store_mime_analyze(const char *raw, size_t len, struct store_mime **mime_r, char **error_r)
{
    struct ctx c = {raw, len, 0};
    struct entity top;
    struct ofc_strbuf sb = OFC_STRBUF_INIT;

    *mime_r = NULL;
    if (raw == NULL && len > 0) {
        *error_r = ofc_xstrdup("no message data");
        return -1;
    }
    if (raw == NULL)
        c.raw = raw = "";
    if (pthread_once(&gmime_once, gmime_init_once) != 0) {
        *error_r = ofc_xstrdup("cannot initialise GMime");
        return -1;
    }

    entity_parse(&c, &top, 0, len, 0, false);

    struct store_mime *m = ofc_xcalloc(1, sizeof(*m));
    m->size = len;
    m->header_size = top.body_start;
    cache_fields(m, raw, &top.hdr);

    ofc_strbuf_init(&sb);
    write_envelope(&sb, raw, &top);
    m->envelope = ofc_strbuf_detach(&sb);
    ofc_strbuf_putc(&sb, '(');
    write_body(&sb, raw, &top, true);
    ofc_strbuf_putc(&sb, ')');
    m->bodystructure = ofc_strbuf_detach(&sb);
    ofc_strbuf_putc(&sb, '(');
    write_body(&sb, raw, &top, false);
    ofc_strbuf_putc(&sb, ')');
    m->body = ofc_strbuf_detach(&sb);
    ofc_strbuf_printf(&sb, "{\"\":[0,%zu,%zu,%zu]", top.body_start, len, top.lines);
    sections_message(&sb, &top, "");
    ofc_strbuf_putc(&sb, '}');
    m->sections = ofc_strbuf_detach(&sb);
    ofc_strbuf_free(&sb);

    entity_free(&top);
    *mime_r = m;
    return 0;
}

void store_mime_free(struct store_mime **mime)
{
    struct store_mime *m = *mime;

    if (m == NULL)
        return;
    free(m->subject);
    free(m->from);
    free(m->to);
    free(m->cc);
    free(m->bcc);
    free(m->message_id);
    free(m->in_reply_to);
    for (size_t i = 0; i < m->header_count; i++) {
        free(m->headers[i].name);
        free(m->headers[i].value);
    }
    free(m->headers);
    free(m->envelope);
    free(m->bodystructure);
    free(m->body);
    free(m->sections);
    free(m);
    *mime = NULL;
}
