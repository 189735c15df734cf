//! Issue 17, item 6, over raw sockets against the real server: a listen
//! backlog as deep as the kernel allows, rejected requests counted by
//! reason, and the operations endpoints on a listener of their own.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::future::join_all;
use tokio::net::TcpStream;

use crate::hostile::{demo_with, refused};
use crate::wire::{self, h11_ready};

fn somaxconn() -> u32 {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(4096)
}

/// The listen backlog of the socket listening on `port`, from `ss` (its
/// Send-Q column for a listening socket); `None` without `ss`.
fn listen_backlog(port: u16) -> Option<u32> {
    let out = std::process::Command::new("ss")
        .args(["-ltnH", &format!("sport = :{port}")])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next()?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// The soft limit on open files, from `/proc/self/limits`.
fn open_files_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| {
            l.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
        })
        .unwrap_or(1024)
}

fn port(addr: &str) -> u16 {
    wire::host_port(addr)
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port")
}

// std's `TcpListener::bind` listens with a backlog of 128: a burst of new
// connections overflows it and waits out SYN retries (1 s, then 3 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listen_backlog_follows_somaxconn_or_the_setting() {
    let max = somaxconn();
    let app = demo_with(|_| {}).await;
    let configured = demo_with(|c| c.backlog = Some(300)).await;
    match (
        listen_backlog(port(&app.addr)),
        listen_backlog(port(&configured.addr)),
    ) {
        (Some(default), Some(set)) => {
            assert_eq!(default, max, "backlog unset: net.core.somaxconn");
            assert_eq!(set, 300.min(max), "--backlog 300");
        }
        _ => eprintln!("`ss` not found: listen backlogs not read"),
    }

    // Every connection of a burst completes at once (no SYN retry), as far
    // as this process may open files (the server's ends count too).
    let n = 1000.min(open_files_limit().saturating_sub(300) / 2);
    if max < 1024 {
        eprintln!("net.core.somaxconn is {max}: no burst of {n} connections");
        return;
    }
    let addr = wire::host_port(&app.addr).to_owned();
    let started = Instant::now();
    let conns = join_all((0..n).map(|_| TcpStream::connect(addr.as_str()))).await;
    let took = started.elapsed();
    let failed = conns.iter().filter(|c| c.is_err()).count();
    assert_eq!(failed, 0, "{failed} of {n} connections failed");
    assert!(
        took < Duration::from_secs(1),
        "{n} connections took {took:?} (SYN retries: the backlog overflowed)"
    );
    drop(conns);
}

