/*
 * dir_object.c - finding, listing, renaming and deleting directory objects.
 *
 * The listing statement is built from constant fragments chosen by the
 * attribute names (a whitelist below) and "$n" parameter numbers; the
 * patterns themselves are always parameters.
 */
/* System. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* libofc. */
#include "dir_object.h"
#include "dir_util.h"
#include "ofc_db.h"
#include "ofc_mem.h"

#define OBJECT_NAME_MAX 64

/* Most referrers a refusal names; the rest are counted. */
#define REFERRERS_SHOWN "10"

static const struct {
    enum dir_class class;
    const char *name;  /* dir_object.class */
    const char *alias; /* a second spelling oomgr accepts, or NULL */
} class_names[] = {
    {DIR_CLASS_PERSON, "PERSON", NULL},
    {DIR_CLASS_ROOM, "ROOM", NULL},
    {DIR_CLASS_EQUIPMENT, "EQUIPMENT", NULL},
    {DIR_CLASS_ALIAS, "ALIAS", "PUBLIC_ALIAS"},
    {DIR_CLASS_DL, "DL", "DISTRIBUTION_LIST"},
    {DIR_CLASS_LOCATION, "LOCATION", NULL},
    {DIR_CLASS_ORGANIZATION, "ORGANIZATION", NULL},
    {DIR_CLASS_ROLE, "ROLE", NULL},
    {DIR_CLASS_PUBLIC_TEMPLATE, "PUBLIC_TEMPLATE", "TEMPLATE"},
    {DIR_CLASS_PRIVATE_TEMPLATE, "PRIVATE_TEMPLATE", NULL},
};

const char *dir_class_name(enum dir_class class)
{
    for (size_t i = 0; i < sizeof(class_names) / sizeof(class_names[0]); i++)
        if (class_names[i].class == class)
            return class_names[i].name;
    return "ANY";
}

bool dir_class_parse(const char *name, enum dir_class *class_r)
{
    for (size_t i = 0; name != NULL && i < sizeof(class_names) / sizeof(class_names[0]); i++) {
        if (strcasecmp(name, class_names[i].name) == 0 ||
            (class_names[i].alias != NULL && strcasecmp(name, class_names[i].alias) == 0)) {
            *class_r = class_names[i].class;
            return true;
        }
    }
    return false;
}

bool dir_class_is_account(enum dir_class class)
{
    return class == DIR_CLASS_PERSON || class == DIR_CLASS_ROOM || class == DIR_CLASS_EQUIPMENT;
}

bool dir_class_is_group(enum dir_class class)
{
    return class == DIR_CLASS_LOCATION || class == DIR_CLASS_ORGANIZATION ||
           class == DIR_CLASS_ROLE;
}

bool dir_class_is_addressable(enum dir_class class)
{
    return class != DIR_CLASS_ANY && class != DIR_CLASS_PUBLIC_TEMPLATE &&
           class != DIR_CLASS_PRIVATE_TEMPLATE;
}

bool dir_object_name_valid(const char *name, const char **why_r)
{
    const char *why = NULL;
    size_t len = name != NULL ? strlen(name) : 0;

    if (len == 0)
        why = "the name is empty";
    else if (len > OBJECT_NAME_MAX)
        why = "the name is longer than 64 characters";
    for (size_t i = 0; why == NULL && i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= 0x20 || c == 0x7f)
            why = "the name contains white space or a control character";
        else if (strchr("@<>,;:\"\\", c) != NULL)
            why = "the name contains one of @<>,;:\"\\";
    }
    if (why_r != NULL)
        *why_r = why;
    return why == NULL;
}

void dir_object_clear(struct dir_object *obj)
{
    free(obj->fqdn);
    free(obj->name);
    free(obj->address);
    free(obj->description);
    free(obj->target);
    memset(obj, 0, sizeof(*obj));
}

