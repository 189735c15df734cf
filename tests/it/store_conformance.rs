//! The Store conformance suite: every case runs against both backends
//! (SQLite in a temp file, PostgreSQL in a database made for the test).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{SubsecRound, Utc};
use keel::model::ContentTypeRecord;
use keel::model::{CachePolicy, EntryId, EntryStatus, Page, PageWrite};
use keel::store::{EntryOp, EntryQuery, GroupedOp, NewEvent, Role, Store, StoreError, Write};
use serde_json::{Value, json};

use crate::on_both_backends;

type S = Arc<dyn Store>;

on_both_backends!(
    store:
    create_then_read_returns_the_entry,
    slugs_are_unique_per_type,
    update_bumps_the_version_and_replaces_the_working_copy,
    stale_expected_version_conflicts_and_changes_nothing,
    publish_copies_the_working_copy_to_the_published_snapshot,
    a_write_records_the_time_it_was_computed_with,
    a_write_commits_a_group_of_changes_or_none,
    an_import_creates_the_entry_in_its_final_state,
    published_slugs_are_unique_per_type,
    schedule_marks_the_entry_due_later,
    unschedule_returns_to_the_state_before,
    unpublish_withdraws_the_snapshot,
    delete_removes_the_entry_but_keeps_its_history,
    revisions_record_every_change_with_its_author,
    operations_on_a_missing_entry_are_not_found,
    keyset_pagination_walks_every_entry_once,
    entries_are_found_by_a_field_value,
    events_are_numbered_without_gaps,
    events_keep_the_entries_they_changed,
    concurrent_writers_never_leave_a_gap_behind_a_reader,
    a_failed_write_leaves_nothing_behind,
    pages_are_written_with_their_event,
    a_page_keeps_its_immutable_flag,
    outdated_pages_are_refused,
    pages_showing_an_entry_changed_since_are_refused,
    recent_pages_come_newest_first_with_their_size,
    tokens_are_stored_by_hash_and_revocable,
    content_types_are_recorded,
    migrating_twice_is_a_noop,
);

fn create(type_name: &str, slug: &str, data: Value) -> Write {
    Write::new(
        EntryOp::Create {
            type_name: type_name.into(),
            slug: slug.into(),
            data,
        },
        "alice",
    )
}

async fn created(store: &S, type_name: &str, slug: &str, data: Value) -> keel::model::Entry {
    store
        .write(create(type_name, slug, data))
        .await
        .expect("create")
        .entry
        .expect("entry")
}

fn event(kind: &str, paths: &[&str]) -> NewEvent {
    NewEvent {
        kind: kind.into(),
        paths: paths.iter().map(|p| p.to_string()).collect(),
        keys: vec!["k".into()],
        entries: Vec::new(),
    }
}

fn page(path: &str, body: &str) -> Page {
    Page {
        path: path.into(),
        entry_id: None,
        status: 200,
        content_type: "text/html; charset=utf-8".into(),
        identity: body.as_bytes().to_vec(),
        br: vec![1, 2, 3],
        gzip: vec![4, 5, 6],
        etag: format!("etag-{body}"),
        last_modified: Utc::now(),
        surrogate_keys: vec!["match".into(), "team-1".into()],
        cache_policy: CachePolicy::default(),
        seq: 0,
    }
}

async fn publish(
    store: &S,
    id: EntryId,
    expected: Option<i64>,
) -> Result<keel::model::Entry, StoreError> {
    store
        .write(Write::new(
            EntryOp::Publish {
                id,
                expected_version: expected,
            },
            "alice",
        ))
        .await
        .map(|o| o.entry.expect("entry"))
}

async fn create_then_read_returns_the_entry(store: S) {
    let before = Utc::now();
    let e = created(&store, "match", "a-vs-b", json!({"venue": "Park"})).await;
    assert_eq!(e.type_name, "match");
    assert_eq!(e.slug, "a-vs-b");
    assert_eq!(e.status, EntryStatus::Draft);
    assert_eq!(e.version, 1);
    assert_eq!(e.data, json!({"venue": "Park"}));
    assert!(e.published_data.is_none() && e.published_slug.is_none());
    assert!(e.published_at.is_none() && e.publish_at.is_none());
    assert!(e.created_at >= before - chrono::Duration::seconds(1));
    assert_eq!(e.created_at, e.updated_at);

    assert_eq!(store.entry(e.id).await.unwrap(), Some(e.clone()));
    assert_eq!(
        store.entry_by_slug("match", "a-vs-b").await.unwrap(),
        Some(e.clone())
    );
    assert_eq!(store.entry_by_slug("team", "a-vs-b").await.unwrap(), None);
    assert_eq!(
        store
            .published_entry_by_slug("match", "a-vs-b")
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.count_entries().await.unwrap(), 1);
}

async fn slugs_are_unique_per_type(store: S) {
    created(&store, "team", "rovers", json!({})).await;
    let err = store
        .write(create("team", "rovers", json!({})))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Duplicate(ref m) if m.contains("rovers")),
        "{err:?}"
    );
    // Another type may use the same slug.
    created(&store, "match", "rovers", json!({})).await;
    // Renaming onto a taken slug is refused too.
    let other = created(&store, "team", "city", json!({})).await;
    let err = store
        .write(Write::new(
            EntryOp::Update {
                id: other.id,
                expected_version: None,
                slug: "rovers".into(),
                data: json!({}),
            },
            "alice",
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Duplicate(_)), "{err:?}");
    assert_eq!(store.entry(other.id).await.unwrap().unwrap().slug, "city");
    assert_eq!(store.count_entries().await.unwrap(), 3);
}

