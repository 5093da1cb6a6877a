/*
 * sps_main.c - the protocol server's process: ofc_proc lifecycle around
 * the runtime (sps.h).
 *
 * ofc_proc owns the main thread: its init starts the runtime (event loop,
 * workers, pool, mailbox watch), its work reports sps_status on each
 * wake-up (the heartbeat), its refresh takes a new parameter snapshot, its
 * cleanup stops everything and frees it.
 */
/* System. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* Libraries. */
#include <event2/event.h>
#include <event2/thread.h>

/* libofc. */
#include "ofc_config.h"
#include "ofc_db.h"
#include "ofc_log.h"
#include "ofc_mem.h"
#include "ofc_proc.h"
#include "ofc_tls.h"
#include "ofc_time.h"

/* Protocol. */
#include "sps_internal.h"

/* One runtime per process: ofc_proc_main() is one per process too. */
static const struct sps_protocol *the_protocol;
static const char *connect_arg; /* connect= of the command line, or NULL */

int64_t sps_now_ms(void)
{
    return ofc_now_ms();
}

/* ---- parameters ------------------------------------------------------ */

static void free_params(struct sps_param *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(p[i].name);
        free(p[i].value);
    }
    free(p);
}

/*
 * Takes a snapshot of every effective parameter with the main thread's
 * handle. ofc_proc's own strings change under a refresh, so other threads
 * read only this copy.
 */
static int snapshot_params(struct sps *sps)
{
    struct ofc_db *db = ofc_proc_db(sps->proc);
    char *id = ofc_xasprintf("%lld", ofc_proc_id(sps->proc));
    const char *args[] = {id};
    PGresult *res = ofc_db_query(db,
                                 "SELECT name, value FROM process_parameter_effective"
                                 " WHERE process_id = $1::integer",
                                 1, args);
    free(id);
    if (res == NULL) {
        ofc_warn("cannot read the parameters: %s", ofc_db_error(db));
        return -1;
    }
    int rows = PQntuples(res);
    struct sps_param *params = ofc_xcalloc((size_t)rows + 1, sizeof(*params));
    size_t n = 0;
    for (int r = 0; r < rows; r++) {
        const char *name = ofc_db_value(res, r, 0), *value = ofc_db_value(res, r, 1);
        if (name == NULL || value == NULL)
            continue;
        params[n].name = ofc_xstrdup(name);
        params[n].value = ofc_xstrdup(value);
        n++;
    }
    PQclear(res);
    pthread_mutex_lock(&sps->param_lock);
    struct sps_param *old = sps->params;
    size_t nold = sps->nparams;
    sps->params = params;
    sps->nparams = n;
    pthread_mutex_unlock(&sps->param_lock);
    free_params(old, nold);
    return 0;
}

long long sps_param_int_locked(struct sps *sps, const char *name, long long dflt)
{
    long long v = dflt;
    pthread_mutex_lock(&sps->param_lock);
    for (size_t i = 0; i < sps->nparams; i++) {
        if (strcmp(sps->params[i].name, name) != 0)
            continue;
        char *end = NULL;
        errno = 0;
        long long n = strtoll(sps->params[i].value, &end, 10);
        if (errno == 0 && end != sps->params[i].value && *end == '\0')
            v = n;
        break;
    }
    pthread_mutex_unlock(&sps->param_lock);
    return v;
}

long long sps_param_int(struct sps *sps, const char *name, long long dflt)
{
    return sps_param_int_locked(sps, name, dflt);
}

bool sps_param_bool(struct sps *sps, const char *name, bool dflt)
{
    bool v = dflt;
    pthread_mutex_lock(&sps->param_lock);
    for (size_t i = 0; i < sps->nparams; i++) {
        if (strcmp(sps->params[i].name, name) != 0)
            continue;
        const char *s = sps->params[i].value;
        if (strcmp(s, "1") == 0 || strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0 ||
            strcasecmp(s, "on") == 0)
            v = true;
        else if (strcmp(s, "0") == 0 || strcasecmp(s, "false") == 0 || strcasecmp(s, "no") == 0 ||
                 strcasecmp(s, "off") == 0)
            v = false;
        break;
    }
    pthread_mutex_unlock(&sps->param_lock);
    return v;
}

struct ofc_proc *sps_proc(struct sps *sps)
{
    return sps->proc;
}

/* ---- start ------------------------------------------------------------ */

