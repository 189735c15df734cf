//! Page writes this node is committing. Their event can reach the follower
//! (through NOTIFY) before the publisher has put the new pages in the cache;
//! without this, the follower would find the old copies, mark them stale and
//! read every path back from the store, a wasted query per page per publish
//! on the writing node. Events for a path being written here are recorded
//! instead, and acted on when the write ends: nothing if it committed that
//! event's version or a newer one, a refresh otherwise (another node's newer
//! write, or a local write that failed).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::refresh::Refresher;

#[derive(Default)]
pub(super) struct LocalWrites {
    pending: Mutex<HashMap<Arc<str>, Pending>>,
}

struct Pending {
    writers: u32,
    /// The highest event seq seen for the path meanwhile (0: none).
    event_seq: i64,
}

impl LocalWrites {
    fn begin(&self, paths: &[Arc<str>]) {
        let mut pending = self.pending();
        for path in paths {
            pending
                .entry(path.clone())
                .or_insert(Pending {
                    writers: 0,
                    event_seq: 0,
                })
                .writers += 1;
        }
    }

    /// Records an event for `path` if a local write holds it; false when
    /// none does and the event must be applied now.
    pub(super) fn note_event(&self, path: &str, seq: i64) -> bool {
        match self.pending().get_mut(path) {
            Some(p) => {
                p.event_seq = p.event_seq.max(seq);
                true
            }
            None => false,
        }
    }

    /// Ends one write of `paths`; returns the paths whose recorded events
    /// are newer than what the write committed (`applied`), with that seq.
    fn end(&self, paths: &[Arc<str>], applied: Option<i64>) -> Vec<(Arc<str>, i64)> {
        let mut pending = self.pending();
        let mut due = Vec::new();
        for path in paths {
            let Some(p) = pending.get_mut(path) else {
                continue;
            };
            p.writers -= 1;
            if p.writers > 0 {
                continue;
            }
            let seen = p.event_seq;
            pending.remove(path);
            if seen > applied.unwrap_or(0) {
                due.push((path.clone(), seen));
            }
        }
        due
    }

    fn pending(&self) -> MutexGuard<'_, HashMap<Arc<str>, Pending>> {
        // Each critical section leaves the map consistent.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One local write in progress; ends when dropped.
pub struct LocalWrite {
    writes: Arc<LocalWrites>,
    refresher: Refresher,
    paths: Vec<Arc<str>>,
    applied: Option<i64>,
}

impl LocalWrite {
    pub(super) fn new(
        writes: Arc<LocalWrites>,
        refresher: Refresher,
        paths: Vec<Arc<str>>,
    ) -> LocalWrite {
        writes.begin(&paths);
        LocalWrite {
            writes,
            refresher,
            paths,
            applied: None,
        }
    }

    /// The write committed at `seq` and its pages are in the cache.
    pub fn committed(&mut self, seq: Option<i64>) {
        self.applied = seq;
    }
}

impl Drop for LocalWrite {
    fn drop(&mut self) {
        for (path, seq) in self.writes.end(&self.paths, self.applied) {
            self.refresher.start(&path, seq);
        }
    }
}
