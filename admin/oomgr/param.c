/*
 * param.c - process parameters: set, reset and disp.
 *
 * Each process type has a default for each of its parameters; an instance
 * is "tied to the default" for a parameter until it gets an override of
 * its own. So `set param` with instance=N writes an override, and without
 * it changes the default, which every instance still tied to it follows;
 * `reset param` drops an override, tying the instance to the default
 * again. Running processes see changes at their next refresh.
 *
 * Values are checked here with the schema's own function
 * (parameter_value_allowed), to say in one line what is allowed; the
 * schema's trigger and constraint remain the authority.
 */
/* System. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Libraries. */
#include <libpq-fe.h>

/* libofc. */
#include "ofc_db.h"
#include "ofc_mem.h"

/* This program. */
#include "oomgr.h"

/* A parameter's definition for one type. */
struct param_def {
    char *name; /* canonical spelling ("HeartbeatInterval") */
    char *value_type;
    char *default_value;
    char *allowed; /* "a number from 1 to 3600" */
};

static void param_def_clear(struct param_def *d)
{
    OFC_FREE(d->name);
    OFC_FREE(d->value_type);
    OFC_FREE(d->default_value);
    OFC_FREE(d->allowed);
}

/* What the value of a parameter may be, in words. */
static char *describe_allowed(const char *vtype, const char *lo, const char *hi)
{
    if (strcmp(vtype, "INT") == 0) {
        if (lo != NULL && hi != NULL)
            return ofc_xasprintf("a whole number from %s to %s", lo, hi);
        if (lo != NULL)
            return ofc_xasprintf("a whole number of at least %s", lo);
        if (hi != NULL)
            return ofc_xasprintf("a whole number of at most %s", hi);
        return ofc_xstrdup("a whole number");
    }
    if (strcmp(vtype, "BOOL") == 0)
        return ofc_xstrdup("1/0, true/false, yes/no or on/off");
    if (strcmp(vtype, "LOGLEVEL") == 0)
        return ofc_xstrdup("error, warn, info, debug or trace");
    return ofc_xstrdup("any text");
}

/*
 * Looks up parameter `name` (any case) of `type`; when value is not NULL,
 * also checks it. Returns 0, or -1 with a message.
 */
static int find_param(struct oomgr_call *call, const char *type, const char *name,
                      const char *value, struct param_def *d, char **error_r)
{
    const char *const p[] = {type, name, value != NULL ? value : ""};
    PGresult *res =
        ofc_db_query(call->db,
                     "SELECT name, value_type, default_value, min_value, max_value,"
                     "       parameter_value_allowed(value_type, $3, min_value, max_value,"
                     "                               allowed_values),"
                     "       array_to_string(allowed_values, ', ')"
                     "  FROM process_type_parameter"
                     " WHERE type = $1 AND lower(name) = lower($2)",
                     3, p);
    memset(d, 0, sizeof(*d));
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot read the parameters: %s", ofc_db_error(call->db));
        return -1;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        *error_r = ofc_xasprintf("unknown parameter '%s' for %s", name, type);
        return -1;
    }
    d->name = ofc_xstrdup(ofc_db_value(res, 0, 0));
    d->value_type = ofc_xstrdup(ofc_db_value(res, 0, 1));
    d->default_value = ofc_xstrdup(ofc_db_value(res, 0, 2));
    const char *choices = ofc_db_value(res, 0, 6);
    d->allowed = choices != NULL ? ofc_xasprintf("one of: %s", choices)
                                 : describe_allowed(d->value_type, ofc_db_value(res, 0, 3),
                                                    ofc_db_value(res, 0, 4));
    const char *valid = ofc_db_value(res, 0, 5);
    bool ok = valid != NULL && valid[0] == 't';
    PQclear(res);
    if (value != NULL && !ok) {
        *error_r = ofc_xasprintf("invalid value '%s' for parameter %s of %s (%s)", value, d->name,
                                 type, d->allowed);
        param_def_clear(d);
        return -1;
    }
    return 0;
}

/* The process type and, when instance=N was given, the instance's id (else 0). */
static int param_target(struct oomgr_call *call, char **type_r, long long *id_r, char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    *id_r = 0;
    if (oomgr_process_type(call, oomgr_arg(st, "process"), type_r, NULL, error_r) < 0)
        return -1;
    long long instance = oomgr_arg_int(st, "instance", 0);
    if (instance > 0 && oomgr_process_instance(call, *type_r, instance, id_r, error_r) < 0) {
        OFC_FREE(*type_r);
        return -1;
    }
    return 0;
}

/* A database refusal of a value (the trigger, a constraint) as one line. */
static char *write_error(struct oomgr_call *call, const char *what)
{
    /* check_violation: the schema's own words already name value and parameter. */
    if (strcmp(ofc_db_sqlstate(call->db), "23514") == 0)
        return ofc_xstrdup(ofc_db_error(call->db));
    return ofc_xasprintf("cannot set %s: %s", what, ofc_db_error(call->db));
}