async fn update_bumps_the_version_and_replaces_the_working_copy(store: S) {
    let e = created(&store, "team", "rovers", json!({"name": "Rovers"})).await;
    let out = store
        .write(Write::new(
            EntryOp::Update {
                id: e.id,
                expected_version: Some(1),
                slug: "rovers-fc".into(),
                data: json!({"name": "Rovers FC"}),
            },
            "bob",
        ))
        .await
        .unwrap();
    let u = out.entry.unwrap();
    assert_eq!(u.version, 2);
    assert_eq!(u.slug, "rovers-fc");
    assert_eq!(u.data, json!({"name": "Rovers FC"}));
    assert_eq!(u.status, EntryStatus::Draft);
    assert_eq!(u.created_at, e.created_at);
    assert!(u.updated_at >= e.updated_at);
    assert!(out.seq.is_none(), "a draft update appends no event");
    // Without an expected version the update applies to whatever is current.
    let u3 = store
        .write(Write::new(
            EntryOp::Update {
                id: e.id,
                expected_version: None,
                slug: "rovers-fc".into(),
                data: json!({"name": "R"}),
            },
            "bob",
        ))
        .await
        .unwrap()
        .entry
        .unwrap();
    assert_eq!(u3.version, 3);
}

async fn stale_expected_version_conflicts_and_changes_nothing(store: S) {
    let e = created(&store, "team", "rovers", json!({"name": "Rovers"})).await;
    let update = |expected| {
        Write::new(
            EntryOp::Update {
                id: e.id,
                expected_version: Some(expected),
                slug: "rovers".into(),
                data: json!({"name": "X"}),
            },
            "bob",
        )
        .with_event(event("update", &["/teams/rovers"]))
    };
    store.write(update(1)).await.unwrap();
    let last_seq = store.last_seq().await.unwrap();
    let err = store.write(update(1)).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                expected: 1,
                found: 2
            }
        ),
        "{err:?}"
    );
    let now = store.entry(e.id).await.unwrap().unwrap();
    assert_eq!(now.version, 2);
    assert_eq!(store.revisions(e.id).await.unwrap().len(), 2);
    assert_eq!(
        store.last_seq().await.unwrap(),
        last_seq,
        "no event for a refused write"
    );

    for op in [
        EntryOp::Publish {
            id: e.id,
            expected_version: Some(7),
        },
        EntryOp::Schedule {
            id: e.id,
            expected_version: Some(7),
            at: Utc::now(),
        },
        EntryOp::Unpublish {
            id: e.id,
            expected_version: Some(7),
        },
        EntryOp::Delete {
            id: e.id,
            expected_version: Some(7),
        },
    ] {
        let err = store.write(Write::new(op, "bob")).await.unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Conflict {
                    expected: 7,
                    found: 2
                }
            ),
            "{err:?}"
        );
    }
    assert_eq!(store.entry(e.id).await.unwrap().unwrap(), now);
}

async fn publish_copies_the_working_copy_to_the_published_snapshot(store: S) {
    let e = created(&store, "match", "a-vs-b", json!({"home_score": 0})).await;
    let p = publish(&store, e.id, Some(1)).await.unwrap();
    assert_eq!(p.status, EntryStatus::Published);
    assert_eq!(p.version, 2);
    assert_eq!(p.published_slug.as_deref(), Some("a-vs-b"));
    assert_eq!(p.published_data, Some(json!({"home_score": 0})));
    assert!(p.published_at.is_some());

    // Editing the working copy leaves the published snapshot alone.
    store
        .write(Write::new(
            EntryOp::Update {
                id: e.id,
                expected_version: Some(2),
                slug: "a-vs-b".into(),
                data: json!({"home_score": 1}),
            },
            "alice",
        ))
        .await
        .unwrap();
    let live = store
        .published_entry_by_slug("match", "a-vs-b")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(live.published_data, Some(json!({"home_score": 0})));
    assert_eq!(live.data, json!({"home_score": 1}));
    assert_eq!(live.status, EntryStatus::Published);

    let all = store.published_entries("match").await.unwrap();
    assert_eq!(all.len(), 1);
    assert!(store.published_entries("team").await.unwrap().is_empty());
}

async fn a_write_records_the_time_it_was_computed_with(store: S) {
    let e = created(&store, "news", "late-goal", json!({})).await;
    // Sub-microsecond digits are dropped: both stores keep microseconds.
    let at = "2026-12-05T23:59:59.999999700Z"
        .parse::<chrono::DateTime<Utc>>()
        .unwrap();
    let op = EntryOp::Publish {
        id: e.id,
        expected_version: Some(1),
    };
    let p = store.write(Write::new(op, "alice").at(at)).await.unwrap();
    let stored = store.entry(e.id).await.unwrap().unwrap();
    let expected = "2026-12-05T23:59:59.999999Z"
        .parse::<chrono::DateTime<Utc>>()
        .unwrap();
    assert_eq!(stored.published_at, Some(expected));
    assert_eq!(stored.updated_at, expected);
    assert_eq!(p.entry.unwrap().published_at, Some(expected));
}

