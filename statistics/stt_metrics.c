/*
 * stt_metrics.c - GET /metrics in the Prometheus text format (0.0.4).
 *
 * libmicrohttpd runs one thread of its own (MHD_USE_INTERNAL_POLLING_THREAD)
 * that answers one request at a time, so the endpoint's database handle
 * is only ever used by that thread; it connects on the first scrape and
 * again after the server went away. Figures come from the latest snapshot
 * (one per Interval), except the queue lengths, which are read at the
 * scrape: they are what an alert wants to see at once. Per-period figures
 * (deliveries, delivery times, dispositions) are gauges over the last
 * snapshot's period, named so in their HELP.
 */
/* System. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Libraries. */
#include <libpq-fe.h>
#include <microhttpd.h>

/* libofc. */
#include "ofc_db.h"
#include "ofc_log.h"
#include "ofc_mem.h"

/* Statistics. */
#include "stt_metrics.h"
#include "stt_snapshot.h"

/* A scrape waits this long for the database before it answers 503. */
#define METRICS_DB_WAIT_MS 2000

struct stt_metrics {
    struct MHD_Daemon *daemon;
    struct ofc_db *db; /* used by the daemon's thread only */
    long long node_id;
};

/* ---- the exposition text ------------------------------------------------ */

/* A label value with the format's escapes: backslash, double quote, newline. NULL: "". */
static void put_label_value(struct ofc_strbuf *sb, const char *v)
{
    for (; v != NULL && *v != '\0'; v++) {
        if (*v == '\\')
            ofc_strbuf_puts(sb, "\\\\");
        else if (*v == '"')
            ofc_strbuf_puts(sb, "\\\"");
        else if (*v == '\n')
            ofc_strbuf_puts(sb, "\\n");
        else
            ofc_strbuf_putc(sb, *v);
    }
}

