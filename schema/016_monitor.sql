-- 016_monitor.sql: the Monitor (ofcmon class=5).
--
-- The Monitor runs the planning guide's tests (message flow, database
-- space, configuration problems, missing objects and references) every
-- Interval seconds, and when an administrator asks (oomgr `run monitor`).
-- A run is one transaction: its monitor_run row, one monitor_finding row
-- per problem found, and the report mailed to ReportAccount (ORAPOST): a
-- stored message put on submission, which the Postman delivers. A run
-- that finds nothing mails nothing unless ReportEmpty is set.
--
-- monitor_test is the catalogue of tests: the Tests parameter and `run
-- monitor test=...` name tests or their categories, and are checked
-- against it when written.

CREATE TABLE monitor_test (
    name        text PRIMARY KEY CHECK (name ~ '^[a-z]+$'),
    category    text NOT NULL CHECK (category IN ('flow', 'space', 'config', 'references')),
    seq         integer NOT NULL UNIQUE,
    description text NOT NULL
);

INSERT INTO monitor_test (name, category, seq, description) VALUES
    ('queues',     'flow',       10, 'Queues whose oldest entry is older than QueueAgeWarn, longer than QueueLengthWarn, or growing run after run'),
    ('dead',       'flow',       20, 'Mail in the dead queue'),
    ('delivery',   'flow',       30, 'Delivery times (message billing) over DeliveryTimeWarn'),
    ('space',      'space',      40, 'Database size, largest tables and dead rows over their thresholds'),
    ('processes',  'config',     50, 'Registered processes wanted running that are not (stopped, backing off, throttled, failed, silent), and the Guardian'),
    ('accounts',   'config',     60, 'Accounts whose home node is unknown, or another node this node has no route to'),
    ('domains',    'config',     70, 'Domains without a configuration node'),
    ('gateways',   'config',     80, 'Gateways without a route, and SMTP processes without a gateway'),
    ('pointers',   'references', 90, 'Folder pointers and queue entries that refer to missing messages'),
    ('refcounts',  'references', 100, 'Messages whose reference count, and folders whose totals, differ from their pointers'),
    ('inboxes',    'references', 110, 'Accounts of this node without an INBOX'),
    ('lists',      'references', 120, 'Distribution lists and aliases whose members or targets name nothing');

-- A Tests value (a comma list of test names, categories, or "all") as the
-- test names it means, in catalogue order; NULL when a word is unknown or
-- the list is empty.
CREATE FUNCTION monitor_tests_expand(val text) RETURNS text[] LANGUAGE sql STABLE
    SET search_path = ofc, pg_catalog AS $$
    WITH w AS (SELECT lower(btrim(x, E' \t')) AS word
                 FROM regexp_split_to_table(coalesce(val, ''), ',') AS x
                WHERE btrim(x, E' \t') <> '')
    SELECT CASE
        WHEN NOT EXISTS (SELECT 1 FROM w) THEN NULL
        WHEN EXISTS (SELECT 1 FROM w
                      WHERE w.word <> 'all'
                        AND NOT EXISTS (SELECT 1 FROM monitor_test t
                                         WHERE w.word IN (t.name, t.category))) THEN NULL
        ELSE ARRAY(SELECT t.name FROM monitor_test t
                    WHERE EXISTS (SELECT 1 FROM w WHERE w.word IN ('all', t.name, t.category))
                    ORDER BY t.seq)
    END
$$;

-- One run of the tests.
CREATE TABLE monitor_run (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The Monitor instance that ran it.
    process_id    integer REFERENCES process ON DELETE SET NULL,
    -- SCHEDULED (every Interval) or REQUESTED (oomgr run monitor).
    trigger       text NOT NULL CHECK (trigger IN ('SCHEDULED', 'REQUESTED')),
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    tests         text[] NOT NULL,
    errors        integer NOT NULL DEFAULT 0 CHECK (errors >= 0),
    warnings      integer NOT NULL DEFAULT 0 CHECK (warnings >= 0),
    infos         integer NOT NULL DEFAULT 0 CHECK (infos >= 0),
    -- The report mailed to report_to; NULL when none was sent. No foreign
    -- key: the message belongs to the store, and the Collector deletes it
    -- when ORAPOST does.
    report_message_id bigint,
    report_to     text,
    -- Entries per queue at this run ({"submission": 3, ...}): the queues
    -- test compares runs to see a queue grow.
    queue_lengths jsonb
);
CREATE INDEX monitor_run_started ON monitor_run (started_at);

CREATE TABLE monitor_finding (
    run_id    bigint NOT NULL REFERENCES monitor_run ON DELETE CASCADE,
    seq       integer NOT NULL,
    severity  text NOT NULL CHECK (severity IN ('ERROR', 'WARNING', 'INFO')),
    test      text NOT NULL,
    what      text NOT NULL,
    location  text NOT NULL,
    action    text NOT NULL,
    PRIMARY KEY (run_id, seq)
);

