//! keel-loadtest: the spike test SREs run against keel (usually through
//! `loadtest/spike.sh`, which also builds and starts the server). It waits
//! for `/readyz`, optionally seeds a match-day site through the editor API,
//! discovers the published paths, pre-warms, sends the profile's open-model
//! load, and writes the report. The exit code is 0 when every goal is met,
//! 1 when one is missed, 2 when the test could not run.
//!
//! Map: `profile` (phases, intended send times), `http` (connection pool,
//! editor API client), `site` (discovery, Zipf traffic), `seed`, `run`
//! (scheduler and phase edges), `live` (editor updates during the spike),
//! `stats`, `scrape` (keel's /metrics), `pgstats`, `report`, `svg`.

mod http;
mod live;
mod pgstats;
mod profile;
mod prose;
mod report;
mod run;
mod scrape;
mod seed;
mod site;
mod stats;
mod svg;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use hyper::Method;
use hyper::header::HeaderValue;
use serde_json::{Value, json};

use crate::http::{Api, Pool};
use crate::profile::Profile;
use crate::report::{Context, Goals};
use crate::site::{Enc, Site, Traffic};

/// Open-model spike load test for keel: constant arrival rate per phase,
/// latency from each request's intended send time, Zipf-distributed paths.
#[derive(Debug, Parser)]
#[command(name = "keel-loadtest", version, about, long_about = None)]
struct Args {
    /// keel's base URL (http only).
    #[arg(
        long,
        env = "KEEL_LOADTEST_TARGET",
        default_value = "http://127.0.0.1:8080"
    )]
    target: String,

    /// Editor API token (admin to pre-warm through the API). Without one the
    /// site is crawled from `/` and nothing is seeded or updated.
    #[arg(long, env = "KEEL_LOADTEST_TOKEN", hide_env_values = true)]
    token: Option<String>,

    /// Phases as NAME=RATErps:DURATION,...; a phase named ramp* rises
    /// linearly from the previous phase's rate.
    #[arg(long, default_value = Profile::DEFAULT, conflicts_with = "quick")]
    profile: String,

    /// The same shape in under a minute (CI), with a smaller seed.
    #[arg(long)]
    quick: bool,

    /// Seed a match-day site through the editor API before the run.
    #[arg(long)]
    seed: bool,

    /// Teams to seed [default: 24, --quick 12].
    #[arg(long)]
    seed_teams: Option<usize>,

    /// Matches to seed, kick-offs around now [default: 300, --quick 60].
    #[arg(long)]
    seed_matches: Option<usize>,

    /// Articles to seed [default: 60, --quick 20].
    #[arg(long)]
    seed_articles: Option<usize>,

    /// Creates and publishes in flight at once while seeding.
    #[arg(long, default_value_t = 4)]
    seed_concurrency: usize,

    /// Do not pre-warm before the run.
    #[arg(long)]
    no_prewarm: bool,

    /// Keep-alive connections for reader traffic.
    #[arg(long, default_value_t = 64)]
    connections: usize,

    /// Reader requests in flight at most; past it a request is dropped and
    /// counted as a `client_overload` error.
    #[arg(long, default_value_t = 4096)]
    max_in_flight: usize,

    /// A request not answered within this is a `timeout` error.
    #[arg(long, default_value = "10s", value_parser = profile::parse_duration)]
    timeout: Duration,

    /// Threads of the load generator (leave the rest of the cores to keel
    /// when both share a machine).
    #[arg(long, default_value_t = 1)]
    threads: usize,

    /// Zipf exponent of path popularity over the hotness rank.
    #[arg(long, default_value_t = 1.0)]
    zipf_s: f64,

    /// Share of requests for paths that do not exist (404 expected).
    #[arg(long, default_value_t = 0.05, value_parser = share)]
    unknown_share: f64,

    /// Share of requests sent with If-None-Match (the last ETag seen for
    /// that path and encoding).
    #[arg(long, default_value_t = 0.2, value_parser = share)]
    conditional_share: f64,

    /// Accept-Encoding mix as weights.
    #[arg(long, default_value = "br=60,gzip=30,none=10", value_parser = site::parse_encodings)]
    encodings: [f64; 3],

    /// Editor score updates per second on live matches during the spike
    /// phases, e.g. 2/s.
    #[arg(long, value_parser = live::parse_rate)]
    live_updates: Option<f64>,

    /// keel's database: with postgres://, PostgreSQL's statistics are read
    /// at every phase edge as an independent check.
    #[arg(long, env = "KEEL_DATABASE_URL")]
    database_url: Option<String>,

    /// Where report.json, report.md and spike.svg go.
    #[arg(long, default_value = "loadtest/out")]
    out: PathBuf,

    /// Goal: p99 latency of every phase, in milliseconds.
    #[arg(long, default_value_t = 50.0)]
    max_p99_ms: f64,

    /// Goal: errors / requests of every phase.
    #[arg(long, default_value_t = 0.001)]
    max_error_rate: f64,

    /// Goal: page reads from the database per 1000 reader responses in the
    /// spike phases.
    #[arg(long, default_value_t = 0.0)]
    max_db_queries_per_1k_requests: f64,

    /// How long to wait for /readyz to answer 200.
    #[arg(long, default_value = "60s", value_parser = profile::parse_duration)]
    ready_timeout: Duration,

    /// Most pages to crawl when discovering without a token.
    #[arg(long, default_value_t = 5000)]
    max_paths: usize,

    /// Request only the paths in this file (one per line, hottest first)
    /// instead of discovering the site: any HTTP server can then be the
    /// target (with --no-prewarm, --zipf-s 0 for uniform traffic).
    #[arg(long, conflicts_with = "seed")]
    paths: Option<PathBuf>,

    /// Write the site's page paths (hottest first, the JSON documents left
    /// out) to this file and stop: no pre-warm, no load. With --seed it
    /// builds a site for another tool (loadtest/compare-nginx.sh).
    #[arg(long, conflicts_with = "paths")]
    paths_out: Option<PathBuf>,

    /// Seed of the request mix, for repeatable runs.
    #[arg(long, default_value_t = 1)]
    rng_seed: u64,
}