static int run_set_param(struct oomgr_call *call, char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    char *type = NULL;
    long long id = 0, instance = oomgr_arg_int(st, "instance", 0);
    char idbuf[24], node[24];
    int count = 0;

    if (param_target(call, &type, &id, error_r) < 0)
        return -1;
    (void)oomgr_lltoa(node, sizeof(node), call->om->session->node_id);
    for (size_t i = 0; i < st->nargs; i++) {
        const struct oomgr_arg *a = &st->args[i];
        struct param_def d;
        if (!(a->spec->flags & OOMGR_KEY_ANY))
            continue;
        call->om->current_line = a->line;
        if (find_param(call, type, a->key, a->value, &d, error_r) < 0)
            goto fail;
        count++;
        if (id > 0) {
            const char *const p[] = {oomgr_lltoa(idbuf, sizeof(idbuf), id), type, d.name, a->value};
            if (ofc_db_exec(call->db,
                            "INSERT INTO process_parameter (process_id, type, name, value)"
                            " VALUES ($1::integer, $2, $3, $4)"
                            " ON CONFLICT (process_id, name) DO UPDATE SET value = EXCLUDED.value",
                            4, p) < 0) {
                *error_r = write_error(call, d.name);
                param_def_clear(&d);
                goto fail;
            }
            oomgr_out(call, "Parameter %s of %s instance %lld set to %s.", d.name, type, instance,
                      a->value);
            oomgr_log_change(call, "set param %s=%s for %s instance %lld", d.name, a->value, type,
                             instance);
        } else {
            const char *const p[] = {type, d.name, a->value, node};
            PGresult *res =
                ofc_db_query(call->db,
                             "WITH changed AS (UPDATE process_type_parameter SET default_value = $3"
                             "                  WHERE type = $1 AND name = $2 RETURNING type, name)"
                             " SELECT count(*) FROM process p, changed c"
                             "  WHERE p.type = c.type AND p.node_id = $4::integer"
                             "    AND NOT EXISTS (SELECT 1 FROM process_parameter o"
                             "                     WHERE o.process_id = p.id AND o.name = c.name)",
                             4, p);
            if (res == NULL) {
                *error_r = write_error(call, d.name);
                param_def_clear(&d);
                goto fail;
            }
            long long tied = ofc_db_value_ll(res, 0, 0, 0);
            PQclear(res);
            oomgr_out(call, "Default of %s for %s set to %s (%lld instance%s tied to it).", d.name,
                      type, a->value, tied, tied == 1 ? "" : "s");
            oomgr_log_change(call, "set param %s=%s for %s (default)", d.name, a->value, type);
        }
        param_def_clear(&d);
    }
    call->om->current_line = st->line;
    if (count == 0) {
        *error_r = ofc_xstrdup("set param: no NAME=VALUE given (disp param process=TYPE; "
                               "lists the names)");
        goto fail;
    }
    free(type);
    return 0;
fail:
    free(type);
    return -1;
}

static int run_reset_param(struct oomgr_call *call, char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    char *type = NULL;
    long long id = 0;
    char idbuf[24];
    struct param_def d;

    if (param_target(call, &type, &id, error_r) < 0)
        return -1;
    if (find_param(call, type, oomgr_arg(st, "name"), NULL, &d, error_r) < 0) {
        free(type);
        return -1;
    }
    const char *const p[] = {oomgr_lltoa(idbuf, sizeof(idbuf), id), d.name};
    int rc = ofc_db_exec(
        call->db, "DELETE FROM process_parameter WHERE process_id = $1::integer AND name = $2", 2,
        p);
    if (rc < 0) {
        *error_r = ofc_xasprintf("cannot reset %s: %s", d.name, ofc_db_error(call->db));
    } else {
        long long instance = oomgr_arg_int(st, "instance", 0);
        oomgr_out(call, "Parameter %s of %s instance %lld is tied to the default (%s).", d.name,
                  type, instance, d.default_value);
        oomgr_log_change(call, "reset param %s for %s instance %lld", d.name, type, instance);
    }
    param_def_clear(&d);
    free(type);
    return rc;
}

static const struct oomgr_column instance_columns[] = {
    {"Name", OOMGR_LEFT},
    {"Value", OOMGR_LEFT},
    {"Default", OOMGR_LEFT},
    {"Tied", OOMGR_LEFT},
};

static const struct oomgr_column type_columns[] = {
    {"Name", OOMGR_LEFT},      {"Default", OOMGR_LEFT},     {"Type", OOMGR_LEFT},
    {"Overrides", OOMGR_LEFT}, {"Description", OOMGR_LEFT},
};

