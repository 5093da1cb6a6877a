/*
 * NAME
 *      ofcgwind - the inbound mail gateway (SMTP_IN, "ofcutosrv")
 *
 * SYNOPSIS
 *      ofcgwind [-c config] [-f] [instance=N] [connect=conninfo]
 *
 * DESCRIPTION
 *      Moves the node's gateway_in queue (filled by ofcuto and the LMTP
 *      listener) into the message store. Up to BatchSize entries per
 *      transaction (one commit for the lot; after a failed batch, one entry
 *      per transaction): entries are taken (FOR UPDATE SKIP LOCKED, so
 *      several instances may run), each one's envelope is rewritten by
 *      the rewrite_rule table (function gateway_rewrite, in the same
 *      statement), bare
 *      recipients are qualified with the gateway's domain and ".ofcmail"
 *      suffixes removed, a Received: field is prepended (parameter
 *      AddReceived), the message is analysed once (store_mime) and stored
 *      once and put on submission for the Postman in one statement
 *      (store_message_put_submit), and the
 *      entries are deleted. A crash at any point leaves the entries queued
 *      and nothing stored.
 *
 *      An entry that cannot be stored because of what it holds (no
 *      recipient left, data the database refuses) goes to the dead queue
 *      with the reason at once; an entry that fails for other reasons is
 *      tried again after RetryDelay seconds, and goes to the dead queue
 *      after MaxAttempts failures. Nothing is lost; nothing is retried
 *      forever.
 *
 *      Registered as SMTP_IN.<domain> (process.domain_id): bare recipient
 *      names are names in that domain. Wakes on NOTIFY ofc_gateway_in.
 *      Parameters: BatchSize, MaxAttempts, RetryDelay, AddReceived and
 *      those of every process. Log: <node>_ofcutosrv.log.
 *
 * DIAGNOSTICS
 *      As every ofcmail process (ofc_proc): exit 0 after SIGTERM, 1 when
 *      the configuration, log, database registration or start fails.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* libofc */
#include "ofc_addr.h"
#include "ofc_config.h"
#include "ofc_db.h"
#include "ofc_log.h"
#include "ofc_mem.h"
#include "ofc_pgarray.h"
#include "ofc_proc.h"
#include "store_message.h"
#include "store_mime.h"

#define OFCMAIL_SUFFIX ".ofcmail"

struct gw {
    long long domain_id; /* 0: none */
    char *domain;        /* fqdn of domain_id, NULL if none */
    char *host;          /* our name in Received: */
};

/* One gateway_in entry as taken, envelope already rewritten. */
struct entry {
    long long id;
    char *id_text;
    char *source;
    char *client;
    char *received_at; /* RFC 5322 date-time of the row's received_at */
    char *sender;
    char **rcpts;
    size_t nrcpts;
    int attempts;
    struct ofc_strbuf raw;
    /* After ingest_one(): what was stored and submitted, for the log after COMMIT. */
    long long message_id;
    size_t nsubmitted;
};

struct tx {
    struct ofc_proc *proc;
    struct gw *gw;
    long long limit; /* entries to take in this transaction */
    struct entry *e; /* the entries taken (capacity limit) */
    size_t n;
    size_t bad; /* with an error: the entry at fault (index in e) */
    /* Set when the entry's content is at fault: dead queue, no retry. */
    bool permanent;
};

static void entry_clear(struct entry *e)
{
    free(e->id_text);
    free(e->source);
    free(e->client);
    free(e->received_at);
    free(e->sender);
    ofc_pg_text_array_free(&e->rcpts, e->nrcpts);
    ofc_strbuf_free(&e->raw);
    memset(e, 0, sizeof(*e));
}

/*
 * The take: everything but raw travels as text in a binary-format result
 * (text's binary form is its octets), raw as its octets: no hex decoding
 * of the message. Rewriting happens here, with the gateway's domain.
 * The order is the take index's (not_before, id): the scan stops after
 * LIMIT rows. Ordering by id alone made every take read and sort the
 * whole backlog, so a queue that grew got slower to drain.
 */
