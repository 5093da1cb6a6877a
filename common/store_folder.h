/*
 * store_folder.h - the folders (mailboxes) of an account as IMAP sees
 * them: listing, creating, deleting, renaming, subscriptions, STATUS
 * figures, quota use, and APPEND of a message a client uploads.
 *
 * Names are UTF-8 with the hierarchy delimiter '/', as stored in
 * mailbox.name; "INBOX" is always spelled so (callers normalise the
 * case-insensitive spelling of the client first). A name with inferiors
 * ("a" while "a/b" exists) need not have a row of its own: such a name
 * exists only as a hierarchy level (IMAP \Noselect).
 *
 * UIDVALIDITY comes from uidvalidity_seq (the column default), so a
 * mailbox created again under an old name gets a new, larger value, and
 * no two mailboxes of a node ever share one. That is why a RENAME keeps
 * the UIDVALIDITY of the mailbox: its UIDs do not change, and no client
 * can have seen that value under the new name before.
 *
 * All verbs run inside the caller's transaction (one IMAP command, one
 * unit of work) and return a value >= 0 on success, or -1 with a heap
 * message in *error_r (the transaction may then be aborted).
 */
#ifndef STORE_FOLDER_H
#define STORE_FOLDER_H

#include <stdbool.h>
#include <stddef.h>

struct ofc_db;

/* One mailbox row of an account. */
struct store_folder {
    long long id;
    char *name;        /* UTF-8 */
    char *special_use; /* "\Sent" ... or NULL */
};

/*
 * Every mailbox of account_id, sorted by name (byte order), into a heap
 * array (*folders_r, *n_r; free with store_folder_list_free). Returns 0.
 */
int store_folder_list(struct ofc_db *db, long long account_id, struct store_folder **folders_r,
                      size_t *n_r, char **error_r) __attribute__((warn_unused_result));
void store_folder_list_free(struct store_folder **folders, size_t n);

/*
 * Creates mailbox `name` (a valid name: no empty level, no leading or
 * trailing '/') and, first, every superior level that has no row yet, so
 * that "a/b/c" makes "a" and "a/b" selectable too (RFC 3501 §6.3.3 SHOULD).
 * special_use ("\Sent", ...; NULL for none) goes to the new mailbox only;
 * another mailbox of the account with that use loses it. Returns 1 with
 * the new id in *mailbox_id_r (may be NULL), or 0 when the mailbox exists
 * already (nothing changed), or -1.
 */
int store_folder_create(struct ofc_db *db, long long account_id, const char *name,
                        const char *special_use, long long *mailbox_id_r, char **error_r)
    __attribute__((warn_unused_result));

/*
 * Deletes mailbox `name` with its messages (pointers; the triggers queue
 * messages nobody points to any more for the Collector and NOTIFY the
 * sessions watching it). Inferiors are kept: the name then lives on as a
 * \Noselect hierarchy level while it has inferiors (RFC 3501 §6.3.4).
 * Subscriptions are names and stay (§6.3.6). INBOX is never deleted.
 * Returns 1 deleted (id in *mailbox_id_r, may be NULL), 0 no such
 * mailbox, or -1.
 */
int store_folder_delete(struct ofc_db *db, long long account_id, const char *name,
                        long long *mailbox_id_r, char **error_r)
    __attribute__((warn_unused_result));

enum store_folder_rename_result {
    STORE_RENAMED = 0,
    STORE_RENAME_NO_SOURCE,   /* `from` has no row */
    STORE_RENAME_EXISTS,      /* `to`, or a new name of an inferior, exists */
    STORE_RENAME_INTO_ITSELF, /* `to` is an inferior of `from` */
    STORE_RENAME_TOO_LONG,    /* a new name of an inferior would exceed 1024 octets */
};

