/*
 * ofc_proc.c - the one lifecycle of every long-running ofcmail process.
 *
 * The skeleton owns what all processes share: arguments, configuration,
 * the log file, signals, the database session, the process_status row,
 * the heartbeat, parameters and their refresh. The program's def supplies
 * the work. See ofc_proc.h for the sequence.
 *
 * Signals only raise flags and write a byte to a self-pipe that the wait
 * polls next to the database socket: a SIGTERM that lands between checking
 * the flag and going to sleep still wakes the loop at once.
 *
 * One ofc_proc per process: the signal state is necessarily global.
 */
/* System. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

/* libofc. */
#include "ofc_config.h"
#include "ofc_db.h"
#include "ofc_log.h"
#include "ofc_mem.h"
#include "ofc_proc.h"

#ifndef OFC_VERSION
#define OFC_VERSION "unknown"
#endif

#define REFRESH_CHANNEL "ofc_refresh"

/* Fallbacks when a parameter is missing from process_type_parameter. */
#define DEFAULT_POLL_INTERVAL      30
#define DEFAULT_HEARTBEAT_INTERVAL 10

/* One connection attempt at stop time: a SIGTERM must not wait on a dead server. */
#define STOP_RECONNECT_MS 0

struct proc_param {
    char *name;
    char *value;
};

struct ofc_proc {
    const struct ofc_proc_def *def;
    char *config_path;
    char *connect;
    bool foreground;
    int instance;

    struct ofc_config *cfg;
    struct ofc_db *db;
    long long id, node_id;
    char *id_text; /* id as the text parameter of every statement */
    char *host;

    struct proc_param *params;
    size_t nparams;

    int64_t last_heartbeat_ms;
    bool work_failing;
    bool init_called;
    void *userdata;
};

/* Results of proc_register(). */
enum reg_result { REG_OK = 0, REG_RETRY = -1, REG_FATAL = -2 };

static volatile sig_atomic_t stop_flag;
static volatile sig_atomic_t hup_flag;
static int wake_pipe[2] = {-1, -1};

