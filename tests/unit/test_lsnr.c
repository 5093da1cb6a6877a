/*
 * test_lsnr.c - iolistener's registry (protocol/iolistener/registry.c):
 * the words instances say (HELLO, LOAD) and the choice of the instance
 * that takes the next client.
 *
 * These are the pure parts of the listener: no socket, no event loop.
 * HELLO and LOAD are tables (text in, fields or the exact reason out),
 * each row a loop test of its own so that a failure names it; the choice
 * is a handful of small registries built by hand.
 */
/* System. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Libraries. */
#include <check.h>

/* iolistener. */
#include "lsnr.h"

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* The reasons, as instances read them after "ERR ". */
#define HELLO_SYNTAX "expected HELLO <protocol> <process id> <instance> <pid>"
#define BAD_PROTO    "unknown protocol (pop3 or imap)"
#define BAD_ID       "invalid process id"
#define BAD_INSTANCE "invalid instance number (1-99)"
#define BAD_PID      "invalid pid"
#define LOAD_SYNTAX  "expected LOAD <clients> <max clients>"
#define BAD_COUNT    "invalid client count"

/* ---- HELLO ---------------------------------------------------------- */

struct hello_case {
    const char *text;
    const char *error; /* NULL: must parse into the fields below */
    enum lsnr_proto proto;
    long long process_id;
    int instance;
    long pid;
};

static const struct hello_case hello_cases[] = {
    {"HELLO pop3 12 1 345", NULL, LSNR_POP3, 12, 1, 345},
    {"HELLO imap 7 2 4242", NULL, LSNR_IMAP, 7, 2, 4242},
    /* The bounds: ids and pids up to INT_MAX, instances 1 to 99. */
    {"HELLO imap 2147483647 99 2147483647", NULL, LSNR_IMAP, 2147483647LL, 99, 2147483647L},
    {"HELLO pop3 1 1 1", NULL, LSNR_POP3, 1, 1, 1},
    /* Words: exactly five, single spaces, case matters. */
    {.text = "", .error = HELLO_SYNTAX},
    {.text = "HELLO", .error = HELLO_SYNTAX},
    {.text = "HELLO pop3 12 1", .error = HELLO_SYNTAX},
    {.text = "HELLO pop3 12 1 345 6", .error = HELLO_SYNTAX},
    {.text = "HELLO pop3 12 1 345 6 7 8", .error = HELLO_SYNTAX},
    {.text = "hello pop3 12 1 345", .error = HELLO_SYNTAX},
    {.text = "HELO pop3 12 1 345", .error = HELLO_SYNTAX},
    {.text = "LOAD 1 2", .error = HELLO_SYNTAX},
    {.text = " HELLO pop3 12 1 345", .error = HELLO_SYNTAX},
    {.text = "HELLO pop3 12 1 345 ", .error = HELLO_SYNTAX},
    {.text = "HELLO  pop3 12 1 345", .error = HELLO_SYNTAX},
    {.text = "HELLO\tpop3\t12\t1\t345", .error = HELLO_SYNTAX},
    {.text = "HELLO pop3 12 1 345\r", .error = BAD_PID},
    /* The protocol: lower case pop3 or imap only. */
    {.text = "HELLO POP3 12 1 345", .error = BAD_PROTO},
    {.text = "HELLO smtp 12 1 345", .error = BAD_PROTO},
    {.text = "HELLO imap4 12 1 345", .error = BAD_PROTO},
    {.text = "HELLO pop 12 1 345", .error = BAD_PROTO},
    /* Numbers: decimal digits only, in range. */
    {.text = "HELLO pop3 0 1 345", .error = BAD_ID},
    {.text = "HELLO pop3 -12 1 345", .error = BAD_ID},
    {.text = "HELLO pop3 +12 1 345", .error = BAD_ID},
    {.text = "HELLO pop3 12a 1 345", .error = BAD_ID},
    {.text = "HELLO pop3 0x10 1 345", .error = BAD_ID},
    {.text = "HELLO pop3 2147483648 1 345", .error = BAD_ID},
    {.text = "HELLO pop3 9999999999999999999999 1 345", .error = BAD_ID},
    {.text = "HELLO pop3 12 0 345", .error = BAD_INSTANCE},
    {.text = "HELLO pop3 12 100 345", .error = BAD_INSTANCE},
    {.text = "HELLO pop3 12 one 345", .error = BAD_INSTANCE},
    {.text = "HELLO pop3 12 1 0", .error = BAD_PID},
    {.text = "HELLO pop3 12 1 2147483648", .error = BAD_PID},
    {.text = "HELLO pop3 12 1 -345", .error = BAD_PID},
};

