//! The counters every page read updates, kept per worker and summed when
//! `/metrics` is scraped. A Prometheus counter or histogram is one set of
//! atomics that every worker would write on every hit: on two cores the
//! cache line bounces between them and a second worker makes the hot page
//! slower (README, "Every core serves hits"). A [`Shard`] belongs to one
//! worker thread, which alone writes it (a plain load and store, no locked
//! instruction); the scrape reads every shard and adds them up.
//!
//! What the shards hold appears in the exposition under the contract names
//! and labels as before: `keel_cache_requests_total{result}`, and the
//! `route="page"` series of `keel_http_requests_total` (statuses 200, 304,
//! 404; rarer statuses still go through the shared counter vector) and of
//! `keel_http_request_duration_seconds`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use prometheus::proto::{Bucket, Counter, Histogram, LabelPair, Metric, MetricFamily, MetricType};

use super::{
    CACHE_REQUESTS_TOTAL, HTTP_REQUEST_DURATION_SECONDS, HTTP_REQUESTS_TOTAL, LATENCY_BUCKETS,
    PAGE_ROUTE,
};

/// A page cache lookup's outcome, as `keel_cache_requests_total` labels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheResult {
    Hit,
    Stale,
    Miss,
    Negative,
    Error,
}

impl CacheResult {
    pub const ALL: [CacheResult; 5] = [
        CacheResult::Hit,
        CacheResult::Stale,
        CacheResult::Miss,
        CacheResult::Negative,
        CacheResult::Error,
    ];

    pub fn label(self) -> &'static str {
        match self {
            CacheResult::Hit => "hit",
            CacheResult::Stale => "stale",
            CacheResult::Miss => "miss",
            CacheResult::Negative => "negative",
            CacheResult::Error => "error",
        }
    }
}

/// The page statuses counted in shards; others are rare enough for the
/// shared counter vector.
const STATUSES: [u16; 3] = [200, 304, 404];
const BUCKETS: usize = LATENCY_BUCKETS.len();

/// One worker's counters. Aligned so that no two shards share a cache line
/// (nor the line prefetched with it).
#[repr(align(128))]
#[derive(Default)]
pub struct Shard {
    /// Written by any thread (with locked adds): for callers off the hit
    /// path that have no worker of their own.
    shared: bool,
    cache: [AtomicU64; 5],
    statuses: [AtomicU64; 3],
    /// Observations per latency bucket (not cumulative); the last one is
    /// above every bound.
    buckets: [AtomicU64; BUCKETS + 1],
    count: AtomicU64,
    /// Nanoseconds: an integer adds exactly and needs no float CAS.
    sum_nanos: AtomicU64,
}

impl Shard {
    /// Adds to a counter. A worker's shard has one writer, its thread: a
    /// relaxed load and store, which compile to plain moves (a second
    /// concurrent writer could lose counts, never corrupt memory). A shared
    /// shard adds atomically.
    fn add(&self, counter: &AtomicU64, n: u64) {
        if self.shared {
            counter.fetch_add(n, Ordering::Relaxed);
        } else {
            counter.store(
                counter.load(Ordering::Relaxed).wrapping_add(n),
                Ordering::Relaxed,
            );
        }
    }

    /// Counts one cache lookup.
    pub fn cache(&self, result: CacheResult) {
        self.add(&self.cache[result as usize], 1);
    }

    /// Counts and times one page response; `false` when the status is not
    /// one a shard counts (the caller counts it in the shared vector; the
    /// time is recorded either way).
    pub fn page(&self, status: u16, seconds: f64) -> bool {
        let counted = match STATUSES.iter().position(|s| *s == status) {
            Some(i) => {
                self.add(&self.statuses[i], 1);
                true
            }
            None => false,
        };
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BUCKETS);
        self.add(&self.buckets[bucket], 1);
        self.add(&self.count, 1);
        // Saturating float-to-int: a negative or NaN duration adds 0.
        self.add(&self.sum_nanos, (seconds * 1e9) as u64);
        counted
    }
}

/// Every shard handed out by one registry, for the scrape.
#[derive(Default)]
pub struct Shards {
    all: Mutex<Vec<Arc<Shard>>>,
}

/// The shards' sums at one scrape.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Totals {
    pub cache: [u64; 5],
    pub statuses: [u64; 3],
    pub buckets: [u64; BUCKETS + 1],
    pub count: u64,
    pub seconds: f64,
}

impl Totals {
    pub fn cache(&self, result: CacheResult) -> u64 {
        self.cache[result as usize]
    }

    /// Page responses with `status` counted in shards (0 for the others).
    pub fn status(&self, status: u16) -> u64 {
        STATUSES
            .iter()
            .position(|s| *s == status)
            .map_or(0, |i| self.statuses[i])
    }
}

impl Shards {
    /// A new shard for one worker thread, which alone may write it; it is
    /// summed from now on (and after its worker is gone, so totals never go
    /// down).
    pub fn new_shard(&self) -> Arc<Shard> {
        self.push(Shard::default())
    }

    /// A shard any thread may write, for callers off the hit path.
    pub fn new_shared_shard(&self) -> Arc<Shard> {
        self.push(Shard {
            shared: true,
            ..Shard::default()
        })
    }