struct saved_signals {
    struct sigaction term, intr, hup, pipe;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Async-signal-safe: a flag and one non-blocking write. */
static void poke_wake_pipe(void)
{
    if (wake_pipe[1] >= 0) {
        ssize_t ignored = write(wake_pipe[1], "", 1);
        (void)ignored; /* A full pipe already means "wake up". */
    }
}

static void on_stop_signal(int sig)
{
    int saved = errno;
    (void)sig;
    stop_flag = 1;
    poke_wake_pipe();
    errno = saved;
}

static void on_hup_signal(int sig)
{
    int saved = errno;
    (void)sig;
    hup_flag = 1;
    poke_wake_pipe();
    errno = saved;
}

static void drain_wake_pipe(void)
{
    char buf[64];
    while (wake_pipe[0] >= 0 && read(wake_pipe[0], buf, sizeof(buf)) > 0)
        continue;
}

static int install_signals(struct saved_signals *saved)
{
    if (pipe2(wake_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
        ofc_error("cannot create the wake-up pipe: %s", strerror(errno));
        return -1;
    }
    /*
     * No SA_RESTART: poll() and nanosleep() must return EINTR so that the
     * loop looks at the flags (the self-pipe covers the remaining race).
     */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop_signal;
    struct sigaction hup = sa;
    hup.sa_handler = on_hup_signal;
    struct sigaction ign = sa;
    ign.sa_handler = SIG_IGN;
    if (sigaction(SIGTERM, &sa, &saved->term) != 0 || sigaction(SIGINT, &sa, &saved->intr) != 0 ||
        sigaction(SIGHUP, &hup, &saved->hup) != 0 || sigaction(SIGPIPE, &ign, &saved->pipe) != 0) {
        ofc_error("cannot install signal handlers: %s", strerror(errno));
        return -1;
    }
    /* The Guardian may have forked us with signals blocked. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (sigprocmask(SIG_UNBLOCK, &set, NULL) != 0) {
        ofc_error("cannot unblock signals: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static void restore_signals(const struct saved_signals *saved)
{
    (void)sigaction(SIGTERM, &saved->term, NULL);
    (void)sigaction(SIGINT, &saved->intr, NULL);
    (void)sigaction(SIGHUP, &saved->hup, NULL);
    (void)sigaction(SIGPIPE, &saved->pipe, NULL);
    for (int i = 0; i < 2; i++) {
        if (wake_pipe[i] >= 0)
            (void)close(wake_pipe[i]);
        wake_pipe[i] = -1;
    }
}

/* ---- arguments ------------------------------------------------------ */

static void usage(const struct ofc_proc_def *def, FILE *fp)
{
    (void)fprintf(fp,
                  "usage: %s [-f] [-c file] [instance=N] [connect=conninfo] [key=value ...]\n"
                  "       %s --help | --version\n"
                  "%s\n\n"
                  "  -c file           configuration file (default: $OFC_CONFIG, else\n"
                  "                    <home>/etc/ofcmail.conf)\n"
                  "  -f                foreground: log to standard error as well\n"
                  "  instance=N        instance number of the registered %s process (1-99,\n"
                  "                    default 1)\n"
                  "  connect=conninfo  database to use instead of the configured one\n",
                  def->program, def->program, def->summary != NULL ? def->summary : "", def->type);
}

static int usage_error(const struct ofc_proc_def *def, const char *msg, const char *arg)
{
    (void)fprintf(stderr,
                  "%s: %s '%s'\n"
                  "usage: %s [-f] [-c file] [instance=N] [connect=conninfo] [key=value ...]\n"
                  "Try '%s --help' for more information.\n",
                  def->program, msg, arg, def->program, def->program);
    return 2;
}

/* Returns -1 to go on, or the exit status (0 after --help/--version, 2 on misuse). */
static int parse_args(struct ofc_proc *proc, int argc, char **argv)
{
    const struct ofc_proc_def *def = proc->def;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0) {
            usage(def, stdout);
            return 0;
        }
        if (strcmp(arg, "--version") == 0) {
            (void)printf("%s (ofcmail) %s\n", def->program, OFC_VERSION);
            return 0;
        }
        if (strcmp(arg, "-f") == 0) {
            proc->foreground = true;
            continue;
        }
        if (strcmp(arg, "-c") == 0) {
            if (i + 1 >= argc)
                return usage_error(def, "missing file after", arg);
            free(proc->config_path);
            proc->config_path = ofc_xstrdup(argv[++i]);
            continue;
        }
        const char *eq = strchr(arg, '=');
        if (arg[0] == '-' || eq == NULL || eq == arg)
            return usage_error(def, "unknown argument", arg);
        char *key = ofc_xstrndup(arg, (size_t)(eq - arg));
        const char *value = eq + 1;
        int rc = -1;
        if (strcmp(key, "instance") == 0) {
            char *end = NULL;
            errno = 0;
            long n = strtol(value, &end, 10);
            if (errno == 0 && end != value && *end == '\0' && n >= 1 && n <= 99) {
                proc->instance = (int)n;
                rc = 0;
            }
        } else if (strcmp(key, "connect") == 0) {
            free(proc->connect);
            proc->connect = ofc_xstrdup(value);
            rc = 0;
        } else if (def->arg != NULL) {
            rc = def->arg(proc, key, value);
        }
        free(key);
        if (rc != 0)
            return usage_error(def, "invalid argument", arg);
    }
    return -1;
}

/* ---- parameters ----------------------------------------------------- */

static void free_params(struct proc_param *params, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(params[i].name);
        free(params[i].value);
    }
    free(params);
}

