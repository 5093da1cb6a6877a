/*
 * test_resolve.c - address resolution (dir_resolve) against a real
 * PostgreSQL.
 *
 * One database for the program (testdb.c) holds one directory, built once
 * by the unchecked fixture with the directory verbs:
 *
 *   com, acme.com, us.acme.com          domains (example.net is not ours)
 *   kent, lois (home NODE2), jimmy, perry      persons in acme.com
 *   kent, clark                                persons in us.acme.com
 *   ck -> kent; superman -> ck; bob -> bob@example.net;
 *   usclark -> clark@us.acme.com               aliases in acme.com
 *   staff = {kent, lois, bob, carol@Example.NET}
 *   all = {staff, jimmy, superman, Carol@example.net}
 *   loopa = {loopb, perry}; loopb = {loopa, jimmy}
 *   hq (location: kent, lois), planet (organization: jimmy, perry),
 *   editor (role: perry, lois)
 *   chain0 -> chain1 -> ... -> chain19 = {jimmy}     nested 20 deep
 *
 * Tests that need more add it inside a transaction they roll back.
 */
/* System. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Libraries. */
#include <check.h>

/* libofc. */
#include "dir_account.h"
#include "dir_alias.h"
#include "dir_dl.h"
#include "dir_domain.h"
#include "dir_group.h"
#include "dir_resolve.h"
#include "ofc_db.h"
#include "ofc_mem.h"

/* Tests. */
#include "testdb.h"

#define CHAIN 20

static struct testdb tdb;
static long long node_id, node2_id;
static long long acme_id, us_id;
static long long kent, lois, jimmy, perry, uskent, clark;

/* ---- helpers -------------------------------------------------------- */

