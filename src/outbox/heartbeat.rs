//! This node's heartbeat: the seq up to which it holds every event's
//! pages ([`PageCache::held_seq`]), written to the store as soon as it
//! moves and every [`BEAT`] otherwise, so senders on any node know when an
//! edge may be purged. A clean stop removes the row; a crash leaves it to
//! expire after [`TTL`].

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::cache::PageCache;
use crate::metrics::Metrics;
use crate::store::Store;

/// Longest time between two heartbeats of a running node.
pub const BEAT: Duration = Duration::from_secs(2);
/// How long a heartbeat counts: a node silent for this long is gone.
pub const TTL: Duration = Duration::from_secs(10);
/// Wait before writing again after the store failed.
const RETRY: Duration = Duration::from_secs(1);

pub async fn run(
    store: Arc<dyn Store>,
    cache: Arc<PageCache>,
    metrics: Arc<Metrics>,
    node: String,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut progress = cache.progress();
    let mut written: Option<i64> = None;
    let mut next = Instant::now();
    loop {
        let held = cache.held_seq().await;
        metrics.outbox.held_seq.set(held);
        if written != Some(held) || Instant::now() >= next {
            match store.heartbeat(&node, held, TTL).await {
                Ok(()) => {
                    written = Some(held);
                    next = Instant::now() + BEAT;
                }
                Err(e) => {
                    tracing::warn!(error = %e, node, "writing the heartbeat failed; retrying");
                    next = Instant::now() + RETRY;
                }
            }
        }
        tokio::select! {
            changed = progress.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            () = tokio::time::sleep_until(next) => {}
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
        }
    }
    // Leaving: senders stop waiting for this node at once.
    if let Err(e) = store.heartbeat(&node, 0, Duration::ZERO).await {
        tracing::debug!(error = %e, node, "removing the heartbeat failed; it expires");
    }
}
