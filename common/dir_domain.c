/*
 * dir_domain.c - the domain tree: create, modify, delete, find, list, and
 * who administers what.
 *
 * The schema's trigger already refuses a child that is not directly below
 * its parent; the same check is made here first so that the caller gets a
 * sentence instead of an aborted transaction.
 */
/* System. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libofc. */
#include "dir_domain.h"
#include "dir_util.h"
#include "ofc_db.h"
#include "ofc_mem.h"

#define FQDN_MAX  253
#define LABEL_MAX 63

/* Most subdomains and objects a refusal names. */
#define NAMES_SHOWN "10"

/* The columns domain_from_row() reads. */
#define DOMAIN_COLUMNS "d.id, d.parent_id, d.fqdn, d.confignode_id, n.name, d.description"
#define DOMAIN_FROM    " FROM ofc.domain d JOIN ofc.node n ON n.id = d.confignode_id"

void dir_domain_clear(struct dir_domain *domain)
{
    free(domain->fqdn);
    free(domain->confignode);
    free(domain->description);
    memset(domain, 0, sizeof(*domain));
}

void dir_domain_free_list(struct dir_domain **list, size_t count)
{
    if (*list == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        dir_domain_clear(&(*list)[i]);
    OFC_FREE(*list);
}

static void domain_from_row(const PGresult *res, int row, struct dir_domain *domain)
{
    const char *s;
    domain->id = ofc_db_value_ll(res, row, 0, 0);
    domain->parent_id = ofc_db_value_ll(res, row, 1, 0);
    domain->fqdn = ofc_xstrdup((s = ofc_db_value(res, row, 2)) != NULL ? s : "");
    domain->confignode_id = ofc_db_value_ll(res, row, 3, 0);
    domain->confignode = ofc_xstrdup((s = ofc_db_value(res, row, 4)) != NULL ? s : "");
    domain->description = ofc_xstrdup((s = ofc_db_value(res, row, 5)) != NULL ? s : "");
}

int dir_domain_normalize(const char *fqdn, char **fqdn_r, const char **why_r)
{
    size_t len = fqdn != NULL ? strlen(fqdn) : 0;
    if (len > 0 && fqdn[len - 1] == '.')
        len--;
    if (len == 0) {
        *why_r = "the domain name is empty";
        return -1;
    }
    if (len > FQDN_MAX) {
        *why_r = "the domain name is longer than 253 characters";
        return -1;
    }
    char *out = ofc_xstrndup(fqdn, len);
    size_t label = 0;
    for (size_t i = 0; i <= len; i++) {
        unsigned char c = (unsigned char)out[i];
        const char *why = NULL;
        if (c == '.' || c == '\0') {
            if (label == 0)
                why = "the domain name has an empty label";
            label = 0;
        } else if (++label > LABEL_MAX) {
            why = "a label of the domain name is longer than 63 characters";
        } else if (c <= 0x20 || c == 0x7f || strchr("@<>,;:\"\\/", c) != NULL) {
            why = "the domain name contains white space or one of @<>,;:\"\\/";
        } else if (c >= 'A' && c <= 'Z') {
            out[i] = (char)(c - 'A' + 'a');
        }
        if (why != NULL) {
            free(out);
            *why_r = why;
            return -1;
        }
    }
    *fqdn_r = out;
    return 0;
}

int dir_domain_create(struct ofc_db *db, long long parent_id, const char *fqdn,
                      const char *confignode, const char *description, long long *id_r,
                      char **error_r)
{
    const char *why;
    char *name = NULL;
    int rc = -1;

    if (dir_domain_normalize(fqdn, &name, &why) < 0) {
        *error_r = ofc_xasprintf("invalid domain name '%s': %s", fqdn != NULL ? fqdn : "", why);
        return -1;
    }
    struct dir_params p = DIR_PARAMS_INIT;
    (void)dir_params_add_ll(&p, parent_id);
    (void)dir_params_add(&p, confignode);
    (void)dir_params_add(&p, name);
    /* Everything the checks need in one round trip. */
    PGresult *res = ofc_db_query(db,
                                 "SELECT (SELECT fqdn FROM ofc.domain WHERE id = $1::int),"
                                 " (SELECT confignode_id FROM ofc.domain WHERE id = $1::int),"
                                 " (SELECT id FROM ofc.node WHERE name = upper($2::text)),"
                                 " (SELECT id FROM ofc.node WHERE is_local),"
                                 " EXISTS (SELECT 1 FROM ofc.domain WHERE fqdn = $3::text)",
                                 3, dir_params_values(&p));
    dir_params_free(&p);
    if (res == NULL) {
        *error_r = dir_db_failure(db, "look up the parent domain");
        goto out;
    }
    const char *parent = ofc_db_value(res, 0, 0);
    long long node_id = 0;
    if (parent_id > 0 && parent == NULL) {
        *error_r = ofc_xasprintf("no parent domain with id %lld", parent_id);
    } else if (parent != NULL && (strlen(name) <= strlen(parent) + 1 ||
                                  strcmp(name + strlen(name) - strlen(parent), parent) != 0 ||
                                  name[strlen(name) - strlen(parent) - 1] != '.' ||
                                  memchr(name, '.', strlen(name) - strlen(parent) - 1) != NULL)) {
        *error_r = ofc_xasprintf("%s is not directly below %s", name, parent);
    } else if (confignode != NULL && ofc_db_value(res, 0, 2) == NULL) {
        *error_r = ofc_xasprintf("no node named %s", confignode);
    } else if (strcmp(ofc_db_value(res, 0, 4), "t") == 0) {
        *error_r = ofc_xasprintf("a domain %s already exists", name);
    } else {
        node_id = ofc_db_value_ll(res, 0, confignode != NULL ? 2 : parent != NULL ? 1 : 3, 0);
        if (node_id <= 0)
            *error_r = ofc_xstrdup("no configuration node given and no local node known");
    }
    PQclear(res);
    if (node_id <= 0)
        goto out;

    p = (struct dir_params)DIR_PARAMS_INIT;
    (void)dir_params_take(&p, parent_id > 0 ? ofc_xasprintf("%lld", parent_id) : NULL);
    (void)dir_params_add(&p, name);
    (void)dir_params_add_ll(&p, node_id);
    (void)dir_params_add(&p, description != NULL ? description : "");
    /* The configuration node holds the domain's directory: it subscribes. */
    res = ofc_db_query(db,
                       "WITH d AS (INSERT INTO ofc.domain (parent_id, fqdn, confignode_id,"
                       "  description) VALUES ($1::int, $2, $3::int, $4)"
                       "  ON CONFLICT DO NOTHING RETURNING id, confignode_id),"
                       " s AS (INSERT INTO ofc.subscription (domain_id, node_id)"
                       "  SELECT id, confignode_id FROM d)"
                       " SELECT id FROM d",
                       p.n, dir_params_values(&p));
    dir_params_free(&p);
    if (res == NULL) {
        char *what = ofc_xasprintf("create the domain %s", name);
        *error_r = dir_db_failure(db, what);
        free(what);
        goto out;
    }
    long long id = ofc_db_value_ll(res, 0, 0, 0);
    PQclear(res);
    if (id <= 0) {
        *error_r = ofc_xasprintf("a domain %s already exists", name);
        goto out;
    }
    if (id_r != NULL)
        *id_r = id;
    rc = 0;
out:
    free(name);
    return rc;
}

int dir_domain_modify(struct ofc_db *db, long long id, const char *description,
                      const char *confignode, char **error_r)
{
    struct dir_params p = DIR_PARAMS_INIT;
    (void)dir_params_add_ll(&p, id);
    (void)dir_params_add(&p, description);
    (void)dir_params_add(&p, confignode);
    /*
     * The node lookup and the update in one statement; the answer tells
     * which of them found nothing.
     */
    PGresult *res =
        ofc_db_query(db,
                     "WITH nd AS (SELECT id FROM ofc.node WHERE name = upper($3::text)),"
                     " u AS (UPDATE ofc.domain SET"
                     "  description = coalesce($2::text, description),"
                     "  confignode_id = coalesce((SELECT id FROM nd), confignode_id)"
                     "  WHERE id = $1::int"
                     "  AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM nd))"
                     "  RETURNING id, confignode_id),"
                     " s AS (INSERT INTO ofc.subscription (domain_id, node_id)"
                     "  SELECT id, confignode_id FROM u ON CONFLICT DO NOTHING)"
                     " SELECT EXISTS (SELECT 1 FROM ofc.domain WHERE id = $1::int),"
                     " EXISTS (SELECT 1 FROM nd), (SELECT count(*) FROM u)",
                     p.n, dir_params_values(&p));
    dir_params_free(&p);
    if (res == NULL) {
        *error_r = dir_db_failure(db, "modify the domain");
        return -1;
    }
    int rc = 0;
    if (strcmp(ofc_db_value(res, 0, 0), "t") != 0) {
        *error_r = ofc_xasprintf("no domain with id %lld", id);
        rc = -1;
    } else if (confignode != NULL && strcmp(ofc_db_value(res, 0, 1), "t") != 0) {
        *error_r = ofc_xasprintf("no node named %s", confignode);
        rc = -1;
    }
    PQclear(res);
    return rc;
}

/* The ids of domain $1 and every domain below it (a CTE named sub). */
#define SUBTREE_SQL                                                                                \
    "WITH RECURSIVE sub(id) AS (SELECT id FROM ofc.domain WHERE id = $1::int"                      \
    " UNION ALL SELECT c.id FROM ofc.domain c JOIN sub ON c.parent_id = sub.id)"

/*
 * Names a non-empty domain's subdomains and objects ("subdomains
 * us.acme.com; objects ADMIN (PERSON), ..."), "" when it is empty.
 */
static int describe_contents(struct ofc_db *db, const char *idbuf, char **text_r, char **error_r)
{
    const char *const p[] = {idbuf};
    PGresult *res = ofc_db_query(db,
                                 "SELECT * FROM ("
                                 "  SELECT * FROM (SELECT 'subdomains', fqdn, count(*) OVER ()"
                                 "   FROM ofc.domain WHERE parent_id = $1::int"
                                 "   ORDER BY fqdn LIMIT " NAMES_SHOWN ") c"
                                 "  UNION ALL SELECT * FROM (SELECT 'objects',"
                                 "   o.name || ' (' || o.class || ')', count(*) OVER ()"
                                 "   FROM ofc.dir_object o WHERE o.domain_id = $1::int"
                                 "   ORDER BY o.class, o.name_key LIMIT " NAMES_SHOWN ") o"
                                 " ) x ORDER BY 1 DESC, 2",
                                 1, p);
    if (res == NULL) {
        *error_r = dir_db_failure(db, "look at the domain's contents");
        return -1;
    }
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    ofc_strbuf_puts(&sb, "");
    int rows = PQntuples(res);
    for (int i = 0; i < rows; i++) {
        const char *group = ofc_db_value(res, i, 0);
        bool first = i == 0 || strcmp(group, ofc_db_value(res, i - 1, 0)) != 0;
        bool last = i + 1 == rows || strcmp(group, ofc_db_value(res, i + 1, 0)) != 0;
        if (first)
            ofc_strbuf_printf(&sb, "%s%s ", i > 0 ? "; " : "", group);
        ofc_strbuf_printf(&sb, "%s%s", first ? "" : ", ", ofc_db_value(res, i, 1));
        if (last) {
            long long total = ofc_db_value_ll(res, i, 2, 0);
            int shown = 0;
            for (int j = i; j >= 0 && strcmp(group, ofc_db_value(res, j, 0)) == 0; j--)
                shown++;
            if (total > shown)
                ofc_strbuf_printf(&sb, " and %lld more", total - shown);
        }
    }
    PQclear(res);
    *text_r = ofc_strbuf_detach(&sb);
    return 0;
}

int dir_domain_delete(struct ofc_db *db, long long id, bool cascade, long long *deleted_r,
                      char **error_r)
{
    struct dir_domain domain;
    int found = dir_domain_get(db, id, &domain, error_r);
    if (found <= 0) {
        if (found == 0)
            *error_r = ofc_xasprintf("no domain with id %lld", id);
        return -1;
    }
    int rc = -1;
    char idbuf[24];
    (void)snprintf(idbuf, sizeof(idbuf), "%lld", id);
    const char *const p[] = {idbuf};
    long long deleted = 0;
    if (!cascade) {
        char *contents = NULL;
        if (describe_contents(db, idbuf, &contents, error_r) < 0)
            goto out;
        if (contents[0] != '\0') {
            *error_r = ofc_xasprintf("domain %s is not empty: %s; delete with cascade to remove"
                                     " everything in it",
                                     domain.fqdn, contents);
            free(contents);
            goto out;
        }
        free(contents);
    } else {
        PGresult *res = ofc_db_query(db,
                                     "WITH RECURSIVE sub(id) AS (SELECT id FROM ofc.domain"
                                     "  WHERE id = $1::int UNION ALL SELECT c.id FROM ofc.domain c"
                                     "  JOIN sub ON c.parent_id = sub.id)"
                                     " SELECT coalesce(array_agg(o.id), '{}') FROM ofc.dir_object o"
                                     " WHERE o.domain_id IN (SELECT id FROM sub)",
                                     1, p);
        if (res == NULL) {
            *error_r = dir_db_failure(db, "collect the domain's objects");
            goto out;
        }
        char *ids = ofc_xstrdup(ofc_db_value(res, 0, 0));
        PQclear(res);
        deleted = dir_object_purge(db, ids, error_r);
        free(ids);
        if (deleted < 0)
            goto out;
    }
    /*
     * All domains of the subtree in one statement: the RESTRICT check on
     * parent_id runs after the statement's rows are gone.
     */
    int ok = ofc_db_exec(db, SUBTREE_SQL " DELETE FROM ofc.domain WHERE id IN (SELECT id FROM sub)",
                         1, p);
    if (ok < 0) {
        char *what = ofc_xasprintf("delete the domain %s", domain.fqdn);
        *error_r = dir_db_failure(db, what);
        free(what);
        goto out;
    }
    if (deleted_r != NULL)
        *deleted_r = deleted;
    rc = 0;
out:
    dir_domain_clear(&domain);
    return rc;
}

static int get_one(struct ofc_db *db, const char *sql, const char *param,
                   struct dir_domain *domain_r, char **error_r)
{
    const char *const p[] = {param};
    PGresult *res = ofc_db_query(db, sql, 1, p);
    if (res == NULL) {
        *error_r = dir_db_failure(db, "look up the domain");
        return -1;
    }
    int found = PQntuples(res) > 0;
    if (found)
        domain_from_row(res, 0, domain_r);
    PQclear(res);
    return found;
}

int dir_domain_find(struct ofc_db *db, const char *fqdn, struct dir_domain *domain_r,
                    char **error_r)
{
    char *name = NULL;
    const char *why;
    if (dir_domain_normalize(fqdn, &name, &why) < 0)
        return 0; /* a name that cannot be a domain names none */
    int found = get_one(db, "SELECT " DOMAIN_COLUMNS DOMAIN_FROM " WHERE d.fqdn = $1", name,
                        domain_r, error_r);
    free(name);
    return found;
}

int dir_domain_get(struct ofc_db *db, long long id, struct dir_domain *domain_r, char **error_r)
{
    char idbuf[24];
    (void)snprintf(idbuf, sizeof(idbuf), "%lld", id);
    return get_one(db, "SELECT " DOMAIN_COLUMNS DOMAIN_FROM " WHERE d.id = $1::int", idbuf,
                   domain_r, error_r);
}

int dir_domain_list(struct ofc_db *db, long long parent_id, bool recursive,
                    struct dir_domain **list_r, size_t *count_r, char **error_r)
{
    char idbuf[24];
    (void)snprintf(idbuf, sizeof(idbuf), "%lld", parent_id);
    const char *const p[] = {idbuf};
    /* Parent 0 means the roots; recursive from 0 means every domain. */
    PGresult *res = ofc_db_query(
        db,
        recursive ? "WITH RECURSIVE sub(id) AS (SELECT id FROM ofc.domain"
                    "  WHERE coalesce(parent_id, 0) = $1::int"
                    "  UNION ALL SELECT c.id FROM ofc.domain c JOIN sub ON c.parent_id = sub.id)"
                    " SELECT " DOMAIN_COLUMNS DOMAIN_FROM
                    " WHERE d.id IN (SELECT id FROM sub) ORDER BY d.fqdn"
                  : "SELECT " DOMAIN_COLUMNS DOMAIN_FROM
                    " WHERE coalesce(d.parent_id, 0) = $1::int ORDER BY d.fqdn",
        1, p);
    *list_r = NULL;
    *count_r = 0;
    if (res == NULL) {
        *error_r = dir_db_failure(db, "list the domains");
        return -1;
    }
    int rows = PQntuples(res);
    if (rows > 0) {
        *list_r = ofc_xcalloc((size_t)rows, sizeof(**list_r));
        for (int i = 0; i < rows; i++)
            domain_from_row(res, i, &(*list_r)[i]);
    }
    *count_r = (size_t)rows;
    PQclear(res);
    return 0;
}

int dir_domain_administers(struct ofc_db *db, long long account_id, long long domain_id,
                           bool *yes_r, char **error_r)
{
    char acct[24], dom[24];
    (void)snprintf(acct, sizeof(acct), "%lld", account_id);
    (void)snprintf(dom, sizeof(dom), "%lld", domain_id);
    const char *const p[] = {acct, dom};
    /* Up the tree from the domain: a grant on any ancestor covers it. */
    PGresult *res = ofc_db_query(db,
                                 "WITH RECURSIVE up(id, parent_id) AS ("
                                 "  SELECT id, parent_id FROM ofc.domain WHERE id = $2::int"
                                 "  UNION ALL SELECT d.id, d.parent_id FROM ofc.domain d"
                                 "  JOIN up ON d.id = up.parent_id)"
                                 " SELECT EXISTS (SELECT 1 FROM ofc.admin_grant g JOIN up"
                                 "  ON g.domain_id = up.id WHERE g.account_id = $1::bigint)",
                                 2, p);
    if (res == NULL) {
        *error_r = dir_db_failure(db, "look up the administrators");
        return -1;
    }
    *yes_r = strcmp(ofc_db_value(res, 0, 0), "t") == 0;
    PQclear(res);
    return 0;
}

int dir_domain_grant_admin(struct ofc_db *db, long long account_id, long long domain_id,
                           char **error_r)
{
    char acct[24], dom[24];
    (void)snprintf(acct, sizeof(acct), "%lld", account_id);
    (void)snprintf(dom, sizeof(dom), "%lld", domain_id);
    const char *const p[] = {acct, dom};
    PGresult *res = ofc_db_query(db,
                                 "WITH g AS (INSERT INTO ofc.admin_grant (account_id, domain_id)"
                                 "  SELECT a.object_id, d.id FROM ofc.account a, ofc.domain d"
                                 "  WHERE a.object_id = $1::bigint AND d.id = $2::int"
                                 "  ON CONFLICT DO NOTHING)"
                                 " SELECT EXISTS (SELECT 1 FROM ofc.account"
                                 "  WHERE object_id = $1::bigint),"
                                 " EXISTS (SELECT 1 FROM ofc.domain WHERE id = $2::int)",
                                 2, p);
    if (res == NULL) {
        *error_r = dir_db_failure(db, "grant the administration");
        return -1;
    }
    int rc = 0;
    if (strcmp(ofc_db_value(res, 0, 0), "t") != 0) {
        *error_r = ofc_xasprintf("no account with id %lld", account_id);
        rc = -1;
    } else if (strcmp(ofc_db_value(res, 0, 1), "t") != 0) {
        *error_r = ofc_xasprintf("no domain with id %lld", domain_id);
        rc = -1;
    }
    PQclear(res);
    return rc;
}

int dir_domain_revoke_admin(struct ofc_db *db, long long account_id, long long domain_id,
                            char **error_r)
{
    char acct[24], dom[24];
    (void)snprintf(acct, sizeof(acct), "%lld", account_id);
    (void)snprintf(dom, sizeof(dom), "%lld", domain_id);
    const char *const p[] = {acct, dom};
    PGresult *res = ofc_db_query(db,
                                 "DELETE FROM ofc.admin_grant WHERE account_id = $1::bigint"
                                 " AND domain_id = $2::int RETURNING 1",
                                 2, p);
    if (res == NULL) {
        *error_r = dir_db_failure(db, "revoke the administration");
        return -1;
    }
    int rc = PQntuples(res) > 0 ? 0 : -1;
    PQclear(res);
    if (rc < 0)
        *error_r = ofc_xstrdup("the account does not administer that domain");
    return rc;
}
