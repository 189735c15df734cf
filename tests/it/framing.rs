//! Issue 17's framing vectors, table-driven: smuggling (CL/TE), malformed
//! heads, versions, methods, limits. Each row is a request followed by a
//! pipelined `GET /` asking for a close, to catch a desync; it states
//! keel's answer (first status, and whether the connection closes after it)
//! and nginx 1.22.1's, measured against a stock `root` server (and, for body
//! errors, a `proxy_pass` location, which reads the body first). Where they
//! differ the row cites the RFC that keel follows. Every response is checked
//! by h11, and a fresh `GET /` must get 200 after every row.

use std::time::Duration;

use keel::store::Role;
use tokio::net::TcpStream;

use crate::hostile::demo_with;
use crate::wire::{self, Exchange, h11_ready};

/// Pipelined after every vector: answered only if the connection survived.
const PROBE: &[u8] = b"GET / HTTP/1.1\r\nHost: keel.test\r\nConnection: close\r\n\r\n";

struct Row {
    name: &'static str,
    raw: Vec<u8>,
    /// The vector's method, for h11's framing (GET for a malformed one).
    method: &'static str,
    status: u16,
    /// The connection closes after the first response.
    close: bool,
    /// nginx 1.22.1's answer.
    nginx: &'static str,
}

fn row(
    name: &'static str,
    raw: impl Into<Vec<u8>>,
    status: u16,
    close: bool,
    nginx: &'static str,
) -> Row {
    let raw = raw.into();
    let method = if raw.starts_with(b"POST ") {
        "POST"
    } else {
        "GET"
    };
    Row {
        name,
        raw,
        method,
        status,
        close,
        nginx,
    }
}

/// A POST to a page (405 there, Allow: GET, HEAD) with `headers` and `body`.
fn post(headers: &str, body: &str) -> String {
    format!("POST /matches HTTP/1.1\r\nHost: keel.test\r\n{headers}\r\n{body}")
}

/// A GET of the home page with `headers` after Host.
fn get(headers: &str) -> String {
    format!("GET / HTTP/1.1\r\nHost: keel.test\r\n{headers}\r\n")
}

const CHUNKED: &str = "5\r\nhello\r\n0\r\n\r\n";

