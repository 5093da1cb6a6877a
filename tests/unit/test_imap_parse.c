/*
 * test_imap_parse.c - imap4srv's command parser (protocol/imap4/parse.c)
 * and modified UTF-7 (protocol/imap4/mutf7.c).
 *
 * The parser is a table: the lines and literals of a command in, the
 * argument tree rendered as text (or the exact reason of the BAD) out;
 * each row is a loop test of its own so that a failure names it. The
 * rendering: atoms as sent, NIL as NIL, strings in quotes ({n}"..." for
 * a literal), lists in parentheses, sections as S<text>[items]<from.len>.
 */
/* System. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Libraries. */
#include <check.h>

/* libofc. */
#include "ofc_mem.h"

/* imap4srv. */
#include "imap4.h"

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

static void render_args(struct ofc_strbuf *sb, const struct imap_arg *args, size_t n);

static void render_arg(struct ofc_strbuf *sb, const struct imap_arg *a)
{
    switch (a->type) {
    case IMAP_ARG_ATOM:
        ofc_strbuf_append(sb, a->s, a->len);
        break;
    case IMAP_ARG_NIL:
        ofc_strbuf_puts(sb, "NIL");
        break;
    case IMAP_ARG_STRING:
        if (a->literal)
            ofc_strbuf_printf(sb, "{%zu}", a->len);
        ofc_strbuf_putc(sb, '"');
        ofc_strbuf_append(sb, a->s, a->len);
        ofc_strbuf_putc(sb, '"');
        break;
    case IMAP_ARG_LIST:
        ofc_strbuf_putc(sb, '(');
        render_args(sb, a->list, a->n);
        ofc_strbuf_putc(sb, ')');
        break;
    case IMAP_ARG_SECTION:
        ofc_strbuf_printf(sb, "S<%s>[", a->s);
        render_args(sb, a->list, a->n);
        ofc_strbuf_putc(sb, ']');
        if (a->partial_from >= 0)
            ofc_strbuf_printf(sb, "<%lld.%lld>", a->partial_from, a->partial_len);
        break;
    }
}

static void render_args(struct ofc_strbuf *sb, const struct imap_arg *args, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            ofc_strbuf_putc(sb, ' ');
        render_arg(sb, &args[i]);
    }
}

struct parse_case {
    const char *lines[4];    /* NULL-terminated */
    const char *literals[3]; /* the literal after lines[i] */
    const char *want;        /* "TAG NAME|args" (UID commands: "TAG UID NAME|...") */
    const char *error;       /* instead: the reason of the BAD */
    const char *tag;         /* with error: the tag given back */
};

