/*
 * mon_refs.c - missing objects and references: pointers, refcounts,
 * inboxes, lists.
 *
 * Pointers and queue entries name their message through foreign keys,
 * and list members and alias targets that are objects likewise: those
 * checks find only what bypassed the keys (a partial restore, a load
 * with session_replication_role = replica), cheaply. Reference counts
 * and folder totals are kept by triggers, and nothing but this test
 * compares them with the pointers. Member and target addresses are text:
 * one in a domain of this directory that names nothing there is a
 * dangling member the schema cannot see.
 */
/* This program. */
#include "mon.h"

/* At most ten values of an aggregate, and how many more. */
#define SOME(expr, order)                                                                          \
    "array_to_string((array_agg(" expr " ORDER BY " order "))[1:10], ', ')"                        \
    " || CASE WHEN count(*) > 10 THEN format(' and %s more', count(*) - 10) ELSE '' END"

#define ADDRESS(alias) alias ".name || '@' || " alias ".fqdn"

/*
 * An address in a domain this directory holds names something there
 * (".ofcmail" before the '@' is the gateway's suffix and is ignored).
 */
#define NAMES_NOTHING(addr)                                                                        \
    "EXISTS (SELECT 1 FROM domain dd WHERE dd.fqdn = lower(substring(" addr " FROM '@([^@]*)$')))" \
    " AND NOT EXISTS (SELECT 1 FROM dir_address y WHERE y.address_key = "                          \
    "regexp_replace(lower(" addr "), '\\.ofcmail@([^@]*)$', '@\\1'))"

/* The statements read as SQL; clang-format would scatter their macro pieces. */
/* clang-format off */

static const char pointers_sql[] =
    "SELECT 'ERROR',"
    "       format('folder %s of %s holds %s pointer%s to missing messages (UID %s)', b.name,"
    "              COALESCE(" ADDRESS("x") ", 'account ' || b.account_id), count(*),"
    "              CASE WHEN count(*) = 1 THEN '' ELSE 's' END, " SOME("p.uid", "p.uid") "),"
    "       format('folder %s of %s (mailbox %s)', b.name,"
    "              COALESCE(" ADDRESS("x") ", 'account ' || b.account_id), b.id),"
    "       format('The messages are gone from this node; remove the pointers: DELETE FROM "
    "ofc.mailbox_pointer p WHERE p.mailbox_id = %s AND NOT EXISTS (SELECT 1 FROM ofc.message m "
    "WHERE m.id = p.message_id);', b.id)"
    "  FROM mailbox_pointer p JOIN mailbox b ON b.id = p.mailbox_id"
    "  LEFT JOIN dir_address x ON x.object_id = b.account_id"
    " WHERE NOT EXISTS (SELECT 1 FROM message m WHERE m.id = p.message_id)"
    " GROUP BY b.id, b.name, b.account_id, x.name, x.fqdn"
    " UNION ALL"
    " SELECT 'ERROR',"
    "        format('queue %s holds %s entr%s for missing messages (entry %s)', e.q, count(*),"
    "               CASE WHEN count(*) = 1 THEN 'y' ELSE 'ies' END, " SOME("e.id", "e.id") "),"
    "        'queue ' || e.q,"
    "        format('The messages are gone; delete the entries (DELETE FROM ofc.%s WHERE id IN "
    "(...)), and tell their senders.', e.q)"
    "   FROM (SELECT 'submission' AS q, id, message_id FROM submission"
    "         UNION ALL SELECT 'rerouting', id, message_id FROM rerouting"
    "         UNION ALL SELECT 'remote', id, message_id FROM remote"
    "         UNION ALL SELECT 'gateway_out', id, message_id FROM gateway_out"
    "         UNION ALL SELECT 'dead', id, message_id FROM dead WHERE message_id IS NOT NULL) e"
    "  WHERE NOT EXISTS (SELECT 1 FROM message m WHERE m.id = e.message_id)"
    "  GROUP BY e.q";

