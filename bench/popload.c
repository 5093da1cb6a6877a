/*
 * NAME
 *      popload - POP3 load generator (sessions, paced or saturated; idle
 *      connections)
 *
 * SYNOPSIS
 *      popload --host H --port P --users PATTERN --nusers N --password PW
 *              [--clients N] [--duration S | --sessions N] [--retr K|all]
 *              [--dele] [--rate R] [--tls | --stls] [--timeout S] [--seed N]
 *      popload --idle N [--idle-login K] [--clients T] [--duration S | --hold-stdin] ...
 *
 * DESCRIPTION
 *      Points at any POP3 server (ofcmail's iolistener, Dovecot) so that the
 *      same load runs against both (BASELINES.md). One thread per client,
 *      blocking sockets.
 *
 *      Session mode (default): each client repeats sessions of connect,
 *      greeting, USER/PASS, STAT, UIDL, LIST, RETR of K messages chosen at
 *      random (the octets received, dot-stuffing removed, must equal the
 *      LIST size), DELE of those with --dele, QUIT, for --duration seconds
 *      or until --sessions sessions have started. --rate R paces each
 *      client at R sessions per second (a profile, like "a login per
 *      second per client"); 0 saturates. Client i uses the users i+1,
 *      i+1+N, ... of the pattern in turn, so that no two clients open the
 *      same maildrop at once (RFC 1939 servers lock it) when N <= --nusers.
 *
 *      Idle mode (--idle N): T threads (--clients) open N connections and
 *      read the greeting on each; the first K (--idle-login) log in as
 *      distinct users and STAT. It prints "popload holding ..." when all are
 *      open, holds them for --duration seconds (or, with --hold-stdin, until
 *      a line or end of file on standard input, so that a script can
 *      measure the server meanwhile), watching for any the server closes,
 *      then QUITs each and reports.
 *
 *      Output: the loadstat.h format (result, latency per operation:
 *      CONNECT = connect + greeting (+ TLS), LOGIN = USER + PASS, STAT,
 *      UIDL, LIST, RETR, DELE, QUIT, STLS; error counts), plus in idle mode
 *      one "popload idle ..." line. The first errors are also described on
 *      standard error.
 *
 * DIAGNOSTICS
 *      Exit 0 when no session failed, 1 when some did, 2 on a usage or
 *      set-up error.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* This program */
#include "loadconn.h"
#include "loadstat.h"

#define MAX_ERRPRINT 10 /* errors described on stderr */

enum op {
    OP_CONNECT,
    OP_STLS,
    OP_LOGIN,
    OP_STAT,
    OP_UIDL,
    OP_LIST,
    OP_RETR,
    OP_DELE,
    OP_QUIT,
    OP_COUNT
};
static const char *const op_names[OP_COUNT] = {"CONNECT", "STLS", "LOGIN", "STAT", "UIDL",
                                               "LIST",    "RETR", "DELE",  "QUIT"};

struct opts {
    const char *host;
    const char *port;
    const char *users; /* pattern with one %d */
    long nusers;
    const char *password;
    long clients;
    double duration;
    long sessions; /* 0: no limit */
    long retr;     /* -1: all */
    bool dele;
    double rate; /* sessions/s per client, 0 = saturate */
    long idle;   /* 0: session mode */
    long idle_login;
    bool hold_stdin;
    double timeout;
    bool tls;  /* implicit TLS */
    bool stls; /* STLS after the greeting */
    unsigned long seed;
};

static struct opts opt = {
    .host = "127.0.0.1",
    .port = "110",
    .users = "user%d",
    .nusers = 200,
    .password = NULL,
    .clients = 10,
    .duration = 10.0,
    .retr = 5,
    .timeout = 30.0,
    .seed = 1,
};

static struct addrinfo *target;
static atomic_bool stop;
static atomic_long started;
static atomic_int errprinted;
static volatile sig_atomic_t interrupted;
static void *tls_ctx; /* SSL_CTX, with --tls/--stls */

