/*
 * oomgr.h - what the pieces of IOFCMGR share.
 *
 * A statement travels through four stages, each in its own file:
 *
 *   input.c    lines from a terminal (libedit), a script file or stdin
 *   lexer.c    lines -> tokens of one statement (quotes, comments, ';')
 *   parse.c    tokens -> struct oomgr_stmt, checked against the statement
 *              table: verb, object, key=value arguments
 *   stmt.c     dispatch: privilege, one transaction, output, admin log
 *   batch.c    in scripts: runs of statements in one transaction, a
 *              savepoint each, passwords hashed on several threads
 *
 * Statements are described once, in tables that live beside their
 * handlers (session.c, process.c, param.c, schedule.c); dispatch and
 * `help` are derived from those tables. A new group of statements adds a
 * table and one line in stmt.c. Private to oomgr.
 */
#ifndef OOMGR_H
#define OOMGR_H

#include <stdbool.h>
#include <stddef.h>

/* libofc. */
#include "dir_object.h"
#include "ofc_mem.h"

struct ofc_config;
struct ofc_db;
struct pg_result;

/* Exit statuses. */
#define OOMGR_EXIT_OK      0
#define OOMGR_EXIT_FAILURE 1 /* login refused, a statement failed in a script */
#define OOMGR_EXIT_USAGE   2

/* ---- lexer.c: tokens ---------------------------------------------------- */

enum oomgr_token_kind {
    OOMGR_TOK_WORD,   /* bare: anything but white space, '=', ';', '"' */
    OOMGR_TOK_STRING, /* "double quoted", escapes resolved */
    OOMGR_TOK_EQUALS, /* = */
};

struct oomgr_token {
    enum oomgr_token_kind kind;
    char *text; /* heap; "" for '=' */
    int line;   /* input line the token starts on */
};

/* ---- parse.c: one statement ---------------------------------------------- */

/* What a key=value argument may hold; checked when the statement is parsed. */
#define OOMGR_KEY_REQUIRED   0x01u /* must be given */
#define OOMGR_KEY_POSITIONAL 0x02u /* may also be a bare word, in declaration order */
#define OOMGR_KEY_FLAG       0x04u /* a bare word on its own ("force"); no value */
#define OOMGR_KEY_INT        0x08u /* a decimal number in [min, max] */
#define OOMGR_KEY_SECRET     0x10u /* a password: never logged, never kept in history */
#define OOMGR_KEY_ANY        0x20u /* name "*": stands for every key not declared */
/*
 * A password the statement stores hashed (with OOMGR_KEY_SECRET): oomgr
 * hashes it before the statement's transaction begins (a batch's on
 * several threads) and the handler takes oomgr_arg_hash().
 */
#define OOMGR_KEY_HASH 0x40u

struct oomgr_key {
    const char *name; /* lower case; "*" with OOMGR_KEY_ANY */
    unsigned flags;
    long long min, max;  /* OOMGR_KEY_INT */
    const char *choices; /* "table|csv": the value must be one of these (any case); or NULL */
    const char *help;    /* one line for `help VERB OBJECT` */
};

/* The keys every `disp` statement takes. */
#define OOMGR_KEY_FORMAT                                                                           \
    {                                                                                              \
        "format", 0, 0, 0, "table|csv", "table (aligned columns, the default) or csv"              \
    }

struct oomgr_arg {
    char *key;   /* as typed for OOMGR_KEY_ANY keys, else the declared (lower-case) name */
    char *value; /* heap; NULL for a flag word */
    char *hash;  /* OOMGR_KEY_HASH: the crypt(3) hash of value once computed, else NULL */
    int line;
    const struct oomgr_key *spec;
};

struct oomgr_stmt_def;

struct oomgr_stmt {
    const struct oomgr_stmt_def *def;
    int line; /* first line of the statement */
    struct oomgr_arg *args;
    size_t nargs;
};

/*
 * Builds a statement from its tokens: finds the definition of its verb and
 * object, then assigns every argument to a declared key and checks it
 * (unknown key, duplicate, missing, number out of range, bad choice).
 * Returns 0 and *st_r, or -1 with a heap message in *error_r and the line
 * it concerns in *line_r. Tokens stay the caller's.
 */
