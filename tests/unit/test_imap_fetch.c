/*
 * test_imap_fetch.c - imap4srv's FETCH items and sections and its SEARCH
 * translation, without a server: item lists as parsed from command lines
 * (macros, sections, labels, partials, refusals), the octet ranges that
 * sections name in a cached sections map, the HEADER.FIELDS filter on raw
 * header octets, and the SQL and parameters of SEARCH keys (client text
 * only ever in parameters).
 */
/* System. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Libraries. */
#include <check.h>

/* libofc. */
#include "ofc_mem.h"

/* This program. */
#include "imap4.h"

/* Parses "a FETCH ..." / "a UID FETCH ..." into cmd. */
static void parse(const char *line, struct imap_cmd *cmd)
{
    const char *lines[] = {line};
    char *tag = NULL;
    const char *error = NULL;
    memset(cmd, 0, sizeof(*cmd));
    ck_assert_msg(imap_parse_command(lines, 1, NULL, cmd, &tag, &error) == 0, "%s: %s", line,
                  error);
    free(tag);
}

struct item_case {
    const char *line;
    int rc;
    size_t n;
    const char *labels; /* section labels, space separated by '|' */
    bool sets_seen;
};

static const struct item_case item_cases[] = {
    {"a FETCH 1 ALL", 0, 4, "", false},
    {"a FETCH 1 FAST", 0, 3, "", false},
    {"a FETCH 1 FULL", 0, 5, "", false},
    {"a UID FETCH 1 FLAGS", 0, 2, "", false},
    {"a UID FETCH 1 (UID FLAGS)", 0, 2, "", false},
    {"a FETCH 1 (FLAGS FLAGS)", 0, 1, "", false},
    {"a FETCH 1 BODY[]", 0, 1, "BODY[]", true},
    {"a FETCH 1 BODY.PEEK[]<0.10>", 0, 1, "BODY[]<0>", false},
    {"a FETCH 1 (BODY.PEEK[1.2.MIME] BODY[TEXT])", 0, 2, "BODY[1.2.MIME]|BODY[TEXT]", true},
    {"a FETCH 1 BODY.PEEK[HEADER.FIELDS (From \"to\")]", 0, 1, "BODY[HEADER.FIELDS (FROM TO)]",
     false},
    {"a FETCH 1 BODY.PEEK[2.HEADER.FIELDS.NOT (X)]<5.5>", 0, 1, "BODY[2.HEADER.FIELDS.NOT (X)]<5>",
     false},
    {"a FETCH 1 (RFC822.HEADER RFC822.SIZE)", 0, 2, "RFC822.HEADER", false},
    {"a FETCH 1 RFC822", 0, 1, "RFC822", true},
    {"a FETCH 1 RFC822.TEXT", 0, 1, "RFC822.TEXT", true},
    {"a FETCH 1 (FLAGS) (CHANGEDSINCE 5)", 0, 2, "", false},
    {"a FETCH 1 BINARY[1]", 0, 1, "BINARY[1]", true},
    {"a FETCH 1 BINARY.PEEK[1.2]<0.5>", 0, 1, "BINARY[1.2]<0>", false},
    {"a FETCH 1 (BINARY.SIZE[2] BINARY.PEEK[])", 0, 2, "BINARY.SIZE[2]|BINARY[]", false},
    {"a FETCH 1 BINARY[1.MIME]", -1, 0, "", false},
    {"a FETCH 1 BINARY[HEADER]", -1, 0, "", false},
    {"a FETCH 1 BINARY.SIZE[1]<0.1>", -1, 0, "", false},
    {"a FETCH 1 (ALL)", -1, 0, "", false},
    {"a FETCH 1 BODY[MIME]", -1, 0, "", false},
    {"a FETCH 1 BODY[0]", -1, 0, "", false},
    {"a FETCH 1 BODY[1.]", -1, 0, "", false},
    {"a FETCH 1 BODY[1X]", -1, 0, "", false},
    {"a FETCH 1 BODY[HEADER.FIELDS]", -1, 0, "", false},
    {"a FETCH 1 BODY[HEADER.FIELDS ()]", -1, 0, "", false},
    {"a FETCH 1 BODY[HEADER.FIELDS (a:b)]", -1, 0, "", false},
    {"a FETCH 1 BODY[TEXT (A)]", -1, 0, "", false},
    {"a FETCH 1 NOSUCH", -1, 0, "", false},
    {"a FETCH 1 ()", -1, 0, "", false},
    {"a FETCH 1", -1, 0, "", false},
    {"a FETCH 1 FLAGS (CHANGEDSINCE 0)", -1, 0, "", false},
    {"a FETCH 1 FLAGS (VANISHED)", -1, 0, "", false},
};
#define NITEMS (sizeof(item_cases) / sizeof(item_cases[0]))

