/*
 * ofc_addr.c - RFC 5322 mailbox / address-list and RFC 5321 path parsing.
 *
 * A small recursive-descent parser over an explicit (pointer, end) pair:
 * the input is never assumed to be NUL-terminated and never copied into a
 * fixed buffer. Two grammars share the pieces:
 *
 *   RFC 5322 (headers): comments and folding white space may appear
 *   around every word; obsolete forms that real mail still uses are
 *   accepted (mixed quoted/atom local parts such as "john".doe, source
 *   routes in angle brackets, dots in display names, empty list elements).
 *   Spaces or comments around the dots of a local part are not.
 *
 *   RFC 5321 (SMTP/LMTP paths): no comments, no white space, a local part
 *   that is either a dot-string or one quoted string.
 *
 * Both accept UTF-8 in local parts, domains and display names (RFC 6531,
 * RFC 6532) but reject malformed UTF-8, and both enforce the RFC 5321 size
 * limits so that whatever we accept we can also send on.
 */
/* System. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* libofc. */
#include "ofc_addr.h"
#include "ofc_mem.h"

#define LOCAL_PART_MAX 64  /* RFC 5321 4.5.3.1.1 */
#define DOMAIN_MAX     255 /* RFC 5321 4.5.3.1.2 */
#define LABEL_MAX      63  /* RFC 1035 2.3.4 */
#define PATH_MAX_LEN   256 /* RFC 5321 4.5.3.1.3, brackets included */
/* A path's addr-spec is what remains of PATH_MAX_LEN without "<" and ">". */
#define ADDR_SPEC_MAX (PATH_MAX_LEN - 2)

struct parser {
    const unsigned char *p;
    const unsigned char *end;
    const char *error; /* first error; later ones are consequences */
};

/* The pieces of one address while it is being parsed. */
struct parts {
    struct ofc_strbuf display;
    struct ofc_strbuf local;
    struct ofc_strbuf domain;
    bool has_domain;
};

static void parts_free(struct parts *pt)
{
    ofc_strbuf_free(&pt->display);
    ofc_strbuf_free(&pt->local);
    ofc_strbuf_free(&pt->domain);
    pt->has_domain = false;
}

static int peek(const struct parser *ps)
{
    return ps->p < ps->end ? *ps->p : -1;
}

static bool fail(struct parser *ps, const char *msg)
{
    if (ps->error == NULL)
        ps->error = msg;
    return false;
}

/* ---- characters ------------------------------------------------------ */

