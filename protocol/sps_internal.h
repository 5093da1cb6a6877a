/*
 * sps_internal.h - what the runtime's modules share (not for protocols).
 *
 * Threads and who owns what:
 *
 *   main thread   ofc_proc's loop: heartbeat and sps_status (work),
 *                 parameter refresh, start and stop.
 *   loop thread   the libevent base: the iolistener connection, every
 *                 client (bufferevents, protocol callbacks), timers. All
 *                 struct sps_client fields belong to it.
 *   workers       run jobs with a pooled handle; they touch only the job
 *                 (its evbuffer, its arg) and the pool under pool_lock.
 *   watch thread  LISTENs ofc_mailbox on its own connection and hands
 *                 mailbox ids to the loop.
 *
 * Cross-thread hand-offs go through a mutex-protected list plus
 * event_active() on an event of the loop (libevent is made thread-aware
 * with evthread_use_pthreads()).
 */
#ifndef SPS_INTERNAL_H
#define SPS_INTERNAL_H

/* System. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Libraries. */
#include <openssl/ssl.h>

/* Protocol. */
#include "sps.h"

struct event;
struct event_base;
struct bufferevent;

/* Output octets above which a client's input is no longer read. */
#define SPS_OUT_HIGH (1024 * 1024)
/* ... and below which it is read again. */
#define SPS_OUT_LOW (256 * 1024)
/* Seconds a closing client may take to accept its last output. */
#define SPS_CLOSE_FLUSH_S 10
/* Seconds a TLS handshake may take at most. */
#define SPS_HANDSHAKE_S 60
/* Milliseconds the stop waits for farewells to be written. */
#define SPS_STOP_FLUSH_MS 2000

/* A snapshot of the effective parameters (name, value), any thread. */
struct sps_param {
    char *name;
    char *value;
};

struct sps_job_entry {
    struct sps_job job; /* first: sps_job_flush() finds its entry from it */
    struct sps_client *client;
    sps_job_fn *fn;
    sps_done_fn *done;
    struct sps_job_entry *next;
    /* sps_job_flush(), all under pool_lock: */
    struct evbuffer *flushing;        /* handed over, not yet taken by the loop */
    struct sps_job_entry *flush_next; /* on sps->flush_list */
    bool flush_queued;                /* on sps->flush_list */
    bool flush_blocked;               /* the worker waits for the loop */
    bool client_gone;                 /* the client closed: output is dropped */
};

struct sps_delay {
    struct event *ev;
    struct sps_client *client;
    sps_done_fn *done;
    void *arg;
    struct sps_delay *next;
};

struct sps_client {
    struct sps *sps;
    struct bufferevent *bev; /* NULL once the connection is closed */
    int fd;                  /* the socket, -1 once closed */
    bool bev_owns_fd;        /* TLS bufferevents close it; plain ones leave it to us */
    SSL *starttls_ssl;       /* STARTTLS: the session waiting for the reply to leave */
    void *state;
    bool has_state;   /* client_new has run (client_free is due) */
    bool tls;         /* TLS (implicit, or STARTTLS accepted) */
    bool tls_up;      /* the handshake completed */
    bool handshaking; /* implicit TLS before client_new */
    bool closing;     /* sps_client_close or the peer went away */
    bool peer_gone;   /* nothing more can be written */
    bool out_paused;  /* input not read: output above SPS_OUT_HIGH */
    bool discarding;  /* inside a line longer than MaxLineLength */
    bool logged_in;
    bool counted_tls; /* counted in n_tls */
    const char *why;  /* why it closed, for the log */
    struct sps_delay *delays;
    int held;              /* jobs and delays running: input is not dispatched */
    int idle_timeout;      /* seconds, 0 = IdleTimeout */
    size_t literal;        /* octets still to deliver as a literal */
    bool literal_wanted;   /* sps_client_read_literal was called (literal may be 0) */
    int64_t last_input_ms; /* monotonic */
    int64_t closing_ms;    /* when closing began */
    struct sps_job_entry *pending, *pending_tail; /* jobs waiting for the running one */
    bool job_running;
    /* The running job, blocked in sps_job_flush() until the output drains. */
    struct sps_job_entry *flush_waiter;
    long long watch_id;
    sps_watch_fn *watch_fn;
    struct sps_client *watch_next, *watch_prev;
    struct sps_client *next, *prev; /* all clients */
    char *peer;
    char id[24];
};

