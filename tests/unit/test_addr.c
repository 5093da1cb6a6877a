/*
 * test_addr.c - RFC 5322 / RFC 5321 address parsing (common/ofc_addr.c).
 *
 * Most of it is one table: an input, how it is parsed, and either the
 * exact error or every field of the result plus its formatted form and
 * lookup key. Each row runs as its own loop test, so a failure names it.
 */
/* System. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Libraries. */
#include <check.h>

/* libofc. */
#include "ofc_addr.h"
#include "ofc_mem.h"

enum mode {
    MAILBOX,   /* ofc_addr_parse_mailbox, allow_bare false */
    BARE,      /* ofc_addr_parse_mailbox, allow_bare true */
    PATH,      /* ofc_addr_parse_path, null_ok false */
    PATH_NULL, /* ofc_addr_parse_path, null_ok true */
};

struct addr_case {
    enum mode mode;
    const char *in;
    const char *error; /* NULL: must parse, and the fields below must match */
    const char *display;
    const char *local;
    const char *domain;
    bool quoted;
    const char *formatted;
    const char *key;
};

/* Inputs too long to write out are built in build_long_inputs(). */
static char local64[128], local65[128], quoted65[128], label63[128], label64[128];
static char domain_too_long[512], addr_too_long[512], path_too_long[512];
static char long_ok[256], long_label_ok[256], local65_addr[256], quoted65_addr[256];
static char label64_addr[256], domain_too_long_addr[600];

