//! The newsroom's records on SQLite (src/accounts, src/admin): people and
//! their sessions, the audit log, site settings, review requests and entry
//! search. Writes take the caller's IMMEDIATE transaction; reads a plain
//! connection. The search index itself (`entry_search`, an FTS5 table) is
//! kept by triggers on `entries` (V5), so only the query lives here.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, Transaction, params};
use serde_json::{Value, json};
use uuid::Uuid;

use super::codec::{
    AUDIT_COLUMNS, ENTRY_COLUMNS, Json, REVIEW_COLUMNS, SESSION_COLUMNS, Ts, USER_COLUMNS,
    audit_row, entry_row, json as to_json, now, or_duplicate, review_row, session_row, ts, user_at,
    user_row,
};
use super::queries::{all, one};
use crate::model::{Entry, EntryId};
use crate::store::{
    AuditQuery, AuditRecord, EntryOp, EntrySearch, NewAudit, NewEvent, NewUser, Review,
    ReviewState, Session, SettingsRecord, StoreError, StoreResult, User, UserChange, UserId, Write,
};

// --- people and sessions ---

pub(super) fn create_user(tx: &Transaction<'_>, user: &NewUser) -> StoreResult<User> {
    let id = Uuid::now_v7();
    let at = now();
    tx.prepare_cached(
        "INSERT INTO users (id, email, name, role, password_hash, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
    )?
    .execute(params![
        id.to_string(),
        user.email,
        user.name,
        user.role.as_str(),
        user.password_hash,
        ts(at)?
    ])
    .map_err(|err| or_duplicate(err, || format!("email {:?}", user.email)))?;
    Ok(User {
        id,
        email: user.email.clone(),
        name: user.name.clone(),
        role: user.role,
        password_hash: user.password_hash.clone(),
        created_at: at,
        updated_at: at,
        disabled_at: None,
    })
}

pub(super) fn users(conn: &Connection) -> StoreResult<Vec<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY email");
    all(conn, &sql, [], user_row)
}

pub(super) fn user_by_email(conn: &Connection, email: &str) -> StoreResult<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = ?1");
    one(conn, &sql, [email], user_row)
}

pub(super) fn user(conn: &Connection, id: UserId) -> StoreResult<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1");
    one(conn, &sql, [id.to_string()], user_row)
}

/// Applies the `Some` fields. Disabling keeps the time of an earlier
/// disable; disabling or a new password ends every session of the account,
/// in this transaction.
pub(super) fn update_user(
    tx: &Transaction<'_>,
    id: UserId,
    change: &UserChange,
) -> StoreResult<User> {
    let current = user(tx, id)?.ok_or(StoreError::NotFound)?;
    let at = now();
    let updated = User {
        name: change.name.clone().unwrap_or(current.name),
        role: change.role.unwrap_or(current.role),
        password_hash: change
            .password_hash
            .clone()
            .unwrap_or(current.password_hash),
        updated_at: at,
        disabled_at: match change.disabled {
            Some(true) => current.disabled_at.or(Some(at)),
            Some(false) => None,
            None => current.disabled_at,
        },
        ..current
    };
    tx.prepare_cached(
        "UPDATE users SET name = ?2, role = ?3, password_hash = ?4, updated_at = ?5, \
         disabled_at = ?6 WHERE id = ?1",
    )?
    .execute(params![
        id.to_string(),
        updated.name,
        updated.role.as_str(),
        updated.password_hash,
        ts(at)?,
        updated.disabled_at.map(ts).transpose()?
    ])?;
    if change.disabled == Some(true) || change.password_hash.is_some() {
        tx.prepare_cached("DELETE FROM sessions WHERE user_id = ?1")?
            .execute([id.to_string()])?;
    }
    Ok(updated)
}

pub(super) fn create_session(tx: &Transaction<'_>, session: &Session) -> StoreResult<()> {
    let sql =
        format!("INSERT INTO sessions ({SESSION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    tx.prepare_cached(&sql)?.execute(params![
        session.id_hash,
        session.user_id.to_string(),
        session.csrf,
        ts(session.created_at)?,
        ts(session.last_seen_at)?,
        ts(session.expires_at)?,
        session.address,
        session.user_agent
    ])?;
    Ok(())
}

