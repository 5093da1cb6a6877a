/*
 * process.c - startup, shutdown, refresh, disp, register and deregister
 * of the node's processes.
 *
 * oomgr never starts or stops a process itself: it writes what the
 * administrator wants (process.desired_state) and the Guardian, which
 * LISTENs for changes to the registry, makes it so. That is why
 * "Started successfully." means "the Guardian has been told", why oomgr
 * warns when no Guardian is there to listen, and why waiting for the
 * result (wait=SECONDS) happens after the transaction has committed: the
 * Guardian cannot see the change before.
 */
/* System. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Libraries. */
#include <libpq-fe.h>

/* libofc. */
#include "ofc_db.h"
#include "ofc_mem.h"
#include "ofc_time.h"

/* This program. */
#include "oomgr.h"

/* A Guardian whose heartbeat is older than this is taken for gone. */
#define GUARDIAN_STALE_SECONDS "60"

/* How often wait=SECONDS looks at process_status. */
#define WAIT_POLL_MS 200

/* ---- helpers -------------------------------------------------------------- */

static const char *node_id(struct oomgr_call *call, char buf[24])
{
    return oomgr_lltoa(buf, 24, call->om->session->node_id);
}

int oomgr_process_type(struct oomgr_call *call, const char *name, char **type_r, bool *managed_r,
                       char **error_r)
{
    const char *const p[] = {name};
    PGresult *res = ofc_db_query(call->db,
                                 "SELECT name, managed FROM process_type"
                                 " WHERE name = upper($1) OR upper(display_name) = upper($1)"
                                 " ORDER BY name = upper($1) DESC LIMIT 1",
                                 1, p);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot read the process types: %s", ofc_db_error(call->db));
        return -1;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        *error_r = ofc_xasprintf("unknown process type '%s'", name);
        return -1;
    }
    *type_r = ofc_xstrdup(ofc_db_value(res, 0, 0));
    if (managed_r != NULL) {
        const char *m = ofc_db_value(res, 0, 1);
        *managed_r = m != NULL && m[0] == 't';
    }
    PQclear(res);
    return 0;
}

int oomgr_process_instance(struct oomgr_call *call, const char *type, long long instance,
                           long long *id_r, char **error_r)
{
    char node[24], inst[24];
    const char *const p[] = {node_id(call, node), type, oomgr_lltoa(inst, sizeof(inst), instance)};
    PGresult *res = ofc_db_query(call->db,
                                 "SELECT id FROM process WHERE node_id = $1::integer"
                                 " AND type = $2 AND instance = $3::integer",
                                 3, p);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot read the processes: %s", ofc_db_error(call->db));
        return -1;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        *error_r = ofc_xasprintf("%s instance %lld is not registered on %s", type, instance,
                                 call->om->session->node_name);
        return -1;
    }
    *id_r = ofc_db_value_ll(res, 0, 0, 0);
    PQclear(res);
    return 0;
}

/* Whether the node's Guardian shows a recent heartbeat. -1 on a database error. */
static int guardian_alive(struct oomgr_call *call, bool *alive_r, char **error_r)
{
    char node[24];
    const char *const p[] = {node_id(call, node)};
    PGresult *res =
        ofc_db_query(call->db,
                     "SELECT EXISTS (SELECT 1 FROM guardian_status"
                     " WHERE node_id = $1::integer AND pid IS NOT NULL"
                     "   AND last_wakeup > now() - interval '" GUARDIAN_STALE_SECONDS " seconds')",
                     1, p);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot read the Guardian's status: %s", ofc_db_error(call->db));
        return -1;
    }
    const char *v = ofc_db_value(res, 0, 0);
    *alive_r = v != NULL && v[0] == 't';
    PQclear(res);
    return 0;
}

/*
 * The instances a startup/shutdown/refresh statement names: all of the
 * node's (object "all"), every instance of TYPE, or one. Fills *type_r
 * (NULL for all) and *instance_r (0 for every instance) and checks that
 * at least one such instance is registered.
 */