struct client {
    long id;
    pthread_t thread;
    struct loadstat st;
    uint64_t rng;
    long next_user; /* index into this client's users */
    /* idle mode: the connections [from, to) of the shared array */
    struct loadconn *conns;
    long from, to;
    long greeted, logged_in, closed_clean;
    char err[256]; /* the last -ERR text or I/O failure */
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
        fprintf(stderr, "popload: client %ld: %s: %s%s%s\n", cl->id, op_names[op], what,
                cl->err[0] ? ": " : "", cl->err);
    return -1;
}

/* ---------------------------------------------------------- connection */

static int tls_start(struct client *cl, struct loadconn *c)
{
    return loadconn_tls(c, tls_ctx, cl->err, sizeof(cl->err));
}

/*
 * Reads a status line: 1 for +OK, 0 for -ERR (its text kept in cl->err),
 * -1 for anything else. *rest gets what follows the status word.
 */
static int status(struct client *cl, struct loadconn *c, char **rest)
{
    char *line;
    size_t len;
    int k = loadconn_line(c, &line, &len);
    if (k <= 0) {
        snprintf(cl->err, sizeof(cl->err), "%s",
                 k == 0 ? "connection closed by the server"
                        : (errno == EAGAIN ? "timed out" : strerror(errno)));
        return -1;
    }
    if (rest)
        *rest = line + (len >= 3 ? 3 : len);
    if (strncmp(line, "+OK", 3) == 0)
        return 1;
    snprintf(cl->err, sizeof(cl->err), "%.200s", line);
    return strncmp(line, "-ERR", 4) == 0 ? 0 : -1;
}

/* Sends "VERB[ arg]\r\n" and reads the status line; 1 for +OK. */
static int command(struct client *cl, struct loadconn *c, const char *verb, const char *arg,
                   char **rest)
{
    char line[512];
    int n = snprintf(line, sizeof(line), "%s%s%s\r\n", verb, arg ? " " : "", arg ? arg : "");
    if (n < 0 || (size_t)n >= sizeof(line)) {
        snprintf(cl->err, sizeof(cl->err), "command too long");
        return -1;
    }
    cl->st.commands++;
    if (loadconn_send(c, line, (size_t)n) != 0) {
        snprintf(cl->err, sizeof(cl->err), "send: %s", strerror(errno));
        return -1;
    }
    return status(cl, c, rest);
}

/*
 * Reads the lines of a multi-line reply up to ".", dot-stuffing removed.
 * Calls each(line, arg) per line when each is not NULL; returns the
 * octets of the content with CRLF line ends (what LIST counts), or -1.
 */
static long long multiline(struct client *cl, struct loadconn *c, int (*each)(char *, void *),
                           void *arg)
{
    long long octets = 0;
    for (;;) {
        char *line;
        size_t len;
        int k = loadconn_line(c, &line, &len);
        if (k <= 0) {
            snprintf(cl->err, sizeof(cl->err), "%s in a multi-line reply",
                     k == 0 ? "connection closed" : "read error or time-out");
            return -1;
        }
        if (line[0] == '.') {
            if (len == 1)
                return octets;
            line++;
            len--;
        }
        octets += (long long)len + 2;
        if (each && each(line, arg) != 0) {
            snprintf(cl->err, sizeof(cl->err), "bad listing line: %.100s", line);
            return -1;
        }
    }
}

struct listing {
    long n;           /* messages per STAT */
    long seen;        /* lines read */
    long long *sizes; /* [1..n] from LIST */
};

static int uidl_line(char *line, void *arg)
{
    struct listing *l = arg;
    char *end;
    long num = strtol(line, &end, 10);
    if (end == line || *end != ' ' || num < 1 || num > l->n)
        return -1;
    l->seen++;
    return 0;
}

static int list_line(char *line, void *arg)
{
    struct listing *l = arg;
    char *end;
    long num = strtol(line, &end, 10);
    if (end == line || *end != ' ' || num < 1 || num > l->n)
        return -1;
    char *end2;
    long long size = strtoll(end + 1, &end2, 10);
    if (end2 == end + 1 || size < 0)
        return -1;
    l->sizes[num] = size;
    l->seen++;
    return 0;
}

