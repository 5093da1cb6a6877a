/*
 * store_folder.c - an account's folders: list, create, delete, rename,
 * subscriptions, STATUS, quota, APPEND. See store_folder.h.
 */
/* System. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libofc. */
#include "ofc_db.h"
#include "ofc_mem.h"
#include "ofc_pgarray.h"
#include "store_folder.h"
#include "store_mailbox.h"
#include "store_message.h"

/* The longest name mailbox.name allows (its CHECK). */
#define NAME_MAX_OCTETS 1024

/* The largest UID (RFC 3501 §2.3.1.1: a 32-bit value). */
#define UID_MAX 4294967295LL

static void fmt_ll(char *buf, size_t size, long long v)
{
    (void)snprintf(buf, size, "%lld", v);
}

static int db_failed(struct ofc_db *db, char **error_r, const char *what, const char *name)
{
    *error_r = ofc_xasprintf("cannot %s %s: %s", what, name, ofc_db_error(db));
    return -1;
}

/* --- List -------------------------------------------------------------------- */

void store_folder_list_free(struct store_folder **folders, size_t n)
{
    if (*folders == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free((*folders)[i].name);
        free((*folders)[i].special_use);
    }
    free(*folders);
    *folders = NULL;
}

int store_folder_list(struct ofc_db *db, long long account_id, struct store_folder **folders_r,
                      size_t *n_r, char **error_r)
{
    *folders_r = NULL;
    *n_r = 0;
    char sacct[32];
    fmt_ll(sacct, sizeof(sacct), account_id);
    const char *params[] = {sacct};
    /* COLLATE "C": byte order, the same on every cluster whatever its locale. */
    PGresult *res = ofc_db_query(db,
                                 "SELECT id, name, special_use FROM ofc.mailbox"
                                 " WHERE account_id = $1::bigint ORDER BY name COLLATE \"C\"",
                                 1, params);
    if (res == NULL)
        return db_failed(db, error_r, "list the mailboxes of account", sacct);
    int rows = PQntuples(res);
    if (rows > 0) {
        struct store_folder *f = ofc_xcalloc((size_t)rows, sizeof(*f));
        for (int i = 0; i < rows; i++) {
            f[i].id = ofc_db_value_ll(res, i, 0, 0);
            f[i].name = ofc_xstrdup(PQgetvalue(res, i, 1));
            const char *use = ofc_db_value(res, i, 2);
            f[i].special_use = use != NULL ? ofc_xstrdup(use) : NULL;
        }
        *folders_r = f;
        *n_r = (size_t)rows;
    }
    PQclear(res);
    return 0;
}

/* --- Create ---------------------------------------------------------------- */

/* The superior levels of name ("a", "a/b" for "a/b/c") as a text[] literal, or NULL. */
static char *superiors_array(const char *name)
{
    size_t n = 0;
    for (const char *p = name; *p != '\0'; p++)
        if (*p == '/')
            n++;
    if (n == 0)
        return NULL;
    char **levels = ofc_xcalloc(n, sizeof(*levels));
    size_t i = 0;
    for (const char *p = name; *p != '\0'; p++)
        if (*p == '/')
            levels[i++] = ofc_xstrndup(name, (size_t)(p - name));
    char *array = ofc_pg_text_array((const char *const *)levels, n);
    for (i = 0; i < n; i++)
        free(levels[i]);
    free(levels);
    return array;
}

/* Creates the superior levels of name that have no row. */
static int create_superiors(struct ofc_db *db, const char *sacct, const char *name, char **error_r)
{
    char *array = superiors_array(name);
    if (array == NULL)
        return 0;
    const char *params[] = {sacct, array};
    int rc = ofc_db_exec(db,
                         "INSERT INTO ofc.mailbox (account_id, name)"
                         " SELECT $1::bigint, l FROM unnest($2::text[]) AS l"
                         " ON CONFLICT (account_id, name) DO NOTHING",
                         2, params);
    free(array);
    if (rc != 0)
        return db_failed(db, error_r, "create the superior levels of mailbox", name);
    return 0;
}

