/*
 * mon_flow.c - message flow tests: queues, dead, delivery.
 *
 * A queue is stuck when its entries are due and nobody takes them (the
 * worker is stopped or failing): an ERROR. Old entries that wait for a
 * retry, a long queue, or one that grew at every run are WARNINGs: mail
 * is late, not yet lost. Ages are measured from when mail entered the
 * queue (submitted_at), which survives retries.
 */
/* libofc: none; the tests are SQL. */

/* This program. */
#include "mon.h"

/*
 * Every queue as (queue, n, age, due_age, deferred): per-target queues
 * have a row per target with entries ("remote:NODE2", "gateway_out:SMTP.COM").
 * due_age: how long the oldest entry a worker may take has been due.
 */
#define ONE_QUEUE(order, label, from, at, nb, att, extra)                                          \
    "SELECT " order " AS o, " label " AS queue, count(*) AS n, now() - min(" at ") AS age,"        \
    " now() - min(" nb ") FILTER (WHERE " nb " <= now()) AS due_age,"                              \
    " count(*) FILTER (WHERE " att " > 0) AS deferred FROM " from extra

/* The collector queue has no attempts: nothing retries there. */
#define COLLECTOR_QUEUE                                                                            \
    "SELECT 6, 'collector', count(*), now() - min(queued_at),"                                     \
    " now() - min(not_before) FILTER (WHERE not_before <= now()), 0 FROM collector"

/* One queue per line reads better than what clang-format makes of it. */
/* clang-format off */
#define QUEUES                                                                                     \
    "SELECT queue, n, age, due_age, deferred FROM ("                                               \
    ONE_QUEUE("1", "'gateway_in'", "gateway_in", "received_at", "not_before", "attempts", "")      \
    " UNION ALL "                                                                                  \
    ONE_QUEUE("2", "'submission'", "submission", "submitted_at", "not_before", "attempts", "")     \
    " UNION ALL "                                                                                  \
    ONE_QUEUE("3", "'rerouting'", "rerouting", "submitted_at", "not_before", "attempts", "")       \
    " UNION ALL "                                                                                  \
    ONE_QUEUE("4", "'remote:' || t.name", "remote e JOIN node t ON t.id = e.target_node_id",       \
              "e.submitted_at", "e.not_before", "e.attempts", " GROUP BY t.name")                  \
    " UNION ALL "                                                                                  \
    ONE_QUEUE("5", "'gateway_out:' || g.name",                                                     \
              "gateway_out e JOIN gateway g ON g.id = e.gateway_id",                               \
              "e.submitted_at", "e.not_before", "e.attempts", " GROUP BY g.name")                  \
    " UNION ALL " COLLECTOR_QUEUE ") q"
/* clang-format on */

const char mon_queue_lengths_sql[] =
    "UPDATE monitor_run SET queue_lengths = (SELECT jsonb_object_agg(queue, n) FROM (" QUEUES
    ") q) WHERE id = $1::bigint";

/* What to look at, by the kind of queue. */
#define QUEUE_ACTION                                                                               \
    "CASE split_part(q.queue, ':', 1)"                                                             \
    " WHEN 'gateway_in' THEN 'Check that the inbound gateway (SMTP_IN) runs (disp process;) and "  \
    "read its log; disp queue gateway_in; shows each entry''s last error.'"                        \
    " WHEN 'submission' THEN 'Check that a Postman runs (disp process;) and read its log; "        \
    "disp queue submission; shows each entry''s last error.'"                                      \
    " WHEN 'rerouting' THEN 'Check that a Postman runs (disp process;): it moves mail from other " \
    "nodes on to submission; read its log.'"                                                       \
    " WHEN 'remote' THEN 'Check the route and the connection to the target node and that a "       \
    "Postman with RemoteFlag=1 runs; disp queue remote; shows the last errors.'"                   \
    " WHEN 'gateway_out' THEN 'Check that the SMTP process of the gateway runs and that its "      \
    "relay or sendmail accepts mail; disp queue gateway_out; shows the last errors.'"              \
    " ELSE 'Check that a Collector (ofcmgd) whose Task includes messages runs: disp process;' END"

/* clang-format off */