static const char refcounts_sql[] =
    "WITH c AS (SELECT message_id, count(*) AS n FROM mailbox_pointer GROUP BY message_id),"
    " bad AS (SELECT m.id, m.refcount, COALESCE(c.n, 0) AS n"
    "           FROM message m LEFT JOIN c ON c.message_id = m.id"
    "          WHERE m.refcount <> COALESCE(c.n, 0)),"
    " t AS (SELECT p.mailbox_id, count(*) AS n, sum(m.size) AS s"
    "         FROM mailbox_pointer p JOIN message m ON m.id = p.message_id"
    "        GROUP BY p.mailbox_id),"
    " fb AS (SELECT b.id, b.name, b.account_id, b.messages, b.bytes, COALESCE(t.n, 0) AS n,"
    "               COALESCE(t.s, 0) AS s"
    "          FROM mailbox b LEFT JOIN t ON t.mailbox_id = b.id"
    "         WHERE b.messages <> COALESCE(t.n, 0) OR b.bytes <> COALESCE(t.s, 0))"
    " SELECT 'ERROR',"
    "        format('%s message%s a reference count that differs from %s pointers: %s',"
    "               count(*), CASE WHEN count(*) = 1 THEN ' has' ELSE 's have' END,"
    "               CASE WHEN count(*) = 1 THEN 'its' ELSE 'their' END,"
    "               " SOME("format('message %s counts %s, has %s', id, refcount, n)", "id") "),"
    "        'message ' || " SOME("id::text", "id") ","
    "        format('A count too low lets the Collector delete a message that is still in a "
    "folder, one too high keeps it forever. Recompute them: UPDATE ofc.message m SET refcount = "
    "(SELECT count(*) FROM ofc.mailbox_pointer p WHERE p.message_id = m.id) WHERE m.id IN (%s);',"
    "               array_to_string((array_agg(id ORDER BY id))[1:100], ', '))"
    "   FROM bad HAVING count(*) > 0"
    " UNION ALL"
    " SELECT 'WARNING',"
    "        format('folder %s of %s counts %s message%s and %s bytes, its pointers make %s and "
    "%s', fb.name, COALESCE(" ADDRESS("x") ", 'account ' || fb.account_id), fb.messages,"
    "               CASE WHEN fb.messages = 1 THEN '' ELSE 's' END, fb.bytes, fb.n, fb.s),"
    "        format('folder %s of %s (mailbox %s)', fb.name,"
    "               COALESCE(" ADDRESS("x") ", 'account ' || fb.account_id), fb.id),"
    "        format('STATUS and quotas use these totals. Recompute them: UPDATE ofc.mailbox b "
    "SET messages = %s, bytes = %s WHERE b.id = %s;', fb.n, fb.s, fb.id)"
    "   FROM fb LEFT JOIN dir_address x ON x.object_id = fb.account_id";

/* $1 the node: its own accounts have their folders here. */
static const char inboxes_sql[] =
    "SELECT 'WARNING',"
    "       format('%s account%s of this node %s no INBOX: %s', count(*),"
    "              CASE WHEN count(*) = 1 THEN '' ELSE 's' END,"
    "              CASE WHEN count(*) = 1 THEN 'has' ELSE 'have' END,"
    "              " SOME(ADDRESS("x"), "x.fqdn, x.name_key") "),"
    "       'account ' || " SOME(ADDRESS("x"), "x.fqdn, x.name_key") ","
    "       'IMAP and POP3 clients find no mail folder until the Postman makes the INBOX at the "
    "next delivery. To make them now: INSERT INTO ofc.mailbox (account_id, name) SELECT "
    "a.object_id, ''INBOX'' FROM ofc.account a WHERE NOT EXISTS (SELECT 1 FROM ofc.mailbox b "
    "WHERE b.account_id = a.object_id AND b.name = ''INBOX'');'"
    "  FROM account a JOIN dir_address x ON x.object_id = a.object_id"
    " WHERE a.home_node_id = $1::integer"
    "   AND NOT EXISTS (SELECT 1 FROM mailbox b WHERE b.account_id = a.object_id"
    "                      AND b.name = 'INBOX')"
    " HAVING count(*) > 0";

