/*
 * children.c - starting, stopping and reaping the node's processes, and
 * the restart policy.
 *
 * Each child runs `<bin_dir>/<executable> [-c CONFIG] instance=N
 * [connect=...] <process_type.args>` in a process group of its own, with
 * its stdout and stderr appended to its log file (so a crash report or a
 * sanitizer's complaint is not lost), and with PR_SET_PDEATHSIG so that it
 * is told to stop if the Guardian itself dies. Signals go to the whole
 * group, and whatever is left of a group after its leader exits is killed:
 * no orphan survives its instance.
 *
 * The policy, in the words of STYLE.md: restart at once (after 1 s,
 * doubling to 60 s while it keeps failing; a minute of stable running
 * resets that), throttle a crash storm (CrashLoopCount exits within
 * CrashLoopWindow seconds: THROTTLED for ThrottleCooldown seconds), and
 * log every decision with its reason on one line. An executable that
 * cannot be run is FAILED until the registry changes. Nothing a child does
 * makes the Guardian exit.
 */
/* System. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* libofc. */
#include "ofc_config.h"
#include "ofc_db.h"
#include "ofc_log.h"
#include "ofc_mem.h"

/* This program. */
#include "guardian.h"

/* Exit status of a forked child whose execv failed (the errno went through the pipe). */
#define EXEC_FAILED_STATUS 127

/* At start-up, how often leftovers of a dead Guardian are looked at while they stop. */
#define LEFTOVER_POLL_MS 100

static bool wanted(const struct guard *g, const struct child *c)
{
    return !g->stopping && c->registered && c->desired && c->in_schedule;
}

/* "exit 3", "killed by signal 9" - the words process_status.last_exit uses. */
static char *describe_status(int status)
{
    if (WIFEXITED(status))
        return ofc_xasprintf("exit %d", WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return ofc_xasprintf("killed by signal %d", WTERMSIG(status));
    return ofc_xasprintf("wait status %d", status);
}

/* ---- starting ------------------------------------------------------- */

/* Splits process_type.args on white space (no quoting: the catalogue holds words). */
static void push_words(char ***argv, size_t *n, const char *args)
{
    const char *p = args;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            break;
        const char *end = p;
        while (*end != '\0' && *end != ' ' && *end != '\t')
            end++;
        *argv = ofc_xrealloc(*argv, (*n + 2) * sizeof(**argv));
        (*argv)[(*n)++] = ofc_xstrndup(p, (size_t)(end - p));
        (*argv)[*n] = NULL;
        p = end;
    }
}

static void push_arg(char ***argv, size_t *n, char *arg)
{
    *argv = ofc_xrealloc(*argv, (*n + 2) * sizeof(**argv));
    (*argv)[(*n)++] = arg;
    (*argv)[*n] = NULL;
}

static char **build_argv(const struct guard *g, const struct child *c, const char *path)
{
    char **argv = NULL;
    size_t n = 0;
    push_arg(&argv, &n, ofc_xstrdup(path));
    if (g->config_path != NULL) {
        push_arg(&argv, &n, ofc_xstrdup("-c"));
        push_arg(&argv, &n, ofc_xstrdup(g->config_path));
    }
    push_arg(&argv, &n, ofc_xasprintf("instance=%d", c->instance));
    if (g->connect != NULL)
        push_arg(&argv, &n, ofc_xasprintf("connect=%s", g->connect));
    push_words(&argv, &n, c->args);
    return argv;
}

static void free_argv(char **argv)
{
    for (size_t i = 0; argv != NULL && argv[i] != NULL; i++)
        free(argv[i]);
    free(argv);
}

/* The child's own log file, opened for its stdout and stderr; /dev/null if that fails. */
static int open_child_log(const struct guard *g, const struct child *c)
{
    char *name = ofc_log_file_name(g->cfg->node, c->log_base, c->log_numbered ? c->instance : 0);
    char *path = ofc_xasprintf("%s/%s", g->log_dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640);
    if (fd < 0) {
        ofc_warn("cannot open %s for the output of %s instance %d: %s; using /dev/null", path,
                 c->type, c->instance, strerror(errno));
        fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    }
    free(name);
    free(path);
    return fd;
}

