/*
 * NAME
 *      imapload - IMAP load generator (full sessions or steady sessions,
 *      paced or saturated)
 *
 * SYNOPSIS
 *      imapload --host H --port P --users PATTERN --nusers N --password PW
 *               [--mode full|steady] [--clients N] [--duration S | --sessions N]
 *               [--rate R] [--mix STEPS] [--bodies K] [--envelopes N|all]
 *               [--search CRITERIA] [--append-size B] [--idle-ms MS]
 *               [--idle-watch] [--mailbox NAME] [--tls | --starttls]
 *               [--timeout S] [--seed N]
 *
 * DESCRIPTION
 *      Points at any IMAP server (ofcmail's iolistener, Dovecot) so that the
 *      same load runs against both (BASELINES.md's IMAP table). One thread
 *      per client, blocking sockets, one command at a time per connection
 *      (no pipelining), as ordinary clients do.
 *
 *      A cycle is the command mix, in this order (--mix picks steps):
 *        list       LIST "" "*"
 *        status     STATUS <mailbox> (MESSAGES UNSEEN UIDNEXT)
 *        select     SELECT <mailbox> (needed by the steps below)
 *        fetchenv   FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE),
 *                   or the last N messages with --envelopes N
 *        fetchbody  FETCH n BODY[] of K messages at random (the literal's
 *                   length must equal RFC822.SIZE when fetchenv ran)
 *        search     SEARCH <criteria> (default UNSEEN)
 *        store      STORE n +FLAGS (\Flagged) or -FLAGS, at random
 *        append     APPEND <mailbox> (\Seen) {B}: a new message of B octets
 *        expunge    the appended message marked \Deleted (UID STORE with
 *                   the APPENDUID, else STORE *) and EXPUNGE, which must
 *                   remove one message: the mailbox stays as it was
 *        idle       IDLE, held --idle-ms, DONE
 *      --mode full: every cycle is a session of its own: connect (+ TLS),
 *      LOGIN, the cycle, LOGOUT. --mode steady: each client logs in once
 *      and repeats the cycle (a "session" then counts cycles). Client i
 *      uses users i+1, i+1+N, ... in turn, so that no two clients work in
 *      the same mailbox at once (sequence numbers stay theirs) while
 *      --clients <= --nusers.
 *
 *      --idle-watch (steady mode): each client keeps a second connection
 *      as the same user in IDLE on the mailbox; after each APPEND it waits
 *      for the EXISTS that announces it there. IDLEWAKE is the time from
 *      sending the APPEND to reading that EXISTS (so at least the APPEND's
 *      own latency): how fast a new message reaches an idling client.
 *
 *      --rate R paces each client at R cycles per second (starts spread
 *      evenly; no burst to catch up); 0 saturates.
 *
 *      Output: the loadstat.h format ("imapload result ...", one "latency"
 *      line per operation, "error" lines), items are bodies fetched; plus
 *      "imapload fetched envelopes=N envelopes_per_s=F" and one "imapload rate
 *      op=NAME ops_per_s=F" per operation that ran. Operations:
 *      CONNECT (connect + greeting, + handshake with --tls), STARTTLS,
 *      LOGIN, LIST, STATUS, SELECT, FETCHENV, FETCHBODY, SEARCH, STORE,
 *      APPEND, EXPUNGE (with its STORE \Deleted), IDLE, IDLEWAKE, LOGOUT.
 *      The first errors are described on standard error with the server's
 *      answer.
 *
 * DIAGNOSTICS
 *      Exit 0 when no session failed, 1 when some did, 2 on a usage or
 *      set-up error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "loadconn.h"
#include "loadstat.h"

#define MAX_ERRPRINT 10                 /* errors described on stderr */
#define MAX_TEXT     (16 * 1024 * 1024) /* longest response text kept (literals excluded) */
#define MAX_MESSAGES 10000000L          /* a mailbox larger than this is refused */

enum op {
    OP_CONNECT,
    OP_STARTTLS,
    OP_LOGIN,
    OP_LIST,
    OP_STATUS,
    OP_SELECT,
    OP_FETCHENV,
    OP_FETCHBODY,
    OP_SEARCH,
    OP_STORE,
    OP_APPEND,
    OP_EXPUNGE,
    OP_IDLE,
    OP_IDLEWAKE,
    OP_LOGOUT,
    OP_COUNT
};
static const char *const op_names[OP_COUNT] = {
    "CONNECT", "STARTTLS", "LOGIN",  "LIST",    "STATUS", "SELECT",   "FETCHENV", "FETCHBODY",
    "SEARCH",  "STORE",    "APPEND", "EXPUNGE", "IDLE",   "IDLEWAKE", "LOGOUT"};

enum step {
    S_LIST = 1 << 0,
    S_STATUS = 1 << 1,
    S_SELECT = 1 << 2,
    S_FETCHENV = 1 << 3,
    S_FETCHBODY = 1 << 4,
    S_SEARCH = 1 << 5,
    S_STORE = 1 << 6,
    S_APPEND = 1 << 7,
    S_EXPUNGE = 1 << 8,
    S_IDLE = 1 << 9,
};
static const struct {
    const char *name;
    unsigned bit;
} steps[] = {{"list", S_LIST},         {"status", S_STATUS},       {"select", S_SELECT},
             {"fetchenv", S_FETCHENV}, {"fetchbody", S_FETCHBODY}, {"search", S_SEARCH},
             {"store", S_STORE},       {"append", S_APPEND},       {"expunge", S_EXPUNGE},
             {"idle", S_IDLE}};
#define NEEDS_SELECT (S_FETCHENV | S_FETCHBODY | S_SEARCH | S_STORE | S_EXPUNGE | S_IDLE)

struct opts {
    const char *host;
    const char *port;
    const char *users; /* pattern with one %d */
    long nusers;
    const char *password;
    bool steady;
    long clients;
    double duration;
    long sessions; /* 0: no limit */
    double rate;   /* cycles/s per client, 0 = saturate */
    unsigned mix;
    long bodies;
    long envelopes; /* 0: all */
    const char *search;
    long append_size;
    long idle_ms;
    bool idle_watch;
    const char *mailbox;
    double timeout;
    bool tls;      /* implicit TLS */
    bool starttls; /* STARTTLS after the greeting */
    unsigned long seed;
};

static struct opts opt = {
    .host = "127.0.0.1",
    .port = "143",
    .users = "user%d",
    .nusers = 200,
    .clients = 10,
    .duration = 10.0,
    .mix = S_LIST | S_STATUS | S_SELECT | S_FETCHENV | S_FETCHBODY | S_STORE | S_APPEND |
           S_EXPUNGE | S_IDLE,
    .bodies = 3,
    .search = "UNSEEN",
    .append_size = 4096,
    .mailbox = "INBOX",
    .timeout = 30.0,
    .seed = 1,
};

