/*
 * handoff.c - each accepted client goes to the least busy instance of its
 * protocol (lsnr_choose), with its descriptor, over that instance's
 * registration connection (SCM_RIGHTS; see sps_handoff.h).
 *
 * When every instance that could take a client has a full socket (a
 * burst faster than they read), the client waits in a queue per protocol,
 * first come first served, until one has room, a new instance registers,
 * a LOAD arrives or it has waited too long. A client that no instance can
 * take is refused in its protocol's words, and the refusal is logged with
 * the reason, at most one line per protocol every few seconds.
 */
/* System. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* libevent. */
#include <event2/event.h>

/* libofc. */
#include "ofc_log.h"
#include "ofc_mem.h"

/* protocol. */
#include "sps_handoff.h"

/* This program. */
#include "lsnr.h"

/*
 * Clients that wait for room in an instance's socket (every instance that
 * could take them has a full one: a burst faster than the instances read):
 * at most this many, for at most this long.
 */
#define MAX_WAITING 1024
#define MAX_WAIT_MS 5000
/* At most one refusal line per protocol in this time; the rest are counted. */
#define REFUSAL_LOG_MS 10000

static const char *const refusal_text[LSNR_NPROTO] = {
    [LSNR_POP3] = "-ERR [SYS/TEMP] no POP3 server available, try again later\r\n",
    [LSNR_IMAP] = "* BYE [UNAVAILABLE] no IMAP server available, try again later\r\n",
};

/*
 * Waiting clients get another try once the current callback is over: a
 * hand-off may drop an instance, and the callback of that very instance
 * must not find itself freed.
 */
void lsnr_schedule_drain(struct lsnr *l)
{
    if (l->nwaiting > 0)
        event_active(l->drain_ev, EV_TIMEOUT, 0);
}

/* The peer as "192.0.2.1" (IPv4-mapped IPv6 addresses shown as IPv4) and its port. */
static void peer_text(const struct sockaddr_storage *ss, socklen_t len, char *host, size_t hostlen,
                      int *port_r)
{
    *port_r = 0;
    (void)snprintf(host, hostlen, "unknown");
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        *port_r = ntohs(s6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
            if (inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], host, (socklen_t)hostlen) == NULL)
                (void)snprintf(host, hostlen, "unknown");
            return;
        }
    } else if (ss->ss_family == AF_INET) {
        *port_r = ntohs(((const struct sockaddr_in *)ss)->sin_port);
    } else {
        return;
    }
    if (getnameinfo((const struct sockaddr *)ss, len, host, (socklen_t)hostlen, NULL, 0,
                    NI_NUMERICHOST) != 0)
        (void)snprintf(host, hostlen, "unknown");
}

static char *refusal_reason(enum lsnr_proto proto, const struct lsnr_choice_why *why)
{
    const char *type = lsnr_proto_type(proto);
    if (why->registered == 0)
        return ofc_xasprintf("no %s instance is registered", type);
    return ofc_xasprintf("none of the %d %s instance(s) can take it (%d at their maximum, %d "
                         "with a full socket, %d silent for over %d s)",
                         why->registered, type, why->at_max, why->full, why->silent,
                         LSNR_SILENCE_MS / 1000);
}

/* One line per REFUSAL_LOG_MS and protocol; the others at debug level, and counted. */
static void log_refusal(struct lsnr *l, const struct lsnr_port *p, const char *host, int port,
                        char *reason)
{
    struct refusal_log *r = &l->refusals[p->proto];
    int64_t now = lsnr_now_ms();
    if (r->last_ms == 0 || now - r->last_ms >= REFUSAL_LOG_MS) {
        if (r->suppressed > 0)
            ofc_warn("client %s port %d on %s port %d refused: %s (and %lu earlier %s "
                     "client(s) not logged)",
                     host, port, p->name, p->port, reason, r->suppressed,
                     lsnr_proto_word(p->proto));
        else
            ofc_warn("client %s port %d on %s port %d refused: %s", host, port, p->name, p->port,
                     reason);
        r->last_ms = now;
        r->suppressed = 0;
    } else {
        ofc_debug("client %s port %d on %s port %d refused: %s", host, port, p->name, p->port,
                  reason);
        r->suppressed++;
    }
    free(r->last_reason);
    r->last_reason = reason;
}

