/*
 * ofc_db.h - the one way ofcmail talks to PostgreSQL.
 *
 * Every statement travels with parameters (PQexecParams / prepared
 * statements); nothing here ever assembles SQL from data. The handle
 * remembers its prepared statements and LISTEN channels so that, after the
 * server went away and came back, ofc_db_ensure() restores them.
 *
 * Threads: a handle has no lock inside. Use one handle per thread (or hand
 * it from thread to thread with a lock of your own); libpq allows that.
 */
#ifndef OFC_DB_H
#define OFC_DB_H

#include <signal.h>
#include <stdbool.h>

#include <libpq-fe.h>

struct ofc_db;

/* Result of ofc_db_transaction()'s callback and of the helper itself. */
enum ofc_db_tx_result {
    OFC_DB_OK = 0,       /* committed */
    OFC_DB_ERROR = -1,   /* rolled back; *error_r says why; do not retry blindly */
    OFC_DB_RETRY = -2,   /* callback: serialization failure or deadlock seen; helper retries */
    OFC_DB_UNKNOWN = -3, /* connection lost during COMMIT: outcome unknown */
    OFC_DB_STOPPED = -4, /* the stop flag was raised while waiting to reconnect */
};

/*
 * A new, unconnected handle. application_name shows in pg_stat_activity
 * ("ofcomd/1"). Never NULL.
 */
struct ofc_db *ofc_db_new(const char *conninfo, const char *application_name);
void ofc_db_free(struct ofc_db **db);

/* One connection attempt. Returns 0, or -1 with a heap message in *error_r. */
int ofc_db_connect(struct ofc_db *db, char **error_r) __attribute__((warn_unused_result));

/*
 * Makes sure the handle is connected: when it is not, reconnects with
 * exponential backoff (100 ms doubling to 10 s), logging each failure once
 * per change, re-preparing statements and re-issuing LISTENs. Gives up when
 * *stop becomes non-zero (stop may be NULL) or after max_wait_ms (< 0 =
 * forever). Returns 0 when connected, -1 otherwise.
 */
int ofc_db_ensure(struct ofc_db *db, volatile sig_atomic_t *stop, int max_wait_ms)
    __attribute__((warn_unused_result));

bool ofc_db_connected(const struct ofc_db *db);
/* The server process id of this session (pg_backend_pid()), 0 if unconnected. */
int ofc_db_backend_pid(const struct ofc_db *db);
PGconn *ofc_db_conn(struct ofc_db *db);
void ofc_db_set_backoff(struct ofc_db *db, int initial_ms, int max_ms);
/*
 * The flag ofc_db_transaction() watches while it waits to reconnect or to
 * retry (it returns OFC_DB_STOPPED when the flag is raised). May be NULL.
 */
void ofc_db_set_stop_flag(struct ofc_db *db, volatile sig_atomic_t *stop);
/*
 * An extra descriptor ofc_db_wait() polls: when it becomes readable the
 * wait returns 0 and the owner drains it (a self-pipe written by signal
 * handlers or other threads, so no wake-up is lost between checking a flag
 * and sleeping). -1 (the default) polls only the database socket.
 */
void ofc_db_set_wake_fd(struct ofc_db *db, int fd);

/*
 * Runs one statement with text parameters (NULL entries are SQL NULL).
 * Returns the result (PGRES_TUPLES_OK or PGRES_COMMAND_OK) for the caller
 * to PQclear, or NULL on error: the message and SQLSTATE are then in
 * ofc_db_error() / ofc_db_sqlstate(), and a lost connection is noticed:
 * the handle is then disconnected (SQLSTATE the server's, else 08006) and
 * ofc_db_ensure() reconnects. Without a connection: NULL, SQLSTATE 08003.
 */
PGresult *ofc_db_query(struct ofc_db *db, const char *sql, int nparams, const char *const *params)
    __attribute__((warn_unused_result));
/* Like ofc_db_query() but discards the result. Returns 0 or -1. */
int ofc_db_exec(struct ofc_db *db, const char *sql, int nparams, const char *const *params)
    __attribute__((warn_unused_result));
/* Binary-parameter form: lengths/formats as in PQexecParams. */
PGresult *ofc_db_query_bin(struct ofc_db *db, const char *sql, int nparams,
                           const char *const *values, const int *lengths, const int *formats,
                           int result_format) __attribute__((warn_unused_result));

