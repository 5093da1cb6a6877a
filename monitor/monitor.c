/*
 * monitor.c - the Monitor's hooks: parameters, schedule, requests, runs.
 *
 * A run is one transaction: it takes the oomgr request it answers (if
 * any), runs the tests, records the run and its findings, and stores the
 * report and puts it on submission. Either all of that commits or none
 * of it: a report is never mailed for a run that is not recorded, and a
 * request is never marked done without its findings.
 *
 * Scheduled runs follow Interval from the start of the last scheduled
 * run recorded in the database, so that a Monitor the Guardian restarts
 * does not run (and mail) again at once. The first run of a node without
 * any happens at start-up.
 */
/* System. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Libraries. */
#include <libpq-fe.h>

/* libofc. */
#include "ofc_db.h"
#include "ofc_log.h"
#include "ofc_mem.h"
#include "ofc_pgarray.h"
#include "ofc_proc.h"
#include "store_message.h"

/* This program. */
#include "mon.h"
#include "monitor.h"

/* Requests answered per wake-up before the loop gets to heartbeat. */
#define REQUESTS_PER_WAKEUP 5
/* After a scheduled run failed: try again this much later, not a whole Interval. */
#define RETRY_FAILED_S 300

struct monitor {
    long long interval_s;
    char *tests; /* the Tests parameter, as written */
    char *report_account;
    bool report_empty;
    long long retention_days;
    long long test_timeout_s;
    struct mon_values values;
    bool ran_before; /* a scheduled run is on record */
    int64_t last_ms; /* CLOCK_MONOTONIC start of the last scheduled run (if ran_before) */
};

enum run_mode {
    RUN_REQUEST,   /* answer the oldest pending oomgr request, if any */
    RUN_SCHEDULED, /* the Interval has passed */
};

