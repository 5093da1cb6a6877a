/*
 * loop.c - iolistener's event loop: accepts clients on the four ports and
 * passes each to handoff.c, which hands it to a protocol server instance;
 * instances.c keeps the registry of those instances from what they say on
 * the registration socket (see sps_handoff.h for the words).
 *
 * The loop runs in its own thread with one libevent base that only this
 * thread touches; the lifecycle's thread (heartbeat, refresh, SIGTERM)
 * stops it through a pipe and frees everything after joining it.
 */
/* System. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
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

/* This program. */
#include "lsnr.h"

/* Clients accepted per wake-up of one port, so that the others get their turn. */
#define ACCEPT_BATCH 64
/* Out of descriptors: accepting stops this long instead of spinning. */
#define ACCEPT_PAUSE_MS 1000

int64_t lsnr_now_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- accepting ----------------------------------------------------- */

static void pause_accepting(struct lsnr *l)
{
    if (l->paused)
        return;
    l->paused = true;
    l->paused_until = lsnr_now_ms() + ACCEPT_PAUSE_MS;
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
        lsnr_handle_client(pe->l, &pe->port, cfd, &ss, sslen);
    }
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct lsnr *l = arg;
    int64_t now = lsnr_now_ms();
    if (l->paused && now >= l->paused_until)
        resume_accepting(l);
    lsnr_expire_waiting(l, now);
    lsnr_refusals_flush(l, now);
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
    lsnr_handoff_free(l);
    int n = 0;
    for (; l->insts != NULL; n++)
        lsnr_inst_drop(l, l->insts, "the listener stops");
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
        /* Never added: only activated by lsnr_schedule_drain. */
        l->drain_ev = event_new(l->base, -1, 0, lsnr_drain_cb, l);
        rc = l->drain_ev != NULL ? 0 : -1;
    }
    if (rc == 0)
        rc = watch(l, &l->reg_ev, reg_fd, EV_READ | EV_PERSIST, lsnr_registration_cb, l, NULL);
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
