/*
 * test_mime.c - ingestion-time MIME analysis (common/store_mime.c).
 *
 * Golden tests: for each message of a table (inline, or a file under
 * tests/unit/mime/) the exact ENVELOPE, BODYSTRUCTURE, BODY and sections
 * that imap4srv will send, and a list of sections whose bytes are checked
 * by slicing the raw message at the stored offsets. Every result, golden or
 * not, also goes through the invariant checks of check_invariants(): valid
 * UTF-8 everywhere, well-formed IMAP syntax, offsets inside the message and
 * line counts that match the bytes.
 *
 * The goldens were reviewed by hand; where RFC 3501 leaves room they follow
 * what Dovecot sends (Dovecot's own tests are quoted in test_dovecot). To
 * see what the code produces for every row (after a deliberate change),
 * run with OFC_TEST_MIME_PRINT=1.
 */
/* System. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Libraries. */
#include <check.h>

/* libofc. */
#include "ofc_mem.h"
#include "store_mime.h"

/* ---------------------------------------------------------------------
 * Helpers.
 */

/*
 * ck_assert() records its location on every call, which costs a write to
 * Check's message file; the invariant checks run millions of times under
 * the robustness tests, so they only call into Check when they fail.
 */
#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond))                                                                               \
            ck_abort_msg("%s:%d: " #cond, __FILE__, __LINE__);                                     \
    } while (0)

/* A message as analysed: the octets, and whether it came from a file. */
struct msg {
    char *data;
    size_t len;
};

static struct msg msg_from_text(const char *text, bool crlf)
{
    struct ofc_strbuf sb = OFC_STRBUF_INIT;

    for (const char *p = text; *p != '\0'; p++) {
        if (crlf && *p == '\n' && (p == text || p[-1] != '\r'))
            ofc_strbuf_putc(&sb, '\r');
        ofc_strbuf_putc(&sb, *p);
    }
    struct msg m = {NULL, sb.len};
    m.data = ofc_strbuf_detach(&sb);
    return m;
}

static struct msg msg_from_file(const char *name, bool crlf)
{
    const char *src = getenv("OFC_SOURCE_DIR");
    char *path = ofc_xasprintf("%s/tests/unit/mime/%s", src != NULL ? src : "..", name);
    FILE *f = fopen(path, "rb");
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    char buf[4096];
    size_t n;

    ck_assert_msg(f != NULL, "cannot open %s", path);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        ofc_strbuf_append(&sb, buf, n);
    ck_assert_int_eq(ferror(f), 0);
    (void)fclose(f);
    free(path);
    char *text = ofc_strbuf_detach(&sb);
    struct msg m = msg_from_text(text, crlf);
    free(text);
    return m;
}

static size_t count_lf(const char *s, size_t n)
{
    size_t lines = 0;

    for (size_t i = 0; i < n; i++)
        lines += s[i] == '\n';
    return lines;
}

/* Strict RFC 3629 UTF-8, no NUL (what PostgreSQL accepts in text). */
static bool utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p != '\0') {
        unsigned char c = *p;
        size_t k;
        if (c < 0x80) {
            p++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            k = 2;
        else if (c >= 0xE0 && c <= 0xEF)
            k = 3;
        else if (c >= 0xF0 && c <= 0xF4)
            k = 4;
        else
            return false;
        for (size_t i = 1; i < k; i++)
            if ((p[i] & 0xC0) != 0x80)
                return false;
        if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] > 0x9F) ||
            (c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] > 0x8F))
            return false;
        p += k;
    }
    return true;
}

/*
 * Whether s is one parenthesised IMAP list of NIL, numbers, quoted strings
 * (7-bit, no CR/LF, only \" and \\ escaped) and literals ({n}CRLF + n
 * octets), with balanced parentheses.
 */
static bool imap_wellformed(const char *s)
{
    const char *p = s;
    int depth = 0;

    if (*p != '(')
        return false;
    while (*p != '\0') {
        if (*p == '(') {
            depth++;
            p++;
        } else if (*p == ')') {
            if (--depth < 0)
                return false;
            p++;
            if (depth == 0)
                return *p == '\0';
        } else if (*p == ' ') {
            p++;
        } else if (*p == '"') {
            for (p++; *p != '"'; p++) {
                if (*p == '\0' || *p == '\r' || *p == '\n' || (unsigned char)*p >= 0x80)
                    return false;
                if (*p == '\\' && p[1] != '"' && p[1] != '\\')
                    return false;
                if (*p == '\\')
                    p++;
            }
            p++;
        } else if (*p == '{') {
            char *end;
            unsigned long n = strtoul(p + 1, &end, 10);
            if (end == p + 1 || strncmp(end, "}\r\n", 3) != 0)
                return false;
            p = end + 3;
            if (strlen(p) < n)
                return false;
            p += n;
        } else if (strncmp(p, "NIL", 3) == 0) {
            p += 3;
        } else if (*p >= '0' && *p <= '9') {
            while (*p >= '0' && *p <= '9')
                p++;
        } else {
            return false;
        }
    }
    return false;
}

/* One entry of the sections JSON. */
struct section {
    char key[256];
    size_t v[5];
    int n; /* 4, or 5 for message/rfc822 parts */
};

/* Parses the JSON this module writes (flat object of number arrays). */
static size_t sections_parse(const char *json, struct section **out)
{
    const char *p = json;
    size_t count = 0;

    *out = NULL;
    REQUIRE(*p++ == '{');
    while (*p != '}') {
        struct section s;
        memset(&s, 0, sizeof(s));
        if (*p == ',')
            p++;
        REQUIRE(*p++ == '"');
        const char *q = strchr(p, '"');
        REQUIRE(q != NULL);
        REQUIRE((size_t)(q - p) < sizeof(s.key));
        memcpy(s.key, p, (size_t)(q - p));
        p = q + 1;
        REQUIRE(*p++ == ':');
        REQUIRE(*p++ == '[');
        for (;;) {
            char *end;
            REQUIRE(s.n < 5);
            s.v[s.n++] = strtoull(p, &end, 10);
            REQUIRE(end != p);
            p = end;
            if (*p == ']')
                break;
            REQUIRE(*p++ == ',');
        }
        p++;
        REQUIRE(s.n == 4 || s.n == 5);
        if ((count & (count - 1)) == 0) /* grow at powers of two */
            *out = ofc_xrealloc(*out, (count == 0 ? 1 : count * 2) * sizeof(**out));
        (*out)[count++] = s;
    }
    REQUIRE(p[1] == '\0');
    return count;
}

static const struct section *section_find(const struct section *v, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].key, key) == 0)
            return &v[i];
    return NULL;
}

/* Everything that must hold for any input. */
static void check_invariants(const struct store_mime *m, const char *raw, size_t len)
{
    REQUIRE(m->size == len);
    REQUIRE(m->header_size <= len);
    const char *strs[] = {m->subject,       m->from,       m->to,          m->cc,
                          m->bcc,           m->message_id, m->in_reply_to, m->envelope,
                          m->bodystructure, m->body,       m->sections};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        if (strs[i] != NULL && !utf8_ok(strs[i]))
            ck_abort_msg("invalid UTF-8 in string %zu", i);
    REQUIRE(m->envelope != NULL);
    REQUIRE(m->bodystructure != NULL);
    REQUIRE(m->body != NULL);
    REQUIRE(m->sections != NULL);
    if (!imap_wellformed(m->envelope))
        ck_abort_msg("ENVELOPE %s", m->envelope);
    if (!imap_wellformed(m->bodystructure))
        ck_abort_msg("BODYSTRUCTURE %s", m->bodystructure);
    if (!imap_wellformed(m->body))
        ck_abort_msg("BODY %s", m->body);
    for (size_t i = 0; i < m->header_count; i++) {
        const char *name = m->headers[i].name;
        REQUIRE(*name != '\0');
        for (const char *p = name; *p != '\0'; p++)
            REQUIRE(*p > 32 && *p < 127 && *p != ':' && !(*p >= 'A' && *p <= 'Z'));
        REQUIRE(utf8_ok(m->headers[i].value));
    }

    struct section *secs;
    size_t n = sections_parse(m->sections, &secs);
    REQUIRE(n >= 2); /* "" and at least "1" */
    REQUIRE(strcmp(secs[0].key, "") == 0);
    REQUIRE(secs[0].v[0] == 0);
    REQUIRE(secs[0].v[1] == m->header_size);
    REQUIRE(secs[0].v[2] == len);
    REQUIRE(section_find(secs, n, "1") != NULL);
    for (size_t i = 0; i < n; i++) {
        const size_t *v = secs[i].v;
        if (v[0] > v[1] || v[1] > v[2] || v[2] > len)
            ck_abort_msg("section %s out of order", secs[i].key);
        REQUIRE(v[3] == count_lf(raw + v[1], v[2] - v[1]));
        if (secs[i].n == 5) {
            /* message/rfc822: the embedded header lies inside the body. */
            REQUIRE(v[1] <= v[4] && v[4] <= v[2]);
            char *child = ofc_xasprintf("%s.1", secs[i].key);
            REQUIRE(section_find(secs, n, child) != NULL);
            free(child);
        }
        /* A header with a body after it ends with its empty line. */
        if (v[1] > v[0] && v[1] < v[2]) {
            REQUIRE(raw[v[1] - 1] == '\n');
            REQUIRE(v[1] - v[0] == 1 || raw[v[1] - 2] == '\n' ||
                    (raw[v[1] - 2] == '\r' && (v[1] - v[0] == 2 || raw[v[1] - 3] == '\n')));
        }
        /* Parts n.m lie inside part n. */
        const char *dot = strrchr(secs[i].key, '.');
        if (dot != NULL) {
            char *parent = ofc_xstrndup(secs[i].key, (size_t)(dot - secs[i].key));
            const struct section *p = section_find(secs, n, parent);
            if (p == NULL)
                ck_abort_msg("no parent for %s", secs[i].key);
            REQUIRE(p->v[1] <= v[0] && v[2] <= p->v[2]);
            free(parent);
        }
    }
    free(secs);
}

