//! Raw HTTP/1.1 exchanges with a running keel: request bytes written as
//! given (whole, or in pieces with pauses), every byte the server sends read
//! back until it closes or goes quiet, and the lot parsed by a strict
//! HTTP/1.1 client parser (Python's h11, `tests/support/h11_check.py`)
//! before a test looks at any response. A response a test sees has sound
//! framing; anything after a `connection: close` is an error.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::in_ci;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/h11_check.py");
/// No byte for this long once the request is written: the server is done.
pub const QUIET: Duration = Duration::from_millis(500);
/// No exchange reads for longer than this.
const BOUND: Duration = Duration::from_secs(10);

/// Whether h11 can check responses. When it cannot: under `CI=true` the
/// test fails; otherwise one line is printed and the caller returns.
pub fn h11_ready() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    let ready = *READY.get_or_init(|| {
        Command::new("python3")
            .args(["-c", "import h11"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if !ready {
        assert!(
            !in_ci(),
            "CI=true but python3 cannot import h11 (pip install h11)"
        );
        eprintln!("skipped: python3 h11 not installed (pip install h11)");
    }
    ready
}

/// One response as h11 parsed it.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Lowercased names (h11 lowercases them), in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// 1xx statuses received before it.
    pub informational: Vec<u16>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether it announces that the connection closes after it.
    pub fn says_close(&self) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n == "connection")
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("close"))
    }
}

/// Everything a server sent on one connection, checked.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub responses: Vec<Response>,
    /// The server closed the connection (end of stream or reset).
    pub closed: bool,
    /// Every byte the server sent.
    pub raw: Vec<u8>,
}

impl Exchange {
    pub fn statuses(&self) -> Vec<u16> {
        self.responses.iter().map(|r| r.status).collect()
    }

    /// Case-insensitive occurrences of `needle` in the bytes received.
    pub fn count(&self, needle: &str) -> usize {
        let needle = needle.to_ascii_lowercase();
        let hay = self.raw.to_ascii_lowercase();
        hay.windows(needle.len())
            .filter(|w| *w == needle.as_bytes())
            .count()
    }
}

/// `host:port` from a `TestApp` address (`http://127.0.0.1:port`).
pub fn host_port(addr: &str) -> &str {
    addr.trim_start_matches("http://")
}

/// Sends `raw` on a fresh connection and checks what comes back; `methods`
/// lists the method of each request in `raw` (GET for a malformed one).
/// Panics when h11 finds a framing error or bytes it cannot account for.
pub async fn exchange(addr: &str, raw: &[u8], methods: &[&str]) -> Exchange {
    try_exchange(addr, raw, methods)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// [`exchange`], returning a framing error instead of panicking.
pub async fn try_exchange(addr: &str, raw: &[u8], methods: &[&str]) -> Result<Exchange, String> {
    try_exchange_in(addr, &[raw], Duration::ZERO, methods).await
}

/// [`try_exchange`], writing `pieces` one by one with `pause` between them.
pub async fn try_exchange_in(
    addr: &str,
    pieces: &[&[u8]],
    pause: Duration,
    methods: &[&str],
) -> Result<Exchange, String> {
    let stream = TcpStream::connect(host_port(addr))
        .await
        .expect("connect to keel");
    let (raw, closed) = talk(stream, pieces, pause).await;
    check(raw, closed, methods).await
}

/// Writes `pieces` while reading: until the server closes, until it has been
/// quiet for [`QUIET`] after the last write, or for [`BOUND`] at most. A
/// failed write (the server closed early) ends the writing, not the reading:
/// what the server answered is what counts. The write half stays open
/// throughout, so the server never sees the client finish.
pub async fn talk(stream: TcpStream, pieces: &[&[u8]], pause: Duration) -> (Vec<u8>, bool) {
    let (mut rd, mut wr) = stream.into_split();
    let pieces: Vec<Vec<u8>> = pieces.iter().map(|p| p.to_vec()).collect();
    let writer = tokio::spawn(async move {
        for (i, piece) in pieces.iter().enumerate() {
            if i > 0 && !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
            if wr.write_all(piece).await.is_err() {
                break;
            }
        }
        wr
    });
    let started = Instant::now();
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut closed = false;
    while started.elapsed() < BOUND {
        let written = writer.is_finished();
        match tokio::time::timeout(QUIET, rd.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(n)) => raw.extend_from_slice(&buf[..n]),
            // Quiet since the writes ended.
            Err(_) if written => break,
            Err(_) => {}
        }
    }
    let wr = writer.await.expect("writer task");
    drop((rd, wr));
    (raw, closed)
}

