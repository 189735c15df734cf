//! Request bodies from hostile clients, over raw sockets against the real
//! server: an image upload's body, or any body over 64 KiB, is read only
//! for a caller with a token or a live session; bodies held at once stay
//! within `--body-memory-bytes`
//! (503 and `Retry-After` beyond it, everything else carrying on), and a
//! stranger's chunked body cannot take any of it; and a
//! body drip-fed below the minimum pace is cut with 408. Every response
//! goes through h11 (`wire.rs`).

use std::time::Duration;

use keel::config::ServeConfig;
use keel::media::samples;
use keel::store::Role;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, TestStore, test_config};
use crate::hostile::refused;
use crate::wire::{self, h11_ready};

/// An empty site on a fresh SQLite file, `tune` applied to its settings.
async fn site_with(tune: impl FnOnce(&mut ServeConfig)) -> TestApp {
    let fixture = TestStore::sqlite().await;
    let mut config = test_config(&fixture.url);
    tune(&mut config);
    TestApp::spawn_with(config, fixture.store.clone(), Some(fixture)).await
}

fn upload_head(path: &str, credential: &str, length: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: keel.test\r\n{credential}\
         Content-Type: image/jpeg\r\nContent-Length: {length}\r\n\r\n"
    )
}

// Each refusal comes without a byte of the body sent: had the server
// waited for it, the answer would be a 408 after --request-timeout, and
// with the timeout at a minute it would not come at all within the
// exchange's bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_from_unknown_callers_are_refused_before_they_are_read() {
    if !h11_ready() {
        return;
    }
    let app = site_with(|c| c.request_timeout = Duration::from_secs(60)).await;
    let full = 20 * 1024 * 1024;
    let cases = [
        ("/api/v1/media", String::new(), 401, "missing Authorization"),
        (
            "/api/v1/media",
            "Authorization: Bearer keel_forged\r\n".to_owned(),
            401,
            "unknown or revoked token",
        ),
        (
            "/api/v1/media",
            "Cookie: keel_session=forged\r\n".to_owned(),
            401,
            "sign in again",
        ),
        (
            "/api/v1/media",
            "Expect: 100-continue\r\n".to_owned(),
            401,
            "missing Authorization",
        ),
        // The app's form is for sessions: a token does not open it.
        (
            "/admin/media",
            "Authorization: Bearer keel_forged\r\n".to_owned(),
            303,
            "",
        ),
        // Not only uploads: any body over 64 KiB, on the API or the app.
        (
            "/api/v1/entries/team",
            String::new(),
            401,
            "missing Authorization",
        ),
        ("/admin/entries/team/new", String::new(), 303, ""),
    ];
    for (path, credential, status, says) in cases {
        let length = if path.contains("media") {
            full
        } else {
            512 * 1024
        };
        let head = upload_head(path, &credential, length);
        let ex = wire::try_exchange(&app.addr, head.as_bytes(), &["POST"]).await;
        let shown = ex.as_ref().map(|e| wire::show(&e.raw)).unwrap_or_default();
        refused(ex.clone(), status).unwrap_or_else(|e| panic!("{path} {credential:?}: {e}"));
        let ex = ex.expect("checked above");
        let answer = &ex.responses[0];
        assert!(
            answer.informational.is_empty(),
            "no 100 Continue for a refused upload: {shown}"
        );
        let body = String::from_utf8_lossy(&answer.body);
        assert!(body.contains(says), "{path} {credential:?}: {shown}");
        if status == 303 {
            assert!(
                answer
                    .header("location")
                    .is_some_and(|l| l.starts_with("/admin/login")),
                "{shown}"
            );
        }
    }

    // A crowd of them, each sending a megabyte it was never asked for:
    // every one is answered and closed, and the node carries on.
    let addr = wire::host_port(&app.addr).to_owned();
    let junk = vec![0xA5u8; 1024 * 1024];
    let crowd: Vec<_> = (0..64)
        .map(|_| {
            let (addr, junk) = (addr.clone(), junk.clone());
            tokio::spawn(async move {
                let mut stream = TcpStream::connect(&addr).await.expect("connect");
                let head = upload_head("/api/v1/media", "", full);
                stream.write_all(head.as_bytes()).await.expect("head");
                // The server may close before all of it is taken.
                let _ = stream.write_all(&junk).await;
                let mut answer = Vec::new();
                let _ =
                    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
                        .await;
                answer
            })
        })
        .collect();
    for answer in crowd {
        let answer = answer.await.expect("client task");
        assert!(
            answer.starts_with(b"HTTP/1.1 401 "),
            "{}",
            wire::show(&answer)
        );
    }
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("keel_http_rejected_total{reason=\"busy\"} 0"),
        "refused before reading, so none held the body budget: {metrics}"
    );
    let list = app
        .api(
            reqwest::Method::GET,
            "/api/v1/media",
            &app.token("desk", Role::Writer).await,
        )
        .send()
        .await
        .expect("list");
    assert_eq!(list.status(), 200);
    let list: serde_json::Value = list.json().await.expect("json");
    assert_eq!(list["items"], json!([]), "nothing stored");
}

