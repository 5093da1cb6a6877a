/*
 * ofc_db.c - the one way ofcmail talks to PostgreSQL.
 *
 * A handle wraps one PGconn and remembers what a new session needs to look
 * like the old one: the search_path, the prepared statements and the LISTEN
 * channels. When libpq reports the connection as bad after a failure, the
 * handle drops it at once (so that nothing keeps using a dead session) and
 * ofc_db_ensure() builds a new one with backoff.
 *
 * A handle belongs to one thread at a time; there is no locking inside.
 */
/* System. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* libofc. */
#include "ofc_db.h"
#include "ofc_log.h"
#include "ofc_mem.h"

/* Every ofcmail table lives in this schema (DESIGN §3). */
#define OFC_DB_SCHEMA "ofc"

/* Reconnect backoff of ofc_db_ensure(). */
#define OFC_DB_BACKOFF_INITIAL_MS 100
#define OFC_DB_BACKOFF_MAX_MS     10000

/* Retry backoff of ofc_db_transaction(): 10 ms doubling, at most 1 s. */
#define OFC_DB_TX_BACKOFF_INITIAL_MS 10
#define OFC_DB_TX_BACKOFF_MAX_MS     1000
#define OFC_DB_TX_DEFAULT_ATTEMPTS   5
/* How long a transaction waits for the server to come back before giving up. */
#define OFC_DB_TX_RECONNECT_MS 15000

/* Sleeps are cut into slices this long so that a raised stop flag is seen soon. */
#define OFC_DB_SLEEP_SLICE_MS 50

/* SQLSTATEs we set ourselves for errors libpq reports without one. */
#define SQLSTATE_CONNECTION_FAILURE        "08006"
#define SQLSTATE_CONNECTION_DOES_NOT_EXIST "08003"

struct ofc_db_stmt {
    char *name;
    char *sql;
    int nparams;
    struct ofc_db_stmt *next;
};

struct ofc_db_channel {
    char *name;
    struct ofc_db_channel *next;
};

struct ofc_db {
    char *conninfo; /* may hold a password: never logged */
    char *application_name;
    PGconn *conn; /* NULL while disconnected */
    int backend_pid;

    char *error;      /* last error, one line; never NULL */
    char sqlstate[6]; /* last SQLSTATE, "" if none: always 5 characters */

    struct ofc_db_stmt *stmts;
    struct ofc_db_channel *channels;

    /* A notification ofc_db_wait() took from libpq to see whether one was there. */
    PGnotify *pending;

    int backoff_initial_ms, backoff_max_ms;
    volatile sig_atomic_t *stop;
    int wake_fd;

    /* Reconnect logging: one warning per outage, then debug lines. */
    bool ever_connected;
    bool outage_logged;

    /* Inside ofc_db_transaction()'s callback. */
    bool in_tx;
    bool tx_saw_retryable;

    uint64_t rng;
};

/* Milliseconds on a clock that does not jump. */
static int64_t now_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t next_random(struct ofc_db *db)
{
    /* xorshift64: jitter only has to differ between processes, not be secret. */
    uint64_t x = db->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    db->rng = x;
    return x;
}

/*
 * A delay between ms/2 and ms, so that many processes that lost the same
 * server do not all come back in the same millisecond.
 */
static int jittered(struct ofc_db *db, int ms)
{
    if (ms <= 1)
        return ms;
    int half = ms / 2;
    return half + (int)(next_random(db) % (uint64_t)(ms - half + 1));
}

/*
 * Sleeps ms milliseconds in short slices; returns early (-1) when *stop is
 * raised. A signal interrupts nanosleep, so a SIGTERM is seen at once.
 */
static int sleep_ms(int ms, volatile sig_atomic_t *stop)
{
    int64_t end = now_ms() + ms;
    for (;;) {
        if (stop != NULL && *stop)
            return -1;
        int64_t left = end - now_ms();
        if (left <= 0)
            return 0;
        if (left > OFC_DB_SLEEP_SLICE_MS)
            left = OFC_DB_SLEEP_SLICE_MS;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)left * 1000000L};
        /* EINTR is fine: the loop re-checks the flag and the clock. */
        (void)nanosleep(&ts, NULL);
    }
}

