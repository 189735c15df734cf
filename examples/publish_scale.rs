//! Publish cost against the size of the site: for sites of 1,000, 10,000
//! and 100,000 published entries, on SQLite and on PostgreSQL, the latency
//! (p50, p99) of a live score update (PATCH + publish of a live match) and
//! of a new article (create + publish), over HTTP against the real `keel`
//! binary, and that process's peak RSS while publishing; then the wall
//! time of 8 score updates of 8 different live matches sent at once against
//! one alone, and of 8 publishes (drafts already patched) against one (p50
//! of each over `--samples / 4` rounds, alternated).
//!
//! cargo run --release --example publish_scale -- [--sizes 1000,10000,100000]
//!     [--samples 40] [--backends sqlite,postgres] [--pg postgres://postgres@127.0.0.1:5432/test]
//!
//! Each site: 20 teams, a tenth of the entries finished matches between
//! them spread over past seasons, the rest 2 KB articles (every fifth about
//! a match). They are written straight into a fresh database (a throwaway
//! SQLite file, or a PostgreSQL database created and dropped here), without
//! pages, so keel builds its list rows at start like an upgraded site. The
//! binary is built first (`cargo build --release --bin keel`).

#[path = "support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::future::try_join_all;
use keel::config::DatabaseUrl;
use keel::store::{Role, Store};
use serde_json::{Value, json};
use support::{build_keel, free_port};

const TEAMS: i64 = 20;
/// Live matches updated at once in the concurrency measurement.
const CONCURRENT: usize = 8;

struct Args {
    sizes: Vec<i64>,
    samples: usize,
    backends: Vec<String>,
    pg: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let keel = build_keel()?;
    println!(
        "| backend | entries | score p50 | score p99 | article p50 | article p99 | peak RSS | {CONCURRENT} scores at once / 1 | {CONCURRENT} publishes at once / 1 |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for backend in &args.backends {
        for &size in &args.sizes {
            let site = match Site::create(backend, size, &args.pg).await {
                Ok(site) => site,
                Err(e) if backend == "postgres" => {
                    eprintln!("postgres skipped: {e:#}");
                    break;
                }
                Err(e) => return Err(e),
            };
            let row = measure(&keel, &site, args.samples).await;
            site.drop_database().await;
            let r = row?;
            println!(
                "| {backend} | {size} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {} MiB | {:.1} / {:.1} ms = {:.2}x | {:.1} / {:.1} ms = {:.2}x |",
                r.score.0,
                r.score.1,
                r.article.0,
                r.article.1,
                r.peak_rss_mib,
                r.together,
                r.alone,
                r.together / r.alone,
                r.publish_together,
                r.publish_alone,
                r.publish_together / r.publish_alone
            );
        }
    }
    Ok(())
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        sizes: vec![1_000, 10_000, 100_000],
        samples: 40,
        backends: vec!["sqlite".into(), "postgres".into()],
        pg: "postgres://postgres@127.0.0.1:5432/test".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--sizes" => args.sizes = value.split(',').map(str::parse).collect::<Result<_, _>>()?,
            "--samples" => args.samples = value.parse()?,
            "--backends" => args.backends = value.split(',').map(str::to_owned).collect(),
            "--pg" => args.pg = value,
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(args)
}

struct Site {
    url: String,
    _dir: Option<tempfile::TempDir>,
    /// (admin URL, database name) of a PostgreSQL database to drop.
    pg: Option<(String, String)>,
}

impl Site {
    async fn create(backend: &str, size: i64, pg_admin: &str) -> anyhow::Result<Site> {
        let site = match backend {
            "sqlite" => {
                let dir = tempfile::tempdir()?;
                let url = format!("sqlite://{}", dir.path().join("keel.db").display());
                Site {
                    url,
                    _dir: Some(dir),
                    pg: None,
                }
            }
            "postgres" => {
                let name = format!("keel_scale_{}_{size}", std::process::id());
                let (client, conn) = tokio_postgres::connect(pg_admin, tokio_postgres::NoTls)
                    .await
                    .context("connecting to PostgreSQL")?;
                tokio::spawn(conn);
                client
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .await?;
                let mut url = url::Url::parse(pg_admin)?;
                url.set_path(&name);
                Site {
                    url: url.to_string(),
                    _dir: None,
                    pg: Some((pg_admin.to_owned(), name)),
                }
            }
            other => bail!("unknown backend {other}"),
        };
        let store = keel::store::open(&DatabaseUrl::parse(&site.url)?).await?;
        store.migrate().await?;
        site.fill(size).await?;
        Ok(site)
    }

