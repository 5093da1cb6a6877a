/*
 * status.c - ofcsetup status: what this node is and whether it is up.
 *
 * Read-only: status never starts the embedded cluster, never creates or
 * migrates anything, so it is safe to run from monitoring scripts. Its exit
 * status says which of three situations holds: 0 a node exists, 1 its
 * database cannot be reached, 3 there is no node.
 */
/* System. */
#include <stdio.h>
#include <stdlib.h>

/* libofc. */
#include "ofc_cluster.h"
#include "ofc_db.h"
#include "ofc_mem.h"

/* This program. */
#include "ofcsetup.h"

#define LABEL "%-18s"

/* Runs a query that must work; prints the failure. NULL on error. */
static PGresult *must_query(struct ofc_db *db, const char *what, const char *sql, int n,
                            const char *const *params)
{
    PGresult *res = ofc_db_query(db, sql, n, params);
    if (res == NULL)
        setup_error("cannot read %s: %s", what, ofc_db_error(db));
    return res;
}

static void print_cluster(const struct setup *s, const char *state)
{
    (void)printf(LABEL "%s (data %s, socket %s)\n", "embedded cluster:", state,
                 ofc_cluster_data_dir(s->cluster), ofc_cluster_socket_dir(s->cluster));
}

/* Prints the node's facts; returns an exit status. */
static int show_node(const struct setup *s, struct ofc_db *db)
{
    int newest = migrate_newest_known();
    PGresult *res = must_query(db, "the schema",
                               "SELECT pg_catalog.to_regclass('ofc.schema_version') IS NOT NULL,"
                               " pg_catalog.to_regclass('ofc.node') IS NOT NULL",
                               0, NULL);
    if (res == NULL)
        return SETUP_EXIT_FAILURE;
    bool have_versions = ofc_db_value(res, 0, 0)[0] == 't';
    bool have_nodes = ofc_db_value(res, 0, 1)[0] == 't';
    PQclear(res);

    long long version = 0;
    if (have_versions) {
        res = must_query(db, "the schema version",
                         "SELECT coalesce(max(version), 0) FROM ofc.schema_version", 0, NULL);
        if (res == NULL)
            return SETUP_EXIT_FAILURE;
        version = ofc_db_value_ll(res, 0, 0, 0);
        PQclear(res);
    }
    if (!have_nodes) {
        (void)printf("no node here: the database has no ofcmail schema (ofcsetup create-node "
                     "makes one)\n");
        return SETUP_EXIT_NO_NODE;
    }
    res =
        must_query(db, "the node",
                   "SELECT id, name, description, time_zone FROM ofc.node WHERE is_local", 0, NULL);
    if (res == NULL)
        return SETUP_EXIT_FAILURE;
    if (PQntuples(res) == 0) {
        PQclear(res);
        (void)printf("no node here: schema version %lld, but no local node "
                     "(ofcsetup create-node makes one)\n",
                     version);
        return SETUP_EXIT_NO_NODE;
    }
    char *node_id = ofc_xstrdup(ofc_db_value(res, 0, 0));
    (void)printf(LABEL "%s (%s), time zone %s\n", "node:", ofc_db_value(res, 0, 1),
                 ofc_db_value(res, 0, 2), ofc_db_value(res, 0, 3));
    PQclear(res);
    (void)printf(LABEL "%lld (newest known %d%s)\n", "schema version:", version, newest,
                 version < newest   ? ": run ofcsetup upgrade"
                 : version > newest ? ": the database is newer than this ofcsetup"
                                    : "");

    int status = SETUP_EXIT_FAILURE;
    res =
        must_query(db, "the domains", "SELECT upper(fqdn) FROM ofc.domain ORDER BY fqdn", 0, NULL);
    if (res == NULL)
        goto out;
    (void)printf(LABEL, "domains:");
    for (int i = 0; i < PQntuples(res); i++)
        (void)printf("%s%s", i > 0 ? ", " : "", ofc_db_value(res, i, 0));
    (void)printf("%s\n", PQntuples(res) == 0 ? "none" : "");
    PQclear(res);

    res = must_query(db, "the accounts", "SELECT count(*) FROM ofc.account", 0, NULL);
    if (res == NULL)
        goto out;
    (void)printf(LABEL "%s\n", "accounts:", ofc_db_value(res, 0, 0));
    PQclear(res);

    const char *const params[] = {node_id};
    res = must_query(db, "the processes",
                     "SELECT p.type, p.instance, p.desired_state,"
                     " coalesce(st.state, 'STOPPED')"
                     " FROM ofc.process p LEFT JOIN ofc.process_status st ON st.process_id = p.id"
                     " WHERE p.node_id = $1 ORDER BY p.type, p.instance",
                     1, params);
    if (res == NULL)
        goto out;
    (void)printf(LABEL "%d registered\n", "processes:", PQntuples(res));
    for (int i = 0; i < PQntuples(res); i++)
        (void)printf("  %-12s %2s  desired %-8s state %s\n", ofc_db_value(res, i, 0),
                     ofc_db_value(res, i, 1), ofc_db_value(res, i, 2), ofc_db_value(res, i, 3));
    PQclear(res);

    res = must_query(db, "the database size",
                     "SELECT pg_catalog.pg_size_pretty("
                     "pg_catalog.pg_database_size(pg_catalog.current_database()))",
                     0, NULL);
    if (res == NULL)
        goto out;
    (void)printf(LABEL "%s\n", "database size:", ofc_db_value(res, 0, 0));
    PQclear(res);
    (void)printf(LABEL "%s\n", "connect:", s->conninfo_public);
    status = SETUP_EXIT_OK;
out:
    free(node_id);
    return status;
}

int cmd_status(struct setup *s)
{
    if (s->embedded) {
        bool running = false;
        char *error = NULL;
        if (!ofc_cluster_exists(s->cluster)) {
            print_cluster(s, "none");
            (void)printf("no node here (ofcsetup create-node makes one)\n");
            return SETUP_EXIT_NO_NODE;
        }
        if (ofc_cluster_running(s->cluster, &running, &error) < 0) {
            setup_error("%s", error);
            free(error);
            return SETUP_EXIT_FAILURE;
        }
        if (!running) {
            print_cluster(s, "stopped");
            setup_error("the embedded cluster is not running (ofcsetup start-db starts it)");
            return SETUP_EXIT_FAILURE;
        }
    }
    struct ofc_db *db = setup_connect(s);
    if (db == NULL)
        return SETUP_EXIT_FAILURE;
    int status = show_node(s, db);
    ofc_db_free(&db);
    if (s->embedded)
        print_cluster(s, "running");
    return status;
}