/// Sends the rest of a body on `stream` and returns the start of the answer.
async fn finish(stream: &mut TcpStream, rest: &[u8]) -> String {
    stream.write_all(rest).await.expect("rest of the body");
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut answer))
        .await
        .expect("an answer in time")
        .expect("read");
    String::from_utf8_lossy(&answer[..n]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_beyond_the_memory_budget_get_503_and_the_rest_carry_on() {
    if !h11_ready() {
        return;
    }
    // Room for one upload at its limit (300 KiB and a form's overhead),
    // not for two.
    let app = site_with(|c| {
        c.max_body_bytes = 64 * 1024;
        c.max_upload_bytes = 300 * 1024;
        c.body_memory_bytes = 400 * 1024;
    })
    .await;
    let token = app.token("stringer", Role::Writer).await;
    let bearer = format!("Authorization: Bearer {token}\r\n");
    let first = samples::jpeg(&samples::photo(700, 500), None);
    assert!(
        (100 * 1024..300 * 1024).contains(&first.len()),
        "a photo that takes a budgeted share: {} bytes",
        first.len()
    );

    // One upload takes its share and pauses halfway. It asks to continue,
    // and the server says so only once the share is taken.
    let addr = wire::host_port(&app.addr).to_owned();
    let mut holding = TcpStream::connect(&addr).await.expect("connect");
    let head = upload_head(
        "/api/v1/media?alt=Held",
        &format!("{bearer}Expect: 100-continue\r\n"),
        first.len(),
    );
    holding.write_all(head.as_bytes()).await.expect("head");
    let mut interim = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(10), holding.read(&mut interim))
        .await
        .expect("an interim answer in time")
        .expect("read");
    assert!(
        interim[..n].starts_with(b"HTTP/1.1 100 Continue\r\n\r\n"),
        "{}",
        String::from_utf8_lossy(&interim[..n])
    );
    holding
        .write_all(&first[..first.len() / 2])
        .await
        .expect("half");

    // A second that would need more than is left is turned away at once.
    let head = upload_head("/api/v1/media?alt=Second", &bearer, 300 * 1024);
    let ex = wire::try_exchange(&app.addr, head.as_bytes(), &["POST"]).await;
    let shown = ex.as_ref().map(|e| wire::show(&e.raw)).unwrap_or_default();
    refused(ex.clone(), 503).unwrap_or_else(|e| panic!("{e}"));
    let busy = &ex.expect("checked above").responses[0];
    assert_eq!(busy.header("retry-after"), Some("2"), "{shown}");
    let problem: serde_json::Value = serde_json::from_slice(&busy.body).expect("problem");
    assert_eq!(problem["code"], "busy", "{shown}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("retry"),
        "{problem}"
    );

    // Small bodies (an API call's JSON) draw nothing from the budget.
    let created = app
        .api(reqwest::Method::POST, "/api/v1/entries/team", &token)
        .json(&json!({"slug": "budget-fc", "data": {"name": "Budget FC"}}))
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), 201);

    // The held upload completes, and then there is room again.
    let answer = finish(&mut holding, &first[first.len() / 2..]).await;
    assert!(answer.starts_with("HTTP/1.1 201 "), "{answer}");
    let second = samples::jpeg(&samples::photo(640, 480), None);
    let stored = app
        .api(reqwest::Method::POST, "/api/v1/media?alt=Second", &token)
        .header("content-type", "image/jpeg")
        .body(second)
        .send()
        .await
        .expect("upload");
    assert_eq!(stored.status(), 201);
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("keel_http_rejected_total{reason=\"busy\"} 1"),
        "{metrics}"
    );

    // An upload whose client goes away once its share is taken gives the
    // share back, and stores nothing. It declares 300 KiB, so the next
    // (over 100 KiB) fits only once that share is back.
    let after = samples::jpeg(&samples::photo(680, 500), None);
    assert!(after.len() > 100 * 1024, "{} bytes", after.len());
    let mut dropped = TcpStream::connect(&addr).await.expect("connect");
    let head = upload_head(
        "/api/v1/media?alt=Dropped",
        &format!("{bearer}Expect: 100-continue\r\n"),
        300 * 1024,
    );
    dropped.write_all(head.as_bytes()).await.expect("head");
    let n = tokio::time::timeout(Duration::from_secs(10), dropped.read(&mut interim))
        .await
        .expect("an interim answer in time")
        .expect("read");
    assert!(interim[..n].starts_with(b"HTTP/1.1 100 Continue\r\n\r\n"));
    dropped
        .write_all(&first[..first.len() / 2])
        .await
        .expect("half");
    drop(dropped);
    // The server learns of the close on its next read of that connection.
    let until = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let stored = app
            .api(reqwest::Method::POST, "/api/v1/media?alt=After", &token)
            .header("content-type", "image/jpeg")
            .body(after.clone())
            .send()
            .await
            .expect("upload");
        if stored.status() == 201 {
            break;
        }
        assert_eq!(stored.status(), 503, "only busy while the close is unseen");
        assert!(
            std::time::Instant::now() < until,
            "the dropped upload's share never came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let list = app
        .api(reqwest::Method::GET, "/api/v1/media", &token)
        .send()
        .await
        .expect("list");
    let list: serde_json::Value = list.json().await.expect("json");
    let alts: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|item| item["alt"].as_str())
        .collect();
    assert!(!alts.contains(&"Dropped"), "{alts:?}");
    assert!(alts.contains(&"After"), "{alts:?}");

    // A budget that cannot hold one upload at its limit is a mistake the
    // node refuses to start with, naming the setting.
    let fixture = TestStore::sqlite().await;
    let config = ServeConfig {
        body_memory_bytes: 1024 * 1024,
        ..test_config(&fixture.url)
    };
    let error = keel::startup::Server::build(config)
        .await
        .err()
        .expect("refused");
    assert!(
        format!("{error:#}").contains("--body-memory-bytes"),
        "{error:#}"
    );
}

