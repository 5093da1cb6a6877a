/*
 * smtp.c - the relay transport of the outbound gateway: a small SMTP client
 * (RFC 5321, STARTTLS RFC 3207, SIZE RFC 1870, 8BITMIME RFC 6152,
 * enhanced status codes RFC 3463). See gwout.h.
 *
 * One connection per message, blocking I/O with socket timeouts: the
 * gateway sends one message at a time while it holds the queue entry's
 * row lock, and the simplest client is the one that is easiest to trust.
 * Replies are read into growable buffers with a bound on their total size,
 * never into fixed arrays.
 */
/* System. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* OpenSSL. */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* libofc. */
#include "ofc_log.h"
#include "ofc_mem.h"
#include "ofc_tls.h"

/* This program. */
#include "gwout.h"

/* A reply larger than this is not a reply (RFC 5321 §4.5.3.1.5: 512 per line). */
#define REPLY_MAX 65536
/* DATA is written in chunks of about this size. */
#define WRITE_CHUNK 65536

struct conn {
    const struct relay_conf *conf;
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    struct ofc_strbuf in; /* received, not yet consumed */
    size_t in_off;
    char *error; /* why the connection failed, heap */
};

struct reply {
    int code;              /* 0 when none could be read */
    char *text;            /* every line's text joined by spaces, one line, heap */
    struct ofc_strbuf ext; /* EHLO: the lines after the first, NUL-separated */
};

static void reply_clear(struct reply *r)
{
    free(r->text);
    ofc_strbuf_free(&r->ext);
    memset(r, 0, sizeof(*r));
}

/* Remembers the first failure: "what: detail" (detail may be NULL). */
static void conn_fail(struct conn *c, const char *what, const char *detail)
{
    if (c->error == NULL)
        c->error = detail != NULL ? ofc_xasprintf("%s: %s", what, detail) : ofc_xstrdup(what);
}

static void set_timeouts(int fd, int seconds)
{
    struct timeval tv = {.tv_sec = seconds, .tv_usec = 0};
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* A non-blocking connect bounded by the connect timeout; -1 or the socket. */
static int connect_one(const struct addrinfo *ai, int timeout_s, char **why_r)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) {
        *why_r = ofc_xstrdup(strerror(errno));
        return -1;
    }
    int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        do
            rc = poll(&p, 1, timeout_s * 1000);
        while (rc < 0 && errno == EINTR);
        int err = 0;
        socklen_t elen = sizeof(err);
        if (rc == 0) {
            err = ETIMEDOUT;
        } else if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0) {
            err = errno;
        }
        rc = err == 0 ? 0 : -1;
        errno = err;
    }
    if (rc != 0) {
        *why_r = ofc_xstrdup(strerror(errno));
        (void)close(fd);
        return -1;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
        *why_r = ofc_xstrdup(strerror(errno));
        (void)close(fd);
        return -1;
    }
    return fd;
}

