//! keel's HTTP/1.1 front over raw TCP: pipelining, partial heads, HTTP/1.0
//! and `Connection: close` framing, HEAD and 304 framing, requests for the
//! actix-web app mid-connection, idle and slow-client timeouts, bodies too large
//! to copy, and that the front and actix-web answer a page alike.

use std::time::Duration;

use keel::config::ServeConfig;
use keel::store::Role;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, TestStore, test_config};

/// One response as read off the wire.
#[derive(Debug, PartialEq)]
struct Wire {
    status: u16,
    /// Lowercased names, in order, without `date` (it moves every second).
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Wire {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A raw client connection that keeps any bytes read past a response.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(app: &TestApp) -> Conn {
        let addr = app.addr.trim_start_matches("http://");
        Conn {
            stream: TcpStream::connect(addr).await.expect("connect"),
            buf: Vec::new(),
        }
    }

    async fn send(&mut self, raw: &str) {
        self.stream.write_all(raw.as_bytes()).await.expect("write");
    }

    async fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 16 * 1024];
        let n = tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut chunk))
            .await
            .expect("a response within 10 s")
            .expect("read");
        self.buf.extend_from_slice(&chunk[..n]);
        n
    }

    /// Reads one response; `head` when it answers a HEAD (no body follows).
    async fn response(&mut self, head: bool) -> Wire {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut res = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(len) = res.parse(&self.buf).expect("valid response") {
                let status = res.code.expect("status");
                let headers: Vec<(String, String)> = res
                    .headers
                    .iter()
                    .map(|h| {
                        let value = String::from_utf8(h.value.to_vec()).expect("ASCII");
                        (h.name.to_ascii_lowercase(), value)
                    })
                    .collect();
                let length = headers
                    .iter()
                    .find(|(n, _)| n == "content-length")
                    .map_or(0, |(_, v)| v.parse::<usize>().expect("length"));
                let length = if head || status == 304 { 0 } else { length };
                self.buf.drain(..len);
                while self.buf.len() < length {
                    assert!(self.fill().await > 0, "closed inside a body");
                }
                let body = self.buf.drain(..length).collect();
                let headers = headers.into_iter().filter(|(n, _)| n != "date").collect();
                return Wire {
                    status,
                    headers,
                    body,
                };
            }
            assert!(self.fill().await > 0, "closed before a response");
        }
    }

    /// True when the server closes the connection within `within`.
    async fn closed_within(&mut self, within: Duration) -> bool {
        let mut chunk = [0u8; 1024];
        matches!(
            tokio::time::timeout(within, self.stream.read(&mut chunk)).await,
            Ok(Ok(0) | Err(_))
        )
    }
}

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: keel.test\r\n{extra}\r\n")
}

