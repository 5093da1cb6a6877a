/*
 * store_billing.h - message billing records (006_billing.sql).
 *
 * One row per recipient per message as the Postman disposes of it, with
 * the time the message entered the system and the time it was disposed of:
 * Statistics reads delivery times from here. Rows outlive the message.
 */
#ifndef STORE_BILLING_H
#define STORE_BILLING_H

#include <stddef.h>

struct ofc_db;

struct billing_row {
    long long message_id;
    const char *sender;
    const char *recipient;
    long long account_id; /* 0 when not an account of this node */
    long long size;
    const char *disposition;  /* "DELIVERED", "GATEWAY", "BOUNCED", "DEAD", ... */
    const char *reason;       /* NULL when delivered */
    const char *submitted_at; /* timestamptz text */
};

/*
 * Appends n rows in one statement, disposed_at = now() (the transaction's
 * time), node_id = node_id, process_id = process_id (0: none), domain_id
 * = the account's domain. Runs inside the caller's transaction. Returns 0,
 * or -1 with a heap message in *error_r.
 */
int billing_record(struct ofc_db *db, long long node_id, long long process_id,
                   const struct billing_row *rows, size_t n, char **error_r)
    __attribute__((warn_unused_result));

/*
 * Deletes up to batch rows disposed of more than days days ago, oldest
 * first (message_billing_disposed), skipping rows another transaction
 * holds. Returns the number deleted in *n_r. Runs inside the caller's
 * transaction; 0, or -1 with a heap message in *error_r.
 */
int billing_purge(struct ofc_db *db, int days, int batch, size_t *n_r, char **error_r)
    __attribute__((warn_unused_result));

#endif
