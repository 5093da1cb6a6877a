/*
 * rules.c - server-side rules, auto-forward and auto-reply (rules.h).
 *
 * Replies follow RFC 3834: never to the null reverse-path, to mail marked
 * Auto-Submitted (other than "no"), Precedence bulk/list/junk, mailing
 * list mail (List-*), reports or MAILER-DAEMON; they carry
 * "Auto-Submitted: auto-replied", In-Reply-To and References, and go out
 * with the null reverse-path so that nothing answers them in turn.
 * Forwards keep the envelope sender (RFC 5321 §3.9) and carry
 * "X-Ofcmail-Loop: <account address>"; a message that already carries the
 * account's marker is not forwarded again but kept, so that a loop of
 * forwards between accounts ends with one copy instead of mail lost.
 */
/* System. */
#include <ctype.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* libofc. */
#include "ofc_db.h"
#include "ofc_log.h"
#include "ofc_mem.h"
#include "ofc_pgarray.h"
#include "store_message.h"
#include "store_ndr.h"

/* This program. */
#include "rules.h"

#define LOOP_HEADER "X-Ofcmail-Loop"

int rules_which(struct ofc_db *db, const long long *ids, size_t n, bool *has_r, char **error_r)
{
    for (size_t i = 0; i < n; i++)
        has_r[i] = false;
    if (n == 0)
        return 0;
    char *arr = ofc_pg_id_array(ids, n);
    const char *params[] = {arr};
    PGresult *res = ofc_db_query(
        db,
        "SELECT a FROM unnest($1::bigint[]) AS a"
        " WHERE EXISTS (SELECT 1 FROM ofc.account_rule r WHERE r.account_id = a AND r.enabled)"
        "    OR EXISTS (SELECT 1 FROM ofc.autoforward f WHERE f.account_id = a)"
        "    OR EXISTS (SELECT 1 FROM ofc.autoreply v WHERE v.account_id = a AND v.enabled)",
        1, params);
    free(arr);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot read the accounts' rules: %s", ofc_db_error(db));
        return -1;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        long long id = strtoll(PQgetvalue(res, r, 0), NULL, 10);
        for (size_t i = 0; i < n; i++)
            if (ids[i] == id)
                has_r[i] = true;
    }
    PQclear(res);
    return 0;
}

void rules_outcome_free(struct rules_outcome *out)
{
    free(out->folder);
    for (size_t i = 0; i < out->nkeywords; i++)
        free(out->keywords[i]);
    free(out->keywords);
    free(out->reason);
    memset(out, 0, sizeof(*out));
}

/*
 * The unfolded values of every field called name, joined by ", "; NULL
 * when there is none. Heap.
 */
static char *header_get(const struct rules_message *m, const char *name)
{
    const char *h = m->headers;
    size_t len = m->headers_len, nlen = strlen(name), pos = 0;
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    bool found = false;
    ofc_strbuf_init(&sb);
    while (pos < len) {
        const char *nl = memchr(h + pos, '\n', len - pos);
        size_t end = nl != NULL ? (size_t)(nl - h) + 1 : len;
        if (end - pos > nlen && strncasecmp(h + pos, name, nlen) == 0 && h[pos + nlen] == ':') {
            if (found)
                ofc_strbuf_puts(&sb, ", ");
            found = true;
            size_t p = pos + nlen + 1;
            /* The field with its continuation lines, folding white space as one space. */
            for (;;) {
                while (p < end && (h[p] == ' ' || h[p] == '\t'))
                    p++;
                size_t e = end;
                while (e > p && (h[e - 1] == '\n' || h[e - 1] == '\r'))
                    e--;
                ofc_strbuf_append(&sb, h + p, e - p);
                if (end < len && (h[end] == ' ' || h[end] == '\t')) {
                    ofc_strbuf_putc(&sb, ' ');
                    p = end;
                    const char *nl2 = memchr(h + end, '\n', len - end);
                    end = nl2 != NULL ? (size_t)(nl2 - h) + 1 : len;
                    continue;
                }
                break;
            }
        }
        pos = end;
    }
    if (!found) {
        ofc_strbuf_free(&sb);
        return NULL;
    }
    return ofc_strbuf_detach(&sb);
}