static const struct addr_case cases[] = {
    /* Plain addr-spec; the domain is lowered, the local part only in the key. */
    {MAILBOX, "user@example.com", NULL, NULL, "user", "example.com", false, "user@example.com",
     "user@example.com"},
    {MAILBOX, "Kent@ACME.com", NULL, NULL, "Kent", "acme.com", false, "Kent@acme.com",
     "kent@acme.com"},
    {MAILBOX, "<kent@acme.com>", NULL, NULL, "kent", "acme.com", false, "kent@acme.com",
     "kent@acme.com"},
    {MAILBOX, "Clark Kent <kent@Acme.Com>", NULL, "Clark Kent", "kent", "acme.com", false,
     "kent@acme.com", "kent@acme.com"},
    {MAILBOX, "\"Kent, Clark\" <kent@acme.com>", NULL, "Kent, Clark", "kent", "acme.com", false,
     "kent@acme.com", "kent@acme.com"},
    /* obs-phrase: a dot in an unquoted display name. */
    {MAILBOX, "John Q. Public <JQP@example.com>", NULL, "John Q. Public", "JQP", "example.com",
     false, "JQP@example.com", "jqp@example.com"},
    /* Folding white space inside a display name becomes one space. */
    {MAILBOX, "Clark\r\n   Kent <kent@acme.com>", NULL, "Clark Kent", "kent", "acme.com", false,
     "kent@acme.com", "kent@acme.com"},
    /* Quoted local parts: spaces and escapes need quoting back, plain ones do not. */
    {MAILBOX, "\"john doe\"@example.com", NULL, NULL, "john doe", "example.com", true,
     "\"john doe\"@example.com", "\"john doe\"@example.com"},
    {MAILBOX, "\"John\\\"Q\\\\Doe\"@example.com", NULL, NULL, "John\"Q\\Doe", "example.com", true,
     "\"John\\\"Q\\\\Doe\"@example.com", "\"john\\\"q\\\\doe\"@example.com"},
    {MAILBOX, "\"john\"@example.com", NULL, NULL, "john", "example.com", false, "john@example.com",
     "john@example.com"},
    {MAILBOX, "\"a..b\"@example.com", NULL, NULL, "a..b", "example.com", true,
     "\"a..b\"@example.com", "\"a..b\"@example.com"},
    /* obs-local-part: quoted and atom words mixed. */
    {MAILBOX, "\"john\".doe@example.com", NULL, NULL, "john.doe", "example.com", false,
     "john.doe@example.com", "john.doe@example.com"},
    /* Comments, nested ones too, and white space around '@'. */
    {MAILBOX, "john.doe (comment) @ example.com (another (nested) one)", NULL, NULL, "john.doe",
     "example.com", false, "john.doe@example.com", "john.doe@example.com"},
    {MAILBOX, "(lead \\) paren)user@example.com", NULL, NULL, "user", "example.com", false,
     "user@example.com", "user@example.com"},
    {MAILBOX, "Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>", NULL, "Pete",
     "pete", "silly.test", false, "pete@silly.test", "pete@silly.test"},
    /* Domain literals are kept as written; only the key lowers them. */
    {MAILBOX, "user@[192.0.2.1]", NULL, NULL, "user", "[192.0.2.1]", false, "user@[192.0.2.1]",
     "user@[192.0.2.1]"},
    {MAILBOX, "user@[IPv6:2001:DB8::1]", NULL, NULL, "user", "[IPv6:2001:DB8::1]", false,
     "user@[IPv6:2001:DB8::1]", "user@[ipv6:2001:db8::1]"},
    /* The root's trailing dot goes. */
    {MAILBOX, "user@Example.COM.", NULL, NULL, "user", "example.com", false, "user@example.com",
     "user@example.com"},
    /* RFC 6532: UTF-8 stays as it is; A-labels too. */
    {MAILBOX, "用户@例子.广告", NULL, NULL, "用户", "例子.广告", false, "用户@例子.广告",
     "用户@例子.广告"},
    {MAILBOX, "Jörg <Jörg@Müller.de>", NULL, "Jörg", "Jörg", "müller.de", false, "Jörg@müller.de",
     "jörg@müller.de"},
    {MAILBOX, "user@xn--bcher-kva.example", NULL, NULL, "user", "xn--bcher-kva.example", false,
     "user@xn--bcher-kva.example", "user@xn--bcher-kva.example"},
    /* RFC 2047 encoded-words are left for the MIME layer. */
    {MAILBOX, "=?UTF-8?B?SsO2cmc=?= <j@example.com>", NULL, "=?UTF-8?B?SsO2cmc=?=", "j",
     "example.com", false, "j@example.com", "j@example.com"},
    /* obs-route in angle brackets is dropped. */
    {MAILBOX, "<@relay.example,@other.example:user@example.com>", NULL, NULL, "user", "example.com",
     false, "user@example.com", "user@example.com"},
    {MAILBOX, "user+tag@sub-domain.example.com", NULL, NULL, "user+tag", "sub-domain.example.com",
     false, "user+tag@sub-domain.example.com", "user+tag@sub-domain.example.com"},
    {MAILBOX, "!#$%&'*+-/=?^_`{|}~@example.com", NULL, NULL, "!#$%&'*+-/=?^_`{|}~", "example.com",
     false, "!#$%&'*+-/=?^_`{|}~@example.com", "!#$%&'*+-/=?^_`{|}~@example.com"},
    {MAILBOX, "user@localhost", NULL, NULL, "user", "localhost", false, "user@localhost",
     "user@localhost"},
    /* Bare local parts, as sendmail aliases hand them over. */
    {BARE, "user1", NULL, NULL, "user1", NULL, false, "user1", "user1"},
    {BARE, "  User1 (alias) ", NULL, NULL, "User1", NULL, false, "User1", "user1"},
    {BARE, "Clark Kent <Kent>", NULL, "Clark Kent", "Kent", NULL, false, "Kent", "kent"},
    {BARE, "\"a b\"", NULL, NULL, "a b", NULL, true, "\"a b\"", "\"a b\""},
    {BARE, "kent@acme.com", NULL, NULL, "kent", "acme.com", false, "kent@acme.com",
     "kent@acme.com"},

    /* RFC 5321 paths. */
    {PATH, "<user@example.com>", NULL, NULL, "user", "example.com", false, "user@example.com",
     "user@example.com"},
    {PATH_NULL, "<>", NULL, NULL, "", NULL, false, "", ""},
    {PATH, "<@a.example,@b.example:User@Example.COM>", NULL, NULL, "User", "example.com", false,
     "User@example.com", "user@example.com"},
    {PATH, "<\"john doe\"@example.com>", NULL, NULL, "john doe", "example.com", true,
     "\"john doe\"@example.com", "\"john doe\"@example.com"},
    {PATH, "<\"john\"@example.com>", NULL, NULL, "john", "example.com", false, "john@example.com",
     "john@example.com"},
    {PATH, "<Postmaster>", NULL, NULL, "Postmaster", NULL, false, "Postmaster", "postmaster"},
    {PATH, "<user@[IPv6:::1]>", NULL, NULL, "user", "[IPv6:::1]", false, "user@[IPv6:::1]",
     "user@[ipv6:::1]"},
    {PATH, "<user@example.com.>", NULL, NULL, "user", "example.com", false, "user@example.com",
     "user@example.com"},
    {PATH, "<δοκιμή@παράδειγμα.δοκιμή>", NULL, NULL, "δοκιμή", "παράδειγμα.δοκιμή", false,
     "δοκιμή@παράδειγμα.δοκιμή", "δοκιμή@παράδειγμα.δοκιμή"},

    /* Errors: missing pieces. */
    {MAILBOX, "user", "missing '@'", NULL, NULL, NULL, false, NULL, NULL},
    {MAILBOX, "Clark Kent <kent>", "missing '@'", NULL, NULL, NULL, false, NULL, NULL},
    {MAILBOX, "@example.com", "missing local part", NULL, NULL, NULL, false, NULL, NULL},
    {MAILBOX, "user@", "missing domain", NULL, NULL, NULL, false, NULL, NULL},
    {MAILBOX, "user@.", "missing domain", NULL, NULL, NULL, false, NULL, NULL},
    {MAILBOX, "", "empty address", NULL, NULL, NULL, false, NULL, NULL},
    {MAILBOX, "  (just a comment) ", "empty address", NULL, NULL, NULL, false, NULL, NULL},
    {MAILBOX, "<>", "empty address", NULL, NULL, NULL, false, NULL, NULL},
    {MAILBOX, "\"\"@example.com", "empty local part", NULL, NULL, NULL, false, NULL, NULL},
    {MAILBOX, "Clark Kent <kent@acme.com", "missing '>'", NULL, NULL, NULL, false, NULL, NULL},
    /* Errors: dots. Spaces around dots are not tolerated either. */
    {MAILBOX, ".user@example.com", "misplaced '.' in local part", NULL, NULL, NULL, false, NULL,
     NULL},
    {MAILBOX, "us..er@example.com", "misplaced '.' in local part", NULL, NULL, NULL, false, NULL,
     NULL},
    {MAILBOX, "user.@example.com", "misplaced '.' in local part", NULL, NULL, NULL, false, NULL,
     NULL},
    {MAILBOX, "john . doe@example.com", "unexpected characters in local part", NULL, NULL, NULL,
     false, NULL, NULL},
    {MAILBOX, "john doe@example.com", "unexpected characters in local part", NULL, NULL, NULL,
     false, NULL, NULL},
    /* Errors: quoting and comments. */
    {MAILBOX, "\"unterminated@example.com", "unterminated quoted string", NULL, NULL, NULL, false,
     NULL, NULL},
    {MAILBOX, "\"a\x01z\"@example.com", "invalid character in quoted string", NULL, NULL, NULL,
     false, NULL, NULL},
    {MAILBOX, "user(comment@example.com", "unterminated comment", NULL, NULL, NULL, false, NULL,
     NULL},
    {MAILBOX, "user@example.com (a (nested) comment", "unterminated comment", NULL, NULL, NULL,
     false, NULL, NULL},
    {MAILBOX, "John@Doe <a@example.com>", "invalid character in display name", NULL, NULL, NULL,
     false, NULL, NULL},
    /* Errors: domains. */
    {MAILBOX, "user@-example.com", "domain label starts or ends with '-'", NULL, NULL, NULL, false,
     NULL, NULL},
    {MAILBOX, "user@example-.com", "domain label starts or ends with '-'", NULL, NULL, NULL, false,
     NULL, NULL},
    {MAILBOX, "user@exa_mple.com", "invalid character in domain", NULL, NULL, NULL, false, NULL,
     NULL},
    {MAILBOX, "user@example..com", "empty label in domain", NULL, NULL, NULL, false, NULL, NULL},
    {MAILBOX, "user@exa mple.com", "unexpected characters after address", NULL, NULL, NULL, false,
     NULL, NULL},
    {MAILBOX, "user@[300.1.1.1]", "invalid domain literal", NULL, NULL, NULL, false, NULL, NULL},
    {MAILBOX, "user@[IPv6:1::2::3]", "invalid domain literal", NULL, NULL, NULL, false, NULL, NULL},
    {MAILBOX, "user@[1.2.3.4", "unterminated domain literal", NULL, NULL, NULL, false, NULL, NULL},
    /* Errors: malformed UTF-8 (a lone lead byte, an invalid byte, an overlong '/'). */
    {MAILBOX, "us\xc3r@example.com", "invalid UTF-8", NULL, NULL, NULL, false, NULL, NULL},
    {MAILBOX, "user@ex\xff.com", "invalid UTF-8", NULL, NULL, NULL, false, NULL, NULL},
    {MAILBOX, "\xc0\xafuser@example.com", "invalid UTF-8", NULL, NULL, NULL, false, NULL, NULL},
    /* Errors: more than one mailbox, or a group, where one is wanted. */
    {MAILBOX, "a@example.com, b@example.com", "more than one address", NULL, NULL, NULL, false,
     NULL, NULL},
    {MAILBOX, "Friends: a@example.com;", "unexpected group", NULL, NULL, NULL, false, NULL, NULL},
    {BARE, "john doe", "unexpected characters in local part", NULL, NULL, NULL, false, NULL, NULL},
    /* Errors: paths. */
    {PATH, "user@example.com", "missing '<'", NULL, NULL, NULL, false, NULL, NULL},
    {PATH, "<>", "null path not allowed", NULL, NULL, NULL, false, NULL, NULL},
    {PATH, "<user@example.com", "missing '>'", NULL, NULL, NULL, false, NULL, NULL},
    {PATH, "<user>", "missing '@'", NULL, NULL, NULL, false, NULL, NULL},
    {PATH, "<user@example.com> SIZE=10", "unexpected characters after '>'", NULL, NULL, NULL, false,
     NULL, NULL},
    {PATH, "< user@example.com>", "invalid character in local part", NULL, NULL, NULL, false, NULL,
     NULL},
    {PATH, "<(c)user@example.com>", "invalid character in local part", NULL, NULL, NULL, false,
     NULL, NULL},
    {PATH, "<\"a\tb\"@example.com>", "invalid character in quoted string", NULL, NULL, NULL, false,
     NULL, NULL},
    {PATH, "<\"john\".doe@example.com>", "invalid character in local part", NULL, NULL, NULL, false,
     NULL, NULL},
    {PATH, "<@a.example:@b.example:user@example.com>", "missing local part", NULL, NULL, NULL,
     false, NULL, NULL},
    {PATH, "<@a_b.example:user@example.com>", "invalid character in domain", NULL, NULL, NULL,
     false, NULL, NULL},
    {PATH_NULL, "<> ", "unexpected characters after '>'", NULL, NULL, NULL, false, NULL, NULL},

    /* Length limits (inputs filled in by build_long_inputs()). */
    {MAILBOX, long_ok, NULL, NULL, local64, "example.com", false, NULL, NULL},
    {MAILBOX, long_label_ok, NULL, NULL, "user", label63, false, NULL, NULL},
    {MAILBOX, local65_addr, "local part too long", NULL, NULL, NULL, false, NULL, NULL},
    {MAILBOX, quoted65_addr, "local part too long", NULL, NULL, NULL, false, NULL, NULL},
    {MAILBOX, label64_addr, "domain label too long", NULL, NULL, NULL, false, NULL, NULL},
    {MAILBOX, domain_too_long_addr, "domain too long", NULL, NULL, NULL, false, NULL, NULL},
    {MAILBOX, addr_too_long, "address too long", NULL, NULL, NULL, false, NULL, NULL},
    {PATH, path_too_long, "path too long", NULL, NULL, NULL, false, NULL, NULL},
};

