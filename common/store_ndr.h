/*
 * store_ndr.h - non-delivery reports (RFC 3464).
 *
 * Composed by the Postman (unknown recipients, no route, over quota) and by
 * the outbound gateway (a remote system refused a recipient, or the entry
 * expired); both store the report with store_message_put_raw() and submit
 * it with the null reverse-path.
 */
#ifndef STORE_NDR_H
#define STORE_NDR_H

#include <stdbool.h>
#include <stddef.h>

/* One recipient the message could not reach. */
struct ndr_failure {
    const char *recipient;  /* Final-Recipient */
    const char *original;   /* the envelope recipient that led there; NULL if the same */
    const char *status;     /* RFC 3463 code: "5.1.1" */
    const char *diagnostic; /* one line: "550 5.1.1 <x@y>: unknown user" */
};

/*
 * The length of the header section of raw (up to and including the empty
 * line that ends it; all of raw when there is none).
 */
size_t ndr_header_length(const char *raw, size_t len);

/*
 * True when the header section (len octets) says the message is itself a
 * report (Content-Type: multipart/report) or an automatic reply to one:
 * such mail is never answered with another report.
 */
bool ndr_is_report(const char *headers, size_t len);

/*
 * The complete report, CRLF line ends: From MAILER-DAEMON@domain to
 * sender, multipart/report; report-type=delivery-status with a
 * human-readable part, a message/delivery-status part (one block per
 * failure) and the original header section as text/rfc822-headers.
 * message_id makes the report's Message-ID unique. Heap string; its length
 * in *len_r.
 */
char *ndr_compose(const char *domain, const char *sender, long long message_id, const char *headers,
                  size_t headers_len, const struct ndr_failure *failures, size_t n, size_t *len_r);

#endif
