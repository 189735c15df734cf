//! keel behind a real Varnish running the shipped `deploy/varnish/keel.vcl`
//! (with the xkey VMOD), purged by keel's outbox: repeat requests are edge
//! hits, a publish purges exactly the pages it changed, a newly published
//! path stops being an edge 404, and a stopped origin is covered by stale
//! copies. Skipped where `varnishd` is missing, except in CI.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use keel::config::{EdgePurge, ServeConfig};
use keel::store::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, TestStore, in_ci, test_config};

/// A varnishd in the foreground on a free loopback port, killed on drop.
pub struct Varnish {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Varnish {
    /// Starts the shipped VCL with one backend, keel at `backend_port`;
    /// `None` where Varnish is not installed (outside CI).
    pub async fn start(backend_port: u16) -> Option<Varnish> {
        let varnishd = ["/usr/sbin/varnishd", "/usr/local/sbin/varnishd"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists());
        let Some(varnishd) = varnishd else {
            assert!(!in_ci(), "varnishd is not installed: .ci/run installs it");
            eprintln!("varnishd not found; skipping the edge test");
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let vcl = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/varnish/keel.vcl");
        std::fs::copy(&vcl, dir.path().join("keel.vcl")).expect("copy the shipped VCL");
        std::fs::write(dir.path().join("keel-site.vcl"), site_vcl(backend_port))
            .expect("write the site VCL");
        let port = free_port();
        let child = Command::new(varnishd)
            .arg("-F")
            .args(["-j", "none"])
            .arg("-n")
            .arg(dir.path().join("work"))
            .args(["-a", &format!("127.0.0.1:{port}")])
            .arg("-f")
            .arg(dir.path().join("keel.vcl"))
            .arg("-p")
            .arg(format!("vcl_path={}", dir.path().display()))
            .args(["-s", "malloc,64m", "-T", "none"])
            .args(["-p", "http_resp_hdr_len=16k", "-p", "http_resp_size=64k"])
            .args(["-p", "workspace_backend=256k"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start varnishd");
        let varnish = Varnish {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "varnishd did not listen within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Some(varnish)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Varnish {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The site part of the shipped VCL for one node; probed every 500 ms so
/// a stopped node is seen quickly.
fn site_vcl(port: u16) -> String {
    format!(
        r#"
probe keel_ready {{
    .url = "/readyz";
    .expected_response = 200;
    .timeout = 500ms;
    .interval = 500ms;
    .window = 3;
    .threshold = 2;
    .initial = 2;
}}
backend node_a {{
    .host = "127.0.0.1";
    .port = "{port}";
    .probe = keel_ready;
    .connect_timeout = 500ms;
}}
sub vcl_init {{
    new keel = directors.round_robin();
    keel.add_backend(node_a);
}}
acl keel_purgers {{
    "127.0.0.1";
}}
"#
    )
}

/// A port nothing listens on now (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A response through the edge: status, ETag, Cache-Status, body.
struct Seen {
    status: StatusCode,
    etag: String,
    cache_status: String,
    body: String,
}

async fn fetch(client: &reqwest::Client, url: &str) -> Seen {
    let r = client
        .get(url)
        .header("Accept-Encoding", "identity")
        .send()
        .await
        .expect("request through the edge");
    let header = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (status, etag, cache_status) = (r.status(), header("etag"), header("cache-status"));
    let body = r.text().await.expect("body");
    Seen {
        status,
        etag,
        cache_status,
        body,
    }
}

/// Requests `url` until `done` holds (a soft purge serves the old copy
/// once while it refetches); the time it took.
async fn until(
    client: &reqwest::Client,
    url: &str,
    done: impl Fn(&Seen) -> bool,
) -> (Seen, Duration) {
    let started = Instant::now();
    loop {
        let seen = fetch(client, url).await;
        if done(&seen) {
            return (seen, started.elapsed());
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{url} never changed at the edge: {} {} {}",
            seen.status,
            seen.etag,
            seen.cache_status
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn keel_requests(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("keel_http_requests_total{") && l.contains("route=\"page\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_shipped_varnish_setup_serves_hits_and_is_purged_exactly() {
    let keel_port = free_port();
    let Some(varnish) = Varnish::start(keel_port).await else {
        return;
    };
    let store = TestStore::sqlite().await;
    let config = ServeConfig {
        demo: true,
        listen: format!("127.0.0.1:{keel_port}").parse().unwrap(),
        edge_purge: vec![EdgePurge::Varnish {
            url: varnish.url().parse().unwrap(),
            hard: false,
        }],
        ..test_config(&store.url)
    };
    let app = TestApp::spawn_with(config, store.store.clone(), Some(store)).await;
    let token = app.token("desk", Role::Editor).await;
    let edge = reqwest::Client::new();
    let at = |path: &str| format!("{}{path}", varnish.url());
    // Varnish probed keel while it started: wait until it sees it ready.
    until(&edge, &at("/readyz"), |s| s.status == 200).await;

    // The pages a score change touches, and one it does not.
    let matches = app.store.published_entries("match").await.unwrap();
    let target = matches[0].clone();
    let other = matches[1].clone();
    let data = target.published_data.clone().unwrap();
    let slug = target.published_slug.clone().unwrap();
    let mut affected = vec![
        format!("/matches/{slug}"),
        format!("/api/v1/content/match/{slug}"),
        "/".to_owned(),
        "/matches".to_owned(),
    ];
    for side in ["home_team", "away_team"] {
        let id: uuid::Uuid = data[side].as_str().unwrap().parse().unwrap();
        let team = app.store.entry(id).await.unwrap().unwrap();
        affected.push(format!("/teams/{}", team.published_slug.unwrap()));
    }
    let unrelated = format!("/matches/{}", other.published_slug.clone().unwrap());

    // Every page once through the edge; the second time keel sees nothing.
    let mut before = std::collections::HashMap::new();
    for path in affected.iter().chain([&unrelated]) {
        let first = fetch(&edge, &at(path)).await;
        assert_eq!(first.status, 200, "{path}");
        before.insert(path.clone(), first.etag.clone());
    }
    let served = keel_requests(&app.metrics().await);
    for path in affected.iter().chain([&unrelated]) {
        let again = fetch(&edge, &at(path)).await;
        assert!(
            again.cache_status.ends_with("varnish; hit"),
            "{path}: {}",
            again.cache_status
        );
    }
    assert_eq!(
        keel_requests(&app.metrics().await),
        served,
        "keel saw a hit"
    );
    let edge_only = edge.get(at(&affected[0])).send().await.unwrap();
    for field in ["surrogate-key", "cache-tag", "surrogate-control", "xkey"] {
        assert!(
            !edge_only.headers().contains_key(field),
            "{field} reached the reader"
        );
    }

    // A score change: every affected page changes at the edge...
    let score = data["home_score"].as_i64().unwrap_or(0) + 5;
    let mut changed = data.clone();
    changed["home_score"] = json!(score);
    app.republish(&token, "match", &target.id.to_string(), changed)
        .await;
    for path in &affected {
        let old = before[path].clone();
        let (seen, _) = until(&edge, &at(path), |s| s.status == 200 && s.etag != old).await;
        assert!(
            seen.body.contains(&score.to_string()),
            "{path} lacks the new score"
        );
    }
    // ...and the unrelated match is still the edge's fresh copy.
    let kept = fetch(&edge, &at(&unrelated)).await;
    assert!(
        kept.cache_status.ends_with("varnish; hit"),
        "{}",
        kept.cache_status
    );
    assert_eq!(kept.etag, before[&unrelated]);

    // A path first seen as a 404 is purged when it is published.
    let new_path = "/matches/edge-newcomer";
    assert_eq!(fetch(&edge, &at(new_path)).await.status, 404);
    let cached = fetch(&edge, &at(new_path)).await;
    assert!(
        cached.cache_status.ends_with("varnish; hit"),
        "{}",
        cached.cache_status
    );
    let teams = app.store.published_entries("team").await.unwrap();
    app.publish_new(
        &token,
        "match",
        "edge-newcomer",
        json!({"home_team": teams[0].id, "away_team": teams[1].id,
               "competition": "Edge Cup", "kickoff": "2026-12-24T15:00:00Z"}),
    )
    .await;
    until(&edge, &at(new_path), |s| s.status == 200).await;

    // The outbox recorded its deliveries and has nothing left to send.
    let name = format!("varnish:{}/", varnish.url());
    let log = app.store.deliveries(&name, 10).await.unwrap();
    assert!(log.iter().any(|d| d.ok && d.status == Some(200)), "{log:?}");
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(&format!("keel_outbox_backlog{{destination=\"{name}\"}} 0")),
        "{metrics}"
    );

    // keel stopped: a purged page is served stale from the edge's grace.
    let live_path = affected[0].clone();
    let current = fetch(&edge, &at(&live_path)).await;
    app.stop().await;
    let purge = edge
        .request(
            reqwest::Method::from_bytes(b"PURGE").unwrap(),
            varnish.url(),
        )
        .header("xkey-purge", keel::model::page_key(&live_path))
        .send()
        .await
        .unwrap();
    assert_eq!(purge.status(), 200);
    let stale = fetch(&edge, &at(&live_path)).await;
    assert_eq!(stale.status, 200, "served stale with keel stopped");
    assert_eq!(stale.etag, current.etag);
    assert!(
        stale.cache_status.contains("fwd=stale"),
        "{}",
        stale.cache_status
    );
}
