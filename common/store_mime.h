/*
 * store_mime.h - the MIME analysis of a message, done once when it enters.
 *
 * DESIGN §3: header fields, ENVELOPE, BODYSTRUCTURE and the byte offsets of
 * every MIME section are computed once at ingestion and stored with the
 * message; the protocol servers serve FETCH from those columns and from
 * byte ranges of `raw`, and never parse a message again. This module
 * produces everything the `message` and `message_header` rows need
 * (schema/004_store.sql).
 *
 * The raw octets are never modified or normalised: LF-only and CRLF input
 * are both taken as they are, and every offset and size refers to the
 * octets exactly as given (so RFC822.SIZE, BODY[]<partial> and the sizes in
 * BODYSTRUCTURE agree with what the server sends).
 *
 * Every string in the result is valid UTF-8 without NUL bytes, so that
 * PostgreSQL accepts it in a text column: 8-bit header octets that are not
 * UTF-8 are read as ISO-8859-1.
 *
 * Malformed messages never fail: missing or broken boundaries, unterminated
 * multiparts, a missing header/body separator, absurd nesting (more than
 * STORE_MIME_MAX_DEPTH containers deep) or part counts (more than
 * STORE_MIME_MAX_PARTS) give a valid, degraded structure (see store_mime.c).
 *
 * GMime (RFC 2047 words, address display text, dates) is initialised on
 * first use under pthread_once; the analysis is thread-safe but, like
 * everything that allocates, not async-signal-safe.
 */
#ifndef STORE_MIME_H
#define STORE_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* Containers (multipart, message/rfc822) nested deeper are served as leaves. */
#define STORE_MIME_MAX_DEPTH 32
/* MIME parts beyond this many are merged into the last one. */
#define STORE_MIME_MAX_PARTS 10000

/* One header field of the top-level header, for table message_header. */
struct store_mime_header {
    char *name;  /* lower-case field name: printable ASCII, no ':' */
    char *value; /* unfolded, RFC 2047-decoded, trimmed UTF-8 */
};

/*
 * The analysis of one message. All strings are heap strings owned by the
 * structure; NULL means "absent" (the column is NULL).
 */
struct store_mime {
    /* Octets of the whole message (RFC822.SIZE, column size). */
    size_t size;
    /*
     * Octets of the top-level header including the empty line that ends
     * it (column header_size, BODY[HEADER]). Without an empty line the
     * whole message is header and the body is empty.
     */
    size_t header_size;

    /* Date: as parsed (RFC 5322 with obsolete forms); date_valid false if
     * the field is absent or unparseable (column hdr_date NULL then). */
    bool date_valid;
    time_t date;
    /* The first of each field, decoded to UTF-8 for SEARCH and SORT.
     * Address fields are display text ("Jörg Doe <j@example.com>, ..."). */
    char *subject;
    char *from;
    char *to;
    char *cc;
    char *bcc;
    char *message_id;
    char *in_reply_to;

    /* Every field of the top-level header in order (message_header). */
    struct store_mime_header *headers;
    size_t header_count;

    /*
     * IMAP fragments, each ready to send after "ENVELOPE ", "BODYSTRUCTURE "
     * or "BODY " (RFC 3501 §7.4.2), parentheses included. Strings that hold
     * 8-bit text are IMAP literals ("{n}\r\n" + n octets); envelope fields
     * carry the header text as written (encoded words stay encoded).
     */
    char *envelope;
    char *bodystructure;
    char *body;

    /*
     * JSON object (column sections) mapping each IMAP section part number
     * to byte offsets in raw:
     *
     *   ""     : [0, header_size, size, lines]       the whole message
     *   "1.2"  : [hdr_start, body_start, end, lines] a part
     *   "2"    : [hdr_start, body_start, end, lines, msg_body_start]
     *            a message/rfc822 part (five elements)
     *
     * For a part, [hdr_start, body_start) is its MIME header with the empty
     * line (BODY[n.MIME]) and [body_start, end) its body (BODY[n]); lines
     * is the number of LF octets in the body. Part numbers follow RFC 3501
     * §6.4.5: the parts of a multipart are numbered from 1; a message whose
     * body is not multipart (the top-level one, or one inside a
     * message/rfc822 part n) has one part, "1" (or "n.1"), whose MIME header
     * is that message's header and whose body is the message's body. For a
     * message/rfc822 part the body is the embedded message:
     * BODY[n.HEADER] is [body_start, msg_body_start) and BODY[n.TEXT] is
     * [msg_body_start, end). BODY[HEADER] and BODY[TEXT] come from "".
     * Only parts with five elements accept HEADER, HEADER.FIELDS and TEXT.
     */
    char *sections;
};

/*
 * Analyses the len octets at raw (which need not be NUL-terminated and may
 * hold NUL bytes; raw may be NULL when len is 0). On success returns 0 and
 * a new structure in *mime_r, which the caller frees with
 * store_mime_free(); *error_r is not touched. Malformed MIME is not an
 * error (see above): -1, with *mime_r NULL and a heap message in *error_r
 * that the caller frees, only for a NULL raw with len > 0 or when GMime
 * cannot be initialised. Allocation failure aborts (ofc_xmalloc).
 */
int store_mime_analyze(const char *raw, size_t len, struct store_mime **mime_r, char **error_r)
    __attribute__((warn_unused_result));

/* Frees *mime and everything it holds and sets *mime to NULL; NULL is fine. */
void store_mime_free(struct store_mime **mime);

#endif
