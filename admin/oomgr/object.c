/*
 * object.c - the directory objects that are not accounts: public aliases,
 * distribution lists, locations, organizations, roles and templates, and
 * the members of lists and groups.
 *
 *   insert|modify|delete|disp alias|dl|location|organization|role|template
 *   add|remove member MEMBER[,MEMBER...] dl=|location=|organization=|role=NAME
 *   disp member dl=|location=|organization=|role=NAME
 *
 * Objects are named by name= (NAME, or NAME@FQDN for another domain the
 * session administers). A list's members may be anything that has an
 * address (accounts, aliases, other lists, groups) or an address of
 * another domain; a location's, organization's or role's members are
 * accounts. Deleting an object others refer to is refused with the
 * referrers named, unless cascade.
 */
/* System. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* libofc. */
#include "dir_alias.h"
#include "dir_dl.h"
#include "dir_group.h"
#include "dir_object.h"
#include "dir_template.h"
#include "ofc_mem.h"

/* This program. */
#include "oomgr.h"

/* The class a statement's object stands for. */
static enum dir_class class_of(const struct oomgr_call *call)
{
    enum dir_class class = DIR_CLASS_ANY;
    (void)dir_class_parse(call->st->def->object, &class);
    return class;
}

/*
 * Calls fn for each item of a comma-separated list (blanks around items
 * dropped, empty items skipped). Stops at the first failure: returns 0, or
 * -1 with *error_r.
 */