async fn a_write_commits_a_group_of_changes_or_none(store: S) {
    let a = created(&store, "match", "a", json!({})).await;
    let b = created(&store, "match", "b", json!({})).await;
    let c = created(&store, "match", "c", json!({})).await;
    let publish = |id, version| EntryOp::Publish {
        id,
        expected_version: Some(version),
    };
    let by_bob = |op| GroupedOp {
        op,
        author: "bob".into(),
    };
    let before = store.last_seq().await.unwrap();
    let group = Write::new(publish(a.id, 1), "alice")
        .with_others(vec![by_bob(publish(b.id, 1)), by_bob(publish(c.id, 7))])
        .with_event(event("publish", &["/a", "/b", "/c"]));
    let err = store.write(group).await.unwrap_err();
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
    for id in [a.id, b.id, c.id] {
        let e = store.entry(id).await.unwrap().unwrap();
        assert_eq!((e.version, e.status), (1, EntryStatus::Draft));
    }
    assert_eq!(store.last_seq().await.unwrap(), before);

    let group = Write::new(publish(a.id, 1), "alice")
        .with_others(vec![by_bob(publish(b.id, 1)), by_bob(publish(c.id, 1))])
        .with_event(event("publish", &["/a", "/b", "/c"]));
    let outcome = store.write(group).await.unwrap();
    assert_eq!(outcome.entry.unwrap().version, 2);
    let others: Vec<_> = outcome.others.into_iter().map(Option::unwrap).collect();
    assert_eq!(
        others.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![b.id, c.id]
    );
    assert!(others.iter().all(|e| e.status == EntryStatus::Published));
    assert_eq!(outcome.seq, Some(before + 1));
    assert_eq!(store.published_entries("match").await.unwrap().len(), 3);
    // Each change's revision names its own author.
    for (id, author) in [(a.id, "alice"), (b.id, "bob"), (c.id, "bob")] {
        let revisions = store.revisions(id).await.unwrap();
        assert_eq!(revisions.last().unwrap().author, author, "{revisions:?}");
    }
}

async fn an_import_creates_the_entry_in_its_final_state(store: S) {
    let at = "2024-03-05T17:00:00Z"
        .parse::<chrono::DateTime<Utc>>()
        .unwrap();
    let import = |id, slug: &str, published_at| EntryOp::Import {
        id,
        type_name: "team".into(),
        slug: slug.into(),
        data: json!({"name": "Rovers"}),
        published_at,
    };
    let (a, b) = (EntryId::now_v7(), EntryId::now_v7());
    let group = Write::new(import(a, "rovers", Some(at)), "import").with_others(vec![GroupedOp {
        op: import(b, "draft", None),
        author: "import".into(),
    }]);
    let outcome = store.write(group).await.unwrap();
    let published = outcome.entry.unwrap();
    assert_eq!(published.id, a);
    assert_eq!(
        (published.status, published.version),
        (EntryStatus::Published, 1)
    );
    assert_eq!(published.published_at, Some(at));
    assert_eq!(published.published_slug.as_deref(), Some("rovers"));
    assert_eq!(published.published_data, Some(json!({"name": "Rovers"})));
    let draft = store.entry(b).await.unwrap().unwrap();
    assert_eq!(
        (draft.status, draft.published_data),
        (EntryStatus::Draft, None)
    );
    assert_eq!(store.revisions(a).await.unwrap()[0].action, "import");
    // A slug taken in the type is refused, and nothing of the write stays.
    let c = EntryId::now_v7();
    let again = Write::new(import(c, "city", None), "import").with_others(vec![GroupedOp {
        op: import(EntryId::now_v7(), "rovers", None),
        author: "import".into(),
    }]);
    let err = store.write(again).await.unwrap_err();
    assert!(matches!(err, StoreError::Duplicate(_)), "{err:?}");
    assert!(store.entry(c).await.unwrap().is_none());
}

async fn published_slugs_are_unique_per_type(store: S) {
    let a = created(&store, "team", "rovers", json!({})).await;
    publish(&store, a.id, None).await.unwrap();
    // `a` moves its working copy to a new slug; its old slug is still live.
    store
        .write(Write::new(
            EntryOp::Update {
                id: a.id,
                expected_version: None,
                slug: "rovers-old".into(),
                data: json!({}),
            },
            "alice",
        ))
        .await
        .unwrap();
    let b = created(&store, "team", "rovers", json!({})).await;
    let err = publish(&store, b.id, None).await.unwrap_err();
    assert!(matches!(err, StoreError::Duplicate(_)), "{err:?}");
    assert_eq!(
        store.entry(b.id).await.unwrap().unwrap().status,
        EntryStatus::Draft
    );
}