/* Case-insensitive: a glob when the pattern holds * or ?, else a substring. */
static bool pattern_match(const char *pattern, const char *text)
{
    if (text == NULL)
        return false;
    if (strpbrk(pattern, "*?") != NULL)
        return fnmatch(pattern, text, FNM_CASEFOLD) == 0;
    return strcasestr(text, pattern) != NULL;
}

static bool header_match(const struct rules_message *m, const char *name, const char *pattern)
{
    char *v = header_get(m, name);
    bool ok = pattern_match(pattern, v);
    free(v);
    return ok;
}

/* Whether RFC 3834 §2 forbids answering m automatically; why in *why_r. */
static bool reply_forbidden(const struct rules_message *m, const char *self, const char **why_r)
{
    char *v = NULL;
    *why_r = NULL;
    if (m->sender[0] == '\0')
        *why_r = "null sender";
    else if (strncasecmp(m->sender, "mailer-daemon@", 14) == 0 ||
             strncasecmp(m->sender, "owner-", 6) == 0 || strcasestr(m->sender, "-request@"))
        *why_r = "sender is a mailer or a list";
    else if (strcasecmp(m->sender, self) == 0)
        *why_r = "sender is the account itself";
    else if ((v = header_get(m, "Auto-Submitted")) != NULL && strncasecmp(v, "no", 2) != 0)
        *why_r = "Auto-Submitted";
    else if (free(v), (v = header_get(m, "Precedence")) != NULL &&
                          (strcasestr(v, "bulk") || strcasestr(v, "list") || strcasestr(v, "junk")))
        *why_r = "Precedence bulk/list/junk";
    else if (ndr_is_report(m->headers, m->headers_len))
        *why_r = "a report";
    else {
        static const char *const lists[] = {"List-Id",     "List-Post",      "List-Unsubscribe",
                                            "List-Help",   "List-Subscribe", "List-Owner",
                                            "List-Archive"};
        for (size_t i = 0; *why_r == NULL && i < sizeof(lists) / sizeof(lists[0]); i++) {
            free(v);
            v = header_get(m, lists[i]);
            if (v != NULL)
                *why_r = "mailing list";
        }
    }
    free(v);
    return *why_r != NULL;
}

/* Strips CR/LF from a header value we write (a subject from a template). */
static void put_field(struct ofc_strbuf *sb, const char *name, const char *value)
{
    ofc_strbuf_puts(sb, name);
    ofc_strbuf_puts(sb, ": ");
    for (const char *p = value; *p != '\0'; p++)
        ofc_strbuf_putc(sb, *p == '\r' || *p == '\n' ? ' ' : *p);
    ofc_strbuf_puts(sb, "\r\n");
}

/* Composes, stores and submits a reply to m's sender with the null reverse-path. */
static int send_reply(struct ofc_db *db, const char *domain, const char *self,
                      const struct rules_message *m, const char *subject, const char *body,
                      char **error_r)
{
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    ofc_strbuf_init(&sb);
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm) == NULL ||
        strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm) == 0)
        strcpy(date, "Thu, 01 Jan 1970 00:00:00 +0000");
    put_field(&sb, "From", self);
    ofc_strbuf_printf(&sb, "To: <%s>\r\n", m->sender);
    char *orig_subject = header_get(m, "Subject");
    char *subj = subject != NULL && subject[0] != '\0'
                     ? ofc_xstrdup(subject)
                     : ofc_xasprintf("Re: %s", orig_subject != NULL ? orig_subject : "");
    put_field(&sb, "Subject", subj);
    put_field(&sb, "Date", date);
    ofc_strbuf_printf(&sb, "Message-ID: <autoreply.%lld.%lld@%s>\r\n", m->message_id,
                      (long long)now, domain);
    char *mid = header_get(m, "Message-ID");
    if (mid != NULL) {
        put_field(&sb, "In-Reply-To", mid);
        char *refs = header_get(m, "References");
        char *all = refs != NULL ? ofc_xasprintf("%s %s", refs, mid) : ofc_xstrdup(mid);
        put_field(&sb, "References", all);
        free(all);
        free(refs);
    }
    ofc_strbuf_puts(&sb, "Auto-Submitted: auto-replied\r\n"
                         "MIME-Version: 1.0\r\n"
                         "Content-Type: text/plain; charset=utf-8\r\n"
                         "Content-Transfer-Encoding: 8bit\r\n\r\n");
    for (const char *p = body; *p != '\0'; p++) {
        if (*p == '\n' && (p == body || p[-1] != '\r'))
            ofc_strbuf_putc(&sb, '\r');
        ofc_strbuf_putc(&sb, *p);
    }
    if (sb.len < 2 || sb.data[sb.len - 1] != '\n')
        ofc_strbuf_puts(&sb, "\r\n");
    free(mid);
    free(subj);
    free(orig_subject);
    long long id = 0;
    const char *to[] = {m->sender};
    int rc = store_message_put_raw(db, sb.data, sb.len, &id, error_r);
    if (rc == 0)
        rc = store_submit(db, id, "", to, 1, NULL, error_r);
    if (rc == 0)
        ofc_info("message %lld: auto-reply %lld from %s to <%s>", m->message_id, id, self,
                 m->sender);
    ofc_strbuf_free(&sb);
    return rc;
}

