//! The cache-hit request path in process, for a realistic 40 KB match page:
//! `front/*` is what serves readers, keel's HTTP/1.1 front from the raw
//! request bytes to the response bytes (parse, lookup, negotiation,
//! headers, body, metrics); `service/*` goes through actix's service stack
//! (routing, extraction, handler) with `init_service`/`call_service`, the
//! path of requests the front passes to the app; `direct/*` calls the cache lookup
//! and response builder alone. None includes the socket, which wrk measures.
//!
//! Run: `cargo bench --bench cache_hit`.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::{ACCEPT_ENCODING, HeaderMap, HeaderValue, IF_NONE_MATCH};
use actix_web::middleware::from_fn;
use actix_web::test::{self, TestRequest};
use actix_web::{App, HttpResponse, web};
use chrono::{TimeZone, Utc};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use keel::cache::{Lookup, PageCache};
use keel::metrics::Metrics;
use keel::model::{CachePolicy, Page, PageWrite};
use keel::store::Store;
use keel::store::sqlite::SqliteStore;
use keel::{delivery, front};

const PATH: &str = "/matches/2026-03-01-rovers-v-united";
const ETAG: &str = "5f1e3a9c0b7d2e48";

/// A match report of about 40 KB: head, line-ups, a long commentary.
fn match_html() -> String {
    let mut html = String::with_capacity(41_000);
    html.push_str(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Rovers 2-1 United</title><style>body{font-family:sans-serif}\
         table{border-collapse:collapse}td{padding:2px 6px}</style></head><body>\
         <header><nav><a href=\"/\">Home</a> <a href=\"/matches\">Matches</a></nav></header>\
         <main><h1>Rovers 2–1 United</h1><p class=\"kickoff\">Sunday 1 March 2026, 15:00</p>",
    );
    for side in ["Rovers", "United"] {
        html.push_str(&format!("<h2>{side} line-up</h2><table>"));
        for n in 1..=18 {
            html.push_str(&format!(
                "<tr><td>{n}</td><td>Player {n} of {side}</td><td>{}</td></tr>",
                ["GK", "DF", "MF", "FW"][n % 4]
            ));
        }
        html.push_str("</table>");
    }
    html.push_str("<h2>Minute by minute</h2><ol>");
    let mut minute = 0;
    while html.len() < 40_000 {
        minute = minute % 90 + 1;
        html.push_str(&format!(
            "<li><strong>{minute}'</strong> Possession for {}: a patient move down the {} \
             ends with a cross that is cleared; the press resumes and the ball goes out for \
             a throw-in deep in the opposition half.</li>",
            if minute % 2 == 0 { "Rovers" } else { "United" },
            if minute % 3 == 0 { "left" } else { "right" },
        ));
    }
    html.push_str("</ol></main><footer>keel demo</footer></body></html>");
    html
}

