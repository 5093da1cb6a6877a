/*
 * sps_client.c - one client on the loop thread: its bufferevent (plain,
 * implicit TLS, or a TLS filter after STARTTLS), line and literal input,
 * output with back-pressure, jobs and delays that hold its input, idle
 * timeout, and its end.
 *
 * STARTTLS replaces the plain bufferevent by a TLS one on the same socket
 * once the "go ahead" reply has left (reading stops meanwhile, so the
 * client's handshake waits in the kernel), rather than stacking a filter:
 * one bufferevent per client, and a closing TLS client is flushed by its
 * own write callback.
 *
 * Caution: a client is never freed inside a function the protocol calls
 * (sps_client_close() only marks it), because the protocol's callback
 * still uses its state afterwards. Every libevent callback of this file
 * (the top level) ends with sps_client_kick(), which dispatches buffered
 * input and frees a closed client once its output is written and no job or
 * delay holds it. Bufferevents use deferred callbacks, so a write never
 * calls back into this file synchronously.
 */
/* System. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Libraries. */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>

/* libofc. */
#include "ofc_log.h"
#include "ofc_mem.h"

/* Protocol. */
#include "sps_internal.h"

#define BEV_OPTS_TLS   (BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS)
#define BEV_OPTS_PLAIN BEV_OPT_DEFER_CALLBACKS

static void on_read(struct bufferevent *bev, void *arg);
static void on_write(struct bufferevent *bev, void *arg);
static void on_event(struct bufferevent *bev, short what, void *arg);

static size_t max_line(struct sps *sps)
{
    long long n = sps_param_int(sps, "MaxLineLength", 8192);
    return n < 64 ? 64 : (size_t)n;
}

/* Octets queued and not yet handed to the kernel. */
static size_t output_pending(struct sps_client *c)
{
    if (c->bev == NULL)
        return 0;
    return evbuffer_get_length(bufferevent_get_output(c->bev));
}

/*
 * Frees the bufferevent, and closes the socket unless it goes on under
 * TLS (keep_fd). A plain bufferevent's events are deleted first, so that
 * none of them outlives the descriptor.
 */
static void free_bev(struct sps_client *c, bool keep_fd)
{
    if (c->bev == NULL)
        return;
    if (!c->bev_owns_fd)
        (void)bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    /*
     * TLS ends with close_notify (RFC 8446 §6.1): libevent frees the SSL
     * without SSL_shutdown(), and OpenSSL 3 peers report a bare close as
     * "unexpected eof". The alert goes straight to the socket (our TLS
     * bufferevents sit on the socket, not on a filter); a peer already
     * gone only makes it fail, which is fine.
     */
    SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
    if (ssl != NULL && !keep_fd)
        (void)SSL_shutdown(ssl);
    bufferevent_free(c->bev);
    c->bev = NULL;
    if (!c->bev_owns_fd && !keep_fd && c->fd >= 0)
        (void)close(c->fd);
    if (!keep_fd)
        c->fd = -1;
    if (!keep_fd && c->starttls_ssl != NULL) {
        SSL_free(c->starttls_ssl);
        c->starttls_ssl = NULL;
    }
}

/*
 * Reads while the client may send: not closing, output not backed up.
 * While a job or a delay holds the client, reading goes on up to the read
 * high-water mark (so that a hang-up is seen) but nothing is dispatched.
 */
static void update_read(struct sps_client *c)
{
    if (c->bev == NULL)
        return;
    size_t high = max_line(c->sps) + 65536;
    if (c->literal_wanted)
        high = c->literal > SIZE_MAX - high ? 0 : c->literal + high;
    bufferevent_setwatermark(c->bev, EV_READ, 0, high);
    if (!c->closing && !c->out_paused && c->starttls_ssl == NULL)
        (void)bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    else
        (void)bufferevent_disable(c->bev, EV_READ);
}

static void check_output(struct sps_client *c)
{
    if (!c->out_paused && output_pending(c) > SPS_OUT_HIGH) {
        c->out_paused = true;
        update_read(c);
    }
}

