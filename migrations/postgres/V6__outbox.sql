-- The outbox (src/outbox): nodes report the last event whose pages they
-- hold, and each destination outside keel (an edge to purge, a webhook)
-- keeps its place in the event log, advanced only once it acknowledged.

-- One row per running node, refreshed every few seconds; a row past
-- `expires_at` is a node that stopped without saying so.
CREATE TABLE node_heartbeats (
    node       text PRIMARY KEY,
    held_seq   bigint NOT NULL,
    seen_at    timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

-- A destination's cursor (the last seq it acknowledged) and the lease of
-- the one node sending to it.
CREATE TABLE outbox_cursors (
    destination text PRIMARY KEY,
    seq         bigint NOT NULL,
    holder      text,
    lease_until timestamptz,
    updated_at  timestamptz NOT NULL
);

-- Every attempt, kept for the latest few thousand per destination.
CREATE TABLE outbox_deliveries (
    id          bigserial PRIMARY KEY,
    destination text NOT NULL,
    first_seq   bigint NOT NULL,
    last_seq    bigint NOT NULL,
    attempt     integer NOT NULL,
    ok          boolean NOT NULL,
    status      integer,
    detail      text NOT NULL,
    duration_ms bigint NOT NULL,
    node        text NOT NULL,
    at          timestamptz NOT NULL
);

CREATE INDEX outbox_deliveries_recent ON outbox_deliveries (destination, id DESC);
