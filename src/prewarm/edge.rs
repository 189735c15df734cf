//! Warm-up requests through the CDN (`--edge-url`): each pre-warmed page is
//! requested once per encoding the edge stores separately (brotli and
//! gzip), so the edge holds it before kick-off. Each page version is sent
//! once; a new version (a score update) is sent again on the next round.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use url::Url;

use crate::cache::PageCache;

/// Requests in flight at once: enough to warm hundreds of pages in seconds
/// without looking like an attack to the edge.
const CONCURRENCY: usize = 8;
const TIMEOUT: Duration = Duration::from_secs(10);
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
    /// Path -> seq of the version last warmed at the edge.
    sent: Mutex<HashMap<String, i64>>,
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
    /// (all of them when `all`); pages not cached here are left for the
    /// next round.
    pub async fn warm(&self, cache: &PageCache, paths: &[String], all: bool) -> EdgeReport {
        let mut due = Vec::new();
        for path in paths {
            let Some(page) = cache.cached(path).await else {
                continue;
            };
            let sent = self.sent().get(path).copied();
            if all || sent != Some(page.seq()) {
                due.push((path.clone(), page.seq()));
            }
        }
        let mut report = EdgeReport {
            url: self.base.to_string(),
            pages: due.len(),
            ..EdgeReport::default()
        };
        let permits = Arc::new(Semaphore::new(CONCURRENCY));
        let mut requests = JoinSet::new();
        for (path, _) in &due {
            for enc in ENCODINGS {
                let (client, base, path) = (self.client.clone(), self.base.clone(), path.clone());
                let permits = permits.clone();
                requests.spawn(async move {
                    let _permit = permits.acquire_owned().await;
                    let result = get(&client, &base, &path, enc).await;
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
        let wanted: HashSet<&str> = paths.iter().map(String::as_str).collect();
        sent.retain(|path, _| wanted.contains(path.as_str()));
        for (path, seq) in due {
            if !failed_paths.contains(&path) {
                sent.insert(path, seq);
            }
        }
        if report.failed > 0 {
            tracing::warn!(failed = report.failed, first = ?report.errors.first(), "edge warm-up requests failed");
        }
        report
    }

    fn sent(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        self.sent.lock().unwrap_or_else(PoisonError::into_inner)
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