static struct addrinfo *target;
static atomic_bool stop;
static atomic_long started;
static atomic_int errprinted;
static volatile sig_atomic_t interrupted;
static void *tls_ctx; /* SSL_CTX, with --tls/--starttls */
static char *quoted_password;
static char *quoted_mailbox;
static char *append_body; /* the body every APPEND carries, CRLF lines */
static size_t append_body_len;

/* One response as read: its text (literals replaced by "{N}"), the literals' sizes. */
struct resp {
    char *text;
    size_t len, cap;
    uint64_t literal_octets; /* sum of the literals' sizes */
    uint64_t last_literal;   /* size of the last literal */
    int literals;
};

struct client {
    long id;
    pthread_t thread;
    struct loadstat st;
    uint64_t rng;
    long next_user;
    unsigned tag;
    uint64_t appends;
    uint64_t envelopes;
    struct resp resp;
    /* the selected mailbox as this session sees it */
    long exists;
    long *size_of; /* [1..exists] RFC822.SIZE from FETCHENV, -1 unknown */
    long size_cap;
    char err[256]; /* the last NO/BAD text or I/O failure */
};

/* ------------------------------------------------------------ helpers */

/*
 * Records a failed operation and, for the first few, says why on stderr.
 * Always returns -1 so that callers can `return fail(...)`.
 */
static int fail(struct client *cl, enum op op, const char *what)
{
    loadstat_fail(&cl->st, op);
    if (atomic_fetch_add(&errprinted, 1) < MAX_ERRPRINT)
        fprintf(stderr, "imapload: client %ld: %s: %s%s%s\n", cl->id, op_names[op], what,
                cl->err[0] ? ": " : "", cl->err);
    return -1;
}

/* s as an IMAP quoted string (heap), or NULL when it holds CR, LF or NUL. */
static char *quote(const char *s)
{
    size_t n = strlen(s);
    if (strpbrk(s, "\r\n"))
        return NULL;
    char *q = malloc(2 * n + 3);
    if (q == NULL)
        return NULL;
    size_t o = 0;
    q[o++] = '"';
    for (const char *p = s; *p; p++) {
        if (*p == '"' || *p == '\\')
            q[o++] = '\\';
        q[o++] = *p;
    }
    q[o++] = '"';
    q[o] = '\0';
    return q;
}

static int resp_add(struct resp *r, const char *p, size_t n)
{
    if (r->len + n + 1 > r->cap) {
        size_t ncap = r->cap ? r->cap : 4096;
        while (ncap < r->len + n + 1)
            ncap *= 2;
        if (ncap > MAX_TEXT)
            return -1;
        char *nb = realloc(r->text, ncap);
        if (nb == NULL)
            return -1;
        r->text = nb;
        r->cap = ncap;
    }
    memcpy(r->text + r->len, p, n);
    r->len += n;
    r->text[r->len] = '\0';
    return 0;
}

/* The size of a literal announced at the end of line ("{N}" or "{N+}"), or -1. */
static long long literal_at_end(const char *line, size_t len)
{
    if (len < 3 || line[len - 1] != '}')
        return -1;
    size_t i = len - 1;
    if (i > 0 && line[i - 1] == '+')
        i--;
    size_t end = i;
    while (i > 0 && line[i - 1] >= '0' && line[i - 1] <= '9')
        i--;
    if (i == end || i == 0 || line[i - 1] != '{' || end - i > 12)
        return -1;
    return strtoll(line + i, NULL, 10);
}

/*
 * Reads one whole response into cl->resp: its lines, each literal skipped
 * (counted) and the line that follows it. Returns 1, or -1 (cl->err set).
 */
static int read_response(struct client *cl, struct loadconn *c)
{
    struct resp *r = &cl->resp;
    r->len = 0;
    r->literal_octets = r->last_literal = 0;
    r->literals = 0;
    if (r->text)
        r->text[0] = '\0';
    for (;;) {
        char *line;
        size_t len;
        int k = loadconn_line(c, &line, &len);
        if (k <= 0) {
            snprintf(cl->err, sizeof(cl->err), "%s",
                     k == 0 ? "connection closed by the server"
                            : (errno == EAGAIN ? "timed out" : "read error or line too long"));
            return -1;
        }
        if (resp_add(r, line, len) != 0) {
            snprintf(cl->err, sizeof(cl->err), "response longer than %d octets", MAX_TEXT);
            return -1;
        }
        long long lit = literal_at_end(line, len);
        if (lit < 0)
            return 1;
        k = loadconn_skip(c, (uint64_t)lit, NULL, NULL);
        if (k <= 0) {
            snprintf(cl->err, sizeof(cl->err), "%s inside a literal of %lld octets",
                     k == 0 ? "connection closed" : "read error or time-out", lit);
            return -1;
        }
        r->literal_octets += (uint64_t)lit;
        r->last_literal = (uint64_t)lit;
        r->literals++;
    }
}

/* Copies the response text into cl->err (for the error report). */
static void keep_text(struct client *cl)
{
    snprintf(cl->err, sizeof(cl->err), "%.200s", cl->resp.text ? cl->resp.text : "");
}

typedef int (*untagged_fn)(struct client *cl, void *arg);

/*
 * Reads responses up to the tagged one of tag, giving every untagged one
 * to fn (when not NULL). Returns 1 for OK, 0 for NO/BAD (text in cl->err),
 * -1 on I/O failure, an unexpected continuation or fn failing.
 */
static int until_tagged(struct client *cl, struct loadconn *c, const char *tag, untagged_fn fn,
                        void *arg)
{
    size_t tl = strlen(tag);
    int bad = 0;
    for (;;) {
        if (read_response(cl, c) != 1)
            return -1;
        const char *t = cl->resp.text;
        if (strncmp(t, tag, tl) == 0 && t[tl] == ' ') {
            if (bad)
                return -1;
            if (strncasecmp(t + tl + 1, "OK", 2) == 0)
                return 1;
            keep_text(cl);
            return 0;
        }
        if (t[0] == '+') {
            keep_text(cl);
            return -1;
        }
        if (strncasecmp(t, "* BYE", 5) == 0)
            keep_text(cl); /* the end comes next; say why */
        if (fn && !bad && fn(cl, arg) != 0)
            bad = 1; /* read on to the tagged line, then fail */
    }
}

/* Sends "<tag> <command>\r\n" and reads to its tagged response (see until_tagged). */
static int command(struct client *cl, struct loadconn *c, const char *cmd, untagged_fn fn,
                   void *arg)
{
    char tag[16];
    snprintf(tag, sizeof(tag), "a%u", ++cl->tag);
    size_t tl = strlen(tag), cmdlen = strlen(cmd);
    char *line = malloc(tl + cmdlen + 4);
    if (line == NULL) {
        snprintf(cl->err, sizeof(cl->err), "out of memory");
        return -1;
    }
    memcpy(line, tag, tl);
    line[tl] = ' ';
    memcpy(line + tl + 1, cmd, cmdlen);
    memcpy(line + tl + 1 + cmdlen, "\r\n", 2);
    cl->st.commands++;
    int rc = loadconn_send(c, line, tl + cmdlen + 3);
    free(line);
    if (rc != 0) {
        snprintf(cl->err, sizeof(cl->err), "send: %s", strerror(errno));
        return -1;
    }
    return until_tagged(cl, c, tag, fn, arg);
}

