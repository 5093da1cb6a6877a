/*
 * loop.c - the Guardian's one loop: signals, timers, the database session.
 *
 * Signal handlers only raise a flag and write a byte to a self-pipe that
 * the wait polls next to the database socket, so a child that exits or a
 * SIGTERM that lands just before the wait still wakes it at once. Nothing
 * here polls busily: the loop sleeps until a NOTIFY, a signal, or the
 * earliest timer that matters (a restart, a SIGKILL deadline, a heartbeat
 * that may have gone stale, a schedule boundary), and at most
 * GUARD_SAFETY_POLL_MS.
 *
 * Caution: the database may go away at any time. The Guardian then goes on
 * supervising with what it knew last (a crashed child is still restarted),
 * reconnects with backoff without ever blocking the loop on it, takes its
 * advisory lock again, and writes the status it owes once it is back.
 */
/* System. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* libofc. */
#include "ofc_config.h"
#include "ofc_db.h"
#include "ofc_log.h"
#include "ofc_mem.h"

/* This program. */
#include "guardian.h"

/* How long `start` waits for the database before it gives up. */
#define START_DB_WAIT_MS 15000
/* ... and for the node's lock, which a Guardian killed a moment ago may still hold. */
#define START_LOCK_WAIT_MS 5000
#define START_LOCK_POLL_MS 200
/* See session_setup(). */
#define STATEMENT_TIMEOUT "10s"
#define LOCK_TIMEOUT      "2s"
/* Reconnect backoff while running. */
#define DB_BACKOFF_MIN_MS 200
#define DB_BACKOFF_MAX_MS 5000

/* Key of the node's advisory lock: ('ofcg', node id) in the two-int4 form. */
#define NODE_LOCK_CLASS "1869832039"

#define CHANNEL_PROCESS "ofc_process"
#define CHANNEL_REFRESH "ofc_refresh"

volatile sig_atomic_t guard_term_flag;
static volatile sig_atomic_t hup_flag;
static int wake_pipe[2] = {-1, -1};

