//! Publishing: publish, schedule and unpublish, the published-slug rule and
//! the scheduler's query.

use chrono::{Duration, Utc};
use serde_json::json;

use super::{create, event, fresh, op_write};
use crate::model::EntryStatus;
use crate::store::{EntryOp, Store, StoreError};

#[tokio::test]
async fn publish_copies_the_working_copy_and_unpublish_withdraws_it() {
    let (store, _dir) = fresh().await;
    let entry = create(&store, "match", "live", json!({"score": "0-0"})).await;
    let err = store
        .write(op_write(EntryOp::Unpublish {
            id: entry.id,
            expected_version: None,
        }))
        .await
        .unwrap_err();
    assert!(matches!(&err, StoreError::InvalidState(m) if m == "entry is not published"));

    let published = store
        .write(op_write(EntryOp::Publish {
            id: entry.id,
            expected_version: Some(1),
        }))
        .await
        .unwrap()
        .entry
        .unwrap();
    assert_eq!(published.status, EntryStatus::Published);
    assert_eq!(published.version, 2);
    assert_eq!(published.published_slug.as_deref(), Some("live"));
    assert_eq!(published.published_data, Some(json!({"score": "0-0"})));
    assert!(published.published_at.is_some());
    assert_eq!(published.published_at, Some(published.updated_at));

    // Editing the working copy leaves the published snapshot alone.
    store
        .write(op_write(EntryOp::Update {
            id: entry.id,
            expected_version: Some(2),
            slug: "live-renamed".into(),
            data: json!({"score": "1-0"}),
        }))
        .await
        .unwrap();
    let by_published = store
        .published_entry_by_slug("match", "live")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_published.published_data, Some(json!({"score": "0-0"})));
    assert_eq!(
        store
            .published_entry_by_slug("match", "live-renamed")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .entry_by_slug("match", "live-renamed")
            .await
            .unwrap()
            .map(|e| e.id),
        Some(entry.id)
    );
    assert_eq!(store.entry_by_slug("match", "live").await.unwrap(), None);

    let draft = store
        .write(op_write(EntryOp::Unpublish {
            id: entry.id,
            expected_version: Some(3),
        }))
        .await
        .unwrap()
        .entry
        .unwrap();
    assert_eq!(draft.status, EntryStatus::Draft);
    assert_eq!(draft.version, 4);
    assert_eq!((draft.published_slug, draft.published_data), (None, None));
    assert_eq!((draft.published_at, draft.publish_at), (None, None));
    let revs = store.revisions(entry.id).await.unwrap();
    let publish = &revs[1];
    assert_eq!(
        (publish.action.as_str(), publish.slug.as_str()),
        ("publish", "live")
    );
    assert_eq!(publish.data, json!({"score": "0-0"}));
    assert_eq!(revs[3].action, "unpublish");
    assert_eq!(revs[3].version, 4);
}

#[tokio::test]
async fn published_slugs_are_unique_among_published_entries() {
    let (store, _dir) = fresh().await;
    let first = create(&store, "match", "derby", json!({})).await;
    let publish = |id| {
        op_write(EntryOp::Publish {
            id,
            expected_version: None,
        })
    };
    store.write(publish(first.id)).await.unwrap();
    // The working slug moves on, so a second entry can take "derby" as a draft...
    store
        .write(op_write(EntryOp::Update {
            id: first.id,
            expected_version: None,
            slug: "derby-old".into(),
            data: json!({}),
        }))
        .await
        .unwrap();
    let second = create(&store, "match", "derby", json!({})).await;
    // ...but cannot publish it while the first one is live under it.
    let err = store
        .write(publish(second.id).with_event(event("publish", &["/m/derby"])))
        .await;
    match err.unwrap_err() {
        StoreError::Duplicate(what) => {
            assert_eq!(what, r#"published slug "derby" in type "match""#)
        }
        other => panic!("expected Duplicate, got {other:?}"),
    }
    // The failed write left nothing behind.
    assert_eq!(store.entry(second.id).await.unwrap(), Some(second.clone()));
    assert_eq!(store.revisions(second.id).await.unwrap().len(), 1);
    assert_eq!(store.last_seq().await.unwrap(), 0);
    assert!(store.events_since(0, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn schedule_keeps_the_live_snapshot_until_due() {
    let (store, _dir) = fresh().await;
    let entry = create(&store, "match", "cup", json!({"v": 1})).await;
    store
        .write(op_write(EntryOp::Publish {
            id: entry.id,
            expected_version: None,
        }))
        .await
        .unwrap();
    let at = Utc::now() + Duration::minutes(30);
    let scheduled = store
        .write(op_write(EntryOp::Schedule {
            id: entry.id,
            expected_version: Some(2),
            at,
        }))
        .await
        .unwrap()
        .entry
        .unwrap();
    assert_eq!(scheduled.status, EntryStatus::Scheduled);
    assert_eq!(scheduled.version, 3);
    assert_eq!(
        scheduled.publish_at.map(|t| t.timestamp_micros()),
        Some(at.timestamp_micros())
    );
    assert_eq!(scheduled.published_data, Some(json!({"v": 1})));
    // Still listed as published: its older snapshot is live.
    assert_eq!(
        store.published_entries("match").await.unwrap(),
        vec![scheduled.clone()]
    );

    assert!(
        store
            .due_scheduled(Utc::now(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let due = store.due_scheduled(at, 10).await.unwrap();
    assert_eq!(due, vec![scheduled.clone()]);
    assert_eq!(
        store.revision(entry.id, 3).await.unwrap().unwrap().action,
        "schedule"
    );

    // Publishing clears publish_at; unpublishing a scheduled entry is allowed.
    let published = store
        .write(op_write(EntryOp::Publish {
            id: entry.id,
            expected_version: Some(3),
        }))
        .await
        .unwrap()
        .entry
        .unwrap();
    assert_eq!(
        (published.status, published.publish_at),
        (EntryStatus::Published, None)
    );
    store
        .write(op_write(EntryOp::Schedule {
            id: entry.id,
            expected_version: None,
            at,
        }))
        .await
        .unwrap();
    let draft = store
        .write(op_write(EntryOp::Unpublish {
            id: entry.id,
            expected_version: Some(5),
        }))
        .await
        .unwrap()
        .entry
        .unwrap();
    assert_eq!((draft.status, draft.publish_at), (EntryStatus::Draft, None));
    assert!(store.due_scheduled(at, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn due_scheduled_orders_by_time_and_respects_the_limit() {
    let (store, _dir) = fresh().await;
    let now = Utc::now();
    let mut ids = Vec::new();
    for (slug, minutes) in [("late", -1), ("early", -30), ("future", 30), ("mid", -10)] {
        let entry = create(&store, "match", slug, json!({})).await;
        let at = now + Duration::minutes(minutes);
        store
            .write(op_write(EntryOp::Schedule {
                id: entry.id,
                expected_version: None,
                at,
            }))
            .await
            .unwrap();
        ids.push((slug, entry.id));
    }
    let due: Vec<_> = store
        .due_scheduled(now, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.slug)
        .collect();
    assert_eq!(due, vec!["early", "mid", "late"]);
    let due: Vec<_> = store
        .due_scheduled(now, 2)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.slug)
        .collect();
    assert_eq!(due, vec!["early", "mid"]);
}
