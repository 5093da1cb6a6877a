/*
 * stt_snapshot.h - one Statistics snapshot (schema/015_statistics.sql),
 * and the queries the metrics endpoint shares with it. Private to
 * statistics/.
 */
#ifndef STT_SNAPSHOT_H
#define STT_SNAPSHOT_H

struct ofc_db;

/*
 * Each queue of the node with its length and oldest entry (NULL when
 * empty): columns queue, entries, oldest_at. The snapshot stores it; the
 * metrics endpoint reads it live.
 */
#define STT_QUEUES_SQL                                                                             \
    "SELECT 'submission', count(*), min(submitted_at) FROM submission"                             \
    " UNION ALL SELECT 'rerouting', count(*), min(submitted_at) FROM rerouting"                    \
    " UNION ALL SELECT 'remote', count(*), min(submitted_at) FROM remote"                          \
    " UNION ALL SELECT 'gateway_in', count(*), min(received_at) FROM gateway_in"                   \
    " UNION ALL SELECT 'gateway_out', count(*), min(submitted_at) FROM gateway_out"                \
    " UNION ALL SELECT 'dead', count(*), min(dead_at) FROM dead"                                   \
    " UNION ALL SELECT 'collector', count(*), min(queued_at) FROM collector"

struct stt_snapshot_args {
    long long node_id;
    long long process_id; /* 0: none */
    int interval_s;       /* the first snapshot's period is this long */
    int settle_s;         /* the period ends this long before the snapshot */
    int account_top;      /* accounts recorded besides those near quota; 0: all */
};

/* What a snapshot found, for the log line. */
struct stt_snapshot_result {
    long long id;
    long long delivered;
    long long delivered_bytes;
    double p95; /* < 0 when nothing was delivered */
    long long queued;
    long long database_bytes;
};

/*
 * Takes one snapshot in one transaction (retried on serialization
 * failures): the stat_snapshot row and its stat_queue, stat_table,
 * stat_account and stat_process rows. Returns 0 and fills *res_r, or -1
 * with a heap message in *error_r.
 */
int stt_snapshot_take(struct ofc_db *db, const struct stt_snapshot_args *args,
                      struct stt_snapshot_result *res_r, char **error_r)
    __attribute__((warn_unused_result));

#endif
