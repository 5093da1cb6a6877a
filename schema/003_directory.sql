-- 003_directory.sql: the directory of the Understanding and Planning Guide.
--
-- Every directory object has a row in dir_object (its class, its domain and
-- its name); classes with more attributes add a row in their own table.
-- Person, Room and Equipment are accounts: they have an Inbox on a home node.
-- Everything a message can be addressed to (accounts, aliases, lists,
-- locations, organizations, roles) shares one name space per domain, so
-- "name@domain" always means one thing; templates have their own.

CREATE TABLE dir_object (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    domain_id   integer NOT NULL REFERENCES domain ON DELETE RESTRICT,
    class       text NOT NULL CHECK (class IN ('PERSON', 'ROOM', 'EQUIPMENT', 'ALIAS', 'DL',
                                               'LOCATION', 'ORGANIZATION', 'ROLE',
                                               'PUBLIC_TEMPLATE', 'PRIVATE_TEMPLATE')),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 64 AND name !~ '[[:space:]@<>,;:"\\]'),
    name_key    text GENERATED ALWAYS AS (lower(name)) STORED,
    -- Private templates belong to a person and are visible only to them.
    owner_id    bigint REFERENCES dir_object ON DELETE CASCADE,
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    modified_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (id, class),
    CHECK ((class = 'PRIVATE_TEMPLATE') = (owner_id IS NOT NULL))
);
-- The address name space: one object per name per domain. Hot path of
-- address resolution: (domain, lower(name)).
CREATE UNIQUE INDEX dir_object_address ON dir_object (domain_id, name_key)
    WHERE class NOT IN ('PUBLIC_TEMPLATE', 'PRIVATE_TEMPLATE');
CREATE UNIQUE INDEX dir_object_public_template ON dir_object (domain_id, name_key)
    WHERE class = 'PUBLIC_TEMPLATE';
CREATE UNIQUE INDEX dir_object_private_template ON dir_object (owner_id, name_key)
    WHERE class = 'PRIVATE_TEMPLATE';
CREATE INDEX dir_object_class ON dir_object (class, domain_id);
-- Names without the domain, for "disp person lastname=..." style searches
-- across domains and for wildcard prefixes.
CREATE INDEX dir_object_name_pattern ON dir_object (name_key text_pattern_ops);

-- Accounts: Person, Room, Equipment. The composite foreign keys make the
-- class of every referenced object part of the schema, not a convention.
CREATE TABLE account (
    object_id     bigint PRIMARY KEY,
    object_class  text NOT NULL CHECK (object_class IN ('PERSON', 'ROOM', 'EQUIPMENT')),
    home_node_id  integer NOT NULL REFERENCES node ON DELETE RESTRICT,
    -- crypt(3) string ($y$ yescrypt); NULL means the account cannot log in.
    password_hash text CHECK (password_hash IS NULL OR password_hash ~ '^\$'),
    password_changed_at timestamptz,
    -- Bytes; NULL means no limit.
    quota_bytes   bigint CHECK (quota_bytes IS NULL OR quota_bytes >= 0),
    first_name    text NOT NULL DEFAULT '',
    last_name     text NOT NULL DEFAULT '',
    location_id   bigint,
    location_class text NOT NULL DEFAULT 'LOCATION' CHECK (location_class = 'LOCATION'),
    organization_id bigint,
    organization_class text NOT NULL DEFAULT 'ORGANIZATION' CHECK (organization_class = 'ORGANIZATION'),
    manager_id    bigint,
    manager_class text NOT NULL DEFAULT 'PERSON' CHECK (manager_class = 'PERSON'),
    disabled      boolean NOT NULL DEFAULT false,
    FOREIGN KEY (object_id, object_class) REFERENCES dir_object (id, class) ON DELETE CASCADE,
    FOREIGN KEY (location_id, location_class) REFERENCES dir_object (id, class) ON DELETE RESTRICT,
    FOREIGN KEY (organization_id, organization_class) REFERENCES dir_object (id, class) ON DELETE RESTRICT,
    FOREIGN KEY (manager_id, manager_class) REFERENCES dir_object (id, class) ON DELETE SET NULL (manager_id)
);
CREATE INDEX account_home_node ON account (home_node_id);
CREATE INDEX account_location ON account (location_id) WHERE location_id IS NOT NULL;
CREATE INDEX account_organization ON account (organization_id) WHERE organization_id IS NOT NULL;
CREATE INDEX account_manager ON account (manager_id) WHERE manager_id IS NOT NULL;
CREATE INDEX account_last_name ON account (lower(last_name));