/* TCP connect, implicit TLS, greeting. Returns 0 or -1 (failure recorded). */
static int open_conn(struct client *cl, struct loadconn *c)
{
    uint64_t t = loadstat_now_us();
    (void)loadconn_connect(c, target, opt.timeout, cl->err, sizeof(cl->err));
    if (c->fd < 0)
        return fail(cl, OP_CONNECT, "cannot connect");
    if (opt.tls && tls_start(cl, c) != 0) {
        loadconn_close(c);
        return fail(cl, OP_CONNECT, "implicit TLS");
    }
    if (status(cl, c, NULL) != 1) {
        loadconn_close(c);
        return fail(cl, OP_CONNECT, "no +OK greeting");
    }
    loadstat_add(&cl->st, OP_CONNECT, loadstat_now_us() - t);
    cl->err[0] = '\0';
    if (opt.stls) {
        t = loadstat_now_us();
        if (command(cl, c, "STLS", NULL, NULL) != 1 || tls_start(cl, c) != 0) {
            loadconn_close(c);
            return fail(cl, OP_STLS, "STLS");
        }
        /* RFC 2595 §4: whatever was buffered before the handshake is void. */
        loadconn_discard(c);
        loadstat_add(&cl->st, OP_STLS, loadstat_now_us() - t);
    }
    return 0;
}

/* USER + PASS as user number n; then STAT into *l (n, sizes left alone). */
static int login_stat(struct client *cl, struct loadconn *c, long n, struct listing *l)
{
    char user[256];
    if (loadconn_user_name(opt.users, n, user, sizeof(user)) != 0) {
        snprintf(cl->err, sizeof(cl->err), "user name too long");
        return fail(cl, OP_LOGIN, "USER");
    }
    uint64_t t = loadstat_now_us();
    if (command(cl, c, "USER", user, NULL) != 1)
        return fail(cl, OP_LOGIN, "USER refused");
    if (command(cl, c, "PASS", opt.password, NULL) != 1)
        return fail(cl, OP_LOGIN, "PASS refused");
    loadstat_add(&cl->st, OP_LOGIN, loadstat_now_us() - t);

    char *rest;
    t = loadstat_now_us();
    if (command(cl, c, "STAT", NULL, &rest) != 1)
        return fail(cl, OP_STAT, "STAT refused");
    long long octets;
    if (sscanf(rest, " %ld %lld", &l->n, &octets) != 2 || l->n < 0 || l->n > 10000000)
        return fail(cl, OP_STAT, "malformed STAT reply");
    loadstat_add(&cl->st, OP_STAT, loadstat_now_us() - t);
    return 0;
}

static int quit(struct client *cl, struct loadconn *c)
{
    uint64_t t = loadstat_now_us();
    if (command(cl, c, "QUIT", NULL, NULL) != 1)
        return fail(cl, OP_QUIT, "QUIT refused");
    loadstat_add(&cl->st, OP_QUIT, loadstat_now_us() - t);
    return 0;
}

/* ------------------------------------------------------- session mode */

