//! A request for the app on a connection: its body read (a length or
//! chunks, within the limit, after a `100 Continue` if asked), the app
//! called, and its response written with the front's framing for that
//! request.

use std::time::{Duration, Instant};

use actix_web::body::{BodySize, MessageBody};
use actix_web::http::StatusCode;
use bytes::{Buf, Bytes};
use tokio::sync::SemaphorePermit;

use super::{Closed, Connection, FLUSH_AT, Filled, Served, Then};
use crate::front::Worker;
use crate::front::app::{self, Pending};
use crate::front::body::{self, Chunked, Decoded};
use crate::front::head::BodyFraming;
use crate::front::reject::{Reason, Rejection};
use crate::front::write::{self, COPY_BODY_MAX, Content, Framing};

impl Connection {
    /// Reads the body of a request for the app, calls the app and writes
    /// its answer.
    pub(super) async fn serve_app(&mut self, worker: &Worker, pending: Pending) -> Served<Then> {
        self.read.advance(pending.consumed);
        let framing = pending.framing;
        let front = &worker.front;
        let upload = worker.gate.is_some() && pending.is_upload();
        let limit = if upload {
            front.limits.max_upload
        } else {
            front.limits.max_body
        };
        let mut reading = match Reading::declared(pending.body, limit) {
            Ok(reading) => reading,
            Err(rejection) => {
                self.reject(worker, &rejection, framing.head_only);
                return Ok(Then::Close);
            }
        };
        // Every large body is admitted (gated, then budgeted), not only
        // uploads: the budget is for the newsroom's requests, and no route
        // takes such a body from a caller it does not know. A chunked
        // body's size is not known until its end, so unless it is an
        // upload it is read freely up to what an unbudgeted body may hold,
        // and admitted only if it grows past that: a small chunked request
        // gets its route's own answer (a 405, say), not a 401, and chunked
        // requests from strangers cannot hold the budget.
        let up_front = match &mut reading {
            Reading::Empty => false,
            _ if upload => true,
            Reading::Length(n) => *n > UNBUDGETED,
            Reading::Chunked(decoder) => {
                decoder.pause_past(UNBUDGETED);
                false
            }
        };
        // Held until the app has answered: the body lives that long.
        let mut held = None;
        if up_front {
            match self
                .admit(worker, &pending, reading.size(), framing)
                .await?
            {
                Ok(permit) => held = permit,
                Err(then) => return Ok(then),
            }
        }
        // A body may pause for the head timeout between reads, but must
        // also keep an average pace, or a drip-fed one could hold its share
        // of the body budget for as long as its sender liked. Until it is
        // admitted, a chunked body is paced for what it may hold unadmitted.
        let unadmitted = matches!(reading, Reading::Chunked(_)) && !up_front;
        let paced = if unadmitted {
            reading.size().min(UNBUDGETED)
        } else {
            reading.size()
        };
        let mut deadline = self.body_deadline(paced);
        let mut continued = !pending.expect_continue;
        let body = loop {
            match self
                .read_body(&mut reading, deadline, &mut continued)
                .await?
            {
                Ok(Some(body)) => break body,
                Ok(None) => match self
                    .admit(worker, &pending, reading.size(), framing)
                    .await?
                {
                    Ok(permit) => {
                        held = permit;
                        deadline = self.body_deadline(reading.size());
                    }
                    Err(then) => return Ok(then),
                },
                Err(rejection) => {
                    self.reject(worker, &rejection, framing.head_only);
                    return Ok(Then::Close);
                }
            }
        };
        let peer = *self
            .peer
            .get_or_insert_with(|| self.stream.peer_addr().ok());
        let answered = app::call(&worker.app, pending.into_request(body, peer)).await;
        // Not while the answer is written: a client slow to read it must
        // not keep the budget.
        drop(held);
        let Some(response) = answered else {
            self.internal_error(worker, framing);
            return Ok(Then::Close);
        };
        self.respond(worker, response, framing).await
    }

    /// When a body of `size` bytes, starting now, must be in.
    fn body_deadline(&self, size: usize) -> Instant {
        Instant::now()
            + self.limits.head
            + Duration::from_secs_f64(size as f64 / MIN_BODY_RATE as f64)
    }