static int each_item(const char *list,
                     int (*fn)(struct oomgr_call *, void *, const char *, char **),
                     struct oomgr_call *call, void *ctx, char **error_r)
{
    const char *p = list;
    while (*p != '\0') {
        size_t len = strcspn(p, ",");
        char *item = ofc_xstrndup(p, len);
        char *start = item;
        while (*start == ' ' || *start == '\t')
            start++;
        size_t end = strlen(start);
        while (end > 0 && (start[end - 1] == ' ' || start[end - 1] == '\t'))
            start[--end] = '\0';
        int rc = *start != '\0' ? fn(call, ctx, start, error_r) : 0;
        free(item);
        if (rc < 0)
            return -1;
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
}

/* ---- members ---------------------------------------------------------------- */

struct member_ctx {
    const struct dir_object *group; /* the list, location, organization or role */
    bool add;
};

/* One member of a list: an address or a name relative to the list's domain. */
static int dl_member(struct oomgr_call *call, void *vctx, const char *member, char **error_r)
{
    const struct member_ctx *ctx = vctx;
    return ctx->add ? dir_dl_member_add(call->db, ctx->group->id, member, error_r)
                    : dir_dl_member_remove(call->db, ctx->group->id, member, error_r);
}

/*
 * One member of a location, organization or role: an account, whose own
 * row changes (its location, organization or roles), so the session must
 * administer the account's domain too.
 */
static int group_member(struct oomgr_call *call, void *vctx, const char *member, char **error_r)
{
    const struct member_ctx *ctx = vctx;
    struct dir_object acct;
    long long id = 0;
    if (dir_object_find_ref(call->db, ctx->group->domain_id, DIR_CLASS_ANY, member, &id, error_r) <
        0)
        return -1;
    int found = dir_object_get(call->db, id, &acct, error_r);
    if (found <= 0) {
        if (found == 0)
            *error_r = ofc_xasprintf("no object named '%s'", member);
        return -1;
    }
    int rc = oomgr_dir_require_admin(call, acct.domain_id, acct.fqdn, error_r);
    if (rc == 0)
        rc = ctx->add ? dir_group_member_add(call->db, ctx->group->id, id, error_r)
                      : dir_group_member_remove(call->db, ctx->group->id, id, error_r);
    dir_object_clear(&acct);
    return rc;
}

/* Adds or removes the members of the comma-separated list to group (a DL or a group). */
static int change_members(struct oomgr_call *call, const struct dir_object *group,
                          const char *members, bool add, char **error_r)
{
    struct member_ctx ctx = {group, add};
    return each_item(members, group->class == DIR_CLASS_DL ? dl_member : group_member, call, &ctx,
                     error_r);
}

/* The keys that name the group of a member statement, and their classes. */
static const struct {
    const char *key;
    enum dir_class class;
} group_keys[] = {
    {"dl", DIR_CLASS_DL},
    {"location", DIR_CLASS_LOCATION},
    {"organization", DIR_CLASS_ORGANIZATION},
    {"role", DIR_CLASS_ROLE},
};
#define NGROUP_KEYS (sizeof(group_keys) / sizeof(group_keys[0]))

/* The list or group a member statement names, found. Returns 0, or -1 with *error_r. */
static int member_group(struct oomgr_call *call, struct dir_object *group_r, char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    size_t which = NGROUP_KEYS;
    for (size_t i = 0; i < NGROUP_KEYS; i++) {
        if (!oomgr_arg_given(st, group_keys[i].key))
            continue;
        if (which < NGROUP_KEYS) {
            call->om->current_line = oomgr_arg_line(st, group_keys[i].key);
            *error_r = ofc_xasprintf("%s member: give one of dl=, location=, organization=, "
                                     "role=, not both %s= and %s=",
                                     st->def->verb, group_keys[which].key, group_keys[i].key);
            return -1;
        }
        which = i;
    }
    if (which == NGROUP_KEYS) {
        *error_r = ofc_xasprintf("%s member: missing the list or group (dl=, location=, "
                                 "organization= or role=)",
                                 st->def->verb);
        return -1;
    }
    struct oomgr_dir_target t;
    if (oomgr_dir_target(call, group_keys[which].key, &t, error_r) < 0)
        return -1;
    int rc = oomgr_dir_find(call, &t, group_keys[which].class, group_r, error_r);
    oomgr_dir_target_clear(&t);
    return rc;
}

static int run_change_member(struct oomgr_call *call, char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    struct dir_object group;
    bool add = strcasecmp(st->def->verb, "add") == 0;

    if (member_group(call, &group, error_r) < 0)
        return -1;
    call->om->current_line = oomgr_arg_line(st, "member");
    int rc = change_members(call, &group, oomgr_arg(st, "member"), add, error_r);
    if (rc == 0)
        oomgr_dir_done(call, add ? "Added" : "Removed", group.address);
    dir_object_clear(&group);
    return rc;
}

static const struct oomgr_column member_columns[] = {
    {"Member", OOMGR_LEFT},
    {"Class", OOMGR_LEFT},
};

static int run_disp_member(struct oomgr_call *call, char **error_r)
{
    struct dir_object group;
    struct oomgr_table *tab =
        oomgr_table_new(member_columns, sizeof(member_columns) / sizeof(member_columns[0]));
    int rc = -1;

    if (member_group(call, &group, error_r) < 0) {
        oomgr_table_free(&tab);
        return -1;
    }
    if (group.class == DIR_CLASS_DL) {
        struct dir_dl_member *list = NULL;
        size_t n = 0;
        if (dir_dl_members(call->db, group.id, &list, &n, error_r) < 0)
            goto out;
        for (size_t i = 0; i < n; i++) {
            const char *row[] = {list[i].address, list[i].class == DIR_CLASS_ANY
                                                      ? "ADDRESS"
                                                      : dir_class_name(list[i].class)};
            oomgr_table_add(tab, row);
        }
        dir_dl_members_free(&list, n);
    } else {
        struct dir_object *list = NULL;
        size_t n = 0;
        if (dir_group_members(call->db, group.id, &list, &n, error_r) < 0)
            goto out;
        for (size_t i = 0; i < n; i++) {
            const char *row[] = {list[i].address, dir_class_name(list[i].class)};
            oomgr_table_add(tab, row);
        }
        dir_object_free_list(&list, n);
    }
    oomgr_table_print(tab, oomgr_stmt_format(call->st), &call->out);
    rc = 0;
out:
    oomgr_table_free(&tab);
    dir_object_clear(&group);
    return rc;
}

/* ---- aliases, lists, locations, organizations, roles ------------------------ */

static int run_insert_object(struct oomgr_call *call, char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    enum dir_class class = class_of(call);
    struct oomgr_dir_target t;
    const char *description = oomgr_arg(st, "description");
    long long id = 0;
    int rc;

    if (oomgr_dir_target(call, "name", &t, error_r) < 0)
        return -1;
    call->om->current_line = st->line;
    if (class == DIR_CLASS_ALIAS)
        rc = dir_alias_create(call->db, t.domain_id, t.name, oomgr_arg(st, "target"), description,
                              &id, error_r);
    else if (class == DIR_CLASS_DL)
        rc = dir_dl_create(call->db, t.domain_id, t.name, description, &id, error_r);
    else
        rc = dir_group_create(call->db, class, t.domain_id, t.name, description, &id, error_r);
    if (rc == 0 && oomgr_arg(st, "member") != NULL) {
        struct dir_object obj;
        int found = dir_object_get(call->db, id, &obj, error_r);
        if (found == 0)
            *error_r = ofc_xstrdup("the new object vanished");
        rc = found == 1 ? 0 : -1;
        if (rc == 0) {
            call->om->current_line = oomgr_arg_line(st, "member");
            rc = change_members(call, &obj, oomgr_arg(st, "member"), true, error_r);
            dir_object_clear(&obj);
        }
    }
    if (rc == 0) {
        char *address = ofc_xasprintf("%s@%s", t.name, t.fqdn);
        oomgr_dir_done(call, "Inserted", address);
        free(address);
    }
    oomgr_dir_target_clear(&t);
    return rc;
}

static int run_modify_object(struct oomgr_call *call, char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    enum dir_class class = class_of(call);
    const char *newname = oomgr_arg(st, "newname");
    const char *description = oomgr_arg(st, "description");
    const char *target = oomgr_arg(st, "target");
    struct oomgr_dir_target t;
    struct dir_object obj;
    int rc = 0;

    if (newname == NULL && description == NULL && target == NULL) {
        *error_r = ofc_xasprintf("modify %s: nothing to change (%s)", st->def->object,
                                 class == DIR_CLASS_ALIAS ? "newname=, target=, description="
                                                          : "newname=, description=");
        return -1;
    }
    if (oomgr_dir_target(call, "name", &t, error_r) < 0)
        return -1;
    if (oomgr_dir_find(call, &t, class, &obj, error_r) < 0) {
        oomgr_dir_target_clear(&t);
        return -1;
    }
    if (class == DIR_CLASS_ALIAS && (target != NULL || description != NULL)) {
        call->om->current_line = oomgr_arg_line(st, target != NULL ? "target" : "description");
        rc = dir_alias_modify(call->db, obj.id, target, description, error_r);
        description = NULL;
    }
    if (rc == 0 && (newname != NULL || description != NULL)) {
        call->om->current_line = oomgr_arg_line(st, newname != NULL ? "newname" : "description");
        rc = dir_object_modify(call->db, obj.id, newname, description, error_r);
    }
    if (rc == 0)
        oomgr_dir_done(call, "Modified", obj.address);
    dir_object_clear(&obj);
    oomgr_dir_target_clear(&t);
    return rc;
}

static int run_delete_object(struct oomgr_call *call, char **error_r)
{
    struct oomgr_dir_target t;
    struct dir_object obj;
    long long deleted = 0;

    if (oomgr_dir_target(call, "name", &t, error_r) < 0)
        return -1;
    if (oomgr_dir_find(call, &t, class_of(call), &obj, error_r) < 0) {
        oomgr_dir_target_clear(&t);
        return -1;
    }
    int rc = dir_object_delete(call->db, obj.id, oomgr_arg_given(call->st, "cascade"), &deleted,
                               error_r);
    if (rc == 0)
        oomgr_dir_done(call, "Deleted", obj.address);
    dir_object_clear(&obj);
    oomgr_dir_target_clear(&t);
    return rc;
}

static const struct oomgr_column alias_columns[] = {
    {"Name", OOMGR_LEFT},
    {"Target", OOMGR_LEFT},
    {"Description", OOMGR_LEFT},
};

static const struct oomgr_column object_columns[] = {
    {"Name", OOMGR_LEFT},
    {"Description", OOMGR_LEFT},
};

static int run_disp_object(struct oomgr_call *call, char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    enum dir_class class = class_of(call);
    static const char *const filter_keys[] = {"name", "description", "target"};
    struct dir_filter filters[3];
    size_t nfilters = 0;
    struct oomgr_dir_target t;
    struct dir_object *list = NULL;
    size_t n = 0;

    if (oomgr_dir_target(call, NULL, &t, error_r) < 0)
        return -1;
    for (size_t i = 0; i < 3; i++) {
        if (oomgr_arg(st, filter_keys[i]) == NULL)
            continue;
        filters[nfilters].attribute = filter_keys[i];
        filters[nfilters].pattern = oomgr_arg(st, filter_keys[i]);
        nfilters++;
    }
    struct dir_query q = {
        .domain_id = t.domain_id,
        .class = class,
        .filters = filters,
        .nfilters = nfilters,
    };
    oomgr_dir_target_clear(&t);
    if (dir_object_list(call->db, &q, &list, &n, error_r) < 0)
        return -1;
    bool alias = class == DIR_CLASS_ALIAS;
    struct oomgr_table *tab =
        alias ? oomgr_table_new(alias_columns, sizeof(alias_columns) / sizeof(alias_columns[0]))
              : oomgr_table_new(object_columns, sizeof(object_columns) / sizeof(object_columns[0]));
    for (size_t i = 0; i < n; i++) {
        if (alias) {
            const char *row[] = {list[i].name, list[i].target, list[i].description};
            oomgr_table_add(tab, row);
        } else {
            const char *row[] = {list[i].name, list[i].description};
            oomgr_table_add(tab, row);
        }
    }
    oomgr_table_print(tab, oomgr_stmt_format(st), &call->out);
    oomgr_table_free(&tab);
    dir_object_free_list(&list, n);
    return 0;
}

/* ---- templates -------------------------------------------------------------- */

/*
 * The owner= person of a private template (0 when not given), whose
 * domain the session must administer. Returns 0, or -1 with *error_r.
 */
static int template_owner(struct oomgr_call *call, const struct oomgr_dir_target *t,
                          long long *owner_r, char **error_r)
{
    const char *owner = oomgr_arg(call->st, "owner");
    struct dir_object person;
    *owner_r = 0;
    if (owner == NULL)
        return 0;
    call->om->current_line = oomgr_arg_line(call->st, "owner");
    if (dir_object_find_ref(call->db, t->domain_id, DIR_CLASS_PERSON, owner, owner_r, error_r) < 0)
        return -1;
    int found = dir_object_get(call->db, *owner_r, &person, error_r);
    if (found <= 0) {
        if (found == 0)
            *error_r = ofc_xasprintf("no person named '%s'", owner);
        return -1;
    }
    int rc = oomgr_dir_require_admin(call, person.domain_id, person.fqdn, error_r);
    dir_object_clear(&person);
    return rc;
}

/* The template t names (public, or owner's private one). Returns 0, or -1 with *error_r. */
static int find_template(struct oomgr_call *call, const struct oomgr_dir_target *t,
                         long long owner_id, struct dir_template *tpl_r, char **error_r)
{
    int found = dir_template_find(call->db, t->domain_id, owner_id, t->name, tpl_r, error_r);
    if (found < 0)
        return -1;
    if (found == 1)
        return 0;
    call->om->current_line = oomgr_arg_line(call->st, "name");
    if (owner_id > 0)
        *error_r = ofc_xasprintf("%s has no private template named '%s'",
                                 oomgr_arg(call->st, "owner"), t->name);
    else
        *error_r = ofc_xasprintf("no public template named '%s' in %s", t->name, t->fqdn);
    return -1;
}

static int run_insert_template(struct oomgr_call *call, char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    struct oomgr_dir_target t;
    long long owner = 0, id = 0;

    if (oomgr_dir_target(call, "name", &t, error_r) < 0)
        return -1;
    int rc = template_owner(call, &t, &owner, error_r);
    if (rc == 0) {
        call->om->current_line = st->line;
        rc = dir_template_create(call->db, t.domain_id, owner, t.name, oomgr_arg(st, "subject"),
                                 oomgr_arg(st, "body"), oomgr_arg(st, "description"), &id, error_r);
    }
    if (rc == 0)
        oomgr_dir_done(call, "Inserted", NULL);
    oomgr_dir_target_clear(&t);
    return rc;
}

static int run_modify_template(struct oomgr_call *call, char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    const char *newname = oomgr_arg(st, "newname");
    struct oomgr_dir_target t;
    struct dir_template tpl;
    long long owner = 0;

    if (newname == NULL && oomgr_arg(st, "subject") == NULL && oomgr_arg(st, "body") == NULL &&
        oomgr_arg(st, "description") == NULL) {
        *error_r = ofc_xstrdup("modify template: nothing to change (newname=, subject=, body=, "
                               "description=)");
        return -1;
    }
    if (oomgr_dir_target(call, "name", &t, error_r) < 0)
        return -1;
    if (template_owner(call, &t, &owner, error_r) < 0 ||
        find_template(call, &t, owner, &tpl, error_r) < 0) {
        oomgr_dir_target_clear(&t);
        return -1;
    }
    call->om->current_line = st->line;
    int rc = dir_template_modify(call->db, tpl.obj.id, oomgr_arg(st, "subject"),
                                 oomgr_arg(st, "body"), oomgr_arg(st, "description"), error_r);
    if (rc == 0 && newname != NULL) {
        call->om->current_line = oomgr_arg_line(st, "newname");
        rc = dir_object_modify(call->db, tpl.obj.id, newname, NULL, error_r);
    }
    if (rc == 0)
        oomgr_dir_done(call, "Modified", NULL);
    dir_template_clear(&tpl);
    oomgr_dir_target_clear(&t);
    return rc;
}

static int run_delete_template(struct oomgr_call *call, char **error_r)
{
    struct oomgr_dir_target t;
    struct dir_template tpl;
    long long owner = 0;

    if (oomgr_dir_target(call, "name", &t, error_r) < 0)
        return -1;
    if (template_owner(call, &t, &owner, error_r) < 0 ||
        find_template(call, &t, owner, &tpl, error_r) < 0) {
        oomgr_dir_target_clear(&t);
        return -1;
    }
    int rc = dir_object_delete(call->db, tpl.obj.id, false, NULL, error_r);
    if (rc == 0)
        oomgr_dir_done(call, "Deleted", NULL);
    dir_template_clear(&tpl);
    oomgr_dir_target_clear(&t);
    return rc;
}

static const struct oomgr_column template_columns[] = {
    {"Name", OOMGR_LEFT},    {"Type", OOMGR_LEFT},        {"Owner", OOMGR_LEFT},
    {"Subject", OOMGR_LEFT}, {"Description", OOMGR_LEFT}, {"Body", OOMGR_LEFT},
};

static bool template_matches(const struct oomgr_stmt *st, const struct dir_template *tpl)
{
    const char *name = oomgr_arg(st, "name");
    const char *subject = oomgr_arg(st, "subject");
    const char *description = oomgr_arg(st, "description");
    return (name == NULL || oomgr_wildcard_match(name, tpl->obj.name)) &&
           (subject == NULL || oomgr_wildcard_match(subject, tpl->subject)) &&
           (description == NULL || oomgr_wildcard_match(description, tpl->obj.description));
}

static int run_disp_template(struct oomgr_call *call, char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    struct oomgr_dir_target t;
    struct dir_template *list = NULL;
    size_t n = 0;
    long long owner = 0;
    char *owner_address = NULL;

    if (oomgr_dir_target(call, NULL, &t, error_r) < 0)
        return -1;
    if (template_owner(call, &t, &owner, error_r) < 0) {
        oomgr_dir_target_clear(&t);
        return -1;
    }
    /*
     * Without owner=: the domain's public templates and the session
     * account's own private ones. With it: that person's private ones.
     */
    long long viewer = owner > 0 ? owner : call->om->session->account_id;
    int rc = dir_template_list(call->db, t.domain_id, viewer, &list, &n, error_r);
    if (rc == 0) {
        struct dir_object who;
        int found = dir_object_get(call->db, viewer, &who, error_r);
        if (found < 0)
            rc = -1;
        else if (found == 1) {
            owner_address = ofc_xstrdup(who.address);
            dir_object_clear(&who);
        }
    }
    if (rc == 0) {
        struct oomgr_table *tab = oomgr_table_new(
            template_columns, sizeof(template_columns) / sizeof(template_columns[0]));
        for (size_t i = 0; i < n; i++) {
            const struct dir_template *tpl = &list[i];
            bool private_ = tpl->obj.class == DIR_CLASS_PRIVATE_TEMPLATE;
            if ((owner > 0 && !private_) || !template_matches(st, tpl))
                continue;
            const char *row[] = {tpl->obj.name,
                                 private_ ? "PRIVATE" : "PUBLIC",
                                 private_ && owner_address != NULL ? owner_address : "",
                                 tpl->subject,
                                 tpl->obj.description,
                                 tpl->body};
            oomgr_table_add(tab, row);
        }
        oomgr_table_print(tab, oomgr_stmt_format(st), &call->out);
        oomgr_table_free(&tab);
    }
    free(owner_address);
    dir_template_free_list(&list, n);
    oomgr_dir_target_clear(&t);
    return rc;
}

/* ---- keys --------------------------------------------------------------------- */

#define KEY_END                                                                                    \
    {                                                                                              \
        NULL, 0, 0, 0, NULL, NULL                                                                  \
    }
#define KEY(name, flags, help)                                                                     \
    {                                                                                              \
        name, flags, 0, 0, NULL, help                                                              \
    }
#define KEY_NAMED   (OOMGR_KEY_REQUIRED | OOMGR_KEY_POSITIONAL)
#define KEY_DOMAIN  KEY("domain", 0, "work in this domain instead of the session's")
#define KEY_NAME    KEY("name", KEY_NAMED, "its name (NAME or NAME@FQDN)")
#define KEY_CASCADE KEY("cascade", OOMGR_KEY_FLAG, "also remove what refers to it")

static const struct oomgr_key insert_alias_keys[] = {
    KEY_NAME,
    KEY("target", OOMGR_KEY_REQUIRED,
        "what it stands for: a NAME of the domain, NAME@FQDN, or any address"),
    KEY("description", 0, "free text"),
    KEY_DOMAIN,
    KEY_END,
};

static const struct oomgr_key insert_list_keys[] = {
    KEY_NAME,
    KEY("member", 0, "first members, comma-separated"),
    KEY("description", 0, "free text"),
    KEY_DOMAIN,
    KEY_END,
};

static const struct oomgr_key modify_alias_keys[] = {
    KEY_NAME,
    KEY("newname", 0, "renames it"),
    KEY("target", 0, "a new target"),
    KEY("description", 0, "free text"),
    KEY_DOMAIN,
    KEY_END,
};

static const struct oomgr_key modify_object_keys[] = {
    KEY_NAME, KEY("newname", 0, "renames it"), KEY("description", 0, "free text"), KEY_DOMAIN,
    KEY_END,
};

static const struct oomgr_key delete_object_keys[] = {
    KEY_NAME,
    KEY_CASCADE,
    KEY_DOMAIN,
    KEY_END,
};

static const struct oomgr_key disp_alias_keys[] = {
    KEY("name", OOMGR_KEY_POSITIONAL, "only these names; wildcards * and ?"),
    KEY("target", 0, "only these targets (wildcards)"),
    KEY("description", 0, "only matching descriptions"),
    KEY_DOMAIN,
    OOMGR_KEY_FORMAT,
    KEY_END,
};

static const struct oomgr_key disp_object_keys[] = {
    KEY("name", OOMGR_KEY_POSITIONAL, "only these names; wildcards * and ?"),
    KEY("description", 0, "only matching descriptions"),
    KEY_DOMAIN,
    OOMGR_KEY_FORMAT,
    KEY_END,
};

static const struct oomgr_key change_member_keys[] = {
    KEY("member", KEY_NAMED,
        "members, comma-separated: NAME, NAME@FQDN or addresses (accounts for groups)"),
    KEY("dl", 0, "the distribution list (NAME or NAME@FQDN)"),
    KEY("location", 0, "or the location"),
    KEY("organization", 0, "or the organization"),
    KEY("role", 0, "or the role"),
    KEY_DOMAIN,
    KEY_END,
};

static const struct oomgr_key disp_member_keys[] = {
    KEY("dl", 0, "the distribution list (NAME or NAME@FQDN)"),
    KEY("location", 0, "or the location"),
    KEY("organization", 0, "or the organization"),
    KEY("role", 0, "or the role"),
    KEY_DOMAIN,
    OOMGR_KEY_FORMAT,
    KEY_END,
};

static const struct oomgr_key insert_template_keys[] = {
    KEY_NAME,
    KEY("subject", 0, "the message's subject"),
    KEY("body", 0, "the message's text (\\n for a line break)"),
    KEY("description", 0, "free text"),
    KEY("owner", 0, "a person: makes it that person's private template"),
    KEY_DOMAIN,
    KEY_END,
};

static const struct oomgr_key modify_template_keys[] = {
    KEY_NAME,
    KEY("owner", 0, "the owner of a private template"),
    KEY("newname", 0, "renames it"),
    KEY("subject", 0, "a new subject"),
    KEY("body", 0, "a new text"),
    KEY("description", 0, "free text"),
    KEY_DOMAIN,
    KEY_END,
};

static const struct oomgr_key delete_template_keys[] = {
    KEY_NAME,
    KEY("owner", 0, "the owner of a private template"),
    KEY_DOMAIN,
    KEY_END,
};

static const struct oomgr_key disp_template_keys[] = {
    KEY("name", OOMGR_KEY_POSITIONAL, "only these names; wildcards * and ?"),
    KEY("subject", 0, "only matching subjects"),
    KEY("description", 0, "only matching descriptions"),
    KEY("owner", 0, "a person's private templates instead of the public ones"),
    KEY_DOMAIN,
    OOMGR_KEY_FORMAT,
    KEY_END,
};

#define DIR_FLAGS (OOMGR_STMT_TX | OOMGR_STMT_BATCH)

/* clang-format off */
#define GROUP_STMTS(obj, what)                                                                     \
    {"insert", obj, OOMGR_PRIV_LOGIN, DIR_FLAGS, insert_list_keys, run_insert_object, NULL,        \
     "insert " obj " name=NAME [member=ACCOUNT,...] [description=TEXT] [domain=FQDN];",            \
     "Creates " what "."},                                                                         \
    {"modify", obj, OOMGR_PRIV_LOGIN, DIR_FLAGS, modify_object_keys, run_modify_object, NULL,      \
     "modify " obj " name=NAME [newname=N] [description=TEXT] [domain=FQDN];",                     \
     "Renames " what " or changes its description."},                                              \
    {"delete", obj, OOMGR_PRIV_LOGIN, DIR_FLAGS, delete_object_keys, run_delete_object, NULL,      \
     "delete " obj " name=NAME [cascade] [domain=FQDN];",                                          \
     "Deletes " what "; refused while it has members, unless cascade."},                           \
    {"disp", obj, OOMGR_PRIV_LOGIN, DIR_FLAGS, disp_object_keys, run_disp_object, NULL,            \
     "disp " obj " [name=PATTERN] [description=PATTERN] [domain=FQDN] [format=table|csv];",        \
     "Shows the " obj "s of the session's domain."}

const struct oomgr_stmt_def oomgr_object_stmts[] = {
    {"insert", "alias", OOMGR_PRIV_LOGIN, DIR_FLAGS, insert_alias_keys, run_insert_object, NULL,
     "insert alias name=NAME target=ADDRESS [description=TEXT] [domain=FQDN];",
     "Creates a public alias: a nickname for an object or an address."},
    {"modify", "alias", OOMGR_PRIV_LOGIN, DIR_FLAGS, modify_alias_keys, run_modify_object, NULL,
     "modify alias name=NAME [newname=N] [target=ADDRESS] [description=TEXT] [domain=FQDN];",
     "Points an alias elsewhere, renames it or changes its description."},
    {"delete", "alias", OOMGR_PRIV_LOGIN, DIR_FLAGS, delete_object_keys, run_delete_object, NULL,
     "delete alias name=NAME [cascade] [domain=FQDN];",
     "Deletes a public alias; refused while others refer to it, unless cascade."},
    {"disp", "alias", OOMGR_PRIV_LOGIN, DIR_FLAGS, disp_alias_keys, run_disp_object, NULL,
     "disp alias [name=PATTERN] [target=PATTERN] [description=PATTERN] [domain=FQDN] "
     "[format=table|csv];",
     "Shows the public aliases of the session's domain."},
    {"insert", "dl", OOMGR_PRIV_LOGIN, DIR_FLAGS, insert_list_keys, run_insert_object, NULL,
     "insert dl name=NAME [member=MEMBER,...] [description=TEXT] [domain=FQDN];",
     "Creates a public distribution list."},
    {"modify", "dl", OOMGR_PRIV_LOGIN, DIR_FLAGS, modify_object_keys, run_modify_object, NULL,
     "modify dl name=NAME [newname=N] [description=TEXT] [domain=FQDN];",
     "Renames a distribution list or changes its description."},
    {"delete", "dl", OOMGR_PRIV_LOGIN, DIR_FLAGS, delete_object_keys, run_delete_object, NULL,
     "delete dl name=NAME [cascade] [domain=FQDN];",
     "Deletes a distribution list; refused while other lists or aliases refer to it."},
    {"disp", "dl", OOMGR_PRIV_LOGIN, DIR_FLAGS, disp_object_keys, run_disp_object, NULL,
     "disp dl [name=PATTERN] [description=PATTERN] [domain=FQDN] [format=table|csv];",
     "Shows the distribution lists of the session's domain."},
    GROUP_STMTS("location", "a location"),
    GROUP_STMTS("organization", "an organization"),
    GROUP_STMTS("role", "a role"),
    {"insert", "template", OOMGR_PRIV_LOGIN, DIR_FLAGS, insert_template_keys, run_insert_template,
     NULL,
     "insert template name=NAME [subject=TEXT] [body=TEXT] [description=TEXT] [owner=PERSON] "
     "[domain=FQDN];",
     "Creates a public template, or with owner= a person's private one."},
    {"modify", "template", OOMGR_PRIV_LOGIN, DIR_FLAGS, modify_template_keys, run_modify_template,
     NULL,
     "modify template name=NAME [owner=PERSON] [newname=N] [subject=TEXT] [body=TEXT] "
     "[description=TEXT] [domain=FQDN];",
     "Changes a template."},
    {"delete", "template", OOMGR_PRIV_LOGIN, DIR_FLAGS, delete_template_keys, run_delete_template,
     NULL, "delete template name=NAME [owner=PERSON] [domain=FQDN];", "Deletes a template."},
    {"disp", "template", OOMGR_PRIV_LOGIN, DIR_FLAGS, disp_template_keys, run_disp_template, NULL,
     "disp template [name=PATTERN] [subject=PATTERN] [description=PATTERN] [owner=PERSON] "
     "[domain=FQDN] [format=table|csv];",
     "Shows the public templates (and your private ones), or a person's private ones."},
    {"add", "member", OOMGR_PRIV_LOGIN, DIR_FLAGS, change_member_keys, run_change_member, NULL,
     "add member MEMBER[,MEMBER...] dl=|location=|organization=|role=NAME [domain=FQDN];",
     "Adds members to a distribution list (nested lists too) or accounts to a group."},
    {"remove", "member", OOMGR_PRIV_LOGIN, DIR_FLAGS, change_member_keys, run_change_member, NULL,
     "remove member MEMBER[,MEMBER...] dl=|location=|organization=|role=NAME [domain=FQDN];",
     "Removes members from a distribution list or a group."},
    {"disp", "member", OOMGR_PRIV_LOGIN, DIR_FLAGS, disp_member_keys, run_disp_member, NULL,
     "disp member dl=|location=|organization=|role=NAME [domain=FQDN] [format=table|csv];",
     "Shows the direct members of a distribution list or a group."},
    {NULL, NULL, OOMGR_PRIV_NONE, 0, NULL, NULL, NULL, NULL, NULL},
};
/* clang-format on */
