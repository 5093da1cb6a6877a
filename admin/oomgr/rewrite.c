/*
 * rewrite.c - insert, modify, delete and disp rewrite: the address rewrite
 * rules the inbound gateway applies to the envelope (rewrite_rule and
 * gateway_rewrite(), schema/008_gateway.sql).
 *
 * For each address the gateway takes the first rule that matches: the
 * rules of its own domain before the global ones (domain NULL), each
 * group by position (seq), then id. A pattern is a POSIX regular
 * expression matched without regard to case (PostgreSQL's ~*); the
 * replacement may use \1..\9 and \& as in regexp_replace(). A pattern
 * that does not compile would make every later message fail, so it is
 * compiled here, by the same engine, before anything is written.
 */
/* System. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Libraries. */
#include <libpq-fe.h>

/* libofc. */
#include "ofc_db.h"
#include "ofc_mem.h"

/* This program. */
#include "oomgr.h"

/* The limits of rewrite_rule's CHECK constraints, reported as such. */
#define MAX_TEXT 1000

/* The rule's pattern compiled by PostgreSQL, as rewrite_rule_check() does. */
static int check_pattern(struct oomgr_call *call, const char *pattern, char **error_r)
{
    if (pattern[0] == '\0' || strlen(pattern) > MAX_TEXT) {
        *error_r = ofc_xasprintf("pattern must be 1 to %d characters long", MAX_TEXT);
        return -1;
    }
    const char *const p[] = {pattern};
    PGresult *res = ofc_db_query(call->db, "SELECT '' ~* $1", 1, p);
    if (res == NULL) {
        const char *state = ofc_db_sqlstate(call->db);
        /* 2201B invalid_regular_expression: the administrator's mistake, said plainly. */
        if (state != NULL && strcmp(state, "2201B") == 0)
            *error_r = ofc_xasprintf("invalid pattern '%s': %s", pattern, ofc_db_error(call->db));
        else
            *error_r = ofc_xasprintf("cannot check the pattern: %s", ofc_db_error(call->db));
        return -1;
    }
    PQclear(res);
    return 0;
}

static int check_replacement(const char *replacement, char **error_r)
{
    if (strlen(replacement) > MAX_TEXT) {
        *error_r = ofc_xasprintf("replacement must be at most %d characters long", MAX_TEXT);
        return -1;
    }
    return 0;
}

/*
 * The id (decimal text in buf) of the domain named fqdn, or NULL in *id_r
 * for "" or "*": the rule then applies at every inbound gateway.
 */
static int find_domain(struct oomgr_call *call, const char *fqdn, char buf[24], const char **id_r,
                       char **error_r)
{
    *id_r = NULL;
    if (fqdn[0] == '\0' || strcmp(fqdn, "*") == 0)
        return 0;
    const char *const p[] = {fqdn};
    PGresult *res = ofc_db_query(call->db, "SELECT id FROM domain WHERE fqdn = lower($1)", 1, p);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot read the domains: %s", ofc_db_error(call->db));
        return -1;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        *error_r = ofc_xasprintf("no domain named '%s'", fqdn);
        return -1;
    }
    *id_r = oomgr_lltoa(buf, 24, ofc_db_value_ll(res, 0, 0, 0));
    PQclear(res);
    return 0;
}

/* The applies= value as stored ("RECIPIENT"), or NULL when not given. */
static const char *applies_to(const struct oomgr_stmt *st)
{
    const char *a = oomgr_arg(st, "applies");
    if (a == NULL)
        return NULL;
    if (strcasecmp(a, "sender") == 0)
        return "SENDER";
    if (strcasecmp(a, "both") == 0)
        return "BOTH";
    return "RECIPIENT";
}

/* "Inserted successfully (rule 7)." names the new rule: modify and delete need its id. */
static void log_done(struct oomgr_call *call, const char *done, const char *id, bool show_id)
{
    if (show_id)
        oomgr_out(call, "%s successfully (rule %s).", done, id);
    else
        oomgr_out(call, "%s successfully.", done);
    char *desc = oomgr_stmt_describe(call->st);
    oomgr_log_change(call, "%s (rule %s)", desc, id);
    free(desc);
}

/* ---- insert, modify, delete --------------------------------------------------- */

