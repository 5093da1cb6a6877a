/*
 * NAME
 *      ofclmtpd - the LMTP listener (RFC 2033)
 *
 * SYNOPSIS
 *      ofclmtpd [-c config] [-f] [instance=N] [connect=conninfo]
 *
 * DESCRIPTION
 *      Lets an MTA (Postfix, Exim, sendmail) deliver to the node with an
 *      answer per recipient. Listens on TCP (LmtpAddress, LmtpPort; port 0
 *      means ports.lmtp of ofcmail.conf) and/or a unix socket (LmtpSocket).
 *      One thread and one database connection per session, at most
 *      MaxSessions sessions.
 *
 *      Commands: LHLO, MAIL FROM (SIZE=, BODY=7BIT|8BITMIME), RCPT TO, DATA,
 *      RSET, NOOP, QUIT; extensions PIPELINING, ENHANCEDSTATUSCODES,
 *      8BITMIME, SIZE. RCPT is checked at once, in one statement: 550 5.1.1
 *      for a name of a local domain that no directory object has, 552 5.2.2
 *      for an account already over its quota (the Postman checks again at
 *      delivery); addresses of other domains are accepted for the Postman to
 *      route. At the end of DATA the message (octets exactly as received,
 *      dot-stuffing removed) is stored with its envelope in gateway_in in
 *      one statement, and only after that commit does every accepted
 *      recipient get 250; ofcgwind stores it once and submits it. Database
 *      trouble gives 451 4.3.0 so that the client tries again. A message
 *      over MaxMessageSize gets 552 5.3.4 for every recipient.
 *
 *      STARTTLS (RFC 3207) when LmtpTls is true (offered) or "required"
 *      (MAIL before STARTTLS gets 530 5.7.0) and a certificate is installed:
 *      <home>/etc/tls/lmtp.crt (ofcsetup cert store), else the node's
 *      tls.certificate and tls.key. TLS 1.2 or later, forward-secret AEAD
 *      ciphers only (ofc_tls). After the handshake the session starts over
 *      (RFC 3207 §4.2): a new LHLO is needed. LMTP normally runs on
 *      loopback or a unix socket, so it is off by default. A refresh loads
 *      LmtpTls and the certificate again (keeping those in use when the new
 *      ones cannot be loaded); sessions already in TLS go on with theirs.
 *
 * DIAGNOSTICS
 *      As every ofcmail process (ofc_proc). Log: <node>_lmtpNN.log, a line
 *      per session and per message.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

/* libofc */
#include "ofc_addr.h"
#include "ofc_config.h"
#include "ofc_db.h"
#include "ofc_log.h"
#include "ofc_mem.h"
#include "ofc_pgarray.h"
#include "ofc_proc.h"
#include "ofc_tls.h"

/* RFC 5321 §4.5.3.1: command lines are at most 512 octets; be generous. */
#define LMTP_MAX_LINE   4096
#define LMTP_READ_CHUNK 65536

struct listener {
    int fds[2];
    size_t nfds;
    char *socket_path;
    pthread_t thread;
    bool started;
    int stop_pipe[2];
    atomic_int sessions;
    /* Copied at start; sessions read them without the proc. */
    char *conninfo;
    char *host;
    long long max_size, max_rcpts, max_sessions;
    int timeout;
    /*
     * STARTTLS: NULL when not offered; tls_required refuses MAIL in
     * plaintext. A refresh replaces both (a new certificate from ofcsetup
     * cert store) while sessions run: tls is read and written under
     * tls_lock, and a session holds its own reference to the context.
     */
    pthread_mutex_t tls_lock;
    SSL_CTX *tls;
    atomic_bool tls_required;
};

struct session {
    struct listener *l;
    int fd;
    char peer[128];
    struct ofc_db *db;
    SSL *ssl; /* after STARTTLS */
    /* Input buffer: [pos, len) not yet consumed. */
    char *in;
    size_t pos, len, cap;
    bool eof;
    /* Transaction state. */
    bool lhlo, mail;
    char *sender;
    char **rcpts;
    size_t nrcpts;
};

