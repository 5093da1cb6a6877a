/*
 * input.c - where statements come from: a terminal, a script, or a pipe.
 *
 * At a terminal, libedit gives the administrator line editing and a
 * history (~/.oomgr_history, mode 0600). Only statements the dispatcher
 * hands to oomgr_input_remember() enter the history, never the lines of a
 * login or of a statement that carries a password. ^C at the prompt drops
 * the statement being typed instead of ending the session.
 *
 * Scripts and pipes are read through a buffer of our own rather than
 * stdio, so that oomgr_input_ready() can tell whether the next line is
 * already there: statements of a script are batched, and a program that
 * feeds oomgr one statement at a time over a pipe must get each answer
 * before it sends the next, not wait for a batch to fill.
 *
 * Passwords are asked for with ofc_tty (echo off); oomgr never reads one
 * from a pipe as an answer, where it would have come from a file.
 */
/* System. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* How much a script or pipe is read at a time. */
#define READ_CHUNK 65536

struct oomgr_input {
    int fd; /* file or stdin; -1 at a terminal with libedit */
    bool owns_fd;
    struct ofc_strbuf pending; /* read but not yet returned: pending.data[start..len) */
    size_t start;
    bool eof;
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

static struct oomgr_input *input_fd(int fd, bool owns)
{
    struct oomgr_input *in = ofc_xcalloc(1, sizeof(*in));
    in->fd = fd;
    in->owns_fd = owns;
    ofc_strbuf_init(&in->pending);
    return in;
}

struct oomgr_input *oomgr_input_file(const char *path, char **error_r)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *error_r = ofc_xasprintf("cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    return input_fd(fd, true);
}

struct oomgr_input *oomgr_input_stdin(void)
{
    return input_fd(STDIN_FILENO, false);
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
    HistEvent ev;
    EditLine *el = el_init("oomgr", stdin, stdout, stderr);
    if (el == NULL) {
        /* No line editing (e.g. TERM unusable): read plain lines instead. */
        return input_fd(STDIN_FILENO, false);
    }
    struct oomgr_input *in = input_fd(-1, false);
    in->el = el;
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

/* The end of the first complete line pending, or NULL. */
static char *pending_newline(const struct oomgr_input *in)
{
    if (in->pending.len <= in->start)
        return NULL;
    return memchr(in->pending.data + in->start, '\n', in->pending.len - in->start);
}

/* Reads what the descriptor has (blocking): 1, 0 at its end, -1 on error. */
static int fill(struct oomgr_input *in, char **error_r)
{
    if (in->start > 0) {
        /* Keep the buffer from growing with what was already returned. */
        size_t left = in->pending.len - in->start;
        explicit_bzero(in->pending.data, in->start);
        memmove(in->pending.data, in->pending.data + in->start, left);
        in->pending.len = left;
        in->pending.data[left] = '\0';
        in->start = 0;
    }
    ofc_strbuf_reserve(&in->pending, READ_CHUNK);
    for (;;) {
        ssize_t n = read(in->fd, in->pending.data + in->pending.len, READ_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            *error_r = ofc_xasprintf("cannot read: %s", strerror(errno));
            return -1;
        }
        in->pending.len += (size_t)n;
        in->pending.data[in->pending.len] = '\0';
        return n > 0 ? 1 : 0;
    }
}

/* One line from a script or a pipe: 1, 0 at the end, -1 on error. */
static int file_line(struct oomgr_input *in, char **line_r, char **error_r)
{
    char *nl;
    while ((nl = pending_newline(in)) == NULL && !in->eof) {
        int rc = fill(in, error_r);
        if (rc < 0)
            return -1;
        if (rc == 0)
            in->eof = true;
    }
    const char *line = in->pending.data + in->start;
    size_t n = nl != NULL ? (size_t)(nl - line) : in->pending.len - in->start;
    if (nl == NULL && n == 0)
        return 0;
    /* A last line without its newline still counts. */
    in->start += nl != NULL ? n + 1 : n;
    if (memchr(line, '\0', n) != NULL) {
        *error_r = ofc_xstrdup("the input contains a NUL byte (not a text file?)");
        return -1;
    }
    while (n > 0 && line[n - 1] == '\r')
        n--;
    *line_r = ofc_xstrndup(line, n);
    return 1;
}

bool oomgr_input_ready(struct oomgr_input *in)
{
    if (in->el != NULL)
        return false;
    if (in->eof || pending_newline(in) != NULL)
        return true;
    /* A regular file always polls readable; a pipe only when a writer has written. */
    struct pollfd pfd = {.fd = in->fd, .events = POLLIN, .revents = 0};
    int rc;
    do
        rc = poll(&pfd, 1, 0);
    while (rc < 0 && errno == EINTR);
    return rc > 0;
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
    if (i->owns_fd && i->fd >= 0)
        (void)close(i->fd);
    /* A script may hold passwords. */
    if (i->pending.data != NULL)
        explicit_bzero(i->pending.data, i->pending.len);
    ofc_strbuf_free(&i->pending);
    free(i->history_path);
    OFC_FREE(*in);
}
