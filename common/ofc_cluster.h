/*
 * ofc_cluster.h - the embedded private PostgreSQL cluster of a node.
 *
 * When the configuration has no `connect` string, a node keeps its
 * database in a cluster of its own: data in <var_dir>/<SID>/pgdata, the
 * server's unix socket in <var_dir>/<SID>/run, its log in
 * <log_dir>/<SID>/postgresql.log. It listens on no TCP port at all. The
 * cluster's only role is the superuser "ofcmail" with trust authentication,
 * which is safe because the socket directory is mode 0750 and belongs to
 * the account that runs the node: nobody else can reach the socket.
 *
 * ofcsetup creates and removes it; ofcsetup and ofcguard start and stop
 * it. initdb and pg_ctl run as child processes (fork/execv, never a shell)
 * under the calling user, which must not be root: PostgreSQL refuses root,
 * and callers drop privileges first.
 */
#ifndef OFC_CLUSTER_H
#define OFC_CLUSTER_H

#include <stdbool.h>

struct ofc_config;
struct ofc_cluster;

/* The fixed names inside the cluster. */
#define OFC_CLUSTER_PORT     5432
#define OFC_CLUSTER_DATABASE "ofcmail"
#define OFC_CLUSTER_ROLE     "ofcmail"

/*
 * A handle on the cluster the configuration describes; nothing is touched
 * yet. The PostgreSQL binaries are looked up when first needed: the
 * config's pg_bindir, else the version that created the data directory
 * (/usr/lib/postgresql/<PG_VERSION>/bin), else the newest
 * /usr/lib/postgresql/<N>/bin that holds initdb. Never NULL.
 */
struct ofc_cluster *ofc_cluster_new(const struct ofc_config *cfg);
void ofc_cluster_free(struct ofc_cluster **cl);

/* Paths, valid as long as the handle. */
const char *ofc_cluster_data_dir(const struct ofc_cluster *cl);
const char *ofc_cluster_socket_dir(const struct ofc_cluster *cl);
const char *ofc_cluster_log_file(const struct ofc_cluster *cl);

/*
 * "host=<socket dir> port=5432 dbname=<dbname> user=ofcmail", values
 * quoted as libpq wants. Heap string.
 */
char *ofc_cluster_conninfo(const struct ofc_cluster *cl, const char *dbname);

/* True when the data directory holds an initialised cluster (PG_VERSION). */
bool ofc_cluster_exists(const struct ofc_cluster *cl);

/*
 * Creates the cluster (initdb, then the settings above appended to
 * postgresql.conf) unless it exists. initdb works in <data>.init, which
 * is renamed into place only when fully configured, so a cluster that
 * exists is always one that listens on the private socket only.
 * Returns 0, or -1 and a heap message in *error_r.
 */
int ofc_cluster_init(struct ofc_cluster *cl, char **error_r) __attribute__((warn_unused_result));

/*
 * Starts the server and waits until it accepts connections (60 s at
 * most). Already running is fine: *started_r (may be NULL) then is false.
 * Returns 0, or -1 and a heap message (with pg_ctl's output and the last
 * FATAL line of the server log) in *error_r.
 */
int ofc_cluster_start(struct ofc_cluster *cl, bool *started_r, char **error_r)
    __attribute__((warn_unused_result));

/*
 * Stops the server (fast shutdown: sessions are ended, work in progress
 * rolls back) and waits. Not running, or no cluster at all, is fine:
 * *stopped_r (may be NULL) then is false. Returns 0 or -1 with *error_r.
 */
int ofc_cluster_stop(struct ofc_cluster *cl, bool *stopped_r, char **error_r)
    __attribute__((warn_unused_result));

/*
 * Whether the server runs (pg_ctl status). No cluster means not running.
 * Returns 0 with *running_r set, or -1 with *error_r.
 */
int ofc_cluster_running(struct ofc_cluster *cl, bool *running_r, char **error_r)
    __attribute__((warn_unused_result));

/*
 * Creates the database "ofcmail" in the running cluster unless it exists;
 * *created_r (may be NULL) says whether it was created.
 * Returns 0, or -1 with *error_r.
 */
int ofc_cluster_create_database(struct ofc_cluster *cl, bool *created_r, char **error_r)
    __attribute__((warn_unused_result));

/*
 * Stops the server and deletes the data and socket directories. The log
 * stays. Nothing there is fine. Returns 0, or -1 with *error_r.
 */
int ofc_cluster_remove(struct ofc_cluster *cl, char **error_r) __attribute__((warn_unused_result));

#endif
