/*
 * sps_loop.c - the event-loop thread: the iolistener connection, the
 * timers, and the events other threads raise (jobs done, mailbox changes,
 * refresh, stop).
 *
 * The listener connection follows sps_handoff.h: HELLO, wait for OK, then
 * LOAD when the client count changes (at most every 100 ms) and every 5 s,
 * and take CLIENT packets with their descriptor. When the listener is
 * absent or goes away the instance tries again every second; clients
 * already handed over are not affected.
 */
/* System. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Libraries. */
#include <event2/event.h>

/* libofc. */
#include "ofc_log.h"
#include "ofc_mem.h"
#include "ofc_proc.h"

/* Protocol. */
#include "sps_handoff.h"
#include "sps_internal.h"

#define RETRY_MS         1000
#define LOAD_MIN_MS      100
#define LOAD_PERIODIC_MS 5000

static struct timeval tv_ms(int64_t ms)
{
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    return tv;
}

/* ---- the listener connection ------------------------------------------ */

static void hand_schedule_retry(struct sps *sps)
{
    if (sps->stopping)
        return;
    struct timeval tv = tv_ms(RETRY_MS);
    (void)evtimer_add(sps->ev_hand_retry, &tv);
}

static void hand_close(struct sps *sps)
{
    if (sps->ev_hand_read != NULL) {
        event_free(sps->ev_hand_read);
        sps->ev_hand_read = NULL;
    }
    if (sps->hand_fd >= 0)
        (void)close(sps->hand_fd);
    sps->hand_fd = -1;
    sps->hand_registered = false;
}

static void hand_down(struct sps *sps, const char *why)
{
    /* Once per outage: a listener that keeps refusing would fill the log. */
    if (sps->hand_registered)
        ofc_warn("iolistener connection lost (%s); reconnecting every second", why);
    else if (!sps->hand_logged_down)
        ofc_warn("iolistener connection failed (%s); retrying every second", why);
    sps->hand_logged_down = true;
    hand_close(sps);
    hand_schedule_retry(sps);
}

static void send_load(struct sps *sps)
{
    if (!sps->hand_registered)
        return;
    char text[64];
    int clients = atomic_load(&sps->n_clients);
    long long max = sps_param_int(sps, "MaxClients", 5000);
    (void)snprintf(text, sizeof(text), "LOAD %d %lld", clients, max);
    if (sps_handoff_send(sps->hand_fd, text, -1) != 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return; /* the listener is busy: the next LOAD says the same */
        hand_down(sps, strerror(errno));
        return;
    }
    sps->load_sent_ms = sps_now_ms();
    sps->load_sent_clients = clients;
    sps->load_sent_max = max;
}

void sps_loop_load_changed(struct sps *sps)
{
    if (!sps->hand_registered || evtimer_pending(sps->ev_load, NULL))
        return;
    int64_t wait = sps->load_sent_ms + LOAD_MIN_MS - sps_now_ms();
    struct timeval tv = tv_ms(wait > 0 ? wait : 0);
    (void)evtimer_add(sps->ev_load, &tv);
}

static void on_load(evutil_socket_t fd, short what, void *arg)
{
    struct sps *sps = arg;
    (void)fd;
    (void)what;
    if (atomic_load(&sps->n_clients) != sps->load_sent_clients ||
        sps_param_int(sps, "MaxClients", 5000) != sps->load_sent_max)
        send_load(sps);
}

static void on_load_periodic(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    send_load(arg);
}

/* "CLIENT <tls> <local port> <peer address> <peer port>" with a descriptor. */
static void take_client(struct sps *sps, char *text, int fd)
{
    char *save = NULL;
    char *word[6] = {NULL};
    int n = 0;
    for (char *w = strtok_r(text, " ", &save); w != NULL && n < 6; w = strtok_r(NULL, " ", &save))
        word[n++] = w;
    if (n != 5 || (strcmp(word[1], "0") != 0 && strcmp(word[1], "1") != 0) ||
        strspn(word[4], "0123456789") != strlen(word[4]) || strlen(word[4]) > 5) {
        ofc_warn("iolistener sent a malformed CLIENT packet; client dropped");
        (void)close(fd);
        return;
    }
    char *peer = strchr(word[3], ':') != NULL ? ofc_xasprintf("[%s]:%s", word[3], word[4])
                                              : ofc_xasprintf("%s:%s", word[3], word[4]);
    sps_client_accept(sps, fd, word[1][0] == '1', peer);
    free(peer);
}

