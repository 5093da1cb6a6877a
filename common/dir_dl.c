/*
 * dir_dl.c - public distribution lists and their members.
 */
/* System. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libofc. */
#include "dir_dl.h"
#include "dir_util.h"
#include "ofc_db.h"
#include "ofc_mem.h"

int dir_dl_create(struct ofc_db *db, long long domain_id, const char *name, const char *description,
                  long long *id_r, char **error_r)
{
    long long id;
    if (dir_object_create(db, domain_id, DIR_CLASS_DL, name, description, 0, &id, error_r) < 0)
        return -1;
    if (id_r != NULL)
        *id_r = id;
    return 0;
}

/*
 * Looks up list dl_id (it must be a DL) and reads member relative to its
 * domain. Returns 0 with the list in *dl_r and the member's object id or
 * address, or -1 with *error_r (nothing to clear then).
 */
static int prepare_member(struct ofc_db *db, long long dl_id, const char *member,
                          struct dir_object *dl_r, long long *object_id_r, char **address_r,
                          char **error_r)
{
    int found = dir_object_get(db, dl_id, dl_r, error_r);
    if (found <= 0) {
        if (found == 0)
            *error_r = ofc_xasprintf("no list with id %lld", dl_id);
        return -1;
    }
    if (dl_r->class != DIR_CLASS_DL) {
        *error_r =
            ofc_xasprintf("%s is a %s, not a DL", dl_r->address, dir_class_name(dl_r->class));
    } else if (dir_target_parse(db, dl_r->domain_id, member, object_id_r, address_r, error_r) ==
               0) {
        return 0;
    }
    dir_object_clear(dl_r);
    return -1;
}

int dir_dl_member_add(struct ofc_db *db, long long dl_id, const char *member, char **error_r)
{
    struct dir_object dl;
    long long object_id;
    char *address;
    if (prepare_member(db, dl_id, member, &dl, &object_id, &address, error_r) < 0)
        return -1;
    int rc = -1;
    if (object_id == dl_id) {
        *error_r = ofc_xasprintf("%s cannot be a member of itself", dl.address);
        goto out;
    }
    struct dir_params p = DIR_PARAMS_INIT;
    (void)dir_params_add_ll(&p, dl_id);
    (void)dir_params_take(&p, object_id > 0 ? ofc_xasprintf("%lld", object_id) : NULL);
    (void)dir_params_add(&p, address);
    /* The unique indexes find a duplicate; DO NOTHING keeps the transaction usable. */
    PGresult *res = ofc_db_query(db,
                                 "INSERT INTO ofc.dl_member (dl_id, member_object_id,"
                                 " member_address) VALUES ($1::bigint, $2::bigint, $3::text)"
                                 " ON CONFLICT DO NOTHING RETURNING id",
                                 p.n, dir_params_values(&p));
    dir_params_free(&p);
    if (res == NULL) {
        *error_r = dir_db_failure(db, "add the member");
        goto out;
    }
    int added = PQntuples(res);
    PQclear(res);
    if (added == 0) {
        *error_r = ofc_xasprintf("%s is already a member of %s", member, dl.address);
        goto out;
    }
    rc = 0;
out:
    free(address);
    dir_object_clear(&dl);
    return rc;
}

int dir_dl_member_remove(struct ofc_db *db, long long dl_id, const char *member, char **error_r)
{
    struct dir_object dl;
    long long object_id;
    char *address;
    if (prepare_member(db, dl_id, member, &dl, &object_id, &address, error_r) < 0)
        return -1;
    struct dir_params p = DIR_PARAMS_INIT;
    (void)dir_params_add_ll(&p, dl_id);
    (void)dir_params_take(&p, object_id > 0 ? ofc_xasprintf("%lld", object_id) : NULL);
    (void)dir_params_add(&p, address);
    PGresult *res = ofc_db_query(db,
                                 "DELETE FROM ofc.dl_member WHERE dl_id = $1::bigint"
                                 " AND (member_object_id = $2::bigint"
                                 "  OR lower(member_address) = lower($3::text)) RETURNING id",
                                 p.n, dir_params_values(&p));
    dir_params_free(&p);
    int rc = -1;
    if (res == NULL) {
        *error_r = dir_db_failure(db, "remove the member");
    } else if (PQntuples(res) == 0) {
        *error_r = ofc_xasprintf("%s is not a member of %s", member, dl.address);
    } else {
        rc = 0;
    }
    PQclear(res);
    free(address);
    dir_object_clear(&dl);
    return rc;
}

int dir_dl_members(struct ofc_db *db, long long dl_id, struct dir_dl_member **list_r,
                   size_t *count_r, char **error_r)
{
    char idbuf[24];
    (void)snprintf(idbuf, sizeof(idbuf), "%lld", dl_id);
    const char *const p[] = {idbuf};
    PGresult *res = ofc_db_query(db,
                                 "SELECT m.member_object_id, o.class,"
                                 " coalesce(o.name || '@' || d.fqdn, m.member_address)"
                                 " FROM ofc.dl_member m"
                                 " LEFT JOIN ofc.dir_object o ON o.id = m.member_object_id"
                                 " LEFT JOIN ofc.domain d ON d.id = o.domain_id"
                                 " WHERE m.dl_id = $1::bigint"
                                 " ORDER BY o.class NULLS LAST, o.name_key,"
                                 "  lower(m.member_address)",
                                 1, p);
    *list_r = NULL;
    *count_r = 0;
    if (res == NULL) {
        *error_r = dir_db_failure(db, "list the members");
        return -1;
    }
    int rows = PQntuples(res);
    if (rows > 0)
        *list_r = ofc_xcalloc((size_t)rows, sizeof(**list_r));
    for (int i = 0; i < rows; i++) {
        struct dir_dl_member *m = &(*list_r)[i];
        m->object_id = ofc_db_value_ll(res, i, 0, 0);
        m->class = DIR_CLASS_ANY;
        const char *class = ofc_db_value(res, i, 1);
        if (class != NULL)
            (void)dir_class_parse(class, &m->class);
        const char *address = ofc_db_value(res, i, 2);
        m->address = ofc_xstrdup(address != NULL ? address : "");
    }
    *count_r = (size_t)rows;
    PQclear(res);
    return 0;
}

void dir_dl_members_free(struct dir_dl_member **list, size_t count)
{
    if (*list == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        free((*list)[i].address);
    OFC_FREE(*list);
}
