/*
 * fetch.c - FETCH and UID FETCH (RFC 3501 §6.4.5, §6.4.8; RFC 7162
 * MODSEQ and CHANGEDSINCE; RFC 3516 BINARY, BINARY.PEEK, BINARY.SIZE).
 *
 * Everything is served from what ingestion cached (ENVELOPE,
 * BODYSTRUCTURE, BODY, section offsets) and from byte ranges of raw: a
 * message is never parsed here. A client's first sync asks for 10,000
 * messages at once, so the work goes by batches: one query for the
 * pointer and message rows of BATCH messages, and one query for the
 * octets the batch needs (many ranges at once through unnest), never a
 * query per message.
 *
 * The reading runs in one REPEATABLE READ snapshot: the offsets of a
 * batch and the octets read afterwards come from the same state even
 * when another session expunges meanwhile. Setting \Seen (BODY[] and
 * RFC822 without .PEEK, on a read-write mailbox) is a short transaction
 * of its own before that, like a STORE: it raises the mailbox's modseq
 * and the messages it changed get FLAGS in their FETCH response.
 *
 * Caution: the whole answer collects in job->out, which the runtime sends
 * when the job ends; a FETCH of every body of a large mailbox holds it all
 * in memory until then (a way to flush while the job runs is wanted).
 */
/* System. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

/* libofc. */
#include "ofc_db.h"
#include "ofc_log.h"
#include "ofc_mem.h"

/* Protocol. */
#include "sps.h"

/* This program. */
#include "imap4.h"

/* Messages per row query. */
#define BATCH 500
/* Octets of one piece of a range, and of all pieces read by one query. */
#define PIECE_MAX    (1024 * 1024)
#define QUERY_OCTETS (4 * 1024 * 1024)
#define QUERY_PIECES 1000

struct fetch_job {
    struct imap_session *s;
    struct imap_cmd *cmd;
    struct imap_fetch_req req;
    uint32_t *uids; /* ascending: msn order */
    size_t n;
    uint32_t *seen; /* uids whose \Seen this FETCH set, ascending */
    size_t nseen;
    long long seen_modseq;
    struct sps_job *job;
    struct evbuffer *out;
    char *error;
    bool unknown_cte; /* BINARY of a part we cannot decode (RFC 3516 UNKNOWN-CTE) */
    bool flushed;     /* whole FETCH responses already left: no starting over */
    bool gone;        /* the client went away meanwhile */
};

/* Output above which a batch's responses leave before the next batch is read. */
#define FLUSH_AT (256 * 1024)

/* --- Helpers ---------------------------------------------------------------- */

