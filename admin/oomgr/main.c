/*
 * NAME
 *      oomgr - IOFCMGR, the ofcmail administration command line
 *
 * SYNOPSIS
 *      oomgr [-c CONFIG] [--continue] [--batch=N] [LOGIN] [@SCRIPT | -s SCRIPT]
 *      oomgr --help | --version
 *
 *      LOGIN := USER[/PASSWORD][@CONNECT][/DOMAIN]
 *
 * DESCRIPTION
 *      oomgr reads statements ("startup all;", "disp process;", ...) and
 *      runs them against the node's database: from a terminal, with line
 *      editing and a history (~/.oomgr_history); from a script named by
 *      @SCRIPT or -s; or from standard input when that is not a terminal.
 *      help; lists the statements; oomgr(8) describes them.
 *
 *      The database is the node's (the configuration's connect string, or
 *      its embedded cluster) unless LOGIN names a CONNECT string; the
 *      domain is the node's top domain unless LOGIN names one. Without
 *      LOGIN, oomgr asks at the terminal for the user name, password,
 *      connect string and domain (empty answers take the defaults); the
 *      user name may also come from $OFC_OOMGR_USER. A password not in
 *      LOGIN comes from $OFC_OOMGR_PASSWORD, else from the terminal, with
 *      echo off. A password on the command line is wiped from the argument
 *      list at once, but ps(1) may have seen it: scripts should use the
 *      environment.
 *
 *      At the terminal each statement runs in its own transaction; all
 *      statements of a session share one database connection. In a
 *      script or on stdin, consecutive directory statements (insert
 *      person, ...) share a transaction, up to N of them (--batch, 500 by
 *      default; 1 turns batching off), each in a savepoint of its own, and
 *      their passwords are hashed on several threads first: what a failed
 *      statement did is rolled back alone, and what the statements before
 *      it did is committed, as one transaction each would have left it.
 *      Changes and logins are logged to <log_dir>/<SID>/oomgr.log;
 *      passwords never are.
 *
 * DIAGNOSTICS
 *      Results go to standard output, each error to standard error as one
 *      line: "oomgr: reason" at the terminal, "FILE:LINE: reason" from a
 *      script or stdin. A refused login says only "invalid username or
 *      password", after a fixed delay. In a script or on stdin the first
 *      error stops oomgr with exit status 1, unless --continue: then every
 *      statement runs and the status is 1 if any failed. Exit status 0 on
 *      success, 1 on failure, 2 on a usage error.
 */
/* System. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* libofc. */
#include "ofc_config.h"
#include "ofc_db.h"
#include "ofc_log.h"
#include "ofc_mem.h"
#include "ofc_tty.h"

/* This program. */
#include "oomgr.h"

#ifndef OFC_VERSION
#define OFC_VERSION "0.1.0"
#endif

/* Wrong passwords typed at the terminal before oomgr gives up. */
#define LOGIN_ATTEMPTS 3

/* Bounds of --batch; and how many threads hash passwords at most (each takes yescrypt's RAM). */
#define BATCH_MAX        100000
#define HASH_THREADS_MAX 8

enum { OPT_CONTINUE = 256, OPT_BATCH, OPT_HELP, OPT_VERSION };

