//! Warming: loading many pages into the cache ahead of their readers, in
//! batched store queries (one per [`BATCH`] paths, never one per page), and
//! pinning the pre-warmed ones against eviction.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;

use super::{CachedPage, PageCache};
use crate::store::StoreResult;

/// Paths per `pages` query: a match page with its encodings is ~60 KB, so a
/// batch stays within tens of megabytes of rows.
pub const BATCH: usize = 250;

/// What one warm-up did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct WarmReport {
    /// Distinct paths asked for.
    pub paths: usize,
    /// Already in memory: nothing read.
    pub cached: usize,
    /// Read from the store and cached now.
    pub loaded: usize,
    /// Not a published page in the store (or changed while being read; its
    /// first reader fetches it).
    pub skipped: usize,
    /// Bytes of the loaded pages (every encoding).
    pub bytes: u64,
    /// Store queries made.
    pub queries: usize,
}

impl WarmReport {
    fn add(&mut self, other: WarmReport) {
        self.paths += other.paths;
        self.cached += other.cached;
        self.loaded += other.loaded;
        self.skipped += other.skipped;
        self.bytes += other.bytes;
        self.queries += other.queries;
    }
}

impl PageCache {
    /// Loads every path of `paths` that is not cached, in batches, and
    /// caches it unless a write or an event touched the path meanwhile (the
    /// copy read could then be older than what this node knows of).
    pub async fn warm(&self, paths: &[String]) -> StoreResult<WarmReport> {
        self.warm_collect(paths, None).await
    }

    /// Warms `paths` and makes them exactly the pinned set: kept in memory
    /// whatever moka evicts, until the next call leaves them out.
    pub async fn warm_and_pin(&self, paths: &[String]) -> StoreResult<WarmReport> {
        let mut pinned = HashMap::new();
        let report = self.warm_collect(paths, Some(&mut pinned)).await?;
        self.pages.replace_pins(pinned);
        Ok(report)
    }

    /// Paths pinned now.
    pub fn pinned_paths(&self) -> Vec<Arc<str>> {
        self.pages.pinned_paths()
    }

    pub fn pinned_count(&self) -> usize {
        self.pages.pinned_count()
    }

    async fn warm_collect(
        &self,
        paths: &[String],
        mut pins: Option<&mut HashMap<Arc<str>, Arc<CachedPage>>>,
    ) -> StoreResult<WarmReport> {
        let mut seen = HashSet::new();
        let mut report = WarmReport::default();
        let mut missing = Vec::new();
        for path in paths {
            if !seen.insert(path.as_str()) {
                continue;
            }
            report.paths += 1;
            match self.pages.get(path).await {
                Some(page) => {
                    report.cached += 1;
                    if let Some(pins) = pins.as_deref_mut() {
                        pins.insert(Arc::from(path.as_str()), page);
                    }
                }
                None => missing.push(path.clone()),
            }
        }
        for batch in missing.chunks(BATCH) {
            let part = self.load_batch(batch, pins.as_deref_mut()).await?;
            report.add(part);
        }
        self.refresh_gauges().await;
        Ok(report)
    }

    async fn load_batch(
        &self,
        batch: &[String],
        mut pins: Option<&mut HashMap<Arc<str>, Arc<CachedPage>>>,
    ) -> StoreResult<WarmReport> {
        let stamps: HashMap<&str, _> = batch
            .iter()
            .map(|p| (p.as_str(), self.index.stamp(p)))
            .collect();
        let pages = self.store.pages(batch).await?;
        let mut report = WarmReport {
            queries: 1,
            skipped: batch.len(),
            ..WarmReport::default()
        };
        for page in pages {
            if page.status != 200 {
                continue;
            }
            let path: Arc<str> = self
                .index
                .key(&page.path)
                .unwrap_or_else(|| Arc::from(page.path.as_str()));
            // An event or write since the read bumped the stamp (or indexed
            // a path the snapshot had not): the copy may be outdated.
            let before = stamps.get(&*path).copied().flatten();
            let now = self.index.stamp(&path);
            if before.is_none() || before != now {
                continue;
            }
            let cached = Arc::new(CachedPage::from_page(page));
            if let Some(current) = self.pages.get(&path).await
                && current.seq() >= cached.seq()
            {
                continue;
            }
            report.skipped -= 1;
            report.loaded += 1;
            report.bytes += u64::from(cached.weight());
            if let Some(pins) = pins.as_deref_mut() {
                pins.insert(path.clone(), cached.clone());
            }
            self.pages.insert(path, cached).await;
        }
        Ok(report)
    }
}