START_TEST(test_hello)
{
    const struct hello_case *c = &hello_cases[_i];
    struct lsnr_hello h;
    memset(&h, 0, sizeof(h));
    const char *error = NULL;
    int rc = lsnr_parse_hello(c->text, &h, &error);
    if (c->error != NULL) {
        ck_assert_msg(rc == -1, "'%s' parsed", c->text);
        ck_assert_ptr_nonnull(error);
        ck_assert_str_eq(error, c->error);
        return;
    }
    ck_assert_msg(rc == 0, "'%s': %s", c->text, error != NULL ? error : "(null)");
    ck_assert_int_eq(h.proto, c->proto);
    ck_assert_int_eq(h.process_id, c->process_id);
    ck_assert_int_eq(h.instance, c->instance);
    ck_assert_int_eq(h.pid, c->pid);
}
END_TEST

/* ---- LOAD ----------------------------------------------------------- */

struct load_case {
    const char *text;
    const char *error; /* NULL: must parse into the counts below */
    long long clients;
    long long max;
};

static const struct load_case load_cases[] = {
    {"LOAD 0 0", NULL, 0, 0},
    {"LOAD 5 100", NULL, 5, 100},
    {"LOAD 1000000000 1000000000", NULL, 1000000000LL, 1000000000LL},
    /* More clients than the maximum is what the instance says; lsnr_choose copes. */
    {"LOAD 10 5", NULL, 10, 5},
    {.text = "", .error = LOAD_SYNTAX},
    {.text = "LOAD", .error = LOAD_SYNTAX},
    {.text = "LOAD 5", .error = LOAD_SYNTAX},
    {.text = "LOAD 5 100 7", .error = LOAD_SYNTAX},
    {.text = "load 5 100", .error = LOAD_SYNTAX},
    {.text = "HELLO pop3 12 1 345", .error = LOAD_SYNTAX},
    {.text = "LOAD  5 100", .error = LOAD_SYNTAX},
    {.text = "LOAD 5 100 ", .error = LOAD_SYNTAX},
    {.text = " LOAD 5 100", .error = LOAD_SYNTAX},
    {.text = "LOAD -1 100", .error = BAD_COUNT},
    {.text = "LOAD 5 -1", .error = BAD_COUNT},
    {.text = "LOAD +5 100", .error = BAD_COUNT},
    {.text = "LOAD five 100", .error = BAD_COUNT},
    {.text = "LOAD 5 1e3", .error = BAD_COUNT},
    {.text = "LOAD 1000000001 5", .error = BAD_COUNT},
    {.text = "LOAD 5 1000000001", .error = BAD_COUNT},
    {.text = "LOAD 9999999999999 5", .error = BAD_COUNT},
};

START_TEST(test_load)
{
    const struct load_case *c = &load_cases[_i];
    long long clients = -7, max = -7;
    const char *error = NULL;
    int rc = lsnr_parse_load(c->text, &clients, &max, &error);
    if (c->error != NULL) {
        ck_assert_msg(rc == -1, "'%s' parsed", c->text);
        ck_assert_ptr_nonnull(error);
        ck_assert_str_eq(error, c->error);
        return;
    }
    ck_assert_msg(rc == 0, "'%s': %s", c->text, error != NULL ? error : "(null)");
    ck_assert_int_eq(clients, c->clients);
    ck_assert_int_eq(max, c->max);
}
END_TEST

/* ---- the choice ----------------------------------------------------- */

/* "Now" for lsnr_choose; instances were heard at NOW unless a test says otherwise. */
#define NOW 1000000

/* A registered instance of proto with `load` clients of at most `max` (-1: no LOAD yet). */
static void inst_init(struct lsnr_inst *i, enum lsnr_proto proto, long long load, long long max)
{
    memset(i, 0, sizeof(*i));
    i->registered = true;
    i->hello.proto = proto;
    i->load = load;
    i->max = max;
    i->last_heard = NOW;
}

/* Links v[0..n-1] into the registry's list, in that order; returns its head. */
static struct lsnr_inst *link_list(struct lsnr_inst *v, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        v[k].prev = k > 0 ? &v[k - 1] : NULL;
        v[k].next = k + 1 < n ? &v[k + 1] : NULL;
    }
    return n > 0 ? &v[0] : NULL;
}