static const struct option long_options[] = {
    {"continue", no_argument, NULL, OPT_CONTINUE},
    {"batch", required_argument, NULL, OPT_BATCH},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

struct options {
    const char *config_path;
    const char *script;
    char *login; /* heap copy; argv's is wiped */
    bool keep_going;
    size_t batch;
};

static void usage(FILE *fp)
{
    (void)fprintf(
        fp, "Usage: oomgr [-c CONFIG] [--continue] [--batch=N] [LOGIN] [@SCRIPT | -s SCRIPT]\n"
            "\n"
            "IOFCMGR, the ofcmail administration command line. Statements end with ';'\n"
            "(\"help;\" lists them) and come from the terminal, a script, or stdin.\n"
            "\n"
            "  LOGIN          USER[/PASSWORD][@CONNECT][/DOMAIN]; without it oomgr asks\n"
            "                 (user also from $OFC_OOMGR_USER)\n"
            "  @SCRIPT, -s SCRIPT\n"
            "                 run the statements of a file, stop at the first error\n"
            "  -c CONFIG      configuration file (default $OFC_CONFIG, <home>/etc/ofcmail.conf)\n"
            "  --continue     in a script or on stdin, go on after an error (exit 1 at the end)\n"
            "  --batch=N      in a script or on stdin, run up to N directory statements per\n"
            "                 transaction (default 500; 1: one transaction per statement)\n"
            "  --help         show this help\n"
            "  --version      show the version\n"
            "\n"
            "The password comes from LOGIN, else $OFC_OOMGR_PASSWORD, else the terminal.\n");
}

/* Returns -1 to exit with *status_r, 0 to go on. */
static int parse_args(int argc, char **argv, struct options *o, int *status_r)
{
    int c;
    memset(o, 0, sizeof(*o));
    o->batch = OOMGR_BATCH_DEFAULT;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:s:", long_options, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->config_path = optarg;
            break;
        case 's':
            if (o->script != NULL)
                goto one_script;
            o->script = optarg;
            break;
        case OPT_CONTINUE:
            o->keep_going = true;
            break;
        case OPT_BATCH: {
            char *end = NULL;
            errno = 0;
            long n = strtol(optarg, &end, 10);
            if (optarg[0] == '\0' || *end != '\0' || errno != 0 || n < 1 || n > BATCH_MAX) {
                oomgr_fatal_msg("--batch must be a number from 1 to %d, not '%s'", BATCH_MAX,
                                optarg);
                goto usage;
            }
            o->batch = (size_t)n;
            break;
        }
        case OPT_HELP:
            usage(stdout);
            *status_r = OOMGR_EXIT_OK;
            return -1;
        case OPT_VERSION:
            (void)printf("oomgr (ofcmail) %s\n", OFC_VERSION);
            *status_r = OOMGR_EXIT_OK;
            return -1;
        case ':':
            oomgr_fatal_msg("option -%c needs an argument (--help shows the usage)", optopt);
            goto usage;
        default:
            if (optopt != 0)
                oomgr_fatal_msg("unknown option -%c (--help shows the usage)", optopt);
            else
                oomgr_fatal_msg("unknown option %s (--help shows the usage)", argv[optind - 1]);
            goto usage;
        }
    }
    for (int i = optind; i < argc; i++) {
        if (argv[i][0] == '@') {
            if (o->script != NULL)
                goto one_script;
            o->script = argv[i] + 1;
            if (o->script[0] == '\0') {
                oomgr_fatal_msg("'@' without a script name");
                goto usage;
            }
            continue;
        }
        if (o->login != NULL) {
            oomgr_fatal_msg("unexpected argument (one LOGIN, one @SCRIPT; --help shows the "
                            "usage)");
            goto usage;
        }
        /* The login may hold passwords: keep a copy and wipe it from ps. */
        o->login = ofc_xstrdup(argv[i]);
        explicit_bzero(argv[i], strlen(argv[i]));
    }
    return 0;
one_script:
    oomgr_fatal_msg("only one script per run");
usage:
    ofc_tty_forget(&o->login);
    *status_r = OOMGR_EXIT_USAGE;
    return -1;
}

/* Empty answers mean "the default". */
static char *ask_optional(const char *question, char **error_r)
{
    char *answer = ofc_tty_ask(question, true, error_r);
    if (answer != NULL && answer[0] == '\0')
        OFC_FREE(answer);
    return answer;
}

/*
 * Fills in what LOGIN did not say. Returns 0, or -1 with *error_r and
 * *status_r (usage when a script gave no way to log in).
 */
static int complete_login(const struct options *o, struct oomgr_login *login, bool *asked_r,
                          char **error_r, int *status_r)
{
    bool terminal = isatty(STDIN_FILENO) == 1;
    *asked_r = false;
    *status_r = OOMGR_EXIT_FAILURE;
    if (o->login != NULL) {
        if (oomgr_login_parse_cmdline(o->login, login, error_r) < 0) {
            *status_r = OOMGR_EXIT_USAGE;
            return -1;
        }
    } else {
        memset(login, 0, sizeof(*login));
        const char *env_user = getenv("OFC_OOMGR_USER");
        if (env_user != NULL && env_user[0] != '\0') {
            login->user = ofc_xstrdup(env_user);
        } else if (terminal) {
            *asked_r = true;
            login->user = ofc_tty_ask("Username: ", true, error_r);
            if (login->user == NULL)
                return -1;
            login->password = ofc_tty_ask("Password: ", false, error_r);
            if (login->password == NULL)
                return -1;
            login->service = ask_optional("Connect string: ", error_r);
            if (login->service == NULL && *error_r != NULL)
                return -1;
            login->domain = ask_optional("Domain: ", error_r);
            if (login->domain == NULL && *error_r != NULL)
                return -1;
        } else {
            *error_r = ofc_xstrdup("no login: give USER[/PASSWORD] on the command line "
                                   "(or $OFC_OOMGR_USER and $OFC_OOMGR_PASSWORD)");
            *status_r = OOMGR_EXIT_USAGE;
            return -1;
        }
    }
    if (login->password == NULL) {
        const char *env = getenv("OFC_OOMGR_PASSWORD");
        if (env != NULL && env[0] != '\0') {
            login->password = ofc_xstrdup(env);
        } else if (terminal) {
            *asked_r = true;
            login->password = ofc_tty_ask("Password: ", false, error_r);
            if (login->password == NULL)
                return -1;
        } else {
            *error_r = ofc_xasprintf("no password for %s: give USER/PASSWORD or set "
                                     "$OFC_OOMGR_PASSWORD",
                                     login->user);
            *status_r = OOMGR_EXIT_USAGE;
            return -1;
        }
    }
    return 0;
}

