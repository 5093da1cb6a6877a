/*
 * account.c - insert, modify, delete and disp of accounts: person, room,
 * equipment.
 *
 * "insert person username=username password=password uanode=node;" is
 * the Installation Guide's test user, and works as written. A person is
 * named by username=, a room or a piece of equipment by name=; either may
 * be name@fqdn to work in another domain the session administers.
 *
 * Passwords are hashed before the transaction (several at a time in a
 * script: batch.c); they are secret keys, never logged nor kept in the
 * history.
 */
/* System. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* libofc. */
#include "dir_account.h"
#include "dir_object.h"
#include "ofc_mem.h"
#include "ofc_password.h"

/* This program. */
#include "oomgr.h"

struct account_kind {
    const char *object; /* the statement's object */
    enum dir_class class;
    enum dir_account_class account_class;
    const char *key; /* the key that names one */
};

static const struct account_kind kinds[] = {
    {"person", DIR_CLASS_PERSON, DIR_ACCOUNT_PERSON, "username"},
    {"room", DIR_CLASS_ROOM, DIR_ACCOUNT_ROOM, "name"},
    {"equipment", DIR_CLASS_EQUIPMENT, DIR_ACCOUNT_EQUIPMENT, "name"},
};

static const struct account_kind *kind_of(const struct oomgr_call *call)
{
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcasecmp(kinds[i].object, call->st->def->object) == 0)
            return &kinds[i];
    return &kinds[0];
}

/* quota= as bytes (< 0: no limit). Returns 0, or -1 with *error_r. */
static int quota_arg(struct oomgr_call *call, long long *bytes_r, char **error_r)
{
    const char *q = oomgr_arg(call->st, "quota");
    if (oomgr_size_parse(q, bytes_r) == 0)
        return 0;
    call->om->current_line = oomgr_arg_line(call->st, "quota");
    *error_r =
        ofc_xasprintf("quota must be a size such as 500M or 2G (K, M, G, T: powers of 1024), "
                      "or unlimited, not '%s'",
                      q);
    return -1;
}

/*
 * The password's hash: computed before the transaction when possible,
 * else now. "" means none (*hash_r NULL). Returns 0, or -1 with *error_r.
 */
static int password_hash(struct oomgr_call *call, char **hash_r, char **error_r)
{
    const char *pw = oomgr_arg(call->st, "password");
    const char *ready = oomgr_arg_hash(call->st, "password");
    *hash_r = NULL;
    if (pw == NULL || pw[0] == '\0')
        return 0;
    if (ready != NULL) {
        *hash_r = ofc_xstrdup(ready);
        return 0;
    }
    return ofc_password_hash(pw, hash_r, error_r);
}

/* roles= and role= say the same; one of them at most. */
static int roles_arg(struct oomgr_call *call, const char **roles_r, char **error_r)
{
    const char *roles = oomgr_arg(call->st, "roles");
    const char *role = oomgr_arg(call->st, "role");
    if (roles != NULL && role != NULL) {
        call->om->current_line = oomgr_arg_line(call->st, "role");
        *error_r = ofc_xstrdup("give role= or roles=, not both");
        return -1;
    }
    *roles_r = roles != NULL ? roles : role;
    return 0;
}

static int run_insert_account(struct oomgr_call *call, char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    const struct account_kind *kind = kind_of(call);
    struct oomgr_dir_target t;
    long long node_id = call->om->session->node_id;
    long long quota = -1, id = 0;
    const char *roles = NULL;
    char *hash = NULL;
    int rc = -1;

    if (oomgr_dir_target(call, kind->key, &t, error_r) < 0)
        return -1;
    /* Everything that can be checked without writing, first. */
    if (oomgr_arg(st, "uanode") != NULL) {
        call->om->current_line = oomgr_arg_line(st, "uanode");
        if (oomgr_dir_node(call, oomgr_arg(st, "uanode"), &node_id, error_r) < 0)
            goto out;
    }
    if (oomgr_arg(st, "quota") != NULL && quota_arg(call, &quota, error_r) < 0)
        goto out;
    if (roles_arg(call, &roles, error_r) < 0)
        goto out;
    if (kind->class == DIR_CLASS_PERSON && oomgr_arg(st, "password")[0] == '\0') {
        call->om->current_line = oomgr_arg_line(st, "password");
        *error_r = ofc_xstrdup("a person needs a password (password= is empty)");
        goto out;
    }
    call->om->current_line = st->line;
    if (password_hash(call, &hash, error_r) < 0)
        goto out;

    struct dir_account_new acct = {
        .class = kind->account_class,
        .domain_id = t.domain_id,
        .name = t.name,
        .description = oomgr_arg(st, "description"),
        .home_node_id = node_id,
        .password_hash = hash,
        .quota_bytes = quota,
        .first_name = oomgr_arg(st, "firstname"),
        .last_name = oomgr_arg(st, "lastname"),
    };
    if (dir_account_create(call->db, &acct, &id, error_r) < 0)
        goto out;
    /* References by name: resolved (and refused when unknown) by the modify verb. */
    struct dir_account_change chg = DIR_ACCOUNT_CHANGE_INIT;
    chg.location = oomgr_arg(st, "location");
    chg.organization = oomgr_arg(st, "organization");
    chg.manager = oomgr_arg(st, "manager");
    chg.roles = roles;
    if ((chg.location != NULL || chg.organization != NULL || chg.manager != NULL ||
         chg.roles != NULL) &&
        dir_account_modify(call->db, id, &chg, error_r) < 0)
        goto out;
    char *address = ofc_xasprintf("%s@%s", t.name, t.fqdn);
    oomgr_dir_done(call, "Inserted", address);
    free(address);
    rc = 0;
out:
    free(hash);
    oomgr_dir_target_clear(&t);
    return rc;
}