static void family(struct ofc_strbuf *sb, const char *name, const char *type, const char *help)
{
    ofc_strbuf_printf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample; value NULL (SQL NULL) is written as NaN. */
static void sample(struct ofc_strbuf *sb, const char *name, const char *key, const char *label,
                   const char *value)
{
    ofc_strbuf_puts(sb, name);
    if (key != NULL) {
        ofc_strbuf_printf(sb, "{%s=\"", key);
        put_label_value(sb, label);
        ofc_strbuf_puts(sb, "\"}");
    }
    ofc_strbuf_printf(sb, " %s\n", value != NULL ? value : "NaN");
}

/* A family of one sample per row: label from label_col, value from value_col (NULL: no sample). */
static void column_family(struct ofc_strbuf *sb, const PGresult *res, const char *key,
                          int label_col, int value_col, const char *name, const char *type,
                          const char *help)
{
    family(sb, name, type, help);
    for (int r = 0; r < PQntuples(res); r++) {
        const char *v = ofc_db_value(res, r, value_col);
        if (v != NULL)
            sample(sb, name, key, ofc_db_value(res, r, label_col), v);
    }
}

/* The latest snapshot's own row. */
static const char latest_sql[] =
    "SELECT id, extract(epoch FROM taken_at)::float8,"
    "       extract(epoch FROM period_end - period_start)::float8,"
    "       delivered, delivered_messages, delivered_bytes, delivery_p50, delivery_p95,"
    "       delivery_p99, delivery_max, COALESCE(delivery_sum, 0), remote, gateway, bounced,"
    "       dead, forwarded, database_bytes, accounts, accounts_over_quota, account_bytes"
    "  FROM stat_snapshot WHERE node_id = $1::integer ORDER BY id DESC LIMIT 1";

/* Single-valued families of latest_sql: column, name, type, help. */
static const struct {
    int col;
    const char *name;
    const char *type;
    const char *help;
} latest_families[] = {
    {1, "ofcmail_statistics_snapshot_timestamp_seconds", "gauge",
     "When the latest statistics snapshot was taken (Unix time)."},
    {2, "ofcmail_statistics_period_seconds", "gauge",
     "Length of the latest snapshot's period, which the per-period figures cover."},
    {3, "ofcmail_delivered_recipients", "gauge",
     "Local deliveries (one per recipient) in the latest snapshot's period."},
    {4, "ofcmail_delivered_messages", "gauge",
     "Distinct messages delivered locally in the latest snapshot's period."},
    {5, "ofcmail_delivered_bytes", "gauge",
     "Octets delivered locally in the latest snapshot's period (each recipient counts the size)."},
    {9, "ofcmail_delivery_max_seconds", "gauge",
     "Longest delivery time (submission to delivery) in the latest snapshot's period."},
    {16, "ofcmail_database_bytes", "gauge", "Size of the node's database (pg_database_size)."},
    {17, "ofcmail_accounts", "gauge", "Accounts homed on this node."},
    {18, "ofcmail_accounts_over_quota", "gauge", "Accounts using more than their quota."},
    {19, "ofcmail_accounts_used_bytes", "gauge", "Octets used by the accounts homed on this node."},
};

static void render_latest(struct ofc_strbuf *sb, const PGresult *res)
{
    for (size_t i = 0; i < sizeof(latest_families) / sizeof(latest_families[0]); i++) {
        family(sb, latest_families[i].name, latest_families[i].type, latest_families[i].help);
        sample(sb, latest_families[i].name, NULL, NULL,
               ofc_db_value(res, 0, latest_families[i].col));
    }
    static const char *const quantiles[] = {"0.5", "0.95", "0.99"};
    family(sb, "ofcmail_delivery_seconds", "summary",
           "Delivery time (submission to delivery) of the latest snapshot's period.");
    for (int q = 0; q < 3; q++)
        sample(sb, "ofcmail_delivery_seconds", "quantile", quantiles[q],
               ofc_db_value(res, 0, 6 + q));
    sample(sb, "ofcmail_delivery_seconds_sum", NULL, NULL, ofc_db_value(res, 0, 10));
    sample(sb, "ofcmail_delivery_seconds_count", NULL, NULL, ofc_db_value(res, 0, 3));

    static const struct {
        int col;
        const char *name;
    } dispositions[] = {{3, "delivered"}, {11, "remote"}, {12, "gateway"},
                        {13, "bounced"},  {14, "dead"},   {15, "forwarded"}};
    family(sb, "ofcmail_dispositions", "gauge",
           "Billing records (one per recipient) by disposition in the latest snapshot's period.");
    for (size_t i = 0; i < sizeof(dispositions) / sizeof(dispositions[0]); i++)
        sample(sb, "ofcmail_dispositions", "disposition", dispositions[i].name,
               ofc_db_value(res, 0, dispositions[i].col));
}

static const char queues_sql[] = "SELECT q, n, COALESCE(extract(epoch FROM now() - o), 0)::float8"
                                 "  FROM (" STT_QUEUES_SQL ") s(q, n, o)";

static const char tables_sql[] = "SELECT table_name, total_bytes, index_bytes, toast_bytes"
                                 "  FROM stat_table WHERE snapshot_id = $1::bigint"
                                 " ORDER BY table_name";

static const char accounts_sql[] = "SELECT address, bytes, messages, quota_bytes"
                                   "  FROM stat_account WHERE snapshot_id = $1::bigint"
                                   " ORDER BY bytes DESC, address";

static const char processes_sql[] =
    "SELECT type || '/' || instance, (state = 'RUNNING')::int, restarts, clients, tls_clients,"
    "       logged_in, pool_size, pool_busy, jobs_queued"
    "  FROM stat_process WHERE snapshot_id = $1::bigint ORDER BY type, instance";

static int query_failed(struct ofc_db *db, const char *what, char **error_r)
{
    *error_r = ofc_xasprintf("cannot read %s: %s", what, ofc_db_error(db));
    return -1;
}

int stt_metrics_render(struct ofc_db *db, long long node_id, struct ofc_strbuf *out, char **error_r)
{
    char node[24];
    (void)snprintf(node, sizeof(node), "%lld", node_id);
    const char *const np[] = {node};

    PGresult *res = ofc_db_query(db, queues_sql, 0, NULL);
    if (res == NULL)
        return query_failed(db, "the queues", error_r);
    column_family(out, res, "queue", 0, 1, "ofcmail_queue_length", "gauge",
                  "Entries on the queue now.");
    column_family(out, res, "queue", 0, 2, "ofcmail_queue_oldest_seconds", "gauge",
                  "Age of the queue's oldest entry now (0 when empty).");
    PQclear(res);

    res = ofc_db_query(db, latest_sql, 1, np);
    if (res == NULL)
        return query_failed(db, "the latest snapshot", error_r);
    if (PQntuples(res) == 0) {
        PQclear(res);
        return 0; /* no snapshot yet: the live figures only */
    }
    char id[24];
    (void)snprintf(id, sizeof(id), "%s", ofc_db_value(res, 0, 0));
    render_latest(out, res);
    PQclear(res);
    const char *const sp[] = {id};

    res = ofc_db_query(db, tables_sql, 1, sp);
    if (res == NULL)
        return query_failed(db, "the table space", error_r);
    column_family(out, res, "table", 0, 1, "ofcmail_table_bytes", "gauge",
                  "Space of a table: heap, indexes and TOAST.");
    column_family(out, res, "table", 0, 2, "ofcmail_table_index_bytes", "gauge",
                  "Space of a table's indexes.");
    column_family(out, res, "table", 0, 3, "ofcmail_table_toast_bytes", "gauge",
                  "Space of a table's TOAST table and its index.");
    PQclear(res);

    res = ofc_db_query(db, accounts_sql, 1, sp);
    if (res == NULL)
        return query_failed(db, "the account usage", error_r);
    column_family(out, res, "account", 0, 1, "ofcmail_account_bytes", "gauge",
                  "Octets an account uses (the largest accounts and those near their quota).");
    column_family(out, res, "account", 0, 2, "ofcmail_account_messages", "gauge",
                  "Messages in an account's folders.");
    column_family(out, res, "account", 0, 3, "ofcmail_account_quota_bytes", "gauge",
                  "An account's quota (accounts without a limit have no sample).");
    PQclear(res);

    res = ofc_db_query(db, processes_sql, 1, sp);
    if (res == NULL)
        return query_failed(db, "the processes", error_r);
    column_family(out, res, "process", 0, 1, "ofcmail_process_up", "gauge",
                  "1 when the registered process is RUNNING.");
    column_family(out, res, "process", 0, 2, "ofcmail_process_restarts_total", "counter",
                  "Restarts of the process by the Guardian.");
    column_family(out, res, "process", 0, 3, "ofcmail_protocol_clients", "gauge",
                  "Clients connected to the protocol server instance.");
    column_family(out, res, "process", 0, 4, "ofcmail_protocol_tls_clients", "gauge",
                  "Clients of the protocol server instance on TLS.");
    column_family(out, res, "process", 0, 5, "ofcmail_protocol_logged_in", "gauge",
                  "Clients of the protocol server instance that have logged in.");
    column_family(out, res, "process", 0, 6, "ofcmail_protocol_pool_size", "gauge",
                  "Database connections in the instance's pool.");
    column_family(out, res, "process", 0, 7, "ofcmail_protocol_pool_busy", "gauge",
                  "Database connections of the pool lent to a request.");
    column_family(out, res, "process", 0, 8, "ofcmail_protocol_jobs_queued", "gauge",
                  "Requests waiting for a worker thread of the instance.");
    PQclear(res);
    return 0;
}

/* ---- the HTTP side ------------------------------------------------------ */

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, char *body, size_t len,
                              const char *content_type)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(body);
        return MHD_NO;
    }
    if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) != MHD_YES) {
        MHD_destroy_response(resp);
        return MHD_NO;
    }
    enum MHD_Result r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result answer_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
    char *body = ofc_xstrdup(text);
    return answer(conn, status, body, strlen(body), "text/plain; charset=utf-8");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct stt_metrics *m = cls;
    (void)version;
    (void)upload_data;
    (void)con_cls;
    if (*upload_data_size != 0) {
        *upload_data_size = 0; /* a body nobody asked for is read and ignored */
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return answer_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET /metrics\n");
    if (strcmp(url, "/metrics") != 0)
        return answer_text(conn, MHD_HTTP_NOT_FOUND, "not found: try /metrics\n");
    if (ofc_db_ensure(m->db, NULL, METRICS_DB_WAIT_MS) != 0)
        return answer_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "no database connection\n");
    struct ofc_strbuf sb;
    ofc_strbuf_init(&sb);
    char *err = NULL;
    if (stt_metrics_render(m->db, m->node_id, &sb, &err) != 0) {
        ofc_warn("metrics: %s", err);
        ofc_strbuf_free(&sb);
        char *msg = ofc_xasprintf("%s\n", err);
        free(err);
        return answer(conn, MHD_HTTP_SERVICE_UNAVAILABLE, msg, strlen(msg),
                      "text/plain; charset=utf-8");
    }
    size_t len = sb.len;
    char *body = ofc_strbuf_detach(&sb);
    return answer(conn, MHD_HTTP_OK, body, len, "text/plain; version=0.0.4; charset=utf-8");
}

