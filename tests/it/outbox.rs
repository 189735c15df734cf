//! The outbox against local stand-ins for the CDNs' purge APIs, on both
//! stores: requests as Fastly and Cloudflare document them, nothing lost
//! while a destination is down, across a restart or when the sending
//! node's lease runs out, and a purge only once every node holds the
//! change.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use keel::config::{EdgePurge, ServeConfig};
use keel::store::{Role, Store};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestStore, test_config};
use crate::on_both_backends;

on_both_backends!(
    fixture:
    a_destination_down_then_up_gets_every_key,
    a_restart_mid_backlog_loses_nothing,
    a_dead_senders_lease_runs_out_and_another_node_sends,
    a_killed_sender_loses_nothing,
);

/// One request the stub received.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Value,
    /// What `watch` answered when the request arrived (ETags).
    seen: Vec<String>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Api {
    Fastly,
    Cloudflare,
}

/// A purge API stand-in: records every request; answers 503 while
/// `down`, else as the real API does.
struct Stub {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
    down: Arc<AtomicBool>,
    /// URLs fetched when a purge arrives (what a refetching edge would get).
    watch: Arc<Mutex<Vec<String>>>,
    handle: actix_web::dev::ServerHandle,
}

impl Stub {
    fn start(api: Api) -> Stub {
        let received = Arc::new(Mutex::new(Vec::new()));
        let down = Arc::new(AtomicBool::new(false));
        let watch = Arc::new(Mutex::new(Vec::<String>::new()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (r, d, w) = (received.clone(), down.clone(), watch.clone());
        let server = HttpServer::new(move || {
            let (r, d, w) = (r.clone(), d.clone(), w.clone());
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let (r, d, w) = (r.clone(), d.clone(), w.clone());
                async move { answer(api, &req, &body, &r, &d, &w).await }
            }))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Stub {
            url,
            received,
            down,
            watch,
            handle,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Every key purged by requests that were answered 2xx.
    fn purged(&self) -> HashSet<String> {
        let mut keys = HashSet::new();
        for r in self.received() {
            let list = r.body.get("surrogate_keys").or_else(|| r.body.get("tags"));
            if let (Some(list), false) = (list, r.body.get("failed").is_some()) {
                keys.extend(
                    list.as_array()
                        .unwrap()
                        .iter()
                        .map(|k| k.as_str().unwrap().to_owned()),
                );
            }
        }
        keys
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        tokio::spawn(async move { handle.stop(false).await });
    }
}

async fn answer(
    api: Api,
    req: &HttpRequest,
    body: &[u8],
    received: &Mutex<Vec<Received>>,
    down: &AtomicBool,
    watch: &Mutex<Vec<String>>,
) -> HttpResponse {
    let mut body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let urls = watch.lock().unwrap().clone();
    let mut seen = Vec::new();
    for url in urls {
        let r = reqwest::get(&url).await.expect("watched page");
        seen.push(r.headers()["etag"].to_str().unwrap().to_owned());
    }
    let failing = down.load(Ordering::SeqCst);
    if failing {
        body["failed"] = json!(true);
    }
    received.lock().unwrap().push(Received {
        method: req.method().to_string(),
        path: req.path().to_owned(),
        headers: req
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_owned()))
            .collect(),
        body: body.clone(),
        seen,
    });
    if failing {
        return HttpResponse::ServiceUnavailable().body("down for maintenance");
    }
    match api {
        Api::Fastly => {
            let keys = body["surrogate_keys"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let ids: serde_json::Map<String, Value> = keys
                .iter()
                .map(|k| {
                    (
                        k.as_str().unwrap().to_owned(),
                        json!("108-1391560174-974124"),
                    )
                })
                .collect();
            HttpResponse::Ok().json(Value::Object(ids))
        }
        Api::Cloudflare => HttpResponse::Ok().json(json!({
            "success": true, "errors": [], "messages": [],
            "result": {"id": "023e105f4ecef8ad9ca31a8372d0c353"}
        })),
    }
}

const ZONE: &str = "023e105f4ecef8ad9ca31a8372d0c353";

fn purging(stub: &Stub, api: Api) -> EdgePurge {
    let base = stub.url.parse().unwrap();
    match api {
        Api::Fastly => EdgePurge::Fastly {
            service: "SU1Z0isxPaozGVKXdv0eY".into(),
            api: base,
            token: "fastly-secret".into(),
        },
        Api::Cloudflare => EdgePurge::Cloudflare {
            zone: ZONE.into(),
            api: format!("{}/client/v4", stub.url).parse().unwrap(),
            token: "cf-secret".into(),
        },
    }
}

fn config(store: &TestStore, purge: EdgePurge) -> ServeConfig {
    ServeConfig {
        demo: true,
        edge_purge: vec![purge],
        ..test_config(&store.url)
    }
}

/// Every key the events after `after` asked to purge.
async fn keys_since(store: &Arc<dyn Store>, after: i64) -> HashSet<String> {
    let events = store.events_since(after, 10_000).await.unwrap();
    events.into_iter().flat_map(|e| e.keys).collect()
}

async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A score change to the first match, published; returns its page path.
async fn score(app: &TestApp, token: &str, n: i64) -> String {
    let m = app
        .store
        .published_entries("match")
        .await
        .unwrap()
        .remove(0);
    let mut data = m.published_data.clone().unwrap();
    data["home_score"] = json!(n);
    app.republish(token, "match", &m.id.to_string(), data).await;
    format!("/matches/{}", m.published_slug.unwrap())
}

/// A demo node purging `api`'s stub; the stub and the purged page's key
/// once the purge of a score change arrived.
async fn purged_by(api: Api) -> (Stub, TestApp) {
    let stub = Stub::start(api);
    let store = TestStore::sqlite().await;
    let app = TestApp::spawn_with(
        config(&store, purging(&stub, api)),
        store.store.clone(),
        Some(store),
    )
    .await;
    let token = app.token("desk", Role::Editor).await;
    let path = score(&app, &token, 9).await;
    let key = keel::model::page_key(&path);
    eventually("the purge", || stub.purged().contains(&key)).await;
    (stub, app)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fastly_purges_are_posted_as_its_api_documents() {
    let (stub, _app) = purged_by(Api::Fastly).await;
    for r in stub.received() {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/service/SU1Z0isxPaozGVKXdv0eY/purge");
        assert_eq!(r.header("fastly-key"), Some("fastly-secret"));
        assert_eq!(r.header("fastly-soft-purge"), Some("1"));
        assert_eq!(r.header("content-type"), Some("application/json"));
        let keys = r.body["surrogate_keys"].as_array().expect("surrogate_keys");
        assert!(!keys.is_empty() && keys.len() <= 256, "{}", keys.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cloudflare_purges_are_posted_as_its_api_documents() {
    let (stub, _app) = purged_by(Api::Cloudflare).await;
    for r in stub.received() {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, format!("/client/v4/zones/{ZONE}/purge_cache"));
        assert_eq!(r.header("authorization"), Some("Bearer cf-secret"));
        assert_eq!(r.header("content-type"), Some("application/json"));
        let tags = r.body["tags"].as_array().expect("tags");
        assert!(!tags.is_empty() && tags.len() <= 100, "{}", tags.len());
    }
}

/// Down for 30 s while changes pile up (more keys than one request
/// takes), then up: every key reaches it within the longest backoff, in
/// requests of at most 100 tags, and the log shows the failed attempts.
async fn a_destination_down_then_up_gets_every_key(store: TestStore) {
    let stub = Stub::start(Api::Cloudflare);
    let app = TestApp::spawn_with(
        config(&store, purging(&stub, Api::Cloudflare)),
        store.store.clone(),
        Some(store),
    )
    .await;
    let token = app.token("desk", Role::Editor).await;
    let start = app.store.last_seq().await.unwrap();
    stub.down.store(true, Ordering::SeqCst);
    let went_down = Instant::now();
    // New matches: each brings keys of its own (its id, page, document).
    let teams = app.store.published_entries("team").await.unwrap();
    for n in 0..40 {
        app.publish_new(
            &token,
            "match",
            &format!("backlog-{n}"),
            json!({"home_team": teams[0].id, "away_team": teams[1].id,
                   "competition": "Backlog Cup", "kickoff": "2026-12-20T15:00:00Z"}),
        )
        .await;
    }
    eventually("a failed attempt", || !stub.received().is_empty()).await;
    let want = keys_since(&app.store, start).await;
    assert!(
        want.len() > 100,
        "{} keys: one request cannot take them",
        want.len()
    );
    assert!(stub.purged().is_empty());
    let outage = Duration::from_secs(30);
    tokio::time::sleep(outage.saturating_sub(went_down.elapsed())).await;
    stub.down.store(false, Ordering::SeqCst);
    let up = Instant::now();
    eventually("every key purged", || want.is_subset(&stub.purged())).await;
    assert!(
        up.elapsed() < Duration::from_secs(12),
        "{:?} to drain",
        up.elapsed()
    );
    for r in stub.received() {
        assert!(r.body["tags"].as_array().unwrap().len() <= 100);
    }
    let name = format!("cloudflare:{ZONE}");
    let log = app.store.deliveries(&name, 1000).await.unwrap();
    assert!(
        log.iter().any(|d| !d.ok && d.status == Some(503)),
        "{log:?}"
    );
    assert!(log[0].ok, "{:?}", log[0]);
    let last = app.store.last_seq().await.unwrap();
    eventually("the cursor at the log's end", || {
        futures_util::FutureExt::now_or_never(app.store.outbox_cursors())
            .and_then(Result::ok)
            .is_some_and(|c| c.iter().any(|c| c.destination == name && c.seq == last))
    })
    .await;
}

/// keel stopped with a backlog; a new node on the same database delivers it.
async fn a_restart_mid_backlog_loses_nothing(store: TestStore) {
    let stub = Stub::start(Api::Fastly);
    let shared = store.store.clone();
    let first = TestApp::spawn_with(
        config(&store, purging(&stub, Api::Fastly)),
        shared.clone(),
        None,
    )
    .await;
    let token = first.token("desk", Role::Editor).await;
    let start = shared.last_seq().await.unwrap();
    stub.down.store(true, Ordering::SeqCst);
    for n in 0..3 {
        score(&first, &token, n).await;
    }
    eventually("a failed attempt", || !stub.received().is_empty()).await;
    first.stop().await;
    let want = keys_since(&shared, start).await;
    stub.down.store(false, Ordering::SeqCst);
    assert!(!want.is_subset(&stub.purged()));
    let config = ServeConfig {
        demo: false,
        ..config(&store, purging(&stub, Api::Fastly))
    };
    let _second = TestApp::spawn_with(config, shared.clone(), Some(store)).await;
    eventually("the backlog purged", || want.is_subset(&stub.purged())).await;
}

/// A node that took the lease and died: its lease runs out and a live
/// node sends everything from the cursor.
async fn a_dead_senders_lease_runs_out_and_another_node_sends(store: TestStore) {
    let stub = Stub::start(Api::Fastly);
    let purge = purging(&stub, Api::Fastly);
    let name = purge.name();
    let start = store.store.last_seq().await.unwrap();
    let lease = Duration::from_secs(2);
    let held = store
        .store
        .lease_destination(&name, "crashed-node", lease, start)
        .await;
    assert_eq!(held.unwrap(), Some(start));
    let taken = Instant::now();
    let app = TestApp::spawn_with(config(&store, purge), store.store.clone(), Some(store)).await;
    let token = app.token("desk", Role::Editor).await;
    let path = score(&app, &token, 3).await;
    let key = keel::model::page_key(&path);
    eventually("the purge after the takeover", || {
        stub.purged().contains(&key)
    })
    .await;
    assert!(
        taken.elapsed() >= lease,
        "sent while another node held the lease"
    );
    let want = keys_since(&app.store, start).await;
    assert!(want.is_subset(&stub.purged()));
}

/// Two nodes on PostgreSQL: every purge arrives when both already serve
/// the new page, so an edge refetching from either gets the new bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_purge_waits_until_every_node_holds_the_change() {
    let Some(store) = TestStore::postgres().await else {
        return;
    };
    let stub = Stub::start(Api::Fastly);
    let shared = store.store.clone();
    let a = TestApp::spawn_with(
        config(&store, purging(&stub, Api::Fastly)),
        shared.clone(),
        None,
    )
    .await;
    let b_config = ServeConfig {
        demo: false,
        edge_purge: Vec::new(),
        ..test_config(&store.url)
    };
    let b = TestApp::spawn_with(b_config, shared.clone(), Some(store)).await;
    let token = a.token("desk", Role::Editor).await;
    let m = shared.published_entries("match").await.unwrap().remove(0);
    let path = format!("/matches/{}", m.published_slug.clone().unwrap());
    // Both nodes hold the page in memory, so each must refresh it.
    for node in [&a, &b] {
        assert_eq!(node.get(&path).await.status(), 200);
    }
    *stub.watch.lock().unwrap() = vec![format!("{}{path}", a.addr), format!("{}{path}", b.addr)];
    let key = keel::model::page_key(&path);
    for n in 1..=5 {
        let mut data = shared
            .entry(m.id)
            .await
            .unwrap()
            .unwrap()
            .published_data
            .unwrap();
        data["home_score"] = json!(40 + n);
        let before = stub.received().len();
        a.republish(&token, "match", &m.id.to_string(), data).await;
        let etag = shared.page(&path).await.unwrap().unwrap().etag;
        let names_page = |r: &Received| {
            r.body["surrogate_keys"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == key.as_str()))
        };
        eventually("the purge", || {
            stub.received()[before..].iter().any(names_page)
        })
        .await;
        // The first purge of the change found both nodes serving it.
        let first = stub.received()[before..]
            .iter()
            .find(|r| names_page(r))
            .cloned()
            .unwrap();
        assert_eq!(first.seen.len(), 2);
        for seen in &first.seen {
            assert!(
                seen.contains(&etag),
                "change {n}: a node served {seen}, not {etag}"
            );
        }
    }
    let forced = a.metrics().await;
    assert!(
        forced
            .lines()
            .any(|l| l.starts_with("keel_outbox_forced_total") && l.ends_with(" 0")),
        "{forced}"
    );
}

#[tokio::test]
async fn an_unreachable_edge_is_refused_at_start() {
    let store = TestStore::sqlite().await;
    let port = crate::edge::free_port();
    let config = ServeConfig {
        edge_purge: vec![EdgePurge::Varnish {
            url: format!("http://127.0.0.1:{port}").parse().unwrap(),
            hard: false,
        }],
        ..test_config(&store.url)
    };
    let err = match keel::startup::Server::build(config).await {
        Ok(_) => panic!("started with an unreachable edge"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains(&format!("--edge-purge varnish:http://127.0.0.1:{port}/"))
            && err.contains("is unreachable"),
        "{err}"
    );
}

/// A `keel serve` process for `store`, purging `stub` (Fastly), on `port`.
fn keel_process(store: &TestStore, stub: &Stub, port: u16) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["serve", "--demo", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--database-url", &store.raw_url])
        .arg("--content-types")
        .arg(crate::helpers::demo_content_types())
        .args(["--edge-purge", "fastly:SU1Z0isxPaozGVKXdv0eY"])
        .args([
            "--fastly-api-token",
            "fastly-secret",
            "--fastly-api-url",
            &stub.url,
        ])
        .args(["--log", "warn", "--prewarm-every", "1h"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start keel")
}

async fn ready(port: u16) {
    let url = format!("http://127.0.0.1:{port}/readyz");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !reqwest::get(&url).await.is_ok_and(|r| r.status() == 200) {
        assert!(Instant::now() < deadline, "keel on {port} not ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The sending process is killed (SIGKILL: no lease handed over) with a
/// backlog; the next process takes the lease over once it runs out and
/// delivers every key.
async fn a_killed_sender_loses_nothing(store: TestStore) {
    let stub = Stub::start(Api::Fastly);
    let port = crate::edge::free_port();
    let mut first = keel_process(&store, &stub, port);
    ready(port).await;
    let secret = keel::auth::generate_token();
    store
        .store
        .create_token("desk", Role::Editor, &keel::auth::hash_token(&secret))
        .await
        .unwrap();
    let start = store.store.last_seq().await.unwrap();
    stub.down.store(true, Ordering::SeqCst);
    let client = reqwest::Client::new();
    let m = store
        .store
        .published_entries("match")
        .await
        .unwrap()
        .remove(0);
    let entry = format!("http://127.0.0.1:{port}/api/v1/entries/match/{}", m.id);
    for n in 0..3 {
        let r = client
            .patch(&entry)
            .bearer_auth(&secret)
            .header("If-Match", "*")
            .json(&json!({"data": {"home_score": 70 + n}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let r = client
            .post(format!("{entry}/publish"))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    eventually("a failed attempt", || !stub.received().is_empty()).await;
    first.kill().unwrap();
    first.wait().unwrap();
    let want = keys_since(&store.store, start).await;
    stub.down.store(false, Ordering::SeqCst);
    let killed = Instant::now();
    let port = crate::edge::free_port();
    let mut second = keel_process(&store, &stub, port);
    ready(port).await;
    eventually("the backlog purged by the next node", || {
        want.is_subset(&stub.purged())
    })
    .await;
    assert!(
        killed.elapsed() >= Duration::from_secs(10),
        "the dead node's lease was not waited out"
    );
    second.kill().unwrap();
    second.wait().unwrap();
}
