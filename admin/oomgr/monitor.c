/*
 * monitor.c - disp monitor and run monitor: the Monitor's findings
 * (ofcmon class=5, schema/016_monitor.sql).
 *
 * oomgr does not run the tests itself: the Monitor does, with its
 * parameters (thresholds, report account) and in its one transaction that
 * also mails the report. `run monitor` therefore writes a request row,
 * whose NOTIFY wakes the Monitor, commits, and then waits for the run
 * that answers it, as `startup ... wait=` waits for the Guardian.
 */
/* System. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Libraries. */
#include <libpq-fe.h>

/* libofc. */
#include "ofc_db.h"
#include "ofc_mem.h"
#include "ofc_time.h"

/* This program. */
#include "oomgr.h"

/* How often run monitor looks whether its request has been answered. */
#define WAIT_POLL_MS 200
/* How long run monitor waits unless wait= says otherwise. */
#define WAIT_DEFAULT_S 60

/*
 * The request run_monitor() wrote, for wait_for_run() after COMMIT. A
 * retried transaction overwrites it; oomgr runs one statement at a time
 * (run monitor is no batch statement), so nothing else can.
 */
static long long pending_request;

static const char *node_id(struct oomgr_call *call, char buf[24])
{
    return oomgr_lltoa(buf, 24, call->om->session->node_id);
}

/* ---- showing a run ------------------------------------------------------- */

static const struct oomgr_column finding_columns[] = {
    {"Severity", OOMGR_LEFT}, {"Test", OOMGR_LEFT},   {"What", OOMGR_LEFT},
    {"Where", OOMGR_LEFT},    {"Action", OOMGR_LEFT},
};

/*
 * Appends run run_id (0: the latest) to call->out: in table format a
 * summary line, then the findings, most severe first; in CSV only the
 * findings. Returns 0, or -1 with *error_r (run_id not found).
 */
static int show_run(struct oomgr_call *call, long long run_id, char **error_r)
{
    enum oomgr_format format = oomgr_stmt_format(call->st);
    char node[24], run[24];
    const char *const p[] = {node_id(call, node),
                             run_id > 0 ? oomgr_lltoa(run, sizeof(run), run_id) : NULL};
    PGresult *res = ofc_db_query(
        call->db,
        "SELECT r.id, r.trigger, q.requested_by,"
        "       to_char(r.started_at AT TIME ZONE n.time_zone, 'YYYY-MM-DD HH24:MI:SS')"
        "       || ' ' || n.time_zone,"
        "       round(extract(epoch FROM r.finished_at - r.started_at)::numeric, 1),"
        "       array_to_string(r.tests, ', '), r.errors, r.warnings, r.infos,"
        "       r.report_message_id, r.report_to"
        "  FROM monitor_run r LEFT JOIN monitor_request q ON q.run_id = r.id,"
        "       node n"
        " WHERE n.id = $1::integer AND ($2::bigint IS NULL OR r.id = $2::bigint)"
        " ORDER BY r.id DESC LIMIT 1",
        2, p);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot read the Monitor runs: %s", ofc_db_error(call->db));
        return -1;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        if (run_id > 0) {
            *error_r = ofc_xasprintf("no Monitor run %lld", run_id);
            return -1;
        }
        oomgr_out(call, "The Monitor has not run yet.");
        return 0;
    }
    long long id = ofc_db_value_ll(res, 0, 0, 0);
    long long errors = ofc_db_value_ll(res, 0, 6, 0);
    long long warnings = ofc_db_value_ll(res, 0, 7, 0);
    long long infos = ofc_db_value_ll(res, 0, 8, 0);
    if (format == OOMGR_FORMAT_TABLE) {
        const char *by = ofc_db_value(res, 0, 2);
        const char *trigger = ofc_db_value(res, 0, 1);
        const char *mid = ofc_db_value(res, 0, 9);
        oomgr_out(call, "Monitor run %lld: %s%s%s, started %s, took %s s; tests: %s.", id,
                  trigger != NULL && strcmp(trigger, "REQUESTED") == 0 ? "requested" : "scheduled",
                  by != NULL && by[0] != '\0' ? " by " : "", by != NULL ? by : "",
                  ofc_db_value(res, 0, 3), ofc_db_value(res, 0, 4), ofc_db_value(res, 0, 5));
        char *report =
            mid != NULL ? ofc_xasprintf("report: message %s to %s", mid, ofc_db_value(res, 0, 10))
                        : ofc_xstrdup("no report mailed");
        oomgr_out(call, "%lld error%s, %lld warning%s, %lld info; %s.", errors,
                  errors == 1 ? "" : "s", warnings, warnings == 1 ? "" : "s", infos, report);
        free(report);
    }
    PQclear(res);
    if (format == OOMGR_FORMAT_TABLE && errors + warnings + infos == 0) {
        oomgr_out(call, "No findings.");
        return 0;
    }

    char idbuf[24];
    const char *const q[] = {oomgr_lltoa(idbuf, sizeof(idbuf), id)};
    res = ofc_db_query(call->db,
                       "SELECT severity, test, what, location, action FROM monitor_finding"
                       " WHERE run_id = $1::bigint"
                       " ORDER BY CASE severity WHEN 'ERROR' THEN 0 WHEN 'WARNING' THEN 1"
                       "          ELSE 2 END, seq",
                       1, q);
    if (res == NULL) {
        *error_r =
            ofc_xasprintf("cannot read the findings of run %lld: %s", id, ofc_db_error(call->db));
        return -1;
    }
    if (format == OOMGR_FORMAT_TABLE)
        ofc_strbuf_putc(&call->out, '\n');
    struct oomgr_table *t =
        oomgr_table_new(finding_columns, sizeof(finding_columns) / sizeof(finding_columns[0]));
    oomgr_table_add_result(t, res);
    PQclear(res);
    oomgr_table_print(t, format, &call->out);
    oomgr_table_free(&t);
    return 0;
}