static void set_callbacks(struct sps_client *c)
{
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    /* on_write runs whenever the output drops to SPS_OUT_LOW or below. */
    bufferevent_setwatermark(c->bev, EV_WRITE, SPS_OUT_LOW, 0);
    update_read(c);
}

/*
 * A TLS session for a client. OpenSSL 3 reports a hang-up without
 * close_notify as an error; for a mail client it is only a hang-up.
 */
static SSL *new_ssl(struct sps *sps, struct sps_client *c, const char *peer)
{
    SSL *ssl = SSL_new(sps->tls_ctx);
    if (ssl == NULL) {
        ofc_warn("%s: cannot start TLS", c != NULL ? c->id : peer);
        return NULL;
    }
    (void)SSL_set_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
    return ssl;
}

static void start_session(struct sps_client *c)
{
    c->state = c->sps->protocol->client_new(c);
    c->has_state = true;
    c->last_input_ms = sps_now_ms();
    update_read(c);
}

void sps_client_accept(struct sps *sps, int fd, bool tls, const char *peer)
{
    if (sps->stopping) {
        (void)close(fd);
        return;
    }
    if (tls && sps->tls_ctx == NULL) {
        ofc_warn("implicit TLS client %s refused: no certificate for %s", peer,
                 sps->protocol->protocol);
        (void)close(fd);
        return;
    }
    if (evutil_make_socket_nonblocking(fd) != 0) {
        ofc_warn("client %s dropped: cannot make its socket non-blocking", peer);
        (void)close(fd);
        return;
    }
    /*
     * Replies are written in pieces (a RETR's last short piece after the
     * message); with Nagle's algorithm on, that piece waits for the
     * client's delayed ACK, about 40 ms per reply. The socket came from
     * iolistener, so set it here. Not fatal: a unix socket refuses it.
     */
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct bufferevent *bev;
    if (tls) {
        SSL *ssl = new_ssl(sps, NULL, peer);
        if (ssl == NULL) {
            (void)close(fd);
            return;
        }
        bev = bufferevent_openssl_socket_new(sps->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                             BEV_OPTS_TLS);
        if (bev != NULL)
            bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    } else {
        bev = bufferevent_socket_new(sps->base, fd, BEV_OPTS_PLAIN);
    }
    if (bev == NULL) {
        ofc_warn("client %s dropped: cannot create its buffers", peer);
        (void)close(fd);
        return;
    }
    struct sps_client *c = ofc_xcalloc(1, sizeof(*c));
    c->sps = sps;
    c->bev = bev;
    c->fd = fd;
    c->bev_owns_fd = tls;
    c->peer = ofc_xstrdup(peer);
    (void)snprintf(c->id, sizeof(c->id), "c%llu", ++sps->next_client_id);
    c->last_input_ms = sps_now_ms();
    c->next = sps->clients;
    if (c->next != NULL)
        c->next->prev = c;
    sps->clients = c;
    atomic_fetch_add(&sps->n_clients, 1);
    sps_loop_load_changed(sps);
    ofc_info("%s: client %s%s", c->id, peer, tls ? " (implicit TLS)" : "");
    c->handshaking = tls;
    set_callbacks(c);
    if (!tls)
        start_session(c);
    sps_client_kick(c);
}

/* ---- input --------------------------------------------------------------- */

static void too_long(struct sps_client *c)
{
    ofc_info("%s: line longer than %zu octets", c->id, max_line(c->sps));
    if (c->sps->protocol->line_too_long != NULL)
        c->sps->protocol->line_too_long(c, c->state);
    else
        sps_client_close(c);
}