static const char TAKE_SQL[] =
    "SELECT g.id::text, g.source, g.client,"
    "       to_char(g.received_at AT TIME ZONE 'UTC', 'Dy, DD Mon YYYY HH24:MI:SS +0000'),"
    "       gateway_rewrite(g.sender, 'SENDER', $1::integer),"
    "       ARRAY(SELECT gateway_rewrite(r, 'RECIPIENT', $1::integer)"
    "               FROM unnest(g.recipients) WITH ORDINALITY AS u(r, i) ORDER BY i)::text,"
    "       g.attempts::text, g.raw"
    "  FROM gateway_in g WHERE g.not_before <= now()"
    " ORDER BY g.not_before, g.id LIMIT $2::integer FOR UPDATE SKIP LOCKED";

static char *dup_value(const PGresult *res, int row, int col)
{
    return ofc_xstrndup(PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col));
}

static void tx_clear(struct tx *t)
{
    for (size_t i = 0; i < t->n; i++)
        entry_clear(&t->e[i]);
    t->n = 0;
    t->bad = 0;
    t->permanent = false;
}

/* Takes up to t->limit due entries, oldest first, into t->e[0 .. t->n). */
static int take(struct ofc_db *db, struct tx *t, char **error_r)
{
    char dom[32], lim[32];
    (void)snprintf(dom, sizeof(dom), "%lld", t->gw->domain_id);
    (void)snprintf(lim, sizeof(lim), "%lld", t->limit);
    const char *const params[] = {t->gw->domain_id > 0 ? dom : NULL, lim};
    PGresult *res = ofc_db_query_bin(db, TAKE_SQL, 2, params, NULL, NULL, 1);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot take from gateway_in: %s", ofc_db_error(db));
        return -1;
    }
    int rows = PQntuples(res);
    for (int row = 0; row < rows && (long long)row < t->limit; row++) {
        struct entry *e = &t->e[t->n++];
        e->id_text = dup_value(res, row, 0);
        e->id = strtoll(e->id_text, NULL, 10);
        e->source = dup_value(res, row, 1);
        e->client = dup_value(res, row, 2);
        e->received_at = dup_value(res, row, 3);
        e->sender = dup_value(res, row, 4);
        char *attempts = dup_value(res, row, 6);
        e->attempts = (int)strtol(attempts, NULL, 10);
        free(attempts);
        ofc_strbuf_append(&e->raw, PQgetvalue(res, row, 7), (size_t)PQgetlength(res, row, 7));
        char *rcpts = dup_value(res, row, 5);
        int rc = ofc_pg_text_array_parse(rcpts, &e->rcpts, &e->nrcpts);
        free(rcpts);
        if (rc < 0) {
            PQclear(res);
            t->bad = t->n - 1;
            *error_r = ofc_xstrdup("unreadable recipient list");
            return -1;
        }
    }
    PQclear(res);
    return 0;
}

/*
 * The address the Postman gets: ".ofcmail" removed from the local part, a
 * bare name qualified with the gateway's domain. NULL when malformed (or
 * bare without a domain to qualify it with).
 */
static char *final_rcpt(const struct gw *gw, const char *in)
{
    struct ofc_addr addr;
    const char *why = NULL;
    if (ofc_addr_parse_mailbox(in, strlen(in), true, &addr, &why) < 0)
        return NULL;
    size_t l = strlen(addr.local), s = strlen(OFCMAIL_SUFFIX);
    if (l > s && strcasecmp(addr.local + l - s, OFCMAIL_SUFFIX) == 0)
        addr.local[l - s] = '\0';
    if (addr.domain == NULL) {
        if (gw->domain == NULL) {
            ofc_addr_clear(&addr);
            return NULL;
        }
        addr.domain = ofc_xstrdup(gw->domain);
    }
    char *out = ofc_addr_format(&addr);
    ofc_addr_clear(&addr);
    return out;
}

/* One line of client text for a header: no CR/LF/controls, bounded. */
static char *header_safe(const char *in, size_t max)
{
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    for (const unsigned char *p = (const unsigned char *)in; *p != '\0' && sb.len < max; p++)
        ofc_strbuf_putc(&sb, *p < ' ' || *p == 127 || *p == '(' || *p == ')' ? '_' : (char)*p);
    return ofc_strbuf_detach(&sb);
}

/*
 * Stores one taken entry and puts it on submission, in the caller's
 * transaction; the caller deletes the entry in the same transaction.
 */