static int conn_open(struct conn *c)
{
    char port[16];
    (void)snprintf(port, sizeof(port), "%d", c->conf->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(c->conf->host, port, &hints, &res);
    if (gai != 0) {
        conn_fail(c, "cannot resolve the relay", gai_strerror(gai));
        return -1;
    }
    char *why = NULL;
    for (const struct addrinfo *ai = res; ai != NULL && c->fd < 0; ai = ai->ai_next) {
        free(why);
        why = NULL;
        c->fd = connect_one(ai, c->conf->connect_timeout_s, &why);
    }
    freeaddrinfo(res);
    if (c->fd < 0) {
        conn_fail(c, "cannot connect to the relay", why != NULL ? why : "no address");
        free(why);
        return -1;
    }
    set_timeouts(c->fd, c->conf->command_timeout_s);
    return 0;
}

static void conn_close(struct conn *c)
{
    if (c->ssl != NULL) {
        (void)SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->ctx != NULL) {
        SSL_CTX_free(c->ctx);
        c->ctx = NULL;
    }
    if (c->fd >= 0)
        (void)close(c->fd);
    c->fd = -1;
    ofc_strbuf_free(&c->in);
    c->in_off = 0;
    free(c->error);
    c->error = NULL;
}

/*
 * Remembers a TLS failure with OpenSSL's queued reasons (ofc_tls_errors
 * empties the queue), or `if_none` when OpenSSL queued none: a read or
 * write that fails without a reason is the relay closing the connection.
 */
static void conn_fail_tls(struct conn *c, const char *what, const char *if_none)
{
    if (ERR_peek_error() == 0) {
        conn_fail(c, what, if_none);
        return;
    }
    char *why = ofc_tls_errors();
    conn_fail(c, what, why);
    free(why);
}

static int conn_write(struct conn *c, const char *data, size_t len)
{
    while (len > 0 && c->error == NULL) {
        if (c->ssl != NULL) {
            size_t w = 0;
            if (SSL_write_ex(c->ssl, data, len, &w) != 1) {
                conn_fail_tls(c, "lost the relay while writing", "connection closed");
                return -1;
            }
            data += w;
            len -= w;
            continue;
        }
        ssize_t w = send(c->fd, data, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            conn_fail(c, "lost the relay while writing",
                      w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? "timeout"
                                                                         : strerror(errno));
            return -1;
        }
        data += w;
        len -= (size_t)w;
    }
    return c->error == NULL ? 0 : -1;
}

/* More octets into c->in; -1 on timeout, close or error. */
static int conn_fill(struct conn *c)
{
    char chunk[4096];
    if (c->in_off > 0 && c->in_off == c->in.len) {
        ofc_strbuf_reset(&c->in);
        c->in_off = 0;
    }
    for (;;) {
        if (c->ssl != NULL) {
            size_t r = 0;
            if (SSL_read_ex(c->ssl, chunk, sizeof(chunk), &r) != 1) {
                conn_fail_tls(c, "lost the relay while reading", "connection closed");
                return -1;
            }
            ofc_strbuf_append(&c->in, chunk, r);
            return 0;
        }
        ssize_t r = recv(c->fd, chunk, sizeof(chunk), 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            conn_fail(c, "lost the relay while reading",
                      r == 0                                      ? "connection closed"
                      : (errno == EAGAIN || errno == EWOULDBLOCK) ? "timeout"
                                                                  : strerror(errno));
            return -1;
        }
        ofc_strbuf_append(&c->in, chunk, (size_t)r);
        return 0;
    }
}

/* One line without its CRLF (or LF), heap; NULL when the connection failed. */
static char *conn_line(struct conn *c)
{
    for (;;) {
        const char *start = c->in.data != NULL ? c->in.data + c->in_off : "";
        size_t avail = c->in.len - c->in_off;
        const char *nl = memchr(start, '\n', avail);
        if (nl != NULL) {
            size_t l = (size_t)(nl - start);
            c->in_off += l + 1;
            if (l > 0 && start[l - 1] == '\r')
                l--;
            return ofc_xstrndup(start, l);
        }
        if (avail > REPLY_MAX) {
            conn_fail(c, "the relay sent a line longer than any reply", NULL);
            return NULL;
        }
        if (conn_fill(c) < 0)
            return NULL;
    }
}

/*
 * Reads one reply (RFC 5321 §4.2: "250-" lines, then "250 "). A malformed
 * reply fails the connection: nothing the relay says afterwards can be
 * trusted to belong to our commands.
 */
static int read_reply(struct conn *c, struct reply *r)
{
    reply_clear(r);
    struct ofc_strbuf text = OFC_STRBUF_INIT;
    size_t total = 0;
    for (bool first = true;; first = false) {
        char *line = conn_line(c);
        if (line == NULL)
            break;
        size_t l = strlen(line);
        total += l;
        bool ok = l >= 3 && line[0] >= '2' && line[0] <= '5' && line[1] >= '0' && line[1] <= '9' &&
                  line[2] >= '0' && line[2] <= '9' && (l == 3 || line[3] == ' ' || line[3] == '-');
        int code = ok ? (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0') : 0;
        if (!ok || (!first && code != r->code) || total > REPLY_MAX) {
            conn_fail(c, "the relay sent a malformed reply", NULL);
            free(line);
            break;
        }
        r->code = code;
        const char *t = l > 4 ? line + 4 : "";
        ofc_strbuf_printf(&text, "%s%s", text.len > 0 ? " " : "", t);
        if (!first)
            ofc_strbuf_append(&r->ext, t, strlen(t) + 1);
        bool last = l == 3 || line[3] == ' ';
        free(line);
        if (last) {
            char *one = ofc_str_one_line(text.data != NULL ? text.data : "");
            r->text = one;
            ofc_strbuf_free(&text);
            return 0;
        }
    }
    ofc_strbuf_free(&text);
    r->code = 0;
    return -1;
}

static int command(struct conn *c, struct reply *r, const char *line)
{
    ofc_debug("relay <- %s", line);
    size_t len = strlen(line);
    char *crlf = ofc_xmalloc(len + 3);
    memcpy(crlf, line, len);
    memcpy(crlf + len, "\r\n", 3);
    int rc = conn_write(c, crlf, len + 2);
    free(crlf);
    if (rc < 0) {
        reply_clear(r);
        return -1;
    }
    rc = read_reply(c, r);
    if (rc == 0)
        ofc_debug("relay -> %d %s", r->code, r->text);
    return rc;
}

/* Whether the EHLO reply offers keyword (the first word of a line). */
static const char *ehlo_has(const struct reply *r, const char *keyword)
{
    size_t klen = strlen(keyword);
    for (size_t off = 0; off < r->ext.len;) {
        const char *l = r->ext.data + off;
        size_t ll = strlen(l);
        if (ll >= klen && strncasecmp(l, keyword, klen) == 0 && (l[klen] == '\0' || l[klen] == ' '))
            return l + klen;
        off += ll + 1;
    }
    return NULL;
}

/* "5.1.1" from the reply text (RFC 3463), else the class's "5.0.0". Heap. */
static char *status_of(const struct reply *r)
{
    const char *t = r->text != NULL ? r->text : "";
    if ((t[0] == '2' || t[0] == '4' || t[0] == '5') && t[0] - '0' == r->code / 100 && t[1] == '.') {
        size_t n = 2 + strspn(t + 2, "0123456789");
        if (n > 2 && n <= 5 && t[n] == '.') {
            size_t m = strspn(t + n + 1, "0123456789");
            if (m > 0 && m <= 3 && (t[n + 1 + m] == ' ' || t[n + 1 + m] == '\0'))
                return ofc_xstrndup(t, n + 1 + m);
        }
    }
    return ofc_xasprintf("%d.0.0", r->code / 100 >= 2 && r->code / 100 <= 5 ? r->code / 100 : 4);
}

/* Sets outcome o from a reply to `what` (a command name for the diagnostic). */
static void outcome_from_reply(struct rcpt_outcome *o, const struct reply *r, const char *what)
{
    char *status = status_of(r);
    char *diag =
        ofc_xasprintf("%d %s (in reply to %s)", r->code, r->text != NULL ? r->text : "", what);
    outcome_set(o,
                r->code / 100 == 2   ? RCPT_SENT
                : r->code / 100 == 5 ? RCPT_PERM
                                     : RCPT_TEMP,
                status, diag);
    free(status);
    free(diag);
}

static int verify_peer_setup(struct conn *c)
{
    const char *ca = c->conf->ca_file;
    if ((ca != NULL && ca[0] != '\0' ? SSL_CTX_load_verify_locations(c->ctx, ca, NULL)
                                     : SSL_CTX_set_default_verify_paths(c->ctx)) != 1) {
        conn_fail_tls(c, "cannot load the CA certificates", "unknown TLS error");
        return -1;
    }
    SSL_set_verify(c->ssl, SSL_VERIFY_PEER, NULL);
    /* The name we connected to must be the certificate's: an address or a host name. */
    X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);
    if (X509_VERIFY_PARAM_set1_ip_asc(vp, c->conf->host) != 1 &&
        SSL_set1_host(c->ssl, c->conf->host) != 1) {
        conn_fail_tls(c, "cannot set the name to verify", "unknown TLS error");
        return -1;
    }
    return 0;
}

static int start_tls(struct conn *c)
{
    ERR_clear_error();
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (c->ctx == NULL) {
        conn_fail_tls(c, "TLS", "unknown TLS error");
        return -1;
    }
    (void)SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
    c->ssl = SSL_new(c->ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
        conn_fail_tls(c, "TLS", "unknown TLS error");
        return -1;
    }
    if (c->conf->starttls == STARTTLS_REQUIRED && verify_peer_setup(c) < 0)
        return -1;
    /* SNI, for relays that serve several names; not for an address literal. */
    if (strspn(c->conf->host, "0123456789.:") != strlen(c->conf->host))
        (void)SSL_set_tlsext_host_name(c->ssl, c->conf->host);
    if (SSL_connect(c->ssl) != 1) {
        long v = SSL_get_verify_result(c->ssl);
        if (v != X509_V_OK)
            conn_fail(c, "TLS: the relay's certificate does not verify",
                      X509_verify_cert_error_string(v));
        else
            conn_fail_tls(c, "TLS handshake failed", "unknown TLS error");
        return -1;
    }
    /* RFC 3207 §4.2: forget everything said before the handshake. */
    ofc_strbuf_reset(&c->in);
    c->in_off = 0;
    ofc_debug("relay: TLS %s, %s", SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl));
    return 0;
}

