/*
 * database.c - reaching the node's database, embedded or not.
 */
/* System. */
#include <stdbool.h>
#include <stdlib.h>

/* libofc. */
#include "ofc_cluster.h"
#include "ofc_db.h"
#include "ofc_mem.h"

/* This program. */
#include "ofcsetup.h"

int setup_bring_up_embedded(struct setup *s, bool create)
{
    char *error = NULL;

    if (!create && !ofc_cluster_exists(s->cluster)) {
        setup_error("there is no node here: no embedded cluster in %s (ofcsetup create-node "
                    "makes one)",
                    ofc_cluster_data_dir(s->cluster));
        return -1;
    }
    /* Each step is a no-op when already done, so a re-run just checks. */
    if (ofc_cluster_init(s->cluster, &error) < 0 ||
        ofc_cluster_start(s->cluster, NULL, &error) < 0 ||
        ofc_cluster_create_database(s->cluster, NULL, &error) < 0) {
        setup_error("%s", error);
        free(error);
        return -1;
    }
    return 0;
}

struct ofc_db *setup_connect(const struct setup *s)
{
    struct ofc_db *db = ofc_db_new(s->conninfo, "ofcsetup");
    char *error = NULL;
    if (ofc_db_connect(db, &error) < 0) {
        /* libpq's message, which never contains the password. */
        setup_error("cannot connect to the database: %s", error);
        free(error);
        ofc_db_free(&db);
        return NULL;
    }
    return db;
}

int setup_local_node(struct ofc_db *db, char **name_r, char **error_r)
{
    *name_r = NULL;
    /* to_regclass: NULL when the table (or the whole schema) is not there. */
    PGresult *res =
        ofc_db_query(db, "SELECT pg_catalog.to_regclass('ofc.node') IS NOT NULL", 0, NULL);
    if (res == NULL)
        goto fail;
    const char *have = ofc_db_value(res, 0, 0);
    bool exists = have != NULL && have[0] == 't';
    PQclear(res);
    if (!exists)
        return 0;
    res = ofc_db_query(db, "SELECT name FROM ofc.node WHERE is_local", 0, NULL);
    if (res == NULL)
        goto fail;
    if (PQntuples(res) > 0)
        *name_r = ofc_xstrdup(ofc_db_value(res, 0, 0));
    PQclear(res);
    return 0;
fail:
    *error_r = ofc_xstrdup(ofc_db_error(db));
    return -1;
}
