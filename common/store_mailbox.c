/*
 * store_mailbox.c - finding and expunging in a mailbox. See store_mailbox.h.
 */
/* System. */
#include <stdio.h>
#include <stdlib.h>

/* libofc. */
#include "ofc_db.h"
#include "ofc_mem.h"
#include "ofc_pgarray.h"
#include "store_mailbox.h"

int store_mailbox_find(struct ofc_db *db, long long account_id, const char *name,
                       long long *mailbox_id_r, long long *uidvalidity_r, char **error_r)
{
    char saccount[32];
    (void)snprintf(saccount, sizeof(saccount), "%lld", account_id);
    const char *params[] = {saccount, name};
    PGresult *res = ofc_db_query(db,
                                 "SELECT id, uidvalidity FROM ofc.mailbox"
                                 " WHERE account_id = $1::bigint AND name = $2",
                                 2, params);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot look up mailbox %s of account %lld: %s", name, account_id,
                                 ofc_db_error(db));
        return -1;
    }
    int found = PQntuples(res) > 0;
    if (found) {
        if (mailbox_id_r != NULL)
            *mailbox_id_r = ofc_db_value_ll(res, 0, 0, 0);
        if (uidvalidity_r != NULL)
            *uidvalidity_r = ofc_db_value_ll(res, 0, 1, 0);
    }
    PQclear(res);
    return found;
}

int store_mailbox_expunge(struct ofc_db *db, long long mailbox_id, const long long *uids, size_t n,
                          size_t *expunged_r, long long *modseq_r, char **error_r)
{
    if (expunged_r != NULL)
        *expunged_r = 0;
    *modseq_r = 0;
    if (n == 0)
        return 0;
    char smailbox[32];
    (void)snprintf(smailbox, sizeof(smailbox), "%lld", mailbox_id);

    /*
     * The row lock first: deliveries lock the same row for uidnext, so the
     * modseq we assign below is not overtaken by a concurrent change of
     * this mailbox.
     */
    const char *lparams[] = {smailbox};
    PGresult *res =
        ofc_db_query(db, "SELECT 1 FROM ofc.mailbox WHERE id = $1::bigint FOR UPDATE", 1, lparams);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot lock mailbox %lld: %s", mailbox_id, ofc_db_error(db));
        return -1;
    }
    int exists = PQntuples(res) > 0;
    PQclear(res);
    if (!exists)
        return 0;

    /*
     * One statement: delete the pointers, raise highestmodseq once when
     * any went, and record each removed UID with that modseq. The
     * statement-level triggers on mailbox_pointer run after it (refcounts,
     * Collector queue, totals, NOTIFY). ON CONFLICT only guards against a
     * record left from an earlier life of the UID, which UIDVALIDITY rules
     * out; it keeps the statement from failing on it all the same.
     */
    char *array = ofc_pg_id_array(uids, n);
    const char *params[] = {smailbox, array};
    res = ofc_db_query(db,
                       "WITH d AS (DELETE FROM ofc.mailbox_pointer"
                       "            WHERE mailbox_id = $1::bigint AND uid = ANY ($2::bigint[])"
                       "           RETURNING uid),"
                       " m AS (UPDATE ofc.mailbox SET highestmodseq = highestmodseq + 1"
                       "        WHERE id = $1::bigint AND EXISTS (SELECT 1 FROM d)"
                       "       RETURNING highestmodseq),"
                       " e AS (INSERT INTO ofc.mailbox_expunged (mailbox_id, uid, modseq)"
                       "       SELECT $1::bigint, d.uid, m.highestmodseq FROM d CROSS JOIN m"
                       "       ON CONFLICT (mailbox_id, uid)"
                       "       DO UPDATE SET modseq = EXCLUDED.modseq, expunged_at = now()"
                       "       RETURNING uid)"
                       " SELECT (SELECT count(*) FROM d), (SELECT highestmodseq FROM m)",
                       2, params);
    free(array);
    if (res == NULL) {
        *error_r =
            ofc_xasprintf("cannot expunge from mailbox %lld: %s", mailbox_id, ofc_db_error(db));
        return -1;
    }
    if (expunged_r != NULL)
        *expunged_r = (size_t)ofc_db_value_ll(res, 0, 0, 0);
    *modseq_r = ofc_db_value_ll(res, 0, 1, 0);
    PQclear(res);
    return 0;
}