/* EHLO, else HELO. Returns 0 (ehlo_r holds the reply; EHLO-less when helo) or -1. */
static int greet(struct conn *c, struct reply *ehlo, bool *esmtp_r, struct rcpt_outcome *out,
                 size_t n)
{
    char *cmd = ofc_xasprintf("EHLO %s", c->conf->helo);
    int rc = command(c, ehlo, cmd);
    free(cmd);
    *esmtp_r = rc == 0 && ehlo->code == 250;
    if (rc == 0 && ehlo->code != 250 && ehlo->code != 421) {
        cmd = ofc_xasprintf("HELO %s", c->conf->helo);
        rc = command(c, ehlo, cmd);
        free(cmd);
        ofc_strbuf_free(&ehlo->ext);
    }
    if (rc < 0)
        return -1;
    if (ehlo->code != 250) {
        /* Whoever refuses to talk to us may talk tomorrow: never a bounce. */
        char *d = ofc_xasprintf("%d %s (in reply to EHLO/HELO)", ehlo->code, ehlo->text);
        outcome_set_all(out, n, true, RCPT_TEMP, "4.0.0", d);
        free(d);
        return -1;
    }
    return 0;
}

/* Whether the message holds octets above 127 (BODY=8BITMIME). */
static bool has_8bit(const char *msg, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)msg[i] & 0x80)
            return true;
    return false;
}

