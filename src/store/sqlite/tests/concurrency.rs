//! Concurrent writers and a polling follower: the event log stays gap-free
//! and in commit order, and the follower never skips a seq.

use std::sync::Arc;

use serde_json::json;

use super::{create, event, fresh};
use crate::store::{EntryOp, Store, StoreError, Write};

const WRITERS: usize = 8;
const WRITES_EACH: usize = 25;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_are_gap_free_under_concurrent_writers() {
    let (store, _dir) = fresh().await;
    let store = Arc::new(store);
    let shared = create(&store, "match", "shared", json!({"n": 0})).await;

    let follower = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            let mut last = 0;
            let mut seen = Vec::new();
            while seen.len() < WRITERS * WRITES_EACH {
                let events = store.events_since(last, 7).await.expect("events_since");
                for ev in &events {
                    // Never a gap: what follows `last` is always `last + 1`.
                    assert_eq!(ev.seq, last + 1, "follower skipped a seq");
                    last = ev.seq;
                    seen.push(ev.kind.clone());
                }
                if events.is_empty() {
                    tokio::task::yield_now().await;
                }
            }
            seen
        })
    };

    let writers = (0..WRITERS).map(|w| {
        let store = Arc::clone(&store);
        let shared = shared.id;
        tokio::spawn(async move {
            let mut committed = Vec::new();
            for i in 0..WRITES_EACH {
                // Every other write first races on the shared entry with a
                // stale version; its failure must not burn a seq.
                if i % 2 == 0 {
                    let stale = Write::new(
                        EntryOp::Update {
                            id: shared,
                            expected_version: Some(0),
                            slug: "shared".into(),
                            data: json!({"w": w}),
                        },
                        "racer",
                    )
                    .with_event(event("lost", &[]));
                    let err = store.write(stale).await.expect_err("stale write");
                    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
                }
                let kind = format!("w{w}-{i}");
                let write = Write::new(EntryOp::None, "writer").with_event(event(&kind, &["/"]));
                let seq = store.write(write).await.expect("write").seq.expect("seq");
                committed.push((seq, kind));
            }
            committed
        })
    });
    let mut committed = Vec::new();
    for writer in futures_util::future::join_all(writers).await {
        committed.extend(writer.expect("writer task"));
    }
    let seen = follower.await.expect("follower task");

    committed.sort();
    let seqs: Vec<i64> = committed.iter().map(|(seq, _)| *seq).collect();
    let expected: Vec<i64> = (1..=(WRITERS * WRITES_EACH) as i64).collect();
    assert_eq!(seqs, expected);
    // The follower saw every event in seq order, each the write that took it.
    let kinds: Vec<String> = committed.into_iter().map(|(_, kind)| kind).collect();
    assert_eq!(seen, kinds);
    assert_eq!(
        store.last_seq().await.unwrap(),
        (WRITERS * WRITES_EACH) as i64
    );
    assert_eq!(store.entry(shared.id).await.unwrap().unwrap().version, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_version_checked_updates_let_exactly_one_win() {
    let (store, _dir) = fresh().await;
    let store = Arc::new(store);
    let entry = create(&store, "match", "contested", json!({})).await;
    let attempts = (0..WRITERS).map(|w| {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            let op = EntryOp::Update {
                id: entry.id,
                expected_version: Some(1),
                slug: "contested".into(),
                data: json!({"winner": w}),
            };
            store.write(Write::new(op, "editor")).await
        })
    });
    let results: Vec<_> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1);
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| matches!(
                e,
                StoreError::Conflict {
                    expected: 1,
                    found: 2
                }
            ))
    );
    assert_eq!(store.revisions(entry.id).await.unwrap().len(), 2);
}
