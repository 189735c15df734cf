//! Pre-warm: the boot warm-up before readiness (batched, bounded queries),
//! pinning against eviction, the admin endpoint and warm-up requests
//! through the edge.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use keel::config::ServeConfig;
use keel::store::Role;
use serde_json::Value;

use crate::helpers::{READER_OPS, TestApp, TestStore, db_queries, test_config};
use crate::on_both_backends;

on_both_backends!(
    fixture:
    a_second_node_warms_everything_in_a_few_queries_before_it_is_ready,
    pinned_pages_outlive_eviction,
);

/// A demo site whose background rounds stay out of the way of the counts.
fn quiet(config: ServeConfig) -> ServeConfig {
    ServeConfig {
        schedule_every: Duration::from_secs(3600),
        prewarm_every: Duration::from_secs(3600),
        event_poll: Duration::from_secs(3600),
        ..config
    }
}

/// A quiet node that seeds the demo site; it owns the store's fixture.
async fn demo_node(store: TestStore) -> TestApp {
    let config = quiet(ServeConfig {
        demo: true,
        ..test_config(&store.url)
    });
    let shared = store.store.clone();
    TestApp::spawn_with(config, shared, Some(store)).await
}

async fn published_paths(app: &TestApp) -> Vec<String> {
    app.store.page_paths().await.expect("page paths")
}

async fn readyz(app: &TestApp) -> Value {
    app.get("/readyz").await.json().await.expect("readyz json")
}

async fn a_second_node_warms_everything_in_a_few_queries_before_it_is_ready(store: TestStore) {
    let (url, shared) = (store.url.clone(), store.store.clone());
    let first = demo_node(store).await;
    let paths = published_paths(&first).await;
    assert!(paths.len() > 40, "demo site has {} pages", paths.len());

    // The second node starts on a database it has never seen; `spawn_with`
    // returns once its /readyz is 200.
    let second = TestApp::spawn_with(quiet(test_config(&url)), shared, None).await;
    let ready = readyz(&second).await;
    assert_eq!(ready["status"], "ready", "{ready}");
    let warm = &ready["warm_up"];
    // The two live demo matches: page and JSON each, plus the listings.
    assert!(warm["pinned"]["paths"].as_u64().unwrap() >= 4, "{warm}");
    assert_eq!(ready["cache"]["pinned_paths"], warm["pinned"]["paths"]);
    let loaded =
        warm["pinned"]["loaded"].as_u64().unwrap() + warm["recent"]["loaded"].as_u64().unwrap();
    assert_eq!(
        loaded,
        paths.len() as u64,
        "every page fits the budget: {warm}"
    );
    let warm_queries =
        warm["pinned"]["queries"].as_u64().unwrap() + warm["recent"]["queries"].as_u64().unwrap();
    assert!(warm_queries <= 3, "batched, not one per page: {warm}");
    let metrics = second.metrics().await;
    assert_eq!(db_queries(&metrics, &["page"]), 0.0, "no single-page reads");

    // Readers now cost nothing: every page, in every encoding, from memory.
    let before = db_queries(&second.metrics().await, READER_OPS);
    for path in &paths {
        for encoding in ["br", "gzip", "identity"] {
            let r = second
                .client
                .get(format!("{}{path}", second.addr))
                .header("Accept-Encoding", encoding)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{path}");
            let status = r.headers()["cache-status"].to_str().unwrap().to_owned();
            assert!(status.starts_with("keel; hit"), "{path}: {status}");
        }
    }
    assert_eq!(db_queries(&second.metrics().await, READER_OPS), before);
}