/* Logs in; at the terminal a refused password may be typed again. Returns an exit status. */
static int log_in(struct oomgr *om, const struct options *o)
{
    for (int attempt = 1;; attempt++) {
        struct oomgr_login login;
        char *error = NULL;
        bool asked = false;
        int status = OOMGR_EXIT_FAILURE;

        memset(&login, 0, sizeof(login));
        if (complete_login(o, &login, &asked, &error, &status) < 0) {
            oomgr_fatal_msg("%s", error);
            free(error);
            oomgr_login_clear(&login);
            return status;
        }
        if (login.service != NULL) {
            char *conninfo = oomgr_service_conninfo(om, login.service, om->default_conninfo);
            ofc_tty_forget(&login.service);
            login.service = conninfo;
        }
        if (oomgr_session_open(&login, om->default_conninfo, &om->session, &error) == 0) {
            oomgr_log(om, "%s logged in (domain %s, node %s, uid %ld)", om->session->login,
                      om->session->fqdn, om->session->node_name, (long)getuid());
            oomgr_login_clear(&login);
            return OOMGR_EXIT_OK;
        }
        oomgr_fatal_msg("%s", error);
        oomgr_log(om, "login refused for %s (domain %s, uid %ld)", login.user,
                  login.domain != NULL ? login.domain : "default", (long)getuid());
        free(error);
        oomgr_login_clear(&login);
        if (!asked || attempt >= LOGIN_ATTEMPTS)
            return OOMGR_EXIT_FAILURE;
    }
}

/* ~/.oomgr_history when there is a home to write it to. Heap, or NULL. */
static char *history_path(void)
{
    const char *home = getenv("HOME");
    if (home == NULL || home[0] == '\0' || access(home, W_OK) != 0)
        return NULL;
    return ofc_xasprintf("%s/.oomgr_history", home);
}

/* One statement as read: parsed, or the error that kept it from being parsed. */
struct entry {
    struct oomgr_stmt *st; /* NULL: error */
    char *error;
    int line;
};

/* Reads and parses the next statement. Returns 1 with *e filled, 0 at the end of the input. */
static int next_entry(struct oomgr *om, struct oomgr_reader *reader, struct oomgr_input *in,
                      struct entry *e)
{
    struct oomgr_token *tokens = NULL;
    size_t ntokens = 0;
    char *text = NULL;

    memset(e, 0, sizeof(*e));
    int rc = oomgr_reader_next(reader, &tokens, &ntokens, &text, &e->error, &e->line);
    if (rc == 0)
        return 0;
    if (rc > 0 && oomgr_parse(tokens, ntokens, &e->st, &e->error, &e->line) < 0)
        e->st = NULL;
    if (e->st != NULL && om->mode == OOMGR_INTERACTIVE && !oomgr_stmt_has_secret(e->st))
        oomgr_input_remember(in, text);
    oomgr_tokens_free(&tokens, ntokens);
    if (text != NULL) {
        explicit_bzero(text, strlen(text));
        free(text);
    }
    return 1;
}

static void entry_clear(struct entry *e)
{
    oomgr_stmt_free(&e->st);
    OFC_FREE(e->error);
}

static bool batchable(const struct oomgr *om, const struct entry *e)
{
    return om->mode != OOMGR_INTERACTIVE && om->batch > 1 && e->st != NULL &&
           (e->st->def->flags & OOMGR_STMT_BATCH) && (e->st->def->flags & OOMGR_STMT_TX) &&
           e->st->def->after == NULL;
}

/*
 * Runs first and the batchable statements that follow it, up to om->batch
 * of them, in one transaction. Stops reading early when the input would
 * make it wait (a program feeding a pipe statement by statement). The
 * first entry read that does not belong goes to *next (*have_next).
 * Returns the number of statements that failed.
 */
