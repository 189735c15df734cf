//! A circuit breaker in front of the store. After consecutive "database
//! unavailable" failures it opens and every call fails at once (no pool
//! wait, no connect attempt), so a dead database costs readers nothing and
//! the stale cache answers instead. After a cooldown one call goes through
//! as a probe; its success closes the breaker, its failure reopens it with a
//! longer cooldown. Only `Unavailable` counts: a conflict or a missing row
//! is the database working.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::*;

/// Breaker settings.
#[derive(Debug, Clone, Copy)]
pub struct BreakerOptions {
    /// Consecutive failures that open the breaker.
    pub threshold: u32,
    /// First wait before a probe; doubles on each failed probe.
    pub cooldown: Duration,
    pub max_cooldown: Duration,
}

impl Default for BreakerOptions {
    fn default() -> Self {
        BreakerOptions {
            threshold: 5,
            cooldown: Duration::from_millis(500),
            max_cooldown: Duration::from_secs(10),
        }
    }
}

/// What `/readyz` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
}

pub struct Breaker {
    inner: Arc<dyn Store>,
    options: BreakerOptions,
    started: Instant,
    failures: AtomicU32,
    /// Millis since `started` before which calls fail fast; 0 when closed.
    open_until: AtomicU64,
    /// Current cooldown in millis (grows while probes fail).
    cooldown: AtomicU64,
    /// One probe at a time while open.
    probing: AtomicBool,
}

impl Breaker {
    pub fn new(inner: Arc<dyn Store>, options: BreakerOptions) -> Self {
        Breaker {
            inner,
            options,
            started: Instant::now(),
            failures: AtomicU32::new(0),
            open_until: AtomicU64::new(0),
            cooldown: AtomicU64::new(millis(options.cooldown)),
            probing: AtomicBool::new(false),
        }
    }

    pub fn state(&self) -> BreakerState {
        if self.open_until.load(Ordering::Acquire) == 0 {
            BreakerState::Closed
        } else {
            BreakerState::Open
        }
    }

    fn now(&self) -> u64 {
        millis(self.started.elapsed())
    }

    async fn call<T>(&self, fut: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
        let open_until = self.open_until.load(Ordering::Acquire);
        let mut probe = false;
        if open_until != 0 {
            let due = self.now() >= open_until;
            if !due
                || self
                    .probing
                    .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
            {
                return Err(StoreError::Unavailable(
                    "database circuit open: failing fast until a probe succeeds".into(),
                ));
            }
            probe = true;
        }
        let result = fut.await;
        match &result {
            Err(StoreError::Unavailable(_)) => self.failed(probe),
            _ => self.succeeded(probe),
        }
        result
    }

    fn failed(&self, probe: bool) {
        if probe {
            let cooldown =
                (self.cooldown.load(Ordering::Acquire) * 2).min(millis(self.options.max_cooldown));
            self.cooldown.store(cooldown, Ordering::Release);
            self.open_until
                .store(self.now() + cooldown, Ordering::Release);
            self.probing.store(false, Ordering::Release);
            return;
        }
        let failures = self.failures.fetch_add(1, Ordering::AcqRel) + 1;
        if failures >= self.options.threshold && self.open_until.load(Ordering::Acquire) == 0 {
            let cooldown = self.cooldown.load(Ordering::Acquire);
            self.open_until
                .store(self.now() + cooldown.max(1), Ordering::Release);
            tracing::warn!(failures, "database circuit opened");
        }
    }