static int statement_targets(struct oomgr_call *call, char **type_r, long long *instance_r,
                             char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    bool managed = true;
    *type_r = NULL;
    *instance_r = 0;
    if (strcmp(st->def->object, "all") == 0)
        return 0;
    if (oomgr_process_type(call, oomgr_arg(st, "type"), type_r, &managed, error_r) < 0)
        return -1;
    if (!managed && strcmp(st->def->verb, "refresh") != 0) {
        *error_r = ofc_xasprintf("%s is not a process the Guardian runs", *type_r);
        goto fail;
    }
    *instance_r = oomgr_arg_int(st, "instance", 0);
    /* The Guardian is not registered, but re-reads its parameters on "GUARDIAN". */
    if (!managed && *instance_r == 0)
        return 0;
    if (*instance_r > 0) {
        long long id;
        if (oomgr_process_instance(call, *type_r, *instance_r, &id, error_r) < 0)
            goto fail;
        return 0;
    }
    char node[24];
    const char *const p[] = {node_id(call, node), *type_r};
    PGresult *res = ofc_db_query(
        call->db, "SELECT count(*) FROM process WHERE node_id = $1::integer AND type = $2", 2, p);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot read the processes: %s", ofc_db_error(call->db));
        goto fail;
    }
    long long n = ofc_db_value_ll(res, 0, 0, 0);
    PQclear(res);
    if (n == 0) {
        *error_r = ofc_xasprintf("no %s instance is registered on %s", *type_r,
                                 call->om->session->node_name);
        goto fail;
    }
    return 0;
fail:
    OFC_FREE(*type_r);
    return -1;
}

/* ---- startup, shutdown ---------------------------------------------------- */

static int set_desired(struct oomgr_call *call, const char *state, char **error_r)
{
    bool starting = strcmp(state, "RUNNING") == 0;
    char *type = NULL;
    long long instance = 0;
    char node[24], inst[24];
    bool alive = false;

    if (statement_targets(call, &type, &instance, error_r) < 0)
        return -1;
    const char *const p[] = {node_id(call, node), state, type,
                             instance > 0 ? oomgr_lltoa(inst, sizeof(inst), instance) : NULL};
    PGresult *res = ofc_db_query(call->db,
                                 "UPDATE process SET desired_state = $2"
                                 " WHERE node_id = $1::integer"
                                 "   AND type IN (SELECT name FROM process_type WHERE managed)"
                                 "   AND ($3::text IS NULL OR type = $3)"
                                 "   AND ($4::integer IS NULL OR instance = $4::integer)",
                                 4, p);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot change the processes: %s", ofc_db_error(call->db));
        free(type);
        return -1;
    }
    long n = strtol(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    if (guardian_alive(call, &alive, error_r) < 0) {
        free(type);
        return -1;
    }
    oomgr_out(call, starting ? "Started successfully." : "Shut down successfully.");
    if (!alive)
        oomgr_warn(call,
                   starting ? "the Guardian of %s is not running: the processes start when it "
                              "runs (ofcguard start)"
                            : "the Guardian of %s is not running: nothing is stopped until it runs",
                   call->om->session->node_name);
    char *what = type == NULL   ? ofc_xstrdup("all")
                 : instance > 0 ? ofc_xasprintf("%s instance %lld", type, instance)
                                : ofc_xasprintf("%s", type);
    oomgr_log_change(call, "%s %s: %ld instance(s) to %s", starting ? "startup" : "shutdown", what,
                     n, state);
    free(what);
    free(type);
    return 0;
}

static int run_startup(struct oomgr_call *call, char **error_r)
{
    return set_desired(call, "RUNNING", error_r);
}

static int run_shutdown(struct oomgr_call *call, char **error_r)
{
    return set_desired(call, "STOPPED", error_r);
}

/*
 * After COMMIT, with wait=SECONDS: watches process_status until every
 * instance the statement named has reached the state asked for, or the
 * time is up. A SCHEDULED instance (wanted, but outside its time slice)
 * counts as started: the Guardian did what it should.
 */
