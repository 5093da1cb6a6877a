/*
 * ofc_log.h - one log line per event, in the Installation Guide's files.
 *
 * Lines look like
 *   2026-11-25 20:37:23.123 +0000 [4711] INFO  delivered message 42 to user1
 * and are written with one write(2) on an O_APPEND descriptor, so lines of
 * several processes or threads never interleave. Never log a password.
 */
#ifndef OFC_LOG_H
#define OFC_LOG_H

#include <stdbool.h>

enum ofc_log_level {
    OFC_LOG_ERROR = 0,
    OFC_LOG_WARN,
    OFC_LOG_INFO,
    OFC_LOG_DEBUG,
    OFC_LOG_TRACE,
};

/*
 * Opens (creating directories as needed) <dir>/<file_name> for appending.
 * With to_stderr, lines also go to standard error (foreground mode, -f).
 * Before ofc_log_open, or with dir == NULL, lines go to stderr only.
 * Returns 0, or -1 with a heap message in *error_r.
 */
int ofc_log_open(const char *dir, const char *file_name, bool to_stderr, char **error_r)
    __attribute__((warn_unused_result));

/* Reopens the same file (after logrotate moved it); safe to call from the main loop. */
void ofc_log_reopen(void);
void ofc_log_close(void);

void ofc_log_set_level(enum ofc_log_level level);
enum ofc_log_level ofc_log_get_level(void);
/* "error", "warn", "info", "debug", "trace" (any case). Returns 0 or -1. */
int ofc_log_level_parse(const char *name, enum ofc_log_level *level_r);
const char *ofc_log_level_name(enum ofc_log_level level);

/*
 * The file name of a process's log in the Installation Guide's style:
 * ofc_log_file_name("ESNODE", "postman", 1) -> "ESNODE_postman01.log";
 * instance <= 0 leaves the number out ("ESNODE_mon.log"); node == NULL
 * gives "<base>.log" ("ofcuto.log"). Heap string.
 */
char *ofc_log_file_name(const char *node, const char *base, int instance);

void ofc_log(enum ofc_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define ofc_error(...) ofc_log(OFC_LOG_ERROR, __VA_ARGS__)
#define ofc_warn(...)  ofc_log(OFC_LOG_WARN, __VA_ARGS__)
#define ofc_info(...)  ofc_log(OFC_LOG_INFO, __VA_ARGS__)
#define ofc_debug(...) ofc_log(OFC_LOG_DEBUG, __VA_ARGS__)
#define ofc_trace(...) ofc_log(OFC_LOG_TRACE, __VA_ARGS__)

/* The environment is broken (no config, no database after retries): log and exit(1). */
__attribute__((noreturn, format(printf, 1, 2))) void ofc_fatal(const char *fmt, ...);
/* Our own invariant is broken: log and abort() for a core dump. */
__attribute__((noreturn, format(printf, 1, 2))) void ofc_panic(const char *fmt, ...);

#endif
