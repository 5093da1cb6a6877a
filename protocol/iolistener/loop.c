/*
 * loop.c - iolistener's event loop: accepts clients on the four ports and
 * hands each to a protocol server instance, and keeps the registry of
 * those instances from what they say on the registration socket (see
 * sps_handoff.h for the words).
 *
 * The loop runs in its own thread with one libevent base that only this
 * thread touches; the lifecycle's thread (heartbeat, refresh, SIGTERM)
 * stops it through a pipe and frees everything after joining it.
 */
/* System. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
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

/* An instance that has not said HELLO within this time is closed. */
#define HELLO_TIMEOUT_S 10
/* Registration connections at once; more is a runaway, not a node. */
#define MAX_CONNECTIONS 1024
/* Clients accepted per wake-up of one port, so that the others get their turn. */
#define ACCEPT_BATCH 64
/* Out of descriptors: accepting stops this long instead of spinning. */
#define ACCEPT_PAUSE_MS 1000
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

struct port_ev {
    struct lsnr *l;
    struct lsnr_port port;
    struct event *ev;
};

struct refusal_log {
    int64_t last_ms;          /* when the last line was written; 0: never */
    unsigned long suppressed; /* refusals since that were not logged */
    char *last_reason;
};

struct client;
struct client_queue {
    struct client *head, *tail;
};

