/*
 * stt_snapshot.c - one Statistics snapshot, one transaction.
 *
 * Every figure is an INSERT ... SELECT computed by the server, so nothing
 * travels to ofcmon but the new snapshot's id and the few numbers of its
 * log line. A failure anywhere rolls the whole snapshot back: a snapshot
 * is complete or absent, and the next one covers the period again
 * (period_start is the last stored snapshot's period_end).
 */
/* System. */
#include <stdio.h>
#include <stdlib.h>

/* Libraries. */
#include <libpq-fe.h>

/* libofc. */
#include "ofc_db.h"
#include "ofc_mem.h"

/* Statistics. */
#include "stt_snapshot.h"

/*
 * The snapshot row. Its period starts where the previous one ended (or
 * Interval before its end, for the first) and ends SettleSeconds ago,
 * never before it starts. Delivery time counts from submission (the
 * message entering the node) to disposal; a negative one (clocks of two
 * hosts) counts as 0.
 */
static const char snapshot_sql[] =
    "WITH prev AS (SELECT period_end FROM stat_snapshot WHERE node_id = $1::integer"
    "               ORDER BY id DESC LIMIT 1),"
    " e AS (SELECT GREATEST(now() - make_interval(secs => $3::integer),"
    "                       (SELECT period_end FROM prev)) AS e),"
    " p AS (SELECT COALESCE((SELECT period_end FROM prev),"
    "                       e.e - make_interval(secs => $4::integer)) AS s, e.e FROM e),"
    " r AS (SELECT b.disposition, b.message_id, b.size,"
    "              GREATEST(extract(epoch FROM b.disposed_at - b.submitted_at), 0)"
    "                ::double precision AS t"
    "         FROM message_billing b, p WHERE b.disposed_at >= p.s AND b.disposed_at < p.e),"
    " a AS (SELECT count(*) FILTER (WHERE disposition = 'DELIVERED') AS delivered,"
    "              count(DISTINCT message_id) FILTER (WHERE disposition = 'DELIVERED') AS msgs,"
    "              COALESCE(sum(size) FILTER (WHERE disposition = 'DELIVERED'), 0) AS bytes,"
    "              percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY t)"
    "                FILTER (WHERE disposition = 'DELIVERED') AS pct,"
    "              max(t) FILTER (WHERE disposition = 'DELIVERED') AS tmax,"
    "              sum(t) FILTER (WHERE disposition = 'DELIVERED') AS tsum,"
    "              count(*) FILTER (WHERE disposition = 'REMOTE') AS remote,"
    "              count(*) FILTER (WHERE disposition = 'GATEWAY') AS gateway,"
    "              count(*) FILTER (WHERE disposition = 'BOUNCED') AS bounced,"
    "              count(*) FILTER (WHERE disposition = 'DEAD') AS dead,"
    "              count(*) FILTER (WHERE disposition = 'FORWARDED') AS forwarded"
    "         FROM r)"
    " INSERT INTO stat_snapshot (node_id, process_id, period_start, period_end, delivered,"
    "   delivered_messages, delivered_bytes, delivery_p50, delivery_p95, delivery_p99,"
    "   delivery_max, delivery_sum, remote, gateway, bounced, dead, forwarded, database_bytes)"
    " SELECT $1::integer, $2::integer, p.s, p.e, a.delivered, a.msgs, a.bytes, a.pct[1],"
    "        a.pct[2], a.pct[3], a.tmax, a.tsum, a.remote, a.gateway, a.bounced, a.dead,"
    "        a.forwarded, pg_database_size(current_database())"
    "   FROM p, a"
    " RETURNING id, delivered, delivered_bytes, COALESCE(delivery_p95, -1), database_bytes";

static const char queues_sql[] = "INSERT INTO stat_queue (snapshot_id, queue, entries, oldest_at)"
                                 " SELECT $1::bigint, q, n, o FROM (" STT_QUEUES_SQL ") s(q, n, o)"
                                 " RETURNING entries";

/*
 * Every table of our schema (the search path's first: ofc), with its
 * TOAST table and that table's index; materialized views too.
 */
static const char tables_sql[] =
    "INSERT INTO stat_table (snapshot_id, table_name, total_bytes, index_bytes, toast_bytes)"
    " SELECT $1::bigint, c.relname, pg_total_relation_size(c.oid), pg_indexes_size(c.oid),"
    "        COALESCE(pg_total_relation_size(NULLIF(c.reltoastrelid, 0)), 0)"
    "   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    "  WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'm')";

/*
 * Accounts homed here: the AccountTop ($3) using the most octets and
 * every one at 90% of its quota or more ($3 = 0: all), and the totals on
 * the snapshot row, from one reading of account_usage.
 */
static const char accounts_sql[] =
    "WITH u AS MATERIALIZED ("
    "   SELECT u.account_id, u.bytes, u.messages, u.quota_bytes,"
    "          o.name || '@' || d.fqdn AS address,"
    "          row_number() OVER (ORDER BY u.bytes DESC, u.account_id) AS rank"
    "     FROM account_usage u JOIN account a ON a.object_id = u.account_id"
    "     JOIN dir_object o ON o.id = a.object_id JOIN domain d ON d.id = o.domain_id"
    "    WHERE a.home_node_id = $2::integer),"
    " ins AS (INSERT INTO stat_account (snapshot_id, account_id, address, bytes, messages,"
    "                                   quota_bytes)"
    "   SELECT $1::bigint, account_id, address, bytes, messages, quota_bytes FROM u"
    "    WHERE $3::integer = 0 OR rank <= $3::integer"
    "       OR (quota_bytes IS NOT NULL AND bytes > 0 AND bytes * 10 >= quota_bytes * 9))"
    " UPDATE stat_snapshot s SET accounts = t.n, accounts_over_quota = t.over,"
    "        account_bytes = t.bytes"
    "   FROM (SELECT count(*) AS n,"
    "                count(*) FILTER (WHERE quota_bytes IS NOT NULL AND bytes > quota_bytes)"
    "                  AS over,"
    "                COALESCE(sum(bytes), 0) AS bytes FROM u) t"
    "  WHERE s.id = $1::bigint";