#define NCASES ((int)(sizeof(cases) / sizeof(cases[0])))

static void fill(char *buf, char c, size_t n)
{
    memset(buf, c, n);
    buf[n] = '\0';
}

static void build_long_inputs(void)
{
    char label[64];

    fill(local64, 'a', 64);
    fill(local65, 'a', 65);
    /* 62 characters and a space: 63 unquoted, 65 on the wire. */
    fill(quoted65, 'q', 63);
    quoted65[10] = ' ';
    fill(label63, 'd', 63);
    fill(label64, 'd', 64);
    fill(label, 'x', 63);
    /* Five 63-octet labels: 319 octets. */
    (void)snprintf(domain_too_long, sizeof(domain_too_long), "%s.%s.%s.%s.%s", label, label, label,
                   label, label);
    (void)snprintf(long_ok, sizeof(long_ok), "%s@example.com", local64);
    (void)snprintf(long_label_ok, sizeof(long_label_ok), "user@%s", label63);
    (void)snprintf(local65_addr, sizeof(local65_addr), "%s@example.com", local65);
    (void)snprintf(quoted65_addr, sizeof(quoted65_addr), "\"%s\"@example.com", quoted65);
    (void)snprintf(label64_addr, sizeof(label64_addr), "user@%s.com", label64);
    (void)snprintf(domain_too_long_addr, sizeof(domain_too_long_addr), "user@%s", domain_too_long);
    /* 64 + 1 + 191 = 256 octets: each part fits, the whole does not. */
    (void)snprintf(addr_too_long, sizeof(addr_too_long), "%s@%s.%s.%s", local64, label, label,
                   label);
    /* 258 octets with the brackets. */
    (void)snprintf(path_too_long, sizeof(path_too_long), "<%s@%s.%s.%s>", local64, label, label,
                   label);
}