/* One run: what the transaction did, for the log after COMMIT. */
struct run_ctx {
    struct monitor *m;
    long long process_id;
    enum run_mode mode;
    bool ran;
    long long request_id;
    long long run_id;
    long long report_id; /* 0: no report */
    char *report_to;
    char *requested_by;
    char *tests; /* the tests run, "queues, dead" */
    struct mon_findings findings;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long param_int(struct ofc_proc *proc, const char *name, long long dflt, long long lo,
                           long long hi)
{
    long long v = ofc_proc_param_int(proc, name, dflt);
    return v < lo || v > hi ? dflt : v;
}

/* (Re)reads the parameters; the ranges and defaults are 016's. */
static void read_params(struct ofc_proc *proc, struct monitor *m)
{
    m->interval_s = param_int(proc, "Interval", 3600, 60, 604800);
    free(m->tests);
    m->tests = ofc_xstrdup(ofc_proc_param(proc, "Tests", "all"));
    free(m->report_account);
    m->report_account = ofc_xstrdup(ofc_proc_param(proc, "ReportAccount", "ORAPOST"));
    m->report_empty = ofc_proc_param_bool(proc, "ReportEmpty", false);
    m->retention_days = param_int(proc, "RetentionDays", 90, 1, 36500);
    m->test_timeout_s = param_int(proc, "TestTimeout", 60, 1, 3600);
    long long *v = m->values.v;
    v[MON_P_NODE] = ofc_proc_node_id(proc);
    v[MON_P_INTERVAL] = m->interval_s;
    v[MON_P_QUEUE_AGE] = param_int(proc, "QueueAgeWarn", 3600, 1, 31536000);
    v[MON_P_QUEUE_LENGTH] = param_int(proc, "QueueLengthWarn", 1000, 1, 1000000000);
    v[MON_P_GROWTH_RUNS] = param_int(proc, "QueueGrowthRuns", 3, 0, 100);
    v[MON_P_GROWTH_MIN] = param_int(proc, "QueueGrowthMin", 100, 1, 1000000000);
    v[MON_P_DELIVERY_MS] = param_int(proc, "DeliveryTimeWarn", 300000, 1, 604800000);
    v[MON_P_DB_MB] = param_int(proc, "DatabaseSizeWarn", 51200, 0, 1073741824);
    v[MON_P_TABLE_MB] = param_int(proc, "TableSizeWarn", 10240, 0, 1073741824);
    v[MON_P_BLOAT_PCT] = param_int(proc, "TableBloatWarn", 50, 0, 100);
    v[MON_P_BLOAT_MIN_ROWS] = param_int(proc, "TableBloatMinRows", 10000, 1, 2000000000);
    ofc_info("Interval=%lld Tests=%s ReportAccount=%s ReportEmpty=%d QueueAgeWarn=%lld"
             " QueueLengthWarn=%lld QueueGrowthRuns=%lld QueueGrowthMin=%lld"
             " DeliveryTimeWarn=%lld DatabaseSizeWarn=%lld TableSizeWarn=%lld"
             " TableBloatWarn=%lld TableBloatMinRows=%lld RetentionDays=%lld TestTimeout=%lld",
             m->interval_s, m->tests, m->report_account, m->report_empty ? 1 : 0,
             v[MON_P_QUEUE_AGE], v[MON_P_QUEUE_LENGTH], v[MON_P_GROWTH_RUNS], v[MON_P_GROWTH_MIN],
             v[MON_P_DELIVERY_MS], v[MON_P_DB_MB], v[MON_P_TABLE_MB], v[MON_P_BLOAT_PCT],
             v[MON_P_BLOAT_MIN_ROWS], m->retention_days, m->test_timeout_s);
}

static void run_ctx_reset(struct run_ctx *c)
{
    c->ran = false;
    c->request_id = c->run_id = c->report_id = 0;
    OFC_FREE(c->report_to);
    OFC_FREE(c->requested_by);
    OFC_FREE(c->tests);
    mon_findings_clear(&c->findings);
}

static const char *lltoa(char buf[24], long long n)
{
    (void)snprintf(buf, 24, "%lld", n);
    return buf;
}

/* ---- the pieces of a run ----------------------------------------------- */

/*
 * The oldest pending request, locked for this run. Returns 1 and fills
 * the context, 0 when there is none, -1 on error.
 */
static int take_request(struct ofc_db *db, struct run_ctx *c, char **req_tests_r, char **error_r)
{
    PGresult *res = ofc_db_query(db,
                                 "SELECT id, tests, requested_by FROM monitor_request"
                                 " WHERE done_at IS NULL ORDER BY id LIMIT 1"
                                 " FOR UPDATE SKIP LOCKED",
                                 0, NULL);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot read the requests: %s", ofc_db_error(db));
        return -1;
    }
    int found = PQntuples(res) > 0;
    if (found) {
        c->request_id = ofc_db_value_ll(res, 0, 0, 0);
        const char *t = ofc_db_value(res, 0, 1);
        *req_tests_r = t != NULL ? ofc_xstrdup(t) : NULL;
        const char *by = ofc_db_value(res, 0, 2);
        c->requested_by = ofc_xstrdup(by != NULL ? by : "");
    }
    PQclear(res);
    return found;
}

/*
 * The test names a Tests value means (016's monitor_tests_expand); a
 * value it cannot read (the type's default edited by hand) means all.
 */
static int expand_tests(struct ofc_db *db, const char *value, char ***names_r, size_t *n_r,
                        char **error_r)
{
    const char *const p[] = {value};
    PGresult *res =
        ofc_db_query(db, "SELECT monitor_tests_expand($1), monitor_tests_expand('all')", 1, p);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot read the test catalogue: %s", ofc_db_error(db));
        return -1;
    }
    const char *list = ofc_db_value(res, 0, 0);
    if (list == NULL) {
        ofc_warn("Tests=%s: unknown test or empty list; running all tests", value);
        list = ofc_db_value(res, 0, 1);
    }
    int rc = ofc_pg_text_array_parse(list != NULL ? list : "{}", names_r, n_r);
    PQclear(res);
    if (rc != 0) {
        *error_r = ofc_xstrdup("cannot parse the list of tests");
        return -1;
    }
    return 0;
}

