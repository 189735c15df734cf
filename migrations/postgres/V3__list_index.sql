-- What shows what (src/model/shown.rs): each published entry's place in
-- every list it appears in, as an order-preserving byte key (bytea compares
-- as memcmp), so a listing page is one range scan of its list however
-- large the site; and the entries it references, so its referrers are one
-- lookup. Written in the same transaction as the entry's published state.
CREATE TABLE listed (
    list     text COLLATE "C" NOT NULL,
    owner    text COLLATE "C" NOT NULL,
    sort_key bytea NOT NULL,
    entry_id uuid NOT NULL,
    PRIMARY KEY (list, owner, sort_key)
);

CREATE INDEX listed_entry_id_idx ON listed (entry_id);

CREATE TABLE entry_refs (
    target uuid NOT NULL,
    source uuid NOT NULL,
    PRIMARY KEY (target, source)
);

CREATE INDEX entry_refs_source_idx ON entry_refs (source);

-- The list definitions the rows were built for; absent until a build ends.
CREATE TABLE list_index (
    id        integer PRIMARY KEY CHECK (id = 1),
    signature text NOT NULL
);

-- The keyset walk over every published entry.
CREATE INDEX entries_published_id_idx ON entries (id) WHERE published_data IS NOT NULL;
