/*
 * test_store_mailbox.c - store_mailbox_find and store_mailbox_expunge
 * against a real PostgreSQL (testdb.c): what an expunge leaves behind
 * (pointers, mailbox_expunged, highestmodseq, refcounts, totals, the
 * Collector queue, NOTIFY), and that UIDs already gone are ignored.
 *
 * One account "kent" with an INBOX; each test fills it with messages of
 * its own inside a transaction it rolls back, except where a commit is
 * the point (NOTIFY is delivered only at commit).
 */
/* System. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Libraries. */
#include <check.h>

/* libofc. */
#include "dir_account.h"
#include "dir_domain.h"
#include "ofc_db.h"
#include "ofc_mem.h"
#include "store_mailbox.h"

/* Tests. */
#include "testdb.h"

static struct testdb tdb;
static long long account_id, inbox_id;

#define OK(call)                                                                                   \
    do {                                                                                           \
        char *err_ = NULL;                                                                         \
        char **error_r = &err_;                                                                    \
        int rc_ = (call);                                                                          \
        ck_assert_msg(rc_ >= 0, "%s: %s", #call, err_ != NULL ? err_ : "?");                       \
        free(err_);                                                                                \
    } while (0)

static long long query_ll(struct ofc_db *db, const char *sql, long long a)
{
    char s[32];
    (void)snprintf(s, sizeof(s), "%lld", a);
    const char *params[] = {s};
    return testdb_query_ll(db, sql, 1, params, -1);
}

/* A message of `size` octets with a pointer in INBOX; returns its message id. */
static long long add_message(struct ofc_db *db, int size)
{
    char ssize[32], smailbox[32];
    (void)snprintf(ssize, sizeof(ssize), "%d", size);
    (void)snprintf(smailbox, sizeof(smailbox), "%lld", inbox_id);
    const char *p1[] = {ssize};
    long long id = testdb_query_ll(db,
                                   "INSERT INTO ofc.message (size, raw)"
                                   " SELECT $1::int, convert_to(repeat('x', $1::int), 'UTF8')"
                                   " RETURNING id",
                                   1, p1, 0);
    char sid[32];
    (void)snprintf(sid, sizeof(sid), "%lld", id);
    const char *p2[] = {smailbox, sid};
    testdb_exec(db,
                "WITH u AS (UPDATE ofc.mailbox SET uidnext = uidnext + 1"
                "           WHERE id = $1::bigint RETURNING uidnext - 1 AS uid, highestmodseq)"
                " INSERT INTO ofc.mailbox_pointer (mailbox_id, uid, message_id, modseq)"
                " SELECT $1::bigint, uid, $2::bigint, highestmodseq FROM u",
                2, p2);
    return id;
}

static void setup_db(void)
{
    testdb_create(&tdb, "store_mailbox");
    struct ofc_db *db = testdb_connect(&tdb, "test_store_mailbox");
    long long node_id = testdb_query_ll(db,
                                        "INSERT INTO ofc.node (name, is_local)"
                                        " VALUES ('ESNODE', true) RETURNING id",
                                        0, NULL, 0);
    long long com_id = 0;
    OK(dir_domain_create(db, 0, "com", NULL, NULL, &com_id, error_r));
    struct dir_account_new acct = {.class = DIR_ACCOUNT_PERSON,
                                   .domain_id = com_id,
                                   .name = "kent",
                                   .home_node_id = node_id,
                                   .quota_bytes = -1};
    OK(dir_account_create(db, &acct, &account_id, error_r));
    inbox_id = query_ll(db,
                        "SELECT id FROM ofc.mailbox WHERE account_id = $1::bigint"
                        " AND name = 'INBOX'",
                        account_id);
    ck_assert_int_gt(inbox_id, 0);
    ofc_db_free(&db);
}

static void teardown_db(void)
{
    testdb_drop(&tdb);
}

START_TEST(test_find)
{
    struct ofc_db *db = testdb_connect(&tdb, "test_store_mailbox");
    long long id = 0, uidvalidity = 0;
    char *error = NULL;
    ck_assert_int_eq(store_mailbox_find(db, account_id, "INBOX", &id, &uidvalidity, &error), 1);
    ck_assert_int_eq(id, inbox_id);
    ck_assert_int_gt(uidvalidity, 0);
    ck_assert_int_eq(store_mailbox_find(db, account_id, "inbox", &id, NULL, &error), 0);
    ck_assert_int_eq(store_mailbox_find(db, account_id, "Nowhere", NULL, NULL, &error), 0);
    ck_assert_int_eq(store_mailbox_find(db, account_id + 1000, "INBOX", NULL, NULL, &error), 0);
    ofc_db_free(&db);
}
END_TEST

START_TEST(test_expunge)
{
    struct ofc_db *db = testdb_connect(&tdb, "test_store_mailbox");
    testdb_exec(db, "BEGIN", 0, NULL);
    long long m1 = add_message(db, 10);
    long long m2 = add_message(db, 20);
    long long m3 = add_message(db, 30);
    long long first = query_ll(db,
                               "SELECT min(uid) FROM ofc.mailbox_pointer"
                               " WHERE mailbox_id = $1::bigint",
                               inbox_id);
    long long before =
        query_ll(db, "SELECT highestmodseq FROM ofc.mailbox WHERE id = $1::bigint", inbox_id);
    ck_assert_int_eq(
        query_ll(db, "SELECT messages FROM ofc.mailbox WHERE id = $1::bigint", inbox_id), 3);
    /* The first and the third, one of them twice, and a UID that never was. */
    long long uids[] = {first + 2, first, first + 2, first + 99};
    size_t expunged = 0;
    long long modseq = 0;
    OK(store_mailbox_expunge(db, inbox_id, uids, 4, &expunged, &modseq, error_r));
    ck_assert_int_eq(expunged, 2);
    ck_assert_int_eq(modseq, before + 1);
    ck_assert_int_eq(
        query_ll(db, "SELECT highestmodseq FROM ofc.mailbox WHERE id = $1::bigint", inbox_id),
        before + 1);
    ck_assert_int_eq(query_ll(db,
                              "SELECT count(*) FROM ofc.mailbox_pointer"
                              " WHERE mailbox_id = $1::bigint",
                              inbox_id),
                     1);
    ck_assert_int_eq(query_ll(db,
                              "SELECT count(*) FROM ofc.mailbox_expunged"
                              " WHERE mailbox_id = $1::bigint AND modseq = "
                              " (SELECT highestmodseq FROM ofc.mailbox WHERE id = $1::bigint)",
                              inbox_id),
                     2);
    ck_assert_int_eq(query_ll(db,
                              "SELECT min(uid) FROM ofc.mailbox_expunged"
                              " WHERE mailbox_id = $1::bigint",
                              inbox_id),
                     first);
    /* The triggers: refcounts, the Collector queue, the totals. */
    ck_assert_int_eq(query_ll(db, "SELECT refcount FROM ofc.message WHERE id = $1::bigint", m1), 0);
    ck_assert_int_eq(query_ll(db, "SELECT refcount FROM ofc.message WHERE id = $1::bigint", m2), 1);
    ck_assert_int_eq(query_ll(db, "SELECT refcount FROM ofc.message WHERE id = $1::bigint", m3), 0);
    ck_assert_int_eq(query_ll(db,
                              "SELECT count(*) FROM ofc.collector"
                              " WHERE message_id IN ($1::bigint, $1::bigint + 2)",
                              m1),
                     2);
    ck_assert_int_eq(
        query_ll(db, "SELECT messages FROM ofc.mailbox WHERE id = $1::bigint", inbox_id), 1);
    ck_assert_int_eq(query_ll(db, "SELECT bytes FROM ofc.mailbox WHERE id = $1::bigint", inbox_id),
                     20);

    /* Again: nothing left to remove, nothing changes. */
    OK(store_mailbox_expunge(db, inbox_id, uids, 4, &expunged, &modseq, error_r));
    ck_assert_int_eq(expunged, 0);
    ck_assert_int_eq(modseq, 0);
    ck_assert_int_eq(
        query_ll(db, "SELECT highestmodseq FROM ofc.mailbox WHERE id = $1::bigint", inbox_id),
        before + 1);
    /* Nothing asked, or a mailbox that does not exist. */
    OK(store_mailbox_expunge(db, inbox_id, NULL, 0, NULL, &modseq, error_r));
    ck_assert_int_eq(modseq, 0);
    OK(store_mailbox_expunge(db, inbox_id + 1000, uids, 1, &expunged, &modseq, error_r));
    ck_assert_int_eq(expunged, 0);
    testdb_exec(db, "ROLLBACK", 0, NULL);
    ofc_db_free(&db);
}
END_TEST

START_TEST(test_expunge_notifies)
{
    struct ofc_db *listener = testdb_connect(&tdb, "test_store_mailbox listener");
    ck_assert_int_eq(ofc_db_listen(listener, "ofc_mailbox"), 0);
    struct ofc_db *db = testdb_connect(&tdb, "test_store_mailbox");
    (void)add_message(db, 5);
    long long uid = query_ll(db,
                             "SELECT max(uid) FROM ofc.mailbox_pointer"
                             " WHERE mailbox_id = $1::bigint",
                             inbox_id);
    /* Drain the delivery's notification. */
    while (ofc_db_wait(listener, 2000) == 1) {
        PGnotify *n;
        while ((n = ofc_db_next_notify(listener)) != NULL)
            PQfreemem(n);
        break;
    }
    testdb_exec(db, "BEGIN", 0, NULL);
    size_t expunged = 0;
    long long modseq = 0;
    OK(store_mailbox_expunge(db, inbox_id, &uid, 1, &expunged, &modseq, error_r));
    ck_assert_int_eq(expunged, 1);
    testdb_exec(db, "COMMIT", 0, NULL);
    char want[32];
    (void)snprintf(want, sizeof(want), "%lld", inbox_id);
    bool seen = false;
    for (int i = 0; i < 20 && !seen; i++) {
        if (ofc_db_wait(listener, 1000) != 1)
            continue;
        PGnotify *n;
        while ((n = ofc_db_next_notify(listener)) != NULL) {
            if (strcmp(n->relname, "ofc_mailbox") == 0 && strcmp(n->extra, want) == 0)
                seen = true;
            PQfreemem(n);
        }
    }
    ck_assert_msg(seen, "no NOTIFY ofc_mailbox %s after the expunge", want);
    ofc_db_free(&db);
    ofc_db_free(&listener);
}
END_TEST

static Suite *store_mailbox_suite(void)
{
    Suite *s = suite_create("store_mailbox");
    TCase *tc = tcase_create("store_mailbox");
    tcase_add_unchecked_fixture(tc, setup_db, teardown_db);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_find);
    tcase_add_test(tc, test_expunge);
    tcase_add_test(tc, test_expunge_notifies);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(store_mailbox_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