/* "{1,2,3}" for a bigint[] parameter. */
static char *uid_array(const uint32_t *uids, size_t n)
{
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    ofc_strbuf_putc(&sb, '{');
    for (size_t i = 0; i < n; i++)
        ofc_strbuf_printf(&sb, i > 0 ? ",%" PRIu32 : "%" PRIu32, uids[i]);
    ofc_strbuf_putc(&sb, '}');
    return ofc_strbuf_detach(&sb);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static bool in_sorted(const uint32_t *v, size_t n, uint32_t x)
{
    return n > 0 && bsearch(&x, v, n, sizeof(*v), cmp_u32) != NULL;
}

/* INTERNALDATE as "26-Nov-2026 00:11:27 +0000" (date-time, RFC 3501 §9). */
static void format_date(long long epoch, char *buf, size_t size)
{
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)epoch;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL)
        memset(&tm, 0, sizeof(tm)); /* 00-Jan-1900: cannot happen for a timestamptz */
    (void)snprintf(buf, size, "%02d-%s-%04d %02d:%02d:%02d +0000", tm.tm_mday,
                   months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* FLAGS (...) of a pointer row: keywords come space-separated from SQL. */
static void write_flags(struct evbuffer *out, int flags, const char *keywords, bool recent)
{
    char *kw = ofc_xstrdup(keywords != NULL ? keywords : "");
    size_t nkw = 0;
    const char **v = NULL;
    for (char *save = NULL, *t = strtok_r(kw, " ", &save); t != NULL;
         t = strtok_r(NULL, " ", &save)) {
        v = ofc_xrealloc(v, (nkw + 1) * sizeof(*v));
        v[nkw++] = t;
    }
    char *text = imap_flags_format(flags, v, nkw, recent);
    (void)evbuffer_add_printf(out, "FLAGS (%s)", text);
    free(text);
    free(v);
    free(kw);
}

static void write_literal(struct evbuffer *out, const char *data, size_t len)
{
    if (len == 0) {
        (void)evbuffer_add(out, "\"\"", 2);
        return;
    }
    (void)evbuffer_add_printf(out, "{%zu}\r\n", len);
    (void)evbuffer_add(out, data, len);
}

/* --- Octets of many ranges, read a query at a time ------------------------ */

struct pieces {
    long long *id, *from, *len; /* from is 0-based */
    size_t n, cap;
    size_t next;         /* the next piece the writer takes */
    size_t qstart, qend; /* pieces answered by res */
    PGresult *res;
};

static void pieces_add(struct pieces *p, long long id, long long from, long long len)
{
    while (len > 0) {
        long long take = len < PIECE_MAX ? len : PIECE_MAX;
        if (p->n == p->cap) {
            p->cap = p->cap ? p->cap * 2 : 256;
            p->id = ofc_xrealloc(p->id, p->cap * sizeof(*p->id));
            p->from = ofc_xrealloc(p->from, p->cap * sizeof(*p->from));
            p->len = ofc_xrealloc(p->len, p->cap * sizeof(*p->len));
        }
        p->id[p->n] = id;
        p->from[p->n] = from;
        p->len[p->n] = take;
        p->n++;
        from += take;
        len -= take;
    }
}

/* How many pieces a range of len octets was cut into. */
static size_t pieces_count(long long len)
{
    return len <= 0 ? 0 : (size_t)((len + PIECE_MAX - 1) / PIECE_MAX);
}

static void pieces_reset(struct pieces *p)
{
    if (p->res != NULL)
        PQclear(p->res);
    p->res = NULL;
    p->n = p->next = p->qstart = p->qend = 0;
}

static void pieces_free(struct pieces *p)
{
    pieces_reset(p);
    free(p->id);
    free(p->from);
    free(p->len);
}

/*
 * The next piece's octets (valid until the next call), running the next
 * query when the current result is used up. A message that is not there
 * any more (or shorter than its offsets) gives fewer octets. Returns 0 or
 * -1 (database error, *error_r heap).
 */
static int pieces_next(struct ofc_db *db, struct pieces *p, const char **data_r, size_t *len_r,
                       char **error_r)
{
    if (p->next >= p->n) {
        *data_r = "";
        *len_r = 0;
        return 0;
    }
    if (p->res == NULL || p->next >= p->qend) {
        if (p->res != NULL)
            PQclear(p->res);
        p->res = NULL;
        p->qstart = p->next;
        p->qend = p->qstart;
        long long total = 0;
        while (p->qend < p->n && p->qend - p->qstart < QUERY_PIECES &&
               (p->qend == p->qstart || total + p->len[p->qend] <= QUERY_OCTETS))
            total += p->len[p->qend++];
        struct ofc_strbuf ids = OFC_STRBUF_INIT, froms = OFC_STRBUF_INIT, lens = OFC_STRBUF_INIT;
        ofc_strbuf_putc(&ids, '{');
        ofc_strbuf_putc(&froms, '{');
        ofc_strbuf_putc(&lens, '{');
        for (size_t i = p->qstart; i < p->qend; i++) {
            const char *sep = i > p->qstart ? "," : "";
            ofc_strbuf_printf(&ids, "%s%lld", sep, p->id[i]);
            ofc_strbuf_printf(&froms, "%s%lld", sep, p->from[i] + 1);
            ofc_strbuf_printf(&lens, "%s%lld", sep, p->len[i]);
        }
        ofc_strbuf_putc(&ids, '}');
        ofc_strbuf_putc(&froms, '}');
        ofc_strbuf_putc(&lens, '}');
        const char *params[] = {ids.data, froms.data, lens.data};
        /* Binary result: the octets themselves, not their hex text. */
        p->res = imap_sql_binary(db, IMAP_SQL_FETCH_OCTETS, params);
        ofc_strbuf_free(&ids);
        ofc_strbuf_free(&froms);
        ofc_strbuf_free(&lens);
        if (p->res == NULL) {
            *error_r = ofc_xasprintf("cannot read message octets: %s", ofc_db_error(db));
            return -1;
        }
        if ((size_t)PQntuples(p->res) != p->qend - p->qstart) {
            *error_r = ofc_xstrdup("message octets: unexpected number of rows");
            return -1;
        }
    }
    int row = (int)(p->next - p->qstart);
    p->next++;
    if (PQgetisnull(p->res, row, 0)) {
        *data_r = "";
        *len_r = 0;
    } else {
        *data_r = PQgetvalue(p->res, row, 0);
        *len_r = (size_t)PQgetlength(p->res, row, 0);
    }
    return 0;
}

/* --- Setting \Seen ----------------------------------------------------------- */

/*
 * Is any of the messages still without \Seen? Asked outside a
 * transaction, so that a FETCH of messages already seen (the usual case)
 * costs one statement instead of BEGIN, SELECT, COMMIT. A \Seen cleared
 * concurrently after it is as if the change came after this FETCH.
 * Returns 1, 0, or -1 (*error_r heap).
 */
static int any_unseen(struct ofc_db *db, const struct fetch_job *j, char **error_r)
{
    char mailbox[32], since[32];
    (void)snprintf(mailbox, sizeof(mailbox), "%lld", j->s->view->mailbox_id);
    (void)snprintf(since, sizeof(since), "%lld",
                   j->req.changedsince >= 0 ? j->req.changedsince : 0);
    char *uids = uid_array(j->uids, j->n);
    const char *params[] = {mailbox, uids, since};
    PGresult *res = imap_sql(db, IMAP_SQL_UNSEEN_ANY, params);
    free(uids);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot read flags: %s", ofc_db_error(db));
        return -1;
    }
    int any = PQntuples(res) > 0;
    PQclear(res);
    return any;
}