/* Reads all effective parameters; the old set is kept when that fails. */
static int load_params(struct ofc_proc *proc)
{
    const char *args[] = {proc->id_text};
    PGresult *res = ofc_db_query(proc->db,
                                 "SELECT name, value FROM process_parameter_effective"
                                 " WHERE process_id = $1::integer",
                                 1, args);
    if (res == NULL) {
        /* A lost connection has been logged already, and is retried. */
        if (ofc_db_connected(proc->db))
            ofc_error("cannot read the parameters of %s instance %d: %s", proc->def->type,
                      proc->instance, ofc_db_error(proc->db));
        return -1;
    }
    int rows = PQntuples(res);
    struct proc_param *params = ofc_xcalloc((size_t)rows + 1, sizeof(*params));
    size_t n = 0;
    for (int r = 0; r < rows; r++) {
        const char *name = ofc_db_value(res, r, 0);
        const char *value = ofc_db_value(res, r, 1);
        if (name == NULL || value == NULL)
            continue;
        params[n].name = ofc_xstrdup(name);
        params[n].value = ofc_xstrdup(value);
        n++;
    }
    PQclear(res);
    free_params(proc->params, proc->nparams);
    proc->params = params;
    proc->nparams = n;
    return 0;
}

static void apply_log_level(struct ofc_proc *proc)
{
    const char *name = ofc_proc_param(proc, "LogLevel", NULL);
    if (name == NULL)
        return;
    enum ofc_log_level level;
    if (ofc_log_level_parse(name, &level) != 0) {
        ofc_warn("ignoring invalid LogLevel '%s'", name);
        return;
    }
    enum ofc_log_level old = ofc_log_get_level();
    if (level == old)
        return;
    /* Say it while the more verbose of the two levels is in force, so the line is kept. */
    if (level > old)
        ofc_log_set_level(level);
    ofc_info("log level %s (was %s)", ofc_log_level_name(level), ofc_log_level_name(old));
    ofc_log_set_level(level);
}

static void refresh(struct ofc_proc *proc, const char *why)
{
    if (load_params(proc) != 0)
        return;
    apply_log_level(proc);
    if (proc->def->refresh != NULL)
        proc->def->refresh(proc);
    ofc_info("parameters refreshed (%s)", why);
}

/* Does this ofc_refresh payload name us? */
static bool refresh_is_for_us(const struct ofc_proc *proc, const char *payload)
{
    return strcmp(payload, "*") == 0 || strcmp(payload, proc->id_text) == 0 ||
           strcasecmp(payload, proc->def->type) == 0;
}

/* ---- process_status ------------------------------------------------- */

/*
 * Finds our `process` row (once) and records this run in process_status.
 * Caution: `restarts` and `last_exit` belong to the Guardian; this never
 * touches them. started_at is kept across reconnects.
 */
static enum reg_result proc_register(struct ofc_proc *proc, bool starting)
{
    struct ofc_db *db = proc->db;
    if (proc->id == 0) {
        char instance[16];
        (void)snprintf(instance, sizeof(instance), "%d", proc->instance);
        const char *args[] = {proc->def->type, instance};
        PGresult *res = ofc_db_query(db,
                                     "SELECT p.id, p.node_id FROM process p"
                                     " JOIN node n ON n.id = p.node_id"
                                     " WHERE n.is_local AND p.type = $1 AND p.instance = $2",
                                     2, args);
        if (res == NULL) {
            if (!ofc_db_connected(db))
                return REG_RETRY;
            ofc_error("cannot look up process %s instance %d: %s", proc->def->type, proc->instance,
                      ofc_db_error(db));
            return REG_FATAL;
        }
        if (PQntuples(res) != 1) {
            PQclear(res);
            ofc_error("process %s instance %d is not registered on node %s", proc->def->type,
                      proc->instance, proc->cfg->node);
            return REG_FATAL;
        }
        proc->id = ofc_db_value_ll(res, 0, 0, 0);
        proc->node_id = ofc_db_value_ll(res, 0, 1, 0);
        PQclear(res);
        proc->id_text = ofc_xasprintf("%lld", proc->id);
    }

