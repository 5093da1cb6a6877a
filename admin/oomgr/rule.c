/*
 * rule.c - server-side rules, auto-reply and auto-forward of an account
 * (schema 011_rules.sql; the Postman applies them: postman/rules.c).
 *
 *   insert rule person=NAME [position=N] CONDITIONS action=A [ARGS] [stop=yes];
 *   modify rule person=NAME position=N [CONDITIONS] [action=A] [ARGS] [stop=..];
 *   delete rule person=NAME position=N;
 *   disp rule person=NAME;
 *   set autoreply person=NAME on|off [subject=S] [body=B] [days=N];
 *   set autoforward person=NAME address=A[,B] [keepcopy=yes|no] | off;
 *
 * Like every directory statement, they need an administrator of the
 * account's domain (oomgr_dir_target()).
 */
/* System. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* libofc. */
#include "dir_object.h"
#include "ofc_db.h"
#include "ofc_mem.h"
#include "ofc_pgarray.h"

/* This program. */
#include "oomgr.h"

/* The person the statement names: its account id in *id_r, address in *address_r (heap). */
static int find_person(struct oomgr_call *call, long long *id_r, char **address_r, char **error_r)
{
    struct oomgr_dir_target t;
    struct dir_object obj;
    if (oomgr_dir_target(call, "person", &t, error_r) < 0)
        return -1;
    int rc = oomgr_dir_find(call, &t, DIR_CLASS_PERSON, &obj, error_r);
    oomgr_dir_target_clear(&t);
    if (rc < 0)
        return -1;
    *id_r = obj.id;
    *address_r = ofc_xstrdup(obj.address);
    dir_object_clear(&obj);
    return 0;
}

static int query_failed(struct oomgr_call *call, const char *what, char **error_r)
{
    *error_r = ofc_xasprintf("cannot %s: %s", what, ofc_db_error(call->db));
    return -1;
}

/* A size argument (larger=, smaller=) as decimal bytes in buf; NULL when absent. */
static int size_arg(struct oomgr_call *call, const char *key, char *buf, size_t size,
                    const char **value_r, char **error_r)
{
    const char *v = oomgr_arg(call->st, key);
    long long bytes = 0;
    *value_r = NULL;
    if (v == NULL || v[0] == '\0')
        return 0;
    if (oomgr_size_parse(v, &bytes) < 0 || bytes < 0) {
        call->om->current_line = oomgr_arg_line(call->st, key);
        *error_r = ofc_xasprintf("%s must be a size such as 100K or 2M, not '%s'", key, v);
        return -1;
    }
    *value_r = oomgr_lltoa(buf, size, bytes);
    return 0;
}

/* header="Name: pattern" split into its name (heap) and pattern (heap). */
static int header_arg(struct oomgr_call *call, char **name_r, char **pattern_r, char **error_r)
{
    const char *v = oomgr_arg(call->st, "header");
    *name_r = *pattern_r = NULL;
    if (v == NULL || v[0] == '\0')
        return 0;
    const char *colon = strchr(v, ':');
    if (colon == NULL || colon == v || colon[1] == '\0') {
        call->om->current_line = oomgr_arg_line(call->st, "header");
        *error_r = ofc_xasprintf("header must be \"Name: pattern\", not '%s'", v);
        return -1;
    }
    *name_r = ofc_xstrndup(v, (size_t)(colon - v));
    const char *p = colon + 1;
    while (*p == ' ' || *p == '\t')
        p++;
    *pattern_r = ofc_xstrdup(p);
    return 0;
}

/* The column each simple key sets; "" given clears it (modify). */
static const struct {
    const char *key, *column;
} text_keys[] = {
    {"from", "from_pattern"}, {"to", "to_pattern"},   {"subject", "subject_pattern"},
    {"folder", "folder"},     {"address", "address"}, {"template", "template"},
    {"flag", "flag"},
};
#define NTEXT (sizeof(text_keys) / sizeof(text_keys[0]))