static int wait_for_state(struct oomgr_call *call, char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    long long seconds = oomgr_arg_int(st, "wait", 0);
    bool starting = strcmp(st->def->verb, "startup") == 0;
    bool alive = false;
    char *type = NULL;
    char node[24], inst[24];

    if (seconds <= 0)
        return 0;
    if (guardian_alive(call, &alive, error_r) < 0)
        return -1;
    if (!alive) {
        *error_r = ofc_xasprintf("not waiting: the Guardian of %s is not running",
                                 call->om->session->node_name);
        return -1;
    }
    if (strcmp(st->def->object, "process") == 0 &&
        oomgr_process_type(call, oomgr_arg(st, "type"), &type, NULL, error_r) < 0)
        return -1;
    long long instance = oomgr_arg_int(st, "instance", 0);
    const char *const p[] = {node_id(call, node), type,
                             instance > 0 ? oomgr_lltoa(inst, sizeof(inst), instance) : NULL,
                             starting ? "RUNNING" : "STOPPED"};
    /* Instances still on their way, with their state: "Postman 1 (THROTTLED)". */
#define PENDING_SQL(condition)                                                                     \
    "SELECT t.display_name || COALESCE('.' || upper(d.fqdn), '') || ' '"                           \
    "       || p.instance || ' (' || COALESCE(s.state, 'STOPPED') || ')'"                          \
    "  FROM process p JOIN process_type t ON t.name = p.type"                                      \
    "  LEFT JOIN domain d ON d.id = p.domain_id"                                                   \
    "  LEFT JOIN process_status s ON s.process_id = p.id"                                          \
    " WHERE p.node_id = $1::integer AND t.managed AND p.desired_state = $4"                        \
    "   AND ($2::text IS NULL OR p.type = $2)"                                                     \
    "   AND ($3::integer IS NULL OR p.instance = $3::integer)"                                     \
    "   AND COALESCE(s.state, 'STOPPED') " condition " ORDER BY p.id"
    const char *sql = starting ? PENDING_SQL("NOT IN ('RUNNING', 'SCHEDULED')")
                               : PENDING_SQL("IN ('RUNNING', 'STARTING', 'STOPPING')");
#undef PENDING_SQL
    long long deadline = ofc_now_ms() + seconds * 1000;
    int rc = -1;
    for (;;) {
        PGresult *res = ofc_db_query(call->db, sql, 4, p);
        if (res == NULL) {
            *error_r = ofc_xasprintf("cannot read the process status: %s", ofc_db_error(call->db));
            break;
        }
        if (PQntuples(res) == 0) {
            PQclear(res);
            oomgr_out(call, starting ? "All instances are running." : "All instances are stopped.");
            rc = 0;
            break;
        }
        bool interrupted = oomgr_input_interrupted();
        if (interrupted || ofc_now_ms() >= deadline) {
            struct ofc_strbuf sb = OFC_STRBUF_INIT;
            ofc_strbuf_init(&sb);
            for (int i = 0; i < PQntuples(res); i++)
                ofc_strbuf_printf(&sb, "%s%s", i > 0 ? ", " : "", ofc_db_value(res, i, 0));
            const char *what = starting ? "not running" : "not stopped";
            if (interrupted) {
                /* The terminal echoed "^C": the message gets a line of its own. */
                (void)fputc('\n', stdout);
                *error_r = ofc_xasprintf("interrupted; %s yet: %s", what, sb.data);
            } else {
                *error_r = ofc_xasprintf("%s after %lld s: %s", what, seconds, sb.data);
            }
            ofc_strbuf_free(&sb);
            PQclear(res);
            break;
        }
        PQclear(res);
        ofc_sleep_ms(WAIT_POLL_MS);
    }
    free(type);
    return rc;
}

/* ---- refresh --------------------------------------------------------------- */

static int run_refresh(struct oomgr_call *call, char **error_r)
{
    char *type = NULL;
    long long instance = 0, id = 0;
    char target_buf[24];
    const char *target = "*";

    if (statement_targets(call, &type, &instance, error_r) < 0)
        return -1;
    if (instance > 0) {
        if (oomgr_process_instance(call, type, instance, &id, error_r) < 0) {
            free(type);
            return -1;
        }
        target = oomgr_lltoa(target_buf, sizeof(target_buf), id);
    } else if (type != NULL) {
        target = type;
    }
    /* NOTIFY is delivered at COMMIT: the processes re-read committed parameters. */
    const char *const p[] = {target};
    if (ofc_db_exec(call->db, "SELECT ofc_refresh($1)", 1, p) < 0) {
        *error_r = ofc_xasprintf("cannot refresh: %s", ofc_db_error(call->db));
        free(type);
        return -1;
    }
    oomgr_out(call, "Refreshed successfully.");
    if (type == NULL)
        oomgr_log_change(call, "refresh all");
    else if (instance > 0)
        oomgr_log_change(call, "refresh %s instance %lld", type, instance);
    else
        oomgr_log_change(call, "refresh %s", type);
    free(type);
    return 0;
}