// A log line per malformed request is a flood anyone can cause; a counter
// by reason is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_requests_are_counted_by_reason() {
    if !h11_ready() {
        return;
    }
    let app = demo_with(|_| {}).await;
    let malformed = b"GET / HTTP/1.1\r\nHost : keel.test\r\n\r\n";
    let ex = wire::try_exchange(&app.addr, malformed, &["GET"]).await;
    refused(ex, 400).expect("whitespace before the colon: 400 (RFC 9112 §5.1)");
    let metrics = app.metrics().await;
    let rejected: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("keel_http_rejected_total{reason=\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(
        rejected >= 1.0,
        "no keel_http_rejected_total{{reason=...}} after a 400 in:\n{}",
        metrics
            .lines()
            .filter(|l| l.starts_with("keel_http") && l.contains("_total{"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_endpoints_can_move_to_their_own_listener() {
    let ops = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        probe.local_addr().expect("addr")
    };
    let app = demo_with(|c| c.ops_listen = Some(ops)).await;
    let client = reqwest::Client::new();
    let get = |base: String, path: &'static str| {
        let client = client.clone();
        async move {
            let url = format!("{base}{path}");
            match client.get(&url).send().await {
                Ok(res) => (res.status().as_u16(), res.text().await.unwrap_or_default()),
                Err(e) => panic!("nothing answers {url}: {e}"),
            }
        }
    };
    let private = format!("http://{ops}");
    let (status, body) = get(private.clone(), "/metrics").await;
    assert_eq!(status, 200, "/metrics on --ops-listen");
    assert!(body.contains("keel_http_requests_total"), "{body}");
    let (status, _) = get(app.addr.clone(), "/metrics").await;
    assert_eq!(status, 404, "/metrics leaves the public listener");
    for base in [&app.addr, &private] {
        for path in ["/healthz", "/readyz"] {
            assert_eq!(get(base.clone(), path).await.0, 200, "{base}{path}");
        }
    }
}

/// The names `deploy/grafana/keel.json` and `deploy/prometheus/alerts.yml`
/// query (every `keel_…` and `process_…` word), each of which must be in
/// `/metrics`.
fn deployed_metric_names() -> std::collections::BTreeSet<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let mut names = std::collections::BTreeSet::new();
    for file in ["grafana/keel.json", "prometheus/alerts.yml"] {
        let text = std::fs::read_to_string(root.join(file)).expect("deploy file");
        if file.ends_with(".json") {
            let dashboard: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
            assert!(dashboard["panels"].as_array().is_some_and(|p| p.len() > 10));
        }
        let bytes = text.as_bytes();
        // process_* come from prometheus's collector, on Linux only.
        let prefixes: &[&str] = if cfg!(target_os = "linux") {
            &["keel_", "process_"]
        } else {
            &["keel_"]
        };
        for prefix in prefixes {
            let mut at = 0;
            while let Some(found) = text[at..].find(prefix) {
                let start = at + found;
                let end = bytes[start..]
                    .iter()
                    .position(|b| !(b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_'))
                    .map_or(text.len(), |n| start + n);
                let before = start.checked_sub(1).map(|i| bytes[i]);
                if !before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    names.insert(text[start..end].to_owned());
                }
                at = end;
            }
        }
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_dashboard_and_alerts_use_is_exported() {
    if !h11_ready() {
        return;
    }
    // An edge to purge (anything that accepts a connection passes the
    // start-up check), so the outbox's series exist.
    let edge = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let edge_url = format!("http://{}", edge.local_addr().unwrap());
    let app = demo_with(|c| {
        c.edge_purge = vec![keel::config::EdgePurge::Varnish {
            url: edge_url.parse().unwrap(),
            hard: false,
        }];
    })
    .await;
    assert_eq!(app.get("/").await.status(), 200);
    assert_eq!(app.get("/no/such/page").await.status(), 404);
    let malformed = b"GET / HTTP/1.1\r\nHost : keel.test\r\n\r\n";
    let _ = wire::try_exchange(&app.addr, malformed, &["GET"]).await;
    let metrics = app.metrics().await;
    let exported: std::collections::BTreeSet<&str> = metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let used = deployed_metric_names();
    assert!(used.len() > 20, "{used:?}");
    let missing: Vec<&String> = used
        .iter()
        .filter(|n| !exported.contains(n.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "used by deploy/ but not exported: {missing:?}"
    );
}

/// The value of the series `series` (name and labels as exposed) in a
/// Prometheus text exposition; 0 when absent.
fn series(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().expect("a number"))
}

/// Page reads are counted in one shard per worker and summed at the
/// scrape: N requests over many connections, spread by the server over
/// its workers, add up to N in every series that counts them, and the
/// exposition is one `promtool check metrics` accepts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn page_counts_add_up_across_workers() {
    let app = demo_with(|c| c.workers = 2).await;
    let paths = ["/", "/teams/harbour-city", "/matches", "/no/such/page"];
    for p in paths {
        app.get(p).await;
    }
    let counted = |m: &str| {
        [
            series(m, r#"keel_http_requests_total{route="page",status="200"}"#),
            series(m, r#"keel_http_requests_total{route="page",status="404"}"#),
            series(
                m,
                r#"keel_http_request_duration_seconds_count{route="page"}"#,
            ),
            ["hit", "stale", "miss", "negative"]
                .iter()
                .map(|r| series(m, &format!("keel_cache_requests_total{{result=\"{r}\"}}")))
                .sum(),
        ]
    };
    let before = counted(&app.metrics().await);
    // A connection per request: the server hands them to its workers in turn.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    const EACH: usize = 60;
    let requests = (0..EACH).flat_map(|_| paths).map(|p| {
        let client = client.clone();
        let url = format!("{}{p}", app.addr);
        async move {
            client
                .get(url)
                .send()
                .await
                .expect("an answer")
                .status()
                .as_u16()
        }
    });
    // Sixteen at a time.
    let statuses: Vec<u16> = futures_util::stream::iter(requests)
        .buffer_unordered(16)
        .collect()
        .await;
    let n = paths.len() * EACH;
    assert_eq!(statuses.len(), n);
    let not_found = statuses.iter().filter(|s| **s == 404).count();
    assert_eq!(not_found, EACH);
    let text = app.metrics().await;
    let after = counted(&text);
    let delta: Vec<f64> = after.iter().zip(before).map(|(a, b)| a - b).collect();
    assert_eq!(
        delta,
        [(n - EACH) as f64, EACH as f64, n as f64, n as f64],
        "200s, 404s, timed, looked up"
    );
    if let Ok(mut check) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        use std::io::Write;
        check
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = check.wait_with_output().unwrap();
        let said = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && said.trim().is_empty(),
            "promtool: {said}"
        );
    }
}
