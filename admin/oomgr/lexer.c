/*
 * lexer.c - from lines of input to the tokens of one statement.
 *
 * A statement is a run of tokens that ends with ';' outside quotes; it may
 * span lines, and one line may hold several. A few session commands of the
 * original (whoami, exit, connect ...) also end at the end of their line,
 * as the Installation Guide types them without ';'. "--" starts a comment
 * that runs to the end of the line. A quoted string must close on its own
 * line: a forgotten quote then costs one line, not the rest of the script.
 *
 * The reader keeps the text of a statement that is not complete yet and
 * scans it again whenever a line arrives; statements are short, so the
 * rescans cost nothing worth a more complicated state machine.
 */
/* System. */
#include <stdlib.h>
#include <string.h>

/* libofc. */
#include "ofc_mem.h"

/* This program. */
#include "oomgr.h"

struct oomgr_reader {
    struct oomgr_input *in;
    struct ofc_strbuf buf; /* complete lines not consumed yet, each ending in '\n' */
    int buf_line;          /* the line number of buf.data[0] */
    int next_line;         /* the number the next line read will get */
    bool eof;
};

enum scan_result {
    SCAN_EMPTY,    /* nothing but white space and comments */
    SCAN_COMPLETE, /* a statement: *end_r is just past its ';' (or its line) */
    SCAN_MORE,     /* a statement has begun but not ended */
    SCAN_ERROR,    /* *end_r is just past the line with the error */
};

struct tokvec {
    struct oomgr_token *v;
    size_t n, cap;
};

static void tokvec_push(struct tokvec *tv, enum oomgr_token_kind kind, char *text, int line)
{
    if (tv->n == tv->cap) {
        tv->cap = tv->cap == 0 ? 8 : tv->cap * 2;
        tv->v = ofc_xrealloc(tv->v, tv->cap * sizeof(*tv->v));
    }
    tv->v[tv->n].kind = kind;
    tv->v[tv->n].text = text;
    tv->v[tv->n].line = line;
    tv->n++;
}

