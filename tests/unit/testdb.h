/*
 * testdb.h - a fresh ofcmail database for one unit test program.
 *
 * testdb_create() makes a database with a name no other run uses, in the
 * private cluster of the `pg` ctest fixture ($OFC_TEST_PGINFO), creates
 * schema ofc and applies every compiled-in migration (ofc_migrations[]), as
 * ofcsetup would. testdb_drop() removes it. Failures fail the test (Check).
 */
#ifndef TESTDB_H
#define TESTDB_H

struct ofc_db;

struct testdb {
    char *base_conninfo; /* the fixture's superuser conninfo */
    char *name;          /* the database's name */
    char *conninfo;      /* base_conninfo for that database */
};

/* Creates and migrates a database named "<prefix>_<pid>_<time>". */
void testdb_create(struct testdb *t, const char *prefix);
/* Drops the database (sessions still open are terminated) and frees t. */
void testdb_drop(struct testdb *t);
/* A connected handle to the test database; the caller frees it. */
struct ofc_db *testdb_connect(const struct testdb *t, const char *application_name);

/* Runs sql (parameters only) and fails the test when it fails. */
void testdb_exec(struct ofc_db *db, const char *sql, int nparams, const char *const *params);
/* The first column of the first row as a number, or dflt. */
long long testdb_query_ll(struct ofc_db *db, const char *sql, int nparams,
                          const char *const *params, long long dflt);

#endif