static void set_sqlstate(struct ofc_db *db, const char *state)
{
    if (state == NULL || strlen(state) != 5) {
        db->sqlstate[0] = '\0';
        return;
    }
    memcpy(db->sqlstate, state, 6);
}

static void clear_error(struct ofc_db *db)
{
    db->error[0] = '\0';
    db->sqlstate[0] = '\0';
}

static void set_error(struct ofc_db *db, const char *sqlstate, const char *msg)
{
    free(db->error);
    db->error = ofc_str_one_line(msg);
    set_sqlstate(db, sqlstate);
}

/* Forgets the session (the server's or ours is gone). */
static void drop_connection(struct ofc_db *db)
{
    if (db->conn != NULL)
        PQfinish(db->conn);
    db->conn = NULL;
    db->backend_pid = 0;
    db->in_tx = false;
}

/*
 * Records why a statement failed. res may be NULL (libpq could not even
 * produce a result). When the session is dead afterwards, the handle is
 * marked disconnected so that ofc_db_ensure() reconnects.
 */
static void note_failure(struct ofc_db *db, const PGresult *res)
{
    const char *state = NULL;
    char *msg = NULL;
    if (res != NULL) {
        state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
        if (primary != NULL && detail != NULL)
            msg = ofc_xasprintf("%s (%s)", primary, detail);
        else if (primary != NULL)
            msg = ofc_xstrdup(primary);
        else if (PQresultErrorMessage(res)[0] != '\0')
            msg = ofc_xstrdup(PQresultErrorMessage(res));
        else
            msg = ofc_xasprintf("unexpected result %s", PQresStatus(PQresultStatus(res)));
    }
    if (msg == NULL)
        msg = ofc_xstrdup(db->conn != NULL ? PQerrorMessage(db->conn) : "no connection");
    bool lost = db->conn != NULL && PQstatus(db->conn) == CONNECTION_BAD;
    if (lost && state == NULL)
        state = SQLSTATE_CONNECTION_FAILURE;
    set_error(db, state, msg);
    free(msg);
    if (db->in_tx && ofc_db_sqlstate_is_retryable(db->sqlstate))
        db->tx_saw_retryable = true;
    if (lost) {
        ofc_warn("database connection lost (backend %d): %s", db->backend_pid, db->error);
        drop_connection(db);
    }
}

static bool result_ok(const PGresult *res)
{
    if (res == NULL)
        return false;
    ExecStatusType st = PQresultStatus(res);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

/* Fails the call when there is no session. */
static bool require_conn(struct ofc_db *db)
{
    if (db->conn != NULL)
        return true;
    set_error(db, SQLSTATE_CONNECTION_DOES_NOT_EXIST, "not connected to the database");
    return false;
}

/* Takes ownership of res: returns it when it succeeded, else clears it. */
static PGresult *check_result(struct ofc_db *db, PGresult *res)
{
    if (result_ok(res))
        return res;
    note_failure(db, res);
    PQclear(res);
    return NULL;
}

struct ofc_db *ofc_db_new(const char *conninfo, const char *application_name)
{
    struct ofc_db *db = ofc_xcalloc(1, sizeof(*db));
    db->conninfo = ofc_xstrdup(conninfo != NULL ? conninfo : "");
    db->application_name = ofc_xstrdup(application_name != NULL ? application_name : "ofcmail");
    db->error = ofc_xstrdup("");
    db->backoff_initial_ms = OFC_DB_BACKOFF_INITIAL_MS;
    db->backoff_max_ms = OFC_DB_BACKOFF_MAX_MS;
    db->wake_fd = -1;
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        ts.tv_nsec = 0;
    db->rng = ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)db;
    if (db->rng == 0)
        db->rng = 0x9e3779b97f4a7c15ULL;
    return db;
}

