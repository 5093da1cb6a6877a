/*
 * dir_account.c - accounts: create (object, account row, folders), modify,
 * show.
 *
 * Every statement carries its values as parameters. The checks made here
 * (name syntax, names of nodes, locations, ...) repeat the schema's
 * constraints only to give a message a person can act on, before a failed
 * statement could abort the caller's transaction; the schema stays the
 * authority.
 */
/* System. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libofc. */
#include "dir_account.h"
#include "dir_util.h"
#include "ofc_db.h"
#include "ofc_pgarray.h"
#include "ofc_mem.h"
#include "ofc_password.h"

/*
 * The folders every account starts with. INBOX has no special use; the
 * others carry their RFC 6154 attribute so that clients find them
 * whatever their language calls them.
 */
static const char *const default_folder_names[] = {"INBOX", "Drafts", "Sent", "Trash", "Junk"};
static const char *const default_folder_uses[] = {NULL, "\\Drafts", "\\Sent", "\\Trash", "\\Junk"};
#define DEFAULT_FOLDERS (sizeof(default_folder_names) / sizeof(default_folder_names[0]))

const char *dir_account_class_name(enum dir_account_class class)
{
    return dir_class_name(dir_account_dir_class(class));
}

enum dir_class dir_account_dir_class(enum dir_account_class class)
{
    switch (class) {
    case DIR_ACCOUNT_PERSON:
        return DIR_CLASS_PERSON;
    case DIR_ACCOUNT_ROOM:
        return DIR_CLASS_ROOM;
    case DIR_ACCOUNT_EQUIPMENT:
        return DIR_CLASS_EQUIPMENT;
    }
    return DIR_CLASS_PERSON;
}

bool dir_account_name_valid(const char *name, const char **why_r)
{
    return dir_object_name_valid(name, why_r);
}

int dir_account_create(struct ofc_db *db, const struct dir_account_new *acct, long long *id_r,
                       char **error_r)
{
    long long id;
    const char *class_name = dir_account_class_name(acct->class);

    if (dir_object_create(db, acct->domain_id, dir_account_dir_class(acct->class), acct->name,
                          acct->description, 0, &id, error_r) < 0)
        return -1;

    struct dir_params p = DIR_PARAMS_INIT;
    (void)dir_params_add_ll(&p, id);
    (void)dir_params_add(&p, class_name);
    (void)dir_params_add_ll(&p, acct->home_node_id);
    (void)dir_params_add(&p, acct->password_hash);
    (void)dir_params_take(&p,
                          acct->quota_bytes >= 0 ? ofc_xasprintf("%lld", acct->quota_bytes) : NULL);
    (void)dir_params_add(&p, acct->first_name != NULL ? acct->first_name : "");
    (void)dir_params_add(&p, acct->last_name != NULL ? acct->last_name : "");
    (void)dir_params_take(&p, ofc_pg_text_array(default_folder_names, DEFAULT_FOLDERS));
    (void)dir_params_take(&p, ofc_pg_text_array(default_folder_uses, DEFAULT_FOLDERS));
    /*
     * The account row, its folders and their subscriptions in one
     * statement: a bulk load of persons pays two round trips per person,
     * not twelve. The node join turns an unknown node into no row rather
     * than a foreign key error.
     */
    PGresult *res = ofc_db_query(db,
                                 "WITH a AS (INSERT INTO ofc.account (object_id, object_class,"
                                 "  home_node_id, password_hash, password_changed_at,"
                                 "  quota_bytes, first_name, last_name)"
                                 "  SELECT $1::bigint, $2, n.id, $4::text,"
                                 "  CASE WHEN $4::text IS NULL THEN NULL ELSE now() END,"
                                 "  $5::bigint, $6, $7 FROM ofc.node n WHERE n.id = $3::int"
                                 "  RETURNING object_id),"
                                 " f AS (SELECT * FROM unnest($8::text[], $9::text[])"
                                 "  AS f(name, special_use)),"
                                 " m AS (INSERT INTO ofc.mailbox (account_id, name, special_use)"
                                 "  SELECT a.object_id, f.name, f.special_use FROM a, f),"
                                 " s AS (INSERT INTO ofc.mailbox_subscription (account_id, name)"
                                 "  SELECT a.object_id, f.name FROM a, f)"
                                 " SELECT object_id FROM a",
                                 p.n, dir_params_values(&p));
    dir_params_free(&p);
    if (res == NULL) {
        char *what = ofc_xasprintf("create the account %s", acct->name);
        *error_r = dir_db_failure(db, what);
        free(what);
        return -1;
    }
    int rows = PQntuples(res);
    PQclear(res);
    if (rows == 0) {
        *error_r = ofc_xasprintf("cannot create the account %s: no node with id %lld", acct->name,
                                 acct->home_node_id);
        return -1;
    }
    if (id_r != NULL)
        *id_r = id;
    return 0;
}

