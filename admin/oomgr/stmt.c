/*
 * stmt.c - the statement table: lookup, dispatch and help.
 *
 * Every statement oomgr knows is one row in one of the tables below; the
 * lexer asks them which verbs end at the end of a line, the parser which
 * objects and keys a statement takes, `help` prints them, and
 * oomgr_execute() runs a parsed statement the way its row says: after the
 * privilege check, in one transaction when the row has OOMGR_STMT_TX, its
 * output printed only once the transaction has committed.
 */
/* System. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* libofc. */
#include "ofc_db.h"
#include "ofc_mem.h"

/* This program. */
#include "oomgr.h"

static const struct oomgr_stmt_def general_stmts[];

/* In the order `help` lists them. */
static const struct oomgr_stmt_def *const tables[] = {
    oomgr_session_stmts, oomgr_process_stmts, oomgr_param_stmts,      oomgr_schedule_stmts,
    oomgr_domain_stmts,  oomgr_account_stmts, oomgr_object_stmts,     oomgr_queue_stmts,
    oomgr_rewrite_stmts, oomgr_rule_stmts,    oomgr_statistics_stmts, oomgr_monitor_stmts,
    general_stmts,
};
#define NTABLES (sizeof(tables) / sizeof(tables[0]))

/* Iterates over every definition: for (d = first_def(&t); d; d = next_def(&t, d)). */
static const struct oomgr_stmt_def *first_def(size_t *t)
{
    for (*t = 0; *t < NTABLES; (*t)++)
        if (tables[*t][0].verb != NULL)
            return &tables[*t][0];
    return NULL;
}

static const struct oomgr_stmt_def *next_def(size_t *t, const struct oomgr_stmt_def *d)
{
    if (d[1].verb != NULL)
        return d + 1;
    for ((*t)++; *t < NTABLES; (*t)++)
        if (tables[*t][0].verb != NULL)
            return &tables[*t][0];
    return NULL;
}

const struct oomgr_stmt_def *oomgr_stmt_find(const char *verb, const char *object,
                                             bool *verb_known_r)
{
    size_t t;
    *verb_known_r = false;
    for (const struct oomgr_stmt_def *d = first_def(&t); d != NULL; d = next_def(&t, d)) {
        if (strcasecmp(d->verb, verb) != 0)
            continue;
        *verb_known_r = true;
        if (object == NULL ? d->object == NULL
                           : d->object != NULL && strcasecmp(d->object, object) == 0)
            return d;
    }
    return NULL;
}

bool oomgr_stmt_verb_ends_at_eol(const char *verb)
{
    size_t t;
    for (const struct oomgr_stmt_def *d = first_def(&t); d != NULL; d = next_def(&t, d))
        if (strcasecmp(d->verb, verb) == 0)
            return (d->flags & OOMGR_STMT_EOL) != 0;
    return false;
}

char *oomgr_stmt_objects(const char *verb)
{
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    size_t t;
    ofc_strbuf_init(&sb);
    for (const struct oomgr_stmt_def *d = first_def(&t); d != NULL; d = next_def(&t, d)) {
        if (strcasecmp(d->verb, verb) != 0 || d->object == NULL)
            continue;
        if (sb.len > 0)
            ofc_strbuf_puts(&sb, ", ");
        ofc_strbuf_puts(&sb, d->object);
    }
    return ofc_strbuf_detach(&sb);
}

/* ---- output of a call ----------------------------------------------------- */

