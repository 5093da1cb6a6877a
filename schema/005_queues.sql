-- 005_queues.sql: the node's queues, names from the original.
--
-- A worker takes entries with
--     SELECT ... WHERE not_before <= now() ORDER BY id
--      LIMIT n FOR UPDATE SKIP LOCKED
-- does the work and deletes (or moves) the entry in the same transaction.
-- Inserting NOTIFYs the queue's channel so workers sleep on their database
-- socket instead of polling. Queue tables churn: autovacuum is told to
-- clean them after a few hundred dead rows, not after 20% of the table.

CREATE TABLE gateway_in (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source      text NOT NULL CHECK (source IN ('OFCUTO', 'LMTP', 'SMTP')),
    gateway_id  integer REFERENCES gateway ON DELETE SET NULL,
    -- Envelope sender; '' is the null reverse-path.
    sender      text NOT NULL,
    recipients  text[] NOT NULL CHECK (cardinality(recipients) > 0),
    raw         bytea NOT NULL,
    -- Who handed it over: peer address, HELO/LHLO name, mailer arguments.
    client      text NOT NULL DEFAULT '',
    received_at timestamptz NOT NULL DEFAULT now(),
    not_before  timestamptz NOT NULL DEFAULT now(),
    attempts    integer NOT NULL DEFAULT 0,
    last_error  text
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 500,
        autovacuum_vacuum_cost_delay = 0, autovacuum_analyze_scale_factor = 0,
        autovacuum_analyze_threshold = 1000);
ALTER TABLE gateway_in ALTER COLUMN raw SET STORAGE EXTERNAL;
CREATE INDEX gateway_in_take ON gateway_in (not_before, id);

-- Messages targeted for this node or sent by its users, stored already.
CREATE TABLE submission (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id     bigint NOT NULL REFERENCES message ON DELETE RESTRICT,
    sender         text NOT NULL,
    recipients     text[] NOT NULL CHECK (cardinality(recipients) > 0),
    origin_node_id integer REFERENCES node ON DELETE SET NULL,
    -- When the message entered the system: delivery-time statistics.
    submitted_at   timestamptz NOT NULL DEFAULT now(),
    not_before     timestamptz NOT NULL DEFAULT now(),
    attempts       integer NOT NULL DEFAULT 0,
    last_error     text
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 500,
        autovacuum_vacuum_cost_delay = 0, autovacuum_analyze_scale_factor = 0,
        autovacuum_analyze_threshold = 1000);
CREATE INDEX submission_take ON submission (not_before, id);
CREATE INDEX submission_message ON submission (message_id);

-- Messages received from other nodes, waiting to be moved to submission.
CREATE TABLE rerouting (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id     bigint NOT NULL REFERENCES message ON DELETE RESTRICT,
    sender         text NOT NULL,
    recipients     text[] NOT NULL CHECK (cardinality(recipients) > 0),
    from_node_id   integer REFERENCES node ON DELETE SET NULL,
    submitted_at   timestamptz NOT NULL DEFAULT now(),
    not_before     timestamptz NOT NULL DEFAULT now(),
    attempts       integer NOT NULL DEFAULT 0,
    last_error     text
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 500,
        autovacuum_vacuum_cost_delay = 0);
CREATE INDEX rerouting_take ON rerouting (not_before, id);
CREATE INDEX rerouting_message ON rerouting (message_id);

-- One logical remote queue per target node.
CREATE TABLE remote (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    target_node_id integer NOT NULL REFERENCES node ON DELETE RESTRICT,
    message_id     bigint NOT NULL REFERENCES message ON DELETE RESTRICT,
    sender         text NOT NULL,
    recipients     text[] NOT NULL CHECK (cardinality(recipients) > 0),
    submitted_at   timestamptz NOT NULL DEFAULT now(),
    not_before     timestamptz NOT NULL DEFAULT now(),
    attempts       integer NOT NULL DEFAULT 0,
    last_error     text
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 500,
        autovacuum_vacuum_cost_delay = 0);
CREATE INDEX remote_take ON remote (target_node_id, not_before, id);
CREATE INDEX remote_message ON remote (message_id);

