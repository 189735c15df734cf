//! One connection's life on the front: reading, answering every buffered
//! request in order (pipelining), the read and send timeouts, and the
//! lingering close. Requests for the app are read and answered in
//! [`exchange`].

mod exchange;

use std::io::{self, IoSlice};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::reject::{Reason, Rejection};
use super::write;
use super::{Answer, Limits, Worker, answer, head};

/// How long a closing connection keeps reading what its client still
/// sends, and how much of it.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1024 * 1024;
/// Room made in the read buffer before each read.
const READ_CHUNK: usize = 8 * 1024;
/// Pipelined responses are written out once they reach this size: the most
/// output a connection buffers besides one response's own body.
const FLUSH_AT: usize = 64 * 1024;

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

pub(super) struct Connection {
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
    /// The client's address, read once, for the app's requests only.
    peer: Option<Option<std::net::SocketAddr>>,
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
    pub(super) fn new(stream: TcpStream, limits: Limits) -> Connection {
        Connection {
            stream,
            read: BytesMut::with_capacity(READ_CHUNK),
            out: Vec::with_capacity(READ_CHUNK),
            limits,
            timer: Box::pin(tokio::time::sleep(limits.head)),
            last_response: Instant::now(),
            head_started: Some(Instant::now()),
            partial: None,
            peer: None,
        }
    }

    pub(super) async fn run(&mut self, worker: &Worker) {
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
    pub(super) async fn linger(&mut self) {
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
