//! Requests the front passes to the actix-web app (the editor API,
//! operations, previews, anything that is not a plain page read): one
//! request at a time, its head already checked by [`super::head`] and its
//! body already read, so the app sees exactly one request and its answer
//! is framed by the front for that request. actix-web's own HTTP/1 layer
//! is never used: it framed a response by the last request it had parsed,
//! not the one it answered, when requests were pipelined.

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;

use actix_http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_http::{Method, Payload, Request, Uri, Version};
use actix_web::HttpResponse;
use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::LocalBoxFuture;

use super::head::{BodyFraming, Head};
use super::reject::{Reason, Rejection};
use super::write::Framing;

/// The actix-web app of one worker, type-erased: a request in, its
/// response out (errors already turned into responses).
pub type App = Rc<dyn Fn(Request) -> LocalBoxFuture<'static, HttpResponse>>;

/// A request for the app, owned, waiting for its body.
pub struct Pending {
    pub request: Request,
    /// Bytes of the head, to drop from the read buffer.
    pub consumed: usize,
    pub body: BodyFraming,
    pub expect_continue: bool,
    pub framing: Framing,
}

impl Pending {
    /// The app's request for `head`; fails only on what the `http` types
    /// accept more strictly than httparse (a target with characters a URI
    /// may not hold, a header value with obs-text is fine).
    pub fn new(head: &Head<'_, '_>, keep_alive: bool) -> Result<Pending, Rejection> {
        let mut request = Request::new();
        let req = request.head_mut();
        req.method = Method::from_bytes(head.method.as_bytes())
            .map_err(|_| Rejection::new(Reason::Malformed, "invalid method"))?;
        req.uri = Uri::try_from(head.target)
            .map_err(|e| Rejection::new(Reason::Target, &format!("invalid request target: {e}")))?;
        req.version = if head.http10 {
            Version::HTTP_10
        } else {
            Version::HTTP_11
        };
        let mut headers = HeaderMap::with_capacity(head.headers.len());
        for h in head.headers {
            let name = HeaderName::from_bytes(h.name.as_bytes())
                .map_err(|_| Rejection::new(Reason::Malformed, "invalid header name"))?;
            let value = HeaderValue::from_bytes(h.value)
                .map_err(|_| Rejection::new(Reason::Malformed, "invalid header value"))?;
            headers.append(name, value);
        }
        req.headers = headers;
        Ok(Pending {
            request,
            consumed: head.len,
            body: head.body,
            expect_continue: head.expect_continue,
            framing: Framing {
                http10: head.http10,
                keep_alive,
                head_only: head.head_only,
            },
        })
    }

    /// An image upload, which may be larger than other request bodies
    /// (`--max-upload-bytes`).
    pub fn is_upload(&self) -> bool {
        let head = self.request.head();
        head.method == Method::POST && crate::api::MEDIA_UPLOAD_PATHS.contains(&head.uri.path())
    }

    /// The request with its body and the client's address.
    pub fn into_request(self, body: Bytes, peer: Option<SocketAddr>) -> Request {
        let Pending { mut request, .. } = self;
        request.head_mut().peer_addr = peer;
        if !body.is_empty() {
            *request.payload() = Payload::from(body);
        }
        request
    }
}

/// What the front asks about an image upload, or any large body, from its
/// head alone, before it reads the body: `None` admits it, a response
/// refuses it (sent as is, and the connection closed, the body never
/// read). The app checks the request again in full; the gate only keeps
/// clients who could never be let in from making the server hold their
/// bodies.
pub type Gate = Rc<dyn Fn(&Request) -> LocalBoxFuture<'static, Option<HttpResponse>>>;

/// Calls the app; `None` if a handler panicked (the panic hook has
/// reported it, the connection is closed after a 500).
pub async fn call(app: &App, request: Request) -> Option<HttpResponse> {
    AssertUnwindSafe(app(request)).catch_unwind().await.ok()
}