/* A timed command: records op's latency when OK, a failure otherwise. 0 or -1. */
static int timed(struct client *cl, struct loadconn *c, enum op op, const char *cmd, untagged_fn fn,
                 void *arg)
{
    uint64_t t = loadstat_now_us();
    int k = command(cl, c, cmd, fn, arg);
    if (k != 1)
        return fail(cl, op, k == 0 ? "refused" : "failed");
    loadstat_add(&cl->st, op, loadstat_now_us() - t);
    return 0;
}

/* "* N <word>" with N a number: N, else -1. */
static long untagged_number(const char *t, const char *word)
{
    if (t[0] != '*' || t[1] != ' ')
        return -1;
    char *end;
    long n = strtol(t + 2, &end, 10);
    if (end == t + 2 || *end != ' ' || strncasecmp(end + 1, word, strlen(word)) != 0)
        return -1;
    char after = end[1 + strlen(word)];
    return after == '\0' || after == ' ' ? n : -1;
}

/* The number after `item ` in a FETCH response's text, or -1. */
static long long fetch_item(const char *t, const char *item)
{
    size_t il = strlen(item);
    for (const char *p = t; (p = strcasestr(p, item)) != NULL; p += il) {
        if ((p == t || p[-1] == '(' || p[-1] == ' ') && p[il] == ' ') {
            char *end;
            long long v = strtoll(p + il + 1, &end, 10);
            if (end != p + il + 1)
                return v;
        }
    }
    return -1;
}

/* ---------------------------------------------------------- the steps */

/* Keeps EXISTS (and counts EXPUNGE) in the session's view. */
static int track(struct client *cl, void *arg)
{
    (void)arg;
    long n = untagged_number(cl->resp.text, "EXISTS");
    if (n >= 0) {
        if (n > MAX_MESSAGES) {
            snprintf(cl->err, sizeof(cl->err), "%ld messages: too many", n);
            return -1;
        }
        if (n + 1 > cl->size_cap) {
            long ncap = n + 1 + 64;
            long *ns = realloc(cl->size_of, (size_t)ncap * sizeof(*ns));
            if (ns == NULL) {
                snprintf(cl->err, sizeof(cl->err), "out of memory");
                return -1;
            }
            cl->size_of = ns;
            cl->size_cap = ncap;
        }
        for (long i = cl->exists + 1; i <= n; i++)
            cl->size_of[i] = -1;
        cl->exists = n;
        return 0;
    }
    n = untagged_number(cl->resp.text, "EXPUNGE");
    if (n >= 1 && n <= cl->exists) {
        memmove(cl->size_of + n, cl->size_of + n + 1,
                (size_t)(cl->exists - n) * sizeof(*cl->size_of));
        cl->exists--;
    }
    return 0;
}

static int on_fetchenv(struct client *cl, void *arg)
{
    (void)arg;
    if (track(cl, NULL) != 0)
        return -1;
    long seq = untagged_number(cl->resp.text, "FETCH");
    if (seq < 0)
        return 0;
    long long size = fetch_item(cl->resp.text, "RFC822.SIZE");
    bool envelope = strcasestr(cl->resp.text, "ENVELOPE") != NULL;
    if (size < 0 && !envelope)
        return 0; /* an unsolicited flag update (another session's STORE) */
    if (seq < 1 || seq > cl->exists || size < 0 || !envelope) {
        keep_text(cl);
        return -1;
    }
    cl->size_of[seq] = (long)size;
    cl->envelopes++;
    return 0;
}

struct body_fetch {
    long seq;
    uint64_t octets;
    int got;
};

static int on_fetchbody(struct client *cl, void *arg)
{
    struct body_fetch *b = arg;
    if (track(cl, NULL) != 0)
        return -1;
    long seq = untagged_number(cl->resp.text, "FETCH");
    if (seq != b->seq || cl->resp.literals == 0)
        return 0; /* another message's flags, or FLAGS of this one alone */
    if (strcasestr(cl->resp.text, "BODY[]") == NULL) {
        keep_text(cl);
        return -1;
    }
    b->octets = cl->resp.last_literal;
    b->got = 1;
    return 0;
}

static int on_search(struct client *cl, void *arg)
{
    int *seen = arg;
    if (strncasecmp(cl->resp.text, "* SEARCH", 8) == 0 ||
        strncasecmp(cl->resp.text, "* ESEARCH", 9) == 0)
        *seen = 1;
    return track(cl, NULL);
}

static int on_expunge(struct client *cl, void *arg)
{
    long *removed = arg;
    if (untagged_number(cl->resp.text, "EXPUNGE") >= 1 ||
        strncasecmp(cl->resp.text, "* VANISHED", 10) == 0)
        (*removed)++;
    return track(cl, NULL);
}

static int step_fetchenv(struct client *cl, struct loadconn *c)
{
    if (cl->exists == 0)
        return 0; /* nothing to fetch: nothing sent, nothing timed */
    char cmd[128];
    long first =
        opt.envelopes > 0 && cl->exists > opt.envelopes ? cl->exists - opt.envelopes + 1 : 1;
    snprintf(cmd, sizeof(cmd), "FETCH %ld:* (UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE)", first);
    uint64_t before = cl->envelopes;
    if (timed(cl, c, OP_FETCHENV, cmd, on_fetchenv, NULL) != 0)
        return -1;
    /* Exact unless other sessions share the mailbox (and may expunge meanwhile). */
    if ((long)(cl->envelopes - before) != cl->exists - first + 1 && opt.clients <= opt.nusers) {
        snprintf(cl->err, sizeof(cl->err), "%" PRIu64 " envelopes for %ld messages",
                 cl->envelopes - before, cl->exists - first + 1);
        return fail(cl, OP_FETCHENV, "missing FETCH responses");
    }
    return 0;
}

static int step_fetchbody(struct client *cl, struct loadconn *c)
{
    for (long i = 0; i < opt.bodies && cl->exists > 0; i++) {
        struct body_fetch b = {.seq = 1 + (long)(loadconn_rng(&cl->rng) % (uint64_t)cl->exists)};
        long want = cl->size_of[b.seq];
        char cmd[64];
        snprintf(cmd, sizeof(cmd), "FETCH %ld BODY[]", b.seq);
        if (timed(cl, c, OP_FETCHBODY, cmd, on_fetchbody, &b) != 0)
            return -1;
        if (!b.got) {
            snprintf(cl->err, sizeof(cl->err), "no BODY[] literal for message %ld", b.seq);
            return fail(cl, OP_FETCHBODY, "FETCH");
        }
        if (want >= 0 && b.octets != (uint64_t)want) {
            snprintf(cl->err, sizeof(cl->err), "message %ld: %" PRIu64 " octets, RFC822.SIZE %ld",
                     b.seq, b.octets, want);
            return fail(cl, OP_FETCHBODY, "size mismatch");
        }
        cl->st.items++;
        cl->st.bytes += b.octets;
    }
    return 0;
}

