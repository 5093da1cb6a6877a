/*
 * registry.c - what should run on this node, read from the database.
 *
 * One query gives every registered instance of a managed process type on
 * the local node with its desired state, whether now is inside its
 * schedule (process_schedule_open(), schema 007, in the node's time zone),
 * when that next changes, and the parameters the Guardian acts on
 * (process_parameter_effective: the override, else the type's default).
 * The GUARDIAN type has no `process` row; its own LogLevel and
 * HeartbeatInterval are the type's defaults.
 *
 * The read happens after a NOTIFY on ofc_process (any change of process,
 * process_schedule, process_parameter or process_type_parameter), at a
 * schedule boundary, after a reconnect, and at least every
 * GUARD_SAFETY_POLL_MS.
 */
/* System. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libofc. */
#include "ofc_config.h"
#include "ofc_db.h"
#include "ofc_log.h"
#include "ofc_mem.h"

/* This program. */
#include "guardian.h"

/* Fallbacks when a parameter is missing (they match 002's defaults). */
#define DEFAULT_HEARTBEAT_TIMEOUT  120
#define DEFAULT_STOP_GRACE         10
#define DEFAULT_CRASH_COUNT        5
#define DEFAULT_CRASH_WINDOW       60
#define DEFAULT_THROTTLE_COOLDOWN  300
#define DEFAULT_HEARTBEAT_INTERVAL 10

/* After a failed read of the registry. */
#define REGISTRY_RETRY_MS 5000

/* A boundary is acted on a little after it passed, never a little before. */
#define SCHEDULE_SLACK_MS 50

enum {
    COL_ID,
    COL_TYPE,
    COL_INSTANCE,
    COL_DESIRED,
    COL_EXECUTABLE,
    COL_ARGS,
    COL_LOG_BASE,
    COL_LOG_NUMBERED,
    COL_OPEN,
    COL_NEXT_CHANGE,
    COL_HEARTBEAT_TIMEOUT,
    COL_STOP_GRACE,
    COL_CRASH_COUNT,
    COL_CRASH_WINDOW,
    COL_THROTTLE_COOLDOWN,
};

static const char registry_sql[] =
    "SELECT p.id, p.type, p.instance, p.desired_state = 'RUNNING', t.executable, t.args,"
    "  t.log_base, t.log_numbered, process_schedule_open(p.id),"
    "  process_schedule_next_change(p.id),"
    "  (SELECT e.value FROM process_parameter_effective e"
    "    WHERE e.process_id = p.id AND e.name = 'HeartbeatTimeout'),"
    "  (SELECT e.value FROM process_parameter_effective e"
    "    WHERE e.process_id = p.id AND e.name = 'StopGrace'),"
    "  (SELECT e.value FROM process_parameter_effective e"
    "    WHERE e.process_id = p.id AND e.name = 'CrashLoopCount'),"
    "  (SELECT e.value FROM process_parameter_effective e"
    "    WHERE e.process_id = p.id AND e.name = 'CrashLoopWindow'),"
    "  (SELECT e.value FROM process_parameter_effective e"
    "    WHERE e.process_id = p.id AND e.name = 'ThrottleCooldown')"
    " FROM process p JOIN process_type t ON t.name = p.type"
    " WHERE p.node_id = $1::integer AND t.managed"
    " ORDER BY p.type, p.instance";

/* An integer column within [lo, hi], else dflt (the catalogue's limits apply already). */
static int int_value(const PGresult *res, int row, int col, int dflt, int lo, int hi)
{
    long long v = ofc_db_value_ll(res, row, col, dflt);
    if (v < lo || v > hi)
        return dflt;
    return (int)v;
}

static bool bool_value(const PGresult *res, int row, int col)
{
    const char *v = ofc_db_value(res, row, col);
    return v != NULL && strcmp(v, "t") == 0;
}

static const char *text_value(const PGresult *res, int row, int col)
{
    const char *v = ofc_db_value(res, row, col);
    return v != NULL ? v : "";
}

struct child *child_find_pid(struct guard *g, pid_t pid)
{
    for (struct child *c = g->children; c != NULL; c = c->next)
        if (c->pid == pid)
            return c;
    return NULL;
}

static struct child *child_find_id(struct guard *g, long long id)
{
    for (struct child *c = g->children; c != NULL; c = c->next)
        if (c->id == id)
            return c;
    return NULL;
}

