/*
 * view.c - the selected mailbox as one session sees it (RFC 3501 §6.3.1,
 * §6.4, §7.4.1; CONDSTORE RFC 7162; UNSELECT RFC 3691; UIDPLUS RFC 4315;
 * IDLE RFC 2177).
 *
 * A session's view is its msn -> uid array. It changes only through the
 * untagged responses the client has seen: new pointers are appended when
 * "* n EXISTS" is written, expunged ones removed when "* n EXPUNGE" is.
 * Everything another session (or a delivery, or POP3) did is found with
 * one statement that reads, in one snapshot, the pointers whose modseq is
 * above the view's highestmodseq, the expunged UIDs above it, and the
 * mailbox row: every writer raises mailbox.highestmodseq under the
 * mailbox row lock and stamps what it changed with the new value, so
 * "modseq > known" is exactly what the client has not been told.
 *
 * When EXPUNGE responses are not allowed (during FETCH, STORE, SEARCH) the
 * expunged messages stay in the view and the view's highestmodseq stays
 * below their removal, so the next sync finds them again; flag changes
 * after them may be reported twice, which RFC 3501 allows.
 *
 * \Recent (RFC 3501 §2.3.2) lives in mailbox.first_recent_uid: a
 * read-write SELECT moves it to uidnext in the transaction that reads the
 * mailbox, so the messages below were recent for this session only; a
 * sync that announces new messages claims them the same way.
 */
/* System. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Libraries. */
#include <event2/buffer.h>

/* libofc. */
#include "ofc_db.h"
#include "ofc_log.h"
#include "ofc_mem.h"
#include "ofc_pgarray.h"
#include "ofc_time.h"
#include "store_mailbox.h"

/* Protocol. */
#include "sps.h"

/* This program. */
#include "imap4.h"

#define TEMP_FAILURE "NO [UNAVAILABLE] Temporary failure, please try again later"
/* Keywords listed in FLAGS at SELECT: bounds the response for a mailbox full of them. */
#define MAX_LISTED_KEYWORDS 200

/* ---- Small helpers ------------------------------------------------------ */

static void cmd_done(struct imap_cmd **cmd)
{
    if (*cmd == NULL)
        return;
    imap_cmd_free(*cmd);
    free(*cmd);
    *cmd = NULL;
}

static void view_free(struct imap_view **v)
{
    if (*v == NULL)
        return;
    free((*v)->name);
    free((*v)->uids);
    free(*v);
    *v = NULL;
}

/* Leaves the selected state (the view goes; no database work). */
static void view_leave(struct imap_session *s)
{
    view_free(&s->view);
    if (s->state == IMAP_SELECTED)
        s->state = IMAP_AUTHENTICATED;
}

uint32_t imap_view_msn(const struct imap_view *v, uint32_t uid)
{
    size_t lo = 0, hi = v->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v->uids[mid] < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < v->n && v->uids[lo] == uid ? (uint32_t)(lo + 1) : 0;
}

/* Messages of the view that are \Recent in this session. */
static size_t view_recent(const struct imap_view *v)
{
    size_t lo = 0, hi = v->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v->uids[mid] < v->first_recent_uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return v->n - lo;
}

static void view_append(struct imap_view *v, uint32_t uid)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 64;
        v->uids = ofc_xrealloc(v->uids, v->cap * sizeof(*v->uids));
    }
    v->uids[v->n++] = uid;
}

static int range_cmp(const void *a, const void *b)
{
    const struct imap_range *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

int imap_view_resolve(const struct imap_view *v, const struct imap_seqset *set, bool uid,
                      uint32_t **uids_r, size_t *n_r)
{
    *uids_r = NULL;
    *n_r = 0;
    uint32_t largest;
    if (uid) {
        if (v->n == 0)
            return 0; /* UID sets may name nothing (RFC 3501 §6.4.8) */
        largest = v->uids[v->n - 1];
    } else {
        /* "*" in an empty mailbox names no message: an error like any other msn. */
        if (v->n == 0 || v->n > UINT32_MAX)
            return -1;
        largest = (uint32_t)v->n;
    }
    struct imap_range *r = ofc_xcalloc(set->n ? set->n : 1, sizeof(*r));
    for (size_t i = 0; i < set->n; i++) {
        uint32_t lo = set->r[i].lo == UINT32_MAX ? largest : set->r[i].lo;
        uint32_t hi = set->r[i].hi == UINT32_MAX ? largest : set->r[i].hi;
        if (lo > hi) {
            uint32_t t = lo;
            lo = hi;
            hi = t;
        }
        if (!uid && (lo == 0 || hi > largest)) {
            free(r);
            return -1;
        }
        r[i].lo = lo;
        r[i].hi = hi;
    }
    /* Sorted and merged, the ranges are walked once beside the view. */
    qsort(r, set->n, sizeof(*r), range_cmp);
    size_t m = 0;
    for (size_t i = 0; i < set->n; i++) {
        if (m > 0 && (uint64_t)r[i].lo <= (uint64_t)r[m - 1].hi + 1) {
            if (r[i].hi > r[m - 1].hi)
                r[m - 1].hi = r[i].hi;
        } else {
            r[m++] = r[i];
        }
    }
    uint32_t *out = NULL;
    size_t n = 0, cap = 0;
    if (!uid) {
        for (size_t i = 0; i < m; i++)
            cap += (size_t)(r[i].hi - r[i].lo) + 1;
        out = ofc_xcalloc(cap ? cap : 1, sizeof(*out));
        for (size_t i = 0; i < m; i++)
            for (uint64_t msn = r[i].lo; msn <= r[i].hi; msn++)
                out[n++] = v->uids[msn - 1];
    } else {
        out = ofc_xcalloc(v->n, sizeof(*out));
        size_t j = 0;
        for (size_t i = 0; i < v->n && j < m; i++) {
            uint32_t u = v->uids[i];
            while (j < m && r[j].hi < u)
                j++;
            if (j < m && u >= r[j].lo)
                out[n++] = u;
        }
    }
    free(r);
    *uids_r = out;
    *n_r = n;
    return 0;
}

/* ---- Flags -------------------------------------------------------------- */

static const struct {
    const char *name;
    int bit;
} system_flags[] = {
    {"\\Seen", IMAP_SEEN},       {"\\Answered", IMAP_ANSWERED}, {"\\Flagged", IMAP_FLAGGED},
    {"\\Deleted", IMAP_DELETED}, {"\\Draft", IMAP_DRAFT},
};

char *imap_flags_format(int flags, const char *const *keywords, size_t nkeywords, bool recent)
{
    struct ofc_strbuf sb;
    ofc_strbuf_init(&sb);
    for (size_t i = 0; i < sizeof(system_flags) / sizeof(system_flags[0]); i++) {
        if (flags & system_flags[i].bit) {
            if (sb.len > 0)
                ofc_strbuf_putc(&sb, ' ');
            ofc_strbuf_puts(&sb, system_flags[i].name);
        }
    }
    if (recent) {
        if (sb.len > 0)
            ofc_strbuf_putc(&sb, ' ');
        ofc_strbuf_puts(&sb, "\\Recent");
    }
    for (size_t i = 0; i < nkeywords; i++) {
        if (keywords[i] == NULL || keywords[i][0] == '\0')
            continue;
        if (sb.len > 0)
            ofc_strbuf_putc(&sb, ' ');
        ofc_strbuf_puts(&sb, keywords[i]);
    }
    return ofc_strbuf_detach(&sb);
}

/* A keyword is an atom (RFC 3501 flag-keyword): no atom-specials, no '\'. */
static bool keyword_ok(const char *s, size_t len)
{
    if (len == 0 || len > 255)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch <= 0x20 || ch >= 0x7f || strchr("(){%*\"\\]", ch) != NULL)
            return false;
    }
    return true;
}