static struct store_mime *analyze(const char *raw, size_t len)
{
    struct store_mime *m = NULL;
    char *error = NULL;

    ck_assert_int_eq(store_mime_analyze(raw, len, &m, &error), 0);
    ck_assert_ptr_null(error);
    ck_assert_ptr_nonnull(m);
    check_invariants(m, raw, len);
    return m;
}

/* Prints s as a C string literal (for OFC_TEST_MIME_PRINT). */
static void print_c(const char *label, const char *s)
{
    printf("    .%s =\n        \"", label);
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p == '\r')
            printf("\\r");
        else if (*p == '\n')
            printf("\\n");
        else if ((unsigned char)*p >= 0x80 || (unsigned char)*p < 0x20)
            printf(strchr("0123456789abcdefABCDEF", p[1]) != NULL && p[1] != '\0' ? "\\x%02x\" \""
                                                                                  : "\\x%02x",
                   (unsigned char)*p);
        else
            putchar(*p);
    }
    printf("\",\n");
}

/* ---------------------------------------------------------------------
 * Golden table.
 */

enum slice_kind {
    MIME,   /* [hdr_start, body_start): BODY[n.MIME], or BODY[HEADER] for "" */
    BODY,   /* [body_start, end): BODY[n], or BODY[TEXT] for "" */
    HEADER, /* message/rfc822 only: BODY[n.HEADER] */
    TEXT,   /* message/rfc822 only: BODY[n.TEXT] */
};

struct slice {
    const char *section; /* NULL ends the list */
    enum slice_kind kind;
    const char *text;
};

struct golden {
    const char *name;
    const char *raw;  /* inline message, LF line ends */
    const char *file; /* or a file under tests/unit/mime */
    bool crlf;        /* make every line end CRLF first */
    size_t header_size;
    const char *envelope;
    const char *bodystructure;
    const char *body;
    const char *sections;
    struct slice slices[10]; /* up to the first with section NULL */
};

#define RFC3501_MSG                                                                                \
    "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\n"                                                \
    "From: Terry Gray <gray@cac.washington.edu>\n"                                                 \
    "Subject: IMAP4rev1 WG mtg summary and minutes\n"                                              \
    "To: imap@cac.washington.edu\n"                                                                \
    "cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\n"                              \
    "Message-Id: <B27397-0100000@cac.washington.edu>\n"                                            \
    "MIME-Version: 1.0\n"                                                                          \
    "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\n"                                                 \
    "\n"                                                                                           \
    "The meeting was held on the Tuesday.\n"                                                       \
    "Minutes follow.\n"

/* Dovecot's test-imap-bodystructure.c, message 7 (LF there, sizes CRLF). */
#define DOVECOT_MSG                                                                                \
    "From: user@domain.org\n"                                                                      \
    "Date: Sat, 24 Mar 2017 23:00:00 +0200\n"                                                      \
    "Mime-Version: 1.0\n"                                                                          \
    "Content-Type: multipart/mixed; boundary=\"foo\n"                                              \
    " bar\"\n"                                                                                     \
    "\n"                                                                                           \
    "Root MIME prologue\n"                                                                         \
    "\n"                                                                                           \
    "--foo bar\n"                                                                                  \
    "Content-Type: text/x-myown; charset=us-ascii; foo=\"quoted\\\"string\"\n"                     \
    "Content-ID: <foo@example.com>\n"                                                              \
    "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n"                                                      \
    "Content-Disposition: inline; foo=bar\n"                                                       \
    "Content-Description: hellodescription\n"                                                      \
    "Content-Language: en, fi, se\n"                                                               \
    "Content-Location: http://example.com/test.txt\n"                                              \
    "\n"                                                                                           \
    "hello\n"                                                                                      \
    "\n"                                                                                           \
    "--foo bar\n"                                                                                  \
    "Content-Type: message/rfc822\n"                                                               \
    "\n"                                                                                           \
    "From: sub@domain.org\n"                                                                       \
    "To: sub-to1@domain.org, sub-to2@domain.org\n"                                                 \
    "Date: Sun, 12 Aug 2012 12:34:56 +0300\n"                                                      \
    "Subject: submsg\n"                                                                            \
    "Content-Type: multipart/alternative; boundary=\"sub1\"\n"                                     \
    "\n"                                                                                           \
    "Sub MIME prologue\n"                                                                          \
    "--sub1\n"                                                                                     \
    "Content-Type: text/html\n"                                                                    \
    "Content-Transfer-Encoding: 8bit\n"                                                            \
    "\n"                                                                                           \
    "<p>Hello world</p>\n"                                                                         \
    "\n"                                                                                           \
    "--sub1\n"                                                                                     \
    "Content-Type: text/plain\n"                                                                   \
    "Content-Transfer-Encoding: ?invalid\n"                                                        \
    "\n"                                                                                           \
    "Hello another world\n"                                                                        \
    "\n"                                                                                           \
    "--sub1--\n"                                                                                   \
    "Sub MIME epilogue\n"                                                                          \
    "\n"                                                                                           \
    "--foo bar--\n"                                                                                \
    "Root MIME epilogue\n"

#define ALTERNATIVE_MSG                                                                            \
    "From: a@example.com\n"                                                                        \
    "Subject: alt\n"                                                                               \
    "Content-Type: multipart/alternative; boundary=\"=_alt\"\n"                                    \
    "\n"                                                                                           \
    "--=_alt\n"                                                                                    \
    "Content-Type: text/plain; charset=utf-8\n"                                                    \
    "\n"                                                                                           \
    "plain text\n"                                                                                 \
    "--=_alt\n"                                                                                    \
    "Content-Type: text/html; charset=utf-8\n"                                                     \
    "\n"                                                                                           \
    "<b>html</b>\n"                                                                                \
    "--=_alt--\n"