static size_t run_batch(struct oomgr *om, struct oomgr_reader *reader, struct oomgr_input *in,
                        struct entry *first, struct entry *next, bool *have_next)
{
    struct oomgr_stmt **stmts = ofc_xcalloc(om->batch, sizeof(*stmts));
    size_t n = 0;

    stmts[n++] = first->st;
    first->st = NULL;
    *have_next = false;
    while (n < om->batch && oomgr_reader_ready(reader)) {
        if (next_entry(om, reader, in, next) == 0)
            break;
        if (!batchable(om, next)) {
            *have_next = true;
            break;
        }
        stmts[n++] = next->st;
        next->st = NULL;
    }
    size_t failed = oomgr_execute_batch(om, stmts, n, !om->keep_going);
    for (size_t i = 0; i < n; i++)
        oomgr_stmt_free(&stmts[i]);
    free(stmts);
    return failed;
}

/* Reads and runs statements until the end, exit, or (in a script) the first error. */
static int run_statements(struct oomgr *om, struct oomgr_input *in)
{
    struct oomgr_reader *reader = oomgr_reader_new(in);
    bool failed = false;
    struct entry e, next;
    bool have_next = false;

    memset(&next, 0, sizeof(next));
    while (!om->quit) {
        bool ok = true;
        if (have_next) {
            e = next;
            memset(&next, 0, sizeof(next));
            have_next = false;
        } else if (next_entry(om, reader, in, &e) == 0) {
            break;
        }
        if (e.st == NULL) {
            om->current_line = e.line;
            oomgr_error_at(om, e.line, "%s", e.error);
            ok = false;
        } else if (batchable(om, &e)) {
            ok = run_batch(om, reader, in, &e, &next, &have_next) == 0;
        } else {
            ok = oomgr_execute(om, e.st) == 0;
        }
        entry_clear(&e);
        if (!ok) {
            failed = true;
            if (om->mode != OOMGR_INTERACTIVE && !om->keep_going)
                break;
        }
    }
    entry_clear(&next);
    oomgr_reader_free(&reader);
    return failed && om->mode != OOMGR_INTERACTIVE ? OOMGR_EXIT_FAILURE : OOMGR_EXIT_OK;
}

int main(int argc, char **argv)
{
    struct options o;
    struct oomgr om;
    struct oomgr_input *in = NULL;
    char *error = NULL;
    int status = OOMGR_EXIT_OK;

    if (parse_args(argc, argv, &o, &status) < 0)
        return status;
    memset(&om, 0, sizeof(om));
    om.keep_going = o.keep_going;
    om.batch = o.batch;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    om.hash_threads = cpus < 1 ? 1 : cpus > HASH_THREADS_MAX ? HASH_THREADS_MAX : (int)cpus;
    if (o.script != NULL) {
        om.mode = OOMGR_SCRIPT;
        om.source = o.script;
    } else if (isatty(STDIN_FILENO) == 1) {
        om.mode = OOMGR_INTERACTIVE;
        om.source = "oomgr";
    } else {
        om.mode = OOMGR_STDIN;
        om.source = "stdin";
    }

    if (ofc_config_load(o.config_path, &om.cfg, &error) < 0) {
        oomgr_fatal_msg("%s", error);
        free(error);
        ofc_tty_forget(&o.login);
        return OOMGR_EXIT_FAILURE;
    }
    om.default_conninfo = ofc_config_conninfo(om.cfg);
    oomgr_log_open(&om);

    /* Open the script first: a wrong name should not cost a login. */
    if (om.mode == OOMGR_SCRIPT) {
        in = oomgr_input_file(o.script, &error);
        if (in == NULL) {
            oomgr_fatal_msg("%s", error);
            free(error);
            status = OOMGR_EXIT_FAILURE;
            goto out;
        }
    }
    if (om.mode == OOMGR_INTERACTIVE)
        (void)printf("ofcmail Server Manager: Release %s\n", OFC_VERSION);
    (void)fflush(stdout);

    status = log_in(&om, &o);
    if (status != OOMGR_EXIT_OK)
        goto out;

    if (om.mode == OOMGR_INTERACTIVE) {
        char *path = history_path();
        in = oomgr_input_terminal(path);
        free(path);
    } else if (om.mode == OOMGR_STDIN) {
        in = oomgr_input_stdin();
    }
    status = run_statements(&om, in);
out:
    oomgr_input_close(&in);
    oomgr_session_free(&om.session);
    oomgr_tx_cache_free(&om.cache);
    ofc_tty_forget(&om.default_conninfo);
    ofc_tty_forget(&o.login);
    ofc_config_free(&om.cfg);
    ofc_log_close();
    return status;
}
