-- 009_collector.sql: what the Collector (ofcmgd) needs.
--
-- The Collector deletes what nothing needs any more, in short batches:
--   messages  a message no mailbox_pointer and no queue row refers to
--   queues    dead entries older than DeadRetentionDays; gateway_in
--             entries nobody took within GatewayInMaxAgeDays go to dead
--   billing   message_billing rows older than BillingRetentionDays
-- Its Task parameter says which of these an instance does, so that
-- several instances can run different jobs on different schedules.
--
-- When is a message unreferenced? refcount (004) counts its pointers; the
-- queues that hold a stored message (submission, rerouting, remote,
-- gateway_out, dead) protect it with foreign keys. message_queued() below
-- is the one definition of "a queue still holds it"; a later migration
-- that adds a queue holding messages redefines it.
--
-- How messages reach the Collector: the pointer trigger of 004 queues a
-- message whose last pointer goes; queue_released() below queues one whose
-- last queue row goes while no pointer holds it (mail that bounced for
-- every recipient, sent by a gateway, purged from dead). A periodic sweep
-- over refcount = 0 catches the rest (a transaction that referenced a
-- message while the Collector looked at it and then rolled back).
--
-- Why deleting is safe without a grace period: every writer stores a
-- message and refers to it (pointer or queue row) in one transaction, and
-- the Collector first locks each candidate FOR UPDATE SKIP LOCKED, which
-- skips a message that an uncommitted transaction is referring to (its
-- foreign key check holds FOR KEY SHARE on the message row) and keeps any
-- new reference out until the Collector commits; then a second statement,
-- with a fresh snapshot, checks refcount and the queues again and
-- deletes. MessageGraceSeconds is the margin for writers that would store
-- a message in one transaction and refer to it in a later one: nothing
-- younger is deleted.

-- "A queue still holds message mid." Plain SQL without SET so that the
-- planner inlines it into the Collector's statements (an anti-join on each
-- queue's message_id index).
CREATE FUNCTION message_queued(mid bigint) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM ofc.submission q WHERE q.message_id = mid)
        OR EXISTS (SELECT 1 FROM ofc.rerouting q WHERE q.message_id = mid)
        OR EXISTS (SELECT 1 FROM ofc.remote q WHERE q.message_id = mid)
        OR EXISTS (SELECT 1 FROM ofc.gateway_out q WHERE q.message_id = mid)
        OR EXISTS (SELECT 1 FROM ofc.dead q WHERE q.message_id = mid)
$$;

-- A message whose last queue row goes while no pointer holds it is queued
-- for the Collector, as the pointer trigger does for the last pointer.
-- Statement-level: the Postman's batch of 50 costs one join, not 50.
-- Entries for messages that are still referenced are harmless: the
-- Collector checks again and drops them.
CREATE FUNCTION queue_released() RETURNS trigger LANGUAGE plpgsql
    SET search_path = ofc, pg_catalog AS $$
BEGIN
    INSERT INTO collector (message_id)
    SELECT m.id FROM message m
      JOIN (SELECT DISTINCT message_id FROM old_rows WHERE message_id IS NOT NULL) o
        ON o.message_id = m.id
     WHERE m.refcount = 0 AND NOT message_queued(m.id);
    RETURN NULL;
END $$;
CREATE TRIGGER submission_released AFTER DELETE ON submission
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION queue_released();
CREATE TRIGGER rerouting_released AFTER DELETE ON rerouting
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION queue_released();
CREATE TRIGGER remote_released AFTER DELETE ON remote
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION queue_released();
CREATE TRIGGER gateway_out_released AFTER DELETE ON gateway_out
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION queue_released();
CREATE TRIGGER dead_released AFTER DELETE ON dead
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION queue_released();

-- The retention purge of dead walks it by age.
CREATE INDEX dead_dead_at ON dead (dead_at);

INSERT INTO process_type_parameter (type, name, value_type, default_value, min_value, max_value, description) VALUES
    ('COLLECTOR', 'Task', 'STRING', 'all', NULL, NULL,
     'What this instance does, a comma list of: messages, queues, billing, all'),
    ('COLLECTOR', 'BatchSize', 'INT', '500', 1, 100000,
     'Rows removed per transaction (each batch is its own short transaction)'),
    ('COLLECTOR', 'MessageGraceSeconds', 'INT', '60', 0, 86400,
     'Seconds a message must have been unreferenced (or stored, for the sweep) before it is deleted'),
    ('COLLECTOR', 'SweepInterval', 'INT', '300', 1, 86400,
     'Seconds between the periodic passes: the sweep for unreferenced messages, queue and billing retention'),
    ('COLLECTOR', 'DeadRetentionDays', 'INT', '30', 0, 36500,
     'Days dead entries are kept (their messages are then released); 0: forever'),
    ('COLLECTOR', 'GatewayInMaxAgeDays', 'INT', '7', 0, 3650,
     'Days after which a gateway_in entry still not processed goes to the dead queue; 0: never'),
    ('COLLECTOR', 'BillingRetentionDays', 'INT', '90', 0, 36500,
     'Days message billing records are kept; 0: forever'),
    ('COLLECTOR', 'LockTimeout', 'INT', '1000', 1, 600000,
     'Milliseconds the Collector waits for a lock before it gives way and tries later');

-- A Task the Collector cannot read is refused when it is written, so that
-- oomgr reports the mistake instead of the process ignoring it later.
CREATE FUNCTION collector_task_valid(val text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT lower(val) ~ '^\s*(messages|queues|billing|all)(\s*,\s*(messages|queues|billing|all))*\s*$'
$$;

CREATE FUNCTION collector_task_check() RETURNS trigger LANGUAGE plpgsql
    SET search_path = ofc, pg_catalog AS $$
BEGIN
    IF NEW.type = 'COLLECTOR' AND NEW.name = 'Task' AND NOT collector_task_valid(NEW.value) THEN
        RAISE EXCEPTION 'invalid value % for parameter Task of COLLECTOR (a comma list of messages, queues, billing, all)',
            NEW.value USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER collector_task_check BEFORE INSERT OR UPDATE ON process_parameter
    FOR EACH ROW EXECUTE FUNCTION collector_task_check();