static int run_insert_rewrite(struct oomgr_call *call, char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    const char *pattern = oomgr_arg(st, "pattern");
    const char *replacement = oomgr_arg(st, "replacement");
    const char *domain = oomgr_arg(st, "domain");
    const char *description = oomgr_arg(st, "description");
    const char *domain_id = NULL;
    char dbuf[24];

    if (check_pattern(call, pattern, error_r) < 0 || check_replacement(replacement, error_r) < 0)
        return -1;
    if (domain != NULL && find_domain(call, domain, dbuf, &domain_id, error_r) < 0)
        return -1;
    const char *const p[] = {domain_id, applies_to(st), oomgr_arg(st, "position"),
                             pattern,   replacement,    description};
    PGresult *res = ofc_db_query(call->db,
                                 "INSERT INTO rewrite_rule"
                                 " (domain_id, applies_to, seq, pattern, replacement, description)"
                                 " VALUES ($1::integer, COALESCE($2, 'RECIPIENT'),"
                                 "         COALESCE($3::integer, 100), $4, $5, COALESCE($6, ''))"
                                 " RETURNING id",
                                 6, p);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot insert the rule: %s", ofc_db_error(call->db));
        return -1;
    }
    char *id = ofc_xstrdup(ofc_db_value(res, 0, 0));
    PQclear(res);
    log_done(call, "Inserted", id, true);
    free(id);
    return 0;
}

static int run_modify_rewrite(struct oomgr_call *call, char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    const char *id = oomgr_arg(st, "id");
    const char *pattern = oomgr_arg(st, "pattern");
    const char *replacement = oomgr_arg(st, "replacement");
    const char *domain = oomgr_arg(st, "domain");
    const char *domain_id = NULL;
    char dbuf[24];

    if (pattern == NULL && replacement == NULL && domain == NULL &&
        oomgr_arg(st, "applies") == NULL && oomgr_arg(st, "position") == NULL &&
        oomgr_arg(st, "description") == NULL) {
        *error_r = ofc_xasprintf("modify rewrite: nothing to change");
        return -1;
    }
    if (pattern != NULL && check_pattern(call, pattern, error_r) < 0)
        return -1;
    if (replacement != NULL && check_replacement(replacement, error_r) < 0)
        return -1;
    if (domain != NULL && find_domain(call, domain, dbuf, &domain_id, error_r) < 0)
        return -1;
    /* $2: whether domain= was given at all, since domain="" means "every gateway" (NULL). */
    const char *const p[] = {id,
                             domain != NULL ? "t" : "f",
                             domain_id,
                             applies_to(st),
                             oomgr_arg(st, "position"),
                             pattern,
                             replacement,
                             oomgr_arg(st, "description")};
    PGresult *res = ofc_db_query(call->db,
                                 "UPDATE rewrite_rule SET"
                                 " domain_id = CASE WHEN $2::boolean THEN $3::integer"
                                 "                  ELSE domain_id END,"
                                 " applies_to = COALESCE($4, applies_to),"
                                 " seq = COALESCE($5::integer, seq),"
                                 " pattern = COALESCE($6, pattern),"
                                 " replacement = COALESCE($7, replacement),"
                                 " description = COALESCE($8, description)"
                                 " WHERE id = $1::integer",
                                 8, p);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot modify rule %s: %s", id, ofc_db_error(call->db));
        return -1;
    }
    bool found = strcmp(PQcmdTuples(res), "0") != 0;
    PQclear(res);
    if (!found) {
        *error_r = ofc_xasprintf("no rewrite rule %s", id);
        return -1;
    }
    log_done(call, "Modified", id, false);
    return 0;
}

static int run_delete_rewrite(struct oomgr_call *call, char **error_r)
{
    const char *id = oomgr_arg(call->st, "id");
    const char *const p[] = {id};
    PGresult *res = ofc_db_query(call->db, "DELETE FROM rewrite_rule WHERE id = $1::integer", 1, p);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot delete rule %s: %s", id, ofc_db_error(call->db));
        return -1;
    }
    bool found = strcmp(PQcmdTuples(res), "0") != 0;
    PQclear(res);
    if (!found) {
        *error_r = ofc_xasprintf("no rewrite rule %s", id);
        return -1;
    }
    log_done(call, "Deleted", id, false);
    return 0;
}

/* ---- disp ------------------------------------------------------------------------ */

static const struct oomgr_column rule_columns[] = {
    {"Id", OOMGR_RIGHT},         {"Domain", OOMGR_LEFT},  {"Position", OOMGR_RIGHT},
    {"Applies", OOMGR_LEFT},     {"Pattern", OOMGR_LEFT}, {"Replacement", OOMGR_LEFT},
    {"Description", OOMGR_LEFT},
};

