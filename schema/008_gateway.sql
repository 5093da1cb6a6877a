-- 008_gateway.sql: the inbound gateway (SMTP_IN), the LMTP listener and
-- the gateway's address rewriting rules.
--
-- Mail enters a node in two ways. sendmail runs the `ofcmail` mailer
-- (ofcuto), which stores the message and its envelope in gateway_in; the
-- SMTP_IN process ("ofcutosrv" in the Installation Guide) analyses it,
-- rewrites its envelope, stores it once and puts it on submission. An MTA
-- that speaks LMTP (Postfix, Exim, sendmail) hands mail to the LMTP
-- listener instead, which answers per recipient and also feeds gateway_in.

INSERT INTO process_type (name, executable, args, log_base, log_numbered, managed, display_name, description) VALUES
    -- Unnumbered like the guide's <node>_ofcutosrv.log; registered per
    -- domain (process.domain_id), shown as SMTP_IN.<domain>.
    ('SMTP_IN', 'ofcgwind', '', 'ofcutosrv', false, true, 'SMTP_IN',
     'Inbound SMTP gateway: moves gateway_in to the message store and submission'),
    ('LMTP',    'ofclmtpd', '', 'lmtp',      true,  true, 'LMTP',
     'LMTP listener (RFC 2033): MTAs deliver here with per-recipient replies');

-- The parameters every process has (same list as 002).
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
 ) AS p(name, value_type, default_value, min_value, max_value, description)
 WHERE t.name IN ('SMTP_IN', 'LMTP');

INSERT INTO process_type_parameter (type, name, value_type, default_value, min_value, max_value, description) VALUES
    ('SMTP_IN', 'BatchSize',      'INT',  '50', 1, 10000, 'gateway_in entries taken per wake-up (one transaction each)'),
    ('SMTP_IN', 'MaxAttempts',    'INT',  '5', 1, 1000,
     'Failed attempts after which an entry goes to the dead queue'),
    ('SMTP_IN', 'RetryDelay',     'INT',  '60', 1, 86400, 'Seconds before a failed entry is tried again'),
    ('SMTP_IN', 'AddReceived',    'BOOL', '1', NULL, NULL, 'Prepend a Received: trace field before storing'),
    ('LMTP',    'LmtpAddress',    'STRING', '127.0.0.1', NULL, NULL,
     'TCP address to listen on; empty: no TCP listener'),
    ('LMTP',    'LmtpPort',       'INT',  '0', 0, 65535, 'TCP port; 0: ports.lmtp of ofcmail.conf'),
    ('LMTP',    'LmtpSocket',     'STRING', '', NULL, NULL,
     'Unix socket path to listen on (relative: under the node''s var directory); empty: none'),
    ('LMTP',    'LmtpTls',        'BOOL', '0', NULL, NULL,
     'Offer STARTTLS with the node''s certificate (tls_certificate, tls_key)'),
    ('LMTP',    'MaxMessageSize', 'INT',  '52428800', 1024, 2147483647, 'Largest message accepted, octets'),
    ('LMTP',    'MaxRecipients',  'INT',  '1000', 1, 100000, 'Recipients accepted per transaction'),
    ('LMTP',    'MaxSessions',    'INT',  '100', 1, 10000, 'Concurrent LMTP sessions'),
    ('LMTP',    'Timeout',        'INT',  '300', 5, 3600, 'Seconds a session may stay idle');

-- ofcuto is no registered process (sendmail runs it), but its limits are
-- the node's: it reads them from here in its one statement.
CREATE TABLE gateway_setting (
    name        text PRIMARY KEY CHECK (name ~ '^[A-Za-z][A-Za-z0-9_]*$'),
    value       text NOT NULL,
    description text NOT NULL DEFAULT ''
);
INSERT INTO gateway_setting (name, value, description) VALUES
    ('MaxMessageSize', '52428800', 'Largest message ofcuto accepts, octets (larger: exit 73)');

-- Envelope rewriting applied by the inbound gateway, before submission.
-- For each address the first matching rule (lowest seq, then id; rules of
-- the gateway's domain before global ones) replaces it with
-- regexp_replace(address, pattern, replacement, 'i'); no match keeps it.
CREATE TABLE rewrite_rule (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- NULL: every inbound gateway; else only the one of this domain.
    domain_id   integer REFERENCES domain ON DELETE CASCADE,
    applies_to  text NOT NULL DEFAULT 'RECIPIENT'
                CHECK (applies_to IN ('RECIPIENT', 'SENDER', 'BOTH')),
    seq         integer NOT NULL DEFAULT 100,
    -- A POSIX regular expression (PostgreSQL's ~*), checked on write.
    pattern     text NOT NULL CHECK (pattern <> '' AND length(pattern) <= 1000),
    -- \1..\9 and \& refer to the match, as in regexp_replace().
    replacement text NOT NULL CHECK (length(replacement) <= 1000),
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rewrite_rule_order ON rewrite_rule (seq, id);

-- A rule whose pattern does not compile would fail every message later;
-- refuse it now (the regex engine raises invalid_regular_expression).
CREATE FUNCTION rewrite_rule_check() RETURNS trigger LANGUAGE plpgsql
    SET search_path = ofc, pg_catalog AS $$
BEGIN
    PERFORM '' ~* NEW.pattern;
    RETURN NEW;
END $$;
CREATE TRIGGER rewrite_rule_check BEFORE INSERT OR UPDATE ON rewrite_rule
    FOR EACH ROW EXECUTE FUNCTION rewrite_rule_check();

-- The address after rewriting: kind is 'RECIPIENT' or 'SENDER'; dom the
-- gateway's domain (NULL: global rules only). The null sender '' is never
-- rewritten.
CREATE FUNCTION gateway_rewrite(addr text, kind text, dom integer) RETURNS text
    LANGUAGE sql STABLE SET search_path = ofc, pg_catalog AS $$
    SELECT coalesce((SELECT regexp_replace(addr, r.pattern, r.replacement, 'i')
                       FROM rewrite_rule r
                      WHERE addr <> '' AND addr ~* r.pattern
                        AND r.applies_to IN (kind, 'BOTH')
                        AND (r.domain_id IS NULL OR r.domain_id = dom)
                      ORDER BY r.domain_id IS NULL, r.seq, r.id
                      LIMIT 1), addr)
$$;

-- An upgraded node gets one instance of each new type, as ofcsetup
-- create-node registers for a new one. SMTP_IN serves the node's first top
-- domain.
INSERT INTO process (node_id, type, instance, desired_state, domain_id)
SELECT n.id, t.name, 1, 'STOPPED',
       CASE WHEN t.name = 'SMTP_IN' THEN
           (SELECT d.id FROM domain d
             WHERE d.parent_id IS NULL AND d.confignode_id = n.id ORDER BY d.id LIMIT 1)
       END
  FROM node n CROSS JOIN process_type t
 WHERE n.is_local AND t.name IN ('SMTP_IN', 'LMTP')
ON CONFLICT (node_id, type, instance) DO NOTHING;
