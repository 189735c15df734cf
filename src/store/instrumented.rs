//! A `Store` decorator that counts and times every operation sent to the
//! backend (`keel_db_queries_total{op}`, `keel_db_query_duration_seconds{op}`),
//! whichever backend it is. Every store call keel makes goes through it, so
//! "no database work on the hot path" is checkable from `/metrics`.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::*;
use crate::metrics::Metrics;

pub struct Instrumented {
    inner: Arc<dyn Store>,
    metrics: Arc<Metrics>,
}

impl Instrumented {
    pub fn new(inner: Arc<dyn Store>, metrics: Arc<Metrics>) -> Self {
        Instrumented { inner, metrics }
    }

    async fn timed<T>(&self, op: &'static str, fut: impl Future<Output = T>) -> T {
        let start = Instant::now();
        let out = fut.await;
        self.metrics.db_queries.with_label_values(&[op]).inc();
        self.metrics
            .db_duration
            .with_label_values(&[op])
            .observe(start.elapsed().as_secs_f64());
        out
    }

    /// `timed`, plus the entries read (`keel_db_rows_read_total{op}`): what
    /// shows whether a publish's reads grow with the site.
    async fn rows(
        &self,
        op: &'static str,
        fut: impl Future<Output = StoreResult<Vec<Entry>>>,
    ) -> StoreResult<Vec<Entry>> {
        let out = self.timed(op, fut).await;
        if let Ok(rows) = &out {
            self.metrics
                .db_rows
                .with_label_values(&[op])
                .inc_by(rows.len() as u64);
        }
        out
    }
}

#[async_trait]
impl Store for Instrumented {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    fn pool_status(&self) -> Option<PoolStatus> {
        self.inner.pool_status()
    }

    async fn migrate(&self) -> StoreResult<usize> {
        self.timed("migrate", self.inner.migrate()).await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.timed("ping", self.inner.ping()).await
    }

    async fn sync_content_types(&self, types: &[ContentTypeRecord]) -> StoreResult<()> {
        self.timed("sync_content_types", self.inner.sync_content_types(types))
            .await
    }

    async fn content_types(&self) -> StoreResult<Vec<ContentTypeRecord>> {
        self.timed("content_types", self.inner.content_types())
            .await
    }

    async fn write(&self, write: Write) -> StoreResult<WriteOutcome> {
        self.timed("write", self.inner.write(write)).await
    }

    async fn entry(&self, id: EntryId) -> StoreResult<Option<Entry>> {
        self.timed("entry", self.inner.entry(id)).await
    }

    async fn entry_by_slug(&self, type_name: &str, slug: &str) -> StoreResult<Option<Entry>> {
        self.timed("entry_by_slug", self.inner.entry_by_slug(type_name, slug))
            .await
    }

    async fn published_entry_by_slug(
        &self,
        type_name: &str,
        slug: &str,
    ) -> StoreResult<Option<Entry>> {
        self.timed(
            "published_entry_by_slug",
            self.inner.published_entry_by_slug(type_name, slug),
        )
        .await
    }

    async fn entries(&self, query: &EntryQuery) -> StoreResult<Vec<Entry>> {
        self.rows("entries", self.inner.entries(query)).await
    }

    async fn published_entries(&self, type_name: &str) -> StoreResult<Vec<Entry>> {
        self.rows("published_entries", self.inner.published_entries(type_name))
            .await
    }

    async fn entries_by_ids(&self, ids: &[EntryId]) -> StoreResult<Vec<Entry>> {
        self.rows("entries_by_ids", self.inner.entries_by_ids(ids))
            .await
    }

    async fn listed(&self, list: &str, owner: &str, limit: u32) -> StoreResult<Vec<Entry>> {
        self.rows("listed", self.inner.listed(list, owner, limit))
            .await
    }

    async fn list_owners_near(&self, list: &str, owner: &str) -> StoreResult<Vec<String>> {
        self.timed("list_owners_near", self.inner.list_owners_near(list, owner))
            .await
    }

    async fn list_owners(&self, list: &str) -> StoreResult<Vec<String>> {
        self.timed("list_owners", self.inner.list_owners(list))
            .await
    }

    async fn referrers(&self, id: EntryId) -> StoreResult<Vec<Entry>> {
        self.rows("referrers", self.inner.referrers(id)).await
    }

    async fn published_page(&self, after: Option<EntryId>, limit: u32) -> StoreResult<Vec<Entry>> {
        self.rows("published_page", self.inner.published_page(after, limit))
            .await
    }

    async fn index_signature(&self) -> StoreResult<Option<String>> {
        self.timed("index_signature", self.inner.index_signature())
            .await
    }

    async fn write_index(&self, rows: &[IndexedEntry]) -> StoreResult<()> {
        self.timed("write_index", self.inner.write_index(rows))
            .await
    }

    async fn finish_index(&self, signature: &str) -> StoreResult<()> {
        self.timed("finish_index", self.inner.finish_index(signature))
            .await
    }

