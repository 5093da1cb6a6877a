/*
 * loadconn.c - connections and helpers of the load generators (see
 * loadconn.h).
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifdef LOADCONN_TLS
#include <openssl/err.h>
#include <openssl/ssl.h>
#endif

#include "loadconn.h"
#include "loadstat.h"

void loadconn_init(struct loadconn *c)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
}

static void set_timeouts(int fd, double timeout)
{
    struct timeval tv = {.tv_sec = (time_t)timeout,
                         .tv_usec = (suseconds_t)((timeout - (double)(time_t)timeout) * 1e6)};
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)); /* also bounds connect() */
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int loadconn_connect(struct loadconn *c, const struct addrinfo *target, double timeout, char *err,
                     size_t errsize)
{
    loadconn_init(c);
    snprintf(err, errsize, "no address");
    for (const struct addrinfo *a = target; a; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0)
            continue;
        set_timeouts(fd, timeout);
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
            c->fd = fd;
            err[0] = '\0';
            return 0;
        }
        snprintf(err, errsize, "connect: %s", strerror(errno));
        close(fd);
    }
    return -1;
}

bool loadconn_have_tls(void)
{
#ifdef LOADCONN_TLS
    return true;
#else
    return false;
#endif
}

void *loadconn_tls_context(void)
{
#ifdef LOADCONN_TLS
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL); /* a benchmark, not a client */
    return ctx;
#else
    return NULL;
#endif
}

void loadconn_tls_context_free(void *ctx)
{
#ifdef LOADCONN_TLS
    SSL_CTX_free(ctx);
#else
    (void)ctx;
#endif
}

int loadconn_tls(struct loadconn *c, void *ctx, char *err, size_t errsize)
{
#ifdef LOADCONN_TLS
    SSL *ssl = SSL_new(ctx);
    c->ssl = ssl;
    if (ssl == NULL || SSL_set_fd(ssl, c->fd) != 1 || SSL_connect(ssl) != 1) {
        unsigned long e = ERR_get_error();
        snprintf(err, errsize, "TLS handshake failed: %s",
                 e ? ERR_reason_error_string(e) : "connection closed");
        ERR_clear_error();
        return -1;
    }
    return 0;
#else
    (void)c;
    (void)ctx;
    snprintf(err, errsize, "built without OpenSSL");
    return -1;
#endif
}

