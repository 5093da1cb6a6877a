/*
 * store_message.c - putting messages into the single-instance store
 * (see store_message.h).
 *
 * Storing a message is one statement: the message row and all its
 * message_header rows travel together (a data-modifying CTE over unnest()
 * of two text[] parameters), the raw octets as a binary parameter. A
 * message with 30 header fields therefore costs one round trip, not 31.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ofc_db.h"
#include "ofc_mem.h"
#include "ofc_pgarray.h"
#include "store_message.h"
#include "store_mime.h"

/* The message row and its header rows: the CTEs of both statements below. */
#define PUT_CTES                                                                                   \
    "WITH m AS ("                                                                                  \
    " INSERT INTO message (size, raw, header_size, hdr_date, hdr_subject, hdr_from, hdr_to,"       \
    "  hdr_cc, hdr_bcc, hdr_message_id, hdr_in_reply_to, envelope, bodystructure, body,"           \
    "  sections)"                                                                                  \
    " VALUES ($1::bigint, $2::bytea, $3::bigint, to_timestamp($4::double precision), $5, $6,"      \
    "  $7, $8, $9, $10, $11, $12, $13, $14, $15::jsonb)"                                           \
    " RETURNING id),"                                                                              \
    " h AS ("                                                                                      \
    " INSERT INTO message_header (message_id, seq, name, value)"                                   \
    " SELECT m.id, x.seq, x.name, x.value"                                                         \
    "   FROM m, unnest($16::text[], $17::text[]) WITH ORDINALITY AS x(name, value, seq))"

static const char PUT_SQL[] = PUT_CTES " SELECT id FROM m";

/* PUT_SQL and the submission entry in the same statement: one round trip. */
static const char PUT_SUBMIT_SQL[] =
    PUT_CTES ","
             " s AS ("
             " INSERT INTO submission (message_id, sender, recipients)"
             " SELECT m.id, $18, $19::text[] FROM m)"
             " SELECT id FROM m";

/* store_message_put, and store_submit in the same statement when rcpts != NULL. */
static int put(struct ofc_db *db, const char *raw, size_t len, const struct store_mime *mime,
               const char *sender, const char *const *rcpts, size_t nrcpts, long long *message_id_r,
               char **error_r)
{
    *message_id_r = 0;
    if (mime == NULL || mime->size != len) {
        *error_r = ofc_xstrdup("store_message_put: the analysis does not match the message");
        return -1;
    }
    if (len > 0x7fffffffU) {
        /* libpq parameter lengths are int; PostgreSQL's bytea limit is 1 GB anyway. */
        *error_r = ofc_xasprintf("message of %zu octets is too large to store", len);
        return -1;
    }
    char size[32], header_size[32], date[32];
    (void)snprintf(size, sizeof(size), "%zu", len);
    (void)snprintf(header_size, sizeof(header_size), "%zu", mime->header_size);
    if (mime->date_valid)
        (void)snprintf(date, sizeof(date), "%lld", (long long)mime->date);

    const char **names = ofc_xcalloc(mime->header_count + 1, sizeof(*names));
    const char **values = ofc_xcalloc(mime->header_count + 1, sizeof(*values));
    for (size_t i = 0; i < mime->header_count; i++) {
        names[i] = mime->headers[i].name;
        values[i] = mime->headers[i].value;
    }
    char *name_array = ofc_pg_text_array(names, mime->header_count);
    char *value_array = ofc_pg_text_array(values, mime->header_count);
    free(names);
    free(values);

    char *rcpt_array = rcpts != NULL ? ofc_pg_text_array(rcpts, nrcpts) : NULL;
    const char *params[19] = {
        size,
        /* An empty message still needs a non-NULL bytea value. */
        raw != NULL ? raw : "",
        header_size,
        mime->date_valid ? date : NULL,
        mime->subject,
        mime->from,
        mime->to,
        mime->cc,
        mime->bcc,
        mime->message_id,
        mime->in_reply_to,
        mime->envelope,
        mime->bodystructure,
        mime->body,
        mime->sections,
        name_array,
        value_array,
        sender != NULL ? sender : "",
        rcpt_array,
    };
    int lengths[19] = {0};
    int formats[19] = {0};
    lengths[1] = (int)len;
    formats[1] = 1;
    PGresult *res = ofc_db_query_bin(db, rcpts != NULL ? PUT_SUBMIT_SQL : PUT_SQL,
                                     rcpts != NULL ? 19 : 17, params, lengths, formats, 0);
    free(name_array);
    free(value_array);
    free(rcpt_array);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot store the message: %s", ofc_db_error(db));
        return -1;
    }
    *message_id_r = ofc_db_value_ll(res, 0, 0, 0);
    PQclear(res);
    if (*message_id_r <= 0) {
        *error_r = ofc_xstrdup("cannot store the message: no id returned");
        return -1;
    }
    return 0;
}

