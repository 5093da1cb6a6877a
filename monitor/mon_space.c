/*
 * mon_space.c - the database space test.
 *
 * The node's database holds the whole mail store, so its size is the
 * node's disk usage. Reported: the database over DatabaseSizeWarn, the
 * (at most ten) largest tables over TableSizeWarn, counting their
 * indexes and TOAST, and tables where dead rows make up more than
 * TableBloatWarn percent (autovacuum is not keeping up, or a long
 * transaction holds it back). The dead-row counts come from the
 * statistics collector and lag a little behind.
 */
/* This program. */
#include "mon.h"

/* clang-format off */

/* $1 DatabaseSizeWarn, $2 TableSizeWarn, $3 TableBloatWarn, $4 TableBloatMinRows (MB: 1048576). */
static const char space_sql[] =
    "SELECT 'WARNING',"
    "       format('the database %s takes %s, more than DatabaseSizeWarn (%s MB)',"
    "              current_database(), pg_size_pretty(pg_database_size(current_database())),"
    "              $1::bigint),"
    "       format('database %s', current_database()),"
    "       'Make room: shorter retention (the Collector''s DeadRetentionDays and "
    "BillingRetentionDays), quotas and clean-ups for the largest mailboxes; or raise "
    "DatabaseSizeWarn when the growth is expected.'"
    " WHERE $1::bigint > 0 AND pg_database_size(current_database()) > $1::bigint * 1048576"
    " UNION ALL"
    " SELECT * FROM ("
    "  SELECT 'WARNING',"
    "         format('table %s takes %s (indexes %s), more than TableSizeWarn (%s MB)',"
    "                c.relname, pg_size_pretty(pg_total_relation_size(c.oid)),"
    "                pg_size_pretty(pg_indexes_size(c.oid)), $2::bigint),"
    "         format('table %s.%s', n.nspname, c.relname),"
    "         'Find out what fills it (disp queue; for the queues, the retention parameters for "
    "billing and Monitor runs); space that deletes free is reused, and VACUUM FULL gives it "
    "back to the file system.'"
    "    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    "   WHERE n.nspname = 'ofc' AND c.relkind IN ('r', 'm') AND $2::bigint > 0"
    "     AND pg_total_relation_size(c.oid) > $2::bigint * 1048576"
    "   ORDER BY pg_total_relation_size(c.oid) DESC LIMIT 10) big"
    " UNION ALL"
    " SELECT * FROM ("
    "  SELECT 'WARNING',"
    "         format('table %s has %s dead rows, %s%% of its rows (TableBloatWarn %s%%)',"
    "                relname, n_dead_tup,"
    "                round(100.0 * n_dead_tup / greatest(n_live_tup + n_dead_tup, 1)),"
    "                $3::int),"
    "         format('table %s.%s', schemaname, relname),"
    "         format('Run VACUUM (ANALYZE) ofc.%s; check that autovacuum runs and that no "
    "transaction stays open for long (pg_stat_activity).', relname)"
    "    FROM pg_stat_user_tables"
    "   WHERE schemaname = 'ofc' AND $3::int > 0 AND n_dead_tup >= $4::bigint"
    "     AND n_dead_tup * 100 > $3::int * (n_live_tup + n_dead_tup)"
    "   ORDER BY n_dead_tup DESC LIMIT 10) bloat";

/* clang-format on */

const struct mon_test mon_space_tests[] = {
    {"space", space_sql, 4, {MON_P_DB_MB, MON_P_TABLE_MB, MON_P_BLOAT_PCT, MON_P_BLOAT_MIN_ROWS}},
    {NULL, NULL, 0, {MON_P_NODE}},
};