void loadconn_close(struct loadconn *c)
{
#ifdef LOADCONN_TLS
    if (c->ssl) {
        (void)SSL_shutdown(c->ssl); /* close_notify, so the server sees a clean end */
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
#endif
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
    c->cap = c->r = c->w = 0;
}

static ssize_t conn_recv(struct loadconn *c, void *p, size_t n)
{
#ifdef LOADCONN_TLS
    if (c->ssl) {
        int k = SSL_read(c->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
        if (k > 0)
            return k;
        int e = SSL_get_error(c->ssl, k);
        return e == SSL_ERROR_ZERO_RETURN ? 0 : -1;
    }
#endif
    ssize_t k;
    do
        k = recv(c->fd, p, n, 0);
    while (k < 0 && errno == EINTR);
    return k;
}

int loadconn_send(struct loadconn *c, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k;
#ifdef LOADCONN_TLS
        if (c->ssl) {
            int s = SSL_write(c->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
            k = s > 0 ? s : -1;
        } else
#endif
        {
            do
                k = send(c->fd, p, n, MSG_NOSIGNAL);
            while (k < 0 && errno == EINTR);
        }
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Room for at least 4 KiB more input; -1 past the line limit or out of memory. */
static int make_room(struct loadconn *c)
{
    if (c->r > 0) {
        memmove(c->buf, c->buf + c->r, c->w - c->r);
        c->w -= c->r;
        c->r = 0;
    }
    if (c->cap - c->w < 4096) {
        size_t ncap = c->cap ? c->cap * 2 : 16384;
        if (ncap > LOADCONN_MAX_LINE + 16384)
            return -1;
        char *nb = realloc(c->buf, ncap);
        if (nb == NULL)
            return -1;
        c->buf = nb;
        c->cap = ncap;
    }
    return 0;
}

int loadconn_line(struct loadconn *c, char **line, size_t *len)
{
    for (;;) {
        char *nl = c->w > c->r ? memchr(c->buf + c->r, '\n', c->w - c->r) : NULL;
        if (nl) {
            char *start = c->buf + c->r;
            size_t n = (size_t)(nl - start);
            c->r += n + 1;
            if (n > 0 && start[n - 1] == '\r')
                n--;
            start[n] = '\0';
            *line = start;
            *len = n;
            return 1;
        }
        if (make_room(c) != 0)
            return -1;
        ssize_t k = conn_recv(c, c->buf + c->w, c->cap - c->w - 1);
        if (k <= 0)
            return k == 0 ? 0 : -1;
        c->w += (size_t)k;
    }
}

int loadconn_skip(struct loadconn *c, uint64_t n, void (*each)(const char *, size_t, void *),
                  void *arg)
{
    while (n > 0) {
        if (c->w > c->r) {
            size_t k = c->w - c->r;
            if ((uint64_t)k > n)
                k = (size_t)n;
            if (each)
                each(c->buf + c->r, k, arg);
            c->r += k;
            n -= k;
            continue;
        }
        c->r = c->w = 0;
        if (c->cap == 0 && make_room(c) != 0)
            return -1;
        ssize_t k = conn_recv(c, c->buf, c->cap - 1);
        if (k <= 0)
            return k == 0 ? 0 : -1;
        c->w = (size_t)k;
    }
    return 1;
}

bool loadconn_pending(const struct loadconn *c)
{
    if (c->w > c->r)
        return true;
#ifdef LOADCONN_TLS
    if (c->ssl && SSL_pending(c->ssl) > 0)
        return true;
#endif
    return false;
}

void loadconn_discard(struct loadconn *c)
{
    c->r = c->w = 0;
}

/* ------------------------------------------------------------ helpers */

uint64_t loadconn_rng(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

void loadconn_sleep_us(uint64_t us)
{
    struct timespec ts = {.tv_sec = (time_t)(us / 1000000u),
                          .tv_nsec = (long)(us % 1000000u) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

void loadconn_sleep_until(uint64_t when, const atomic_bool *stop)
{
    for (;;) {
        uint64_t now = loadstat_now_us();
        if (now >= when || atomic_load(stop))
            return;
        uint64_t d = when - now;
        loadconn_sleep_us(d > 100000 ? 100000 : d);
    }
}

bool loadconn_pattern_ok(const char *pat)
{
    int d = 0;
    for (const char *p = pat; *p; p++) {
        if (*p != '%')
            continue;
        if (p[1] == 'd')
            d++;
        else if (p[1] != '%')
            return false;
        p++;
    }
    return d == 1 && strlen(pat) < 200;
}

int loadconn_user_name(const char *pattern, long n, char *out, size_t size)
{
    size_t o = 0;
    for (const char *p = pattern; *p; p++) {
        char num[24];
        const char *ins = NULL;
        if (p[0] == '%' && p[1] == 'd') {
            snprintf(num, sizeof(num), "%ld", n);
            ins = num;
            p++;
        } else if (p[0] == '%' && p[1] == '%') {
            ins = "%";
            p++;
        }
        size_t len = ins ? strlen(ins) : 1;
        if (o + len >= size)
            return -1;
        memcpy(out + o, ins ? ins : p, len);
        o += len;
    }
    out[o] = '\0';
    return 0;
}

long loadconn_parse_long(const char *prog, const char *name, const char *s, long min, long max)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, "%s: %s: expected a number in %ld..%ld, not \"%s\"\n", prog, name, min, max,
                s);
        exit(2);
    }
    return v;
}

double loadconn_parse_double(const char *prog, const char *name, const char *s, double min,
                             double max)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= min && v <= max)) {
        fprintf(stderr, "%s: %s: expected a number in %g..%g, not \"%s\"\n", prog, name, min, max,
                s);
        exit(2);
    }
    return v;
}
