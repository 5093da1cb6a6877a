/*
 * cluster_cmd.c - ofcsetup start-db and stop-db, for the embedded cluster.
 *
 * The Guardian will start and stop the cluster with the node; these two
 * commands are for the administrator in between (maintenance, backups).
 */
/* System. */
#include <stdio.h>
#include <stdlib.h>

/* libofc. */
#include "ofc_cluster.h"

/* This program. */
#include "ofcsetup.h"

static int only_embedded(const struct setup *s, const char *command)
{
    if (s->embedded)
        return 0;
    setup_error("%s is for the embedded cluster only; this node's database is %s", command,
                s->conninfo_public);
    return -1;
}

int cmd_start_db(struct setup *s)
{
    bool started = false;
    char *error = NULL;

    if (only_embedded(s, "start-db") < 0)
        return SETUP_EXIT_USAGE;
    if (ofc_cluster_start(s->cluster, &started, &error) < 0) {
        setup_error("%s", error);
        free(error);
        return SETUP_EXIT_FAILURE;
    }
    (void)printf("embedded cluster %s (socket in %s)\n", started ? "started" : "already running",
                 ofc_cluster_socket_dir(s->cluster));
    return SETUP_EXIT_OK;
}

int cmd_stop_db(struct setup *s)
{
    bool stopped = false;
    char *error = NULL;

    if (only_embedded(s, "stop-db") < 0)
        return SETUP_EXIT_USAGE;
    if (ofc_cluster_stop(s->cluster, &stopped, &error) < 0) {
        setup_error("%s", error);
        free(error);
        return SETUP_EXIT_FAILURE;
    }
    (void)printf("embedded cluster %s\n", stopped ? "stopped" : "was not running");
    return SETUP_EXIT_OK;
}
