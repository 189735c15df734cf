//! Response bytes for the front: status line, the header fields delivery
//! chose ([`Reply::for_each_header`]) or the app's response carries, the
//! framing fields, then the body. Framing (length, chunking, `Date`,
//! `Connection`) is always the front's, never a handler's. For pages,
//! values are copied from the page's pre-built header values; nothing is
//! formatted per request but the body length.

use std::cell::Cell;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderValue};

use bytes::Bytes;

use super::reject::Rejection;
use crate::delivery::{Reply, UNAVAILABLE_BODY};

/// Bodies up to this size are copied behind their head, so pipelined
/// responses leave in one write; larger ones are sent from the page's own
/// bytes (a vectored write), never copied.
pub const COPY_BODY_MAX: usize = 16 * 1024;

/// `Date` as sent: an IMF-fixdate is always 29 bytes.
const DATE_LEN: usize = 29;

/// The `Date` field value, formatted once per second per worker.
pub struct DateCache {
    /// When the wall clock reaches its next second, on the monotonic clock
    /// the front already reads per request.
    next: Cell<Option<Instant>>,
    value: Cell<[u8; DATE_LEN]>,
}

impl DateCache {
    pub fn new() -> DateCache {
        DateCache {
            next: Cell::new(None),
            value: Cell::new([b' '; DATE_LEN]),
        }
    }

    /// The value to send at `now`.
    pub fn at(&self, now: Instant) -> [u8; DATE_LEN] {
        if self.next.get().is_none_or(|next| now >= next) {
            let wall = SystemTime::now();
            let formatted = httpdate::fmt_http_date(wall);
            let mut value = [b' '; DATE_LEN];
            let n = formatted.len().min(DATE_LEN);
            value[..n].copy_from_slice(&formatted.as_bytes()[..n]);
            self.value.set(value);
            let into_second = wall
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let to_next = Duration::from_secs(1) - Duration::from_nanos(u64::from(into_second));
            self.next.set(Some(now + to_next));
        }
        self.value.get()
    }
}

/// How the connection goes on after a response.
#[derive(Clone, Copy)]
pub struct Framing {
    pub http10: bool,
    pub keep_alive: bool,
    /// HEAD: the fields of a GET, no body.
    pub head_only: bool,
}

/// Appends the response for a page to `out`; returns the body still to be
/// sent after `out` when it is too large to copy.
pub fn page(
    out: &mut Vec<u8>,
    reply: &Reply<'_>,
    cache_status: &HeaderValue,
    framing: Framing,
    date: &[u8],
) -> Option<Bytes> {
    status_line(out, reply.status);
    reply.for_each_header(cache_status, |name, value| {
        field(out, name.as_str().as_bytes(), value.as_bytes());
    });
    // RFC 9110 §8.6: a 304 has no content; actix-web sends no length either.
    if reply.status == StatusCode::NOT_MODIFIED {
        finish(out, Content::Unframed, framing, date);
        return None;
    }
    let body = &reply.rep.body;
    finish(out, Content::Length(body.len() as u64), framing, date);
    if framing.head_only {
        None
    } else if body.len() <= COPY_BODY_MAX {
        out.extend_from_slice(body);
        None
    } else {
        Some(body.clone())
    }
}

/// Appends the 503 for a miss the store could not answer: retry soon, never
/// stored by a cache (the edge keeps serving its stale copy instead).
pub fn unavailable(out: &mut Vec<u8>, framing: Framing, date: &[u8]) {
    status_line(out, StatusCode::SERVICE_UNAVAILABLE);
    field(out, b"content-type", b"text/plain; charset=utf-8");
    field(out, b"retry-after", b"5");
    field(out, b"cache-control", b"no-store");
    finish(
        out,
        Content::Length(UNAVAILABLE_BODY.len() as u64),
        framing,
        date,
    );
    if !framing.head_only {
        out.extend_from_slice(UNAVAILABLE_BODY.as_bytes());
    }
}

/// How a response's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// No framing field: no body (1xx, 204, 304), or one that ends when
    /// the connection closes (HTTP/1.0).
    Unframed,
    Length(u64),
    Chunked,
}

/// Appends the problem answering a refused request; the connection is
/// closed after it.
pub fn rejection(out: &mut Vec<u8>, rejection: &Rejection, head_only: bool, date: &[u8]) {
    let status = rejection.reason.status();
    let retry_after = rejection.reason.retry_after();
    closing_problem(out, status, retry_after, &rejection.body(), head_only, date);
}

/// Appends the 500 sent when a handler panicked; the connection is closed
/// after it.
pub fn internal_error(out: &mut Vec<u8>, head_only: bool, date: &[u8]) {
    const BODY: &[u8] = br#"{"type":"/problems/internal","title":"Internal error","status":500,"detail":"the server failed to handle the request","code":"internal"}"#;
    closing_problem(
        out,
        StatusCode::INTERNAL_SERVER_ERROR,
        None,
        BODY,
        head_only,
        date,
    );
}

/// A problem document with `connection: close`.
fn closing_problem(
    out: &mut Vec<u8>,
    status: StatusCode,
    retry_after: Option<&[u8]>,
    body: &[u8],
    head_only: bool,
    date: &[u8],
) {
    status_line(out, status);
    field(out, b"content-type", b"application/problem+json");
    field(out, b"cache-control", b"no-store");
    if let Some(seconds) = retry_after {
        field(out, b"retry-after", seconds);
    }
    let framing = Framing {
        http10: false,
        keep_alive: false,
        head_only,
    };
    finish(out, Content::Length(body.len() as u64), framing, date);
    if !head_only {
        out.extend_from_slice(body);
    }
}

/// Appends an app response's head: its status and fields, minus the
/// framing fields, which the front writes from `content`.
pub fn app_head(
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: &HeaderMap,
    content: Content,
    framing: Framing,
    date: &[u8],
) {
    status_line(out, status);
    for (name, value) in headers {
        let framing_field = *name == header::CONTENT_LENGTH
            || *name == header::TRANSFER_ENCODING
            || *name == header::CONNECTION
            || *name == header::DATE
            || name.as_str() == "keep-alive";
        if !framing_field {
            field(out, name.as_str().as_bytes(), value.as_bytes());
        }
    }
    finish(out, content, framing, date);
}

/// Appends one chunk of a chunked body (RFC 9112 §7.1); an empty `data`
/// is the last chunk.
pub fn chunk(out: &mut Vec<u8>, data: &[u8]) {
    let mut size = [0u8; 16];
    let mut at = size.len();
    let mut n = data.len();
    loop {
        at -= 1;
        size[at] = b"0123456789abcdef"[n % 16];
        n /= 16;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&size[at..]);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// The interim response that lets an `Expect: 100-continue` client send
/// its body.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

fn status_line(out: &mut Vec<u8>, status: StatusCode) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The framing fields (length, date, connection) and the blank line. A
/// HEAD response still states the length a GET's body would have.
fn finish(out: &mut Vec<u8>, content: Content, framing: Framing, date: &[u8]) {
    match content {
        Content::Length(len) => {
            let mut digits = itoa::Buffer::new();
            field(out, b"content-length", digits.format(len).as_bytes());
        }
        Content::Chunked => field(out, b"transfer-encoding", b"chunked"),
        Content::Unframed => {}
    }
    field(out, b"date", date);
    match (framing.http10, framing.keep_alive) {
        (false, false) => field(out, b"connection", b"close"),
        (true, true) => field(out, b"connection", b"keep-alive"),
        _ => {}
    }
    out.extend_from_slice(b"\r\n");
}