static int flag_parse_one(const struct imap_arg *a, int *flags, char ***kw, size_t *nkw)
{
    if (a->type != IMAP_ARG_ATOM || a->s == NULL)
        return -1;
    if (a->s[0] == '\\') {
        for (size_t i = 0; i < sizeof(system_flags) / sizeof(system_flags[0]); i++) {
            if (strcasecmp(a->s, system_flags[i].name) == 0) {
                *flags |= system_flags[i].bit;
                return 0;
            }
        }
        /* \Recent is the server's to set (RFC 3501 §2.3.2); others do not exist. */
        return -1;
    }
    if (!keyword_ok(a->s, a->len))
        return -1;
    for (size_t i = 0; i < *nkw; i++)
        if (strcasecmp((*kw)[i], a->s) == 0)
            return 0;
    *kw = ofc_xrealloc(*kw, (*nkw + 1) * sizeof(**kw));
    (*kw)[(*nkw)++] = ofc_xstrdup(a->s);
    return 0;
}

int imap_flags_parse(const struct imap_arg *list, int *flags_r, char ***keywords_r,
                     size_t *nkeywords_r)
{
    int flags = 0;
    char **kw = NULL;
    size_t nkw = 0;
    int rc = 0;
    if (list->type == IMAP_ARG_LIST) {
        for (size_t i = 0; i < list->n && rc == 0; i++)
            rc = flag_parse_one(&list->list[i], &flags, &kw, &nkw);
    } else {
        rc = flag_parse_one(list, &flags, &kw, &nkw);
    }
    if (rc != 0) {
        for (size_t i = 0; i < nkw; i++)
            free(kw[i]);
        free(kw);
        *flags_r = 0;
        *keywords_r = NULL;
        *nkeywords_r = 0;
        return -1;
    }
    *flags_r = flags;
    *keywords_r = kw;
    *nkeywords_r = nkw;
    return 0;
}

void imap_view_flags_list(struct evbuffer *out, const char *const *keywords, size_t n,
                          bool read_only)
{
    struct ofc_strbuf sb;
    ofc_strbuf_init(&sb);
    for (size_t i = 0; i < n; i++) {
        ofc_strbuf_putc(&sb, ' ');
        ofc_strbuf_puts(&sb, keywords[i]);
    }
    const char *kw = sb.data != NULL ? sb.data : "";
    imap_out_printf(out, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft%s)\r\n", kw);
    if (read_only)
        imap_out_printf(out, "* OK [PERMANENTFLAGS ()] No permanent flags permitted\r\n");
    else
        imap_out_printf(
            out,
            "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft%s \\*)]"
            " Flags permitted\r\n",
            kw);
    ofc_strbuf_free(&sb);
}

/* ---- Sync --------------------------------------------------------------- */

/*
 * Takes the new messages below uidnext as \Recent for this session
 * (read-write views), and adjusts the view's threshold. The recent set of
 * a session is kept as one threshold: when another session claimed some
 * messages in between, the older recent ones of this session lose \Recent
 * here rather than showing messages recent that are not.
 */
static int claim_recent(struct ofc_db *db, struct imap_view *v, long long old_uidnext,
                        long long uidnext, char **error_r)
{
    char sid[32], snext[32];
    (void)snprintf(sid, sizeof(sid), "%lld", v->mailbox_id);
    (void)snprintf(snext, sizeof(snext), "%lld", uidnext);
    const char *params[] = {sid, snext};
    PGresult *res = imap_sql(db, IMAP_SQL_CLAIM_RECENT, params);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot take recent messages of mailbox %lld: %s", v->mailbox_id,
                                 ofc_db_error(db));
        return -1;
    }
    if (PQntuples(res) == 0) {
        /* Another session had them all first. */
        if (uidnext <= UINT32_MAX)
            v->first_recent_uid = (uint32_t)uidnext;
    } else {
        long long from = ofc_db_value_ll(res, 0, 0, uidnext);
        if (from > old_uidnext || (long long)v->first_recent_uid > from)
            v->first_recent_uid = (uint32_t)(from < 1 ? 1 : from);
    }
    PQclear(res);
    return 0;
}

struct sync_row {
    uint32_t uid;
    int flags;
    char *keywords; /* text[] literal */
    long long modseq;
};

static int sync_row_cmp_msn_desc(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x > y ? -1 : x < y;
}

