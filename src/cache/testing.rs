//! Test fixtures shared by the cache and delivery tests: a migrated SQLite
//! store behind the query-counting decorator, and pages to put in it.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use tempfile::TempDir;

use super::PageCache;
use crate::metrics::Metrics;
use crate::model::{CachePolicy, Page, PageWrite};
use crate::store::instrumented::Instrumented;
use crate::store::sqlite::SqliteStore;
use crate::store::{EntryOp, Store, Write};

/// 2026-03-01T12:30:00Z, the Last-Modified of every fixture page.
pub(crate) const LAST_MODIFIED_HTTP: &str = "Sun, 01 Mar 2026 12:30:00 GMT";

pub(crate) struct Fixture {
    pub store: Arc<dyn Store>,
    pub metrics: Arc<Metrics>,
    dir: TempDir,
}

impl Fixture {
    pub async fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let sqlite = SqliteStore::open(&dir.path().join("keel.db"))
            .await
            .expect("open sqlite");
        sqlite.migrate().await.expect("migrate");
        let metrics = Arc::new(Metrics::new());
        let store: Arc<dyn Store> = Arc::new(Instrumented::new(Arc::new(sqlite), metrics.clone()));
        Fixture {
            store,
            metrics,
            dir,
        }
    }

    /// A cache with a budget large enough to never evict in a test.
    pub fn cache(&self) -> PageCache {
        self.cache_of(64 * 1024 * 1024)
    }

    pub fn cache_of(&self, max_bytes: u64) -> PageCache {
        PageCache::new(self.store.clone(), self.metrics.clone(), max_bytes)
    }

    /// Stores pages the way the publish path does: a pages-only write.
    pub async fn publish(&self, pages: Vec<Page>) {
        let upserts = pages.into_iter().map(PageWrite::Upsert).collect();
        self.store
            .write(Write::new(EntryOp::None, "t").with_pages(upserts, None))
            .await
            .expect("write pages");
    }

    /// `keel_db_queries_total{op}` so far.
    pub fn queries(&self, op: &str) -> u64 {
        self.metrics.db_queries.with_label_values(&[op]).get()
    }

    /// `keel_cache_requests_total{result}` so far.
    pub fn cache_requests(&self, result: &str) -> u64 {
        let result = crate::metrics::CacheResult::ALL
            .into_iter()
            .find(|r| r.label() == result)
            .expect("a cache result label");
        self.metrics.cache_requests(result)
    }

    /// Makes every page read fail from now on, as a broken database would.
    pub fn break_pages_table(&self) {
        let conn = rusqlite::Connection::open(self.dir.path().join("keel.db")).expect("open raw");
        conn.execute_batch("ALTER TABLE pages RENAME TO pages_gone")
            .expect("rename pages");
    }

    /// Undoes [`Fixture::break_pages_table`].
    pub fn mend_pages_table(&self) {
        let conn = rusqlite::Connection::open(self.dir.path().join("keel.db")).expect("open raw");
        conn.execute_batch("ALTER TABLE pages_gone RENAME TO pages")
            .expect("rename pages back");
    }
}

/// An HTML page with every encoding present (the bytes of br and gzip need
/// not be real compressed data: delivery never decodes them).
pub(crate) fn html_page(path: &str, body: &str) -> Page {
    Page {
        path: path.into(),
        entry_id: None,
        status: 200,
        content_type: "text/html; charset=utf-8".into(),
        identity: body.as_bytes().to_vec(),
        br: format!("br:{body}").into_bytes(),
        gzip: format!("gz:{body}").into_bytes(),
        etag: etag_of(body),
        last_modified: Utc
            .with_ymd_and_hms(2026, 3, 1, 12, 30, 0)
            .single()
            .expect("valid date"),
        surrogate_keys: vec!["match:1".into(), "type:match".into(), "home".into()],
        cache_policy: CachePolicy {
            browser_max_age: 60,
            edge_max_age: 300,
            stale_while_revalidate: 30,
            stale_if_error: 86_400,
            immutable: false,
        },
        seq: 3,
    }
}

/// A stable validator for fixture bodies (DefaultHasher::new has fixed keys).
pub(crate) fn etag_of(body: &str) -> String {
    let mut hasher = DefaultHasher::new();
    body.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// A JSON page as the delivery API serves it: identity only.
pub(crate) fn json_page(path: &str, body: &str) -> Page {
    Page {
        content_type: "application/json".into(),
        br: Vec::new(),
        gzip: Vec::new(),
        surrogate_keys: Vec::new(),
        ..html_page(path, body)
    }
}
