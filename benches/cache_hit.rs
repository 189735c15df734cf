//! The cache-hit request path in process, for a realistic 40 KB match page:
//! `front/*` is what serves readers, keel's HTTP/1.1 front from the raw
//! request bytes to the response bytes (parse, lookup, negotiation,
//! headers, body, metrics); `service/*` goes through actix's service stack
//! (routing, extraction, handler) with `init_service`/`call_service`, the
//! path of requests the front passes to the app; `direct/*` calls the cache lookup
//! and response builder alone. None includes the socket, which wrk measures.
//!
//! Run: `cargo bench --bench cache_hit`.

mod support;

use std::cell::Cell;
use std::sync::Arc;

use actix_web::http::header::{ACCEPT_ENCODING, HeaderMap, HeaderValue, IF_NONE_MATCH};
use actix_web::middleware::from_fn;
use actix_web::test::{self, TestRequest};
use actix_web::{App, web};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use keel::cache::Lookup;
use keel::metrics::Metrics;
use keel::model::PageWrite;
use keel::{delivery, front};

use self::support::{ETAG, PATH, page};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = rt.block_on(async {
        let cache = support::cache(&dir.path().join("bench.db"), Arc::new(Metrics::new())).await;
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
        support::limits(),
    ));
    let worker = front::Worker::new(front, support::no_app());
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