static int step_search(struct client *cl, struct loadconn *c)
{
    int seen = 0;
    size_t n = strlen(opt.search) + 16;
    char *cmd = malloc(n);
    if (cmd == NULL)
        return fail(cl, OP_SEARCH, "out of memory");
    snprintf(cmd, n, "SEARCH %s", opt.search);
    int rc = timed(cl, c, OP_SEARCH, cmd, on_search, &seen);
    free(cmd);
    if (rc == 0 && !seen) {
        snprintf(cl->err, sizeof(cl->err), "no untagged SEARCH");
        return fail(cl, OP_SEARCH, "SEARCH");
    }
    return rc;
}

static int step_store(struct client *cl, struct loadconn *c)
{
    if (cl->exists == 0)
        return 0;
    long seq = 1 + (long)(loadconn_rng(&cl->rng) % (uint64_t)cl->exists);
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "STORE %ld %cFLAGS (\\Flagged)", seq,
             loadconn_rng(&cl->rng) & 1 ? '+' : '-');
    return timed(cl, c, OP_STORE, cmd, track, NULL);
}

/* The UID of an [APPENDUID v uid] code in the tagged text, or 0. */
static unsigned long appenduid(const char *t)
{
    const char *p = strcasestr(t, "[APPENDUID ");
    if (p == NULL)
        return 0;
    char *end;
    (void)strtoul(p + 11, &end, 10);
    if (*end != ' ')
        return 0;
    return strtoul(end + 1, NULL, 10);
}

/*
 * APPEND of a new message (synchronising literal, as most clients send
 * it); *uid_r gets its UID when the server says it (UIDPLUS), else 0.
 */
static int step_append(struct client *cl, struct loadconn *c, unsigned long *uid_r)
{
    char head[512];
    cl->appends++;
    int hl = snprintf(head, sizeof(head),
                      "From: imapload <load@example.org>\r\nTo: <load@example.org>\r\n"
                      "Subject: imapload %06ld-%012" PRIu64 "\r\n"
                      "Message-ID: <imapload-%06ld-%012" PRIu64 "-%08lx@bench>\r\n"
                      "Date: Tue, 25 Nov 2025 20:37:23 +0000\r\nMIME-Version: 1.0\r\n"
                      "Content-Type: text/plain; charset=us-ascii\r\n\r\n",
                      cl->id, cl->appends, cl->id, cl->appends, (unsigned long)opt.seed);
    if (hl < 0 || (size_t)hl >= sizeof(head))
        return fail(cl, OP_APPEND, "header too long");
    size_t total = (size_t)hl + append_body_len;
    char tag[16], line[300];
    snprintf(tag, sizeof(tag), "a%u", ++cl->tag);
    int ll = snprintf(line, sizeof(line), "%s APPEND %.200s (\\Seen) {%zu}\r\n", tag,
                      quoted_mailbox, total);
    if (ll < 0 || (size_t)ll >= sizeof(line))
        return fail(cl, OP_APPEND, "mailbox name too long");
    uint64_t t = loadstat_now_us();
    cl->st.commands++;
    if (loadconn_send(c, line, (size_t)ll) != 0) {
        snprintf(cl->err, sizeof(cl->err), "send: %s", strerror(errno));
        return fail(cl, OP_APPEND, "APPEND");
    }
    /* The continuation request, perhaps after untagged responses. */
    for (;;) {
        if (read_response(cl, c) != 1)
            return fail(cl, OP_APPEND, "no continuation");
        if (cl->resp.text[0] == '+')
            break;
        if (strncmp(cl->resp.text, tag, strlen(tag)) == 0) {
            keep_text(cl);
            return fail(cl, OP_APPEND, "refused before the literal");
        }
        if (track(cl, NULL) != 0)
            return fail(cl, OP_APPEND, "bad untagged response");
    }
    if (loadconn_send(c, head, (size_t)hl) != 0 ||
        loadconn_send(c, append_body, append_body_len) != 0 || loadconn_send(c, "\r\n", 2) != 0) {
        snprintf(cl->err, sizeof(cl->err), "send: %s", strerror(errno));
        return fail(cl, OP_APPEND, "APPEND literal");
    }
    int k = until_tagged(cl, c, tag, track, NULL);
    if (k != 1)
        return fail(cl, OP_APPEND, k == 0 ? "refused" : "failed");
    loadstat_add(&cl->st, OP_APPEND, loadstat_now_us() - t);
    *uid_r = appenduid(cl->resp.text);
    return 0;
}

/* Marks what was appended \Deleted and EXPUNGEs it: exactly one message goes. */
static int step_expunge(struct client *cl, struct loadconn *c, bool appended, unsigned long uid)
{
    uint64_t t = loadstat_now_us();
    if (appended) {
        char cmd[96];
        if (uid)
            snprintf(cmd, sizeof(cmd), "UID STORE %lu +FLAGS.SILENT (\\Deleted)", uid);
        else
            snprintf(cmd, sizeof(cmd), "STORE * +FLAGS.SILENT (\\Deleted)");
        int k = command(cl, c, cmd, track, NULL);
        if (k != 1)
            return fail(cl, OP_EXPUNGE, k == 0 ? "STORE \\Deleted refused" : "STORE failed");
    }
    long removed = 0;
    int k = command(cl, c, "EXPUNGE", on_expunge, &removed);
    if (k != 1)
        return fail(cl, OP_EXPUNGE, k == 0 ? "refused" : "failed");
    if (appended && (removed < 1 || (removed > 1 && opt.clients <= opt.nusers))) {
        snprintf(cl->err, sizeof(cl->err), "%ld messages expunged, expected 1", removed);
        return fail(cl, OP_EXPUNGE, "EXPUNGE");
    }
    loadstat_add(&cl->st, OP_EXPUNGE, loadstat_now_us() - t);
    return 0;
}

/* IDLE: the continuation, --idle-ms of waiting, DONE, the tagged OK. */
static int idle_enter(struct client *cl, struct loadconn *c, char *tag, size_t tagsize)
{
    snprintf(tag, tagsize, "a%u", ++cl->tag);
    char line[32];
    int n = snprintf(line, sizeof(line), "%s IDLE\r\n", tag);
    cl->st.commands++;
    if (loadconn_send(c, line, (size_t)n) != 0) {
        snprintf(cl->err, sizeof(cl->err), "send: %s", strerror(errno));
        return -1;
    }
    for (;;) {
        if (read_response(cl, c) != 1)
            return -1;
        if (cl->resp.text[0] == '+')
            return 0;
        if (strncmp(cl->resp.text, tag, strlen(tag)) == 0) {
            keep_text(cl);
            return -1;
        }
        if (track(cl, NULL) != 0)
            return -1;
    }
}