/// What one connection carried: the bytes the server sent, whether it
/// closed, and the methods of the requests written.
pub struct Talk {
    pub raw: Vec<u8>,
    pub closed: bool,
    pub methods: Vec<String>,
}

/// Runs h11 over the bytes of one connection.
pub async fn check(raw: Vec<u8>, closed: bool, methods: &[&str]) -> Result<Exchange, String> {
    let methods = methods.iter().map(|m| (*m).to_owned()).collect();
    let talk = Talk {
        raw,
        closed,
        methods,
    };
    check_many(vec![talk]).await.pop().expect("one result")
}

/// Runs h11 over many connections' bytes in one Python process.
pub async fn check_many(talks: Vec<Talk>) -> Vec<Result<Exchange, String>> {
    let input: Vec<serde_json::Value> = talks
        .iter()
        .map(|t| {
            serde_json::json!({
                "methods": t.methods,
                "data": BASE64.encode(&t.raw),
                "closed": t.closed,
            })
        })
        .collect();
    let input = serde_json::Value::from(input).to_string();
    let output = tokio::task::spawn_blocking(move || run_script(&input))
        .await
        .expect("h11 task");
    let out: Vec<serde_json::Value> = serde_json::from_str(&output)
        .unwrap_or_else(|e| panic!("h11_check.py printed no JSON list ({e}): {output}"));
    assert_eq!(out.len(), talks.len(), "one result per connection");
    talks
        .into_iter()
        .zip(out)
        .map(|(t, o)| judge(t, &o))
        .collect()
}

/// The checker's verdict on one connection as an [`Exchange`], or why not.
fn judge(talk: Talk, out: &serde_json::Value) -> Result<Exchange, String> {
    let Talk { raw, closed, .. } = talk;
    let shown = show(&raw);
    if let Some(error) = out["error"].as_str() {
        return Err(format!("h11: {error}; the server sent: {shown}"));
    }
    let trailing = out["trailing_bytes"].as_u64().expect("trailing_bytes");
    if trailing > 0 {
        return Err(format!(
            "h11: {trailing} bytes after the last response it could frame \
             (a response after `connection: close`?); the server sent: {shown}"
        ));
    }
    let responses = out["responses"]
        .as_array()
        .expect("responses")
        .iter()
        .map(|r| Response {
            status: u16::try_from(r["status"].as_u64().expect("status")).expect("u16"),
            headers: r["headers"]
                .as_array()
                .expect("headers")
                .iter()
                .map(|h| (text(&h[0]), text(&h[1])))
                .collect(),
            body: BASE64
                .decode(r["body_b64"].as_str().expect("body_b64"))
                .expect("base64 body"),
            informational: r["informational"]
                .as_array()
                .expect("informational")
                .iter()
                .filter_map(|s| s.as_u64().and_then(|s| u16::try_from(s).ok()))
                .collect(),
        })
        .collect();
    Ok(Exchange {
        responses,
        closed,
        raw,
    })
}

fn run_script(input: &str) -> String {
    let mut child = Command::new("python3")
        .arg(SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run python3 h11_check.py");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write to h11_check.py");
    let output = child.wait_with_output().expect("h11_check.py");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn text(v: &serde_json::Value) -> String {
    v.as_str().expect("a string").to_owned()
}

/// The start of what the server sent, escaped, for failure messages.
pub fn show(raw: &[u8]) -> String {
    const SHOWN: usize = 600;
    let head: String = raw
        .iter()
        .take(SHOWN)
        .flat_map(|&b| std::ascii::escape_default(b))
        .map(char::from)
        .collect();
    if raw.len() > SHOWN {
        format!("{} bytes: \"{head}...\"", raw.len())
    } else {
        format!("{} bytes: \"{head}\"", raw.len())
    }
}
