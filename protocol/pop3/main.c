/*
 * NAME
 *      pop3srv - the POP3 server (POP3SRV)
 *
 * SYNOPSIS
 *      pop3srv [-c config] [-f] [instance=N] [connect=conninfo]
 *
 * DESCRIPTION
 *      A Scalable Protocol Server (sps.h): one process serves many POP3
 *      clients that iolistener hands over, with a few worker threads and a
 *      small pool of database connections borrowed only while a command
 *      needs the database.
 *
 *      RFC 1939 (USER, PASS, STAT, LIST, RETR, DELE, NOOP, RSET, QUIT,
 *      TOP, UIDL; APOP is not offered: passwords are stored as yescrypt
 *      hashes), RFC 2449 CAPA with the response codes IN-USE, AUTH,
 *      SYS/TEMP and SYS/PERM, RFC 2595 STLS, RFC 5034 AUTH PLAIN.
 *
 *      The maildrop is the account's INBOX. At login the maildrop is
 *      locked (pop3_lock; a lock of an instance that is not RUNNING, or
 *      that was restarted since, is stale and taken over) and its messages
 *      are snapshot in UID order. UIDL ids are "<UIDVALIDITY>.<UID>" and
 *      stay the same across sessions. RETR and TOP read the stored octets
 *      in chunks and send them dot-stuffed; a message another session
 *      expunged meanwhile gets "-ERR no such message". QUIT removes the
 *      messages marked with DELE in one transaction, as an IMAP EXPUNGE
 *      would (store_mailbox_expunge), and releases the lock; a connection
 *      that drops without QUIT removes nothing.
 *
 *      Parameters (POP3SRV, 013_protocol.sql): PlaintextAuth (without it
 *      USER, PASS and AUTH need STLS or POP3S first), AuthFailureDelay,
 *      IdleTimeout, MaxLineLength and the runtime's WorkerThreads,
 *      DbConnections, MaxClients, AuthCacheTtl.
 *
 * DIAGNOSTICS
 *      As every ofcmail process (ofc_proc). Log: <node>_pop3NN.log, a line
 *      per login, failed login and QUIT (never a password).
 */
/* System. */
#include <stdlib.h>
#include <string.h>

/* libofc. */
#include "ofc_log.h"
#include "ofc_mem.h"

/* Protocol. */
#include "sps.h"

/* This program. */
#include "pop3.h"

static void *client_new(struct sps_client *c)
{
    struct pop3_session *s = ofc_xcalloc(1, sizeof(*s));
    s->client = c;
    s->state = POP3_AUTHORIZATION;
    sps_client_puts(c, "+OK ofcmail POP3 server ready\r\n");
    return s;
}

static void client_free(struct sps_client *c, void *state)
{
    (void)c;
    struct pop3_session *s = state;
    if (s == NULL)
        return;
    /* Dropped without QUIT: nothing is removed, the lock goes (RFC 1939 §6). */
    if (s->lock_session != NULL) {
        ofc_info("%s: %s disconnected without QUIT: no message removed (%zu retrieved)",
                 sps_client_id(c), s->address != NULL ? s->address : "?", s->retrieved);
        pop3_release_lock(s);
    }
    if (s->user != NULL) {
        free(s->user);
        s->user = NULL;
    }
    free(s->address);
    free(s->msgs);
    free(s);
}

static void line(struct sps_client *c, void *state, char *text, size_t len)
{
    (void)c;
    struct pop3_session *s = state;
    if (s->sasl_pending)
        pop3_sasl_response(s, text, len);
    else
        pop3_command(s, text, len);
}

static void line_too_long(struct sps_client *c, void *state)
{
    struct pop3_session *s = state;
    /* An over-long SASL response ends the exchange (RFC 5034 §4: -ERR). */
    s->sasl_pending = false;
    sps_client_puts(c, "-ERR line too long\r\n");
}

static void idle_timeout(struct sps_client *c, void *state)
{
    struct pop3_session *s = state;
    /* RFC 1939 §3: close without a response and without removing anything. */
    ofc_info("%s: %s idle for too long: closed", sps_client_id(c),
             s->address != NULL ? s->address : sps_client_peer(c));
}

static void shutdown_client(struct sps_client *c, void *state)
{
    (void)state;
    sps_client_puts(c, "-ERR [SYS/TEMP] server shutting down\r\n");
}

static int init(struct sps *sps)
{
    return pop3_maildrop_init(sps);
}

static const struct sps_protocol pop3_protocol = {
    .program = "pop3srv",
    .type = "POP3SRV",
    .log_base = "pop3",
    .summary = "the POP3 server (RFC 1939, CAPA, STLS, AUTH PLAIN)",
    .protocol = "pop3",
    .client_new = client_new,
    .client_free = client_free,
    .line = line,
    .line_too_long = line_too_long,
    .literal = NULL,
    .idle_timeout = idle_timeout,
    .shutdown = shutdown_client,
    .init = init,
};

int main(int argc, char **argv)
{
    /* The lock releaser needs the same database as the runtime's pool. */
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], "connect=", 8) == 0)
            pop3_maildrop_set_conninfo(argv[i] + 8);
    return sps_main(&pop3_protocol, argc, argv);
}
