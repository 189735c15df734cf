//! Publishes arriving together on one node commit as one group: one write,
//! one event, each change version-checked and recorded under its own
//! author; a change that fails its check fails alone.
//!
//! These tests run on a single-threaded runtime on purpose: every publish
//! below is queued before the committing task first runs, so the group is
//! known, not left to thread timing.

use std::sync::Arc;

use futures_util::future::join_all;
use keel::editor::{Editor, IfMatch};
use keel::error::AppError;
use keel::metrics::Metrics;
use keel::model::{Entry, EntryStatus};
use keel::publish::Change;
use keel::store::{EntryOp, Store};
use serde_json::json;

use crate::helpers::{TestStore, demo_content_types};

#[tokio::test]
async fn a_group_commits_in_one_write_on_sqlite() {
    a_group_commits_in_one_write(TestStore::sqlite().await).await;
}

#[tokio::test]
async fn a_group_commits_in_one_write_on_postgres() {
    if let Some(store) = TestStore::postgres().await {
        a_group_commits_in_one_write(store).await;
    }
}

#[tokio::test]
async fn a_stale_change_fails_alone_on_sqlite() {
    a_stale_change_fails_alone(TestStore::sqlite().await).await;
}

#[tokio::test]
async fn a_stale_change_fails_alone_on_postgres() {
    if let Some(store) = TestStore::postgres().await {
        a_stale_change_fails_alone(store).await;
    }
}

fn editor(store: Arc<dyn Store>) -> Editor {
    let types = keel::content_types::ContentTypes::load(&demo_content_types()).unwrap();
    keel::startup::assemble_editor(
        store,
        Arc::new(types),
        Arc::new(Metrics::new()),
        &url::Url::parse(keel::render::DEFAULT_BASE_URL).expect("base URL"),
        None,
    )
}

/// Two published teams and `n` draft matches between them.
async fn drafts(editor: &Editor, n: usize) -> Vec<Entry> {
    let mut teams = Vec::new();
    for slug in ["rovers", "united"] {
        let team = editor
            .create("team", slug, json!({"name": slug}), "desk")
            .await
            .unwrap();
        let any = IfMatch::Any;
        editor
            .publish("team", team.id, None, &any, "desk")
            .await
            .unwrap();
        teams.push(team.id);
    }
    let mut matches = Vec::new();
    for i in 0..n {
        let data = json!({
            "home_team": teams[0], "away_team": teams[1], "competition": "Cup",
            "kickoff": "2026-12-05T15:00:00Z", "status": "live", "home_score": i,
        });
        matches.push(
            editor
                .create("match", &format!("m{i}"), data, "desk")
                .await
                .unwrap(),
        );
    }
    matches
}

/// What publishing `entry` at `expected` would do, as the editor builds it.
fn publish(entry: &Entry, expected: i64, author: &str) -> Change {
    let after = Entry {
        status: EntryStatus::Published,
        version: entry.version + 1,
        published_slug: Some(entry.slug.clone()),
        published_data: Some(entry.data.clone()),
        published_at: Some(chrono::Utc::now()),
        ..entry.clone()
    };
    Change {
        op: EntryOp::Publish {
            id: entry.id,
            expected_version: Some(expected),
        },
        kind: "publish",
        author: author.to_owned(),
        before: Some(entry.clone()),
        after: Some(after),
    }
}

async fn stored_page(store: &Arc<dyn Store>, path: &str) -> String {
    let page = store.page(path).await.unwrap().unwrap();
    String::from_utf8(page.identity).unwrap()
}

async fn a_group_commits_in_one_write(fixture: TestStore) {
    let store = fixture.store.clone();
    let editor = editor(store.clone());
    let matches = drafts(&editor, 6).await;
    let seq = store.last_seq().await.unwrap();
    let publisher = editor.publisher();
    let changes = matches
        .iter()
        .enumerate()
        .map(|(i, m)| publisher.commit(publish(m, m.version, &format!("editor-{i}"))));
    let outcomes = join_all(changes).await;
    for (m, outcome) in matches.iter().zip(outcomes) {
        let entry = outcome.unwrap().entry.unwrap();
        assert_eq!((entry.id, entry.status), (m.id, EntryStatus::Published));
    }
    let events = store.events_since(seq, 10).await.unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    for m in &matches {
        assert!(events[0].keys.contains(&m.id.to_string()), "{events:?}");
    }
    // A team page lists the matches; its JSON document does not, so it is
    // left as it was.
    let paths = &events[0].paths;
    assert!(paths.contains(&"/teams/rovers".to_owned()), "{paths:?}");
    assert!(
        !paths.contains(&"/api/v1/content/team/rovers".to_owned()),
        "{paths:?}"
    );
    // The shared pages were rendered once, with every change on them.
    let home = stored_page(&store, "/").await;
    let team = stored_page(&store, "/teams/rovers").await;
    for m in &matches {
        let path = format!("/matches/{}", m.slug);
        assert!(home.contains(&path), "{path} missing from /");
        assert!(team.contains(&path), "{path} missing from /teams/rovers");
        assert!(store.page(&path).await.unwrap().is_some(), "{path}");
    }
    for (i, m) in matches.iter().enumerate() {
        let revisions = store.revisions(m.id).await.unwrap();
        assert_eq!(revisions.last().unwrap().author, format!("editor-{i}"));
    }
}

async fn a_stale_change_fails_alone(fixture: TestStore) {
    let store = fixture.store.clone();
    let editor = editor(store.clone());
    let matches = drafts(&editor, 4).await;
    let publisher = editor.publisher();
    let stale = matches[2].id;
    let changes = matches.iter().map(|m| {
        let expected = if m.id == stale {
            m.version - 1
        } else {
            m.version
        };
        publisher.commit(publish(m, expected, "desk"))
    });
    let outcomes = join_all(changes).await;
    for (m, outcome) in matches.iter().zip(outcomes) {
        if m.id == stale {
            assert!(
                matches!(outcome, Err(AppError::VersionMismatch { .. })),
                "{outcome:?}"
            );
            assert_eq!(
                store.entry(m.id).await.unwrap().unwrap().status,
                EntryStatus::Draft
            );
        } else {
            assert_eq!(
                outcome.unwrap().entry.unwrap().status,
                EntryStatus::Published
            );
        }
    }
    let home = stored_page(&store, "/").await;
    for m in &matches {
        let path = format!("/matches/{}", m.slug);
        assert_eq!(home.contains(&path), m.id != stale, "{path} on /");
    }
}
