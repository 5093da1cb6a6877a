/*
 * instances.c - the registration socket: protocol server instances
 * connect, say HELLO once and LOAD every few seconds (see sps_handoff.h
 * for the words); what they say keeps their entry in the registry that
 * lsnr_choose picks from.
 *
 * An instance that says something else, or sends a descriptor, is told
 * ERR and closed: it reconnects and registers afresh, which is simpler
 * and safer than guessing what it meant.
 */
/* System. */
#include <errno.h>
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

/* An instance that has not said HELLO within this time is closed. */
#define HELLO_TIMEOUT_S 10
/* Registration connections at once; more is a runaway, not a node. */
#define MAX_CONNECTIONS 1024

void lsnr_inst_drop(struct lsnr *l, struct lsnr_inst *i, const char *why)
{
    if (i->registered) {
        ofc_info("%s is gone: %s", i->name, why);
        /* Clients waiting for it may have nowhere else to go: they hear so at once. */
        lsnr_schedule_drain(l);
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
    lsnr_inst_drop(l, i, "protocol error");
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
        lsnr_inst_drop(l, i, strerror(errno));
        return -1;
    }
    i->registered = true;
    i->hello = h;
    free(i->name);
    i->name = ofc_xasprintf("%s process %lld instance %d (pid %ld)", lsnr_proto_type(h.proto),
                            h.process_id, h.instance, h.pid);
    i->max = -1;
    /* The HELLO deadline is over; room in its socket may be awaited from now on. */
    i->wev = event_new(l->base, i->fd, EV_WRITE, lsnr_inst_room_cb, i);
    if (i->wev == NULL || event_del(i->ev) != 0 || event_add(i->ev, NULL) != 0) {
        lsnr_inst_drop(l, i, "cannot watch its connection");
        return -1;
    }
    ofc_info("%s registered", i->name);
    lsnr_schedule_drain(l);
    return 0;
}

static int inst_packet(struct lsnr *l, struct lsnr_inst *i, const char *text)
{
    i->last_heard = lsnr_now_ms();
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
    lsnr_schedule_drain(l);
    return 0;
}

static void inst_cb(evutil_socket_t fd, short what, void *arg)
{
    struct lsnr_inst *i = arg;
    struct lsnr *l = i->owner;
    if (what & EV_TIMEOUT) {
        ofc_warn("%s said no HELLO within %d s", i->name, HELLO_TIMEOUT_S);
        lsnr_inst_drop(l, i, "no HELLO");
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
            lsnr_inst_drop(l, i, n == 0 ? "connection closed" : strerror(errno));
            return;
        }
        if (inst_packet(l, i, buf) != 0)
            return;
    }
}

void lsnr_registration_cb(evutil_socket_t fd, short what, void *arg)
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
        i->last_heard = lsnr_now_ms();
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
