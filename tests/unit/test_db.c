/*
 * test_db.c - ofc_db against a real PostgreSQL (the `pg` ctest fixture).
 *
 * Every test connects to its own database "ofc_unit_db" (created once by
 * the unchecked fixture) as the cluster's superuser. The reconnect tests
 * kill sessions with pg_terminate_backend() and restart the whole server
 * through tests/pgcluster.py; the cluster is ours alone (RESOURCE_LOCK).
 */
/* System. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

/* Libraries. */
#include <check.h>

/* libofc. */
#include "ofc_db.h"
#include "ofc_mem.h"

#define TEST_DB "ofc_unit_db"

static char *base_conninfo; /* the fixture's superuser conninfo, dbname=postgres */
static char *db_conninfo;   /* the same for TEST_DB */

/* ---- helpers -------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *read_file(const char *path)
{
    FILE *fp = fopen(path, "re");
    if (fp == NULL)
        return NULL;
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
        ofc_strbuf_append(&sb, buf, n);
    (void)fclose(fp);
    return ofc_strbuf_detach(&sb);
}

static char *trim(char *s)
{
    size_t len = strlen(s);
    while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' '))
        s[--len] = '\0';
    return s;
}

static struct ofc_db *connect_to(const char *conninfo, const char *appname)
{
    struct ofc_db *db = ofc_db_new(conninfo, appname);
    char *error = NULL;
    int rc = ofc_db_connect(db, &error);
    ck_assert_msg(rc == 0, "connect: %s", error != NULL ? error : "?");
    return db;
}

static struct ofc_db *test_connect(void)
{
    return connect_to(db_conninfo, "test_db");
}

static void exec_ok(struct ofc_db *db, const char *sql)
{
    int rc = ofc_db_exec(db, sql, 0, NULL);
    ck_assert_msg(rc == 0, "%s: %s", sql, ofc_db_error(db));
}

static long long query_ll(struct ofc_db *db, const char *sql, int nparams,
                          const char *const *params)
{
    PGresult *res = ofc_db_query(db, sql, nparams, params);
    ck_assert_msg(res != NULL, "%s: %s", sql, ofc_db_error(db));
    long long v = ofc_db_value_ll(res, 0, 0, -999);
    PQclear(res);
    return v;
}

static void setup_database(void)
{
    const char *info = getenv("OFC_TEST_PGINFO");
    ck_assert_msg(info != NULL, "OFC_TEST_PGINFO is not set (run through ctest)");
    char *text = read_file(info);
    ck_assert_msg(text != NULL, "cannot read %s", info);
    base_conninfo = trim(text);
    /* In a conninfo string the last setting of a keyword wins. */
    db_conninfo = ofc_xasprintf("%s dbname=%s", base_conninfo, TEST_DB);

    struct ofc_db *db = connect_to(base_conninfo, "test_db setup");
    exec_ok(db, "DROP DATABASE IF EXISTS " TEST_DB " WITH (FORCE)");
    exec_ok(db, "CREATE DATABASE " TEST_DB);
    ofc_db_free(&db);
    db = test_connect();
    exec_ok(db, "CREATE SCHEMA ofc");
    ofc_db_free(&db);
}

static void teardown_database(void)
{
    free(base_conninfo);
    free(db_conninfo);
    base_conninfo = db_conninfo = NULL;
}

/* ---- queries -------------------------------------------------------- */