/* $1 QueueAgeWarn, $2 QueueLengthWarn, $3 QueueGrowthRuns, $4 QueueGrowthMin. */
static const char queues_sql[] =
    "WITH q AS (" QUEUES "),"
    " h AS (SELECT q.queue, array_agg(r.n ORDER BY r.id) AS hist"
    "         FROM q CROSS JOIN LATERAL ("
    "              SELECT id, (queue_lengths ->> q.queue)::bigint AS n FROM monitor_run"
    "               WHERE queue_lengths ? q.queue"
    "               ORDER BY id DESC LIMIT greatest($3::int - 1, 0)) r"
    "        GROUP BY q.queue)"
    " SELECT CASE WHEN q.due_age > $1::bigint * interval '1 second' THEN 'ERROR'"
    "             ELSE 'WARNING' END,"
    "        format('queue %s holds %s entr%s; the oldest has waited %s (QueueAgeWarn %s s)%s',"
    "               q.queue, q.n, CASE WHEN q.n = 1 THEN 'y' ELSE 'ies' END,"
    "               date_trunc('second', q.age), $1::bigint,"
    "               CASE WHEN q.due_age > $1::bigint * interval '1 second' THEN format("
    "                        '; entries have been due for %s and nobody takes them',"
    "                        date_trunc('second', q.due_age))"
    "                    WHEN q.deferred > 0 THEN format("
    "                        '; %s wait for a retry after failed attempts', q.deferred)"
    "                    ELSE '' END),"
    "        'queue ' || q.queue, " QUEUE_ACTION
    "   FROM q WHERE q.n > 0 AND q.age > $1::bigint * interval '1 second'"
    " UNION ALL"
    " SELECT 'WARNING', format('queue %s holds %s entries, more than QueueLengthWarn (%s)',"
    "                          q.queue, q.n, $2::bigint),"
    "        'queue ' || q.queue, " QUEUE_ACTION
    "   FROM q WHERE q.n > $2::bigint"
    " UNION ALL"
    " SELECT 'WARNING', format('queue %s has grown at each of the last %s runs: %s', q.queue,"
    "                          $3::int, array_to_string(h.hist || q.n, ' -> ')),"
    "        'queue ' || q.queue, " QUEUE_ACTION
    "   FROM q JOIN h ON h.queue = q.queue"
    "  WHERE $3::int >= 2 AND cardinality(h.hist) = $3::int - 1 AND q.n >= $4::bigint"
    "    AND NOT EXISTS (SELECT 1 FROM unnest(h.hist || q.n) WITH ORDINALITY a(v, i)"
    "                      JOIN unnest(h.hist || q.n) WITH ORDINALITY b(v, i) ON b.i = a.i + 1"
    "                     WHERE b.v <= a.v)";

static const char dead_sql[] =
    "SELECT 'WARNING',"
    "       format('%s message%s in the dead queue, the oldest for %s; reasons: %s', count(*),"
    "              CASE WHEN count(*) = 1 THEN ' is' ELSE 's are' END,"
    "              date_trunc('second', now() - min(dead_at)),"
    "              (SELECT string_agg(format('%s (%s)', left(r.reason, 200), r.c), '; ')"
    "                 FROM (SELECT reason, count(*) AS c FROM dead GROUP BY reason"
    "                        ORDER BY count(*) DESC, reason LIMIT 3) r)),"
    "       'queue dead',"
    "       'Mail there can neither be delivered nor returned. Look at it with disp queue dead; "
    "fix the cause, then requeue dead id=N; (or all) sends it again, or delete dead id=N; "
    "drops it.'"
    "  FROM dead HAVING count(*) > 0";

/* $1 Interval (the window), $2 DeliveryTimeWarn. */
static const char delivery_sql[] =
    "WITH d AS (SELECT message_id, recipient,"
    "                  extract(epoch FROM disposed_at - submitted_at) * 1000 AS ms"
    "             FROM message_billing"
    "            WHERE disposition = 'DELIVERED'"
    "              AND disposed_at > now() - $1::bigint * interval '1 second'),"
    " s AS (SELECT count(*) AS n, percentile_cont(0.95) WITHIN GROUP (ORDER BY ms) AS p95 FROM d),"
    " w AS (SELECT message_id, recipient, ms FROM d ORDER BY ms DESC, message_id LIMIT 1)"
    " SELECT 'WARNING',"
    "        format('95%% of the %s deliveries of the last %s took up to %s ms, more than"
    " DeliveryTimeWarn (%s ms); the slowest took %s ms', s.n,"
    "               $1::bigint * interval '1 second', round(s.p95::numeric), $2::bigint,"
    "               round(w.ms::numeric)),"
    "        format('delivery of message %s to %s', w.message_id, w.recipient),"
    "        'Look for a Postman that is stopped or overloaded (disp process;), a long submission "
    "queue (disp queue;) and a slow database; more Postman instances share the load. Mail that "
    "waited for a retry counts from its first submission.'"
    "   FROM s, w WHERE s.n > 0 AND s.p95 > $2::bigint";

/* clang-format on */

const struct mon_test mon_flow_tests[] = {
    {"queues",
     queues_sql,
     4,
     {MON_P_QUEUE_AGE, MON_P_QUEUE_LENGTH, MON_P_GROWTH_RUNS, MON_P_GROWTH_MIN}},
    {"dead", dead_sql, 0, {MON_P_NODE}},
    {"delivery", delivery_sql, 2, {MON_P_INTERVAL, MON_P_DELIVERY_MS}},
    {NULL, NULL, 0, {MON_P_NODE}},
};
