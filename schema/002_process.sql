-- 002_process.sql: the process registry.
--
-- process_type   what can run, and the default of each of its parameters
-- process        registered instances on a node: desired state, schedule,
--                parameter overrides ("tied to the default" until overridden)
-- process_status what actually runs: pid, database session, heartbeat
--
-- The Guardian LISTENs on "ofc_process" and reconciles whenever the desired
-- state changes; every process LISTENs on "ofc_refresh" (see ofc_refresh()).

CREATE TABLE process_type (
    name        text PRIMARY KEY CHECK (name ~ '^[A-Z][A-Z0-9_]*$'),
    executable  text NOT NULL CHECK (executable ~ '^[a-z0-9_]+$'),
    -- Extra arguments, e.g. 'class=5' for the Monitor.
    args        text NOT NULL DEFAULT '',
    -- Log file base: <node>_<log_base><NN>.log, NN only when log_numbered.
    log_base    text NOT NULL,
    log_numbered boolean NOT NULL DEFAULT true,
    -- False for types the Guardian does not fork (the Guardian itself).
    managed     boolean NOT NULL DEFAULT true,
    display_name text NOT NULL,
    description text NOT NULL DEFAULT ''
);

CREATE TABLE process_type_parameter (
    type          text NOT NULL REFERENCES process_type ON DELETE CASCADE ON UPDATE CASCADE,
    name          text NOT NULL CHECK (name ~ '^[A-Za-z][A-Za-z0-9_]*$'),
    value_type    text NOT NULL CHECK (value_type IN ('INT', 'BOOL', 'STRING', 'LOGLEVEL')),
    default_value text NOT NULL,
    min_value     bigint,
    max_value     bigint,
    description   text NOT NULL DEFAULT '',
    PRIMARY KEY (type, name)
);

CREATE TABLE process (
    id            integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    node_id       integer NOT NULL REFERENCES node ON DELETE CASCADE,
    type          text NOT NULL REFERENCES process_type ON DELETE RESTRICT ON UPDATE CASCADE,
    instance      integer NOT NULL CHECK (instance BETWEEN 1 AND 99),
    -- What the administrator asked for (startup/shutdown); the Guardian
    -- makes reality match, within the schedule.
    desired_state text NOT NULL DEFAULT 'STOPPED' CHECK (desired_state IN ('RUNNING', 'STOPPED')),
    -- Gateway processes carry the domain they serve ("SMTP_IN.COM").
    domain_id     integer REFERENCES domain ON DELETE CASCADE,
    description   text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (node_id, type, instance),
    -- Lets process_parameter name (process, type) in one foreign key.
    UNIQUE (id, type)
);

CREATE TABLE process_parameter (
    process_id integer NOT NULL,
    type       text NOT NULL,
    name       text NOT NULL,
    value      text NOT NULL,
    PRIMARY KEY (process_id, name),
    FOREIGN KEY (process_id, type) REFERENCES process (id, type)
        ON DELETE CASCADE ON UPDATE CASCADE,
    FOREIGN KEY (type, name) REFERENCES process_type_parameter (type, name)
        ON DELETE CASCADE ON UPDATE CASCADE
);

-- Time slices in which an instance may run, in the node's time zone. No
-- row means always. days: bit 0 = Sunday ... bit 6 = Saturday. A slice
-- whose end is not after its start runs past midnight.
CREATE TABLE process_schedule (
    id         integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    process_id integer NOT NULL REFERENCES process ON DELETE CASCADE,
    days       smallint NOT NULL DEFAULT 127 CHECK (days BETWEEN 1 AND 127),
    start_time time NOT NULL DEFAULT '00:00',
    end_time   time NOT NULL DEFAULT '00:00'
);
CREATE INDEX process_schedule_process ON process_schedule (process_id);

