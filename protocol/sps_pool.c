/*
 * sps_pool.c - worker threads and the pool of database connections.
 *
 * A worker takes the oldest queued job together with a free handle, in
 * one step under pool_lock, so that jobs get connections in FIFO order
 * whatever the numbers of workers and handles. The finished job goes to
 * the done list and the loop is woken with event_active().
 */
/* System. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* Libraries. */
#include <event2/buffer.h>
#include <event2/event.h>

/* libofc. */
#include "ofc_db.h"
#include "ofc_log.h"
#include "ofc_mem.h"

/* Protocol. */
#include "sps_internal.h"

/* How long a job waits for a lost connection to come back. */
#define RECONNECT_WAIT_MS 15000

static int free_handle(struct sps *sps)
{
    for (int i = 0; i < sps->ndbs; i++)
        if (!sps->db_busy[i])
            return i;
    return -1;
}

static void *worker_main(void *arg)
{
    struct sps *sps = arg;
    pthread_mutex_lock(&sps->pool_lock);
    for (;;) {
        int h;
        while ((sps->queue == NULL || (h = free_handle(sps)) < 0) && !sps->workers_exit)
            pthread_cond_wait(&sps->pool_cond, &sps->pool_lock);
        if (sps->queue == NULL || (h = free_handle(sps)) < 0)
            break; /* workers_exit with nothing left to run */
        struct sps_job_entry *e = sps->queue;
        sps->queue = e->next;
        if (sps->queue == NULL)
            sps->queue_tail = NULL;
        e->next = NULL;
        sps->queued--;
        sps->busy++;
        sps->db_busy[h] = true;
        struct ofc_db *db = sps->dbs[h];
        pthread_mutex_unlock(&sps->pool_lock);

        /*
         * A session the server ended while the handle sat in the pool
         * (restart, pg_terminate_backend) has left an EOF on the socket:
         * reading it now marks the handle lost, so that the job gets a new
         * session instead of an error. A failure to reconnect leaves the
         * handle unconnected: fn's statements then fail (08003).
         */
        /* (The first read may take the server's goodbye, the second the EOF.) */
        for (int i = 0; i < 2 && ofc_db_connected(db); i++)
            if (PQconsumeInput(ofc_db_conn(db)) == 0)
                break;
        if (!ofc_db_connected(db) && ofc_db_ensure(db, &sps->stop, RECONNECT_WAIT_MS) != 0)
            ofc_warn("job runs without a database connection: %s", ofc_db_error(db));
        e->job.db = db;
        e->fn(&e->job);
        e->job.db = NULL;

        pthread_mutex_lock(&sps->pool_lock);
        sps->db_busy[h] = false;
        sps->busy--;
        if (sps->done_tail != NULL)
            sps->done_tail->next = e;
        else
            sps->done = e;
        sps->done_tail = e;
        /* The freed handle may let another worker start. */
        pthread_cond_broadcast(&sps->pool_cond);
        if (sps->ev_done != NULL)
            event_active(sps->ev_done, 0, 0);
    }
    pthread_mutex_unlock(&sps->pool_lock);
    return NULL;
}

static int start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(t, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        ofc_error("cannot start a thread: %s", strerror(rc));
        return -1;
    }
    return 0;
}

int sps_pool_start(struct sps *sps, int ndbs, int nworkers)
{
    pthread_mutex_init(&sps->pool_lock, NULL);
    pthread_cond_init(&sps->pool_cond, NULL);
    pthread_cond_init(&sps->flush_cond, NULL);
    sps->dbs = ofc_xcalloc((size_t)ndbs, sizeof(*sps->dbs));
    sps->db_busy = ofc_xcalloc((size_t)ndbs, sizeof(*sps->db_busy));
    sps->ndbs = ndbs;
    for (int i = 0; i < ndbs; i++) {
        sps->dbs[i] = ofc_db_new(sps->conninfo, sps->appname);
        ofc_db_set_stop_flag(sps->dbs[i], &sps->stop);
        char *error = NULL;
        /* Connected now, so that protocol->init's statements are checked at once. */
        if (ofc_db_connect(sps->dbs[i], &error) != 0) {
            ofc_warn("pool connection %d: %s (retried when a job needs it)", i + 1, error);
            free(error);
        }
    }
    sps->workers = ofc_xcalloc((size_t)nworkers, sizeof(*sps->workers));
    for (int i = 0; i < nworkers; i++) {
        if (start_thread(&sps->workers[i], worker_main, sps) != 0)
            return -1;
        sps->nworkers++;
    }
    return 0;
}

