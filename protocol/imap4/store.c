/*
 * store.c - STORE, COPY and MOVE with their UID forms (RFC 3501 §6.4.6,
 * §6.4.7; CONDSTORE UNCHANGEDSINCE RFC 7162 §3.1.3; COPYUID RFC 4315;
 * MOVE RFC 6851).
 *
 * Every change takes the mailbox row lock first (FOR UPDATE), like
 * deliveries and expunges, and stamps what it changed with
 * highestmodseq + 1: other sessions find the change by its modseq
 * (view.c), and the lock keeps modseqs in commit order. A COPY or MOVE
 * locks both rows in id order, so two crossing moves cannot deadlock.
 */
/* System. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Libraries. */
#include <event2/buffer.h>

/* libofc. */
#include "ofc_db.h"
#include "ofc_log.h"
#include "ofc_mem.h"
#include "ofc_pgarray.h"
#include "store_mailbox.h"

/* Protocol. */
#include "sps.h"

/* This program. */
#include "imap4.h"

#define TEMP_FAILURE "NO [UNAVAILABLE] Temporary failure, please try again later"

static void cmd_done(struct imap_cmd **cmd)
{
    if (*cmd == NULL)
        return;
    imap_cmd_free(*cmd);
    free(*cmd);
    *cmd = NULL;
}

/*
 * The UIDs the first argument names, resolved against the view. Returns 0,
 * or -1 after answering BAD (malformed set, msn out of range).
 */
static int resolve_arg(struct imap_session *s, struct imap_cmd *cmd, uint32_t **uids_r, size_t *n_r)
{
    struct imap_seqset set;
    if (cmd->nargs < 1 || cmd->args[0].type != IMAP_ARG_ATOM ||
        imap_seqset_parse(cmd->args[0].s, &set) != 0) {
        imap_tagged(s, cmd->tag, "BAD", "Invalid sequence set");
        return -1;
    }
    int rc = imap_view_resolve(s->view, &set, cmd->uid, uids_r, n_r);
    imap_seqset_free(&set);
    if (rc != 0) {
        imap_tagged(s, cmd->tag, "BAD", "Invalid message sequence number");
        return -1;
    }
    return 0;
}

static char *uid_array(const uint32_t *uids, size_t n)
{
    long long *ll = ofc_xcalloc(n ? n : 1, sizeof(*ll));
    for (size_t i = 0; i < n; i++)
        ll[i] = uids[i];
    char *array = ofc_pg_id_array(ll, n);
    free(ll);
    return array;
}

/* ---- STORE ---------------------------------------------------------------- */

enum store_mode { STORE_SET, STORE_ADD, STORE_REMOVE };

struct store_job {
    struct imap_session *s;
    struct imap_cmd *cmd;
    long long mailbox_id;
    uint32_t *uids; /* named, ascending */
    size_t n;
    enum store_mode mode;
    bool silent;
    long long unchangedsince; /* -1: none */
    int flags;
    char **keywords;
    size_t nkeywords;
    /* Results of the transaction (reset when it is retried). */
    bool gone;          /* the mailbox was deleted */
    long long before;   /* highestmodseq when the row was locked */
    long long modseq;   /* the changes' modseq, 0 = nothing changed */
    PGresult *final;    /* uid, flags, keywords, modseq of the named messages */
    uint32_t *modified; /* UNCHANGEDSINCE failures (UIDs, ascending) */
    size_t nmodified;
    char *new_keywords_list; /* text[] of all keywords, when a new one appeared */
};

static void store_reset(struct store_job *j)
{
    j->gone = false;
    j->before = j->modseq = 0;
    if (j->final != NULL)
        PQclear(j->final);
    j->final = NULL;
    OFC_FREE(j->modified);
    j->nmodified = 0;
    OFC_FREE(j->new_keywords_list);
}