void child_free(struct child **cp)
{
    struct child *c = *cp;
    if (c == NULL)
        return;
    free(c->id_text);
    free(c->type);
    free(c->executable);
    free(c->args);
    free(c->log_base);
    free(c->exits);
    free(c->failed_reason);
    free(c->last_exit);
    free(c);
    *cp = NULL;
}

/* Replaces *field with value when they differ; says whether it changed. */
static bool set_text(char **field, const char *value)
{
    if (*field != NULL && strcmp(*field, value) == 0)
        return false;
    free(*field);
    *field = ofc_xstrdup(value);
    return true;
}

/* The Guardian's own parameters: the GUARDIAN type's defaults. */
static void load_own_params(struct guard *g)
{
    PGresult *res = ofc_db_query(g->db,
                                 "SELECT name, default_value FROM process_type_parameter"
                                 " WHERE type = '" GUARD_TYPE "'"
                                 "  AND name IN ('LogLevel', 'HeartbeatInterval')",
                                 0, NULL);
    if (res == NULL) {
        if (!guard_db_check_lost(g))
            ofc_warn("cannot read the Guardian's parameters: %s", ofc_db_error(g->db));
        return;
    }
    g->heartbeat_interval_s = DEFAULT_HEARTBEAT_INTERVAL;
    for (int r = 0; r < PQntuples(res); r++) {
        const char *name = text_value(res, r, 0);
        const char *value = text_value(res, r, 1);
        if (strcmp(name, "HeartbeatInterval") == 0) {
            g->heartbeat_interval_s = int_value(res, r, 1, DEFAULT_HEARTBEAT_INTERVAL, 1, 3600);
            continue;
        }
        enum ofc_log_level level;
        if (ofc_log_level_parse(value, &level) != 0) {
            ofc_warn("ignoring invalid LogLevel '%s' of %s", value, GUARD_TYPE);
            continue;
        }
        enum ofc_log_level old = ofc_log_get_level();
        if (level == old)
            continue;
        /* Said while the more verbose level is in force, so that the line is kept. */
        if (level > old)
            ofc_log_set_level(level);
        ofc_info("log level %s (was %s): LogLevel of %s", ofc_log_level_name(level),
                 ofc_log_level_name(old), GUARD_TYPE);
        ofc_log_set_level(level);
    }
    PQclear(res);
}

/* Takes one registry row into its child (created when new). Returns the child. */
static struct child *take_row(struct guard *g, const PGresult *res, int r)
{
    long long id = ofc_db_value_ll(res, r, COL_ID, 0);
    struct child *c = child_find_id(g, id);
    if (c == NULL) {
        c = ofc_xcalloc(1, sizeof(*c));
        c->id = id;
        c->id_text = ofc_xasprintf("%lld", id);
        c->backoff_s = GUARD_BACKOFF_MIN_S;
        c->phase = PHASE_IDLE;
        c->dirty = true; /* the row says what the last Guardian left: make it true */
        /* At the end: the registry's order (type, instance) is the order of starts and logs. */
        struct child **tail = &g->children;
        while (*tail != NULL)
            tail = &(*tail)->next;
        *tail = c;
    }
    const char *shown = status_state_name(c);
    c->registered = true;
    c->instance = int_value(res, r, COL_INSTANCE, 1, 1, 99);
    bool changed = set_text(&c->type, text_value(res, r, COL_TYPE));
    changed |= set_text(&c->executable, text_value(res, r, COL_EXECUTABLE));
    changed |= set_text(&c->args, text_value(res, r, COL_ARGS));
    changed |= set_text(&c->log_base, text_value(res, r, COL_LOG_BASE));
    c->log_numbered = bool_value(res, r, COL_LOG_NUMBERED);
    c->desired = bool_value(res, r, COL_DESIRED);
    c->in_schedule = bool_value(res, r, COL_OPEN);
    c->p.heartbeat_timeout =
        int_value(res, r, COL_HEARTBEAT_TIMEOUT, DEFAULT_HEARTBEAT_TIMEOUT, 1, 86400);
    c->p.stop_grace = int_value(res, r, COL_STOP_GRACE, DEFAULT_STOP_GRACE, 1, 600);
    c->p.crash_count = int_value(res, r, COL_CRASH_COUNT, DEFAULT_CRASH_COUNT, 1, 1000);
    c->p.crash_window = int_value(res, r, COL_CRASH_WINDOW, DEFAULT_CRASH_WINDOW, 1, 86400);
    c->p.throttle_cooldown =
        int_value(res, r, COL_THROTTLE_COOLDOWN, DEFAULT_THROTTLE_COOLDOWN, 1, 86400);
    /* An idle instance may now be shown differently (STOPPED, SCHEDULED): rewrite it. */
    if (strcmp(shown, status_state_name(c)) != 0)
        c->dirty = true;
    /*
     * An instance that could not be executed is tried again when the
     * registry changes (the administrator installed it, fixed the type, or
     * asked again) - not every 30 s, which would be a slow crash loop.
     */
    if (c->phase == PHASE_FAILED && (g->registry_changed || changed)) {
        c->phase = PHASE_IDLE;
        c->dirty = true;
    }
    return c;
}

