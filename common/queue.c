/*
 * queue.c - verbs for the node's mail queues. See queue.h.
 */
/* System. */
#include <stdlib.h>
#include <string.h>

/* libofc. */
#include "dir_util.h"
#include "ofc_db.h"
#include "ofc_pgarray.h"
#include "ofc_mem.h"
#include "queue.h"

const char *queue_table(enum queue_name queue)
{
    return queue == QUEUE_REROUTING ? "rerouting" : "submission";
}

static char *db_failure(struct ofc_db *db, const char *what)
{
    return ofc_xasprintf("cannot %s: %s", what, ofc_db_error(db));
}

/*
 * One row per recipient (unnest), so that the recipients arrive as plain
 * text values instead of an array literal to parse. The entries are
 * locked in the materialized CTE, before the join: LIMIT counts entries.
 * Entries come in the order of the take index (not_before, id), so that
 * the scan stops after LIMIT rows however long the queue is.
 */
#define TAKE_SQL(table, origin)                                                                    \
    "WITH q AS MATERIALIZED ("                                                                     \
    " SELECT s.id, s.message_id, s.sender, s.recipients, " origin " AS origin,"                    \
    "        s.submitted_at, s.attempts"                                                           \
    "   FROM ofc." table " s WHERE s.not_before <= now()"                                          \
    "  ORDER BY s.not_before, s.id LIMIT $1 FOR UPDATE SKIP LOCKED)"                               \
    " SELECT q.id, q.message_id, q.sender, q.origin, q.submitted_at, q.attempts, m.size, r.rcpt"   \
    "   FROM q JOIN ofc.message m ON m.id = q.message_id"                                          \
    "  CROSS JOIN LATERAL unnest(q.recipients) WITH ORDINALITY AS r(rcpt, n)"                      \
    "  ORDER BY q.id, r.n"

int queue_take(struct ofc_db *db, enum queue_name queue, int batch, struct queue_entry **entries_r,
               size_t *n_r, char **error_r)
{
    *entries_r = NULL;
    *n_r = 0;
    char *limit = ofc_xasprintf("%d", batch > 0 ? batch : 1);
    const char *params[] = {limit};
    PGresult *res =
        ofc_db_query(db,
                     queue == QUEUE_REROUTING ? TAKE_SQL("rerouting", "s.from_node_id")
                                              : TAKE_SQL("submission", "s.origin_node_id"),
                     1, params);
    free(limit);
    if (res == NULL) {
        *error_r = db_failure(db, "take queue entries");
        return -1;
    }
    int rows = PQntuples(res);
    struct queue_entry *entries = NULL;
    size_t n = 0;
    for (int row = 0; row < rows; row++) {
        long long id = ofc_db_value_ll(res, row, 0, 0);
        if (n == 0 || entries[n - 1].id != id) {
            entries = ofc_xrealloc(entries, (n + 1) * sizeof(*entries));
            struct queue_entry *e = &entries[n++];
            memset(e, 0, sizeof(*e));
            e->id = id;
            e->message_id = ofc_db_value_ll(res, row, 1, 0);
            e->sender = ofc_xstrdup(PQgetvalue(res, row, 2));
            e->origin_node_id = ofc_db_value_ll(res, row, 3, 0);
            e->submitted_at = ofc_xstrdup(PQgetvalue(res, row, 4));
            e->attempts = (int)ofc_db_value_ll(res, row, 5, 0);
            e->size = ofc_db_value_ll(res, row, 6, 0);
        }
        struct queue_entry *e = &entries[n - 1];
        e->rcpts = ofc_xrealloc(e->rcpts, (e->nrcpts + 1) * sizeof(*e->rcpts));
        e->rcpts[e->nrcpts++] = ofc_xstrdup(PQgetvalue(res, row, 7));
    }
    PQclear(res);
    *entries_r = entries;
    *n_r = n;
    return 0;
}

void queue_entries_free(struct queue_entry **entries, size_t count)
{
    if (*entries == NULL)
        return;
    for (size_t i = 0; i < count; i++) {
        struct queue_entry *e = &(*entries)[i];
        free(e->sender);
        for (size_t j = 0; j < e->nrcpts; j++)
            free(e->rcpts[j]);
        free(e->rcpts);
        free(e->submitted_at);
    }
    free(*entries);
    *entries = NULL;
}

int queue_done(struct ofc_db *db, enum queue_name queue, const long long *ids, size_t n,
               char **error_r)
{
    if (n == 0)
        return 0;
    char *array = ofc_pg_id_array(ids, n);
    const char *params[] = {array};
    int rc = ofc_db_exec(db,
                         queue == QUEUE_REROUTING
                             ? "DELETE FROM ofc.rerouting WHERE id = ANY ($1::bigint[])"
                             : "DELETE FROM ofc.submission WHERE id = ANY ($1::bigint[])",
                         1, params);
    free(array);
    if (rc != 0) {
        *error_r = db_failure(db, "remove queue entries");
        return -1;
    }
    return 0;
}

