/*
 * dir_util.c - helpers shared by the directory modules.
 *
 * Statements are built only from constant fragments and parameter numbers;
 * every value, including patterns and arrays, travels as a parameter.
 */
/* System. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libofc. */
#include "dir_object.h"
#include "dir_util.h"
#include "ofc_addr.h"
#include "ofc_db.h"
#include "ofc_mem.h"

int dir_params_take(struct dir_params *p, char *value)
{
    if (p->n == p->cap) {
        p->cap = p->cap == 0 ? 8 : p->cap * 2;
        p->v = ofc_xrealloc(p->v, (size_t)p->cap * sizeof(*p->v));
    }
    p->v[p->n++] = value;
    return p->n;
}

int dir_params_add(struct dir_params *p, const char *value)
{
    return dir_params_take(p, value != NULL ? ofc_xstrdup(value) : NULL);
}

int dir_params_add_ll(struct dir_params *p, long long n)
{
    return dir_params_take(p, ofc_xasprintf("%lld", n));
}

const char *const *dir_params_values(const struct dir_params *p)
{
    return (const char *const *)p->v;
}

void dir_params_free(struct dir_params *p)
{
    for (int i = 0; i < p->n; i++)
        free(p->v[i]);
    OFC_FREE(p->v);
    p->n = p->cap = 0;
}

char *dir_like_pattern(const char *wildcard)
{
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    ofc_strbuf_reserve(&sb, strlen(wildcard) + 1);
    for (const char *s = wildcard; *s != '\0'; s++) {
        switch (*s) {
        case '*':
            ofc_strbuf_putc(&sb, '%');
            break;
        case '?':
            ofc_strbuf_putc(&sb, '_');
            break;
        case '%':
        case '_':
        case '\\':
            ofc_strbuf_putc(&sb, '\\');
            ofc_strbuf_putc(&sb, *s);
            break;
        default:
            ofc_strbuf_putc(&sb, *s);
            break;
        }
    }
    return ofc_strbuf_detach(&sb);
}

char *dir_db_failure(struct ofc_db *db, const char *what)
{
    const char *state = ofc_db_sqlstate(db);
    const char *why = NULL;
    if (strcmp(state, "23505") == 0)
        why = "the name is already taken";
    else if (strcmp(state, "23503") == 0)
        why = "it refers to an object that does not exist, or is still referenced";
    else if (strcmp(state, "23514") == 0)
        why = "a value is not allowed";
    else if (strcmp(state, "23502") == 0)
        why = "a required value is missing";
    if (why != NULL)
        return ofc_xasprintf("cannot %s: %s (%s)", what, why, ofc_db_error(db));
    return ofc_xasprintf("cannot %s: %s", what, ofc_db_error(db));
}

