/*
 * input.c - where statements come from: a terminal, a script, or a pipe.
 *
 * At a terminal, libedit gives the administrator line editing and a
 * history (~/.oomgr_history, mode 0600). Only statements the dispatcher
 * hands to oomgr_input_remember() enter the history, never the lines of a
 * login or of a statement that carries a password. ^C at the prompt drops
 * the statement being typed instead of ending the session.
 *
 * Passwords are read from the terminal with echo off; oomgr never reads
 * one from a pipe, where it would have come from a file.
 */
/* System. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

/* Libraries. */
#include <histedit.h>

/* libofc. */
#include "ofc_mem.h"

/* This program. */
#include "oomgr.h"

#define HISTORY_SIZE 1000

#define PROMPT              "IOFCMGR> "
#define CONTINUATION_PROMPT "    ...> "

struct oomgr_input {
    FILE *fp; /* file or stdin; NULL at a terminal */
    bool owns_fp;
    EditLine *el;
    History *hist;
    char *history_path; /* NULL: no history file */
    bool continuation;
    bool dropped; /* ^C was typed while editing */
    struct sigaction old_int;
};

/* Raised by SIGINT (^C while a statement runs, e.g. waits for processes). */
static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1;
}

bool oomgr_input_interrupted(void)
{
    if (!interrupted)
        return false;
    interrupted = 0;
    return true;
}

struct oomgr_input *oomgr_input_file(const char *path, char **error_r)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL) {
        *error_r = ofc_xasprintf("cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    struct oomgr_input *in = ofc_xcalloc(1, sizeof(*in));
    in->fp = fp;
    in->owns_fp = true;
    return in;
}

struct oomgr_input *oomgr_input_stdin(void)
{
    struct oomgr_input *in = ofc_xcalloc(1, sizeof(*in));
    in->fp = stdin;
    return in;
}

static char *prompt_fn(EditLine *el)
{
    struct oomgr_input *in = NULL;
    if (el_get(el, EL_CLIENTDATA, &in) != 0 || in == NULL)
        return (char *)PROMPT;
    return (char *)(in->continuation ? CONTINUATION_PROMPT : PROMPT);
}

/*
 * ^C while a line is edited: libedit ends the line and we drop it. The
 * terminal sends ^C as a character while libedit edits (no ISIG), so no
 * signal has to interrupt a read that libedit would simply restart.
 */
static unsigned char on_ctrl_c(EditLine *el, int ch)
{
    struct oomgr_input *in = NULL;
    (void)ch;
    if (el_get(el, EL_CLIENTDATA, &in) == 0 && in != NULL)
        in->dropped = true;
    return CC_NEWLINE;
}

struct oomgr_input *oomgr_input_terminal(const char *history_path)
{
    struct oomgr_input *in = ofc_xcalloc(1, sizeof(*in));
    HistEvent ev;

    in->el = el_init("oomgr", stdin, stdout, stderr);
    if (in->el == NULL) {
        /* No line editing (e.g. TERM unusable): read plain lines instead. */
        in->fp = stdin;
        return in;
    }
    in->hist = history_init();
    if (in->hist != NULL) {
        (void)history(in->hist, &ev, H_SETSIZE, HISTORY_SIZE);
        (void)history(in->hist, &ev, H_SETUNIQUE, 1);
        if (history_path != NULL) {
            in->history_path = ofc_xstrdup(history_path);
            /* A missing file is the normal first run. */
            (void)history(in->hist, &ev, H_LOAD, history_path);
        }
        (void)el_set(in->el, EL_HIST, history, in->hist);
    }
    (void)el_set(in->el, EL_CLIENTDATA, in);
    (void)el_set(in->el, EL_PROMPT, prompt_fn);
    (void)el_set(in->el, EL_EDITOR, "emacs");
    /*
     * el_set(EL_ADDFN) copies the names and never frees the copies;
     * el_wset keeps these static strings as they are.
     */
    (void)el_wset(in->el, EL_ADDFN, L"oomgr-drop", L"Drop the statement being typed", on_ctrl_c);
    (void)el_set(in->el, EL_BIND, "^C", "oomgr-drop", NULL);
    (void)el_set(in->el, EL_SETTY, "-d", "-isig", NULL);
    /* The administrator's ~/.editrc, if any (key bindings). */
    (void)el_source(in->el, NULL);

