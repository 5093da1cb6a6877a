/*
 * store_collect.c - taking unreferenced messages out of the store. See
 * store_collect.h.
 */
/* System. */
#include <stdlib.h>

/* libofc. */
#include "ofc_db.h"
#include "ofc_mem.h"
#include "ofc_pgarray.h"
#include "store_collect.h"

int store_collect_messages(struct ofc_db *db, const long long *ids, size_t n, size_t *deleted_r,
                           long long *bytes_r, char **error_r)
{
    *deleted_r = 0;
    *bytes_r = 0;
    if (n == 0)
        return 0;
    char *array = ofc_pg_id_array(ids, n);
    const char *params[] = {array};
    /*
     * The references are checked here already so that a queued message
     * (most candidates of the sweep) is never locked: the Postman
     * delivering it would have to wait for us.
     */
    PGresult *res = ofc_db_query(db,
                                 "SELECT m.id FROM ofc.message m"
                                 " WHERE m.id = ANY ($1::bigint[]) AND m.refcount = 0"
                                 "   AND NOT ofc.message_queued(m.id)"
                                 " ORDER BY m.id FOR UPDATE SKIP LOCKED",
                                 1, params);
    free(array);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot lock unreferenced messages: %s", ofc_db_error(db));
        return -1;
    }
    int rows = PQntuples(res);
    if (rows == 0) {
        PQclear(res);
        return 0;
    }
    long long *locked = ofc_xcalloc((size_t)rows, sizeof(*locked));
    for (int row = 0; row < rows; row++)
        locked[row] = ofc_db_value_ll(res, row, 0, 0);
    PQclear(res);

    /*
     * A new statement, a new snapshot: a reference committed between the
     * first snapshot and our lock is visible now. None can appear after
     * the lock until we commit.
     */
    array = ofc_pg_id_array(locked, (size_t)rows);
    free(locked);
    params[0] = array;
    res = ofc_db_query(db,
                       "WITH d AS (DELETE FROM ofc.message m"
                       "  WHERE m.id = ANY ($1::bigint[]) AND m.refcount = 0"
                       "    AND NOT ofc.message_queued(m.id) RETURNING m.size)"
                       " SELECT count(*), coalesce(sum(size), 0) FROM d",
                       1, params);
    free(array);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot delete unreferenced messages: %s", ofc_db_error(db));
        return -1;
    }
    *deleted_r = (size_t)ofc_db_value_ll(res, 0, 0, 0);
    *bytes_r = ofc_db_value_ll(res, 0, 1, 0);
    PQclear(res);
    return 0;
}

int store_collect_candidates(struct ofc_db *db, long long after_id, int grace_s, int batch,
                             long long **ids_r, size_t *n_r, char **error_r)
{
    *ids_r = NULL;
    *n_r = 0;
    char *safter = ofc_xasprintf("%lld", after_id);
    char *sgrace = ofc_xasprintf("%d", grace_s > 0 ? grace_s : 0);
    char *slimit = ofc_xasprintf("%d", batch > 0 ? batch : 1);
    const char *params[] = {safter, sgrace, slimit};
    /* Walks message_unreferenced (004), the partial index on refcount = 0. */
    PGresult *res = ofc_db_query(db,
                                 "SELECT m.id FROM ofc.message m"
                                 " WHERE m.refcount = 0 AND m.id > $1::bigint"
                                 "   AND m.received_at <= now() - make_interval(secs => $2::int)"
                                 " ORDER BY m.id LIMIT $3::int",
                                 3, params);
    free(safter);
    free(sgrace);
    free(slimit);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot look for unreferenced messages: %s", ofc_db_error(db));
        return -1;
    }
    int rows = PQntuples(res);
    long long *ids = rows > 0 ? ofc_xcalloc((size_t)rows, sizeof(*ids)) : NULL;
    for (int row = 0; row < rows; row++)
        ids[row] = ofc_db_value_ll(res, row, 0, 0);
    PQclear(res);
    *ids_r = ids;
    *n_r = (size_t)rows;
    return 0;
}
