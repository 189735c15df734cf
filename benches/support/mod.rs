//! What the cache-hit benches share: a realistic 40 KB match page, a page
//! cache on a throwaway SQLite store, and the front's settings.

use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpResponse;
use chrono::{TimeZone, Utc};
use keel::cache::PageCache;
use keel::front;
use keel::metrics::Metrics;
use keel::model::{CachePolicy, Page};
use keel::store::Store;
use keel::store::sqlite::SqliteStore;

pub const PATH: &str = "/matches/2026-03-01-rovers-v-united";
pub const ETAG: &str = "5f1e3a9c0b7d2e48";

/// Room for every page of either bench, so nothing is evicted mid-run.
const CACHE_BYTES: u64 = 256 * 1024 * 1024;

/// A match report of about 40 KB: head, line-ups, a long commentary.
fn match_html() -> String {
    let mut html = String::with_capacity(41_000);
    html.push_str(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Rovers 2-1 United</title><style>body{font-family:sans-serif}\
         table{border-collapse:collapse}td{padding:2px 6px}</style></head><body>\
         <header><nav><a href=\"/\">Home</a> <a href=\"/matches\">Matches</a></nav></header>\
         <main><h1>Rovers 2–1 United</h1><p class=\"kickoff\">Sunday 1 March 2026, 15:00</p>",
    );
    for side in ["Rovers", "United"] {
        html.push_str(&format!("<h2>{side} line-up</h2><table>"));
        for n in 1..=18 {
            html.push_str(&format!(
                "<tr><td>{n}</td><td>Player {n} of {side}</td><td>{}</td></tr>",
                ["GK", "DF", "MF", "FW"][n % 4]
            ));
        }
        html.push_str("</table>");
    }
    html.push_str("<h2>Minute by minute</h2><ol>");
    let mut minute = 0;
    while html.len() < 40_000 {
        minute = minute % 90 + 1;
        html.push_str(&format!(
            "<li><strong>{minute}'</strong> Possession for {}: a patient move down the {} \
             ends with a cross that is cleared; the press resumes and the ball goes out for \
             a throw-in deep in the opposition half.</li>",
            if minute % 2 == 0 { "Rovers" } else { "United" },
            if minute % 3 == 0 { "left" } else { "right" },
        ));
    }
    html.push_str("</ol></main><footer>keel demo</footer></body></html>");
    html
}

/// The match page at [`PATH`]. Pseudo-compressed bodies of the sizes
/// brotli q11 and gzip -6 produce for such a page (6.2 KB, 7.6 KB):
/// delivery never decodes them, it only clones the `Bytes`.
pub fn page() -> Page {
    let filler = |len: usize, seed: u8| -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    };
    Page {
        path: PATH.into(),
        entry_id: None,
        status: 200,
        content_type: "text/html; charset=utf-8".into(),
        identity: match_html().into_bytes(),
        br: filler(6_200, 7),
        gzip: filler(7_600, 11),
        etag: ETAG.into(),
        last_modified: Utc
            .with_ymd_and_hms(2026, 3, 1, 17, 5, 0)
            .single()
            .expect("valid date"),
        surrogate_keys: vec![
            "match:0192f0c4".into(),
            "type:match".into(),
            "team:rovers".into(),
            "team:united".into(),
            "competition:league".into(),
        ],
        cache_policy: CachePolicy::default(),
        seq: 42,
    }
}

/// An empty page cache over a new, migrated SQLite database at `db`. Hits
/// never reach the store; it is there because the cache needs one.
pub async fn cache(db: &Path, metrics: Arc<Metrics>) -> PageCache {
    let store = SqliteStore::open(db).await.expect("open store");
    store.migrate().await.expect("migrate");
    let store: Arc<dyn Store> = Arc::new(store);
    PageCache::new(store, metrics, CACHE_BYTES)
}

/// Timeouts play no part without a socket; these are plausible values.
pub fn limits() -> front::Limits {
    front::Limits {
        keep_alive: Duration::from_secs(5),
        head: Duration::from_secs(5),
        send: Duration::from_secs(60),
        max_body: 1024 * 1024,
        max_upload: 1024 * 1024,
        body_memory: 64 * 1024 * 1024,
    }
}

/// The app the front would pass non-page requests to; page hits never call it.
pub fn no_app() -> front::App {
    Rc::new(|_| Box::pin(async { HttpResponse::NotFound().finish() }))
}