#define OK(call)                                                                                   \
    do {                                                                                           \
        char *err_ = NULL;                                                                         \
        char **error_r = &err_;                                                                    \
        int rc_ = (call);                                                                          \
        ck_assert_msg(rc_ >= 0, "%s: %s", #call, err_ != NULL ? err_ : "?");                       \
        free(err_);                                                                                \
    } while (0)

static long long person(struct ofc_db *db, long long domain_id, const char *name, long long node)
{
    struct dir_account_new acct = {.class = DIR_ACCOUNT_PERSON,
                                   .domain_id = domain_id,
                                   .name = name,
                                   .home_node_id = node,
                                   .quota_bytes = -1};
    long long id = 0;
    OK(dir_account_create(db, &acct, &id, error_r));
    return id;
}

static long long dl(struct ofc_db *db, long long domain_id, const char *name,
                    const char *const *members)
{
    long long id = 0;
    OK(dir_dl_create(db, domain_id, name, NULL, &id, error_r));
    for (size_t i = 0; members != NULL && members[i] != NULL; i++)
        OK(dir_dl_member_add(db, id, members[i], error_r));
    return id;
}

static long long group(struct ofc_db *db, enum dir_class class, const char *name,
                       const long long *members, size_t n)
{
    long long id = 0;
    OK(dir_group_create(db, class, acme_id, name, NULL, &id, error_r));
    for (size_t i = 0; i < n; i++)
        OK(dir_group_member_add(db, id, members[i], error_r));
    return id;
}

/* The result of one resolution, for the checks below. */
struct result {
    struct dir_rcpt *r;
    size_t n;
};

static struct result resolve_ctx(struct ofc_db *db, const struct dir_resolve_context *ctx,
                                 const char *const *addresses, size_t count)
{
    struct result res;
    OK(dir_resolve(db, ctx, addresses, count, &res.r, &res.n, error_r));
    return res;
}

/* Resolves addresses (NULL-terminated) with acme.com as the context. */
static struct result resolve(struct ofc_db *db, const char *const *addresses)
{
    size_t count = 0;
    while (addresses[count] != NULL)
        count++;
    struct dir_resolve_context ctx = {.domain_id = acme_id};
    return resolve_ctx(db, &ctx, addresses, count);
}

static size_t count_kind(const struct result *res, enum dir_rcpt_kind kind)
{
    size_t n = 0;
    for (size_t i = 0; i < res->n; i++)
        n += res->r[i].kind == kind;
    return n;
}

/* How often account id is in the result (duplicates must collapse: 0 or 1). */
static size_t has_account(const struct result *res, long long id)
{
    size_t n = 0;
    for (size_t i = 0; i < res->n; i++)
        n += res->r[i].kind == DIR_RCPT_ACCOUNT && res->r[i].account_id == id;
    return n;
}

/* The result of kind with address (case-insensitively), or NULL. */
static const struct dir_rcpt *find(const struct result *res, enum dir_rcpt_kind kind,
                                   const char *address)
{
    for (size_t i = 0; i < res->n; i++)
        if (res->r[i].kind == kind && strcasecmp(res->r[i].address, address) == 0)
            return &res->r[i];
    return NULL;
}

static void dump(const struct result *res)
{
    for (size_t i = 0; i < res->n; i++)
        fprintf(stderr, "  %s %s id=%lld node=%lld input=%zu %s\n",
                dir_rcpt_kind_name(res->r[i].kind), res->r[i].address, res->r[i].account_id,
                res->r[i].home_node_id, res->r[i].input,
                res->r[i].reason != NULL ? res->r[i].reason : "");
}

static void result_free(struct result *res)
{
    dir_rcpts_free(&res->r, res->n);
    ck_assert_ptr_null(res->r);
}

/* Exactly one account, id. */
static void expect_one_account(struct ofc_db *db, const char *address, long long id)
{
    const char *const in[] = {address, NULL};
    struct result res = resolve(db, in);
    if (res.n != 1 || res.r[0].kind != DIR_RCPT_ACCOUNT || res.r[0].account_id != id)
        dump(&res);
    ck_assert_msg(res.n == 1, "%s: %zu results", address, res.n);
    ck_assert_msg(res.r[0].kind == DIR_RCPT_ACCOUNT && res.r[0].account_id == id,
                  "%s: not account %lld", address, id);
    result_free(&res);
}

/* ---- fixture -------------------------------------------------------- */

static void build_directory(struct ofc_db *db)
{
    node_id = testdb_query_ll(db,
                              "INSERT INTO ofc.node (name, is_local) VALUES ('ESNODE', true)"
                              " RETURNING id",
                              0, NULL, 0);
    node2_id = testdb_query_ll(db, "INSERT INTO ofc.node (name) VALUES ('NODE2') RETURNING id", 0,
                               NULL, 0);
    long long com_id = 0, id = 0;
    OK(dir_domain_create(db, 0, "com", NULL, NULL, &com_id, error_r));
    OK(dir_domain_create(db, com_id, "acme.com", NULL, NULL, &acme_id, error_r));
    OK(dir_domain_create(db, acme_id, "us.acme.com", NULL, NULL, &us_id, error_r));

    kent = person(db, acme_id, "kent", node_id);
    lois = person(db, acme_id, "Lois", node2_id);
    jimmy = person(db, acme_id, "jimmy", node_id);
    perry = person(db, acme_id, "perry", node_id);
    uskent = person(db, us_id, "kent", node_id);
    clark = person(db, us_id, "clark", node_id);

    OK(dir_alias_create(db, acme_id, "ck", "kent", NULL, &id, error_r));
    OK(dir_alias_create(db, acme_id, "superman", "ck", NULL, &id, error_r));
    OK(dir_alias_create(db, acme_id, "bob", "Bob <bob@example.net>", NULL, &id, error_r));
    OK(dir_alias_create(db, acme_id, "usclark", "clark@us.acme.com", NULL, &id, error_r));

    const char *const staff[] = {"kent", "lois", "bob", "carol@Example.NET", NULL};
    (void)dl(db, acme_id, "staff", staff);
    const char *const all[] = {"staff", "jimmy", "superman", "Carol@example.net", NULL};
    (void)dl(db, acme_id, "all", all);

    const char *const a[] = {"perry", NULL};
    long long loopa = dl(db, acme_id, "loopa", a);
    const char *const b[] = {"loopa", "jimmy", NULL};
    (void)dl(db, acme_id, "loopb", b);
    OK(dir_dl_member_add(db, loopa, "loopb", error_r));

    const long long hq[] = {kent, lois};
    (void)group(db, DIR_CLASS_LOCATION, "hq", hq, 2);
    const long long planet[] = {jimmy, perry};
    (void)group(db, DIR_CLASS_ORGANIZATION, "planet", planet, 2);
    const long long editor[] = {perry, lois};
    (void)group(db, DIR_CLASS_ROLE, "editor", editor, 2);

    /* chainN contains chainN+1; the last one contains jimmy. */
    const char *const last[] = {"jimmy", NULL};
    (void)dl(db, acme_id, "chain19", last);
    for (int i = CHAIN - 2; i >= 0; i--) {
        char name[16], member[16];
        snprintf(name, sizeof(name), "chain%d", i);
        snprintf(member, sizeof(member), "chain%d", i + 1);
        const char *const m[] = {member, NULL};
        (void)dl(db, acme_id, name, m);
    }
}

static void setup_db(void)
{
    testdb_create(&tdb, "ofc_unit_resolve");
    struct ofc_db *db = testdb_connect(&tdb, "test_resolve setup");
    testdb_exec(db, "BEGIN", 0, NULL);
    build_directory(db);
    testdb_exec(db, "COMMIT", 0, NULL);
    ofc_db_free(&db);
}

static void teardown_db(void)
{
    testdb_drop(&tdb);
}

/* ---- tests ---------------------------------------------------------- */

START_TEST(test_person)
{
    struct ofc_db *db = testdb_connect(&tdb, "test_resolve");
    expect_one_account(db, "kent@acme.com", kent);
    /* Case-insensitive local parts and domains; display names and brackets. */
    expect_one_account(db, "KENT@ACME.COM", kent);
    expect_one_account(db, "Clark Kent <Kent@Acme.Com>", kent);
    expect_one_account(db, "lois@acme.com", lois);
    /* Bare names in the context domain. */
    expect_one_account(db, "kent", kent);
    expect_one_account(db, "LOIS", lois);

    const char *const in[] = {"lois@acme.com", NULL};
    struct result res = resolve(db, in);
    ck_assert_int_eq(res.r[0].home_node_id, node2_id);
    ck_assert_str_eq(res.r[0].address, "Lois@acme.com");
    ck_assert_ptr_null(res.r[0].reason);
    ck_assert_int_eq(res.r[0].input, 0);
    result_free(&res);

    /* The context by name; another context finds another kent. */
    struct dir_resolve_context ctx = {.domain_fqdn = "US.acme.com"};
    const char *const bare[] = {"kent"};
    res = resolve_ctx(db, &ctx, bare, 1);
    ck_assert_int_eq(res.n, 1);
    ck_assert_int_eq(res.r[0].account_id, uskent);
    ck_assert_str_eq(res.r[0].address, "kent@us.acme.com");
    result_free(&res);
    ctx.domain_fqdn = NULL;
    ctx.domain_id = us_id;
    res = resolve_ctx(db, &ctx, bare, 1);
    ck_assert_int_eq(res.r[0].account_id, uskent);
    result_free(&res);
    ofc_db_free(&db);
}
END_TEST

START_TEST(test_ofcmail_suffix)
{
    struct ofc_db *db = testdb_connect(&tdb, "test_resolve");
    expect_one_account(db, "kent.ofcmail", kent);
    expect_one_account(db, "Kent.OFCMAIL", kent);
    expect_one_account(db, "kent.ofcmail@acme.com", kent);
    /* The suffix alone is not a name. */
    const char *const in[] = {".ofcmail", NULL};
    struct result res = resolve(db, in);
    ck_assert_int_eq(res.n, 1);
    ck_assert_int_eq(res.r[0].kind, DIR_RCPT_UNKNOWN);
    result_free(&res);
    ofc_db_free(&db);
}
END_TEST

START_TEST(test_subdomains)
{
    struct ofc_db *db = testdb_connect(&tdb, "test_resolve");
    expect_one_account(db, "kent@us.acme.com", uskent);
    expect_one_account(db, "clark@us.acme.com", clark);
    /* clark lives in us.acme.com only; acme.com does not see him, nor us.acme.com acme's. */
    const char *const in[] = {"clark@acme.com", "jimmy@us.acme.com", "clark", NULL};
    struct result res = resolve(db, in);
    ck_assert_int_eq(res.n, 3);
    ck_assert_int_eq(count_kind(&res, DIR_RCPT_UNKNOWN), 3);
    const struct dir_rcpt *r = find(&res, DIR_RCPT_UNKNOWN, "clark@acme.com");
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(r->reason, "unknown address: no 'clark' in acme.com");
    ck_assert_int_eq(r->input, 0);
    r = find(&res, DIR_RCPT_UNKNOWN, "jimmy@us.acme.com");
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->input, 1);
    result_free(&res);
    /* A domain below ours that is not a domain of the directory is elsewhere. */
    const char *const ext[] = {"kent@eu.acme.com", NULL};
    res = resolve(db, ext);
    ck_assert_int_eq(res.n, 1);
    ck_assert_int_eq(res.r[0].kind, DIR_RCPT_EXTERNAL);
    ck_assert_str_eq(res.r[0].address, "kent@eu.acme.com");
    result_free(&res);
    ofc_db_free(&db);
}
END_TEST