    fn succeeded(&self, probe: bool) {
        self.failures.store(0, Ordering::Release);
        if probe || self.open_until.load(Ordering::Acquire) != 0 {
            self.open_until.store(0, Ordering::Release);
            self.cooldown
                .store(millis(self.options.cooldown), Ordering::Release);
            tracing::info!("database circuit closed");
        }
        if probe {
            self.probing.store(false, Ordering::Release);
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[async_trait]
impl Store for Breaker {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    fn pool_status(&self) -> Option<PoolStatus> {
        self.inner.pool_status()
    }
    async fn migrate(&self) -> StoreResult<usize> {
        self.call(self.inner.migrate()).await
    }
    async fn ping(&self) -> StoreResult<()> {
        self.call(self.inner.ping()).await
    }
    async fn sync_content_types(&self, types: &[ContentTypeRecord]) -> StoreResult<()> {
        self.call(self.inner.sync_content_types(types)).await
    }
    async fn content_types(&self) -> StoreResult<Vec<ContentTypeRecord>> {
        self.call(self.inner.content_types()).await
    }
    async fn write(&self, write: Write) -> StoreResult<WriteOutcome> {
        self.call(self.inner.write(write)).await
    }
    async fn entry(&self, id: EntryId) -> StoreResult<Option<Entry>> {
        self.call(self.inner.entry(id)).await
    }
    async fn entry_by_slug(&self, type_name: &str, slug: &str) -> StoreResult<Option<Entry>> {
        self.call(self.inner.entry_by_slug(type_name, slug)).await
    }
    async fn published_entry_by_slug(
        &self,
        type_name: &str,
        slug: &str,
    ) -> StoreResult<Option<Entry>> {
        self.call(self.inner.published_entry_by_slug(type_name, slug))
            .await
    }
    async fn entries(&self, query: &EntryQuery) -> StoreResult<Vec<Entry>> {
        self.call(self.inner.entries(query)).await
    }
    async fn published_entries(&self, type_name: &str) -> StoreResult<Vec<Entry>> {
        self.call(self.inner.published_entries(type_name)).await
    }
    async fn entries_by_ids(&self, ids: &[EntryId]) -> StoreResult<Vec<Entry>> {
        self.call(self.inner.entries_by_ids(ids)).await
    }
    async fn entries_with_value(
        &self,
        type_name: &str,
        field: &str,
        value: &serde_json::Value,
    ) -> StoreResult<Vec<Entry>> {
        self.call(self.inner.entries_with_value(type_name, field, value))
            .await
    }
    async fn listed(&self, list: &str, owner: &str, limit: u32) -> StoreResult<Vec<Entry>> {
        self.call(self.inner.listed(list, owner, limit)).await
    }
    async fn list_owners_near(&self, list: &str, owner: &str) -> StoreResult<Vec<String>> {
        self.call(self.inner.list_owners_near(list, owner)).await
    }
    async fn list_owners(&self, list: &str) -> StoreResult<Vec<String>> {
        self.call(self.inner.list_owners(list)).await
    }
    async fn referrers(&self, id: EntryId) -> StoreResult<Vec<Entry>> {
        self.call(self.inner.referrers(id)).await
    }
    async fn published_page(&self, after: Option<EntryId>, limit: u32) -> StoreResult<Vec<Entry>> {
        self.call(self.inner.published_page(after, limit)).await
    }
    async fn index_signature(&self) -> StoreResult<Option<String>> {
        self.call(self.inner.index_signature()).await
    }
    async fn write_index(&self, rows: &[IndexedEntry]) -> StoreResult<()> {
        self.call(self.inner.write_index(rows)).await
    }
    async fn finish_index(&self, signature: &str) -> StoreResult<()> {
        self.call(self.inner.finish_index(signature)).await
    }
    async fn due_scheduled(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<Vec<Entry>> {
        self.call(self.inner.due_scheduled(now, limit)).await
    }
    async fn count_entries(&self) -> StoreResult<i64> {
        self.call(self.inner.count_entries()).await
    }
    async fn revisions(&self, id: EntryId) -> StoreResult<Vec<Revision>> {
        self.call(self.inner.revisions(id)).await
    }
    async fn revision(&self, id: EntryId, version: i64) -> StoreResult<Option<Revision>> {
        self.call(self.inner.revision(id, version)).await
    }
    async fn events_since(&self, after: i64, limit: u32) -> StoreResult<Vec<Event>> {
        self.call(self.inner.events_since(after, limit)).await
    }
    async fn last_seq(&self) -> StoreResult<i64> {
        self.call(self.inner.last_seq()).await
    }
    async fn page(&self, path: &str) -> StoreResult<Option<Page>> {
        self.call(self.inner.page(path)).await
    }
    async fn refine_page(&self, path: &str, etag: &str, br: &[u8]) -> StoreResult<bool> {
        self.call(self.inner.refine_page(path, etag, br)).await
    }
    async fn pages(&self, paths: &[String]) -> StoreResult<Vec<Page>> {
        self.call(self.inner.pages(paths)).await
    }
    async fn page_paths(&self) -> StoreResult<Vec<String>> {
        self.call(self.inner.page_paths()).await
    }
    async fn sitemap_files(&self) -> StoreResult<Vec<(String, DateTime<Utc>)>> {
        self.call(self.inner.sitemap_files()).await
    }
    async fn listed_links(&self, list: &str, owner: &str, limit: u32) -> StoreResult<Vec<Link>> {
        self.call(self.inner.listed_links(list, owner, limit)).await
    }
    async fn recent_pages(&self, limit: u32) -> StoreResult<Vec<PageSummary>> {
        self.call(self.inner.recent_pages(limit)).await
    }
    async fn create_token(&self, name: &str, role: Role, hash: &str) -> StoreResult<ApiToken> {
        self.call(self.inner.create_token(name, role, hash)).await
    }
    async fn tokens(&self) -> StoreResult<Vec<ApiToken>> {
        self.call(self.inner.tokens()).await
    }
    async fn token_by_hash(&self, hash: &str) -> StoreResult<Option<ApiToken>> {
        self.call(self.inner.token_by_hash(hash)).await
    }
    async fn revoke_token(&self, name: &str) -> StoreResult<()> {
        self.call(self.inner.revoke_token(name)).await
    }
    async fn touch_token(&self, name: &str, at: DateTime<Utc>) -> StoreResult<()> {
        self.call(self.inner.touch_token(name, at)).await
    }
    async fn heartbeat(&self, node: &str, held_seq: i64, ttl: Duration) -> StoreResult<()> {
        self.call(self.inner.heartbeat(node, held_seq, ttl)).await
    }
    async fn live_nodes(&self) -> StoreResult<Vec<NodeHeartbeat>> {
        self.call(self.inner.live_nodes()).await
    }
    async fn lease_destination(
        &self,
        destination: &str,
        node: &str,
        ttl: Duration,
        start: i64,
    ) -> StoreResult<Option<i64>> {
        self.call(self.inner.lease_destination(destination, node, ttl, start))
            .await
    }
    async fn advance_cursor(
        &self,
        destination: &str,
        node: &str,
        from: i64,
        to: i64,
    ) -> StoreResult<bool> {
        self.call(self.inner.advance_cursor(destination, node, from, to))
            .await
    }
    async fn outbox_cursors(&self) -> StoreResult<Vec<OutboxCursor>> {
        self.call(self.inner.outbox_cursors()).await
    }
    async fn log_delivery(&self, delivery: &Delivery) -> StoreResult<()> {
        self.call(self.inner.log_delivery(delivery)).await
    }
    async fn deliveries(&self, destination: &str, limit: u32) -> StoreResult<Vec<Delivery>> {
        self.call(self.inner.deliveries(destination, limit)).await
    }

    async fn create_user(&self, user: &NewUser) -> StoreResult<User> {
        self.call(self.inner.create_user(user)).await
    }

    async fn users(&self) -> StoreResult<Vec<User>> {
        self.call(self.inner.users()).await
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        self.call(self.inner.user_by_email(email)).await
    }

    async fn user(&self, id: UserId) -> StoreResult<Option<User>> {
        self.call(self.inner.user(id)).await
    }

    async fn update_user(&self, id: UserId, change: &UserChange) -> StoreResult<User> {
        self.call(self.inner.update_user(id, change)).await
    }

    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        self.call(self.inner.create_session(session)).await
    }

    async fn session(&self, id_hash: &str) -> StoreResult<Option<(Session, User)>> {
        self.call(self.inner.session(id_hash)).await
    }

    async fn touch_session(&self, id_hash: &str, at: DateTime<Utc>) -> StoreResult<()> {
        self.call(self.inner.touch_session(id_hash, at)).await
    }

    async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
        self.call(self.inner.delete_session(id_hash)).await
    }

    async fn record_audit(&self, record: &NewAudit) -> StoreResult<AuditRecord> {
        self.call(self.inner.record_audit(record)).await
    }

    async fn audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        self.call(self.inner.audit(query)).await
    }

    async fn count_audit(
        &self,
        action: &str,
        target: Option<&str>,
        address: Option<&str>,
        since: DateTime<Utc>,
    ) -> StoreResult<i64> {
        self.call(self.inner.count_audit(action, target, address, since))
            .await
    }

    async fn site_settings(&self) -> StoreResult<SettingsRecord> {
        self.call(self.inner.site_settings()).await
    }

    async fn save_site_settings(
        &self,
        data: &serde_json::Value,
        expected_version: i64,
        by: &str,
    ) -> StoreResult<SettingsRecord> {
        self.call(self.inner.save_site_settings(data, expected_version, by))
            .await
    }

    async fn set_review(&self, review: &Review) -> StoreResult<()> {
        self.call(self.inner.set_review(review)).await
    }

    async fn clear_review(&self, entry_id: EntryId) -> StoreResult<()> {
        self.call(self.inner.clear_review(entry_id)).await
    }

    async fn review(&self, entry_id: EntryId) -> StoreResult<Option<Review>> {
        self.call(self.inner.review(entry_id)).await
    }

    async fn reviews(&self, state: Option<ReviewState>, limit: u32) -> StoreResult<Vec<Review>> {
        self.call(self.inner.reviews(state, limit)).await
    }

    async fn search_entries(&self, search: &EntrySearch) -> StoreResult<Vec<Entry>> {
        self.call(self.inner.search_entries(search)).await
    }

    async fn create_media(
        &self,
        media: &NewMedia,
        variants: &[MediaVariant],
        pages: &[Page],
        event: NewEvent,
    ) -> StoreResult<(Media, i64)> {
        self.call(self.inner.create_media(media, variants, pages, event))
            .await
    }

    async fn media(&self, id: MediaId) -> StoreResult<Option<Media>> {
        self.call(self.inner.media(id)).await
    }

    async fn media_by_hash(&self, hash: &str) -> StoreResult<Option<Media>> {
        self.call(self.inner.media_by_hash(hash)).await
    }

    async fn media_by_ids(&self, ids: &[MediaId]) -> StoreResult<Vec<Media>> {
        self.call(self.inner.media_by_ids(ids)).await
    }

    async fn media_list(&self, query: &MediaQuery) -> StoreResult<Vec<Media>> {
        self.call(self.inner.media_list(query)).await
    }

    async fn media_original(&self, id: MediaId) -> StoreResult<Option<Vec<u8>>> {
        self.call(self.inner.media_original(id)).await
    }

    async fn update_media(&self, id: MediaId, change: &MediaChange) -> StoreResult<Media> {
        self.call(self.inner.update_media(id, change)).await
    }

    async fn media_users(&self, id: MediaId) -> StoreResult<Vec<EntryId>> {
        self.call(self.inner.media_users(id)).await
    }

    async fn delete_media(&self, id: MediaId, event: NewEvent) -> StoreResult<MediaDeletion> {
        self.call(self.inner.delete_media(id, event)).await
    }

    async fn unused_media(&self, older_than: DateTime<Utc>, limit: u32) -> StoreResult<Vec<Media>> {
        self.call(self.inner.unused_media(older_than, limit)).await
    }

    async fn media_in_drafts(&self, ids: &[MediaId]) -> StoreResult<Vec<MediaId>> {
        self.call(self.inner.media_in_drafts(ids)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    async fn breaker(options: BreakerOptions) -> (Breaker, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::sqlite::SqliteStore::open(&dir.path().join("k.db"))
            .await
            .unwrap();
        (Breaker::new(Arc::new(store), options), dir)
    }

    /// A call that reaches the "database": counted, failing while `down`.
    async fn attempt(b: &Breaker, calls: &AtomicUsize, down: bool) -> StoreResult<()> {
        b.call(async {
            calls.fetch_add(1, Ordering::SeqCst);
            if down {
                Err(StoreError::Unavailable("down".into()))
            } else {
                Ok(())
            }
        })
        .await
    }

    #[tokio::test]
    async fn opens_after_consecutive_failures_and_closes_after_a_probe() {
        let options = BreakerOptions {
            threshold: 3,
            cooldown: Duration::from_millis(100),
            max_cooldown: Duration::from_millis(400),
        };
        let (b, _dir) = breaker(options).await;
        let calls = AtomicUsize::new(0);
        for _ in 0..3 {
            assert!(attempt(&b, &calls, true).await.is_err());
        }
        assert_eq!(b.state(), BreakerState::Open);
        // Open: calls fail fast without reaching the database.
        for _ in 0..50 {
            let r = attempt(&b, &calls, true).await;
            assert!(matches!(r, Err(StoreError::Unavailable(_))));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        // A failed probe reopens it, with a longer cooldown.
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(attempt(&b, &calls, true).await.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert!(attempt(&b, &calls, true).await.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 4, "fails fast again");
        // The database is back: the next probe closes the breaker.
        tokio::time::sleep(Duration::from_millis(250)).await;
        attempt(&b, &calls, false).await.unwrap();
        assert_eq!(b.state(), BreakerState::Closed);
        for _ in 0..5 {
            attempt(&b, &calls, false).await.unwrap();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 10);
    }

    #[tokio::test]
    async fn other_errors_do_not_open_it() {
        let (b, _dir) = breaker(BreakerOptions::default()).await;
        b.migrate().await.unwrap();
        for _ in 0..20 {
            let missing = b.revoke_token("nobody").await;
            assert!(matches!(missing, Err(StoreError::NotFound)));
        }
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