/* Returns false when nothing more can be dispatched now. */
static bool dispatch_one(struct sps_client *c)
{
    const struct sps_protocol *p = c->sps->protocol;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    size_t avail = evbuffer_get_length(in);
    if (c->literal_wanted) {
        if (avail < c->literal)
            return false;
        size_t len = c->literal;
        char *data = ofc_xmalloc(len + 1);
        if (evbuffer_remove(in, data, len) != (ev_ssize_t)len)
            ofc_panic("%s: literal of %zu octets not in the buffer", c->id, len);
        data[len] = '\0';
        c->literal_wanted = false;
        c->literal = 0;
        update_read(c);
        if (p->literal != NULL)
            p->literal(c, c->state, data, len);
        else
            sps_client_close(c);
        free(data);
        return true;
    }
    if (avail == 0)
        return false;
    size_t max = max_line(c->sps);
    size_t eol_len = 0;
    struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
    if (eol.pos < 0) {
        /* No end of line yet: wait, unless the line is already too long. */
        if (c->discarding) {
            (void)evbuffer_drain(in, avail);
            return false;
        }
        if (avail <= max + 1) /* + a CR */
            return false;
        (void)evbuffer_drain(in, avail);
        c->discarding = true;
        too_long(c);
        return true;
    }
    size_t n = (size_t)eol.pos;
    if (c->discarding) {
        (void)evbuffer_drain(in, n + 1);
        c->discarding = false;
        return true;
    }
    if (n > max + 1) {
        (void)evbuffer_drain(in, n + 1);
        too_long(c);
        return true;
    }
    char *line = ofc_xmalloc(n + 1);
    if (evbuffer_remove(in, line, n) != (ev_ssize_t)n)
        ofc_panic("%s: line of %zu octets not in the buffer", c->id, n);
    (void)evbuffer_drain(in, 1);
    size_t len = n;
    if (len > 0 && line[len - 1] == '\r')
        len--;
    line[len] = '\0';
    if (len > max)
        too_long(c);
    else
        p->line(c, c->state, line, len);
    free(line);
    return true;
}

static void dispatch(struct sps_client *c)
{
    while (c->bev != NULL && c->has_state && !c->closing && c->held == 0 && !c->out_paused &&
           c->starttls_ssl == NULL) {
        if (!dispatch_one(c))
            break;
    }
}

/* ---- the end -------------------------------------------------------------- */

static void client_free(struct sps_client *c)
{
    struct sps *sps = c->sps;
    if (c->has_state) {
        c->has_state = false;
        sps->protocol->client_free(c, c->state);
    }
    sps_watch_remove(c);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        sps->clients = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    atomic_fetch_sub(&sps->n_clients, 1);
    if (c->counted_tls)
        atomic_fetch_sub(&sps->n_tls, 1);
    if (c->logged_in)
        atomic_fetch_sub(&sps->n_logged_in, 1);
    ofc_info("%s: closed (%s)", c->id, c->why != NULL ? c->why : "by the server");
    free(c->peer);
    free(c);
    sps_loop_load_changed(sps);
}

/* STARTTLS, once the reply has left: the same socket in a TLS bufferevent. */
static void switch_to_tls(struct sps_client *c)
{
    struct sps *sps = c->sps;
    /* RFC 3207 §4.2: what the client sent before the handshake is not trusted. */
    struct evbuffer *in = bufferevent_get_input(c->bev);
    (void)evbuffer_drain(in, evbuffer_get_length(in));
    SSL *ssl = c->starttls_ssl;
    c->starttls_ssl = NULL;
    free_bev(c, true);
    c->bev = bufferevent_openssl_socket_new(sps->base, c->fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                            BEV_OPTS_TLS);
    if (c->bev == NULL) {
        ofc_warn("%s: cannot start TLS", c->id);
        (void)close(c->fd);
        c->fd = -1;
        c->why = "TLS failed";
        c->peer_gone = true;
        c->closing = true;
        c->closing_ms = sps_now_ms();
        return;
    }
    c->bev_owns_fd = true;
    bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
    set_callbacks(c);
}

/* Lets a job blocked in sps_job_flush() go on (gone: the client closed). */
static void release_flush_waiter(struct sps_client *c, bool gone)
{
    struct sps_job_entry *e = c->flush_waiter;
    if (e == NULL)
        return;
    c->flush_waiter = NULL;
    pthread_mutex_lock(&c->sps->pool_lock);
    e->flush_blocked = false;
    if (gone)
        e->client_gone = true;
    pthread_cond_broadcast(&c->sps->flush_cond);
    pthread_mutex_unlock(&c->sps->pool_lock);
}

