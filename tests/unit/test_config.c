/*
 * test_config.c - etc/ofcmail.conf loading (common/ofc_config.c).
 *
 * Every test runs in a fresh temporary directory that stands for <home>;
 * $OFC_HOME and $OFC_CONFIG are set or cleared explicitly by each test so
 * that the developer's environment cannot change the outcome.
 */
/* System. */
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Libraries. */
#include <check.h>

/* libofc. */
#include "ofc_config.h"
#include "ofc_mem.h"

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
    char template[] = "/tmp/ofc_test_config_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(template));
    tmpdir = ofc_xstrdup(template);
    ck_assert_int_eq(setenv("OFC_HOME", tmpdir, 1), 0);
    ck_assert_int_eq(unsetenv("OFC_CONFIG"), 0);
}

static void teardown(void)
{
    (void)nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    OFC_FREE(tmpdir);
}

/* Writes content to <tmpdir>/<rel>, creating one level of directory. Heap path. */
static char *write_file(const char *rel, const char *content)
{
    char *path = ofc_xasprintf("%s/%s", tmpdir, rel);
    char *dir = ofc_xstrdup(path);
    (void)mkdir(dirname(dir), 0755);
    free(dir);
    FILE *fp = fopen(path, "w");
    ck_assert_ptr_nonnull(fp);
    ck_assert_int_ge(fputs(content, fp), 0);
    ck_assert_int_eq(fclose(fp), 0);
    return path;
}

/* Loads `path` and fails the test with the message if that does not work. */
static struct ofc_config *load_ok(const char *path)
{
    struct ofc_config *cfg = NULL;
    char *error = NULL;
    int rc = ofc_config_load(path, &cfg, &error);
    ck_assert_msg(rc == 0, "load failed: %s", error ? error : "(null)");
    ck_assert_ptr_nonnull(cfg);
    return cfg;
}

static char *load_error(const char *path)
{
    struct ofc_config *cfg = NULL;
    char *error = NULL;
    ck_assert_int_eq(ofc_config_load(path, &cfg, &error), -1);
    ck_assert_ptr_null(cfg);
    ck_assert_ptr_nonnull(error);
    return error;
}

static void assert_str_under(const char *value, const char *rel)
{
    char *want = ofc_xasprintf("%s/%s", tmpdir, rel);
    ck_assert_str_eq(value, want);
    free(want);
}

START_TEST(test_defaults)
{
    struct ofc_config *cfg = load_ok(NULL);

    ck_assert_ptr_null(cfg->path);
    ck_assert_str_eq(cfg->home, tmpdir);
    ck_assert_str_eq(cfg->node, "ESNODE");
    ck_assert_str_eq(cfg->sid, "ofcmail");
    ck_assert_str_eq(cfg->connect, "");
    assert_str_under(cfg->bin_dir, "bin");
    assert_str_under(cfg->log_dir, "log");
    assert_str_under(cfg->var_dir, "var");
    ck_assert_str_eq(cfg->user, "ofcmail");
    ck_assert_str_eq(cfg->pg_bindir, "");
    ck_assert_str_eq(cfg->log_level, "info");
    ck_assert_str_eq(cfg->time_zone, "UTC");
    ck_assert_int_eq(cfg->pop3_port, 1110);
    ck_assert_int_eq(cfg->pop3s_port, 1995);
    ck_assert_int_eq(cfg->imap_port, 1143);
    ck_assert_int_eq(cfg->imaps_port, 1993);
    ck_assert_int_eq(cfg->lmtp_port, 1024);
    ck_assert_int_eq(cfg->smtp_port, 1025);
    ck_assert_str_eq(cfg->tls_certificate, "");
    ck_assert_str_eq(cfg->tls_key, "");
    ck_assert_str_eq(cfg->tls_ca, "");
    ck_assert(ofc_config_is_embedded(cfg));
    ofc_config_free(&cfg);
    ck_assert_ptr_null(cfg);
}
END_TEST

/* Without $OFC_HOME, <home> is two levels above the executable (<home>/bin/prog). */
START_TEST(test_home_from_executable)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    ck_assert_int_gt(n, 0);
    exe[n] = '\0';
    char *want = ofc_xstrdup(dirname(dirname(exe)));

    ck_assert_int_eq(unsetenv("OFC_HOME"), 0);
    struct ofc_config *cfg = load_ok(NULL);
    ck_assert_str_eq(cfg->home, want);
    char *bin = ofc_xasprintf("%s/bin", want);
    ck_assert_str_eq(cfg->bin_dir, bin);
    free(bin);
    free(want);
    ofc_config_free(&cfg);
}
END_TEST

