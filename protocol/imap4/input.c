/*
 * input.c - assembling a command from lines and literals.
 *
 * RFC 3501 §4.3: a line that ends in "{n}" is followed by n octets of a
 * literal, then the command goes on with the next line. With a
 * synchronising literal the client waits for our "+" continuation; with
 * a non-synchronising one ("{n+}", LITERAL+, RFC 7888) it sends at once.
 * The runtime reads a literal's octets when asked (sps_client_read_literal)
 * and hands them to imap_input_literal(); lines come to imap_input_line().
 *
 * Limits: a literal may not exceed MaxLiteralLength (RFC 7888 §4: a
 * synchronising one is refused with "NO [TOOBIG]" before the client sends
 * it; a non-synchronising one already on its way gets "BAD [TOOBIG]" and
 * its octets are read and thrown away in pieces, never held whole); the
 * lines of one command together may not exceed four times MaxLineLength.
 */
/* System. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* libofc. */
#include "ofc_log.h"
#include "ofc_mem.h"

/* Protocol. */
#include "sps.h"

/* This program. */
#include "imap4_internal.h"

/* Thrown-away literal octets are read in pieces of this size. */
#define DISCARD_CHUNK 65536
/* After this many over-long lines in a row the client is not talking IMAP. */
#define MAX_TOO_LONG 3

static size_t max_line(struct imap_session *s)
{
    long long n = imap_param_int(s, "MaxLineLength", 65536);
    return n < 64 ? 64 : (size_t)n;
}

static unsigned long long max_literal(struct imap_session *s)
{
    long long n = imap_param_int(s, "MaxLiteralLength", 52428800);
    return n < 1024 ? 1024 : (unsigned long long)n;
}

void imap_input_reset(struct imap_session *s)
{
    for (size_t i = 0; i < s->nlines; i++)
        free(s->lines[i]);
    OFC_FREE(s->lines);
    s->nlines = 0;
    for (size_t i = 0; i < s->nliterals; i++) {
        /* A literal may hold a password (LOGIN). */
        explicit_bzero(s->literals[i].data, s->literals[i].len);
        free(s->literals[i].data);
    }
    OFC_FREE(s->literals);
    s->nliterals = 0;
    s->pending_octets = 0;
}

/*
 * Does the line end in a literal marker "{n}" or "{n+}"? Sets *n_r and
 * *plus_r. A marker whose number does not fit is reported with *n_r =
 * ULLONG_MAX (too big, whatever the limit).
 */
static bool literal_marker(const char *line, size_t len, unsigned long long *n_r, bool *plus_r)
{
    if (len < 3 || line[len - 1] != '}')
        return false;
    size_t end = len - 1;
    bool plus = line[end - 1] == '+';
    if (plus)
        end--;
    size_t start = end;
    while (start > 0 && line[start - 1] >= '0' && line[start - 1] <= '9')
        start--;
    if (start == end || start == 0 || line[start - 1] != '{')
        return false;
    unsigned long long n = 0;
    for (size_t i = start; i < end; i++) {
        unsigned d = (unsigned)(line[i] - '0');
        if (n > (~0ULL - d) / 10) {
            n = ~0ULL;
            break;
        }
        n = n * 10 + d;
    }
    *n_r = n;
    *plus_r = plus;
    return true;
}

/* The tag of the command being assembled, for replies before it is parsed; heap. */
static char *pending_tag(struct imap_session *s, const char *line)
{
    const char *first = s->nlines > 0 ? s->lines[0] : line;
    size_t n = 0;
    while (first[n] != '\0' && first[n] != ' ') {
        unsigned char ch = (unsigned char)first[n];
        /* RFC 3501 tag: ASTRING-CHAR except "+"; anything else cannot be echoed. */
        if (ch <= 0x20 || ch >= 0x7f || strchr("+(){%*\"\\", ch) != NULL)
            return ofc_xstrdup("*");
        n++;
    }
    return n > 0 ? ofc_xstrndup(first, n) : ofc_xstrdup("*");
}

/* Starts throwing away n octets of a refused non-synchronising literal. */
static void discard_literal(struct imap_conn *conn, unsigned long long n)
{
    conn->discard_octets = n;
    conn->s.discard_until_eol = true;
    sps_client_read_literal(conn->s.c, n > DISCARD_CHUNK ? DISCARD_CHUNK : (size_t)n);
}

/*
 * Refuses the command being assembled with "tag <status> <text>". When
 * the current line announced a non-synchronising literal, its octets are
 * on their way and get thrown away, and the line after them still belongs
 * to the refused command.
 */
static void refuse(struct imap_conn *conn, const char *line, size_t len, const char *status,
                   const char *text)
{
    struct imap_session *s = &conn->s;
    char *tag = pending_tag(s, line);
    imap_tagged(s, tag, status, "%s", text);
    free(tag);
    imap_input_reset(s);
    unsigned long long n = 0;
    bool plus = false;
    if (literal_marker(line, len, &n, &plus) && plus) {
        /* RFC 7888 §4: read and discard, or close when it is beyond reason. */
        if (n > 4 * max_literal(s)) {
            ofc_info("%s: non-synchronising literal of %llu octets: closed", sps_client_id(s->c),
                     n);
            sps_client_puts(s->c, "* BYE literal too big\r\n");
            s->state = IMAP_LOGOUT;
            sps_client_close(s->c);
            return;
        }
        discard_literal(conn, n);
    } else {
        s->discard_until_eol = false;
    }
}

