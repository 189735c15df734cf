//! The small records that start-up, the CLI and authentication manage: API
//! tokens and the content type registry. Writes take the caller's
//! transaction; reads a plain connection.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, Transaction, params};

use super::codec::{TOKEN_COLUMNS, json, now, or_duplicate, token_row, ts, unique_violation};
use super::queries::{all, one};
use crate::store::{ApiToken, ContentTypeRecord, Role, StoreError, StoreResult};

pub(super) fn sync_content_types(
    tx: &Transaction<'_>,
    types: &[ContentTypeRecord],
) -> StoreResult<()> {
    let now = ts(now())?;
    let mut stmt = tx.prepare_cached(
        "INSERT INTO content_types (name, schema, hash, updated_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (name) DO UPDATE SET schema = excluded.schema, hash = excluded.hash, \
         updated_at = excluded.updated_at",
    )?;
    for record in types {
        stmt.execute(params![
            record.name,
            json(&record.schema)?,
            record.hash,
            now
        ])?;
    }
    Ok(())
}

/// The partial unique index on active names refuses a second active token
/// of one name; a reused hash is refused by its own unique index.
pub(super) fn create_token(
    tx: &Transaction<'_>,
    name: &str,
    role: Role,
    hash: &str,
) -> StoreResult<ApiToken> {
    let created_at = now();
    tx.prepare_cached(
        "INSERT INTO api_tokens (name, role, hash, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![name, role.as_str(), hash, ts(created_at)?])
    .map_err(|err| {
        let on_hash =
            unique_violation(&err).is_some_and(|columns| columns.contains("api_tokens.hash"));
        or_duplicate(err, || {
            if on_hash {
                "token hash".to_owned()
            } else {
                format!("token {name:?}")
            }
        })
    })?;
    Ok(ApiToken {
        name: name.to_owned(),
        role,
        hash: hash.to_owned(),
        created_at,
        last_used_at: None,
        revoked_at: None,
    })
}

pub(super) fn tokens(conn: &Connection) -> StoreResult<Vec<ApiToken>> {
    let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at, id");
    all(conn, &sql, [], token_row)
}

pub(super) fn token_by_hash(conn: &Connection, hash: &str) -> StoreResult<Option<ApiToken>> {
    let sql =
        format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE hash = ?1 AND revoked_at IS NULL");
    one(conn, &sql, [hash], token_row)
}

pub(super) fn revoke_token(tx: &Transaction<'_>, name: &str) -> StoreResult<()> {
    let changed = tx
        .prepare_cached(
            "UPDATE api_tokens SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
        )?
        .execute(params![name, ts(now())?])?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// `NotFound` when no active token has that name (revoked meanwhile).
pub(super) fn touch_token(tx: &Transaction<'_>, name: &str, at: DateTime<Utc>) -> StoreResult<()> {
    // A token revoked since the request authenticated is simply not
    // touched: recording a use is best effort.
    tx.prepare_cached(
        "UPDATE api_tokens SET last_used_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
    )?
    .execute(params![name, ts(at)?])?;
    Ok(())
}
