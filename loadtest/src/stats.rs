//! What the readers saw, per phase and per second of the run: latency
//! (from each request's intended send time) in HdrHistograms, statuses,
//! errors by kind, bytes and `Cache-Status`. A request belongs to the phase
//! and second of its intended send time, not of its completion.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

/// Latencies are recorded in microseconds, up to this (longer is clamped).
const MAX_MICROS: u64 = 120_000_000;

pub fn histogram(sigfig: u8) -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, sigfig).expect("valid histogram bounds")
}

/// What keel's `Cache-Status` said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    Hit,
    Stale,
    Miss,
    Other,
    Absent,
}

impl CacheStatus {
    /// `keel; hit`, `keel; hit; fwd=stale`, `keel; fwd=miss; stored`.
    pub fn parse(value: Option<&str>) -> CacheStatus {
        let Some(value) = value else {
            return CacheStatus::Absent;
        };
        let params: Vec<&str> = value.split(';').map(str::trim).collect();
        let has = |p: &str| params.contains(&p);
        if has("fwd=stale") {
            CacheStatus::Stale
        } else if has("hit") {
            CacheStatus::Hit
        } else if params.iter().any(|p| p.starts_with("fwd=")) {
            CacheStatus::Miss
        } else {
            CacheStatus::Other
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            CacheStatus::Hit => "hit",
            CacheStatus::Stale => "stale",
            CacheStatus::Miss => "miss",
            CacheStatus::Other => "other",
            CacheStatus::Absent => "absent",
        }
    }
}

/// How one reader request ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    Response {
        status: u16,
        bytes: u64,
        cache: CacheStatus,
        /// The status was not one this request may get (e.g. a 404 on a
        /// published path, any 5xx): counted as an error too.
        error: Option<&'static str>,
    },
    Failed(&'static str),
}

#[derive(Debug, Clone)]
pub struct PhaseStats {
    pub scheduled: u64,
    pub completed: u64,
    pub latency: Histogram<u64>,
    /// How late the generator itself sent requests (its own lag, so a slow
    /// client is not mistaken for a slow server).
    pub send_lag: Histogram<u64>,
    pub statuses: BTreeMap<u16, u64>,
    pub errors: BTreeMap<&'static str, u64>,
    pub bytes: u64,
    pub cache: BTreeMap<&'static str, u64>,
    pub conditional_sent: u64,
    pub unknown_sent: u64,
}

impl Default for PhaseStats {
    fn default() -> Self {
        PhaseStats {
            scheduled: 0,
            completed: 0,
            latency: histogram(3),
            send_lag: histogram(2),
            statuses: BTreeMap::new(),
            errors: BTreeMap::new(),
            bytes: 0,
            cache: BTreeMap::new(),
            conditional_sent: 0,
            unknown_sent: 0,
        }
    }
}

impl PhaseStats {
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Responses with a `Cache-Status` that keel answered from memory.
    pub fn hit_ratio(&self) -> Option<f64> {
        let get = |k: &str| *self.cache.get(k).unwrap_or(&0);
        let hits = get("hit") + get("stale");
        let seen = hits + get("miss") + get("other");
        (seen > 0).then(|| hits as f64 / seen as f64)
    }
}

/// One second of the run.
#[derive(Debug, Clone)]
pub struct Second {
    pub scheduled: u64,
    pub completed: u64,
    pub errors: u64,
    pub latency: Histogram<u64>,
}