/* The idle command is over: "DONE" or anything else (RFC 2177 §3). */
static void idle_line(struct imap_session *s, const char *line, size_t len)
{
    char *tag = s->idle_tag;
    s->idle_tag = NULL;
    sps_client_set_idle_timeout(s->c, 0);
    if (len == 4 && strncasecmp(line, "DONE", 4) == 0)
        imap_tagged(s, tag, "OK", "IDLE terminated");
    else
        imap_tagged(s, tag, "BAD", "expected DONE");
    free(tag);
}

static void run_command(struct imap_conn *conn)
{
    struct imap_session *s = &conn->s;
    struct imap_cmd *cmd = ofc_xcalloc(1, sizeof(*cmd));
    char *tag = NULL;
    const char *error = NULL;
    int rc = imap_parse_command((const char *const *)s->lines, s->nlines, s->literals, cmd, &tag,
                                &error);
    imap_input_reset(s);
    if (rc != 0) {
        imap_tagged(s, tag != NULL ? tag : "*", "BAD", "%s",
                    error != NULL ? error : "syntax error");
        free(tag);
        free(cmd);
        return;
    }
    free(tag);
    conn->too_long = 0;
    imap_dispatch(s, cmd);
}

void imap_input_line(struct imap_conn *conn, char *line, size_t len)
{
    struct imap_session *s = &conn->s;
    if (s->state == IMAP_LOGOUT)
        return;
    if (conn->sasl_tag != NULL) {
        imap_auth_continue(conn, line, len);
        return;
    }
    if (s->idle_tag != NULL) {
        idle_line(s, line, len);
        return;
    }
    unsigned long long n = 0;
    bool plus = false;
    bool marker = literal_marker(line, len, &n, &plus);
    if (s->discard_until_eol) {
        /* The rest of a refused command; a synchronising literal is never asked for. */
        if (marker && plus)
            discard_literal(conn, n);
        else
            s->discard_until_eol = false;
        return;
    }
    if (s->nlines == 0 && len == 0)
        return; /* Empty lines between commands: some clients send them; nothing to answer. */
    if (strlen(line) != len) {
        refuse(conn, line, len, "BAD", "NUL in command");
        return;
    }
    if (s->pending_octets + len + 2 > 4 * max_line(s)) {
        refuse(conn, line, len, "BAD", "command too long");
        return;
    }
    if (marker) {
        unsigned long long got = 0;
        for (size_t i = 0; i < s->nliterals; i++)
            got += s->literals[i].len;
        if (n > max_literal(s) || got + n > max_literal(s)) {
            ofc_info("%s: literal of %llu octets refused (MaxLiteralLength %llu)",
                     sps_client_id(s->c), n, max_literal(s));
            /* RFC 7888 §4 / RFC 7889: NO before the octets come, BAD once they are sent. */
            refuse(conn, line, len, plus ? "BAD" : "NO", "[TOOBIG] literal too big");
            return;
        }
    }
    s->lines = ofc_xrealloc(s->lines, (s->nlines + 1) * sizeof(*s->lines));
    s->lines[s->nlines++] = ofc_xstrndup(line, len);
    s->pending_octets += len + 2;
    if (!marker) {
        run_command(conn);
        return;
    }
    if (!plus)
        sps_client_puts(s->c, "+ Ready for literal data\r\n");
    sps_client_read_literal(s->c, (size_t)n);
}

void imap_input_literal(struct imap_conn *conn, char *data, size_t len)
{
    struct imap_session *s = &conn->s;
    if (s->state == IMAP_LOGOUT)
        return;
    if (conn->discard_octets > 0) {
        conn->discard_octets -= len < conn->discard_octets ? len : conn->discard_octets;
        if (conn->discard_octets > 0)
            sps_client_read_literal(s->c, conn->discard_octets > DISCARD_CHUNK
                                              ? DISCARD_CHUNK
                                              : (size_t)conn->discard_octets);
        return;
    }
    if (s->nlines == 0)
        ofc_panic("%s: literal without a command", sps_client_id(s->c));
    s->literals = ofc_xrealloc(s->literals, (s->nliterals + 1) * sizeof(*s->literals));
    char *copy = ofc_xmalloc(len + 1);
    memcpy(copy, data, len);
    copy[len] = '\0';
    s->literals[s->nliterals].data = copy;
    s->literals[s->nliterals].len = len;
    s->nliterals++;
    /* The runtime frees its buffer; a LOGIN password must not linger there. */
    explicit_bzero(data, len);
}

void imap_input_too_long(struct imap_conn *conn)
{
    struct imap_session *s = &conn->s;
    if (s->state == IMAP_LOGOUT)
        return;
    conn->too_long++;
    if (conn->too_long >= MAX_TOO_LONG) {
        ofc_info("%s: %d over-long lines in a row: closed", sps_client_id(s->c), conn->too_long);
        sps_client_puts(s->c, "* BYE too many over-long lines\r\n");
        s->state = IMAP_LOGOUT;
        sps_client_close(s->c);
        return;
    }
    if (conn->sasl_tag != NULL) {
        imap_tagged(s, conn->sasl_tag, "BAD", "SASL response too long");
        OFC_FREE(conn->sasl_tag);
    } else if (s->nlines > 0) {
        char *tag = pending_tag(s, "");
        imap_tagged(s, tag, "BAD", "line too long");
        free(tag);
    } else if (!s->discard_until_eol) {
        sps_client_puts(s->c, "* BAD line too long\r\n");
    }
    imap_input_reset(s);
    /* What followed the line in the same command cannot be told apart from a new one. */
    s->discard_until_eol = false;
}
