/*
 * lsnr.h - iolistener's private pieces: its ports, the capability
 * handling, the instance registry and the accept/hand-off loop.
 *
 *   bind.c       the client ports and the registration socket
 *   caps.c       root's capabilities, kept only to bind
 *   registry.c   the words instances say, the choice of an instance
 *   loop.c       the event loop thread: accepting, timers, start, stop
 *   instances.c  the registration socket's connections: HELLO, LOAD
 *   handoff.c    a client to an instance, the waiting queue, refusals
 */
#ifndef LSNR_H
#define LSNR_H

/* System. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* libevent. */
#include <event2/util.h>

struct event;
struct event_base;
struct ofc_config;

/* The two protocols served; an instance registers for one of them. */
enum lsnr_proto { LSNR_POP3 = 0, LSNR_IMAP = 1 };
#define LSNR_NPROTO 2

/* "pop3" / "imap": the word in HELLO. */
const char *lsnr_proto_word(enum lsnr_proto proto);
/* "POP3SRV" / "IMAP4SRV": the process type, for log lines. */
const char *lsnr_proto_type(enum lsnr_proto proto);

/* One configured client port (ofcmail.conf ports { ... }). */
struct lsnr_port {
    const char *name; /* "pop3", "pop3s", "imap", "imaps" */
    enum lsnr_proto proto;
    bool tls; /* implicit TLS: the instance handshakes before the greeting */
    int port;
    int fd; /* listening socket, -1 when it could not be bound */
};

#define LSNR_NPORTS 4

/* The four ports of the configuration, none bound yet. */
void lsnr_ports_init(struct lsnr_port ports[LSNR_NPORTS], const struct ofc_config *cfg);

/*
 * Binds and listens on every port at `address` ("*": IPv6 any accepting
 * IPv4 too, or IPv4 any where IPv6 is unavailable; else one numeric
 * address, IPv6 ones maybe in brackets) with SO_REUSEADDR and `backlog`.
 * A port that cannot be bound is logged and keeps fd -1. Returns the
 * number of ports bound, or -1 with a heap message in *error_r when the
 * address itself is unusable.
 */
int lsnr_ports_bind(struct lsnr_port ports[LSNR_NPORTS], const char *address, int backlog,
                    char **error_r) __attribute__((warn_unused_result));

/*
 * Creates <var_dir>/<SID>/sps (0750) and the registration socket
 * (SOCK_SEQPACKET, 0660, listening, non-blocking) at `path`, removing a
 * stale socket file first. Refuses when another listener answers on it.
 * Returns the descriptor, or -1 with a heap message in *error_r.
 */
int lsnr_registration_open(const char *path, char **error_r) __attribute__((warn_unused_result));

/* ---- capabilities (caps.c) ------------------------------------------ */

/*
 * Root started us by hand: becomes the run user like every ofcmail
 * process (ofc_privs_become_run_user) but keeps CAP_NET_BIND_SERVICE, and
 * nothing else, to bind the ports later. Returns 0, or -1 with a heap
 * message in *error_r.
 */
int lsnr_caps_become_run_user(const struct ofc_config *cfg, char **error_r)
    __attribute__((warn_unused_result));

/*
 * Drops every capability (permitted, effective, inheritable, ambient),
 * after binding. *had_r tells whether there were any. Returns 0, or -1
 * with a heap message in *error_r.
 */
int lsnr_caps_drop_all(bool *had_r, char **error_r) __attribute__((warn_unused_result));

/* ---- instances (registry.c) ----------------------------------------- */

/* HELLO <protocol> <process id> <instance> <pid> */
struct lsnr_hello {
    enum lsnr_proto proto;
    long long process_id;
    int instance;
    long pid;
};

/*
 * Parses a HELLO packet. Returns 0, or -1 with a static reason (fit for
 * "ERR <reason>") in *error_r.
 */
int lsnr_parse_hello(const char *text, struct lsnr_hello *hello_r, const char **error_r);
/* Parses "LOAD <clients> <max clients>"; like lsnr_parse_hello. */
int lsnr_parse_load(const char *text, long long *clients_r, long long *max_r, const char **error_r);

/* A connection on the registration socket. */
struct lsnr_inst {
    struct lsnr_inst *prev, *next;
    struct lsnr *owner;
    int fd;
    struct event *ev;  /* readable; until HELLO also the HELLO deadline */
    struct event *wev; /* room again in its socket, awaited by waiting clients */
    bool registered;   /* said HELLO */
    struct lsnr_hello hello;
    char *name;         /* "POP3SRV process 12 instance 1 (pid 345)" after HELLO */
    long long load;     /* clients at the last LOAD */
    long long max;      /* max clients at the last LOAD; -1 before the first */
    long long sent;     /* clients handed over since the last LOAD */
    uint64_t last_seq;  /* hand-off sequence number of its last client; ties go to the oldest */
    int64_t last_heard; /* monotonic ms of its last packet */
    bool silent_logged;
    bool tried; /* during one choice: its socket was full */
};