#[rustfmt::skip]
fn rows(token: &str) -> Vec<Row> {
    // To the editor API with a token: the body is read before any answer.
    let api = |headers: &str, body: &str| format!(
        "POST /api/v1/entries/team HTTP/1.1\r\nHost: keel.test\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\n{headers}\r\n{body}");
    let te = |coding: &str| post(&format!("Transfer-Encoding: {coding}\r\n"), CHUNKED);
    let lines = |n: usize, len: usize| (0..n).map(|i| format!("X-{i}: {}\r\n", "v".repeat(len))).collect::<String>();
    vec![
        // RFC 9112 §6.1: a server MAY reject CL with TE, and MUST close after.
        row("CL and TE", post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"), 400, true, "400 close"),
        row("two differing CL", post("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!"), 400, true, "400 close"),
        row("two identical CL", post("Content-Length: 5\r\nContent-Length: 5\r\n", "hello"), 400, true, "400 close"),
        row("CL list 5, 5", post("Content-Length: 5, 5\r\n", "hello"), 400, true, "400 close"),
        row("CL +5", post("Content-Length: +5\r\n", "hello"), 400, true, "400 close"),
        row("CL -1", post("Content-Length: -1\r\n", ""), 400, true, "400 close"),
        row("CL 0x5", post("Content-Length: 0x5\r\n", "hello"), 400, true, "400 close"),
        row("CL huge", post("Content-Length: 99999999999999999999999\r\n", "hello"), 400, true, "400 close"),
        // nginx sends `connection: close` but closes only after its
        // lingering_timeout (5 s); keel closes at once.
        row("CL over the body limit", api("Content-Length: 2000000\r\n", "{}"), 413, true, "413 close (after 5 s)"),
        row("TE chunked", te("chunked"), 405, false, "405 keep-alive"),
        // RFC 9112 §7: coding names are case-insensitive.
        row("TE Chunked", te("Chunked"), 405, false, "405 keep-alive"),
        row("TE with spaces", te("  chunked "), 405, false, "405 keep-alive"),
        // RFC 9112 §6.1 / RFC 9110 §15.6.2: a coding keel does not implement.
        row("TE gzip, chunked", te("gzip, chunked"), 501, true, "501 close"),
        // RFC 9112 §6.3 (4): chunked not the final coding of a request:
        // the length cannot be determined, the server MUST answer 400 and
        // close; nginx answers 501.
        row("TE chunked, gzip", te("chunked, gzip"), 400, true, "501 close"),
        row("TE identity", te("identity"), 400, true, "501 close"),
        // RFC 9112 §6.1: chunked MUST NOT be applied more than once, so the
        // framing is invalid (§6.3): 400; nginx answers 501.
        row("TE chunked, chunked", te("chunked, chunked"), 400, true, "501 close"),
        // RFC 9112 §6.1: TE in HTTP/1.0 means faulty framing; close.
        row("TE in HTTP/1.0", format!("POST /matches HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n{CHUNKED}"), 400, true, "400 close"),
        // RFC 9112 §5.2: reject obs-fold with 400 (or unfold it).
        row("obs-fold", get("X-A: a\r\n b\r\n"), 400, true, "400 close"),
        // RFC 9112 §5.1: whitespace before the colon MUST get 400.
        row("space before colon", "GET / HTTP/1.1\r\nHost : keel.test\r\n\r\n", 400, true, "400 close"),
        row("space before colon, other field", get("X-A : b\r\n"), 400, true, "400 close"),
        // RFC 9110 §5.5: NUL and bare CR are never allowed in a value.
        row("NUL in a value", get("X-A: a\0b\r\n"), 400, true, "400 close"),
        row("bare CR in a value", get("X-A: a\rb\r\n"), 400, true, "400 close"),
        row("chunk size overflow", api("Transfer-Encoding: chunked\r\n", "ffffffffffffffffff\r\nhello\r\n0\r\n\r\n"), 400, true, "400 close"),
        row("chunk size zz", api("Transfer-Encoding: chunked\r\n", "zz\r\nhello\r\n0\r\n\r\n"), 400, true, "400 close"),
        // RFC 9112 §3.2.2: a server MUST accept the absolute form.
        row("absolute form", "GET http://keel.test/matches HTTP/1.1\r\nHost: keel.test\r\n\r\n", 200, false, "200 keep-alive"),
        // RFC 9112 §3.2: HTTP/1.1 without Host, or with several: 400.
        row("no Host", "GET / HTTP/1.1\r\n\r\n", 400, true, "400 close"),
        row("two Hosts", get("Host: other.test\r\n"), 400, true, "400 close"),
        row("the same Host twice", get("Host: keel.test\r\n"), 400, true, "400 close"),
        row("HTTP/1.0", "GET / HTTP/1.0\r\n\r\n", 200, true, "200 close"),
        row("HTTP/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 200, false, "200 keep-alive"),
        // RFC 9110 §15.6.6: 505 for a major version keel does not speak
        // (the h2 preface is `PRI * HTTP/2.0`); nginx says 400.
        row("HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, true, "400 close"),
        // RFC 9112 §2.3 / RFC 9110 §6.2: a higher minor version is served
        // as HTTP/1.1.
        row("HTTP/1.2", "GET / HTTP/1.2\r\nHost: keel.test\r\n\r\n", 200, false, "200 keep-alive"),
        row("HTTP/2.0", "GET / HTTP/2.0\r\nHost: keel.test\r\n\r\n", 505, true, "505 close"),
        // RFC 9112 §3: the request line has a version (RFC 7230 A.2 dropped
        // HTTP/0.9); nginx answers in HTTP/0.9, a bare body.
        row("HTTP/0.9 request", "GET /\r\n\r\n", 400, true, "HTTP/0.9 body, close"),
        // RFC 9110 §9.1: methods are case-sensitive tokens; `get` is a
        // well-formed unknown method, not a syntax error: the router's 405.
        row("lowercase get", "get / HTTP/1.1\r\nHost: keel.test\r\n\r\n", 405, false, "400 close"),
        row("unknown method FOO", "FOO / HTTP/1.1\r\nHost: keel.test\r\n\r\n", 405, false, "405 keep-alive"),
        // RFC 9112 §3.2.4: the asterisk form is valid for OPTIONS; keel has
        // no server-wide options: 405.
        row("OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: keel.test\r\n\r\n", 405, false, "400 close"),
        row("request line over 8 KiB", format!("GET /{} HTTP/1.1\r\nHost: keel.test\r\n\r\n", "a".repeat(9000)), 414, true, "414 close"),
        row("Expect 100-continue, GET with a body", get("Expect: 100-continue\r\nContent-Length: 5\r\n") + "hello", 200, false, "100, 200 keep-alive"),
        // RFC 6585 §5: 431 for header fields too large; nginx says 400.
        row("header line over 8 KiB", get(&lines(1, 9000)), 431, true, "400 close"),
        row("head over 32 KiB", get(&lines(5, 7000)), 431, true, "400 close"),
        // RFC 9110 §5.4 lets a server bound the field section; RFC 6585 §5:
        // 431. nginx has no line limit.
        row("101 header lines", get(&lines(101, 1)), 431, true, "200 keep-alive"),
        row("64 KiB header name", get(&format!("{}: v\r\n", "X".repeat(64 * 1024))), 431, true, "400 close"),
        row("page GET with CL 0 twice", get("Content-Length: 0\r\nContent-Length: 0\r\n"), 400, true, "400 close"),
    ]
}

/// What is wrong with the answer to `row`, if anything.
fn judge(row: &Row, ex: Result<Exchange, String>) -> Result<(), String> {
    let ex = ex?;
    let shown = || wire::show(&ex.raw);
    let Some(first) = ex.responses.first() else {
        return Err(format!("no response: {}", shown()));
    };
    if first.status != row.status {
        return Err(format!(
            "status {}, want {}: {}",
            first.status,
            row.status,
            shown()
        ));
    }
    if row.close {
        if ex.responses.len() != 1 {
            return Err(format!("answered after it: {:?}", ex.statuses()));
        }
        if first.status >= 400 && !first.says_close() {
            return Err(format!("an error without `connection: close`: {}", shown()));
        }
    } else {
        if first.says_close() {
            return Err(format!("closed the connection: {}", shown()));
        }
        if ex.statuses() != [row.status, 200] {
            return Err(format!(
                "the pipelined GET: {:?}: {}",
                ex.statuses(),
                shown()
            ));
        }
    }
    // The vector's close, or the pipelined GET's.
    if !ex.closed {
        return Err("the connection stayed open".to_owned());
    }
    Ok(())
}

/// Sends `raw` on a fresh connection; what came back, unchecked.
async fn talk(addr: &str, raw: &[u8], methods: &[&str]) -> wire::Talk {
    let stream = TcpStream::connect(wire::host_port(addr))
        .await
        .expect("connect");
    let (raw, closed) = wire::talk(stream, &[raw], Duration::ZERO).await;
    let methods = methods.iter().map(|m| (*m).to_owned()).collect();
    wire::Talk {
        raw,
        closed,
        methods,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn framing_vectors_get_keels_answers_and_never_desync() {
    if !h11_ready() {
        return;
    }
    let app = demo_with(|_| {}).await;
    let token = app.token("desk", Role::Editor).await;
    let rows = rows(&token);
    // Talk first, check after: one h11 process for every connection.
    let mut talks = Vec::new();
    for row in &rows {
        let raw = [row.raw.as_slice(), PROBE].concat();
        talks.push(talk(&app.addr, &raw, &[row.method, "GET"]).await);
        talks.push(talk(&app.addr, PROBE, &["GET"]).await);
    }
    let mut checked = wire::check_many(talks).await.into_iter();
    let mut failures = Vec::new();
    for row in &rows {
        let (vector, home) = (checked.next().expect("row"), checked.next().expect("home"));
        if let Err(e) = judge(row, vector) {
            failures.push(format!("{} (nginx: {}): {e}", row.name, row.nginx));
        }
        match home.map(|h| h.statuses()) {
            Ok(s) if s == [200] => {}
            other => failures.push(format!("after {}: GET / got {other:?}", row.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} vectors:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_absolute_form_is_served_like_the_origin_form() {
    if !h11_ready() {
        return;
    }
    let app = demo_with(|_| {}).await;
    let raw = "GET http://keel.test/matches HTTP/1.1\r\nHost: keel.test\r\n\r\n\
               GET /matches HTTP/1.1\r\nHost: keel.test\r\n\r\n";
    let ex = wire::exchange(&app.addr, raw.as_bytes(), &["GET", "GET"]).await;
    assert_eq!(ex.statuses(), [200, 200]);
    assert_eq!(ex.responses[0].body, ex.responses[1].body);
}

/// A body sent whole after `Expect: 100-continue`: a 100 is optional (RFC
/// 9110 §10.1.1), one at most, and the body is not taken for a request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_100_continue_with_the_body_sent_gets_one_answer() {
    if !h11_ready() {
        return;
    }
    let app = demo_with(|_| {}).await;
    let expect = "GET / HTTP/1.1\r\nHost: keel.test\r\nExpect: 100-continue\r\n\
                  Content-Length: 5\r\n\r\nhello";
    let raw = format!("{expect}{}", String::from_utf8_lossy(PROBE));
    let ex = wire::exchange(&app.addr, raw.as_bytes(), &["GET", "GET"]).await;
    assert_eq!(ex.statuses(), [200, 200]);
    assert!(ex.responses[0].informational.iter().all(|&s| s == 100));
    assert!(ex.responses[0].informational.len() <= 1);
}
