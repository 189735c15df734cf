//! The real server on a random port: health, readiness, demo seeding.

use keel::config::ServeConfig;
use keel::startup::Server;
use serde_json::Value;

use crate::helpers::{TestApp, TestStore, demo_content_types};
use crate::on_both_backends;

on_both_backends!(
    fixture: health_and_readiness_answer_as_json,
    serve_demo_seeds_an_empty_database_once,
);

async fn health_and_readiness_answer_as_json(store: TestStore) {
    let app = TestApp::spawn(store, false).await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    assert_eq!(health.headers()["cache-control"], "no-store");
    let body: Value = health.json().await.unwrap();
    assert_eq!(body["status"], "alive");

    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["database"]["status"], "up");
    assert_eq!(body["database"]["circuit"], "closed");
    assert!(body["cache"]["published_paths"].is_u64(), "{body}");
    assert!(body["cache"]["pinned_paths"].is_u64(), "{body}");
    assert!(body["warm_up"]["recent"]["queries"].is_u64(), "{body}");
}

async fn serve_demo_seeds_an_empty_database_once(store: TestStore) {
    let url = store.url.clone();
    let app = TestApp::spawn(store, true).await;
    let count = |t: &'static str| {
        let store = app.store.clone();
        async move { store.published_entries(t).await.unwrap().len() }
    };
    assert_eq!(count("team").await, 6);
    assert_eq!(count("match").await, 12);
    assert!(count("article").await >= 3);
    let entries = app.store.count_entries().await.unwrap();
    let images = app
        .store
        .media_list(&keel::model::MediaQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .len() as i64;
    assert_eq!(images, 11, "a crest per club and five match graphics");
    let events = app.store.last_seq().await.unwrap();
    assert_eq!(
        events,
        entries + images + 1,
        "one event per demo image and entry, after robots.txt and the sitemap index"
    );

    // A second start with --demo finds entries and seeds nothing more.
    let again = Server::build(ServeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        demo: true,
        ..ServeConfig::new(url, demo_content_types())
    })
    .await
    .unwrap();
    drop(again);
    assert_eq!(app.store.count_entries().await.unwrap(), entries);
    assert_eq!(
        app.store.last_seq().await.unwrap(),
        events,
        "robots.txt and the sitemaps are current: nothing is written"
    );
}
