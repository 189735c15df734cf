-- The outbox (src/outbox): nodes report the last event whose pages they
-- hold, and each destination outside keel (an edge to purge, a webhook)
-- keeps its place in the event log, advanced only once it acknowledged.
-- Timestamps are fixed-width RFC 3339 UTC TEXT, as in V1.

-- One row per running node, refreshed every few seconds; a row past
-- `expires_at` is a node that stopped without saying so.
CREATE TABLE node_heartbeats (
    node       TEXT PRIMARY KEY NOT NULL,
    held_seq   INTEGER NOT NULL,
    seen_at    TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

-- A destination's cursor (the last seq it acknowledged) and the lease of
-- the one node sending to it.
CREATE TABLE outbox_cursors (
    destination TEXT PRIMARY KEY NOT NULL,
    seq         INTEGER NOT NULL,
    holder      TEXT,
    lease_until TEXT,
    updated_at  TEXT NOT NULL
);

-- Every attempt, kept for the latest few thousand per destination.
CREATE TABLE outbox_deliveries (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    destination TEXT NOT NULL,
    first_seq   INTEGER NOT NULL,
    last_seq    INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    ok          INTEGER NOT NULL,
    status      INTEGER,
    detail      TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    node        TEXT NOT NULL,
    at          TEXT NOT NULL
);

CREATE INDEX outbox_deliveries_recent ON outbox_deliveries (destination, id DESC);
