//! PostgreSQL backend: the `Store` for many keel nodes sharing one database.
//! Owns the connection pool (bounded, with timeouts on every wait so a slow
//! or dead database surfaces as `Unavailable` instead of a hang), the SQL,
//! and the write transaction that appends to the event log and `NOTIFY`s
//! followers. It never listens for notifications itself: pooled connections
//! cannot deliver them, so the event follower keeps its own connection.

mod error;
mod index;
mod media;
mod migrate;
mod newsroom;
mod outbox;
mod rows;
mod write;

#[cfg(test)]
mod tests;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use self::error::{TOKEN_ACTIVE_NAME, TOKEN_HASH, pg_error, pool_error};
use self::rows::{select_entries, select_events, select_pages, select_revisions, token_columns};
use crate::model::{Media, MediaChange, MediaId, MediaQuery, MediaVariant, NewMedia};

use super::{
    ApiToken, AuditQuery, AuditRecord, ContentTypeRecord, Delivery, Entry, EntryId, EntryQuery,
    EntrySearch, Event, IndexedEntry, Link, MediaDeletion, NewAudit, NewEvent, NewUser,
    NodeHeartbeat, OutboxCursor, Page, PageSummary, PoolStatus, Review, ReviewState, Revision,
    Role, Session, SettingsRecord, Store, StoreError, StoreResult, User, UserChange, UserId, Write,
    WriteOutcome,
};

/// The channel every committed event is announced on; the payload is its seq.
pub const EVENTS_CHANNEL: &str = "keel_events";

/// Pool sizing and the three waits that must never be unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgOptions {
    /// Most connections this node opens; bounds concurrent queries.
    pub pool_size: usize,
    /// How long a query may wait for a free connection before `Unavailable`
    /// (short: the caller would rather serve a stale page).
    pub acquire_timeout: Duration,
    /// How long opening a new connection (TCP, startup, auth) may take.
    pub connect_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            pool_size: 16,
            acquire_timeout: Duration::from_millis(250),
            connect_timeout: Duration::from_secs(2),
        }
    }
}

/// A handle on the pool; cheap to clone, every clone shares the connections.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
}

impl PgStore {
    /// Builds the pool with default options. Connects lazily: a database that
    /// is down makes `ping` and queries fail fast, not this.
    pub async fn connect(url: &str) -> Result<PgStore, StoreError> {
        Self::connect_with(url, PgOptions::default()).await
    }

    /// Like `connect`, with explicit pool size and timeouts. Fails only on a
    /// URL that cannot work (unparsable, no host), never on the server.
    pub async fn connect_with(url: &str, options: PgOptions) -> Result<PgStore, StoreError> {
        let mut config = tokio_postgres::Config::from_str(url)
            .map_err(|e| StoreError::Backend(format!("invalid PostgreSQL URL: {e}").into()))?;
        if config.get_hosts().is_empty() {
            return Err(StoreError::Backend(
                "the PostgreSQL URL names no host".into(),
            ));
        }
        config.connect_timeout(options.connect_timeout);
        if config.get_application_name().is_none() {
            // Lets operators tell keel's sessions apart in pg_stat_activity.
            config.application_name("keel");
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                // A closed client is detected without a round trip; a broken
                // one fails its first query with `Unavailable` and is dropped.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        // Every deadpool timeout defaults to None, which waits forever.
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.acquire_timeout))
            .create_timeout(Some(options.connect_timeout))
            .recycle_timeout(Some(options.acquire_timeout))
            .build()
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        Ok(PgStore { pool })
    }

    /// Every query passes through here, named by a short `op`: the one place
    /// to count queries per op (`keel_db_queries_total{op}`).
    async fn conn(&self, op: &'static str) -> StoreResult<Object> {
        tracing::trace!(op, "postgres query");
        self.pool.get().await.map_err(pool_error)
    }

    async fn rows(
        &self,
        op: &'static str,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Vec<Row>> {
        let client = self.conn(op).await?;
        let statement = client.prepare_cached(sql).await.map_err(pg_error)?;
        client.query(&statement, params).await.map_err(pg_error)
    }

    async fn row(
        &self,
        op: &'static str,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Option<Row>> {
        let client = self.conn(op).await?;
        let statement = client.prepare_cached(sql).await.map_err(pg_error)?;
        client.query_opt(&statement, params).await.map_err(pg_error)
    }

    async fn execute(
        &self,
        op: &'static str,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<u64> {
        let client = self.conn(op).await?;
        let statement = client.prepare_cached(sql).await.map_err(pg_error)?;
        client.execute(&statement, params).await.map_err(pg_error)
    }

    async fn entries_where(
        &self,
        op: &'static str,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Vec<Entry>> {
        self.rows(op, sql, params)
            .await?
            .iter()
            .map(rows::entry)
            .collect()
    }

    async fn entry_where(
        &self,
        op: &'static str,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Option<Entry>> {
        self.row(op, sql, params)
            .await?
            .as_ref()
            .map(rows::entry)
            .transpose()
    }
}

