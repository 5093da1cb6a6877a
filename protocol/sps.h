/*
 * sps.h - the Scalable Protocol Server runtime shared by pop3srv and
 * imap4srv (DESIGN §4, the planning guide's SPS architecture).
 *
 * One process serves many clients:
 *
 *   iolistener --(unix socket, SCM_RIGHTS)--> event loop thread (libevent)
 *                                              |  reads lines / literals,
 *                                              |  writes replies, TLS
 *                                              v
 *                                      worker threads (WorkerThreads)
 *                                              |  borrow a database
 *                                              v  connection only while a
 *                                      db pool (DbConnections)   request runs
 *
 * The protocol code (pop3/, imap4/) sees only this header. Everything it
 * is called with runs on the event-loop thread, except the `fn` of
 * sps_client_run(), which runs on a worker thread with a pooled database
 * handle and must not touch the client except through the job's output
 * buffer. While a job runs, no further input of that client is dispatched
 * (requests of one client are processed in order); other clients go on.
 *
 * Process integration: sps_main() is the program's main(); it runs the
 * common lifecycle (ofc_proc: config, log <node>_<log_base>NN.log,
 * registration, heartbeat, refresh, SIGTERM) with the runtime started in
 * its init and stopped in its cleanup.
 *
 * Parameters (process parameters of POP3SRV/IMAP4SRV, 013_protocol.sql;
 * re-read on refresh, applied to new clients / new jobs; WorkerThreads and
 * DbConnections size the pools at start and take effect at a restart):
 *   WorkerThreads, DbConnections, MaxClients, IdleTimeout (seconds),
 *   MaxLineLength (octets, without CRLF), MaxLiteralLength,
 *   AuthFailureDelay (seconds), PlaintextAuth (bool: LOGIN/USER/PASS/AUTH
 *   allowed without TLS), AuthCacheTtl (seconds).
 */
#ifndef SPS_H
#define SPS_H

#include <stdbool.h>
#include <stddef.h>

struct evbuffer;
struct ofc_db;
struct ofc_proc;
struct sps;
struct sps_client;

/* What the runtime tells the protocol about an input event. */
struct sps_protocol {
    const char *program; /* "pop3srv" */
    const char *type;    /* process type: "POP3SRV" */
    const char *log_base;
    const char *summary;  /* one line for --help */
    const char *protocol; /* "pop3" / "imap": registration with iolistener, cert files */

    /*
     * A client was handed over (implicit-TLS clients after the handshake
     * completed). Returns the protocol's per-client state; writes the
     * greeting with sps_client_write*(). Never NULL.
     */
    void *(*client_new)(struct sps_client *c);
    /* The client is gone (closed by either side); free the state. */
    void (*client_free)(struct sps_client *c, void *state);
    /*
     * One complete input line, without its CRLF (or bare LF), NUL
     * terminated; `len` is its length (the line may contain NULs). Not
     * called while a job of this client runs or while the client is
     * closing.
     */
    void (*line)(struct sps_client *c, void *state, char *line, size_t len);
    /*
     * A line longer than MaxLineLength arrived (it is discarded up to its
     * end). The protocol answers (POP3 "-ERR line too long", IMAP
     * "* BAD"/BYE) and may close. May be NULL: the client is closed.
     */
    void (*line_too_long)(struct sps_client *c, void *state);
    /*
     * The octets asked for with sps_client_read_literal() (IMAP). `data`
     * holds len octets plus a NUL. May be NULL for protocols that never
     * ask.
     */
    void (*literal)(struct sps_client *c, void *state, char *data, size_t len);
    /*
     * IdleTimeout passed without input (and no job running). The protocol
     * writes its farewell ("* BYE Autologout; idle for too long"); the
     * runtime then closes. May be NULL: the client is closed silently.
     */
    void (*idle_timeout)(struct sps_client *c, void *state);
    /*
     * The process is stopping (SIGTERM): write a farewell ("* BYE server
     * shutting down"); the runtime closes after flushing. May be NULL.
     */
    void (*shutdown)(struct sps_client *c, void *state);
    /*
     * Process-wide setup after the runtime started: prepared statements
     * with sps_prepare(). Returns 0, or -1 to exit. May be NULL.
     */
    int (*init)(struct sps *sps);
};

/* The program's main(). */
int sps_main(const struct sps_protocol *protocol, int argc, char **argv);

/*
 * Registers a named prepared statement on every pooled connection (now
 * and after reconnects). Call from protocol->init. Returns 0 or -1.
 */
int sps_prepare(struct sps *sps, const char *name, const char *sql, int nparams);

/*
 * Effective parameter of this instance (as ofc_proc_param_int), from a
 * snapshot taken at start and at every refresh: callable from any thread.
 */
long long sps_param_int(struct sps *sps, const char *name, long long dflt);
bool sps_param_bool(struct sps *sps, const char *name, bool dflt);
struct ofc_proc *sps_proc(struct sps *sps);
struct sps *sps_client_sps(struct sps_client *c);

/* --- Output (loop thread) --------------------------------------------- */

