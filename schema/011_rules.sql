-- 011_rules.sql: auto-messages and server-side rules, applied by the
-- Postman to each local recipient before its delivery (postman/main.c),
-- set with oomgr (admin/oomgr/rule.c).

-- Rules of an account, applied in position order. Every condition given
-- must hold (NULL: not tested). Patterns are case-insensitive: a glob
-- when they hold * or ?, else a substring.
CREATE TABLE account_rule (
    account_id     bigint NOT NULL REFERENCES account ON DELETE CASCADE,
    position       integer NOT NULL CHECK (position >= 1),
    enabled        boolean NOT NULL DEFAULT true,
    from_pattern    text,
    to_pattern      text,   -- To or Cc
    subject_pattern text,
    header_name     text CHECK (header_name IS NULL OR header_name ~ '^[!-9;-~]+$'),
    header_pattern  text,
    larger          bigint CHECK (larger >= 0),
    smaller         bigint CHECK (smaller >= 0),
    action         text NOT NULL CHECK (action IN ('fileinto', 'forward', 'reply', 'discard',
                                                    'flag')),
    folder         text,
    address        text,
    template       text,
    flag           text,
    -- No further rule after this one when it matches.
    stop           boolean NOT NULL DEFAULT false,
    PRIMARY KEY (account_id, position),
    CHECK ((header_name IS NULL) = (header_pattern IS NULL)),
    CHECK (action <> 'fileinto' OR folder IS NOT NULL),
    CHECK (action <> 'forward' OR address IS NOT NULL),
    CHECK (action <> 'reply' OR template IS NOT NULL),
    CHECK (action <> 'flag' OR flag IS NOT NULL)
);

-- The vacation message (RFC 3834): at most one per sender per `days`.
CREATE TABLE autoreply (
    account_id bigint PRIMARY KEY REFERENCES account ON DELETE CASCADE,
    enabled    boolean NOT NULL DEFAULT true,
    subject    text NOT NULL DEFAULT '',   -- '' means "Re: <original subject>"
    body       text NOT NULL DEFAULT '',
    days       integer NOT NULL DEFAULT 7 CHECK (days >= 1),
    start_at   timestamptz,
    end_at     timestamptz
);

-- Who was answered when: written in the delivery's transaction, so a
-- retried batch never answers twice.
CREATE TABLE autoreply_sent (
    account_id bigint NOT NULL REFERENCES account ON DELETE CASCADE,
    sender_key text NOT NULL CHECK (sender_key = lower(sender_key)),
    last_sent  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, sender_key)
);

CREATE TABLE autoforward (
    account_id bigint PRIMARY KEY REFERENCES account ON DELETE CASCADE,
    addresses  text[] NOT NULL CHECK (cardinality(addresses) >= 1),
    keep_copy  boolean NOT NULL DEFAULT true
);