static int idle_leave(struct client *cl, struct loadconn *c, const char *tag)
{
    if (loadconn_send(c, "DONE\r\n", 6) != 0) {
        snprintf(cl->err, sizeof(cl->err), "send: %s", strerror(errno));
        return -1;
    }
    return until_tagged(cl, c, tag, track, NULL) == 1 ? 0 : -1;
}

static int step_idle(struct client *cl, struct loadconn *c)
{
    char tag[16];
    uint64_t t = loadstat_now_us();
    if (idle_enter(cl, c, tag, sizeof(tag)) != 0)
        return fail(cl, OP_IDLE, "IDLE");
    if (opt.idle_ms > 0)
        loadconn_sleep_us((uint64_t)opt.idle_ms * 1000u);
    if (idle_leave(cl, c, tag) != 0)
        return fail(cl, OP_IDLE, "DONE");
    loadstat_add(&cl->st, OP_IDLE, loadstat_now_us() - t);
    return 0;
}

/* ------------------------------------------------------------ sessions */

/* TCP connect, implicit TLS, greeting, STARTTLS. Returns 0 or -1 (failure recorded). */
static int open_conn(struct client *cl, struct loadconn *c)
{
    uint64_t t = loadstat_now_us();
    if (loadconn_connect(c, target, opt.timeout, cl->err, sizeof(cl->err)) != 0)
        return fail(cl, OP_CONNECT, "cannot connect");
    if (opt.tls && loadconn_tls(c, tls_ctx, cl->err, sizeof(cl->err)) != 0) {
        loadconn_close(c);
        return fail(cl, OP_CONNECT, "implicit TLS");
    }
    if (read_response(cl, c) != 1 || strncasecmp(cl->resp.text, "* OK", 4) != 0) {
        if (cl->resp.text && cl->resp.len)
            keep_text(cl);
        loadconn_close(c);
        return fail(cl, OP_CONNECT, "no * OK greeting");
    }
    loadstat_add(&cl->st, OP_CONNECT, loadstat_now_us() - t);
    cl->err[0] = '\0';
    if (opt.starttls) {
        t = loadstat_now_us();
        if (command(cl, c, "STARTTLS", NULL, NULL) != 1 ||
            loadconn_tls(c, tls_ctx, cl->err, sizeof(cl->err)) != 0) {
            loadconn_close(c);
            return fail(cl, OP_STARTTLS, "STARTTLS");
        }
        /* RFC 3501 §6.2.1: whatever was buffered before the handshake is void. */
        loadconn_discard(c);
        loadstat_add(&cl->st, OP_STARTTLS, loadstat_now_us() - t);
    }
    return 0;
}

static int login(struct client *cl, struct loadconn *c, long n)
{
    char user[256];
    if (loadconn_user_name(opt.users, n, user, sizeof(user)) != 0) {
        snprintf(cl->err, sizeof(cl->err), "user name too long");
        return fail(cl, OP_LOGIN, "LOGIN");
    }
    char *qu = quote(user);
    size_t len = (qu ? strlen(qu) : 0) + strlen(quoted_password) + 16;
    char *cmd = qu ? malloc(len) : NULL;
    if (cmd == NULL) {
        free(qu);
        snprintf(cl->err, sizeof(cl->err), "out of memory");
        return fail(cl, OP_LOGIN, "LOGIN");
    }
    snprintf(cmd, len, "LOGIN %s %s", qu, quoted_password);
    int rc = timed(cl, c, OP_LOGIN, cmd, NULL, NULL);
    free(cmd);
    free(qu);
    return rc;
}

static int logout(struct client *cl, struct loadconn *c)
{
    return timed(cl, c, OP_LOGOUT, "LOGOUT", NULL, NULL);
}

static int select_mailbox(struct client *cl, struct loadconn *c)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "SELECT %.280s", quoted_mailbox);
    cl->exists = 0;
    return timed(cl, c, OP_SELECT, cmd, track, NULL);
}

/* The watcher of --idle-watch: a connection in IDLE on the same mailbox. */
struct watcher {
    struct loadconn c;
    char tag[16];
    bool on;
};

static int watcher_open(struct client *cl, struct watcher *w, long user)
{
    w->on = false;
    if (open_conn(cl, &w->c) != 0)
        return -1;
    long exists = cl->exists;
    long *size_of = cl->size_of;
    long cap = cl->size_cap;
    /* The watcher's EXISTS must not disturb the main view: a view of its own. */
    cl->size_of = NULL;
    cl->size_cap = 0;
    int rc = -1;
    if (login(cl, &w->c, user) == 0 && select_mailbox(cl, &w->c) == 0) {
        if (idle_enter(cl, &w->c, w->tag, sizeof(w->tag)) == 0) {
            w->on = true;
            rc = 0;
        } else
            fail(cl, OP_IDLE, "watcher IDLE");
    }
    free(cl->size_of);
    cl->size_of = size_of;
    cl->size_cap = cap;
    cl->exists = exists;
    if (rc != 0)
        loadconn_close(&w->c);
    return rc;
}

/* Waits for "* N EXISTS" on the watcher: IDLEWAKE from sent_us. */
static int watcher_wait(struct client *cl, struct watcher *w, uint64_t sent_us)
{
    for (;;) {
        if (read_response(cl, &w->c) != 1)
            return fail(cl, OP_IDLEWAKE, "no EXISTS on the idling connection");
        if (untagged_number(cl->resp.text, "EXISTS") >= 0)
            break;
        if (cl->resp.text[0] != '*') {
            keep_text(cl);
            return fail(cl, OP_IDLEWAKE, "unexpected response in IDLE");
        }
    }
    loadstat_add(&cl->st, OP_IDLEWAKE, loadstat_now_us() - sent_us);
    return 0;
}

static void watcher_close(struct client *cl, struct watcher *w)
{
    if (w->on) {
        long exists = cl->exists;
        long *size_of = cl->size_of;
        long cap = cl->size_cap;
        cl->size_of = NULL;
        cl->size_cap = 0;
        if (idle_leave(cl, &w->c, w->tag) == 0)
            (void)command(cl, &w->c, "LOGOUT", NULL, NULL);
        free(cl->size_of);
        cl->size_of = size_of;
        cl->size_cap = cap;
        cl->exists = exists;
    }
    loadconn_close(&w->c);
    w->on = false;
}

