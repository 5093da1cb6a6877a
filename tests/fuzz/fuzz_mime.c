/*
 * fuzz_mime.c - libFuzzer target for store_mime_analyze().
 *
 * Whatever the input, the analysis must succeed, stay inside the input
 * (AddressSanitizer), give offsets that lie inside the message, and store
 * only valid UTF-8 and well-formed IMAP lists. Run (clang builds only):
 *
 *   mkdir -p /tmp/corpus && build/tests/fuzz_mime -dict=tests/fuzz/mime.dict \
 *       -max_len=65536 /tmp/corpus tests/unit/mime
 */
/* System. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* libofc. */
#include "ofc_mem.h"
#include "store_mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Strict UTF-8 without NUL, as PostgreSQL's text wants it. */
static bool utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p != '\0') {
        unsigned char c = *p;
        size_t k = c < 0x80                 ? 1
                   : c >= 0xC2 && c <= 0xDF ? 2
                   : c >= 0xE0 && c <= 0xEF ? 3
                   : c >= 0xF0 && c <= 0xF4 ? 4
                                            : 0;
        if (k == 0)
            return false;
        for (size_t i = 1; i < k; i++)
            if ((p[i] & 0xC0) != 0x80)
                return false;
        if (k > 1 && ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] > 0x9F) ||
                      (c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] > 0x8F)))
            return false;
        p += k;
    }
    return true;
}

/* One balanced IMAP list of NIL, numbers, quoted strings and literals. */
static bool imap_ok(const char *p)
{
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
            if (end == p + 1 || strncmp(end, "}\r\n", 3) != 0 || strlen(end + 3) < n)
                return false;
            p = end + 3 + n;
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct store_mime *m = NULL;
    char *error = NULL;

    /* A copy of exactly size octets, so that any read past it is caught. */
    char *copy = ofc_xmalloc(size > 0 ? size : 1);
    if (size > 0)
        memcpy(copy, data, size);
    if (store_mime_analyze(copy, size, &m, &error) != 0)
        abort();
    if (m->header_size > size || m->size != size)
        abort();
    const char *strs[] = {m->subject,       m->from,       m->to,          m->cc,
                          m->bcc,           m->message_id, m->in_reply_to, m->envelope,
                          m->bodystructure, m->body,       m->sections};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        if (strs[i] != NULL && !utf8_ok(strs[i]))
            abort();
    for (size_t i = 0; i < m->header_count; i++)
        if (!utf8_ok(m->headers[i].name) || !utf8_ok(m->headers[i].value))
            abort();
    if (!imap_ok(m->envelope) || !imap_ok(m->bodystructure) || !imap_ok(m->body))
        abort();
    /* Every offset in sections is at most size. */
    for (const char *p = m->sections + 1; *p != '\0'; p++) {
        if (*p >= '0' && *p <= '9' && (p[-1] == '[' || p[-1] == ',')) {
            unsigned long long v = strtoull(p, NULL, 10);
            if (v > size)
                abort();
        }
    }
    store_mime_free(&m);
    free(copy);
    return 0;
}
