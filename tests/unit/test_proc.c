/*
 * test_proc.c - the process lifecycle against a real PostgreSQL.
 *
 * The unchecked fixture builds a database with the process registry
 * (schema/001_core.sql and 002_process.sql), a local node ESNODE and a
 * registered POSTMAN instance 1, and writes a configuration file whose
 * log_dir is a temporary directory. Each test forks a child that runs
 * ofc_proc_main() with a small test program; the child reports what it sees
 * through files in the temporary directory, and the test watches those,
 * the log file and process_status.
 */
/* System. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Libraries. */
#include <check.h>

/* libofc. */
#include "ofc_db.h"
#include "ofc_mem.h"
#include "ofc_proc.h"

#define TEST_DB  "ofc_unit_proc"
#define TEST_SID "TESTSID"

static char *db_conninfo;
static char *tmp_dir;
static char *conf_path;
static char *log_path; /* <tmp>/log/<SID>/ESNODE_postman01.log */
static long long process_id;

/* ---- helpers -------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *read_file(const char *path)
{
    FILE *fp = fopen(path, "re");
    if (fp == NULL)
        return NULL;
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
        ofc_strbuf_append(&sb, buf, n);
    (void)fclose(fp);
    return ofc_strbuf_detach(&sb);
}

/* Replaces a file atomically, so the reader never sees half of it. */
static void write_file(const char *name, const char *text)
{
    char *path = ofc_xasprintf("%s/%s", tmp_dir, name);
    char *tmp = ofc_xasprintf("%s.tmp", path);
    FILE *fp = fopen(tmp, "we");
    if (fp != NULL) {
        (void)fputs(text, fp);
        (void)fclose(fp);
        (void)rename(tmp, path);
    }
    free(tmp);
    free(path);
}

static char *read_tmp(const char *name)
{
    char *path = ofc_xasprintf("%s/%s", tmp_dir, name);
    char *text = read_file(path);
    free(path);
    return text;
}

static char *trim(char *s)
{
    size_t len = strlen(s);
    while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' '))
        s[--len] = '\0';
    return s;
}

static struct ofc_db *test_connect(void)
{
    struct ofc_db *db = ofc_db_new(db_conninfo, "test_proc");
    char *error = NULL;
    int rc = ofc_db_connect(db, &error);
    ck_assert_msg(rc == 0, "connect: %s", error != NULL ? error : "?");
    return db;
}

static void exec_ok(struct ofc_db *db, const char *sql, int n, const char *const *p)
{
    int rc = ofc_db_exec(db, sql, n, p);
    ck_assert_msg(rc == 0, "%s: %s", sql, ofc_db_error(db));
}

/* The first column of the first row as a heap string ("NULL" for SQL NULL). */
static char *query_text(struct ofc_db *db, const char *sql)
{
    char id[24];
    snprintf(id, sizeof(id), "%lld", process_id);
    const char *p[] = {id};
    PGresult *res = ofc_db_query(db, sql, 1, p);
    ck_assert_msg(res != NULL, "%s: %s", sql, ofc_db_error(db));
    const char *v = ofc_db_value(res, 0, 0);
    char *s = ofc_xstrdup(v != NULL ? v : "NULL");
    PQclear(res);
    return s;
}

static bool file_has(const char *path, const char *needle)
{
    char *text = read_file(path);
    bool found = text != NULL && strstr(text, needle) != NULL;
    free(text);
    return found;
}

static bool tmp_equals(const char *name, const char *want)
{
    char *text = read_tmp(name);
    bool eq = text != NULL && strcmp(text, want) == 0;
    free(text);
    return eq;
}

#define WAIT_FOR(cond, ms, what)                                                                   \
    do {                                                                                           \
        int64_t deadline_ = now_ms() + (ms);                                                       \
        while (!(cond)) {                                                                          \
            ck_assert_msg(now_ms() < deadline_, "timed out waiting for %s", what);                 \
            usleep(20000);                                                                         \
        }                                                                                          \
    } while (0)