/*
 * The message as DATA wants it: every line end CRLF (a bare LF becomes
 * CRLF; a CR not before LF stays), every line that starts with "." gets
 * another (RFC 5321 §4.5.2), and a final line end; then ".".
 */
static int send_data(struct conn *c, const char *msg, size_t len)
{
    struct ofc_strbuf out = OFC_STRBUF_INIT;
    bool line_start = true;
    for (size_t i = 0; i < len; i++) {
        char ch = msg[i];
        if (line_start && ch == '.')
            ofc_strbuf_putc(&out, '.');
        if (ch == '\n') {
            if (i == 0 || msg[i - 1] != '\r')
                ofc_strbuf_putc(&out, '\r');
            ofc_strbuf_putc(&out, '\n');
            line_start = true;
        } else {
            ofc_strbuf_putc(&out, ch);
            line_start = false;
        }
        if (out.len >= WRITE_CHUNK) {
            if (conn_write(c, out.data, out.len) < 0) {
                ofc_strbuf_free(&out);
                return -1;
            }
            ofc_strbuf_reset(&out);
        }
    }
    if (!line_start)
        ofc_strbuf_puts(&out, "\r\n");
    ofc_strbuf_puts(&out, ".\r\n");
    int rc = conn_write(c, out.data, out.len);
    ofc_strbuf_free(&out);
    return rc;
}

