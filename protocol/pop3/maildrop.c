/*
 * maildrop.c - the work of pop3srv that needs the database: login with
 * the maildrop lock and snapshot, RETR/TOP, the UPDATE state, and the
 * release of locks of sessions that went away.
 *
 * The maildrop lock (pop3_lock, 013) is a row per account naming the
 * instance (process id) and the session ("<pid>.<serial>": the OS pid of
 * the instance and a serial unique within it). A lock is stale, and taken
 * over, when its instance is not RUNNING, when it runs with another pid
 * (it was restarted since: a killed instance leaves its locks behind), or
 * when its database session is gone (killed a moment ago, before the
 * Guardian noticed), or when it is this very instance and the session is
 * no longer alive here (a lock whose release is still on its way).
 *
 * A connection that drops without QUIT leaves no client to run a job for;
 * its lock is released by a small thread of our own with its own database
 * connection, held only while it has work (the runtime offers no job
 * without a client).
 */
/* System. */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

/* libofc. */
#include "ofc_config.h"
#include "ofc_db.h"
#include "ofc_log.h"
#include "ofc_mem.h"
#include "ofc_proc.h"
#include "store_mailbox.h"

/* Protocol. */
#include "sps.h"

/* This program. */
#include "pop3.h"

/* Octets of a message read per statement: bounds the memory beside the output. */
#define RETR_CHUNK (256 * 1024)

/* Seconds the lock releaser keeps its connection after its last release. */
#define RELEASE_IDLE_S 5

#define TEMP_FAILURE "-ERR [SYS/TEMP] temporary failure, please try again later\r\n"

/* A lock to delete in the background. */
struct release {
    struct release *next;
    long long account_id;
    char *session;
};

static struct {
    long long process_id;
    long long pid;
    int instance;
    char *conninfo;

    pthread_mutex_t lock; /* everything below */
    unsigned long long next_serial;
    unsigned long long *live; /* sessions holding a lock, sorted */
    size_t nlive, live_cap;

    pthread_cond_t cond;
    pthread_t thread;
    bool thread_started;
    bool stopping;
    volatile sig_atomic_t stop_flag;
    struct release *queue, *queue_tail;
} g = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .cond = PTHREAD_COND_INITIALIZER,
};

void pop3_maildrop_set_conninfo(const char *conninfo)
{
    free(g.conninfo);
    g.conninfo = ofc_xstrdup(conninfo);
}

/* --- Live sessions --------------------------------------------------------- */