/* The flag change itself is IMAP_SQL_STORE (sql.c). */
static int store_tx(struct ofc_db *db, void *ctx, char **error_r)
{
    struct store_job *j = ctx;
    store_reset(j);
    char sid[32];
    (void)snprintf(sid, sizeof(sid), "%lld", j->mailbox_id);
    const char *lparams[] = {sid};
    PGresult *res = imap_sql(db, IMAP_SQL_MAILBOX_LOCK, lparams);
    if (res == NULL)
        goto failed;
    if (PQntuples(res) == 0) {
        PQclear(res);
        j->gone = true;
        return OFC_DB_OK;
    }
    j->before = ofc_db_value_ll(res, 0, 0, 1);
    PQclear(res);

    char *uids = uid_array(j->uids, j->n);
    char *kw = ofc_pg_text_array((const char *const *)j->keywords, j->nkeywords);
    char sflags[16], sunch[32], snext[32];
    (void)snprintf(sflags, sizeof(sflags), "%d", j->flags);
    (void)snprintf(sunch, sizeof(sunch), "%lld", j->unchangedsince);
    (void)snprintf(snext, sizeof(snext), "%lld", j->before + 1);
    const char *unch = j->unchangedsince >= 0 ? sunch : NULL;
    const char *mode = j->mode == STORE_SET ? "=" : j->mode == STORE_ADD ? "+" : "-";
    int rc = -1;

    /* UNCHANGEDSINCE: what changed after the client's modseq is left alone. */
    if (unch != NULL) {
        const char *mparams[] = {sid, uids, unch};
        res = ofc_db_query(db,
                           "SELECT uid FROM ofc.mailbox_pointer"
                           " WHERE mailbox_id = $1::bigint AND uid = ANY ($2::bigint[])"
                           "   AND modseq > $3::bigint ORDER BY uid",
                           3, mparams);
        if (res == NULL)
            goto out;
        j->nmodified = (size_t)PQntuples(res);
        j->modified = ofc_xcalloc(j->nmodified ? j->nmodified : 1, sizeof(*j->modified));
        for (size_t i = 0; i < j->nmodified; i++)
            j->modified[i] = (uint32_t)ofc_db_value_ll(res, (int)i, 0, 0);
        PQclear(res);
    }

    /* A keyword new to the mailbox makes a new FLAGS response (RFC 3501 §7.2.6). */
    bool new_keyword = false;
    if (j->mode != STORE_REMOVE && j->nkeywords > 0) {
        const char *kparams[] = {sid, kw};
        res = ofc_db_query(db,
                           "SELECT count(*) FROM unnest($2::text[]) k"
                           " WHERE NOT EXISTS (SELECT 1 FROM ofc.mailbox_pointer p,"
                           "                          unnest(p.keywords) x"
                           "                    WHERE p.mailbox_id = $1::bigint"
                           "                      AND p.keywords <> '{}' AND lower(x) = lower(k))",
                           2, kparams);
        if (res == NULL)
            goto out;
        new_keyword = ofc_db_value_ll(res, 0, 0, 0) > 0;
        PQclear(res);
    }

    const char *params[] = {sid, uids, mode, sflags, kw, unch, snext};
    res = imap_sql(db, IMAP_SQL_STORE, params);
    if (res == NULL)
        goto out;
    bool changed = PQntuples(res) > 0;
    PQclear(res);
    if (changed) {
        j->modseq = j->before + 1;
        const char *bparams[] = {sid, snext};
        res = imap_sql(db, IMAP_SQL_SET_MODSEQ, bparams);
        if (res == NULL)
            goto out;
        PQclear(res);
    }
    if (new_keyword && changed) {
        res = ofc_db_query(db,
                           "SELECT array(SELECT DISTINCT k FROM ofc.mailbox_pointer p,"
                           "                    unnest(p.keywords) k"
                           "              WHERE p.mailbox_id = $1::bigint AND p.keywords <> '{}'"
                           "              ORDER BY k LIMIT 200)",
                           1, lparams);
        if (res == NULL)
            goto out;
        const char *lit = ofc_db_value(res, 0, 0);
        j->new_keywords_list = ofc_xstrdup(lit != NULL ? lit : "{}");
        PQclear(res);
    }
    if (j->silent && !j->s->condstore) {
        rc = 0; /* nothing to tell */
        goto out;
    }
    const char *fparams[] = {sid, uids};
    j->final = imap_sql(db, IMAP_SQL_FLAGS_OF, fparams);
    if (j->final == NULL)
        goto out;
    rc = 0;
out:
    free(uids);
    free(kw);
    if (rc == 0)
        return OFC_DB_OK;
failed:
    *error_r =
        ofc_xasprintf("cannot store flags in mailbox %lld: %s", j->mailbox_id, ofc_db_error(db));
    return OFC_DB_ERROR;
}