/* The keys modify takes besides the name and the domain: at least one is needed. */
static const char *const modify_keys[] = {
    "newname",  "password",     "uanode",  "firstname", "lastname", "description", "quota",
    "location", "organization", "manager", "roles",     "role",     "disabled",
};

static int run_modify_account(struct oomgr_call *call, char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    const struct account_kind *kind = kind_of(call);
    struct oomgr_dir_target t;
    struct dir_object obj;
    struct dir_account_change chg = DIR_ACCOUNT_CHANGE_INIT;
    char *hash = NULL;
    int rc = -1;
    bool any = false;

    for (size_t i = 0; i < sizeof(modify_keys) / sizeof(modify_keys[0]); i++)
        any = any || oomgr_arg_given(st, modify_keys[i]);
    if (!any) {
        *error_r = ofc_xasprintf("modify %s: nothing to change (help modify %s; lists the keys)",
                                 kind->object, kind->object);
        return -1;
    }
    if (oomgr_dir_target(call, kind->key, &t, error_r) < 0)
        return -1;
    if (oomgr_dir_find(call, &t, kind->class, &obj, error_r) < 0) {
        oomgr_dir_target_clear(&t);
        return -1;
    }
    if (oomgr_arg(st, "quota") != NULL) {
        if (quota_arg(call, &chg.quota_bytes, error_r) < 0)
            goto out;
        chg.set_quota = true;
    }
    if (roles_arg(call, &chg.roles, error_r) < 0)
        goto out;
    call->om->current_line = st->line;
    if (oomgr_arg(st, "password") != NULL) {
        if (password_hash(call, &hash, error_r) < 0)
            goto out;
        /* "" (no hash) removes the password: the account can no longer log in. */
        chg.password = hash != NULL ? NULL : "";
        chg.password_hash = hash;
    }
    chg.first_name = oomgr_arg(st, "firstname");
    chg.last_name = oomgr_arg(st, "lastname");
    chg.description = oomgr_arg(st, "description");
    chg.home_node = oomgr_arg(st, "uanode");
    chg.location = oomgr_arg(st, "location");
    chg.organization = oomgr_arg(st, "organization");
    chg.manager = oomgr_arg(st, "manager");
    if (oomgr_arg(st, "disabled") != NULL)
        chg.disabled = strcasecmp(oomgr_arg(st, "disabled"), "yes") == 0 ? 1 : 0;
    if (dir_account_modify(call->db, obj.id, &chg, error_r) < 0)
        goto out;
    if (oomgr_arg(st, "newname") != NULL) {
        call->om->current_line = oomgr_arg_line(st, "newname");
        if (dir_object_modify(call->db, obj.id, oomgr_arg(st, "newname"), NULL, error_r) < 0)
            goto out;
    }
    oomgr_dir_done(call, "Modified", obj.address);
    rc = 0;
out:
    free(hash);
    dir_object_clear(&obj);
    oomgr_dir_target_clear(&t);
    return rc;
}

