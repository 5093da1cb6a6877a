/*
 * statistics.c - disp statistics (what the Statistics process, ofcmon
 * class=6, recorded) and disp clients (the planning guide's Probe: users
 * and connections per protocol server instance).
 *
 * disp statistics reads the snapshots (schema/015_statistics.sql): the
 * latest one beside aggregates over the snapshots taken within period=.
 * Counts are summed over the period, sizes take their largest value, and
 * the delivery-time percentiles of the period are computed exactly from
 * the billing records the period's snapshots covered (percentiles of
 * percentiles would mean nothing). disp clients reads sps_status live,
 * as each protocol server instance writes it on its heartbeat.
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

static const char *node_param(struct oomgr_call *call, char buf[24])
{
    return oomgr_lltoa(buf, 24, call->om->session->node_id);
}

/* ---- disp statistics ------------------------------------------------------- */

/*
 * $1 node, $2 period in seconds. l: the latest snapshot; w: those taken
 * within the period. One row, in the order of figures[] below.
 */
#define SNAP_L "(SELECT * FROM stat_snapshot WHERE node_id = $1::integer ORDER BY id DESC LIMIT 1)"
#define SNAP_W                                                                                     \
    "(SELECT * FROM stat_snapshot WHERE node_id = $1::integer"                                     \
    "  AND taken_at >= now() - make_interval(secs => $2::integer))"
/*
 * Over the period: counts summed, sizes and the maximum at their largest,
 * percentiles from the billing records [first period_start, last
 * period_end), restarts as the growth of each process's count. Times in
 * seconds, rounded to milliseconds.
 */
static const char summary_sql[] =
    "WITH l AS " SNAP_L ", w AS " SNAP_W ","
    " a AS (SELECT count(*) AS n, min(period_start) AS s, max(period_end) AS e,"
    "         sum(extract(epoch FROM period_end - period_start))::bigint AS secs,"
    "         sum(delivered) AS delivered, sum(delivered_messages) AS msgs,"
    "         sum(delivered_bytes) AS bytes, max(delivery_max) AS tmax,"
    "         sum(remote) AS remote, sum(gateway) AS gateway, sum(bounced) AS bounced,"
    "         sum(dead) AS dead, sum(forwarded) AS forwarded, max(database_bytes) AS dbb,"
    "         max(accounts) AS accounts, max(accounts_over_quota) AS over,"
    "         max(account_bytes) AS accb"
    "    FROM w),"
    " pct AS (SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY"
    "           GREATEST(extract(epoch FROM b.disposed_at - b.submitted_at), 0)::float8) AS p"
    "    FROM message_billing b, a WHERE b.disposition = 'DELIVERED'"
    "     AND b.disposed_at >= a.s AND b.disposed_at < a.e),"
    " rs AS (SELECT COALESCE(sum(d), 0) AS d"
    "    FROM (SELECT GREATEST(max(sp.restarts) - min(sp.restarts), 0) AS d"
    "            FROM stat_process sp JOIN w ON w.id = sp.snapshot_id"
    "           GROUP BY sp.process_id) x),"
    " rl AS (SELECT COALESCE(sum(sp.restarts), 0) AS r"
    "    FROM stat_process sp JOIN l ON l.id = sp.snapshot_id)"
    " SELECT to_char(l.taken_at AT TIME ZONE n.time_zone, 'YYYY-MM-DD HH24:MI:SS'), a.n,"
    "        extract(epoch FROM l.period_end - l.period_start)::bigint, a.secs,"
    "        l.delivered, a.delivered, l.delivered_messages, a.msgs,"
    "        l.delivered_bytes, a.bytes,"
    "        round(l.delivery_p50::numeric, 3), round(pct.p[1]::numeric, 3),"
    "        round(l.delivery_p95::numeric, 3), round(pct.p[2]::numeric, 3),"
    "        round(l.delivery_p99::numeric, 3), round(pct.p[3]::numeric, 3),"
    "        round(l.delivery_max::numeric, 3), round(a.tmax::numeric, 3),"
    "        l.remote, a.remote, l.gateway, a.gateway, l.bounced, a.bounced,"
    "        l.dead, a.dead, l.forwarded, a.forwarded, l.database_bytes, a.dbb,"
    "        l.accounts, a.accounts, l.accounts_over_quota, a.over,"
    "        l.account_bytes, a.accb, rl.r, rs.d"
    "   FROM l JOIN node n ON n.id = l.node_id, a, pct, rs, rl";