START_TEST(test_aliases)
{
    struct ofc_db *db = testdb_connect(&tdb, "test_resolve");
    expect_one_account(db, "ck@acme.com", kent);
    expect_one_account(db, "superman", kent);          /* alias -> alias -> person */
    expect_one_account(db, "usclark@acme.com", clark); /* into a subdomain */
    const char *const in[] = {"bob", NULL};
    struct result res = resolve(db, in);
    ck_assert_int_eq(res.n, 1);
    ck_assert_int_eq(res.r[0].kind, DIR_RCPT_EXTERNAL);
    ck_assert_str_eq(res.r[0].address, "bob@example.net");
    ck_assert_int_eq(res.r[0].account_id, 0);
    result_free(&res);
    ofc_db_free(&db);
}
END_TEST

START_TEST(test_lists_and_duplicates)
{
    struct ofc_db *db = testdb_connect(&tdb, "test_resolve");
    const char *const in[] = {"staff@acme.com", NULL};
    struct result res = resolve(db, in);
    ck_assert_int_eq(count_kind(&res, DIR_RCPT_ACCOUNT), 2);
    ck_assert_int_eq(has_account(&res, kent), 1);
    ck_assert_int_eq(has_account(&res, lois), 1);
    ck_assert_int_eq(count_kind(&res, DIR_RCPT_EXTERNAL), 2);
    ck_assert_ptr_nonnull(find(&res, DIR_RCPT_EXTERNAL, "bob@example.net"));
    ck_assert_ptr_nonnull(find(&res, DIR_RCPT_EXTERNAL, "carol@example.net"));
    ck_assert_int_eq(res.n, 4);
    result_free(&res);

    /*
     * all = {staff, jimmy, superman, Carol@example.net}: kent twice (staff,
     * superman -> ck -> kent), carol twice in two spellings.
     */
    const char *const all[] = {"ALL", NULL};
    res = resolve(db, all);
    ck_assert_int_eq(has_account(&res, kent), 1);
    ck_assert_int_eq(has_account(&res, lois), 1);
    ck_assert_int_eq(has_account(&res, jimmy), 1);
    ck_assert_int_eq(count_kind(&res, DIR_RCPT_ACCOUNT), 3);
    ck_assert_int_eq(count_kind(&res, DIR_RCPT_EXTERNAL), 2);
    ck_assert_int_eq(count_kind(&res, DIR_RCPT_UNKNOWN), 0);
    ck_assert_int_eq(count_kind(&res, DIR_RCPT_LOOP), 0);
    result_free(&res);

    /* Several recipients of one message: each person once. */
    const char *const many[] = {"kent@acme.com", "ck", "staff", "Kent@ACME.com", "hq", NULL};
    res = resolve(db, many);
    ck_assert_int_eq(has_account(&res, kent), 1);
    ck_assert_int_eq(has_account(&res, lois), 1);
    ck_assert_int_eq(count_kind(&res, DIR_RCPT_ACCOUNT), 2);
    ck_assert_int_eq(res.r[0].account_id, kent);
    ck_assert_int_eq(res.r[0].input, 0);
    result_free(&res);
    ofc_db_free(&db);
}
END_TEST

