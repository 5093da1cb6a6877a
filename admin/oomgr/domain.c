/*
 * domain.c - insert, modify, delete and disp domain.
 *
 * As in the Installation Guide ("Inserting a Qualified Domain Name"), a
 * new domain is a child of the domain the session is connected to: while
 * connected to COM, "insert domain qualifiedname=acme.com" makes
 * ACME.COM, and "connect admin/<password>/<service>/acme.com" then works
 * in it. An administrator of a domain administers the domains below it
 * too, so no grant is needed for the new one.
 */
/* System. */
#include <stdlib.h>
#include <string.h>

/* libofc. */
#include "dir_domain.h"
#include "ofc_mem.h"

/* This program. */
#include "oomgr.h"

/*
 * The domain named by qualifiedname= (the session's when absent and
 * dflt_session), which the session must administer. Returns 0 and fills
 * *d, or -1 with *error_r.
 */
static int named_domain(struct oomgr_call *call, bool dflt_session, struct dir_domain *d,
                        char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    const struct oomgr_session *s = call->om->session;
    const char *name = oomgr_arg(st, "qualifiedname");
    int found;

    memset(d, 0, sizeof(*d));
    if (name == NULL && dflt_session) {
        found = dir_domain_get(call->db, s->domain_id, d, error_r);
    } else {
        call->om->current_line = oomgr_arg_line(st, "qualifiedname");
        found = dir_domain_find(call->db, name, d, error_r);
    }
    if (found < 0)
        return -1;
    if (found == 0) {
        *error_r = ofc_xasprintf("unknown domain '%s'", name != NULL ? name : s->fqdn);
        return -1;
    }
    if (oomgr_dir_require_admin(call, d->id, d->fqdn, error_r) < 0) {
        dir_domain_clear(d);
        return -1;
    }
    return 0;
}

static int run_insert_domain(struct oomgr_call *call, char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    const struct oomgr_session *s = call->om->session;
    long long id = 0;

    if (oomgr_dir_require_admin(call, s->domain_id, s->fqdn, error_r) < 0)
        return -1;
    if (dir_domain_create(call->db, s->domain_id, oomgr_arg(st, "qualifiedname"),
                          oomgr_arg(st, "confignode"), oomgr_arg(st, "description"), &id,
                          error_r) < 0)
        return -1;
    char *fqdn = NULL;
    const char *why;
    if (dir_domain_normalize(oomgr_arg(st, "qualifiedname"), &fqdn, &why) < 0)
        fqdn = NULL; /* cannot happen: dir_domain_create() accepted it */
    oomgr_dir_done(call, "Inserted", fqdn);
    free(fqdn);
    return 0;
}

static int run_modify_domain(struct oomgr_call *call, char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    struct dir_domain d;
    const char *confignode = oomgr_arg(st, "confignode");
    const char *description = oomgr_arg(st, "description");

    if (confignode == NULL && description == NULL) {
        *error_r = ofc_xstrdup("modify domain: nothing to change (confignode=, description=)");
        return -1;
    }
    if (named_domain(call, true, &d, error_r) < 0)
        return -1;
    call->om->current_line = st->line;
    int rc = dir_domain_modify(call->db, d.id, description, confignode, error_r);
    if (rc == 0)
        oomgr_dir_done(call, "Modified", d.fqdn);
    dir_domain_clear(&d);
    return rc;
}

/*
 * Whether id is the session's domain or one above it: deleting it would
 * pull the ground from under the session (and its own account).
 */
static int holds_session(struct oomgr_call *call, long long id, bool *yes_r, char **error_r)
{
    long long cur = call->om->session->domain_id;
    *yes_r = false;
    while (cur > 0) {
        if (cur == id) {
            *yes_r = true;
            return 0;
        }
        struct dir_domain d;
        int found = dir_domain_get(call->db, cur, &d, error_r);
        if (found < 0)
            return -1;
        cur = found == 1 ? d.parent_id : 0;
        if (found == 1)
            dir_domain_clear(&d);
    }
    return 0;
}

static int run_delete_domain(struct oomgr_call *call, char **error_r)
{
    struct dir_domain d;
    bool held = false;
    long long deleted = 0;

    if (named_domain(call, false, &d, error_r) < 0)
        return -1;
    int rc = holds_session(call, d.id, &held, error_r);
    if (rc == 0 && held) {
        char *upper = oomgr_upper(d.fqdn);
        *error_r = ofc_xasprintf("cannot delete domain %s: this session is connected to it or "
                                 "below it (connect to a domain above it first)",
                                 upper);
        free(upper);
        rc = -1;
    }
    if (rc == 0)
        rc = dir_domain_delete(call->db, d.id, oomgr_arg_given(call->st, "cascade"), &deleted,
                               error_r);
    if (rc == 0)
        oomgr_dir_done(call, "Deleted", d.fqdn);
    dir_domain_clear(&d);
    return rc;
}

static const struct oomgr_column domain_columns[] = {
    {"Domain", OOMGR_LEFT},
    {"Parent", OOMGR_LEFT},
    {"Config Node", OOMGR_LEFT},
    {"Description", OOMGR_LEFT},
};

/* The fqdn of parent_id among list, else looked up; "" for a root. Heap. */
static char *parent_name(struct oomgr_call *call, const struct dir_domain *list, size_t n,
                         long long parent_id)
{
    if (parent_id <= 0)
        return ofc_xstrdup("");
    for (size_t i = 0; i < n; i++)
        if (list[i].id == parent_id)
            return ofc_xstrdup(list[i].fqdn);
    struct dir_domain d;
    char *error = NULL;
    int found = dir_domain_get(call->db, parent_id, &d, &error);
    free(error);
    if (found != 1)
        return ofc_xstrdup("");
    char *name = ofc_xstrdup(d.fqdn);
    dir_domain_clear(&d);
    return name;
}