/* The report account's address and domain, or 0 when it names no account. */
static int report_address(struct ofc_db *db, struct monitor *m, char **to_r, char **domain_r,
                          char **error_r)
{
    char node[24];
    const char *const p[] = {m->report_account, lltoa(node, m->values.v[MON_P_NODE])};
    /* A bare name: the account of that name, this node's own and in a top domain first. */
    PGresult *res =
        ofc_db_query(db,
                     "SELECT x.name || '@' || x.fqdn, x.fqdn FROM dir_address x"
                     "  JOIN account a ON a.object_id = x.object_id"
                     "  JOIN domain d ON d.id = x.domain_id"
                     " WHERE CASE WHEN strpos($1, '@') > 0 THEN x.address_key = lower($1)"
                     "            ELSE x.name_key = lower($1) END"
                     " ORDER BY a.home_node_id = $2::integer DESC, d.parent_id IS NOT NULL,"
                     "          length(x.fqdn), x.object_id LIMIT 1",
                     2, p);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot find the report account %s: %s", m->report_account,
                                 ofc_db_error(db));
        return -1;
    }
    int found = PQntuples(res) > 0;
    if (found) {
        *to_r = ofc_xstrdup(ofc_db_value(res, 0, 0));
        *domain_r = ofc_xstrdup(ofc_db_value(res, 0, 1));
    }
    PQclear(res);
    return found;
}

/* monitor_finding rows of the run, in one statement. */
static int store_findings(struct ofc_db *db, long long run_id, const struct mon_findings *f,
                          char **error_r)
{
    if (f->n == 0)
        return 0;
    const char **cols[5];
    for (int k = 0; k < 5; k++)
        cols[k] = ofc_xcalloc(f->n, sizeof(char *));
    for (size_t i = 0; i < f->n; i++) {
        cols[0][i] = mon_severity_name(f->v[i].severity);
        cols[1][i] = f->v[i].test;
        cols[2][i] = f->v[i].what;
        cols[3][i] = f->v[i].location;
        cols[4][i] = f->v[i].action;
    }
    char run[24];
    char *arrays[5];
    const char *p[6] = {lltoa(run, run_id)};
    for (int k = 0; k < 5; k++) {
        arrays[k] = ofc_pg_text_array(cols[k], f->n);
        p[k + 1] = arrays[k];
        free(cols[k]);
    }
    int rc = ofc_db_exec(db,
                         "INSERT INTO monitor_finding (run_id, seq, severity, test, what, location,"
                         " action)"
                         " SELECT $1::bigint, f.ord, f.s, f.t, f.w, f.l, f.a"
                         "   FROM unnest($2::text[], $3::text[], $4::text[], $5::text[],"
                         "               $6::text[]) WITH ORDINALITY AS f(s, t, w, l, a, ord)",
                         6, p);
    for (int k = 0; k < 5; k++)
        free(arrays[k]);
    if (rc != 0) {
        *error_r = ofc_xasprintf("cannot record the findings: %s", ofc_db_error(db));
        return -1;
    }
    return 0;
}

/* Stores the report and puts it on submission to `to`. */
static int mail_report(struct ofc_db *db, struct run_ctx *c, const struct mon_report_info *info,
                       char **error_r)
{
    size_t len = 0;
    char *raw = mon_report_compose(info, &c->findings, &len);
    long long mid = 0;
    int rc = store_message_put_raw(db, raw, len, &mid, error_r);
    free(raw);
    if (rc != 0)
        return -1;
    const char *const rcpts[] = {info->to};
    /* The null reverse-path: nothing answers or bounces a report (RFC 5321 §4.5.5). */
    if (store_submit(db, mid, "", rcpts, 1, NULL, error_r) != 0)
        return -1;
    c->report_id = mid;
    return 0;
}

/* The run's header row; fills run_id and *started_r ("2026-11-26 00:30:01 UTC"). */
static int insert_run(struct ofc_db *db, struct run_ctx *c, char **names, size_t n, char **node_r,
                      char **started_r, char **error_r)
{
    char pid[24], node[24];
    char *tests = ofc_pg_text_array((const char *const *)names, n);
    const char *const p[] = {c->process_id > 0 ? lltoa(pid, c->process_id) : NULL,
                             c->mode == RUN_REQUEST ? "REQUESTED" : "SCHEDULED", tests,
                             lltoa(node, c->m->values.v[MON_P_NODE])};
    PGresult *res = ofc_db_query(
        db,
        "WITH r AS (INSERT INTO monitor_run (process_id, trigger, started_at, tests)"
        "           VALUES ($1::integer, $2, now(), $3::text[]) RETURNING id, started_at)"
        " SELECT r.id, n.name, to_char(r.started_at AT TIME ZONE n.time_zone,"
        "                              'YYYY-MM-DD HH24:MI:SS') || ' ' || n.time_zone"
        "   FROM r LEFT JOIN node n ON n.id = $4::integer",
        4, p);
    free(tests);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot record the run: %s", ofc_db_error(db));
        return -1;
    }
    c->run_id = ofc_db_value_ll(res, 0, 0, 0);
    const char *name = ofc_db_value(res, 0, 1);
    const char *started = ofc_db_value(res, 0, 2);
    *node_r = ofc_xstrdup(name != NULL ? name : "?");
    *started_r = ofc_xstrdup(started != NULL ? started : "");
    PQclear(res);
    return 0;
}

