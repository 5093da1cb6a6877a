/*
 * auth.c - the commands of any state and of the not-authenticated state
 * (RFC 3501 §6.1, §6.2): CAPABILITY, NOOP, LOGOUT, ID (RFC 2971), ENABLE
 * (RFC 5161), STARTTLS, AUTHENTICATE PLAIN (RFC 4616, with the initial
 * response of RFC 4959) and LOGIN.
 *
 * Credentials are checked by the runtime (sps_authenticate) in a job.
 * An unknown user and a wrong password get the same answer after the
 * same AuthFailureDelay, so the answer tells nothing about which accounts
 * exist. Passwords are wiped once used and never logged.
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
#include "imap4_internal.h"

/* RFC 5530: the response code says why; the text is what any IMAP client shows. */
#define PRIVACY_REQUIRED "[PRIVACYREQUIRED] plaintext authentication disallowed without TLS"
#define AUTH_FAILED      "[AUTHENTICATIONFAILED] invalid user name or password"

static void done_cmd(struct imap_cmd *cmd)
{
    imap_cmd_free(cmd);
    free(cmd);
}

static void reply(struct imap_session *s, struct imap_cmd *cmd, const char *status,
                  const char *text)
{
    imap_tagged(s, cmd->tag, status, "%s", text);
    done_cmd(cmd);
}

static void wipe(char *p, size_t len)
{
    if (p != NULL)
        explicit_bzero(p, len);
}

