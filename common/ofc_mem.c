/*
 * ofc_mem.c - allocation wrappers and growable strings.
 */
/* System. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* libofc. */
#include "ofc_mem.h"

static void out_of_memory(size_t size)
{
    /*
     * Deliberately no stdio and no logger here: both may allocate. A raw
     * write(2) to stderr is the one thing that still works.
     */
    static const char msg[] = "ofcmail: out of memory\n";
    ssize_t ignored = write(STDERR_FILENO, msg, sizeof(msg) - 1);
    (void)ignored;
    (void)size;
    abort();
}

void *ofc_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (p == NULL)
        out_of_memory(size);
    return p;
}

void *ofc_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (p == NULL)
        out_of_memory(size);
    return p;
}

void *ofc_xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (p == NULL)
        out_of_memory(size);
    return p;
}

char *ofc_xstrdup(const char *s)
{
    return ofc_xstrndup(s, strlen(s));
}

char *ofc_xstrndup(const char *s, size_t len)
{
    char *p = ofc_xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *ofc_xvasprintf(const char *fmt, va_list ap)
{
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    ofc_strbuf_vprintf(&sb, fmt, ap);
    return ofc_strbuf_detach(&sb);
}

char *ofc_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = ofc_xvasprintf(fmt, ap);
    va_end(ap);
    return s;
}

char *ofc_str_one_line(const char *text)
{
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    bool space = false;
    for (const char *p = text != NULL ? text : ""; *p != '\0'; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
            space = sb.len > 0;
            continue;
        }
        if (space)
            ofc_strbuf_putc(&sb, ' ');
        space = false;
        ofc_strbuf_putc(&sb, *p);
    }
    return ofc_strbuf_detach(&sb);
}

void ofc_strbuf_init(struct ofc_strbuf *sb)
{
    sb->data = NULL;
    sb->len = 0;
    sb->cap = 0;
}

void ofc_strbuf_reserve(struct ofc_strbuf *sb, size_t extra)
{
    if (extra > SIZE_MAX - sb->len - 1)
        out_of_memory(SIZE_MAX);
    size_t need = sb->len + extra + 1;
    if (need <= sb->cap)
        return;
    size_t cap = sb->cap ? sb->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    sb->data = ofc_xrealloc(sb->data, cap);
    sb->cap = cap;
    /* A string that was only reserved must still read as "" (detach). */
    sb->data[sb->len] = '\0';
}

void ofc_strbuf_append(struct ofc_strbuf *sb, const void *data, size_t len)
{
    ofc_strbuf_reserve(sb, len);
    if (len > 0)
        memcpy(sb->data + sb->len, data, len);
    sb->len += len;
    sb->data[sb->len] = '\0';
}

void ofc_strbuf_puts(struct ofc_strbuf *sb, const char *s)
{
    ofc_strbuf_append(sb, s, strlen(s));
}

void ofc_strbuf_putc(struct ofc_strbuf *sb, char c)
{
    ofc_strbuf_append(sb, &c, 1);
}

void ofc_strbuf_vprintf(struct ofc_strbuf *sb, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    ofc_strbuf_reserve(sb, 64);
    int n = vsnprintf(sb->data + sb->len, sb->cap - sb->len, fmt, ap);
    if (n < 0) {
        va_end(ap2);
        return;
    }
    if ((size_t)n >= sb->cap - sb->len) {
        ofc_strbuf_reserve(sb, (size_t)n);
        n = vsnprintf(sb->data + sb->len, sb->cap - sb->len, fmt, ap2);
        if (n < 0) {
            sb->data[sb->len] = '\0';
            va_end(ap2);
            return;
        }
    }
    va_end(ap2);
    sb->len += (size_t)n;
}

void ofc_strbuf_printf(struct ofc_strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ofc_strbuf_vprintf(sb, fmt, ap);
    va_end(ap);
}

void ofc_strbuf_reset(struct ofc_strbuf *sb)
{
    sb->len = 0;
    if (sb->data != NULL)
        sb->data[0] = '\0';
}

char *ofc_strbuf_detach(struct ofc_strbuf *sb)
{
    char *s = sb->data;
    if (s == NULL)
        s = ofc_xstrdup("");
    ofc_strbuf_init(sb);
    return s;
}

void ofc_strbuf_free(struct ofc_strbuf *sb)
{
    free(sb->data);
    ofc_strbuf_init(sb);
}
