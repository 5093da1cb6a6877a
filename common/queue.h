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

#endif