/* ---- modify ----------------------------------------------------------- */

/*
 * Resolves an optional reference by name: NULL keeps (*set_r false), ""
 * clears (*set_r true, *id_r 0), a name sets. Returns 0 or -1 with *error_r.
 */
static int resolve_ref(struct ofc_db *db, long long domain_id, enum dir_class class,
                       const char *ref, bool *set_r, long long *id_r, char **error_r)
{
    *set_r = ref != NULL;
    *id_r = 0;
    if (ref == NULL || *ref == '\0')
        return 0;
    return dir_object_find_ref(db, domain_id, class, ref, id_r, error_r);
}

/* The role ids of a comma-separated list of role names, as an array literal. */
static int resolve_roles(struct ofc_db *db, long long domain_id, const char *roles, char **ids_r,
                         char **error_r)
{
    size_t n = 0, cap = 0;
    long long *ids = NULL;
    const char *s = roles;
    while (*s != '\0') {
        size_t len = strcspn(s, ",");
        char *name = ofc_xstrndup(s, len);
        /* "VP, Sales" reads naturally; the blanks are not part of the names. */
        char *start = name;
        while (*start == ' ')
            start++;
        size_t end = strlen(start);
        while (end > 0 && start[end - 1] == ' ')
            start[--end] = '\0';
        if (*start != '\0') {
            if (n == cap) {
                cap = cap == 0 ? 4 : cap * 2;
                ids = ofc_xrealloc(ids, cap * sizeof(*ids));
            }
            if (dir_object_find_ref(db, domain_id, DIR_CLASS_ROLE, start, &ids[n], error_r) < 0) {
                free(name);
                free(ids);
                return -1;
            }
            n++;
        }
        free(name);
        s += len;
        if (*s == ',')
            s++;
    }
    *ids_r = ofc_pg_id_array(ids, n);
    free(ids);
    return 0;
}

