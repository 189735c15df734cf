//! The reader path over real HTTP: the demo site, cache headers, encoding
//! negotiation, conditional requests, 404 from memory, XSS removal, and
//! which pages a publish re-renders.

use std::collections::HashMap;
use std::io::Read as _;
use std::time::Duration;

use keel::config::ServeConfig;
use keel::store::Role;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestStore, db_queries, test_config};
use crate::on_both_backends;

on_both_backends!(
    fixture: the_demo_site_is_served_and_linked,
    published_pages_are_recompressed_at_the_best_quality_in_the_background,
    publishing_a_match_updates_its_pages_and_nothing_unrelated,
    racing_publishes_both_land_on_the_listing,
    renaming_a_team_updates_every_page_that_shows_its_name,
);

/// A demo site whose scheduler never runs during the test, so the only
/// database queries are the ones the test causes.
async fn demo(store: TestStore) -> TestApp {
    let config = ServeConfig {
        demo: true,
        schedule_every: Duration::from_secs(3600),
        ..test_config(&store.url)
    };
    TestApp::spawn_with(config, store.store.clone(), Some(store)).await
}

/// A publish stores fast brotli; the refiner replaces it with quality 11
/// in the store and in the node's cache, and readers get the smaller body.
async fn published_pages_are_recompressed_at_the_best_quality_in_the_background(store: TestStore) {
    let app = demo(store).await;
    let token = app.token("desk", Role::Editor).await;
    let body = "The final whistle. ".repeat(400);
    app.publish_new(
        &token,
        "article",
        "full-time",
        json!({"title": "Full time", "body": body}),
    )
    .await;
    let best = |page: &keel::model::Page| keel::render::brotli(&page.identity, 11);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let page = loop {
        let page = app.store.page("/news/full-time").await.unwrap().unwrap();
        if page.br == best(&page) {
            break page;
        }
        assert!(std::time::Instant::now() < deadline, "not refined in 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let fast = keel::render::brotli(&page.identity, 5);
    assert!(
        page.br.len() < fast.len(),
        "{} >= {}",
        page.br.len(),
        fast.len()
    );
    // The node serves the refined body (its cache took it too).
    let raw = raw_get(&app, "/news/full-time", "br").await;
    let length = raw
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_owned)
        })
        .expect("content-length");
    assert_eq!(length.trim(), page.br.len().to_string(), "{raw}");
}

/// The response head of a GET sent as raw bytes (no client decoding).
async fn raw_get(app: &TestApp, path: &str, encoding: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.addr.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: keel\r\nAccept-Encoding: {encoding}\r\nConnection: close\r\n\r\n"
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    socket.read_to_end(&mut response).await.unwrap();
    let end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    String::from_utf8_lossy(&response[..end]).into_owned()
}

async fn get(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = app.client.get(format!("{}{path}", app.addr));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("request")
}

async fn text(app: &TestApp, path: &str) -> (StatusCode, HeaderMap, String) {
    let r = get(app, path, &[("Accept-Encoding", "identity")]).await;
    (r.status(), r.headers().clone(), r.text().await.unwrap())
}

/// Every `href="/..."` in a page.
fn links(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .filter(|l| l.starts_with('/'))
        .map(str::to_owned)
        .collect()
}