/* One whole session as user number n. Returns 0, or -1 (recorded). */
static int session(struct client *cl, long n)
{
    struct loadconn c;
    struct listing l = {0};
    long *pick = NULL;
    int rc = -1;
    if (open_conn(cl, &c) != 0)
        return -1;
    if (login_stat(cl, &c, n, &l) != 0)
        goto out;

    uint64_t t = loadstat_now_us();
    if (command(cl, &c, "UIDL", NULL, NULL) != 1) {
        fail(cl, OP_UIDL, "UIDL refused");
        goto out;
    }
    if (multiline(cl, &c, uidl_line, &l) < 0 || l.seen != l.n) {
        fail(cl, OP_UIDL, "UIDL listing differs from STAT");
        goto out;
    }
    loadstat_add(&cl->st, OP_UIDL, loadstat_now_us() - t);

    l.sizes = calloc((size_t)l.n + 1, sizeof(*l.sizes));
    pick = calloc((size_t)l.n + 1, sizeof(*pick));
    if (l.sizes == NULL || pick == NULL) {
        snprintf(cl->err, sizeof(cl->err), "out of memory");
        fail(cl, OP_LIST, "LIST");
        goto out;
    }
    l.seen = 0;
    t = loadstat_now_us();
    if (command(cl, &c, "LIST", NULL, NULL) != 1) {
        fail(cl, OP_LIST, "LIST refused");
        goto out;
    }
    if (multiline(cl, &c, list_line, &l) < 0 || l.seen != l.n) {
        fail(cl, OP_LIST, "LIST listing differs from STAT");
        goto out;
    }
    loadstat_add(&cl->st, OP_LIST, loadstat_now_us() - t);

    /* K distinct messages at random: the first K of a partial shuffle. */
    long k = opt.retr < 0 || opt.retr > l.n ? l.n : opt.retr;
    for (long i = 1; i <= l.n; i++)
        pick[i] = i;
    for (long i = 1; i <= k; i++) {
        long j = i + (long)(loadconn_rng(&cl->rng) % (uint64_t)(l.n - i + 1));
        long tmp = pick[i];
        pick[i] = pick[j];
        pick[j] = tmp;
    }
    for (long i = 1; i <= k; i++) {
        char num[24];
        snprintf(num, sizeof(num), "%ld", pick[i]);
        t = loadstat_now_us();
        if (command(cl, &c, "RETR", num, NULL) != 1) {
            fail(cl, OP_RETR, "RETR refused");
            goto out;
        }
        long long got = multiline(cl, &c, NULL, NULL);
        if (got < 0) {
            fail(cl, OP_RETR, "RETR");
            goto out;
        }
        if (got != l.sizes[pick[i]]) {
            snprintf(cl->err, sizeof(cl->err), "message %ld: %lld octets, LIST said %lld", pick[i],
                     got, l.sizes[pick[i]]);
            fail(cl, OP_RETR, "size mismatch");
            goto out;
        }
        loadstat_add(&cl->st, OP_RETR, loadstat_now_us() - t);
        cl->st.items++;
        cl->st.bytes += (uint64_t)got;
        if (opt.dele) {
            t = loadstat_now_us();
            if (command(cl, &c, "DELE", num, NULL) != 1) {
                fail(cl, OP_DELE, "DELE refused");
                goto out;
            }
            loadstat_add(&cl->st, OP_DELE, loadstat_now_us() - t);
        }
    }
    rc = quit(cl, &c);
out:
    loadconn_close(&c);
    free(l.sizes);
    free(pick);
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

static void *session_thread(void *arg)
{
    struct client *cl = arg;
    uint64_t period = opt.rate > 0 ? (uint64_t)(1e6 / opt.rate) : 0;
    /* Spread the paced clients' starts evenly over one period. */
    uint64_t next = loadstat_now_us() + (period * (uint64_t)cl->id) / (uint64_t)opt.clients;
    while (!atomic_load(&stop)) {
        if (period) {
            loadconn_sleep_until(next, &stop);
            if (atomic_load(&stop))
                break;
            next += period;
            uint64_t now = loadstat_now_us();
            if (next + period < now)
                next = now; /* too far behind: no burst to catch up */
        }
        if (opt.sessions > 0 && atomic_fetch_add(&started, 1) >= opt.sessions)
            break;
        cl->err[0] = '\0';
        if (session(cl, next_user(cl)) == 0)
            cl->st.sessions++;
        else {
            cl->st.errors++;
            loadconn_sleep_us(10000); /* a refusing server must not turn this into a spin */
        }
    }
    return NULL;
}

/* ---------------------------------------------------------- idle mode */

static void *idle_open_thread(void *arg)
{
    struct client *cl = arg;
    for (long j = cl->from; j < cl->to && !atomic_load(&stop); j++) {
        struct loadconn *c = &cl->conns[j];
        cl->err[0] = '\0';
        if (open_conn(cl, c) != 0) {
            cl->st.errors++;
            continue;
        }
        cl->greeted++;
        if (j < opt.idle_login) {
            struct listing l = {0};
            if (login_stat(cl, c, j % opt.nusers + 1, &l) != 0) {
                cl->st.errors++;
                loadconn_close(c);
                continue;
            }
            cl->logged_in++;
        }
    }
    return NULL;
}

static void *idle_close_thread(void *arg)
{
    struct client *cl = arg;
    for (long j = cl->from; j < cl->to; j++) {
        struct loadconn *c = &cl->conns[j];
        if (c->fd < 0)
            continue;
        cl->err[0] = '\0';
        if (quit(cl, c) == 0) {
            cl->closed_clean++;
            cl->st.sessions++;
        } else
            cl->st.errors++;
        loadconn_close(c);
    }
    return NULL;
}

/*
 * Holds the open connections until the deadline (or a line on stdin),
 * closing any that the server closes or writes to unasked. Returns how
 * many were dropped that way.
 */
static long idle_hold(struct loadconn *conns, long n, struct client *cls)
{
    struct pollfd *p = calloc((size_t)n + 1, sizeof(*p));
    long *idx = calloc((size_t)n + 1, sizeof(*idx));
    long dropped = 0;
    if (p == NULL || idx == NULL) {
        fprintf(stderr, "popload: out of memory\n");
        free(p);
        free(idx);
        return 0;
    }
    uint64_t deadline = loadstat_now_us() + (uint64_t)(opt.duration * 1e6);
    for (;;) {
        nfds_t k = 0;
        if (opt.hold_stdin)
            p[k++] = (struct pollfd){.fd = 0, .events = POLLIN};
        for (long j = 0; j < n; j++)
            if (conns[j].fd >= 0) {
                idx[k] = j;
                p[k++] = (struct pollfd){.fd = conns[j].fd, .events = POLLIN};
            }
        uint64_t now = loadstat_now_us();
        if (interrupted || (!opt.hold_stdin && now >= deadline))
            break;
        int wait = opt.hold_stdin ? 200 : (int)((deadline - now) / 1000 + 1);
        if (wait > 200)
            wait = 200;
        int r = poll(p, k, wait);
        if (r < 0 && errno != EINTR)
            break;
        if (r <= 0)
            continue;
        nfds_t first = 0;
        if (opt.hold_stdin) {
            first = 1;
            if (p[0].revents)
                break;
        }
        for (nfds_t i = first; i < k; i++)
            if (p[i].revents) {
                long j = idx[i];
                /* Which thread's statistics get it does not matter. */
                loadstat_fail(&cls[0].st, OP_CONNECT);
                cls[0].st.errors++;
                if (atomic_fetch_add(&errprinted, 1) < MAX_ERRPRINT)
                    fprintf(stderr,
                            "popload: connection %ld closed or written to by the server "
                            "while idle\n",
                            j);
                loadconn_close(&conns[j]);
                dropped++;
            }
    }
    free(p);
    free(idx);
    return dropped;
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: popload [options]\n"
            "POP3 load generator: sessions (connect, USER/PASS, STAT, UIDL, LIST, RETR x K,\n"
            "[DELE], QUIT) from --clients threads, or --idle connections held open.\n"
            "\n"
            "  --host H            server (default 127.0.0.1)\n"
            "  --port P            port (default 110)\n"
            "  --users PATTERN     user names, %%d = 1..--nusers (default user%%d)\n"
            "  --nusers N          number of users (default 200)\n"
            "  --password PW       password of every user (required unless --idle without\n"
            "                      --idle-login)\n"
            "  --clients N         client threads (default 10; idle mode: opening threads)\n"
            "  --duration S        seconds to run, or to hold idle connections (default 10)\n"
            "  --sessions N        stop after N sessions in all instead of after --duration\n"
            "  --retr K|all        messages retrieved per session, chosen at random (default 5)\n"
            "  --dele              delete what was retrieved\n"
            "  --rate R            sessions per second per client (0 = saturate, default)\n"
            "  --idle N            idle mode: open N connections and hold them\n"
            "  --idle-login K      idle mode: the first K connections log in and STAT\n"
            "  --hold-stdin        idle mode: hold until a line or EOF on stdin\n"
            "  --tls               implicit TLS (port 995); certificates are not verified\n"
            "  --stls              STLS after the greeting\n"
            "  --timeout S         per-read/write time-out (default 30)\n"
            "  --seed N            random seed for the choice of messages (default 1)\n"
            "  --help              this text\n"
            "\n"
            "Output lines: \"popload result ...\", \"popload latency op=... p50_ms= p99_ms=\",\n"
            "\"popload error op=... count=\", and in idle mode \"popload holding ...\" and\n"
            "\"popload idle ...\". Exit 1 when any session or connection failed.\n");
}