static int seen_tx(struct ofc_db *db, void *ctx, char **error_r)
{
    struct fetch_job *j = ctx;
    j->nseen = 0;
    j->seen_modseq = 0;
    char mailbox[32], since[32];
    (void)snprintf(mailbox, sizeof(mailbox), "%lld", j->s->view->mailbox_id);
    (void)snprintf(since, sizeof(since), "%lld",
                   j->req.changedsince >= 0 ? j->req.changedsince : 0);
    char *uids = uid_array(j->uids, j->n);
    const char *params[] = {mailbox, uids, since, NULL};
    PGresult *res = imap_sql(db, IMAP_SQL_UNSEEN_ANY, params);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot read flags: %s", ofc_db_error(db));
        free(uids);
        return OFC_DB_ERROR;
    }
    bool any = PQntuples(res) > 0;
    PQclear(res);
    if (!any) {
        free(uids);
        return OFC_DB_OK;
    }
    /*
     * The mailbox row first, as expunges and deliveries lock it: the new
     * modseq is then not overtaken by a concurrent change.
     */
    res = imap_sql(db, IMAP_SQL_RAISE_MODSEQ, params);
    if (res == NULL || PQntuples(res) != 1) {
        *error_r = ofc_xasprintf("cannot raise the modseq: %s",
                                 res == NULL ? ofc_db_error(db) : "mailbox is gone");
        if (res != NULL)
            PQclear(res);
        free(uids);
        return OFC_DB_ERROR;
    }
    j->seen_modseq = ofc_db_value_ll(res, 0, 0, 0);
    PQclear(res);
    char modseq[32];
    (void)snprintf(modseq, sizeof(modseq), "%lld", j->seen_modseq);
    params[3] = modseq;
    res = imap_sql(db, IMAP_SQL_SET_SEEN, params);
    free(uids);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot set \\Seen: %s", ofc_db_error(db));
        return OFC_DB_ERROR;
    }
    int rows = PQntuples(res);
    j->seen = ofc_xrealloc(j->seen, ((size_t)rows + 1) * sizeof(*j->seen));
    for (int i = 0; i < rows; i++)
        j->seen[j->nseen++] = (uint32_t)ofc_db_value_ll(res, i, 0, 0);
    PQclear(res);
    qsort(j->seen, j->nseen, sizeof(*j->seen), cmp_u32);
    return OFC_DB_OK;
}

