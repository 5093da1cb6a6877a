/*
 * store_mailbox.h - verbs on a mailbox as a whole: finding one by name and
 * expunging messages from it.
 *
 * Shared by the protocol servers: pop3srv removes the messages a session
 * marked with DELE when the client says QUIT (RFC 1939 UPDATE state), and
 * imap4srv removes \Deleted messages on EXPUNGE, CLOSE and UID EXPUNGE. Both
 * must leave the same traces, or an IMAP client resynchronising with
 * QRESYNC (RFC 7162) would miss what a POP3 session removed:
 *
 *   - the mailbox row is locked FOR UPDATE first, so that expunges, and
 *     deliveries (which lock the row to take UIDs from uidnext), of one
 *     mailbox happen one after the other;
 *   - highestmodseq goes up by one for the whole expunge, and every
 *     removed UID is recorded in mailbox_expunged with that modseq
 *     (VANISHED (EARLIER) answers from it);
 *   - the pointers are deleted in one statement; the triggers of
 *     004_store.sql then lower the messages' refcounts, queue messages
 *     nobody points to any more for the Collector, fix the mailbox totals
 *     (messages, bytes: quota) and NOTIFY ofc_mailbox, which tells every
 *     other session watching the mailbox.
 *
 * All verbs run inside the caller's transaction (one unit of work: POP3
 * releases its maildrop lock in the same one) and return 0, or -1 with a
 * heap message in *error_r (the transaction is then aborted).
 */
#ifndef STORE_MAILBOX_H
#define STORE_MAILBOX_H

#include <stddef.h>

struct ofc_db;

/*
 * The mailbox `name` of account_id ("INBOX" is always spelled so).
 * Returns 1 with its id and UIDVALIDITY (either output pointer may be
 * NULL), 0 when the account has no such mailbox, -1 on error.
 */
int store_mailbox_find(struct ofc_db *db, long long account_id, const char *name,
                       long long *mailbox_id_r, long long *uidvalidity_r, char **error_r)
    __attribute__((warn_unused_result));

/*
 * Expunges the n UIDs in uids (any order; duplicates and UIDs that are not
 * or no longer in the mailbox, removed meanwhile by another session, are
 * ignored) from mailbox_id, as described above. When at least one pointer
 * went, highestmodseq was raised once and *modseq_r is the new value;
 * otherwise nothing changed and *modseq_r is 0. *expunged_r (may be NULL)
 * receives how many pointers were removed. A mailbox that no longer
 * exists is not an error: nothing is expunged. n == 0 does nothing and
 * takes no lock.
 *
 * Caution: the mailbox row lock is held until the caller's transaction
 * ends; keep that transaction short (no client I/O inside).
 */
int store_mailbox_expunge(struct ofc_db *db, long long mailbox_id, const long long *uids, size_t n,
                          size_t *expunged_r, long long *modseq_r, char **error_r)
    __attribute__((warn_unused_result));

#endif
