/*
 * dir_alias.h - directory verbs for public aliases.
 *
 * A public alias is a nickname in a domain's address space for an object of
 * the directory (a person, a list, another alias, ...) or for any address
 * ("jh" -> jhernandez@us.anywhere.com). Finding, renaming, listing and
 * deleting are the generic verbs of dir_object.h (struct dir_object.target
 * shows an alias's target); the conventions on transactions and errors are
 * those of dir_object.h.
 */
#ifndef DIR_ALIAS_H
#define DIR_ALIAS_H

struct ofc_db;

/*
 * Creates alias name in domain_id pointing to target: "name" (an object of
 * the same domain), "name@fqdn" (an object of that domain when fqdn is a
 * domain of the directory; an unknown name there is refused) or an
 * address of another domain, which is stored as it is. description NULL =
 * "". Returns 0 and the id in *id_r (may be NULL), or -1 with *error_r.
 */
int dir_alias_create(struct ofc_db *db, long long domain_id, const char *name, const char *target,
                     const char *description, long long *id_r, char **error_r)
    __attribute__((warn_unused_result));

/*
 * Points alias id to a new target (NULL = keep), read as in
 * dir_alias_create() relative to the alias's domain, and sets its
 * description (NULL = keep). An alias cannot point to itself (longer loops
 * are found and reported by address resolution). Returns 0, or -1 with
 * *error_r.
 */
int dir_alias_modify(struct ofc_db *db, long long id, const char *target, const char *description,
                     char **error_r) __attribute__((warn_unused_result));

#endif
