/*
 * status.c - what the Guardian writes: process_status and guardian_status.
 *
 * A child writes its own process_status row once connected (RUNNING, its
 * backend pid, the heartbeat); the Guardian writes the rest: the pid it
 * forked, STARTING/STOPPING/STOPPED/SCHEDULED/BACKOFF/THROTTLED/FAILED,
 * the start time, the restart count and the last exit. Each child carries
 * what the row owes (dirty, restarts not yet counted, the last exit with
 * its time) so that whatever happened while the database was away is
 * written once it is back.
 *
 * Caution: the Guardian's write may come after the child's own (a delayed
 * write after an outage); the upsert below therefore never turns a RUNNING
 * row of the same pid back into STARTING, and keeps the child's backend
 * pid and heartbeat as long as the pid is the same.
 */
/* System. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* libofc. */
#include "ofc_db.h"
#include "ofc_log.h"
#include "ofc_mem.h"

/* This program. */
#include "guardian.h"

/* SQLSTATE foreign_key_violation: the process was deregistered meanwhile. */
#define SQLSTATE_FK_VIOLATION "23503"

const char *status_state_name(const struct child *c)
{
    switch (c->phase) {
    case PHASE_RUNNING:
        return "STARTING";
    case PHASE_STOPPING:
        return "STOPPING";
    case PHASE_BACKOFF:
        return "BACKOFF";
    case PHASE_THROTTLED:
        return "THROTTLED";
    case PHASE_FAILED:
        return "FAILED";
    case PHASE_IDLE:
        break;
    }
    return c->registered && c->desired && !c->in_schedule ? "SCHEDULED" : "STOPPED";
}

/* An epoch time as text for to_timestamp(), or NULL (SQL NULL) for none. */
static const char *epoch_text(char *buf, size_t size, double t)
{
    if (t <= 0)
        return NULL;
    (void)snprintf(buf, size, "%.6f", t);
    return buf;
}

/* Writes one row. Returns 0, or -1 (the connection is gone, or a logged error). */
static int write_child(struct guard *g, struct child *c)
{
    char pid[24], restarts[24], started[40], exit_at[40], retry[40];
    (void)snprintf(pid, sizeof(pid), "%ld", (long)c->pid);
    (void)snprintf(restarts, sizeof(restarts), "%d", c->restarts_unwritten);
    bool has_pid = c->pid > 0;
    const char *args[] = {
        c->id_text,
        status_state_name(c),
        has_pid ? pid : NULL,
        g->host,
        has_pid ? epoch_text(started, sizeof(started), c->started_wall) : NULL,
        restarts,
        c->last_exit,
        c->last_exit != NULL ? epoch_text(exit_at, sizeof(exit_at), c->last_exit_wall) : NULL,
        c->phase == PHASE_BACKOFF || c->phase == PHASE_THROTTLED
            ? epoch_text(retry, sizeof(retry), c->retry_at_wall)
            : NULL,
    };
    int rc = ofc_db_exec(
        g->db,
        "INSERT INTO process_status AS s (process_id, state, pid, host, started_at, restarts,"
        "  last_exit, last_exit_at, retry_at, updated_at)"
        " VALUES ($1::integer, $2, $3::integer, $4, to_timestamp($5::double precision),"
        "  $6::integer, $7, to_timestamp($8::double precision),"
        "  to_timestamp($9::double precision), now())"
        " ON CONFLICT (process_id) DO UPDATE SET"
        "  state = CASE WHEN EXCLUDED.state = 'STARTING' AND s.state = 'RUNNING'"
        "   AND s.pid = EXCLUDED.pid THEN 'RUNNING' ELSE EXCLUDED.state END,"
        "  backend_pid = CASE WHEN s.pid = EXCLUDED.pid THEN s.backend_pid END,"
        "  last_wakeup = CASE WHEN EXCLUDED.pid IS NULL OR s.pid = EXCLUDED.pid"
        "   THEN s.last_wakeup END,"
        "  started_at = CASE WHEN EXCLUDED.pid IS NULL OR s.pid = EXCLUDED.pid"
        "   THEN s.started_at ELSE EXCLUDED.started_at END,"
        "  pid = EXCLUDED.pid, host = EXCLUDED.host,"
        "  restarts = s.restarts + EXCLUDED.restarts,"
        /* A start failure (exec refused) is not an exit: once the
           instance runs again it no longer describes it. */
        "  last_exit = CASE WHEN EXCLUDED.last_exit IS NOT NULL THEN EXCLUDED.last_exit"
        "   WHEN EXCLUDED.pid IS NOT NULL AND (s.last_exit LIKE 'executable not found:%'"
        "    OR s.last_exit LIKE 'cannot execute %') THEN NULL ELSE s.last_exit END,"
        "  last_exit_at = CASE WHEN EXCLUDED.last_exit IS NOT NULL THEN EXCLUDED.last_exit_at"
        "   WHEN EXCLUDED.pid IS NOT NULL AND (s.last_exit LIKE 'executable not found:%'"
        "    OR s.last_exit LIKE 'cannot execute %') THEN NULL ELSE s.last_exit_at END,"
        "  retry_at = EXCLUDED.retry_at, updated_at = now()",
        9, args);
    if (rc == 0) {
        c->dirty = false;
        c->restarts_unwritten = 0;
        return 0;
    }
    if (guard_db_check_lost(g))
        return -1;
    if (strcmp(ofc_db_sqlstate(g->db), SQLSTATE_FK_VIOLATION) == 0) {
        /* Deregistered: there is no row to keep any more. */
        c->dirty = false;
        c->restarts_unwritten = 0;
        return 0;
    }
    /* A lock or statement timeout passes: keep the row owed for the next round. */
    const char *state = ofc_db_sqlstate(g->db);
    bool transient = strncmp(state, "55", 2) == 0 || strncmp(state, "57", 2) == 0 ||
                     ofc_db_sqlstate_is_retryable(state);
    ofc_log(transient ? OFC_LOG_WARN : OFC_LOG_ERROR,
            "cannot record the status of %s instance %d: %s%s", c->type, c->instance,
            ofc_db_error(g->db), transient ? "; trying again later" : "");
    /* Anything else would fail the same way again: said once, and given up. */
    if (!transient)
        c->dirty = false;
    return -1;
}

