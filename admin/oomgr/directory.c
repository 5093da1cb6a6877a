/*
 * directory.c - what the directory statements (domain.c, account.c,
 * object.c) share: which domain a statement works in and whether the
 * session may, node names, sizes, wildcards, and the "... successfully."
 * lines.
 *
 * The statements themselves call libofc's directory verbs (dir_*.h),
 * which hold all the SQL and find expected user errors before a failing
 * statement could abort a transaction that a whole batch shares.
 */
/* System. */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Libraries. */
#include <libpq-fe.h>

/* libofc. */
#include "dir_domain.h"
#include "dir_object.h"
#include "ofc_db.h"
#include "ofc_mem.h"

/* This program. */
#include "oomgr.h"

char *oomgr_upper(const char *s)
{
    char *u = ofc_xstrdup(s);
    for (char *p = u; *p != '\0'; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    return u;
}

void oomgr_dir_target_clear(struct oomgr_dir_target *t)
{
    free(t->fqdn);
    free(t->name);
    memset(t, 0, sizeof(*t));
}

/* The class as the statements call it, for messages. */
static const char *class_word(enum dir_class class)
{
    switch (class) {
    case DIR_CLASS_PERSON:
        return "person";
    case DIR_CLASS_ROOM:
        return "room";
    case DIR_CLASS_EQUIPMENT:
        return "equipment";
    case DIR_CLASS_ALIAS:
        return "alias";
    case DIR_CLASS_DL:
        return "distribution list";
    case DIR_CLASS_LOCATION:
        return "location";
    case DIR_CLASS_ORGANIZATION:
        return "organization";
    case DIR_CLASS_ROLE:
        return "role";
    case DIR_CLASS_PUBLIC_TEMPLATE:
        return "public template";
    case DIR_CLASS_PRIVATE_TEMPLATE:
        return "private template";
    case DIR_CLASS_ANY:
        break;
    }
    return "object";
}

int oomgr_dir_require_admin(struct oomgr_call *call, long long domain_id, const char *fqdn,
                            char **error_r)
{
    struct oomgr_tx_cache *c = &call->om->cache;
    struct oomgr_session *s = call->om->session;
    bool yes = false;
    size_t i;

    for (i = 0; i < c->nadmin && c->admin_domain[i] != domain_id; i++)
        ;
    if (i < c->nadmin) {
        yes = c->admin_yes[i];
    } else {
        if (dir_domain_administers(call->db, s->account_id, domain_id, &yes, error_r) < 0)
            return -1;
        if (c->nadmin == c->admin_cap) {
            c->admin_cap = c->admin_cap == 0 ? 8 : c->admin_cap * 2;
            c->admin_domain = ofc_xrealloc(c->admin_domain, c->admin_cap * sizeof(long long));
            c->admin_yes = ofc_xrealloc(c->admin_yes, c->admin_cap * sizeof(bool));
        }
        c->admin_domain[c->nadmin] = domain_id;
        c->admin_yes[c->nadmin] = yes;
        c->nadmin++;
    }
    if (yes)
        return 0;
    char *upper = oomgr_upper(fqdn);
    *error_r =
        ofc_xasprintf("insufficient privileges: %s does not administer domain %s", s->login, upper);
    free(upper);
    return -1;
}

int oomgr_dir_target(struct oomgr_call *call, const char *key, struct oomgr_dir_target *t,
                     char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    struct oomgr_session *s = call->om->session;
    const char *value = key != NULL ? oomgr_arg(st, key) : NULL;
    const char *domain = oomgr_arg(st, "domain");
    const char *at = value != NULL ? strrchr(value, '@') : NULL;
    const char *why;

    memset(t, 0, sizeof(*t));
    if (value != NULL) {
        call->om->current_line = oomgr_arg_line(st, key);
        t->name = at != NULL ? ofc_xstrndup(value, (size_t)(at - value)) : ofc_xstrdup(value);
        if (!dir_object_name_valid(t->name, &why)) {
            *error_r = ofc_xasprintf("invalid name '%s': %s", value, why);
            goto fail;
        }
    }
    const char *fqdn = at != NULL ? at + 1 : domain;
    if (at != NULL && domain != NULL) {
        char *a = NULL, *b = NULL;
        bool same = dir_domain_normalize(at + 1, &a, &why) == 0 &&
                    dir_domain_normalize(domain, &b, &why) == 0 && strcmp(a, b) == 0;
        free(a);
        free(b);
        if (!same) {
            *error_r =
                ofc_xasprintf("%s names domain %s, but domain= says %s", value, at + 1, domain);
            goto fail;
        }
    }
    if (fqdn == NULL) {
        t->domain_id = s->domain_id;
        t->fqdn = ofc_xstrdup(s->fqdn);
    } else {
        struct dir_domain d;
        if (at == NULL)
            call->om->current_line = oomgr_arg_line(st, "domain");
        int found = dir_domain_find(call->db, fqdn, &d, error_r);
        if (found < 0)
            goto fail;
        if (found == 0) {
            *error_r = ofc_xasprintf("unknown domain '%s'", fqdn);
            goto fail;
        }
        t->domain_id = d.id;
        t->fqdn = ofc_xstrdup(d.fqdn);
        dir_domain_clear(&d);
    }
    if (oomgr_dir_require_admin(call, t->domain_id, t->fqdn, error_r) < 0)
        goto fail;
    return 0;
fail:
    oomgr_dir_target_clear(t);
    return -1;
}

int oomgr_dir_node(struct oomgr_call *call, const char *name, long long *id_r, char **error_r)
{
    struct oomgr_tx_cache *c = &call->om->cache;
    char *upper = oomgr_upper(name);
    for (size_t i = 0; i < c->nnode; i++) {
        if (strcmp(c->node_name[i], upper) == 0) {
            *id_r = c->node_id[i];
            free(upper);
            return 0;
        }
    }
    const char *const p[] = {upper};
    PGresult *res = ofc_db_query(call->db, "SELECT id FROM node WHERE name = $1", 1, p);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot look up the node: %s", ofc_db_error(call->db));
        free(upper);
        return -1;
    }
    long long id = ofc_db_value_ll(res, 0, 0, 0);
    PQclear(res);
    if (id <= 0) {
        *error_r = ofc_xasprintf("no node named %s", name);
        free(upper);
        return -1;
    }
    if (c->nnode == c->node_cap) {
        c->node_cap = c->node_cap == 0 ? 4 : c->node_cap * 2;
        c->node_name = ofc_xrealloc(c->node_name, c->node_cap * sizeof(char *));
        c->node_id = ofc_xrealloc(c->node_id, c->node_cap * sizeof(long long));
    }
    c->node_name[c->nnode] = upper;
    c->node_id[c->nnode] = id;
    c->nnode++;
    *id_r = id;
    return 0;
}

