//! Issue 17 over raw sockets against the real server: one answer per
//! request, in order, with that request's framing whichever layer answers
//! it; `Connection: close` and HTTP/1.0 honoured on every route. Every
//! response goes through h11 first (`wire.rs`).

use std::time::Duration;

use keel::config::ServeConfig;

use crate::helpers::{TestApp, TestStore, test_config};
use crate::wire::{self, h11_ready};

/// The demo site on a fresh SQLite file, `tune` applied to its settings.
pub async fn demo_with(tune: impl FnOnce(&mut ServeConfig)) -> TestApp {
    let fixture = TestStore::sqlite().await;
    let mut config = ServeConfig {
        demo: true,
        schedule_every: Duration::from_secs(3600),
        ..test_config(&fixture.url)
    };
    tune(&mut config);
    TestApp::spawn_with(config, fixture.store.clone(), Some(fixture)).await
}

fn req(method: &str, path: &str, version: &str, extra: &str) -> String {
    format!("{method} {path} HTTP/{version}\r\nHost: keel.test\r\n{extra}\r\n")
}

// Item 1: once actix-web had answered a request on a connection, pipelined
// HEAD responses carried a body and GET responses none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_after_an_operations_request_keep_their_framing() {
    if !h11_ready() {
        return;
    }
    let app = demo_with(|_| {}).await;
    let raw = [
        req("GET", "/healthz", "1.1", ""),
        req("HEAD", "/matches", "1.1", ""),
        req("GET", "/matches", "1.1", ""),
    ]
    .concat();
    let ex = wire::exchange(&app.addr, raw.as_bytes(), &["GET", "HEAD", "GET"]).await;
    assert_eq!(ex.statuses(), [200, 200, 200]);
    let [health, head, get] = &ex.responses[..] else {
        unreachable!()
    };
    assert!(String::from_utf8_lossy(&health.body).contains("alive"));
    assert!(head.body.is_empty(), "a HEAD response has no body");
    assert_eq!(
        head.header("content-length"),
        Some(get.body.len().to_string().as_str()),
        "the HEAD announces the GET's length"
    );
    assert_eq!(ex.count("<!doctype"), 1, "one page body on the wire");
    assert!(!ex.closed, "nothing asked for a close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_page_requests_after_an_api_post_keep_their_framing() {
    if !h11_ready() {
        return;
    }
    let app = demo_with(|_| {}).await;
    let post = "POST /api/v1/entries/team HTTP/1.1\r\nHost: keel.test\r\n\
                Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
    let raw = [
        post.to_owned(),
        req("HEAD", "/matches", "1.1", ""),
        req("GET", "/", "1.1", ""),
        req("HEAD", "/", "1.1", ""),
        req("GET", "/matches", "1.1", ""),
    ]
    .concat();
    let methods = ["POST", "HEAD", "GET", "HEAD", "GET"];
    let ex = wire::exchange(&app.addr, raw.as_bytes(), &methods).await;
    assert_eq!(ex.statuses(), [401, 200, 200, 200, 200], "no token: 401");
    for (res, method) in ex.responses.iter().zip(methods).skip(1) {
        let length: usize = res
            .header("content-length")
            .expect("content-length")
            .parse()
            .expect("a number");
        match method {
            "HEAD" => assert!(res.body.is_empty(), "a HEAD response has no body"),
            _ => assert_eq!(res.body.len(), length),
        }
    }
    assert_eq!(ex.count("<!doctype"), 2, "two page bodies on the wire");
    assert!(!ex.closed);
}

// Item 2: RFC 9112 §9.6, a server that sends `close` closes after that
// response; §9.3, HTTP/1.0 persists only with `keep-alive`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_close_and_http10_end_the_connection_on_every_route() {
    if !h11_ready() {
        return;
    }
    let app = demo_with(|_| {}).await;
    let then_page = req("GET", "/matches", "1.1", "");

    let close = req("GET", "/healthz", "1.1", "Connection: close\r\n") + &then_page;
    let ex = wire::exchange(&app.addr, close.as_bytes(), &["GET", "GET"]).await;
    assert_eq!(ex.statuses(), [200], "one answer, then the close");
    assert!(ex.responses[0].says_close());
    assert!(ex.closed, "the server closed after `Connection: close`");

    let old = "GET /healthz HTTP/1.0\r\n\r\nGET /matches HTTP/1.0\r\n\r\n";
    let ex = wire::exchange(&app.addr, old.as_bytes(), &["GET", "GET"]).await;
    assert_eq!(ex.statuses(), [200], "HTTP/1.0 without keep-alive");
    assert!(ex.closed);

    let kept = "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n\
                GET /matches HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    let ex = wire::exchange(&app.addr, kept.as_bytes(), &["GET", "GET"]).await;
    assert_eq!(ex.statuses(), [200, 200], "HTTP/1.0 with keep-alive");
    assert_eq!(ex.count("<!doctype"), 1);
    assert!(!ex.closed, "kept open for a next request");
}