    /* No SA_RESTART: ^C must interrupt a statement that waits. */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_interrupt;
    (void)sigemptyset(&sa.sa_mask);
    (void)sigaction(SIGINT, &sa, &in->old_int);
    return in;
}

/* One line from a FILE: 1, 0 at the end, -1 on error. */
static int file_line(struct oomgr_input *in, char **line_r, char **error_r)
{
    char *line = NULL;
    size_t cap = 0;
    errno = 0;
    ssize_t n = getline(&line, &cap, in->fp);
    if (n < 0) {
        free(line);
        if (ferror(in->fp)) {
            *error_r = ofc_xasprintf("cannot read: %s", strerror(errno != 0 ? errno : EIO));
            return -1;
        }
        return 0;
    }
    if (memchr(line, '\0', (size_t)n) != NULL) {
        free(line);
        *error_r = ofc_xstrdup("the input contains a NUL byte (not a text file?)");
        return -1;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    *line_r = line;
    return 1;
}

int oomgr_input_line(struct oomgr_input *in, bool continuation, char **line_r, char **error_r)
{
    *line_r = NULL;
    if (in->el == NULL)
        return file_line(in, line_r, error_r);

    in->continuation = continuation;
    in->dropped = false;
    int count = 0;
    /*
     * libedit prints the prompt first and switches the terminal to its
     * edit mode only when it reads: what is typed in between would be
     * echoed twice, and a ^C would be a signal. Switch first.
     */
    (void)el_set(in->el, EL_PREP_TERM, 1);
    const char *line = el_gets(in->el, &count);
    interrupted = 0;
    if (in->dropped)
        return 2;
    if (line == NULL || count <= 0) {
        if (count < 0 && errno != 0 && errno != EINTR) {
            *error_r = ofc_xasprintf("cannot read the terminal: %s", strerror(errno));
            return -1;
        }
        /* ^D: end the line the shell prompt would otherwise share. */
        (void)fputc('\n', stdout);
        (void)fflush(stdout);
        return 0;
    }
    size_t len = strlen(line);
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    *line_r = ofc_xstrndup(line, len);
    return 1;
}

void oomgr_input_remember(struct oomgr_input *in, const char *text)
{
    HistEvent ev;
    if (in->hist == NULL || text[0] == '\0')
        return;
    (void)history(in->hist, &ev, H_ENTER, text);
}

/* Writes the history file, created 0600: statements name accounts and hosts. */
static void save_history(struct oomgr_input *in)
{
    HistEvent ev;
    if (in->hist == NULL || in->history_path == NULL)
        return;
    int fd = open(in->history_path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return;
    (void)fchmod(fd, 0600);
    (void)close(fd);
    (void)history(in->hist, &ev, H_SAVE, in->history_path);
}

void oomgr_input_close(struct oomgr_input **in)
{
    if (*in == NULL)
        return;
    struct oomgr_input *i = *in;
    if (i->el != NULL) {
        save_history(i);
        el_end(i->el);
        (void)sigaction(SIGINT, &i->old_int, NULL);
    }
    if (i->hist != NULL)
        history_end(i->hist);
    if (i->owns_fp && i->fp != NULL)
        (void)fclose(i->fp);
    free(i->history_path);
    OFC_FREE(*in);
}

/* ---- questions at login ---------------------------------------------------- */

static struct termios saved_termios;
static volatile sig_atomic_t echo_off;

static void restore_echo(void)
{
    if (echo_off) {
        (void)tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_termios);
        echo_off = 0;
    }
}

/* ^C while echo is off must not leave the administrator's terminal silent. */
static void on_signal_echo_off(int sig)
{
    restore_echo();
    (void)signal(sig, SIG_DFL);
    (void)raise(sig);
}

void oomgr_forget(char **s)
{
    if (*s == NULL)
        return;
    explicit_bzero(*s, strlen(*s));
    OFC_FREE(*s);
}

static char *read_stdin_line(void)
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

char *oomgr_ask(const char *question, bool echo, char **error_r)
{
    struct sigaction sa, old_int, old_term, old_hup;
    char *answer = NULL;

    if (isatty(STDIN_FILENO) != 1) {
        *error_r = ofc_xstrdup("cannot ask: standard input is not a terminal");
        return NULL;
    }
    if (echo) {
        (void)fprintf(stderr, "%s", question);
        (void)fflush(stderr);
        answer = read_stdin_line();
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
    /* Echo goes off before the question: an answer typed at once is not shown. */
    if (tcsetattr(STDIN_FILENO, TCSADRAIN, &quiet) < 0) {
        *error_r = ofc_xasprintf("cannot turn off echo: %s", strerror(errno));
    } else {
        echo_off = 1;
        (void)fprintf(stderr, "%s", question);
        (void)fflush(stderr);
        answer = read_stdin_line();
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