/*
 * Forwards a copy of m to address, keeping the envelope sender, unless m
 * already went through this account (*looped_r then). The copy is the
 * original with our loop marker prepended.
 */
static int forward(struct ofc_db *db, const char *self, const struct rules_message *m,
                   const char *address, bool *looped_r, char **error_r)
{
    *looped_r = false;
    char *loops = header_get(m, LOOP_HEADER);
    if (loops != NULL) {
        /* The marker names each account the message was forwarded by. */
        char *needle = ofc_xasprintf("<%s>", self);
        *looped_r = strcasestr(loops, needle) != NULL;
        free(needle);
        free(loops);
        if (*looped_r) {
            ofc_info("message %lld: not forwarded by %s to <%s> again (loop)", m->message_id, self,
                     address);
            return 0;
        }
    }
    char *sid = ofc_xasprintf("%lld", m->message_id);
    const char *params[] = {sid};
    PGresult *res = ofc_db_query_bin(db, "SELECT raw FROM ofc.message WHERE id = $1::bigint", 1,
                                     params, NULL, NULL, 1);
    free(sid);
    if (res == NULL || PQntuples(res) != 1) {
        *error_r = ofc_xasprintf("cannot read message %lld to forward it: %s", m->message_id,
                                 res == NULL ? ofc_db_error(db) : "no such message");
        PQclear(res);
        return -1;
    }
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    ofc_strbuf_init(&sb);
    ofc_strbuf_printf(&sb, LOOP_HEADER ": <%s>\r\n", self);
    ofc_strbuf_append(&sb, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
    PQclear(res);
    long long id = 0;
    const char *to[] = {address};
    int rc = store_message_put_raw(db, sb.data, sb.len, &id, error_r);
    if (rc == 0)
        rc = store_submit(db, id, m->sender, to, 1, NULL, error_r);
    if (rc == 0)
        ofc_info("message %lld: forwarded by %s to <%s> as %lld", m->message_id, self, address, id);
    ofc_strbuf_free(&sb);
    return rc;
}

/* The subject and body of template name, private to the account or public in its domain. */
static int template_get(struct ofc_db *db, const char *sacct, const char *name, char **subject_r,
                        char **body_r, char **error_r)
{
    const char *params[] = {sacct, name};
    PGresult *res = ofc_db_query(
        db,
        "SELECT t.subject, t.body FROM ofc.dir_object o JOIN ofc.template t ON t.object_id = o.id"
        " WHERE o.name_key = lower($2) AND ((o.class = 'PRIVATE_TEMPLATE' AND o.owner_id = "
        "$1::bigint) OR (o.class = 'PUBLIC_TEMPLATE' AND o.domain_id = (SELECT domain_id FROM "
        "ofc.dir_object WHERE id = $1::bigint)))"
        " ORDER BY o.class = 'PRIVATE_TEMPLATE' DESC LIMIT 1",
        2, params);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot read template %s: %s", name, ofc_db_error(db));
        return -1;
    }
    *subject_r = *body_r = NULL;
    if (PQntuples(res) == 1) {
        *subject_r = ofc_xstrdup(PQgetvalue(res, 0, 0));
        *body_r = ofc_xstrdup(PQgetvalue(res, 0, 1));
    }
    PQclear(res);
    return 0;
}