int dir_account_modify(struct ofc_db *db, long long id, const struct dir_account_change *chg,
                       char **error_r)
{
    struct dir_object obj;
    int found = dir_object_get(db, id, &obj, error_r);
    if (found <= 0 || !dir_class_is_account(obj.class)) {
        if (found == 1)
            *error_r =
                ofc_xasprintf("%s is a %s, not an account", obj.address, dir_class_name(obj.class));
        else if (found == 0)
            *error_r = ofc_xasprintf("no account with id %lld", id);
        if (found == 1)
            dir_object_clear(&obj);
        return -1;
    }

    int rc = -1;
    char *hash = NULL, *roles = NULL;
    bool set_password = false, set_loc, set_org, set_mgr;
    long long loc_id, org_id, mgr_id, node_id = 0;
    struct dir_params p = DIR_PARAMS_INIT;

    /* Everything that may fail on input is checked before anything is written. */
    if (chg->password_hash != NULL) {
        hash = ofc_xstrdup(chg->password_hash);
        set_password = true;
    } else if (chg->password != NULL) {
        set_password = true;
        if (chg->password[0] != '\0' && ofc_password_hash(chg->password, &hash, error_r) < 0)
            goto out;
    }
    if (resolve_ref(db, obj.domain_id, DIR_CLASS_LOCATION, chg->location, &set_loc, &loc_id,
                    error_r) < 0 ||
        resolve_ref(db, obj.domain_id, DIR_CLASS_ORGANIZATION, chg->organization, &set_org, &org_id,
                    error_r) < 0 ||
        resolve_ref(db, obj.domain_id, DIR_CLASS_PERSON, chg->manager, &set_mgr, &mgr_id, error_r) <
            0)
        goto out;
    if (set_mgr && mgr_id == id) {
        *error_r = ofc_xasprintf("%s cannot be its own manager", obj.address);
        goto out;
    }
    if (chg->roles != NULL && resolve_roles(db, obj.domain_id, chg->roles, &roles, error_r) < 0)
        goto out;
    if (chg->home_node != NULL) {
        const char *const np[] = {chg->home_node};
        PGresult *res =
            ofc_db_query(db, "SELECT id FROM ofc.node WHERE name = upper($1::text)", 1, np);
        if (res == NULL) {
            *error_r = dir_db_failure(db, "look up the node");
            goto out;
        }
        node_id = ofc_db_value_ll(res, 0, 0, 0);
        PQclear(res);
        if (node_id <= 0) {
            *error_r = ofc_xasprintf("no node named %s", chg->home_node);
            goto out;
        }
    }

    (void)dir_params_add_ll(&p, id);                      /* 1 */
    (void)dir_params_add(&p, set_password ? "t" : "f");   /* 2 */
    (void)dir_params_add(&p, hash);                       /* 3 */
    (void)dir_params_add(&p, chg->first_name);            /* 4 */
    (void)dir_params_add(&p, chg->last_name);             /* 5 */
    (void)dir_params_add(&p, chg->set_quota ? "t" : "f"); /* 6 */
    (void)dir_params_take(&p, chg->set_quota && chg->quota_bytes >= 0
                                  ? ofc_xasprintf("%lld", chg->quota_bytes)
                                  : NULL);                                          /* 7 */
    (void)dir_params_take(&p, node_id > 0 ? ofc_xasprintf("%lld", node_id) : NULL); /* 8 */
    (void)dir_params_add(&p, set_loc ? "t" : "f");                                  /* 9 */
    (void)dir_params_take(&p, loc_id > 0 ? ofc_xasprintf("%lld", loc_id) : NULL);   /* 10 */
    (void)dir_params_add(&p, set_org ? "t" : "f");                                  /* 11 */
    (void)dir_params_take(&p, org_id > 0 ? ofc_xasprintf("%lld", org_id) : NULL);   /* 12 */
    (void)dir_params_add(&p, set_mgr ? "t" : "f");                                  /* 13 */
    (void)dir_params_take(&p, mgr_id > 0 ? ofc_xasprintf("%lld", mgr_id) : NULL);   /* 14 */
    (void)dir_params_add(&p, chg->disabled < 0 ? NULL : chg->disabled ? "t" : "f"); /* 15 */
    (void)dir_params_add(&p, roles);                                                /* 16 */
    /* The roles ride in the same statement: replaced only when given. */
    if (ofc_db_exec(db,
                    "WITH u AS (UPDATE ofc.account SET"
                    "  password_hash = CASE WHEN $2::boolean THEN $3::text"
                    "   ELSE password_hash END,"
                    "  password_changed_at = CASE WHEN $2::boolean AND $3::text IS NOT NULL"
                    "   THEN now() WHEN $2::boolean THEN NULL ELSE password_changed_at END,"
                    "  first_name = coalesce($4::text, first_name),"
                    "  last_name = coalesce($5::text, last_name),"
                    "  quota_bytes = CASE WHEN $6::boolean THEN $7::bigint ELSE quota_bytes END,"
                    "  home_node_id = coalesce($8::int, home_node_id),"
                    "  location_id = CASE WHEN $9::boolean THEN $10::bigint"
                    "   ELSE location_id END,"
                    "  organization_id = CASE WHEN $11::boolean THEN $12::bigint"
                    "   ELSE organization_id END,"
                    "  manager_id = CASE WHEN $13::boolean THEN $14::bigint ELSE manager_id END,"
                    "  disabled = coalesce($15::boolean, disabled)"
                    "  WHERE object_id = $1::bigint RETURNING object_id),"
                    " del AS (DELETE FROM ofc.role_assignment WHERE $16::bigint[] IS NOT NULL"
                    "  AND account_id = $1::bigint AND NOT (role_id = ANY($16::bigint[])))"
                    " INSERT INTO ofc.role_assignment (role_id, account_id)"
                    " SELECT r, $1::bigint FROM unnest($16::bigint[]) AS r"
                    " ON CONFLICT DO NOTHING",
                    p.n, dir_params_values(&p)) < 0) {
        char *what = ofc_xasprintf("modify %s", obj.address);
        *error_r = dir_db_failure(db, what);
        free(what);
        goto out;
    }
    if (chg->description != NULL && dir_object_modify(db, id, NULL, chg->description, error_r) < 0)
        goto out;
    rc = 0;
out:
    dir_params_free(&p);
    free(hash);
    free(roles);
    dir_object_clear(&obj);
    return rc;
}

/* ---- show ------------------------------------------------------------- */

