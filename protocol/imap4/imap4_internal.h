/*
 * imap4_internal.h - what the core of imap4srv (main.c, input.c,
 * commands.c, auth.c) shares beyond imap4.h: the per-connection state
 * around struct imap_session and the entry points between the core files.
 * The other parts see only imap4.h.
 */
#ifndef IMAP4_INTERNAL_H
#define IMAP4_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "imap4.h"

/*
 * The state the runtime keeps for a client. The session comes first, so
 * a struct imap_session * handed to a handler converts back (imap_conn()).
 */
struct imap_conn {
    struct imap_session s;
    /* AUTHENTICATE sent "+ ": the next line is the SASL response for this tag. */
    char *sasl_tag;
    /* Octets of a refused non-synchronising literal still to be thrown away. */
    unsigned long long discard_octets;
    /* Over-long lines in a row (the connection goes after a few). */
    int too_long;
    /* imap_capabilities() text. */
    char *capabilities;
};

static inline struct imap_conn *imap_conn(struct imap_session *s)
{
    return (struct imap_conn *)s;
}

/* --- input.c ---------------------------------------------------------------- */

/* One input line / literal of the client (from main.c's hooks). */
void imap_input_line(struct imap_conn *conn, char *line, size_t len);
void imap_input_literal(struct imap_conn *conn, char *data, size_t len);
/* Drops the command being assembled (lines, literals, counters). */
void imap_input_reset(struct imap_session *s);
/* A line longer than MaxLineLength was thrown away. */
void imap_input_too_long(struct imap_conn *conn);

/* --- commands.c -------------------------------------------------------------- */

/*
 * Runs a parsed command: looks it up, checks the state and hands it to
 * its handler, which owns cmd (heap) from then on.
 */
void imap_dispatch(struct imap_session *s, struct imap_cmd *cmd);
/* The session may send passwords: TLS, or PlaintextAuth. */
bool imap_plaintext_ok(struct imap_session *s);

/* --- auth.c ------------------------------------------------------------------ */

/* The line after AUTHENTICATE's "+ " continuation. */
void imap_auth_continue(struct imap_conn *conn, char *line, size_t len);

#endif
