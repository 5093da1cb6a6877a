/*
 * statistics.c - Statistics (ofcmon class=6): the hooks monitor/main.c
 * calls (statistics.h).
 *
 * Every Interval seconds one snapshot (stt_snapshot.c); when MetricsPort
 * is not 0, the metrics endpoint (stt_metrics.c) on MetricsAddress. The
 * lifecycle wakes work() at least every HeartbeatInterval, so a snapshot
 * is at most that late. The schedule survives a restart: the next
 * snapshot is due Interval after the latest stored one, so a restart loop
 * does not take a snapshot per start. Old snapshots are the Collector's
 * (Task statistics).
 */
/* System. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Libraries. */
#include <libpq-fe.h>

/* libofc. */
#include "ofc_config.h"
#include "ofc_db.h"
#include "ofc_log.h"
#include "ofc_mem.h"
#include "ofc_proc.h"

/* Statistics. */
#include "statistics.h"
#include "stt_metrics.h"
#include "stt_snapshot.h"

struct stt {
    int interval_s;
    int settle_s;
    int account_top;
    int metrics_port;
    char *metrics_address;
    int64_t next_ms; /* CLOCK_MONOTONIC: the next snapshot is due */
    struct stt_metrics *metrics;
};

/*
 * One ofc_proc_main() runs per process (ofc_proc.h), so the state is the
 * module's; the lifecycle's userdata stays free for monitor/main.c.
 */
static struct stt *stt_state;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int param_int(struct ofc_proc *proc, const char *name, int dflt, int lo, int hi)
{
    long long v = ofc_proc_param_int(proc, name, dflt);
    return v < lo || v > hi ? dflt : (int)v;
}

/* (Re)reads the parameters; the ranges are 015's. */
static void read_params(struct ofc_proc *proc, struct stt *s)
{
    s->interval_s = param_int(proc, "Interval", 300, 1, 86400);
    s->settle_s = param_int(proc, "SettleSeconds", 30, 0, 3600);
    s->account_top = param_int(proc, "AccountTop", 20, 0, 1000000);
    s->metrics_port = param_int(proc, "MetricsPort", 0, 0, 65535);
    free(s->metrics_address);
    s->metrics_address = ofc_xstrdup(ofc_proc_param(proc, "MetricsAddress", "127.0.0.1"));
    ofc_info("Interval=%d SettleSeconds=%d AccountTop=%d MetricsPort=%d MetricsAddress=%s",
             s->interval_s, s->settle_s, s->account_top, s->metrics_port, s->metrics_address);
}

/*
 * The conninfo of the lifecycle's connection as libpq used it (the
 * configuration's, or connect= from the command line), for the endpoint's
 * own connection. Debug options are left out.
 */
static char *conninfo_of(PGconn *conn)
{
    struct ofc_strbuf sb;
    ofc_strbuf_init(&sb);
    PQconninfoOption *opts = PQconninfo(conn);
    for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++) {
        if (o->val == NULL || o->val[0] == '\0' || strchr(o->dispchar, 'D') != NULL ||
            strcmp(o->keyword, "application_name") == 0)
            continue;
        ofc_strbuf_printf(&sb, "%s%s=", sb.len > 0 ? " " : "", o->keyword);
        ofc_conninfo_append_value(&sb, o->val);
    }
    if (opts != NULL)
        PQconninfoFree(opts);
    if (sb.data == NULL)
        return ofc_xstrdup("");
    return ofc_strbuf_detach(&sb);
}

/* Starts the endpoint if MetricsPort asks for one. A failure is logged; snapshots go on. */
static void metrics_start(struct ofc_proc *proc, struct stt *s)
{
    if (s->metrics_port == 0)
        return;
    struct ofc_db *db = ofc_proc_db(proc);
    if (!ofc_db_connected(db)) {
        ofc_warn("metrics endpoint not started: no database connection; at the next refresh");
        return;
    }
    char *conninfo = conninfo_of(ofc_db_conn(db));
    char *err = NULL;
    if (stt_metrics_start(conninfo, ofc_proc_node_id(proc), s->metrics_address, s->metrics_port,
                          &s->metrics, &err) != 0) {
        ofc_error("metrics endpoint not started: %s", err);
        free(err);
    } else {
        ofc_info("metrics endpoint: http://%s%s%s:%d/metrics",
                 strchr(s->metrics_address, ':') != NULL ? "[" : "", s->metrics_address,
                 strchr(s->metrics_address, ':') != NULL ? "]" : "", s->metrics_port);
    }
    free(conninfo);
}