START_TEST(test_query_params)
{
    struct ofc_db *db = test_connect();
    ck_assert(ofc_db_connected(db));
    ck_assert_int_gt(ofc_db_backend_pid(db), 0);

    const char *params[] = {"2", "3", NULL};
    PGresult *res = ofc_db_query(db, "SELECT $1::int + $2::int, $3::text, 'x'", 3, params);
    ck_assert_ptr_nonnull(res);
    ck_assert_str_eq(ofc_db_value(res, 0, 0), "5");
    ck_assert_int_eq(ofc_db_value_ll(res, 0, 0, 0), 5);
    ck_assert_ptr_null(ofc_db_value(res, 0, 1));
    ck_assert_int_eq(ofc_db_value_ll(res, 0, 1, 42), 42);
    ck_assert_int_eq(ofc_db_value_ll(res, 0, 2, 7), 7); /* not a number */
    ck_assert_ptr_null(ofc_db_value(res, 1, 0));        /* no such row */
    ck_assert_ptr_null(ofc_db_value(res, 0, 3));        /* no such column */
    PQclear(res);

    /* Parameters are data, never SQL. */
    const char *evil[] = {"x'); DROP SCHEMA ofc; --"};
    res = ofc_db_query(db, "SELECT length($1)", 1, evil);
    ck_assert_ptr_nonnull(res);
    ck_assert_int_eq(ofc_db_value_ll(res, 0, 0, 0), (long long)strlen(evil[0]));
    PQclear(res);

    /* The session is pinned to schema ofc and names itself. */
    res = ofc_db_query(db,
                       "SELECT current_setting('search_path'),"
                       " current_setting('application_name'), pg_backend_pid()",
                       0, NULL);
    ck_assert_ptr_nonnull(res);
    ck_assert_str_eq(ofc_db_value(res, 0, 0), "ofc");
    ck_assert_str_eq(ofc_db_value(res, 0, 1), "test_db");
    ck_assert_int_eq(ofc_db_value_ll(res, 0, 2, 0), ofc_db_backend_pid(db));
    PQclear(res);

    exec_ok(db, "CREATE TABLE q (id int PRIMARY KEY, v text)");
    res = ofc_db_query(db,
                       "SELECT table_schema FROM information_schema.tables"
                       " WHERE table_name = 'q'",
                       0, NULL);
    ck_assert_ptr_nonnull(res);
    ck_assert_str_eq(ofc_db_value(res, 0, 0), "ofc");
    PQclear(res);
    exec_ok(db, "DROP TABLE q");

    /* Binary parameters: an int4 in network order. */
    uint32_t v = htonl(41);
    const char *bvals[] = {(const char *)&v};
    const int lens[] = {4};
    const int fmts[] = {1};
    res = ofc_db_query_bin(db, "SELECT $1::int4 + 1", 1, bvals, lens, fmts, 0);
    ck_assert_ptr_nonnull(res);
    ck_assert_str_eq(ofc_db_value(res, 0, 0), "42");
    PQclear(res);

    ck_assert_str_eq(ofc_db_error(db), "");
    ofc_db_free(&db);
    ck_assert_ptr_null(db);
}
END_TEST

/* search_path and work_mem of a session made from conninfo. */
static void check_session(const char *conninfo, const char *work_mem)
{
    struct ofc_db *db = connect_to(conninfo, "test_db options");
    PGresult *res = ofc_db_query(
        db, "SELECT current_setting('search_path'), current_setting('work_mem')", 0, NULL);
    ck_assert_msg(res != NULL, "%s", ofc_db_error(db));
    ck_assert_str_eq(ofc_db_value(res, 0, 0), "ofc");
    ck_assert_str_eq(ofc_db_value(res, 0, 1), work_mem);
    PQclear(res);
    ofc_db_free(&db);
}

/* Appends "key=value" to a URI's query, percent-encoding the value. */
static void uri_param(struct ofc_strbuf *uri, const char *key, const char *value)
{
    ofc_strbuf_printf(uri, "%s%s=", strchr(uri->data, '?') != NULL ? "&" : "?", key);
    for (const char *p = value; *p != '\0'; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~/", *p) != NULL)
            ofc_strbuf_append(uri, p, 1);
        else
            ofc_strbuf_printf(uri, "%%%02X", (unsigned char)*p);
    }
}

/*
 * The search path travels in the startup packet's options, merged with
 * the options the user gave (key=value, URI, or $PGOPTIONS): both apply,
 * and ofc wins over a search_path of the user's.
 */
START_TEST(test_session_options)
{
    char *info =
        ofc_xasprintf("%s options='-c work_mem=1234kB -c search_path=public'", db_conninfo);
    check_session(info, "1234kB");
    free(info);

    /* The same as a URI, built from the fixture's key=value conninfo. */
    char *error = NULL;
    PQconninfoOption *opts = PQconninfoParse(db_conninfo, &error);
    ck_assert_msg(opts != NULL, "%s", error != NULL ? error : "?");
    struct ofc_strbuf uri = OFC_STRBUF_INIT;
    ofc_strbuf_printf(&uri, "postgresql:///%s", TEST_DB);
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
        if (o->val != NULL && strcmp(o->keyword, "dbname") != 0)
            uri_param(&uri, o->keyword, o->val);
    PQconninfoFree(opts);
    uri_param(&uri, "options", "-c work_mem=2345kB");
    check_session(uri.data, "2345kB");
    ofc_strbuf_free(&uri);

    /* No options in the conninfo: $PGOPTIONS still applies, as libpq would do. */
    ck_assert_int_eq(setenv("PGOPTIONS", "-c work_mem=3456kB", 1), 0);
    check_session(db_conninfo, "3456kB");
    ck_assert_int_eq(unsetenv("PGOPTIONS"), 0);
    check_session(db_conninfo, "4MB");
}
END_TEST

