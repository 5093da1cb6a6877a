/*
 * NAME
 *      ofcgwout - the outbound mail gateway (SMTP.<domain>)
 *
 * SYNOPSIS
 *      ofcgwout [-c config] [-f] [instance=N] [connect=conninfo]
 *
 * DESCRIPTION
 *      Sends the gateway_out queue of one SMTP gateway to the world: the
 *      gateway of type SMTP on this node whose domain is the domain this
 *      process is registered for (process.domain_id; shown as SMTP.COM).
 *      The Postman fills that queue with the external recipients whose
 *      domain a gateway_route of the gateway matches.
 *
 *      Each entry (one message, all its recipients for this gateway) is
 *      one database transaction: the entry is taken FOR UPDATE SKIP LOCKED
 *      (several instances may share the queue), the message is handed
 *      over, and in the same transaction the outcome is recorded per
 *      recipient:
 *
 *        sent          a message_billing row (GATEWAY, with the reply)
 *        temporary     (4xx, no connection, sendmail exit 75, ...) the
 *                      entry stays with only these recipients, due again
 *                      after RetryInitialSeconds, doubling with each
 *                      attempt up to RetryMaxSeconds
 *        permanent     (5xx, sendmail exit 67, ...) or still temporary
 *                      ExpireHours after submission: a report (RFC 3464)
 *                      from MAILER-DAEMON@<domain> goes to the sender
 *                      through submission (billing BOUNCED); with the null
 *                      sender, or when the message is a report itself, the
 *                      message goes to the dead queue instead (DEAD)
 *
 *      and the entry is deleted when no recipient is left.
 *
 *      Delivery is at least once. The remote side accepts the message
 *      before our transaction commits; the row stays locked while the
 *      message travels, so no other instance sends it meanwhile, and the
 *      commit follows the remote's reply at once. If the process or the
 *      database dies in between, the entry is still queued and the message
 *      is sent again: a duplicate is possible, a loss is not.
 *
 *      Transport sendmail runs SendmailPath SendmailArgs -oi -f <sender>
 *      -- <recipients> (no shell; "<>" for the null sender) with the
 *      message on its standard input, and reads its exit status
 *      (sysexits). Transport relay speaks SMTP to RelayHost:RelayPort:
 *      EHLO (HELO), STARTTLS per RelayStartTLS (none, opportunistic, or
 *      required with the certificate verified for RelayHost against
 *      RelayCAFile), MAIL FROM with SIZE and BODY=8BITMIME when offered,
 *      RCPT TO per recipient, DATA (CRLF, dot-stuffed), QUIT. When the
 *      relay cannot be reached, the rest of the batch waits for the next
 *      wake-up.
 *
 *      Wakes on NOTIFY ofc_gateway_out (the payload is the gateway id) and
 *      every PollInterval seconds: retries become due without a
 *      notification, so they are sent at the first poll after their time.
 *      Parameters: Transport, SendmailPath, SendmailArgs, RelayHost,
 *      RelayPort, RelayStartTLS, RelayCAFile, RelayHelo, BatchSize,
 *      RetryInitialSeconds, RetryMaxSeconds, ExpireHours, ConnectTimeout,
 *      CommandTimeout and those of every process. Log:
 *      <node>_smtpNN.log.
 *
 * DIAGNOSTICS
 *      One log line per entry: what became of each recipient. Exit status
 *      as every ofcmail process (ofc_proc): 0 after SIGTERM, 1 when the
 *      configuration, log, registration or start fails.
 */
/* System. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* libofc. */
#include "ofc_config.h"
#include "ofc_db.h"
#include "ofc_log.h"
#include "ofc_mem.h"
#include "ofc_proc.h"
#include "queue.h"
#include "store_billing.h"
#include "store_message.h"
#include "store_ndr.h"

/* This program. */
#include "gwout.h"

/* The header of an original message quoted in a report: at most this much. */
#define NDR_HEADER_MAX 65536

struct gw {
    long long gateway_id; /* 0: none found; the process idles */
    char *name;           /* "SMTP.COM" */
    char *domain;         /* MAILER-DAEMON@, default HELO; never NULL */
};

/* What one transaction learns; cleared before each. */
struct tx {
    struct ofc_proc *proc;
    struct gw *gw;
    bool found;
    bool unreachable; /* the relay could not be reached: end the pass */
};

/* ---- outcomes --------------------------------------------------------- */

void outcome_set(struct rcpt_outcome *o, enum rcpt_result result, const char *status,
                 const char *diagnostic)
{
    free(o->status);
    free(o->diagnostic);
    o->result = result;
    o->status = status != NULL ? ofc_xstrdup(status) : NULL;
    o->diagnostic = diagnostic != NULL ? ofc_xstrdup(diagnostic) : NULL;
}