    async fn entries_with_value(
        &self,
        type_name: &str,
        field: &str,
        value: &serde_json::Value,
    ) -> StoreResult<Vec<Entry>> {
        self.timed(
            "entries_with_value",
            self.inner.entries_with_value(type_name, field, value),
        )
        .await
    }

    async fn due_scheduled(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<Vec<Entry>> {
        self.timed("due_scheduled", self.inner.due_scheduled(now, limit))
            .await
    }

    async fn count_entries(&self) -> StoreResult<i64> {
        self.timed("count_entries", self.inner.count_entries())
            .await
    }

    async fn revisions(&self, id: EntryId) -> StoreResult<Vec<Revision>> {
        self.timed("revisions", self.inner.revisions(id)).await
    }

    async fn revision(&self, id: EntryId, version: i64) -> StoreResult<Option<Revision>> {
        self.timed("revision", self.inner.revision(id, version))
            .await
    }

    async fn events_since(&self, after: i64, limit: u32) -> StoreResult<Vec<Event>> {
        self.timed("events_since", self.inner.events_since(after, limit))
            .await
    }

    async fn last_seq(&self) -> StoreResult<i64> {
        self.timed("last_seq", self.inner.last_seq()).await
    }

    async fn page(&self, path: &str) -> StoreResult<Option<Page>> {
        self.timed("page", self.inner.page(path)).await
    }

    async fn refine_page(&self, path: &str, etag: &str, br: &[u8]) -> StoreResult<bool> {
        self.timed("refine_page", self.inner.refine_page(path, etag, br))
            .await
    }

    async fn pages(&self, paths: &[String]) -> StoreResult<Vec<Page>> {
        self.timed("pages", self.inner.pages(paths)).await
    }

    async fn page_paths(&self) -> StoreResult<Vec<String>> {
        self.timed("page_paths", self.inner.page_paths()).await
    }

    async fn sitemap_files(&self) -> StoreResult<Vec<(String, DateTime<Utc>)>> {
        self.timed("sitemap_files", self.inner.sitemap_files())
            .await
    }

    async fn listed_links(&self, list: &str, owner: &str, limit: u32) -> StoreResult<Vec<Link>> {
        self.timed("listed_links", self.inner.listed_links(list, owner, limit))
            .await
    }

    async fn recent_pages(&self, limit: u32) -> StoreResult<Vec<PageSummary>> {
        self.timed("recent_pages", self.inner.recent_pages(limit))
            .await
    }

    async fn create_token(&self, name: &str, role: Role, hash: &str) -> StoreResult<ApiToken> {
        self.timed("create_token", self.inner.create_token(name, role, hash))
            .await
    }

    async fn tokens(&self) -> StoreResult<Vec<ApiToken>> {
        self.timed("tokens", self.inner.tokens()).await
    }

    async fn token_by_hash(&self, hash: &str) -> StoreResult<Option<ApiToken>> {
        self.timed("token_by_hash", self.inner.token_by_hash(hash))
            .await
    }

    async fn revoke_token(&self, name: &str) -> StoreResult<()> {
        self.timed("revoke_token", self.inner.revoke_token(name))
            .await
    }

    async fn touch_token(&self, name: &str, at: DateTime<Utc>) -> StoreResult<()> {
        self.timed("touch_token", self.inner.touch_token(name, at))
            .await
    }

    async fn heartbeat(&self, node: &str, held_seq: i64, ttl: Duration) -> StoreResult<()> {
        self.timed("heartbeat", self.inner.heartbeat(node, held_seq, ttl))
            .await
    }

    async fn live_nodes(&self) -> StoreResult<Vec<NodeHeartbeat>> {
        self.timed("live_nodes", self.inner.live_nodes()).await
    }

    async fn lease_destination(
        &self,
        destination: &str,
        node: &str,
        ttl: Duration,
        start: i64,
    ) -> StoreResult<Option<i64>> {
        self.timed(
            "lease_destination",
            self.inner.lease_destination(destination, node, ttl, start),
        )
        .await
    }

    async fn advance_cursor(
        &self,
        destination: &str,
        node: &str,
        from: i64,
        to: i64,
    ) -> StoreResult<bool> {
        self.timed(
            "advance_cursor",
            self.inner.advance_cursor(destination, node, from, to),
        )
        .await
    }

    async fn outbox_cursors(&self) -> StoreResult<Vec<OutboxCursor>> {
        self.timed("outbox_cursors", self.inner.outbox_cursors())
            .await
    }

    async fn log_delivery(&self, delivery: &Delivery) -> StoreResult<()> {
        self.timed("log_delivery", self.inner.log_delivery(delivery))
            .await
    }

    async fn deliveries(&self, destination: &str, limit: u32) -> StoreResult<Vec<Delivery>> {
        self.timed("deliveries", self.inner.deliveries(destination, limit))
            .await
    }

    async fn create_user(&self, user: &NewUser) -> StoreResult<User> {
        self.timed("create_user", self.inner.create_user(user))
            .await
    }

    async fn users(&self) -> StoreResult<Vec<User>> {
        self.timed("users", self.inner.users()).await
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        self.timed("user_by_email", self.inner.user_by_email(email))
            .await
    }

    async fn user(&self, id: UserId) -> StoreResult<Option<User>> {
        self.timed("user", self.inner.user(id)).await
    }

    async fn update_user(&self, id: UserId, change: &UserChange) -> StoreResult<User> {
        self.timed("update_user", self.inner.update_user(id, change))
            .await
    }

    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        self.timed("create_session", self.inner.create_session(session))
            .await
    }