START_TEST(test_prepared)
{
    struct ofc_db *db = test_connect();
    ck_assert_int_eq(ofc_db_prepare(db, "twice", "SELECT $1::int * 2", 1), 0);
    /* The same registration again is harmless; other SQL under the name is not. */
    ck_assert_int_eq(ofc_db_prepare(db, "twice", "SELECT $1::int * 2", 1), 0);
    ck_assert_int_eq(ofc_db_prepare(db, "twice", "SELECT $1::int * 3", 1), -1);
    /* The server refuses bad SQL; the name stays free. */
    ck_assert_int_eq(ofc_db_prepare(db, "bad", "SELEKT 1", 0), -1);
    ck_assert_str_eq(ofc_db_sqlstate(db), "42601");
    ck_assert(ofc_db_connected(db));

    const char *p[] = {"21"};
    PGresult *res = ofc_db_exec_prepared(db, "twice", 1, p);
    ck_assert_ptr_nonnull(res);
    ck_assert_str_eq(ofc_db_value(res, 0, 0), "42");
    PQclear(res);

    ck_assert_ptr_null(ofc_db_exec_prepared(db, "bad", 0, NULL));
    ck_assert_ptr_null(ofc_db_exec_prepared(db, "nope", 0, NULL));
    ck_assert_ptr_nonnull(strstr(ofc_db_error(db), "not registered"));

    /* Registered while disconnected: prepared by the next session. */
    struct ofc_db *later = ofc_db_new(db_conninfo, "test_db");
    ck_assert_int_eq(ofc_db_prepare(later, "one", "SELECT 1", 0), 0);
    ck_assert_ptr_null(ofc_db_exec_prepared(later, "one", 0, NULL));
    ck_assert_str_eq(ofc_db_sqlstate(later), "08003");
    ck_assert_int_eq(ofc_db_ensure(later, NULL, 5000), 0);
    res = ofc_db_exec_prepared(later, "one", 0, NULL);
    ck_assert_ptr_nonnull(res);
    PQclear(res);
    ofc_db_free(&later);
    ofc_db_free(&db);
}
END_TEST

START_TEST(test_sqlstate)
{
    struct ofc_db *db = test_connect();
    exec_ok(db, "CREATE TABLE uq (id int PRIMARY KEY)");
    exec_ok(db, "INSERT INTO uq VALUES (1)");
    ck_assert_int_eq(ofc_db_exec(db, "INSERT INTO uq VALUES (1)", 0, NULL), -1);
    ck_assert_str_eq(ofc_db_sqlstate(db), "23505");
    const char *err = ofc_db_error(db);
    ck_assert_ptr_nonnull(strstr(err, "duplicate key"));
    ck_assert_ptr_null(strchr(err, '\n'));
    ck_assert_ptr_null(strchr(err, '\t'));
    ck_assert(ofc_db_connected(db));

    /* A later success clears the error. */
    exec_ok(db, "SELECT 1");
    ck_assert_str_eq(ofc_db_error(db), "");
    ck_assert_str_eq(ofc_db_sqlstate(db), "");

    ck_assert_ptr_null(ofc_db_query(db, "SELECT * FROM no_such_table", 0, NULL));
    ck_assert_str_eq(ofc_db_sqlstate(db), "42P01");
    ck_assert(ofc_db_sqlstate_is_retryable("40001"));
    ck_assert(ofc_db_sqlstate_is_retryable("40P01"));
    ck_assert(!ofc_db_sqlstate_is_retryable("23505"));
    ck_assert(!ofc_db_sqlstate_is_retryable(NULL));
    exec_ok(db, "DROP TABLE uq");
    ofc_db_free(&db);
}
END_TEST

START_TEST(test_script)
{
    struct ofc_db *db = test_connect();
    ck_assert_int_eq(ofc_db_exec_script(db, "CREATE TABLE s1 (a int);\n"
                                            "INSERT INTO s1 VALUES (1), (2);\n"
                                            "INSERT INTO s1 SELECT a + 2 FROM s1;"),
                     0);
    ck_assert_int_eq(query_ll(db, "SELECT sum(a) FROM s1", 0, NULL), 10);
    ck_assert_int_eq(ofc_db_exec_script(db, ""), 0);
    ck_assert_int_eq(ofc_db_exec_script(db, "INSERT INTO s1 VALUES (5); SELECT 1/0;"), -1);
    ck_assert_str_eq(ofc_db_sqlstate(db), "22012");
    /* One implicit transaction: the INSERT before the error is gone too. */
    ck_assert_int_eq(query_ll(db, "SELECT count(*) FROM s1", 0, NULL), 4);
    exec_ok(db, "DROP TABLE s1");
    ofc_db_free(&db);
}
END_TEST

/* ---- transactions --------------------------------------------------- */