/* One cycle of the mix on a logged-in connection. Returns 0 or -1 (recorded). */
static int cycle(struct client *cl, struct loadconn *c, struct watcher *w)
{
    char cmd[400];
    if (opt.mix & S_LIST) {
        if (timed(cl, c, OP_LIST, "LIST \"\" \"*\"", NULL, NULL) != 0)
            return -1;
    }
    if (opt.mix & S_STATUS) {
        snprintf(cmd, sizeof(cmd), "STATUS %.280s (MESSAGES UNSEEN UIDNEXT)", quoted_mailbox);
        if (timed(cl, c, OP_STATUS, cmd, NULL, NULL) != 0)
            return -1;
    }
    if (opt.mix & S_SELECT) {
        if (select_mailbox(cl, c) != 0)
            return -1;
    }
    if ((opt.mix & S_FETCHENV) && step_fetchenv(cl, c) != 0)
        return -1;
    if ((opt.mix & S_FETCHBODY) && step_fetchbody(cl, c) != 0)
        return -1;
    if ((opt.mix & S_SEARCH) && step_search(cl, c) != 0)
        return -1;
    if ((opt.mix & S_STORE) && step_store(cl, c) != 0)
        return -1;
    unsigned long uid = 0;
    bool appended = false;
    if (opt.mix & S_APPEND) {
        uint64_t sent = loadstat_now_us();
        if (step_append(cl, c, &uid) != 0)
            return -1;
        appended = true;
        if (w && w->on && watcher_wait(cl, w, sent) != 0)
            return -1;
    }
    if ((opt.mix & S_EXPUNGE) && step_expunge(cl, c, appended, uid) != 0)
        return -1;
    if ((opt.mix & S_IDLE) && step_idle(cl, c) != 0)
        return -1;
    return 0;
}

/* One full session as user number n. Returns 0, or -1 (recorded). */
static int full_session(struct client *cl, long n)
{
    struct loadconn c;
    if (open_conn(cl, &c) != 0)
        return -1;
    int rc = -1;
    cl->exists = 0;
    if (login(cl, &c, n) == 0 && cycle(cl, &c, NULL) == 0)
        rc = logout(cl, &c);
    loadconn_close(&c);
    return rc;
}

/* The next user of client cl: i+1, i+1+N, ... in turn (see DESCRIPTION). */
static long next_user(struct client *cl)
{
    if (opt.clients > opt.nusers)
        return cl->id % opt.nusers + 1;
    long mine = (opt.nusers - cl->id + opt.clients - 1) / opt.clients;
    long u = cl->id + 1 + (cl->next_user % mine) * opt.clients;
    cl->next_user++;
    return u;
}

/* Paces the thread: waits for the next start; false when the run is over. */
static bool next_start(struct client *cl, uint64_t period, uint64_t *next)
{
    (void)cl;
    if (period) {
        loadconn_sleep_until(*next, &stop);
        if (atomic_load(&stop))
            return false;
        *next += period;
        uint64_t now = loadstat_now_us();
        if (*next + period < now)
            *next = now; /* too far behind: no burst to catch up */
    }
    if (atomic_load(&stop))
        return false;
    if (opt.sessions > 0 && atomic_fetch_add(&started, 1) >= opt.sessions)
        return false;
    return true;
}

static void *session_thread(void *arg)
{
    struct client *cl = arg;
    uint64_t period = opt.rate > 0 ? (uint64_t)(1e6 / opt.rate) : 0;
    /* Spread the paced clients' starts evenly over one period. */
    uint64_t next = loadstat_now_us() + (period * (uint64_t)cl->id) / (uint64_t)opt.clients;

    if (!opt.steady) {
        while (next_start(cl, period, &next)) {
            cl->err[0] = '\0';
            if (full_session(cl, next_user(cl)) == 0)
                cl->st.sessions++;
            else {
                cl->st.errors++;
                loadconn_sleep_us(10000); /* a refusing server must not become a spin */
            }
        }
        return NULL;
    }

    /* Steady: one login, cycles until the end; a failed connection is replaced. */
    struct loadconn c;
    struct watcher w = {.on = false};
    loadconn_init(&c);
    loadconn_init(&w.c);
    long user = next_user(cl);
    while (next_start(cl, period, &next)) {
        cl->err[0] = '\0';
        if (c.fd < 0) {
            cl->exists = 0;
            if (open_conn(cl, &c) != 0 || login(cl, &c, user) != 0) {
                loadconn_close(&c);
                cl->st.errors++;
                loadconn_sleep_us(10000);
                continue;
            }
            if (!(opt.mix & S_SELECT) && (opt.mix & NEEDS_SELECT) && select_mailbox(cl, &c) != 0) {
                loadconn_close(&c);
                cl->st.errors++;
                continue;
            }
            if (opt.idle_watch && watcher_open(cl, &w, user) != 0) {
                loadconn_close(&c);
                cl->st.errors++;
                loadconn_sleep_us(10000);
                continue;
            }
        }
        if (cycle(cl, &c, opt.idle_watch ? &w : NULL) == 0)
            cl->st.sessions++;
        else {
            cl->st.errors++;
            watcher_close(cl, &w);
            loadconn_close(&c);
        }
    }
    if (c.fd >= 0) {
        watcher_close(cl, &w);
        if (logout(cl, &c) != 0)
            cl->st.errors++;
    }
    loadconn_close(&c);
    loadconn_close(&w.c);
    return NULL;
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: imapload [options]\n"
            "IMAP load generator: --clients threads run cycles of LIST, STATUS, SELECT,\n"
            "FETCH (envelopes, bodies), SEARCH, STORE, APPEND, EXPUNGE, IDLE, each cycle a\n"
            "session of its own (--mode full) or on one login (--mode steady).\n"
            "\n"
            "  --host H            server (default 127.0.0.1)\n"
            "  --port P            port (default 143)\n"
            "  --users PATTERN     user names, %%d = 1..--nusers (default user%%d); with\n"
            "                      --nusers 1 also a plain name\n"
            "  --nusers N          number of users (default 200)\n"
            "  --password PW       password of every user (required)\n"
            "  --mode full|steady  a session per cycle (default), or one login per client\n"
            "  --clients N         client threads (default 10)\n"
            "  --duration S        seconds to run (default 10)\n"
            "  --sessions N        stop after N cycles in all instead of after --duration\n"
            "  --rate R            cycles per second per client (0 = saturate, default)\n"
            "  --mix STEPS         comma-separated steps of a cycle, in fixed order:\n"
            "                      list,status,select,fetchenv,fetchbody,search,store,append,\n"
            "                      expunge,idle (default: all but search)\n"
            "  --bodies K          FETCH BODY[] of K random messages per cycle (default 3)\n"
            "  --envelopes N|all   FETCH ENVELOPE of the last N messages, or all (default)\n"
            "  --search CRITERIA   the SEARCH step's criteria (default UNSEEN)\n"
            "  --append-size B     octets of an APPENDed message (default 4096)\n"
            "  --idle-ms MS        how long the idle step stays in IDLE (default 0)\n"
            "  --idle-watch        steady mode: a second connection per client IDLEs on the\n"
            "                      mailbox; IDLEWAKE = APPEND sent -> EXISTS read there\n"
            "  --mailbox NAME      the mailbox (default INBOX)\n"
            "  --tls               implicit TLS (port 993); certificates are not verified\n"
            "  --starttls          STARTTLS after the greeting\n"
            "  --timeout S         per-read/write time-out (default 30)\n"
            "  --seed N            random seed (default 1)\n"
            "  --help              this text\n"
            "\n"
            "Output lines: \"imapload result ...\", \"imapload latency op=... p50_ms= p99_ms=\",\n"
            "\"imapload error op=... count=\", \"imapload fetched envelopes=...\",\n"
            "\"imapload rate op=... ops_per_s=...\".\n"
            "Exit 1 when any session failed.\n");
}

