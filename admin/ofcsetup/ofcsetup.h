/*
 * ofcsetup.h - what the pieces of the Configuration Assistant share.
 *
 * main.c parses the command line and hands a struct setup to one cmd_*
 * function; each of those lives in its own file. Private to ofcsetup.
 */
#ifndef OFCSETUP_H
#define OFCSETUP_H

#include <stdbool.h>

struct ofc_cluster;
struct ofc_config;
struct ofc_db;

/* Exit statuses. */
#define SETUP_EXIT_OK      0
#define SETUP_EXIT_FAILURE 1
#define SETUP_EXIT_USAGE   2
#define SETUP_EXIT_NO_NODE 3 /* status: there is no node */

/*
 * The command line; strings point into argv (NULL when not given), except
 * the passwords, which are heap copies (argv's are wiped) that
 * setup_forget() frees.
 */
struct setup_options {
    const char *config_path;
    const char *connect;
    bool yes;
    const char *node;
    const char *node_description;
    const char *domain;
    const char *domain_description;
    const char *community;
    const char *community_description;
    const char *time_zone;
    char *admin_password;
    char *orapost_password;
    const char *demo_user;
    char *demo_password;
};

struct setup {
    struct setup_options opt;
    struct ofc_config *cfg;
    bool embedded;
    /* How to connect (may hold a password: never printed or logged). */
    char *conninfo;
    /* The same without any password: for output, logs and node.conninfo. */
    char *conninfo_public;
    struct ofc_cluster *cluster; /* embedded only */
};

/* report.c: one line "ofcsetup: ..." on stderr, and in the log when it is open. */
void setup_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void setup_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Opens <node log dir>/ofcsetup.log; afterwards ofc_info() lines go there only. */
int setup_log_open(const struct ofc_config *cfg, char **error_r);
bool setup_log_is_open(void);

/* prompt.c: questions on the terminal. */
bool setup_have_terminal(void);
/* Asks twice without echo; refuses empty and mismatching answers. Heap result. */
int prompt_new_password(const char *whose, char **password_r, char **error_r)
    __attribute__((warn_unused_result));
/* One line with echo, without its newline. Heap result. */
int prompt_line(const char *question, char **answer_r, char **error_r)
    __attribute__((warn_unused_result));
/* Overwrites and frees a string that held a secret; sets *s to NULL. */
void setup_forget(char **s);

/* conninfo.c: checks a conninfo and removes any password from it. */
int conninfo_without_password(const char *conninfo, char **public_r, char **error_r)
    __attribute__((warn_unused_result));

/* database.c: reaching the node's database. */
/*
 * Embedded: creates the cluster if needed (when create; else its absence
 * is an error), starts it, creates the database. Prints its own error.
 * Returns 0 or -1.
 */
int setup_bring_up_embedded(struct setup *s, bool create);
/*
 * One connection attempt to s->conninfo. On failure prints "cannot
 * connect to the database: ..." and returns NULL.
 */
struct ofc_db *setup_connect(const struct setup *s);
/* The local node's name (heap) in *name_r, or NULL when there is none; -1 on error. */
int setup_local_node(struct ofc_db *db, char **name_r, char **error_r)
    __attribute__((warn_unused_result));

/* migrate.c: the schema migrations, inside the caller's transaction. */
struct migrate_result {
    int newest_known;  /* the newest migration compiled in */
    int version;       /* the database's version afterwards */
    int applied_count; /* migrations applied by this run */
    char *applied;     /* "4 store, 5 queues" or "" (heap) */
};
int migrate_run(struct ofc_db *db, struct migrate_result *r, char **error_r)
    __attribute__((warn_unused_result));
void migrate_result_clear(struct migrate_result *r);
/* The newest migration version this binary carries. */
int migrate_newest_known(void);

/* The commands; each returns an exit status. */
int cmd_create_node(struct setup *s);
int cmd_upgrade(struct setup *s);
int cmd_status(struct setup *s);
int cmd_drop_node(struct setup *s);
int cmd_start_db(struct setup *s);
int cmd_stop_db(struct setup *s);

#endif
