/*
 * health.c - an instance whose heartbeat is too old is restarted.
 *
 * Every process writes process_status.last_wakeup at least every
 * HeartbeatInterval seconds. One whose heartbeat is older than its
 * HeartbeatTimeout gets SIGTERM, SIGKILL after StopGrace, and is
 * restarted (last_exit "heartbeat timeout").
 *
 * The age is measured by the database (now() - last_wakeup, one clock)
 * and carried over to ours. A heartbeat counts as seen when the instance
 * was started and when the database came back after an outage: a child
 * cannot beat while the server is away and then reconnects with backoff,
 * so it gets a whole HeartbeatTimeout from then on. While the Guardian
 * cannot read heartbeats at all, it kills nobody for them.
 *
 * The next check is due when the freshest possible heartbeat of some
 * instance would go stale, so a healthy node is looked at about once per
 * HeartbeatTimeout - HeartbeatInterval, not on a fixed fast tick.
 */
/* System. */
#include <stdio.h>
#include <stdlib.h>

/* libofc. */
#include "ofc_db.h"
#include "ofc_log.h"
#include "ofc_mem.h"

/* This program. */
#include "guardian.h"

/* Looked at a little after a heartbeat would go stale, never a little before. */
#define HEALTH_SLACK_MS 100
/* After a failed query. */
#define HEALTH_RETRY_MS 1000

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

void health_check(struct guard *g)
{
    const char *args[] = {g->node_id_text};
    PGresult *res = ofc_db_query(g->db,
                                 "SELECT s.process_id, s.pid,"
                                 "  (extract(epoch FROM now() - s.last_wakeup) * 1000)::bigint"
                                 " FROM process_status s JOIN process p ON p.id = s.process_id"
                                 " WHERE p.node_id = $1::integer AND s.pid IS NOT NULL",
                                 1, args);
    int64_t now = guard_now_ms();
    if (res == NULL) {
        if (!guard_db_check_lost(g))
            ofc_warn("cannot read heartbeats: %s", ofc_db_error(g->db));
        g->health_due_ms = now + HEALTH_RETRY_MS;
        return;
    }
    int64_t due = now + GUARD_SAFETY_POLL_MS;
    for (struct child *c = g->children; c != NULL; c = c->next) {
        if (c->phase != PHASE_RUNNING)
            continue;
        for (int r = 0; r < PQntuples(res); r++) {
            if (ofc_db_value_ll(res, r, 0, 0) != c->id ||
                ofc_db_value_ll(res, r, 1, 0) != (long long)c->pid)
                continue;
            long long age_ms = ofc_db_value_ll(res, r, 2, -1);
            if (age_ms >= 0)
                c->hb_seen_ms = max64(c->hb_seen_ms, now - age_ms);
        }
        int64_t seen = max64(max64(c->started_ms, g->db_up_since_ms), c->hb_seen_ms);
        int64_t timeout_ms = (int64_t)c->p.heartbeat_timeout * 1000;
        if (now - seen > timeout_ms) {
            char *detail = ofc_xasprintf("no heartbeat for %.1f s (HeartbeatTimeout %d s)",
                                         (double)(now - seen) / 1000.0, c->p.heartbeat_timeout);
            child_stop(g, c, STOP_HEARTBEAT, detail);
            free(detail);
            continue;
        }
        if (seen + timeout_ms + HEALTH_SLACK_MS < due)
            due = seen + timeout_ms + HEALTH_SLACK_MS;
    }
    PQclear(res);
    g->health_due_ms = due;
}
