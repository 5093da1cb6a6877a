/*
 * test_store_folder.c - the folder verbs of store_folder.h against a real
 * PostgreSQL (testdb.c): create with superior levels and special use,
 * delete leaving inferiors, rename with inferiors (incl. names that move
 * over each other) and of INBOX, STATUS figures, quota, subscriptions,
 * and APPEND (UIDs, modseq, flags, date, quota, CRLF size).
 *
 * Each test has an account of its own and works inside a transaction it
 * rolls back.
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
#include "store_folder.h"

/* Tests. */
#include "testdb.h"

static struct testdb tdb;
static long long node_id, com_id;

/* The verbs' error text; OK() checks a call and clears it. */
static char *err_text;
static char **const error_r = &err_text;

static int ok_(int rc, const char *what)
{
    ck_assert_msg(rc >= 0, "%s: %s", what, err_text != NULL ? err_text : "?");
    free(err_text);
    err_text = NULL;
    return rc;
}
#define OK(call) ok_((call), #call)

static const char MSG[] = "From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n";

static void setup_db(void)
{
    testdb_create(&tdb, "store_folder");
    struct ofc_db *db = testdb_connect(&tdb, "test_store_folder");
    node_id = testdb_query_ll(db,
                              "INSERT INTO ofc.node (name, is_local)"
                              " VALUES ('ESNODE', true) RETURNING id",
                              0, NULL, 0);
    OK(dir_domain_create(db, 0, "com", NULL, NULL, &com_id, error_r));
    ofc_db_free(&db);
}

static void teardown_db(void)
{
    testdb_drop(&tdb);
}

/* A connection in a transaction with a fresh account (INBOX, Drafts, Sent, Trash, Junk). */
static struct ofc_db *begin(const char *user, long long quota, long long *account_r)
{
    struct ofc_db *db = testdb_connect(&tdb, "test_store_folder");
    testdb_exec(db, "BEGIN", 0, NULL);
    struct dir_account_new acct = {.class = DIR_ACCOUNT_PERSON,
                                   .domain_id = com_id,
                                   .name = user,
                                   .home_node_id = node_id,
                                   .quota_bytes = quota};
    OK(dir_account_create(db, &acct, account_r, error_r));
    return db;
}

static void end(struct ofc_db *db)
{
    testdb_exec(db, "ROLLBACK", 0, NULL);
    ofc_db_free(&db);
}

static bool has(struct ofc_db *db, long long acct, const char *name)
{
    struct store_folder *f = NULL;
    size_t n = 0;
    OK(store_folder_list(db, acct, &f, &n, error_r));
    bool found = false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(f[i].name, name) == 0)
            found = true;
    store_folder_list_free(&f, n);
    return found;
}

static long long uidvalidity(struct ofc_db *db, long long acct, const char *name)
{
    struct store_folder_status st;
    int found = OK(store_folder_status(db, acct, name, &st, error_r));
    return found ? st.uidvalidity : -1;
}

static const char *use_of(struct ofc_db *db, long long acct, const char *name, char *buf,
                          size_t size)
{
    struct store_folder *f = NULL;
    size_t n = 0;
    OK(store_folder_list(db, acct, &f, &n, error_r));
    const char *r = NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(f[i].name, name) == 0 && f[i].special_use != NULL) {
            (void)snprintf(buf, size, "%s", f[i].special_use);
            r = buf;
        }
    store_folder_list_free(&f, n);
    return r;
}

START_TEST(test_create_delete)
{
    long long acct = 0, id = 0;
    struct ofc_db *db = begin("create", -1, &acct);
    ck_assert(has(db, acct, "INBOX"));
    ck_assert_int_eq(OK(store_folder_create(db, acct, "a/b/c", NULL, &id, error_r)), 1);
    ck_assert_int_gt(id, 0);
    ck_assert(has(db, acct, "a") && has(db, acct, "a/b") && has(db, acct, "a/b/c"));
    ck_assert_int_eq(OK(store_folder_create(db, acct, "a/b/c", NULL, &id, error_r)), 0);
    ck_assert_int_eq(OK(store_folder_create(db, acct, "INBOX", NULL, NULL, error_r)), 0);
    long long v1 = uidvalidity(db, acct, "a/b");
    /* DELETE keeps inferiors; a new mailbox of the old name has a larger UIDVALIDITY. */
    ck_assert_int_eq(OK(store_folder_delete(db, acct, "a/b", NULL, error_r)), 1);
    ck_assert(!has(db, acct, "a/b") && has(db, acct, "a/b/c"));
    ck_assert_int_eq(OK(store_folder_delete(db, acct, "a/b", NULL, error_r)), 0);
    ck_assert_int_eq(OK(store_folder_delete(db, acct, "INBOX", NULL, error_r)), 0);
    ck_assert(has(db, acct, "INBOX"));
    ck_assert_int_eq(OK(store_folder_create(db, acct, "a/b", NULL, NULL, error_r)), 1);
    ck_assert_int_gt(uidvalidity(db, acct, "a/b"), v1);
    /* A special use moves to the newest mailbox that asks for it. */
    char buf[32];
    ck_assert_str_eq(use_of(db, acct, "Sent", buf, sizeof(buf)), "\\Sent");
    ck_assert_int_eq(OK(store_folder_create(db, acct, "Sent 2", "\\Sent", NULL, error_r)), 1);
    ck_assert_str_eq(use_of(db, acct, "Sent 2", buf, sizeof(buf)), "\\Sent");
    ck_assert_ptr_null(use_of(db, acct, "Sent", buf, sizeof(buf)));
    end(db);
}
END_TEST

