//! The store's half of the outbox, on both backends: node heartbeats that
//! expire, one lease per destination, a cursor that moves only from where
//! its holder last saw it, and the delivery log.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use keel::store::{DELIVERIES_KEPT, Delivery, Store};

use crate::on_both_backends;

type S = Arc<dyn Store>;

on_both_backends!(
    store:
    heartbeats_name_the_live_nodes_until_they_expire_or_leave,
    one_node_at_a_time_holds_a_destination,
    a_cursor_moves_only_from_where_its_holder_saw_it,
    the_delivery_log_keeps_the_latest_attempts,
);

const LONG: Duration = Duration::from_secs(60);

async fn heartbeats_name_the_live_nodes_until_they_expire_or_leave(store: S) {
    store.heartbeat("a", 5, LONG).await.unwrap();
    store
        .heartbeat("b", 3, Duration::from_millis(300))
        .await
        .unwrap();
    store.heartbeat("a", 7, LONG).await.unwrap();
    let live = store.live_nodes().await.unwrap();
    let seen: Vec<(&str, i64)> = live.iter().map(|n| (n.node.as_str(), n.held_seq)).collect();
    assert_eq!(seen, [("a", 7), ("b", 3)]);
    assert!(live[0].expires_at > live[0].seen_at);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let live = store.live_nodes().await.unwrap();
    assert_eq!(live.len(), 1, "b expired: {live:?}");
    store.heartbeat("a", 7, Duration::ZERO).await.unwrap();
    assert!(store.live_nodes().await.unwrap().is_empty(), "a left");
}

async fn one_node_at_a_time_holds_a_destination(store: S) {
    let short = Duration::from_millis(300);
    // The first lease creates the cursor at the log's end.
    assert_eq!(
        store
            .lease_destination("edge", "a", short, 40)
            .await
            .unwrap(),
        Some(40)
    );
    assert_eq!(
        store.lease_destination("edge", "b", LONG, 0).await.unwrap(),
        None
    );
    // Renewed by its holder, the start is ignored: the cursor exists.
    assert_eq!(
        store
            .lease_destination("edge", "a", short, 99)
            .await
            .unwrap(),
        Some(40)
    );
    // Expired: another node takes over from the same place.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        store.lease_destination("edge", "b", LONG, 0).await.unwrap(),
        Some(40)
    );
    assert_eq!(
        store.lease_destination("edge", "a", LONG, 0).await.unwrap(),
        None
    );
    // Given up: free at once.
    store
        .lease_destination("edge", "b", Duration::ZERO, 0)
        .await
        .unwrap();
    assert_eq!(
        store.lease_destination("edge", "a", LONG, 0).await.unwrap(),
        Some(40)
    );
    // Destinations are independent.
    assert_eq!(
        store
            .lease_destination("hook", "b", LONG, 41)
            .await
            .unwrap(),
        Some(41)
    );
    let cursors = store.outbox_cursors().await.unwrap();
    let held: Vec<(&str, i64, Option<&str>)> = cursors
        .iter()
        .map(|c| (c.destination.as_str(), c.seq, c.holder.as_deref()))
        .collect();
    assert_eq!(held, [("edge", 40, Some("a")), ("hook", 41, Some("b"))]);
}

async fn a_cursor_moves_only_from_where_its_holder_saw_it(store: S) {
    assert_eq!(
        store
            .lease_destination("edge", "a", LONG, 10)
            .await
            .unwrap(),
        Some(10)
    );
    assert!(store.advance_cursor("edge", "a", 10, 12).await.unwrap());
    // A stale view (a duplicate sender) changes nothing.
    assert!(!store.advance_cursor("edge", "a", 10, 11).await.unwrap());
    // Nor does a node without the lease.
    assert!(!store.advance_cursor("edge", "b", 12, 15).await.unwrap());
    assert!(!store.advance_cursor("nowhere", "a", 0, 1).await.unwrap());
    assert_eq!(
        store.lease_destination("edge", "a", LONG, 0).await.unwrap(),
        Some(12)
    );
}

fn attempt(n: i32, ok: bool) -> Delivery {
    Delivery {
        destination: "edge".into(),
        first_seq: 1,
        last_seq: 3,
        attempt: n,
        ok,
        status: ok.then_some(200),
        detail: if ok {
            "purged 3 keys".into()
        } else {
            "connection refused".into()
        },
        duration_ms: 4,
        node: "a".into(),
        at: Utc::now(),
    }
}

async fn the_delivery_log_keeps_the_latest_attempts(store: S) {
    store.log_delivery(&attempt(1, false)).await.unwrap();
    store.log_delivery(&attempt(2, true)).await.unwrap();
    let log = store.deliveries("edge", 10).await.unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(
        (log[0].attempt, log[0].ok, log[0].status),
        (2, true, Some(200))
    );
    assert_eq!((log[1].attempt, log[1].ok, log[1].status), (1, false, None));
    assert_eq!(log[1].detail, "connection refused");
    assert!(store.deliveries("other", 10).await.unwrap().is_empty());
    for n in 0..DELIVERIES_KEPT {
        store
            .log_delivery(&attempt(i32::try_from(n).unwrap() + 3, true))
            .await
            .unwrap();
    }
    let log = store.deliveries("edge", u32::MAX).await.unwrap();
    assert_eq!(i64::try_from(log.len()).unwrap(), DELIVERIES_KEPT);
    assert_eq!(log[0].attempt, i32::try_from(DELIVERIES_KEPT).unwrap() + 2);
}
