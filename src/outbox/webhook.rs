//! Webhooks: every event, in order, `POST`ed as JSON to each configured
//! receiver once every node holds it, one event per request, signed.
//!
//! ```text
//! POST /hooks/keel HTTP/1.1
//! Content-Type: application/json
//! Keel-Delivery: 4217
//! Keel-Signature: t=1796551200,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd
//!
//! {"event":"publish","seq":4217,"type":"match","id":"…","slug":"…",
//!  "paths":["/matches/…",…],"keys":["…"],"published_at":"…","entries":[…]}
//! ```
//!
//! `v1` is the lowercase hex HMAC-SHA256, keyed with the secret's bytes,
//! of `{t}.{body}` (the timestamp, a dot, the raw body). A receiver
//! recomputes it, compares in constant time, and refuses a `t` more than
//! five minutes from its own clock (each attempt is signed anew), so a
//! captured request cannot be replayed later; `Keel-Delivery` (the event's
//! seq) makes a redelivery after a failover recognisable. Any 2xx
//! acknowledges; anything else is retried with backoff.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hmac::{KeyInit, Mac};
use reqwest::header::CONTENT_TYPE;
use serde_json::json;

use super::{Delivered, Destination, Failed};
use crate::config::Webhook;
use crate::store::Event;

pub const SIGNATURE_HEADER: &str = "Keel-Signature";
pub const DELIVERY_HEADER: &str = "Keel-Delivery";
const TIMEOUT: Duration = Duration::from_secs(15);

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// `t={unix},v1={hex}` for `body` sent at `unix`.
pub fn sign(secret: &[u8], unix: i64, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(unix.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={unix},v1={}", hex::encode(mac.finalize().into_bytes()))
}

pub(super) fn destination(hook: &Webhook) -> anyhow::Result<Arc<dyn Destination>> {
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .user_agent(concat!("keel-webhook/", env!("CARGO_PKG_VERSION")))
        .build()?;
    Ok(Arc::new(Hook {
        name: format!("webhook:{}", hook.name),
        hook: hook.clone(),
        client,
    }))
}

struct Hook {
    name: String,
    hook: Webhook,
    client: reqwest::Client,
}

/// What the receiver gets for `event`: the first entry it changed at the
/// top level (most events change one), all of them in `entries`.
fn payload(event: &Event) -> serde_json::Value {
    let first = event.entries.first();
    json!({
        "event": event.kind,
        "seq": event.seq,
        "type": first.map(|e| &e.type_name),
        "id": first.map(|e| e.id),
        "slug": first.map(|e| &e.slug),
        "paths": event.paths,
        "keys": event.keys,
        "published_at": first.and_then(|e| e.published_at),
        "created_at": event.created_at,
        "entries": event.entries,
    })
}

#[async_trait]
impl Destination for Hook {
    fn name(&self) -> &str {
        &self.name
    }

    fn batch_limit(&self) -> usize {
        1
    }

    async fn deliver(&self, events: &[Event]) -> Result<Delivered, Failed> {
        let mut last = None;
        for event in events {
            let body = payload(event).to_string();
            let now = chrono::Utc::now().timestamp();
            let signature = sign(self.hook.secret.as_bytes(), now, body.as_bytes());
            let response = self
                .client
                .post(self.hook.url.clone())
                .header(CONTENT_TYPE, "application/json")
                .header(DELIVERY_HEADER, event.seq.to_string())
                .header(SIGNATURE_HEADER, signature)
                .body(body)
                .send()
                .await
                .map_err(|e| Failed::unreachable(&e))?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()?.trim().parse().ok())
                .map(Duration::from_secs);
            let said = response.text().await.unwrap_or_default();
            let detail = format!(
                "seq {}: {}",
                event.seq,
                said.trim().chars().take(300).collect::<String>()
            );
            if !(200..300).contains(&status) {
                return Err(Failed {
                    status: Some(status),
                    detail,
                    retry_after,
                });
            }
            last = Some(Delivered {
                status: Some(status),
                detail,
            });
        }
        Ok(last.unwrap_or(Delivered {
            status: None,
            detail: "nothing to send".into(),
        }))
    }

    async fn check(&self) -> Result<(), String> {
        super::reachable(&self.hook.url).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_time_dot_body() {
        // Python: hmac.new(b"k" * 32, b"1796551200.{}", hashlib.sha256).hexdigest()
        let signature = sign(&[b'k'; 32], 1_796_551_200, b"{}");
        assert_eq!(
            signature,
            "t=1796551200,v1=3a2ba4510555edaf47e2f92d10ed29750145aa46b96d8e510afa7c16f8ca931c"
        );
    }

    #[test]
    fn the_payload_names_the_entry_it_changed() {
        let id = uuid::Uuid::now_v7();
        let event = Event {
            seq: 7,
            kind: "publish".into(),
            entry_id: Some(id),
            paths: vec!["/matches/a".into()],
            keys: vec![id.to_string(), "path:/matches/a".into()],
            entries: vec![crate::store::EventEntry {
                id,
                type_name: "match".into(),
                slug: "a".into(),
                published_at: None,
            }],
            created_at: chrono::Utc::now(),
        };
        let body = payload(&event);
        assert_eq!(body["event"], "publish");
        assert_eq!(body["seq"], 7);
        assert_eq!(body["type"], "match");
        assert_eq!(body["id"], id.to_string());
        assert_eq!(body["slug"], "a");
        assert_eq!(body["paths"][0], "/matches/a");
        assert!(body["published_at"].is_null());
    }
}
