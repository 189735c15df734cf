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
    inflight: Arc<Mutex<HashMap<Arc<str>, Want>>>,
    /// Paths whose refresh for an event failed, with the lowest such event:
    /// until a later refresh succeeds, this node does not hold its bytes.
    owed: Arc<Mutex<HashMap<Arc<str>, i64>>>,
    /// Woken when a refresh an event asked for ends.
    progress: tokio::sync::watch::Sender<u64>,
    errors: Arc<ErrorLog>,
}

/// What a running refresh must reach.
#[derive(Debug, Clone, Copy)]
struct Want {
    /// The lowest page seq it must read.
    seq: i64,
    /// The lowest event that asked for it (none: a reader found the copy
    /// past its lifetime): until it ends the node lacks that event's bytes.
    event: Option<i64>,
}

impl Refresher {
    pub(super) fn new(
        store: Arc<dyn Store>,
        pages: Pages,
        index: Arc<PathIndex>,
        errors: Arc<ErrorLog>,
        progress: tokio::sync::watch::Sender<u64>,
    ) -> Refresher {
        Refresher {
            store,
            pages,
            index,
            inflight: Arc::new(Mutex::new(HashMap::new())),
            owed: Arc::new(Mutex::new(HashMap::new())),
            progress,
            errors,
        }
    }

    /// Starts a refresh of `path` unless one is running, in which case that
    /// one is told to reach at least `want_seq`. Returns whether it started.
    pub(super) fn start(&self, path: &str, want_seq: i64) -> bool {
        self.start_for(path, want_seq, None)
    }

    /// [`Refresher::start`] for event `seq`, which changed the page.
    pub(super) fn start_for_event(&self, path: &str, seq: i64) -> bool {
        self.start_for(path, seq, Some(seq))
    }

    fn start_for(&self, path: &str, want_seq: i64, event: Option<i64>) -> bool {
        let earlier = lock(&self.owed).remove(path);
        let event = min_some(event, earlier);
        let key: Arc<str> = {
            let mut inflight = self.inflight();
            if let Some(want) = inflight.get_mut(path) {
                want.seq = want.seq.max(want_seq);
                want.event = min_some(want.event, event);
                return false;
            }
            let key: Arc<str> = Arc::from(path);
            let want = Want {
                seq: want_seq,
                event,
            };
            inflight.insert(key.clone(), want);
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

    /// The lowest event whose bytes a running or failed refresh still
    /// owes, with the failed ones (path, event) to check against the cache.
    pub(super) fn owed(&self) -> (Option<i64>, Vec<(Arc<str>, i64)>) {
        let running = self.inflight().values().filter_map(|w| w.event).min();
        let failed = lock(&self.owed)
            .iter()
            .map(|(path, seq)| (path.clone(), *seq))
            .collect();
        (running, failed)
    }

    /// Forgets a failed refresh's debt: the cache no longer holds the old
    /// copy (evicted, replaced, or removed by a local write).
    pub(super) fn settle(&self, path: &str) {
        lock(&self.owed).remove(path);
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
                            self.cache(&path, fetched).await;
                            continue;
                        }
                        self.cache(&path, fetched).await;
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
                    guard.fail();
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

    /// Indexes and caches a fetched copy. A write of this node that
    /// touches the path in between (a delete, which leaves it out of the
    /// index, or a newer copy) re-stamps it: the copy is then taken back,
    /// so no copy outlives its path's place in the index, and the next
    /// reader asks the store.
    async fn cache(&self, path: &Arc<str>, fetched: Arc<CachedPage>) {
        let stamp = self.index.insert(path.clone());
        self.pages.insert(path.clone(), fetched.clone()).await;
        if self.index.stamp(path) != Some(stamp) {
            self.pages.invalidate_copy(path, &fetched).await;
        }
    }

    fn inflight(&self) -> MutexGuard<'_, HashMap<Arc<str>, Want>> {
        lock(&self.inflight)
    }

    /// Removes the in-flight mark; an event's refresh that did not reach
    /// its page leaves a debt.
    fn end(&self, path: &Arc<str>, reached: bool) {
        let want = self.inflight().remove(&**path);
        self.ended(path, want, reached);
    }

    fn ended(&self, path: &Arc<str>, want: Option<Want>, reached: bool) {
        let Some(event) = want.and_then(|w| w.event) else {
            return;
        };
        if reached {
            self.progress.send_modify(|n| *n += 1);
        } else {
            // No wake-up: the node holds nothing more, and the heartbeat's
            // retry of the debt waits for its next beat, never spins.
            let mut owed = lock(&self.owed);
            let debt = owed.entry(path.clone()).or_insert(event);
            *debt = (*debt).min(event);
        }
    }
}

/// Each critical section is one map operation: a poisoned map is still
/// consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn min_some(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
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
        // Decided and removed under one lock: an event raising the target
        // after the check finds no refresh running and starts its own.
        let ended = {
            let mut inflight = self.refresher.inflight();
            let want = inflight.get(&**self.path).map_or(i64::MIN, |w| w.seq);
            if reached < want {
                return false;
            }
            inflight.remove(&**self.path)
        };
        self.armed = false;
        self.refresher.ended(self.path, ended, true);
        true
    }

    /// Ends the refresh without the page it was asked for.
    fn fail(&mut self) {
        self.armed = false;
        self.refresher.end(self.path, false);
    }
}

impl Drop for Inflight<'_> {
    fn drop(&mut self) {
        if self.armed {
            // Gave up (events kept naming the path) or cancelled.
            self.refresher.end(self.path, false);
        }
    }
}
