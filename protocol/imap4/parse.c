/*
 * parse.c - tokenising an assembled IMAP command (RFC 3501 §9) into
 * struct imap_arg trees: atoms, NIL, quoted strings, literals,
 * parenthesised lists, and BODY[...]<..>-style section tokens.
 *
 * The parser is generic: it knows the lexical rules, not the grammar of
 * each command, which the handlers check. It is strict where leniency
 * would hide a broken client or an attack (8-bit or control characters
 * in atoms, bad escapes, unbalanced parentheses, a literal marker that
 * does not end its line) and lenient about runs of spaces, which some
 * clients send.
 */
/* System. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* libofc. */
#include "ofc_mem.h"

/* This program. */
#include "imap4.h"

/* Lists nest deeper than any command needs only in an attack. */
#define MAX_DEPTH 32

struct parser {
    const char *const *lines;
    size_t nlines;
    const struct imap_literal *literals;
    size_t line;   /* current line */
    const char *p; /* position in lines[line] */
    int depth;
    const char *error;
};

/* A growable argument array. */
struct argv {
    struct imap_arg *v;
    size_t n, cap;
};

static int fail(struct parser *P, const char *error)
{
    if (P->error == NULL)
        P->error = error;
    return -1;
}

static struct imap_arg *argv_add(struct argv *a)
{
    if (a->n == a->cap) {
        a->cap = a->cap == 0 ? 4 : a->cap * 2;
        a->v = ofc_xrealloc(a->v, a->cap * sizeof(*a->v));
    }
    struct imap_arg *arg = &a->v[a->n++];
    memset(arg, 0, sizeof(*arg));
    arg->partial_from = -1;
    arg->partial_len = -1;
    return arg;
}

void imap_args_free(struct imap_arg *args, size_t n)
{
    if (args == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(args[i].s);
        imap_args_free(args[i].list, args[i].n);
    }
    free(args);
}

void imap_cmd_free(struct imap_cmd *cmd)
{
    if (cmd == NULL)
        return;
    OFC_FREE(cmd->tag);
    OFC_FREE(cmd->name);
    imap_args_free(cmd->args, cmd->nargs);
    cmd->args = NULL;
    cmd->nargs = 0;
    if (cmd->text != NULL) {
        /* It may show a LOGIN password. */
        explicit_bzero(cmd->text, strlen(cmd->text));
        OFC_FREE(cmd->text);
    }
}

/* RFC 3501 ATOM-CHAR: not atom-specials, not CTL, not 8-bit. */
static bool atom_char(unsigned char ch)
{
    return ch > 0x20 && ch < 0x7f && strchr("(){\"", ch) == NULL;
}

/* Whether the atom text before '[' starts a section: BODY[, BODY.PEEK[, BINARY[... */
static bool section_keyword(const char *s, size_t len)
{
    static const char *const words[] = {"BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK",
                                        "BINARY.SIZE"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strlen(words[i]) == len && strncasecmp(s, words[i], len) == 0)
            return true;
    return false;
}

/* An atom-like word: stops at SP, parentheses, '{', '"', end, and ']' in a section. */
static int read_atom(struct parser *P, bool in_section, const char **start_r, size_t *len_r)
{
    const char *start = P->p;
    for (;;) {
        unsigned char ch = (unsigned char)*P->p;
        if (ch == '\0' || ch == ' ' || ch == '(' || ch == ')' || ch == '{' || ch == '"')
            break;
        if (in_section && (ch == ']' || ch == '['))
            break;
        if (ch == '[' && section_keyword(start, (size_t)(P->p - start)))
            break;
        if (ch >= 0x80)
            return fail(P, "8-bit characters in atom");
        if (!atom_char(ch))
            return fail(P, "control characters in atom");
        P->p++;
    }
    *start_r = start;
    *len_r = (size_t)(P->p - start);
    return 0;
}

static int parse_quoted(struct parser *P, struct imap_arg *arg)
{
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    P->p++; /* the opening quote */
    for (;;) {
        char ch = *P->p;
        if (ch == '\0') {
            ofc_strbuf_free(&sb);
            return fail(P, "unterminated quoted string");
        }
        P->p++;
        if (ch == '"')
            break;
        if (ch == '\\') {
            /* RFC 3501 quoted-specials: only \" and \\ are escapes. */
            ch = *P->p;
            if (ch != '"' && ch != '\\') {
                ofc_strbuf_free(&sb);
                return fail(P, "invalid escape in quoted string");
            }
            P->p++;
        }
        ofc_strbuf_putc(&sb, ch);
    }
    arg->type = IMAP_ARG_STRING;
    arg->len = sb.len;
    arg->s = ofc_strbuf_detach(&sb);
    return 0;
}

