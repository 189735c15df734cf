//! Rendered pages and how they are cached: what a publish produces and
//! the store, the cache and delivery hold.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::EntryId;

/// Browser and edge caching for a page; seconds throughout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachePolicy {
    pub browser_max_age: u32,
    pub edge_max_age: u32,
    pub stale_while_revalidate: u32,
    pub stale_if_error: u32,
}

impl Default for CachePolicy {
    fn default() -> Self {
        CachePolicy {
            browser_max_age: 60,
            edge_max_age: 300,
            stale_while_revalidate: 30,
            stale_if_error: 86_400,
        }
    }
}

/// A rendered, pre-compressed page as stored in the `pages` table.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub path: String,
    /// The entry this page shows; `None` for listings.
    pub entry_id: Option<EntryId>,
    /// HTTP status the page is served with (200, or 404 for the not-found page).
    pub status: u16,
    /// The media type, e.g. `text/html; charset=utf-8`.
    pub content_type: String,
    pub identity: Vec<u8>,
    pub br: Vec<u8>,
    pub gzip: Vec<u8>,
    /// Strong validator of the identity bytes (unquoted); encodings derive theirs.
    pub etag: String,
    pub last_modified: DateTime<Utc>,
    pub surrogate_keys: Vec<String>,
    pub cache_policy: CachePolicy,
    /// The event seq this page was written with.
    pub seq: i64,
}

/// A page change carried by a write.
#[derive(Debug, Clone, PartialEq)]
pub enum PageWrite {
    Upsert(Page),
    Delete(String),
}

impl PageWrite {
    pub fn path(&self) -> &str {
        match self {
            PageWrite::Upsert(p) => &p.path,
            PageWrite::Delete(path) => path,
        }
    }
}