void sps_client_kick(struct sps_client *c)
{
    if (c->starttls_ssl != NULL && !c->closing && c->bev != NULL && output_pending(c) == 0)
        switch_to_tls(c);
    dispatch(c);
    if (!c->closing)
        return;
    release_flush_waiter(c, true);
    if (c->bev != NULL && !c->peer_gone && output_pending(c) > 0)
        return; /* on_write or the sweep comes back */
    free_bev(c, false);
    if (c->held > 0 || c->job_running)
        return; /* the job's or delay's end comes back */
    client_free(c);
}

/* ---- libevent callbacks (top level) ------------------------------------- */

static void on_read(struct bufferevent *bev, void *arg)
{
    struct sps_client *c = arg;
    (void)bev;
    c->last_input_ms = sps_now_ms();
    sps_client_kick(c);
}

void sps_clients_take_flushes(struct sps *sps)
{
    pthread_mutex_lock(&sps->pool_lock);
    struct sps_job_entry *list = sps->flush_list;
    sps->flush_list = NULL;
    for (struct sps_job_entry *e = list; e != NULL; e = e->flush_next) {
        struct sps_client *c = e->client;
        e->flush_queued = false;
        if (c->closing || c->bev == NULL) {
            e->client_gone = true;
            (void)evbuffer_drain(e->flushing, evbuffer_get_length(e->flushing));
        } else if (bufferevent_write_buffer(c->bev, e->flushing) != 0) {
            ofc_panic("out of memory for output");
        } else if (output_pending(c) > SPS_OUT_HIGH) {
            c->flush_waiter = e; /* on_write lets it go on below SPS_OUT_LOW */
        } else {
            e->flush_blocked = false;
        }
    }
    pthread_cond_broadcast(&sps->flush_cond);
    pthread_mutex_unlock(&sps->pool_lock);
    for (struct sps_job_entry *e = list; e != NULL; e = e->flush_next)
        if (!e->client_gone)
            check_output(e->client);
}

static void on_write(struct bufferevent *bev, void *arg)
{
    struct sps_client *c = arg;
    (void)bev;
    if (c->out_paused && output_pending(c) <= SPS_OUT_LOW) {
        c->out_paused = false;
        update_read(c);
    }
    if (c->flush_waiter != NULL && output_pending(c) <= SPS_OUT_LOW)
        release_flush_waiter(c, false);
    sps_client_kick(c);
}

static void log_tls_errors(struct sps_client *c, struct bufferevent *bev)
{
    unsigned long e;
    bool any = false;
    while ((e = bufferevent_get_openssl_error(bev)) != 0) {
        /* libevent also queues the socket's errno here (library 0): not TLS. */
        if (ERR_GET_LIB(e) == 0)
            continue;
        char buf[256];
        ERR_error_string_n(e, buf, sizeof(buf));
        ofc_info("%s: TLS: %s", c->id, buf);
        any = true;
    }
    if (any && c->why == NULL)
        c->why = "TLS error";
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct sps_client *c = arg;
    if (what & BEV_EVENT_CONNECTED) {
        if (c->handshaking) {
            c->handshaking = false;
            c->tls = true;
            c->counted_tls = true;
            atomic_fetch_add(&c->sps->n_tls, 1);
            start_session(c);
        }
        c->tls_up = true;
        ofc_debug("%s: TLS established", c->id);
        sps_client_kick(c);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
        if (c->tls)
            log_tls_errors(c, bev);
        if (c->why == NULL) {
            if (what & BEV_EVENT_EOF)
                c->why = c->closing ? "by the server" : "by the client";
            else if (c->tls && !c->tls_up)
                c->why = "TLS handshake failed";
            else
                c->why = "connection error";
        }
        c->peer_gone = true;
        if (!c->closing) {
            c->closing = true;
            c->closing_ms = sps_now_ms();
        }
        sps_client_kick(c);
    }
}

/* ---- jobs and delays ----------------------------------------------------- */

void sps_client_run(struct sps_client *c, sps_job_fn *fn, sps_done_fn *done, void *arg)
{
    struct sps_job_entry *e = ofc_xcalloc(1, sizeof(*e));
    e->job.out = evbuffer_new();
    if (e->job.out == NULL)
        ofc_panic("out of memory for a job's buffer");
    e->job.arg = arg;
    e->client = c;
    e->fn = fn;
    e->done = done;
    c->held++;
    if (c->job_running || c->pending != NULL) {
        /* One job at a time per client: requests stay in order. */
        if (c->pending_tail != NULL)
            c->pending_tail->next = e;
        else
            c->pending = e;
        c->pending_tail = e;
        return;
    }
    c->job_running = true;
    sps_pool_submit(c->sps, e);
}