START_TEST(test_rename)
{
    long long acct = 0, id = 0;
    enum store_folder_rename_result rr;
    struct ofc_db *db = begin("rename", -1, &acct);
    OK(store_folder_create(db, acct, "p/q/r", NULL, NULL, error_r));
    long long vq = uidvalidity(db, acct, "p/q");
    OK(store_folder_rename(db, acct, "p", "x/y", &rr, &id, error_r));
    ck_assert_int_eq(rr, STORE_RENAMED);
    ck_assert(has(db, acct, "x") && has(db, acct, "x/y/q/r") && !has(db, acct, "p/q"));
    ck_assert_int_eq(uidvalidity(db, acct, "x/y/q"), vq);
    /* Up a level over names that move themselves: x/y/q -> x/y, x/y/q/r -> x/y/r. */
    OK(store_folder_delete(db, acct, "x/y", NULL, error_r));
    OK(store_folder_rename(db, acct, "x/y/q", "x/y", &rr, NULL, error_r));
    ck_assert_int_eq(rr, STORE_RENAMED);
    ck_assert(has(db, acct, "x/y") && has(db, acct, "x/y/r") && !has(db, acct, "x/y/q"));
    ck_assert_int_eq(uidvalidity(db, acct, "x/y"), vq);
    OK(store_folder_rename(db, acct, "nothere", "z", &rr, NULL, error_r));
    ck_assert_int_eq(rr, STORE_RENAME_NO_SOURCE);
    OK(store_folder_rename(db, acct, "x", "Sent", &rr, NULL, error_r));
    ck_assert_int_eq(rr, STORE_RENAME_EXISTS);
    OK(store_folder_rename(db, acct, "x", "INBOX", &rr, NULL, error_r));
    ck_assert_int_eq(rr, STORE_RENAME_EXISTS);
    OK(store_folder_rename(db, acct, "x", "x/z", &rr, NULL, error_r));
    ck_assert_int_eq(rr, STORE_RENAME_INTO_ITSELF);
    /* An inferior's new name taken by another mailbox. */
    OK(store_folder_create(db, acct, "m/y", NULL, NULL, error_r));
    OK(store_folder_create(db, acct, "n", NULL, NULL, error_r));
    OK(store_folder_create(db, acct, "n/y", NULL, NULL, error_r));
    OK(store_folder_delete(db, acct, "n", NULL, error_r));
    OK(store_folder_rename(db, acct, "m", "n", &rr, NULL, error_r));
    ck_assert_int_eq(rr, STORE_RENAME_EXISTS);
    ck_assert(has(db, acct, "m/y"));
    end(db);
}
END_TEST