static void parse_args(int argc, char **argv)
{
    enum {
        O_HOST = 256,
        O_PORT,
        O_USERS,
        O_NUSERS,
        O_PASSWORD,
        O_CLIENTS,
        O_DURATION,
        O_SESSIONS,
        O_RETR,
        O_DELE,
        O_RATE,
        O_IDLE,
        O_IDLE_LOGIN,
        O_HOLD_STDIN,
        O_TLS,
        O_STLS,
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
        {"clients", required_argument, NULL, O_CLIENTS},
        {"duration", required_argument, NULL, O_DURATION},
        {"sessions", required_argument, NULL, O_SESSIONS},
        {"retr", required_argument, NULL, O_RETR},
        {"dele", no_argument, NULL, O_DELE},
        {"rate", required_argument, NULL, O_RATE},
        {"idle", required_argument, NULL, O_IDLE},
        {"idle-login", required_argument, NULL, O_IDLE_LOGIN},
        {"hold-stdin", no_argument, NULL, O_HOLD_STDIN},
        {"tls", no_argument, NULL, O_TLS},
        {"stls", no_argument, NULL, O_STLS},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"seed", required_argument, NULL, O_SEED},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
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
            opt.nusers = loadconn_parse_long("popload", "--nusers", optarg, 1, 100000000);
            break;
        case O_PASSWORD:
            opt.password = optarg;
            break;
        case O_CLIENTS:
            opt.clients = loadconn_parse_long("popload", "--clients", optarg, 1, 10000);
            break;
        case O_DURATION:
            opt.duration = loadconn_parse_double("popload", "--duration", optarg, 0, 1e7);
            have_duration = true;
            break;
        case O_SESSIONS:
            opt.sessions = loadconn_parse_long("popload", "--sessions", optarg, 1, LONG_MAX);
            break;
        case O_RETR:
            opt.retr = strcmp(optarg, "all") == 0
                           ? -1
                           : loadconn_parse_long("popload", "--retr", optarg, 0, 10000000);
            break;
        case O_DELE:
            opt.dele = true;
            break;
        case O_RATE:
            opt.rate = loadconn_parse_double("popload", "--rate", optarg, 0, 1e6);
            break;
        case O_IDLE:
            opt.idle = loadconn_parse_long("popload", "--idle", optarg, 1, 1000000);
            break;
        case O_IDLE_LOGIN:
            opt.idle_login = loadconn_parse_long("popload", "--idle-login", optarg, 0, 1000000);
            break;
        case O_HOLD_STDIN:
            opt.hold_stdin = true;
            break;
        case O_TLS:
            opt.tls = true;
            break;
        case O_STLS:
            opt.stls = true;
            break;
        case O_TIMEOUT:
            opt.timeout = loadconn_parse_double("popload", "--timeout", optarg, 0.001, 1e6);
            break;
        case O_SEED:
            opt.seed = (unsigned long)loadconn_parse_long("popload", "--seed", optarg, 0, LONG_MAX);
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
        fprintf(stderr, "popload: unexpected argument \"%s\"\n", argv[optind]);
        exit(2);
    }
    if (!loadconn_pattern_ok(opt.users)) {
        fprintf(stderr, "popload: --users needs exactly one %%d (other %% written %%%%), "
                        "under 200 characters\n");
        exit(2);
    }
    if (opt.password == NULL && (opt.idle == 0 || opt.idle_login > 0)) {
        fprintf(stderr, "popload: --password is required\n");
        exit(2);
    }
    if (opt.password && (strlen(opt.password) > 256 || strpbrk(opt.password, "\r\n"))) {
        fprintf(stderr, "popload: --password: at most 256 characters, no line breaks\n");
        exit(2);
    }
    if (opt.tls && opt.stls) {
        fprintf(stderr, "popload: --tls and --stls exclude each other\n");
        exit(2);
    }
    if ((opt.tls || opt.stls) && !loadconn_have_tls()) {
        fprintf(stderr, "popload: built without OpenSSL: no --tls/--stls\n");
        exit(2);
    }
    if (opt.sessions > 0 && !have_duration)
        opt.duration = 0; /* --sessions alone: no time limit */
    if (opt.idle > 0 && opt.idle_login > opt.idle)
        opt.idle_login = opt.idle;
    if (opt.idle == 0 && opt.clients > opt.nusers)
        fprintf(stderr,
                "popload: warning: %ld clients share %ld users: sessions may find a "
                "maildrop locked\n",
                opt.clients, opt.nusers);
    if (opt.idle_login > opt.nusers)
        fprintf(stderr,
                "popload: warning: %ld idle logins share %ld users: some may find a "
                "maildrop locked\n",
                opt.idle_login, opt.nusers);
}

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* Enough descriptors for --idle: soft limit raised to the hard one. */
static void raise_nofile(long need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)need > rl.rlim_cur)
        fprintf(stderr, "popload: warning: %ld connections but only %llu descriptors allowed\n",
                need, (unsigned long long)rl.rlim_cur);
}

