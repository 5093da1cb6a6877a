/*
 * append.c - APPEND (RFC 3501 §6.3.11) with UIDPLUS's APPENDUID
 * (RFC 4315) and the quota response codes of RFC 9208.
 *
 *   tag APPEND mailbox [(flags)] ["date-time"] literal
 *
 * The message octets arrive as the last argument, a string input.c has
 * assembled from the literal. One job, one transaction: the message is
 * analysed and stored (store_message_put_raw, as ingestion does) and
 * gets a pointer with the mailbox's next UID (store_folder_append). A
 * mailbox that does not exist answers [TRYCREATE] (§6.3.11), so that the
 * client may CREATE it and try again.
 */
/* System. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* libofc. */
#include "ofc_db.h"
#include "ofc_log.h"
#include "ofc_mem.h"
#include "store_folder.h"

/* Protocol. */
#include "sps.h"

/* This program. */
#include "imap4.h"

#define TEMP_FAILURE "[UNAVAILABLE] temporary failure, please try again later"

struct ajob {
    struct imap_session *s;
    struct imap_cmd *cmd;
    char *name;                     /* UTF-8 */
    const struct imap_arg *message; /* in cmd */
    int flags;
    char **keywords;
    size_t nkeywords;
    long long internaldate; /* < 0: now */
    struct store_folder_append_result r;
    char *error;
};

static void ajob_free(struct ajob *j)
{
    free(j->name);
    for (size_t i = 0; i < j->nkeywords; i++)
        free(j->keywords[i]);
    free(j->keywords);
    free(j->error);
    imap_cmd_free(j->cmd);
    free(j->cmd);
    free(j);
}

static void ajob_reply(struct ajob *j, const char *status, const char *text)
{
    imap_tagged(j->s, j->cmd->tag, status, "%s", text);
    ajob_free(j);
}

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar. */
static long long days_from_civil(long long y, int m, int d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool digits(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    return true;
}

static int num(const char *p, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (p[i] - '0');
    return v;
}

/*
 * RFC 3501 date-time without its quotes: "17-Jul-1996 02:44:25 -0700"
 * (the day may be " 7" or "7"). Returns seconds since the epoch, or -1.
 */
static long long parse_date_time(const char *s)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    while (*s == ' ')
        s++;
    size_t dlen = s[1] == '-' ? 1 : 2;
    if (!digits(s, dlen) || s[dlen] != '-')
        return -1;
    int day = num(s, dlen);
    s += dlen + 1;
    int month = 0;
    for (int i = 0; i < 12; i++)
        if (strncasecmp(s, months + 3 * i, 3) == 0)
            month = i + 1;
    if (month == 0 || s[3] != '-')
        return -1;
    s += 4;
    if (strlen(s) != 4 + 1 + 8 + 1 + 5 || !digits(s, 4) || s[4] != ' ' || !digits(s + 5, 2) ||
        s[7] != ':' || !digits(s + 8, 2) || s[10] != ':' || !digits(s + 11, 2) || s[13] != ' ' ||
        (s[14] != '+' && s[14] != '-') || !digits(s + 15, 4))
        return -1;
    int year = num(s, 4), hh = num(s + 5, 2), mm = num(s + 8, 2), ss = num(s + 11, 2);
    int zh = num(s + 15, 2), zm = num(s + 17, 2);
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (day < 1 || day > mdays[month - 1] || hh > 23 || mm > 59 || ss > 60 || zm > 59)
        return -1;
    long long t = days_from_civil(year, month, day) * 86400 + hh * 3600 + mm * 60 + ss;
    long long zone = (long long)(zh * 3600 + zm * 60);
    t -= s[14] == '+' ? zone : -zone;
    return t >= 0 ? t : -1;
}

static int ajob_tx(struct ofc_db *db, void *ctx, char **error_r)
{
    struct ajob *j = ctx;
    struct store_folder_append a = {
        .flags = j->flags,
        .keywords = (const char *const *)j->keywords,
        .nkeywords = j->nkeywords,
        .internaldate = j->internaldate,
    };
    if (store_folder_append(db, j->s->account_id, j->name, j->message->s, j->message->len, &a,
                            &j->r, error_r) != 0)
        return OFC_DB_ERROR;
    return OFC_DB_OK;
}