static const struct golden goldens[] = {
    {
        .name = "rfc3501 text/plain, CRLF",
        .raw = RFC3501_MSG,
        .crlf = true,
        .header_size = 342,
        .envelope = "(\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \"IMAP4rev1 WG mtg summary and "
                    "minutes\" ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((\"Terry "
                    "Gray\" NIL \"gray\" \"cac.washington.edu\")) ((\"Terry Gray\" NIL \"gray\" "
                    "\"cac.washington.edu\")) ((NIL NIL \"imap\" \"cac.washington.edu\")) ((NIL "
                    "NIL \"minutes\" \"CNRI.Reston.VA.US\")(\"John Klensin\" NIL \"KLENSIN\" "
                    "\"MIT.EDU\")) NIL NIL \"<B27397-0100000@cac.washington.edu>\")",
        .bodystructure =
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 55 2 NIL NIL NIL NIL)",
        .body = "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 55 2)",
        .sections = "{\"\":[0,342,397,2],\"1\":[0,342,397,2]}",
        .slices = {{"", BODY, "The meeting was held on the Tuesday.\r\nMinutes follow.\r\n"},
                   {"1", BODY, "The meeting was held on the Tuesday.\r\nMinutes follow.\r\n"}},
    },
    {
        .name = "no Content-Type, LF",
        .raw = "Subject: hi\n\nline 1\nline 2\n",
        .header_size = 13,
        .envelope = "(NIL \"hi\" NIL NIL NIL NIL NIL NIL NIL NIL)",
        .bodystructure =
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 14 2 NIL NIL NIL NIL)",
        .body = "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 14 2)",
        .sections = "{\"\":[0,13,27,2],\"1\":[0,13,27,2]}",
        .slices = {{"", MIME, "Subject: hi\n\n"},
                   {"1", MIME, "Subject: hi\n\n"},
                   {"1", BODY, "line 1\nline 2\n"}},
    },
    {
        .name = "no Content-Type, CRLF",
        .raw = "Subject: hi\n\nline 1\nline 2\n",
        .crlf = true,
        .header_size = 15,
        .envelope = "(NIL \"hi\" NIL NIL NIL NIL NIL NIL NIL NIL)",
        .bodystructure =
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 16 2 NIL NIL NIL NIL)",
        .body = "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 16 2)",
        .sections = "{\"\":[0,15,31,2],\"1\":[0,15,31,2]}",
        .slices = {{"", MIME, "Subject: hi\r\n\r\n"}, {"1", BODY, "line 1\r\nline 2\r\n"}},
    },
    {
        .name = "multipart/alternative, LF",
        .raw = ALTERNATIVE_MSG,
        .header_size = 88,
        .envelope = "(NIL \"alt\" ((NIL NIL \"a\" \"example.com\")) ((NIL NIL \"a\" "
                    "\"example.com\")) ((NIL NIL \"a\" \"example.com\")) NIL NIL NIL NIL NIL)",
        .bodystructure =
            "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7BIT\" 10 0 NIL NIL NIL "
            "NIL)(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"7BIT\" 11 0 NIL NIL NIL NIL) "
            "\"alternative\" (\"boundary\" \"=_alt\") NIL NIL NIL)",
        .body = "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7BIT\" 10 0)(\"text\" "
                "\"html\" (\"charset\" \"utf-8\") NIL NIL \"7BIT\" 11 0) \"alternative\")",
        .sections = "{\"\":[0,88,218,9],\"1\":[96,137,147,0],\"2\":[156,196,207,0]}",
        .slices = {{"1", MIME, "Content-Type: text/plain; charset=utf-8\n\n"},
                   {"1", BODY, "plain text"},
                   {"2", MIME, "Content-Type: text/html; charset=utf-8\n\n"},
                   {"2", BODY, "<b>html</b>"}},
    },
    {
        .name = "multipart/alternative, CRLF",
        .raw = ALTERNATIVE_MSG,
        .crlf = true,
        .header_size = 92,
        .envelope = "(NIL \"alt\" ((NIL NIL \"a\" \"example.com\")) ((NIL NIL \"a\" "
                    "\"example.com\")) ((NIL NIL \"a\" \"example.com\")) NIL NIL NIL NIL NIL)",
        .bodystructure =
            "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7BIT\" 10 0 NIL NIL NIL "
            "NIL)(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"7BIT\" 11 0 NIL NIL NIL NIL) "
            "\"alternative\" (\"boundary\" \"=_alt\") NIL NIL NIL)",
        .body = "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7BIT\" 10 0)(\"text\" "
                "\"html\" (\"charset\" \"utf-8\") NIL NIL \"7BIT\" 11 0) \"alternative\")",
        .sections = "{\"\":[0,92,231,9],\"1\":[101,144,154,0],\"2\":[165,207,218,0]}",
        .slices = {{"1", MIME, "Content-Type: text/plain; charset=utf-8\r\n\r\n"},
                   {"1", BODY, "plain text"},
                   {"2", BODY, "<b>html</b>"}},
    },
    {
        .name = "attachment with RFC 2231 names",
        .file = "attachment.eml",
        .header_size = 285,
        .envelope =
            "(\"Mon, 03 Jun 2024 09:15:00 +0200\" \"Quarterly report\" ((\"Alice Example\" NIL "
            "\"alice\" \"example.com\")) ((\"Alice Example\" NIL \"alice\" \"example.com\")) "
            "((\"Alice Example\" NIL \"alice\" \"example.com\")) ((\"Bob\" NIL \"bob\" "
            "\"example.net\")) NIL NIL NIL \"<report-2024-q2@example.com>\")",
        .bodystructure =
            "((\"text\" \"plain\" (\"charset\" \"UTF-8\") NIL NIL \"quoted-printable\" 56 4 NIL "
            "NIL NIL NIL)(\"application\" \"pdf\" (\"name*\" "
            "\"UTF-8''Rapport%20trimestriel%20%E2%80%93%20T2.pdf\") NIL \"The report\" \"base64\" "
            "167 NIL (\"attachment\" (\"filename*\" "
            "\"UTF-8'fr'Rapport%20trimestriel%20%E2%80%93%20T2.pdf\" \"size\" \"1024\")) NIL "
            "NIL)(\"image\" \"png\" (\"name\" \"logo.png\") \"<logo@example.com>\" NIL \"base64\" "
            "97 NIL (\"inline\" (\"filename\" \"logo.png\")) NIL NIL) \"mixed\" (\"boundary\" "
            "\"----=_Part_17_2024\") NIL NIL NIL)",
        .body = "((\"text\" \"plain\" (\"charset\" \"UTF-8\") NIL NIL \"quoted-printable\" 56 "
                "4)(\"application\" \"pdf\" (\"name*\" "
                "\"UTF-8''Rapport%20trimestriel%20%E2%80%93%20T2.pdf\") NIL \"The report\" "
                "\"base64\" 167)(\"image\" \"png\" (\"name\" \"logo.png\") \"<logo@example.com>\" "
                "NIL \"base64\" 97) \"mixed\")",
        .sections = "{\"\":[0,285,1275,36],\"1\":[352,437,493,4],\"2\":[515,808,975,3],\"3\":[997,"
                    "1153,1250,1]}",
        .slices = {{"", HEADER,
                    "Return-Path: <alice@example.com>\nFrom: Alice Example "
                    "<alice@example.com>\nTo: Bob <bob@example.net>\nSubject: Quarterly "
                    "report\nDate: Mon, 03 Jun 2024 09:15:00 +0200\nMessage-ID: "
                    "<report-2024-q2@example.com>\nMIME-Version: 1.0\nContent-Type: "
                    "multipart/mixed;\n boundary=\"----=_Part_17_2024\"\n\n"},
                   {"1", BODY, "Hi Bob,\n\nthe report is attached. Gr=C3=BC=C3=9Fe,\nAlice\n"},
                   {"2", BODY,
                    "JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFIvRmlsdGVyIC9GbGF0ZURlY2"
                    "9k\nZT4+CnN0cmVhbQp4nCvkMlAwUDC1NNUzMVGwMDHUszRSKErlCtfiyuMCAIZ5BwoKZW5kc3Ry"
                    "ZWFt\nCmVuZG9iago=\n"},
                   {"3", MIME,
                    "Content-Type: image/png; name=\"logo.png\"\nContent-Transfer-Encoding: "
                    "base64\nContent-ID: <logo@example.com>\nContent-Disposition: inline; "
                    "filename=\"logo.png\"\n\n"}},
    },
    {
        .name = "forwarded message/rfc822",
        .file = "forward.eml",
        .header_size = 178,
        .envelope =
            "(\"Tue, 4 Jun 2024 12:00:00 -0400\" \"Fwd: Lunch?\" ((\"Carol\" NIL \"carol\" "
            "\"example.org\")) ((\"Carol\" NIL \"carol\" \"example.org\")) ((\"Carol\" NIL "
            "\"carol\" \"example.org\")) ((NIL NIL \"dave\" \"example.org\")) NIL NIL NIL NIL)",
        .bodystructure =
            "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 11 1 NIL NIL NIL "
            "NIL)(\"message\" \"rfc822\" NIL NIL \"Forwarded message\" \"7BIT\" 472 (\"Mon, 3 Jun "
            "2024 11:30:00 -0400\" \"Lunch?\" ((\"Erin\" NIL \"erin\" \"example.com\")) ((\"Erin\" "
            "NIL \"erin\" \"example.com\")) ((\"Erin\" NIL \"erin\" \"example.com\")) ((\"Carol\" "
            "NIL \"carol\" \"example.org\")(\"Frank\" NIL \"frank\" \"example.com\")) ((NIL NIL "
            "\"Team\" NIL)(NIL NIL \"grace\" \"example.com\")(NIL NIL \"heidi\" "
            "\"example.com\")(NIL NIL NIL NIL)) NIL \"<plans@example.org>\" "
            "\"<lunch@example.com>\") ((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL "
            "\"7BIT\" 24 0 NIL NIL NIL NIL)(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL "
            "\"7BIT\" 31 0 NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"inner\") NIL NIL NIL) "
            "18 NIL NIL NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\" \"format\" "
            "\"flowed\") NIL NIL \"7BIT\" 9 1 NIL (\"inline\" NIL) NIL NIL) \"mixed\" "
            "(\"boundary\" \"outer\") NIL NIL NIL)",
        .body =
            "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 11 1)(\"message\" "
            "\"rfc822\" NIL NIL \"Forwarded message\" \"7BIT\" 472 (\"Mon, 3 Jun 2024 11:30:00 "
            "-0400\" \"Lunch?\" ((\"Erin\" NIL \"erin\" \"example.com\")) ((\"Erin\" NIL \"erin\" "
            "\"example.com\")) ((\"Erin\" NIL \"erin\" \"example.com\")) ((\"Carol\" NIL \"carol\" "
            "\"example.org\")(\"Frank\" NIL \"frank\" \"example.com\")) ((NIL NIL \"Team\" "
            "NIL)(NIL NIL \"grace\" \"example.com\")(NIL NIL \"heidi\" \"example.com\")(NIL NIL "
            "NIL NIL)) NIL \"<plans@example.org>\" \"<lunch@example.com>\") ((\"text\" \"plain\" "
            "(\"charset\" \"utf-8\") NIL NIL \"7BIT\" 24 0)(\"text\" \"html\" (\"charset\" "
            "\"utf-8\") NIL NIL \"7BIT\" 31 0) \"alternative\") 18)(\"text\" \"plain\" "
            "(\"charset\" \"us-ascii\" \"format\" \"flowed\") NIL NIL \"7BIT\" 9 1) \"mixed\")",
        .sections = "{\"\":[0,178,907,35],\"1\":[186,230,241,1],\"2\":[250,319,791,18,627],\"2.1\":"
                    "[635,676,700,0],\"2.2\":[709,749,780,0],\"3\":[800,887,896,1]}",
        .slices =
            {{"1", BODY, "See below.\n"},
             {"2", MIME,
              "Content-Type: message/rfc822\nContent-Description: Forwarded message\n\n"},
             {"2", HEADER,
              "From: Erin <erin@example.com>\nTo: Carol <carol@example.org>, Frank "
              "<frank@example.com>\nCc: Team: grace@example.com, heidi@example.com;\nSubject: "
              "Lunch?\nDate: Mon, 3 Jun 2024 11:30:00 -0400\nMessage-ID: "
              "<lunch@example.com>\nIn-Reply-To: <plans@example.org>\nContent-Type: "
              "multipart/alternative; boundary=\"inner\"\n\n"},
             {"2", TEXT,
              "--inner\nContent-Type: text/plain; charset=utf-8\n\nNoon at the usual "
              "place?\n--inner\nContent-Type: text/html; charset=utf-8\n\n<p>Noon at the "
              "usual place?</p>\n--inner--\n"},
             {"2.1", BODY, "Noon at the usual place?"},
             {"2.2", MIME, "Content-Type: text/html; charset=utf-8\n\n"},
             {"2.2", BODY, "<p>Noon at the usual place?</p>"},
             {"3", BODY, "-- \nCarol"}},
    },
    {
        .name = "nested multipart",
        .raw = "Content-Type: multipart/mixed; boundary=m\n"
               "\n"
               "--m\n"
               "Content-Type: multipart/related; boundary=r; type=\"multipart/alternative\"\n"
               "\n"
               "--r\n"
               "Content-Type: multipart/alternative; boundary=a\n"
               "\n"
               "--a\n"
               "\n"
               "text\n"
               "--a\n"
               "Content-Type: text/html\n"
               "\n"
               "<img src=\"cid:i\">\n"
               "--a--\n"
               "--r\n"
               "Content-Type: image/gif\n"
               "Content-ID: <i>\n"
               "Content-Transfer-Encoding: base64\n"
               "\n"
               "R0lGODlhAQABAAAAACw=\n"
               "--r--\n"
               "--m\n"
               "Content-Type: application/octet-stream\n"
               "\n"
               "bin\n"
               "--m--\n",
        .header_size = 43,
        .envelope = "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        .bodystructure =
            "((((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 4 0 NIL NIL NIL "
            "NIL)(\"text\" \"html\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 17 0 NIL NIL NIL "
            "NIL) \"alternative\" (\"boundary\" \"a\") NIL NIL NIL)(\"image\" \"gif\" NIL \"<i>\" "
            "NIL \"base64\" 20 NIL NIL NIL NIL) \"related\" (\"boundary\" \"r\" \"type\" "
            "\"multipart/alternative\") NIL NIL NIL)(\"application\" \"octet-stream\" NIL NIL NIL "
            "\"7BIT\" 3 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"m\") NIL NIL NIL)",
        .body = "((((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 4 0)(\"text\" "
                "\"html\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 17 0) "
                "\"alternative\")(\"image\" \"gif\" NIL \"<i>\" NIL \"base64\" 20) "
                "\"related\")(\"application\" \"octet-stream\" NIL NIL NIL \"7BIT\" 3) \"mixed\")",
        .sections =
            "{\"\":[0,43,398,26],\"1\":[47,122,343,17],\"1.1\":[126,175,237,7],\"1.1.1\":[179,180,"
            "184,0],\"1.1.2\":[189,214,231,0],\"1.2\":[242,317,337,0],\"2\":[348,388,391,0]}",
        .slices = {{"1.1.1", MIME, "\n"},
                   {"1.1.1", BODY, "text"},
                   {"1.1.2", BODY, "<img src=\"cid:i\">"},
                   {"1.2", BODY, "R0lGODlhAQABAAAAACw="},
                   {"2", BODY, "bin"}},
    },
    {
        /* Subjects and names keep their encoded words; runs of white
         * space in them become one space. */
        .name = "RFC 2047 words stay encoded in ENVELOPE",
        .raw = "From: =?UTF-8?B?SsO2cmc=?= Doe <jd@example.com>\n"
               "Subject: =?ISO-8859-1?Q?Caf=E9?= and\n"
               " =?UTF-8?Q?na=C3=AFve?=\t  end\n"
               "\n"
               "x\n",
        .header_size = 116,
        .envelope =
            "(NIL \"=?ISO-8859-1?Q?Caf=E9?= and =?UTF-8?Q?na=C3=AFve?= end\" "
            "((\"=?UTF-8?B?SsO2cmc=?= Doe\" NIL \"jd\" \"example.com\")) ((\"=?UTF-8?B?SsO2cmc=?= "
            "Doe\" NIL \"jd\" \"example.com\")) ((\"=?UTF-8?B?SsO2cmc=?= Doe\" NIL \"jd\" "
            "\"example.com\")) NIL NIL NIL NIL NIL)",
        .bodystructure =
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 2 1 NIL NIL NIL NIL)",
        .body = "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 2 1)",
        .sections = "{\"\":[0,116,118,1],\"1\":[0,116,118,1]}",
    },
    {
        /* 8-bit header text is sent as literals; Latin-1 becomes UTF-8. */
        .name = "8-bit headers",
        .raw = "From: J\xc3\xb6rg <j@example.de>\n"
               "Reply-To: \xe9t\xe9 <ete@example.fr>\n"
               "Subject: caf\xc3\xa9 \"quoted\" back\\slash\n"
               "Content-Type: text/plain; charset=utf-8; name=r\xc3\xa9sum\xc3\xa9.txt\n"
               "Content-Transfer-Encoding: 8bit\n"
               "\n"
               "d\xc3\xa9j\xc3\xa0 vu\n",
        .header_size = 185,
        .envelope = "(NIL {25}\r\ncaf\xc3\xa9 \"quoted\" back\\slash (({5}\r\nJ\xc3\xb6rg NIL "
                    "\"j\" \"example.de\")) (({5}\r\nJ\xc3\xb6rg NIL \"j\" \"example.de\")) "
                    "(({5}\r\n\xc3\xa9t\xc3\xa9 NIL \"ete\" \"example.fr\")) NIL NIL NIL NIL NIL)",
        .bodystructure = "(\"text\" \"plain\" (\"charset\" \"utf-8\" \"name\" "
                         "{12}\r\nr\xc3\xa9sum\xc3\xa9.txt) NIL NIL \"8bit\" 10 1 NIL NIL NIL NIL)",
        .body = "(\"text\" \"plain\" (\"charset\" \"utf-8\" \"name\" "
                "{12}\r\nr\xc3\xa9sum\xc3\xa9.txt) NIL NIL \"8bit\" 10 1)",
        .sections = "{\"\":[0,185,195,1],\"1\":[0,185,195,1]}",
    },
    {
        .name = "groups, empty and odd addresses",
        .raw = "From: \"Smith, Ann\" (work) <ann@EXAMPLE.org>\n"
               "Sender:\n"
               "To: undisclosed-recipients:;\n"
               "Cc: Group: a@b.example, \"x y\"@d.example (Comment Name);, bare,\n"
               "    John Q. Public <jqp@example.com>\n"
               "Bcc: <@r1.example,@r2.example:route@x.example>, <>, \"\" <e@x.example>\n"
               "\n",
        .header_size = 251,
        .envelope =
            "(NIL NIL ((\"Smith, Ann\" NIL \"ann\" \"EXAMPLE.org\")) ((\"Smith, Ann\" NIL \"ann\" "
            "\"EXAMPLE.org\")) ((\"Smith, Ann\" NIL \"ann\" \"EXAMPLE.org\")) ((NIL NIL "
            "\"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) ((NIL NIL \"Group\" NIL)(NIL NIL "
            "\"a\" \"b.example\")(\"Comment Name\" NIL \"\\\"x y\\\"\" \"d.example\")(NIL NIL NIL "
            "NIL)(NIL NIL \"bare\" \"MISSING_DOMAIN\")(\"John Q. Public\" NIL \"jqp\" "
            "\"example.com\")) ((NIL \"@r1.example,@r2.example\" \"route\" \"x.example\")(NIL NIL "
            "\"MISSING_MAILBOX\" \"MISSING_DOMAIN\")(NIL NIL \"e\" \"x.example\")) NIL NIL)",
        .bodystructure =
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL)",
        .body = "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)",
        .sections = "{\"\":[0,251,251,0],\"1\":[0,251,251,0]}",
    },
    {
        .name = "missing final boundary",
        .raw = "Content-Type: multipart/mixed; boundary=b\n"
               "\n"
               "--b\n"
               "Content-Type: text/plain\n"
               "\n"
               "first\n"
               "--b\n"
               "\n"
               "unterminated\n",
        .header_size = 43,
        .envelope = "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        .bodystructure =
            "((\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 5 0 NIL NIL NIL "
            "NIL)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 13 1 NIL NIL NIL "
            "NIL) \"mixed\" (\"boundary\" \"b\") NIL NIL NIL)",
        .body = "((\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 5 0)(\"TEXT\" "
                "\"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 13 1) \"mixed\")",
        .sections = "{\"\":[0,43,97,7],\"1\":[47,73,78,0],\"2\":[83,84,97,1]}",
        .slices = {{"1", BODY, "first"}, {"2", BODY, "unterminated\n"}},
    },
    {
        .name = "preamble and epilogue",
        .raw = "Content-Type: multipart/mixed; boundary=\"b b\"\n"
               "\n"
               "preamble line\n"
               "--b b\n"
               "\n"
               "one\n"
               "--b b-- \n"
               "epilogue\n"
               "--b b\n"
               "not a part\n",
        .header_size = 47,
        .envelope = "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        .bodystructure = "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 0 NIL "
                         "NIL NIL NIL) \"mixed\" (\"boundary\" \"b b\") NIL NIL NIL)",
        .body = "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 0) \"mixed\")",
        .sections = "{\"\":[0,47,107,8],\"1\":[67,68,71,0]}",
        .slices = {{"", TEXT,
                    "preamble line\n--b b\n\none\n--b b-- \nepilogue\n--b b\nnot a part\n"},
                   {"1", BODY, "one"}},
    },
    {
        .name = "header only, no empty line",
        .raw = "Subject: header only\n"
               "X-Folded: a\n"
               " b",
        .header_size = 35,
        .envelope = "(NIL \"header only\" NIL NIL NIL NIL NIL NIL NIL NIL)",
        .bodystructure =
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL)",
        .body = "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)",
        .sections = "{\"\":[0,35,35,0],\"1\":[0,35,35,0]}",
        .slices = {{"", MIME, "Subject: header only\nX-Folded: a\n b"}, {"", BODY, ""}},
    },
    {
        .name = "empty body",
        .raw = "Subject: nothing\n\n",
        .crlf = true,
        .header_size = 20,
        .envelope = "(NIL \"nothing\" NIL NIL NIL NIL NIL NIL NIL NIL)",
        .bodystructure =
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL)",
        .body = "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)",
        .sections = "{\"\":[0,20,20,0],\"1\":[0,20,20,0]}",
    },
    {
        .name = "empty message",
        .raw = "",
        .header_size = 0,
        .envelope = "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        .bodystructure =
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL)",
        .body = "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)",
        .sections = "{\"\":[0,0,0,0],\"1\":[0,0,0,0]}",
    },
    {
        /* RFC 3501 §6.4.5: a message/rfc822 message has parts 1 and 1.1. */
        .name = "top-level message/rfc822",
        .raw = "Content-Type: message/rfc822\n"
               "\n"
               "Subject: inner\n"
               "\n"
               "inner body\n",
        .header_size = 30,
        .envelope = "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        .bodystructure = "(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 27 (NIL \"inner\" NIL NIL "
                         "NIL NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") "
                         "NIL NIL \"7BIT\" 11 1 NIL NIL NIL NIL) 3 NIL NIL NIL NIL)",
        .body =
            "(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 27 (NIL \"inner\" NIL NIL NIL NIL NIL "
            "NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 11 1) 3)",
        .sections = "{\"\":[0,30,57,3],\"1\":[0,30,57,3,46],\"1.1\":[30,46,57,1]}",
        .slices = {{"1", HEADER, "Subject: inner\n\n"},
                   {"1", TEXT, "inner body\n"},
                   {"1.1", MIME, "Subject: inner\n\n"},
                   {"1.1", BODY, "inner body\n"}},
    },
    {
        /* RFC 2046 §5.1.5: the parts of a digest default to message/rfc822. */
        .name = "multipart/digest",
        .raw = "Content-Type: multipart/digest; boundary=d\n"
               "\n"
               "--d\n"
               "\n"
               "From: a@b.example\n"
               "Subject: digest part\n"
               "\n"
               "hi\n"
               "--d--\n",
        .header_size = 44,
        .envelope = "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        .bodystructure =
            "((\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 42 (NIL \"digest part\" ((NIL NIL \"a\" "
            "\"b.example\")) ((NIL NIL \"a\" \"b.example\")) ((NIL NIL \"a\" \"b.example\")) NIL "
            "NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 2 0 "
            "NIL NIL NIL NIL) 3 NIL NIL NIL NIL) \"digest\" (\"boundary\" \"d\") NIL NIL NIL)",
        .body = "((\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 42 (NIL \"digest part\" ((NIL NIL "
                "\"a\" \"b.example\")) ((NIL NIL \"a\" \"b.example\")) ((NIL NIL \"a\" "
                "\"b.example\")) NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" "
                "\"US-ASCII\") NIL NIL \"7BIT\" 2 0) 3) \"digest\")",
        .sections = "{\"\":[0,44,98,7],\"1\":[48,49,91,3,89],\"1.1\":[49,89,91,0]}",
        .slices = {{"1", MIME, "\n"}, {"1", TEXT, "hi"}},
    },
    {
        /* No boundary parameter (or no delimiter line): one headerless part. */
        .name = "multipart without boundary",
        .raw = "Content-Type: multipart/mixed\n"
               "\n"
               "no boundary\n",
        .header_size = 31,
        .envelope = "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        .bodystructure = "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 12 1 "
                         "NIL NIL NIL NIL) \"mixed\" NIL NIL NIL NIL)",
        .body = "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 12 1) \"mixed\")",
        .sections = "{\"\":[0,31,43,1],\"1\":[31,31,43,1]}",
        .slices = {{"1", BODY, "no boundary\n"}},
    },
    {
        /* Comments, unquoted values with spaces, a bad Content-Type, RFC 2231
         * sections with a gap, an invalid transfer encoding. */
        .name = "parameter quirks",
        .raw = "Content-Type: multipart/mixed (comment); boundary=b\n"
               "\n"
               "--b\n"
               "Content-Type: text/plain; charset=us-ascii (Plain text); name=my file.txt\n"
               "Content-Disposition: attachment; filename*0=\"a\"; filename*2=\"c\"\n"
               "\n"
               "x\n"
               "--b\n"
               "Content-Type: text\n"
               "Content-Transfer-Encoding: quoted printable\n"
               "\n"
               "y\n"
               "--b--\n",
        .header_size = 53,
        .envelope = "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        .bodystructure =
            "((\"text\" \"plain\" (\"charset\" \"us-ascii\" \"name\" \"my file.txt\") NIL NIL "
            "\"7BIT\" 1 0 NIL (\"attachment\" (\"filename*0\" \"a\" \"filename*2\" \"c\")) NIL "
            "NIL)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 0 NIL NIL NIL "
            "NIL) \"mixed\" (\"boundary\" \"b\") NIL NIL NIL)",
        .body = "((\"text\" \"plain\" (\"charset\" \"us-ascii\" \"name\" \"my file.txt\") NIL NIL "
                "\"7BIT\" 1 0)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 0) "
                "\"mixed\")",
        .sections = "{\"\":[0,53,274,11],\"1\":[57,196,197,0],\"2\":[202,266,267,0]}",
        .slices = {{"1", BODY, "x"}, {"2", BODY, "y"}},
    },
};