#define RETRY_SQL(table)                                                                           \
    "UPDATE ofc." table " SET attempts = attempts + 1,"                                            \
    " not_before = now() + make_interval(secs => $2::int), last_error = $3"                        \
    " WHERE id = $1"

int queue_retry(struct ofc_db *db, enum queue_name queue, long long id, int backoff_s,
                const char *reason, char **error_r)
{
    char *sid = ofc_xasprintf("%lld", id);
    char *sbackoff = ofc_xasprintf("%d", backoff_s < 0 ? 0 : backoff_s);
    const char *params[] = {sid, sbackoff, reason};
    int rc = ofc_db_exec(
        db, queue == QUEUE_REROUTING ? RETRY_SQL("rerouting") : RETRY_SQL("submission"), 3, params);
    free(sid);
    free(sbackoff);
    if (rc != 0) {
        *error_r = db_failure(db, "reschedule a queue entry");
        return -1;
    }
    return 0;
}

int queue_dead(struct ofc_db *db, const char *from_queue, long long message_id, const char *raw,
               size_t raw_len, const char *sender, const char *const *rcpts, size_t n,
               const char *reason, char **error_r)
{
    char *smsg = message_id > 0 ? ofc_xasprintf("%lld", message_id) : NULL;
    char *array = ofc_pg_text_array(rcpts, n);
    const char *values[] = {smsg, raw, sender != NULL ? sender : "", array, from_queue, reason};
    /* raw travels as binary: it may hold any octet, NUL included. */
    int lengths[] = {0, (int)raw_len, 0, 0, 0, 0};
    int formats[] = {0, 1, 0, 0, 0, 0};
    PGresult *res = ofc_db_query_bin(db,
                                     "INSERT INTO ofc.dead (message_id, raw, sender, recipients,"
                                     " from_queue, reason) VALUES ($1::bigint, $2::bytea, $3,"
                                     " $4::text[], $5, $6)",
                                     6, values, lengths, formats, 0);
    free(smsg);
    free(array);
    if (res == NULL) {
        *error_r = db_failure(db, "put a message on the dead queue");
        return -1;
    }
    PQclear(res);
    return 0;
}

int queue_put_gateway_out(struct ofc_db *db, long long gateway_id, long long message_id,
                          const char *sender, const char *const *rcpts, size_t n,
                          long long *entry_id_r, char **error_r)
{
    char *sgw = ofc_xasprintf("%lld", gateway_id);
    char *smsg = ofc_xasprintf("%lld", message_id);
    char *array = ofc_pg_text_array(rcpts, n);
    const char *params[] = {sgw, smsg, sender, array};
    PGresult *res = ofc_db_query(db,
                                 "INSERT INTO ofc.gateway_out (gateway_id, message_id, sender,"
                                 " recipients) VALUES ($1::int, $2::bigint, $3, $4::text[])"
                                 " RETURNING id",
                                 4, params);
    free(sgw);
    free(smsg);
    free(array);
    if (res == NULL) {
        *error_r = db_failure(db, "queue a message for a gateway");
        return -1;
    }
    if (entry_id_r != NULL)
        *entry_id_r = ofc_db_value_ll(res, 0, 0, 0);
    PQclear(res);
    return 0;
}

int queue_route_gateways(struct ofc_db *db, long long node_id, const char *const *domains, size_t n,
                         long long *gateway_ids_r, char **error_r)
{
    for (size_t i = 0; i < n; i++)
        gateway_ids_r[i] = 0;
    if (n == 0)
        return 0;
    char *array = ofc_pg_text_array(domains, n);
    char *snode = ofc_xasprintf("%lld", node_id);
    const char *params[] = {array, snode};
    PGresult *res = ofc_db_query(
        db,
        "SELECT d.n, r.gateway_id"
        "  FROM unnest($1::text[]) WITH ORDINALITY AS d(fqdn, n)"
        "  CROSS JOIN LATERAL ("
        "   SELECT gr.gateway_id FROM ofc.gateway_route gr"
        "     JOIN ofc.gateway g ON g.id = gr.gateway_id AND g.node_id = $2::int"
        "    WHERE gr.pattern = d.fqdn OR gr.pattern = '*'"
        "       OR (gr.pattern LIKE '*.%' AND right(d.fqdn, length(gr.pattern) - 1)"
        "           = substr(gr.pattern, 2))"
        "    ORDER BY gr.cost, (gr.pattern = d.fqdn) DESC, length(gr.pattern) DESC, gr.id"
        "    LIMIT 1) r",
        2, params);
    free(array);
    free(snode);
    if (res == NULL) {
        *error_r = db_failure(db, "look up gateway routes");
        return -1;
    }
    for (int row = 0; row < PQntuples(res); row++) {
        long long i = ofc_db_value_ll(res, row, 0, 0);
        if (i >= 1 && (size_t)i <= n)
            gateway_ids_r[i - 1] = ofc_db_value_ll(res, row, 1, 0);
    }
    PQclear(res);
    return 0;
}

