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
    /// The bytes at this path never change (a content-hashed image
    /// variant): browsers and edges may keep it for a year without
    /// revalidating. Stored in its own column of `pages`; absent from
    /// policies written before it existed, hence the default.
    #[serde(default)]
    pub immutable: bool,
}

impl Default for CachePolicy {
    fn default() -> Self {
        CachePolicy {
            browser_max_age: 60,
            edge_max_age: 300,
            stale_while_revalidate: 30,
            stale_if_error: 86_400,
            immutable: false,
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
// Nearly every change is an upsert, built once and moved into the write:
// boxing the page would add an allocation to each for no space saved.
#[allow(clippy::large_enum_variant)]
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

/// Longest path spelled out in its key; longer ones are named by a hash,
/// so one key stays far under the 1 KB a CDN allows per key.
const MAX_PATH_KEY: usize = 200;

/// The surrogate key naming the page at `path` (`path:/matches/a-v-b`):
/// every response for the path carries it, a 404 too, so the event that
/// writes or deletes the page purges exactly the edge's copies of it.
/// Lowercase, because Cloudflare's tags ignore case and Varnish's xkey does
/// not; a path with characters a key list cannot hold (space, comma, quote,
/// anything not visible ASCII) or longer than 200 bytes is named by the
/// first 16 bytes of its SHA-256 instead (`path:#…`).
pub fn page_key(path: &str) -> String {
    let plain = path.len() <= MAX_PATH_KEY
        && path
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b',' | b'"' | b'\\' | b'#'));
    if plain {
        format!("path:{}", path.to_ascii_lowercase())
    } else {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(path.to_ascii_lowercase().as_bytes());
        format!("path:#{}", hex::encode(&digest[..16]))
    }
}

#[cfg(test)]
mod tests {
    use super::page_key;

    #[test]
    fn page_keys_name_the_path_or_its_hash() {
        assert_eq!(page_key("/matches/a-v-b"), "path:/matches/a-v-b");
        assert_eq!(page_key("/Matches/A"), page_key("/matches/a"));
        assert_eq!(page_key("/"), "path:/");
        for odd in ["/a b", "/a,b", "/é", &format!("/{}", "x".repeat(300))] {
            let key = page_key(odd);
            assert!(key.starts_with("path:#") && key.len() == 6 + 32, "{key}");
            assert!(key.bytes().all(|b| b.is_ascii_graphic() && b != b','));
        }
        assert_ne!(page_key("/a b"), page_key("/a,b"));
    }
}
