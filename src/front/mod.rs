//! keel's HTTP/1.1 server. It owns every accepted connection for its whole
//! life: it parses every request head by one set of rules ([`head`]),
//! answers page reads (GET and HEAD of any path the router gives to
//! delivery) from the page cache, writing the response bytes itself by
//! delivery's rules ([`crate::delivery::reply`]), and passes every other
//! request, with its body read, to the actix-web app one at a time
//! ([`app`]), framing the app's answer itself. Pipelined requests are
//! answered in order, each with its own framing, whichever layer answers.
//!
//! Why: on a cache hit, actix-web's request and response header maps, its
//! router and the keep-alive timer it re-arms after every response cost
//! several times the lookup itself; with them keel could not serve hits as
//! cheaply as nginx serves files (README, "keel against nginx"). Idle and
//! slow connections are timed out with one lazily re-armed timer per
//! connection, slow readers by a send timeout armed only when the socket
//! is full.

mod app;
mod body;
mod connection;
mod fields;
mod head;
mod reject;
#[cfg(test)]
mod tests;
mod write;

use std::cell::Cell;
use std::mem::MaybeUninit;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use bytes::Bytes;
use httparse::Header;
use tokio::net::TcpStream;

use self::app::Pending;
pub use self::app::{App, Gate};
use self::connection::Connection;
pub use self::head::is_page_path;
use self::head::{MAX_HEADERS, Parsed};
use self::reject::{Reason, Rejection};
use self::write::{DateCache, Framing};
use crate::cache::{Lookup, PageCache, SAMPLE_EVERY};
use crate::delivery::{self, CACHE_STATUS_FETCHED, CACHE_STATUS_HIT, CACHE_STATUS_STALE};
use crate::metrics::{Metrics, Shard};

/// What every worker's front shares.
pub struct Front {
    cache: Arc<PageCache>,
    metrics: Arc<Metrics>,
    limits: Limits,
    /// Set when a graceful stop begins: connections close after the
    /// response in progress instead of waiting to be cut at the deadline.
    stopping: AtomicBool,
    /// Bytes of request body that may be held at once, across workers
    /// (`Limits::body_memory`): what bounds the memory a crowd of large or
    /// slow bodies can take, since each connection's own limit does not.
    bodies: tokio::sync::Semaphore,
}

/// How long a connection may wait on its client, and how much it may send.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Idle between requests.
    pub keep_alive: Duration,
    /// From the first byte of a request head to its end (and from accept
    /// to the first request's end); also the longest pause in a body.
    pub head: Duration,
    /// The longest a response waits on a client that reads nothing.
    pub send: Duration,
    /// The largest request body (413 above it).
    pub max_body: usize,
    /// The largest body of an image upload (`POST /api/v1/media`).
    pub max_upload: usize,
    /// The most request-body bytes held at once, every connection together
    /// (`--body-memory-bytes`); beyond it a large body gets 503.
    pub body_memory: usize,
}

impl Front {
    pub fn new(cache: Arc<PageCache>, metrics: Arc<Metrics>, limits: Limits) -> Front {
        // Every reason's series exists from the start, so a dashboard's
        // rate() sees the first rejection.
        for reason in Reason::ALL {
            metrics.http_rejected.with_label_values(&[reason.label()]);
        }
        Front {
            cache,
            metrics,
            limits,
            stopping: AtomicBool::new(false),
            bodies: tokio::sync::Semaphore::new(
                limits.body_memory.min(tokio::sync::Semaphore::MAX_PERMITS),
            ),
        }
    }

    /// Starts the graceful stop: every connection closes after its current
    /// response.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }
}

/// One worker's front: the shared part, the worker's actix-web app and its
/// `Date` value.
pub struct Worker {
    front: Arc<Front>,
    app: App,
    /// Whether page reads are answered from the cache; the operations
    /// listener passes everything to its app.
    pages: bool,
    /// Asked about the head of an image upload, or of any body over
    /// 64 KiB, before the body is read.
    gate: Option<Gate>,
    date: DateCache,
    /// This worker's metric counters: no other thread writes them.
    shard: Arc<Shard>,
    /// Hits answered, for reporting one in `SAMPLE_EVERY` to the cache.
    hits: Cell<u32>,
}

impl Worker {
    /// The public listener's worker: pages from the cache, the rest to `app`.
    pub fn new(front: Arc<Front>, app: App) -> Worker {
        Worker {
            shard: front.metrics.shards.new_shard(),
            front,
            app,
            pages: true,
            gate: None,
            date: DateCache::new(),
            hits: Cell::new(0),
        }
    }

    /// Image uploads, and bodies over 64 KiB (chunked ones once they grow
    /// past it), are read only once `gate` admits their head; without a
    /// gate a worker takes no uploads (their body limit is the ordinary
    /// one).
    pub fn with_gate(self, gate: Gate) -> Worker {
        Worker {
            gate: Some(gate),
            ..self
        }
    }