static void assert_why(const struct lsnr_choice_why *why, int registered, int at_max, int full,
                       int silent)
{
    ck_assert_int_eq(why->registered, registered);
    ck_assert_int_eq(why->at_max, at_max);
    ck_assert_int_eq(why->full, full);
    ck_assert_int_eq(why->silent, silent);
}

START_TEST(test_choose_empty)
{
    struct lsnr_choice_why why;
    memset(&why, 0xff, sizeof(why));
    ck_assert_ptr_null(lsnr_choose(NULL, LSNR_POP3, NOW, &why));
    assert_why(&why, 0, 0, 0, 0);
}
END_TEST

START_TEST(test_choose_least_loaded)
{
    struct lsnr_inst v[3];
    inst_init(&v[0], LSNR_IMAP, 5, 100);
    inst_init(&v[1], LSNR_IMAP, 2, 100);
    inst_init(&v[2], LSNR_IMAP, 7, 100);
    struct lsnr_choice_why why;
    ck_assert_ptr_eq(lsnr_choose(link_list(v, 3), LSNR_IMAP, NOW, &why), &v[1]);
    assert_why(&why, 3, 0, 0, 0);
}
END_TEST

/* Clients handed over since the last LOAD count as much as those it reported. */
START_TEST(test_choose_counts_sent)
{
    struct lsnr_inst v[2];
    inst_init(&v[0], LSNR_POP3, 1, 100);
    v[0].sent = 3; /* 4 */
    inst_init(&v[1], LSNR_POP3, 3, 100);
    struct lsnr_choice_why why;
    struct lsnr_inst *list = link_list(v, 2);
    ck_assert_ptr_eq(lsnr_choose(list, LSNR_POP3, NOW, &why), &v[1]);
    v[1].sent = 2; /* 5 */
    ck_assert_ptr_eq(lsnr_choose(list, LSNR_POP3, NOW, &why), &v[0]);
}
END_TEST

/* Other protocols and connections that said no HELLO yet are not candidates, nor counted. */
START_TEST(test_choose_protocol_and_registered)
{
    struct lsnr_inst v[3];
    inst_init(&v[0], LSNR_IMAP, 0, 100);
    inst_init(&v[1], LSNR_POP3, 0, 100);
    v[1].registered = false;
    inst_init(&v[2], LSNR_POP3, 50, 100);
    struct lsnr_choice_why why;
    struct lsnr_inst *list = link_list(v, 3);
    ck_assert_ptr_eq(lsnr_choose(list, LSNR_POP3, NOW, &why), &v[2]);
    assert_why(&why, 1, 0, 0, 0);
    ck_assert_ptr_eq(lsnr_choose(list, LSNR_IMAP, NOW, &why), &v[0]);
    assert_why(&why, 1, 0, 0, 0);

    v[2].registered = false;
    ck_assert_ptr_null(lsnr_choose(list, LSNR_POP3, NOW, &why));
    assert_why(&why, 0, 0, 0, 0);
}
END_TEST

/* An instance at its maximum is skipped however lightly loaded it is. */
START_TEST(test_choose_max_honoured)
{
    struct lsnr_inst v[3];
    inst_init(&v[0], LSNR_POP3, 2, 2);   /* at its maximum */
    inst_init(&v[1], LSNR_POP3, 9, 10);  /* one place left */
    inst_init(&v[2], LSNR_POP3, 10, 10); /* full */
    struct lsnr_choice_why why;
    struct lsnr_inst *list = link_list(v, 3);
    ck_assert_ptr_eq(lsnr_choose(list, LSNR_POP3, NOW, &why), &v[1]);
    assert_why(&why, 3, 2, 0, 0);

    /* Clients sent since its LOAD fill it up too. */
    v[1].sent = 1;
    ck_assert_ptr_null(lsnr_choose(list, LSNR_POP3, NOW, &why));
    assert_why(&why, 3, 3, 0, 0);

    /* Over the maximum (it lowered it) is at the maximum; max 0 takes nobody. */
    inst_init(&v[0], LSNR_POP3, 5, 3);
    inst_init(&v[1], LSNR_POP3, 0, 0);
    ck_assert_ptr_null(lsnr_choose(link_list(v, 2), LSNR_POP3, NOW, &why));
    assert_why(&why, 2, 2, 0, 0);
}
END_TEST