/* Client-supplied text for a log line: control and 8-bit octets become '?'. */
static char *log_safe(const char *s, size_t max)
{
    size_t len = strlen(s);
    if (len > max)
        len = max;
    char *out = ofc_xstrndup(s, len);
    for (char *p = out; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
            *p = '?';
    return out;
}

/* --- CAPABILITY, NOOP, LOGOUT --------------------------------------------------- */

void imap_cmd_capability(struct imap_session *s, struct imap_cmd *cmd)
{
    if (cmd->nargs != 0) {
        reply(s, cmd, "BAD", "CAPABILITY takes no arguments");
        return;
    }
    imap_untagged(s, "CAPABILITY %s", imap_capabilities(s));
    reply(s, cmd, "OK", "CAPABILITY completed");
}

void imap_cmd_noop(struct imap_session *s, struct imap_cmd *cmd)
{
    if (cmd->nargs != 0) {
        reply(s, cmd, "BAD", "NOOP takes no arguments");
        return;
    }
    /* RFC 3501 §6.1.2: NOOP is how a client polls for other sessions' changes. */
    if (s->view != NULL) {
        imap_view_sync_command(s, cmd);
        return;
    }
    reply(s, cmd, "OK", "NOOP completed");
}

void imap_cmd_logout(struct imap_session *s, struct imap_cmd *cmd)
{
    if (cmd->nargs != 0) {
        reply(s, cmd, "BAD", "LOGOUT takes no arguments");
        return;
    }
    if (s->user != NULL) {
        ofc_info("%s: %s logged out", sps_client_id(s->c), s->user);
        sps_client_set_logged_in(s->c, false);
    }
    imap_untagged(s, "BYE ofcmail IMAP4rev1 server logging out");
    reply(s, cmd, "OK", "LOGOUT completed");
    s->state = IMAP_LOGOUT;
    sps_client_close(s->c);
}

/* --- ID (RFC 2971) ------------------------------------------------------------------ */

void imap_cmd_id(struct imap_session *s, struct imap_cmd *cmd)
{
    const struct imap_arg *a = cmd->nargs == 1 ? &cmd->args[0] : NULL;
    /* RFC 2971 §3.3: NIL, or up to 30 field/value pairs; fields are strings. */
    bool ok = a != NULL && (a->type == IMAP_ARG_NIL ||
                            (a->type == IMAP_ARG_LIST && a->n % 2 == 0 && a->n <= 60));
    for (size_t i = 0; ok && a->type == IMAP_ARG_LIST && i < a->n; i++) {
        const struct imap_arg *item = &a->list[i];
        if (i % 2 == 0)
            ok = item->type == IMAP_ARG_STRING && item->len <= 30;
        else
            ok = (item->type == IMAP_ARG_STRING && item->len <= 1024) || item->type == IMAP_ARG_NIL;
    }
    if (!ok) {
        reply(s, cmd, "BAD", "invalid ID arguments");
        return;
    }
    const char *name = NULL, *version = NULL;
    for (size_t i = 0; a->type == IMAP_ARG_LIST && i + 1 < a->n; i += 2) {
        if (a->list[i + 1].type != IMAP_ARG_STRING)
            continue;
        if (strcasecmp(a->list[i].s, "name") == 0)
            name = a->list[i + 1].s;
        else if (strcasecmp(a->list[i].s, "version") == 0)
            version = a->list[i + 1].s;
    }
    if (name != NULL || version != NULL) {
        char *n = log_safe(name != NULL ? name : "?", 64);
        char *v = log_safe(version != NULL ? version : "?", 64);
        ofc_info("%s: client is %s %s", sps_client_id(s->c), n, v);
        free(n);
        free(v);
    }
    imap_untagged(s, "ID (\"name\" \"ofcmail\" \"version\" \"%s\")", OFC_VERSION);
    reply(s, cmd, "OK", "ID completed");
}

/* --- ENABLE (RFC 5161) ------------------------------------------------------------- */

void imap_cmd_enable(struct imap_session *s, struct imap_cmd *cmd)
{
    if (cmd->nargs == 0) {
        reply(s, cmd, "BAD", "ENABLE needs capability names");
        return;
    }
    for (size_t i = 0; i < cmd->nargs; i++) {
        if (cmd->args[i].type != IMAP_ARG_ATOM) {
            reply(s, cmd, "BAD", "invalid ENABLE arguments");
            return;
        }
    }
    /* Only what this command newly enabled is listed (RFC 5161 §3.1). */
    struct ofc_strbuf enabled = OFC_STRBUF_INIT;
    ofc_strbuf_puts(&enabled, "ENABLED");
    bool offer_qresync = strstr(imap_capabilities(s), " QRESYNC") != NULL;
    for (size_t i = 0; i < cmd->nargs; i++) {
        const struct imap_arg *a = &cmd->args[i];
        if (imap_arg_is(a, "CONDSTORE") && !s->condstore) {
            s->condstore = true;
            ofc_strbuf_puts(&enabled, " CONDSTORE");
        } else if (imap_arg_is(a, "QRESYNC") && offer_qresync && !s->qresync) {
            /* RFC 7162 §3.2.3: QRESYNC implies CONDSTORE. */
            s->qresync = true;
            s->condstore = true;
            ofc_strbuf_puts(&enabled, " QRESYNC");
        }
    }
    imap_untagged(s, "%s", enabled.data);
    ofc_strbuf_free(&enabled);
    reply(s, cmd, "OK", "ENABLE completed");
}

/* --- STARTTLS ------------------------------------------------------------------------- */

void imap_cmd_starttls(struct imap_session *s, struct imap_cmd *cmd)
{
    if (cmd->nargs != 0) {
        reply(s, cmd, "BAD", "STARTTLS takes no arguments");
        return;
    }
    if (sps_client_is_tls(s->c)) {
        reply(s, cmd, "BAD", "TLS is already active");
        return;
    }
    if (!sps_client_tls_available(s->c)) {
        reply(s, cmd, "BAD", "STARTTLS is not available");
        return;
    }
    reply(s, cmd, "OK", "Begin TLS negotiation now");
    /* The runtime forgets input sent before the handshake (RFC 3501 §6.2.1, RFC 3207 §4.2). */
    if (!sps_client_starttls(s->c))
        ofc_warn("%s: STARTTLS failed to start although a certificate was announced",
                 sps_client_id(s->c));
}

/* --- Logging in --------------------------------------------------------------------- */

enum login_result { LOGIN_OK, LOGIN_BAD, LOGIN_ERROR };

struct login_job {
    char *tag;
    char *user;
    char *password;
    const char *how; /* "LOGIN", "AUTHENTICATE" */
    enum login_result result;
    long long account_id;
    char *address;
    char *error;
};

static void login_job_free(struct login_job *j)
{
    free(j->tag);
    free(j->user);
    if (j->password != NULL) {
        wipe(j->password, strlen(j->password));
        free(j->password);
    }
    free(j->address);
    free(j->error);
    free(j);
}

static void login_fn(struct sps_job *job)
{
    struct login_job *j = job->arg;
    int rc =
        sps_authenticate(job->db, j->user, j->password, &j->account_id, &j->address, &j->error);
    wipe(j->password, strlen(j->password));
    j->result = rc == 1 ? LOGIN_OK : rc == 0 ? LOGIN_BAD : LOGIN_ERROR;
}

static void login_failed_done(struct sps_client *c, void *state, void *arg)
{
    (void)c;
    struct login_job *j = arg;
    imap_tagged(&((struct imap_conn *)state)->s, j->tag, "NO", AUTH_FAILED);
    login_job_free(j);
}

static void login_done(struct sps_client *c, void *state, void *arg)
{
    struct imap_conn *conn = state;
    struct imap_session *s = &conn->s;
    struct login_job *j = arg;
    if (sps_client_closed(c)) {
        login_job_free(j);
        return;
    }
    char *user = log_safe(j->user, 256);
    const char *tls = sps_client_is_tls(c) ? " TLS" : "";
    switch (j->result) {
    case LOGIN_OK:
        s->state = IMAP_AUTHENTICATED;
        s->account_id = j->account_id;
        s->user = j->address;
        j->address = NULL;
        sps_client_set_logged_in(c, true);
        ofc_info("%s: login %s (user %s) from %s%s (%s)", sps_client_id(c), s->user, user,
                 sps_client_peer(c), tls, j->how);
        /* RFC 3501 §6.2.3: the capabilities change at login; saying so saves a round trip. */
        imap_tagged(s, j->tag, "OK", "[CAPABILITY %s] %s completed", imap_capabilities(s), j->how);
        break;
    case LOGIN_BAD: {
        ofc_info("%s: login failed for user %s from %s%s (%s): invalid user name or password",
                 sps_client_id(c), user, sps_client_peer(c), tls, j->how);
        long long delay = sps_param_int(sps_client_sps(c), "AuthFailureDelay", 2);
        free(user);
        if (delay > 0) {
            sps_client_delay(c, (int)(delay > 60 ? 60 : delay), login_failed_done, j);
            return;
        }
        login_failed_done(c, state, j);
        return;
    }
    case LOGIN_ERROR:
    default:
        ofc_error("%s: login of user %s from %s failed: %s", sps_client_id(c), user,
                  sps_client_peer(c), j->error != NULL ? j->error : "unknown error");
        imap_tagged(s, j->tag, "NO", "[UNAVAILABLE] temporary failure, try again later");
        break;
    }
    free(user);
    login_job_free(j);
}

/* Checks user and password in a job and answers; takes ownership of user and password. */
static void login(struct imap_session *s, const char *tag, char *user, char *password,
                  const char *how)
{
    struct login_job *j = ofc_xcalloc(1, sizeof(*j));
    j->tag = ofc_xstrdup(tag);
    j->user = user;
    j->password = password;
    j->how = how;
    j->result = LOGIN_ERROR;
    sps_client_run(s->c, login_fn, login_done, j);
}

/* A string argument with its octets wiped (it may be a password). */
static void wipe_arg(struct imap_arg *a)
{
    if (a->s != NULL)
        wipe(a->s, a->len);
}

void imap_cmd_login(struct imap_session *s, struct imap_cmd *cmd)
{
    const char *user = cmd->nargs == 2 ? imap_arg_astring(&cmd->args[0]) : NULL;
    const char *password = cmd->nargs == 2 ? imap_arg_astring(&cmd->args[1]) : NULL;
    if (user == NULL || password == NULL) {
        for (size_t i = 0; i < cmd->nargs; i++)
            wipe_arg(&cmd->args[i]);
        reply(s, cmd, "BAD", "LOGIN needs a user name and a password");
        return;
    }
    if (!imap_plaintext_ok(s)) {
        wipe_arg(&cmd->args[1]);
        reply(s, cmd, "NO", PRIVACY_REQUIRED);
        return;
    }
    /* A NUL (possible in a literal) would cut the name or password short. */
    if (strlen(user) != cmd->args[0].len || strlen(password) != cmd->args[1].len ||
        user[0] == '\0') {
        wipe_arg(&cmd->args[1]);
        ofc_info("%s: login failed from %s: malformed user name or password", sps_client_id(s->c),
                 sps_client_peer(s->c));
        reply(s, cmd, "NO", AUTH_FAILED);
        return;
    }
    char *u = ofc_xstrdup(user);
    char *p = ofc_xstrdup(password);
    wipe_arg(&cmd->args[1]);
    login(s, cmd->tag, u, p, "LOGIN");
    done_cmd(cmd);
}

/* --- AUTHENTICATE PLAIN ------------------------------------------------------------- */

/* The SASL PLAIN response (base64 text) of the command `tag`. */
static void sasl_plain(struct imap_session *s, const char *tag, const char *text, size_t len)
{
    char *msg = NULL;
    size_t mlen = 0;
    /* RFC 4959 §3: "=" is an empty initial response. */
    if (len == 1 && text[0] == '=') {
        msg = ofc_xstrdup("");
    } else if (sps_base64_decode(text, len, &msg, &mlen) != 0) {
        imap_tagged(s, tag, "BAD", "invalid base64 in SASL response");
        return;
    }
    const char *authzid = NULL, *authcid = NULL, *password = NULL;
    if (sps_sasl_plain_split(msg, mlen, &authzid, &authcid, &password) != 0 || authcid[0] == '\0') {
        imap_tagged(s, tag, "BAD", "malformed SASL PLAIN response");
    } else if (authzid[0] != '\0' && strcmp(authzid, authcid) != 0) {
        /* No proxy authorisation. */
        char *a = log_safe(authcid, 256), *z = log_safe(authzid, 256);
        ofc_info("%s: login of %s as %s from %s refused: no proxy authorization",
                 sps_client_id(s->c), a, z, sps_client_peer(s->c));
        free(a);
        free(z);
        imap_tagged(s, tag, "NO", "[AUTHORIZATIONFAILED] authorization identity not allowed");
    } else {
        login(s, tag, ofc_xstrdup(authcid), ofc_xstrdup(password), "AUTHENTICATE");
    }
    wipe(msg, mlen);
    free(msg);
}

void imap_cmd_authenticate(struct imap_session *s, struct imap_cmd *cmd)
{
    if (cmd->nargs < 1 || cmd->nargs > 2 || cmd->args[0].type != IMAP_ARG_ATOM ||
        (cmd->nargs == 2 && cmd->args[1].type != IMAP_ARG_ATOM)) {
        if (cmd->nargs == 2)
            wipe_arg(&cmd->args[1]);
        reply(s, cmd, "BAD", "AUTHENTICATE needs a mechanism name");
        return;
    }
    if (!imap_arg_is(&cmd->args[0], "PLAIN")) {
        if (cmd->nargs == 2)
            wipe_arg(&cmd->args[1]);
        reply(s, cmd, "NO", "[CANNOT] unsupported authentication mechanism");
        return;
    }
    if (!imap_plaintext_ok(s)) {
        if (cmd->nargs == 2)
            wipe_arg(&cmd->args[1]);
        reply(s, cmd, "NO", PRIVACY_REQUIRED);
        return;
    }
    if (cmd->nargs == 2) {
        sasl_plain(s, cmd->tag, cmd->args[1].s, cmd->args[1].len);
        wipe_arg(&cmd->args[1]);
        done_cmd(cmd);
        return;
    }
    struct imap_conn *conn = imap_conn(s);
    conn->sasl_tag = ofc_xstrdup(cmd->tag);
    sps_client_puts(s->c, "+ \r\n");
    done_cmd(cmd);
}

void imap_auth_continue(struct imap_conn *conn, char *line, size_t len)
{
    struct imap_session *s = &conn->s;
    char *tag = conn->sasl_tag;
    conn->sasl_tag = NULL;
    /* RFC 3501 §6.2.2: "*" cancels, and the server answers BAD. */
    if (len == 1 && line[0] == '*')
        imap_tagged(s, tag, "BAD", "authentication cancelled");
    else if (strlen(line) != len)
        imap_tagged(s, tag, "BAD", "invalid base64 in SASL response");
    else
        sasl_plain(s, tag, line, len);
    wipe(line, len);
    free(tag);
}