/* "{n}" or "{n+}" ending the current line, followed by the line's literal. */
static int parse_literal(struct parser *P, struct imap_arg *arg)
{
    const char *q = P->p + 1;
    unsigned long long n = 0;
    const char *digits = q;
    while (*q >= '0' && *q <= '9') {
        unsigned d = (unsigned)(*q - '0');
        if (n > (~0ULL - d) / 10)
            return fail(P, "literal too big");
        n = n * 10 + d;
        q++;
    }
    if (q == digits)
        return fail(P, "invalid literal");
    if (*q == '+')
        q++;
    if (*q != '}' || q[1] != '\0' || P->line + 1 >= P->nlines)
        return fail(P, "invalid literal");
    const struct imap_literal *lit = &P->literals[P->line];
    if (lit->len != n)
        return fail(P, "literal length mismatch");
    arg->type = IMAP_ARG_STRING;
    arg->literal = true;
    arg->len = lit->len;
    arg->s = ofc_xmalloc(lit->len + 1);
    memcpy(arg->s, lit->data, lit->len);
    arg->s[lit->len] = '\0';
    P->line++;
    P->p = P->lines[P->line];
    return 0;
}

/* A non-negative decimal number of at most 18 digits. */
static int read_number(struct parser *P, long long *n_r)
{
    const char *start = P->p;
    long long n = 0;
    while (isdigit((unsigned char)*P->p)) {
        if (P->p - start >= 18)
            return fail(P, "number too big");
        n = n * 10 + (*P->p - '0');
        P->p++;
    }
    if (P->p == start)
        return fail(P, "invalid partial range");
    *n_r = n;
    return 0;
}

static int parse_args(struct parser *P, char term, bool in_section, struct argv *out);

/* The text from (line, p) to the current position, lines joined as received. */
static char *span_text(struct parser *P, size_t line, const char *p)
{
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    while (line < P->line) {
        ofc_strbuf_puts(&sb, p);
        line++;
        p = P->lines[line];
    }
    ofc_strbuf_append(&sb, p, (size_t)(P->p - p));
    return ofc_strbuf_detach(&sb);
}

/* After "BODY.PEEK" and at '[': the section and the optional <from.count>. */
static int parse_section(struct parser *P, struct imap_arg *arg, size_t line, const char *start)
{
    struct argv items = {NULL, 0, 0};
    P->p++; /* '[' */
    if (++P->depth > MAX_DEPTH)
        return fail(P, "too deeply nested");
    if (parse_args(P, ']', true, &items) != 0) {
        imap_args_free(items.v, items.n);
        return -1;
    }
    P->depth--;
    arg->type = IMAP_ARG_SECTION;
    arg->list = items.v;
    arg->n = items.n;
    if (*P->p == '<') {
        P->p++;
        /* RFC 3501 section-partial: "<" number "." nz-number ">". */
        if (read_number(P, &arg->partial_from) != 0 || *P->p != '.')
            return fail(P, "invalid partial range");
        P->p++;
        if (read_number(P, &arg->partial_len) != 0 || *P->p != '>' || arg->partial_len == 0)
            return fail(P, "invalid partial range");
        P->p++;
    }
    arg->s = span_text(P, line, start);
    arg->len = strlen(arg->s);
    return 0;
}

static int parse_arg(struct parser *P, struct imap_arg *arg, bool in_section)
{
    char ch = *P->p;
    if (ch == '"')
        return parse_quoted(P, arg);
    if (ch == '{')
        return parse_literal(P, arg);
    if (ch == '(') {
        struct argv items = {NULL, 0, 0};
        P->p++;
        if (++P->depth > MAX_DEPTH)
            return fail(P, "too deeply nested");
        arg->type = IMAP_ARG_LIST;
        int rc = parse_args(P, ')', in_section, &items);
        arg->list = items.v;
        arg->n = items.n;
        P->depth--;
        return rc;
    }
    size_t line = P->line;
    const char *start = NULL;
    size_t len = 0;
    if (read_atom(P, in_section, &start, &len) != 0)
        return -1;
    if (*P->p == '[' && !in_section && section_keyword(start, len))
        return parse_section(P, arg, line, start);
    if (*P->p == '[') /* inside a section: "HEADER[" is nothing */
        return fail(P, "unexpected [");
    if (len == 0)
        return fail(P, "syntax error");
    arg->s = ofc_xstrndup(start, len);
    arg->len = len;
    arg->type = len == 3 && strncasecmp(start, "NIL", 3) == 0 ? IMAP_ARG_NIL : IMAP_ARG_ATOM;
    return 0;
}