static int run_delete_account(struct oomgr_call *call, char **error_r)
{
    const struct account_kind *kind = kind_of(call);
    struct oomgr_dir_target t;
    struct dir_object obj;
    long long deleted = 0;
    int rc = -1;

    if (oomgr_dir_target(call, kind->key, &t, error_r) < 0)
        return -1;
    if (oomgr_dir_find(call, &t, kind->class, &obj, error_r) < 0) {
        oomgr_dir_target_clear(&t);
        return -1;
    }
    if (obj.id == call->om->session->account_id) {
        *error_r = ofc_xasprintf("cannot delete %s: this session is logged in as it", obj.address);
        goto out;
    }
    if (dir_object_delete(call->db, obj.id, oomgr_arg_given(call->st, "cascade"), &deleted,
                          error_r) < 0)
        goto out;
    oomgr_dir_done(call, "Deleted", obj.address);
    rc = 0;
out:
    dir_object_clear(&obj);
    oomgr_dir_target_clear(&t);
    return rc;
}

static const struct oomgr_column person_columns[] = {
    {"Username", OOMGR_LEFT},     {"First Name", OOMGR_LEFT}, {"Last Name", OOMGR_LEFT},
    {"Node", OOMGR_LEFT},         {"Quota", OOMGR_RIGHT},     {"Location", OOMGR_LEFT},
    {"Organization", OOMGR_LEFT}, {"Manager", OOMGR_LEFT},    {"Roles", OOMGR_LEFT},
    {"Description", OOMGR_LEFT},
};

static const struct oomgr_column resource_columns[] = {
    {"Name", OOMGR_LEFT},     {"Node", OOMGR_LEFT},         {"Quota", OOMGR_RIGHT},
    {"Location", OOMGR_LEFT}, {"Organization", OOMGR_LEFT}, {"Description", OOMGR_LEFT},
};

/* The filter keys of disp and the attribute each selects on (dir_object.h). */
static const struct {
    const char *key;
    const char *attribute;
} filter_keys[] = {
    {"username", "name"},
    {"name", "name"},
    {"firstname", "firstname"},
    {"lastname", "lastname"},
    {"uanode", "uanode"},
    {"location", "location"},
    {"organization", "organization"},
    {"manager", "manager"},
    {"role", "role"},
    {"description", "description"},
};
#define NFILTER_KEYS (sizeof(filter_keys) / sizeof(filter_keys[0]))

static int run_disp_account(struct oomgr_call *call, char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    const struct account_kind *kind = kind_of(call);
    struct oomgr_dir_target t;
    struct dir_filter filters[NFILTER_KEYS];
    size_t nfilters = 0;
    struct dir_account_info *list = NULL;
    size_t n = 0;

    if (oomgr_dir_target(call, NULL, &t, error_r) < 0)
        return -1;
    for (size_t i = 0; i < NFILTER_KEYS; i++) {
        const char *v = oomgr_arg(st, filter_keys[i].key);
        if (v == NULL)
            continue;
        filters[nfilters].attribute = filter_keys[i].attribute;
        filters[nfilters].pattern = v;
        nfilters++;
    }
    struct dir_query q = {
        .domain_id = t.domain_id,
        .class = kind->class,
        .filters = filters,
        .nfilters = nfilters,
    };
    if (dir_account_list(call->db, &q, &list, &n, error_r) < 0) {
        oomgr_dir_target_clear(&t);
        return -1;
    }
    bool person = kind->class == DIR_CLASS_PERSON;
    struct oomgr_table *tab =
        person ? oomgr_table_new(person_columns, sizeof(person_columns) / sizeof(*person_columns))
               : oomgr_table_new(resource_columns,
                                 sizeof(resource_columns) / sizeof(*resource_columns));
    for (size_t i = 0; i < n; i++) {
        const struct dir_account_info *a = &list[i];
        char *quota = oomgr_size_format(a->quota_bytes);
        if (person) {
            const char *row[] = {a->obj.name, a->first_name,     a->last_name,    a->home_node,
                                 quota,       a->location,       a->organization, a->manager,
                                 a->roles,    a->obj.description};
            oomgr_table_add(tab, row);
        } else {
            const char *row[] = {a->obj.name, a->home_node,    quota,
                                 a->location, a->organization, a->obj.description};
            oomgr_table_add(tab, row);
        }
        free(quota);
    }
    oomgr_table_print(tab, oomgr_stmt_format(st), &call->out);
    oomgr_table_free(&tab);
    dir_account_info_free_list(&list, n);
    oomgr_dir_target_clear(&t);
    return 0;
}

/* ---- keys ------------------------------------------------------------------ */

#define KEY_END                                                                                    \
    {                                                                                              \
        NULL, 0, 0, 0, NULL, NULL                                                                  \
    }
#define KEY(name, flags, help)                                                                     \
    {                                                                                              \
        name, flags, 0, 0, NULL, help                                                              \
    }
