use super::*;

fn headers<'b>() -> [MaybeUninit<Header<'b>>; MAX_HEADERS] {
    [const { MaybeUninit::uninit() }; MAX_HEADERS]
}

fn page(raw: &str) -> Option<(usize, bool, String, bool, bool)> {
    let mut headers = headers();
    match parse(raw.as_bytes(), &mut headers) {
        Parsed::Page(h) => Some((
            h.len,
            h.head_only,
            h.path.to_owned(),
            h.http10,
            h.keep_alive,
        )),
        _ => None,
    }
}

fn is_app(raw: &str) -> bool {
    let mut headers = headers();
    matches!(parse(raw.as_bytes(), &mut headers), Parsed::App(_))
}

/// The status and reason of a rejection, `None` when accepted.
fn rejected(raw: &[u8]) -> Option<(u16, &'static str)> {
    let mut headers = headers();
    match parse(raw, &mut headers) {
        Parsed::Reject(r) => Some((r.reason.status().as_u16(), r.reason.label())),
        _ => None,
    }
}

fn body(raw: &str) -> BodyFraming {
    let mut headers = headers();
    match parse(raw.as_bytes(), &mut headers) {
        Parsed::App(h) | Parsed::Page(h) => h.body,
        _ => panic!("not accepted: {raw:?}"),
    }
}

#[test]
fn a_get_is_a_page_request_with_its_length_and_path() {
    let raw = "GET /teams/rovers?x=1 HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\n";
    let (len, head_only, path, http10, keep_alive) = page(raw).expect("page");
    assert_eq!(len, raw.find("GET / ").expect("second request"));
    assert!(!head_only && !http10 && keep_alive);
    assert_eq!(path, "/teams/rovers");
    let (_, head_only, ..) = page("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n").expect("head");
    assert!(head_only);
}

#[test]
fn an_incomplete_head_asks_for_more() {
    let mut headers = headers();
    assert!(matches!(
        parse(b"GET /teams/rovers HTTP/1.1\r\nHost:", &mut headers),
        Parsed::Partial
    ));
}

#[test]
fn keep_alive_follows_the_version_and_connection_tokens() {
    let keep = |raw: &str| page(raw).expect("page").4;
    assert!(keep("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    assert!(!keep(
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    ));
    assert!(!keep(
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n"
    ));
    assert!(!keep("GET / HTTP/1.0\r\n\r\n"));
    assert!(keep("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    assert!(!keep(
        "GET / HTTP/1.0\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n"
    ));
}