static int ingest_one(struct ofc_db *db, struct tx *t, struct entry *e, char **error_r)
{
    long long message_id = 0;

    char **rcpts = ofc_xcalloc(e->nrcpts + 1, sizeof(*rcpts));
    size_t n = 0;
    struct ofc_strbuf bad = OFC_STRBUF_INIT;
    for (size_t i = 0; i < e->nrcpts; i++) {
        char *r = final_rcpt(t->gw, e->rcpts[i]);
        if (r != NULL)
            rcpts[n++] = r;
        else
            ofc_strbuf_printf(&bad, "%s'%s'", bad.len > 0 ? ", " : "", e->rcpts[i]);
    }
    int rc = OFC_DB_OK;
    if (bad.len > 0)
        ofc_warn("gateway_in %lld: malformed recipients dropped: %s", e->id, bad.data);
    if (n == 0) {
        t->permanent = true;
        *error_r = ofc_xasprintf("no valid recipient (%s)", bad.len > 0 ? bad.data : "none");
        rc = OFC_DB_ERROR;
        goto out;
    }

    /* The trace field goes in first, so that every offset is of the final octets. */
    struct ofc_strbuf msg = OFC_STRBUF_INIT;
    if (ofc_proc_param_bool(t->proc, "AddReceived", true)) {
        const char *eol = "\r\n";
        char *client = header_safe(e->client, 200);
        const char *with = strcmp(e->source, "LMTP") == 0   ? "LMTP"
                           : strcmp(e->source, "SMTP") == 0 ? "SMTP"
                                                            : "local";
        ofc_strbuf_printf(&msg, "Received: from %s%s\tby %s (ofcmail %s) with %s id G%s", client,
                          eol, t->gw->host, e->source, with, e->id_text);
        if (n == 1)
            ofc_strbuf_printf(&msg, "%s\tfor <%s>", eol, rcpts[0]);
        ofc_strbuf_printf(&msg, "; %s%s", e->received_at, eol);
        free(client);
    }
    /* Stored octets are what IMAP and POP3 clients get: CRLF (store_message.h). */
    store_append_crlf(&msg, e->raw.data != NULL ? e->raw.data : "", e->raw.len);

    struct store_mime *mime = NULL;
    if (store_mime_analyze(msg.data, msg.len, &mime, error_r) < 0) {
        t->permanent = true;
        rc = OFC_DB_ERROR;
    } else if (store_message_put_submit(db, msg.data, msg.len, mime, e->sender,
                                        (const char *const *)rcpts, n, &message_id, error_r) < 0) {
        /* Class 22 (data exception) and 54 (too large): the content, not the moment. */
        const char *state = ofc_db_sqlstate(db);
        t->permanent = strncmp(state, "22", 2) == 0 || strncmp(state, "54", 2) == 0;
        rc = OFC_DB_ERROR;
    }
    store_mime_free(&mime);
    ofc_strbuf_free(&msg);
    if (rc == OFC_DB_OK) {
        e->message_id = message_id;
        e->nsubmitted = n;
    }
out:
    for (size_t i = 0; i < n; i++)
        free(rcpts[i]);
    free(rcpts);
    ofc_strbuf_free(&bad);
    return rc;
}

/*
 * One transaction: take up to t->limit entries, store and submit each,
 * delete them all in one statement, one commit (one WAL flush) for the
 * lot. Any failure rolls all of it back; t->bad names the entry at fault.
 */
static int ingest(struct ofc_db *db, void *ctx, char **error_r)
{
    struct tx *t = ctx;
    tx_clear(t);
    if (take(db, t, error_r) < 0)
        return OFC_DB_ERROR;
    if (t->n == 0)
        return OFC_DB_OK;
    for (size_t i = 0; i < t->n; i++) {
        t->bad = i;
        int rc = ingest_one(db, t, &t->e[i], error_r);
        if (rc != OFC_DB_OK)
            return rc;
    }
    /* Not one entry alone is to blame if the delete fails. */
    t->bad = t->n == 1 ? 0 : t->n;
    struct ofc_strbuf ids = OFC_STRBUF_INIT;
    ofc_strbuf_putc(&ids, '{');
    for (size_t i = 0; i < t->n; i++)
        ofc_strbuf_printf(&ids, "%s%s", i > 0 ? "," : "", t->e[i].id_text);
    ofc_strbuf_putc(&ids, '}');
    const char *const del[] = {ids.data};
    int rc = OFC_DB_OK;
    if (ofc_db_exec(db, "DELETE FROM gateway_in WHERE id = ANY($1::bigint[])", 1, del) < 0) {
        *error_r = ofc_xasprintf("cannot delete %zu gateway_in entr%s: %s", t->n,
                                 t->n == 1 ? "y" : "ies", ofc_db_error(db));
        rc = OFC_DB_ERROR;
    }
    ofc_strbuf_free(&ids);
    return rc;
}