START_TEST(test_items)
{
    const struct item_case *c = &item_cases[_i];
    struct imap_cmd cmd;
    parse(c->line, &cmd);
    struct imap_fetch_req req;
    const char *error = NULL;
    int rc = imap_fetch_parse(&cmd, &req, &error);
    ck_assert_msg(rc == c->rc, "%s: rc %d (%s)", c->line, rc, error ? error : "");
    if (rc == 0) {
        ck_assert_msg(req.n == c->n, "%s: %zu items", c->line, req.n);
        ck_assert_int_eq(req.sets_seen, c->sets_seen);
        struct ofc_strbuf sb = OFC_STRBUF_INIT;
        for (size_t i = 0; i < req.n; i++)
            if (req.items[i].kind == IMAP_FI_SECTION) {
                if (sb.len > 0)
                    ofc_strbuf_putc(&sb, '|');
                ofc_strbuf_puts(&sb, req.items[i].label);
            }
        ck_assert_str_eq(sb.data != NULL ? sb.data : "", c->labels);
        ofc_strbuf_free(&sb);
    }
    imap_fetch_req_free(&req);
    imap_cmd_free(&cmd);
}
END_TEST

/* A message of 1000 octets, header 100; part 2 is message/rfc822. */
static const char *const SECTIONS = "{\"\": [0, 100, 1000, 20], \"1\": [120, 160, 400, 5], "
                                    "\"2\": [420, 450, 900, 9, 520], \"2.1\": [450, 520, 900, 4]}";

struct range_case {
    const char *line;
    int rc;
    long long from, len;
};

static const struct range_case range_cases[] = {
    {"a FETCH 1 BODY[]", 1, 0, 1000},
    {"a FETCH 1 BODY[HEADER]", 1, 0, 100},
    {"a FETCH 1 BODY[TEXT]", 1, 100, 900},
    {"a FETCH 1 BODY[1]", 1, 160, 240},
    {"a FETCH 1 BODY[1.MIME]", 1, 120, 40},
    {"a FETCH 1 BODY[1.HEADER]", 0, 0, 0},
    {"a FETCH 1 BODY[2]", 1, 450, 450},
    {"a FETCH 1 BODY[2.HEADER]", 1, 450, 70},
    {"a FETCH 1 BODY[2.HEADER.FIELDS (A)]", 1, 450, 70},
    {"a FETCH 1 BODY[2.TEXT]", 1, 520, 380},
    {"a FETCH 1 BODY[2.1]", 1, 520, 380},
    {"a FETCH 1 BODY[3]", 0, 0, 0},
    {"a FETCH 1 BODY[]<10.20>", 1, 10, 20},
    {"a FETCH 1 BODY[]<990.20>", 1, 990, 10},
    {"a FETCH 1 BODY[]<2000.20>", 1, 1000, 0},
    {"a FETCH 1 BODY[HEADER.FIELDS (A)]<5.5>", 1, 0, 100}, /* partial after the filter */
};
#define NRANGES (sizeof(range_cases) / sizeof(range_cases[0]))