static const char *nullif_empty(const char *s)
{
    return s == NULL || s[0] == '\0' ? NULL : s;
}

/*
 * insert and modify share this: every column from the arguments, then
 * one UPSERT-like statement each. For modify, an absent argument keeps
 * the column (COALESCE of a flag), "" clears it.
 */
static int write_rule(struct oomgr_call *call, bool insert, char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    long long account = 0;
    char *address = NULL, *hname = NULL, *hpat = NULL;
    char sacct[24], spos[24], slarger[24], ssmaller[24];
    const char *larger = NULL, *smaller = NULL;
    int rc = -1;

    if (find_person(call, &account, &address, error_r) < 0)
        return -1;
    if (size_arg(call, "larger", slarger, sizeof(slarger), &larger, error_r) < 0 ||
        size_arg(call, "smaller", ssmaller, sizeof(ssmaller), &smaller, error_r) < 0 ||
        header_arg(call, &hname, &hpat, error_r) < 0)
        goto out;
    call->om->current_line = st->line;
    (void)oomgr_lltoa(sacct, sizeof(sacct), account);
    const char *stop = oomgr_arg(st, "stop");
    const char *stopv = stop == NULL ? NULL : strcasecmp(stop, "yes") == 0 ? "true" : "false";
    const char *enabled = oomgr_arg(st, "enabled");
    const char *enabledv = enabled == NULL                   ? NULL
                           : strcasecmp(enabled, "yes") == 0 ? "true"
                                                             : "false";
    if (insert) {
        long long pos = oomgr_arg_int(st, "position", 0);
        if (pos == 0) {
            const char *p[] = {sacct};
            PGresult *res = ofc_db_query(call->db,
                                         "SELECT COALESCE(max(position), 0) + 1 FROM"
                                         " ofc.account_rule WHERE account_id = $1::bigint",
                                         1, p);
            if (res == NULL) {
                rc = query_failed(call, "read the rules", error_r);
                goto out;
            }
            pos = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
            PQclear(res);
        } else {
            /* Make room: the rules at and after it move down one (two steps: the key is unique). */
            const char *p[] = {sacct, oomgr_lltoa(spos, sizeof(spos), pos)};
            if (ofc_db_exec(call->db,
                            "UPDATE ofc.account_rule SET position = position + 1000000"
                            " WHERE account_id = $1::bigint AND position >= $2::int",
                            2, p) < 0 ||
                ofc_db_exec(call->db,
                            "UPDATE ofc.account_rule SET position = position - 999999"
                            " WHERE account_id = $1::bigint AND position > 1000000",
                            1, p) < 0) {
                rc = query_failed(call, "renumber the rules", error_r);
                goto out;
            }
        }
        (void)oomgr_lltoa(spos, sizeof(spos), pos);
        const char *p[] = {
            sacct,
            spos,
            nullif_empty(oomgr_arg(st, "from")),
            nullif_empty(oomgr_arg(st, "to")),
            nullif_empty(oomgr_arg(st, "subject")),
            hname,
            hpat,
            larger,
            smaller,
            oomgr_arg(st, "action"),
            nullif_empty(oomgr_arg(st, "folder")),
            nullif_empty(oomgr_arg(st, "address")),
            nullif_empty(oomgr_arg(st, "template")),
            nullif_empty(oomgr_arg(st, "flag")),
            stopv != NULL ? stopv : "false",
            enabledv != NULL ? enabledv : "true",
        };
        if (ofc_db_exec(call->db,
                        "INSERT INTO ofc.account_rule (account_id, position, from_pattern,"
                        " to_pattern, subject_pattern, header_name, header_pattern, larger,"
                        " smaller, action, folder, address, template, flag, stop, enabled)"
                        " VALUES ($1::bigint, $2::int, $3, $4, $5, $6, $7, $8::bigint,"
                        " $9::bigint, lower($10), $11, $12, $13, $14, $15::boolean, $16::boolean)",
                        16, p) < 0) {
            rc = query_failed(call,
                              "insert the rule (fileinto needs folder=, forward address=,"
                              " reply template=, flag flag=)",
                              error_r);
            goto out;
        }
    } else {
        (void)oomgr_lltoa(spos, sizeof(spos), oomgr_arg_int(st, "position", 0));
        /* $n given (flag "t") replaces the column, else it stays. */
        const char *p[3 + 2 * (NTEXT + 6)];
        size_t np = 0;
        struct ofc_strbuf sql = OFC_STRBUF_INIT;
        ofc_strbuf_init(&sql);
        ofc_strbuf_puts(&sql, "UPDATE ofc.account_rule SET position = position");
        p[np++] = sacct;
        p[np++] = spos;
        for (size_t i = 0; i < NTEXT; i++) {
            if (!oomgr_arg_given(st, text_keys[i].key))
                continue;
            p[np++] = nullif_empty(oomgr_arg(st, text_keys[i].key));
            ofc_strbuf_printf(&sql, ", %s = $%zu", text_keys[i].column, np);
        }
        if (oomgr_arg_given(st, "header")) {
            p[np++] = hname;
            ofc_strbuf_printf(&sql, ", header_name = $%zu", np);
            p[np++] = hpat;
            ofc_strbuf_printf(&sql, ", header_pattern = $%zu", np);
        }
        if (oomgr_arg_given(st, "larger")) {
            p[np++] = larger;
            ofc_strbuf_printf(&sql, ", larger = $%zu::bigint", np);
        }
        if (oomgr_arg_given(st, "smaller")) {
            p[np++] = smaller;
            ofc_strbuf_printf(&sql, ", smaller = $%zu::bigint", np);
        }
        if (oomgr_arg_given(st, "action")) {
            p[np++] = oomgr_arg(st, "action");
            ofc_strbuf_printf(&sql, ", action = lower($%zu)", np);
        }
        if (stopv != NULL) {
            p[np++] = stopv;
            ofc_strbuf_printf(&sql, ", stop = $%zu::boolean", np);
        }
        if (enabledv != NULL) {
            p[np++] = enabledv;
            ofc_strbuf_printf(&sql, ", enabled = $%zu::boolean", np);
        }
        ofc_strbuf_puts(&sql, " WHERE account_id = $1::bigint AND position = $2::int");
        PGresult *res = ofc_db_query(call->db, sql.data, (int)np, p);
        ofc_strbuf_free(&sql);
        if (res == NULL) {
            rc = query_failed(call, "modify the rule", error_r);
            goto out;
        }
        bool found = strcmp(PQcmdTuples(res), "1") == 0;
        PQclear(res);
        if (!found) {
            *error_r = ofc_xasprintf("%s has no rule at position %s", address, spos);
            goto out;
        }
    }
    oomgr_dir_done(call, insert ? "Inserted" : "Modified", address);
    rc = 0;
out:
    free(hname);
    free(hpat);
    free(address);
    return rc;
}

