/*
 * ofc_tty.c - questions on the terminal, with echo turned off for secrets.
 *
 * TCSADRAIN, not TCSAFLUSH: an administrator who types the password
 * before the question appears (or pastes it with the user name) keeps
 * what was typed; FLUSH would silently drop it.
 */
/* System. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* libofc. */
#include "ofc_mem.h"
#include "ofc_tty.h"

/* The terminal's settings while echo is off, restored by the signal handler too. */
static struct termios saved_termios;
static volatile sig_atomic_t echo_off;

static void restore_echo(void)
{
    if (echo_off) {
        (void)tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_termios);
        echo_off = 0;
    }
}

/* ^C while echo is off must not leave the terminal silent: restore, then die as asked. */
static void on_signal_echo_off(int sig)
{
    restore_echo();
    (void)signal(sig, SIG_DFL);
    (void)raise(sig);
}

bool ofc_tty_available(void)
{
    return isatty(STDIN_FILENO) == 1;
}

void ofc_tty_forget(char **s)
{
    if (*s == NULL)
        return;
    explicit_bzero(*s, strlen(*s));
    OFC_FREE(*s);
}

/* One line from stdin without its line end; heap, or NULL at the end of input. */
static char *read_line(void)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        /* getline may have stored part of an answer before failing. */
        if (line != NULL)
            explicit_bzero(line, cap);
        free(line);
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    return line;
}

char *ofc_tty_ask(const char *question, bool echo, char **error_r)
{
    struct sigaction sa, old_int, old_term, old_hup;
    char *answer = NULL;

    if (!ofc_tty_available()) {
        *error_r = ofc_xstrdup("cannot ask: standard input is not a terminal");
        return NULL;
    }
    if (echo) {
        (void)fprintf(stderr, "%s", question);
        (void)fflush(stderr);
        answer = read_line();
        if (answer == NULL)
            *error_r = ofc_xstrdup("no answer (end of input)");
        return answer;
    }
    if (tcgetattr(STDIN_FILENO, &saved_termios) < 0) {
        *error_r = ofc_xasprintf("cannot read the terminal settings: %s", strerror(errno));
        return NULL;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal_echo_off;
    (void)sigemptyset(&sa.sa_mask);
    (void)sigaction(SIGINT, &sa, &old_int);
    (void)sigaction(SIGTERM, &sa, &old_term);
    (void)sigaction(SIGHUP, &sa, &old_hup);
    struct termios quiet = saved_termios;
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
    if (tcsetattr(STDIN_FILENO, TCSADRAIN, &quiet) < 0) {
        *error_r = ofc_xasprintf("cannot turn off echo: %s", strerror(errno));
    } else {
        echo_off = 1;
        (void)fprintf(stderr, "%s", question);
        (void)fflush(stderr);
        answer = read_line();
        restore_echo();
        /* The newline the terminal did not echo. */
        (void)fputc('\n', stderr);
        if (answer == NULL)
            *error_r = ofc_xstrdup("no answer (end of input)");
    }
    (void)sigaction(SIGINT, &old_int, NULL);
    (void)sigaction(SIGTERM, &old_term, NULL);
    (void)sigaction(SIGHUP, &old_hup, NULL);
    return answer;
}
