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

        let dispatch = Dispatch {
            runtime: tokio::runtime::Handle::current(),
            pool: self.pool.clone(),
            traffic: self.traffic.clone(),
            site: self.site.clone(),
            recorder: recorder.clone(),
            in_flight: in_flight.clone(),
        };
        let (sched_profile, sched_start, seed) = (profile.clone(), start.into_std(), self.rng_seed);
        // A thread of its own: `thread::sleep` wakes within tens of
        // microseconds, where tokio's timer rounds up to the next
        // millisecond and would add that to every request's latency.
        let mut scheduler = Some(tokio::task::spawn_blocking(move || {
            dispatch.schedule(&sched_profile, sched_start, seed)
        }));

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

/// What the scheduler thread needs to start requests on the runtime.
struct Dispatch {
    runtime: tokio::runtime::Handle,
    pool: Arc<Pool>,
    traffic: Arc<Traffic>,
    site: Arc<Site>,
    recorder: Arc<Mutex<Recorder>>,
    in_flight: Arc<Semaphore>,
}

impl Dispatch {
    fn schedule(&self, profile: &Profile, start: std::time::Instant, seed: u64) {
        let mut rng = StdRng::seed_from_u64(seed);
        for (phase, offset) in profile.schedule() {
            let intended = start + offset;
            // Sleeping only when ahead: once behind (a busy client), requests
            // go out at once and their lag is recorded, not skipped.
            let now = std::time::Instant::now();
            if intended > now {
                std::thread::sleep(intended - now);
            }
            let lag = std::time::Instant::now().saturating_duration_since(intended);
            let second = offset.as_secs() as usize;
            let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
                lock(&self.recorder).overload(phase, second);
                continue;
            };
            let pick = self.traffic.pick(&mut rng);
            let mut headers: Vec<(&'static str, HeaderValue)> = Vec::with_capacity(2);
            if let Some(ae) = pick.enc.header() {
                headers.push(("accept-encoding", ae));
            }
            let (path, kind) = match (&pick.unknown, pick.path) {
                (Some(unknown), _) => (unknown.clone(), Kind::Unknown),
                (None, Some(i)) => {
                    let etag = pick
                        .conditional
                        .then(|| self.traffic.etag(i, pick.enc))
                        .flatten();
                    let kind = match etag {
                        Some(etag) => {
                            headers.push(("if-none-match", etag));
                            Kind::Conditional
                        }
                        None => Kind::Plain,
                    };
                    (self.site.paths[i].path.clone(), kind)
                }
                (None, None) => continue,
            };
            lock(&self.recorder).scheduled(phase, second, lag.as_micros() as u64, kind);
            let (pool, traffic, recorder) = (
                self.pool.clone(),
                self.traffic.clone(),
                self.recorder.clone(),
            );
            self.runtime.spawn(async move {
                let result = pool.send(Method::GET, &path, &headers, None, false).await;
                let latency = std::time::Instant::now().saturating_duration_since(intended);
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
}

fn lock(recorder: &Mutex<Recorder>) -> std::sync::MutexGuard<'_, Recorder> {
    recorder.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::site::SitePath;
    use std::net::SocketAddr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A keep-alive HTTP/1.1 server on a loopback port that holds every
    /// request arriving in `[stall_from, stall_to)` (after it starts) until
    /// `stall_to`: a server that stops answering for a while.
    async fn stalling_server(stall_from: Duration, stall_to: Duration) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let t0 = Instant::now();
        tokio::spawn(async move {
            loop {
                let (mut sock, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let n = match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        buf.extend_from_slice(&chunk[..n]);
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..end]).to_string();
                            buf.drain(..end + 4);
                            let elapsed = t0.elapsed();
                            if elapsed >= stall_from && elapsed < stall_to {
                                tokio::time::sleep_until(t0 + stall_to).await;
                            }
                            let body = if head.starts_with("GET /metrics") {
                                "keel_db_queries_total{op=\"page\"} 0\n"
                            } else {
                                "ok"
                            };
                            let reply = format!(
                                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\ncache-status: keel; hit\r\n\r\n{body}",
                                body.len()
                            );
                            if sock.write_all(reply.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        addr
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stalled_server_shows_in_every_request_meant_for_the_stall() {
        let addr = stalling_server(Duration::from_millis(1000), Duration::from_millis(1500)).await;
        let site = Site::from_paths(
            vec![SitePath {
                path: "/p".into(),
                heat: 0.0,
            }],
            Vec::new(),
            "test".into(),
        );
        let load = Load {
            pool: Arc::new(Pool::new(addr, 4, Duration::from_secs(5))),
            api: Arc::new(Api::new(addr, None, 2).unwrap()),
            traffic: Arc::new(Traffic::new(1, 1.0, [0.0, 0.0, 1.0], 0.0, 0.0).unwrap()),
            site: Arc::new(site),
            max_in_flight: 1000,
            rng_seed: 1,
            pg: None,
            live_rate: 0.0,
        };
        let profile = Profile::parse("flat=200rps:2500ms").unwrap();
        let out = load.run(&profile).await;
        let p = &out.recorder.phases[0];
        assert_eq!(p.scheduled, 500);
        assert_eq!(p.completed, 500, "errors: {:?}", p.errors);
        // About 100 requests were due during the 500 ms stall (from 1.05 s,
        // as the run starts 50 ms after the server). With 4 connections a
        // closed loop would have sent only 4 of them; here every one waits,
        // the first for nearly the whole stall.
        let slow = p
            .latency
            .iter_recorded()
            .filter(|v| v.value_iterated_to() >= 100_000)
            .map(|v| v.count_at_value())
            .sum::<u64>();
        assert!(
            (70..=110).contains(&slow),
            "{slow} requests took 100 ms or more"
        );
        assert!(p.latency.max() >= 400_000, "max {} us", p.latency.max());
        assert!(p.latency.value_at_quantile(0.5) < 20_000);
        // Phase edges were read from /metrics.
        assert!(out.edges.iter().all(|e| e.keel.is_some()));
    }
}
