/*
 * ofc_pgarray.h - PostgreSQL array literals for text[] parameters.
 *
 * A list of addresses or header fields travels to the server as one text[]
 * parameter ("{\"a@b\",\"c\"}"), so that one statement handles any number
 * of them (unnest on the server side) instead of one round trip each.
 */
#ifndef OFC_PGARRAY_H
#define OFC_PGARRAY_H

#include <stddef.h>

/*
 * The text[] literal of n strings (NULL entries become SQL NULL): every
 * element double-quoted, '"' and '\' escaped. The strings must not hold
 * NUL bytes (they are C strings). Heap string; never NULL.
 */
char *ofc_pg_text_array(const char *const *items, size_t n);

/* The bigint[] literal of n ids: "{1,2,3}". Heap string; never NULL. */
char *ofc_pg_id_array(const long long *ids, size_t n);

/*
 * Parses a text[] literal as the server sends it (text result format) into
 * a new array of *n_r heap strings (NULL elements become ""). Returns 0, or
 * -1 when the literal is malformed or multi-dimensional. Free the result
 * with ofc_pg_text_array_free().
 */
int ofc_pg_text_array_parse(const char *literal, char ***items_r, size_t *n_r)
    __attribute__((warn_unused_result));

/* Frees n strings and the array; sets *items to NULL. */
void ofc_pg_text_array_free(char ***items, size_t n);

#endif