    /// A worker that passes every request to `app` (the operations listener).
    pub fn app_only(front: Arc<Front>, app: App) -> Worker {
        Worker {
            pages: false,
            ..Worker::new(front, app)
        }
    }
}

/// Serves one accepted connection until it closes.
pub async fn serve_connection(worker: Rc<Worker>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut conn = Connection::new(stream, worker.front.limits);
    conn.run(&worker).await;
    conn.linger().await;
}

/// What [`answer`] made of the bytes at the start of a read buffer.
pub enum Answer {
    /// A page request, answered into the output buffer.
    Page {
        /// Bytes of the request, to drop from the read buffer.
        consumed: usize,
        keep_alive: bool,
        /// When the response was complete.
        done: Instant,
        /// A body too large to copy, to send right after the output buffer.
        large: Option<Bytes>,
    },
    /// The head is not complete yet.
    Partial,
    /// A request for the app, its body still to be read.
    App(Box<Pending>),
    /// A refused request; the connection closes after its answer.
    Reject(Rejection),
}

/// Answers the request at the start of `read` into `out` if it is a page
/// read: parse, cache lookup, delivery's reply, the response bytes, the
/// request metrics. The whole of a cache hit but the socket; the cache-hit
/// benchmark measures this.
pub async fn answer(worker: &Worker, read: &[u8], out: &mut Vec<u8>) -> Answer {
    // Left uninitialised: httparse writes the lines it finds, and a 3 KB
    // memset per request would cost more than the parse.
    let mut headers = [const { MaybeUninit::<Header<'_>>::uninit() }; MAX_HEADERS];
    let front = &worker.front;
    let head = match head::parse(read, &mut headers) {
        Parsed::Page(head) if worker.pages => head,
        Parsed::Page(head) | Parsed::App(head) => {
            let keep_alive = head.keep_alive && !front.stopping();
            return match Pending::new(&head, keep_alive) {
                Ok(pending) => Answer::App(Box::new(pending)),
                Err(rejection) => Answer::Reject(rejection),
            };
        }
        Parsed::Partial => return Answer::Partial,
        Parsed::Reject(rejection) => return Answer::Reject(rejection),
    };
    let started = Instant::now();
    let date = worker.date.at(started);
    let framing = Framing {
        http10: head.http10,
        keep_alive: head.keep_alive && !front.stopping(),
        head_only: head.head_only,
    };
    // The common case first: a fresh copy, answered while borrowed.
    let hit = front
        .cache
        .hit_with(head.path, started, &worker.shard, |page| {
            let reply = delivery::reply(head.headers, page);
            let large = write::page(out, &reply, &CACHE_STATUS_HIT, framing, &date);
            (reply.status, large)
        });
    let (status, large) = match hit {
        Some(answered) => {
            let hits = worker.hits.get().wrapping_add(1);
            worker.hits.set(hits);
            if hits.is_multiple_of(SAMPLE_EVERY) {
                front.cache.touch(head.path).await;
            }
            answered
        }
        None => lookup(worker, &head, framing, &date, started, out).await,
    };
    let done = Instant::now();
    front.metrics.page(
        &worker.shard,
        status.as_u16(),
        done.saturating_duration_since(started).as_secs_f64(),
    );
    Answer::Page {
        consumed: head.len,
        keep_alive: framing.keep_alive,
        done,
        large,
    }
}

/// Everything but a fresh hit: stale copies, misses, unknown paths, the
/// store down.
async fn lookup(
    worker: &Worker,
    head: &head::Head<'_, '_>,
    framing: Framing,
    date: &[u8],
    started: Instant,
    out: &mut Vec<u8>,
) -> (StatusCode, Option<Bytes>) {
    let front = &worker.front;
    let lookup = front
        .cache
        .lookup_at(head.path, started, &worker.shard)
        .await;
    let (page, cache_status) = match lookup {
        Lookup::Hit(page) => (page, &CACHE_STATUS_HIT),
        Lookup::Stale(page) => (page, &CACHE_STATUS_STALE),
        Lookup::Fetched(page) => (page, &CACHE_STATUS_FETCHED),
        // Answered from memory like a hit, and like one with the page
        // borrowed: an unknown-path flood writes nothing workers share.
        Lookup::NotFound => {
            return front.cache.with_not_found(|page| {
                let reply = delivery::not_found_reply(head.headers, page, head.path);
                let large = write::page(out, &reply, &CACHE_STATUS_HIT, framing, date);
                (reply.status, large)
            });
        }
        Lookup::Unavailable => {
            write::unavailable(out, framing, date);
            return (StatusCode::SERVICE_UNAVAILABLE, None);
        }
    };
    let reply = delivery::reply(head.headers, &page);
    let large = write::page(out, &reply, cache_status, framing, date);
    (reply.status, large)
}