static bool in_sorted(const uint32_t *a, size_t n, uint32_t v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && a[lo] == v;
}

static void store_job_fn(struct sps_job *job)
{
    struct store_job *j = job->arg;
    struct imap_session *s = j->s;
    struct imap_view *v = s->view;
    const char *tag = j->cmd->tag;
    char *error = NULL;
    /*
     * Others' changes first (no EXPUNGE during STORE, RFC 3501 §7.4.1): when
     * nothing else happened before the lock, this session's own change is
     * all that is new, and the view moves past it without echoing it.
     */
    if (imap_view_sync(s, job, false, &error) != 0 ||
        ofc_db_transaction(job->db, false, 0, store_tx, j, &error) != OFC_DB_OK) {
        ofc_error("%s: STORE in %s: %s", s->user, v->name, error != NULL ? error : "?");
        free(error);
        imap_out_printf(job->out, "%s " TEMP_FAILURE "\r\n", tag);
        return;
    }
    if (j->gone) {
        imap_out_printf(job->out, "%s NO Mailbox was deleted\r\n", tag);
        return;
    }
    if (j->modseq > 0 && j->before == v->highestmodseq)
        v->highestmodseq = j->modseq;
    else if (j->before != v->highestmodseq)
        imap_view_changed(s); /* others changed it before the lock: read next time */
    if (j->new_keywords_list != NULL) {
        char **kw = NULL;
        size_t nkw = 0;
        if (ofc_pg_text_array_parse(j->new_keywords_list, &kw, &nkw) == 0) {
            imap_view_flags_list(job->out, (const char *const *)kw, nkw, v->read_only);
            ofc_pg_text_array_free(&kw, nkw);
        }
    }
    /* UID STORE, and every FETCH once QRESYNC is on (RFC 7162 §3.2.4), carry the UID. */
    bool with_uid = j->cmd->uid || s->qresync;
    int rows = j->final != NULL ? PQntuples(j->final) : 0;
    for (int i = 0; i < rows; i++) {
        uint32_t uid = (uint32_t)ofc_db_value_ll(j->final, i, 0, 0);
        long long modseq = ofc_db_value_ll(j->final, i, 3, 0);
        uint32_t msn = imap_view_msn(v, uid);
        if (msn == 0 || in_sorted(j->modified, j->nmodified, uid))
            continue;
        if (!j->silent) {
            imap_view_write_fetch_flags(s, job->out, msn, uid,
                                        (int)ofc_db_value_ll(j->final, i, 1, 0),
                                        ofc_db_value(j->final, i, 2), modseq, with_uid);
        } else if (s->condstore && j->modseq > 0 && modseq == j->modseq) {
            /* RFC 7162 §3.1.3: the new modseq is told even with .SILENT. */
            if (with_uid)
                imap_out_printf(job->out, "* %u FETCH (UID %u MODSEQ (%lld))\r\n", msn, uid,
                                modseq);
            else
                imap_out_printf(job->out, "* %u FETCH (MODSEQ (%lld))\r\n", msn, modseq);
        }
    }
    if (j->nmodified > 0) {
        /* MODIFIED names msns for STORE and UIDs for UID STORE. */
        uint32_t *names = ofc_xcalloc(j->nmodified, sizeof(*names));
        size_t k = 0;
        for (size_t i = 0; i < j->nmodified; i++) {
            uint32_t name = j->cmd->uid ? j->modified[i] : imap_view_msn(v, j->modified[i]);
            if (name != 0)
                names[k++] = name;
        }
        char *set = imap_seqset_format(names, k);
        free(names);
        imap_out_printf(job->out, "%s OK [MODIFIED %s] Conditional STORE failed\r\n", tag, set);
        free(set);
        return;
    }
    imap_out_printf(job->out, "%s OK %sSTORE completed\r\n", tag, j->cmd->uid ? "UID " : "");
}