static int run_insert_rule(struct oomgr_call *call, char **error_r)
{
    return write_rule(call, true, error_r);
}

static int run_modify_rule(struct oomgr_call *call, char **error_r)
{
    return write_rule(call, false, error_r);
}

static int run_delete_rule(struct oomgr_call *call, char **error_r)
{
    long long account = 0;
    char *address = NULL;
    char sacct[24], spos[24];
    if (find_person(call, &account, &address, error_r) < 0)
        return -1;
    const char *p[] = {oomgr_lltoa(sacct, sizeof(sacct), account),
                       oomgr_lltoa(spos, sizeof(spos), oomgr_arg_int(call->st, "position", 0))};
    PGresult *res = ofc_db_query(call->db,
                                 "DELETE FROM ofc.account_rule"
                                 " WHERE account_id = $1::bigint AND position = $2::int",
                                 2, p);
    int rc = -1;
    if (res == NULL)
        rc = query_failed(call, "delete the rule", error_r);
    else if (strcmp(PQcmdTuples(res), "1") != 0)
        *error_r = ofc_xasprintf("%s has no rule at position %s", address, spos);
    else {
        oomgr_dir_done(call, "Deleted", address);
        rc = 0;
    }
    PQclear(res);
    free(address);
    return rc;
}

static int run_disp_rule(struct oomgr_call *call, char **error_r)
{
    long long account = 0;
    char *address = NULL;
    char sacct[24];
    if (find_person(call, &account, &address, error_r) < 0)
        return -1;
    free(address);
    const char *p[] = {oomgr_lltoa(sacct, sizeof(sacct), account)};
    PGresult *res = ofc_db_query(
        call->db,
        "SELECT position::text, CASE WHEN enabled THEN 'yes' ELSE 'no' END,"
        " concat_ws(' ', 'from=' || from_pattern, 'to=' || to_pattern,"
        "  'subject=' || subject_pattern, 'header=' || header_name || ': ' || header_pattern,"
        "  'larger=' || larger, 'smaller=' || smaller),"
        " action, coalesce(folder, address, template, flag, ''),"
        " CASE WHEN stop THEN 'yes' ELSE 'no' END"
        " FROM ofc.account_rule WHERE account_id = $1::bigint ORDER BY position",
        1, p);
    if (res == NULL)
        return query_failed(call, "read the rules", error_r);
    static const struct oomgr_column cols[] = {
        {"POSITION", OOMGR_RIGHT}, {"ENABLED", OOMGR_LEFT},  {"CONDITIONS", OOMGR_LEFT},
        {"ACTION", OOMGR_LEFT},    {"ARGUMENT", OOMGR_LEFT}, {"STOP", OOMGR_LEFT},
    };
    struct oomgr_table *tab = oomgr_table_new(cols, sizeof(cols) / sizeof(cols[0]));
    oomgr_table_add_result(tab, res);
    PQclear(res);
    oomgr_table_print(tab, oomgr_stmt_format(call->st), &call->out);
    oomgr_table_free(&tab);
    return 0;
}

