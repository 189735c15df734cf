//! `PathIndex`: every published path, in memory, so a request for an unknown
//! path is a 404 without a query. Each path carries a stamp that changes
//! whenever a write touches it; a miss compares stamps before and after its
//! fetch to learn whether a write raced it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// A change counter for one path, unique across the index's lifetime.
pub type Stamp = u64;

/// Read on every cache miss and every unknown path, written only by writes
/// and boot. A std `RwLock` suits that: nothing awaits while holding it and
/// every critical section is one hash-map operation.
#[derive(Debug, Default)]
pub struct PathIndex {
    paths: RwLock<HashMap<Box<str>, Stamp>>,
    next: AtomicU64,
}

impl PathIndex {
    pub fn new() -> PathIndex {
        PathIndex::default()
    }

    /// The path's current stamp, `None` if it is not published.
    pub fn stamp(&self, path: &str) -> Option<Stamp> {
        self.read().get(path).copied()
    }

    pub fn contains(&self, path: &str) -> bool {
        self.read().contains_key(path)
    }

    /// Adds the path (or re-stamps it if present).
    pub fn insert(&self, path: &str) -> Stamp {
        let stamp = self.next_stamp();
        let mut paths = self.write();
        match paths.get_mut(path) {
            Some(current) => *current = stamp,
            None => {
                paths.insert(path.into(), stamp);
            }
        }
        stamp
    }

    pub fn remove(&self, path: &str) -> bool {
        self.write().remove(path).is_some()
    }

    /// Removes the path only if no write touched it since `stamp` was read,
    /// so a fetch that raced a re-publish cannot hide the new page.
    pub fn remove_if_unchanged(&self, path: &str, stamp: Stamp) -> bool {
        let mut paths = self.write();
        if paths.get(path) == Some(&stamp) {
            paths.remove(path);
            true
        } else {
            false
        }
    }

    /// Replaces the whole set (boot, or recovery after missed events).
    pub fn replace_all<I, S>(&self, paths: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<Box<str>>,
    {
        let fresh: HashMap<Box<str>, Stamp> = paths
            .into_iter()
            .map(|p| (p.into(), self.next_stamp()))
            .collect();
        *self.write() = fresh;
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    fn next_stamp(&self) -> Stamp {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    // No code panics while holding the lock, but if something ever did the
    // map would still be consistent (every operation is a single call), so
    // recovering from poison is safe.
    fn read(&self) -> RwLockReadGuard<'_, HashMap<Box<str>, Stamp>> {
        self.paths.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<Box<str>, Stamp>> {
        self.paths.write().unwrap_or_else(PoisonError::into_inner)
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
}