/*
 * RENAME (RFC 3501 §6.3.5): `from` and its inferiors take the new names
 * (inferiors "from/x" become "to/x"), keeping their ids, UIDs and
 * UIDVALIDITY; superior levels of `to` that have no row are created.
 * RENAME of INBOX is different: a new mailbox `to` (new UIDVALIDITY)
 * receives every message of INBOX with new UIDs 1..n in UID order (flags,
 * keywords and internal dates kept), they are expunged from INBOX as by
 * EXPUNGE (modseq, mailbox_expunged), and the inferiors of INBOX stay
 * where they are. *mailbox_id_r (may be NULL) receives the id of the
 * renamed mailbox (for INBOX: of the new one). Returns 0 with the outcome
 * in *result_r, or -1.
 */
int store_folder_rename(struct ofc_db *db, long long account_id, const char *from, const char *to,
                        enum store_folder_rename_result *result_r, long long *mailbox_id_r,
                        char **error_r) __attribute__((warn_unused_result));

/* STATUS figures of one mailbox. */
struct store_folder_status {
    long long id;
    long long messages;
    long long recent; /* UIDs >= first_recent_uid */
    long long uidnext;
    long long uidvalidity;
    long long unseen;  /* without \Seen */
    long long deleted; /* with \Deleted */
    long long highestmodseq;
    long long size; /* octets (the sum of RFC822.SIZE) */
};

/* Returns 1 with *st filled, 0 when there is no such mailbox, or -1. */
int store_folder_status(struct ofc_db *db, long long account_id, const char *name,
                        struct store_folder_status *st, char **error_r)
    __attribute__((warn_unused_result));

/*
 * The account's quota (*quota_bytes_r < 0: none) and use (octets over all
 * its mailboxes, from account_usage). Returns 1, 0 when the account does
 * not exist, or -1.
 */
int store_folder_quota(struct ofc_db *db, long long account_id, long long *quota_bytes_r,
                       long long *bytes_r, char **error_r) __attribute__((warn_unused_result));

/*
 * Subscriptions (names, RFC 3501 §6.3.6): subscribe (on) or unsubscribe.
 * Returns 1 when something changed, 0 when it was already so, or -1.
 */
int store_folder_subscribe(struct ofc_db *db, long long account_id, const char *name, bool on,
                           char **error_r) __attribute__((warn_unused_result));
/* The subscribed names, sorted, as a heap array of heap strings. Returns 0 or -1. */
int store_folder_subscriptions(struct ofc_db *db, long long account_id, char ***names_r,
                               size_t *n_r, char **error_r) __attribute__((warn_unused_result));
void store_folder_names_free(char ***names, size_t n);

/* What APPEND stores besides the octets. */
struct store_folder_append {
    int flags;                   /* mailbox_pointer.flags bits */
    const char *const *keywords; /* nkeywords keywords, may be NULL */
    size_t nkeywords;
    long long internaldate; /* seconds since the epoch; < 0: now */
};

enum store_folder_append_status {
    STORE_APPENDED = 0,
    STORE_APPEND_NO_MAILBOX, /* IMAP [TRYCREATE] */
    STORE_APPEND_OVER_QUOTA, /* IMAP [OVERQUOTA] */
    STORE_APPEND_FULL,       /* no UID left (uidnext beyond 2^32-1) */
};

struct store_folder_append_result {
    enum store_folder_append_status status;
    long long mailbox_id;
    long long uidvalidity;
    long long uid;
    long long modseq;
    long long message_id;
    long long size; /* octets stored (line ends made CRLF, store_message.h) */
};

/*
 * APPEND: stores raw (len octets) as a message (store_message_put_raw) and
 * gives it to mailbox `name` of account_id. The quota is checked first,
 * against the account's use plus the stored size (as delivery does:
 * usage + size <= quota_bytes); then the message is analysed and stored,
 * and only then the mailbox row is locked FOR UPDATE (so deliveries do
 * not wait for the analysis): uid = uidnext, modseq = highestmodseq + 1,
 * both moved on. A mailbox deleted between the look-up and the lock is
 * an error (-1: the caller's rollback removes the message). Returns 0
 * with the outcome in *r, or -1.
 */
int store_folder_append(struct ofc_db *db, long long account_id, const char *name, const char *raw,
                        size_t len, const struct store_folder_append *a,
                        struct store_folder_append_result *r, char **error_r)
    __attribute__((warn_unused_result));

#endif