int sps_prepare(struct sps *sps, const char *name, const char *sql, int nparams)
{
    /* protocol->init runs before any job: no handle is in use. */
    int rc = 0;
    pthread_mutex_lock(&sps->pool_lock);
    for (int i = 0; i < sps->ndbs && rc == 0; i++) {
        if (ofc_db_prepare(sps->dbs[i], name, sql, nparams) != 0) {
            ofc_error("cannot prepare %s: %s", name, ofc_db_error(sps->dbs[i]));
            rc = -1;
        }
    }
    pthread_mutex_unlock(&sps->pool_lock);
    return rc;
}

void sps_pool_submit(struct sps *sps, struct sps_job_entry *e)
{
    e->next = NULL;
    pthread_mutex_lock(&sps->pool_lock);
    if (sps->queue_tail != NULL)
        sps->queue_tail->next = e;
    else
        sps->queue = e;
    sps->queue_tail = e;
    sps->queued++;
    sps->in_flight++;
    pthread_cond_signal(&sps->pool_cond);
    pthread_mutex_unlock(&sps->pool_lock);
}

void sps_pool_take_done(struct sps *sps, struct sps_job_entry **list_r)
{
    pthread_mutex_lock(&sps->pool_lock);
    *list_r = sps->done;
    for (struct sps_job_entry *e = sps->done; e != NULL; e = e->next)
        sps->in_flight--;
    sps->done = sps->done_tail = NULL;
    pthread_mutex_unlock(&sps->pool_lock);
}

void sps_pool_stats(struct sps *sps, int *size, int *busy, int *queued, int *in_flight)
{
    if (sps->dbs == NULL)
        return;
    pthread_mutex_lock(&sps->pool_lock);
    *size = sps->ndbs;
    *busy = sps->busy;
    *queued = sps->queued;
    *in_flight = sps->in_flight;
    pthread_mutex_unlock(&sps->pool_lock);
}

/*
 * After the loop stopped: every job has finished (the loop waited for
 * them), so the workers only need to be told to leave.
 */
void sps_pool_stop(struct sps *sps)
{
    if (sps->dbs == NULL)
        return;
    pthread_mutex_lock(&sps->pool_lock);
    sps->workers_exit = true;
    pthread_cond_broadcast(&sps->pool_cond);
    pthread_mutex_unlock(&sps->pool_lock);
    for (int i = 0; i < sps->nworkers; i++)
        pthread_join(sps->workers[i], NULL);
    free(sps->workers);
    sps->workers = NULL;
    /* Jobs the loop never collected (it did not run): their clients are gone too. */
    struct sps_job_entry *lists[2] = {sps->queue, sps->done};
    for (int l = 0; l < 2; l++) {
        while (lists[l] != NULL) {
            struct sps_job_entry *e = lists[l];
            lists[l] = e->next;
            evbuffer_free(e->job.out);
            free(e);
        }
    }
    for (int i = 0; i < sps->ndbs; i++)
        ofc_db_free(&sps->dbs[i]);
    free(sps->dbs);
    free(sps->db_busy);
    sps->dbs = NULL;
    pthread_cond_destroy(&sps->pool_cond);
    pthread_cond_destroy(&sps->flush_cond);
    pthread_mutex_destroy(&sps->pool_lock);
}

int sps_thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
    return start_thread(t, fn, arg);
}

int sps_job_flush(struct sps_job *job)
{
    struct sps_job_entry *e = (struct sps_job_entry *)job;
    struct sps *sps = e->client->sps; /* never changes: safe to read here */
    pthread_mutex_lock(&sps->pool_lock);
    if (!e->client_gone && evbuffer_get_length(job->out) > 0) {
        if (e->flushing == NULL && (e->flushing = evbuffer_new()) == NULL)
            ofc_panic("out of memory for a job's output");
        if (evbuffer_add_buffer(e->flushing, job->out) != 0)
            ofc_panic("out of memory for a job's output");
        if (!e->flush_queued) {
            e->flush_queued = true;
            e->flush_next = sps->flush_list;
            sps->flush_list = e;
        }
        e->flush_blocked = true;
        event_active(sps->ev_flush, 0, 0);
        while (e->flush_blocked && !e->client_gone)
            pthread_cond_wait(&sps->flush_cond, &sps->pool_lock);
    }
    bool gone = e->client_gone;
    pthread_mutex_unlock(&sps->pool_lock);
    if (gone)
        (void)evbuffer_drain(job->out, evbuffer_get_length(job->out));
    return gone ? -1 : 0;
}
