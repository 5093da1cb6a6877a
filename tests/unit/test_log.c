/*
 * test_log.c - log files and lines (common/ofc_log.c).
 *
 * Check runs every test in its own child process, so the logger's global
 * state starts fresh each time; the tests still close it for CK_FORK=no.
 */
/* System. */
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Libraries. */
#include <check.h>

/* libofc. */
#include "ofc_log.h"
#include "ofc_mem.h"

/* The header's format: date, time with milliseconds, UTC offset, pid, level padded to 5. */
#define LINE_RE                                                                                    \
    "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3} [+-][0-9]{4} "              \
    "\\[([0-9]+)\\] (ERROR|WARN |INFO |DEBUG|TRACE) (.*)$"

static char *tmpdir;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void setup(void)
{
    char template[] = "/tmp/ofc_test_log_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(template));
    tmpdir = ofc_xstrdup(template);
    umask(022);
    ofc_log_set_level(OFC_LOG_INFO);
}

static void teardown(void)
{
    ofc_log_close();
    (void)nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    OFC_FREE(tmpdir);
}

/* The whole file as a heap string ("" when it does not exist). */
static char *slurp(const char *path)
{
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    char buf[4096];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ofc_xstrdup("");
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        ofc_strbuf_append(&sb, buf, (size_t)n);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(close(fd), 0);
    return ofc_strbuf_detach(&sb);
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++)
        n += *s == '\n';
    return n;
}

/*
 * Checks one line (without its '\n') against LINE_RE, its pid against
 * pid (0: ours) and its level; returns the message part.
 */
static char *check_line_pid(const char *line, size_t len, const char *level, pid_t pid)
{
    regex_t re;
    regmatch_t m[4];
    char *copy = ofc_xstrndup(line, len);

    ck_assert_int_eq(regcomp(&re, LINE_RE, REG_EXTENDED), 0);
    ck_assert_msg(regexec(&re, copy, 4, m, 0) == 0, "line '%s' does not match", copy);
    regfree(&re);
    ck_assert_int_eq(atol(copy + m[1].rm_so), (long)(pid != 0 ? pid : getpid()));
    if (level != NULL)
        ck_assert_msg(strncmp(copy + m[2].rm_so, level, 5) == 0, "level of '%s'", copy);
    char *msg = ofc_xstrdup(copy + m[3].rm_so);
    free(copy);
    return msg;
}

static char *check_line(const char *line, size_t len, const char *level)
{
    return check_line_pid(line, len, level, 0);
}

static char *open_log(const char *subdir, const char *name, bool to_stderr)
{
    char *dir = ofc_xasprintf("%s/%s", tmpdir, subdir);
    char *error = NULL;
    int rc = ofc_log_open(dir, name, to_stderr, &error);
    ck_assert_msg(rc == 0, "ofc_log_open: %s", error ? error : "(null)");
    char *path = ofc_xasprintf("%s/%s", dir, name);
    free(dir);
    return path;
}

START_TEST(test_file_name)
{
    static const struct {
        const char *node, *base;
        int instance;
        const char *want;
    } rows[] = {
        {"ESNODE", "postman", 1, "ESNODE_postman01.log"},
        {"ESNODE", "imap4srv", 12, "ESNODE_imap4srv12.log"},
        {"ESNODE", "collector", 100, "ESNODE_collector100.log"},
        {"ESNODE", "mon", 0, "ESNODE_mon.log"},
        {"ESNODE", "guardian", -1, "ESNODE_guardian.log"},
        {NULL, "ofcuto", 0, "ofcuto.log"},
        {NULL, "ofcuto", 3, "ofcuto.log"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *s = ofc_log_file_name(rows[i].node, rows[i].base, rows[i].instance);
        ck_assert_str_eq(s, rows[i].want);
        free(s);
    }
}
END_TEST

START_TEST(test_level_names)
{
    static const struct {
        const char *name;
        int ok;
        enum ofc_log_level level;
    } rows[] = {
        {"error", 1, OFC_LOG_ERROR}, {"WARN", 1, OFC_LOG_WARN},   {"Info", 1, OFC_LOG_INFO},
        {"debug", 1, OFC_LOG_DEBUG}, {"tRaCe", 1, OFC_LOG_TRACE}, {"warning", 0, OFC_LOG_INFO},
        {"", 0, OFC_LOG_INFO},       {"info ", 0, OFC_LOG_INFO},
    };
    static const char *const names[] = {"error", "warn", "info", "debug", "trace"};
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        enum ofc_log_level level = OFC_LOG_INFO;
        int rc = ofc_log_level_parse(rows[i].name, &level);
        ck_assert_msg((rc == 0) == rows[i].ok, "parse '%s'", rows[i].name);
        if (rows[i].ok) {
            ck_assert_int_eq(level, rows[i].level);
            ck_assert_str_eq(ofc_log_level_name(level), names[level]);
        }
    }
    ofc_log_set_level(OFC_LOG_DEBUG);
    ck_assert_int_eq(ofc_log_get_level(), OFC_LOG_DEBUG);
}
END_TEST