/* Index of serial in g.live, or where it would go; under g.lock. */
static size_t live_find(unsigned long long serial)
{
    size_t lo = 0, hi = g.nlive;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (g.live[mid] < serial)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* A new serial, marked alive (serials only grow: appending keeps the order). */
static unsigned long long live_add(void)
{
    pthread_mutex_lock(&g.lock);
    unsigned long long serial = ++g.next_serial;
    if (g.nlive == g.live_cap) {
        g.live_cap = g.live_cap ? g.live_cap * 2 : 64;
        g.live = ofc_xrealloc(g.live, g.live_cap * sizeof(*g.live));
    }
    g.live[g.nlive++] = serial;
    pthread_mutex_unlock(&g.lock);
    return serial;
}

static void live_remove(unsigned long long serial)
{
    pthread_mutex_lock(&g.lock);
    size_t i = live_find(serial);
    if (i < g.nlive && g.live[i] == serial) {
        memmove(&g.live[i], &g.live[i + 1], (g.nlive - i - 1) * sizeof(*g.live));
        g.nlive--;
    }
    pthread_mutex_unlock(&g.lock);
}

static bool live_has(unsigned long long serial)
{
    pthread_mutex_lock(&g.lock);
    size_t i = live_find(serial);
    bool found = i < g.nlive && g.live[i] == serial;
    pthread_mutex_unlock(&g.lock);
    return found;
}

/* --- Background release of locks -------------------------------------------- */

static int release_one(struct ofc_db *db, const struct release *r)
{
    char account[32];
    (void)snprintf(account, sizeof(account), "%lld", r->account_id);
    const char *params[] = {account, r->session};
    return ofc_db_exec(
        db, "DELETE FROM ofc.pop3_lock WHERE account_id = $1::bigint AND session = $2", 2, params);
}

static void *release_thread(void *arg)
{
    (void)arg;
    /*
     * Connected only while there is work (and RELEASE_IDLE_S after it):
     * the node's connection count stays what the pool makes it.
     */
    struct ofc_db *db = NULL;
    pthread_mutex_lock(&g.lock);
    for (;;) {
        while (g.queue == NULL && !g.stopping) {
            if (db == NULL) {
                pthread_cond_wait(&g.cond, &g.lock);
                continue;
            }
            struct timespec until;
            (void)clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += RELEASE_IDLE_S;
            if (pthread_cond_timedwait(&g.cond, &g.lock, &until) != 0 && g.queue == NULL) {
                pthread_mutex_unlock(&g.lock);
                ofc_db_free(&db);
                pthread_mutex_lock(&g.lock);
            }
        }
        if (g.queue == NULL)
            break; /* stopping, and nothing left */
        struct release *r = g.queue;
        g.queue = r->next;
        if (g.queue == NULL)
            g.queue_tail = NULL;
        bool stopping = g.stopping;
        pthread_mutex_unlock(&g.lock);

        if (db == NULL) {
            char *app = ofc_xasprintf("pop3srv/%d locks", g.instance);
            db = ofc_db_new(g.conninfo, app);
            free(app);
            ofc_db_set_stop_flag(db, &g.stop_flag);
        }
        int rc = ofc_db_ensure(db, &g.stop_flag, stopping ? 2000 : 10000);
        if (rc == 0)
            rc = release_one(db, r);
        pthread_mutex_lock(&g.lock);
        if (rc == 0 || g.stopping) {
            if (rc != 0) {
                ofc_warn("cannot release the maildrop lock of account %lld: %s (it is stale"
                         " once this instance restarts)",
                         r->account_id, ofc_db_error(db));
                /* The database is away: the rest would wait in vain at exit. */
                g.stop_flag = 1;
            }
            free(r->session);
            free(r);
            continue;
        }
        /* Try again in a second; the lock is stale for this instance meanwhile. */
        ofc_warn("cannot release the maildrop lock of account %lld yet: %s", r->account_id,
                 ofc_db_error(db));
        r->next = g.queue;
        g.queue = r;
        if (g.queue_tail == NULL)
            g.queue_tail = r;
        struct timespec until;
        (void)clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        (void)pthread_cond_timedwait(&g.cond, &g.lock, &until);
    }
    pthread_mutex_unlock(&g.lock);
    ofc_db_free(&db);
    return NULL;
}

/* At exit: the releases still queued are tried once, then the thread ends. */
static void release_stop(void)
{
    pthread_mutex_lock(&g.lock);
    bool started = g.thread_started;
    g.stopping = true;
    pthread_cond_broadcast(&g.cond);
    pthread_mutex_unlock(&g.lock);
    if (started)
        (void)pthread_join(g.thread, NULL);
    g.thread_started = false;
    free(g.live);
    g.live = NULL;
    g.nlive = g.live_cap = 0;
    free(g.conninfo);
    g.conninfo = NULL;
}

static void release_enqueue(long long account_id, char *session)
{
    struct release *r = ofc_xcalloc(1, sizeof(*r));
    r->account_id = account_id;
    r->session = session;
    pthread_mutex_lock(&g.lock);
    if (g.queue_tail != NULL)
        g.queue_tail->next = r;
    else
        g.queue = r;
    g.queue_tail = r;
    pthread_cond_signal(&g.cond);
    pthread_mutex_unlock(&g.lock);
}

void pop3_release_lock(struct pop3_session *s)
{
    if (s->lock_session == NULL)
        return;
    /* Dead for the stale check at once: a new login here need not wait for the DELETE. */
    live_remove(s->lock_serial);
    release_enqueue(s->account_id, s->lock_session);
    s->lock_session = NULL;
}

int pop3_maildrop_init(struct sps *sps)
{
    struct ofc_proc *proc = sps_proc(sps);
    g.process_id = ofc_proc_id(proc);
    g.pid = (long long)getpid();
    g.instance = ofc_proc_instance(proc);
    if (g.conninfo == NULL)
        g.conninfo = ofc_config_conninfo(ofc_proc_config(proc));

    /*
     * A killed instance leaves its locks behind; no client is served yet,
     * so every lock of this process id is such a one. (Other instances
     * already see them as stale: the pid changed.) Runs on the main
     * thread, which owns the lifecycle's connection.
     */
    char id[32];
    (void)snprintf(id, sizeof(id), "%lld", g.process_id);
    const char *params[] = {id};
    PGresult *res = ofc_db_query(
        ofc_proc_db(proc), "DELETE FROM ofc.pop3_lock WHERE process_id = $1::integer", 1, params);
    if (res == NULL) {
        /* Not fatal: logins see those locks as stale all the same (the pid changed). */
        ofc_warn("cannot clear the maildrop locks of this instance: %s",
                 ofc_db_error(ofc_proc_db(proc)));
    } else {
        const char *n = PQcmdTuples(res);
        if (n[0] != '\0' && strcmp(n, "0") != 0)
            ofc_info("cleared %s maildrop locks left by an earlier run of this instance", n);
        PQclear(res);
    }

    if (pthread_create(&g.thread, NULL, release_thread, NULL) != 0) {
        ofc_error("cannot start the lock release thread");
        return -1;
    }
    g.thread_started = true;
    if (atexit(release_stop) != 0) {
        ofc_error("cannot register the lock release thread's stop");
        return -1;
    }
    return 0;
}

/* --- Login ------------------------------------------------------------------- */

enum login_result {
    LOGIN_ERROR = -1,
    LOGIN_BAD = 0,
    LOGIN_OK = 1,
    LOGIN_IN_USE = 2,
};

struct login_job {
    /* In. */
    char *user;
    char *password;
    char *session;
    unsigned long long serial;
    /* Out. */
    enum login_result result;
    long long account_id;
    char *address;
    long long mailbox_id;
    long long uidvalidity;
    struct pop3_msg *msgs;
    size_t nmsgs;
    char *stale; /* the holder of a stale lock we took over, for the log */
    char *error;
};

static void login_job_free(struct login_job *j)
{
    free(j->user);
    if (j->password != NULL) {
        explicit_bzero(j->password, strlen(j->password));
        free(j->password);
    }
    free(j->session);
    free(j->address);
    free(j->msgs);
    free(j->stale);
    free(j->error);
    free(j);
}

/* Whether the holder of a lock is gone (see the top of this file). */
static bool lock_is_stale(long long holder, const char *session, const char *state,
                          long long status_pid)
{
    if (state == NULL || strcmp(state, "RUNNING") != 0)
        return true;
    long long spid = 0;
    unsigned long long serial = 0;
    if (sscanf(session, "%lld.%llu", &spid, &serial) != 2)
        return false; /* not ours to judge */
    if (spid != status_pid)
        return true;
    return holder == g.process_id && spid == g.pid && !live_has(serial);
}

/* Takes the lock. Returns 1 taken, 0 held by a live session, -1 error. */
static int take_lock(struct ofc_db *db, struct login_job *j, char **error_r)
{
    char account[32], process[32];
    (void)snprintf(account, sizeof(account), "%lld", j->account_id);
    (void)snprintf(process, sizeof(process), "%lld", g.process_id);
    const char *params[] = {account, process, j->session};
    PGresult *res = ofc_db_query(db,
                                 "INSERT INTO ofc.pop3_lock (account_id, process_id, session)"
                                 " VALUES ($1::bigint, $2::integer, $3)"
                                 " ON CONFLICT (account_id) DO NOTHING RETURNING account_id",
                                 3, params);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot lock the maildrop: %s", ofc_db_error(db));
        return -1;
    }
    int taken = PQntuples(res) > 0;
    PQclear(res);
    if (taken)
        return 1;

    res = ofc_db_query(db,
                       "SELECT l.process_id, l.session,"
                       "       CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a"
                       "                          WHERE a.pid = s.backend_pid)"
                       "            THEN s.state ELSE 'GONE' END, s.pid"
                       "  FROM ofc.pop3_lock l"
                       "  LEFT JOIN ofc.process_status s ON s.process_id = l.process_id"
                       " WHERE l.account_id = $1::bigint FOR UPDATE OF l",
                       1, params);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot read the maildrop lock: %s", ofc_db_error(db));
        return -1;
    }
    if (PQntuples(res) == 0) {
        /* Released between the two statements: try again from the start. */
        PQclear(res);
        *error_r = ofc_xstrdup("the maildrop lock changed hands meanwhile");
        return -2;
    }
    long long holder = ofc_db_value_ll(res, 0, 0, 0);
    const char *session = ofc_db_value(res, 0, 1);
    bool stale =
        lock_is_stale(holder, session, ofc_db_value(res, 0, 2), ofc_db_value_ll(res, 0, 3, -1));
    if (stale) {
        free(j->stale);
        j->stale =
            ofc_xasprintf("process %lld session %s (%s)", holder, session,
                          ofc_db_value(res, 0, 2) != NULL ? ofc_db_value(res, 0, 2) : "no status");
    }
    PQclear(res);
    if (!stale)
        return 0;
    if (ofc_db_exec(db,
                    "UPDATE ofc.pop3_lock SET process_id = $2::integer, session = $3,"
                    " locked_at = now() WHERE account_id = $1::bigint",
                    3, params) != 0) {
        *error_r = ofc_xasprintf("cannot take over the maildrop lock: %s", ofc_db_error(db));
        return -1;
    }
    return 1;
}

