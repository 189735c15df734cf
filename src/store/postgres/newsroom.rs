//! The newsroom's tables: accounts and sessions (src/accounts), the audit
//! log, site settings and review requests; entry search is in `search`.
//! Saving settings appends to the event log the way a write does (same
//! counter lock, same NOTIFY), so every node's follower reloads them.
//! Queries whose filters vary are built per shape, so the planner sees each
//! real predicate (and its index) rather than `$n IS NULL OR ...`.

pub(super) mod search;

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio_postgres::Row;
use tokio_postgres::types::{Json, ToSql};
use uuid::Uuid;

use super::error::{duplicate_or, pg_error};
use super::rows::{self, audit_columns, review_columns, user_columns};
use super::write::execute;
use super::{EVENTS_CHANNEL, PgStore, now};
use crate::model::EntryId;
use crate::store::{
    AuditQuery, AuditRecord, EventEntry, NewAudit, NewUser, Review, ReviewState, Session,
    SettingsRecord, StoreError, StoreResult, User, UserChange, UserId,
};

/// Unique constraints named in `Duplicate` messages (migration V8).
const USER_EMAIL: &str = "users_email_key";
const SESSION_ID: &str = "sessions_pkey";

impl PgStore {
    pub(super) async fn insert_user(&self, user: &NewUser) -> StoreResult<User> {
        let sql = concat!(
            "INSERT INTO users (id, email, name, role, password_hash, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING ",
            user_columns!()
        );
        let (id, at) = (Uuid::now_v7(), now());
        let params: [&(dyn ToSql + Sync); 6] = [
            &id,
            &user.email,
            &user.name,
            &user.role.as_str(),
            &user.password_hash,
            &at,
        ];
        let client = self.conn("create_user").await?;
        let statement = client.prepare_cached(sql).await.map_err(pg_error)?;
        let row = client.query_one(&statement, &params).await.map_err(|e| {
            duplicate_or(e, |constraint| {
                (constraint == USER_EMAIL).then(|| format!("email {:?}", user.email))
            })
        })?;
        rows::user(&row)
    }

    pub(super) async fn select_users(&self) -> StoreResult<Vec<User>> {
        let sql = concat!("SELECT ", user_columns!(), " FROM users ORDER BY email");
        let rows = self.rows("users", sql, &[]).await?;
        rows.iter().map(rows::user).collect()
    }

