-- 015_statistics.sql: Statistics (ofcmon class=6) snapshots.
--
-- Every Interval seconds the Statistics process stores one snapshot, in
-- one transaction: a stat_snapshot row (delivery times and dispositions
-- of the billing records of its period, database size, account totals)
-- and its detail rows (stat_queue, stat_table, stat_account,
-- stat_process), which go with it (ON DELETE CASCADE). The Collector
-- (Task "statistics") deletes snapshots older than the STATISTICS
-- RetentionDays with stat_purge(). oomgr `disp statistics` and the
-- metrics endpoint read them back.
--
-- Periods: a snapshot counts the billing records whose disposed_at lies in
-- [period_start, period_end). period_end is SettleSeconds before the
-- snapshot, because disposed_at is the disposing transaction's start time
-- and that transaction may commit a little later; period_start is the
-- previous snapshot's period_end, so consecutive periods neither overlap
-- nor leave gaps, and every record is counted exactly once.

CREATE TABLE stat_snapshot (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    node_id         integer NOT NULL REFERENCES node ON DELETE CASCADE,
    process_id      integer REFERENCES process ON DELETE SET NULL,
    taken_at        timestamptz NOT NULL DEFAULT now(),
    period_start    timestamptz NOT NULL,
    period_end      timestamptz NOT NULL,
    -- DELIVERED billing records of the period (one per local recipient),
    -- the distinct messages among them, and their octets (each recipient
    -- counts the full size, as quota does).
    delivered       bigint NOT NULL DEFAULT 0,
    delivered_messages bigint NOT NULL DEFAULT 0,
    delivered_bytes bigint NOT NULL DEFAULT 0,
    -- Delivery time (disposed_at - submitted_at) of those records, in
    -- seconds: interpolated percentiles (percentile_cont), maximum and
    -- sum. NULL when nothing was delivered in the period.
    delivery_p50    double precision,
    delivery_p95    double precision,
    delivery_p99    double precision,
    delivery_max    double precision,
    delivery_sum    double precision,
    -- The other dispositions of the period, in billing records.
    remote          bigint NOT NULL DEFAULT 0,
    gateway         bigint NOT NULL DEFAULT 0,
    bounced         bigint NOT NULL DEFAULT 0,
    dead            bigint NOT NULL DEFAULT 0,
    forwarded       bigint NOT NULL DEFAULT 0,
    -- pg_database_size() of the node's database.
    database_bytes  bigint NOT NULL DEFAULT 0,
    -- Accounts homed on the node, those over their quota, octets they use.
    accounts        bigint NOT NULL DEFAULT 0,
    accounts_over_quota bigint NOT NULL DEFAULT 0,
    account_bytes   bigint NOT NULL DEFAULT 0,
    CHECK (period_end >= period_start)
);
CREATE INDEX stat_snapshot_taken ON stat_snapshot (taken_at);

-- Length and oldest entry of each queue (submission, rerouting, remote,
-- gateway_in, gateway_out, dead, collector); oldest_at is NULL when empty.
CREATE TABLE stat_queue (
    snapshot_id bigint NOT NULL REFERENCES stat_snapshot ON DELETE CASCADE,
    queue       text NOT NULL,
    entries     bigint NOT NULL,
    oldest_at   timestamptz,
    PRIMARY KEY (snapshot_id, queue)
);

-- Space of every table of the ofc schema: total (heap, indexes, TOAST),
-- indexes, and TOAST (with its index).
CREATE TABLE stat_table (
    snapshot_id bigint NOT NULL REFERENCES stat_snapshot ON DELETE CASCADE,
    table_name  text NOT NULL,
    total_bytes bigint NOT NULL,
    index_bytes bigint NOT NULL,
    toast_bytes bigint NOT NULL,
    PRIMARY KEY (snapshot_id, table_name)
);

-- Usage against quota (account_usage) of the AccountTop accounts that use
-- the most octets, plus every account at 90% of its quota or more (0:
-- every account). The address is kept as it was, so that a snapshot
-- still reads after the account is gone.
CREATE TABLE stat_account (
    snapshot_id bigint NOT NULL REFERENCES stat_snapshot ON DELETE CASCADE,
    account_id  bigint NOT NULL,
    address     text NOT NULL,
    bytes       bigint NOT NULL,
    messages    bigint NOT NULL,
    quota_bytes bigint, -- NULL: no limit
    PRIMARY KEY (snapshot_id, account_id)
);