-- One logical outbound queue per gateway.
CREATE TABLE gateway_out (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    gateway_id   integer NOT NULL REFERENCES gateway ON DELETE RESTRICT,
    message_id   bigint NOT NULL REFERENCES message ON DELETE RESTRICT,
    sender       text NOT NULL,
    recipients   text[] NOT NULL CHECK (cardinality(recipients) > 0),
    -- RFC 3461 parameters (ENVID, RET, per-recipient NOTIFY/ORCPT).
    dsn          jsonb,
    submitted_at timestamptz NOT NULL DEFAULT now(),
    not_before   timestamptz NOT NULL DEFAULT now(),
    attempts     integer NOT NULL DEFAULT 0,
    last_error   text
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 500,
        autovacuum_vacuum_cost_delay = 0);
CREATE INDEX gateway_out_take ON gateway_out (gateway_id, not_before, id);
CREATE INDEX gateway_out_message ON gateway_out (message_id);

-- Mail that can neither be delivered nor returned. Either a stored message
-- or, when it never got that far, the raw bytes.
CREATE TABLE dead (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id  bigint REFERENCES message ON DELETE RESTRICT,
    raw         bytea,
    sender      text NOT NULL DEFAULT '',
    recipients  text[] NOT NULL DEFAULT '{}',
    from_queue  text NOT NULL,
    reason      text NOT NULL,
    dead_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (message_id IS NOT NULL OR raw IS NOT NULL)
);
CREATE INDEX dead_message ON dead (message_id) WHERE message_id IS NOT NULL;

-- Messages no folder points to any more (filled by the pointer trigger);
-- the Collector deletes each one unless a queue still holds it.
CREATE TABLE collector (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id bigint NOT NULL,
    queued_at  timestamptz NOT NULL DEFAULT now(),
    not_before timestamptz NOT NULL DEFAULT now()
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 500,
        autovacuum_vacuum_cost_delay = 0);
CREATE INDEX collector_take ON collector (not_before, id);

-- Wake-ups. Statement-level, so a batch insert sends one notification.
CREATE FUNCTION queue_notify() RETURNS trigger LANGUAGE plpgsql
    SET search_path = ofc, pg_catalog AS $$
BEGIN
    PERFORM pg_notify(TG_ARGV[0], '');
    RETURN NULL;
END $$;
CREATE TRIGGER gateway_in_notify AFTER INSERT ON gateway_in
    FOR EACH STATEMENT EXECUTE FUNCTION queue_notify('ofc_gateway_in');
CREATE TRIGGER submission_notify AFTER INSERT ON submission
    FOR EACH STATEMENT EXECUTE FUNCTION queue_notify('ofc_submission');
CREATE TRIGGER rerouting_notify AFTER INSERT ON rerouting
    FOR EACH STATEMENT EXECUTE FUNCTION queue_notify('ofc_rerouting');
CREATE TRIGGER dead_notify AFTER INSERT ON dead
    FOR EACH STATEMENT EXECUTE FUNCTION queue_notify('ofc_dead');
CREATE TRIGGER collector_notify AFTER INSERT ON collector
    FOR EACH STATEMENT EXECUTE FUNCTION queue_notify('ofc_collector');

-- Per-target queues say which target has work.
CREATE FUNCTION remote_notify() RETURNS trigger LANGUAGE plpgsql
    SET search_path = ofc, pg_catalog AS $$
BEGIN
    PERFORM pg_notify('ofc_remote', target_node_id::text)
       FROM (SELECT DISTINCT target_node_id FROM new_rows) s;
    RETURN NULL;
END $$;
CREATE TRIGGER remote_notify AFTER INSERT ON remote REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION remote_notify();

CREATE FUNCTION gateway_out_notify() RETURNS trigger LANGUAGE plpgsql
    SET search_path = ofc, pg_catalog AS $$
BEGIN
    PERFORM pg_notify('ofc_gateway_out', gateway_id::text)
       FROM (SELECT DISTINCT gateway_id FROM new_rows) s;
    RETURN NULL;
END $$;
CREATE TRIGGER gateway_out_notify AFTER INSERT ON gateway_out REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gateway_out_notify();
