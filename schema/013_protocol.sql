-- 013_protocol.sql: the Scalable Protocol Server (iolistener, pop3srv,
-- imap4srv): their parameters, what an instance reports about its
-- clients, and the POP3 maildrop lock.

INSERT INTO process_type_parameter (type, name, value_type, default_value, min_value, max_value, description)
SELECT t.type, p.name, p.value_type,
       CASE WHEN t.type = 'IMAP4SRV' AND p.name = 'IdleTimeout' THEN '1800'
            WHEN t.type = 'IMAP4SRV' AND p.name = 'MaxLineLength' THEN '65536'
            ELSE p.default_value END,
       p.min_value, p.max_value, p.description
  FROM (VALUES ('POP3SRV'), ('IMAP4SRV')) AS t(type)
 CROSS JOIN (VALUES
    ('WorkerThreads',    'INT',  '4',    1::bigint, 256::bigint,
     'Threads that run requests (each holds a database connection while it works)'),
    ('DbConnections',    'INT',  '4',    1,    256,
     'Database connections in the pool shared by all clients of the instance'),
    ('MaxClients',       'INT',  '5000', 1,    1000000,
     'Clients the instance serves at once; iolistener sends no more'),
    ('IdleTimeout',      'INT',  '600',  10,   86400,
     'Seconds without a command after which a client is logged out'),
    ('MaxLineLength',    'INT',  '8192', 512,  16777216,
     'Longest command line accepted, in octets'),
    ('AuthFailureDelay', 'INT',  '2',    0,    60,
     'Seconds a failed login waits before its answer'),
    ('PlaintextAuth',    'BOOL', '1',    NULL, NULL,
     'Allows passwords on connections without TLS'),
    ('AuthCacheTtl',     'INT',  '300',  0,    86400,
     'Seconds a verified login is remembered (salted digest; a password change invalidates it); 0 = off')
 ) AS p(name, value_type, default_value, min_value, max_value, description);

INSERT INTO process_type_parameter (type, name, value_type, default_value, min_value, max_value, description) VALUES
    ('IMAP4SRV', 'MaxLiteralLength', 'INT', '52428800', 1024, 2147483647,
     'Largest literal (APPEND message) accepted, in octets'),
    ('IOLISTENER', 'ListenAddress', 'STRING', '*', NULL, NULL,
     'Address the listener binds: * (every IPv4 and IPv6 address), or one IP address'),
    ('IOLISTENER', 'Backlog', 'INT', '511', 1, 65535,
     'Connections the kernel queues for accept');

-- What each protocol server instance reports on its heartbeat (the
-- planning guide's Probe; Statistics reads it).
CREATE TABLE sps_status (
    process_id  integer PRIMARY KEY REFERENCES process ON DELETE CASCADE,
    clients     integer NOT NULL DEFAULT 0 CHECK (clients >= 0),
    tls_clients integer NOT NULL DEFAULT 0 CHECK (tls_clients >= 0),
    logged_in   integer NOT NULL DEFAULT 0 CHECK (logged_in >= 0),
    pool_size   integer NOT NULL DEFAULT 0 CHECK (pool_size >= 0),
    pool_busy   integer NOT NULL DEFAULT 0 CHECK (pool_busy >= 0),
    jobs_queued integer NOT NULL DEFAULT 0 CHECK (jobs_queued >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- RFC 1939 §8: one POP3 session per maildrop. The holder is a protocol
-- server instance; an instance clears its own locks when it starts (a
-- killed instance leaves them behind), and a lock whose instance is not
-- RUNNING is stale and may be taken over.
CREATE TABLE pop3_lock (
    account_id bigint PRIMARY KEY REFERENCES account ON DELETE CASCADE,
    process_id integer NOT NULL REFERENCES process ON DELETE CASCADE,
    session    text NOT NULL,
    locked_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pop3_lock_process ON pop3_lock (process_id);