static int run_set_autoreply(struct oomgr_call *call, char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    long long account = 0;
    char *address = NULL;
    char sacct[24], sdays[24];
    if (find_person(call, &account, &address, error_r) < 0)
        return -1;
    bool on = strcasecmp(oomgr_arg(st, "state"), "on") == 0;
    const char *days = oomgr_arg_given(st, "days")
                           ? oomgr_lltoa(sdays, sizeof(sdays), oomgr_arg_int(st, "days", 7))
                           : NULL;
    const char *p[] = {oomgr_lltoa(sacct, sizeof(sacct), account), on ? "true" : "false",
                       oomgr_arg(st, "subject"), oomgr_arg(st, "body"), days};
    /* Arguments not given keep their value; a new reply starts from the defaults. */
    int rc = ofc_db_exec(call->db,
                         "INSERT INTO ofc.autoreply AS a (account_id, enabled, subject, body, days)"
                         " VALUES ($1::bigint, $2::boolean, coalesce($3, ''), coalesce($4, ''),"
                         " coalesce($5::int, 7))"
                         " ON CONFLICT (account_id) DO UPDATE SET enabled = $2::boolean,"
                         " subject = coalesce($3, a.subject), body = coalesce($4, a.body),"
                         " days = coalesce($5::int, a.days)",
                         5, p);
    /* Turned on again: everybody gets the (new) message once more. */
    if (rc == 0 && on)
        rc = ofc_db_exec(call->db, "DELETE FROM ofc.autoreply_sent WHERE account_id = $1::bigint",
                         1, p);
    if (rc < 0) {
        free(address);
        return query_failed(call, "set the auto-reply", error_r);
    }
    oomgr_dir_done(call, "Modified", address);
    free(address);
    return 0;
}