static void ajob_fn(struct sps_job *job)
{
    struct ajob *j = job->arg;
    char *error = NULL;
    if (ofc_db_transaction(job->db, false, 5, ajob_tx, j, &error) != OFC_DB_OK) {
        j->error = error != NULL ? error : ofc_xstrdup("unknown error");
        return;
    }
    /* Appended to the selected mailbox: EXISTS before the tagged reply. */
    if (j->s->view != NULL) {
        char *verror = NULL;
        imap_view_changed(j->s); /* the NOTIFY of our own APPEND may come later */
        if (imap_view_sync(j->s, job, true, &verror) != 0) {
            ofc_warn("cannot update the selected mailbox of %s after APPEND: %s",
                     j->s->user != NULL ? j->s->user : "?", verror != NULL ? verror : "?");
            free(verror);
        }
    }
}

static void ajob_done(struct sps_client *c, void *state, void *arg)
{
    struct imap_session *s = state;
    struct ajob *j = arg;
    const char *user = s->user != NULL ? s->user : "?";
    if (j->error != NULL) {
        ofc_error("%s: APPEND of %s to %s failed: %s", sps_client_id(c), user, j->name, j->error);
        if (!sps_client_closed(c))
            imap_tagged(s, j->cmd->tag, "NO", "%s", TEMP_FAILURE);
        ajob_free(j);
        return;
    }
    if (sps_client_closed(c)) {
        ajob_free(j);
        return;
    }
    switch (j->r.status) {
    case STORE_APPENDED:
        ofc_info("%s: %s appended message %lld (%lld octets) to %s as UID %lld", sps_client_id(c),
                 user, j->r.message_id, j->r.size, j->name, j->r.uid);
        imap_tagged(s, j->cmd->tag, "OK", "[APPENDUID %lld %lld] APPEND completed (%lld octets)",
                    j->r.uidvalidity, j->r.uid, j->r.size);
        break;
    case STORE_APPEND_NO_MAILBOX:
        imap_tagged(s, j->cmd->tag, "NO", "[TRYCREATE] no such mailbox");
        break;
    case STORE_APPEND_OVER_QUOTA:
        ofc_info("%s: APPEND of %lld octets to %s refused: %s is over quota", sps_client_id(c),
                 j->r.size, j->name, user);
        imap_tagged(s, j->cmd->tag, "NO", "[OVERQUOTA] quota exceeded");
        break;
    case STORE_APPEND_FULL:
        imap_tagged(s, j->cmd->tag, "NO", "[LIMIT] the mailbox has no UIDs left");
        break;
    }
    ajob_free(j);
}

void imap_cmd_append(struct imap_session *s, struct imap_cmd *cmd)
{
    struct ajob *j = ofc_xcalloc(1, sizeof(*j));
    j->s = s;
    j->cmd = cmd;
    j->internaldate = -1;
    if (cmd->nargs < 2 || cmd->nargs > 4) {
        ajob_reply(j, "BAD", "expected mailbox, flags, date-time and message literal");
        return;
    }
    size_t i = 1;
    if (cmd->args[i].type == IMAP_ARG_LIST) {
        /* \Recent cannot be set by a client (RFC 3501 §2.3.2): imap_flags_parse refuses it. */
        if (imap_flags_parse(&cmd->args[i], &j->flags, &j->keywords, &j->nkeywords) != 0) {
            ajob_reply(j, "BAD", "invalid flag list");
            return;
        }
        i++;
    }
    if (i + 2 == cmd->nargs) {
        const struct imap_arg *d = &cmd->args[i];
        if (d->type != IMAP_ARG_STRING || (j->internaldate = parse_date_time(d->s)) < 0) {
            ajob_reply(j, "BAD", "invalid date-time");
            return;
        }
        i++;
    }
    /* MULTIAPPEND (RFC 3502) and CATENATE (RFC 4469) are not offered. */
    if (i + 1 != cmd->nargs || cmd->args[i].type != IMAP_ARG_STRING) {
        ajob_reply(j, "BAD", "expected a message literal");
        return;
    }
    j->message = &cmd->args[i];
    if (j->message->len == 0) {
        ajob_reply(j, "NO", "[CANNOT] an empty message cannot be appended");
        return;
    }
    j->name = imap_mailbox_name(s, &cmd->args[0]);
    if (j->name == NULL) {
        ajob_reply(j, "NO", "[TRYCREATE] no such mailbox");
        return;
    }
    sps_client_run(s->c, ajob_fn, ajob_done, j);
}
