/*
 * dir_account.h - directory verbs for accounts (Person, Room, Equipment).
 *
 * An account is a dir_object row (its name in a domain's address space)
 * plus an account row (home node, password hash, quota, names) plus its
 * standard folders: INBOX, Drafts, Sent, Trash and Junk, each subscribed.
 * Used by ofcsetup (ADMIN, ORAPOST, the demo user) and oomgr.
 */
#ifndef DIR_ACCOUNT_H
#define DIR_ACCOUNT_H

#include <stdbool.h>

struct ofc_db;

enum dir_account_class {
    DIR_ACCOUNT_PERSON,
    DIR_ACCOUNT_ROOM,
    DIR_ACCOUNT_EQUIPMENT,
};

struct dir_account_new {
    enum dir_account_class class;
    long long domain_id;     /* domain.id the name belongs to */
    const char *name;        /* "ADMIN"; unique per domain, case-insensitively */
    const char *description; /* NULL = "" */
    long long home_node_id;  /* node.id of the node that holds the mailboxes */
    /*
     * crypt(3) string from ofc_password_hash(), or NULL: the account
     * exists but cannot log in until a password is set.
     */
    const char *password_hash;
    long long quota_bytes;  /* < 0: no limit */
    const char *first_name; /* NULL = "" */
    const char *last_name;  /* NULL = "" */
};

/* "PERSON", "ROOM", "EQUIPMENT": the dir_object class. */
const char *dir_account_class_name(enum dir_account_class class);

/*
 * True when name can be an account name: 1 to 64 characters, none of them
 * white space, control characters or @<>,;:"\ (which would make
 * name@domain ambiguous). When false, *why_r (may be NULL) gets a static
 * reason.
 */
bool dir_account_name_valid(const char *name, const char **why_r);

/*
 * Creates the account with its folders and their subscriptions. Must run
 * inside the caller's transaction (ofc_db_transaction()): on failure some
 * rows may already be written, and only the rollback removes them.
 * Returns 0 and the new dir_object id in *id_r (may be NULL), or -1 and a
 * heap message in *error_r ("ADMIN already exists in that domain").
 */
int dir_account_create(struct ofc_db *db, const struct dir_account_new *acct, long long *id_r,
                       char **error_r) __attribute__((warn_unused_result));

#endif
