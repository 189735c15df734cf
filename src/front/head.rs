//! One request head, parsed by httparse and checked against keel's HTTP/1.1
//! rules (RFC 9112): size limits, `Host`, the body's framing, the version.
//! Every request on every connection passes here, whichever layer answers
//! it, so the front and the actix-web app never disagree on a rule: the
//! app only ever sees requests this module accepted. The outcome is a page
//! read the front answers from the cache, a request for the app, more
//! bytes needed, or a rejection with its status.

use std::mem::MaybeUninit;

use httparse::{Header, Request, Status};

use super::reject::{Reason, Rejection};
use crate::content_types::RESERVED_PATHS;

/// Header lines a request may carry (browsers and proxies send about 20;
/// nginx's buffers hold about 100 lines of typical size).
pub const MAX_HEADERS: usize = 100;
/// The longest request line, as nginx's `large_client_header_buffers`
/// (414 above it).
pub const MAX_REQUEST_LINE: usize = 8 * 1024;
/// The longest header line, name and value (431 above it).
pub const MAX_FIELD_LINE: usize = 8 * 1024;
/// The largest head, request line to the blank line (431 above it).
pub const MAX_HEAD: usize = 32 * 1024;

/// What the buffered bytes hold.
pub enum Parsed<'b, 'h> {
    /// A complete page read: GET or HEAD without a body, of a path the
    /// router gives to delivery.
    Page(Head<'b, 'h>),
    /// A complete, valid request for the actix-web app.
    App(Head<'b, 'h>),
    /// The head is not complete yet, and within the limits.
    Partial,
    /// A request keel refuses; the connection closes after the answer.
    Reject(Rejection),
}

/// How the request's body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    None,
    Length(u64),
    Chunked,
}

/// A request head that passed every rule.
pub struct Head<'b, 'h> {
    /// Bytes of the head, request line to the blank line.
    pub len: usize,
    pub method: &'b str,
    /// HEAD: the same header fields, no body.
    pub head_only: bool,
    /// The request target as sent (origin, absolute or asterisk form).
    pub target: &'b str,
    /// The target's path without the query (delivery's cache key).
    pub path: &'b str,
    pub http10: bool,
    /// Whether the connection stays open after the response (RFC 9112
    /// §9.3: HTTP/1.1 unless `close`, HTTP/1.0 only with `keep-alive`).
    pub keep_alive: bool,
    pub body: BodyFraming,
    /// `Expect: 100-continue`: the client waits for a 100 before its body.
    pub expect_continue: bool,
    pub headers: &'h [Header<'b>],
}

/// Parses the request at the start of `buf`; `headers` need not be
/// initialised.
pub fn parse<'b, 'h>(buf: &'b [u8], headers: &'h mut [MaybeUninit<Header<'b>>]) -> Parsed<'b, 'h> {
    let mut req = Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, headers) {
        Ok(Status::Complete(len)) => len,
        Ok(Status::Partial) => return partial(buf),
        Err(e) => return Parsed::Reject(malformed(buf, e)),
    };
    let Request {
        method,
        path,
        version,
        headers,
    } = req;
    let (Some(method), Some(target)) = (method, path) else {
        return reject(Reason::Malformed, "incomplete request line");
    };
    if target.len() > MAX_REQUEST_LINE {
        return reject(
            Reason::RequestLineTooLong,
            "the request target is over 8 KiB",
        );
    }
    if len > MAX_HEAD {
        return reject(Reason::HeadTooLarge, "the request head is over 32 KiB");
    }
    let http10 = version == Some(0);
    let fields = match Fields::read(headers, http10) {
        Ok(fields) => fields,
        Err(rejection) => return Parsed::Reject(rejection),
    };
    let Some(path) = target_path(target, method) else {
        return reject(
            Reason::Target,
            "the request target must be a path, an absolute http(s) URI, or * for OPTIONS",
        );
    };
    let head_only = method == "HEAD";
    let head = Head {
        len,
        method,
        head_only,
        target,
        path,
        http10,
        keep_alive: !fields.close && (fields.keep_alive || !http10),
        body: fields.body,
        expect_continue: fields.expect_continue,
        headers,
    };
    let page = (head_only || method == "GET")
        && head.body == BodyFraming::None
        && !head.expect_continue
        && is_page_path(path);
    if page {
        Parsed::Page(head)
    } else {
        Parsed::App(head)
    }
}

