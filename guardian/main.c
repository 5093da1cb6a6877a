/*
 * NAME
 *      ofcguard - the Guardian: starts and watches every process of a node
 *
 * SYNOPSIS
 *      ofcguard [-c CONFIG] start [connect=CONNINFO] [-f]
 *      ofcguard [-c CONFIG] stop [-t SECONDS]
 *      ofcguard [-c CONFIG] status [connect=CONNINFO]
 *      ofcguard --help | --version
 *
 * DESCRIPTION
 *      The Guardian is the parent of every ofcmail process on a node. It
 *      makes reality match the process registry in the node's database:
 *      each registered instance of a managed process type whose desired
 *      state is RUNNING (oomgr `startup`) and whose schedule covers the
 *      present moment (in the node's time zone) runs as
 *      `<bin_dir>/<executable> [-c CONFIG] instance=N [connect=...]
 *      <args>`, with its output appended to its log file; every other one
 *      is stopped (SIGTERM, SIGKILL after StopGrace). It wakes on NOTIFY
 *      ofc_process, on a child's exit and on its timers, never polls fast.
 *
 *      A child that exits unexpectedly is restarted after 1 s, doubling to
 *      60 s while it keeps failing (a minute of stable running resets
 *      that); CrashLoopCount exits within CrashLoopWindow seconds make it
 *      THROTTLED for ThrottleCooldown seconds. One whose heartbeat
 *      (process_status.last_wakeup) is older than HeartbeatTimeout is
 *      stopped and restarted. An executable that cannot be run is FAILED
 *      until its registration changes. The parameters are each instance's
 *      (process_parameter_effective); the Guardian's own LogLevel and
 *      HeartbeatInterval are the GUARDIAN type's defaults.
 *
 *      start detaches and returns once the Guardian runs (or says why it
 *      could not); -f keeps it in the foreground, logging to stderr too.
 *      Started as root it first becomes the run user (config `user`),
 *      like ofcsetup. With the embedded cluster it starts the cluster
 *      first, and stops it last, after every child is gone. One Guardian
 *      per node: it holds <var_dir>/<SID>/run/ofcguard.pid locked and a
 *      PostgreSQL advisory lock keyed on the node.
 *
 *      If the database goes away, the children keep running and the
 *      Guardian keeps supervising them; it reconnects with backoff, takes
 *      its lock again and writes the states it owes.
 *
 *      stop sends SIGTERM to the running Guardian and waits until it is
 *      gone (at most -t SECONDS): it stops every child (SIGTERM to its
 *      process group, SIGKILL after StopGrace), records them STOPPED and
 *      exits. SIGHUP makes the Guardian reopen its log.
 *
 *      Logs go to <log_dir>/<SID>/<NODE>_local_guardian01.log.
 *
 * DIAGNOSTICS
 *      Failures are one line "ofcguard: ..." on standard error. start:
 *      exit 0 once running, 1 if it cannot start (another Guardian holds
 *      the node: the message names its pid). stop: exit 0 when stopped or
 *      when none was running (it says so), 1 on failure or timeout.
 *      status: exit 0 running, 3 not running, 4 unknown. 2 on a usage
 *      error.
 */
/* System. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

/* libofc. */
#include "ofc_cluster.h"
#include "ofc_config.h"
#include "ofc_db.h"
#include "ofc_log.h"
#include "ofc_mem.h"
#include "ofc_privs.h"
#include "ofc_time.h"

/* This program. */
#include "guardian.h"

#ifndef OFC_VERSION
#define OFC_VERSION "unknown"
#endif

#define EXIT_USAGE       2
#define EXIT_NOT_RUNNING 3 /* status: LSB "program is not running" */
#define EXIT_UNKNOWN     4 /* status: LSB "program or service status is unknown" */

/* How often `stop` looks whether the Guardian is gone. */
#define STOP_POLL_MS 100

struct options {
    const char *config;
    const char *command;
    const char *connect;
    bool foreground;
    long timeout_s; /* stop: 0 = wait as long as it takes */
};

static void usage(FILE *fp)
{
    (void)fprintf(fp,
                  "Usage: ofcguard [-c CONFIG] start [connect=CONNINFO] [-f]\n"
                  "       ofcguard [-c CONFIG] stop [-t SECONDS]\n"
                  "       ofcguard [-c CONFIG] status [connect=CONNINFO]\n"
                  "       ofcguard --help | --version\n"
                  "\n"
                  "The Guardian: starts, watches and stops every process of the node.\n"
                  "\n"
                  "  start     run the Guardian (detached unless -f); with the embedded cluster,\n"
                  "            start that first\n"
                  "  stop      stop the running Guardian and every process it started (and the\n"
                  "            embedded cluster); wait until they are gone\n"
                  "  status    say whether the Guardian runs, and what the node's processes do\n"
                  "\n"
                  "  -c CONFIG          configuration file (default: $OFC_CONFIG, else\n"
                  "                     <home>/etc/ofcmail.conf)\n"
                  "  connect=CONNINFO   database to use instead of the configured one (start:\n"
                  "                     passed on to every process)\n"
                  "  -f                 stay in the foreground and log to stderr as well\n"
                  "  -t SECONDS         stop: give up waiting after SECONDS (exit 1)\n"
                  "\n"
                  "Exit status: 0 success; 1 failure; 2 usage; status: 3 not running.\n");
}