/* The summary's rows: the figure, its column for the latest snapshot and for the period. */
static const struct {
    const char *figure;
    int latest, period; /* -1: none */
} figures[] = {
    {"Snapshot taken", 0, -1},
    {"Snapshots", -1, 1},
    {"Period seconds", 2, 3},
    {"Delivered recipients", 4, 5},
    {"Delivered messages", 6, 7},
    {"Delivered octets", 8, 9},
    {"Delivery p50 seconds", 10, 11},
    {"Delivery p95 seconds", 12, 13},
    {"Delivery p99 seconds", 14, 15},
    {"Delivery max seconds", 16, 17},
    {"Remote", 18, 19},
    {"Gateway", 20, 21},
    {"Bounced", 22, 23},
    {"Dead", 24, 25},
    {"Forwarded", 26, 27},
    {"Database octets", 28, 29},
    {"Accounts", 30, 31},
    {"Accounts over quota", 32, 33},
    {"Account octets", 34, 35},
    {"Process restarts", 36, 37},
};

static const char queues_sql[] =
    "WITH l AS " SNAP_L ", w AS " SNAP_W
    " SELECT q.queue, q.entries, extract(epoch FROM l.taken_at - q.oldest_at)::bigint,"
    "        (SELECT max(q2.entries) FROM stat_queue q2 JOIN w ON w.id = q2.snapshot_id"
    "          WHERE q2.queue = q.queue)"
    "   FROM stat_queue q JOIN l ON l.id = q.snapshot_id"
    "  ORDER BY array_position(ARRAY['gateway_in', 'submission', 'rerouting', 'remote',"
    "           'gateway_out', 'dead', 'collector'], q.queue), q.queue";

static const struct oomgr_column queue_columns[] = {
    {"Queue", OOMGR_LEFT},
    {"Entries", OOMGR_RIGHT},
    {"Oldest", OOMGR_LEFT},
    {"Max Entries", OOMGR_RIGHT},
};

static const char processes_sql[] =
    "WITH l AS " SNAP_L
    " SELECT t.display_name, sp.instance, sp.state, sp.restarts, sp.clients, sp.tls_clients,"
    "        sp.logged_in, sp.pool_size, sp.pool_busy, sp.jobs_queued"
    "   FROM stat_process sp JOIN l ON l.id = sp.snapshot_id"
    "   LEFT JOIN process_type t ON t.name = sp.type"
    "  ORDER BY sp.type, sp.instance";

static const struct oomgr_column process_columns[] = {
    {"Server Name", OOMGR_LEFT}, {"Instance", OOMGR_RIGHT}, {"State", OOMGR_LEFT},
    {"Restarts", OOMGR_RIGHT},   {"Clients", OOMGR_RIGHT},  {"TLS", OOMGR_RIGHT},
    {"Logged In", OOMGR_RIGHT},  {"Pool", OOMGR_RIGHT},     {"Busy", OOMGR_RIGHT},
    {"Queued", OOMGR_RIGHT},
};

/* The ten largest tables: the whole list is in the snapshot, and in the metrics. */
static const char tables_sql[] =
    "WITH l AS " SNAP_L " SELECT t.table_name, t.total_bytes, t.index_bytes,"
    "        t.toast_bytes"
    "   FROM stat_table t JOIN l ON l.id = t.snapshot_id"
    "  ORDER BY t.total_bytes DESC, t.table_name LIMIT 10";

static const struct oomgr_column table_columns[] = {
    {"Table", OOMGR_LEFT},
    {"Octets", OOMGR_RIGHT},
    {"Indexes", OOMGR_RIGHT},
    {"TOAST", OOMGR_RIGHT},
};

static const char accounts_sql[] =
    "WITH l AS " SNAP_L " SELECT a.address, a.bytes, a.messages, a.quota_bytes,"
    "        CASE WHEN a.quota_bytes > 0 THEN round(100.0 * a.bytes / a.quota_bytes, 1) END"
    "   FROM stat_account a JOIN l ON l.id = a.snapshot_id"
    "  ORDER BY a.bytes DESC, a.address";