fn reject<'b, 'h>(reason: Reason, detail: &str) -> Parsed<'b, 'h> {
    Parsed::Reject(Rejection::new(reason, detail))
}

/// An incomplete head: wait for more, unless it is already past a limit
/// (answered now, before the buffer grows further).
fn partial<'b, 'h>(buf: &[u8]) -> Parsed<'b, 'h> {
    let line_end = buf.iter().position(|&b| b == b'\n');
    if line_end.is_none_or(|end| end > MAX_REQUEST_LINE) && buf.len() > MAX_REQUEST_LINE {
        return reject(Reason::RequestLineTooLong, "the request line is over 8 KiB");
    }
    if buf.len() > MAX_HEAD {
        return reject(Reason::HeadTooLarge, "the request head is over 32 KiB");
    }
    let last_line = buf.iter().rposition(|&b| b == b'\n').map_or(0, |at| at + 1);
    if buf.len() - last_line > MAX_FIELD_LINE {
        return reject(Reason::FieldTooLarge, "a header line is over 8 KiB");
    }
    Parsed::Partial
}

/// The rejection for a head httparse refused.
fn malformed(buf: &[u8], e: httparse::Error) -> Rejection {
    match e {
        httparse::Error::TooManyHeaders => {
            Rejection::new(Reason::TooManyHeaders, "more than 100 header lines")
        }
        httparse::Error::Version => version_rejection(buf),
        other => Rejection::new(
            Reason::Malformed,
            &format!("malformed request head: {other}"),
        ),
    }
}

/// `HTTP/2.0` and other major versions get 505 (RFC 9110 §15.6.6); a
/// newer HTTP/1 minor version is to be served as HTTP/1.1 (RFC 9112 §2.3),
/// which the caller does by rewriting the digit; anything that is not a
/// version at all is malformed.
fn version_rejection(buf: &[u8]) -> Rejection {
    // httparse skips empty lines before the request line.
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(0);
    let line = buf[start..]
        .split(|&b| b == b'\n')
        .next()
        .unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let version = line.rsplit(|&b| b == b' ').next().unwrap_or_default();
    match version {
        // Never 0 or 1: those parse, so rewriting would not help.
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', b'2'..=b'9'] => {
            let mut rejection = Rejection::new(Reason::Version, "a newer HTTP/1 minor version");
            rejection.newer_minor = Some(start + line.len() - 1);
            rejection
        }
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Rejection::new(
                Reason::Version,
                &format!(
                    "HTTP/{}.{} is not supported: this server speaks HTTP/1.1",
                    char::from(*major),
                    char::from(*minor)
                ),
            )
        }
        _ => Rejection::new(Reason::Malformed, "malformed request line: no HTTP version"),
    }
}

/// What the header lines say about framing and the connection.
struct Fields {
    close: bool,
    keep_alive: bool,
    body: BodyFraming,
    expect_continue: bool,
}

