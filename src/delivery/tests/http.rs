//! What reaches the wire: the HTTP/1.1 encoder, not the service, decides
//! how HEAD and Content-Length are framed, so these tests speak raw HTTP to
//! a real server on a loopback port.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use actix_web::{App, HttpServer, web};

use super::{HOME, site};
use crate::delivery::serve;

/// Sends one request with `Connection: close` and returns the status line
/// plus lowercased headers, and the body bytes.
fn exchange(addr: SocketAddr, method: &str) -> (String, Vec<(String, String)>, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let request = format!(
        "{method} / HTTP/1.1\r\nHost: test\r\nAccept-Encoding: br\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of head");
    let head = String::from_utf8(raw[..split].to_vec()).expect("ASCII head");
    let body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default().to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, body)
}

fn find<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[actix_web::test]
async fn head_over_a_socket_sends_the_get_length_and_no_body() {
    let (_fx, cache) = site().await;
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let data = cache.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .default_service(web::to(serve))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .expect("listen")
    .run();
    let handle = server.handle();
    tokio::spawn(server);

    let (get, head) =
        tokio::task::spawn_blocking(move || (exchange(addr, "GET"), exchange(addr, "HEAD")))
            .await
            .expect("client");
    handle.stop(true).await;

    let brotli_len = format!("br:{HOME}").len().to_string();
    let (status, headers, body) = get;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(find(&headers, "content-length"), Some(brotli_len.as_str()));
    assert_eq!(find(&headers, "content-encoding"), Some("br"));
    assert_eq!(body, format!("br:{HOME}").as_bytes());

    let (status, head_headers, head_body) = head;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(
        find(&head_headers, "content-length"),
        Some(brotli_len.as_str())
    );
    assert_eq!(find(&head_headers, "content-encoding"), Some("br"));
    assert_eq!(find(&head_headers, "etag"), find(&headers, "etag"));
    assert!(
        head_body.is_empty(),
        "HEAD sent {} body bytes",
        head_body.len()
    );
}