async fn schedule_marks_the_entry_due_later(store: S) {
    let e = created(&store, "article", "later", json!({})).await;
    let soon = Utc::now() + chrono::Duration::seconds(60);
    let s = store
        .write(Write::new(
            EntryOp::Schedule {
                id: e.id,
                expected_version: Some(1),
                at: soon,
            },
            "alice",
        ))
        .await
        .unwrap()
        .entry
        .unwrap();
    assert_eq!(s.status, EntryStatus::Scheduled);
    assert_eq!(s.version, 2);
    assert!(s.publish_at.is_some());
    assert!(s.published_data.is_none());
    assert!(
        store
            .due_scheduled(Utc::now(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let due = store
        .due_scheduled(soon + chrono::Duration::seconds(1), 10)
        .await
        .unwrap();
    assert_eq!(due.iter().map(|e| e.id).collect::<Vec<_>>(), vec![e.id]);
    // Publishing it clears the schedule.
    let p = publish(&store, e.id, Some(2)).await.unwrap();
    assert_eq!(p.status, EntryStatus::Published);
    assert!(p.publish_at.is_none());
    assert!(
        store
            .due_scheduled(soon + chrono::Duration::days(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

fn schedule_op(id: EntryId, expected: i64) -> Write {
    Write::new(
        EntryOp::Schedule {
            id,
            expected_version: Some(expected),
            at: Utc::now() + chrono::Duration::seconds(60),
        },
        "alice",
    )
}

fn unschedule_op(id: EntryId, expected: i64) -> Write {
    Write::new(
        EntryOp::Unschedule {
            id,
            expected_version: Some(expected),
        },
        "scheduler",
    )
}

async fn unschedule_returns_to_the_state_before(store: S) {
    // A draft scheduled, then unscheduled: a draft again.
    let draft = created(&store, "article", "draft", json!({"v": 1})).await;
    store.write(schedule_op(draft.id, 1)).await.unwrap();
    let back = store
        .write(unschedule_op(draft.id, 2))
        .await
        .unwrap()
        .entry
        .unwrap();
    assert_eq!(back.status, EntryStatus::Draft);
    assert_eq!(back.version, 3);
    assert!(back.publish_at.is_none());
    assert_eq!(back.data, json!({"v": 1}), "the working copy is kept");
    let revisions = store.revisions(draft.id).await.unwrap();
    let last = revisions.last().unwrap();
    assert_eq!(
        (last.action.as_str(), last.author.as_str()),
        ("unschedule", "scheduler")
    );
    assert!(matches!(
        store.write(unschedule_op(draft.id, 3)).await,
        Err(StoreError::InvalidState(_))
    ));

    // A live entry with a scheduled update: still live, unchanged.
    let live = created(&store, "article", "live", json!({"v": 1})).await;
    publish(&store, live.id, Some(1)).await.unwrap();
    store
        .write(Write::new(
            EntryOp::Update {
                id: live.id,
                expected_version: Some(2),
                slug: "live".into(),
                data: json!({"v": 2}),
            },
            "alice",
        ))
        .await
        .unwrap();
    store.write(schedule_op(live.id, 3)).await.unwrap();
    let back = store
        .write(unschedule_op(live.id, 4))
        .await
        .unwrap()
        .entry
        .unwrap();
    assert_eq!(back.status, EntryStatus::Published);
    assert_eq!(back.published_data, Some(json!({"v": 1})));
    assert_eq!(back.data, json!({"v": 2}));
    assert!(
        store
            .due_scheduled(Utc::now() + chrono::Duration::days(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // A stale version changes nothing.
    assert!(matches!(
        store.write(unschedule_op(live.id, 4)).await,
        Err(StoreError::Conflict { .. })
    ));
}

async fn unpublish_withdraws_the_snapshot(store: S) {
    let e = created(&store, "team", "rovers", json!({"name": "R"})).await;
    let err = store
        .write(Write::new(
            EntryOp::Unpublish {
                id: e.id,
                expected_version: None,
            },
            "alice",
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidState(_)), "{err:?}");
    publish(&store, e.id, None).await.unwrap();
    let u = store
        .write(Write::new(
            EntryOp::Unpublish {
                id: e.id,
                expected_version: Some(2),
            },
            "alice",
        ))
        .await
        .unwrap()
        .entry
        .unwrap();
    assert_eq!(u.status, EntryStatus::Draft);
    assert_eq!(u.version, 3);
    assert!(u.published_data.is_none() && u.published_slug.is_none() && u.published_at.is_none());
    assert_eq!(u.data, json!({"name": "R"}), "the working copy stays");
    assert!(
        store
            .published_entry_by_slug("team", "rovers")
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.published_entries("team").await.unwrap().is_empty());
}

async fn delete_removes_the_entry_but_keeps_its_history(store: S) {
    let e = created(&store, "team", "rovers", json!({"name": "R"})).await;
    publish(&store, e.id, None).await.unwrap();
    let out = store
        .write(
            Write::new(
                EntryOp::Delete {
                    id: e.id,
                    expected_version: Some(2),
                },
                "carol",
            )
            .with_event(event("delete", &["/teams/rovers"])),
        )
        .await
        .unwrap();
    assert!(out.entry.is_none());
    assert!(out.seq.is_some());
    assert!(store.entry(e.id).await.unwrap().is_none());
    assert!(
        store
            .published_entry_by_slug("team", "rovers")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.count_entries().await.unwrap(), 0);
    let revs = store.revisions(e.id).await.unwrap();
    let actions: Vec<_> = revs
        .iter()
        .map(|r| (r.version, r.action.as_str(), r.author.as_str()))
        .collect();
    assert_eq!(
        actions,
        vec![
            (1, "create", "alice"),
            (2, "publish", "alice"),
            (3, "delete", "carol")
        ]
    );
    // The slug is free again.
    created(&store, "team", "rovers", json!({})).await;
}

async fn revisions_record_every_change_with_its_author(store: S) {
    let e = created(&store, "team", "rovers", json!({"name": "A"})).await;
    store
        .write(Write::new(
            EntryOp::Update {
                id: e.id,
                expected_version: Some(1),
                slug: "rovers".into(),
                data: json!({"name": "B"}),
            },
            "bob",
        ))
        .await
        .unwrap();
    let revs = store.revisions(e.id).await.unwrap();
    assert_eq!(revs.len(), 2);
    assert_eq!(
        (
            revs[0].version,
            revs[0].action.as_str(),
            revs[0].author.as_str()
        ),
        (1, "create", "alice")
    );
    assert_eq!(revs[0].data, json!({"name": "A"}));
    assert_eq!(
        (
            revs[1].version,
            revs[1].action.as_str(),
            revs[1].author.as_str()
        ),
        (2, "update", "bob")
    );
    assert_eq!(revs[1].data, json!({"name": "B"}));
    assert_eq!(
        store.revision(e.id, 2).await.unwrap(),
        Some(revs[1].clone())
    );
    assert_eq!(store.revision(e.id, 3).await.unwrap(), None);
}

async fn operations_on_a_missing_entry_are_not_found(store: S) {
    let id = uuid::Uuid::now_v7();
    assert!(store.entry(id).await.unwrap().is_none());
    for op in [
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
            expected_version: None,
        },
    ] {
        let err = store
            .write(Write::new(op, "a").with_event(event("x", &["/x"])))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound), "{err:?}");
    }
    assert_eq!(store.last_seq().await.unwrap(), 0);
    assert!(store.revisions(id).await.unwrap().is_empty());
}

async fn keyset_pagination_walks_every_entry_once(store: S) {
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(
            created(&store, "team", &format!("t{i}"), json!({}))
                .await
                .id,
        );
    }
    created(&store, "match", "m", json!({})).await;
    publish(&store, ids[3], None).await.unwrap();

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .entries(&EntryQuery {
                type_name: "team".into(),
                status: None,
                after,
                limit: 3,
            })
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 3);
        after = page.last().map(|e| e.id);
        seen.extend(page.into_iter().map(|e| e.id));
    }
    assert_eq!(seen, ids, "every team once, in id order");

    let published = store
        .entries(&EntryQuery {
            type_name: "team".into(),
            status: Some(EntryStatus::Published),
            after: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(
        published.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![ids[3]]
    );
    let by_ids = store
        .entries_by_ids(&[ids[1], ids[5], uuid::Uuid::now_v7()])
        .await
        .unwrap();
    let got: HashSet<_> = by_ids.iter().map(|e| e.id).collect();
    assert_eq!(got, HashSet::from([ids[1], ids[5]]));
}

async fn entries_are_found_by_a_field_value(store: S) {
    let a = created(
        &store,
        "team",
        "a",
        json!({"code": "ROV", "rank": 3, "name": "it's"}),
    )
    .await;
    created(&store, "team", "b", json!({"code": "CIT", "rank": 30})).await;
    created(&store, "match", "c", json!({"code": "ROV"})).await;
    let ids = |v: Vec<keel::model::Entry>| v.into_iter().map(|e| e.slug).collect::<Vec<_>>();
    let find = |field: &'static str, value: Value| {
        let store = store.clone();
        async move {
            store
                .entries_with_value("team", field, &value)
                .await
                .unwrap()
        }
    };
    assert_eq!(ids(find("code", json!("ROV")).await), vec!["a"]);
    assert_eq!(ids(find("rank", json!(3)).await), vec!["a"]);
    assert_eq!(ids(find("name", json!("it's")).await), vec!["a"]);
    assert!(
        find("rank", json!("3")).await.is_empty(),
        "a string is not a number"
    );
    assert!(find("code", json!("XXX")).await.is_empty());
    assert!(find("missing", json!("ROV")).await.is_empty());
    assert_eq!(a.slug, "a");
}

async fn events_are_numbered_without_gaps(store: S) {
    assert_eq!(store.last_seq().await.unwrap(), 0);
    assert!(store.events_since(0, 100).await.unwrap().is_empty());
    let e = created(&store, "team", "rovers", json!({})).await;
    let out = store
        .write(
            Write::new(
                EntryOp::Publish {
                    id: e.id,
                    expected_version: None,
                },
                "a",
            )
            .with_event(event("publish", &["/teams/rovers", "/"])),
        )
        .await
        .unwrap();
    assert_eq!(out.seq, Some(1));
    let out = store
        .write(Write::new(EntryOp::None, "a").with_event(event("render", &["/matches"])))
        .await
        .unwrap();
    assert_eq!(out.seq, Some(2));
    assert!(out.entry.is_none());
    let events = store.events_since(0, 100).await.unwrap();
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(events[0].kind, "publish");
    assert_eq!(events[0].entry_id, Some(e.id));
    assert_eq!(
        events[0].paths,
        vec!["/teams/rovers".to_string(), "/".to_string()]
    );
    assert_eq!(events[0].keys, vec!["k".to_string()]);
    assert_eq!(events[1].entry_id, None);
    assert_eq!(store.events_since(1, 100).await.unwrap().len(), 1);
    assert_eq!(store.events_since(0, 1).await.unwrap().len(), 1);
    assert_eq!(store.last_seq().await.unwrap(), 2);
}

async fn concurrent_writers_never_leave_a_gap_behind_a_reader(store: S) {
    const WRITERS: usize = 8;
    const PER_WRITER: usize = 25;
    let total = (WRITERS * PER_WRITER) as i64;

    let reader = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut last = 0;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            while last < total {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "reader stalled at seq {last}"
                );
                for ev in store.events_since(last, 1000).await.unwrap() {
                    assert_eq!(
                        ev.seq,
                        last + 1,
                        "a reader at seq {last} saw seq {} first",
                        ev.seq
                    );
                    last = ev.seq;
                }
                tokio::task::yield_now().await;
            }
            last
        })
    };
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..PER_WRITER {
                let e = created(&store, "team", &format!("w{w}-{i}"), json!({})).await;
                let path = format!("/teams/w{w}-{i}");
                store
                    .write(
                        Write::new(
                            EntryOp::Publish {
                                id: e.id,
                                expected_version: Some(1),
                            },
                            "w",
                        )
                        .with_event(event("publish", &[&path])),
                    )
                    .await
                    .unwrap();
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    assert_eq!(reader.await.unwrap(), total);
    let all = store.events_since(0, 10_000).await.unwrap();
    assert_eq!(all.len() as i64, total);
    assert!(all.windows(2).all(|w| w[1].seq == w[0].seq + 1));
}

async fn a_failed_write_leaves_nothing_behind(store: S) {
    let a = created(&store, "team", "rovers", json!({})).await;
    publish(&store, a.id, None).await.unwrap();
    store
        .write(Write::new(
            EntryOp::Update {
                id: a.id,
                expected_version: None,
                slug: "moved".into(),
                data: json!({}),
            },
            "alice",
        ))
        .await
        .unwrap();
    let b = created(&store, "team", "rovers", json!({})).await;
    let seq_before = store.last_seq().await.unwrap();

    // The publish fails on the taken published slug after the event, page
    // and revision would have been written: none of them may remain.
    let err = store
        .write(
            Write::new(
                EntryOp::Publish {
                    id: b.id,
                    expected_version: Some(1),
                },
                "alice",
            )
            .with_event(event("publish", &["/teams/rovers"]))
            .with_pages(vec![PageWrite::Upsert(page("/teams/rovers", "b"))], None),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Duplicate(_)), "{err:?}");
    assert_eq!(store.last_seq().await.unwrap(), seq_before);
    assert!(store.events_since(seq_before, 10).await.unwrap().is_empty());
    assert!(store.page("/teams/rovers").await.unwrap().is_none());
    assert_eq!(store.revisions(b.id).await.unwrap().len(), 1);
    let b_now = store.entry(b.id).await.unwrap().unwrap();
    assert_eq!((b_now.version, b_now.status), (1, EntryStatus::Draft));

    // A failed create leaves no entry and no revision either.
    let err = store
        .write(create("team", "moved", json!({})))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Duplicate(_)));
    assert_eq!(store.count_entries().await.unwrap(), 2);

    // And the next successful event takes the very next seq.
    let out = store
        .write(Write::new(EntryOp::None, "a").with_event(event("render", &["/"])))
        .await
        .unwrap();
    assert_eq!(out.seq, Some(seq_before + 1));
}

