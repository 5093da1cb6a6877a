/*
 * drop_node.c - ofcsetup drop-node: the deinstallation.
 *
 * With an embedded cluster the node is the cluster: it is stopped and its
 * data and socket directories are deleted; the logs stay, because they
 * may be needed to understand what happened before. In a database of
 * someone else's (connect=...), everything ofcmail has is in schema ofc,
 * which goes in one transaction. Either way the administrator confirms by
 * typing the node's name, or says --yes.
 */
/* System. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* libofc. */
#include "ofc_cluster.h"
#include "ofc_config.h"
#include "ofc_db.h"
#include "ofc_log.h"
#include "ofc_mem.h"

/* This program. */
#include "ofcsetup.h"

/* Same key as the migrations: a drop never runs while a create or upgrade does. */
#define DROP_LOCK_KEY "8027212733109007728"

static bool path_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 || errno != ENOENT;
}

/* Returns an exit status: 0 when the administrator confirmed (or said --yes). */
static int confirm(const struct setup *s, const char *name, const char *what)
{
    if (s->opt.yes)
        return SETUP_EXIT_OK;
    if (!setup_have_terminal()) {
        setup_error("drop-node asks for confirmation on a terminal; use --yes to drop without");
        return SETUP_EXIT_USAGE;
    }
    (void)fprintf(stderr, "This removes node %s: %s.\n", name, what);
    char *question = ofc_xasprintf("Type the node name (%s) to drop it: ", name);
    char *answer = NULL, *error = NULL;
    int rc = prompt_line(question, &answer, &error);
    free(question);
    if (rc < 0) {
        setup_error("not confirmed (%s); nothing was dropped", error);
        free(error);
        return SETUP_EXIT_FAILURE;
    }
    bool ok = strcasecmp(answer, name) == 0;
    free(answer);
    if (!ok) {
        setup_error("the name typed is not %s; nothing was dropped", name);
        return SETUP_EXIT_FAILURE;
    }
    return SETUP_EXIT_OK;
}

/* The node's name from its running embedded cluster; NULL when it cannot be had. */
static char *embedded_node_name(struct setup *s)
{
    bool running = false;
    char *error = NULL, *name = NULL;
    if (ofc_cluster_running(s->cluster, &running, &error) < 0) {
        free(error);
        return NULL;
    }
    if (!running)
        return NULL;
    struct ofc_db *db = ofc_db_new(s->conninfo, "ofcsetup");
    if (ofc_db_connect(db, &error) == 0 && setup_local_node(db, &name, &error) < 0)
        name = NULL;
    free(error);
    ofc_db_free(&db);
    return name;
}

static int drop_embedded(struct setup *s)
{
    const char *data = ofc_cluster_data_dir(s->cluster);
    const char *sock = ofc_cluster_socket_dir(s->cluster);
    if (!ofc_cluster_exists(s->cluster) && !path_exists(data) && !path_exists(sock)) {
        (void)printf("nothing to drop: there is no embedded cluster in %s\n", data);
        return SETUP_EXIT_OK;
    }
    char *name = embedded_node_name(s);
    if (name == NULL)
        name = ofc_xstrdup(s->cfg->node);
    char *what = ofc_xasprintf("the embedded PostgreSQL cluster in %s with every message, "
                               "account and setting of the node",
                               data);
    int status = confirm(s, name, what);
    free(what);
    if (status != SETUP_EXIT_OK) {
        free(name);
        return status;
    }
    char *error = NULL;
    if (ofc_cluster_remove(s->cluster, &error) < 0) {
        setup_error("%s", error);
        free(error);
        free(name);
        return SETUP_EXIT_FAILURE;
    }
    char *log_dir = ofc_config_node_log_dir(s->cfg);
    ofc_info("dropped node %s: removed the embedded cluster %s", name, data);
    (void)printf("dropped node %s: removed the embedded cluster (%s) and its socket directory "
                 "(%s); the logs stay in %s\n",
                 name, data, sock, log_dir);
    free(log_dir);
    free(name);
    return SETUP_EXIT_OK;
}

static int drop_tx(struct ofc_db *db, void *ctx, char **error_r)
{
    (void)ctx;
    const char *const key[] = {DROP_LOCK_KEY};
    if (ofc_db_exec(db, "SELECT pg_catalog.pg_advisory_xact_lock($1)", 1, key) < 0 ||
        ofc_db_exec(db, "DROP SCHEMA IF EXISTS ofc CASCADE", 0, NULL) < 0) {
        *error_r = ofc_xasprintf("cannot drop schema ofc: %s", ofc_db_error(db));
        return OFC_DB_ERROR;
    }
    return OFC_DB_OK;
}

static int drop_external(struct setup *s)
{
    struct ofc_db *db = setup_connect(s);
    if (db == NULL)
        return SETUP_EXIT_FAILURE;

    int status = SETUP_EXIT_FAILURE;
    char *name = NULL, *error = NULL;
    PGresult *res =
        ofc_db_query(db, "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'ofc'", 0, NULL);
    if (res == NULL) {
        setup_error("cannot look for schema ofc: %s", ofc_db_error(db));
        goto out;
    }
    bool have_schema = PQntuples(res) > 0;
    PQclear(res);
    if (!have_schema) {
        (void)printf("nothing to drop: the database has no schema ofc\n");
        status = SETUP_EXIT_OK;
        goto out;
    }
    if (setup_local_node(db, &name, &error) < 0) {
        setup_error("cannot read the node: %s", error);
        goto out;
    }
    if (name == NULL)
        name = ofc_xstrdup(s->cfg->node);
    status = confirm(s, name, "schema ofc and every object in it (messages, accounts, settings)");
    if (status != SETUP_EXIT_OK)
        goto out;
    status = SETUP_EXIT_FAILURE;
    if (ofc_db_transaction(db, false, 3, drop_tx, NULL, &error) != OFC_DB_OK) {
        setup_error("%s; nothing was dropped", error != NULL ? error : "drop failed");
        goto out;
    }
    ofc_info("dropped node %s: schema ofc removed from %s", name, s->conninfo_public);
    (void)printf("dropped node %s: schema ofc and every object in it removed\n", name);
    status = SETUP_EXIT_OK;
out:
    free(name);
    free(error);
    ofc_db_free(&db);
    return status;
}

int cmd_drop_node(struct setup *s)
{
    return s->embedded ? drop_embedded(s) : drop_external(s);
}
