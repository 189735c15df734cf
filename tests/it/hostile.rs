//! Issue 17, items 1 to 5, over raw sockets against the real server: one
//! answer per request, in order, with that request's framing whichever
//! layer answers it; `Connection: close` and HTTP/1.0 honoured on every
//! route; oversized heads refused with 431/414 (never a panic); a send
//! timeout for clients that stop reading; `Host` and `Content-Length`
//! checked alike on every path. Item 6 is in `ops.rs`, the framing table in
//! `framing.rs`. Every response goes through h11 first (`wire.rs`).

use std::time::{Duration, Instant};

use keel::config::ServeConfig;
use keel::store::Role;
use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio::net::TcpSocket;

use crate::helpers::{TestApp, TestStore, test_config};
use crate::wire::{self, Exchange, h11_ready};

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

/// A fresh connection's `GET /` gets the home page: the server carries on.
pub async fn assert_still_serving(app: &TestApp) {
    let home = wire::exchange(
        &app.addr,
        b"GET / HTTP/1.1\r\nHost: keel.test\r\nConnection: close\r\n\r\n",
        &["GET"],
    )
    .await;
    assert_eq!(home.statuses(), [200], "the server still answers");
    assert!(home.responses[0].body.len() > 1000);
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

// Item 3: heads past keel's limits get 431 (RFC 6585 §5) or 414 (RFC 9110
// §15.5.15) and a close, before anything grows; nothing panics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_heads_are_refused_and_the_server_carries_on() {
    if !h11_ready() {
        return;
    }
    let app = demo_with(|_| {}).await;
    let line = |name: &str, value: &str| format!("{name}: {value}\r\n");
    let cases = [
        (
            "a 64 KiB header name",
            431,
            line(&"X".repeat(64 * 1024), "v"),
        ),
        (
            "a 64 KiB header value",
            431,
            line("X-Big", &"v".repeat(64 * 1024)),
        ),
        (
            "a 200 KiB head of 25 lines under 8 KiB each",
            431,
            (0..25)
                .map(|i| line(&format!("X-{i}"), &"v".repeat(8000)))
                .collect(),
        ),
        (
            "1,000 header lines",
            431,
            (0..1000).map(|i| line(&format!("X-{i}"), "v")).collect(),
        ),
        ("a request line over 8 KiB", 414, String::new()),
    ];
    let mut failures = Vec::new();
    for (what, status, extra) in cases {
        let path = if status == 414 {
            format!("/{}", "a".repeat(9 * 1024))
        } else {
            "/".to_owned()
        };
        let raw = req("GET", &path, "1.1", &extra) + &req("GET", "/", "1.1", "");
        let pieces: Vec<&[u8]> = raw.as_bytes().chunks(16 * 1024).collect();
        let ex = wire::try_exchange_in(&app.addr, &pieces, Duration::ZERO, &["GET", "GET"]).await;
        if let Err(e) = refused(ex, status) {
            failures.push(format!("{what}: {e}"));
        }
        assert_still_serving(&app).await;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// One response with `status`, `connection: close`, then the close.
pub fn refused(ex: Result<Exchange, String>, status: u16) -> Result<(), String> {
    let ex = ex?;
    let shown = || wire::show(&ex.raw);
    if ex.statuses() != [status] {
        return Err(format!(
            "want [{status}], got {:?}: {}",
            ex.statuses(),
            shown()
        ));
    }
    if !ex.responses[0].says_close() {
        return Err(format!("no `connection: close`: {}", shown()));
    }
    if !ex.closed {
        return Err("the connection stayed open".to_owned());
    }
    Ok(())
}

// Item 4: a client that pipelines requests for a large page and never
// reads is dropped after the send timeout, as nginx's `send_timeout` does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_dropped_after_the_send_timeout() {
    const REQUESTS: usize = 200;
    if !h11_ready() {
        return;
    }
    let send_timeout = Duration::from_secs(2);
    let app = demo_with(|c| {
        c.send_timeout = send_timeout;
        // Idle closes must not pass for the send timeout.
        c.keep_alive = Duration::from_secs(60);
    })
    .await;
    let token = app.token("desk", Role::Editor).await;
    let paragraph = "The visitors sat deep and waited, and the home side \
                     passed the ball sideways for most of an hour. ";
    let body: String = (0..700).map(|i| format!("{paragraph}{i}\n\n")).collect();
    app.publish_new(
        &token,
        "article",
        "slow-reader",
        json!({"title": "Slow reader", "body": body}),
    )
    .await;
    let page = req(
        "GET",
        "/news/slow-reader",
        "1.1",
        "Accept-Encoding: identity\r\n",
    );
    let one = wire::exchange(&app.addr, page.as_bytes(), &["GET"]).await;
    assert_eq!(one.statuses(), [200]);
    let size = one.responses[0].body.len();
    assert!(size > 64 * 1024, "a page of {size} bytes");

    // A small receive window, set before the handshake, fills at once.
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let addr = wire::host_port(&app.addr).parse().expect("addr");
    let mut stream = socket.connect(addr).await.expect("connect");
    let burst = page.repeat(REQUESTS);
    tokio::io::AsyncWriteExt::write_all(&mut stream, burst.as_bytes())
        .await
        .expect("the requests fit the server's receive buffer");
    tokio::time::sleep(send_timeout + Duration::from_secs(3)).await;

    // Drain: a server that gave up sent part of the responses and then its
    // close (or a reset); one that still holds the connection sends them
    // all, more than `REQUESTS` bodies.
    let expected = size * REQUESTS;
    let deadline = Instant::now() + Duration::from_secs(8);
    let (mut read, mut buf) = (0usize, vec![0u8; 256 * 1024]);
    let closed = loop {
        match tokio::time::timeout_at(deadline.into(), stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => break true,
            Ok(Ok(n)) => read += n,
            Err(_) => break false,
        }
        if read >= expected {
            break false;
        }
    };
    assert!(
        closed && read < expected,
        "the connection was still held {:?} after the client stopped reading \
         (send timeout {send_timeout:?}): {read} of {expected} bytes delivered, closed: {closed}",
        send_timeout + Duration::from_secs(3)
    );
    assert_still_serving(&app).await;
}

// Item 5: RFC 9112 §3.2, a server MUST answer 400 to an HTTP/1.1 request
// without Host or with more than one; the front and the rest agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_is_required_once_in_http11_on_every_path() {
    if !h11_ready() {
        return;
    }
    let app = demo_with(|_| {}).await;
    let then = req("GET", "/", "1.1", "");
    let mut failures = Vec::new();
    for (what, head) in [
        ("a page without Host", "GET /matches HTTP/1.1\r\n\r\n"),
        (
            "a page with two Hosts",
            "GET /matches HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        ),
        (
            "a page with the same Host twice",
            "GET /matches HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
        ),
        ("healthz without Host", "GET /healthz HTTP/1.1\r\n\r\n"),
    ] {
        let raw = format!("{head}{then}");
        let ex = wire::try_exchange(&app.addr, raw.as_bytes(), &["GET", "GET"]).await;
        if let Err(e) = refused(ex, 400) {
            failures.push(format!("{what}: {e}"));
        }
    }
    let old = wire::exchange(&app.addr, b"GET /matches HTTP/1.0\r\n\r\n", &["GET"]).await;
    assert_eq!(old.statuses(), [200], "HTTP/1.0 needs no Host");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// RFC 9112 §6.3 and RFC 9110 §8.6: keel takes one plain Content-Length line
// only, on every path, so no two parsers can read a body differently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_content_length_is_refused_on_every_path() {
    if !h11_ready() {
        return;
    }
    let app = demo_with(|_| {}).await;
    let then = req("GET", "/", "1.1", "");
    let mut failures = Vec::new();
    for (what, method, head) in [
        (
            "an API POST",
            "POST",
            "POST /api/v1/entries/team HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n\
             Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
        ),
        (
            "a page GET",
            "GET",
            "GET /matches HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
        ),
    ] {
        let raw = format!("{head}{then}");
        let ex = wire::try_exchange(&app.addr, raw.as_bytes(), &[method, "GET"]).await;
        if let Err(e) = refused(ex, 400) {
            failures.push(format!("{what}: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_still_serving(&app).await;
}

// A body that stops arriving ties up its connection no longer than
// --request-timeout allows between two reads: 408 and close. A client that
// goes away mid-body costs nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stops_arriving_gets_408_and_a_dropped_one_costs_nothing() {
    let app = demo_with(|c| c.request_timeout = Duration::from_secs(1)).await;
    let head = "POST /api/v1/entries/team HTTP/1.1\r\nHost: keel.test\r\n\
                Content-Type: application/json\r\nContent-Length: 20\r\n\r\n{\"sl";
    let ex = wire::try_exchange_in(
        &app.addr,
        &[head.as_bytes(), b"ug\": \"x\"}         "],
        Duration::from_secs(4),
        &["POST"],
    )
    .await;
    // Had the server waited for the rest, it would answer 401 (no token).
    refused(ex, 408).expect("a stalled body");

    let addr = wire::host_port(&app.addr).to_owned();
    for _ in 0..20 {
        let mut stream = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        tokio::io::AsyncWriteExt::write_all(&mut stream, head.as_bytes())
            .await
            .expect("write");
        drop(stream);
    }
    assert_still_serving(&app).await;
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("keel_http_rejected_total{reason=\"timeout\"} 1"),
        "one timeout counted, the dropped bodies none: {metrics}"
    );
}
