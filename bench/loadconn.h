/*
 * loadconn.h - the client side that the protocol load generators share
 * (popload, imapload): a blocking TCP connection with optional TLS and a
 * growing input buffer read line by line, plus the small helpers every
 * load generator needs (user-name patterns, a per-thread random number
 * generator, sleeping, parsing numeric options).
 *
 * TLS is there when the program is compiled with LOADCONN_TLS (OpenSSL);
 * without it loadconn_tls() fails with "built without OpenSSL".
 * Certificates are never verified: these are benchmarks, not clients.
 */
#ifndef LOADCONN_H
#define LOADCONN_H

#include <netdb.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOADCONN_MAX_LINE (1024 * 1024) /* longest line accepted */

struct loadconn {
    int fd;
    void *ssl;        /* SSL *, or NULL */
    char *buf;        /* input read ahead */
    size_t cap, r, w; /* unread input is buf[r..w) */
};

/* An unopened connection (fd -1, no buffer). */
void loadconn_init(struct loadconn *c);

/*
 * Connects to the first address of `target` that answers, with send and
 * receive time-outs of `timeout` seconds (also bounding connect) and
 * TCP_NODELAY. Returns 0, or -1 with the reason in err.
 */
int loadconn_connect(struct loadconn *c, const struct addrinfo *target, double timeout, char *err,
                     size_t errsize);

/* A TLS client context (no verification); NULL when out of memory or no TLS. */
void *loadconn_tls_context(void);
void loadconn_tls_context_free(void *ctx);
/* TLS handshake on an open connection. Returns 0, or -1 with the reason in err. */
int loadconn_tls(struct loadconn *c, void *ctx, char *err, size_t errsize);
/* True when built with TLS. */
bool loadconn_have_tls(void);

/* Sends n octets. Returns 0 or -1. */
int loadconn_send(struct loadconn *c, const char *p, size_t n);

/*
 * Reads one line; *line points into the connection's buffer (valid until
 * the next read), without CRLF, NUL-terminated. Returns 1, 0 at end of
 * file, -1 on error or a line longer than LOADCONN_MAX_LINE.
 */
int loadconn_line(struct loadconn *c, char **line, size_t *len);

/*
 * Reads exactly n octets and throws them away (an IMAP literal), calling
 * each(data, len, arg) on the pieces when each is not NULL. Returns 1,
 * 0 at end of file, -1 on error.
 */
int loadconn_skip(struct loadconn *c, uint64_t n, void (*each)(const char *, size_t, void *),
                  void *arg);

/* True when input is already buffered (read ahead, or inside TLS). */
bool loadconn_pending(const struct loadconn *c);

/* Drops whatever was read ahead (after STARTTLS/STLS: RFC 2595 §4). */
void loadconn_discard(struct loadconn *c);

/* TLS close_notify when in TLS, closes the socket, frees the buffer. */
void loadconn_close(struct loadconn *c);

/* ---- helpers ---- */

/* xorshift64*: fast, per thread, good enough to pick messages. */
uint64_t loadconn_rng(uint64_t *state);

void loadconn_sleep_us(uint64_t us);
/* Sleeps until monotonic time `when` (us), waking early when *stop is set. */
void loadconn_sleep_until(uint64_t when, const atomic_bool *stop);

/* The pattern must hold exactly one %d; any other % must be %%; < 200 chars. */
bool loadconn_pattern_ok(const char *pattern);
/* The user name for number n: the pattern's %d replaced, %% kept as %. 0 or -1. */
int loadconn_user_name(const char *pattern, long n, char *out, size_t size);

/* Option parsing: the value, or exit(2) with a message naming prog and name. */
long loadconn_parse_long(const char *prog, const char *name, const char *s, long min, long max);
double loadconn_parse_double(const char *prog, const char *name, const char *s, double min,
                             double max);

#endif