static void reply(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void reply(struct session *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *line = ofc_xvasprintf(fmt, ap);
    va_end(ap);
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    ofc_strbuf_printf(&sb, "%s\r\n", line);
    free(line);
    size_t off = 0;
    while (off < sb.len) {
        ssize_t n;
        if (s->ssl != NULL) {
            size_t want = sb.len - off > INT_MAX ? INT_MAX : sb.len - off;
            int w = SSL_write(s->ssl, sb.data + off, (int)want);
            n = w > 0 ? (ssize_t)w : -1;
            if (n < 0)
                errno = EIO; /* not EINTR: a failed SSL_write ends the session */
        } else {
            n = send(s->fd, sb.data + off, sb.len - off, MSG_NOSIGNAL);
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            s->eof = true;
            break;
        }
        off += (size_t)n;
    }
    ofc_strbuf_free(&sb);
}

/* Reads more input; false at end of file, error or timeout. */
static bool fill(struct session *s)
{
    if (s->eof)
        return false;
    if (s->pos > 0 && s->pos == s->len)
        s->pos = s->len = 0;
    if (s->cap - s->len < LMTP_READ_CHUNK) {
        if (s->pos > 0) {
            memmove(s->in, s->in + s->pos, s->len - s->pos);
            s->len -= s->pos;
            s->pos = 0;
        }
        if (s->cap - s->len < LMTP_READ_CHUNK) {
            s->cap = s->len + LMTP_READ_CHUNK;
            s->in = ofc_xrealloc(s->in, s->cap);
        }
    }
    /* Decrypted octets OpenSSL already holds would not wake poll(). */
    struct pollfd p = {.fd = s->fd, .events = POLLIN};
    int r = 1;
    if (s->ssl == NULL || SSL_pending(s->ssl) == 0) {
        do
            r = poll(&p, 1, s->l->timeout * 1000);
        while (r < 0 && errno == EINTR);
    }
    if (r <= 0) {
        if (r == 0)
            reply(s, "421 4.4.2 idle too long, closing");
        s->eof = true;
        return false;
    }
    ssize_t n;
    if (s->ssl != NULL) {
        size_t want = s->cap - s->len > INT_MAX ? INT_MAX : s->cap - s->len;
        int got = SSL_read(s->ssl, s->in + s->len, (int)want);
        n = got > 0 ? (ssize_t)got : -1;
    } else {
        do
            n = recv(s->fd, s->in + s->len, s->cap - s->len, 0);
        while (n < 0 && errno == EINTR);
    }
    if (n <= 0) {
        s->eof = true;
        return false;
    }
    s->len += (size_t)n;
    return true;
}

/*
 * The next line without its CRLF (or LF) in *line_r and *len_r, pointing into
 * the buffer (valid until the next call). Returns 1, 0 at end of input, or
 * -1 when a line exceeds max (the rest of that line is skipped).
 */
static int next_line(struct session *s, size_t max, const char **line_r, size_t *len_r)
{
    size_t scanned = 0;
    bool too_long = false;
    for (;;) {
        char *start = s->in + s->pos;
        size_t avail = s->len - s->pos - scanned;
        /* Before the first read the buffer is NULL: memchr(NULL, ...) is undefined. */
        char *nl = avail > 0 ? memchr(start + scanned, '\n', avail) : NULL;
        if (nl != NULL) {
            size_t l = (size_t)(nl - start);
            s->pos += l + 1;
            if (too_long || l > max + 1)
                return -1;
            if (l > 0 && start[l - 1] == '\r')
                l--;
            *line_r = start;
            *len_r = l;
            return 1;
        }
        scanned = s->len - s->pos;
        if (scanned > max + 1) {
            /* Drop what we have of an overlong line; keep looking for its end. */
            too_long = true;
            s->pos = s->len;
            scanned = 0;
        }
        if (!fill(s))
            return 0;
    }
}

static void reset_tx(struct session *s)
{
    OFC_FREE(s->sender);
    for (size_t i = 0; i < s->nrcpts; i++)
        free(s->rcpts[i]);
    OFC_FREE(s->rcpts);
    s->nrcpts = 0;
    s->mail = false;
}

static bool db_ready(struct session *s)
{
    if (ofc_db_connected(s->db))
        return true;
    char *error = NULL;
    if (ofc_db_connect(s->db, &error) == 0)
        return true;
    char *line = ofc_str_one_line(error);
    ofc_warn("session %s: cannot connect to the database: %s", s->peer, line);
    free(line);
    free(error);
    return false;
}

/* "FROM:" / "TO:" then a path, then parameters. Returns the path's end. */
static const char *path_arg(const char *args, const char *keyword)
{
    size_t k = strlen(keyword);
    if (strncasecmp(args, keyword, k) != 0)
        return NULL;
    args += k;
    while (*args == ' ')
        args++;
    return *args == '<' ? args : NULL;
}

static void cmd_mail(struct session *s, const char *args)
{
    if (!s->lhlo) {
        reply(s, "503 5.5.1 LHLO first");
        return;
    }
    if (atomic_load(&s->l->tls_required) && s->ssl == NULL) {
        reply(s, "530 5.7.0 must issue a STARTTLS command first");
        return;
    }
    if (s->mail) {
        reply(s, "503 5.5.1 nested MAIL command");
        return;
    }
    const char *p = path_arg(args, "FROM:");
    const char *end = p != NULL ? strchr(p, '>') : NULL;
    if (end == NULL) {
        reply(s, "501 5.5.4 syntax: MAIL FROM:<address> [SIZE=n] [BODY=8BITMIME]");
        return;
    }
    struct ofc_addr addr;
    const char *why = NULL;
    if (ofc_addr_parse_path(p, (size_t)(end - p + 1), true, &addr, &why) < 0) {
        reply(s, "553 5.1.7 bad sender address: %s", why);
        return;
    }
    char *params = ofc_xstrdup(end + 1), *save = NULL;
    bool ok = true;
    for (char *tok = strtok_r(params, " ", &save); ok && tok != NULL;
         tok = strtok_r(NULL, " ", &save)) {
        if (strncasecmp(tok, "SIZE=", 5) == 0) {
            char *e = NULL;
            unsigned long long size = strtoull(tok + 5, &e, 10);
            if (e == tok + 5 || *e != '\0') {
                reply(s, "501 5.5.4 bad SIZE");
                ok = false;
            } else if (size > (unsigned long long)s->l->max_size) {
                reply(s, "552 5.3.4 message size exceeds the limit of %lld", s->l->max_size);
                ok = false;
            }
        } else if (strcasecmp(tok, "BODY=8BITMIME") != 0 && strcasecmp(tok, "BODY=7BIT") != 0) {
            reply(s, "555 5.5.4 unsupported parameter %.64s", tok);
            ok = false;
        }
    }
    free(params);
    if (!ok) {
        ofc_addr_clear(&addr);
        return;
    }
    s->sender = ofc_addr_format(&addr);
    ofc_addr_clear(&addr);
    s->mail = true;
    reply(s, "250 2.1.0 sender ok");
}

/*
 * One statement decides a recipient: is its domain ours (bare names: the
 * node's SMTP_IN domain), does an addressable object of that name exist,
 * and is the account already over quota?
 */
static const char RCPT_SQL[] =
    "WITH dom AS (SELECT coalesce("
    "   (SELECT p.domain_id FROM process p JOIN node n ON n.id = p.node_id"
    "     WHERE n.is_local AND p.type = 'SMTP_IN' AND p.domain_id IS NOT NULL"
    "     ORDER BY p.instance LIMIT 1),"
    "   (SELECT d.id FROM domain d JOIN node n ON n.id = d.confignode_id"
    "     WHERE n.is_local AND d.parent_id IS NULL ORDER BY d.id LIMIT 1)) AS id),"
    " d AS (SELECT CASE WHEN $2::text IS NULL THEN (SELECT id FROM dom)"
    "              ELSE (SELECT id FROM domain WHERE fqdn = $2) END AS id)"
    " SELECT d.id IS NOT NULL, o.id IS NOT NULL,"
    "        u.quota_bytes IS NOT NULL AND u.bytes + $3::bigint > u.quota_bytes"
    "   FROM d LEFT JOIN dir_object o ON o.domain_id = d.id AND o.name_key = $1"
    "        AND o.class NOT IN ('PUBLIC_TEMPLATE', 'PRIVATE_TEMPLATE')"
    "   LEFT JOIN account_usage u ON u.account_id = o.id";

static void cmd_rcpt(struct session *s, const char *args)
{
    if (!s->mail) {
        reply(s, "503 5.5.1 MAIL first");
        return;
    }
    const char *p = path_arg(args, "TO:");
    const char *end = p != NULL ? strchr(p, '>') : NULL;
    if (end == NULL || end[1] != '\0') {
        reply(s, "501 5.5.4 syntax: RCPT TO:<address>");
        return;
    }
    if ((long long)s->nrcpts >= s->l->max_rcpts) {
        reply(s, "452 4.5.3 too many recipients");
        return;
    }
    struct ofc_addr addr;
    const char *why = NULL;
    if (ofc_addr_parse_path(p, (size_t)(end - p + 1), false, &addr, &why) < 0) {
        reply(s, "501 5.1.3 bad recipient address: %s", why);
        return;
    }
    size_t l = strlen(addr.local), suffix = strlen(".ofcmail");
    if (l > suffix && strcasecmp(addr.local + l - suffix, ".ofcmail") == 0)
        addr.local[l - suffix] = '\0';
    char *key = ofc_addr_key(&addr);
    char *at = strrchr(key, '@');
    if (at != NULL)
        *at = '\0';
    const char *const params[] = {key, addr.domain, "0"};
    PGresult *res = db_ready(s) ? ofc_db_query(s->db, RCPT_SQL, 3, params) : NULL;
    char *shown = ofc_addr_format(&addr);
    if (res == NULL) {
        reply(s, "451 4.3.0 <%s> temporary failure, try again later", shown);
    } else {
        bool local = strcmp(ofc_db_value(res, 0, 0), "t") == 0;
        bool known = strcmp(ofc_db_value(res, 0, 1), "t") == 0;
        bool over = strcmp(ofc_db_value(res, 0, 2), "t") == 0;
        PQclear(res);
        if (local && !known) {
            reply(s, "550 5.1.1 <%s> user unknown", shown);
        } else if (over) {
            reply(s, "552 5.2.2 <%s> mailbox over quota", shown);
        } else {
            s->rcpts = ofc_xrealloc(s->rcpts, (s->nrcpts + 1) * sizeof(*s->rcpts));
            s->rcpts[s->nrcpts++] = ofc_xstrdup(shown);
            reply(s, "250 2.1.5 <%s> ok", shown);
        }
    }
    free(shown);
    free(key);
    ofc_addr_clear(&addr);
}

static void cmd_data(struct session *s)
{
    if (!s->mail || s->nrcpts == 0) {
        reply(s, "503 5.5.1 %s", s->mail ? "no valid recipients" : "MAIL first");
        return;
    }
    reply(s, "354 end data with <CR><LF>.<CR><LF>");
    struct ofc_strbuf msg = OFC_STRBUF_INIT;
    bool too_big = false, done = false;
    /* Lines of the message may be long (binary); bound them by the size limit. */
    size_t max_line = (size_t)s->l->max_size;
    while (!done) {
        const char *line = NULL;
        size_t len = 0;
        int r = next_line(s, max_line, &line, &len);
        if (r == 0) {
            ofc_strbuf_free(&msg);
            return; /* the client went away: nothing was accepted */
        }
        if (r < 0) {
            too_big = true;
            continue;
        }
        if (len == 1 && line[0] == '.') {
            done = true;
            break;
        }
        /* Dot-stuffing (RFC 5321 §4.5.2). The line end is kept as sent. */
        const char *text = line[0] == '.' ? line + 1 : line;
        size_t tlen = line[0] == '.' ? len - 1 : len;
        const char *eol = line[len] == '\r' ? "\r\n" : "\n";
        if (too_big || msg.len + tlen + 2 > (size_t)s->l->max_size) {
            too_big = true;
            continue;
        }
        ofc_strbuf_append(&msg, text, tlen);
        ofc_strbuf_puts(&msg, eol);
    }
    if (too_big) {
        for (size_t i = 0; i < s->nrcpts; i++)
            reply(s, "552 5.3.4 <%s> message exceeds the limit of %lld octets", s->rcpts[i],
                  s->l->max_size);
        ofc_info("session %s: refused a message over %lld octets from <%s>", s->peer,
                 s->l->max_size, s->sender);
        ofc_strbuf_free(&msg);
        reset_tx(s);
        return;
    }
    char *array = ofc_pg_text_array((const char *const *)s->rcpts, s->nrcpts);
    const char *params[4] = {s->sender, array, msg.data != NULL ? msg.data : "", s->peer};
    const int lengths[4] = {0, 0, (int)msg.len, 0};
    const int formats[4] = {0, 0, 1, 0};
    PGresult *res =
        db_ready(s)
            ? ofc_db_query_bin(s->db,
                               "INSERT INTO gateway_in (source, sender, recipients, raw, client)"
                               " VALUES ('LMTP', $1, $2::text[], $3::bytea, $4) RETURNING id",
                               4, params, lengths, formats, 0)
            : NULL;
    if (res == NULL) {
        ofc_warn("session %s: cannot queue a message from <%s>: %s", s->peer, s->sender,
                 ofc_db_error(s->db));
        for (size_t i = 0; i < s->nrcpts; i++)
            reply(s, "451 4.3.0 <%s> temporary failure, try again later", s->rcpts[i]);
    } else {
        long long id = ofc_db_value_ll(res, 0, 0, 0);
        PQclear(res);
        ofc_info("session %s: stored gateway_in %lld from <%s> to %s (%zu octets)", s->peer, id,
                 s->sender, array, msg.len);
        for (size_t i = 0; i < s->nrcpts; i++)
            reply(s, "250 2.0.0 <%s> queued as G%lld", s->rcpts[i], id);
    }
    free(array);
    ofc_strbuf_free(&msg);
    reset_tx(s);
}

/* The current context with a reference of the caller's (SSL_CTX_free it), or NULL. */
static SSL_CTX *tls_ctx_ref(struct listener *l)
{
    (void)pthread_mutex_lock(&l->tls_lock);
    SSL_CTX *ctx = l->tls;
    if (ctx != NULL && SSL_CTX_up_ref(ctx) != 1)
        ctx = NULL;
    (void)pthread_mutex_unlock(&l->tls_lock);
    return ctx;
}

static bool tls_offered(struct listener *l)
{
    (void)pthread_mutex_lock(&l->tls_lock);
    bool offered = l->tls != NULL;
    (void)pthread_mutex_unlock(&l->tls_lock);
    return offered;
}

/*
 * RFC 3207: 220, then the handshake on the same socket. Returns false when
 * the session cannot go on (handshake failed: the stream is unusable).
 */
static bool cmd_starttls(struct session *s, const char *args)
{
    if (!tls_offered(s->l)) {
        reply(s, "502 5.5.1 STARTTLS not offered");
        return true;
    }
    if (s->ssl != NULL) {
        reply(s, "503 5.5.1 TLS already active");
        return true;
    }
    if (*args != '\0') {
        reply(s, "501 5.5.4 STARTTLS takes no arguments");
        return true;
    }
    /*
     * Plaintext pipelined after STARTTLS must not be taken as if it had
     * come over TLS (the STARTTLS command injection attack).
     */
    s->pos = s->len = 0;
    reply(s, "220 2.0.0 ready to start TLS");
    if (s->eof)
        return false;
    /* A client that stalls in the handshake must not hold a thread forever. */
    struct timeval tv = {.tv_sec = s->l->timeout};
    if (setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(s->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0)
        ofc_warn("session %s: cannot set socket timeouts: %s", s->peer, strerror(errno));
    /* SSL_new takes a reference of its own: a refresh may replace the context meanwhile. */
    SSL_CTX *ctx = tls_ctx_ref(s->l);
    s->ssl = ctx != NULL ? SSL_new(ctx) : NULL;
    SSL_CTX_free(ctx);
    if (s->ssl == NULL || SSL_set_fd(s->ssl, s->fd) != 1 || SSL_accept(s->ssl) != 1) {
        char *why = ofc_tls_errors();
        ofc_warn("session %s: TLS handshake failed: %s", s->peer, why);
        free(why);
        SSL_free(s->ssl);
        s->ssl = NULL;
        s->eof = true;
        return false;
    }
    /* RFC 3207 §4.2: forget everything learnt before; the client says LHLO again. */
    reset_tx(s);
    s->lhlo = false;
    ofc_info("session %s: TLS started (%s, %s)", s->peer, SSL_get_version(s->ssl),
             SSL_get_cipher_name(s->ssl));
    return true;
}

static void *session_main(void *arg)
{
    struct session *s = arg;
    s->db = ofc_db_new(s->l->conninfo, "ofclmtpd");
    ofc_info("session %s: connected", s->peer);
    reply(s, "220 %s LMTP ofcmail ready", s->l->host);
    while (!s->eof) {
        const char *line = NULL;
        size_t len = 0;
        int r = next_line(s, LMTP_MAX_LINE, &line, &len);
        if (r == 0)
            break;
        if (r < 0) {
            reply(s, "500 5.5.2 line too long");
            continue;
        }
        char *cmd = ofc_xstrndup(line, len);
        char *args = cmd + strcspn(cmd, " ");
        if (*args != '\0')
            *args++ = '\0';
        if (strcasecmp(cmd, "LHLO") == 0) {
            if (*args == '\0') {
                reply(s, "501 5.5.4 LHLO needs a name");
            } else {
                reset_tx(s);
                s->lhlo = true;
                reply(s, "250-%s", s->l->host);
                reply(s, "250-PIPELINING");
                reply(s, "250-ENHANCEDSTATUSCODES");
                reply(s, "250-8BITMIME");
                if (s->ssl == NULL && tls_offered(s->l))
                    reply(s, "250-STARTTLS");
                reply(s, "250 SIZE %lld", s->l->max_size);
            }
        } else if (strcasecmp(cmd, "MAIL") == 0) {
            cmd_mail(s, args);
        } else if (strcasecmp(cmd, "RCPT") == 0) {
            cmd_rcpt(s, args);
        } else if (strcasecmp(cmd, "DATA") == 0) {
            cmd_data(s);
        } else if (strcasecmp(cmd, "STARTTLS") == 0) {
            if (!cmd_starttls(s, args)) {
                free(cmd);
                break;
            }
        } else if (strcasecmp(cmd, "RSET") == 0) {
            reset_tx(s);
            reply(s, "250 2.0.0 ok");
        } else if (strcasecmp(cmd, "NOOP") == 0) {
            reply(s, "250 2.0.0 ok");
        } else if (strcasecmp(cmd, "QUIT") == 0) {
            reply(s, "221 2.0.0 bye");
            free(cmd);
            break;
        } else if (strcasecmp(cmd, "HELO") == 0 || strcasecmp(cmd, "EHLO") == 0) {
            reply(s, "500 5.5.1 this is LMTP: use LHLO");
        } else {
            reply(s, "500 5.5.1 unknown command");
        }
        free(cmd);
    }
    reset_tx(s);
    ofc_info("session %s: closed", s->peer);
    if (s->ssl != NULL) {
        /* close_notify, best effort: the peer may be gone already. */
        (void)SSL_shutdown(s->ssl);
        SSL_free(s->ssl);
        ERR_clear_error();
    }
    (void)close(s->fd);
    ofc_db_free(&s->db);
    free(s->in);
    atomic_fetch_sub(&s->l->sessions, 1);
    free(s);
    return NULL;
}

static void start_session(struct listener *l, int fd, const struct sockaddr_storage *ss,
                          socklen_t sslen)
{
    if (atomic_load(&l->sessions) >= l->max_sessions) {
        static const char busy[] = "421 4.3.2 too many sessions, try again later\r\n";
        (void)send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL);
        (void)close(fd);
        ofc_warn("refused a session: MaxSessions (%lld) reached", l->max_sessions);
        return;
    }
    /* Each reply is its own send(): without TCP_NODELAY, the replies to a
     * pipelined MAIL/RCPT/DATA wait for the client's delayed ACK (~40 ms a
     * transaction). */
    if (ss->ss_family != AF_UNIX) {
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    struct session *s = ofc_xcalloc(1, sizeof(*s));
    s->l = l;
    s->fd = fd;
    char host[64] = "", port[16] = "";
    if (ss->ss_family == AF_UNIX ||
        getnameinfo((const struct sockaddr *)ss, sslen, host, sizeof(host), port, sizeof(port),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        (void)snprintf(s->peer, sizeof(s->peer), "unix");
    else
        (void)snprintf(s->peer, sizeof(s->peer), "[%s]:%s", host, port);
    atomic_fetch_add(&l->sessions, 1);
    pthread_attr_t attr;
    pthread_t t;
    if (pthread_attr_init(&attr) != 0 ||
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) != 0 ||
        pthread_create(&t, &attr, session_main, s) != 0) {
        ofc_error("cannot start a session thread: %s", strerror(errno));
        atomic_fetch_sub(&l->sessions, 1);
        (void)close(fd);
        free(s);
    }
    (void)pthread_attr_destroy(&attr);
}

static void *accept_main(void *arg)
{
    struct listener *l = arg;
    struct pollfd p[3];
    for (;;) {
        for (size_t i = 0; i < l->nfds; i++)
            p[i] = (struct pollfd){.fd = l->fds[i], .events = POLLIN};
        p[l->nfds] = (struct pollfd){.fd = l->stop_pipe[0], .events = POLLIN};
        if (poll(p, l->nfds + 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            ofc_error("poll: %s", strerror(errno));
            return NULL;
        }
        if (p[l->nfds].revents != 0)
            return NULL;
        for (size_t i = 0; i < l->nfds; i++) {
            if (!(p[i].revents & POLLIN))
                continue;
            struct sockaddr_storage ss;
            socklen_t sslen = sizeof(ss);
            int fd = accept4(l->fds[i], (struct sockaddr *)&ss, &sslen, SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
                    ofc_warn("accept: %s", strerror(errno));
                continue;
            }
            start_session(l, fd, &ss, sslen);
        }
    }
}

static int listen_tcp(struct listener *l, const char *address, int port)
{
    char service[16];
    (void)snprintf(service, sizeof(service), "%d", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(address, service, &hints, &ai);
    if (rc != 0) {
        ofc_error("LmtpAddress %s: %s", address, gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
        ofc_error("cannot listen on %s port %d: %s", address, port, strerror(errno));
        if (fd >= 0)
            (void)close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    l->fds[l->nfds++] = fd;
    ofc_info("listening on %s port %d", address, port);
    return 0;
}

static int listen_unix(struct listener *l, const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sun.sun_path)) {
        ofc_error("LmtpSocket %s: path too long", path);
        return -1;
    }
    memcpy(sun.sun_path, path, strlen(path) + 1);
    /* A socket left by a killed predecessor would make bind fail. */
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        (void)unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 || listen(fd, 128) != 0 ||
        chmod(path, 0660) != 0) {
        ofc_error("cannot listen on %s: %s", path, strerror(errno));
        if (fd >= 0)
            (void)close(fd);
        return -1;
    }
    l->fds[l->nfds++] = fd;
    l->socket_path = ofc_xstrdup(path);
    ofc_info("listening on unix socket %s", path);
    return 0;
}

/*
 * LmtpTls is off, on or "required" (012); the certificate is etc/tls/lmtp.*
 * (ofcsetup cert store), else the node's tls.certificate (ofc_tls). On
 * success *ctx_r is the context (NULL: STARTTLS not offered). Required
 * without a certificate is a configuration error: refusing all mail would
 * be worse than not starting.
 */
static int tls_load(struct ofc_proc *proc, SSL_CTX **ctx_r, bool *required_r)
{
    *ctx_r = NULL;
    const char *mode = ofc_proc_param(proc, "LmtpTls", "0");
    *required_r = strcasecmp(mode, "required") == 0;
    if (!*required_r && !ofc_proc_param_bool(proc, "LmtpTls", false))
        return 0;
    struct ofc_tls_files files;
    if (ofc_tls_find_files(ofc_proc_config(proc), "lmtp", &files) == 0) {
        if (*required_r) {
            ofc_error("LmtpTls is required but there is no certificate (etc/tls/lmtp.crt, or "
                      "tls.certificate and tls.key)");
            return -1;
        }
        ofc_warn("LmtpTls is set but there is no certificate (etc/tls/lmtp.crt, or "
                 "tls.certificate and tls.key); STARTTLS not offered");
        return 0;
    }
    char *why = NULL;
    *ctx_r = ofc_tls_server_ctx(&files, &why);
    if (*ctx_r == NULL) {
        ofc_error("cannot set up TLS: %s", why);
        free(why);
        ofc_tls_files_free(&files);
        return -1;
    }
    ofc_info("STARTTLS offered%s with %s", *required_r ? " and required" : "", files.cert);
    ofc_tls_files_free(&files);
    return 0;
}

/* Puts a new context (or none) in place; sessions already in TLS keep theirs. */
static void tls_install(struct listener *l, SSL_CTX *ctx, bool required)
{
    (void)pthread_mutex_lock(&l->tls_lock);
    SSL_CTX *old = l->tls;
    l->tls = ctx;
    atomic_store(&l->tls_required, required);
    (void)pthread_mutex_unlock(&l->tls_lock);
    SSL_CTX_free(old);
}

static int lmtp_init(struct ofc_proc *proc)
{
    struct listener *l = ofc_xcalloc(1, sizeof(*l));
    l->stop_pipe[0] = l->stop_pipe[1] = -1;
    int mrc = pthread_mutex_init(&l->tls_lock, NULL);
    if (mrc != 0) {
        ofc_error("cannot make a mutex: %s", strerror(mrc));
        free(l);
        return -1;
    }
    ofc_proc_set_userdata(proc, l);
    const struct ofc_config *cfg = ofc_proc_config(proc);
    l->conninfo = ofc_config_conninfo(cfg);
    l->host = ofc_xasprintf("%s", cfg->node);
    l->max_size = ofc_proc_param_int(proc, "MaxMessageSize", 52428800);
    l->max_rcpts = ofc_proc_param_int(proc, "MaxRecipients", 1000);
    l->max_sessions = ofc_proc_param_int(proc, "MaxSessions", 100);
    l->timeout = (int)ofc_proc_param_int(proc, "Timeout", 300);
    SSL_CTX *ctx = NULL;
    bool required = false;
    if (tls_load(proc, &ctx, &required) < 0)
        return -1;
    tls_install(l, ctx, required);
    const char *address = ofc_proc_param(proc, "LmtpAddress", "127.0.0.1");
    int port = (int)ofc_proc_param_int(proc, "LmtpPort", 0);
    if (port == 0)
        port = cfg->lmtp_port;
    if (address[0] != '\0' && listen_tcp(l, address, port) < 0)
        return -1;
    const char *path = ofc_proc_param(proc, "LmtpSocket", "");
    if (path[0] != '\0') {
        char *var = ofc_config_node_var_dir(cfg);
        char *full = path[0] == '/' ? ofc_xstrdup(path) : ofc_xasprintf("%s/%s", var, path);
        int rc = listen_unix(l, full);
        free(full);
        free(var);
        if (rc < 0)
            return -1;
    }
    if (l->nfds == 0) {
        ofc_error("neither LmtpAddress nor LmtpSocket is set: nothing to listen on");
        return -1;
    }
    if (pipe2(l->stop_pipe, O_CLOEXEC) != 0) {
        ofc_error("pipe: %s", strerror(errno));
        return -1;
    }
    /* Threads must leave SIGTERM and friends to the lifecycle's thread. */
    sigset_t all, old;
    (void)sigfillset(&all);
    (void)pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&l->thread, NULL, accept_main, l);
    (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        ofc_error("cannot start the accept thread: %s", strerror(rc));
        return -1;
    }
    l->started = true;
    return 0;
}

/* A new certificate or LmtpTls; the one in use stays when the new one cannot be loaded. */
static void lmtp_refresh(struct ofc_proc *proc)
{
    struct listener *l = ofc_proc_userdata(proc);
    if (l == NULL)
        return;
    SSL_CTX *ctx = NULL;
    bool required = false;
    if (tls_load(proc, &ctx, &required) < 0) {
        ofc_warn("keeping the TLS settings in use");
        return;
    }
    tls_install(l, ctx, required);
}

static int lmtp_work(struct ofc_proc *proc)
{
    /* Sessions do the work; the loop only keeps the heartbeat. */
    return 0;
}

static void lmtp_cleanup(struct ofc_proc *proc)
{
    struct listener *l = ofc_proc_userdata(proc);
    if (l == NULL)
        return;
    if (l->started) {
        (void)write(l->stop_pipe[1], "x", 1);
        (void)pthread_join(l->thread, NULL);
    }
    for (size_t i = 0; i < l->nfds; i++)
        (void)close(l->fds[i]);
    if (l->socket_path != NULL)
        (void)unlink(l->socket_path);
    /* Sessions in flight: a message not yet committed is not acknowledged. */
    for (int i = 0; i < 50 && atomic_load(&l->sessions) > 0; i++)
        (void)usleep(100000);
    int open_sessions = atomic_load(&l->sessions);
    ofc_info("stopped with %d session(s) open", open_sessions);
    /* Sessions still running point at l: then the exit frees it. */
    if (open_sessions > 0)
        return;
    if (l->stop_pipe[0] >= 0) {
        (void)close(l->stop_pipe[0]);
        (void)close(l->stop_pipe[1]);
    }
    SSL_CTX_free(l->tls);
    (void)pthread_mutex_destroy(&l->tls_lock);
    free(l->socket_path);
    free(l->conninfo);
    free(l->host);
    free(l);
    ofc_proc_set_userdata(proc, NULL);
}

int main(int argc, char **argv)
{
    const struct ofc_proc_def def = {
        .program = "ofclmtpd",
        .type = "LMTP",
        .log_base = "lmtp",
        .log_numbered = true,
        .summary = "The LMTP listener (RFC 2033): per-recipient delivery into gateway_in.",
        .init = lmtp_init,
        .work = lmtp_work,
        .refresh = lmtp_refresh,
        .cleanup = lmtp_cleanup,
    };
    return ofc_proc_main(&def, argc, argv);
}