void imap_view_write_fetch_flags(struct imap_session *s, struct evbuffer *out, uint32_t msn,
                                 uint32_t uid, int flags, const char *keywords_literal,
                                 long long modseq, bool with_uid)
{
    char **kw = NULL;
    size_t nkw = 0;
    if (keywords_literal != NULL && ofc_pg_text_array_parse(keywords_literal, &kw, &nkw) != 0) {
        kw = NULL;
        nkw = 0;
    }
    bool recent = s->view != NULL && uid >= s->view->first_recent_uid;
    char *text = imap_flags_format(flags, (const char *const *)kw, nkw, recent);
    ofc_pg_text_array_free(&kw, nkw);
    imap_out_printf(out, "* %u FETCH (FLAGS (%s)", msn, text);
    free(text);
    if (with_uid)
        imap_out_printf(out, " UID %u", uid);
    if (s->condstore)
        imap_out_printf(out, " MODSEQ (%lld)", modseq);
    imap_out_printf(out, ")\r\n");
}

void imap_view_changed(struct imap_session *s)
{
    __atomic_store_n(&s->view_changed, 1, __ATOMIC_SEQ_CST);
}

int imap_view_sync(struct imap_session *s, struct sps_job *job, bool allow_expunge, char **error_r)
{
    struct imap_view *v = s->view;
    if (v == NULL)
        return 0;
    /*
     * Nothing to read when no notification came since the last read (and
     * the safety net's time has not passed). Cleared before the read: a
     * change that the read does not see commits after it started, and its
     * notification raises the flag again.
     */
    long long now = ofc_now_ms();
    if (__atomic_exchange_n(&s->view_changed, 0, __ATOMIC_SEQ_CST) == 0 &&
        now - s->view_synced_ms < IMAP_VIEW_SYNC_MAX_MS && now >= s->view_synced_ms)
        return 0;
    s->view_synced_ms = now;
    char sid[32], smodseq[32];
    (void)snprintf(sid, sizeof(sid), "%lld", v->mailbox_id);
    (void)snprintf(smodseq, sizeof(smodseq), "%lld", v->highestmodseq);
    const char *params[] = {sid, smodseq};
    PGresult *res = imap_sql(job->db, IMAP_SQL_SYNC, params);
    if (res == NULL) {
        imap_view_changed(s);
        *error_r = ofc_xasprintf("cannot read the changes of mailbox %lld: %s", v->mailbox_id,
                                 ofc_db_error(job->db));
        return -1;
    }
    int rows = PQntuples(res);
    if (rows == 0 || ofc_db_value_ll(res, rows - 1, 0, -1) != 2) {
        /* The mailbox is gone (deleted by another session): nothing more to tell. */
        PQclear(res);
        return 0;
    }
    long long uidnext = ofc_db_value_ll(res, rows - 1, 1, v->uidnext);
    long long highest = ofc_db_value_ll(res, rows - 1, 4, v->highestmodseq);
    uint32_t last = v->n > 0 ? v->uids[v->n - 1] : 0;
    long long new_highest = highest;

    /* Expunges first: the msns of the FETCH responses below are the ones after them. */
    uint32_t *gone = ofc_xcalloc((size_t)rows, sizeof(*gone));
    uint32_t *gone_uids = ofc_xcalloc((size_t)rows, sizeof(*gone_uids));
    size_t ngone = 0;
    for (int i = 0; i < rows; i++) {
        if (ofc_db_value_ll(res, i, 0, -1) != 1)
            continue;
        uint32_t uid = (uint32_t)ofc_db_value_ll(res, i, 1, 0);
        uint32_t msn = imap_view_msn(v, uid);
        if (msn == 0)
            continue; /* came and went between two syncs: never announced */
        if (!allow_expunge) {
            long long m = ofc_db_value_ll(res, i, 4, highest) - 1;
            if (m < new_highest)
                new_highest = m;
            continue;
        }
        gone_uids[ngone] = uid; /* ascending: rows are sorted by kind, uid */
        gone[ngone++] = msn;
    }
    if (ngone > 0 && s->qresync) {
        /* RFC 7162 §3.2.10: with QRESYNC, VANISHED replaces EXPUNGE. */
        char *set = imap_seqset_format(gone_uids, ngone);
        imap_out_printf(job->out, "* VANISHED %s\r\n", set);
        free(set);
        for (size_t i = 0; i < ngone; i++)
            v->uids[gone[i] - 1] = 0;
    } else if (ngone > 0) {
        /* Descending: each EXPUNGE names the msn as it still is (RFC 3501 §7.4.1). */
        qsort(gone, ngone, sizeof(*gone), sync_row_cmp_msn_desc);
        for (size_t i = 0; i < ngone; i++) {
            imap_out_printf(job->out, "* %u EXPUNGE\r\n", gone[i]);
            v->uids[gone[i] - 1] = 0;
        }
    }
    if (ngone > 0) {
        size_t k = 0;
        for (size_t i = 0; i < v->n; i++)
            if (v->uids[i] != 0)
                v->uids[k++] = v->uids[i];
        v->n = k;
    }
    free(gone);
    free(gone_uids);

    /* Flag changes of messages the client knows. */
    bool with_uid = s->qresync;
    size_t added = 0;
    for (int i = 0; i < rows; i++) {
        if (ofc_db_value_ll(res, i, 0, -1) != 0)
            continue;
        uint32_t uid = (uint32_t)ofc_db_value_ll(res, i, 1, 0);
        if (uid > last) {
            added++;
            continue;
        }
        uint32_t msn = imap_view_msn(v, uid);
        if (msn == 0)
            continue;
        imap_view_write_fetch_flags(s, job->out, msn, uid, (int)ofc_db_value_ll(res, i, 2, 0),
                                    ofc_db_value(res, i, 3), ofc_db_value_ll(res, i, 4, 0),
                                    with_uid);
    }

    /* New messages: appended in UID order (rows are sorted by kind, uid). */
    if (added > 0) {
        long long old_uidnext = v->uidnext;
        for (int i = 0; i < rows; i++) {
            if (ofc_db_value_ll(res, i, 0, -1) != 0)
                continue;
            uint32_t uid = (uint32_t)ofc_db_value_ll(res, i, 1, 0);
            if (uid > last)
                view_append(v, uid);
        }
        if (!v->read_only && claim_recent(job->db, v, old_uidnext, uidnext, error_r) != 0) {
            PQclear(res);
            imap_view_changed(s); /* read again next time */
            return -1;
        }
        imap_out_printf(job->out, "* %zu EXISTS\r\n* %zu RECENT\r\n", v->n, view_recent(v));
    }
    PQclear(res);
    v->uidnext = uidnext;
    if (new_highest > v->highestmodseq)
        v->highestmodseq = new_highest;
    /* Expunges held back for a command that may announce them: the next one reads again. */
    if (new_highest < highest)
        imap_view_changed(s);
    return 0;
}