async fn pinned_pages_outlive_eviction(store: TestStore) {
    let url = store.url.clone();
    let shared = store.store.clone();
    // Room for a handful of pages: the pinned ones must survive anyway.
    let cache_bytes = 32 * 1024;
    let app = TestApp::spawn_with(
        quiet(ServeConfig {
            demo: true,
            cache_bytes,
            warm_share: 0.0,
            ..test_config(&url)
        }),
        shared,
        Some(store),
    )
    .await;
    let ready = readyz(&app).await;
    assert_eq!(ready["warm_up"]["recent"]["loaded"], 0, "{ready}");
    let token = app.token("ops", Role::Admin).await;
    let outcome: Value = app
        .api(reqwest::Method::POST, "/api/v1/prewarm", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pinned: BTreeSet<String> = outcome["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    assert!(pinned.len() >= 4, "{outcome}");

    // Flood the cache with every other page, twice over.
    let others: Vec<String> = published_paths(&app)
        .await
        .into_iter()
        .filter(|p| !pinned.contains(p))
        .collect();
    let mut distinct = 0usize;
    for round in 0..2 {
        for path in &others {
            let r = app.get(path).await;
            assert_eq!(r.status(), 200);
            if round == 0 {
                distinct += r.bytes().await.unwrap().len();
            }
        }
    }
    assert!(
        distinct > 2 * cache_bytes as usize,
        "the flood ({distinct} bytes uncompressed) exceeds the cache"
    );

    let before = db_queries(&app.metrics().await, READER_OPS);
    for path in &pinned {
        let r = app.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        let status = r.headers()["cache-status"].to_str().unwrap().to_owned();
        assert!(status.starts_with("keel; hit"), "{path}: {status}");
    }
    assert_eq!(
        db_queries(&app.metrics().await, READER_OPS),
        before,
        "a pinned page was read from the store"
    );
}

/// Requests an edge received: (path, Accept-Encoding).
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// A stand-in for the CDN: records each request's path and Accept-Encoding.
/// `/readyz` through it answers 503 until `ready`, as a health-checked
/// edge does before its probes pass; a `PURGE` is recorded as such.
struct Edge {
    url: url::Url,
    seen: Seen,
    ready: Arc<AtomicBool>,
    handle: actix_web::dev::ServerHandle,
}

impl Edge {
    fn start() -> Edge {
        Self::start_ready(true)
    }

    fn start_ready(ready: bool) -> Edge {
        let seen: Seen = Arc::default();
        let ready = Arc::new(AtomicBool::new(ready));
        let recorder = web::Data::new(seen.clone());
        let health = web::Data::new(ready.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(recorder.clone())
                .app_data(health.clone())
                .default_service(web::to(record))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .expect("bind the edge");
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Edge {
            url: url::Url::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
            seen,
            ready,
            handle,
        }
    }

    fn requests(&self) -> Vec<(String, String)> {
        self.seen.lock().unwrap().clone()
    }
}

async fn record(
    req: HttpRequest,
    seen: web::Data<Seen>,
    ready: web::Data<Arc<AtomicBool>>,
) -> HttpResponse {
    if req.path() == "/readyz" {
        return if ready.load(Ordering::SeqCst) {
            HttpResponse::Ok().body("ready")
        } else {
            HttpResponse::ServiceUnavailable().body("no healthy backend")
        };
    }
    if req.method().as_str() == "PURGE" {
        seen.lock()
            .unwrap()
            .push(("PURGE".to_owned(), String::new()));
        return HttpResponse::Ok().body("Invalidated 1 objects");
    }
    let encoding = req
        .headers()
        .get("accept-encoding")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    seen.lock().unwrap().push((req.path().to_owned(), encoding));
    HttpResponse::Ok().body("cached at the edge")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_prewarm_endpoint_is_for_admins_and_warms_through_the_edge() {
    let store = TestStore::sqlite().await;
    let edge = Edge::start();
    let url = store.url.clone();
    let shared = store.store.clone();
    let app = TestApp::spawn_with(
        quiet(ServeConfig {
            demo: true,
            edge_url: Some(edge.url.clone()),
            ..test_config(&url)
        }),
        shared,
        Some(store),
    )
    .await;

    // The boot round already sent each pinned page through the edge, once
    // per encoding.
    let booted = edge.requests();
    let pinned: BTreeSet<String> = booted.iter().map(|(p, _)| p.clone()).collect();
    assert!(pinned.len() >= 4, "{booted:?}");
    assert_eq!(booted.len(), pinned.len() * 2);
    for path in &pinned {
        for enc in ["br", "gzip"] {
            assert!(
                booted.contains(&(path.clone(), enc.to_owned())),
                "{path} {enc}"
            );
        }
    }

    let editor = app.token("desk", Role::Editor).await;
    let r = app
        .api(reqwest::Method::POST, "/api/v1/prewarm", &editor)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = app
        .client
        .post(format!("{}/api/v1/prewarm", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let admin = app.token("ops", Role::Admin).await;
    let r = app
        .api(reqwest::Method::POST, "/api/v1/prewarm", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "private, no-store");
    let outcome: Value = r.json().await.unwrap();
    let entries = outcome["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "the two live demo matches: {outcome}");
    for entry in entries {
        assert_eq!(entry["type"], "match");
        let slug = entry["slug"].as_str().unwrap();
        let paths: Vec<&str> = entry["paths"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        assert_eq!(
            paths,
            [
                format!("/matches/{slug}"),
                format!("/api/v1/content/match/{slug}")
            ]
        );
        assert!(entry["from"].as_str().unwrap() < entry["until"].as_str().unwrap());
    }
    let listings: Vec<&str> = outcome["listings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(listings.contains(&"/matches"), "{outcome}");
    let paths = outcome["paths"].as_array().unwrap();
    assert_eq!(outcome["pinned"].as_u64(), Some(paths.len() as u64));
    // Already in memory since boot: nothing read.
    assert_eq!(outcome["warm"]["loaded"], 0, "{outcome}");
    assert_eq!(outcome["warm"]["cached"].as_u64(), Some(paths.len() as u64));
    assert_eq!(outcome["warm"]["queries"], 0);
    // A manual round sends every page again.
    let sent = &outcome["edge"];
    assert_eq!(sent["pages"].as_u64(), Some(paths.len() as u64), "{sent}");
    assert_eq!(sent["requests"].as_u64(), Some(2 * paths.len() as u64));
    assert_eq!(sent["ok"], sent["requests"]);
    assert_eq!(sent["failed"], 0);
    assert_eq!(edge.requests().len(), 4 * pinned.len());
    edge.handle.stop(false).await;
}

/// The warm-up reads the entries table first; holding a lock on it keeps a
/// starting node warming, which readiness must report.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readiness_is_503_until_the_warm_up_is_done() {
    let Some(store) = TestStore::postgres().await else {
        return;
    };
    let (url, shared) = (store.url.clone(), store.store.clone());
    let raw_url = store.raw_url.clone();
    let first = demo_node(store).await;

    let (mut locker, connection) = tokio_postgres::connect(&raw_url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    let tx = locker.transaction().await.unwrap();
    tx.batch_execute("LOCK TABLE entries IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();

    let second = TestApp::start(quiet(test_config(&url)), shared, None).await;
    for _ in 0..5 {
        let r = second.get("/readyz").await;
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["cache-control"], "no-store");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["status"], "warming", "{body}");
        assert!(body["warm_up"].is_null());
        assert_eq!(body["database"]["status"], "up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Alive all along, and already answering readers (from the store).
    assert_eq!(second.get("/healthz").await.status(), 200);

    tx.rollback().await.unwrap();
    second.wait_ready().await;
    let ready = readyz(&second).await;
    assert_eq!(ready["status"], "ready");
    assert!(ready["warm_up"]["millis"].is_u64(), "{ready}");
    let loaded = ready["warm_up"]["pinned"]["loaded"].as_u64().unwrap()
        + ready["warm_up"]["recent"]["loaded"].as_u64().unwrap();
    assert!(loaded > 40, "{ready}");
    drop(first);
}

/// Behind an edge that does not yet see keel healthy, nothing is sent
/// (every request would only fetch a 503); once it does, the next round
/// sends every pinned page.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_edge_warm_up_waits_until_the_edge_sees_keel_ready() {
    let store = TestStore::sqlite().await;
    let edge = Edge::start_ready(false);
    let url = store.url.clone();
    let shared = store.store.clone();
    let app = TestApp::spawn_with(
        quiet(ServeConfig {
            demo: true,
            edge_url: Some(edge.url.clone()),
            ..test_config(&url)
        }),
        shared,
        Some(store),
    )
    .await;
    assert!(edge.requests().is_empty(), "{:?}", edge.requests());
    let admin = app.token("ops", Role::Admin).await;
    let round = |app: &TestApp| {
        app.api(reqwest::Method::POST, "/api/v1/prewarm", &admin)
            .send()
    };
    let outcome: Value = round(&app).await.unwrap().json().await.unwrap();
    assert_eq!(outcome["edge"]["requests"], 0, "{outcome}");
    let reason = outcome["edge"]["errors"][0].as_str().unwrap();
    assert!(reason.contains("does not see keel ready"), "{reason}");
    assert!(edge.requests().is_empty());

    edge.ready.store(true, Ordering::SeqCst);
    let outcome: Value = round(&app).await.unwrap().json().await.unwrap();
    let pages = outcome["edge"]["pages"].as_u64().unwrap();
    assert!(pages >= 4, "{outcome}");
    assert_eq!(outcome["edge"]["ok"].as_u64(), Some(2 * pages));
    edge.handle.stop(false).await;
}

/// A purge of a pinned page is followed at once by its warm-up through the
/// edge, not by the next round half a minute later.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_purged_pinned_page_is_warmed_through_the_edge_again() {
    let store = TestStore::sqlite().await;
    let edge = Edge::start();
    let url = store.url.clone();
    let shared = store.store.clone();
    let app = TestApp::spawn_with(
        quiet(ServeConfig {
            demo: true,
            edge_url: Some(edge.url.clone()),
            edge_purge: vec![keel::config::EdgePurge::Varnish {
                url: edge.url.clone(),
                hard: false,
            }],
            ..test_config(&url)
        }),
        shared.clone(),
        Some(store),
    )
    .await;
    let live = shared
        .published_entries("match")
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.published_data.as_ref().unwrap()["status"] == "live")
        .expect("a live demo match");
    let path = format!("/matches/{}", live.published_slug.clone().unwrap());
    let before = edge.requests().len();
    let token = app.token("desk", Role::Editor).await;
    let mut data = live.published_data.clone().unwrap();
    data["home_score"] = serde_json::json!(17);
    app.republish(&token, "match", &live.id.to_string(), data)
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let after: Vec<(String, String)> = edge.requests()[before..].to_vec();
        let purge = after.iter().position(|(p, _)| p == "PURGE");
        let warmed = after.iter().rposition(|(p, enc)| *p == path && enc == "br");
        if let (Some(purge), Some(warmed)) = (purge, warmed) {
            assert!(purge < warmed, "warmed before the purge: {after:?}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not warmed again: {after:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    edge.handle.stop(false).await;
}
