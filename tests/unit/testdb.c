/*
 * testdb.c - a fresh, migrated database per unit test program.
 */
/* System. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Libraries. */
#include <check.h>

/* libofc. */
#include "ofc_db.h"
#include "ofc_mem.h"
#include "ofc_migrations.h"

/* Tests. */
#include "testdb.h"

static char *read_conninfo(void)
{
    const char *path = getenv("OFC_TEST_PGINFO");
    ck_assert_msg(path != NULL, "OFC_TEST_PGINFO is not set (run through ctest)");
    FILE *fp = fopen(path, "re");
    ck_assert_msg(fp != NULL, "cannot read %s", path);
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    char buf[512];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
        ofc_strbuf_append(&sb, buf, n);
    (void)fclose(fp);
    while (sb.len > 0 && strchr("\r\n ", sb.data[sb.len - 1]) != NULL)
        sb.data[--sb.len] = '\0';
    return ofc_strbuf_detach(&sb);
}

static struct ofc_db *connect_or_fail(const char *conninfo, const char *application_name)
{
    struct ofc_db *db = ofc_db_new(conninfo, application_name);
    char *error = NULL;
    int rc = ofc_db_connect(db, &error);
    ck_assert_msg(rc == 0, "connect: %s", error != NULL ? error : "?");
    return db;
}

void testdb_exec(struct ofc_db *db, const char *sql, int nparams, const char *const *params)
{
    int rc = ofc_db_exec(db, sql, nparams, params);
    ck_assert_msg(rc == 0, "%s: %s", sql, ofc_db_error(db));
}

long long testdb_query_ll(struct ofc_db *db, const char *sql, int nparams,
                          const char *const *params, long long dflt)
{
    PGresult *res = ofc_db_query(db, sql, nparams, params);
    ck_assert_msg(res != NULL, "%s: %s", sql, ofc_db_error(db));
    long long v = ofc_db_value_ll(res, 0, 0, dflt);
    PQclear(res);
    return v;
}

void testdb_create(struct testdb *t, const char *prefix)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_REALTIME, &ts);
    memset(t, 0, sizeof(*t));
    t->base_conninfo = read_conninfo();
    /* Unique per run: parallel ctest runs and a crashed earlier run never collide. */
    t->name = ofc_xasprintf("%s_%ld_%lld", prefix, (long)getpid(),
                            (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    /* In a conninfo string the last setting of a keyword wins. */
    t->conninfo = ofc_xasprintf("%s dbname=%s", t->base_conninfo, t->name);

    struct ofc_db *db = connect_or_fail(t->base_conninfo, "testdb create");
    /* CREATE DATABASE takes no parameters; the name is ours, not input. */
    char *sql = ofc_xasprintf("CREATE DATABASE %s", t->name);
    testdb_exec(db, sql, 0, NULL);
    free(sql);
    ofc_db_free(&db);

    db = testdb_connect(t, "testdb migrate");
    testdb_exec(db, "CREATE SCHEMA ofc", 0, NULL);
    for (const struct ofc_migration *m = ofc_migrations; m->version != 0; m++) {
        int rc = ofc_db_exec_script(db, m->sql);
        ck_assert_msg(rc == 0, "migration %03d_%s: %s", m->version, m->name, ofc_db_error(db));
    }
    ofc_db_free(&db);
}

struct ofc_db *testdb_connect(const struct testdb *t, const char *application_name)
{
    return connect_or_fail(t->conninfo, application_name);
}

void testdb_drop(struct testdb *t)
{
    if (t->name != NULL && getenv("OFC_TEST_KEEP") == NULL) {
        struct ofc_db *db = connect_or_fail(t->base_conninfo, "testdb drop");
        char *sql = ofc_xasprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", t->name);
        testdb_exec(db, sql, 0, NULL);
        free(sql);
        ofc_db_free(&db);
    } else if (t->name != NULL) {
        fprintf(stderr, "keeping database %s\n", t->name);
    }
    OFC_FREE(t->base_conninfo);
    OFC_FREE(t->name);
    OFC_FREE(t->conninfo);
}