int imap_view_vanished(struct imap_session *s, struct sps_job *job, long long modseq,
                       const struct imap_seqset *uids, char **error_r)
{
    struct imap_view *v = s->view;
    if (v == NULL)
        return 0;
    char sid[32], smodseq[32];
    (void)snprintf(sid, sizeof(sid), "%lld", v->mailbox_id);
    (void)snprintf(smodseq, sizeof(smodseq), "%lld", modseq);
    const char *params[] = {sid, smodseq};
    PGresult *res = ofc_db_query(job->db,
                                 "SELECT uid FROM ofc.mailbox_expunged"
                                 " WHERE mailbox_id = $1::bigint AND modseq > $2::bigint"
                                 " ORDER BY uid",
                                 2, params);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot read the expunges of mailbox %lld: %s", v->mailbox_id,
                                 ofc_db_error(job->db));
        return -1;
    }
    int rows = PQntuples(res);
    uint32_t *gone = ofc_xcalloc(rows > 0 ? (size_t)rows : 1, sizeof(*gone));
    size_t n = 0;
    uint32_t largest = v->uidnext > 1 ? (uint32_t)(v->uidnext - 1) : 0;
    for (int i = 0; i < rows; i++) {
        uint32_t uid = (uint32_t)ofc_db_value_ll(res, i, 0, 0);
        if (imap_seqset_contains(uids, uid, largest))
            gone[n++] = uid;
    }
    PQclear(res);
    if (n > 0) {
        char *set = imap_seqset_format(gone, n);
        imap_out_printf(job->out, "* VANISHED (EARLIER) %s\r\n", set);
        free(set);
    }
    free(gone);
    return 0;
}

/* ---- SELECT / EXAMINE ----------------------------------------------------- */

struct select_job {
    struct imap_session *s;
    struct imap_cmd *cmd;
    bool read_only;
    bool condstore;
    char *name;
    /* Filled by the transaction (reset when it is retried). */
    long long mailbox_id, uidvalidity, uidnext, highestmodseq, first_recent;
    uint32_t *uids;
    size_t n;
    size_t first_unseen; /* msn, 0 = none */
    char **keywords;
    size_t nkeywords;
    /* SELECT (QRESYNC (uidvalidity modseq [known-uids] ...)), RFC 7162 §3.2.5. */
    bool qresync;
    long long qr_uidvalidity, qr_modseq;
    struct imap_seqset qr_known; /* n == 0: every UID */
    PGresult *qr_vanished;       /* uid: expunged after qr_modseq */
    PGresult *qr_changed;        /* uid, flags, keywords, modseq: changed after qr_modseq */
};

static void select_reset(struct select_job *j)
{
    OFC_FREE(j->uids);
    j->n = 0;
    j->first_unseen = 0;
    ofc_pg_text_array_free(&j->keywords, j->nkeywords);
    j->nkeywords = 0;
    if (j->qr_vanished != NULL)
        PQclear(j->qr_vanished);
    if (j->qr_changed != NULL)
        PQclear(j->qr_changed);
    j->qr_vanished = j->qr_changed = NULL;
}

/* What a QRESYNC client missed since its modseq, read under the same row lock. */
static int select_qresync_tx(struct ofc_db *db, struct select_job *j, char **error_r)
{
    char sid[32], smodseq[32];
    (void)snprintf(sid, sizeof(sid), "%lld", j->mailbox_id);
    (void)snprintf(smodseq, sizeof(smodseq), "%lld", j->qr_modseq);
    const char *params[] = {sid, smodseq};
    j->qr_vanished = ofc_db_query(db,
                                  "SELECT uid FROM ofc.mailbox_expunged"
                                  " WHERE mailbox_id = $1::bigint AND modseq > $2::bigint"
                                  " ORDER BY uid",
                                  2, params);
    if (j->qr_vanished != NULL)
        j->qr_changed = ofc_db_query(db,
                                     "SELECT uid, flags, keywords, modseq FROM ofc.mailbox_pointer"
                                     " WHERE mailbox_id = $1::bigint AND modseq > $2::bigint"
                                     " ORDER BY uid",
                                     2, params);
    if (j->qr_changed == NULL) {
        *error_r = ofc_xasprintf("cannot read the changes of mailbox %lld since %lld: %s",
                                 j->mailbox_id, j->qr_modseq, ofc_db_error(db));
        return -1;
    }
    return 0;
}

/* The keywords in use in the mailbox, for FLAGS and PERMANENTFLAGS. */
static int select_keywords(struct ofc_db *db, struct select_job *j, const char *sid, char **error_r)
{
    char slimit[16];
    (void)snprintf(slimit, sizeof(slimit), "%d", MAX_LISTED_KEYWORDS);
    const char *kparams[] = {sid, slimit};
    PGresult *res = imap_sql(db, IMAP_SQL_KEYWORDS, kparams);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot list the keywords of mailbox %lld: %s", j->mailbox_id,
                                 ofc_db_error(db));
        return -1;
    }
    const char *lit = ofc_db_value(res, 0, 0);
    if (lit == NULL || ofc_pg_text_array_parse(lit, &j->keywords, &j->nkeywords) != 0) {
        j->keywords = NULL;
        j->nkeywords = 0;
    }
    PQclear(res);
    return 0;
}

