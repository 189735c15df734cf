-- What shows what (src/model/shown.rs): each published entry's place in
-- every list it appears in, as an order-preserving byte key, so a listing
-- page is one range scan of its list however large the site; and the
-- entries it references, so its referrers are one lookup. Written in the
-- same transaction as the entry's published state.
CREATE TABLE listed (
    list     TEXT NOT NULL,
    owner    TEXT NOT NULL,
    sort_key BLOB NOT NULL,
    entry_id TEXT NOT NULL,
    PRIMARY KEY (list, owner, sort_key)
) WITHOUT ROWID;

CREATE INDEX listed_entry_id ON listed (entry_id);

CREATE TABLE entry_refs (
    target TEXT NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (target, source)
) WITHOUT ROWID;

CREATE INDEX entry_refs_source ON entry_refs (source);

-- The list definitions the rows were built for; absent until a build ends.
CREATE TABLE list_index (
    id        INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    signature TEXT NOT NULL
);

-- The keyset walk over every published entry.
CREATE INDEX entries_published_id ON entries (id) WHERE published_data IS NOT NULL;