/// `body` as chunks of `size` bytes, with the last chunk when `last`.
fn chunks(body: &[u8], size: usize, last: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in body.chunks(size) {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    if last {
        out.extend_from_slice(b"0\r\n\r\n");
    }
    out
}

fn chunked_head(path: &str, credential: &str, content_type: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: keel.test\r\n{credential}\
         Content-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
}

// A chunked body's size is unknown until its end, so the front cannot
// gate it from its head. Strangers' chunked bodies are read up to 64 KiB
// without touching the budget; past that the gate is asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_bodies_from_strangers_are_cut_at_64_kib_and_never_hold_the_budget() {
    if !h11_ready() {
        return;
    }
    // Room for one body at its limit, not two; strangers may pause for
    // the whole test.
    let app = site_with(|c| {
        c.max_body_bytes = 512 * 1024;
        c.max_upload_bytes = 512 * 1024;
        c.body_memory_bytes = 768 * 1024;
        c.request_timeout = Duration::from_secs(60);
    })
    .await;
    let token = app.token("stringer", Role::Writer).await;
    let bearer = format!("Authorization: Bearer {token}\r\n");
    let addr = wire::host_port(&app.addr).to_owned();
    let photo = samples::jpeg(&samples::photo(700, 500), None);
    assert!(photo.len() > 100 * 1024, "{} bytes", photo.len());

    // Strangers start chunked bodies just under 64 KiB and hold them open.
    let mut strangers = Vec::new();
    for _ in 0..8 {
        let mut stream = TcpStream::connect(&addr).await.expect("connect");
        let mut start = chunked_head("/api/v1/entries/team", "", "application/json").into_bytes();
        start.extend(chunks(&[b' '; 60 * 1024], 20 * 1024, false));
        stream.write_all(&start).await.expect("start");
        strangers.push(stream);
    }

    // The newsroom's chunked bodies still get their share: an upload, and
    // an entry whose JSON is padded past 64 KiB.
    let mut upload = chunked_head("/api/v1/media?alt=Chunked", &bearer, "image/jpeg").into_bytes();
    upload.extend(chunks(&photo, 32 * 1024, true));
    let mut entry = br#"{"slug": "padded-fc", "data": {"name": "Padded FC"}}"#.to_vec();
    entry.resize(100 * 1024, b' ');
    let mut save = chunked_head("/api/v1/entries/team", &bearer, "application/json").into_bytes();
    save.extend(chunks(&entry, 16 * 1024, true));
    for (what, raw) in [("upload", upload), ("entry", save)] {
        let ex = wire::exchange(&app.addr, &raw, &["POST"]).await;
        assert_eq!(ex.statuses(), [201], "{what}: {}", wire::show(&ex.raw));
    }

    // A stranger's body that grows past 64 KiB is refused there, with the
    // rest of it never sent.
    let mut long = chunked_head("/api/v1/entries/team", "", "application/json").into_bytes();
    long.extend(chunks(&[b' '; 68 * 1024], 4 * 1024, false));
    let ex = wire::try_exchange(&app.addr, &long, &["POST"]).await;
    let shown = ex.as_ref().map(|e| wire::show(&e.raw)).unwrap_or_default();
    refused(ex, 401).unwrap_or_else(|e| panic!("{e}"));
    assert!(shown.contains("missing Authorization"), "{shown}");

    // The strangers were kept waiting all along, and get the route's own
    // answer on a connection that stays open (a refusal from the front
    // would have closed it).
    for mut stream in strangers {
        let mut early = [0u8; 64];
        assert!(
            matches!(stream.try_read(&mut early), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "nothing is answered before the body ends"
        );
        let answer = finish(&mut stream, b"0\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 401 "), "{answer}");
        assert!(
            !answer.to_ascii_lowercase().contains("connection: close"),
            "{answer}"
        );
    }
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("keel_http_rejected_total{reason=\"busy\"} 0"),
        "{metrics}"
    );
}

// Pauses well under --request-timeout, but 256 bytes every 400 ms is
// under 1 KiB/s: the body's deadline (the timeout plus its length at
// 16 KiB/s, 4 s here) passes long before the last byte would come.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_drip_fed_below_the_minimum_pace_gets_408() {
    if !h11_ready() {
        return;
    }
    let app = site_with(|c| c.request_timeout = Duration::from_secs(2)).await;
    let length = 32 * 1024;
    let head = format!(
        "POST /api/v1/entries/team HTTP/1.1\r\nHost: keel.test\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    );
    let drop = vec![b' '; 256];
    let mut pieces: Vec<&[u8]> = vec![head.as_bytes()];
    pieces.extend(std::iter::repeat_n(drop.as_slice(), 20));
    let ex = wire::try_exchange_in(&app.addr, &pieces, Duration::from_millis(400), &["POST"]).await;
    let shown = ex.as_ref().map(|e| wire::show(&e.raw)).unwrap_or_default();
    refused(ex, 408).unwrap_or_else(|e| panic!("{e}"));
    assert!(shown.contains("slower than 16 KiB/s"), "{shown}");
}