struct tx_ctx {
    int calls;
    int mode;
    struct ofc_db *other;
};

enum { TX_INSERT_OK, TX_INSERT_ERROR, TX_SWALLOW_FAILURE, TX_NESTED };

static int tx_simple(struct ofc_db *db, void *vctx, char **error_r)
{
    struct tx_ctx *ctx = vctx;
    ctx->calls++;
    const char *v[] = {ctx->mode == TX_INSERT_OK ? "1" : "2"};
    if (ofc_db_exec(db, "INSERT INTO t (id) VALUES ($1::int)", 1, v) != 0) {
        *error_r = ofc_xstrdup(ofc_db_error(db));
        return OFC_DB_ERROR;
    }
    switch (ctx->mode) {
    case TX_INSERT_ERROR:
        *error_r = ofc_xstrdup("changed my mind");
        return OFC_DB_ERROR;
    case TX_SWALLOW_FAILURE:
        /* A sloppy callback: ignores a failed statement and says OK. */
        if (ofc_db_exec(db, "INSERT INTO t (id) VALUES (1)", 0, NULL) == 0)
            return OFC_DB_ERROR; /* should have failed */
        return OFC_DB_OK;
    case TX_NESTED: {
        char *inner = NULL;
        int rc = ofc_db_transaction(db, false, 1, tx_simple, ctx, &inner);
        ck_assert_int_eq(rc, OFC_DB_ERROR);
        ck_assert_ptr_nonnull(strstr(inner, "nested"));
        free(inner);
        return OFC_DB_OK;
    }
    default:
        return OFC_DB_OK;
    }
}

START_TEST(test_transaction_commit_rollback)
{
    struct ofc_db *db = test_connect();
    exec_ok(db, "CREATE TABLE t (id int PRIMARY KEY)");
    char *error = NULL;

    struct tx_ctx ctx = {.mode = TX_INSERT_OK};
    ck_assert_int_eq(ofc_db_transaction(db, false, 0, tx_simple, &ctx, &error), OFC_DB_OK);
    ck_assert_ptr_null(error);
    ck_assert_int_eq(ctx.calls, 1);
    ck_assert_int_eq(query_ll(db, "SELECT count(*) FROM t WHERE id = 1", 0, NULL), 1);
    ck_assert_int_eq(PQtransactionStatus(ofc_db_conn(db)), PQTRANS_IDLE);

    /* fn's error: rolled back, its message handed on, no retry. */
    ctx = (struct tx_ctx){.mode = TX_INSERT_ERROR};
    ck_assert_int_eq(ofc_db_transaction(db, true, 0, tx_simple, &ctx, &error), OFC_DB_ERROR);
    ck_assert_str_eq(error, "changed my mind");
    OFC_FREE(error);
    ck_assert_int_eq(ctx.calls, 1);
    ck_assert_int_eq(query_ll(db, "SELECT count(*) FROM t WHERE id = 2", 0, NULL), 0);
    ck_assert_int_eq(PQtransactionStatus(ofc_db_conn(db)), PQTRANS_IDLE);

    /* fn says OK over an aborted transaction: rolled back and reported. */
    ctx = (struct tx_ctx){.mode = TX_SWALLOW_FAILURE};
    ck_assert_int_eq(ofc_db_transaction(db, false, 3, tx_simple, &ctx, &error), OFC_DB_ERROR);
    ck_assert_ptr_nonnull(strstr(error, "aborted"));
    ck_assert_ptr_nonnull(strstr(error, "duplicate key"));
    OFC_FREE(error);
    ck_assert_int_eq(ctx.calls, 1);
    ck_assert_int_eq(query_ll(db, "SELECT count(*) FROM t WHERE id = 2", 0, NULL), 0);

    /* No nested transactions; the outer one still commits. */
    exec_ok(db, "DELETE FROM t");
    ctx = (struct tx_ctx){.mode = TX_NESTED};
    ck_assert_int_eq(ofc_db_transaction(db, false, 0, tx_simple, &ctx, NULL), OFC_DB_OK);
    ck_assert_int_eq(query_ll(db, "SELECT count(*) FROM t WHERE id = 2", 0, NULL), 1);

    exec_ok(db, "DROP TABLE t");
    ofc_db_free(&db);
}
END_TEST

/*
 * First call: read the row (taking the snapshot), let another session
 * update and commit it, then update it ourselves: under SERIALIZABLE that
 * is "could not serialize access due to concurrent update" (40001).
 */
