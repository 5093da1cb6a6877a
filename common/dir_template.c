/*
 * dir_template.c - public and private templates.
 */
/* System. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libofc. */
#include "dir_template.h"
#include "dir_util.h"
#include "ofc_db.h"
#include "ofc_mem.h"

/* Columns 8-9 after DIR_OBJECT_COLUMNS. */
#define TEMPLATE_COLUMNS DIR_OBJECT_COLUMNS ", t.subject, t.body"

void dir_template_clear(struct dir_template *tpl)
{
    dir_object_clear(&tpl->obj);
    free(tpl->subject);
    free(tpl->body);
    memset(tpl, 0, sizeof(*tpl));
}

void dir_template_free_list(struct dir_template **list, size_t count)
{
    if (*list == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        dir_template_clear(&(*list)[i]);
    OFC_FREE(*list);
}

static void template_from_row(const PGresult *res, int row, struct dir_template *tpl)
{
    const char *s;
    memset(tpl, 0, sizeof(*tpl));
    dir_object_from_row(res, row, &tpl->obj);
    tpl->subject = ofc_xstrdup((s = ofc_db_value(res, row, 8)) != NULL ? s : "");
    tpl->body = ofc_xstrdup((s = ofc_db_value(res, row, 9)) != NULL ? s : "");
}

int dir_template_create(struct ofc_db *db, long long domain_id, long long owner_id,
                        const char *name, const char *subject, const char *body,
                        const char *description, long long *id_r, char **error_r)
{
    long long id;
    enum dir_class class = DIR_CLASS_PUBLIC_TEMPLATE;
    if (owner_id > 0) {
        /* A private template lives in its owner's domain. */
        struct dir_object owner;
        int found = dir_object_get(db, owner_id, &owner, error_r);
        if (found <= 0) {
            if (found == 0)
                *error_r = ofc_xasprintf("no person with id %lld", owner_id);
            return -1;
        }
        bool person = owner.class == DIR_CLASS_PERSON;
        if (!person)
            *error_r = ofc_xasprintf("%s is a %s; only a PERSON owns private templates",
                                     owner.address, dir_class_name(owner.class));
        domain_id = owner.domain_id;
        dir_object_clear(&owner);
        if (!person)
            return -1;
        class = DIR_CLASS_PRIVATE_TEMPLATE;
    }
    if (dir_object_create(db, domain_id, class, name, description, owner_id, &id, error_r) < 0)
        return -1;
    struct dir_params p = DIR_PARAMS_INIT;
    (void)dir_params_add_ll(&p, id);
    (void)dir_params_add(&p, subject != NULL ? subject : "");
    (void)dir_params_add(&p, body != NULL ? body : "");
    int rc = ofc_db_exec(db,
                         "INSERT INTO ofc.template (object_id, subject, body)"
                         " VALUES ($1::bigint, $2, $3)",
                         p.n, dir_params_values(&p));
    dir_params_free(&p);
    if (rc < 0) {
        *error_r = dir_db_failure(db, "create the template");
        return -1;
    }
    if (id_r != NULL)
        *id_r = id;
    return 0;
}

int dir_template_modify(struct ofc_db *db, long long id, const char *subject, const char *body,
                        const char *description, char **error_r)
{
    char idbuf[24];
    (void)snprintf(idbuf, sizeof(idbuf), "%lld", id);
    const char *const p[] = {idbuf, subject, body};
    PGresult *res = ofc_db_query(db,
                                 "UPDATE ofc.template SET subject = coalesce($2::text, subject),"
                                 " body = coalesce($3::text, body) WHERE object_id = $1::bigint"
                                 " RETURNING 1",
                                 3, p);
    if (res == NULL) {
        *error_r = dir_db_failure(db, "modify the template");
        return -1;
    }
    int rows = PQntuples(res);
    PQclear(res);
    if (rows == 0) {
        *error_r = ofc_xasprintf("no template with id %lld", id);
        return -1;
    }
    if (description != NULL && dir_object_modify(db, id, NULL, description, error_r) < 0)
        return -1;
    return 0;
}

/* Runs a statement selecting TEMPLATE_COLUMNS into a new array. */
static int query_templates(struct ofc_db *db, const char *sql, int n, const char *const *params,
                           struct dir_template **list_r, size_t *count_r, char **error_r)
{
    PGresult *res = ofc_db_query(db, sql, n, params);
    *list_r = NULL;
    *count_r = 0;
    if (res == NULL) {
        *error_r = dir_db_failure(db, "look up the templates");
        return -1;
    }
    int rows = PQntuples(res);
    if (rows > 0) {
        *list_r = ofc_xcalloc((size_t)rows, sizeof(**list_r));
        for (int i = 0; i < rows; i++)
            template_from_row(res, i, &(*list_r)[i]);
    }
    *count_r = (size_t)rows;
    PQclear(res);
    return 0;
}

int dir_template_find(struct ofc_db *db, long long domain_id, long long owner_id, const char *name,
                      struct dir_template *tpl_r, char **error_r)
{
    char dom[24], owner[24];
    (void)snprintf(dom, sizeof(dom), "%lld", domain_id);
    (void)snprintf(owner, sizeof(owner), "%lld", owner_id);
    const char *const p[] = {dom, owner, name};
    struct dir_template *list;
    size_t count;
    if (query_templates(db,
                        "SELECT " TEMPLATE_COLUMNS DIR_OBJECT_FROM
                        " WHERE o.name_key = lower($3) AND CASE WHEN $2::bigint = 0"
                        "  THEN o.class = 'PUBLIC_TEMPLATE' AND o.domain_id = $1::int"
                        "  ELSE o.class = 'PRIVATE_TEMPLATE' AND o.owner_id = $2::bigint END",
                        3, p, &list, &count, error_r) < 0)
        return -1;
    if (count == 0)
        return 0;
    *tpl_r = list[0];
    for (size_t i = 1; i < count; i++)
        dir_template_clear(&list[i]);
    free(list);
    return 1;
}

int dir_template_list(struct ofc_db *db, long long domain_id, long long viewer_id,
                      struct dir_template **list_r, size_t *count_r, char **error_r)
{
    char dom[24], viewer[24];
    (void)snprintf(dom, sizeof(dom), "%lld", domain_id);
    (void)snprintf(viewer, sizeof(viewer), "%lld", viewer_id);
    const char *const p[] = {dom, viewer};
    return query_templates(db,
                           "SELECT " TEMPLATE_COLUMNS DIR_OBJECT_FROM
                           " WHERE (o.class = 'PUBLIC_TEMPLATE' AND o.domain_id = $1::int)"
                           " OR (o.class = 'PRIVATE_TEMPLATE' AND o.owner_id = $2::bigint)"
                           " ORDER BY o.class DESC, o.name_key",
                           2, p, list_r, count_r, error_r);
}