/*
 * Arguments separated by spaces up to `term`: ')' for a list, ']' for a
 * section, '\0' for the end of the command (which the last line's end is).
 */
static int parse_args(struct parser *P, char term, bool in_section, struct argv *out)
{
    for (;;) {
        while (*P->p == ' ')
            P->p++;
        char ch = *P->p;
        if (ch == '\0' && term == '\0')
            return 0;
        if (ch == term) {
            P->p++;
            return 0;
        }
        if (ch == '\0')
            return fail(P, term == ')' ? "unbalanced parentheses" : "missing ]");
        if (ch == ')')
            return fail(P, "unbalanced parentheses");
        if (ch == ']' && in_section)
            return fail(P, "unbalanced parentheses");
        if (parse_arg(P, argv_add(out), in_section) != 0)
            return -1;
        ch = *P->p;
        if (ch != ' ' && ch != term && ch != ')' && !(in_section && ch == ']') && ch != '\0')
            return fail(P, "missing space between arguments");
    }
}

/* RFC 3501 tag: ASTRING-CHAR except "+" (so also not '*', '%', '\'). */
static bool tag_char(unsigned char ch)
{
    return atom_char(ch) && strchr("+%*\\", ch) == NULL;
}

int imap_parse_command(const char *const *lines, size_t nlines, const struct imap_literal *literals,
                       struct imap_cmd *cmd, char **tag_r, const char **error_r)
{
    memset(cmd, 0, sizeof(*cmd));
    *tag_r = NULL;
    *error_r = NULL;
    if (nlines == 0) {
        *tag_r = ofc_xstrdup("*");
        *error_r = "empty command";
        return -1;
    }
    struct parser P = {lines, nlines, literals, 0, lines[0], 0, NULL};
    const char *t = P.p;
    while (tag_char((unsigned char)*P.p))
        P.p++;
    if (P.p == t || *P.p != ' ') {
        *tag_r = ofc_xstrdup("*");
        *error_r = P.p == t ? "invalid tag" : *P.p == '\0' ? "missing command" : "invalid tag";
        return -1;
    }
    cmd->tag = ofc_xstrndup(t, (size_t)(P.p - t));
    *tag_r = ofc_xstrdup(cmd->tag);
    P.p++;
    for (int word = 0; word < 2; word++) {
        const char *name = NULL;
        size_t len = 0;
        if (read_atom(&P, false, &name, &len) != 0 || len == 0 || (*P.p != ' ' && *P.p != '\0')) {
            fail(&P, "missing command");
            goto error;
        }
        char *upper = ofc_xstrndup(name, len);
        for (char *q = upper; *q != '\0'; q++)
            *q = (char)toupper((unsigned char)*q);
        if (word == 0 && strcmp(upper, "UID") == 0) {
            free(upper);
            cmd->uid = true;
            if (*P.p != ' ') {
                fail(&P, "missing command after UID");
                goto error;
            }
            P.p++;
            continue;
        }
        cmd->name = upper;
        break;
    }
    struct argv args = {NULL, 0, 0};
    if (*P.p == ' ' && parse_args(&P, '\0', false, &args) != 0) {
        imap_args_free(args.v, args.n);
        goto error;
    }
    if (P.line + 1 != nlines) {
        imap_args_free(args.v, args.n);
        fail(&P, "literal without a use");
        goto error;
    }
    cmd->args = args.v;
    cmd->nargs = args.n;
    struct ofc_strbuf text = OFC_STRBUF_INIT;
    for (size_t i = 0; i < nlines; i++)
        ofc_strbuf_puts(&text, lines[i]);
    cmd->text = ofc_strbuf_detach(&text);
    return 0;

error:
    *error_r = P.error != NULL ? P.error : "syntax error";
    imap_cmd_free(cmd);
    memset(cmd, 0, sizeof(*cmd));
    return -1;
}

bool imap_arg_is(const struct imap_arg *arg, const char *word)
{
    if (arg == NULL ||
        (arg->type != IMAP_ARG_ATOM && arg->type != IMAP_ARG_STRING && arg->type != IMAP_ARG_NIL))
        return false;
    return arg->len == strlen(word) && strcasecmp(arg->s, word) == 0;
}

const char *imap_arg_astring(const struct imap_arg *arg)
{
    if (arg == NULL ||
        (arg->type != IMAP_ARG_ATOM && arg->type != IMAP_ARG_STRING && arg->type != IMAP_ARG_NIL))
        return NULL;
    return arg->s;
}