async fn a_page_keeps_its_immutable_flag(store: S) {
    let mut fixed = page("/fixed", "f");
    fixed.cache_policy = CachePolicy {
        immutable: true,
        edge_max_age: 1234,
        ..CachePolicy::default()
    };
    let ordinary = page("/ordinary", "o");
    store
        .write(
            Write::new(EntryOp::None, "a")
                .with_event(event("render", &["/fixed", "/ordinary"]))
                .with_pages(
                    vec![
                        PageWrite::Upsert(fixed.clone()),
                        PageWrite::Upsert(ordinary.clone()),
                    ],
                    None,
                ),
        )
        .await
        .unwrap();
    let stored = store.page("/fixed").await.unwrap().unwrap();
    assert_eq!(stored.cache_policy, fixed.cache_policy);
    let stored = store.page("/ordinary").await.unwrap().unwrap();
    assert!(!stored.cache_policy.immutable);
    assert_eq!(stored.cache_policy, ordinary.cache_policy);
    let both = store
        .pages(&["/fixed".into(), "/ordinary".into()])
        .await
        .unwrap();
    let flags: HashSet<(String, bool)> = both
        .into_iter()
        .map(|p| (p.path, p.cache_policy.immutable))
        .collect();
    assert_eq!(
        flags,
        HashSet::from([("/fixed".into(), true), ("/ordinary".into(), false)])
    );

    // Overwritten without the flag, the page loses it.
    fixed.cache_policy.immutable = false;
    store
        .write(
            Write::new(EntryOp::None, "a")
                .with_event(event("render", &["/fixed"]))
                .with_pages(vec![PageWrite::Upsert(fixed)], None),
        )
        .await
        .unwrap();
    let stored = store.page("/fixed").await.unwrap().unwrap();
    assert!(!stored.cache_policy.immutable);
}

