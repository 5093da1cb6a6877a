/*
 * NAME
 *      ofcmgd - the Collector: deletes unreferenced messages and expired
 *      records
 *
 * SYNOPSIS
 *      ofcmgd [-c CONFIG] [-f] [instance=N] [connect=CONNINFO]
 *
 * DESCRIPTION
 *      Removes what nothing needs any more, in batches of BatchSize rows,
 *      each its own short transaction, so that delivery never waits for
 *      it: rows are taken FOR UPDATE SKIP LOCKED (what another transaction
 *      holds is skipped, not waited for), and lock_timeout (LockTimeout)
 *      makes any other wait give way: the Collector tries again later.
 *      The Task parameter (a comma list) says which jobs this instance
 *      does, so that several instances can run different jobs on
 *      different schedules (process_schedule):
 *
 *        messages  the collector queue: entries the pointer trigger (an
 *                  expunge, a deleted folder or account) and the queue
 *                  trigger (009: the last queue row of a message without
 *                  pointers went) put there. Each message is deleted if it
 *                  is still unreferenced (no pointer, no queue row:
 *                  submission, rerouting, remote, gateway_out, dead) and
 *                  has been for MessageGraceSeconds; otherwise the entry
 *                  is just dropped. Every SweepInterval seconds, a sweep
 *                  over all messages with refcount 0 catches those that
 *                  never got an entry.
 *        queues    dead entries older than DeadRetentionDays (their
 *                  messages are released to the collector queue), and
 *                  gateway_in entries that no gateway took within
 *                  GatewayInMaxAgeDays go to the dead queue; every
 *                  SweepInterval seconds.
 *        billing   message_billing rows older than BillingRetentionDays;
 *                  every SweepInterval seconds.
 *        statistics  Statistics snapshots (015) older than the RetentionDays
 *                  of the node's STATISTICS process, with their detail
 *                  rows; every SweepInterval seconds.
 *        all       all of the above (the default).
 *
 *      The periodic passes run at start-up and then every SweepInterval
 *      seconds; the messages job also runs on each ofc_collector
 *      notification. Retention 0 keeps rows forever. The process's
 *      lifecycle (configuration, log <node>_collectorNN.log,
 *      registration, heartbeat, refresh, SIGTERM) is ofc_proc_main()'s; a
 *      long pass is cut into slices of about a second so that the
 *      heartbeat keeps going.
 *
 * DIAGNOSTICS
 *      One info line per batch that removed something, with the counts.
 *      A batch that fails is logged as a warning and tried again at the
 *      next wake-up. Exit status as ofc_proc_main(): 0 after SIGTERM, 1
 *      when start-up fails.
 */
/* System. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Libraries. */
#include <libpq-fe.h>

/* libofc. */
#include "ofc_db.h"
#include "ofc_log.h"
#include "ofc_mem.h"
#include "ofc_proc.h"
#include "queue.h"
#include "store_billing.h"
#include "store_collect.h"

/* Longest stretch of batches before the loop gets to heartbeat. */
#define SLICE_MS 1000

/* The jobs of the Task parameter. */
enum task {
    TASK_MESSAGES = 1 << 0,
    TASK_QUEUES = 1 << 1,
    TASK_BILLING = 1 << 2,
    TASK_STATISTICS = 1 << 3,
    TASK_ALL = TASK_MESSAGES | TASK_QUEUES | TASK_BILLING | TASK_STATISTICS,
};

/* The batch jobs; each is a loop of transactions until nothing is left. */
enum job {
    JOB_COLLECT, /* the collector queue */
    JOB_SWEEP,   /* messages with refcount 0 that have no entry */
    JOB_DEAD,    /* dead retention */
    JOB_GATEWAY, /* gateway_in entries nobody took */
    JOB_BILLING, /* billing retention */
    JOB_STATS,   /* statistics snapshot retention */
    JOB_COUNT,
};

static const char *const job_names[JOB_COUNT] = {"collect",    "sweep",   "dead",
                                                 "gateway_in", "billing", "statistics"};

struct collector {
    unsigned tasks;
    int batch;
    int grace_s;
    int sweep_interval_s;
    int dead_days;
    int gateway_in_days;
    int billing_days;
    int lock_timeout_ms;
    /* Periodic jobs still to finish in this pass (bits of 1 << job). */
    unsigned pending;
    int64_t next_pass_ms;  /* CLOCK_MONOTONIC */
    long long sweep_after; /* the sweep's position: the last id looked at */
};

