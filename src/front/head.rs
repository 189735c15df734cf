//! One request head, parsed by httparse and checked against keel's HTTP/1.1
//! rules (RFC 9112): size limits, `Host`, the body's framing, the version.
//! Every request on every connection passes here, whichever layer answers
//! it, so the front and the actix-web app never disagree on a rule: the
//! app only ever sees requests this module accepted. The outcome is a page
//! read the front answers from the cache, a request for the app, more
//! bytes needed, or a rejection with its status.

use std::mem::MaybeUninit;

use httparse::{Header, Request, Status};

use super::fields::{Fields, PLAIN};
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
mod tests;