static void add_flag(struct rules_outcome *out, const char *flag)
{
    static const struct {
        const char *name;
        int bit;
    } system[] = {
        {"\\Seen", 1}, {"\\Answered", 2}, {"\\Flagged", 4}, {"\\Deleted", 8}, {"\\Draft", 16}};
    for (size_t i = 0; i < sizeof(system) / sizeof(system[0]); i++)
        if (strcasecmp(flag, system[i].name) == 0) {
            out->flags |= system[i].bit;
            return;
        }
    for (size_t i = 0; i < out->nkeywords; i++)
        if (strcasecmp(out->keywords[i], flag) == 0)
            return;
    out->keywords = ofc_xrealloc(out->keywords, (out->nkeywords + 1) * sizeof(*out->keywords));
    out->keywords[out->nkeywords++] = ofc_xstrdup(flag);
}

/* Column numbers of the rules query. */
enum {
    C_FROM,
    C_TO,
    C_SUBJECT,
    C_HNAME,
    C_HPAT,
    C_LARGER,
    C_SMALLER,
    C_ACTION,
    C_FOLDER,
    C_ADDRESS,
    C_TEMPLATE,
    C_FLAG,
    C_STOP,
    C_POSITION
};

static bool rule_matches(PGresult *res, int r, const struct rules_message *m)
{
#define COL(c) (PQgetisnull(res, r, (c)) ? NULL : PQgetvalue(res, r, (c)))
    const char *v;
    if ((v = COL(C_FROM)) != NULL && !header_match(m, "From", v) && !pattern_match(v, m->sender))
        return false;
    if ((v = COL(C_TO)) != NULL && !header_match(m, "To", v) && !header_match(m, "Cc", v))
        return false;
    if ((v = COL(C_SUBJECT)) != NULL && !header_match(m, "Subject", v))
        return false;
    if ((v = COL(C_HNAME)) != NULL && !header_match(m, v, COL(C_HPAT)))
        return false;
    if ((v = COL(C_LARGER)) != NULL && !(m->size > strtoll(v, NULL, 10)))
        return false;
    if ((v = COL(C_SMALLER)) != NULL && !(m->size < strtoll(v, NULL, 10)))
        return false;
    return true;
#undef COL
}

