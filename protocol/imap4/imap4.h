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
    /* view.c (P1): the watched mailbox changed (atomic: set by the loop, read by jobs). */
    int view_changed;
    long long view_synced_ms; /* CLOCK_MONOTONIC of the last sync read (jobs only) */
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

/* ---- Core (helper I1: main.c, input.c, parse.c, commands.c, auth.c) ------- */

/*
 * Notes on the contract above:
 *  - imap_out_printf() appends exactly what fmt gives: no "* ", no tag and
 *    no CRLF are added (a job builds untagged lines, literals and its
 *    tagged reply with it: imap_out_printf(out, "%s OK done\r\n", tag)).
 *    imap_tagged()/imap_untagged() add the tag or "* " and the CRLF.
 *  - The atom NIL parses as IMAP_ARG_NIL with s = "NIL" (its text as
 *    sent); imap_arg_astring() returns that text too, because RFC 3501's
 *    astring includes the atom NIL (a mailbox or user may be called NIL).
 *    Handlers of nstring arguments test arg->type == IMAP_ARG_NIL.
 *  - imap_capabilities() returns text owned by the session, valid until
 *    the next call for that session.
 *  - IDLE: while s->idle_tag != NULL, input.c takes the next line: "DONE"
 *    (any case) ends IDLE: input.c answers "<idle_tag> OK IDLE terminated",
 *    frees idle_tag (NULL), and resets sps_client_set_idle_timeout(c, 0);
 *    anything else gets "<idle_tag> BAD expected DONE" and ends IDLE the
 *    same way. view.c's IDLE handler sets idle_tag, the timeout and the
 *    watch, and its watch callback only pushes updates while idle_tag is
 *    set. Input is not dispatched while a job runs, so DONE never races a
 *    job of the session.
 *  - client_free (main.c) frees s->user, s->idle_tag and s->view (name,
 *    uids, the struct) and the command being assembled.
 */

/* The session's imap4srv parameter (sps_param_int of the client's process). */
long long imap_param_int(struct imap_session *s, const char *name, long long dflt);

/* ---- FETCH internals (fetch_items.c, fetch_body.c; helper I4) ------------ */

/* One FETCH data item as asked for (RFC 3501 §6.4.5). */
enum imap_fetch_kind {
    IMAP_FI_FLAGS,
    IMAP_FI_INTERNALDATE,
    IMAP_FI_SIZE, /* RFC822.SIZE */
    IMAP_FI_ENVELOPE,
    IMAP_FI_BODY, /* BODY without section: the cached non-extensible structure */
    IMAP_FI_BODYSTRUCTURE,
    IMAP_FI_UID,
    IMAP_FI_MODSEQ,  /* CONDSTORE */
    IMAP_FI_SECTION, /* BODY[...], BODY.PEEK[...], RFC822, RFC822.HEADER, RFC822.TEXT */
};
/* What of a part a section names. */
enum imap_fetch_text {
    IMAP_FT_ALL,    /* BODY[] / BODY[1.2]: the whole message / the part's body */
    IMAP_FT_HEADER, /* HEADER */
    IMAP_FT_FIELDS, /* HEADER.FIELDS (...) */
    IMAP_FT_FIELDS_NOT,
    IMAP_FT_MIME,
    IMAP_FT_TEXT,
};
struct imap_fetch_item {
    enum imap_fetch_kind kind;
    bool sets_seen; /* SECTION without .PEEK, RFC822, RFC822.TEXT */
    char *part;     /* SECTION: "" (the message) or "1.2" */
    enum imap_fetch_text text;
    char **fields; /* HEADER.FIELDS(.NOT): names as sent */
    size_t nfields;
    long long pfrom; /* <origin.count>; -1 when absent */
    long long plen;
    char *label;      /* SECTION: the name in the response, "BODY[1.MIME]<0>" */
    bool binary;      /* BINARY[part] / BINARY.PEEK[part]: decoded (RFC 3516) */
    bool binary_size; /* BINARY.SIZE[part]: the decoded size only */
};
struct imap_fetch_req {
    struct imap_fetch_item *items;
    size_t n;
    long long changedsince; /* CHANGEDSINCE modifier; -1 when absent */
    bool sets_seen;         /* some item sets \Seen */
};
/*
 * Parses the items and modifiers of a FETCH (cmd->args[1..]) into *req
 * (adds UID for UID FETCH, MODSEQ for CHANGEDSINCE). Returns 0, or -1
 * with a static reason for "tag BAD" in *error_r. Free with
 * imap_fetch_req_free() either way.
 */
