/*
 * guardian.h - ofcguard's private declarations.
 *
 * One struct guard holds the Guardian's whole state; one struct child per
 * registered instance of a managed process type on the local node. The
 * files split the work:
 *
 *   main.c       arguments, the start/stop/status commands
 *   daemon.c     detaching, and telling the waiting parent how start-up went
 *   pidfile.c    <var_dir>/<SID>/run/ofcguard.pid: flock, holder look-up
 *   loop.c       signals, the self-pipe, timers, the database connection
 *   registry.c   reading what should run (desired state, schedule, parameters)
 *   children.c   fork/exec, signals to children, reaping, the restart policy
 *   health.c     heartbeats: kill an instance whose last_wakeup is too old
 *   status.c     writing process_status and guardian_status
 */
#ifndef GUARDIAN_H
#define GUARDIAN_H

/* System. */
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct ofc_config;
struct ofc_db;

#define GUARD_PROGRAM "ofcguard"

/* The Guardian's own process type, log base and instance (the Installation Guide's name). */
#define GUARD_TYPE     "GUARDIAN"
#define GUARD_LOG_BASE "local_guardian"

/* Timers of the loop, in milliseconds. */
#define GUARD_SAFETY_POLL_MS 30000 /* re-read the registry at least this often */
#define GUARD_BACKOFF_MIN_S  1     /* first restart delay after an unexpected exit */
#define GUARD_BACKOFF_MAX_S  60
#define GUARD_STABLE_MS      60000 /* running this long resets the backoff */

/* What a child is doing, as far as the Guardian knows. */
enum child_phase {
    PHASE_IDLE,      /* not running, nothing pending */
    PHASE_RUNNING,   /* forked; the child writes RUNNING itself once connected */
    PHASE_STOPPING,  /* SIGTERM sent; SIGKILL at kill_at_ms */
    PHASE_BACKOFF,   /* exited unexpectedly; started again at retry_at_ms */
    PHASE_THROTTLED, /* crash loop; started again at retry_at_ms */
    PHASE_FAILED,    /* could not be executed; retried when the registry changes */
};

/* Why the Guardian stops a child; decides what happens after it exits. */
enum stop_reason {
    STOP_NONE,
    STOP_UNWANTED,  /* shutdown, outside its schedule, or deregistered */
    STOP_HEARTBEAT, /* heartbeat too old: restart it */
    STOP_GUARDIAN,  /* the Guardian itself stops */
};

/* Parameters of one instance (process_parameter_effective). */
struct child_params {
    int heartbeat_timeout; /* s */
    int stop_grace;        /* s */
    int crash_count;
    int crash_window;      /* s */
    int throttle_cooldown; /* s */
};

struct child {
    struct child *next;
    long long id; /* process.id */
    char *id_text;
    char *type;
    int instance;
    char *executable, *args, *log_base;
    bool log_numbered;

    /* From the last registry read. */
    bool registered; /* still in `process` (and its type still managed) */
    bool desired;    /* desired_state = 'RUNNING' */
    bool in_schedule;
    struct child_params p;

    /* Reality. */
    enum child_phase phase;
    enum stop_reason stop_reason;
    pid_t pid;
    int64_t started_ms;  /* monotonic, at fork */
    double started_wall; /* epoch seconds, at fork */
    int64_t kill_at_ms;  /* STOPPING: when SIGKILL goes out */
    bool killed;         /* SIGKILL was sent */
    int64_t retry_at_ms; /* BACKOFF, THROTTLED */
    double retry_at_wall;
    int backoff_s;  /* the next restart delay */
    int64_t *exits; /* monotonic times of recent unexpected exits */
    size_t nexits;
    bool restart_next;   /* the next start counts as a restart */
    char *failed_reason; /* FAILED: why, logged once per reason */
    int64_t hb_seen_ms;  /* last heartbeat seen, on our clock; 0 = none */

    /* What process_status owes: written when the database is there. */
    bool dirty;
    int restarts_unwritten;
    char *last_exit;
    double last_exit_wall;
};

struct guard {
    struct ofc_config *cfg;
    char *config_path; /* -c as given; passed on to the children */
    char *connect;     /* connect= as given; passed on to the children */
    bool foreground;
    char *host;
    char *log_dir; /* <log_dir>/<SID> */
    double started_wall;

    struct ofc_db *db;
    bool db_up;
    int64_t db_up_since_ms; /* children get a grace period after an outage */
    int64_t db_retry_at_ms;
    int db_backoff_ms;
    long long node_id;
    char *node_id_text;

