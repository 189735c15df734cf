//! keel's HTTP/1.1 front. It owns every accepted connection and answers
//! page reads (GET and HEAD of any path the router gives to delivery) from
//! the page cache, writing the response bytes itself by delivery's rules
//! ([`crate::delivery::reply`]). Any other request, and any request it does
//! not fully understand, is handed with the bytes already read to
//! actix-web's HTTP/1 dispatcher, which keeps the connection from then on.
//!
//! Why: on a cache hit, actix-web's request and response header maps, its
//! router and the keep-alive timer it re-arms after every response cost
//! several times the lookup itself; with them keel could not serve hits as
//! cheaply as nginx serves files (README, "keel against nginx"). Idle and
//! slow connections are still timed out, with one lazily re-armed timer per
//! connection instead of one per request.

mod head;
mod rewind;
#[cfg(test)]
mod tests;
mod write;

use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use futures_util::future::LocalBoxFuture;
use httparse::Header;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub use self::head::is_page_path;
use self::head::{MAX_HEADERS, Parsed};
pub use self::rewind::Rewind;
use self::write::{DateCache, Framing};
use crate::cache::{Lookup, PageCache};
use crate::delivery::{self, CACHE_STATUS_FETCHED, CACHE_STATUS_HIT, CACHE_STATUS_STALE};
use crate::metrics::Metrics;

/// A head still incomplete at this size is left to actix-web, which
/// answers it by its own limits (431).
const MAX_HEAD_BYTES: usize = 32 * 1024;
/// Room made in the read buffer before each read.
const READ_CHUNK: usize = 8 * 1024;
/// Pipelined responses are written out once they reach this size.
const FLUSH_AT: usize = 64 * 1024;

/// A connection handed to actix-web: the socket with the bytes read so far.
pub type Handoff = Rewind<TcpStream>;
/// actix-web's HTTP/1 service for one worker, type-erased: called once per
/// handed-off connection.
pub type Fallback = Rc<dyn Fn(Handoff, Option<SocketAddr>) -> LocalBoxFuture<'static, ()>>;

/// What every worker's front shares.
pub struct Front {
    cache: Arc<PageCache>,
    metrics: Arc<Metrics>,
    timeouts: Timeouts,
    /// Set when a graceful stop begins: connections close after the
    /// response in progress instead of waiting to be cut at the deadline.
    stopping: AtomicBool,
}

/// How long a connection may wait on its client.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Idle between requests.
    pub keep_alive: Duration,
    /// From the first byte of a request head to its end (and from accept
    /// to the first request's end).
    pub head: Duration,
}

impl Front {
    pub fn new(cache: Arc<PageCache>, metrics: Arc<Metrics>, timeouts: Timeouts) -> Front {
        Front {
            cache,
            metrics,
            timeouts,
            stopping: AtomicBool::new(false),
        }
    }

    /// Starts the graceful stop: every connection closes after its current
    /// response.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }
}

/// One worker's front: the shared part, actix-web for everything else, and
/// the worker's `Date` value.
pub struct Worker {
    front: Arc<Front>,
    fallback: Fallback,
    date: DateCache,
}

impl Worker {
    pub fn new(front: Arc<Front>, fallback: Fallback) -> Worker {
        Worker {
            front,
            fallback,
            date: DateCache::new(),
        }
    }
}

/// Serves one accepted connection until it closes, or hands it over.
pub async fn serve_connection(worker: Rc<Worker>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let timeouts = worker.front.timeouts;
    let mut conn = Connection {
        stream,
        read: BytesMut::with_capacity(READ_CHUNK),
        out: Vec::with_capacity(READ_CHUNK),
        timeouts,
        timer: Box::pin(tokio::time::sleep(timeouts.head)),
        last_response: Instant::now(),
        head_started: Some(Instant::now()),
    };
    match conn.run(&worker).await {
        Next::Close => {
            let _ = conn.stream.shutdown().await;
        }
        Next::Handoff => {
            let peer = conn.stream.peer_addr().ok();
            let io = Rewind::new(conn.read.freeze(), conn.stream);
            (worker.fallback)(io, peer).await;
        }
    }
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
    /// A request for actix-web.
    Other,
}

