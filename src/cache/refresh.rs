//! Background refresh of cached pages: at most one store fetch per path at a
//! time on this node, however many readers see the stale copy or however
//! many events name the path meanwhile. Readers keep the old copy until the
//! fetch replaces it; a failed fetch leaves it in place (stale-if-error) and
//! only delays the next attempt.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use super::{CachedPage, ErrorLog, Pages, PathIndex};
use crate::store::Store;

/// Reads of one path before giving up on events that keep naming it; the
/// copy is then left stale, so the next reader starts over.
const ATTEMPTS: usize = 4;

/// Cheap to clone: every field is shared.
#[derive(Clone)]
pub(crate) struct Refresher {
    store: Arc<dyn Store>,
    pages: Pages,
    index: Arc<PathIndex>,
    /// Paths being refreshed, with the lowest page seq the refresh must
    /// reach (raised by events that arrive while it runs).
    inflight: Arc<Mutex<HashMap<Arc<str>, i64>>>,
    errors: Arc<ErrorLog>,
}

impl Refresher {
    pub(super) fn new(
        store: Arc<dyn Store>,
        pages: Pages,
        index: Arc<PathIndex>,
        errors: Arc<ErrorLog>,
    ) -> Refresher {
        Refresher {
            store,
            pages,
            index,
            inflight: Arc::new(Mutex::new(HashMap::new())),
            errors,
        }
    }

    /// Starts a refresh of `path` unless one is running, in which case that
    /// one is told to reach at least `want_seq`. Returns whether it started.
    pub(super) fn start(&self, path: &str, want_seq: i64) -> bool {
        let key: Arc<str> = {
            let mut inflight = self.inflight();
            if let Some(want) = inflight.get_mut(path) {
                *want = (*want).max(want_seq);
                return false;
            }
            let key: Arc<str> = Arc::from(path);
            inflight.insert(key.clone(), want_seq);
            key
        };
        let this = self.clone();
        tokio::spawn(async move { this.run(key).await });
        true
    }

    /// Number of refreshes running (for tests and diagnostics).
    pub(super) fn running(&self) -> usize {
        self.inflight().len()
    }

    async fn run(self, path: Arc<str>) {
        // Removes the in-flight mark however this task ends (even cancelled
        // at shutdown), so the path can be refreshed again.
        let mut guard = Inflight {
            refresher: &self,
            path: &path,
            armed: true,
        };
        for _ in 0..ATTEMPTS {
            let stamp = self.index.stamp(&path);
            match self.store.page(&path).await {
                Ok(Some(page)) if page.status == 200 => {
                    // A write on this node touched the path during the read
                    // (a delete, say): what was read may predate it.
                    if self.index.stamp(&path) != stamp {
                        continue;
                    }
                    let fetched = Arc::new(CachedPage::from_page(page));
                    let reached = fetched.seq();
                    let newer_cached = self
                        .pages
                        .get(&path)
                        .await
                        .is_some_and(|current| current.seq() > reached);
                    if !newer_cached {
                        // Decided under the in-flight lock, so an event that
                        // raises the target after this check is not lost.
                        if !guard.finish_if_reached(reached) {
                            fetched.mark_stale();
                            self.index.insert(&path);
                            self.pages.insert(path.clone(), fetched).await;
                            continue;
                        }
                        self.index.insert(&path);
                        self.pages.insert(path.clone(), fetched).await;
                        return;
                    }
                    if guard.finish_if_reached(reached) {
                        return;
                    }
                }
                Ok(_) => {
                    // Gone from the store (deleted, or no longer a 200). Only
                    // drop it if nothing touched the path since the read: a
                    // re-publish meanwhile must win.
                    let unchanged = match stamp {
                        Some(stamp) => self.index.remove_if_unchanged(&path, stamp),
                        None => true,
                    };
                    if unchanged {
                        self.pages.invalidate(&path).await;
                        guard.finish_if_reached(i64::MAX);
                        return;
                    }
                }
                Err(e) => {
                    // Never evict because the store failed: keep serving the
                    // old copy and let a later reader retry after a backoff.
                    if let Some(current) = self.pages.get(&path).await {
                        current.mark_stale();
                        current.refresh_failed(Instant::now());
                    }
                    self.errors
                        .report(&path, &e, "page refresh failed; serving stale");
                    return;
                }
            }
        }
        if let Some(current) = self.pages.get(&path).await {
            current.mark_stale();
        }
    }

    fn inflight(&self) -> MutexGuard<'_, HashMap<Arc<str>, i64>> {
        // Each critical section is one map operation: a poisoned map is
        // still consistent.
        self.inflight.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct Inflight<'a> {
    refresher: &'a Refresher,
    path: &'a Arc<str>,
    armed: bool,
}

impl Inflight<'_> {
    /// Ends the refresh if `reached` satisfies every event seen so far;
    /// otherwise keeps the mark and asks the caller to read again.
    fn finish_if_reached(&mut self, reached: i64) -> bool {
        let mut inflight = self.refresher.inflight();
        let want = inflight.get(&**self.path).copied().unwrap_or(i64::MIN);
        if reached >= want {
            inflight.remove(&**self.path);
            self.armed = false;
            true
        } else {
            false
        }
    }
}

impl Drop for Inflight<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.refresher.inflight().remove(&**self.path);
        }
    }
}