async fn demo(timeouts: Option<Duration>) -> TestApp {
    let fixture = TestStore::sqlite().await;
    let mut config = ServeConfig {
        demo: true,
        schedule_every: Duration::from_secs(3600),
        ..test_config(&fixture.url)
    };
    if let Some(t) = timeouts {
        config.keep_alive = t;
        config.request_timeout = t;
    }
    TestApp::spawn_with(config, fixture.store.clone(), Some(fixture)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_in_order_with_their_framing() {
    let app = demo(None).await;
    let mut conn = Conn::open(&app).await;
    let home = get("/", "Accept-Encoding: br\r\n");
    let head = "HEAD /matches HTTP/1.1\r\nHost: keel.test\r\nAccept-Encoding: gzip\r\n\r\n";
    let missing = get("/nowhere", "");
    conn.send(&format!("{home}{head}{missing}")).await;

    let first = conn.response(false).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("content-encoding"), Some("br"));
    assert_eq!(first.header("cache-status"), Some("keel; hit"));
    assert!(!first.body.is_empty());
    let second = conn.response(true).await;
    assert_eq!(second.status, 200);
    assert_eq!(second.header("content-encoding"), Some("gzip"));
    let full = conn.response(false).await;
    // The 404 came right after the HEAD's header block: the HEAD sent no
    // body, and its length is the GET's.
    assert_eq!(full.status, 404);
    let get_matches = {
        conn.send(&get("/matches", "Accept-Encoding: gzip\r\n"))
            .await;
        conn.response(false).await
    };
    assert_eq!(
        second.header("content-length").map(str::parse::<usize>),
        Some(Ok(get_matches.body.len()))
    );
    assert_eq!(second.headers, get_matches.headers);
    assert!(
        app.metrics()
            .await
            .contains("keel_http_requests_total{route=\"page\",status=\"404\"} 1"),
        "front requests are counted like the others"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_split_across_writes_is_answered() {
    let app = demo(None).await;
    let mut conn = Conn::open(&app).await;
    let raw = get("/matches", "Accept-Encoding: identity\r\n");
    for part in [&raw[..7], &raw[7..20], &raw[20..]] {
        conn.send(part).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let res = conn.response(false).await;
    assert_eq!(res.status, 200);
    assert!(String::from_utf8_lossy(&res.body).contains("</html>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_and_http10_connections_are_framed_as_asked() {
    let app = demo(None).await;

    let mut close = Conn::open(&app).await;
    close.send(&get("/", "Connection: close\r\n")).await;
    let res = close.response(false).await;
    assert_eq!(res.header("connection"), Some("close"));
    assert!(close.closed_within(Duration::from_secs(2)).await);

    let mut old = Conn::open(&app).await;
    old.send("GET / HTTP/1.0\r\n\r\n").await;
    let res = old.response(false).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("connection"), None);
    assert!(old.closed_within(Duration::from_secs(2)).await);

    let mut kept = Conn::open(&app).await;
    kept.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .await;
    let res = kept.response(false).await;
    assert_eq!(res.header("connection"), Some("keep-alive"));
    kept.send("GET /matches HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .await;
    assert_eq!(kept.response(false).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_requests_go_to_the_app_mid_connection() {
    let app = demo(None).await;
    let mut conn = Conn::open(&app).await;
    conn.send(&get("/", "")).await;
    assert_eq!(conn.response(false).await.status, 200);
    // A body, a method and a route for the app, pipelined behind a page
    // request: each answered in turn on the same connection.
    let post = "POST /api/v1/entries/team HTTP/1.1\r\nHost: keel.test\r\n\
                Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
    conn.send(&format!(
        "{}{post}{}",
        get("/matches", ""),
        get("/metrics", "")
    ))
    .await;
    assert_eq!(conn.response(false).await.status, 200);
    let denied = conn.response(false).await;
    assert_eq!(denied.status, 401, "no token");
    assert_eq!(
        denied.header("content-type"),
        Some("application/problem+json")
    );
    let metrics = conn.response(false).await;
    assert_eq!(metrics.status, 200);
    assert!(String::from_utf8_lossy(&metrics.body).contains("keel_http_requests_total"));
    // Pages still answer on the same connection, from the cache.
    conn.send(&get("/matches", "")).await;
    assert_eq!(conn.response(false).await.status, 200);

    let mut wrong = Conn::open(&app).await;
    wrong
        .send("DELETE /matches HTTP/1.1\r\nHost: keel.test\r\n\r\n")
        .await;
    let res = wrong.response(false).await;
    assert_eq!(res.status, 405);
    assert_eq!(res.header("allow"), Some("GET, HEAD"));

    let mut garbage = Conn::open(&app).await;
    garbage
        .send("GET / HTTP/1.1\r\nNo colon here\r\n\r\n")
        .await;
    assert_eq!(garbage.response(false).await.status, 400);
}

/// The same page request answered by the front and by actix-web's delivery
/// handler (a GET with a body goes to the app) gives the same response.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_front_and_actix_web_answer_a_page_alike() {
    let app = demo(None).await;
    let mut probe = Conn::open(&app).await;
    probe
        .send(&get("/matches", "Accept-Encoding: br\r\n"))
        .await;
    let etag = probe
        .response(false)
        .await
        .header("etag")
        .expect("etag")
        .to_owned();
    let requests = [
        get("/", ""),
        get("/", "Accept-Encoding: gzip, deflate, br\r\n"),
        get("/matches", "Accept-Encoding: gzip;q=1, br;q=0.5\r\n"),
        get(
            "/matches",
            &format!("Accept-Encoding: br\r\nIf-None-Match: {etag}\r\n"),
        ),
        get(
            "/matches",
            "If-Modified-Since: Mon, 01 Jan 2035 00:00:00 GMT\r\n",
        ),
        get("/matches?page=2", "Accept-Encoding: identity\r\n"),
        get("/teams/harbour-city", "Accept-Encoding: *\r\n"),
        get("/nowhere", "Accept-Encoding: br\r\n"),
        get(
            "/api/v1/content/team/harbour-city",
            "Accept-Encoding: gzip\r\n",
        ),
        "HEAD /teams/harbour-city HTTP/1.1\r\nHost: keel.test\r\n\r\n".to_owned(),
    ];
    for raw in requests {
        let head = raw.starts_with("HEAD");
        let mut front = Conn::open(&app).await;
        front.send(&raw).await;
        let by_front = front.response(head).await;

        let mut actix = Conn::open(&app).await;
        let with_body = format!(
            "{}Content-Length: 1\r\n\r\nx",
            raw.strip_suffix("\r\n").expect("a head")
        );
        actix.send(&with_body).await;
        let by_actix = actix.response(head).await;
        let sorted = |w: &Wire| {
            let mut h = w.headers.clone();
            h.sort();
            h
        };
        assert_eq!(by_front.status, by_actix.status, "{raw}");
        assert_eq!(sorted(&by_front), sorted(&by_actix), "{raw}");
        assert_eq!(by_front.body, by_actix.body, "{raw}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_connections_are_closed() {
    let app = demo(Some(Duration::from_millis(300))).await;

    let mut idle = Conn::open(&app).await;
    idle.send(&get("/", "")).await;
    assert_eq!(idle.response(false).await.status, 200);
    assert!(
        idle.closed_within(Duration::from_secs(3)).await,
        "idle past --keep-alive"
    );

    let mut slow = Conn::open(&app).await;
    slow.send("GET /matches HTTP/1.1\r\nHost: ke").await;
    let res = slow.response(false).await;
    assert_eq!(res.status, 408);
    assert!(slow.closed_within(Duration::from_secs(3)).await);

    // Busy connections are not cut: requests keep coming inside the idle
    // time, for longer than it.
    let mut busy = Conn::open(&app).await;
    for _ in 0..8 {
        busy.send(&get("/", "")).await;
        assert_eq!(busy.response(false).await.status, 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_too_large_to_copy_is_sent_whole() {
    let app = demo(None).await;
    let token = app.token("desk", Role::Editor).await;
    let paragraph = "The home side pressed from the first whistle, and the away \
                     keeper was busy long before the crowd had settled. ";
    let body: String = (0..600).map(|i| format!("{paragraph}{i}\n\n")).collect();
    app.publish_new(
        &token,
        "article",
        "long-read",
        json!({"title": "Long read", "body": body}),
    )
    .await;

    let mut conn = Conn::open(&app).await;
    let page = get("/news/long-read", "Accept-Encoding: identity\r\n");
    conn.send(&format!("{page}{}{page}", get("/", ""))).await;
    let first = conn.response(false).await;
    assert_eq!(first.status, 200);
    assert!(first.body.len() > 64 * 1024, "{} bytes", first.body.len());
    let html = String::from_utf8(first.body.clone()).expect("utf-8");
    assert!(html.contains("599"), "the last paragraph arrived");
    assert!(html.trim_end().ends_with("</html>"));
    assert_eq!(conn.response(false).await.status, 200);
    assert_eq!(conn.response(false).await.body, first.body);
}
