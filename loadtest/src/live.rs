//! Editor traffic during the spike (`--live-updates N/s`): score changes on
//! the live matches, each a PATCH of `home_score`/`away_score` and a
//! publish, at a constant rate from the first spike phase's start to the
//! last one's end. Measured apart from the readers: latency of the pair from
//! its intended time, errors by kind, per phase.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use hyper::Method;
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::http::Api;
use crate::site::LiveMatch;
use crate::stats::histogram;

/// Updates in flight at once; beyond it an update is skipped and counted
/// (the editor side must not pile up behind a slow publish either).
const MAX_IN_FLIGHT: usize = 8;

#[derive(Debug, Clone, Default)]
pub struct LiveUpdates {
    /// Per phase index: what the updates intended in that phase did.
    pub phases: BTreeMap<usize, EditorStats>,
}

#[derive(Debug, Clone)]
pub struct EditorStats {
    pub sent: u64,
    pub ok: u64,
    pub errors: BTreeMap<String, u64>,
    pub latency: Histogram<u64>,
}

impl Default for EditorStats {
    fn default() -> Self {
        EditorStats {
            sent: 0,
            ok: 0,
            errors: BTreeMap::new(),
            latency: histogram(3),
        }
    }
}

/// `2/s`, `0.5/s` or a bare number: score updates per second.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    let num = s.trim().strip_suffix("/s").unwrap_or(s.trim());
    match num.parse::<f64>() {
        Ok(r) if (0.0..=1000.0).contains(&r) => Ok(r),
        _ => Err(format!(
            "--live-updates {s:?}: expected updates per second, e.g. 2/s (0 to 1000)"
        )),
    }
}

pub async fn live_updates(
    api: Arc<Api>,
    matches: Vec<LiveMatch>,
    rate: f64,
    from: Instant,
    to: Instant,
    phase_ends: Vec<Instant>,
) -> LiveUpdates {
    let results = Arc::new(std::sync::Mutex::new(LiveUpdates::default()));
    let gate = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut tasks = Vec::new();
    let mut k: u64 = 0;
    loop {
        let intended = from + interval.mul_f64(k as f64);
        if intended >= to {
            break;
        }
        tokio::time::sleep_until(intended).await;
        let phase = phase_ends.iter().position(|e| intended < *e).unwrap_or(0);
        let m = matches[k as usize % matches.len()].clone();
        let score = k / matches.len() as u64 + 1;
        k += 1;
        let Ok(permit) = gate.clone().try_acquire_owned() else {
            let mut r = results.lock().unwrap_or_else(|e| e.into_inner());
            let s = r.phases.entry(phase).or_default();
            s.sent += 1;
            *s.errors.entry("client_overload".into()).or_default() += 1;
            continue;
        };
        let (api, results) = (api.clone(), results.clone());
        tasks.push(tokio::spawn(async move {
            let outcome = update(&api, &m, score).await;
            let latency = Instant::now().saturating_duration_since(intended);
            let mut r = results.lock().unwrap_or_else(|e| e.into_inner());
            let s = r.phases.entry(phase).or_default();
            s.sent += 1;
            match outcome {
                Ok(()) => {
                    s.ok += 1;
                    s.latency
                        .saturating_record((latency.as_micros() as u64).max(1));
                }
                Err(kind) => *s.errors.entry(kind).or_default() += 1,
            }
            drop(permit);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let r = results.lock().unwrap_or_else(|e| e.into_inner());
    r.clone()
}

/// One score change: the draft patched and published in one request, as
/// the live console does (`If-Match: *`: the latest score wins). The error
/// kind is the status that failed.
async fn update(api: &Api, m: &LiveMatch, score: u64) -> Result<(), String> {
    let entry = format!("/api/v1/entries/match/{}?publish=true", m.id);
    let body = json!({ "data": { "home_score": score, "away_score": score / 2 } });
    let published = api
        .call_with(Method::PATCH, &entry, Some(&body), Some("*"))
        .await
        .map_err(|_| "publish_io".to_string())?;
    if !published.status.is_success() {
        return Err(format!("publish_{}", published.status.as_u16()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_or_without_the_unit() {
        assert_eq!(parse_rate("2/s"), Ok(2.0));
        assert_eq!(parse_rate("0.5"), Ok(0.5));
        assert!(parse_rate("fast").unwrap_err().contains("2/s"));
        assert!(parse_rate("-1/s").is_err());
    }
}