static int select_tx(struct ofc_db *db, void *ctx, char **error_r)
{
    struct select_job *j = ctx;
    select_reset(j);
    char sid[32];
    (void)snprintf(sid, sizeof(sid), "%lld", j->mailbox_id);
    const char *params[] = {sid};
    /*
     * The row lock orders this read after deliveries and expunges in
     * progress; a read-write SELECT takes the recent messages in the same
     * statement.
     */
    PGresult *res = imap_sql(db, j->read_only ? IMAP_SQL_SELECT_RO : IMAP_SQL_SELECT_RW, params);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot open mailbox %lld: %s", j->mailbox_id, ofc_db_error(db));
        return OFC_DB_ERROR;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        j->mailbox_id = 0; /* deleted meanwhile */
        return OFC_DB_OK;
    }
    j->uidvalidity = ofc_db_value_ll(res, 0, 0, 0);
    j->uidnext = ofc_db_value_ll(res, 0, 1, 1);
    j->highestmodseq = ofc_db_value_ll(res, 0, 2, 1);
    j->first_recent = ofc_db_value_ll(res, 0, 3, 1);
    PQclear(res);

    res = imap_sql(db, IMAP_SQL_SELECT_UIDS, params);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot list mailbox %lld: %s", j->mailbox_id, ofc_db_error(db));
        return OFC_DB_ERROR;
    }
    size_t rows = (size_t)PQntuples(res);
    bool any_keywords = false;
    j->uids = ofc_xcalloc(rows ? rows : 1, sizeof(*j->uids));
    for (size_t i = 0; i < rows; i++) {
        j->uids[i] = (uint32_t)ofc_db_value_ll(res, (int)i, 0, 0);
        if (j->first_unseen == 0 && !(ofc_db_value_ll(res, (int)i, 1, 0) & IMAP_SEEN))
            j->first_unseen = i + 1;
        if (!any_keywords && ofc_db_value_ll(res, (int)i, 2, 0) != 0)
            any_keywords = true;
    }
    j->n = rows;
    PQclear(res);
    /* Most mailboxes have no keyword at all: then FLAGS lists the system flags only. */
    if (any_keywords && select_keywords(db, j, sid, error_r) != 0)
        return OFC_DB_ERROR;
    if (j->qresync && j->qr_uidvalidity == j->uidvalidity && select_qresync_tx(db, j, error_r) != 0)
        return OFC_DB_ERROR;
    return OFC_DB_OK;
}

/*
 * RFC 7162 §3.2.5.1: the UIDs expunged since the client's modseq (among
 * those it names), then the messages changed since then.
 */
static void select_write_qresync(struct imap_session *s, struct select_job *j, struct evbuffer *out)
{
    struct imap_view *v = s->view;
    int rows = PQntuples(j->qr_vanished);
    uint32_t *gone = ofc_xcalloc(rows > 0 ? (size_t)rows : 1, sizeof(*gone));
    size_t n = 0;
    uint32_t largest = v->uidnext > 1 ? (uint32_t)(v->uidnext - 1) : 0;
    for (int i = 0; i < rows; i++) {
        uint32_t uid = (uint32_t)ofc_db_value_ll(j->qr_vanished, i, 0, 0);
        if (j->qr_known.n == 0 || imap_seqset_contains(&j->qr_known, uid, largest))
            gone[n++] = uid;
    }
    if (n > 0) {
        char *set = imap_seqset_format(gone, n);
        imap_out_printf(out, "* VANISHED (EARLIER) %s\r\n", set);
        free(set);
    }
    free(gone);
    rows = PQntuples(j->qr_changed);
    for (int i = 0; i < rows; i++) {
        uint32_t uid = (uint32_t)ofc_db_value_ll(j->qr_changed, i, 0, 0);
        uint32_t msn = imap_view_msn(v, uid);
        if (msn != 0)
            imap_view_write_fetch_flags(
                s, out, msn, uid, (int)ofc_db_value_ll(j->qr_changed, i, 1, 0),
                ofc_db_value(j->qr_changed, i, 2), ofc_db_value_ll(j->qr_changed, i, 3, 0), true);
    }
}

/* store_mailbox_find() as a prepared statement: SELECT runs it every time. */
static int mailbox_find(struct ofc_db *db, long long account_id, const char *name,
                        long long *mailbox_id_r, char **error_r)
{
    char saccount[32];
    (void)snprintf(saccount, sizeof(saccount), "%lld", account_id);
    const char *params[] = {saccount, name};
    PGresult *res = imap_sql(db, IMAP_SQL_MAILBOX_FIND, params);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot look up mailbox %s of account %lld: %s", name, account_id,
                                 ofc_db_error(db));
        return -1;
    }
    int found = PQntuples(res) > 0;
    if (found)
        *mailbox_id_r = ofc_db_value_ll(res, 0, 0, 0);
    PQclear(res);
    return found;
}

static void select_job_fn(struct sps_job *job)
{
    struct select_job *j = job->arg;
    struct imap_session *s = j->s;
    const char *tag = j->cmd->tag;
    const char *verb = j->read_only ? "EXAMINE" : "SELECT";
    char *error = NULL;
    int found = mailbox_find(job->db, s->account_id, j->name, &j->mailbox_id, &error);
    if (found < 0) {
        ofc_error("%s: %s %s: %s", s->user, verb, j->name, error);
        free(error);
        imap_out_printf(job->out, "%s " TEMP_FAILURE "\r\n", tag);
        return;
    }
    if (found == 0) {
        imap_out_printf(job->out, "%s NO [NONEXISTENT] Mailbox does not exist\r\n", tag);
        return;
    }
    if (ofc_db_transaction(job->db, false, 0, select_tx, j, &error) != OFC_DB_OK) {
        ofc_error("%s: %s %s: %s", s->user, verb, j->name, error != NULL ? error : "?");
        free(error);
        imap_out_printf(job->out, "%s " TEMP_FAILURE "\r\n", tag);
        return;
    }
    if (j->mailbox_id == 0) {
        imap_out_printf(job->out, "%s NO [NONEXISTENT] Mailbox does not exist\r\n", tag);
        return;
    }

    struct imap_view *v = ofc_xcalloc(1, sizeof(*v));
    v->mailbox_id = j->mailbox_id;
    v->name = j->name;
    j->name = NULL;
    v->read_only = j->read_only;
    v->uidvalidity = j->uidvalidity;
    v->uidnext = j->uidnext;
    v->highestmodseq = j->highestmodseq;
    v->uids = j->uids;
    v->n = v->cap = j->n;
    j->uids = NULL;
    v->first_recent_uid = (uint32_t)(j->first_recent < 1 ? 1 : j->first_recent);
    s->view = v;
    s->state = IMAP_SELECTED;
    /*
     * The watch starts in select_done, after this snapshot: what commits
     * in between has no notification for us, so the first sync reads.
     */
    imap_view_changed(s);
    s->view_synced_ms = ofc_now_ms();
    if (j->condstore || j->qresync)
        s->condstore = true;

    imap_view_flags_list(job->out, (const char *const *)j->keywords, j->nkeywords, v->read_only);
    imap_out_printf(job->out, "* %zu EXISTS\r\n* %zu RECENT\r\n", v->n, view_recent(v));
    if (j->first_unseen > 0)
        imap_out_printf(job->out, "* OK [UNSEEN %zu] First unseen\r\n", j->first_unseen);
    imap_out_printf(job->out,
                    "* OK [UIDVALIDITY %lld] UIDs valid\r\n"
                    "* OK [UIDNEXT %lld] Predicted next UID\r\n"
                    "* OK [HIGHESTMODSEQ %lld] Highest\r\n",
                    v->uidvalidity, v->uidnext, v->highestmodseq);
    if (j->qr_changed != NULL)
        select_write_qresync(s, j, job->out);
    imap_out_printf(job->out, "%s OK [%s] %s completed\r\n", tag,
                    v->read_only ? "READ-ONLY" : "READ-WRITE", verb);
    ofc_info("%s: %s %s (%zu messages)", s->user, verb, v->name, v->n);
}

