-- keel schema, PostgreSQL flavour. Same tables and columns as the SQLite
-- migration; native types here (uuid, jsonb, bytea, timestamptz, text[]).

CREATE TABLE content_types (
    name       text PRIMARY KEY,
    schema     jsonb NOT NULL,
    hash       text NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE entries (
    id             uuid PRIMARY KEY,
    type           text NOT NULL,
    slug           text NOT NULL,
    status         text NOT NULL CHECK (status IN ('draft', 'published', 'scheduled')),
    version        bigint NOT NULL CHECK (version >= 1),
    data           jsonb NOT NULL,
    published_slug text,
    published_data jsonb,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    published_at   timestamptz,
    publish_at     timestamptz,
    -- The store maps unique violations to messages by these names.
    CONSTRAINT entries_type_slug_key UNIQUE (type, slug)
);

CREATE UNIQUE INDEX entries_type_published_slug_key
    ON entries (type, published_slug) WHERE published_slug IS NOT NULL;
-- The scheduler's "due" scan.
CREATE INDEX entries_status_publish_at_idx ON entries (status, publish_at);
-- Keyset listing per type.
CREATE INDEX entries_type_id_idx ON entries (type, id);

-- No foreign key to entries: history outlives a deleted entry.
CREATE TABLE revisions (
    entry_id   uuid NOT NULL,
    version    bigint NOT NULL,
    action     text NOT NULL
        CHECK (action IN ('create', 'update', 'publish', 'schedule', 'unpublish', 'delete')),
    slug       text NOT NULL,
    data       jsonb NOT NULL,
    author     text NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (entry_id, version)
);

CREATE TABLE pages (
    path           text PRIMARY KEY,
    entry_id       uuid,
    status         integer NOT NULL CHECK (status BETWEEN 100 AND 599),
    content_type   text NOT NULL,
    identity       bytea NOT NULL,
    br             bytea NOT NULL,
    gzip           bytea NOT NULL,
    etag           text NOT NULL,
    last_modified  timestamptz NOT NULL,
    surrogate_keys text[] NOT NULL DEFAULT '{}',
    cache_policy   jsonb NOT NULL,
    seq            bigint NOT NULL,
    updated_at     timestamptz NOT NULL
);

-- br and gzip are already compressed: spare TOAST a second, useless pass.
ALTER TABLE pages ALTER COLUMN br SET STORAGE EXTERNAL;
ALTER TABLE pages ALTER COLUMN gzip SET STORAGE EXTERNAL;

CREATE INDEX pages_entry_id_idx ON pages (entry_id);

CREATE TABLE events (
    seq        bigint PRIMARY KEY,
    kind       text NOT NULL,
    entry_id   uuid,
    paths      text[] NOT NULL DEFAULT '{}',
    keys       text[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL
);

-- One row whose lock serialises event appends: seq order is commit order and
-- a rolled-back write gives its number back, so the log has no gaps.
CREATE TABLE event_counter (
    id  integer PRIMARY KEY CHECK (id = 1),
    seq bigint NOT NULL
);

INSERT INTO event_counter (id, seq) VALUES (1, 0);

CREATE TABLE api_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL,
    role         text NOT NULL CHECK (role IN ('editor', 'admin')),
    hash         text NOT NULL CONSTRAINT api_tokens_hash_key UNIQUE,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz
);

-- A revoked token's name can be given to a new one.
CREATE UNIQUE INDEX api_tokens_active_name_key ON api_tokens (name) WHERE revoked_at IS NULL;
