/*
 * commands.c - the IMAP command table (name, states, whether a UID form
 * exists, handler), dispatch with the state checks derived from it, the
 * CAPABILITY list, and the writing helpers every part uses.
 */
/* System. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Libraries. */
#include <event2/buffer.h>

/* libofc. */
#include "ofc_log.h"
#include "ofc_mem.h"

/* Protocol. */
#include "sps.h"

/* This program. */
#include "imap4_internal.h"

#define IN_NOAUTH (1u << IMAP_NOT_AUTHENTICATED)
#define IN_AUTH   (1u << IMAP_AUTHENTICATED)
#define IN_SEL    (1u << IMAP_SELECTED)
#define IN_ANY    (IN_NOAUTH | IN_AUTH | IN_SEL)
#define IN_LOGGED (IN_AUTH | IN_SEL)

struct imap_command {
    const char *name;
    unsigned states;
    bool uid; /* "UID <name>" exists (RFC 3501 §6.4.8, UIDPLUS, MOVE) */
    imap_handler *fn;
};

static const struct imap_command commands[] = {
    /* RFC 3501 §6.1: any state. */
    {"CAPABILITY", IN_ANY, false, imap_cmd_capability},
    {"NOOP", IN_ANY, false, imap_cmd_noop},
    {"LOGOUT", IN_ANY, false, imap_cmd_logout},
    {"ID", IN_ANY, false, imap_cmd_id},
    /* §6.2: not authenticated. */
    {"STARTTLS", IN_NOAUTH, false, imap_cmd_starttls},
    {"AUTHENTICATE", IN_NOAUTH, false, imap_cmd_authenticate},
    {"LOGIN", IN_NOAUTH, false, imap_cmd_login},
    /* §6.3: authenticated (and so selected). RFC 5161: ENABLE before any SELECT. */
    {"ENABLE", IN_AUTH, false, imap_cmd_enable},
    {"SELECT", IN_LOGGED, false, imap_cmd_select},
    {"EXAMINE", IN_LOGGED, false, imap_cmd_examine},
    {"CREATE", IN_LOGGED, false, imap_cmd_create},
    {"DELETE", IN_LOGGED, false, imap_cmd_delete},
    {"RENAME", IN_LOGGED, false, imap_cmd_rename},
    {"SUBSCRIBE", IN_LOGGED, false, imap_cmd_subscribe},
    {"UNSUBSCRIBE", IN_LOGGED, false, imap_cmd_unsubscribe},
    {"LIST", IN_LOGGED, false, imap_cmd_list},
    {"LSUB", IN_LOGGED, false, imap_cmd_lsub},
    {"STATUS", IN_LOGGED, false, imap_cmd_status},
    {"APPEND", IN_LOGGED, false, imap_cmd_append},
    {"NAMESPACE", IN_LOGGED, false, imap_cmd_namespace},
    {"GETQUOTA", IN_LOGGED, false, imap_cmd_getquota},
    {"GETQUOTAROOT", IN_LOGGED, false, imap_cmd_getquotaroot},
    {"IDLE", IN_LOGGED, false, imap_cmd_idle},
    /* §6.4: selected. */
    {"CHECK", IN_SEL, false, imap_cmd_check},
    {"CLOSE", IN_SEL, false, imap_cmd_close},
    {"UNSELECT", IN_SEL, false, imap_cmd_unselect},
    {"EXPUNGE", IN_SEL, true, imap_cmd_expunge},
    {"SEARCH", IN_SEL, true, imap_cmd_search},
    {"FETCH", IN_SEL, true, imap_cmd_fetch},
    {"STORE", IN_SEL, true, imap_cmd_store},
    {"COPY", IN_SEL, true, imap_cmd_copy},
    {"MOVE", IN_SEL, true, imap_cmd_move},
};

/*
 * QRESYNC (RFC 7162) is offered only once the selected-state part
 * implements it (QRESYNC parameters of SELECT, VANISHED).
 */
static const bool qresync_offered = false;

bool imap_plaintext_ok(struct imap_session *s)
{
    return sps_client_is_tls(s->c) || sps_param_bool(sps_client_sps(s->c), "PlaintextAuth", true);
}