static int usage_error(const char *msg, const char *arg)
{
    (void)fprintf(stderr, "%s: %s%s%s\nTry 'ofcguard --help' for more information.\n",
                  GUARD_PROGRAM, msg, arg != NULL ? " " : "", arg != NULL ? arg : "");
    return EXIT_USAGE;
}

/* Returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, struct options *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--version") == 0) {
            (void)printf("ofcguard (ofcmail) %s\n", OFC_VERSION);
            return 0;
        }
        if (strcmp(a, "-c") == 0) {
            if (i + 1 >= argc)
                return usage_error("missing file after", a);
            o->config = argv[++i];
        } else if (strcmp(a, "-f") == 0) {
            o->foreground = true;
        } else if (strcmp(a, "-t") == 0) {
            if (i + 1 >= argc)
                return usage_error("missing seconds after", a);
            char *end = NULL;
            errno = 0;
            o->timeout_s = strtol(argv[++i], &end, 10);
            if (errno != 0 || *end != '\0' || end == argv[i] || o->timeout_s < 0)
                return usage_error("invalid seconds", argv[i]);
        } else if (strncmp(a, "connect=", 8) == 0) {
            o->connect = a + 8;
        } else if (a[0] != '-' && o->command == NULL) {
            o->command = a;
        } else {
            return usage_error("unknown argument", a);
        }
    }
    if (o->command == NULL)
        return usage_error("missing command (start, stop or status)", NULL);
    bool start = strcmp(o->command, "start") == 0;
    bool stop = strcmp(o->command, "stop") == 0;
    if (!start && !stop && strcmp(o->command, "status") != 0)
        return usage_error("unknown command", o->command);
    if (!start && o->foreground)
        return usage_error("-f goes with start only, not with", o->command);
    if (stop && o->connect != NULL)
        return usage_error("connect= goes with start and status, not with", o->command);
    if (!stop && o->timeout_s != 0)
        return usage_error("-t goes with stop only, not with", o->command);
    return -1;
}

static struct ofc_config *load_config(const char *path)
{
    struct ofc_config *cfg = NULL;
    char *error = NULL;
    if (ofc_config_load(path, &cfg, &error) != 0) {
        (void)fprintf(stderr, "%s: %s\n", GUARD_PROGRAM, error);
        free(error);
        return NULL;
    }
    return cfg;
}

static char *host_name(void)
{
    struct utsname u;
    return ofc_xstrdup(uname(&u) == 0 ? u.nodename : "");
}

/* ---- start ---------------------------------------------------------- */

static void guard_free(struct guard *g)
{
    while (g->children != NULL) {
        struct child *c = g->children;
        g->children = c->next;
        child_free(&c);
    }
    ofc_db_free(&g->db);
    ofc_config_free(&g->cfg);
    free(g->config_path);
    free(g->connect);
    free(g->host);
    free(g->log_dir);
    free(g->node_id_text);
    free(g->pidfile_path);
    free(g->registry_error);
}

/* From the log onwards, in the daemon (or the foreground process). Returns the exit status. */
static int run_guardian(struct guard *g, struct ofc_cluster *cluster)
{
    char *error = NULL;
    char *name = ofc_log_file_name(g->cfg->node, GUARD_LOG_BASE, 1);
    int rc = ofc_log_open(g->log_dir, name, g->foreground, &error);
    free(name);
    if (rc != 0) {
        guard_start_failed("%s", error);
        free(error);
        return 1;
    }
    ofc_info("ofcguard %s starting on node %s (pid %ld)", OFC_VERSION, g->cfg->node,
             (long)getpid());

    pid_t holder = 0;
    if (guard_pidfile_take(g, &holder, &error) != 0) {
        guard_start_failed("%s", error);
        free(error);
        return 1;
    }
    int status = 1;
    bool cluster_started = false;
    if (guard_signals_install() != 0) {
        guard_start_failed("cannot install signal handlers");
        goto out;
    }
    if (cluster != NULL && ofc_cluster_start(cluster, &cluster_started, &error) != 0) {
        guard_start_failed("%s", error);
        free(error);
        goto out;
    }
    if (guard_db_start(g, &error) != 0) {
        guard_start_failed("%s", error);
        free(error);
        goto out;
    }
    children_clear_leftovers(g);
    guard_ready(g);
    ofc_info("running: node %s (id %lld), database backend %d, executables in %s", g->cfg->node,
             g->node_id, ofc_db_backend_pid(g->db), g->cfg->bin_dir);
    status = guard_run(g);
    /* Ends the session, and with it the node's advisory lock. */
    ofc_db_free(&g->db);
    cluster_started = true; /* stop the cluster whether we started it or found it running */

out:
    if (cluster != NULL && cluster_started) {
        ofc_db_free(&g->db);
        if (ofc_cluster_stop(cluster, NULL, &error) != 0) {
            ofc_error("%s", error);
            free(error);
            status = 1;
        }
    }
    guard_pidfile_release(g);
    ofc_info("ofcguard stopped (exit %d)", status);
    return status;
}