fn share(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a share between 0 and 1")),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build();
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Ok(passed) once a report was written.
async fn run(args: Args) -> anyhow::Result<bool> {
    let profile = Profile::parse(if args.quick {
        Profile::QUICK
    } else {
        &args.profile
    })
    .context("--profile")?;
    let addr = target_addr(&args.target)?;
    let api = Arc::new(Api::new(addr, args.token.as_deref(), 12)?);
    let pool = Arc::new(Pool::new(addr, args.connections.max(1), args.timeout));
    let mut notes = Vec::new();

    wait_ready(&api, args.ready_timeout).await?;

    let started_at = chrono::Utc::now();
    let seeded = if args.seed {
        if !api.has_token() {
            bail!("--seed needs --token (an editor or admin token)");
        }
        let (teams, matches, articles) = if args.quick {
            (12, 60, 20)
        } else {
            (24, 300, 60)
        };
        let size = seed::SeedSize {
            teams: args.seed_teams.unwrap_or(teams).max(2),
            matches: args.seed_matches.unwrap_or(matches).max(1),
            articles: args.seed_articles.unwrap_or(articles),
        };
        eprintln!(
            "seeding {} teams, {} matches, {} articles through the editor API",
            size.teams, size.matches, size.articles
        );
        let report = seed::seed(api.clone(), size, args.seed_concurrency, started_at).await?;
        Some(serde_json::to_value(report)?)
    } else {
        None
    };

    let site = match &args.paths {
        Some(file) => site::from_file(file)?,
        None => site::discover(&api, chrono::Utc::now(), args.max_paths).await?,
    };
    eprintln!(
        "site: {} paths, {} live matches ({})",
        site.paths.len(),
        site.live.len(),
        site.source
    );
    if let Some(file) = &args.paths_out {
        let pages: String = site
            .paths
            .iter()
            .filter(|p| !p.path.starts_with("/api/"))
            .map(|p| format!("{}\n", p.path))
            .collect();
        std::fs::write(file, pages).with_context(|| format!("writing {}", file.display()))?;
        eprintln!("paths written to {}", file.display());
        return Ok(true);
    }
    let live_rate = args.live_updates.unwrap_or(0.0);
    if live_rate > 0.0 && site.live.is_empty() {
        notes.push("--live-updates asked for, but no live match was found: none sent".into());
    }

    let prewarm = if args.no_prewarm {
        json!({ "method": "none" })
    } else {
        prewarm(&api, &pool, &site).await
    };
    eprintln!("pre-warm: {}", prewarm_summary(&prewarm));

    let pg = match args.database_url.as_deref() {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            notes.push(
                "PostgreSQL statistics reach pg_stat_* up to seconds late and include one \
                 query of this tool per phase edge: a check on keel's counters, not to the unit"
                    .into(),
            );
            Some(pgstats::PgStats::connect(url).await?)
        }
        _ => None,
    };

    let traffic = Arc::new(
        Traffic::new(
            site.paths.len(),
            args.zipf_s,
            args.encodings,
            args.unknown_share,
            args.conditional_share,
        )
        .map_err(anyhow::Error::msg)?,
    );
    let site = Arc::new(site);
    eprintln!(
        "running {} phases over {:.0} s (peak {:.0} rps)",
        profile.phases.len(),
        profile.total_duration().as_secs_f64(),
        profile.peak_rps()
    );
    let load = run::Load {
        pool,
        api: api.clone(),
        traffic,
        site: site.clone(),
        max_in_flight: args.max_in_flight.max(1),
        rng_seed: args.rng_seed,
        pg,
        live_rate,
    };
    let outcomes = load.run(&profile).await;

    let hottest: Vec<&str> = site.paths.iter().take(5).map(|p| p.path.as_str()).collect();
    let report = report::build(
        &profile,
        &outcomes,
        Context {
            target: args.target.clone(),
            started_at: started_at.to_rfc3339(),
            settings: json!({
                "connections": args.connections,
                "max_in_flight": args.max_in_flight,
                "timeout_s": args.timeout.as_secs_f64(),
                "threads": args.threads,
                "zipf_s": args.zipf_s,
                "unknown_share": args.unknown_share,
                "conditional_share": args.conditional_share,
                "encodings": Enc::ALL.iter().zip(args.encodings).map(|(e, w)| (e.name(), w)).collect::<std::collections::BTreeMap<_, _>>(),
                "live_updates_per_s": live_rate,
                "postgres_stats": args.database_url.as_deref().is_some_and(|u| u.starts_with("postgres")),
                "rng_seed": args.rng_seed,
            }),
            site: json!({
                "paths": site.paths.len(),
                "live_matches": site.live.len(),
                "hottest": hottest,
                "source": site.source,
            }),
            seed: seeded,
            prewarm,
            goals: Goals {
                max_p99_ms: args.max_p99_ms,
                max_error_rate: args.max_error_rate,
                max_db_queries_per_1k_requests: args.max_db_queries_per_1k_requests,
            },
            notes,
        },
    );
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let write = |name: &str, body: String| {
        let path = args.out.join(name);
        std::fs::write(&path, body).with_context(|| format!("writing {}", path.display()))
    };
    write("report.json", serde_json::to_string_pretty(&report)? + "\n")?;
    write("report.md", report::markdown(&report))?;
    write("spike.svg", svg::render(&report))?;
    println!("{}", report::table(&report));
    println!(
        "wrote {}/report.json, report.md, spike.svg",
        args.out.display()
    );
    if !report.passed {
        for c in report.checks.iter().filter(|c| !c.passed) {
            eprintln!("goal missed: {}", c.describe());
        }
    }
    Ok(report.passed)
}

