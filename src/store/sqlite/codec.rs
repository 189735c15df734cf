//! How model values are stored in SQLite columns and read back, and how
//! SQLite errors become `StoreError`s. Timestamps are fixed-width RFC 3339 UTC
//! text with microseconds so that comparing the text compares the times; ids
//! are hyphenated lowercase UUID text, whose order is UUIDv7 creation order.

use chrono::{DateTime, Datelike, NaiveDateTime, SubsecRound, Utc};
use rusqlite::Row;
use rusqlite::ffi::{self, ErrorCode};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ValueRef};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::model::{CachePolicy, Entry, EntryStatus, Page, Revision};
use crate::store::{
    ApiToken, AuditRecord, ContentTypeRecord, Event, Review, ReviewState, Role, Session,
    StoreError, User,
};

/// Every stored timestamp has this shape; zero-padded fields and a fixed
/// fraction make text order equal time order.
const TIMESTAMP_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

/// The current time at the precision stored, so a value written and read back
/// compares equal to the one the caller saw.
pub(super) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Encodes a timestamp; years outside 0..=9999 would break the fixed width
/// (and with it the ordering), so they are refused.
pub(super) fn ts(at: DateTime<Utc>) -> Result<String, StoreError> {
    if !(0..=9999).contains(&at.year()) {
        return Err(StoreError::InvalidState(format!(
            "timestamp {at} is outside the years 0000-9999"
        )));
    }
    Ok(at.format(TIMESTAMP_FORMAT).to_string())
}

pub(super) fn json<T: Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|err| StoreError::Backend(err.into()))
}

/// A timestamp column.
pub(super) struct Ts(pub(super) DateTime<Utc>);

impl FromSql for Ts {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        NaiveDateTime::parse_from_str(text, TIMESTAMP_FORMAT)
            .map(|naive| Ts(naive.and_utc()))
            .map_err(FromSqlError::other)
    }
}

/// A uuid column.
pub(super) struct Id(pub(super) Uuid);

impl FromSql for Id {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        Uuid::parse_str(value.as_str()?)
            .map(Id)
            .map_err(FromSqlError::other)
    }
}

/// A JSON text column.
pub(super) struct Json<T>(pub(super) T);

impl<T: DeserializeOwned> FromSql for Json<T> {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        serde_json::from_str(value.as_str()?)
            .map(Json)
            .map_err(FromSqlError::other)
    }
}

struct Status(EntryStatus);

impl FromSql for Status {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        EntryStatus::parse(text)
            .map(Status)
            .ok_or_else(|| FromSqlError::Other(format!("unknown entry status {text:?}").into()))
    }
}

struct StoredRole(Role);

impl FromSql for StoredRole {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        Role::parse(text)
            .map(StoredRole)
            .ok_or_else(|| FromSqlError::Other(format!("unknown token role {text:?}").into()))
    }
}

/// Columns read by [`entry_row`], in its order.
pub(super) const ENTRY_COLUMNS: &str = "id, type, slug, status, version, data, published_slug, \
     published_data, created_at, updated_at, published_at, publish_at";

pub(super) fn entry_row(row: &Row<'_>) -> rusqlite::Result<Entry> {
    Ok(Entry {
        id: row.get::<_, Id>(0)?.0,
        type_name: row.get(1)?,
        slug: row.get(2)?,
        status: row.get::<_, Status>(3)?.0,
        version: row.get(4)?,
        data: row.get::<_, Json<_>>(5)?.0,
        published_slug: row.get(6)?,
        published_data: row.get::<_, Option<Json<_>>>(7)?.map(|j| j.0),
        created_at: row.get::<_, Ts>(8)?.0,
        updated_at: row.get::<_, Ts>(9)?.0,
        published_at: row.get::<_, Option<Ts>>(10)?.map(|t| t.0),
        publish_at: row.get::<_, Option<Ts>>(11)?.map(|t| t.0),
    })
}

pub(super) const REVISION_COLUMNS: &str =
    "entry_id, version, action, slug, data, author, created_at";