static const struct parse_case parse_cases[] = {
    /* Plain commands. */
    {{"a1 NOOP"}, {NULL}, "a1 NOOP|", NULL, NULL},
    {{"a1 noop"}, {NULL}, "a1 NOOP|", NULL, NULL},
    {{"a1 NOOP "}, {NULL}, "a1 NOOP|", NULL, NULL},
    {{"A.b-c]9 CAPABILITY"}, {NULL}, "A.b-c]9 CAPABILITY|", NULL, NULL},
    {{"a1 uid fetch 1:* (FLAGS)"}, {NULL}, "a1 UID FETCH|1:* (FLAGS)", NULL, NULL},
    {{"a1 LOGIN alice secret"}, {NULL}, "a1 LOGIN|alice secret", NULL, NULL},
    {{"a1 LIST \"\" *"}, {NULL}, "a1 LIST|\"\" *", NULL, NULL},
    {{"a1 LIST \"\" %/[Gmail]"}, {NULL}, "a1 LIST|\"\" %/[Gmail]", NULL, NULL},
    {{"a1 STORE 1 +FLAGS (\\Seen \\Deleted $Junk)"},
     {NULL},
     "a1 STORE|1 +FLAGS (\\Seen \\Deleted $Junk)",
     NULL,
     NULL},
    {{"a1 ID NIL"}, {NULL}, "a1 ID|NIL", NULL, NULL},
    {{"a1 ID nil"}, {NULL}, "a1 ID|NIL", NULL, NULL},
    {{"a1 ID \"NIL\""}, {NULL}, "a1 ID|\"NIL\"", NULL, NULL},
    {{"a1 X  a   b"}, {NULL}, "a1 X|a b", NULL, NULL},
    {{"a1 X ((a) (b (c)) ())"}, {NULL}, "a1 X|((a) (b (c)) ())", NULL, NULL},
    /* Quoted strings. */
    {{"a1 X \"a b\" \"\""}, {NULL}, "a1 X|\"a b\" \"\"", NULL, NULL},
    {{"a1 X \"q\\\"uote\" \"back\\\\slash\""},
     {NULL},
     "a1 X|\"q\"uote\" \"back\\slash\"",
     NULL,
     NULL},
    {{"a1 X \"caf\xc3\xa9\""}, {NULL}, "a1 X|\"caf\xc3\xa9\"", NULL, NULL},
    {{"a1 X (\"a\")\"b\""}, {NULL}, NULL, "missing space between arguments", "a1"},
    {{"a1 X \"a\\b\""}, {NULL}, NULL, "invalid escape in quoted string", "a1"},
    {{"a1 X \"abc"}, {NULL}, NULL, "unterminated quoted string", "a1"},
    {{"a1 X \"abc\\\""}, {NULL}, NULL, "unterminated quoted string", "a1"},
    /* Literals. */
    {{"a1 LOGIN {5}", " {4+}", ""},
     {"alice", "p w\""},
     "a1 LOGIN|{5}\"alice\" {4}\"p w\"\"",
     NULL,
     NULL},
    {{"a1 X ({0}", " a)"}, {""}, "a1 X|({0}\"\" a)", NULL, NULL},
    {{"a1 X {3}", "b"}, {"abc"}, NULL, "missing space between arguments", "a1"},
    {{"a1 X {3} a"}, {NULL}, NULL, "invalid literal", "a1"},
    {{"a1 X {abc}"}, {NULL}, NULL, "invalid literal", "a1"},
    {{"a1 X {3}"}, {NULL}, NULL, "invalid literal", "a1"},
    {{"a1 X {4}", ""}, {"abc"}, NULL, "literal length mismatch", "a1"},
    /* Sections. */
    {{"a1 FETCH 1 BODY[]"}, {NULL}, "a1 FETCH|1 S<BODY[]>[]", NULL, NULL},
    {{"a1 FETCH 1 (BODY.PEEK[HEADER.FIELDS (From \"To\")]<0.100> FLAGS)"},
     {NULL},
     "a1 FETCH|1 (S<BODY.PEEK[HEADER.FIELDS (From \"To\")]<0.100>>[HEADER.FIELDS (From \"To\")]"
     "<0.100> FLAGS)",
     NULL,
     NULL},
    {{"a1 FETCH 1 body[1.2.mime]"}, {NULL}, "a1 FETCH|1 S<body[1.2.mime]>[1.2.mime]", NULL, NULL},
    {{"a1 FETCH 1 BINARY.PEEK[1]<5.7>"},
     {NULL},
     "a1 FETCH|1 S<BINARY.PEEK[1]<5.7>>[1]<5.7>",
     NULL,
     NULL},
    {{"a1 FETCH 1 BODY[HEADER.FIELDS ({4}", ")]"},
     {"Date"},
     "a1 FETCH|1 S<BODY[HEADER.FIELDS ({4})]>[HEADER.FIELDS ({4}\"Date\")]",
     NULL,
     NULL},
    {{"a1 FETCH 1 BODY"}, {NULL}, "a1 FETCH|1 BODY", NULL, NULL},
    {{"a1 FETCH 1 BODY[TEXT"}, {NULL}, NULL, "missing ]", "a1"},
    {{"a1 FETCH 1 BODY[TEXT]<0>"}, {NULL}, NULL, "invalid partial range", "a1"},
    {{"a1 FETCH 1 BODY[TEXT]<0.0>"}, {NULL}, NULL, "invalid partial range", "a1"},
    {{"a1 FETCH 1 BODY[TEXT]<a.1>"}, {NULL}, NULL, "invalid partial range", "a1"},
    {{"a1 FETCH 1 BODY[TEXT]<1.2"}, {NULL}, NULL, "invalid partial range", "a1"},
    {{"a1 FETCH 1 BODY[HEADER[x]]"}, {NULL}, NULL, "unexpected [", "a1"},
    {{"a1 FETCH 1 BODY[(a])"}, {NULL}, NULL, "unbalanced parentheses", "a1"},
    /* Parentheses. */
    {{"a1 X (a b"}, {NULL}, NULL, "unbalanced parentheses", "a1"},
    {{"a1 X (a b))"}, {NULL}, NULL, "unbalanced parentheses", "a1"},
    {{"a1 X )"}, {NULL}, NULL, "unbalanced parentheses", "a1"},
    {{"a1 X (((((((((((((((((((((((((((((((((a)))))))))))))))))))))))))))))))))"},
     {NULL},
     NULL,
     "too deeply nested",
     "a1"},
    /* Atoms. */
    {{"a1 SELECT caf\xc3\xa9"}, {NULL}, NULL, "8-bit characters in atom", "a1"},
    {{"a1 SELECT a\x01"}, {NULL}, NULL, "control characters in atom", "a1"},
    {{"a1 SELECT a\x7f"}, {NULL}, NULL, "control characters in atom", "a1"},
    /* Tags and names. */
    {{""}, {NULL}, NULL, "invalid tag", "*"},
    {{" NOOP"}, {NULL}, NULL, "invalid tag", "*"},
    {{"a+1 NOOP"}, {NULL}, NULL, "invalid tag", "*"},
    {{"* NOOP"}, {NULL}, NULL, "invalid tag", "*"},
    {{"a\\1 NOOP"}, {NULL}, NULL, "invalid tag", "*"},
    {{"t\xc3\xa9 NOOP"}, {NULL}, NULL, "invalid tag", "*"},
    {{"lonely"}, {NULL}, NULL, "missing command", "*"},
    {{"a1 "}, {NULL}, NULL, "missing command", "a1"},
    {{"a1 UID"}, {NULL}, NULL, "missing command after UID", "a1"},
    {{"a1 N\xc3\xa9"}, {NULL}, NULL, "8-bit characters in atom", "a1"},
    {{"a1 NOOP\"x\""}, {NULL}, NULL, "missing command", "a1"},
};