CREATE TABLE process_status (
    process_id    integer PRIMARY KEY REFERENCES process ON DELETE CASCADE,
    state         text NOT NULL DEFAULT 'STOPPED'
                  CHECK (state IN ('STOPPED', 'STARTING', 'RUNNING', 'STOPPING',
                                   'THROTTLED', 'FAILED')),
    pid           integer,
    backend_pid   integer,
    host          text,
    started_at    timestamptz,
    last_wakeup   timestamptz,
    restarts      integer NOT NULL DEFAULT 0,
    last_exit     text,
    last_exit_at  timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- The Guardian's own row (it is not in `process`: nobody registers or forks
-- it). One per node; held together with an advisory lock.
CREATE TABLE guardian_status (
    node_id     integer PRIMARY KEY REFERENCES node ON DELETE CASCADE,
    pid         integer,
    backend_pid integer,
    host        text,
    started_at  timestamptz,
    last_wakeup timestamptz
);

-- Effective parameters: the override, else the type's default.
CREATE VIEW process_parameter_effective AS
SELECT p.id AS process_id, p.node_id, p.type, p.instance, d.name, d.value_type,
       COALESCE(o.value, d.default_value) AS value,
       o.value IS NULL AS tied_to_default
  FROM process p
  JOIN process_type_parameter d ON d.type = p.type
  LEFT JOIN process_parameter o ON o.process_id = p.id AND o.name = d.name;

-- Parameter values are checked against their type on every write, so a
-- process never reads a value it cannot use.
CREATE FUNCTION parameter_value_valid(vtype text, val text, lo bigint, hi bigint)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF vtype = 'INT' THEN
        IF val !~ '^-?[0-9]{1,18}$' THEN
            RETURN false;
        END IF;
        RETURN (lo IS NULL OR val::bigint >= lo) AND (hi IS NULL OR val::bigint <= hi);
    ELSIF vtype = 'BOOL' THEN
        RETURN lower(val) IN ('0', '1', 'true', 'false', 'yes', 'no', 'on', 'off');
    ELSIF vtype = 'LOGLEVEL' THEN
        RETURN lower(val) IN ('error', 'warn', 'info', 'debug', 'trace');
    END IF;
    RETURN true;
END $$;

ALTER TABLE process_type_parameter ADD CONSTRAINT process_type_parameter_default_valid
    CHECK (parameter_value_valid(value_type, default_value, min_value, max_value));

CREATE FUNCTION process_parameter_check() RETURNS trigger LANGUAGE plpgsql
    SET search_path = ofc, pg_catalog AS $$
DECLARE
    d process_type_parameter;
BEGIN
    SELECT * INTO d FROM process_type_parameter WHERE type = NEW.type AND name = NEW.name;
    IF FOUND AND NOT parameter_value_valid(d.value_type, NEW.value, d.min_value, d.max_value) THEN
        RAISE EXCEPTION 'invalid value % for parameter % of %', NEW.value, NEW.name, NEW.type
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER process_parameter_check BEFORE INSERT OR UPDATE ON process_parameter
    FOR EACH ROW EXECUTE FUNCTION process_parameter_check();

-- Any change to what should run wakes the Guardian of the node.
CREATE FUNCTION process_notify_guardian() RETURNS trigger LANGUAGE plpgsql
    SET search_path = ofc, pg_catalog AS $$
BEGIN
    PERFORM pg_notify('ofc_process', '');
    RETURN NULL;
END $$;
CREATE TRIGGER process_changed AFTER INSERT OR UPDATE OR DELETE ON process
    FOR EACH STATEMENT EXECUTE FUNCTION process_notify_guardian();
CREATE TRIGGER process_schedule_changed AFTER INSERT OR UPDATE OR DELETE ON process_schedule
    FOR EACH STATEMENT EXECUTE FUNCTION process_notify_guardian();
CREATE TRIGGER process_parameter_changed AFTER INSERT OR UPDATE OR DELETE ON process_parameter
    FOR EACH STATEMENT EXECUTE FUNCTION process_notify_guardian();
CREATE TRIGGER process_type_parameter_changed
    AFTER INSERT OR UPDATE OR DELETE ON process_type_parameter
    FOR EACH STATEMENT EXECUTE FUNCTION process_notify_guardian();

