-- 012_parameter_choices.sql: parameters that take one of a few words.
--
-- Some STRING parameters only make sense as one of a fixed set of words
-- (Transport, RelayStartTLS, LmtpTls). Until now any text was accepted and
-- a typo surfaced later as an error in the process's log. allowed_values
-- lists the words (lower case, compared case-insensitively); NULL means any.

ALTER TABLE process_type_parameter ADD COLUMN allowed_values text[]
    CHECK (allowed_values IS NULL OR cardinality(allowed_values) > 0);

CREATE FUNCTION parameter_value_allowed(vtype text, val text, lo bigint, hi bigint,
                                        allowed text[])
RETURNS boolean LANGUAGE sql IMMUTABLE
    SET search_path = ofc, pg_catalog AS $$
    SELECT parameter_value_valid(vtype, val, lo, hi)
           AND (allowed IS NULL OR lower(val) = ANY (allowed));
$$;

ALTER TABLE process_type_parameter DROP CONSTRAINT process_type_parameter_default_valid;
ALTER TABLE process_type_parameter ADD CONSTRAINT process_type_parameter_default_valid
    CHECK (parameter_value_allowed(value_type, default_value, min_value, max_value,
                                   allowed_values));

CREATE OR REPLACE FUNCTION process_parameter_check() RETURNS trigger LANGUAGE plpgsql
    SET search_path = ofc, pg_catalog AS $$
DECLARE
    d process_type_parameter;
BEGIN
    SELECT * INTO d FROM process_type_parameter WHERE type = NEW.type AND name = NEW.name;
    IF FOUND AND NOT parameter_value_allowed(d.value_type, NEW.value, d.min_value,
                                             d.max_value, d.allowed_values) THEN
        IF d.allowed_values IS NOT NULL THEN
            RAISE EXCEPTION 'invalid value % for parameter % of % (one of: %)', NEW.value,
                NEW.name, NEW.type, array_to_string(d.allowed_values, ', ')
                USING ERRCODE = 'check_violation';
        END IF;
        RAISE EXCEPTION 'invalid value % for parameter % of %', NEW.value, NEW.name, NEW.type
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;

UPDATE process_type_parameter SET allowed_values = '{sendmail,relay}'
 WHERE type = 'SMTP' AND name = 'Transport';
UPDATE process_type_parameter SET allowed_values = '{none,opportunistic,required}'
 WHERE type = 'SMTP' AND name = 'RelayStartTLS';
-- LmtpTls was a BOOL; it also has a third state, "required" (no MAIL before
-- STARTTLS). Existing overrides keep their meaning.
UPDATE process_type_parameter
   SET value_type = 'STRING',
       allowed_values = '{0,1,false,true,no,yes,off,on,required}',
       description = 'STARTTLS on the LMTP listener: off, on (offered) or required'
 WHERE type = 'LMTP' AND name = 'LmtpTls';
