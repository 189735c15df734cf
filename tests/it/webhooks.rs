//! Webhooks from the outbox, on both stores: every event `POST`ed in seq
//! order, one per request, with a signature the receiver can check and the
//! fields the README documents; nothing lost while the receiver fails.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use keel::config::{ServeConfig, Webhook};
use keel::store::Role;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestStore, test_config};
use crate::on_both_backends;

on_both_backends!(
    fixture:
    every_change_is_posted_signed_in_order_and_survives_a_failing_receiver,
);

const SECRET: &str = "a-webhook-secret-of-forty-bytes-length!!";

/// Signature, delivery id, raw body and parsed body of a request.
type Got = (String, String, String, Value);

struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Got>>>,
    failing: Arc<AtomicBool>,
    handle: actix_web::dev::ServerHandle,
}

fn start_receiver() -> Receiver {
    let got = Arc::new(Mutex::new(Vec::new()));
    let failing = Arc::new(AtomicBool::new(false));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hooks/keel", listener.local_addr().unwrap());
    let (g, f) = (got.clone(), failing.clone());
    let server = HttpServer::new(move || {
        let (g, f) = (g.clone(), f.clone());
        App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
            let (g, f) = (g.clone(), f.clone());
            async move {
                assert_eq!(req.method(), "POST");
                assert_eq!(req.path(), "/hooks/keel");
                let header = |n: &str| req.headers().get(n).unwrap().to_str().unwrap().to_owned();
                assert_eq!(header("content-type"), "application/json");
                let (signature, delivery) = (header("keel-signature"), header("keel-delivery"));
                let raw = String::from_utf8(body.to_vec()).unwrap();
                let parsed: Value = serde_json::from_str(&raw).unwrap();
                g.lock().unwrap().push((signature, delivery, raw, parsed));
                if f.load(Ordering::SeqCst) {
                    HttpResponse::InternalServerError().body("receiver down")
                } else {
                    HttpResponse::NoContent().finish()
                }
            }
        }))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .expect("listen")
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Receiver {
        url,
        got,
        failing,
        handle,
    }
}

async fn every_change_is_posted_signed_in_order_and_survives_a_failing_receiver(store: TestStore) {
    let receiver = start_receiver();
    let config = ServeConfig {
        demo: true,
        webhooks: vec![Webhook {
            name: "search".into(),
            url: receiver.url.parse().unwrap(),
            secret: SECRET.into(),
        }],
        ..test_config(&store.url)
    };
    let app = TestApp::spawn_with(config, store.store.clone(), Some(store)).await;
    let token = app.token("desk", Role::Editor).await;
    let start = app.store.last_seq().await.unwrap();
    receiver.failing.store(true, Ordering::SeqCst);
    let teams = app.store.published_entries("team").await.unwrap();
    let mut ids = Vec::new();
    for n in 0..3 {
        let id = app
            .publish_new(
                &token,
                "match",
                &format!("hooked-{n}"),
                json!({"home_team": teams[0].id, "away_team": teams[1].id,
                       "competition": "Hook Cup", "kickoff": "2026-12-27T15:00:00Z"}),
            )
            .await;
        ids.push(id);
    }
    let end = app.store.last_seq().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while receiver.got.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "no attempt while failing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    receiver.failing.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let last = receiver
            .got
            .lock()
            .unwrap()
            .last()
            .map(|g| g.3["seq"].as_i64().unwrap());
        if last == Some(end) {
            break;
        }
        assert!(Instant::now() < deadline, "never caught up to seq {end}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got = receiver.got.lock().unwrap().clone();
    // In seq order, every seq after the start, each acknowledged once:
    // only the attempts while failing repeat the first.
    let seqs: Vec<i64> = got.iter().map(|g| g.3["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] <= w[1]), "{seqs:?}");
    let mut distinct = seqs.clone();
    distinct.dedup();
    assert_eq!(distinct, ((start + 1)..=end).collect::<Vec<_>>());
    for (signature, delivery, raw, body) in &got {
        assert_eq!(delivery, &body["seq"].to_string());
        // The receiver's check: HMAC-SHA256 of "{t}.{body}" with the secret.
        let t: i64 = signature
            .strip_prefix("t=")
            .and_then(|s| s.split(',').next())
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            (chrono::Utc::now().timestamp() - t).abs() < 300,
            "inside the replay window"
        );
        assert_eq!(
            signature,
            &keel::outbox::sign(SECRET.as_bytes(), t, raw.as_bytes())
        );
    }
    // A publish's fields.
    let publish = got
        .iter()
        .map(|g| &g.3)
        .find(|b| b["id"] == ids[0].as_str())
        .expect("the first match's publish");
    assert_eq!(publish["event"], "publish");
    assert_eq!(publish["type"], "match");
    assert_eq!(publish["slug"], "hooked-0");
    assert!(publish["published_at"].is_string());
    assert!(
        publish["paths"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "/matches/hooked-0")
    );
    assert!(
        publish["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k == "path:/matches/hooked-0")
    );
    let log = app.store.deliveries("webhook:search", 100).await.unwrap();
    assert!(
        log.iter().any(|d| !d.ok && d.status == Some(500)),
        "{log:?}"
    );
    assert!(log[0].ok && log[0].status == Some(204), "{:?}", log[0]);
    // The same, as an operator reads it.
    let admin = app.token("ops", Role::Admin).await;
    let r = app
        .api(reqwest::Method::GET, "/api/v1/outbox", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "editors do not see the outbox");
    let r = app
        .api(reqwest::Method::GET, "/api/v1/outbox", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let status: Value = r.json().await.unwrap();
    let hook = &status["destinations"][0];
    assert_eq!(hook["destination"], "webhook:search", "{status}");
    assert_eq!(hook["backlog"], 0, "{status}");
    assert_eq!(hook["seq"], status["last_seq"]);
    assert!(hook["holder"].is_string(), "{status}");
    assert!(hook["deliveries"].as_array().is_some_and(|d| !d.is_empty()));
    let node = &status["nodes"][0];
    assert_eq!(node["behind"], 0, "{status}");
    receiver.handle.stop(false).await;
}
