/*
 * queue.c - disp queue, disp message, requeue dead and delete dead.
 *
 * The queues are tables (schema/005_queues.sql), so everything here is a
 * query or a set-based change in the statement's one transaction. Moving
 * a dead entry back is an INSERT into the queue it starts over from plus
 * the DELETE of the dead row, committed together: a message is never on
 * both queues, and never on neither. Freeing messages is not done here:
 * deleting a dead row fires queue_released() (009), which hands a message
 * nothing refers to any more to the Collector.
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

/* Timestamps in the node's time zone, as disp process shows them. */
#define TS(col) "to_char(" col " AT TIME ZONE tz.zone, 'YYYY-MM-DD HH24:MI:SS')"
#define TZ_FROM "(SELECT time_zone AS zone FROM node WHERE id = $1::integer) tz"

static const char *node_param(struct oomgr_call *call, char buf[24])
{
    return oomgr_lltoa(buf, 24, call->om->session->node_id);
}

/* ---- disp queue ------------------------------------------------------------ */

static const struct oomgr_column summary_columns[] = {
    {"Queue", OOMGR_LEFT},  {"Entries", OOMGR_RIGHT},  {"Due", OOMGR_RIGHT},
    {"Oldest", OOMGR_LEFT}, {"Deferred", OOMGR_RIGHT},
};

/*
 * One row per queue, always (an empty queue shows 0); per-target queues
 * add a row per target that has entries, "remote:NODE", "gateway_out:GW".
 * Due: entries a worker may take now; Deferred: entries that failed at
 * least once and wait for a retry. dead has neither, collector no attempts.
 */
#define SUMMARY(order, label, table, at, extra)                                                    \
    "SELECT " order ", " label ", count(*), count(*) FILTER (WHERE not_before <= now()),"          \
    " extract(epoch FROM now() - min(" at "))::bigint,"                                            \
    " count(*) FILTER (WHERE attempts > 0) FROM " table extra

static const char summary_sql[] = "SELECT q, n, due, age, deferred FROM ("
    /**/ SUMMARY("1", "'gateway_in'", "gateway_in", "received_at", "") " UNION ALL " /**/
    SUMMARY("2", "'submission'", "submission", "submitted_at", "") " UNION ALL "     /**/
    SUMMARY("3", "'rerouting'", "rerouting", "submitted_at", "") " UNION ALL "       /**/
    SUMMARY("4", "'remote'", "remote", "submitted_at", "") " UNION ALL "             /**/
    SUMMARY("5", "'remote:' || t.name", "remote e JOIN node t ON t.id = e.target_node_id",
            "e.submitted_at", " GROUP BY t.name") " UNION ALL "                    /**/
    SUMMARY("6", "'gateway_out'", "gateway_out", "submitted_at", "") " UNION ALL " /**/
    SUMMARY("7", "'gateway_out:' || t.name", "gateway_out e JOIN gateway t ON t.id = e.gateway_id",
            "e.submitted_at", " GROUP BY t.name") " UNION ALL " /**/
                                                  "SELECT 8, 'dead', count(*), NULL, extract(epoch "
                                                  "FROM now() - min(dead_at))::bigint, NULL"
                                                  "  FROM dead UNION ALL "
                                                  "SELECT 9, 'collector', count(*), count(*) "
                                                  "FILTER (WHERE not_before <= now()),"
                                                  " extract(epoch FROM now() - "
                                                  "min(queued_at))::bigint, NULL FROM collector"
                                                  ") s(o, q, n, due, age, deferred) ORDER BY o, q";

static const struct oomgr_column dead_columns[] = {
    {"Id", OOMGR_RIGHT},        {"Message", OOMGR_RIGHT},   {"Sender", OOMGR_LEFT},
    {"Recipients", OOMGR_LEFT}, {"From Queue", OOMGR_LEFT}, {"Reason", OOMGR_LEFT},
    {"Dead At", OOMGR_LEFT},
};

static const struct oomgr_column entry_columns[] = {
    {"Id", OOMGR_RIGHT},       {"Message", OOMGR_RIGHT},   {"Target", OOMGR_LEFT},
    {"Sender", OOMGR_LEFT},    {"Recipients", OOMGR_LEFT}, {"Age", OOMGR_LEFT},
    {"Attempts", OOMGR_RIGHT}, {"Next Try", OOMGR_LEFT},   {"Last Error", OOMGR_LEFT},
};
#define ENTRY_AGE_COL 5

