//! Unit tests of the SQLite backend against real temp files (an in-memory
//! database is private to one connection, and the readers need to share it).
//! The cross-backend conformance suite lives in `tests/it/`.

mod concurrency;
mod entries;
mod newsroom;
mod pages;
mod publishing;
mod tokens;

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};
use tempfile::TempDir;

use super::SqliteStore;
use crate::model::ContentTypeRecord;
use crate::model::{CachePolicy, Entry, Page};
use crate::store::{EntryOp, NewEvent, Store, StoreError, Write};

/// The files under `migrations/sqlite`.
fn migrations() -> usize {
    std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .expect("migrations directory")
        .count()
}

/// A migrated store in its own directory; the directory lives as long as the
/// returned guard.
async fn fresh() -> (SqliteStore, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("keel.db"))
        .await
        .expect("open");
    assert_eq!(store.migrate().await.expect("migrate"), migrations());
    (store, dir)
}

async fn create(store: &SqliteStore, type_name: &str, slug: &str, data: Value) -> Entry {
    let op = EntryOp::Create {
        type_name: type_name.into(),
        slug: slug.into(),
        data,
    };
    store
        .write(Write::new(op, "tester"))
        .await
        .expect("create")
        .entry
        .expect("created entry")
}

fn op_write(op: EntryOp) -> Write {
    Write::new(op, "editor-1")
}

fn event(kind: &str, paths: &[&str]) -> NewEvent {
    NewEvent {
        kind: kind.into(),
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        keys: vec![format!("key:{kind}")],
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
        br: vec![0xce, 0xb2, 0x00, 0xff],
        gzip: vec![0x1f, 0x8b, 0x08, 0x00],
        etag: format!("etag-{body}"),
        last_modified: Utc.with_ymd_and_hms(2026, 3, 1, 12, 30, 0).unwrap(),
        surrogate_keys: vec!["type:match".into(), "home".into()],
        cache_policy: CachePolicy::default(),
        seq: 0,
    }
}

#[tokio::test]
async fn open_creates_the_file_and_migrate_runs_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    assert!(!path.exists());
    let store = SqliteStore::open(&path).await.unwrap();
    assert!(path.exists());
    assert_eq!(store.path(), path);
    assert_eq!(store.backend(), "sqlite");
    assert_eq!(store.migrate().await.unwrap(), migrations());
    assert_eq!(store.migrate().await.unwrap(), 0);
    store.ping().await.unwrap();
    drop(store);

    // Reopening keeps the data and the migration record.
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(store.migrate().await.unwrap(), 0);
    assert_eq!(store.last_seq().await.unwrap(), 0);
}

#[tokio::test]
async fn open_uses_wal_and_the_pragmas() {
    let (store, _dir) = fresh().await;
    let pragmas = store
        .pool
        .read("test", |conn| {
            let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
            let fk: i64 = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
            let sync: i64 = conn.query_row("PRAGMA synchronous", [], |r| r.get(0))?;
            let busy: i64 = conn.query_row("PRAGMA busy_timeout", [], |r| r.get(0))?;
            Ok((mode, fk, sync, busy))
        })
        .await
        .unwrap();
    // synchronous NORMAL is 1.
    assert_eq!(pragmas, ("wal".to_owned(), 1, 1, 5000));
}

#[tokio::test]
async fn open_in_a_missing_directory_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let err = SqliteStore::open(&dir.path().join("no/such/dir/keel.db"))
        .await
        .err()
        .expect("open must fail");
    assert!(err.is_unavailable(), "{err:?}");
}

#[tokio::test]
async fn queries_before_migrate_fail_as_backend_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("keel.db"))
        .await
        .unwrap();
    let err = store.count_entries().await.unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
}

#[tokio::test]
async fn readers_refuse_to_write() {
    let (store, _dir) = fresh().await;
    let err = store
        .pool
        .read("test", |conn| {
            conn.execute("DELETE FROM event_counter", [])?;
            Ok(())
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert_eq!(store.last_seq().await.unwrap(), 0);
}

#[tokio::test]
async fn content_types_are_upserted_by_name() {
    let (store, _dir) = fresh().await;
    assert!(store.content_types().await.unwrap().is_empty());
    let first = vec![
        ContentTypeRecord {
            name: "match".into(),
            schema: json!({"fields": {"title": "string"}}),
            hash: "h1".into(),
        },
        ContentTypeRecord {
            name: "article".into(),
            schema: json!({"fields": {}}),
            hash: "h2".into(),
        },
    ];
    store.sync_content_types(&first).await.unwrap();
    let changed = ContentTypeRecord {
        name: "match".into(),
        schema: json!({"fields": {"title": "text"}}),
        hash: "h3".into(),
    };
    store
        .sync_content_types(std::slice::from_ref(&changed))
        .await
        .unwrap();
    // Ordered by name; the one not in the second sync stays.
    assert_eq!(
        store.content_types().await.unwrap(),
        vec![first[1].clone(), changed]
    );
}

#[tokio::test]
async fn a_panic_in_a_call_is_an_error_and_the_store_keeps_working() {
    let (store, _dir) = fresh().await;
    let err = store
        .pool
        .write("test", |tx| -> Result<(), StoreError> {
            tx.execute("UPDATE event_counter SET seq = 99", [])?;
            panic!("boom in a write");
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Backend(e) if e.to_string().contains("boom in a write")),
        "{err:?}"
    );
    // The half-done write was rolled back and the writer is usable.
    assert_eq!(store.last_seq().await.unwrap(), 0);
    create(&store, "match", "after-panic", json!({})).await;

    let err = store
        .pool
        .read("test", |_| -> Result<(), StoreError> {
            panic!("boom in a read")
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    // Every reader is still in the pool: READERS concurrent reads complete.
    let reads = (0..super::pool::READERS * 2).map(|_| store.count_entries());
    for count in futures_util::future::join_all(reads).await {
        assert_eq!(count.unwrap(), 1);
    }
}

#[tokio::test]
async fn a_poisoned_writer_lock_is_an_error_then_recovers() {
    let (store, _dir) = fresh().await;
    store.pool.poison_writer();
    let err = store
        .write(Write::new(EntryOp::None, "tester").with_event(event("x", &[])))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Backend(e) if e.to_string().contains("poisoned")),
        "{err:?}"
    );
    assert_eq!(store.last_seq().await.unwrap(), 0);
    let outcome = store
        .write(Write::new(EntryOp::None, "tester").with_event(event("x", &[])))
        .await
        .unwrap();
    assert_eq!(outcome.seq, Some(1));
}

#[tokio::test]
async fn timestamps_outside_four_digit_years_are_refused() {
    let (store, _dir) = fresh().await;
    let far = Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap();
    let err = store.due_scheduled(far, 10).await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidState(_)), "{err:?}");
}

#[test]
fn timestamp_text_order_is_time_order() {
    let times = [
        Utc.with_ymd_and_hms(999, 1, 1, 0, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::microseconds(1),
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 1).unwrap(),
        Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap(),
    ];
    let texts: Vec<String> = times
        .iter()
        .map(|t| super::codec::ts(*t).unwrap())
        .collect();
    let mut sorted = texts.clone();
    sorted.sort();
    assert_eq!(texts, sorted);
    assert!(texts.iter().all(|t| t.len() == texts[0].len()));
    assert_eq!(texts[2], "2026-01-01T00:00:00.000001Z");
}