/// The session and its account, unless the account is gone or disabled.
pub(super) fn session(conn: &Connection, id_hash: &str) -> StoreResult<Option<(Session, User)>> {
    let sql = format!(
        "SELECT s.id_hash, s.user_id, s.csrf, s.created_at, s.last_seen_at, s.expires_at, \
           s.address, s.user_agent, {} \
         FROM sessions AS s JOIN users AS u ON u.id = s.user_id \
         WHERE s.id_hash = ?1 AND u.disabled_at IS NULL",
        qualified("u", USER_COLUMNS)
    );
    let session_columns = SESSION_COLUMNS.split(',').count();
    one(conn, &sql, [id_hash], |row| {
        Ok((session_row(row)?, user_at(row, session_columns)?))
    })
}

pub(super) fn touch_session(
    tx: &Transaction<'_>,
    id_hash: &str,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    tx.prepare_cached("UPDATE sessions SET last_seen_at = ?2 WHERE id_hash = ?1")?
        .execute(params![id_hash, ts(at)?])?;
    Ok(())
}

pub(super) fn delete_session(tx: &Transaction<'_>, id_hash: &str) -> StoreResult<()> {
    tx.prepare_cached("DELETE FROM sessions WHERE id_hash = ?1")?
        .execute([id_hash])?;
    Ok(())
}