struct fail_ctx {
    const struct entry *e;
    const char *reason;
    bool dead;
    int retry_delay;
};

/* After a failed ingest: the entry goes to dead, or waits for a retry. */
static int record_failure(struct ofc_db *db, void *ctx, char **error_r)
{
    const struct fail_ctx *f = ctx;
    char delay[32];
    (void)snprintf(delay, sizeof(delay), "%d", f->retry_delay);
    if (f->dead) {
        const char *const p[] = {f->e->id_text, f->reason};
        if (ofc_db_exec(db,
                        "WITH g AS (DELETE FROM gateway_in WHERE id = $1::bigint"
                        "  RETURNING raw, sender, recipients)"
                        " INSERT INTO dead (raw, sender, recipients, from_queue, reason)"
                        " SELECT raw, sender, recipients, 'gateway_in', $2 FROM g",
                        2, p) < 0) {
            *error_r = ofc_xasprintf("cannot move gateway_in %lld to dead: %s", f->e->id,
                                     ofc_db_error(db));
            return OFC_DB_ERROR;
        }
        return OFC_DB_OK;
    }
    const char *const p[] = {f->e->id_text, f->reason, delay};
    if (ofc_db_exec(db,
                    "UPDATE gateway_in SET attempts = attempts + 1, last_error = $2,"
                    " not_before = now() + make_interval(secs => $3::integer)"
                    " WHERE id = $1::bigint",
                    3, p) < 0) {
        *error_r =
            ofc_xasprintf("cannot reschedule gateway_in %lld: %s", f->e->id, ofc_db_error(db));
        return OFC_DB_ERROR;
    }
    return OFC_DB_OK;
}

static void log_ingested(const struct tx *t)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct entry *e = &t->e[i];
        ofc_info("gateway_in %lld (%s, %s) -> message %lld, submission from <%s> to %zu "
                 "recipient%s",
                 e->id, e->source, e->client, e->message_id, e->sender, e->nsubmitted,
                 e->nsubmitted == 1 ? "" : "s");
    }
}

/*
 * Up to BatchSize entries per call, normally in one transaction (a commit,
 * that is a WAL flush, per message capped the gateway far below what LMTP
 * accepts). When a batch fails for a reason other than a conflict (which
 * ofc_db_transaction() retries), as many entries are taken again one per
 * transaction, so that the one at fault is retried or goes to dead alone
 * and the others are not held back.
 */