static int cmd_start(const struct options *o)
{
    struct guard g;
    memset(&g, 0, sizeof(g));
    g.pidfile_fd = -1;
    g.foreground = o->foreground;
    g.heartbeat_interval_s = 10;
    g.cfg = load_config(o->config);
    if (g.cfg == NULL)
        return 1;
    int status = 1;
    char *error = NULL;
    struct ofc_cluster *cluster = NULL;
    if (o->config != NULL) {
        /* The daemon works in "/": children must still find the file. */
        char *abs = realpath(o->config, NULL);
        g.config_path = abs != NULL ? abs : ofc_xstrdup(o->config);
    }
    if (o->connect != NULL)
        g.connect = ofc_xstrdup(o->connect);
    g.host = host_name();
    g.log_dir = ofc_config_node_log_dir(g.cfg);
    g.started_wall = guard_wall_now();
    if (g.cfg->log_level != NULL) {
        enum ofc_log_level level;
        if (ofc_log_level_parse(g.cfg->log_level, &level) == 0)
            ofc_log_set_level(level);
    }

    if (ofc_privs_become_run_user(g.cfg, &error) != 0) {
        (void)fprintf(stderr, "%s: %s\n", GUARD_PROGRAM, error);
        free(error);
        goto out;
    }
    if (!o->foreground) {
        char *name = ofc_log_file_name(g.cfg->node, GUARD_LOG_BASE, 1);
        char *log_path = ofc_xasprintf("%s/%s", g.log_dir, name);
        free(name);
        int parent_status = 1;
        int r = guard_daemonize(log_path, &parent_status);
        free(log_path);
        if (r != 0) {
            status = parent_status;
            goto out;
        }
    }
    if (ofc_config_is_embedded(g.cfg) && g.connect == NULL)
        cluster = ofc_cluster_new(g.cfg);
    status = run_guardian(&g, cluster);
out:
    ofc_cluster_free(&cluster);
    guard_free(&g);
    ofc_log_close();
    return status;
}

/* ---- stop ----------------------------------------------------------- */

/* True while pid exists and has not yet exited (a zombie counts as gone). */
static bool process_exists(pid_t pid)
{
    if (kill(pid, 0) != 0)
        return errno != ESRCH;
    char path[64];
    (void)snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return true; /* no /proc: trust kill() */
    char buf[512];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    (void)fclose(f);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');
    return paren == NULL || paren[1] == '\0' || paren[2] != 'Z';
}

static int cmd_stop(const struct options *o)
{
    struct ofc_config *cfg = load_config(o->config);
    if (cfg == NULL)
        return 1;
    char *path = guard_pidfile_path(cfg);
    char *error = NULL;
    int status = 1;
    pid_t pid = guard_pidfile_holder(path, &error);
    if (pid < 0) {
        (void)fprintf(stderr, "%s: %s\n", GUARD_PROGRAM, error);
        free(error);
        goto out;
    }
    if (pid == 0) {
        (void)printf("ofcguard is not running on node %s\n", cfg->node);
        status = 0;
        goto out;
    }
    if (kill(pid, SIGTERM) != 0) {
        (void)fprintf(stderr, "%s: cannot signal ofcguard pid %ld: %s\n", GUARD_PROGRAM, (long)pid,
                      strerror(errno));
        goto out;
    }
    long waited_ms = 0;
    for (;;) {
        pid_t now = guard_pidfile_holder(path, &error);
        if (now < 0) {
            (void)fprintf(stderr, "%s: %s\n", GUARD_PROGRAM, error);
            free(error);
            goto out;
        }
        /* Released the pid file and gone too (its exit may take a moment:
           closing the database, flushing the log): "stopped" must mean the
           process no longer exists. */
        if (now != pid && !process_exists(pid))
            break;
        if (o->timeout_s > 0 && waited_ms >= o->timeout_s * 1000) {
            (void)fprintf(stderr, "%s: ofcguard pid %ld is still stopping after %ld s\n",
                          GUARD_PROGRAM, (long)pid, o->timeout_s);
            goto out;
        }
        ofc_sleep_ms(STOP_POLL_MS);
        waited_ms += STOP_POLL_MS;
    }
    (void)printf("ofcguard stopped on node %s (pid %ld)\n", cfg->node, (long)pid);
    status = 0;
out:
    free(path);
    ofc_config_free(&cfg);
    return status;
}