static int snapshot(struct ofc_db *db, struct login_job *j, char **error_r)
{
    char mailbox[32];
    (void)snprintf(mailbox, sizeof(mailbox), "%lld", j->mailbox_id);
    const char *params[] = {mailbox};
    PGresult *res = ofc_db_query(db,
                                 "SELECT p.uid, p.message_id, m.size FROM ofc.mailbox_pointer p"
                                 "  JOIN ofc.message m ON m.id = p.message_id"
                                 " WHERE p.mailbox_id = $1::bigint ORDER BY p.uid",
                                 1, params);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot list the maildrop: %s", ofc_db_error(db));
        return -1;
    }
    int rows = PQntuples(res);
    j->msgs = rows > 0 ? ofc_xcalloc((size_t)rows, sizeof(*j->msgs)) : NULL;
    for (int i = 0; i < rows; i++) {
        j->msgs[i].uid = ofc_db_value_ll(res, i, 0, 0);
        j->msgs[i].message_id = ofc_db_value_ll(res, i, 1, 0);
        j->msgs[i].size = ofc_db_value_ll(res, i, 2, 0);
    }
    j->nmsgs = (size_t)rows;
    PQclear(res);
    return 0;
}

/* One transaction: find INBOX, lock, snapshot. Safe to re-run. */
static int login_tx(struct ofc_db *db, void *ctx, char **error_r)
{
    struct login_job *j = ctx;
    free(j->msgs);
    j->msgs = NULL;
    j->nmsgs = 0;
    j->mailbox_id = 0;
    j->uidvalidity = 0;
    int found =
        store_mailbox_find(db, j->account_id, "INBOX", &j->mailbox_id, &j->uidvalidity, error_r);
    if (found < 0)
        return OFC_DB_ERROR;
    int taken = take_lock(db, j, error_r);
    if (taken == -2) {
        free(*error_r);
        *error_r = NULL;
        return OFC_DB_RETRY;
    }
    if (taken < 0)
        return OFC_DB_ERROR;
    if (taken == 0) {
        j->result = LOGIN_IN_USE;
        return OFC_DB_OK;
    }
    /* An account without an INBOX has an empty maildrop. */
    if (found && snapshot(db, j, error_r) != 0)
        return OFC_DB_ERROR;
    j->result = LOGIN_OK;
    return OFC_DB_OK;
}