START_TEST(test_append_status_rename_inbox)
{
    long long acct = 0, id = 0;
    struct ofc_db *db = begin("append", -1, &acct);
    const char *kw[] = {"$Work"};
    struct store_folder_append a = {.flags = 1, .internaldate = 1700000000};
    struct store_folder_append_result r;
    OK(store_folder_append(db, acct, "INBOX", MSG, strlen(MSG), &a, &r, error_r));
    ck_assert_int_eq(r.status, STORE_APPENDED);
    ck_assert_int_eq(r.uid, 1);
    ck_assert_int_eq(r.size, (long long)strlen(MSG));
    a = (struct store_folder_append){
        .flags = 4, .keywords = kw, .nkeywords = 1, .internaldate = -1};
    /* Bare LF lines are stored with CRLF: the size says so. */
    OK(store_folder_append(db, acct, "INBOX", "Subject: lf\n\nx\n", 15, &a, &r, error_r));
    ck_assert_int_eq(r.uid, 2);
    ck_assert_int_eq(r.size, 18);
    long long modseq = r.modseq;
    struct store_folder_status st;
    ck_assert_int_eq(OK(store_folder_status(db, acct, "INBOX", &st, error_r)), 1);
    ck_assert_int_eq(st.messages, 2);
    ck_assert_int_eq(st.uidnext, 3);
    ck_assert_int_eq(st.unseen, 1);
    ck_assert_int_eq(st.recent, 2);
    ck_assert_int_eq(st.highestmodseq, modseq);
    ck_assert_int_eq(st.size, (long long)strlen(MSG) + 18);
    OK(store_folder_append(db, acct, "Nowhere", MSG, strlen(MSG), &a, &r, error_r));
    ck_assert_int_eq(r.status, STORE_APPEND_NO_MAILBOX);

    /* RENAME INBOX: new UIDs in a new mailbox, INBOX emptied with its UIDNEXT kept. */
    long long inbox_v = st.uidvalidity;
    enum store_folder_rename_result rr;
    OK(store_folder_rename(db, acct, "INBOX", "Old", &rr, &id, error_r));
    ck_assert_int_eq(rr, STORE_RENAMED);
    ck_assert_int_eq(OK(store_folder_status(db, acct, "INBOX", &st, error_r)), 1);
    ck_assert_int_eq(st.messages, 0);
    ck_assert_int_eq(st.uidnext, 3);
    ck_assert_int_eq(st.uidvalidity, inbox_v);
    ck_assert_int_gt(st.highestmodseq, modseq);
    ck_assert_int_eq(OK(store_folder_status(db, acct, "Old", &st, error_r)), 1);
    ck_assert_int_eq(st.messages, 2);
    ck_assert_int_eq(st.uidnext, 3);
    ck_assert_int_eq(st.unseen, 1);
    ck_assert_int_ne(st.uidvalidity, inbox_v);
    OK(store_folder_rename(db, acct, "INBOX", "Old", &rr, &id, error_r));
    ck_assert_int_eq(rr, STORE_RENAME_EXISTS);
    end(db);
}
END_TEST

START_TEST(test_quota_subscriptions)
{
    long long acct = 0;
    struct ofc_db *db = begin("quota", 100, &acct);
    long long quota = 0, used = 0;
    ck_assert_int_eq(OK(store_folder_quota(db, acct, &quota, &used, error_r)), 1);
    ck_assert_int_eq(quota, 100);
    ck_assert_int_eq(used, 0);
    struct store_folder_append a = {.internaldate = -1};
    struct store_folder_append_result r;
    OK(store_folder_append(db, acct, "INBOX", MSG, strlen(MSG), &a, &r, error_r));
    ck_assert_int_eq(r.status, STORE_APPENDED);
    OK(store_folder_append(db, acct, "INBOX", MSG, strlen(MSG), &a, &r, error_r));
    ck_assert_int_eq(r.status, STORE_APPENDED);
    OK(store_folder_append(db, acct, "INBOX", MSG, strlen(MSG), &a, &r, error_r));
    ck_assert_int_eq(r.status, STORE_APPEND_OVER_QUOTA);
    OK(store_folder_quota(db, acct, &quota, &used, error_r));
    ck_assert_int_eq(used, 2 * (long long)strlen(MSG));

    ck_assert_int_eq(OK(store_folder_subscribe(db, acct, "Future", true, error_r)), 1);
    ck_assert_int_eq(OK(store_folder_subscribe(db, acct, "Future", true, error_r)), 0);
    ck_assert_int_eq(OK(store_folder_subscribe(db, acct, "Junk", false, error_r)), 1);
    ck_assert_int_eq(OK(store_folder_subscribe(db, acct, "Junk", false, error_r)), 0);
    char **names = NULL;
    size_t n = 0;
    OK(store_folder_subscriptions(db, acct, &names, &n, error_r));
    ck_assert_int_eq(n, 5); /* INBOX Drafts Sent Trash Future */
    ck_assert_str_eq(names[0], "Drafts");
    ck_assert_str_eq(names[1], "Future");
    store_folder_names_free(&names, n);
    ck_assert_ptr_null(names);
    end(db);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("store_folder");
    TCase *tc = tcase_create("store_folder");
    tcase_add_unchecked_fixture(tc, setup_db, teardown_db);
    tcase_add_test(tc, test_create_delete);
    tcase_add_test(tc, test_rename);
    tcase_add_test(tc, test_append_status_rename_inbox);
    tcase_add_test(tc, test_quota_subscriptions);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