/* --- Reading and answering --------------------------------------------------- */

enum {
    COL_UID,
    COL_FLAGS,
    COL_KEYWORDS,
    COL_DATE,
    COL_MODSEQ,
    COL_ID,
    COL_SIZE,
    COL_HSIZE,
    COL_ENVELOPE,
    COL_BODYSTRUCTURE,
    COL_BODY,
    COL_SECTIONS,
};

static bool wants(const struct imap_fetch_req *req, enum imap_fetch_kind kind)
{
    for (size_t i = 0; i < req->n; i++)
        if (req->items[i].kind == kind)
            return true;
    return false;
}

static bool wants_sections(const struct imap_fetch_req *req)
{
    for (size_t i = 0; i < req->n; i++)
        if (req->items[i].kind == IMAP_FI_SECTION && req->items[i].part[0] != '\0')
            return true;
    return false;
}

/*
 * The byte ranges a SECTION item reads for row i of res, in order: 0 (the
 * part is not there: NIL), 1 (the section, see imap_fetch_range), or 2
 * for BINARY of a part (its MIME header for the encoding, then its whole
 * body: the partial applies after decoding).
 */
static int item_ranges(const struct imap_fetch_item *it, PGresult *res, int i, long long from[2],
                       long long len[2])
{
    const char *sections = ofc_db_value(res, i, COL_SECTIONS);
    long long size = ofc_db_value_ll(res, i, COL_SIZE, 0);
    long long hsize = ofc_db_value_ll(res, i, COL_HSIZE, 0);
    if (!it->binary || it->part[0] == '\0')
        return imap_fetch_range(it, sections, size, hsize, &from[0], &len[0]) ? 1 : 0;
    struct imap_fetch_item whole = *it;
    whole.pfrom = -1;
    whole.text = IMAP_FT_MIME;
    if (!imap_fetch_range(&whole, sections, size, hsize, &from[0], &len[0]))
        return 0;
    whole.text = IMAP_FT_ALL;
    if (!imap_fetch_range(&whole, sections, size, hsize, &from[1], &len[1]))
        return 0;
    return 2;
}

/* Reads the pieces of one range into *data (or drops them when data is NULL). */
static int read_range(struct ofc_db *db, struct pieces *p, long long len, struct ofc_strbuf *data,
                      char **error_r)
{
    for (size_t k = pieces_count(len); k > 0; k--) {
        const char *d;
        size_t dl;
        if (pieces_next(db, p, &d, &dl, error_r) != 0)
            return -1;
        if (data != NULL)
            ofc_strbuf_append(data, d, dl);
    }
    return 0;
}

/* octets [pfrom, pfrom + plen) of data as the item's partial asks. */
static void partial(const struct imap_fetch_item *it, size_t len, size_t *start_r, size_t *len_r)
{
    *start_r = 0;
    *len_r = len;
    if (it->pfrom >= 0) {
        *start_r = (unsigned long long)it->pfrom < len ? (size_t)it->pfrom : len;
        *len_r = len - *start_r;
        if ((unsigned long long)it->plen < *len_r)
            *len_r = (size_t)it->plen;
    }
}

