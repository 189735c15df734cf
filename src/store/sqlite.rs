//! Embedded SQLite backend: the whole store in one file, for a single node.
//! rusqlite is blocking, so every call runs on tokio's blocking pool (see
//! `pool`), never on the async runtime's threads. Writes are serialised on
//! one connection in `BEGIN IMMEDIATE` transactions; reads use their own
//! connections. This module only maps the `Store` trait onto the submodules;
//! it never renders, caches or notifies.

mod admin;
mod codec;
mod index;
mod media;
mod newsroom;
mod outbox;
mod pool;
mod queries;
mod write;

#[cfg(test)]
mod tests;

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use self::pool::Pool;
use crate::model::{Media, MediaChange, MediaId, MediaQuery, MediaVariant, NewMedia};

use super::{
    ApiToken, AuditQuery, AuditRecord, ContentTypeRecord, Delivery, Entry, EntryId, EntryQuery,
    EntrySearch, Event, IndexedEntry, Link, MediaDeletion, NewAudit, NewEvent, NewUser,
    NodeHeartbeat, OutboxCursor, Page, PageSummary, Review, ReviewState, Revision, Role, Session,
    SettingsRecord, Store, StoreError, StoreResult, User, UserChange, UserId, Write, WriteOutcome,
};

mod embedded {
    refinery::embed_migrations!("migrations/sqlite");
}

/// The SQLite store. Cheap to share behind an `Arc`; all state is in `pool`.
pub struct SqliteStore {
    pool: Pool,
}