    pub(super) async fn select_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let sql = concat!("SELECT ", user_columns!(), " FROM users WHERE email = $1");
        let row = self.row("user_by_email", sql, &[&email]).await?;
        row.as_ref().map(rows::user).transpose()
    }

    pub(super) async fn select_user(&self, id: UserId) -> StoreResult<Option<User>> {
        let sql = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");
        let row = self.row("user", sql, &[&id]).await?;
        row.as_ref().map(rows::user).transpose()
    }

    /// Applies the change and, when it disables the account or sets a new
    /// password, ends its sessions: one transaction, so no session outlives
    /// the change.
    pub(super) async fn change_user(&self, id: UserId, change: &UserChange) -> StoreResult<User> {
        let sql = concat!(
            "UPDATE users SET name = coalesce($2, name), role = coalesce($3, role), \
             password_hash = coalesce($4, password_hash), \
             disabled_at = CASE WHEN $5::boolean IS NULL THEN disabled_at \
               WHEN $5 THEN coalesce(disabled_at, $6) ELSE NULL END, \
             updated_at = $6 WHERE id = $1 RETURNING ",
            user_columns!()
        );
        let role = change.role.map(|r| r.as_str());
        let at = now();
        let params: [&(dyn ToSql + Sync); 6] = [
            &id,
            &change.name,
            &role,
            &change.password_hash,
            &change.disabled,
            &at,
        ];
        let mut client = self.conn("update_user").await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        let statement = tx.prepare_cached(sql).await.map_err(pg_error)?;
        let row = tx.query_opt(&statement, &params).await.map_err(pg_error)?;
        // Dropping the transaction rolls it back.
        let user = rows::user(&row.ok_or(StoreError::NotFound)?)?;
        if change.disabled == Some(true) || change.password_hash.is_some() {
            execute(&tx, "DELETE FROM sessions WHERE user_id = $1", &[&id]).await?;
        }
        tx.commit().await.map_err(pg_error)?;
        Ok(user)
    }

    pub(super) async fn insert_session(&self, s: &Session) -> StoreResult<()> {
        let sql = "INSERT INTO sessions (id_hash, user_id, csrf, created_at, last_seen_at, \
                   expires_at, address, user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
        let params: [&(dyn ToSql + Sync); 8] = [
            &s.id_hash,
            &s.user_id,
            &s.csrf,
            &s.created_at,
            &s.last_seen_at,
            &s.expires_at,
            &s.address,
            &s.user_agent,
        ];
        let client = self.conn("create_session").await?;
        let statement = client.prepare_cached(sql).await.map_err(pg_error)?;
        client.execute(&statement, &params).await.map_err(|e| {
            duplicate_or(e, |constraint| {
                (constraint == SESSION_ID).then(|| "session".to_owned())
            })
        })?;
        Ok(())
    }

    pub(super) async fn select_session(
        &self,
        id_hash: &str,
    ) -> StoreResult<Option<(Session, User)>> {
        let sql = "SELECT s.id_hash, s.user_id, s.csrf, s.created_at AS session_created_at, \
                   s.last_seen_at, s.expires_at, s.address, s.user_agent, \
                   u.id, u.email, u.name, u.role, u.password_hash, u.created_at, u.updated_at, \
                   u.disabled_at \
                   FROM sessions s JOIN users u ON u.id = s.user_id \
                   WHERE s.id_hash = $1 AND u.disabled_at IS NULL";
        match self.row("session", sql, &[&id_hash]).await? {
            Some(row) => Ok(Some((rows::session(&row)?, rows::user(&row)?))),
            None => Ok(None),
        }
    }

    pub(super) async fn touch_session_row(
        &self,
        id_hash: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let sql = "UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1";
        self.execute("touch_session", sql, &[&id_hash, &at])
            .await
            .map(drop)
    }

    pub(super) async fn delete_session_row(&self, id_hash: &str) -> StoreResult<()> {
        let sql = "DELETE FROM sessions WHERE id_hash = $1";
        self.execute("delete_session", sql, &[&id_hash])
            .await
            .map(drop)
    }

    /// Stamped by the database's clock, one clock for every node.
    pub(super) async fn insert_audit(&self, r: &NewAudit) -> StoreResult<AuditRecord> {
        let sql = concat!(
            "INSERT INTO audit_log (at, actor, actor_kind, action, target, entry_id, detail, \
             address) VALUES (now(), $1, $2, $3, $4, $5, $6, $7) RETURNING ",
            audit_columns!()
        );
        let params: [&(dyn ToSql + Sync); 7] = [
            &r.actor,
            &r.actor_kind,
            &r.action,
            &r.target,
            &r.entry_id,
            &r.detail,
            &r.address,
        ];
        let row = self.row("record_audit", sql, &params).await?;
        rows::audit(&row.ok_or_else(|| StoreError::Backend("INSERT returned no row".into()))?)
    }

    pub(super) async fn select_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        let limit = i64::from(query.limit);
        let mut q = Filtered::new(concat!("SELECT ", audit_columns!(), " FROM audit_log"));
        if let Some(before) = &query.before {
            q.and("id < $?", before);
        }
        if let Some(entry_id) = &query.entry_id {
            q.and("entry_id = $?", entry_id);
        }
        if let Some(actor) = &query.actor {
            q.and("actor = $?", actor);
        }
        if let Some(prefix) = &query.action_prefix {
            // Not LIKE: a prefix holding `%` or `_` means just that.
            q.and("starts_with(action, $?)", prefix);
        }
        q.then("ORDER BY id DESC LIMIT $?", &limit);
        let rows = self.filtered("audit", &q).await?;
        rows.iter().map(rows::audit).collect()
    }

    pub(super) async fn select_audit_count(
        &self,
        action: &str,
        target: Option<&str>,
        address: Option<&str>,
        since: DateTime<Utc>,
    ) -> StoreResult<i64> {
        let mut q = Filtered::new("SELECT count(*) FROM audit_log");
        q.and("action = $?", &action);
        if let Some(target) = &target {
            q.and("target = $?", target);
        }
        if let Some(address) = &address {
            q.and("address = $?", address);
        }
        q.and("at >= $?", &since);
        let rows = self.filtered("count_audit", &q).await?;
        rows.first().map_or(Ok(0), rows::scalar)
    }

    pub(super) async fn select_settings(&self) -> StoreResult<SettingsRecord> {
        let sql = "SELECT data, version, updated_at, updated_by FROM site_settings WHERE id = 1";
        match self.row("site_settings", sql, &[]).await? {
            Some(row) => rows::settings(&row),
            None => Ok(SettingsRecord {
                data: json!({}),
                version: 0,
                updated_at: None,
                updated_by: None,
            }),
        }
    }

    /// Checks the version under the settings row's lock, replaces the row
    /// and appends a `settings` event, in one transaction. Locks are taken
    /// settings row first, counter row second; entry writes never take the
    /// settings row, so the two cannot deadlock.
    pub(super) async fn replace_settings(
        &self,
        data: &serde_json::Value,
        expected: i64,
        by: &str,
    ) -> StoreResult<SettingsRecord> {
        let at = now();
        let mut client = self.conn("save_site_settings").await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        // A placeholder at version 0 when there is no row yet, so two first
        // saves queue on the same row: the second waits for the first to
        // commit, then finds version 1. Rolled back with a conflict.
        let ensure = "INSERT INTO site_settings (id, data, version, updated_at, updated_by) \
                      VALUES (1, '{}', 0, $1, '') ON CONFLICT (id) DO NOTHING";
        execute(&tx, ensure, &[&at]).await?;
        let lock = "SELECT version FROM site_settings WHERE id = 1 FOR UPDATE";
        let statement = tx.prepare_cached(lock).await.map_err(pg_error)?;
        let found: i64 = rows::scalar(&tx.query_one(&statement, &[]).await.map_err(pg_error)?)?;
        if found != expected {
            // Also takes back the placeholder of a first save.
            let _ = tx.rollback().await;
            return Err(StoreError::Conflict { expected, found });
        }
        let update = "UPDATE site_settings SET data = $1, version = $2, updated_at = $3, \
                      updated_by = $4 WHERE id = 1 \
                      RETURNING data, version, updated_at, updated_by";
        let version = expected + 1;
        let params: [&(dyn ToSql + Sync); 4] = [data, &version, &at, &by];
        let statement = tx.prepare_cached(update).await.map_err(pg_error)?;
        let record = rows::settings(&tx.query_one(&statement, &params).await.map_err(pg_error)?)?;

        // The event, as `write::apply_in` appends one: the next gap-free
        // seq under the counter row's lock, then NOTIFY at commit.
        let next = "UPDATE event_counter SET seq = seq + 1 WHERE id = 1 RETURNING seq";
        let statement = tx.prepare_cached(next).await.map_err(pg_error)?;
        let row = tx.query_opt(&statement, &[]).await.map_err(pg_error)?;
        let row =
            row.ok_or_else(|| StoreError::Backend("the event counter row is missing".into()))?;
        let seq: i64 = rows::scalar(&row)?;
        let insert = "INSERT INTO events (seq, kind, entry_id, paths, keys, created_at, entries) \
                      VALUES ($1, $2, $3, $4, $5, $6, $7)";
        let (no_entry, nothing): (Option<EntryId>, Vec<String>) = (None, Vec::new());
        let entries = Json(Vec::<EventEntry>::new());
        let params: [&(dyn ToSql + Sync); 7] = [
            &seq,
            &"settings",
            &no_entry,
            &nothing,
            &nothing,
            &at,
            &entries,
        ];
        execute(&tx, insert, &params).await?;
        let notify = "SELECT pg_notify($1, $2::bigint::text)";
        execute(&tx, notify, &[&EVENTS_CHANNEL, &seq]).await?;
        tx.commit().await.map_err(pg_error)?;
        Ok(record)
    }

    pub(super) async fn upsert_review(&self, r: &Review) -> StoreResult<()> {
        let sql = "INSERT INTO reviews (entry_id, type, state, version, actor, comment, at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (entry_id) DO UPDATE \
                   SET type = EXCLUDED.type, state = EXCLUDED.state, version = EXCLUDED.version, \
                   actor = EXCLUDED.actor, comment = EXCLUDED.comment, at = EXCLUDED.at";
        let params: [&(dyn ToSql + Sync); 7] = [
            &r.entry_id,
            &r.type_name,
            &r.state.as_str(),
            &r.version,
            &r.actor,
            &r.comment,
            &r.at,
        ];
        self.execute("set_review", sql, &params).await.map(drop)
    }

    pub(super) async fn delete_review(&self, entry_id: EntryId) -> StoreResult<()> {
        let sql = "DELETE FROM reviews WHERE entry_id = $1";
        self.execute("clear_review", sql, &[&entry_id])
            .await
            .map(drop)
    }

    pub(super) async fn select_review(&self, entry_id: EntryId) -> StoreResult<Option<Review>> {
        let sql = concat!(
            "SELECT ",
            review_columns!(),
            " FROM reviews WHERE entry_id = $1"
        );
        let row = self.row("review", sql, &[&entry_id]).await?;
        row.as_ref().map(rows::review).transpose()
    }

    pub(super) async fn select_reviews(
        &self,
        state: Option<ReviewState>,
        limit: u32,
    ) -> StoreResult<Vec<Review>> {
        let limit = i64::from(limit);
        let rows = match state {
            Some(state) => {
                let sql = concat!(
                    "SELECT ",
                    review_columns!(),
                    " FROM reviews WHERE state = $1 ORDER BY at, entry_id LIMIT $2"
                );
                self.rows("reviews", sql, &[&state.as_str(), &limit])
                    .await?
            }
            None => {
                let sql = concat!(
                    "SELECT ",
                    review_columns!(),
                    " FROM reviews ORDER BY at, entry_id LIMIT $1"
                );
                self.rows("reviews", sql, &[&limit]).await?
            }
        };
        rows.iter().map(rows::review).collect()
    }

    async fn filtered(&self, op: &'static str, q: &Filtered<'_>) -> StoreResult<Vec<Row>> {
        let client = self.conn(op).await?;
        let statement = client.prepare_cached(&q.sql).await.map_err(pg_error)?;
        client.query(&statement, &q.params).await.map_err(pg_error)
    }
}

