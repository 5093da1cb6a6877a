/*
 * daemon.c - detaching from the terminal without losing the verdict.
 *
 * `ofcguard start` forks; the daemon starts a new session, points its
 * standard descriptors at /dev/null and does the whole start-up (log, pid
 * file, embedded cluster, database, lock). The parent waits on a pipe for
 * one message: "R<line>" (running: the line goes to stdout, exit 0) or
 * "E<reason>" (the reason goes to stderr, exit 1). A daemon that dies
 * before it says anything closes the pipe: that is a failure too.
 */
/* System. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* libofc. */
#include "ofc_config.h"
#include "ofc_log.h"
#include "ofc_mem.h"

/* This program. */
#include "guardian.h"

/* The write end of the pipe to the waiting parent; -1 in the foreground and once told. */
static int ready_fd = -1;

/* Sends one message and closes the pipe, so the parent exits at once. */
static void tell_parent(char kind, const char *text)
{
    if (ready_fd < 0)
        return;
    char *msg = ofc_xasprintf("%c%s", kind, text);
    size_t len = strlen(msg);
    const char *p = msg;
    while (len > 0) {
        ssize_t n = write(ready_fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* the parent is gone: nobody to tell */
        p += n;
        len -= (size_t)n;
    }
    free(msg);
    (void)close(ready_fd);
    ready_fd = -1;
}

/* The parent: reads the daemon's verdict. Returns the exit status. */
static int wait_for_daemon(int fd, const char *log_path)
{
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    char buf[512];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        ofc_strbuf_append(&sb, buf, (size_t)n);
    }
    (void)close(fd);
    int status = 1;
    if (sb.len > 0 && sb.data[0] == 'R') {
        (void)printf("%s\n", sb.data + 1);
        status = 0;
    } else if (sb.len > 0 && sb.data[0] == 'E') {
        (void)fprintf(stderr, "%s: %s\n", GUARD_PROGRAM, sb.data + 1);
    } else {
        (void)fprintf(stderr, "%s: the daemon exited during start-up; see %s\n", GUARD_PROGRAM,
                      log_path);
    }
    ofc_strbuf_free(&sb);
    return status;
}

int guard_daemonize(const char *log_path, int *exit_r)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        (void)fprintf(stderr, "%s: cannot create a pipe: %s\n", GUARD_PROGRAM, strerror(errno));
        *exit_r = 1;
        return 1;
    }
    /* Whatever stdio holds would otherwise be written twice. */
    (void)fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        (void)fprintf(stderr, "%s: cannot fork: %s\n", GUARD_PROGRAM, strerror(errno));
        (void)close(fds[0]);
        (void)close(fds[1]);
        *exit_r = 1;
        return 1;
    }
    if (pid > 0) {
        (void)close(fds[1]);
        *exit_r = wait_for_daemon(fds[0], log_path);
        return 1;
    }
    (void)close(fds[0]);
    ready_fd = fds[1];
    /* A session of our own: no controlling terminal, no SIGHUP from a closing shell. */
    if (setsid() < 0) {
        guard_start_failed("setsid: %s", strerror(errno));
        _exit(1);
    }
    umask(027);
    if (chdir("/") != 0) {
        guard_start_failed("cannot change to /: %s", strerror(errno));
        _exit(1);
    }
    int null_fd = open("/dev/null", O_RDWR);
    if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 || dup2(null_fd, STDOUT_FILENO) < 0 ||
        dup2(null_fd, STDERR_FILENO) < 0) {
        guard_start_failed("cannot redirect to /dev/null: %s", strerror(errno));
        _exit(1);
    }
    if (null_fd > STDERR_FILENO)
        (void)close(null_fd);
    return 0;
}

void guard_ready(const struct guard *g)
{
    char *line = ofc_xasprintf("%s started on node %s (pid %ld)", GUARD_PROGRAM, g->cfg->node,
                               (long)getpid());
    tell_parent('R', line);
    free(line);
}

void guard_start_failed(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = ofc_xvasprintf(fmt, ap);
    va_end(ap);
    /* In the foreground this line reaches stderr too. */
    ofc_error("cannot start: %s", msg);
    tell_parent('E', msg);
    free(msg);
}