static void login_fn(struct sps_job *job)
{
    struct login_job *j = job->arg;
    char *error = NULL;
    int rc = sps_authenticate(job->db, j->user, j->password, &j->account_id, &j->address, &error);
    explicit_bzero(j->password, strlen(j->password));
    if (rc != 1) {
        j->result = rc == 0 ? LOGIN_BAD : LOGIN_ERROR;
        j->error = error;
        return;
    }
    /* Alive before the lock can be seen by anyone. */
    j->serial = live_add();
    j->session = ofc_xasprintf("%lld.%llu", g.pid, j->serial);
    j->result = LOGIN_ERROR;
    if (ofc_db_transaction(job->db, false, 5, login_tx, j, &error) != OFC_DB_OK) {
        j->result = LOGIN_ERROR;
        j->error = error;
    }
    if (j->result != LOGIN_OK)
        live_remove(j->serial);
}

static void login_failed_done(struct sps_client *c, void *state, void *arg)
{
    (void)state;
    (void)arg;
    /* Unknown user and wrong password answer alike (no account oracle). */
    sps_client_puts(c, "-ERR [AUTH] invalid user name or password\r\n");
}

static void login_done(struct sps_client *c, void *state, void *arg)
{
    struct pop3_session *s = state;
    struct login_job *j = arg;
    if (sps_client_closed(c)) {
        if (j->result == LOGIN_OK) {
            live_remove(j->serial);
            release_enqueue(j->account_id, j->session);
            j->session = NULL;
        }
        login_job_free(j);
        return;
    }
    const char *tls = sps_client_is_tls(c) ? " TLS" : "";
    switch (j->result) {
    case LOGIN_OK: {
        if (j->stale != NULL)
            ofc_info("%s: took over the stale maildrop lock of %s (held by %s)", sps_client_id(c),
                     j->address, j->stale);
        s->state = POP3_TRANSACTION;
        sps_client_set_logged_in(c, true);
        s->account_id = j->account_id;
        s->address = j->address;
        j->address = NULL;
        s->mailbox_id = j->mailbox_id;
        s->uidvalidity = j->uidvalidity;
        s->msgs = j->msgs;
        s->nmsgs = j->nmsgs;
        j->msgs = NULL;
        s->lock_session = j->session;
        s->lock_serial = j->serial;
        j->session = NULL;
        long long octets = 0;
        for (size_t i = 0; i < s->nmsgs; i++)
            octets += s->msgs[i].size;
        ofc_info("%s: login %s (user %s) from %s%s: %zu messages, %lld octets", sps_client_id(c),
                 s->address, j->user, sps_client_peer(c), tls, s->nmsgs, octets);
        sps_client_printf(c, "+OK maildrop has %zu messages (%lld octets)\r\n", s->nmsgs, octets);
        break;
    }
    case LOGIN_IN_USE:
        ofc_info("%s: login %s (user %s) from %s%s refused: maildrop locked by another session",
                 sps_client_id(c), j->address, j->user, sps_client_peer(c), tls);
        sps_client_puts(c, "-ERR [IN-USE] maildrop already locked\r\n");
        break;
    case LOGIN_BAD: {
        ofc_info("%s: login failed for user %s from %s%s: invalid user name or password",
                 sps_client_id(c), j->user, sps_client_peer(c), tls);
        long long delay = sps_param_int(sps_client_sps(c), "AuthFailureDelay", 2);
        if (delay > 0)
            sps_client_delay(c, (int)(delay > 60 ? 60 : delay), login_failed_done, NULL);
        else
            login_failed_done(c, s, NULL);
        break;
    }
    case LOGIN_ERROR:
    default:
        ofc_error("%s: login of user %s from %s failed: %s", sps_client_id(c), j->user,
                  sps_client_peer(c), j->error != NULL ? j->error : "unknown error");
        sps_client_puts(c, TEMP_FAILURE);
        break;
    }
    login_job_free(j);
}