async fn pages_are_written_with_their_event(store: S) {
    let e = created(&store, "match", "a-vs-b", json!({})).await;
    let mut p = page("/matches/a-vs-b", "v1");
    p.entry_id = Some(e.id);
    let out = store
        .write(
            Write::new(
                EntryOp::Publish {
                    id: e.id,
                    expected_version: Some(1),
                },
                "a",
            )
            .with_event(event("publish", &["/matches/a-vs-b", "/matches"]))
            .with_pages(
                vec![
                    PageWrite::Upsert(p.clone()),
                    PageWrite::Upsert(page("/matches", "list")),
                ],
                None,
            ),
        )
        .await
        .unwrap();
    let seq = out.seq.unwrap();
    let stored = store.page("/matches/a-vs-b").await.unwrap().unwrap();
    assert_eq!(stored.seq, seq, "a page carries the seq of its event");
    assert_eq!(stored.identity, b"v1");
    assert_eq!(stored.br, vec![1, 2, 3]);
    assert_eq!(stored.gzip, vec![4, 5, 6]);
    assert_eq!(stored.etag, "etag-v1");
    assert_eq!(stored.entry_id, Some(e.id));
    assert_eq!(stored.surrogate_keys, p.surrogate_keys);
    assert_eq!(stored.cache_policy, p.cache_policy);
    assert_eq!(stored.content_type, p.content_type);
    assert_eq!(stored.status, 200);
    assert!(
        (stored.last_modified - p.last_modified)
            .num_milliseconds()
            .abs()
            < 1
    );

    let mut not_found = page("/404", "nf");
    not_found.status = 404;
    store
        .write(Write::new(EntryOp::None, "a").with_pages(vec![PageWrite::Upsert(not_found)], None))
        .await
        .unwrap();
    let mut paths = store.page_paths().await.unwrap();
    paths.sort();
    assert_eq!(
        paths,
        vec!["/matches".to_string(), "/matches/a-vs-b".to_string()],
        "404 pages are not published paths"
    );

    let batch = store
        .pages(&["/matches".into(), "/nope".into(), "/matches/a-vs-b".into()])
        .await
        .unwrap();
    assert_eq!(batch.len(), 2);

    // Upsert replaces, delete removes.
    store
        .write(
            Write::new(EntryOp::None, "a")
                .with_event(event("render", &["/matches", "/matches/a-vs-b"]))
                .with_pages(
                    vec![
                        PageWrite::Upsert(page("/matches", "list2")),
                        PageWrite::Delete("/matches/a-vs-b".into()),
                    ],
                    None,
                ),
        )
        .await
        .unwrap();
    assert_eq!(
        store.page("/matches").await.unwrap().unwrap().identity,
        b"list2"
    );
    assert!(store.page("/matches/a-vs-b").await.unwrap().is_none());
}