async fn the_demo_site_is_served_and_linked(store: TestStore) {
    let app = demo(store).await;
    let (status, headers, home) = text(&app, "/").await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let home_links = links(&home);
    let a_match = home_links
        .iter()
        .find(|l| l.starts_with("/matches/"))
        .expect("home links a match")
        .clone();
    let an_article = home_links
        .iter()
        .find(|l| l.starts_with("/news/"))
        .expect("home links an article")
        .clone();
    assert!(
        home_links.contains(&"/matches".to_owned()),
        "home links /matches: {home_links:?}"
    );

    let (status, _, listing) = text(&app, "/matches").await;
    assert_eq!(status, 200);
    let (archive, fixtures): (Vec<String>, Vec<String>) = links(&listing)
        .into_iter()
        .filter(|l| l.starts_with("/matches/"))
        .partition(|l| l["/matches/".len()..].starts_with(|c: char| c.is_ascii_digit()));
    assert_eq!(fixtures.len(), 12, "{fixtures:?}");
    // The first page links the newest month of the archive; following the
    // links back reaches every match.
    let mut next = archive.first().cloned();
    let mut archived = String::new();
    while let Some(page) = next {
        let (status, _, month) = text(&app, &page).await;
        assert_eq!(status, 200, "{page}");
        next = month
            .split("<link rel=\"prev\" href=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .map(str::to_owned);
        archived.push_str(&month);
    }
    assert!(fixtures.iter().all(|m| archived.contains(m.as_str())));

    let (status, _, match_page) = text(&app, &a_match).await;
    assert_eq!(status, 200);
    let team = links(&match_page)
        .into_iter()
        .find(|l| l.starts_with("/teams/"))
        .expect("match links its teams");
    let (status, _, team_page) = text(&app, &team).await;
    assert_eq!(status, 200);
    assert!(
        links(&team_page).iter().any(|l| l.starts_with("/matches/")),
        "a team page lists its matches"
    );
    let (status, _, article) = text(&app, &an_article).await;
    assert_eq!(status, 200);
    assert!(article.contains("<blockquote>"), "markdown is rendered");

    // Every link on every page resolves.
    for page in [&home, &listing, &match_page, &team_page, &article] {
        for link in links(page) {
            let path = link.split('#').next().unwrap();
            assert_eq!(get(&app, path, &[]).await.status(), 200, "{link}");
        }
    }
}

fn decode(encoding: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        Some("br") => {
            brotli::BrotliDecompress(&mut &body[..], &mut out).unwrap();
        }
        Some("gzip") => {
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .unwrap();
        }
        None => out.extend_from_slice(body),
        Some(other) => panic!("unexpected encoding {other}"),
    }
    out
}

#[tokio::test]
async fn pages_carry_every_cache_header() {
    let app = demo(TestStore::sqlite().await).await;
    for path in ["/", "/matches", "/teams/harbour-city"] {
        let r = get(&app, path, &[("Accept-Encoding", "br")]).await;
        assert_eq!(r.status(), 200, "{path}");
        let h = r.headers().clone();
        let cc = h["cache-control"].to_str().unwrap();
        assert!(cc.starts_with("public, max-age="), "{cc}");
        assert!(cc.contains(", s-maxage="), "{cc}");
        assert!(
            cc.contains("stale-while-revalidate=") && cc.contains("stale-if-error="),
            "{cc}"
        );
        assert!(
            h["cdn-cache-control"]
                .to_str()
                .unwrap()
                .contains("max-age=")
        );
        assert!(
            h["surrogate-control"]
                .to_str()
                .unwrap()
                .contains("max-age=")
        );
        let keys = h["surrogate-key"].to_str().unwrap();
        let tags = h["cache-tag"].to_str().unwrap();
        assert_eq!(
            keys.replace(' ', ","),
            tags,
            "same keys, space- vs comma-separated"
        );
        let etag = h["etag"].to_str().unwrap();
        assert!(etag.starts_with('"') && etag.ends_with("-br\""), "{etag}");
        assert!(h.contains_key("last-modified"));
        assert!(
            h["vary"]
                .to_str()
                .unwrap()
                .eq_ignore_ascii_case("accept-encoding")
        );
        assert_eq!(h["content-encoding"], "br");
        assert!(h.contains_key("content-length"));
        assert!(h["cache-status"].to_str().unwrap().starts_with("keel; "));
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'none'")
        );
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(h.contains_key("referrer-policy"));
    }
    // The team page's keys name the team; a match page's name its teams and competition.
    let team = app
        .store
        .published_entry_by_slug("team", "harbour-city")
        .await
        .unwrap()
        .unwrap();
    let r = get(&app, "/teams/harbour-city", &[]).await;
    let keys = r.headers()["surrogate-key"].to_str().unwrap().to_owned();
    assert!(keys.split(' ').any(|k| k == team.id.to_string()), "{keys}");
    assert!(keys.split(' ').any(|k| k == "team"), "{keys}");
    assert!(keys.starts_with("path:/teams/harbour-city "), "{keys}");
    // ...and the matches it lists; a listing the ids of what it shows.
    let has_key = |keys: &str, id: &uuid::Uuid| keys.split(' ').any(|k| k == id.to_string());
    let matches = app.store.published_entries("match").await.unwrap();
    let of_team: Vec<_> = matches
        .iter()
        .filter(|m| {
            let d = m.published_data.as_ref().unwrap();
            d["home_team"] == team.id.to_string() || d["away_team"] == team.id.to_string()
        })
        .collect();
    assert!(!of_team.is_empty());
    for m in &of_team {
        assert!(has_key(&keys, &m.id), "{keys}");
    }
    let listing = get(&app, "/matches", &[]).await.headers()["surrogate-key"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        listing.starts_with("path:/matches listing:matches match"),
        "{listing}"
    );
    let shown = matches.iter().filter(|m| has_key(&listing, &m.id)).count();
    assert!(shown > 0 && shown <= matches.len(), "{listing}");
    let a_match = app
        .store
        .published_entries("match")
        .await
        .unwrap()
        .remove(0);
    let path = format!("/matches/{}", a_match.published_slug.unwrap());
    let keys = get(&app, &path, &[]).await.headers()["surrogate-key"]
        .to_str()
        .unwrap()
        .to_owned();
    let data = a_match.published_data.unwrap();
    assert!(keys.contains(data["home_team"].as_str().unwrap()), "{keys}");
    assert!(keys.contains(data["away_team"].as_str().unwrap()), "{keys}");
    assert!(keys.contains("competition:"), "{keys}");
    // A live match may be served stale for a minute when the origin fails,
    // a finished one for a day ([cache.live] in the demo's match type).
    for (status, stale_if_error) in [
        ("live", "stale-if-error=60"),
        ("finished", "stale-if-error=86400"),
    ] {
        let m = app
            .store
            .published_entries("match")
            .await
            .unwrap()
            .into_iter()
            .find(|m| m.published_data.as_ref().unwrap()["status"] == status)
            .unwrap_or_else(|| panic!("the demo has a {status} match"));
        let path = format!("/matches/{}", m.published_slug.unwrap());
        let r = get(&app, &path, &[]).await;
        let cc = r.headers()["cache-control"].to_str().unwrap();
        assert!(cc.ends_with(stale_if_error), "{status}: {cc}");
        let cdn = r.headers()["cdn-cache-control"].to_str().unwrap();
        assert!(cdn.ends_with(stale_if_error), "{status}: {cdn}");
    }
}

