/*
 * imap4.h - what the pieces of imap4srv share (RFC 3501 + extensions).
 *
 * imap4srv is a protocol on the SPS runtime (../sps.h): every callback
 * runs on the event-loop thread, database work runs in jobs
 * (sps_client_run) on worker threads. One job per client at a time and
 * no input dispatched meanwhile, so a job may read and change its
 * session (struct imap_session) without locks: the loop thread does not
 * touch a session while its job runs.
 *
 * Layout (one job per file):
 *   main.c      sps_protocol hooks, greeting, shutdown, idle timeout
 *   input.c     assembling a command from lines and literals ({n}, {n+})
 *   parse.c     tokenising a command into struct imap_arg trees
 *   commands.c  the command table: state checks, dispatch, tagged replies
 *   auth.c      CAPABILITY, NOOP, LOGOUT, ID, ENABLE, STARTTLS,
 *               AUTHENTICATE PLAIN, LOGIN
 *   mutf7.c     modified UTF-7 mailbox names (RFC 3501 §5.1.3)
 *   mailboxes.c LIST, LSUB, CREATE, DELETE, RENAME, SUBSCRIBE,
 *               UNSUBSCRIBE, STATUS, NAMESPACE, GETQUOTA(ROOT)
 *   append.c    APPEND
 *   view.c      the selected mailbox: SELECT/EXAMINE, the sequence-number
 *               map, sync of other sessions' changes (EXISTS, EXPUNGE,
 *               FETCH FLAGS), CHECK, CLOSE, UNSELECT, EXPUNGE, IDLE
 *   store.c     STORE, COPY, MOVE (and UID forms)
 *   seqset.c    sequence sets
 *   fetch.c     FETCH: every item, from the ingestion cache
 *   search.c    SEARCH: keys to SQL
 */
#ifndef IMAP4_H
#define IMAP4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct ofc_db;
struct sps_client;
struct sps_job;

/* ---- Parsed arguments (parse.c) --------------------------------------- */

enum imap_arg_type {
    IMAP_ARG_ATOM,    /* bare word: atom, number, sequence set, flag (\Seen), NIL as text */
    IMAP_ARG_STRING,  /* quoted string or literal: s/len exact octets, NUL-terminated */
    IMAP_ARG_LIST,    /* ( ... ): list/nlist */
    IMAP_ARG_NIL,     /* the atom NIL */
    IMAP_ARG_SECTION, /* BODY[...]<...>: an atom followed by [section] as one token;
                         s = text of the whole token as sent ("BODY.PEEK[HEADER.FIELDS (A
                         B)]<0.10>"), list = the parsed arguments inside [], partial as below */
};

struct imap_arg {
    enum imap_arg_type type;
    char *s;                /* ATOM/STRING/SECTION: text (heap, NUL-terminated) */
    size_t len;             /* octets of s (strings may hold NUL only if literal8) */
    bool literal;           /* STRING came as a literal */
    struct imap_arg *list;  /* LIST: items; SECTION: section items (HEADER.FIELDS list) */
    size_t n;               /* number of items in list */
    long long partial_from; /* SECTION: <from.count>, -1 when absent */
    long long partial_len;
};

/* A whole command. */
struct imap_cmd {
    char *tag;
    char *name; /* upper case: "FETCH"; "UID FETCH" is name FETCH with uid true */
    bool uid;
    struct imap_arg *args; /* after the command name */
    size_t nargs;
    char *text; /* the command line(s) as received, literals shown as {n}: for logs */
};

/*
 * Parses one assembled command (input.c joins lines and literals: the
 * literal octets are passed in `literals`, each one replacing a "{n}"
 * marker at the end of a line). Returns 0, or -1 with a short reason in
 * *error_r (static text) for "tag BAD <reason>"; *tag_r gets the tag when
 * one could be read (else "*"), heap.
 */
