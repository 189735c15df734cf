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
mod head;
mod reject;
#[cfg(test)]
mod tests;
mod write;

use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use actix_web::body::{BodySize, MessageBody};
use actix_web::http::StatusCode;
use bytes::{Buf, Bytes, BytesMut};
use httparse::Header;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub use self::app::App;
use self::app::Pending;
use self::body::Chunked;
pub use self::head::is_page_path;
use self::head::{BodyFraming, MAX_HEADERS, Parsed};
use self::reject::{Reason, Rejection};
use self::write::{COPY_BODY_MAX, Content, DateCache, Framing};
use crate::cache::{Lookup, PageCache};
use crate::delivery::{self, CACHE_STATUS_FETCHED, CACHE_STATUS_HIT, CACHE_STATUS_STALE};
use crate::metrics::Metrics;

/// How long a closing connection keeps reading what its client still
/// sends, and how much of it.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1024 * 1024;
/// Room made in the read buffer before each read.
const READ_CHUNK: usize = 8 * 1024;
/// Pipelined responses are written out once they reach this size: the most
/// output a connection buffers besides one response's own body.
const FLUSH_AT: usize = 64 * 1024;

/// What every worker's front shares.
pub struct Front {
    cache: Arc<PageCache>,
    metrics: Arc<Metrics>,
    limits: Limits,
    /// Set when a graceful stop begins: connections close after the
    /// response in progress instead of waiting to be cut at the deadline.
    stopping: AtomicBool,
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
    date: DateCache,
}