/* One batch: what the transaction did, for the loop and the log. */
struct batch_ctx {
    struct collector *c;
    enum job job;
    size_t taken;   /* rows looked at: fewer than BatchSize means done */
    size_t removed; /* rows deleted (or moved, for gateway_in) */
    long long bytes;
    long long sweep_next; /* JOB_SWEEP: where the next batch starts */
    char sqlstate[6];     /* of the statement that failed */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Parses a Task value ("messages, billing", "all") into TASK_* bits.
 * Returns 0, or -1 naming the first word it does not know in *bad_r (heap;
 * the known words are still taken). 009 refuses such values on write; this
 * guards the type's default and hand-edited rows.
 */
static int parse_tasks(const char *value, unsigned *tasks_r, char **bad_r)
{
    *tasks_r = 0;
    *bad_r = NULL;
    const char *p = value;
    while (*p != '\0') {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, " \t,");
        if (len == 0)
            break;
        if (len == 8 && strncasecmp(p, "messages", len) == 0)
            *tasks_r |= TASK_MESSAGES;
        else if (len == 6 && strncasecmp(p, "queues", len) == 0)
            *tasks_r |= TASK_QUEUES;
        else if (len == 7 && strncasecmp(p, "billing", len) == 0)
            *tasks_r |= TASK_BILLING;
        else if (len == 10 && strncasecmp(p, "statistics", len) == 0)
            *tasks_r |= TASK_STATISTICS;
        else if (len == 3 && strncasecmp(p, "all", len) == 0)
            *tasks_r |= TASK_ALL;
        else if (*bad_r == NULL)
            *bad_r = ofc_xstrndup(p, len);
        p += len;
    }
    return *bad_r == NULL ? 0 : -1;
}

static int param_int(struct ofc_proc *proc, const char *name, int dflt, int lo, int hi)
{
    long long v = ofc_proc_param_int(proc, name, dflt);
    return v < lo || v > hi ? dflt : (int)v;
}

/* (Re)reads the parameters; the ranges are 009's. */
static void read_params(struct ofc_proc *proc, struct collector *c)
{
    const char *task = ofc_proc_param(proc, "Task", "all");
    char *bad = NULL;
    if (parse_tasks(task, &c->tasks, &bad) != 0) {
        ofc_warn("Task: unknown job \"%s\" ignored (messages, queues, billing, statistics, all)",
                 bad);
        free(bad);
    }
    c->batch = param_int(proc, "BatchSize", 500, 1, 100000);
    c->grace_s = param_int(proc, "MessageGraceSeconds", 60, 0, 86400);
    c->sweep_interval_s = param_int(proc, "SweepInterval", 300, 1, 86400);
    c->dead_days = param_int(proc, "DeadRetentionDays", 30, 0, 36500);
    c->gateway_in_days = param_int(proc, "GatewayInMaxAgeDays", 7, 0, 3650);
    c->billing_days = param_int(proc, "BillingRetentionDays", 90, 0, 36500);
    c->lock_timeout_ms = param_int(proc, "LockTimeout", 1000, 1, 600000);
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{TASK_MESSAGES, "messages"},
                 {TASK_QUEUES, "queues"},
                 {TASK_BILLING, "billing"},
                 {TASK_STATISTICS, "statistics"}};
    struct ofc_strbuf sb;
    ofc_strbuf_init(&sb);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (c->tasks & names[i].bit)
            ofc_strbuf_printf(&sb, "%s%s", sb.len > 0 ? "," : "", names[i].name);
    }
    ofc_info("Task=%s BatchSize=%d MessageGraceSeconds=%d SweepInterval=%d"
             " DeadRetentionDays=%d GatewayInMaxAgeDays=%d BillingRetentionDays=%d"
             " LockTimeout=%d",
             sb.len > 0 ? sb.data : "(nothing)", c->batch, c->grace_s, c->sweep_interval_s,
             c->dead_days, c->gateway_in_days, c->billing_days, c->lock_timeout_ms);
    ofc_strbuf_free(&sb);
}

/* The periodic jobs this instance's tasks and retention settings ask for. */
static unsigned periodic_jobs(const struct collector *c)
{
    unsigned jobs = 0;
    if (c->tasks & TASK_MESSAGES)
        jobs |= 1u << JOB_SWEEP;
    if ((c->tasks & TASK_QUEUES) && c->dead_days > 0)
        jobs |= 1u << JOB_DEAD;
    if ((c->tasks & TASK_QUEUES) && c->gateway_in_days > 0)
        jobs |= 1u << JOB_GATEWAY;
    if ((c->tasks & TASK_BILLING) && c->billing_days > 0)
        jobs |= 1u << JOB_BILLING;
    if (c->tasks & TASK_STATISTICS)
        jobs |= 1u << JOB_STATS;
    return jobs;
}

