/*
 * report.c - how oomgr tells the administrator, and its log.
 *
 * Results go to stdout, every error to stderr as one line. At the terminal
 * the line reads "oomgr: reason"; from a script or stdin it names where the
 * statement stands ("load.ofc:12: reason"), as a compiler would, so that
 * the administrator can fix the script. Administrative changes and logins
 * go to <log_dir>/<SID>/oomgr.log: who did what, never a password.
 */
/* System. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* libofc. */
#include "ofc_config.h"
#include "ofc_log.h"
#include "ofc_mem.h"

/* This program. */
#include "oomgr.h"

static void report(const struct oomgr *om, int line, const char *kind, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static void report(const struct oomgr *om, int line, const char *kind, const char *fmt, va_list ap)
{
    char *msg = ofc_xvasprintf(fmt, ap);
    /* Whatever went to stdout before belongs before this line. */
    (void)fflush(stdout);
    if (om->mode == OOMGR_INTERACTIVE)
        (void)fprintf(stderr, "oomgr: %s%s\n", kind, msg);
    else
        (void)fprintf(stderr, "%s:%d: %s%s\n", om->source, line > 0 ? line : om->current_line, kind,
                      msg);
    (void)fflush(stderr);
    free(msg);
}

void oomgr_error_at(const struct oomgr *om, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(om, line, "", fmt, ap);
    va_end(ap);
}

void oomgr_warning_at(const struct oomgr *om, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(om, line, "warning: ", fmt, ap);
    va_end(ap);
}

void oomgr_fatal_msg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = ofc_xvasprintf(fmt, ap);
    va_end(ap);
    (void)fflush(stdout);
    (void)fprintf(stderr, "oomgr: %s\n", msg);
    (void)fflush(stderr);
    free(msg);
}

void oomgr_log_open(struct oomgr *om)
{
    char *error = NULL;
    char *dir = ofc_config_node_log_dir(om->cfg);
    if (ofc_log_open(dir, "oomgr.log", false, &error) < 0) {
        /*
         * An administrator without write access to the node's log still
         * gets work done; the changes are just not recorded. libofc's own
         * warnings then stay off the terminal too, except errors.
         */
        oomgr_fatal_msg("warning: changes are not logged: %s", error);
        free(error);
        ofc_log_set_level(OFC_LOG_ERROR);
        om->log_open = false;
    } else {
        om->log_open = true;
    }
    free(dir);
}

void oomgr_log(const struct oomgr *om, const char *fmt, ...)
{
    if (!om->log_open)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *msg = ofc_xvasprintf(fmt, ap);
    va_end(ap);
    ofc_info("%s", msg);
    free(msg);
}
