-- 006_billing.sql: message billing records.
--
-- One row per recipient per message as the Postman disposes of it. They
-- outlive the message (no foreign key to it): the Collector purges them
-- after their retention period. Statistics reads delivery times from here.

CREATE TABLE message_billing (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id    bigint NOT NULL,
    node_id       integer REFERENCES node ON DELETE SET NULL,
    sender        text NOT NULL,
    recipient     text NOT NULL,
    account_id    bigint REFERENCES account ON DELETE SET NULL,
    domain_id     integer REFERENCES domain ON DELETE SET NULL,
    size          bigint NOT NULL CHECK (size >= 0),
    disposition   text NOT NULL CHECK (disposition IN ('DELIVERED', 'REMOTE', 'GATEWAY',
                                                       'BOUNCED', 'DEAD', 'FORWARDED')),
    reason        text,
    submitted_at  timestamptz NOT NULL,
    disposed_at   timestamptz NOT NULL DEFAULT now(),
    process_id    integer REFERENCES process ON DELETE SET NULL
) WITH (autovacuum_vacuum_scale_factor = 0.05);
CREATE INDEX message_billing_disposed ON message_billing (disposed_at);
CREATE INDEX message_billing_account ON message_billing (account_id, disposed_at)
    WHERE account_id IS NOT NULL;
