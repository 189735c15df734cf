//! The open-model load: one scheduler walks the profile's intended send
//! times and starts each request at its time, whatever the server is doing;
//! latency runs from the intended time to the last body byte, so a stall
//! shows up in every request that should have been sent during it (no
//! coordinated omission). In-flight requests are bounded: when the bound is
//! reached the request is counted as `client_overload` and dropped, never
//! queued behind the stall. Keel's counters (and PostgreSQL's) are read at
//! every phase edge.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hyper::Method;
use hyper::header::HeaderValue;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::http::{Api, Pool};
use crate::live::{LiveUpdates, live_updates};
use crate::pgstats::{PgSnapshot, PgStats};
use crate::profile::Profile;
use crate::scrape::{self, KeelCounters};
use crate::site::{Site, Traffic};
use crate::stats::{CacheStatus, Kind, Outcome, Recorder, classify};

pub struct Load {
    pub pool: Arc<Pool>,
    pub api: Arc<Api>,
    pub traffic: Arc<Traffic>,
    pub site: Arc<Site>,
    pub max_in_flight: usize,
    pub rng_seed: u64,
    pub pg: Option<PgStats>,
    /// Editor updates per second during the spike phases (0: none).
    pub live_rate: f64,
}

/// Counters read at one phase edge.
#[derive(Debug, Clone, Default)]
pub struct Edge {
    pub keel: Option<KeelCounters>,
    pub pg: Option<PgSnapshot>,
}

pub struct Outcomes {
    pub recorder: Recorder,
    /// `phases + 1` edges: before the first phase, then after each.
    pub edges: Vec<Edge>,
    pub live: Option<LiveUpdates>,
    pub scrape_errors: Vec<String>,
}

impl Load {
    pub async fn run(self, profile: &Profile) -> Outcomes {
        let total = profile.total_duration();
        let recorder = Arc::new(Mutex::new(Recorder::new(
            profile.phases.len(),
            total.as_secs() as usize,
        )));
        let in_flight = Arc::new(Semaphore::new(self.max_in_flight));
        let mut scrape_errors = Vec::new();
        let mut edges = vec![self.edge(&mut scrape_errors).await];

        let start = Instant::now() + Duration::from_millis(50);
        let ends: Vec<Instant> = profile
            .starts()
            .iter()
            .zip(&profile.phases)
            .map(|(s, p)| start + *s + p.duration)
            .collect();
        let live = (self.live_rate > 0.0 && !self.site.live.is_empty()).then(|| {
            let spike: Vec<usize> = (0..profile.phases.len())
                .filter(|i| profile.is_spike(*i))
                .collect();
            let starts = profile.starts();
            let from = start + starts[*spike.first().unwrap_or(&0)];
            let to = ends[*spike.last().unwrap_or(&0)];
            let phase_ends = ends.clone();
            tokio::spawn(live_updates(
                self.api.clone(),
                self.site.live.clone(),
                self.live_rate,
                from,
                to,
                phase_ends,
            ))
        });

        let mut scheduler = Some(tokio::spawn(schedule(
            profile.clone(),
            start,
            self.pool.clone(),
            self.traffic.clone(),
            self.site.clone(),
            recorder.clone(),
            in_flight.clone(),
            self.rng_seed,
        )));

        for (i, end) in ends.iter().enumerate() {
            tokio::time::sleep_until(*end).await;
            if i + 1 == ends.len() {
                // The last edge waits for the stragglers of the last phase.
                if let Some(scheduler) = scheduler.take() {
                    let _ = scheduler.await;
                }
                let all = u32::try_from(self.max_in_flight).unwrap_or(u32::MAX);
                let _ = tokio::time::timeout(Duration::from_secs(30), in_flight.acquire_many(all))
                    .await;
            }
            edges.push(self.edge(&mut scrape_errors).await);
        }
        let live = match live {
            Some(task) => task.await.ok(),
            None => None,
        };
        let recorder = recorder
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        Outcomes {
            recorder,
            edges,
            live,
            scrape_errors,
        }
    }

    async fn edge(&self, errors: &mut Vec<String>) -> Edge {
        let keel = match self.api.call(Method::GET, "/metrics", None).await {
            Ok(reply) if reply.status == 200 => match scrape::parse(&reply.text()) {
                Ok(c) => Some(c),
                Err(e) => {
                    errors.push(e);
                    None
                }
            },
            Ok(reply) => {
                errors.push(format!("GET /metrics: {}", reply.status));
                None
            }
            Err(e) => {
                errors.push(e.to_string());
                None
            }
        };
        let pg = match &self.pg {
            Some(pg) => match pg.snapshot().await {
                Ok(s) => Some(s),
                Err(e) => {
                    errors.push(format!("PostgreSQL statistics: {e}"));
                    None
                }
            },
            None => None,
        };
        Edge { keel, pg }
    }
}

#[allow(clippy::too_many_arguments)]
async fn schedule(
    profile: Profile,
    start: Instant,
    pool: Arc<Pool>,
    traffic: Arc<Traffic>,
    site: Arc<Site>,
    recorder: Arc<Mutex<Recorder>>,
    in_flight: Arc<Semaphore>,
    seed: u64,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    for (phase, offset) in profile.schedule() {
        let intended = start + offset;
        // Sleeping only when ahead: once behind (a busy client), requests go
        // out at once and their lag is recorded, not skipped.
        if intended > Instant::now() {
            tokio::time::sleep_until(intended).await;
        }
        let lag = Instant::now().saturating_duration_since(intended);
        let second = offset.as_secs() as usize;
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            lock(&recorder).overload(phase, second);
            continue;
        };
        let pick = traffic.pick(&mut rng);
        let mut headers: Vec<(&'static str, HeaderValue)> = Vec::with_capacity(2);
        if let Some(ae) = pick.enc.header() {
            headers.push(("accept-encoding", ae));
        }
        let (path, kind) = match (&pick.unknown, pick.path) {
            (Some(unknown), _) => (unknown.clone(), Kind::Unknown),
            (None, Some(i)) => {
                let etag = pick
                    .conditional
                    .then(|| traffic.etag(i, pick.enc))
                    .flatten();
                let kind = match etag {
                    Some(etag) => {
                        headers.push(("if-none-match", etag));
                        Kind::Conditional
                    }
                    None => Kind::Plain,
                };
                (site.paths[i].path.clone(), kind)
            }
            (None, None) => continue,
        };
        lock(&recorder).scheduled(phase, second, lag.as_micros() as u64, kind);
        let (pool, traffic, recorder) = (pool.clone(), traffic.clone(), recorder.clone());
        tokio::spawn(async move {
            let result = pool.send(Method::GET, &path, &headers, None, false).await;
            let latency = Instant::now().saturating_duration_since(intended);
            let outcome = match result {
                Ok(reply) => {
                    if let (Some(i), Some(etag)) = (pick.path, reply.headers.get("etag")) {
                        traffic.learn_etag(i, pick.enc, etag);
                    }
                    let status = reply.status.as_u16();
                    Outcome::Response {
                        status,
                        bytes: reply.body_len,
                        cache: CacheStatus::parse(reply.header("cache-status")),
                        error: classify(status, kind),
                    }
                }
                Err(failure) => Outcome::Failed(failure.kind()),
            };
            lock(&recorder).finished(phase, second, latency.as_micros() as u64, &outcome);
            drop(permit);
        });
    }
}

fn lock(recorder: &Mutex<Recorder>) -> std::sync::MutexGuard<'_, Recorder> {
    recorder.lock().unwrap_or_else(PoisonError::into_inner)
}