static unsigned parse_mix(const char *s)
{
    unsigned mix = 0;
    const char *p = s;
    while (*p) {
        size_t n = strcspn(p, ",");
        bool found = false;
        for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
            if (strlen(steps[i].name) == n && strncmp(steps[i].name, p, n) == 0) {
                mix |= steps[i].bit;
                found = true;
            }
        if (!found) {
            fprintf(stderr, "imapload: --mix: unknown step \"%.*s\"\n", (int)n, p);
            exit(2);
        }
        p += n;
        if (*p == ',')
            p++;
    }
    if (mix == 0) {
        fprintf(stderr, "imapload: --mix: no steps\n");
        exit(2);
    }
    return mix;
}

static void parse_args(int argc, char **argv)
{
    enum {
        O_HOST = 256,
        O_PORT,
        O_USERS,
        O_NUSERS,
        O_PASSWORD,
        O_MODE,
        O_CLIENTS,
        O_DURATION,
        O_SESSIONS,
        O_RATE,
        O_MIX,
        O_BODIES,
        O_ENVELOPES,
        O_SEARCH,
        O_APPEND_SIZE,
        O_IDLE_MS,
        O_IDLE_WATCH,
        O_MAILBOX,
        O_TLS,
        O_STARTTLS,
        O_TIMEOUT,
        O_SEED,
        O_HELP
    };
    static const struct option lo[] = {
        {"host", required_argument, NULL, O_HOST},
        {"port", required_argument, NULL, O_PORT},
        {"users", required_argument, NULL, O_USERS},
        {"nusers", required_argument, NULL, O_NUSERS},
        {"password", required_argument, NULL, O_PASSWORD},
        {"mode", required_argument, NULL, O_MODE},
        {"clients", required_argument, NULL, O_CLIENTS},
        {"duration", required_argument, NULL, O_DURATION},
        {"sessions", required_argument, NULL, O_SESSIONS},
        {"rate", required_argument, NULL, O_RATE},
        {"mix", required_argument, NULL, O_MIX},
        {"bodies", required_argument, NULL, O_BODIES},
        {"envelopes", required_argument, NULL, O_ENVELOPES},
        {"search", required_argument, NULL, O_SEARCH},
        {"append-size", required_argument, NULL, O_APPEND_SIZE},
        {"idle-ms", required_argument, NULL, O_IDLE_MS},
        {"idle-watch", no_argument, NULL, O_IDLE_WATCH},
        {"mailbox", required_argument, NULL, O_MAILBOX},
        {"tls", no_argument, NULL, O_TLS},
        {"starttls", no_argument, NULL, O_STARTTLS},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"seed", required_argument, NULL, O_SEED},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    static const char *P = "imapload";
    bool have_duration = false;
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case O_HOST:
            opt.host = optarg;
            break;
        case O_PORT:
            opt.port = optarg;
            break;
        case O_USERS:
            opt.users = optarg;
            break;
        case O_NUSERS:
            opt.nusers = loadconn_parse_long(P, "--nusers", optarg, 1, 100000000);
            break;
        case O_PASSWORD:
            opt.password = optarg;
            break;
        case O_MODE:
            if (strcmp(optarg, "full") == 0)
                opt.steady = false;
            else if (strcmp(optarg, "steady") == 0)
                opt.steady = true;
            else {
                fprintf(stderr, "imapload: --mode: full or steady, not \"%s\"\n", optarg);
                exit(2);
            }
            break;
        case O_CLIENTS:
            opt.clients = loadconn_parse_long(P, "--clients", optarg, 1, 10000);
            break;
        case O_DURATION:
            opt.duration = loadconn_parse_double(P, "--duration", optarg, 0, 1e7);
            have_duration = true;
            break;
        case O_SESSIONS:
            opt.sessions = loadconn_parse_long(P, "--sessions", optarg, 1, LONG_MAX);
            break;
        case O_RATE:
            opt.rate = loadconn_parse_double(P, "--rate", optarg, 0, 1e6);
            break;
        case O_MIX:
            opt.mix = parse_mix(optarg);
            break;
        case O_BODIES:
            opt.bodies = loadconn_parse_long(P, "--bodies", optarg, 0, 100000);
            break;
        case O_ENVELOPES:
            opt.envelopes = strcmp(optarg, "all") == 0
                                ? 0
                                : loadconn_parse_long(P, "--envelopes", optarg, 1, MAX_MESSAGES);
            break;
        case O_SEARCH:
            opt.search = optarg;
            break;
        case O_APPEND_SIZE:
            opt.append_size = loadconn_parse_long(P, "--append-size", optarg, 512, 64L << 20);
            break;
        case O_IDLE_MS:
            opt.idle_ms = loadconn_parse_long(P, "--idle-ms", optarg, 0, 3600000);
            break;
        case O_IDLE_WATCH:
            opt.idle_watch = true;
            break;
        case O_MAILBOX:
            opt.mailbox = optarg;
            break;
        case O_TLS:
            opt.tls = true;
            break;
        case O_STARTTLS:
            opt.starttls = true;
            break;
        case O_TIMEOUT:
            opt.timeout = loadconn_parse_double(P, "--timeout", optarg, 0.001, 1e6);
            break;
        case O_SEED:
            opt.seed = (unsigned long)loadconn_parse_long(P, "--seed", optarg, 0, LONG_MAX);
            break;
        case O_HELP:
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            exit(2);
        }
    }
    if (optind != argc) {
        fprintf(stderr, "imapload: unexpected argument \"%s\"\n", argv[optind]);
        exit(2);
    }
    /* One user may be named as is (--nusers 1 --users big). */
    if (!loadconn_pattern_ok(opt.users) &&
        !(opt.nusers == 1 && strchr(opt.users, '%') == NULL && strlen(opt.users) < 200)) {
        fprintf(stderr, "imapload: --users needs exactly one %%d (other %% written %%%%), "
                        "under 200 characters; or a plain name with --nusers 1\n");
        exit(2);
    }
    if (opt.password == NULL) {
        fprintf(stderr, "imapload: --password is required\n");
        exit(2);
    }
    quoted_password = strlen(opt.password) <= 256 ? quote(opt.password) : NULL;
    quoted_mailbox = strlen(opt.mailbox) <= 200 ? quote(opt.mailbox) : NULL;
    if (quoted_password == NULL || quoted_mailbox == NULL) {
        fprintf(stderr, "imapload: --password, --mailbox: at most 256 and 200 characters, no "
                        "line breaks\n");
        exit(2);
    }
    if (strlen(opt.search) > 1000 || strpbrk(opt.search, "\r\n")) {
        fprintf(stderr, "imapload: --search: at most 1000 characters, no line breaks\n");
        exit(2);
    }
    if (opt.tls && opt.starttls) {
        fprintf(stderr, "imapload: --tls and --starttls exclude each other\n");
        exit(2);
    }
    if ((opt.tls || opt.starttls) && !loadconn_have_tls()) {
        fprintf(stderr, "imapload: built without OpenSSL: no --tls/--starttls\n");
        exit(2);
    }
    if (opt.idle_watch && !(opt.steady && (opt.mix & S_APPEND))) {
        fprintf(stderr, "imapload: --idle-watch needs --mode steady and the append step\n");
        exit(2);
    }
    if ((opt.mix & NEEDS_SELECT) && !(opt.mix & S_SELECT) && !opt.steady) {
        fprintf(stderr, "imapload: --mix: fetch, search, store, expunge and idle need select "
                        "(or --mode steady, which selects once)\n");
        exit(2);
    }
    if (opt.sessions > 0 && !have_duration)
        opt.duration = 0; /* --sessions alone: no time limit */
    if (opt.clients > opt.nusers && (opt.mix & (S_FETCHBODY | S_STORE | S_APPEND | S_EXPUNGE)))
        fprintf(stderr,
                "imapload: warning: %ld clients share %ld users: sequence numbers may move "
                "under a client's feet\n",
                opt.clients, opt.nusers);
}