int store_folder_create(struct ofc_db *db, long long account_id, const char *name,
                        const char *special_use, long long *mailbox_id_r, char **error_r)
{
    if (mailbox_id_r != NULL)
        *mailbox_id_r = 0;
    char sacct[32];
    fmt_ll(sacct, sizeof(sacct), account_id);
    const char *params[] = {sacct, name};
    /* Exists already: nothing changes, not even its superiors. */
    PGresult *res = ofc_db_query(
        db, "SELECT 1 FROM ofc.mailbox WHERE account_id = $1::bigint AND name = $2", 2, params);
    if (res == NULL)
        return db_failed(db, error_r, "look up mailbox", name);
    int exists = PQntuples(res) > 0;
    PQclear(res);
    if (exists)
        return 0;
    if (create_superiors(db, sacct, name, error_r) != 0)
        return -1;
    /* A concurrent CREATE of the same name makes ON CONFLICT return no row: "exists". */
    res = ofc_db_query(db,
                       "INSERT INTO ofc.mailbox (account_id, name) VALUES ($1::bigint, $2)"
                       " ON CONFLICT (account_id, name) DO NOTHING RETURNING id",
                       2, params);
    if (res == NULL)
        return db_failed(db, error_r, "create mailbox", name);
    int created = PQntuples(res) > 0;
    long long id = created ? ofc_db_value_ll(res, 0, 0, 0) : 0;
    PQclear(res);
    if (!created)
        return 0;
    if (special_use != NULL) {
        /* One mailbox per use and account (index mailbox_special_use): the newest wins. */
        char sid[32];
        fmt_ll(sid, sizeof(sid), id);
        const char *cparams[] = {sacct, special_use};
        const char *uparams[] = {special_use, sid};
        if (ofc_db_exec(db,
                        "UPDATE ofc.mailbox SET special_use = NULL"
                        " WHERE account_id = $1::bigint AND special_use = $2",
                        2, cparams) != 0 ||
            ofc_db_exec(db, "UPDATE ofc.mailbox SET special_use = $1 WHERE id = $2::bigint", 2,
                        uparams) != 0)
            return db_failed(db, error_r, "set the special use of mailbox", name);
    }
    if (mailbox_id_r != NULL)
        *mailbox_id_r = id;
    return 1;
}

/* --- Delete ------------------------------------------------------------------ */

int store_folder_delete(struct ofc_db *db, long long account_id, const char *name,
                        long long *mailbox_id_r, char **error_r)
{
    if (mailbox_id_r != NULL)
        *mailbox_id_r = 0;
    if (strcmp(name, "INBOX") == 0)
        return 0;
    char sacct[32];
    fmt_ll(sacct, sizeof(sacct), account_id);
    const char *params[] = {sacct, name};
    /*
     * The pointers go by ON DELETE CASCADE; the statement triggers of
     * mailbox_pointer run for them as for an EXPUNGE (refcounts, the
     * Collector queue, NOTIFY to the sessions that have it selected). A
     * delivery holding the row lock makes us wait for it, not fail.
     */
    PGresult *res = ofc_db_query(db,
                                 "DELETE FROM ofc.mailbox WHERE account_id = $1::bigint"
                                 " AND name = $2 AND name <> 'INBOX' RETURNING id",
                                 2, params);
    if (res == NULL)
        return db_failed(db, error_r, "delete mailbox", name);
    int deleted = PQntuples(res) > 0;
    if (deleted && mailbox_id_r != NULL)
        *mailbox_id_r = ofc_db_value_ll(res, 0, 0, 0);
    PQclear(res);
    return deleted;
}

/* --- Rename ------------------------------------------------------------------ */

/*
 * RENAME INBOX: a new mailbox `to` takes INBOX's messages with new UIDs,
 * and INBOX expunges them. Returns 0 (result in *result_r) or -1.
 */