/* ---- disp process, disp guardian ------------------------------------------------ */

static const struct oomgr_column process_columns[] = {
    {"Server Name", OOMGR_LEFT}, {"Instance", OOMGR_RIGHT},     {"Last Wakeup", OOMGR_LEFT},
    {"Process Id", OOMGR_RIGHT}, {"DBSession Id", OOMGR_RIGHT}, {"State", OOMGR_LEFT},
    {"Desired", OOMGR_LEFT},     {"Restarts", OOMGR_RIGHT},     {"Last Exit", OOMGR_LEFT},
};

static int run_disp_process(struct oomgr_call *call, char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    const char *type = oomgr_arg(st, "type");
    char *pattern = type != NULL ? oomgr_like_pattern(type) : NULL;
    char node[24];
    const char *const p[] = {node_id(call, node), pattern, oomgr_arg(st, "instance"),
                             oomgr_arg(st, "state")};
    /*
     * Last Wakeup in the node's time zone, as the original showed it
     * ("06 Dec 14:24"). Types keep the order in which they were first
     * registered, instances follow their type.
     */
    PGresult *res = ofc_db_query(
        call->db,
        "SELECT t.display_name || COALESCE('.' || upper(d.fqdn), ''), p.instance,"
        "       to_char(s.last_wakeup AT TIME ZONE n.time_zone, 'DD Mon HH24:MI'),"
        "       s.pid, s.backend_pid, COALESCE(s.state, 'STOPPED'), p.desired_state,"
        "       COALESCE(s.restarts, 0), s.last_exit"
        "  FROM process p"
        "  JOIN process_type t ON t.name = p.type"
        "  JOIN node n ON n.id = p.node_id"
        "  LEFT JOIN domain d ON d.id = p.domain_id"
        "  LEFT JOIN process_status s ON s.process_id = p.id"
        " WHERE p.node_id = $1::integer"
        "   AND ($2::text IS NULL OR p.type LIKE upper($2) OR upper(t.display_name) LIKE upper($2))"
        "   AND ($3::integer IS NULL OR p.instance = $3::integer)"
        "   AND ($4::text IS NULL OR COALESCE(s.state, 'STOPPED') = upper($4))"
        " ORDER BY min(p.id) OVER (PARTITION BY p.type), p.instance, p.id",
        4, p);
    free(pattern);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot read the processes: %s", ofc_db_error(call->db));
        return -1;
    }
    struct oomgr_table *t =
        oomgr_table_new(process_columns, sizeof(process_columns) / sizeof(process_columns[0]));
    oomgr_table_add_result(t, res);
    PQclear(res);
    oomgr_table_print(t, oomgr_stmt_format(st), &call->out);
    oomgr_table_free(&t);
    return 0;
}

static const struct oomgr_column guardian_columns[] = {
    {"Node", OOMGR_LEFT},          {"State", OOMGR_LEFT}, {"Process Id", OOMGR_RIGHT},
    {"DBSession Id", OOMGR_RIGHT}, {"Host", OOMGR_LEFT},  {"Started", OOMGR_LEFT},
    {"Last Wakeup", OOMGR_LEFT},
};

