-- 004_store.sql: the single-instance message store and IMAP state.
--
-- A message is stored once per node; every folder that holds it has a
-- mailbox_pointer row (uid, flags, keywords, internaldate, modseq). Quota
-- is charged to each holder for the full size. What IMAP needs from the
-- message (header fields, ENVELOPE, BODYSTRUCTURE, MIME section offsets)
-- is computed once at ingestion and kept here: FETCH never re-parses.

CREATE TABLE message (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Octets of raw exactly as stored and served (RFC822.SIZE).
    size           bigint NOT NULL CHECK (size >= 0),
    raw            bytea NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT now(),
    -- Octets of the header section including the empty line.
    header_size    bigint NOT NULL DEFAULT 0 CHECK (header_size >= 0),
    -- Cached header fields, decoded (RFC 2047) to UTF-8, for SEARCH/SORT.
    hdr_date       timestamptz,
    hdr_subject    text,
    hdr_from       text,
    hdr_to         text,
    hdr_cc         text,
    hdr_bcc        text,
    hdr_message_id text,
    hdr_in_reply_to text,
    -- Ready-to-send IMAP fragments.
    envelope       text,
    bodystructure  text,
    body           text,
    -- MIME parts: {"1.2": [header_start, body_start, end, lines], ...}.
    sections       jsonb,
    -- Number of mailbox_pointer rows (maintained by trigger).
    refcount       integer NOT NULL DEFAULT 0 CHECK (refcount >= 0),
    CHECK (octet_length(raw) = size)
);
-- Messages are written once and read in pieces (BODY[]<partial>); no
-- compression lets substring() read only the TOAST chunks it needs.
ALTER TABLE message ALTER COLUMN raw SET STORAGE EXTERNAL;
CREATE INDEX message_unreferenced ON message (id) WHERE refcount = 0;

-- Every header field, unfolded and decoded, in order: SEARCH HEADER.
CREATE TABLE message_header (
    message_id bigint NOT NULL REFERENCES message ON DELETE CASCADE,
    seq        integer NOT NULL,
    name       text NOT NULL CHECK (name = lower(name)),
    value      text NOT NULL,
    PRIMARY KEY (message_id, seq)
);

CREATE SEQUENCE uidvalidity_seq;

CREATE TABLE mailbox (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id     bigint NOT NULL REFERENCES account ON DELETE CASCADE,
    -- UTF-8, hierarchy delimiter '/', 'INBOX' always spelled so.
    name           text NOT NULL CHECK (name <> '' AND length(name) <= 1024
                                        AND name !~ '(^/|/$|//)'),
    -- A mailbox deleted and created again under the same name gets a new,
    -- larger UIDVALIDITY: it comes from a sequence, never from the name.
    uidvalidity    bigint NOT NULL DEFAULT nextval('uidvalidity_seq')
                   CHECK (uidvalidity BETWEEN 1 AND 4294967295),
    uidnext        bigint NOT NULL DEFAULT 1 CHECK (uidnext BETWEEN 1 AND 4294967296),
    highestmodseq  bigint NOT NULL DEFAULT 1 CHECK (highestmodseq >= 1),
    -- UIDs at or above this one are \Recent for the next session that
    -- selects the mailbox read-write.
    first_recent_uid bigint NOT NULL DEFAULT 1,
    special_use    text CHECK (special_use IN ('\All', '\Archive', '\Drafts', '\Flagged',
                                               '\Junk', '\Sent', '\Trash')),
    -- Totals over the pointers (maintained by trigger): STATUS and quota.
    messages       integer NOT NULL DEFAULT 0 CHECK (messages >= 0),
    bytes          bigint NOT NULL DEFAULT 0 CHECK (bytes >= 0),
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, name)
);
CREATE UNIQUE INDEX mailbox_special_use ON mailbox (account_id, special_use)
    WHERE special_use IS NOT NULL;

-- IMAP subscriptions are names, not mailboxes: RFC 3501 keeps a
-- subscription when its mailbox is deleted, and allows subscribing to a
-- name that does not exist yet.
CREATE TABLE mailbox_subscription (
    account_id bigint NOT NULL REFERENCES account ON DELETE CASCADE,
    name       text NOT NULL CHECK (name <> '' AND length(name) <= 1024),
    PRIMARY KEY (account_id, name)
);

