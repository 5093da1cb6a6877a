/*
 * ofc_tty.h - questions on the terminal: answers with or without echo.
 *
 * The administration programs (oomgr, ofcsetup) ask for user names,
 * passwords and confirmations. Questions go to stderr, so that stdout
 * can stay a clean, pipeable result; answers come from stdin, which must
 * be a terminal: a password is never read from a pipe, where it would
 * have come from a file. While echo is off, SIGINT, SIGTERM and SIGHUP
 * first restore the terminal, then act as they would have, so that an
 * interrupted question never leaves the administrator's terminal silent.
 *
 * Not thread-safe (the saved terminal state is process-wide): ask from the
 * main thread.
 */
#ifndef OFC_TTY_H
#define OFC_TTY_H

#include <stdbool.h>

/* True when stdin is a terminal that questions can be asked on. */
bool ofc_tty_available(void);

/*
 * Prints question on stderr and reads one line from stdin, without its
 * line end. With echo false the terminal does not show what is typed:
 * echo goes off before the question is printed, so that an answer typed
 * at once is not shown either, and type-ahead is kept. Returns a heap
 * string (wipe it with ofc_tty_forget() when it is a secret), or NULL with
 * a heap message in *error_r: stdin is not a terminal, its settings
 * cannot be changed, or the input ended.
 */
char *ofc_tty_ask(const char *question, bool echo, char **error_r)
    __attribute__((warn_unused_result));

/*
 * Overwrites a string that held a secret (an answer, a password, a
 * connect string with a password) and frees it; sets *s to NULL. *s may
 * be NULL.
 */
void ofc_tty_forget(char **s);

#endif