-- `run monitor` from oomgr: a row here, and a NOTIFY on ofc_monitor that
-- wakes the Monitor. The Monitor takes it (FOR UPDATE SKIP LOCKED), runs
-- the tests and sets run_id in the run's transaction; oomgr waits for that.
CREATE TABLE monitor_request (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- As typed (NULL: the Tests parameter); checked against the catalogue.
    tests        text CHECK (tests IS NULL OR monitor_tests_expand(tests) IS NOT NULL),
    requested_by text NOT NULL DEFAULT '',
    requested_at timestamptz NOT NULL DEFAULT now(),
    run_id       bigint REFERENCES monitor_run ON DELETE SET NULL,
    done_at      timestamptz
);
CREATE INDEX monitor_request_pending ON monitor_request (id) WHERE done_at IS NULL;

CREATE TRIGGER monitor_request_notify AFTER INSERT ON monitor_request
    FOR EACH STATEMENT EXECUTE FUNCTION queue_notify('ofc_monitor');

-- The Monitor's own parameters (002 gave it the common ones and
-- ReportAccount).
INSERT INTO process_type_parameter (type, name, value_type, default_value, min_value, max_value, description) VALUES
    ('MONITOR', 'Interval',          'INT',    '3600',   60, 604800,
     'Seconds between two scheduled runs of the tests'),
    ('MONITOR', 'Tests',             'STRING', 'all',    NULL, NULL,
     'Tests each scheduled run makes: a comma list of test names (queues, dead, delivery, space, processes, accounts, domains, gateways, pointers, refcounts, inboxes, lists), categories (flow, space, config, references) or all'),
    ('MONITOR', 'ReportEmpty',       'BOOL',   '0',      NULL, NULL,
     'Also mail a report when a run finds nothing'),
    ('MONITOR', 'QueueAgeWarn',      'INT',    '3600',   1, 31536000,
     'Seconds: a queue whose oldest entry is older is reported'),
    ('MONITOR', 'QueueLengthWarn',   'INT',    '1000',   1, 1000000000,
     'Entries: a queue that holds more is reported'),
    ('MONITOR', 'QueueGrowthRuns',   'INT',    '3',      0, 100,
     'Runs in a row over which a queue that grew each time is reported; 0: never'),
    ('MONITOR', 'QueueGrowthMin',    'INT',    '100',    1, 1000000000,
     'Entries a growing queue must hold before it is reported'),
    ('MONITOR', 'DeliveryTimeWarn',  'INT',    '300000', 1, 604800000,
     'Milliseconds: reported when the 95th percentile of delivery times over the last Interval is longer'),
    ('MONITOR', 'DatabaseSizeWarn',  'INT',    '51200',  0, 1073741824,
     'Megabytes: reported when the node''s database is larger; 0: never'),
    ('MONITOR', 'TableSizeWarn',     'INT',    '10240',  0, 1073741824,
     'Megabytes: tables (with indexes and TOAST) larger than this are reported; 0: never'),
    ('MONITOR', 'TableBloatWarn',    'INT',    '50',     0, 100,
     'Percent of dead rows in a table (with at least TableBloatMinRows of them) that is reported; 0: never'),
    ('MONITOR', 'TableBloatMinRows', 'INT',    '10000',  1, 2000000000,
     'Dead rows a table must have before its share of them counts'),
    ('MONITOR', 'RetentionDays',     'INT',    '90',     1, 36500,
     'Days runs and their findings are kept'),
    ('MONITOR', 'TestTimeout',       'INT',    '60',     1, 3600,
     'Seconds one test may take; a test that takes longer is reported as not done');

-- A Tests value the Monitor cannot read is refused when it is written:
-- an instance's value (process_parameter) and the type's default alike.
CREATE FUNCTION monitor_tests_refuse(val text) RETURNS void LANGUAGE plpgsql
    SET search_path = ofc, pg_catalog AS $$
BEGIN
    IF monitor_tests_expand(val) IS NULL THEN
        RAISE EXCEPTION 'invalid value % for parameter Tests of MONITOR (a comma list of: all, %)',
            val,
            (SELECT string_agg(x, ', ' ORDER BY x) FROM (SELECT category AS x FROM monitor_test
                                                          UNION
                                                          SELECT name FROM monitor_test) s)
            USING ERRCODE = 'check_violation';
    END IF;
END $$;

CREATE FUNCTION monitor_tests_check() RETURNS trigger LANGUAGE plpgsql
    SET search_path = ofc, pg_catalog AS $$
BEGIN
    IF NEW.type = 'MONITOR' AND NEW.name = 'Tests' THEN
        PERFORM monitor_tests_refuse(NEW.value);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER monitor_tests_check BEFORE INSERT OR UPDATE ON process_parameter
    FOR EACH ROW EXECUTE FUNCTION monitor_tests_check();

CREATE FUNCTION monitor_tests_default_check() RETURNS trigger LANGUAGE plpgsql
    SET search_path = ofc, pg_catalog AS $$
BEGIN
    IF NEW.type = 'MONITOR' AND NEW.name = 'Tests' THEN
        PERFORM monitor_tests_refuse(NEW.default_value);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER monitor_tests_default_check BEFORE INSERT OR UPDATE ON process_type_parameter
    FOR EACH ROW EXECUTE FUNCTION monitor_tests_default_check();