    /// Writes the site in a few statements.
    async fn fill(&self, size: i64) -> anyhow::Result<()> {
        let matches = size / 10;
        let articles = size - TEAMS - matches;
        let body = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(36);
        match DatabaseUrl::parse(&self.url)? {
            DatabaseUrl::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path)?;
                let [teams_sql, matches_sql, articles_sql] = SQLITE_FILL;
                conn.execute(teams_sql, [TEAMS])?;
                conn.execute(matches_sql, [TEAMS, matches])?;
                conn.execute(articles_sql, rusqlite::params![matches, articles, body])?;
            }
            DatabaseUrl::Postgres(url) => {
                let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
                tokio::spawn(conn);
                let [teams_sql, matches_sql, articles_sql] = PG_FILL;
                client.execute(teams_sql, &[&TEAMS]).await?;
                client.execute(matches_sql, &[&TEAMS, &matches]).await?;
                client
                    .execute(articles_sql, &[&matches, &articles, &body])
                    .await?;
            }
        }
        Ok(())
    }

    async fn drop_database(&self) {
        if let Some((admin, name)) = &self.pg
            && let Ok((client, conn)) = tokio_postgres::connect(admin, tokio_postgres::NoTls).await
        {
            tokio::spawn(conn);
            let _ = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        }
    }
}

/// Teams (count), matches (teams, count), articles (matches, count, body).
/// Ids are
/// made up but valid UUIDs; times run back from now, one match every six
/// hours and one article every ten minutes.
const SQLITE_FILL: [&str; 3] = [
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) \
     INSERT INTO entries (id, type, slug, status, version, data, published_slug, published_data, \
     created_at, updated_at, published_at) \
     SELECT printf('00000000-0000-7000-8000-%012x', i), 'team', 'team-' || i, 'published', 1, d, \
     'team-' || i, d, ts, ts, ts FROM (SELECT i, json_object('name', 'Team ' || i) AS d, \
     strftime('%Y-%m-%dT%H:%M:%f', 'now', '-10 years') || '000Z' AS ts FROM n)",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2) \
     INSERT INTO entries (id, type, slug, status, version, data, published_slug, published_data, \
     created_at, updated_at, published_at) \
     SELECT printf('00000000-0000-7001-8000-%012x', i), 'match', 'match-' || i, 'published', 1, d, \
     'match-' || i, d, ts, ts, ts FROM (SELECT i, json_object( \
     'home_team', printf('00000000-0000-7000-8000-%012x', i % ?1 + 1), \
     'away_team', printf('00000000-0000-7000-8000-%012x', (i + 7) % ?1 + 1), \
     'competition', 'League', 'status', 'finished', 'home_score', i % 4, 'away_score', i % 3, \
     'kickoff', strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-' || (i * 6) || ' hours')) AS d, \
     strftime('%Y-%m-%dT%H:%M:%f', 'now', '-' || (i * 6) || ' hours') || '000Z' AS ts FROM n)",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2) \
     INSERT INTO entries (id, type, slug, status, version, data, published_slug, published_data, \
     created_at, updated_at, published_at) \
     SELECT printf('00000000-0000-7002-8000-%012x', i), 'article', 'story-' || i, 'published', 1, \
     d, 'story-' || i, d, ts, ts, ts FROM (SELECT i, CASE WHEN i % 5 = 0 AND ?1 > 0 \
     THEN json_object('title', 'Story ' || i, 'body', ?3, 'tags', json_array('news'), \
     'match', printf('00000000-0000-7001-8000-%012x', i % ?1 + 1)) \
     ELSE json_object('title', 'Story ' || i, 'body', ?3, 'tags', json_array('news')) END AS d, \
     strftime('%Y-%m-%dT%H:%M:%f', 'now', '-' || (i * 10) || ' minutes') || '000Z' AS ts FROM n)",
];

