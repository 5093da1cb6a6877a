/*
 * dir_alias.c - public aliases: create, retarget.
 */
/* System. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libofc. */
#include "dir_alias.h"
#include "dir_object.h"
#include "dir_util.h"
#include "ofc_db.h"
#include "ofc_mem.h"

/* Stores the target of alias id; the alias row exists when update is true. */
static int set_target(struct ofc_db *db, long long id, long long domain_id, const char *target,
                      bool update, char **error_r)
{
    long long target_id = 0;
    char *address = NULL;
    if (dir_target_parse(db, domain_id, target, &target_id, &address, error_r) < 0)
        return -1;
    if (target_id == id) {
        *error_r = ofc_xstrdup("an alias cannot point to itself");
        free(address);
        return -1;
    }
    struct dir_params p = DIR_PARAMS_INIT;
    (void)dir_params_add_ll(&p, id);
    (void)dir_params_take(&p, target_id > 0 ? ofc_xasprintf("%lld", target_id) : NULL);
    (void)dir_params_take(&p, address);
    int rc = ofc_db_exec(db,
                         update ? "UPDATE ofc.alias SET target_object_id = $2::bigint,"
                                  " target_address = $3::text WHERE object_id = $1::bigint"
                                : "INSERT INTO ofc.alias (object_id, target_object_id,"
                                  " target_address) VALUES ($1::bigint, $2::bigint, $3::text)",
                         p.n, dir_params_values(&p));
    dir_params_free(&p);
    if (rc < 0)
        *error_r = dir_db_failure(db, "set the alias's target");
    return rc;
}

int dir_alias_create(struct ofc_db *db, long long domain_id, const char *name, const char *target,
                     const char *description, long long *id_r, char **error_r)
{
    long long id;
    /*
     * The object first: its name is the likelier mistake, and the target
     * check needs the id to refuse an alias of itself.
     */
    if (dir_object_create(db, domain_id, DIR_CLASS_ALIAS, name, description, 0, &id, error_r) < 0)
        return -1;
    if (set_target(db, id, domain_id, target, false, error_r) < 0)
        return -1;
    if (id_r != NULL)
        *id_r = id;
    return 0;
}

int dir_alias_modify(struct ofc_db *db, long long id, const char *target, const char *description,
                     char **error_r)
{
    struct dir_object obj;
    int found = dir_object_get(db, id, &obj, error_r);
    if (found <= 0) {
        if (found == 0)
            *error_r = ofc_xasprintf("no alias with id %lld", id);
        return -1;
    }
    int rc = -1;
    if (obj.class != DIR_CLASS_ALIAS) {
        *error_r =
            ofc_xasprintf("%s is a %s, not an ALIAS", obj.address, dir_class_name(obj.class));
        goto out;
    }
    if (target != NULL && set_target(db, id, obj.domain_id, target, true, error_r) < 0)
        goto out;
    if (description != NULL && dir_object_modify(db, id, NULL, description, error_r) < 0)
        goto out;
    rc = 0;
out:
    dir_object_clear(&obj);
    return rc;
}