START_TEST(test_groups)
{
    struct ofc_db *db = testdb_connect(&tdb, "test_resolve");
    const char *const hq[] = {"hq@acme.com", NULL};
    struct result res = resolve(db, hq);
    ck_assert_int_eq(res.n, 2);
    ck_assert_int_eq(has_account(&res, kent), 1);
    ck_assert_int_eq(has_account(&res, lois), 1);
    result_free(&res);
    const char *const planet[] = {"Planet", NULL};
    res = resolve(db, planet);
    ck_assert_int_eq(res.n, 2);
    ck_assert_int_eq(has_account(&res, jimmy), 1);
    ck_assert_int_eq(has_account(&res, perry), 1);
    result_free(&res);
    const char *const editor[] = {"editor", "planet", NULL};
    res = resolve(db, editor);
    ck_assert_int_eq(res.n, 3); /* perry once */
    ck_assert_int_eq(has_account(&res, perry), 1);
    ck_assert_int_eq(has_account(&res, lois), 1);
    ck_assert_int_eq(has_account(&res, jimmy), 1);
    result_free(&res);
    ofc_db_free(&db);
}
END_TEST

START_TEST(test_loops)
{
    struct ofc_db *db = testdb_connect(&tdb, "test_resolve");
    /* loopa = {loopb, perry}, loopb = {loopa, jimmy}: reported, and everyone gets it. */
    const char *const in[] = {"loopa@acme.com", NULL};
    struct result res = resolve(db, in);
    ck_assert_int_eq(has_account(&res, perry), 1);
    ck_assert_int_eq(has_account(&res, jimmy), 1);
    ck_assert_int_eq(count_kind(&res, DIR_RCPT_LOOP), 1);
    const struct dir_rcpt *loop = find(&res, DIR_RCPT_LOOP, "loopa@acme.com");
    ck_assert_ptr_nonnull(loop);
    ck_assert_str_eq(loop->reason, "list loop: loopa@acme.com -> loopb@acme.com -> loopa@acme.com");
    ck_assert_int_eq(res.n, 3);
    /* LOOP results come last. */
    ck_assert_int_eq(res.r[res.n - 1].kind, DIR_RCPT_LOOP);
    result_free(&res);

    /* An alias loop: x -> y -> x, no one at all. */
    testdb_exec(db, "BEGIN", 0, NULL);
    long long x = 0, y = 0;
    OK(dir_alias_create(db, acme_id, "x", "kent", NULL, &x, error_r));
    OK(dir_alias_create(db, acme_id, "y", "x", NULL, &y, error_r));
    OK(dir_alias_modify(db, x, "y", NULL, error_r));
    const char *const ax[] = {"x", NULL};
    res = resolve(db, ax);
    if (res.n != 1)
        dump(&res);
    ck_assert_int_eq(res.n, 1);
    ck_assert_int_eq(res.r[0].kind, DIR_RCPT_LOOP);
    ck_assert_str_eq(res.r[0].reason, "alias loop: x@acme.com -> y@acme.com -> x@acme.com");
    result_free(&res);
    testdb_exec(db, "ROLLBACK", 0, NULL);
    ofc_db_free(&db);
}
END_TEST

