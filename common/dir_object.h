/*
 * dir_object.h - directory verbs common to every class of object.
 *
 * Every directory object is a dir_object row: its class, its domain and its
 * name. Accounts, aliases, lists, locations, organizations, roles and
 * public templates share one name space per domain (so that name@domain
 * always means one thing); private templates are named per owner. Names
 * compare case-insensitively, as in the original.
 *
 * The class modules (dir_account, dir_alias, dir_dl, dir_group,
 * dir_template) create their objects through dir_object_create() and add
 * their own rows; finding, listing, renaming and deleting are here for all.
 *
 * Every verb that writes must run inside the caller's transaction
 * (ofc_db_transaction()): on failure some rows may be written, and only the
 * rollback removes them. Expected user errors (a duplicate name, a
 * referenced object) are found before any statement fails, so a caller may
 * report them and carry on in the same transaction. Messages are one line,
 * on the heap, for the caller to free.
 */
#ifndef DIR_OBJECT_H
#define DIR_OBJECT_H

#include <stdbool.h>
#include <stddef.h>

struct ofc_db;

enum dir_class {
    DIR_CLASS_ANY = 0, /* in queries: every class */
    DIR_CLASS_PERSON,
    DIR_CLASS_ROOM,
    DIR_CLASS_EQUIPMENT,
    DIR_CLASS_ALIAS,
    DIR_CLASS_DL,
    DIR_CLASS_LOCATION,
    DIR_CLASS_ORGANIZATION,
    DIR_CLASS_ROLE,
    DIR_CLASS_PUBLIC_TEMPLATE,
    DIR_CLASS_PRIVATE_TEMPLATE,
};

/* "PERSON", ..., "PRIVATE_TEMPLATE" as in dir_object.class; "ANY". */
const char *dir_class_name(enum dir_class class);
/*
 * The class of a name as the schema or oomgr spells it, any case: "person",
 * "room", "equipment", "alias", "dl", "location", "organization", "role",
 * "public_template", "private_template". Returns false when unknown.
 */
bool dir_class_parse(const char *name, enum dir_class *class_r);
/* Person, Room, Equipment: objects with an Inbox on a home node. */
bool dir_class_is_account(enum dir_class class);
/* Location, Organization, Role: classes whose members are accounts. */
bool dir_class_is_group(enum dir_class class);
/* Templates are not addresses; every other class is. */
bool dir_class_is_addressable(enum dir_class class);

/*
 * True when name can name an object: 1 to 64 characters, none of them
 * white space, control characters or @<>,;:"\ (which would make
 * name@domain ambiguous). When false, *why_r (may be NULL) gets a static
 * reason.
 */
bool dir_object_name_valid(const char *name, const char **why_r);

struct dir_object {
    long long id;
    enum dir_class class;
    long long domain_id;
    char *fqdn;         /* the domain's, lower case */
    char *name;         /* as written when created */
    char *address;      /* name@fqdn */
    char *description;  /* never NULL */
    long long owner_id; /* private templates: the owner; else 0 */
    /* Aliases: the target, name@fqdn of an object or an address; else NULL. */
    char *target;
};

/* Frees the strings of obj and zeroes it. */
void dir_object_clear(struct dir_object *obj);
/* Clears count objects, frees the array and sets *list to NULL. */
void dir_object_free_list(struct dir_object **list, size_t count);

/*
 * Creates the dir_object row of a new object: class (not ANY) in domain_id,
 * name (checked with dir_object_name_valid()), description (NULL = ""),
 * owner_id (> 0 for private templates, 0 otherwise). The class module adds
 * its detail row in the same transaction. Returns 0 and the id in *id_r, or
 * -1 with *error_r: "an object named 'kent' already exists in acme.com
 * (PERSON)", "no domain with id 7".
 */
int dir_object_create(struct ofc_db *db, long long domain_id, enum dir_class class,
                      const char *name, const char *description, long long owner_id,
                      long long *id_r, char **error_r) __attribute__((warn_unused_result));