void ofc_db_free(struct ofc_db **dbp)
{
    struct ofc_db *db = *dbp;
    if (db == NULL)
        return;
    drop_connection(db);
    if (db->pending != NULL)
        PQfreemem(db->pending);
    while (db->stmts != NULL) {
        struct ofc_db_stmt *s = db->stmts;
        db->stmts = s->next;
        free(s->name);
        free(s->sql);
        free(s);
    }
    while (db->channels != NULL) {
        struct ofc_db_channel *c = db->channels;
        db->channels = c->next;
        free(c->name);
        free(c);
    }
    free(db->conninfo);
    free(db->application_name);
    free(db->error);
    free(db);
    *dbp = NULL;
}

/* LISTEN on one channel of the current session. Returns 0 or -1. */
static int listen_now(struct ofc_db *db, const char *channel)
{
    /*
     * LISTEN takes no parameters, so the channel goes into the statement
     * as a quoted identifier; PQescapeIdentifier makes any name safe.
     */
    char *ident = PQescapeIdentifier(db->conn, channel, strlen(channel));
    if (ident == NULL) {
        set_error(db, NULL, PQerrorMessage(db->conn));
        return -1;
    }
    char *sql = ofc_xasprintf("LISTEN %s", ident);
    PQfreemem(ident);
    PGresult *res = check_result(db, PQexecParams(db->conn, sql, 0, NULL, NULL, NULL, NULL, 0));
    free(sql);
    if (res == NULL)
        return -1;
    PQclear(res);
    return 0;
}

static int prepare_now(struct ofc_db *db, const struct ofc_db_stmt *s)
{
    PGresult *res = check_result(db, PQprepare(db->conn, s->name, s->sql, s->nparams, NULL));
    if (res == NULL)
        return -1;
    PQclear(res);
    return 0;
}

/*
 * Server notices (and a FATAL the server sends just before it closes an
 * idle session) would otherwise go to libpq's default: stderr, which a
 * daemon does not read. They belong in our log, on one line.
 */
static void on_notice(void *arg, const PGresult *res)
{
    const struct ofc_db *db = arg;
    const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    char *msg = ofc_str_one_line(PQresultErrorMessage(res));
    bool bad =
        severity != NULL && (strcmp(severity, "ERROR") == 0 || strcmp(severity, "FATAL") == 0 ||
                             strcmp(severity, "PANIC") == 0);
    ofc_log(bad ? OFC_LOG_WARN : OFC_LOG_DEBUG, "database (backend %d) says [%s] %s",
            db->backend_pid, state != NULL ? state : "-----", msg);
    free(msg);
}

/*
 * Makes a fresh session look like the last one: prepared statements and
 * LISTENs (the search path came with the startup packet). Returns 0 or -1.
 */
static int setup_session(struct ofc_db *db)
{
    db->backend_pid = PQbackendPID(db->conn);
    for (const struct ofc_db_stmt *s = db->stmts; s != NULL; s = s->next)
        if (prepare_now(db, s) != 0)
            return -1;
    for (const struct ofc_db_channel *c = db->channels; c != NULL; c = c->next)
        if (listen_now(db, c->name) != 0)
            return -1;
    return 0;
}

/*
 * The "options" connection parameter to send: whatever the conninfo (or,
 * when it has none, $PGOPTIONS, which libpq would otherwise have used)
 * asks for, then "-c search_path=ofc". Pinning the search path in the
 * startup packet, rather than with a statement after connecting, keeps
 * unqualified table names meaning ofcmail's tables whatever the role's or
 * database's defaults say, and saves a round trip per connection: a
 * mailer such as ofcuto connects once per message. The server applies the
 * options in order, so ours wins over a search_path the user set there.
 * (An "options" in a pg_service.conf entry is overridden: libpq takes
 * explicit parameters over the service file.)
 */