/* The envelope as shown: "<>" is the null reverse-path. */
#define SENDER    "CASE WHEN e.sender = '' THEN '<>' ELSE e.sender END"
#define RCPTS     "array_to_string(e.recipients, ', ')"
#define NEXT_TRY  "CASE WHEN e.not_before > now() THEN " TS("e.not_before") " END"
#define AGE(col)  "extract(epoch FROM now() - " col ")::bigint"
#define ENTRY_END ", e.attempts, " NEXT_TRY ", e.last_error"

/*
 * The entries of one queue, oldest first, in the columns of entry_columns
 * (dead: dead_columns). Queue names are fixed here, never taken from input.
 * gateway_in holds no stored message yet: Message shows its size in bytes
 * and Target where it came from (SMTP, LMTP, OFCUTO).
 */
static const struct {
    const char *name;
    const char *sql;
} entry_sql[] = {
    {"gateway_in",
     "SELECT e.id, octet_length(e.raw) || ' bytes', e.source, " SENDER ", " RCPTS
     ", " AGE("e.received_at") ENTRY_END " FROM gateway_in e, " TZ_FROM " ORDER BY e.id"},
    {"submission", "SELECT e.id, e.message_id, NULL, " SENDER ", " RCPTS ", " AGE("e.submitted_at")
                       ENTRY_END " FROM submission e, " TZ_FROM " ORDER BY e.id"},
    {"rerouting",
     "SELECT e.id, e.message_id, n.name, " SENDER ", " RCPTS ", " AGE("e.submitted_at") ENTRY_END
     " FROM rerouting e LEFT JOIN node n ON n.id = e.from_node_id, " TZ_FROM " ORDER BY e.id"},
    {"remote",
     "SELECT e.id, e.message_id, n.name, " SENDER ", " RCPTS ", " AGE("e.submitted_at") ENTRY_END
     " FROM remote e JOIN node n ON n.id = e.target_node_id, " TZ_FROM " ORDER BY n.name, e.id"},
    {"gateway_out",
     "SELECT e.id, e.message_id, g.name, " SENDER ", " RCPTS ", " AGE("e.submitted_at") ENTRY_END
     " FROM gateway_out e JOIN gateway g ON g.id = e.gateway_id, " TZ_FROM
     " ORDER BY g.name, e.id"},
    {"collector",
     "SELECT e.id, e.message_id, NULL, NULL, NULL, " AGE(
         "e.queued_at") ", NULL, " NEXT_TRY ", NULL FROM collector e, " TZ_FROM " ORDER BY e.id"},
    {"dead", "SELECT e.id, COALESCE(e.message_id::text, 'raw ' || octet_length(e.raw) || ' bytes'),"
             " " SENDER ", " RCPTS ", e.from_queue, e.reason, " TS(
                 "e.dead_at") " FROM dead e, " TZ_FROM " ORDER BY e.id"},
};

static int run_disp_queue(struct oomgr_call *call, char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    const char *name = oomgr_arg(st, "name");
    char node[24];
    const char *const p[] = {node_param(call, node)};
    struct oomgr_table *t;
    PGresult *res;

    if (name == NULL) {
        res = ofc_db_query(call->db, summary_sql, 0, NULL);
        if (res == NULL) {
            *error_r = ofc_xasprintf("cannot read the queues: %s", ofc_db_error(call->db));
            return -1;
        }
        t = oomgr_table_new(summary_columns, sizeof(summary_columns) / sizeof(summary_columns[0]));
        oomgr_table_add_result_age(t, res, 3);
    } else {
        size_t i;
        for (i = 0; i < sizeof(entry_sql) / sizeof(entry_sql[0]); i++)
            if (strcasecmp(entry_sql[i].name, name) == 0)
                break;
        /* The key's choices let only these names through. */
        if (i == sizeof(entry_sql) / sizeof(entry_sql[0])) {
            *error_r = ofc_xasprintf("no queue named '%s'", name);
            return -1;
        }
        res = ofc_db_query(call->db, entry_sql[i].sql, 1, p);
        if (res == NULL) {
            *error_r = ofc_xasprintf("cannot read the %s queue: %s", entry_sql[i].name,
                                     ofc_db_error(call->db));
            return -1;
        }
        if (strcmp(entry_sql[i].name, "dead") == 0) {
            t = oomgr_table_new(dead_columns, sizeof(dead_columns) / sizeof(dead_columns[0]));
            oomgr_table_add_result(t, res);
        } else {
            t = oomgr_table_new(entry_columns, sizeof(entry_columns) / sizeof(entry_columns[0]));
            oomgr_table_add_result_age(t, res, ENTRY_AGE_COL);
        }
    }
    PQclear(res);
    oomgr_table_print(t, oomgr_stmt_format(st), &call->out);
    oomgr_table_free(&t);
    return 0;
}

