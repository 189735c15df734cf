-- The newsroom app: people who sign in, their sessions, the audit log,
-- site settings, review requests and entry search.

-- Tokens may now be writers too.
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check
    CHECK (role IN ('writer', 'editor', 'admin'));

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    -- Stored lowercase; the store maps a violation to "email ... already exists".
    email         text NOT NULL CONSTRAINT users_email_key UNIQUE,
    name          text NOT NULL,
    role          text NOT NULL CHECK (role IN ('writer', 'editor', 'admin')),
    -- PHC string (Argon2id).
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    disabled_at   timestamptz
);

-- id_hash is the SHA-256 of the cookie's secret, never the secret.
CREATE TABLE sessions (
    id_hash      text PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf         text NOT NULL,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    address      text NOT NULL,
    user_agent   text NOT NULL
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE audit_log (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL,
    actor      text NOT NULL,
    actor_kind text NOT NULL,
    action     text NOT NULL,
    target     text NOT NULL,
    entry_id   uuid,
    detail     jsonb NOT NULL,
    address    text NOT NULL
);
CREATE INDEX audit_log_entry_idx ON audit_log (entry_id, id) WHERE entry_id IS NOT NULL;
CREATE INDEX audit_log_actor_idx ON audit_log (actor, id);
-- The sign-in rate limit counts recent failures by account and by address.
CREATE INDEX audit_log_action_target_idx ON audit_log (action, target, at);
CREATE INDEX audit_log_action_address_idx ON audit_log (action, address, at);

-- One row: the site's settings, versioned like entries.
CREATE TABLE site_settings (
    id         integer PRIMARY KEY CHECK (id = 1),
    data       jsonb NOT NULL,
    version    bigint NOT NULL,
    updated_at timestamptz NOT NULL,
    updated_by text NOT NULL
);

-- An entry's open review request (none once approved).
CREATE TABLE reviews (
    entry_id uuid PRIMARY KEY,
    type     text NOT NULL,
    state    text NOT NULL CHECK (state IN ('submitted', 'returned')),
    version  bigint NOT NULL,
    actor    text NOT NULL,
    comment  text NOT NULL,
    at       timestamptz NOT NULL
);
CREATE INDEX reviews_state_idx ON reviews (state, at);

-- Search: the words of the slug and of every short string of the working
-- copy (titles, names; not bodies, not numbers or flags), as prefixes.
-- Words are runs of letters and digits, as the query side splits them:
-- ASCII punctuation becomes a space (the parser would otherwise keep
-- "U-21" as "u" and "-21", or "a.b.c" as one word), and Latin letters lose
-- their diacritics ("Zürich" is found by "zurich"). The two strings of the
-- translate() are FOLD_FROM/FOLD_TO of src/store/postgres/newsroom/search.rs plus
-- the punctuation; a test holds them equal. IMMUTABLE so it can be indexed.
CREATE FUNCTION keel_search_text(slug text, data jsonb) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_tsvector('simple', translate(slug || ' ' || coalesce((
        SELECT string_agg(value #>> '{}', ' ')
        FROM jsonb_each(CASE WHEN jsonb_typeof(data) = 'object' THEN data ELSE '{}'::jsonb END)
        WHERE jsonb_typeof(value) = 'string' AND length(value #>> '{}') <= 200
    ), ''),
        'ÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖØÙÚÛÜÝàáâãäåçèéêëìíîïñòóôõöøùúûüýÿĀāĂăĄąĆćĈĉĊċČčĎďĐđĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĦħĨĩĪīĬĭĮįİıĴĵĶķĹĺĻļĽľĿŀŁłŃńŅņŇňŌōŎŏŐőŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŦŧŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽžȘșȚț!"#$%&''()*+,-./:;<=>?@[]^_`{|}~',
        'AAAAAACEEEEIIIINOOOOOOUUUUYaaaaaaceeeeiiiinoooooouuuuyyAaAaAaCcCcCcCcDdDdEeEeEeEeEeGgGgGgGgHhHhIiIiIiIiIiJjKkLlLlLlLlLlNnNnNnOoOoOoRrRrRrSsSsSsSsTtTtTtUuUuUuUuUuUuWwYyYZzZzZzSsTt                               '))
$$;
CREATE INDEX entries_search_idx ON entries USING gin (keel_search_text(slug, data));