int oomgr_dir_find(struct oomgr_call *call, const struct oomgr_dir_target *t, enum dir_class class,
                   struct dir_object *obj_r, char **error_r)
{
    int found = dir_object_find(call->db, t->domain_id, class, t->name, obj_r, error_r);
    if (found < 0)
        return -1;
    if (found == 1)
        return 0;
    /* Say what the name is when it is something else: the likelier mistake. */
    if (class != DIR_CLASS_PUBLIC_TEMPLATE) {
        struct dir_object other;
        found = dir_object_find(call->db, t->domain_id, DIR_CLASS_ANY, t->name, &other, error_r);
        if (found < 0)
            return -1;
        if (found == 1) {
            *error_r = ofc_xasprintf(
                "%s is %s %s, not %s %s", other.address,
                strchr("aeiou", class_word(other.class)[0]) ? "an" : "a", class_word(other.class),
                strchr("aeiou", class_word(class)[0]) ? "an" : "a", class_word(class));
            dir_object_clear(&other);
            return -1;
        }
    }
    *error_r = ofc_xasprintf("no %s named '%s' in %s", class_word(class), t->name, t->fqdn);
    return -1;
}

void oomgr_dir_done(struct oomgr_call *call, const char *done, const char *address)
{
    oomgr_out(call, "%s successfully.", done);
    char *desc = oomgr_stmt_describe(call->st);
    if (address != NULL)
        oomgr_log_change(call, "%s (%s)", desc, address);
    else
        oomgr_log_change(call, "%s", desc);
    free(desc);
}

/* ---- sizes and wildcards ------------------------------------------------- */

int oomgr_size_parse(const char *text, long long *bytes_r)
{
    if (strcasecmp(text, "unlimited") == 0 || strcasecmp(text, "none") == 0) {
        *bytes_r = -1;
        return 0;
    }
    const char *p = text;
    long long n = 0;
    if (!isdigit((unsigned char)*p))
        return -1;
    for (; isdigit((unsigned char)*p); p++) {
        int d = *p - '0';
        if (n > (LLONG_MAX - d) / 10)
            return -1;
        n = n * 10 + d;
    }
    long long unit = 1;
    switch (*p) {
    case 'k':
    case 'K':
        unit = 1LL << 10;
        break;
    case 'm':
    case 'M':
        unit = 1LL << 20;
        break;
    case 'g':
    case 'G':
        unit = 1LL << 30;
        break;
    case 't':
    case 'T':
        unit = 1LL << 40;
        break;
    default:
        break;
    }
    if (unit > 1)
        p++;
    if (*p == 'b' || *p == 'B')
        p++;
    if (*p != '\0' || n > LLONG_MAX / unit)
        return -1;
    *bytes_r = n * unit;
    return 0;
}

char *oomgr_size_format(long long bytes)
{
    static const char units[] = "TGMK";
    if (bytes < 0)
        return ofc_xstrdup("unlimited");
    for (int i = 0; bytes > 0 && i < 4; i++) {
        long long unit = 1LL << (10 * (4 - i));
        if (bytes % unit == 0)
            return ofc_xasprintf("%lld%c", bytes / unit, units[i]);
    }
    return ofc_xasprintf("%lld", bytes);
}

bool oomgr_wildcard_match(const char *pattern, const char *text)
{
    /* Greedy with one backtrack point: the last '*' seen. */
    const char *star = NULL, *resume = NULL;
    while (*text != '\0') {
        if (*pattern == '*') {
            star = pattern++;
            resume = text;
        } else if (*pattern == '?' || (*pattern != '\0' && tolower((unsigned char)*pattern) ==
                                                               tolower((unsigned char)*text))) {
            pattern++;
            text++;
        } else if (star != NULL) {
            pattern = star + 1;
            text = ++resume;
        } else {
            return false;
        }
    }
    while (*pattern == '*')
        pattern++;
    return *pattern == '\0';
}