static int run_disp_guardian(struct oomgr_call *call, char **error_r)
{
    char node[24];
    const char *const p[] = {node_id(call, node)};
    PGresult *res =
        ofc_db_query(call->db,
                     "SELECT n.name,"
                     "       CASE WHEN g.pid IS NOT NULL AND g.last_wakeup > now() - interval "
                     "'" GUARDIAN_STALE_SECONDS " seconds' THEN 'RUNNING' ELSE 'NOT RUNNING' END,"
                     "       g.pid, g.backend_pid, g.host,"
                     "       to_char(g.started_at AT TIME ZONE n.time_zone, 'DD Mon HH24:MI'),"
                     "       to_char(g.last_wakeup AT TIME ZONE n.time_zone, 'DD Mon HH24:MI')"
                     "  FROM node n LEFT JOIN guardian_status g ON g.node_id = n.id"
                     " WHERE n.id = $1::integer",
                     1, p);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot read the Guardian's status: %s", ofc_db_error(call->db));
        return -1;
    }
    struct oomgr_table *t =
        oomgr_table_new(guardian_columns, sizeof(guardian_columns) / sizeof(guardian_columns[0]));
    oomgr_table_add_result(t, res);
    PQclear(res);
    oomgr_table_print(t, oomgr_stmt_format(call->st), &call->out);
    oomgr_table_free(&t);
    return 0;
}

/* ---- register, deregister ------------------------------------------------------- */

static int run_register(struct oomgr_call *call, char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    char *type = NULL;
    bool managed = false;
    char node[24], domain_buf[24];
    const char *domain_id = NULL;
    const char *fqdn = oomgr_arg(st, "domain");
    const char *desired = oomgr_arg(st, "desired");
    int rc = -1;

    if (oomgr_process_type(call, oomgr_arg(st, "type"), &type, &managed, error_r) < 0)
        return -1;
    if (!managed) {
        *error_r =
            ofc_xasprintf("%s is not a process the Guardian runs: it cannot be registered", type);
        goto out;
    }
    if (fqdn != NULL) {
        const char *const dp[] = {fqdn};
        PGresult *res = ofc_db_query(
            call->db, "SELECT id FROM domain WHERE fqdn = lower(trim(both '.' from $1))", 1, dp);
        if (res == NULL) {
            *error_r = ofc_xasprintf("cannot read the domains: %s", ofc_db_error(call->db));
            goto out;
        }
        if (PQntuples(res) == 0) {
            PQclear(res);
            *error_r = ofc_xasprintf("unknown domain '%s'", fqdn);
            goto out;
        }
        domain_id = oomgr_lltoa(domain_buf, sizeof(domain_buf), ofc_db_value_ll(res, 0, 0, 0));
        PQclear(res);
    }
    const char *const p[] = {
        node_id(call, node),
        type,
        oomgr_arg(st, "instance"),
        desired != NULL && strcasecmp(desired, "running") == 0 ? "RUNNING" : "STOPPED",
        domain_id,
        oomgr_arg(st, "description") != NULL ? oomgr_arg(st, "description") : ""};
    /* Without instance=N: the lowest number not taken. */
    PGresult *res = ofc_db_query(
        call->db,
        "INSERT INTO process (node_id, type, instance, desired_state, domain_id, description)"
        " SELECT $1::integer, $2, i, $4, $5::integer, $6"
        "   FROM generate_series(1, 99) AS i"
        "  WHERE ($3::integer IS NULL OR i = $3::integer)"
        "    AND NOT EXISTS (SELECT 1 FROM process q WHERE q.node_id = $1::integer"
        "                    AND q.type = $2 AND q.instance = i)"
        "  ORDER BY i LIMIT 1"
        " RETURNING instance",
        6, p);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot register %s: %s", type, ofc_db_error(call->db));
        goto out;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        if (oomgr_arg(st, "instance") != NULL)
            *error_r = ofc_xasprintf("%s instance %s is already registered on %s", type,
                                     oomgr_arg(st, "instance"), call->om->session->node_name);
        else
            *error_r = ofc_xasprintf("every instance number of %s (1 to 99) is taken on %s", type,
                                     call->om->session->node_name);
        goto out;
    }
    long long instance = ofc_db_value_ll(res, 0, 0, 0);
    PQclear(res);
    oomgr_out(call, "Registered %s instance %lld.", type, instance);
    oomgr_log_change(call, "register %s instance %lld (%s%s%s)", type, instance, p[3],
                     fqdn != NULL ? ", domain " : "", fqdn != NULL ? fqdn : "");
    rc = 0;
out:
    free(type);
    return rc;
}