/*
 * Every registered process of the node; protocol servers add what their
 * last heartbeat wrote to sps_status, or 0 when they are not running (a
 * killed instance leaves its last figures behind).
 */
static const char processes_sql[] =
    "INSERT INTO stat_process (snapshot_id, process_id, type, instance, state, restarts,"
    "   clients, tls_clients, logged_in, pool_size, pool_busy, jobs_queued)"
    " SELECT $1::bigint, p.id, p.type, p.instance, COALESCE(s.state, 'STOPPED'),"
    "        COALESCE(s.restarts, 0), v.clients, v.tls_clients, v.logged_in, v.pool_size,"
    "        v.pool_busy, v.jobs_queued"
    "   FROM process p"
    "   LEFT JOIN process_status s ON s.process_id = p.id"
    "   LEFT JOIN sps_status ss ON ss.process_id = p.id AND s.state = 'RUNNING'"
    "   LEFT JOIN LATERAL (SELECT COALESCE(ss.clients, 0) AS clients,"
    "            COALESCE(ss.tls_clients, 0) AS tls_clients,"
    "            COALESCE(ss.logged_in, 0) AS logged_in, COALESCE(ss.pool_size, 0) AS pool_size,"
    "            COALESCE(ss.pool_busy, 0) AS pool_busy,"
    "            COALESCE(ss.jobs_queued, 0) AS jobs_queued"
    "      WHERE p.type IN ('POP3SRV', 'IMAP4SRV')) v ON true"
    "  WHERE p.node_id = $2::integer";

struct snapshot_ctx {
    const struct stt_snapshot_args *args;
    struct stt_snapshot_result res;
};

static int fail(struct ofc_db *db, const char *what, char **error_r)
{
    *error_r = ofc_xasprintf("cannot record %s: %s", what, ofc_db_error(db));
    return OFC_DB_ERROR;
}

static int snapshot_tx(struct ofc_db *db, void *vctx, char **error_r)
{
    struct snapshot_ctx *ctx = vctx;
    const struct stt_snapshot_args *a = ctx->args;
    char node[24], proc[24], settle[16], interval[16], top[16], id[24];
    (void)snprintf(node, sizeof(node), "%lld", a->node_id);
    (void)snprintf(proc, sizeof(proc), "%lld", a->process_id);
    (void)snprintf(settle, sizeof(settle), "%d", a->settle_s);
    (void)snprintf(interval, sizeof(interval), "%d", a->interval_s);
    (void)snprintf(top, sizeof(top), "%d", a->account_top);
    const char *const sp[] = {node, a->process_id > 0 ? proc : NULL, settle, interval};
    PGresult *res = ofc_db_query(db, snapshot_sql, 4, sp);
    if (res == NULL)
        return fail(db, "the snapshot", error_r);
    if (PQntuples(res) != 1) {
        PQclear(res);
        *error_r = ofc_xstrdup("cannot record the snapshot: no row inserted");
        return OFC_DB_ERROR;
    }
    ctx->res.id = ofc_db_value_ll(res, 0, 0, 0);
    ctx->res.delivered = ofc_db_value_ll(res, 0, 1, 0);
    ctx->res.delivered_bytes = ofc_db_value_ll(res, 0, 2, 0);
    const char *p95 = ofc_db_value(res, 0, 3);
    ctx->res.p95 = p95 != NULL ? strtod(p95, NULL) : -1;
    ctx->res.database_bytes = ofc_db_value_ll(res, 0, 4, 0);
    PQclear(res);

    (void)snprintf(id, sizeof(id), "%lld", ctx->res.id);
    const char *const ip[] = {id, node, top};
    res = ofc_db_query(db, queues_sql, 1, ip);
    if (res == NULL)
        return fail(db, "the queues", error_r);
    ctx->res.queued = 0;
    for (int r = 0; r < PQntuples(res); r++)
        ctx->res.queued += ofc_db_value_ll(res, r, 0, 0);
    PQclear(res);
    if (ofc_db_exec(db, tables_sql, 1, ip) != 0)
        return fail(db, "the table space", error_r);
    if (ofc_db_exec(db, accounts_sql, 3, ip) != 0)
        return fail(db, "the account usage", error_r);
    if (ofc_db_exec(db, processes_sql, 2, ip) != 0)
        return fail(db, "the processes", error_r);
    return OFC_DB_OK;
}

int stt_snapshot_take(struct ofc_db *db, const struct stt_snapshot_args *args,
                      struct stt_snapshot_result *res_r, char **error_r)
{
    struct snapshot_ctx ctx = {.args = args};
    if (ofc_db_transaction(db, false, 3, snapshot_tx, &ctx, error_r) != OFC_DB_OK)
        return -1;
    *res_r = ctx.res;
    return 0;
}
