//! The page cache: path -> `Arc<CachedPage>` in a byte-bounded moka cache,
//! plus the set of published paths (`PathIndex`) and the not-found page.
//! Delivery asks it for a path; only a miss on a published path reaches the
//! store, once per path however many readers wait (single flight). Unknown
//! paths never do. Writes committed on this node reach it through `apply`;
//! events from every node through `apply_event`. A copy past its lifetime,
//! or superseded by an event, is served stale while one background refresh
//! per path replaces it ([`refresh`]). It never renders.

mod index;
mod local;
mod page;
mod pages;
mod refresh;
#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
mod warm;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use prometheus::IntGauge;
use tokio::sync::watch;

pub use self::index::{PathIndex, Stamp};
pub use self::local::LocalWrite;
use self::local::LocalWrites;
pub use self::page::{
    CONTENT_SECURITY_POLICY, CachedPage, Encoding, Freshness, PageHeaders, REFERRER_POLICY,
    Representation, http_date,
};
use self::pages::Pages;
pub use self::pages::SAMPLE_EVERY;
use self::refresh::Refresher;
pub use self::warm::WarmReport;
use crate::metrics::{CacheResult, Metrics, Shard};
use crate::model::{Page, PageWrite};
use crate::store::{Store, StoreError, StoreResult};

/// What the cache knows about a path.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// Served from memory.
    Hit(Arc<CachedPage>),
    /// Served from memory past its freshness (or superseded) while one
    /// refresh runs in the background.
    Stale(Arc<CachedPage>),
    /// Was missing; fetched from the store (possibly by another waiter).
    Fetched(Arc<CachedPage>),
    /// Not a published path: answer with [`PageCache::with_not_found`].
    NotFound,
    /// The store failed while fetching a miss.
    Unavailable,
}