/* One SECTION item of one message: its octets as a literal, or NIL. */
static int write_section(struct fetch_job *j, struct ofc_db *db, struct pieces *p,
                         const struct imap_fetch_item *it, PGresult *res, int i, char **error_r)
{
    long long from[2], len[2];
    (void)evbuffer_add_printf(j->out, "%s ", it->label);
    int nr = item_ranges(it, res, i, from, len);
    if (nr == 0) {
        (void)evbuffer_add(j->out, "NIL", 3);
        return 0;
    }
    struct ofc_strbuf data = OFC_STRBUF_INIT, body = OFC_STRBUF_INIT, f = OFC_STRBUF_INIT;
    if (read_range(db, p, len[0], &data, error_r) != 0 ||
        (nr == 2 && read_range(db, p, len[1], &body, error_r) != 0)) {
        ofc_strbuf_free(&data);
        ofc_strbuf_free(&body);
        return -1;
    }
    const char *out = data.data != NULL ? data.data : "";
    size_t out_len = data.len;
    bool apply_partial = false;
    if (nr == 2) {
        int cte = imap_fetch_cte(out, data.len);
        if (cte == IMAP_CTE_UNKNOWN) {
            ofc_strbuf_free(&data);
            ofc_strbuf_free(&body);
            j->unknown_cte = true;
            *error_r = ofc_xasprintf("%s: unknown content transfer encoding", it->label);
            return -1;
        }
        imap_fetch_decode(cte, body.data != NULL ? body.data : "", body.len, &f);
        apply_partial = true;
    } else if (it->text == IMAP_FT_FIELDS || it->text == IMAP_FT_FIELDS_NOT) {
        imap_fetch_header_filter(out, data.len, it->fields, it->nfields,
                                 it->text == IMAP_FT_FIELDS_NOT, &f);
        apply_partial = true;
    }
    if (apply_partial) {
        size_t start;
        out = f.data != NULL ? f.data : "";
        partial(it, f.len, &start, &out_len);
        out += start;
    }
    if (it->binary_size)
        (void)evbuffer_add_printf(j->out, "%zu", out_len);
    else if (it->binary && memchr(out, '\0', out_len) != NULL) {
        /* literal8 (RFC 3516 §4.2): the only way to send NUL octets. */
        (void)evbuffer_add_printf(j->out, "~{%zu}\r\n", out_len);
        (void)evbuffer_add(j->out, out, out_len);
    } else
        write_literal(j->out, out, out_len);
    ofc_strbuf_free(&data);
    ofc_strbuf_free(&body);
    ofc_strbuf_free(&f);
    return 0;
}

