/*
 * loadstat.h - counters and latency histograms for the protocol load
 * generators (popload; the IMAP load later), and the one output format
 * they share.
 *
 * Each client thread owns a struct loadstat and records into it without
 * locks; the program merges them at the end and prints. The operations are
 * the program's own (an array of names, indexed by the program's enum).
 *
 * Latencies go into a log-linear histogram of microseconds: exact below
 * 64 us, then 64 buckets per power of two (at most 1/64 relative error),
 * up to 2^40 us; a percentile is reported as the upper bound of its
 * bucket, so it never understates.
 *
 * Output (stable: scripts grep and parse it; one record per line, the
 * program's name first, then the record kind, then key=value words):
 *
 *   <prog> result sessions=N sessions_per_s=F commands=N commands_per_s=F
 *          <item>=N <item>_per_s=F bytes=N errors=N elapsed_s=F client_cpu_s=F
 *   <prog> latency op=NAME count=N errors=N p50_ms=F p99_ms=F max_ms=F mean_ms=F
 *   <prog> error op=NAME count=N          (only for operations that failed)
 *
 * (`result` is one line; wrapped here.)
 */
#ifndef LOADSTAT_H
#define LOADSTAT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define LOADSTAT_SUB     64
#define LOADSTAT_BUCKETS (LOADSTAT_SUB * 36)

struct loadstat_op {
    uint64_t count;  /* successful operations timed */
    uint64_t errors; /* failed operations */
    uint64_t sum_us;
    uint64_t max_us;
    uint32_t hist[LOADSTAT_BUCKETS];
};

struct loadstat {
    const char *const *names; /* borrowed, nops entries */
    size_t nops;
    struct loadstat_op *ops; /* owned */
    uint64_t sessions;       /* completed without error */
    uint64_t commands;       /* protocol commands sent */
    uint64_t items;          /* the program's unit of work (RETR, FETCH) */
    uint64_t bytes;          /* payload octets received for the items */
    uint64_t errors;         /* sessions (connections) that failed: one failed op each */
};

/* Allocates the per-operation tables. Returns 0, or -1 when out of memory. */
int loadstat_init(struct loadstat *s, const char *const *names, size_t nops);
/* Frees what loadstat_init allocated; s may then be initialised again. */
void loadstat_free(struct loadstat *s);

/* Records a successful operation that took `us` microseconds. */
void loadstat_add(struct loadstat *s, size_t op, uint64_t us);
/* Records a failed operation (not timed). */
void loadstat_fail(struct loadstat *s, size_t op);
/* Adds every counter and histogram of `from` into `into` (same operations). */
void loadstat_merge(struct loadstat *into, const struct loadstat *from);

/* The p-th percentile (0..100) of op in microseconds; 0 when nothing recorded. */
uint64_t loadstat_percentile(const struct loadstat_op *op, double p);

/*
 * Prints the result, latency and error lines. `item` names the unit of
 * work ("retr"); seconds is the measured wall time; client_cpu the
 * program's own CPU seconds (user + system).
 */
void loadstat_print(FILE *f, const char *prog, const char *item, const struct loadstat *s,
                    double seconds, double client_cpu);

/* CLOCK_MONOTONIC in microseconds. */
uint64_t loadstat_now_us(void);
/* This process's user + system CPU seconds so far. */
double loadstat_cpu_seconds(void);

#endif
