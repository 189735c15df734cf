//! A publish reads what it touches, not the site: the rows a live score
//! update and a new article read (counted by the store's instrumentation,
//! `keel_db_rows_read_total`) are the same on the demo site and on the
//! demo site plus 20,000 published articles, on both backends. The
//! articles are written straight into the database, as an older keel
//! would have left them, so the server also rebuilds its list rows at
//! start. A pre-warm round reads as little with 2,000 finished matches
//! more.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{TestApp, TestStore, test_config};
use crate::on_both_backends;

const ARCHIVE: i64 = 20_000;

on_both_backends!(fixture: a_publish_reads_as_many_rows_at_20000_entries_as_on_the_demo_site);

async fn a_publish_reads_as_many_rows_at_20000_entries_as_on_the_demo_site(t: TestStore) {
    let small = measure(&t).await;
    bulk_articles(&t, ARCHIVE).await;
    let large = measure(&t).await;
    // The first run's new article is there too.
    assert_eq!(large.entries, small.entries + 1 + ARCHIVE + ARCHIVE / 10);
    // The lists of latest articles fill up (the demo site has fewer
    // articles than they show: 10 on the home page, 50 on /news); nothing
    // else may grow.
    eprintln!(
        "rows read: score {} -> {}, new article {} -> {}",
        small.score, large.score, small.article, large.article
    );
    let slack = 60.0;
    // A pre-warm round reads the matches whose windows can be open today,
    // not the 2,000 finished ones.
    eprintln!(
        "rows read by a pre-warm round: {} -> {}",
        small.prewarm, large.prewarm
    );
    assert!(
        large.prewarm <= small.prewarm + 10.0,
        "pre-warm: {} rows on the demo site, {} with the archive",
        small.prewarm,
        large.prewarm
    );
    for (what, s, l) in [
        ("live score update", small.score, large.score),
        ("new article", small.article, large.article),
    ] {
        assert!(
            l <= s + slack,
            "{what}: {s} rows read on the demo site, {l} at {ARCHIVE} more entries"
        );
        assert!(l < 200.0, "{what}: {l} rows read");
    }
    // Every archived article reached the list rows in the rebuild.
    let latest = t.store.listed("home/latest", "", 100_000).await.unwrap();
    assert!(latest.len() as i64 > ARCHIVE, "{} listed", latest.len());
}

struct Reads {
    entries: i64,
    score: f64,
    article: f64,
    prewarm: f64,
}