/*
 * Statistics retention: up to batch snapshots older than the RetentionDays
 * of the node's STATISTICS process go, with their detail rows
 * (stat_purge(), 015). The retention is Statistics' parameter, not ours,
 * so that one setting governs what Statistics keeps. Runs inside the
 * caller's transaction.
 */
static int stats_purge(struct ofc_db *db, int batch, size_t *n_r, char **error_r)
{
    char b[16];
    (void)snprintf(b, sizeof(b), "%d", batch);
    const char *const p[] = {b};
    PGresult *res = ofc_db_query(db, "SELECT stat_purge($1::integer)", 1, p);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot purge statistics snapshots: %s", ofc_db_error(db));
        return -1;
    }
    long long n = ofc_db_value_ll(res, 0, 0, 0);
    PQclear(res);
    *n_r = n > 0 ? (size_t)n : 0;
    return 0;
}

static void remember_sqlstate(struct batch_ctx *ctx, struct ofc_db *db)
{
    const char *state = ofc_db_sqlstate(db);
    strncpy(ctx->sqlstate, state != NULL ? state : "", sizeof(ctx->sqlstate) - 1);
    ctx->sqlstate[sizeof(ctx->sqlstate) - 1] = '\0';
}

/* One batch of ctx->job in the caller's transaction (ofc_db_transaction). */
static int batch_tx(struct ofc_db *db, void *vctx, char **error_r)
{
    struct batch_ctx *ctx = vctx;
    struct collector *c = ctx->c;
    ctx->taken = ctx->removed = 0;
    ctx->bytes = 0;
    ctx->sqlstate[0] = '\0';

    /* Give way rather than wait: delivery matters more than we do. */
    char *timeout = ofc_xasprintf("%dms", c->lock_timeout_ms);
    const char *params[] = {timeout};
    int rc = ofc_db_exec(db, "SELECT set_config('lock_timeout', $1, true)", 1, params);
    free(timeout);
    if (rc != 0) {
        remember_sqlstate(ctx, db);
        *error_r = ofc_xasprintf("cannot set lock_timeout: %s", ofc_db_error(db));
        return OFC_DB_ERROR;
    }

    long long *ids = NULL;
    size_t n = 0;
    switch (ctx->job) {
    case JOB_COLLECT:
        rc = queue_collector_take(db, c->batch, c->grace_s, &ids, &n, &ctx->taken, error_r);
        if (rc == 0)
            rc = store_collect_messages(db, ids, n, &ctx->removed, &ctx->bytes, error_r);
        break;
    case JOB_SWEEP:
        rc = store_collect_candidates(db, c->sweep_after, c->grace_s, c->batch, &ids, &n, error_r);
        ctx->taken = n;
        ctx->sweep_next = n > 0 ? ids[n - 1] : c->sweep_after;
        if (rc == 0)
            rc = store_collect_messages(db, ids, n, &ctx->removed, &ctx->bytes, error_r);
        break;
    case JOB_DEAD:
        rc = queue_dead_purge(db, c->dead_days, c->batch, &ctx->removed, error_r);
        ctx->taken = ctx->removed;
        break;
    case JOB_GATEWAY:
        rc = queue_gateway_in_expire(db, c->gateway_in_days, c->batch, &ctx->removed, error_r);
        ctx->taken = ctx->removed;
        break;
    case JOB_BILLING:
        rc = billing_purge(db, c->billing_days, c->batch, &ctx->removed, error_r);
        ctx->taken = ctx->removed;
        break;
    case JOB_STATS:
        rc = stats_purge(db, c->batch, &ctx->removed, error_r);
        ctx->taken = ctx->removed;
        break;
    case JOB_COUNT:
    default:
        *error_r = ofc_xasprintf("unknown job %d", (int)ctx->job);
        rc = -1;
        break;
    }
    free(ids);
    if (rc != 0) {
        remember_sqlstate(ctx, db);
        return OFC_DB_ERROR;
    }
    return OFC_DB_OK;
}

static void log_batch(const struct collector *c, const struct batch_ctx *ctx)
{
    if (ctx->removed == 0 && !(ctx->job == JOB_COLLECT && ctx->taken > 0))
        return;
    switch (ctx->job) {
    case JOB_COLLECT:
        ofc_info("collected %zu unreferenced messages (%lld octets); %zu collector entries done",
                 ctx->removed, ctx->bytes, ctx->taken);
        break;
    case JOB_SWEEP:
        ofc_info("sweep: deleted %zu unreferenced messages without collector entry (%lld octets)",
                 ctx->removed, ctx->bytes);
        break;
    case JOB_DEAD:
        ofc_info("purged %zu dead entries older than %d days", ctx->removed, c->dead_days);
        break;
    case JOB_GATEWAY:
        ofc_info("moved %zu gateway_in entries older than %d days to the dead queue", ctx->removed,
                 c->gateway_in_days);
        break;
    case JOB_BILLING:
        ofc_info("purged %zu billing records older than %d days", ctx->removed, c->billing_days);
        break;
    case JOB_STATS:
        ofc_info("purged %zu statistics snapshots older than the STATISTICS RetentionDays",
                 ctx->removed);
        break;
    default:
        break;
    }
}