static int tx_conflict(struct ofc_db *db, void *vctx, char **error_r)
{
    struct tx_ctx *ctx = vctx;
    ctx->calls++;
    if (query_ll(db, "SELECT v FROM c WHERE id = 1", 0, NULL) < 0)
        return OFC_DB_ERROR;
    if (ctx->calls == 1)
        exec_ok(ctx->other, "UPDATE c SET v = v + 1 WHERE id = 1");
    if (ofc_db_exec(db, "UPDATE c SET v = v + 10 WHERE id = 1", 0, NULL) != 0) {
        if (ctx->calls == 1)
            ck_assert_str_eq(ofc_db_sqlstate(db), "40001");
        *error_r = ofc_xstrdup(ofc_db_error(db));
        /* mode 1: say RETRY explicitly; mode 0: just give up. */
        return ctx->mode == 1 ? OFC_DB_RETRY : OFC_DB_ERROR;
    }
    return OFC_DB_OK;
}

START_TEST(test_transaction_serialization_retry)
{
    struct ofc_db *db = test_connect();
    struct ofc_db *other = test_connect();
    exec_ok(db, "CREATE TABLE c (id int PRIMARY KEY, v int NOT NULL)");
    exec_ok(db, "INSERT INTO c VALUES (1, 0)");
    for (int mode = 0; mode < 2; mode++) {
        struct tx_ctx ctx = {.mode = mode, .other = other};
        char *error = NULL;
        int rc = ofc_db_transaction(db, true, 0, tx_conflict, &ctx, &error);
        ck_assert_msg(rc == OFC_DB_OK, "rc %d: %s", rc, error != NULL ? error : "");
        ck_assert_int_eq(ctx.calls, 2);
    }
    /* Two rounds of +1 (other) and +10 (ours, once each). */
    ck_assert_int_eq(query_ll(db, "SELECT v FROM c WHERE id = 1", 0, NULL), 22);
    exec_ok(db, "DROP TABLE c");
    ofc_db_free(&other);
    ofc_db_free(&db);
}
END_TEST

static int tx_always_retry(struct ofc_db *db, void *vctx, char **error_r)
{
    struct tx_ctx *ctx = vctx;
    ctx->calls++;
    *error_r = ofc_xstrdup("still busy");
    return OFC_DB_RETRY;
}

START_TEST(test_transaction_gives_up)
{
    struct ofc_db *db = test_connect();
    struct tx_ctx ctx = {0};
    char *error = NULL;
    ck_assert_int_eq(ofc_db_transaction(db, false, 3, tx_always_retry, &ctx, &error), OFC_DB_ERROR);
    ck_assert_int_eq(ctx.calls, 3);
    ck_assert_ptr_nonnull(strstr(error, "after 3 attempts"));
    ck_assert_ptr_nonnull(strstr(error, "still busy"));
    free(error);

    /* The stop flag ends the retries. */
    volatile sig_atomic_t stop = 1;
    ofc_db_set_stop_flag(db, &stop);
    ctx.calls = 0;
    ck_assert_int_eq(ofc_db_transaction(db, false, 3, tx_always_retry, &ctx, &error),
                     OFC_DB_STOPPED);
    ck_assert_int_eq(ctx.calls, 1);
    free(error);
    ofc_db_free(&db);
}
END_TEST

/*
 * A real deadlock: `other` holds row 2 and waits for row 1; we hold row 1
 * and then ask for row 2. Our deadlock_timeout is short and the other's
 * long, so it is our session the server aborts with 40P01.
 */
static int tx_deadlock(struct ofc_db *db, void *vctx, char **error_r)
{
    struct tx_ctx *ctx = vctx;
    ctx->calls++;
    PGconn *oc = ofc_db_conn(ctx->other);
    if (ctx->calls == 2) {
        /* Our first attempt was rolled back: the other's UPDATE got row 1. */
        PGresult *r;
        while ((r = PQgetResult(oc)) != NULL) {
            ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
            PQclear(r);
        }
        exec_ok(ctx->other, "COMMIT");
    }
    exec_ok(db, "SET LOCAL deadlock_timeout = '100ms'");
    exec_ok(db, "UPDATE d SET v = v + 1 WHERE id = 1");
    if (ctx->calls == 1) {
        ck_assert_int_eq(PQsendQuery(oc, "UPDATE d SET v = v + 100 WHERE id = 1"), 1);
        /* Wait until it really waits for our lock, so the cycle is complete. */
        char pid[16];
        snprintf(pid, sizeof(pid), "%d", ofc_db_backend_pid(ctx->other));
        const char *p[] = {pid};
        int64_t deadline = now_ms() + 10000;
        while (query_ll(db, "SELECT cardinality(pg_blocking_pids($1::int))", 1, p) == 0) {
            ck_assert_msg(now_ms() < deadline, "the other session never blocked");
            usleep(10000);
        }
    }
    if (ofc_db_exec(db, "UPDATE d SET v = v + 1 WHERE id = 2", 0, NULL) != 0) {
        ck_assert_str_eq(ofc_db_sqlstate(db), "40P01");
        *error_r = ofc_xstrdup(ofc_db_error(db));
        return OFC_DB_ERROR;
    }
    return OFC_DB_OK;
}