static int run_deregister(struct oomgr_call *call, char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    char *type = NULL;
    long long instance = oomgr_arg_int(st, "instance", 0);
    long long id = 0;
    char idbuf[24];
    int rc = -1;

    if (oomgr_process_type(call, oomgr_arg(st, "type"), &type, NULL, error_r) < 0)
        return -1;
    if (oomgr_process_instance(call, type, instance, &id, error_r) < 0)
        goto out;
    const char *const p[] = {oomgr_lltoa(idbuf, sizeof(idbuf), id)};
    /* Lock the row: a concurrent startup must not slip in between check and delete. */
    PGresult *res =
        ofc_db_query(call->db,
                     "SELECT p.desired_state, COALESCE(s.state, 'STOPPED'), s.pid"
                     "  FROM process p LEFT JOIN process_status s ON s.process_id = p.id"
                     " WHERE p.id = $1::integer FOR UPDATE OF p",
                     1, p);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot read %s instance %lld: %s", type, instance,
                                 ofc_db_error(call->db));
        goto out;
    }
    const char *desired = ofc_db_value(res, 0, 0);
    const char *state = ofc_db_value(res, 0, 1);
    const char *pid = ofc_db_value(res, 0, 2);
    if (desired != NULL && strcmp(desired, "RUNNING") == 0) {
        *error_r = ofc_xasprintf("%s instance %lld is started: shut it down first "
                                 "(shutdown process %s instance=%lld;)",
                                 type, instance, type, instance);
        PQclear(res);
        goto out;
    }
    if (state != NULL && (strcmp(state, "RUNNING") == 0 || strcmp(state, "STARTING") == 0 ||
                          strcmp(state, "STOPPING") == 0)) {
        *error_r = ofc_xasprintf("%s instance %lld is still %s (pid %s): wait until it has stopped",
                                 type, instance, state, pid != NULL ? pid : "unknown");
        PQclear(res);
        goto out;
    }
    PQclear(res);
    if (ofc_db_exec(call->db, "DELETE FROM process WHERE id = $1::integer", 1, p) < 0) {
        *error_r = ofc_xasprintf("cannot deregister %s instance %lld: %s", type, instance,
                                 ofc_db_error(call->db));
        goto out;
    }
    oomgr_out(call, "Deregistered %s instance %lld.", type, instance);
    oomgr_log_change(call, "deregister %s instance %lld", type, instance);
    rc = 0;
out:
    free(type);
    return rc;
}

/* ---- the table ------------------------------------------------------------------ */

#define KEY_TYPE_REQUIRED                                                                          \
    {                                                                                              \
        "type", OOMGR_KEY_POSITIONAL | OOMGR_KEY_REQUIRED, 0, 0, NULL,                             \
            "the process type: POSTMAN, COLLECTOR, ... (disp process; lists them)"                 \
    }
#define KEY_INSTANCE(help)                                                                         \
    {                                                                                              \
        "instance", OOMGR_KEY_INT, 1, 99, NULL, help                                               \
    }
#define KEY_WAIT(help)                                                                             \
    {                                                                                              \
        "wait", OOMGR_KEY_INT, 0, 3600, NULL, help                                                 \
    }
#define KEY_END                                                                                    \
    {                                                                                              \
        NULL, 0, 0, 0, NULL, NULL                                                                  \
    }