/* Queue octets for the client (copied). Writes after close are dropped. */
void sps_client_write(struct sps_client *c, const void *data, size_t len);
void sps_client_puts(struct sps_client *c, const char *s);
void sps_client_printf(struct sps_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Moves the contents of buf to the client's output (no copy). */
void sps_client_write_buffer(struct sps_client *c, struct evbuffer *buf);

/*
 * Closes after everything queued is written (or at once when the peer
 * is gone). client_free follows. Idempotent.
 */
void sps_client_close(struct sps_client *c);

/* --- Input shaping (loop thread) --------------------------------------- */

/*
 * The next `len` input octets are a literal: they are delivered with
 * protocol->literal() instead of as lines (IMAP {n} / {n+}). len is
 * checked by the caller against MaxLiteralLength.
 */
void sps_client_read_literal(struct sps_client *c, size_t len);

/*
 * Starts TLS on the connection (STLS/STARTTLS) after the protocol wrote
 * its "go ahead" reply: the reply is flushed in plaintext, input that was
 * already buffered in plaintext is discarded (RFC 3207 §4.2 injection
 * defence), and the handshake runs. Returns false when no certificate is
 * configured for this protocol (the protocol should not have offered it).
 * A failed handshake closes the client (logged).
 */
bool sps_client_starttls(struct sps_client *c);
bool sps_client_tls_available(struct sps_client *c); /* a certificate is loaded */
bool sps_client_is_tls(const struct sps_client *c);

/* "192.0.2.1:51234" / "[2001:db8::1]:51234" for logs. */
const char *sps_client_peer(const struct sps_client *c);
/* A short id for log lines ("c12"): unique within the process. */
const char *sps_client_id(const struct sps_client *c);

/* Overrides IdleTimeout for this client (IMAP IDLE); seconds, 0 = default. */
void sps_client_set_idle_timeout(struct sps_client *c, int seconds);

/*
 * The protocol says whether the client is logged in (after a successful
 * authentication; false again on logout). Only counted for sps_status.
 */
void sps_client_set_logged_in(struct sps_client *c, bool logged_in);

/* --- Work on a worker thread with a database connection ----------------- */

/*
 * What a job's `fn` gets: a connected pooled handle (ofc_db_ensure done),
 * and an output buffer whose contents are appended to the client's
 * output, in order, when the job finishes.
 */
struct sps_job {
    struct ofc_db *db;
    struct evbuffer *out;
    void *arg; /* the arg of sps_client_run() */
};

/*
 * Runs fn(job) on a worker thread with a pooled database connection,
 * then done(c, state, arg) on the loop thread (done may be NULL). Input
 * of this client is held until done has run. If the client disconnects
 * meanwhile, fn still runs to the end (its transaction commits or rolls
 * back as it would), the output is dropped, done is called with c still
 * valid (sps_client_closed(c) true) and then client_free. Jobs wait in
 * FIFO order for a free connection. fn returns nothing: it reports
 * through job->out and its arg.
 */
typedef void sps_job_fn(struct sps_job *job);

/*
 * Inside fn (worker thread): sends what job->out holds now instead of at
 * the job's end, and waits while the client has more than SPS_OUT_HIGH
 * (about 1 MiB) unsent, so that a long answer (RETR of a big message, a
 * FETCH of thousands of bodies) needs memory for one piece, not for the
 * whole answer, and a slow reader slows its own job only. Returns 0, or
 * -1 when the client is gone (what was written is dropped): the job
 * should stop producing output; its transaction may still finish.
 */
int sps_job_flush(struct sps_job *job);
typedef void sps_done_fn(struct sps_client *c, void *state, void *arg);
void sps_client_run(struct sps_client *c, sps_job_fn *fn, sps_done_fn *done, void *arg);
bool sps_client_closed(const struct sps_client *c);

/*
 * Runs done(c, state, arg) on the loop thread after `seconds` (the
 * authentication failure delay): input stays held meanwhile.
 */
void sps_client_delay(struct sps_client *c, int seconds, sps_done_fn *done, void *arg);

/*
 * Mailbox change notifications (NOTIFY ofc_mailbox, payload = mailbox id)
 * are LISTENed on one dedicated connection of the process; a client that
 * watches a mailbox gets fn(c, state, mailbox_id) on the loop thread when
 * it changes. One watch per client; 0 stops watching.
 */
typedef void sps_watch_fn(struct sps_client *c, void *state, long long mailbox_id);
void sps_client_watch_mailbox(struct sps_client *c, long long mailbox_id, sps_watch_fn *fn);

/* --- Authentication (worker thread, inside a job) ------------------------ */

/*
 * Checks user/password against the directory: the account's address
 * (user@domain, or a bare user name resolved in the node's default
 * domain) and its yescrypt hash. Unknown users cost the same hash
 * computation as wrong passwords (no timing oracle). Returns 1 and the
 * account id and its canonical address (heap) on success, 0 when the
 * credentials are wrong (unknown user, wrong password, no password set),
 * -1 on a database error (*error_r heap message: answer "temporary
 * failure"). Never logs the password.
 *
 * Logins stay cheap the way Dovecot keeps them (BASELINES.md): a verified
 * login is remembered for AuthCacheTtl seconds, keyed by a keyed digest
 * (HMAC-SHA256 with a per-process random key) of user and password, with
 * the account's password hash at that time; a hit costs one indexed
 * query that checks the hash is unchanged (a password change invalidates
 * it at once), not a yescrypt computation.
 */
int sps_authenticate(struct ofc_db *db, const char *user, const char *password,
                     long long *account_id_r, char **address_r, char **error_r);

/*
 * SASL PLAIN (RFC 4616) message, base64-decoded by the caller: splits
 * "authzid\0authcid\0passwd". msg[len] must be a NUL (the password ends
 * there). Returns 0 with pointers into msg, -1 when malformed (fewer or
 * more than two NULs, empty authcid or passwd). An authzid other than ""
 * or the authcid is refused by the caller (no proxy authorisation).
 */
int sps_sasl_plain_split(const char *msg, size_t len, const char **authzid, const char **authcid,
                         const char **password);

/*
 * Strict base64 (RFC 4648: padding required, no white space), as SASL
 * responses are sent: into a new heap buffer with a NUL after *len_r
 * octets. Returns 0, or -1 when the text is not base64 (what was decoded
 * so far is wiped: it may be a password).
 */
int sps_base64_decode(const char *text, size_t len, char **out_r, size_t *len_r);

#endif
