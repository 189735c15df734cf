//! The cached copies: a moka cache bounded by bytes, plus the pinned pages
//! (pre-warmed for a kick-off) that must outlive eviction while their window
//! lasts. A pinned copy also lives in moka, so a hit costs the same; if moka
//! evicts it anyway, the next lookup puts it back from the pinned set
//! instead of asking the store.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use moka::future::Cache;

use super::CachedPage;

type Pinned = HashMap<Arc<str>, Arc<CachedPage>>;
/// foldhash, randomly seeded per process: paths are hashed on every request
/// and SipHash (the default) cost a hit more than the probe. Only published
/// paths are ever inserted, so lookups of hostile paths cannot crowd a bucket.
type Hasher = foldhash::fast::RandomState;
pub(super) type PageMap = Cache<Arc<str>, Arc<CachedPage>, Hasher>;

/// Cheap to clone: both parts are shared.
#[derive(Clone)]
pub(super) struct Pages {
    cache: PageMap,
    pinned: Arc<RwLock<Pinned>>,
}

impl Pages {
    pub(super) fn new(max_bytes: u64) -> Pages {
        let cache = Cache::builder()
            .name("pages")
            .max_capacity(max_bytes)
            .weigher(|key: &Arc<str>, page: &Arc<CachedPage>| {
                let key = u32::try_from(key.len()).unwrap_or(u32::MAX);
                page.weight().saturating_add(key)
            })
            .build_with_hasher(Hasher::default());
        Pages {
            cache,
            pinned: Arc::new(RwLock::new(HashMap::new())),
        }
    }

    pub(super) fn moka(&self) -> &PageMap {
        &self.cache
    }

    pub(super) async fn get(&self, path: &str) -> Option<Arc<CachedPage>> {
        if let Some(page) = self.cache.get(path).await {
            return Some(page);
        }
        let (key, page) = {
            let pinned = self.pinned();
            let (key, page) = pinned.get_key_value(path)?;
            (key.clone(), page.clone())
        };
        self.cache.insert(key, page.clone()).await;
        Some(page)
    }

    /// Caches `page` (and keeps a pinned path's pin on the new copy).
    pub(super) async fn insert(&self, path: Arc<str>, page: Arc<CachedPage>) {
        self.repin(&path, &page);
        self.cache.insert(path, page).await;
    }

    /// Replaces the cached copy of `path` with `page` only while it holds
    /// the same version (seq): a newer copy inserted meanwhile stays.
    pub(super) async fn replace_version(&self, path: Arc<str>, page: Arc<CachedPage>) {
        use moka::ops::compute::{CompResult, Op};
        let seq = page.seq();
        let replacement = page.clone();
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
        self.cache.invalidate(path).await;
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