static const char lists_sql[] =
    "SELECT 'ERROR',"
    "       format('list %s has %s member%s that name%s missing objects (object id %s)',"
    "              " ADDRESS("l") ", count(*), CASE WHEN count(*) = 1 THEN '' ELSE 's' END,"
    "              CASE WHEN count(*) = 1 THEN 's' ELSE '' END,"
    "              " SOME("m.member_object_id::text", "m.member_object_id") "),"
    "       'list ' || " ADDRESS("l") ","
    "       format('Remove them: DELETE FROM ofc.dl_member m WHERE m.dl_id = %s AND NOT EXISTS "
    "(SELECT 1 FROM ofc.dir_object o WHERE o.id = m.member_object_id);', l.object_id)"
    "  FROM dl_member m JOIN dir_address l ON l.object_id = m.dl_id"
    " WHERE m.member_object_id IS NOT NULL"
    "   AND NOT EXISTS (SELECT 1 FROM dir_object o WHERE o.id = m.member_object_id)"
    " GROUP BY l.object_id, l.name, l.fqdn"
    " UNION ALL"
    " SELECT 'WARNING',"
    "        format('list %s has %s member address%s that name%s nothing in this directory: %s',"
    "               " ADDRESS("l") ", count(*), CASE WHEN count(*) = 1 THEN '' ELSE 'es' END,"
    "               CASE WHEN count(*) = 1 THEN 's' ELSE '' END,"
    "               " SOME("m.member_address", "lower(m.member_address)") "),"
    "        'list ' || " ADDRESS("l") ","
    "        format('Mail to the list bounces for them. Correct or remove them: remove member "
    "ADDRESS dl=%s domain=%s;', l.name, l.fqdn)"
    "   FROM dl_member m JOIN dir_address l ON l.object_id = m.dl_id"
    "  WHERE m.member_address IS NOT NULL AND " NAMES_NOTHING("m.member_address")
    "  GROUP BY l.object_id, l.name, l.fqdn"
    " UNION ALL"
    " SELECT CASE WHEN a.target_object_id IS NOT NULL THEN 'ERROR' ELSE 'WARNING' END,"
    "        CASE WHEN a.target_object_id IS NOT NULL"
    "             THEN format('alias %s points to object id %s, which is missing', "
    ADDRESS("x") ", a.target_object_id)"
    "             ELSE format('alias %s points to %s, which names nothing in this directory',"
    "                         " ADDRESS("x") ", a.target_address) END,"
    "        'alias ' || " ADDRESS("x") ","
    "        format('Mail to the alias bounces. Point it elsewhere (modify alias name=%s "
    "target=ADDRESS domain=%s;) or delete it (delete alias name=%s domain=%s;).', x.name, x.fqdn,"
    "               x.name, x.fqdn)"
    "   FROM alias a JOIN dir_address x ON x.object_id = a.object_id"
    "  WHERE (a.target_object_id IS NOT NULL"
    "         AND NOT EXISTS (SELECT 1 FROM dir_object o WHERE o.id = a.target_object_id))"
    "     OR (a.target_address IS NOT NULL AND " NAMES_NOTHING("a.target_address") ")";

/* clang-format on */

const struct mon_test mon_refs_tests[] = {
    {"pointers", pointers_sql, 0, {MON_P_NODE}},
    {"refcounts", refcounts_sql, 0, {MON_P_NODE}},
    {"inboxes", inboxes_sql, 1, {MON_P_NODE}},
    {"lists", lists_sql, 0, {MON_P_NODE}},
    {NULL, NULL, 0, {MON_P_NODE}},
};