static int run_set_autoforward(struct oomgr_call *call, char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    long long account = 0;
    char *address = NULL;
    char sacct[24];
    const char *state = oomgr_arg(st, "state");
    bool off = state != NULL && strcasecmp(state, "off") == 0;
    const char *addrs = oomgr_arg(st, "address");
    if (!off && (addrs == NULL || addrs[0] == '\0')) {
        *error_r = ofc_xstrdup("set autoforward: give address=ADDRESS[,ADDRESS...] or off");
        return -1;
    }
    if (find_person(call, &account, &address, error_r) < 0)
        return -1;
    (void)oomgr_lltoa(sacct, sizeof(sacct), account);
    int rc;
    if (off) {
        const char *p[] = {sacct};
        rc = ofc_db_exec(call->db, "DELETE FROM ofc.autoforward WHERE account_id = $1::bigint", 1,
                         p);
    } else {
        const char *keep = oomgr_arg(st, "keepcopy");
        const char *p[] = {sacct, addrs,
                           keep == NULL || strcasecmp(keep, "yes") == 0 ? "true" : "false"};
        rc = ofc_db_exec(call->db,
                         "INSERT INTO ofc.autoforward (account_id, addresses, keep_copy)"
                         " SELECT $1::bigint, array_agg(btrim(a)), $3::boolean"
                         " FROM unnest(string_to_array($2, ',')) AS a WHERE btrim(a) <> ''"
                         " ON CONFLICT (account_id) DO UPDATE SET addresses = EXCLUDED.addresses,"
                         " keep_copy = EXCLUDED.keep_copy",
                         3, p);
    }
    if (rc < 0) {
        free(address);
        return query_failed(call, "set the auto-forward", error_r);
    }
    oomgr_dir_done(call, "Modified", address);
    free(address);
    return 0;
}

#define KEY_END                                                                                    \
    {                                                                                              \
        NULL, 0, 0, 0, NULL, NULL                                                                  \
    }
#define KEY(name, flags, help)                                                                     \
    {                                                                                              \
        name, flags, 0, 0, NULL, help                                                              \
    }
#define KEY_PERSON                                                                                 \
    KEY("person", OOMGR_KEY_REQUIRED, "the account (NAME or NAME@FQDN)"),                          \
        KEY("domain", 0, "work in this domain instead of the session's")
#define KEY_YESNO(name, help)                                                                      \
    {                                                                                              \
        name, 0, 0, 0, "yes|no", help                                                              \
    }
#define RULE_KEYS                                                                                  \
    KEY("from", 0, "sender (From: or envelope) contains / matches the glob"),                      \
        KEY("to", 0, "To: or Cc: contains / matches"), KEY("subject", 0, "Subject: contains"),     \
        KEY("header", 0, "\"Name: pattern\": that header field contains / matches"),               \
        KEY("larger", 0, "the message is larger than SIZE (100K, 2M)"),                            \
        KEY("smaller", 0, "the message is smaller than SIZE"),                                     \
        KEY("folder", 0, "fileinto: the folder"), KEY("address", 0, "forward: the address"),       \
        KEY("template", 0, "reply: the template's name"),                                          \
        KEY("flag", 0, "flag: \\Flagged, \\Seen, ... or a keyword"),                               \
        KEY_YESNO("stop", "no later rule when this one matches"),                                  \
        KEY_YESNO("enabled", "yes (the default) or no")

static const struct oomgr_key insert_rule_keys[] = {
    KEY_PERSON,
    {"position", OOMGR_KEY_INT, 1, 100000, NULL, "where (default: after the last)"},
    {"action", OOMGR_KEY_REQUIRED, 0, 0, "fileinto|forward|reply|discard|flag", "what to do"},
    RULE_KEYS,
    KEY_END,
};