void pop3_login(struct pop3_session *s, char *user, char *password)
{
    struct login_job *j = ofc_xcalloc(1, sizeof(*j));
    j->user = user;
    j->password = password;
    j->result = LOGIN_ERROR;
    sps_client_run(s->client, login_fn, login_done, j);
}

/* --- RETR / TOP ---------------------------------------------------------------- */

struct retr_job {
    long long mailbox_id;
    long long uid;
    long long lines; /* TOP; < 0 for RETR */
    size_t number;
    struct sps_job *job;
    struct evbuffer *out;
    bool flushed; /* part of the answer has left: it cannot start over */
    bool gone;    /* the client went away meanwhile */
    int result;   /* 1 sent, 0 no such message, -1 error */
    bool damaged; /* the stored message is inconsistent */
    char *error;
};

static int retr_tx(struct ofc_db *db, void *ctx, char **error_r)
{
    struct retr_job *j = ctx;
    if (j->flushed) {
        /* The first attempt already sent part of the message: the answer
           cannot start over, the client will see the connection close. */
        *error_r = ofc_xstrdup("the database failed in the middle of the answer");
        return OFC_DB_ERROR;
    }
    /* A retry starts the answer over. */
    (void)evbuffer_drain(j->out, evbuffer_get_length(j->out));
    char mailbox[32], uid[32];
    (void)snprintf(mailbox, sizeof(mailbox), "%lld", j->mailbox_id);
    (void)snprintf(uid, sizeof(uid), "%lld", j->uid);
    const char *params[] = {mailbox, uid};
    PGresult *res = ofc_db_query(db,
                                 "SELECT m.id, m.size, m.header_size FROM ofc.mailbox_pointer p"
                                 "  JOIN ofc.message m ON m.id = p.message_id"
                                 " WHERE p.mailbox_id = $1::bigint AND p.uid = $2::bigint",
                                 2, params);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot find the message: %s", ofc_db_error(db));
        return OFC_DB_ERROR;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        j->result = 0;
        return OFC_DB_OK;
    }
    long long message_id = ofc_db_value_ll(res, 0, 0, 0);
    long long size = ofc_db_value_ll(res, 0, 1, 0);
    long long header_size = ofc_db_value_ll(res, 0, 2, 0);
    PQclear(res);

    if (j->lines < 0)
        (void)evbuffer_add_printf(j->out, "+OK %lld octets\r\n", size);
    else
        (void)evbuffer_add_printf(j->out, "+OK top of message follows\r\n");
    struct pop3_stuffer st;
    pop3_stuffer_init(&st, j->lines);
    char sid[32];
    (void)snprintf(sid, sizeof(sid), "%lld", message_id);
    long long offset = 0;
    while (offset < size && !st.done) {
        long long want = RETR_CHUNK;
        /* TOP: the header and a little of the body are usually all it takes. */
        if (j->lines >= 0 && offset == 0 && header_size > 0 && header_size + 8192 < want)
            want = header_size + 8192;
        if (want > size - offset)
            want = size - offset;
        char sfrom[32], sfor[32];
        (void)snprintf(sfrom, sizeof(sfrom), "%lld", offset + 1);
        (void)snprintf(sfor, sizeof(sfor), "%lld", want);
        const char *cparams[] = {sid, sfrom, sfor};
        /* Binary result: the octets themselves, not their hex form. */
        res = ofc_db_query_bin(db,
                               "SELECT substring(raw FROM $2::integer FOR $3::integer)"
                               "  FROM ofc.message WHERE id = $1::bigint",
                               3, cparams, NULL, NULL, 1);
        if (res == NULL) {
            *error_r = ofc_xasprintf("cannot read message %lld: %s", message_id, ofc_db_error(db));
            return OFC_DB_ERROR;
        }
        if (PQntuples(res) == 0 || PQgetlength(res, 0, 0) == 0) {
            PQclear(res);
            /* Not a passing trouble: trying again will not help (RFC 2449 SYS/PERM). */
            j->damaged = true;
            *error_r =
                ofc_xasprintf("message %lld is shorter than its size %lld", message_id, size);
            return OFC_DB_ERROR;
        }
        int got = PQgetlength(res, 0, 0);
        pop3_stuffer_add(&st, j->out, PQgetvalue(res, 0, 0), (size_t)got);
        PQclear(res);
        offset += got;
        /* A big message leaves chunk by chunk instead of whole from memory. */
        if (offset < size && !st.done && evbuffer_get_length(j->out) >= RETR_CHUNK) {
            j->flushed = true;
            if (sps_job_flush(j->job) != 0) {
                j->gone = true;
                return OFC_DB_OK; /* read-only: nothing to undo */
            }
        }
    }
    pop3_stuffer_finish(&st, j->out);
    j->result = 1;
    return OFC_DB_OK;
}

