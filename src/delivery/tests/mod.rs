//! The read path end to end: `serve` registered on an `App` the way the
//! server registers it, over a real SQLite store whose query counter proves
//! which requests touched the database.

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use actix_web::test::{self, TestRequest};
use actix_web::web;
use bytes::Bytes;

use crate::cache::testing::{Fixture, LAST_MODIFIED_HTTP, etag_of, html_page, json_page};
use crate::cache::{CONTENT_SECURITY_POLICY, PageCache, REFERRER_POLICY};
use crate::model::PageWrite;

const HOME: &str = "<html><body>home</body></html>";

/// The app as the server wires it: the content API route, then the editor
/// scope, with every other path falling through to `serve`.
macro_rules! app {
    ($cache:expr) => {
        actix_web::test::init_service(
            actix_web::App::new()
                .app_data($cache.clone())
                .configure($crate::delivery::routes)
                .service(
                    actix_web::web::scope("/api/v1").route(
                        "/entries",
                        actix_web::web::get()
                            .to(|| async { actix_web::HttpResponse::Ok().body("editor") }),
                    ),
                )
                .default_service(actix_web::web::to($crate::delivery::serve)),
        )
        .await
    };
}

mod conditional;
mod http;

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ASCII header"))
    }
}

async fn send<S, R>(app: &S, req: R) -> Reply
where
    S: Service<R, Response = ServiceResponse, Error = actix_web::Error>,
{
    let res = test::call_service(app, req).await;
    let status = res.status();
    let headers = res.headers().clone();
    let body = test::read_body(res).await;
    Reply {
        status,
        headers,
        body,
    }
}

fn get(path: &str) -> TestRequest {
    TestRequest::get().uri(path)
}

