//! One request head, parsed by httparse (the parser actix-http itself uses)
//! and sorted: a page request the front answers, more bytes needed, or a
//! request for actix-web. Anything not plainly a page read (another method,
//! a body, an upgrade, an operations or editor route, an escaped path) goes
//! to actix-web, so the front never answers what the router would send
//! elsewhere, and never has to understand more of HTTP than a page read.

use std::mem::MaybeUninit;

use httparse::{Header, Request, Status};

use crate::content_types::RESERVED_PATHS;

/// Header lines a page request may carry before it is left to actix-web
/// (whose own limit is higher; proxies and browsers send about 20).
pub const MAX_HEADERS: usize = 64;

/// What the buffered bytes hold.
pub enum Parsed<'b, 'h> {
    /// A complete page request.
    Page(Head<'b, 'h>),
    /// The head is not complete yet.
    Partial,
    /// Not for the front: malformed, or anything but a page read.
    Other,
}

/// A page request: GET or HEAD of a path the router gives to delivery.
pub struct Head<'b, 'h> {
    /// Bytes of the head, request line to the blank line.
    pub len: usize,
    /// HEAD: the same header fields, no body.
    pub head_only: bool,
    /// The path without the query string, as sent (delivery's cache key).
    pub path: &'b str,
    pub http10: bool,
    /// Whether the connection stays open after the response (RFC 9112
    /// §9.3: HTTP/1.1 unless `close`, HTTP/1.0 only with `keep-alive`).
    pub keep_alive: bool,
    pub headers: &'h [Header<'b>],
}

/// Parses the request at the start of `buf`; `headers` need not be
/// initialised.
pub fn parse<'b, 'h>(buf: &'b [u8], headers: &'h mut [MaybeUninit<Header<'b>>]) -> Parsed<'b, 'h> {
    let mut req = Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, headers) {
        Ok(Status::Complete(len)) => len,
        Ok(Status::Partial) => return Parsed::Partial,
        // Malformed, or more header lines than MAX_HEADERS: actix-web
        // answers (400, 431) or serves it by its own limits.
        Err(_) => return Parsed::Other,
    };
    let Request {
        method,
        path,
        version,
        headers,
    } = req;
    let head_only = match method {
        Some("GET") => false,
        Some("HEAD") => true,
        _ => return Parsed::Other,
    };
    let Some(target) = path else {
        return Parsed::Other;
    };
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    if !is_page_path(path) {
        return Parsed::Other;
    }
    let http10 = version == Some(0);
    let (mut close, mut keep) = (false, false);
    for header in headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("connection") {
            for token in header.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    keep = true;
                } else if token.eq_ignore_ascii_case(b"upgrade") {
                    return Parsed::Other;
                }
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            // A GET may carry a body; actix-web reads and discards it.
            if header.value.trim_ascii() != b"0" {
                return Parsed::Other;
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            || name.eq_ignore_ascii_case("expect")
            || name.eq_ignore_ascii_case("upgrade")
        {
            return Parsed::Other;
        }
    }
    // `close` wins over `keep-alive`, whatever their order.
    let keep_alive = !close && (keep || !http10);
    Parsed::Page(Head {
        len,
        head_only,
        path,
        http10,
        keep_alive,
        headers,
    })
}

/// Whether actix-web's router would hand `path` to delivery: anything but
/// the operations routes, previews and the editor API (the JSON delivery
/// API under `/api/v1/content/` is delivery's). Prefixes are matched
/// generously: a path sent to actix-web that it then gives to delivery is
/// only slower, never wrong. Paths with escapes or characters outside a
/// URI path's plain set go to actix-web, whose router decodes and checks
/// them.
pub fn is_page_path(path: &str) -> bool {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') || !bytes.iter().all(|&b| is_plain(b)) {
        return false;
    }
    if path.starts_with(CONTENT_API) {
        return true;
    }
    // The paths no content type may claim, and the preview route, which a
    // type may share a first segment with (it answers drafts, so it is not
    // reserved from types).
    !RESERVED_PATHS
        .iter()
        .chain(&[PREVIEW])
        .any(|route| path.starts_with(route))
}

/// The JSON delivery API: below the reserved `/api`, but delivery's.
const CONTENT_API: &str = "/api/v1/content/";
const PREVIEW: &str = "/preview";

/// RFC 3986 `pchar` and `/`, without `%`: unreserved, sub-delims, `:`, `@`.
fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
                | b'/'
        )
}

