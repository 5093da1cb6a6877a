/*
 * ofc_log.h - one log line per event, in the Installation Guide's files.
 *
 * Lines look like
 *   2026-11-25 20:37:23.123 +0000 [4711] INFO  delivered message 42 to user1
 * and are written with one write(2) on an O_APPEND descriptor, so lines of
 * several processes or threads never interleave. Never log a password.
 *
 * One event is one line: CR and LF in the message become "\r" and "\n",
 * other control characters "\xNN", so that client data cannot forge lines.
 * A line longer than 16 KiB is cut and ends in "...". A line the file
 * refuses (disk full, I/O error) goes to stderr instead. All functions are
 * thread-safe; none is async-signal-safe (set a flag in the signal handler
 * and call ofc_log_reopen from the main loop).
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
 * Opens (creating directories as needed, mode 0750) <dir>/<file_name> for
 * appending (mode 0640, close-on-exec) and closes any file opened before.
 * With to_stderr, lines also go to standard error (foreground mode, -f).
 * Before ofc_log_open, or with dir == NULL, lines go to stderr only.
 * Returns 0, or -1 with a heap message in *error_r (the previous
 * destination is kept then).
 */
int ofc_log_open(const char *dir, const char *file_name, bool to_stderr, char **error_r)
    __attribute__((warn_unused_result));

/*
 * Reopens the same path (after logrotate moved the file); safe to call from
 * the main loop while other threads log. If the path cannot be opened the
 * old descriptor is kept and the reason goes to stderr.
 */
void ofc_log_reopen(void);
/* Closes the file; later lines go to stderr. */
void ofc_log_close(void);

/* Lines above `level` are dropped (default OFC_LOG_INFO). */
void ofc_log_set_level(enum ofc_log_level level);
enum ofc_log_level ofc_log_get_level(void);
/* "error", "warn", "info", "debug", "trace" (any case). Returns 0 or -1. */
int ofc_log_level_parse(const char *name, enum ofc_log_level *level_r);
/* The lower-case name of level ("unknown" for values outside the enum). */
const char *ofc_log_level_name(enum ofc_log_level level);

/*
 * The file name of a process's log in the Installation Guide's style:
 * ofc_log_file_name("ESNODE", "postman", 1) -> "ESNODE_postman01.log";
 * instance <= 0 leaves the number out ("ESNODE_mon.log"); node == NULL
 * gives "<base>.log" ("ofcuto.log"). Heap string.
 */
char *ofc_log_file_name(const char *node, const char *base, int instance);

/* Formats and writes one line if level is enabled; errno is preserved. */
void ofc_log(enum ofc_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define ofc_error(...) ofc_log(OFC_LOG_ERROR, __VA_ARGS__)
#define ofc_warn(...)  ofc_log(OFC_LOG_WARN, __VA_ARGS__)
#define ofc_info(...)  ofc_log(OFC_LOG_INFO, __VA_ARGS__)
#define ofc_debug(...) ofc_log(OFC_LOG_DEBUG, __VA_ARGS__)
#define ofc_trace(...) ofc_log(OFC_LOG_TRACE, __VA_ARGS__)

/*
 * The environment is broken (no config, no database after retries): log at
 * ERROR, whatever the level, with "fatal: " in front, and exit(1).
 */
__attribute__((noreturn, format(printf, 1, 2))) void ofc_fatal(const char *fmt, ...);
/* Our own invariant is broken: log at ERROR ("panic: ...") and abort() for a core dump. */
__attribute__((noreturn, format(printf, 1, 2))) void ofc_panic(const char *fmt, ...);

#endif