#define NGOLDENS ((int)(sizeof(goldens) / sizeof(goldens[0])))

static struct msg golden_msg(const struct golden *g)
{
    return g->file != NULL ? msg_from_file(g->file, g->crlf) : msg_from_text(g->raw, g->crlf);
}

static void check_slices(const struct golden *g, const struct store_mime *m, const char *raw)
{
    struct section *secs;
    size_t n = sections_parse(m->sections, &secs);

    for (const struct slice *s = g->slices; s < g->slices + 10 && s->section != NULL; s++) {
        const struct section *sec = section_find(secs, n, s->section);
        size_t from, to;
        ck_assert_msg(sec != NULL, "%s: no section \"%s\"", g->name, s->section);
        switch (s->kind) {
        case MIME:
            from = sec->v[0];
            to = sec->v[1];
            break;
        case BODY:
            from = sec->v[1];
            to = sec->v[2];
            break;
        case HEADER:
        case TEXT:
            if (*s->section == '\0') {
                from = s->kind == HEADER ? 0 : sec->v[1];
                to = s->kind == HEADER ? sec->v[1] : sec->v[2];
            } else {
                ck_assert_msg(sec->n == 5, "%s: %s is not message/rfc822", g->name, s->section);
                from = s->kind == HEADER ? sec->v[1] : sec->v[4];
                to = s->kind == HEADER ? sec->v[4] : sec->v[2];
            }
            break;
        default:
            ck_abort();
        }
        ck_assert_msg(to - from == strlen(s->text) && memcmp(raw + from, s->text, to - from) == 0,
                      "%s: section \"%s\" kind %d is \"%.*s\"", g->name, s->section, s->kind,
                      (int)(to - from), raw + from);
    }
    free(secs);
}