void outcome_set_all(struct rcpt_outcome *o, size_t n, bool all, enum rcpt_result result,
                     const char *status, const char *diagnostic)
{
    for (size_t i = 0; i < n; i++)
        if (all || (o[i].result == RCPT_TEMP && o[i].status == NULL))
            outcome_set(&o[i], result, status, diagnostic);
}

void outcome_free(struct rcpt_outcome **o, size_t n)
{
    if (*o == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free((*o)[i].status);
        free((*o)[i].diagnostic);
    }
    free(*o);
    *o = NULL;
}

/* ---- parameters ------------------------------------------------------- */

static int param_int(struct ofc_proc *proc, const char *name, long long dflt, long long lo,
                     long long hi)
{
    long long v = ofc_proc_param_int(proc, name, dflt);
    return (int)(v < lo ? lo : v > hi ? hi : v);
}

/* The delay before attempt `attempts` + 2: initial doubled per earlier failure. */
static int backoff(struct ofc_proc *proc, int attempts)
{
    long long initial = param_int(proc, "RetryInitialSeconds", 60, 1, 86400);
    long long max = param_int(proc, "RetryMaxSeconds", 3600, 1, 604800);
    long long d = initial;
    for (int i = 0; i < attempts && d < max; i++)
        d *= 2;
    return (int)(d < max ? d : max);
}

/* ---- one entry -------------------------------------------------------- */

/* The stored octets of a message; heap, length in *len_r. NULL on error. */
static char *fetch_message(struct ofc_db *db, long long message_id, size_t *len_r, char **error_r)
{
    char *sid = ofc_xasprintf("%lld", message_id);
    const char *values[] = {sid};
    PGresult *res = ofc_db_query_bin(db, "SELECT raw FROM ofc.message WHERE id = $1::bigint", 1,
                                     values, NULL, NULL, 1);
    free(sid);
    if (res == NULL || PQntuples(res) != 1) {
        *error_r = ofc_xasprintf("cannot read message %lld: %s", message_id,
                                 res == NULL ? ofc_db_error(db) : "no such message");
        PQclear(res);
        return NULL;
    }
    size_t len = (size_t)PQgetlength(res, 0, 0);
    char *raw = ofc_xmalloc(len + 1);
    memcpy(raw, PQgetvalue(res, 0, 0), len);
    raw[len] = '\0';
    PQclear(res);
    *len_r = len;
    return raw;
}