/*
 * Between fork and exec: only async-signal-safe calls. Reports a failure
 * as an errno on err_fd and exits 127.
 */
static void __attribute__((noreturn))
exec_child(char **argv, int null_fd, int out_fd, int err_fd, pid_t guardian, const sigset_t *mask)
{
    int e = 0;
    /* Handlers of the Guardian must not run here; default dispositions for the program. */
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            (void)signal(sig, SIG_DFL);
    if (setpgid(0, 0) != 0 || prctl(PR_SET_PDEATHSIG, SIGTERM) != 0)
        e = errno;
    /* The Guardian died before PDEATHSIG was armed: nobody would tell us to stop. */
    if (e == 0 && getppid() != guardian)
        e = ESRCH;
    if (e == 0 && (dup2(null_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
                   dup2(out_fd, STDERR_FILENO) < 0))
        e = errno;
    if (e == 0) {
        /* Whatever descriptor we forgot to mark: not the child's business. */
        (void)close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
        (void)sigprocmask(SIG_SETMASK, mask, NULL);
        execv(argv[0], argv);
        e = errno;
    }
    ssize_t ignored = write(err_fd, &e, sizeof(e));
    (void)ignored;
    _exit(EXEC_FAILED_STATUS);
}

/* The instance could not be run: FAILED until the registry changes; said once per reason. */
static void start_failed(struct child *c, char *reason)
{
    if (c->failed_reason == NULL || strcmp(c->failed_reason, reason) != 0)
        ofc_error("cannot start %s instance %d: %s; it stays FAILED until its registration "
                  "changes",
                  c->type, c->instance, reason);
    else
        ofc_debug("cannot start %s instance %d again: %s", c->type, c->instance, reason);
    free(c->failed_reason);
    c->failed_reason = reason;
    free(c->last_exit);
    c->last_exit = ofc_xstrdup(reason);
    c->last_exit_wall = guard_wall_now();
    c->phase = PHASE_FAILED;
    c->restart_next = false;
    c->dirty = true;
}

/* Forks and executes one instance; why says what made the Guardian start it, for the log. */
static void child_start(struct guard *g, struct child *c, const char *why)
{
    char *path = ofc_xasprintf("%s/%s", g->cfg->bin_dir, c->executable);
    char **argv = build_argv(g, c, path);
    int out_fd = open_child_log(g, c);
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int errpipe[2] = {-1, -1};
    if (out_fd < 0 || null_fd < 0 || pipe2(errpipe, O_CLOEXEC) != 0) {
        /* Out of descriptors: a Guardian problem, not the child's. Try again later. */
        ofc_error("cannot start %s instance %d: %s; retrying in %d s", c->type, c->instance,
                  strerror(errno), GUARD_BACKOFF_MIN_S);
        c->phase = PHASE_BACKOFF;
        c->retry_at_ms = guard_now_ms() + GUARD_BACKOFF_MIN_S * 1000;
        c->retry_at_wall = guard_wall_now() + GUARD_BACKOFF_MIN_S;
        c->dirty = true;
        goto out;
    }

    sigset_t old;
    guard_signals_block(&old);
    pid_t guardian = getpid();
    pid_t pid = fork();
    if (pid == 0)
        exec_child(argv, null_fd, out_fd, errpipe[1], guardian, &old);
    int fork_errno = errno;
    if (pid > 0)
        /* Also here, so the group exists before we signal it (EACCES once it has exec'd). */
        (void)setpgid(pid, pid);
    guard_signals_restore(&old);
    (void)close(errpipe[1]);
    errpipe[1] = -1;
    if (pid < 0) {
        ofc_error("cannot start %s instance %d: fork: %s; retrying in %d s", c->type, c->instance,
                  strerror(fork_errno), GUARD_BACKOFF_MIN_S);
        c->phase = PHASE_BACKOFF;
        c->retry_at_ms = guard_now_ms() + GUARD_BACKOFF_MIN_S * 1000;
        c->retry_at_wall = guard_wall_now() + GUARD_BACKOFF_MIN_S;
        c->dirty = true;
        goto out;
    }

    /* EOF: execv succeeded (the pipe closed on exec). An int: it failed with that errno. */
    int exec_errno = 0;
    ssize_t got;
    do {
        got = read(errpipe[0], &exec_errno, sizeof(exec_errno));
    } while (got < 0 && errno == EINTR);
    if (got == (ssize_t)sizeof(exec_errno)) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            continue;
        start_failed(c, exec_errno == ENOENT
                            ? ofc_xasprintf("executable not found: %s", path)
                            : ofc_xasprintf("cannot execute %s: %s", path, strerror(exec_errno)));
        goto out;
    }

    bool restart = c->restart_next;
    if (c->failed_reason != NULL) {
        /* It runs now: the start failure no longer describes it (status.c clears it too). */
        free(c->failed_reason);
        c->failed_reason = NULL;
        free(c->last_exit);
        c->last_exit = NULL;
    }
    c->pid = pid;
    c->phase = PHASE_RUNNING;
    c->stop_reason = STOP_NONE;
    c->killed = false;
    c->started_ms = guard_now_ms();
    c->started_wall = guard_wall_now();
    c->hb_seen_ms = 0;
    c->restart_next = false;
    OFC_FREE(c->failed_reason);
    if (restart)
        c->restarts_unwritten++;
    c->dirty = true;
    /* Its first heartbeat is due within HeartbeatTimeout from now. */
    int64_t check = c->started_ms + (int64_t)c->p.heartbeat_timeout * 1000 + 100;
    if (check < g->health_due_ms)
        g->health_due_ms = check;
    ofc_info("%s %s instance %d (pid %ld): %s; %s", restart ? "restarted" : "started", c->type,
             c->instance, (long)pid, why, path);

out:
    if (errpipe[0] >= 0)
        (void)close(errpipe[0]);
    if (errpipe[1] >= 0)
        (void)close(errpipe[1]);
    if (out_fd >= 0)
        (void)close(out_fd);
    if (null_fd >= 0)
        (void)close(null_fd);
    free_argv(argv);
    free(path);
}

