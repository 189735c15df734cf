//! `/robots.txt`, `/sitemap.xml` and the day files, on both backends
//! through the real server: every published entry's page is listed under
//! the configured base URL with its last publish time, publishes move an
//! entry between day files and the index follows within moments, an
//! emptied day's file goes, and a new base URL re-renders them all at the
//! next start.

use chrono::SubsecRound;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{TestApp, TestStore, test_config};
use crate::on_both_backends;

on_both_backends!(
    fixture:
    the_sitemap_follows_publishes_and_unpublishes,
    a_new_base_url_rerenders_the_sitemaps_at_start,
);

const BASE: &str = "https://news.example";

async fn spawn(t: &TestStore, base: &str) -> TestApp {
    let config = keel::config::ServeConfig {
        base_url: url::Url::parse(base).unwrap(),
        ..test_config(&t.url)
    };
    TestApp::spawn_with(config, t.store.clone(), None).await
}

async fn text(app: &TestApp, path: &str) -> (u16, String, String) {
    let r = app.get(path).await;
    let status = r.status().as_u16();
    let ty = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ty, r.text().await.unwrap())
}

/// The body at `path` once `done` accepts it (within 10 s).
async fn eventually(app: &TestApp, path: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, _, body) = text(app, path).await;
        if done(&body) {
            return body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{path} never became:\n{body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The `<loc>`s of a sitemap or index, with their `<lastmod>`.
fn locs(xml: &str) -> Vec<(String, String)> {
    xml.split("<loc>")
        .skip(1)
        .map(|rest| {
            let (loc, rest) = rest.split_once("</loc>").unwrap();
            let lastmod = rest
                .split_once("<lastmod>")
                .and_then(|(_, r)| r.split_once("</lastmod>"))
                .map(|(t, _)| t.to_owned())
                .expect("every loc has a lastmod");
            (loc.to_owned(), lastmod)
        })
        .collect()
}

async fn the_sitemap_follows_publishes_and_unpublishes(t: TestStore) {
    let app = spawn(&t, BASE).await;
    let (status, ty, robots) = text(&app, "/robots.txt").await;
    assert_eq!((status, ty.as_str()), (200, "text/plain; charset=utf-8"));
    assert!(
        robots.contains(&format!("\nSitemap: {BASE}/sitemap.xml\n")),
        "{robots}"
    );
    assert!(robots.contains("Disallow: /api/"), "{robots}");
    let (status, ty, index) = text(&app, "/sitemap.xml").await;
    assert_eq!(
        (status, ty.as_str()),
        (200, "application/xml; charset=utf-8")
    );
    assert!(index.contains("<sitemapindex"), "{index}");
    assert!(locs(&index).is_empty(), "no entry, no file: {index}");

    let token = app.token("editor", keel::store::Role::Editor).await;
    let home = app
        .publish_new(&token, "team", "home", json!({"name": "Home"}))
        .await;
    let away = app
        .publish_new(&token, "team", "away", json!({"name": "Away"}))
        .await;
    let entry = app
        .store
        .entry(home.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let at = entry.published_at.unwrap();
    let day = at.format("%Y-%m-%d").to_string();
    let file = format!("/sitemaps/{day}.xml");

    // The node's indexer rewrites the index a moment after the publishes.
    let index = eventually(&app, "/sitemap.xml", |xml| locs(xml).len() == 1).await;
    let files = locs(&index);
    assert_eq!(files[0].0, format!("{BASE}{file}"));
    let (status, ty, xml) = text(&app, &file).await;
    assert_eq!(
        (status, ty.as_str()),
        (200, "application/xml; charset=utf-8")
    );
    let urls = locs(&xml);
    let home_url = format!("{BASE}/teams/home");
    let listed = urls
        .iter()
        .find(|(loc, _)| *loc == home_url)
        .expect("home listed");
    assert_eq!(
        listed.1,
        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    assert!(
        urls.iter()
            .any(|(loc, _)| *loc == format!("{BASE}/teams/away"))
    );
    // The index's time for the file is when the file last changed.
    let file_time: chrono::DateTime<chrono::Utc> = files[0].1.parse().unwrap();
    assert!(file_time >= at.trunc_subsecs(0), "{index}");

    // Unpublishing one leaves the other listed; unpublishing both empties
    // the day: its file goes and the index no longer lists it.
    for (id, left) in [(&home, 1), (&away, 0)] {
        let r = app
            .api(
                Method::POST,
                &format!("/api/v1/entries/team/{id}/unpublish"),
                &token,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        let (status, _, xml) = text(&app, &file).await;
        if left == 0 {
            assert_eq!(status, 404, "an empty day has no file: {xml}");
        } else {
            assert_eq!(locs(&xml).len(), left, "{xml}");
            assert!(!xml.contains(&home_url), "{xml}");
        }
    }
    eventually(&app, "/sitemap.xml", |xml| locs(xml).is_empty()).await;
}

async fn a_new_base_url_rerenders_the_sitemaps_at_start(t: TestStore) {
    let first = spawn(&t, "http://old.example").await;
    let token = first.token("editor", keel::store::Role::Editor).await;
    first
        .publish_new(&token, "team", "home", json!({"name": "Home"}))
        .await;
    eventually(&first, "/sitemap.xml", |xml| {
        xml.contains("http://old.example/sitemaps/")
    })
    .await;
    drop(first);

    let second = spawn(&t, BASE).await;
    let (_, _, index) = text(&second, "/sitemap.xml").await;
    let files = locs(&index);
    assert_eq!(files.len(), 1, "{index}");
    assert!(
        files[0].0.starts_with(&format!("{BASE}/sitemaps/")),
        "{index}"
    );
    let path = files[0].0.strip_prefix(BASE).unwrap();
    let (_, _, xml) = text(&second, path).await;
    assert!(
        xml.contains(&format!("<loc>{BASE}/teams/home</loc>")),
        "{xml}"
    );
    assert!(!xml.contains("old.example"), "{xml}");
    let (_, _, robots) = text(&second, "/robots.txt").await;
    assert!(
        robots.contains(&format!("Sitemap: {BASE}/sitemap.xml")),
        "{robots}"
    );
}