struct imap_literal {
    char *data;
    size_t len;
};
int imap_parse_command(const char *const *lines, size_t nlines, const struct imap_literal *literals,
                       struct imap_cmd *cmd, char **tag_r, const char **error_r);
void imap_cmd_free(struct imap_cmd *cmd);
void imap_args_free(struct imap_arg *args, size_t n);

/* Argument helpers: true when arg is an atom/string equal (ASCII case-insensitive) to word. */
bool imap_arg_is(const struct imap_arg *arg, const char *word);
/* astring (atom or string) as text; NULL for NIL/lists. */
const char *imap_arg_astring(const struct imap_arg *arg);

/* ---- Writing (loop thread: sps_client_*; jobs: job->out) ---------------- */

/* Appends an IMAP string for s: quoted when safe, else a literal {n}\r\n. NULL writes NIL. */
void imap_write_string(struct evbuffer *out, const char *s, size_t len);
void imap_write_nstring(struct evbuffer *out, const char *s); /* NULL -> NIL */
/* Mailbox name (UTF-8 in the store) as sent: modified UTF-7, quoted/literal as needed. */
void imap_write_mailbox(struct evbuffer *out, const char *utf8_name);

/* ---- Modified UTF-7 (mutf7.c) ----------------------------------------- */

/* Returns heap UTF-8, or NULL when `in` is not valid modified UTF-7. */
char *imap_mutf7_decode(const char *in);
/* Returns heap modified UTF-7 of valid UTF-8 `in` (never NULL). */
char *imap_mutf7_encode(const char *in);

/* ---- Sequence sets (seqset.c) ----------------------------------------- */

/* A sequence set "1:3,5,7:*" as ranges; '*' is stored as UINT32_MAX ("largest"). */
struct imap_range {
    uint32_t lo, hi; /* lo <= hi after normalising */
};
struct imap_seqset {
    struct imap_range *r;
    size_t n;
};
/* Returns 0 or -1 when malformed ("$" is not supported: SEARCHRES not offered). */
int imap_seqset_parse(const char *s, struct imap_seqset *set);
void imap_seqset_free(struct imap_seqset *set);
/* Does the set contain v, with '*' meaning `largest` (RFC 3501 §6.4.8 / 9)? */
bool imap_seqset_contains(const struct imap_seqset *set, uint32_t v, uint32_t largest);
/* Formats sorted, distinct values compactly ("1:3,7"); heap string. */
char *imap_seqset_format(const uint32_t *values, size_t n);

/* ---- Session ----------------------------------------------------------- */

enum imap_state { IMAP_NOT_AUTHENTICATED, IMAP_AUTHENTICATED, IMAP_SELECTED, IMAP_LOGOUT };

/* flags bits as in mailbox_pointer.flags (004_store.sql). */
enum {
    IMAP_SEEN = 1,
    IMAP_ANSWERED = 2,
    IMAP_FLAGGED = 4,
    IMAP_DELETED = 8,
    IMAP_DRAFT = 16,
};

/*
 * The selected mailbox as this session knows it (view.c). msn i (1-based)
 * is uids[i-1]; the arrays grow when EXISTS is announced and shrink when
 * EXPUNGE is announced, never otherwise (RFC 3501 §7.4.1: numbers change
 * only by responses the client saw).
 */
struct imap_view {
    long long mailbox_id;
    char *name; /* UTF-8 */
    bool read_only;
    long long uidvalidity;
    long long uidnext;       /* as last announced */
    long long highestmodseq; /* up to which changes were sent to the client */
    uint32_t *uids;
    size_t n, cap;
    uint32_t first_recent_uid; /* uids >= it are \Recent in this session */
};

