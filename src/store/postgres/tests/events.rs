//! The event log, pages, the outdated-pages check and NOTIFY.

use std::collections::HashSet;
use std::time::Duration;

use super::super::EVENTS_CHANNEL;
use super::harness::{self, create, created, event, page};
use crate::model::PageWrite;
use crate::store::{EntryOp, Store, StoreError, Write};

#[tokio::test]
async fn events_get_consecutive_seqs_and_carry_the_entry_id() {
    let Some(store) = harness::store().await else {
        return;
    };
    assert_eq!(store.last_seq().await.expect("seq"), 0);
    let first = store
        .write(create("match", "a").with_event(event("created", &["/matches/a"])))
        .await
        .expect("write");
    let id = first.entry.expect("entry").id;
    let second = Write::new(EntryOp::None, "t").with_event(event("listing", &["/", "/matches"]));
    let second = store.write(second).await.expect("pages-only write");
    assert_eq!((first.seq, second.seq), (Some(1), Some(2)));
    assert_eq!(second.entry, None);
    // A write without an event takes no seq.
    assert_eq!(
        store.write(create("match", "b")).await.expect("write").seq,
        None
    );
    assert_eq!(store.last_seq().await.expect("seq"), 2);

    let events = store.events_since(0, 10).await.expect("events");
    assert_eq!(events.len(), 2);
    assert_eq!((events[0].seq, events[0].entry_id), (1, Some(id)));
    assert_eq!(events[0].paths, vec!["/matches/a".to_owned()]);
    assert_eq!(events[0].keys, vec!["k:created".to_owned()]);
    assert_eq!(
        (events[1].seq, events[1].entry_id, events[1].kind.as_str()),
        (2, None, "listing")
    );
    assert!(events[1].created_at >= events[0].created_at);
    assert_eq!(store.events_since(1, 10).await.expect("events")[0].seq, 2);
    assert_eq!(store.events_since(0, 1).await.expect("events").len(), 1);
    assert!(store.events_since(2, 10).await.expect("events").is_empty());
}

#[tokio::test]
async fn pages_take_the_event_seq_and_can_be_replaced_and_deleted() {
    let Some(store) = harness::store().await else {
        return;
    };
    let id = created(&store, "match", "p").await;
    let mut own_seq = page("/", None);
    own_seq.seq = 41;
    let mut not_found = page("/404", None);
    not_found.status = 404;
    let pages_only = Write::new(EntryOp::None, "t").with_pages(
        vec![
            PageWrite::Upsert(own_seq.clone()),
            PageWrite::Upsert(not_found.clone()),
        ],
        None,
    );
    store
        .write(pages_only)
        .await
        .expect("pages without an event");
    assert_eq!(store.page("/").await.expect("page"), Some(own_seq));
    assert_eq!(store.page("/404").await.expect("page"), Some(not_found));

    let mut match_page = page("/matches/p", Some(id));
    match_page.seq = 999;
    let with_event = Write::new(
        EntryOp::Publish {
            id,
            expected_version: None,
        },
        "t",
    )
    .with_event(event("published", &["/matches/p", "/"]))
    .with_pages(
        vec![
            PageWrite::Upsert(match_page.clone()),
            PageWrite::Upsert(page("/", None)),
        ],
        Some(0),
    );
    assert_eq!(store.write(with_event).await.expect("publish").seq, Some(1));
    let stored = store
        .page("/matches/p")
        .await
        .expect("page")
        .expect("stored");
    assert_eq!(stored.seq, 1, "the event's seq, not the page's own");
    assert_eq!(
        stored,
        crate::model::Page {
            seq: 1,
            ..match_page
        }
    );
    assert_eq!(
        store.page("/").await.expect("page").expect("replaced").seq,
        1
    );

    assert_eq!(
        store.page_paths().await.expect("paths"),
        vec!["/", "/matches/p"]
    );
    let wanted = [
        "/matches/p".to_owned(),
        "/nowhere".to_owned(),
        "/404".to_owned(),
    ];
    let mut found: Vec<_> = store
        .pages(&wanted)
        .await
        .expect("pages")
        .into_iter()
        .map(|p| p.path)
        .collect();
    found.sort();
    assert_eq!(found, vec!["/404", "/matches/p"]);
    assert!(store.pages(&[]).await.expect("none").is_empty());

    let delete = Write::new(EntryOp::None, "t")
        .with_event(event("removed", &["/matches/p"]))
        .with_pages(vec![PageWrite::Delete("/matches/p".into())], Some(1));
    store.write(delete).await.expect("delete page");
    assert_eq!(store.page("/matches/p").await.expect("page"), None);
}