/* ---- stopping ------------------------------------------------------- */

/* To the child's process group; to the child alone if the group is not there (yet). */
static int signal_child(const struct child *c, int sig)
{
    if (kill(-c->pid, sig) == 0)
        return 0;
    return kill(c->pid, sig);
}

void child_stop(struct guard *g, struct child *c, enum stop_reason why, const char *detail)
{
    if (c->phase != PHASE_RUNNING)
        return;
    ofc_info("stopping %s instance %d (pid %ld): %s; SIGKILL in %d s unless it exits", c->type,
             c->instance, (long)c->pid, detail, c->p.stop_grace);
    if (signal_child(c, SIGTERM) != 0)
        ofc_warn("cannot signal %s instance %d (pid %ld): %s", c->type, c->instance, (long)c->pid,
                 strerror(errno));
    /* A child stopped by SIGSTOP would only see the SIGTERM once continued. */
    (void)signal_child(c, SIGCONT);
    c->phase = PHASE_STOPPING;
    c->stop_reason = why;
    c->kill_at_ms = guard_now_ms() + (int64_t)c->p.stop_grace * 1000;
    c->dirty = true;
}

void children_stop_all(struct guard *g)
{
    for (struct child *c = g->children; c != NULL; c = c->next) {
        if (c->phase == PHASE_RUNNING) {
            child_stop(g, c, STOP_GUARDIAN, "the Guardian stops");
        } else if (c->phase == PHASE_STOPPING) {
            c->stop_reason = STOP_GUARDIAN;
        } else if (c->phase != PHASE_IDLE) {
            c->phase = PHASE_IDLE;
            c->dirty = true;
        }
    }
}

