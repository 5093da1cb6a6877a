/*
 * mutf7.c - mailbox names in modified UTF-7 (RFC 3501 §5.1.3): printable
 * US-ASCII stands for itself except "&", which is "&-"; anything else is
 * UTF-16 in a base64 variant (',' instead of '/', no padding) between
 * "&" and "-". The store keeps names in UTF-8.
 *
 * Decoding is strict, so that a name has one spelling: printable ASCII
 * must not be encoded, the base64 bits left over must be zero, surrogates
 * must pair, and a run must not be empty ("&-" is the ampersand).
 */
/* System. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* libofc. */
#include "ofc_mem.h"

/* This program. */
#include "imap4.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64_value(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+')
        return 62;
    if (ch == ',')
        return 63;
    return -1;
}

static void put_utf8(struct ofc_strbuf *sb, uint32_t cp)
{
    char buf[4];
    size_t n;
    if (cp < 0x80) {
        buf[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        buf[0] = (char)(0xc0 | (cp >> 6));
        buf[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        buf[0] = (char)(0xe0 | (cp >> 12));
        buf[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        buf[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        buf[0] = (char)(0xf0 | (cp >> 18));
        buf[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        buf[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        buf[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    ofc_strbuf_append(sb, buf, n);
}

/* One shifted run "&...-" starting after the '&'; advances *pp past the '-'. */
static int decode_run(const char **pp, struct ofc_strbuf *sb)
{
    const char *p = *pp;
    uint32_t bits = 0;
    int nbits = 0;
    uint32_t high = 0; /* a high surrogate waiting for its low half */
    size_t units = 0;
    for (; *p != '-'; p++) {
        int v = b64_value((unsigned char)*p);
        if (v < 0)
            return -1; /* also the end of the string: the run is not closed */
        bits = (bits << 6) | (uint32_t)v;
        nbits += 6;
        if (nbits < 16)
            continue;
        nbits -= 16;
        uint32_t u = (bits >> nbits) & 0xffff;
        bits &= (1u << nbits) - 1;
        units++;
        if (high != 0) {
            if (u < 0xdc00 || u > 0xdfff)
                return -1;
            put_utf8(sb, 0x10000 + ((high - 0xd800) << 10) + (u - 0xdc00));
            high = 0;
        } else if (u >= 0xd800 && u <= 0xdbff) {
            high = u;
        } else if (u >= 0xdc00 && u <= 0xdfff) {
            return -1;
        } else if (u >= 0x20 && u <= 0x7e) {
            return -1; /* printable ASCII must stand for itself */
        } else if (u == 0) {
            return -1;
        } else {
            put_utf8(sb, u);
        }
    }
    /* Leftover bits: fewer than 6 and all zero (RFC 2152 padding rules). */
    if (units == 0 || high != 0 || nbits >= 6 || bits != 0)
        return -1;
    *pp = p + 1;
    return 0;
}

char *imap_mutf7_decode(const char *in)
{
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    ofc_strbuf_reserve(&sb, strlen(in) + 1);
    const char *p = in;
    while (*p != '\0') {
        unsigned char ch = (unsigned char)*p;
        if (ch < 0x20 || ch > 0x7e)
            goto invalid;
        if (ch != '&') {
            ofc_strbuf_putc(&sb, (char)ch);
            p++;
            continue;
        }
        p++;
        if (*p == '-') {
            ofc_strbuf_putc(&sb, '&');
            p++;
            continue;
        }
        if (decode_run(&p, &sb) != 0)
            goto invalid;
    }
    return ofc_strbuf_detach(&sb);

invalid:
    ofc_strbuf_free(&sb);
    return NULL;
}

/* The next code point of UTF-8 text; invalid sequences give U+FFFD and skip one octet. */
static uint32_t next_utf8(const unsigned char **pp)
{
    const unsigned char *p = *pp;
    uint32_t cp;
    size_t n;
    if (p[0] < 0x80) {
        *pp = p + 1;
        return p[0];
    } else if ((p[0] & 0xe0) == 0xc0) {
        cp = p[0] & 0x1fu;
        n = 2;
    } else if ((p[0] & 0xf0) == 0xe0) {
        cp = p[0] & 0x0fu;
        n = 3;
    } else if ((p[0] & 0xf8) == 0xf0) {
        cp = p[0] & 0x07u;
        n = 4;
    } else {
        *pp = p + 1;
        return 0xfffd;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            *pp = p + 1;
            return 0xfffd;
        }
        cp = (cp << 6) | (p[i] & 0x3fu);
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        *pp = p + 1;
        return 0xfffd;
    }
    *pp = p + n;
    return cp;
}

struct b64_state {
    uint32_t bits;
    int nbits;
};

static void put_unit(struct ofc_strbuf *sb, struct b64_state *st, uint32_t u)
{
    st->bits = (st->bits << 16) | u;
    st->nbits += 16;
    while (st->nbits >= 6) {
        st->nbits -= 6;
        ofc_strbuf_putc(sb, b64[(st->bits >> st->nbits) & 0x3f]);
    }
    st->bits &= (1u << st->nbits) - 1;
}

char *imap_mutf7_encode(const char *in)
{
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    ofc_strbuf_reserve(&sb, strlen(in) + 1);
    const unsigned char *p = (const unsigned char *)in;
    while (*p != '\0') {
        if (*p >= 0x20 && *p <= 0x7e) {
            if (*p == '&')
                ofc_strbuf_puts(&sb, "&-");
            else
                ofc_strbuf_putc(&sb, (char)*p);
            p++;
            continue;
        }
        /* A run of everything that is not printable ASCII. */
        struct b64_state st = {0, 0};
        ofc_strbuf_putc(&sb, '&');
        while (*p != '\0' && !(*p >= 0x20 && *p <= 0x7e)) {
            uint32_t cp = next_utf8(&p);
            if (cp >= 0x10000) {
                cp -= 0x10000;
                put_unit(&sb, &st, 0xd800 + (cp >> 10));
                put_unit(&sb, &st, 0xdc00 + (cp & 0x3ff));
            } else {
                put_unit(&sb, &st, cp);
            }
        }
        if (st.nbits > 0)
            ofc_strbuf_putc(&sb, b64[(st.bits << (6 - st.nbits)) & 0x3f]);
        ofc_strbuf_putc(&sb, '-');
    }
    return ofc_strbuf_detach(&sb);
}