static int run_disp_monitor(struct oomgr_call *call, char **error_r)
{
    return show_run(call, oomgr_arg_int(call->st, "run", 0), error_r);
}

/* ---- run monitor ---------------------------------------------------------- */

/* "queues, dead, ...; categories flow, ...": what test= takes, for an error message. */
static char *known_tests(struct oomgr_call *call)
{
    PGresult *res = ofc_db_query(call->db,
                                 "SELECT (SELECT string_agg(name, ', ' ORDER BY seq)"
                                 "          FROM monitor_test),"
                                 "       (SELECT string_agg(DISTINCT category, ', ')"
                                 "          FROM monitor_test)",
                                 0, NULL);
    char *s = res != NULL && PQntuples(res) == 1
                  ? ofc_xasprintf("the tests are %s; the categories %s; or all",
                                  ofc_db_value(res, 0, 0), ofc_db_value(res, 0, 1))
                  : ofc_xstrdup("disp param process=monitor; describes Tests");
    PQclear(res);
    return s;
}

static int monitor_running(struct oomgr_call *call, bool *running_r, char **error_r)
{
    char node[24];
    const char *const p[] = {node_id(call, node)};
    PGresult *res = ofc_db_query(
        call->db,
        "SELECT count(*) FROM process p JOIN process_status s ON s.process_id = p.id"
        " WHERE p.node_id = $1::integer AND p.type = 'MONITOR' AND s.state = 'RUNNING'"
        "   AND s.last_wakeup > now() - COALESCE((SELECT e.value"
        "         FROM process_parameter_effective e"
        "        WHERE e.process_id = p.id AND e.name = 'HeartbeatTimeout'), '120')::bigint"
        "       * interval '1 second'",
        1, p);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot read the process status: %s", ofc_db_error(call->db));
        return -1;
    }
    *running_r = ofc_db_value_ll(res, 0, 0, 0) > 0;
    PQclear(res);
    return 0;
}