static char *session_options(const char *conninfo)
{
    const char *base = NULL;
    PQconninfoOption *opts = NULL;
    /*
     * Parsing fails for a bare database name (libpq takes a string without
     * "=" that is no URI as one) and for a malformed conninfo, for which
     * the connection attempt itself will say what is wrong.
     */
    if (conninfo[0] != '\0')
        opts = PQconninfoParse(conninfo, NULL);
    for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++)
        if (strcmp(o->keyword, "options") == 0 && o->val != NULL)
            base = o->val;
    if (base == NULL)
        base = getenv("PGOPTIONS");
    char *out = ofc_xasprintf("%s%s-c search_path=" OFC_DB_SCHEMA, base != NULL ? base : "",
                              base != NULL && base[0] != '\0' ? " " : "");
    if (opts != NULL)
        PQconninfoFree(opts);
    return out;
}

int ofc_db_connect(struct ofc_db *db, char **error_r)
{
    drop_connection(db);
    clear_error(db);
    /*
     * The conninfo travels as an expandable dbname, so that it may be a
     * "key=value ..." string or a URI. connect_timeout comes first and can
     * be overridden by the conninfo; options (the conninfo's own plus the
     * search path) and application_name come after it and win.
     */
    char *options = session_options(db->conninfo);
    const char *const keys[] = {"connect_timeout", "dbname", "options", "application_name", NULL};
    const char *const values[] = {"10", db->conninfo, options, db->application_name, NULL};
    db->conn = PQconnectdbParams(keys, values, 1);
    free(options);
    if (db->conn == NULL) {
        set_error(db, SQLSTATE_CONNECTION_FAILURE, "out of memory creating a connection");
    } else if (PQstatus(db->conn) != CONNECTION_OK) {
        set_error(db, SQLSTATE_CONNECTION_FAILURE, PQerrorMessage(db->conn));
        drop_connection(db);
    } else {
        (void)PQsetNoticeReceiver(db->conn, on_notice, db);
        if (setup_session(db) == 0) {
            db->ever_connected = true;
            return 0;
        }
        drop_connection(db);
    }
    if (error_r != NULL)
        *error_r = ofc_xstrdup(db->error[0] != '\0' ? db->error : "cannot connect");
    return -1;
}

int ofc_db_ensure(struct ofc_db *db, volatile sig_atomic_t *stop, int max_wait_ms)
{
    if (db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK)
        return 0;
    if (db->conn != NULL) {
        ofc_warn("database connection lost (backend %d)", db->backend_pid);
        drop_connection(db);
    }
    int64_t start = now_ms();
    int delay = db->backoff_initial_ms;
    for (int attempt = 1;; attempt++) {
        if (stop != NULL && *stop)
            return -1;
        bool first_ever = !db->ever_connected;
        char *error = NULL;
        if (ofc_db_connect(db, &error) == 0) {
            if (attempt > 1 || db->outage_logged)
                ofc_info("%s the database after %d attempt%s in %.1f s (backend %d)",
                         first_ever ? "connected to" : "reconnected to", attempt,
                         attempt == 1 ? "" : "s", (double)(now_ms() - start) / 1000.0,
                         db->backend_pid);
            else
                ofc_debug("connected to the database (backend %d)", db->backend_pid);
            db->outage_logged = false;
            return 0;
        }
        /* The message is libpq's, which never contains the password. */
        if (!db->outage_logged) {
            ofc_warn("cannot %s the database: %s; retrying with backoff",
                     first_ever ? "connect to" : "reconnect to", error);
            db->outage_logged = true;
        } else {
            ofc_debug("database connection attempt %d failed: %s", attempt, error);
        }
        free(error);
        int64_t waited = now_ms() - start;
        if (max_wait_ms >= 0 && waited >= max_wait_ms)
            return -1;
        int pause = jittered(db, delay);
        if (max_wait_ms >= 0 && pause > max_wait_ms - waited)
            pause = (int)(max_wait_ms - waited);
        if (sleep_ms(pause, stop) != 0)
            return -1;
        delay = delay > db->backoff_max_ms / 2 ? db->backoff_max_ms : delay * 2;
    }
}