/// A query with the conditions its filters call for, `$?` in each standing
/// for its parameter's number. The shapes are few (one per combination of
/// filters), so each is prepared once per connection.
pub(super) struct Filtered<'a> {
    pub(super) sql: String,
    pub(super) params: Vec<&'a (dyn ToSql + Sync)>,
    conditions: usize,
}

impl<'a> Filtered<'a> {
    fn new(select: &str) -> Self {
        Filtered {
            sql: select.trim_end().to_owned(),
            params: Vec::new(),
            conditions: 0,
        }
    }

    fn and(&mut self, condition: &str, param: &'a (dyn ToSql + Sync)) {
        self.params.push(param);
        let condition = condition.replace("$?", &format!("${}", self.params.len()));
        self.and_always(&condition);
    }

    fn and_always(&mut self, condition: &str) {
        let keyword = if self.conditions == 0 { "WHERE" } else { "AND" };
        self.conditions += 1;
        self.sql.push_str(&format!(" {keyword} ({condition})"));
    }

    /// Appends what follows the conditions (ordering, limit).
    fn then(&mut self, rest: &str, param: &'a (dyn ToSql + Sync)) {
        self.params.push(param);
        let rest = rest.replace("$?", &format!("${}", self.params.len()));
        self.sql.push(' ');
        self.sql.push_str(&rest);
    }
}
