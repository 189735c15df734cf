//! Response bytes for the front: status line, the header fields delivery
//! chose ([`Reply::for_each_header`]), the framing fields, then the body.
//! Values are copied from the page's pre-built header values; nothing is
//! formatted per request but the body length.

use std::cell::Cell;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::http::StatusCode;
use actix_web::http::header::HeaderValue;

use bytes::Bytes;

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
        finish(out, None, framing, date);
        return None;
    }
    let body = &reply.rep.body;
    finish(out, Some(body.len()), framing, date);
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
    finish(out, Some(UNAVAILABLE_BODY.len()), framing, date);
    if !framing.head_only {
        out.extend_from_slice(UNAVAILABLE_BODY.as_bytes());
    }
}

/// Appends the 408 for a head that did not arrive in time; the connection
/// is closed after it.
pub fn request_timeout(out: &mut Vec<u8>, date: &[u8]) {
    status_line(out, StatusCode::REQUEST_TIMEOUT);
    let framing = Framing {
        http10: false,
        keep_alive: false,
        head_only: false,
    };
    finish(out, Some(0), framing, date);
}

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
fn finish(out: &mut Vec<u8>, content_length: Option<usize>, framing: Framing, date: &[u8]) {
    if let Some(len) = content_length {
        let mut digits = itoa::Buffer::new();
        field(out, b"content-length", digits.format(len).as_bytes());
    }
    field(out, b"date", date);
    match (framing.http10, framing.keep_alive) {
        (false, false) => field(out, b"connection", b"close"),
        (true, true) => field(out, b"connection", b"keep-alive"),
        _ => {}
    }
    out.extend_from_slice(b"\r\n");
}