void lsnr_refusals_flush(struct lsnr *l, int64_t now)
{
    for (int k = 0; k < LSNR_NPROTO; k++) {
        struct refusal_log *r = &l->refusals[k];
        if (r->suppressed == 0 || now - r->last_ms < REFUSAL_LOG_MS)
            continue;
        ofc_warn("%lu more %s client(s) refused in the last %lld s; the last because %s",
                 r->suppressed, lsnr_proto_word((enum lsnr_proto)k),
                 (long long)((now - r->last_ms) / 1000),
                 r->last_reason != NULL ? r->last_reason : "of an unknown reason");
        r->suppressed = 0;
        r->last_ms = now;
    }
}

/* An accepted client on its way to an instance. */
struct client {
    struct client *next;
    const struct lsnr_port *port;
    int fd;
    int peer_port;
    int64_t since; /* accepted, monotonic ms */
    bool waited;
    char host[96]; /* numeric: INET6_ADDRSTRLEN, '%' and an interface name fit */
};

static void client_free(struct client *c)
{
    if (c->fd >= 0)
        (void)close(c->fd);
    free(c);
}

/* Says no in the protocol's words and closes; `reason` (heap) goes to the log. */
static void refuse_client(struct lsnr *l, struct client *c, char *reason)
{
    /* An implicit-TLS client expects a handshake: plain words would only confuse it. */
    if (!c->port->tls) {
        const char *text = refusal_text[c->port->proto];
        /* Best effort: a fresh socket's buffer is empty; a client gone already is no loss. */
        ssize_t ignored = send(c->fd, text, strlen(text), MSG_DONTWAIT | MSG_NOSIGNAL);
        (void)ignored;
    }
    log_refusal(l, c->port, c->host, c->peer_port, reason);
    client_free(c);
}

static void clear_tried(struct lsnr *l)
{
    for (struct lsnr_inst *i = l->insts; i != NULL; i = i->next)
        i->tried = false;
}

static void note_silent(struct lsnr *l, enum lsnr_proto proto, int64_t now)
{
    for (struct lsnr_inst *s = l->insts; s != NULL; s = s->next) {
        if (s->registered && s->hello.proto == proto && !s->silent_logged &&
            now - s->last_heard > LSNR_SILENCE_MS) {
            ofc_warn("%s has been silent for %lld s: no clients for it until it speaks", s->name,
                     (long long)((now - s->last_heard) / 1000));
            s->silent_logged = true;
        }
    }
}

enum offer_result { OFFER_HANDED, OFFER_FULL, OFFER_NONE };

/*
 * Hands c to the best instance that takes it, trying the next when one's
 * socket is full. OFFER_FULL: every instance that could take it has a full
 * socket (each is watched for room). OFFER_NONE: no instance can take it;
 * *why_r says why. c->fd is closed on OFFER_HANDED only.
 */
static enum offer_result offer(struct lsnr *l, struct client *c, struct lsnr_choice_why *why_r)
{
    const struct lsnr_port *p = c->port;
    char *packet =
        ofc_xasprintf("CLIENT %d %d %s %d", p->tls ? 1 : 0, p->port, c->host, c->peer_port);
    int64_t now = lsnr_now_ms();
    enum offer_result result;
    for (;;) {
        struct lsnr_inst *i = lsnr_choose(l->insts, p->proto, now, why_r);
        if (i == NULL) {
            note_silent(l, p->proto, now);
            result = why_r->full > 0 ? OFFER_FULL : OFFER_NONE;
            for (struct lsnr_inst *t = l->insts; t != NULL; t = t->next)
                if (t->tried && t->wev != NULL && event_add(t->wev, NULL) != 0)
                    ofc_error("cannot watch %s for room", t->name);
            break;
        }
        if (sps_handoff_send(i->fd, packet, c->fd) == 0) {
            i->sent++;
            i->last_seq = ++l->seq;
            if (c->waited)
                ofc_info("client %s port %d on %s port %d handed to %s after %lld ms, now %lld "
                         "client(s)",
                         c->host, c->peer_port, p->name, p->port, i->name,
                         (long long)(now - c->since), i->load + i->sent);
            else
                ofc_info("client %s port %d on %s port %d handed to %s, now %lld client(s)",
                         c->host, c->peer_port, p->name, p->port, i->name, i->load + i->sent);
            /* The instance has its own descriptor now. */
            (void)close(c->fd);
            c->fd = -1;
            result = OFFER_HANDED;
            break;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS || errno == ETOOMANYREFS) {
            ofc_debug("%s cannot take client %s port %d now: %s", i->name, c->host, c->peer_port,
                      strerror(errno));
            i->tried = true;
            continue;
        }
        char *why_gone = ofc_xasprintf("handing over a client failed: %s", strerror(errno));
        lsnr_inst_drop(l, i, why_gone);
        free(why_gone);
    }
    clear_tried(l);
    free(packet);
    return result;
}