#define KEY_DOMAIN KEY("domain", 0, "work in this domain instead of the session's")
#define KEY_SECRET (OOMGR_KEY_SECRET | OOMGR_KEY_HASH)
#define KEY_NAMED  (OOMGR_KEY_REQUIRED | OOMGR_KEY_POSITIONAL)

static const struct oomgr_key insert_person_keys[] = {
    KEY("username", KEY_NAMED, "the account's name (NAME or NAME@FQDN); its address is NAME@FQDN"),
    KEY("password", KEY_SECRET | OOMGR_KEY_REQUIRED, "its password (stored as a yescrypt hash)"),
    KEY("uanode", 0, "its home node, which holds the mailboxes; default: this node"),
    KEY("firstname", 0, "first name"),
    KEY("lastname", 0, "last name"),
    KEY("description", 0, "free text"),
    KEY("quota", 0, "mailbox quota: 500M, 2G, ... or unlimited (the default)"),
    KEY("location", 0, "a location (NAME or NAME@FQDN)"),
    KEY("organization", 0, "an organization"),
    KEY("manager", 0, "the person's manager, a person"),
    KEY("roles", 0, "roles, comma-separated"),
    KEY("role", 0, "the same as roles"),
    KEY_DOMAIN,
    KEY_END,
};

static const struct oomgr_key insert_resource_keys[] = {
    KEY("name", KEY_NAMED, "its name (NAME or NAME@FQDN)"),
    KEY("password", KEY_SECRET, "a password, for a delegate to log in; default: none"),
    KEY("uanode", 0, "its home node; default: this node"),
    KEY("description", 0, "free text"),
    KEY("quota", 0, "mailbox quota: 500M, 2G, ... or unlimited (the default)"),
    KEY("location", 0, "a location"),
    KEY("organization", 0, "an organization"),
    KEY_DOMAIN,
    KEY_END,
};

static const struct oomgr_key modify_person_keys[] = {
    KEY("username", KEY_NAMED, "the person (NAME or NAME@FQDN)"),
    KEY("newname", 0, "renames it (its address changes)"),
    KEY("password", KEY_SECRET, "a new password; \"\" removes it (no more logins)"),
    KEY("uanode", 0, "a new home node"),
    KEY("firstname", 0, "first name"),
    KEY("lastname", 0, "last name"),
    KEY("description", 0, "free text"),
    KEY("quota", 0, "mailbox quota: 500M, 2G, ... or unlimited"),
    KEY("location", 0, "a location; \"\" clears it"),
    KEY("organization", 0, "an organization; \"\" clears it"),
    KEY("manager", 0, "a person; \"\" clears it"),
    KEY("roles", 0, "the roles, comma-separated, replacing those it has; \"\" removes all"),
    KEY("role", 0, "the same as roles"),
    {"disabled", 0, 0, 0, "yes|no", "yes: it can no longer log in; no: it can again"},
    KEY_DOMAIN,
    KEY_END,
};

static const struct oomgr_key modify_resource_keys[] = {
    KEY("name", KEY_NAMED, "the account (NAME or NAME@FQDN)"),
    KEY("newname", 0, "renames it"),
    KEY("password", KEY_SECRET, "a new password; \"\" removes it"),
    KEY("uanode", 0, "a new home node"),
    KEY("description", 0, "free text"),
    KEY("quota", 0, "mailbox quota: 500M, 2G, ... or unlimited"),
    KEY("location", 0, "a location; \"\" clears it"),
    KEY("organization", 0, "an organization; \"\" clears it"),
    {"disabled", 0, 0, 0, "yes|no", "yes: it can no longer log in; no: it can again"},
    KEY_DOMAIN,
    KEY_END,
};

static const struct oomgr_key delete_person_keys[] = {
    KEY("username", KEY_NAMED, "the person (NAME or NAME@FQDN)"),
    KEY("cascade", OOMGR_KEY_FLAG,
        "also delete aliases that point to it and drop it from lists and as a manager"),
    KEY_DOMAIN,
    KEY_END,
};

static const struct oomgr_key delete_resource_keys[] = {
    KEY("name", KEY_NAMED, "the account (NAME or NAME@FQDN)"),
    KEY("cascade", OOMGR_KEY_FLAG, "also delete aliases that point to it, drop it from lists"),
    KEY_DOMAIN,
    KEY_END,
};