int registry_load(struct guard *g)
{
    load_own_params(g);
    if (!g->db_up)
        return -1;
    const char *args[] = {g->node_id_text};
    PGresult *res = ofc_db_query(g->db, registry_sql, 1, args);
    if (res == NULL) {
        if (!guard_db_check_lost(g)) {
            /* Once per distinct reason: a broken registry must not flood the log. */
            if (g->registry_error == NULL || strcmp(g->registry_error, ofc_db_error(g->db)) != 0)
                ofc_error("cannot read the process registry: %s; the children keep running as "
                          "they are; retrying every %d s",
                          ofc_db_error(g->db), REGISTRY_RETRY_MS / 1000);
            free(g->registry_error);
            g->registry_error = ofc_xstrdup(ofc_db_error(g->db));
            g->registry_due_ms = guard_now_ms() + REGISTRY_RETRY_MS;
            g->registry_stale = false;
        }
        return -1;
    }
    if (g->registry_error != NULL) {
        ofc_info("the process registry can be read again");
        OFC_FREE(g->registry_error);
    }
    for (struct child *c = g->children; c != NULL; c = c->next)
        c->registered = false;
    double next_change = -1;
    for (int r = 0; r < PQntuples(res); r++) {
        (void)take_row(g, res, r);
        const char *nc = ofc_db_value(res, r, COL_NEXT_CHANGE);
        if (nc != NULL) {
            errno = 0;
            double s = strtod(nc, NULL);
            if (errno == 0 && s > 0 && (next_change < 0 || s < next_change))
                next_change = s;
        }
    }
    PQclear(res);
    /* Children no longer registered are stopped by the reconcile step and then forgotten. */
    for (struct child **cp = &g->children; *cp != NULL;) {
        struct child *c = *cp;
        if (!c->registered && c->pid == 0) {
            ofc_info("%s instance %d (process %lld) is no longer registered", c->type, c->instance,
                     c->id);
            *cp = c->next;
            child_free(&c);
            continue;
        }
        cp = &c->next;
    }
    int64_t now = guard_now_ms();
    g->registry_due_ms = now + GUARD_SAFETY_POLL_MS;
    if (next_change >= 0 && next_change * 1000 < GUARD_SAFETY_POLL_MS)
        g->registry_due_ms = now + (int64_t)(next_change * 1000) + SCHEDULE_SLACK_MS;
    g->registry_stale = false;
    g->registry_changed = false;
    return 0;
}

int registry_find_node(struct guard *g, char **error_r)
{
    PGresult *res = ofc_db_query(g->db, "SELECT id, name FROM node WHERE is_local", 0, NULL);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot look up the local node: %s", ofc_db_error(g->db));
        return -1;
    }
    if (PQntuples(res) != 1) {
        PQclear(res);
        *error_r = ofc_xstrdup("the database has no local node (ofcsetup create-node makes one)");
        return -1;
    }
    const char *name = text_value(res, 0, 1);
    if (strcmp(name, g->cfg->node) != 0) {
        /* Log file names and the pid file would then name the wrong node. */
        *error_r = ofc_xasprintf("the database's local node is %s, but the configuration says %s",
                                 name, g->cfg->node);
        PQclear(res);
        return -1;
    }
    g->node_id = ofc_db_value_ll(res, 0, 0, 0);
    PQclear(res);
    free(g->node_id_text);
    g->node_id_text = ofc_xasprintf("%lld", g->node_id);
    return 0;
}