void sps_client_job_finished(struct sps_job_entry *e)
{
    struct sps_client *c = e->client;
    if (!c->closing && c->bev != NULL) {
        (void)bufferevent_write_buffer(c->bev, e->job.out);
        check_output(c);
    }
    evbuffer_free(e->job.out);
    if (e->flushing != NULL)
        evbuffer_free(e->flushing);
    c->job_running = false;
    c->held--;
    c->last_input_ms = sps_now_ms();
    if (e->done != NULL)
        e->done(c, c->state, e->job.arg);
    free(e);
    /* done may have started a job of its own (it went behind the pending ones). */
    if (!c->job_running && c->pending != NULL) {
        struct sps_job_entry *next = c->pending;
        c->pending = next->next;
        if (c->pending == NULL)
            c->pending_tail = NULL;
        next->next = NULL;
        c->job_running = true;
        sps_pool_submit(c->sps, next);
    }
    sps_client_kick(c);
}

static void on_delay(evutil_socket_t fd, short what, void *arg)
{
    struct sps_delay *d = arg;
    struct sps_client *c = d->client;
    (void)fd;
    (void)what;
    for (struct sps_delay **pp = &c->delays; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == d) {
            *pp = d->next;
            break;
        }
    }
    event_free(d->ev);
    c->held--;
    c->last_input_ms = sps_now_ms();
    if (d->done != NULL)
        d->done(c, c->state, d->arg);
    free(d);
    sps_client_kick(c);
}

void sps_client_delay(struct sps_client *c, int seconds, sps_done_fn *done, void *arg)
{
    struct sps_delay *d = ofc_xcalloc(1, sizeof(*d));
    d->client = c;
    d->done = done;
    d->arg = arg;
    d->ev = evtimer_new(c->sps->base, on_delay, d);
    if (d->ev == NULL)
        ofc_panic("out of memory for a timer");
    c->held++;
    d->next = c->delays;
    c->delays = d;
    struct timeval tv = {.tv_sec = seconds > 0 ? seconds : 0, .tv_usec = 0};
    /* A stopping process does not wait: the delay ends at once. */
    if (c->sps->stopping)
        tv.tv_sec = 0;
    if (evtimer_add(d->ev, &tv) != 0)
        ofc_panic("cannot add a timer");
}

/* ---- timers and stop ------------------------------------------------------ */

void sps_clients_sweep(struct sps *sps, int64_t now)
{
    long long idle_s = sps_param_int(sps, "IdleTimeout", 600);
    struct sps_client *next;
    for (struct sps_client *c = sps->clients; c != NULL; c = next) {
        next = c->next;
        if (c->closing) {
            if (c->bev != NULL && !c->peer_gone && now - c->closing_ms > SPS_CLOSE_FLUSH_S * 1000) {
                c->peer_gone = true;
                c->why = "output not taken";
            }
            sps_client_kick(c);
            continue;
        }
        if (c->held > 0 || c->job_running)
            continue;
        int64_t limit = c->handshaking        ? SPS_HANDSHAKE_S * 1000LL
                        : c->idle_timeout > 0 ? c->idle_timeout * 1000LL
                                              : idle_s * 1000LL;
        if (now - c->last_input_ms < limit)
            continue;
        ofc_info("%s: idle for %lld s, logged out", c->id, (long long)(limit / 1000));
        c->why = "idle timeout";
        if (c->has_state && sps->protocol->idle_timeout != NULL)
            sps->protocol->idle_timeout(c, c->state);
        sps_client_close(c);
        sps_client_kick(c);
    }
}