#[tokio::test]
async fn outdated_pages_fail_the_write_and_leave_nothing() {
    let Some(store) = harness::store().await else {
        return;
    };
    let listing = |base| {
        Write::new(EntryOp::None, "t")
            .with_event(event("listing", &["/"]))
            .with_pages(vec![PageWrite::Upsert(page("/", None))], base)
    };
    store
        .write(listing(Some(0)))
        .await
        .expect("seq 1 renders /");
    let unrelated = Write::new(EntryOp::None, "t").with_event(event("other", &["/teams"]));
    store
        .write(unrelated)
        .await
        .expect("seq 2 touches another path");

    // A create whose listing was rendered before seq 1 must not overwrite it.
    let stale = create("match", "late")
        .with_event(event("created", &["/matches/late", "/"]))
        .with_pages(
            vec![
                PageWrite::Upsert(page("/matches/late", None)),
                PageWrite::Upsert(page("/", None)),
            ],
            Some(0),
        );
    match store.write(stale).await {
        Err(StoreError::PagesOutdated {
            base: 0,
            newer: 1,
            path,
        }) => assert_eq!(path, "/"),
        other => panic!("expected outdated pages, got {other:?}"),
    }
    assert_eq!(
        store.entry_by_slug("match", "late").await.expect("read"),
        None
    );
    assert_eq!(store.count_entries().await.expect("count"), 0);
    assert_eq!(store.last_seq().await.expect("seq"), 2);
    assert_eq!(store.page("/matches/late").await.expect("page"), None);
    assert_eq!(store.page("/").await.expect("page").expect("kept").seq, 1);

    // Rendered from seq 1 (or later) it goes through; seq 2 did not touch "/".
    assert_eq!(
        store.write(listing(Some(1))).await.expect("current").seq,
        Some(3)
    );
    let deletion_outdated =
        Write::new(EntryOp::None, "t").with_pages(vec![PageWrite::Delete("/".into())], Some(2));
    match store.write(deletion_outdated).await {
        Err(StoreError::PagesOutdated {
            base: 2, newer: 3, ..
        }) => {}
        other => panic!("expected outdated pages, got {other:?}"),
    }
}

#[tokio::test]
async fn committed_events_are_notified_with_their_seq() {
    let Some(store) = harness::store().await else {
        return;
    };
    let (_client, mut rx, listener) = harness::listen_events(&store.db.url).await;

    created(&store, "match", "taken").await;
    let rolled_back = create("match", "taken").with_event(event("created", &["/x"]));
    assert!(store.write(rolled_back).await.is_err());
    let write = Write::new(EntryOp::None, "t").with_event(event("listing", &["/"]));
    let seq = store.write(write).await.expect("write").seq.expect("a seq");

    let received = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a notification arrives")
        .expect("the listener is running");
    assert_eq!(received, (EVENTS_CHANNEL.to_owned(), seq.to_string()));
    listener.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_never_leave_a_gap_a_reader_could_miss() {
    const WRITERS: usize = 8;
    const EACH: usize = 25;
    let Some(store) = harness::store().await else {
        return;
    };
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = store.store.clone();
        writers.push(tokio::spawn(async move {
            let mut seqs = Vec::with_capacity(EACH);
            for i in 0..EACH {
                let slug = format!("w{w}-{i}");
                let path = format!("/matches/{slug}");
                let write = create("match", &slug).with_event(event("created", &[&path, "/"]));
                seqs.push(store.write(write).await.expect("write").seq.expect("seq"));
            }
            seqs
        }));
    }
    // The reader polls like a follower: everything after the last seen seq.
    let reader_store = store.store.clone();
    let reader = tokio::spawn(async move {
        let (mut last, total) = (0_i64, (WRITERS * EACH) as i64);
        while last < total {
            for e in reader_store.events_since(last, 50).await.expect("poll") {
                assert_eq!(e.seq, last + 1, "a reader at {last} saw {} first", e.seq);
                last = e.seq;
            }
            tokio::task::yield_now().await;
        }
        last
    });
    let mut all = HashSet::new();
    for writer in writers {
        let seqs = writer.await.expect("writer task");
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "one writer's seqs increase"
        );
        all.extend(seqs);
    }
    let seen = tokio::time::timeout(Duration::from_secs(30), reader)
        .await
        .expect("the reader catches up")
        .expect("reader task");
    let total = (WRITERS * EACH) as i64;
    assert_eq!(seen, total);
    assert_eq!(all, (1..=total).collect::<HashSet<_>>());
    assert_eq!(store.last_seq().await.expect("seq"), total);
}
