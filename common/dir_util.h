/*
 * dir_util.h - helpers shared by the directory modules (dir_*.c) only.
 *
 * Programs do not include this header: they call the verbs of dir_domain.h,
 * dir_object.h, dir_account.h, ... Everything here exists so that those
 * modules build their statements and their messages the same way.
 *
 * A rule every verb follows: an expected user error (a duplicate name, an
 * unknown node, a referenced object) is found by a query *before* a
 * statement could fail, or by INSERT ... ON CONFLICT DO NOTHING, because a
 * failed statement aborts the caller's transaction and a script of oomgr
 * statements shares one. The SQLSTATE translation below is the safety net
 * for races and for the schema's own checks.
 */
#ifndef DIR_UTIL_H
#define DIR_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "dir_object.h"
#include "ofc_mem.h"

struct ofc_db;

/* Query parameters as heap strings (NULL entries are SQL NULL). */
struct dir_params {
    char **v;
    int n;
    int cap;
};

#define DIR_PARAMS_INIT                                                                            \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/*
 * Appends a copy of value (NULL = SQL NULL) and returns its number, for
 * "$%d" in the statement.
 */
int dir_params_add(struct dir_params *p, const char *value);
/* Appends the decimal text of n. Returns its number. */
int dir_params_add_ll(struct dir_params *p, long long n);
/* Takes ownership of the heap string value. Returns its number. */
int dir_params_take(struct dir_params *p, char *value);
/* The array to hand to ofc_db_query(). */
const char *const *dir_params_values(const struct dir_params *p);
void dir_params_free(struct dir_params *p);

/*
 * Translates a user pattern with the wildcards '*' (any run) and '?' (one
 * character) into a LIKE pattern for "... LIKE $n ESCAPE '\'": '%', '_' and
 * '\' in the input are escaped, so they match themselves. Heap string.
 */
char *dir_like_pattern(const char *wildcard);

/*
 * A one-line message for a failed statement: "cannot <what>: <reason>",
 * where the reason for the SQLSTATEs a person can act on (23505 unique,
 * 23503 foreign key, 23514 check, 23502 not null) is said in words and the
 * server's text is added for the others. Heap string.
 */
char *dir_db_failure(struct ofc_db *db, const char *what);

/*
 * Removes directory objects as a cascade delete does: the objects whose ids
 * are in the array literal ids_array, every alias that points to one of
 * them (transitively), their list memberships, role assignments, and the
 * location/organization/manager references to them; accounts lose their
 * mailboxes with them (foreign keys). Must run inside the caller's
 * transaction. Returns the number of objects removed, or -1 with *error_r.
 */
long long dir_object_purge(struct ofc_db *db, const char *ids_array, char **error_r)
    __attribute__((warn_unused_result));

/*
 * Where an object name or address points: "name" (an object of the context
 * domain) or "local@domain" (an object of that domain when the domain is in
 * the directory, else an external address). Exactly one of *object_id_r
 * (> 0) and *address_r (heap, formatted by ofc_addr_format) is set on
 * success. A local domain's unknown name is an error, so that a typo does
 * not become mail that bounces forever. Returns 0, or -1 with *error_r.
 */
int dir_target_parse(struct ofc_db *db, long long context_domain_id, const char *text,
                     long long *object_id_r, char **address_r, char **error_r)
    __attribute__((warn_unused_result));

/*
 * The joins of a listing: o (dir_object), d (its domain), al/tgt/tgd
 * (alias and target), a (account), n (home node), loc/locd, org/orgd,
 * mgr/mgd (location, organization, manager and their domains), t
 * (template). Every join is to at most one row.
 */
#define DIR_OBJECT_FROM                                                                            \
    " FROM ofc.dir_object o JOIN ofc.domain d ON d.id = o.domain_id"                               \
    " LEFT JOIN ofc.alias al ON al.object_id = o.id"                                               \
    " LEFT JOIN ofc.dir_object tgt ON tgt.id = al.target_object_id"                                \
    " LEFT JOIN ofc.domain tgd ON tgd.id = tgt.domain_id"                                          \
    " LEFT JOIN ofc.account a ON a.object_id = o.id"                                               \
    " LEFT JOIN ofc.node n ON n.id = a.home_node_id"                                               \
    " LEFT JOIN ofc.dir_object loc ON loc.id = a.location_id"                                      \
    " LEFT JOIN ofc.domain locd ON locd.id = loc.domain_id"                                        \
    " LEFT JOIN ofc.dir_object org ON org.id = a.organization_id"                                  \
    " LEFT JOIN ofc.domain orgd ON orgd.id = org.domain_id"                                        \
    " LEFT JOIN ofc.dir_object mgr ON mgr.id = a.manager_id"                                       \
    " LEFT JOIN ofc.domain mgd ON mgd.id = mgr.domain_id"                                          \
    " LEFT JOIN ofc.template t ON t.object_id = o.id"

/* The columns dir_object_from_row() reads (0-7), over DIR_OBJECT_FROM. */
#define DIR_OBJECT_COLUMNS                                                                         \
    "o.id, o.class, o.domain_id, d.fqdn, o.name, o.description, o.owner_id,"                       \
    " CASE WHEN al.object_id IS NULL THEN NULL"                                                    \
    "  ELSE coalesce(al.target_address, tgt.name || '@' || tgd.fqdn) END"

/* Fills obj (which needs no clearing before) from columns 0-7 of row. */
void dir_object_from_row(const PGresult *res, int row, struct dir_object *obj);

/*
 * Builds "SELECT <columns> FROM ... WHERE <query> ORDER BY ..." into sql,
 * with the values in params. accounts_only limits the listing to accounts
 * (dir_account_list()). Returns 0, or -1 with *error_r for an unknown
 * attribute or one that the class does not have.
 */
int dir_query_sql(const struct dir_query *query, bool accounts_only, const char *columns,
                  struct ofc_strbuf *sql, struct dir_params *params, char **error_r)
    __attribute__((warn_unused_result));

/*
 * Builds the listing statement for query (dir_query_sql) and runs it.
 * Returns the result for the caller to turn into rows and PQclear, or NULL
 * with "cannot <what>: ..." in *error_r.
 */
PGresult *dir_query_run(struct ofc_db *db, const struct dir_query *query, bool accounts_only,
                        const char *columns, const char *what, char **error_r)
    __attribute__((warn_unused_result));

#endif