int imap_fetch_parse(const struct imap_cmd *cmd, struct imap_fetch_req *req, const char **error_r);
void imap_fetch_req_free(struct imap_fetch_req *req);
/*
 * The octets [*from_r, *from_r + *len_r) of raw that SECTION item names
 * (before any partial for HEADER.FIELDS; after it otherwise), from the
 * message's sections jsonb text. Returns 1, or 0 when the part does not
 * exist or has no such section (the response is NIL).
 */
int imap_fetch_range(const struct imap_fetch_item *it, const char *sections, long long size,
                     long long header_size, long long *from_r, long long *len_r);
/*
 * The header fields of hdr[0..len) (a header section, CRLF or LF lines)
 * whose names are (exclude = false) or are not (exclude = true) among names,
 * with their exact octets incl. continuation lines, then an empty line.
 * Appends to *out (an ofc_strbuf).
 */
struct ofc_strbuf;
void imap_fetch_header_filter(const char *hdr, size_t len, char *const *names, size_t nnames,
                              bool exclude, struct ofc_strbuf *out);
/*
 * BINARY (fetch_binary.c): the Content-Transfer-Encoding of a MIME header
 * section (IMAP_CTE_*, IMAP_CTE_UNKNOWN for one we cannot decode), and
 * the decoding of a body in it, appended to *out.
 */
enum { IMAP_CTE_IDENTITY, IMAP_CTE_BASE64, IMAP_CTE_QP, IMAP_CTE_UNKNOWN };
int imap_fetch_cte(const char *hdr, size_t len);
void imap_fetch_decode(int cte, const char *data, size_t len, struct ofc_strbuf *out);

/* ---- Mailboxes (helper I2: mailboxes.c, append.c) ----------------------- */

/*
 * A mailbox name argument (astring) as the store spells it: modified
 * UTF-7 decoded to UTF-8 (raw UTF-8 only after ENABLE UTF8=ACCEPT), and
 * a first level "INBOX" in any case made "INBOX" (RFC 3501 §5.1). Returns
 * heap text, or NULL when the argument is no astring or not valid
 * modified UTF-7 (a name that cannot exist).
 */
char *imap_mailbox_name(const struct imap_session *s, const struct imap_arg *arg);

/* ---- SEARCH internals (search_keys.c; helper I4) -------------------------- */

/*
 * A SEARCH (RFC 3501 §6.4.4, RFC 7162 MODSEQ) as one parameterised
 * statement over the view's mailbox: columns uid, modseq, ordered by uid.
 * The client's text only ever travels in params.
 */
struct imap_search_query {
    char *sql;
    char **params; /* heap strings */
    size_t nparams;
    bool modseq; /* the MODSEQ key was used: answer "(MODSEQ n)" */
};
/*
 * Builds the query from the SEARCH arguments (CHARSET first if given).
 * Returns 0; -1 with a static reason in *error_r for "tag BAD"; -2 for an
 * unsupported charset ("tag NO [BADCHARSET (UTF-8 US-ASCII)]"). Free with
 * imap_search_query_free() either way.
 */
int imap_search_build(const struct imap_view *v, const struct imap_arg *args, size_t nargs,
                      struct imap_search_query *q, const char **error_r);
void imap_search_query_free(struct imap_search_query *q);

/* ---- Selected state (helper I3: view.c, store.c, seqset.c) --------------- */

/* "* FLAGS (...)" and "* OK [PERMANENTFLAGS (...)]" with these keywords (job output). */
void imap_view_flags_list(struct evbuffer *out, const char *const *keywords, size_t n,
                          bool read_only);
/*
 * "* msn FETCH (FLAGS (...)[ UID u][ MODSEQ (m)])\r\n" for one message:
 * keywords as the text[] literal the server sent (NULL: none); \Recent
 * from the view; MODSEQ when the session enabled CONDSTORE.
 */
void imap_view_write_fetch_flags(struct imap_session *s, struct evbuffer *out, uint32_t msn,
                                 uint32_t uid, int flags, const char *keywords_literal,
                                 long long modseq, bool with_uid);
/*
 * A command whose only work is to tell what changed (NOOP, CHECK in the
 * selected state): runs imap_view_sync in a job (EXPUNGE allowed), then
 * "tag OK <NAME> completed". Owns cmd. Without a view it just answers OK.
 */