bool ofc_db_connected(const struct ofc_db *db)
{
    return db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK;
}

int ofc_db_backend_pid(const struct ofc_db *db)
{
    return db->conn != NULL ? db->backend_pid : 0;
}

PGconn *ofc_db_conn(struct ofc_db *db)
{
    return db->conn;
}

void ofc_db_set_backoff(struct ofc_db *db, int initial_ms, int max_ms)
{
    db->backoff_initial_ms = initial_ms > 0 ? initial_ms : OFC_DB_BACKOFF_INITIAL_MS;
    db->backoff_max_ms = max_ms >= db->backoff_initial_ms ? max_ms : db->backoff_initial_ms;
}

void ofc_db_set_stop_flag(struct ofc_db *db, volatile sig_atomic_t *stop)
{
    db->stop = stop;
}

void ofc_db_set_wake_fd(struct ofc_db *db, int fd)
{
    db->wake_fd = fd;
}

PGresult *ofc_db_query(struct ofc_db *db, const char *sql, int nparams, const char *const *params)
{
    return ofc_db_query_bin(db, sql, nparams, params, NULL, NULL, 0);
}

int ofc_db_exec(struct ofc_db *db, const char *sql, int nparams, const char *const *params)
{
    PGresult *res = ofc_db_query(db, sql, nparams, params);
    if (res == NULL)
        return -1;
    PQclear(res);
    return 0;
}

PGresult *ofc_db_query_bin(struct ofc_db *db, const char *sql, int nparams,
                           const char *const *values, const int *lengths, const int *formats,
                           int result_format)
{
    clear_error(db);
    if (!require_conn(db))
        return NULL;
    return check_result(
        db, PQexecParams(db->conn, sql, nparams, NULL, values, lengths, formats, result_format));
}

