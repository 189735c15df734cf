//! Column lists and row decoding. Decoding never panics: a value the model
//! cannot hold (an unknown status, a status code out of range) is a
//! `Backend` error naming the column.

use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, Json};

use crate::model::{CachePolicy, Entry, EntryStatus, Link, Page, Revision};
use crate::store::{
    ApiToken, AuditRecord, ContentTypeRecord, Event, PageSummary, Review, ReviewState, Role,
    Session, SettingsRecord, StoreError, StoreResult, User,
};

/// `SELECT <entry columns> FROM entries <rest>`, built at compile time so
/// the text can go to `prepare_cached` as a `&'static str`.
macro_rules! select_entries {
    ($rest:literal) => {
        concat!(
            "SELECT id, type, slug, status, version, data, published_slug, published_data, \
             created_at, updated_at, published_at, publish_at FROM entries ",
            $rest
        )
    };
}

/// `RETURNING <entry columns>` for writes that hand back the new row.
macro_rules! returning_entry {
    () => {
        " RETURNING id, type, slug, status, version, data, published_slug, published_data, \
         created_at, updated_at, published_at, publish_at"
    };
}

macro_rules! select_pages {
    ($rest:literal) => {
        concat!(
            "SELECT path, entry_id, status, content_type, identity, br, gzip, etag, \
             last_modified, surrogate_keys, cache_policy, seq, immutable FROM pages ",
            $rest
        )
    };
}

macro_rules! select_revisions {
    ($rest:literal) => {
        concat!(
            "SELECT entry_id, version, action, slug, data, author, created_at FROM revisions ",
            $rest
        )
    };
}

macro_rules! select_events {
    ($rest:literal) => {
        concat!(
            "SELECT seq, kind, entry_id, paths, keys, created_at, entries FROM events ",
            $rest
        )
    };
}

macro_rules! token_columns {
    () => {
        "name, role, hash, created_at, last_used_at, revoked_at"
    };
}

macro_rules! user_columns {
    () => {
        "id, email, name, role, password_hash, created_at, updated_at, disabled_at"
    };
}

macro_rules! audit_columns {
    () => {
        "id, at, actor, actor_kind, action, target, entry_id, detail, address"
    };
}

macro_rules! review_columns {
    () => {
        "entry_id, type, state, version, actor, comment, at"
    };
}

pub(super) use {
    audit_columns, returning_entry, review_columns, select_entries, select_events, select_pages,
    select_revisions, token_columns, user_columns,
};

/// Reads one column, turning a type mismatch into a `Backend` error.
pub(super) fn get<'a, T: FromSql<'a>>(row: &'a Row, column: &str) -> StoreResult<T> {
    row.try_get(column)
        .map_err(|e| StoreError::Backend(format!("column {column}: {e}").into()))
}

fn invalid(column: &str, value: impl std::fmt::Debug) -> StoreError {
    StoreError::Backend(format!("column {column} holds an unexpected value {value:?}").into())
}

pub(super) fn entry(row: &Row) -> StoreResult<Entry> {
    let status: &str = get(row, "status")?;
    Ok(Entry {
        id: get(row, "id")?,
        type_name: get(row, "type")?,
        slug: get(row, "slug")?,
        status: EntryStatus::parse(status).ok_or_else(|| invalid("status", status))?,
        version: get(row, "version")?,
        data: get(row, "data")?,
        published_slug: get(row, "published_slug")?,
        published_data: get(row, "published_data")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        published_at: get(row, "published_at")?,
        publish_at: get(row, "publish_at")?,
    })
}

pub(super) fn revision(row: &Row) -> StoreResult<Revision> {
    Ok(Revision {
        entry_id: get(row, "entry_id")?,
        version: get(row, "version")?,
        action: get(row, "action")?,
        slug: get(row, "slug")?,
        data: get(row, "data")?,
        author: get(row, "author")?,
        created_at: get(row, "created_at")?,
    })
}

pub(super) fn event(row: &Row) -> StoreResult<Event> {
    Ok(Event {
        seq: get(row, "seq")?,
        kind: get(row, "kind")?,
        entry_id: get(row, "entry_id")?,
        paths: get(row, "paths")?,
        keys: get(row, "keys")?,
        created_at: get(row, "created_at")?,
        entries: get::<Json<_>>(row, "entries")?.0,
    })
}

