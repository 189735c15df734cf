//! Pages and events carried by writes, and the guard against outdated pages.

use serde_json::json;

use super::{create, event, fresh, page};
use crate::model::PageWrite;
use crate::store::{EntryOp, Store, StoreError, Write};

fn pages_only() -> Write {
    Write::new(EntryOp::None, "renderer")
}

#[tokio::test]
async fn pages_round_trip_and_take_the_event_seq() {
    let (store, _dir) = fresh().await;
    let entry = create(&store, "match", "a", json!({})).await;
    let mut own = page("/matches/a", "A");
    own.entry_id = Some(entry.id);
    own.seq = 42;
    let outcome = store
        .write(
            Write::new(
                EntryOp::Publish {
                    id: entry.id,
                    expected_version: Some(1),
                },
                "ed",
            )
            .with_event(event("publish", &["/matches/a", "/"]))
            .with_pages(
                vec![
                    PageWrite::Upsert(own.clone()),
                    PageWrite::Upsert(page("/", "home")),
                ],
                None,
            ),
        )
        .await
        .unwrap();
    assert_eq!(outcome.seq, Some(1));
    assert_eq!(outcome.entry.unwrap().version, 2);
    let stored = store.page("/matches/a").await.unwrap().unwrap();
    assert_eq!(
        stored,
        crate::model::Page {
            seq: 1,
            ..own.clone()
        }
    );

    let events = store.events_since(0, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    let ev = &events[0];
    assert_eq!(
        (ev.seq, ev.kind.as_str(), ev.entry_id),
        (1, "publish", Some(entry.id))
    );
    assert_eq!(ev.paths, vec!["/matches/a", "/"]);
    assert_eq!(ev.keys, vec!["key:publish"]);

    // Without an event the page keeps its own seq; an upsert replaces by path.
    let mut replaced = page("/matches/a", "A2");
    replaced.seq = 7;
    replaced.status = 404;
    store
        .write(pages_only().with_pages(vec![PageWrite::Upsert(replaced.clone())], None))
        .await
        .unwrap();
    assert_eq!(store.page("/matches/a").await.unwrap(), Some(replaced));
    assert_eq!(store.last_seq().await.unwrap(), 1);
    // Only 200 pages are listed.
    assert_eq!(store.page_paths().await.unwrap(), vec!["/"]);

    let many = store
        .pages(&["/".into(), "/missing".into(), "/matches/a".into()])
        .await
        .unwrap();
    let mut paths: Vec<_> = many.into_iter().map(|p| p.path).collect();
    paths.sort();
    assert_eq!(paths, vec!["/", "/matches/a"]);
    assert!(store.pages(&[]).await.unwrap().is_empty());

    let outcome = store
        .write(pages_only().with_pages(vec![PageWrite::Delete("/".into())], None))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        crate::store::WriteOutcome {
            entry: None,
            seq: None,
            others: Vec::new(),
        }
    );
    assert_eq!(store.page("/").await.unwrap(), None);
    assert!(store.page_paths().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_pages_only_event_has_no_entry() {
    let (store, _dir) = fresh().await;
    let outcome = store
        .write(pages_only().with_event(event("render", &["/"])))
        .await
        .unwrap();
    assert_eq!(outcome.seq, Some(1));
    assert_eq!(store.events_since(0, 10).await.unwrap()[0].entry_id, None);
}

#[tokio::test]
async fn events_since_pages_through_the_log() {
    let (store, _dir) = fresh().await;
    for i in 0..5 {
        let seq = store
            .write(pages_only().with_event(event(&format!("e{i}"), &[])))
            .await
            .unwrap()
            .seq;
        assert_eq!(seq, Some(i + 1));
    }
    let seqs =
        |events: Vec<crate::store::Event>| -> Vec<i64> { events.iter().map(|e| e.seq).collect() };
    assert_eq!(seqs(store.events_since(0, 2).await.unwrap()), vec![1, 2]);
    assert_eq!(
        seqs(store.events_since(2, 10).await.unwrap()),
        vec![3, 4, 5]
    );
    assert!(store.events_since(5, 10).await.unwrap().is_empty());
    assert_eq!(store.last_seq().await.unwrap(), 5);
}

#[tokio::test]
async fn pages_rendered_before_a_newer_event_on_their_path_are_refused() {
    let (store, _dir) = fresh().await;
    // seq 1 touches "/", seq 2 touches "/other".
    store
        .write(pages_only().with_event(event("a", &["/"])))
        .await
        .unwrap();
    store
        .write(pages_only().with_event(event("b", &["/other"])))
        .await
        .unwrap();
    let entry = create(&store, "match", "m", json!({})).await;

    let listing = vec![PageWrite::Upsert(page("/", "stale listing"))];
    let err = store
        .write(
            Write::new(
                EntryOp::Publish {
                    id: entry.id,
                    expected_version: Some(1),
                },
                "ed",
            )
            .with_event(event("publish", &["/", "/matches/m"]))
            .with_pages(listing.clone(), Some(0)),
        )
        .await
        .unwrap_err();
    match err {
        StoreError::PagesOutdated { base, newer, path } => {
            assert_eq!((base, newer, path.as_str()), (0, 1, "/"))
        }
        other => panic!("expected PagesOutdated, got {other:?}"),
    }
    // Nothing of the failed write remains: entry, revision, event, page.
    assert_eq!(store.entry(entry.id).await.unwrap().unwrap().version, 1);
    assert_eq!(store.revisions(entry.id).await.unwrap().len(), 1);
    assert_eq!(store.last_seq().await.unwrap(), 2);
    assert_eq!(store.page("/").await.unwrap(), None);

    // A delete of an outdated path counts too.
    let err = store
        .write(pages_only().with_pages(vec![PageWrite::Delete("/other".into())], Some(1)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::PagesOutdated { newer: 2, .. }),
        "{err:?}"
    );

    // Rendered from seq 1, "/" has no newer event: accepted, and the write's
    // own event (which names "/") does not count against it.
    let outcome = store
        .write(
            Write::new(
                EntryOp::Publish {
                    id: entry.id,
                    expected_version: Some(1),
                },
                "ed",
            )
            .with_event(event("publish", &["/", "/matches/m"]))
            .with_pages(listing, Some(1)),
        )
        .await
        .unwrap();
    assert_eq!(outcome.seq, Some(3));
    assert_eq!(store.page("/").await.unwrap().unwrap().seq, 3);
}

#[tokio::test]
async fn a_failed_write_leaves_no_event_page_or_revision() {
    let (store, _dir) = fresh().await;
    let entry = create(&store, "match", "m", json!({})).await;
    let err = store
        .write(
            Write::new(
                EntryOp::Update {
                    id: entry.id,
                    expected_version: Some(5),
                    slug: "m2".into(),
                    data: json!({"changed": true}),
                },
                "ed",
            )
            .with_event(event("update", &["/matches/m"]))
            .with_pages(vec![PageWrite::Upsert(page("/matches/m", "x"))], None),
        )
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::Conflict {
            expected: 5,
            found: 1
        }
    ));
    assert_eq!(store.entry(entry.id).await.unwrap(), Some(entry.clone()));
    assert_eq!(store.revisions(entry.id).await.unwrap().len(), 1);
    assert_eq!(store.last_seq().await.unwrap(), 0);
    assert!(store.events_since(0, 10).await.unwrap().is_empty());
    assert_eq!(store.page("/matches/m").await.unwrap(), None);
    // The seq not taken is the next one handed out: no gap.
    let ok = store
        .write(pages_only().with_event(event("x", &[])))
        .await
        .unwrap();
    assert_eq!(ok.seq, Some(1));
}