START_TEST(test_parse)
{
    const struct parse_case *pc = &parse_cases[_i];
    size_t nlines = 0;
    while (nlines < NELEMS(pc->lines) && pc->lines[nlines] != NULL)
        nlines++;
    struct imap_literal lits[3];
    for (size_t i = 0; i + 1 < nlines; i++) {
        lits[i].data = (char *)pc->literals[i];
        lits[i].len = strlen(pc->literals[i]);
    }
    struct imap_cmd cmd;
    char *tag = NULL;
    const char *error = NULL;
    int rc = imap_parse_command(pc->lines, nlines, lits, &cmd, &tag, &error);
    ck_assert_ptr_nonnull(tag);
    if (pc->error != NULL) {
        ck_assert_msg(rc == -1, "case %d parsed", _i);
        ck_assert_str_eq(error, pc->error);
        ck_assert_str_eq(tag, pc->tag);
        ck_assert_ptr_null(cmd.args);
        ck_assert_ptr_null(cmd.name);
    } else {
        ck_assert_msg(rc == 0, "case %d: %s", _i, error != NULL ? error : "?");
        struct ofc_strbuf sb = OFC_STRBUF_INIT;
        ofc_strbuf_printf(&sb, "%s %s%s|", cmd.tag, cmd.uid ? "UID " : "", cmd.name);
        render_args(&sb, cmd.args, cmd.nargs);
        ck_assert_str_eq(sb.data, pc->want);
        ck_assert_str_eq(tag, cmd.tag);
        ofc_strbuf_free(&sb);
        /* The text for logs: the lines as received. */
        struct ofc_strbuf text = OFC_STRBUF_INIT;
        for (size_t i = 0; i < nlines; i++)
            ofc_strbuf_puts(&text, pc->lines[i]);
        ck_assert_str_eq(cmd.text, text.data);
        ofc_strbuf_free(&text);
        imap_cmd_free(&cmd);
    }
    free(tag);
}
END_TEST