void sps_clients_shutdown(struct sps *sps)
{
    struct sps_client *next;
    for (struct sps_client *c = sps->clients; c != NULL; c = next) {
        next = c->next;
        for (struct sps_delay *d = c->delays; d != NULL; d = d->next)
            event_active(d->ev, EV_TIMEOUT, 0);
        if (!c->closing) {
            if (c->has_state && sps->protocol->shutdown != NULL)
                sps->protocol->shutdown(c, c->state);
            c->why = "server stopping";
            sps_client_close(c);
        }
        sps_client_kick(c);
    }
}

void sps_clients_force_close(struct sps *sps)
{
    struct sps_client *next;
    for (struct sps_client *c = sps->clients; c != NULL; c = next) {
        next = c->next;
        if (c->bev == NULL)
            continue;
        c->peer_gone = true;
        if (!c->closing) {
            c->closing = true;
            c->closing_ms = sps_now_ms();
        }
        sps_client_kick(c);
    }
}

/* ---- the protocol's calls ------------------------------------------------- */

void sps_client_write(struct sps_client *c, const void *data, size_t len)
{
    if (c->closing || c->bev == NULL || len == 0)
        return;
    if (bufferevent_write(c->bev, data, len) != 0)
        ofc_panic("out of memory for output");
    check_output(c);
}

void sps_client_puts(struct sps_client *c, const char *s)
{
    sps_client_write(c, s, strlen(s));
}

void sps_client_printf(struct sps_client *c, const char *fmt, ...)
{
    if (c->closing || c->bev == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (evbuffer_add_vprintf(bufferevent_get_output(c->bev), fmt, ap) < 0)
        ofc_panic("out of memory for output");
    va_end(ap);
    check_output(c);
}

void sps_client_write_buffer(struct sps_client *c, struct evbuffer *buf)
{
    if (c->closing || c->bev == NULL) {
        (void)evbuffer_drain(buf, evbuffer_get_length(buf));
        return;
    }
    if (bufferevent_write_buffer(c->bev, buf) != 0)
        ofc_panic("out of memory for output");
    check_output(c);
}

void sps_client_close(struct sps_client *c)
{
    if (c->closing)
        return;
    c->closing = true;
    c->closing_ms = sps_now_ms();
    update_read(c);
}

bool sps_client_closed(const struct sps_client *c)
{
    return c->closing;
}

void sps_client_read_literal(struct sps_client *c, size_t len)
{
    c->literal = len;
    c->literal_wanted = true;
    update_read(c);
}

bool sps_client_starttls(struct sps_client *c)
{
    struct sps *sps = c->sps;
    if (sps->tls_ctx == NULL || c->tls || c->bev == NULL || c->closing)
        return false;
    SSL *ssl = new_ssl(sps, c, NULL);
    if (ssl == NULL)
        return false;
    /* RFC 3207 §4.2: what the client sent before the handshake is not trusted. */
    struct evbuffer *in = bufferevent_get_input(c->bev);
    (void)evbuffer_drain(in, evbuffer_get_length(in));
    c->discarding = false;
    c->literal_wanted = false;
    c->literal = 0;
    /* No more reading until the reply has left and the TLS bufferevent takes over (kick). */
    c->starttls_ssl = ssl;
    c->tls = true;
    c->counted_tls = true;
    atomic_fetch_add(&sps->n_tls, 1);
    update_read(c);
    ofc_debug("%s: STARTTLS", c->id);
    return true;
}

bool sps_client_tls_available(struct sps_client *c)
{
    return c->sps->tls_ctx != NULL;
}

bool sps_client_is_tls(const struct sps_client *c)
{
    return c->tls;
}

const char *sps_client_peer(const struct sps_client *c)
{
    return c->peer;
}

const char *sps_client_id(const struct sps_client *c)
{
    return c->id;
}

void sps_client_set_idle_timeout(struct sps_client *c, int seconds)
{
    c->idle_timeout = seconds > 0 ? seconds : 0;
}

void sps_client_set_logged_in(struct sps_client *c, bool logged_in)
{
    if (c->logged_in == logged_in)
        return;
    c->logged_in = logged_in;
    if (logged_in)
        atomic_fetch_add(&c->sps->n_logged_in, 1);
    else
        atomic_fetch_sub(&c->sps->n_logged_in, 1);
}

struct sps *sps_client_sps(struct sps_client *c)
{
    return c->sps;
}
