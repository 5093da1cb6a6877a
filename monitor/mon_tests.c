/*
 * mon_tests.c - the Monitor's test table, the runner, and the findings.
 *
 * A test's statement runs in a savepoint of its own so that one test
 * that fails (a statement_timeout on a huge table, a catalogue the
 * server version lays out differently) costs that test only: the run
 * reports it as a finding and goes on with the others.
 */
/* System. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Libraries. */
#include <libpq-fe.h>

/* libofc. */
#include "ofc_db.h"
#include "ofc_log.h"
#include "ofc_mem.h"

/* This program. */
#include "mon.h"

const char *mon_severity_name(enum mon_severity s)
{
    switch (s) {
    case MON_ERROR:
        return "ERROR";
    case MON_WARNING:
        return "WARNING";
    case MON_INFO:
        return "INFO";
    }
    return "INFO";
}

static bool severity_parse(const char *s, enum mon_severity *r)
{
    for (int i = 0; i < MON_SEVERITIES; i++) {
        if (s != NULL && strcmp(s, mon_severity_name((enum mon_severity)i)) == 0) {
            *r = (enum mon_severity)i;
            return true;
        }
    }
    return false;
}

void mon_findings_add(struct mon_findings *f, enum mon_severity severity, const char *test,
                      const char *what, const char *location, const char *action)
{
    if (f->n == f->cap) {
        f->cap = f->cap > 0 ? f->cap * 2 : 16;
        f->v = ofc_xrealloc(f->v, f->cap * sizeof(*f->v));
    }
    struct mon_finding *x = &f->v[f->n++];
    x->severity = severity;
    x->test = ofc_xstrdup(test != NULL ? test : "");
    x->what = ofc_xstrdup(what != NULL ? what : "");
    x->location = ofc_xstrdup(location != NULL ? location : "");
    x->action = ofc_xstrdup(action != NULL ? action : "");
    f->count[severity]++;
}

void mon_findings_clear(struct mon_findings *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->v[i].test);
        free(f->v[i].what);
        free(f->v[i].location);
        free(f->v[i].action);
    }
    free(f->v);
    memset(f, 0, sizeof(*f));
}

/* ---- the table ------------------------------------------------------ */

static const struct mon_test *const groups[] = {mon_flow_tests, mon_space_tests, mon_config_tests,
                                                mon_refs_tests};

const struct mon_test *mon_test_find(const char *name)
{
    for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
        for (const struct mon_test *t = groups[g]; t->name != NULL; t++)
            if (strcmp(t->name, name) == 0)
                return t;
    return NULL;
}

/* ---- the runner ----------------------------------------------------- */

/*
 * Whether the transaction is still usable after a failed statement that
 * was rolled back to its savepoint: not when the connection went, and not
 * on a serialisation failure or deadlock (ofc_db_transaction retries the
 * whole run then).
 */
static bool transaction_lost(struct ofc_db *db, const char *sqlstate)
{
    return !ofc_db_connected(db) || ofc_db_sqlstate_is_retryable(sqlstate);
}

int mon_test_run(struct ofc_db *db, const struct mon_test *t, const struct mon_values *values,
                 struct mon_findings *out, char **error_r)
{
    char buf[MON_MAX_PARAMS][24];
    const char *params[MON_MAX_PARAMS];
    for (size_t i = 0; i < t->nparams && i < MON_MAX_PARAMS; i++) {
        (void)snprintf(buf[i], sizeof(buf[i]), "%lld", values->v[t->params[i]]);
        params[i] = buf[i];
    }

    if (ofc_db_exec(db, "SAVEPOINT monitor_test", 0, NULL) != 0) {
        *error_r = ofc_xasprintf("cannot begin test %s: %s", t->name, ofc_db_error(db));
        return -1;
    }
    PGresult *res = ofc_db_query(db, t->sql, (int)t->nparams, params);
    if (res == NULL) {
        char *why = ofc_xstrdup(ofc_db_error(db));
        char state[6];
        (void)snprintf(state, sizeof(state), "%s", ofc_db_sqlstate(db));
        if (transaction_lost(db, state) ||
            ofc_db_exec(db, "ROLLBACK TO SAVEPOINT monitor_test", 0, NULL) != 0) {
            *error_r = ofc_xasprintf("test %s: %s", t->name, why);
            free(why);
            return -1;
        }
        char *one = ofc_str_one_line(why);
        ofc_warn("test %s could not be done: %s", t->name, one);
        char *what = ofc_xasprintf("the test could not be done: %s", one);
        mon_findings_add(out, MON_WARNING, t->name, what, "Monitor",
                         strcmp(state, "57014") == 0
                             ? "It ran out of time: raise the Monitor's TestTimeout parameter, "
                               "or look for what makes the database slow."
                             : "Read the Monitor's log (<node>_mon.log) for the cause.");
        free(what);
        free(one);
        free(why);
        return 0;
    }
    int rows = PQntuples(res);
    for (int r = 0; r < rows; r++) {
        enum mon_severity sev = MON_WARNING;
        if (!severity_parse(ofc_db_value(res, r, 0), &sev))
            ofc_warn("test %s returned severity %s; taken as WARNING", t->name,
                     ofc_db_value(res, r, 0) != NULL ? ofc_db_value(res, r, 0) : "NULL");
        mon_findings_add(out, sev, t->name, ofc_db_value(res, r, 1), ofc_db_value(res, r, 2),
                         ofc_db_value(res, r, 3));
    }
    PQclear(res);
    if (ofc_db_exec(db, "RELEASE SAVEPOINT monitor_test", 0, NULL) != 0) {
        *error_r = ofc_xasprintf("cannot end test %s: %s", t->name, ofc_db_error(db));
        return -1;
    }
    return 0;
}
