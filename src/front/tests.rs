//! One request at a time through [`answer`], without a socket: the bytes a
//! page read produces for a hit, a HEAD, a miss the store cannot answer, and
//! what the front leaves to the app; and a panicking handler over a socket.
//! Connections (pipelining, timeouts, requests for the app) are tested over
//! TCP in `tests/it/front.rs` and `tests/it/hostile.rs`.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use super::{Answer, App, Front, Limits, Worker, answer};
use crate::cache::testing::{Fixture, html_page};

async fn worker() -> (Fixture, Worker) {
    let fx = Fixture::new().await;
    let cache = Arc::new(fx.cache());
    fx.publish(vec![html_page("/", "home"), html_page("/cold", "cold")])
        .await;
    cache.load_index().await.expect("index");
    // "/" is cached, "/cold" only known to be published.
    cache.lookup("/").await;
    let limits = Limits {
        keep_alive: Duration::from_secs(5),
        head: Duration::from_secs(5),
        send: Duration::from_secs(5),
        max_body: 1024,
        max_upload: 4096,
        body_memory: 64 * 1024,
    };
    let front = Arc::new(Front::new(cache, fx.metrics.clone(), limits));
    let app: App = Rc::new(|_| Box::pin(async { actix_web::HttpResponse::Ok().finish() }));
    (fx, Worker::new(front, app))
}

/// The response text and how many request bytes it consumed.
async fn ask(worker: &Worker, raw: &str) -> (String, usize) {
    let mut out = Vec::new();
    match answer(worker, raw.as_bytes(), &mut out).await {
        Answer::Page {
            consumed, large, ..
        } => {
            assert!(large.is_none(), "fixture pages are small");
            (String::from_utf8(out).expect("ASCII"), consumed)
        }
        Answer::Partial => panic!("partial: {raw:?}"),
        Answer::App(_) => panic!("left to the app: {raw:?}"),
        Answer::Reject(r) => panic!("refused: {raw:?}: {r:?}"),
    }
}

#[tokio::test]
async fn a_hit_is_the_page_with_its_framing_and_one_request_consumed() {
    let (_fx, worker) = worker().await;
    let first = "GET / HTTP/1.1\r\nHost: a\r\nAccept-Encoding: br\r\n\r\n";
    let (res, consumed) = ask(&worker, &format!("{first}GET / HTTP/1.1\r\nHost: a\r\n")).await;
    assert_eq!(consumed, first.len());
    assert!(res.starts_with("HTTP/1.1 200 OK\r\n"), "{res}");
    for line in [
        "content-encoding: br\r\n",
        "cache-status: keel; hit\r\n",
        "content-length: 7\r\n",
        "vary: accept-encoding\r\n",
    ] {
        assert!(res.contains(line), "{line:?} in {res}");
    }
    assert!(res.contains("\r\ndate: ") && !res.contains("connection:"));
    assert!(res.ends_with("\r\n\r\nbr:home"), "{res}");
}

#[tokio::test]
async fn a_head_states_the_length_and_sends_no_body() {
    let (_fx, worker) = worker().await;
    let (res, _) = ask(
        &worker,
        "HEAD / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(res.contains("content-length: 4\r\n"), "{res}");
    assert!(res.contains("connection: close\r\n"));
    assert!(res.ends_with("\r\n\r\n"), "no body: {res}");
}

#[tokio::test]
async fn a_miss_the_store_cannot_answer_is_503_never_stored() {
    let (fx, worker) = worker().await;
    fx.break_pages_table();
    let (res, _) = ask(&worker, "GET /cold HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert!(
        res.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{res}"
    );
    assert!(res.contains("retry-after: 5\r\n"));
    assert!(res.contains("cache-control: no-store\r\n"));
    assert!(res.ends_with(crate::delivery::UNAVAILABLE_BODY), "{res}");
    assert_eq!(
        fx.metrics
            .http_requests
            .with_label_values(&["page", "503"])
            .get(),
        1,
        "counted under the page route"
    );
}

#[tokio::test]
async fn requests_for_the_app_refusals_and_partial_heads_are_not_answered() {
    let (_fx, worker) = worker().await;
    let mut out = Vec::new();
    for raw in [
        "POST / HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n",
    ] {
        let answered = answer(&worker, raw.as_bytes(), &mut out).await;
        assert!(matches!(answered, Answer::App(_)), "{raw}");
    }
    let answered = answer(&worker, b"GET / HTTP/1.1\r\n\r\n", &mut out).await;
    assert!(matches!(answered, Answer::Reject(_)), "no Host");
    let answered = answer(&worker, b"GET / HTTP/1.1\r\nHost: a\r\nHost", &mut out).await;
    assert!(matches!(answered, Answer::Partial));
    assert!(out.is_empty(), "nothing written");
}

#[tokio::test]
async fn after_a_graceful_stop_begins_responses_close_their_connection() {
    let (_fx, worker) = worker().await;
    worker.front.stop();
    let mut out = Vec::new();
    let answered = answer(&worker, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", &mut out).await;
    assert!(matches!(
        answered,
        Answer::Page {
            keep_alive: false,
            ..
        }
    ));
    let res = String::from_utf8(out).expect("ASCII");
    assert!(res.contains("connection: close\r\n"), "{res}");
}

#[tokio::test]
async fn a_panicking_handler_costs_its_connection_not_the_worker() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (_fx, worker) = worker().await;
    let app: App = Rc::new(|_| Box::pin(async { panic!("a handler bug") }));
    let worker = Rc::new(Worker::new(worker.front.clone(), app));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let local = tokio::task::LocalSet::new();
    let text = local
        .run_until(async move {
            let serving = tokio::task::spawn_local(async move {
                for _ in 0..2 {
                    let (stream, _) = listener.accept().await.expect("accept");
                    super::serve_connection(worker.clone(), stream).await;
                }
            });
            let mut texts = Vec::new();
            for _ in 0..2 {
                let mut client = tokio::net::TcpStream::connect(addr).await.expect("connect");
                client
                    .write_all(b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
                    .await
                    .expect("write");
                let mut raw = Vec::new();
                client.read_to_end(&mut raw).await.expect("read");
                texts.push(String::from_utf8(raw).expect("ASCII"));
            }
            serving.await.expect("the worker survives");
            texts
        })
        .await;
    for res in text {
        assert!(
            res.starts_with("HTTP/1.1 500 Internal Server Error\r\n"),
            "{res}"
        );
        assert!(res.contains("connection: close\r\n"), "{res}");
        assert_eq!(
            res.matches("HTTP/1.1 ").count(),
            1,
            "closed after it: {res}"
        );
    }
}