impl Fields {
    /// One pass over the header lines, with every rule that depends on
    /// them: their size, `Host`, `Connection`, `Expect` and the framing.
    fn read(headers: &[Header<'_>], http10: bool) -> Result<Fields, Rejection> {
        let mut fields = Fields {
            close: false,
            keep_alive: false,
            body: BodyFraming::None,
            expect_continue: false,
        };
        let mut hosts = 0u32;
        let mut lengths: Option<&[u8]> = None;
        let mut codings = Codings::default();
        for header in headers {
            let name = header.name;
            let value = header.value;
            if name.len() + value.len() > MAX_FIELD_LINE {
                return Err(Rejection::new(
                    Reason::FieldTooLarge,
                    "a header line is over 8 KiB",
                ));
            }
            if name.eq_ignore_ascii_case("host") {
                hosts += 1;
                if !is_host(value.trim_ascii()) {
                    return Err(Rejection::new(
                        Reason::Host,
                        "the Host header is not a valid host",
                    ));
                }
            } else if name.eq_ignore_ascii_case("connection") {
                for token in value.split(|&b| b == b',') {
                    let token = token.trim_ascii();
                    if token.eq_ignore_ascii_case(b"close") {
                        fields.close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        fields.keep_alive = true;
                    }
                }
            } else if name.eq_ignore_ascii_case("content-length") {
                if lengths.replace(value).is_some() {
                    return Err(Rejection::new(
                        Reason::ContentLength,
                        "more than one Content-Length header",
                    ));
                }
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                codings.add(value);
            } else if name.eq_ignore_ascii_case("expect") {
                if !value.trim_ascii().eq_ignore_ascii_case(b"100-continue") {
                    return Err(Rejection::new(
                        Reason::Expectation,
                        "the only expectation this server meets is 100-continue",
                    ));
                }
                fields.expect_continue = true;
            }
        }
        // RFC 9112 §3.2: exactly one Host in HTTP/1.1, at most one in 1.0.
        if hosts > 1 || (hosts == 0 && !http10) {
            return Err(Rejection::new(
                Reason::Host,
                "an HTTP/1.1 request needs exactly one Host header",
            ));
        }
        fields.body = match (codings.seen, lengths) {
            (true, _) => codings.framing(http10, lengths.is_some())?,
            (false, Some(value)) => content_length(value)?,
            (false, None) => BodyFraming::None,
        };
        if fields.body == BodyFraming::None {
            // Nothing to wait for.
            fields.expect_continue = false;
        }
        Ok(fields)
    }
}

/// `Content-Length`: digits only (RFC 9110 §8.6), one value. A list such
/// as `5, 5` is refused like two lines, as nginx does.
fn content_length(value: &[u8]) -> Result<BodyFraming, Rejection> {
    let digits = value.trim_ascii();
    let invalid = || {
        Rejection::new(
            Reason::ContentLength,
            "Content-Length must be a single decimal number",
        )
    };
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    let length = digits
        .iter()
        .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
    Ok(match length {
        0 => BodyFraming::None,
        n => BodyFraming::Length(n),
    })
}

/// The transfer codings named across every `Transfer-Encoding` line, in
/// order.
#[derive(Default)]
struct Codings {
    seen: bool,
    chunked: u32,
    last_is_chunked: bool,
    others: bool,
}

impl Codings {
    fn add(&mut self, value: &[u8]) {
        self.seen = true;
        for coding in value.split(|&b| b == b',') {
            let coding = coding.trim_ascii();
            if coding.is_empty() {
                continue;
            }
            self.last_is_chunked = coding.eq_ignore_ascii_case(b"chunked");
            if self.last_is_chunked {
                self.chunked += 1;
            } else {
                self.others = true;
            }
        }
    }

    /// RFC 9112 §6.1 and §6.3: chunked must come last and once, never
    /// beside Content-Length (a smuggling vector) nor in HTTP/1.0; other
    /// codings are not implemented (501).
    fn framing(&self, http10: bool, with_length: bool) -> Result<BodyFraming, Rejection> {
        let refuse = |detail| Err(Rejection::new(Reason::TransferEncoding, detail));
        if http10 {
            return refuse("Transfer-Encoding is not allowed in an HTTP/1.0 request");
        }
        if with_length {
            return refuse("a request may not carry both Transfer-Encoding and Content-Length");
        }
        if !self.last_is_chunked || self.chunked != 1 {
            return refuse("chunked must be the final transfer coding, applied once");
        }
        if self.others {
            return Err(Rejection::new(
                Reason::UnsupportedCoding,
                "only the chunked transfer coding is implemented",
            ));
        }
        Ok(BodyFraming::Chunked)
    }
}

/// RFC 9110 §7.2: `uri-host [ ":" port ]`, possibly empty; checked
/// generously (reg-name, IPv4 and IP-literal characters).
fn is_host(value: &[u8]) -> bool {
    value.iter().all(|&b| HOST[usize::from(b)])
}

/// Byte classes as tables: one load per byte on the hit path, where a
/// chain of comparisons cost about ten instructions a byte.
const fn byte_class(extra: &[u8]) -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        table[extra[i] as usize] = true;
        i += 1;
    }
    table
}

/// RFC 3986 unreserved, sub-delims, `:`, `%` and the brackets of an IP
/// literal.
const HOST: [bool; 256] = byte_class(b"-._~%!$&'()*+,;=:[]");

/// RFC 3986 `pchar` and `/`, without `%`: unreserved, sub-delims, `:`, `@`.
const PLAIN: [bool; 256] = byte_class(b"-._~!$&'()*+,;=:@/");