/* ---- disp message ---------------------------------------------------------- */

static const struct oomgr_column field_columns[] = {
    {"Field", OOMGR_LEFT},
    {"Value", OOMGR_LEFT},
};

static const struct oomgr_column location_columns[] = {
    {"Location", OOMGR_LEFT},   {"Account/Queue", OOMGR_LEFT}, {"Folder", OOMGR_LEFT},
    {"UID/Entry", OOMGR_RIGHT}, {"Flags", OOMGR_LEFT},
};

/* Flag bits of mailbox_pointer (004), then the keywords. */
#define FLAGS                                                                                      \
    "concat_ws(' ', CASE WHEN p.flags & 1 <> 0 THEN '\\Seen' END,"                                 \
    " CASE WHEN p.flags & 2 <> 0 THEN '\\Answered' END,"                                           \
    " CASE WHEN p.flags & 4 <> 0 THEN '\\Flagged' END,"                                            \
    " CASE WHEN p.flags & 8 <> 0 THEN '\\Deleted' END,"                                            \
    " CASE WHEN p.flags & 16 <> 0 THEN '\\Draft' END,"                                             \
    " NULLIF(array_to_string(p.keywords, ' '), ''))"

static int run_disp_message(struct oomgr_call *call, char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    long long id = oomgr_arg_int(st, "id", 0);
    char node[24], idbuf[24];
    const char *const p[] = {node_param(call, node), oomgr_lltoa(idbuf, sizeof(idbuf), id)};

    PGresult *res =
        ofc_db_query(call->db,
                     "SELECT m.id, m.size, " TS(
                         "m.received_at") ", m.hdr_subject, m.hdr_from, m.hdr_to,"
                                          " " TS("m.hdr_date") ", m.hdr_message_id, m.refcount"
                                                               " FROM message m, " TZ_FROM
                                                               " WHERE m.id = $2::bigint",
                     2, p);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot read message %lld: %s", id, ofc_db_error(call->db));
        return -1;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        *error_r = ofc_xasprintf("no message %lld", id);
        return -1;
    }
    static const char *const fields[] = {"Id", "Size", "Received",   "Subject", "From",
                                         "To", "Date", "Message-ID", "Refcount"};
    struct oomgr_table *t =
        oomgr_table_new(field_columns, sizeof(field_columns) / sizeof(field_columns[0]));
    for (int c = 0; c < (int)(sizeof(fields) / sizeof(fields[0])); c++) {
        const char *row[] = {fields[c], ofc_db_value(res, 0, c)};
        oomgr_table_add(t, row);
    }
    PQclear(res);
    oomgr_table_print(t, oomgr_stmt_format(st), &call->out);
    oomgr_table_free(&t);

    /* Where it is: every folder that points to it and every queue entry that holds it. */
    res = ofc_db_query(
        call->db,
        "SELECT 'mailbox', o.name || '@' || d.fqdn, b.name, p.uid, " FLAGS
        "  FROM mailbox_pointer p JOIN mailbox b ON b.id = p.mailbox_id"
        "  JOIN dir_object o ON o.id = b.account_id JOIN domain d ON d.id = o.domain_id"
        " WHERE p.message_id = $1::bigint"
        " UNION ALL SELECT 'queue', 'submission', NULL, id, NULL FROM submission"
        " WHERE message_id = $1::bigint"
        " UNION ALL SELECT 'queue', 'rerouting', NULL, id, NULL FROM rerouting"
        " WHERE message_id = $1::bigint"
        " UNION ALL SELECT 'queue', 'remote:' || n.name, NULL, e.id, NULL"
        "  FROM remote e JOIN node n ON n.id = e.target_node_id WHERE e.message_id = $1::bigint"
        " UNION ALL SELECT 'queue', 'gateway_out:' || g.name, NULL, e.id, NULL"
        "  FROM gateway_out e JOIN gateway g ON g.id = e.gateway_id"
        " WHERE e.message_id = $1::bigint"
        " UNION ALL SELECT 'queue', 'dead', NULL, id, NULL FROM dead"
        " WHERE message_id = $1::bigint"
        " UNION ALL SELECT 'queue', 'collector', NULL, id, NULL FROM collector"
        " WHERE message_id = $1::bigint"
        " ORDER BY 1, 2, 3, 4",
        1, p + 1);
    if (res == NULL) {
        *error_r =
            ofc_xasprintf("cannot find where message %lld is: %s", id, ofc_db_error(call->db));
        return -1;
    }
    /* A blank line between the two tables, in either format. */
    ofc_strbuf_putc(&call->out, '\n');
    t = oomgr_table_new(location_columns, sizeof(location_columns) / sizeof(location_columns[0]));
    oomgr_table_add_result(t, res);
    PQclear(res);
    oomgr_table_print(t, oomgr_stmt_format(st), &call->out);
    oomgr_table_free(&t);
    return 0;
}

