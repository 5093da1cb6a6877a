/*
 * ofc_mem.h - allocation that never returns NULL, and growable strings.
 *
 * Like Postfix's mymalloc(), the x-functions abort the process when memory
 * is exhausted: a mail server that cannot allocate a few bytes cannot make
 * progress either, and a NULL check at every call site only hides bugs.
 * The Guardian restarts the process.
 */
#ifndef OFC_MEM_H
#define OFC_MEM_H

#include <stdarg.h>
#include <stddef.h>

void *ofc_xmalloc(size_t size);
void *ofc_xcalloc(size_t count, size_t size);
void *ofc_xrealloc(void *ptr, size_t size);
char *ofc_xstrdup(const char *s);
char *ofc_xstrndup(const char *s, size_t len);
/* Formats into a fresh heap string; the caller frees it. */
char *ofc_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *ofc_xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/*
 * The text on one line: runs of white space (space, tab, CR, LF) become one
 * space, leading and trailing white space go. For messages of libpq and of
 * child programs, which span lines, in a log or an error line. Heap string.
 */
char *ofc_str_one_line(const char *text);

/* Frees *p and sets it to NULL, so a second free is harmless. */
#define OFC_FREE(p)                                                                                \
    do {                                                                                           \
        free(p);                                                                                   \
        (p) = NULL;                                                                                \
    } while (0)

/*
 * A growable byte string. `data` is always NUL-terminated (so it can be
 * used as a C string when it holds text) but may contain NUL bytes; `len`
 * is authoritative.
 */
struct ofc_strbuf {
    char *data;
    size_t len;
    size_t cap;
};

#define OFC_STRBUF_INIT                                                                            \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void ofc_strbuf_init(struct ofc_strbuf *sb);
void ofc_strbuf_reserve(struct ofc_strbuf *sb, size_t extra);
void ofc_strbuf_append(struct ofc_strbuf *sb, const void *data, size_t len);
void ofc_strbuf_puts(struct ofc_strbuf *sb, const char *s);
void ofc_strbuf_putc(struct ofc_strbuf *sb, char c);
void ofc_strbuf_printf(struct ofc_strbuf *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ofc_strbuf_vprintf(struct ofc_strbuf *sb, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Empties the string but keeps the allocation. */
void ofc_strbuf_reset(struct ofc_strbuf *sb);
/* Returns the heap string (never NULL) and leaves sb empty; the caller frees it. */
char *ofc_strbuf_detach(struct ofc_strbuf *sb);
void ofc_strbuf_free(struct ofc_strbuf *sb);

#endif
