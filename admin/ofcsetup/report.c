/*
 * report.c - how ofcsetup tells the administrator and its log.
 *
 * An administrator runs ofcsetup by hand, so every failure is one line on
 * stderr that says what went wrong; the same line goes to ofcsetup.log
 * with the steps that led there. Progress lines (migration applied,
 * cluster started) go to the log only: the summary on stdout says the rest.
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
#include "ofcsetup.h"

static bool log_open;

static void report(enum ofc_log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void report(enum ofc_log_level level, const char *fmt, va_list ap)
{
    char *msg = ofc_xvasprintf(fmt, ap);
    (void)fprintf(stderr, "ofcsetup: %s%s\n", level == OFC_LOG_WARN ? "warning: " : "", msg);
    (void)fflush(stderr);
    /* Before the log is open ofc_log() writes to stderr, which just got the line. */
    if (log_open)
        ofc_log(level, "%s", msg);
    free(msg);
}

void setup_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(OFC_LOG_ERROR, fmt, ap);
    va_end(ap);
}

void setup_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(OFC_LOG_WARN, fmt, ap);
    va_end(ap);
}

int setup_log_open(const struct ofc_config *cfg, char **error_r)
{
    enum ofc_log_level level = OFC_LOG_INFO;
    char *dir = ofc_config_node_log_dir(cfg);
    int rc = ofc_log_open(dir, "ofcsetup.log", false, error_r);
    free(dir);
    if (rc < 0)
        return -1;
    /* The steps are logged at info; the configuration may ask for more, not less. */
    if (ofc_log_level_parse(cfg->log_level, &level) < 0 || level < OFC_LOG_INFO)
        level = OFC_LOG_INFO;
    ofc_log_set_level(level);
    log_open = true;
    return 0;
}

bool setup_log_is_open(void)
{
    return log_open;
}
