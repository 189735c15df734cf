//! The cached copies: a moka cache bounded by bytes, which decides what
//! stays, a read index that hits use instead, and the pinned pages
//! (pre-warmed for a kick-off) that must outlive eviction while their window
//! lasts.
//!
//! Why two maps: every moka read writes shared memory (its read buffer,
//! the entry's access time, the frequency sketch on drain), and handing
//! out an `Arc` writes the page's reference count; on the hot page, every
//! worker writes the same cache lines on every hit, and a second core makes
//! it slower. Hits read the index instead: a papaya map read under an
//! epoch guard (per-thread state only), the page borrowed for the length of
//! the answer, nothing written. The index holds what moka holds (each copy
//! once: both hold the same `Arc`): writes go to moka first and then the
//! index, one writer at a time, and moka's eviction listener takes evicted
//! copies out of the index. Moka still learns which pages are read: the
//! front reports one hit in [`SAMPLE_EVERY`] per worker ([`Pages::touch`]),
//! enough for its frequency sketch and recency order, and a pinned copy
//! evicted anyway is put back from the pinned set by the next lookup
//! instead of asking the store.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use moka::future::Cache;
use moka::notification::RemovalCause;

use super::CachedPage;

/// One hit in this many per worker is reported to moka's policy.
pub const SAMPLE_EVERY: u32 = 32;

type Pinned = HashMap<Arc<str>, Arc<CachedPage>>;
/// foldhash, randomly seeded per process: paths are hashed on every request
/// and SipHash (the default) cost a hit more than the probe. Only published
/// paths are ever inserted, so lookups of hostile paths cannot crowd a bucket.
/// The same holds for the [`PathIndex`](super::PathIndex), which uses it too.
pub(super) type Hasher = foldhash::fast::RandomState;
pub(super) type PageMap = Cache<Arc<str>, Arc<CachedPage>, Hasher>;
type Index = papaya::HashMap<Arc<str>, Arc<CachedPage>, Hasher>;

/// Cheap to clone: every part is shared.
#[derive(Clone)]
pub(super) struct Pages {
    cache: PageMap,
    index: Arc<Index>,
    /// Held while moka and the index change together, so that two writers
    /// of one path cannot leave the index holding another copy than moka.
    writing: Arc<tokio::sync::Mutex<()>>,
    /// A lock is cheap enough here: hits read the index and unknown paths
    /// stop at the `PathIndex`, so only the slow reads of published paths
    /// (stale, missing) and writes take it.
    pinned: Arc<RwLock<Pinned>>,
    /// Calls of [`Pages::get`], the slow read (moka, pinned set): tests
    /// check that unknown paths never make one.
    #[cfg(test)]
    gets: Arc<std::sync::atomic::AtomicUsize>,
}

impl Pages {
    pub(super) fn new(max_bytes: u64) -> Pages {
        let index: Arc<Index> = Arc::new(papaya::HashMap::with_hasher(Hasher::default()));
        let evicted = Arc::downgrade(&index);
        let cache = Cache::builder()
            .name("pages")
            .max_capacity(max_bytes)
            .weigher(|key: &Arc<str>, page: &Arc<CachedPage>| {
                let key = u32::try_from(key.len()).unwrap_or(u32::MAX);
                page.weight().saturating_add(key)
            })
            // Only the evicted copy itself: a newer one indexed meanwhile
            // stays. A replaced copy was replaced in the index by its writer.
            .eviction_listener(move |path: Arc<Arc<str>>, page: Arc<CachedPage>, cause| {
                if cause == RemovalCause::Replaced {
                    return;
                }
                if let Some(index) = evicted.upgrade() {
                    let _ = index
                        .pin()
                        .remove_if(path.as_ref(), |_, held| Arc::ptr_eq(held, &page));
                }
            })
            .build_with_hasher(Hasher::default());
        Pages {
            cache,
            index,
            writing: Arc::default(),
            pinned: Arc::new(RwLock::new(HashMap::new())),
            #[cfg(test)]
            gets: Arc::default(),
        }
    }

    pub(super) fn moka(&self) -> &PageMap {
        &self.cache
    }

    /// The cached copy of `path`, lent to `f` without writing any shared
    /// memory (no reference count, no policy bookkeeping); `None` when the
    /// index has no copy (the caller goes the slow way, [`Pages::get`]).
    pub(super) fn with_indexed<R>(
        &self,
        path: &str,
        f: impl FnOnce(&CachedPage) -> R,
    ) -> Option<R> {
        let index = self.index.pin();
        index.get(path).map(|page| f(page))
    }

    #[cfg(test)]
    pub(super) fn indexed(&self) -> usize {
        self.index.len()
    }

    /// Tells moka's policy that `path` was read (a sample of the hits).
    pub(super) async fn touch(&self, path: &str) {
        let _ = self.cache.get(path).await;
    }

