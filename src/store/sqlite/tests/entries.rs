//! Creating, updating and deleting entries, their revisions and the entry
//! queries.

use chrono::{Duration, Utc};
use serde_json::json;
use uuid::Uuid;

use super::{create, event, fresh, op_write};
use crate::model::EntryStatus;
use crate::store::{EntryOp, EntryQuery, Store, StoreError};

#[tokio::test]
async fn create_starts_a_draft_at_version_one_with_a_revision() {
    let (store, _dir) = fresh().await;
    let before = Utc::now() - Duration::seconds(1);
    let entry = create(&store, "match", "a-v-b", json!({"title": "A v B"})).await;
    assert_eq!(entry.status, EntryStatus::Draft);
    assert_eq!(entry.version, 1);
    assert_eq!(entry.id.get_version_num(), 7);
    assert_eq!(entry.created_at, entry.updated_at);
    assert!(entry.created_at > before);
    assert_eq!(entry.published_slug, None);
    assert_eq!(entry.published_data, None);
    assert_eq!(entry.published_at, None);
    assert_eq!(store.entry(entry.id).await.unwrap(), Some(entry.clone()));

    let revisions = store.revisions(entry.id).await.unwrap();
    assert_eq!(revisions.len(), 1);
    let rev = &revisions[0];
    assert_eq!((rev.version, rev.action.as_str()), (1, "create"));
    assert_eq!(
        (rev.slug.as_str(), rev.author.as_str()),
        ("a-v-b", "tester")
    );
    assert_eq!(rev.data, json!({"title": "A v B"}));
    assert_eq!(
        store.revision(entry.id, 1).await.unwrap().as_ref(),
        Some(rev)
    );
    assert_eq!(store.revision(entry.id, 2).await.unwrap(), None);
}

#[tokio::test]
async fn duplicate_slug_in_a_type_is_refused_but_allowed_across_types() {
    let (store, _dir) = fresh().await;
    create(&store, "match", "final", json!({})).await;
    let err = store
        .write(op_write(EntryOp::Create {
            type_name: "match".into(),
            slug: "final".into(),
            data: json!({}),
        }))
        .await
        .unwrap_err();
    match err {
        StoreError::Duplicate(what) => assert_eq!(what, r#"slug "final" in type "match""#),
        other => panic!("expected Duplicate, got {other:?}"),
    }
    create(&store, "article", "final", json!({})).await;
    assert_eq!(store.count_entries().await.unwrap(), 2);
}

#[tokio::test]
async fn update_replaces_the_working_copy_and_checks_the_version() {
    let (store, _dir) = fresh().await;
    let entry = create(&store, "match", "a", json!({"n": 1})).await;
    let other = create(&store, "match", "taken", json!({})).await;

    let update = |expected, slug: &str| {
        op_write(EntryOp::Update {
            id: entry.id,
            expected_version: expected,
            slug: slug.into(),
            data: json!({"n": 2}),
        })
    };
    let err = store.write(update(Some(7), "b")).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                expected: 7,
                found: 1
            }
        ),
        "{err:?}"
    );
    // A conflict changes nothing and records nothing.
    assert_eq!(store.entry(entry.id).await.unwrap(), Some(entry.clone()));
    assert_eq!(store.revisions(entry.id).await.unwrap().len(), 1);

    let err = store.write(update(Some(1), &other.slug)).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Duplicate(w) if w.contains("\"taken\"")),
        "{err:?}"
    );

    let updated = store
        .write(update(Some(1), "b"))
        .await
        .unwrap()
        .entry
        .unwrap();
    assert_eq!((updated.slug.as_str(), updated.version), ("b", 2));
    assert_eq!(updated.data, json!({"n": 2}));
    assert_eq!(updated.status, EntryStatus::Draft);
    assert_eq!(updated.created_at, entry.created_at);
    assert!(updated.updated_at >= entry.updated_at);
    // Without an expected version the write applies to whatever is current.
    let again = store.write(update(None, "c")).await.unwrap().entry.unwrap();
    assert_eq!(again.version, 3);
    let actions: Vec<_> = store
        .revisions(entry.id)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.version, r.action, r.slug))
        .collect();
    assert_eq!(
        actions,
        vec![
            (1, "create".into(), "a".into()),
            (2, "update".into(), "b".into()),
            (3, "update".into(), "c".into())
        ]
    );
    // The old slug is free again.
    create(&store, "match", "a", json!({})).await;
}

