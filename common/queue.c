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
 */
#define TAKE_SQL(table, origin)                                                                    \
    "WITH q AS MATERIALIZED ("                                                                     \
    " SELECT s.id, s.message_id, s.sender, s.recipients, " origin " AS origin,"                    \
    "        s.submitted_at, s.attempts"                                                           \
    "   FROM ofc." table " s WHERE s.not_before <= now()"                                          \
    "  ORDER BY s.id LIMIT $1 FOR UPDATE SKIP LOCKED)"                                             \
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