/* Before its first LOAD (max -1) an instance has no maximum. */
START_TEST(test_choose_no_load_yet)
{
    struct lsnr_inst v[2];
    inst_init(&v[0], LSNR_IMAP, 0, -1);
    v[0].sent = 1000;
    inst_init(&v[1], LSNR_IMAP, 0, 0);
    struct lsnr_choice_why why;
    ck_assert_ptr_eq(lsnr_choose(link_list(v, 2), LSNR_IMAP, NOW, &why), &v[0]);
    assert_why(&why, 2, 1, 0, 0);
}
END_TEST

/* Equal loads: the instance that got a client least recently, wherever it is in the list. */
START_TEST(test_choose_ties)
{
    struct lsnr_inst v[3];
    inst_init(&v[0], LSNR_POP3, 4, 100);
    v[0].last_seq = 30;
    inst_init(&v[1], LSNR_POP3, 4, 100);
    v[1].last_seq = 10;
    inst_init(&v[2], LSNR_POP3, 4, 100);
    v[2].last_seq = 20;
    struct lsnr_choice_why why;
    struct lsnr_inst *list = link_list(v, 3);
    ck_assert_ptr_eq(lsnr_choose(list, LSNR_POP3, NOW, &why), &v[1]);

    /* Handing it a client (as offer() does) moves the next one to the oldest other. */
    v[1].sent++;
    v[1].last_seq = 31;
    ck_assert_ptr_eq(lsnr_choose(list, LSNR_POP3, NOW, &why), &v[2]);

    /* A lighter load still beats an older hand-off. */
    v[0].load = 3;
    ck_assert_ptr_eq(lsnr_choose(list, LSNR_POP3, NOW, &why), &v[0]);

    /* Both never given a client (seq 0): the first in the list. */
    inst_init(&v[0], LSNR_POP3, 1, 100);
    inst_init(&v[1], LSNR_POP3, 1, 100);
    ck_assert_ptr_eq(lsnr_choose(link_list(v, 2), LSNR_POP3, NOW, &why), &v[0]);
}
END_TEST

/* A full socket (tried during this choice) and silence take an instance out, and say so. */
START_TEST(test_choose_tried_and_silent)
{
    struct lsnr_inst v[4];
    inst_init(&v[0], LSNR_IMAP, 0, 100);
    v[0].tried = true;
    inst_init(&v[1], LSNR_IMAP, 0, 100);
    v[1].last_heard = NOW - LSNR_SILENCE_MS - 1;
    inst_init(&v[2], LSNR_IMAP, 0, 100);
    v[2].last_heard = NOW - LSNR_SILENCE_MS; /* exactly the limit: still heard */
    inst_init(&v[3], LSNR_IMAP, 1, 1);
    struct lsnr_choice_why why;
    struct lsnr_inst *list = link_list(v, 4);
    ck_assert_ptr_eq(lsnr_choose(list, LSNR_IMAP, NOW, &why), &v[2]);
    assert_why(&why, 4, 1, 1, 1);

    v[2].tried = true;
    ck_assert_ptr_null(lsnr_choose(list, LSNR_IMAP, NOW, &why));
    assert_why(&why, 4, 1, 2, 1);

    /* At its maximum is counted before tried or silent: each instance once. */
    v[0].max = 0;
    v[1].max = 0;
    ck_assert_ptr_null(lsnr_choose(list, LSNR_IMAP, NOW, &why));
    assert_why(&why, 4, 3, 1, 0);
}
END_TEST

static Suite *lsnr_suite(void)
{
    Suite *s = suite_create("lsnr");
    TCase *words = tcase_create("words");
    tcase_add_loop_test(words, test_hello, 0, (int)NELEMS(hello_cases));
    tcase_add_loop_test(words, test_load, 0, (int)NELEMS(load_cases));
    suite_add_tcase(s, words);

    TCase *choice = tcase_create("choice");
    tcase_add_test(choice, test_choose_empty);
    tcase_add_test(choice, test_choose_least_loaded);
    tcase_add_test(choice, test_choose_counts_sent);
    tcase_add_test(choice, test_choose_protocol_and_registered);
    tcase_add_test(choice, test_choose_max_honoured);
    tcase_add_test(choice, test_choose_no_load_yet);
    tcase_add_test(choice, test_choose_ties);
    tcase_add_test(choice, test_choose_tried_and_silent);
    suite_add_tcase(s, choice);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(lsnr_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
