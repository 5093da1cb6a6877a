/*
 * ofc_log.c - one log line per event, written with one write(2).
 *
 * The state is a handful of globals behind one mutex: the open descriptor,
 * the path it was opened from (for ofc_log_reopen) and the stderr flag. The
 * level lives in an atomic so that the common case - a debug line that is
 * filtered out - costs one load and no lock.
 */
/* System. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* libofc. */
#include "ofc_fs.h"
#include "ofc_log.h"
#include "ofc_mem.h"

/*
 * A line longer than this is cut and ends in "...". Lines are meant for
 * people and grep; a 1 MB line is a bug (or an attack) and would also
 * lose the O_APPEND atomicity guarantees of some file systems.
 */
#define LOG_LINE_MAX 16384

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = -1;
static char *log_path;
static bool log_to_stderr;
static atomic_int log_level = OFC_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug", "trace"};
static const char *const level_labels[] = {"ERROR", "WARN", "INFO", "DEBUG", "TRACE"};

static int open_log_file(const char *path)
{
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640);
}

int ofc_log_open(const char *dir, const char *file_name, bool to_stderr, char **error_r)
{
    char *path = NULL;
    int fd = -1;

    /* Lines carry local time; make sure the zone is read once, up front. */
    tzset();
    if (dir != NULL) {
        if (ofc_mkdir_p(dir, 0750, 0755, error_r) < 0)
            return -1;
        path = ofc_xasprintf("%s/%s", dir, file_name);
        fd = open_log_file(path);
        if (fd < 0) {
            *error_r = ofc_xasprintf("cannot open log file %s: %s", path, strerror(errno));
            free(path);
            return -1;
        }
    }

    pthread_mutex_lock(&log_lock);
    int old_fd = log_fd;
    char *old_path = log_path;
    log_fd = fd;
    log_path = path;
    log_to_stderr = to_stderr;
    pthread_mutex_unlock(&log_lock);

    if (old_fd >= 0)
        (void)close(old_fd);
    free(old_path);
    return 0;
}

void ofc_log_reopen(void)
{
    pthread_mutex_lock(&log_lock);
    if (log_path == NULL) {
        pthread_mutex_unlock(&log_lock);
        return;
    }
    int fd = open_log_file(log_path);
    if (fd < 0) {
        /*
         * Keep writing to the old descriptor: the renamed file is still a
         * better home for the lines than nowhere. Say so on stderr, which
         * is all we can do without recursing into ourselves.
         */
        int err = errno;
        char *msg =
            ofc_xasprintf("ofcmail: cannot reopen log file %s: %s\n", log_path, strerror(err));
        ssize_t ignored = write(STDERR_FILENO, msg, strlen(msg));
        (void)ignored;
        free(msg);
        pthread_mutex_unlock(&log_lock);
        return;
    }
    int old_fd = log_fd;
    log_fd = fd;
    pthread_mutex_unlock(&log_lock);
    if (old_fd >= 0)
        (void)close(old_fd);
}

void ofc_log_close(void)
{
    pthread_mutex_lock(&log_lock);
    int old_fd = log_fd;
    char *old_path = log_path;
    log_fd = -1;
    log_path = NULL;
    log_to_stderr = false;
    pthread_mutex_unlock(&log_lock);
    if (old_fd >= 0)
        (void)close(old_fd);
    free(old_path);
}

void ofc_log_set_level(enum ofc_log_level level)
{
    if (level > OFC_LOG_TRACE)
        level = OFC_LOG_TRACE;
    atomic_store(&log_level, (int)level);
}

enum ofc_log_level ofc_log_get_level(void)
{
    return (enum ofc_log_level)atomic_load(&log_level);
}

int ofc_log_level_parse(const char *name, enum ofc_log_level *level_r)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *level_r = (enum ofc_log_level)i;
            return 0;
        }
    }
    return -1;
}

const char *ofc_log_level_name(enum ofc_log_level level)
{
    if ((unsigned)level >= sizeof(level_names) / sizeof(level_names[0]))
        return "unknown";
    return level_names[level];
}

char *ofc_log_file_name(const char *node, const char *base, int instance)
{
    if (node == NULL)
        return ofc_xasprintf("%s.log", base);
    if (instance <= 0)
        return ofc_xasprintf("%s_%s.log", node, base);
    return ofc_xasprintf("%s_%s%02d.log", node, base, instance);
}

/* Writes all of buf, retrying after signals and short writes. */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/*
 * Appends msg to sb with control characters escaped, so that a client
 * who puts CR LF into a user name cannot forge a second log line. Stops
 * (and appends "...") when the line would exceed LOG_LINE_MAX with the
 * final newline; never cuts an escape or a UTF-8 sequence in half.
 */