    /// Lets the body of `pending` take memory: the gate is asked about its
    /// head, then `size` bytes (if over what any body may hold) are taken
    /// from the body budget and held by the permit. `Err` once a refusal
    /// has been written, the connection to close after it: the rest of the
    /// body stays unread, so nothing after it can be parsed.
    async fn admit<'w>(
        &mut self,
        worker: &'w Worker,
        pending: &Pending,
        size: usize,
        mut framing: Framing,
    ) -> Served<Result<Option<SemaphorePermit<'w>>, Then>> {
        if let Some(gate) = &worker.gate
            && let Some(refusal) = gate(&pending.request).await
        {
            framing.keep_alive = false;
            self.respond(worker, refusal, framing).await?;
            return Ok(Err(Then::Close));
        }
        if size <= UNBUDGETED {
            return Ok(Ok(None));
        }
        // Limits are under 4 GiB (checked at start-up).
        let wanted = u32::try_from(size).unwrap_or(u32::MAX);
        match worker.front.bodies.try_acquire_many(wanted) {
            Ok(permit) => Ok(Ok(Some(permit))),
            Err(_) => {
                let busy = Rejection::new(
                    Reason::Busy,
                    "the server holds as many request bodies as its memory allows; \
                     retry shortly",
                );
                self.reject(worker, &busy, framing.head_only);
                Ok(Err(Then::Close))
            }
        }
    }

    /// Reads on with `reading`: the whole body, `None` when a chunked body
    /// has grown past what it may hold unadmitted (reading goes on with
    /// the next call), or why it is refused.
    async fn read_body(
        &mut self,
        reading: &mut Reading,
        deadline: Instant,
        continued: &mut bool,
    ) -> Served<Result<Option<Bytes>, Rejection>> {
        loop {
            match reading {
                Reading::Empty => return Ok(Ok(Some(Bytes::new()))),
                Reading::Chunked(decoder) => match decoder.decode(&mut self.read) {
                    Ok(Decoded::Body(body)) => return Ok(Ok(Some(body))),
                    Ok(Decoded::Past) => return Ok(Ok(None)),
                    Ok(Decoded::More) => {}
                    Err(rejection) => return Ok(Err(rejection)),
                },
                Reading::Length(n) => {
                    if self.read.len() >= *n {
                        return Ok(Ok(Some(self.read.split_to(*n).freeze())));
                    }
                    self.read.reserve((*n - self.read.len()).min(FLUSH_AT));
                }
            }
            if !*continued {
                // RFC 9110 §10.1.1: the client waits for this before its body.
                self.out.extend_from_slice(write::CONTINUE);
                *continued = true;
            }
            self.flush().await?;
            self.head_started = Some(Instant::now());
            let filled = self.fill().await;
            if Instant::now() > deadline {
                return Ok(Err(Rejection::new(
                    Reason::Timeout,
                    &format!(
                        "the request body arrived slower than {} KiB/s",
                        MIN_BODY_RATE / 1024
                    ),
                )));
            }
            match filled {
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

    /// The answer when a handler panicked.
    fn internal_error(&mut self, worker: &Worker, framing: Framing) {
        let date = worker.date.at(Instant::now());
        write::internal_error(&mut self.out, framing.head_only, &date);
    }
}

/// Bodies up to this size are read without drawing on the body budget:
/// they cost no more than a request head may, and an API call's JSON is
/// almost always smaller.
const UNBUDGETED: usize = 64 * 1024;

/// The slowest average pace a body may arrive at, in bytes per second
/// (a 20 MiB photo from a stadium's 1 Mbit/s uplink comes at 128 KiB/s).
const MIN_BODY_RATE: usize = 16 * 1024;

/// A request body being read.
enum Reading {
    Empty,
    Length(usize),
    Chunked(Chunked),
}

impl Reading {
    /// How the head says its body comes, within `limit`.
    fn declared(body: BodyFraming, limit: usize) -> Result<Reading, Rejection> {
        Ok(match body {
            BodyFraming::None => Reading::Empty,
            BodyFraming::Length(0) => Reading::Empty,
            BodyFraming::Length(n) => match usize::try_from(n) {
                Ok(n) if n <= limit => Reading::Length(n),
                _ => return Err(body::too_large(limit)),
            },
            BodyFraming::Chunked => Reading::Chunked(Chunked::new(limit)),
        })
    }

    /// The most memory the body can take: its length, or for chunks the
    /// limit, since their total is not known until the last one.
    fn size(&self) -> usize {
        match self {
            Reading::Empty => 0,
            Reading::Length(n) => *n,
            Reading::Chunked(decoder) => decoder.limit(),
        }
    }
}