void children_escalate(struct guard *g)
{
    int64_t now = guard_now_ms();
    for (struct child *c = g->children; c != NULL; c = c->next) {
        if (c->phase != PHASE_STOPPING || c->killed || now < c->kill_at_ms)
            continue;
        ofc_warn("%s instance %d (pid %ld) did not exit within StopGrace %d s; sending SIGKILL",
                 c->type, c->instance, (long)c->pid, c->p.stop_grace);
        if (signal_child(c, SIGKILL) != 0)
            ofc_warn("cannot kill %s instance %d (pid %ld): %s", c->type, c->instance, (long)c->pid,
                     strerror(errno));
        c->killed = true;
    }
}

/* ---- exits and the restart policy ----------------------------------- */

/* Remembers an unexpected exit; returns how many fall within the crash window. */
static size_t count_exit(struct child *c, int64_t now)
{
    int64_t window = (int64_t)c->p.crash_window * 1000;
    size_t kept = 0;
    for (size_t i = 0; i < c->nexits; i++)
        if (now - c->exits[i] < window)
            c->exits[kept++] = c->exits[i];
    c->exits = ofc_xrealloc(c->exits, (kept + 1) * sizeof(*c->exits));
    c->exits[kept++] = now;
    c->nexits = kept;
    return kept;
}

static void on_exit_unexpected(struct guard *g, struct child *c, const char *what, int64_t now,
                               int64_t ran_ms)
{
    if (ran_ms >= GUARD_STABLE_MS)
        c->backoff_s = GUARD_BACKOFF_MIN_S;
    size_t recent = count_exit(c, now);
    c->restart_next = true;
    if (!wanted(g, c)) {
        ofc_warn("%s instance %d (pid %ld) %s after %.1f s; not restarted: it should not run",
                 c->type, c->instance, (long)c->pid, what, (double)ran_ms / 1000.0);
        c->phase = PHASE_IDLE;
        c->restart_next = false;
        return;
    }
    if (recent >= (size_t)c->p.crash_count) {
        c->phase = PHASE_THROTTLED;
        c->retry_at_ms = now + (int64_t)c->p.throttle_cooldown * 1000;
        c->retry_at_wall = guard_wall_now() + c->p.throttle_cooldown;
        ofc_warn("%s instance %d (pid %ld) %s after %.1f s: %zu exits within CrashLoopWindow "
                 "%d s; THROTTLED, next start in ThrottleCooldown %d s",
                 c->type, c->instance, (long)c->pid, what, (double)ran_ms / 1000.0, recent,
                 c->p.crash_window, c->p.throttle_cooldown);
        c->nexits = 0;
        c->backoff_s = GUARD_BACKOFF_MIN_S;
        return;
    }
    int delay = c->backoff_s;
    c->backoff_s = c->backoff_s >= GUARD_BACKOFF_MAX_S / 2 ? GUARD_BACKOFF_MAX_S : c->backoff_s * 2;
    c->phase = PHASE_BACKOFF;
    c->retry_at_ms = now + (int64_t)delay * 1000;
    c->retry_at_wall = guard_wall_now() + delay;
    ofc_warn("%s instance %d (pid %ld) %s after %.1f s; restarting in %d s (%zu of "
             "CrashLoopCount %d exits within %d s)",
             c->type, c->instance, (long)c->pid, what, (double)ran_ms / 1000.0, delay, recent,
             c->p.crash_count, c->p.crash_window);
}

static void child_exited(struct guard *g, struct child *c, int status)
{
    int64_t now = guard_now_ms();
    int64_t ran_ms = now - c->started_ms;
    char *what = describe_status(status);
    /* Anything its group left behind would be an orphan: it goes with its leader. */
    if (kill(-c->pid, SIGKILL) == 0)
        ofc_warn("%s instance %d (pid %ld) left processes in its group; killed them", c->type,
                 c->instance, (long)c->pid);

    free(c->last_exit);
    c->last_exit = ofc_xstrdup(c->stop_reason == STOP_HEARTBEAT ? "heartbeat timeout" : what);
    c->last_exit_wall = guard_wall_now();
    c->dirty = true;

    bool asked = c->phase == PHASE_STOPPING &&
                 (c->stop_reason == STOP_UNWANTED || c->stop_reason == STOP_GUARDIAN);
    if (asked) {
        ofc_info("%s instance %d (pid %ld) stopped: %s%s", c->type, c->instance, (long)c->pid, what,
                 c->killed ? " (SIGKILL after StopGrace)" : "");
        c->phase = PHASE_IDLE;
    } else {
        char *why = c->stop_reason == STOP_HEARTBEAT
                        ? ofc_xasprintf("was stopped for its heartbeat (%s)", what)
                        : ofc_xasprintf("exited unexpectedly (%s)", what);
        on_exit_unexpected(g, c, why, now, ran_ms);
        free(why);
    }
    free(what);
    c->pid = 0;
    c->stop_reason = STOP_NONE;
    c->killed = false;
}

