/*
 * fetch_binary.c - BINARY[part] (RFC 3516): a part's body with its
 * Content-Transfer-Encoding undone.
 *
 * The encoding comes from the part's MIME header octets (read like any
 * other section); base64 and quoted-printable are decoded, 7bit, 8bit
 * and binary are served as they are, anything else is UNKNOWN-CTE.
 * Decoding is lenient, as mail readers are: characters outside the
 * base64 alphabet are skipped, a quoted-printable '=' that starts no
 * valid escape stays as it is.
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

int imap_fetch_cte(const char *hdr, size_t len)
{
    char *names[] = {"Content-Transfer-Encoding"};
    struct ofc_strbuf f = OFC_STRBUF_INIT;
    imap_fetch_header_filter(hdr, len, names, 1, false, &f);
    const char *colon = strchr(f.data, ':');
    int cte = IMAP_CTE_IDENTITY;
    if (colon != NULL) {
        /* The first token of the value: comments and white space around it go. */
        const char *p = colon + 1;
        char token[32];
        size_t n = 0;
        int depth = 0;
        bool done = false;
        for (; *p != '\0' && !done; p++) {
            unsigned char c = (unsigned char)*p;
            if (c == '(')
                depth++;
            else if (c == ')' && depth > 0)
                depth--;
            else if (depth > 0)
                continue;
            else if (isspace(c) || c == ';')
                done = n > 0;
            else if (n + 1 < sizeof(token))
                token[n++] = (char)tolower(c);
            else
                done = true, n = sizeof(token); /* too long for any we know */
        }
        if (n >= sizeof(token))
            cte = IMAP_CTE_UNKNOWN;
        else {
            token[n] = '\0';
            if (n == 0 || strcmp(token, "7bit") == 0 || strcmp(token, "8bit") == 0 ||
                strcmp(token, "binary") == 0)
                cte = IMAP_CTE_IDENTITY;
            else if (strcmp(token, "base64") == 0)
                cte = IMAP_CTE_BASE64;
            else if (strcmp(token, "quoted-printable") == 0)
                cte = IMAP_CTE_QP;
            else
                cte = IMAP_CTE_UNKNOWN;
        }
    }
    ofc_strbuf_free(&f);
    return cte;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (unsigned char)toupper(c);
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void decode_base64(const char *data, size_t len, struct ofc_strbuf *out)
{
    unsigned long acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)data[i];
        if (c == '=')
            break; /* padding: the end of the data */
        int v = b64_value(c);
        if (v < 0)
            continue;
        acc = (acc << 6) | (unsigned long)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            ofc_strbuf_putc(out, (char)((acc >> bits) & 0xff));
        }
    }
}

static void decode_qp(const char *data, size_t len, struct ofc_strbuf *out)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)data[i];
        if (c != '=') {
            ofc_strbuf_putc(out, (char)c);
            i++;
            continue;
        }
        /* "=" then optional white space then a line end: a soft line break. */
        size_t j = i + 1;
        while (j < len && (data[j] == ' ' || data[j] == '\t'))
            j++;
        if (j < len && data[j] == '\n') {
            i = j + 1;
            continue;
        }
        if (j + 1 < len && data[j] == '\r' && data[j + 1] == '\n') {
            i = j + 2;
            continue;
        }
        if (j == len) {
            i = len; /* "=" at the very end: soft break without its line end */
            continue;
        }
        int hi = i + 1 < len ? hex_value((unsigned char)data[i + 1]) : -1;
        int lo = i + 2 < len ? hex_value((unsigned char)data[i + 2]) : -1;
        if (hi >= 0 && lo >= 0) {
            ofc_strbuf_putc(out, (char)(hi * 16 + lo));
            i += 3;
        } else {
            ofc_strbuf_putc(out, '=');
            i++;
        }
    }
}

void imap_fetch_decode(int cte, const char *data, size_t len, struct ofc_strbuf *out)
{
    if (len == 0)
        return;
    switch (cte) {
    case IMAP_CTE_BASE64:
        decode_base64(data, len, out);
        break;
    case IMAP_CTE_QP:
        decode_qp(data, len, out);
        break;
    default:
        ofc_strbuf_append(out, data, len);
        break;
    }
}