const PG_FILL: [&str; 3] = [
    "INSERT INTO entries (id, type, slug, status, version, data, published_slug, published_data, \
     created_at, updated_at, published_at) \
     SELECT ('00000000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, 'team', 'team-' || i, \
     'published', 1, d, 'team-' || i, d, ts, ts, ts FROM (SELECT i, \
     jsonb_build_object('name', 'Team ' || i) AS d, now() - interval '10 years' AS ts \
     FROM generate_series(1, $1::bigint) AS i) s",
    "INSERT INTO entries (id, type, slug, status, version, data, published_slug, published_data, \
     created_at, updated_at, published_at) \
     SELECT ('00000000-0000-7001-8000-' || lpad(to_hex(i), 12, '0'))::uuid, 'match', \
     'match-' || i, 'published', 1, d, 'match-' || i, d, ts, ts, ts FROM (SELECT i, \
     jsonb_build_object('home_team', '00000000-0000-7000-8000-' || lpad(to_hex(i % $1::bigint + 1), 12, '0'), \
     'away_team', '00000000-0000-7000-8000-' || lpad(to_hex((i + 7) % $1::bigint + 1), 12, '0'), \
     'competition', 'League', 'status', 'finished', 'home_score', i % 4, 'away_score', i % 3, \
     'kickoff', to_char((now() - i * interval '6 hours') AT TIME ZONE 'UTC', \
     'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')) AS d, date_trunc('second', now() - i * interval '6 hours') AS ts \
     FROM generate_series(1, $2::bigint) AS i) s",
    "INSERT INTO entries (id, type, slug, status, version, data, published_slug, published_data, \
     created_at, updated_at, published_at) \
     SELECT ('00000000-0000-7002-8000-' || lpad(to_hex(i), 12, '0'))::uuid, 'article', \
     'story-' || i, 'published', 1, d, 'story-' || i, d, ts, ts, ts FROM (SELECT i, \
     CASE WHEN i % 5 = 0 AND $1::bigint > 0 THEN jsonb_build_object('title', 'Story ' || i, 'body', $3::text, \
     'tags', jsonb_build_array('news'), 'match', \
     '00000000-0000-7001-8000-' || lpad(to_hex(i % greatest($1::bigint, 1) + 1), 12, '0')) \
     ELSE jsonb_build_object('title', 'Story ' || i, 'body', $3::text, 'tags', \
     jsonb_build_array('news')) END AS d, date_trunc('second', now() - i * interval '10 minutes') AS ts \
     FROM generate_series(1, $2::bigint) AS i) s",
];

struct Row {
    /// (p50, p99) in milliseconds.
    score: (f64, f64),
    article: (f64, f64),
    peak_rss_mib: u64,
    /// Median wall time (ms) of one score update alone, and of
    /// `CONCURRENT` updates of different matches sent at once.
    alone: f64,
    together: f64,
    /// The same for the publish alone, of drafts already patched.
    publish_alone: f64,
    publish_together: f64,
}

async fn measure(keel: &Path, site: &Site, samples: usize) -> anyhow::Result<Row> {
    let port = free_port()?;
    let types = Path::new(env!("CARGO_MANIFEST_DIR")).join("content-types");
    let mut child = Command::new(keel)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--database-url", &site.url])
        .arg("--content-types")
        .arg(&types)
        .args([
            "--log",
            "warn",
            "--schedule-every",
            "1h",
            "--prewarm-every",
            "1h",
        ])
        .stdout(Stdio::null())
        .spawn()
        .context("starting keel")?;
    let out = drive(&mut child, port, site, samples).await;
    let _ = child.kill();
    let _ = child.wait();
    out
}

async fn drive(child: &mut Child, port: u16, site: &Site, samples: usize) -> anyhow::Result<Row> {
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    wait_ready(&client, &base, child).await?;
    let store: Arc<dyn Store> = keel::store::open(&DatabaseUrl::parse(&site.url)?).await?;
    let secret = keel::auth::generate_token();
    let name = format!("scale-{}", uuid::Uuid::now_v7().simple());
    store
        .create_token(&name, Role::Editor, &keel::auth::hash_token(&secret))
        .await?;
    let api = Api {
        client,
        base,
        secret,
    };
    // The live matches: created and published through the API.
    let mut live = Vec::with_capacity(CONCURRENT);
    for i in 0..CONCURRENT as i64 {
        live.push(api.live_match(i).await?);
    }

    reset_peak_rss(child.id());
    let mut score = Vec::with_capacity(samples);
    for i in 0..samples {
        let start = Instant::now();
        live[0].1 = api.score(&live[0].0, live[0].1, i as i64).await?;
        score.push(start.elapsed());
    }
    let body = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(36);
    let mut article = Vec::with_capacity(samples);
    for i in 0..samples {
        let start = Instant::now();
        let data = json!({"title": format!("Breaking {i}"), "body": body, "tags": ["news"]});
        let slug = format!("breaking-{}", uuid::Uuid::now_v7().simple());
        let created = api
            .call(
                "POST",
                "/api/v1/entries/article",
                Some(json!({"slug": slug, "data": data})),
            )
            .await?;
        let aid = created["id"].as_str().context("no id")?.to_owned();
        api.call(
            "POST",
            &format!("/api/v1/entries/article/{aid}/publish"),
            None,
        )
        .await?;
        article.push(start.elapsed());
    }
    let peak_rss_mib = peak_rss_kib(child.id()) / 1024;

    // Alternated rounds: one match alone, then all of them at once; first
    // as whole score updates (PATCH + publish), then as publishes of drafts
    // already patched.
    let (mut alone, mut together) = (Vec::new(), Vec::new());
    let (mut publish_alone, mut publish_together) = (Vec::new(), Vec::new());
    for round in 0..(samples / 4).max(3) {
        let goal = (samples + 4 * round) as i64;
        let start = Instant::now();
        live[0].1 = api.score(&live[0].0, live[0].1, goal).await?;
        alone.push(start.elapsed());
        let start = Instant::now();
        let versions = try_join_all(live.iter().map(|(id, v)| api.score(id, *v, goal + 1))).await?;
        together.push(start.elapsed());
        for (m, v) in live.iter_mut().zip(versions) {
            m.1 = v;
        }

        live[0].1 = api.patch(&live[0].0, live[0].1, goal + 2).await?;
        let start = Instant::now();
        live[0].1 = api.publish(&live[0].0).await?;
        publish_alone.push(start.elapsed());
        let patched = try_join_all(live.iter().map(|(id, v)| api.patch(id, *v, goal + 3))).await?;
        let start = Instant::now();
        let versions = try_join_all(live.iter().map(|(id, _)| api.publish(id))).await?;
        publish_together.push(start.elapsed());
        drop(patched);
        for (m, v) in live.iter_mut().zip(versions) {
            m.1 = v;
        }
    }
    Ok(Row {
        score: percentiles(&mut score),
        article: percentiles(&mut article),
        peak_rss_mib,
        alone: percentiles(&mut alone).0,
        together: percentiles(&mut together).0,
        publish_alone: percentiles(&mut publish_alone).0,
        publish_together: percentiles(&mut publish_together).0,
    })
}