/* ---- status --------------------------------------------------------- */

static const char *or_dash(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : "-";
}

/* The node's instances, as the database knows them. */
static void show_processes(struct ofc_config *cfg, const char *connect)
{
    char *conninfo = connect != NULL ? ofc_xstrdup(connect) : ofc_config_conninfo(cfg);
    struct ofc_db *db = ofc_db_new(conninfo, "ofcguard status");
    free(conninfo);
    char *error = NULL;
    if (ofc_db_connect(db, &error) != 0) {
        (void)printf("database: not reachable (%s)\n", error);
        free(error);
        ofc_db_free(&db);
        return;
    }
    PGresult *res = ofc_db_query(
        db,
        "SELECT p.type, p.instance, p.desired_state, COALESCE(s.state, 'STOPPED'), s.pid,"
        "  s.backend_pid, COALESCE(s.restarts, 0),"
        "  to_char(s.last_wakeup, 'YYYY-MM-DD HH24:MI:SS'), s.last_exit"
        " FROM process p JOIN node n ON n.id = p.node_id AND n.is_local"
        " JOIN process_type t ON t.name = p.type AND t.managed"
        " LEFT JOIN process_status s ON s.process_id = p.id"
        " ORDER BY p.type, p.instance",
        0, NULL);
    if (res == NULL) {
        (void)printf("database: cannot read the processes (%s)\n", ofc_db_error(db));
        ofc_db_free(&db);
        return;
    }
    (void)printf("%-12s %4s %-8s %-10s %8s %8s %8s  %-19s  %s\n", "TYPE", "INST", "DESIRED",
                 "STATE", "PID", "BACKEND", "RESTARTS", "LAST WAKEUP", "LAST EXIT");
    for (int r = 0; r < PQntuples(res); r++)
        (void)printf("%-12s %4s %-8s %-10s %8s %8s %8s  %-19s  %s\n",
                     or_dash(ofc_db_value(res, r, 0)), or_dash(ofc_db_value(res, r, 1)),
                     or_dash(ofc_db_value(res, r, 2)), or_dash(ofc_db_value(res, r, 3)),
                     or_dash(ofc_db_value(res, r, 4)), or_dash(ofc_db_value(res, r, 5)),
                     or_dash(ofc_db_value(res, r, 6)), or_dash(ofc_db_value(res, r, 7)),
                     or_dash(ofc_db_value(res, r, 8)));
    PQclear(res);
    ofc_db_free(&db);
}

static int cmd_status(const struct options *o)
{
    struct ofc_config *cfg = load_config(o->config);
    if (cfg == NULL)
        return EXIT_UNKNOWN;
    char *path = guard_pidfile_path(cfg);
    char *error = NULL;
    int status;
    pid_t pid = guard_pidfile_holder(path, &error);
    if (pid < 0) {
        (void)fprintf(stderr, "%s: %s\n", GUARD_PROGRAM, error);
        free(error);
        status = EXIT_UNKNOWN;
    } else if (pid == 0) {
        (void)printf("ofcguard is not running on node %s\n", cfg->node);
        status = EXIT_NOT_RUNNING;
    } else {
        (void)printf("ofcguard is running on node %s (pid %ld)\n", cfg->node, (long)pid);
        status = 0;
    }
    /* Also without a Guardian: the states it left, or that the database is down. */
    show_processes(cfg, o->connect);
    free(path);
    ofc_config_free(&cfg);
    return status;
}

int main(int argc, char **argv)
{
    struct options o;
    memset(&o, 0, sizeof(o));
    /* Library progress lines before the log is open would only clutter the terminal. */
    ofc_log_set_level(OFC_LOG_WARN);
    int status = parse_args(argc, argv, &o);
    if (status >= 0)
        return status;
    if (strcmp(o.command, "start") == 0) {
        ofc_log_set_level(OFC_LOG_INFO);
        return cmd_start(&o);
    }
    if (strcmp(o.command, "stop") == 0)
        return cmd_stop(&o);
    return cmd_status(&o);
}