static int run_disp_rewrite(struct oomgr_call *call, char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    /* In the order a gateway tries them: per domain, its own rules first, then the global ones. */
    PGresult *res = ofc_db_query(call->db,
                                 "SELECT r.id, COALESCE(upper(d.fqdn), '*'), r.seq, r.applies_to,"
                                 "       r.pattern, r.replacement, r.description"
                                 "  FROM rewrite_rule r LEFT JOIN domain d ON d.id = r.domain_id"
                                 " ORDER BY r.domain_id IS NULL, d.fqdn, r.seq, r.id",
                                 0, NULL);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot read the rewrite rules: %s", ofc_db_error(call->db));
        return -1;
    }
    struct oomgr_table *t =
        oomgr_table_new(rule_columns, sizeof(rule_columns) / sizeof(rule_columns[0]));
    oomgr_table_add_result(t, res);
    PQclear(res);
    oomgr_table_print(t, oomgr_stmt_format(st), &call->out);
    oomgr_table_free(&t);
    return 0;
}

/* ---- the table ------------------------------------------------------------------ */

#define KEY_END                                                                                    \
    {                                                                                              \
        NULL, 0, 0, 0, NULL, NULL                                                                  \
    }
#define KEY_ID                                                                                     \
    {                                                                                              \
        "id", OOMGR_KEY_INT | OOMGR_KEY_REQUIRED | OOMGR_KEY_POSITIONAL, 1, 2147483647, NULL,      \
            "the rule's Id (disp rewrite; shows it)"                                               \
    }
#define KEY_APPLIES                                                                                \
    {                                                                                              \
        "applies", 0, 0, 0, "recipient|sender|both",                                               \
            "which envelope addresses: recipient (the default), sender or both"                    \
    }
#define KEY_POSITION                                                                               \
    {                                                                                              \
        "position", OOMGR_KEY_INT, 0, 2147483647, NULL,                                            \
            "lower positions are tried first (default 100)"                                        \
    }
#define KEY_DOMAIN                                                                                 \
    {                                                                                              \
        "domain", 0, 0, 0, NULL,                                                                   \
            "only at the inbound gateway of this domain (\"\" or *: every one)"                    \
    }
#define KEY_DESCRIPTION                                                                            \
    {                                                                                              \
        "description", 0, 0, 0, NULL, "free text"                                                  \
    }

static const struct oomgr_key insert_keys[] = {
    {"pattern", OOMGR_KEY_REQUIRED, 0, 0, NULL,
     "POSIX regular expression, any case: ^old-(.*)@acme\\.com$"},
    {"replacement", OOMGR_KEY_REQUIRED, 0, 0, NULL, "the new address; \\1..\\9 and \\& as matched"},
    KEY_APPLIES,
    KEY_POSITION,
    KEY_DOMAIN,
    KEY_DESCRIPTION,
    KEY_END,
};
static const struct oomgr_key modify_keys[] = {
    KEY_ID,
    {"pattern", 0, 0, 0, NULL, "a new pattern"},
    {"replacement", 0, 0, 0, NULL, "a new replacement"},
    KEY_APPLIES,
    KEY_POSITION,
    KEY_DOMAIN,
    KEY_DESCRIPTION,
    KEY_END,
};
static const struct oomgr_key delete_keys[] = {
    KEY_ID,
    KEY_END,
};
static const struct oomgr_key disp_keys[] = {
    OOMGR_KEY_FORMAT,
    KEY_END,
};

const struct oomgr_stmt_def oomgr_rewrite_stmts[] = {
    {"insert", "rewrite", OOMGR_PRIV_NODE, OOMGR_STMT_TX, insert_keys, run_insert_rewrite, NULL,
     "insert rewrite pattern=REGEX replacement=TEXT [applies=recipient|sender|both] "
     "[position=N] [domain=FQDN] [description=TEXT];",
     "Adds an address rewrite rule for the inbound gateway."},
    {"modify", "rewrite", OOMGR_PRIV_NODE, OOMGR_STMT_TX, modify_keys, run_modify_rewrite, NULL,
     "modify rewrite id=N [pattern=REGEX] [replacement=TEXT] [applies=...] [position=N] "
     "[domain=FQDN] [description=TEXT];",
     "Changes a rewrite rule."},
    {"delete", "rewrite", OOMGR_PRIV_NODE, OOMGR_STMT_TX, delete_keys, run_delete_rewrite, NULL,
     "delete rewrite id=N;", "Removes a rewrite rule."},
    {"disp", "rewrite", OOMGR_PRIV_NODE, OOMGR_STMT_TX, disp_keys, run_disp_rewrite, NULL,
     "disp rewrite [format=table|csv];", "Shows the rewrite rules in the order they are tried."},
    {NULL, NULL, OOMGR_PRIV_NONE, 0, NULL, NULL, NULL, NULL, NULL},
};