static void select_done(struct sps_client *c, void *state, void *arg)
{
    struct imap_session *s = state;
    struct select_job *j = arg;
    if (s != NULL && s->view != NULL && !sps_client_closed(c))
        sps_client_watch_mailbox(c, s->view->mailbox_id, imap_view_notify);
    select_reset(j);
    imap_seqset_free(&j->qr_known);
    free(j->name);
    cmd_done(&j->cmd);
    free(j);
}

/* An unsigned decimal atom into *v (bounded by max). */
static bool parse_number_arg(const struct imap_arg *a, long long max, long long *v)
{
    if (a->type != IMAP_ARG_ATOM || a->s[0] < '0' || a->s[0] > '9' || a->len > 19)
        return false;
    char *end = NULL;
    unsigned long long u = strtoull(a->s, &end, 10);
    if (*end != '\0' || u > (unsigned long long)max)
        return false;
    *v = (long long)u;
    return true;
}

/*
 * The QRESYNC parameter: (uidvalidity modseq [known-uids] [(seq-match)]).
 * Returns NULL, or the reason for BAD. The sequence match data only
 * helps a server that forgets expunges; mailbox_expunged keeps them all,
 * so it is checked for form and otherwise not needed.
 */
static const char *select_parse_qresync(struct imap_session *s, const struct imap_arg *a,
                                        struct select_job *j)
{
    if (!s->qresync)
        return "QRESYNC is not enabled"; /* RFC 7162 §3.2.5 */
    if (a->type != IMAP_ARG_LIST || a->n < 2 || a->n > 4)
        return "Invalid QRESYNC parameter";
    if (!parse_number_arg(&a->list[0], 4294967295LL, &j->qr_uidvalidity) ||
        j->qr_uidvalidity == 0 || !parse_number_arg(&a->list[1], INT64_MAX, &j->qr_modseq) ||
        j->qr_modseq == 0)
        return "Invalid QRESYNC parameter";
    size_t i = 2;
    if (i < a->n && a->list[i].type == IMAP_ARG_ATOM) {
        if (imap_seqset_parse(a->list[i].s, &j->qr_known) != 0)
            return "Invalid known UIDs";
        i++;
    }
    if (i < a->n) {
        const struct imap_arg *m = &a->list[i];
        struct imap_seqset x;
        if (m->type != IMAP_ARG_LIST || m->n != 2 || m->list[0].type != IMAP_ARG_ATOM ||
            m->list[1].type != IMAP_ARG_ATOM || imap_seqset_parse(m->list[0].s, &x) != 0)
            return "Invalid sequence match data";
        imap_seqset_free(&x);
        if (imap_seqset_parse(m->list[1].s, &x) != 0)
            return "Invalid sequence match data";
        imap_seqset_free(&x);
        i++;
    }
    if (i != a->n)
        return "Invalid QRESYNC parameter";
    j->qresync = true;
    return NULL;
}

static void select_or_examine(struct imap_session *s, struct imap_cmd *cmd, bool read_only)
{
    /*
     * RFC 3501 §6.3.1: a SELECT, even a failing one, first leaves the
     * mailbox selected before (without expunging).
     */
    if (s->view != NULL && s->qresync)
        imap_untagged(s, "OK [CLOSED] Previous mailbox closed");
    view_leave(s);
    sps_client_watch_mailbox(s->c, 0, NULL);

    bool condstore = false;
    struct select_job *j = ofc_xcalloc(1, sizeof(*j));
    if (cmd->nargs < 1 || cmd->nargs > 2) {
        imap_tagged(s, cmd->tag, "BAD", "%s needs a mailbox name", cmd->name);
        goto fail;
    }
    if (cmd->nargs == 2) {
        const struct imap_arg *p = &cmd->args[1];
        if (p->type != IMAP_ARG_LIST) {
            imap_tagged(s, cmd->tag, "BAD", "Invalid %s parameters", cmd->name);
            goto fail;
        }
        for (size_t i = 0; i < p->n; i++) {
            if (imap_arg_is(&p->list[i], "CONDSTORE")) {
                condstore = true;
            } else if (imap_arg_is(&p->list[i], "QRESYNC") && i + 1 < p->n) {
                const char *why = select_parse_qresync(s, &p->list[++i], j);
                if (why != NULL) {
                    imap_tagged(s, cmd->tag, "BAD", "%s", why);
                    goto fail;
                }
            } else {
                imap_tagged(s, cmd->tag, "BAD", "Unknown %s parameter", cmd->name);
                goto fail;
            }
        }
    }
    char *name = imap_mailbox_name(s, &cmd->args[0]);
    if (name == NULL) {
        imap_tagged(s, cmd->tag, "NO", "[NONEXISTENT] Invalid mailbox name");
        goto fail;
    }
    j->s = s;
    j->cmd = cmd;
    j->read_only = read_only;
    j->condstore = condstore;
    j->name = name;
    sps_client_run(s->c, select_job_fn, select_done, j);
    return;
fail:
    j->cmd = cmd;
    select_done(s->c, s, j);
}

