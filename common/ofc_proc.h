/*
 * ofc_proc.h - the one lifecycle of every long-running ofcmail process.
 *
 * Like Postfix's single_server_main(), a program hands its description to
 * ofc_proc_main() and keeps only what makes it different:
 *
 *   start -> read config (-c file, instance=N, connect=conninfo, -f)
 *         -> open <log_dir>/<SID>/<node>_<log_base><NN>.log
 *         -> connect; find its `process` row; record pid and
 *            pg_backend_pid() in `process_status`
 *         -> loop { wait on the database socket (NOTIFY) or timeout;
 *                   heartbeat (last_wakeup); def->work() }
 *         -> SIGTERM: the current unit of work finishes, status STOPPED, exit 0
 *
 * SIGHUP reopens the log. A NOTIFY on "ofc_refresh" naming this process
 * (payload = process id, or the process type name for all instances of a
 * type, or "*") re-reads the parameters and calls def->refresh(). The
 * database connection is re-established with backoff when it drops.
 */
#ifndef OFC_PROC_H
#define OFC_PROC_H

#include <signal.h>
#include <stdbool.h>

struct ofc_config;
struct ofc_db;
struct ofc_proc;

struct ofc_proc_def {
    const char *program;  /* executable name, for usage and errors: "ofcomd" */
    const char *type;     /* process_type name: "POSTMAN" */
    const char *log_base; /* log file base: "postman" -> <node>_postman01.log */
    bool log_numbered;    /* append the instance number to the log name */
    const char *summary;  /* one line for --help */
    /* LISTEN channels besides ofc_refresh; NULL-terminated, may be NULL. */
    const char *const *channels;
    /* Extra key=value argument (e.g. class=5); return 0 if taken, -1 if unknown. */
    int (*arg)(struct ofc_proc *proc, const char *key, const char *value);
    /* After connecting and reading parameters; return -1 to exit(1). */
    int (*init)(struct ofc_proc *proc);
    /*
     * Do whatever work is ready now; called after each wake-up (NOTIFY,
     * timeout). Must return promptly when ofc_proc_stopping() is true.
     * Returns 0, or -1 on an error that the loop logs and survives.
     */
    int (*work)(struct ofc_proc *proc);
    /* A notification on one of def->channels arrived. May be NULL. */
    void (*notify)(struct ofc_proc *proc, const char *channel, const char *payload);
    /* Parameters were re-read. May be NULL. */
    void (*refresh)(struct ofc_proc *proc);
    /* Before exit, also after a failed init(). May be NULL. */
    void (*cleanup)(struct ofc_proc *proc);
};

/*
 * Runs the process; returns the exit status for main() to return: 0 after
 * --help, --version or SIGTERM/SIGINT; 1 when the configuration, the log
 * file, the registration (no `process` row for this node, type and
 * instance) or def->init fails; 2 on a usage error. Signal handling is
 * process-wide, so one ofc_proc_main() runs per process.
 */
int ofc_proc_main(const struct ofc_proc_def *def, int argc, char **argv);

struct ofc_config *ofc_proc_config(struct ofc_proc *proc);
struct ofc_db *ofc_proc_db(struct ofc_proc *proc);
int ofc_proc_instance(const struct ofc_proc *proc);
/* The `process` row id, and the node's id. */
long long ofc_proc_id(const struct ofc_proc *proc);
long long ofc_proc_node_id(const struct ofc_proc *proc);
bool ofc_proc_stopping(const struct ofc_proc *proc);
void *ofc_proc_userdata(struct ofc_proc *proc);
void ofc_proc_set_userdata(struct ofc_proc *proc, void *data);

/*
 * Effective parameter values: the instance's override, else the process
 * type's default ("tied to the default"). The strings stay valid until the
 * next refresh.
 */
const char *ofc_proc_param(struct ofc_proc *proc, const char *name, const char *dflt);
long long ofc_proc_param_int(struct ofc_proc *proc, const char *name, long long dflt);
bool ofc_proc_param_bool(struct ofc_proc *proc, const char *name, bool dflt);

/*
 * Asks the wait loop to call def->work() again at once (more work is
 * queued). Safe from any thread and from signal handlers (it writes one
 * byte to the loop's self-pipe).
 */
void ofc_proc_wake(struct ofc_proc *proc);

#endif