/* ---- requeue dead, delete dead ---------------------------------------------- */

/*
 * The dead entries a statement names (id=N or all), locked so that the
 * Collector's retention purge skips them. *ids_r is a bigint[] literal for
 * the statements that follow, *empty_r counts the entries left out for
 * having no recipients (with_rcpts only: they have nowhere to go).
 */
static int select_dead(struct oomgr_call *call, bool with_rcpts, char **ids_r, long long *n_r,
                       long long *empty_r, char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    bool all = oomgr_arg_given(st, "all");
    const char *id = oomgr_arg(st, "id");
    *ids_r = NULL;
    *n_r = 0;
    *empty_r = 0;
    if (all == (id != NULL)) {
        *error_r = ofc_xasprintf("%s dead: give either id=N or all", st->def->verb);
        return -1;
    }
    const char *const p[] = {id};
    PGresult *res =
        ofc_db_query(call->db,
                     "SELECT COALESCE(array_agg(id ORDER BY id)"
                     "         FILTER (WHERE cardinality(recipients) > 0), '{}'),"
                     "       count(*), count(*) FILTER (WHERE cardinality(recipients) = 0),"
                     "       COALESCE(array_agg(id ORDER BY id), '{}')"
                     "  FROM (SELECT id, recipients FROM dead"
                     "         WHERE $1::bigint IS NULL OR id = $1::bigint"
                     "         ORDER BY id FOR UPDATE) d",
                     1, p);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot read the dead queue: %s", ofc_db_error(call->db));
        return -1;
    }
    long long n = ofc_db_value_ll(res, 0, 1, 0);
    long long empty = ofc_db_value_ll(res, 0, 2, 0);
    const char *ids = ofc_db_value(res, 0, with_rcpts ? 0 : 3);
    if (id != NULL && n == 0) {
        PQclear(res);
        *error_r = ofc_xasprintf("no dead entry %s", id);
        return -1;
    }
    if (id != NULL && with_rcpts && empty > 0) {
        PQclear(res);
        *error_r =
            ofc_xasprintf("dead entry %s has no recipients: there is nobody to requeue it to", id);
        return -1;
    }
    *ids_r = ofc_xstrdup(ids != NULL ? ids : "{}");
    *n_r = with_rcpts ? n - empty : n;
    *empty_r = with_rcpts ? empty : 0;
    PQclear(res);
    return 0;
}

