/*
 * seqset.c - IMAP sequence sets (RFC 3501 §9 sequence-set): parsing,
 * membership and compact formatting.
 *
 * '*' is kept as UINT32_MAX and stands for "the largest number in use"
 * only when the set is applied (imap_seqset_contains, imap_view_resolve):
 * the same parsed set means different messages as the mailbox changes.
 */
/* System. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* libofc. */
#include "ofc_mem.h"

/* This program. */
#include "imap4.h"

/* A set larger than this many ranges is refused (a 64 KiB line holds fewer). */
#define MAX_RANGES 65536

/* nz-number or '*' at *p; advances *p. Returns 0 or -1. */
static int parse_number(const char **p, uint32_t *v_r)
{
    const char *s = *p;
    if (*s == '*') {
        *v_r = UINT32_MAX;
        *p = s + 1;
        return 0;
    }
    /* nz-number: no leading zero, at most 4294967295. */
    if (*s < '1' || *s > '9')
        return -1;
    uint64_t v = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > UINT32_MAX)
            return -1;
        s++;
    }
    *v_r = (uint32_t)v;
    *p = s;
    return 0;
}

int imap_seqset_parse(const char *s, struct imap_seqset *set)
{
    set->r = NULL;
    set->n = 0;
    if (s == NULL || *s == '\0')
        return -1;
    size_t cap = 0;
    const char *p = s;
    for (;;) {
        uint32_t lo, hi;
        if (parse_number(&p, &lo) != 0)
            goto bad;
        hi = lo;
        if (*p == ':') {
            p++;
            if (parse_number(&p, &hi) != 0)
                goto bad;
        }
        if (lo > hi) {
            uint32_t t = lo;
            lo = hi;
            hi = t;
        }
        if (set->n == cap) {
            if (cap >= MAX_RANGES)
                goto bad;
            cap = cap ? cap * 2 : 4;
            set->r = ofc_xrealloc(set->r, cap * sizeof(*set->r));
        }
        set->r[set->n].lo = lo;
        set->r[set->n].hi = hi;
        set->n++;
        if (*p == '\0')
            return 0;
        if (*p != ',')
            goto bad;
        p++;
    }
bad:
    imap_seqset_free(set);
    return -1;
}

void imap_seqset_free(struct imap_seqset *set)
{
    free(set->r);
    set->r = NULL;
    set->n = 0;
}

bool imap_seqset_contains(const struct imap_seqset *set, uint32_t v, uint32_t largest)
{
    for (size_t i = 0; i < set->n; i++) {
        /* '*' in an empty mailbox names nothing, not everything up to the other end. */
        if (largest == 0 && set->r[i].hi == UINT32_MAX)
            continue;
        uint32_t lo = set->r[i].lo == UINT32_MAX ? largest : set->r[i].lo;
        uint32_t hi = set->r[i].hi == UINT32_MAX ? largest : set->r[i].hi;
        if (lo > hi) {
            uint32_t t = lo;
            lo = hi;
            hi = t;
        }
        if (v >= lo && v <= hi)
            return true;
    }
    return false;
}

char *imap_seqset_format(const uint32_t *values, size_t n)
{
    struct ofc_strbuf sb;
    ofc_strbuf_init(&sb);
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j + 1 < n && values[j + 1] == values[j] + 1)
            j++;
        if (i > 0)
            ofc_strbuf_putc(&sb, ',');
        if (j > i)
            ofc_strbuf_printf(&sb, "%u:%u", values[i], values[j]);
        else
            ofc_strbuf_printf(&sb, "%u", values[i]);
        i = j + 1;
    }
    return ofc_strbuf_detach(&sb);
}