/* Directories are created (0750), the file has the right name and mode (0640). */
START_TEST(test_open_creates_file)
{
    char *name = ofc_log_file_name("ESNODE", "postman", 1);
    char *path = open_log("log/ofcmail/deeper", name, false);
    struct stat st;

    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
    ck_assert_int_eq(st.st_mode & 0777, 0640);
    char *dir = ofc_xasprintf("%s/log/ofcmail/deeper", tmpdir);
    ck_assert_int_eq(stat(dir, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0750);

    ofc_info("delivered message %d to %s", 42, "user1");
    char *text = slurp(path);
    ck_assert_uint_eq(count_lines(text), 1);
    char *msg = check_line(text, strlen(text) - 1, "INFO ");
    ck_assert_str_eq(msg, "delivered message 42 to user1");

    free(msg);
    free(text);
    free(dir);
    free(path);
    free(name);
}
END_TEST

START_TEST(test_open_error)
{
    char *error = NULL;
    /* A directory cannot be created below a regular file. */
    char *file = ofc_xasprintf("%s/plain", tmpdir);
    int fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(close(fd), 0);
    char *dir = ofc_xasprintf("%s/sub", file);

    ck_assert_int_eq(ofc_log_open(dir, "x.log", false, &error), -1);
    ck_assert_ptr_nonnull(error);
    ck_assert_msg(strstr(error, file) != NULL, "'%s' does not name the path", error);
    free(error);
    free(dir);
    free(file);
}
END_TEST

START_TEST(test_level_filter)
{
    char *path = open_log("log", "filter.log", false);
    static const char *const want[] = {"ERROR", "WARN "};

    ofc_log_set_level(OFC_LOG_WARN);
    ofc_trace("trace line");
    ofc_debug("debug line");
    ofc_info("info line");
    ofc_warn("warn line");
    ofc_error("error line");
    ofc_log_set_level(OFC_LOG_ERROR);
    ofc_warn("second warn line");
    ofc_error("second error line");

    char *text = slurp(path);
    ck_assert_uint_eq(count_lines(text), 3);
    ck_assert_ptr_null(strstr(text, "info line"));
    ck_assert_ptr_null(strstr(text, "debug line"));
    ck_assert_ptr_null(strstr(text, "second warn"));
    char *line = text;
    for (size_t i = 0; i < 3; i++) {
        char *nl = strchr(line, '\n');
        char *msg = check_line(line, (size_t)(nl - line), i < 2 ? want[1 - i] : "ERROR");
        free(msg);
        line = nl + 1;
    }
    free(text);
    free(path);
}
END_TEST

/* CR, LF and other controls are escaped: one event can never forge a second line. */
START_TEST(test_escaping)
{
    char *path = open_log("log", "esc.log", false);

    ofc_warn("user %s failed", "evil\r\n2026-01-01 00:00:00.000 +0000 [1] INFO  forged\t\x01\x7f");
    ofc_info("utf-8 stays: J\xc3\xb6rg, backslash \\ too");
    char *text = slurp(path);
    ck_assert_uint_eq(count_lines(text), 2);
    char *nl = strchr(text, '\n');
    char *msg = check_line(text, (size_t)(nl - text), "WARN ");
    ck_assert_str_eq(msg, "user evil\\r\\n2026-01-01 00:00:00.000 +0000 [1] INFO  "
                          "forged\\x09\\x01\\x7f failed");
    free(msg);
    msg = check_line(nl + 1, strlen(nl + 1) - 1, "INFO ");
    ck_assert_str_eq(msg, "utf-8 stays: J\xc3\xb6rg, backslash \\ too");
    free(msg);
    free(text);
    free(path);
}
END_TEST

/* Lines over 16 KiB are cut and end in "...", without splitting a UTF-8 character. */
START_TEST(test_truncation)
{
    char *path = open_log("log", "long.log", false);
    size_t n = 20000;
    char *big = ofc_xmalloc(n + 1);
    memset(big, 'x', n);
    big[n] = '\0';
    ofc_info("%s", big);
    /* Two-byte characters, so that the cut falls on either byte. */
    for (size_t i = 0; i + 1 < n; i += 2) {
        big[i] = (char)0xc3;
        big[i + 1] = (char)0xa9;
    }
    ofc_info("%s", big);
    ofc_info("%.100s", big); /* short: untouched */

    char *text = slurp(path);
    ck_assert_uint_eq(count_lines(text), 3);
    char *line = text;
    for (int i = 0; i < 2; i++) {
        char *nl = strchr(line, '\n');
        size_t len = (size_t)(nl - line) + 1;
        ck_assert_uint_le(len, 16384);
        ck_assert_uint_ge(len, 16384 - 4);
        ck_assert(strncmp(nl - 3, "...", 3) == 0);
        /* The byte before "..." ends a character: it is 'x' or a continuation byte. */
        unsigned char last = (unsigned char)nl[-4];
        ck_assert(last == 'x' || (last & 0xc0) == 0x80);
        line = nl + 1;
    }
    ck_assert_uint_lt(strlen(line), 200);
    ck_assert_ptr_null(strstr(line, "..."));
    free(text);
    free(big);
    free(path);
}
END_TEST

/* logrotate moves the file away; after ofc_log_reopen lines go to a new file. */
START_TEST(test_reopen_after_rename)
{
    char *path = open_log("log", "rot.log", false);
    char *rotated = ofc_xasprintf("%s.1", path);

    ofc_info("before rotation");
    ck_assert_int_eq(rename(path, rotated), 0);
    ofc_info("after rename, before reopen");
    ofc_log_reopen();
    ofc_info("after reopen");

    char *old_text = slurp(rotated);
    char *new_text = slurp(path);
    ck_assert_uint_eq(count_lines(old_text), 2);
    ck_assert_ptr_nonnull(strstr(old_text, "before rotation"));
    ck_assert_ptr_nonnull(strstr(old_text, "before reopen"));
    ck_assert_uint_eq(count_lines(new_text), 1);
    ck_assert_ptr_nonnull(strstr(new_text, "after reopen"));
    free(old_text);
    free(new_text);
    free(rotated);
    free(path);
}
END_TEST

/* Runs fn with stderr redirected to a file and returns what was written there. */
static char *capture_stderr(void (*fn)(void))
{
    char *path = ofc_xasprintf("%s/stderr.txt", tmpdir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    int saved = dup(STDERR_FILENO);
    ck_assert_int_ge(saved, 0);
    ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    fn();
    ck_assert_int_eq(dup2(saved, STDERR_FILENO), STDERR_FILENO);
    ck_assert_int_eq(close(saved), 0);
    ck_assert_int_eq(close(fd), 0);
    char *text = slurp(path);
    free(path);
    return text;
}

static void log_without_file(void)
{
    char *error = NULL;
    ck_assert_int_eq(ofc_log_open(NULL, NULL, false, &error), 0);
    ofc_info("to stderr");
}

static char *stderr_log_path;

static void log_file_and_stderr(void)
{
    stderr_log_path = open_log("log", "both.log", true);
    ofc_info("to both");
}

static void log_to_full_disk(void)
{
    char *error = NULL;
    /* /dev/full accepts the open and fails every write with ENOSPC. */
    ck_assert_int_eq(ofc_log_open("/dev", "full", false, &error), 0);
    ofc_error("disk is full");
}

START_TEST(test_stderr)
{
    char *text = capture_stderr(log_without_file);
    ck_assert_uint_eq(count_lines(text), 1);
    char *msg = check_line(text, strlen(text) - 1, "INFO ");
    ck_assert_str_eq(msg, "to stderr");
    free(msg);
    free(text);

    text = capture_stderr(log_file_and_stderr);
    char *file_text = slurp(stderr_log_path);
    ck_assert_ptr_nonnull(strstr(text, "to both"));
    ck_assert_ptr_nonnull(strstr(file_text, "to both"));
    free(file_text);
    free(text);
    OFC_FREE(stderr_log_path);
}
END_TEST

START_TEST(test_fallback_to_stderr)
{
    if (access("/dev/full", W_OK) != 0)
        return;
    char *text = capture_stderr(log_to_full_disk);
    ck_assert_ptr_nonnull(strstr(text, "disk is full"));
    free(text);
}
END_TEST

#define THREADS          8
#define LINES_PER_THREAD 500

static void *log_many(void *arg)
{
    long id = (long)arg;
    for (int i = 0; i < LINES_PER_THREAD; i++) {
        ofc_info("thread %ld line %d %s", id, i, "padding padding padding padding padding");
        if (id == 0 && i % 100 == 0)
            ofc_log_reopen();
    }
    return NULL;
}

/* Lines of concurrent threads (and a reopen among them) never interleave. */
START_TEST(test_threads)
{
    char *path = open_log("log", "threads.log", false);
    pthread_t threads[THREADS];

    for (long i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&threads[i], NULL, log_many, (void *)i), 0);
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_join(threads[i], NULL), 0);

    char *text = slurp(path);
    ck_assert_uint_eq(count_lines(text), THREADS * LINES_PER_THREAD);
    for (char *line = text; *line != '\0';) {
        char *nl = strchr(line, '\n');
        char *msg = check_line(line, (size_t)(nl - line), "INFO ");
        ck_assert(strncmp(msg, "thread ", 7) == 0);
        free(msg);
        line = nl + 1;
    }
    free(text);
    free(path);
}
END_TEST