/// The current time at the database's precision, so a value handed back
/// from a write equals the one read later.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

#[async_trait]
impl Store for PgStore {
    fn pool_status(&self) -> Option<PoolStatus> {
        let status = self.pool.status();
        Some(PoolStatus {
            size: status.size,
            idle: status.available,
            waiting: status.waiting,
        })
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn migrate(&self) -> StoreResult<usize> {
        migrate::run(self.conn("migrate").await?).await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.row("ping", "SELECT 1", &[]).await.map(drop)
    }

    async fn sync_content_types(&self, types: &[ContentTypeRecord]) -> StoreResult<()> {
        let mut client = self.conn("sync_content_types").await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        // Rewrites a row only when its hash changed, so nodes starting
        // together with the same files do not churn the table.
        let upsert = tx
            .prepare_cached(
                "INSERT INTO content_types (name, schema, hash, updated_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE \
                 SET schema = EXCLUDED.schema, hash = EXCLUDED.hash, updated_at = EXCLUDED.updated_at \
                 WHERE content_types.hash IS DISTINCT FROM EXCLUDED.hash \
                    OR content_types.schema IS DISTINCT FROM EXCLUDED.schema",
            )
            .await
            .map_err(pg_error)?;
        let at = now();
        for t in types {
            tx.execute(&upsert, &[&t.name, &t.schema, &t.hash, &at])
                .await
                .map_err(pg_error)?;
        }
        tx.commit().await.map_err(pg_error)
    }

    async fn content_types(&self) -> StoreResult<Vec<ContentTypeRecord>> {
        let sql = "SELECT name, schema, hash FROM content_types ORDER BY name";
        let rows = self.rows("content_types", sql, &[]).await?;
        rows.iter().map(rows::content_type).collect()
    }

    async fn write(&self, write: Write) -> StoreResult<WriteOutcome> {
        let mut client = self.conn("write").await?;
        let at = write.at.map_or_else(now, |at| at.trunc_subsecs(6));
        write::apply(&mut client, &write, at).await
    }

    async fn entry(&self, id: EntryId) -> StoreResult<Option<Entry>> {
        let sql = select_entries!("WHERE id = $1");
        self.entry_where("entry_by_id", sql, &[&id]).await
    }

    async fn entry_by_slug(&self, type_name: &str, slug: &str) -> StoreResult<Option<Entry>> {
        let sql = select_entries!("WHERE type = $1 AND slug = $2");
        self.entry_where("entry_by_slug", sql, &[&type_name, &slug])
            .await
    }

    async fn published_entry_by_slug(
        &self,
        type_name: &str,
        slug: &str,
    ) -> StoreResult<Option<Entry>> {
        let sql = select_entries!("WHERE type = $1 AND published_slug = $2");
        self.entry_where("published_entry_by_slug", sql, &[&type_name, &slug])
            .await
    }

    async fn entries(&self, query: &EntryQuery) -> StoreResult<Vec<Entry>> {
        let sql = select_entries!(
            "WHERE type = $1 AND ($2::text IS NULL OR status = $2) \
             AND ($3::uuid IS NULL OR id > $3) ORDER BY id LIMIT $4"
        );
        let status = query.status.map(|s| s.as_str());
        let limit = i64::from(query.limit);
        let params: [&(dyn ToSql + Sync); 4] = [&query.type_name, &status, &query.after, &limit];
        self.entries_where("entries", sql, &params).await
    }

    async fn published_entries(&self, type_name: &str) -> StoreResult<Vec<Entry>> {
        let sql = select_entries!("WHERE type = $1 AND published_data IS NOT NULL ORDER BY id");
        self.entries_where("published_entries", sql, &[&type_name])
            .await
    }

    async fn entries_by_ids(&self, ids: &[EntryId]) -> StoreResult<Vec<Entry>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = select_entries!("WHERE id = ANY($1)");
        self.entries_where("entries_by_ids", sql, &[&ids]).await
    }

