//! What the page cache costs in resident memory per cached page, against
//! the bytes it exists to hold (identity + brotli + gzip bodies).
//!
//! cargo run --release --example cache_memory -- [N] [--pool P] [--no-goal]
//!
//! Renders P (default 200) distinct match pages through keel's `Renderer`
//! (brotli q11 and gzip, as publishing does; each with its own slug, teams,
//! scores and a report shaped like `benches/render.rs`'s, so each
//! compresses differently), then caches N (default 10,000) pages through
//! `PageCache::apply` with `PageWrite::Upsert`, the path a publish takes.
//! Page i copies the bodies of pool page i % P into allocations of its own,
//! under a path of its own, so the bytes really are resident N times. Then
//! every page is served once per encoding through delivery's `respond`.
//!
//! The figure: RSS growth (/proc/self/statm) over the N pages, divided by
//! N, against the stored bytes per page; the overhead (header values, keys,
//! `Arc` and moka bookkeeping, the index, allocator slack) must stay within
//! 10% of those bytes, or the run exits 1 (unless `--no-goal`). The
//! baseline is taken after `malloc_trim`, so memory freed by rendering is
//! not silently reused by the cache. Measured with the system allocator
//! (glibc malloc; keel sets no global allocator).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use actix_web::http::header::{ACCEPT_ENCODING, HeaderMap, HeaderValue};
use anyhow::{Context as _, bail};
use chrono::{TimeZone, Utc};
use keel::cache::{Lookup, PageCache};
use keel::content_types::ContentTypes;
use keel::delivery::respond;
use keel::metrics::Metrics;
use keel::model::{Entry, EntryStatus, Page, PageWrite};
use keel::render::{Renderer, Snapshot};
use keel::store::Store;
use keel::store::sqlite::SqliteStore;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{Value, json};
use uuid::Uuid;

/// The goal: resident cost at most 10% above the stored bytes.
const GOAL_OVERHEAD: f64 = 0.10;
/// Large enough that nothing is evicted: every page must stay resident.
const BUDGET_BYTES: u64 = 64 << 30;

struct Args {
    pages: usize,
    pool: usize,
    goal: bool,
}

fn args() -> anyhow::Result<Args> {
    let mut out = Args {
        pages: 10_000,
        pool: 200,
        goal: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--no-goal" => out.goal = false,
            "--pool" => {
                let p = args.next().context("--pool needs a number")?;
                out.pool = p.parse().with_context(|| format!("--pool {p:?}"))?;
            }
            n => out.pages = n.parse().with_context(|| format!("page count {n:?}"))?,
        }
    }
    if out.pages == 0 || out.pool == 0 {
        bail!("the page count and --pool must be at least 1");
    }
    Ok(out)
}

fn published(type_name: &str, slug: &str, data: Value) -> Entry {
    let at = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
    Entry {
        id: Uuid::now_v7(),
        type_name: type_name.into(),
        slug: slug.into(),
        status: EntryStatus::Published,
        version: 2,
        data: data.clone(),
        published_slug: Some(slug.into()),
        published_data: Some(data),
        created_at: at,
        updated_at: at,
        published_at: Some(at),
        publish_at: None,
    }
}

const WORDS: &[&str] = &[
    "pressed",
    "high",
    "winger",
    "cut",
    "inside",
    "keeper",
    "parried",
    "corner",
    "header",
    "striker",
    "offside",
    "volley",
    "crossbar",
    "midfield",
    "tackle",
    "booked",
    "penalty",
    "counter",
    "substitute",
    "equaliser",
    "stoppage",
    "time",
    "defence",
    "crowd",
    "roared",
    "through",
    "ball",
    "post",
    "chance",
    "wasted",
    "captain",
    "clearance",
    "overlap",
];

/// A match report shaped like the one in `benches/render.rs` (twelve
/// sections, a table, footnotes: an 11 KB page), with the prose drawn at
/// random so every page's text, and so its compressed forms, differ.
fn report(rng: &mut StdRng) -> String {
    let sentence = |rng: &mut StdRng| {
        let n = rng.random_range(10..20);
        let words: Vec<&str> = (0..n)
            .map(|_| WORDS[rng.random_range(0..WORDS.len())])
            .collect();
        format!("{}.", words.join(" "))
    };
    let mut md = String::from("## Match report\n\n");
    for i in 0..12 {
        let minute = i * 7 + rng.random_range(0..7);
        let (prose, quote) = (sentence(rng), sentence(rng));
        md.push_str(&format!(
            "### Minute {minute}\n\n{prose} The [home side](https://example.com/teams/{}) \
             created chance after chance.[^{i}]\n\n> \"{quote}\" said the captain.\n\n\
             - Shots: {}\n- Corners: {}\n- ~~Offside~~ goal\n\n",
            rng.random_range(0..20),
            rng.random_range(0..20),
            rng.random_range(0..12),
        ));
    }
    let home = rng.random_range(35..65);
    md.push_str(&format!(
        "| | Home | Away |\n|---|---|---|\n| Possession | {home}% | {}% |\n| Shots | {} | {} |\n\n",
        100 - home,
        rng.random_range(0..20),
        rng.random_range(0..20),
    ));
    for i in 0..12 {
        md.push_str(&format!("[^{i}]: Opta data, minute {}.\n", i * 7));
    }
    md
}