static int rename_inbox(struct ofc_db *db, long long account_id, const char *to,
                        enum store_folder_rename_result *result_r, long long *mailbox_id_r,
                        char **error_r)
{
    long long inbox_id = 0, new_id = 0;
    int found = store_mailbox_find(db, account_id, "INBOX", &inbox_id, NULL, error_r);
    if (found < 0)
        return -1;
    if (found == 0) {
        *result_r = STORE_RENAME_NO_SOURCE;
        return 0;
    }
    int created = store_folder_create(db, account_id, to, NULL, &new_id, error_r);
    if (created < 0)
        return -1;
    if (created == 0) {
        *result_r = STORE_RENAME_EXISTS;
        return 0;
    }
    char sinbox[32], snew[32];
    fmt_ll(sinbox, sizeof(sinbox), inbox_id);
    fmt_ll(snew, sizeof(snew), new_id);
    const char *params[] = {sinbox, snew};
    /*
     * Lock INBOX against deliveries and expunges, copy its pointers in UID
     * order with UIDs 1..n (modseq 1: the new mailbox starts its history),
     * and move the new mailbox's uidnext past them. The UIDs copied are
     * returned for the expunge below.
     */
    PGresult *res =
        ofc_db_query(db, "SELECT 1 FROM ofc.mailbox WHERE id = $1::bigint FOR UPDATE", 1, params);
    if (res == NULL)
        return db_failed(db, error_r, "lock mailbox", "INBOX");
    PQclear(res);
    res = ofc_db_query(db,
                       "WITH src AS MATERIALIZED ("
                       "  SELECT uid, message_id, flags, keywords, internaldate,"
                       "         row_number() OVER (ORDER BY uid) AS newuid"
                       "    FROM ofc.mailbox_pointer WHERE mailbox_id = $1::bigint),"
                       " ins AS (INSERT INTO ofc.mailbox_pointer (mailbox_id, uid, message_id,"
                       "          flags, keywords, internaldate, modseq)"
                       "  SELECT $2::bigint, newuid, message_id, flags, keywords, internaldate, 1"
                       "    FROM src),"
                       " upd AS (UPDATE ofc.mailbox SET uidnext = 1 + (SELECT count(*) FROM src)"
                       "          WHERE id = $2::bigint)"
                       " SELECT uid FROM src ORDER BY uid",
                       2, params);
    if (res == NULL)
        return db_failed(db, error_r, "move the messages of INBOX to", to);
    size_t n = (size_t)PQntuples(res);
    long long *uids = n > 0 ? ofc_xcalloc(n, sizeof(*uids)) : NULL;
    for (size_t i = 0; i < n; i++)
        uids[i] = ofc_db_value_ll(res, (int)i, 0, 0);
    PQclear(res);
    long long modseq = 0;
    int rc = store_mailbox_expunge(db, inbox_id, uids, n, NULL, &modseq, error_r);
    free(uids);
    if (rc != 0)
        return -1;
    if (mailbox_id_r != NULL)
        *mailbox_id_r = new_id;
    *result_r = STORE_RENAMED;
    return 0;
}