/* libmicrohttpd's own complaints go to our log. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char *msg = ofc_xvasprintf(fmt, ap);
    size_t len = strlen(msg);
    while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
        msg[--len] = '\0';
    ofc_warn("metrics endpoint: %s", msg);
    free(msg);
}

int stt_metrics_start(const char *conninfo, long long node_id, const char *address, int port,
                      struct stt_metrics **m_r, char **error_r)
{
    *m_r = NULL;
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
    struct sockaddr *sa;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    memset(&sin, 0, sizeof(sin));
    memset(&sin6, 0, sizeof(sin6));
    if (port < 1 || port > 65535) {
        *error_r = ofc_xasprintf("MetricsPort %d is not a TCP port", port);
        return -1;
    }
    if (inet_pton(AF_INET, address, &sin.sin_addr) == 1) {
        sin.sin_family = AF_INET;
        sin.sin_port = htons((uint16_t)port);
        sa = (struct sockaddr *)&sin;
    } else if (inet_pton(AF_INET6, address, &sin6.sin6_addr) == 1) {
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons((uint16_t)port);
        sa = (struct sockaddr *)&sin6;
        flags |= MHD_USE_IPv6;
    } else {
        *error_r = ofc_xasprintf("MetricsAddress \"%s\" is not an IPv4 or IPv6 address", address);
        return -1;
    }
    struct stt_metrics *m = ofc_xcalloc(1, sizeof(*m));
    m->node_id = node_id;
    m->db = ofc_db_new(conninfo, "ofcmon/metrics");
    /* The logger first: libmicrohttpd uses it only for what follows it. */
    m->daemon = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, on_request, m, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log,
        (void *)NULL, MHD_OPTION_SOCK_ADDR, sa, MHD_OPTION_CONNECTION_LIMIT, (unsigned)16,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (m->daemon == NULL) {
        ofc_db_free(&m->db);
        free(m);
        *error_r = ofc_xasprintf("cannot listen on %s port %d (see the line above)", address, port);
        return -1;
    }
    *m_r = m;
    return 0;
}

void stt_metrics_stop(struct stt_metrics **m)
{
    if (*m == NULL)
        return;
    MHD_stop_daemon((*m)->daemon);
    ofc_db_free(&(*m)->db);
    free(*m);
    *m = NULL;
}
