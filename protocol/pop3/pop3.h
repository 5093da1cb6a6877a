/*
 * pop3.h - pop3srv's private interfaces: the session, the command table,
 * the maildrop jobs. Nothing outside protocol/pop3 includes it.
 *
 * Threads: the session belongs to the event-loop thread. Work that needs
 * the database runs as an sps job on a worker thread; a job never touches
 * the session: it gets a private copy of what it needs and hands its
 * result back in its own struct, which its `done` applies on the loop
 * thread.
 */
#ifndef POP3_H
#define POP3_H

#include <stdbool.h>
#include <stddef.h>

struct evbuffer;
struct sps;
struct sps_client;

/* RFC 1939 §3: the states of a session (UPDATE is entered by QUIT only). */
enum pop3_state {
    POP3_AUTHORIZATION,
    POP3_TRANSACTION,
    POP3_UPDATE,
};

/* One message of the maildrop, as snapshot at login. */
struct pop3_msg {
    long long uid;
    long long message_id;
    long long size;
    bool deleted; /* DELE'd in this session */
};

struct pop3_session {
    struct sps_client *client;
    enum pop3_state state;
    char *user;        /* name given with USER, until PASS */
    bool sasl_pending; /* "AUTH PLAIN" sent "+ ": the next line is the response */
    /* After login. */
    long long account_id;
    char *address;        /* canonical address of the account, for logs */
    long long mailbox_id; /* INBOX; 0 when the account has none (empty maildrop) */
    long long uidvalidity;
    char *lock_session; /* pop3_lock.session we hold ("<pid>.<serial>"), or NULL */
    unsigned long long lock_serial;
    struct pop3_msg *msgs;
    size_t nmsgs;
    size_t retrieved; /* RETR answered +OK */
};

/* --- commands.c ------------------------------------------------------------ */

/* One input line of a session (dispatch through the command table). */
void pop3_command(struct pop3_session *s, char *line, size_t len);
/* The CAPA list (RFC 2449) as it stands for this session. */
void pop3_capa(struct pop3_session *s);
/* Passwords may travel on this connection (PlaintextAuth or TLS). */
bool pop3_plaintext_ok(struct pop3_session *s);
/* Parses a message number argument; returns the message or NULL after answering -ERR. */
struct pop3_msg *pop3_msg_arg(struct pop3_session *s, const char *arg);

/* --- auth.c ------------------------------------------------------------------ */

void pop3_cmd_user(struct pop3_session *s, char *arg);
void pop3_cmd_pass(struct pop3_session *s, char *arg);
void pop3_cmd_auth(struct pop3_session *s, char *arg);
void pop3_cmd_stls(struct pop3_session *s, char *arg);
/* The line after "+ " of AUTH PLAIN. */
void pop3_sasl_response(struct pop3_session *s, char *line, size_t len);

/* --- maildrop.c -------------------------------------------------------------- */

/*
 * Process-wide setup (loop thread, from protocol->init): remembers the
 * process id and conninfo, deletes the maildrop locks this instance left
 * behind when it was killed. Returns 0 or -1.
 */
int pop3_maildrop_init(struct sps *sps);
/* connect= of the command line (before sps_main): the database of the pool. */
void pop3_maildrop_set_conninfo(const char *conninfo);
/*
 * Checks the credentials and, when they are right, locks and snapshots
 * the maildrop, all in one job; then answers the client. Takes ownership
 * of user and password (the password is wiped).
 */
void pop3_login(struct pop3_session *s, char *user, char *password);
/* RETR n (lines < 0) or TOP n lines. */
void pop3_retrieve(struct pop3_session *s, struct pop3_msg *m, long long lines);
/* QUIT in TRANSACTION state: UPDATE, answer, close. */
void pop3_update(struct pop3_session *s);
/* A session that still holds its lock goes away: the lock is released in the background. */
void pop3_release_lock(struct pop3_session *s);

/* --- dotstuff.c -------------------------------------------------------------- */

/*
 * Converts stored message octets to the POP3 multi-line form in pieces:
 * a '.' at the start of a line is doubled, a bare LF becomes CRLF. With
 * `lines` >= 0 (TOP) it stops after the header, the empty line and that
 * many body lines.
 */
struct pop3_stuffer {
    bool bol;        /* at the start of a line */
    bool cr;         /* the last octet was CR */
    bool blank;      /* the current line holds nothing but CRs so far */
    bool in_body;    /* the empty line after the header was passed */
    long long lines; /* body lines still wanted (TOP), < 0: all */
    bool done;       /* TOP has all it wanted */
};

void pop3_stuffer_init(struct pop3_stuffer *st, long long lines);
/* Appends the converted form of data to out. */
void pop3_stuffer_add(struct pop3_stuffer *st, struct evbuffer *out, const char *data, size_t len);
/* Ends the last line with CRLF when needed and appends the terminating ".\r\n". */
void pop3_stuffer_finish(struct pop3_stuffer *st, struct evbuffer *out);

#endif
