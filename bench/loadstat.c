/*
 * loadstat.c - counters, latency histograms and the shared output format
 * of the load generators (see loadstat.h).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "loadstat.h"

int loadstat_init(struct loadstat *s, const char *const *names, size_t nops)
{
    memset(s, 0, sizeof(*s));
    s->ops = calloc(nops, sizeof(*s->ops));
    if (s->ops == NULL)
        return -1;
    s->names = names;
    s->nops = nops;
    return 0;
}

void loadstat_free(struct loadstat *s)
{
    free(s->ops);
    memset(s, 0, sizeof(*s));
}

/* Exact below LOADSTAT_SUB, then LOADSTAT_SUB buckets per power of two. */
static size_t bucket_of(uint64_t us)
{
    if (us < LOADSTAT_SUB)
        return (size_t)us;
    int e = 63 - __builtin_clzll(us); /* >= 6 */
    size_t idx = (size_t)LOADSTAT_SUB * (size_t)(e - 5) + (size_t)((us >> (e - 6)) - LOADSTAT_SUB);
    return idx < LOADSTAT_BUCKETS ? idx : LOADSTAT_BUCKETS - 1;
}

/* The largest value that falls into bucket idx. */
static uint64_t bucket_top(size_t idx)
{
    if (idx < LOADSTAT_SUB)
        return idx;
    int e = (int)(idx / LOADSTAT_SUB) + 5;
    uint64_t m = idx % LOADSTAT_SUB + LOADSTAT_SUB;
    return ((m + 1) << (e - 6)) - 1;
}

void loadstat_add(struct loadstat *s, size_t op, uint64_t us)
{
    struct loadstat_op *o = &s->ops[op];
    o->count++;
    o->sum_us += us;
    if (us > o->max_us)
        o->max_us = us;
    o->hist[bucket_of(us)]++;
}

void loadstat_fail(struct loadstat *s, size_t op)
{
    s->ops[op].errors++;
}

void loadstat_merge(struct loadstat *into, const struct loadstat *from)
{
    into->sessions += from->sessions;
    into->commands += from->commands;
    into->items += from->items;
    into->bytes += from->bytes;
    into->errors += from->errors;
    for (size_t i = 0; i < into->nops && i < from->nops; i++) {
        struct loadstat_op *a = &into->ops[i];
        const struct loadstat_op *b = &from->ops[i];
        a->count += b->count;
        a->errors += b->errors;
        a->sum_us += b->sum_us;
        if (b->max_us > a->max_us)
            a->max_us = b->max_us;
        for (size_t k = 0; k < LOADSTAT_BUCKETS; k++)
            a->hist[k] += b->hist[k];
    }
}

uint64_t loadstat_percentile(const struct loadstat_op *op, double p)
{
    if (op->count == 0)
        return 0;
    /* The rank of the p-th percentile, 1-based, at least the first. */
    uint64_t rank = (uint64_t)((p / 100.0) * (double)op->count + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > op->count)
        rank = op->count;
    uint64_t seen = 0;
    for (size_t k = 0; k < LOADSTAT_BUCKETS; k++) {
        seen += op->hist[k];
        if (seen >= rank) {
            uint64_t top = bucket_top(k);
            return top < op->max_us ? top : op->max_us;
        }
    }
    return op->max_us;
}

static double per_s(uint64_t n, double seconds)
{
    return seconds > 0 ? (double)n / seconds : 0.0;
}

void loadstat_print(FILE *f, const char *prog, const char *item, const struct loadstat *s,
                    double seconds, double client_cpu)
{
    fprintf(f,
            "%s result sessions=%llu sessions_per_s=%.2f commands=%llu commands_per_s=%.2f "
            "%s=%llu %s_per_s=%.2f bytes=%llu errors=%llu elapsed_s=%.3f client_cpu_s=%.3f\n",
            prog, (unsigned long long)s->sessions, per_s(s->sessions, seconds),
            (unsigned long long)s->commands, per_s(s->commands, seconds), item,
            (unsigned long long)s->items, item, per_s(s->items, seconds),
            (unsigned long long)s->bytes, (unsigned long long)s->errors, seconds, client_cpu);
    for (size_t i = 0; i < s->nops; i++) {
        const struct loadstat_op *o = &s->ops[i];
        if (o->count == 0 && o->errors == 0)
            continue;
        fprintf(f,
                "%s latency op=%s count=%llu errors=%llu p50_ms=%.3f p99_ms=%.3f max_ms=%.3f "
                "mean_ms=%.3f\n",
                prog, s->names[i], (unsigned long long)o->count, (unsigned long long)o->errors,
                (double)loadstat_percentile(o, 50) / 1000.0,
                (double)loadstat_percentile(o, 99) / 1000.0, (double)o->max_us / 1000.0,
                o->count ? (double)o->sum_us / (double)o->count / 1000.0 : 0.0);
    }
    for (size_t i = 0; i < s->nops; i++)
        if (s->ops[i].errors)
            fprintf(f, "%s error op=%s count=%llu\n", prog, s->names[i],
                    (unsigned long long)s->ops[i].errors);
    fflush(f);
}

uint64_t loadstat_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

double loadstat_cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0.0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}