START_TEST(test_parse_nul_in_literal)
{
    /* Literals are counted octets: a NUL in one stays (len is authoritative). */
    const char *lines[] = {"a1 APPEND INBOX {3}", ""};
    struct imap_literal lit = {(char *)"a\0b", 3};
    struct imap_cmd cmd;
    char *tag = NULL;
    const char *error = NULL;
    ck_assert_int_eq(imap_parse_command(lines, 2, &lit, &cmd, &tag, &error), 0);
    ck_assert_uint_eq(cmd.nargs, 2);
    ck_assert_uint_eq(cmd.args[1].len, 3);
    ck_assert_int_eq(memcmp(cmd.args[1].s, "a\0b", 4), 0);
    ck_assert(cmd.args[1].literal);
    imap_cmd_free(&cmd);
    free(tag);
}
END_TEST

START_TEST(test_arg_helpers)
{
    const char *lines[] = {"a1 X atom \"Str\" NIL (l) BODY[]"};
    struct imap_cmd cmd;
    char *tag = NULL;
    const char *error = NULL;
    ck_assert_int_eq(imap_parse_command(lines, 1, NULL, &cmd, &tag, &error), 0);
    ck_assert_uint_eq(cmd.nargs, 5);
    ck_assert(imap_arg_is(&cmd.args[0], "ATOM"));
    ck_assert(!imap_arg_is(&cmd.args[0], "ATO"));
    ck_assert(imap_arg_is(&cmd.args[1], "str"));
    ck_assert(imap_arg_is(&cmd.args[2], "nil"));
    ck_assert(!imap_arg_is(&cmd.args[3], "l"));
    ck_assert(!imap_arg_is(&cmd.args[4], "BODY[]"));
    ck_assert(!imap_arg_is(NULL, "x"));
    ck_assert_str_eq(imap_arg_astring(&cmd.args[0]), "atom");
    ck_assert_str_eq(imap_arg_astring(&cmd.args[1]), "Str");
    ck_assert_str_eq(imap_arg_astring(&cmd.args[2]), "NIL");
    ck_assert_ptr_null(imap_arg_astring(&cmd.args[3]));
    ck_assert_ptr_null(imap_arg_astring(&cmd.args[4]));
    ck_assert_int_eq(cmd.args[2].type, IMAP_ARG_NIL);
    imap_cmd_free(&cmd);
    free(tag);
}
END_TEST

START_TEST(test_parse_empty)
{
    struct imap_cmd cmd;
    char *tag = NULL;
    const char *error = NULL;
    ck_assert_int_eq(imap_parse_command(NULL, 0, NULL, &cmd, &tag, &error), -1);
    ck_assert_str_eq(tag, "*");
    ck_assert_str_eq(error, "empty command");
    free(tag);
}
END_TEST

/* ---- Modified UTF-7 ----------------------------------------------------- */

struct mutf7_case {
    const char *utf8;
    const char *mutf7;
};