struct lsnr {
    struct event_base *base;
    struct port_ev ports[LSNR_NPORTS];
    int reg_fd;
    struct event *reg_ev;
    char *sock_path;
    int stop_pipe[2];
    struct event *stop_ev;
    struct event *tick_ev;  /* every second: paused accepts, refusal counts */
    struct event *drain_ev; /* activated: waiting clients get another try */
    struct lsnr_inst *insts;
    int nconns;
    uint64_t seq;
    bool paused;
    int64_t paused_until;
    struct refusal_log refusals[LSNR_NPROTO];
    struct client_queue waiting[LSNR_NPROTO];
    int nwaiting;
    pthread_t thread;
    atomic_bool failed; /* the loop ended by itself */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- instances ------------------------------------------------------ */

static void inst_room_cb(evutil_socket_t fd, short what, void *arg);

/*
 * Waiting clients get another try once the current callback is over: a
 * hand-off may drop an instance, and the callback of that very instance
 * must not find itself freed.
 */
static void schedule_drain(struct lsnr *l)
{
    if (l->nwaiting > 0)
        event_active(l->drain_ev, EV_TIMEOUT, 0);
}

static void inst_drop(struct lsnr *l, struct lsnr_inst *i, const char *why)
{
    if (i->registered) {
        ofc_info("%s is gone: %s", i->name, why);
        /* Clients waiting for it may have nowhere else to go: they hear so at once. */
        schedule_drain(l);
    } else
        ofc_debug("%s closed: %s", i->name, why);
    if (i->prev != NULL)
        i->prev->next = i->next;
    else
        l->insts = i->next;
    if (i->next != NULL)
        i->next->prev = i->prev;
    if (i->ev != NULL)
        event_free(i->ev);
    if (i->wev != NULL)
        event_free(i->wev);
    (void)close(i->fd);
    free(i->name);
    free(i);
    l->nconns--;
}

/* Says ERR and closes: the instance reconnects and tries again, or someone reads our log. */
static void inst_refuse(struct lsnr *l, struct lsnr_inst *i, const char *packet, const char *reason)
{
    ofc_warn("%s sent '%s': %s; closing its connection", i->name, packet, reason);
    char *err = ofc_xasprintf("ERR %s", reason);
    if (sps_handoff_send(i->fd, err, -1) != 0)
        ofc_debug("cannot send ERR to %s: %s", i->name, strerror(errno));
    free(err);
    inst_drop(l, i, "protocol error");
}

static struct lsnr_inst *find_process(struct lsnr *l, long long process_id)
{
    for (struct lsnr_inst *i = l->insts; i != NULL; i = i->next)
        if (i->registered && i->hello.process_id == process_id)
            return i;
    return NULL;
}

/* Returns -1 when the instance was dropped. */
static int inst_hello(struct lsnr *l, struct lsnr_inst *i, const char *text)
{
    struct lsnr_hello h;
    const char *why = NULL;
    if (lsnr_parse_hello(text, &h, &why) != 0) {
        inst_refuse(l, i, text, why);
        return -1;
    }
    struct lsnr_inst *other = find_process(l, h.process_id);
    if (other != NULL) {
        char *reason = ofc_xasprintf("process %lld is already registered (pid %ld)", h.process_id,
                                     other->hello.pid);
        inst_refuse(l, i, text, reason);
        free(reason);
        return -1;
    }
    if (sps_handoff_send(i->fd, "OK", -1) != 0) {
        inst_drop(l, i, strerror(errno));
        return -1;
    }
    i->registered = true;
    i->hello = h;
    free(i->name);
    i->name = ofc_xasprintf("%s process %lld instance %d (pid %ld)", lsnr_proto_type(h.proto),
                            h.process_id, h.instance, h.pid);
    i->max = -1;
    /* The HELLO deadline is over; room in its socket may be awaited from now on. */
    i->wev = event_new(l->base, i->fd, EV_WRITE, inst_room_cb, i);
    if (i->wev == NULL || event_del(i->ev) != 0 || event_add(i->ev, NULL) != 0) {
        inst_drop(l, i, "cannot watch its connection");
        return -1;
    }
    ofc_info("%s registered", i->name);
    schedule_drain(l);
    return 0;
}

static int inst_packet(struct lsnr *l, struct lsnr_inst *i, const char *text)
{
    i->last_heard = now_ms();
    if (!i->registered)
        return inst_hello(l, i, text);
    long long clients, max;
    const char *why = NULL;
    if (lsnr_parse_load(text, &clients, &max, &why) != 0) {
        inst_refuse(l, i, text, why);
        return -1;
    }
    if (i->silent_logged) {
        ofc_info("%s speaks again", i->name);
        i->silent_logged = false;
    }
    i->load = clients;
    i->max = max;
    i->sent = 0;
    ofc_debug("%s has %lld of at most %lld clients", i->name, clients, max);
    schedule_drain(l);
    return 0;
}

static void inst_cb(evutil_socket_t fd, short what, void *arg)
{
    struct lsnr_inst *i = arg;
    struct lsnr *l = i->owner;
    if (what & EV_TIMEOUT) {
        ofc_warn("%s said no HELLO within %d s", i->name, HELLO_TIMEOUT_S);
        inst_drop(l, i, "no HELLO");
        return;
    }
    /* Several packets may be waiting; stop at EAGAIN. */
    for (;;) {
        char buf[SPS_HANDOFF_MAX + 1];
        int pfd = -1;
        ssize_t n = sps_handoff_recv(fd, buf, sizeof(buf), &pfd);
        if (pfd >= 0) {
            /* Descriptors travel only towards the instances. */
            (void)close(pfd);
            inst_refuse(l, i, n > 0 ? buf : "", "unexpected descriptor");
            return;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0 && errno == EMSGSIZE) {
            inst_refuse(l, i, "(too long)", "packet longer than the protocol allows");
            return;
        }
        if (n <= 0) {
            inst_drop(l, i, n == 0 ? "connection closed" : strerror(errno));
            return;
        }
        if (inst_packet(l, i, buf) != 0)
            return;
    }
}

static void registration_cb(evutil_socket_t fd, short what, void *arg)
{
    struct lsnr *l = arg;
    for (;;) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                ofc_warn("cannot accept on the registration socket: %s", strerror(errno));
            return;
        }
        struct ucred cred;
        socklen_t clen = sizeof(cred);
        long peer_pid = getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0 ? cred.pid : 0;
        if (l->nconns >= MAX_CONNECTIONS) {
            ofc_warn("refusing a registration connection from pid %ld: %d connections already",
                     peer_pid, l->nconns);
            (void)close(cfd);
            continue;
        }
        struct lsnr_inst *i = ofc_xcalloc(1, sizeof(*i));
        i->owner = l;
        i->fd = cfd;
        i->name = ofc_xasprintf("registration connection from pid %ld", peer_pid);
        i->max = -1;
        i->last_heard = now_ms();
        i->ev = event_new(l->base, cfd, EV_READ | EV_PERSIST, inst_cb, i);
        const struct timeval tv = {.tv_sec = HELLO_TIMEOUT_S};
        if (i->ev == NULL || event_add(i->ev, &tv) != 0) {
            ofc_error("cannot watch a registration connection");
            if (i->ev != NULL)
                event_free(i->ev);
            (void)close(cfd);
            free(i->name);
            free(i);
            continue;
        }
        i->next = l->insts;
        if (l->insts != NULL)
            l->insts->prev = i;
        l->insts = i;
        l->nconns++;
        ofc_debug("%s", i->name);
    }
}