START_TEST(test_golden)
{
    const struct golden *g = &goldens[_i];
    struct msg msg = golden_msg(g);
    struct store_mime *m = analyze(msg.data, msg.len);

    if (getenv("OFC_TEST_MIME_PRINT") != NULL) {
        printf("/* %s */\n    .header_size = %zu,\n", g->name, m->header_size);
        print_c("envelope", m->envelope);
        print_c("bodystructure", m->bodystructure);
        print_c("body", m->body);
        print_c("sections", m->sections);
    }
    ck_assert_msg(m->header_size == g->header_size, "%s: header_size %zu", g->name, m->header_size);
    ck_assert_str_eq(m->envelope, g->envelope);
    ck_assert_str_eq(m->bodystructure, g->bodystructure);
    ck_assert_str_eq(m->body, g->body);
    ck_assert_str_eq(m->sections, g->sections);
    check_slices(g, m, msg.data);
    store_mime_free(&m);
    ck_assert_ptr_null(m);
    free(msg.data);
}
END_TEST

/*
 * Dovecot's expected BODYSTRUCTURE for the same message, with CRLF line
 * ends (Dovecot counts sizes as if lines ended in CRLF). The only
 * differences are our upper-case defaults: Dovecot writes "7bit" and
 * ("charset" "us-ascii") where the message gives none, we write what
 * RFC 3501's own example shows.
 */
