//! Entry creation, updates, version checks, listings and content types.

use chrono::Utc;
use serde_json::json;
use uuid::Uuid;

use super::harness::{self, create, created, event, page};
use crate::model::ContentTypeRecord;
use crate::model::{EntryStatus, PageWrite};
use crate::store::{EntryOp, EntryQuery, Store, StoreError, Write};

#[tokio::test]
async fn create_makes_a_draft_at_version_one_with_a_revision() {
    let Some(store) = harness::store().await else {
        return;
    };
    let outcome = store.write(create("match", "a-v-b")).await.expect("create");
    let entry = outcome.entry.expect("the new entry");
    assert_eq!(outcome.seq, None);
    assert_eq!((entry.status, entry.version), (EntryStatus::Draft, 1));
    assert_eq!(entry.created_at, entry.updated_at);
    assert_eq!(
        (entry.published_slug.clone(), entry.published_at),
        (None, None)
    );
    assert_eq!(
        store.entry(entry.id).await.expect("read"),
        Some(entry.clone())
    );
    let by_slug = store.entry_by_slug("match", "a-v-b").await.expect("read");
    assert_eq!(by_slug, Some(entry.clone()));
    assert_eq!(
        store.entry_by_slug("team", "a-v-b").await.expect("read"),
        None
    );
    let revisions = store.revisions(entry.id).await.expect("revisions");
    assert_eq!(revisions.len(), 1);
    let r = &revisions[0];
    assert_eq!(
        (r.version, r.action.as_str(), r.author.as_str()),
        (1, "create", "tester")
    );
    assert_eq!(
        (r.slug.as_str(), &r.data),
        ("a-v-b", &json!({ "title": "a-v-b" }))
    );
    assert_eq!(
        store.revision(entry.id, 1).await.expect("read"),
        Some(r.clone())
    );
    assert_eq!(store.revision(entry.id, 2).await.expect("read"), None);
    assert_eq!(store.count_entries().await.expect("count"), 1);
}

#[tokio::test]
async fn a_taken_slug_is_a_duplicate_and_the_write_leaves_nothing() {
    let Some(store) = harness::store().await else {
        return;
    };
    created(&store, "match", "final").await;
    let again = create("match", "final")
        .with_event(event("created", &["/matches/final"]))
        .with_pages(vec![PageWrite::Upsert(page("/matches/final", None))], None);
    match store.write(again).await {
        Err(StoreError::Duplicate(what)) => assert_eq!(what, r#"slug "final" in type "match""#),
        other => panic!("expected a duplicate, got {other:?}"),
    }
    assert_eq!(store.count_entries().await.expect("count"), 1);
    assert_eq!(store.last_seq().await.expect("seq"), 0);
    assert_eq!(store.page("/matches/final").await.expect("page"), None);
    // Another type may use the same slug, but an update may not take one.
    let other = created(&store, "team", "final").await;
    created(&store, "team", "semi").await;
    let rename = EntryOp::Update {
        id: other,
        expected_version: Some(1),
        slug: "semi".to_owned(),
        data: json!({}),
    };
    let result = store.write(Write::new(rename, "t")).await;
    assert!(
        matches!(&result, Err(StoreError::Duplicate(w)) if w == r#"slug "semi" in type "team""#),
        "{result:?}"
    );
    let unchanged = store.entry(other).await.expect("read").expect("entry");
    assert_eq!((unchanged.slug.as_str(), unchanged.version), ("final", 1));
}

#[tokio::test]
async fn update_replaces_the_working_copy_and_bumps_the_version() {
    let Some(store) = harness::store().await else {
        return;
    };
    let id = created(&store, "match", "old").await;
    let op = EntryOp::Update {
        id,
        expected_version: Some(1),
        slug: "new".to_owned(),
        data: json!({ "title": "New" }),
    };
    let entry = store
        .write(Write::new(op, "ed"))
        .await
        .expect("update")
        .entry
        .expect("entry");
    assert_eq!((entry.slug.as_str(), entry.version), ("new", 2));
    assert_eq!(entry.data, json!({ "title": "New" }));
    assert!(entry.updated_at >= entry.created_at);
    assert_eq!(
        store.entry_by_slug("match", "old").await.expect("read"),
        None
    );
    let r = store
        .revision(id, 2)
        .await
        .expect("read")
        .expect("revision 2");
    assert_eq!(
        (r.action.as_str(), r.slug.as_str(), r.author.as_str()),
        ("update", "new", "ed")
    );
    // No expected version: last writer wins, still versioned.
    let blind = EntryOp::Update {
        id,
        expected_version: None,
        slug: "new".into(),
        data: json!(1),
    };
    let entry = store
        .write(Write::new(blind, "ed"))
        .await
        .expect("update")
        .entry
        .expect("entry");
    assert_eq!(entry.version, 3);
}

#[tokio::test]
async fn a_stale_version_conflicts_and_changes_nothing() {
    let Some(store) = harness::store().await else {
        return;
    };
    let id = created(&store, "match", "m").await;
    let before = store.entry(id).await.expect("read");
    let stale = Some(7);
    let ops = [
        EntryOp::Update {
            id,
            expected_version: stale,
            slug: "x".into(),
            data: json!({}),
        },
        EntryOp::Publish {
            id,
            expected_version: stale,
        },
        EntryOp::Schedule {
            id,
            expected_version: stale,
            at: Utc::now(),
        },
        EntryOp::Unpublish {
            id,
            expected_version: stale,
        },
        EntryOp::Delete {
            id,
            expected_version: stale,
        },
    ];
    for op in ops {
        let write = Write::new(op.clone(), "t").with_event(event("changed", &["/m"]));
        match store.write(write).await {
            Err(StoreError::Conflict {
                expected: 7,
                found: 1,
            }) => {}
            other => panic!("{op:?}: expected a conflict, got {other:?}"),
        }
    }
    assert_eq!(store.entry(id).await.expect("read"), before);
    assert_eq!(store.revisions(id).await.expect("revisions").len(), 1);
    assert_eq!(store.last_seq().await.expect("seq"), 0);
}

#[tokio::test]
async fn ops_on_a_missing_entry_are_not_found() {
    let Some(store) = harness::store().await else {
        return;
    };
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
            expected_version: Some(1),
        },
        EntryOp::Delete {
            id,
            expected_version: None,
        },
    ];
    for op in ops {
        let result = store.write(Write::new(op.clone(), "t")).await;
        assert!(
            matches!(result, Err(StoreError::NotFound)),
            "{op:?}: {result:?}"
        );
    }
    assert_eq!(store.entry(id).await.expect("read"), None);
}