static void append_line(struct ofc_strbuf *sb, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void append_line(struct ofc_strbuf *sb, const char *fmt, va_list ap)
{
    ofc_strbuf_vprintf(sb, fmt, ap);
    ofc_strbuf_putc(sb, '\n');
}

void oomgr_out(struct oomgr_call *call, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    append_line(&call->out, fmt, ap);
    va_end(ap);
}

void oomgr_warn(struct oomgr_call *call, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    append_line(&call->warn, fmt, ap);
    va_end(ap);
}

void oomgr_log_change(struct oomgr_call *call, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    append_line(&call->log, fmt, ap);
    va_end(ap);
}

void oomgr_call_init(struct oomgr_call *call, struct oomgr *om, const struct oomgr_stmt *st)
{
    memset(call, 0, sizeof(*call));
    call->om = om;
    call->st = st;
    call->db = om->session != NULL ? om->session->db : NULL;
    ofc_strbuf_init(&call->out);
    ofc_strbuf_init(&call->warn);
    ofc_strbuf_init(&call->log);
}

void oomgr_call_reset(struct oomgr_call *call)
{
    ofc_strbuf_reset(&call->out);
    ofc_strbuf_reset(&call->warn);
    ofc_strbuf_reset(&call->log);
}

void oomgr_call_free(struct oomgr_call *call)
{
    ofc_strbuf_free(&call->out);
    ofc_strbuf_free(&call->warn);
    ofc_strbuf_free(&call->log);
}

void oomgr_call_flush(struct oomgr_call *call)
{
    struct oomgr *om = call->om;
    if (call->out.len > 0) {
        (void)fwrite(call->out.data, 1, call->out.len, stdout);
        (void)fflush(stdout);
    }
    for (char *line = call->warn.data, *nl; line != NULL && *line != '\0'; line = nl + 1) {
        nl = strchr(line, '\n');
        *nl = '\0';
        oomgr_warning_at(om, 0, "%s", line);
    }
    for (char *line = call->log.data, *nl; line != NULL && *line != '\0'; line = nl + 1) {
        nl = strchr(line, '\n');
        *nl = '\0';
        if (om->session != NULL)
            oomgr_log(om, "%s (domain %s): %s", om->session->login, om->session->fqdn, line);
        else
            oomgr_log(om, "%s", line);
    }
    oomgr_call_reset(call);
}

/* ---- dispatch ------------------------------------------------------------- */

int oomgr_call_check_privilege(struct oomgr_call *call, char **error_r)
{
    enum oomgr_priv priv = call->st->def->priv;
    struct oomgr_session *s = call->om->session;
    bool ok = false;

    if (priv <= OOMGR_PRIV_LOGIN)
        return 0;
    if (oomgr_session_check(s, priv, &ok, error_r) < 0)
        return -1;
    if (ok)
        return 0;
    if (priv == OOMGR_PRIV_NODE)
        *error_r = ofc_xasprintf("insufficient privileges: only an administrator of a top "
                                 "domain of %s controls its processes",
                                 s->node_name);
    else {
        char *upper = ofc_xstrdup(s->fqdn);
        for (char *p = upper; *p != '\0'; p++)
            if (*p >= 'a' && *p <= 'z')
                *p = (char)(*p - 'a' + 'A');
        *error_r = ofc_xasprintf("insufficient privileges: %s does not administer domain %s",
                                 s->login, upper);
        free(upper);
    }
    return -1;
}

static int run_in_transaction(struct ofc_db *db, void *ctx, char **error_r)
{
    struct oomgr_call *call = ctx;
    (void)db;
    /* A retried attempt starts from nothing: its output must not repeat. */
    oomgr_call_reset(call);
    oomgr_tx_cache_reset(&call->om->cache);
    call->om->current_line = call->st->line;
    if (oomgr_call_check_privilege(call, error_r) < 0)
        return OFC_DB_ERROR;
    return call->st->def->run(call, error_r) == 0 ? OFC_DB_OK : OFC_DB_ERROR;
}

int oomgr_execute(struct oomgr *om, struct oomgr_stmt *st)
{
    const struct oomgr_stmt_def *def = st->def;
    struct oomgr_call call;
    char *error = NULL;
    int rc = 0;

    om->current_line = st->line;
    if (def->priv != OOMGR_PRIV_NONE && om->session == NULL) {
        oomgr_error_at(om, st->line, "not logged in (connect USER/PASSWORD first)");
        return -1;
    }
    oomgr_call_init(&call, om, st);
    /* Yescrypt is slow on purpose: hash before the transaction holds any lock. */
    oomgr_stmts_hash(&st, 1, 1);

    if (def->flags & OOMGR_STMT_TX) {
        int tx = ofc_db_transaction(call.db, false, 0, run_in_transaction, &call, &error);
        if (tx != OFC_DB_OK) {
            oomgr_call_reset(&call);
            rc = -1;
        }
    } else {
        if (call.db != NULL && def->priv != OOMGR_PRIV_NONE &&
            ofc_db_ensure(call.db, NULL, 15000) < 0) {
            error = ofc_xasprintf("database unavailable: %s", ofc_db_error(call.db));
            rc = -1;
        } else if (oomgr_call_check_privilege(&call, &error) < 0 || def->run(&call, &error) < 0) {
            rc = -1;
        }
    }
    if (rc == 0) {
        oomgr_call_flush(&call);
        if (def->after != NULL) {
            /* Output and warnings so far are out; what after() adds follows. */
            rc = def->after(&call, &error);
            oomgr_call_flush(&call);
        }
    } else {
        /* Warnings a failed statement collected still explain something. */
        ofc_strbuf_reset(&call.log);
        oomgr_call_flush(&call);
    }
    if (rc < 0) {
        /* current_line: a handler may have pointed at the argument that failed. */
        oomgr_error_at(om, 0, "%s", error != NULL ? error : "statement failed");
        free(error);
    }
    oomgr_call_free(&call);
    return rc;
}

/* ---- help, exit ------------------------------------------------------------ */

static void help_one(struct oomgr_call *call, const struct oomgr_stmt_def *d)
{
    oomgr_out(call, "%s", d->syntax);
    oomgr_out(call, "    %s", d->summary);
    for (const struct oomgr_key *k = d->keys; k != NULL && k->name != NULL; k++)
        if (k->help != NULL)
            oomgr_out(call, "      %-12s %s", k->flags & OOMGR_KEY_ANY ? "NAME=VALUE" : k->name,
                      k->help);
}

static int run_help(struct oomgr_call *call, char **error_r)
{
    const char *verb = oomgr_arg(call->st, "verb");
    const char *object = oomgr_arg(call->st, "object");
    size_t t;

    if (verb == NULL) {
        oomgr_out(call, "Statements end with ';' and may span lines; keywords are not case");
        oomgr_out(call, "sensitive. \"help VERB [OBJECT];\" describes one statement.");
        oomgr_out(call, "%s", "");
        for (const struct oomgr_stmt_def *d = first_def(&t); d != NULL; d = next_def(&t, d))
            if (!(d->flags & OOMGR_STMT_HIDE))
                oomgr_out(call, "  %s", d->syntax);
        return 0;
    }
    int found = 0;
    for (const struct oomgr_stmt_def *d = first_def(&t); d != NULL; d = next_def(&t, d)) {
        if (strcasecmp(d->verb, verb) != 0)
            continue;
        if (object != NULL && (d->object == NULL || strcasecmp(d->object, object) != 0))
            continue;
        if (found++ > 0)
            oomgr_out(call, "%s", "");
        help_one(call, d);
    }
    if (found == 0) {
        *error_r = object != NULL
                       ? ofc_xasprintf("no statement '%s %s' (help; lists them)", verb, object)
                       : ofc_xasprintf("no statement '%s' (help; lists them)", verb);
        return -1;
    }
    return 0;
}

static int run_exit(struct oomgr_call *call, char **error_r)
{
    (void)error_r;
    call->om->quit = true;
    return 0;
}

static const struct oomgr_key help_keys[] = {
    {"verb", OOMGR_KEY_POSITIONAL, 0, 0, NULL, NULL},
    {"object", OOMGR_KEY_POSITIONAL, 0, 0, NULL, NULL},
    {NULL, 0, 0, 0, NULL, NULL},
};

static const struct oomgr_stmt_def general_stmts[] = {
    {"help", NULL, OOMGR_PRIV_NONE, OOMGR_STMT_EOL, help_keys, run_help, NULL,
     "help [VERB [OBJECT]];", "Lists the statements, or describes those of one verb."},
    {"exit", NULL, OOMGR_PRIV_NONE, OOMGR_STMT_EOL, NULL, run_exit, NULL, "exit | quit",
     "Ends the session (';' optional)."},
    {"quit", NULL, OOMGR_PRIV_NONE, OOMGR_STMT_EOL | OOMGR_STMT_HIDE, NULL, run_exit, NULL, "quit",
     "Ends the session (';' optional)."},
    {NULL, NULL, OOMGR_PRIV_NONE, 0, NULL, NULL, NULL, NULL, NULL},
};
