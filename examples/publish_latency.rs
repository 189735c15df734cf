//! Measures create -> publish of a match through the editor API, end to end
//! over HTTP against a real keel server, and prints the median and p99.
//!
//! cargo run --release --example publish_latency -- [DATABASE_URL] [COUNT]
//! (default: a temporary SQLite file, 200 publishes). For PostgreSQL, pass
//! the URL of an empty database you can throw away.

use std::sync::Arc;
use std::time::{Duration, Instant};

use keel::config::{DatabaseUrl, ServeConfig};
use keel::startup::Server;
use keel::store::Role;
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = tempfile::tempdir()?;
    let url = match args.next() {
        Some(url) => DatabaseUrl::parse(&url)?,
        None => DatabaseUrl::Sqlite(dir.path().join("keel.db")),
    };
    let count: usize = args.next().map(|c| c.parse()).transpose()?.unwrap_or(200);
    let types = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("content-types");
    let config = ServeConfig {
        listen: "127.0.0.1:0".parse()?,
        workers: 2,
        schedule_every: Duration::from_secs(3600),
        ..ServeConfig::new(url.clone(), types)
    };
    let server = Server::build(config).await?;
    let base = format!("http://127.0.0.1:{}", server.port());
    let handle = server.handle();
    tokio::spawn(server.run_until_stopped());

    let store: Arc<dyn keel::store::Store> = keel::store::open(&url).await?;
    let secret = keel::auth::generate_token();
    store
        .create_token(
            &format!("bench-{}", uuid::Uuid::now_v7()),
            Role::Editor,
            &keel::auth::hash_token(&secret),
        )
        .await?;
    let client = reqwest::Client::new();
    let call = |method: reqwest::Method, path: String, body: Option<Value>| {
        let mut req = client
            .request(method, format!("{base}{path}"))
            .bearer_auth(&secret);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send()
    };
    let mut teams = Vec::new();
    for side in ["home", "away"] {
        let slug = format!("bench-{side}-{}", uuid::Uuid::now_v7().simple());
        let r: Value = call(
            reqwest::Method::POST,
            "/api/v1/entries/team".into(),
            Some(json!({"slug": slug, "data": {"name": side}})),
        )
        .await?
        .json()
        .await?;
        let id = r["id"].as_str().unwrap_or_default().to_owned();
        call(
            reqwest::Method::POST,
            format!("/api/v1/entries/team/{id}/publish"),
            None,
        )
        .await?
        .error_for_status()?;
        teams.push(id);
    }
    let mut samples = Vec::with_capacity(count);
    for i in 0..count {
        let start = Instant::now();
        let r: Value = call(
            reqwest::Method::POST,
            "/api/v1/entries/match".into(),
            Some(
                json!({"slug": format!("bench-{i}-{}", uuid::Uuid::now_v7().simple()), "data": {
                    "home_team": teams[0], "away_team": teams[1], "competition": "Bench Cup",
                    "kickoff": "2026-12-01T15:00:00Z", "report": "## Report\n\nA **close** game.",
                }}),
            ),
        )
        .await?
        .error_for_status()?
        .json()
        .await?;
        let id = r["id"].as_str().unwrap_or_default().to_owned();
        call(
            reqwest::Method::POST,
            format!("/api/v1/entries/match/{id}/publish"),
            None,
        )
        .await?
        .error_for_status()?;
        samples.push(start.elapsed());
    }
    samples.sort();
    let pct =
        |p: f64| samples[((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1];
    println!(
        "{} create->publish on {}: median {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        samples.len(),
        url.backend(),
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        samples[samples.len() - 1].as_secs_f64() * 1e3
    );
    handle.stop(true).await;
    Ok(())
}