    char pid[24];
    (void)snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    const char *args[] = {proc->id_text, pid, proc->host, starting ? "true" : "false"};
    if (ofc_db_exec(db,
                    "INSERT INTO process_status AS s"
                    " (process_id, state, pid, backend_pid, host, started_at, last_wakeup,"
                    "  updated_at)"
                    " VALUES ($1::integer, 'RUNNING', $2::integer, pg_backend_pid(), $3, now(),"
                    "  now(), now())"
                    " ON CONFLICT (process_id) DO UPDATE SET state = 'RUNNING',"
                    "  pid = EXCLUDED.pid, backend_pid = EXCLUDED.backend_pid,"
                    "  host = EXCLUDED.host,"
                    "  started_at = CASE WHEN $4::boolean OR s.started_at IS NULL"
                    "   THEN now() ELSE s.started_at END,"
                    "  last_wakeup = now(), updated_at = now()",
                    4, args) != 0) {
        if (!ofc_db_connected(db))
            return REG_RETRY;
        ofc_error("cannot record the status of process %lld: %s", proc->id, ofc_db_error(db));
        return REG_FATAL;
    }
    proc->last_heartbeat_ms = now_ms();
    if (load_params(proc) != 0)
        return ofc_db_connected(db) ? REG_FATAL : REG_RETRY;
    apply_log_level(proc);
    return REG_OK;
}

static void heartbeat(struct ofc_proc *proc)
{
    long long interval = ofc_proc_param_int(proc, "HeartbeatInterval", DEFAULT_HEARTBEAT_INTERVAL);
    int64_t now = now_ms();
    if (now - proc->last_heartbeat_ms < interval * 1000)
        return;
    /* Also on failure: the next try is one interval away, not a busy loop. */
    proc->last_heartbeat_ms = now;
    const char *args[] = {proc->id_text};
    if (ofc_db_exec(proc->db,
                    "UPDATE process_status SET last_wakeup = now(), updated_at = now()"
                    " WHERE process_id = $1::integer",
                    1, args) != 0) {
        if (ofc_db_connected(proc->db))
            ofc_warn("heartbeat failed: %s", ofc_db_error(proc->db));
    }
}

/* Best effort: a process that stops while the server is away says nothing. */
static void mark_stopped(struct ofc_proc *proc)
{
    if (proc->id_text == NULL)
        return;
    if (!ofc_db_connected(proc->db) && ofc_db_ensure(proc->db, NULL, STOP_RECONNECT_MS) != 0) {
        ofc_warn("cannot record STOPPED: no database connection");
        return;
    }
    const char *args[] = {proc->id_text};
    if (ofc_db_exec(proc->db,
                    "UPDATE process_status SET state = 'STOPPED', pid = NULL,"
                    " backend_pid = NULL, updated_at = now() WHERE process_id = $1::integer",
                    1, args) != 0)
        ofc_warn("cannot record STOPPED: %s", ofc_db_error(proc->db));
}

/* ---- the loop ------------------------------------------------------- */

/*
 * Connects (or reconnects) and registers. Returns REG_OK, REG_FATAL, or
 * REG_RETRY when the stop flag ended the wait.
 */
static enum reg_result connect_and_register(struct ofc_proc *proc, bool starting)
{
    for (;;) {
        if (ofc_db_ensure(proc->db, &stop_flag, -1) != 0)
            return REG_RETRY;
        enum reg_result r = proc_register(proc, starting);
        if (r != REG_RETRY)
            return r;
    }
}

/* Takes every pending notification; returns true if one asked for a refresh. */
static bool dispatch_notifications(struct ofc_proc *proc)
{
    bool refresh_wanted = false;
    PGnotify *n;
    while ((n = ofc_db_next_notify(proc->db)) != NULL) {
        const char *payload = n->extra != NULL ? n->extra : "";
        if (strcmp(n->relname, REFRESH_CHANNEL) == 0) {
            if (refresh_is_for_us(proc, payload))
                refresh_wanted = true;
        } else if (proc->def->notify != NULL) {
            proc->def->notify(proc, n->relname, payload);
        }
        PQfreemem(n);
    }
    return refresh_wanted;
}

static void reopen_log_if_asked(void)
{
    if (!hup_flag)
        return;
    hup_flag = 0;
    ofc_log_reopen();
    ofc_info("log file reopened");
}

/*
 * Until the next poll (PollInterval after now) or the next heartbeat
 * (HeartbeatInterval after the last one), whichever comes first; a long
 * work() does not push the heartbeat out by a whole interval.
 */