static int parse_case(const struct addr_case *c, struct ofc_addr *addr, const char **error)
{
    size_t len = strlen(c->in);
    switch (c->mode) {
    case MAILBOX:
        return ofc_addr_parse_mailbox(c->in, len, false, addr, error);
    case BARE:
        return ofc_addr_parse_mailbox(c->in, len, true, addr, error);
    case PATH:
        return ofc_addr_parse_path(c->in, len, false, addr, error);
    case PATH_NULL:
        return ofc_addr_parse_path(c->in, len, true, addr, error);
    }
    return -1;
}

START_TEST(test_table)
{
    const struct addr_case *c = &cases[_i];
    struct ofc_addr addr;
    const char *error = NULL;

    int rc = parse_case(c, &addr, &error);
    if (c->error != NULL) {
        ck_assert_msg(rc == -1, "case %d '%s': parsed, expected error '%s'", _i, c->in, c->error);
        ck_assert_msg(error != NULL && strcmp(error, c->error) == 0,
                      "case %d '%s': error '%s', expected '%s'", _i, c->in,
                      error ? error : "(null)", c->error);
        /* A failed parse leaves nothing behind to free. */
        ck_assert_ptr_null(addr.local);
        ck_assert_ptr_null(addr.domain);
        ck_assert_ptr_null(addr.display);
        return;
    }
    ck_assert_msg(rc == 0, "case %d '%s': error '%s'", _i, c->in, error ? error : "(null)");
    ck_assert_pstr_eq(addr.display, c->display);
    ck_assert_pstr_eq(addr.local, c->local);
    ck_assert_pstr_eq(addr.domain, c->domain);
    ck_assert_msg(addr.quoted == c->quoted, "case %d '%s': quoted %d", _i, c->in, addr.quoted);
    if (c->formatted != NULL) {
        char *s = ofc_addr_format(&addr);
        ck_assert_str_eq(s, c->formatted);
        free(s);
    }
    if (c->key != NULL) {
        char *s = ofc_addr_key(&addr);
        ck_assert_str_eq(s, c->key);
        free(s);
    }
    ofc_addr_clear(&addr);
    ck_assert_ptr_null(addr.local);
}
END_TEST