static int run_disp_param(struct oomgr_call *call, char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    char *type = NULL;
    long long id = 0;
    char idbuf[24], node[24];
    const char *name = oomgr_arg(st, "name");
    char *pattern = name != NULL ? oomgr_like_pattern(name) : NULL;
    PGresult *res;
    struct oomgr_table *t;

    if (param_target(call, &type, &id, error_r) < 0) {
        free(pattern);
        return -1;
    }
    if (id > 0) {
        const char *const p[] = {type, oomgr_lltoa(idbuf, sizeof(idbuf), id), pattern};
        res =
            ofc_db_query(call->db,
                         "SELECT d.name, COALESCE(o.value, d.default_value), d.default_value,"
                         "       CASE WHEN o.value IS NULL THEN 'YES' ELSE 'NO' END"
                         "  FROM process_type_parameter d"
                         "  LEFT JOIN process_parameter o"
                         "         ON o.process_id = $2::integer AND o.name = d.name"
                         " WHERE d.type = $1 AND ($3::text IS NULL OR lower(d.name) LIKE lower($3))"
                         " ORDER BY lower(d.name)",
                         3, p);
        t = oomgr_table_new(instance_columns, sizeof(instance_columns) / sizeof(*instance_columns));
    } else {
        const char *const p[] = {type, oomgr_lltoa(node, sizeof(node), call->om->session->node_id),
                                 pattern};
        res = ofc_db_query(
            call->db,
            "SELECT d.name, d.default_value,"
            "       d.value_type || CASE WHEN d.min_value IS NULL AND d.max_value IS NULL THEN ''"
            "                       ELSE ' ' || COALESCE(d.min_value::text, '') || '..'"
            "                            || COALESCE(d.max_value::text, '') END,"
            "       (SELECT string_agg(p.instance || '=' || o.value, ' ' ORDER BY p.instance)"
            "          FROM process_parameter o JOIN process p ON p.id = o.process_id"
            "         WHERE o.type = d.type AND o.name = d.name AND p.node_id = $2::integer),"
            "       d.description"
            "  FROM process_type_parameter d"
            " WHERE d.type = $1 AND ($3::text IS NULL OR lower(d.name) LIKE lower($3))"
            " ORDER BY lower(d.name)",
            3, p);
        t = oomgr_table_new(type_columns, sizeof(type_columns) / sizeof(*type_columns));
    }
    free(pattern);
    free(type);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot read the parameters: %s", ofc_db_error(call->db));
        oomgr_table_free(&t);
        return -1;
    }
    oomgr_table_add_result(t, res);
    PQclear(res);
    oomgr_table_print(t, oomgr_stmt_format(st), &call->out);
    oomgr_table_free(&t);
    return 0;
}

#define KEY_PROCESS                                                                                \
    {                                                                                              \
        "process", OOMGR_KEY_REQUIRED, 0, 0, NULL, "the process type (POSTMAN, ...)"               \
    }
#define KEY_END                                                                                    \
    {                                                                                              \
        NULL, 0, 0, 0, NULL, NULL                                                                  \
    }

static const struct oomgr_key set_param_keys[] = {
    {"*", OOMGR_KEY_ANY, 0, 0, NULL,
     "a parameter and its new value (names in any case; several allowed)"},
    KEY_PROCESS,
    {"instance", OOMGR_KEY_INT, 1, 99, NULL,
     "override for this instance; without it the type's default changes"},
    KEY_END,
};

static const struct oomgr_key reset_param_keys[] = {
    {"name", OOMGR_KEY_POSITIONAL | OOMGR_KEY_REQUIRED, 0, 0, NULL, "the parameter"},
    KEY_PROCESS,
    {"instance", OOMGR_KEY_INT | OOMGR_KEY_REQUIRED, 1, 99, NULL,
     "the instance whose override is dropped"},
    KEY_END,
};

static const struct oomgr_key disp_param_keys[] = {
    KEY_PROCESS,
    {"instance", OOMGR_KEY_INT, 1, 99, NULL,
     "one instance's values; without it the type's defaults and overrides"},
    {"name", 0, 0, 0, NULL, "only these parameters; wildcards * and ?"},
    OOMGR_KEY_FORMAT,
    KEY_END,
};

const struct oomgr_stmt_def oomgr_param_stmts[] = {
    {"set", "param", OOMGR_PRIV_NODE, OOMGR_STMT_TX, set_param_keys, run_set_param, NULL,
     "set param NAME=VALUE [NAME=VALUE ...] process=TYPE [instance=N];",
     "Overrides a parameter for one instance, or changes the type's default."},
    {"reset", "param", OOMGR_PRIV_NODE, OOMGR_STMT_TX, reset_param_keys, run_reset_param, NULL,
     "reset param NAME process=TYPE instance=N;",
     "Drops an instance's override: it follows the type's default again."},
    {"disp", "param", OOMGR_PRIV_DOMAIN, OOMGR_STMT_TX, disp_param_keys, run_disp_param, NULL,
     "disp param process=TYPE [instance=N] [name=PATTERN] [format=table|csv];",
     "Shows parameters: values of an instance, or the type's defaults."},
    {NULL, NULL, OOMGR_PRIV_NONE, 0, NULL, NULL, NULL, NULL, NULL},
};
