//! The event follower: every node applies the store's event log, in seq
//! order, to its page cache and remembers the last seq it applied. It wakes
//! on a commit made on this node ([`CommitSignal`]), on a PostgreSQL
//! notification ([`listen`]), and on a periodic poll that catches up on
//! anything a lost notification missed. The log is gap-free, so reading
//! `seq > last` after any wake-up never skips an event.

mod listen;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use prometheus::{Histogram, IntCounter, IntGauge};
use tokio::sync::{Notify, watch};

use crate::cache::{LocalWrite, PageCache};
use crate::metrics::Metrics;
use crate::model::PageWrite;
use crate::publish::PageSink;
use crate::store::{Event, Store, StoreError};

/// Events read per query while catching up.
const BATCH: u32 = 500;
/// At most one warning per this interval while the store fails.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Wakes the follower. Wake-ups that arrive while it is busy are merged into
/// one (a `Notify` keeps a single permit), which is enough: one read catches
/// up on every event committed so far.
#[derive(Clone, Default)]
pub struct Wakeup(Arc<Notify>);

impl Wakeup {
    pub fn new() -> Wakeup {
        Wakeup::default()
    }

    pub fn wake(&self) {
        self.0.notify_one();
    }

    async fn woken(&self) {
        self.0.notified().await;
    }
}

/// The page sink of the publishing node: applies its own pages to the cache
/// at once, then wakes the follower so the event is recorded as applied
/// (and, on SQLite, where there is no NOTIFY, this is the only wake-up
/// besides the poll).
pub struct CommitSignal {
    cache: Arc<PageCache>,
    wakeup: Wakeup,
}

impl CommitSignal {
    pub fn new(cache: Arc<PageCache>, wakeup: Wakeup) -> CommitSignal {
        CommitSignal { cache, wakeup }
    }
}

#[async_trait::async_trait]
impl PageSink for CommitSignal {
    fn begin(&self, paths: &[&str]) -> Option<LocalWrite> {
        Some(self.cache.begin_local(paths))
    }

    async fn apply(&self, pages: &[PageWrite]) {
        self.cache.apply(pages).await;
        self.wakeup.wake();
    }

    async fn refined(&self, page: crate::model::Page) {
        self.cache.refine(page).await;
    }
}

/// The kind of event a site settings save appends.
pub const SETTINGS_EVENT: &str = "settings";

/// Applies the log to one node's cache.
pub struct Follower {
    store: Arc<dyn Store>,
    cache: Arc<PageCache>,
    last: i64,
    applied: IntCounter,
    seq: IntGauge,
    lag: Histogram,
    warned_at: Option<Instant>,
    /// Told of every `settings` event, to reload the site's settings.
    settings: Option<tokio::sync::mpsc::UnboundedSender<i64>>,
}

impl Follower {
    /// A follower that considers every event up to `after` applied (the
    /// cache index was loaded from the store after that seq was read).
    pub fn new(
        store: Arc<dyn Store>,
        cache: Arc<PageCache>,
        metrics: &Metrics,
        after: i64,
    ) -> Follower {
        metrics.event_seq.set(after);
        cache.note_applied(after);
        Follower {
            store,
            cache,
            last: after,
            applied: metrics.events_applied.clone(),
            seq: metrics.event_seq.clone(),
            lag: metrics.invalidation_lag.clone(),
            warned_at: None,
            settings: None,
        }
    }

    /// Sends the seq of each `settings` event to `tx`.
    pub fn with_settings_listener(mut self, tx: tokio::sync::mpsc::UnboundedSender<i64>) -> Self {
        self.settings = Some(tx);
        self
    }

    /// The seq of the last event applied.
    pub fn last_seq(&self) -> i64 {
        self.last
    }

    /// Applies every event committed after the last one applied, in
    /// batches. A store error stops the round; the next wake-up or poll
    /// resumes from the same seq, so nothing is skipped.
    pub async fn catch_up(&mut self) -> Result<usize, StoreError> {
        // Taken before the read: everything committed before this instant
        // is in what the read returns.
        let started = Instant::now();
        let mut total = 0;
        loop {
            let events = self.store.events_since(self.last, BATCH).await?;
            let full = events.len() >= BATCH as usize;
            for event in &events {
                self.apply(event).await;
            }
            total += events.len();
            if !full {
                self.cache.log_verified(started);
                return Ok(total);
            }
        }
    }

    async fn apply(&mut self, event: &Event) {
        if event.kind == SETTINGS_EVENT
            && let Some(tx) = &self.settings
        {
            let _ = tx.send(event.seq);
        }
        self.cache.apply_event(event.seq, &event.paths).await;
        self.last = event.seq;
        self.applied.inc();
        self.seq.set(event.seq);
        let lag = (Utc::now() - event.created_at).to_std().unwrap_or_default();
        self.lag.observe(lag.as_secs_f64());
    }

    async fn round(&mut self) {
        match self.catch_up().await {
            Ok(_) => self.warned_at = None,
            Err(e) => {
                let due = self.warned_at.is_none_or(|at| at.elapsed() >= WARN_EVERY);
                if due {
                    self.warned_at = Some(Instant::now());
                    tracing::warn!(error = %e, after = self.last, "reading the event log failed; retrying");
                }
            }
        }
    }
}

/// Where the follower's wake-ups come from besides local commits and the poll.
#[derive(Debug, Clone)]
pub enum Source {
    /// SQLite: one process, so local commits are the only writes.
    Local,
    /// PostgreSQL: LISTEN on a dedicated connection to this URL.
    Postgres(String),
}

/// Background task: follows the log until `shutdown`. On PostgreSQL it runs
/// the LISTEN connection as a sub-task and waits for it on the way out.
pub async fn run(
    mut follower: Follower,
    source: Source,
    wakeup: Wakeup,
    poll: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let listener = match source {
        Source::Local => None,
        Source::Postgres(url) => Some(tokio::spawn(listen::run(
            url,
            wakeup.clone(),
            shutdown.clone(),
        ))),
    };
    // The first round runs at once below; the first poll one period later.
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + poll, poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        follower.round().await;
        tokio::select! {
            _ = wakeup.woken() => {}
            _ = tick.tick() => {}
            changed = shutdown.changed() => {
                // The sender is gone: the server is being torn down.
                if changed.is_err() {
                    break;
                }
            }
        }
        if *shutdown.borrow() {
            break;
        }
    }
    if let Some(listener) = listener
        && let Err(e) = listener.await
    {
        tracing::warn!(error = %e, "event listener ended abnormally");
    }
}

#[cfg(test)]
mod tests;
