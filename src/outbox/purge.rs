//! Purge clients, one interface for every edge: a delivery purges the
//! union of its events' keys (the changed entries' ids and each written
//! path's key), split into requests each edge accepts.
//!
//! - **Varnish** with xkey (`deploy/varnish/keel.vcl`): `PURGE` with the
//!   keys in `xkey-purge`, space-separated, at most 6,000 bytes a request
//!   (Varnish refuses a request header line past 8 KB by default); soft
//!   unless `varnish-hard:`, asked with `xkey-hard: 1`.
//! - **Fastly**: `POST /service/{id}/purge` with `{"surrogate_keys": […]}`,
//!   at most 256 keys a request, `Fastly-Key`, `Fastly-Soft-Purge: 1`.
//! - **Cloudflare**: `POST /zones/{zone}/purge_cache` with `{"tags": […]}`,
//!   at most 100 tags a request, `Authorization: Bearer`; a 429's
//!   `Retry-After` is honoured.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use indexmap::IndexSet;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use reqwest::{Method, Response};
use url::Url;

use super::{Delivered, Destination, Failed};
use crate::config::EdgePurge;
use crate::store::Event;

const TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes of keys in one Varnish purge request header.
const VARNISH_HEADER_BYTES: usize = 6000;
const FASTLY_KEYS: usize = 256;
const CLOUDFLARE_TAGS: usize = 100;
/// Longest key any edge accepts (Fastly and Cloudflare: 1,024 bytes).
const MAX_KEY: usize = 1024;

/// The destination purging `purge`.
pub fn destination_for(purge: &EdgePurge) -> anyhow::Result<Arc<dyn Destination>> {
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .user_agent(concat!("keel/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let name = purge.name();
    let edge = match purge {
        EdgePurge::Varnish { url, hard } => Edge::Varnish {
            url: url.clone(),
            hard: *hard,
        },
        EdgePurge::Fastly {
            service,
            api,
            token,
        } => Edge::Fastly {
            url: join_path(api, &format!("service/{service}/purge"))?,
            token: secret(token)?,
        },
        EdgePurge::Cloudflare { zone, api, token } => Edge::Cloudflare {
            url: join_path(api, &format!("zones/{zone}/purge_cache"))?,
            token: secret(&format!("Bearer {token}"))?,
        },
    };
    Ok(Arc::new(Purger { name, edge, client }))
}

/// The keys `events` ask to purge, each once, in order.
pub fn purge_keys(events: &[Event]) -> Vec<String> {
    let mut keys = IndexSet::new();
    for event in events {
        for key in &event.keys {
            if !key.is_empty() && key.len() <= MAX_KEY {
                keys.insert(key.as_str());
            }
        }
    }
    keys.into_iter().map(str::to_owned).collect()
}

fn secret(value: &str) -> anyhow::Result<HeaderValue> {
    let mut value = HeaderValue::from_str(value)
        .map_err(|_| anyhow::anyhow!("the API token holds characters a header cannot"))?;
    value.set_sensitive(true);
    Ok(value)
}

/// `base` + `path`, keeping the base's own path (`…/client/v4`).
fn join_path(base: &Url, path: &str) -> anyhow::Result<Url> {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    Ok(base.join(path)?)
}

enum Edge {
    Varnish { url: Url, hard: bool },
    Fastly { url: Url, token: HeaderValue },
    Cloudflare { url: Url, token: HeaderValue },
}

struct Purger {
    name: String,
    edge: Edge,
    client: reqwest::Client,
}

#[async_trait]
impl Destination for Purger {
    fn name(&self) -> &str {
        &self.name
    }

    async fn deliver(&self, events: &[Event]) -> Result<Delivered, Failed> {
        let keys = purge_keys(events);
        if keys.is_empty() {
            return Ok(Delivered {
                status: None,
                detail: "no keys to purge".into(),
            });
        }
        let batches = match &self.edge {
            Edge::Varnish { .. } => by_bytes(&keys, VARNISH_HEADER_BYTES),
            Edge::Fastly { .. } => keys.chunks(FASTLY_KEYS).map(<[String]>::to_vec).collect(),
            Edge::Cloudflare { .. } => keys
                .chunks(CLOUDFLARE_TAGS)
                .map(<[String]>::to_vec)
                .collect(),
        };
        let mut status = None;
        let mut details = Vec::new();
        for batch in &batches {
            let answer = self.purge(batch).await?;
            status = answer.status;
            details.push(answer.detail);
        }
        Ok(Delivered {
            status,
            detail: format!(
                "{} keys in {} request(s): {}",
                keys.len(),
                batches.len(),
                details.join("; ")
            ),
        })
    }

    async fn check(&self) -> Result<(), String> {
        match &self.edge {
            Edge::Varnish { url, .. } | Edge::Fastly { url, .. } | Edge::Cloudflare { url, .. } => {
                super::reachable(url).await
            }
        }
    }
}

impl Purger {
    async fn purge(&self, keys: &[String]) -> Result<Delivered, Failed> {
        match &self.edge {
            Edge::Varnish { url, hard } => {
                let method = Method::from_bytes(b"PURGE").expect("a valid method");
                let mut request = self
                    .client
                    .request(method, url.clone())
                    .header("xkey-purge", keys.join(" "));
                if *hard {
                    request = request.header("xkey-hard", "1");
                }
                let response = request.send().await.map_err(|e| Failed::unreachable(&e))?;
                // xkey's count is in the reason phrase: "Invalidated 3 objects".
                let reason = response
                    .status()
                    .canonical_reason()
                    .unwrap_or_default()
                    .to_owned();
                let (status, body) = read(response).await?;
                let said = first_line(&body).unwrap_or(reason);
                answer(status, said, None)
            }
            Edge::Fastly { url, token } => {
                let request = self
                    .client
                    .post(url.clone())
                    .header("Fastly-Key", token.clone())
                    .header("Fastly-Soft-Purge", "1");
                let body = serde_json::json!({ "surrogate_keys": keys });
                let (status, body, retry_after) = send_json(request, &body).await?;
                answer(
                    status,
                    format!("{} keys: {}", keys.len(), clip(&body)),
                    retry_after,
                )
            }
            Edge::Cloudflare { url, token } => {
                let request = self
                    .client
                    .post(url.clone())
                    .header(AUTHORIZATION, token.clone());
                let body = serde_json::json!({ "tags": keys });
                let (status, body, retry_after) = send_json(request, &body).await?;
                // The v4 envelope: a 200 may still say `"success": false`.
                let envelope: serde_json::Value =
                    serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
                let success = envelope["success"].as_bool() == Some(true);
                let detail = format!("{} tags: {}", keys.len(), clip(&body));
                if (200..300).contains(&status) && !success {
                    return Err(Failed {
                        status: Some(status),
                        detail,
                        retry_after,
                    });
                }
                answer(status, detail, retry_after)
            }
        }
    }
}

/// Sends `body` as JSON; the status, what came back and any Retry-After.
async fn send_json(
    request: reqwest::RequestBuilder,
    body: &serde_json::Value,
) -> Result<(u16, String, Option<Duration>), Failed> {
    let response = request
        .header("Accept", "application/json")
        .header(CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| Failed::unreachable(&e))?;
    let retry_after = retry_after(&response);
    let (status, body) = read(response).await?;
    Ok((status, body, retry_after))
}

async fn read(response: Response) -> Result<(u16, String), Failed> {
    let status = response.status().as_u16();
    let body = response.text().await.map_err(|e| Failed {
        status: Some(status),
        detail: super::error_chain(&e),
        retry_after: None,
    })?;
    Ok((status, body))
}

fn answer(status: u16, detail: String, retry_after: Option<Duration>) -> Result<Delivered, Failed> {
    if (200..300).contains(&status) {
        Ok(Delivered {
            status: Some(status),
            detail,
        })
    } else {
        Err(Failed {
            status: Some(status),
            detail,
            retry_after,
        })
    }
}

fn retry_after(response: &Response) -> Option<Duration> {
    let secs: u64 = response
        .headers()
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs))
}

