//! 304s (If-None-Match, If-Modified-Since), HEAD, and the error page that
//! validators never apply to.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;

use super::{HOME, get, send, site};
use crate::cache::testing::{LAST_MODIFIED_HTTP, etag_of, html_page};
use crate::cache::{CONTENT_SECURITY_POLICY, CachedPage};
use crate::model::Page;

#[actix_web::test]
async fn if_none_match_answers_304_for_this_representation() {
    let (_fx, cache) = site().await;
    let app = app!(cache);
    let tag = etag_of(HOME);
    let br_tag = format!("\"{tag}-br\"");
    let matching = [
        br_tag.clone(),
        format!("\"nope\", {br_tag}"),
        format!("W/{br_tag}"),
        "*".to_owned(),
    ];
    for condition in &matching {
        let req = get("/")
            .insert_header(("accept-encoding", "br"))
            .insert_header(("if-none-match", condition.as_str()));
        let reply = send(&app, req.to_request()).await;
        assert_eq!(reply.status, StatusCode::NOT_MODIFIED, "{condition}");
        assert!(reply.body.is_empty());
        assert_eq!(reply.header("etag"), Some(br_tag.as_str()));
        for name in [
            "cache-control",
            "cdn-cache-control",
            "surrogate-control",
            "vary",
            "last-modified",
        ] {
            assert!(reply.header(name).is_some(), "{name} missing on 304");
        }
        assert_eq!(reply.header("content-encoding"), None);
        assert_eq!(reply.header("content-type"), None);
    }
    // The identity tag does not validate the br representation.
    let req = get("/")
        .insert_header(("accept-encoding", "br"))
        .insert_header(("if-none-match", format!("\"{tag}\"")));
    let reply = send(&app, req.to_request()).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-encoding"), Some("br"));
}

#[actix_web::test]
async fn if_modified_since_answers_304_only_without_if_none_match() {
    let (_fx, cache) = site().await;
    let app = app!(cache);
    let since = |value: &str| get("/").insert_header(("if-modified-since", value.to_owned()));

    let same = send(&app, since(LAST_MODIFIED_HTTP).to_request()).await;
    assert_eq!(same.status, StatusCode::NOT_MODIFIED);
    assert_eq!(same.header("last-modified"), Some(LAST_MODIFIED_HTTP));
    let later = send(&app, since("Mon, 02 Mar 2026 00:00:00 GMT").to_request()).await;
    assert_eq!(later.status, StatusCode::NOT_MODIFIED);
    let earlier = send(&app, since("Sat, 28 Feb 2026 00:00:00 GMT").to_request()).await;
    assert_eq!(earlier.status, StatusCode::OK);
    let garbage = send(&app, since("not a date").to_request()).await;
    assert_eq!(garbage.status, StatusCode::OK);

    let both = since(LAST_MODIFIED_HTTP).insert_header(("if-none-match", "\"other\""));
    assert_eq!(send(&app, both.to_request()).await.status, StatusCode::OK);
}

#[actix_web::test]
async fn head_has_the_get_headers() {
    let (_fx, cache) = site().await;
    let app = app!(cache);
    let get_reply = send(
        &app,
        get("/")
            .insert_header(("accept-encoding", "gzip"))
            .to_request(),
    )
    .await;
    let head = TestRequest::default()
        .method(actix_web::http::Method::HEAD)
        .uri("/")
        .insert_header(("accept-encoding", "gzip"));
    let head_reply = send(&app, head.to_request()).await;
    assert_eq!(head_reply.status, StatusCode::OK);
    let mut get_headers: Vec<_> = get_reply.headers.iter().collect();
    let mut head_headers: Vec<_> = head_reply.headers.iter().collect();
    // Only Cache-Status differs: the GET fetched, the HEAD hit.
    get_headers.retain(|(n, _)| n.as_str() != "cache-status");
    head_headers.retain(|(n, _)| n.as_str() != "cache-status");
    get_headers.sort_by_key(|(n, _)| n.as_str());
    head_headers.sort_by_key(|(n, _)| n.as_str());
    assert_eq!(get_headers, head_headers);
    // Inside the service the body is still attached; the HTTP/1 encoder
    // sends its length and drops it (see `http::head_over_a_socket`).
    assert_eq!(head_reply.body, get_reply.body);
}

#[actix_web::test]
async fn a_custom_not_found_page_is_negotiated_but_never_304() {
    let (_fx, cache) = site().await;
    let custom = Page {
        status: 404,
        ..html_page("/404", "<h1>No such page</h1>")
    };
    let tag = format!("\"{}-br\"", etag_of("<h1>No such page</h1>"));
    cache.set_not_found(CachedPage::from_page(custom));
    let app = app!(cache);
    let req = get("/missing")
        .insert_header(("accept-encoding", "br"))
        .insert_header(("if-none-match", tag.as_str()));
    let reply = send(&app, req.to_request()).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.header("content-encoding"), Some("br"));
    assert_eq!(reply.body, "br:<h1>No such page</h1>".as_bytes());
    assert_eq!(
        reply.header("content-security-policy"),
        Some(CONTENT_SECURITY_POLICY)
    );
    assert_eq!(reply.header("cache-status"), Some("keel; hit"));
}