/* Hands the message to the configured transport. Returns -1 on a bad configuration. */
static int transport_send(struct tx *t, const struct send_job *job, struct rcpt_outcome *out,
                          char **error_r)
{
    struct ofc_proc *proc = t->proc;
    const char *transport = ofc_proc_param(proc, "Transport", "sendmail");
    int command_timeout = param_int(proc, "CommandTimeout", 90, 1, 3600);
    if (strcasecmp(transport, "sendmail") == 0) {
        const char *path = ofc_proc_param(proc, "SendmailPath", "/usr/sbin/sendmail");
        if (path[0] != '/') {
            *error_r = ofc_xasprintf("SendmailPath '%s' is not an absolute path", path);
            return -1;
        }
        struct sendmail_conf sc = {
            .path = path,
            .extra = ofc_proc_param(proc, "SendmailArgs", ""),
            .timeout_s = command_timeout,
        };
        sendmail_send(&sc, job, out);
        return 0;
    }
    if (strcasecmp(transport, "relay") != 0) {
        *error_r = ofc_xasprintf("Transport '%s' is neither sendmail nor relay", transport);
        return -1;
    }
    const char *tls = ofc_proc_param(proc, "RelayStartTLS", "opportunistic");
    enum starttls_mode mode;
    if (strcasecmp(tls, "none") == 0)
        mode = STARTTLS_NONE;
    else if (strcasecmp(tls, "opportunistic") == 0)
        mode = STARTTLS_OPPORTUNISTIC;
    else if (strcasecmp(tls, "required") == 0)
        mode = STARTTLS_REQUIRED;
    else {
        *error_r = ofc_xasprintf("RelayStartTLS '%s' is not none, opportunistic or required", tls);
        return -1;
    }
    const char *ca = ofc_proc_param(proc, "RelayCAFile", "");
    const struct ofc_config *cfg = ofc_proc_config(proc);
    if (ca[0] == '\0' && cfg->tls_ca != NULL && cfg->tls_ca[0] != '\0')
        ca = cfg->tls_ca;
    const char *helo = ofc_proc_param(proc, "RelayHelo", "");
    char *own_helo = NULL;
    if (helo[0] == '\0') {
        own_helo = ofc_xasprintf("%s.%s", cfg->node, t->gw->domain);
        for (char *p = own_helo; *p != '\0'; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        helo = own_helo;
    }
    struct relay_conf rc = {
        .host = ofc_proc_param(proc, "RelayHost", ""),
        .port = param_int(proc, "RelayPort", 25, 1, 65535),
        .starttls = mode,
        .ca_file = ca,
        .helo = helo,
        .connect_timeout_s = param_int(proc, "ConnectTimeout", 30, 1, 3600),
        .command_timeout_s = command_timeout,
    };
    t->unreachable = relay_send(&rc, job, out);
    free(own_helo);
    return 0;
}

/* What the transaction writes besides the queue: billing rows. */
struct bills {
    struct billing_row *v;
    size_t n;
};

static void bill(struct bills *b, const struct queue_entry *e, const char *rcpt,
                 const char *disposition, const char *reason)
{
    b->v = ofc_xrealloc(b->v, (b->n + 1) * sizeof(*b->v));
    b->v[b->n++] = (struct billing_row){
        .message_id = e->message_id,
        .sender = e->sender,
        .recipient = rcpt,
        .size = e->size,
        .disposition = disposition,
        .reason = reason,
        .submitted_at = e->submitted_at,
    };
}

/*
 * The recipients that will never get the message: a report to the sender,
 * or the dead queue when nobody can be told.
 */
static int return_failures(struct ofc_db *db, struct tx *t, const struct queue_entry *e,
                           const char *raw, size_t len, const size_t *idx, size_t n,
                           const struct rcpt_outcome *out, struct bills *b, char **error_r)
{
    size_t hlen = ndr_header_length(raw, len < NDR_HEADER_MAX ? len : NDR_HEADER_MAX);
    const char *why = e->sender[0] == '\0'       ? "null sender"
                      : ndr_is_report(raw, hlen) ? "the message is a report itself"
                                                 : NULL;
    if (why != NULL) {
        const char **rcpts = ofc_xcalloc(n, sizeof(*rcpts));
        for (size_t i = 0; i < n; i++)
            rcpts[i] = e->rcpts[idx[i]];
        char *reason = ofc_xasprintf("undeliverable (%s%s) and unreturnable (%s)",
                                     out[idx[0]].diagnostic, n > 1 ? ", ..." : "", why);
        int rc = queue_dead(db, "gateway_out", e->message_id, NULL, 0, e->sender, rcpts, n, reason,
                            error_r);
        free(rcpts);
        for (size_t i = 0; rc == 0 && i < n; i++)
            bill(b, e, e->rcpts[idx[i]], "DEAD", out[idx[i]].diagnostic);
        if (rc == 0)
            ofc_info("gateway_out %lld message %lld from <%s>: dead: %s", e->id, e->message_id,
                     e->sender, reason);
        free(reason);
        return rc;
    }
    struct ndr_failure *nf = ofc_xcalloc(n, sizeof(*nf));
    for (size_t i = 0; i < n; i++)
        nf[i] = (struct ndr_failure){e->rcpts[idx[i]], NULL, out[idx[i]].status,
                                     out[idx[i]].diagnostic};
    size_t rlen = 0;
    char *report = ndr_compose(t->gw->domain, e->sender, e->message_id, raw, hlen, nf, n, &rlen);
    free(nf);
    long long report_id = 0;
    int rc = store_message_put_raw(db, report, rlen, &report_id, error_r);
    if (rc == 0) {
        const char *to[] = {e->sender};
        rc = store_submit(db, report_id, "", to, 1, NULL, error_r);
    }
    free(report);
    for (size_t i = 0; rc == 0 && i < n; i++)
        bill(b, e, e->rcpts[idx[i]], "BOUNCED", out[idx[i]].diagnostic);
    if (rc == 0)
        ofc_info("gateway_out %lld message %lld from <%s>: report %lld to the sender for %zu "
                 "recipient%s",
                 e->id, e->message_id, e->sender, report_id, n, n == 1 ? "" : "s");
    return rc;
}

/* Records the outcomes of one entry; in the transaction that holds its lock. */
static int dispose(struct ofc_db *db, struct tx *t, const struct queue_entry *e, const char *raw,
                   size_t len, struct rcpt_outcome *out, char **error_r)
{
    struct ofc_proc *proc = t->proc;
    long long expire_s = (long long)param_int(proc, "ExpireHours", 120, 1, 8760) * 3600;
    size_t *failed = ofc_xcalloc(e->nrcpts, sizeof(*failed));
    const char **retry = ofc_xcalloc(e->nrcpts, sizeof(*retry));
    size_t nfailed = 0, nretry = 0, nsent = 0;
    const char *retry_reason = NULL;
    struct bills b = {0};
    for (size_t i = 0; i < e->nrcpts; i++) {
        struct rcpt_outcome *o = &out[i];
        if (o->result == RCPT_TEMP && e->age_s >= expire_s) {
            /* RFC 3463 4.4.7: delivery time expired, with the last reason. */
            char *d = ofc_xasprintf("delivery time expired after %lld hours: %s", expire_s / 3600,
                                    o->diagnostic != NULL ? o->diagnostic : "temporary failure");
            outcome_set(o, RCPT_PERM, "4.4.7", d);
            free(d);
        }
        if (o->result == RCPT_SENT) {
            nsent++;
            bill(&b, e, e->rcpts[i], "GATEWAY", o->diagnostic);
        } else if (o->result == RCPT_PERM) {
            failed[nfailed++] = i;
        } else {
            if (retry_reason == NULL)
                retry_reason = o->diagnostic;
            retry[nretry++] = e->rcpts[i];
        }
    }
    int rc = 0;
    if (nfailed > 0)
        rc = return_failures(db, t, e, raw, len, failed, nfailed, out, &b, error_r);
    int delay = backoff(proc, e->attempts);
    if (rc == 0 && nretry > 0) {
        char *reason = ofc_str_one_line(retry_reason != NULL ? retry_reason : "temporary failure");
        rc = queue_retry_gateway_out(db, e->id, retry, nretry, delay, reason, error_r);
        free(reason);
    } else if (rc == 0) {
        rc = queue_done_gateway_out(db, e->id, error_r);
    }
    if (rc == 0 && b.n > 0)
        rc = billing_record(db, ofc_proc_node_id(proc), ofc_proc_id(proc), b.v, b.n, error_r);
    if (rc == 0) {
        struct ofc_strbuf line = OFC_STRBUF_INIT;
        for (size_t i = 0; i < e->nrcpts; i++)
            ofc_strbuf_printf(&line, "%s<%s> %s: %s", i > 0 ? "; " : "", e->rcpts[i],
                              out[i].result == RCPT_SENT   ? "sent"
                              : out[i].result == RCPT_PERM ? "failed"
                                                           : "deferred",
                              out[i].diagnostic != NULL ? out[i].diagnostic : "");
        ofc_info("gateway_out %lld message %lld from <%s>: %zu sent, %zu failed, %zu deferred%s; "
                 "%s",
                 e->id, e->message_id, e->sender, nsent, nfailed, nretry,
                 nretry > 0 ? " (retry later)" : "", line.data != NULL ? line.data : "");
        if (nretry > 0)
            ofc_debug("gateway_out %lld: next attempt in %d s", e->id, delay);
        ofc_strbuf_free(&line);
    }
    free(b.v);
    free(failed);
    free(retry);
    return rc;
}

/*
 * One entry in one transaction: take, send, record. The send happens
 * inside the transaction on purpose: the row lock keeps every other
 * instance away from the entry while it travels (see DESCRIPTION).
 */
static int send_one(struct ofc_db *db, void *ctx, char **error_r)
{
    struct tx *t = ctx;
    t->found = false;
    t->unreachable = false;
    struct queue_entry *entries = NULL;
    size_t n = 0;
    if (queue_take_gateway_out(db, t->gw->gateway_id, 1, &entries, &n, error_r) < 0)
        return OFC_DB_ERROR;
    if (n == 0)
        return OFC_DB_OK;
    t->found = true;
    struct queue_entry *e = &entries[0];
    int rc = OFC_DB_ERROR;
    size_t len = 0;
    char *raw = fetch_message(db, e->message_id, &len, error_r);
    struct rcpt_outcome *out = ofc_xcalloc(e->nrcpts, sizeof(*out));
    if (raw != NULL) {
        struct send_job job = {
            .sender = e->sender,
            .rcpts = (const char *const *)e->rcpts,
            .nrcpts = e->nrcpts,
            .msg = raw,
            .len = len,
        };
        if (transport_send(t, &job, out, error_r) == 0 &&
            dispose(db, t, e, raw, len, out, error_r) == 0)
            rc = OFC_DB_OK;
    }
    outcome_free(&out, e->nrcpts);
    free(raw);
    queue_entries_free(&entries, n);
    return rc;
}

static int gw_work(struct ofc_proc *proc)
{
    struct gw *gw = ofc_proc_userdata(proc);
    if (gw->gateway_id == 0)
        return 0;
    struct ofc_db *db = ofc_proc_db(proc);
    int batch = param_int(proc, "BatchSize", 20, 1, 10000);
    struct tx t = {.proc = proc, .gw = gw};
    int done = 0;
    for (; done < batch && !ofc_proc_stopping(proc); done++) {
        char *error = NULL;
        /* One attempt only: running the callback again would send again. */
        int rc = ofc_db_transaction(db, false, 1, send_one, &t, &error);
        if (rc != OFC_DB_OK) {
            ofc_warn("%s: %s; the entry stays queued%s", gw->name,
                     error != NULL ? error : "transaction failed",
                     rc == OFC_DB_UNKNOWN ? " (it may have been sent: a duplicate is possible)"
                                          : "");
            free(error);
            return -1;
        }
        if (!t.found)
            break;
        if (t.unreachable) {
            ofc_info("%s: the relay is unreachable; the rest waits for the next wake-up", gw->name);
            break;
        }
    }
    if (done >= batch)
        ofc_proc_wake(proc);
    return 0;
}

/* ---- lifecycle -------------------------------------------------------- */

/* Finds this process's gateway: type SMTP, this node, the registered domain. */
static int gw_load(struct ofc_proc *proc, struct gw *gw)
{
    char id[32];
    (void)snprintf(id, sizeof(id), "%lld", ofc_proc_id(proc));
    const char *const p[] = {id};
    PGresult *res = ofc_db_query(
        ofc_proc_db(proc),
        "SELECT g.id, g.name, coalesce(d.fqdn, (SELECT t.fqdn FROM ofc.domain t"
        "   WHERE t.parent_id IS NULL AND t.confignode_id = p.node_id ORDER BY t.id LIMIT 1),"
        "   'localhost')"
        "  FROM ofc.process p JOIN ofc.gateway g ON g.node_id = p.node_id AND g.type = 'SMTP'"
        "   AND g.domain_id IS NOT DISTINCT FROM p.domain_id"
        "  LEFT JOIN ofc.domain d ON d.id = p.domain_id"
        " WHERE p.id = $1::integer ORDER BY g.id LIMIT 1",
        1, p);
    if (res == NULL) {
        ofc_error("cannot read the gateway: %s", ofc_db_error(ofc_proc_db(proc)));
        return -1;
    }
    OFC_FREE(gw->name);
    OFC_FREE(gw->domain);
    gw->gateway_id = 0;
    if (PQntuples(res) == 1) {
        gw->gateway_id = ofc_db_value_ll(res, 0, 0, 0);
        gw->name = ofc_xstrdup(PQgetvalue(res, 0, 1));
        gw->domain = ofc_xstrdup(PQgetvalue(res, 0, 2));
    }
    PQclear(res);
    if (gw->gateway_id == 0) {
        gw->name = ofc_xstrdup("SMTP");
        gw->domain = ofc_xstrdup("localhost");
        ofc_warn("no SMTP gateway on this node for this process's domain: nothing to send");
    } else {
        ofc_info("sending gateway %s (id %lld) by %s", gw->name, gw->gateway_id,
                 ofc_proc_param(proc, "Transport", "sendmail"));
    }
    return 0;
}

static int gw_init(struct ofc_proc *proc)
{
    struct gw *gw = ofc_xcalloc(1, sizeof(*gw));
    ofc_proc_set_userdata(proc, gw);
    return gw_load(proc, gw);
}

static void gw_refresh(struct ofc_proc *proc)
{
    /* The registration, or the gateway, may have changed. */
    (void)gw_load(proc, ofc_proc_userdata(proc));
}

static void gw_cleanup(struct ofc_proc *proc)
{
    struct gw *gw = ofc_proc_userdata(proc);
    if (gw == NULL)
        return;
    free(gw->name);
    free(gw->domain);
    free(gw);
    ofc_proc_set_userdata(proc, NULL);
}

int main(int argc, char **argv)
{
    /*
     * Every gateway's insertions arrive on this channel; a wake-up for
     * another gateway costs one empty take, since the take names ours.
     */
    static const char *const channels[] = {"ofc_gateway_out", NULL};
    const struct ofc_proc_def def = {
        .program = "ofcgwout",
        .type = "SMTP",
        .log_base = "smtp",
        .log_numbered = true,
        .summary = "The outbound gateway: gateway_out -> sendmail or an SMTP relay.",
        .channels = channels,
        .init = gw_init,
        .work = gw_work,
        .refresh = gw_refresh,
        .cleanup = gw_cleanup,
    };
    return ofc_proc_main(&def, argc, argv);
}