#[tokio::test]
async fn encodings_are_negotiated_and_decode_to_the_same_page() {
    let app = demo(TestStore::sqlite().await).await;
    let identity = get(&app, "/matches", &[("Accept-Encoding", "identity")])
        .await
        .bytes()
        .await
        .unwrap();
    let cases: &[(&str, Option<&str>)] = &[
        ("br", Some("br")),
        ("gzip", Some("gzip")),
        ("gzip, br", Some("br")),
        ("br;q=0.5, gzip;q=0.9", Some("gzip")),
        ("br;q=0, gzip", Some("gzip")),
        ("br;q=0, gzip;q=0", None),
        ("*", Some("br")),
        ("", None),
        ("deflate", None),
    ];
    for (accept, expected) in cases {
        let r = get(&app, "/matches", &[("Accept-Encoding", accept)]).await;
        assert_eq!(r.status(), 200);
        let got = r
            .headers()
            .get("content-encoding")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(got.as_deref(), *expected, "Accept-Encoding: {accept:?}");
        let etag = r.headers()["etag"].to_str().unwrap().to_owned();
        let body = r.bytes().await.unwrap();
        assert_eq!(decode(*expected, &body), identity.to_vec(), "{accept:?}");
        match expected {
            Some("br") => assert!(etag.ends_with("-br\"")),
            Some("gzip") => assert!(etag.ends_with("-gz\"")),
            _ => assert!(!etag.contains('-')),
        }
    }
    // No Accept-Encoding header at all: identity.
    let r = app
        .client
        .get(format!("{}/matches", app.addr))
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("content-encoding").is_none());
}

