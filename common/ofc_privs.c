/*
 * ofc_privs.c - never run as root (see ofc_privs.h).
 *
 * When an administrator starts ofcsetup or ofcguard as root, the program
 * makes sure the unprivileged run user exists (config `user`, default
 * "ofcmail"), gives it the node's var and log directories, and becomes
 * that user for good before it touches anything else.
 */
/* System. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* libofc. */
#include "ofc_config.h"
#include "ofc_fs.h"
#include "ofc_mem.h"
#include "ofc_privs.h"

/* Where Debian keeps useradd; the first one that exists is used. */
static const char *const useradd_paths[] = {"/usr/sbin/useradd", "/sbin/useradd"};

/* Runs useradd for a system account without home or login shell. */
static int create_user(const char *user, char **error_r)
{
    const char *useradd = NULL;
    for (size_t i = 0; i < sizeof(useradd_paths) / sizeof(useradd_paths[0]); i++) {
        if (access(useradd_paths[i], X_OK) == 0) {
            useradd = useradd_paths[i];
            break;
        }
    }
    if (useradd == NULL) {
        *error_r = ofc_xasprintf("user %s does not exist and useradd was not found", user);
        return -1;
    }
    char *const argv[] = {(char *)useradd,        (char *)"--system",
                          (char *)"--user-group", (char *)"--no-create-home",
                          (char *)"--home-dir",   (char *)"/nonexistent",
                          (char *)"--shell",      (char *)"/usr/sbin/nologin",
                          (char *)user,           NULL};
    pid_t pid = fork();
    if (pid < 0) {
        *error_r = ofc_xasprintf("cannot run useradd: fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        /* useradd's own messages go to our stderr: they explain its failure best. */
        int null_fd = open("/dev/null", O_RDONLY);
        if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0)
            _exit(127);
        execv(useradd, argv);
        _exit(127);
    }
    int status;
    pid_t w;
    do {
        w = waitpid(pid, &status, 0);
    } while (w < 0 && errno == EINTR);
    if (w < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        *error_r = ofc_xasprintf("cannot create the system user %s: useradd failed", user);
        return -1;
    }
    /* The log is not open yet (it will belong to this user): say it on stdout. */
    (void)printf("created the system user %s\n", user);
    return 0;
}

/* The node's own directory: created if missing, then owned by the run user, mode 0750. */
static int give_dir(const char *dir, uid_t uid, gid_t gid, char **error_r)
{
    if (ofc_mkdir_p(dir, 0750, 0755, error_r) < 0)
        return -1;
    if (chown(dir, uid, gid) < 0 || chmod(dir, 0750) < 0) {
        *error_r = ofc_xasprintf("cannot give %s to the run user: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* Drops root for good, and checks that it cannot be taken back. */
static int drop_to(const struct passwd *pw, char **error_r)
{
    uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;

    if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
        *error_r = ofc_xasprintf("cannot become user %s: %s", pw->pw_name, strerror(errno));
        return -1;
    }
    if (getuid() != uid || geteuid() != uid || getgid() != gid || getegid() != gid ||
        setuid(0) == 0) {
        *error_r = ofc_xasprintf("dropping privileges to %s did not stick", pw->pw_name);
        return -1;
    }
    /* Programs we run (initdb, pg_ctl) call getcwd(); root's directory may be closed to us. */
    if (chdir("/") < 0) {
        *error_r = ofc_xasprintf("cannot change to /: %s", strerror(errno));
        return -1;
    }
    if (setenv("HOME", pw->pw_dir, 1) < 0 || setenv("USER", pw->pw_name, 1) < 0 ||
        setenv("LOGNAME", pw->pw_name, 1) < 0) {
        *error_r = ofc_xasprintf("cannot set the environment: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int ofc_privs_become_run_user(const struct ofc_config *cfg, char **error_r)
{
    if (geteuid() != 0)
        return 0;

    errno = 0;
    struct passwd *pw = getpwnam(cfg->user);
    if (pw == NULL) {
        if (errno != 0) {
            *error_r = ofc_xasprintf("cannot look up user %s: %s", cfg->user, strerror(errno));
            return -1;
        }
        if (create_user(cfg->user, error_r) < 0)
            return -1;
        pw = getpwnam(cfg->user);
        if (pw == NULL) {
            *error_r = ofc_xasprintf("user %s still does not exist after useradd", cfg->user);
            return -1;
        }
    }
    if (pw->pw_uid == 0) {
        *error_r = ofc_xasprintf("the run user %s is root; set `user` to an unprivileged account",
                                 cfg->user);
        return -1;
    }
    /* getpwnam's result lives in static storage that later look-ups overwrite. */
    struct passwd copy = *pw;
    copy.pw_name = ofc_xstrdup(pw->pw_name);
    copy.pw_dir = ofc_xstrdup(pw->pw_dir);

    char *var_dir = ofc_config_node_var_dir(cfg);
    char *log_dir = ofc_config_node_log_dir(cfg);
    int ret = -1;
    if (give_dir(var_dir, copy.pw_uid, copy.pw_gid, error_r) < 0 ||
        give_dir(log_dir, copy.pw_uid, copy.pw_gid, error_r) < 0 || drop_to(&copy, error_r) < 0)
        goto out;
    /* The parents are root's; if one of them is closed to others, say so now. */
    if (access(var_dir, W_OK | X_OK) < 0 || access(log_dir, W_OK | X_OK) < 0) {
        *error_r = ofc_xasprintf("user %s cannot reach %s and %s: every parent directory must "
                                 "be searchable by it",
                                 copy.pw_name, var_dir, log_dir);
        goto out;
    }
    ret = 0;
out:
    free(var_dir);
    free(log_dir);
    free(copy.pw_name);
    free(copy.pw_dir);
    return ret;
}