START_TEST(test_dovecot)
{
    static const char dovecot[] =
        "(\"text\" \"x-myown\" (\"charset\" \"us-ascii\" \"foo\" \"quoted\\\"string\") "
        "\"<foo@example.com>\" \"hellodescription\" \"7bit\" 7 1 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" "
        "(\"inline\" (\"foo\" \"bar\")) (\"en\" \"fi\" \"se\") "
        "\"http://example.com/test.txt\")(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 412 "
        "(\"Sun, 12 Aug 2012 12:34:56 +0300\" \"submsg\" ((NIL NIL \"sub\" \"domain.org\")) "
        "((NIL NIL \"sub\" \"domain.org\")) ((NIL NIL \"sub\" \"domain.org\")) ((NIL NIL "
        "\"sub-to1\" \"domain.org\")(NIL NIL \"sub-to2\" \"domain.org\")) NIL NIL NIL NIL) "
        "((\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"8bit\" 20 1 NIL NIL NIL "
        "NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 21 1 NIL NIL NIL "
        "NIL) \"alternative\" (\"boundary\" \"sub1\") NIL NIL NIL) 21 NIL NIL NIL NIL) "
        "\"mixed\" (\"boundary\" \"foo bar\") NIL NIL NIL";
    struct msg msg = msg_from_text(DOVECOT_MSG, true);
    struct store_mime *m = analyze(msg.data, msg.len);
    struct ofc_strbuf want = OFC_STRBUF_INIT;

    /* Dovecot's string with our defaults, and our outer parentheses. */
    ofc_strbuf_putc(&want, '(');
    for (const char *p = dovecot; *p != '\0'; p++) {
        if (strncmp(p, "\"7bit\"", 6) == 0) {
            ofc_strbuf_puts(&want, "\"7BIT\"");
            p += 5;
        } else if (strncmp(p, "(\"charset\" \"us-ascii\") NIL NIL", 30) == 0) {
            ofc_strbuf_puts(&want, "(\"CHARSET\" \"US-ASCII\") NIL NIL");
            p += 29;
        } else {
            ofc_strbuf_putc(&want, *p);
        }
    }
    ofc_strbuf_putc(&want, ')');
    ck_assert_str_eq(m->bodystructure, want.data);
    ck_assert_str_eq(m->envelope, "(\"Sat, 24 Mar 2017 23:00:00 +0200\" NIL ((NIL NIL \"user\" "
                                  "\"domain.org\")) ((NIL NIL \"user\" \"domain.org\")) ((NIL NIL "
                                  "\"user\" \"domain.org\")) NIL NIL NIL NIL NIL)");
    ofc_strbuf_free(&want);
    store_mime_free(&m);
    free(msg.data);
}
END_TEST