/// `a, b` as `t.a, t.b`.
fn qualified(table: &str, columns: &str) -> String {
    columns
        .split(',')
        .map(|column| format!("{table}.{}", column.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

// --- the audit log ---

pub(super) fn record_audit(tx: &Transaction<'_>, record: &NewAudit) -> StoreResult<AuditRecord> {
    let at = now();
    let id: i64 = tx
        .prepare_cached(
            "INSERT INTO audit_log (at, actor, actor_kind, action, target, entry_id, detail, \
             address) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
        )?
        .query_row(
            params![
                ts(at)?,
                record.actor,
                record.actor_kind,
                record.action,
                record.target,
                record.entry_id.map(|id| id.to_string()),
                to_json(&record.detail)?,
                record.address
            ],
            |row| row.get(0),
        )?;
    Ok(AuditRecord {
        id,
        at,
        actor: record.actor.clone(),
        actor_kind: record.actor_kind.clone(),
        action: record.action.clone(),
        target: record.target.clone(),
        entry_id: record.entry_id,
        detail: record.detail.clone(),
        address: record.address.clone(),
    })
}

/// Newest first. The filters are written into the SQL only when present
/// (as in `queries::entries`), so each form can use its index.
pub(super) fn audit(conn: &Connection, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
    let mut sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE 1 = 1");
    let entry_id = query.entry_id.map(|id| id.to_string());
    if query.before.is_some() {
        sql.push_str(" AND id < ?1");
    }
    if entry_id.is_some() {
        sql.push_str(" AND entry_id = ?2");
    }
    if query.actor.is_some() {
        sql.push_str(" AND actor = ?3");
    }
    // A prefix compared as a prefix: no LIKE, so `%` and `_` are plain.
    if query.action_prefix.is_some() {
        sql.push_str(" AND substr(action, 1, length(?4)) = ?4");
    }
    sql.push_str(" ORDER BY id DESC LIMIT ?5");
    let mut stmt = conn.prepare_cached(&sql)?;
    if let Some(before) = query.before {
        stmt.raw_bind_parameter(1, before)?;
    }
    if let Some(entry_id) = &entry_id {
        stmt.raw_bind_parameter(2, entry_id)?;
    }
    if let Some(actor) = &query.actor {
        stmt.raw_bind_parameter(3, actor)?;
    }
    if let Some(prefix) = &query.action_prefix {
        stmt.raw_bind_parameter(4, prefix)?;
    }
    stmt.raw_bind_parameter(5, i64::from(query.limit))?;
    let mut rows = stmt.raw_query();
    let mut records = Vec::new();
    while let Some(row) = rows.next()? {
        records.push(audit_row(row)?);
    }
    Ok(records)
}

/// Records of `action` at or after `since`, of this target and from this
/// address when given: one range of `(action, target, at)` or
/// `(action, address, at)`.
pub(super) fn count_audit(
    conn: &Connection,
    action: &str,
    target: Option<&str>,
    address: Option<&str>,
    since: DateTime<Utc>,
) -> StoreResult<i64> {
    let mut sql = "SELECT COUNT(*) FROM audit_log WHERE action = ?1 AND at >= ?2".to_owned();
    if target.is_some() {
        sql.push_str(" AND target = ?3");
    }
    if address.is_some() {
        sql.push_str(" AND address = ?4");
    }
    let mut stmt = conn.prepare_cached(&sql)?;
    stmt.raw_bind_parameter(1, action)?;
    stmt.raw_bind_parameter(2, ts(since)?)?;
    if let Some(target) = target {
        stmt.raw_bind_parameter(3, target)?;
    }
    if let Some(address) = address {
        stmt.raw_bind_parameter(4, address)?;
    }
    let mut rows = stmt.raw_query();
    match rows.next()? {
        Some(row) => Ok(row.get(0)?),
        None => Ok(0),
    }
}

// --- site settings ---

fn settings_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<SettingsRecord> {
    Ok(SettingsRecord {
        data: row.get::<_, Json<Value>>(0)?.0,
        version: row.get(1)?,
        updated_at: Some(row.get::<_, Ts>(2)?.0),
        updated_by: Some(row.get(3)?),
    })
}

pub(super) fn site_settings(conn: &Connection) -> StoreResult<SettingsRecord> {
    let stored = one(
        conn,
        "SELECT data, version, updated_at, updated_by FROM site_settings WHERE id = 1",
        [],
        settings_row,
    )?;
    Ok(stored.unwrap_or_else(|| SettingsRecord {
        data: json!({}),
        version: 0,
        updated_at: None,
        updated_by: None,
    }))
}

/// Checks the version, replaces the row and appends the `settings` event
/// through the write path (the next seq of the one counter, in this
/// transaction), so the log stays gap-free and in commit order.
pub(super) fn save_site_settings(
    tx: &Transaction<'_>,
    data: &Value,
    expected_version: i64,
    by: &str,
) -> StoreResult<SettingsRecord> {
    let found: i64 = one(
        tx,
        "SELECT version FROM site_settings WHERE id = 1",
        [],
        |row| row.get(0),
    )?
    .unwrap_or(0);
    if found != expected_version {
        return Err(StoreError::Conflict {
            expected: expected_version,
            found,
        });
    }
    let at = now();
    let version = expected_version + 1;
    tx.prepare_cached(
        "INSERT INTO site_settings (id, data, version, updated_at, updated_by) \
         VALUES (1, ?1, ?2, ?3, ?4) \
         ON CONFLICT (id) DO UPDATE SET data = excluded.data, version = excluded.version, \
         updated_at = excluded.updated_at, updated_by = excluded.updated_by",
    )?
    .execute(params![to_json(data)?, version, ts(at)?, by])?;
    let event = NewEvent {
        kind: "settings".to_owned(),
        ..NewEvent::default()
    };
    super::write::apply(tx, Write::new(EntryOp::None, by).with_event(event).at(at))?;
    Ok(SettingsRecord {
        data: data.clone(),
        version,
        updated_at: Some(at),
        updated_by: Some(by.to_owned()),
    })
}

// --- review ---

pub(super) fn set_review(tx: &Transaction<'_>, review: &Review) -> StoreResult<()> {
    let sql = format!(
        "INSERT INTO reviews ({REVIEW_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
         ON CONFLICT (entry_id) DO UPDATE SET type = excluded.type, state = excluded.state, \
         version = excluded.version, actor = excluded.actor, comment = excluded.comment, \
         at = excluded.at"
    );
    tx.prepare_cached(&sql)?.execute(params![
        review.entry_id.to_string(),
        review.type_name,
        review.state.as_str(),
        review.version,
        review.actor,
        review.comment,
        ts(review.at)?
    ])?;
    Ok(())
}

pub(super) fn clear_review(tx: &Transaction<'_>, entry_id: EntryId) -> StoreResult<()> {
    tx.prepare_cached("DELETE FROM reviews WHERE entry_id = ?1")?
        .execute([entry_id.to_string()])?;
    Ok(())
}

pub(super) fn review(conn: &Connection, entry_id: EntryId) -> StoreResult<Option<Review>> {
    let sql = format!("SELECT {REVIEW_COLUMNS} FROM reviews WHERE entry_id = ?1");
    one(conn, &sql, [entry_id.to_string()], review_row)
}

/// Oldest first (`at`, then the entry id so equal times keep one order).
pub(super) fn reviews(
    conn: &Connection,
    state: Option<ReviewState>,
    limit: u32,
) -> StoreResult<Vec<Review>> {
    match state {
        Some(state) => {
            let sql = format!(
                "SELECT {REVIEW_COLUMNS} FROM reviews WHERE state = ?1 \
                 ORDER BY at, entry_id LIMIT ?2"
            );
            all(conn, &sql, params![state.as_str(), limit], review_row)
        }
        None => {
            let sql =
                format!("SELECT {REVIEW_COLUMNS} FROM reviews ORDER BY at, entry_id LIMIT ?1");
            all(conn, &sql, [limit], review_row)
        }
    }
}

// --- search ---

/// The FTS5 query for what a person typed: every word (a run of letters
/// and digits) as a quoted prefix term, all required. Quoting makes every
/// word a plain string to FTS5, so operators (`OR`, `NEAR`, `*`, `^`,
/// parentheses, column filters) typed in the box are only text. `None`
/// when there is no word.
pub(super) fn match_query(text: &str) -> Option<String> {
    let terms: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| format!("\"{}\"*", word.replace('"', "\"\"")))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

/// Entries of a type, newest first, matching the words (if any) and the
/// filters. Filters are written into the SQL only when present, as in
/// `queries::entries`, so the `(type, id)` index walks newest first from
/// the cursor.
pub(super) fn search_entries(conn: &Connection, search: &EntrySearch) -> StoreResult<Vec<Entry>> {
    let mut sql = format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE type = ?1");
    let matching = match_query(&search.text);
    let status = search.status.map(|s| s.as_str());
    let before = search.before.map(|id| id.to_string());
    if matching.is_some() {
        sql.push_str(
            " AND id IN (SELECT k.id FROM entry_search \
               JOIN entry_search_keys AS k ON k.key = entry_search.rowid \
               WHERE entry_search MATCH ?2)",
        );
    }
    if status.is_some() {
        sql.push_str(" AND status = ?3");
    }
    if search.scheduled {
        sql.push_str(" AND status = 'scheduled'");
    }
    if search.unpublished_changes {
        sql.push_str(
            " AND published_data IS NOT NULL \
             AND (data <> published_data OR slug <> published_slug)",
        );
    }
    if before.is_some() {
        sql.push_str(" AND id < ?4");
    }
    sql.push_str(" ORDER BY id DESC LIMIT ?5");
    let mut stmt = conn.prepare_cached(&sql)?;
    stmt.raw_bind_parameter(1, &search.type_name)?;
    if let Some(matching) = &matching {
        stmt.raw_bind_parameter(2, matching)?;
    }
    if let Some(status) = status {
        stmt.raw_bind_parameter(3, status)?;
    }
    if let Some(before) = &before {
        stmt.raw_bind_parameter(4, before)?;
    }
    stmt.raw_bind_parameter(5, i64::from(search.limit))?;
    let mut rows = stmt.raw_query();
    let mut entries = Vec::new();
    while let Some(row) = rows.next()? {
        entries.push(entry_row(row)?);
    }
    Ok(entries)
}