/* Thousands of clients need thousands of descriptors. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        ofc_warn("cannot read the descriptor limit: %s", strerror(errno));
        return;
    }
    if (rl.rlim_cur == rl.rlim_max)
        return;
    rlim_t old = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        ofc_warn("cannot raise the descriptor limit from %llu to %llu: %s", (unsigned long long)old,
                 (unsigned long long)rl.rlim_max, strerror(errno));
    else
        ofc_info("descriptor limit raised from %llu to %llu", (unsigned long long)old,
                 (unsigned long long)rl.rlim_max);
}

/*
 * STARTTLS and implicit TLS need a certificate; without one both are off.
 * Returns a new context or NULL (logged).
 */
static SSL_CTX *make_tls(struct sps *sps)
{
    struct ofc_tls_files files;
    memset(&files, 0, sizeof(files));
    if (ofc_tls_find_files(ofc_proc_config(sps->proc), sps->protocol->protocol, &files) != 1) {
        ofc_info("no certificate for %s: STARTTLS and implicit TLS are off",
                 sps->protocol->protocol);
        return NULL;
    }
    char *error = NULL;
    SSL_CTX *ctx = ofc_tls_server_ctx(&files, &error);
    if (ctx == NULL) {
        ofc_error("TLS with %s: %s", files.cert, error != NULL ? error : "cannot make a context");
        free(error);
    } else {
        ofc_info("TLS certificate %s", files.cert);
    }
    ofc_tls_files_free(&files);
    return ctx;
}

static void load_tls(struct sps *sps)
{
    sps->tls_ctx = make_tls(sps);
}

/*
 * On refresh (loop thread, the only user of tls_ctx): a certificate
 * stored with `ofcsetup cert store` is taken into use for new clients and
 * new STARTTLS; sessions already in TLS keep the context they hold a
 * reference to. A certificate that does not load leaves the old one.
 */
void sps_tls_reload(struct sps *sps)
{
    SSL_CTX *ctx = make_tls(sps);
    if (ctx == NULL) {
        if (sps->tls_ctx != NULL)
            ofc_warn("keeping the TLS certificate in use");
        return;
    }
    if (sps->tls_ctx != NULL)
        SSL_CTX_free(sps->tls_ctx);
    sps->tls_ctx = ctx;
}

static int clamp(long long v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : (int)v;
}

static void sps_free(struct sps *sps)
{
    if (sps == NULL)
        return;
    sps_loop_free(sps);
    if (sps->tls_ctx != NULL)
        SSL_CTX_free(sps->tls_ctx);
    free_params(sps->params, sps->nparams);
    pthread_mutex_destroy(&sps->param_lock);
    free(sps->conninfo);
    free(sps->appname);
    free(sps);
}

static int sps_init(struct ofc_proc *proc)
{
    struct sps *sps = ofc_xcalloc(1, sizeof(*sps));
    sps->protocol = the_protocol;
    sps->proc = proc;
    sps->hand_fd = -1;
    sps->watch_pipe[0] = sps->watch_pipe[1] = -1;
    pthread_mutex_init(&sps->param_lock, NULL);
    ofc_proc_set_userdata(proc, sps);
    sps->conninfo = connect_arg != NULL && connect_arg[0] != '\0'
                        ? ofc_xstrdup(connect_arg)
                        : ofc_config_conninfo(ofc_proc_config(proc));
    sps->appname = ofc_xasprintf("%s/%d", sps->protocol->program, ofc_proc_instance(proc));

    raise_nofile();
    if (snapshot_params(sps) != 0)
        return -1;
    sps_auth_set_ttl(sps_param_int(sps, "AuthCacheTtl", 300));
    load_tls(sps);
    if (evthread_use_pthreads() != 0) {
        ofc_error("libevent has no thread support");
        return -1;
    }
    int ndbs = clamp(sps_param_int(sps, "DbConnections", 4), 1, 256);
    int nworkers = clamp(sps_param_int(sps, "WorkerThreads", 4), 1, 256);
    if (sps_pool_start(sps, ndbs, nworkers) != 0)
        return -1;
    if (sps->protocol->init != NULL && sps->protocol->init(sps) != 0)
        return -1;
    if (sps_watch_start(sps) != 0)
        return -1;
    if (sps_loop_start(sps) != 0)
        return -1;
    ofc_info("%s serving %s: %d worker threads, %d database connections, at most %lld clients",
             sps->protocol->type, sps->protocol->protocol, nworkers, ndbs,
             sps_param_int(sps, "MaxClients", 5000));
    return 0;
}