/* ---- the test program ----------------------------------------------- */

static int work_calls;
static int64_t first_work_ms;

static int t_arg(struct ofc_proc *proc, const char *key, const char *value)
{
    (void)proc;
    return strcmp(key, "class") == 0 && strcmp(value, "5") == 0 ? 0 : -1;
}

static int t_init(struct ofc_proc *proc)
{
    char *s = ofc_xasprintf("%lld %d %s", ofc_proc_id(proc), ofc_proc_instance(proc),
                            ofc_proc_param(proc, "BatchSize", "?"));
    write_file("init.out", s);
    free(s);
    return 0;
}

static int t_work(struct ofc_proc *proc)
{
    char *s = ofc_xasprintf("%d", ++work_calls);
    write_file("work.out", s);
    free(s);
    /* The first call asks for another round at once, through the wake pipe. */
    if (work_calls == 1) {
        first_work_ms = now_ms();
        ofc_proc_wake(proc);
    } else if (work_calls == 2) {
        s = ofc_xasprintf("%lld", (long long)(now_ms() - first_work_ms));
        write_file("wake.out", s);
        free(s);
    }
    return 0;
}

static void t_notify(struct ofc_proc *proc, const char *channel, const char *payload)
{
    (void)proc;
    char *s = ofc_xasprintf("%s:%s", channel, payload);
    write_file("notify.out", s);
    free(s);
}

static void t_refresh(struct ofc_proc *proc)
{
    char *s = ofc_xasprintf("%s %lld %d", ofc_proc_param(proc, "BatchSize", "?"),
                            ofc_proc_param_int(proc, "BatchSize", -1),
                            ofc_proc_param_bool(proc, "RemoteFlag", false));
    write_file("refresh.out", s);
    free(s);
}

static void t_cleanup(struct ofc_proc *proc)
{
    (void)proc;
    write_file("cleanup.out", "done");
}

static const char *const t_channels[] = {"ofc_test_queue", NULL};

static const struct ofc_proc_def test_def = {
    .program = "ofcomd",
    .type = "POSTMAN",
    .log_base = "postman",
    .log_numbered = true,
    .summary = "test postman",
    .channels = t_channels,
    .arg = t_arg,
    .init = t_init,
    .work = t_work,
    .notify = t_notify,
    .refresh = t_refresh,
    .cleanup = t_cleanup,
};

/* Forks a child running ofc_proc_main(argv); returns its pid. */
static pid_t spawn(const char *const *args)
{
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int argc = 0;
        while (args[argc] != NULL)
            argc++;
        char **argv = ofc_xcalloc((size_t)argc + 1, sizeof(*argv));
        for (int i = 0; i < argc; i++)
            argv[i] = ofc_xstrdup(args[i]);
        int rc = ofc_proc_main(&test_def, argc, argv);
        for (int i = 0; i < argc; i++)
            free(argv[i]);
        free(argv);
        /* exit, not _exit: LeakSanitizer runs at exit and fails the status. */
        exit(rc);
    }
    return pid;
}

/* Waits for the child; returns its exit status, or -1 (killed, or too slow). */
static int wait_exit(pid_t pid, int ms)
{
    int64_t deadline = now_ms() + ms;
    for (;;) {
        int status = 0;
        pid_t r = waitpid(pid, &status, WNOHANG);
        ck_assert_int_ge(r, 0);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        if (now_ms() >= deadline) {
            (void)kill(pid, SIGKILL);
            (void)waitpid(pid, &status, 0);
            return -1;
        }
        usleep(10000);
    }
}

static int run_to_end(const char *const *args)
{
    return wait_exit(spawn(args), 20000);
}

/* ---- fixture -------------------------------------------------------- */