/* The whole transaction; the caller turns a failed connection into outcomes. */
static void transact(struct conn *c, const struct send_job *job, struct rcpt_outcome *out)
{
    size_t n = job->nrcpts;
    struct reply r = {0};
    struct reply ehlo = {0};
    bool esmtp = false;
    if (read_reply(c, &r) < 0)
        goto out;
    if (r.code != 220) {
        char *d = ofc_xasprintf("%d %s (greeting)", r.code, r.text);
        outcome_set_all(out, n, true, RCPT_TEMP, "4.0.0", d);
        free(d);
        goto quit;
    }
    if (greet(c, &ehlo, &esmtp, out, n) < 0)
        goto quit;
    if (c->conf->starttls != STARTTLS_NONE) {
        bool offered = esmtp && ehlo_has(&ehlo, "STARTTLS") != NULL;
        if (!offered && c->conf->starttls == STARTTLS_REQUIRED) {
            outcome_set_all(out, n, true, RCPT_TEMP, "4.7.4",
                            "the relay does not offer STARTTLS, which RelayStartTLS requires");
            goto quit;
        }
        if (offered) {
            if (command(c, &r, "STARTTLS") < 0)
                goto out;
            if (r.code != 220) {
                if (c->conf->starttls == STARTTLS_REQUIRED) {
                    char *d = ofc_xasprintf("%d %s (in reply to STARTTLS)", r.code, r.text);
                    outcome_set_all(out, n, true, RCPT_TEMP, "4.7.4", d);
                    free(d);
                    goto quit;
                }
            } else {
                if (start_tls(c) < 0)
                    goto out;
                if (greet(c, &ehlo, &esmtp, out, n) < 0)
                    goto quit;
            }
        }
    }

    struct ofc_strbuf mail = OFC_STRBUF_INIT;
    ofc_strbuf_printf(&mail, "MAIL FROM:<%s>", job->sender);
    if (esmtp && ehlo_has(&ehlo, "SIZE") != NULL)
        ofc_strbuf_printf(&mail, " SIZE=%zu", job->len);
    if (esmtp && ehlo_has(&ehlo, "8BITMIME") != NULL && has_8bit(job->msg, job->len))
        ofc_strbuf_puts(&mail, " BODY=8BITMIME");
    int rc = command(c, &r, mail.data);
    ofc_strbuf_free(&mail);
    if (rc < 0)
        goto out;
    if (r.code != 250) {
        for (size_t i = 0; i < n; i++)
            outcome_from_reply(&out[i], &r, "MAIL FROM");
        goto quit;
    }
    size_t accepted = 0;
    for (size_t i = 0; i < n; i++) {
        char *cmd = ofc_xasprintf("RCPT TO:<%s>", job->rcpts[i]);
        rc = command(c, &r, cmd);
        free(cmd);
        if (rc < 0)
            goto out;
        if (r.code == 250 || r.code == 251) {
            accepted++;
            /* Not sent before the final reply to DATA: keep TEMP, mark accepted. */
            outcome_set(&out[i], RCPT_TEMP, NULL, "accepted");
        } else {
            outcome_from_reply(&out[i], &r, "RCPT TO");
        }
    }
    if (accepted == 0)
        goto quit;
    if (command(c, &r, "DATA") < 0)
        goto out;
    if (r.code != 354) {
        for (size_t i = 0; i < n; i++)
            if (out[i].result == RCPT_TEMP && out[i].status == NULL)
                outcome_from_reply(&out[i], &r, "DATA");
        goto quit;
    }
    if (send_data(c, job->msg, job->len) < 0 || read_reply(c, &r) < 0)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (out[i].result == RCPT_TEMP && out[i].status == NULL)
            outcome_from_reply(&out[i], &r, "end of DATA");
quit:
    /* The outcomes are decided: what QUIT gets (or a failure of it) changes nothing. */
    (void)command(c, &r, "QUIT");
    OFC_FREE(c->error);
out:
    reply_clear(&r);
    reply_clear(&ehlo);
}

bool relay_send(const struct relay_conf *conf, const struct send_job *job, struct rcpt_outcome *out)
{
    struct conn c = {.conf = conf, .fd = -1};
    bool unreachable = false;
    if (conf->host == NULL || conf->host[0] == '\0') {
        outcome_set_all(out, job->nrcpts, true, RCPT_TEMP, "4.3.5",
                        "no RelayHost configured for Transport relay");
        return true;
    }
    if (conn_open(&c) < 0) {
        unreachable = true;
    } else {
        transact(&c, job, out);
    }
    if (c.error != NULL) {
        /*
         * The connection failed in the middle: whatever was not answered
         * is tried again. A message whose final "." went out but whose
         * reply was lost may be delivered twice; never lost.
         */
        char *d = ofc_xasprintf("%s (relay %s port %d)", c.error, conf->host, conf->port);
        outcome_set_all(out, job->nrcpts, false, RCPT_TEMP, "4.4.2", d);
        free(d);
        unreachable = unreachable || job->nrcpts > 0;
    }
    conn_close(&c);
    return unreachable;
}