fn first_line(body: &str) -> Option<String> {
    let line = body.lines().map(str::trim).find(|l| !l.is_empty())?;
    Some(clip(line))
}

/// At most 300 bytes of what an edge said, for the delivery log.
fn clip(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(300) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// Keys in groups whose space-joined length stays within `max` bytes.
fn by_bytes(keys: &[String], max: usize) -> Vec<Vec<String>> {
    let mut batches: Vec<Vec<String>> = Vec::new();
    let mut size = 0;
    for key in keys {
        let grow = key.len() + 1;
        match batches.last_mut() {
            Some(batch) if size + grow <= max + 1 => {
                batch.push(key.clone());
                size += grow;
            }
            _ => {
                batches.push(vec![key.clone()]);
                size = grow;
            }
        }
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: i64, keys: &[&str]) -> Event {
        Event {
            seq,
            kind: "publish".into(),
            entry_id: None,
            paths: Vec::new(),
            keys: keys.iter().map(|k| (*k).to_owned()).collect(),
            entries: Vec::new(),
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_batch_purges_each_key_once() {
        let events = [event(1, &["a", "path:/"]), event(2, &["path:/", "b"])];
        assert_eq!(purge_keys(&events), ["a", "path:/", "b"]);
        let long = "k".repeat(MAX_KEY + 1);
        assert!(purge_keys(&[event(3, &[&long])]).is_empty());
    }

    #[test]
    fn varnish_batches_stay_under_the_header_limit() {
        let keys: Vec<String> = (0..1000)
            .map(|i| format!("path:/matches/m-{i:04}"))
            .collect();
        let batches = by_bytes(&keys, VARNISH_HEADER_BYTES);
        assert!(batches.len() > 1);
        for batch in &batches {
            assert!(batch.join(" ").len() <= VARNISH_HEADER_BYTES);
        }
        assert_eq!(batches.concat(), keys);
    }

    #[test]
    fn api_urls_keep_their_base_path() {
        let base = Url::parse("https://api.cloudflare.com/client/v4").unwrap();
        assert_eq!(
            join_path(&base, "zones/z/purge_cache").unwrap().as_str(),
            "https://api.cloudflare.com/client/v4/zones/z/purge_cache"
        );
    }
}
