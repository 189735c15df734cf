//! `PathIndex`: every published path, in memory, so a request for an unknown
//! path is a 404 without a query or a cache read. Each path carries a stamp
//! that changes whenever a write touches it; a miss compares stamps before
//! and after its fetch to learn whether a write raced it.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::pages::Hasher;

/// A change counter for one path, unique across the index's lifetime.
pub type Stamp = u64;

/// Read by every lookup the hit path does not answer (misses, stale copies,
/// unknown paths), written only by writes and boot. A papaya map, read under
/// an epoch guard: a reader writes only per-thread state, so the 404s of an
/// unknown-path flood, answered from this map alone, scale with the cores
/// like hits do (a lock's reader count would be one cache line every worker
/// writes on every request).
#[derive(Debug, Default)]
pub struct PathIndex {
    /// Keyed by the same `Arc<str>` the cached copy is filed under (moka
    /// and the read index), so a cached page's path is allocated once.
    paths: papaya::HashMap<Arc<str>, Stamp, Hasher>,
    next: AtomicU64,
}

impl PathIndex {
    pub fn new() -> PathIndex {
        PathIndex::default()
    }

    /// The path's current stamp, `None` if it is not published.
    pub fn stamp(&self, path: &str) -> Option<Stamp> {
        self.paths.pin().get(path).copied()
    }

    /// The index's own `Arc` of the path, for filing a copy under the same
    /// allocation.
    pub fn key(&self, path: &str) -> Option<Arc<str>> {
        self.paths
            .pin()
            .get_key_value(path)
            .map(|(key, _)| key.clone())
    }

    pub fn contains(&self, path: &str) -> bool {
        self.paths.pin().contains_key(path)
    }

    /// Adds the path (or re-stamps it if present).
    pub fn insert(&self, path: impl Into<Arc<str>>) -> Stamp {
        let stamp = self.next_stamp();
        self.paths.pin().insert(path.into(), stamp);
        stamp
    }

    pub fn remove(&self, path: &str) -> bool {
        self.paths.pin().remove(path).is_some()
    }

    /// Removes the path only if no write touched it since `stamp` was read,
    /// so a fetch that raced a re-publish cannot hide the new page. papaya
    /// compares and removes in one step (a re-stamp in between fails it).
    pub fn remove_if_unchanged(&self, path: &str, stamp: Stamp) -> bool {
        matches!(
            self.paths
                .pin()
                .remove_if(path, |_, current| *current == stamp),
            Ok(Some(_))
        )
    }

    /// Replaces the whole set (boot, or recovery after missed events).
    ///
    /// Not one atomic swap, but readers cannot tell the difference that
    /// matters: every listed path is (re-)stamped first, and only then are
    /// the others dropped, so a path listed is never missing in between (a
    /// reader seeing it absent would answer 404 for a published page). A
    /// reader may meanwhile see a newly listed path already, or an unlisted
    /// one still: what it would see just after or just before a swap. The
    /// drop spares entries stamped since this call began, so a write
    /// applied meanwhile is not undone (a swap could undo it).
    pub fn replace_all<I, S>(&self, paths: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<Arc<str>>,
    {
        let listed: HashSet<Arc<str>> = paths.into_iter().map(Into::into).collect();
        let since = self.next_stamp();
        let map = self.paths.pin();
        for path in &listed {
            map.insert(path.clone(), self.next_stamp());
        }
        // Listed paths are spared by name too: a concurrent write may have
        // re-stamped one with a stamp it drew before `since`. The predicate
        // is asked again if the entry changes before its removal.
        map.retain(|path, stamp| *stamp >= since || listed.contains(path));
    }

    pub fn len(&self) -> usize {
        self.paths.len()
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    fn next_stamp(&self) -> Stamp {
        self.next.fetch_add(1, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_restamps_and_remove_if_unchanged_respects_new_stamps() {
        let index = PathIndex::new();
        assert_eq!(index.stamp("/a"), None);
        let first = index.insert("/a");
        assert_eq!(index.stamp("/a"), Some(first));
        let second = index.insert("/a");
        assert_ne!(first, second);
        assert_eq!(index.len(), 1);

        assert!(!index.remove_if_unchanged("/a", first));
        assert!(index.contains("/a"));
        assert!(index.remove_if_unchanged("/a", second));
        assert!(!index.contains("/a"));
        assert!(index.is_empty());
    }

    #[test]
    fn replace_all_drops_paths_not_listed() {
        let index = PathIndex::new();
        index.insert("/old");
        index.replace_all(["/", "/matches/a"]);
        assert!(!index.contains("/old"));
        assert!(index.contains("/") && index.contains("/matches/a"));
        assert_eq!(index.len(), 2);
        assert!(index.remove("/"));
        assert!(!index.remove("/"));
    }

    #[test]
    fn replace_all_restamps_listed_paths_and_keeps_them_present() {
        let index = PathIndex::new();
        let before = index.insert("/kept");
        index.insert("/dropped");
        index.replace_all(["/kept", "/kept", "/new"]);
        let after = index.stamp("/kept").expect("listed");
        // A fetch that read `before` must see that the set was reloaded.
        assert_ne!(before, after);
        assert!(!index.remove_if_unchanged("/kept", before));
        assert!(index.contains("/new") && !index.contains("/dropped"));
        assert_eq!(index.len(), 2);
    }
}