long long dir_object_purge(struct ofc_db *db, const char *ids_array, char **error_r)
{
    /*
     * The set grows by the aliases that point into it (an alias of nothing
     * means nothing); UNION stops on alias cycles.
     */
    const char *const p[] = {ids_array};
    PGresult *res = ofc_db_query(db,
                                 "WITH RECURSIVE doomed(id) AS ("
                                 "  SELECT unnest($1::bigint[])"
                                 "  UNION"
                                 "  SELECT al.object_id FROM ofc.alias al"
                                 "    JOIN doomed ON al.target_object_id = doomed.id)"
                                 " SELECT coalesce(array_agg(id), '{}'), count(*) FROM doomed",
                                 1, p);
    if (res == NULL) {
        *error_r = dir_db_failure(db, "collect the objects to delete");
        return -1;
    }
    char *set = ofc_xstrdup(ofc_db_value(res, 0, 0) != NULL ? ofc_db_value(res, 0, 0) : "{}");
    long long count = ofc_db_value_ll(res, 0, 1, 0);
    PQclear(res);

    /*
     * The references are ON DELETE RESTRICT in the schema, so they go first,
     * each in its own statement; the objects last (their detail rows,
     * mailboxes and private templates follow by ON DELETE CASCADE).
     */
    static const struct {
        const char *what;
        const char *sql;
    } steps[] = {
        {"remove the aliases", "DELETE FROM ofc.alias WHERE object_id = ANY($1::bigint[])"},
        {"remove the list memberships",
         "DELETE FROM ofc.dl_member WHERE member_object_id = ANY($1::bigint[])"
         " OR dl_id = ANY($1::bigint[])"},
        {"remove the role assignments",
         "DELETE FROM ofc.role_assignment WHERE role_id = ANY($1::bigint[])"
         " OR account_id = ANY($1::bigint[])"},
        {"clear the locations",
         "UPDATE ofc.account SET location_id = NULL WHERE location_id = ANY($1::bigint[])"},
        {"clear the organizations", "UPDATE ofc.account SET organization_id = NULL"
                                    " WHERE organization_id = ANY($1::bigint[])"},
        {"clear the managers",
         "UPDATE ofc.account SET manager_id = NULL WHERE manager_id = ANY($1::bigint[])"},
        {"delete the objects", "DELETE FROM ofc.dir_object WHERE id = ANY($1::bigint[])"},
    };
    const char *const q[] = {set};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        if (ofc_db_exec(db, steps[i].sql, 1, q) < 0) {
            *error_r = dir_db_failure(db, steps[i].what);
            free(set);
            return -1;
        }
    }
    free(set);
    return count;
}

int dir_target_parse(struct ofc_db *db, long long context_domain_id, const char *text,
                     long long *object_id_r, char **address_r, char **error_r)
{
    struct ofc_addr addr;
    const char *why;

    *object_id_r = 0;
    *address_r = NULL;
    if (text == NULL || *text == '\0') {
        *error_r = ofc_xstrdup("the address is empty");
        return -1;
    }
    if (ofc_addr_parse_mailbox(text, strlen(text), true, &addr, &why) < 0) {
        *error_r = ofc_xasprintf("invalid address '%s': %s", text, why);
        return -1;
    }
    if (addr.domain == NULL && !dir_object_name_valid(addr.local, &why)) {
        *error_r = ofc_xasprintf("invalid name '%s': %s", text, why);
        ofc_addr_clear(&addr);
        return -1;
    }
    char ctx[24];
    (void)snprintf(ctx, sizeof(ctx), "%lld", context_domain_id);
    /*
     * One query answers all three questions: is the domain ours, is the
     * name an object there, and which class is it. The name is lowered by
     * the server, as name_key is, so that non-ASCII names compare alike.
     */
    const char *const p[] = {addr.local, addr.domain, ctx};
    PGresult *res = ofc_db_query(db,
                                 "SELECT d.fqdn, o.id, o.class FROM ofc.domain d"
                                 " LEFT JOIN ofc.dir_object o ON o.domain_id = d.id"
                                 "  AND o.name_key = lower($1)"
                                 "  AND o.class NOT IN ('PUBLIC_TEMPLATE', 'PRIVATE_TEMPLATE')"
                                 " WHERE CASE WHEN $2::text IS NULL THEN d.id = $3::int"
                                 "  ELSE d.fqdn = $2::text END",
                                 3, p);
    if (res == NULL) {
        *error_r = dir_db_failure(db, "look up the address");
        ofc_addr_clear(&addr);
        return -1;
    }
    int rc = 0;
    if (PQntuples(res) == 0 && addr.domain == NULL) {
        *error_r = ofc_xasprintf("no domain with id %lld for the name '%s'", context_domain_id,
                                 addr.local);
        rc = -1;
    } else if (PQntuples(res) == 0) {
        /* Not a domain of this directory: an address elsewhere. */
        *address_r = ofc_addr_format(&addr);
    } else if (ofc_db_value(res, 0, 1) == NULL) {
        *error_r = ofc_xasprintf("no object named '%s' in %s", addr.local, ofc_db_value(res, 0, 0));
        rc = -1;
    } else {
        *object_id_r = ofc_db_value_ll(res, 0, 1, 0);
    }
    PQclear(res);
    ofc_addr_clear(&addr);
    return rc;
}