int oomgr_parse(const struct oomgr_token *tokens, size_t ntokens, struct oomgr_stmt **st_r,
                char **error_r, int *line_r) __attribute__((warn_unused_result));
void oomgr_stmt_free(struct oomgr_stmt **st);

/* The value of key (declared name, any case), or NULL when not given. */
const char *oomgr_arg(const struct oomgr_stmt *st, const char *key);
/* The line of key's argument, else the statement's first line. */
int oomgr_arg_line(const struct oomgr_stmt *st, const char *key);
/* True when flag word or key was given. */
bool oomgr_arg_given(const struct oomgr_stmt *st, const char *key);
/* An OOMGR_KEY_INT argument (already range-checked), or dflt. */
long long oomgr_arg_int(const struct oomgr_stmt *st, const char *key, long long dflt);
/*
 * The hash of an OOMGR_KEY_HASH argument computed before the transaction,
 * or NULL (not given, empty, or hashing failed: the handler hashes it
 * then, and reports the failure).
 */
const char *oomgr_arg_hash(const struct oomgr_stmt *st, const char *key);
/*
 * (batch.c) Hashes the OOMGR_KEY_HASH arguments of count statements that
 * have no hash yet, on up to threads threads (<= 1: in this thread). A
 * password that cannot be hashed is left without one.
 */
void oomgr_stmts_hash(struct oomgr_stmt *const *stmts, size_t count, int threads);
/* True when the statement holds an OOMGR_KEY_SECRET argument. */
bool oomgr_stmt_has_secret(const struct oomgr_stmt *st);
/*
 * The statement as one line for the admin log: verb, object and arguments,
 * values quoted when needed, secrets replaced by "***". Heap string.
 */
char *oomgr_stmt_describe(const struct oomgr_stmt *st);

/*
 * A filter value with the wildcards * and ? as an SQL LIKE pattern (with
 * '\' as the escape character). Heap string. Statements pass it as a
 * parameter: "... WHERE lower(name) LIKE lower($1)".
 */
char *oomgr_like_pattern(const char *wildcard);

/* ---- stmt.c: the statement table and dispatch ---------------------------- */

/* What the session's account needs for a statement. */
enum oomgr_priv {
    OOMGR_PRIV_NONE,   /* no login needed: help, exit, connect */
    OOMGR_PRIV_LOGIN,  /* any account: whoami */
    OOMGR_PRIV_DOMAIN, /* a grant on the session's domain or one above it */
    OOMGR_PRIV_NODE,   /* a grant on a root domain this node serves: process control */
};

/* Flags of a statement definition. */
#define OOMGR_STMT_TX   0x01u /* run in one transaction; output printed after COMMIT */
#define OOMGR_STMT_EOL  0x02u /* may end at the end of its line, without ';' */
#define OOMGR_STMT_HIDE 0x04u /* not listed by `help` (a synonym) */
/*
 * With OOMGR_STMT_TX and no `after`: in a script, consecutive statements
 * of this kind share a transaction (a savepoint each; batch.c). The
 * handler must then change nothing outside the database, and check its
 * own privileges (the definition's priv is checked once per statement
 * as usual).
 */
#define OOMGR_STMT_BATCH 0x08u

struct oomgr;
struct oomgr_call;

typedef int oomgr_handler(struct oomgr_call *call, char **error_r);

struct oomgr_stmt_def {
    const char *verb;   /* "startup"; NULL ends a table */
    const char *object; /* "process", "all", or NULL when the verb has none */
    enum oomgr_priv priv;
    unsigned flags;
    const struct oomgr_key *keys; /* terminated by {NULL}; NULL = no arguments */
    /*
     * Does the work. With OOMGR_STMT_TX it runs inside the statement's
     * transaction and may run again (serialisation failure): it writes its
     * output to call->out, never to stdout. Returns 0, or -1 with a heap
     * message in *error_r; the transaction is then rolled back.
     */
    oomgr_handler *run;
    /* After COMMIT (e.g. waiting for the Guardian); may be NULL. */
    oomgr_handler *after;
    const char *syntax;  /* "startup process TYPE [instance=N] [wait=SECONDS];" */
    const char *summary; /* one line for `help` */
};