void imap_cmd_select(struct imap_session *s, struct imap_cmd *cmd)
{
    select_or_examine(s, cmd, false);
}

void imap_cmd_examine(struct imap_session *s, struct imap_cmd *cmd)
{
    select_or_examine(s, cmd, true);
}

/* ---- CHECK, CLOSE, UNSELECT, EXPUNGE -------------------------------------- */

struct view_job {
    struct imap_session *s;
    struct imap_cmd *cmd;
    long long mailbox_id;
    /* UID EXPUNGE: the UIDs named (NULL: every \Deleted message). */
    long long *uids;
    size_t n;
    bool close; /* CLOSE: silent, then leave the selected state */
};

static void view_job_done(struct sps_client *c, void *state, void *arg)
{
    (void)c;
    (void)state;
    struct view_job *j = arg;
    cmd_done(&j->cmd);
    free(j->uids);
    free(j);
}

static void sync_job_fn(struct sps_job *job)
{
    struct view_job *j = job->arg;
    char *error = NULL;
    /* NOOP and CHECK are how clients poll (RFC 3501 §6.1.2): never skipped. */
    imap_view_changed(j->s);
    if (imap_view_sync(j->s, job, true, &error) != 0) {
        ofc_error("%s: %s: %s", j->s->user, j->cmd->name, error);
        free(error);
        imap_out_printf(job->out, "%s " TEMP_FAILURE "\r\n", j->cmd->tag);
        return;
    }
    imap_out_printf(job->out, "%s OK %s completed\r\n", j->cmd->tag, j->cmd->name);
}

void imap_view_sync_command(struct imap_session *s, struct imap_cmd *cmd)
{
    if (s->view == NULL) {
        imap_tagged(s, cmd->tag, "OK", "%s completed", cmd->name);
        cmd_done(&cmd);
        return;
    }
    struct view_job *j = ofc_xcalloc(1, sizeof(*j));
    j->s = s;
    j->cmd = cmd;
    sps_client_run(s->c, sync_job_fn, view_job_done, j);
}

void imap_cmd_check(struct imap_session *s, struct imap_cmd *cmd)
{
    if (cmd->nargs != 0) {
        imap_tagged(s, cmd->tag, "BAD", "CHECK takes no arguments");
        cmd_done(&cmd);
        return;
    }
    imap_view_sync_command(s, cmd);
}

/*
 * The \Deleted messages (of j->uids when given) go. The mailbox row is
 * locked before they are chosen, so a concurrent STORE -FLAGS \Deleted
 * (which takes the same lock) either happened before or waits.
 */
static int expunge_tx(struct ofc_db *db, void *ctx, char **error_r)
{
    struct view_job *j = ctx;
    char sid[32];
    (void)snprintf(sid, sizeof(sid), "%lld", j->mailbox_id);
    const char *lparams[] = {sid};
    PGresult *res = imap_sql(db, IMAP_SQL_MAILBOX_LOCK, lparams);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot lock mailbox %lld: %s", j->mailbox_id, ofc_db_error(db));
        return OFC_DB_ERROR;
    }
    PQclear(res);
    char *array = j->uids != NULL ? ofc_pg_id_array(j->uids, j->n) : NULL;
    const char *params[] = {sid, array};
    res = imap_sql(db, array != NULL ? IMAP_SQL_EXPUNGE_UIDS : IMAP_SQL_EXPUNGE_ALL, params);
    free(array);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot find deleted messages of mailbox %lld: %s", j->mailbox_id,
                                 ofc_db_error(db));
        return OFC_DB_ERROR;
    }
    size_t n = (size_t)PQntuples(res);
    long long *uids = ofc_xcalloc(n ? n : 1, sizeof(*uids));
    for (size_t i = 0; i < n; i++)
        uids[i] = ofc_db_value_ll(res, (int)i, 0, 0);
    PQclear(res);
    long long modseq = 0;
    int rc = store_mailbox_expunge(db, j->mailbox_id, uids, n, NULL, &modseq, error_r);
    free(uids);
    return rc == 0 ? OFC_DB_OK : OFC_DB_ERROR;
}

static void expunge_job_fn(struct sps_job *job)
{
    struct view_job *j = job->arg;
    struct imap_session *s = j->s;
    const char *verb = j->close ? "CLOSE" : j->cmd->uid ? "UID EXPUNGE" : "EXPUNGE";
    char *error = NULL;
    if (!(j->close && s->view->read_only) &&
        ofc_db_transaction(job->db, false, 0, expunge_tx, j, &error) != OFC_DB_OK) {
        ofc_error("%s: %s in %s: %s", s->user, verb, s->view->name, error != NULL ? error : "?");
        free(error);
        imap_out_printf(job->out, "%s " TEMP_FAILURE "\r\n", j->cmd->tag);
        return;
    }
    if (j->close) {
        /* RFC 3501 §6.4.2: no untagged EXPUNGE; the session leaves the mailbox. */
        view_leave(s);
        imap_out_printf(job->out, "%s OK CLOSE completed\r\n", j->cmd->tag);
        return;
    }
    imap_view_changed(s); /* this session's own expunges are announced now */
    if (imap_view_sync(s, job, true, &error) != 0) {
        ofc_error("%s: %s in %s: %s", s->user, verb, s->view->name, error);
        free(error);
        imap_out_printf(job->out, "%s " TEMP_FAILURE "\r\n", j->cmd->tag);
        return;
    }
    imap_out_printf(job->out, "%s OK %s completed\r\n", j->cmd->tag, verb);
}