static const struct oomgr_key modify_rule_keys[] = {
    KEY_PERSON,
    {"position", OOMGR_KEY_INT | OOMGR_KEY_REQUIRED, 1, 100000, NULL, "the rule"},
    {"action", 0, 0, 0, "fileinto|forward|reply|discard|flag", "what to do"},
    RULE_KEYS,
    KEY_END,
};

static const struct oomgr_key delete_rule_keys[] = {
    KEY_PERSON,
    {"position", OOMGR_KEY_INT | OOMGR_KEY_REQUIRED, 1, 100000, NULL, "the rule"},
    KEY_END,
};

static const struct oomgr_key disp_rule_keys[] = {
    KEY_PERSON,
    OOMGR_KEY_FORMAT,
    KEY_END,
};

static const struct oomgr_key set_autoreply_keys[] = {
    KEY_PERSON,
    {"state", OOMGR_KEY_REQUIRED | OOMGR_KEY_POSITIONAL, 0, 0, "on|off", "on or off"},
    KEY("subject", 0, "the reply's subject (default: Re: <subject>)"),
    KEY("body", 0, "the reply's text"),
    {"days", OOMGR_KEY_INT, 1, 3650, NULL, "at most one reply per sender per N days (7)"},
    KEY_END,
};

static const struct oomgr_key set_autoforward_keys[] = {
    KEY_PERSON,
    {"state", OOMGR_KEY_POSITIONAL, 0, 0, "off", "off: stop forwarding"},
    KEY("address", 0, "forward to these addresses (comma-separated)"),
    KEY_YESNO("keepcopy", "also deliver to the account (yes, the default) or not"),
    KEY_END,
};

#define RULE_FLAGS (OOMGR_STMT_TX | OOMGR_STMT_BATCH)

/* clang-format off */
const struct oomgr_stmt_def oomgr_rule_stmts[] = {
    {"insert", "rule", OOMGR_PRIV_LOGIN, RULE_FLAGS, insert_rule_keys, run_insert_rule, NULL,
     "insert rule person=NAME [position=N] [from=P] [to=P] [subject=P] [header=\"Name: P\"] "
     "[larger=SIZE] [smaller=SIZE] action=fileinto|forward|reply|discard|flag [folder=F] "
     "[address=A] [template=T] [flag=F] [stop=yes|no] [enabled=yes|no] [domain=FQDN];",
     "Adds a server-side rule to an account."},
    {"modify", "rule", OOMGR_PRIV_LOGIN, RULE_FLAGS, modify_rule_keys, run_modify_rule, NULL,
     "modify rule person=NAME position=N [from=P] ... [action=A] ... [stop=yes|no] "
     "[enabled=yes|no];",
     "Changes a rule; KEY=\"\" clears a condition."},
    {"delete", "rule", OOMGR_PRIV_LOGIN, RULE_FLAGS, delete_rule_keys, run_delete_rule, NULL,
     "delete rule person=NAME position=N;", "Removes a rule."},
    {"disp", "rule", OOMGR_PRIV_LOGIN, RULE_FLAGS, disp_rule_keys, run_disp_rule, NULL,
     "disp rule person=NAME [format=table|csv];", "Shows an account's rules in order."},
    {"set", "autoreply", OOMGR_PRIV_LOGIN, RULE_FLAGS, set_autoreply_keys, run_set_autoreply,
     NULL, "set autoreply person=NAME on|off [subject=S] [body=TEXT] [days=N];",
     "Turns an account's vacation reply on or off."},
    {"set", "autoforward", OOMGR_PRIV_LOGIN, RULE_FLAGS, set_autoforward_keys,
     run_set_autoforward, NULL,
     "set autoforward person=NAME address=A[,B...] [keepcopy=yes|no] | off;",
     "Forwards an account's mail elsewhere, with or without a copy."},
    {NULL, NULL, OOMGR_PRIV_NONE, 0, NULL, NULL, NULL, NULL, NULL},
};
/* clang-format on */