pub(super) fn revision_row(row: &Row<'_>) -> rusqlite::Result<Revision> {
    Ok(Revision {
        entry_id: row.get::<_, Id>(0)?.0,
        version: row.get(1)?,
        action: row.get(2)?,
        slug: row.get(3)?,
        data: row.get::<_, Json<_>>(4)?.0,
        author: row.get(5)?,
        created_at: row.get::<_, Ts>(6)?.0,
    })
}

pub(super) const EVENT_COLUMNS: &str = "seq, kind, entry_id, paths, keys, created_at, entries";

pub(super) fn event_row(row: &Row<'_>) -> rusqlite::Result<Event> {
    Ok(Event {
        seq: row.get(0)?,
        kind: row.get(1)?,
        entry_id: row.get::<_, Option<Id>>(2)?.map(|id| id.0),
        paths: row.get::<_, Json<_>>(3)?.0,
        keys: row.get::<_, Json<_>>(4)?.0,
        created_at: row.get::<_, Ts>(5)?.0,
        entries: row.get::<_, Json<_>>(6)?.0,
    })
}

pub(super) const PAGE_COLUMNS: &str = "path, entry_id, status, content_type, identity, br, gzip, \
     etag, last_modified, surrogate_keys, cache_policy, seq, immutable";

pub(super) fn page_row(row: &Row<'_>) -> rusqlite::Result<Page> {
    let status: i64 = row.get(2)?;
    let mut cache_policy: CachePolicy = row.get::<_, Json<_>>(10)?.0;
    cache_policy.immutable = row.get(12)?;
    Ok(Page {
        path: row.get(0)?,
        entry_id: row.get::<_, Option<Id>>(1)?.map(|id| id.0),
        status: u16::try_from(status)
            .map_err(|_| rusqlite::Error::IntegralValueOutOfRange(2, status))?,
        content_type: row.get(3)?,
        identity: row.get(4)?,
        br: row.get(5)?,
        gzip: row.get(6)?,
        etag: row.get(7)?,
        last_modified: row.get::<_, Ts>(8)?.0,
        surrogate_keys: row.get::<_, Json<_>>(9)?.0,
        cache_policy,
        seq: row.get(11)?,
    })
}

pub(super) const TOKEN_COLUMNS: &str = "name, role, hash, created_at, last_used_at, revoked_at";

pub(super) fn token_row(row: &Row<'_>) -> rusqlite::Result<ApiToken> {
    Ok(ApiToken {
        name: row.get(0)?,
        role: row.get::<_, StoredRole>(1)?.0,
        hash: row.get(2)?,
        created_at: row.get::<_, Ts>(3)?.0,
        last_used_at: row.get::<_, Option<Ts>>(4)?.map(|t| t.0),
        revoked_at: row.get::<_, Option<Ts>>(5)?.map(|t| t.0),
    })
}

pub(super) fn content_type_row(row: &Row<'_>) -> rusqlite::Result<ContentTypeRecord> {
    Ok(ContentTypeRecord {
        name: row.get(0)?,
        schema: row.get::<_, Json<_>>(1)?.0,
        hash: row.get(2)?,
    })
}

struct StoredReviewState(ReviewState);

impl FromSql for StoredReviewState {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        ReviewState::parse(text)
            .map(StoredReviewState)
            .ok_or_else(|| FromSqlError::Other(format!("unknown review state {text:?}").into()))
    }
}

/// Columns read by [`user_at`], in its order.
pub(super) const USER_COLUMNS: &str =
    "id, email, name, role, password_hash, created_at, updated_at, disabled_at";

/// A user from the columns of [`USER_COLUMNS`] starting at column `at`
/// (after a session's, in a join).
pub(super) fn user_at(row: &Row<'_>, at: usize) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get::<_, Id>(at)?.0,
        email: row.get(at + 1)?,
        name: row.get(at + 2)?,
        role: row.get::<_, StoredRole>(at + 3)?.0,
        password_hash: row.get(at + 4)?,
        created_at: row.get::<_, Ts>(at + 5)?.0,
        updated_at: row.get::<_, Ts>(at + 6)?.0,
        disabled_at: row.get::<_, Option<Ts>>(at + 7)?.map(|t| t.0),
    })
}