static void store_done(struct sps_client *c, void *state, void *arg)
{
    (void)c;
    (void)state;
    struct store_job *j = arg;
    store_reset(j);
    for (size_t i = 0; i < j->nkeywords; i++)
        free(j->keywords[i]);
    free(j->keywords);
    free(j->uids);
    cmd_done(&j->cmd);
    free(j);
}

/* The STORE data item name: FLAGS, +FLAGS, -FLAGS, with .SILENT. */
static int store_item(const char *s, enum store_mode *mode, bool *silent)
{
    if (*s == '+') {
        *mode = STORE_ADD;
        s++;
    } else if (*s == '-') {
        *mode = STORE_REMOVE;
        s++;
    } else {
        *mode = STORE_SET;
    }
    if (strcasecmp(s, "FLAGS") == 0) {
        *silent = false;
        return 0;
    }
    if (strcasecmp(s, "FLAGS.SILENT") == 0) {
        *silent = true;
        return 0;
    }
    return -1;
}

void imap_cmd_store(struct imap_session *s, struct imap_cmd *cmd)
{
    if (s->view == NULL || cmd->nargs < 3) {
        imap_tagged(s, cmd->tag, "BAD", "STORE needs a sequence set, an item and flags");
        cmd_done(&cmd);
        return;
    }
    struct store_job *j = ofc_xcalloc(1, sizeof(*j));
    j->s = s;
    j->unchangedsince = -1;
    size_t at = 1;
    /* RFC 7162: STORE set (UNCHANGEDSINCE n) item value. */
    if (cmd->args[1].type == IMAP_ARG_LIST) {
        const struct imap_arg *m = &cmd->args[1];
        if (m->n != 2 || !imap_arg_is(&m->list[0], "UNCHANGEDSINCE") ||
            m->list[1].type != IMAP_ARG_ATOM) {
            imap_tagged(s, cmd->tag, "BAD", "Invalid STORE modifier");
            goto fail;
        }
        char *end = NULL;
        unsigned long long u = strtoull(m->list[1].s, &end, 10);
        if (m->list[1].s[0] < '0' || m->list[1].s[0] > '9' || *end != '\0' ||
            u > 9223372036854775807ULL) {
            imap_tagged(s, cmd->tag, "BAD", "Invalid UNCHANGEDSINCE value");
            goto fail;
        }
        j->unchangedsince = (long long)u;
        s->condstore = true; /* a CONDSTORE-enabling command (RFC 7162 §3.1) */
        at = 2;
    }
    if (cmd->nargs < at + 2 || cmd->args[at].type != IMAP_ARG_ATOM ||
        store_item(cmd->args[at].s, &j->mode, &j->silent) != 0) {
        imap_tagged(s, cmd->tag, "BAD", "Invalid STORE data item");
        goto fail;
    }
    int rc;
    if (cmd->nargs == at + 2) {
        rc = imap_flags_parse(&cmd->args[at + 1], &j->flags, &j->keywords, &j->nkeywords);
    } else {
        /* Flags without parentheses (RFC 3501 store-att-flags). */
        struct imap_arg list = {
            .type = IMAP_ARG_LIST, .list = &cmd->args[at + 1], .n = cmd->nargs - at - 1};
        rc = imap_flags_parse(&list, &j->flags, &j->keywords, &j->nkeywords);
    }
    if (rc != 0) {
        imap_tagged(s, cmd->tag, "BAD", "Invalid flag in STORE");
        goto fail;
    }
    if (s->view->read_only) {
        imap_tagged(s, cmd->tag, "NO", "Mailbox is read-only");
        goto fail;
    }
    if (resolve_arg(s, cmd, &j->uids, &j->n) != 0)
        goto fail;
    j->cmd = cmd;
    j->mailbox_id = s->view->mailbox_id;
    sps_client_run(s->c, store_job_fn, store_done, j);
    return;
fail:
    j->cmd = cmd;
    store_done(s->c, s, j);
}