/* The example of RFC 3501 §6.4.5, part for part. */
START_TEST(test_rfc3501_numbering)
{
    static const char raw[] = "Subject: 6.4.5\n"
                              "Content-Type: MULTIPART/MIXED; boundary=top\n"
                              "\n"
                              "--top\n"
                              "\n"
                              "part 1\n"
                              "--top\n"
                              "Content-Type: APPLICATION/OCTET-STREAM\n"
                              "\n"
                              "part 2\n"
                              "--top\n"
                              "Content-Type: MESSAGE/RFC822\n"
                              "\n"
                              "Subject: part 3\n"
                              "Content-Type: MULTIPART/MIXED; boundary=three\n"
                              "\n"
                              "--three\n"
                              "\n"
                              "part 3.1\n"
                              "--three\n"
                              "Content-Type: APPLICATION/OCTET-STREAM\n"
                              "\n"
                              "part 3.2\n"
                              "--three--\n"
                              "--top\n"
                              "Content-Type: MULTIPART/MIXED; boundary=four\n"
                              "\n"
                              "--four\n"
                              "Content-Type: IMAGE/GIF\n"
                              "\n"
                              "part 4.1\n"
                              "--four\n"
                              "Content-Type: MESSAGE/RFC822\n"
                              "\n"
                              "Subject: part 4.2\n"
                              "Content-Type: MULTIPART/MIXED; boundary=fourtwo\n"
                              "\n"
                              "--fourtwo\n"
                              "\n"
                              "part 4.2.1\n"
                              "--fourtwo\n"
                              "Content-Type: MULTIPART/ALTERNATIVE; boundary=alt\n"
                              "\n"
                              "--alt\n"
                              "\n"
                              "part 4.2.2.1\n"
                              "--alt\n"
                              "Content-Type: TEXT/RICHTEXT\n"
                              "\n"
                              "part 4.2.2.2\n"
                              "--alt--\n"
                              "--fourtwo--\n"
                              "--four--\n"
                              "--top--\n";
    static const char *const keys[] = {"",    "1",   "2",     "3",     "3.1",     "3.2",    "4",
                                       "4.1", "4.2", "4.2.1", "4.2.2", "4.2.2.1", "4.2.2.2"};
    struct store_mime *m = analyze(raw, sizeof(raw) - 1);
    struct section *secs;
    size_t n = sections_parse(m->sections, &secs);

    ck_assert_uint_eq(n, sizeof(keys) / sizeof(keys[0]));
    for (size_t i = 0; i < n; i++) {
        ck_assert_str_eq(secs[i].key, keys[i]);
        ck_assert_int_eq(secs[i].n,
                         strcmp(keys[i], "3") == 0 || strcmp(keys[i], "4.2") == 0 ? 5 : 4);
        /* Each leaf's body is its name. */
        if (strlen(keys[i]) > 0 && strcmp(keys[i], "3") != 0 && strcmp(keys[i], "4") != 0 &&
            strcmp(keys[i], "4.2") != 0 && strcmp(keys[i], "4.2.2") != 0) {
            char *want = ofc_xasprintf("part %s", keys[i]);
            ck_assert_uint_eq(secs[i].v[2] - secs[i].v[1], strlen(want));
            ck_assert(memcmp(raw + secs[i].v[1], want, strlen(want)) == 0);
            free(want);
        }
    }
    /* 4.2.HEADER and 3.TEXT. */
    const struct section *s = section_find(secs, n, "4.2");
    ck_assert(strncmp(raw + s->v[1], "Subject: part 4.2\n", 18) == 0);
    ck_assert(strncmp(raw + s->v[4] - 9, "fourtwo\n\n--fourtwo\n", 19) == 0);
    s = section_find(secs, n, "3");
    ck_assert(strncmp(raw + s->v[4], "--three\n", 8) == 0);
    ck_assert(strncmp(raw + s->v[2], "\n--top\n", 7) == 0);
    free(secs);
    store_mime_free(&m);
}
END_TEST

/* ---------------------------------------------------------------------
 * Decoded fields for SEARCH/SORT and table message_header.
 */

struct decoded_case {
    const char *raw;
    const char *subject, *from, *to, *cc, *bcc, *message_id, *in_reply_to;
    bool date_valid;
    long long date;
};

static const struct decoded_case decoded[] = {
    /* UTF-8 B, the RFC 5322 date. */
    {"Subject: =?UTF-8?B?w4dhIHZhID8gVHLDqHMgYmllbiDigJQgbWVyY2k=?=\n"
     "Date: Fri, 21 Nov 1997 09:55:06 -0600\n\n",
     "\xc3\x87"
     "a va ? Tr\xc3\xa8s bien \xe2\x80\x94 merci",
     NULL, NULL, NULL, NULL, NULL, NULL, true, 880127706},
    /* UTF-8 Q with underscores; obsolete date: 2-digit year, EST. */
    {"Subject: =?utf-8?q?na=C3=AFve_caf=C3=A9?=\nDate: 5 Jun 99 10:00 EST\n\n",
     "na\xc3\xafve caf\xc3\xa9", NULL, NULL, NULL, NULL, NULL, NULL, true, 928594800},
    /* ISO-8859-1, and adjacent encoded words join (RFC 2047 §6.2);
     * comments and blanks inside the date (RFC 5322 §4.3). */
    {"Subject: =?ISO-8859-1?Q?Andr=E9?= Pirard, =?ISO-8859-1?Q?a?=\n"
     "  =?ISO-8859-2?Q?_b?=\n"
     "Date: Fri, 21 Nov 1997 09(comment):   55  :  06 -0600\n\n",
     "Andr\xc3\xa9 Pirard, a b", NULL, NULL, NULL, NULL, NULL, NULL, true, 880127706},
    /* Raw 8-bit: UTF-8 stays, Latin-1 becomes UTF-8. Invalid date. */
    {"Subject: caf\xc3\xa9 and caf\xe9\nDate: Mon, 32 Foo 2020 99:99:99 +0000\n\n",
     "caf\xc3\xa9 and caf\xc3\xa9", NULL, NULL, NULL, NULL, NULL, NULL, false, 0},
    /* An encoded word that decodes to invalid UTF-8 still gives valid text. */
    {"Subject: x =?utf-8?b?//7D?= y\n\n", NULL, NULL, NULL, NULL, NULL, NULL, NULL, false, 0},
    /* Addresses as display text, decoded. */
    {"From: =?utf-8?q?J=C3=B6rg?= <j@example.de>\n"
     "To: \"Smith, Ann\" <ann@example.org>, bob@example.net\n"
     "Cc: undisclosed-recipients:;\n"
     "Bcc: Team: c@example.com;\n"
     "Message-ID:  <abc@example.com> \n"
     "In-Reply-To: <p@q.example>\n"
     " <r@s.example>\n\n",
     NULL, "J\xc3\xb6rg <j@example.de>", "\"Smith, Ann\" <ann@example.org>, bob@example.net",
     "undisclosed-recipients: ;", "Team: c@example.com;", "<abc@example.com>",
     "<p@q.example> <r@s.example>", false, 0},
    /* A NUL octet in a header is dropped. */
    {"Subject: nul\0byte\n\n", "nulbyte", NULL, NULL, NULL, NULL, NULL, NULL, false, 0},
};

/* The raw sizes of the decoded cases (one holds a NUL). */
static size_t decoded_len(int i)
{
    return i == 6 ? sizeof("Subject: nul\0byte\n\n") - 1 : strlen(decoded[i].raw);
}

START_TEST(test_decoded)
{
    const struct decoded_case *c = &decoded[_i];
    size_t len = decoded_len(_i);
    struct store_mime *m = analyze(c->raw, len);

    if (c->subject != NULL || _i != 4)
        ck_assert_pstr_eq(m->subject, c->subject);
    else
        ck_assert_ptr_nonnull(m->subject); /* valid UTF-8 is all we ask */
    ck_assert_pstr_eq(m->from, c->from);
    ck_assert_pstr_eq(m->to, c->to);
    ck_assert_pstr_eq(m->cc, c->cc);
    ck_assert_pstr_eq(m->bcc, c->bcc);
    ck_assert_pstr_eq(m->message_id, c->message_id);
    ck_assert_pstr_eq(m->in_reply_to, c->in_reply_to);
    ck_assert_int_eq(m->date_valid, c->date_valid);
    if (c->date_valid)
        ck_assert_int_eq((long long)m->date, c->date);
    store_mime_free(&m);
}
END_TEST

START_TEST(test_header_list)
{
    static const char raw[] = " continuation of nothing\n"
                              "From: a@example.com\n"
                              "X-Folded: one\n"
                              "\ttwo\r\n"
                              "   three\n"
                              "not a header line\n"
                              "Subject : =?utf-8?q?d=C3=A9cod=C3=A9?=\n"
                              "Bad Name: skipped\n"
                              "X-Empty:\n"
                              "x-lower: Latin \xe9\n"
                              "\n"
                              "Not-A-Header: body\n";
    static const char *const want[][2] = {
        {"from", "a@example.com"},
        {"x-folded", "one\ttwo   three"},
        {"subject", "d\xc3\xa9"
                    "cod\xc3\xa9"},
        {"x-empty", ""},
        {"x-lower", "Latin \xc3\xa9"},
    };
    struct store_mime *m = analyze(raw, sizeof(raw) - 1);

    ck_assert_uint_eq(m->header_count, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < m->header_count; i++) {
        ck_assert_str_eq(m->headers[i].name, want[i][0]);
        ck_assert_str_eq(m->headers[i].value, want[i][1]);
    }
    ck_assert_uint_eq(m->header_size, sizeof(raw) - 1 - strlen("Not-A-Header: body\n"));
    store_mime_free(&m);
}
END_TEST