/* "* msn FETCH (...)" for row i. */
static int write_message(struct fetch_job *j, struct ofc_db *db, struct pieces *p, PGresult *res,
                         int i, char **error_r)
{
    const struct imap_view *v = j->s->view;
    uint32_t uid = (uint32_t)ofc_db_value_ll(res, i, COL_UID, 0);
    uint32_t msn = imap_view_msn(v, uid);
    if (msn == 0) {
        /* Not in this session's view (cannot happen: the uids came from it); its octets
         * were read all the same, and the next message's must stay in step. */
        for (size_t k = 0; k < j->req.n; k++) {
            long long from[2], len[2];
            const struct imap_fetch_item *it = &j->req.items[k];
            int nr = it->kind == IMAP_FI_SECTION ? item_ranges(it, res, i, from, len) : 0;
            for (int r = 0; r < nr; r++)
                if (read_range(db, p, len[r], NULL, error_r) != 0)
                    return -1;
        }
        return 0;
    }
    int flags = (int)ofc_db_value_ll(res, i, COL_FLAGS, 0);
    bool recent = uid >= v->first_recent_uid;
    long long modseq = ofc_db_value_ll(res, i, COL_MODSEQ, 0);
    (void)evbuffer_add_printf(j->out, "* %" PRIu32 " FETCH (", msn);
    bool flags_sent = false, modseq_sent = false;
    for (size_t k = 0; k < j->req.n; k++) {
        const struct imap_fetch_item *it = &j->req.items[k];
        if (k > 0)
            (void)evbuffer_add(j->out, " ", 1);
        const char *text;
        char date[64];
        switch (it->kind) {
        case IMAP_FI_FLAGS:
            write_flags(j->out, flags, ofc_db_value(res, i, COL_KEYWORDS), recent);
            flags_sent = true;
            break;
        case IMAP_FI_UID:
            (void)evbuffer_add_printf(j->out, "UID %" PRIu32, uid);
            break;
        case IMAP_FI_INTERNALDATE:
            format_date(ofc_db_value_ll(res, i, COL_DATE, 0), date, sizeof(date));
            (void)evbuffer_add_printf(j->out, "INTERNALDATE \"%s\"", date);
            break;
        case IMAP_FI_SIZE:
            (void)evbuffer_add_printf(j->out, "RFC822.SIZE %lld",
                                      ofc_db_value_ll(res, i, COL_SIZE, 0));
            break;
        case IMAP_FI_MODSEQ:
            (void)evbuffer_add_printf(j->out, "MODSEQ (%lld)", modseq);
            modseq_sent = true;
            break;
        case IMAP_FI_ENVELOPE:
            text = ofc_db_value(res, i, COL_ENVELOPE);
            (void)evbuffer_add_printf(j->out, "ENVELOPE %s",
                                      text != NULL ? text
                                                   : "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
            break;
        case IMAP_FI_BODY:
        case IMAP_FI_BODYSTRUCTURE:
            text = ofc_db_value(res, i, it->kind == IMAP_FI_BODY ? COL_BODY : COL_BODYSTRUCTURE);
            if (text != NULL) {
                (void)evbuffer_add_printf(
                    j->out, "%s %s", it->kind == IMAP_FI_BODY ? "BODY" : "BODYSTRUCTURE", text);
            } else {
                /* Rows stored before the cache existed: the whole body as text. */
                (void)evbuffer_add_printf(
                    j->out,
                    "%s (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" %lld 0)",
                    it->kind == IMAP_FI_BODY ? "BODY" : "BODYSTRUCTURE",
                    ofc_db_value_ll(res, i, COL_SIZE, 0) - ofc_db_value_ll(res, i, COL_HSIZE, 0));
            }
            break;
        case IMAP_FI_SECTION:
            if (write_section(j, db, p, it, res, i, error_r) != 0)
                return -1;
            break;
        }
    }
    /* A flag change we made is reported in the same response (RFC 3501 §6.4.5). */
    bool changed = in_sorted(j->seen, j->nseen, uid);
    if (changed && !flags_sent) {
        (void)evbuffer_add(j->out, " ", 1);
        write_flags(j->out, flags, ofc_db_value(res, i, COL_KEYWORDS), recent);
        flags_sent = true;
    }
    /*
     * With CONDSTORE enabled, flags travel with their modseq, and a change
     * (the implicit \Seen) also with the UID (RFC 7162 §3.1), as Dovecot does.
     */
    if (j->s->condstore && flags_sent && !modseq_sent)
        (void)evbuffer_add_printf(j->out, " MODSEQ (%lld)", modseq);
    if (j->s->condstore && changed && !wants(&j->req, IMAP_FI_UID))
        (void)evbuffer_add_printf(j->out, " UID %" PRIu32, uid);
    (void)evbuffer_add(j->out, ")\r\n", 3);
    return 0;
}

