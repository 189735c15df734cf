//! How keel's cache-hit path scales across threads: total answers per
//! second, summed over the threads, of `front::answer` (the whole of a hit
//! but the socket: parse, lookup, negotiation, headers, body, metrics, as in
//! `cache_hit`'s `front/*`) for 1, 2, 4 and 8 OS threads, each with its own
//! current-thread tokio runtime and `front::Worker`, as `keel serve` runs
//! its workers. Every request asks for brotli.
//!
//! Workloads: `hot`, every request for one 40 KB match page; `uniform`,
//! 1,000 such pages, each thread walking all of them in its own
//! pseudo-random order; `unknown`, 1,000 paths nothing is published at,
//! walked the same way, each answered with the not-found page from memory
//! (the index, the not-found page; what a flood of made-up URLs costs).
//! States: `shared`, one page cache, one `Metrics` and
//! one `Front` for all threads, as in the server; `separate`, each thread
//! its own, which nothing contends on: the linear ideal. `shared / separate`
//! is then what sharing costs at that thread count. With more threads than
//! cores the threads time-share, so past `nproc` the figures show the cost of
//! oversubscription, not more parallelism.
//!
//! Each run builds its state afresh (pages inserted, then answered once
//! each), waits on a barrier and answers for a fixed time on every thread.
//! Shared and separate runs alternate, for several rounds; the table gives
//! medians. After each run every cache lookup is checked to have been a
//! hit (for `unknown`, a not-found answer from the index), so no figure
//! includes a miss, a stale copy or a store query.
//!
//! Run: `cargo bench --bench hit_threads`. Settings, from the environment
//! (defaults shown): `KEEL_BENCH_THREADS=1,2,4,8`, `KEEL_BENCH_SECS=2` (per
//! run), `KEEL_BENCH_ROUNDS=3`; the defaults take about two minutes.
//! Arguments, such as the `--bench` cargo passes, are ignored. The table goes
//! to stdout, progress to stderr.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use keel::front::{self, Front, Worker};
use keel::metrics::{CacheResult, Metrics};
use keel::model::{Page, PageWrite};
use tokio::runtime::Runtime;

const UNIFORM_PAGES: usize = 1_000;
const UNKNOWN_PATHS: usize = 1_000;

/// Answers between clock reads, so that reading the clock costs the loop
/// next to nothing.
const BATCH: usize = 64;

#[derive(Debug, Clone, Copy)]
enum Workload {
    Hot,
    Uniform,
    Unknown,
}

impl Workload {
    const ALL: [Workload; 3] = [Workload::Hot, Workload::Uniform, Workload::Unknown];

    fn name(self) -> &'static str {
        match self {
            Workload::Hot => "hot",
            Workload::Uniform => "uniform",
            Workload::Unknown => "unknown",
        }
    }

    /// The pages published before the run.
    fn published(self) -> Vec<String> {
        match self {
            Workload::Hot => vec![support::PATH.to_owned()],
            Workload::Uniform => uniform_paths(),
            // A site as large as `uniform`'s, so the 404s search an index
            // of its size.
            Workload::Unknown => uniform_paths(),
        }
    }

    /// The paths the run asks for.
    fn requested(self) -> Vec<String> {
        match self {
            Workload::Hot | Workload::Uniform => self.published(),
            Workload::Unknown => (0..UNKNOWN_PATHS)
                .map(|i| format!("/matches/gone-{i:04}"))
                .collect(),
        }
    }

    /// The status and cache result of every answer.
    fn expected(self) -> (&'static [u8], CacheResult) {
        match self {
            Workload::Hot | Workload::Uniform => (b"HTTP/1.1 200 ", CacheResult::Hit),
            Workload::Unknown => (b"HTTP/1.1 404 ", CacheResult::Negative),
        }
    }
}

fn uniform_paths() -> Vec<String> {
    (0..UNIFORM_PAGES)
        .map(|i| format!("/matches/m{i:04}"))
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Shared,
    Separate,
}

struct Settings {
    threads: Vec<usize>,
    run: Duration,
    rounds: usize,
}

