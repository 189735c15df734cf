-- Images (src/model/media.rs), as in the PostgreSQL migration: the
-- original and its metadata in `media`; its responsive variants are
-- ordinary rows of `pages` at content-hashed paths, described in
-- `media_variants`. Timestamps and ids as in V1.

CREATE TABLE media (
    id         TEXT PRIMARY KEY NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    alt        TEXT NOT NULL,
    caption    TEXT,
    credit     TEXT,
    focal_x    REAL CHECK (focal_x BETWEEN 0 AND 1),
    focal_y    REAL CHECK (focal_y BETWEEN 0 AND 1),
    format     TEXT NOT NULL,
    width      INTEGER NOT NULL CHECK (width > 0),
    height     INTEGER NOT NULL CHECK (height > 0),
    size       INTEGER NOT NULL,
    original   BLOB NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    CHECK ((focal_x IS NULL) = (focal_y IS NULL))
);

-- Listing is newest first by id (the primary key). Search is a
-- case-insensitive substring match over lower(name || ' ' || alt), a scan
-- with no index: fine for a library of tens of thousands of images. The
-- cleanup scan of old media walks created_at.
CREATE INDEX media_created_at ON media (created_at);

CREATE TABLE media_variants (
    path     TEXT PRIMARY KEY NOT NULL,
    media_id TEXT NOT NULL REFERENCES media (id) ON DELETE CASCADE,
    width    INTEGER NOT NULL,
    height   INTEGER NOT NULL,
    format   TEXT NOT NULL,
    bytes    INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX media_variants_media ON media_variants (media_id);

-- Which published entries show which image, written with the entry's other
-- rows. One writer serialises a delete and a publish already; the key
-- (foreign_keys is on for every connection) keeps a row from naming an
-- image that is gone, as on PostgreSQL.
CREATE TABLE media_uses (
    media_id TEXT NOT NULL REFERENCES media (id) ON DELETE RESTRICT,
    entry_id TEXT NOT NULL,
    PRIMARY KEY (media_id, entry_id)
) WITHOUT ROWID;

CREATE INDEX media_uses_entry ON media_uses (entry_id);

-- Content-hashed pages (image variants) may be cached for a year.
ALTER TABLE pages ADD COLUMN immutable INTEGER NOT NULL DEFAULT 0;