void imap_cmd_close(struct imap_session *s, struct imap_cmd *cmd)
{
    if (cmd->nargs != 0 || s->view == NULL) {
        imap_tagged(s, cmd->tag, "BAD", "CLOSE takes no arguments");
        cmd_done(&cmd);
        return;
    }
    struct view_job *j = ofc_xcalloc(1, sizeof(*j));
    j->s = s;
    j->cmd = cmd;
    j->mailbox_id = s->view->mailbox_id;
    j->close = true;
    sps_client_run(s->c, expunge_job_fn, view_job_done, j);
}

void imap_cmd_unselect(struct imap_session *s, struct imap_cmd *cmd)
{
    if (cmd->nargs != 0) {
        imap_tagged(s, cmd->tag, "BAD", "UNSELECT takes no arguments");
        cmd_done(&cmd);
        return;
    }
    view_leave(s);
    sps_client_watch_mailbox(s->c, 0, NULL);
    imap_tagged(s, cmd->tag, "OK", "UNSELECT completed");
    cmd_done(&cmd);
}

void imap_cmd_expunge(struct imap_session *s, struct imap_cmd *cmd)
{
    if (s->view == NULL) {
        imap_tagged(s, cmd->tag, "BAD", "No mailbox selected");
        cmd_done(&cmd);
        return;
    }
    if ((cmd->uid && cmd->nargs != 1) || (!cmd->uid && cmd->nargs != 0)) {
        imap_tagged(s, cmd->tag, "BAD", "Invalid arguments");
        cmd_done(&cmd);
        return;
    }
    if (s->view->read_only) {
        imap_tagged(s, cmd->tag, "NO", "[READ-ONLY] Mailbox is read-only");
        cmd_done(&cmd);
        return;
    }
    struct view_job *j = ofc_xcalloc(1, sizeof(*j));
    if (cmd->uid) {
        struct imap_seqset set;
        uint32_t *uids = NULL;
        size_t n = 0;
        if (cmd->args[0].type != IMAP_ARG_ATOM || imap_seqset_parse(cmd->args[0].s, &set) != 0) {
            imap_tagged(s, cmd->tag, "BAD", "Invalid UID set");
            cmd_done(&cmd);
            free(j);
            return;
        }
        (void)imap_view_resolve(s->view, &set, true, &uids, &n);
        imap_seqset_free(&set);
        j->uids = ofc_xcalloc(n ? n : 1, sizeof(*j->uids));
        for (size_t i = 0; i < n; i++)
            j->uids[i] = uids[i];
        j->n = n;
        free(uids);
    }
    j->s = s;
    j->cmd = cmd;
    j->mailbox_id = s->view->mailbox_id;
    sps_client_run(s->c, expunge_job_fn, view_job_done, j);
}

/* ---- IDLE ------------------------------------------------------------------ */

/*
 * Sessions with an IDLE sync queued or running (loop thread only): a burst
 * of notifications costs one sync more, not one each.
 */
static struct idle_busy {
    struct imap_session *s;
    bool again;
} * busy;
static size_t nbusy, busy_cap;

static struct idle_busy *busy_find(struct imap_session *s)
{
    for (size_t i = 0; i < nbusy; i++)
        if (busy[i].s == s)
            return &busy[i];
    return NULL;
}

static void idle_sync_fn(struct sps_job *job)
{
    struct imap_session *s = job->arg;
    if (s->idle_tag == NULL || s->view == NULL)
        return;
    char *error = NULL;
    if (imap_view_sync(s, job, true, &error) != 0) {
        ofc_warn("%s: IDLE in %s: %s", s->user, s->view->name, error);
        free(error);
    }
}

static void idle_sync_done(struct sps_client *c, void *state, void *arg)
{
    (void)state;
    struct imap_session *s = arg;
    struct idle_busy *b = busy_find(s);
    if (b != NULL && b->again && !sps_client_closed(c) && s->idle_tag != NULL) {
        b->again = false;
        sps_client_run(c, idle_sync_fn, idle_sync_done, s);
        return;
    }
    if (b != NULL)
        *b = busy[--nbusy];
}

static void idle_notify(struct sps_client *c, void *state, long long mailbox_id)
{
    struct imap_session *s = state;
    if (s->idle_tag == NULL)
        return; /* the flag tells the next command */
    /* Idling: no job but IDLE's own syncs runs, and they keep the view. */
    if (s->view == NULL || s->view->mailbox_id != mailbox_id) {
        /* The mailbox was left (CLOSE): the watch is no longer wanted. */
        sps_client_watch_mailbox(c, 0, NULL);
        return;
    }
    struct idle_busy *b = busy_find(s);
    if (b != NULL) {
        b->again = true;
        return;
    }
    if (nbusy == busy_cap) {
        busy_cap = busy_cap ? busy_cap * 2 : 16;
        busy = ofc_xrealloc(busy, busy_cap * sizeof(*busy));
    }
    busy[nbusy].s = s;
    busy[nbusy].again = false;
    nbusy++;
    sps_client_run(c, idle_sync_fn, idle_sync_done, s);
}

void imap_cmd_idle(struct imap_session *s, struct imap_cmd *cmd)
{
    if (cmd->nargs != 0) {
        imap_tagged(s, cmd->tag, "BAD", "IDLE takes no arguments");
        cmd_done(&cmd);
        return;
    }
    free(s->idle_tag);
    s->idle_tag = ofc_xstrdup(cmd->tag);
    cmd_done(&cmd);
    /*
     * RFC 2177 asks clients to re-issue IDLE at least every 29 minutes;
     * twice the autologout time leaves room for clients that wait longer.
     */
    long long timeout = imap_param_int(s, "IdleTimeout", 1800) * 2;
    if (timeout < 3600)
        timeout = 3600;
    if (timeout > 24 * 3600)
        timeout = 24 * 3600;
    sps_client_set_idle_timeout(s->c, (int)timeout);
    sps_client_puts(s->c, "+ idling\r\n");
    if (s->view != NULL) {
        sps_client_watch_mailbox(s->c, s->view->mailbox_id, imap_view_notify);
        /* What changed since the last command is told at once. */
        idle_notify(s->c, s, s->view->mailbox_id);
    }
}

void imap_view_notify(struct sps_client *c, void *state, long long mailbox_id)
{
    struct imap_session *s = state;
    imap_view_changed(s);
    idle_notify(c, s, mailbox_id);
}