#define SPS_WATCH_BUCKETS 1024

struct sps {
    const struct sps_protocol *protocol;
    struct ofc_proc *proc;
    char *conninfo;
    char *appname;
    volatile sig_atomic_t stop; /* raised at stop: pooled handles stop reconnecting */

    /* Parameters: snapshot under param_lock. */
    pthread_mutex_t param_lock;
    struct sps_param *params;
    size_t nparams;

    /* TLS. */
    SSL_CTX *tls_ctx;

    /* Loop thread. */
    struct event_base *base;
    pthread_t loop_thread;
    bool loop_started;
    struct event *ev_done, *ev_stop, *ev_refresh, *ev_watch, *ev_sweep;
    struct event *ev_hand_retry, *ev_hand_read, *ev_load, *ev_load_periodic;
    int hand_fd;
    bool hand_registered;
    bool hand_logged_down; /* "cannot reach iolistener" was logged */
    int64_t load_sent_ms;
    int load_sent_clients;
    long long load_sent_max;
    bool stopping;
    int64_t stop_deadline_ms;
    struct sps_client *clients;
    struct sps_client *watch[SPS_WATCH_BUCKETS];
    unsigned long long next_client_id;

    /* Counters for sps_status (written by the loop thread). */
    atomic_int n_clients, n_tls, n_logged_in;

    /* Pool. */
    pthread_mutex_t pool_lock;
    pthread_cond_t pool_cond;
    struct ofc_db **dbs;
    bool *db_busy;
    int ndbs;
    pthread_t *workers;
    int nworkers;
    struct sps_job_entry *queue, *queue_tail; /* waiting for a worker and a handle */
    struct sps_job_entry *done, *done_tail;   /* finished, for the loop */
    struct sps_job_entry *flush_list;         /* sps_job_flush(): output for the loop */
    pthread_cond_t flush_cond;                /* flush_blocked or client_gone changed */
    struct event *ev_flush;
    int queued, busy, in_flight;
    bool workers_exit;

    /* Mailbox notifications. */
    struct ofc_db *watch_db;
    pthread_t watch_thread;
    bool watch_started;
    int watch_pipe[2];
    pthread_mutex_t watch_lock;
    long long *watch_ids;
    size_t nwatch_ids, watch_cap;
};

/* sps_main.c */
int64_t sps_now_ms(void);
long long sps_param_int_locked(struct sps *sps, const char *name, long long dflt);

/* sps_loop.c */
int sps_loop_start(struct sps *sps);
void sps_loop_stop(struct sps *sps);
void sps_loop_free(struct sps *sps);
void sps_loop_load_changed(struct sps *sps);
void sps_loop_check_stop(struct sps *sps);
/* Loads the protocol's certificate again (refresh; loop thread). */
void sps_tls_reload(struct sps *sps);

/* sps_client.c */
void sps_client_accept(struct sps *sps, int fd, bool tls, const char *peer);
void sps_clients_sweep(struct sps *sps, int64_t now);
void sps_clients_shutdown(struct sps *sps);
void sps_clients_force_close(struct sps *sps);
void sps_client_job_finished(struct sps_job_entry *e);
/* Loop thread: takes the output sps_job_flush() handed over. */
void sps_clients_take_flushes(struct sps *sps);
/* Dispatches buffered input and finishes a closed client (top level only). */
void sps_client_kick(struct sps_client *c);

/* sps_pool.c */
/* Threads start with every signal blocked: ofc_proc's main thread takes them. */
int sps_thread_start(pthread_t *t, void *(*fn)(void *), void *arg);
int sps_pool_start(struct sps *sps, int ndbs, int nworkers);
void sps_pool_submit(struct sps *sps, struct sps_job_entry *e);
void sps_pool_stop(struct sps *sps);
void sps_pool_take_done(struct sps *sps, struct sps_job_entry **list_r);
void sps_pool_stats(struct sps *sps, int *size, int *busy, int *queued, int *in_flight);

/* sps_watch.c */
int sps_watch_start(struct sps *sps);
int sps_watch_thread_start(struct sps *sps);
void sps_watch_stop(struct sps *sps);
void sps_watch_dispatch(struct sps *sps);
void sps_watch_remove(struct sps_client *c);

/* sps_auth.c */
void sps_auth_set_ttl(long long seconds);
void sps_auth_cleanup(void);

#endif