    async fn session(&self, id_hash: &str) -> StoreResult<Option<(Session, User)>> {
        self.timed("session", self.inner.session(id_hash)).await
    }

    async fn touch_session(&self, id_hash: &str, at: DateTime<Utc>) -> StoreResult<()> {
        self.timed("touch_session", self.inner.touch_session(id_hash, at))
            .await
    }

    async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
        self.timed("delete_session", self.inner.delete_session(id_hash))
            .await
    }

    async fn record_audit(&self, record: &NewAudit) -> StoreResult<AuditRecord> {
        self.timed("record_audit", self.inner.record_audit(record))
            .await
    }

    async fn audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        self.timed("audit", self.inner.audit(query)).await
    }

    async fn count_audit(
        &self,
        action: &str,
        target: Option<&str>,
        address: Option<&str>,
        since: DateTime<Utc>,
    ) -> StoreResult<i64> {
        self.timed(
            "count_audit",
            self.inner.count_audit(action, target, address, since),
        )
        .await
    }

    async fn site_settings(&self) -> StoreResult<SettingsRecord> {
        self.timed("site_settings", self.inner.site_settings())
            .await
    }

    async fn save_site_settings(
        &self,
        data: &serde_json::Value,
        expected_version: i64,
        by: &str,
    ) -> StoreResult<SettingsRecord> {
        self.timed(
            "save_site_settings",
            self.inner.save_site_settings(data, expected_version, by),
        )
        .await
    }

    async fn set_review(&self, review: &Review) -> StoreResult<()> {
        self.timed("set_review", self.inner.set_review(review))
            .await
    }

    async fn clear_review(&self, entry_id: EntryId) -> StoreResult<()> {
        self.timed("clear_review", self.inner.clear_review(entry_id))
            .await
    }

    async fn review(&self, entry_id: EntryId) -> StoreResult<Option<Review>> {
        self.timed("review", self.inner.review(entry_id)).await
    }

    async fn reviews(&self, state: Option<ReviewState>, limit: u32) -> StoreResult<Vec<Review>> {
        self.timed("reviews", self.inner.reviews(state, limit))
            .await
    }

    async fn search_entries(&self, search: &EntrySearch) -> StoreResult<Vec<Entry>> {
        self.timed("search_entries", self.inner.search_entries(search))
            .await
    }

    async fn create_media(
        &self,
        media: &NewMedia,
        variants: &[MediaVariant],
        pages: &[Page],
        event: NewEvent,
    ) -> StoreResult<(Media, i64)> {
        self.timed(
            "create_media",
            self.inner.create_media(media, variants, pages, event),
        )
        .await
    }

    async fn media(&self, id: MediaId) -> StoreResult<Option<Media>> {
        self.timed("media", self.inner.media(id)).await
    }

    async fn media_by_hash(&self, hash: &str) -> StoreResult<Option<Media>> {
        self.timed("media_by_hash", self.inner.media_by_hash(hash))
            .await
    }

    async fn media_by_ids(&self, ids: &[MediaId]) -> StoreResult<Vec<Media>> {
        self.timed("media_by_ids", self.inner.media_by_ids(ids))
            .await
    }

    async fn media_list(&self, query: &MediaQuery) -> StoreResult<Vec<Media>> {
        self.timed("media_list", self.inner.media_list(query)).await
    }

    async fn media_original(&self, id: MediaId) -> StoreResult<Option<Vec<u8>>> {
        self.timed("media_original", self.inner.media_original(id))
            .await
    }

    async fn update_media(&self, id: MediaId, change: &MediaChange) -> StoreResult<Media> {
        self.timed("update_media", self.inner.update_media(id, change))
            .await
    }

    async fn media_users(&self, id: MediaId) -> StoreResult<Vec<EntryId>> {
        self.timed("media_users", self.inner.media_users(id)).await
    }

    async fn delete_media(&self, id: MediaId, event: NewEvent) -> StoreResult<MediaDeletion> {
        self.timed("delete_media", self.inner.delete_media(id, event))
            .await
    }

    async fn unused_media(&self, older_than: DateTime<Utc>, limit: u32) -> StoreResult<Vec<Media>> {
        self.timed("unused_media", self.inner.unused_media(older_than, limit))
            .await
    }

    async fn media_in_drafts(&self, ids: &[MediaId]) -> StoreResult<Vec<MediaId>> {
        self.timed("media_in_drafts", self.inner.media_in_drafts(ids))
            .await
    }
}