static int read_tx(struct ofc_db *db, void *ctx, char **error_r)
{
    struct fetch_job *j = ctx;
    if (j->flushed) {
        /* Responses of the first attempt have left; sending them again
           would repeat them. The tagged NO says the rest is missing. */
        *error_r = ofc_xstrdup("the database failed in the middle of the answer");
        return OFC_DB_ERROR;
    }
    /* A retry starts the answer over. */
    (void)evbuffer_drain(j->out, evbuffer_get_length(j->out));
    char mailbox[32], since[32];
    (void)snprintf(mailbox, sizeof(mailbox), "%lld", j->s->view->mailbox_id);
    (void)snprintf(since, sizeof(since), "%lld",
                   j->req.changedsince >= 0 ? j->req.changedsince : 0);
    const char *env = wants(&j->req, IMAP_FI_ENVELOPE) ? "t" : "f";
    const char *bs = wants(&j->req, IMAP_FI_BODYSTRUCTURE) ? "t" : "f";
    const char *body = wants(&j->req, IMAP_FI_BODY) ? "t" : "f";
    const char *sect = wants_sections(&j->req) ? "t" : "f";
    struct pieces p;
    memset(&p, 0, sizeof(p));
    int rc = OFC_DB_OK;
    for (size_t b = 0; b < j->n && rc == OFC_DB_OK; b += BATCH) {
        size_t nb = j->n - b < BATCH ? j->n - b : BATCH;
        char *uids = uid_array(j->uids + b, nb);
        const char *params[] = {mailbox, uids, since, env, bs, body, sect};
        PGresult *res = imap_sql(db, IMAP_SQL_FETCH_ROWS, params);
        free(uids);
        if (res == NULL) {
            *error_r = ofc_xasprintf("cannot read messages: %s", ofc_db_error(db));
            rc = OFC_DB_ERROR;
            break;
        }
        /* The octets the whole batch needs, in the order they are written. */
        pieces_reset(&p);
        int rows = PQntuples(res);
        for (int i = 0; i < rows; i++) {
            long long id = ofc_db_value_ll(res, i, COL_ID, 0);
            for (size_t k = 0; k < j->req.n; k++) {
                const struct imap_fetch_item *it = &j->req.items[k];
                long long from[2], len[2];
                int nr = it->kind == IMAP_FI_SECTION ? item_ranges(it, res, i, from, len) : 0;
                for (int r = 0; r < nr; r++)
                    pieces_add(&p, id, from[r], len[r]);
            }
        }
        for (int i = 0; i < rows; i++) {
            if (write_message(j, db, &p, res, i, error_r) != 0) {
                rc = OFC_DB_ERROR;
                break;
            }
        }
        PQclear(res);
        /*
         * Whole responses leave batch by batch: a FETCH of thousands of
         * bodies needs memory for a batch, not for the answer.
         */
        if (rc == OFC_DB_OK && b + nb < j->n && evbuffer_get_length(j->out) >= FLUSH_AT) {
            j->flushed = true;
            if (sps_job_flush(j->job) != 0) {
                j->gone = true;
                break;
            }
        }
    }
    pieces_free(&p);
    return rc;
}