struct imap_session {
    struct sps_client *c;
    enum imap_state state;
    long long account_id;
    char *user;             /* canonical address */
    struct imap_view *view; /* SELECTED state only */
    bool condstore;         /* CONDSTORE enabled (ENABLE, or a CONDSTORE-using command) */
    bool qresync;
    bool utf8_accept; /* ENABLE UTF8=ACCEPT (not offered yet: false) */
    /* IDLE (view.c): the tag of the IDLE command while idling, else NULL. */
    char *idle_tag;
    /* Command assembly (input.c). */
    char **lines;
    size_t nlines;
    struct imap_literal *literals;
    size_t nliterals;
    size_t pending_octets;  /* octets of the command so far (MaxLineLength * 4 bound) */
    bool discard_until_eol; /* after an error inside a command with a synchronising literal */
};

/*
 * Command handlers (commands.c's table) run on the loop thread with a
 * parsed command whose state was checked. A handler that needs the
 * database starts a job (sps_client_run) and finishes in its done
 * callback with imap_tagged(). It owns cmd from then on and frees it with
 * imap_cmd_free() + free() when done.
 */
typedef void imap_handler(struct imap_session *s, struct imap_cmd *cmd);

/* "tag OK [code] text" etc. through the client (loop thread). */
void imap_tagged(struct imap_session *s, const char *tag, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* "* ..." through the client (loop thread). */
void imap_untagged(struct imap_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Same, into a job's output buffer (worker thread). */
void imap_out_printf(struct evbuffer *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The handlers of each file (commands.c builds its table from these). */
imap_handler imap_cmd_capability, imap_cmd_noop, imap_cmd_logout, imap_cmd_id, imap_cmd_enable,
    imap_cmd_starttls, imap_cmd_authenticate, imap_cmd_login;
imap_handler imap_cmd_list, imap_cmd_lsub, imap_cmd_create, imap_cmd_delete, imap_cmd_rename,
    imap_cmd_subscribe, imap_cmd_unsubscribe, imap_cmd_status, imap_cmd_namespace,
    imap_cmd_getquota, imap_cmd_getquotaroot, imap_cmd_append;
imap_handler imap_cmd_select, imap_cmd_examine, imap_cmd_check, imap_cmd_close, imap_cmd_unselect,
    imap_cmd_expunge, imap_cmd_idle;
imap_handler imap_cmd_store, imap_cmd_copy, imap_cmd_move;
imap_handler imap_cmd_fetch, imap_cmd_search;

/* The CAPABILITY list for the session's state and TLS ("IMAP4rev1 LITERAL+ ..."). */
const char *imap_capabilities(struct imap_session *s);

/*
 * view.c, for the other files: run inside a job (worker thread) after a
 * command's own work and before its tagged reply, it brings the view up
 * to date and writes the untagged responses (EXPUNGE only when
 * allow_expunge: not during FETCH/STORE/SEARCH, RFC 3501 §7.4.1; EXISTS,
 * RECENT, FETCH FLAGS (+MODSEQ with CONDSTORE) of changes since
 * view->highestmodseq). Returns 0 or -1 (database error; *error_r heap).
 */
int imap_view_sync(struct imap_session *s, struct sps_job *job, bool allow_expunge, char **error_r);

/*
 * Resolves a sequence set (uid=false: message sequence numbers of the
 * view; uid=true: UIDs) to the UIDs it names that exist in the view, in
 * ascending order (heap array, *n_r entries). Returns 0, or -1 when a
 * message sequence number is out of range (the caller answers BAD/NO).
 */
int imap_view_resolve(const struct imap_view *v, const struct imap_seqset *set, bool uid,
                      uint32_t **uids_r, size_t *n_r);
/* The msn of a uid in the view (binary search), 0 when not there. */
uint32_t imap_view_msn(const struct imap_view *v, uint32_t uid);

/* Flags as "\Seen \Answered ..." plus keywords (space-separated) -> heap text. */
char *imap_flags_format(int flags, const char *const *keywords, size_t nkeywords, bool recent);
/* Parses a flag list argument; returns 0 or -1 (unknown \System flag). */
int imap_flags_parse(const struct imap_arg *list, int *flags_r, char ***keywords_r,
                     size_t *nkeywords_r);

#endif