int store_folder_rename(struct ofc_db *db, long long account_id, const char *from, const char *to,
                        enum store_folder_rename_result *result_r, long long *mailbox_id_r,
                        char **error_r)
{
    *result_r = STORE_RENAME_NO_SOURCE;
    if (mailbox_id_r != NULL)
        *mailbox_id_r = 0;
    char sacct[32];
    fmt_ll(sacct, sizeof(sacct), account_id);
    size_t flen = strlen(from), tlen = strlen(to);
    if (strcmp(to, from) == 0 || strcmp(to, "INBOX") == 0) {
        *result_r = STORE_RENAME_EXISTS;
        return 0;
    }
    if (tlen > flen && strncmp(to, from, flen) == 0 && to[flen] == '/') {
        *result_r = STORE_RENAME_INTO_ITSELF;
        return 0;
    }
    if (strcmp(from, "INBOX") == 0)
        return rename_inbox(db, account_id, to, result_r, mailbox_id_r, error_r);

    /*
     * The mailbox and its inferiors with their new names, locked. Their
     * rows keep ids (and so UIDs and UIDVALIDITY). INBOX/x renamed away
     * leaves INBOX alone: only names starting with from + '/' follow.
     */
    const char *params[] = {sacct, from, to};
    PGresult *res = ofc_db_query(db,
                                 "SELECT id, $3 || substr(name, length($2) + 1), name = $2"
                                 "  FROM ofc.mailbox WHERE account_id = $1::bigint"
                                 "   AND (name = $2 OR starts_with(name, $2 || '/'))"
                                 " ORDER BY name COLLATE \"C\" FOR UPDATE",
                                 3, params);
    if (res == NULL)
        return db_failed(db, error_r, "look up mailbox", from);
    size_t n = (size_t)PQntuples(res);
    bool has_source = false;
    long long source_id = 0;
    long long *ids = n > 0 ? ofc_xcalloc(n, sizeof(*ids)) : NULL;
    char **names = n > 0 ? ofc_xcalloc(n, sizeof(*names)) : NULL;
    bool too_long = false;
    for (size_t i = 0; i < n; i++) {
        ids[i] = ofc_db_value_ll(res, (int)i, 0, 0);
        names[i] = ofc_xstrdup(PQgetvalue(res, (int)i, 1));
        if (strlen(names[i]) > NAME_MAX_OCTETS)
            too_long = true;
        if (strcmp(PQgetvalue(res, (int)i, 2), "t") == 0) {
            has_source = true;
            source_id = ids[i];
        }
    }
    PQclear(res);
    int rc = 0;
    char *sids = NULL, *snames = NULL;
    if (!has_source) {
        *result_r = STORE_RENAME_NO_SOURCE;
        goto out;
    }
    if (too_long) {
        *result_r = STORE_RENAME_TOO_LONG;
        goto out;
    }
    sids = ofc_pg_id_array(ids, n);
    snames = ofc_pg_text_array((const char *const *)names, n);
    const char *cparams[] = {sacct, sids, snames};
    /* A new name taken by a mailbox that is not one of those moving. */
    res = ofc_db_query(db,
                       "SELECT 1 FROM ofc.mailbox WHERE account_id = $1::bigint"
                       " AND name = ANY ($3::text[]) AND id <> ALL ($2::bigint[]) LIMIT 1",
                       3, cparams);
    if (res == NULL) {
        rc = db_failed(db, error_r, "check the new names for mailbox", from);
        goto out;
    }
    bool taken = PQntuples(res) > 0;
    PQclear(res);
    if (taken) {
        *result_r = STORE_RENAME_EXISTS;
        goto out;
    }
    if (create_superiors(db, sacct, to, error_r) != 0) {
        rc = -1;
        goto out;
    }
    /*
     * The unique index on (account_id, name) is checked row by row, so
     * renaming "a/b" to "a" and "a/b/c" to "a/c" in one UPDATE could
     * collide with a name that is itself about to change. Parking every
     * row on a name no client can create (a control character and its
     * id) first makes the order irrelevant.
     */
    if (ofc_db_exec(db,
                    "UPDATE ofc.mailbox SET name = chr(1) || id::text"
                    " WHERE account_id = $1::bigint AND id = ANY ($2::bigint[])",
                    2, cparams) != 0 ||
        ofc_db_exec(db,
                    "UPDATE ofc.mailbox b SET name = n.name"
                    "  FROM unnest($2::bigint[], $3::text[]) AS n(id, name)"
                    " WHERE b.account_id = $1::bigint AND b.id = n.id",
                    3, cparams) != 0) {
        rc = db_failed(db, error_r, "rename mailbox", from);
        goto out;
    }
    if (mailbox_id_r != NULL)
        *mailbox_id_r = source_id;
    *result_r = STORE_RENAMED;
out:
    free(sids);
    free(snames);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(ids);
    return rc;
}

/* --- Status and quota ---------------------------------------------------------- */

int store_folder_status(struct ofc_db *db, long long account_id, const char *name,
                        struct store_folder_status *st, char **error_r)
{
    memset(st, 0, sizeof(*st));
    char sacct[32];
    fmt_ll(sacct, sizeof(sacct), account_id);
    const char *params[] = {sacct, name};
    /* messages and bytes are kept by the triggers; the rest is one index scan. */
    PGresult *res =
        ofc_db_query(db,
                     "SELECT b.id, b.messages, b.uidnext, b.uidvalidity, b.highestmodseq, b.bytes,"
                     "       count(p.uid) FILTER (WHERE p.uid >= b.first_recent_uid),"
                     "       count(p.uid) FILTER (WHERE p.flags & 1 = 0),"
                     "       count(p.uid) FILTER (WHERE p.flags & 8 <> 0)"
                     "  FROM ofc.mailbox b LEFT JOIN ofc.mailbox_pointer p ON p.mailbox_id = b.id"
                     " WHERE b.account_id = $1::bigint AND b.name = $2"
                     " GROUP BY b.id",
                     2, params);
    if (res == NULL)
        return db_failed(db, error_r, "read the status of mailbox", name);
    int found = PQntuples(res) > 0;
    if (found) {
        st->id = ofc_db_value_ll(res, 0, 0, 0);
        st->messages = ofc_db_value_ll(res, 0, 1, 0);
        st->uidnext = ofc_db_value_ll(res, 0, 2, 0);
        st->uidvalidity = ofc_db_value_ll(res, 0, 3, 0);
        st->highestmodseq = ofc_db_value_ll(res, 0, 4, 0);
        st->size = ofc_db_value_ll(res, 0, 5, 0);
        st->recent = ofc_db_value_ll(res, 0, 6, 0);
        st->unseen = ofc_db_value_ll(res, 0, 7, 0);
        st->deleted = ofc_db_value_ll(res, 0, 8, 0);
    }
    PQclear(res);
    return found;
}