static void fetch_fn(struct sps_job *job)
{
    struct fetch_job *j = job->arg;
    j->job = job;
    j->out = job->out;
    char *error = NULL;
    int unseen =
        j->n > 0 && j->req.sets_seen && !j->s->view->read_only ? any_unseen(job->db, j, &error) : 0;
    if (unseen < 0 && !ofc_db_connected(job->db)) {
        /* The session was lost: seen_tx reconnects and asks again. */
        OFC_FREE(error);
        unseen = 1;
    }
    if (unseen < 0) {
        j->error = error;
        return;
    }
    if (unseen > 0) {
        if (ofc_db_transaction(job->db, false, 3, seen_tx, j, &error) != OFC_DB_OK) {
            j->error = error;
            return;
        }
        /*
         * Our own change is answered here with FLAGS: when nothing else
         * happened in between, the view need not report it again.
         */
        struct imap_view *v = j->s->view;
        if (j->seen_modseq > 0 && j->seen_modseq - 1 == v->highestmodseq)
            v->highestmodseq = j->seen_modseq;
        else if (j->seen_modseq > 0)
            imap_view_changed(j->s); /* others changed it meanwhile: read next time */
    }
    /*
     * One snapshot for every batch and every octet of the answer; one
     * statement (a batch without sections) has a snapshot of its own.
     */
    int rc = OFC_DB_OK;
    bool alone = j->n > 0 && j->n <= BATCH && !wants_sections(&j->req);
    if (alone)
        rc = read_tx(job->db, j, &error);
    /* The transaction also reconnects and tries again when the session was lost. */
    if (j->n > 0 && (!alone || (rc != OFC_DB_OK && !ofc_db_connected(job->db)))) {
        OFC_FREE(error);
        rc = ofc_db_transaction_snapshot(job->db, 3, read_tx, j, &error);
    }
    if (rc != OFC_DB_OK) {
        (void)evbuffer_drain(job->out, evbuffer_get_length(job->out));
        j->error = error;
        return;
    }
    if (imap_view_sync(j->s, job, false, &error) != 0)
        j->error = error;
}

static void fetch_free(struct fetch_job *j)
{
    imap_fetch_req_free(&j->req);
    if (j->cmd != NULL) {
        imap_cmd_free(j->cmd);
        free(j->cmd);
    }
    free(j->uids);
    free(j->seen);
    free(j->error);
    free(j);
}

static void fetch_done(struct sps_client *c, void *state, void *arg)
{
    (void)state;
    struct fetch_job *j = arg;
    if (!sps_client_closed(c)) {
        if (j->unknown_cte) {
            ofc_info("%s: %s: %s", sps_client_id(c), j->s->user != NULL ? j->s->user : "?",
                     j->error != NULL ? j->error : "unknown content transfer encoding");
            imap_tagged(j->s, j->cmd->tag, "NO",
                        "[UNKNOWN-CTE] cannot decode the part's content transfer encoding");
        } else if (j->error != NULL) {
            ofc_error("%s: %s: %sFETCH in mailbox %lld failed: %s", sps_client_id(c),
                      j->s->user != NULL ? j->s->user : "?", j->cmd->uid ? "UID " : "",
                      j->s->view != NULL ? j->s->view->mailbox_id : 0, j->error);
            imap_tagged(j->s, j->cmd->tag, "NO", "[UNAVAILABLE] temporary failure, try again");
        } else {
            imap_tagged(j->s, j->cmd->tag, "OK", "%sFETCH completed", j->cmd->uid ? "UID " : "");
        }
    }
    fetch_free(j);
}

void imap_cmd_fetch(struct imap_session *s, struct imap_cmd *cmd)
{
    struct fetch_job *j = ofc_xcalloc(1, sizeof(*j));
    j->s = s;
    j->cmd = cmd;
    const char *error = NULL;
    if (imap_fetch_parse(cmd, &j->req, &error) != 0) {
        imap_tagged(s, cmd->tag, "BAD", "%s", error);
        fetch_free(j);
        return;
    }
    struct imap_seqset set;
    if (cmd->args[0].type != IMAP_ARG_ATOM || imap_seqset_parse(cmd->args[0].s, &set) != 0) {
        imap_tagged(s, cmd->tag, "BAD", "invalid sequence set");
        fetch_free(j);
        return;
    }
    int rc = imap_view_resolve(s->view, &set, cmd->uid, &j->uids, &j->n);
    imap_seqset_free(&set);
    if (rc != 0) {
        imap_tagged(s, cmd->tag, "BAD", "invalid message sequence number");
        fetch_free(j);
        return;
    }
    /* Using MODSEQ or CHANGEDSINCE enables CONDSTORE (RFC 7162 §3.1). */
    if (wants(&j->req, IMAP_FI_MODSEQ))
        s->condstore = true;
    sps_client_run(s->c, fetch_fn, fetch_done, j);
}
