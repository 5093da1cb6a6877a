/*
 * ofc_privs.h - never run as root.
 *
 * PostgreSQL refuses to run as root, and ofcmail's processes must not
 * either. A program an administrator starts as root (ofcsetup, ofcguard)
 * calls ofc_privs_become_run_user() before it touches anything else, so
 * that everything it creates afterwards (the cluster, the logs, the pid
 * file) and every process it starts belongs to the run user.
 */
#ifndef OFC_PRIVS_H
#define OFC_PRIVS_H

struct ofc_config;

/*
 * Does nothing (returns 0) unless the effective user is root. As root:
 * makes sure the run user (config `user`, default "ofcmail") exists,
 * creating it as a system account with useradd when missing (and saying
 * so on standard output: the caller's log is not open yet), creates the
 * node's var and log directories (<var_dir>/<SID>, <log_dir>/<SID>) if
 * needed and gives them to that user with mode 0750, then becomes that
 * user for good (groups, gid, uid; checked to stick), changes to "/" and
 * sets HOME, USER and LOGNAME. Refuses a run user whose uid is 0.
 * Returns 0, or -1 with a heap message in *error_r (the caller frees it).
 */
int ofc_privs_become_run_user(const struct ofc_config *cfg, char **error_r)
    __attribute__((warn_unused_result));

#endif