int store_folder_quota(struct ofc_db *db, long long account_id, long long *quota_bytes_r,
                       long long *bytes_r, char **error_r)
{
    *quota_bytes_r = -1;
    *bytes_r = 0;
    char sacct[32];
    fmt_ll(sacct, sizeof(sacct), account_id);
    const char *params[] = {sacct};
    PGresult *res = ofc_db_query(db,
                                 "SELECT quota_bytes, bytes FROM ofc.account_usage"
                                 " WHERE account_id = $1::bigint",
                                 1, params);
    if (res == NULL)
        return db_failed(db, error_r, "read the quota of account", sacct);
    int found = PQntuples(res) > 0;
    if (found) {
        *quota_bytes_r = ofc_db_value_ll(res, 0, 0, -1);
        *bytes_r = ofc_db_value_ll(res, 0, 1, 0);
    }
    PQclear(res);
    return found;
}

/* --- Subscriptions -------------------------------------------------------------- */

int store_folder_subscribe(struct ofc_db *db, long long account_id, const char *name, bool on,
                           char **error_r)
{
    char sacct[32];
    fmt_ll(sacct, sizeof(sacct), account_id);
    const char *params[] = {sacct, name};
    PGresult *res = on ? ofc_db_query(db,
                                      "INSERT INTO ofc.mailbox_subscription (account_id, name)"
                                      " VALUES ($1::bigint, $2) ON CONFLICT DO NOTHING",
                                      2, params)
                       : ofc_db_query(db,
                                      "DELETE FROM ofc.mailbox_subscription"
                                      " WHERE account_id = $1::bigint AND name = $2",
                                      2, params);
    if (res == NULL)
        return db_failed(db, error_r, on ? "subscribe to" : "unsubscribe from", name);
    const char *tuples = PQcmdTuples(res);
    int changed = tuples != NULL && tuples[0] != '\0' && strcmp(tuples, "0") != 0;
    PQclear(res);
    return changed;
}