impl Settings {
    fn from_env() -> Result<Settings, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let threads = match var("KEEL_BENCH_THREADS") {
            None => vec![1, 2, 4, 8],
            Some(list) => list
                .split(',')
                .map(|n| match n.trim().parse::<usize>() {
                    Ok(n) if n > 0 => Ok(n),
                    _ => Err(format!("KEEL_BENCH_THREADS: {n:?} is not a thread count")),
                })
                .collect::<Result<_, _>>()?,
        };
        let run = match var("KEEL_BENCH_SECS") {
            None => Duration::from_secs(2),
            Some(secs) => match secs.trim().parse::<f64>() {
                Ok(s) if s > 0.0 && s.is_finite() => Duration::from_secs_f64(s),
                _ => return Err(format!("KEEL_BENCH_SECS: {secs:?} is not a duration")),
            },
        };
        let rounds = match var("KEEL_BENCH_ROUNDS") {
            None => 3,
            Some(rounds) => match rounds.trim().parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => return Err(format!("KEEL_BENCH_ROUNDS: {rounds:?} is not a count")),
            },
        };
        Ok(Settings {
            threads,
            run,
            rounds,
        })
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Database files for the states, in one temporary directory; several
/// states exist at once, so each gets its own file.
struct Databases {
    dir: tempfile::TempDir,
    next: AtomicUsize,
}

impl Databases {
    fn new() -> Databases {
        Databases {
            dir: tempfile::tempdir().expect("temp dir"),
            next: AtomicUsize::new(0),
        }
    }

    fn next(&self) -> PathBuf {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.dir.path().join(format!("bench-{n}.db"))
    }
}

fn request(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: keel.test\r\nAccept-Encoding: br\r\n\r\n").into_bytes()
}

/// The requests for `paths` in an order of `thread`'s own (a Fisher-Yates
/// shuffle driven by xorshift64), so that threads sharing a cache do not
/// read the same entries in step.
fn walk(paths: &[String], thread: usize) -> Vec<Vec<u8>> {
    let mut order: Vec<&str> = paths.iter().map(String::as_str).collect();
    let mut x = (thread as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for i in (1..order.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
    order.into_iter().map(request).collect()
}

/// A front whose cache holds every page of a workload.
struct State {
    front: Arc<Front>,
    metrics: Arc<Metrics>,
    /// What every lookup must have been.
    result: CacheResult,
    /// Lookups before the timed run: one per path requested.
    warm: u64,
}

impl State {
    /// The cache, its `Metrics` shared with the front as the server shares
    /// them; every page inserted, then every path requested answered once.
    async fn new(db: &Path, workload: Workload) -> State {
        let metrics = Arc::new(Metrics::new());
        let cache = Arc::new(support::cache(db, metrics.clone()).await);
        let template = support::page();
        // In slices: a batch of writes holds a copy of every page in it
        // besides the cache's, and separate states are built several at once.
        for slice in workload.published().chunks(100) {
            let writes: Vec<PageWrite> = slice
                .iter()
                .map(|path| {
                    PageWrite::Upsert(Page {
                        path: path.clone(),
                        ..template.clone()
                    })
                })
                .collect();
            cache.apply(&writes).await;
        }
        let front = Arc::new(Front::new(cache, metrics.clone(), support::limits()));
        let worker = Worker::new(front.clone(), support::no_app());
        let mut out = Vec::with_capacity(64 * 1024);
        let (status, result) = workload.expected();
        let requested = workload.requested();
        for path in &requested {
            out.clear();
            let answer = front::answer(&worker, &request(path), &mut out).await;
            assert!(
                matches!(answer, front::Answer::Page { .. }) && out.starts_with(status),
                "{path} is not answered with {}",
                String::from_utf8_lossy(status).trim_end()
            );
        }
        State {
            front,
            metrics,
            result,
            warm: requested.len() as u64,
        }
    }

    /// Panics unless every lookup since the cache was built had the
    /// workload's result: a hit (pages stay fresh for 300 s after
    /// insertion, far longer than a run), or for unknown paths a 404 from
    /// the index.
    fn assert_all_expected(&self, answered: u64) {
        let count = |result| self.metrics.cache_requests(result);
        assert_eq!(
            count(self.result),
            self.warm + answered,
            "cache lookups with result {}",
            self.result.label()
        );
        for other in CacheResult::ALL {
            if other != self.result {
                assert_eq!(
                    count(other),
                    0,
                    "cache lookups with result {}",
                    other.label()
                );
            }
        }
    }
}

/// Answers `requests` round and round for `length`, reusing one output
/// buffer as a connection does: how many, and in how long.
async fn drive(worker: &Worker, requests: &[Vec<u8>], length: Duration) -> (u64, Duration) {
    let mut out = Vec::with_capacity(64 * 1024);
    let mut next = requests.iter().cycle();
    let mut answered = 0;
    let start = Instant::now();
    loop {
        for raw in next.by_ref().take(BATCH) {
            out.clear();
            let answer = front::answer(worker, raw, &mut out).await;
            assert!(matches!(answer, front::Answer::Page { .. }));
            std::hint::black_box(out.len());
        }
        answered += BATCH as u64;
        let elapsed = start.elapsed();
        if elapsed >= length {
            return (answered, elapsed);
        }
    }
}

/// One timed run: answers per second, summed over the threads' own rates
/// (each from its own start to its own end).
fn run(
    workload: Workload,
    threads: usize,
    mode: Mode,
    length: Duration,
    setup: &Runtime,
    databases: &Databases,
) -> f64 {
    let paths = workload.requested();
    let shared =
        (mode == Mode::Shared).then(|| setup.block_on(State::new(&databases.next(), workload)));
    let barrier = Barrier::new(threads);
    let results: Vec<(u64, Duration)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                let (paths, barrier, shared) = (&paths, &barrier, shared.as_ref());
                scope.spawn(move || {
                    let rt = runtime();
                    let own = match shared {
                        Some(_) => None,
                        None => Some(rt.block_on(State::new(&databases.next(), workload))),
                    };
                    let state = shared.or(own.as_ref()).expect("a state");
                    // The worker holds an `Rc` app, so it is built on its thread.
                    let worker = Worker::new(state.front.clone(), support::no_app());
                    let requests = walk(paths, thread);
                    barrier.wait();
                    let (answered, elapsed) = rt.block_on(drive(&worker, &requests, length));
                    if let Some(own) = &own {
                        own.assert_all_expected(answered);
                    }
                    (answered, elapsed)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("bench thread"))
            .collect()
    });
    if let Some(shared) = &shared {
        shared.assert_all_expected(results.iter().map(|(answered, _)| answered).sum());
    }
    results
        .iter()
        .map(|&(answered, elapsed)| answered as f64 / elapsed.as_secs_f64())
        .sum()
}

/// The samples of one table row.
struct Row {
    workload: Workload,
    threads: usize,
    shared: Vec<f64>,
    separate: Vec<f64>,
}

fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    }
}

