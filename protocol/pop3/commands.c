/*
 * commands.c - the POP3 command table and the commands that need no
 * database: the table says in which states a command is valid and how
 * many arguments it takes; dispatch and the checks derive from it.
 */
/* System. */
#include <ctype.h>
#include <errno.h>
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

#define IN_AUTH  (1u << POP3_AUTHORIZATION)
#define IN_TRANS (1u << POP3_TRANSACTION)

/* How the text after the command name is taken. */
enum arg_kind {
    ARG_NONE, /* nothing may follow */
    ARG_OPT,  /* one word, optional (LIST [n]) */
    ARG_ONE,  /* one word (RETR n) */
    ARG_TWO,  /* two words (TOP n lines) */
    ARG_REST, /* the rest of the line, spaces included (USER, PASS, AUTH) */
};

struct pop3_cmd {
    const char *name;
    unsigned states;
    enum arg_kind args;
    void (*fn)(struct pop3_session *s, char *arg);
};

bool pop3_plaintext_ok(struct pop3_session *s)
{
    return sps_client_is_tls(s->client) ||
           sps_param_bool(sps_client_sps(s->client), "PlaintextAuth", true);
}

/* --- Message numbers -------------------------------------------------------- */

struct pop3_msg *pop3_msg_arg(struct pop3_session *s, const char *arg)
{
    char *end = NULL;
    if (arg == NULL || !isdigit((unsigned char)arg[0])) {
        sps_client_puts(s->client, "-ERR invalid message number\r\n");
        return NULL;
    }
    errno = 0;
    unsigned long long n = strtoull(arg, &end, 10);
    if (errno != 0 || *end != '\0' || n == 0 || n > s->nmsgs) {
        sps_client_puts(s->client, "-ERR no such message\r\n");
        return NULL;
    }
    struct pop3_msg *m = &s->msgs[n - 1];
    if (m->deleted) {
        sps_client_printf(s->client, "-ERR message %llu already deleted\r\n", n);
        return NULL;
    }
    return m;
}

static size_t msg_number(const struct pop3_session *s, const struct pop3_msg *m)
{
    return (size_t)(m - s->msgs) + 1;
}

static void maildrop_totals(const struct pop3_session *s, size_t *count_r, long long *octets_r)
{
    size_t count = 0;
    long long octets = 0;
    for (size_t i = 0; i < s->nmsgs; i++) {
        if (!s->msgs[i].deleted) {
            count++;
            octets += s->msgs[i].size;
        }
    }
    *count_r = count;
    *octets_r = octets;
}

/* --- Commands --------------------------------------------------------------- */

void pop3_capa(struct pop3_session *s)
{
    struct sps_client *c = s->client;
    bool plain = pop3_plaintext_ok(s);
    sps_client_puts(c, "+OK capability list follows\r\nTOP\r\n");
    /* RFC 2449 §6.8/6.3: only what works now is listed. */
    if (s->state == POP3_AUTHORIZATION && plain)
        sps_client_puts(c, "USER\r\n");
    sps_client_puts(c, "UIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n");
    if (s->state == POP3_AUTHORIZATION && plain)
        sps_client_puts(c, "SASL PLAIN\r\n");
    if (s->state == POP3_AUTHORIZATION && !sps_client_is_tls(c) && sps_client_tls_available(c))
        sps_client_puts(c, "STLS\r\n");
    sps_client_puts(c, "IMPLEMENTATION ofcmail\r\n.\r\n");
}

static void cmd_capa(struct pop3_session *s, char *arg)
{
    (void)arg;
    pop3_capa(s);
}

static void cmd_quit(struct pop3_session *s, char *arg)
{
    (void)arg;
    if (s->state == POP3_TRANSACTION) {
        pop3_update(s);
        return;
    }
    sps_client_puts(s->client, "+OK ofcmail POP3 server signing off\r\n");
    sps_client_close(s->client);
}

static void cmd_stat(struct pop3_session *s, char *arg)
{
    (void)arg;
    size_t count;
    long long octets;
    maildrop_totals(s, &count, &octets);
    sps_client_printf(s->client, "+OK %zu %lld\r\n", count, octets);
}

static void cmd_list(struct pop3_session *s, char *arg)
{
    if (arg != NULL) {
        struct pop3_msg *m = pop3_msg_arg(s, arg);
        if (m != NULL)
            sps_client_printf(s->client, "+OK %zu %lld\r\n", msg_number(s, m), m->size);
        return;
    }
    size_t count;
    long long octets;
    maildrop_totals(s, &count, &octets);
    sps_client_printf(s->client, "+OK %zu messages (%lld octets)\r\n", count, octets);
    for (size_t i = 0; i < s->nmsgs; i++)
        if (!s->msgs[i].deleted)
            sps_client_printf(s->client, "%zu %lld\r\n", i + 1, s->msgs[i].size);
    sps_client_puts(s->client, ".\r\n");
}

