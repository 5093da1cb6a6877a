/*
 * store_deliver.c - pointers, UIDs and quota in one statement. See
 * store_deliver.h.
 *
 * Round trips, not bytes, bound delivery throughput (BASELINES.md), so a
 * delivery to any number of folders is a single CTE: find the folders, lock
 * them in id order, check each account's quota, insert the pointers with
 * consecutive UIDs from the locked uidnext values and move uidnext and
 * highestmodseq on. The statement-level triggers of mailbox_pointer then
 * add to message.refcount and to the mailbox totals (quota use) once per
 * statement.
 */
/* System. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* libofc. */
#include "dir_util.h"
#include "ofc_db.h"
#include "ofc_pgarray.h"
#include "ofc_mem.h"
#include "store_deliver.h"

/*
 * $1..$5 the targets (message, account, folder or NULL, flags, keywords as
 * an array literal per target). Result per target, in order: ord,
 * mailbox_id (NULL: no folder and no INBOX), locked (false: the folder
 * vanished before the lock), uid and modseq (NULL: not delivered), known
 * (the account exists).
 *
 * Caution: all CTEs share one snapshot, but SELECT ... FOR UPDATE returns
 * the newest version of each row it had to wait for; uidnext and
 * highestmodseq are therefore taken from `locked` only. The quota sum reads
 * the snapshot: a concurrent delivery to the same account that commits
 * while this one waits for its lock may be missed, overshooting the quota
 * by at most that message, as with any file-based store.
 */
static const char deliver_sql[] =
    "WITH t AS MATERIALIZED ("
    " SELECT t.ord, t.msg, t.acct, t.flags, t.kw, mb.id AS mailbox_id"
    "   FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::int[], $5::text[])"
    "        WITH ORDINALITY AS t(msg, acct, folder, flags, kw, ord)"
    "   LEFT JOIN LATERAL ("
    "    SELECT b.id FROM ofc.mailbox b"
    "     WHERE b.account_id = t.acct AND b.name IN (coalesce(t.folder, 'INBOX'), 'INBOX')"
    "     ORDER BY b.name <> coalesce(t.folder, 'INBOX') LIMIT 1) mb ON true),"
    " locked AS MATERIALIZED ("
    " SELECT b.id, b.uidnext, b.highestmodseq FROM ofc.mailbox b"
    "  WHERE b.id = ANY (ARRAY(SELECT mailbox_id FROM t WHERE mailbox_id IS NOT NULL))"
    "  ORDER BY b.id FOR UPDATE),"
    " ok AS MATERIALIZED ("
    " SELECT t.ord, t.msg, t.mailbox_id, t.flags, t.kw,"
    "        l.uidnext + row_number() OVER w - 1 AS uid,"
    "        l.highestmodseq + row_number() OVER w AS modseq"
    "   FROM t JOIN locked l ON l.id = t.mailbox_id"
    "  WHERE (SELECT a.quota_bytes IS NULL"
    "             OR (SELECT coalesce(sum(b.bytes), 0) FROM ofc.mailbox b"
    "                  WHERE b.account_id = t.acct)"
    "                + (SELECT m.size FROM ofc.message m WHERE m.id = t.msg)"
    "                <= a.quota_bytes"
    "           FROM ofc.account a WHERE a.object_id = t.acct)"
    " WINDOW w AS (PARTITION BY t.mailbox_id ORDER BY t.ord)),"
    " ins AS (INSERT INTO ofc.mailbox_pointer (mailbox_id, uid, message_id, flags, keywords,"
    "                                          modseq)"
    " SELECT mailbox_id, uid, msg, flags::smallint, coalesce(kw::text[], '{}'), modseq"
    "   FROM ok),"
    " upd AS (UPDATE ofc.mailbox b SET uidnext = c.uid + 1, highestmodseq = c.modseq"
    "   FROM (SELECT mailbox_id, max(uid) AS uid, max(modseq) AS modseq FROM ok"
    "          GROUP BY mailbox_id) c"
    "  WHERE b.id = c.mailbox_id AND b.id = ANY (ARRAY(SELECT mailbox_id FROM ok)))"
    " SELECT t.ord, t.mailbox_id, l.id IS NOT NULL, ok.uid, ok.modseq,"
    "        (SELECT count(*) FROM ofc.account a WHERE a.object_id = t.acct) > 0"
    "   FROM t LEFT JOIN ok ON ok.ord = t.ord"
    "   LEFT JOIN locked l ON l.id = t.mailbox_id"
    "  ORDER BY t.ord";

/* An INBOX for accounts made without one (dir_account_create makes it). */
static const char inbox_sql[] = "INSERT INTO ofc.mailbox (account_id, name)"
                                " SELECT DISTINCT a, 'INBOX' FROM unnest($1::bigint[]) AS a"
                                " WHERE EXISTS (SELECT 1 FROM ofc.account WHERE object_id = a)"
                                " ON CONFLICT (account_id, name) DO NOTHING";

const char *store_deliver_status_name(enum store_deliver_status status)
{
    switch (status) {
    case STORE_DELIVERED:
        return "delivered";
    case STORE_OVER_QUOTA:
        return "over quota";
    case STORE_NO_ACCOUNT:
        return "no such account";
    }
    return "unknown";
}

