//! Several nodes on one store: every node follows the event log, so a page
//! published on one node is served by the others within a second, a killed
//! LISTEN connection loses no update, and pages past their lifetime are
//! served stale while one refresh runs.

use std::time::{Duration, Instant};

use chrono::Utc;
use keel::model::{CachePolicy, Page, PageWrite};
use keel::store::{EntryOp, NewEvent, Role, Write};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestStore, test_config};

/// Patches and publishes entries through the editor API of one node.
struct Editor<'a> {
    app: &'a TestApp,
    token: String,
}

impl<'a> Editor<'a> {
    async fn new(app: &'a TestApp) -> Editor<'a> {
        let token = app.token("desk", Role::Editor).await;
        Editor { app, token }
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.app.api(method, path, &self.token);
        // Changes here always mean "whatever is current".
        req = req.header("If-Match", "*");
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{status}: {body}");
        body
    }

    /// A published team; returns its id.
    async fn team(&self, slug: &str, name: &str) -> String {
        let created = self
            .send(
                Method::POST,
                "/api/v1/entries/team",
                Some(json!({"slug": slug, "data": {"name": name}})),
            )
            .await;
        let id = created["id"].as_str().expect("id").to_owned();
        self.publish(&id).await;
        id
    }

    async fn rename(&self, id: &str, name: &str) {
        self.send(
            Method::PATCH,
            &format!("/api/v1/entries/team/{id}"),
            Some(json!({"data": {"name": name}})),
        )
        .await;
        self.publish(id).await;
    }

    async fn publish(&self, id: &str) {
        self.send(
            Method::POST,
            &format!("/api/v1/entries/team/{id}/publish"),
            None,
        )
        .await;
    }
}

/// Polls `path` on `app` every 5 ms until its body contains `needle`;
/// returns how long that took, or panics after `limit`.
async fn until_served(app: &TestApp, path: &str, needle: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let resp = app.get(path).await;
        if resp.status() == StatusCode::OK && resp.text().await.expect("body").contains(needle) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "{path} never showed {needle:?} within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// One sample of a metric series from `/metrics` (0 when absent).
async fn metric(app: &TestApp, series: &str) -> f64 {
    let text = app.get("/metrics").await.text().await.expect("metrics");
    text.lines()
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok()).flatten()
        })
        .unwrap_or(0.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

async fn second_node(first: &TestApp, url: &keel::config::DatabaseUrl) -> TestApp {
    TestApp::spawn_with(test_config(url), first.store.clone(), None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_publish_on_one_node_is_served_by_another_within_a_second() {
    let Some(store) = TestStore::postgres().await else {
        return;
    };
    let url = store.url.clone();
    let a = TestApp::spawn(store, false).await;
    let b = second_node(&a, &url).await;
    let editor = Editor::new(&a).await;
    let id = editor.team("lag", "Lag-000-end").await;
    let path = "/teams/lag";
    until_served(&b, path, "Lag-000-end", Duration::from_secs(5)).await;

    let mut lags = Vec::with_capacity(100);
    for i in 1..=100 {
        let name = format!("Lag-{i:03}-end");
        editor.rename(&id, &name).await;
        lags.push(until_served(&b, path, &name, Duration::from_secs(5)).await);
    }
    lags.sort();
    let (p50, p99) = (percentile(&lags, 0.50), percentile(&lags, 0.99));
    eprintln!(
        "publish on A -> served by B, 100 publishes: p50 {p50:?}, p99 {p99:?}, max {:?}",
        lags[lags.len() - 1]
    );
    assert!(p99 < Duration::from_secs(1), "p99 lag {p99:?}");
    let last = a.store.last_seq().await.expect("last seq") as f64;
    assert_eq!(metric(&b, "keel_event_seq").await, last);
    assert!(metric(&b, "keel_invalidation_lag_seconds_count").await >= 100.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_listen_connection_loses_no_update() {
    let Some(store) = TestStore::postgres().await else {
        return;
    };
    let (url, raw_url) = (store.url.clone(), store.raw_url.clone());
    let a = TestApp::spawn(store, false).await;
    let b = second_node(&a, &url).await;
    let editor = Editor::new(&a).await;
    let mut teams = Vec::new();
    for k in 0..4 {
        let id = editor
            .team(&format!("kill-{k}"), &format!("K{k}-r00-end"))
            .await;
        let path = format!("/teams/kill-{k}");
        until_served(&b, &path, &format!("K{k}-r00-end"), Duration::from_secs(5)).await;
        teams.push((id, path));
    }

    let (admin, connection) = tokio_postgres::connect(&raw_url, tokio_postgres::NoTls)
        .await
        .expect("admin connection");
    tokio::spawn(connection);
    let killer = tokio::spawn(async move {
        let mut killed = 0;
        for _ in 0..8 {
            tokio::time::sleep(Duration::from_millis(60)).await;
            let rows = admin
                .query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE query LIKE 'LISTEN%' AND datname = current_database() \
                     AND pid <> pg_backend_pid()",
                    &[],
                )
                .await
                .expect("terminate");
            killed += rows.len();
        }
        killed
    });
    let rounds = 12;
    for round in 1..=rounds {
        for (k, (id, _)) in teams.iter().enumerate() {
            editor.rename(id, &format!("K{k}-r{round:02}-end")).await;
        }
    }
    let killed = killer.await.expect("killer");
    assert!(killed > 0, "no LISTEN connection was ever terminated");

    // The poll and the reconnect catch up on whatever notification was lost.
    for (k, (_, path)) in teams.iter().enumerate() {
        let last = format!("K{k}-r{rounds:02}-end");
        until_served(&b, path, &last, Duration::from_secs(15)).await;
    }
    let last = a.store.last_seq().await.expect("last seq") as f64;
    let deadline = Instant::now() + Duration::from_secs(15);
    while metric(&b, "keel_event_seq").await != last {
        assert!(Instant::now() < deadline, "node B never reached seq {last}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("terminated {killed} LISTEN connections during the burst; no update lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_sqlite_a_publish_updates_the_node_and_its_event_seq() {
    let store = TestStore::sqlite().await;
    let app = TestApp::spawn(store, false).await;
    let editor = Editor::new(&app).await;
    let id = editor.team("solo", "Solo-1-end").await;
    until_served(&app, "/teams/solo", "Solo-1-end", Duration::from_secs(1)).await;
    editor.rename(&id, "Solo-2-end").await;
    // The publishing node applied its own pages at commit: no wait at all.
    let resp = app.get("/teams/solo").await;
    assert_eq!(resp.headers()["cache-status"], "keel; hit");
    assert!(resp.text().await.expect("body").contains("Solo-2-end"));

    let last = app.store.last_seq().await.expect("last seq") as f64;
    let deadline = Instant::now() + Duration::from_secs(2);
    while metric(&app, "keel_event_seq").await != last {
        assert!(
            Instant::now() < deadline,
            "keel_event_seq never reached {last}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A page whose edge lifetime (the in-process freshness) is one second.
fn short_lived(path: &str, body: &str) -> Page {
    Page {
        path: path.into(),
        entry_id: None,
        status: 200,
        content_type: "text/html; charset=utf-8".into(),
        identity: body.as_bytes().to_vec(),
        br: Vec::new(),
        gzip: Vec::new(),
        etag: "short-lived".into(),
        last_modified: Utc::now(),
        surrogate_keys: vec!["short".into()],
        cache_policy: CachePolicy {
            browser_max_age: 1,
            edge_max_age: 1,
            stale_while_revalidate: 10,
            stale_if_error: 60,
            immutable: false,
        },
        seq: 0,
    }
}

async fn short_lived_site(event_poll: Duration) -> (TestApp, &'static str) {
    let store = TestStore::sqlite().await;
    let path = "/short";
    store
        .store
        .write(
            Write::new(EntryOp::None, "test")
                .with_pages(vec![PageWrite::Upsert(short_lived(path, "short"))], None)
                .with_event(NewEvent {
                    kind: "test".into(),
                    paths: vec![path.into()],
                    keys: Vec::new(),
                    entries: Vec::new(),
                }),
        )
        .await
        .expect("write page");
    let config = keel::config::ServeConfig {
        event_poll,
        ..test_config(&store.url)
    };
    let shared = store.store.clone();
    (TestApp::spawn_with(config, shared, Some(store)).await, path)
}

/// The follower reads the log only at boot here, so nothing vouches for the
/// copy once its lifetime is over.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn past_its_lifetime_a_page_is_served_stale_and_refreshed_once() {
    let (app, path) = short_lived_site(Duration::from_secs(3600)).await;
    let status = |resp: &reqwest::Response| resp.headers()["cache-status"].clone();
    // Loaded by the boot warm-up.
    assert_eq!(status(&app.get(path).await), "keel; hit");
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let queries = r#"keel_db_queries_total{op="page"}"#;
    let before = metric(&app, queries).await;
    let stale = app.get(path).await;
    assert_eq!(status(&stale), "keel; hit; fwd=stale");
    assert_eq!(stale.text().await.expect("body"), "short");
    let readers = (0..16).map(|_| app.get(path));
    for resp in futures_util::future::join_all(readers).await {
        let s = status(&resp);
        assert!(s == "keel; hit; fwd=stale" || s == "keel; hit", "{s:?}");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(status(&app.get(path).await), "keel; hit");
    assert_eq!(metric(&app, queries).await - before, 1.0);
    assert!(metric(&app, r#"keel_cache_requests_total{result="stale"}"#).await >= 1.0);
}

/// While the follower keeps reading the log through, a copy no event has
/// marked is known current: it stays fresh past its lifetime and costs no
/// query, however hot it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_followed_log_keeps_pages_fresh_without_queries() {
    let (app, path) = short_lived_site(Duration::from_millis(100)).await;
    let status = |resp: &reqwest::Response| resp.headers()["cache-status"].clone();
    let queries = r#"keel_db_queries_total{op="page"}"#;
    let before = metric(&app, queries).await;
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(2500) {
        let r = app.get(path).await;
        assert_eq!(status(&r), "keel; hit", "after {:?}", started.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(metric(&app, queries).await - before, 0.0);
}