pub(super) fn user_row(row: &Row<'_>) -> rusqlite::Result<User> {
    user_at(row, 0)
}

/// Columns read by [`session_row`], in its order.
pub(super) const SESSION_COLUMNS: &str =
    "id_hash, user_id, csrf, created_at, last_seen_at, expires_at, address, user_agent";

pub(super) fn session_row(row: &Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        id_hash: row.get(0)?,
        user_id: row.get::<_, Id>(1)?.0,
        csrf: row.get(2)?,
        created_at: row.get::<_, Ts>(3)?.0,
        last_seen_at: row.get::<_, Ts>(4)?.0,
        expires_at: row.get::<_, Ts>(5)?.0,
        address: row.get(6)?,
        user_agent: row.get(7)?,
    })
}

/// Columns read by [`audit_row`], in its order.
pub(super) const AUDIT_COLUMNS: &str =
    "id, at, actor, actor_kind, action, target, entry_id, detail, address";

pub(super) fn audit_row(row: &Row<'_>) -> rusqlite::Result<AuditRecord> {
    Ok(AuditRecord {
        id: row.get(0)?,
        at: row.get::<_, Ts>(1)?.0,
        actor: row.get(2)?,
        actor_kind: row.get(3)?,
        action: row.get(4)?,
        target: row.get(5)?,
        entry_id: row.get::<_, Option<Id>>(6)?.map(|id| id.0),
        detail: row.get::<_, Json<_>>(7)?.0,
        address: row.get(8)?,
    })
}

/// Columns read by [`review_row`], in its order.
pub(super) const REVIEW_COLUMNS: &str = "entry_id, type, state, version, actor, comment, at";

pub(super) fn review_row(row: &Row<'_>) -> rusqlite::Result<Review> {
    Ok(Review {
        entry_id: row.get::<_, Id>(0)?.0,
        type_name: row.get(1)?,
        state: row.get::<_, StoredReviewState>(2)?.0,
        version: row.get(3)?,
        actor: row.get(4)?,
        comment: row.get(5)?,
        at: row.get::<_, Ts>(6)?.0,
    })
}

/// The columns a unique or primary-key constraint refused, as SQLite names
/// them (`entries.type, entries.slug`), or `None` for any other error.
pub(super) fn unique_violation(err: &rusqlite::Error) -> Option<&str> {
    match err {
        rusqlite::Error::SqliteFailure(e, message)
            if e.extended_code == ffi::SQLITE_CONSTRAINT_UNIQUE
                || e.extended_code == ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            let message = message.as_deref().unwrap_or("a unique constraint");
            Some(
                message
                    .strip_prefix("UNIQUE constraint failed: ")
                    .unwrap_or(message),
            )
        }
        _ => None,
    }
}

/// Maps a failed statement to `Duplicate(what())` when it broke a unique
/// constraint, and as usual otherwise.
pub(super) fn or_duplicate(err: rusqlite::Error, what: impl FnOnce() -> String) -> StoreError {
    if unique_violation(&err).is_some() {
        StoreError::Duplicate(what())
    } else {
        StoreError::from(err)
    }
}

/// A locked or unopenable file is worth retrying (`Unavailable`); a unique
/// violation the call site did not name is still a `Duplicate`; the rest is
/// `Backend`.
impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        if let Some(columns) = unique_violation(&err) {
            return StoreError::Duplicate(columns.to_owned());
        }
        match &err {
            rusqlite::Error::SqliteFailure(e, _)
                if matches!(
                    e.code,
                    ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked | ErrorCode::CannotOpen
                ) =>
            {
                StoreError::Unavailable(err.into())
            }
            _ => StoreError::Backend(err.into()),
        }
    }
}