/// Pseudo-compressed bodies of the sizes brotli q11 and gzip -6 produce for
/// such a page (6.2 KB, 7.6 KB): delivery never decodes them, it only
/// clones the `Bytes`.
fn page() -> Page {
    let filler = |len: usize, seed: u8| -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    };
    Page {
        path: PATH.into(),
        entry_id: None,
        status: 200,
        content_type: "text/html; charset=utf-8".into(),
        identity: match_html().into_bytes(),
        br: filler(6_200, 7),
        gzip: filler(7_600, 11),
        etag: ETAG.into(),
        last_modified: Utc
            .with_ymd_and_hms(2026, 3, 1, 17, 5, 0)
            .single()
            .expect("valid date"),
        surrogate_keys: vec![
            "match:0192f0c4".into(),
            "type:match".into(),
            "team:rovers".into(),
            "team:united".into(),
            "competition:league".into(),
        ],
        cache_policy: CachePolicy::default(),
        seq: 42,
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = rt.block_on(async {
        let store = SqliteStore::open(&dir.path().join("bench.db"))
            .await
            .expect("open store");
        store.migrate().await.expect("migrate");
        let store: Arc<dyn Store> = Arc::new(store);
        let cache = PageCache::new(store, Arc::new(Metrics::new()), 256 * 1024 * 1024);
        cache.apply(&[PageWrite::Upsert(page())]).await;
        web::Data::new(cache)
    });
    let app = rt.block_on(test::init_service(
        App::new()
            .app_data(cache.clone())
            .default_service(web::to(delivery::serve)),
    ));

    let br_etag = format!("\"{ETAG}-br\"");
    let cases: [(&str, Vec<(_, String)>); 4] = [
        ("br", vec![(ACCEPT_ENCODING, "br".to_owned())]),
        ("gzip", vec![(ACCEPT_ENCODING, "gzip".to_owned())]),
        ("identity", vec![]),
        (
            "304",
            vec![
                (ACCEPT_ENCODING, "br".to_owned()),
                (IF_NONE_MATCH, br_etag.clone()),
            ],
        ),
    ];

    let front = Arc::new(front::Front::new(
        cache.clone().into_inner(),
        Arc::new(Metrics::new()),
        front::Limits {
            keep_alive: Duration::from_secs(5),
            head: Duration::from_secs(5),
            send: Duration::from_secs(60),
            max_body: 1024 * 1024,
        },
    ));
    let no_app: front::App = Rc::new(|_| Box::pin(async { HttpResponse::NotFound().finish() }));
    let worker = front::Worker::new(front, no_app);
    let mut group = c.benchmark_group("front");
    for (name, headers) in &cases {
        let raw: String = headers.iter().fold(
            format!("GET {PATH} HTTP/1.1\r\nHost: keel.test\r\nUser-Agent: bench\r\n"),
            |raw, (n, v)| format!("{raw}{n}: {v}\r\n"),
        ) + "\r\n";
        // Reused like a connection's output buffer.
        let out = Cell::new(Vec::with_capacity(64 * 1024));
        group.bench_function(*name, |b| {
            b.to_async(&rt).iter(|| {
                let (worker, raw, out) = (&worker, raw.as_bytes(), &out);
                async move {
                    let mut buf = out.take();
                    buf.clear();
                    let answer = front::answer(worker, raw, &mut buf).await;
                    assert!(matches!(answer, front::Answer::Page { .. }));
                    let len = buf.len();
                    out.replace(buf);
                    std::hint::black_box(len)
                }
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("service");
    for (name, headers) in &cases {
        group.bench_function(*name, |b| {
            b.to_async(&rt).iter_batched(
                || {
                    headers
                        .iter()
                        .fold(TestRequest::get().uri(PATH), |req, (n, v)| {
                            req.insert_header((n.clone(), v.as_str()))
                        })
                        .to_request()
                },
                |req| {
                    let app = &app;
                    async move { std::hint::black_box(test::call_service(app, req).await) }
                },
                BatchSize::SmallInput,
            )
        });
    }
    // The same br hit behind the request-metrics middleware the server
    // wraps every route in, to show what that layer costs.
    let metrics = web::Data::new(Metrics::new());
    let observed = rt.block_on(test::init_service(
        App::new()
            .app_data(cache.clone())
            .app_data(metrics)
            .wrap(from_fn(keel::metrics::observe_request))
            .default_service(web::to(delivery::serve)),
    ));
    group.bench_function("br_with_request_metrics", |b| {
        b.to_async(&rt).iter_batched(
            || {
                TestRequest::get()
                    .uri(PATH)
                    .insert_header((ACCEPT_ENCODING, "br"))
                    .to_request()
            },
            |req| {
                let app = &observed;
                async move { std::hint::black_box(test::call_service(app, req).await) }
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();

    let mut group = c.benchmark_group("direct");
    for (name, headers) in &cases {
        let mut map = HeaderMap::new();
        for (n, v) in headers {
            map.insert(n.clone(), HeaderValue::from_str(v).expect("header"));
        }
        group.bench_function(*name, |b| {
            b.to_async(&rt).iter(|| {
                let (cache, map) = (&cache, &map);
                async move {
                    let Lookup::Hit(page) = cache.lookup(PATH).await else {
                        panic!("the page is cached");
                    };
                    let status = HeaderValue::from_static("keel; hit");
                    std::hint::black_box(delivery::respond(map, &page, status))
                }
            })
        });
    }
    group.finish();

    // Where the time of a hit goes, piece by piece.
    let mut group = c.benchmark_group("parts");
    let mut br = HeaderMap::new();
    br.insert(
        ACCEPT_ENCODING,
        HeaderValue::from_static("gzip, deflate, br, zstd"),
    );
    group.bench_function("lookup", |b| {
        b.to_async(&rt)
            .iter(|| async { std::hint::black_box(cache.lookup(PATH).await) })
    });
    let Lookup::Hit(hot) = rt.block_on(cache.lookup(PATH)) else {
        panic!("the page is cached");
    };
    group.bench_function("negotiate", |b| {
        b.iter(|| std::hint::black_box(delivery::negotiate(&br, &hot)))
    });
    group.bench_function("respond", |b| {
        b.iter(|| {
            let status = HeaderValue::from_static("keel; hit");
            std::hint::black_box(delivery::respond(&br, &hot, status))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