static int start_threads(struct client *cls, long n, void *(*fn)(void *))
{
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0)
        return -1;
    (void)pthread_attr_setstacksize(&attr, 256 * 1024);
    for (long i = 0; i < n; i++) {
        int e = pthread_create(&cls[i].thread, &attr, fn, &cls[i]);
        if (e != 0) {
            fprintf(stderr, "popload: pthread_create: %s\n", strerror(e));
            atomic_store(&stop, true);
            for (long j = 0; j < i; j++)
                pthread_join(cls[j].thread, NULL);
            pthread_attr_destroy(&attr);
            return -1;
        }
    }
    pthread_attr_destroy(&attr);
    return 0;
}

static void join_threads(struct client *cls, long n)
{
    for (long i = 0; i < n; i++)
        pthread_join(cls[i].thread, NULL);
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
        fprintf(stderr, "popload: %s:%s: %s\n", opt.host, opt.port, gai_strerror(e));
        return 2;
    }
    if (opt.tls || opt.stls) {
        tls_ctx = loadconn_tls_context();
        if (tls_ctx == NULL) {
            fprintf(stderr, "popload: cannot create a TLS context\n");
            return 2;
        }
    }
    long nthreads = opt.idle > 0 && opt.clients > opt.idle ? opt.idle : opt.clients;
    raise_nofile((opt.idle > 0 ? opt.idle : nthreads) + 64);

    struct client *cls = calloc((size_t)nthreads, sizeof(*cls));
    if (cls == NULL) {
        fprintf(stderr, "popload: out of memory\n");
        return 2;
    }
    for (long i = 0; i < nthreads; i++) {
        cls[i].id = i;
        cls[i].rng =
            (opt.seed + 1) * 0x9E3779B97F4A7C15ULL ^ (uint64_t)(i + 1) * 0xBF58476D1CE4E5B9ULL;
        if (cls[i].rng == 0)
            cls[i].rng = 1;
        if (loadstat_init(&cls[i].st, op_names, OP_COUNT) != 0) {
            fprintf(stderr, "popload: out of memory\n");
            return 2;
        }
    }
    printf("popload target=%s:%s mode=%s clients=%ld duration_s=%.1f sessions=%ld rate=%.3f "
           "retr=%ld dele=%d idle=%ld idle_login=%ld tls=%s\n",
           opt.host, opt.port, opt.idle ? "idle" : "session", nthreads, opt.duration, opt.sessions,
           opt.rate, opt.retr, opt.dele, opt.idle, opt.idle_login,
           opt.tls    ? "implicit"
           : opt.stls ? "stls"
                      : "no");
    fflush(stdout);

    struct loadstat total;
    if (loadstat_init(&total, op_names, OP_COUNT) != 0) {
        fprintf(stderr, "popload: out of memory\n");
        return 2;
    }
    double cpu0 = loadstat_cpu_seconds();
    uint64_t t0 = loadstat_now_us();
    double elapsed;
    long dropped = 0, greeted = 0, logged_in = 0, closed_clean = 0;
    struct loadconn *conns = NULL;

    if (opt.idle == 0) {
        if (start_threads(cls, nthreads, session_thread) != 0)
            return 2;
        uint64_t deadline = t0 + (uint64_t)(opt.duration * 1e6);
        while (!interrupted) {
            uint64_t now = loadstat_now_us();
            if (opt.duration > 0 && now >= deadline)
                break;
            if (opt.sessions > 0 && atomic_load(&started) >= opt.sessions)
                break; /* the threads finish what they started */
            loadconn_sleep_us(opt.duration > 0 && deadline - now < 50000 ? deadline - now : 50000);
        }
        atomic_store(&stop, true);
        join_threads(cls, nthreads);
        elapsed = (double)(loadstat_now_us() - t0) / 1e6;
    } else {
        conns = calloc((size_t)opt.idle, sizeof(*conns));
        if (conns == NULL) {
            fprintf(stderr, "popload: out of memory\n");
            return 2;
        }
        for (long j = 0; j < opt.idle; j++)
            conns[j].fd = -1;
        for (long i = 0; i < nthreads; i++) {
            cls[i].conns = conns;
            cls[i].from = opt.idle * i / nthreads;
            cls[i].to = opt.idle * (i + 1) / nthreads;
        }
        if (start_threads(cls, nthreads, idle_open_thread) != 0)
            return 2;
        join_threads(cls, nthreads);
        for (long i = 0; i < nthreads; i++) {
            greeted += cls[i].greeted;
            logged_in += cls[i].logged_in;
        }
        long open = 0;
        for (long j = 0; j < opt.idle; j++)
            open += conns[j].fd >= 0;
        printf("popload holding connections=%ld greeted=%ld logged_in=%ld open_s=%.3f\n", open,
               greeted, logged_in, (double)(loadstat_now_us() - t0) / 1e6);
        fflush(stdout);
        dropped = idle_hold(conns, opt.idle, cls);
        if (start_threads(cls, nthreads, idle_close_thread) != 0)
            return 2;
        join_threads(cls, nthreads);
        for (long i = 0; i < nthreads; i++)
            closed_clean += cls[i].closed_clean;
        elapsed = (double)(loadstat_now_us() - t0) / 1e6;
    }

    for (long i = 0; i < nthreads; i++) {
        loadstat_merge(&total, &cls[i].st);
        loadstat_free(&cls[i].st);
    }
    if (opt.idle > 0)
        printf("popload idle connections=%ld greeted=%ld logged_in=%ld dropped=%ld "
               "closed_clean=%ld failed=%llu\n",
               opt.idle, greeted, logged_in, dropped, closed_clean,
               (unsigned long long)total.errors);
    loadstat_print(stdout, "popload", "retr", &total, elapsed, loadstat_cpu_seconds() - cpu0);
    int rc = total.errors ? 1 : 0;
    loadstat_free(&total);
    free(conns);
    free(cls);
    freeaddrinfo(target);
    loadconn_tls_context_free(tls_ctx);
    return rc;
}
