//! How soon a publish is visible at the edge: two `keel` nodes on one
//! PostgreSQL database behind a real Varnish running the shipped
//! `deploy/varnish/keel.vcl`, both purging it (`--edge-purge`). Each round
//! changes a live match's score through one node (alternately), then reads
//! the match page through Varnish every 2 ms until it carries the new
//! ETag; the time from the publish response to that read is the latency.
//! Also counted: responses that show the edge refetched an old version
//! after the purge (an old ETag from a fetch, or an old ETag served fresh
//! after a stale one), and the purges sent before both nodes held a
//! change (`keel_outbox_forced_total`).
//!
//! cargo run --release --example edge_latency -- [--publishes 100]
//!     [--pg postgres://postgres@127.0.0.1:5432/test]
//!
//! Needs `varnishd` and the xkey VMOD (Debian: varnish, varnish-modules).

#[path = "support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use keel::config::DatabaseUrl;
use keel::store::Role;
use serde_json::json;
use support::{build_keel, free_port};

struct Args {
    publishes: usize,
    pg: String,
}

/// Kills the processes it holds when dropped.
struct Procs(Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let keel = build_keel()?;
    let db = format!("keel_edge_{}", uuid::Uuid::now_v7().simple());
    let (client, conn) = tokio_postgres::connect(&args.pg, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE DATABASE {db}"))
        .await?;
    let url = replace_db(&args.pg, &db);
    let result = run(&keel, &url, args.publishes).await;
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .await?;
    result
}

async fn run(keel: &Path, url: &str, publishes: usize) -> anyhow::Result<()> {
    let (a, b, v) = (free_port()?, free_port()?, free_port()?);
    let dir = tempfile::tempdir()?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(
        root.join("deploy/varnish/keel.vcl"),
        dir.path().join("keel.vcl"),
    )?;
    std::fs::write(dir.path().join("keel-site.vcl"), site_vcl(a, b))?;
    let mut procs = Procs(Vec::new());
    procs.0.push(
        Command::new("varnishd")
            .args(["-F", "-j", "none", "-T", "none", "-s", "malloc,256m"])
            .arg("-n")
            .arg(dir.path().join("work"))
            .args(["-a", &format!("127.0.0.1:{v}")])
            .arg("-f")
            .arg(dir.path().join("keel.vcl"))
            .arg("-p")
            .arg(format!("vcl_path={}", dir.path().display()))
            .args(["-p", "http_resp_hdr_len=16k", "-p", "http_resp_size=64k"])
            .args(["-p", "workspace_backend=256k"])
            .stdout(Stdio::null())
            .spawn()
            .context("starting varnishd")?,
    );
    let http = reqwest::Client::new();
    let edge = format!("http://127.0.0.1:{v}");
    wait_for(&http, &format!("{edge}/nothing-here"), |s| s != 0).await?;
    for (port, demo) in [(a, true), (b, false)] {
        let mut cmd = Command::new(keel);
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--database-url", url])
            .arg("--content-types")
            .arg(root.join("content-types"))
            .args(["--edge-purge", &format!("varnish:{edge}")])
            .args([
                "--log",
                "warn",
                "--prewarm-every",
                "1h",
                "--schedule-every",
                "1h",
            ])
            .stdout(Stdio::null());
        if demo {
            cmd.arg("--demo");
        }
        procs.0.push(cmd.spawn().context("starting keel")?);
        wait_for(&http, &format!("http://127.0.0.1:{port}/readyz"), |s| {
            s == 200
        })
        .await?;
    }
    // Varnish probes both nodes before it sends them readers.
    wait_for(&http, &format!("{edge}/readyz"), |s| s == 200).await?;

    let store = keel::store::open(&DatabaseUrl::parse(url)?).await?;
    let secret = keel::auth::generate_token();
    store
        .create_token(
            "edge-latency",
            Role::Editor,
            &keel::auth::hash_token(&secret),
        )
        .await?;
    let live = store
        .published_entries("match")
        .await?
        .into_iter()
        .find(|m| {
            m.published_data
                .as_ref()
                .is_some_and(|d| d["status"] == "live")
        })
        .context("a live demo match")?;
    let path = format!(
        "/matches/{}",
        live.published_slug.clone().unwrap_or_default()
    );
    let page_url = format!("{edge}{path}");
    let nodes = [
        format!("http://127.0.0.1:{a}"),
        format!("http://127.0.0.1:{b}"),
    ];

    let mut latencies = Vec::with_capacity(publishes);
    let mut old_refetches = 0usize;
    for i in 0..publishes {
        let old = edge_read(&http, &page_url).await?.0;
        let node = &nodes[i % 2];
        let entry = format!("{node}/api/v1/entries/match/{}", live.id);
        let r = http
            .patch(&entry)
            .bearer_auth(&secret)
            .header("If-Match", "*")
            .json(&json!({"data": {"home_score": i + 1}}))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("patch: {} {}", r.status(), r.text().await?);
        }
        let r = http
            .post(format!("{entry}/publish"))
            .bearer_auth(&secret)
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("publish: {} {}", r.status(), r.text().await?);
        }
        let published = Instant::now();
        let new = format!("\"{}\"", store.page(&path).await?.context("the page")?.etag);
        let mut seen_stale = false;
        loop {
            let (etag, status) = edge_read(&http, &page_url).await?;
            if etag == new {
                latencies.push(published.elapsed());
                break;
            }
            // The old version came from a fetch, or fresh after the purge.
            if etag == old
                && (status.contains("varnish; fwd=miss")
                    || (seen_stale && !status.contains("fwd=stale")))
            {
                old_refetches += 1;
            }
            seen_stale |= status.contains("fwd=stale");
            if published.elapsed() > Duration::from_secs(10) {
                bail!("publish {i} not visible at the edge within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    latencies.sort();
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies[i].as_secs_f64() * 1000.0
    };
    let mut forced = 0.0;
    for node in &nodes {
        let text = http
            .get(format!("{node}/metrics"))
            .send()
            .await?
            .text()
            .await?;
        forced += text
            .lines()
            .filter(|l| l.starts_with("keel_outbox_forced_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>();
    }
    println!("publishes: {publishes} (two nodes on PostgreSQL, Varnish 7 with the shipped VCL)");
    println!(
        "visible at the edge after the publish response: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(1.0)
    );
    println!("old versions refetched by the edge after a purge: {old_refetches}");
    println!("purges sent before both nodes held the change: {forced}");
    Ok(())
}

/// The page's ETag and Cache-Status through the edge.
async fn edge_read(http: &reqwest::Client, url: &str) -> anyhow::Result<(String, String)> {
    let r = http
        .get(url)
        .header("Accept-Encoding", "identity")
        .send()
        .await?;
    let header = |n: &str| {
        r.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let out = (header("etag"), header("cache-status"));
    r.bytes().await?;
    Ok(out)
}

async fn wait_for(
    http: &reqwest::Client,
    url: &str,
    ok: impl Fn(u16) -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http.get(url).send().await
            && ok(r.status().as_u16())
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{url} not ready within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn site_vcl(a: u16, b: u16) -> String {
    let backend = |name: &str, port: u16| {
        format!(
            "backend {name} {{ .host = \"127.0.0.1\"; .port = \"{port}\"; .probe = keel_ready; }}\n"
        )
    };
    format!(
        "probe keel_ready {{ .url = \"/readyz\"; .timeout = 1s; .interval = 1s; .window = 3; .threshold = 2; .initial = 2; }}\n\
         {}{}\
         sub vcl_init {{ new keel = directors.round_robin(); keel.add_backend(node_a); keel.add_backend(node_b); }}\n\
         acl keel_purgers {{ \"127.0.0.1\"; }}\n",
        backend("node_a", a),
        backend("node_b", b)
    )
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        publishes: 100,
        pg: "postgres://postgres@127.0.0.1:5432/test".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--publishes" => args.publishes = value.parse()?,
            "--pg" => args.pg = value,
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(args)
}

fn replace_db(url: &str, db: &str) -> String {
    match url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{db}"),
        None => url.to_owned(),
    }
}
