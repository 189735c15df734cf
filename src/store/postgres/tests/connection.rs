//! Connecting, pool limits, recovery and migrations.

use std::time::{Duration, Instant};

use super::super::{PgOptions, PgStore};
use super::harness::{self, TestDb};
use crate::store::{Store, StoreError};

#[tokio::test]
async fn ping_on_a_closed_port_is_unavailable_within_three_seconds() {
    // Bind then release a port so nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free local port")
        .port();
    let started = Instant::now();
    let store = PgStore::connect(&format!("postgres://postgres@127.0.0.1:{port}/none"))
        .await
        .expect("the pool connects lazily");
    let result = store.ping().await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // A query that needs a connection fails the same way.
    assert!(store.last_seq().await.is_err_and(|e| e.is_unavailable()));
}

#[tokio::test]
async fn an_invalid_url_is_an_error_not_a_panic() {
    for url in ["postgres://user@host:notaport/db", "not a url at all ="] {
        let result = PgStore::connect(url).await;
        assert!(matches!(result, Err(StoreError::Backend(_))), "{url}");
    }
}

#[tokio::test]
async fn a_full_pool_is_unavailable_after_the_acquire_timeout() {
    let options = PgOptions {
        pool_size: 1,
        acquire_timeout: Duration::from_millis(100),
        ..PgOptions::default()
    };
    let Some(store) = harness::store_with(options).await else {
        return;
    };
    let held = store.pool.get().await.expect("the only connection");
    let started = Instant::now();
    let result = store.ping().await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    drop(held);
    store.ping().await.expect("the connection is free again");
}

#[tokio::test]
async fn the_pool_recovers_after_its_connections_are_killed() {
    let Some(store) = harness::store().await else {
        return;
    };
    store.ping().await.expect("ping");
    let killer = PgStore::connect(&store.db.url).await.expect("pool");
    let client = killer.pool.get().await.expect("a connection");
    client
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .expect("terminate the other sessions");
    // The killed connection may fail one query, and only as Unavailable;
    // after that the pool opens a new one.
    let mut recovered = false;
    for _ in 0..5 {
        match store.ping().await {
            Ok(()) => {
                recovered = true;
                break;
            }
            Err(e) => assert!(e.is_unavailable(), "{e:?}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(recovered, "the pool did not reconnect");
}

/// The migration files shipped for PostgreSQL.
fn migrations() -> usize {
    std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .expect("migrations directory")
        .count()
}

#[tokio::test]
async fn migrate_applies_once_then_has_nothing_to_do() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = PgStore::connect(&db.url).await.expect("pool");
    assert_eq!(store.migrate().await.expect("first run"), migrations());
    assert_eq!(store.migrate().await.expect("second run"), 0);
    assert_eq!(store.last_seq().await.expect("the counter row exists"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrations_on_a_fresh_database_both_succeed() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    // Two nodes starting at once: separate pools, separate sessions.
    let a = PgStore::connect(&db.url).await.expect("pool a");
    let b = PgStore::connect(&db.url).await.expect("pool b");
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    let applied = ra.expect("node a migrates") + rb.expect("node b migrates");
    assert_eq!(
        applied,
        migrations(),
        "exactly one node applies each migration"
    );
    a.ping().await.expect("ping");
    assert_eq!(b.count_entries().await.expect("the schema is there"), 0);
}