void oomgr_tokens_free(struct oomgr_token **tokens, size_t ntokens)
{
    if (*tokens == NULL)
        return;
    for (size_t i = 0; i < ntokens; i++) {
        /* A token may be a password (connect): do not leave it in freed memory. */
        explicit_bzero((*tokens)[i].text, strlen((*tokens)[i].text));
        free((*tokens)[i].text);
    }
    OFC_FREE(*tokens);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* Where a bare word ends: white space, '=', ';', '"', a comment, or the line. */
static bool ends_word(const char *p, const char *end)
{
    return p >= end || is_space(*p) || *p == '\n' || *p == '=' || *p == ';' || *p == '"' ||
           (*p == '-' && p + 1 < end && p[1] == '-');
}

static const char *skip_to_eol(const char *p, const char *end)
{
    while (p < end && *p != '\n')
        p++;
    return p < end ? p + 1 : p;
}

/*
 * Scans text[0..len) from its start. Tokens go to *tv (the caller frees
 * them whatever the result). first_line is the line number of text[0].
 */
static enum scan_result scan(const char *text, size_t len, int first_line, struct tokvec *tv,
                             size_t *end_r, char **error_r, int *line_r)
{
    const char *p = text, *end = text + len;
    int line = first_line;
    bool eol_statement = false;

    while (p < end) {
        char c = *p;
        if (c == '\n') {
            p++;
            if (eol_statement) {
                *end_r = (size_t)(p - text);
                return SCAN_COMPLETE;
            }
            line++;
            continue;
        }
        if (is_space(c)) {
            p++;
            continue;
        }
        if (c == '-' && p + 1 < end && p[1] == '-') {
            /* Leave the newline for the loop: it may end a statement. */
            while (p < end && *p != '\n')
                p++;
            continue;
        }
        if (c == ';') {
            *end_r = (size_t)(p + 1 - text);
            return SCAN_COMPLETE;
        }
        if (c == '=') {
            tokvec_push(tv, OOMGR_TOK_EQUALS, ofc_xstrdup(""), line);
            p++;
            continue;
        }
        if (c == '"') {
            /*
             * Caution: ofc_strbuf_reserve() does not terminate a fresh
             * buffer, so "" must start from puts(""), not from reserve().
             */
            struct ofc_strbuf sb = OFC_STRBUF_INIT;
            ofc_strbuf_puts(&sb, "");
            const char *q = p + 1;
            for (;;) {
                if (q >= end || *q == '\n') {
                    *error_r = ofc_xstrdup("unterminated quoted string (a string must close "
                                           "on its line)");
                    goto fail_string;
                }
                if (*q == '"')
                    break;
                if (*q == '\\') {
                    char e = q + 1 < end ? q[1] : '\n';
                    if (e == '"' || e == '\\')
                        ofc_strbuf_putc(&sb, e);
                    else if (e == 'n')
                        ofc_strbuf_putc(&sb, '\n');
                    else if (e == 't')
                        ofc_strbuf_putc(&sb, '\t');
                    else {
                        if (e == '\n')
                            *error_r = ofc_xstrdup("unterminated quoted string (a string must "
                                                   "close on its line)");
                        else
                            *error_r = ofc_xasprintf("unknown escape \\%c in a quoted string "
                                                     "(use \\\" \\\\ \\n \\t)",
                                                     e);
                        goto fail_string;
                    }
                    q += 2;
                    continue;
                }
                ofc_strbuf_putc(&sb, *q);
                q++;
            }
            tokvec_push(tv, OOMGR_TOK_STRING, ofc_strbuf_detach(&sb), line);
            p = q + 1;
            continue;
        fail_string:
            explicit_bzero(sb.data, sb.len);
            ofc_strbuf_free(&sb);
            *line_r = line;
            *end_r = (size_t)(skip_to_eol(p, end) - text);
            return SCAN_ERROR;
        }
        const char *start = p;
        while (!ends_word(p, end))
            p++;
        char *word = ofc_xstrndup(start, (size_t)(p - start));
        if (tv->n == 0 && oomgr_stmt_verb_ends_at_eol(word))
            eol_statement = true;
        tokvec_push(tv, OOMGR_TOK_WORD, word, line);
    }
    *end_r = len;
    return tv->n == 0 ? SCAN_EMPTY : SCAN_MORE;
}

struct oomgr_reader *oomgr_reader_new(struct oomgr_input *in)
{
    struct oomgr_reader *r = ofc_xcalloc(1, sizeof(*r));
    r->in = in;
    ofc_strbuf_init(&r->buf);
    r->buf_line = 1;
    r->next_line = 1;
    return r;
}

void oomgr_reader_free(struct oomgr_reader **r)
{
    if (*r == NULL)
        return;
    explicit_bzero((*r)->buf.data, (*r)->buf.len);
    ofc_strbuf_free(&(*r)->buf);
    OFC_FREE(*r);
}

/* Drops the first n bytes of the pending text, keeping the line count right. */
static void consume(struct oomgr_reader *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (r->buf.data[i] == '\n')
            r->buf_line++;
    explicit_bzero(r->buf.data, n);
    memmove(r->buf.data, r->buf.data + n, r->buf.len - n);
    r->buf.len -= n;
    r->buf.data[r->buf.len] = '\0';
    /* Only white space left: the next statement starts on the next line read. */
    bool blank = true;
    for (size_t i = 0; i < r->buf.len && blank; i++)
        blank = is_space(r->buf.data[i]) || r->buf.data[i] == '\n';
    if (blank) {
        ofc_strbuf_reset(&r->buf);
        r->buf_line = r->next_line;
    }
}

/* The statement's text on one line (for the history): newlines become spaces. */
static char *statement_text(const char *text, size_t len)
{
    while (len > 0 && (is_space(text[len - 1]) || text[len - 1] == '\n'))
        len--;
    while (len > 0 && (is_space(*text) || *text == '\n')) {
        text++;
        len--;
    }
    char *s = ofc_xstrndup(text, len);
    for (char *p = s; *p != '\0'; p++)
        if (*p == '\n')
            *p = ' ';
    return s;
}

bool oomgr_reader_ready(struct oomgr_reader *r)
{
    if (r->eof)
        return true;
    struct tokvec tv = {NULL, 0, 0};
    size_t end = 0;
    char *error = NULL;
    int line = 0;
    enum scan_result res = scan(r->buf.data != NULL ? r->buf.data : "", r->buf.len, r->buf_line,
                                &tv, &end, &error, &line);
    oomgr_tokens_free(&tv.v, tv.n);
    free(error);
    /* A complete statement (or an error to report) is pending: no input needed. */
    if (res == SCAN_ERROR || (res == SCAN_COMPLETE && tv.n > 0))
        return true;
    return oomgr_input_ready(r->in);
}

int oomgr_reader_next(struct oomgr_reader *r, struct oomgr_token **tokens_r, size_t *ntokens_r,
                      char **text_r, char **error_r, int *line_r)
{
    *tokens_r = NULL;
    *ntokens_r = 0;
    *text_r = NULL;
    for (;;) {
        struct tokvec tv = {NULL, 0, 0};
        size_t end = 0;
        int err_line = r->buf_line;
        enum scan_result res = scan(r->buf.data != NULL ? r->buf.data : "", r->buf.len, r->buf_line,
                                    &tv, &end, error_r, &err_line);
        if (res == SCAN_COMPLETE && tv.n == 0) {
            /* A lone ';' is no statement. */
            oomgr_tokens_free(&tv.v, tv.n);
            consume(r, end);
            continue;
        }
        if (res == SCAN_COMPLETE) {
            *text_r = statement_text(r->buf.data, end);
            consume(r, end);
            *tokens_r = tv.v;
            *ntokens_r = tv.n;
            return 1;
        }
        if (res == SCAN_ERROR) {
            oomgr_tokens_free(&tv.v, tv.n);
            consume(r, end);
            *line_r = err_line;
            return -1;
        }
        bool begun = res == SCAN_MORE;
        int first_line = begun ? tv.v[0].line : r->buf_line;
        oomgr_tokens_free(&tv.v, tv.n);
        if (res == SCAN_EMPTY) {
            ofc_strbuf_reset(&r->buf);
            r->buf_line = r->next_line;
        }
        if (r->eof) {
            if (!begun)
                return 0;
            consume(r, r->buf.len);
            *error_r = ofc_xstrdup("statement not terminated by ';' at the end of the input");
            *line_r = first_line;
            return -1;
        }
        char *line = NULL;
        int rc = oomgr_input_line(r->in, begun, &line, error_r);
        if (rc < 0) {
            *line_r = r->next_line;
            r->eof = true;
            consume(r, r->buf.len);
            return -1;
        }
        if (rc == 0) {
            r->eof = true;
            continue;
        }
        if (rc == 2) {
            /* ^C at the prompt: forget the statement being typed. */
            consume(r, r->buf.len);
            continue;
        }
        if (r->buf.len == 0)
            r->buf_line = r->next_line;
        r->next_line++;
        ofc_strbuf_puts(&r->buf, line);
        ofc_strbuf_putc(&r->buf, '\n');
        explicit_bzero(line, strlen(line));
        free(line);
    }
}