/* A reference shown plainly in the account's own domain, else as name@fqdn. */
#define REF_NAME(obj, dom)                                                                         \
    "CASE WHEN " obj ".id IS NULL THEN '' WHEN " obj ".domain_id = o.domain_id THEN " obj          \
    ".name ELSE " obj ".name || '@' || " dom ".fqdn END"

/* The account's roles, sorted, comma-separated, named as REF_NAME() does. */
#define ROLES_COLUMN                                                                               \
    "coalesce((SELECT string_agg(CASE WHEN r.domain_id = o.domain_id THEN r.name"                  \
    " ELSE r.name || '@' || rd.fqdn END, ',' ORDER BY r.name_key)"                                 \
    " FROM ofc.role_assignment ra JOIN ofc.dir_object r ON r.id = ra.role_id"                      \
    " JOIN ofc.domain rd ON rd.id = r.domain_id WHERE ra.account_id = o.id), '')"

/* Columns 8-18 after DIR_OBJECT_COLUMNS; account_from_row() reads them. */
/* clang-format off */
#define ACCOUNT_COLUMNS                                                                            \
    DIR_OBJECT_COLUMNS                                                                             \
    ", a.home_node_id, n.name, a.quota_bytes, a.first_name, a.last_name, "                         \
    REF_NAME("loc", "locd") ", " REF_NAME("org", "orgd") ", " REF_NAME("mgr", "mgd") ", "          \
    ROLES_COLUMN ", a.password_hash IS NOT NULL, a.disabled"
/* clang-format on */

static char *text_at(const PGresult *res, int row, int col)
{
    const char *s = ofc_db_value(res, row, col);
    return ofc_xstrdup(s != NULL ? s : "");
}

static void account_from_row(const PGresult *res, int row, struct dir_account_info *info)
{
    memset(info, 0, sizeof(*info));
    dir_object_from_row(res, row, &info->obj);
    info->home_node_id = ofc_db_value_ll(res, row, 8, 0);
    info->home_node = text_at(res, row, 9);
    info->quota_bytes = ofc_db_value_ll(res, row, 10, -1);
    info->first_name = text_at(res, row, 11);
    info->last_name = text_at(res, row, 12);
    info->location = text_at(res, row, 13);
    info->organization = text_at(res, row, 14);
    info->manager = text_at(res, row, 15);
    info->roles = text_at(res, row, 16);
    const char *b = ofc_db_value(res, row, 17);
    info->has_password = b != NULL && strcmp(b, "t") == 0;
    b = ofc_db_value(res, row, 18);
    info->disabled = b != NULL && strcmp(b, "t") == 0;
}

void dir_account_info_clear(struct dir_account_info *info)
{
    dir_object_clear(&info->obj);
    free(info->home_node);
    free(info->first_name);
    free(info->last_name);
    free(info->location);
    free(info->organization);
    free(info->manager);
    free(info->roles);
    memset(info, 0, sizeof(*info));
}

void dir_account_info_free_list(struct dir_account_info **list, size_t count)
{
    if (*list == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        dir_account_info_clear(&(*list)[i]);
    OFC_FREE(*list);
}

int dir_account_get(struct ofc_db *db, long long id, struct dir_account_info *info_r,
                    char **error_r)
{
    char idbuf[24];
    (void)snprintf(idbuf, sizeof(idbuf), "%lld", id);
    const char *const p[] = {idbuf};
    PGresult *res = ofc_db_query(db,
                                 "SELECT " ACCOUNT_COLUMNS DIR_OBJECT_FROM
                                 " WHERE o.id = $1::bigint AND a.object_id IS NOT NULL",
                                 1, p);
    if (res == NULL) {
        *error_r = dir_db_failure(db, "look up the account");
        return -1;
    }
    int found = PQntuples(res) > 0;
    if (found)
        account_from_row(res, 0, info_r);
    PQclear(res);
    return found;
}

int dir_account_list(struct ofc_db *db, const struct dir_query *query,
                     struct dir_account_info **list_r, size_t *count_r, char **error_r)
{
    *list_r = NULL;
    *count_r = 0;
    PGresult *res = dir_query_run(db, query, true, ACCOUNT_COLUMNS, "list the accounts", error_r);
    if (res == NULL)
        return -1;
    int rows = PQntuples(res);
    if (rows > 0) {
        *list_r = ofc_xcalloc((size_t)rows, sizeof(**list_r));
        for (int i = 0; i < rows; i++)
            account_from_row(res, i, &(*list_r)[i]);
    }
    *count_r = (size_t)rows;
    PQclear(res);
    return 0;
}