static int run_run_monitor(struct oomgr_call *call, char **error_r)
{
    const char *tests = oomgr_arg(call->st, "test");
    pending_request = 0;
    if (tests != NULL) {
        const char *const p[] = {tests};
        PGresult *res = ofc_db_query(call->db, "SELECT monitor_tests_expand($1) IS NOT NULL", 1, p);
        if (res == NULL) {
            *error_r = ofc_xasprintf("cannot read the tests: %s", ofc_db_error(call->db));
            return -1;
        }
        bool ok = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        PQclear(res);
        if (!ok) {
            char *known = known_tests(call);
            *error_r = ofc_xasprintf("unknown test in '%s': %s", tests, known);
            free(known);
            return -1;
        }
    }
    bool running = false;
    if (monitor_running(call, &running, error_r) < 0)
        return -1;
    if (!running) {
        *error_r = ofc_xasprintf("no Monitor is running on %s, so nobody would run the tests: "
                                 "startup process monitor; starts it (disp monitor; shows the "
                                 "last run)",
                                 call->om->session->node_name);
        return -1;
    }
    char *by = ofc_xasprintf("%s@%s", call->om->session->login, call->om->session->fqdn);
    const char *const p[] = {tests, by};
    PGresult *res = ofc_db_query(call->db,
                                 "INSERT INTO monitor_request (tests, requested_by)"
                                 " VALUES ($1, $2) RETURNING id",
                                 2, p);
    free(by);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot ask the Monitor: %s", ofc_db_error(call->db));
        return -1;
    }
    pending_request = ofc_db_value_ll(res, 0, 0, 0);
    PQclear(res);
    char *desc = oomgr_stmt_describe(call->st);
    oomgr_log_change(call, "%s: request %lld", desc, pending_request);
    free(desc);
    return 0;
}

/* After COMMIT: waits for the run that answers the request, then shows it. */
static int wait_for_run(struct oomgr_call *call, char **error_r)
{
    long long request = pending_request;
    long long seconds = oomgr_arg_int(call->st, "wait", WAIT_DEFAULT_S);
    if (seconds <= 0) {
        oomgr_out(call,
                  "Requested (request %lld); disp monitor; shows the findings once the "
                  "Monitor has run.",
                  request);
        return 0;
    }
    char req[24];
    const char *const p[] = {oomgr_lltoa(req, sizeof(req), request)};
    long long deadline = ofc_now_ms() + seconds * 1000;
    for (;;) {
        PGresult *res = ofc_db_query(call->db,
                                     "SELECT run_id, done_at IS NOT NULL FROM monitor_request"
                                     " WHERE id = $1::bigint",
                                     1, p);
        if (res == NULL) {
            *error_r =
                ofc_xasprintf("cannot read request %lld: %s", request, ofc_db_error(call->db));
            return -1;
        }
        bool done = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 1), "t") == 0;
        long long run = done ? ofc_db_value_ll(res, 0, 0, 0) : 0;
        PQclear(res);
        if (done)
            return show_run(call, run, error_r);
        bool interrupted = oomgr_input_interrupted();
        if (interrupted || ofc_now_ms() >= deadline) {
            if (interrupted)
                (void)fputc('\n', stdout); /* after the terminal's "^C" */
            *error_r = ofc_xasprintf("%s: the Monitor has not answered request %lld yet; it "
                                     "stays queued, and disp monitor; shows the run once done",
                                     interrupted ? "interrupted" : "timed out", request);
            return -1;
        }
        ofc_sleep_ms(WAIT_POLL_MS);
    }
}

/* ---- the table ------------------------------------------------------------ */

#define KEY_END                                                                                    \
    {                                                                                              \
        NULL, 0, 0, 0, NULL, NULL                                                                  \
    }

static const struct oomgr_key disp_monitor_keys[] = {
    {"run", OOMGR_KEY_INT | OOMGR_KEY_POSITIONAL, 1, 9223372036854775807LL, NULL,
     "the run to show (default: the latest)"},
    OOMGR_KEY_FORMAT,
    KEY_END,
};

static const struct oomgr_key run_monitor_keys[] = {
    {"test", 0, 0, 0, NULL,
     "tests to run, a comma list of names or categories (default: the Tests parameter)"},
    {"wait", OOMGR_KEY_INT, 0, 3600, NULL,
     "seconds to wait for the run (default 60; 0: do not wait)"},
    OOMGR_KEY_FORMAT,
    KEY_END,
};

const struct oomgr_stmt_def oomgr_monitor_stmts[] = {
    {"disp", "monitor", OOMGR_PRIV_NODE, OOMGR_STMT_TX, disp_monitor_keys, run_disp_monitor, NULL,
     "disp monitor [run=N] [format=table|csv];",
     "Shows the findings of the Monitor's last run (or of run N)."},
    {"run", "monitor", OOMGR_PRIV_NODE, OOMGR_STMT_TX, run_monitor_keys, run_run_monitor,
     wait_for_run, "run monitor [test=NAME,...] [wait=SECONDS] [format=table|csv];",
     "Asks the running Monitor to run its tests now, waits, and shows the findings."},
    {NULL, NULL, OOMGR_PRIV_NONE, 0, NULL, NULL, NULL, NULL, NULL},
};