fn target_addr(target: &str) -> anyhow::Result<SocketAddr> {
    let rest = target
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("--target {target:?}: only http:// URLs are supported"))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    if !rest
        .trim_start_matches(authority)
        .trim_matches('/')
        .is_empty()
    {
        bail!("--target {target:?}: give the server's base URL, without a path");
    }
    let with_port = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    with_port
        .to_socket_addrs()
        .with_context(|| format!("--target {target:?}: cannot resolve {with_port}"))?
        .next()
        .ok_or_else(|| anyhow::anyhow!("--target {target:?}: {with_port} resolves to nothing"))
}

/// Polls `/readyz` until 200: a node answers 503 until it has warmed.
async fn wait_ready(api: &Api, timeout: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut last = String::from("no answer");
    while started.elapsed() < timeout {
        match api.call(Method::GET, "/readyz", None).await {
            Ok(r) if r.status == 200 => return Ok(()),
            Ok(r) => last = format!("{} {}", r.status, r.text().trim()),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    bail!(
        "keel was not ready within {:.0} s (last /readyz: {last})",
        timeout.as_secs_f64()
    )
}

/// `POST /api/v1/prewarm` when keel has it; otherwise (404, no token) each
/// path is requested once per compressed encoding, so the run starts warm.
/// One line for the console; the report keeps the whole answer.
fn prewarm_summary(prewarm: &Value) -> String {
    let Some(response) = prewarm.get("response") else {
        return prewarm.to_string();
    };
    let count = |v: &Value| v.as_array().map_or(0, Vec::len);
    format!(
        "{}: {} entries in their window, {} paths pinned, {} loaded ({} already cached) in {} queries",
        prewarm["method"].as_str().unwrap_or("?"),
        count(&response["entries"]),
        response["pinned"],
        response["warm"]["loaded"],
        response["warm"]["cached"],
        response["warm"]["queries"],
    )
}

async fn prewarm(api: &Api, pool: &Pool, site: &Site) -> Value {
    if api.has_token() {
        match api.call(Method::POST, "/api/v1/prewarm", None).await {
            Ok(r) if r.status.is_success() => {
                let body = serde_json::from_str(&r.text()).unwrap_or(Value::Null);
                return json!({ "method": "POST /api/v1/prewarm", "response": body });
            }
            Ok(r) if r.status == 404 || r.status == 405 => {}
            Ok(r) => {
                return json!({ "method": "POST /api/v1/prewarm", "failed": format!("{} {}", r.status, r.text().trim()) });
            }
            Err(e) => return json!({ "method": "POST /api/v1/prewarm", "failed": e.to_string() }),
        }
    }
    let started = Instant::now();
    let mut failed = 0u64;
    let mut sent = 0u64;
    for chunk in site.paths.chunks(32) {
        let mut tasks = Vec::new();
        for p in chunk {
            for enc in [Enc::Br, Enc::Gzip] {
                let headers = vec![(
                    "accept-encoding",
                    enc.header().unwrap_or(HeaderValue::from_static("identity")),
                )];
                tasks.push(
                    async move { pool.send(Method::GET, &p.path, &headers, None, false).await },
                );
            }
        }
        for t in tasks {
            sent += 1;
            if !matches!(t.await, Ok(r) if r.status == 200) {
                failed += 1;
            }
        }
    }
    json!({
        "method": "fallback: GET of every path with br and gzip (keel has no POST /api/v1/prewarm)",
        "requests": sent,
        "not_200": failed,
        "seconds": started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_consistent_and_takes_the_issue_flags() {
        Args::command().debug_assert();
        let a = Args::try_parse_from([
            "keel-loadtest",
            "--profile",
            "baseline=300rps:60s,ramp=3000rps:120s",
            "--live-updates",
            "2/s",
            "--max-p99-ms",
            "20",
            "--max-error-rate",
            "0.01",
            "--max-db-queries-per-1k-requests",
            "0.5",
            "--out",
            "/tmp/x",
            "--zipf-s",
            "1.2",
            "--unknown-share",
            "0.1",
            "--conditional-share",
            "0.3",
        ])
        .unwrap();
        assert_eq!(a.live_updates, Some(2.0));
        assert_eq!(a.max_db_queries_per_1k_requests, 0.5);
        assert!(
            Args::try_parse_from(["keel-loadtest", "--quick", "--profile", "a=1rps:1s"]).is_err()
        );
        assert!(Args::try_parse_from(["keel-loadtest", "--unknown-share", "2"]).is_err());
    }

    #[test]
    fn targets_are_base_http_urls() {
        assert_eq!(
            target_addr("http://127.0.0.1:8080").unwrap(),
            "127.0.0.1:8080".parse().unwrap()
        );
        assert_eq!(
            target_addr("http://127.0.0.1:9/").unwrap(),
            "127.0.0.1:9".parse().unwrap()
        );
        assert!(
            target_addr("https://x:1")
                .unwrap_err()
                .to_string()
                .contains("http://")
        );
        assert!(
            target_addr("http://127.0.0.1:1/api")
                .unwrap_err()
                .to_string()
                .contains("without a path")
        );
    }
}