static int wait_timeout_ms(struct ofc_proc *proc)
{
    long long poll_s = ofc_proc_param_int(proc, "PollInterval", DEFAULT_POLL_INTERVAL);
    long long hb_s = ofc_proc_param_int(proc, "HeartbeatInterval", DEFAULT_HEARTBEAT_INTERVAL);
    if (poll_s < 1 || poll_s > 3600)
        poll_s = DEFAULT_POLL_INTERVAL;
    if (hb_s < 1 || hb_s > 3600)
        hb_s = DEFAULT_HEARTBEAT_INTERVAL;
    int64_t until_hb = proc->last_heartbeat_ms + hb_s * 1000 - now_ms();
    int64_t ms = poll_s * 1000;
    if (until_hb < ms)
        ms = until_hb > 0 ? until_hb : 0;
    return (int)ms;
}

/* Returns 0 when asked to stop, 1 on a fatal registration problem. */
static int run_loop(struct ofc_proc *proc)
{
    const struct ofc_proc_def *def = proc->def;
    while (!stop_flag) {
        reopen_log_if_asked();
        if (!ofc_db_connected(proc->db)) {
            enum reg_result r = connect_and_register(proc, false);
            if (r == REG_FATAL)
                return 1;
            if (r != REG_OK)
                break;
            ofc_info("registered again as process %lld (backend %d)", proc->id,
                     ofc_db_backend_pid(proc->db));
            /* A refresh may have been sent while we were away. */
            if (def->refresh != NULL)
                def->refresh(proc);
        }
        int rc = ofc_db_wait(proc->db, wait_timeout_ms(proc));
        drain_wake_pipe();
        if (stop_flag)
            break;
        reopen_log_if_asked();
        if (rc < 0)
            continue; /* lost: reconnect at the top */
        heartbeat(proc);
        if (dispatch_notifications(proc))
            refresh(proc, "refresh requested");
        if (!ofc_db_connected(proc->db))
            continue;
        if (def->work == NULL)
            continue;
        if (def->work(proc) != 0) {
            if (!proc->work_failing)
                ofc_warn("work failed; retrying at the next wake-up");
            else
                ofc_debug("work failed again");
            proc->work_failing = true;
        } else if (proc->work_failing) {
            ofc_info("work succeeds again");
            proc->work_failing = false;
        }
    }
    return 0;
}

static char *local_host_name(void)
{
    struct utsname u;
    if (uname(&u) != 0)
        return ofc_xstrdup("");
    return ofc_xstrdup(u.nodename);
}

static int open_log(struct ofc_proc *proc)
{
    const struct ofc_proc_def *def = proc->def;
    enum ofc_log_level level;
    if (proc->cfg->log_level != NULL && ofc_log_level_parse(proc->cfg->log_level, &level) == 0)
        ofc_log_set_level(level);
    char *dir = ofc_config_node_log_dir(proc->cfg);
    char *name =
        ofc_log_file_name(proc->cfg->node, def->log_base, def->log_numbered ? proc->instance : 0);
    char *error = NULL;
    int rc = ofc_log_open(dir, name, proc->foreground, &error);
    if (rc != 0) {
        ofc_error("%s: %s", def->program, error);
        free(error);
    }
    free(dir);
    free(name);
    return rc;
}