int rules_apply(struct ofc_db *db, const char *domain, long long account_id,
                const struct rules_message *m, struct rules_outcome *out, char **error_r)
{
    memset(out, 0, sizeof(*out));
    out->keep = true;
    char *sacct = ofc_xasprintf("%lld", account_id);
    const char *p1[] = {sacct};
    char *self = NULL;
    int rc = -1;
    bool discarded = false, kept_by_loop = false;
    PGresult *res = ofc_db_query(db,
                                 "SELECT o.name || '@' || d.fqdn FROM ofc.dir_object o"
                                 " JOIN ofc.domain d ON d.id = o.domain_id WHERE o.id = $1::bigint",
                                 1, p1);
    if (res == NULL || PQntuples(res) != 1) {
        *error_r = ofc_xasprintf("cannot read account %lld: %s", account_id,
                                 res == NULL ? ofc_db_error(db) : "no such account");
        PQclear(res);
        goto out;
    }
    self = ofc_xstrdup(PQgetvalue(res, 0, 0));
    PQclear(res);

    /* 1. The rules, in order. */
    res = ofc_db_query(db,
                       "SELECT from_pattern, to_pattern, subject_pattern, header_name,"
                       " header_pattern, larger, smaller, action, folder, address, template,"
                       " flag, stop, position FROM ofc.account_rule"
                       " WHERE account_id = $1::bigint AND enabled ORDER BY position",
                       1, p1);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot read the rules of %s: %s", self, ofc_db_error(db));
        goto out;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        if (!rule_matches(res, r, m))
            continue;
        const char *action = PQgetvalue(res, r, C_ACTION);
        int failed = 0;
        if (strcmp(action, "fileinto") == 0) {
            free(out->folder);
            out->folder = ofc_xstrdup(PQgetvalue(res, r, C_FOLDER));
        } else if (strcmp(action, "flag") == 0) {
            add_flag(out, PQgetvalue(res, r, C_FLAG));
        } else if (strcmp(action, "discard") == 0) {
            discarded = true;
        } else if (strcmp(action, "forward") == 0) {
            bool looped = false;
            failed = forward(db, self, m, PQgetvalue(res, r, C_ADDRESS), &looped, error_r);
        } else if (strcmp(action, "reply") == 0) {
            const char *why = NULL;
            char *subject = NULL, *body = NULL;
            if (reply_forbidden(m, self, &why)) {
                ofc_info("message %lld: rule %s of %s: no reply (%s)", m->message_id,
                         PQgetvalue(res, r, C_POSITION), self, why);
            } else if ((failed = template_get(db, sacct, PQgetvalue(res, r, C_TEMPLATE), &subject,
                                              &body, error_r)) == 0) {
                if (subject == NULL)
                    ofc_warn("rule %s of %s: no template named %s; no reply",
                             PQgetvalue(res, r, C_POSITION), self, PQgetvalue(res, r, C_TEMPLATE));
                else
                    failed = send_reply(db, domain, self, m, subject, body, error_r);
            }
            free(subject);
            free(body);
        }
        if (failed != 0) {
            PQclear(res);
            goto out;
        }
        if (PQgetvalue(res, r, C_STOP)[0] == 't')
            break;
    }
    PQclear(res);

    /* 2. The auto-forward. */
    if (!discarded) {
        res = ofc_db_query(db,
                           "SELECT addresses, keep_copy FROM ofc.autoforward"
                           " WHERE account_id = $1::bigint",
                           1, p1);
        if (res == NULL) {
            *error_r =
                ofc_xasprintf("cannot read the auto-forward of %s: %s", self, ofc_db_error(db));
            goto out;
        }
        if (PQntuples(res) == 1) {
            char **addrs = NULL;
            size_t naddrs = 0;
            if (ofc_pg_text_array_parse(PQgetvalue(res, 0, 0), &addrs, &naddrs) != 0) {
                *error_r = ofc_xasprintf("bad auto-forward addresses of %s", self);
                PQclear(res);
                goto out;
            }
            bool keep_copy = PQgetvalue(res, 0, 1)[0] == 't';
            int failed = 0;
            for (size_t i = 0; failed == 0 && i < naddrs; i++) {
                bool looped = false;
                failed = forward(db, self, m, addrs[i], &looped, error_r);
                kept_by_loop = kept_by_loop || looped;
            }
            if (failed == 0 && !keep_copy && !kept_by_loop) {
                out->keep = false;
                out->disposition = "FORWARDED";
                out->reason = ofc_xasprintf("auto-forwarded to %s", addrs[0]);
            }
            ofc_pg_text_array_free(&addrs, naddrs);
            if (failed != 0) {
                PQclear(res);
                goto out;
            }
        }
        PQclear(res);
    }

    /* 3. The vacation reply: once per sender per `days`, recorded atomically. */
    if (!discarded) {
        res = ofc_db_query(db,
                           "SELECT subject, body, days FROM ofc.autoreply"
                           " WHERE account_id = $1::bigint AND enabled"
                           " AND (start_at IS NULL OR start_at <= now())"
                           " AND (end_at IS NULL OR now() < end_at)",
                           1, p1);
        if (res == NULL) {
            *error_r =
                ofc_xasprintf("cannot read the auto-reply of %s: %s", self, ofc_db_error(db));
            goto out;
        }
        const char *why = NULL;
        if (PQntuples(res) == 1 && reply_forbidden(m, self, &why)) {
            ofc_info("message %lld: no auto-reply from %s (%s)", m->message_id, self, why);
        } else if (PQntuples(res) == 1) {
            const char *p3[] = {sacct, m->sender, PQgetvalue(res, 0, 2)};
            PGresult *ins = ofc_db_query(
                db,
                "INSERT INTO ofc.autoreply_sent AS s (account_id, sender_key)"
                " VALUES ($1::bigint, lower($2))"
                " ON CONFLICT (account_id, sender_key) DO UPDATE SET last_sent = now()"
                " WHERE s.last_sent <= now() - make_interval(days => $3::int) RETURNING 1",
                3, p3);
            if (ins == NULL) {
                *error_r =
                    ofc_xasprintf("cannot record the auto-reply of %s: %s", self, ofc_db_error(db));
                PQclear(res);
                goto out;
            }
            bool due = PQntuples(ins) == 1;
            PQclear(ins);
            if (!due)
                ofc_info("message %lld: <%s> already had the auto-reply of %s", m->message_id,
                         m->sender, self);
            else if (send_reply(db, domain, self, m, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
                                error_r) != 0) {
                PQclear(res);
                goto out;
            }
        }
        PQclear(res);
    }
    if (discarded) {
        out->keep = false;
        out->disposition = "DELIVERED";
        free(out->reason);
        out->reason = ofc_xstrdup("discarded by rule");
    }
    rc = 0;
out:
    if (rc != 0)
        rules_outcome_free(out);
    free(self);
    free(sacct);
    return rc;
}
