//! `keel import` as a site moving to keel runs it: the real binary on an
//! NDJSON file, against both stores. Bad lines are named by number and kept
//! out; good ones are published with their pages; a run killed halfway is
//! run again and finishes without duplicates.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{TestStore, demo_content_types};
use crate::on_both_backends;

on_both_backends!(
    fixture:
    bad_lines_are_named_and_skipped_and_the_rest_is_published,
    stop_keeps_the_lines_before_the_bad_one,
    an_interrupted_import_resumes_without_duplicates,
    a_month_past_a_page_continues_on_numbered_pages,
);

const ROVERS: &str = "0190f000-0000-7000-8000-000000000001";
const UNITED: &str = "0190f000-0000-7000-8000-000000000002";
const MISSING: &str = "0190f000-0000-7000-8000-0000000000ff";

fn import_command(url: &str, file: &Path, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_keel"));
    command
        .arg("import")
        .arg(file)
        .args(extra)
        .env("KEEL_DATABASE_URL", url)
        .env("KEEL_CONTENT_TYPES", demo_content_types())
        .env("KEEL_LOG", "warn");
    command
}

async fn import(url: &str, file: &Path, extra: &[&str]) -> Output {
    let mut command = import_command(url, file, extra);
    tokio::task::spawn_blocking(move || command.output().expect("run keel import"))
        .await
        .unwrap()
}

fn write_lines(dir: &Path, lines: &[String]) -> std::path::PathBuf {
    let path = dir.join("entries.ndjson");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn line(value: Value) -> String {
    value.to_string()
}

fn article(i: usize) -> String {
    let body = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(36);
    line(json!({
        "type": "article", "slug": format!("story-{i}"), "status": "published",
        "published_at": format!("2025-03-{:02}T12:00:00Z", 1 + i % 28),
        "data": {"title": format!("Story {i}"), "body": body, "tags": ["archive"]},
    }))
}

/// Two teams, a match between them, the bad lines of every kind, articles.
fn mixed_lines() -> Vec<String> {
    let mut lines = vec![
        line(json!({"type": "team", "slug": "rovers", "id": ROVERS,
                    "data": {"name": "Rovers"}, "published_at": "2024-03-01T10:00:00Z"})),
        line(json!({"type": "team", "slug": "united", "id": UNITED,
                    "data": {"name": "United"}, "status": "published"})),
        line(
            json!({"type": "match", "slug": "rovers-united", "status": "published",
                    "published_at": "2024-03-05T17:00:00Z",
                    "data": {"home_team": ROVERS, "away_team": UNITED, "competition": "Cup",
                             "kickoff": "2024-03-05T15:00:00Z", "status": "finished",
                             "home_score": 2, "away_score": 1}}),
        ),
        // 4: malformed JSON
        r#"{"type": "team", "slug": broken"#.to_owned(),
        // 5: unknown type
        line(json!({"type": "player", "slug": "x", "data": {}})),
        // 6: invalid field
        line(json!({"type": "team", "slug": "city", "data": {"name": 5}})),
        // 7: duplicate slug (line 1)
        line(json!({"type": "team", "slug": "rovers", "data": {"name": "Other Rovers"}})),
        // 8: a reference to a missing entry
        line(json!({"type": "article", "slug": "orphan",
                    "data": {"title": "T", "body": "b", "match": MISSING}})),
    ];
    lines.extend((0..5).map(article));
    lines
}

async fn bad_lines_are_named_and_skipped_and_the_rest_is_published(fixture: TestStore) {
    let dir = tempfile::tempdir().unwrap();
    let file = write_lines(dir.path(), &mixed_lines());
    let out = import(&fixture.raw_url, &file, &[]).await;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(!out.status.success(), "rejected lines must fail the run");
    for expected in [
        "line 4: not a valid entry line",
        "line 5: unknown type \"player\"",
        "line 6: /data/name:",
        "line 7: duplicate slug: line 1 already has team \"rovers\"",
        &format!("line 8: /data/match: no match entry with id {MISSING}"),
    ] {
        assert!(
            stderr.contains(expected),
            "{expected:?} missing from:\n{stderr}"
        );
    }
    assert!(
        stdout.contains("13 line(s): 8 imported, 0 already present, 5 rejected"),
        "{stdout}"
    );

    let store = &fixture.store;
    for (ty, count) in [("team", 2), ("match", 1), ("article", 5)] {
        assert_eq!(
            store.published_entries(ty).await.unwrap().len(),
            count,
            "{ty}"
        );
    }
    assert!(
        store.entry_by_slug("team", "city").await.unwrap().is_none(),
        "nothing of a rejected line is written"
    );
    let team = store
        .published_entry_by_slug("team", "rovers")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(team.id.to_string(), ROVERS);
    // Own pages, and the pages the entries share, were rendered.
    let page = |path: &'static str| async move {
        let page = store.page(path).await.unwrap();
        let page = page.unwrap_or_else(|| panic!("no page {path}"));
        String::from_utf8(page.identity).unwrap()
    };
    assert!(
        page("/teams/rovers")
            .await
            .contains("/matches/rovers-united")
    );
    assert!(
        page("/matches/2024/03")
            .await
            .contains("/matches/rovers-united")
    );
    assert!(page("/news/story-1").await.contains("Story 1"));
    assert!(page("/news").await.contains("/news/story-4"));
    assert!(page("/news/2025/03/02").await.contains("/news/story-1"));
    // The sitemap file of the day story-1 was published lists it, and the
    // index lists that file.
    assert!(
        page("/sitemaps/2025-03-02.xml")
            .await
            .contains("<loc>http://127.0.0.1:8080/news/story-1</loc>")
    );
    assert!(
        page("/sitemap.xml")
            .await
            .contains("<loc>http://127.0.0.1:8080/sitemaps/2025-03-02.xml</loc>")
    );
    assert!(
        store
            .page("/api/v1/content/article/story-3")
            .await
            .unwrap()
            .is_some()
    );
}

