-- 010_gateway_out.sql: the outbound SMTP gateway (process type SMTP).
--
-- The Postman puts mail for external recipients on gateway_out, in the
-- queue of the cheapest gateway whose gateway_route matches (005, 001).
-- The SMTP process ("ofcgwout"), registered per domain like SMTP_IN and
-- shown as SMTP.<domain>, sends the entries of the SMTP gateway of its
-- domain: through the local sendmail (`sendmail -oi -f <sender> -- rcpt...`)
-- or over SMTP to a relay (STARTTLS). Temporary failures wait with a
-- doubling delay; permanent ones, and entries older than ExpireHours, go
-- back to the sender as a report (RFC 3464).
--
-- So that external mail has a way out at all, every node gets one SMTP
-- gateway for its top domain, named SMTP.<DOMAIN>, with the catch-all
-- route '*' at a high cost: any more specific route an administrator adds
-- at a lower cost wins. gateway_smtp_default() makes it, here for an
-- upgraded node and in `ofcsetup create-node` for a new one.

INSERT INTO process_type (name, executable, args, log_base, log_numbered, managed, display_name, description) VALUES
    ('SMTP', 'ofcgwout', '', 'smtp', true, true, 'SMTP',
     'Outbound SMTP gateway: sends gateway_out through sendmail or an SMTP relay');

-- The parameters every process has (same list as 002 and 008).
INSERT INTO process_type_parameter (type, name, value_type, default_value, min_value, max_value, description)
SELECT 'SMTP', p.name, p.value_type, p.default_value, p.min_value, p.max_value, p.description
  FROM (VALUES
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

-- Timeouts stay below HeartbeatTimeout: one send happens between two
-- heartbeats, and a process silent for longer is restarted.
INSERT INTO process_type_parameter (type, name, value_type, default_value, min_value, max_value, description) VALUES
    ('SMTP', 'Transport',     'STRING', 'sendmail', NULL, NULL,
     'sendmail: hand each message to SendmailPath; relay: send it over SMTP to RelayHost'),
    ('SMTP', 'SendmailPath',  'STRING', '/usr/sbin/sendmail', NULL, NULL,
     'The sendmail program (absolute path), run as: SendmailPath SendmailArgs -oi -f <sender> -- <recipients>'),
    ('SMTP', 'SendmailArgs',  'STRING', '', NULL, NULL,
     'Extra arguments before -oi, separated by spaces (e.g. -C /etc/mail/private.cf)'),
    ('SMTP', 'RelayHost',     'STRING', '', NULL, NULL, 'Host name or address of the SMTP relay'),
    ('SMTP', 'RelayPort',     'INT',    '25', 1, 65535, 'TCP port of the SMTP relay'),
    ('SMTP', 'RelayStartTLS', 'STRING', 'opportunistic', NULL, NULL,
     'none; opportunistic: STARTTLS when offered, certificate not checked; required: STARTTLS and a verified certificate for RelayHost'),
    ('SMTP', 'RelayCAFile',   'STRING', '', NULL, NULL,
     'CA certificates (PEM) that verify the relay; empty: tls_ca of ofcmail.conf, else the system''s'),
    ('SMTP', 'RelayHelo',     'STRING', '', NULL, NULL, 'Name in EHLO/HELO; empty: <node>.<domain> in lower case'),
    ('SMTP', 'BatchSize',     'INT',    '20', 1, 10000, 'gateway_out entries sent per wake-up (one transaction each)'),
    ('SMTP', 'RetryInitialSeconds', 'INT', '60', 1, 86400,
     'Delay after the first temporary failure; doubles with each further one'),
    ('SMTP', 'RetryMaxSeconds', 'INT',  '3600', 1, 604800, 'Longest delay between two attempts'),
    ('SMTP', 'ExpireHours',   'INT',    '120', 1, 8760,
     'Hours after submission after which an entry still failing temporarily is returned to the sender'),
    ('SMTP', 'ConnectTimeout', 'INT',   '30', 1, 3600, 'Seconds to connect to the relay (each address)'),
    ('SMTP', 'CommandTimeout', 'INT',   '90', 1, 3600,
     'Seconds to wait for each reply of the relay, or for sendmail to finish');

-- The SMTP gateway of a node's domain with the catch-all route, unless the
-- node has an SMTP gateway already. Returns the gateway's id (NULL when
-- one existed).
CREATE FUNCTION gateway_smtp_default(node integer, dom integer) RETURNS integer
    LANGUAGE plpgsql SET search_path = ofc, pg_catalog AS $$
DECLARE
    gid integer;
BEGIN
    IF EXISTS (SELECT 1 FROM gateway WHERE node_id = node AND type = 'SMTP') THEN
        RETURN NULL;
    END IF;
    INSERT INTO gateway (name, type, node_id, domain_id, description)
    SELECT 'SMTP.' || upper(d.fqdn), 'SMTP', node, d.id, 'Outbound SMTP (sendmail or relay)'
      FROM domain d WHERE d.id = dom
    ON CONFLICT (name) DO NOTHING
    RETURNING id INTO gid;
    IF gid IS NOT NULL THEN
        INSERT INTO gateway_route (gateway_id, pattern, cost) VALUES (gid, '*', 100);
    END IF;
    RETURN gid;
END $$;

-- An upgraded node: one SMTP instance for its first top domain (as 008
-- did for SMTP_IN), and the default gateway.
INSERT INTO process (node_id, type, instance, desired_state, domain_id)
SELECT n.id, 'SMTP', 1, 'STOPPED',
       (SELECT d.id FROM domain d
         WHERE d.parent_id IS NULL AND d.confignode_id = n.id ORDER BY d.id LIMIT 1)
  FROM node n
 WHERE n.is_local
ON CONFLICT (node_id, type, instance) DO NOTHING;

SELECT gateway_smtp_default(n.id, d.id)
  FROM node n
  JOIN LATERAL (SELECT d.id FROM domain d
                 WHERE d.parent_id IS NULL AND d.confignode_id = n.id
                 ORDER BY d.id LIMIT 1) d ON true
 WHERE n.is_local;
