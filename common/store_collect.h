/*
 * store_collect.h - taking unreferenced messages out of the store.
 *
 * A message is unreferenced when no mailbox_pointer points to it
 * (refcount = 0) and no queue holds it (message_queued(), 009). Deleting
 * one must never race with a transaction that is just referring to it: a
 * pointer for an IMAP COPY, a queue row for the gateway. So the verbs here
 * lock each candidate FOR UPDATE SKIP LOCKED first (a message a concurrent
 * transaction is referring to is skipped, not waited for, and nothing new
 * can refer to a locked one), then delete it in a second statement whose
 * fresh snapshot sees every reference committed meanwhile. Both verbs run
 * inside the caller's READ COMMITTED transaction and return 0, or -1 with
 * a heap message in *error_r.
 */
#ifndef STORE_COLLECT_H
#define STORE_COLLECT_H

#include <stddef.h>

struct ofc_db;

/*
 * Deletes those of the n messages in ids that are unreferenced and not
 * locked by another transaction, with their message_header rows. Returns
 * in *deleted_r how many went and in *bytes_r their octets. A message
 * skipped because another transaction holds it is left alone: if that
 * transaction rolls back, the sweep (store_collect_candidates()) finds it.
 */
int store_collect_messages(struct ofc_db *db, const long long *ids, size_t n, size_t *deleted_r,
                           long long *bytes_r, char **error_r) __attribute__((warn_unused_result));

/*
 * The sweep: up to batch messages with refcount 0, id greater than
 * after_id, stored at least grace_s seconds ago, in id order. Queued
 * messages are among them (a message waiting in submission has no pointer
 * yet); store_collect_messages() leaves those. Returns a new array in
 * *ids_r (NULL when *n_r is 0; the caller frees it); the last id is where
 * the next batch starts.
 */
int store_collect_candidates(struct ofc_db *db, long long after_id, int grace_s, int batch,
                             long long **ids_r, size_t *n_r, char **error_r)
    __attribute__((warn_unused_result));

#endif