#[tokio::test]
async fn ops_on_a_missing_entry_are_not_found() {
    let (store, _dir) = fresh().await;
    let id = Uuid::now_v7();
    let ops = [
        EntryOp::Update {
            id,
            expected_version: None,
            slug: "x".into(),
            data: json!({}),
        },
        EntryOp::Publish {
            id,
            expected_version: None,
        },
        EntryOp::Schedule {
            id,
            expected_version: None,
            at: Utc::now(),
        },
        EntryOp::Unpublish {
            id,
            expected_version: None,
        },
        EntryOp::Delete {
            id,
            expected_version: Some(1),
        },
    ];
    for op in ops {
        let err = store
            .write(op_write(op).with_event(event("x", &[])))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound), "{err:?}");
    }
    assert_eq!(store.last_seq().await.unwrap(), 0);
    assert_eq!(store.entry(id).await.unwrap(), None);
}

#[tokio::test]
async fn delete_removes_the_entry_and_keeps_its_revisions() {
    let (store, _dir) = fresh().await;
    let entry = create(&store, "match", "gone", json!({"x": 1})).await;
    let err = store
        .write(op_write(EntryOp::Delete {
            id: entry.id,
            expected_version: Some(2),
        }))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::Conflict {
            expected: 2,
            found: 1
        }
    ));
    let outcome = store
        .write(
            op_write(EntryOp::Delete {
                id: entry.id,
                expected_version: Some(1),
            })
            .with_event(event("delete", &["/m/gone"])),
        )
        .await
        .unwrap();
    assert_eq!(outcome.entry, None);
    assert_eq!(outcome.seq, Some(1));
    assert_eq!(store.entry(entry.id).await.unwrap(), None);
    assert_eq!(store.count_entries().await.unwrap(), 0);
    let revs = store.revisions(entry.id).await.unwrap();
    assert_eq!(revs.len(), 2);
    assert_eq!((revs[1].version, revs[1].action.as_str()), (2, "delete"));
    assert_eq!(
        (revs[1].slug.as_str(), &revs[1].data),
        ("gone", &json!({"x": 1}))
    );
    assert_eq!(
        store.events_since(0, 10).await.unwrap()[0].entry_id,
        Some(entry.id)
    );

    let err = store
        .write(op_write(EntryOp::Publish {
            id: entry.id,
            expected_version: None,
        }))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound));
    // The slug is free again.
    create(&store, "match", "gone", json!({})).await;
}

#[tokio::test]
async fn entries_pages_by_id_and_filters_by_status() {
    let (store, _dir) = fresh().await;
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(create(&store, "match", &format!("m{i}"), json!({"i": i})).await);
    }
    create(&store, "article", "other-type", json!({})).await;
    for entry in &created[1..3] {
        store
            .write(op_write(EntryOp::Publish {
                id: entry.id,
                expected_version: None,
            }))
            .await
            .unwrap();
    }
    let query = |status, after, limit| EntryQuery {
        type_name: "match".into(),
        status,
        after,
        limit,
    };
    let slugs = |entries: Vec<crate::model::Entry>| -> Vec<String> {
        entries.into_iter().map(|e| e.slug).collect()
    };
    let page1 = store.entries(&query(None, None, 2)).await.unwrap();
    assert_eq!(slugs(page1.clone()), vec!["m0", "m1"]);
    let page2 = store
        .entries(&query(None, Some(page1[1].id), 2))
        .await
        .unwrap();
    assert_eq!(slugs(page2.clone()), vec!["m2", "m3"]);
    let page3 = store
        .entries(&query(None, Some(page2[1].id), 2))
        .await
        .unwrap();
    assert_eq!(slugs(page3), vec!["m4"]);

    let published = store
        .entries(&query(Some(EntryStatus::Published), None, 10))
        .await
        .unwrap();
    assert_eq!(slugs(published), vec!["m1", "m2"]);
    let drafts_after = store
        .entries(&query(Some(EntryStatus::Draft), Some(created[1].id), 10))
        .await
        .unwrap();
    assert_eq!(slugs(drafts_after), vec!["m3", "m4"]);
    assert_eq!(
        slugs(store.published_entries("match").await.unwrap()),
        vec!["m1", "m2"]
    );
    assert!(store.published_entries("article").await.unwrap().is_empty());

    let wanted = [created[4].id, Uuid::now_v7(), created[0].id];
    let mut found = slugs(store.entries_by_ids(&wanted).await.unwrap());
    found.sort();
    assert_eq!(found, vec!["m0", "m4"]);
    assert!(store.entries_by_ids(&[]).await.unwrap().is_empty());
    assert_eq!(store.count_entries().await.unwrap(), 6);
}