/// Renders `count` distinct match pages (HTML, with br and gzip) on every
/// core; each page owns exactly-sized bodies.
fn render_pool(count: usize) -> anyhow::Result<Vec<Page>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("content-types");
    let types = Arc::new(ContentTypes::load(&dir).map_err(|e| anyhow::anyhow!("{e:?}"))?);
    let mut rng = StdRng::seed_from_u64(7);
    let mut teams = Vec::new();
    for i in 0..20 {
        teams.push(published(
            "team",
            &format!("team-{i}"),
            json!({"name": format!("Team {i} FC"), "country": "England", "founded": 1880 + i}),
        ));
    }
    let matches: Vec<Entry> = (0..count)
        .map(|i| {
            let home = &teams[i % teams.len()];
            let away = &teams[(i * 7 + 3) % teams.len()];
            published(
                "match",
                &format!("{}-vs-{}-{i}", home.slug, away.slug),
                json!({
                    "home_team": home.id.to_string(), "away_team": away.id.to_string(),
                    "competition": "Premier Cup", "kickoff": "2026-11-25T19:45:00Z",
                    "venue": format!("Ground {}", i % 13), "status": "finished",
                    "home_score": rng.random_range(0..6), "away_score": rng.random_range(0..6),
                    "report": report(&mut rng),
                }),
            )
        })
        .collect();
    let mut entries = teams;
    entries.extend(matches.iter().cloned());
    let renderer = Renderer::new(types, "keel", Arc::new(Metrics::new()));
    let snapshot = Snapshot::new(entries, 1);
    let now = Utc::now();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = count.div_ceil(threads);
    std::thread::scope(|s| {
        let workers: Vec<_> = matches
            .chunks(chunk)
            .map(|part| {
                let (renderer, snapshot) = (&renderer, &snapshot);
                s.spawn(move || {
                    part.iter()
                        .map(|m| {
                            let [html, _json] = renderer.entry_pages(m, snapshot, now)?;
                            Ok(html)
                        })
                        .collect::<anyhow::Result<Vec<Page>>>()
                })
            })
            .collect();
        let mut pool = Vec::with_capacity(count);
        for w in workers {
            pool.extend(w.join().expect("render thread")?);
        }
        Ok(pool)
    })
}

/// Serves every page once per encoding through delivery's `respond`, as
/// readers would: the first clone of a body or header value may allocate
/// (a `Bytes` becomes shared), and that memory is part of what a served
/// page costs.
async fn serve_every_encoding(cache: &PageCache, pages: usize) -> anyhow::Result<()> {
    let accepts: Vec<HeaderMap> = ["br", "gzip", "identity"]
        .into_iter()
        .map(|coding| {
            let mut headers = HeaderMap::new();
            headers.insert(ACCEPT_ENCODING, HeaderValue::from_static(coding));
            headers
        })
        .collect();
    for i in 0..pages {
        let path = format!("/matches/page-{i}");
        let Lookup::Hit(page) = cache.lookup(&path).await else {
            bail!("{path} is not a cache hit");
        };
        for headers in &accepts {
            drop(respond(headers, &page, HeaderValue::from_static("hit")));
        }
    }
    Ok(())
}

/// Resident set size in bytes (statm's second field, in pages).
fn rss() -> anyhow::Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").context("read /proc/self/statm")?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .context("statm has no resident field")?
        .parse()?;
    Ok(pages * 4096)
}

/// Gives freed heap pages back to the kernel, so the baseline does not
/// count memory left over from rendering that the cache would then reuse
/// unseen (which would make its growth look smaller than it is).
fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: glibc's malloc_trim only releases free memory it owns.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// Bytes the allocator has handed out and not had back (glibc's
/// `mallinfo2`: small chunks in use plus mmapped chunks), to tell live data
/// from allocator slack; `None` elsewhere.
fn heap_in_use() -> Option<u64> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        #[repr(C)]
        struct MallInfo2 {
            arena: usize,
            ordblks: usize,
            smblks: usize,
            hblks: usize,
            hblkhd: usize,
            usmblks: usize,
            fsmblks: usize,
            uordblks: usize,
            fordblks: usize,
            keepcost: usize,
        }
        unsafe extern "C" {
            fn mallinfo2() -> MallInfo2;
        }
        // SAFETY: mallinfo2 (glibc >= 2.33) only reads allocator statistics.
        let info = unsafe { mallinfo2() };
        Some((info.uordblks + info.hblkhd) as u64)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    None
}

fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / (1024.0 * 1024.0))
}

/// Runs on the main thread alone so every cache allocation comes from one
/// malloc arena, as a request-free measurement should.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let started = Instant::now();
    let pool = render_pool(args.pool)?;
    eprintln!(
        "rendered {} pages (br q11 + gzip) in {:.1} s",
        pool.len(),
        started.elapsed().as_secs_f64()
    );

    let dir = tempfile::tempdir()?;
    let sqlite = SqliteStore::open(&dir.path().join("keel.db")).await?;
    sqlite.migrate().await?;
    let store: Arc<dyn Store> = Arc::new(sqlite);
    let metrics = Arc::new(Metrics::new());
    let cache = PageCache::new(store, metrics.clone(), BUDGET_BYTES);
    // Warms moka's and the index's fixed structures with one page, removed
    // again, so the baseline already holds them.
    let mut probe = pool[0].clone();
    probe.path = "/probe".into();
    cache.apply(&[PageWrite::Upsert(probe)]).await;
    cache.apply(&[PageWrite::Delete("/probe".into())]).await;

    release_free_heap();
    let before = rss()?;
    let heap_before = heap_in_use();
    let (mut identity, mut br, mut gzip) = (0u64, 0u64, 0u64);
    for i in 0..args.pages {
        let source = &pool[i % pool.len()];
        let page = Page {
            path: format!("/matches/page-{i}"),
            etag: format!("{}{i:x}", &source.etag[..source.etag.len().min(24)]),
            seq: i64::try_from(i)? + 1,
            ..source.clone()
        };
        identity += page.identity.len() as u64;
        br += page.br.len() as u64;
        gzip += page.gzip.len() as u64;
        cache.apply(&[PageWrite::Upsert(page)]).await;
    }
    cache.refresh_gauges().await;
    let cached = rss()?;
    serve_every_encoding(&cache, args.pages).await?;
    let after = rss()?;
    let heap_after = heap_in_use();
    release_free_heap();
    let after_trim = rss()?;

    let n = args.pages as f64;
    let stored = (identity + br + gzip) as f64;
    let entries = metrics.cache_entries.get();
    let weight = metrics.cache_bytes.get() as f64;
    let growth = after.saturating_sub(before) as f64;
    let overhead = growth / stored - 1.0;
    let per = |v: f64| v / n;
    println!(
        "pages cached          {} (from {} distinct renders; keel_cache_entries {entries})",
        args.pages,
        pool.len()
    );
    println!(
        "stored bytes          {} = identity {} + br {} + gzip {}",
        mib(stored),
        mib(identity as f64),
        mib(br as f64),
        mib(gzip as f64)
    );
    println!(
        "  per page            {:.0} B = identity {:.0} + br {:.0} + gzip {:.0}",
        per(stored),
        per(identity as f64),
        per(br as f64),
        per(gzip as f64)
    );
    println!(
        "keel_cache_bytes      {} ({:.0} B per page, {:+.1}% over stored)",
        mib(weight),
        per(weight),
        (weight / stored - 1.0) * 100.0
    );
    println!(
        "RSS                   before {}, cached {}, served once {} (after malloc_trim {})",
        mib(before as f64),
        mib(cached as f64),
        mib(after as f64),
        mib(after_trim as f64)
    );
    let unserved = cached.saturating_sub(before) as f64;
    println!(
        "  cached, not served  {:.0} B per page: {:.0} B over the stored bytes, overhead {:+.2}%",
        per(unserved),
        per(unserved - stored),
        (unserved / stored - 1.0) * 100.0
    );
    println!(
        "  served once         {:.0} B per page: {:.0} B over the stored bytes, overhead {:+.2}% (goal <= {:.0}%)",
        per(growth),
        per(growth - stored),
        overhead * 100.0,
        GOAL_OVERHEAD * 100.0
    );
    if let (Some(b), Some(a)) = (heap_before, heap_after) {
        let live = a.saturating_sub(b) as f64;
        println!(
            "malloc in use         {:.0} B per page ({:.0} B over the stored bytes); \
             the rest of the RSS growth, {:.0} B, is free memory inside the heap",
            per(live),
            per(live - stored),
            per(growth - live)
        );
    }
    println!(
        "weight vs RSS         weight is {:.1}% of the RSS growth per page",
        weight / growth * 100.0
    );
    if entries != i64::try_from(args.pages)? {
        bail!(
            "the cache holds {entries} entries, not {}: something was evicted or rejected",
            args.pages
        );
    }
    if args.goal && overhead > GOAL_OVERHEAD {
        eprintln!("overhead above the goal; pass --no-goal to only report");
        std::process::exit(1);
    }
    drop(cache);
    Ok(())
}
