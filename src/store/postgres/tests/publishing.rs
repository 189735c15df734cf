//! Publishing, scheduling, unpublishing and deleting entries.

use chrono::{Duration, Utc};
use serde_json::json;

use super::harness::{self, created, event, page};
use crate::model::{EntryStatus, PageWrite};
use crate::store::{EntryOp, Store, StoreError, Write};

#[tokio::test]
async fn publish_snapshots_the_working_copy_for_readers() {
    let Some(store) = harness::store().await else {
        return;
    };
    let id = created(&store, "match", "live").await;
    let publish = Write::new(
        EntryOp::Publish {
            id,
            expected_version: Some(1),
        },
        "ed",
    );
    let entry = store
        .write(publish)
        .await
        .expect("publish")
        .entry
        .expect("entry");
    assert_eq!((entry.status, entry.version), (EntryStatus::Published, 2));
    assert_eq!(entry.published_slug.as_deref(), Some("live"));
    assert_eq!(entry.published_data, Some(entry.data.clone()));
    assert!(entry.published_at.is_some());
    let r = store
        .revision(id, 2)
        .await
        .expect("read")
        .expect("revision");
    assert_eq!((r.action.as_str(), r.slug.as_str()), ("publish", "live"));

    // Editing the working copy leaves the live snapshot alone.
    let edit = EntryOp::Update {
        id,
        expected_version: Some(2),
        slug: "renamed".into(),
        data: json!(2),
    };
    store.write(Write::new(edit, "ed")).await.expect("update");
    let live = store
        .published_entry_by_slug("match", "live")
        .await
        .expect("read");
    let live = live.expect("still published under the old slug");
    assert_eq!(
        (live.slug.as_str(), live.status),
        ("renamed", EntryStatus::Published)
    );
    assert_eq!(
        store
            .published_entry_by_slug("match", "renamed")
            .await
            .expect("read"),
        None
    );
    created(&store, "match", "draft-only").await;
    let published = store.published_entries("match").await.expect("list");
    assert_eq!(published.iter().map(|e| e.id).collect::<Vec<_>>(), vec![id]);
}