    async fn entries_with_value(
        &self,
        type_name: &str,
        field: &str,
        value: &serde_json::Value,
    ) -> StoreResult<Vec<Entry>> {
        let sql = select_entries!("WHERE type = $1 AND data -> $2 = $3::jsonb ORDER BY id");
        self.entries_where("entries_with_value", sql, &[&type_name, &field, value])
            .await
    }

    async fn listed(&self, list: &str, owner: &str, limit: u32) -> StoreResult<Vec<Entry>> {
        let sql = select_entries!(
            "JOIN listed ON listed.entry_id = entries.id \
             WHERE listed.list = $1 AND listed.owner = $2 AND published_data IS NOT NULL \
             ORDER BY listed.sort_key LIMIT $3"
        );
        let limit = i64::from(limit);
        self.entries_where("listed", sql, &[&list, &owner, &limit])
            .await
    }

    async fn list_owners_near(&self, list: &str, owner: &str) -> StoreResult<Vec<String>> {
        let sql = "WITH e1 AS (SELECT max(owner) AS o FROM listed WHERE list = $1 AND owner < $2), \
             e2 AS (SELECT max(owner) AS o FROM listed WHERE list = $1 AND owner < (SELECT o FROM e1)), \
             l1 AS (SELECT min(owner) AS o FROM listed WHERE list = $1 AND owner > $2), \
             l2 AS (SELECT min(owner) AS o FROM listed WHERE list = $1 AND owner > (SELECT o FROM l1)) \
             SELECT o FROM e2 UNION ALL SELECT o FROM e1 UNION ALL SELECT o FROM l1 \
             UNION ALL SELECT o FROM l2";
        let rows = self.rows("list_owners_near", sql, &[&list, &owner]).await?;
        let found: Vec<Option<String>> =
            rows.iter().map(rows::scalar).collect::<StoreResult<_>>()?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn list_owners(&self, list: &str) -> StoreResult<Vec<String>> {
        // One index probe per owner (a loose index scan), not a scan of
        // every row of the list.
        let sql = "WITH RECURSIVE o(owner) AS ( \
               SELECT min(owner) FROM listed WHERE list = $1 \
               UNION ALL \
               SELECT (SELECT min(owner) FROM listed WHERE list = $1 AND owner > o.owner) \
               FROM o WHERE o.owner IS NOT NULL) \
             SELECT owner FROM o WHERE owner IS NOT NULL";
        let rows = self.rows("list_owners", sql, &[&list]).await?;
        rows.iter().map(rows::scalar).collect()
    }

    async fn referrers(&self, id: EntryId) -> StoreResult<Vec<Entry>> {
        let sql = select_entries!(
            "JOIN entry_refs ON entry_refs.source = entries.id \
             WHERE entry_refs.target = $1 AND published_data IS NOT NULL ORDER BY entries.id"
        );
        self.entries_where("referrers", sql, &[&id]).await
    }

    async fn published_page(&self, after: Option<EntryId>, limit: u32) -> StoreResult<Vec<Entry>> {
        let sql = select_entries!(
            "WHERE published_data IS NOT NULL AND ($1::uuid IS NULL OR id > $1) \
             ORDER BY id LIMIT $2"
        );
        let limit = i64::from(limit);
        self.entries_where("published_page", sql, &[&after, &limit])
            .await
    }

    async fn index_signature(&self) -> StoreResult<Option<String>> {
        let sql = "SELECT signature FROM list_index WHERE id = 1";
        match self.row("index_signature", sql, &[]).await? {
            Some(row) => rows::scalar(&row).map(Some),
            None => Ok(None),
        }
    }

    async fn write_index(&self, rows: &[IndexedEntry]) -> StoreResult<()> {
        let mut client = self.conn("write_index").await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        index::rebuild(&tx, rows).await?;
        tx.commit().await.map_err(pg_error)
    }

    async fn finish_index(&self, signature: &str) -> StoreResult<()> {
        let mut client = self.conn("finish_index").await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        index::finish(&tx, signature).await?;
        tx.commit().await.map_err(pg_error)
    }

    async fn due_scheduled(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<Vec<Entry>> {
        let sql = select_entries!(
            "WHERE status = 'scheduled' AND publish_at <= $1 ORDER BY publish_at, id LIMIT $2"
        );
        let limit = i64::from(limit);
        self.entries_where("due_scheduled", sql, &[&now, &limit])
            .await
    }

    async fn count_entries(&self) -> StoreResult<i64> {
        let sql = "SELECT count(*) FROM entries";
        let rows = self.rows("count_entries", sql, &[]).await?;
        rows.first().map_or(Ok(0), rows::scalar)
    }

    async fn revisions(&self, id: EntryId) -> StoreResult<Vec<Revision>> {
        let sql = select_revisions!("WHERE entry_id = $1 ORDER BY version");
        let rows = self.rows("revisions", sql, &[&id]).await?;
        rows.iter().map(rows::revision).collect()
    }

    async fn revision(&self, id: EntryId, version: i64) -> StoreResult<Option<Revision>> {
        let sql = select_revisions!("WHERE entry_id = $1 AND version = $2");
        let row = self.row("revision", sql, &[&id, &version]).await?;
        row.as_ref().map(rows::revision).transpose()
    }

    async fn events_since(&self, after: i64, limit: u32) -> StoreResult<Vec<Event>> {
        let sql = select_events!("WHERE seq > $1 ORDER BY seq LIMIT $2");
        let limit = i64::from(limit);
        let rows = self.rows("events_since", sql, &[&after, &limit]).await?;
        rows.iter().map(rows::event).collect()
    }

    async fn last_seq(&self) -> StoreResult<i64> {
        // The counter moves in the same transaction as each event insert, so
        // its committed value is the highest committed seq.
        let sql = "SELECT seq FROM event_counter WHERE id = 1";
        let row = self.row("last_seq", sql, &[]).await?;
        row.as_ref().map_or(Ok(0), rows::scalar)
    }

    async fn page(&self, path: &str) -> StoreResult<Option<Page>> {
        let sql = select_pages!("WHERE path = $1");
        let row = self.row("page", sql, &[&path]).await?;
        row.as_ref().map(rows::page).transpose()
    }

    async fn refine_page(&self, path: &str, etag: &str, br: &[u8]) -> StoreResult<bool> {
        let sql = "UPDATE pages SET br = $3 WHERE path = $1 AND etag = $2";
        Ok(self
            .execute("refine_page", sql, &[&path, &etag, &br])
            .await?
            > 0)
    }

    async fn pages(&self, paths: &[String]) -> StoreResult<Vec<Page>> {
        if paths.is_empty() {
            return Ok(Vec::new());
        }
        let sql = select_pages!("WHERE path = ANY($1)");
        let rows = self.rows("pages", sql, &[&paths]).await?;
        rows.iter().map(rows::page).collect()
    }

    async fn listed_links(&self, list: &str, owner: &str, limit: u32) -> StoreResult<Vec<Link>> {
        let sql = "SELECT entries.id, type, published_slug, published_at FROM listed \
             JOIN entries ON entries.id = listed.entry_id \
             WHERE listed.list = $1 AND listed.owner = $2 AND published_data IS NOT NULL \
             ORDER BY listed.sort_key LIMIT $3";
        let limit = i64::from(limit);
        let rows = self
            .rows("listed_links", sql, &[&list, &owner, &limit])
            .await?;
        rows.iter().map(rows::link).collect()
    }

    async fn sitemap_files(&self) -> StoreResult<Vec<(String, DateTime<Utc>)>> {
        // The literal LIKE matches the partial index `pages_sitemaps`
        // (migration V5), whatever the database's collation.
        let sql = "SELECT path, last_modified FROM pages \
             WHERE path LIKE '/sitemaps/%' AND status = 200 ORDER BY path";
        let rows = self.rows("sitemap_files", sql, &[]).await?;
        rows.iter()
            .map(|row| Ok((rows::get(row, "path")?, rows::get(row, "last_modified")?)))
            .collect()
    }

    async fn page_paths(&self) -> StoreResult<Vec<String>> {
        let sql = "SELECT path FROM pages WHERE status = 200 ORDER BY path";
        let rows = self.rows("page_paths", sql, &[]).await?;
        rows.iter().map(rows::scalar).collect()
    }

    async fn recent_pages(&self, limit: u32) -> StoreResult<Vec<PageSummary>> {
        // octet_length reads a TOASTed value's size without detoasting it.
        let sql = "SELECT path, seq, octet_length(identity)::bigint \
                   + octet_length(br) + octet_length(gzip) AS bytes \
                   FROM pages WHERE status = 200 ORDER BY seq DESC, path LIMIT $1";
        let rows = self.rows("recent_pages", sql, &[&i64::from(limit)]).await?;
        rows.iter().map(rows::page_summary).collect()
    }

    async fn create_token(&self, name: &str, role: Role, hash: &str) -> StoreResult<ApiToken> {
        let sql = concat!(
            "INSERT INTO api_tokens (name, role, hash, created_at) VALUES ($1, $2, $3, $4) \
             RETURNING ",
            token_columns!()
        );
        let params: [&(dyn ToSql + Sync); 4] = [&name, &role.as_str(), &hash, &now()];
        let row = match self.row("create_token", sql, &params).await {
            Ok(row) => row,
            Err(StoreError::Duplicate(c)) if c == TOKEN_ACTIVE_NAME => {
                return Err(StoreError::Duplicate(format!("token {name:?}")));
            }
            Err(StoreError::Duplicate(c)) if c == TOKEN_HASH => {
                return Err(StoreError::Duplicate(format!("hash of token {name:?}")));
            }
            Err(e) => return Err(e),
        };
        let row = row.ok_or_else(|| StoreError::Backend("INSERT returned no row".into()))?;
        rows::token(&row)
    }

    async fn tokens(&self) -> StoreResult<Vec<ApiToken>> {
        let sql = concat!(
            "SELECT ",
            token_columns!(),
            " FROM api_tokens ORDER BY created_at, id"
        );
        let rows = self.rows("tokens", sql, &[]).await?;
        rows.iter().map(rows::token).collect()
    }

    async fn token_by_hash(&self, hash: &str) -> StoreResult<Option<ApiToken>> {
        let sql = concat!(
            "SELECT ",
            token_columns!(),
            " FROM api_tokens WHERE hash = $1 AND revoked_at IS NULL"
        );
        let row = self.row("token_by_hash", sql, &[&hash]).await?;
        row.as_ref().map(rows::token).transpose()
    }

    async fn revoke_token(&self, name: &str) -> StoreResult<()> {
        let sql = "UPDATE api_tokens SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL";
        match self.execute("revoke_token", sql, &[&name, &now()]).await? {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    async fn touch_token(&self, name: &str, at: DateTime<Utc>) -> StoreResult<()> {
        // A token revoked since the request authenticated is simply not
        // touched: recording a use is best effort.
        let sql = "UPDATE api_tokens SET last_used_at = $2 WHERE name = $1 AND revoked_at IS NULL";
        self.execute("touch_token", sql, &[&name, &at])
            .await
            .map(drop)
    }

    async fn heartbeat(&self, node: &str, held_seq: i64, ttl: Duration) -> StoreResult<()> {
        self.put_heartbeat(node, held_seq, ttl).await
    }

    async fn live_nodes(&self) -> StoreResult<Vec<NodeHeartbeat>> {
        self.select_live_nodes().await
    }

    async fn lease_destination(
        &self,
        destination: &str,
        node: &str,
        ttl: Duration,
        start: i64,
    ) -> StoreResult<Option<i64>> {
        self.take_lease(destination, node, ttl, start).await
    }

    async fn advance_cursor(
        &self,
        destination: &str,
        node: &str,
        from: i64,
        to: i64,
    ) -> StoreResult<bool> {
        self.move_cursor(destination, node, from, to).await
    }

    async fn outbox_cursors(&self) -> StoreResult<Vec<OutboxCursor>> {
        self.select_cursors().await
    }

    async fn log_delivery(&self, delivery: &Delivery) -> StoreResult<()> {
        self.insert_delivery(delivery).await
    }

    async fn deliveries(&self, destination: &str, limit: u32) -> StoreResult<Vec<Delivery>> {
        self.select_deliveries(destination, limit).await
    }

    async fn create_user(&self, user: &NewUser) -> StoreResult<User> {
        self.insert_user(user).await
    }

    async fn users(&self) -> StoreResult<Vec<User>> {
        self.select_users().await
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        self.select_user_by_email(email).await
    }

    async fn user(&self, id: UserId) -> StoreResult<Option<User>> {
        self.select_user(id).await
    }

    async fn update_user(&self, id: UserId, change: &UserChange) -> StoreResult<User> {
        self.change_user(id, change).await
    }

    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        self.insert_session(session).await
    }

    async fn session(&self, id_hash: &str) -> StoreResult<Option<(Session, User)>> {
        self.select_session(id_hash).await
    }

    async fn touch_session(&self, id_hash: &str, at: DateTime<Utc>) -> StoreResult<()> {
        self.touch_session_row(id_hash, at).await
    }

    async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
        self.delete_session_row(id_hash).await
    }

    async fn record_audit(&self, record: &NewAudit) -> StoreResult<AuditRecord> {
        self.insert_audit(record).await
    }

    async fn audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        self.select_audit(query).await
    }

    async fn count_audit(
        &self,
        action: &str,
        target: Option<&str>,
        address: Option<&str>,
        since: DateTime<Utc>,
    ) -> StoreResult<i64> {
        self.select_audit_count(action, target, address, since)
            .await
    }

    async fn site_settings(&self) -> StoreResult<SettingsRecord> {
        self.select_settings().await
    }

    async fn save_site_settings(
        &self,
        data: &serde_json::Value,
        expected_version: i64,
        by: &str,
    ) -> StoreResult<SettingsRecord> {
        self.replace_settings(data, expected_version, by).await
    }

    async fn set_review(&self, review: &Review) -> StoreResult<()> {
        self.upsert_review(review).await
    }

    async fn clear_review(&self, entry_id: EntryId) -> StoreResult<()> {
        self.delete_review(entry_id).await
    }

    async fn review(&self, entry_id: EntryId) -> StoreResult<Option<Review>> {
        self.select_review(entry_id).await
    }

    async fn reviews(&self, state: Option<ReviewState>, limit: u32) -> StoreResult<Vec<Review>> {
        self.select_reviews(state, limit).await
    }

    async fn search_entries(&self, search: &EntrySearch) -> StoreResult<Vec<Entry>> {
        self.select_search(search).await
    }

    async fn create_media(
        &self,
        media: &NewMedia,
        variants: &[MediaVariant],
        pages: &[Page],
        event: NewEvent,
    ) -> StoreResult<(Media, i64)> {
        self.insert_media(media, variants, pages, &event).await
    }

    async fn media(&self, id: MediaId) -> StoreResult<Option<Media>> {
        self.select_media(id).await
    }

    async fn media_by_hash(&self, hash: &str) -> StoreResult<Option<Media>> {
        self.select_media_by_hash(hash).await
    }

    async fn media_by_ids(&self, ids: &[MediaId]) -> StoreResult<Vec<Media>> {
        self.select_media_by_ids(ids).await
    }

    async fn media_list(&self, query: &MediaQuery) -> StoreResult<Vec<Media>> {
        self.select_media_list(query).await
    }

    async fn media_original(&self, id: MediaId) -> StoreResult<Option<Vec<u8>>> {
        self.select_media_original(id).await
    }

    async fn update_media(&self, id: MediaId, change: &MediaChange) -> StoreResult<Media> {
        self.change_media(id, change).await
    }

    async fn media_users(&self, id: MediaId) -> StoreResult<Vec<EntryId>> {
        self.select_media_users(id).await
    }

    async fn delete_media(&self, id: MediaId, event: NewEvent) -> StoreResult<MediaDeletion> {
        self.remove_media(id, &event).await
    }

    async fn unused_media(&self, older_than: DateTime<Utc>, limit: u32) -> StoreResult<Vec<Media>> {
        self.select_unused_media(older_than, limit).await
    }

    async fn media_in_drafts(&self, ids: &[MediaId]) -> StoreResult<Vec<MediaId>> {
        self.select_media_in_drafts(ids).await
    }
}
