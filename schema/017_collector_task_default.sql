-- 017_collector_task_default.sql: the Collector's Task checked as a default too.
--
-- 009 and 015 refuse a Task an instance cannot read when it is set for
-- one instance (process_parameter). `set param Task=... process=collector;`
-- without an instance changes the type's default instead
-- (process_type_parameter), which nothing checked: every Collector that
-- follows the default would then fail to read it. 016 closed the same
-- hole for the Monitor's Tests; this one says it in the same words as the
-- instance check.
CREATE FUNCTION collector_task_default_check() RETURNS trigger LANGUAGE plpgsql
    SET search_path = ofc, pg_catalog AS $$
BEGIN
    IF NEW.type = 'COLLECTOR' AND NEW.name = 'Task'
       AND NOT collector_task_valid(NEW.default_value) THEN
        RAISE EXCEPTION 'invalid value % for parameter Task of COLLECTOR (a comma list of messages, queues, billing, statistics, all)',
            NEW.default_value USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER collector_task_default_check BEFORE INSERT OR UPDATE ON process_type_parameter
    FOR EACH ROW EXECUTE FUNCTION collector_task_default_check();