async fn stop_keeps_the_lines_before_the_bad_one(fixture: TestStore) {
    let dir = tempfile::tempdir().unwrap();
    let file = write_lines(dir.path(), &mixed_lines());
    let out = import(&fixture.raw_url, &file, &["--on-error", "stop"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("line 4: not a valid entry line"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("line 5"),
        "the run went past the bad line: {stderr}"
    );
    let store = &fixture.store;
    assert_eq!(store.published_entries("team").await.unwrap().len(), 2);
    assert_eq!(store.published_entries("match").await.unwrap().len(), 1);
    assert!(store.published_entries("article").await.unwrap().is_empty());
    assert!(
        store
            .page("/matches/rovers-united")
            .await
            .unwrap()
            .is_some()
    );
}

async fn an_interrupted_import_resumes_without_duplicates(fixture: TestStore) {
    let dir = tempfile::tempdir().unwrap();
    let total = 400;
    let file = write_lines(dir.path(), &(0..total).map(article).collect::<Vec<_>>());
    // Killed once its first batches are in.
    let mut child = import_command(&fixture.raw_url, &file, &["--batch", "20"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = fixture
            .store
            .published_entries("article")
            .await
            .unwrap()
            .len();
        if n >= 40 {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "import ended early");
        assert!(Instant::now() < deadline, "no batch committed in 60 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = fixture
        .store
        .published_entries("article")
        .await
        .unwrap()
        .len();
    assert!(before < total, "the import finished before it was killed");
    assert_eq!(before % 20, 0, "a batch was half written: {before}");

    let out = import(&fixture.raw_url, &file, &["--batch", "20"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "{total} line(s): {} imported, {before} already present, 0 rejected",
            total - before
        )),
        "{stdout}"
    );
    let articles = fixture.store.published_entries("article").await.unwrap();
    assert_eq!(articles.len(), total);
    let mut slugs: Vec<&str> = articles.iter().map(|a| a.slug.as_str()).collect();
    slugs.sort_unstable();
    slugs.dedup();
    assert_eq!(slugs.len(), total, "duplicate slugs");
    // The shared pages show entries from both runs.
    let news = fixture.store.page("/news").await.unwrap().unwrap();
    let news = String::from_utf8(news.identity).unwrap();
    assert!(news.contains("/news/story-"), "{news}");
}

async fn a_month_past_a_page_continues_on_numbered_pages(fixture: TestStore) {
    let mut lines = vec![
        line(json!({"type": "team", "slug": "rovers", "id": ROVERS,
                    "status": "published", "data": {"name": "Rovers"}})),
        line(json!({"type": "team", "slug": "united", "id": UNITED,
                    "status": "published", "data": {"name": "United"}})),
    ];
    for i in 0..1003 {
        lines.push(line(json!({
            "type": "match", "slug": format!("m-{i}"), "status": "published",
            "data": {"home_team": ROVERS, "away_team": UNITED, "competition": "League",
                     "kickoff": format!("2024-05-{:02}T{:02}:{:02}:00Z", 1 + i / 40, (i / 60) % 24, i % 60),
                     "status": "finished"}
        })));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = write_lines(dir.path(), &lines);
    let out = import(&fixture.raw_url, &file, &["--batch", "500"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = &fixture.store;
    let page = |path: &'static str| async move {
        let page = store.page(path).await.unwrap();
        String::from_utf8(page.unwrap_or_else(|| panic!("no page {path}")).identity).unwrap()
    };
    let first = page("/matches/2024/05").await;
    let second = page("/matches/2024/05/page/2").await;
    let count = |html: &str| html.matches("href=\"/matches/m-").count();
    assert_eq!(count(&first), 1000, "the first page holds a page's worth");
    assert_eq!(count(&second), 3, "the rest continue on page 2");
    // Kick-off order runs across the pages: the last three are on page 2.
    for i in 1000..1003 {
        assert!(
            second.contains(&format!("/matches/m-{i}\"")),
            "m-{i} on page 2"
        );
    }
    assert!(
        first.contains("<link rel=\"next\" href=\"/matches/2024/05/page/2\">"),
        "{first}"
    );
    assert!(
        second.contains("<link rel=\"prev\" href=\"/matches/2024/05\">"),
        "{second}"
    );
    assert!(
        store
            .page("/matches/2024/05/page/3")
            .await
            .unwrap()
            .is_none()
    );
}