/*
 * Fetches one object by id. Returns 1 and fills *obj_r (clear it with
 * dir_object_clear()), 0 when there is no such object, -1 with *error_r.
 */
int dir_object_get(struct ofc_db *db, long long id, struct dir_object *obj_r, char **error_r)
    __attribute__((warn_unused_result));

/*
 * Finds an object by name (case-insensitively) in a domain. class ANY
 * searches the address name space (every class but templates); a class
 * finds only an object of that class; PUBLIC_TEMPLATE the public templates
 * (private templates are found with dir_template_find()). Returns 1 and
 * fills *obj_r, 0 when there is none, -1 with *error_r.
 */
int dir_object_find(struct ofc_db *db, long long domain_id, enum dir_class class, const char *name,
                    struct dir_object *obj_r, char **error_r) __attribute__((warn_unused_result));

/*
 * Resolves a reference that an attribute or a statement gives by name:
 * "name" is looked up in context_domain_id, "name@fqdn" in that domain.
 * class ANY takes any addressable object. Returns 0 and the id in *id_r, or
 * -1 with a message naming what is missing or wrong ("no object named 'hq'
 * in acme.com", "sales@acme.com is a DL, not a LOCATION").
 */
int dir_object_find_ref(struct ofc_db *db, long long context_domain_id, enum dir_class class,
                        const char *ref, long long *id_r, char **error_r)
    __attribute__((warn_unused_result));

/*
 * Renames an object (new_name NULL = keep) and sets its description (NULL =
 * keep). A name taken in the object's name space is refused like
 * dir_object_create() refuses it. Returns 0, or -1 with *error_r.
 */
int dir_object_modify(struct ofc_db *db, long long id, const char *new_name,
                      const char *description, char **error_r) __attribute__((warn_unused_result));

/* One condition of a listing: attribute matches pattern. */
struct dir_filter {
    /*
     * name, description, username, firstname, lastname, uanode, quota,
     * location, organization, manager, role (accounts), target (aliases),
     * subject (templates); any case.
     */
    const char *attribute;
    /* '*' matches any run of characters, '?' one; others match themselves. */
    const char *pattern;
};

struct dir_query {
    long long domain_id;              /* 0: every domain */
    bool subtree;                     /* with domain_id: also the domains below it */
    enum dir_class class;             /* ANY: every class (dir_account_list: every account) */
    const struct dir_filter *filters; /* all must match; case-insensitive */
    size_t nfilters;
    /* Private templates are visible only to their owner: this account (0 = nobody). */
    long long viewer_id;
};

/*
 * Lists the objects a query selects, ordered by domain, class and name.
 * An unknown attribute, or one the class does not have, is an error that
 * names it. Returns 0 and a new array in *list_r (free it with
 * dir_object_free_list(); NULL when *count_r is 0), or -1 with *error_r.
 */
int dir_object_list(struct ofc_db *db, const struct dir_query *query, struct dir_object **list_r,
                    size_t *count_r, char **error_r) __attribute__((warn_unused_result));

/*
 * Deletes an object. When others refer to it (aliases pointing to it, lists
 * containing it, accounts whose location, organization or manager it is,
 * accounts holding the role) the delete is refused with the referrers named
 * ("cannot delete kent@acme.com (PERSON): referenced by ALIAS
 * ck@acme.com (alias target), DL staff@acme.com (list member); use
 * cascade"), unless cascade: then the aliases that point to it are deleted
 * too and the other references removed. An account's mailboxes, role
 * assignments and private templates go with it. Returns 0 (and the number
 * of objects deleted in *deleted_r, may be NULL), or -1 with *error_r.
 */
int dir_object_delete(struct ofc_db *db, long long id, bool cascade, long long *deleted_r,
                      char **error_r) __attribute__((warn_unused_result));

#endif