-- flags bits: 1 \Seen, 2 \Answered, 4 \Flagged, 8 \Deleted, 16 \Draft.
CREATE TABLE mailbox_pointer (
    mailbox_id   bigint NOT NULL REFERENCES mailbox ON DELETE CASCADE,
    uid          bigint NOT NULL CHECK (uid BETWEEN 1 AND 4294967295),
    message_id   bigint NOT NULL REFERENCES message ON DELETE RESTRICT,
    flags        smallint NOT NULL DEFAULT 0 CHECK (flags BETWEEN 0 AND 31),
    keywords     text[] NOT NULL DEFAULT '{}',
    internaldate timestamptz NOT NULL DEFAULT now(),
    modseq       bigint NOT NULL CHECK (modseq >= 1),
    PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX mailbox_pointer_message ON mailbox_pointer (message_id);
-- CONDSTORE: FETCH ... (CHANGEDSINCE n) and SEARCH MODSEQ.
CREATE INDEX mailbox_pointer_modseq ON mailbox_pointer (mailbox_id, modseq);

-- Expunged UIDs with the modseq of their removal (QRESYNC VANISHED).
CREATE TABLE mailbox_expunged (
    mailbox_id  bigint NOT NULL REFERENCES mailbox ON DELETE CASCADE,
    uid         bigint NOT NULL,
    modseq      bigint NOT NULL,
    expunged_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX mailbox_expunged_modseq ON mailbox_expunged (mailbox_id, modseq);

-- The messages of a pointer never change: a MOVE is a new pointer in the
-- target and an expunge in the source, each with its own UID.
CREATE FUNCTION mailbox_pointer_immutable() RETURNS trigger LANGUAGE plpgsql
    SET search_path = ofc, pg_catalog AS $$
BEGIN
    IF NEW.mailbox_id <> OLD.mailbox_id OR NEW.uid <> OLD.uid
       OR NEW.message_id <> OLD.message_id THEN
        RAISE EXCEPTION 'mailbox_pointer (mailbox, uid, message) cannot change'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER mailbox_pointer_immutable BEFORE UPDATE ON mailbox_pointer
    FOR EACH ROW EXECUTE FUNCTION mailbox_pointer_immutable();

-- Reference counts and mailbox totals follow the pointers, one statement
-- at a time (transition tables), so a delivery to 1,000 recipients costs
-- one update per message and per mailbox, not one per row.
CREATE FUNCTION mailbox_pointer_added() RETURNS trigger LANGUAGE plpgsql
    SET search_path = ofc, pg_catalog AS $$
BEGIN
    UPDATE message m SET refcount = m.refcount + n.c
      FROM (SELECT message_id, count(*) AS c FROM new_rows GROUP BY message_id) n
     WHERE m.id = n.message_id;
    UPDATE mailbox b SET messages = b.messages + n.c, bytes = b.bytes + n.s
      FROM (SELECT p.mailbox_id, count(*) AS c, sum(m.size) AS s
              FROM new_rows p JOIN message m ON m.id = p.message_id
             GROUP BY p.mailbox_id) n
     WHERE b.id = n.mailbox_id;
    PERFORM pg_notify('ofc_mailbox', mailbox_id::text)
       FROM (SELECT DISTINCT mailbox_id FROM new_rows) s;
    RETURN NULL;
END $$;

CREATE FUNCTION mailbox_pointer_removed() RETURNS trigger LANGUAGE plpgsql
    SET search_path = ofc, pg_catalog AS $$
BEGIN
    UPDATE message m SET refcount = m.refcount - n.c
      FROM (SELECT message_id, count(*) AS c FROM old_rows GROUP BY message_id) n
     WHERE m.id = n.message_id;
    -- A message nobody points to any more goes to the Collector queue.
    INSERT INTO collector (message_id)
    SELECT m.id FROM message m
      JOIN (SELECT DISTINCT message_id FROM old_rows) o ON o.message_id = m.id
     WHERE m.refcount = 0;
    UPDATE mailbox b SET messages = b.messages - n.c, bytes = b.bytes - n.s
      FROM (SELECT p.mailbox_id, count(*) AS c, sum(m.size) AS s
              FROM old_rows p JOIN message m ON m.id = p.message_id
             GROUP BY p.mailbox_id) n
     WHERE b.id = n.mailbox_id;
    PERFORM pg_notify('ofc_mailbox', mailbox_id::text)
       FROM (SELECT DISTINCT mailbox_id FROM old_rows) s;
    RETURN NULL;
END $$;

CREATE FUNCTION mailbox_pointer_changed() RETURNS trigger LANGUAGE plpgsql
    SET search_path = ofc, pg_catalog AS $$
BEGIN
    PERFORM pg_notify('ofc_mailbox', mailbox_id::text)
       FROM (SELECT DISTINCT mailbox_id FROM new_rows) s;
    RETURN NULL;
END $$;

CREATE TRIGGER mailbox_pointer_added AFTER INSERT ON mailbox_pointer
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION mailbox_pointer_added();
CREATE TRIGGER mailbox_pointer_removed AFTER DELETE ON mailbox_pointer
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION mailbox_pointer_removed();
CREATE TRIGGER mailbox_pointer_changed AFTER UPDATE ON mailbox_pointer
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION mailbox_pointer_changed();

-- Quota use of an account: the sum over its few mailbox rows.
CREATE VIEW account_usage AS
SELECT a.object_id AS account_id, a.quota_bytes,
       COALESCE(sum(b.bytes), 0)::bigint AS bytes,
       COALESCE(sum(b.messages), 0)::bigint AS messages
  FROM account a
  LEFT JOIN mailbox b ON b.account_id = a.object_id
 GROUP BY a.object_id, a.quota_bytes;
