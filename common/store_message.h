/*
 * store_message.h - putting messages into the single-instance store.
 *
 * A message is stored once per node with everything IMAP will ask of it
 * (see store_mime.h); recipients get pointers later, from the Postman
 * (store_deliver.h). All verbs run inside the caller's transaction, so
 * that storing, queueing and removing the source queue entry commit
 * together or not at all.
 */
#ifndef STORE_MESSAGE_H
#define STORE_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>

struct ofc_db;
struct store_mime;

/*
 * Stores raw (len octets, exactly as received) with its analysis `mime`
 * (from store_mime_analyze() of the same octets): the message row with its
 * cached header fields, ENVELOPE, BODYSTRUCTURE, BODY and section offsets,
 * and its message_header rows. Returns 0 and the new id in *message_id_r,
 * or -1 with a heap message in *error_r.
 */
int store_message_put(struct ofc_db *db, const char *raw, size_t len, const struct store_mime *mime,
                      long long *message_id_r, char **error_r) __attribute__((warn_unused_result));

/*
 * store_message_put() and store_submit() in one statement (one round
 * trip): the inbound gateway's path. n must be > 0.
 */
int store_message_put_submit(struct ofc_db *db, const char *raw, size_t len,
                             const struct store_mime *mime, const char *sender,
                             const char *const *rcpts, size_t n, long long *message_id_r,
                             char **error_r) __attribute__((warn_unused_result));

/*
 * Analyses and stores a message ofcmail composed itself (non-delivery
 * reports, auto-replies, Monitor reports), line ends made CRLF first (see
 * store_append_crlf). Same results as above.
 */
int store_message_put_raw(struct ofc_db *db, const char *raw, size_t len, long long *message_id_r,
                          char **error_r) __attribute__((warn_unused_result));

/*
 * Messages are stored with CRLF line ends (RFC 5322 §2.1, and what IMAP
 * and POP3 send), so that stored octets, sizes and section offsets are
 * exactly what clients receive. Mail that arrives with bare LF (sendmail
 * hands ofcuto LF lines) is canonicalised once at ingestion: every LF not
 * preceded by CR becomes CRLF; a CR not followed by LF stays as it is.
 */
struct ofc_strbuf;
void store_append_crlf(struct ofc_strbuf *sb, const char *raw, size_t len);
/* True when every LF in raw is preceded by CR. */
bool store_is_crlf(const char *raw, size_t len);

/*
 * Puts a stored message on the submission queue for the Postman: envelope
 * sender ("" for the null reverse-path) and n recipients (addresses as
 * given; the Postman resolves them). origin_node_id 0 = the local node.
 * Returns 0 and the queue entry id in *entry_id_r (may be NULL), or -1.
 */
int store_submit(struct ofc_db *db, long long message_id, const char *sender,
                 const char *const *rcpts, size_t n, long long *entry_id_r, char **error_r)
    __attribute__((warn_unused_result));

#endif
