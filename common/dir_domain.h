/*
 * dir_domain.h - directory verbs for domains.
 *
 * Domains form a tree of fully-qualified names (com -> acme.com ->
 * us.acme.com), stored in lower case. Each has one configuration node (the
 * DCN that owns its directory), which also subscribes to it. A new domain
 * is always a direct child of an existing one ("insert domain
 * qualifiedname=us.acme.com" while connected to acme.com), or a root.
 *
 * Verbs that write must run inside the caller's transaction; see
 * dir_object.h for the conventions on errors.
 */
#ifndef DIR_DOMAIN_H
#define DIR_DOMAIN_H

#include <stdbool.h>
#include <stddef.h>

struct ofc_db;

struct dir_domain {
    long long id;
    long long parent_id; /* 0 for a root */
    char *fqdn;          /* lower case */
    long long confignode_id;
    char *confignode; /* the node's name ("ESNODE") */
    char *description;
};

void dir_domain_clear(struct dir_domain *domain);
/* Clears count domains, frees the array and sets *list to NULL. */
void dir_domain_free_list(struct dir_domain **list, size_t count);

/*
 * Normalises a fully-qualified domain name as the directory stores it:
 * lower case (ASCII; UTF-8 is kept as written), one trailing dot removed,
 * labels of 1 to 63 octets without white space, control characters or
 * @<>,;:"\/, at most 253 octets. Returns 0 and a heap string in *fqdn_r, or
 * -1 and a static reason in *why_r.
 */
int dir_domain_normalize(const char *fqdn, char **fqdn_r, const char **why_r)
    __attribute__((warn_unused_result));

/*
 * Creates the domain fqdn as a direct child of parent_id (0: a root
 * domain). confignode is a node name (any case); NULL takes the parent's,
 * or for a root the local node. description NULL = "". Returns 0 and the
 * id in *id_r (may be NULL), or -1 with *error_r ("us.acme.org is not
 * directly below acme.com", "a domain acme.com already exists", "no node
 * named XNODE").
 */
int dir_domain_create(struct ofc_db *db, long long parent_id, const char *fqdn,
                      const char *confignode, const char *description, long long *id_r,
                      char **error_r) __attribute__((warn_unused_result));

/*
 * Sets the description and/or the configuration node (by name) of a
 * domain; NULL keeps a value. Returns 0, or -1 with *error_r.
 */
int dir_domain_modify(struct ofc_db *db, long long id, const char *description,
                      const char *confignode, char **error_r) __attribute__((warn_unused_result));

/*
 * Deletes a domain. Without cascade a domain that has subdomains or
 * objects is refused with them named ("domain acme.com is not empty:
 * subdomains us.acme.com; objects ADMIN (PERSON), ..."). With cascade its
 * whole subtree goes: every object in it as dir_object_delete() with
 * cascade removes one (aliases elsewhere that point into it included), then
 * the domains. Returns 0 (the number of objects deleted in *deleted_r, may
 * be NULL), or -1 with *error_r.
 */
int dir_domain_delete(struct ofc_db *db, long long id, bool cascade, long long *deleted_r,
                      char **error_r) __attribute__((warn_unused_result));

/*
 * Looks a domain up by fqdn (any case, a trailing dot allowed) or by id.
 * Return 1 and fill *domain_r (clear it with dir_domain_clear()), 0 when
 * there is no such domain, -1 with *error_r.
 */
int dir_domain_find(struct ofc_db *db, const char *fqdn, struct dir_domain *domain_r,
                    char **error_r) __attribute__((warn_unused_result));
int dir_domain_get(struct ofc_db *db, long long id, struct dir_domain *domain_r, char **error_r)
    __attribute__((warn_unused_result));

/*
 * The children of parent_id (0: the roots), or with recursive all domains
 * below it, ordered by fqdn. Returns 0 and a new array in *list_r (NULL
 * when *count_r is 0; free it with dir_domain_free_list()), or -1 with
 * *error_r.
 */
int dir_domain_list(struct ofc_db *db, long long parent_id, bool recursive,
                    struct dir_domain **list_r, size_t *count_r, char **error_r)
    __attribute__((warn_unused_result));

/*
 * Whether account_id administers domain_id: it holds an admin grant on that
 * domain or on one of its ancestors. An ADMIN of acme.com administers
 * acme.com and us.acme.com, not com and not other.com. Returns 0 and the
 * answer in *yes_r, or -1 with *error_r.
 */
int dir_domain_administers(struct ofc_db *db, long long account_id, long long domain_id,
                           bool *yes_r, char **error_r) __attribute__((warn_unused_result));

/*
 * Grants account_id the administration of domain_id (and so of the domains
 * below it), or takes it back. Granting twice is harmless; revoking a grant
 * that does not exist is an error. Returns 0, or -1 with *error_r.
 */
int dir_domain_grant_admin(struct ofc_db *db, long long account_id, long long domain_id,
                           char **error_r) __attribute__((warn_unused_result));
int dir_domain_revoke_admin(struct ofc_db *db, long long account_id, long long domain_id,
                            char **error_r) __attribute__((warn_unused_result));

#endif