/* What ofc_addr_format() writes parses back to the same address. */
START_TEST(test_format_round_trip)
{
    const struct addr_case *c = &cases[_i];
    struct ofc_addr a, b;
    const char *error = NULL;

    if (c->error != NULL || c->domain == NULL)
        return;
    ck_assert_int_eq(parse_case(c, &a, &error), 0);
    char *s = ofc_addr_format(&a);
    ck_assert_msg(ofc_addr_parse_mailbox(s, strlen(s), false, &b, &error) == 0,
                  "'%s' formatted as '%s' does not parse back: %s", c->in, s, error);
    ck_assert_str_eq(b.local, a.local);
    ck_assert_str_eq(b.domain, a.domain);
    ck_assert(b.quoted == a.quoted);
    char *t = ofc_addr_format(&b);
    ck_assert_str_eq(t, s);
    free(s);
    free(t);
    ofc_addr_clear(&a);
    ofc_addr_clear(&b);
}
END_TEST

/* The length is authoritative: nothing after it is read. */
START_TEST(test_explicit_length)
{
    static const char in[] = "user@example.com, trailing junk";
    struct ofc_addr addr;
    const char *error = NULL;

    ck_assert_int_eq(ofc_addr_parse_mailbox(in, 16, false, &addr, &error), 0);
    ck_assert_str_eq(addr.local, "user");
    ck_assert_str_eq(addr.domain, "example.com");
    ofc_addr_clear(&addr);

    /* An embedded NUL is just an invalid character. */
    static const char nul[] = "us\0er@example.com";
    ck_assert_int_eq(ofc_addr_parse_mailbox(nul, sizeof(nul) - 1, false, &addr, &error), -1);
    ck_assert_str_eq(error, "unexpected characters in local part");
}
END_TEST

