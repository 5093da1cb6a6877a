/*
 * pidfile.c - <var_dir>/<SID>/run/ofcguard.pid: one Guardian per node
 * and installation, and how `stop` and `status` find it.
 *
 * The file's flock(2) is the truth, not its contents: a Guardian holds an
 * exclusive lock on it for as long as it lives, and the kernel drops the
 * lock when it dies, however it dies. Who holds the lock is read from
 * /proc/locks (by device and inode), so a stale or edited pid in the file
 * never makes `stop` signal a stranger.
 *
 * Caution: the Guardian removes the file before it closes it. Another
 * `start` that opened the old file meanwhile then gets the lock on an inode
 * that no longer has a name; it notices (fstat and stat disagree) and tries
 * again with a fresh file, so two Guardians never both believe they hold it.
 */
/* System. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* libofc. */
#include "ofc_config.h"
#include "ofc_fs.h"
#include "ofc_log.h"
#include "ofc_mem.h"

/* This program. */
#include "guardian.h"

#define PIDFILE_NAME "ofcguard.pid"
/* Rounds of "the file was replaced under us" before giving up. */
#define TAKE_ATTEMPTS 5

char *guard_pidfile_path(const struct ofc_config *cfg)
{
    char *dir = ofc_config_pgsocket_dir(cfg);
    char *path = ofc_xasprintf("%s/%s", dir, PIDFILE_NAME);
    free(dir);
    return path;
}

/* The pid written in the file, 0 if none can be read. */
static pid_t pid_in_file(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *end = NULL;
    errno = 0;
    long v = strtol(buf, &end, 10);
    if (errno != 0 || end == buf || v <= 0 || (*end != '\n' && *end != '\0'))
        return 0;
    return (pid_t)v;
}

/*
 * The pid holding a flock on (dev, ino) according to /proc/locks: > 0, 0
 * if none is listed, -1 if /proc/locks cannot be read.
 */
static pid_t lock_holder(dev_t dev, ino_t ino)
{
    FILE *fp = fopen("/proc/locks", "re");
    if (fp == NULL)
        return -1;
    pid_t found = 0;
    char *line = NULL;
    size_t cap = 0;
    while (found == 0 && getline(&line, &cap, fp) > 0) {
        /* "1: FLOCK  ADVISORY  WRITE 4711 fe:00:10952761 0 EOF"; "->" lines are waiters. */
        char kind[16], mode[16], access[16];
        long pid;
        unsigned int maj, min;
        unsigned long long inode;
        if (strstr(line, "->") != NULL)
            continue;
        if (sscanf(line, "%*d: %15s %15s %15s %ld %x:%x:%llu", kind, mode, access, &pid, &maj, &min,
                   &inode) != 7)
            continue;
        if (strcmp(kind, "FLOCK") == 0 && maj == major(dev) && min == minor(dev) &&
            inode == (unsigned long long)ino && pid > 0)
            found = (pid_t)pid;
    }
    free(line);
    (void)fclose(fp);
    return found;
}

/* For a file whose lock we could not take: the pid that holds it (0 if unknown). */
static pid_t holder_of(int fd)
{
    struct stat st;
    if (fstat(fd, &st) == 0) {
        pid_t pid = lock_holder(st.st_dev, st.st_ino);
        if (pid > 0)
            return pid;
    }
    return pid_in_file(fd);
}

int guard_pidfile_take(struct guard *g, pid_t *holder_r, char **error_r)
{
    *holder_r = 0;
    char *dir = ofc_config_pgsocket_dir(g->cfg);
    int rc = ofc_mkdir_p(dir, 0750, 0755, error_r);
    free(dir);
    if (rc != 0)
        return -1;
    char *path = guard_pidfile_path(g->cfg);
    for (int attempt = 0; attempt < TAKE_ATTEMPTS; attempt++) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0) {
            *error_r = ofc_xasprintf("cannot open %s: %s", path, strerror(errno));
            free(path);
            return -1;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            if (e == EWOULDBLOCK) {
                *holder_r = holder_of(fd);
                *error_r = ofc_xasprintf("node %s is already guarded by ofcguard pid %ld (%s)",
                                         g->cfg->node, (long)*holder_r, path);
            } else {
                *error_r = ofc_xasprintf("cannot lock %s: %s", path, strerror(e));
            }
            (void)close(fd);
            free(path);
            return -1;
        }
        struct stat by_fd, by_name;
        if (fstat(fd, &by_fd) != 0 || stat(path, &by_name) != 0 || by_fd.st_dev != by_name.st_dev ||
            by_fd.st_ino != by_name.st_ino) {
            /* The Guardian that held it removed it after we opened it: take the new one. */
            (void)close(fd);
            continue;
        }
        char *text = ofc_xasprintf("%ld\n", (long)getpid());
        size_t len = strlen(text);
        bool ok = ftruncate(fd, 0) == 0 && pwrite(fd, text, len, 0) == (ssize_t)len;
        free(text);
        if (!ok) {
            *error_r = ofc_xasprintf("cannot write %s: %s", path, strerror(errno));
            (void)unlink(path);
            (void)close(fd);
            free(path);
            return -1;
        }
        g->pidfile_fd = fd;
        g->pidfile_path = path;
        return 0;
    }
    *error_r = ofc_xasprintf("cannot lock %s: it keeps being replaced", path);
    free(path);
    return -1;
}

void guard_pidfile_release(struct guard *g)
{
    if (g->pidfile_fd < 0)
        return;
    if (unlink(g->pidfile_path) != 0)
        ofc_warn("cannot remove %s: %s", g->pidfile_path, strerror(errno));
    (void)close(g->pidfile_fd);
    g->pidfile_fd = -1;
}

pid_t guard_pidfile_holder(const char *path, char **error_r)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        *error_r = ofc_xasprintf("cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    /*
     * /proc/locks first: merely looking must not take a lock, or a `start`
     * that runs at the same moment would find the file locked by us.
     */
    struct stat st;
    pid_t pid = fstat(fd, &st) == 0 ? lock_holder(st.st_dev, st.st_ino) : -1;
    if (pid >= 0) {
        (void)close(fd);
        return pid;
    }
    pid = 0;
    if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
        /* Nobody holds it: a file left by a Guardian that was killed. */
        (void)flock(fd, LOCK_UN);
    } else if (errno == EWOULDBLOCK) {
        pid = holder_of(fd);
        if (pid <= 0) {
            *error_r = ofc_xasprintf("%s is locked, but by which process cannot be told", path);
            pid = -1;
        }
    } else {
        *error_r = ofc_xasprintf("cannot look at the lock of %s: %s", path, strerror(errno));
        pid = -1;
    }
    (void)close(fd);
    return pid;
}