int64_t guard_now_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double guard_wall_now(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return (double)time(NULL);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- signals -------------------------------------------------------- */

/* Async-signal-safe: one non-blocking write; a full pipe already means "wake up". */
static void poke(void)
{
    if (wake_pipe[1] >= 0) {
        ssize_t ignored = write(wake_pipe[1], "", 1);
        (void)ignored;
    }
}

static void on_term(int sig)
{
    int saved = errno;
    (void)sig;
    guard_term_flag = 1;
    poke();
    errno = saved;
}

static void on_hup(int sig)
{
    int saved = errno;
    (void)sig;
    hup_flag = 1;
    poke();
    errno = saved;
}

/* The loop reaps with waitpid(WNOHANG) after every wake-up; the byte is all it needs. */
static void on_chld(int sig)
{
    int saved = errno;
    (void)sig;
    poke();
    errno = saved;
}

static void drain(void)
{
    char buf[64];
    while (wake_pipe[0] >= 0 && read(wake_pipe[0], buf, sizeof(buf)) > 0)
        continue;
}

int guard_signals_install(void)
{
    if (pipe2(wake_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
        ofc_error("cannot create the wake-up pipe: %s", strerror(errno));
        return -1;
    }
    /* No SA_RESTART: poll() must return EINTR so that the loop looks at the flags. */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_term;
    struct sigaction hup = sa;
    hup.sa_handler = on_hup;
    struct sigaction chld = sa;
    chld.sa_handler = on_chld;
    /* A child stopped by SIGSTOP is the health check's business, not a wake-up. */
    chld.sa_flags = SA_NOCLDSTOP;
    struct sigaction ign = sa;
    ign.sa_handler = SIG_IGN;
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0 ||
        sigaction(SIGHUP, &hup, NULL) != 0 || sigaction(SIGCHLD, &chld, NULL) != 0 ||
        sigaction(SIGPIPE, &ign, NULL) != 0) {
        ofc_error("cannot install signal handlers: %s", strerror(errno));
        return -1;
    }
    return 0;
}

void guard_signals_block(sigset_t *old)
{
    sigset_t all;
    sigfillset(&all);
    /* Cannot fail with a valid how and set. */
    (void)sigprocmask(SIG_BLOCK, &all, old);
}

void guard_signals_restore(const sigset_t *old)
{
    (void)sigprocmask(SIG_SETMASK, old, NULL);
}

/* ---- the database --------------------------------------------------- */

/*
 * Limits for every statement of ours: a Guardian stuck behind a lock or a
 * hung server stops supervising, and a supervisor that blocks on the
 * database cannot restart what fixes the database. Set again on every
 * new session. Returns 0 or -1.
 */
static int session_setup(struct guard *g)
{
    return ofc_db_exec(g->db,
                       "SELECT pg_catalog.set_config('statement_timeout', '" STATEMENT_TIMEOUT
                       "', false), pg_catalog.set_config('lock_timeout', '" LOCK_TIMEOUT
                       "', false)",
                       0, NULL);
}

/*
 * Takes the node's session-level advisory lock. Returns 1 when held, 0
 * when another session holds it (*error_r names the Guardian that does),
 * -1 when the statement failed.
 */
static int take_node_lock(struct guard *g, char **error_r)
{
    const char *args[] = {NODE_LOCK_CLASS, g->node_id_text};
    PGresult *res = ofc_db_query(
        g->db, "SELECT pg_catalog.pg_try_advisory_lock($1::integer, $2::integer)", 2, args);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot take the node's lock: %s", ofc_db_error(g->db));
        return -1;
    }
    const char *v = ofc_db_value(res, 0, 0);
    bool taken = v != NULL && strcmp(v, "t") == 0;
    PQclear(res);
    if (taken)
        return 1;
    /* Who has it? The lock's session, and the Guardian that wrote that session into its row. */
    res = ofc_db_query(g->db,
                       "SELECT gs.pid, gs.host, l.pid FROM pg_catalog.pg_locks l"
                       " LEFT JOIN guardian_status gs"
                       "  ON gs.backend_pid = l.pid AND gs.node_id = $2::integer"
                       " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2"
                       "  AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid",
                       2, args);
    if (res != NULL && PQntuples(res) > 0 && ofc_db_value(res, 0, 0) != NULL)
        *error_r = ofc_xasprintf("node %s is already guarded by ofcguard pid %s on host %s",
                                 g->cfg->node, ofc_db_value(res, 0, 0),
                                 ofc_db_value(res, 0, 1) != NULL ? ofc_db_value(res, 0, 1) : "?");
    else if (res != NULL && PQntuples(res) > 0)
        *error_r = ofc_xasprintf("node %s is already guarded (database session %s holds its lock)",
                                 g->cfg->node, ofc_db_value(res, 0, 2));
    else
        *error_r = ofc_xasprintf("node %s is already guarded by another ofcguard", g->cfg->node);
    PQclear(res);
    return 0;
}

