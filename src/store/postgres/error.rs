//! Turns driver and pool errors into `StoreError`: anything that means "no
//! usable connection" becomes `Unavailable` (the caller serves stale or 503),
//! unique violations become `Duplicate`, the rest `Backend`.

use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;

use crate::store::StoreError;

/// Unique constraints the store names in its `Duplicate` messages (see the
/// migration for where each is declared).
pub(super) const ENTRY_SLUG: &str = "entries_type_slug_key";
pub(super) const ENTRY_PUBLISHED_SLUG: &str = "entries_type_published_slug_key";
pub(super) const TOKEN_ACTIVE_NAME: &str = "api_tokens_active_name_key";
pub(super) const TOKEN_HASH: &str = "api_tokens_hash_key";

/// Maps a driver error that has no better, call-specific meaning.
pub(super) fn pg_error(e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        if *code == SqlState::UNIQUE_VIOLATION {
            let what = db.constraint().unwrap_or("unique constraint").to_owned();
            return StoreError::Duplicate(what);
        }
        if is_unavailable_code(code) {
            return StoreError::Unavailable(Box::new(e));
        }
        return StoreError::Backend(Box::new(e));
    }
    if connection_lost(&e) {
        StoreError::Unavailable(Box::new(e))
    } else {
        StoreError::Backend(Box::new(e))
    }
}

/// Getting a connection failed: a full pool, a refused or timed-out connect,
/// bad credentials or a missing database all mean the store cannot serve now.
pub(super) fn pool_error(e: PoolError) -> StoreError {
    match e {
        PoolError::NoRuntimeSpecified => StoreError::Backend(Box::new(e)),
        other => StoreError::Unavailable(Box::new(other)),
    }
}

/// The constraint a unique violation names, if `e` is one.
pub(super) fn violated_constraint(e: &tokio_postgres::Error) -> Option<&str> {
    let db = e.as_db_error()?;
    if *db.code() == SqlState::UNIQUE_VIOLATION {
        db.constraint()
    } else {
        None
    }
}

/// Maps `e`, naming a unique violation with `describe(constraint)` when it
/// returns a message for that constraint.
pub(super) fn duplicate_or(
    e: tokio_postgres::Error,
    describe: impl FnOnce(&str) -> Option<String>,
) -> StoreError {
    match violated_constraint(&e).and_then(describe) {
        Some(message) => StoreError::Duplicate(message),
        None => pg_error(e),
    }
}

/// Maps a failed insert of media uses: the foreign key names an image
/// that does not exist (never uploaded, or deleted meanwhile) as
/// `InvalidState`, with the id the server reports.
pub(super) fn missing_media(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) if *db.code() == SqlState::FOREIGN_KEY_VIOLATION => {
            // "Key (media_id)=(…) is not present in table "media"."
            let id = db
                .detail()
                .and_then(|d| d.split_once("=(")?.1.split_once(')'))
                .map_or("(unknown)", |(id, _)| id);
            StoreError::InvalidState(format!(
                "media {id} does not exist (deleted, or never uploaded)"
            ))
        }
        _ => pg_error(e),
    }
}

/// Server-side codes that mean the session is gone or cannot start.
fn is_unavailable_code(code: &SqlState) -> bool {
    // Class 08: connection exception.
    code.code().starts_with("08")
        || [
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::TOO_MANY_CONNECTIONS,
            // A standby after a failover: no writes until the primary is back.
            SqlState::READ_ONLY_SQL_TRANSACTION,
        ]
        .contains(code)
}

/// A client-side failure of the connection itself (closed socket, I/O error,
/// connect failure or timeout), as opposed to a bad query or value.
fn connection_lost(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if cause.is::<std::io::Error>() {
            return true;
        }
        source = cause.source();
    }
    // The driver's timeout kind carries no source and is not public.
    e.to_string() == "timeout waiting for server"
}

/// A migration that failed because the connection dropped is retryable.
pub(super) fn migration_error(e: refinery::Error) -> StoreError {
    let lost = std::error::Error::source(&e)
        .and_then(|s| s.downcast_ref::<tokio_postgres::Error>())
        .is_some_and(|pg| {
            connection_lost(pg)
                || pg
                    .as_db_error()
                    .is_some_and(|d| is_unavailable_code(d.code()))
        });
    if lost {
        StoreError::Unavailable(Box::new(e))
    } else {
        StoreError::Migration(Box::new(e))
    }
}