enum run_result {
    RUN_DONE,   /* nothing left (or gave way to a lock): the job is finished for now */
    RUN_SLICE,  /* the time slice is used up: come back after the heartbeat */
    RUN_FAILED, /* logged; tried again at the next wake-up */
};

/* Runs batches of one job until it runs dry, the slice ends or we stop. */
static enum run_result run_job(struct ofc_proc *proc, struct collector *c, enum job job,
                               int64_t slice_end)
{
    struct ofc_db *db = ofc_proc_db(proc);
    while (!ofc_proc_stopping(proc)) {
        struct batch_ctx ctx = {.c = c, .job = job};
        char *err = NULL;
        int rc = ofc_db_transaction(db, false, 5, batch_tx, &ctx, &err);
        if (rc != OFC_DB_OK) {
            if (strcmp(ctx.sqlstate, "55P03") == 0) {
                /* lock_not_available: someone else needs the rows now. */
                ofc_info("%s: gave way to a lock held by another transaction; later",
                         job_names[job]);
                free(err);
                return RUN_DONE;
            }
            ofc_warn("%s: %s", job_names[job], err != NULL ? err : "transaction failed");
            free(err);
            return RUN_FAILED;
        }
        log_batch(c, &ctx);
        if (job == JOB_SWEEP)
            c->sweep_after = ctx.sweep_next;
        if (ctx.taken < (size_t)c->batch)
            return RUN_DONE;
        if (now_ms() >= slice_end)
            return RUN_SLICE;
    }
    return RUN_SLICE;
}

static int collector_work(struct ofc_proc *proc)
{
    struct collector *c = ofc_proc_userdata(proc);
    int64_t start = now_ms();
    int64_t slice_end = start + SLICE_MS;
    if (start >= c->next_pass_ms) {
        unsigned jobs = periodic_jobs(c);
        if ((jobs & (1u << JOB_SWEEP)) && !(c->pending & (1u << JOB_SWEEP)))
            c->sweep_after = 0;
        c->pending |= jobs;
        c->next_pass_ms = start + (int64_t)c->sweep_interval_s * 1000;
    }
    int failed = 0;
    if (c->tasks & TASK_MESSAGES) {
        enum run_result r = run_job(proc, c, JOB_COLLECT, slice_end);
        if (r == RUN_SLICE) {
            ofc_proc_wake(proc);
            return 0;
        }
        failed |= r == RUN_FAILED;
    }
    for (int job = 0; job < JOB_COUNT; job++) {
        if (!(c->pending & (1u << job)))
            continue;
        enum run_result r = run_job(proc, c, (enum job)job, slice_end);
        if (r == RUN_SLICE) {
            ofc_proc_wake(proc);
            return 0;
        }
        /* A failed job waits for the next pass rather than spin. */
        c->pending &= ~(1u << job);
        failed |= r == RUN_FAILED;
    }
    return failed ? -1 : 0;
}

static int collector_init(struct ofc_proc *proc)
{
    struct collector *c = ofc_xcalloc(1, sizeof(*c));
    read_params(proc, c);
    c->next_pass_ms = 0; /* the first pass at start-up */
    ofc_proc_set_userdata(proc, c);
    /* Entries queued while no Collector ran sent their NOTIFY to nobody. */
    ofc_proc_wake(proc);
    return 0;
}

static void collector_refresh(struct ofc_proc *proc)
{
    struct collector *c = ofc_proc_userdata(proc);
    read_params(proc, c);
    /* Jobs no longer asked for are dropped; new ones wait for the next pass. */
    c->pending &= periodic_jobs(c);
}

static void collector_cleanup(struct ofc_proc *proc)
{
    struct collector *c = ofc_proc_userdata(proc);
    free(c);
    ofc_proc_set_userdata(proc, NULL);
}

int main(int argc, char **argv)
{
    static const char *const channels[] = {"ofc_collector", NULL};
    static const struct ofc_proc_def def = {
        .program = "ofcmgd",
        .type = "COLLECTOR",
        .log_base = "collector",
        .log_numbered = true,
        .summary = "The Collector: deletes unreferenced messages and expired records.",
        .channels = channels,
        .init = collector_init,
        .work = collector_work,
        .refresh = collector_refresh,
        .cleanup = collector_cleanup,
    };
    return ofc_proc_main(&def, argc, argv);
}