    #[cfg(test)]
    pub(super) fn gets(&self) -> usize {
        self.gets.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(super) async fn get(&self, path: &str) -> Option<Arc<CachedPage>> {
        #[cfg(test)]
        self.gets.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(page) = self.index.pin().get(path) {
            return Some(page.clone());
        }
        if let Some(page) = self.cache.get(path).await {
            // Cached by moka itself (a coalesced miss): index it.
            self.index_copy(Arc::from(path), page.clone()).await;
            return Some(page);
        }
        let (key, page) = {
            let pinned = self.pinned();
            let (key, page) = pinned.get_key_value(path)?;
            (key.clone(), page.clone())
        };
        self.insert(key, page.clone()).await;
        Some(page)
    }

    /// Caches `page` (and keeps a pinned path's pin on the new copy).
    pub(super) async fn insert(&self, path: Arc<str>, page: Arc<CachedPage>) {
        self.repin(&path, &page);
        let _writing = self.writing.lock().await;
        self.cache.insert(path.clone(), page.clone()).await;
        self.index.pin().insert(path.clone(), page.clone());
        self.drop_unless_cached(&path, &page);
    }

    /// Indexes the copy moka inserted itself (a coalesced miss), unless a
    /// write has put a newer one there meanwhile.
    pub(super) async fn index_copy(&self, path: Arc<str>, page: Arc<CachedPage>) {
        let _writing = self.writing.lock().await;
        let index = self.index.pin();
        if index.get(&path).is_some_and(|held| held.seq() > page.seq()) {
            return;
        }
        index.insert(path.clone(), page.clone());
        drop(index);
        self.drop_unless_cached(&path, &page);
    }

    /// Moka may refuse a copy (its admission policy, when full) or evict it
    /// before it was indexed; the index must not keep what moka does not
    /// count.
    fn drop_unless_cached(&self, path: &Arc<str>, page: &Arc<CachedPage>) {
        if !self.cache.contains_key(path) {
            let _ = self
                .index
                .pin()
                .remove_if(path, |_, held| Arc::ptr_eq(held, page));
        }
    }

    /// Replaces the cached copy of `path` with `page` only while it holds
    /// the same version (seq): a newer copy inserted meanwhile stays.
    pub(super) async fn replace_version(&self, path: Arc<str>, page: Arc<CachedPage>) {
        use moka::ops::compute::{CompResult, Op};
        let seq = page.seq();
        let replacement = page.clone();
        let _writing = self.writing.lock().await;
        let result = self
            .cache
            .entry(path.clone())
            .and_compute_with(move |current| {
                std::future::ready(match current {
                    Some(entry) if entry.value().seq() == seq => Op::Put(replacement),
                    _ => Op::Nop,
                })
            })
            .await;
        if matches!(result, CompResult::ReplacedWith(_)) {
            self.index.pin().insert(path.clone(), page.clone());
            self.drop_unless_cached(&path, &page);
            self.repin(&path, &page);
        }
    }

    /// Moves a pin to a copy moka itself inserted (a coalesced miss).
    pub(super) fn repin(&self, path: &str, page: &Arc<CachedPage>) {
        let pinned = self.pinned().contains_key(path);
        if pinned && let Some(slot) = self.pinned_mut().get_mut(path) {
            *slot = page.clone();
        }
    }

    /// Drops the cached copy and any pin: the page is gone or must be read
    /// again.
    pub(super) async fn invalidate(&self, path: &str) {
        self.pinned_mut().remove(path);
        let _writing = self.writing.lock().await;
        self.cache.invalidate(path).await;
        self.index.pin().remove(path);
    }

    /// Drops `page` (and its pin) if it is still the copy held: a writer
    /// that lost a race with a delete takes back what it put. A newer copy
    /// stays.
    pub(super) async fn invalidate_copy(&self, path: &Arc<str>, page: &Arc<CachedPage>) {
        use moka::ops::compute::Op;
        let held = page.clone();
        let _writing = self.writing.lock().await;
        self.cache
            .entry(path.clone())
            .and_compute_with(move |current| {
                std::future::ready(match current {
                    Some(entry) if Arc::ptr_eq(entry.value(), &held) => Op::Remove,
                    _ => Op::Nop,
                })
            })
            .await;
        let _ = self
            .index
            .pin()
            .remove_if(path, |_, held| Arc::ptr_eq(held, page));
        let mut pinned = self.pinned_mut();
        if pinned.get(path).is_some_and(|held| Arc::ptr_eq(held, page)) {
            pinned.remove(path);
        }
    }

    /// Makes exactly `pages` the pinned set.
    pub(super) fn replace_pins(&self, pages: Pinned) {
        *self.pinned_mut() = pages;
    }

    pub(super) fn pinned_paths(&self) -> Vec<Arc<str>> {
        self.pinned().keys().cloned().collect()
    }

    pub(super) fn pinned_count(&self) -> usize {
        self.pinned().len()
    }

    /// Every cached path, pinned or not (duplicates possible).
    pub(super) fn paths(&self) -> Vec<Arc<str>> {
        let mut paths: Vec<Arc<str>> = self.cache.iter().map(|(path, _)| (*path).clone()).collect();
        paths.extend(self.pinned_paths());
        paths
    }

    fn pinned(&self) -> RwLockReadGuard<'_, Pinned> {
        // Every critical section is one map operation: a poisoned map is
        // still consistent.
        self.pinned.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn pinned_mut(&self) -> RwLockWriteGuard<'_, Pinned> {
        self.pinned.write().unwrap_or_else(PoisonError::into_inner)
    }
}