/// The path of a request target without its query: origin form as is,
/// absolute form (RFC 9112 §3.2.2, which a server MUST accept) from its
/// first `/` after the authority, `*` for OPTIONS only. `None` for any
/// other form (authority form is CONNECT's, which keel does not proxy).
fn target_path<'b>(target: &'b str, method: &str) -> Option<&'b str> {
    let path = if target.starts_with('/') {
        target
    } else if let Some(rest) = strip_scheme(target) {
        match rest.find(['/', '?']) {
            Some(at) if rest.as_bytes()[at] == b'/' => &rest[at..],
            _ => "/",
        }
    } else if target == "*" && method == "OPTIONS" {
        return Some(target);
    } else {
        return None;
    };
    Some(path.split_once('?').map_or(path, |(path, _)| path))
}

fn strip_scheme(target: &str) -> Option<&str> {
    ["http://", "https://"].iter().find_map(|scheme| {
        let head = target.get(..scheme.len())?;
        head.eq_ignore_ascii_case(scheme)
            .then(|| &target[scheme.len()..])
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
    if bytes.first() != Some(&b'/') || !bytes.iter().all(|&b| PLAIN[usize::from(b)]) {
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
            _ => None,
        }
    }

    fn is_app(raw: &str) -> bool {
        let mut headers = headers();
        matches!(parse(raw.as_bytes(), &mut headers), Parsed::App(_))
    }

    /// The status and reason of a rejection, `None` when accepted.
    fn rejected(raw: &[u8]) -> Option<(u16, &'static str)> {
        let mut headers = headers();
        match parse(raw, &mut headers) {
            Parsed::Reject(r) => Some((r.reason.status().as_u16(), r.reason.label())),
            _ => None,
        }
    }

    fn body(raw: &str) -> BodyFraming {
        let mut headers = headers();
        match parse(raw.as_bytes(), &mut headers) {
            Parsed::App(h) | Parsed::Page(h) => h.body,
            _ => panic!("not accepted: {raw:?}"),
        }
    }

    #[test]
    fn a_get_is_a_page_request_with_its_length_and_path() {
        let raw = "GET /teams/rovers?x=1 HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\n";
        let (len, head_only, path, http10, keep_alive) = page(raw).expect("page");
        assert_eq!(len, raw.find("GET / ").expect("second request"));
        assert!(!head_only && !http10 && keep_alive);
        assert_eq!(path, "/teams/rovers");
        let (_, head_only, ..) = page("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n").expect("head");
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
        assert!(keep("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(!keep(
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        ));
        assert!(!keep(
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n"
        ));
        assert!(!keep("GET / HTTP/1.0\r\n\r\n"));
        assert!(keep("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
        assert!(!keep(
            "GET / HTTP/1.0\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n"
        ));
    }

    #[test]
    fn anything_but_a_plain_page_read_goes_to_the_app() {
        assert!(is_app(
            "POST /teams HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}"
        ));
        assert!(
            is_app("get / HTTP/1.1\r\nHost: a\r\n\r\n"),
            "methods are case-sensitive"
        );
        assert!(is_app("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(is_app(
            "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
        ));
        assert!(is_app(
            "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        ));
        assert!(
            is_app("GET /caf%C3%A9 HTTP/1.1\r\nHost: a\r\n\r\n"),
            "escapes"
        );
        assert!(is_app("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(page("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n").is_some());
        assert!(
            page("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
                .is_some(),
            "an upgrade offer is ignored (RFC 9110 §7.8)"
        );
        let absolute = page("GET http://a/teams/x?y HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(absolute.expect("absolute form").2, "/teams/x");
        let bare = page("GET https://a?y HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(bare.expect("absolute form without a path").2, "/");
    }

    #[test]
    fn host_is_required_once_in_http11() {
        assert_eq!(rejected(b"GET / HTTP/1.1\r\n\r\n"), Some((400, "host")));
        assert_eq!(
            rejected(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"),
            Some((400, "host"))
        );
        assert_eq!(
            rejected(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n"),
            Some((400, "host"))
        );
        assert_eq!(rejected(b"GET / HTTP/1.0\r\n\r\n"), None);
        assert_eq!(
            rejected(b"GET / HTTP/1.1\r\nHost:\r\n\r\n"),
            None,
            "empty is valid"
        );
        assert_eq!(rejected(b"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"), None);
    }

    #[test]
    fn content_length_is_one_plain_number() {
        let cl = |v: &str| format!("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: {v}\r\n\r\n");
        assert_eq!(body(&cl("5")), BodyFraming::Length(5));
        assert_eq!(body(&cl(" 7 ")), BodyFraming::Length(7));
        assert_eq!(body(&cl("0")), BodyFraming::None);
        for bad in ["+5", "-1", "0x5", "5, 5", "", "99999999999999999999", "5 5"] {
            assert_eq!(
                rejected(cl(bad).as_bytes()),
                Some((400, "content_length")),
                "{bad:?}"
            );
        }
        let twice = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(rejected(twice.as_bytes()), Some((400, "content_length")));
    }

    #[test]
    fn chunked_must_be_final_once_and_alone() {
        let te = |v: &str| format!("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {v}\r\n\r\n");
        assert_eq!(body(&te("chunked")), BodyFraming::Chunked);
        assert_eq!(body(&te(" Chunked ")), BodyFraming::Chunked);
        for bad in ["chunked, gzip", "identity", "chunked, chunked", ""] {
            assert_eq!(
                rejected(te(bad).as_bytes()),
                Some((400, "transfer_encoding")),
                "{bad:?}"
            );
        }
        assert_eq!(
            rejected(te("gzip, chunked").as_bytes()),
            Some((501, "unsupported_coding"))
        );
        let both = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(rejected(both.as_bytes()), Some((400, "transfer_encoding")));
        let old = "POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(rejected(old.as_bytes()), Some((400, "transfer_encoding")));
    }

    #[test]
    fn limits_are_answered_before_the_buffer_grows() {
        let long_target = format!("GET /{} HTTP/1.1\r\n", "a".repeat(MAX_REQUEST_LINE + 1));
        assert_eq!(
            rejected(long_target.as_bytes()),
            Some((414, "request_line_too_long"))
        );
        let unfinished_line = "a".repeat(MAX_REQUEST_LINE + 1);
        assert_eq!(
            rejected(unfinished_line.as_bytes()),
            Some((414, "request_line_too_long"))
        );
        let long_name = format!("GET / HTTP/1.1\r\n{}", "x".repeat(MAX_FIELD_LINE + 1));
        assert_eq!(
            rejected(long_name.as_bytes()),
            Some((431, "field_too_large"))
        );
        let long_value = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
            "v".repeat(MAX_FIELD_LINE)
        );
        assert_eq!(
            rejected(long_value.as_bytes()),
            Some((431, "field_too_large"))
        );
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
        let many = format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n");
        assert_eq!(rejected(many.as_bytes()), Some((431, "too_many_headers")));
        let big: String = (0..8)
            .map(|i| format!("X-{i}: {}\r\n", "v".repeat(5000)))
            .collect();
        let unfinished = format!("GET / HTTP/1.1\r\nHost: a\r\n{big}");
        assert_eq!(
            rejected(unfinished.as_bytes()),
            Some((431, "head_too_large"))
        );
        let complete = format!("{unfinished}\r\n");
        assert_eq!(rejected(complete.as_bytes()), Some((431, "head_too_large")));
    }

    #[test]
    fn malformed_heads_and_other_versions_are_refused() {
        for raw in [
            &b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
            b"GET /\r\n\r\n",
        ] {
            assert_eq!(rejected(raw), Some((400, "malformed")), "{raw:?}");
        }
        assert_eq!(rejected(b"GET / HTTP/2.0\r\n\r\n"), Some((505, "version")));
        let mut headers = headers();
        let newer = b"\r\nGET / HTTP/1.2\r\nHost: a\r\n\r\n";
        match parse(newer, &mut headers) {
            Parsed::Reject(r) => assert_eq!(r.newer_minor, Some(15), "the digit to rewrite"),
            _ => panic!("HTTP/1.2 is flagged for rewriting"),
        }
        assert_eq!(
            rejected(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
            Some((505, "version"))
        );
        assert_eq!(
            rejected(b"GET example.com HTTP/1.1\r\nHost: a\r\n\r\n"),
            Some((400, "target"))
        );
        assert_eq!(
            rejected(b"GET * HTTP/1.1\r\nHost: a\r\n\r\n"),
            Some((400, "target"))
        );
        assert_eq!(
            rejected(b"POST /x HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n"),
            Some((417, "expectation"))
        );
    }

    #[test]
    fn every_documented_api_route_but_the_content_api_is_left_to_the_app() {
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
