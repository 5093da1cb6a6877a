/*
 * store_ndr.c - non-delivery reports (RFC 3464). See store_ndr.h.
 */
/* System. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* libofc. */
#include "ofc_mem.h"
#include "store_ndr.h"

size_t ndr_header_length(const char *raw, size_t len)
{
    /* An empty line ends the header; the message may use LF or CRLF. */
    for (size_t i = 0; i < len; i++) {
        if (raw[i] != '\n')
            continue;
        if (i + 1 < len && raw[i + 1] == '\n')
            return i + 2;
        if (i + 2 < len && raw[i + 1] == '\r' && raw[i + 2] == '\n')
            return i + 3;
    }
    return len;
}

static bool has_prefix_ci(const char *s, size_t len, const char *prefix)
{
    size_t plen = strlen(prefix);
    return len >= plen && strncasecmp(s, prefix, plen) == 0;
}

static bool contains_ci(const char *s, size_t len, const char *needle)
{
    size_t nlen = strlen(needle);
    for (size_t i = 0; i + nlen <= len; i++)
        if (strncasecmp(s + i, needle, nlen) == 0)
            return true;
    return false;
}

bool ndr_is_report(const char *headers, size_t len)
{
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(headers + pos, '\n', len - pos);
        size_t end = nl != NULL ? (size_t)(nl - headers) + 1 : len;
        if (has_prefix_ci(headers + pos, end - pos, "content-type:")) {
            /* The field with its folded continuation lines. */
            size_t fend = end;
            while (fend < len && (headers[fend] == ' ' || headers[fend] == '\t')) {
                const char *nl2 = memchr(headers + fend, '\n', len - fend);
                fend = nl2 != NULL ? (size_t)(nl2 - headers) + 1 : len;
            }
            if (contains_ci(headers + pos, fend - pos, "multipart/report"))
                return true;
        }
        pos = end;
    }
    return false;
}

/* Appends text with every line end made CRLF. */
static void put_crlf(struct ofc_strbuf *sb, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
            ofc_strbuf_putc(sb, '\r');
        ofc_strbuf_putc(sb, s[i]);
    }
}

char *ndr_compose(const char *domain, const char *sender, long long message_id, const char *headers,
                  size_t headers_len, const struct ndr_failure *failures, size_t n, size_t *len_r)
{
    time_t now = time(NULL);
    struct tm tm;
    char date[64];
    if (gmtime_r(&now, &tm) == NULL ||
        strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm) == 0)
        date[0] = '\0';
    /* A boundary that cannot occur in the original header we quote. */
    char *boundary = NULL;
    for (unsigned k = 0;; k++) {
        boundary = ofc_xasprintf("=_ofcmail-ndr-%lld-%lld-%u", message_id, (long long)now, k);
        size_t blen = strlen(boundary);
        bool clash = false;
        for (size_t i = 0; i + blen <= headers_len && !clash; i++)
            clash = memcmp(headers + i, boundary, blen) == 0;
        if (!clash)
            break;
        free(boundary);
    }

    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    ofc_strbuf_printf(&sb, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", domain);
    ofc_strbuf_printf(&sb, "To: <%s>\r\n", sender);
    ofc_strbuf_puts(&sb, "Subject: Undelivered Mail Returned to Sender\r\n");
    if (date[0] != '\0')
        ofc_strbuf_printf(&sb, "Date: %s\r\n", date);
    ofc_strbuf_printf(&sb, "Message-ID: <ndr.%lld.%lld.%ld@%s>\r\n", message_id, (long long)now,
                      (long)getpid(), domain);
    /* RFC 3834 §5: reports are automatic replies; no one answers them. */
    ofc_strbuf_puts(&sb, "Auto-Submitted: auto-replied\r\n");
    ofc_strbuf_puts(&sb, "MIME-Version: 1.0\r\n");
    ofc_strbuf_printf(&sb,
                      "Content-Type: multipart/report; report-type=delivery-status;\r\n"
                      "\tboundary=\"%s\"\r\n",
                      boundary);
    ofc_strbuf_puts(&sb, "\r\nThis is a MIME-encapsulated message.\r\n\r\n");

    /* 1: for people. */
    ofc_strbuf_printf(&sb,
                      "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                      "Content-Transfer-Encoding: 8bit\r\n\r\n",
                      boundary);
    ofc_strbuf_printf(&sb,
                      "This is the mail system at %s.\r\n\r\n"
                      "Your message could not be delivered to %s. The reason%s below.\r\n\r\n",
                      domain, n == 1 ? "one recipient" : "some recipients",
                      n == 1 ? " is" : "s are");
    for (size_t i = 0; i < n; i++)
        ofc_strbuf_printf(&sb, "<%s>: %s\r\n", failures[i].recipient, failures[i].diagnostic);
    ofc_strbuf_puts(&sb, "\r\n");

    /* 2: for programs (RFC 3464 §2). */
    ofc_strbuf_printf(&sb, "--%s\r\nContent-Type: message/delivery-status\r\n\r\n", boundary);
    ofc_strbuf_printf(&sb, "Reporting-MTA: dns; %s\r\n", domain);
    for (size_t i = 0; i < n; i++) {
        const struct ndr_failure *f = &failures[i];
        ofc_strbuf_puts(&sb, "\r\n");
        if (f->original != NULL && strcasecmp(f->original, f->recipient) != 0)
            ofc_strbuf_printf(&sb, "Original-Recipient: rfc822; %s\r\n", f->original);
        ofc_strbuf_printf(&sb, "Final-Recipient: rfc822; %s\r\n", f->recipient);
        ofc_strbuf_puts(&sb, "Action: failed\r\n");
        ofc_strbuf_printf(&sb, "Status: %s\r\n", f->status);
        ofc_strbuf_printf(&sb, "Diagnostic-Code: smtp; %s\r\n", f->diagnostic);
    }
    ofc_strbuf_puts(&sb, "\r\n");

    /* 3: what was returned: the header only, never the body. */
    ofc_strbuf_printf(&sb, "--%s\r\nContent-Type: text/rfc822-headers\r\n\r\n", boundary);
    put_crlf(&sb, headers, headers_len);
    if (headers_len < 2 || headers[headers_len - 1] != '\n')
        ofc_strbuf_puts(&sb, "\r\n");
    ofc_strbuf_printf(&sb, "\r\n--%s--\r\n", boundary);
    free(boundary);
    *len_r = sb.len;
    return ofc_strbuf_detach(&sb);
}
