/*
 * fetch_body.c - which octets of a stored message a BODY[section] names,
 * and the header field filter of HEADER.FIELDS(.NOT).
 *
 * The offsets come from the sections column that ingestion computed
 * (store_mime.h): FETCH reads only the byte range it needs with
 * substring(raw ...) and never parses MIME again. HEADER.FIELDS works on
 * the raw header octets, so the client gets each field exactly as stored.
 */
/* System. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* libofc. */
#include "ofc_mem.h"

/* This program. */
#include "imap4.h"

/*
 * Finds the array of `part` in the text of the sections jsonb
 * ({"": [0, 120, 900, 20], "1.2": [...]}). Returns the number of values
 * read into v (at most 5), 0 when the part is not there.
 */
static int sections_lookup(const char *json, const char *part, long long v[5])
{
    size_t plen = strlen(part);
    const char *p = json;
    while (p != NULL && *p != '\0') {
        const char *q = strchr(p, '"');
        if (q == NULL)
            return 0;
        const char *k = q + 1;
        const char *kend = strchr(k, '"');
        if (kend == NULL)
            return 0;
        const char *arr = strchr(kend, '[');
        if (arr == NULL)
            return 0;
        const char *arr_end = strchr(arr, ']');
        if (arr_end == NULL)
            return 0;
        if ((size_t)(kend - k) == plen && memcmp(k, part, plen) == 0) {
            int n = 0;
            const char *c = arr + 1;
            while (c < arr_end && n < 5) {
                while (c < arr_end && (*c == ' ' || *c == ','))
                    c++;
                if (c >= arr_end)
                    break;
                char *end = NULL;
                long long x = strtoll(c, &end, 10);
                if (end == c || end > arr_end)
                    return 0;
                v[n++] = x;
                c = end;
            }
            return n;
        }
        p = arr_end + 1;
    }
    return 0;
}

int imap_fetch_range(const struct imap_fetch_item *it, const char *sections, long long size,
                     long long header_size, long long *from_r, long long *len_r)
{
    long long from = 0, to = 0;
    if (it->part[0] == '\0') {
        if (header_size > size)
            header_size = size;
        switch (it->text) {
        case IMAP_FT_ALL:
            from = 0, to = size;
            break;
        case IMAP_FT_HEADER:
        case IMAP_FT_FIELDS:
        case IMAP_FT_FIELDS_NOT:
            from = 0, to = header_size;
            break;
        case IMAP_FT_TEXT:
            from = header_size, to = size;
            break;
        case IMAP_FT_MIME:
            return 0;
        }
    } else {
        long long v[5];
        int n = sections != NULL ? sections_lookup(sections, it->part, v) : 0;
        if (n < 4)
            return 0;
        switch (it->text) {
        case IMAP_FT_ALL:
            from = v[1], to = v[2];
            break;
        case IMAP_FT_MIME:
            from = v[0], to = v[1];
            break;
        case IMAP_FT_HEADER:
        case IMAP_FT_FIELDS:
        case IMAP_FT_FIELDS_NOT:
            if (n < 5)
                return 0; /* not a message/rfc822 part */
            from = v[1], to = v[4];
            break;
        case IMAP_FT_TEXT:
            if (n < 5)
                return 0;
            from = v[4], to = v[2];
            break;
        }
    }
    /* A damaged cache must not make us read outside the message. */
    if (from < 0 || to < from || to > size)
        return 0;
    long long len = to - from;
    if (it->pfrom >= 0 && it->text != IMAP_FT_FIELDS && it->text != IMAP_FT_FIELDS_NOT) {
        long long skip = it->pfrom < len ? it->pfrom : len;
        from += skip;
        len -= skip;
        if (it->plen < len)
            len = it->plen;
    }
    *from_r = from;
    *len_r = len;
    return 1;
}

static bool name_listed(const char *name, size_t len, char *const *names, size_t nnames)
{
    for (size_t i = 0; i < nnames; i++)
        if (strlen(names[i]) == len && strncasecmp(names[i], name, len) == 0)
            return true;
    return false;
}

void imap_fetch_header_filter(const char *hdr, size_t len, char *const *names, size_t nnames,
                              bool exclude, struct ofc_strbuf *out)
{
    size_t pos = 0;
    while (pos < len) {
        /* One field: its first line and the continuation lines after it. */
        size_t start = pos;
        const char *nl = memchr(hdr + pos, '\n', len - pos);
        size_t line_end = nl != NULL ? (size_t)(nl - hdr) + 1 : len;
        /* The empty line ends the header. */
        if (hdr[start] == '\n' || (hdr[start] == '\r' && line_end - start == 2))
            break;
        size_t end = line_end;
        while (end < len && (hdr[end] == ' ' || hdr[end] == '\t')) {
            nl = memchr(hdr + end, '\n', len - end);
            end = nl != NULL ? (size_t)(nl - hdr) + 1 : len;
        }
        pos = end;
        if (hdr[start] == ' ' || hdr[start] == '\t')
            continue; /* continuation without a field (damaged header) */
        const char *colon = memchr(hdr + start, ':', line_end - start);
        if (colon == NULL)
            continue; /* not a field */
        size_t nlen = (size_t)(colon - (hdr + start));
        while (nlen > 0 && (hdr[start + nlen - 1] == ' ' || hdr[start + nlen - 1] == '\t'))
            nlen--;
        if (nlen == 0)
            continue;
        if (name_listed(hdr + start, nlen, names, nnames) != exclude) {
            ofc_strbuf_append(out, hdr + start, end - start);
            /* A last field without its line end still ends with one. */
            if (hdr[end - 1] != '\n')
                ofc_strbuf_append(out, "\r\n", 2);
        }
    }
    ofc_strbuf_append(out, "\r\n", 2);
}