struct Api {
    client: reqwest::Client,
    base: String,
    secret: String,
}

impl Api {
    /// Creates and publishes live match `i` between two of the site's
    /// teams; returns its id and version.
    async fn live_match(&self, i: i64) -> anyhow::Result<(String, i64)> {
        let team = |i: i64| format!("00000000-0000-7000-8000-{:012x}", i % TEAMS + 1);
        let kickoff = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let data = json!({"home_team": team(2 * i), "away_team": team(2 * i + 1),
                          "competition": "Cup", "kickoff": kickoff, "status": "live"});
        let slug = format!("live-{i}");
        let created = self
            .call(
                "POST",
                "/api/v1/entries/match",
                Some(json!({"slug": slug, "data": data})),
            )
            .await?;
        let id = created["id"].as_str().context("no id")?.to_owned();
        let version = self
            .call("POST", &format!("/api/v1/entries/match/{id}/publish"), None)
            .await?["version"]
            .as_i64()
            .context("no version")?;
        Ok((id, version))
    }

    /// A live score update: PATCH the score, publish; returns the version.
    async fn score(&self, id: &str, version: i64, score: i64) -> anyhow::Result<i64> {
        self.patch(id, version, score).await?;
        self.publish(id).await
    }

    /// Sets the draft's score; returns the version.
    async fn patch(&self, id: &str, version: i64, score: i64) -> anyhow::Result<i64> {
        let patch = json!({"data": {"home_score": score}});
        let path = format!("/api/v1/entries/match/{id}");
        self.call_if_match("PATCH", &path, patch, version).await?;
        Ok(version + 1)
    }

    async fn publish(&self, id: &str) -> anyhow::Result<i64> {
        self.call("POST", &format!("/api/v1/entries/match/{id}/publish"), None)
            .await?["version"]
            .as_i64()
            .context("no version")
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let mut req = self
            .client
            .request(method.parse()?, format!("{}{path}", self.base))
            .bearer_auth(&self.secret);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await?;
        let status = r.status();
        let text = r.text().await?;
        if !status.is_success() {
            bail!("{method} {path}: {status} {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn call_if_match(
        &self,
        method: &str,
        path: &str,
        body: Value,
        version: i64,
    ) -> anyhow::Result<()> {
        let r = self
            .client
            .request(method.parse()?, format!("{}{path}", self.base))
            .bearer_auth(&self.secret)
            .header("If-Match", format!("\"{version}\""))
            .json(&body)
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("{method} {path}: {} {}", r.status(), r.text().await?);
        }
        Ok(())
    }
}

async fn wait_ready(client: &reqwest::Client, base: &str, child: &mut Child) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            bail!("keel exited: {status}");
        }
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("keel not ready in 10 minutes")
}

/// Restarts the kernel's peak-RSS record (`VmHWM`) of the process, so the
/// figure covers the publishes, not the start-up.
fn reset_peak_rss(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn percentiles(samples: &mut [Duration]) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[i].as_secs_f64() * 1000.0
    };
    (at(0.5), at(0.99))
}