static int finish_run(struct ofc_db *db, struct run_ctx *c, char **error_r)
{
    char run[24], e[24], w[24], i[24], mid[24], req[24];
    const struct mon_findings *f = &c->findings;
    const char *const p[] = {lltoa(run, c->run_id),
                             lltoa(e, (long long)f->count[MON_ERROR]),
                             lltoa(w, (long long)f->count[MON_WARNING]),
                             lltoa(i, (long long)f->count[MON_INFO]),
                             c->report_id > 0 ? lltoa(mid, c->report_id) : NULL,
                             c->report_id > 0 ? c->report_to : NULL};
    if (ofc_db_exec(db,
                    "UPDATE monitor_run SET finished_at = clock_timestamp(), errors = $2::integer,"
                    " warnings = $3::integer, infos = $4::integer,"
                    " report_message_id = $5::bigint, report_to = $6 WHERE id = $1::bigint",
                    6, p) != 0) {
        *error_r = ofc_xasprintf("cannot record the run: %s", ofc_db_error(db));
        return -1;
    }
    if (c->request_id > 0) {
        const char *const q[] = {lltoa(req, c->request_id), run};
        if (ofc_db_exec(db,
                        "UPDATE monitor_request SET run_id = $2::bigint, done_at = now()"
                        " WHERE id = $1::bigint",
                        2, q) != 0) {
            *error_r =
                ofc_xasprintf("cannot mark request %lld done: %s", c->request_id, ofc_db_error(db));
            return -1;
        }
    }
    return 0;
}

/* Old runs (their findings go with them) and answered requests. */
static int purge(struct ofc_db *db, struct monitor *m, char **error_r)
{
    char days[24];
    const char *const p[] = {lltoa(days, m->retention_days)};
    if (ofc_db_exec(db,
                    "DELETE FROM monitor_request"
                    " WHERE done_at < now() - $1::integer * interval '1 day'",
                    1, p) != 0 ||
        ofc_db_exec(db,
                    "DELETE FROM monitor_run"
                    " WHERE started_at < now() - $1::integer * interval '1 day'",
                    1, p) != 0) {
        *error_r = ofc_xasprintf("cannot purge old runs: %s", ofc_db_error(db));
        return -1;
    }
    return 0;
}

/* ---- one run ----------------------------------------------------------- */

struct run_strings {
    char *req_tests, *node, *started, *to, *domain, *trigger;
    char **names;
    size_t nnames;
};

static void run_strings_free(struct run_strings *s)
{
    free(s->req_tests);
    free(s->node);
    free(s->started);
    free(s->to);
    free(s->domain);
    free(s->trigger);
    ofc_pg_text_array_free(&s->names, s->nnames);
    memset(s, 0, sizeof(*s));
}

static int run_tests(struct ofc_db *db, struct run_ctx *c, struct run_strings *s, char **error_r)
{
    struct monitor *m = c->m;
    struct ofc_strbuf list = OFC_STRBUF_INIT;
    bool queues = false;
    for (size_t i = 0; i < s->nnames; i++) {
        ofc_strbuf_printf(&list, "%s%s", i > 0 ? ", " : "", s->names[i]);
        const struct mon_test *t = mon_test_find(s->names[i]);
        if (t == NULL) {
            /* The catalogue (a newer migration) knows a test this ofcmon does not. */
            ofc_warn("test %s is in the catalogue but not in this ofcmon; skipped", s->names[i]);
            mon_findings_add(&c->findings, MON_INFO, s->names[i],
                             "this ofcmon does not know the test, so it was not done", "Monitor",
                             "Install the ofcmon that goes with the schema.");
            continue;
        }
        queues |= strcmp(t->name, "queues") == 0;
        if (mon_test_run(db, t, &m->values, &c->findings, error_r) != 0) {
            ofc_strbuf_free(&list);
            return -1;
        }
    }
    c->tests = ofc_strbuf_detach(&list);
    if (c->tests == NULL)
        c->tests = ofc_xstrdup("");
    if (queues) {
        char run[24];
        const char *const p[] = {lltoa(run, c->run_id)};
        if (ofc_db_exec(db, mon_queue_lengths_sql, 1, p) != 0) {
            *error_r = ofc_xasprintf("cannot record the queue lengths: %s", ofc_db_error(db));
            return -1;
        }
    }
    return 0;
}