static void append_escaped(struct ofc_strbuf *sb, const char *msg, size_t len)
{
    static const char ellipsis[] = "...";
    const size_t limit = LOG_LINE_MAX - 1; /* room for '\n' */

    /* Escaped size first, so that a line that fits is never cut. */
    size_t total = sb->len;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)msg[i];
        total += c == '\n' || c == '\r' ? 2 : c < 0x20 || c == 0x7f ? 4 : 1;
    }
    bool fits = total <= limit;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)msg[i];
        char esc[5];
        size_t esc_len = 1;

        if (c == '\n') {
            memcpy(esc, "\\n", 2);
            esc_len = 2;
        } else if (c == '\r') {
            memcpy(esc, "\\r", 2);
            esc_len = 2;
        } else if (c < 0x20 || c == 0x7f) {
            (void)snprintf(esc, sizeof(esc), "\\x%02x", c);
            esc_len = 4;
        } else {
            esc[0] = (char)c;
        }
        /* Cut before the character that leaves no room for "...". */
        if (!fits && sb->len + esc_len > limit - (sizeof(ellipsis) - 1)) {
            if ((c & 0xc0) == 0x80) {
                /* Inside a UTF-8 sequence: drop its lead bytes too. */
                while (sb->len > 0 && ((unsigned char)sb->data[sb->len - 1] & 0xc0) == 0x80)
                    sb->len--;
                if (sb->len > 0 && (unsigned char)sb->data[sb->len - 1] >= 0xc0)
                    sb->len--;
                sb->data[sb->len] = '\0';
            }
            ofc_strbuf_append(sb, ellipsis, sizeof(ellipsis) - 1);
            return;
        }
        ofc_strbuf_append(sb, esc, esc_len);
    }
}

static void format_line(struct ofc_strbuf *sb, enum ofc_log_level level, const char *msg,
                        size_t msg_len)
{
    struct timespec ts;
    struct tm tm;
    char stamp[64];
    char zone[16];

    if (clock_gettime(CLOCK_REALTIME, &ts) < 0) {
        ts.tv_sec = time(NULL);
        ts.tv_nsec = 0;
    }
    if (localtime_r(&ts.tv_sec, &tm) == NULL)
        memset(&tm, 0, sizeof(tm));
    if (strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm) == 0)
        stamp[0] = '\0';
    if (strftime(zone, sizeof(zone), "%z", &tm) == 0)
        zone[0] = '\0';
    ofc_strbuf_printf(sb, "%s.%03ld %s [%ld] %-5s ", stamp, (long)(ts.tv_nsec / 1000000), zone,
                      (long)getpid(), level_labels[level]);
    append_escaped(sb, msg, msg_len);
    ofc_strbuf_putc(sb, '\n');
}

static void log_va(enum ofc_log_level level, const char *prefix, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void log_va(enum ofc_log_level level, const char *prefix, const char *fmt, va_list ap)
{
    struct ofc_strbuf msg = OFC_STRBUF_INIT;
    struct ofc_strbuf line = OFC_STRBUF_INIT;

    ofc_strbuf_puts(&msg, prefix);
    ofc_strbuf_vprintf(&msg, fmt, ap);
    format_line(&line, level, msg.data, msg.len);

    pthread_mutex_lock(&log_lock);
    bool file_ok = false;
    if (log_fd >= 0)
        file_ok = write_all(log_fd, line.data, line.len) == 0;
    /*
     * stderr gets the line in foreground mode, before a file is open, and
     * whenever the file refuses it (disk full, EIO): a lost line about a
     * failure is worse than a line in an unexpected place.
     */
    if (log_to_stderr || !file_ok)
        (void)write_all(STDERR_FILENO, line.data, line.len);
    pthread_mutex_unlock(&log_lock);

    ofc_strbuf_free(&msg);
    ofc_strbuf_free(&line);
}

void ofc_log(enum ofc_log_level level, const char *fmt, ...)
{
    /* Callers log errno-carrying failures and then look at errno again. */
    int saved_errno = errno;
    va_list ap;

    if (level > OFC_LOG_TRACE)
        level = OFC_LOG_TRACE;
    if ((int)level > atomic_load(&log_level))
        return;
    va_start(ap, fmt);
    log_va(level, "", fmt, ap);
    va_end(ap);
    errno = saved_errno;
}

void ofc_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_va(OFC_LOG_ERROR, "fatal: ", fmt, ap);
    va_end(ap);
    exit(1);
}

void ofc_panic(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_va(OFC_LOG_ERROR, "panic: ", fmt, ap);
    va_end(ap);
    abort();
}