#[tokio::test]
async fn a_taken_published_slug_rolls_back_the_whole_write() {
    let Some(store) = harness::store().await else {
        return;
    };
    let a = created(&store, "match", "x").await;
    store
        .write(Write::new(
            EntryOp::Publish {
                id: a,
                expected_version: None,
            },
            "t",
        ))
        .await
        .expect("publish a");
    let rename = EntryOp::Update {
        id: a,
        expected_version: None,
        slug: "y".into(),
        data: json!({}),
    };
    store
        .write(Write::new(rename, "t"))
        .await
        .expect("rename a");
    let b = created(&store, "match", "x").await;
    let publish_b = Write::new(
        EntryOp::Publish {
            id: b,
            expected_version: Some(1),
        },
        "t",
    )
    .with_event(event("published", &["/matches/x"]))
    .with_pages(
        vec![PageWrite::Upsert(page("/matches/x", Some(b)))],
        Some(0),
    );
    match store.write(publish_b).await {
        Err(StoreError::Duplicate(what)) => {
            assert_eq!(what, r#"published slug "x" in type "match""#)
        }
        other => panic!("expected a duplicate, got {other:?}"),
    }
    let b_now = store.entry(b).await.expect("read").expect("b");
    assert_eq!((b_now.version, b_now.status), (1, EntryStatus::Draft));
    assert_eq!(store.revisions(b).await.expect("revisions").len(), 1);
    assert_eq!(store.last_seq().await.expect("seq"), 0);
    assert!(store.events_since(0, 10).await.expect("events").is_empty());
    assert_eq!(store.page("/matches/x").await.expect("page"), None);
}

#[tokio::test]
async fn schedule_keeps_the_live_snapshot_until_due() {
    let Some(store) = harness::store().await else {
        return;
    };
    let id = created(&store, "match", "s").await;
    store
        .write(Write::new(
            EntryOp::Publish {
                id,
                expected_version: None,
            },
            "t",
        ))
        .await
        .expect("publish");
    let later = created(&store, "match", "later").await;
    let now = Utc::now();
    let (soon, after) = (now + Duration::minutes(5), now + Duration::minutes(10));
    let schedule = |id, at| {
        Write::new(
            EntryOp::Schedule {
                id,
                expected_version: None,
                at,
            },
            "t",
        )
    };
    let entry = store
        .write(schedule(id, soon))
        .await
        .expect("schedule")
        .entry
        .expect("entry");
    assert_eq!((entry.status, entry.version), (EntryStatus::Scheduled, 3));
    assert_eq!(entry.published_slug.as_deref(), Some("s"));
    assert_eq!(
        store
            .revision(id, 3)
            .await
            .expect("read")
            .expect("rev")
            .action,
        "schedule"
    );
    store
        .write(schedule(later, after))
        .await
        .expect("schedule later");

    assert!(store.due_scheduled(now, 10).await.expect("due").is_empty());
    let due: Vec<_> = store
        .due_scheduled(after, 10)
        .await
        .expect("due")
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(due, vec![id, later], "ordered by publish_at");
    assert_eq!(store.due_scheduled(after, 1).await.expect("due").len(), 1);
    // Scheduled with an older snapshot still live: readers keep seeing it.
    let published = store.published_entries("match").await.expect("list");
    assert_eq!(published.iter().map(|e| e.id).collect::<Vec<_>>(), vec![id]);
}

#[tokio::test]
async fn unpublish_withdraws_the_snapshot_and_refuses_drafts() {
    let Some(store) = harness::store().await else {
        return;
    };
    let id = created(&store, "match", "u").await;
    let unpublish = |v| {
        Write::new(
            EntryOp::Unpublish {
                id,
                expected_version: v,
            },
            "t",
        )
    };
    match store.write(unpublish(Some(1))).await {
        Err(StoreError::InvalidState(why)) => assert_eq!(why, "entry is not published"),
        other => panic!("expected invalid state, got {other:?}"),
    }
    store
        .write(Write::new(
            EntryOp::Publish {
                id,
                expected_version: None,
            },
            "t",
        ))
        .await
        .expect("publish");
    let entry = store
        .write(unpublish(Some(2)))
        .await
        .expect("unpublish")
        .entry
        .expect("entry");
    assert_eq!((entry.status, entry.version), (EntryStatus::Draft, 3));
    assert_eq!((entry.published_slug, entry.published_data), (None, None));
    assert_eq!((entry.published_at, entry.publish_at), (None, None));
    assert_eq!(
        store
            .revision(id, 3)
            .await
            .expect("read")
            .expect("rev")
            .action,
        "unpublish"
    );
    assert_eq!(
        store
            .published_entry_by_slug("match", "u")
            .await
            .expect("read"),
        None
    );
    // A scheduled entry can be withdrawn too.
    let at = Utc::now() + Duration::hours(1);
    store
        .write(Write::new(
            EntryOp::Schedule {
                id,
                expected_version: None,
                at,
            },
            "t",
        ))
        .await
        .expect("schedule");
    let entry = store
        .write(unpublish(None))
        .await
        .expect("unpublish")
        .entry
        .expect("entry");
    assert_eq!((entry.status, entry.publish_at), (EntryStatus::Draft, None));
}

#[tokio::test]
async fn delete_removes_the_entry_keeps_its_history_and_frees_the_slug() {
    let Some(store) = harness::store().await else {
        return;
    };
    let id = created(&store, "match", "gone").await;
    let delete = Write::new(
        EntryOp::Delete {
            id,
            expected_version: Some(1),
        },
        "ed",
    )
    .with_event(event("deleted", &["/matches/gone"]));
    let outcome = store.write(delete).await.expect("delete");
    assert_eq!((outcome.entry, outcome.seq), (None, Some(1)));
    assert_eq!(store.entry(id).await.expect("read"), None);
    assert_eq!(store.count_entries().await.expect("count"), 0);
    let revisions = store.revisions(id).await.expect("revisions");
    let actions: Vec<_> = revisions
        .iter()
        .map(|r| (r.version, r.action.as_str()))
        .collect();
    assert_eq!(actions, vec![(1, "create"), (2, "delete")]);
    assert_eq!(revisions[1].slug, "gone");
    assert_eq!(
        store.events_since(0, 10).await.expect("events")[0].entry_id,
        Some(id)
    );
    let again = Write::new(
        EntryOp::Delete {
            id,
            expected_version: None,
        },
        "t",
    );
    assert!(matches!(
        store.write(again).await,
        Err(StoreError::NotFound)
    ));
    created(&store, "match", "gone").await;
}
