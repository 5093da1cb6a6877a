/*
 * store_billing.c - message billing records. See store_billing.h.
 */
/* System. */
#include <stdlib.h>

/* libofc. */
#include "dir_util.h"
#include "ofc_db.h"
#include "ofc_pgarray.h"
#include "ofc_mem.h"
#include "store_billing.h"

int billing_record(struct ofc_db *db, long long node_id, long long process_id,
                   const struct billing_row *rows, size_t n, char **error_r)
{
    if (n == 0)
        return 0;
    /* Columns travel as arrays: one statement however many rows. */
    long long *msgs = ofc_xcalloc(n, sizeof(*msgs));
    long long *accounts = ofc_xcalloc(n, sizeof(*accounts));
    long long *sizes = ofc_xcalloc(n, sizeof(*sizes));
    const char **senders = ofc_xcalloc(n, sizeof(*senders));
    const char **rcpts = ofc_xcalloc(n, sizeof(*rcpts));
    const char **dispositions = ofc_xcalloc(n, sizeof(*dispositions));
    const char **reasons = ofc_xcalloc(n, sizeof(*reasons));
    const char **submitted = ofc_xcalloc(n, sizeof(*submitted));
    for (size_t i = 0; i < n; i++) {
        msgs[i] = rows[i].message_id;
        accounts[i] = rows[i].account_id;
        sizes[i] = rows[i].size;
        senders[i] = rows[i].sender;
        rcpts[i] = rows[i].recipient;
        dispositions[i] = rows[i].disposition;
        reasons[i] = rows[i].reason;
        submitted[i] = rows[i].submitted_at;
    }
    char *p[10];
    p[0] = ofc_pg_id_array(msgs, n);
    p[1] = ofc_pg_text_array(senders, n);
    p[2] = ofc_pg_text_array(rcpts, n);
    p[3] = ofc_pg_id_array(accounts, n);
    p[4] = ofc_pg_id_array(sizes, n);
    p[5] = ofc_pg_text_array(dispositions, n);
    p[6] = ofc_pg_text_array(reasons, n);
    p[7] = ofc_pg_text_array(submitted, n);
    p[8] = ofc_xasprintf("%lld", node_id);
    p[9] = process_id > 0 ? ofc_xasprintf("%lld", process_id) : NULL;
    int rc = ofc_db_exec(
        db,
        "INSERT INTO ofc.message_billing (message_id, node_id, sender, recipient, account_id,"
        " domain_id, size, disposition, reason, submitted_at, process_id)"
        " SELECT r.msg, $9::int, r.sender, r.rcpt, nullif(r.acct, 0),"
        "        (SELECT o.domain_id FROM ofc.dir_object o WHERE o.id = r.acct),"
        "        r.size, r.disp, r.reason, r.submitted, $10::int"
        "   FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[],"
        "               $6::text[], $7::text[], $8::timestamptz[])"
        "        AS r(msg, sender, rcpt, acct, size, disp, reason, submitted)",
        10, (const char *const *)p);
    for (int i = 0; i < 10; i++)
        free(p[i]);
    free(msgs);
    free(accounts);
    free(sizes);
    free(senders);
    free(rcpts);
    free(dispositions);
    free(reasons);
    free(submitted);
    if (rc != 0) {
        *error_r = ofc_xasprintf("cannot write billing records: %s", ofc_db_error(db));
        return -1;
    }
    return 0;
}

int billing_purge(struct ofc_db *db, int days, int batch, size_t *n_r, char **error_r)
{
    *n_r = 0;
    char *sdays = ofc_xasprintf("%d", days);
    char *slimit = ofc_xasprintf("%d", batch > 0 ? batch : 1);
    const char *params[] = {sdays, slimit};
    PGresult *res = ofc_db_query(db,
                                 "WITH c AS MATERIALIZED ("
                                 " SELECT id FROM ofc.message_billing"
                                 "  WHERE disposed_at < now() - make_interval(days => $1::int)"
                                 "  ORDER BY disposed_at LIMIT $2::int FOR UPDATE SKIP LOCKED),"
                                 " d AS (DELETE FROM ofc.message_billing x USING c"
                                 "  WHERE x.id = c.id RETURNING 1)"
                                 " SELECT count(*) FROM d",
                                 2, params);
    free(sdays);
    free(slimit);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot purge billing records: %s", ofc_db_error(db));
        return -1;
    }
    *n_r = (size_t)ofc_db_value_ll(res, 0, 0, 0);
    PQclear(res);
    return 0;
}