/*
 * Registers a named prepared statement (prepared now if connected, and again
 * after every reconnect). Returns 0, or -1 when the server refuses the
 * statement (it is then not registered) or the name is taken by other SQL.
 * A connection lost meanwhile is not an error here: the next session
 * prepares it.
 */
int ofc_db_prepare(struct ofc_db *db, const char *name, const char *sql, int nparams)
    __attribute__((warn_unused_result));
PGresult *ofc_db_exec_prepared(struct ofc_db *db, const char *name, int nparams,
                               const char *const *params) __attribute__((warn_unused_result));
/* Binary-parameter/result form of ofc_db_exec_prepared(), as ofc_db_query_bin(). */
PGresult *ofc_db_exec_prepared_bin(struct ofc_db *db, const char *name, int nparams,
                                   const char *const *values, const int *lengths,
                                   const int *formats, int result_format)
    __attribute__((warn_unused_result));

/*
 * Runs an SQL script of our own (schema migrations): several statements,
 * no parameters. Never pass text derived from input. Returns 0 or -1.
 */
int ofc_db_exec_script(struct ofc_db *db, const char *script) __attribute__((warn_unused_result));

/* The last error message ("" if none) and SQLSTATE ("" if none). */
const char *ofc_db_error(const struct ofc_db *db);
const char *ofc_db_sqlstate(const struct ofc_db *db);
/* True for 40001 (serialization_failure) and 40P01 (deadlock_detected). */
bool ofc_db_sqlstate_is_retryable(const char *sqlstate);

/*
 * One unit of work in one transaction. Runs BEGIN (ISOLATION LEVEL
 * READ COMMITTED, or SERIALIZABLE when serializable), calls fn, COMMITs.
 * fn returns OFC_DB_OK to commit, OFC_DB_ERROR to roll back (setting
 * *error_r), or OFC_DB_RETRY; a retryable SQLSTATE anywhere (fn or COMMIT)
 * or a connection lost before COMMIT was sent makes the helper roll back,
 * wait a little (jittered backoff) and call fn again, up to max_attempts.
 * fn must therefore be safe to re-run: no side effects outside the database.
 * (A 40001/40P01 seen by any statement inside fn counts even when fn then
 * returns OFC_DB_ERROR, so fn may simply give up on a failed statement.)
 * max_attempts <= 0 means 5. If fn returns OFC_DB_OK but a statement failed
 * and left the transaction aborted, it is rolled back and reported as
 * OFC_DB_ERROR. Nested calls fail with OFC_DB_ERROR. On any result other
 * than OFC_DB_OK, *error_r (when error_r is not NULL) receives a heap
 * message the caller frees; fn sets its own *error_r with malloc'd text.
 * While reconnecting it waits at most 15 s and watches the stop flag set
 * with ofc_db_set_stop_flag() (then OFC_DB_STOPPED).
 */
typedef int ofc_db_tx_fn(struct ofc_db *db, void *ctx, char **error_r);
int ofc_db_transaction(struct ofc_db *db, bool serializable, int max_attempts, ofc_db_tx_fn *fn,
                       void *ctx, char **error_r) __attribute__((warn_unused_result));
/*
 * ofc_db_transaction() for readers that want one consistent snapshot
 * (several statements, or one answer read in pieces): BEGIN ISOLATION
 * LEVEL REPEATABLE READ, READ ONLY in one round trip. Same contract.
 */
int ofc_db_transaction_snapshot(struct ofc_db *db, int max_attempts, ofc_db_tx_fn *fn, void *ctx,
                                char **error_r) __attribute__((warn_unused_result));

/*
 * LISTEN on a channel (quoted as an identifier); remembered across
 * reconnects. Returns 0, or -1 when the server refuses.
 */
int ofc_db_listen(struct ofc_db *db, const char *channel) __attribute__((warn_unused_result));

/*
 * Waits until a notification arrives, timeout_ms passes (< 0: no limit), a
 * signal interrupts (EINTR: returns 0 so the caller checks its flags) or
 * the wake descriptor becomes readable (returns 0). Returns
 * 1 if notifications are ready (take them with ofc_db_next_notify()),
 * 0 on timeout/interrupt, -1 when the connection is lost.
 */
int ofc_db_wait(struct ofc_db *db, int timeout_ms);
/* The next pending notification or NULL; the caller PQfreemem()s it. */
PGnotify *ofc_db_next_notify(struct ofc_db *db);

/* Handy accessors for text results. */
const char *ofc_db_value(const PGresult *res, int row, int col); /* NULL if SQL NULL */
long long ofc_db_value_ll(const PGresult *res, int row, int col, long long dflt);

#endif
