//! Spike resilience with real `keel` processes on one PostgreSQL database:
//! a node restarted under load answers from memory once ready after a
//! bounded, batched warm-up; a live match updated every second for a minute
//! under steady load never shows an error or an out-of-date score, and the
//! database sees work per update, not per request. A node started with the
//! low soft limit on open files many systems give services raises it, and
//! holds more connections than that limit at once.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keel::store::Role;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{READER_OPS, TestStore, db_queries, demo_content_types};

/// A `keel serve` process on a free loopback port, killed on drop.
struct Node {
    child: Child,
    addr: String,
    client: reqwest::Client,
}

impl Node {
    /// Starts `keel serve` and waits until it listens (not until ready).
    fn start(database_url: &str, extra: &[&str]) -> Node {
        Node::start_by(
            Command::new(env!("CARGO_BIN_EXE_keel")),
            database_url,
            extra,
        )
    }

    /// [`Node::start`] with `program` running keel and the arguments given
    /// to it (a shell that sets its limits first, say).
    fn start_by(mut program: Command, database_url: &str, extra: &[&str]) -> Node {
        let mut child = program
            .args(["serve", "--listen", "127.0.0.1:0", "--workers", "2"])
            .args(extra)
            .env("KEEL_DATABASE_URL", database_url)
            .env("KEEL_CONTENT_TYPES", demo_content_types())
            .env("KEEL_LOG", "info")
            .env("KEEL_LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start keel");
        let stderr = child.stderr.take().expect("stderr");
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        // Drains the log for the process's whole life: a full pipe would
        // block it.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let Ok(log) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if log["fields"]["message"] == "listening" {
                    let _ = port_tx.send(log["fields"]["port"].as_u64());
                } else if log["level"] == "ERROR" {
                    eprintln!("keel: {line}");
                }
            }
        });
        let port = port_rx
            .recv_timeout(Duration::from_secs(60))
            .ok()
            .flatten()
            .expect("keel logs the port it listens on");
        Node {
            child,
            addr: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
        }
    }

    async fn ready(&self) -> bool {
        matches!(
            self.client.get(format!("{}/readyz", self.addr)).send().await,
            Ok(r) if r.status() == 200
        )
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.ready().await {
            assert!(
                Instant::now() < deadline,
                "{} never became ready",
                self.addr
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.addr))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text")
    }

    fn api(&self, method: Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.addr))
            .bearer_auth(token)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One reader request's outcome.
#[derive(Debug, Clone)]
struct Seen {
    node: usize,
    path: String,
    status: u16,
    cache_status: String,
    /// The match's home score when the page was the live match's, asked
    /// for without compression.
    score: Option<i64>,
    identity: bool,
    started: Instant,
}

/// The nodes a load balancer sends readers to: `Some(address)` while in
/// rotation.
type Rotation = Arc<Mutex<Vec<Option<String>>>>;

/// Readers at a constant arrival rate, spread over the nodes in rotation.
struct Load {
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Load {
    fn start(rotation: Rotation, paths: Vec<String>, hot: Option<String>, per_second: u32) -> Load {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let client = reqwest::Client::new();
        let record = seen.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1) / per_second);
            let encodings = ["br", "gzip", "identity"];
            for i in 0usize.. {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.changed() => return,
                }
                let live: Vec<(usize, String)> = {
                    let rotation = rotation.lock().unwrap();
                    rotation
                        .iter()
                        .enumerate()
                        .filter_map(|(n, addr)| Some((n, addr.clone()?)))
                        .collect()
                };
                if live.is_empty() {
                    continue;
                }
                let (node, addr) = live[i % live.len()].clone();
                // Half the readers want the hot page, as on a match day.
                let (path, encoding) = match &hot {
                    Some(hot) if i % 2 == 0 => (hot.clone(), "identity"),
                    _ => (paths[(i * 7919) % paths.len()].clone(), encodings[i % 3]),
                };
                let url = format!("{addr}{path}");
                let (client, record, hot) = (client.clone(), record.clone(), hot.clone());
                tokio::spawn(async move {
                    let started = Instant::now();
                    let outcome = client
                        .get(url)
                        .header("Accept-Encoding", encoding)
                        .send()
                        .await;
                    let (status, cache_status, score) = match outcome {
                        Ok(r) => {
                            let status = r.status().as_u16();
                            let cache_status = r
                                .headers()
                                .get("cache-status")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_owned();
                            let body = r.text().await.unwrap_or_default();
                            // A random pick can land on the hot page with a
                            // compressed encoding; only identity bodies are read.
                            let score = (hot.as_deref() == Some(path.as_str())
                                && encoding == "identity")
                                .then(|| home_score(&body))
                                .flatten();
                            (status, cache_status, score)
                        }
                        Err(_) => (0, String::new(), None),
                    };
                    record.lock().unwrap().push(Seen {
                        node,
                        path,
                        status,
                        cache_status,
                        score,
                        identity: encoding == "identity",
                        started,
                    });
                });
            }
        });
        Load { seen, stop, task }
    }

    async fn stop(self) -> Vec<Seen> {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        // Let requests in flight land.
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.seen.lock().unwrap().clone()
    }
}

