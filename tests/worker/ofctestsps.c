/*
 * NAME
 *      ofctestsps - a tiny line protocol on the SPS runtime, for its tests
 *
 * SYNOPSIS
 *      ofctestsps [-c CONFIG] [instance=N] [connect=CONNINFO]
 *
 * DESCRIPTION
 *      A protocol server (sps_main: process type TESTSPS, protocol "pop3"
 *      for the iolistener and the certificate files) whose commands
 *      exercise the runtime of protocol/sps.h. The tests register the
 *      type themselves with SQL. Greeting "+OK ofctestsps <id>", then:
 *
 *        ECHO text      "text"
 *        DB             a job: "+OK <SELECT 1> <backend pid>"
 *        SLEEP ms       a job that holds a connection ms milliseconds
 *        AUTH user pw   sps_authenticate: "+OK <id> <address>", or after
 *                       AuthFailureDelay "-ERR authentication failed"
 *        PLAIN b64      the same with a SASL PLAIN message
 *        TWO            two jobs from one command: "+OK first", "+OK second"
 *        STARTTLS       "+OK begin TLS", then the handshake
 *        TLS            "+OK tls=0|1"
 *        LITERAL n      the next n octets: "+OK literal n <octets>"
 *        WATCH id       "* CHANGED id" whenever mailbox id changes
 *        IDLE s         this client's idle timeout
 *        BIG n          n octets of output ("x"...) and "+OK big"
 *        STREAM n       a job writing n numbered 12-octet lines ("%010ld\r\n"),
 *                       flushed every 64 KiB (sps_job_flush), then
 *                       "+OK streamed"; a client gone meanwhile ends it
 *                       early (logged "stream: client gone after K lines")
 *        QUIT           "+OK bye" and close
 *
 *      Too long lines get "-ERR line too long", the idle timeout
 *      "-ERR idle timeout", the stop "-ERR server shutting down".
 *      Built into the build tree's bin/ and never installed.
 */
/* System. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Libraries. */
#include <event2/buffer.h>
#include <openssl/evp.h>

/* libofc. */
#include "ofc_db.h"
#include "ofc_log.h"
#include "ofc_mem.h"

/* Protocol. */
#include "sps.h"

struct session {
    int n;
};

struct auth_req {
    char *user, *password;
    int rc;
    long long id;
    char *address, *error;
};

static void *t_new(struct sps_client *c)
{
    sps_client_printf(c, "+OK ofctestsps %s\r\n", sps_client_id(c));
    return ofc_xcalloc(1, sizeof(struct session));
}

static void t_free(struct sps_client *c, void *state)
{
    (void)c;
    free(state);
}