/// Why a miss produced no page; shared by every waiter of one fetch.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("page is no longer published")]
    Gone,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The gauges the cache keeps current (lookups are counted in the
/// caller's metric shard).
struct Counters {
    entries: IntGauge,
    bytes: IntGauge,
}

pub struct PageCache {
    store: Arc<dyn Store>,
    pages: Pages,
    index: Arc<PathIndex>,
    /// Kept outside moka so it is never evicted; read on every unknown path,
    /// replaced only when the renderer publishes a new one. Behind an
    /// `ArcSwap`, not a lock: a reader borrows it through a slot of its own
    /// thread, where a lock (its reader count) or an `Arc` clone (the
    /// page's reference count) would write one cache line shared by every
    /// worker on every 404.
    not_found: ArcSwap<CachedPage>,
    counters: Counters,
    /// Where lookups without a worker's shard are counted.
    shard: Arc<Shard>,
    store_errors: Arc<ErrorLog>,
    refresher: Refresher,
    /// When the event follower last read the log through, as milliseconds
    /// after `epoch` plus one (0: never). See [`Freshness`].
    verified: AtomicU64,
    epoch: Instant,
    /// The highest event seq applied (0: none since boot).
    applied: AtomicI64,
    /// Woken when this node holds more of the log: an event applied, a
    /// refresh an event asked for ended.
    progress: tokio::sync::watch::Sender<u64>,
    local: Arc<LocalWrites>,
}

impl PageCache {
    /// A cache holding at most `max_bytes` of pages (bodies of every
    /// encoding, header values, key and a fixed per-entry overhead).
    pub fn new(store: Arc<dyn Store>, metrics: Arc<Metrics>, max_bytes: u64) -> PageCache {
        let pages = Pages::new(max_bytes);
        let counters = Counters {
            entries: metrics.cache_entries.clone(),
            bytes: metrics.cache_bytes.clone(),
        };
        let index = Arc::new(PathIndex::new());
        let store_errors = Arc::new(ErrorLog::new(Duration::from_secs(1)));
        let (progress, _) = tokio::sync::watch::channel(0);
        let refresher = Refresher::new(
            store.clone(),
            pages.clone(),
            index.clone(),
            store_errors.clone(),
            progress.clone(),
        );
        PageCache {
            store,
            pages,
            index,
            not_found: ArcSwap::from_pointee(page::builtin_not_found()),
            counters,
            shard: metrics.shared_shard().clone(),
            store_errors,
            refresher,
            verified: AtomicU64::new(0),
            epoch: Instant::now(),
            applied: AtomicI64::new(0),
            progress,
            local: Arc::default(),
        }
    }

    /// Records that every event committed before `at` has been applied:
    /// copies no event marked were current then.
    pub fn log_verified(&self, at: Instant) {
        let millis = u64::try_from(at.saturating_duration_since(self.epoch).as_millis())
            .unwrap_or(u64::MAX - 1);
        self.verified.fetch_max(millis + 1, Ordering::Relaxed);
    }

    /// The highest event seq applied to this cache since boot: what it
    /// knows of the log, for work that depends on the content changing.
    pub fn applied_seq(&self) -> i64 {
        self.applied.load(Ordering::Relaxed)
    }

    /// Records that the cache reflects the log up to `seq` (a node's boot
    /// loads its index after reading the log's end).
    pub fn note_applied(&self, seq: i64) {
        self.applied.fetch_max(seq, Ordering::Relaxed);
        self.progress.send_modify(|n| *n += 1);
    }

    /// The highest seq such that this node holds the new bytes of every
    /// event up to it: the applied seq, less any event whose refresh is
    /// still running or failed while the old copy is still cached. What
    /// the node reports in its heartbeat, so the edge is purged only once
    /// a refetch cannot get an old page from here. A failed refresh is
    /// started again here (each heartbeat), so a page nobody reads does
    /// not hold every later purge back.
    pub async fn held_seq(&self) -> i64 {
        let applied = self.applied_seq();
        let (running, failed) = self.refresher.owed();
        let mut lowest = running;
        for (path, event) in failed {
            let old_copy = self
                .pages
                .get(&path)
                .await
                .is_some_and(|page| page.seq() < event);
            if old_copy {
                lowest = Some(lowest.map_or(event, |l| l.min(event)));
                self.refresher.start_for_event(&path, event);
            } else {
                self.refresher.settle(&path);
            }
        }
        lowest.map_or(applied, |event| applied.min(event - 1))
    }

    /// Changes whenever this node may hold more of the log than before
    /// (see [`PageCache::held_seq`]); changes in between are merged.
    pub fn progress(&self) -> tokio::sync::watch::Receiver<u64> {
        self.progress.subscribe()
    }

    fn verified(&self) -> Option<Instant> {
        match self.verified.load(Ordering::Relaxed) {
            0 => None,
            millis => Some(self.epoch + Duration::from_millis(millis - 1)),
        }
    }

    /// Loads the set of published paths from the store; returns its size.
    /// Cached pages whose path is no longer published are dropped, since a
    /// hit is served without consulting the index.
    pub async fn load_index(&self) -> StoreResult<usize> {
        let paths = self.store.page_paths().await?;
        let count = paths.len();
        self.index.replace_all(paths);
        let unpublished: Vec<Arc<str>> = self
            .pages
            .paths()
            .into_iter()
            .filter(|path| !self.index.contains(path))
            .collect();
        for path in unpublished {
            self.pages.invalidate(&path).await;
        }
        Ok(count)
    }

    /// The cached copy of `path`, if any, without counting a request or
    /// reading the store.
    pub async fn cached(&self, path: &str) -> Option<Arc<CachedPage>> {
        self.pages.get(path).await
    }

    /// The published paths known to this node.
    pub fn index(&self) -> &PathIndex {
        &self.index
    }

    /// The hit path: a fresh cached copy of `path` lent to `answer`, and
    /// the hit counted in the caller's shard, writing no memory another
    /// worker reads or writes. `None` for anything else (stale, missing,
    /// unknown), which [`lookup_at`](Self::lookup_at) then handles.
    pub fn hit_with<R>(
        &self,
        path: &str,
        now: Instant,
        shard: &Shard,
        answer: impl FnOnce(&CachedPage) -> R,
    ) -> Option<R> {
        let verified = self.verified();
        self.pages
            .with_indexed(path, |page| {
                if page.freshness_at(now, verified) != Freshness::Fresh {
                    return None;
                }
                shard.cache(CacheResult::Hit);
                Some(answer(page))
            })
            .flatten()
    }

    /// Reports a read of `path` to the eviction policy: callers of
    /// [`hit_with`](Self::hit_with) report a sample of their hits (one in
    /// [`SAMPLE_EVERY`]), so what readers read stays cached.
    pub async fn touch(&self, path: &str) {
        self.pages.touch(path).await;
    }

    /// Finds the page for a raw request path. Never touches the store for a
    /// path outside the index or already cached.
    pub async fn lookup(&self, path: &str) -> Lookup {
        self.lookup_at(path, Instant::now(), &self.shard).await
    }

    /// [`lookup`](Self::lookup) with the caller's clock reading (the front
    /// reads the clock once per request, for this and its metrics), counted
    /// in the caller's metric shard.
    ///
    /// The index is asked first: a path it does not hold is not published,
    /// so it is answered without reading moka (whose every read writes
    /// memory all workers share) or the pinned set. Every copy is cached
    /// with its path already in the index, and a deletion takes the path
    /// out of the index before it drops the copy, so a copy held for a path
    /// the index lacks is one a deletion is taking out (or one a refresh
    /// racing a deletion put back after it): not serving it is the
    /// deletion's answer, given a moment early.
    pub async fn lookup_at(&self, path: &str, now: Instant, shard: &Shard) -> Lookup {
        if !self.index.contains(path) {
            shard.cache(CacheResult::Negative);
            return Lookup::NotFound;
        }
        if let Some(page) = self.pages.get(path).await {
            // One atomic load besides the comparison: the whole freshness
            // cost of a hit.
            if page.freshness_at(now, self.verified()) == Freshness::Fresh {
                shard.cache(CacheResult::Hit);
                return Lookup::Hit(page);
            }
            return self.serve_stale(path, page, now, shard);
        }
        // The stamp is read after the cache: one read before it would make
        // fetch take a write that cached its copy in between for a race,
        // and drop that copy.
        match self.index.stamp(path) {
            Some(stamp) => self.fetch(path, stamp, shard).await,
            None => {
                shard.cache(CacheResult::Negative);
                Lookup::NotFound
            }
        }
    }

    /// A stale copy is answered at once; the first reader to see it (after
    /// any failure backoff) starts the one refresh. Past stale-if-error,
    /// with the store still failing, the copy stays cached but is no longer
    /// served.
    fn serve_stale(
        &self,
        path: &str,
        page: Arc<CachedPage>,
        now: Instant,
        shard: &Shard,
    ) -> Lookup {
        if page.refresh_due(now) {
            self.refresher.start(path, page.seq());
        }
        if page.beyond_stale_if_error(now, self.verified()) {
            shard.cache(CacheResult::Error);
            return Lookup::Unavailable;
        }
        shard.cache(CacheResult::Stale);
        Lookup::Stale(page)
    }

    /// Brings this node up to date with one event from the log, without
    /// evicting anything: a cached copy older than the event is marked
    /// stale and refreshed in the background (readers keep the old copy
    /// meanwhile); a path not cached is indexed, and its first request
    /// finds out whether the store still has it. Copies at or past the
    /// event's seq (this node's own writes, already applied) are left alone.
    pub async fn apply_event(&self, seq: i64, paths: &[String]) {
        for path in paths {
            if self.local.note_event(path, seq) {
                continue;
            }
            match self.pages.get(path.as_str()).await {
                Some(page) if page.seq() >= seq => {}
                Some(page) => {
                    page.mark_stale();
                    self.refresher.start_for_event(path, seq);
                }
                None => {
                    self.index.insert(path.as_str());
                }
            }
        }
        // After the refreshes are registered: `held_seq` must never see the
        // event applied without them.
        self.note_applied(seq);
    }

    /// Copies the hit path's index holds (tests check it against moka).
    #[cfg(test)]
    pub(crate) fn indexed(&self) -> usize {
        self.pages.indexed()
    }

    /// Background refreshes running now.
    pub fn refreshes_running(&self) -> usize {
        self.refresher.running()
    }

    async fn fetch(&self, path: &str, stamp: Stamp, shard: &Shard) -> Lookup {
        shard.cache(CacheResult::Miss);
        let init = async {
            match self.store.page(path).await? {
                Some(page) if page.status == 200 => Ok(Arc::new(CachedPage::from_page(page))),
                _ => Err(FetchError::Gone),
            }
        };
        let key = self.index.key(path).unwrap_or_else(|| Arc::from(path));
        let fetched = self.pages.moka().try_get_with(key.clone(), init).await;
        match fetched {
            Ok(page) => {
                self.pages.repin(path, &page);
                self.pages.index_copy(key, page.clone()).await;
                // moka inserts the fetched value even if a write replaced or
                // removed the path meanwhile; drop it so the next reader
                // fetches the current page instead of keeping an old one.
                if self.index.stamp(path) != Some(stamp) {
                    self.pages.invalidate(path).await;
                }
                Lookup::Fetched(page)
            }
            Err(err) => match &*err {
                FetchError::Gone => {
                    self.index.remove_if_unchanged(path, stamp);
                    Lookup::NotFound
                }
                FetchError::Store(e) => {
                    shard.cache(CacheResult::Error);
                    self.store_errors
                        .report(path, e, "page fetch failed; answering 503");
                    Lookup::Unavailable
                }
            },
        }
    }

    /// Brings the cache and the index in line with committed page writes:
    /// an upsert of a 200 page is cached and indexed at once; a delete, or
    /// an upsert with another status, removes the path (the store lists only
    /// 200 pages as published, and this node must agree after a restart).
    /// A smaller body for the version of a page this node holds (see
    /// `crate::publish::Refiner`); any other version is left alone.
    pub async fn refine(&self, page: Page) {
        if page.status != 200 {
            return;
        }
        let path: Arc<str> = Arc::from(page.path.as_str());
        let cached = Arc::new(CachedPage::from_page(page));
        self.pages.replace_version(path, cached).await;
        self.refresh_gauges().await;
    }

    pub async fn apply(&self, writes: &[PageWrite]) {
        for write in writes {
            match write {
                PageWrite::Upsert(page) if page.status == 200 => {
                    let path: Arc<str> = Arc::from(page.path.as_str());
                    self.index.insert(path.clone());
                    let cached = Arc::new(CachedPage::from_page(page.clone()));
                    self.pages.insert(path, cached).await;
                }
                other => {
                    self.index.remove(other.path());
                    self.pages.invalidate(other.path()).await;
                }
            }
        }
        self.refresh_gauges().await;
    }

    /// Announces a write of `paths` this node is about to commit; events
    /// for them wait for its end (see [`LocalWrite`]).
    pub fn begin_local(&self, paths: &[&str]) -> LocalWrite {
        LocalWrite::new(
            self.local.clone(),
            self.refresher.clone(),
            paths.iter().map(|p| Arc::from(*p)).collect(),
        )
    }

    /// Replaces the page served for unknown paths.
    pub fn set_not_found(&self, page: CachedPage) {
        self.not_found.store(Arc::new(page));
    }

    /// The page served for unknown paths, lent to `answer` (as a hit's page
    /// is by [`hit_with`](Self::hit_with)): the borrow takes a slot of the
    /// calling thread's own, so no memory another worker reads is written in
    /// the common case.
    pub fn with_not_found<R>(&self, answer: impl FnOnce(&CachedPage) -> R) -> R {
        answer(&self.not_found.load())
    }

    /// The page served for unknown paths, to keep (an `Arc` clone: not for
    /// the request path, see [`with_not_found`](Self::with_not_found)).
    pub fn not_found(&self) -> Arc<CachedPage> {
        self.not_found.load_full()
    }

    /// Finishes moka's pending housekeeping and publishes the entry count
    /// and byte size. Too costly for every request; called on writes and by
    /// [`run_housekeeping`].
    pub async fn refresh_gauges(&self) {
        let moka = self.pages.moka();
        moka.run_pending_tasks().await;
        let entries = i64::try_from(moka.entry_count()).unwrap_or(i64::MAX);
        let bytes = i64::try_from(moka.weighted_size()).unwrap_or(i64::MAX);
        self.counters.entries.set(entries);
        self.counters.bytes.set(bytes);
    }
}

/// Background task: keeps `keel_cache_entries` / `keel_cache_bytes` current
/// (evictions and misses change them between writes) until `shutdown`.
pub async fn run_housekeeping(
    cache: Arc<PageCache>,
    every: Duration,
    shutdown: watch::Receiver<bool>,
) {
    let mut ticks = crate::tasks::Periodic::now(every, shutdown);
    while ticks.next().await {
        cache.refresh_gauges().await;
    }
}

/// Logs store failures at most once per interval: when the database is down
/// during a spike every miss fails, and one line per request would bury the
/// log (the `error` counter still counts each one).
struct ErrorLog {
    start: Instant,
    interval_ms: u64,
    next_ms: AtomicU64,
    suppressed: AtomicU64,
}

impl ErrorLog {
    fn new(interval: Duration) -> ErrorLog {
        ErrorLog {
            start: Instant::now(),
            interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
            next_ms: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    fn report(&self, path: &str, error: &StoreError, what: &'static str) {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let next = self.next_ms.load(Ordering::Relaxed);
        let due = now >= next
            && self
                .next_ms
                .compare_exchange(
                    next,
                    now.saturating_add(self.interval_ms),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok();
        if due {
            let suppressed = self.suppressed.swap(0, Ordering::Relaxed);
            tracing::warn!(path, %error, suppressed, "{what}");
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
        }
    }
}