static const struct oomgr_key startup_all_keys[] = {
    KEY_WAIT("seconds to wait until every instance runs (default 0: do not wait)"),
    KEY_END,
};
static const struct oomgr_key startup_process_keys[] = {
    KEY_TYPE_REQUIRED,
    KEY_INSTANCE("one instance (default: every instance of the type)"),
    KEY_WAIT("seconds to wait until the instances run (default 0: do not wait)"),
    KEY_END,
};
static const struct oomgr_key shutdown_all_keys[] = {
    KEY_WAIT("seconds to wait until every instance has stopped (default 0)"),
    KEY_END,
};
static const struct oomgr_key shutdown_process_keys[] = {
    KEY_TYPE_REQUIRED,
    KEY_INSTANCE("one instance (default: every instance of the type)"),
    KEY_WAIT("seconds to wait until the instances have stopped (default 0)"),
    KEY_END,
};
static const struct oomgr_key refresh_process_keys[] = {
    KEY_TYPE_REQUIRED,
    KEY_INSTANCE("one instance (default: every instance of the type)"),
    KEY_END,
};
static const struct oomgr_key disp_process_keys[] = {
    {"type", OOMGR_KEY_POSITIONAL, 0, 0, NULL, "only these types; wildcards * and ?"},
    KEY_INSTANCE("only this instance number"),
    {"state", 0, 0, 0, NULL, "only instances in this state (RUNNING, STOPPED, THROTTLED, ...)"},
    OOMGR_KEY_FORMAT,
    KEY_END,
};
static const struct oomgr_key disp_guardian_keys[] = {
    OOMGR_KEY_FORMAT,
    KEY_END,
};
static const struct oomgr_key register_keys[] = {
    KEY_TYPE_REQUIRED,
    KEY_INSTANCE("the instance number (default: the lowest free one)"),
    {"desired", 0, 0, 0, "running|stopped", "running: start it as soon as it is registered"},
    {"domain", 0, 0, 0, NULL, "the domain a gateway process serves (shown as TYPE.DOMAIN)"},
    {"description", 0, 0, 0, NULL, "free text"},
    KEY_END,
};
static const struct oomgr_key deregister_keys[] = {
    KEY_TYPE_REQUIRED,
    {"instance", OOMGR_KEY_INT | OOMGR_KEY_REQUIRED, 1, 99, NULL,
     "the instance to remove; it must be shut down and stopped"},
    KEY_END,
};

const struct oomgr_stmt_def oomgr_process_stmts[] = {
    {"startup", "all", OOMGR_PRIV_NODE, OOMGR_STMT_TX, startup_all_keys, run_startup,
     wait_for_state, "startup all [wait=SECONDS];",
     "Starts every registered process of the node (the Guardian does it)."},
    {"startup", "process", OOMGR_PRIV_NODE, OOMGR_STMT_TX, startup_process_keys, run_startup,
     wait_for_state, "startup process TYPE [instance=N] [wait=SECONDS];",
     "Starts the instances of one process type, or one instance."},
    {"shutdown", "all", OOMGR_PRIV_NODE, OOMGR_STMT_TX, shutdown_all_keys, run_shutdown,
     wait_for_state, "shutdown all [wait=SECONDS];",
     "Stops every process of the node (the Guardian keeps running)."},
    {"shutdown", "process", OOMGR_PRIV_NODE, OOMGR_STMT_TX, shutdown_process_keys, run_shutdown,
     wait_for_state, "shutdown process TYPE [instance=N] [wait=SECONDS];",
     "Stops the instances of one process type, or one instance."},
    {"refresh", "all", OOMGR_PRIV_NODE, OOMGR_STMT_TX, NULL, run_refresh, NULL, "refresh all;",
     "Makes every running process re-read its parameters."},
    {"refresh", "process", OOMGR_PRIV_NODE, OOMGR_STMT_TX, refresh_process_keys, run_refresh, NULL,
     "refresh process TYPE [instance=N];",
     "Makes running instances re-read their parameters without a restart."},
    {"disp", "process", OOMGR_PRIV_DOMAIN, OOMGR_STMT_TX, disp_process_keys, run_disp_process, NULL,
     "disp process [TYPE] [instance=N] [state=STATE] [format=table|csv];",
     "Shows the registered processes and what they are doing."},
    {"disp", "guardian", OOMGR_PRIV_DOMAIN, OOMGR_STMT_TX, disp_guardian_keys, run_disp_guardian,
     NULL, "disp guardian [format=table|csv];", "Shows whether the node's Guardian is running."},
    {"register", "process", OOMGR_PRIV_NODE, OOMGR_STMT_TX, register_keys, run_register, NULL,
     "register process TYPE [instance=N] [desired=running|stopped] [domain=FQDN] "
     "[description=TEXT];",
     "Registers a new instance of a process type on this node."},
    {"deregister", "process", OOMGR_PRIV_NODE, OOMGR_STMT_TX, deregister_keys, run_deregister, NULL,
     "deregister process TYPE instance=N;",
     "Removes a stopped instance with its parameters and schedule."},
    {NULL, NULL, OOMGR_PRIV_NONE, 0, NULL, NULL, NULL, NULL, NULL},
};