START_TEST(test_depth_limit)
{
    struct ofc_db *db = testdb_connect(&tdb, "test_resolve");
    /* chain0 .. chain19 nest 20 deep; jimmy is at the bottom. */
    const char *const in[] = {"chain0"};
    struct dir_resolve_context ctx = {.domain_id = acme_id, .max_depth = 5};
    struct result res = resolve_ctx(db, &ctx, in, 1);
    ck_assert_int_eq(res.n, 1);
    ck_assert_int_eq(res.r[0].kind, DIR_RCPT_UNKNOWN);
    ck_assert_str_eq(res.r[0].address, "chain5@acme.com");
    ck_assert_str_eq(res.r[0].reason, "not expanded: nested deeper than 5 levels");
    result_free(&res);

    ctx.max_depth = 0; /* the default, 16 */
    res = resolve_ctx(db, &ctx, in, 1);
    ck_assert_int_eq(res.n, 1);
    ck_assert_str_eq(res.r[0].address, "chain16@acme.com");
    ck_assert_int_eq(has_account(&res, jimmy), 0);
    result_free(&res);

    ctx.max_depth = CHAIN;
    res = resolve_ctx(db, &ctx, in, 1);
    ck_assert_int_eq(res.n, 1);
    ck_assert_int_eq(has_account(&res, jimmy), 1);
    result_free(&res);
    ofc_db_free(&db);
}
END_TEST

