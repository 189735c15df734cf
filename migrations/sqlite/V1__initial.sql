-- keel schema for the embedded SQLite store.
-- Timestamps are TEXT in fixed-width RFC 3339 UTC with microseconds
-- (2026-01-02T03:04:05.000006Z) so that text order is time order; JSON is
-- TEXT; rendered bodies are BLOB; ids are lowercase hyphenated UUID TEXT,
-- whose text order is UUIDv7 creation order.

CREATE TABLE content_types (
    name       TEXT PRIMARY KEY NOT NULL,
    schema     TEXT NOT NULL,
    hash       TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE entries (
    id             TEXT PRIMARY KEY NOT NULL,
    type           TEXT NOT NULL,
    slug           TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('draft', 'published', 'scheduled')),
    version        INTEGER NOT NULL CHECK (version >= 1),
    data           TEXT NOT NULL,
    published_slug TEXT,
    published_data TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    published_at   TEXT,
    publish_at     TEXT,
    UNIQUE (type, slug)
);

-- What readers address: one live page per published slug in a type.
CREATE UNIQUE INDEX entries_type_published_slug
    ON entries (type, published_slug) WHERE published_slug IS NOT NULL;
-- The scheduler's due query.
CREATE INDEX entries_status_publish_at ON entries (status, publish_at);
-- Keyset listing of one type.
CREATE INDEX entries_type_id ON entries (type, id);

-- No foreign key to entries: the history outlives a deleted entry.
CREATE TABLE revisions (
    entry_id   TEXT NOT NULL,
    version    INTEGER NOT NULL,
    action     TEXT NOT NULL,
    slug       TEXT NOT NULL,
    data       TEXT NOT NULL,
    author     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (entry_id, version)
) WITHOUT ROWID;

-- No foreign key to entries: a delete removes the entry before the same
-- write removes its page.
CREATE TABLE pages (
    path           TEXT PRIMARY KEY NOT NULL,
    entry_id       TEXT,
    status         INTEGER NOT NULL,
    content_type   TEXT NOT NULL,
    identity       BLOB NOT NULL,
    br             BLOB NOT NULL,
    gzip           BLOB NOT NULL,
    etag           TEXT NOT NULL,
    last_modified  TEXT NOT NULL,
    surrogate_keys TEXT NOT NULL,
    cache_policy   TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    updated_at     TEXT NOT NULL
);

CREATE INDEX pages_entry_id ON pages (entry_id);

CREATE TABLE events (
    seq        INTEGER PRIMARY KEY NOT NULL,
    kind       TEXT NOT NULL,
    entry_id   TEXT,
    paths      TEXT NOT NULL,
    keys       TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- The one row every event seq is taken from, inside the writing transaction,
-- so seqs are gap-free and in commit order.
CREATE TABLE event_counter (
    id  INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    seq INTEGER NOT NULL
);

INSERT INTO event_counter (id, seq) VALUES (1, 0);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('editor', 'admin')),
    hash         TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);

-- A revoked token's name can be used again.
CREATE UNIQUE INDEX api_tokens_active_name ON api_tokens (name) WHERE revoked_at IS NULL;