-- Every registered process of the node: its state and restarts
-- (process_status), and for protocol servers what sps_status reports
-- (clients, TLS clients, logged in, pool size and busy connections,
-- queued jobs; 0 when the instance is not running, NULL for other types).
CREATE TABLE stat_process (
    snapshot_id bigint NOT NULL REFERENCES stat_snapshot ON DELETE CASCADE,
    process_id  integer NOT NULL,
    type        text NOT NULL,
    instance    integer NOT NULL,
    state       text NOT NULL,
    restarts    integer NOT NULL,
    clients     integer,
    tls_clients integer,
    logged_in   integer,
    pool_size   integer,
    pool_busy   integer,
    jobs_queued integer,
    PRIMARY KEY (snapshot_id, process_id)
);

INSERT INTO process_type_parameter (type, name, value_type, default_value, min_value, max_value, description) VALUES
    ('STATISTICS', 'Interval', 'INT', '300', 1, 86400, 'Seconds between two snapshots'),
    ('STATISTICS', 'SettleSeconds', 'INT', '30', 0, 3600,
     'A snapshot''s period ends this many seconds before it is taken, so that deliveries still committing are counted in the next one'),
    ('STATISTICS', 'AccountTop', 'INT', '20', 0, 1000000,
     'Accounts using the most space recorded per snapshot (besides every account at 90% of its quota or more); 0: every account'),
    ('STATISTICS', 'MetricsPort', 'INT', '0', 0, 65535,
     'TCP port of the Prometheus metrics endpoint (/metrics); 0: no endpoint'),
    ('STATISTICS', 'MetricsAddress', 'STRING', '127.0.0.1', NULL, NULL,
     'IP address the metrics endpoint binds (IPv4 or IPv6 literal)');

-- The Collector's Task gains the job "statistics" ("all" includes it).
CREATE OR REPLACE FUNCTION collector_task_valid(val text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT lower(val) ~ '^\s*(messages|queues|billing|statistics|all)(\s*,\s*(messages|queues|billing|statistics|all))*\s*$'
$$;

CREATE OR REPLACE FUNCTION collector_task_check() RETURNS trigger LANGUAGE plpgsql
    SET search_path = ofc, pg_catalog AS $$
BEGIN
    IF NEW.type = 'COLLECTOR' AND NEW.name = 'Task' AND NOT collector_task_valid(NEW.value) THEN
        RAISE EXCEPTION 'invalid value % for parameter Task of COLLECTOR (a comma list of messages, queues, billing, statistics, all)',
            NEW.value USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;

UPDATE process_type_parameter
   SET description = 'What this instance does, a comma list of: messages, queues, billing, statistics, all'
 WHERE type = 'COLLECTOR' AND name = 'Task';

-- The retention of snapshots: the largest RetentionDays of the node's
-- STATISTICS instances (the type's default when none is registered).
CREATE FUNCTION stat_retention_days() RETURNS integer LANGUAGE sql STABLE
    SET search_path = ofc, pg_catalog AS $$
    SELECT COALESCE(
        (SELECT max(e.value::integer) FROM process_parameter_effective e
           JOIN node n ON n.id = e.node_id AND n.is_local
          WHERE e.type = 'STATISTICS' AND e.name = 'RetentionDays'),
        (SELECT default_value::integer FROM process_type_parameter
          WHERE type = 'STATISTICS' AND name = 'RetentionDays'),
        30)
$$;

-- Deletes up to batch snapshots (with their detail rows) taken more than
-- stat_retention_days() ago, oldest first, skipping those another
-- transaction holds. Returns how many went.
CREATE FUNCTION stat_purge(batch integer) RETURNS integer LANGUAGE plpgsql
    SET search_path = ofc, pg_catalog AS $$
DECLARE
    n integer;
BEGIN
    WITH old AS (
        SELECT id FROM stat_snapshot
         WHERE taken_at < now() - make_interval(days => stat_retention_days())
         ORDER BY taken_at LIMIT batch FOR UPDATE SKIP LOCKED)
    DELETE FROM stat_snapshot s USING old WHERE s.id = old.id;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