static void retr_fn(struct sps_job *job)
{
    struct retr_job *j = job->arg;
    j->job = job;
    j->out = job->out;
    j->result = -1;
    char *error = NULL;
    /*
     * One snapshot for every chunk: a message that another session
     * expunges (and the Collector deletes) meanwhile is still read whole.
     */
    if (ofc_db_transaction_snapshot(job->db, 3, retr_tx, j, &error) != OFC_DB_OK) {
        j->result = -1;
        j->error = error;
    }
    if (j->gone) {
        j->result = -1;
        j->error = ofc_xstrdup("the client went away during the answer");
    } else if (j->result != 1 && j->flushed) {
        /* Half an answer is out: only closing tells the client it is incomplete. */
        (void)evbuffer_drain(job->out, evbuffer_get_length(job->out));
    } else if (j->result != 1) {
        (void)evbuffer_drain(job->out, evbuffer_get_length(job->out));
        const char *answer = j->result == 0 ? "-ERR no such message\r\n"
                             : j->damaged   ? "-ERR [SYS/PERM] message damaged, cannot send it\r\n"
                                            : TEMP_FAILURE;
        (void)evbuffer_add(job->out, answer, strlen(answer));
    }
    j->out = NULL;
}

static void retr_done(struct sps_client *c, void *state, void *arg)
{
    struct pop3_session *s = state;
    struct retr_job *j = arg;
    if (j->result == 1 && j->lines < 0)
        s->retrieved++;
    if (j->result == 0)
        ofc_info("%s: %s: message %zu (uid %lld) was removed by another session", sps_client_id(c),
                 s->address, j->number, j->uid);
    if (j->result < 0 && j->gone)
        ofc_info("%s: %s: went away while message %zu (uid %lld) was being sent", sps_client_id(c),
                 s->address, j->number, j->uid);
    else if (j->result < 0)
        ofc_error("%s: %s: cannot send message %zu (uid %lld): %s", sps_client_id(c), s->address,
                  j->number, j->uid, j->error != NULL ? j->error : "unknown error");
    if (j->result < 0 && j->flushed)
        sps_client_close(c);
    free(j->error);
    free(j);
}