#[tokio::test]
async fn listings_page_by_id_and_filter_by_status() {
    let Some(store) = harness::store().await else {
        return;
    };
    let mut ids = Vec::new();
    for slug in ["a", "b", "c", "d"] {
        ids.push(created(&store, "match", slug).await);
    }
    created(&store, "team", "t").await;
    store
        .write(Write::new(
            EntryOp::Publish {
                id: ids[2],
                expected_version: None,
            },
            "t",
        ))
        .await
        .expect("publish");
    let query = |after, status, limit| EntryQuery {
        type_name: "match".into(),
        status,
        after,
        limit,
    };
    let first: Vec<_> = store
        .entries(&query(None, None, 3))
        .await
        .expect("page")
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(first, ids[..3]);
    let rest: Vec<_> = store
        .entries(&query(Some(ids[2]), None, 3))
        .await
        .expect("page")
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(rest, ids[3..]);
    let drafts = store
        .entries(&query(None, Some(EntryStatus::Draft), 10))
        .await
        .expect("page");
    assert_eq!(drafts.len(), 3);
    let published = store
        .entries(&query(None, Some(EntryStatus::Published), 10))
        .await
        .expect("page");
    assert_eq!(
        published.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![ids[2]]
    );

    let wanted = [ids[3], Uuid::now_v7(), ids[0]];
    let mut found: Vec<_> = store
        .entries_by_ids(&wanted)
        .await
        .expect("by ids")
        .iter()
        .map(|e| e.id)
        .collect();
    found.sort();
    assert_eq!(found, vec![ids[0], ids[3]]);
    assert!(store.entries_by_ids(&[]).await.expect("none").is_empty());
    assert_eq!(store.count_entries().await.expect("count"), 5);
}

#[tokio::test]
async fn content_types_are_upserted_by_name() {
    let Some(store) = harness::store().await else {
        return;
    };
    let record = |name: &str, hash: &str| ContentTypeRecord {
        name: name.into(),
        schema: json!({ "fields": { "title": "string" }, "v": hash }),
        hash: hash.into(),
    };
    store
        .sync_content_types(&[record("match", "h1"), record("team", "h1")])
        .await
        .expect("sync");
    store
        .sync_content_types(&[record("match", "h2")])
        .await
        .expect("sync again");
    store
        .sync_content_types(&[])
        .await
        .expect("nothing to sync");
    let types = store.content_types().await.expect("read");
    assert_eq!(types, vec![record("match", "h2"), record("team", "h1")]);
}