static void cmd_uidl(struct pop3_session *s, char *arg)
{
    /* RFC 1939 §7: unique and persistent; UIDVALIDITY makes them so across a re-created INBOX. */
    if (arg != NULL) {
        struct pop3_msg *m = pop3_msg_arg(s, arg);
        if (m != NULL)
            sps_client_printf(s->client, "+OK %zu %lld.%lld\r\n", msg_number(s, m), s->uidvalidity,
                              m->uid);
        return;
    }
    sps_client_puts(s->client, "+OK unique-id listing follows\r\n");
    for (size_t i = 0; i < s->nmsgs; i++)
        if (!s->msgs[i].deleted)
            sps_client_printf(s->client, "%zu %lld.%lld\r\n", i + 1, s->uidvalidity,
                              s->msgs[i].uid);
    sps_client_puts(s->client, ".\r\n");
}

static void cmd_retr(struct pop3_session *s, char *arg)
{
    struct pop3_msg *m = pop3_msg_arg(s, arg);
    if (m != NULL)
        pop3_retrieve(s, m, -1);
}

static void cmd_top(struct pop3_session *s, char *arg)
{
    char *lines = strchr(arg, ' ');
    *lines++ = '\0';
    char *end = NULL;
    errno = 0;
    long long n = isdigit((unsigned char)lines[0]) ? strtoll(lines, &end, 10) : -1;
    if (n < 0 || errno != 0 || *end != '\0') {
        sps_client_puts(s->client, "-ERR invalid number of lines\r\n");
        return;
    }
    struct pop3_msg *m = pop3_msg_arg(s, arg);
    if (m != NULL)
        pop3_retrieve(s, m, n);
}

static void cmd_dele(struct pop3_session *s, char *arg)
{
    struct pop3_msg *m = pop3_msg_arg(s, arg);
    if (m == NULL)
        return;
    m->deleted = true;
    sps_client_printf(s->client, "+OK message %zu deleted\r\n", msg_number(s, m));
}

static void cmd_rset(struct pop3_session *s, char *arg)
{
    (void)arg;
    for (size_t i = 0; i < s->nmsgs; i++)
        s->msgs[i].deleted = false;
    size_t count;
    long long octets;
    maildrop_totals(s, &count, &octets);
    sps_client_printf(s->client, "+OK maildrop has %zu messages (%lld octets)\r\n", count, octets);
}

static void cmd_noop(struct pop3_session *s, char *arg)
{
    (void)arg;
    sps_client_puts(s->client, "+OK\r\n");
}

static const struct pop3_cmd commands[] = {
    {"CAPA", IN_AUTH | IN_TRANS, ARG_NONE, cmd_capa},
    {"QUIT", IN_AUTH | IN_TRANS, ARG_NONE, cmd_quit},
    {"USER", IN_AUTH, ARG_REST, pop3_cmd_user},
    {"PASS", IN_AUTH, ARG_REST, pop3_cmd_pass},
    {"AUTH", IN_AUTH, ARG_REST, pop3_cmd_auth},
    {"STLS", IN_AUTH, ARG_NONE, pop3_cmd_stls},
    {"STAT", IN_TRANS, ARG_NONE, cmd_stat},
    {"LIST", IN_TRANS, ARG_OPT, cmd_list},
    {"UIDL", IN_TRANS, ARG_OPT, cmd_uidl},
    {"RETR", IN_TRANS, ARG_ONE, cmd_retr},
    {"TOP", IN_TRANS, ARG_TWO, cmd_top},
    {"DELE", IN_TRANS, ARG_ONE, cmd_dele},
    {"RSET", IN_TRANS, ARG_NONE, cmd_rset},
    {"NOOP", IN_TRANS, ARG_NONE, cmd_noop},
};

/* Words separated by single spaces, none empty (RFC 1939 §3). */
static size_t count_words(const char *arg)
{
    size_t n = 0;
    const char *p = arg;
    for (;;) {
        const char *sp = strchr(p, ' ');
        size_t len = sp != NULL ? (size_t)(sp - p) : strlen(p);
        if (len == 0)
            return 0;
        n++;
        if (sp == NULL)
            return n;
        p = sp + 1;
    }
}

void pop3_command(struct pop3_session *s, char *line, size_t len)
{
    if (s->state == POP3_UPDATE)
        return; /* QUIT is being carried out; nothing follows it. */
    if (strlen(line) != len) {
        sps_client_puts(s->client, "-ERR unknown command\r\n");
        return;
    }
    char *arg = strchr(line, ' ');
    if (arg != NULL)
        *arg++ = '\0';
    const struct pop3_cmd *cmd = NULL;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcasecmp(line, commands[i].name) == 0) {
            cmd = &commands[i];
            break;
        }
    }
    if (cmd == NULL) {
        sps_client_puts(s->client, "-ERR unknown command\r\n");
        return;
    }
    if ((cmd->states & (1u << s->state)) == 0) {
        sps_client_printf(s->client, "-ERR %s not valid in this state\r\n", cmd->name);
        return;
    }
    size_t words = arg != NULL ? count_words(arg) : 0;
    bool ok;
    switch (cmd->args) {
    case ARG_NONE:
        ok = arg == NULL;
        break;
    case ARG_OPT:
        ok = arg == NULL || words == 1;
        break;
    case ARG_ONE:
        ok = words == 1;
        break;
    case ARG_TWO:
        ok = words == 2;
        break;
    case ARG_REST:
    default:
        ok = true;
        break;
    }
    if (!ok) {
        sps_client_printf(s->client, "-ERR syntax error in %s arguments\r\n", cmd->name);
        return;
    }
    cmd->fn(s, arg);
}
