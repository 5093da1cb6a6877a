/*
 * table.c - results as aligned columns, or as CSV for scripts.
 *
 * The table form follows the original's listings: a header, a rule of
 * dashes under each column, one row per line, numbers right-aligned,
 * columns one space apart, no trailing blanks. Widths count characters,
 * not bytes, so UTF-8 names line up. Control characters in a value are
 * shown as spaces: a value can never break a row into two lines.
 *
 * CSV follows RFC 4180 (a header line; fields quoted when they hold a
 * comma, a quote or a line break; quotes doubled) with '\n' line ends.
 */
/* System. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Libraries. */
#include <libpq-fe.h>

/* libofc. */
#include "ofc_db.h"
#include "ofc_mem.h"

/* This program. */
#include "oomgr.h"

struct oomgr_table {
    const struct oomgr_column *columns;
    size_t ncolumns;
    char **cells; /* rows * ncolumns, heap strings */
    size_t rows, cap;
};

struct oomgr_table *oomgr_table_new(const struct oomgr_column *columns, size_t ncolumns)
{
    struct oomgr_table *t = ofc_xcalloc(1, sizeof(*t));
    t->columns = columns;
    t->ncolumns = ncolumns;
    return t;
}

void oomgr_table_add(struct oomgr_table *t, const char *const *values)
{
    if (t->rows == t->cap) {
        t->cap = t->cap == 0 ? 16 : t->cap * 2;
        t->cells = ofc_xrealloc(t->cells, t->cap * t->ncolumns * sizeof(*t->cells));
    }
    for (size_t c = 0; c < t->ncolumns; c++)
        t->cells[t->rows * t->ncolumns + c] = ofc_xstrdup(values[c] != NULL ? values[c] : "");
    t->rows++;
}

void oomgr_table_add_result(struct oomgr_table *t, const PGresult *res)
{
    size_t n = t->ncolumns;
    const char **row = ofc_xcalloc(n, sizeof(*row));
    int nfields = PQnfields(res);
    for (int r = 0; r < PQntuples(res); r++) {
        for (size_t c = 0; c < n; c++)
            row[c] = (int)c < nfields && !PQgetisnull(res, r, (int)c) ? PQgetvalue(res, r, (int)c)
                                                                      : NULL;
        oomgr_table_add(t, row);
    }
    free(row);
}

size_t oomgr_table_rows(const struct oomgr_table *t)
{
    return t->rows;
}

void oomgr_table_free(struct oomgr_table **t)
{
    if (*t == NULL)
        return;
    for (size_t i = 0; i < (*t)->rows * (*t)->ncolumns; i++)
        free((*t)->cells[i]);
    free((*t)->cells);
    OFC_FREE(*t);
}