impl crate::delivery::RequestHeaders for [Header<'_>] {
    fn field_values<'a>(
        &'a self,
        name: &actix_web::http::header::HeaderName,
    ) -> impl Iterator<Item = &'a [u8]> {
        let name = name.as_str();
        self.iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers<'b>() -> [MaybeUninit<Header<'b>>; MAX_HEADERS] {
        [const { MaybeUninit::uninit() }; MAX_HEADERS]
    }

    fn page(raw: &str) -> Option<(usize, bool, String, bool, bool)> {
        let mut headers = headers();
        match parse(raw.as_bytes(), &mut headers) {
            Parsed::Page(h) => Some((
                h.len,
                h.head_only,
                h.path.to_owned(),
                h.http10,
                h.keep_alive,
            )),
            Parsed::Partial | Parsed::Other => None,
        }
    }

    fn is_other(raw: &str) -> bool {
        let mut headers = headers();
        matches!(parse(raw.as_bytes(), &mut headers), Parsed::Other)
    }

    #[test]
    fn a_get_is_a_page_request_with_its_length_and_path() {
        let raw = "GET /teams/rovers?x=1 HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\n";
        let (len, head_only, path, http10, keep_alive) = page(raw).expect("page");
        assert_eq!(len, raw.find("GET / ").expect("second request"));
        assert!(!head_only && !http10 && keep_alive);
        assert_eq!(path, "/teams/rovers");
        let (_, head_only, ..) = page("HEAD / HTTP/1.1\r\n\r\n").expect("head");
        assert!(head_only);
    }

    #[test]
    fn an_incomplete_head_asks_for_more() {
        let mut headers = headers();
        assert!(matches!(
            parse(b"GET /teams/rovers HTTP/1.1\r\nHost:", &mut headers),
            Parsed::Partial
        ));
    }

    #[test]
    fn keep_alive_follows_the_version_and_connection_tokens() {
        let keep = |raw: &str| page(raw).expect("page").4;
        assert!(keep("GET / HTTP/1.1\r\n\r\n"));
        assert!(!keep("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
        assert!(!keep(
            "GET / HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n"
        ));
        assert!(!keep("GET / HTTP/1.0\r\n\r\n"));
        assert!(keep("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
        assert!(!keep(
            "GET / HTTP/1.0\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n"
        ));
    }

    #[test]
    fn anything_but_a_plain_page_read_goes_to_actix() {
        assert!(is_other(
            "POST /teams HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"
        ));
        assert!(
            is_other("get / HTTP/1.1\r\n\r\n"),
            "methods are case-sensitive"
        );
        assert!(is_other("OPTIONS * HTTP/1.1\r\n\r\n"));
        assert!(is_other("GET http://a/ HTTP/1.1\r\n\r\n"), "absolute form");
        assert!(is_other("GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"));
        assert!(is_other(
            "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        ));
        assert!(is_other("GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n"));
        assert!(is_other(
            "GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
        ));
        assert!(is_other("GET /caf%C3%A9 HTTP/1.1\r\n\r\n"), "escapes");
        assert!(
            is_other("GET / HTTP/1.1\r\nBad Header\r\n\r\n"),
            "malformed"
        );
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
        assert!(is_other(&format!("GET / HTTP/1.1\r\n{many}\r\n")));
        assert!(page("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").is_some());
    }

    #[test]
    fn every_documented_api_route_but_the_content_api_is_left_to_actix() {
        use utoipa::OpenApi as _;
        let doc = crate::api::openapi::ApiDoc::openapi();
        let mut checked = 0;
        for path in doc.paths.paths.keys() {
            // A concrete path for each pattern: `{type}` -> `x`.
            let concrete: String = path
                .split('/')
                .map(|s| if s.starts_with('{') { "x" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            let delivery = concrete.starts_with(CONTENT_API);
            assert_eq!(is_page_path(&concrete), delivery, "{path}");
            checked += 1;
        }
        assert!(checked > 5, "the document lists the API");
    }

    #[test]
    fn operations_and_editor_routes_are_not_pages() {
        for path in [
            "/healthz",
            "/readyz",
            "/metrics",
            "/preview/match/1",
            "/api/v1/entries/team",
            "/api/v1",
            "/api/v1/content",
            "/api",
            "/apiary",
        ] {
            assert!(!is_page_path(path), "{path}");
        }
        for path in [
            "/",
            "/teams/rovers",
            "/api/v1/content/team/rovers",
            "/matches/a-b-2026-12-02",
            "/news/x_y~z",
        ] {
            assert!(is_page_path(path), "{path}");
        }
    }
}
