/*
 * dir_group.h - directory verbs for locations, organizations and roles.
 *
 * The three classes group accounts: a message to a location, organization
 * or role reaches every account in it. An account has at most one location
 * and one organization (attributes of the account row) and any number of
 * roles (role assignments); the membership verbs here hide the difference.
 * Renaming (dir_object_modify()), listing and deleting (dir_object_delete():
 * refused while accounts are members, unless cascade) are the generic
 * verbs of dir_object.h, whose conventions apply.
 */
#ifndef DIR_GROUP_H
#define DIR_GROUP_H

#include <stddef.h>

#include "dir_object.h"

struct ofc_db;

/*
 * Creates a location, organization or role (class) name in domain_id;
 * description NULL = "". Returns 0 and the id in *id_r (may be NULL), or
 * -1 with *error_r.
 */
int dir_group_create(struct ofc_db *db, enum dir_class class, long long domain_id, const char *name,
                     const char *description, long long *id_r, char **error_r)
    __attribute__((warn_unused_result));

/*
 * Makes account_id a member of group_id: for a location or organization it
 * becomes the account's (replacing the one it had), for a role it is
 * assigned. Adding a member that is already there is an error. Returns 0,
 * or -1 with *error_r.
 */
int dir_group_member_add(struct ofc_db *db, long long group_id, long long account_id,
                         char **error_r) __attribute__((warn_unused_result));

/*
 * Takes account_id out of group_id; an account that is not a member is an
 * error. Returns 0, or -1 with *error_r.
 */
int dir_group_member_remove(struct ofc_db *db, long long group_id, long long account_id,
                            char **error_r) __attribute__((warn_unused_result));

/*
 * The member accounts of group_id, by domain and name. Returns 0 and a new
 * array in *list_r (free with dir_object_free_list(); NULL when *count_r is
 * 0), or -1 with *error_r.
 */
int dir_group_members(struct ofc_db *db, long long group_id, struct dir_object **list_r,
                      size_t *count_r, char **error_r) __attribute__((warn_unused_result));

#endif
