/*
 * batch.c - the statements of a script in one transaction, and passwords
 * hashed on several threads.
 *
 * A migration script inserts thousands of persons. One transaction per
 * statement costs a COMMIT (a WAL flush) each; worse, every person's
 * password is hashed with yescrypt, which is slow on purpose (tens of
 * milliseconds) and is by far the largest cost. So, in a script,
 * consecutive statements marked OOMGR_STMT_BATCH run together:
 *
 *   - their passwords are hashed first, on one thread per processor
 *     (hashing needs no database, and the cost stays the default);
 *   - then one transaction runs them in order, each inside a SAVEPOINT:
 *     a statement that fails is rolled back to its savepoint alone, so
 *     the statements before it keep their effect;
 *   - with the first-error-stops rule, the statements after a failure are
 *     not run, and the transaction commits what came before: exactly what
 *     one transaction per statement would have left behind;
 *   - output, warnings, errors and the admin log are reported after
 *     COMMIT, statement by statement, in the order of the script, so the
 *     administrator sees what one-by-one execution would have shown.
 *
 * The transaction is ofc_db_transaction()'s: a deadlock, a serialization
 * failure or a connection lost before COMMIT runs the whole batch again
 * from its start (nothing of it was committed), which is why handlers
 * must change nothing outside the database.
 */
/* System. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* libofc. */
#include "ofc_db.h"
#include "ofc_mem.h"
#include "ofc_password.h"

/* This program. */
#include "oomgr.h"

/* ---- the per-transaction cache ------------------------------------------ */

void oomgr_tx_cache_reset(struct oomgr_tx_cache *c)
{
    for (size_t i = 0; i < c->nnode; i++)
        free(c->node_name[i]);
    c->nadmin = 0;
    c->nnode = 0;
}

void oomgr_tx_cache_free(struct oomgr_tx_cache *c)
{
    oomgr_tx_cache_reset(c);
    free(c->admin_domain);
    free(c->admin_yes);
    free(c->node_name);
    free(c->node_id);
    memset(c, 0, sizeof(*c));
}

/* ---- hashing ------------------------------------------------------------- */

struct hash_pool {
    struct oomgr_arg **args; /* the arguments to hash */
    size_t count;
    size_t next; /* the next one a worker takes; under lock */
    pthread_mutex_t lock;
};

/* Hashes one argument; a failure leaves it without a hash for the handler to report. */
static void hash_arg(struct oomgr_arg *a)
{
    char *error = NULL;
    if (ofc_password_hash(a->value, &a->hash, &error) < 0) {
        a->hash = NULL;
        free(error);
    }
}

static void *hash_worker(void *ctx)
{
    struct hash_pool *pool = ctx;
    for (;;) {
        (void)pthread_mutex_lock(&pool->lock);
        size_t i = pool->next < pool->count ? pool->next++ : pool->count;
        (void)pthread_mutex_unlock(&pool->lock);
        if (i == pool->count)
            return NULL;
        hash_arg(pool->args[i]);
    }
}

void oomgr_stmts_hash(struct oomgr_stmt *const *stmts, size_t count, int threads)
{
    struct hash_pool pool;
    memset(&pool, 0, sizeof(pool));
    for (size_t s = 0; s < count; s++) {
        for (size_t i = 0; i < stmts[s]->nargs; i++) {
            struct oomgr_arg *a = &stmts[s]->args[i];
            if (a->spec == NULL || !(a->spec->flags & OOMGR_KEY_HASH) || a->value == NULL ||
                a->value[0] == '\0' || a->hash != NULL)
                continue;
            pool.args = ofc_xrealloc(pool.args, (pool.count + 1) * sizeof(*pool.args));
            pool.args[pool.count++] = a;
        }
    }
    if (pool.count == 0)
        return;
    size_t nthreads = threads > 1 ? (size_t)threads : 1;
    if (nthreads > pool.count)
        nthreads = pool.count;
    pthread_t *tids = NULL;
    size_t started = 0;
    if (nthreads > 1 && pthread_mutex_init(&pool.lock, NULL) == 0) {
        tids = ofc_xcalloc(nthreads, sizeof(*tids));
        /* This thread is one of the workers; the others are extra. */
        for (size_t t = 1; t < nthreads; t++) {
            if (pthread_create(&tids[t], NULL, hash_worker, &pool) != 0)
                break; /* fewer threads: slower, not wrong */
            started++;
        }
        (void)hash_worker(&pool);
        for (size_t t = 1; t <= started; t++)
            (void)pthread_join(tids[t], NULL);
        (void)pthread_mutex_destroy(&pool.lock);
        free(tids);
    } else {
        for (size_t i = 0; i < pool.count; i++)
            hash_arg(pool.args[i]);
    }
    free(pool.args);
}

/* ---- the batch ------------------------------------------------------------ */

enum item_state { ITEM_NOT_RUN, ITEM_OK, ITEM_FAILED };