static int run_body(struct ofc_db *db, struct run_ctx *c, struct run_strings *s, char **error_r)
{
    struct monitor *m = c->m;
    char timeout[32];
    (void)snprintf(timeout, sizeof(timeout), "%llds", m->test_timeout_s);
    const char *const tp[] = {timeout};
    if (ofc_db_exec(db, "SELECT set_config('statement_timeout', $1, true)", 1, tp) != 0) {
        *error_r = ofc_xasprintf("cannot set statement_timeout: %s", ofc_db_error(db));
        return -1;
    }
    if (c->mode == RUN_REQUEST) {
        int r = take_request(db, c, &s->req_tests, error_r);
        if (r <= 0)
            return r; /* nothing asked for, or an error */
    }
    c->ran = true;
    const char *value = c->mode == RUN_REQUEST && s->req_tests != NULL ? s->req_tests : m->tests;
    if (expand_tests(db, value, &s->names, &s->nnames, error_r) != 0 ||
        insert_run(db, c, s->names, s->nnames, &s->node, &s->started, error_r) != 0 ||
        run_tests(db, c, s, error_r) != 0)
        return -1;

    int found = report_address(db, m, &s->to, &s->domain, error_r);
    if (found < 0)
        return -1;
    if (found == 0) {
        char *what = ofc_xasprintf("ReportAccount %s names no account, so reports cannot be mailed",
                                   m->report_account);
        mon_findings_add(&c->findings, MON_ERROR, "monitor", what,
                         "MONITOR parameter ReportAccount",
                         "Name an existing account (NAME or NAME@DOMAIN): set param "
                         "ReportAccount=NAME process=monitor;");
        free(what);
    }
    if (store_findings(db, c->run_id, &c->findings, error_r) != 0)
        return -1;
    if (found > 0 && (c->findings.n > 0 || m->report_empty)) {
        s->trigger = c->mode == RUN_REQUEST
                         ? ofc_xasprintf("requested by %s",
                                         c->requested_by[0] != '\0' ? c->requested_by : "?")
                         : ofc_xasprintf("scheduled, every %lld s", m->interval_s);
        struct mon_report_info info = {
            .node = s->node,
            .domain = s->domain,
            .to = s->to,
            .run_id = c->run_id,
            .started = s->started,
            .trigger = s->trigger,
            .tests = c->tests,
        };
        if (mail_report(db, c, &info, error_r) != 0)
            return -1;
        c->report_to = ofc_xstrdup(s->to);
    }
    if (finish_run(db, c, error_r) != 0)
        return -1;
    return c->mode == RUN_SCHEDULED ? purge(db, m, error_r) : 0;
}

static int run_tx(struct ofc_db *db, void *vctx, char **error_r)
{
    struct run_ctx *c = vctx;
    /* A retried attempt starts from nothing. */
    run_ctx_reset(c);
    struct run_strings s = {0};
    int rc = run_body(db, c, &s, error_r);
    run_strings_free(&s);
    return rc < 0 ? OFC_DB_ERROR : OFC_DB_OK;
}

static void log_run(const struct run_ctx *c)
{
    const struct mon_findings *f = &c->findings;
    char *report = c->report_id > 0
                       ? ofc_xasprintf("report message %lld to %s", c->report_id, c->report_to)
                       : ofc_xstrdup("no report");
    if (c->mode == RUN_REQUEST)
        ofc_info("run %lld (request %lld by %s; tests %s): ERROR %zu, WARNING %zu, INFO %zu; %s",
                 c->run_id, c->request_id, c->requested_by[0] != '\0' ? c->requested_by : "?",
                 c->tests, f->count[MON_ERROR], f->count[MON_WARNING], f->count[MON_INFO], report);
    else
        ofc_info("run %lld (scheduled; tests %s): ERROR %zu, WARNING %zu, INFO %zu; %s", c->run_id,
                 c->tests, f->count[MON_ERROR], f->count[MON_WARNING], f->count[MON_INFO], report);
    free(report);
    for (size_t i = 0; i < f->n; i++)
        ofc_info("run %lld: %s %s: %s (%s)", c->run_id, mon_severity_name(f->v[i].severity),
                 f->v[i].test, f->v[i].what, f->v[i].location);
}