/*
 * Hands over the waiting clients of a protocol, oldest first, until the
 * instances are full again. A client that no instance can take any more
 * (gone, at their maximum) is refused.
 */
static void drain(struct lsnr *l, enum lsnr_proto proto)
{
    struct client_queue *q = &l->waiting[proto];
    while (q->head != NULL) {
        struct client *c = q->head;
        struct lsnr_choice_why why;
        enum offer_result r = offer(l, c, &why);
        if (r == OFFER_FULL)
            return;
        q->head = c->next;
        if (q->head == NULL)
            q->tail = NULL;
        l->nwaiting--;
        if (r == OFFER_HANDED)
            client_free(c);
        else
            refuse_client(l, c, refusal_reason(proto, &why));
    }
}

static void enqueue(struct lsnr *l, struct client *c)
{
    struct client_queue *q = &l->waiting[c->port->proto];
    c->waited = true;
    c->next = NULL;
    if (q->tail != NULL)
        q->tail->next = c;
    else
        q->head = c;
    q->tail = c;
    l->nwaiting++;
    ofc_debug("client %s port %d on %s port %d waits for room at a %s instance", c->host,
              c->peer_port, c->port->name, c->port->port, lsnr_proto_type(c->port->proto));
}

void lsnr_handle_client(struct lsnr *l, const struct lsnr_port *p, int cfd,
                        const struct sockaddr_storage *ss, socklen_t sslen)
{
    struct client *c = ofc_xcalloc(1, sizeof(*c));
    c->port = p;
    c->fd = cfd;
    c->since = lsnr_now_ms();
    peer_text(ss, sslen, c->host, sizeof(c->host), &c->peer_port);
    bool queue_busy = l->waiting[p->proto].head != NULL;
    if (queue_busy || l->nwaiting >= MAX_WAITING) {
        /* Behind the clients already waiting: first come, first served. */
        if (l->nwaiting >= MAX_WAITING) {
            refuse_client(
                l, c,
                ofc_xasprintf("%d clients already wait for a full instance socket", l->nwaiting));
            return;
        }
        /* Room, or another instance, wakes the queue up (lsnr_inst_room_cb, HELLO, LOAD, tick). */
        enqueue(l, c);
        return;
    }
    struct lsnr_choice_why why;
    switch (offer(l, c, &why)) {
    case OFFER_HANDED:
        client_free(c);
        break;
    case OFFER_FULL:
        enqueue(l, c);
        break;
    case OFFER_NONE:
        refuse_client(l, c, refusal_reason(p->proto, &why));
        break;
    }
}

/* Clients that waited too long for room are refused; the others get another try. */
void lsnr_expire_waiting(struct lsnr *l, int64_t now)
{
    for (int k = 0; k < LSNR_NPROTO; k++) {
        struct client_queue *q = &l->waiting[k];
        while (q->head != NULL && now - q->head->since >= MAX_WAIT_MS) {
            struct client *c = q->head;
            q->head = c->next;
            if (q->head == NULL)
                q->tail = NULL;
            l->nwaiting--;
            refuse_client(l, c,
                          ofc_xasprintf("the sockets of the %s instances stayed full for %d s",
                                        lsnr_proto_type((enum lsnr_proto)k), MAX_WAIT_MS / 1000));
        }
        drain(l, (enum lsnr_proto)k);
    }
}

void lsnr_drain_cb(evutil_socket_t fd, short what, void *arg)
{
    struct lsnr *l = arg;
    for (int k = 0; k < LSNR_NPROTO; k++)
        drain(l, (enum lsnr_proto)k);
}

void lsnr_inst_room_cb(evutil_socket_t fd, short what, void *arg)
{
    struct lsnr_inst *i = arg;
    drain(i->owner, i->hello.proto);
}

void lsnr_handoff_free(struct lsnr *l)
{
    int nclients = 0;
    for (int k = 0; k < LSNR_NPROTO; k++) {
        while (l->waiting[k].head != NULL) {
            struct client *c = l->waiting[k].head;
            l->waiting[k].head = c->next;
            client_free(c);
            nclients++;
        }
        l->waiting[k].tail = NULL;
    }
    l->nwaiting = 0;
    if (nclients > 0)
        ofc_warn("%d waiting client(s) closed: the listener stops", nclients);
    for (int k = 0; k < LSNR_NPROTO; k++)
        OFC_FREE(l->refusals[k].last_reason);
}