/* ---- COPY / MOVE ------------------------------------------------------------ */

struct copy_job {
    struct imap_session *s;
    struct imap_cmd *cmd;
    bool move;
    long long src_id;
    uint32_t *uids; /* named, ascending */
    size_t n;
    char *target;
    long long dst_id;
    /* Results of the transaction (reset when it is retried). */
    enum { COPY_OK, COPY_GONE, COPY_QUOTA, COPY_FULL } result;
    long long dst_uidvalidity;
    uint32_t *src_uids, *dst_uids; /* what was copied, in pairs */
    size_t ncopied;
};

static void copy_reset(struct copy_job *j)
{
    j->result = COPY_OK;
    OFC_FREE(j->src_uids);
    OFC_FREE(j->dst_uids);
    j->ncopied = 0;
}

static int copy_tx(struct ofc_db *db, void *ctx, char **error_r)
{
    struct copy_job *j = ctx;
    copy_reset(j);
    char ssrc[32], sdst[32], sacct[32];
    (void)snprintf(ssrc, sizeof(ssrc), "%lld", j->src_id);
    (void)snprintf(sdst, sizeof(sdst), "%lld", j->dst_id);
    (void)snprintf(sacct, sizeof(sacct), "%lld", j->s->account_id);
    char *uids = uid_array(j->uids, j->n);
    int rc = -1;
    PGresult *res = NULL;

    /* Both rows, in id order (the same row once when copying into itself). */
    const char *lparams[] = {ssrc, sdst};
    res = ofc_db_query(db,
                       "SELECT id, uidvalidity, uidnext, highestmodseq FROM ofc.mailbox"
                       " WHERE id IN ($1::bigint, $2::bigint) ORDER BY id FOR UPDATE",
                       2, lparams);
    if (res == NULL)
        goto out;
    long long uidnext = -1, modseq = -1;
    for (int i = 0; i < PQntuples(res); i++) {
        if (ofc_db_value_ll(res, i, 0, 0) == j->dst_id) {
            j->dst_uidvalidity = ofc_db_value_ll(res, i, 1, 0);
            uidnext = ofc_db_value_ll(res, i, 2, 1);
            modseq = ofc_db_value_ll(res, i, 3, 1) + 1;
        }
    }
    PQclear(res);
    res = NULL;
    if (uidnext < 0) {
        j->result = COPY_GONE;
        rc = 0;
        goto out;
    }
    if (uidnext + (long long)j->n > 4294967296LL) {
        j->result = COPY_FULL;
        rc = 0;
        goto out;
    }

    if (!j->move) {
        /* The copies count against the account's quota like a delivery. */
        const char *qparams[] = {sacct, ssrc, uids};
        res =
            ofc_db_query(db,
                         "SELECT a.quota_bytes IS NULL"
                         "    OR (SELECT coalesce(sum(b.bytes), 0) FROM ofc.mailbox b"
                         "         WHERE b.account_id = a.object_id)"
                         "     + (SELECT coalesce(sum(m.size), 0) FROM ofc.mailbox_pointer p"
                         "          JOIN ofc.message m ON m.id = p.message_id"
                         "         WHERE p.mailbox_id = $2::bigint AND p.uid = ANY ($3::bigint[]))"
                         "       <= a.quota_bytes"
                         "  FROM ofc.account a WHERE a.object_id = $1::bigint",
                         3, qparams);
        if (res == NULL)
            goto out;
        const char *ok = ofc_db_value(res, 0, 0);
        bool over = ok != NULL && strcmp(ok, "f") == 0;
        PQclear(res);
        res = NULL;
        if (over) {
            j->result = COPY_QUOTA;
            rc = 0;
            goto out;
        }
    }

    char snext[32], smodseq[32];
    (void)snprintf(snext, sizeof(snext), "%lld", uidnext);
    (void)snprintf(smodseq, sizeof(smodseq), "%lld", modseq);
    const char *params[] = {ssrc, uids, sdst, snext, smodseq};
    res = ofc_db_query(
        db,
        "WITH src AS MATERIALIZED ("
        "  SELECT uid, message_id, flags, keywords, internaldate,"
        "         row_number() OVER (ORDER BY uid) AS rn"
        "    FROM ofc.mailbox_pointer WHERE mailbox_id = $1::bigint AND uid = ANY ($2::bigint[])),"
        " ins AS (INSERT INTO ofc.mailbox_pointer"
        "           (mailbox_id, uid, message_id, flags, keywords, internaldate, modseq)"
        "         SELECT $3::bigint, $4::bigint + rn - 1, message_id, flags, keywords,"
        "                internaldate, $5::bigint FROM src)"
        " SELECT uid, $4::bigint + rn - 1 FROM src ORDER BY uid",
        5, params);
    if (res == NULL)
        goto out;
    size_t n = (size_t)PQntuples(res);
    j->src_uids = ofc_xcalloc(n ? n : 1, sizeof(*j->src_uids));
    j->dst_uids = ofc_xcalloc(n ? n : 1, sizeof(*j->dst_uids));
    long long *moved = ofc_xcalloc(n ? n : 1, sizeof(*moved));
    for (size_t i = 0; i < n; i++) {
        j->src_uids[i] = (uint32_t)ofc_db_value_ll(res, (int)i, 0, 0);
        j->dst_uids[i] = (uint32_t)ofc_db_value_ll(res, (int)i, 1, 0);
        moved[i] = j->src_uids[i];
    }
    j->ncopied = n;
    PQclear(res);
    res = NULL;
    if (n > 0) {
        char scount[32];
        (void)snprintf(scount, sizeof(scount), "%zu", n);
        const char *uparams[] = {sdst, scount, smodseq};
        if (ofc_db_exec(db,
                        "UPDATE ofc.mailbox SET uidnext = uidnext + $2::bigint,"
                        "       highestmodseq = $3::bigint WHERE id = $1::bigint",
                        3, uparams) != 0) {
            free(moved);
            goto out;
        }
    }
    if (j->move && n > 0) {
        /* The source's half of the move, in the same transaction. */
        long long expunge_modseq = 0;
        int erc = store_mailbox_expunge(db, j->src_id, moved, n, NULL, &expunge_modseq, error_r);
        free(moved);
        free(uids);
        return erc == 0 ? OFC_DB_OK : OFC_DB_ERROR;
    }
    free(moved);
    rc = 0;
out:
    free(uids);
    if (res != NULL)
        PQclear(res);
    if (rc == 0)
        return OFC_DB_OK;
    *error_r = ofc_xasprintf("cannot copy from mailbox %lld to %lld: %s", j->src_id, j->dst_id,
                             ofc_db_error(db));
    return OFC_DB_ERROR;
}

