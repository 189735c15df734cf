//! The cache-hit request path in process, for a realistic 40 KB match page
//! and the 57 KB 1024-pixel WebP variant of a photo (`image-*`; stored in
//! one coding, so no negotiation picks a compressed body), both asked for
//! with a browser's `Accept-Encoding: br, gzip` except in the `gzip` and
//! `identity` cases:
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
use chrono::Utc;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use keel::cache::Lookup;
use keel::media::{self, Limits, samples};
use keel::metrics::Metrics;
use keel::model::{MediaId, Page, PageWrite};
use keel::{delivery, front, library};

use self::support::{ETAG, PATH, page};

/// The 1024-pixel WebP variant of a 2560x1920 photo-like JPEG, built as an
/// upload builds it, so its size and headers are what readers are sent
/// (`loadtest/compare-nginx.sh` serves the same file). Not 12 megapixels:
/// scaled down from 4000 pixels, the sample's per-pixel noise averages out
/// into a 15 KB WebP; from 2560 it keeps a real photo's 50-60 KB.
fn image_page() -> Page {
    let upload = samples::jpeg(&samples::photo(2560, 1920), None);
    let (source, variants) =
        media::variants(&upload, &Limits::default(), None).expect("the photo has variants");
    let name = library::name_of(Some("photo.jpg"));
    let (_, pages) =
        library::variant_pages(MediaId::now_v7(), &source.hash, &name, variants, Utc::now());
    let page = pages
        .into_iter()
        .find(|p| p.path.ends_with("-1024.webp"))
        .expect("a 2560-pixel-wide photo has a 1024-pixel WebP");
    eprintln!("image: {} ({} B)", page.path, page.identity.len());
    page
}

fn bench(c: &mut Criterion) {
    let image = image_page();
    let image_path = image.path.clone();
    let image_etag = format!("\"{}\"", image.etag);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = rt.block_on(async {
        let cache = support::cache(&dir.path().join("bench.db"), Arc::new(Metrics::new())).await;
        cache
            .apply(&[PageWrite::Upsert(page()), PageWrite::Upsert(image)])
            .await;
        web::Data::new(cache)
    });
    let app = rt.block_on(test::init_service(
        App::new()
            .app_data(cache.clone())
            .default_service(web::to(delivery::serve)),
    ));

    let br_etag = format!("\"{ETAG}-br\"");
    let browser = "br, gzip";
    // Page and image cases send the same fields, so their pairs compare
    // the path alone.
    let cases: [(&str, &str, Vec<(_, String)>); 6] = [
        ("br", PATH, vec![(ACCEPT_ENCODING, browser.to_owned())]),
        ("gzip", PATH, vec![(ACCEPT_ENCODING, "gzip".to_owned())]),
        ("identity", PATH, vec![]),
        (
            "304",
            PATH,
            vec![
                (ACCEPT_ENCODING, browser.to_owned()),
                (IF_NONE_MATCH, br_etag.clone()),
            ],
        ),
        (
            "image-webp",
            &image_path,
            vec![(ACCEPT_ENCODING, browser.to_owned())],
        ),
        (
            "image-304",
            &image_path,
            vec![
                (ACCEPT_ENCODING, browser.to_owned()),
                (IF_NONE_MATCH, image_etag),
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
    for (name, path, headers) in &cases {
        let raw: String = headers.iter().fold(
            format!("GET {path} HTTP/1.1\r\nHost: keel.test\r\nUser-Agent: bench\r\n"),
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
    for (name, path, headers) in &cases {
        group.bench_function(*name, |b| {
            b.to_async(&rt).iter_batched(
                || {
                    headers
                        .iter()
                        .fold(TestRequest::get().uri(path), |req, (n, v)| {
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
    for (name, path, headers) in &cases {
        let mut map = HeaderMap::new();
        for (n, v) in headers {
            map.insert(n.clone(), HeaderValue::from_str(v).expect("header"));
        }
        group.bench_function(*name, |b| {
            b.to_async(&rt).iter(|| {
                let (cache, map) = (&cache, &map);
                async move {
                    let Lookup::Hit(page) = cache.lookup(path).await else {
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