int guard_db_start(struct guard *g, char **error_r)
{
    char *conninfo = g->connect != NULL && g->connect[0] != '\0' ? ofc_xstrdup(g->connect)
                                                                 : ofc_config_conninfo(g->cfg);
    g->db = ofc_db_new(conninfo, GUARD_PROGRAM);
    free(conninfo);
    ofc_db_set_stop_flag(g->db, &guard_term_flag);
    ofc_db_set_wake_fd(g->db, wake_pipe[0]);
    /* Not connected yet: these register the channels for every session to come. */
    if (ofc_db_listen(g->db, CHANNEL_PROCESS) != 0 || ofc_db_listen(g->db, CHANNEL_REFRESH) != 0) {
        *error_r = ofc_xasprintf("cannot listen: %s", ofc_db_error(g->db));
        return -1;
    }
    if (ofc_db_ensure(g->db, &guard_term_flag, START_DB_WAIT_MS) != 0) {
        *error_r = guard_term_flag
                       ? ofc_xstrdup("stopped while waiting for the database")
                       : ofc_xasprintf("cannot connect to the database: %s", ofc_db_error(g->db));
        return -1;
    }
    if (session_setup(g) != 0) {
        *error_r = ofc_xasprintf("cannot set up the session: %s", ofc_db_error(g->db));
        return -1;
    }
    if (registry_find_node(g, error_r) != 0)
        return -1;
    /*
     * The session of a Guardian that was just killed may hold the lock for
     * a moment longer, until its server process notices: ask again for a
     * little while before saying the node is taken.
     */
    int64_t give_up = guard_now_ms() + START_LOCK_WAIT_MS;
    for (;;) {
        int r = take_node_lock(g, error_r);
        if (r == 1)
            break;
        if (r < 0 || guard_term_flag || guard_now_ms() >= give_up)
            return -1;
        free(*error_r);
        *error_r = NULL;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = START_LOCK_POLL_MS * 1000000L};
        (void)nanosleep(&ts, NULL);
    }
    g->db_up = true;
    g->db_up_since_ms = guard_now_ms();
    g->db_backoff_ms = DB_BACKOFF_MIN_MS;
    if (status_guardian_write(g) != 0) {
        *error_r = ofc_xasprintf("cannot write guardian_status: %s", ofc_db_error(g->db));
        return -1;
    }
    return 0;
}

void guard_db_lost(struct guard *g)
{
    if (!g->db_up)
        return;
    g->db_up = false;
    ofc_warn("lost the database connection; children keep running; reconnecting with backoff");
    g->db_backoff_ms = DB_BACKOFF_MIN_MS;
    g->db_retry_at_ms = guard_now_ms();
}

bool guard_db_check_lost(struct guard *g)
{
    if (ofc_db_connected(g->db))
        return false;
    guard_db_lost(g);
    return true;
}

/*
 * One reconnection attempt when it is due. ofc_db_connect() restores the
 * LISTENs; the advisory lock went with the old session and is taken again.
 */
static void db_tick(struct guard *g)
{
    int64_t now = guard_now_ms();
    if (g->db_up || now < g->db_retry_at_ms)
        return;
    char *error = NULL;
    if (ofc_db_connect(g->db, &error) != 0) {
        ofc_debug("database connection attempt failed: %s", error);
        free(error);
        g->db_retry_at_ms = now + g->db_backoff_ms;
        g->db_backoff_ms =
            g->db_backoff_ms >= DB_BACKOFF_MAX_MS / 2 ? DB_BACKOFF_MAX_MS : g->db_backoff_ms * 2;
        return;
    }
    int r = session_setup(g) == 0 ? take_node_lock(g, &error) : -1;
    if (r < 0 && error == NULL)
        error = ofc_xasprintf("cannot set up the session: %s", ofc_db_error(g->db));
    if (r == 0) {
        /* Two Guardians must never drive one node: leave it to the other one. */
        ofc_error("after reconnecting: %s; stopping every child and exiting", error);
        free(error);
        g->exit_status = 1;
        g->db_retry_at_ms = INT64_MAX;
        if (!g->stopping) {
            g->stopping = true;
            children_stop_all(g);
        }
        return;
    }
    if (r < 0) {
        ofc_debug("%s", error);
        free(error);
        g->db_retry_at_ms = now + g->db_backoff_ms;
        return;
    }
    g->db_up = true;
    g->db_up_since_ms = guard_now_ms();
    g->db_backoff_ms = DB_BACKOFF_MIN_MS;
    ofc_info("reconnected to the database (backend %d); node lock taken again; children get "
             "a grace period for their heartbeats",
             ofc_db_backend_pid(g->db));
    /* Whatever happened meanwhile: re-read the registry, rewrite every row. */
    g->registry_stale = true;
    g->health_due_ms = g->db_up_since_ms;
    for (struct child *c = g->children; c != NULL; c = c->next)
        c->dirty = true;
    if (status_guardian_write(g) != 0)
        (void)guard_db_check_lost(g);
}

