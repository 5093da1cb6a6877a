/*
 * sendmail.c - the sendmail transport of the outbound gateway. See gwout.h.
 *
 * The program runs without a shell (the addresses come from the outside
 * world) with the message on a pipe. Its standard error is read at the same
 * time, so that a chatty sendmail cannot block on a full pipe while we
 * block writing its input; the first line of it goes into the diagnostic.
 */
/* System. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* libofc. */
#include "ofc_log.h"
#include "ofc_mem.h"
#include "ofc_time.h"

/* This program. */
#include "gwout.h"

/* Standard error kept for the diagnostic: enough for a reason, no more. */
#define STDERR_KEEP 2048

struct sysexit {
    int code;
    const char *name;
    enum rcpt_result result;
    const char *status;
};

/* As Postfix's sys_exits.c: which codes a retry can cure. */
static const struct sysexit SYSEXITS[] = {
    {64, "EX_USAGE", RCPT_PERM, "5.3.0"},    {65, "EX_DATAERR", RCPT_PERM, "5.6.0"},
    {66, "EX_NOINPUT", RCPT_PERM, "5.3.0"},  {67, "EX_NOUSER", RCPT_PERM, "5.1.1"},
    {68, "EX_NOHOST", RCPT_PERM, "5.1.2"},   {69, "EX_UNAVAILABLE", RCPT_PERM, "5.3.0"},
    {70, "EX_SOFTWARE", RCPT_TEMP, "4.3.0"}, {71, "EX_OSERR", RCPT_TEMP, "4.3.0"},
    {72, "EX_OSFILE", RCPT_PERM, "5.3.0"},   {73, "EX_CANTCREAT", RCPT_PERM, "5.2.0"},
    {74, "EX_IOERR", RCPT_TEMP, "4.3.0"},    {75, "EX_TEMPFAIL", RCPT_TEMP, "4.3.0"},
    {76, "EX_PROTOCOL", RCPT_PERM, "5.5.0"}, {77, "EX_NOPERM", RCPT_PERM, "5.7.0"},
    {78, "EX_CONFIG", RCPT_TEMP, "4.3.5"},
};

/* The argument vector: path, the extra words, -oi -f sender -- rcpts, NULL. */
static char **build_argv(const struct sendmail_conf *conf, const struct send_job *job)
{
    size_t cap = 6 + job->nrcpts + (conf->extra != NULL ? strlen(conf->extra) / 2 + 1 : 0);
    char **argv = ofc_xcalloc(cap, sizeof(*argv));
    size_t n = 0;
    argv[n++] = ofc_xstrdup(conf->path);
    for (const char *p = conf->extra != NULL ? conf->extra : ""; *p != '\0';) {
        while (*p == ' ' || *p == '\t')
            p++;
        size_t w = strcspn(p, " \t");
        if (w > 0)
            argv[n++] = ofc_xstrndup(p, w);
        p += w;
    }
    argv[n++] = ofc_xstrdup("-oi");
    argv[n++] = ofc_xstrdup("-f");
    /* sendmail and Postfix's sendmail both take "<>" as the null sender. */
    argv[n++] = ofc_xstrdup(job->sender[0] != '\0' ? job->sender : "<>");
    argv[n++] = ofc_xstrdup("--");
    for (size_t i = 0; i < job->nrcpts; i++)
        argv[n++] = ofc_xstrdup(job->rcpts[i]);
    argv[n] = NULL;
    return argv;
}

static void free_argv(char **argv)
{
    for (size_t i = 0; argv[i] != NULL; i++)
        free(argv[i]);
    free(argv);
}

/* The message with LF line ends, as local submission expects. */
static char *to_lf(const char *msg, size_t len, size_t *len_r)
{
    char *out = ofc_xmalloc(len + 2);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (msg[i] == '\r' && i + 1 < len && msg[i + 1] == '\n')
            continue;
        out[o++] = msg[i];
    }
    if (o > 0 && out[o - 1] != '\n')
        out[o++] = '\n';
    *len_r = o;
    return out;
}

/*
 * Feeds the input and collects standard error until both pipes are done or
 * the deadline passes. Returns 0, or -1 on timeout.
 */
static int pump(int in_fd, const char *data, size_t len, int err_fd, struct ofc_strbuf *err,
                long long deadline)
{
    size_t off = 0;
    char chunk[4096];
    while (in_fd >= 0 || err_fd >= 0) {
        long long left = deadline - ofc_now_ms();
        if (left <= 0)
            return -1;
        struct pollfd p[2];
        nfds_t np = 0;
        int in_i = -1, err_i = -1;
        if (in_fd >= 0) {
            p[np] = (struct pollfd){.fd = in_fd, .events = POLLOUT};
            in_i = (int)np++;
        }
        if (err_fd >= 0) {
            p[np] = (struct pollfd){.fd = err_fd, .events = POLLIN};
            err_i = (int)np++;
        }
        int rc = poll(p, np, left > 1000 ? 1000 : (int)left);
        if (rc < 0 && errno != EINTR)
            return -1;
        if (rc <= 0)
            continue;
        if (in_i >= 0 && p[in_i].revents != 0) {
            ssize_t w = off < len ? write(in_fd, data + off, len - off) : 0;
            if (w > 0)
                off += (size_t)w;
            /* EPIPE: sendmail quit reading; its exit status tells why. */
            if (off >= len || (w < 0 && errno != EINTR && errno != EAGAIN)) {
                (void)close(in_fd);
                in_fd = -1;
            }
        }
        if (err_i >= 0 && p[err_i].revents != 0) {
            ssize_t r = read(err_fd, chunk, sizeof(chunk));
            if (r > 0 && err->len < STDERR_KEEP)
                ofc_strbuf_append(err, chunk,
                                  (size_t)r < STDERR_KEEP - err->len ? (size_t)r
                                                                     : STDERR_KEEP - err->len);
            if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) {
                (void)close(err_fd);
                err_fd = -1;
            }
        }
    }
    return 0;
}