START_TEST(test_transaction_deadlock_retry)
{
    struct ofc_db *db = test_connect();
    struct ofc_db *other = test_connect();
    exec_ok(db, "CREATE TABLE d (id int PRIMARY KEY, v int NOT NULL)");
    exec_ok(db, "INSERT INTO d VALUES (1, 0), (2, 0)");
    exec_ok(other, "BEGIN");
    exec_ok(other, "SET LOCAL deadlock_timeout = '60s'");
    exec_ok(other, "UPDATE d SET v = v + 100 WHERE id = 2");

    struct tx_ctx ctx = {.other = other};
    char *error = NULL;
    int rc = ofc_db_transaction(db, false, 0, tx_deadlock, &ctx, &error);
    ck_assert_msg(rc == OFC_DB_OK, "rc %d: %s", rc, error != NULL ? error : "");
    ck_assert_int_eq(ctx.calls, 2);
    ck_assert_int_eq(query_ll(db, "SELECT v FROM d WHERE id = 1", 0, NULL), 101);
    ck_assert_int_eq(query_ll(db, "SELECT v FROM d WHERE id = 2", 0, NULL), 101);
    exec_ok(db, "DROP TABLE d");
    ofc_db_free(&other);
    ofc_db_free(&db);
}
END_TEST

/* ---- connection loss ------------------------------------------------ */

static void terminate(struct ofc_db *killer, int pid)
{
    char text[16];
    snprintf(text, sizeof(text), "%d", pid);
    const char *p[] = {text};
    /* With a timeout, pg_terminate_backend waits until the session is gone. */
    ck_assert_int_eq(query_ll(killer, "SELECT pg_terminate_backend($1::int, 5000)::int", 1, p), 1);
}

static void expect_notify(struct ofc_db *db, const char *channel, const char *payload)
{
    ck_assert_int_eq(ofc_db_wait(db, 5000), 1);
    PGnotify *n = ofc_db_next_notify(db);
    ck_assert_ptr_nonnull(n);
    ck_assert_str_eq(n->relname, channel);
    ck_assert_str_eq(n->extra, payload);
    PQfreemem(n);
}

static void send_notify(struct ofc_db *db, const char *channel, const char *payload)
{
    const char *p[] = {channel, payload};
    int rc = ofc_db_exec(db, "SELECT pg_notify($1, $2)", 2, p);
    ck_assert_msg(rc == 0, "pg_notify: %s", ofc_db_error(db));
}

START_TEST(test_reconnect_after_terminate)
{
    struct ofc_db *db = test_connect();
    struct ofc_db *killer = test_connect();
    ofc_db_set_backoff(db, 20, 200);
    /* A channel name that needs quoting. */
    const char *chan = "Ofc Test \"chan\"";
    ck_assert_int_eq(ofc_db_listen(db, chan), 0);
    ck_assert_int_eq(ofc_db_listen(db, chan), 0);
    ck_assert_int_eq(ofc_db_prepare(db, "plus1", "SELECT $1::int + 1", 1), 0);
    send_notify(killer, chan, "before");
    expect_notify(db, chan, "before");

    /* Killed while idle: the next statement fails and notices. */
    int old_pid = ofc_db_backend_pid(db);
    terminate(killer, old_pid);
    ck_assert_ptr_null(ofc_db_query(db, "SELECT 1", 0, NULL));
    ck_assert(!ofc_db_connected(db));
    ck_assert_int_eq(ofc_db_backend_pid(db), 0);
    ck_assert_msg(strcmp(ofc_db_sqlstate(db), "57P01") == 0 ||
                      strcmp(ofc_db_sqlstate(db), "08006") == 0,
                  "sqlstate %s", ofc_db_sqlstate(db));
    ck_assert_int_eq(ofc_db_wait(db, 10), -1);

    ck_assert_int_eq(ofc_db_ensure(db, NULL, 5000), 0);
    ck_assert(ofc_db_connected(db));
    ck_assert_int_ne(ofc_db_backend_pid(db), old_pid);
    const char *p[] = {"41"};
    PGresult *res = ofc_db_exec_prepared(db, "plus1", 1, p);
    ck_assert_ptr_nonnull(res);
    ck_assert_str_eq(ofc_db_value(res, 0, 0), "42");
    PQclear(res);
    send_notify(killer, chan, "after");
    expect_notify(db, chan, "after");
    ck_assert_ptr_null(ofc_db_next_notify(db));

    /* Killed while waiting: the wait reports the loss. */
    old_pid = ofc_db_backend_pid(db);
    terminate(killer, old_pid);
    int64_t t0 = now_ms();
    ck_assert_int_eq(ofc_db_wait(db, 5000), -1);
    ck_assert_int_lt(now_ms() - t0, 4000);
    ck_assert(!ofc_db_connected(db));
    ck_assert_int_eq(ofc_db_ensure(db, NULL, 5000), 0);
    send_notify(killer, chan, "again");
    expect_notify(db, chan, "again");

    ofc_db_free(&killer);
    ofc_db_free(&db);
}
END_TEST