/// The home score on a match page: `<p class="scoreline">3 – 0</p>`.
fn home_score(html: &str) -> Option<i64> {
    let start = html.find("class=\"scoreline\">")? + "class=\"scoreline\">".len();
    html[start..].split('–').next()?.trim().parse().ok()
}

/// A demo database with `teams` extra published teams (each a page and a
/// JSON document), seeded through the editor API of `node`.
async fn grow_site(node: &Node, token: &str, teams: usize) {
    for i in 0..teams {
        let r = node
            .api(Method::POST, "/api/v1/entries/team", token)
            .json(&json!({"slug": format!("club-{i}"), "data": {"name": format!("Club {i}")}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let id = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = node
            .api(
                Method::POST,
                &format!("/api/v1/entries/team/{id}/publish"),
                token,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
}

async fn editor_token(store: &TestStore) -> String {
    let token = keel::auth::generate_token();
    store
        .store
        .create_token("desk", Role::Editor, &keel::auth::hash_token(&token))
        .await
        .unwrap();
    token
}

fn errors(seen: &[Seen]) -> Vec<&Seen> {
    seen.iter().filter(|s| s.status != 200).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_node_answers_from_memory_after_a_batched_warm_up() {
    let Some(store) = TestStore::postgres().await else {
        return;
    };
    let url = store.raw_url.clone();
    let a = Node::start(&url, &["--demo"]);
    a.wait_ready().await;
    let token = editor_token(&store).await;
    grow_site(&a, &token, 120).await;
    let paths = store.store.page_paths().await.unwrap();
    assert!(paths.len() > 280, "{} pages", paths.len());

    let b = Node::start(&url, &[]);
    b.wait_ready().await;
    let rotation: Rotation = Arc::new(Mutex::new(vec![Some(a.addr.clone()), Some(b.addr.clone())]));
    let load = Load::start(rotation.clone(), paths.clone(), None, 300);
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Restart B under load: drained out of rotation, killed, started again,
    // back in as soon as /readyz says so.
    rotation.lock().unwrap()[1] = None;
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(b);
    let b = Node::start(&url, &[]);
    b.wait_ready().await;
    let warm_metrics = b.metrics().await;
    rotation.lock().unwrap()[1] = Some(b.addr.clone());
    let back_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let seen = load.stop().await;
    let after = b.metrics().await;

    // The warm-up read every page in a few batched queries, not one each.
    println!(
        "warm-up queries by operation: {:?}",
        op_deltas("", &warm_metrics)
    );
    let every_op =
        db_queries(&warm_metrics, &[]) - db_queries(&warm_metrics, &["ping", "heartbeat"]);
    let batches = db_queries(&warm_metrics, &["pages"]);
    let single = db_queries(&warm_metrics, &["page"]);
    println!(
        "restart: {} pages warmed with {batches} batched reads, {} single reads, {every_op} queries in all",
        paths.len(),
        single.abs()
    );
    assert_eq!(single, 0.0, "no page read one at a time");
    // Three for the warm-up, one for the start-up check of robots.txt and
    // the sitemap index.
    assert!(
        batches <= 4.0,
        "{batches} batches for {} pages",
        paths.len()
    );
    // Migrations, type sync, log position, index, sitemap check, timetable,
    // recent list, the first event reads and the scheduler: a constant,
    // whatever the number of pages.
    assert!(every_op <= 18.0, "{every_op} queries to start and warm");

    // Readers after it came back: all from memory, no reader query at all.
    let on_b: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.node == 1 && s.started >= back_at)
        .collect();
    assert!(on_b.len() > 300, "B served {} requests", on_b.len());
    for s in &on_b {
        assert_eq!(s.status, 200, "{s:?}");
        assert!(s.cache_status.starts_with("keel; hit"), "{s:?}");
    }
    assert_eq!(
        db_queries(&after, READER_OPS),
        db_queries(&warm_metrics, READER_OPS),
        "readers of the restarted node reached the database"
    );
    assert!(errors(&seen).is_empty(), "{:?}", errors(&seen).first());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_live_match_updated_every_second_for_a_minute_never_errs() {
    let Some(store) = TestStore::postgres().await else {
        return;
    };
    let url = store.raw_url.clone();
    let a = Node::start(&url, &["--demo"]);
    a.wait_ready().await;
    let b = Node::start(&url, &[]);
    b.wait_ready().await;
    let token = editor_token(&store).await;
    let live = store
        .store
        .published_entries("match")
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.data["status"] == "live")
        .expect("a live demo match");
    let hot = format!("/matches/{}", live.published_slug.clone().unwrap());
    let paths = store.store.page_paths().await.unwrap();
    let seq_before = store.store.last_seq().await.unwrap();
    let before: Vec<String> = vec![a.metrics().await, b.metrics().await];

    let rotation: Rotation = Arc::new(Mutex::new(vec![Some(a.addr.clone()), Some(b.addr.clone())]));
    let load = Load::start(rotation, paths, Some(hot.clone()), 200);
    // (published score, when the publish returned)
    let mut published: Vec<(i64, Instant)> =
        vec![(live.data["home_score"].as_i64().unwrap(), Instant::now())];
    let mut version = live.version;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    for score in 1..=60 {
        tick.tick().await;
        let r = a
            .api(
                Method::PATCH,
                &format!("/api/v1/entries/match/{}", live.id),
                &token,
            )
            .header("If-Match", format!("\"{version}\""))
            .json(&json!({"data": {"home_score": 100 + score}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        let r = a
            .api(
                Method::POST,
                &format!("/api/v1/entries/match/{}/publish", live.id),
                &token,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        version = r.json::<Value>().await.unwrap()["version"]
            .as_i64()
            .unwrap();
        published.push((100 + score, Instant::now()));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let seen = load.stop().await;
    let after: Vec<String> = vec![a.metrics().await, b.metrics().await];

    assert!(errors(&seen).is_empty(), "{:?}", errors(&seen).first());
    // Every hot read shows the score that was current when it started, or
    // the one before (a node a few milliseconds behind).
    let current_at = |at: Instant| {
        published
            .iter()
            .rposition(|(_, when)| *when <= at)
            .unwrap_or(0)
    };
    let mut hot_reads = 0;
    let mut previous = 0;
    for s in seen.iter().filter(|s| s.path == hot && s.identity) {
        hot_reads += 1;
        let score = s.score.unwrap_or_else(|| panic!("no score in {s:?}"));
        let current = current_at(s.started);
        let index = published
            .iter()
            .position(|(p, _)| *p == score)
            .unwrap_or_else(|| panic!("score {score} was never published: {s:?}"));
        // A publish can land while the request is in flight: newer is fine.
        assert!(
            index + 1 >= current,
            "read of {hot} started at version {current} showed version {index}: {s:?}"
        );
        if index + 1 == current {
            previous += 1;
        }
    }
    assert!(hot_reads > 3000, "{hot_reads} reads of the live match");

    // What the database saw: per update and node, not per request.
    let events = store.store.events_since(seq_before, 1000).await.unwrap();
    assert_eq!(
        events.iter().filter(|e| e.kind == "publish").count(),
        60,
        "one event per publish"
    );
    let changed_paths: usize = events.iter().map(|e| e.paths.len()).sum();
    let mut by_node = BTreeMap::new();
    for (node, (before, after)) in before.iter().zip(&after).enumerate() {
        let reader = db_queries(after, READER_OPS) - db_queries(before, READER_OPS);
        let all = db_queries(after, &[]) - db_queries(before, &[]);
        by_node.insert(node, (reader, all));
        println!(
            "node {node} queries by operation: {:?}",
            op_deltas(before, after)
        );
        // Each changed path is read about once per node (in the
        // background; twice when the next event lands during the read),
        // whatever the number of readers.
        assert!(
            reader <= changed_paths as f64 * 1.1,
            "node {node}: {reader} reader queries for {changed_paths} changed paths"
        );
    }
    let requests = seen.len();
    println!(
        "live match: {requests} requests ({hot_reads} of {hot}, {previous} showed the previous score), \
         60 updates changing {changed_paths} paths; queries per node (refreshes, all): {by_node:?}"
    );
    let (a_reader, _) = by_node[&0];
    assert!(
        a_reader <= 5.0,
        "the writing node re-read its own pages: {a_reader} reads"
    );
    let (b_reader, _) = by_node[&1];
    assert!(
        b_reader * 20.0 < requests as f64,
        "queries track requests: {b_reader} for {requests}"
    );
}

/// Store operations that moved between two `/metrics` texts, with how much.
fn op_deltas(before: &str, after: &str) -> BTreeMap<String, f64> {
    let ops = |text: &str| -> BTreeMap<String, f64> {
        text.lines()
            .filter_map(|l| l.strip_prefix("keel_db_queries_total{op=\""))
            .filter_map(|l| {
                let (op, rest) = l.split_once('"')?;
                Some((op.to_owned(), rest.rsplit(' ').next()?.parse().ok()?))
            })
            .collect()
    };
    let before = ops(before);
    ops(after)
        .into_iter()
        .map(|(op, n)| (op.clone(), n - before.get(&op).copied().unwrap_or(0.0)))
        .filter(|(_, n)| *n > 0.0)
        .collect()
}

/// The soft and hard limits on open files of process `pid`.
fn open_file_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("an open-files line");
    let mut words = line["Max open files".len()..].split_whitespace();
    let soft = words.next().expect("soft").to_owned();
    let hard = words.next().expect("hard").to_owned();
    (soft, hard)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_started_with_few_open_files_raises_its_limit_and_holds_more_connections() {
    const STARTED_WITH: usize = 256;
    const CONNECTIONS: usize = 3 * STARTED_WITH;
    let (_, hard) = open_file_limits(std::process::id());
    if hard
        .parse::<usize>()
        .is_ok_and(|hard| hard < 2 * CONNECTIONS)
    {
        eprintln!("skipped: the hard limit on open files here is {hard}");
        return;
    }
    let store = TestStore::sqlite().await;
    let mut shell = Command::new("sh");
    shell.args([
        "-c",
        &format!("ulimit -Sn {STARTED_WITH} && exec \"$@\""),
        "sh",
        env!("CARGO_BIN_EXE_keel"),
    ]);
    // Answered connections stay open for longer than the test lasts, so
    // none is closed to make room for another.
    let node = Node::start_by(shell, &store.raw_url, &["--demo", "--keep-alive", "60s"]);
    node.wait_ready().await;
    let (soft, node_hard) = open_file_limits(node.child.id());
    assert_eq!(
        (soft.as_str(), node_hard.as_str()),
        (hard.as_str(), hard.as_str())
    );
    let metrics = node.metrics().await;
    assert!(
        metrics.contains(&format!("process_max_fds {hard}")),
        "{}",
        metrics
            .lines()
            .filter(|l| l.starts_with("process_"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // Every connection is open before any is answered.
    let addr = node.addr.trim_start_matches("http://").to_owned();
    let mut held = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        held.push(
            tokio::net::TcpStream::connect(&addr)
                .await
                .expect("connect"),
        );
    }
    for stream in &mut held {
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: keel.test\r\nAccept-Encoding: br\r\n\r\n")
            .await
            .expect("request");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    for (i, stream) in held.iter_mut().enumerate() {
        let mut status = [0u8; 12];
        tokio::time::timeout_at(deadline, stream.read_exact(&mut status))
            .await
            .unwrap_or_else(|_| panic!("connection {i} was never answered"))
            .unwrap_or_else(|e| panic!("connection {i}: {e}"));
        assert_eq!(&status, b"HTTP/1.1 200", "connection {i}");
    }
}