/* The body of every APPEND: CRLF lines, --append-size octets minus a header's worth. */
static int make_body(void)
{
    static const char line[] =
        "The quick brown fox jumps over the lazy dog 0123456789 abcdefghijklmnopqrstuv\r\n";
    size_t want = (size_t)opt.append_size > 400 ? (size_t)opt.append_size - 400 : 100;
    size_t n = want / (sizeof(line) - 1) + 1;
    append_body = malloc(n * (sizeof(line) - 1) + 1);
    if (append_body == NULL)
        return -1;
    for (size_t i = 0; i < n; i++)
        memcpy(append_body + i * (sizeof(line) - 1), line, sizeof(line) - 1);
    append_body_len = n * (sizeof(line) - 1);
    return 0;
}

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    int e = getaddrinfo(opt.host, opt.port, &hints, &target);
    if (e != 0) {
        fprintf(stderr, "imapload: %s:%s: %s\n", opt.host, opt.port, gai_strerror(e));
        return 2;
    }
    if (opt.tls || opt.starttls) {
        tls_ctx = loadconn_tls_context();
        if (tls_ctx == NULL) {
            fprintf(stderr, "imapload: cannot create a TLS context\n");
            return 2;
        }
    }
    if (make_body() != 0) {
        fprintf(stderr, "imapload: out of memory\n");
        return 2;
    }
    long nthreads = opt.clients;
    struct client *cls = calloc((size_t)nthreads, sizeof(*cls));
    if (cls == NULL) {
        fprintf(stderr, "imapload: out of memory\n");
        return 2;
    }
    for (long i = 0; i < nthreads; i++) {
        cls[i].id = i;
        cls[i].rng =
            (opt.seed + 1) * 0x9E3779B97F4A7C15ULL ^ (uint64_t)(i + 1) * 0xBF58476D1CE4E5B9ULL;
        if (cls[i].rng == 0)
            cls[i].rng = 1;
        if (loadstat_init(&cls[i].st, op_names, OP_COUNT) != 0) {
            fprintf(stderr, "imapload: out of memory\n");
            return 2;
        }
    }
    char mixtext[200] = "";
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
        if (opt.mix & steps[i].bit) {
            if (mixtext[0])
                strcat(mixtext, ",");
            strcat(mixtext, steps[i].name);
        }
    printf("imapload target=%s:%s mode=%s clients=%ld duration_s=%.1f sessions=%ld rate=%.3f "
           "mix=%s bodies=%ld envelopes=%ld append_size=%ld idle_watch=%d tls=%s\n",
           opt.host, opt.port, opt.steady ? "steady" : "full", nthreads, opt.duration, opt.sessions,
           opt.rate, mixtext, opt.bodies, opt.envelopes, opt.append_size, opt.idle_watch,
           opt.tls        ? "implicit"
           : opt.starttls ? "starttls"
                          : "no");
    fflush(stdout);

    struct loadstat total;
    if (loadstat_init(&total, op_names, OP_COUNT) != 0) {
        fprintf(stderr, "imapload: out of memory\n");
        return 2;
    }
    double cpu0 = loadstat_cpu_seconds();
    uint64_t t0 = loadstat_now_us();

    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0)
        return 2;
    (void)pthread_attr_setstacksize(&attr, 256 * 1024);
    long running = 0;
    for (; running < nthreads; running++) {
        int err = pthread_create(&cls[running].thread, &attr, session_thread, &cls[running]);
        if (err != 0) {
            fprintf(stderr, "imapload: pthread_create: %s\n", strerror(err));
            atomic_store(&stop, true);
            break;
        }
    }
    pthread_attr_destroy(&attr);
    uint64_t deadline = t0 + (uint64_t)(opt.duration * 1e6);
    while (!interrupted && !atomic_load(&stop)) {
        uint64_t now = loadstat_now_us();
        if (opt.duration > 0 && now >= deadline)
            break;
        if (opt.sessions > 0 && atomic_load(&started) >= opt.sessions)
            break; /* the threads finish what they started */
        loadconn_sleep_us(opt.duration > 0 && deadline - now < 50000 ? deadline - now : 50000);
    }
    atomic_store(&stop, true);
    for (long i = 0; i < running; i++)
        pthread_join(cls[i].thread, NULL);
    double elapsed = (double)(loadstat_now_us() - t0) / 1e6;

    uint64_t envelopes = 0;
    for (long i = 0; i < nthreads; i++) {
        loadstat_merge(&total, &cls[i].st);
        loadstat_free(&cls[i].st);
        envelopes += cls[i].envelopes;
        free(cls[i].resp.text);
        free(cls[i].size_of);
    }
    loadstat_print(stdout, "imapload", "fetch", &total, elapsed, loadstat_cpu_seconds() - cpu0);
    printf("imapload fetched envelopes=%" PRIu64 " envelopes_per_s=%.2f\n", envelopes,
           elapsed > 0 ? (double)envelopes / elapsed : 0.0);
    /* Operations per second, one line per operation that ran. */
    for (size_t i = 0; i < OP_COUNT; i++)
        if (total.ops[i].count > 0)
            printf("imapload rate op=%s ops_per_s=%.2f\n", op_names[i],
                   elapsed > 0 ? (double)total.ops[i].count / elapsed : 0.0);
    int rc = total.errors || running < nthreads ? 1 : 0;
    loadstat_free(&total);
    free(cls);
    free(append_body);
    free(quoted_password);
    free(quoted_mailbox);
    freeaddrinfo(target);
    loadconn_tls_context_free(tls_ctx);
    return rc;
}
