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
pub(crate) const CACHE_STATUS_HIT: HeaderValue = HeaderValue::from_static("keel; hit");
pub(crate) const CACHE_STATUS_STALE: HeaderValue = HeaderValue::from_static("keel; hit; fwd=stale");
pub(crate) const CACHE_STATUS_FETCHED: HeaderValue =
    HeaderValue::from_static("keel; fwd=miss; stored");
const VARY_ACCEPT_ENCODING: HeaderValue = HeaderValue::from_static("accept-encoding");
const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
const BR: HeaderValue = HeaderValue::from_static("br");
const GZIP: HeaderValue = HeaderValue::from_static("gzip");

/// Registers the JSON delivery API route. Call before the editor API scope.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::scope(CONTENT_API_PREFIX).service(web::resource(CONTENT_API_TAIL).to(serve)));
}

/// The request header fields a page response depends on (Accept-Encoding,
/// If-None-Match, If-Modified-Since), read from actix's map on the framework
/// path and from the parsed head on keel's own HTTP/1.1 front
/// ([`crate::front`]), so both answer by the same rules.
pub trait RequestHeaders {
    /// Every line of the field `name`, in the order received.
    fn field_values<'a>(&'a self, name: &HeaderName) -> impl Iterator<Item = &'a [u8]>;
}

impl RequestHeaders for HeaderMap {
    fn field_values<'a>(&'a self, name: &HeaderName) -> impl Iterator<Item = &'a [u8]> {
        self.get_all(name).map(HeaderValue::as_bytes)
    }
}

/// Serves any path from the page cache: GET and HEAD only.
pub async fn serve(req: HttpRequest, cache: web::Data<PageCache>) -> HttpResponse {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return method_not_allowed();
    }
    let lookup = match req.app_data::<web::Data<crate::metrics::Shard>>() {
        Some(shard) => {
            cache
                .lookup_at(req.path(), std::time::Instant::now(), shard)
                .await
        }
        None => cache.lookup(req.path()).await,
    };
    match lookup {
        Lookup::Hit(page) => respond(req.headers(), &page, CACHE_STATUS_HIT),
        Lookup::Stale(page) => respond(req.headers(), &page, CACHE_STATUS_STALE),
        Lookup::Fetched(page) => respond(req.headers(), &page, CACHE_STATUS_FETCHED),
        // Answered from memory, like a hit.
        Lookup::NotFound => cache.with_not_found(|page| {
            let reply = not_found_reply(req.headers(), page, req.path());
            respond_with(reply, CACHE_STATUS_HIT)
        }),
        Lookup::Unavailable => unavailable(),
    }
}

/// What to send for one page request: decided once by [`reply`], written
/// by either front.
pub struct Reply<'p> {
    /// The page's own status, or 304 when the client's copy is current.
    pub status: StatusCode,
    pub encoding: Encoding,
    pub rep: &'p Representation,
    pub headers: &'p PageHeaders,
    /// A 404's keys, which name the path asked for besides the not-found
    /// page's own: publishing that path then purges the edge's 404.
    pub keys: Option<Box<PathKeys>>,
    /// The page is stored in more than one coding, so the response depends
    /// on Accept-Encoding. An image, stored once, sends no `Vary`: an edge
    /// then keeps one copy for every client instead of one per coding.
    pub varies: bool,
}

/// `Surrogate-Key` and `Cache-Tag` values made for one response.
pub struct PathKeys {
    surrogate_key: HeaderValue,
    cache_tag: HeaderValue,
}

impl PathKeys {
    fn of(headers: &PageHeaders, path: &str) -> Option<PathKeys> {
        let key = crate::model::page_key(path);
        let join = |own: Option<&HeaderValue>, sep: &str| {
            let mut value = own.map_or_else(Vec::new, |v| v.as_bytes().to_vec());
            if !value.is_empty() {
                value.extend_from_slice(sep.as_bytes());
            }
            value.extend_from_slice(key.as_bytes());
            HeaderValue::from_maybe_shared(bytes::Bytes::from(value)).ok()
        };
        Some(PathKeys {
            surrogate_key: join(headers.surrogate_key.as_ref(), " ")?,
            cache_tag: join(headers.cache_tag.as_ref(), ",")?,
        })
    }
}

/// [`reply`] for the not-found page answering `path`.
pub fn not_found_reply<'p, H: RequestHeaders + ?Sized>(
    headers: &H,
    page: &'p CachedPage,
    path: &str,
) -> Reply<'p> {
    let mut reply = reply(headers, page);
    reply.keys = PathKeys::of(page.headers(), path).map(Box::new);
    reply
}