async fn recent_pages_come_newest_first_with_their_size(store: S) {
    assert!(store.recent_pages(10).await.unwrap().is_empty());
    for (i, path) in ["/a", "/b", "/c"].iter().enumerate() {
        store
            .write(
                Write::new(EntryOp::None, "a")
                    .with_event(event("render", &[path]))
                    .with_pages(
                        vec![PageWrite::Upsert(page(path, &"x".repeat(i + 1)))],
                        None,
                    ),
            )
            .await
            .unwrap();
    }
    let mut not_found = page("/404", "nf");
    not_found.status = 404;
    store
        .write(
            Write::new(EntryOp::None, "a")
                .with_event(event("render", &["/404"]))
                .with_pages(vec![PageWrite::Upsert(not_found)], None),
        )
        .await
        .unwrap();
    // Rewriting /a makes it the newest.
    store
        .write(
            Write::new(EntryOp::None, "a")
                .with_event(event("render", &["/a"]))
                .with_pages(vec![PageWrite::Upsert(page("/a", "yyyy"))], None),
        )
        .await
        .unwrap();

    let recent = store.recent_pages(10).await.unwrap();
    let paths: Vec<&str> = recent.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        ["/a", "/c", "/b"],
        "newest first, 404 pages left out"
    );
    assert!(recent.windows(2).all(|w| w[0].seq > w[1].seq));
    // identity + br (3 bytes) + gzip (3 bytes).
    let sizes: Vec<i64> = recent.iter().map(|p| p.bytes).collect();
    assert_eq!(sizes, [4 + 6, 3 + 6, 2 + 6]);
    assert_eq!(store.recent_pages(2).await.unwrap().len(), 2, "limit holds");
}

async fn pages_showing_an_entry_changed_since_are_refused(store: S) {
    let team = created(&store, "team", "rovers", json!({"name": "Rovers"})).await;
    let publish_team = |expected: i64| {
        Write::new(
            EntryOp::Publish {
                id: team.id,
                expected_version: Some(expected),
            },
            "a",
        )
        .with_event(event("publish", &["/teams/rovers"]))
    };
    let base = store.write(publish_team(1)).await.unwrap().seq.unwrap();
    // An article page that shows the team's name, rendered at `base`...
    let article = created(&store, "article", "preview", json!({})).await;
    let article_pages = |shown: Vec<EntryId>| {
        Write::new(EntryOp::None, "b")
            .with_event(event("render", &["/news/preview"]))
            .with_pages(
                vec![PageWrite::Upsert(page("/news/preview", "Rovers"))],
                Some(base),
            )
            .with_dependencies(shown)
    };
    // ...while the team is renamed: no path in common with the article.
    let renamed = store.write(publish_team(2)).await.unwrap().seq.unwrap();

    let err = store
        .write(article_pages(vec![article.id, team.id]))
        .await
        .unwrap_err();
    match err {
        StoreError::PagesOutdated { base: b, newer, .. } => {
            assert_eq!((b, newer), (base, renamed));
        }
        other => panic!("expected PagesOutdated, got {other:?}"),
    }
    assert!(
        store.page("/news/preview").await.unwrap().is_none(),
        "nothing written"
    );
    // Pages that do not show the renamed team are current.
    store.write(article_pages(vec![article.id])).await.unwrap();
    assert!(store.page("/news/preview").await.unwrap().is_some());

    // A group's event names its first entry; the others are in its keys.
    let base = store.last_seq().await.unwrap();
    let other = created(&store, "team", "united", json!({"name": "United"})).await;
    let mut group_event = event("publish", &["/teams/united", "/teams/rovers"]);
    group_event.keys = vec![other.id.to_string(), team.id.to_string()];
    let group = Write::new(
        EntryOp::Publish {
            id: other.id,
            expected_version: Some(1),
        },
        "a",
    )
    .with_others(vec![GroupedOp {
        op: EntryOp::Publish {
            id: team.id,
            expected_version: Some(3),
        },
        author: "a".into(),
    }])
    .with_event(group_event);
    let grouped = store.write(group).await.unwrap().seq.unwrap();
    let stale = Write::new(EntryOp::None, "b")
        .with_event(event("render", &["/news/preview"]))
        .with_pages(
            vec![PageWrite::Upsert(page("/news/preview", "Rovers"))],
            Some(base),
        )
        .with_dependencies(vec![article.id, team.id]);
    match store.write(stale).await.unwrap_err() {
        StoreError::PagesOutdated { newer, .. } => assert_eq!(newer, grouped),
        other => panic!("expected PagesOutdated, got {other:?}"),
    }
}

