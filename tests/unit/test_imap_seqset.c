/*
 * test_imap_seqset.c - imap4srv's sequence sets (protocol/imap4/seqset.c):
 * parsing (a table of accepted and refused sets with the ranges they
 * give), membership with '*' standing for the largest number in use
 * (RFC 3501 §9: "*:4" and "4:*" are the same range, and "5:*" holds the
 * largest even when it is below 5), and the compact formatting used by
 * COPYUID and MODIFIED.
 */
/* System. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Libraries. */
#include <check.h>

/* This program. */
#include "imap4.h"

#define STAR UINT32_MAX

struct parse_case {
    const char *in;
    int rc;
    size_t n;
    struct imap_range r[4];
};

static const struct parse_case parse_cases[] = {
    {"1", 0, 1, {{1, 1}}},
    {"1:3", 0, 1, {{1, 3}}},
    {"3:1", 0, 1, {{1, 3}}},
    {"*", 0, 1, {{STAR, STAR}}},
    {"1:*", 0, 1, {{1, STAR}}},
    {"*:1", 0, 1, {{1, STAR}}},
    {"1,3:5,7", 0, 3, {{1, 1}, {3, 5}, {7, 7}}},
    {"4294967295", 0, 1, {{STAR, STAR}}},
    {"2,2,2", 0, 3, {{2, 2}, {2, 2}, {2, 2}}},
    {"", -1, 0, {{0, 0}}},
    {"0", -1, 0, {{0, 0}}},
    {"01", -1, 0, {{0, 0}}},
    {"1:0", -1, 0, {{0, 0}}},
    {"4294967296", -1, 0, {{0, 0}}},
    {"99999999999999999999", -1, 0, {{0, 0}}},
    {"1,", -1, 0, {{0, 0}}},
    {",1", -1, 0, {{0, 0}}},
    {"1::2", -1, 0, {{0, 0}}},
    {"1:2:3", -1, 0, {{0, 0}}},
    {"$", -1, 0, {{0, 0}}},
    {"1 2", -1, 0, {{0, 0}}},
    {"-1", -1, 0, {{0, 0}}},
    {"a", -1, 0, {{0, 0}}},
    {"**", -1, 0, {{0, 0}}},
};
#define NPARSE (int)(sizeof(parse_cases) / sizeof(parse_cases[0]))

START_TEST(test_parse)
{
    const struct parse_case *c = &parse_cases[_i];
    struct imap_seqset set = {(struct imap_range *)1, 99};
    int rc = imap_seqset_parse(c->in, &set);
    ck_assert_msg(rc == c->rc, "\"%s\": rc %d, expected %d", c->in, rc, c->rc);
    if (rc != 0) {
        ck_assert_ptr_null(set.r);
        ck_assert_uint_eq(set.n, 0);
        return;
    }
    ck_assert_msg(set.n == c->n, "\"%s\": %zu ranges", c->in, set.n);
    for (size_t i = 0; i < set.n; i++) {
        ck_assert_uint_eq(set.r[i].lo, c->r[i].lo);
        ck_assert_uint_eq(set.r[i].hi, c->r[i].hi);
    }
    imap_seqset_free(&set);
    ck_assert_ptr_null(set.r);
    imap_seqset_free(&set); /* twice is harmless */
}
END_TEST

START_TEST(test_parse_null)
{
    struct imap_seqset set;
    ck_assert_int_eq(imap_seqset_parse(NULL, &set), -1);
}
END_TEST

struct contains_case {
    const char *set;
    uint32_t largest;
    const char *members; /* which of 1..10 are in, as '0'/'1' */
};

static const struct contains_case contains_cases[] = {
    {"1:3", 10, "1110000000"},
    {"3:1", 10, "1110000000"},
    {"*", 10, "0000000001"},
    {"*", 4, "0001000000"},
    {"5:*", 10, "0000111111"},
    {"*:5", 10, "0000111111"},
    /* '*' below the other end: the range is largest:5 (RFC 3501 §6.4.8). */
    {"5:*", 3, "0011100000"},
    {"8:*", 3, "0011111100"},
    {"2,4,6:7", 10, "0101011000"},
    {"1:*", 0, "0000000000"},
};
#define NCONTAINS (int)(sizeof(contains_cases) / sizeof(contains_cases[0]))

START_TEST(test_contains)
{
    const struct contains_case *c = &contains_cases[_i];
    struct imap_seqset set;
    ck_assert_int_eq(imap_seqset_parse(c->set, &set), 0);
    for (uint32_t v = 1; v <= 10; v++) {
        bool want = c->members[v - 1] == '1';
        ck_assert_msg(imap_seqset_contains(&set, v, c->largest) == want,
                      "\"%s\" with largest %u: %u %s", c->set, c->largest, v,
                      want ? "missing" : "wrongly in");
    }
    imap_seqset_free(&set);
}
END_TEST

START_TEST(test_format)
{
    static const struct {
        uint32_t v[8];
        size_t n;
        const char *out;
    } rows[] = {
        {{0}, 0, ""},
        {{7}, 1, "7"},
        {{1, 2, 3}, 3, "1:3"},
        {{1, 2, 3, 7}, 4, "1:3,7"},
        {{1, 3, 5}, 3, "1,3,5"},
        {{1, 2, 4, 5, 9, 10, 11, 20}, 8, "1:2,4:5,9:11,20"},
        {{4294967294u, 4294967295u}, 2, "4294967294:4294967295"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *out = imap_seqset_format(rows[i].v, rows[i].n);
        ck_assert_str_eq(out, rows[i].out);
        free(out);
    }
}
END_TEST

/* Format, parse again, and every value is in and nothing else. */
START_TEST(test_round_trip)
{
    uint32_t v[200];
    size_t n = 0;
    for (uint32_t x = 1; x <= 1000 && n < 200; x += 1 + (x * 7) % 5)
        v[n++] = x;
    char *text = imap_seqset_format(v, n);
    struct imap_seqset set;
    ck_assert_int_eq(imap_seqset_parse(text, &set), 0);
    size_t k = 0;
    for (uint32_t x = 1; x <= 1100; x++) {
        bool in = k < n && v[k] == x;
        if (in)
            k++;
        ck_assert_msg(imap_seqset_contains(&set, x, 1100) == in, "%u in \"%s\"", x, text);
    }
    imap_seqset_free(&set);
    free(text);
}
END_TEST

/* A long set (as a client may send for thousands of messages) parses. */
START_TEST(test_long_set)
{
    size_t count = 20000;
    char *buf = malloc(count * 8 + 1);
    ck_assert_ptr_nonnull(buf);
    size_t len = 0;
    for (size_t i = 0; i < count; i++)
        len += (size_t)sprintf(buf + len, "%s%zu", i ? "," : "", 2 * i + 1);
    struct imap_seqset set;
    ck_assert_int_eq(imap_seqset_parse(buf, &set), 0);
    ck_assert_uint_eq(set.n, count);
    ck_assert(imap_seqset_contains(&set, 39999, 40000));
    ck_assert(!imap_seqset_contains(&set, 40000, 40000));
    imap_seqset_free(&set);
    free(buf);
}
END_TEST

static Suite *seqset_suite(void)
{
    Suite *s = suite_create("imap_seqset");
    TCase *tc = tcase_create("seqset");
    tcase_add_loop_test(tc, test_parse, 0, NPARSE);
    tcase_add_test(tc, test_parse_null);
    tcase_add_loop_test(tc, test_contains, 0, NCONTAINS);
    tcase_add_test(tc, test_format);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_long_set);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(seqset_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