int status_flush(struct guard *g)
{
    int ret = 0;
    for (struct child *c = g->children; c != NULL && g->db_up; c = c->next) {
        if (!c->dirty)
            continue;
        if (write_child(g, c) != 0)
            ret = -1;
    }
    return ret;
}

int status_guardian_write(struct guard *g)
{
    char pid[24], started[40];
    (void)snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    const char *args[] = {g->node_id_text, pid, g->host,
                          epoch_text(started, sizeof(started), g->started_wall)};
    int rc = ofc_db_exec(g->db,
                         "INSERT INTO guardian_status AS s"
                         " (node_id, pid, backend_pid, host, started_at, last_wakeup)"
                         " VALUES ($1::integer, $2::integer, pg_backend_pid(), $3,"
                         "  to_timestamp($4::double precision), now())"
                         " ON CONFLICT (node_id) DO UPDATE SET pid = EXCLUDED.pid,"
                         "  backend_pid = EXCLUDED.backend_pid, host = EXCLUDED.host,"
                         "  started_at = EXCLUDED.started_at, last_wakeup = now()",
                         4, args);
    if (rc == 0)
        g->beat_due_ms = guard_now_ms() + (int64_t)g->heartbeat_interval_s * 1000;
    return rc;
}

void status_guardian_beat(struct guard *g)
{
    /* The next one an interval away also on failure: no tight retry loop. */
    g->beat_due_ms = guard_now_ms() + (int64_t)g->heartbeat_interval_s * 1000;
    const char *args[] = {g->node_id_text};
    if (ofc_db_exec(g->db,
                    "UPDATE guardian_status SET last_wakeup = now() WHERE node_id = $1::integer", 1,
                    args) != 0 &&
        !guard_db_check_lost(g))
        ofc_warn("cannot record the Guardian's heartbeat: %s", ofc_db_error(g->db));
}

void status_guardian_clear(struct guard *g)
{
    char pid[24];
    (void)snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    const char *args[] = {g->node_id_text, pid};
    if (ofc_db_exec(g->db,
                    "UPDATE guardian_status SET pid = NULL, backend_pid = NULL,"
                    " last_wakeup = now() WHERE node_id = $1::integer AND pid = $2::integer",
                    2, args) != 0)
        ofc_warn("cannot clear guardian_status: %s", ofc_db_error(g->db));
}