impl Default for Second {
    fn default() -> Self {
        Second {
            scheduled: 0,
            completed: 0,
            errors: 0,
            latency: histogram(2),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Recorder {
    pub phases: Vec<PhaseStats>,
    pub seconds: Vec<Second>,
}

impl Recorder {
    pub fn new(phases: usize, seconds: usize) -> Recorder {
        Recorder {
            phases: vec![PhaseStats::default(); phases],
            seconds: vec![Second::default(); seconds + 1],
        }
    }

    fn second(&mut self, at: usize) -> &mut Second {
        let last = self.seconds.len() - 1;
        &mut self.seconds[at.min(last)]
    }

    /// A request left (or could not leave, see [`Recorder::overload`]).
    pub fn scheduled(&mut self, phase: usize, second: usize, lag_micros: u64, kind: Kind) {
        let p = &mut self.phases[phase];
        p.scheduled += 1;
        p.send_lag.saturating_record(lag_micros.max(1));
        match kind {
            Kind::Plain => {}
            Kind::Conditional => p.conditional_sent += 1,
            Kind::Unknown => p.unknown_sent += 1,
        }
        self.second(second).scheduled += 1;
    }

    /// The generator had no room for another request in flight: the
    /// request is dropped and counted, never silently delayed.
    pub fn overload(&mut self, phase: usize, second: usize) {
        let p = &mut self.phases[phase];
        p.scheduled += 1;
        *p.errors.entry("client_overload").or_default() += 1;
        let s = self.second(second);
        s.scheduled += 1;
        s.errors += 1;
    }

    pub fn finished(
        &mut self,
        phase: usize,
        second: usize,
        latency_micros: u64,
        outcome: &Outcome,
    ) {
        let p = &mut self.phases[phase];
        let latency = latency_micros.max(1);
        let error = match outcome {
            Outcome::Response {
                status,
                bytes,
                cache,
                error: e,
            } => {
                p.completed += 1;
                p.latency.saturating_record(latency);
                *p.statuses.entry(*status).or_default() += 1;
                p.bytes += bytes;
                *p.cache.entry(cache.name()).or_default() += 1;
                *e
            }
            Outcome::Failed(kind) => Some(*kind),
        };
        if let Some(kind) = error {
            *p.errors.entry(kind).or_default() += 1;
        }
        let s = self.second(second);
        if matches!(outcome, Outcome::Response { .. }) {
            s.completed += 1;
            s.latency.saturating_record(latency);
        }
        s.errors += u64::from(error.is_some());
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Plain,
    Conditional,
    Unknown,
}

/// Which statuses a request may get without it being an error: a page 200
/// (or 304 when conditional), an unknown path 404. Returns the error kind.
pub fn classify(status: u16, kind: Kind) -> Option<&'static str> {
    match (status, kind) {
        (200, Kind::Plain | Kind::Conditional)
        | (304, Kind::Conditional)
        | (404, Kind::Unknown) => None,
        (500..=599, _) => Some("http_5xx"),
        _ => Some("unexpected_status"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keel_cache_status_values_are_recognised() {
        assert_eq!(CacheStatus::parse(Some("keel; hit")), CacheStatus::Hit);
        assert_eq!(
            CacheStatus::parse(Some("keel; hit; fwd=stale")),
            CacheStatus::Stale
        );
        assert_eq!(
            CacheStatus::parse(Some("keel; fwd=miss; stored")),
            CacheStatus::Miss
        );
        assert_eq!(CacheStatus::parse(Some("keel")), CacheStatus::Other);
        assert_eq!(CacheStatus::parse(None), CacheStatus::Absent);
    }

    #[test]
    fn expected_statuses_are_not_errors() {
        assert_eq!(classify(200, Kind::Plain), None);
        assert_eq!(classify(304, Kind::Conditional), None);
        assert_eq!(classify(200, Kind::Conditional), None);
        assert_eq!(classify(404, Kind::Unknown), None);
        assert_eq!(classify(404, Kind::Plain), Some("unexpected_status"));
        assert_eq!(classify(304, Kind::Plain), Some("unexpected_status"));
        assert_eq!(classify(503, Kind::Plain), Some("http_5xx"));
    }

    #[test]
    fn a_phase_counts_outcomes_and_hit_ratio() {
        let mut r = Recorder::new(1, 2);
        let ok = |cache| Outcome::Response {
            status: 200,
            bytes: 100,
            cache,
            error: None,
        };
        for _ in 0..3 {
            r.scheduled(0, 0, 5, Kind::Plain);
            r.finished(0, 0, 1000, &ok(CacheStatus::Hit));
        }
        r.scheduled(0, 1, 5, Kind::Plain);
        r.finished(0, 1, 9000, &ok(CacheStatus::Miss));
        r.scheduled(0, 1, 5, Kind::Plain);
        r.finished(0, 1, 10_000_000, &Outcome::Failed("timeout"));
        r.overload(0, 1);
        let p = &r.phases[0];
        assert_eq!((p.scheduled, p.completed, p.bytes), (6, 4, 400));
        assert_eq!(p.hit_ratio(), Some(0.75));
        assert_eq!(p.errors["timeout"], 1);
        assert_eq!(p.errors["client_overload"], 1);
        assert_eq!(p.error_count(), 2);
        assert_eq!(r.seconds[1].errors, 2);
        assert_eq!(p.latency.max(), p.latency.highest_equivalent(9000));
    }
}
