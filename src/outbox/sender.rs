//! One destination's sender, run on every node; the node holding the
//! destination's lease sends, the others stand by and take over when the
//! lease runs out. A round: renew the lease, read the events after the
//! cursor, wait (bounded) until every live node holds them, deliver, log
//! the attempt, and on acknowledgement move the cursor from where it was
//! read (a node that lost the lease meanwhile moves nothing). Failures are
//! retried with exponential backoff and jitter; nothing is skipped.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use rand::Rng;
use tokio::sync::watch;
use tokio::time::Instant;

use super::{Delivered, Destination, Failed};
use crate::metrics::Metrics;
use crate::store::{Delivery, Event, Store, StoreError};

/// How long a lease lasts without renewal: a dead sender's destination is
/// taken over within this.
const LEASE: Duration = Duration::from_secs(15);
/// Events read per round; one delivery carries at most these.
const BATCH: u32 = 200;
/// Idle poll: the log is re-read this often without a local wake-up
/// (events committed on another node).
const IDLE: Duration = Duration::from_millis(500);
/// How often the nodes' heartbeats are read while waiting for them.
const HOLD_POLL: Duration = Duration::from_millis(20);
/// A node not holding the lease retries this often.
const STANDBY: Duration = Duration::from_secs(2);
const BACKOFF_MIN: Duration = Duration::from_millis(250);
/// Below the lease, so a failing holder keeps it while it retries.
const BACKOFF_MAX: Duration = Duration::from_secs(10);

pub struct Sender {
    pub store: Arc<dyn Store>,
    pub destination: Arc<dyn Destination>,
    pub metrics: Arc<Metrics>,
    pub node: String,
    /// Longest wait for every live node to hold a batch.
    pub wait: Duration,
    /// Changes when this node applied events (see `PageCache::progress`).
    pub progress: watch::Receiver<u64>,
    /// Told the paths of every acknowledged delivery (the edge warm-up
    /// sends the pinned ones again).
    pub purged: Option<tokio::sync::mpsc::UnboundedSender<Vec<String>>>,
    /// This node's cache: how far it has followed the log tells an idle
    /// sender there is nothing new without asking the store.
    pub cache: Arc<crate::cache::PageCache>,
    /// The lease while this node holds it: the cursor (only the holder
    /// moves it) and when it was last renewed.
    pub(super) held: Option<(i64, Instant)>,
}

/// What a round ended with.
enum Round {
    /// Nothing to send: wait for a wake-up.
    Idle,
    /// Another node holds the lease.
    Standby,
    /// Sent (or lost the lease mid-way): go again at once.
    Again,
    Stopped,
}

pub async fn run(mut sender: Sender, mut shutdown: watch::Receiver<bool>) {
    let name = sender.destination.name().to_owned();
    sender.metrics.outbox.register_destination(&name);
    loop {
        let round = match sender.round(&mut shutdown).await {
            Ok(round) => round,
            Err(e) => {
                tracing::warn!(destination = name, error = %e, "outbox round failed; retrying");
                Round::Standby
            }
        };
        let pause = match round {
            Round::Stopped => break,
            Round::Again => continue,
            Round::Idle => IDLE,
            Round::Standby => STANDBY,
        };
        tokio::select! {
            changed = sender.progress.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            () = tokio::time::sleep(pause) => {}
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
        }
    }
    // Hand the lease over at once instead of after it runs out.
    let _ = sender
        .store
        .lease_destination(&name, &sender.node, Duration::ZERO, 0)
        .await;
    sender
        .metrics
        .outbox
        .sending
        .with_label_values(&[&name])
        .set(0);
}

impl Sender {
    fn name(&self) -> &str {
        self.destination.name()
    }

    async fn round(&mut self, shutdown: &mut watch::Receiver<bool>) -> Result<Round, StoreError> {
        let last = self.cache.applied_seq();
        // Renewed a third of the way through: an idle holder costs the
        // store one write every few seconds.
        let cursor = match self.held {
            Some((cursor, renewed)) if renewed.elapsed() < LEASE / 3 => cursor,
            _ => match self.lease(last).await? {
                Some(cursor) => cursor,
                None => return Ok(Round::Standby),
            },
        };
        self.metrics
            .outbox
            .backlog
            .with_label_values(&[self.name()])
            .set(last - cursor);
        if cursor >= last {
            return Ok(Round::Idle);
        }
        let events = self.store.events_since(cursor, BATCH).await?;
        if events.is_empty() {
            return Ok(Round::Idle);
        }
        let Some(batch) = self.held(&events, shutdown).await? else {
            return Ok(Round::Stopped);
        };
        let batch = &events[..batch.min(self.destination.batch_limit())];
        if !self.deliver(batch, shutdown).await? {
            return Ok(Round::Stopped);
        }
        let to = batch.last().map_or(cursor, |e| e.seq);
        if self
            .store
            .advance_cursor(self.name(), &self.node, cursor, to)
            .await?
        {
            if let Some(held) = &mut self.held {
                held.0 = to;
            }
            let now = Utc::now();
            let lag = self.metrics.outbox.lag.with_label_values(&[self.name()]);
            for event in batch {
                lag.observe(
                    (now - event.created_at)
                        .to_std()
                        .unwrap_or_default()
                        .as_secs_f64(),
                );
            }
            self.metrics
                .outbox
                .backlog
                .with_label_values(&[self.name()])
                .set((last - to).max(0));
            if let Some(purged) = &self.purged {
                let paths = batch.iter().flat_map(|e| e.paths.iter().cloned()).collect();
                let _ = purged.send(paths);
            }
        } else {
            // Another node took the lease during the delivery and will
            // send these again: bounded duplication, never a loss.
            self.held = None;
            tracing::info!(destination = self.name(), "lease lost during a delivery");
        }
        Ok(Round::Again)
    }