async fn outdated_pages_are_refused(store: S) {
    // Two publishers render `/matches` from the same log position (seq 1).
    store
        .write(Write::new(EntryOp::None, "a").with_event(event("render", &["/"])))
        .await
        .unwrap();
    let base = store.last_seq().await.unwrap();
    let first = Write::new(EntryOp::None, "a")
        .with_event(event("render", &["/matches", "/matches/a"]))
        .with_pages(
            vec![PageWrite::Upsert(page("/matches", "with-a"))],
            Some(base),
        );
    store.write(first).await.unwrap();

    let second_entry = created(&store, "match", "b", json!({})).await;
    let second = Write::new(
        EntryOp::Publish {
            id: second_entry.id,
            expected_version: Some(1),
        },
        "a",
    )
    .with_event(event("publish", &["/matches", "/matches/b"]))
    .with_pages(
        vec![PageWrite::Upsert(page("/matches", "with-b-only"))],
        Some(base),
    );
    let err = store.write(second).await.unwrap_err();
    assert!(
        matches!(err, StoreError::PagesOutdated { base: b, newer, ref path } if b == base && newer == base + 1 && path == "/matches"),
        "{err:?}"
    );
    // Nothing of the refused write landed: not the page, the publish or the event.
    assert_eq!(
        store.page("/matches").await.unwrap().unwrap().identity,
        b"with-a"
    );
    assert_eq!(
        store.entry(second_entry.id).await.unwrap().unwrap().status,
        EntryStatus::Draft
    );
    assert_eq!(store.last_seq().await.unwrap(), base + 1);

    // Re-rendered from the newer position, it goes through; unrelated paths
    // changed since the base do not block a write.
    let retry = Write::new(
        EntryOp::Publish {
            id: second_entry.id,
            expected_version: Some(1),
        },
        "a",
    )
    .with_event(event("publish", &["/matches", "/matches/b"]))
    .with_pages(
        vec![PageWrite::Upsert(page("/matches", "with-a-and-b"))],
        Some(base + 1),
    );
    store.write(retry).await.unwrap();
    let unrelated = Write::new(EntryOp::None, "a")
        .with_event(event("render", &["/teams/x"]))
        .with_pages(vec![PageWrite::Upsert(page("/teams/x", "x"))], Some(base));
    store.write(unrelated).await.unwrap();
    assert_eq!(
        store.page("/matches").await.unwrap().unwrap().identity,
        b"with-a-and-b"
    );
}

async fn tokens_are_stored_by_hash_and_revocable(store: S) {
    let t = store
        .create_token("desk", Role::Editor, "hash-1")
        .await
        .unwrap();
    assert_eq!((t.name.as_str(), t.role), ("desk", Role::Editor));
    assert!(t.last_used_at.is_none() && t.revoked_at.is_none());
    let err = store
        .create_token("desk", Role::Admin, "hash-2")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Duplicate(_)), "{err:?}");

    let found = store.token_by_hash("hash-1").await.unwrap().unwrap();
    assert_eq!(found.name, "desk");
    assert!(store.token_by_hash("nope").await.unwrap().is_none());

    let used = Utc::now();
    store.touch_token("desk", used).await.unwrap();
    let found = store.token_by_hash("hash-1").await.unwrap().unwrap();
    assert!(
        (found.last_used_at.unwrap() - used)
            .num_milliseconds()
            .abs()
            < 1
    );

    store.revoke_token("desk").await.unwrap();
    assert!(store.token_by_hash("hash-1").await.unwrap().is_none());
    assert!(matches!(
        store.revoke_token("desk").await,
        Err(StoreError::NotFound)
    ));
    // Recording a use is best effort: a token revoked meanwhile, or a name
    // never seen, is left alone without an error.
    store.touch_token("desk", Utc::now()).await.unwrap();
    store.touch_token("nobody", Utc::now()).await.unwrap();
    let revoked = store.tokens().await.unwrap();
    assert_eq!(revoked.len(), 1);
    assert!(
        (revoked[0].last_used_at.unwrap() - used)
            .num_milliseconds()
            .abs()
            < 1,
        "a revoked token's last use stays"
    );
    assert!(matches!(
        store.revoke_token("ghost").await,
        Err(StoreError::NotFound)
    ));

    // A revoked name can be given to a new token.
    store
        .create_token("desk", Role::Admin, "hash-3")
        .await
        .unwrap();
    let all = store.tokens().await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(all[0].revoked_at.is_some() && all[1].revoked_at.is_none());
    assert_eq!(
        store.token_by_hash("hash-3").await.unwrap().unwrap().role,
        Role::Admin
    );
}

async fn content_types_are_recorded(store: S) {
    let v1 = ContentTypeRecord {
        name: "match".into(),
        schema: json!({"fields": {}}),
        hash: "h1".into(),
    };
    let team = ContentTypeRecord {
        name: "team".into(),
        schema: json!({}),
        hash: "t".into(),
    };
    store.sync_content_types(&[v1, team.clone()]).await.unwrap();
    let v2 = ContentTypeRecord {
        name: "match".into(),
        schema: json!({"fields": {"a": 1}}),
        hash: "h2".into(),
    };
    store
        .sync_content_types(std::slice::from_ref(&v2))
        .await
        .unwrap();
    let mut got = store.content_types().await.unwrap();
    got.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(got, vec![v2, team]);
}

async fn migrating_twice_is_a_noop(store: S) {
    // The fixture already migrated once.
    assert_eq!(store.migrate().await.unwrap(), 0);
    store.ping().await.unwrap();
}

async fn events_keep_the_entries_they_changed(store: S) {
    let at = Utc::now().trunc_subsecs(6);
    let entries = vec![keel::store::EventEntry {
        id: uuid::Uuid::now_v7(),
        type_name: "match".into(),
        slug: "a-v-b".into(),
        published_at: Some(at),
    }];
    let written = NewEvent {
        entries: entries.clone(),
        ..event("publish", &["/matches/a-v-b"])
    };
    store
        .write(Write::new(EntryOp::None, "alice").with_event(written))
        .await
        .unwrap();
    let events = store.events_since(0, 10).await.unwrap();
    assert_eq!(events[0].entries, entries);
}