START_TEST(test_unknown)
{
    struct ofc_db *db = testdb_connect(&tdb, "test_resolve");
    const char *const in[] = {"nobody@acme.com", "NOBODY@acme.com", "ghost", "not an address@", "",
                              "x@example.net",   "X@Example.Net",   NULL};
    struct result res = resolve(db, in);
    if (res.n != 5)
        dump(&res);
    ck_assert_int_eq(res.n, 5);
    const struct dir_rcpt *r = find(&res, DIR_RCPT_UNKNOWN, "nobody@acme.com");
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(r->reason, "unknown address: no 'nobody' in acme.com");
    r = find(&res, DIR_RCPT_UNKNOWN, "ghost");
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(r->reason, "unknown address: no 'ghost' in acme.com");
    r = find(&res, DIR_RCPT_UNKNOWN, "not an address@");
    ck_assert_ptr_nonnull(r);
    ck_assert(strncmp(r->reason, "invalid address: ", 17) == 0);
    ck_assert_ptr_nonnull(find(&res, DIR_RCPT_UNKNOWN, ""));
    ck_assert_int_eq(count_kind(&res, DIR_RCPT_EXTERNAL), 1);
    result_free(&res);

    /* Without a context a bare name reaches nobody. */
    struct dir_resolve_context none = {0};
    const char *const bare[] = {"kent"};
    res = resolve_ctx(db, &none, bare, 1);
    ck_assert_int_eq(res.n, 1);
    ck_assert_int_eq(res.r[0].kind, DIR_RCPT_UNKNOWN);
    ck_assert_str_eq(res.r[0].reason, "unknown address: no domain to look a bare name up in");
    result_free(&res);

    /* Nothing in, nothing out. */
    res = resolve_ctx(db, &none, bare, 0);
    ck_assert_int_eq(res.n, 0);
    ck_assert_ptr_null(res.r);
    ofc_db_free(&db);
}
END_TEST

START_TEST(test_member_address_becomes_local)
{
    /*
     * A list member stored as an address of another system becomes local
     * when its domain joins the directory later: looked up at its level.
     */
    struct ofc_db *db = testdb_connect(&tdb, "test_resolve");
    testdb_exec(db, "BEGIN", 0, NULL);
    const char *const m[] = {"z@newco.com", "kent", NULL};
    (void)dl(db, acme_id, "partners", m);
    long long com_id =
        testdb_query_ll(db, "SELECT id FROM ofc.domain WHERE fqdn = 'com'", 0, NULL, 0);
    long long newco = 0;
    OK(dir_domain_create(db, com_id, "newco.com", NULL, NULL, &newco, error_r));
    long long z = person(db, newco, "Z", node_id);
    const char *const in[] = {"partners", NULL};
    struct result res = resolve(db, in);
    ck_assert_int_eq(res.n, 2);
    ck_assert_int_eq(has_account(&res, z), 1);
    ck_assert_int_eq(has_account(&res, kent), 1);
    result_free(&res);
    testdb_exec(db, "ROLLBACK", 0, NULL);
    ofc_db_free(&db);
}
END_TEST

