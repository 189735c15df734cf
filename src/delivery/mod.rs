//! The public read path: every GET/HEAD that is not an operations or editor
//! route, HTML pages and the JSON delivery API alike. A request is a cache
//! lookup, an encoding choice, a validator comparison and pre-built headers
//! around a `Bytes` body. It never queries the store itself (the cache does,
//! once per miss), never formats a header and never logs per request.

mod conditional;
mod negotiate;
#[cfg(test)]
mod tests;

use actix_web::http::header::{
    ALLOW, CACHE_CONTROL, CACHE_STATUS, CDN_CACHE_CONTROL, CONTENT_ENCODING,
    CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, HeaderMap, HeaderName, HeaderValue, LAST_MODIFIED,
    REFERRER_POLICY, RETRY_AFTER, VARY, X_CONTENT_TYPE_OPTIONS,
};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::cache::{CachedPage, Encoding, Lookup, PageCache, PageHeaders, Representation};

pub use self::conditional::not_modified;
pub use self::negotiate::negotiate;

/// The JSON delivery API shares the page rules; it is routed explicitly so
/// that it wins over the editor API's `/api/v1` scope.
pub const CONTENT_API_ROUTE: &str = "/api/v1/content/{tail:.*}";
/// [`CONTENT_API_ROUTE`] as a scope and the resource within: every page
/// request is tried against this route, and a static prefix is rejected by
/// one comparison where the whole pattern needs a regex search (and its
/// allocation). The route label stays the joined pattern.
const CONTENT_API_PREFIX: &str = "/api/v1/content";
const CONTENT_API_TAIL: &str = "/{tail:.*}";

const SURROGATE_CONTROL: HeaderName = HeaderName::from_static("surrogate-control");
const SURROGATE_KEY: HeaderName = HeaderName::from_static("surrogate-key");
const CACHE_TAG: HeaderName = HeaderName::from_static("cache-tag");

// Constant header values. `from_static` is const, so each use is a plain
// copy of a static slice: nothing is parsed or allocated per request.
const CACHE_STATUS_HIT: HeaderValue = HeaderValue::from_static("keel; hit");
const CACHE_STATUS_STALE: HeaderValue = HeaderValue::from_static("keel; hit; fwd=stale");
const CACHE_STATUS_FETCHED: HeaderValue = HeaderValue::from_static("keel; fwd=miss; stored");
const VARY_ACCEPT_ENCODING: HeaderValue = HeaderValue::from_static("accept-encoding");
const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
const BR: HeaderValue = HeaderValue::from_static("br");
const GZIP: HeaderValue = HeaderValue::from_static("gzip");

/// Registers the JSON delivery API route. Call before the editor API scope.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::scope(CONTENT_API_PREFIX).service(web::resource(CONTENT_API_TAIL).to(serve)));
}

/// Serves any path from the page cache: GET and HEAD only.
pub async fn serve(req: HttpRequest, cache: web::Data<PageCache>) -> HttpResponse {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return method_not_allowed();
    }
    match cache.lookup(req.path()).await {
        Lookup::Hit(page) => respond(req.headers(), &page, CACHE_STATUS_HIT),
        Lookup::Stale(page) => respond(req.headers(), &page, CACHE_STATUS_STALE),
        Lookup::Fetched(page) => respond(req.headers(), &page, CACHE_STATUS_FETCHED),
        // Answered from memory, like a hit.
        Lookup::NotFound => respond(req.headers(), &cache.not_found(), CACHE_STATUS_HIT),
        Lookup::Unavailable => unavailable(),
    }
}

/// The response for `page` given the request headers. For HEAD the body is
/// still attached: actix-http sends its length and drops the bytes.
pub fn respond(headers: &HeaderMap, page: &CachedPage, cache_status: HeaderValue) -> HttpResponse {
    let (encoding, rep) = page.representation(negotiate(headers, page));
    let h = page.headers();
    // Validators describe the current representation of the resource, which
    // a 404 or other error page is not.
    let fresh = page.status().is_success()
        && not_modified(
            headers,
            rep.etag.as_ref(),
            page.last_modified(),
            &h.last_modified,
        );
    if fresh {
        not_modified_response(rep, h, cache_status)
    } else {
        full_response(page.status(), encoding, rep, h, cache_status)
    }
}

// Both builders `append` to the response's map: it comes cleared from
// actix's pool, so no duplicate can exist, and `append` skips building the
// `Removed` that `insert` returns (a third of the cost of each header).

fn not_modified_response(
    rep: &Representation,
    h: &PageHeaders,
    cache_status: HeaderValue,
) -> HttpResponse {
    let mut res = HttpResponse::new(StatusCode::NOT_MODIFIED);
    let out = res.headers_mut();
    if let Some(etag) = &rep.etag {
        out.append(ETAG, etag.clone());
    }
    out.append(CACHE_CONTROL, h.cache_control.clone());
    out.append(CDN_CACHE_CONTROL, h.cdn_cache_control.clone());
    out.append(SURROGATE_CONTROL, h.surrogate_control.clone());
    out.append(LAST_MODIFIED, h.last_modified.clone());
    out.append(VARY, VARY_ACCEPT_ENCODING);
    out.append(CACHE_STATUS, cache_status);
    res
}

fn full_response(
    status: StatusCode,
    encoding: Encoding,
    rep: &Representation,
    h: &PageHeaders,
    cache_status: HeaderValue,
) -> HttpResponse {
    // A `Bytes` clone: a reference count, not a copy of the page.
    let mut res = HttpResponse::with_body(status, rep.body.clone()).map_into_boxed_body();
    let out = res.headers_mut();
    out.append(CONTENT_TYPE, h.content_type.clone());
    out.append(CACHE_CONTROL, h.cache_control.clone());
    out.append(CDN_CACHE_CONTROL, h.cdn_cache_control.clone());
    out.append(SURROGATE_CONTROL, h.surrogate_control.clone());
    if let Some(keys) = &h.surrogate_key {
        out.append(SURROGATE_KEY, keys.clone());
    }
    if let Some(tags) = &h.cache_tag {
        out.append(CACHE_TAG, tags.clone());
    }
    out.append(LAST_MODIFIED, h.last_modified.clone());
    if let Some(etag) = &rep.etag {
        out.append(ETAG, etag.clone());
    }
    match encoding {
        Encoding::Brotli => out.append(CONTENT_ENCODING, BR),
        Encoding::Gzip => out.append(CONTENT_ENCODING, GZIP),
        Encoding::Identity => {}
    }
    out.append(VARY, VARY_ACCEPT_ENCODING);
    out.append(X_CONTENT_TYPE_OPTIONS, NOSNIFF);
    if let Some(csp) = &h.content_security_policy {
        out.append(CONTENT_SECURITY_POLICY, csp.clone());
    }
    if let Some(policy) = &h.referrer_policy {
        out.append(REFERRER_POLICY, policy.clone());
    }
    out.append(CACHE_STATUS, cache_status);
    res
}

fn method_not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((ALLOW, "GET, HEAD"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .content_type(mime::TEXT_PLAIN_UTF_8)
        .body("method not allowed\n")
}

/// A miss the store could not answer. Short retry hint, never stored by a
/// cache: the edge keeps serving its stale copy (stale-if-error) instead.
fn unavailable() -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .insert_header((RETRY_AFTER, "5"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .content_type(mime::TEXT_PLAIN_UTF_8)
        .body("temporarily unavailable, retry shortly\n")
}
