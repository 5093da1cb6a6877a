/*
 * ofc_pgarray.c - PostgreSQL array literals (see ofc_pgarray.h).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ofc_mem.h"
#include "ofc_pgarray.h"

char *ofc_pg_text_array(const char *const *items, size_t n)
{
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    ofc_strbuf_putc(&sb, '{');
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            ofc_strbuf_putc(&sb, ',');
        if (items[i] == NULL) {
            ofc_strbuf_puts(&sb, "NULL");
            continue;
        }
        /* Always quoted: "NULL", empty strings, braces and blanks need it. */
        ofc_strbuf_putc(&sb, '"');
        for (const char *p = items[i]; *p != '\0'; p++) {
            if (*p == '"' || *p == '\\')
                ofc_strbuf_putc(&sb, '\\');
            ofc_strbuf_putc(&sb, *p);
        }
        ofc_strbuf_putc(&sb, '"');
    }
    ofc_strbuf_putc(&sb, '}');
    return ofc_strbuf_detach(&sb);
}

char *ofc_pg_id_array(const long long *ids, size_t n)
{
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    ofc_strbuf_putc(&sb, '{');
    for (size_t i = 0; i < n; i++)
        ofc_strbuf_printf(&sb, i > 0 ? ",%lld" : "%lld", ids[i]);
    ofc_strbuf_putc(&sb, '}');
    return ofc_strbuf_detach(&sb);
}

void ofc_pg_text_array_free(char ***items, size_t n)
{
    if (*items == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free((*items)[i]);
    OFC_FREE(*items);
}

int ofc_pg_text_array_parse(const char *literal, char ***items_r, size_t *n_r)
{
    *items_r = NULL;
    *n_r = 0;
    const char *p = literal;
    if (p == NULL || *p != '{')
        return -1;
    p++;
    char **items = NULL;
    size_t n = 0, cap = 0;
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    if (*p == '}' && p[1] == '\0') {
        *items_r = NULL;
        return 0;
    }
    for (;;) {
        ofc_strbuf_reset(&sb);
        bool quoted = false;
        if (*p == '"') {
            quoted = true;
            p++;
            while (*p != '"') {
                if (*p == '\0')
                    goto fail;
                if (*p == '\\') {
                    p++;
                    if (*p == '\0')
                        goto fail;
                }
                ofc_strbuf_putc(&sb, *p++);
            }
            p++;
        } else {
            while (*p != ',' && *p != '}') {
                /* Nested braces: a multi-dimensional array is not ours. */
                if (*p == '\0' || *p == '{' || *p == '"')
                    goto fail;
                ofc_strbuf_putc(&sb, *p++);
            }
        }
        if (n == cap) {
            cap = cap == 0 ? 8 : cap * 2;
            items = ofc_xrealloc(items, cap * sizeof(*items));
        }
        items[n++] = !quoted && strcmp(sb.data != NULL ? sb.data : "", "NULL") == 0
                         ? ofc_xstrdup("")
                         : ofc_xstrndup(sb.data != NULL ? sb.data : "", sb.len);
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == '}' && p[1] == '\0')
            break;
        goto fail;
    }
    ofc_strbuf_free(&sb);
    *items_r = items;
    *n_r = n;
    return 0;
fail:
    ofc_strbuf_free(&sb);
    ofc_pg_text_array_free(&items, n);
    return -1;
}