/*
 * One run of deliver_sql over the targets idx[0..n-1]. Fills their
 * results; *missing_r counts the targets that found no folder to lock
 * (their status is left STORE_NO_ACCOUNT and mailbox_id -1).
 */
static int deliver_once(struct ofc_db *db, long long message_id, const struct store_target *targets,
                        const size_t *idx, size_t n, struct store_deliver_result *results,
                        size_t *missing_r, char **error_r)
{
    *missing_r = 0;
    long long *msgs = ofc_xcalloc(n, sizeof(*msgs));
    long long *accounts = ofc_xcalloc(n, sizeof(*accounts));
    const char **folders = ofc_xcalloc(n, sizeof(*folders));
    char **kws = ofc_xcalloc(n, sizeof(*kws));
    struct ofc_strbuf flags = OFC_STRBUF_INIT;
    ofc_strbuf_putc(&flags, '{');
    for (size_t i = 0; i < n; i++) {
        const struct store_target *t = &targets[idx[i]];
        msgs[i] = t->message_id > 0 ? t->message_id : message_id;
        accounts[i] = t->account_id;
        folders[i] = t->folder;
        kws[i] = t->nkeywords > 0 ? ofc_pg_text_array(t->keywords, t->nkeywords) : NULL;
        ofc_strbuf_printf(&flags, i > 0 ? ",%d" : "%d", t->flags);
    }
    ofc_strbuf_putc(&flags, '}');
    char *smsg = ofc_pg_id_array(msgs, n);
    char *saccounts = ofc_pg_id_array(accounts, n);
    char *sfolders = ofc_pg_text_array(folders, n);
    char *skws = ofc_pg_text_array((const char *const *)kws, n);
    const char *params[] = {smsg, saccounts, sfolders, flags.data, skws};
    PGresult *res = NULL;
    if (ofc_db_prepare(db, "store_deliver", deliver_sql, 5) == 0)
        res = ofc_db_exec_prepared(db, "store_deliver", 5, params);
    free(smsg);
    free(saccounts);
    free(sfolders);
    free(skws);
    ofc_strbuf_free(&flags);
    for (size_t i = 0; i < n; i++)
        free(kws[i]);
    free(kws);
    free(folders);
    free(accounts);
    free(msgs);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot deliver: %s", ofc_db_error(db));
        return -1;
    }
    if ((size_t)PQntuples(res) != n) {
        *error_r = ofc_xasprintf("cannot deliver: %zu targets, %d results", n, PQntuples(res));
        PQclear(res);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        struct store_deliver_result *r = &results[idx[i]];
        bool has_mailbox = !PQgetisnull(res, (int)i, 1);
        bool locked = strcmp(PQgetvalue(res, (int)i, 2), "t") == 0;
        bool known = strcmp(PQgetvalue(res, (int)i, 5), "t") == 0;
        memset(r, 0, sizeof(*r));
        if (!known) {
            r->status = STORE_NO_ACCOUNT;
        } else if (!has_mailbox || !locked) {
            r->status = STORE_NO_ACCOUNT;
            r->mailbox_id = -1;
            (*missing_r)++;
        } else if (PQgetisnull(res, (int)i, 3)) {
            r->status = STORE_OVER_QUOTA;
            r->mailbox_id = ofc_db_value_ll(res, (int)i, 1, 0);
        } else {
            r->status = STORE_DELIVERED;
            r->mailbox_id = ofc_db_value_ll(res, (int)i, 1, 0);
            r->uid = ofc_db_value_ll(res, (int)i, 3, 0);
            r->modseq = ofc_db_value_ll(res, (int)i, 4, 0);
        }
    }
    PQclear(res);
    return 0;
}

int store_deliver(struct ofc_db *db, long long message_id, const struct store_target *targets,
                  size_t n, struct store_deliver_result *results_r, char **error_r)
{
    if (n == 0)
        return 0;
    size_t *idx = ofc_xcalloc(n, sizeof(*idx));
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    size_t missing = 0;
    int rc = deliver_once(db, message_id, targets, idx, n, results_r, &missing, error_r);
    if (rc == 0 && missing > 0) {
        /*
         * Rare: an account without an INBOX, or a folder deleted while we
         * waited for its lock. Make the INBOX and deliver those again;
         * a vanished folder now falls back to INBOX.
         */
        size_t m = 0;
        long long *accounts = ofc_xcalloc(missing, sizeof(*accounts));
        for (size_t i = 0; i < n; i++)
            if (results_r[i].mailbox_id == -1) {
                accounts[m] = targets[i].account_id;
                idx[m++] = i;
            }
        char *saccounts = ofc_pg_id_array(accounts, m);
        const char *params[] = {saccounts};
        rc = ofc_db_exec(db, inbox_sql, 1, params);
        free(saccounts);
        free(accounts);
        if (rc != 0) {
            *error_r = ofc_xasprintf("cannot create INBOX folders: %s", ofc_db_error(db));
        } else {
            rc = deliver_once(db, message_id, targets, idx, m, results_r, &missing, error_r);
            for (size_t i = 0; rc == 0 && i < m; i++)
                if (results_r[idx[i]].mailbox_id == -1)
                    results_r[idx[i]].mailbox_id = 0;
        }
    }
    free(idx);
    return rc;
}
