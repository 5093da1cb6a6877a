/*
 * sql.c - the statements of imap4srv's hot paths, prepared once per
 * pooled connection.
 *
 * Sent as unnamed statements they were parsed and planned at every use,
 * and that fixed cost (~0.15-0.2 ms of backend CPU each) was most of what
 * a short command costs. Named, they are parsed once per connection
 * (sps_prepare: again after a reconnect); PostgreSQL still chooses per
 * execution between a custom and the generic plan.
 *
 * Each statement's text stays here, next to its name, so that the place
 * that runs it (view.c, fetch.c, store.c, ...) says which one and this
 * table says what it is.
 */
/* System. */
#include <stddef.h>

/* libofc. */
#include "ofc_db.h"

/* Protocol. */
#include "sps.h"

/* This program. */
#include "imap4.h"

struct imap_stmt {
    const char *name;
    const char *sql;
    int nparams;
};

/* In the order of enum imap_sql_id. */
static const struct imap_stmt stmts[IMAP_SQL_COUNT] = {
    [IMAP_SQL_SYNC] = {"imap_sync",
                       /* Rows: kind 0 pointer, 1 expunged, 2 the mailbox (view.c). */
                       "SELECT 0, p.uid, p.flags, p.keywords, p.modseq FROM ofc.mailbox_pointer p"
                       " WHERE p.mailbox_id = $1::bigint AND p.modseq > $2::bigint"
                       " UNION ALL"
                       " SELECT 1, e.uid, 0, NULL, e.modseq FROM ofc.mailbox_expunged e"
                       " WHERE e.mailbox_id = $1::bigint AND e.modseq > $2::bigint"
                       " UNION ALL"
                       " SELECT 2, b.uidnext, 0, NULL, b.highestmodseq FROM ofc.mailbox b"
                       " WHERE b.id = $1::bigint"
                       " ORDER BY 1, 2",
                       2},
    [IMAP_SQL_CLAIM_RECENT] =
        {"imap_claim_recent",
         "UPDATE ofc.mailbox b SET first_recent_uid = $2::bigint"
         "  FROM (SELECT first_recent_uid FROM ofc.mailbox WHERE id = $1::bigint FOR UPDATE) o"
         " WHERE b.id = $1::bigint AND o.first_recent_uid < $2::bigint"
         " RETURNING o.first_recent_uid",
         2},
    [IMAP_SQL_MAILBOX_FIND] = {"imap_mailbox_find",
                               "SELECT id, uidvalidity FROM ofc.mailbox"
                               " WHERE account_id = $1::bigint AND name = $2",
                               2},
    [IMAP_SQL_SELECT_RO] = {"imap_select_ro",
                            "SELECT uidvalidity, uidnext, highestmodseq, first_recent_uid"
                            "  FROM ofc.mailbox WHERE id = $1::bigint FOR SHARE",
                            1},
    [IMAP_SQL_SELECT_RW] = {"imap_select_rw",
                            "UPDATE ofc.mailbox b SET first_recent_uid = b.uidnext"
                            "  FROM (SELECT id, first_recent_uid FROM ofc.mailbox"
                            "         WHERE id = $1::bigint FOR UPDATE) o"
                            " WHERE b.id = o.id"
                            " RETURNING b.uidvalidity, b.uidnext, b.highestmodseq,"
                            "           o.first_recent_uid",
                            1},
    [IMAP_SQL_SELECT_UIDS] = {"imap_select_uids",
                              "SELECT uid, flags, (keywords <> '{}')::int"
                              "  FROM ofc.mailbox_pointer"
                              " WHERE mailbox_id = $1::bigint ORDER BY uid",
                              1},
    [IMAP_SQL_KEYWORDS] = {"imap_keywords",
                           "SELECT array(SELECT DISTINCT k FROM ofc.mailbox_pointer p,"
                           "                    unnest(p.keywords) k"
                           "              WHERE p.mailbox_id = $1::bigint AND p.keywords <> '{}'"
                           "              ORDER BY k LIMIT $2::int)",
                           2},
    [IMAP_SQL_MAILBOX_LOCK] = {"imap_mailbox_lock",
                               "SELECT highestmodseq FROM ofc.mailbox"
                               " WHERE id = $1::bigint FOR UPDATE",
                               1},
    /*
     * Two statements, not one with "$2 IS NULL OR": a generic plan of
     * that would scan the whole mailbox for UID EXPUNGE too.
     */
    [IMAP_SQL_EXPUNGE_ALL] = {"imap_expunge_all",
                              "SELECT uid FROM ofc.mailbox_pointer"
                              " WHERE mailbox_id = $1::bigint AND flags & 8 <> 0",
                              1},
    [IMAP_SQL_EXPUNGE_UIDS] = {"imap_expunge_uids",
                               "SELECT uid FROM ofc.mailbox_pointer"
                               " WHERE mailbox_id = $1::bigint AND flags & 8 <> 0"
                               "   AND uid = ANY ($2::bigint[])",
                               2},
    [IMAP_SQL_STORE] =
        {"imap_store",
         /*
          * New flags and keywords per mode, computed once in `n`. Keywords
          * compare case-insensitively (RFC 3501 flags are atoms matched
          * without case); the spelling first stored stays.
          */
         "UPDATE ofc.mailbox_pointer p SET flags = n.flags, keywords = n.keywords,"
         "       modseq = $7::bigint"
         "  FROM (SELECT q.uid,"
         "          (CASE $3::text WHEN '=' THEN $4::int"
         "                         WHEN '+' THEN q.flags | $4::int"
         "                         ELSE q.flags & ~$4::int END)::smallint AS flags,"
         "          CASE $3::text WHEN '=' THEN $5::text[]"
         "               WHEN '+' THEN q.keywords || ARRAY(SELECT k FROM unnest($5::text[]) k"
         "                     WHERE lower(k) <> ALL (SELECT lower(x) FROM unnest(q.keywords) x))"
         "               ELSE ARRAY(SELECT x FROM unnest(q.keywords) WITH ORDINALITY u(x, o)"
         "                     WHERE lower(x) <> ALL (SELECT lower(k) FROM unnest($5::text[]) k)"
         "                     ORDER BY o) END AS keywords"
         "          FROM ofc.mailbox_pointer q"
         "         WHERE q.mailbox_id = $1::bigint AND q.uid = ANY ($2::bigint[])"
         "           AND ($6::bigint IS NULL OR q.modseq <= $6::bigint)) n"
         " WHERE p.mailbox_id = $1::bigint AND p.uid = n.uid"
         "   AND (p.flags <> n.flags OR p.keywords <> n.keywords)"
         " RETURNING p.uid",
         7},
    [IMAP_SQL_SET_MODSEQ] = {"imap_set_modseq",
                             "UPDATE ofc.mailbox SET highestmodseq = $2::bigint"
                             " WHERE id = $1::bigint",
                             2},
    [IMAP_SQL_FLAGS_OF] = {"imap_flags_of",
                           "SELECT uid, flags, keywords, modseq FROM ofc.mailbox_pointer"
                           " WHERE mailbox_id = $1::bigint AND uid = ANY ($2::bigint[])"
                           " ORDER BY uid",
                           2},
    [IMAP_SQL_UNSEEN_ANY] = {"imap_unseen_any",
                             "SELECT 1 FROM ofc.mailbox_pointer"
                             " WHERE mailbox_id = $1::bigint AND uid = ANY($2::bigint[])"
                             "   AND flags & 1 = 0 AND modseq > $3::bigint LIMIT 1",
                             3},
    [IMAP_SQL_RAISE_MODSEQ] = {"imap_raise_modseq",
                               "UPDATE ofc.mailbox SET highestmodseq = highestmodseq + 1"
                               " WHERE id = $1::bigint RETURNING highestmodseq",
                               1},
    [IMAP_SQL_SET_SEEN] = {"imap_set_seen",
                           "UPDATE ofc.mailbox_pointer SET flags = flags | 1, modseq = $4::bigint"
                           " WHERE mailbox_id = $1::bigint AND uid = ANY($2::bigint[])"
                           "   AND flags & 1 = 0 AND modseq > $3::bigint"
                           " RETURNING uid",
                           4},
    [IMAP_SQL_FETCH_ROWS] = {"imap_fetch_rows",
                             "SELECT p.uid, p.flags, array_to_string(p.keywords, ' '),"
                             "       extract(epoch FROM p.internaldate)::bigint, p.modseq,"
                             "       m.id, m.size, m.header_size,"
                             "       CASE WHEN $4::boolean THEN m.envelope END,"
                             "       CASE WHEN $5::boolean THEN m.bodystructure END,"
                             "       CASE WHEN $6::boolean THEN m.body END,"
                             "       CASE WHEN $7::boolean THEN m.sections::text END"
                             "  FROM ofc.mailbox_pointer p JOIN ofc.message m"
                             "       ON m.id = p.message_id"
                             " WHERE p.mailbox_id = $1::bigint AND p.uid = ANY($2::bigint[])"
                             "   AND p.modseq > $3::bigint"
                             " ORDER BY p.uid",
                             7},
    [IMAP_SQL_FETCH_OCTETS] = {"imap_fetch_octets",
                               "SELECT substring(m.raw FROM t.f FOR t.l)"
                               "  FROM unnest($1::bigint[], $2::integer[], $3::integer[])"
                               "       WITH ORDINALITY AS t(id, f, l, o)"
                               "  LEFT JOIN ofc.message m ON m.id = t.id"
                               " ORDER BY t.o",
                               3},
};

int imap_sql_prepare(struct sps *sps)
{
    for (int i = 0; i < IMAP_SQL_COUNT; i++)
        if (sps_prepare(sps, stmts[i].name, stmts[i].sql, stmts[i].nparams) != 0)
            return -1;
    return 0;
}

PGresult *imap_sql(struct ofc_db *db, enum imap_sql_id id, const char *const *params)
{
    return ofc_db_exec_prepared(db, stmts[id].name, stmts[id].nparams, params);
}

PGresult *imap_sql_binary(struct ofc_db *db, enum imap_sql_id id, const char *const *params)
{
    return ofc_db_exec_prepared_bin(db, stmts[id].name, stmts[id].nparams, params, NULL, NULL, 1);
}