void dir_object_free_list(struct dir_object **list, size_t count)
{
    if (*list == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        dir_object_clear(&(*list)[i]);
    OFC_FREE(*list);
}

static enum dir_class class_of(const char *name)
{
    enum dir_class class = DIR_CLASS_ANY;
    if (name != NULL)
        (void)dir_class_parse(name, &class);
    return class;
}

static char *dup_or_empty(const char *s)
{
    return ofc_xstrdup(s != NULL ? s : "");
}

void dir_object_from_row(const PGresult *res, int row, struct dir_object *obj)
{
    memset(obj, 0, sizeof(*obj));
    obj->id = ofc_db_value_ll(res, row, 0, 0);
    obj->class = class_of(ofc_db_value(res, row, 1));
    obj->domain_id = ofc_db_value_ll(res, row, 2, 0);
    obj->fqdn = dup_or_empty(ofc_db_value(res, row, 3));
    obj->name = dup_or_empty(ofc_db_value(res, row, 4));
    obj->address = ofc_xasprintf("%s@%s", obj->name, obj->fqdn);
    obj->description = dup_or_empty(ofc_db_value(res, row, 5));
    obj->owner_id = ofc_db_value_ll(res, row, 6, 0);
    const char *target = ofc_db_value(res, row, 7);
    obj->target = target != NULL ? ofc_xstrdup(target) : NULL;
}

/*
 * The name an object would clash with in its name space, as a message, or
 * NULL in *message_r when the name is free. exclude_id is the object being
 * renamed (0 when creating). Returns 0, or -1 with *error_r.
 */
static int find_clash(struct ofc_db *db, long long domain_id, enum dir_class class,
                      long long owner_id, const char *name, long long exclude_id, char **message_r,
                      char **error_r)
{
    struct dir_params p = DIR_PARAMS_INIT;
    (void)dir_params_add_ll(&p, domain_id);
    (void)dir_params_add(&p, name);
    (void)dir_params_add(&p, dir_class_name(class));
    (void)dir_params_add_ll(&p, owner_id);
    (void)dir_params_add_ll(&p, exclude_id);
    PGresult *res = ofc_db_query(db,
                                 "SELECT d.fqdn, o.name, o.class FROM ofc.domain d"
                                 " LEFT JOIN ofc.dir_object o ON o.name_key = lower($2)"
                                 "  AND o.id <> $5::bigint AND CASE $3::text"
                                 "   WHEN 'PRIVATE_TEMPLATE' THEN o.class = 'PRIVATE_TEMPLATE'"
                                 "    AND o.owner_id = $4::bigint"
                                 "   WHEN 'PUBLIC_TEMPLATE' THEN o.class = 'PUBLIC_TEMPLATE'"
                                 "    AND o.domain_id = d.id"
                                 "   ELSE o.class NOT IN ('PUBLIC_TEMPLATE', 'PRIVATE_TEMPLATE')"
                                 "    AND o.domain_id = d.id END"
                                 " WHERE d.id = $1::int LIMIT 1",
                                 p.n, dir_params_values(&p));
    dir_params_free(&p);
    if (res == NULL) {
        *error_r = dir_db_failure(db, "check the name");
        return -1;
    }
    *message_r = NULL;
    if (PQntuples(res) == 0) {
        *message_r = ofc_xasprintf("no domain with id %lld", domain_id);
    } else if (ofc_db_value(res, 0, 1) != NULL) {
        const char *other = ofc_db_value(res, 0, 2);
        if (class == DIR_CLASS_PRIVATE_TEMPLATE)
            *message_r = ofc_xasprintf("the owner already has a private template named '%s'",
                                       ofc_db_value(res, 0, 1));
        else
            *message_r = ofc_xasprintf("an object named '%s' already exists in %s (%s)",
                                       ofc_db_value(res, 0, 1), ofc_db_value(res, 0, 0), other);
    }
    PQclear(res);
    return 0;
}

int dir_object_create(struct ofc_db *db, long long domain_id, enum dir_class class,
                      const char *name, const char *description, long long owner_id,
                      long long *id_r, char **error_r)
{
    const char *why;

    if (class == DIR_CLASS_ANY) {
        *error_r = ofc_xstrdup("cannot create an object without a class");
        return -1;
    }
    if (!dir_object_name_valid(name, &why)) {
        *error_r = ofc_xasprintf("invalid name '%s': %s", name != NULL ? name : "", why);
        return -1;
    }
    if ((class == DIR_CLASS_PRIVATE_TEMPLATE) != (owner_id > 0)) {
        *error_r = ofc_xstrdup(class == DIR_CLASS_PRIVATE_TEMPLATE
                                   ? "a private template needs an owner"
                                   : "only private templates have an owner");
        return -1;
    }
    struct dir_params p = DIR_PARAMS_INIT;
    (void)dir_params_add_ll(&p, domain_id);
    (void)dir_params_add(&p, dir_class_name(class));
    (void)dir_params_add(&p, name);
    (void)dir_params_add(&p, description != NULL ? description : "");
    (void)dir_params_take(&p, owner_id > 0 ? ofc_xasprintf("%lld", owner_id) : NULL);
    /*
     * ON CONFLICT DO NOTHING instead of catching 23505: a failed INSERT
     * would abort the caller's transaction, and an oomgr script shares one
     * transaction between many statements. The domain join makes an
     * unknown domain a missing row, not a foreign key error, for the same
     * reason. The common case costs one round trip.
     */
    PGresult *res = ofc_db_query(db,
                                 "INSERT INTO ofc.dir_object"
                                 " (domain_id, class, name, description, owner_id)"
                                 " SELECT d.id, $2, $3, $4, $5::bigint FROM ofc.domain d"
                                 " WHERE d.id = $1::int"
                                 " ON CONFLICT DO NOTHING RETURNING id",
                                 p.n, dir_params_values(&p));
    dir_params_free(&p);
    if (res == NULL) {
        *error_r = dir_db_failure(db, "create the object");
        return -1;
    }
    long long id = ofc_db_value_ll(res, 0, 0, 0);
    PQclear(res);
    if (id > 0) {
        *id_r = id;
        return 0;
    }
    char *clash = NULL;
    if (find_clash(db, domain_id, class, owner_id, name, 0, &clash, error_r) < 0)
        return -1;
    *error_r = clash != NULL
                   ? clash
                   : ofc_xasprintf("cannot create '%s': the name was taken meanwhile", name);
    return -1;
}

/* Runs a statement that selects DIR_OBJECT_COLUMNS and returns at most one row. */
static int get_one(struct ofc_db *db, const char *sql, int n, const char *const *params,
                   struct dir_object *obj_r, char **error_r)
{
    PGresult *res = ofc_db_query(db, sql, n, params);
    if (res == NULL) {
        *error_r = dir_db_failure(db, "look up the object");
        return -1;
    }
    int found = PQntuples(res) > 0;
    if (found)
        dir_object_from_row(res, 0, obj_r);
    PQclear(res);
    return found;
}

int dir_object_get(struct ofc_db *db, long long id, struct dir_object *obj_r, char **error_r)
{
    char idbuf[24];
    (void)snprintf(idbuf, sizeof(idbuf), "%lld", id);
    const char *const p[] = {idbuf};
    return get_one(db, "SELECT " DIR_OBJECT_COLUMNS DIR_OBJECT_FROM " WHERE o.id = $1::bigint", 1,
                   p, obj_r, error_r);
}

int dir_object_find(struct ofc_db *db, long long domain_id, enum dir_class class, const char *name,
                    struct dir_object *obj_r, char **error_r)
{
    if (class == DIR_CLASS_PRIVATE_TEMPLATE) {
        *error_r = ofc_xstrdup("private templates are found by their owner");
        return -1;
    }
    char dom[24];
    (void)snprintf(dom, sizeof(dom), "%lld", domain_id);
    const char *const p[] = {dom, name, class == DIR_CLASS_ANY ? NULL : dir_class_name(class)};
    return get_one(db,
                   "SELECT " DIR_OBJECT_COLUMNS DIR_OBJECT_FROM
                   " WHERE o.domain_id = $1::int AND o.name_key = lower($2)"
                   " AND CASE WHEN $3::text IS NULL"
                   "  THEN o.class NOT IN ('PUBLIC_TEMPLATE', 'PRIVATE_TEMPLATE')"
                   "  ELSE o.class = $3::text END",
                   3, p, obj_r, error_r);
}

int dir_object_find_ref(struct ofc_db *db, long long context_domain_id, enum dir_class class,
                        const char *ref, long long *id_r, char **error_r)
{
    const char *why;
    if (ref == NULL || *ref == '\0') {
        *error_r = ofc_xasprintf("no %s named", dir_class_name(class));
        return -1;
    }
    /* "name@fqdn": the last '@', since names cannot contain one. */
    const char *at = strrchr(ref, '@');
    char *name = at != NULL ? ofc_xstrndup(ref, (size_t)(at - ref)) : ofc_xstrdup(ref);
    if (!dir_object_name_valid(name, &why)) {
        *error_r = ofc_xasprintf("invalid name '%s': %s", ref, why);
        free(name);
        return -1;
    }
    char ctx[24];
    (void)snprintf(ctx, sizeof(ctx), "%lld", context_domain_id);
    const char *const p[] = {name, at != NULL ? at + 1 : NULL, ctx};
    PGresult *res = ofc_db_query(db,
                                 "SELECT d.fqdn, o.id, o.class, o.name FROM ofc.domain d"
                                 " LEFT JOIN ofc.dir_object o ON o.domain_id = d.id"
                                 "  AND o.name_key = lower($1)"
                                 "  AND o.class NOT IN ('PUBLIC_TEMPLATE', 'PRIVATE_TEMPLATE')"
                                 " WHERE CASE WHEN $2::text IS NULL THEN d.id = $3::int"
                                 "  ELSE d.fqdn = lower($2::text) END",
                                 3, p);
    if (res == NULL) {
        *error_r = dir_db_failure(db, "look up the object");
        free(name);
        return -1;
    }
    int rc = -1;
    const char *fqdn = ofc_db_value(res, 0, 0);
    const char *found_class = ofc_db_value(res, 0, 2);
    if (PQntuples(res) == 0 && at != NULL)
        *error_r = ofc_xasprintf("no domain %s", at + 1);
    else if (PQntuples(res) == 0)
        *error_r = ofc_xasprintf("no domain with id %lld", context_domain_id);
    else if (ofc_db_value(res, 0, 1) == NULL)
        *error_r = ofc_xasprintf("no object named '%s' in %s", name, fqdn);
    else if (class != DIR_CLASS_ANY && class_of(found_class) != class)
        *error_r = ofc_xasprintf("%s@%s is a %s, not a %s", ofc_db_value(res, 0, 3), fqdn,
                                 found_class, dir_class_name(class));
    else {
        *id_r = ofc_db_value_ll(res, 0, 1, 0);
        rc = 0;
    }
    PQclear(res);
    free(name);
    return rc;
}

int dir_object_modify(struct ofc_db *db, long long id, const char *new_name,
                      const char *description, char **error_r)
{
    struct dir_object obj;
    const char *why;
    int found = dir_object_get(db, id, &obj, error_r);
    if (found <= 0) {
        if (found == 0)
            *error_r = ofc_xasprintf("no object with id %lld", id);
        return -1;
    }
    int rc = -1;
    char *clash = NULL;
    if (new_name != NULL && !dir_object_name_valid(new_name, &why)) {
        *error_r = ofc_xasprintf("invalid name '%s': %s", new_name, why);
        goto out;
    }
    if (new_name != NULL &&
        find_clash(db, obj.domain_id, obj.class, obj.owner_id, new_name, id, &clash, error_r) < 0)
        goto out;
    if (clash != NULL) {
        *error_r = clash;
        goto out;
    }
    char idbuf[24];
    (void)snprintf(idbuf, sizeof(idbuf), "%lld", id);
    const char *const p[] = {idbuf, new_name, description};
    if (ofc_db_exec(db,
                    "UPDATE ofc.dir_object SET name = coalesce($2::text, name),"
                    " description = coalesce($3::text, description) WHERE id = $1::bigint",
                    3, p) < 0) {
        char *what = ofc_xasprintf("modify %s", obj.address);
        *error_r = dir_db_failure(db, what);
        free(what);
        goto out;
    }
    rc = 0;
out:
    dir_object_clear(&obj);
    return rc;
}

/* ---- listing ---------------------------------------------------------- */

#define CLASS_BIT(c) (1u << (unsigned)(c))
#define ALL_CLASSES  0xffffffffu
#define ACCOUNT_CLASSES                                                                            \
    (CLASS_BIT(DIR_CLASS_PERSON) | CLASS_BIT(DIR_CLASS_ROOM) | CLASS_BIT(DIR_CLASS_EQUIPMENT))
#define TEMPLATE_CLASSES                                                                           \
    (CLASS_BIT(DIR_CLASS_PUBLIC_TEMPLATE) | CLASS_BIT(DIR_CLASS_PRIVATE_TEMPLATE))

/* "<prefix>$n<suffix>" is the condition; the value is a LIKE pattern. */
#define LIKE_PREFIX(expr) expr " LIKE lower("
#define LIKE_SUFFIX       ") ESCAPE '\\'"

static const struct {
    const char *name;
    const char *prefix;
    const char *suffix;
    unsigned classes;
} attributes[] = {
    {"name", LIKE_PREFIX("o.name_key"), LIKE_SUFFIX, ALL_CLASSES},
    {"username", LIKE_PREFIX("o.name_key"), LIKE_SUFFIX, ACCOUNT_CLASSES},
    {"description", LIKE_PREFIX("lower(o.description)"), LIKE_SUFFIX, ALL_CLASSES},
    {"firstname", LIKE_PREFIX("lower(a.first_name)"), LIKE_SUFFIX, ACCOUNT_CLASSES},
    {"lastname", LIKE_PREFIX("lower(a.last_name)"), LIKE_SUFFIX, ACCOUNT_CLASSES},
    {"uanode", LIKE_PREFIX("lower(n.name)"), LIKE_SUFFIX, ACCOUNT_CLASSES},
    {"quota", LIKE_PREFIX("a.quota_bytes::text"), LIKE_SUFFIX, ACCOUNT_CLASSES},
    {"location", LIKE_PREFIX("loc.name_key"), LIKE_SUFFIX, ACCOUNT_CLASSES},
    {"organization", LIKE_PREFIX("org.name_key"), LIKE_SUFFIX, ACCOUNT_CLASSES},
    {"manager", LIKE_PREFIX("mgr.name_key"), LIKE_SUFFIX, ACCOUNT_CLASSES},
    {"role",
     "EXISTS (SELECT 1 FROM ofc.role_assignment ra JOIN ofc.dir_object r ON r.id = ra.role_id"
     " WHERE ra.account_id = o.id AND r.name_key LIKE lower(",
     ") ESCAPE '\\')", ACCOUNT_CLASSES},
    {"target", LIKE_PREFIX("lower(coalesce(al.target_address, tgt.name || '@' || tgd.fqdn))"),
     LIKE_SUFFIX, CLASS_BIT(DIR_CLASS_ALIAS)},
    {"subject", LIKE_PREFIX("lower(t.subject)"), LIKE_SUFFIX, TEMPLATE_CLASSES},
};

int dir_query_sql(const struct dir_query *query, bool accounts_only, const char *columns,
                  struct ofc_strbuf *sql, struct dir_params *params, char **error_r)
{
    ofc_strbuf_puts(sql, "SELECT ");
    ofc_strbuf_puts(sql, columns);
    ofc_strbuf_puts(sql, DIR_OBJECT_FROM " WHERE true");
    if (query->domain_id > 0 && !query->subtree) {
        ofc_strbuf_printf(sql, " AND o.domain_id = $%d::int",
                          dir_params_add_ll(params, query->domain_id));
    } else if (query->domain_id > 0) {
        ofc_strbuf_printf(
            sql,
            " AND o.domain_id IN (WITH RECURSIVE sub(id) AS (SELECT $%d::int"
            " UNION ALL SELECT c.id FROM ofc.domain c JOIN sub ON c.parent_id = sub.id)"
            " SELECT id FROM sub)",
            dir_params_add_ll(params, query->domain_id));
    }
    if (query->class != DIR_CLASS_ANY) {
        if (accounts_only && !dir_class_is_account(query->class)) {
            *error_r = ofc_xasprintf("%s is not a class of accounts", dir_class_name(query->class));
            return -1;
        }
        ofc_strbuf_printf(sql, " AND o.class = $%d",
                          dir_params_add(params, dir_class_name(query->class)));
    } else if (accounts_only) {
        ofc_strbuf_puts(sql, " AND o.class IN ('PERSON', 'ROOM', 'EQUIPMENT')");
    }
    ofc_strbuf_printf(sql, " AND (o.class <> 'PRIVATE_TEMPLATE' OR o.owner_id = $%d::bigint)",
                      dir_params_add_ll(params, query->viewer_id));
    for (size_t i = 0; i < query->nfilters; i++) {
        const struct dir_filter *f = &query->filters[i];
        size_t a = 0;
        while (a < sizeof(attributes) / sizeof(attributes[0]) &&
               (f->attribute == NULL || strcasecmp(f->attribute, attributes[a].name) != 0))
            a++;
        if (a == sizeof(attributes) / sizeof(attributes[0])) {
            *error_r =
                ofc_xasprintf("unknown attribute '%s'", f->attribute != NULL ? f->attribute : "");
            return -1;
        }
        unsigned wanted = query->class != DIR_CLASS_ANY ? CLASS_BIT(query->class)
                          : accounts_only               ? ACCOUNT_CLASSES
                                                        : ALL_CLASSES;
        if ((attributes[a].classes & wanted) == 0) {
            *error_r = ofc_xasprintf("attribute '%s' does not apply to %s objects",
                                     attributes[a].name, dir_class_name(query->class));
            return -1;
        }
        int n = dir_params_take(params, dir_like_pattern(f->pattern != NULL ? f->pattern : ""));
        ofc_strbuf_printf(sql, " AND %s$%d%s", attributes[a].prefix, n, attributes[a].suffix);
    }
    ofc_strbuf_puts(sql, " ORDER BY d.fqdn, o.class, o.name_key, o.id");
    return 0;
}

PGresult *dir_query_run(struct ofc_db *db, const struct dir_query *query, bool accounts_only,
                        const char *columns, const char *what, char **error_r)
{
    struct ofc_strbuf sql = OFC_STRBUF_INIT;
    struct dir_params p = DIR_PARAMS_INIT;
    PGresult *res = NULL;
    if (dir_query_sql(query, accounts_only, columns, &sql, &p, error_r) == 0) {
        res = ofc_db_query(db, sql.data, p.n, dir_params_values(&p));
        if (res == NULL)
            *error_r = dir_db_failure(db, what);
    }
    ofc_strbuf_free(&sql);
    dir_params_free(&p);
    return res;
}

int dir_object_list(struct ofc_db *db, const struct dir_query *query, struct dir_object **list_r,
                    size_t *count_r, char **error_r)
{
    *list_r = NULL;
    *count_r = 0;
    PGresult *res =
        dir_query_run(db, query, false, DIR_OBJECT_COLUMNS, "list the objects", error_r);
    if (res == NULL)
        return -1;
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

/* ---- delete ----------------------------------------------------------- */

/*
 * Everything that refers to object $1, one row per referrer with what kind
 * of reference it is; the total rides along so that a long list is cut.
 */
static const char referrers_sql[] =
    "SELECT r.class, r.name || '@' || rd.fqdn, x.why, count(*) OVER () FROM ("
    "  SELECT al.object_id AS rid, 'alias target' AS why FROM ofc.alias al"
    "   WHERE al.target_object_id = $1::bigint"
    "  UNION ALL SELECT m.dl_id, 'list member' FROM ofc.dl_member m"
    "   WHERE m.member_object_id = $1::bigint"
    "  UNION ALL SELECT a.object_id, 'location' FROM ofc.account a"
    "   WHERE a.location_id = $1::bigint"
    "  UNION ALL SELECT a.object_id, 'organization' FROM ofc.account a"
    "   WHERE a.organization_id = $1::bigint"
    "  UNION ALL SELECT a.object_id, 'manager' FROM ofc.account a"
    "   WHERE a.manager_id = $1::bigint AND a.object_id <> $1::bigint"
    "  UNION ALL SELECT ra.account_id, 'role' FROM ofc.role_assignment ra"
    "   WHERE ra.role_id = $1::bigint"
    " ) x JOIN ofc.dir_object r ON r.id = x.rid JOIN ofc.domain rd ON rd.id = r.domain_id"
    " ORDER BY 1, 2, 3 LIMIT " REFERRERS_SHOWN;

int dir_object_delete(struct ofc_db *db, long long id, bool cascade, long long *deleted_r,
                      char **error_r)
{
    struct dir_object obj;
    int found = dir_object_get(db, id, &obj, error_r);
    if (found <= 0) {
        if (found == 0)
            *error_r = ofc_xasprintf("no object with id %lld", id);
        return -1;
    }
    char idbuf[24];
    (void)snprintf(idbuf, sizeof(idbuf), "%lld", id);
    int rc = -1;
    if (!cascade) {
        const char *const p[] = {idbuf};
        PGresult *res = ofc_db_query(db, referrers_sql, 1, p);
        if (res == NULL) {
            *error_r = dir_db_failure(db, "look for references");
            goto out;
        }
        int rows = PQntuples(res);
        if (rows > 0) {
            struct ofc_strbuf sb = OFC_STRBUF_INIT;
            ofc_strbuf_printf(&sb, "cannot delete %s (%s): referenced by ", obj.address,
                              dir_class_name(obj.class));
            for (int i = 0; i < rows; i++)
                ofc_strbuf_printf(&sb, "%s%s %s (%s)", i > 0 ? ", " : "", ofc_db_value(res, i, 0),
                                  ofc_db_value(res, i, 1), ofc_db_value(res, i, 2));
            long long total = ofc_db_value_ll(res, 0, 3, rows);
            if (total > rows)
                ofc_strbuf_printf(&sb, " and %lld more", total - rows);
            ofc_strbuf_puts(&sb, "; delete with cascade to remove the references");
            *error_r = ofc_strbuf_detach(&sb);
            PQclear(res);
            goto out;
        }
        PQclear(res);
    }
    char *ids = ofc_xasprintf("{%lld}", id);
    long long deleted = dir_object_purge(db, ids, error_r);
    free(ids);
    if (deleted < 0)
        goto out;
    if (deleted_r != NULL)
        *deleted_r = deleted;
    rc = 0;
out:
    dir_object_clear(&obj);
    return rc;
}