static bool is_ascii_alnum(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 5322 atext, ASCII part. */
static bool is_atext(int c)
{
    return c > 0 && c < 0x80 && (is_ascii_alnum(c) || strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/*
 * Length of the well-formed UTF-8 sequence at p (2 to 4), or 0 when it is
 * malformed, overlong, a surrogate or beyond U+10FFFF. Only called for
 * bytes >= 0x80.
 */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    uint32_t cp, min;
    size_t n;

    if ((p[0] & 0xe0) == 0xc0) {
        n = 2;
        cp = p[0] & 0x1f;
        min = 0x80;
    } else if ((p[0] & 0xf0) == 0xe0) {
        n = 3;
        cp = p[0] & 0x0f;
        min = 0x800;
    } else if ((p[0] & 0xf8) == 0xf0) {
        n = 4;
        cp = p[0] & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* Copies one UTF-8 sequence at ps->p into sb. */
static bool take_utf8(struct parser *ps, struct ofc_strbuf *sb)
{
    size_t n = utf8_len(ps->p, ps->end);
    if (n == 0)
        return fail(ps, "invalid UTF-8");
    ofc_strbuf_append(sb, ps->p, n);
    ps->p += n;
    return true;
}

/* ---- lexical pieces -------------------------------------------------- */

/* A comment, nested ones and quoted pairs included; ps->p is at '('. */
static bool skip_comment(struct parser *ps)
{
    int depth = 0;
    while (ps->p < ps->end) {
        int c = *ps->p++;
        if (c == '\\') {
            if (ps->p < ps->end)
                ps->p++;
        } else if (c == '(') {
            depth++;
        } else if (c == ')') {
            if (--depth == 0)
                return true;
        }
    }
    return fail(ps, "unterminated comment");
}

/* CFWS: white space, folding (CR LF) and comments. */
static bool skip_cfws(struct parser *ps)
{
    for (;;) {
        int c = peek(ps);
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            ps->p++;
        else if (c == '(') {
            if (!skip_comment(ps))
                return false;
        } else
            return true;
    }
}

/* 1*atext (UTF-8 included) into sb. Returns 1, 0 when there is none, -1 on error. */
static int scan_atom(struct parser *ps, struct ofc_strbuf *sb)
{
    const unsigned char *start = ps->p;
    while (ps->p < ps->end) {
        int c = *ps->p;
        if (c >= 0x80) {
            if (!take_utf8(ps, sb))
                return -1;
        } else if (is_atext(c)) {
            ofc_strbuf_putc(sb, (char)c);
            ps->p++;
        } else {
            break;
        }
    }
    return ps->p > start ? 1 : 0;
}

/*
 * A quoted string at '"', unquoted into sb. smtp selects RFC 5321's
 * stricter form: no folding, no tabs, quoted pairs of printable ASCII only.
 */
static bool parse_quoted(struct parser *ps, bool smtp, struct ofc_strbuf *sb)
{
    ps->p++;
    for (;;) {
        int c = peek(ps);
        if (c < 0)
            return fail(ps, "unterminated quoted string");
        if (c == '"') {
            ps->p++;
            return true;
        }
        if (c == '\\') {
            ps->p++;
            c = peek(ps);
            if (c < 0)
                return fail(ps, "unterminated quoted string");
            if (smtp ? (c < 0x20 || c > 0x7e) : ((c < 0x20 && c != '\t') || c == 0x7f))
                return fail(ps, "invalid quoted pair");
            if (c >= 0x80) {
                if (!take_utf8(ps, sb))
                    return false;
                continue;
            }
            ofc_strbuf_putc(sb, (char)c);
            ps->p++;
        } else if (c >= 0x80) {
            if (!take_utf8(ps, sb))
                return false;
        } else if (!smtp && (c == '\r' || c == '\n')) {
            /* Folding: CR LF go, the white space after them stays. */
            ps->p++;
        } else if ((c < 0x20 && !(c == '\t' && !smtp)) || c == 0x7f) {
            return fail(ps, "invalid character in quoted string");
        } else {
            ofc_strbuf_putc(sb, (char)c);
            ps->p++;
        }
    }
}

/* ---- local part ------------------------------------------------------ */

/*
 * A local part into sb. RFC 5322 (smtp false): word *("." word), words
 * being atoms or quoted strings, without white space around the dots.
 * RFC 5321 (smtp true): a dot-string or one quoted string.
 */
static bool parse_local(struct parser *ps, bool smtp, struct ofc_strbuf *sb)
{
    if (smtp && peek(ps) == '"')
        return parse_quoted(ps, true, sb);

    bool after_dot = false;
    for (;;) {
        int c = peek(ps);
        if (c == '"' && !smtp) {
            if (!parse_quoted(ps, false, sb))
                return false;
        } else {
            int r = scan_atom(ps, sb);
            if (r < 0)
                return false;
            if (r == 0) {
                if (after_dot || c == '.')
                    return fail(ps, "misplaced '.' in local part");
                if (c < 0 || c == '@' || c == '>' || c == ',' || c == ';')
                    return fail(ps, "missing local part");
                return fail(ps, "invalid character in local part");
            }
        }
        if (peek(ps) != '.')
            return true;
        ofc_strbuf_putc(sb, '.');
        ps->p++;
        after_dot = true;
    }
}

/* True when s can be written without quotes: RFC 5322 dot-atom-text. */
static bool is_dot_atom(const char *s, size_t len)
{
    if (len == 0 || s[0] == '.' || s[len - 1] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (s[i + 1] == '.')
                return false;
        } else if (c < 0x80 && !is_atext(c)) {
            return false;
        }
    }
    return true;
}

/* The local part as it is written on the wire, quoted when it must be. */
static void append_local(struct ofc_strbuf *sb, const char *local, bool lower)
{
    size_t start = sb->len;
    size_t len = strlen(local);

    if (is_dot_atom(local, len)) {
        ofc_strbuf_append(sb, local, len);
    } else {
        ofc_strbuf_putc(sb, '"');
        for (size_t i = 0; i < len; i++) {
            if (local[i] == '"' || local[i] == '\\')
                ofc_strbuf_putc(sb, '\\');
            ofc_strbuf_putc(sb, local[i]);
        }
        ofc_strbuf_putc(sb, '"');
    }
    if (lower) {
        for (size_t i = start; i < sb->len; i++) {
            if (sb->data[i] >= 'A' && sb->data[i] <= 'Z')
                sb->data[i] = (char)(sb->data[i] - 'A' + 'a');
        }
    }
}

/* ---- domain ---------------------------------------------------------- */

static bool is_ldh(int c)
{
    return is_ascii_alnum(c) || c == '-';
}

/*
 * An address literal's contents: IPv4, "IPv6:" + IPv6, or RFC 5321's
 * general form tag ":" content. The literal itself is kept as written.
 */
static bool address_literal_ok(const char *in, size_t len)
{
    char *s = ofc_xstrndup(in, len);
    bool ok;

    if (len > 5 && strncasecmp(s, "IPv6:", 5) == 0) {
        struct in6_addr a6;
        ok = inet_pton(AF_INET6, s + 5, &a6) == 1;
    } else if (len > 0 && strspn(s, "0123456789.") == len) {
        struct in_addr a4;
        ok = inet_pton(AF_INET, s, &a4) == 1;
    } else {
        /* General-address-literal: Ldh-str ":" 1*dcontent. */
        size_t tag = 0;
        while (tag < len && is_ldh((unsigned char)s[tag]))
            tag++;
        ok = tag > 0 && s[tag - 1] != '-' && tag + 1 < len && s[tag] == ':';
    }
    free(s);
    return ok;
}

/* "[...]" at '['; copied into sb unchanged. */
static bool parse_domain_literal(struct parser *ps, struct ofc_strbuf *sb)
{
    const unsigned char *start = ps->p++;
    for (;;) {
        int c = peek(ps);
        if (c < 0)
            return fail(ps, "unterminated domain literal");
        if (c == ']')
            break;
        /* dtext: printable ASCII but "[", "]" and "\". */
        if (c < 0x21 || c > 0x7e || c == '[' || c == '\\')
            return fail(ps, "invalid domain literal");
        ps->p++;
    }
    ps->p++;
    size_t len = (size_t)(ps->p - start);
    if (!address_literal_ok((const char *)start + 1, len - 2))
        return fail(ps, "invalid domain literal");
    if (len > DOMAIN_MAX)
        return fail(ps, "domain too long");
    ofc_strbuf_append(sb, start, len);
    return true;
}

static bool end_label(struct parser *ps, struct ofc_strbuf *sb, size_t label_start)
{
    size_t len = sb->len - label_start;
    if (len == 0)
        return fail(ps, label_start == 0 ? "missing domain" : "empty label in domain");
    if (len > LABEL_MAX)
        return fail(ps, "domain label too long");
    if (sb->data[label_start] == '-' || sb->data[sb->len - 1] == '-')
        return fail(ps, "domain label starts or ends with '-'");
    return true;
}

/*
 * A domain into sb: a domain literal as written, or labels of letters,
 * digits, hyphens and UTF-8, ASCII lowered. One trailing dot (the DNS
 * root) is accepted and dropped.
 */
static bool parse_domain(struct parser *ps, struct ofc_strbuf *sb)
{
    if (peek(ps) == '[')
        return parse_domain_literal(ps, sb);

    size_t label_start = sb->len;
    bool trailing_dot = false;
    for (;;) {
        int c = peek(ps);
        if (c >= 0x80) {
            if (!take_utf8(ps, sb))
                return false;
        } else if (is_ldh(c)) {
            ofc_strbuf_putc(sb, (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
            ps->p++;
        } else if (c == '.') {
            if (!end_label(ps, sb, label_start))
                return false;
            ps->p++;
            c = peek(ps);
            if (c < 0x80 && !is_ldh(c) && c != '.') {
                trailing_dot = true;
                break;
            }
            ofc_strbuf_putc(sb, '.');
            label_start = sb->len;
        } else {
            break;
        }
        if (sb->len - label_start > LABEL_MAX)
            return fail(ps, "domain label too long");
    }
    if (!trailing_dot && !end_label(ps, sb, label_start))
        return false;
    if (is_atext(peek(ps)) || peek(ps) == '"' || peek(ps) == '[')
        return fail(ps, "invalid character in domain");
    if (sb->len > DOMAIN_MAX)
        return fail(ps, "domain too long");
    return true;
}

/*
 * A source route "@a,@b:" (RFC 5321 A-d-l, RFC 5322 obs-route), parsed
 * for validity and dropped. cfws allows comments and white space (and
 * empty elements) in the RFC 5322 form.
 */
static bool parse_route(struct parser *ps, bool cfws)
{
    for (;;) {
        struct ofc_strbuf tmp = OFC_STRBUF_INIT;
        if (peek(ps) != '@')
            return fail(ps, "invalid source route");
        ps->p++;
        if (cfws && !skip_cfws(ps))
            return false;
        bool ok = parse_domain(ps, &tmp);
        ofc_strbuf_free(&tmp);
        if (!ok || (cfws && !skip_cfws(ps)))
            return false;
        if (peek(ps) == ':') {
            ps->p++;
            return true;
        }
        if (peek(ps) != ',')
            return fail(ps, "invalid source route");
        ps->p++;
        /* obs-domain-list allows empty elements: "@a,,@b:". */
        while (cfws) {
            if (!skip_cfws(ps))
                return false;
            if (peek(ps) != ',')
                break;
            ps->p++;
        }
    }
}

/* ---- RFC 5322 mailboxes ---------------------------------------------- */

/*
 * Looks ahead (over quoted strings and comments) to tell a name-addr from
 * an addr-spec from a group before any of them is parsed, so that the
 * error reported is the one for what the writer meant: '<' for a name-addr
 * (an angle bracket before the next ',' or ';'), ':' for a group (a colon
 * before any '@'), '@' for everything else.
 */
static int classify(const struct parser *ps)
{
    struct parser look = *ps;
    bool at_seen = false;
    while (look.p < look.end) {
        int c = *look.p;
        if (c == '<')
            return '<';
        if (c == ',' || c == ';')
            break;
        if (c == ':' && !at_seen)
            return ':';
        if (c == '@')
            at_seen = true;
        if (c == '(') {
            if (!skip_comment(&look))
                break;
        } else if (c == '"') {
            look.p++;
            while (look.p < look.end && *look.p != '"') {
                if (*look.p == '\\' && look.p + 1 < look.end)
                    look.p++;
                look.p++;
            }
            if (look.p < look.end)
                look.p++;
        } else {
            look.p++;
        }
    }
    return '@';
}

/* addr-spec (or a bare local part when allowed); CFWS on both sides. */
static bool parse_addr_spec(struct parser *ps, bool allow_bare, struct parts *pt)
{
    if (!skip_cfws(ps) || !parse_local(ps, false, &pt->local) || !skip_cfws(ps))
        return false;
    int c = peek(ps);
    if (c == '@') {
        ps->p++;
        if (!skip_cfws(ps) || !parse_domain(ps, &pt->domain) || !skip_cfws(ps))
            return false;
        pt->has_domain = true;
        return true;
    }
    if (c < 0 || c == ',' || c == ';' || c == '>') {
        if (!allow_bare)
            return fail(ps, "missing '@'");
        return true;
    }
    return fail(ps, "unexpected characters in local part");
}

/*
 * A display name (RFC 5322 phrase, with obs-phrase's dots) up to `stop`
 * ('<' or ':'): words joined by single spaces, quoted strings unquoted,
 * RFC 2047 encoded-words left as they are.
 */
static bool parse_phrase(struct parser *ps, int stop, struct ofc_strbuf *sb)
{
    for (;;) {
        const unsigned char *before = ps->p;
        if (!skip_cfws(ps))
            return false;
        bool space = ps->p != before && sb->len > 0;
        int c = peek(ps);
        if (c == stop)
            return true;
        if (c < 0)
            return fail(ps, stop == '<' ? "missing '<'" : "missing ':'");
        if (space)
            ofc_strbuf_putc(sb, ' ');
        if (c == '"') {
            if (!parse_quoted(ps, false, sb))
                return false;
        } else if (c == '.') {
            ofc_strbuf_putc(sb, '.');
            ps->p++;
        } else {
            int r = scan_atom(ps, sb);
            if (r < 0)
                return false;
            if (r == 0)
                return fail(ps, "invalid character in display name");
        }
    }
}

/* [display-name] "<" [route] addr-spec ">", CFWS around. */
static bool parse_name_addr(struct parser *ps, bool allow_bare, struct parts *pt)
{
    if (!parse_phrase(ps, '<', &pt->display))
        return false;
    ps->p++;
    if (!skip_cfws(ps))
        return false;
    if (peek(ps) == '@' && !parse_route(ps, true))
        return false;
    if (!skip_cfws(ps))
        return false;
    if (peek(ps) == '>')
        return fail(ps, "empty address");
    if (!parse_addr_spec(ps, allow_bare, pt))
        return false;
    if (peek(ps) != '>')
        return fail(ps, "missing '>'");
    ps->p++;
    return skip_cfws(ps);
}

/*
 * Checks the RFC 5321 limits on what was parsed and moves it into addr.
 * The local part is measured as it will be written (quotes included),
 * since that is what has to fit into the next hop's buffers.
 */
static bool finish(struct parser *ps, struct parts *pt, struct ofc_addr *addr)
{
    struct ofc_strbuf wire = OFC_STRBUF_INIT;
    const char *local = pt->local.data != NULL ? pt->local.data : "";
    append_local(&wire, local, false);
    size_t local_len = wire.len;
    ofc_strbuf_free(&wire);

    if (pt->local.len == 0)
        return fail(ps, "empty local part");
    if (local_len > LOCAL_PART_MAX)
        return fail(ps, "local part too long");
    if (pt->has_domain && pt->domain.len > DOMAIN_MAX)
        return fail(ps, "domain too long");
    if (pt->has_domain && local_len + 1 + pt->domain.len > ADDR_SPEC_MAX)
        return fail(ps, "address too long");

    addr->quoted = !is_dot_atom(local, pt->local.len);
    addr->display = pt->display.len > 0 ? ofc_strbuf_detach(&pt->display) : NULL;
    addr->local = ofc_strbuf_detach(&pt->local);
    addr->domain = pt->has_domain ? ofc_strbuf_detach(&pt->domain) : NULL;
    return true;
}

/* One mailbox at the cursor; stops before ',' ';' or the end. */
static bool parse_mailbox_at(struct parser *ps, bool allow_bare, struct ofc_addr *addr)
{
    struct parts pt = {OFC_STRBUF_INIT, OFC_STRBUF_INIT, OFC_STRBUF_INIT, false};
    bool ok;

    int kind = classify(ps);
    if (kind == '<')
        ok = parse_name_addr(ps, allow_bare, &pt);
    else if (kind == ':')
        ok = fail(ps, "unexpected group");
    else
        ok = parse_addr_spec(ps, allow_bare, &pt);
    ok = ok && finish(ps, &pt, addr);
    parts_free(&pt);
    return ok;
}

int ofc_addr_parse_mailbox(const char *in, size_t len, bool allow_bare, struct ofc_addr *addr_r,
                           const char **error_r)
{
    struct parser ps = {(const unsigned char *)in, (const unsigned char *)in + len, NULL};

    memset(addr_r, 0, sizeof(*addr_r));
    if (!skip_cfws(&ps)) {
        *error_r = ps.error;
        return -1;
    }
    if (ps.p == ps.end) {
        *error_r = "empty address";
        return -1;
    }
    if (!parse_mailbox_at(&ps, allow_bare, addr_r)) {
        *error_r = ps.error;
        ofc_addr_clear(addr_r);
        return -1;
    }
    if (ps.p != ps.end) {
        *error_r =
            peek(&ps) == ',' ? "more than one address" : "unexpected characters after address";
        ofc_addr_clear(addr_r);
        return -1;
    }
    return 0;
}

/* ---- RFC 5322 address lists ------------------------------------------ */

struct addr_vec {
    struct ofc_addr *v;
    size_t n;
    size_t cap;
};

static struct ofc_addr *vec_push(struct addr_vec *vec)
{
    if (vec->n == vec->cap) {
        vec->cap = vec->cap ? vec->cap * 2 : 4;
        vec->v = ofc_xrealloc(vec->v, vec->cap * sizeof(*vec->v));
    }
    struct ofc_addr *a = &vec->v[vec->n];
    memset(a, 0, sizeof(*a));
    return a;
}

/* One list element that is a mailbox; appended to vec. */
static bool list_mailbox(struct parser *ps, struct addr_vec *vec)
{
    struct ofc_addr *a = vec_push(vec);
    if (!parse_mailbox_at(ps, false, a)) {
        ofc_addr_clear(a);
        return false;
    }
    vec->n++;
    return true;
}

/* display-name ":" [mailbox-list] ";" - members are kept, the name is not. */
static bool list_group(struct parser *ps, struct addr_vec *vec)
{
    struct ofc_strbuf name = OFC_STRBUF_INIT;
    bool ok = parse_phrase(ps, ':', &name);
    ofc_strbuf_free(&name);
    if (!ok)
        return false;
    ps->p++;
    for (;;) {
        if (!skip_cfws(ps))
            return false;
        int c = peek(ps);
        if (c == ';') {
            ps->p++;
            return skip_cfws(ps);
        }
        if (c < 0)
            return fail(ps, "missing ';' after group");
        if (c == ',') {
            ps->p++;
            continue;
        }
        if (classify(ps) == ':')
            return fail(ps, "nested group");
        if (!list_mailbox(ps, vec))
            return false;
        c = peek(ps);
        if (c != ',' && c != ';')
            return fail(ps, c < 0 ? "missing ';' after group" : "expected ',' or ';'");
    }
}

int ofc_addr_parse_list(const char *in, size_t len, struct ofc_addr **addrs_r, size_t *count_r,
                        const char **error_r)
{
    struct parser ps = {(const unsigned char *)in, (const unsigned char *)in + len, NULL};
    struct addr_vec vec = {NULL, 0, 0};
    bool any_group = false;
    bool ok = true;

    *addrs_r = NULL;
    *count_r = 0;
    for (;;) {
        if (!(ok = skip_cfws(&ps)))
            break;
        int c = peek(&ps);
        if (c < 0)
            break;
        if (c == ',') {
            /* obs-addr-list: empty elements are tolerated. */
            ps.p++;
            continue;
        }
        if (classify(&ps) == ':') {
            any_group = true;
            ok = list_group(&ps, &vec);
        } else {
            ok = list_mailbox(&ps, &vec);
        }
        if (!ok)
            break;
        c = peek(&ps);
        if (c >= 0 && c != ',') {
            ok = fail(&ps, "expected ',' between addresses");
            break;
        }
    }
    if (ok && vec.n == 0 && !any_group)
        ok = fail(&ps, "empty address list");
    if (!ok) {
        *error_r = ps.error;
        ofc_addr_free_list(&vec.v, vec.n);
        return -1;
    }
    *addrs_r = vec.v;
    *count_r = vec.n;
    return 0;
}

/* ---- RFC 5321 paths -------------------------------------------------- */

int ofc_addr_parse_path(const char *in, size_t len, bool null_ok, struct ofc_addr *addr_r,
                        const char **error_r)
{
    struct parser ps = {(const unsigned char *)in, (const unsigned char *)in + len, NULL};
    struct parts pt = {OFC_STRBUF_INIT, OFC_STRBUF_INIT, OFC_STRBUF_INIT, false};
    bool ok = false;

    memset(addr_r, 0, sizeof(*addr_r));
    if (len > PATH_MAX_LEN) {
        *error_r = "path too long";
        return -1;
    }
    if (peek(&ps) != '<') {
        *error_r = "missing '<'";
        return -1;
    }
    ps.p++;
    if (peek(&ps) == '>') {
        ps.p++;
        if (ps.p != ps.end) {
            *error_r = "unexpected characters after '>'";
            return -1;
        }
        if (!null_ok) {
            *error_r = "null path not allowed";
            return -1;
        }
        addr_r->local = ofc_xstrdup("");
        return 0;
    }
    if (peek(&ps) == '@' && !parse_route(&ps, false))
        goto out;
    if (!parse_local(&ps, true, &pt.local))
        goto out;
    if (peek(&ps) == '@') {
        ps.p++;
        if (!parse_domain(&ps, &pt.domain))
            goto out;
        pt.has_domain = true;
    } else if (!(peek(&ps) == '>' && pt.local.len == 10 &&
                 strcasecmp(pt.local.data, "postmaster") == 0)) {
        /* RFC 5321 4.5.1: "<Postmaster>" alone must be accepted. */
        (void)fail(&ps, peek(&ps) == '>' || peek(&ps) < 0 ? "missing '@'"
                                                          : "invalid character in local part");
        goto out;
    }
    if (peek(&ps) != '>') {
        (void)fail(&ps, peek(&ps) < 0 ? "missing '>'" : "invalid character in domain");
        goto out;
    }
    ps.p++;
    if (ps.p != ps.end) {
        (void)fail(&ps, "unexpected characters after '>'");
        goto out;
    }
    ok = finish(&ps, &pt, addr_r);
out:
    parts_free(&pt);
    if (!ok) {
        *error_r = ps.error;
        ofc_addr_clear(addr_r);
        return -1;
    }
    return 0;
}

/* ---- output ---------------------------------------------------------- */

static char *format(const struct ofc_addr *addr, bool lower)
{
    struct ofc_strbuf sb = OFC_STRBUF_INIT;

    /* The null path formats as "", so that "<%s>" gives "<>". */
    if (addr->local[0] == '\0' && addr->domain == NULL)
        return ofc_xstrdup("");
    append_local(&sb, addr->local, lower);
    if (addr->domain != NULL) {
        size_t start = sb.len + 1;
        ofc_strbuf_putc(&sb, '@');
        ofc_strbuf_puts(&sb, addr->domain);
        if (lower) {
            for (size_t i = start; i < sb.len; i++) {
                if (sb.data[i] >= 'A' && sb.data[i] <= 'Z')
                    sb.data[i] = (char)(sb.data[i] - 'A' + 'a');
            }
        }
    }
    return ofc_strbuf_detach(&sb);
}

char *ofc_addr_format(const struct ofc_addr *addr)
{
    return format(addr, false);
}

char *ofc_addr_key(const struct ofc_addr *addr)
{
    return format(addr, true);
}

void ofc_addr_clear(struct ofc_addr *addr)
{
    OFC_FREE(addr->display);
    OFC_FREE(addr->local);
    OFC_FREE(addr->domain);
    addr->quoted = false;
}

void ofc_addr_free_list(struct ofc_addr **addrs, size_t count)
{
    if (*addrs == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        ofc_addr_clear(&(*addrs)[i]);
    free(*addrs);
    *addrs = NULL;
}