struct batch_item {
    struct oomgr_call call;
    enum item_state state;
    char *error;    /* ITEM_FAILED */
    int error_line; /* where the handler said the error is */
};

struct batch {
    struct oomgr *om;
    struct oomgr_stmt *const *stmts;
    size_t count;
    struct batch_item *items;
    bool stop_on_error;
};

static void reset_items(struct batch *b)
{
    for (size_t i = 0; i < b->count; i++) {
        oomgr_call_reset(&b->items[i].call);
        b->items[i].state = ITEM_NOT_RUN;
        OFC_FREE(b->items[i].error);
        b->items[i].error_line = 0;
    }
}

/* SAVEPOINT, RELEASE, ROLLBACK TO: fixed statements, no data. */
static int savepoint(struct ofc_db *db, const char *sql, char **error_r)
{
    if (ofc_db_exec(db, sql, 0, NULL) == 0)
        return 0;
    *error_r = ofc_xasprintf("%s failed: %s", sql, ofc_db_error(db));
    return -1;
}

/* ofc_db_transaction()'s callback: may run several times, from the start. */
static int run_batch(struct ofc_db *db, void *ctx, char **error_r)
{
    struct batch *b = ctx;
    struct oomgr *om = b->om;

    reset_items(b);
    oomgr_tx_cache_reset(&om->cache);
    for (size_t i = 0; i < b->count; i++) {
        struct batch_item *it = &b->items[i];
        const struct oomgr_stmt *st = b->stmts[i];
        char *error = NULL;

        if (savepoint(db, "SAVEPOINT oomgr_statement", error_r) < 0)
            return OFC_DB_ERROR;
        om->current_line = st->line;
        if (oomgr_call_check_privilege(&it->call, &error) == 0 &&
            st->def->run(&it->call, &error) == 0) {
            if (savepoint(db, "RELEASE SAVEPOINT oomgr_statement", error_r) < 0)
                return OFC_DB_ERROR;
            it->state = ITEM_OK;
            continue;
        }
        /*
         * A lost connection or a conflict is not this statement's fault:
         * the whole batch runs again (ofc_db_transaction() sees the dead
         * connection, or the RETRY).
         */
        if (!ofc_db_connected(db)) {
            *error_r = error != NULL ? error : ofc_xstrdup(ofc_db_error(db));
            return OFC_DB_ERROR;
        }
        if (ofc_db_sqlstate_is_retryable(ofc_db_sqlstate(db))) {
            free(error);
            return OFC_DB_RETRY;
        }
        if (savepoint(db, "ROLLBACK TO SAVEPOINT oomgr_statement", error_r) < 0 ||
            savepoint(db, "RELEASE SAVEPOINT oomgr_statement", error_r) < 0) {
            free(error);
            return OFC_DB_ERROR;
        }
        it->state = ITEM_FAILED;
        it->error = error != NULL ? error : ofc_xstrdup("statement failed");
        it->error_line = om->current_line;
        /* Its output and changes are gone with the savepoint; warnings still explain. */
        ofc_strbuf_reset(&it->call.out);
        ofc_strbuf_reset(&it->call.log);
        if (b->stop_on_error)
            break;
    }
    return OFC_DB_OK;
}

size_t oomgr_execute_batch(struct oomgr *om, struct oomgr_stmt *const *stmts, size_t count,
                           bool stop_on_error)
{
    struct batch b;
    char *error = NULL;
    size_t failed = 0;

    if (count == 0)
        return 0;
    memset(&b, 0, sizeof(b));
    b.om = om;
    b.stmts = stmts;
    b.count = count;
    b.stop_on_error = stop_on_error;
    b.items = ofc_xcalloc(count, sizeof(*b.items));
    for (size_t i = 0; i < count; i++)
        oomgr_call_init(&b.items[i].call, om, stmts[i]);

    oomgr_stmts_hash(stmts, count, om->hash_threads);

    int tx = om->session != NULL
                 ? ofc_db_transaction(om->session->db, false, 0, run_batch, &b, &error)
                 : OFC_DB_ERROR;
    if (tx != OFC_DB_OK) {
        /* Nothing of the batch was committed (or, after a lost COMMIT, nobody knows). */
        om->current_line = stmts[0]->line;
        oomgr_error_at(om, stmts[0]->line, "%s",
                       error != NULL ? error : "not logged in (connect USER/PASSWORD first)");
        free(error);
        failed = 1;
    } else {
        for (size_t i = 0; i < count; i++) {
            struct batch_item *it = &b.items[i];
            if (it->state == ITEM_NOT_RUN)
                break;
            om->current_line = stmts[i]->line;
            oomgr_call_flush(&it->call);
            if (it->state == ITEM_FAILED) {
                oomgr_error_at(om, it->error_line, "%s", it->error);
                failed++;
            }
        }
    }
    for (size_t i = 0; i < count; i++) {
        oomgr_call_free(&b.items[i].call);
        free(b.items[i].error);
    }
    free(b.items);
    return failed;
}