static int gw_work(struct ofc_proc *proc)
{
    struct gw *gw = ofc_proc_userdata(proc);
    struct ofc_db *db = ofc_proc_db(proc);
    long long batch = ofc_proc_param_int(proc, "BatchSize", 50);
    long long max_attempts = ofc_proc_param_int(proc, "MaxAttempts", 5);
    int retry_delay = (int)ofc_proc_param_int(proc, "RetryDelay", 60);
    if (batch < 1)
        batch = 1;
    if (batch > 1000)
        batch = 1000; /* every entry's octets are held until COMMIT */
    struct tx t = {.proc = proc, .gw = gw};
    t.e = ofc_xcalloc((size_t)batch, sizeof(*t.e));
    int status = 0;
    long long done = 0;
    long long singles = 0; /* entries still to take one per transaction */
    bool drained = false;
    while (done < batch && !ofc_proc_stopping(proc)) {
        t.limit = singles > 0 ? 1 : batch - done;
        char *error = NULL;
        int rc = ofc_db_transaction(db, false, 0, ingest, &t, &error);
        if (rc == OFC_DB_OK) {
            log_ingested(&t);
            done += (long long)t.n;
            if (singles > 0)
                singles--;
            if ((long long)t.n < t.limit) {
                drained = true;
                break;
            }
            continue;
        }
        if (t.n == 0 || rc == OFC_DB_STOPPED || rc == OFC_DB_UNKNOWN || !ofc_db_connected(db)) {
            /* Nothing taken, or the database went away: the entries stay as they were. */
            ofc_warn("gateway_in: %s", error != NULL ? error : "transaction failed");
            free(error);
            status = -1;
            break;
        }
        if (t.limit > 1) {
            ofc_warn("gateway_in: a batch of %zu failed (%s); taking them one at a time", t.n,
                     error != NULL ? error : "unknown error");
            free(error);
            singles = (long long)t.n;
            continue;
        }
        const struct entry *e = &t.e[0];
        char *reason = ofc_str_one_line(error != NULL ? error : "unknown error");
        free(error);
        struct fail_ctx f = {
            .e = e,
            .reason = reason,
            .dead = t.permanent || e->attempts + 1 >= max_attempts,
            .retry_delay = retry_delay,
        };
        char *error2 = NULL;
        if (ofc_db_transaction(db, false, 0, record_failure, &f, &error2) != OFC_DB_OK) {
            ofc_error("gateway_in %lld: %s; and %s", e->id, reason, error2);
            free(error2);
            free(reason);
            status = -1;
            break;
        }
        if (f.dead)
            ofc_error("gateway_in %lld from <%s>: %s; moved to the dead queue", e->id, e->sender,
                      reason);
        else
            ofc_warn("gateway_in %lld from <%s>: %s; retry %d in %d s", e->id, e->sender, reason,
                     e->attempts + 1, retry_delay);
        free(reason);
        done++;
        if (singles > 0)
            singles--;
    }
    tx_clear(&t);
    free(t.e);
    /* A full batch: there may be more; let the loop heartbeat, then come back. */
    if (status == 0 && !drained && done >= batch)
        ofc_proc_wake(proc);
    return status;
}

static int gw_load_domain(struct ofc_proc *proc, struct gw *gw)
{
    char id[32];
    (void)snprintf(id, sizeof(id), "%lld", ofc_proc_id(proc));
    const char *const p[] = {id};
    PGresult *res = ofc_db_query(ofc_proc_db(proc),
                                 "SELECT d.id, d.fqdn FROM process p JOIN domain d"
                                 " ON d.id = p.domain_id WHERE p.id = $1::integer",
                                 1, p);
    if (res == NULL) {
        ofc_error("cannot read the gateway's domain: %s", ofc_db_error(ofc_proc_db(proc)));
        return -1;
    }
    OFC_FREE(gw->domain);
    gw->domain_id = 0;
    if (PQntuples(res) == 1) {
        gw->domain_id = ofc_db_value_ll(res, 0, 0, 0);
        gw->domain = ofc_xstrdup(ofc_db_value(res, 0, 1));
    }
    PQclear(res);
    if (gw->domain == NULL)
        ofc_warn("no domain registered for this gateway (process.domain_id): recipients without a "
                 "domain cannot be delivered");
    else
        ofc_info("serving domain %s", gw->domain);
    return 0;
}

static int gw_init(struct ofc_proc *proc)
{
    struct gw *gw = ofc_xcalloc(1, sizeof(*gw));
    ofc_proc_set_userdata(proc, gw);
    if (gw_load_domain(proc, gw) < 0)
        return -1;
    const struct ofc_config *cfg = ofc_proc_config(proc);
    gw->host = ofc_xasprintf("%s%s%s", cfg->node, gw->domain != NULL ? "." : "",
                             gw->domain != NULL ? gw->domain : "");
    return 0;
}

static void gw_refresh(struct ofc_proc *proc)
{
    /* The registration may have been moved to another domain. */
    (void)gw_load_domain(proc, ofc_proc_userdata(proc));
}

static void gw_cleanup(struct ofc_proc *proc)
{
    struct gw *gw = ofc_proc_userdata(proc);
    if (gw == NULL)
        return;
    free(gw->domain);
    free(gw->host);
    free(gw);
    ofc_proc_set_userdata(proc, NULL);
}

int main(int argc, char **argv)
{
    static const char *const channels[] = {"ofc_gateway_in", NULL};
    const struct ofc_proc_def def = {
        .program = "ofcgwind",
        .type = "SMTP_IN",
        .log_base = "ofcutosrv",
        .log_numbered = false,
        .summary = "The inbound gateway: gateway_in -> message store and submission.",
        .channels = channels,
        .init = gw_init,
        .work = gw_work,
        .refresh = gw_refresh,
        .cleanup = gw_cleanup,
    };
    return ofc_proc_main(&def, argc, argv);
}