static bool matches(const struct oomgr_stmt *st, const char *key, const char *value)
{
    const char *pattern = oomgr_arg(st, key);
    return pattern == NULL || oomgr_wildcard_match(pattern, value);
}

static int run_disp_domain(struct oomgr_call *call, char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    struct oomgr_dir_target t;
    struct dir_domain *list = NULL;
    size_t n = 0;

    if (oomgr_dir_target(call, NULL, &t, error_r) < 0)
        return -1;
    /* The domain itself first, then every domain below it (ordered by name). */
    struct dir_domain self;
    int found = dir_domain_get(call->db, t.domain_id, &self, error_r);
    if (found <= 0 || dir_domain_list(call->db, t.domain_id, true, &list, &n, error_r) < 0) {
        if (found == 1)
            dir_domain_clear(&self);
        else if (found == 0)
            *error_r = ofc_xasprintf("unknown domain '%s'", t.fqdn);
        oomgr_dir_target_clear(&t);
        return -1;
    }
    list = ofc_xrealloc(list, (n + 1) * sizeof(*list));
    memmove(list + 1, list, n * sizeof(*list));
    list[0] = self;
    n++;

    struct oomgr_table *tab =
        oomgr_table_new(domain_columns, sizeof(domain_columns) / sizeof(domain_columns[0]));
    for (size_t i = 0; i < n; i++) {
        const struct dir_domain *d = &list[i];
        if (!matches(st, "qualifiedname", d->fqdn) || !matches(st, "confignode", d->confignode) ||
            !matches(st, "description", d->description))
            continue;
        char *parent = parent_name(call, list, n, d->parent_id);
        const char *row[] = {d->fqdn, parent, d->confignode, d->description};
        oomgr_table_add(tab, row);
        free(parent);
    }
    oomgr_table_print(tab, oomgr_stmt_format(st), &call->out);
    oomgr_table_free(&tab);
    dir_domain_free_list(&list, n);
    oomgr_dir_target_clear(&t);
    return 0;
}

#define KEY_END                                                                                    \
    {                                                                                              \
        NULL, 0, 0, 0, NULL, NULL                                                                  \
    }

static const struct oomgr_key insert_domain_keys[] = {
    {"qualifiedname", OOMGR_KEY_REQUIRED | OOMGR_KEY_POSITIONAL, 0, 0, NULL,
     "the new domain's fully-qualified name, directly below the session's domain"},
    {"confignode", 0, 0, 0, NULL, "its configuration node (DCN); default: the parent's"},
    {"description", 0, 0, 0, NULL, "free text, e.g. the company's name"},
    KEY_END,
};

static const struct oomgr_key modify_domain_keys[] = {
    {"qualifiedname", OOMGR_KEY_POSITIONAL, 0, 0, NULL, "the domain; default: the session's"},
    {"confignode", 0, 0, 0, NULL, "a new configuration node"},
    {"description", 0, 0, 0, NULL, "a new description"},
    KEY_END,
};

static const struct oomgr_key delete_domain_keys[] = {
    {"qualifiedname", OOMGR_KEY_REQUIRED | OOMGR_KEY_POSITIONAL, 0, 0, NULL,
     "the domain (not the session's, nor one above it)"},
    {"cascade", OOMGR_KEY_FLAG, 0, 0, NULL, "also delete its subdomains and every object in them"},
    KEY_END,
};

static const struct oomgr_key disp_domain_keys[] = {
    {"qualifiedname", OOMGR_KEY_POSITIONAL, 0, 0, NULL, "only these domains; wildcards * and ?"},
    {"confignode", 0, 0, 0, NULL, "only domains of these configuration nodes (wildcards)"},
    {"description", 0, 0, 0, NULL, "only matching descriptions (wildcards)"},
    {"domain", 0, 0, 0, NULL, "list below this domain instead of the session's"},
    OOMGR_KEY_FORMAT,
    KEY_END,
};

#define DIR_FLAGS (OOMGR_STMT_TX | OOMGR_STMT_BATCH)

const struct oomgr_stmt_def oomgr_domain_stmts[] = {
    {"insert", "domain", OOMGR_PRIV_LOGIN, DIR_FLAGS, insert_domain_keys, run_insert_domain, NULL,
     "insert domain qualifiedname=FQDN [confignode=NODE] [description=TEXT];",
     "Creates a domain directly below the session's domain."},
    {"modify", "domain", OOMGR_PRIV_LOGIN, DIR_FLAGS, modify_domain_keys, run_modify_domain, NULL,
     "modify domain [qualifiedname=FQDN] [confignode=NODE] [description=TEXT];",
     "Changes a domain's configuration node or description."},
    {"delete", "domain", OOMGR_PRIV_LOGIN, DIR_FLAGS, delete_domain_keys, run_delete_domain, NULL,
     "delete domain qualifiedname=FQDN [cascade];",
     "Deletes an empty domain; with cascade, everything in and below it."},
    {"disp", "domain", OOMGR_PRIV_LOGIN, DIR_FLAGS, disp_domain_keys, run_disp_domain, NULL,
     "disp domain [qualifiedname=PATTERN] [confignode=PATTERN] [description=PATTERN] "
     "[domain=FQDN] [format=table|csv];",
     "Shows the session's domain and the domains below it."},
    {NULL, NULL, OOMGR_PRIV_NONE, 0, NULL, NULL, NULL, NULL, NULL},
};
