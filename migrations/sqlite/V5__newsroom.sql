-- The newsroom app: people who sign in, their sessions, the audit log,
-- site settings, review requests and entry search. Timestamps as in V1.

-- Tokens may now be writers too: SQLite changes a CHECK by rebuilding.
CREATE TABLE api_tokens_new (
    id           INTEGER PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('writer', 'editor', 'admin')),
    hash         TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
INSERT INTO api_tokens_new SELECT id, name, role, hash, created_at, last_used_at, revoked_at FROM api_tokens;
DROP TABLE api_tokens;
ALTER TABLE api_tokens_new RENAME TO api_tokens;
CREATE UNIQUE INDEX api_tokens_active_name ON api_tokens (name) WHERE revoked_at IS NULL;

CREATE TABLE users (
    id            TEXT PRIMARY KEY NOT NULL,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('writer', 'editor', 'admin')),
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    disabled_at   TEXT
);

CREATE TABLE sessions (
    id_hash      TEXT PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL,
    csrf         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    address      TEXT NOT NULL,
    user_agent   TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    actor_kind TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    entry_id   TEXT,
    detail     TEXT NOT NULL,
    address    TEXT NOT NULL
);
CREATE INDEX audit_log_entry ON audit_log (entry_id, id) WHERE entry_id IS NOT NULL;
CREATE INDEX audit_log_actor ON audit_log (actor, id);
CREATE INDEX audit_log_action_target ON audit_log (action, target, at);
CREATE INDEX audit_log_action_address ON audit_log (action, address, at);

CREATE TABLE site_settings (
    id         INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    data       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
);

CREATE TABLE reviews (
    entry_id TEXT PRIMARY KEY NOT NULL,
    type     TEXT NOT NULL,
    state    TEXT NOT NULL CHECK (state IN ('submitted', 'returned')),
    version  INTEGER NOT NULL,
    actor    TEXT NOT NULL,
    comment  TEXT NOT NULL,
    at       TEXT NOT NULL
);
CREATE INDEX reviews_state ON reviews (state, at);

-- Search (FTS5): the slug's words and every short string of the working
-- copy (titles, names; not bodies), kept by triggers. Contentless (the
-- entries table holds the text), keyed by a stable integer per entry:
-- entries' own rowids may change in a VACUUM.
CREATE TABLE entry_search_keys (
    key INTEGER PRIMARY KEY AUTOINCREMENT,
    id  TEXT NOT NULL UNIQUE
);
CREATE VIRTUAL TABLE entry_search USING fts5(
    text, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER entries_search_insert AFTER INSERT ON entries BEGIN
    INSERT INTO entry_search_keys (id) VALUES (new.id);
    INSERT INTO entry_search (rowid, text) VALUES (
        (SELECT key FROM entry_search_keys WHERE id = new.id),
        replace(new.slug, '-', ' ') || ' ' || coalesce((SELECT group_concat(value, ' ')
            FROM json_each(new.data) WHERE type = 'text' AND length(value) <= 200), ''));
END;
CREATE TRIGGER entries_search_update AFTER UPDATE OF slug, data ON entries BEGIN
    DELETE FROM entry_search WHERE rowid = (SELECT key FROM entry_search_keys WHERE id = old.id);
    INSERT INTO entry_search (rowid, text) VALUES (
        (SELECT key FROM entry_search_keys WHERE id = new.id),
        replace(new.slug, '-', ' ') || ' ' || coalesce((SELECT group_concat(value, ' ')
            FROM json_each(new.data) WHERE type = 'text' AND length(value) <= 200), ''));
END;
CREATE TRIGGER entries_search_delete AFTER DELETE ON entries BEGIN
    DELETE FROM entry_search WHERE rowid = (SELECT key FROM entry_search_keys WHERE id = old.id);
    DELETE FROM entry_search_keys WHERE id = old.id;
END;
INSERT INTO entry_search_keys (id) SELECT id FROM entries ORDER BY id;
INSERT INTO entry_search (rowid, text)
    SELECT k.key, replace(e.slug, '-', ' ') || ' ' || coalesce((SELECT group_concat(value, ' ')
        FROM json_each(e.data) WHERE type = 'text' AND length(value) <= 200), '')
    FROM entries e JOIN entry_search_keys k ON k.id = e.id;
