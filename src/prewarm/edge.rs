//! Warm-up requests through the CDN (`--edge-url`): each pre-warmed page is
//! requested once per encoding the edge stores separately (brotli and
//! gzip), so the edge holds it before kick-off. A page is sent again when
//! its version changed (a score update, right after the edge was purged of
//! it) or when the edge's copy has lived its edge max-age, so the edge
//! holds it for the whole window. Nothing is sent while the edge does not
//! see keel ready (its `/readyz` through the edge): every request would
//! only fetch a 503. A failed request is retried, then left to the next
//! round.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use url::Url;

use crate::cache::PageCache;

/// Requests in flight at once: enough to warm hundreds of pages in seconds
/// without looking like an attack to the edge.
const CONCURRENCY: usize = 8;
const TIMEOUT: Duration = Duration::from_secs(10);
/// Tries per request, the waits between them.
const RETRIES: [Duration; 2] = [Duration::from_millis(250), Duration::from_secs(1)];
const ENCODINGS: [&str; 2] = ["br", "gzip"];
/// Error messages kept in a report.
const ERRORS_KEPT: usize = 5;

/// What one round sent to the edge.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct EdgeReport {
    pub url: String,
    /// Pages requested (each once per encoding).
    pub pages: usize,
    pub requests: usize,
    /// Answered with a 2xx.
    pub ok: usize,
    pub failed: usize,
    /// The first few failures, as `path (encoding): reason`.
    pub errors: Vec<String>,
}

pub struct EdgeWarmer {
    base: Url,
    client: reqwest::Client,
    /// Path -> seq of the version last warmed at the edge, and when.
    sent: Mutex<HashMap<String, (i64, Instant)>>,
}

impl EdgeWarmer {
    /// `base` is the edge's origin, e.g. `https://www.example.com`.
    pub fn new(base: Url) -> anyhow::Result<EdgeWarmer> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .user_agent(concat!("keel-prewarm/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(EdgeWarmer {
            base,
            client,
            sent: Mutex::new(HashMap::new()),
        })
    }

    /// Requests the pages of `paths` whose cached version was not sent yet
    /// or whose edge copy has expired (all of them when `all`); pages not
    /// cached here are left for the next round.
    pub async fn warm(&self, cache: &PageCache, paths: &[String], all: bool) -> EdgeReport {
        self.send(cache, paths, all, true).await
    }

    /// [`EdgeWarmer::warm`] for some of the pre-warmed pages (those a
    /// purge just reached), keeping what was sent of the others.
    pub async fn rewarm(&self, cache: &PageCache, paths: &[String]) -> EdgeReport {
        self.send(cache, paths, false, false).await
    }

    async fn send(
        &self,
        cache: &PageCache,
        paths: &[String],
        all: bool,
        whole_window: bool,
    ) -> EdgeReport {
        let mut due = Vec::new();
        for path in paths {
            let Some(page) = cache.cached(path).await else {
                continue;
            };
            let sent = self.sent().get(path).copied();
            let current = sent
                .is_some_and(|(seq, at)| seq == page.seq() && at.elapsed() < page.edge_max_age());
            if all || !current {
                due.push((path.clone(), page.seq()));
            }
        }
        let mut report = EdgeReport {
            url: self.base.to_string(),
            pages: due.len(),
            ..EdgeReport::default()
        };
        if due.is_empty() {
            return report;
        }
        if let Err(reason) = self.edge_ready().await {
            report.failed = due.len();
            report.errors.push(reason);
            tracing::info!(error = %report.errors[0], "edge warm-up postponed");
            return report;
        }
        let permits = Arc::new(Semaphore::new(CONCURRENCY));
        let mut requests = JoinSet::new();
        for (path, _) in &due {
            for enc in ENCODINGS {
                let (client, base, path) = (self.client.clone(), self.base.clone(), path.clone());
                let permits = permits.clone();
                requests.spawn(async move {
                    let _permit = permits.acquire_owned().await;
                    let mut result = get(&client, &base, &path, enc).await;
                    for wait in RETRIES {
                        if result.is_ok() {
                            break;
                        }
                        tokio::time::sleep(wait).await;
                        result = get(&client, &base, &path, enc).await;
                    }
                    (path, enc, result)
                });
            }
        }
        let mut failed_paths = HashSet::new();
        while let Some(joined) = requests.join_next().await {
            report.requests += 1;
            let (path, enc, result) = match joined {
                Ok(done) => done,
                Err(e) => (String::new(), "", Err(format!("request task failed: {e}"))),
            };
            match result {
                Ok(()) => report.ok += 1,
                Err(reason) => {
                    report.failed += 1;
                    failed_paths.insert(path.clone());
                    if report.errors.len() < ERRORS_KEPT {
                        report.errors.push(format!("{path} ({enc}): {reason}"));
                    }
                }
            }
        }
        let mut sent = self.sent();
        // Forget pages no longer pre-warmed, so a later window sends again.
        if whole_window {
            let wanted: HashSet<&str> = paths.iter().map(String::as_str).collect();
            sent.retain(|path, _| wanted.contains(path.as_str()));
        }
        let now = Instant::now();
        for (path, seq) in due {
            if !failed_paths.contains(&path) {
                sent.insert(path, (seq, now));
            }
        }
        if report.failed > 0 {
            tracing::warn!(failed = report.failed, first = ?report.errors.first(), "edge warm-up requests failed");
        }
        report
    }

    fn sent(&self) -> std::sync::MutexGuard<'_, HashMap<String, (i64, Instant)>> {
        self.sent.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the edge reaches a ready keel: `/readyz` through it (a
    /// health-checked edge answers 503 until its probes pass).
    async fn edge_ready(&self) -> Result<(), String> {
        let url = self.base.join("/readyz").map_err(|e| e.to_string())?;
        let response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| format!("the edge cannot be reached: {e}"))?;
        match response.status() {
            status if status.is_success() => Ok(()),
            status => Err(format!(
                "the edge does not see keel ready yet (/readyz: {status})"
            )),
        }
    }
}

async fn get(
    client: &reqwest::Client,
    base: &Url,
    path: &str,
    encoding: &str,
) -> Result<(), String> {
    let url = base.join(path).map_err(|e| e.to_string())?;
    let response = client
        .get(url)
        .header(reqwest::header::ACCEPT_ENCODING, encoding)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    // Read the body: some edges only store a response fully sent.
    response.bytes().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("status {status}"))
    }
}
