/*
 * migrate.c - bringing the schema to the version this ofcsetup carries.
 *
 * All of it happens in the caller's transaction: the schema, the version
 * table and every pending migration commit together or not at all, so a
 * failure (no privilege, a broken server, a migration that does not apply)
 * leaves the database as it was. An advisory lock taken first makes two
 * ofcsetups that run at once take turns instead of racing to create the
 * same objects.
 */
/* System. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libofc. */
#include "ofc_db.h"
#include "ofc_log.h"
#include "ofc_mem.h"

/* Schema. */
#include "ofc_migrations.h"

/* This program. */
#include "ofcsetup.h"

/* pg_advisory_xact_lock key shared by every ofcsetup: "ofcsetup" in ASCII. */
#define MIGRATE_LOCK_KEY "8027212733109007728"

int migrate_newest_known(void)
{
    int newest = 0;
    for (const struct ofc_migration *m = ofc_migrations; m->version != 0; m++)
        if (m->version > newest)
            newest = m->version;
    return newest;
}

void migrate_result_clear(struct migrate_result *r)
{
    OFC_FREE(r->applied);
    r->version = 0;
    r->applied_count = 0;
}

/* Runs one statement without result; on failure sets *error_r to "<what>: <why>". */
static int step(struct ofc_db *db, const char *what, const char *sql, int n,
                const char *const *params, char **error_r)
{
    if (ofc_db_exec(db, sql, n, params) == 0)
        return 0;
    *error_r = ofc_xasprintf("%s: %s", what, ofc_db_error(db));
    return -1;
}

/* Whether version v is among the applied ones (a sorted result of one column). */
static bool applied_already(const PGresult *res, int v)
{
    for (int i = 0; i < PQntuples(res); i++)
        if (ofc_db_value_ll(res, i, 0, -1) == v)
            return true;
    return false;
}

int migrate_run(struct ofc_db *db, struct migrate_result *r, char **error_r)
{
    /* The transaction helper may call us again after a conflict: start clean. */
    migrate_result_clear(r);
    r->newest_known = migrate_newest_known();

    const char *const key[] = {MIGRATE_LOCK_KEY};
    if (step(db, "cannot take the setup lock", "SELECT pg_catalog.pg_advisory_xact_lock($1)", 1,
             key, error_r) < 0)
        return -1;

    /*
     * Look before CREATE SCHEMA: it checks the CREATE privilege on the
     * database even with IF NOT EXISTS, and a role that was handed an
     * existing schema by its DBA may well lack that privilege.
     */
    PGresult *res =
        ofc_db_query(db, "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'ofc'", 0, NULL);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot look for schema ofc: %s", ofc_db_error(db));
        return -1;
    }
    bool have_schema = PQntuples(res) > 0;
    PQclear(res);
    if (!have_schema &&
        step(db, "cannot create schema ofc", "CREATE SCHEMA ofc", 0, NULL, error_r) < 0)
        return -1;
    if (step(db, "cannot create table ofc.schema_version",
             "CREATE TABLE IF NOT EXISTS ofc.schema_version ("
             " version integer PRIMARY KEY,"
             " name text NOT NULL,"
             " applied_at timestamptz NOT NULL DEFAULT now())",
             0, NULL, error_r) < 0)
        return -1;

    res = ofc_db_query(db, "SELECT version FROM ofc.schema_version ORDER BY version", 0, NULL);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot read ofc.schema_version: %s", ofc_db_error(db));
        return -1;
    }
    int n = PQntuples(res);
    long long db_newest = n > 0 ? ofc_db_value_ll(res, n - 1, 0, 0) : 0;
    if (db_newest > r->newest_known) {
        *error_r = ofc_xasprintf("database schema version %lld is newer than this ofcsetup (%d); "
                                 "upgrade ofcmail",
                                 db_newest, r->newest_known);
        PQclear(res);
        return -1;
    }

    /* The migrations' unqualified names mean schema ofc, for this transaction only. */
    if (step(db, "cannot set the search path",
             "SELECT pg_catalog.set_config('search_path', 'ofc', true)", 0, NULL, error_r) < 0) {
        PQclear(res);
        return -1;
    }
    struct ofc_strbuf applied = OFC_STRBUF_INIT;
    int ret = 0;
    for (const struct ofc_migration *m = ofc_migrations; m->version != 0; m++) {
        if (applied_already(res, m->version))
            continue;
        if (ofc_db_exec_script(db, m->sql) < 0) {
            *error_r = ofc_xasprintf("migration %03d_%s failed: %s", m->version, m->name,
                                     ofc_db_error(db));
            ret = -1;
            break;
        }
        char version[16];
        (void)snprintf(version, sizeof(version), "%d", m->version);
        const char *const params[] = {version, m->name};
        if (step(db, "cannot record the migration",
                 "INSERT INTO ofc.schema_version (version, name) VALUES ($1, $2)", 2, params,
                 error_r) < 0) {
            ret = -1;
            break;
        }
        if (applied.len > 0)
            ofc_strbuf_puts(&applied, ", ");
        ofc_strbuf_printf(&applied, "%d %s", m->version, m->name);
        r->applied_count++;
    }
    PQclear(res);
    if (ret < 0) {
        ofc_strbuf_free(&applied);
        return -1;
    }

    res = ofc_db_query(db, "SELECT coalesce(max(version), 0) FROM ofc.schema_version", 0, NULL);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot read ofc.schema_version: %s", ofc_db_error(db));
        ofc_strbuf_free(&applied);
        return -1;
    }
    r->version = (int)ofc_db_value_ll(res, 0, 0, 0);
    PQclear(res);
    r->applied = ofc_strbuf_detach(&applied);
    return 0;
}

/* ---- ofcsetup upgrade ------------------------------------------------ */

static int upgrade_tx(struct ofc_db *db, void *ctx, char **error_r)
{
    return migrate_run(db, ctx, error_r) == 0 ? OFC_DB_OK : OFC_DB_ERROR;
}

int cmd_upgrade(struct setup *s)
{
    if (s->embedded && setup_bring_up_embedded(s, false) < 0)
        return SETUP_EXIT_FAILURE;
    struct ofc_db *db = setup_connect(s);
    if (db == NULL)
        return SETUP_EXIT_FAILURE;

    struct migrate_result r = {0};
    char *error = NULL;
    int rc = ofc_db_transaction(db, false, 3, upgrade_tx, &r, &error);
    ofc_db_free(&db);
    if (rc != OFC_DB_OK) {
        setup_error("%s", error != NULL ? error : "upgrade failed");
        free(error);
        migrate_result_clear(&r);
        return SETUP_EXIT_FAILURE;
    }
    if (r.applied_count > 0)
        ofc_info("schema upgraded to version %d (applied: %s)", r.version, r.applied);
    else
        ofc_info("schema already at version %d", r.version);
    (void)printf("schema at version %d (applied: %s)\n", r.version,
                 r.applied_count > 0 ? r.applied : "none");
    migrate_result_clear(&r);
    return SETUP_EXIT_OK;
}