/* ---- heartbeat: sps_status -------------------------------------------- */

static int write_status(struct sps *sps, bool stopped)
{
    int size = 0, busy = 0, queued = 0, in_flight = 0;
    sps_pool_stats(sps, &size, &busy, &queued, &in_flight);
    char id[24], clients[16], tls[16], logged[16], psize[16], pbusy[16], pqueued[16];
    (void)snprintf(id, sizeof(id), "%lld", ofc_proc_id(sps->proc));
    (void)snprintf(clients, sizeof(clients), "%d", stopped ? 0 : atomic_load(&sps->n_clients));
    (void)snprintf(tls, sizeof(tls), "%d", stopped ? 0 : atomic_load(&sps->n_tls));
    (void)snprintf(logged, sizeof(logged), "%d", stopped ? 0 : atomic_load(&sps->n_logged_in));
    (void)snprintf(psize, sizeof(psize), "%d", stopped ? 0 : size);
    (void)snprintf(pbusy, sizeof(pbusy), "%d", stopped ? 0 : busy);
    (void)snprintf(pqueued, sizeof(pqueued), "%d", stopped ? 0 : queued);
    const char *args[] = {id, clients, tls, logged, psize, pbusy, pqueued};
    struct ofc_db *db = ofc_proc_db(sps->proc);
    if (ofc_db_exec(db,
                    "INSERT INTO sps_status AS s (process_id, clients, tls_clients, logged_in,"
                    "  pool_size, pool_busy, jobs_queued, updated_at)"
                    " VALUES ($1::integer, $2::integer, $3::integer, $4::integer, $5::integer,"
                    "  $6::integer, $7::integer, now())"
                    " ON CONFLICT (process_id) DO UPDATE SET clients = EXCLUDED.clients,"
                    "  tls_clients = EXCLUDED.tls_clients, logged_in = EXCLUDED.logged_in,"
                    "  pool_size = EXCLUDED.pool_size, pool_busy = EXCLUDED.pool_busy,"
                    "  jobs_queued = EXCLUDED.jobs_queued, updated_at = now()",
                    7, args) != 0) {
        if (ofc_db_connected(db))
            ofc_warn("cannot update sps_status: %s", ofc_db_error(db));
        return -1;
    }
    return 0;
}

static int sps_work(struct ofc_proc *proc)
{
    struct sps *sps = ofc_proc_userdata(proc);
    if (sps == NULL || ofc_proc_stopping(proc))
        return 0;
    return write_status(sps, false);
}

static void sps_refresh(struct ofc_proc *proc)
{
    struct sps *sps = ofc_proc_userdata(proc);
    if (sps == NULL || snapshot_params(sps) != 0)
        return;
    sps_auth_set_ttl(sps_param_int(sps, "AuthCacheTtl", 300));
    /* MaxClients goes to the listener with the next LOAD. */
    if (sps->ev_refresh != NULL)
        event_active(sps->ev_refresh, 0, 0);
}

static void sps_cleanup(struct ofc_proc *proc)
{
    struct sps *sps = ofc_proc_userdata(proc);
    if (sps == NULL)
        return;
    ofc_proc_set_userdata(proc, NULL);
    sps->stop = 1;
    sps_loop_stop(sps);  /* farewells, flush, close; jobs finished */
    sps_pool_stop(sps);  /* workers joined, handles closed */
    sps_watch_stop(sps); /* watch thread joined */
    if (ofc_db_connected(ofc_proc_db(proc)))
        (void)write_status(sps, true);
    sps_auth_cleanup();
    sps_free(sps);
}

int sps_main(const struct sps_protocol *protocol, int argc, char **argv)
{
    the_protocol = protocol;
    /* ofc_proc keeps connect= to itself; the pool needs the same database. */
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], "connect=", 8) == 0)
            connect_arg = argv[i] + 8;
    struct ofc_proc_def def = {
        .program = protocol->program,
        .type = protocol->type,
        .log_base = protocol->log_base,
        .log_numbered = true,
        .summary = protocol->summary,
        .init = sps_init,
        .work = sps_work,
        .refresh = sps_refresh,
        .cleanup = sps_cleanup,
    };
    int rc = ofc_proc_main(&def, argc, argv);
    /* OpenSSL's and libevent's global state, for leak checkers. */
    libevent_global_shutdown();
    return rc;
}