#[tokio::test]
async fn conditional_and_head_requests() {
    let app = demo(TestStore::sqlite().await).await;
    let r = get(&app, "/matches", &[("Accept-Encoding", "gzip")]).await;
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let last_modified = r.headers()["last-modified"].to_str().unwrap().to_owned();
    let length = r.headers()["content-length"].to_str().unwrap().to_owned();

    let not_modified = get(
        &app,
        "/matches",
        &[("Accept-Encoding", "gzip"), ("If-None-Match", &etag)],
    )
    .await;
    assert_eq!(not_modified.status(), 304);
    assert_eq!(not_modified.headers()["etag"], etag.as_str());
    assert!(not_modified.headers().contains_key("cache-control"));
    assert!(not_modified.bytes().await.unwrap().is_empty());
    let listed = format!("\"nope\", {etag}");
    assert_eq!(
        get(
            &app,
            "/matches",
            &[("Accept-Encoding", "gzip"), ("If-None-Match", &listed)]
        )
        .await
        .status(),
        304
    );
    // Another representation's validator does not match this one.
    assert_eq!(
        get(
            &app,
            "/matches",
            &[("Accept-Encoding", "br"), ("If-None-Match", &etag)]
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        get(&app, "/matches", &[("If-Modified-Since", &last_modified)])
            .await
            .status(),
        304
    );
    assert_eq!(
        get(
            &app,
            "/matches",
            &[("If-Modified-Since", "Sat, 01 Jan 2000 00:00:00 GMT")]
        )
        .await
        .status(),
        200
    );

    let head = app
        .client
        .head(format!("{}/matches", app.addr))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], length.as_str());
    assert_eq!(head.headers()["etag"], etag.as_str());
    assert!(head.bytes().await.unwrap().is_empty());

    let post = app
        .client
        .post(format!("{}/matches", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);
}

async fn scrape(app: &TestApp) -> String {
    get(app, "/metrics", &[]).await.text().await.unwrap()
}

#[tokio::test]
async fn after_warm_up_readers_cost_no_database_queries() {
    let fixture = TestStore::sqlite().await;
    let config = ServeConfig {
        schedule_every: Duration::from_secs(3600),
        // Only this node writes: local commits wake the follower.
        event_poll: Duration::from_secs(3600),
        ..test_config(&fixture.url)
    };
    let app = TestApp::spawn_with(config, fixture.store.clone(), Some(fixture)).await;
    let token = app.token("desk", Role::Editor).await;
    let mut paths = Vec::new();
    for i in 0..100 {
        app.publish_new(
            &token,
            "team",
            &format!("team-{i}"),
            json!({"name": format!("Team {i}")}),
        )
        .await;
        paths.push(format!("/teams/team-{i}"));
        paths.push(format!("/api/v1/content/team/team-{i}"));
    }
    assert_eq!(paths.len(), 200);
    for p in &paths {
        assert_eq!(get(&app, p, &[]).await.status(), 200, "{p}");
    }
    // The refiner's writes belong to the publishes above, and the node's
    // heartbeat is written every two seconds whatever readers do.
    let not_refining = |m: &str| db_queries(m, &[]) - db_queries(m, &["refine_page", "heartbeat"]);
    // The sitemap index is rewritten a second after the publishes, by the
    // node: wait until the node's own queries stop (no reader's).
    let mut last = not_refining(&scrape(&app).await);
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let now = not_refining(&scrape(&app).await);
        if now == last {
            break;
        }
        last = now;
    }
    let before = not_refining(&scrape(&app).await);
    let encodings = ["br", "gzip", "identity", "gzip, br"];
    for i in 0..10_000usize {
        let path = &paths[(i * 7919) % paths.len()];
        let r = get(
            &app,
            path,
            &[("Accept-Encoding", encodings[i % encodings.len()])],
        )
        .await;
        assert_eq!(r.status(), 200);
        assert!(
            r.headers()["cache-status"]
                .to_str()
                .unwrap()
                .starts_with("keel; hit")
        );
    }
    for i in 0..1_000 {
        let r = get(&app, &format!("/teams/nobody-{i}"), &[]).await;
        assert_eq!(r.status(), 404);
    }
    let metrics = scrape(&app).await;
    assert_eq!(
        not_refining(&metrics),
        before,
        "readers caused database queries"
    );
    assert!(metrics.contains("keel_cache_requests_total{result=\"hit\"}"));
    assert!(metrics.contains("keel_cache_requests_total{result=\"negative\"}"));
    // Routes are labelled by pattern, never by raw path.
    assert!(
        metrics.contains("keel_http_requests_total{route=\"page\",status=\"200\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("route=\"/api/v1/entries/{type}/{id}/publish\""),
        "{metrics}"
    );
    // The JSON delivery API is answered from the cache like any page.
    assert!(
        !metrics.contains("route=\"/api/v1/content/team"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("route=\"/teams/"),
        "a raw path became a label"
    );
    for name in [
        "keel_http_request_duration_seconds",
        "keel_cache_entries",
        "keel_cache_bytes",
        "keel_db_query_duration_seconds",
        "keel_renders_total",
        "keel_render_duration_seconds",
    ] {
        assert!(metrics.contains(name), "{name} missing");
    }
}

