/*
 * ofc_db.h - the one way ofcmail talks to PostgreSQL.
 *
 * Every statement travels with parameters (PQexecParams / prepared
 * statements); nothing here ever assembles SQL from data. The handle
 * remembers its prepared statements and LISTEN channels so that, after the
 * server went away and came back, ofc_db_ensure() restores them.
 */
#ifndef OFC_DB_H
#define OFC_DB_H

#include <signal.h>
#include <stdbool.h>

#include <libpq-fe.h>

struct ofc_db;

/* Result of ofc_db_transaction()'s callback and of the helper itself. */
enum ofc_db_tx_result {
    OFC_DB_OK = 0,         /* committed */
    OFC_DB_ERROR = -1,     /* rolled back; *error_r says why; do not retry blindly */
    OFC_DB_RETRY = -2,     /* callback: serialization failure or deadlock seen; helper retries */
    OFC_DB_UNKNOWN = -3,   /* connection lost during COMMIT: outcome unknown */
    OFC_DB_STOPPED = -4,   /* the stop flag was raised while waiting to reconnect */
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
 * Runs one statement with text parameters (NULL entries are SQL NULL).
 * Returns the result (PGRES_TUPLES_OK or PGRES_COMMAND_OK) for the caller
 * to PQclear, or NULL on error: the message and SQLSTATE are then in
 * ofc_db_error() / ofc_db_sqlstate(), and a lost connection is noticed.
 */
PGresult *ofc_db_query(struct ofc_db *db, const char *sql, int nparams,
                       const char *const *params) __attribute__((warn_unused_result));
/* Like ofc_db_query() but discards the result. Returns 0 or -1. */
int ofc_db_exec(struct ofc_db *db, const char *sql, int nparams, const char *const *params)
    __attribute__((warn_unused_result));
/* Binary-parameter form: lengths/formats as in PQexecParams. */
PGresult *ofc_db_query_bin(struct ofc_db *db, const char *sql, int nparams,
                           const char *const *values, const int *lengths, const int *formats,
                           int result_format) __attribute__((warn_unused_result));

/*
 * Registers a named prepared statement (prepared now if connected, and again
 * after every reconnect). Returns 0 or -1.
 */
int ofc_db_prepare(struct ofc_db *db, const char *name, const char *sql, int nparams)
    __attribute__((warn_unused_result));
PGresult *ofc_db_exec_prepared(struct ofc_db *db, const char *name, int nparams,
                               const char *const *params) __attribute__((warn_unused_result));

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
 */
typedef int ofc_db_tx_fn(struct ofc_db *db, void *ctx, char **error_r);
int ofc_db_transaction(struct ofc_db *db, bool serializable, int max_attempts, ofc_db_tx_fn *fn,
                       void *ctx, char **error_r) __attribute__((warn_unused_result));

/* LISTEN on a channel (quoted as an identifier); remembered across reconnects. */
int ofc_db_listen(struct ofc_db *db, const char *channel) __attribute__((warn_unused_result));

/*
 * Waits until a notification arrives, timeout_ms passes, or a signal
 * interrupts (EINTR: returns 0 so the caller checks its flags). Returns
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