/* A relative $OFC_HOME is made absolute: the daemons chdir elsewhere. */
START_TEST(test_relative_ofc_home)
{
    ck_assert_int_eq(chdir(tmpdir), 0);
    ck_assert_int_eq(setenv("OFC_HOME", "inst/", 1), 0);
    struct ofc_config *cfg = load_ok(NULL);
    assert_str_under(cfg->home, "inst");
    assert_str_under(cfg->log_dir, "inst/log");
    ofc_config_free(&cfg);
}
END_TEST

/* Without a path, <home>/etc/ofcmail.conf is read when it exists. */
START_TEST(test_default_file_in_home)
{
    char *path = write_file("etc/ofcmail.conf", "node = \"node_1\"\n");
    struct ofc_config *cfg = load_ok(NULL);
    ck_assert_str_eq(cfg->path, path);
    ck_assert_str_eq(cfg->node, "NODE_1");
    ofc_config_free(&cfg);
    free(path);
}
END_TEST

/* $OFC_CONFIG wins over <home>/etc/ofcmail.conf; an explicit path wins over both. */
START_TEST(test_config_env_and_explicit)
{
    char *home_file = write_file("etc/ofcmail.conf", "sid = \"home\"\n");
    char *env_file = write_file("env.conf", "sid = \"env\"\n");
    char *arg_file = write_file("arg.conf", "sid = \"arg\"\n");

    ck_assert_int_eq(setenv("OFC_CONFIG", env_file, 1), 0);
    struct ofc_config *cfg = load_ok(NULL);
    ck_assert_str_eq(cfg->path, env_file);
    ck_assert_str_eq(cfg->sid, "env");
    ofc_config_free(&cfg);

    cfg = load_ok(arg_file);
    ck_assert_str_eq(cfg->path, arg_file);
    ck_assert_str_eq(cfg->sid, "arg");
    ofc_config_free(&cfg);

    free(home_file);
    free(env_file);
    free(arg_file);
}
END_TEST

/* A file that was asked for by name must exist; the message names it. */
START_TEST(test_missing_explicit_file)
{
    char *path = ofc_xasprintf("%s/nonexistent.conf", tmpdir);
    char *error = load_error(path);
    ck_assert_msg(strstr(error, path) != NULL, "'%s' does not name the file", error);
    ck_assert_msg(strstr(error, "No such file") != NULL, "'%s' does not say why", error);
    free(error);

    ck_assert_int_eq(setenv("OFC_CONFIG", path, 1), 0);
    error = load_error(NULL);
    ck_assert_msg(strstr(error, path) != NULL, "'%s' does not name the file", error);
    free(error);
    free(path);
}
END_TEST

START_TEST(test_all_keys)
{
    char *path = write_file("full.conf", "# every key\n"
                                         "node = \"mailhub\"\n"
                                         "sid = \"prod_1\"\n"
                                         "connect = \"host=db.example port=5433 dbname=mail\"\n"
                                         "bin_dir = \"/usr/lib/ofcmail\"\n"
                                         "log_dir = \"logs\"\n"
                                         "var_dir = /srv/ofcmail\n"
                                         "user = \"mailer\"\n"
                                         "pg_bindir = \"/usr/lib/postgresql/15/bin\"\n"
                                         "log_level = \"DEBUG\"\n"
                                         "time_zone = \"Europe/Paris\"\n"
                                         "ports {\n"
                                         "    pop3 = 110\n"
                                         "    pop3s = 995\n"
                                         "    imap = 143\n"
                                         "    imaps = 993\n"
                                         "    lmtp = 24\n"
                                         "    smtp = 25\n"
                                         "}\n"
                                         "tls {\n"
                                         "    certificate = \"etc/tls/server.pem\"\n"
                                         "    key = \"/etc/ssl/private/server.key\"\n"
                                         "    ca = \"etc/tls/ca.pem\"\n"
                                         "}\n");
    struct ofc_config *cfg = load_ok(path);

    ck_assert_str_eq(cfg->node, "MAILHUB");
    ck_assert_str_eq(cfg->sid, "prod_1");
    ck_assert_str_eq(cfg->connect, "host=db.example port=5433 dbname=mail");
    ck_assert_str_eq(cfg->bin_dir, "/usr/lib/ofcmail");
    assert_str_under(cfg->log_dir, "logs");
    ck_assert_str_eq(cfg->var_dir, "/srv/ofcmail");
    ck_assert_str_eq(cfg->user, "mailer");
    ck_assert_str_eq(cfg->pg_bindir, "/usr/lib/postgresql/15/bin");
    ck_assert_str_eq(cfg->log_level, "DEBUG");
    ck_assert_str_eq(cfg->time_zone, "Europe/Paris");
    ck_assert_int_eq(cfg->pop3_port, 110);
    ck_assert_int_eq(cfg->pop3s_port, 995);
    ck_assert_int_eq(cfg->imap_port, 143);
    ck_assert_int_eq(cfg->imaps_port, 993);
    ck_assert_int_eq(cfg->lmtp_port, 24);
    ck_assert_int_eq(cfg->smtp_port, 25);
    assert_str_under(cfg->tls_certificate, "etc/tls/server.pem");
    ck_assert_str_eq(cfg->tls_key, "/etc/ssl/private/server.key");
    assert_str_under(cfg->tls_ca, "etc/tls/ca.pem");
    ck_assert(!ofc_config_is_embedded(cfg));

    char *conninfo = ofc_config_conninfo(cfg);
    ck_assert_str_eq(conninfo, "host=db.example port=5433 dbname=mail");
    free(conninfo);
    ofc_config_free(&cfg);
    free(path);
}
END_TEST

