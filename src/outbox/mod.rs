//! The outbox: destinations outside keel (edges to purge) follow the event
//! log the way nodes do. Each has a durable cursor in the store, moved only
//! once it acknowledged, and one node at a time sends to it (a lease in the
//! store, taken over when its holder stops renewing it). A delivery for
//! event N leaves once every live node reports holding N's pages
//! ([`heartbeat`]), so an edge purged by it cannot refetch an old page from
//! a lagging node; a node that never catches up delays it by at most
//! `--purge-wait`. Publishes never wait on any of this: a destination that
//! is down only grows its backlog.

mod heartbeat;
mod purge;
mod sender;
mod webhook;

use std::time::Duration;

use async_trait::async_trait;

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use heartbeat::{BEAT, TTL as HEARTBEAT_TTL};
pub use purge::{destination_for, purge_keys};
pub use sender::Sender;
pub use webhook::{SIGNATURE_HEADER, sign};

use crate::cache::PageCache;
use crate::metrics::Metrics;
use crate::store::{Event, Store};

/// How a destination answered a delivery it accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub status: Option<u16>,
    pub detail: String,
}

/// Why a delivery did not go through; it is tried again after a backoff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    /// The HTTP status, when the destination answered.
    pub status: Option<u16>,
    pub detail: String,
    /// The wait the destination asked for (`Retry-After`), if any.
    pub retry_after: Option<Duration>,
}

impl Failed {
    pub fn unreachable(e: &reqwest::Error) -> Failed {
        Failed {
            status: None,
            detail: error_chain(e),
            retry_after: None,
        }
    }
}

/// Somewhere the log's changes are delivered.
#[async_trait]
pub trait Destination: Send + Sync {
    /// Stable and free of secrets: the cursor's key and the metrics label.
    fn name(&self) -> &str;

    /// Delivers what `events` (consecutive, in seq order) ask of it; all of
    /// it or, on error, possibly part (deliveries must be idempotent).
    async fn deliver(&self, events: &[Event]) -> Result<Delivered, Failed>;

    /// Refuses a destination that cannot be reached at start-up.
    async fn check(&self) -> Result<(), String>;

    /// Most events one delivery carries.
    fn batch_limit(&self) -> usize {
        usize::MAX
    }
}

/// Whether `url`'s host accepts a TCP connection within three seconds.
pub(crate) async fn reachable(url: &url::Url) -> Result<(), String> {
    const WITHIN: Duration = Duration::from_secs(3);
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return Err(format!("{url} names no host and port"));
    };
    let connect = tokio::net::TcpStream::connect((host, port));
    match tokio::time::timeout(WITHIN, connect).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("{host}:{port} is unreachable: {e}")),
        Err(_) => Err(format!(
            "{host}:{port} did not accept a connection within {WITHIN:?}"
        )),
    }
}

/// An error with its sources, for a delivery log line: reqwest's own
/// message alone says only "error sending request".
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `{host}:{port}`: unique among nodes (two on one host listen on two
/// ports) and the same across a restart, so a restarted node takes its
/// own heartbeat row back.
pub fn default_node_name(port: u16) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "keel".to_owned());
    format!("{host}:{port}")
}

/// The destinations `purges` and `webhooks` name, each checked reachable:
/// a typo in a host stops the start instead of growing a backlog nobody
/// reads.
pub async fn destinations(
    purges: &[crate::config::EdgePurge],
    webhooks: &[crate::config::Webhook],
) -> anyhow::Result<Vec<Arc<dyn Destination>>> {
    let mut out = Vec::with_capacity(purges.len() + webhooks.len());
    for purge in purges {
        let destination = destination_for(purge)?;
        destination
            .check()
            .await
            .map_err(|e| anyhow::anyhow!("--edge-purge {}: {e}", destination.name()))?;
        out.push(destination);
    }
    for hook in webhooks {
        let destination = webhook::destination(hook)?;
        destination
            .check()
            .await
            .map_err(|e| anyhow::anyhow!("webhook {:?} ({}): {e}", hook.name, hook.url))?;
        out.push(destination);
    }
    Ok(out)
}

/// What the outbox's tasks need on a node.
pub struct Tasks {
    pub store: Arc<dyn Store>,
    pub cache: Arc<PageCache>,
    pub metrics: Arc<Metrics>,
    pub node: String,
    /// Longest wait for every live node to hold a change.
    pub wait: Duration,
    pub destinations: Vec<Arc<dyn Destination>>,
    /// Told the paths each acknowledged purge reached.
    pub purged: Option<tokio::sync::mpsc::UnboundedSender<Vec<String>>>,
}

impl Tasks {
    /// Starts the heartbeat (on every node, so a sender anywhere waits for
    /// this one) and a sender per destination.
    pub fn spawn(self, shutdown: &watch::Receiver<bool>) -> Vec<(&'static str, JoinHandle<()>)> {
        let mut tasks = vec![(
            "heartbeat",
            tokio::spawn(heartbeat::run(
                self.store.clone(),
                self.cache.clone(),
                self.metrics.clone(),
                self.node.clone(),
                shutdown.clone(),
            )),
        )];
        for destination in self.destinations {
            let sender = Sender {
                store: self.store.clone(),
                destination,
                metrics: self.metrics.clone(),
                node: self.node.clone(),
                wait: self.wait,
                progress: self.cache.progress(),
                purged: self.purged.clone(),
                cache: self.cache.clone(),
                held: None,
            };
            tasks.push((
                "outbox-sender",
                tokio::spawn(sender::run(sender, shutdown.clone())),
            ));
        }
        tasks
    }
}
