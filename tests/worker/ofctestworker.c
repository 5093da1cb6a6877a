/*
 * NAME
 *      ofctestworker - a process for the Guardian's tests to supervise
 *
 * SYNOPSIS
 *      ofctestworker [-c CONFIG] [instance=N] [connect=CONNINFO] type=NAME
 *
 * DESCRIPTION
 *      A real ofcmail process (ofc_proc_main: log file, process_status,
 *      heartbeat, refresh, SIGTERM) that does nothing but misbehave on
 *      request. The tests register its process types themselves, with SQL:
 *      process_type (NAME, 'ofctestworker', 'type=NAME', lower(NAME), ...)
 *      plus the common parameters and these three:
 *
 *        Mode        run    do nothing, heartbeat, stop on SIGTERM
 *                    exit   exit(3) at once on every start
 *                    crash  abort() CrashAfter seconds after starting
 *                    hang   never return to the loop again: no heartbeat,
 *                           SIGTERM is not acted on
 *        CrashAfter  seconds, for Mode=crash
 *        Echo        logged as "Echo=<value>" at start and after every
 *                    refresh, so a test sees that a refresh arrived
 *
 *      The log is <NODE>_<lower(NAME)><NN>.log. It is built into the
 *      build tree's bin/ and never installed.
 *
 * DIAGNOSTICS
 *      Exit status 0 after SIGTERM, 3 in Mode=exit, SIGABRT in Mode=crash,
 *      otherwise that of ofc_proc_main().
 */
/* System. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* libofc. */
#include "ofc_log.h"
#include "ofc_mem.h"
#include "ofc_proc.h"

#define DEFAULT_TYPE "TESTWORKER"

static time_t started;

static void say_echo(struct ofc_proc *proc)
{
    ofc_info("Echo=%s", ofc_proc_param(proc, "Echo", ""));
}

/* type=NAME was taken by main() already. */
static int worker_arg(struct ofc_proc *proc, const char *key, const char *value)
{
    (void)proc;
    (void)value;
    return strcmp(key, "type") == 0 ? 0 : -1;
}

static int worker_init(struct ofc_proc *proc)
{
    started = time(NULL);
    say_echo(proc);
    const char *mode = ofc_proc_param(proc, "Mode", "run");
    if (strcmp(mode, "exit") == 0) {
        ofc_info("Mode=exit: exiting with status 3");
        exit(3);
    }
    ofc_info("Mode=%s", mode);
    return 0;
}

static int worker_work(struct ofc_proc *proc)
{
    const char *mode = ofc_proc_param(proc, "Mode", "run");
    if (strcmp(mode, "crash") == 0 &&
        time(NULL) - started >= ofc_proc_param_int(proc, "CrashAfter", 5)) {
        ofc_warn("Mode=crash: aborting");
        abort();
    }
    if (strcmp(mode, "hang") == 0) {
        ofc_warn("Mode=hang: hanging");
        /* sleep() returns early on a signal; a hung process does not care. */
        for (;;)
            (void)sleep(60);
    }
    return 0;
}

static void worker_refresh(struct ofc_proc *proc)
{
    say_echo(proc);
}

int main(int argc, char **argv)
{
    const char *type = DEFAULT_TYPE;
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], "type=", 5) == 0 && argv[i][5] != '\0')
            type = argv[i] + 5;
    /* The def is const for ofc_proc_main; its names come from type=. */
    char *log_base = ofc_xstrdup(type);
    for (char *p = log_base; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    const struct ofc_proc_def def = {
        .program = "ofctestworker",
        .type = type,
        .log_base = log_base,
        .log_numbered = true,
        .summary = "A process for the Guardian's tests: Mode=run|exit|crash|hang, Echo.",
        .arg = worker_arg,
        .init = worker_init,
        .work = worker_work,
        .refresh = worker_refresh,
    };
    int status = ofc_proc_main(&def, argc, argv);
    free(log_base);
    return status;
}