static int run_requeue_dead(struct oomgr_call *call, char **error_r)
{
    char *ids = NULL;
    long long n = 0, empty = 0;
    if (select_dead(call, true, &ids, &n, &empty, error_r) < 0)
        return -1;
    const char *const p[] = {ids};
    /*
     * A stored message starts over on submission with its envelope, as
     * store_submit() queues it; raw bytes that were never stored go back
     * to the inbound gateway. New rows: attempts 0, due now. The source of
     * a raw entry is not kept on dead; SMTP is what the gateway assumes
     * for mail from outside.
     */
    if (ofc_db_exec(call->db,
                    "INSERT INTO submission (message_id, sender, recipients)"
                    " SELECT message_id, sender, recipients FROM dead"
                    "  WHERE id = ANY ($1::bigint[]) AND message_id IS NOT NULL ORDER BY id",
                    1, p) < 0 ||
        ofc_db_exec(call->db,
                    "INSERT INTO gateway_in (source, sender, recipients, raw, client)"
                    " SELECT 'SMTP', sender, recipients, raw, 'oomgr requeue of dead entry ' || id"
                    "   FROM dead WHERE id = ANY ($1::bigint[]) AND message_id IS NULL ORDER BY id",
                    1, p) < 0 ||
        ofc_db_exec(call->db, "DELETE FROM dead WHERE id = ANY ($1::bigint[])", 1, p) < 0) {
        *error_r = ofc_xasprintf("cannot requeue: %s", ofc_db_error(call->db));
        free(ids);
        return -1;
    }
    free(ids);
    oomgr_out(call, "Requeued %lld message(s).", n);
    if (empty > 0)
        oomgr_warn(call, "%lld dead entr%s without recipients left on the dead queue", empty,
                   empty == 1 ? "y" : "ies");
    char *desc = oomgr_stmt_describe(call->st);
    oomgr_log_change(call, "%s: %lld requeued", desc, n);
    free(desc);
    return 0;
}

static int run_delete_dead(struct oomgr_call *call, char **error_r)
{
    char *ids = NULL;
    long long n = 0, empty = 0;
    if (select_dead(call, false, &ids, &n, &empty, error_r) < 0)
        return -1;
    const char *const p[] = {ids};
    /* dead_released (009) queues the messages nothing else holds for the Collector. */
    if (ofc_db_exec(call->db, "DELETE FROM dead WHERE id = ANY ($1::bigint[])", 1, p) < 0) {
        *error_r = ofc_xasprintf("cannot delete: %s", ofc_db_error(call->db));
        free(ids);
        return -1;
    }
    free(ids);
    oomgr_out(call, "Deleted %lld message(s).", n);
    char *desc = oomgr_stmt_describe(call->st);
    oomgr_log_change(call, "%s: %lld deleted", desc, n);
    free(desc);
    return 0;
}

/* ---- the table ------------------------------------------------------------------ */

#define KEY_END                                                                                    \
    {                                                                                              \
        NULL, 0, 0, 0, NULL, NULL                                                                  \
    }

static const struct oomgr_key disp_queue_keys[] = {
    {"name", OOMGR_KEY_POSITIONAL, 0, 0,
     "gateway_in|submission|rerouting|remote|gateway_out|dead|collector",
     "list this queue's entries (default: one line per queue)"},
    OOMGR_KEY_FORMAT,
    KEY_END,
};
static const struct oomgr_key disp_message_keys[] = {
    {"id", OOMGR_KEY_INT | OOMGR_KEY_REQUIRED | OOMGR_KEY_POSITIONAL, 1, 9223372036854775807LL,
     NULL, "the message id (disp queue NAME; shows it)"},
    OOMGR_KEY_FORMAT,
    KEY_END,
};
static const struct oomgr_key dead_keys[] = {
    {"id", OOMGR_KEY_INT, 1, 9223372036854775807LL, NULL, "one dead entry (its Id)"},
    {"all", OOMGR_KEY_FLAG, 0, 0, NULL, "every dead entry"},
    KEY_END,
};

const struct oomgr_stmt_def oomgr_queue_stmts[] = {
    {"disp", "queue", OOMGR_PRIV_NODE, OOMGR_STMT_TX, disp_queue_keys, run_disp_queue, NULL,
     "disp queue [NAME] [format=table|csv];",
     "Shows the queues (entries, due, oldest), or the entries of one queue."},
    {"disp", "message", OOMGR_PRIV_NODE, OOMGR_STMT_TX, disp_message_keys, run_disp_message, NULL,
     "disp message id=N [format=table|csv];",
     "Shows a stored message's envelope fields and every folder and queue that holds it."},
    {"requeue", "dead", OOMGR_PRIV_NODE, OOMGR_STMT_TX, dead_keys, run_requeue_dead, NULL,
     "requeue dead id=N | all;",
     "Puts dead mail back on submission (stored) or gateway_in (raw), attempts reset."},
    {"delete", "dead", OOMGR_PRIV_NODE, OOMGR_STMT_TX, dead_keys, run_delete_dead, NULL,
     "delete dead id=N | all;", "Removes dead entries; the Collector then frees the messages."},
    {NULL, NULL, OOMGR_PRIV_NONE, 0, NULL, NULL, NULL, NULL, NULL},
};