int store_message_put(struct ofc_db *db, const char *raw, size_t len, const struct store_mime *mime,
                      long long *message_id_r, char **error_r)
{
    return put(db, raw, len, mime, NULL, NULL, 0, message_id_r, error_r);
}

int store_message_put_submit(struct ofc_db *db, const char *raw, size_t len,
                             const struct store_mime *mime, const char *sender,
                             const char *const *rcpts, size_t n, long long *message_id_r,
                             char **error_r)
{
    if (rcpts == NULL || n == 0) {
        *message_id_r = 0;
        *error_r = ofc_xstrdup("cannot submit a message without recipients");
        return -1;
    }
    return put(db, raw, len, mime, sender, rcpts, n, message_id_r, error_r);
}

bool store_is_crlf(const char *raw, size_t len)
{
    for (const char *p = raw, *end = raw + len; (p = memchr(p, '\n', (size_t)(end - p))) != NULL;
         p++)
        if (p == raw || p[-1] != '\r')
            return false;
    return true;
}

void store_append_crlf(struct ofc_strbuf *sb, const char *raw, size_t len)
{
    ofc_strbuf_reserve(sb, len + len / 32 + 2);
    const char *p = raw, *end = raw + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL) {
            ofc_strbuf_append(sb, p, (size_t)(end - p));
            break;
        }
        /* Copy up to the LF, then a CR when the line did not end with one. */
        ofc_strbuf_append(sb, p, (size_t)(nl - p));
        bool has_cr = nl > raw && nl[-1] == '\r';
        ofc_strbuf_append(sb, has_cr ? "\n" : "\r\n", has_cr ? 1 : 2);
        p = nl + 1;
    }
}

int store_message_put_raw(struct ofc_db *db, const char *raw, size_t len, long long *message_id_r,
                          char **error_r)
{
    *message_id_r = 0;
    struct ofc_strbuf canon = OFC_STRBUF_INIT;
    if (!store_is_crlf(raw, len)) {
        store_append_crlf(&canon, raw, len);
        raw = canon.data;
        len = canon.len;
    }
    struct store_mime *mime = NULL;
    int rc = store_mime_analyze(raw, len, &mime, error_r);
    if (rc == 0)
        rc = store_message_put(db, raw, len, mime, message_id_r, error_r);
    store_mime_free(&mime);
    ofc_strbuf_free(&canon);
    return rc;
}

int store_submit(struct ofc_db *db, long long message_id, const char *sender,
                 const char *const *rcpts, size_t n, long long *entry_id_r, char **error_r)
{
    if (entry_id_r != NULL)
        *entry_id_r = 0;
    if (n == 0) {
        *error_r = ofc_xstrdup("cannot submit a message without recipients");
        return -1;
    }
    char id[32];
    (void)snprintf(id, sizeof(id), "%lld", message_id);
    char *array = ofc_pg_text_array(rcpts, n);
    const char *const params[] = {id, sender != NULL ? sender : "", array};
    PGresult *res = ofc_db_query(db,
                                 "INSERT INTO submission (message_id, sender, recipients)"
                                 " VALUES ($1::bigint, $2, $3::text[]) RETURNING id",
                                 3, params);
    free(array);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot queue message %lld for submission: %s", message_id,
                                 ofc_db_error(db));
        return -1;
    }
    if (entry_id_r != NULL)
        *entry_id_r = ofc_db_value_ll(res, 0, 0, 0);
    PQclear(res);
    return 0;
}