/* The first non-empty line of standard error, or "". Heap. */
static char *first_line(const struct ofc_strbuf *err)
{
    const char *s = err->data != NULL ? err->data : "";
    while (*s == '\n' || *s == '\r' || *s == ' ')
        s++;
    return ofc_xstrndup(s, strcspn(s, "\r\n"));
}

void sendmail_send(const struct sendmail_conf *conf, const struct send_job *job,
                   struct rcpt_outcome *out)
{
    int in[2] = {-1, -1}, err[2] = {-1, -1};
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
        char *d = ofc_xasprintf("cannot run %s: pipe: %s", conf->path, strerror(errno));
        outcome_set_all(out, job->nrcpts, true, RCPT_TEMP, "4.3.0", d);
        free(d);
        for (int i = 0; i < 2; i++) {
            if (in[i] >= 0)
                (void)close(in[i]);
            if (err[i] >= 0)
                (void)close(err[i]);
        }
        return;
    }
    char **argv = build_argv(conf, job);
    pid_t pid = fork();
    if (pid == 0) {
        /* The child: stdin from the pipe, stderr to ours, stdout nowhere. */
        int devnull = open("/dev/null", O_WRONLY);
        if (dup2(in[0], 0) < 0 || dup2(err[1], 2) < 0 || devnull < 0 || dup2(devnull, 1) < 0)
            _exit(75);
        (void)signal(SIGPIPE, SIG_DFL);
        sigset_t none;
        (void)sigemptyset(&none);
        (void)sigprocmask(SIG_SETMASK, &none, NULL);
        execv(argv[0], argv);
        /* Only async-signal-safe calls after fork. */
        static const char msg[] = "cannot execute the sendmail program\n";
        ssize_t ignored = write(2, msg, sizeof(msg) - 1);
        (void)ignored;
        _exit(75);
    }
    free_argv(argv);
    (void)close(in[0]);
    (void)close(err[1]);
    if (pid < 0) {
        char *d = ofc_xasprintf("cannot run %s: fork: %s", conf->path, strerror(errno));
        outcome_set_all(out, job->nrcpts, true, RCPT_TEMP, "4.3.0", d);
        free(d);
        (void)close(in[1]);
        (void)close(err[0]);
        return;
    }
    (void)fcntl(in[1], F_SETFL, O_NONBLOCK);
    size_t lf_len = 0;
    char *lf = to_lf(job->msg, job->len, &lf_len);
    struct ofc_strbuf errbuf = OFC_STRBUF_INIT;
    long long deadline = ofc_now_ms() + (long long)conf->timeout_s * 1000;
    bool timed_out = pump(in[1], lf, lf_len, err[0], &errbuf, deadline) < 0;
    free(lf);
    /* pump() closed what it finished; close the rest (a timeout leaves them). */
    (void)close(in[1]);
    (void)close(err[0]);

    /*
     * Its standard error is closed (the program ended or closed it) or the
     * deadline passed: wait until the deadline, then kill it.
     */
    int status = 0;
    pid_t w;
    for (;;) {
        w = waitpid(pid, &status, WNOHANG);
        if (w == pid || (w < 0 && errno != EINTR))
            break;
        if (w == 0 && (timed_out || ofc_now_ms() >= deadline)) {
            ofc_warn("%s: no exit after %d s; killed", conf->path, conf->timeout_s);
            (void)kill(pid, SIGKILL);
            do
                w = waitpid(pid, &status, 0);
            while (w < 0 && errno == EINTR);
            break;
        }
        struct timespec nap = {0, 5 * 1000 * 1000};
        (void)nanosleep(&nap, NULL);
    }
    char *line = first_line(&errbuf);
    ofc_strbuf_free(&errbuf);
    char *d = NULL;
    if (w != pid) {
        d = ofc_xasprintf("%s: cannot wait for it: %s", conf->path, strerror(errno));
        outcome_set_all(out, job->nrcpts, true, RCPT_TEMP, "4.3.0", d);
    } else if (WIFSIGNALED(status)) {
        d = ofc_xasprintf("%s killed by signal %d%s%s", conf->path, WTERMSIG(status),
                          line[0] != '\0' ? ": " : "", line);
        outcome_set_all(out, job->nrcpts, true, RCPT_TEMP, "4.3.0", d);
    } else if (WEXITSTATUS(status) == 0) {
        d = ofc_xasprintf("accepted by %s", conf->path);
        outcome_set_all(out, job->nrcpts, true, RCPT_SENT, "2.0.0", d);
    } else {
        int code = WEXITSTATUS(status);
        const struct sysexit *se = NULL;
        for (size_t i = 0; i < sizeof(SYSEXITS) / sizeof(SYSEXITS[0]); i++)
            if (SYSEXITS[i].code == code)
                se = &SYSEXITS[i];
        /* An exit status outside sysexits says nothing: keep the mail. */
        d = ofc_xasprintf("%s exit %d (%s)%s%s", conf->path, code,
                          se != NULL ? se->name : "unknown", line[0] != '\0' ? ": " : "", line);
        outcome_set_all(out, job->nrcpts, true, se != NULL ? se->result : RCPT_TEMP,
                        se != NULL ? se->status : "4.3.0", d);
    }
    free(d);
    free(line);
}
