/*
 * auth.c - AUTHORIZATION state: USER/PASS (RFC 1939 §7), AUTH PLAIN
 * (RFC 5034, RFC 4616) and STLS (RFC 2595). The checks of the credentials
 * and the maildrop lock run in one job (maildrop.c); here the commands
 * are parsed and refused when passwords may not travel in the clear.
 */
/* System. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* libofc. */
#include "ofc_log.h"
#include "ofc_mem.h"

/* Protocol. */
#include "sps.h"

/* This program. */
#include "pop3.h"

/* RFC 2449 §8.1.2: [AUTH] says the credentials cannot be taken like this. */
#define PLAINTEXT_REFUSED                                                                          \
    "-ERR [AUTH] plaintext authentication disallowed without TLS; use STLS\r\n"

static void wipe(char *p, size_t len)
{
    if (p != NULL)
        explicit_bzero(p, len);
}

void pop3_cmd_user(struct pop3_session *s, char *arg)
{
    if (!pop3_plaintext_ok(s)) {
        sps_client_puts(s->client, PLAINTEXT_REFUSED);
        return;
    }
    if (arg == NULL || arg[0] == '\0') {
        sps_client_puts(s->client, "-ERR user name missing\r\n");
        return;
    }
    free(s->user);
    s->user = ofc_xstrdup(arg);
    sps_client_puts(s->client, "+OK send the password\r\n");
}

void pop3_cmd_pass(struct pop3_session *s, char *arg)
{
    size_t len = arg != NULL ? strlen(arg) : 0;
    if (!pop3_plaintext_ok(s)) {
        wipe(arg, len);
        sps_client_puts(s->client, PLAINTEXT_REFUSED);
        return;
    }
    if (s->user == NULL) {
        wipe(arg, len);
        sps_client_puts(s->client, "-ERR send USER first\r\n");
        return;
    }
    char *user = s->user;
    s->user = NULL;
    char *password = ofc_xstrdup(arg != NULL ? arg : "");
    wipe(arg, len);
    pop3_login(s, user, password);
}

/* SASL PLAIN's message, decoded: authzid NUL authcid NUL password. */
static void sasl_plain(struct pop3_session *s, char *msg, size_t len)
{
    const char *authzid = NULL, *authcid = NULL, *password = NULL;
    if (sps_sasl_plain_split(msg, len, &authzid, &authcid, &password) != 0 || authcid[0] == '\0') {
        sps_client_puts(s->client, "-ERR malformed SASL PLAIN response\r\n");
        return;
    }
    /* No proxy authorisation: a second identity is refused like wrong credentials. */
    if (authzid[0] != '\0' && strcmp(authzid, authcid) != 0) {
        ofc_info("%s: login of %s as %s from %s refused: no proxy authorization",
                 sps_client_id(s->client), authcid, authzid, sps_client_peer(s->client));
        sps_client_puts(s->client, "-ERR [AUTH] authorization identity not allowed\r\n");
        return;
    }
    pop3_login(s, ofc_xstrdup(authcid), ofc_xstrdup(password));
}

static void sasl_response(struct pop3_session *s, const char *text, size_t len)
{
    char *msg = NULL;
    size_t mlen = 0;
    /* RFC 5034 §4: "=" is an empty initial response. */
    if (strcmp(text, "=") == 0) {
        msg = ofc_xstrdup("");
    } else if (sps_base64_decode(text, len, &msg, &mlen) != 0) {
        sps_client_puts(s->client, "-ERR invalid base64 in SASL response\r\n");
        return;
    }
    sasl_plain(s, msg, mlen);
    wipe(msg, mlen);
    free(msg);
}

void pop3_cmd_auth(struct pop3_session *s, char *arg)
{
    if (arg == NULL || arg[0] == '\0') {
        /* The mechanism list many clients ask for (RFC 1734 style). */
        sps_client_puts(s->client, pop3_plaintext_ok(s) ? "+OK\r\nPLAIN\r\n.\r\n" : "+OK\r\n.\r\n");
        return;
    }
    char *ir = strchr(arg, ' ');
    if (ir != NULL)
        *ir++ = '\0';
    size_t irlen = ir != NULL ? strlen(ir) : 0;
    if (strcasecmp(arg, "PLAIN") != 0) {
        wipe(ir, irlen);
        sps_client_puts(s->client, "-ERR unsupported authentication mechanism\r\n");
        return;
    }
    if (!pop3_plaintext_ok(s)) {
        wipe(ir, irlen);
        sps_client_puts(s->client, PLAINTEXT_REFUSED);
        return;
    }
    if (ir == NULL) {
        s->sasl_pending = true;
        sps_client_puts(s->client, "+ \r\n");
        return;
    }
    sasl_response(s, ir, irlen);
    wipe(ir, irlen);
}

void pop3_sasl_response(struct pop3_session *s, char *line, size_t len)
{
    s->sasl_pending = false;
    if (strcmp(line, "*") == 0) {
        sps_client_puts(s->client, "-ERR authentication cancelled\r\n");
        return;
    }
    if (strlen(line) != len) {
        wipe(line, len);
        sps_client_puts(s->client, "-ERR invalid base64 in SASL response\r\n");
        return;
    }
    sasl_response(s, line, len);
    wipe(line, len);
}

void pop3_cmd_stls(struct pop3_session *s, char *arg)
{
    (void)arg;
    struct sps_client *c = s->client;
    if (sps_client_is_tls(c)) {
        sps_client_puts(c, "-ERR TLS already active\r\n");
        return;
    }
    if (!sps_client_tls_available(c)) {
        sps_client_puts(c, "-ERR STLS not available\r\n");
        return;
    }
    /* RFC 2595 §4: whatever was said before the handshake is forgotten. */
    free(s->user);
    s->user = NULL;
    sps_client_puts(c, "+OK begin TLS negotiation\r\n");
    if (!sps_client_starttls(c))
        ofc_warn("%s: STLS failed to start although a certificate was announced", sps_client_id(c));
}
