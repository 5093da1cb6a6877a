/*
 * dir_dl.h - directory verbs for public distribution lists.
 *
 * A list's members are objects of the directory (accounts, aliases, other
 * lists - nesting is expanded, and loops broken, by address resolution;
 * locations, organizations, roles) or addresses of other domains.
 * Renaming, listing and deleting are the generic verbs of dir_object.h;
 * the conventions on transactions and errors are those of dir_object.h.
 */
#ifndef DIR_DL_H
#define DIR_DL_H

#include <stddef.h>

#include "dir_object.h"

struct ofc_db;

/*
 * Creates an empty list name in domain_id; description NULL = "". Returns
 * 0 and the id in *id_r (may be NULL), or -1 with *error_r.
 */
int dir_dl_create(struct ofc_db *db, long long domain_id, const char *name, const char *description,
                  long long *id_r, char **error_r) __attribute__((warn_unused_result));

/*
 * Adds member to list dl_id: "name" (an object of the list's domain),
 * "name@fqdn" (an object of that domain when it is in the directory), or
 * an address of another domain. A member that is already there, the list
 * itself, or an unknown name of a directory domain is refused. Returns 0,
 * or -1 with *error_r.
 */
int dir_dl_member_add(struct ofc_db *db, long long dl_id, const char *member, char **error_r)
    __attribute__((warn_unused_result));

/*
 * Removes member (written as for dir_dl_member_add(); addresses compare
 * case-insensitively) from list dl_id. A member that is not there is an
 * error. Returns 0, or -1 with *error_r.
 */
int dir_dl_member_remove(struct ofc_db *db, long long dl_id, const char *member, char **error_r)
    __attribute__((warn_unused_result));

struct dir_dl_member {
    long long object_id;  /* 0 for an address */
    enum dir_class class; /* ANY for an address */
    char *address;        /* name@fqdn of the object, or the address */
};

/*
 * The direct members of list dl_id (not expanded), objects by class and
 * name, then addresses. Returns 0 and a new array in *list_r (NULL when
 * *count_r is 0), or -1 with *error_r.
 */
int dir_dl_members(struct ofc_db *db, long long dl_id, struct dir_dl_member **list_r,
                   size_t *count_r, char **error_r) __attribute__((warn_unused_result));
void dir_dl_members_free(struct dir_dl_member **list, size_t count);

#endif