static void exec_file(struct ofc_db *db, const char *src, const char *name)
{
    char *path = ofc_xasprintf("%s/schema/%s", src, name);
    char *sql = read_file(path);
    ck_assert_msg(sql != NULL, "cannot read %s", path);
    int rc = ofc_db_exec_script(db, sql);
    ck_assert_msg(rc == 0, "%s: %s", path, ofc_db_error(db));
    free(sql);
    free(path);
}

static void setup(void)
{
    const char *info = getenv("OFC_TEST_PGINFO");
    const char *src = getenv("OFC_SOURCE_DIR");
    ck_assert_msg(info != NULL && src != NULL, "run through ctest");
    char *base = read_file(info);
    ck_assert_msg(base != NULL, "cannot read %s", info);
    trim(base);
    db_conninfo = ofc_xasprintf("%s dbname=%s", base, TEST_DB);

    struct ofc_db *db = ofc_db_new(base, "test_proc setup");
    char *error = NULL;
    ck_assert_msg(ofc_db_connect(db, &error) == 0, "connect: %s", error);
    exec_ok(db, "DROP DATABASE IF EXISTS " TEST_DB " WITH (FORCE)", 0, NULL);
    exec_ok(db, "CREATE DATABASE " TEST_DB, 0, NULL);
    ofc_db_free(&db);
    free(base);

    db = test_connect();
    exec_ok(db, "CREATE SCHEMA ofc", 0, NULL);
    exec_file(db, src, "001_core.sql");
    exec_file(db, src, "002_process.sql");
    exec_ok(db, "INSERT INTO node (name, is_local) VALUES ('ESNODE', true)", 0, NULL);
    PGresult *res = ofc_db_query(db,
                                 "INSERT INTO process (node_id, type, instance)"
                                 " SELECT id, 'POSTMAN', 1 FROM node WHERE is_local"
                                 " RETURNING id",
                                 0, NULL);
    ck_assert_msg(res != NULL, "insert process: %s", ofc_db_error(db));
    process_id = ofc_db_value_ll(res, 0, 0, 0);
    PQclear(res);
    /* Wake up every second so the test sees heartbeats and work quickly. */
    char id[24];
    snprintf(id, sizeof(id), "%lld", process_id);
    const char *p[] = {id};
    exec_ok(db,
            "INSERT INTO process_parameter (process_id, type, name, value) VALUES"
            " ($1::int, 'POSTMAN', 'PollInterval', '1'),"
            " ($1::int, 'POSTMAN', 'HeartbeatInterval', '1')",
            1, p);
    ofc_db_free(&db);

    char templ[] = "/tmp/ofc_test_proc.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(templ));
    tmp_dir = ofc_xstrdup(templ);
    conf_path = ofc_xasprintf("%s/ofcmail.conf", tmp_dir);
    char *conf = ofc_xasprintf("home = \"%s\"\n"
                               "node = \"esnode\"\n"
                               "sid = \"%s\"\n"
                               "log_dir = \"log\"\n"
                               "var_dir = \"var\"\n"
                               "log_level = \"debug\"\n",
                               tmp_dir, TEST_SID);
    write_file("ofcmail.conf", conf);
    free(conf);
    log_path = ofc_xasprintf("%s/log/%s/ESNODE_postman01.log", tmp_dir, TEST_SID);
}