void imap_view_sync_command(struct imap_session *s, struct imap_cmd *cmd);
/*
 * QRESYNC (RFC 7162 §3.2.6), for UID FETCH ... (CHANGEDSINCE m VANISHED):
 * writes "* VANISHED (EARLIER) <uids>" for the UIDs of `uids` ('*' = the
 * last UID given out) expunged from the selected mailbox after modseq;
 * nothing when there are none. Job thread. Returns 0 or -1 (*error_r heap).
 */
int imap_view_vanished(struct imap_session *s, struct sps_job *job, long long modseq,
                       const struct imap_seqset *uids, char **error_r);

/* ---- Prepared statements (sql.c; helper P1) ------------------------------ */

/* The statements of the hot paths, prepared once per pooled connection. */
enum imap_sql_id {
    IMAP_SQL_SYNC,         /* $1 mailbox, $2 modseq: imap_view_sync's changes */
    IMAP_SQL_CLAIM_RECENT, /* $1 mailbox, $2 uidnext */
    IMAP_SQL_MAILBOX_FIND, /* $1 account, $2 name: id, uidvalidity */
    IMAP_SQL_SELECT_RO,    /* $1 mailbox */
    IMAP_SQL_SELECT_RW,    /* $1 mailbox */
    IMAP_SQL_SELECT_UIDS,  /* $1 mailbox: uid, flags, has keywords (0/1) */
    IMAP_SQL_KEYWORDS,     /* $1 mailbox, $2 limit: the keywords in use */
    IMAP_SQL_MAILBOX_LOCK, /* $1 mailbox: highestmodseq, row locked */
    IMAP_SQL_EXPUNGE_ALL,  /* $1 mailbox: \Deleted uids */
    IMAP_SQL_EXPUNGE_UIDS, /* $1 mailbox, $2 uids: those \Deleted */
    IMAP_SQL_STORE,        /* store.c's flag change (7 parameters) */
    IMAP_SQL_SET_MODSEQ,   /* $1 mailbox, $2 highestmodseq */
    IMAP_SQL_FLAGS_OF,     /* $1 mailbox, $2 uids: uid, flags, keywords, modseq */
    IMAP_SQL_UNSEEN_ANY,   /* fetch.c \Seen: is there anything to set? */
    IMAP_SQL_RAISE_MODSEQ, /* $1 mailbox: highestmodseq + 1 */
    IMAP_SQL_SET_SEEN,     /* fetch.c \Seen */
    IMAP_SQL_FETCH_ROWS,   /* fetch.c: a batch of messages */
    IMAP_SQL_FETCH_OCTETS, /* fetch.c: octets of raw (binary result) */
    IMAP_SQL_COUNT
};
struct sps;
struct pg_result;
/* The init hook's part: prepares them all (sps_prepare). Returns 0 or -1. */
int imap_sql_prepare(struct sps *sps);
/* Runs one with text parameters (as ofc_db_exec_prepared); binary: binary result. */
struct pg_result *imap_sql(struct ofc_db *db, enum imap_sql_id id, const char *const *params)
    __attribute__((warn_unused_result));
struct pg_result *imap_sql_binary(struct ofc_db *db, enum imap_sql_id id, const char *const *params)
    __attribute__((warn_unused_result));

/*
 * Skipping the sync when nothing changed (view.c). The selected mailbox
 * is watched (NOTIFY ofc_mailbox) for the whole selected state; the
 * watch callback (loop thread) raises the session's flag below with an
 * atomic store, and imap_view_sync clears it (atomic exchange) before it
 * reads, so a change committed after the read raises it again. Without
 * the flag it runs anyway when IMAP_VIEW_SYNC_MAX_MS passed since the
 * last read (a safety net); a sync that had to leave something for later
 * (EXPUNGE not allowed) raises it itself.
 */
#define IMAP_VIEW_SYNC_MAX_MS 5000
/* The watch callback of a selected session (sps_client_watch_mailbox). */
void imap_view_notify(struct sps_client *c, void *state, long long mailbox_id);
/*
 * Makes the next imap_view_sync read (any thread): after this session's
 * own change, whose notification may arrive after the sync that should
 * announce it (EXPUNGE, APPEND, MOVE, ...).
 */
void imap_view_changed(struct imap_session *s);

#endif