void pop3_retrieve(struct pop3_session *s, struct pop3_msg *m, long long lines)
{
    struct retr_job *j = ofc_xcalloc(1, sizeof(*j));
    j->mailbox_id = s->mailbox_id;
    j->uid = m->uid;
    j->lines = lines;
    j->number = (size_t)(m - s->msgs) + 1;
    sps_client_run(s->client, retr_fn, retr_done, j);
}

/* --- UPDATE (QUIT) ------------------------------------------------------------ */

struct update_job {
    long long mailbox_id;
    long long account_id;
    long long *uids;
    size_t n;
    char *session;
    size_t expunged;
    int result; /* 0 done, -1 error */
    char *error;
};

/* RFC 1939 §6: remove the marked messages and release the lock, in one unit. */
static int update_tx(struct ofc_db *db, void *ctx, char **error_r)
{
    struct update_job *j = ctx;
    long long modseq = 0;
    j->expunged = 0;
    if (j->n > 0 && store_mailbox_expunge(db, j->mailbox_id, j->uids, j->n, &j->expunged, &modseq,
                                          error_r) != 0)
        return OFC_DB_ERROR;
    char account[32];
    (void)snprintf(account, sizeof(account), "%lld", j->account_id);
    const char *params[] = {account, j->session};
    if (ofc_db_exec(db, "DELETE FROM ofc.pop3_lock WHERE account_id = $1::bigint AND session = $2",
                    2, params) != 0) {
        *error_r = ofc_xasprintf("cannot release the maildrop lock: %s", ofc_db_error(db));
        return OFC_DB_ERROR;
    }
    return OFC_DB_OK;
}

