/*
 * dir_group.c - locations, organizations, roles and their member accounts.
 */
/* System. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libofc. */
#include "dir_group.h"
#include "dir_util.h"
#include "ofc_db.h"
#include "ofc_mem.h"

int dir_group_create(struct ofc_db *db, enum dir_class class, long long domain_id, const char *name,
                     const char *description, long long *id_r, char **error_r)
{
    long long id;
    if (!dir_class_is_group(class)) {
        *error_r =
            ofc_xasprintf("%s is not a LOCATION, ORGANIZATION or ROLE", dir_class_name(class));
        return -1;
    }
    if (dir_object_create(db, domain_id, class, name, description, 0, &id, error_r) < 0)
        return -1;
    if (id_r != NULL)
        *id_r = id;
    return 0;
}

/*
 * Fetches the group and the account and checks their classes. Returns 0
 * with both filled, or -1 with *error_r (nothing to clear then).
 */
static int load_pair(struct ofc_db *db, long long group_id, long long account_id,
                     struct dir_object *group_r, struct dir_object *account_r, char **error_r)
{
    int found = dir_object_get(db, group_id, group_r, error_r);
    if (found <= 0) {
        if (found == 0)
            *error_r = ofc_xasprintf("no group with id %lld", group_id);
        return -1;
    }
    if (!dir_class_is_group(group_r->class)) {
        *error_r = ofc_xasprintf("%s is a %s, not a LOCATION, ORGANIZATION or ROLE",
                                 group_r->address, dir_class_name(group_r->class));
        dir_object_clear(group_r);
        return -1;
    }
    found = dir_object_get(db, account_id, account_r, error_r);
    if (found <= 0) {
        if (found == 0)
            *error_r = ofc_xasprintf("no account with id %lld", account_id);
        dir_object_clear(group_r);
        return -1;
    }
    if (!dir_class_is_account(account_r->class)) {
        *error_r = ofc_xasprintf("%s is a %s, not an account", account_r->address,
                                 dir_class_name(account_r->class));
        dir_object_clear(group_r);
        dir_object_clear(account_r);
        return -1;
    }
    return 0;
}

/*
 * The statements of membership, by class and direction. Each returns a row
 * when it changed something, so that "already a member" and "not a
 * member" need no statement of their own.
 */
static const char *membership_sql(enum dir_class class, bool add)
{
    switch (class) {
    case DIR_CLASS_LOCATION:
        return add ? "UPDATE ofc.account SET location_id = $1::bigint WHERE object_id = $2::bigint"
                     " AND location_id IS DISTINCT FROM $1::bigint RETURNING 1"
                   : "UPDATE ofc.account SET location_id = NULL WHERE object_id = $2::bigint"
                     " AND location_id = $1::bigint RETURNING 1";
    case DIR_CLASS_ORGANIZATION:
        return add ? "UPDATE ofc.account SET organization_id = $1::bigint"
                     " WHERE object_id = $2::bigint"
                     " AND organization_id IS DISTINCT FROM $1::bigint RETURNING 1"
                   : "UPDATE ofc.account SET organization_id = NULL WHERE object_id = $2::bigint"
                     " AND organization_id = $1::bigint RETURNING 1";
    default:
        return add ? "INSERT INTO ofc.role_assignment (role_id, account_id)"
                     " VALUES ($1::bigint, $2::bigint) ON CONFLICT DO NOTHING RETURNING 1"
                   : "DELETE FROM ofc.role_assignment WHERE role_id = $1::bigint"
                     " AND account_id = $2::bigint RETURNING 1";
    }
}

static int change_membership(struct ofc_db *db, long long group_id, long long account_id, bool add,
                             char **error_r)
{
    struct dir_object group, account;
    if (load_pair(db, group_id, account_id, &group, &account, error_r) < 0)
        return -1;
    char gid[24], aid[24];
    (void)snprintf(gid, sizeof(gid), "%lld", group_id);
    (void)snprintf(aid, sizeof(aid), "%lld", account_id);
    const char *const p[] = {gid, aid};
    PGresult *res = ofc_db_query(db, membership_sql(group.class, add), 2, p);
    int rc = -1;
    if (res == NULL)
        *error_r = dir_db_failure(db, add ? "add the member" : "remove the member");
    else if (PQntuples(res) == 0)
        *error_r = ofc_xasprintf(add ? "%s is already a member of %s" : "%s is not a member of %s",
                                 account.address, group.address);
    else
        rc = 0;
    PQclear(res);
    dir_object_clear(&group);
    dir_object_clear(&account);
    return rc;
}

int dir_group_member_add(struct ofc_db *db, long long group_id, long long account_id,
                         char **error_r)
{
    return change_membership(db, group_id, account_id, true, error_r);
}

int dir_group_member_remove(struct ofc_db *db, long long group_id, long long account_id,
                            char **error_r)
{
    return change_membership(db, group_id, account_id, false, error_r);
}

int dir_group_members(struct ofc_db *db, long long group_id, struct dir_object **list_r,
                      size_t *count_r, char **error_r)
{
    char gid[24];
    (void)snprintf(gid, sizeof(gid), "%lld", group_id);
    const char *const p[] = {gid};
    PGresult *res = ofc_db_query(db,
                                 "SELECT " DIR_OBJECT_COLUMNS DIR_OBJECT_FROM
                                 " WHERE a.location_id = $1::bigint"
                                 " OR a.organization_id = $1::bigint"
                                 " OR o.id IN (SELECT account_id FROM ofc.role_assignment"
                                 "  WHERE role_id = $1::bigint)"
                                 " ORDER BY d.fqdn, o.name_key",
                                 1, p);
    *list_r = NULL;
    *count_r = 0;
    if (res == NULL) {
        *error_r = dir_db_failure(db, "list the members");
        return -1;
    }
    int rows = PQntuples(res);
    if (rows > 0) {
        *list_r = ofc_xcalloc((size_t)rows, sizeof(**list_r));
        for (int i = 0; i < rows; i++)
            dir_object_from_row(res, i, &(*list_r)[i]);
    }
    *count_r = (size_t)rows;
    PQclear(res);
    return 0;
}