/* Both ways. */
static const struct mutf7_case mutf7_cases[] = {
    {"INBOX", "INBOX"},
    {"", ""},
    {"a&b", "a&-b"},
    {"&", "&-"},
    {"&&", "&-&-"},
    {"~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
     "~peter/mail/&U,BTFw-/&ZeVnLIqe-"}, /* RFC 3501 §5.1.3 */
    {"Entw\xc3\xbc"
     "rfe",
     "Entw&APw-rfe"},
    {"\xc3\xa9t\xc3\xa9", "&AOk-t&AOk-"},
    {"\xc3\xa9\xc3\xa9\xc3\xa9", "&AOkA6QDp-"},
    {"\xf0\x9f\x98\x80", "&2D3eAA-"}, /* U+1F600: a surrogate pair */
    {"a\xf0\x9f\x98\x80z", "a&2D3eAA-z"},
    {"\xd0\x9f\xd1\x80\xd0\xb8\xd0\xbc\xd0\xb5\xd1\x80", "&BB8EQAQ4BDwENQRA-"},
    {"tab\there", "tab&AAk-here"},
};

START_TEST(test_mutf7_both_ways)
{
    const struct mutf7_case *mc = &mutf7_cases[_i];
    char *enc = imap_mutf7_encode(mc->utf8);
    ck_assert_str_eq(enc, mc->mutf7);
    char *dec = imap_mutf7_decode(mc->mutf7);
    ck_assert_ptr_nonnull(dec);
    ck_assert_str_eq(dec, mc->utf8);
    free(enc);
    free(dec);
}
END_TEST

static const char *const mutf7_invalid[] = {
    "&",           /* not closed */
    "&AOk",        /* not closed */
    "&-&",         /* not closed */
    "&AGE-",       /* "a" encoded: printable ASCII must stand for itself */
    "&ACY-",       /* "&" encoded */
    "&AOkA-",      /* leftover bits not zero... and a half unit */
    "&AOl-",       /* leftover bits not zero */
    "&2D0-",       /* a lone high surrogate */
    "&3gA-",       /* a lone low surrogate */
    "&2D3YPQ-",    /* high surrogate followed by a high one */
    "&AAA-",       /* U+0000 */
    "&A!k-",       /* not base64 */
    "&AO/-",       /* '/' is ',' in modified base64 */
    "caf\xc3\xa9", /* 8-bit */
    "a\tb",        /* a control character */
    "&AOk=-",      /* padding */
};

START_TEST(test_mutf7_invalid)
{
    ck_assert_msg(imap_mutf7_decode(mutf7_invalid[_i]) == NULL, "\"%s\" decoded",
                  mutf7_invalid[_i]);
}
END_TEST

START_TEST(test_mutf7_encode_invalid_utf8)
{
    /* Broken UTF-8 still gives a valid name (U+FFFD for each bad octet). */
    char *enc = imap_mutf7_encode("a\xff"
                                  "b\xc3");
    char *dec = imap_mutf7_decode(enc);
    ck_assert_ptr_nonnull(dec);
    ck_assert_str_eq(dec, "a\xef\xbf\xbd"
                          "b\xef\xbf\xbd");
    free(enc);
    free(dec);
}
END_TEST

static Suite *imap_parse_suite(void)
{
    Suite *s = suite_create("imap_parse");
    TCase *parse = tcase_create("parse");
    tcase_add_loop_test(parse, test_parse, 0, (int)NELEMS(parse_cases));
    tcase_add_test(parse, test_parse_nul_in_literal);
    tcase_add_test(parse, test_arg_helpers);
    tcase_add_test(parse, test_parse_empty);
    suite_add_tcase(s, parse);
    TCase *mutf7 = tcase_create("mutf7");
    tcase_add_loop_test(mutf7, test_mutf7_both_ways, 0, (int)NELEMS(mutf7_cases));
    tcase_add_loop_test(mutf7, test_mutf7_invalid, 0, (int)NELEMS(mutf7_invalid));
    tcase_add_test(mutf7, test_mutf7_encode_invalid_utf8);
    suite_add_tcase(s, mutf7);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(imap_parse_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