/* What lsnr_choose found when it returns NULL. */
struct lsnr_choice_why {
    int registered; /* instances of the protocol */
    int at_max;     /* of those, at their maximum */
    int full;       /* of those, with a full socket (tried) */
    int silent;     /* of those, silent for too long */
};

/* An instance that sent nothing for this long is skipped (LOAD comes every 5 s). */
#define LSNR_SILENCE_MS 30000

/*
 * Among the registered instances of `proto` in `list`, not tried, not
 * silent at `now_ms` and below their maximum, the one with the fewest
 * clients (load + sent), ties to the one that got a client least
 * recently. NULL when none; then *why_r says why.
 */
struct lsnr_inst *lsnr_choose(struct lsnr_inst *list, enum lsnr_proto proto, int64_t now_ms,
                              struct lsnr_choice_why *why_r);

/* ---- the loop (loop.c) ---------------------------------------------- */

struct lsnr;

/*
 * Takes the bound ports and the registration socket (their descriptors
 * now belong to the loop) and starts the loop in its own thread, with
 * every signal blocked there. `sock_path` is unlinked by lsnr_stop.
 * Returns NULL (and logs) when the thread cannot start; the descriptors
 * are closed then.
 */
struct lsnr *lsnr_start(struct lsnr_port ports[LSNR_NPORTS], int reg_fd, const char *sock_path);

/* True when the loop has ended by itself: the process must go (and be restarted). */
bool lsnr_failed(struct lsnr *l);

/*
 * Stops the loop, closes the listening sockets and every instance
 * connection, unlinks the registration socket and frees *l (NULL after).
 * Clients already handed over are untouched: they live in the instances.
 */
void lsnr_stop(struct lsnr **l);

/* ---- inside the loop (loop.c, instances.c, handoff.c) --------------- */

/*
 * Everything below belongs to the loop: it is used in the loop's thread,
 * and by lsnr_start and lsnr_stop only before that thread starts and after
 * it has ended, so it needs no lock. main.c uses the three functions above
 * and nothing else of struct lsnr.
 */

struct port_ev {
    struct lsnr *l;
    struct lsnr_port port;
    struct event *ev;
};

struct refusal_log {
    int64_t last_ms;          /* when the last line was written; 0: never */
    unsigned long suppressed; /* refusals since that were not logged */
    char *last_reason;
};

struct client; /* an accepted client on its way to an instance (handoff.c) */
struct client_queue {
    struct client *head, *tail;
};

struct lsnr {
    struct event_base *base;
    struct port_ev ports[LSNR_NPORTS];
    int reg_fd;
    struct event *reg_ev;
    char *sock_path;
    int stop_pipe[2];
    struct event *stop_ev;
    struct event *tick_ev;  /* every second: paused accepts, refusal counts */
    struct event *drain_ev; /* activated: waiting clients get another try */
    struct lsnr_inst *insts;
    int nconns;
    uint64_t seq;
    bool paused;
    int64_t paused_until;
    struct refusal_log refusals[LSNR_NPROTO];
    struct client_queue waiting[LSNR_NPROTO];
    int nwaiting;
    pthread_t thread;
    atomic_bool failed; /* the loop ended by itself */
};

/* Monotonic milliseconds (loop.c). */
int64_t lsnr_now_ms(void);

/* instances.c: the registration socket is readable; accepts the instances that connect. */
void lsnr_registration_cb(evutil_socket_t fd, short what, void *arg);

/*
 * instances.c: closes an instance's connection and frees it, logging
 * `why`. Caution: i must not be touched afterwards, and a callback of i
 * must return at once.
 */
void lsnr_inst_drop(struct lsnr *l, struct lsnr_inst *i, const char *why);

/*
 * handoff.c: a client accepted on port p (cfd, blocking, is ours now) goes
 * to an instance, waits for room in one, or is refused.
 */
void lsnr_handle_client(struct lsnr *l, const struct lsnr_port *p, int cfd,
                        const struct sockaddr_storage *ss, socklen_t sslen);

/*
 * handoff.c: lets the waiting clients try again once the current callback
 * is over (an instance registered, reported its load or left).
 */
void lsnr_schedule_drain(struct lsnr *l);

/* handoff.c: l->drain_ev's callback (arg: l): every protocol's waiting clients try again. */
void lsnr_drain_cb(evutil_socket_t fd, short what, void *arg);

/* handoff.c: an instance's wev callback (arg: the instance): room in its socket again. */
void lsnr_inst_room_cb(evutil_socket_t fd, short what, void *arg);

/* handoff.c, every tick: refuses clients that waited too long; the others try again. */
void lsnr_expire_waiting(struct lsnr *l, int64_t now);

/* handoff.c, every tick: the count of refusals that were not logged, once they are old enough. */
void lsnr_refusals_flush(struct lsnr *l, int64_t now);

/* handoff.c, at the stop: closes the waiting clients and frees the refusal records. */
void lsnr_handoff_free(struct lsnr *l);

#endif
