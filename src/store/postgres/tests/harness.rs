//! A throwaway database per test, dropped by a guard, plus write builders.

use std::io::Write as _;
use std::str::FromStr;
use std::sync::Once;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use serde_json::json;
use tokio_postgres::NoTls;

use super::super::{PgOptions, PgStore};
use crate::model::{CachePolicy, EntryId, Page};
use crate::store::{EntryOp, NewEvent, Store, Write};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A database created for one test and dropped (`WITH (FORCE)`) when this
/// guard goes, whether the test passed or panicked.
pub struct TestDb {
    admin_url: String,
    name: String,
    pub url: String,
}

impl TestDb {
    /// Creates a fresh database, or `None` when PostgreSQL is unreachable
    /// outside CI (under `CI=true` that is a failure).
    pub async fn create() -> Option<TestDb> {
        let admin_url =
            std::env::var("KEEL_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
        let admin = match admin_client(&admin_url).await {
            Ok(client) => client,
            Err(e) => {
                let why = match std::error::Error::source(&e) {
                    Some(cause) => format!("{e}: {cause}"),
                    None => e.to_string(),
                };
                if std::env::var("CI").as_deref() == Ok("true") {
                    panic!("PostgreSQL at {admin_url} is unreachable under CI: {why}");
                }
                static SKIP: Once = Once::new();
                SKIP.call_once(|| {
                    // Straight to stderr: the test harness swallows eprintln!
                    // from passing tests, and a skip must be seen.
                    let line =
                        format!("PostgreSQL tests skipped: {admin_url} is unreachable ({why})\n");
                    let _ = std::io::stderr().write_all(line.as_bytes());
                });
                return None;
            }
        };
        let name = format!("keel_t_{}", uuid::Uuid::new_v4().simple());
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("the test server lets us create databases");
        let mut url = url::Url::parse(&admin_url).expect("the test database URL is a URL");
        url.set_path(&format!("/{name}"));
        Some(TestDb {
            admin_url,
            name,
            url: url.to_string(),
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop cannot await, and the test's runtime may be shutting down:
        // run the DROP on a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let admin = admin_client(&admin_url).await.map_err(|e| e.to_string())?;
                let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                admin.batch_execute(&sql).await.map_err(|e| e.to_string())
            })
        })
        .join();
        if let Ok(Err(e)) | Err(e) = dropped.map_err(|_| "the drop thread panicked".to_owned()) {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

async fn admin_client(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut config = tokio_postgres::Config::from_str(url)?;
    config.connect_timeout(Duration::from_secs(2));
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// A migrated store on a fresh database. The store is declared first so its
/// connections go before the database does.
pub struct TestStore {
    pub store: PgStore,
    pub db: TestDb,
}

impl std::ops::Deref for TestStore {
    type Target = PgStore;
    fn deref(&self) -> &PgStore {
        &self.store
    }
}

pub async fn store() -> Option<TestStore> {
    store_with(PgOptions::default()).await
}

pub async fn store_with(options: PgOptions) -> Option<TestStore> {
    let db = TestDb::create().await?;
    let store = PgStore::connect_with(&db.url, options)
        .await
        .expect("a pool builds for a valid URL");
    store.migrate().await.expect("migrations apply");
    Some(TestStore { store, db })
}

pub fn create(type_name: &str, slug: &str) -> Write {
    Write::new(
        EntryOp::Create {
            type_name: type_name.to_owned(),
            slug: slug.to_owned(),
            data: json!({ "title": slug }),
        },
        "tester",
    )
}

pub fn event(kind: &str, paths: &[&str]) -> NewEvent {
    NewEvent {
        kind: kind.to_owned(),
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        keys: vec![format!("k:{kind}")],
        entries: Vec::new(),
    }
}

pub fn page(path: &str, entry_id: Option<EntryId>) -> Page {
    Page {
        path: path.to_owned(),
        entry_id,
        status: 200,
        content_type: "text/html; charset=utf-8".to_owned(),
        identity: format!("<h1>{path}</h1>").into_bytes(),
        br: vec![0x1b, 0x00, 0xff],
        gzip: vec![0x1f, 0x8b, 0x08, 0x00],
        etag: format!("etag-{path}"),
        last_modified: Utc
            .with_ymd_and_hms(2026, 5, 1, 12, 0, 0)
            .single()
            .expect("a valid fixed date"),
        surrogate_keys: vec!["match".to_owned(), format!("page:{path}")],
        cache_policy: CachePolicy::default(),
        seq: 0,
    }
}

/// Creates an entry and returns its id.
pub async fn created(store: &PgStore, type_name: &str, slug: &str) -> EntryId {
    let outcome = store.write(create(type_name, slug)).await.expect("create");
    outcome.entry.expect("create returns the entry").id
}

/// A connection listening on the events channel, its notifications as
/// `(channel, payload)`, and the task polling it (abort when done).
pub async fn listen_events(
    url: &str,
) -> (
    tokio_postgres::Client,
    tokio::sync::mpsc::UnboundedReceiver<(String, String)>,
    tokio::task::JoinHandle<()>,
) {
    use futures_util::StreamExt;
    let mut config = tokio_postgres::Config::from_str(url).expect("url");
    config.connect_timeout(Duration::from_secs(2));
    let (client, mut connection) = config.connect(NoTls).await.expect("listener connects");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    // Only a connection polled for messages delivers notifications.
    let listener = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let tokio_postgres::AsyncMessage::Notification(n) = message {
                let _ = tx.send((n.channel().to_owned(), n.payload().to_owned()));
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN {}", super::super::EVENTS_CHANNEL))
        .await
        .expect("listen");
    (client, rx, listener)
}