START_TEST(test_format_quoting)
{
    static const struct {
        const char *local, *domain, *formatted, *key;
    } rows[] = {
        {"john doe", "example.com", "\"john doe\"@example.com", "\"john doe\"@example.com"},
        {"a\"b", "example.com", "\"a\\\"b\"@example.com", "\"a\\\"b\"@example.com"},
        {"back\\slash", "example.com", "\"back\\\\slash\"@example.com",
         "\"back\\\\slash\"@example.com"},
        {".dot", "example.com", "\".dot\"@example.com", "\".dot\"@example.com"},
        {"John.Doe", "example.com", "John.Doe@example.com", "john.doe@example.com"},
        {"John Doe", "Example.COM", "\"John Doe\"@Example.COM", "\"john doe\"@example.com"},
        {"Ünïcode", "bücher.example", "Ünïcode@bücher.example", "Ünïcode@bücher.example"},
        {"alias", NULL, "alias", "alias"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct ofc_addr a = {NULL, (char *)rows[i].local, (char *)rows[i].domain, false};
        char *f = ofc_addr_format(&a);
        char *k = ofc_addr_key(&a);
        ck_assert_str_eq(f, rows[i].formatted);
        ck_assert_str_eq(k, rows[i].key);
        free(f);
        free(k);
    }
}
END_TEST

struct list_case {
    const char *in;
    const char *error;
    size_t count;
    const char *formatted[4];
    const char *display[4];
};

static const struct list_case list_cases[] = {
    {"a@example.com, \"B\" <b@example.com>, (c) c@example.com",
     NULL,
     3,
     {"a@example.com", "b@example.com", "c@example.com"},
     {NULL, "B", NULL}},
    {"Friends: a@example.com, Bee <b@example.com>;, c@example.com",
     NULL,
     3,
     {"a@example.com", "b@example.com", "c@example.com"},
     {NULL, "Bee", NULL}},
    {"undisclosed-recipients:;", NULL, 0, {NULL}, {NULL}},
    {"a@example.com,, ,b@example.com,", NULL, 2, {"a@example.com", "b@example.com"}, {NULL}},
    {"\"Doe, John\" <j@example.com>, x@example.com",
     NULL,
     2,
     {"j@example.com", "x@example.com"},
     {"Doe, John", NULL}},
    {"\"Re: list\" <l@example.com>", NULL, 1, {"l@example.com"}, {"Re: list"}},
    {"G: ;, H: h@example.com;", NULL, 1, {"h@example.com"}, {NULL}},
    {"", "empty address list", 0, {NULL}, {NULL}},
    {" , ", "empty address list", 0, {NULL}, {NULL}},
    {"a@example.com b@example.com", "expected ',' between addresses", 0, {NULL}, {NULL}},
    {"G: ; H: h@example.com;", "expected ',' between addresses", 0, {NULL}, {NULL}},
    {"G: a@example.com", "missing ';' after group", 0, {NULL}, {NULL}},
    {"G: H: a@example.com;;", "nested group", 0, {NULL}, {NULL}},
    {"a@example.com, user", "missing '@'", 0, {NULL}, {NULL}},
    {"a@example.com, <b@example.com", "missing '>'", 0, {NULL}, {NULL}},
};

START_TEST(test_list)
{
    const struct list_case *c = &list_cases[_i];
    struct ofc_addr *addrs = NULL;
    size_t count = 99;
    const char *error = NULL;

    int rc = ofc_addr_parse_list(c->in, strlen(c->in), &addrs, &count, &error);
    if (c->error != NULL) {
        ck_assert_msg(rc == -1, "'%s' parsed", c->in);
        ck_assert_str_eq(error, c->error);
        ck_assert_ptr_null(addrs);
        ck_assert_uint_eq(count, 0);
        return;
    }
    ck_assert_msg(rc == 0, "'%s': %s", c->in, error ? error : "(null)");
    ck_assert_uint_eq(count, c->count);
    for (size_t i = 0; i < count; i++) {
        char *s = ofc_addr_format(&addrs[i]);
        ck_assert_str_eq(s, c->formatted[i]);
        ck_assert_pstr_eq(addrs[i].display, c->display[i]);
        free(s);
    }
    ofc_addr_free_list(&addrs, count);
    ck_assert_ptr_null(addrs);
}
END_TEST

static Suite *addr_suite(void)
{
    Suite *s = suite_create("addr");
    TCase *tc = tcase_create("parse");

    build_long_inputs();
    tcase_add_loop_test(tc, test_table, 0, NCASES);
    tcase_add_loop_test(tc, test_format_round_trip, 0, NCASES);
    tcase_add_test(tc, test_explicit_length);
    tcase_add_test(tc, test_format_quoting);
    tcase_add_loop_test(tc, test_list, 0, (int)(sizeof(list_cases) / sizeof(list_cases[0])));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(addr_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
