//! The follower against a real SQLite store: catching up in order, waking on
//! a local commit, stopping on shutdown.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::cache::testing::{Fixture, html_page};
use crate::store::{EntryOp, NewEvent, Write};

async fn commit(fx: &Fixture, path: &str, body: &str) -> i64 {
    let write = Write::new(EntryOp::None, "t")
        .with_pages(vec![PageWrite::Upsert(html_page(path, body))], None)
        .with_event(NewEvent {
            kind: "test".into(),
            paths: vec![path.to_owned()],
            keys: Vec::new(),
            entries: Vec::new(),
        });
    fx.store
        .write(write)
        .await
        .expect("write")
        .seq
        .expect("event seq")
}

#[tokio::test]
async fn catch_up_applies_every_event_after_the_last_and_records_it() {
    let fx = Fixture::new().await;
    let boot = commit(&fx, "/old", "O").await;
    let cache = Arc::new(fx.cache());
    let mut follower = Follower::new(fx.store.clone(), cache.clone(), &fx.metrics, boot);
    let mut last = boot;
    for i in 0..3 {
        last = commit(&fx, &format!("/p{i}"), "P").await;
    }

    assert_eq!(follower.catch_up().await.expect("log readable"), 3);
    assert_eq!(follower.last_seq(), last);
    assert_eq!(fx.metrics.event_seq.get(), last);
    assert_eq!(fx.metrics.events_applied.get(), 3);
    assert_eq!(fx.metrics.invalidation_lag.get_sample_count(), 3);
    assert!(cache.index().contains("/p2"));
    assert!(!cache.index().contains("/old"), "applied before boot");
    assert_eq!(follower.catch_up().await.expect("log readable"), 0);
}

#[tokio::test]
async fn a_local_commit_wakes_the_follower_and_shutdown_stops_it() {
    let fx = Fixture::new().await;
    let cache = Arc::new(fx.cache());
    let follower = Follower::new(fx.store.clone(), cache.clone(), &fx.metrics, 0);
    let wakeup = Wakeup::new();
    let (stop, rx) = watch::channel(false);
    // A poll far longer than the test: only the wake-up can apply the event.
    let task = tokio::spawn(run(
        follower,
        Source::Local,
        wakeup.clone(),
        Duration::from_secs(3600),
        rx,
    ));
    tokio::time::sleep(Duration::from_millis(20)).await;

    let seq = commit(&fx, "/a", "A").await;
    CommitSignal::new(cache.clone(), wakeup)
        .apply(&[PageWrite::Upsert(html_page("/a", "A"))])
        .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while fx.metrics.event_seq.get() != seq {
        assert!(Instant::now() < deadline, "event never applied");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(cache.index().contains("/a"));

    stop.send(true).expect("task listening");
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("follower stops")
        .expect("follower ok");
}