impl Worker {
    /// The public listener's worker: pages from the cache, the rest to `app`.
    pub fn new(front: Arc<Front>, app: App) -> Worker {
        Worker {
            front,
            app,
            pages: true,
            date: DateCache::new(),
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
    let limits = worker.front.limits;
    let mut conn = Connection {
        stream,
        read: BytesMut::with_capacity(READ_CHUNK),
        out: Vec::with_capacity(READ_CHUNK),
        limits,
        timer: Box::pin(tokio::time::sleep(limits.head)),
        last_response: Instant::now(),
        head_started: Some(Instant::now()),
        partial: None,
    };
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
            (StatusCode::SERVICE_UNAVAILABLE, None)
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

/// Why a connection stopped being served.
enum Closed {
    /// The client went away, stopped reading, or the connection is done.
    Io,
}

type Served<T> = Result<T, Closed>;

impl From<io::Error> for Closed {
    fn from(_: io::Error) -> Closed {
        Closed::Io
    }
}

struct Connection {
    stream: TcpStream,
    read: BytesMut,
    out: Vec<u8>,
    limits: Limits,
    /// Fires at or before the connection's read deadline; re-armed only
    /// when it fires early, so a busy connection costs no timer work per
    /// request.
    timer: std::pin::Pin<Box<tokio::time::Sleep>>,
    last_response: Instant,
    /// When the first bytes of the pending head (or the last bytes of a
    /// body being read) arrived.
    head_started: Option<Instant>,
    /// Where the last parse of an incomplete head stopped.
    partial: Option<Partial>,
}

#[derive(Clone, Copy)]
struct Partial {
    /// Bytes buffered at that parse.
    scanned: usize,
    /// Where the last (unfinished) line began.
    line_start: usize,
}

/// Whether the connection goes on after a request.
enum Then {
    Continue,
    Close,
}

impl Connection {
    async fn run(&mut self, worker: &Worker) {
        loop {
            match self.answer_buffered(worker).await {
                Ok(Then::Continue) => {}
                Ok(Then::Close) | Err(Closed::Io) => {
                    let _ = self.flush().await;
                    return;
                }
            }
            if self.flush().await.is_err() {
                return;
            }
            match self.fill().await {
                Filled::Bytes => {}
                Filled::Closed => return,
                Filled::TimedOut => {
                    if self.head_started.is_some() {
                        let timeout = Rejection::new(
                            Reason::Timeout,
                            "the request head did not arrive in time",
                        );
                        self.reject(worker, &timeout, false);
                        let _ = self.flush().await;
                    }
                    return;
                }
            }
        }
    }

    /// Closes the connection the way nginx's lingering close does: the
    /// write side first, then whatever the client still sends is read and
    /// dropped for a moment. Closing with unread bytes makes the kernel
    /// send a reset, which can destroy the last response (a 413, a 431)
    /// before the client has read it.
    async fn linger(&mut self) {
        if self.stream.shutdown().await.is_err() {
            return;
        }
        let deadline = tokio::time::Instant::now() + LINGER;
        let mut drained = 0;
        let mut sink = [0u8; 4096];
        while drained < LINGER_BYTES {
            match tokio::time::timeout_at(deadline, self.stream.read(&mut sink)).await {
                Ok(Ok(n)) if n > 0 => drained += n,
                _ => return,
            }
        }
    }

    /// Whether the pending head is known to be still incomplete without
    /// parsing it again: no line ended since the last parse, and no limit
    /// can have been crossed. A client trickling a 32 KiB head a byte at a
    /// time would otherwise cost a parse of the whole head per byte.
    fn still_partial(&self) -> bool {
        let Some(Partial {
            scanned,
            line_start,
        }) = self.partial
        else {
            return false;
        };
        let len = self.read.len();
        len <= head::MAX_HEAD
            && len - line_start <= head::MAX_FIELD_LINE.min(head::MAX_REQUEST_LINE)
            && !self.read[scanned.min(len)..].contains(&b'\n')
    }

    /// Answers every complete request in the read buffer (pipelining).
    async fn answer_buffered(&mut self, worker: &Worker) -> Served<Then> {
        while !self.read.is_empty() {
            if self.still_partial() {
                return Ok(Then::Continue);
            }
            match answer(worker, &self.read, &mut self.out).await {
                Answer::Page {
                    consumed,
                    keep_alive,
                    done,
                    large,
                } => {
                    self.last_response = done;
                    self.partial = None;
                    self.read.advance(consumed);
                    self.head_started = None;
                    if let Some(body) = large {
                        self.send(&body).await?;
                    }
                    if !keep_alive {
                        return Ok(Then::Close);
                    }
                }
                Answer::Partial => {
                    self.head_started.get_or_insert_with(Instant::now);
                    let line_start = self.read.iter().rposition(|&b| b == b'\n');
                    self.partial = Some(Partial {
                        scanned: self.read.len(),
                        line_start: line_start.map_or(0, |at| at + 1),
                    });
                    return Ok(Then::Continue);
                }
                Answer::App(pending) => {
                    self.partial = None;
                    let then = self.serve_app(worker, *pending).await?;
                    self.head_started = None;
                    self.last_response = Instant::now();
                    if let Then::Close = then {
                        return Ok(Then::Close);
                    }
                }
                Answer::Reject(Rejection {
                    newer_minor: Some(at),
                    ..
                }) => {
                    // Served as HTTP/1.1 from here on.
                    self.read[at] = b'1';
                    self.partial = None;
                }
                Answer::Reject(rejection) => {
                    // A HEAD's answer has no body, even a refusal's.
                    let head_only = self.read.trim_ascii_start().starts_with(b"HEAD ");
                    self.reject(worker, &rejection, head_only);
                    return Ok(Then::Close);
                }
            }
            if self.out.len() >= FLUSH_AT {
                self.flush().await?;
            }
        }
        Ok(Then::Continue)
    }

    /// Reads the body of a request for the app, calls the app and writes
    /// its answer.
    async fn serve_app(&mut self, worker: &Worker, pending: Pending) -> Served<Then> {
        self.read.advance(pending.consumed);
        let framing = pending.framing;
        let body = match self
            .read_body(&pending, worker.front.limits.max_body)
            .await?
        {
            Ok(body) => body,
            Err(rejection) => {
                self.reject(worker, &rejection, framing.head_only);
                return Ok(Then::Close);
            }
        };
        let peer = self.stream.peer_addr().ok();
        let Some(response) = app::call(&worker.app, pending.into_request(body, peer)).await else {
            self.internal_error(worker, framing);
            return Ok(Then::Close);
        };
        self.respond(worker, response, framing).await
    }

    /// The whole body of `pending`, or why it is refused.
    async fn read_body(
        &mut self,
        pending: &Pending,
        limit: usize,
    ) -> Served<Result<Bytes, Rejection>> {
        let mut reading = match pending.body {
            BodyFraming::None => return Ok(Ok(Bytes::new())),
            BodyFraming::Length(n) => match usize::try_from(n) {
                Ok(n) if n <= limit => Reading::Length(n),
                _ => return Ok(Err(body::too_large(limit))),
            },
            BodyFraming::Chunked => Reading::Chunked(Chunked::new(limit)),
        };
        let mut continued = !pending.expect_continue;
        loop {
            match &mut reading {
                Reading::Chunked(decoder) => match decoder.decode(&mut self.read) {
                    Ok(Some(body)) => return Ok(Ok(body)),
                    Ok(None) => {}
                    Err(rejection) => return Ok(Err(rejection)),
                },
                Reading::Length(n) => {
                    if self.read.len() >= *n {
                        return Ok(Ok(self.read.split_to(*n).freeze()));
                    }
                    self.read.reserve((*n - self.read.len()).min(FLUSH_AT));
                }
            }
            if !continued {
                // RFC 9110 §10.1.1: the client waits for this before its body.
                self.out.extend_from_slice(write::CONTINUE);
                continued = true;
            }
            self.flush().await?;
            self.head_started = Some(Instant::now());
            match self.fill().await {
                Filled::Bytes => {}
                Filled::Closed => return Err(Closed::Io),
                Filled::TimedOut => {
                    return Ok(Err(Rejection::new(
                        Reason::Timeout,
                        "the request body stopped arriving",
                    )));
                }
            }
        }
    }

    /// Writes the app's response with the front's framing for this request.
    async fn respond(
        &mut self,
        worker: &Worker,
        response: actix_web::HttpResponse,
        mut framing: Framing,
    ) -> Served<Then> {
        let (head, body) = response.into_parts();
        let status = head.status();
        // A handler may end the connection (`Connection: close`).
        if head
            .headers()
            .get(actix_web::http::header::CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"))
        {
            framing.keep_alive = false;
        }
        let size = body.size();
        let bodiless = status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED;
        let content = match size {
            _ if bodiless => Content::Unframed,
            BodySize::None => Content::Length(0),
            BodySize::Sized(n) => Content::Length(n),
            // HEAD: no body follows, so nothing needs to delimit it.
            BodySize::Stream if framing.head_only => Content::Unframed,
            // HTTP/1.0 has no chunking: the body ends with the connection.
            BodySize::Stream if framing.http10 => {
                framing.keep_alive = false;
                Content::Unframed
            }
            BodySize::Stream => Content::Chunked,
        };
        let date = worker.date.at(Instant::now());
        write::app_head(
            &mut self.out,
            status,
            head.headers(),
            content,
            framing,
            &date,
        );
        if !(bodiless || framing.head_only) {
            self.write_body(body, content).await?;
        }
        Ok(if framing.keep_alive {
            Then::Continue
        } else {
            Then::Close
        })
    }

    /// Writes an app response's body as `content` frames it; a body that
    /// fails or breaks its own declared length closes the connection.
    async fn write_body(&mut self, body: actix_web::body::BoxBody, content: Content) -> Served<()> {
        let mut body = match body.try_into_bytes() {
            Ok(bytes) => {
                return match content {
                    Content::Chunked => {
                        if !bytes.is_empty() {
                            write::chunk(&mut self.out, &bytes);
                        }
                        write::chunk(&mut self.out, b"");
                        Ok(())
                    }
                    _ if bytes.len() <= COPY_BODY_MAX => {
                        self.out.extend_from_slice(&bytes);
                        Ok(())
                    }
                    _ => self.send(&bytes).await,
                };
            }
            Err(body) => std::pin::pin!(body),
        };
        let mut sent = 0u64;
        loop {
            let frame = std::future::poll_fn(|cx| body.as_mut().poll_next(cx)).await;
            let data = match frame {
                Some(Ok(data)) => data,
                None => break,
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "a response body failed; closing the connection");
                    return Err(Closed::Io);
                }
            };
            sent += data.len() as u64;
            match content {
                Content::Chunked if data.is_empty() => {}
                Content::Chunked => write::chunk(&mut self.out, &data),
                Content::Length(n) if sent > n => return Err(Closed::Io),
                _ => self.out.extend_from_slice(&data),
            }
            if self.out.len() >= FLUSH_AT {
                self.flush().await?;
            }
        }
        match content {
            Content::Chunked => write::chunk(&mut self.out, b""),
            Content::Length(n) if sent != n => return Err(Closed::Io),
            _ => {}
        }
        Ok(())
    }

    /// Appends the answer to a refused request and counts it; the caller
    /// closes the connection after it.
    fn reject(&mut self, worker: &Worker, rejection: &Rejection, head_only: bool) {
        worker
            .front
            .metrics
            .http_rejected
            .with_label_values(&[rejection.reason.label()])
            .inc();
        tracing::debug!(reason = rejection.reason.label(), detail = %rejection.detail, "request refused");
        let date = worker.date.at(Instant::now());
        write::rejection(&mut self.out, rejection, head_only, &date);
    }

    /// The answer when a handler panicked.
    fn internal_error(&mut self, worker: &Worker, framing: Framing) {
        let date = worker.date.at(Instant::now());
        write::internal_error(&mut self.out, framing.head_only, &date);
    }

    /// Writes the output buffer, then `body`.
    async fn send(&mut self, body: &[u8]) -> Served<()> {
        let mut bufs = [IoSlice::new(&self.out), IoSlice::new(body)];
        send(&self.stream, &mut bufs, self.limits.send).await?;
        self.out.clear();
        Ok(())
    }

    async fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            let result = send(
                &self.stream,
                &mut [IoSlice::new(&self.out)],
                self.limits.send,
            )
            .await;
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
                Some(started) => started + self.limits.head,
                None => self.last_response + self.limits.keep_alive,
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

/// A request body being read.
enum Reading {
    Length(usize),
    Chunked(Chunked),
}

enum Filled {
    Bytes,
    Closed,
    TimedOut,
}

/// Writes every byte of `bufs`, waiting at most `timeout` each time the
/// socket is full (nginx's `send_timeout`: a client that reads nothing is
/// dropped, one that reads slowly is not). The timer is armed only when a
/// write would block, so a response that fits the socket costs none.
async fn send(stream: &TcpStream, bufs: &mut [IoSlice<'_>], timeout: Duration) -> io::Result<()> {
    let mut bufs: &mut [IoSlice<'_>] = bufs;
    IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        match stream.try_write_vectored(bufs) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                tokio::time::timeout(timeout, stream.writable())
                    .await
                    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "send timeout"))??;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