static void on_hand_read(evutil_socket_t sock, short what, void *arg)
{
    struct sps *sps = arg;
    (void)what;
    char buf[SPS_HANDOFF_MAX + 1];
    for (;;) {
        int fd = -1;
        ssize_t n = sps_handoff_recv(sock, buf, sizeof(buf), &fd);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EMSGSIZE) {
                ofc_warn("iolistener sent an oversized packet; ignored");
                continue;
            }
            hand_down(sps, strerror(errno));
            return;
        }
        if (n == 0) {
            hand_down(sps, "closed by iolistener");
            return;
        }
        if (!sps->hand_registered) {
            if (fd >= 0)
                (void)close(fd);
            if (strcmp(buf, "OK") == 0) {
                sps->hand_registered = true;
                sps->hand_logged_down = false;
                ofc_info("registered with iolistener for %s", sps->protocol->protocol);
                send_load(sps);
                continue;
            }
            hand_down(sps, buf); /* "ERR <reason>" */
            return;
        }
        if (strncmp(buf, "CLIENT ", 7) == 0 && fd >= 0) {
            take_client(sps, buf, fd);
            continue;
        }
        if (fd >= 0)
            (void)close(fd);
        ofc_warn("iolistener sent an unexpected packet; ignored");
    }
}

static void hand_connect(struct sps *sps)
{
    char *path = sps_handoff_path(ofc_proc_config(sps->proc));
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        if (!sps->hand_logged_down)
            ofc_error("iolistener socket path too long: %s", path);
        sps->hand_logged_down = true;
        free(path);
        hand_schedule_retry(sps);
        return;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        if (!sps->hand_logged_down)
            ofc_info("iolistener not reachable at %s (%s); retrying every second", path,
                     strerror(errno));
        sps->hand_logged_down = true;
        if (fd >= 0)
            (void)close(fd);
        free(path);
        hand_schedule_retry(sps);
        return;
    }
    free(path);
    sps->hand_fd = fd;
    char hello[SPS_HANDOFF_MAX];
    (void)snprintf(hello, sizeof(hello), "HELLO %s %lld %d %ld", sps->protocol->protocol,
                   ofc_proc_id(sps->proc), ofc_proc_instance(sps->proc), (long)getpid());
    if (sps_handoff_send(fd, hello, -1) != 0) {
        hand_down(sps, strerror(errno));
        return;
    }
    sps->ev_hand_read = event_new(sps->base, fd, EV_READ | EV_PERSIST, on_hand_read, sps);
    if (sps->ev_hand_read == NULL || event_add(sps->ev_hand_read, NULL) != 0) {
        hand_down(sps, "cannot watch the socket");
        return;
    }
}

static void on_hand_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sps *sps = arg;
    if (!sps->stopping && sps->hand_fd < 0)
        hand_connect(sps);
}

/* ---- events from other threads ------------------------------------------ */

static void on_done(evutil_socket_t fd, short what, void *arg)
{
    struct sps *sps = arg;
    (void)fd;
    (void)what;
    struct sps_job_entry *list = NULL;
    sps_pool_take_done(sps, &list);
    while (list != NULL) {
        struct sps_job_entry *e = list;
        list = e->next;
        sps_client_job_finished(e);
    }
    if (sps->stopping)
        sps_loop_check_stop(sps);
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sps_clients_take_flushes(arg);
}

static void on_watch(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sps_watch_dispatch(arg);
}

static void on_refresh(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sps_tls_reload(arg);
    send_load(arg);
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    struct sps *sps = arg;
    (void)fd;
    (void)what;
    sps_clients_sweep(sps, sps_now_ms());
    if (sps->stopping)
        sps_loop_check_stop(sps);
}

/*
 * The loop ends when every client is gone and every job has come back;
 * after the flush time, clients still writing are cut off.
 */
