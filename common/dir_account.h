/*
 * dir_account.h - directory verbs for accounts (Person, Room, Equipment).
 *
 * An account is a dir_object row (its name in a domain's address space)
 * plus an account row (home node, password hash, quota, names) plus its
 * standard folders: INBOX, Drafts, Sent, Trash and Junk, each subscribed.
 * Used by ofcsetup (ADMIN, ORAPOST, the demo user) and oomgr.
 *
 * Finding, renaming and deleting accounts are the generic verbs of
 * dir_object.h (an account's mailboxes go with it); the conventions on
 * transactions and errors are those of dir_object.h.
 */
#ifndef DIR_ACCOUNT_H
#define DIR_ACCOUNT_H

#include <stdbool.h>
#include <stddef.h>

#include "dir_object.h"

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
/* The same class in the enumeration of every class (dir_object.h). */
enum dir_class dir_account_dir_class(enum dir_account_class class);

/* The rules of dir_object_name_valid(): accounts are named like any object. */
bool dir_account_name_valid(const char *name, const char **why_r);

/*
 * Creates the account with its folders and their subscriptions (two round
 * trips). Must run inside the caller's transaction (ofc_db_transaction()):
 * on failure some rows may already be written, and only the rollback
 * removes them. Returns 0 and the new dir_object id in *id_r (may be NULL),
 * or -1 and a heap message in *error_r ("an object named 'ADMIN' already
 * exists in acme.com (PERSON)").
 */
int dir_account_create(struct ofc_db *db, const struct dir_account_new *acct, long long *id_r,
                       char **error_r) __attribute__((warn_unused_result));

/*
 * What dir_account_modify() changes: NULL pointers (and the "set_" flags
 * left false) keep a value.
 */
struct dir_account_change {
    /*
     * A new password, hashed here with ofc_password_hash() before any
     * statement runs (hashing takes tens of milliseconds; no lock of this
     * call is held meanwhile). "" removes the password: the account cannot
     * log in. Ignored when password_hash is given.
     */
    const char *password;
    const char *password_hash; /* an existing crypt(3) string instead */
    const char *first_name;
    const char *last_name;
    const char *description;
    bool set_quota;
    long long quota_bytes; /* with set_quota: < 0 means no limit */
    const char *home_node; /* node name, any case */
    /*
     * By name: "name" in the account's domain or "name@fqdn"; "" clears.
     * roles is a comma-separated list of role names that replaces the
     * account's roles ("" removes them all).
     */
    const char *location;
    const char *organization;
    const char *manager;
    const char *roles;
    int disabled; /* -1 keep, 0 enable, 1 disable */
};

/* A dir_account_change that changes nothing: start from this. */
#define DIR_ACCOUNT_CHANGE_INIT                                                                    \
    {                                                                                              \
        .disabled = -1                                                                             \
    }

/*
 * Applies chg to account id. Names that resolve to nothing, or to an
 * object of the wrong class, are refused with the name ("no object named
 * 'hq' in acme.com", "kent@acme.com is a PERSON, not a LOCATION") and
 * nothing is changed. Returns 0, or -1 with *error_r.
 */
int dir_account_modify(struct ofc_db *db, long long id, const struct dir_account_change *chg,
                       char **error_r) __attribute__((warn_unused_result));

/* An account as "disp person" shows it. */
struct dir_account_info {
    struct dir_object obj; /* id, class, domain, name, address, description */
    long long home_node_id;
    char *home_node;       /* node name */
    long long quota_bytes; /* < 0: no limit */
    char *first_name;
    char *last_name;
    /*
     * Names ("" when unset): plain when in the account's domain, else
     * name@fqdn. roles: comma-separated, sorted.
     */
    char *location;
    char *organization;
    char *manager;
    char *roles;
    bool has_password;
    bool disabled;
};

void dir_account_info_clear(struct dir_account_info *info);
/* Clears count records, frees the array and sets *list to NULL. */
void dir_account_info_free_list(struct dir_account_info **list, size_t count);

/*
 * Fetches account id. Returns 1 and fills *info_r (clear it with
 * dir_account_info_clear()), 0 when there is no such account, -1 with
 * *error_r.
 */
int dir_account_get(struct ofc_db *db, long long id, struct dir_account_info *info_r,
                    char **error_r) __attribute__((warn_unused_result));

/*
 * The accounts a query selects (dir_object.h; class ANY = every account
 * class), in one statement. Returns 0 and a new array in *list_r (NULL
 * when *count_r is 0), or -1 with *error_r.
 */
int dir_account_list(struct ofc_db *db, const struct dir_query *query,
                     struct dir_account_info **list_r, size_t *count_r, char **error_r)
    __attribute__((warn_unused_result));

#endif