/// A fixture with `/` and a JSON page stored and the index loaded.
async fn site() -> (Fixture, web::Data<PageCache>) {
    let fx = Fixture::new().await;
    fx.publish(vec![
        html_page("/", HOME),
        json_page("/api/v1/content/match/a", r#"{"slug":"a"}"#),
    ])
    .await;
    let cache = web::Data::new(fx.cache());
    cache.load_index().await.expect("index");
    (fx, cache)
}

#[actix_web::test]
async fn encodings_are_negotiated_with_their_own_etags() {
    let (_fx, cache) = site().await;
    let app = app!(cache);
    let tag = etag_of(HOME);
    let br = format!("br:{HOME}");
    let gz = format!("gz:{HOME}");
    let cases: &[(Option<&str>, Option<&str>, String, &str)] = &[
        (Some("br"), Some("br"), format!("\"{tag}-br\""), &br),
        (
            Some("gzip, deflate, br, zstd"),
            Some("br"),
            format!("\"{tag}-br\""),
            &br,
        ),
        (Some("gzip"), Some("gzip"), format!("\"{tag}-gz\""), &gz),
        (
            Some("br;q=0.5, gzip;q=0.9"),
            Some("gzip"),
            format!("\"{tag}-gz\""),
            &gz,
        ),
        (None, None, format!("\"{tag}\""), HOME),
        (Some("identity"), None, format!("\"{tag}\""), HOME),
        (Some("br;q=0, gzip;q=0"), None, format!("\"{tag}\""), HOME),
        (Some("deflate"), None, format!("\"{tag}\""), HOME),
        (Some("*"), Some("br"), format!("\"{tag}-br\""), &br),
        (Some("*;q=0"), None, format!("\"{tag}\""), HOME),
    ];
    for (accept, coding, etag, body) in cases {
        let mut req = get("/");
        if let Some(accept) = accept {
            req = req.insert_header(("accept-encoding", *accept));
        }
        let reply = send(&app, req.to_request()).await;
        assert_eq!(reply.status, StatusCode::OK, "{accept:?}");
        assert_eq!(reply.header("content-encoding"), *coding, "{accept:?}");
        assert_eq!(reply.header("etag"), Some(etag.as_str()), "{accept:?}");
        assert_eq!(reply.body, body.as_bytes(), "{accept:?}");
        assert_eq!(reply.header("vary"), Some("accept-encoding"));
    }
}

#[actix_web::test]
async fn a_page_carries_every_prebuilt_header() {
    let (_fx, cache) = site().await;
    let app = app!(cache);
    let first = send(
        &app,
        get("/")
            .insert_header(("accept-encoding", "br"))
            .to_request(),
    )
    .await;
    assert_eq!(first.header("cache-status"), Some("keel; fwd=miss; stored"));
    let reply = send(
        &app,
        get("/")
            .insert_header(("accept-encoding", "br"))
            .to_request(),
    )
    .await;
    let expected = [
        ("content-type", "text/html; charset=utf-8"),
        (
            "cache-control",
            "public, max-age=60, s-maxage=300, stale-while-revalidate=30, stale-if-error=86400",
        ),
        (
            "cdn-cache-control",
            "public, max-age=300, stale-while-revalidate=30, stale-if-error=86400",
        ),
        (
            "surrogate-control",
            "max-age=300, stale-while-revalidate=30, stale-if-error=86400",
        ),
        ("surrogate-key", "match:1 type:match home"),
        ("cache-tag", "match:1,type:match,home"),
        ("last-modified", LAST_MODIFIED_HTTP),
        ("content-encoding", "br"),
        ("vary", "accept-encoding"),
        ("x-content-type-options", "nosniff"),
        ("content-security-policy", CONTENT_SECURITY_POLICY),
        ("referrer-policy", REFERRER_POLICY),
        ("cache-status", "keel; hit"),
    ];
    for (name, value) in expected {
        assert_eq!(reply.header(name), Some(value), "{name}");
    }
    let etag = format!("\"{}-br\"", etag_of(HOME));
    assert_eq!(reply.header("etag"), Some(etag.as_str()));
}

#[actix_web::test]
async fn json_pages_are_served_on_the_content_api_route() {
    let (_fx, cache) = site().await;
    let app = app!(cache);
    let reply = send(
        &app,
        get("/api/v1/content/match/a")
            .insert_header(("accept-encoding", "br, gzip"))
            .to_request(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, r#"{"slug":"a"}"#.as_bytes());
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(
        reply.header("content-encoding"),
        None,
        "only identity is stored"
    );
    assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(reply.header("content-security-policy"), None);
    assert_eq!(reply.header("surrogate-key"), None);
    assert!(
        reply
            .header("cache-control")
            .is_some_and(|v| v.starts_with("public"))
    );

    // The editor scope still owns its own routes, and unknown content is a
    // 404 from memory rather than the scope's.
    let editor = send(&app, get("/api/v1/entries").to_request()).await;
    assert_eq!(editor.body, "editor".as_bytes());
    let missing = send(&app, get("/api/v1/content/match/zzz").to_request()).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.header("cache-status"), Some("keel; hit"));
    // The bare prefix, and a longer segment sharing it, are not the route.
    for path in ["/api/v1/content", "/api/v1/contents/match/a"] {
        let other = send(&app, get(path).to_request()).await;
        assert_eq!(other.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(other.header("cache-status"), Some("keel; hit"), "{path}");
    }
}

#[test]
fn the_content_route_is_its_scope_and_resource_joined() {
    assert_eq!(
        format!("{}{}", super::CONTENT_API_PREFIX, super::CONTENT_API_TAIL),
        super::CONTENT_API_ROUTE
    );
}

#[actix_web::test]
async fn unknown_paths_are_404_from_memory_with_no_store_call() {
    let (fx, cache) = site().await;
    let app = app!(cache);
    let before = (
        fx.queries("page"),
        fx.queries("pages"),
        fx.queries("page_paths"),
    );

    for path in ["/nope", "/matches/", "/api/v1/content/x", "/%2F", "/.env"] {
        let reply = send(
            &app,
            get(path)
                .insert_header(("accept-encoding", "br"))
                .to_request(),
        )
        .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(reply.header("cache-status"), Some("keel; hit"));
        assert_eq!(
            reply.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(reply.body, "Not Found\n".as_bytes());
    }
    assert_eq!(
        (
            fx.queries("page"),
            fx.queries("pages"),
            fx.queries("page_paths")
        ),
        before
    );
    assert_eq!(fx.cache_requests("negative"), 5);
}

#[actix_web::test]
async fn paths_are_matched_raw_without_the_query_and_slash_sensitive() {
    let fx = Fixture::new().await;
    fx.publish(vec![html_page("/matches/a", "A")]).await;
    let cache = web::Data::new(fx.cache());
    cache.load_index().await.expect("index");
    let app = app!(cache);

    assert_eq!(
        send(&app, get("/matches/a?utm=x").to_request())
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        send(&app, get("/matches/a/").to_request()).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&app, get("/matches//a").to_request()).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&app, get("/Matches/a").to_request()).await.status,
        StatusCode::NOT_FOUND
    );
}

#[actix_web::test]
async fn hits_make_no_store_calls() {
    let (fx, cache) = site().await;
    let app = app!(cache);
    for _ in 0..20 {
        assert_eq!(
            send(&app, get("/").to_request()).await.status,
            StatusCode::OK
        );
    }
    assert_eq!(fx.queries("page"), 1);
    assert_eq!(
        (fx.cache_requests("miss"), fx.cache_requests("hit")),
        (1, 19)
    );
}

#[actix_web::test]
async fn applied_writes_are_served_at_once() {
    let (fx, cache) = site().await;
    let app = app!(cache);
    cache
        .apply(&[PageWrite::Upsert(html_page("/new", "fresh"))])
        .await;
    let reply = send(&app, get("/new").to_request()).await;
    assert_eq!(
        (reply.status, reply.body.as_ref()),
        (StatusCode::OK, "fresh".as_bytes())
    );
    assert_eq!(reply.header("cache-status"), Some("keel; hit"));

    cache.apply(&[PageWrite::Delete("/new".into())]).await;
    assert_eq!(
        send(&app, get("/new").to_request()).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(fx.queries("page"), 0);
}

#[actix_web::test]
async fn other_methods_are_405_with_allow() {
    let (_fx, cache) = site().await;
    let app = app!(cache);
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        for path in ["/", "/nope", "/api/v1/content/match/a"] {
            let method = actix_web::http::Method::from_bytes(method.as_bytes()).expect("method");
            let req = TestRequest::default().method(method.clone()).uri(path);
            let reply = send(&app, req.to_request()).await;
            assert_eq!(
                reply.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
            assert_eq!(reply.header("allow"), Some("GET, HEAD"));
        }
    }
}

#[actix_web::test]
async fn a_store_failure_on_a_miss_is_503_with_retry_after() {
    let (fx, cache) = site().await;
    let app = app!(cache);
    fx.break_pages_table();
    let reply = send(&app, get("/").to_request()).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.header("retry-after"), Some("5"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert!(!reply.body.is_empty());
}