#[tokio::test]
async fn unknown_paths_get_the_rendered_404_page() {
    let app = demo(TestStore::sqlite().await).await;
    let r = get(&app, "/no/such/page", &[("Accept-Encoding", "identity")]).await;
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    let body = r.text().await.unwrap();
    assert!(
        body.contains("<html") || body.contains("<!doctype"),
        "{body}"
    );
    // Each 404 carries its path's key (on keel's front and on actix-web's
    // path alike), so publishing the path later purges it at the edge.
    for path in [
        "/matches/",
        "/teams/harbour-city/x",
        "/api/v1/content/team/nobody",
    ] {
        let r = get(&app, path, &[]).await;
        assert_eq!(r.status(), 404, "{path}");
        let key = keel::model::page_key(path);
        assert_eq!(r.headers()["surrogate-key"], format!("404 {key}").as_str());
        assert_eq!(r.headers()["cache-tag"], format!("404,{key}").as_str());
    }
}

#[tokio::test]
async fn json_delivery_expands_references_and_is_cached_like_pages() {
    let app = demo(TestStore::sqlite().await).await;
    let a_match = app
        .store
        .published_entries("match")
        .await
        .unwrap()
        .remove(0);
    let slug = a_match.published_slug.clone().unwrap();
    let r = get(
        &app,
        &format!("/api/v1/content/match/{slug}"),
        &[("Accept-Encoding", "gzip")],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.headers()["content-encoding"], "gzip");
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("public")
    );
    assert!(r.headers().contains_key("surrogate-key"));
    let doc: Value =
        serde_json::from_slice(&decode(Some("gzip"), &r.bytes().await.unwrap())).unwrap();
    assert_eq!(doc["id"], a_match.id.to_string());
    assert_eq!(doc["slug"], slug.as_str());
    assert!(
        doc["data"]["home_team"]["data"]["name"].is_string(),
        "{doc}"
    );
    assert!(
        doc["data"]["home_team"]["url"]
            .as_str()
            .unwrap()
            .starts_with("/teams/")
    );
}