    fn push(&self, shard: Shard) -> Arc<Shard> {
        let shard = Arc::new(shard);
        self.list().push(shard.clone());
        shard
    }

    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut nanos: u64 = 0;
        for shard in self.list().iter() {
            for (sum, c) in t.cache.iter_mut().zip(&shard.cache) {
                *sum += read(c);
            }
            for (sum, c) in t.statuses.iter_mut().zip(&shard.statuses) {
                *sum += read(c);
            }
            for (sum, c) in t.buckets.iter_mut().zip(&shard.buckets) {
                *sum += read(c);
            }
            t.count += read(&shard.count);
            nanos = nanos.wrapping_add(read(&shard.sum_nanos));
        }
        t.seconds = nanos as f64 / 1e9;
        t
    }

    /// Adds the shards' series to the gathered families (creating a family
    /// no other series has filled yet), keeping Prometheus's order: families
    /// by name, series by labels.
    pub fn merge_into(&self, families: &mut Vec<MetricFamily>) {
        let t = self.totals();
        let cache = CacheResult::ALL
            .iter()
            .map(|r| counter(&[("result", r.label())], t.cache(*r) as f64));
        add_series(
            families,
            CACHE_REQUESTS_TOTAL,
            "Page cache lookups by result",
            MetricType::COUNTER,
            cache.collect(),
        );
        let pages = STATUSES.iter().map(|s| {
            let status = s.to_string();
            counter(
                &[("route", PAGE_ROUTE), ("status", &status)],
                t.status(*s) as f64,
            )
        });
        add_series(
            families,
            HTTP_REQUESTS_TOTAL,
            "HTTP requests by route pattern and status",
            MetricType::COUNTER,
            pages.collect(),
        );
        add_series(
            families,
            HTTP_REQUEST_DURATION_SECONDS,
            "HTTP request duration by route pattern",
            MetricType::HISTOGRAM,
            vec![histogram(&t)],
        );
    }

    fn list(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Shard>>> {
        // A push or a read: the list is consistent whatever panicked.
        self.all.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn labels(pairs: &[(&str, &str)]) -> Vec<LabelPair> {
    pairs
        .iter()
        .map(|(name, value)| {
            let mut pair = LabelPair::default();
            pair.set_name((*name).to_owned());
            pair.set_value((*value).to_owned());
            pair
        })
        .collect()
}

fn counter(pairs: &[(&str, &str)], value: f64) -> Metric {
    let mut c = Counter::default();
    c.set_value(value);
    let mut m = Metric::from_label(labels(pairs));
    m.set_counter(c);
    m
}

fn histogram(t: &Totals) -> Metric {
    let mut cumulative = 0;
    let buckets = LATENCY_BUCKETS
        .iter()
        .zip(&t.buckets)
        .map(|(bound, n)| {
            cumulative += n;
            let mut b = Bucket::default();
            b.set_upper_bound(*bound);
            b.set_cumulative_count(cumulative);
            b
        })
        .collect();
    let mut h = Histogram::default();
    h.set_bucket(buckets);
    h.set_sample_count(t.count);
    h.set_sample_sum(t.seconds);
    let mut m = Metric::from_label(labels(&[("route", PAGE_ROUTE)]));
    m.set_histogram(h);
    m
}

fn add_series(
    families: &mut Vec<MetricFamily>,
    name: &str,
    help: &str,
    kind: MetricType,
    series: Vec<Metric>,
) {
    let at = match families.binary_search_by(|f| f.name().cmp(name)) {
        Ok(at) => at,
        Err(at) => {
            let mut family = MetricFamily::default();
            family.set_name(name.to_owned());
            family.set_help(help.to_owned());
            family.set_field_type(kind);
            families.insert(at, family);
            at
        }
    };
    let metrics = families[at].mut_metric();
    metrics.extend(series);
    metrics.sort_by(|a, b| {
        let key = |m: &Metric| {
            m.get_label()
                .iter()
                .map(|l| l.value().to_owned())
                .collect::<Vec<_>>()
        };
        key(a).cmp(&key(b))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_add_up_across_threads() {
        let shards = Arc::new(Shards::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let shard = shards.new_shard();
                std::thread::spawn(move || {
                    for i in 0..10_000 {
                        shard.cache(CacheResult::Hit);
                        shard.page(if i % 10 == 0 { 304 } else { 200 }, 0.000_2);
                    }
                    assert!(!shard.page(503, 0.002), "503 is not a shard's");
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let t = shards.totals();
        assert_eq!(t.cache(CacheResult::Hit), 40_000);
        assert_eq!(t.status(200) + t.status(304), 40_000);
        assert_eq!(t.status(304), 4_000);
        assert_eq!(t.count, 40_004);
        // 0.0002 s falls in the 0.00025 bucket, 0.002 in 0.0025.
        assert_eq!(t.buckets[2], 40_000);
        assert_eq!(t.buckets[5], 4);
        assert!((t.seconds - (40_000.0 * 0.000_2 + 4.0 * 0.002)).abs() < 1e-6);
    }
}
