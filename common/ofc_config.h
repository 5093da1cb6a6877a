/*
 * ofc_config.h - the node's configuration file (etc/ofcmail.conf).
 *
 * One file, read with libconfuse, describes where a node's pieces live and
 * how to reach its database. Everything else (process parameters, the
 * directory, routes) lives in the database itself.
 */
#ifndef OFC_CONFIG_H
#define OFC_CONFIG_H

#include <stdbool.h>

struct ofc_config {
    char *path;      /* file that was read; NULL when only defaults apply */
    char *home;      /* installation root, like $ORACLE_HOME */
    char *node;      /* node name, upper case, default "ESNODE" */
    char *sid;       /* instance identifier: log/<SID>/, var/<SID>/ */
    char *connect;   /* libpq conninfo; "" means the embedded cluster */
    char *bin_dir;   /* where ofcguard finds the executables */
    char *log_dir;   /* base log directory; files go to <log_dir>/<SID>/ */
    char *var_dir;   /* embedded cluster and run files: <var_dir>/<SID>/ */
    char *user;      /* unprivileged account the processes run as when started by root */
    char *pg_bindir; /* initdb/pg_ctl for the embedded cluster; "" = search */
    char *log_level; /* default log level before parameters are read */
    char *time_zone; /* node time zone (IANA name) used by schedules */
    int pop3_port, pop3s_port, imap_port, imaps_port, lmtp_port, smtp_port;
    char *tls_certificate, *tls_key, *tls_ca;
};

/*
 * Reads `path` (NULL: $OFC_CONFIG, else <home>/etc/ofcmail.conf if it
 * exists, else defaults only). <home> is the file's `home` key (which must
 * be absolute), else $OFC_HOME (made absolute), else the parent of the
 * directory holding the running executable. Relative bin_dir, log_dir,
 * var_dir, pg_bindir and tls paths are taken relative to <home>; the node
 * name is returned in upper case. Every value is validated (see
 * ofcmail.conf(5)); a file named by `path` or $OFC_CONFIG must exist.
 *
 * Returns 0 and a new config in *cfg_r (free it with ofc_config_free), or
 * -1, *cfg_r = NULL and a heap message in *error_r that names the file, the
 * line and the key ("etc/ofcmail.conf:12: no such option 'prot'"). The
 * caller frees the message. Safe to call from several threads (calls are
 * serialised: libconfuse's lexer is global).
 */
int ofc_config_load(const char *path, struct ofc_config **cfg_r, char **error_r)
    __attribute__((warn_unused_result));

/* Frees the config and sets *cfg to NULL; *cfg may already be NULL. */
void ofc_config_free(struct ofc_config **cfg);

/*
 * The conninfo processes use: `connect` when set, else the embedded
 * cluster's ("host=<var_dir>/<SID>/run port=5432 dbname=ofcmail user=ofcmail", the path
 * single-quoted with libpq's escapes when it holds spaces, quotes or
 * backslashes). Heap string.
 */
char *ofc_config_conninfo(const struct ofc_config *cfg);

/*
 * Appends a conninfo value, single-quoted with libpq's escapes (\' and \\)
 * when it is empty or holds white space, a quote or a backslash.
 */
struct ofc_strbuf;
void ofc_conninfo_append_value(struct ofc_strbuf *sb, const char *value);

/* <var_dir>/<SID>, <log_dir>/<SID> and the embedded cluster directories. Heap strings. */
char *ofc_config_node_var_dir(const struct ofc_config *cfg);
char *ofc_config_node_log_dir(const struct ofc_config *cfg);
char *ofc_config_pgdata_dir(const struct ofc_config *cfg);
char *ofc_config_pgsocket_dir(const struct ofc_config *cfg);

/* True when the node uses the embedded private PostgreSQL cluster. */
bool ofc_config_is_embedded(const struct ofc_config *cfg);

#endif