static void job_db(struct sps_job *job)
{
    PGresult *res = ofc_db_query(job->db, "SELECT 1, pg_backend_pid()", 0, NULL);
    if (res == NULL) {
        evbuffer_add_printf(job->out, "-ERR %s\r\n", ofc_db_error(job->db));
        return;
    }
    evbuffer_add_printf(job->out, "+OK %s %s\r\n", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
    PQclear(res);
}

static void job_sleep(struct sps_job *job)
{
    char *ms = job->arg;
    const char *args[] = {ms};
    PGresult *res = ofc_db_query(job->db, "SELECT pg_sleep($1::float8 / 1000)", 1, args);
    if (res == NULL)
        evbuffer_add_printf(job->out, "-ERR %s\r\n", ofc_db_error(job->db));
    else
        evbuffer_add_printf(job->out, "+OK slept %s\r\n", ms);
    PQclear(res);
}

static void job_stream(struct sps_job *job)
{
    long n = atol(job->arg);
    for (long i = 0; i < n; i++) {
        (void)evbuffer_add_printf(job->out, "%010ld\r\n", i);
        if (evbuffer_get_length(job->out) >= 65536 && sps_job_flush(job) != 0) {
            ofc_info("stream: client gone after %ld lines", i + 1);
            return;
        }
    }
    (void)evbuffer_add_printf(job->out, "+OK streamed\r\n");
}

static void done_free_arg(struct sps_client *c, void *state, void *arg)
{
    (void)c;
    (void)state;
    free(arg);
}

static void job_auth(struct sps_job *job)
{
    struct auth_req *a = job->arg;
    a->rc = sps_authenticate(job->db, a->user, a->password, &a->id, &a->address, &a->error);
}

static void auth_free(struct auth_req *a)
{
    free(a->user);
    free(a->password);
    free(a->address);
    free(a->error);
    free(a);
}

static void auth_failed(struct sps_client *c, void *state, void *arg)
{
    (void)state;
    (void)arg;
    sps_client_puts(c, "-ERR authentication failed\r\n");
}

static void auth_done(struct sps_client *c, void *state, void *arg)
{
    struct auth_req *a = arg;
    (void)state;
    if (a->rc > 0) {
        sps_client_set_logged_in(c, true);
        sps_client_printf(c, "+OK %lld %s\r\n", a->id, a->address);
    } else if (a->rc < 0) {
        sps_client_printf(c, "-ERR temporary failure: %s\r\n", a->error);
    } else {
        int delay = (int)sps_param_int(sps_client_sps(c), "AuthFailureDelay", 2);
        sps_client_delay(c, delay, auth_failed, NULL);
    }
    auth_free(a);
}

static void job_tag(struct sps_job *job)
{
    PGresult *res = ofc_db_exec_prepared(job->db, "testsps_one", 1, (const char *[]){"41"});
    evbuffer_add_printf(job->out, "+OK %s %s\r\n", (const char *)job->arg,
                        res != NULL ? PQgetvalue(res, 0, 0) : ofc_db_error(job->db));
    PQclear(res);
}

static void start_auth(struct sps_client *c, const char *user, const char *password)
{
    struct auth_req *a = ofc_xcalloc(1, sizeof(*a));
    a->user = ofc_xstrdup(user);
    a->password = ofc_xstrdup(password);
    sps_client_run(c, job_auth, auth_done, a);
}

/* SASL PLAIN: base64 of "authzid NUL authcid NUL password". */
static void cmd_plain(struct sps_client *c, const char *b64)
{
    size_t n = strlen(b64);
    if (n == 0 || n % 4 != 0 || n > 4096) {
        sps_client_puts(c, "-ERR malformed\r\n");
        return;
    }
    unsigned char *msg = ofc_xmalloc(n / 4 * 3 + 1);
    int len = EVP_DecodeBlock(msg, (const unsigned char *)b64, (int)n);
    if (len >= 0 && b64[n - 1] == '=')
        len -= b64[n - 2] == '=' ? 2 : 1;
    const char *authzid, *authcid, *password;
    if (len >= 0)
        msg[len] = '\0';
    if (len < 0 ||
        sps_sasl_plain_split((const char *)msg, (size_t)len, &authzid, &authcid, &password) != 0)
        sps_client_puts(c, "-ERR malformed\r\n");
    else if (authzid[0] != '\0' && strcmp(authzid, authcid) != 0)
        sps_client_puts(c, "-ERR no proxy authorisation\r\n");
    else
        start_auth(c, authcid, password);
    free(msg);
}

static void changed(struct sps_client *c, void *state, long long id)
{
    (void)state;
    sps_client_printf(c, "* CHANGED %lld\r\n", id);
}

static void t_line(struct sps_client *c, void *state, char *line, size_t len)
{
    (void)state;
    char *arg = strchr(line, ' ');
    if (arg != NULL)
        *arg++ = '\0';
    else
        arg = line + len;
    if (strcasecmp(line, "ECHO") == 0) {
        sps_client_printf(c, "%s\r\n", arg);
    } else if (strcasecmp(line, "DB") == 0) {
        sps_client_run(c, job_db, NULL, NULL);
    } else if (strcasecmp(line, "SLEEP") == 0) {
        sps_client_run(c, job_sleep, done_free_arg, ofc_xasprintf("%d", atoi(arg)));
    } else if (strcasecmp(line, "AUTH") == 0) {
        char *pw = strchr(arg, ' ');
        if (pw == NULL) {
            sps_client_puts(c, "-ERR AUTH user password\r\n");
            return;
        }
        *pw++ = '\0';
        start_auth(c, arg, pw);
    } else if (strcasecmp(line, "PLAIN") == 0) {
        cmd_plain(c, arg);
    } else if (strcasecmp(line, "TWO") == 0) {
        sps_client_run(c, job_tag, NULL, "first");
        sps_client_run(c, job_tag, NULL, "second");
    } else if (strcasecmp(line, "STARTTLS") == 0) {
        if (!sps_client_tls_available(c) || sps_client_is_tls(c)) {
            sps_client_puts(c, "-ERR no TLS\r\n");
            return;
        }
        sps_client_puts(c, "+OK begin TLS\r\n");
        if (!sps_client_starttls(c))
            sps_client_puts(c, "-ERR TLS failed\r\n");
    } else if (strcasecmp(line, "TLS") == 0) {
        sps_client_printf(c, "+OK tls=%d\r\n", sps_client_is_tls(c) ? 1 : 0);
    } else if (strcasecmp(line, "LITERAL") == 0) {
        long n = atol(arg);
        if (n < 0 || n > sps_param_int(sps_client_sps(c), "MaxLiteralLength", 1048576)) {
            sps_client_puts(c, "-ERR literal too long\r\n");
            return;
        }
        sps_client_read_literal(c, (size_t)n);
    } else if (strcasecmp(line, "WATCH") == 0) {
        sps_client_watch_mailbox(c, atoll(arg), changed);
        sps_client_puts(c, "+OK watching\r\n");
    } else if (strcasecmp(line, "IDLE") == 0) {
        sps_client_set_idle_timeout(c, atoi(arg));
        sps_client_puts(c, "+OK idle\r\n");
    } else if (strcasecmp(line, "BIG") == 0) {
        long n = atol(arg);
        struct evbuffer *b = evbuffer_new();
        for (long i = 0; b != NULL && i < n; i += 1024) {
            char chunk[1024];
            memset(chunk, 'x', sizeof(chunk));
            evbuffer_add(b, chunk, (size_t)(n - i < 1024 ? n - i : 1024));
        }
        if (b != NULL) {
            sps_client_write_buffer(c, b);
            evbuffer_free(b);
        }
        sps_client_puts(c, "+OK big\r\n");
    } else if (strcasecmp(line, "STREAM") == 0) {
        sps_client_run(c, job_stream, done_free_arg, ofc_xasprintf("%ld", atol(arg)));
    } else if (strcasecmp(line, "QUIT") == 0) {
        sps_client_puts(c, "+OK bye\r\n");
        sps_client_close(c);
    } else {
        sps_client_puts(c, "-ERR unknown command\r\n");
    }
}

static void t_literal(struct sps_client *c, void *state, char *data, size_t len)
{
    (void)state;
    sps_client_printf(c, "+OK literal %zu ", len);
    sps_client_write(c, data, len);
    sps_client_puts(c, "\r\n");
}

static void t_too_long(struct sps_client *c, void *state)
{
    (void)state;
    sps_client_puts(c, "-ERR line too long\r\n");
}

static void t_idle(struct sps_client *c, void *state)
{
    (void)state;
    sps_client_puts(c, "-ERR idle timeout\r\n");
}

static void t_shutdown(struct sps_client *c, void *state)
{
    (void)state;
    sps_client_puts(c, "-ERR server shutting down\r\n");
}

static int t_init(struct sps *sps)
{
    return sps_prepare(sps, "testsps_one", "SELECT $1::integer + 1", 1);
}

static const struct sps_protocol testsps = {
    .program = "ofctestsps",
    .type = "TESTSPS",
    .log_base = "testsps",
    .summary = "A test line protocol on the Scalable Protocol Server runtime.",
    .protocol = "pop3",
    .client_new = t_new,
    .client_free = t_free,
    .line = t_line,
    .line_too_long = t_too_long,
    .literal = t_literal,
    .idle_timeout = t_idle,
    .shutdown = t_shutdown,
    .init = t_init,
};

int main(int argc, char **argv)
{
    return sps_main(&testsps, argc, argv);
}