static const struct oomgr_key disp_person_keys[] = {
    KEY("username", OOMGR_KEY_POSITIONAL, "only these usernames; wildcards * and ?"),
    KEY("firstname", 0, "only matching first names (wildcards; any case)"),
    KEY("lastname", 0, "only matching last names"),
    KEY("uanode", 0, "only persons of these home nodes"),
    KEY("location", 0, "only persons of these locations"),
    KEY("organization", 0, "only persons of these organizations"),
    KEY("manager", 0, "only persons with these managers"),
    KEY("role", 0, "only persons holding these roles"),
    KEY("description", 0, "only matching descriptions"),
    KEY_DOMAIN,
    OOMGR_KEY_FORMAT,
    KEY_END,
};

static const struct oomgr_key disp_resource_keys[] = {
    KEY("name", OOMGR_KEY_POSITIONAL, "only these names; wildcards * and ?"),
    KEY("uanode", 0, "only these home nodes"),
    KEY("location", 0, "only these locations"),
    KEY("organization", 0, "only these organizations"),
    KEY("description", 0, "only matching descriptions"),
    KEY_DOMAIN,
    OOMGR_KEY_FORMAT,
    KEY_END,
};

#define DIR_FLAGS (OOMGR_STMT_TX | OOMGR_STMT_BATCH)

/* clang-format off */
#define RESOURCE_STMTS(obj, Obj)                                                                   \
    {"insert", obj, OOMGR_PRIV_LOGIN, DIR_FLAGS, insert_resource_keys, run_insert_account, NULL,   \
     "insert " obj " name=NAME [password=P] [uanode=NODE] [quota=SIZE] [location=L] "             \
     "[organization=O] [description=TEXT] [domain=FQDN];",                                         \
     "Creates a " Obj " account with its Inbox."},                                                 \
    {"modify", obj, OOMGR_PRIV_LOGIN, DIR_FLAGS, modify_resource_keys, run_modify_account, NULL,   \
     "modify " obj " name=NAME [newname=N] [password=P] [uanode=NODE] [quota=SIZE] "              \
     "[location=L] [organization=O] [description=TEXT] [disabled=yes|no] [domain=FQDN];",         \
     "Changes a " Obj " account."},                                                                \
    {"delete", obj, OOMGR_PRIV_LOGIN, DIR_FLAGS, delete_resource_keys, run_delete_account, NULL,   \
     "delete " obj " name=NAME [cascade] [domain=FQDN];",                                          \
     "Deletes a " Obj " account and its mailboxes."},                                              \
    {"disp", obj, OOMGR_PRIV_LOGIN, DIR_FLAGS, disp_resource_keys, run_disp_account, NULL,         \
     "disp " obj " [name=PATTERN] [uanode=P] [location=P] [organization=P] [description=P] "       \
     "[domain=FQDN] [format=table|csv];",                                                          \
     "Shows " Obj " accounts."}

const struct oomgr_stmt_def oomgr_account_stmts[] = {
    {"insert", "person", OOMGR_PRIV_LOGIN, DIR_FLAGS, insert_person_keys, run_insert_account, NULL,
     "insert person username=NAME password=P [uanode=NODE] [firstname=F] [lastname=L] "
     "[quota=SIZE] [location=L] [organization=O] [manager=M] [roles=R,...] [description=TEXT] "
     "[domain=FQDN];",
     "Creates a person's account with its Inbox and standard folders."},
    {"modify", "person", OOMGR_PRIV_LOGIN, DIR_FLAGS, modify_person_keys, run_modify_account, NULL,
     "modify person username=NAME [newname=N] [password=P] [uanode=NODE] [firstname=F] "
     "[lastname=L] [quota=SIZE] [location=L] [organization=O] [manager=M] [roles=R,...] "
     "[description=TEXT] [disabled=yes|no] [domain=FQDN];",
     "Changes a person's account."},
    {"delete", "person", OOMGR_PRIV_LOGIN, DIR_FLAGS, delete_person_keys, run_delete_account, NULL,
     "delete person username=NAME [cascade] [domain=FQDN];",
     "Deletes a person's account and mailboxes; refused while others refer to it."},
    {"disp", "person", OOMGR_PRIV_LOGIN, DIR_FLAGS, disp_person_keys, run_disp_account, NULL,
     "disp person [username=PATTERN] [firstname=P] [lastname=P] [uanode=P] [location=P] "
     "[organization=P] [manager=P] [role=P] [description=P] [domain=FQDN] [format=table|csv];",
     "Shows persons of the session's domain; wildcards * and ? in the patterns."},
    RESOURCE_STMTS("room", "room"),
    RESOURCE_STMTS("equipment", "equipment"),
    {NULL, NULL, OOMGR_PRIV_NONE, 0, NULL, NULL, NULL, NULL, NULL},
};
/* clang-format on */
