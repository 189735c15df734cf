-- Images (src/model/media.rs): the original and its metadata in `media`;
-- its responsive variants are ordinary rows of `pages` at content-hashed
-- paths (served like any page), described in `media_variants` so the API
-- never reads their bodies to list them.

CREATE TABLE media (
    id         uuid PRIMARY KEY,
    -- The store maps a violation to "media with hash ... already exists".
    hash       text NOT NULL CONSTRAINT media_hash_key UNIQUE,
    name       text NOT NULL,
    alt        text NOT NULL,
    caption    text,
    credit     text,
    -- Both or neither.
    focal_x    real CHECK (focal_x BETWEEN 0 AND 1),
    focal_y    real CHECK (focal_y BETWEEN 0 AND 1),
    CHECK ((focal_x IS NULL) = (focal_y IS NULL)),
    format     text NOT NULL,
    width      integer NOT NULL CHECK (width > 0),
    height     integer NOT NULL CHECK (height > 0),
    size       bigint NOT NULL,
    original   bytea NOT NULL,
    created_at timestamptz NOT NULL,
    created_by text NOT NULL
);

-- Images are already compressed: spare TOAST a second, useless pass.
ALTER TABLE media ALTER COLUMN original SET STORAGE EXTERNAL;

-- The library lists newest first by id (UUIDv7), which the primary key
-- serves backwards. Its search is a case-insensitive substring match on
-- name and alt text, a scan of lower(name || ' ' || alt) with no index:
-- fine for a library of tens of thousands of images (a pg_trgm index is
-- the next step if it grows past that). The cleanup scan of old media
-- walks created_at.
CREATE INDEX media_created_at_idx ON media (created_at);

CREATE TABLE media_variants (
    path     text PRIMARY KEY,
    media_id uuid NOT NULL REFERENCES media (id) ON DELETE CASCADE,
    width    integer NOT NULL,
    height   integer NOT NULL,
    format   text NOT NULL,
    bytes    bigint NOT NULL
);

CREATE INDEX media_variants_media_idx ON media_variants (media_id);

-- Which published entries show which image, written with the entry's
-- other rows (listed, entry_refs). RESTRICT, not CASCADE: the foreign key
-- is what makes a delete and a publish naming the same image exclusive.
-- Inserting a row takes a KEY SHARE lock on the media row, which conflicts
-- with the delete's FOR UPDATE; whichever comes second waits for the first
-- to commit, then sees the row in use (the delete refuses) or the image
-- gone (the publish fails on the key).
CREATE TABLE media_uses (
    media_id uuid NOT NULL REFERENCES media (id) ON DELETE RESTRICT,
    entry_id uuid NOT NULL,
    PRIMARY KEY (media_id, entry_id)
);

CREATE INDEX media_uses_entry_idx ON media_uses (entry_id);

-- Content-hashed pages (image variants) may be cached for a year without
-- revalidation; every other page keeps its policy's max-ages.
ALTER TABLE pages ADD COLUMN immutable boolean NOT NULL DEFAULT false;