#[test]
fn anything_but_a_plain_page_read_goes_to_the_app() {
    assert!(is_app(
        "POST /teams HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}"
    ));
    assert!(
        is_app("get / HTTP/1.1\r\nHost: a\r\n\r\n"),
        "methods are case-sensitive"
    );
    assert!(is_app("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"));
    assert!(is_app(
        "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
    ));
    assert!(is_app(
        "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    ));
    assert!(
        is_app("GET /caf%C3%A9 HTTP/1.1\r\nHost: a\r\n\r\n"),
        "escapes"
    );
    assert!(is_app("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"));
    assert!(page("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n").is_some());
    assert!(
        page("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n").is_some(),
        "an upgrade offer is ignored (RFC 9110 §7.8)"
    );
    let absolute = page("GET http://a/teams/x?y HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(absolute.expect("absolute form").2, "/teams/x");
    let bare = page("GET https://a?y HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(bare.expect("absolute form without a path").2, "/");
}

#[test]
fn host_is_required_once_in_http11() {
    assert_eq!(rejected(b"GET / HTTP/1.1\r\n\r\n"), Some((400, "host")));
    assert_eq!(
        rejected(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"),
        Some((400, "host"))
    );
    assert_eq!(
        rejected(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n"),
        Some((400, "host"))
    );
    assert_eq!(rejected(b"GET / HTTP/1.0\r\n\r\n"), None);
    assert_eq!(
        rejected(b"GET / HTTP/1.1\r\nHost:\r\n\r\n"),
        None,
        "empty is valid"
    );
    assert_eq!(rejected(b"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"), None);
}

#[test]
fn content_length_is_one_plain_number() {
    let cl = |v: &str| format!("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: {v}\r\n\r\n");
    assert_eq!(body(&cl("5")), BodyFraming::Length(5));
    assert_eq!(body(&cl(" 7 ")), BodyFraming::Length(7));
    assert_eq!(body(&cl("0")), BodyFraming::None);
    for bad in ["+5", "-1", "0x5", "5, 5", "", "99999999999999999999", "5 5"] {
        assert_eq!(
            rejected(cl(bad).as_bytes()),
            Some((400, "content_length")),
            "{bad:?}"
        );
    }
    let twice = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n";
    assert_eq!(rejected(twice.as_bytes()), Some((400, "content_length")));
}

#[test]
fn chunked_must_be_final_once_and_alone() {
    let te = |v: &str| format!("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {v}\r\n\r\n");
    assert_eq!(body(&te("chunked")), BodyFraming::Chunked);
    assert_eq!(body(&te(" Chunked ")), BodyFraming::Chunked);
    for bad in ["chunked, gzip", "identity", "chunked, chunked", ""] {
        assert_eq!(
            rejected(te(bad).as_bytes()),
            Some((400, "transfer_encoding")),
            "{bad:?}"
        );
    }
    assert_eq!(
        rejected(te("gzip, chunked").as_bytes()),
        Some((501, "unsupported_coding"))
    );
    let both =
        "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(rejected(both.as_bytes()), Some((400, "transfer_encoding")));
    let old = "POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(rejected(old.as_bytes()), Some((400, "transfer_encoding")));
}

#[test]
fn limits_are_answered_before_the_buffer_grows() {
    let long_target = format!("GET /{} HTTP/1.1\r\n", "a".repeat(MAX_REQUEST_LINE + 1));
    assert_eq!(
        rejected(long_target.as_bytes()),
        Some((414, "request_line_too_long"))
    );
    let unfinished_line = "a".repeat(MAX_REQUEST_LINE + 1);
    assert_eq!(
        rejected(unfinished_line.as_bytes()),
        Some((414, "request_line_too_long"))
    );
    let long_name = format!("GET / HTTP/1.1\r\n{}", "x".repeat(MAX_FIELD_LINE + 1));
    assert_eq!(
        rejected(long_name.as_bytes()),
        Some((431, "field_too_large"))
    );
    let long_value = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
        "v".repeat(MAX_FIELD_LINE)
    );
    assert_eq!(
        rejected(long_value.as_bytes()),
        Some((431, "field_too_large"))
    );
    let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
    let many = format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n");
    assert_eq!(rejected(many.as_bytes()), Some((431, "too_many_headers")));
    let big: String = (0..8)
        .map(|i| format!("X-{i}: {}\r\n", "v".repeat(5000)))
        .collect();
    let unfinished = format!("GET / HTTP/1.1\r\nHost: a\r\n{big}");
    assert_eq!(
        rejected(unfinished.as_bytes()),
        Some((431, "head_too_large"))
    );
    let complete = format!("{unfinished}\r\n");
    assert_eq!(rejected(complete.as_bytes()), Some((431, "head_too_large")));
}

#[test]
fn malformed_heads_and_other_versions_are_refused() {
    for raw in [
        &b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
        b"GET /\r\n\r\n",
    ] {
        assert_eq!(rejected(raw), Some((400, "malformed")), "{raw:?}");
    }
    assert_eq!(rejected(b"GET / HTTP/2.0\r\n\r\n"), Some((505, "version")));
    let mut headers = headers();
    let newer = b"\r\nGET / HTTP/1.2\r\nHost: a\r\n\r\n";
    match parse(newer, &mut headers) {
        Parsed::Reject(r) => assert_eq!(r.newer_minor, Some(15), "the digit to rewrite"),
        _ => panic!("HTTP/1.2 is flagged for rewriting"),
    }
    assert_eq!(
        rejected(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        Some((505, "version"))
    );
    assert_eq!(
        rejected(b"GET example.com HTTP/1.1\r\nHost: a\r\n\r\n"),
        Some((400, "target"))
    );
    assert_eq!(
        rejected(b"GET * HTTP/1.1\r\nHost: a\r\n\r\n"),
        Some((400, "target"))
    );
    assert_eq!(
        rejected(b"POST /x HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n"),
        Some((417, "expectation"))
    );
}

#[test]
fn every_documented_api_route_but_the_content_api_is_left_to_the_app() {
    use utoipa::OpenApi as _;
    let doc = crate::api::openapi::ApiDoc::openapi();
    let mut checked = 0;
    for path in doc.paths.paths.keys() {
        // A concrete path for each pattern: `{type}` -> `x`.
        let concrete: String = path
            .split('/')
            .map(|s| if s.starts_with('{') { "x" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let delivery = concrete.starts_with(CONTENT_API);
        assert_eq!(is_page_path(&concrete), delivery, "{path}");
        checked += 1;
    }
    assert!(checked > 5, "the document lists the API");
}

#[test]
fn operations_and_editor_routes_are_not_pages() {
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/preview/match/1",
        "/api/v1/entries/team",
        "/api/v1",
        "/api/v1/content",
        "/api",
        "/apiary",
    ] {
        assert!(!is_page_path(path), "{path}");
    }
    for path in [
        "/",
        "/teams/rovers",
        "/api/v1/content/team/rovers",
        "/matches/a-b-2026-12-02",
        "/news/x_y~z",
    ] {
        assert!(is_page_path(path), "{path}");
    }
}
