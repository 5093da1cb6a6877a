-- 001_core.sql: nodes, communities, domains, subscriptions, routes, gateways.
--
-- A node is one database plus the processes that serve it; this database
-- knows itself (is_local) and the other nodes of its communities. Every
-- migration runs inside one transaction (ofcsetup), in schema "ofc".

CREATE TABLE node (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (name ~ '^[A-Z][A-Z0-9_]{0,29}$'),
    description text NOT NULL DEFAULT '',
    -- How other nodes reach this one (the TNS service of the original).
    conninfo    text NOT NULL DEFAULT '',
    -- IANA zone name; schedules of this node's processes are in this zone.
    time_zone   text NOT NULL DEFAULT 'UTC',
    is_local    boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);
-- Exactly one row describes the node this database belongs to.
CREATE UNIQUE INDEX node_one_local ON node (is_local) WHERE is_local;

CREATE TABLE community (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL CHECK (name ~ '^[A-Za-z][A-Za-z0-9_.-]{0,63}$'),
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX community_name ON community (lower(name));

CREATE TABLE community_node (
    community_id integer NOT NULL REFERENCES community ON DELETE CASCADE,
    node_id      integer NOT NULL REFERENCES node ON DELETE CASCADE,
    PRIMARY KEY (community_id, node_id)
);
CREATE INDEX community_node_node ON community_node (node_id);

-- Domains form a tree: com -> acme.com -> us.acme.com. fqdn is stored in
-- lower case; oomgr shows it in upper case as the original did ("COM").
CREATE TABLE domain (
    id            integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    parent_id     integer REFERENCES domain ON DELETE RESTRICT,
    fqdn          text NOT NULL UNIQUE
                  CHECK (fqdn = lower(fqdn) AND length(fqdn) <= 253
                         AND fqdn ~ '^[^.[:space:]]+(\.[^.[:space:]]+)*$'),
    -- The configuration node (DCN) that owns this domain's directory.
    confignode_id integer NOT NULL REFERENCES node ON DELETE RESTRICT,
    description   text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (parent_id IS DISTINCT FROM id)
);
CREATE INDEX domain_parent ON domain (parent_id);
CREATE INDEX domain_confignode ON domain (confignode_id);

-- A child's fqdn must end with ".<parent fqdn>"; a root has no dots beyond
-- its own labels. Checked here because a CHECK cannot see the parent row.
CREATE FUNCTION domain_check_parent() RETURNS trigger LANGUAGE plpgsql
    SET search_path = ofc, pg_catalog AS $$
DECLARE
    parent_fqdn text;
BEGIN
    IF NEW.parent_id IS NOT NULL THEN
        SELECT fqdn INTO parent_fqdn FROM domain WHERE id = NEW.parent_id;
        IF parent_fqdn IS NULL THEN
            RAISE EXCEPTION 'parent domain % does not exist', NEW.parent_id
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        IF right(NEW.fqdn, length(parent_fqdn) + 1) <> '.' || parent_fqdn
           OR length(NEW.fqdn) <= length(parent_fqdn) + 1 THEN
            RAISE EXCEPTION 'domain % is not directly below %', NEW.fqdn, parent_fqdn
                USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER domain_check_parent BEFORE INSERT OR UPDATE OF fqdn, parent_id ON domain
    FOR EACH ROW EXECUTE FUNCTION domain_check_parent();

-- Nodes that hold a replica of a domain's directory (the Replicator's
-- subscribers).
CREATE TABLE subscription (
    domain_id  integer NOT NULL REFERENCES domain ON DELETE CASCADE,
    node_id    integer NOT NULL REFERENCES node ON DELETE CASCADE,
    since      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (domain_id, node_id)
);
CREATE INDEX subscription_node ON subscription (node_id);

-- Routes between nodes: mail for destination goes to next_node at cost;
-- the Postman picks the cheapest.
CREATE TABLE route (
    id                  integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_node_id      integer NOT NULL REFERENCES node ON DELETE CASCADE,
    destination_node_id integer NOT NULL REFERENCES node ON DELETE CASCADE,
    next_node_id        integer NOT NULL REFERENCES node ON DELETE CASCADE,
    cost                integer NOT NULL DEFAULT 1 CHECK (cost >= 0),
    UNIQUE (source_node_id, destination_node_id, next_node_id)
);
CREATE INDEX route_lookup ON route (source_node_id, destination_node_id, cost);

-- Gateways connect a node to other mail systems (SMTP, LMTP).
CREATE TABLE gateway (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    type        text NOT NULL CHECK (type IN ('SMTP', 'LMTP')),
    node_id     integer NOT NULL REFERENCES node ON DELETE CASCADE,
    domain_id   integer REFERENCES domain ON DELETE SET NULL,
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX gateway_node ON gateway (node_id);

-- Which external addresses leave through which gateway: pattern is a domain
-- ("example.org"), a subtree ("*.example.org") or "*".
CREATE TABLE gateway_route (
    id         integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    gateway_id integer NOT NULL REFERENCES gateway ON DELETE CASCADE,
    pattern    text NOT NULL CHECK (pattern = lower(pattern) AND pattern <> ''),
    cost       integer NOT NULL DEFAULT 1 CHECK (cost >= 0),
    UNIQUE (gateway_id, pattern)
);
CREATE INDEX gateway_route_pattern ON gateway_route (pattern);