static void teardown(void)
{
    if (tmp_dir != NULL && getenv("OFC_TEST_KEEP") != NULL) {
        /* For debugging: keep the logs and the child's files. */
        fprintf(stderr, "keeping %s\n", tmp_dir);
    } else if (tmp_dir != NULL) {
        char *cmd = ofc_xasprintf("rm -rf '%s'", tmp_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", tmp_dir);
        free(cmd);
    }
    OFC_FREE(tmp_dir);
    OFC_FREE(conf_path);
    OFC_FREE(log_path);
    OFC_FREE(db_conninfo);
}

/* ---- tests ---------------------------------------------------------- */

START_TEST(test_help_version)
{
    const char *help[] = {"ofcomd", "--help", NULL};
    ck_assert_int_eq(run_to_end(help), 0);
    const char *version[] = {"ofcomd", "--version", NULL};
    ck_assert_int_eq(run_to_end(version), 0);
}
END_TEST

START_TEST(test_bad_arguments)
{
    const char *cases[][3] = {
        {"ofcomd", "--bogus", NULL},    {"ofcomd", "bogus=1", NULL},    {"ofcomd", "class=6", NULL},
        {"ofcomd", "instance=0", NULL}, {"ofcomd", "instance=x", NULL}, {"ofcomd", "-c", NULL},
        {"ofcomd", "plainword", NULL},  {"ofcomd", "=x", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ck_assert_msg(run_to_end(cases[i]) == 2, "'%s' should be a usage error", cases[i][1]);
}
END_TEST

START_TEST(test_unregistered_instance)
{
    char *connect = ofc_xasprintf("connect=%s", db_conninfo);
    const char *args[] = {"ofcomd", "-c", conf_path, connect, "instance=2", "class=5", NULL};
    ck_assert_int_eq(run_to_end(args), 1);
    char *log2 = ofc_xasprintf("%s/log/%s/ESNODE_postman02.log", tmp_dir, TEST_SID);
    ck_assert(file_has(log2, "process POSTMAN instance 2 is not registered on node ESNODE"));
    /* The conninfo holds the superuser's password: it must never reach the log. */
    ck_assert(!file_has(log2, "password"));
    free(log2);
    free(connect);
}
END_TEST

START_TEST(test_missing_config)
{
    char *missing = ofc_xasprintf("%s/nonexistent.conf", tmp_dir);
    const char *args[] = {"ofcomd", "-c", missing, NULL};
    ck_assert_int_eq(run_to_end(args), 1);
    free(missing);
}
END_TEST

START_TEST(test_lifecycle)
{
    struct ofc_db *db = test_connect();
    char id[24];
    snprintf(id, sizeof(id), "%lld", process_id);
    const char *idp[] = {id};
    char *connect = ofc_xasprintf("connect=%s", db_conninfo);
    const char *args[] = {"ofcomd", "-c", conf_path, connect, NULL};
    pid_t child = spawn(args);
    char *want_pid = ofc_xasprintf("%ld", (long)child);

    /* Registered: RUNNING with our pid and a live backend of its own. */
    char *v = NULL;
    WAIT_FOR((free(v),
              v = query_text(db, "SELECT pid FROM process_status"
                                 " WHERE process_id = $1::int AND state = 'RUNNING'"),
              strcmp(v, want_pid) == 0),
             10000, "process_status RUNNING");
    OFC_FREE(v);
    v = query_text(db, "SELECT a.application_name || ' ' || (s.host IS NOT NULL)::text"
                       "  || ' ' || (s.started_at IS NOT NULL)::text"
                       " FROM process_status s JOIN pg_stat_activity a ON a.pid = s.backend_pid"
                       " WHERE s.process_id = $1::int");
    ck_assert_str_eq(v, "ofcomd/1 true true");
    OFC_FREE(v);

    /* init saw its id, instance and parameters; work ran twice (wake). */
    char *want_init = ofc_xasprintf("%lld 1 50", process_id);
    WAIT_FOR(tmp_equals("init.out", want_init), 5000, "init.out");
    free(want_init);
    WAIT_FOR((free(v), v = read_tmp("wake.out")) != NULL, 5000, "a second work() call");
    /* Woken at once, not after PollInterval (1 s). */
    ck_assert_int_lt(atoi(v), 500);
    OFC_FREE(v);

    /* The log file is where the Installation Guide puts it, and says things. */
    WAIT_FOR(file_has(log_path, "running as process"), 5000, "the log file");
    ck_assert(!file_has(log_path, "password"));

    /* Heartbeat: last_wakeup moves on (HeartbeatInterval = 1). */
    char *first =
        query_text(db, "SELECT last_wakeup FROM process_status WHERE process_id = $1::int");
    WAIT_FOR((free(v),
              v = query_text(db, "SELECT last_wakeup FROM process_status"
                                 " WHERE process_id = $1::int"),
              strcmp(v, first) != 0),
             5000, "a heartbeat");
    OFC_FREE(v);
    free(first);

    /* Refresh by process id after an override. */
    exec_ok(db,
            "INSERT INTO process_parameter (process_id, type, name, value)"
            " VALUES ($1::int, 'POSTMAN', 'BatchSize', '77')",
            1, idp);
    exec_ok(db, "SELECT ofc_refresh($1)", 1, idp);
    WAIT_FOR(tmp_equals("refresh.out", "77 77 1"), 5000, "refresh by id");

    /* A refresh for another process changes nothing; one by type name does. */
    exec_ok(db,
            "UPDATE process_parameter SET value = '78'"
            " WHERE process_id = $1::int AND name = 'BatchSize'",
            1, idp);
    exec_ok(db,
            "INSERT INTO process_parameter (process_id, type, name, value)"
            " VALUES ($1::int, 'POSTMAN', 'RemoteFlag', 'off')",
            1, idp);
    exec_ok(db, "SELECT ofc_refresh('99999')", 0, NULL);
    exec_ok(db, "SELECT ofc_refresh('COLLECTOR')", 0, NULL);
    usleep(300000);
    ck_assert(tmp_equals("refresh.out", "77 77 1"));
    exec_ok(db, "SELECT ofc_refresh('postman')", 0, NULL);
    WAIT_FOR(tmp_equals("refresh.out", "78 78 0"), 5000, "refresh by type");

    /* LogLevel follows the parameter, and '*' refreshes everyone. */
    ck_assert(file_has(log_path, "log level info (was debug)"));
    exec_ok(db,
            "INSERT INTO process_parameter (process_id, type, name, value)"
            " VALUES ($1::int, 'POSTMAN', 'LogLevel', 'warn')",
            1, idp);
    exec_ok(db, "SELECT ofc_refresh('*')", 0, NULL);
    WAIT_FOR(file_has(log_path, "log level warn (was info)"), 5000, "LogLevel warn");

    /* Other channels go to def->notify. */
    exec_ok(db, "SELECT pg_notify('ofc_test_queue', 'job 1')", 0, NULL);
    WAIT_FOR(tmp_equals("notify.out", "ofc_test_queue:job 1"), 5000, "notify()");

    /* SIGHUP after logrotate moved the file: a new file appears. */
    exec_ok(db,
            "UPDATE process_parameter SET value = 'debug'"
            " WHERE process_id = $1::int AND name = 'LogLevel'",
            1, idp);
    exec_ok(db, "SELECT ofc_refresh($1)", 1, idp);
    WAIT_FOR(file_has(log_path, "log level debug (was warn)"), 5000, "LogLevel debug");
    char *rotated = ofc_xasprintf("%s.1", log_path);
    ck_assert_int_eq(rename(log_path, rotated), 0);
    ck_assert_int_eq(kill(child, SIGHUP), 0);
    WAIT_FOR(file_has(log_path, "log file reopened"), 5000, "a new log file");
    free(rotated);

    /* The database session dies: the process reconnects and registers again. */
    char *old_backend =
        query_text(db, "SELECT backend_pid FROM process_status WHERE process_id = $1::int");
    const char *kp[] = {old_backend};
    exec_ok(db, "SELECT pg_terminate_backend($1::int, 5000)", 1, kp);
    WAIT_FOR((free(v),
              v = query_text(db, "SELECT backend_pid FROM process_status"
                                 " WHERE process_id = $1::int"),
              strcmp(v, old_backend) != 0 && strcmp(v, "NULL") != 0),
             10000, "a new backend_pid");
    OFC_FREE(v);
    free(old_backend);
    ck_assert_int_eq(waitpid(child, NULL, WNOHANG), 0); /* still alive */
    /* And still listens. */
    exec_ok(db, "SELECT pg_notify('ofc_test_queue', 'job 2')", 0, NULL);
    WAIT_FOR(tmp_equals("notify.out", "ofc_test_queue:job 2"), 5000, "notify() after reconnect");

    /* SIGTERM: clean exit, STOPPED, cleanup ran. */
    ck_assert_int_eq(kill(child, SIGTERM), 0);
    ck_assert_int_eq(wait_exit(child, 5000), 0);
    v = query_text(db, "SELECT state || ' ' || coalesce(pid::text, 'NULL') || ' '"
                       " || coalesce(backend_pid::text, 'NULL') || ' ' || restarts"
                       " FROM process_status WHERE process_id = $1::int");
    ck_assert_str_eq(v, "STOPPED NULL NULL 0");
    OFC_FREE(v);
    ck_assert(tmp_equals("cleanup.out", "done"));
    ck_assert(file_has(log_path, "stopped"));

    exec_ok(db,
            "DELETE FROM process_parameter WHERE process_id = $1::int AND name <> ALL"
            " (ARRAY['PollInterval', 'HeartbeatInterval'])",
            1, idp);
    free(want_pid);
    free(connect);
    ofc_db_free(&db);
}
END_TEST

START_TEST(test_restarts_untouched)
{
    /* The Guardian owns `restarts`; a start must not reset it. */
    struct ofc_db *db = test_connect();
    char id[24];
    snprintf(id, sizeof(id), "%lld", process_id);
    const char *idp[] = {id};
    exec_ok(
        db,
        "INSERT INTO process_status (process_id, state, restarts) VALUES ($1::int, 'STARTING', 3)"
        " ON CONFLICT (process_id) DO UPDATE SET restarts = 3",
        1, idp);
    char *connect = ofc_xasprintf("connect=%s", db_conninfo);
    const char *args[] = {"ofcomd", "-c", conf_path, connect, "-f", NULL};
    pid_t child = spawn(args);
    char *v = NULL;
    WAIT_FOR((free(v),
              v = query_text(db, "SELECT state || ' ' || restarts FROM process_status"
                                 " WHERE process_id = $1::int"),
              strcmp(v, "RUNNING 3") == 0),
             10000, "RUNNING with restarts kept");
    OFC_FREE(v);
    /* SIGINT stops like SIGTERM. */
    ck_assert_int_eq(kill(child, SIGINT), 0);
    ck_assert_int_eq(wait_exit(child, 5000), 0);
    exec_ok(db, "UPDATE process_status SET restarts = 0 WHERE process_id = $1::int", 1, idp);
    free(connect);
    ofc_db_free(&db);
}
END_TEST

START_TEST(test_stop_while_database_unreachable)
{
    /* No server on this socket directory: the process waits, and SIGTERM ends it. */
    char *connect = ofc_xasprintf("connect=host=%s/nowhere port=5432 dbname=x user=x", tmp_dir);
    const char *args[] = {"ofcomd", "-c", conf_path, connect, NULL};
    pid_t child = spawn(args);
    WAIT_FOR(file_has(log_path, "cannot connect to the database"), 5000, "the warning");
    int64_t t0 = now_ms();
    ck_assert_int_eq(kill(child, SIGTERM), 0);
    ck_assert_int_eq(wait_exit(child, 5000), 0);
    ck_assert_int_lt(now_ms() - t0, 2000);
    free(connect);
}
END_TEST

static Suite *proc_suite(void)
{
    Suite *s = suite_create("proc");
    TCase *tc = tcase_create("proc");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_help_version);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_missing_config);
    tcase_add_test(tc, test_unregistered_instance);
    tcase_add_test(tc, test_lifecycle);
    tcase_add_test(tc, test_restarts_untouched);
    tcase_add_test(tc, test_stop_while_database_unreachable);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(proc_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