/* Terminates the session in the middle of a transaction's callback, once. */
static int tx_lose_connection(struct ofc_db *db, void *vctx, char **error_r)
{
    struct tx_ctx *ctx = vctx;
    ctx->calls++;
    if (ofc_db_exec(db, "INSERT INTO lc VALUES (1)", 0, NULL) != 0) {
        *error_r = ofc_xstrdup(ofc_db_error(db));
        return OFC_DB_ERROR;
    }
    if (ctx->calls == 1) {
        terminate(ctx->other, ofc_db_backend_pid(db));
        if (ofc_db_exec(db, "SELECT 1", 0, NULL) != 0) {
            *error_r = ofc_xstrdup(ofc_db_error(db));
            return OFC_DB_ERROR;
        }
    }
    return OFC_DB_OK;
}

START_TEST(test_transaction_reconnects)
{
    struct ofc_db *db = test_connect();
    struct ofc_db *killer = test_connect();
    ofc_db_set_backoff(db, 20, 200);
    exec_ok(db, "CREATE TABLE lc (id int PRIMARY KEY)");
    struct tx_ctx ctx = {.other = killer};
    char *error = NULL;
    int rc = ofc_db_transaction(db, false, 0, tx_lose_connection, &ctx, &error);
    ck_assert_msg(rc == OFC_DB_OK, "rc %d: %s", rc, error != NULL ? error : "");
    ck_assert_int_eq(ctx.calls, 2);
    ck_assert_int_eq(query_ll(db, "SELECT count(*) FROM lc", 0, NULL), 1);
    exec_ok(db, "DROP TABLE lc");
    ofc_db_free(&killer);
    ofc_db_free(&db);
}
END_TEST

/* Runs tests/pgcluster.py restart DIR SECONDS in a child; returns its pid. */
static pid_t start_restart(const char *seconds)
{
    const char *src = getenv("OFC_SOURCE_DIR");
    const char *dir = getenv("OFC_TEST_PGDIR");
    const char *python = getenv("OFC_PYTHON");
    ck_assert_ptr_nonnull(src);
    ck_assert_ptr_nonnull(dir);
    if (python == NULL || python[0] == '\0')
        python = "python3";
    char *script = ofc_xasprintf("%s/tests/pgcluster.py", src);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        execlp(python, python, script, "restart", dir, seconds, (char *)NULL);
        _exit(127);
    }
    free(script);
    return pid;
}

START_TEST(test_reconnect_after_server_restart)
{
    struct ofc_db *db = test_connect();
    ofc_db_set_backoff(db, 50, 400);
    ck_assert_int_eq(ofc_db_listen(db, "ofc_restart"), 0);
    int old_pid = ofc_db_backend_pid(db);

    /* The server stays down for a second; our session dies with it. */
    pid_t child = start_restart("1");
    int64_t deadline = now_ms() + 30000;
    while (ofc_db_exec(db, "SELECT 1", 0, NULL) == 0) {
        ck_assert_msg(now_ms() < deadline, "the server never went down");
        usleep(20000);
    }
    ck_assert(!ofc_db_connected(db));
    ck_assert_int_eq(ofc_db_ensure(db, NULL, 30000), 0);
    ck_assert_int_ne(ofc_db_backend_pid(db), old_pid);

    int status = 0;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "pgcluster.py restart failed");
    ck_assert_int_eq(query_ll(db, "SELECT 7", 0, NULL), 7);

    struct ofc_db *other = test_connect();
    send_notify(other, "ofc_restart", "back");
    expect_notify(db, "ofc_restart", "back");
    ofc_db_free(&other);
    ofc_db_free(&db);
}
END_TEST

/* A loopback port nobody listens on: connections are refused at once. */
static int dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t len = sizeof(sa);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static volatile sig_atomic_t alarm_stop;

static void on_alarm(int sig)
{
    (void)sig;
    alarm_stop = 1;
}

