-- The entries an event changed, as they were then (id, type, slug,
-- published_at): what a webhook tells its receiver, even after the entry
-- is renamed or deleted.
ALTER TABLE events ADD COLUMN entries jsonb NOT NULL DEFAULT '[]';
