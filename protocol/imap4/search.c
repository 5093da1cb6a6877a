/*
 * search.c - SEARCH and UID SEARCH (RFC 3501 §6.4.4, §6.4.8; RFC 7162
 * MODSEQ).
 *
 * The keys become one SQL statement (search_keys.c) built on the loop
 * thread, so a malformed SEARCH is answered BAD without database work;
 * the job runs it and maps the UIDs it finds to this session's message
 * sequence numbers (messages another session added but this one has not
 * been told about yet are never part of the answer).
 */
/* System. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

/* libofc. */
#include "ofc_db.h"
#include "ofc_log.h"
#include "ofc_mem.h"

/* Protocol. */
#include "sps.h"

/* This program. */
#include "imap4.h"

struct search_job {
    struct imap_session *s;
    struct imap_cmd *cmd;
    struct imap_search_query q;
    char *error;
};

static void search_fn(struct sps_job *job)
{
    struct search_job *j = job->arg;
    const struct imap_view *v = j->s->view;
    PGresult *res =
        ofc_db_query(job->db, j->q.sql, (int)j->q.nparams, (const char *const *)j->q.params);
    if (res == NULL) {
        j->error = ofc_xasprintf("search failed: %s", ofc_db_error(job->db));
        return;
    }
    struct evbuffer *out = job->out;
    (void)evbuffer_add(out, "* SEARCH", 8);
    long long max_modseq = 0;
    int rows = PQntuples(res);
    for (int i = 0; i < rows; i++) {
        uint32_t uid = (uint32_t)ofc_db_value_ll(res, i, 0, 0);
        uint32_t msn = imap_view_msn(v, uid);
        if (msn == 0)
            continue; /* not announced to this session */
        (void)evbuffer_add_printf(out, " %" PRIu32, j->cmd->uid ? uid : msn);
        long long modseq = ofc_db_value_ll(res, i, 1, 0);
        if (modseq > max_modseq)
            max_modseq = modseq;
    }
    PQclear(res);
    /* RFC 7162 §3.1.5: the highest modseq of what was found, when anything was. */
    if (j->q.modseq && max_modseq > 0)
        (void)evbuffer_add_printf(out, " (MODSEQ %lld)", max_modseq);
    (void)evbuffer_add(out, "\r\n", 2);
    char *error = NULL;
    if (imap_view_sync(j->s, job, false, &error) != 0)
        j->error = error;
}

static void search_free(struct search_job *j)
{
    imap_search_query_free(&j->q);
    imap_cmd_free(j->cmd);
    free(j->cmd);
    free(j->error);
    free(j);
}

static void search_done(struct sps_client *c, void *state, void *arg)
{
    (void)state;
    struct search_job *j = arg;
    if (!sps_client_closed(c)) {
        if (j->error != NULL) {
            ofc_error("%s: %s: %sSEARCH in mailbox %lld failed: %s", sps_client_id(c),
                      j->s->user != NULL ? j->s->user : "?", j->cmd->uid ? "UID " : "",
                      j->s->view != NULL ? j->s->view->mailbox_id : 0, j->error);
            imap_tagged(j->s, j->cmd->tag, "NO", "[UNAVAILABLE] temporary failure, try again");
        } else {
            imap_tagged(j->s, j->cmd->tag, "OK", "%sSEARCH completed", j->cmd->uid ? "UID " : "");
        }
    }
    search_free(j);
}

void imap_cmd_search(struct imap_session *s, struct imap_cmd *cmd)
{
    struct search_job *j = ofc_xcalloc(1, sizeof(*j));
    j->s = s;
    j->cmd = cmd;
    const char *error = NULL;
    int rc = imap_search_build(s->view, cmd->args, cmd->nargs, &j->q, &error);
    if (rc != 0) {
        imap_tagged(s, cmd->tag, rc == -2 ? "NO" : "BAD", "%s", error);
        search_free(j);
        return;
    }
    if (j->q.modseq)
        s->condstore = true; /* a CONDSTORE-enabling command (RFC 7162 §3.1) */
    sps_client_run(s->c, search_fn, search_done, j);
}