void children_reap(struct guard *g)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            break;
        struct child *c = child_find_pid(g, pid);
        if (c == NULL) {
            ofc_debug("reaped pid %ld, which is not one of our instances", (long)pid);
            continue;
        }
        child_exited(g, c, status);
    }
    /* Deregistered instances are forgotten once they are gone. */
    for (struct child **cp = &g->children; *cp != NULL;) {
        struct child *c = *cp;
        if (!c->registered && c->pid == 0 && !g->stopping) {
            *cp = c->next;
            child_free(&c);
            continue;
        }
        cp = &c->next;
    }
}

/* ---- reconciliation ------------------------------------------------- */

void children_reconcile(struct guard *g)
{
    int64_t now = guard_now_ms();
    for (struct child *c = g->children; c != NULL; c = c->next) {
        bool want = wanted(g, c);
        switch (c->phase) {
        case PHASE_RUNNING:
            if (!want)
                child_stop(g, c, STOP_UNWANTED,
                           !c->registered ? "no longer registered"
                           : !c->desired  ? "desired state STOPPED"
                                          : "outside its schedule");
            break;
        case PHASE_IDLE:
            if (want)
                child_start(g, c,
                            c->failed_reason != NULL
                                ? "trying again: its registration changed"
                                : "desired state RUNNING, inside its schedule");
            break;
        case PHASE_BACKOFF:
        case PHASE_THROTTLED:
            if (!want) {
                ofc_info("%s instance %d: no restart after all: it should not run now", c->type,
                         c->instance);
                /* Started again later, that is the administrator's start, not a restart. */
                c->phase = PHASE_IDLE;
                c->nexits = 0;
                c->backoff_s = GUARD_BACKOFF_MIN_S;
                c->restart_next = false;
                c->dirty = true;
            } else if (now >= c->retry_at_ms) {
                child_start(g, c,
                            c->phase == PHASE_BACKOFF ? "its backoff is over"
                                                      : "its ThrottleCooldown is over");
            }
            break;
        case PHASE_FAILED:
            if (!want) {
                c->phase = PHASE_IDLE;
                c->dirty = true;
            }
            break;
        case PHASE_STOPPING:
            break;
        }
    }
}

bool children_any_alive(const struct guard *g)
{
    for (const struct child *c = g->children; c != NULL; c = c->next)
        if (c->pid > 0)
            return true;
    return false;
}

int64_t children_next_due(const struct guard *g)
{
    int64_t due = INT64_MAX;
    for (const struct child *c = g->children; c != NULL; c = c->next) {
        if ((c->phase == PHASE_BACKOFF || c->phase == PHASE_THROTTLED) && c->retry_at_ms < due)
            due = c->retry_at_ms;
        if (c->phase == PHASE_STOPPING && !c->killed && c->kill_at_ms < due)
            due = c->kill_at_ms;
    }
    return due;
}

/* ---- leftovers of a Guardian that died ------------------------------ */