void store_folder_names_free(char ***names, size_t n)
{
    if (*names == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free((*names)[i]);
    free(*names);
    *names = NULL;
}

int store_folder_subscriptions(struct ofc_db *db, long long account_id, char ***names_r,
                               size_t *n_r, char **error_r)
{
    *names_r = NULL;
    *n_r = 0;
    char sacct[32];
    fmt_ll(sacct, sizeof(sacct), account_id);
    const char *params[] = {sacct};
    PGresult *res = ofc_db_query(db,
                                 "SELECT name FROM ofc.mailbox_subscription"
                                 " WHERE account_id = $1::bigint ORDER BY name COLLATE \"C\"",
                                 1, params);
    if (res == NULL)
        return db_failed(db, error_r, "list the subscriptions of account", sacct);
    int rows = PQntuples(res);
    if (rows > 0) {
        char **names = ofc_xcalloc((size_t)rows, sizeof(*names));
        for (int i = 0; i < rows; i++)
            names[i] = ofc_xstrdup(PQgetvalue(res, i, 0));
        *names_r = names;
        *n_r = (size_t)rows;
    }
    PQclear(res);
    return 0;
}

/* --- Append ------------------------------------------------------------------------ */

int store_folder_append(struct ofc_db *db, long long account_id, const char *name, const char *raw,
                        size_t len, const struct store_folder_append *a,
                        struct store_folder_append_result *r, char **error_r)
{
    memset(r, 0, sizeof(*r));
    char sacct[32];
    fmt_ll(sacct, sizeof(sacct), account_id);

    /*
     * Exists? (No lock yet: analysing and storing the message can take a
     * while for a big one, and deliveries to the mailbox wait for its row
     * lock.)
     */
    const char *lparams[] = {sacct, name};
    PGresult *res = ofc_db_query(db,
                                 "SELECT id, uidnext FROM ofc.mailbox"
                                 " WHERE account_id = $1::bigint AND name = $2",
                                 2, lparams);
    if (res == NULL)
        return db_failed(db, error_r, "look up mailbox", name);
    if (PQntuples(res) == 0) {
        PQclear(res);
        r->status = STORE_APPEND_NO_MAILBOX;
        return 0;
    }
    r->mailbox_id = ofc_db_value_ll(res, 0, 0, 0);
    /* uidnext only grows: a mailbox full now is full under the lock too. */
    bool full = ofc_db_value_ll(res, 0, 1, 0) > UID_MAX;
    PQclear(res);
    if (full) {
        r->status = STORE_APPEND_FULL;
        return 0;
    }

    /* The size as it will be stored: CRLF line ends (store_message.h). */
    struct ofc_strbuf canon = OFC_STRBUF_INIT;
    if (!store_is_crlf(raw, len)) {
        store_append_crlf(&canon, raw, len);
        raw = canon.data;
        len = canon.len;
    }
    int rc = -1;
    long long quota = -1, used = 0;
    if (store_folder_quota(db, account_id, &quota, &used, error_r) < 0)
        goto out;
    r->size = (long long)len;
    if (quota >= 0 && used + (long long)len > quota) {
        r->status = STORE_APPEND_OVER_QUOTA;
        rc = 0;
        goto out;
    }
    if (store_message_put_raw(db, raw, len, &r->message_id, error_r) != 0)
        goto out;

    /*
     * Now the row lock, as delivery and expunge take it: UIDs and modseqs
     * of one mailbox are handed out one transaction at a time.
     */
    char smbox[32];
    fmt_ll(smbox, sizeof(smbox), r->mailbox_id);
    const char *kparams[] = {smbox};
    res = ofc_db_query(db,
                       "SELECT uidvalidity, uidnext, highestmodseq FROM ofc.mailbox"
                       " WHERE id = $1::bigint FOR UPDATE",
                       1, kparams);
    if (res == NULL) {
        (void)db_failed(db, error_r, "lock mailbox", name);
        goto out;
    }
    if (PQntuples(res) == 0) {
        /* Deleted meanwhile: an error, so that the stored message is rolled back. */
        PQclear(res);
        *error_r = ofc_xasprintf("mailbox %s was deleted during the APPEND", name);
        goto out;
    }
    r->uidvalidity = ofc_db_value_ll(res, 0, 0, 0);
    long long uidnext = ofc_db_value_ll(res, 0, 1, 0);
    long long modseq = ofc_db_value_ll(res, 0, 2, 0) + 1;
    PQclear(res);
    if (uidnext > UID_MAX) {
        *error_r = ofc_xasprintf("mailbox %s has no UIDs left", name);
        goto out;
    }

    char suid[32], smsg[32], sflags[16], smodseq[32], sdate[32];
    fmt_ll(suid, sizeof(suid), uidnext);
    fmt_ll(smsg, sizeof(smsg), r->message_id);
    (void)snprintf(sflags, sizeof(sflags), "%d", a->flags);
    fmt_ll(smodseq, sizeof(smodseq), modseq);
    fmt_ll(sdate, sizeof(sdate), a->internaldate);
    char *kw = ofc_pg_text_array(a->keywords, a->keywords != NULL ? a->nkeywords : 0);
    const char *params[] = {smbox,  suid, smsg, sflags, kw, a->internaldate >= 0 ? sdate : NULL,
                            smodseq};
    res =
        ofc_db_query(db,
                     "WITH ins AS (INSERT INTO ofc.mailbox_pointer (mailbox_id, uid, message_id,"
                     "               flags, keywords, internaldate, modseq)"
                     "  VALUES ($1::bigint, $2::bigint, $3::bigint, $4::smallint, $5::text[],"
                     "          coalesce(to_timestamp($6::bigint), now()), $7::bigint))"
                     " UPDATE ofc.mailbox SET uidnext = $2::bigint + 1, highestmodseq = $7::bigint"
                     "  WHERE id = $1::bigint",
                     7, params);
    free(kw);
    if (res == NULL) {
        (void)db_failed(db, error_r, "append to mailbox", name);
        goto out;
    }
    PQclear(res);
    r->uid = uidnext;
    r->modseq = modseq;
    r->status = STORE_APPENDED;
    rc = 0;
out:
    ofc_strbuf_free(&canon);
    return rc;
}