START_TEST(test_ranges)
{
    const struct range_case *c = &range_cases[_i];
    struct imap_cmd cmd;
    parse(c->line, &cmd);
    struct imap_fetch_req req;
    const char *error = NULL;
    ck_assert_int_eq(imap_fetch_parse(&cmd, &req, &error), 0);
    long long from = -1, len = -1;
    int rc = imap_fetch_range(&req.items[0], SECTIONS, 1000, 100, &from, &len);
    ck_assert_msg(rc == c->rc, "%s: rc %d", c->line, rc);
    if (rc == 1) {
        ck_assert_msg(from == c->from && len == c->len, "%s: [%lld, +%lld]", c->line, from, len);
    }
    imap_fetch_req_free(&req);
    imap_cmd_free(&cmd);
}
END_TEST

/* A damaged map never makes us read outside the message. */
START_TEST(test_damaged_map)
{
    struct imap_cmd cmd;
    parse("a FETCH 1 (BODY[1] BODY[1.MIME] BODY[2])", &cmd);
    struct imap_fetch_req req;
    const char *error = NULL;
    ck_assert_int_eq(imap_fetch_parse(&cmd, &req, &error), 0);
    const char *map = "{\"1\": [0, 10, 5000, 1], \"2\": [30, 20, 40, 1]}";
    long long from, len;
    ck_assert_int_eq(imap_fetch_range(&req.items[0], map, 1000, 100, &from, &len), 0);
    ck_assert_int_eq(imap_fetch_range(&req.items[1], map, 1000, 100, &from, &len), 1);
    ck_assert_int_eq(imap_fetch_range(&req.items[2], map, 1000, 100, &from, &len), 1);
    ck_assert_int_eq(imap_fetch_range(&req.items[0], NULL, 1000, 100, &from, &len), 0);
    ck_assert_int_eq(imap_fetch_range(&req.items[0], "{\"1\": [0, 1", 1000, 100, &from, &len), 0);
    imap_fetch_req_free(&req);
    imap_cmd_free(&cmd);
}
END_TEST

START_TEST(test_header_filter)
{
    static const char hdr[] = "Subject: hi\r\n"
                              "X-Long: one\r\n"
                              "\ttwo\r\n"
                              "x-long : three\r\n"
                              "From: a@b\r\n"
                              "\r\n"
                              "Subject: body, not header\r\n";
    char *names[] = {"X-LONG", "subject"};
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    imap_fetch_header_filter(hdr, sizeof(hdr) - 1, names, 2, false, &sb);
    ck_assert_str_eq(sb.data, "Subject: hi\r\nX-Long: one\r\n\ttwo\r\nx-long : three\r\n\r\n");
    ofc_strbuf_reset(&sb);
    imap_fetch_header_filter(hdr, sizeof(hdr) - 1, names, 2, true, &sb);
    ck_assert_str_eq(sb.data, "From: a@b\r\n\r\n");
    ofc_strbuf_reset(&sb);
    /* LF-only, no empty line, last field without its line end. */
    static const char lf[] = "A: 1\n  cont\nB: 2";
    char *b[] = {"b"};
    imap_fetch_header_filter(lf, sizeof(lf) - 1, b, 1, false, &sb);
    ck_assert_str_eq(sb.data, "B: 2\r\n\r\n");
    ofc_strbuf_reset(&sb);
    char *a[] = {"a"};
    imap_fetch_header_filter(lf, sizeof(lf) - 1, a, 1, false, &sb);
    ck_assert_str_eq(sb.data, "A: 1\n  cont\n\r\n");
    ofc_strbuf_reset(&sb);
    imap_fetch_header_filter("", 0, a, 1, false, &sb);
    ck_assert_str_eq(sb.data, "\r\n");
    ofc_strbuf_free(&sb);
}
END_TEST

