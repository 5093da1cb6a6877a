/*
 * dir_template.h - directory verbs for public and private templates.
 *
 * A template is a standard message to start from (subject and body). A
 * public template belongs to a domain and everyone may use it; a private
 * template belongs to a person, lives in the person's domain, is named per
 * owner and is visible only to that person. Templates are not addresses:
 * their names do not clash with those of accounts or lists. Renaming and
 * deleting are the generic verbs of dir_object.h, whose conventions apply.
 */
#ifndef DIR_TEMPLATE_H
#define DIR_TEMPLATE_H

#include <stddef.h>

#include "dir_object.h"

struct ofc_db;

struct dir_template {
    struct dir_object obj; /* class PUBLIC_TEMPLATE or PRIVATE_TEMPLATE */
    char *subject;
    char *body;
};

void dir_template_clear(struct dir_template *tpl);
void dir_template_free_list(struct dir_template **list, size_t count);

/*
 * Creates a template: owner_id 0 makes a public one in domain_id, a person's
 * id a private one of that person (in the person's domain; domain_id is
 * then ignored). subject, body, description NULL = "". Returns 0 and the id
 * in *id_r (may be NULL), or -1 with *error_r.
 */
int dir_template_create(struct ofc_db *db, long long domain_id, long long owner_id,
                        const char *name, const char *subject, const char *body,
                        const char *description, long long *id_r, char **error_r)
    __attribute__((warn_unused_result));

/*
 * Sets the subject, body and description of template id (NULL = keep).
 * Returns 0, or -1 with *error_r.
 */
int dir_template_modify(struct ofc_db *db, long long id, const char *subject, const char *body,
                        const char *description, char **error_r)
    __attribute__((warn_unused_result));

/*
 * Finds a template by name: owner_id 0 looks among the public templates of
 * domain_id, else among the private templates of that owner. Returns 1
 * and fills *tpl_r (clear it with dir_template_clear()), 0 when there is
 * none, -1 with *error_r.
 */
int dir_template_find(struct ofc_db *db, long long domain_id, long long owner_id, const char *name,
                      struct dir_template *tpl_r, char **error_r)
    __attribute__((warn_unused_result));

/*
 * The templates viewer_id may use in domain_id: the domain's public ones and
 * the viewer's private ones (viewer_id 0: public only), by class and name.
 * Returns 0 and a new array in *list_r (NULL when *count_r is 0), or -1
 * with *error_r.
 */
int dir_template_list(struct ofc_db *db, long long domain_id, long long viewer_id,
                      struct dir_template **list_r, size_t *count_r, char **error_r)
    __attribute__((warn_unused_result));

#endif