fn millions(rate: f64) -> String {
    format!("{:.2} M", rate / 1e6)
}

fn machine() -> String {
    let nproc = Command::new("nproc")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|n| n.trim().to_owned())
        .or_else(|| {
            std::thread::available_parallelism()
                .ok()
                .map(|n| n.to_string())
        })
        .unwrap_or_else(|| "?".into());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                (key.trim() == "model name").then(|| value.trim().to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("machine: nproc {nproc}, {model}")
}

fn main() {
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("hit_threads: {err}");
            std::process::exit(2);
        }
    };
    let setup = runtime();
    let databases = Databases::new();
    let mut rows: Vec<Row> = Workload::ALL
        .iter()
        .flat_map(|&workload| {
            settings.threads.iter().map(move |&threads| Row {
                workload,
                threads,
                shared: Vec::new(),
                separate: Vec::new(),
            })
        })
        .collect();

    // Rounds outermost, so that a slow spell of the shared machine lands on
    // one sample of many rows rather than on every sample of one.
    for round in 0..settings.rounds {
        // Which state runs first alternates, so that neither always runs
        // right after the other.
        let order = if round.is_multiple_of(2) {
            [Mode::Shared, Mode::Separate]
        } else {
            [Mode::Separate, Mode::Shared]
        };
        for row in &mut rows {
            for mode in order {
                let rate = run(
                    row.workload,
                    row.threads,
                    mode,
                    settings.run,
                    &setup,
                    &databases,
                );
                eprintln!(
                    "round {}/{}: {} {} thread(s) {:?}: {} answers/s",
                    round + 1,
                    settings.rounds,
                    row.workload.name(),
                    row.threads,
                    mode,
                    millions(rate),
                );
                match mode {
                    Mode::Shared => row.shared.push(rate),
                    Mode::Separate => row.separate.push(rate),
                }
            }
        }
    }

    println!("{}", machine());
    println!(
        "{} s per run, {} round(s), medians; `front::answer`, brotli, 40 KB pages",
        settings.run.as_secs_f64(),
        settings.rounds,
    );
    println!();
    println!("| workload | threads | shared answers/s | separate answers/s | shared / separate |");
    println!("|---|---:|---:|---:|---:|");
    for row in &rows {
        let (shared, separate) = (median(&row.shared), median(&row.separate));
        println!(
            "| {} | {} | {} | {} | {:.2} |",
            row.workload.name(),
            row.threads,
            millions(shared),
            millions(separate),
            shared / separate,
        );
    }
    println!();
    // One thread on the shared state is `keel serve --workers 1`: the figure
    // to hold against the single-threaded path (`cache_hit`'s `front/br`).
    for row in rows.iter().filter(|row| row.threads == 1) {
        let rate = median(&row.shared);
        println!(
            "1 thread, {}: {} answers/s ({:.3} µs an answer)",
            row.workload.name(),
            millions(rate),
            1e6 / rate,
        );
    }
}