START_TEST(test_binary_decode)
{
    static const struct {
        const char *hdr;
        int cte;
    } ctes[] = {
        {"Content-Type: text/plain\r\n\r\n", IMAP_CTE_IDENTITY},
        {"Content-Transfer-Encoding: 8bit\r\n\r\n", IMAP_CTE_IDENTITY},
        {"content-transfer-encoding:BINARY\r\n\r\n", IMAP_CTE_IDENTITY},
        {"Content-Transfer-Encoding: BASE64\r\n\r\n", IMAP_CTE_BASE64},
        {"Content-Transfer-Encoding: (old) quoted-printable (new)\r\n\r\n", IMAP_CTE_QP},
        {"Content-Transfer-Encoding:\r\n base64\r\n\r\n", IMAP_CTE_BASE64},
        {"Content-Transfer-Encoding: x-uuencode\r\n\r\n", IMAP_CTE_UNKNOWN},
        {"Content-Transfer-Encoding: "
         "base64base64base64base64base64base64\r\n\r\n",
         IMAP_CTE_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof(ctes) / sizeof(ctes[0]); i++)
        ck_assert_msg(imap_fetch_cte(ctes[i].hdr, strlen(ctes[i].hdr)) == ctes[i].cte, "%s",
                      ctes[i].hdr);
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    imap_fetch_decode(IMAP_CTE_BASE64, "AAEC\r\nAw==\r\nIGNORED", 21, &sb);
    ck_assert_uint_eq(sb.len, 4);
    ck_assert(memcmp(sb.data, "\0\1\2\3", 4) == 0);
    ofc_strbuf_reset(&sb);
    const char *qp = "a=3Db=\r\nc =\nd= \r\ne=ZZ=4";
    imap_fetch_decode(IMAP_CTE_QP, qp, strlen(qp), &sb);
    ck_assert_str_eq(sb.data, "a=bc de=ZZ=4");
    ofc_strbuf_reset(&sb);
    imap_fetch_decode(IMAP_CTE_IDENTITY, "x\0y", 3, &sb);
    ck_assert_uint_eq(sb.len, 3);
    ofc_strbuf_free(&sb);
}
END_TEST

struct search_case {
    const char *line;
    int rc;
    const char *sql;   /* a fragment the SQL holds */
    const char *param; /* the last parameter */
};

static const struct search_case search_cases[] = {
    {"a SEARCH ALL", 0, "AND (true) ORDER BY p.uid", "9"},
    {"a SEARCH SEEN UNDELETED", 0, "((p.flags & 1 <> 0) AND (p.flags & 8 = 0))", "9"},
    {"a SEARCH SUBJECT \"x'; DROP TABLE\"", 0, "lower(m.hdr_subject)", "x'; DROP TABLE"},
    {"a SEARCH CHARSET UTF-8 FROM {4}", -1, NULL, NULL}, /* literal not given: see below */
    {"a SEARCH CHARSET us-ascii TO bob", 0, "lower(m.hdr_to)", "bob"},
    {"a SEARCH CHARSET KOI8-R TO bob", -2, NULL, NULL},
    {"a SEARCH BEFORE 1-Feb-2024", 0, "::date < $3::date", "2024-02-01"},
    {"a SEARCH SENTON \"29-Feb-2024\"", 0, "coalesce(m.hdr_date, p.internaldate)", "2024-02-29"},
    {"a SEARCH ON 29-Feb-2023", -1, NULL, NULL},
    {"a SEARCH ON 1-Foo-2023", -1, NULL, NULL},
    {"a SEARCH LARGER 100", 0, "(m.size > $3::bigint)", "100"},
    {"a SEARCH SMALLER -1", -1, NULL, NULL},
    {"a SEARCH 2:3", 0, "p.uid = ANY($3::bigint[])", "{5,7}"},
    {"a SEARCH 3:*", 0, "p.uid = ANY($3::bigint[])", "{7,9}"},
    {"a SEARCH 9", 0, "p.uid = ANY($3::bigint[])", "{}"},
    {"a SEARCH UID 6:100", 0, "p.uid = ANY($3::bigint[])", "{7,9}"},
    {"a SEARCH UID 100:*", 0, "p.uid = ANY($3::bigint[])", "{9}"},
    {"a SEARCH NOT OR SEEN (FLAGGED DRAFT)", 0,
     "(NOT ((p.flags & 1 <> 0) OR ((p.flags & 4 <> 0) AND (p.flags & 16 <> "
     "0))))",
     "9"},
    {"a SEARCH HEADER X-Spam yes", 0, "h.name = lower($3)", "yes"},
    {"a SEARCH BODY x", 0, "'LATIN1'", "x"},
    {"a SEARCH TEXT x", 0, "ofc.message_header h", "x"},
    {"a SEARCH KEYWORD $Junk", 0, "unnest(p.keywords)", "$Junk"},
    {"a SEARCH UNKEYWORD \\Seen", 0, "(p.flags & 1 = 0)", "9"},
    {"a SEARCH RECENT", 0, "(p.uid >= $3::bigint)", "9"},
    {"a SEARCH NEW", 0, "(p.uid >= $3::bigint AND p.flags & 1 = 0)", "9"},
    {"a SEARCH MODSEQ 5", 0, "(p.modseq >= $3::bigint)", "5"},
    {"a SEARCH MODSEQ \"/flags/\\\\seen\" priv 5", 0, "(p.modseq >= $3::bigint)", "5"},
    {"a SEARCH MODSEQ \"/flags/\\\\seen\" nope 5", -1, NULL, NULL},
    {"a SEARCH", -1, NULL, NULL},
    {"a SEARCH OR SEEN", -1, NULL, NULL},
    {"a SEARCH NOT", -1, NULL, NULL},
    {"a SEARCH FOO", -1, NULL, NULL},
    {"a SEARCH HEADER X", -1, NULL, NULL},
    {"a SEARCH (SEEN) ()", -1, NULL, NULL},
};
#define NSEARCH (sizeof(search_cases) / sizeof(search_cases[0]))

START_TEST(test_search)
{
    const struct search_case *c = &search_cases[_i];
    if (strchr(c->line, '{') != NULL)
        return; /* literals are covered by the integration test */
    uint32_t uids[] = {3, 5, 7, 9};
    struct imap_view v = {.mailbox_id = 42, .uids = uids, .n = 4, .cap = 4, .first_recent_uid = 9};
    struct imap_cmd cmd;
    parse(c->line, &cmd);
    struct imap_search_query q;
    const char *error = NULL;
    int rc = imap_search_build(&v, cmd.args, cmd.nargs, &q, &error);
    ck_assert_msg(rc == c->rc, "%s: rc %d (%s)", c->line, rc, error ? error : "");
    if (rc == 0) {
        ck_assert_msg(strstr(q.sql, c->sql) != NULL, "%s: %s", c->line, q.sql);
        ck_assert_str_eq(q.params[0], "42");
        ck_assert_str_eq(q.params[1], "9");
        ck_assert_str_eq(q.params[q.nparams - 1], c->param);
        /* The client's text is never in the SQL. */
        ck_assert(strstr(q.sql, "DROP") == NULL);
        ck_assert_int_eq(q.modseq, strstr(c->line, "MODSEQ") != NULL);
    }
    imap_search_query_free(&q);
    imap_cmd_free(&cmd);
}
END_TEST

START_TEST(test_search_depth)
{
    uint32_t uids[] = {1};
    struct imap_view v = {.mailbox_id = 1, .uids = uids, .n = 1, .cap = 1};
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    ofc_strbuf_puts(&sb, "a SEARCH");
    for (int i = 0; i < 1000; i++)
        ofc_strbuf_puts(&sb, " NOT");
    ofc_strbuf_puts(&sb, " SEEN");
    struct imap_cmd cmd;
    parse(sb.data, &cmd);
    struct imap_search_query q;
    const char *error = NULL;
    ck_assert_int_eq(imap_search_build(&v, cmd.args, cmd.nargs, &q, &error), -1);
    imap_search_query_free(&q);
    imap_cmd_free(&cmd);
    ofc_strbuf_free(&sb);
}
END_TEST

static Suite *fetch_suite(void)
{
    Suite *s = suite_create("imap_fetch");
    TCase *tc = tcase_create("fetch");
    tcase_add_loop_test(tc, test_items, 0, NITEMS);
    tcase_add_loop_test(tc, test_ranges, 0, NRANGES);
    tcase_add_test(tc, test_damaged_map);
    tcase_add_test(tc, test_header_filter);
    tcase_add_test(tc, test_binary_decode);
    tcase_add_loop_test(tc, test_search, 0, NSEARCH);
    tcase_add_test(tc, test_search_depth);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(fetch_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