static const struct oomgr_column account_columns[] = {
    {"Account", OOMGR_LEFT}, {"Octets", OOMGR_RIGHT}, {"Messages", OOMGR_RIGHT},
    {"Quota", OOMGR_RIGHT},  {"Used %", OOMGR_RIGHT},
};

static const struct {
    const char *name;
    int seconds;
} periods[] = {{"1h", 3600}, {"24h", 86400}, {"7d", 7 * 86400}};

/* Prints one result as a table, after a blank line (the tables follow one another). */
static void print_result(struct oomgr_call *call, const struct oomgr_column *cols, size_t ncols,
                         const PGresult *res, int age_col)
{
    ofc_strbuf_putc(&call->out, '\n');
    struct oomgr_table *t = oomgr_table_new(cols, ncols);
    if (age_col >= 0)
        oomgr_table_add_result_age(t, res, age_col);
    else
        oomgr_table_add_result(t, res);
    oomgr_table_print(t, oomgr_stmt_format(call->st), &call->out);
    oomgr_table_free(&t);
}

static int run_disp_statistics(struct oomgr_call *call, char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    const char *period = oomgr_arg(st, "period");
    size_t pi = 1; /* 24h */
    for (size_t i = 0; period != NULL && i < sizeof(periods) / sizeof(periods[0]); i++)
        if (strcasecmp(periods[i].name, period) == 0)
            pi = i;
    char node[24], secs[16];
    (void)snprintf(secs, sizeof(secs), "%d", periods[pi].seconds);
    const char *const p[] = {node_param(call, node), secs};

    PGresult *res = ofc_db_query(call->db, summary_sql, 2, p);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot read the statistics: %s", ofc_db_error(call->db));
        return -1;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        oomgr_out(call, "No statistics snapshot on this node yet: the Statistics process"
                        " (startup process statistics;) takes one every Interval seconds.");
        return 0;
    }
    char *period_title = ofc_xasprintf("Last %s", periods[pi].name);
    const struct oomgr_column summary_columns[] = {
        {"Figure", OOMGR_LEFT},
        {"Latest", OOMGR_RIGHT},
        {period_title, OOMGR_RIGHT},
    };
    struct oomgr_table *t = oomgr_table_new(summary_columns, 3);
    for (size_t i = 0; i < sizeof(figures) / sizeof(figures[0]); i++) {
        const char *row[] = {
            figures[i].figure,
            figures[i].latest >= 0 ? ofc_db_value(res, 0, figures[i].latest) : NULL,
            figures[i].period >= 0 ? ofc_db_value(res, 0, figures[i].period) : NULL,
        };
        oomgr_table_add(t, row);
    }
    PQclear(res);
    oomgr_table_print(t, oomgr_stmt_format(st), &call->out);
    oomgr_table_free(&t);
    free(period_title);

    static const struct {
        const char *sql;
        const struct oomgr_column *cols;
        size_t ncols;
        int age_col;
        const char *what;
    } details[] = {
        {queues_sql, queue_columns, sizeof(queue_columns) / sizeof(queue_columns[0]), 2,
         "the queues"},
        {processes_sql, process_columns, sizeof(process_columns) / sizeof(process_columns[0]), -1,
         "the processes"},
        {tables_sql, table_columns, sizeof(table_columns) / sizeof(table_columns[0]), -1,
         "the table space"},
        {accounts_sql, account_columns, sizeof(account_columns) / sizeof(account_columns[0]), -1,
         "the account usage"},
    };
    for (size_t i = 0; i < sizeof(details) / sizeof(details[0]); i++) {
        /* Only the queues look at the period ($2); the others take the latest snapshot. */
        res = ofc_db_query(call->db, details[i].sql, i == 0 ? 2 : 1, p);
        if (res == NULL) {
            *error_r = ofc_xasprintf("cannot read %s: %s", details[i].what, ofc_db_error(call->db));
            return -1;
        }
        print_result(call, details[i].cols, details[i].ncols, res, details[i].age_col);
        PQclear(res);
    }
    return 0;
}

/* ---- disp clients (the Probe) ------------------------------------------------ */

/*
 * Every registered protocol server instance of the node; one that is not
 * running has no clients, whatever its last report said. Updated is the
 * age of that report (written on each heartbeat), empty when not running.
 */