pub(super) fn link(row: &Row) -> StoreResult<Link> {
    Ok(Link {
        id: get(row, "id")?,
        type_name: get(row, "type")?,
        slug: get(row, "published_slug")?,
        published_at: get(row, "published_at")?,
    })
}

pub(super) fn page_summary(row: &Row) -> StoreResult<PageSummary> {
    Ok(PageSummary {
        path: get(row, "path")?,
        seq: get(row, "seq")?,
        bytes: get(row, "bytes")?,
    })
}

pub(super) fn page(row: &Row) -> StoreResult<Page> {
    let status: i32 = get(row, "status")?;
    let Json(mut cache_policy): Json<CachePolicy> = get(row, "cache_policy")?;
    cache_policy.immutable = get(row, "immutable")?;
    Ok(Page {
        path: get(row, "path")?,
        entry_id: get(row, "entry_id")?,
        status: u16::try_from(status).map_err(|_| invalid("status", status))?,
        content_type: get(row, "content_type")?,
        identity: get(row, "identity")?,
        br: get(row, "br")?,
        gzip: get(row, "gzip")?,
        etag: get(row, "etag")?,
        last_modified: get(row, "last_modified")?,
        surrogate_keys: get(row, "surrogate_keys")?,
        cache_policy,
        seq: get(row, "seq")?,
    })
}

pub(super) fn token(row: &Row) -> StoreResult<ApiToken> {
    let role: &str = get(row, "role")?;
    Ok(ApiToken {
        name: get(row, "name")?,
        role: Role::parse(role).ok_or_else(|| invalid("role", role))?,
        hash: get(row, "hash")?,
        created_at: get(row, "created_at")?,
        last_used_at: get(row, "last_used_at")?,
        revoked_at: get(row, "revoked_at")?,
    })
}

pub(super) fn content_type(row: &Row) -> StoreResult<ContentTypeRecord> {
    Ok(ContentTypeRecord {
        name: get(row, "name")?,
        schema: get(row, "schema")?,
        hash: get(row, "hash")?,
    })
}

pub(super) fn user(row: &Row) -> StoreResult<User> {
    let role: &str = get(row, "role")?;
    Ok(User {
        id: get(row, "id")?,
        email: get(row, "email")?,
        name: get(row, "name")?,
        role: Role::parse(role).ok_or_else(|| invalid("role", role))?,
        password_hash: get(row, "password_hash")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        disabled_at: get(row, "disabled_at")?,
    })
}

/// A session selected with its user's columns: its own `created_at` comes
/// as `session_created_at`.
pub(super) fn session(row: &Row) -> StoreResult<Session> {
    Ok(Session {
        id_hash: get(row, "id_hash")?,
        user_id: get(row, "user_id")?,
        csrf: get(row, "csrf")?,
        created_at: get(row, "session_created_at")?,
        last_seen_at: get(row, "last_seen_at")?,
        expires_at: get(row, "expires_at")?,
        address: get(row, "address")?,
        user_agent: get(row, "user_agent")?,
    })
}

pub(super) fn audit(row: &Row) -> StoreResult<AuditRecord> {
    Ok(AuditRecord {
        id: get(row, "id")?,
        at: get(row, "at")?,
        actor: get(row, "actor")?,
        actor_kind: get(row, "actor_kind")?,
        action: get(row, "action")?,
        target: get(row, "target")?,
        entry_id: get(row, "entry_id")?,
        detail: get(row, "detail")?,
        address: get(row, "address")?,
    })
}

pub(super) fn settings(row: &Row) -> StoreResult<SettingsRecord> {
    Ok(SettingsRecord {
        data: get(row, "data")?,
        version: get(row, "version")?,
        updated_at: Some(get(row, "updated_at")?),
        updated_by: Some(get(row, "updated_by")?),
    })
}

pub(super) fn review(row: &Row) -> StoreResult<Review> {
    let state: &str = get(row, "state")?;
    Ok(Review {
        entry_id: get(row, "entry_id")?,
        type_name: get(row, "type")?,
        state: ReviewState::parse(state).ok_or_else(|| invalid("state", state))?,
        version: get(row, "version")?,
        actor: get(row, "actor")?,
        comment: get(row, "comment")?,
        at: get(row, "at")?,
    })
}

/// A single-column value (counts, seqs).
pub(super) fn scalar<'a, T: FromSql<'a>>(row: &'a Row) -> StoreResult<T> {
    row.try_get(0)
        .map_err(|e| StoreError::Backend(format!("column 0: {e}").into()))
}