/* As TAKE_SQL, for one gateway; the age decides expiry. */
static const char TAKE_GATEWAY_OUT_SQL[] =
    "WITH q AS MATERIALIZED ("
    " SELECT s.id, s.message_id, s.sender, s.recipients, s.submitted_at, s.attempts,"
    "        floor(extract(epoch FROM now() - s.submitted_at))::bigint AS age"
    "   FROM ofc.gateway_out s WHERE s.gateway_id = $2::int AND s.not_before <= now()"
    "  ORDER BY s.not_before, s.id LIMIT $1 FOR UPDATE SKIP LOCKED)"
    " SELECT q.id, q.message_id, q.sender, q.submitted_at, q.attempts, q.age, m.size, r.rcpt"
    "   FROM q JOIN ofc.message m ON m.id = q.message_id"
    "  CROSS JOIN LATERAL unnest(q.recipients) WITH ORDINALITY AS r(rcpt, n)"
    "  ORDER BY q.id, r.n";

int queue_take_gateway_out(struct ofc_db *db, long long gateway_id, int batch,
                           struct queue_entry **entries_r, size_t *n_r, char **error_r)
{
    *entries_r = NULL;
    *n_r = 0;
    char *limit = ofc_xasprintf("%d", batch > 0 ? batch : 1);
    char *sgw = ofc_xasprintf("%lld", gateway_id);
    const char *params[] = {limit, sgw};
    PGresult *res = ofc_db_query(db, TAKE_GATEWAY_OUT_SQL, 2, params);
    free(limit);
    free(sgw);
    if (res == NULL) {
        *error_r = db_failure(db, "take gateway_out entries");
        return -1;
    }
    int rows = PQntuples(res);
    struct queue_entry *entries = NULL;
    size_t n = 0;
    for (int row = 0; row < rows; row++) {
        long long id = ofc_db_value_ll(res, row, 0, 0);
        if (n == 0 || entries[n - 1].id != id) {
            entries = ofc_xrealloc(entries, (n + 1) * sizeof(*entries));
            struct queue_entry *e = &entries[n++];
            memset(e, 0, sizeof(*e));
            e->id = id;
            e->message_id = ofc_db_value_ll(res, row, 1, 0);
            e->sender = ofc_xstrdup(PQgetvalue(res, row, 2));
            e->submitted_at = ofc_xstrdup(PQgetvalue(res, row, 3));
            e->attempts = (int)ofc_db_value_ll(res, row, 4, 0);
            e->age_s = ofc_db_value_ll(res, row, 5, 0);
            e->size = ofc_db_value_ll(res, row, 6, 0);
        }
        struct queue_entry *e = &entries[n - 1];
        e->rcpts = ofc_xrealloc(e->rcpts, (e->nrcpts + 1) * sizeof(*e->rcpts));
        e->rcpts[e->nrcpts++] = ofc_xstrdup(PQgetvalue(res, row, 7));
    }
    PQclear(res);
    *entries_r = entries;
    *n_r = n;
    return 0;
}

int queue_done_gateway_out(struct ofc_db *db, long long id, char **error_r)
{
    char *sid = ofc_xasprintf("%lld", id);
    const char *params[] = {sid};
    int rc = ofc_db_exec(db, "DELETE FROM ofc.gateway_out WHERE id = $1::bigint", 1, params);
    free(sid);
    if (rc != 0) {
        *error_r = db_failure(db, "remove a gateway_out entry");
        return -1;
    }
    return 0;
}

int queue_retry_gateway_out(struct ofc_db *db, long long id, const char *const *rcpts, size_t n,
                            int backoff_s, const char *reason, char **error_r)
{
    char *sid = ofc_xasprintf("%lld", id);
    char *sbackoff = ofc_xasprintf("%d", backoff_s < 0 ? 0 : backoff_s);
    char *array = ofc_pg_text_array(rcpts, n);
    const char *params[] = {sid, sbackoff, reason, array};
    int rc = ofc_db_exec(db,
                         "UPDATE ofc.gateway_out SET attempts = attempts + 1,"
                         " not_before = now() + make_interval(secs => $2::int), last_error = $3,"
                         " recipients = $4::text[] WHERE id = $1::bigint",
                         4, params);
    free(sid);
    free(sbackoff);
    free(array);
    if (rc != 0) {
        *error_r = db_failure(db, "reschedule a gateway_out entry");
        return -1;
    }
    return 0;
}