/* Takes the pending notifications: a registry change, or a refresh meant for us. */
static void take_notifications(struct guard *g)
{
    PGnotify *n;
    while ((n = ofc_db_next_notify(g->db)) != NULL) {
        if (strcmp(n->relname, CHANNEL_PROCESS) == 0) {
            g->registry_stale = true;
            g->registry_changed = true;
        } else if (strcmp(n->relname, CHANNEL_REFRESH) == 0 && n->extra != NULL &&
                   (strcmp(n->extra, "*") == 0 || strcmp(n->extra, GUARD_TYPE) == 0)) {
            g->registry_stale = true;
        }
        PQfreemem(n);
    }
}

/* ---- the loop ------------------------------------------------------- */

static int64_t next_due(const struct guard *g)
{
    int64_t due = children_next_due(g);
    if (g->stopping)
        return due;
    if (g->db_up) {
        if (g->registry_due_ms < due)
            due = g->registry_due_ms;
        if (g->health_due_ms < due)
            due = g->health_due_ms;
        if (g->beat_due_ms < due)
            due = g->beat_due_ms;
    } else if (g->db_retry_at_ms < due) {
        due = g->db_retry_at_ms;
    }
    return due;
}

static void wait_for_events(struct guard *g)
{
    int64_t left = next_due(g) - guard_now_ms();
    if (left < 0)
        left = 0;
    if (left > GUARD_SAFETY_POLL_MS)
        left = GUARD_SAFETY_POLL_MS;
    if (g->db_up) {
        if (ofc_db_wait(g->db, (int)left) < 0)
            guard_db_lost(g);
    } else {
        struct pollfd pfd = {.fd = wake_pipe[0], .events = POLLIN};
        /* EINTR is what a signal is expected to do here. */
        (void)poll(&pfd, 1, (int)left);
    }
    drain();
    if (g->db_up)
        take_notifications(g);
}

static void begin_shutdown(struct guard *g)
{
    ofc_info("stopping: asked to by a signal; stopping every child");
    g->stopping = true;
    children_stop_all(g);
}

/*
 * Last words to the database: every child's final state and our own row.
 * One quick attempt when the server is away; nobody waits for it then.
 */
static void final_status(struct guard *g)
{
    if (!g->db_up && g->db_retry_at_ms != INT64_MAX) {
        char *error = NULL;
        if (ofc_db_connect(g->db, &error) == 0 && session_setup(g) == 0) {
            g->db_up = true;
        } else {
            ofc_warn("cannot record the final process states: %s",
                     error != NULL ? error : ofc_db_error(g->db));
            free(error);
        }
    }
    if (!g->db_up)
        return;
    if (status_flush(g) != 0)
        ofc_warn("cannot record the final process states: %s", ofc_db_error(g->db));
    status_guardian_clear(g);
}

int guard_run(struct guard *g)
{
    int64_t now = guard_now_ms();
    g->registry_stale = true;
    g->registry_changed = true;
    g->health_due_ms = now + GUARD_SAFETY_POLL_MS;
    g->beat_due_ms = now;
    for (;;) {
        if (guard_term_flag && !g->stopping)
            begin_shutdown(g);
        if (hup_flag) {
            hup_flag = 0;
            ofc_log_reopen();
            ofc_info("log file reopened (SIGHUP)");
        }
        children_reap(g);
        if (g->stopping && !children_any_alive(g))
            break;
        db_tick(g);
        now = guard_now_ms();
        if (g->db_up && !g->stopping && (g->registry_stale || now >= g->registry_due_ms))
            (void)registry_load(g);
        if (!g->stopping)
            children_reconcile(g);
        children_escalate(g);
        if (g->db_up && !g->stopping && guard_now_ms() >= g->health_due_ms)
            health_check(g);
        if (g->db_up)
            (void)status_flush(g);
        if (g->db_up && !g->stopping && guard_now_ms() >= g->beat_due_ms)
            status_guardian_beat(g);
        wait_for_events(g);
    }
    final_status(g);
    ofc_info("every child has stopped");
    return g->exit_status;
}
