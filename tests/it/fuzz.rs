//! A bounded fuzz run against the real binary (issue 17): valid requests
//! (page GET and HEAD, `/healthz`, an API POST with a JSON body, a chunked
//! POST) mutated by a seeded RNG (bit flips; inserted CR, LF, NUL, space,
//! colon, 0xff; truncation; repeated header lines; huge fields; versions
//! swapped) and written in random pieces, in batches over several
//! connections. After every batch a fresh `GET /` must get the whole home
//! page within 2 s; at the end the server's stderr must hold no panic and no
//! ERROR line (a log line per bad request is a flood anyone can cause).
//! `KEEL_FUZZ_SECS` (default 5) and `KEEL_FUZZ_SEED` set the run; the
//! counts are printed so a longer run gives figures.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::demo_content_types;

const CONNECTIONS: usize = 10;
const PER_CONNECTION: usize = 5;
const HOME: &[u8] = b"GET / HTTP/1.1\r\nHost: keel.test\r\nConnection: close\r\n\r\n";

/// `keel serve --demo` on a free loopback port, killed when dropped.
struct Keel {
    child: Child,
    addr: String,
    stderr: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Keel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Keel {
    async fn start() -> Keel {
        let dir = tempfile::tempdir().expect("temp dir");
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .to_string();
        let stderr = dir.path().join("stderr.log");
        let child = Command::new(env!("CARGO_BIN_EXE_keel"))
            .args(["serve", "--demo", "--listen", &addr, "--database-url"])
            .arg(format!("sqlite://{}", dir.path().join("k.db").display()))
            .arg("--content-types")
            .arg(demo_content_types())
            .env("KEEL_LOG", "info")
            .env("NO_COLOR", "1")
            .env_remove("RUST_BACKTRACE")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("run keel serve");
        let mut keel = Keel {
            child,
            addr,
            stderr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let ready = format!("http://{}/readyz", keel.addr);
        loop {
            if let Ok(res) = reqwest::get(&ready).await
                && res.status() == 200
            {
                return keel;
            }
            if let Ok(Some(status)) = keel.child.try_wait() {
                panic!("keel exited ({status}): {}", keel.log());
            }
            assert!(
                Instant::now() < deadline,
                "not ready in 30 s: {}",
                keel.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the server; all it wrote on stderr.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.log()
    }

    /// stderr so far, without colour codes.
    fn log(&self) -> String {
        let raw = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        strip_ansi(&raw)
    }

    /// The home page over a fresh connection: `(status, content-length,
    /// body length)`, or why not.
    async fn home(&self) -> Result<(u16, usize, usize), String> {
        let mut s = TcpStream::connect(&self.addr)
            .await
            .map_err(|e| e.to_string())?;
        s.write_all(HOME).await.map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.map_err(|e| e.to_string())?;
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut res = httparse::Response::new(&mut headers);
        let Ok(httparse::Status::Complete(len)) = res.parse(&raw) else {
            return Err(format!("no response head in {} bytes", raw.len()));
        };
        let length = res
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .and_then(|h| std::str::from_utf8(h.value).ok()?.parse().ok())
            .ok_or("no content-length")?;
        Ok((res.code.unwrap_or(0), length, raw.len() - len))
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn corpus() -> Vec<Vec<u8>> {
    let json = r#"{"slug":"fuzz","data":{"name":"Fuzz FC"}}"#;
    vec![
        b"GET / HTTP/1.1\r\nHost: keel.test\r\nAccept-Encoding: gzip, br\r\nUser-Agent: fuzz\r\n\r\n".to_vec(),
        b"HEAD /matches HTTP/1.1\r\nHost: keel.test\r\nAccept: text/html\r\n\r\n".to_vec(),
        b"GET /teams/harbour-city?x=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".to_vec(),
        b"GET /healthz HTTP/1.1\r\nHost: keel.test\r\n\r\n".to_vec(),
        format!(
            "POST /api/v1/entries/team HTTP/1.1\r\nHost: keel.test\r\nAuthorization: Bearer keel_0\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
            json.len()
        )
        .into_bytes(),
        format!(
            "POST /api/v1/entries/team HTTP/1.1\r\nHost: keel.test\r\nTransfer-Encoding: chunked\r\n\
             Content-Type: application/json\r\n\r\n{:x}\r\n{json}\r\n0\r\n\r\n",
            json.len()
        )
        .into_bytes(),
    ]
}

/// Where header lines start (after the request line, before the blank line).
fn line_starts(b: &[u8]) -> Vec<usize> {
    let end = b
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(b.len());
    (0..end)
        .filter(|&i| b[i..].starts_with(b"\r\n"))
        .map(|i| i + 2)
        .collect()
}

fn mutate(rng: &mut StdRng, base: &[u8]) -> Vec<u8> {
    const SPECIAL: &[u8] = b"\r\n\0 :\xff\t";
    let mut b = base.to_vec();
    for _ in 0..rng.random_range(1..=3) {
        let at = rng.random_range(0..=b.len());
        match rng.random_range(0..8) {
            0 if !b.is_empty() => {
                let i = rng.random_range(0..b.len());
                b[i] ^= 1 << rng.random_range(0..8);
            }
            1 => b.insert(at, SPECIAL[rng.random_range(0..SPECIAL.len())]),
            2 => b.truncate(at),
            3 => {
                let starts = line_starts(&b);
                if starts.len() >= 2 {
                    let i = rng.random_range(0..starts.len() - 1);
                    let line = b[starts[i]..starts[i + 1]].to_vec();
                    for _ in 0..rng.random_range(1..=3) {
                        b.splice(starts[i]..starts[i], line.iter().copied());
                    }
                }
            }
            4 => {
                let size = [4, 9, 40, 70][rng.random_range(0..4)] * 1024;
                let field = if rng.random_bool(0.5) {
                    format!("{}: v\r\n", "N".repeat(size))
                } else {
                    format!("X-Big: {}\r\n", "v".repeat(size))
                };
                let at = line_starts(&b).first().copied().unwrap_or(b.len());
                b.splice(at..at, field.into_bytes());
            }
            5 => {
                let n = [50, 101, 1000][rng.random_range(0..3)];
                let lines: String = (0..n).map(|i| format!("X-{i}: v\r\n")).collect();
                let at = line_starts(&b).first().copied().unwrap_or(b.len());
                b.splice(at..at, lines.into_bytes());
            }
            6 => {
                let version = [
                    "HTTP/1.0",
                    "HTTP/2.0",
                    "HTTP/1.2",
                    "HTTP/0.9",
                    "",
                    "HTTP/1.1 x",
                ];
                if let Some(i) = b
                    .windows(8)
                    .position(|w| w == b"HTTP/1.1" || w == b"HTTP/1.0")
                {
                    let v = version[rng.random_range(0..version.len())];
                    b.splice(i..i + 8, v.bytes());
                }
            }
            _ if !b.is_empty() => {
                let from = rng.random_range(0..b.len());
                let to = (from + rng.random_range(1..=8)).min(b.len());
                b.drain(from..to);
            }
            _ => {}
        }
    }
    b
}

/// One connection's plan: the bytes in pieces, the pause after each, and
/// whether the client half-closes once they are written.
struct Plan {
    pieces: Vec<Vec<u8>>,
    pause_ms: u64,
    half_close: bool,
}

fn plan(rng: &mut StdRng, corpus: &[Vec<u8>]) -> Plan {
    let bytes: Vec<u8> = (0..PER_CONNECTION)
        .flat_map(|_| {
            let base = &corpus[rng.random_range(0..corpus.len())];
            mutate(rng, base)
        })
        .collect();
    let mut cuts: Vec<usize> = (0..rng.random_range(0..4))
        .map(|_| rng.random_range(0..=bytes.len()))
        .collect();
    cuts.sort_unstable();
    let mut pieces = Vec::new();
    let mut from = 0;
    for cut in cuts.into_iter().chain([bytes.len()]) {
        pieces.push(bytes[from..cut].to_vec());
        from = cut;
    }
    Plan {
        pieces,
        pause_ms: rng.random_range(0..20),
        half_close: rng.random_bool(0.5),
    }
}

/// Runs one connection; every byte the server sent back.
async fn run(addr: String, plan: Plan) -> Vec<u8> {
    let Ok(mut s) = TcpStream::connect(&addr).await else {
        return Vec::new();
    };
    for piece in &plan.pieces {
        if s.write_all(piece).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(plan.pause_ms)).await;
    }
    if plan.half_close {
        let _ = s.shutdown().await;
    }
    let (mut raw, mut buf) = (Vec::new(), vec![0u8; 64 * 1024]);
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(300), s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => raw.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    raw
}

/// Status codes of the responses in `raw`: status lines at its start or
/// right after a line end.
fn statuses(raw: &[u8]) -> Vec<u16> {
    (0..raw.len())
        .filter(|&i| i == 0 || raw[i - 1] == b'\n')
        .filter_map(|i| {
            let line = raw.get(i..i + 13)?;
            let ok = line.starts_with(b"HTTP/1.") && line[8] == b' ' && line[12] == b' ';
            ok.then(|| std::str::from_utf8(&line[9..12]).ok()?.parse().ok())?
        })
        .collect()
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_requests_never_panic_log_errors_or_stop_the_server() {
    let secs = env_u64("KEEL_FUZZ_SECS", 5);
    let seed = env_u64("KEEL_FUZZ_SEED", 17);
    let keel = Keel::start().await;
    let (status, length, body) = keel.home().await.expect("the home page");
    assert_eq!((status, body), (200, length), "the home page, whole");

    let mut rng = StdRng::seed_from_u64(seed);
    let corpus = corpus();
    let (mut batches, mut silent) = (0usize, 0usize);
    let mut counts: BTreeMap<u16, usize> = BTreeMap::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(secs) {
        let plans: Vec<Plan> = (0..CONNECTIONS).map(|_| plan(&mut rng, &corpus)).collect();
        let answers = join_all(plans.into_iter().map(|p| run(keel.addr.clone(), p))).await;
        for raw in answers {
            let found = statuses(&raw);
            silent += usize::from(found.is_empty());
            for s in found {
                *counts.entry(s).or_default() += 1;
            }
        }
        batches += 1;
        let home = tokio::time::timeout(Duration::from_secs(2), keel.home()).await;
        assert!(
            matches!(home, Ok(Ok((200, l, b))) if l == length && b == length),
            "after batch {batches} (seed {seed}): GET / got {home:?}, want 200 with {length} bytes"
        );
    }
    let requests = batches * CONNECTIONS * PER_CONNECTION;
    println!(
        "fuzz: seed {seed}, {:?}: {requests} mutated requests in {batches} batches of {} \
         connections; responses by status {counts:?}; {silent} connections got no response",
        started.elapsed(),
        CONNECTIONS
    );

    let log = keel.stop();
    let panics: Vec<&str> = log.lines().filter(|l| l.contains("panicked")).collect();
    let errors: Vec<&str> = log.lines().filter(|l| l.contains(" ERROR ")).collect();
    assert!(
        panics.is_empty() && errors.is_empty(),
        "keel's stderr (seed {seed}) holds {} panics and {} ERROR lines; the first:\n{}",
        panics.len(),
        errors.len(),
        panics
            .iter()
            .take(2)
            .chain(errors.iter().take(3))
            .copied()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