/* One execution of a statement. */
struct oomgr_call {
    struct oomgr *om;
    const struct oomgr_stmt *st;
    struct ofc_db *db;      /* the session's */
    struct ofc_strbuf out;  /* results: printed on stdout after COMMIT */
    struct ofc_strbuf warn; /* warning lines: printed on stderr after COMMIT */
    struct ofc_strbuf log;  /* admin log lines: written after COMMIT */
};

/* Appends a line (a newline is added) to call->out, ->warn or ->log. */
void oomgr_out(struct oomgr_call *call, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void oomgr_warn(struct oomgr_call *call, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void oomgr_log_change(struct oomgr_call *call, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * The definition of verb and object (any case; object NULL: the verb's
 * definition without an object), or NULL. *verb_known_r says whether any
 * definition has that verb, so that the parser can tell an unknown
 * statement from an unknown object.
 */
const struct oomgr_stmt_def *oomgr_stmt_find(const char *verb, const char *object,
                                             bool *verb_known_r);
/* True when the verb's statements may end at the end of the line. */
bool oomgr_stmt_verb_ends_at_eol(const char *verb);
/* "all, process": the objects a verb takes (heap string). */
char *oomgr_stmt_objects(const char *verb);

/*
 * Runs one parsed statement: checks the privilege, runs the handler (in a
 * transaction when the definition says so), prints the output and writes
 * the admin log. Returns 0, or -1 after reporting the error.
 */
int oomgr_execute(struct oomgr *om, struct oomgr_stmt *st);

/* The pieces of oomgr_execute() that batch.c shares. */
void oomgr_call_init(struct oomgr_call *call, struct oomgr *om, const struct oomgr_stmt *st);
/* Empties the output, warnings and log lines of a call (a retried attempt). */
void oomgr_call_reset(struct oomgr_call *call);
/* Prints a call's output and warnings, writes its log lines, then empties them. */
void oomgr_call_flush(struct oomgr_call *call);
void oomgr_call_free(struct oomgr_call *call);
/* The definition's privilege check. Returns 0, or -1 with *error_r. */
int oomgr_call_check_privilege(struct oomgr_call *call, char **error_r)
    __attribute__((warn_unused_result));

/* ---- batch.c: statements of a script in one transaction ----------------- */

/* Statements per transaction in a script unless --batch says otherwise. */
#define OOMGR_BATCH_DEFAULT 500

/*
 * Runs count OOMGR_STMT_BATCH statements in one transaction: each in a
 * savepoint, so that a failing one is rolled back alone; with
 * stop_on_error the statements after the first failure are not run, and
 * those before it are committed with the transaction. Passwords are
 * hashed first, on several threads. Output, warnings, errors and log
 * lines are reported after COMMIT, statement by statement, in order.
 * Returns the number of statements that failed (a batch that could not
 * be committed at all counts as one failure, reported at its first
 * statement).
 */
size_t oomgr_execute_batch(struct oomgr *om, struct oomgr_stmt *const *stmts, size_t count,
                           bool stop_on_error);

/* ---- the session (session.c) ---------------------------------------------- */

struct oomgr_session {
    struct ofc_db *db;
    char *conninfo; /* how it connected; may hold a password: never shown */
    long long node_id;
    char *node_name;
    long long domain_id;
    char *fqdn; /* lower case, as stored */
    long long account_id;
    char *login; /* the account's name as stored ("ADMIN") */
};

/*
 * What the directory statements look up again and again within one
 * transaction: whether the session administers a domain, and node ids by
 * name. Emptied when a transaction (attempt) begins, so it never outlives
 * what it read.
 */
struct oomgr_tx_cache {
    long long *admin_domain; /* domain ids ... */
    bool *admin_yes;         /* ... and the answers */
    size_t nadmin, admin_cap;
    char **node_name; /* upper case ... */
    long long *node_id;
    size_t nnode, node_cap;
};

void oomgr_tx_cache_reset(struct oomgr_tx_cache *c);
void oomgr_tx_cache_free(struct oomgr_tx_cache *c);

/* What a login names; any field may be NULL (= ask, or the default). */
struct oomgr_login {
    char *user;
    char *password; /* wiped by oomgr_login_clear() */
    char *service;  /* a libpq conninfo; NULL or "" = the current one / the configuration's */
    char *domain;
};

void oomgr_login_clear(struct oomgr_login *login);
/*
 * "USER[/PASSWORD][@CONNECT][/DOMAIN]" (the command line). When CONNECT
 * contains a '/', the text after the last '/' is the domain (end it with
 * '/' to give none). Returns 0 or -1 with *error_r.
 */
int oomgr_login_parse_cmdline(const char *text, struct oomgr_login *login, char **error_r)
    __attribute__((warn_unused_result));
/*
 * "USER[/PASSWORD[/SERVICE[/DOMAIN]]]" (the connect statement); the domain
 * follows the last '/'. With three parts, a third without '=' or ':' (so
 * not a connect string) is the domain: USER/PASSWORD/acme.com.
 */
int oomgr_login_parse_slashes(const char *text, struct oomgr_login *login, char **error_r)
    __attribute__((warn_unused_result));

/*
 * The conninfo a login's service means: NULL or "" the current one
 * (current); a libpq connect string as it is; a bare name (no '=' or ':',
 * like the guide's <service_name>) the node's own database when it is the
 * configuration's SID or node name, else "service=NAME" (pg_service.conf).
 * Heap string.
 */
char *oomgr_service_conninfo(const struct oomgr *om, const char *service, const char *current);

/*
 * Connects to login->service (NULL/"" = default_conninfo) and checks the
 * account. On failure waits until OOMGR_LOGIN_DELAY_MS have passed since
 * the call began, whatever was wrong with the user name or the password,
 * and says only "invalid username or password". Returns 0 and a new session
 * in *session_r, or -1 and a heap message in *error_r.
 */
int oomgr_session_open(const struct oomgr_login *login, const char *default_conninfo,
                       struct oomgr_session **session_r, char **error_r)
    __attribute__((warn_unused_result));
void oomgr_session_free(struct oomgr_session **s);
/* Whether the session's account holds priv now (checked in the database). */
int oomgr_session_check(struct oomgr_session *s, enum oomgr_priv priv, bool *ok_r, char **error_r)
    __attribute__((warn_unused_result));

/* How long a refused login takes, from start to the message. */
#define OOMGR_LOGIN_DELAY_MS 2000

/* ---- the program (main.c) ------------------------------------------------ */

enum oomgr_mode {
    OOMGR_INTERACTIVE, /* a terminal: prompts, line editing, errors do not stop */
    OOMGR_SCRIPT,      /* @file or -s file */
    OOMGR_STDIN,       /* statements on a pipe */
};

struct oomgr {
    struct ofc_config *cfg;
    char *default_conninfo; /* from the configuration; may hold a password */
    struct oomgr_session *session;
    enum oomgr_mode mode;
    const char *source; /* "script.ofc", "stdin" */
    bool keep_going;    /* --continue */
    size_t batch;       /* --batch: statements per transaction in a script (1: none) */
    int hash_threads;   /* threads that hash a batch's passwords */
    struct oomgr_tx_cache cache;
    bool quit;        /* exit/quit was given */
    bool log_open;    /* <log_dir>/<SID>/oomgr.log is open */
    int current_line; /* of the statement being run, for messages */
};

/* ---- report.c: messages --------------------------------------------------- */

/*
 * One line on stderr: "oomgr: reason" at the terminal, "FILE:LINE: reason"
 * in a script or on stdin (line <= 0: the current statement's).
 */
void oomgr_error_at(const struct oomgr *om, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void oomgr_warning_at(const struct oomgr *om, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "oomgr: reason" on stderr, whatever the mode (start-up, usage). */
void oomgr_fatal_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Opens oomgr.log in the node's log directory; warns once when it cannot. */
void oomgr_log_open(struct oomgr *om);
/* One info line in oomgr.log (only when it is open: never on stderr). */
void oomgr_log(const struct oomgr *om, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- input.c: lines ------------------------------------------------------- */

struct oomgr_input;

/* Lines from a file (script mode). Returns NULL with *error_r. */
struct oomgr_input *oomgr_input_file(const char *path, char **error_r);
/* Lines from stdin without a terminal. */
struct oomgr_input *oomgr_input_stdin(void);
/* A terminal: libedit prompts, editing and history (history_path may be NULL). */
struct oomgr_input *oomgr_input_terminal(const char *history_path);
/*
 * The next line without its newline (heap, *line_r), 1; 0 at the end of
 * input; 2 when ^C interrupted the terminal (drop the statement being
 * typed); -1 on a read error (*error_r). continuation selects the prompt.
 */
int oomgr_input_line(struct oomgr_input *in, bool continuation, char **line_r, char **error_r);
/*
 * True when the next line can be read without waiting: a script, a pipe
 * that has data or has ended; never at a terminal.
 */
bool oomgr_input_ready(struct oomgr_input *in);
/* Adds a statement to the history (terminal only); never pass a secret. */
void oomgr_input_remember(struct oomgr_input *in, const char *text);
void oomgr_input_close(struct oomgr_input **in);
/* True once after ^C at a terminal session (for statements that wait). */
bool oomgr_input_interrupted(void);

/* ---- lexer.c: statements from lines --------------------------------------- */

struct oomgr_reader;

struct oomgr_reader *oomgr_reader_new(struct oomgr_input *in);
void oomgr_reader_free(struct oomgr_reader **r);
/*
 * The tokens of the next statement (without its ';'): returns 1 and fills
 * *tokens_r / *ntokens_r (free with oomgr_tokens_free) and *text_r (the
 * statement's text, lines joined by spaces, for the history); 0 at the end
 * of input; -1 on a syntax error (*error_r, *line_r): the rest of that
 * statement is skipped, so reading may go on.
 */
int oomgr_reader_next(struct oomgr_reader *r, struct oomgr_token **tokens_r, size_t *ntokens_r,
                      char **text_r, char **error_r, int *line_r);
void oomgr_tokens_free(struct oomgr_token **tokens, size_t ntokens);
/*
 * True when oomgr_reader_next() can return without waiting for input: a
 * complete statement (or an error) is pending, or the input is ready.
 */
bool oomgr_reader_ready(struct oomgr_reader *r);

/* ---- table.c: result tables ---------------------------------------------- */

enum oomgr_align { OOMGR_LEFT, OOMGR_RIGHT };
enum oomgr_format { OOMGR_FORMAT_TABLE, OOMGR_FORMAT_CSV };

struct oomgr_column {
    const char *title;
    enum oomgr_align align;
};

struct oomgr_table;

struct oomgr_table *oomgr_table_new(const struct oomgr_column *columns, size_t ncolumns);
/* Adds a row of ncolumns values (copied; NULL shows as empty). */
void oomgr_table_add(struct oomgr_table *t, const char *const *values);
/* Adds every row of a query result, column i of the result under column i. */
void oomgr_table_add_result(struct oomgr_table *t, const struct pg_result *res);
/* The same, with column age_col (seconds) shown as an age ("3m 12s"). */
void oomgr_table_add_result_age(struct oomgr_table *t, const struct pg_result *res, int age_col);
/* "45s", "3m 12s", "2h 5m", "4d 3h": precise where it matters, short where not; NULL stays NULL. */
char *oomgr_format_age(const char *seconds);
size_t oomgr_table_rows(const struct oomgr_table *t);
/*
 * Appends the table to out: aligned columns under a dashed rule (or "no
 * rows selected"), or CSV (RFC 4180, header line, '\n' line ends).
 */
void oomgr_table_print(const struct oomgr_table *t, enum oomgr_format format,
                       struct ofc_strbuf *out);
void oomgr_table_free(struct oomgr_table **t);
/* The format= argument of a statement (table when absent). */
enum oomgr_format oomgr_stmt_format(const struct oomgr_stmt *st);

/* ---- the statement groups ------------------------------------------------ */

extern const struct oomgr_stmt_def oomgr_session_stmts[];
extern const struct oomgr_stmt_def oomgr_process_stmts[];
extern const struct oomgr_stmt_def oomgr_param_stmts[];
extern const struct oomgr_stmt_def oomgr_schedule_stmts[];
extern const struct oomgr_stmt_def oomgr_domain_stmts[];  /* domain.c */
extern const struct oomgr_stmt_def oomgr_account_stmts[]; /* account.c: person, room, equipment */
/* object.c: alias, dl, location, organization, role, template, member */
extern const struct oomgr_stmt_def oomgr_object_stmts[];
extern const struct oomgr_stmt_def oomgr_queue_stmts[];   /* queue.c: queues, dead, message */
extern const struct oomgr_stmt_def oomgr_rewrite_stmts[]; /* rewrite.c: address rewrite rules */
extern const struct oomgr_stmt_def oomgr_rule_stmts[]; /* rule.c: rules, autoreply, autoforward */
/* statistics.c: disp statistics, disp clients (the Probe). */
extern const struct oomgr_stmt_def oomgr_statistics_stmts[];
/* monitor.c: disp monitor, run monitor. */
extern const struct oomgr_stmt_def oomgr_monitor_stmts[];

/* ---- directory.c: what the directory statements share -------------------- */

/*
 * Directory statements address an object by name in the session's
 * domain, or in another one given as name@fqdn or domain=fqdn; either
 * way the session's account must administer that domain (a grant on it
 * or on a domain above it: dir_domain_administers()).
 */
struct oomgr_dir_target {
    long long domain_id;
    char *fqdn; /* lower case */
    char *name; /* the name without "@fqdn"; NULL when no name was given */
};

void oomgr_dir_target_clear(struct oomgr_dir_target *t);

/*
 * The object a statement names with key (NULL: none, only the domain),
 * and its domain: that of "name@fqdn", else domain=, else the session's.
 * Checks that the domain exists and is administered by the session.
 * Returns 0 and fills *t, or -1 with *error_r (the statement's current
 * line then points at the argument at fault).
 */
int oomgr_dir_target(struct oomgr_call *call, const char *key, struct oomgr_dir_target *t,
                     char **error_r) __attribute__((warn_unused_result));

/*
 * Checks that the session administers domain_id (fqdn names it in the
 * message). Answers are cached for the transaction. Returns 0, or -1 with
 * "insufficient privileges: ADMIN does not administer domain X".
 */
int oomgr_dir_require_admin(struct oomgr_call *call, long long domain_id, const char *fqdn,
                            char **error_r) __attribute__((warn_unused_result));

/*
 * The id of the node named name (any case), cached for the transaction.
 * Returns 0, or -1 with "no node named X".
 */
int oomgr_dir_node(struct oomgr_call *call, const char *name, long long *id_r, char **error_r)
    __attribute__((warn_unused_result));

/*
 * Finds the object t names, of class (a class of the address space, or
 * PUBLIC_TEMPLATE). Returns 0 and fills *obj_r (dir_object_clear() it),
 * or -1 with "no PERSON named 'x' in acme.com", or "x@acme.com is an
 * ALIAS, not a PERSON".
 */
int oomgr_dir_find(struct oomgr_call *call, const struct oomgr_dir_target *t, enum dir_class class,
                   struct dir_object *obj_r, char **error_r) __attribute__((warn_unused_result));

/*
 * Reports a change: prints "<Verb>ed successfully." ("Inserted",
 * "Modified", "Deleted", "Added", "Removed") and logs the statement (its
 * secrets masked) with the object's address.
 */
void oomgr_dir_done(struct oomgr_call *call, const char *done, const char *address);

/*
 * A mailbox size: digits with an optional unit K, M, G or T (powers of
 * 1024; a trailing B is allowed: 100MB), or "unlimited"/"none" (-1).
 * Returns 0 and *bytes_r, or -1 when the text is not a size.
 */
int oomgr_size_parse(const char *text, long long *bytes_r) __attribute__((warn_unused_result));
/* The size in the largest unit that divides it ("100M"), or "unlimited" when < 0. Heap. */
char *oomgr_size_format(long long bytes);

/* Whether text matches pattern, with * and ? as wildcards, ignoring (ASCII) case. */
bool oomgr_wildcard_match(const char *pattern, const char *text);

/* "acme.com" -> "ACME.COM", as whoami shows domains. Heap. */
char *oomgr_upper(const char *s);

/*
 * process.c helpers the other groups share: the process type named by
 * `name` (its name or display name, any case; heap canonical name in
 * *type_r; whether the Guardian runs it in *managed_r, which may be NULL),
 * and the id of instance `instance` of a type on the session's node.
 * Both return 0, or -1 with a message naming what is unknown.
 */
int oomgr_process_type(struct oomgr_call *call, const char *name, char **type_r, bool *managed_r,
                       char **error_r) __attribute__((warn_unused_result));
int oomgr_process_instance(struct oomgr_call *call, const char *type, long long instance,
                           long long *id_r, char **error_r) __attribute__((warn_unused_result));

/* Decimal text of n in buf (at least 24 bytes); returns buf. For query parameters. */
const char *oomgr_lltoa(char *buf, size_t size, long long n);

#endif