START_TEST(test_ensure_unreachable)
{
    char *info = ofc_xasprintf("host=127.0.0.1 port=%d dbname=x user=x password=secret-pw "
                               "connect_timeout=2",
                               dead_port());
    struct ofc_db *db = ofc_db_new(info, "test_db");
    free(info);
    char *error = NULL;
    ck_assert_int_eq(ofc_db_connect(db, &error), -1);
    ck_assert_ptr_nonnull(error);
    ck_assert_ptr_null(strstr(error, "secret-pw"));
    ck_assert_ptr_null(strchr(error, '\n'));
    free(error);
    ck_assert_ptr_null(ofc_db_query(db, "SELECT 1", 0, NULL));
    ck_assert_int_eq(ofc_db_wait(db, 10), -1);

    /* max_wait_ms bounds the attempts. */
    ofc_db_set_backoff(db, 20, 100);
    int64_t t0 = now_ms();
    ck_assert_int_eq(ofc_db_ensure(db, NULL, 300), -1);
    int64_t took = now_ms() - t0;
    ck_assert_int_ge(took, 250);
    ck_assert_int_lt(took, 2000);

    /* A raised stop flag ends an endless wait promptly (slow backoff on purpose). */
    ofc_db_set_backoff(db, 5000, 10000);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    ck_assert_int_eq(sigaction(SIGALRM, &sa, NULL), 0);
    struct itimerval it = {.it_value = {.tv_sec = 0, .tv_usec = 300000}};
    alarm_stop = 0;
    ck_assert_int_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
    t0 = now_ms();
    ck_assert_int_eq(ofc_db_ensure(db, &alarm_stop, -1), -1);
    took = now_ms() - t0;
    ck_assert_int_ge(took, 250);
    ck_assert_int_lt(took, 1500);

    /* Already raised: not even one attempt. */
    ck_assert_int_eq(ofc_db_ensure(db, &alarm_stop, -1), -1);
    ofc_db_free(&db);
}
END_TEST

START_TEST(test_wait)
{
    struct ofc_db *db = test_connect();
    ck_assert_int_eq(ofc_db_listen(db, "ofc_wait"), 0);

    int64_t t0 = now_ms();
    ck_assert_int_eq(ofc_db_wait(db, 200), 0);
    int64_t took = now_ms() - t0;
    ck_assert_int_ge(took, 190);
    ck_assert_int_lt(took, 1000);
    ck_assert_ptr_null(ofc_db_next_notify(db));
    ck_assert_int_eq(ofc_db_wait(db, 0), 0);

    /* Our own NOTIFY comes back to us, in order. */
    send_notify(db, "ofc_wait", "one");
    send_notify(db, "ofc_wait", "two");
    expect_notify(db, "ofc_wait", "one");
    expect_notify(db, "ofc_wait", "two");
    ck_assert_int_eq(ofc_db_wait(db, 0), 0);

    /* The wake descriptor ends the wait early. */
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    ofc_db_set_wake_fd(db, fds[0]);
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
    t0 = now_ms();
    ck_assert_int_eq(ofc_db_wait(db, 5000), 0);
    ck_assert_int_lt(now_ms() - t0, 1000);
    ofc_db_set_wake_fd(db, -1);
    close(fds[0]);
    close(fds[1]);

    /* A signal interrupts the wait: 0, so the caller can look at its flags. */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    ck_assert_int_eq(sigaction(SIGALRM, &sa, NULL), 0);
    struct itimerval it = {.it_value = {.tv_sec = 0, .tv_usec = 100000}};
    ck_assert_int_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
    t0 = now_ms();
    ck_assert_int_eq(ofc_db_wait(db, 5000), 0);
    ck_assert_int_lt(now_ms() - t0, 2000);
    ofc_db_free(&db);
}
END_TEST

static Suite *db_suite(void)
{
    Suite *s = suite_create("db");
    TCase *tc = tcase_create("db");
    tcase_add_unchecked_fixture(tc, setup_database, teardown_database);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_query_params);
    tcase_add_test(tc, test_session_options);
    tcase_add_test(tc, test_prepared);
    tcase_add_test(tc, test_sqlstate);
    tcase_add_test(tc, test_script);
    tcase_add_test(tc, test_transaction_commit_rollback);
    tcase_add_test(tc, test_transaction_serialization_retry);
    tcase_add_test(tc, test_transaction_gives_up);
    tcase_add_test(tc, test_transaction_deadlock_retry);
    tcase_add_test(tc, test_reconnect_after_terminate);
    tcase_add_test(tc, test_transaction_reconnects);
    tcase_add_test(tc, test_reconnect_after_server_restart);
    tcase_add_test(tc, test_ensure_unreachable);
    tcase_add_test(tc, test_wait);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(db_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