/* When the latest stored snapshot was taken: the next is due Interval after it. */
static void schedule_from_latest(struct ofc_proc *proc, struct stt *s)
{
    char node[24];
    (void)snprintf(node, sizeof(node), "%lld", ofc_proc_node_id(proc));
    const char *const p[] = {node};
    PGresult *res = ofc_db_query(ofc_proc_db(proc),
                                 "SELECT extract(epoch FROM now() - taken_at)::float8"
                                 "  FROM stat_snapshot WHERE node_id = $1::integer"
                                 " ORDER BY id DESC LIMIT 1",
                                 1, p);
    s->next_ms = now_ms();
    if (res == NULL) {
        ofc_warn("cannot read the latest snapshot: %s; taking one now",
                 ofc_db_error(ofc_proc_db(proc)));
        return;
    }
    if (PQntuples(res) == 1 && ofc_db_value(res, 0, 0) != NULL) {
        double age = strtod(ofc_db_value(res, 0, 0), NULL);
        if (age >= 0 && age < s->interval_s)
            s->next_ms += (int64_t)((s->interval_s - age) * 1000);
    }
    PQclear(res);
}

int statistics_init(struct ofc_proc *proc)
{
    struct stt *s = ofc_xcalloc(1, sizeof(*s));
    read_params(proc, s);
    schedule_from_latest(proc, s);
    metrics_start(proc, s);
    stt_state = s;
    return 0;
}

int statistics_work(struct ofc_proc *proc)
{
    struct stt *s = stt_state;
    if (s == NULL || ofc_proc_stopping(proc))
        return 0;
    int64_t now = now_ms();
    if (now < s->next_ms)
        return 0;
    struct stt_snapshot_args args = {
        .node_id = ofc_proc_node_id(proc),
        .process_id = ofc_proc_id(proc),
        .interval_s = s->interval_s,
        .settle_s = s->settle_s,
        .account_top = s->account_top,
    };
    struct stt_snapshot_result res;
    char *err = NULL;
    if (stt_snapshot_take(ofc_proc_db(proc), &args, &res, &err) != 0) {
        ofc_warn("snapshot failed: %s", err != NULL ? err : "transaction failed");
        free(err);
        return -1; /* tried again at the next wake-up */
    }
    /* From now, not from when it was due: a late snapshot does not bring the next one forward. */
    s->next_ms = now + (int64_t)s->interval_s * 1000;
    if (res.p95 >= 0)
        ofc_info("snapshot %lld: %lld delivered (%lld octets, p95 %.3f s), %lld queued,"
                 " database %lld octets",
                 res.id, res.delivered, res.delivered_bytes, res.p95, res.queued,
                 res.database_bytes);
    else
        ofc_info("snapshot %lld: nothing delivered, %lld queued, database %lld octets", res.id,
                 res.queued, res.database_bytes);
    return 0;
}

void statistics_refresh(struct ofc_proc *proc)
{
    struct stt *s = stt_state;
    if (s == NULL)
        return;
    int old_port = s->metrics_port;
    char *old_address = ofc_xstrdup(s->metrics_address);
    int old_interval = s->interval_s;
    read_params(proc, s);
    /* A shorter Interval takes effect now, not after the old one ran out. */
    if (s->interval_s < old_interval)
        s->next_ms -= (int64_t)(old_interval - s->interval_s) * 1000;
    bool moved = old_port != s->metrics_port || strcmp(old_address, s->metrics_address) != 0;
    free(old_address);
    if (moved || (s->metrics == NULL && s->metrics_port != 0)) {
        if (s->metrics != NULL) {
            stt_metrics_stop(&s->metrics);
            ofc_info("metrics endpoint stopped");
        }
        metrics_start(proc, s);
    }
}

void statistics_cleanup(struct ofc_proc *proc)
{
    (void)proc;
    struct stt *s = stt_state;
    if (s == NULL)
        return;
    stt_metrics_stop(&s->metrics);
    free(s->metrics_address);
    free(s);
    stt_state = NULL;
}