-- Administrators: an account granted a domain administers it and every
-- domain below it.
CREATE TABLE admin_grant (
    account_id bigint NOT NULL REFERENCES account ON DELETE CASCADE,
    domain_id  integer NOT NULL REFERENCES domain ON DELETE CASCADE,
    PRIMARY KEY (account_id, domain_id)
);

-- Public aliases: a nickname for an object of the directory or for any
-- address.
CREATE TABLE alias (
    object_id        bigint PRIMARY KEY,
    object_class     text NOT NULL DEFAULT 'ALIAS' CHECK (object_class = 'ALIAS'),
    target_object_id bigint REFERENCES dir_object ON DELETE RESTRICT,
    target_address   text CHECK (target_address IS NULL OR target_address ~ '^[^[:space:]]+@[^[:space:]]+$'),
    FOREIGN KEY (object_id, object_class) REFERENCES dir_object (id, class) ON DELETE CASCADE,
    CHECK ((target_object_id IS NULL) <> (target_address IS NULL))
);
CREATE INDEX alias_target ON alias (target_object_id) WHERE target_object_id IS NOT NULL;

-- Public distribution lists and their members: addresses, or objects
-- (accounts, aliases, other lists, ...). Nesting is resolved at expansion,
-- which also breaks cycles.
CREATE TABLE dl_member (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dl_id            bigint NOT NULL,
    dl_class         text NOT NULL DEFAULT 'DL' CHECK (dl_class = 'DL'),
    member_object_id bigint REFERENCES dir_object ON DELETE RESTRICT,
    member_address   text CHECK (member_address IS NULL OR member_address ~ '^[^[:space:]]+@[^[:space:]]+$'),
    FOREIGN KEY (dl_id, dl_class) REFERENCES dir_object (id, class) ON DELETE CASCADE,
    CHECK ((member_object_id IS NULL) <> (member_address IS NULL)),
    CHECK (member_object_id IS DISTINCT FROM dl_id)
);
CREATE UNIQUE INDEX dl_member_object ON dl_member (dl_id, member_object_id)
    WHERE member_object_id IS NOT NULL;
CREATE UNIQUE INDEX dl_member_address ON dl_member (dl_id, lower(member_address))
    WHERE member_address IS NOT NULL;
CREATE INDEX dl_member_reverse ON dl_member (member_object_id) WHERE member_object_id IS NOT NULL;

-- Roles: persons are assigned to roles (many to many). Locations and
-- organizations are attributes of the account (one each).
CREATE TABLE role_assignment (
    role_id      bigint NOT NULL,
    role_class   text NOT NULL DEFAULT 'ROLE' CHECK (role_class = 'ROLE'),
    account_id   bigint NOT NULL REFERENCES account ON DELETE CASCADE,
    FOREIGN KEY (role_id, role_class) REFERENCES dir_object (id, class) ON DELETE RESTRICT,
    PRIMARY KEY (role_id, account_id)
);
CREATE INDEX role_assignment_account ON role_assignment (account_id);

-- Public and private templates: a standard message to start from.
CREATE TABLE template (
    object_id    bigint PRIMARY KEY REFERENCES dir_object ON DELETE CASCADE,
    subject      text NOT NULL DEFAULT '',
    body         text NOT NULL DEFAULT ''
);

-- Objects of a class that must be an account, alias, ... cannot be created
-- without their detail row; keep modified_at honest.
CREATE FUNCTION dir_object_touch() RETURNS trigger LANGUAGE plpgsql
    SET search_path = ofc, pg_catalog AS $$
BEGIN
    NEW.modified_at := now();
    RETURN NEW;
END $$;
CREATE TRIGGER dir_object_touch BEFORE UPDATE ON dir_object
    FOR EACH ROW EXECUTE FUNCTION dir_object_touch();

-- The Internet address of every addressable object: name@fqdn.
CREATE VIEW dir_address AS
SELECT o.id AS object_id, o.class, o.domain_id, o.name, o.name_key, d.fqdn,
       o.name_key || '@' || d.fqdn AS address_key
  FROM dir_object o
  JOIN domain d ON d.id = o.domain_id
 WHERE o.class NOT IN ('PUBLIC_TEMPLATE', 'PRIVATE_TEMPLATE');
