/*
 * prompt.c - the few questions ofcsetup asks on a terminal.
 *
 * Questions go to stderr (stdout carries the summary, which may be piped)
 * and answers come from stdin, which must be a terminal: ofcsetup never
 * reads a password from a pipe, where it would have come from a file.
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

/* This program. */
#include "ofcsetup.h"

/* The terminal's settings while echo is off, restored by the signal handler too. */
static struct termios saved_termios;
static volatile sig_atomic_t echo_off;

static void restore_echo(void)
{
    if (echo_off) {
        (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_termios);
        echo_off = 0;
    }
}

/* ^C while echo is off must not leave the administrator's terminal silent. */
static void on_signal(int sig)
{
    restore_echo();
    (void)signal(sig, SIG_DFL);
    (void)raise(sig);
}

bool setup_have_terminal(void)
{
    return isatty(STDIN_FILENO) == 1;
}

void setup_forget(char **s)
{
    if (*s == NULL)
        return;
    explicit_bzero(*s, strlen(*s));
    OFC_FREE(*s);
}

/* Reads one line from stdin without its newline. Heap result, or NULL at EOF/error. */
static char *read_line(void)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        if (line != NULL)
            explicit_bzero(line, cap);
        free(line);
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    return line;
}

/* One answer with echo off. Heap result, or NULL with *error_r. */
static char *read_secret(const char *question, char **error_r)
{
    struct termios quiet;
    struct sigaction sa, old_int, old_term, old_hup;

    if (tcgetattr(STDIN_FILENO, &saved_termios) < 0) {
        *error_r = ofc_xasprintf("cannot read the terminal settings: %s", strerror(errno));
        return NULL;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    (void)sigemptyset(&sa.sa_mask);
    (void)sigaction(SIGINT, &sa, &old_int);
    (void)sigaction(SIGTERM, &sa, &old_term);
    (void)sigaction(SIGHUP, &sa, &old_hup);

    quiet = saved_termios;
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
    (void)fprintf(stderr, "%s", question);
    (void)fflush(stderr);
    char *answer = NULL;
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) < 0) {
        *error_r = ofc_xasprintf("cannot turn off echo: %s", strerror(errno));
    } else {
        echo_off = 1;
        answer = read_line();
        restore_echo();
        (void)fputc('\n', stderr);
        if (answer == NULL)
            *error_r = ofc_xstrdup("no answer (end of input)");
    }
    (void)sigaction(SIGINT, &old_int, NULL);
    (void)sigaction(SIGTERM, &old_term, NULL);
    (void)sigaction(SIGHUP, &old_hup, NULL);
    return answer;
}

int prompt_new_password(const char *whose, char **password_r, char **error_r)
{
    *password_r = NULL;
    char *q1 = ofc_xasprintf("New password for %s: ", whose);
    char *q2 = ofc_xasprintf("Repeat the password for %s: ", whose);
    char *first = read_secret(q1, error_r);
    char *second = NULL;
    int ret = -1;

    if (first == NULL)
        goto out;
    if (first[0] == '\0') {
        *error_r = ofc_xasprintf("empty password for %s", whose);
        goto out;
    }
    second = read_secret(q2, error_r);
    if (second == NULL)
        goto out;
    if (strcmp(first, second) != 0) {
        *error_r = ofc_xasprintf("the two passwords for %s differ", whose);
        goto out;
    }
    *password_r = first;
    first = NULL;
    ret = 0;
out:
    setup_forget(&first);
    setup_forget(&second);
    free(q1);
    free(q2);
    return ret;
}

int prompt_line(const char *question, char **answer_r, char **error_r)
{
    (void)fprintf(stderr, "%s", question);
    (void)fflush(stderr);
    *answer_r = read_line();
    if (*answer_r == NULL) {
        *error_r = ofc_xstrdup("no answer (end of input)");
        return -1;
    }
    return 0;
}