impl SqliteStore {
    /// Opens the database at `path`, creating the file if it is missing, in
    /// WAL mode. Does not migrate: call [`Store::migrate`].
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let path = path.to_path_buf();
        let pool = tokio::task::spawn_blocking(move || Pool::open(&path))
            .await
            .map_err(|err| StoreError::Backend(format!("opening SQLite failed: {err}").into()))??;
        Ok(SqliteStore { pool })
    }

    /// The database file this store opened.
    pub fn path(&self) -> &Path {
        self.pool.path()
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn migrate(&self) -> StoreResult<usize> {
        self.pool
            .with_writer("migrate", |conn| {
                let report = embedded::migrations::runner()
                    .run(conn)
                    .map_err(|err| StoreError::Migration(err.into()))?;
                Ok(report.applied_migrations().len())
            })
            .await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.pool
            .read("ping", |conn| {
                Ok(conn.query_row("SELECT 1", [], |row| row.get::<_, i64>(0))?)
            })
            .await
            .map(drop)
    }

    async fn sync_content_types(&self, types: &[ContentTypeRecord]) -> StoreResult<()> {
        let types = types.to_vec();
        self.pool
            .write("sync_content_types", move |tx| {
                admin::sync_content_types(tx, &types)
            })
            .await
    }

    async fn content_types(&self) -> StoreResult<Vec<ContentTypeRecord>> {
        self.pool
            .read("content_types", queries::content_types)
            .await
    }

    async fn write(&self, write: Write) -> StoreResult<WriteOutcome> {
        self.pool
            .write("write", move |tx| write::apply(tx, write))
            .await
    }

    async fn entry(&self, id: EntryId) -> StoreResult<Option<Entry>> {
        self.pool
            .read("entry_by_id", move |conn| queries::entry(conn, id))
            .await
    }

    async fn entry_by_slug(&self, type_name: &str, slug: &str) -> StoreResult<Option<Entry>> {
        let (type_name, slug) = (type_name.to_owned(), slug.to_owned());
        self.pool
            .read("entry_by_slug", move |conn| {
                queries::entry_by_slug(conn, &type_name, &slug)
            })
            .await
    }

    async fn published_entry_by_slug(
        &self,
        type_name: &str,
        slug: &str,
    ) -> StoreResult<Option<Entry>> {
        let (type_name, slug) = (type_name.to_owned(), slug.to_owned());
        self.pool
            .read("published_entry_by_slug", move |conn| {
                queries::published_entry_by_slug(conn, &type_name, &slug)
            })
            .await
    }

    async fn entries(&self, query: &EntryQuery) -> StoreResult<Vec<Entry>> {
        let query = query.clone();
        self.pool
            .read("entries", move |conn| queries::entries(conn, &query))
            .await
    }

    async fn published_entries(&self, type_name: &str) -> StoreResult<Vec<Entry>> {
        let type_name = type_name.to_owned();
        self.pool
            .read("published_entries", move |conn| {
                queries::published_entries(conn, &type_name)
            })
            .await
    }

    async fn entries_by_ids(&self, ids: &[EntryId]) -> StoreResult<Vec<Entry>> {
        let ids = ids.to_vec();
        self.pool
            .read("entries_by_ids", move |conn| {
                queries::entries_by_ids(conn, &ids)
            })
            .await
    }

    async fn entries_with_value(
        &self,
        type_name: &str,
        field: &str,
        value: &serde_json::Value,
    ) -> StoreResult<Vec<Entry>> {
        let (type_name, field, value) = (type_name.to_owned(), field.to_owned(), value.clone());
        self.pool
            .read("entries_with_value", move |conn| {
                queries::entries_with_value(conn, &type_name, &field, &value)
            })
            .await
    }

    async fn due_scheduled(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<Vec<Entry>> {
        self.pool
            .read("due_scheduled", move |conn| {
                queries::due_scheduled(conn, now, limit)
            })
            .await
    }

    async fn count_entries(&self) -> StoreResult<i64> {
        self.pool
            .read("count_entries", queries::count_entries)
            .await
    }

    async fn listed(&self, list: &str, owner: &str, limit: u32) -> StoreResult<Vec<Entry>> {
        let (list, owner) = (list.to_owned(), owner.to_owned());
        self.pool
            .read("listed", move |conn| {
                queries::listed(conn, &list, &owner, limit)
            })
            .await
    }

    async fn list_owners_near(&self, list: &str, owner: &str) -> StoreResult<Vec<String>> {
        let (list, owner) = (list.to_owned(), owner.to_owned());
        self.pool
            .read("list_owners_near", move |conn| {
                queries::list_owners_near(conn, &list, &owner)
            })
            .await
    }

    async fn list_owners(&self, list: &str) -> StoreResult<Vec<String>> {
        let list = list.to_owned();
        self.pool
            .read("list_owners", move |conn| queries::list_owners(conn, &list))
            .await
    }

    async fn referrers(&self, id: EntryId) -> StoreResult<Vec<Entry>> {
        self.pool
            .read("referrers", move |conn| queries::referrers(conn, id))
            .await
    }

    async fn published_page(&self, after: Option<EntryId>, limit: u32) -> StoreResult<Vec<Entry>> {
        self.pool
            .read("published_page", move |conn| {
                queries::published_page(conn, after, limit)
            })
            .await
    }

    async fn index_signature(&self) -> StoreResult<Option<String>> {
        self.pool
            .read("index_signature", queries::index_signature)
            .await
    }

    async fn write_index(&self, rows: &[IndexedEntry]) -> StoreResult<()> {
        let rows = rows.to_vec();
        self.pool
            .write("write_index", move |tx| index::rebuild(tx, &rows))
            .await
    }

    async fn finish_index(&self, signature: &str) -> StoreResult<()> {
        let signature = signature.to_owned();
        self.pool
            .write("finish_index", move |tx| index::finish(tx, &signature))
            .await
    }

    async fn revisions(&self, id: EntryId) -> StoreResult<Vec<Revision>> {
        self.pool
            .read("revisions", move |conn| queries::revisions(conn, id))
            .await
    }

    async fn revision(&self, id: EntryId, version: i64) -> StoreResult<Option<Revision>> {
        self.pool
            .read("revision", move |conn| queries::revision(conn, id, version))
            .await
    }

    async fn events_since(&self, after: i64, limit: u32) -> StoreResult<Vec<Event>> {
        self.pool
            .read("events_since", move |conn| {
                queries::events_since(conn, after, limit)
            })
            .await
    }

    async fn last_seq(&self) -> StoreResult<i64> {
        self.pool.read("last_seq", queries::last_seq).await
    }

    async fn page(&self, path: &str) -> StoreResult<Option<Page>> {
        let path = path.to_owned();
        self.pool
            .read("page", move |conn| queries::page(conn, &path))
            .await
    }

    async fn refine_page(&self, path: &str, etag: &str, br: &[u8]) -> StoreResult<bool> {
        let (path, etag, br) = (path.to_owned(), etag.to_owned(), br.to_vec());
        self.pool
            .write("refine_page", move |tx| {
                let n = tx
                    .prepare_cached("UPDATE pages SET br = ?3 WHERE path = ?1 AND etag = ?2")?
                    .execute(rusqlite::params![path, etag, br])?;
                Ok(n > 0)
            })
            .await
    }

    async fn pages(&self, paths: &[String]) -> StoreResult<Vec<Page>> {
        let paths = paths.to_vec();
        self.pool
            .read("pages", move |conn| queries::pages(conn, &paths))
            .await
    }

    async fn page_paths(&self) -> StoreResult<Vec<String>> {
        self.pool.read("page_paths", queries::page_paths).await
    }

    async fn sitemap_files(&self) -> StoreResult<Vec<(String, DateTime<Utc>)>> {
        self.pool
            .read("sitemap_files", queries::sitemap_files)
            .await
    }

    async fn listed_links(&self, list: &str, owner: &str, limit: u32) -> StoreResult<Vec<Link>> {
        let (list, owner) = (list.to_owned(), owner.to_owned());
        self.pool
            .read("listed_links", move |conn| {
                queries::listed_links(conn, &list, &owner, limit)
            })
            .await
    }

    async fn recent_pages(&self, limit: u32) -> StoreResult<Vec<PageSummary>> {
        self.pool
            .read("recent_pages", move |conn| {
                queries::recent_pages(conn, limit)
            })
            .await
    }

    async fn create_token(&self, name: &str, role: Role, hash: &str) -> StoreResult<ApiToken> {
        let (name, hash) = (name.to_owned(), hash.to_owned());
        self.pool
            .write("create_token", move |tx| {
                admin::create_token(tx, &name, role, &hash)
            })
            .await
    }

    async fn tokens(&self) -> StoreResult<Vec<ApiToken>> {
        self.pool.read("tokens", admin::tokens).await
    }

    async fn token_by_hash(&self, hash: &str) -> StoreResult<Option<ApiToken>> {
        let hash = hash.to_owned();
        self.pool
            .read("token_by_hash", move |conn| {
                admin::token_by_hash(conn, &hash)
            })
            .await
    }

    async fn revoke_token(&self, name: &str) -> StoreResult<()> {
        let name = name.to_owned();
        self.pool
            .write("revoke_token", move |tx| admin::revoke_token(tx, &name))
            .await
    }

    async fn touch_token(&self, name: &str, at: DateTime<Utc>) -> StoreResult<()> {
        let name = name.to_owned();
        self.pool
            .write("touch_token", move |tx| admin::touch_token(tx, &name, at))
            .await
    }

    async fn heartbeat(&self, node: &str, held_seq: i64, ttl: Duration) -> StoreResult<()> {
        let node = node.to_owned();
        self.pool
            .write("heartbeat", move |tx| {
                outbox::heartbeat(tx, &node, held_seq, ttl)
            })
            .await
    }

    async fn live_nodes(&self) -> StoreResult<Vec<NodeHeartbeat>> {
        self.pool.read("live_nodes", outbox::live_nodes).await
    }

    async fn lease_destination(
        &self,
        destination: &str,
        node: &str,
        ttl: Duration,
        start: i64,
    ) -> StoreResult<Option<i64>> {
        let (destination, node) = (destination.to_owned(), node.to_owned());
        self.pool
            .write("lease_destination", move |tx| {
                outbox::lease(tx, &destination, &node, ttl, start)
            })
            .await
    }

    async fn advance_cursor(
        &self,
        destination: &str,
        node: &str,
        from: i64,
        to: i64,
    ) -> StoreResult<bool> {
        let (destination, node) = (destination.to_owned(), node.to_owned());
        self.pool
            .write("advance_cursor", move |tx| {
                outbox::advance(tx, &destination, &node, from, to)
            })
            .await
    }

    async fn outbox_cursors(&self) -> StoreResult<Vec<OutboxCursor>> {
        self.pool.read("outbox_cursors", outbox::cursors).await
    }

    async fn log_delivery(&self, delivery: &Delivery) -> StoreResult<()> {
        let delivery = delivery.clone();
        self.pool
            .write("log_delivery", move |tx| {
                outbox::log_delivery(tx, &delivery)
            })
            .await
    }

    async fn deliveries(&self, destination: &str, limit: u32) -> StoreResult<Vec<Delivery>> {
        let destination = destination.to_owned();
        self.pool
            .read("deliveries", move |conn| {
                outbox::deliveries(conn, &destination, limit)
            })
            .await
    }

    async fn create_user(&self, user: &NewUser) -> StoreResult<User> {
        let user = user.clone();
        self.pool
            .write("create_user", move |tx| newsroom::create_user(tx, &user))
            .await
    }

    async fn users(&self) -> StoreResult<Vec<User>> {
        self.pool.read("users", newsroom::users).await
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let email = email.to_owned();
        self.pool
            .read("user_by_email", move |conn| {
                newsroom::user_by_email(conn, &email)
            })
            .await
    }

    async fn user(&self, id: UserId) -> StoreResult<Option<User>> {
        self.pool
            .read("user", move |conn| newsroom::user(conn, id))
            .await
    }

    async fn update_user(&self, id: UserId, change: &UserChange) -> StoreResult<User> {
        let change = change.clone();
        self.pool
            .write("update_user", move |tx| {
                newsroom::update_user(tx, id, &change)
            })
            .await
    }

    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        let session = session.clone();
        self.pool
            .write("create_session", move |tx| {
                newsroom::create_session(tx, &session)
            })
            .await
    }

    async fn session(&self, id_hash: &str) -> StoreResult<Option<(Session, User)>> {
        let id_hash = id_hash.to_owned();
        self.pool
            .read("session", move |conn| newsroom::session(conn, &id_hash))
            .await
    }

    async fn touch_session(&self, id_hash: &str, at: DateTime<Utc>) -> StoreResult<()> {
        let id_hash = id_hash.to_owned();
        self.pool
            .write("touch_session", move |tx| {
                newsroom::touch_session(tx, &id_hash, at)
            })
            .await
    }

    async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
        let id_hash = id_hash.to_owned();
        self.pool
            .write("delete_session", move |tx| {
                newsroom::delete_session(tx, &id_hash)
            })
            .await
    }

    async fn record_audit(&self, record: &NewAudit) -> StoreResult<AuditRecord> {
        let record = record.clone();
        self.pool
            .write("record_audit", move |tx| {
                newsroom::record_audit(tx, &record)
            })
            .await
    }

    async fn audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        let query = query.clone();
        self.pool
            .read("audit", move |conn| newsroom::audit(conn, &query))
            .await
    }

    async fn count_audit(
        &self,
        action: &str,
        target: Option<&str>,
        address: Option<&str>,
        since: DateTime<Utc>,
    ) -> StoreResult<i64> {
        let action = action.to_owned();
        let target = target.map(str::to_owned);
        let address = address.map(str::to_owned);
        self.pool
            .read("count_audit", move |conn| {
                newsroom::count_audit(conn, &action, target.as_deref(), address.as_deref(), since)
            })
            .await
    }

    async fn site_settings(&self) -> StoreResult<SettingsRecord> {
        self.pool
            .read("site_settings", newsroom::site_settings)
            .await
    }

    /// The `settings` event is in the log at commit; like `write`, nothing
    /// here wakes this node's follower (the caller's commit signal or the
    /// poll does).
    async fn save_site_settings(
        &self,
        data: &serde_json::Value,
        expected_version: i64,
        by: &str,
    ) -> StoreResult<SettingsRecord> {
        let (data, by) = (data.clone(), by.to_owned());
        self.pool
            .write("save_site_settings", move |tx| {
                newsroom::save_site_settings(tx, &data, expected_version, &by)
            })
            .await
    }

    async fn set_review(&self, review: &Review) -> StoreResult<()> {
        let review = review.clone();
        self.pool
            .write("set_review", move |tx| newsroom::set_review(tx, &review))
            .await
    }

    async fn clear_review(&self, entry_id: EntryId) -> StoreResult<()> {
        self.pool
            .write("clear_review", move |tx| {
                newsroom::clear_review(tx, entry_id)
            })
            .await
    }

    async fn review(&self, entry_id: EntryId) -> StoreResult<Option<Review>> {
        self.pool
            .read("review", move |conn| newsroom::review(conn, entry_id))
            .await
    }

    async fn reviews(&self, state: Option<ReviewState>, limit: u32) -> StoreResult<Vec<Review>> {
        self.pool
            .read("reviews", move |conn| newsroom::reviews(conn, state, limit))
            .await
    }

    async fn search_entries(&self, search: &EntrySearch) -> StoreResult<Vec<Entry>> {
        let search = search.clone();
        self.pool
            .read("search_entries", move |conn| {
                newsroom::search_entries(conn, &search)
            })
            .await
    }

    async fn create_media(
        &self,
        media: &NewMedia,
        variants: &[MediaVariant],
        pages: &[Page],
        event: NewEvent,
    ) -> StoreResult<(Media, i64)> {
        let (media, variants, pages) = (media.clone(), variants.to_vec(), pages.to_vec());
        self.pool
            .write("create_media", move |tx| {
                media::create(tx, &media, &variants, &pages, &event)
            })
            .await
    }

    async fn media(&self, id: MediaId) -> StoreResult<Option<Media>> {
        self.pool
            .read("media", move |conn| media::by_id(conn, id))
            .await
    }

    async fn media_by_hash(&self, hash: &str) -> StoreResult<Option<Media>> {
        let hash = hash.to_owned();
        self.pool
            .read("media_by_hash", move |conn| media::by_hash(conn, &hash))
            .await
    }

    async fn media_by_ids(&self, ids: &[MediaId]) -> StoreResult<Vec<Media>> {
        let ids = ids.to_vec();
        self.pool
            .read("media_by_ids", move |conn| media::by_ids(conn, &ids))
            .await
    }

    async fn media_list(&self, query: &MediaQuery) -> StoreResult<Vec<Media>> {
        let query = query.clone();
        self.pool
            .read("media_list", move |conn| media::list(conn, &query))
            .await
    }

    async fn media_original(&self, id: MediaId) -> StoreResult<Option<Vec<u8>>> {
        self.pool
            .read("media_original", move |conn| media::original(conn, id))
            .await
    }

    async fn update_media(&self, id: MediaId, change: &MediaChange) -> StoreResult<Media> {
        let change = change.clone();
        self.pool
            .write("update_media", move |tx| media::update(tx, id, &change))
            .await
    }

    async fn media_users(&self, id: MediaId) -> StoreResult<Vec<EntryId>> {
        self.pool
            .read("media_users", move |conn| media::users(conn, id))
            .await
    }

    async fn delete_media(&self, id: MediaId, event: NewEvent) -> StoreResult<MediaDeletion> {
        self.pool
            .write("delete_media", move |tx| media::delete(tx, id, &event))
            .await
    }

    async fn unused_media(&self, older_than: DateTime<Utc>, limit: u32) -> StoreResult<Vec<Media>> {
        self.pool
            .read("unused_media", move |conn| {
                media::unused(conn, older_than, limit)
            })
            .await
    }

    async fn media_in_drafts(&self, ids: &[MediaId]) -> StoreResult<Vec<MediaId>> {
        let ids = ids.to_vec();
        self.pool
            .read("media_in_drafts", move |conn| media::in_drafts(conn, &ids))
            .await
    }
}