int queue_collector_take(struct ofc_db *db, int batch, int grace_s, long long **message_ids_r,
                         size_t *n_r, size_t *entries_r, char **error_r)
{
    *message_ids_r = NULL;
    *n_r = 0;
    *entries_r = 0;
    char *slimit = ofc_xasprintf("%d", batch > 0 ? batch : 1);
    char *sgrace = ofc_xasprintf("%d", grace_s > 0 ? grace_s : 0);
    const char *params[] = {slimit, sgrace};
    /* Several entries may name one message (pointers removed in several
       statements): each message comes back once, with its entry count. */
    PGresult *res = ofc_db_query(db,
                                 "WITH c AS MATERIALIZED ("
                                 " SELECT id FROM ofc.collector"
                                 "  WHERE not_before <= now() - make_interval(secs => $2::int)"
                                 "  ORDER BY not_before, id LIMIT $1::int FOR UPDATE SKIP LOCKED),"
                                 " d AS (DELETE FROM ofc.collector x USING c WHERE x.id = c.id"
                                 "  RETURNING x.message_id)"
                                 " SELECT message_id, count(*) FROM d"
                                 "  GROUP BY message_id ORDER BY message_id",
                                 2, params);
    free(slimit);
    free(sgrace);
    if (res == NULL) {
        *error_r = db_failure(db, "take collector entries");
        return -1;
    }
    int rows = PQntuples(res);
    long long *ids = rows > 0 ? ofc_xcalloc((size_t)rows, sizeof(*ids)) : NULL;
    size_t entries = 0;
    for (int row = 0; row < rows; row++) {
        ids[row] = ofc_db_value_ll(res, row, 0, 0);
        entries += (size_t)ofc_db_value_ll(res, row, 1, 0);
    }
    PQclear(res);
    *message_ids_r = ids;
    *n_r = (size_t)rows;
    *entries_r = entries;
    return 0;
}

/* Runs a purge statement with $1 = days, $2 = batch that returns one count. */
static int purge(struct ofc_db *db, const char *sql, const char *what, int days, int batch,
                 size_t *n_r, char **error_r)
{
    *n_r = 0;
    char *sdays = ofc_xasprintf("%d", days);
    char *slimit = ofc_xasprintf("%d", batch > 0 ? batch : 1);
    const char *params[] = {sdays, slimit};
    PGresult *res = ofc_db_query(db, sql, 2, params);
    free(sdays);
    free(slimit);
    if (res == NULL) {
        *error_r = db_failure(db, what);
        return -1;
    }
    *n_r = (size_t)ofc_db_value_ll(res, 0, 0, 0);
    PQclear(res);
    return 0;
}

int queue_dead_purge(struct ofc_db *db, int days, int batch, size_t *n_r, char **error_r)
{
    /* Oldest first along dead_dead_at (009); a row oomgr is requeueing
       right now is skipped rather than waited for. */
    return purge(db,
                 "WITH c AS MATERIALIZED ("
                 " SELECT id FROM ofc.dead"
                 "  WHERE dead_at < now() - make_interval(days => $1::int)"
                 "  ORDER BY dead_at LIMIT $2::int FOR UPDATE SKIP LOCKED),"
                 " d AS (DELETE FROM ofc.dead x USING c WHERE x.id = c.id RETURNING 1)"
                 " SELECT count(*) FROM d",
                 "purge the dead queue", days, batch, n_r, error_r);
}

int queue_gateway_in_expire(struct ofc_db *db, int days, int batch, size_t *n_r, char **error_r)
{
    /* An entry a gateway process is working on is locked: skipped. */
    return purge(db,
                 "WITH c AS MATERIALIZED ("
                 " SELECT id FROM ofc.gateway_in"
                 "  WHERE received_at < now() - make_interval(days => $1::int)"
                 "  ORDER BY id LIMIT $2::int FOR UPDATE SKIP LOCKED),"
                 " g AS (DELETE FROM ofc.gateway_in x USING c WHERE x.id = c.id"
                 "  RETURNING x.raw, x.sender, x.recipients, x.attempts, x.last_error),"
                 " i AS (INSERT INTO ofc.dead (raw, sender, recipients, from_queue, reason)"
                 "  SELECT raw, sender, recipients, 'gateway_in',"
                 "         format('not processed within %s days', $1::int)"
                 "         || coalesce(format(' (%s attempts, last error: %s)',"
                 "                            attempts, last_error), '')"
                 "    FROM g RETURNING 1)"
                 " SELECT count(*) FROM i",
                 "expire gateway_in entries", days, batch, n_r, error_r);
}
