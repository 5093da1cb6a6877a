/*
 * queue.h - the node's mail queues (DESIGN §3): a handful of verbs.
 *
 * Queues are tables. A worker takes entries with queue_take() (FOR UPDATE
 * SKIP LOCKED, so several workers share a queue without waiting for each
 * other), does the work and ends every entry with queue_done(),
 * queue_retry() or queue_dead() in the same transaction: a crash leaves an
 * entry either still queued or finished, never both. Every verb runs inside
 * the caller's transaction and returns 0, or -1 with a heap message in
 * *error_r.
 */
#ifndef QUEUE_H
#define QUEUE_H

#include <stddef.h>

struct ofc_db;

enum queue_name {
    QUEUE_SUBMISSION, /* stored messages waiting for the Postman */
    QUEUE_REROUTING,  /* messages from other nodes, waiting for submission */
};

/* The table name of a queue: "submission", "rerouting". */
const char *queue_table(enum queue_name queue);

struct queue_entry {
    long long id;
    long long message_id;
    long long size; /* the message's octets */
    char *sender;   /* envelope sender, "" for the null reverse-path */
    char **rcpts;   /* the envelope recipients as queued */
    size_t nrcpts;
    long long origin_node_id; /* 0 when not set */
    char *submitted_at;       /* timestamptz text, for billing and statistics */
    int attempts;             /* earlier failed attempts */
    long long age_s;          /* seconds since submitted_at (gateway_out only) */
};

/*
 * Takes up to batch entries of `queue` that are due (not_before <= now()),
 * oldest first, locking them FOR UPDATE SKIP LOCKED until the caller's
 * transaction ends. Entries other workers hold are skipped, not waited for.
 * Returns 0 and a new array in *entries_r (NULL when *n_r is 0; free with
 * queue_entries_free()).
 */
int queue_take(struct ofc_db *db, enum queue_name queue, int batch, struct queue_entry **entries_r,
               size_t *n_r, char **error_r) __attribute__((warn_unused_result));

/* Frees count entries and the array; sets *entries to NULL. */
void queue_entries_free(struct queue_entry **entries, size_t count);

/* Removes n finished entries of `queue`, in one statement. */
int queue_done(struct ofc_db *db, enum queue_name queue, const long long *ids, size_t n,
               char **error_r) __attribute__((warn_unused_result));

/*
 * Leaves an entry on its queue for a later attempt: attempts + 1, due again
 * after backoff_s seconds, last_error = reason.
 */
int queue_retry(struct ofc_db *db, enum queue_name queue, long long id, int backoff_s,
                const char *reason, char **error_r) __attribute__((warn_unused_result));

/*
 * Puts mail that can neither be delivered nor returned on the `dead` queue:
 * a stored message (message_id > 0) or, when it never got that far, raw
 * octets (raw_len of them). from_queue names where it came from
 * ("submission"); reason is one line for `disp queue dead;`.
 */
int queue_dead(struct ofc_db *db, const char *from_queue, long long message_id, const char *raw,
               size_t raw_len, const char *sender, const char *const *rcpts, size_t n,
               const char *reason, char **error_r) __attribute__((warn_unused_result));

/*
 * Queues a stored message for a gateway (SMTP, LMTP) to send to n external
 * recipients. Returns the entry id in *entry_id_r (may be NULL).
 */
int queue_put_gateway_out(struct ofc_db *db, long long gateway_id, long long message_id,
                          const char *sender, const char *const *rcpts, size_t n,
                          long long *entry_id_r, char **error_r)
    __attribute__((warn_unused_result));

/*
 * The gateways of node_id that take mail for each of n domains (lower
 * case): the cheapest gateway_route whose pattern is the domain, "*.suffix"
 * of it, or "*" (at equal cost the most specific pattern wins). Fills
 * gateway_ids_r[i] with the gateway id, or 0 when no route matches. One
 * statement for all domains.
 */
int queue_route_gateways(struct ofc_db *db, long long node_id, const char *const *domains, size_t n,
                         long long *gateway_ids_r, char **error_r)
    __attribute__((warn_unused_result));

/*
 * The gateway_out queue of one gateway, for the process that sends it:
 * takes up to batch due entries of gateway_id like queue_take() (FOR
 * UPDATE SKIP LOCKED, oldest first), with age_s filled in. Free with
 * queue_entries_free().
 */
int queue_take_gateway_out(struct ofc_db *db, long long gateway_id, int batch,
                           struct queue_entry **entries_r, size_t *n_r, char **error_r)
    __attribute__((warn_unused_result));

/* Removes a gateway_out entry that is finished (sent, returned or dead). */
int queue_done_gateway_out(struct ofc_db *db, long long id, char **error_r)
    __attribute__((warn_unused_result));

/*
 * Leaves a gateway_out entry for a later attempt with only the n recipients
 * still to be tried (n > 0): attempts + 1, due again after backoff_s
 * seconds, last_error = reason.
 */
int queue_retry_gateway_out(struct ofc_db *db, long long id, const char *const *rcpts, size_t n,
                            int backoff_s, const char *reason, char **error_r)
    __attribute__((warn_unused_result));

/*
 * The Collector's queue (005): takes up to batch entries that have been
 * due for at least grace_s seconds (FOR UPDATE SKIP LOCKED: entries
 * another Collector holds are skipped) and removes them. Returns in
 * *message_ids_r a new array of the distinct message ids they named
 * (NULL when *n_r is 0; the caller frees it) and in *entries_r how many
 * entries were taken. The caller then deletes those messages that are
 * still unreferenced (store_collect_messages()) in the same transaction.
 */
int queue_collector_take(struct ofc_db *db, int batch, int grace_s, long long **message_ids_r,
                         size_t *n_r, size_t *entries_r, char **error_r)
    __attribute__((warn_unused_result));

/*
 * Deletes up to batch dead entries older than days days, oldest first,
 * skipping rows another transaction holds. Their messages are released
 * (009: queued for the Collector unless still referenced). Returns the
 * number deleted in *n_r.
 */
int queue_dead_purge(struct ofc_db *db, int days, int batch, size_t *n_r, char **error_r)
    __attribute__((warn_unused_result));

/*
 * Moves up to batch gateway_in entries received more than days days ago
 * and still not processed (none a gateway process holds now) to the dead
 * queue, with their raw octets, envelope and last error. Returns the
 * number moved in *n_r.
 */
int queue_gateway_in_expire(struct ofc_db *db, int days, int batch, size_t *n_r, char **error_r)
    __attribute__((warn_unused_result));

#endif