static struct ofc_db_stmt *find_stmt(struct ofc_db *db, const char *name)
{
    for (struct ofc_db_stmt *s = db->stmts; s != NULL; s = s->next)
        if (strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

int ofc_db_prepare(struct ofc_db *db, const char *name, const char *sql, int nparams)
{
    clear_error(db);
    const struct ofc_db_stmt *old = find_stmt(db, name);
    if (old != NULL) {
        if (strcmp(old->sql, sql) == 0 && old->nparams == nparams)
            return 0;
        char *msg = ofc_xasprintf("prepared statement \"%s\" is already registered", name);
        set_error(db, "42P05", msg);
        free(msg);
        return -1;
    }
    struct ofc_db_stmt *s = ofc_xcalloc(1, sizeof(*s));
    s->name = ofc_xstrdup(name);
    s->sql = ofc_xstrdup(sql);
    s->nparams = nparams;
    if (db->conn != NULL && prepare_now(db, s) != 0 && db->conn != NULL) {
        /* The server refused the statement itself: do not keep it. */
        free(s->name);
        free(s->sql);
        free(s);
        return -1;
    }
    /* Prepared, or the session died meanwhile: then the next one prepares it. */
    s->next = db->stmts;
    db->stmts = s;
    return 0;
}

PGresult *ofc_db_exec_prepared(struct ofc_db *db, const char *name, int nparams,
                               const char *const *params)
{
    return ofc_db_exec_prepared_bin(db, name, nparams, params, NULL, NULL, 0);
}

PGresult *ofc_db_exec_prepared_bin(struct ofc_db *db, const char *name, int nparams,
                                   const char *const *values, const int *lengths,
                                   const int *formats, int result_format)
{
    clear_error(db);
    if (find_stmt(db, name) == NULL) {
        char *msg = ofc_xasprintf("prepared statement \"%s\" is not registered", name);
        set_error(db, "26000", msg);
        free(msg);
        return NULL;
    }
    if (!require_conn(db))
        return NULL;
    return check_result(
        db, PQexecPrepared(db->conn, name, nparams, values, lengths, formats, result_format));
}

int ofc_db_exec_script(struct ofc_db *db, const char *script)
{
    clear_error(db);
    if (!require_conn(db))
        return -1;
    /*
     * The only PQexec in ofcmail: the simple query protocol is what runs
     * several statements in one call. That is safe here because scripts are
     * our own compiled-in migrations and fixtures, never text from input.
     */
    PGresult *res = PQexec(db->conn, script);
    if (res != NULL && PQresultStatus(res) == PGRES_EMPTY_QUERY) {
        PQclear(res);
        return 0;
    }
    res = check_result(db, res);
    if (res == NULL)
        return -1;
    PQclear(res);
    return 0;
}

const char *ofc_db_error(const struct ofc_db *db)
{
    return db->error;
}

const char *ofc_db_sqlstate(const struct ofc_db *db)
{
    return db->sqlstate;
}

bool ofc_db_sqlstate_is_retryable(const char *sqlstate)
{
    return sqlstate != NULL && (strcmp(sqlstate, "40001") == 0 || strcmp(sqlstate, "40P01") == 0);
}

/* Runs a transaction-control statement; returns 0 or -1. */
static int tx_command(struct ofc_db *db, const char *sql)
{
    if (db->conn == NULL)
        return -1;
    PGresult *res = check_result(db, PQexecParams(db->conn, sql, 0, NULL, NULL, NULL, NULL, 0));
    if (res == NULL)
        return -1;
    PQclear(res);
    return 0;
}

/* Ends whatever is open on the session without disturbing the recorded error. */
static void tx_rollback(struct ofc_db *db)
{
    db->in_tx = false;
    if (db->conn == NULL || PQtransactionStatus(db->conn) == PQTRANS_IDLE)
        return;
    char *saved_error = ofc_xstrdup(db->error);
    char saved_state[sizeof(db->sqlstate)];
    memcpy(saved_state, db->sqlstate, sizeof(saved_state));
    if (tx_command(db, "ROLLBACK") != 0)
        ofc_debug("ROLLBACK failed: %s", db->error);
    free(db->error);
    db->error = saved_error;
    memcpy(db->sqlstate, saved_state, sizeof(saved_state));
}

static void set_error_r(char **error_r, char *msg)
{
    if (error_r != NULL)
        *error_r = msg;
    else
        free(msg);
}

static int tx_run(struct ofc_db *db, const char *begin, int max_attempts, ofc_db_tx_fn *fn,
                  void *ctx, char **error_r);

int ofc_db_transaction(struct ofc_db *db, bool serializable, int max_attempts, ofc_db_tx_fn *fn,
                       void *ctx, char **error_r)
{
    return tx_run(db,
                  serializable ? "BEGIN ISOLATION LEVEL SERIALIZABLE"
                               : "BEGIN ISOLATION LEVEL READ COMMITTED",
                  max_attempts, fn, ctx, error_r);
}

int ofc_db_transaction_snapshot(struct ofc_db *db, int max_attempts, ofc_db_tx_fn *fn, void *ctx,
                                char **error_r)
{
    /* One round trip where BEGIN + SET TRANSACTION took two. */
    return tx_run(db, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", max_attempts, fn, ctx,
                  error_r);
}

/* ofc_db_transaction() with the BEGIN statement given. */
static int tx_run(struct ofc_db *db, const char *begin, int max_attempts, ofc_db_tx_fn *fn,
                  void *ctx, char **error_r)
{
    if (error_r != NULL)
        *error_r = NULL;
    if (db->in_tx) {
        set_error_r(error_r, ofc_xstrdup("nested ofc_db_transaction() is not supported"));
        return OFC_DB_ERROR;
    }
    if (max_attempts <= 0)
        max_attempts = OFC_DB_TX_DEFAULT_ATTEMPTS;
    int delay = OFC_DB_TX_BACKOFF_INITIAL_MS;
    char *why = NULL; /* why the last attempt did not commit */

    for (int attempt = 1; attempt <= max_attempts; attempt++) {
        if (attempt > 1) {
            if (sleep_ms(jittered(db, delay), db->stop) != 0)
                break;
            delay = delay > OFC_DB_TX_BACKOFF_MAX_MS / 2 ? OFC_DB_TX_BACKOFF_MAX_MS : delay * 2;
        }
        if (db->conn == NULL && ofc_db_ensure(db, db->stop, OFC_DB_TX_RECONNECT_MS) != 0) {
            if (db->stop != NULL && *db->stop) {
                free(why);
                set_error_r(error_r, ofc_xstrdup("stopping while waiting for the database"));
                return OFC_DB_STOPPED;
            }
            free(why);
            set_error_r(error_r, ofc_xasprintf("database unavailable: %s", db->error));
            return OFC_DB_ERROR;
        }
        if (tx_command(db, begin) != 0) {
            if (db->conn == NULL) {
                free(why);
                why = ofc_xstrdup(db->error);
                continue;
            }
            free(why);
            set_error_r(error_r, ofc_xasprintf("BEGIN failed: %s", db->error));
            tx_rollback(db);
            return OFC_DB_ERROR;
        }
        db->in_tx = true;
        db->tx_saw_retryable = false;
        char *fn_error = NULL;
        int rc = fn(db, ctx, &fn_error);
        bool retryable = db->tx_saw_retryable;
        db->in_tx = false;

        if (db->conn == NULL) {
            /* Lost before COMMIT was sent: nothing was committed; run it again. */
            free(why);
            why = fn_error != NULL ? fn_error : ofc_xstrdup(db->error);
            continue;
        }
        if (rc == OFC_DB_RETRY || (rc != OFC_DB_OK && retryable)) {
            free(why);
            why = fn_error != NULL ? fn_error : ofc_xstrdup(db->error);
            tx_rollback(db);
            ofc_debug("transaction attempt %d hit a conflict (%s); retrying", attempt, why);
            continue;
        }
        if (rc != OFC_DB_OK) {
            if (fn_error == NULL)
                fn_error = ofc_xstrdup(db->error[0] != '\0' ? db->error : "transaction failed");
            tx_rollback(db);
            free(why);
            set_error_r(error_r, fn_error);
            return OFC_DB_ERROR;
        }
        free(fn_error);
        if (PQtransactionStatus(db->conn) != PQTRANS_INTRANS) {
            /*
             * fn said OK, but a statement failed and it did not notice (or it
             * ended the transaction itself): COMMIT would silently roll back.
             */
            char *msg =
                ofc_xasprintf("transaction aborted: %s",
                              db->error[0] != '\0' ? db->error : "transaction was not open");
            tx_rollback(db);
            if (retryable) {
                free(why);
                why = msg;
                continue;
            }
            free(why);
            set_error_r(error_r, msg);
            return OFC_DB_ERROR;
        }
        if (tx_command(db, "COMMIT") == 0) {
            free(why);
            return OFC_DB_OK;
        }
        if (db->conn == NULL) {
            free(why);
            set_error_r(error_r, ofc_xasprintf("connection lost during COMMIT, outcome unknown: %s",
                                               db->error));
            return OFC_DB_UNKNOWN;
        }
        if (ofc_db_sqlstate_is_retryable(db->sqlstate)) {
            /* SERIALIZABLE may refuse at COMMIT; the transaction is gone then. */
            free(why);
            why = ofc_xstrdup(db->error);
            tx_rollback(db);
            continue;
        }
        free(why);
        set_error_r(error_r, ofc_xasprintf("COMMIT failed: %s", db->error));
        tx_rollback(db);
        return OFC_DB_ERROR;
    }
    if (db->stop != NULL && *db->stop) {
        free(why);
        set_error_r(error_r, ofc_xstrdup("stopping while retrying a transaction"));
        return OFC_DB_STOPPED;
    }
    set_error_r(error_r, ofc_xasprintf("transaction failed after %d attempts: %s", max_attempts,
                                       why != NULL ? why : "unknown error"));
    free(why);
    return OFC_DB_ERROR;
}

int ofc_db_listen(struct ofc_db *db, const char *channel)
{
    clear_error(db);
    for (const struct ofc_db_channel *c = db->channels; c != NULL; c = c->next)
        if (strcmp(c->name, channel) == 0)
            return 0;
    if (db->conn != NULL && listen_now(db, channel) != 0 && db->conn != NULL)
        return -1;
    /* Listening now, or the session died meanwhile: then the next one listens. */
    struct ofc_db_channel *c = ofc_xcalloc(1, sizeof(*c));
    c->name = ofc_xstrdup(channel);
    c->next = db->channels;
    db->channels = c;
    return 0;
}

/* Reads what the server sent; returns -1 (and drops the session) when it is gone. */
static int consume(struct ofc_db *db)
{
    if (PQconsumeInput(db->conn) == 1 && PQstatus(db->conn) == CONNECTION_OK)
        return 0;
    note_failure(db, NULL);
    if (db->conn != NULL) {
        /* A read error that libpq did not classify: treat the session as dead. */
        ofc_warn("database connection lost (backend %d): %s", db->backend_pid, db->error);
        drop_connection(db);
    }
    return -1;
}

/* Moves one notification from libpq to db->pending; true if there is one. */
static bool have_notify(struct ofc_db *db)
{
    if (db->pending == NULL && db->conn != NULL)
        db->pending = PQnotifies(db->conn);
    return db->pending != NULL;
}

int ofc_db_wait(struct ofc_db *db, int timeout_ms)
{
    if (have_notify(db))
        return 1;
    if (db->conn == NULL) {
        set_error(db, SQLSTATE_CONNECTION_DOES_NOT_EXIST, "not connected to the database");
        return -1;
    }
    if (consume(db) != 0)
        return -1;
    if (have_notify(db))
        return 1;
    int64_t end = timeout_ms >= 0 ? now_ms() + timeout_ms : 0;
    for (;;) {
        int left = -1;
        if (timeout_ms >= 0) {
            int64_t l = end - now_ms();
            left = l > 0 ? (int)l : 0;
        }
        struct pollfd pfd[2] = {{.fd = PQsocket(db->conn), .events = POLLIN},
                                {.fd = db->wake_fd, .events = POLLIN}};
        int n = poll(pfd, db->wake_fd >= 0 ? 2 : 1, left);
        if (n < 0) {
            if (errno == EINTR)
                return 0;
            char *msg = ofc_xasprintf("poll: %s", strerror(errno));
            set_error(db, NULL, msg);
            free(msg);
            return -1;
        }
        if (n == 0)
            return 0;
        if (pfd[0].revents != 0) {
            if (consume(db) != 0)
                return -1;
            if (have_notify(db))
                return 1;
        }
        /* The wake descriptor is drained by whoever owns it. */
        if (db->wake_fd >= 0 && pfd[1].revents != 0)
            return 0;
        /* Readable but no notification (a NOTICE, a partial message): wait on. */
        if (left == 0)
            return 0;
    }
}

PGnotify *ofc_db_next_notify(struct ofc_db *db)
{
    if (!have_notify(db))
        return NULL;
    PGnotify *n = db->pending;
    db->pending = NULL;
    return n;
}

const char *ofc_db_value(const PGresult *res, int row, int col)
{
    if (res == NULL || row < 0 || col < 0 || row >= PQntuples(res) || col >= PQnfields(res))
        return NULL;
    if (PQgetisnull(res, row, col))
        return NULL;
    return PQgetvalue(res, row, col);
}

long long ofc_db_value_ll(const PGresult *res, int row, int col, long long dflt)
{
    const char *s = ofc_db_value(res, row, col);
    if (s == NULL || *s == '\0')
        return dflt;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return dflt;
    return v;
}
