/*
 * NAME
 *      imap4srv - the IMAP4rev1 server (IMAP4SRV)
 *
 * SYNOPSIS
 *      imap4srv [-c config] [-f] [instance=N] [connect=conninfo]
 *
 * DESCRIPTION
 *      A Scalable Protocol Server (sps.h): one process serves many IMAP
 *      clients that iolistener hands over, with a few worker threads and
 *      a small pool of database connections borrowed only while a command
 *      needs the database.
 *
 *      RFC 3501 with LITERAL+ (RFC 7888), ID (2971), ENABLE (5161), IDLE
 *      (2177), NAMESPACE (2342), UIDPLUS (4315), MOVE (6851), UNSELECT
 *      (3691), CHILDREN (3348), SPECIAL-USE (6154), QUOTA (9208),
 *      CONDSTORE (7162), SASL-IR (4959) and AUTHENTICATE PLAIN. The parts
 *      and what they share are described in imap4.h.
 *
 *      Parameters (IMAP4SRV, 013_protocol.sql): PlaintextAuth (without it
 *      LOGIN and AUTHENTICATE need STARTTLS or IMAPS first), AuthFailureDelay,
 *      IdleTimeout (the autologout timer), MaxLineLength, MaxLiteralLength
 *      and the runtime's WorkerThreads, DbConnections, MaxClients,
 *      AuthCacheTtl.
 *
 * DIAGNOSTICS
 *      As every ofcmail process (ofc_proc). Log: <node>_imapNN.log, a line
 *      per login, failed login, logout and autologout (never a password).
 */
/* System. */
#include <stdlib.h>

/* libofc. */
#include "ofc_log.h"
#include "ofc_mem.h"

/* Protocol. */
#include "sps.h"

/* This program. */
#include "imap4_internal.h"

long long imap_param_int(struct imap_session *s, const char *name, long long dflt)
{
    return sps_param_int(sps_client_sps(s->c), name, dflt);
}

static void *client_new(struct sps_client *c)
{
    struct imap_conn *conn = ofc_xcalloc(1, sizeof(*conn));
    struct imap_session *s = &conn->s;
    s->c = c;
    s->state = IMAP_NOT_AUTHENTICATED;
    /* RFC 3501 §7.1: the capabilities in the greeting save a round trip. */
    sps_client_printf(c, "* OK [CAPABILITY %s] ofcmail IMAP4rev1 ready\r\n", imap_capabilities(s));
    return conn;
}

static void free_view(struct imap_view **vp)
{
    struct imap_view *v = *vp;
    if (v == NULL)
        return;
    free(v->name);
    free(v->uids);
    free(v);
    *vp = NULL;
}

static void client_free(struct sps_client *c, void *state)
{
    struct imap_conn *conn = state;
    if (conn == NULL)
        return;
    struct imap_session *s = &conn->s;
    if (s->state == IMAP_AUTHENTICATED || s->state == IMAP_SELECTED)
        ofc_info("%s: %s disconnected without LOGOUT", sps_client_id(c),
                 s->user != NULL ? s->user : "?");
    imap_input_reset(s);
    free_view(&s->view);
    OFC_FREE(s->user);
    OFC_FREE(s->idle_tag);
    OFC_FREE(conn->sasl_tag);
    OFC_FREE(conn->capabilities);
    free(conn);
}

static void line(struct sps_client *c, void *state, char *text, size_t len)
{
    (void)c;
    imap_input_line(state, text, len);
}

static void literal(struct sps_client *c, void *state, char *data, size_t len)
{
    (void)c;
    imap_input_literal(state, data, len);
}

static void line_too_long(struct sps_client *c, void *state)
{
    (void)c;
    imap_input_too_long(state);
}

static void idle_timeout(struct sps_client *c, void *state)
{
    struct imap_conn *conn = state;
    /* RFC 3501 §5.4: the autologout says why. */
    ofc_info("%s: %s idle for too long: autologout", sps_client_id(c),
             conn->s.user != NULL ? conn->s.user : sps_client_peer(c));
    sps_client_puts(c, "* BYE Autologout; idle for too long\r\n");
    conn->s.state = IMAP_LOGOUT;
}

static void shutdown_client(struct sps_client *c, void *state)
{
    struct imap_conn *conn = state;
    sps_client_puts(c, "* BYE [UNAVAILABLE] server shutting down\r\n");
    conn->s.state = IMAP_LOGOUT;
}

static const struct sps_protocol imap_protocol = {
    .program = "imap4srv",
    .type = "IMAP4SRV",
    .log_base = "imap",
    .summary = "the IMAP4rev1 server (RFC 3501, LITERAL+, IDLE, UIDPLUS, MOVE, CONDSTORE, ...)",
    .protocol = "imap",
    .client_new = client_new,
    .client_free = client_free,
    .line = line,
    .line_too_long = line_too_long,
    .literal = literal,
    .idle_timeout = idle_timeout,
    .shutdown = shutdown_client,
    .init = imap_sql_prepare,
};

int main(int argc, char **argv)
{
    return sps_main(&imap_protocol, argc, argv);
}