    /* Registry bookkeeping. */
    char *registry_error;  /* the last failure to read it, logged once */
    bool registry_stale;   /* a NOTIFY (or a reconnect) asks for a re-read */
    bool registry_changed; /* ... and it was a change: FAILED instances retry */
    int64_t registry_due_ms;
    int64_t health_due_ms;
    int64_t beat_due_ms;
    int heartbeat_interval_s; /* the Guardian's own, for guardian_status */

    struct child *children;
    bool stopping;
    int exit_status;

    int pidfile_fd;
    char *pidfile_path;
};

/* loop.c */
int64_t guard_now_ms(void);
double guard_wall_now(void);
/* Installs the handlers and the self-pipe. Returns 0 or -1 (logged). */
int guard_signals_install(void);
/* The flag SIGTERM/SIGINT raise; ofc_db_ensure() watches it during start-up. */
extern volatile sig_atomic_t guard_term_flag;
/* Signals blocked around fork(), so that no handler runs in the child. */
void guard_signals_block(sigset_t *old);
void guard_signals_restore(const sigset_t *old);
/* Connects at start-up (with backoff, at most max_wait_ms). Returns 0 or -1 with *error_r. */
int guard_db_start(struct guard *g, char **error_r);
/* The connection failed under us: supervise on, reconnect later. */
void guard_db_lost(struct guard *g);
/* True when the last failed statement lost the connection (then guard_db_lost was called). */
bool guard_db_check_lost(struct guard *g);
/* The main loop, until stopped and every child is gone. Returns the exit status. */
int guard_run(struct guard *g);

/* daemon.c */
/*
 * Detaches (fork, setsid, std descriptors to /dev/null). Returns 0 in the
 * daemon. Returns 1 in the parent after the daemon called guard_ready()
 * or guard_start_failed() (or died), with the exit status in *exit_r
 * (0 or 1; the daemon's verdict was printed); also 1 when fork fails.
 */
int guard_daemonize(const char *log_path, int *exit_r);
/* Start-up succeeded: tell the waiting parent (or nobody, with -f). */
void guard_ready(const struct guard *g);
/* Start-up failed: the reason goes to the log and to the parent's stderr. */
void guard_start_failed(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* pidfile.c */
char *guard_pidfile_path(const struct ofc_config *cfg);
/*
 * Creates and locks the pid file, writing our pid. Returns 0; or -1 with
 * *holder_r = the pid holding it (0 if unknown) and *error_r.
 */
int guard_pidfile_take(struct guard *g, pid_t *holder_r, char **error_r);
/* Removes the file, then gives up the lock (in that order: see pidfile.c). */
void guard_pidfile_release(struct guard *g);
/*
 * The pid of the Guardian holding the pid file's lock: > 0; 0 when none
 * holds it; -1 with *error_r when it cannot be told.
 */
pid_t guard_pidfile_holder(const char *path, char **error_r);

/* registry.c */
/* Reads the registry and the parameters; returns 0 or -1 (logged, or the database is gone). */
int registry_load(struct guard *g);
/* Looks up the local node. Returns 0 or -1 with *error_r. */
int registry_find_node(struct guard *g, char **error_r);
struct child *child_find_pid(struct guard *g, pid_t pid);
void child_free(struct child **c);

/* children.c */
/* Brings every child towards what it should be doing now. */
void children_reconcile(struct guard *g);
/* Starts stopping every child (Guardian shutdown). */
void children_stop_all(struct guard *g);
/* Reaps exited children and applies the restart policy. */
void children_reap(struct guard *g);
/* Sends SIGKILL where the grace period is over. */
void children_escalate(struct guard *g);
/* Stops one child for a reason (SIGTERM now, SIGKILL after StopGrace). */
void child_stop(struct guard *g, struct child *c, enum stop_reason why, const char *detail);
bool children_any_alive(const struct guard *g);
/* The earliest timer among the children (retry, kill), or INT64_MAX. */
int64_t children_next_due(const struct guard *g);
/* Stops instances left over by a Guardian that died. Called once at start-up. */
void children_clear_leftovers(struct guard *g);

/* health.c */
void health_check(struct guard *g);

/* status.c */
/* Writes every process_status row the Guardian owes. Returns 0 or -1. */
int status_flush(struct guard *g);
/* guardian_status: our row (again, after a reconnect), and the heartbeat. */
int status_guardian_write(struct guard *g);
void status_guardian_beat(struct guard *g);
void status_guardian_clear(struct guard *g);
/* The state name a child shows in process_status. */
const char *status_state_name(const struct child *c);

#endif
