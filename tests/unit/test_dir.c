/*
 * test_dir.c - the directory verbs (dir_domain, dir_object, dir_account,
 * dir_alias, dir_dl, dir_group, dir_template) against a real PostgreSQL.
 *
 * The program creates one database of its own (testdb.c); every test runs
 * inside one transaction that it rolls back at the end, so tests do not see
 * each other's objects. That transaction also checks a promise of the
 * verbs: an expected user error (duplicate name, referenced object, unknown
 * node, ...) never fails a statement, so the transaction stays usable and
 * an oomgr script can go on after reporting it.
 */
/* System. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Libraries. */
#include <check.h>

/* libofc. */
#include "dir_account.h"
#include "dir_alias.h"
#include "dir_dl.h"
#include "dir_domain.h"
#include "dir_group.h"
#include "dir_object.h"
#include "dir_template.h"
#include "ofc_db.h"
#include "ofc_mem.h"
#include "ofc_password.h"

/* Tests. */
#include "testdb.h"

static struct testdb tdb;
static struct ofc_db *db;
static long long node_id, node2_id;
static long long com_id, acme_id, us_id, uk_id, other_id;

/* ---- helpers -------------------------------------------------------- */

#define OK(call)                                                                                   \
    do {                                                                                           \
        char *err_ = NULL;                                                                         \
        char **error_r = &err_;                                                                    \
        int rc_ = (call);                                                                          \
        ck_assert_msg(rc_ >= 0, "%s: %s", #call, err_ != NULL ? err_ : "?");                       \
        free(err_);                                                                                \
    } while (0)

/*
 * call must fail with a message containing want, and leave the
 * transaction usable.
 */
#define FAILS(call, want)                                                                          \
    do {                                                                                           \
        char *err_ = NULL;                                                                         \
        char **error_r = &err_;                                                                    \
        int rc_ = (call);                                                                          \
        ck_assert_msg(rc_ < 0, "%s succeeded", #call);                                             \
        ck_assert_msg(err_ != NULL && strstr(err_, want) != NULL, "%s: got \"%s\", want \"%s\"",   \
                      #call, err_ != NULL ? err_ : "(null)", want);                                \
        free(err_);                                                                                \
        tx_alive();                                                                                \
    } while (0)

static void tx_alive(void)
{
    ck_assert_msg(testdb_query_ll(db, "SELECT 1", 0, NULL, 0) == 1, "transaction aborted");
}

static long long count(const char *sql, long long id)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%lld", id);
    const char *const p[] = {buf};
    return testdb_query_ll(db, sql, 1, p, -1);
}

static long long person(long long domain_id, const char *name, const char *last)
{
    struct dir_account_new acct = {
        .class = DIR_ACCOUNT_PERSON,
        .domain_id = domain_id,
        .name = name,
        .home_node_id = node_id,
        .quota_bytes = -1,
        .last_name = last,
    };
    long long id = 0;
    OK(dir_account_create(db, &acct, &id, error_r));
    return id;
}

static long long domain(long long parent, const char *fqdn)
{
    long long id = 0;
    OK(dir_domain_create(db, parent, fqdn, NULL, NULL, &id, error_r));
    return id;
}

/* ---- fixture -------------------------------------------------------- */

static void setup_db(void)
{
    testdb_create(&tdb, "ofc_unit_dir");
}

static void teardown_db(void)
{
    testdb_drop(&tdb);
}

static void setup(void)
{
    db = testdb_connect(&tdb, "test_dir");
    testdb_exec(db, "BEGIN", 0, NULL);
    node_id = testdb_query_ll(db,
                              "INSERT INTO ofc.node (name, is_local) VALUES ('ESNODE', true)"
                              " RETURNING id",
                              0, NULL, 0);
    node2_id = testdb_query_ll(db, "INSERT INTO ofc.node (name) VALUES ('NODE2') RETURNING id", 0,
                               NULL, 0);
    com_id = domain(0, "com");
    acme_id = domain(com_id, "acme.com");
    other_id = domain(com_id, "other.com");
    us_id = domain(acme_id, "us.acme.com");
    uk_id = domain(acme_id, "uk.acme.com");
}

static void teardown(void)
{
    testdb_exec(db, "ROLLBACK", 0, NULL);
    ofc_db_free(&db);
}

/* ---- domains -------------------------------------------------------- */

START_TEST(test_domain_create)
{
    struct dir_domain d;
    long long id = 0;

    /* Lower-cased, a trailing dot dropped; the confignode is the parent's. */
    OK(dir_domain_create(db, us_id, "NY.US.Acme.COM.", NULL, "New York", &id, error_r));
    ck_assert_int_eq(dir_domain_get(db, id, &d, NULL), 1);
    ck_assert_str_eq(d.fqdn, "ny.us.acme.com");
    ck_assert_str_eq(d.confignode, "ESNODE");
    ck_assert_str_eq(d.description, "New York");
    ck_assert_int_eq(d.parent_id, us_id);
    dir_domain_clear(&d);
    /* The configuration node subscribes to it. */
    ck_assert_int_eq(count("SELECT count(*) FROM ofc.subscription WHERE domain_id = $1::int", id),
                     1);

    /* Only a direct child of the parent. */
    FAILS(dir_domain_create(db, acme_id, "a.b.acme.com", NULL, NULL, &id, error_r),
          "a.b.acme.com is not directly below acme.com");
    FAILS(dir_domain_create(db, acme_id, "acme.org", NULL, NULL, &id, error_r),
          "acme.org is not directly below acme.com");
    FAILS(dir_domain_create(db, acme_id, "xacme.com", NULL, NULL, &id, error_r),
          "not directly below");
    FAILS(dir_domain_create(db, acme_id, "acme.com", NULL, NULL, &id, error_r),
          "not directly below");
    FAILS(dir_domain_create(db, acme_id, "US.acme.com", NULL, NULL, &id, error_r),
          "a domain us.acme.com already exists");
    FAILS(dir_domain_create(db, acme_id, "a..acme.com", NULL, NULL, &id, error_r), "empty label");
    FAILS(dir_domain_create(db, acme_id, "a b.acme.com", NULL, NULL, &id, error_r), "white space");
    FAILS(dir_domain_create(db, 999999, "x.acme.com", NULL, NULL, &id, error_r),
          "no parent domain");

    /* confignode by name, any case; unknown nodes are named. */
    OK(dir_domain_create(db, acme_id, "de.acme.com", "node2", NULL, &id, error_r));
    ck_assert_int_eq(dir_domain_get(db, id, &d, NULL), 1);
    ck_assert_int_eq(d.confignode_id, node2_id);
    dir_domain_clear(&d);
    FAILS(dir_domain_create(db, acme_id, "fr.acme.com", "NOSUCH", NULL, &id, error_r),
          "no node named NOSUCH");

    /* A root domain takes the local node. */
    OK(dir_domain_create(db, 0, "org", NULL, NULL, &id, error_r));
    ck_assert_int_eq(dir_domain_get(db, id, &d, NULL), 1);
    ck_assert_int_eq(d.parent_id, 0);
    ck_assert_int_eq(d.confignode_id, node_id);
    dir_domain_clear(&d);

    /* Find by name, any case; list children and the subtree. */
    char *error = NULL;
    ck_assert_int_eq(dir_domain_find(db, "Acme.Com", &d, &error), 1);
    ck_assert_int_eq(d.id, acme_id);
    dir_domain_clear(&d);
    ck_assert_int_eq(dir_domain_find(db, "nowhere.com", &d, &error), 0);
    ck_assert_int_eq(dir_domain_find(db, "", &d, &error), 0);

    struct dir_domain *list;
    size_t n;
    OK(dir_domain_list(db, acme_id, false, &list, &n, error_r));
    ck_assert_int_eq(n, 3);
    ck_assert_str_eq(list[0].fqdn, "de.acme.com");
    ck_assert_str_eq(list[1].fqdn, "uk.acme.com");
    ck_assert_str_eq(list[2].fqdn, "us.acme.com");
    dir_domain_free_list(&list, n);
    ck_assert_ptr_null(list);
    OK(dir_domain_list(db, acme_id, true, &list, &n, error_r));
    ck_assert_int_eq(n, 4); /* de, ny.us, uk, us */
    dir_domain_free_list(&list, n);
    OK(dir_domain_list(db, 0, false, &list, &n, error_r));
    ck_assert_int_eq(n, 2); /* com, org */
    dir_domain_free_list(&list, n);
}
END_TEST

START_TEST(test_domain_modify)
{
    struct dir_domain d;
    OK(dir_domain_modify(db, acme_id, "Acme Corp", NULL, error_r));
    OK(dir_domain_modify(db, acme_id, NULL, "Node2", error_r));
    ck_assert_int_eq(dir_domain_get(db, acme_id, &d, NULL), 1);
    ck_assert_str_eq(d.description, "Acme Corp");
    ck_assert_int_eq(d.confignode_id, node2_id);
    dir_domain_clear(&d);
    FAILS(dir_domain_modify(db, acme_id, "x", "NOSUCH", error_r), "no node named NOSUCH");
    ck_assert_int_eq(dir_domain_get(db, acme_id, &d, NULL), 1);
    ck_assert_str_eq(d.description, "Acme Corp"); /* nothing changed */
    dir_domain_clear(&d);
    FAILS(dir_domain_modify(db, 999999, "x", NULL, error_r), "no domain with id 999999");
}
END_TEST

START_TEST(test_domain_delete)
{
    long long kent = person(us_id, "kent", NULL);
    long long lois = person(acme_id, "lois", NULL);
    long long alias = 0, deleted = -1;
    /* An alias outside the subtree that points into it. */
    OK(dir_alias_create(db, other_id, "ck", "kent@us.acme.com", NULL, &alias, error_r));

    FAILS(dir_domain_delete(db, acme_id, false, NULL, error_r),
          "domain acme.com is not empty: subdomains uk.acme.com, us.acme.com; objects lois "
          "(PERSON)");
    FAILS(dir_domain_delete(db, us_id, false, NULL, error_r), "objects kent (PERSON)");
    OK(dir_domain_delete(db, uk_id, false, &deleted, error_r));
    ck_assert_int_eq(deleted, 0);
    ck_assert_int_eq(count("SELECT count(*) FROM ofc.domain WHERE id = $1::int", uk_id), 0);

    /* Cascade: the subtree, its objects, their mailboxes, and the alias elsewhere. */
    OK(dir_domain_delete(db, acme_id, true, &deleted, error_r));
    ck_assert_int_eq(deleted, 3);
    ck_assert_int_eq(count("SELECT count(*) FROM ofc.domain WHERE id = $1::int", us_id), 0);
    ck_assert_int_eq(count("SELECT count(*) FROM ofc.dir_object WHERE id = $1", kent), 0);
    ck_assert_int_eq(count("SELECT count(*) FROM ofc.dir_object WHERE id = $1", lois), 0);
    ck_assert_int_eq(count("SELECT count(*) FROM ofc.dir_object WHERE id = $1", alias), 0);
    ck_assert_int_eq(count("SELECT count(*) FROM ofc.mailbox WHERE account_id = $1", kent), 0);
    ck_assert_int_eq(count("SELECT count(*) FROM ofc.domain WHERE id = $1::int", other_id), 1);
    FAILS(dir_domain_delete(db, acme_id, false, NULL, error_r), "no domain with id");
}
END_TEST

START_TEST(test_domain_administers)
{
    long long admin = person(acme_id, "admin", NULL);
    long long usadmin = person(us_id, "usadmin", NULL);
    bool yes;
    OK(dir_domain_grant_admin(db, admin, acme_id, error_r));
    OK(dir_domain_grant_admin(db, admin, acme_id, error_r)); /* twice is harmless */
    OK(dir_domain_grant_admin(db, usadmin, us_id, error_r));

    static const struct {
        int who; /* 0 admin, 1 usadmin */
        long long *domain;
        bool want;
    } cases[] = {
        {0, &acme_id, true},   {0, &us_id, true}, {0, &uk_id, true},  {0, &com_id, false},
        {0, &other_id, false}, {1, &us_id, true}, {1, &uk_id, false}, /* a sibling */
        {1, &acme_id, false},                                         /* the parent */
        {1, &com_id, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        OK(dir_domain_administers(db, cases[i].who == 0 ? admin : usadmin, *cases[i].domain, &yes,
                                  error_r));
        ck_assert_msg(yes == cases[i].want, "case %zu", i);
    }
    OK(dir_domain_revoke_admin(db, admin, acme_id, error_r));
    OK(dir_domain_administers(db, admin, us_id, &yes, error_r));
    ck_assert(!yes);
    FAILS(dir_domain_revoke_admin(db, admin, acme_id, error_r), "does not administer");
    FAILS(dir_domain_grant_admin(db, 999999, acme_id, error_r), "no account with id 999999");
}
END_TEST

/* ---- names ---------------------------------------------------------- */

START_TEST(test_duplicate_names)
{
    long long kent = person(acme_id, "kent", "Kent");
    long long id = 0;
    struct dir_account_new acct = {.class = DIR_ACCOUNT_ROOM,
                                   .domain_id = acme_id,
                                   .name = "KENT",
                                   .home_node_id = node_id,
                                   .quota_bytes = -1};
    FAILS(dir_account_create(db, &acct, &id, error_r),
          "an object named 'kent' already exists in acme.com (PERSON)");
    FAILS(dir_dl_create(db, acme_id, "Kent", NULL, &id, error_r),
          "an object named 'kent' already exists in acme.com (PERSON)");
    FAILS(dir_alias_create(db, acme_id, "kent", "lois@other.com", NULL, &id, error_r),
          "already exists in acme.com (PERSON)");
    FAILS(dir_group_create(db, DIR_CLASS_ROLE, acme_id, "kent", NULL, &id, error_r),
          "already exists");
    FAILS(dir_dl_create(db, acme_id, "bad name", NULL, &id, error_r), "invalid name");
    FAILS(dir_dl_create(db, acme_id, "a@b", NULL, &id, error_r), "invalid name");
    FAILS(dir_dl_create(db, 999999, "x", NULL, &id, error_r), "no domain with id 999999");

    /* Other domains, subdomains included, have their own names. */
    (void)person(us_id, "kent", NULL);
    OK(dir_dl_create(db, other_id, "kent", NULL, &id, error_r));

    /* Templates have their own name spaces. */
    long long pub = 0;
    OK(dir_template_create(db, acme_id, 0, "kent", "Hello", "Body", NULL, &pub, error_r));
    FAILS(dir_template_create(db, acme_id, 0, "KENT", NULL, NULL, NULL, &id, error_r),
          "an object named 'kent' already exists in acme.com (PUBLIC_TEMPLATE)");
    long long lois = person(acme_id, "lois", NULL);
    OK(dir_template_create(db, 0, kent, "memo", NULL, NULL, NULL, &id, error_r));
    OK(dir_template_create(db, 0, lois, "memo", NULL, NULL, NULL, &id, error_r));
    FAILS(dir_template_create(db, 0, lois, "Memo", NULL, NULL, NULL, &id, error_r),
          "already has a private template named 'memo'");

    /* Renames are checked the same way. */
    OK(dir_dl_create(db, acme_id, "staff", NULL, &id, error_r));
    FAILS(dir_object_modify(db, id, "LOIS", NULL, error_r),
          "an object named 'lois' already exists in acme.com (PERSON)");
    OK(dir_object_modify(db, id, "Staff", "all staff", error_r)); /* its own name */
    OK(dir_object_modify(db, id, "team", NULL, error_r));
    struct dir_object obj;
    char *error = NULL;
    ck_assert_int_eq(dir_object_find(db, acme_id, DIR_CLASS_DL, "TEAM", &obj, &error), 1);
    ck_assert_str_eq(obj.name, "team");
    ck_assert_str_eq(obj.description, "all staff");
    ck_assert_str_eq(obj.address, "team@acme.com");
    dir_object_clear(&obj);
    ck_assert_int_eq(dir_object_find(db, acme_id, DIR_CLASS_DL, "kent", &obj, &error), 0);
    ck_assert_int_eq(dir_object_find(db, acme_id, DIR_CLASS_ANY, "kent", &obj, &error), 1);
    ck_assert_int_eq(obj.class, DIR_CLASS_PERSON);
    dir_object_clear(&obj);
    ck_assert_int_eq(dir_object_find(db, acme_id, DIR_CLASS_PUBLIC_TEMPLATE, "kent", &obj, &error),
                     1);
    ck_assert_int_eq(obj.id, pub);
    dir_object_clear(&obj);
}
END_TEST

/* ---- listing -------------------------------------------------------- */

static size_t list_count(enum dir_class class, long long domain_id, bool subtree,
                         const char *attribute, const char *pattern)
{
    struct dir_filter f = {attribute, pattern};
    struct dir_query q = {.domain_id = domain_id,
                          .subtree = subtree,
                          .class = class,
                          .filters = &f,
                          .nfilters = attribute != NULL ? 1 : 0};
    struct dir_object *list;
    size_t n;
    OK(dir_object_list(db, &q, &list, &n, error_r));
    dir_object_free_list(&list, n);
    return n;
}

START_TEST(test_list_filters)
{
    (void)person(acme_id, "kent", "Kent");
    (void)person(acme_id, "kant", "Kant");
    (void)person(acme_id, "lois", "Lane");
    (void)person(acme_id, "p100", "100%");
    (void)person(acme_id, "p1000", "1000");
    (void)person(acme_id, "a_b", "a_b");
    (void)person(acme_id, "axb", "axb");
    (void)person(us_id, "ukent", "Kent");
    long long id;
    OK(dir_dl_create(db, acme_id, "kent-list", NULL, &id, error_r));

    ck_assert_int_eq(list_count(DIR_CLASS_PERSON, acme_id, false, "lastname", "Kent"), 1);
    ck_assert_int_eq(list_count(DIR_CLASS_PERSON, acme_id, false, "lastname", "kENT"), 1);
    ck_assert_int_eq(list_count(DIR_CLASS_PERSON, acme_id, true, "lastname", "Kent"), 2);
    ck_assert_int_eq(list_count(DIR_CLASS_PERSON, 0, false, "lastname", "Kent"), 2);
    ck_assert_int_eq(list_count(DIR_CLASS_PERSON, acme_id, false, "lastname", "K*"), 2);
    ck_assert_int_eq(list_count(DIR_CLASS_PERSON, acme_id, false, "lastname", "K?nt"), 2);
    ck_assert_int_eq(list_count(DIR_CLASS_PERSON, acme_id, false, "name", "k*"), 2);
    ck_assert_int_eq(list_count(DIR_CLASS_ANY, acme_id, false, "name", "k*"), 3);
    ck_assert_int_eq(list_count(DIR_CLASS_PERSON, acme_id, false, "name", "*"), 7);
    ck_assert_int_eq(list_count(DIR_CLASS_PERSON, acme_id, false, NULL, NULL), 7);
    /* '%' and '_' in the input are literal, not LIKE wildcards. */
    ck_assert_int_eq(list_count(DIR_CLASS_PERSON, acme_id, false, "lastname", "100%"), 1);
    ck_assert_int_eq(list_count(DIR_CLASS_PERSON, acme_id, false, "lastname", "a_b"), 1);
    ck_assert_int_eq(list_count(DIR_CLASS_PERSON, acme_id, false, "lastname", "%"), 0);
    ck_assert_int_eq(list_count(DIR_CLASS_PERSON, acme_id, false, "name", "a\\b"), 0);
    ck_assert_int_eq(list_count(DIR_CLASS_PERSON, acme_id, false, "lastname", "100*"), 2);

    struct dir_filter f = {"shoesize", "9"};
    struct dir_query q = {.class = DIR_CLASS_PERSON, .filters = &f, .nfilters = 1};
    struct dir_object *list;
    size_t n;
    FAILS(dir_object_list(db, &q, &list, &n, error_r), "unknown attribute 'shoesize'");
    f.attribute = "lastname";
    q.class = DIR_CLASS_DL;
    FAILS(dir_object_list(db, &q, &list, &n, error_r),
          "attribute 'lastname' does not apply to DL objects");

    /* Accounts with their attributes, in one statement. */
    struct dir_account_info *accts;
    f.attribute = "LastName";
    f.pattern = "k*";
    q.class = DIR_CLASS_ANY;
    q.domain_id = acme_id;
    OK(dir_account_list(db, &q, &accts, &n, error_r));
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(accts[0].obj.name, "kant");
    ck_assert_str_eq(accts[1].obj.name, "kent");
    ck_assert_str_eq(accts[1].home_node, "ESNODE");
    dir_account_info_free_list(&accts, n);
    q.class = DIR_CLASS_DL;
    FAILS(dir_account_list(db, &q, &accts, &n, error_r), "not a class of accounts");
}
END_TEST

/* ---- accounts ------------------------------------------------------- */

START_TEST(test_account_create)
{
    long long kent = person(acme_id, "kent", "Kent");
    ck_assert_int_eq(count("SELECT count(*) FROM ofc.mailbox WHERE account_id = $1", kent), 5);
    ck_assert_int_eq(
        count("SELECT count(*) FROM ofc.mailbox_subscription WHERE account_id = $1", kent), 5);
    ck_assert_int_eq(count("SELECT count(*) FROM ofc.mailbox WHERE account_id = $1"
                           " AND name = 'INBOX' AND special_use IS NULL",
                           kent),
                     1);
    ck_assert_int_eq(count("SELECT count(*) FROM ofc.mailbox WHERE account_id = $1"
                           " AND name = 'Trash' AND special_use = '\\Trash'",
                           kent),
                     1);
    struct dir_account_new acct = {.class = DIR_ACCOUNT_EQUIPMENT,
                                   .domain_id = acme_id,
                                   .name = "beamer",
                                   .home_node_id = 999999,
                                   .quota_bytes = -1};
    long long id;
    FAILS(dir_account_create(db, &acct, &id, error_r), "no node with id 999999");
}
END_TEST

START_TEST(test_account_modify)
{
    long long kent = person(acme_id, "kent", "Kent");
    long long perry = person(acme_id, "perry", "White");
    long long usp = person(us_id, "usp", NULL);
    long long hq = 0, planet = 0, vp = 0, editor = 0, ukhq = 0, id;
    OK(dir_group_create(db, DIR_CLASS_LOCATION, acme_id, "HQ", "Metropolis", &hq, error_r));
    OK(dir_group_create(db, DIR_CLASS_ORGANIZATION, acme_id, "planet", NULL, &planet, error_r));
    OK(dir_group_create(db, DIR_CLASS_ROLE, acme_id, "vp", NULL, &vp, error_r));
    OK(dir_group_create(db, DIR_CLASS_ROLE, acme_id, "editor", NULL, &editor, error_r));
    OK(dir_group_create(db, DIR_CLASS_LOCATION, uk_id, "hq", NULL, &ukhq, error_r));
    FAILS(dir_group_create(db, DIR_CLASS_DL, acme_id, "x", NULL, &id, error_r),
          "is not a LOCATION");

    struct dir_account_change chg = DIR_ACCOUNT_CHANGE_INIT;
    chg.password = "s3cret";
    chg.first_name = "Clark";
    chg.last_name = "Kent";
    chg.description = "reporter";
    chg.set_quota = true;
    chg.quota_bytes = 1048576;
    chg.home_node = "node2";
    chg.location = "hq";
    chg.organization = "Planet@ACME.com";
    chg.manager = "perry";
    chg.roles = "VP, editor";
    chg.disabled = 1;
    OK(dir_account_modify(db, kent, &chg, error_r));

    struct dir_account_info info;
    char *error = NULL;
    ck_assert_int_eq(dir_account_get(db, kent, &info, &error), 1);
    ck_assert_str_eq(info.first_name, "Clark");
    ck_assert_str_eq(info.last_name, "Kent");
    ck_assert_str_eq(info.obj.description, "reporter");
    ck_assert_int_eq(info.quota_bytes, 1048576);
    ck_assert_str_eq(info.home_node, "NODE2");
    ck_assert_int_eq(info.home_node_id, node2_id);
    ck_assert_str_eq(info.location, "HQ");
    ck_assert_str_eq(info.organization, "planet");
    ck_assert_str_eq(info.manager, "perry");
    ck_assert_str_eq(info.roles, "editor,vp");
    ck_assert(info.has_password);
    ck_assert(info.disabled);
    dir_account_info_clear(&info);

    /* The password is hashed, and checks. */
    char kid[24];
    snprintf(kid, sizeof(kid), "%lld", kent);
    const char *const kp[] = {kid};
    PGresult *res =
        ofc_db_query(db, "SELECT password_hash FROM ofc.account WHERE object_id = $1", 1, kp);
    ck_assert_ptr_nonnull(res);
    ck_assert(strncmp(ofc_db_value(res, 0, 0), "$y$", 3) == 0);
    ck_assert(ofc_password_verify("s3cret", ofc_db_value(res, 0, 0)));
    ck_assert(!ofc_password_verify("wrong", ofc_db_value(res, 0, 0)));
    PQclear(res);

    /* References in another domain are name@fqdn, and shown so. */
    struct dir_account_change chg2 = DIR_ACCOUNT_CHANGE_INIT;
    chg2.location = "hq@uk.acme.com";
    chg2.roles = "editor";
    chg2.set_quota = true;
    chg2.quota_bytes = -1;
    chg2.disabled = 0;
    OK(dir_account_modify(db, kent, &chg2, error_r));
    ck_assert_int_eq(dir_account_get(db, kent, &info, &error), 1);
    ck_assert_str_eq(info.location, "hq@uk.acme.com");
    ck_assert_str_eq(info.roles, "editor");
    ck_assert_str_eq(info.organization, "planet"); /* untouched */
    ck_assert_int_eq(info.quota_bytes, -1);
    ck_assert(!info.disabled);
    dir_account_info_clear(&info);

    /* Wrong names and classes are refused, and nothing changes. */
    struct dir_account_change bad = DIR_ACCOUNT_CHANGE_INIT;
    bad.first_name = "Superman";
    bad.location = "nowhere";
    FAILS(dir_account_modify(db, kent, &bad, error_r), "no object named 'nowhere' in acme.com");
    bad.location = "perry";
    FAILS(dir_account_modify(db, kent, &bad, error_r),
          "perry@acme.com is a PERSON, not a LOCATION");
    bad.location = NULL;
    bad.manager = "hq";
    FAILS(dir_account_modify(db, kent, &bad, error_r), "is a LOCATION, not a PERSON");
    bad.manager = "kent";
    FAILS(dir_account_modify(db, kent, &bad, error_r), "cannot be its own manager");
    bad.manager = NULL;
    bad.roles = "vp,ceo";
    FAILS(dir_account_modify(db, kent, &bad, error_r), "no object named 'ceo'");
    bad.roles = NULL;
    bad.home_node = "NOSUCH";
    FAILS(dir_account_modify(db, kent, &bad, error_r), "no node named NOSUCH");
    bad.home_node = NULL;
    bad.location = "hq@nowhere.com";
    FAILS(dir_account_modify(db, kent, &bad, error_r), "no domain nowhere.com");
    ck_assert_int_eq(dir_account_get(db, kent, &info, &error), 1);
    ck_assert_str_eq(info.first_name, "Clark");
    dir_account_info_clear(&info);
    FAILS(dir_account_modify(db, hq, &chg2, error_r), "is a LOCATION, not an account");

    /* "" clears; an empty password means no login. */
    struct dir_account_change clear = DIR_ACCOUNT_CHANGE_INIT;
    clear.location = "";
    clear.organization = "";
    clear.manager = "";
    clear.roles = "";
    clear.password = "";
    OK(dir_account_modify(db, kent, &clear, error_r));
    ck_assert_int_eq(dir_account_get(db, kent, &info, &error), 1);
    ck_assert_str_eq(info.location, "");
    ck_assert_str_eq(info.organization, "");
    ck_assert_str_eq(info.manager, "");
    ck_assert_str_eq(info.roles, "");
    ck_assert(!info.has_password);
    dir_account_info_clear(&info);
    ck_assert_int_eq(dir_account_get(db, hq, &info, &error), 0);
    (void)perry;
    (void)usp;
    (void)planet;
    (void)vp;
    (void)editor;
    (void)ukhq;
}
END_TEST

/* ---- aliases, lists, groups, templates ------------------------------- */

START_TEST(test_alias)
{
    long long kent = person(acme_id, "kent", NULL);
    long long ck = 0, ext = 0, id;
    struct dir_object obj;
    char *error = NULL;

    OK(dir_alias_create(db, acme_id, "ck", "KENT", "Clark", &ck, error_r));
    ck_assert_int_eq(dir_object_get(db, ck, &obj, &error), 1);
    ck_assert_str_eq(obj.target, "kent@acme.com");
    dir_object_clear(&obj);
    ck_assert_int_eq(count("SELECT target_object_id FROM ofc.alias WHERE object_id = $1", ck),
                     kent);
    /* An address of another system is kept as written. */
    OK(dir_alias_create(db, acme_id, "jh", "J Hernandez <JHernandez@Us.Anywhere.COM>", NULL, &ext,
                        error_r));
    ck_assert_int_eq(dir_object_get(db, ext, &obj, &error), 1);
    ck_assert_str_eq(obj.target, "JHernandez@us.anywhere.com");
    dir_object_clear(&obj);
    /* An address in a domain of ours must name an object there. */
    OK(dir_alias_create(db, us_id, "ck2", "ck@acme.com", NULL, &id, error_r));
    FAILS(dir_alias_create(db, acme_id, "x", "nobody@acme.com", NULL, &id, error_r),
          "no object named 'nobody' in acme.com");
    FAILS(dir_alias_create(db, acme_id, "y", "nobody", NULL, &id, error_r),
          "no object named 'nobody' in acme.com");
    FAILS(dir_alias_create(db, acme_id, "z", "not an address@", NULL, &id, error_r),
          "invalid address");
    FAILS(dir_alias_create(db, acme_id, "w", "", NULL, &id, error_r), "empty");
    FAILS(dir_alias_modify(db, ck, "ck", NULL, error_r), "cannot point to itself");
    OK(dir_alias_modify(db, ck, "lois@example.org", "new", error_r));
    ck_assert_int_eq(dir_object_get(db, ck, &obj, &error), 1);
    ck_assert_str_eq(obj.target, "lois@example.org");
    ck_assert_str_eq(obj.description, "new");
    dir_object_clear(&obj);
    FAILS(dir_alias_modify(db, kent, "ck", NULL, error_r), "is a PERSON, not an ALIAS");

    /* Listing by target. */
    struct dir_filter f = {"target", "*@us.anywhere.com"};
    struct dir_query q = {.class = DIR_CLASS_ALIAS, .filters = &f, .nfilters = 1};
    struct dir_object *list;
    size_t n;
    OK(dir_object_list(db, &q, &list, &n, error_r));
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(list[0].name, "jh");
    dir_object_free_list(&list, n);
}
END_TEST

START_TEST(test_dl_members)
{
    long long kent = person(acme_id, "kent", NULL);
    long long staff = 0, all = 0;
    OK(dir_dl_create(db, acme_id, "staff", NULL, &staff, error_r));
    OK(dir_dl_create(db, acme_id, "all", NULL, &all, error_r));
    OK(dir_dl_member_add(db, staff, "kent", error_r));
    OK(dir_dl_member_add(db, staff, "Bob <Bob@Example.NET>", error_r));
    OK(dir_dl_member_add(db, all, "staff@acme.com", error_r)); /* nesting */
    OK(dir_dl_member_add(db, staff, "all", error_r));          /* a loop: allowed, resolved later */
    FAILS(dir_dl_member_add(db, staff, "KENT@acme.com", error_r),
          "KENT@acme.com is already a member of staff@acme.com");
    FAILS(dir_dl_member_add(db, staff, "bob@example.net", error_r), "already a member");
    FAILS(dir_dl_member_add(db, staff, "staff", error_r), "cannot be a member of itself");
    FAILS(dir_dl_member_add(db, staff, "ghost", error_r), "no object named 'ghost' in acme.com");
    FAILS(dir_dl_member_add(db, kent, "staff", error_r), "is a PERSON, not a DL");

    struct dir_dl_member *m;
    size_t n;
    OK(dir_dl_members(db, staff, &m, &n, error_r));
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(m[0].class, DIR_CLASS_DL);
    ck_assert_str_eq(m[0].address, "all@acme.com");
    ck_assert_int_eq(m[1].class, DIR_CLASS_PERSON);
    ck_assert_int_eq(m[1].object_id, kent);
    ck_assert_int_eq(m[2].class, DIR_CLASS_ANY);
    ck_assert_str_eq(m[2].address, "Bob@example.net");
    dir_dl_members_free(&m, n);
    ck_assert_ptr_null(m);

    OK(dir_dl_member_remove(db, staff, "BOB@EXAMPLE.NET", error_r));
    OK(dir_dl_member_remove(db, staff, "kent@ACME.com", error_r));
    FAILS(dir_dl_member_remove(db, staff, "kent", error_r),
          "kent is not a member of staff@acme.com");
    OK(dir_dl_members(db, staff, &m, &n, error_r));
    ck_assert_int_eq(n, 1);
    dir_dl_members_free(&m, n);
}
END_TEST

START_TEST(test_groups)
{
    long long kent = person(acme_id, "kent", NULL);
    long long lois = person(acme_id, "lois", NULL);
    long long hq = 0, hq2 = 0, vp = 0, staff = 0;
    OK(dir_group_create(db, DIR_CLASS_LOCATION, acme_id, "hq", NULL, &hq, error_r));
    OK(dir_group_create(db, DIR_CLASS_LOCATION, acme_id, "hq2", NULL, &hq2, error_r));
    OK(dir_group_create(db, DIR_CLASS_ROLE, acme_id, "vp", NULL, &vp, error_r));
    OK(dir_dl_create(db, acme_id, "staff", NULL, &staff, error_r));

    OK(dir_group_member_add(db, hq, kent, error_r));
    OK(dir_group_member_add(db, hq, lois, error_r));
    FAILS(dir_group_member_add(db, hq, kent, error_r), "kent@acme.com is already a member of hq");
    OK(dir_group_member_add(db, vp, kent, error_r));
    FAILS(dir_group_member_add(db, vp, kent, error_r), "already a member");
    FAILS(dir_group_member_add(db, staff, kent, error_r), "is a DL, not a LOCATION");
    FAILS(dir_group_member_add(db, hq, staff, error_r), "is a DL, not an account");

    struct dir_object *list;
    size_t n;
    OK(dir_group_members(db, hq, &list, &n, error_r));
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(list[0].name, "kent");
    ck_assert_str_eq(list[1].name, "lois");
    dir_object_free_list(&list, n);

    /* One location per account: adding to another moves it. */
    OK(dir_group_member_add(db, hq2, kent, error_r));
    OK(dir_group_members(db, hq, &list, &n, error_r));
    ck_assert_int_eq(n, 1);
    dir_object_free_list(&list, n);
    FAILS(dir_group_member_remove(db, hq, kent, error_r), "is not a member of hq");
    OK(dir_group_member_remove(db, hq2, kent, error_r));
    OK(dir_group_member_remove(db, vp, kent, error_r));
    OK(dir_group_members(db, vp, &list, &n, error_r));
    ck_assert_int_eq(n, 0);
    ck_assert_ptr_null(list);
}
END_TEST

START_TEST(test_templates)
{
    long long kent = person(acme_id, "kent", NULL);
    long long lois = person(acme_id, "lois", NULL);
    long long hq = 0, pub = 0, mine = 0, id;
    OK(dir_group_create(db, DIR_CLASS_LOCATION, acme_id, "hq", NULL, &hq, error_r));
    OK(dir_template_create(db, acme_id, 0, "weekly", "Weekly report", "Dear all", NULL, &pub,
                           error_r));
    OK(dir_template_create(db, 0, kent, "note", "A note", "Hi", NULL, &mine, error_r));
    FAILS(dir_template_create(db, 0, hq, "note", NULL, NULL, NULL, &id, error_r),
          "only a PERSON owns private templates");

    struct dir_template tpl;
    char *error = NULL;
    ck_assert_int_eq(dir_template_find(db, acme_id, 0, "WEEKLY", &tpl, &error), 1);
    ck_assert_str_eq(tpl.subject, "Weekly report");
    ck_assert_str_eq(tpl.body, "Dear all");
    ck_assert_int_eq(tpl.obj.class, DIR_CLASS_PUBLIC_TEMPLATE);
    dir_template_clear(&tpl);
    ck_assert_int_eq(dir_template_find(db, acme_id, kent, "note", &tpl, &error), 1);
    ck_assert_int_eq(tpl.obj.owner_id, kent);
    dir_template_clear(&tpl);
    /* Private: invisible to others. */
    ck_assert_int_eq(dir_template_find(db, acme_id, lois, "note", &tpl, &error), 0);
    ck_assert_int_eq(dir_template_find(db, acme_id, 0, "note", &tpl, &error), 0);

    struct dir_template *list;
    size_t n;
    OK(dir_template_list(db, acme_id, kent, &list, &n, error_r));
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(list[0].obj.name, "weekly");
    ck_assert_str_eq(list[1].obj.name, "note");
    dir_template_free_list(&list, n);
    OK(dir_template_list(db, acme_id, lois, &list, &n, error_r));
    ck_assert_int_eq(n, 1);
    dir_template_free_list(&list, n);

    struct dir_query q = {.domain_id = acme_id, .class = DIR_CLASS_ANY, .viewer_id = lois};
    struct dir_object *objs;
    OK(dir_object_list(db, &q, &objs, &n, error_r));
    for (size_t i = 0; i < n; i++)
        ck_assert_int_ne(objs[i].class, DIR_CLASS_PRIVATE_TEMPLATE);
    dir_object_free_list(&objs, n);

    OK(dir_template_modify(db, pub, "Weekly", NULL, "the weekly", error_r));
    ck_assert_int_eq(dir_template_find(db, acme_id, 0, "weekly", &tpl, &error), 1);
    ck_assert_str_eq(tpl.subject, "Weekly");
    ck_assert_str_eq(tpl.body, "Dear all");
    ck_assert_str_eq(tpl.obj.description, "the weekly");
    dir_template_clear(&tpl);
    FAILS(dir_template_modify(db, kent, "x", NULL, NULL, error_r), "no template with id");

    /* A person's private templates go with the person. */
    long long deleted = 0;
    OK(dir_object_delete(db, kent, false, &deleted, error_r));
    ck_assert_int_eq(count("SELECT count(*) FROM ofc.dir_object WHERE id = $1", mine), 0);
}
END_TEST

/* ---- delete with references ----------------------------------------- */

START_TEST(test_delete_references)
{
    long long kent = person(acme_id, "kent", NULL);
    long long lois = person(acme_id, "lois", NULL);
    long long perry = person(acme_id, "perry", NULL);
    long long ck = 0, ck2 = 0, staff = 0, hq = 0, vp = 0, deleted = 0;
    OK(dir_alias_create(db, acme_id, "ck", "kent", NULL, &ck, error_r));
    OK(dir_alias_create(db, other_id, "ck2", "ck@acme.com", NULL, &ck2, error_r));
    OK(dir_dl_create(db, acme_id, "staff", NULL, &staff, error_r));
    OK(dir_dl_member_add(db, staff, "kent", error_r));
    OK(dir_dl_member_add(db, staff, "lois", error_r));
    OK(dir_dl_member_add(db, staff, "ck2@other.com", error_r));
    OK(dir_group_create(db, DIR_CLASS_LOCATION, acme_id, "hq", NULL, &hq, error_r));
    OK(dir_group_create(db, DIR_CLASS_ROLE, acme_id, "vp", NULL, &vp, error_r));
    OK(dir_group_member_add(db, hq, lois, error_r));
    OK(dir_group_member_add(db, vp, perry, error_r));
    struct dir_account_change chg = DIR_ACCOUNT_CHANGE_INIT;
    chg.manager = "kent";
    OK(dir_account_modify(db, lois, &chg, error_r));

    FAILS(dir_object_delete(db, kent, false, NULL, error_r),
          "cannot delete kent@acme.com (PERSON): referenced by ALIAS ck@acme.com (alias target),"
          " DL staff@acme.com (list member), PERSON lois@acme.com (manager);"
          " delete with cascade");
    FAILS(dir_object_delete(db, hq, false, NULL, error_r),
          "cannot delete hq@acme.com (LOCATION): referenced by PERSON lois@acme.com (location)");
    FAILS(dir_object_delete(db, vp, false, NULL, error_r),
          "referenced by PERSON perry@acme.com (role)");
    FAILS(dir_object_delete(db, ck, false, NULL, error_r), "ALIAS ck2@other.com (alias target)");
    FAILS(dir_object_delete(db, 999999, false, NULL, error_r), "no object with id 999999");

    /* Cascade: aliases of kent (and aliases of those) go, the rest is unlinked. */
    OK(dir_object_delete(db, kent, true, &deleted, error_r));
    ck_assert_int_eq(deleted, 3); /* kent, ck, ck2 */
    ck_assert_int_eq(count("SELECT count(*) FROM ofc.dir_object WHERE id = $1", ck), 0);
    ck_assert_int_eq(count("SELECT count(*) FROM ofc.dir_object WHERE id = $1", ck2), 0);
    ck_assert_int_eq(count("SELECT count(*) FROM ofc.dl_member WHERE dl_id = $1", staff), 1);
    ck_assert_int_eq(count("SELECT count(*) FROM ofc.mailbox WHERE account_id = $1", kent), 0);
    ck_assert_int_eq(
        count("SELECT count(*) FROM ofc.account WHERE object_id = $1 AND manager_id IS NULL", lois),
        1);

    OK(dir_object_delete(db, hq, true, &deleted, error_r));
    ck_assert_int_eq(deleted, 1);
    ck_assert_int_eq(
        count("SELECT count(*) FROM ofc.account WHERE object_id = $1 AND location_id IS NULL",
              lois),
        1);
    OK(dir_object_delete(db, vp, true, &deleted, error_r));
    ck_assert_int_eq(count("SELECT count(*) FROM ofc.role_assignment WHERE account_id = $1", perry),
                     0);

    /* A list is deleted with its members; an unreferenced person needs no cascade. */
    OK(dir_object_delete(db, staff, false, &deleted, error_r));
    ck_assert_int_eq(deleted, 1);
    OK(dir_object_delete(db, perry, false, &deleted, error_r));
}
END_TEST

START_TEST(test_class_names)
{
    enum dir_class c;
    ck_assert(dir_class_parse("person", &c));
    ck_assert_int_eq(c, DIR_CLASS_PERSON);
    ck_assert(dir_class_parse("Distribution_List", &c));
    ck_assert_int_eq(c, DIR_CLASS_DL);
    ck_assert(dir_class_parse("template", &c));
    ck_assert_int_eq(c, DIR_CLASS_PUBLIC_TEMPLATE);
    ck_assert(!dir_class_parse("shoe", &c));
    ck_assert(!dir_class_parse(NULL, &c));
    ck_assert_str_eq(dir_class_name(DIR_CLASS_PRIVATE_TEMPLATE), "PRIVATE_TEMPLATE");
    ck_assert_str_eq(dir_class_name(DIR_CLASS_ANY), "ANY");
    ck_assert(dir_class_is_account(DIR_CLASS_ROOM));
    ck_assert(!dir_class_is_account(DIR_CLASS_ALIAS));
    ck_assert(dir_class_is_group(DIR_CLASS_ROLE));
    ck_assert(!dir_class_is_addressable(DIR_CLASS_PUBLIC_TEMPLATE));
    ck_assert_str_eq(dir_account_class_name(DIR_ACCOUNT_EQUIPMENT), "EQUIPMENT");
}
END_TEST

static Suite *dir_suite(void)
{
    Suite *s = suite_create("dir");
    TCase *tc = tcase_create("dir");
    tcase_add_unchecked_fixture(tc, setup_db, teardown_db);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_domain_create);
    tcase_add_test(tc, test_domain_modify);
    tcase_add_test(tc, test_domain_delete);
    tcase_add_test(tc, test_domain_administers);
    tcase_add_test(tc, test_duplicate_names);
    tcase_add_test(tc, test_list_filters);
    tcase_add_test(tc, test_account_create);
    tcase_add_test(tc, test_account_modify);
    tcase_add_test(tc, test_alias);
    tcase_add_test(tc, test_dl_members);
    tcase_add_test(tc, test_groups);
    tcase_add_test(tc, test_templates);
    tcase_add_test(tc, test_delete_references);
    tcase_add_test(tc, test_class_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(dir_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