    /// Takes or renews the lease; the cursor when this node holds it.
    async fn lease(&mut self, last: i64) -> Result<Option<i64>, StoreError> {
        let cursor = self
            .store
            .lease_destination(self.name(), &self.node, LEASE, last)
            .await?;
        self.held = cursor.map(|c| (c, Instant::now()));
        self.metrics
            .outbox
            .sending
            .with_label_values(&[self.name()])
            .set(i64::from(cursor.is_some()));
        Ok(cursor)
    }

    /// How many of `events` every live node holds, waiting for at least
    /// the first (polling the heartbeats) up to `self.wait`; past it, all
    /// of them, counted as forced. `None` on shutdown.
    async fn held(
        &self,
        events: &[Event],
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Option<usize>, StoreError> {
        let deadline = Instant::now() + self.wait;
        loop {
            let nodes = self.store.live_nodes().await?;
            self.metrics
                .outbox
                .nodes_live
                .set(i64::try_from(nodes.len()).unwrap_or(i64::MAX));
            let held = nodes.iter().map(|n| n.held_seq).min().unwrap_or(i64::MAX);
            let count = events.iter().take_while(|e| e.seq <= held).count();
            if count > 0 {
                return Ok(Some(count));
            }
            if Instant::now() >= deadline {
                let lagging: Vec<&str> = nodes
                    .iter()
                    .filter(|n| n.held_seq < events[0].seq)
                    .map(|n| n.node.as_str())
                    .collect();
                tracing::warn!(
                    destination = self.name(),
                    seq = events[0].seq,
                    ?lagging,
                    "nodes did not hold the change in time; sending anyway"
                );
                self.metrics
                    .outbox
                    .forced
                    .with_label_values(&[self.name()])
                    .inc();
                return Ok(Some(events.len()));
            }
            tokio::select! {
                () = tokio::time::sleep(HOLD_POLL) => {}
                _ = shutdown.changed() => return Ok(None),
            }
        }
    }

    /// Delivers `batch` until it is acknowledged, logging every attempt;
    /// false on shutdown or when the lease was lost between attempts.
    async fn deliver(
        &mut self,
        batch: &[Event],
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<bool, StoreError> {
        let (first, last) = (batch[0].seq, batch[batch.len() - 1].seq);
        let mut attempt: i32 = 1;
        loop {
            let started = std::time::Instant::now();
            let outcome = self.destination.deliver(batch).await;
            let took = started.elapsed();
            self.record(first, last, attempt, &outcome, took).await;
            let failed = match outcome {
                Ok(_) => return Ok(true),
                Err(failed) => failed,
            };
            let pause = failed
                .retry_after
                .unwrap_or_else(|| backoff(attempt))
                .min(BACKOFF_MAX);
            tracing::warn!(
                destination = self.name(),
                first,
                last,
                attempt,
                detail = failed.detail,
                retry_in = ?pause,
                "delivery failed"
            );
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => return Ok(false),
            }
            let seq = self.cache.applied_seq();
            if self.lease(seq).await? != Some(first - 1) {
                return Ok(false);
            }
            attempt = attempt.saturating_add(1);
        }
    }

    async fn record(
        &self,
        first: i64,
        last: i64,
        attempt: i32,
        outcome: &Result<Delivered, Failed>,
        took: Duration,
    ) {
        let name = self.name();
        let (ok, status, detail) = match outcome {
            Ok(d) => (true, d.status, d.detail.clone()),
            Err(f) => (false, f.status, f.detail.clone()),
        };
        let outbox = &self.metrics.outbox;
        outbox
            .deliveries
            .with_label_values(&[name, if ok { "ok" } else { "failed" }])
            .inc();
        outbox
            .duration
            .with_label_values(&[name])
            .observe(took.as_secs_f64());
        let delivery = Delivery {
            destination: name.to_owned(),
            first_seq: first,
            last_seq: last,
            attempt,
            ok,
            status: status.map(i32::from),
            detail,
            duration_ms: i64::try_from(took.as_millis()).unwrap_or(i64::MAX),
            node: self.node.clone(),
            at: Utc::now(),
        };
        if let Err(e) = self.store.log_delivery(&delivery).await {
            tracing::warn!(destination = name, error = %e, "could not log a delivery");
        }
    }
}

/// Exponential from [`BACKOFF_MIN`], capped at [`BACKOFF_MAX`], with full
/// jitter between half and all of it, so many senders retrying one edge
/// spread out.
fn backoff(attempt: i32) -> Duration {
    let exp = u32::try_from(attempt.saturating_sub(1))
        .unwrap_or(0)
        .min(16);
    let full = BACKOFF_MIN.saturating_mul(1 << exp).min(BACKOFF_MAX);
    full.mul_f64(rand::rng().random_range(0.5..=1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_with_jitter() {
        for _ in 0..100 {
            let first = backoff(1);
            assert!(
                first >= BACKOFF_MIN / 2 && first <= BACKOFF_MIN,
                "{first:?}"
            );
            let late = backoff(40);
            assert!(late >= BACKOFF_MAX / 2 && late <= BACKOFF_MAX, "{late:?}");
        }
        assert!(backoff(3) > BACKOFF_MIN);
    }
}