static void copy_job_fn(struct sps_job *job)
{
    struct copy_job *j = job->arg;
    struct imap_session *s = j->s;
    const char *tag = j->cmd->tag;
    const char *verb = j->move ? "MOVE" : "COPY";
    const char *uid = j->cmd->uid ? "UID " : "";
    char *error = NULL;
    int found = store_mailbox_find(job->db, s->account_id, j->target, &j->dst_id, NULL, &error);
    if (found == 0) {
        imap_out_printf(job->out, "%s NO [TRYCREATE] Mailbox does not exist\r\n", tag);
        return;
    }
    if (found < 0 || ofc_db_transaction(job->db, false, 0, copy_tx, j, &error) != OFC_DB_OK) {
        ofc_error("%s: %s%s from %s to %s: %s", s->user, uid, verb, s->view->name, j->target,
                  error != NULL ? error : "?");
        free(error);
        imap_out_printf(job->out, "%s " TEMP_FAILURE "\r\n", tag);
        return;
    }
    switch (j->result) {
    case COPY_GONE:
        imap_out_printf(job->out, "%s NO [TRYCREATE] Mailbox does not exist\r\n", tag);
        return;
    case COPY_QUOTA:
        imap_out_printf(job->out, "%s NO [OVERQUOTA] Quota exceeded\r\n", tag);
        return;
    case COPY_FULL:
        imap_out_printf(job->out, "%s NO [LIMIT] Target mailbox has run out of UIDs\r\n", tag);
        return;
    case COPY_OK:
        break;
    }
    char *copyuid = NULL;
    if (j->ncopied > 0) {
        char *src = imap_seqset_format(j->src_uids, j->ncopied);
        char *dst = imap_seqset_format(j->dst_uids, j->ncopied);
        copyuid = ofc_xasprintf("[COPYUID %lld %s %s] ", j->dst_uidvalidity, src, dst);
        free(src);
        free(dst);
    }
    /* RFC 6851 §4.3: COPYUID comes untagged, before the EXPUNGEs. */
    if (j->move && copyuid != NULL)
        imap_out_printf(job->out, "* OK %sMoved\r\n", copyuid);
    imap_view_changed(s); /* MOVE's expunges, COPY into this mailbox: told now */
    if (imap_view_sync(s, job, true, &error) != 0) {
        ofc_warn("%s: %s%s in %s: %s", s->user, uid, verb, s->view->name, error);
        free(error);
    }
    imap_out_printf(job->out, "%s OK %s%s%s completed\r\n", tag,
                    !j->move && copyuid != NULL ? copyuid : "", uid, verb);
    ofc_info("%s: %s%s %zu message(s) from %s to %s", s->user, uid, verb, j->ncopied, s->view->name,
             j->target);
    free(copyuid);
}

