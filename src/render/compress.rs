//! Turns rendered bytes into a stored `Page`: brotli (quality 11) and gzip
//! beside the identity bytes, and a strong validator from the content. This
//! is the expensive step (~50 ms of one core for a 40 KB page at q11): it
//! runs once per publish, on a blocking thread, never per request.

use std::io::Write as _;

use chrono::{DateTime, Utc};
use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

use crate::model::{CachePolicy, EntryId, Page};

/// Brotli quality for stored pages: the smallest output, paid once.
pub const BROTLI_QUALITY: u32 = 11;
/// Brotli window (log2), as large as browsers accept by default.
const BROTLI_LGWIN: u32 = 22;

/// Everything about a page except its encodings.
#[derive(Debug, Clone)]
pub struct PageSpec {
    pub path: String,
    pub entry_id: Option<EntryId>,
    pub status: u16,
    pub content_type: &'static str,
    pub surrogate_keys: Vec<String>,
    pub cache_policy: CachePolicy,
    pub last_modified: DateTime<Utc>,
}

pub fn brotli(bytes: &[u8], quality: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() / 4 + 64);
    let params = brotli::enc::BrotliEncoderParams {
        quality: quality as i32,
        lgwin: BROTLI_LGWIN as i32,
        size_hint: bytes.len(),
        ..Default::default()
    };
    let mut reader = bytes;
    // Writing into a Vec cannot fail.
    brotli::BrotliCompress(&mut reader, &mut out, &params).expect("brotli into memory");
    out
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(
        Vec::with_capacity(bytes.len() / 3 + 64),
        Compression::best(),
    );
    enc.write_all(bytes).expect("gzip into memory");
    enc.finish().expect("gzip into memory")
}

/// Strong validator: the first 128 bits of the identity bytes' SHA-256, so
/// an unchanged re-render keeps its ETag (and clients keep their 304s).
pub fn etag_of(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    hex::encode(&digest[..16])
}

/// Compresses `identity` both ways (brotli at `quality`) and assembles
/// the page.
pub fn build_page(spec: PageSpec, identity: Vec<u8>, quality: u32) -> Page {
    let br = brotli(&identity, quality);
    let gz = gzip(&identity);
    Page {
        path: spec.path,
        entry_id: spec.entry_id,
        status: spec.status,
        content_type: spec.content_type.to_owned(),
        etag: etag_of(&identity),
        identity,
        br,
        gzip: gz,
        last_modified: spec.last_modified,
        surrogate_keys: spec.surrogate_keys,
        cache_policy: spec.cache_policy,
        seq: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    #[test]
    fn both_encodings_round_trip() {
        let html = "<p>hello match day</p>".repeat(200).into_bytes();
        let br = brotli(&html, 5);
        let mut back = Vec::new();
        brotli::BrotliDecompress(&mut br.as_slice(), &mut back).unwrap();
        assert_eq!(back, html);
        let gz = gzip(&html);
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(gz.as_slice())
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, html);
        assert!(br.len() < html.len() / 10 && gz.len() < html.len() / 5);
    }

    #[test]
    fn etags_follow_the_content() {
        assert_eq!(etag_of(b"a"), etag_of(b"a"));
        assert_ne!(etag_of(b"a"), etag_of(b"b"));
        assert_eq!(etag_of(b"a").len(), 32);
    }
}