/// Chooses the representation of `page` and whether the client's copy is
/// current.
pub fn reply<'p, H: RequestHeaders + ?Sized>(headers: &H, page: &'p CachedPage) -> Reply<'p> {
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
    Reply {
        status: if fresh {
            StatusCode::NOT_MODIFIED
        } else {
            page.status()
        },
        encoding,
        rep,
        headers: h,
        keys: None,
        varies: page.has(Encoding::Brotli) || page.has(Encoding::Gzip),
    }
}

impl Reply<'_> {
    /// Calls `f` with every header field of the response but the framing
    /// ones (Content-Length, Date, Connection), in the order sent: one list
    /// for both fronts. A 304 carries the validators and cache policy only
    /// (RFC 9110 §15.4.5).
    pub fn for_each_header(
        &self,
        cache_status: &HeaderValue,
        mut f: impl FnMut(&HeaderName, &HeaderValue),
    ) {
        let h = self.headers;
        if self.status == StatusCode::NOT_MODIFIED {
            if let Some(etag) = &self.rep.etag {
                f(&ETAG, etag);
            }
            f(&CACHE_CONTROL, &h.cache_control);
            f(&CDN_CACHE_CONTROL, &h.cdn_cache_control);
            f(&SURROGATE_CONTROL, &h.surrogate_control);
            f(&LAST_MODIFIED, &h.last_modified);
            if self.varies {
                f(&VARY, &VARY_ACCEPT_ENCODING);
            }
            f(&CACHE_STATUS, cache_status);
            return;
        }
        f(&CONTENT_TYPE, &h.content_type);
        f(&CACHE_CONTROL, &h.cache_control);
        f(&CDN_CACHE_CONTROL, &h.cdn_cache_control);
        f(&SURROGATE_CONTROL, &h.surrogate_control);
        if let Some(own) = &self.keys {
            f(&SURROGATE_KEY, &own.surrogate_key);
            f(&CACHE_TAG, &own.cache_tag);
        } else {
            if let Some(keys) = &h.surrogate_key {
                f(&SURROGATE_KEY, keys);
            }
            if let Some(tags) = &h.cache_tag {
                f(&CACHE_TAG, tags);
            }
        }
        f(&LAST_MODIFIED, &h.last_modified);
        if let Some(etag) = &self.rep.etag {
            f(&ETAG, etag);
        }
        match self.encoding {
            Encoding::Brotli => f(&CONTENT_ENCODING, &BR),
            Encoding::Gzip => f(&CONTENT_ENCODING, &GZIP),
            Encoding::Identity => {}
        }
        if self.varies {
            f(&VARY, &VARY_ACCEPT_ENCODING);
        }
        f(&X_CONTENT_TYPE_OPTIONS, &NOSNIFF);
        if let Some(csp) = h.content_security_policy() {
            f(&CONTENT_SECURITY_POLICY, csp);
        }
        if let Some(policy) = h.referrer_policy() {
            f(&REFERRER_POLICY, policy);
        }
        f(&CACHE_STATUS, cache_status);
    }
}

/// The response for `page` given the request headers. For HEAD the body is
/// still attached: actix-http sends its length and drops the bytes.
pub fn respond<H: RequestHeaders + ?Sized>(
    headers: &H,
    page: &CachedPage,
    cache_status: HeaderValue,
) -> HttpResponse {
    respond_with(reply(headers, page), cache_status)
}

fn respond_with(reply: Reply<'_>, cache_status: HeaderValue) -> HttpResponse {
    let mut res = if reply.status == StatusCode::NOT_MODIFIED {
        HttpResponse::new(StatusCode::NOT_MODIFIED)
    } else {
        // A `Bytes` clone: a reference count, not a copy of the page.
        HttpResponse::with_body(reply.status, reply.rep.body.clone()).map_into_boxed_body()
    };
    let out = res.headers_mut();
    // `append`: the map comes cleared from actix's pool, so no duplicate can
    // exist, and `append` skips building the `Removed` that `insert` returns.
    reply.for_each_header(&cache_status, |name, value| {
        out.append(name.clone(), value.clone());
    });
    res
}

fn method_not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((ALLOW, "GET, HEAD"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .content_type(mime::TEXT_PLAIN_UTF_8)
        .body("method not allowed\n")
}

/// The body of the 503 for a miss the store could not answer.
pub const UNAVAILABLE_BODY: &str = "temporarily unavailable, retry shortly\n";

/// A miss the store could not answer. Short retry hint, never stored by a
/// cache: the edge keeps serving its stale copy (stale-if-error) instead.
fn unavailable() -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .insert_header((RETRY_AFTER, "5"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .content_type(mime::TEXT_PLAIN_UTF_8)
        .body(UNAVAILABLE_BODY)
}