static void copy_done(struct sps_client *c, void *state, void *arg)
{
    (void)c;
    (void)state;
    struct copy_job *j = arg;
    copy_reset(j);
    free(j->uids);
    free(j->target);
    cmd_done(&j->cmd);
    free(j);
}

static void copy_or_move(struct imap_session *s, struct imap_cmd *cmd, bool move)
{
    if (s->view == NULL || cmd->nargs != 2) {
        imap_tagged(s, cmd->tag, "BAD", "%s needs a sequence set and a mailbox", cmd->name);
        cmd_done(&cmd);
        return;
    }
    if (move && s->view->read_only) {
        imap_tagged(s, cmd->tag, "NO", "Mailbox is read-only");
        cmd_done(&cmd);
        return;
    }
    struct copy_job *j = ofc_xcalloc(1, sizeof(*j));
    if (resolve_arg(s, cmd, &j->uids, &j->n) != 0) {
        free(j);
        cmd_done(&cmd);
        return;
    }
    j->target = imap_mailbox_name(s, &cmd->args[1]);
    if (j->target == NULL) {
        imap_tagged(s, cmd->tag, "NO", "[TRYCREATE] Mailbox does not exist");
        free(j->uids);
        free(j);
        cmd_done(&cmd);
        return;
    }
    j->s = s;
    j->cmd = cmd;
    j->move = move;
    j->src_id = s->view->mailbox_id;
    sps_client_run(s->c, copy_job_fn, copy_done, j);
}

void imap_cmd_copy(struct imap_session *s, struct imap_cmd *cmd)
{
    copy_or_move(s, cmd, false);
}

void imap_cmd_move(struct imap_session *s, struct imap_cmd *cmd)
{
    copy_or_move(s, cmd, true);
}