const char *imap_capabilities(struct imap_session *s)
{
    struct imap_conn *conn = imap_conn(s);
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    ofc_strbuf_puts(&sb, "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UIDPLUS MOVE "
                         "UNSELECT CHILDREN SPECIAL-USE CREATE-SPECIAL-USE QUOTA QUOTA=RES-STORAGE "
                         "STATUS=SIZE CONDSTORE");
    if (qresync_offered)
        ofc_strbuf_puts(&sb, " QRESYNC");
    if (s->state == IMAP_NOT_AUTHENTICATED) {
        if (!sps_client_is_tls(s->c) && sps_client_tls_available(s->c))
            ofc_strbuf_puts(&sb, " STARTTLS");
        /* RFC 3501 §6.2.3 / §7.2.1: LOGINDISABLED while passwords may not travel. */
        if (imap_plaintext_ok(s))
            ofc_strbuf_puts(&sb, " AUTH=PLAIN");
        else
            ofc_strbuf_puts(&sb, " LOGINDISABLED");
    }
    free(conn->capabilities);
    conn->capabilities = ofc_strbuf_detach(&sb);
    return conn->capabilities;
}

static const struct imap_command *lookup(const char *name)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void refuse(struct imap_session *s, struct imap_cmd *cmd, const char *status,
                   const char *text)
{
    imap_tagged(s, cmd->tag, status, "%s", text);
    imap_cmd_free(cmd);
    free(cmd);
}

/* Why a command is not valid now, in the words clients show. */
static const char *wrong_state(const struct imap_session *s, const struct imap_command *ic)
{
    if (s->state == IMAP_NOT_AUTHENTICATED)
        return "command requires login";
    if ((ic->states & IN_NOAUTH) != 0)
        return "already authenticated";
    if (ic->states == IN_SEL)
        return "no mailbox selected";
    return "command not valid in this state";
}

void imap_dispatch(struct imap_session *s, struct imap_cmd *cmd)
{
    if (s->state == IMAP_LOGOUT) {
        imap_cmd_free(cmd);
        free(cmd);
        return;
    }
    const struct imap_command *ic = lookup(cmd->name);
    if (ic == NULL || (cmd->uid && !ic->uid)) {
        refuse(s, cmd, "BAD", "unknown command");
        return;
    }
    if ((ic->states & (1u << s->state)) == 0) {
        refuse(s, cmd, "BAD", wrong_state(s, ic));
        return;
    }
    ofc_debug("%s: %s %s%s", sps_client_id(s->c), cmd->tag, cmd->uid ? "UID " : "", cmd->name);
    ic->fn(s, cmd);
}

/* --- Writing ------------------------------------------------------------------ */

void imap_tagged(struct imap_session *s, const char *tag, const char *status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = ofc_xvasprintf(fmt, ap);
    va_end(ap);
    sps_client_printf(s->c, "%s %s %s\r\n", tag, status, text);
    free(text);
}

void imap_untagged(struct imap_session *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = ofc_xvasprintf(fmt, ap);
    va_end(ap);
    sps_client_printf(s->c, "* %s\r\n", text);
    free(text);
}

void imap_out_printf(struct evbuffer *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = evbuffer_add_vprintf(out, fmt, ap);
    va_end(ap);
    if (rc < 0)
        ofc_panic("out of memory for IMAP output");
}

static void add(struct evbuffer *out, const void *data, size_t len)
{
    if (evbuffer_add(out, data, len) != 0)
        ofc_panic("out of memory for IMAP output");
}

/* Longer strings go as literals: a quoted string is one line the client must buffer. */
#define MAX_QUOTED 1024

void imap_write_string(struct evbuffer *out, const char *s, size_t len)
{
    if (s == NULL) {
        add(out, "NIL", 3);
        return;
    }
    bool quotable = len <= MAX_QUOTED;
    for (size_t i = 0; quotable && i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        /* RFC 3501 quoted: TEXT-CHAR (7-bit, no NUL, CR, LF). */
        if (ch == 0 || ch == '\r' || ch == '\n' || ch >= 0x80)
            quotable = false;
    }
    if (!quotable) {
        imap_out_printf(out, "{%zu}\r\n", len);
        add(out, s, len);
        return;
    }
    add(out, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\') {
            add(out, s + run, i - run);
            add(out, "\\", 1);
            run = i;
        }
    }
    add(out, s + run, len - run);
    add(out, "\"", 1);
}

void imap_write_nstring(struct evbuffer *out, const char *s)
{
    imap_write_string(out, s, s != NULL ? strlen(s) : 0);
}

void imap_write_mailbox(struct evbuffer *out, const char *utf8_name)
{
    char *name = imap_mutf7_encode(utf8_name);
    imap_write_string(out, name, strlen(name));
    free(name);
}
