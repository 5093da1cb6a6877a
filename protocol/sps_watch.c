/*
 * sps_watch.c - mailbox change notifications for watching clients.
 *
 * One connection of the process LISTENs on ofc_mailbox (store_mailbox.h:
 * payload = mailbox id) in a thread of its own; ids go to the loop, which
 * calls the watchers of each mailbox. Clients watching a mailbox sit in a
 * small hash table by mailbox id (intrusive lists, loop thread only).
 *
 * Notifications sent while the connection was down are lost, so after a
 * reconnect every watcher is called once (the mailbox may have changed).
 */
/* System. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Libraries. */
#include <event2/event.h>

/* libofc. */
#include "ofc_db.h"
#include "ofc_log.h"
#include "ofc_mem.h"

/* Protocol. */
#include "sps_internal.h"

#define CHANNEL "ofc_mailbox"
/* Stands for "every mailbox" in the id list: after a reconnect. */
#define WATCH_ALL (-1LL)

static void push_id(struct sps *sps, long long id)
{
    pthread_mutex_lock(&sps->watch_lock);
    if (sps->nwatch_ids == sps->watch_cap) {
        sps->watch_cap = sps->watch_cap == 0 ? 16 : sps->watch_cap * 2;
        sps->watch_ids = ofc_xrealloc(sps->watch_ids, sps->watch_cap * sizeof(*sps->watch_ids));
    }
    sps->watch_ids[sps->nwatch_ids++] = id;
    pthread_mutex_unlock(&sps->watch_lock);
}

static void *watch_main(void *arg)
{
    struct sps *sps = arg;
    struct ofc_db *db = sps->watch_db;
    bool was_connected = ofc_db_connected(db);
    while (!sps->stop) {
        if (!ofc_db_connected(db)) {
            if (ofc_db_ensure(db, &sps->stop, -1) != 0)
                break;
            if (was_connected) {
                push_id(sps, WATCH_ALL);
                event_active(sps->ev_watch, 0, 0);
            }
            was_connected = true;
        }
        int rc = ofc_db_wait(db, 5000);
        char buf[16];
        while (read(sps->watch_pipe[0], buf, sizeof(buf)) > 0)
            continue;
        if (rc < 0)
            continue;
        bool any = false;
        PGnotify *n;
        while ((n = ofc_db_next_notify(db)) != NULL) {
            char *end = NULL;
            errno = 0;
            long long id = strtoll(n->extra != NULL ? n->extra : "", &end, 10);
            if (errno == 0 && end != n->extra && *end == '\0' && id > 0) {
                push_id(sps, id);
                any = true;
            }
            PQfreemem(n);
        }
        if (any)
            event_active(sps->ev_watch, 0, 0);
    }
    return NULL;
}

int sps_watch_start(struct sps *sps)
{
    pthread_mutex_init(&sps->watch_lock, NULL);
    if (pipe2(sps->watch_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
        ofc_error("cannot create a pipe: %s", strerror(errno));
        return -1;
    }
    sps->watch_db = ofc_db_new(sps->conninfo, sps->appname);
    ofc_db_set_stop_flag(sps->watch_db, &sps->stop);
    ofc_db_set_wake_fd(sps->watch_db, sps->watch_pipe[0]);
    if (ofc_db_listen(sps->watch_db, CHANNEL) != 0) {
        ofc_error("cannot listen on %s: %s", CHANNEL, ofc_db_error(sps->watch_db));
        return -1;
    }
    char *error = NULL;
    if (ofc_db_connect(sps->watch_db, &error) != 0) {
        ofc_warn("mailbox notifications: %s (retrying)", error);
        free(error);
    }
    return 0;
}

/* Called once the loop is gone (ev_watch is still allocated until sps_loop_free). */
void sps_watch_stop(struct sps *sps)
{
    if (sps->watch_db == NULL)
        return;
    if (sps->watch_started) {
        sps->stop = 1;
        ssize_t ignored = write(sps->watch_pipe[1], "", 1);
        (void)ignored;
        pthread_join(sps->watch_thread, NULL);
        sps->watch_started = false;
    }
    ofc_db_free(&sps->watch_db);
    for (int i = 0; i < 2; i++)
        if (sps->watch_pipe[i] >= 0)
            (void)close(sps->watch_pipe[i]);
    free(sps->watch_ids);
    sps->watch_ids = NULL;
    pthread_mutex_destroy(&sps->watch_lock);
}

/* The thread starts after the loop's events exist. */
int sps_watch_thread_start(struct sps *sps)
{
    if (sps_thread_start(&sps->watch_thread, watch_main, sps) != 0)
        return -1;
    sps->watch_started = true;
    return 0;
}

static unsigned bucket(long long id)
{
    return (unsigned)((unsigned long long)id % SPS_WATCH_BUCKETS);
}

void sps_watch_remove(struct sps_client *c)
{
    if (c->watch_id == 0)
        return;
    struct sps *sps = c->sps;
    if (c->watch_prev != NULL)
        c->watch_prev->watch_next = c->watch_next;
    else
        sps->watch[bucket(c->watch_id)] = c->watch_next;
    if (c->watch_next != NULL)
        c->watch_next->watch_prev = c->watch_prev;
    c->watch_next = c->watch_prev = NULL;
    c->watch_id = 0;
    c->watch_fn = NULL;
}

void sps_client_watch_mailbox(struct sps_client *c, long long mailbox_id, sps_watch_fn *fn)
{
    sps_watch_remove(c);
    if (mailbox_id <= 0 || fn == NULL || c->closing)
        return;
    struct sps *sps = c->sps;
    unsigned b = bucket(mailbox_id);
    c->watch_id = mailbox_id;
    c->watch_fn = fn;
    c->watch_prev = NULL;
    c->watch_next = sps->watch[b];
    if (c->watch_next != NULL)
        c->watch_next->watch_prev = c;
    sps->watch[b] = c;
}

static void notify_one(struct sps_client *c)
{
    if (c->closing || c->watch_fn == NULL)
        return;
    c->watch_fn(c, c->state, c->watch_id);
    sps_client_kick(c);
}

void sps_watch_dispatch(struct sps *sps)
{
    pthread_mutex_lock(&sps->watch_lock);
    long long *ids = sps->watch_ids;
    size_t n = sps->nwatch_ids;
    sps->watch_ids = NULL;
    sps->nwatch_ids = sps->watch_cap = 0;
    pthread_mutex_unlock(&sps->watch_lock);
    for (size_t i = 0; i < n; i++) {
        if (ids[i] == WATCH_ALL) {
            for (unsigned b = 0; b < SPS_WATCH_BUCKETS; b++) {
                struct sps_client *next;
                for (struct sps_client *c = sps->watch[b]; c != NULL; c = next) {
                    next = c->watch_next;
                    notify_one(c);
                }
            }
            continue;
        }
        struct sps_client *next;
        for (struct sps_client *c = sps->watch[bucket(ids[i])]; c != NULL; c = next) {
            next = c->watch_next;
            if (c->watch_id == ids[i])
                notify_one(c);
        }
    }
    free(ids);
}