/* The file's `home` beats $OFC_HOME, and relative directories follow it. */
START_TEST(test_home_key)
{
    char *path = write_file("home.conf", "home = \"/opt/ofcmail/\"\n"
                                         "log_dir = \"log/x\"\n"
                                         "tls { certificate = \"etc/cert.pem\" }\n");
    struct ofc_config *cfg = load_ok(path);
    ck_assert_str_eq(cfg->home, "/opt/ofcmail");
    ck_assert_str_eq(cfg->bin_dir, "/opt/ofcmail/bin");
    ck_assert_str_eq(cfg->log_dir, "/opt/ofcmail/log/x");
    ck_assert_str_eq(cfg->var_dir, "/opt/ofcmail/var");
    ck_assert_str_eq(cfg->tls_certificate, "/opt/ofcmail/etc/cert.pem");
    ck_assert_str_eq(cfg->tls_key, "");
    ofc_config_free(&cfg);
    free(path);
}
END_TEST

START_TEST(test_derived_dirs_and_conninfo)
{
    char *path = write_file("d.conf", "sid = \"S1\"\nvar_dir = \"/srv/v\"\nlog_dir = \"/srv/l\"\n");
    struct ofc_config *cfg = load_ok(path);
    static const struct {
        char *(*func)(const struct ofc_config *);
        const char *want;
    } rows[] = {
        {ofc_config_node_var_dir, "/srv/v/S1"},
        {ofc_config_node_log_dir, "/srv/l/S1"},
        {ofc_config_pgdata_dir, "/srv/v/S1/pgdata"},
        {ofc_config_pgsocket_dir, "/srv/v/S1/run"},
        {ofc_config_conninfo, "host=/srv/v/S1/run port=5432 dbname=ofcmail user=ofcmail"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *s = rows[i].func(cfg);
        ck_assert_str_eq(s, rows[i].want);
        free(s);
    }
    ofc_config_free(&cfg);
    free(path);
}
END_TEST

/* Spaces, quotes and backslashes in the socket path are quoted as libpq wants. */
START_TEST(test_conninfo_quoting)
{
    char *path = write_file("q.conf", "var_dir = \"/srv/my var's\\\\x\"\n");
    struct ofc_config *cfg = load_ok(path);
    ck_assert_str_eq(cfg->var_dir, "/srv/my var's\\x");
    char *conninfo = ofc_config_conninfo(cfg);
    ck_assert_str_eq(
        conninfo, "host='/srv/my var\\'s\\\\x/ofcmail/run' port=5432 dbname=ofcmail user=ofcmail");
    free(conninfo);
    ofc_config_free(&cfg);
    free(path);
}
END_TEST

struct error_case {
    const char *content;
    int line;             /* expected "<file>:<line>: " prefix */
    const char *fragment; /* must appear in the message (the key, usually) */
};

static const struct error_case error_cases[] = {
    {"node = \"A\"\n\nprot = 110\n", 3, "no such option 'prot'"},
    {"ports {\n  imap = 70000\n}\n", 2, "invalid value for 'ports.imap': 70000 (1-65535)"},
    {"ports {\n  pop3 = 0\n}\n", 2, "invalid value for 'ports.pop3': 0 (1-65535)"},
    {"\nports {\n  smtp = twenty-five\n}\n", 3, "invalid value for 'ports.smtp': twenty-five"},
    {"ports {\n  lmtp = -24\n}\n", 2, "invalid value for 'ports.lmtp': -24"},
    {"ports {\n  imaps = 99999999999999999999999\n}\n", 2, "'ports.imaps'"},
    {"tls {\n  cert = \"x.pem\"\n}\n", 2, "no such option 'cert'"},
    {"node = \"1node\"\n", 1, "invalid value for 'node': 1node"},
    {"node = \"my-node\"\n", 1, "invalid value for 'node': my-node"},
    {"node = \"A234567890123456789012345678901\"\n", 1, "invalid value for 'node'"},
    {"node = \"\"\n", 1, "invalid value for 'node'"},
    {"sid = \"a-b\"\n", 1, "invalid value for 'sid': a-b"},
    {"sid = \"s234567890123456789012345678901\"\n", 1, "invalid value for 'sid'"},
    {"log_level = \"verbose\"\n", 1, "invalid value for 'log_level': verbose"},
    {"user = \"\"\n", 1, "invalid value for 'user'"},
    {"log_dir = \"\"\n", 1, "invalid value for 'log_dir'"},
    {"home = \"relative/dir\"\n", 1, "invalid value for 'home': relative/dir"},
    {"time_zone = \"../../etc/passwd\"\n", 1, "invalid value for 'time_zone'"},
    /* Syntax errors. */
    {"node ESNODE\n", 1, "missing equal sign after option 'node'"},
    {"sid = \"x\"\n}\n", 2, "unexpected closing brace"},
    {"sid = \"x\"\nnode = \"unterminated\n", 3, "premature end of file"},
    {"ports = 143\n", 1, "missing opening brace for section 'ports'"},
};

START_TEST(test_errors)
{
    const struct error_case *c = &error_cases[_i];
    char *path = write_file("bad.conf", c->content);
    char *error = load_error(path);
    char *prefix = ofc_xasprintf("%s:%d: ", path, c->line);

    ck_assert_msg(strncmp(error, prefix, strlen(prefix)) == 0, "'%s' does not start with '%s'",
                  error, prefix);
    ck_assert_msg(strstr(error, c->fragment) != NULL, "'%s' does not contain '%s'", error,
                  c->fragment);
    free(prefix);
    free(error);
    free(path);
}
END_TEST

/* Boundary values that must be accepted. */
START_TEST(test_limits_accepted)
{
    char *path = write_file("ok.conf", "node = \"a23456789012345678901234567890\"\n"
                                       "sid = \"_23456789012345678901234567890\"\n"
                                       "log_level = \"Trace\"\n"
                                       "ports { pop3 = 1 \n imap = 65535 }\n");
    struct ofc_config *cfg = load_ok(path);
    ck_assert_str_eq(cfg->node, "A23456789012345678901234567890");
    ck_assert_str_eq(cfg->sid, "_23456789012345678901234567890");
    ck_assert_int_eq(cfg->pop3_port, 1);
    ck_assert_int_eq(cfg->imap_port, 65535);
    ofc_config_free(&cfg);
    free(path);
}
END_TEST

/* The sample configuration in the source tree parses and gives the defaults. */
START_TEST(test_sample_file)
{
    /* CMake compiles with absolute paths: tests/unit/ -> the source root. */
    char *src = ofc_xstrdup(__FILE__);
    char *sample = ofc_xasprintf("%s/../../etc/ofcmail.conf", dirname(src));
    struct ofc_config *cfg = load_ok(sample);
    ck_assert_str_eq(cfg->node, "ESNODE");
    ck_assert_str_eq(cfg->sid, "ofcmail");
    ck_assert_str_eq(cfg->connect, "");
    ck_assert_str_eq(cfg->log_level, "info");
    ck_assert_int_eq(cfg->imap_port, 1143);
    ck_assert_int_eq(cfg->smtp_port, 1025);
    assert_str_under(cfg->var_dir, "var");
    ofc_config_free(&cfg);
    free(sample);
    free(src);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("load");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_home_from_executable);
    tcase_add_test(tc, test_relative_ofc_home);
    tcase_add_test(tc, test_default_file_in_home);
    tcase_add_test(tc, test_config_env_and_explicit);
    tcase_add_test(tc, test_missing_explicit_file);
    tcase_add_test(tc, test_all_keys);
    tcase_add_test(tc, test_home_key);
    tcase_add_test(tc, test_derived_dirs_and_conninfo);
    tcase_add_test(tc, test_conninfo_quoting);
    tcase_add_loop_test(tc, test_errors, 0, (int)(sizeof(error_cases) / sizeof(error_cases[0])));
    tcase_add_test(tc, test_limits_accepted);
    tcase_add_test(tc, test_sample_file);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