static const char clients_sql[] =
    "SELECT t.display_name, p.instance, COALESCE(s.state, 'STOPPED'),"
    "       COALESCE(ss.clients, 0), COALESCE(ss.tls_clients, 0), COALESCE(ss.logged_in, 0),"
    "       COALESCE(ss.pool_size, 0), COALESCE(ss.pool_busy, 0), COALESCE(ss.jobs_queued, 0),"
    "       extract(epoch FROM now() - ss.updated_at)::bigint"
    "  FROM process p JOIN process_type t ON t.name = p.type"
    "  LEFT JOIN process_status s ON s.process_id = p.id"
    "  LEFT JOIN sps_status ss ON ss.process_id = p.id AND s.state = 'RUNNING'"
    " WHERE p.node_id = $1::integer AND p.type IN ('POP3SRV', 'IMAP4SRV')"
    "   AND ($2::text IS NULL OR p.type LIKE upper($2) OR upper(t.display_name) LIKE upper($2))"
    " ORDER BY p.type, p.instance";

static const struct oomgr_column clients_columns[] = {
    {"Server Name", OOMGR_LEFT}, {"Instance", OOMGR_RIGHT}, {"State", OOMGR_LEFT},
    {"Clients", OOMGR_RIGHT},    {"TLS", OOMGR_RIGHT},      {"Logged In", OOMGR_RIGHT},
    {"Pool", OOMGR_RIGHT},       {"Busy", OOMGR_RIGHT},     {"Queued", OOMGR_RIGHT},
    {"Updated", OOMGR_LEFT},
};
#define CLIENTS_FIRST_SUM 3
#define CLIENTS_LAST_SUM  8
#define CLIENTS_AGE_COL   9

static int run_disp_clients(struct oomgr_call *call, char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    const char *type = oomgr_arg(st, "type");
    char *pattern = type != NULL ? oomgr_like_pattern(type) : NULL;
    char node[24];
    const char *const p[] = {node_param(call, node), pattern};
    PGresult *res = ofc_db_query(call->db, clients_sql, 2, p);
    free(pattern);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot read the protocol servers: %s", ofc_db_error(call->db));
        return -1;
    }
    struct oomgr_table *t =
        oomgr_table_new(clients_columns, sizeof(clients_columns) / sizeof(clients_columns[0]));
    oomgr_table_add_result_age(t, res, CLIENTS_AGE_COL);
    /* A Total line when there is more than one instance: what the node serves. */
    if (PQntuples(res) > 1) {
        char sums[CLIENTS_LAST_SUM + 1][24];
        const char *row[sizeof(clients_columns) / sizeof(clients_columns[0])] = {"Total"};
        for (int c = CLIENTS_FIRST_SUM; c <= CLIENTS_LAST_SUM; c++) {
            long long sum = 0;
            for (int r = 0; r < PQntuples(res); r++)
                sum += ofc_db_value_ll(res, r, c, 0);
            row[c] = oomgr_lltoa(sums[c], sizeof(sums[c]), sum);
        }
        oomgr_table_add(t, row);
    }
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

static const struct oomgr_key disp_statistics_keys[] = {
    {"period", OOMGR_KEY_POSITIONAL, 0, 0, "1h|24h|7d",
     "aggregate the snapshots taken within this period (default 24h)"},
    OOMGR_KEY_FORMAT,
    KEY_END,
};
static const struct oomgr_key disp_clients_keys[] = {
    {"type", OOMGR_KEY_POSITIONAL, 0, 0, NULL, "only these types (POP3SRV, IMAP4SRV); wildcards"},
    OOMGR_KEY_FORMAT,
    KEY_END,
};

const struct oomgr_stmt_def oomgr_statistics_stmts[] = {
    {"disp", "statistics", OOMGR_PRIV_NODE, OOMGR_STMT_TX, disp_statistics_keys,
     run_disp_statistics, NULL, "disp statistics [period=1h|24h|7d] [format=table|csv];",
     "Shows the latest Statistics snapshot and aggregates over a period."},
    {"disp", "clients", OOMGR_PRIV_DOMAIN, OOMGR_STMT_TX, disp_clients_keys, run_disp_clients, NULL,
     "disp clients [TYPE] [format=table|csv];",
     "The Probe: clients, logged-in users and pool use of each protocol server instance."},
    {NULL, NULL, OOMGR_PRIV_NONE, 0, NULL, NULL, NULL, NULL, NULL},
};