/* A 10,000-character subject folded every 70 characters. */
START_TEST(test_long_folded_header)
{
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    struct ofc_strbuf want = OFC_STRBUF_INIT;

    ofc_strbuf_puts(&sb, "Subject: start");
    ofc_strbuf_puts(&want, "start");
    for (int i = 0; i < 150; i++) {
        ofc_strbuf_puts(&sb, "\r\n word-word-word-word-word-word-word-word-word-word-word-word-wo");
        ofc_strbuf_puts(&want, " word-word-word-word-word-word-word-word-word-word-word-word-wo");
    }
    ofc_strbuf_puts(&sb, "\r\n\r\nbody\r\n");
    struct store_mime *m = analyze(sb.data, sb.len);

    ck_assert_str_eq(m->subject, want.data);
    ck_assert_uint_eq(m->header_count, 1);
    ck_assert_str_eq(m->headers[0].value, want.data);
    char *env = ofc_xasprintf("(NIL \"%s\" NIL NIL NIL NIL NIL NIL NIL NIL)", want.data);
    ck_assert_str_eq(m->envelope, env);
    ck_assert_uint_eq(m->header_size, sb.len - 6);
    free(env);
    store_mime_free(&m);
    ofc_strbuf_free(&sb);
    ofc_strbuf_free(&want);
}
END_TEST

/* ---------------------------------------------------------------------
 * Limits and robustness.
 */

START_TEST(test_deep_nesting)
{
    struct ofc_strbuf sb = OFC_STRBUF_INIT;

    for (int i = 0; i < 100; i++)
        ofc_strbuf_printf(&sb, "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i, i);
    ofc_strbuf_puts(&sb, "\nleaf\n");
    for (int i = 99; i >= 0; i--)
        ofc_strbuf_printf(&sb, "--b%d--\n", i);
    struct store_mime *m = analyze(sb.data, sb.len);

    /* 32 containers (depth 0..31), then a leaf that stands for the rest. */
    ck_assert_ptr_nonnull(strstr(m->bodystructure, "(\"APPLICATION\" \"OCTET-STREAM\" "
                                                   "(\"boundary\" \"b32\") NIL NIL \"7BIT\""));
    struct section *secs;
    size_t n = sections_parse(m->sections, &secs);
    ck_assert_uint_eq(n, 33); /* "", "1", "1.1", ... 32 levels of parts */
    free(secs);
    store_mime_free(&m);

    /* The same with message/rfc822. */
    ofc_strbuf_reset(&sb);
    for (int i = 0; i < 100; i++)
        ofc_strbuf_printf(&sb, "Subject: level %d\nContent-Type: message/rfc822\n\n", i);
    ofc_strbuf_puts(&sb, "Subject: last\n\nbody\n");
    m = analyze(sb.data, sb.len);
    ck_assert_ptr_nonnull(strstr(m->bodystructure, "\"APPLICATION\" \"OCTET-STREAM\""));
    store_mime_free(&m);
    ofc_strbuf_free(&sb);
}
END_TEST

START_TEST(test_many_parts)
{
    struct ofc_strbuf sb = OFC_STRBUF_INIT;

    ofc_strbuf_puts(&sb, "Content-Type: multipart/mixed; boundary=x\n\n");
    for (int i = 0; i < STORE_MIME_MAX_PARTS + 100; i++)
        ofc_strbuf_printf(&sb, "--x\n\np%d\n", i);
    ofc_strbuf_puts(&sb, "--x--\n");
    struct store_mime *m = analyze(sb.data, sb.len);
    struct section *secs;
    size_t n = sections_parse(m->sections, &secs);

    /* "" and parts 1..MAX (the message counts as one); the last holds the rest. */
    ck_assert_uint_eq(n, STORE_MIME_MAX_PARTS + 1);
    ck_assert_str_eq(secs[n - 1].key, "10000");
    ck_assert_uint_eq(secs[n - 1].v[2], sb.len);
    free(secs);
    store_mime_free(&m);
    ofc_strbuf_free(&sb);
}
END_TEST

START_TEST(test_null_input)
{
    struct store_mime *m = NULL;
    char *error = NULL;

    ck_assert_int_eq(store_mime_analyze(NULL, 10, &m, &error), -1);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(error);
    free(error);
    m = analyze(NULL, 0);
    ck_assert_uint_eq(m->size, 0);
    store_mime_free(&m);
    store_mime_free(&m); /* a freed result may be freed again */
}
END_TEST

/* Every prefix of a nested message: each one an unterminated structure. */
START_TEST(test_truncations)
{
    struct msg msg = msg_from_file("forward.eml", _i == 1);

    for (size_t len = 0; len <= msg.len; len++) {
        /* A copy of exactly len octets, so ASan sees any read past it. */
        char *copy = ofc_xmalloc(len + 1);
        memcpy(copy, msg.data, len);
        struct store_mime *m = analyze(copy, len);
        store_mime_free(&m);
        free(copy);
    }
    free(msg.data);
}
END_TEST

/* Deterministic random mutations of the golden messages. */
START_TEST(test_mutations)
{
    static const char *const inserts[] = {
        "\n",
        "\r\n",
        "--",
        "--b\n",
        "--=_alt\n",
        "--outer--\n",
        "--inner\n\n",
        "(",
        ")",
        "\"",
        "\\",
        ":",
        ";",
        "<",
        ">",
        "@",
        ",",
        "=?",
        "?=",
        "*0*=",
        "'",
        "%",
        "\0",
        "\xff",
        "\xc3",
        "\t",
        " ",
        "Content-Type: multipart/mixed; boundary=b\n\n",
        "Content-Type: message/rfc822\n\n",
    };
    uint64_t state = 0x9E3779B97F4A7C15ULL;

    for (int round = 0; round < 3000; round++) {
        const struct golden *g = &goldens[round % NGOLDENS];
        struct msg msg = golden_msg(g);
        struct ofc_strbuf sb = OFC_STRBUF_INIT;
        ofc_strbuf_append(&sb, msg.data, msg.len);
        int edits = 1 + round % 8;
        for (int e = 0; e < edits; e++) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            size_t at = sb.len > 0 ? (size_t)(state % (sb.len + 1)) : 0;
            size_t what = (size_t)((state >> 32) % (sizeof(inserts) / sizeof(inserts[0]) + 2));
            if (what == 0 && at < sb.len) {
                memmove(sb.data + at, sb.data + at + 1, sb.len - at - 1); /* delete */
                sb.len--;
            } else if (what == 1) {
                sb.len = at; /* truncate */
            } else if (what >= 2) {
                const char *ins = inserts[what - 2];
                size_t n = *ins != '\0' ? strlen(ins) : 1;
                ofc_strbuf_reserve(&sb, n);
                memmove(sb.data + at + n, sb.data + at, sb.len - at);
                memcpy(sb.data + at, ins, n);
                sb.len += n;
            }
        }
        char *copy = ofc_xmalloc(sb.len + 1);
        memcpy(copy, sb.data, sb.len);
        struct store_mime *m = analyze(copy, sb.len);
        store_mime_free(&m);
        free(copy);
        ofc_strbuf_free(&sb);
        free(msg.data);
    }
}
END_TEST

static Suite *mime_suite(void)
{
    Suite *s = suite_create("mime");
    TCase *tc = tcase_create("golden");

    tcase_add_loop_test(tc, test_golden, 0, NGOLDENS);
    tcase_add_test(tc, test_dovecot);
    tcase_add_test(tc, test_rfc3501_numbering);
    suite_add_tcase(s, tc);

    tc = tcase_create("decoded");
    tcase_add_loop_test(tc, test_decoded, 0, (int)(sizeof(decoded) / sizeof(decoded[0])));
    tcase_add_test(tc, test_header_list);
    tcase_add_test(tc, test_long_folded_header);
    suite_add_tcase(s, tc);

    tc = tcase_create("robust");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_deep_nesting);
    tcase_add_test(tc, test_many_parts);
    tcase_add_test(tc, test_null_input);
    tcase_add_loop_test(tc, test_truncations, 0, 2);
    tcase_add_test(tc, test_mutations);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(mime_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