/*
 * Counts the statements resolution sends: the test program's own
 * PQexecPrepared() comes before libpq's in symbol lookup and hands every
 * call on to it.
 */
static int prepared_calls;

PGresult *PQexecPrepared(PGconn *conn, const char *name, int nparams, const char *const *values,
                         const int *lengths, const int *formats, int result_format)
{
    typedef PGresult *exec_fn(PGconn *, const char *, int, const char *const *, const int *,
                              const int *, int);
    static exec_fn *real;
    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "PQexecPrepared");
    ck_assert_ptr_nonnull(real);
    prepared_calls++;
    return real(conn, name, nparams, values, lengths, formats, result_format);
}

static int statements_for(struct ofc_db *db, const char *const *in, size_t *accounts_r)
{
    prepared_calls = 0;
    struct result res = resolve(db, in);
    *accounts_r = count_kind(&res, DIR_RCPT_ACCOUNT);
    result_free(&res);
    return prepared_calls;
}

START_TEST(test_statements_per_level)
{
    /*
     * The number of statements is the nesting depth, never the number of
     * addresses: a location of 300 persons plus a person plus an alias of
     * an alias takes two.
     */
    struct ofc_db *db = testdb_connect(&tdb, "test_resolve");
    testdb_exec(db, "BEGIN", 0, NULL);
    long long big = 0;
    OK(dir_group_create(db, DIR_CLASS_LOCATION, acme_id, "campus", NULL, &big, error_r));
    for (int i = 0; i < 300; i++) {
        char name[16];
        snprintf(name, sizeof(name), "p%03d", i);
        long long id = person(db, acme_id, name, node_id);
        OK(dir_group_member_add(db, big, id, error_r));
    }
    size_t accounts;
    const char *const person_in[] = {"kent", NULL};
    ck_assert_int_eq(statements_for(db, person_in, &accounts), 1);
    ck_assert_int_eq(accounts, 1);
    const char *const alias_in[] = {"ck", NULL};
    ck_assert_int_eq(statements_for(db, alias_in, &accounts), 1);
    const char *const alias2_in[] = {"superman", NULL};
    ck_assert_int_eq(statements_for(db, alias2_in, &accounts), 2);
    const char *const many_in[] = {"campus", "kent", "superman", "lois", "x@example.net", NULL};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(statements_for(db, many_in, &accounts), 2);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ck_assert_int_eq(accounts, 302);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    ck_assert_msg(ms < 2000, "resolving 302 recipients took %.0f ms", ms);
    const char *const chain_in[] = {"chain0", NULL};
    ck_assert_int_eq(statements_for(db, chain_in, &accounts), DIR_RESOLVE_DEFAULT_DEPTH);
    testdb_exec(db, "ROLLBACK", 0, NULL);
    ofc_db_free(&db);
}
END_TEST

static Suite *resolve_suite(void)
{
    Suite *s = suite_create("resolve");
    TCase *tc = tcase_create("resolve");
    tcase_add_unchecked_fixture(tc, setup_db, teardown_db);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_person);
    tcase_add_test(tc, test_ofcmail_suffix);
    tcase_add_test(tc, test_subdomains);
    tcase_add_test(tc, test_aliases);
    tcase_add_test(tc, test_lists_and_duplicates);
    tcase_add_test(tc, test_groups);
    tcase_add_test(tc, test_loops);
    tcase_add_test(tc, test_depth_limit);
    tcase_add_test(tc, test_unknown);
    tcase_add_test(tc, test_member_address_becomes_local);
    tcase_add_test(tc, test_statements_per_level);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(resolve_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