/* Returns 1 when a run happened, 0 when there was nothing to run, -1 on failure (logged). */
static int run_once(struct ofc_proc *proc, struct monitor *m, enum run_mode mode)
{
    struct run_ctx c = {.m = m, .process_id = ofc_proc_id(proc), .mode = mode};
    char *err = NULL;
    int rc = ofc_db_transaction(ofc_proc_db(proc), false, 3, run_tx, &c, &err);
    int result;
    if (rc != OFC_DB_OK) {
        ofc_warn("%s run failed: %s", mode == RUN_REQUEST ? "requested" : "scheduled",
                 err != NULL ? err : "transaction failed");
        result = -1;
    } else if (!c.ran) {
        result = 0;
    } else {
        log_run(&c);
        result = 1;
    }
    free(err);
    run_ctx_reset(&c);
    return result;
}

/* ---- the hooks ---------------------------------------------------------- */

int monitor_init(struct ofc_proc *proc)
{
    struct monitor *m = ofc_xcalloc(1, sizeof(*m));
    read_params(proc, m);
    PGresult *res = ofc_db_query(ofc_proc_db(proc),
                                 "SELECT extract(epoch FROM now() - max(started_at))::bigint"
                                 "  FROM monitor_run WHERE trigger = 'SCHEDULED'",
                                 0, NULL);
    if (res == NULL) {
        ofc_error("cannot read the last Monitor run (is the schema up to date? ofcsetup "
                  "upgrade): %s",
                  ofc_db_error(ofc_proc_db(proc)));
        free(m->tests);
        free(m->report_account);
        free(m);
        return -1;
    }
    const char *age = ofc_db_value(res, 0, 0);
    if (age != NULL) {
        long long s = strtoll(age, NULL, 10);
        if (s < 0)
            s = 0;
        m->ran_before = true;
        m->last_ms = now_ms() - s * 1000;
        ofc_info("last scheduled run %lld s ago", s);
    }
    PQclear(res);
    ofc_proc_set_userdata(proc, m);
    /* Requests made while no Monitor ran sent their NOTIFY to nobody. */
    ofc_proc_wake(proc);
    return 0;
}

int monitor_work(struct ofc_proc *proc)
{
    struct monitor *m = ofc_proc_userdata(proc);
    int failed = 0;
    int i;
    for (i = 0; i < REQUESTS_PER_WAKEUP && !ofc_proc_stopping(proc); i++) {
        int r = run_once(proc, m, RUN_REQUEST);
        failed |= r < 0;
        if (r <= 0)
            break;
    }
    if (i == REQUESTS_PER_WAKEUP)
        ofc_proc_wake(proc); /* more may wait: after the heartbeat */

    int64_t now = now_ms();
    if (!ofc_proc_stopping(proc) && (!m->ran_before || now - m->last_ms >= m->interval_s * 1000)) {
        int r = run_once(proc, m, RUN_SCHEDULED);
        m->ran_before = true;
        m->last_ms = now;
        if (r < 0) {
            /* Not at every wake-up, and not a whole Interval later either. */
            int64_t retry = (m->interval_s < RETRY_FAILED_S ? m->interval_s : RETRY_FAILED_S);
            m->last_ms = now - m->interval_s * 1000 + retry * 1000;
            failed = 1;
        }
    }
    return failed ? -1 : 0;
}

void monitor_notify(struct ofc_proc *proc, const char *channel, const char *payload)
{
    (void)proc;
    /* The work() that follows every wake-up takes the request. */
    ofc_debug("notification on %s (%s)", channel, payload);
}

void monitor_refresh(struct ofc_proc *proc)
{
    struct monitor *m = ofc_proc_userdata(proc);
    if (m != NULL)
        read_params(proc, m);
}

void monitor_cleanup(struct ofc_proc *proc)
{
    struct monitor *m = ofc_proc_userdata(proc);
    if (m == NULL)
        return;
    free(m->tests);
    free(m->report_account);
    free(m);
    ofc_proc_set_userdata(proc, NULL);
}