/// Starts the server on the fixture's database (seeding the demo site if
/// it is empty), then counts the rows read by one live score update and by
/// one new article.
async fn measure(t: &TestStore) -> Reads {
    let config = keel::config::ServeConfig {
        demo: true,
        ..test_config(&t.url)
    };
    let app = TestApp::spawn_with(config, t.store.clone(), None).await;
    let token = app.token(&uuid(), keel::store::Role::Editor).await;
    let entries = t.store.count_entries().await.unwrap();
    let live = live_match(&app).await;

    let before = rows_read(&app.metrics().await);
    let r = app
        .api(
            Method::PATCH,
            &format!("/api/v1/entries/match/{}", live.0),
            &token,
        )
        .header("If-Match", format!("\"{}\"", live.1))
        .json(&json!({"data": {"home_score": live.2 + 1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = app
        .api(
            Method::POST,
            &format!("/api/v1/entries/match/{}/publish", live.0),
            &token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let score = rows_read(&app.metrics().await) - before;

    let before = rows_read(&app.metrics().await);
    let slug = format!("story-{}", uuid());
    app.publish_new(
        &token,
        "article",
        &slug,
        json!({"title": "News", "body": "Text"}),
    )
    .await;
    let article = rows_read(&app.metrics().await) - before;
    assert_eq!(app.get(&format!("/news/{slug}")).await.status(), 200);

    let admin = app.token(&uuid(), keel::store::Role::Admin).await;
    let before = rows_read(&app.metrics().await);
    let r = app
        .api(Method::POST, "/api/v1/prewarm", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let prewarm = rows_read(&app.metrics().await) - before;
    drop(app);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    Reads {
        entries,
        score,
        article,
        prewarm,
    }
}

/// (id, version, home score) of a live demo match.
async fn live_match(app: &TestApp) -> (String, i64, i64) {
    let matches = app.store.published_entries("match").await.unwrap();
    let live = matches
        .iter()
        .find(|m| m.data["status"] == "live")
        .expect("a live demo match");
    (
        live.id.to_string(),
        live.version,
        live.data["home_score"].as_i64().unwrap(),
    )
}

fn rows_read(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("keel_db_rows_read_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn uuid() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// Writes `n` published articles in one statement, and forgets the list
/// rows' signature, as a database from before the list rows would be.
async fn bulk_articles(t: &TestStore, n: i64) {
    match &t.url {
        keel::config::DatabaseUrl::Sqlite(path) => {
            let conn = rusqlite::Connection::open(path).unwrap();
            conn.busy_timeout(std::time::Duration::from_secs(10))
                .unwrap();
            conn.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) \
                 INSERT INTO entries (id, type, slug, status, version, data, published_slug, \
                 published_data, created_at, updated_at, published_at) \
                 SELECT printf('00000000-0000-7000-8000-%012x', i), 'article', 'bulk-' || i, \
                 'published', 1, d, 'bulk-' || i, d, ts, ts, ts FROM (SELECT i, \
                 json_object('title', 'Story ' || i, 'body', 'Body of story ' || i) AS d, \
                 strftime('%Y-%m-%dT%H:%M:%f', '2020-01-01', '+' || i || ' hours') || '000Z' AS ts \
                 FROM n)",
                [n],
            )
            .unwrap();
            // A tenth as many finished matches between two demo teams.
            conn.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) \
                 INSERT INTO entries (id, type, slug, status, version, data, published_slug, \
                 published_data, created_at, updated_at, published_at) \
                 SELECT printf('00000000-0000-7000-9000-%012x', i), 'match', 'old-' || i, \
                 'published', 1, d, 'old-' || i, d, ts, ts, ts FROM (SELECT i, ts, \
                 json_object('home_team', (SELECT id FROM entries WHERE type = 'team' ORDER BY id LIMIT 1), \
                   'away_team', (SELECT id FROM entries WHERE type = 'team' ORDER BY id LIMIT 1 OFFSET 1), \
                   'competition', 'Archive Cup', 'kickoff', ts, 'status', 'finished', \
                   'home_score', 1, 'away_score', 0) AS d \
                 FROM (SELECT i, strftime('%Y-%m-%dT%H:%M:%f', '2020-01-01', '+' || (i * 7) || ' hours') \
                   || '000Z' AS ts FROM n))",
                [n / 10],
            )
            .unwrap();
            conn.execute("DELETE FROM list_index", []).unwrap();
        }
        keel::config::DatabaseUrl::Postgres(_) => {
            let (client, conn) = tokio_postgres::connect(&t.raw_url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            client
                .execute(
                    "INSERT INTO entries (id, type, slug, status, version, data, published_slug, \
                     published_data, created_at, updated_at, published_at) \
                     SELECT ('00000000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, \
                     'article', 'bulk-' || i, 'published', 1, d, 'bulk-' || i, d, ts, ts, ts \
                     FROM (SELECT i, jsonb_build_object('title', 'Story ' || i, 'body', \
                     'Body of story ' || i) AS d, timestamptz '2020-01-01 00:00:00Z' \
                     + i * interval '1 hour' AS ts FROM generate_series(1, $1::bigint) AS i) s",
                    &[&n],
                )
                .await
                .unwrap();
            client
                .execute(
                    "INSERT INTO entries (id, type, slug, status, version, data, published_slug, \
                     published_data, created_at, updated_at, published_at) \
                     SELECT ('00000000-0000-7000-9000-' || lpad(to_hex(i), 12, '0'))::uuid, \
                     'match', 'old-' || i, 'published', 1, d, 'old-' || i, d, ts, ts, ts \
                     FROM (SELECT i, jsonb_build_object( \
                       'home_team', (SELECT id FROM entries WHERE type = 'team' ORDER BY id LIMIT 1), \
                       'away_team', (SELECT id FROM entries WHERE type = 'team' ORDER BY id LIMIT 1 OFFSET 1), \
                       'competition', 'Archive Cup', \
                       'kickoff', to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
                       'status', 'finished', 'home_score', 1, 'away_score', 0) AS d, ts \
                     FROM (SELECT i, timestamptz '2020-01-01 00:00:00Z' + i * interval '7 hours' AS ts \
                           FROM generate_series(1, $1::bigint) AS i) g) s",
                    &[&(n / 10)],
                )
                .await
                .unwrap();
            client.execute("DELETE FROM list_index", &[]).await.unwrap();
        }
    }
}