/// Answers the request at the start of `read` into `out` if it is a page
/// read: parse, cache lookup, delivery's reply, the response bytes, the
/// request metrics. The whole of a cache hit but the socket; the cache-hit
/// benchmark measures this.
pub async fn answer(worker: &Worker, read: &[u8], out: &mut Vec<u8>) -> Answer {
    // Left uninitialised: httparse writes the lines it finds, and a 2 KB
    // memset per request would cost more than the parse.
    let mut headers = [const { MaybeUninit::<Header<'_>>::uninit() }; MAX_HEADERS];
    let head = match head::parse(read, &mut headers) {
        Parsed::Page(head) => head,
        Parsed::Partial => return Answer::Partial,
        Parsed::Other => return Answer::Other,
    };
    let started = Instant::now();
    let date = worker.date.at(started);
    let front = &worker.front;
    let framing = Framing {
        http10: head.http10,
        keep_alive: head.keep_alive && !front.stopping.load(Ordering::Relaxed),
        head_only: head.head_only,
    };
    let lookup = front.cache.lookup_at(head.path, started).await;
    let cache_status = match &lookup {
        Lookup::Stale(_) => &CACHE_STATUS_STALE,
        Lookup::Fetched(_) => &CACHE_STATUS_FETCHED,
        _ => &CACHE_STATUS_HIT,
    };
    let page = match lookup {
        Lookup::Hit(page) | Lookup::Stale(page) | Lookup::Fetched(page) => Some(page),
        // Answered from memory, like a hit.
        Lookup::NotFound => Some(front.cache.not_found()),
        Lookup::Unavailable => None,
    };
    let (status, large) = match page {
        Some(page) => {
            let reply = delivery::reply(head.headers, &page);
            let large = write::page(out, &reply, cache_status, framing, &date);
            (reply.status, large)
        }
        None => {
            write::unavailable(out, framing, &date);
            (actix_web::http::StatusCode::SERVICE_UNAVAILABLE, None)
        }
    };
    let done = Instant::now();
    front.metrics.pages.observe(
        status.as_u16(),
        done.saturating_duration_since(started).as_secs_f64(),
        &front.metrics.http_requests,
    );
    Answer::Page {
        consumed: head.len,
        keep_alive: framing.keep_alive,
        done,
        large,
    }
}

enum Next {
    Close,
    Handoff,
}

struct Connection {
    stream: TcpStream,
    read: BytesMut,
    out: Vec<u8>,
    timeouts: Timeouts,
    /// Fires at or before the connection's deadline; re-armed only when it
    /// fires early, so a busy connection costs no timer work per request.
    timer: std::pin::Pin<Box<tokio::time::Sleep>>,
    last_response: Instant,
    /// When the first bytes of the pending head arrived.
    head_started: Option<Instant>,
}

impl Connection {
    async fn run(&mut self, worker: &Worker) -> Next {
        loop {
            match self.answer_buffered(worker).await {
                Ok(Some(next)) => {
                    if self.flush().await.is_err() {
                        return Next::Close;
                    }
                    return next;
                }
                Ok(None) => {}
                Err(()) => return Next::Close,
            }
            if self.flush().await.is_err() {
                return Next::Close;
            }
            match self.fill().await {
                Filled::Bytes => {}
                Filled::Closed => return Next::Close,
                Filled::TimedOut => {
                    if self.head_started.is_some() {
                        let date = worker.date.at(Instant::now());
                        write::request_timeout(&mut self.out, &date);
                        let _ = self.flush().await;
                    }
                    return Next::Close;
                }
            }
        }
    }

    /// Answers every complete request in the read buffer (pipelining).
    /// `Some` when the connection is done with the front; `Err` when the
    /// client went away.
    async fn answer_buffered(&mut self, worker: &Worker) -> Result<Option<Next>, ()> {
        while !self.read.is_empty() {
            let (consumed, keep_alive, large) =
                match answer(worker, &self.read, &mut self.out).await {
                    Answer::Page {
                        consumed,
                        keep_alive,
                        done,
                        large,
                    } => {
                        self.last_response = done;
                        (consumed, keep_alive, large)
                    }
                    Answer::Partial if self.read.len() < MAX_HEAD_BYTES => {
                        self.head_started.get_or_insert_with(Instant::now);
                        return Ok(None);
                    }
                    Answer::Partial | Answer::Other => return Ok(Some(Next::Handoff)),
                };
            self.read.advance(consumed);
            self.head_started = None;
            if let Some(body) = large {
                let mut chain = Buf::chain(self.out.as_slice(), body);
                self.stream
                    .write_all_buf(&mut chain)
                    .await
                    .map_err(|_| ())?;
                self.out.clear();
            }
            if !keep_alive {
                return Ok(Some(Next::Close));
            }
            if self.out.len() >= FLUSH_AT {
                self.flush().await.map_err(|_| ())?;
            }
        }
        Ok(None)
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        if !self.out.is_empty() {
            let result = self.stream.write_all(&self.out).await;
            self.out.clear();
            // A burst of pipelined responses may have grown the buffer; an
            // idle connection (a CDN keeps many) should not keep it.
            if self.out.capacity() > 4 * READ_CHUNK {
                self.out = Vec::with_capacity(READ_CHUNK);
            }
            result?;
        }
        Ok(())
    }

    /// Reads more bytes, waiting at most until the connection's deadline:
    /// the keep-alive period after the last response while idle, the head
    /// timeout once a head has started.
    async fn fill(&mut self) -> Filled {
        if self.read.capacity() - self.read.len() < READ_CHUNK / 2 {
            self.read.reserve(READ_CHUNK);
        }
        loop {
            let deadline = match self.head_started {
                Some(started) => started + self.timeouts.head,
                None => self.last_response + self.timeouts.keep_alive,
            };
            let armed = self.timer.deadline().into_std();
            if armed > deadline {
                self.timer.as_mut().reset(deadline.into());
            }
            tokio::select! {
                biased;
                read = self.stream.read_buf(&mut self.read) => {
                    return match read {
                        Ok(0) | Err(_) => Filled::Closed,
                        Ok(_) => Filled::Bytes,
                    };
                }
                () = self.timer.as_mut() => {
                    if Instant::now() >= deadline {
                        return Filled::TimedOut;
                    }
                    self.timer.as_mut().reset(deadline.into());
                }
            }
        }
    }
}

enum Filled {
    Bytes,
    Closed,
    TimedOut,
}
