//! A fixed pool of HTTP/1.1 keep-alive connections to one server, on
//! hyper's low-level client: at most `size` connections, opened lazily,
//! each carrying one request at a time and reused until it fails. A request
//! waits for a free connection (that wait is part of its latency), reads the
//! whole body (counted, not decompressed) and hands the connection back.

use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HOST, HeaderMap, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// Why a request got no response, as the report counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Connect,
    Io,
    Timeout,
}

impl Failure {
    pub fn kind(self) -> &'static str {
        match self {
            Failure::Connect => "connect",
            Failure::Io => "io",
            Failure::Timeout => "timeout",
        }
    }
}

/// A response with its body read.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// Body bytes as received (compressed if the server compressed).
    pub body_len: u64,
    /// The body itself, only when asked for.
    pub body: Option<Bytes>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn text(&self) -> String {
        self.body
            .as_ref()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    }
}

pub struct Pool {
    addr: SocketAddr,
    host: HeaderValue,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
    /// One permit per connection: the pool never opens more than its size.
    slots: Semaphore,
    timeout: Duration,
}

impl Pool {
    pub fn new(addr: SocketAddr, size: usize, timeout: Duration) -> Pool {
        Pool {
            addr,
            host: HeaderValue::from_str(&addr.to_string()).expect("an address is a valid header"),
            idle: Mutex::new(Vec::with_capacity(size)),
            slots: Semaphore::new(size),
            timeout,
        }
    }

    /// Sends one request; the timeout covers the wait for a connection, the
    /// exchange and the body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&'static str, HeaderValue)],
        body: Option<Bytes>,
        keep_body: bool,
    ) -> Result<Reply, Failure> {
        let exchange = self.exchange(method, path, headers, body, keep_body);
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(Failure::Timeout),
        }
    }

    async fn exchange(
        &self,
        method: Method,
        path: &str,
        headers: &[(&'static str, HeaderValue)],
        body: Option<Bytes>,
        keep_body: bool,
    ) -> Result<Reply, Failure> {
        let _slot = self
            .slots
            .acquire()
            .await
            .expect("the pool is never closed");
        let build = || {
            let mut req = Request::builder()
                .method(method.clone())
                .uri(path)
                .body(Full::new(body.clone().unwrap_or_default()))
                .map_err(|_| Failure::Io)?;
            let h = req.headers_mut();
            h.insert(HOST, self.host.clone());
            for (name, value) in headers {
                h.insert(*name, value.clone());
            }
            Ok::<_, Failure>(req)
        };
        let (mut conn, reused) = match self.take_idle() {
            Some(conn) => (conn, true),
            None => (self.connect().await?, false),
        };
        let (mut sent, never_left) = match conn.ready().await {
            Ok(()) => {
                let sent = conn.send_request(build()?).await;
                let never_left = sent.as_ref().is_err_and(|e| e.is_canceled());
                (sent, never_left)
            }
            Err(e) => (Err(e), true),
        };
        // The server may close an idle keep-alive connection just as it is
        // reused; like a browser, retry once on a fresh one, but only when
        // the request never left (so nothing the server did is hidden).
        if reused && never_left {
            conn = self.connect().await?;
            conn.ready().await.map_err(|_| Failure::Io)?;
            sent = conn.send_request(build()?).await;
        }
        let res = sent.map_err(|_| Failure::Io)?;
        let (parts, mut incoming) = res.into_parts();
        let mut body_len = 0u64;
        let mut kept = keep_body.then(Vec::new);
        while let Some(frame) = incoming.frame().await {
            let frame = frame.map_err(|_| Failure::Io)?;
            if let Some(data) = frame.data_ref() {
                body_len += data.len() as u64;
                if let Some(buf) = kept.as_mut() {
                    buf.extend_from_slice(data);
                }
            }
        }
        // Only a connection whose exchange completed goes back: one dropped
        // mid-body (timeout, error) is closed with it.
        if !conn.is_closed() {
            self.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(conn);
        }
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body_len,
            body: kept.map(Bytes::from),
        })
    }

    fn take_idle(&self) -> Option<SendRequest<Full<Bytes>>> {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, Failure> {
        let stream = TcpStream::connect(self.addr)
            .await
            .map_err(|_| Failure::Connect)?;
        stream.set_nodelay(true).map_err(|_| Failure::Connect)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|_| Failure::Connect)?;
        tokio::spawn(async move {
            // Ends when the sender is dropped or the server closes; either
            // way the next request opens a new connection.
            let _ = conn.await;
        });
        Ok(sender)
    }
}

/// The JSON editor API over a small pool of its own, so seeding and live
/// updates never take connections from the readers' pool.
pub struct Api {
    pool: Pool,
    token: Option<HeaderValue>,
}

impl Api {
    pub fn new(addr: SocketAddr, token: Option<&str>, connections: usize) -> anyhow::Result<Api> {
        let token = token
            .map(|t| HeaderValue::from_str(&format!("Bearer {t}")))
            .transpose()
            .map_err(|_| anyhow::anyhow!("the token has characters a header cannot carry"))?;
        Ok(Api {
            pool: Pool::new(addr, connections, Duration::from_secs(60)),
            token,
        })
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// A request with the bearer token (if any) and an optional JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        json: Option<&serde_json::Value>,
    ) -> anyhow::Result<Reply> {
        self.call_with(method, path, json, None).await
    }

    /// [`Api::call`] with `If-Match` (PATCH and DELETE require one).
    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        json: Option<&serde_json::Value>,
        if_match: Option<&'static str>,
    ) -> anyhow::Result<Reply> {
        let mut headers = Vec::with_capacity(3);
        if let Some(tag) = if_match {
            headers.push(("if-match", HeaderValue::from_static(tag)));
        }
        if let Some(token) = &self.token {
            headers.push(("authorization", token.clone()));
        }
        let body = json.map(|j| Bytes::from(j.to_string()));
        if body.is_some() {
            headers.push(("content-type", HeaderValue::from_static("application/json")));
        }
        self.pool
            .send(method.clone(), path, &headers, body, true)
            .await
            .map_err(|f| anyhow::anyhow!("{method} {path}: {}", f.kind()))
    }

    /// Like [`Api::call`], but anything but a 2xx is an error quoting the
    /// server's problem document.
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        json: Option<&serde_json::Value>,
    ) -> anyhow::Result<serde_json::Value> {
        let reply = self.call(method.clone(), path, json).await?;
        if !reply.status.is_success() {
            anyhow::bail!("{method} {path}: {} {}", reply.status, reply.text().trim());
        }
        if reply.body_len == 0 {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(reply.body.as_deref().unwrap_or_default())
            .map_err(|e| anyhow::anyhow!("{method} {path}: response is not JSON: {e}"))
    }
}