/* ---- clients -------------------------------------------------------- */

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
    int64_t now = now_ms();
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

static void refusals_flush(struct lsnr *l, int64_t now)
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
    int64_t now = now_ms();
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
        inst_drop(l, i, why_gone);
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

static void handle_client(struct lsnr *l, const struct lsnr_port *p, int cfd,
                          const struct sockaddr_storage *ss, socklen_t sslen)
{
    struct client *c = ofc_xcalloc(1, sizeof(*c));
    c->port = p;
    c->fd = cfd;
    c->since = now_ms();
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
        /* Room, or another instance, wakes the queue up (inst_room_cb, HELLO, LOAD, tick). */
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
static void expire_waiting(struct lsnr *l, int64_t now)
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

static void drain_cb(evutil_socket_t fd, short what, void *arg)
{
    struct lsnr *l = arg;
    for (int k = 0; k < LSNR_NPROTO; k++)
        drain(l, (enum lsnr_proto)k);
}

static void inst_room_cb(evutil_socket_t fd, short what, void *arg)
{
    struct lsnr_inst *i = arg;
    drain(i->owner, i->hello.proto);
}

static void pause_accepting(struct lsnr *l)
{
    if (l->paused)
        return;
    l->paused = true;
    l->paused_until = now_ms() + ACCEPT_PAUSE_MS;
    for (int k = 0; k < LSNR_NPORTS; k++)
        if (l->ports[k].ev != NULL)
            (void)event_del(l->ports[k].ev);
}

static void resume_accepting(struct lsnr *l)
{
    l->paused = false;
    for (int k = 0; k < LSNR_NPORTS; k++)
        if (l->ports[k].ev != NULL && event_add(l->ports[k].ev, NULL) != 0)
            ofc_error("cannot watch the %s port again", l->ports[k].port.name);
}

static void port_cb(evutil_socket_t fd, short what, void *arg)
{
    struct port_ev *pe = arg;
    for (int n = 0; n < ACCEPT_BATCH; n++) {
        struct sockaddr_storage ss;
        socklen_t sslen = sizeof(ss);
        /* Blocking, as instances expect a socket fresh from accept(2); close-on-exec is ours. */
        int cfd = accept4(fd, (struct sockaddr *)&ss, &sslen, SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            ofc_error("cannot accept on the %s port %d: %s%s", pe->port.name, pe->port.port,
                      strerror(errno),
                      errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM
                          ? "; accepting again in a second"
                          : "");
            pause_accepting(pe->l);
            return;
        }
        handle_client(pe->l, &pe->port, cfd, &ss, sslen);
    }
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct lsnr *l = arg;
    int64_t now = now_ms();
    if (l->paused && now >= l->paused_until)
        resume_accepting(l);
    expire_waiting(l, now);
    refusals_flush(l, now);
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    struct lsnr *l = arg;
    (void)event_base_loopbreak(l->base);
}

/* ---- start and stop ------------------------------------------------- */

static void *loop_main(void *arg)
{
    struct lsnr *l = arg;
    int rc = event_base_dispatch(l->base);
    if (!event_base_got_break(l->base)) {
        ofc_error("the event loop ended (%d); no more clients are accepted", rc);
        atomic_store(&l->failed, true);
    }
    return NULL;
}

static void free_all(struct lsnr *l)
{
    for (int k = 0; k < LSNR_NPORTS; k++) {
        if (l->ports[k].ev != NULL)
            event_free(l->ports[k].ev);
        if (l->ports[k].port.fd >= 0)
            (void)close(l->ports[k].port.fd);
    }
    if (l->reg_ev != NULL)
        event_free(l->reg_ev);
    if (l->reg_fd >= 0) {
        (void)close(l->reg_fd);
        /* Instances see the socket gone and wait for the next listener. */
        if (unlink(l->sock_path) != 0 && errno != ENOENT)
            ofc_warn("cannot remove %s: %s", l->sock_path, strerror(errno));
    }
    int nclients = 0;
    for (int k = 0; k < LSNR_NPROTO; k++) {
        while (l->waiting[k].head != NULL) {
            struct client *c = l->waiting[k].head;
            l->waiting[k].head = c->next;
            client_free(c);
            nclients++;
        }
    }
    l->nwaiting = 0;
    if (nclients > 0)
        ofc_warn("%d waiting client(s) closed: the listener stops", nclients);
    int n = 0;
    for (; l->insts != NULL; n++)
        inst_drop(l, l->insts, "the listener stops");
    ofc_info("listening sockets closed; %d registration connection(s) closed", n);
    if (l->tick_ev != NULL)
        event_free(l->tick_ev);
    if (l->drain_ev != NULL)
        event_free(l->drain_ev);
    if (l->stop_ev != NULL)
        event_free(l->stop_ev);
    for (int k = 0; k < 2; k++)
        if (l->stop_pipe[k] >= 0)
            (void)close(l->stop_pipe[k]);
    for (int k = 0; k < LSNR_NPROTO; k++)
        free(l->refusals[k].last_reason);
    if (l->base != NULL)
        event_base_free(l->base);
    free(l->sock_path);
    free(l);
}

static int watch(struct lsnr *l, struct event **ev_r, int fd, short what, event_callback_fn cb,
                 void *arg, const struct timeval *tv)
{
    *ev_r = event_new(l->base, fd, what, cb, arg);
    return *ev_r != NULL && event_add(*ev_r, tv) == 0 ? 0 : -1;
}

struct lsnr *lsnr_start(struct lsnr_port ports[LSNR_NPORTS], int reg_fd, const char *sock_path)
{
    struct lsnr *l = ofc_xcalloc(1, sizeof(*l));
    for (int k = 0; k < LSNR_NPORTS; k++) {
        l->ports[k].l = l;
        l->ports[k].port = ports[k];
        ports[k].fd = -1;
    }
    l->reg_fd = reg_fd;
    l->sock_path = ofc_xstrdup(sock_path);
    l->stop_pipe[0] = l->stop_pipe[1] = -1;
    if (pipe2(l->stop_pipe, O_CLOEXEC) != 0) {
        ofc_error("cannot create the stop pipe: %s", strerror(errno));
        free_all(l);
        return NULL;
    }
    l->base = event_base_new();
    if (l->base == NULL) {
        ofc_error("cannot create the event base");
        free_all(l);
        return NULL;
    }
    const struct timeval second = {.tv_sec = 1};
    int rc = watch(l, &l->stop_ev, l->stop_pipe[0], EV_READ, stop_cb, l, NULL);
    if (rc == 0)
        rc = watch(l, &l->tick_ev, -1, EV_PERSIST, tick_cb, l, &second);
    if (rc == 0) {
        /* Never added: only activated by schedule_drain. */
        l->drain_ev = event_new(l->base, -1, 0, drain_cb, l);
        rc = l->drain_ev != NULL ? 0 : -1;
    }
    if (rc == 0)
        rc = watch(l, &l->reg_ev, reg_fd, EV_READ | EV_PERSIST, registration_cb, l, NULL);
    for (int k = 0; rc == 0 && k < LSNR_NPORTS; k++)
        if (l->ports[k].port.fd >= 0)
            rc = watch(l, &l->ports[k].ev, l->ports[k].port.fd, EV_READ | EV_PERSIST, port_cb,
                       &l->ports[k], NULL);
    if (rc != 0) {
        ofc_error("cannot set up the event loop");
        free_all(l);
        return NULL;
    }
    /* Signals belong to the lifecycle's thread. */
    sigset_t all, old;
    (void)sigfillset(&all);
    (void)pthread_sigmask(SIG_BLOCK, &all, &old);
    int err = pthread_create(&l->thread, NULL, loop_main, l);
    (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0) {
        ofc_error("cannot start the event loop thread: %s", strerror(err));
        free_all(l);
        return NULL;
    }
    return l;
}

bool lsnr_failed(struct lsnr *l)
{
    return atomic_load(&l->failed);
}

void lsnr_stop(struct lsnr **lp)
{
    struct lsnr *l = *lp;
    if (l == NULL)
        return;
    ssize_t w;
    do
        w = write(l->stop_pipe[1], "x", 1);
    while (w < 0 && errno == EINTR);
    *lp = NULL;
    if (w != 1) {
        /* The thread still uses everything: leave it to the exit. */
        ofc_error("cannot stop the event loop: %s", strerror(errno));
        return;
    }
    (void)pthread_join(l->thread, NULL);
    free_all(l);
}