/* Is pid alive and running <bin_dir>/<executable>? Zombies count as gone. */
static bool is_leftover(const struct guard *g, pid_t pid, const char *executable)
{
    char *path = ofc_xasprintf("/proc/%ld/cmdline", (long)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    free(path);
    if (fd < 0)
        return false;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    (void)close(fd);
    if (n <= 0) /* a zombie has an empty command line */
        return false;
    buf[n] = '\0'; /* argv[0] ends at the first NUL */
    char *want = ofc_xasprintf("%s/%s", g->cfg->bin_dir, executable);
    bool same = strcmp(buf, want) == 0;
    free(want);
    return same;
}

/* True when pid no longer runs: gone, or a zombie waiting to be reaped. */
static bool pid_finished(pid_t pid)
{
    char *path = ofc_xasprintf("/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "re");
    free(path);
    if (f == NULL)
        return true;
    char buf[512];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    (void)fclose(f);
    buf[n] = '\0';
    /* "pid (comm) S ...": the state follows the last ')'. */
    const char *paren = strrchr(buf, ')');
    return paren == NULL || paren[1] == '\0' || paren[2] == 'Z' || paren[2] == 'X';
}

struct leftover {
    pid_t pid;
    char *executable;
};

/*
 * A Guardian that was killed left its children behind (PR_SET_PDEATHSIG
 * told them to stop, but one may hang). Starting new instances next to
 * them would run two of each: stop them first, within their StopGrace.
 * They are not our children, so this polls /proc instead of waiting.
 */
void children_clear_leftovers(struct guard *g)
{
    const char *args[] = {g->node_id_text, g->host};
    PGresult *res =
        ofc_db_query(g->db,
                     "SELECT s.pid, t.executable, p.type, p.instance,"
                     "  (SELECT e.value FROM process_parameter_effective e"
                     "   WHERE e.process_id = p.id AND e.name = 'StopGrace')"
                     " FROM process_status s JOIN process p ON p.id = s.process_id"
                     " JOIN process_type t ON t.name = p.type"
                     " WHERE p.node_id = $1::integer AND s.host = $2 AND s.pid IS NOT NULL",
                     2, args);
    if (res == NULL) {
        ofc_warn("cannot look for leftover processes: %s", ofc_db_error(g->db));
        return;
    }
    int rows = PQntuples(res);
    struct leftover *left = ofc_xcalloc((size_t)rows + 1, sizeof(*left));
    size_t n = 0;
    int grace = 1;
    for (int r = 0; r < rows; r++) {
        pid_t pid = (pid_t)ofc_db_value_ll(res, r, 0, 0);
        const char *exe = ofc_db_value(res, r, 1);
        if (pid <= 1 || pid == getpid() || exe == NULL || !is_leftover(g, pid, exe))
            continue;
        int sg = (int)ofc_db_value_ll(res, r, 4, 10);
        if (sg > grace && sg <= 600)
            grace = sg;
        ofc_warn("%s instance %lld (pid %ld) was left running by an earlier Guardian; stopping "
                 "it",
                 ofc_db_value(res, r, 2), ofc_db_value_ll(res, r, 3, 0), (long)pid);
        if (kill(-pid, SIGTERM) != 0)
            (void)kill(pid, SIGTERM);
        (void)kill(pid, SIGCONT);
        left[n].pid = pid;
        left[n].executable = ofc_xstrdup(exe);
        n++;
    }
    PQclear(res);
    int64_t deadline = guard_now_ms() + (int64_t)grace * 1000;
    for (size_t i = 0; i < n; i++) {
        while (guard_now_ms() < deadline && is_leftover(g, left[i].pid, left[i].executable)) {
            struct timespec ts = {.tv_sec = 0, .tv_nsec = LEFTOVER_POLL_MS * 1000000L};
            (void)nanosleep(&ts, NULL);
        }
        if (is_leftover(g, left[i].pid, left[i].executable)) {
            ofc_warn("pid %ld did not exit within StopGrace %d s; sending SIGKILL",
                     (long)left[i].pid, grace);
            if (kill(-left[i].pid, SIGKILL) != 0)
                (void)kill(left[i].pid, SIGKILL);
        }
        /*
         * Signals take effect asynchronously; nothing new may start until
         * the old instance is really gone (a zombie at most).
         */
        int64_t gone_by = guard_now_ms() + 2000;
        while (guard_now_ms() < gone_by && !pid_finished(left[i].pid)) {
            struct timespec ts = {.tv_sec = 0, .tv_nsec = LEFTOVER_POLL_MS * 1000000L};
            (void)nanosleep(&ts, NULL);
        }
        free(left[i].executable);
    }
    free(left);
}