-- `refresh`: makes running processes re-read their parameters. target is a
-- process id, a process type name, or '*' for all.
CREATE FUNCTION ofc_refresh(target text) RETURNS void LANGUAGE sql
    SET search_path = ofc, pg_catalog AS $$
    SELECT pg_notify('ofc_refresh', target);
$$;

-- The process types of the Installation Guide's process table.
INSERT INTO process_type (name, executable, args, log_base, log_numbered, managed, display_name, description) VALUES
    ('GUARDIAN',   'ofcguard',   '',        'local_guardian', true,  false, 'Guardian',   'Parent of every other process of the node'),
    ('POSTMAN',    'ofcomd',     '',        'postman',   true,  true, 'Postman',    'Message transfer agent: delivers and routes submitted mail'),
    ('COLLECTOR',  'ofcmgd',     '',        'collector', true,  true, 'Collector',  'Deletes unreferenced messages and expired records'),
    ('REPLICATOR', 'ofcdsd',     '',        'repl',      true,  true, 'Replicator', 'Copies directory changes between subscribing nodes'),
    ('MONITOR',    'ofcmon',     'class=5', 'mon',       false, true, 'Monitor',    'Runs monitor tests and mails reports to ORAPOST'),
    ('STATISTICS', 'ofcmon',     'class=6', 'stt',       false, true, 'Statistics', 'Collects delivery times, queue lengths and space usage'),
    ('IOLISTENER', 'iolistener', '',        'lsnr',      true,  true, 'IOLISTENER', 'Accepts protocol clients and hands them to protocol servers'),
    ('POP3SRV',    'pop3srv',    '',        'pop3',      true,  true, 'POP3SRV',    'POP3 protocol server'),
    ('IMAP4SRV',   'imap4srv',   '',        'imap',      true,  true, 'IMAP4SRV',   'IMAP4 protocol server');

-- Parameters every process has.
INSERT INTO process_type_parameter (type, name, value_type, default_value, min_value, max_value, description)
SELECT t.name, p.name, p.value_type, p.default_value, p.min_value, p.max_value, p.description
  FROM process_type t
 CROSS JOIN (VALUES
    ('LogLevel',          'LOGLEVEL', 'info', NULL::bigint, NULL::bigint,
     'Least severe level written to the log: error, warn, info, debug, trace'),
    ('HeartbeatInterval', 'INT',      '10',   1,    3600,   'Seconds between heartbeats (last_wakeup)'),
    ('HeartbeatTimeout',  'INT',      '120',  5,    86400,  'Seconds without heartbeat after which the Guardian restarts the process'),
    ('PollInterval',      'INT',      '30',   1,    3600,   'Seconds between wake-ups when no notification arrives'),
    ('StopGrace',         'INT',      '10',   1,    600,    'Seconds between SIGTERM and SIGKILL when stopping'),
    ('CrashLoopCount',    'INT',      '5',    1,    1000,   'Exits within CrashLoopWindow that throttle the instance'),
    ('CrashLoopWindow',   'INT',      '60',   1,    86400,  'Seconds over which exits are counted'),
    ('ThrottleCooldown',  'INT',      '300',  1,    86400,  'Seconds a throttled instance waits before the next start')
 ) AS p(name, value_type, default_value, min_value, max_value, description);

INSERT INTO process_type_parameter (type, name, value_type, default_value, min_value, max_value, description) VALUES
    ('POSTMAN', 'RemoteFlag', 'BOOL', '1', NULL, NULL, 'Also moves remote queues to other nodes'),
    ('POSTMAN', 'BatchSize',  'INT',  '50', 1, 10000, 'Queue entries taken per transaction'),
    ('MONITOR', 'ReportAccount', 'STRING', 'ORAPOST', NULL, NULL, 'Account that receives Monitor reports'),
    ('STATISTICS', 'RetentionDays', 'INT', '30', 1, 3650, 'Days statistics snapshots are kept');
