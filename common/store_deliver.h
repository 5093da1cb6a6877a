/*
 * store_deliver.h - giving a stored message to its recipients' folders.
 *
 * The message body is stored once (store_message.h); each recipient gets a
 * mailbox_pointer row in a folder, charged to its quota for the full size
 * (DESIGN §3). UIDs come from each folder's uidnext, locked FOR UPDATE in
 * mailbox id order, so concurrent deliveries neither collide nor deadlock;
 * never MAX(uid)+1. Everything runs inside the caller's transaction, so
 * that the pointers commit together with the removal of the queue entry.
 */
#ifndef STORE_DELIVER_H
#define STORE_DELIVER_H

#include <stddef.h>

struct ofc_db;

/* One recipient's copy: which account, which folder, with what state. */
struct store_target {
    /*
     * The message; 0 means store_deliver()'s message_id. Several messages
     * in one call (a Postman batch) share one statement and one lock
     * order, so batches cannot deadlock with each other.
     */
    long long message_id;
    long long account_id;
    /*
     * The folder a rule chose, or NULL for INBOX. A folder that does not
     * exist gets the message in INBOX instead (the implicit keep of
     * RFC 5228): mail is never lost to a stale rule.
     */
    const char *folder;
    int flags;                   /* IMAP flag bits of mailbox_pointer.flags */
    const char *const *keywords; /* nkeywords IMAP keywords, may be NULL */
    size_t nkeywords;
};

enum store_deliver_status {
    STORE_DELIVERED = 0, /* a pointer was added: mailbox_id, uid */
    STORE_OVER_QUOTA,    /* the account's usage plus the size exceeds its quota */
    STORE_NO_ACCOUNT,    /* the account does not exist (any more) */
};

struct store_deliver_result {
    enum store_deliver_status status;
    long long mailbox_id;
    long long uid;
    long long modseq;
};

/*
 * Gives message_id (or each target's own message) to n targets: locks
 * their folders FOR UPDATE in id order; a target whose account is over
 * quota (usage + size > quota_bytes, usage as it was before this call:
 * several messages to one account in one call may overshoot by the last
 * of them) fails alone; the others get a pointer with uid = the folder's
 * uidnext (consecutive for several targets in one folder) and modseq =
 * highestmodseq + 1 (+ 2, ... for the next ones in that folder), and the
 * folders' uidnext and highestmodseq move on.
 * One statement in the usual case (every folder exists); an INBOX that is
 * missing is created first. results_r must have room for n results, in
 * the order of targets. Returns 0 (per-target outcomes in results_r), or
 * -1 with a heap message in *error_r when the database fails; the
 * caller's transaction is then aborted.
 *
 * Speed: the statement is prepared once per session. Planning it afresh
 * (PostgreSQL's custom plans for the first executions and whenever the
 * generic plan looks dearer) costs more than running it, so a caller that
 * delivers in volume runs "SET LOCAL plan_cache_mode = force_generic_plan"
 * in its transaction; the statement is written (LATERAL, = ANY) so that
 * its generic plan uses the indexes.
 */
int store_deliver(struct ofc_db *db, long long message_id, const struct store_target *targets,
                  size_t n, struct store_deliver_result *results_r, char **error_r)
    __attribute__((warn_unused_result));

/* "delivered", "over quota", "no such account". */
const char *store_deliver_status_name(enum store_deliver_status status);

#endif