/* Runs fn in a child process and waits for it. */
static pid_t run_and_wait(void (*fn)(void), int *status)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* No core file from the abort() in the child. */
        signal(SIGABRT, SIG_DFL);
        fn();
        _exit(99);
    }
    ck_assert_int_eq(waitpid(pid, status, 0), pid);
    return pid;
}

static void do_fatal(void)
{
    char *error = NULL;
    char *dir = ofc_xasprintf("%s/log", tmpdir);
    int rc = ofc_log_open(dir, "f.log", false, &error);
    free(dir);
    if (rc < 0)
        _exit(98);
    ofc_fatal("fatal %s", "message");
}

static void do_panic(void)
{
    char *error = NULL;
    char *dir = ofc_xasprintf("%s/log", tmpdir);
    int rc = ofc_log_open(dir, "p.log", false, &error);
    free(dir);
    if (rc < 0)
        _exit(98);
    ofc_panic("panic %s", "message");
}

/* ofc_fatal exits 1 and ofc_panic aborts, each after leaving its line in the file. */
START_TEST(test_fatal_panic_lines)
{
    int status;
    pid_t pid = run_and_wait(do_fatal, &status);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    char *path = ofc_xasprintf("%s/log/f.log", tmpdir);
    char *text = slurp(path);
    char *msg = check_line_pid(text, strlen(text) - 1, "ERROR", pid);
    ck_assert_str_eq(msg, "fatal: fatal message");
    free(msg);
    free(text);
    free(path);

    pid = run_and_wait(do_panic, &status);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    path = ofc_xasprintf("%s/log/p.log", tmpdir);
    text = slurp(path);
    msg = check_line_pid(text, strlen(text) - 1, "ERROR", pid);
    ck_assert_str_eq(msg, "panic: panic message");
    free(msg);
    free(text);
    free(path);
}
END_TEST

static Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("log");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_file_name);
    tcase_add_test(tc, test_level_names);
    tcase_add_test(tc, test_open_creates_file);
    tcase_add_test(tc, test_open_error);
    tcase_add_test(tc, test_level_filter);
    tcase_add_test(tc, test_escaping);
    tcase_add_test(tc, test_truncation);
    tcase_add_test(tc, test_reopen_after_rename);
    tcase_add_test(tc, test_stderr);
    tcase_add_test(tc, test_fallback_to_stderr);
    tcase_add_test(tc, test_threads);
    tcase_add_test(tc, test_fatal_panic_lines);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(log_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
