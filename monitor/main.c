/*
 * NAME
 *      ofcmon - the Monitor (class=5) and Statistics (class=6) processes
 *
 * SYNOPSIS
 *      ofcmon class=5|6 [-c CONFIG] [-f] [instance=N] [connect=CONNINFO]
 *
 * DESCRIPTION
 *      One executable for two processes, as in the Installation Guide's
 *      process table. class= says which one this is, and so which
 *      registered process type it runs as, which log it writes and which
 *      hooks the common lifecycle (ofc_proc_main) calls:
 *
 *        class=5  MONITOR, <node>_mon.log: runs the planning guide's tests
 *                 (message flow, database space, configuration problems,
 *                 missing objects and references) every Interval seconds
 *                 and when oomgr asks (`run monitor`), records the
 *                 findings, and mails each report with findings to
 *                 ReportAccount (ORAPOST) through the submission queue.
 *        class=6  STATISTICS, <node>_stt.log: takes snapshots of delivery
 *                 times, queue lengths and space usage (statistics/).
 *
 *      class= has to be known before ofc_proc_main() runs, so the
 *      arguments are looked at once here first; ofc_proc_main() then
 *      parses them all and hands class= back to check_class(), which
 *      accepts the one value that chose the definition.
 *
 * DIAGNOSTICS
 *      Exit status as ofc_proc_main(): 0 after --help or SIGTERM, 1 when
 *      start-up fails, 2 on a usage error (also: class= missing or not
 *      5 or 6).
 */
/* System. */
#include <stdio.h>
#include <string.h>

/* libofc. */
#include "ofc_proc.h"

/* This program. */
#include "monitor.h"
#include "statistics.h"

#define PROGRAM "ofcmon"

static int usage(FILE *fp)
{
    (void)fprintf(fp,
                  "usage: " PROGRAM " class=5|6 [-f] [-c file] [instance=N] [connect=conninfo]\n"
                  "       " PROGRAM " --help | --version\n"
                  "The Monitor (class=5) or Statistics (class=6) process of an ofcmail node.\n\n"
                  "  class=5           the Monitor: runs the monitor tests, mails reports to\n"
                  "                    the ReportAccount (ORAPOST); log <node>_mon.log\n"
                  "  class=6           Statistics: collects delivery times, queue lengths and\n"
                  "                    space usage; log <node>_stt.log\n"
                  "  -c file           configuration file (default: $OFC_CONFIG, else\n"
                  "                    <home>/etc/ofcmail.conf)\n"
                  "  -f                foreground: log to standard error as well\n"
                  "  instance=N        instance number of the registered process (1-99,\n"
                  "                    default 1)\n"
                  "  connect=conninfo  database to use instead of the configured one\n");
    return 0;
}

static int usage_error(const char *msg)
{
    (void)fprintf(stderr,
                  PROGRAM ": %s\n"
                          "usage: " PROGRAM
                          " class=5|6 [-f] [-c file] [instance=N] [connect=conninfo]\n"
                          "Try '" PROGRAM " --help' for more information.\n",
                  msg);
    return 2;
}

/* The class= value of the arguments ("5", "6", ...), or NULL; the last one counts. */
static const char *find_class(int argc, char **argv)
{
    const char *cls = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0) {
            i++; /* its file name is no argument of ours */
            continue;
        }
        if (strncmp(argv[i], "class=", 6) == 0)
            cls = argv[i] + 6;
    }
    return cls;
}

static int check_monitor_class(struct ofc_proc *proc, const char *key, const char *value)
{
    (void)proc;
    return strcmp(key, "class") == 0 && strcmp(value, "5") == 0 ? 0 : -1;
}

static int check_statistics_class(struct ofc_proc *proc, const char *key, const char *value)
{
    (void)proc;
    return strcmp(key, "class") == 0 && strcmp(value, "6") == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    static const char *const monitor_channels[] = {"ofc_monitor", NULL};
    static const struct ofc_proc_def monitor_def = {
        .program = PROGRAM,
        .type = "MONITOR",
        .log_base = "mon",
        .log_numbered = false,
        .summary = "The Monitor (class=5): runs the monitor tests and mails reports to ORAPOST.",
        .channels = monitor_channels,
        .arg = check_monitor_class,
        .init = monitor_init,
        .work = monitor_work,
        .notify = monitor_notify,
        .refresh = monitor_refresh,
        .cleanup = monitor_cleanup,
    };
    static const struct ofc_proc_def statistics_def = {
        .program = PROGRAM,
        .type = "STATISTICS",
        .log_base = "stt",
        .log_numbered = false,
        .summary = "Statistics (class=6): collects delivery times, queue lengths and space usage.",
        .channels = NULL,
        .arg = check_statistics_class,
        .init = statistics_init,
        .work = statistics_work,
        .refresh = statistics_refresh,
        .cleanup = statistics_cleanup,
    };

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0) {
            i++;
            continue;
        }
        if (strcmp(argv[i], "--help") == 0)
            return usage(stdout);
        if (strcmp(argv[i], "--version") == 0) {
            (void)printf(PROGRAM " (ofcmail) %s\n", OFC_VERSION);
            return 0;
        }
    }
    const char *cls = find_class(argc, argv);
    if (cls == NULL)
        return usage_error("class= is missing: class=5 (Monitor) or class=6 (Statistics)");
    if (strcmp(cls, "5") == 0)
        return ofc_proc_main(&monitor_def, argc, argv);
    if (strcmp(cls, "6") == 0)
        return ofc_proc_main(&statistics_def, argc, argv);
    return usage_error("class= must be 5 (Monitor) or 6 (Statistics)");
}