#[tokio::test]
async fn markdown_cannot_inject_script() {
    let fixture = TestStore::sqlite().await;
    let app = TestApp::spawn_with(
        test_config(&fixture.url),
        fixture.store.clone(),
        Some(fixture),
    )
    .await;
    let token = app.token("desk", Role::Editor).await;
    let body = "Hello <script>alert('x')</script>\n\n<img src=x onerror=alert(1)>\n\n[click](javascript:alert(2))\n\n<a href=\"JAVASCRIPT:alert(3)\">y</a> <iframe src=//evil></iframe>";
    let r = app
        .api(reqwest::Method::POST, "/api/v1/entries/article", &token)
        .json(&json!({"slug": "xss", "data": {"title": "<b>T</b>", "body": body}}))
        .send()
        .await
        .unwrap();
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let p = app
        .api(
            reqwest::Method::POST,
            &format!("/api/v1/entries/article/{id}/publish"),
            &token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(p.status(), 200);
    let (status, _, html) = text(&app, "/news/xss").await;
    assert_eq!(status, 200);
    let lower = html.to_lowercase();
    for bad in ["<script", "onerror", "javascript:", "<iframe", "<b>t</b>"] {
        assert!(!lower.contains(bad), "{bad} reached the page");
    }
    assert!(
        html.contains("&lt;b&gt;T&lt;&#x2f;b&gt;") || html.contains("&lt;b&gt;T&lt;/b&gt;"),
        "the title is escaped"
    );

    // The preview needs a token and is never stored.
    let anonymous = get(&app, &format!("/preview/article/{id}"), &[]).await;
    assert_eq!(anonymous.status(), 401);
    let preview = app
        .api(
            reqwest::Method::GET,
            &format!("/preview/article/{id}"),
            &token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(preview.status(), 200);
    assert_eq!(preview.headers()["cache-control"], "private, no-store");
    assert!(
        !preview
            .text()
            .await
            .unwrap()
            .to_lowercase()
            .contains("<script")
    );
}

/// Every stored page's seq, by path.
async fn page_seqs(app: &TestApp) -> HashMap<String, i64> {
    let paths = app.store.page_paths().await.unwrap();
    let pages = app.store.pages(&paths).await.unwrap();
    pages.into_iter().map(|p| (p.path, p.seq)).collect()
}

async fn publishing_a_match_updates_its_pages_and_nothing_unrelated(store: TestStore) {
    let app = demo(store).await;
    let token = app.token("desk", Role::Editor).await;
    let matches = app.store.published_entries("match").await.unwrap();
    let target = matches
        .iter()
        .find(|m| m.published_data.as_ref().unwrap()["status"] == "live")
        .unwrap()
        .clone();
    let slug = target.published_slug.clone().unwrap();
    let path = format!("/matches/{slug}");
    // Warm the cache so the update must replace a cached page.
    let before_page = text(&app, &path).await.2;
    let before_listing = text(&app, "/matches").await.2;
    let seqs_before = page_seqs(&app).await;

    let base = format!("/api/v1/entries/match/{}", target.id);
    let r = app
        .api(reqwest::Method::PATCH, &base, &token)
        .header("If-Match", "*")
        .json(&json!({"data": {"home_score": 7}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        text(&app, &path).await.2,
        before_page,
        "a draft change is not live"
    );
    let r = app
        .api(reqwest::Method::POST, &format!("{base}/publish"), &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let after_page = text(&app, &path).await.2;
    assert_ne!(after_page, before_page);
    assert!(after_page.contains('7'));
    assert_ne!(text(&app, "/matches").await.2, before_listing);

    let seqs_after = page_seqs(&app).await;
    let changed: Vec<&String> = seqs_after
        .keys()
        .filter(|p| seqs_before.get(*p) != seqs_after.get(*p))
        .collect();
    let data = target.published_data.as_ref().unwrap();
    let mut teams = Vec::new();
    for field in ["home_team", "away_team"] {
        let id: uuid::Uuid = data[field].as_str().unwrap().parse().unwrap();
        let team = app.store.entry(id).await.unwrap().unwrap();
        teams.push(format!("/teams/{}", team.published_slug.unwrap()));
    }
    for must in [
        path.clone(),
        format!("/api/v1/content/match/{slug}"),
        "/matches".to_owned(),
        "/".to_owned(),
    ] {
        assert!(
            changed.contains(&&must),
            "{must} was not re-rendered: {changed:?}"
        );
    }
    for team in &teams {
        assert!(
            changed.contains(&team),
            "{team} lists the match but was not re-rendered"
        );
    }
    // Its competition's page.
    let competition = format!(
        "/competitions/{}",
        keel::content_types::value_token(data["competition"].as_str().unwrap())
    );
    assert!(
        changed.contains(&&competition),
        "{competition} was not re-rendered: {changed:?}"
    );
    // The match's month in the /matches archive.
    let kickoff = data["kickoff"].as_str().unwrap();
    let month = format!("/matches/{}", kickoff[..7].replace('-', "/"));
    for p in &changed {
        let related = p.contains(&slug)
            || *p == "/matches"
            || *p == &month
            || *p == "/"
            || teams
                .iter()
                .any(|t| p.ends_with(t.trim_start_matches("/teams/")))
            || p.starts_with("/news/")
            || p.starts_with("/api/v1/content/article/")
            // The match's new publish time, in its day's sitemap file.
            || *p == "/sitemap.xml"
            || p.starts_with("/sitemaps/")
            || *p == &competition;
        assert!(related, "{p} is unrelated to the match but was re-rendered");
    }
    let other_match = matches.iter().find(|m| m.id != target.id).unwrap();
    let other = format!("/matches/{}", other_match.published_slug.as_ref().unwrap());
    assert!(
        !changed.contains(&&other),
        "another match page was re-rendered"
    );
    let events = app
        .store
        .events_since(app.store.last_seq().await.unwrap() - 1, 10)
        .await
        .unwrap();
    assert_eq!(events[0].kind, "publish");
    assert!(events[0].paths.contains(&path));
    // What the edge is told to purge: the match, and each page written by
    // its own key, nothing broader (no type or competition key).
    let keys = &events[0].keys;
    assert!(keys.contains(&target.id.to_string()), "{keys:?}");
    for p in &events[0].paths {
        assert!(keys.contains(&keel::model::page_key(p)), "{p}: {keys:?}");
    }
    assert!(
        !keys
            .iter()
            .any(|k| k == "match" || k.starts_with("competition:")),
        "{keys:?}"
    );
}

async fn racing_publishes_both_land_on_the_listing(store: TestStore) {
    let app = demo(store).await;
    let token = app.token("desk", Role::Editor).await;
    let teams = app.store.published_entries("team").await.unwrap();
    let mut ids = Vec::new();
    for i in 0..4 {
        let r = app
            .api(reqwest::Method::POST, "/api/v1/entries/match", &token)
            .json(&json!({"slug": format!("race-{i}"), "data": {
                "home_team": teams[0].id, "away_team": teams[1].id,
                "competition": "Race Cup", "kickoff": "2026-12-01T15:00:00Z"
            }}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        ids.push(
            r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let publishes = ids.iter().map(|id| {
        app.api(
            reqwest::Method::POST,
            &format!("/api/v1/entries/match/{id}/publish"),
            &token,
        )
        .send()
    });
    for r in futures_util::future::join_all(publishes).await {
        assert_eq!(r.unwrap().status(), 200);
    }
    let (_, _, listing) = text(&app, "/matches").await;
    for i in 0..4 {
        assert!(
            listing.contains(&format!("/matches/race-{i}")),
            "race-{i} missing from /matches"
        );
    }
    let stored = app.store.page("/matches").await.unwrap().unwrap();
    let stored = String::from_utf8(stored.identity).unwrap();
    for i in 0..4 {
        assert!(
            stored.contains(&format!("/matches/race-{i}")),
            "race-{i} missing from the stored /matches"
        );
    }
}

async fn renaming_a_team_updates_every_page_that_shows_its_name(store: TestStore) {
    let app = demo(store).await;
    let token = app.token("desk", Role::Editor).await;
    let team = app
        .store
        .published_entry_by_slug("team", "harbour-city")
        .await
        .unwrap()
        .unwrap();
    // Pages that show the name: its matches, their opponents' pages, listings.
    let mut shown_on = vec!["/matches".to_owned()];
    for m in app.store.published_entries("match").await.unwrap() {
        let data = m.published_data.as_ref().unwrap();
        let (home, away) = (
            data["home_team"].as_str().unwrap(),
            data["away_team"].as_str().unwrap(),
        );
        let other = if home == team.id.to_string() {
            away
        } else if away == team.id.to_string() {
            home
        } else {
            continue;
        };
        shown_on.push(format!("/matches/{}", m.published_slug.as_ref().unwrap()));
        let opponent = app
            .store
            .entry(other.parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        shown_on.push(format!("/teams/{}", opponent.published_slug.unwrap()));
    }
    for path in &shown_on {
        assert!(
            text(&app, path).await.2.contains("Harbour City FC"),
            "{path}"
        );
    }
    let base = format!("/api/v1/entries/team/{}", team.id);
    let r = app
        .api(reqwest::Method::PATCH, &base, &token)
        .header("If-Match", "*")
        .json(&json!({"data": {"name": "Harbour Albion"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .api(reqwest::Method::POST, &format!("{base}/publish"), &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for path in &shown_on {
        let page = text(&app, path).await.2;
        assert!(
            page.contains("Harbour Albion"),
            "{path} still shows the old name"
        );
    }
}