/* Everything after the arguments. Returns the exit status. */
static int run(struct ofc_proc *proc)
{
    const struct ofc_proc_def *def = proc->def;
    char *error = NULL;
    if (ofc_config_load(proc->config_path, &proc->cfg, &error) != 0) {
        ofc_error("%s: %s", def->program, error);
        free(error);
        return 1;
    }
    if (open_log(proc) != 0)
        return 1;
    struct saved_signals saved;
    memset(&saved, 0, sizeof(saved));
    if (install_signals(&saved) != 0) {
        restore_signals(&saved);
        ofc_log_close();
        return 1;
    }
    ofc_info("%s instance %d starting (pid %ld)", def->type, proc->instance, (long)getpid());

    proc->host = local_host_name();
    char *conninfo = proc->connect != NULL && proc->connect[0] != '\0'
                         ? ofc_xstrdup(proc->connect)
                         : ofc_config_conninfo(proc->cfg);
    char *appname = ofc_xasprintf("%s/%d", def->program, proc->instance);
    proc->db = ofc_db_new(conninfo, appname);
    free(conninfo);
    free(appname);
    ofc_db_set_stop_flag(proc->db, &stop_flag);
    ofc_db_set_wake_fd(proc->db, wake_pipe[0]);

    int status = 0;
    /* Not connected yet: these only register the channels for every session. */
    if (ofc_db_listen(proc->db, REFRESH_CHANNEL) != 0)
        status = 1;
    for (const char *const *ch = def->channels; status == 0 && ch != NULL && *ch != NULL; ch++)
        if (ofc_db_listen(proc->db, *ch) != 0)
            status = 1;

    enum reg_result r = status == 0 ? connect_and_register(proc, true) : REG_FATAL;
    if (r == REG_OK) {
        proc->init_called = true;
        if (def->init != NULL && def->init(proc) != 0) {
            ofc_error("%s instance %d: initialisation failed", def->type, proc->instance);
            status = 1;
        } else {
            ofc_info("running as process %lld on node %s (backend %d)", proc->id, proc->cfg->node,
                     ofc_db_backend_pid(proc->db));
            status = run_loop(proc);
        }
    } else if (r == REG_FATAL) {
        status = 1;
    }
    if (stop_flag)
        ofc_info("%s instance %d stopping", def->type, proc->instance);
    if (proc->init_called && def->cleanup != NULL)
        def->cleanup(proc);
    mark_stopped(proc);
    ofc_info("%s instance %d %s", def->type, proc->instance,
             status == 0 ? "stopped" : "exits after an error");
    ofc_db_free(&proc->db);
    restore_signals(&saved);
    ofc_log_close();
    return status;
}

int ofc_proc_main(const struct ofc_proc_def *def, int argc, char **argv)
{
    struct ofc_proc *proc = ofc_xcalloc(1, sizeof(*proc));
    proc->def = def;
    proc->instance = 1;
    stop_flag = 0;
    hup_flag = 0;
    int status = parse_args(proc, argc, argv);
    if (status < 0)
        status = run(proc);
    free_params(proc->params, proc->nparams);
    ofc_config_free(&proc->cfg);
    free(proc->config_path);
    free(proc->connect);
    free(proc->id_text);
    free(proc->host);
    free(proc);
    return status;
}

/* ---- accessors ------------------------------------------------------ */

struct ofc_config *ofc_proc_config(struct ofc_proc *proc)
{
    return proc->cfg;
}

struct ofc_db *ofc_proc_db(struct ofc_proc *proc)
{
    return proc->db;
}

int ofc_proc_instance(const struct ofc_proc *proc)
{
    return proc->instance;
}

long long ofc_proc_id(const struct ofc_proc *proc)
{
    return proc->id;
}

long long ofc_proc_node_id(const struct ofc_proc *proc)
{
    return proc->node_id;
}

bool ofc_proc_stopping(const struct ofc_proc *proc)
{
    (void)proc;
    return stop_flag != 0;
}

void *ofc_proc_userdata(struct ofc_proc *proc)
{
    return proc->userdata;
}

void ofc_proc_set_userdata(struct ofc_proc *proc, void *data)
{
    proc->userdata = data;
}

const char *ofc_proc_param(struct ofc_proc *proc, const char *name, const char *dflt)
{
    /* Parameter names are CamelCase in the catalogue; accept any case. */
    for (size_t i = 0; i < proc->nparams; i++)
        if (strcasecmp(proc->params[i].name, name) == 0)
            return proc->params[i].value;
    return dflt;
}

long long ofc_proc_param_int(struct ofc_proc *proc, const char *name, long long dflt)
{
    const char *s = ofc_proc_param(proc, name, NULL);
    if (s == NULL || *s == '\0')
        return dflt;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return dflt;
    return v;
}

bool ofc_proc_param_bool(struct ofc_proc *proc, const char *name, bool dflt)
{
    const char *s = ofc_proc_param(proc, name, NULL);
    if (s == NULL)
        return dflt;
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return true;
        if (strcasecmp(s, no[i]) == 0)
            return false;
    }
    return dflt;
}

void ofc_proc_wake(struct ofc_proc *proc)
{
    (void)proc;
    /* Through the pipe, so that other threads may call this too. */
    poke_wake_pipe();
}
