/*
 * mon.h - what the pieces of the Monitor share (private to ofcmon).
 *
 *   monitor.c     the hooks: parameters, schedule, requests, one run
 *   mon_tests.c   the test table and the runner (a savepoint per test)
 *   mon_flow.c    message flow: queues, dead, delivery
 *   mon_space.c   database space
 *   mon_config.c  configuration: processes, accounts, domains, gateways
 *   mon_refs.c    missing objects and references: pointers, refcounts,
 *                 inboxes, lists
 *   mon_report.c  the report message
 *
 * Every test is one SQL statement that returns its findings as rows of
 * (severity, what, where, action): the checks are set-based queries the
 * server runs close to the data, and a new test is a row in a table.
 */
#ifndef MON_H
#define MON_H

#include <stdbool.h>
#include <stddef.h>

struct ofc_db;

enum mon_severity {
    MON_ERROR,
    MON_WARNING,
    MON_INFO,
};
#define MON_SEVERITIES 3

/* "ERROR", "WARNING", "INFO" (as stored in monitor_finding). */
const char *mon_severity_name(enum mon_severity s);

struct mon_finding {
    enum mon_severity severity;
    char *test;
    char *what;
    char *location;
    char *action;
};

struct mon_findings {
    struct mon_finding *v;
    size_t n, cap;
    size_t count[MON_SEVERITIES];
};

/* Copies the strings (NULL becomes ""). */
void mon_findings_add(struct mon_findings *f, enum mon_severity severity, const char *test,
                      const char *what, const char *location, const char *action);
void mon_findings_clear(struct mon_findings *f);

/*
 * The values the tests' statements take as parameters: the node and the
 * thresholds of the MONITOR parameters (schema/016_monitor.sql).
 */
enum mon_param {
    MON_P_NODE,           /* the local node's id */
    MON_P_INTERVAL,       /* Interval, seconds */
    MON_P_QUEUE_AGE,      /* QueueAgeWarn, seconds */
    MON_P_QUEUE_LENGTH,   /* QueueLengthWarn, entries */
    MON_P_GROWTH_RUNS,    /* QueueGrowthRuns */
    MON_P_GROWTH_MIN,     /* QueueGrowthMin, entries */
    MON_P_DELIVERY_MS,    /* DeliveryTimeWarn, ms */
    MON_P_DB_MB,          /* DatabaseSizeWarn, MB */
    MON_P_TABLE_MB,       /* TableSizeWarn, MB */
    MON_P_BLOAT_PCT,      /* TableBloatWarn, percent */
    MON_P_BLOAT_MIN_ROWS, /* TableBloatMinRows */
    MON_P_COUNT,
};

struct mon_values {
    long long v[MON_P_COUNT];
};

/*
 * A test: a statement whose rows are findings (severity, what, where,
 * action), taking params[0..nparams-1] as $1..$n.
 */
#define MON_MAX_PARAMS 4
struct mon_test {
    const char *name; /* as in monitor_test (016) */
    const char *sql;
    size_t nparams;
    enum mon_param params[MON_MAX_PARAMS];
};

/* The test groups, each ended by an entry with name NULL. */
extern const struct mon_test mon_flow_tests[];
extern const struct mon_test mon_space_tests[];
extern const struct mon_test mon_config_tests[];
extern const struct mon_test mon_refs_tests[];

/* The test called name, or NULL when this ofcmon does not know it. */
const struct mon_test *mon_test_find(const char *name);

/*
 * Runs one test inside the caller's transaction, in a savepoint of its
 * own: a test that fails (its statement timed out, say) is rolled back
 * alone and becomes a WARNING finding that says so, and the run goes on.
 * Returns 0, or -1 when the transaction itself is lost (the connection,
 * a serialisation failure): *error_r then says why.
 */
int mon_test_run(struct ofc_db *db, const struct mon_test *t, const struct mon_values *values,
                 struct mon_findings *out, char **error_r) __attribute__((warn_unused_result));

/*
 * Records the length of every queue in run $1's queue_lengths, which the
 * queues test of later runs compares to see a queue grow (mon_flow.c).
 */
extern const char mon_queue_lengths_sql[];

/* What the report says besides the findings. */
struct mon_report_info {
    const char *node;   /* "ESNODE" */
    const char *domain; /* of the From address: the report account's */
    const char *to;     /* "ORAPOST@com" */
    long long run_id;
    const char *started; /* "2026-11-26 00:30:01 UTC", as the node shows time */
    const char *trigger; /* "SCHEDULED", "REQUESTED by ADMIN@com" */
    const char *tests;   /* "queues, dead, ..." */
};

/*
 * The report as an RFC 5322 message (text/plain, UTF-8, CRLF line ends):
 * a heap buffer of *len_r octets. Long fields are cut so that no line
 * exceeds the standard's 998 octets.
 */
char *mon_report_compose(const struct mon_report_info *info, const struct mon_findings *f,
                         size_t *len_r);

#endif