/* Characters in a UTF-8 string: every byte that does not continue a sequence. */
static size_t width(const char *s)
{
    size_t w = 0;
    for (; *s != '\0'; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

static void pad(struct ofc_strbuf *sb, size_t n)
{
    while (n-- > 0)
        ofc_strbuf_putc(sb, ' ');
}

static void put_cell(struct ofc_strbuf *sb, const char *s)
{
    for (; *s != '\0'; s++)
        ofc_strbuf_putc(sb, (unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s);
}

/* Ends a line without the blanks that padding left at its end. */
static void end_line(struct ofc_strbuf *sb, size_t line_start)
{
    while (sb->len > line_start && sb->data[sb->len - 1] == ' ')
        sb->len--;
    sb->data[sb->len] = '\0';
    ofc_strbuf_putc(sb, '\n');
}

static void print_aligned(const struct oomgr_table *t, struct ofc_strbuf *out)
{
    size_t *w = ofc_xcalloc(t->ncolumns, sizeof(*w));
    for (size_t c = 0; c < t->ncolumns; c++) {
        w[c] = width(t->columns[c].title);
        for (size_t r = 0; r < t->rows; r++) {
            size_t cw = width(t->cells[r * t->ncolumns + c]);
            if (cw > w[c])
                w[c] = cw;
        }
    }
    size_t start = out->len;
    for (size_t c = 0; c < t->ncolumns; c++) {
        size_t tw = width(t->columns[c].title);
        if (c > 0)
            ofc_strbuf_putc(out, ' ');
        if (t->columns[c].align == OOMGR_RIGHT)
            pad(out, w[c] - tw);
        ofc_strbuf_puts(out, t->columns[c].title);
        if (t->columns[c].align == OOMGR_LEFT)
            pad(out, w[c] - tw);
    }
    end_line(out, start);
    start = out->len;
    for (size_t c = 0; c < t->ncolumns; c++) {
        if (c > 0)
            ofc_strbuf_putc(out, ' ');
        for (size_t i = 0; i < w[c]; i++)
            ofc_strbuf_putc(out, '-');
    }
    end_line(out, start);
    for (size_t r = 0; r < t->rows; r++) {
        start = out->len;
        for (size_t c = 0; c < t->ncolumns; c++) {
            const char *v = t->cells[r * t->ncolumns + c];
            size_t vw = width(v);
            if (c > 0)
                ofc_strbuf_putc(out, ' ');
            if (t->columns[c].align == OOMGR_RIGHT)
                pad(out, w[c] - vw);
            put_cell(out, v);
            if (t->columns[c].align == OOMGR_LEFT)
                pad(out, w[c] - vw);
        }
        end_line(out, start);
    }
    free(w);
}

static void csv_field(struct ofc_strbuf *out, const char *v)
{
    if (strpbrk(v, ",\"\r\n") == NULL) {
        ofc_strbuf_puts(out, v);
        return;
    }
    ofc_strbuf_putc(out, '"');
    for (; *v != '\0'; v++) {
        if (*v == '"')
            ofc_strbuf_putc(out, '"');
        ofc_strbuf_putc(out, *v);
    }
    ofc_strbuf_putc(out, '"');
}

static void print_csv(const struct oomgr_table *t, struct ofc_strbuf *out)
{
    for (size_t c = 0; c < t->ncolumns; c++) {
        if (c > 0)
            ofc_strbuf_putc(out, ',');
        csv_field(out, t->columns[c].title);
    }
    ofc_strbuf_putc(out, '\n');
    for (size_t r = 0; r < t->rows; r++) {
        for (size_t c = 0; c < t->ncolumns; c++) {
            if (c > 0)
                ofc_strbuf_putc(out, ',');
            csv_field(out, t->cells[r * t->ncolumns + c]);
        }
        ofc_strbuf_putc(out, '\n');
    }
}

void oomgr_table_print(const struct oomgr_table *t, enum oomgr_format format,
                       struct ofc_strbuf *out)
{
    if (format == OOMGR_FORMAT_CSV)
        print_csv(t, out);
    else if (t->rows == 0)
        ofc_strbuf_puts(out, "no rows selected\n");
    else
        print_aligned(t, out);
}

enum oomgr_format oomgr_stmt_format(const struct oomgr_stmt *st)
{
    const char *f = oomgr_arg(st, "format");
    return f != NULL && strcasecmp(f, "csv") == 0 ? OOMGR_FORMAT_CSV : OOMGR_FORMAT_TABLE;
}

char *oomgr_format_age(const char *seconds)
{
    if (seconds == NULL)
        return NULL;
    long long s = strtoll(seconds, NULL, 10);
    if (s < 0)
        s = 0; /* clocks of different hosts: never show a negative age */
    if (s < 60)
        return ofc_xasprintf("%llds", s);
    if (s < 3600)
        return ofc_xasprintf("%lldm %llds", s / 60, s % 60);
    if (s < 86400)
        return ofc_xasprintf("%lldh %lldm", s / 3600, s % 3600 / 60);
    return ofc_xasprintf("%lldd %lldh", s / 86400, s % 86400 / 3600);
}

void oomgr_table_add_result_age(struct oomgr_table *t, const PGresult *res, int age_col)
{
    int ncols = PQnfields(res);
    const char **row = ofc_xcalloc((size_t)ncols, sizeof(*row));
    for (int r = 0; r < PQntuples(res); r++) {
        char *age = oomgr_format_age(ofc_db_value(res, r, age_col));
        for (int c = 0; c < ncols; c++)
            row[c] = c == age_col ? age : ofc_db_value(res, r, c);
        oomgr_table_add(t, row);
        free(age);
    }
    free(row);
}
