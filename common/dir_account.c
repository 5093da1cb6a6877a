/*
 * dir_account.c - creating accounts: object, account row, folders.
 *
 * Every statement carries its values as parameters. The checks made here
 * (name syntax) repeat the schema's CHECK constraints only to give a
 * message a person can act on; the schema stays the authority.
 */
/* System. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libofc. */
#include "dir_account.h"
#include "ofc_db.h"
#include "ofc_mem.h"

#define ACCOUNT_NAME_MAX 64

/*
 * The folders every account starts with. INBOX has no special use; the
 * others carry their RFC 6154 attribute so that clients find them
 * whatever their language calls them.
 */
static const struct {
    const char *name;
    const char *special_use; /* NULL = none */
} default_folders[] = {
    {"INBOX", NULL},      {"Drafts", "\\Drafts"}, {"Sent", "\\Sent"},
    {"Trash", "\\Trash"}, {"Junk", "\\Junk"},
};

const char *dir_account_class_name(enum dir_account_class class)
{
    switch (class) {
    case DIR_ACCOUNT_PERSON:
        return "PERSON";
    case DIR_ACCOUNT_ROOM:
        return "ROOM";
    case DIR_ACCOUNT_EQUIPMENT:
        return "EQUIPMENT";
    }
    return "PERSON";
}

bool dir_account_name_valid(const char *name, const char **why_r)
{
    const char *why = NULL;
    size_t len = name != NULL ? strlen(name) : 0;

    if (len == 0)
        why = "the name is empty";
    else if (len > ACCOUNT_NAME_MAX)
        why = "the name is longer than 64 characters";
    for (size_t i = 0; why == NULL && i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= 0x20 || c == 0x7f)
            why = "the name contains white space or a control character";
        else if (strchr("@<>,;:\"\\", c) != NULL)
            why = "the name contains one of @<>,;:\"\\";
    }
    if (why_r != NULL)
        *why_r = why;
    return why == NULL;
}

int dir_account_create(struct ofc_db *db, const struct dir_account_new *acct, long long *id_r,
                       char **error_r)
{
    const char *why;
    char domain_id[24], node_id[24], object_id[24], quota[24];

    if (!dir_account_name_valid(acct->name, &why)) {
        *error_r = ofc_xasprintf("invalid account name: %s", why);
        return -1;
    }
    (void)snprintf(domain_id, sizeof(domain_id), "%lld", acct->domain_id);
    (void)snprintf(node_id, sizeof(node_id), "%lld", acct->home_node_id);
    (void)snprintf(quota, sizeof(quota), "%lld", acct->quota_bytes);
    const char *class_name = dir_account_class_name(acct->class);

    const char *const object_params[] = {domain_id, class_name, acct->name,
                                         acct->description != NULL ? acct->description : ""};
    PGresult *res = ofc_db_query(db,
                                 "INSERT INTO ofc.dir_object (domain_id, class, name, description)"
                                 " VALUES ($1, $2, $3, $4) RETURNING id",
                                 4, object_params);
    if (res == NULL) {
        if (strcmp(ofc_db_sqlstate(db), "23505") == 0)
            *error_r = ofc_xasprintf("the name %s is already taken in that domain", acct->name);
        else
            *error_r = ofc_xasprintf("cannot create %s: %s", acct->name, ofc_db_error(db));
        return -1;
    }
    long long id = ofc_db_value_ll(res, 0, 0, -1);
    PQclear(res);
    (void)snprintf(object_id, sizeof(object_id), "%lld", id);

    const char *const account_params[] = {object_id,
                                          class_name,
                                          node_id,
                                          acct->password_hash,
                                          acct->quota_bytes >= 0 ? quota : NULL,
                                          acct->first_name != NULL ? acct->first_name : "",
                                          acct->last_name != NULL ? acct->last_name : ""};
    if (ofc_db_exec(db,
                    "INSERT INTO ofc.account (object_id, object_class, home_node_id,"
                    " password_hash, password_changed_at, quota_bytes, first_name, last_name)"
                    " VALUES ($1, $2, $3, $4::text,"
                    " CASE WHEN $4::text IS NULL THEN NULL ELSE now() END, $5, $6, $7)",
                    7, account_params) < 0) {
        *error_r = ofc_xasprintf("cannot create the account %s: %s", acct->name, ofc_db_error(db));
        return -1;
    }

    for (size_t i = 0; i < sizeof(default_folders) / sizeof(default_folders[0]); i++) {
        const char *const folder_params[] = {object_id, default_folders[i].name,
                                             default_folders[i].special_use};
        if (ofc_db_exec(db,
                        "INSERT INTO ofc.mailbox (account_id, name, special_use)"
                        " VALUES ($1, $2, $3)",
                        3, folder_params) < 0 ||
            ofc_db_exec(db,
                        "INSERT INTO ofc.mailbox_subscription (account_id, name)"
                        " VALUES ($1, $2)",
                        2, folder_params) < 0) {
            *error_r = ofc_xasprintf("cannot create the folder %s of %s: %s",
                                     default_folders[i].name, acct->name, ofc_db_error(db));
            return -1;
        }
    }
    if (id_r != NULL)
        *id_r = id;
    return 0;
}