void sps_loop_check_stop(struct sps *sps)
{
    if (sps_now_ms() >= sps->stop_deadline_ms)
        sps_clients_force_close(sps);
    int size = 0, busy = 0, queued = 0, in_flight = 0;
    sps_pool_stats(sps, &size, &busy, &queued, &in_flight);
    if (sps->clients == NULL && in_flight == 0)
        (void)event_base_loopbreak(sps->base);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    struct sps *sps = arg;
    (void)fd;
    (void)what;
    sps->stopping = true;
    sps->stop_deadline_ms = sps_now_ms() + SPS_STOP_FLUSH_MS;
    hand_close(sps);
    (void)evtimer_del(sps->ev_hand_retry);
    (void)evtimer_del(sps->ev_load);
    (void)evtimer_del(sps->ev_load_periodic);
    int n = atomic_load(&sps->n_clients);
    if (n > 0)
        ofc_info("stopping: saying goodbye to the clients (%d)", n);
    sps_clients_shutdown(sps);
    /* The sweep timer becomes the flush deadline's clock. */
    struct timeval tv = tv_ms(100);
    (void)event_del(sps->ev_sweep);
    (void)event_add(sps->ev_sweep, &tv);
    sps_loop_check_stop(sps);
}

static void *loop_main(void *arg)
{
    struct sps *sps = arg;
    (void)event_base_loop(sps->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

int sps_loop_start(struct sps *sps)
{
    sps->base = event_base_new();
    if (sps->base == NULL) {
        ofc_error("cannot create the event loop");
        return -1;
    }
    struct event_base *b = sps->base;
    sps->ev_done = event_new(b, -1, 0, on_done, sps);
    sps->ev_flush = event_new(b, -1, 0, on_flush, sps);
    sps->ev_stop = event_new(b, -1, 0, on_stop, sps);
    sps->ev_refresh = event_new(b, -1, 0, on_refresh, sps);
    sps->ev_watch = event_new(b, -1, 0, on_watch, sps);
    sps->ev_sweep = event_new(b, -1, EV_PERSIST, on_sweep, sps);
    sps->ev_hand_retry = evtimer_new(b, on_hand_retry, sps);
    sps->ev_load = evtimer_new(b, on_load, sps);
    sps->ev_load_periodic = event_new(b, -1, EV_PERSIST, on_load_periodic, sps);
    if (sps->ev_done == NULL || sps->ev_flush == NULL || sps->ev_stop == NULL ||
        sps->ev_refresh == NULL || sps->ev_watch == NULL || sps->ev_sweep == NULL ||
        sps->ev_hand_retry == NULL || sps->ev_load == NULL || sps->ev_load_periodic == NULL) {
        ofc_error("cannot create the loop's events");
        return -1;
    }
    struct timeval sec = tv_ms(1000), load = tv_ms(LOAD_PERIODIC_MS), now = tv_ms(0);
    if (event_add(sps->ev_sweep, &sec) != 0 || event_add(sps->ev_load_periodic, &load) != 0 ||
        evtimer_add(sps->ev_hand_retry, &now) != 0) {
        ofc_error("cannot start the loop's timers");
        return -1;
    }
    if (sps_watch_thread_start(sps) != 0)
        return -1;
    if (sps_thread_start(&sps->loop_thread, loop_main, sps) != 0)
        return -1;
    sps->loop_started = true;
    return 0;
}

/* Main thread: farewells, flush, close, wait for the loop thread. */
void sps_loop_stop(struct sps *sps)
{
    if (!sps->loop_started)
        return;
    event_active(sps->ev_stop, 0, 0);
    pthread_join(sps->loop_thread, NULL);
    sps->loop_started = false;
}

void sps_loop_free(struct sps *sps)
{
    struct event **evs[] = {&sps->ev_done,  &sps->ev_stop,          &sps->ev_refresh,
                            &sps->ev_watch, &sps->ev_sweep,         &sps->ev_hand_retry,
                            &sps->ev_load,  &sps->ev_load_periodic, &sps->ev_flush};
    hand_close(sps);
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
        if (*evs[i] != NULL)
            event_free(*evs[i]);
        *evs[i] = NULL;
    }
    if (sps->base != NULL)
        event_base_free(sps->base);
    sps->base = NULL;
}
