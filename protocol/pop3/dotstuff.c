/*
 * dotstuff.c - stored message octets to the POP3 multi-line form
 * (RFC 1939 §3): byte-exact except that a line starting with '.' gets a
 * second one and a bare LF becomes CRLF. Stored messages are CRLF
 * canonical already; the LF case only guards against rows written by
 * other means. The converter keeps its state between pieces, so a
 * message is read and sent in chunks and never held twice.
 */
/* System. */
#include <string.h>

#include <event2/buffer.h>

/* This program. */
#include "pop3.h"

void pop3_stuffer_init(struct pop3_stuffer *st, long long lines)
{
    memset(st, 0, sizeof(*st));
    st->bol = true;
    st->blank = true;
    st->lines = lines;
}

/* A line ended (its CRLF is out): the header/body boundary and TOP's count. */
static void line_ended(struct pop3_stuffer *st)
{
    if (!st->in_body) {
        if (st->blank) {
            st->in_body = true;
            if (st->lines == 0)
                st->done = true;
        }
    } else if (st->lines > 0 && --st->lines == 0) {
        st->done = true;
    }
    st->bol = true;
    st->blank = true;
    st->cr = false;
}

void pop3_stuffer_add(struct pop3_stuffer *st, struct evbuffer *out, const char *data, size_t len)
{
    size_t i = 0;
    while (i < len && !st->done) {
        if (st->bol && data[i] == '.')
            (void)evbuffer_add(out, ".", 1);
        const char *nl = memchr(data + i, '\n', len - i);
        size_t end = nl != NULL ? (size_t)(nl - data) : len;
        if (end > i) {
            (void)evbuffer_add(out, data + i, end - i);
            /* Only the header needs to know whether a line is empty. */
            if (!st->in_body && st->blank) {
                for (size_t k = i; k < end; k++) {
                    if (data[k] != '\r') {
                        st->blank = false;
                        break;
                    }
                }
            }
            st->cr = data[end - 1] == '\r';
            st->bol = false;
        }
        if (nl == NULL)
            break;
        (void)evbuffer_add(out, st->cr ? "\n" : "\r\n", st->cr ? 1 : 2);
        line_ended(st);
        i = end + 1;
    }
}

void pop3_stuffer_finish(struct pop3_stuffer *st, struct evbuffer *out)
{
    /* RFC 1939: the terminator must follow a CRLF of its own. */
    if (!st->done && !st->bol)
        (void)evbuffer_add(out, st->cr ? "\n" : "\r\n", st->cr ? 1 : 2);
    (void)evbuffer_add(out, ".\r\n", 3);
}