static void update_fn(struct sps_job *job)
{
    struct update_job *j = job->arg;
    char *error = NULL;
    if (ofc_db_transaction(job->db, false, 5, update_tx, j, &error) != OFC_DB_OK) {
        j->result = -1;
        j->error = error;
        (void)evbuffer_add_printf(job->out,
                                  "-ERR [SYS/TEMP] some deleted messages not removed\r\n");
        return;
    }
    j->result = 0;
    (void)evbuffer_add_printf(job->out,
                              "+OK ofcmail POP3 server signing off (%zu messages"
                              " deleted)\r\n",
                              j->n);
}

static void update_done(struct sps_client *c, void *state, void *arg)
{
    struct pop3_session *s = state;
    struct update_job *j = arg;
    if (j->result == 0) {
        ofc_info("%s: %s quit: %zu messages retrieved, %zu deleted (%zu were still there)",
                 sps_client_id(c), s->address, s->retrieved, j->n, j->expunged);
        /* The lock went with the transaction. */
        live_remove(s->lock_serial);
        free(s->lock_session);
        s->lock_session = NULL;
    } else {
        ofc_error("%s: %s quit: %zu messages retrieved, deleting %zu failed: %s", sps_client_id(c),
                  s->address, s->retrieved, j->n, j->error != NULL ? j->error : "unknown error");
        pop3_release_lock(s);
    }
    sps_client_set_logged_in(c, false);
    free(j->uids);
    free(j->session);
    free(j->error);
    free(j);
    sps_client_close(c);
}

void pop3_update(struct pop3_session *s)
{
    struct update_job *j = ofc_xcalloc(1, sizeof(*j));
    j->mailbox_id = s->mailbox_id;
    j->account_id = s->account_id;
    j->session = ofc_xstrdup(s->lock_session != NULL ? s->lock_session : "");
    for (size_t i = 0; i < s->nmsgs; i++)
        if (s->msgs[i].deleted)
            j->n++;
    j->uids = j->n > 0 ? ofc_xcalloc(j->n, sizeof(*j->uids)) : NULL;
    size_t k = 0;
    for (size_t i = 0; i < s->nmsgs; i++)
        if (s->msgs[i].deleted)
            j->uids[k++] = s->msgs[i].uid;
    s->state = POP3_UPDATE;
    sps_client_run(s->client, update_fn, update_done, j);
}
