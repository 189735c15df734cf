//! `CachedPage`: a stored page turned, once, into everything a response
//! needs. Bodies become `Bytes` (a hit clones a reference count, never the
//! data) and every header value is formatted here, at insert time, so the
//! request path only copies pre-built values into the response. A page's
//! own values and its bodies sit in one allocation under one reference
//! count; values many pages share (content types, cache policies) are
//! `'static` and cost a hit no reference count at all.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::http::header::HeaderValue;
use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::model::{CachePolicy, Page};

/// Strict policy for rendered HTML: pages carry no scripts, inline styles
/// only, images from the site itself or any HTTPS origin.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
     img-src 'self' data: https:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
pub const REFERRER_POLICY: &str = "strict-origin-when-cross-origin";

/// Memory a cached entry costs beyond its bodies, its own header values and
/// the `CachedPage` struct: allocator headers, the `Arc` and `Bytes`
/// reference counts, moka's node and the index entry. Measured (glibc
/// malloc, `examples/cache_memory.rs`), rounded up.
const ENTRY_OVERHEAD: usize = 512;
/// First wait before retrying a failed refresh; doubles per failure.
const RETRY_MIN_MS: u64 = 100;
/// Longest wait between refresh attempts while the store fails.
const RETRY_MAX_MS: u64 = 5_000;
/// Most distinct shared values made `'static`: they come from the content
/// types' cache policies and content types, a handful per site, so the cap
/// only bounds the memory should that ever stop being true.
const MAX_SHARED_VALUES: usize = 256;

/// A content coding a page is stored in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Brotli,
    Gzip,
}

/// One encoding of a page: its bytes and its own strong validator.
#[derive(Debug)]
pub struct Representation {
    pub body: Bytes,
    /// `"{etag}"`, `"{etag}-br"` or `"{etag}-gz"`, quotes included; `None`
    /// when the stored validator cannot be sent as an ETag.
    pub etag: Option<HeaderValue>,
}

/// Header values shared by every representation of a page.
#[derive(Debug)]
#[non_exhaustive]
pub struct PageHeaders {
    pub content_type: HeaderValue,
    /// For browsers (RFC 9111 + RFC 5861 extensions).
    pub cache_control: HeaderValue,
    /// For CDNs that read RFC 9213's targeted field.
    pub cdn_cache_control: HeaderValue,
    /// For edges that read the older Surrogate-Control (Varnish, Fastly).
    pub surrogate_control: HeaderValue,
    /// Keys joined by spaces (Varnish xkey, Fastly); `None` without keys.
    pub surrogate_key: Option<HeaderValue>,
    /// Keys joined by commas (Cloudflare); `None` without keys.
    pub cache_tag: Option<HeaderValue>,
    pub last_modified: HeaderValue,
    /// HTML gets the policies below; a flag rather than two header values
    /// (80 bytes in every cached page) for constants.
    html: bool,
}

static CSP_VALUE: HeaderValue = HeaderValue::from_static(CONTENT_SECURITY_POLICY);
static REFERRER_VALUE: HeaderValue = HeaderValue::from_static(REFERRER_POLICY);

impl PageHeaders {
    /// HTML only.
    pub fn content_security_policy(&self) -> Option<&'static HeaderValue> {
        self.html.then_some(&CSP_VALUE)
    }

    /// HTML only.
    pub fn referrer_policy(&self) -> Option<&'static HeaderValue> {
        self.html.then_some(&REFERRER_VALUE)
    }
}

/// Whether a cached copy may still be served as current: it goes stale when
/// the event follower learns the stored page changed, or when its lifetime
/// (the type's edge max-age) has run out since it was last known current,
/// that is since it was fetched or since the follower last read the whole
/// log without finding a change to it; a stale copy is served while one
/// refresh runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    Fresh,
    Stale,
}

/// A page ready to serve. Immutable once built except for its freshness
/// flag; shared as `Arc<CachedPage>` by the cache and every response.
#[derive(Debug)]
pub struct CachedPage {
    status: StatusCode,
    seq: i64,
    /// Unix seconds: HTTP dates have no finer resolution, and
    /// If-Modified-Since compares at this grain.
    last_modified: i64,
    fetched_at: Instant,
    /// End of the in-process lifetime counted from the fetch (the type's
    /// edge max-age): checked with one clock read on every hit.
    fresh_until: Instant,
    /// The same lifetime, for extending it from a later verification.
    /// Seconds, as the policy gives them (a `Duration` would cost 12
    /// bytes more in every cached page).
    max_age_secs: u32,
    /// How long past `fresh_until` a copy may be served while refreshes fail.
    stale_if_error_secs: u32,
    /// An atomic so a refresh can be signalled without replacing the entry.
    stale: AtomicBool,
    /// Refreshes failed in a row; drives the retry backoff.
    failures: AtomicU32,
    /// Milliseconds after `fetched_at` before which no new refresh starts.
    retry_after_ms: AtomicU64,
    identity: Representation,
    br: Option<Representation>,
    gzip: Option<Representation>,
    headers: PageHeaders,
    weight: u32,
}

impl CachedPage {
    /// Builds the served form of a stored page. Never fails: a value that
    /// cannot be a header (a corrupt content type, a key with spaces) is
    /// replaced or left out, with a warning, once, here.
    pub fn from_page(page: Page) -> CachedPage {
        let status = StatusCode::from_u16(page.status).unwrap_or_else(|_| {
            tracing::warn!(path = %page.path, status = page.status, "page has an invalid status; serving 200");
            StatusCode::OK
        });
        // The small values first, side by side, then the bodies: a hit
        // writes every header of a page from a few adjacent cache lines.
        // Sized up front: a buffer grown by doubling would keep up to half
        // its size spare for the page's whole life in the cache.
        let keys: usize = page.surrogate_keys.iter().map(|k| k.len() + 1).sum();
        let mut block = Block::with_capacity(
            page.identity.len()
                + page.br.len()
                + page.gzip.len()
                + 3 * (page.etag.len() + 5)
                + 2 * keys
                + HTTP_DATE_LEN,
        );
        let valid_etag = valid_etag(&page.etag);
        if !valid_etag {
            tracing::warn!(path = %page.path, "page etag is not a valid entity tag; sent without one");
        }
        let mut etag =
            |suffix: &str| valid_etag.then(|| block.push(format!("\"{}{suffix}\"", page.etag)));
        let etags = [etag(""), etag("-br"), etag("-gz")];
        let headers = PageHeaders::build(
            &mut block,
            &page.path,
            &page.content_type,
            &page.cache_policy,
            &page.surrogate_keys,
            page.last_modified,
        );
        let [identity_etag, br_etag, gzip_etag] = etags;
        let identity = (block.push(&page.identity), identity_etag);
        let br = (!page.br.is_empty()).then(|| (block.push(&page.br), br_etag));
        let gzip = (!page.gzip.is_empty()).then(|| (block.push(&page.gzip), gzip_etag));
        let block = block.freeze();
        let representation = |(body, etag): (Range<usize>, Option<Range<usize>>)| Representation {
            body: block.slice(body),
            etag: etag.map(|e| block.value(e)),
        };
        let identity = representation(identity);
        let br = br.map(representation);
        let gzip = gzip.map(representation);
        let headers = headers.resolve(&block);
        let fetched_at = Instant::now();
        let policy = &page.cache_policy;
        let mut cached = CachedPage {
            status,
            seq: page.seq,
            last_modified: page.last_modified.timestamp(),
            fetched_at,
            fresh_until: fetched_at + Duration::from_secs(u64::from(policy.edge_max_age)),
            max_age_secs: policy.edge_max_age,
            stale_if_error_secs: policy.stale_if_error,
            stale: AtomicBool::new(false),
            failures: AtomicU32::new(0),
            retry_after_ms: AtomicU64::new(0),
            identity,
            br,
            gzip,
            headers,
            weight: 0,
        };
        cached.weight = cached.measure();
        cached
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The event seq the stored page was written with.
    pub fn seq(&self) -> i64 {
        self.seq
    }

    /// How long an edge keeps this page (its type's edge max-age).
    pub fn edge_max_age(&self) -> Duration {
        Duration::from_secs(u64::from(self.max_age_secs))
    }

    /// Unix seconds of the page's Last-Modified.
    pub fn last_modified(&self) -> i64 {
        self.last_modified
    }

    /// When this copy was built from the store.
    pub fn fetched_at(&self) -> Instant {
        self.fetched_at
    }

    pub fn age(&self) -> Duration {
        self.fetched_at.elapsed()
    }

    pub fn freshness(&self) -> Freshness {
        self.freshness_at(Instant::now(), None)
    }

    /// Stale once marked, or once its lifetime ended at `now`, counted from
    /// the later of its fetch and `verified` (when the event log was last
    /// read through: a copy no event has marked was current then). While
    /// the follower keeps up, hot pages never expire by time and never cost
    /// a query; when it cannot reach the database they go stale on schedule.
    pub fn freshness_at(&self, now: Instant, verified: Option<Instant>) -> Freshness {
        if self.stale.load(Ordering::Relaxed) || now >= self.fresh_until_at(verified) {
            Freshness::Stale
        } else {
            Freshness::Fresh
        }
    }

    fn fresh_until_at(&self, verified: Option<Instant>) -> Instant {
        match verified {
            Some(at) if at > self.fetched_at => self.fresh_until.max(at + self.edge_max_age()),
            _ => self.fresh_until,
        }
    }

    /// Whether a new refresh may start at `now` (not inside a failure's
    /// backoff).
    pub fn refresh_due(&self, now: Instant) -> bool {
        millis(now.saturating_duration_since(self.fetched_at))
            >= self.retry_after_ms.load(Ordering::Relaxed)
    }

    /// Records a failed refresh: the next one waits 100 ms, doubling to 5 s.
    pub fn refresh_failed(&self, now: Instant) {
        let failures = self.failures.fetch_add(1, Ordering::Relaxed);
        let backoff = RETRY_MIN_MS
            .saturating_mul(1 << failures.min(16))
            .min(RETRY_MAX_MS);
        let elapsed = millis(now.saturating_duration_since(self.fetched_at));
        self.retry_after_ms
            .store(elapsed.saturating_add(backoff), Ordering::Relaxed);
    }

    /// True once refreshes have failed and the copy is older than its
    /// freshness plus `stale_if_error`: past that it is no longer served.
    pub fn beyond_stale_if_error(&self, now: Instant, verified: Option<Instant>) -> bool {
        self.failures.load(Ordering::Relaxed) > 0
            && now.saturating_duration_since(self.fresh_until_at(verified))
                > Duration::from_secs(u64::from(self.stale_if_error_secs))
    }

    /// Marks this copy as superseded in the store; readers may still be
    /// served it until a refresh replaces it.
    pub fn mark_stale(&self) {
        self.stale.store(true, Ordering::Relaxed);
    }

    pub fn headers(&self) -> &PageHeaders {
        &self.headers
    }

    pub fn has(&self, encoding: Encoding) -> bool {
        match encoding {
            Encoding::Identity => true,
            Encoding::Brotli => self.br.is_some(),
            Encoding::Gzip => self.gzip.is_some(),
        }
    }

    /// The representation for `encoding`, falling back to identity when the
    /// page is not stored in that coding.
    pub fn representation(&self, encoding: Encoding) -> (Encoding, &Representation) {
        match encoding {
            Encoding::Brotli => match &self.br {
                Some(r) => (Encoding::Brotli, r),
                None => (Encoding::Identity, &self.identity),
            },
            Encoding::Gzip => match &self.gzip {
                Some(r) => (Encoding::Gzip, r),
                None => (Encoding::Identity, &self.identity),
            },
            Encoding::Identity => (Encoding::Identity, &self.identity),
        }
    }

    /// Bytes this entry holds, for the cache's byte budget (saturating).
    pub fn weight(&self) -> u32 {
        self.weight
    }

    /// The bodies, the page's own header values (shared ones cost it
    /// nothing), the struct and the fixed overhead around it.
    fn measure(&self) -> u32 {
        let reps = [Some(&self.identity), self.br.as_ref(), self.gzip.as_ref()];
        let bodies: usize = reps
            .iter()
            .flatten()
            .map(|r| r.body.len() + r.etag.as_ref().map_or(0, |v| v.len()))
            .sum();
        let h = &self.headers;
        let headers: usize = [
            h.surrogate_key.as_ref(),
            h.cache_tag.as_ref(),
            Some(&h.last_modified),
        ]
        .iter()
        .flatten()
        .map(|v| v.len())
        .sum();
        let total = bodies + headers + std::mem::size_of::<CachedPage>() + ENTRY_OVERHEAD;
        u32::try_from(total).unwrap_or(u32::MAX)
    }
}

/// The page's own header values, as places in its [`Block`].
struct OwnHeaders {
    surrogate_key: Option<Range<usize>>,
    cache_tag: Option<Range<usize>>,
    last_modified: Range<usize>,
}

/// [`PageHeaders`] whose page-specific values still wait for the block.
struct PendingHeaders {
    shared: PageHeaders,
    own: OwnHeaders,
}

impl PageHeaders {
    fn build(
        block: &mut Block,
        path: &str,
        content_type: &str,
        policy: &CachePolicy,
        keys: &[String],
        last_modified: DateTime<Utc>,
    ) -> PendingHeaders {
        let content_type = shared_value(content_type).unwrap_or_else(|| {
            tracing::warn!(path, "page content type is not a valid header value");
            HeaderValue::from_static("application/octet-stream")
        });
        let html = content_type
            .to_str()
            .is_ok_and(|ct| starts_with_ignore_case(ct, "text/html"));
        let stale = format!(
            "stale-while-revalidate={}, stale-if-error={}",
            policy.stale_while_revalidate, policy.stale_if_error
        );
        let policy_value = |value: String| shared_value(&value).expect("visible ASCII only");
        let keys = usable_keys(path, keys);
        let own = OwnHeaders {
            surrogate_key: (!keys.is_empty()).then(|| block.push(keys.join(" "))),
            cache_tag: (!keys.is_empty()).then(|| block.push(keys.join(","))),
            last_modified: block.push(http_date(last_modified)),
        };
        // A content-hashed URL (media) never changes: `immutable` spares
        // browsers the revalidation a reload would send (RFC 8246), and
        // stale-* directives have nothing to say about it.
        let (cache_control, cdn_cache_control, surrogate_control) = if policy.immutable {
            (
                format!("public, max-age={}, immutable", policy.browser_max_age),
                format!("public, max-age={}, immutable", policy.edge_max_age),
                format!("max-age={}", policy.edge_max_age),
            )
        } else {
            (
                // `s-maxage` for shared caches that read nothing else
                // (Varnish's built-in VCL, most proxies): RFC 9111 5.2.2.10.
                format!(
                    "public, max-age={}, s-maxage={}, {stale}",
                    policy.browser_max_age, policy.edge_max_age
                ),
                format!("public, max-age={}, {stale}", policy.edge_max_age),
                format!("max-age={}, {stale}", policy.edge_max_age),
            )
        };
        let shared = PageHeaders {
            content_type,
            cache_control: policy_value(cache_control),
            cdn_cache_control: policy_value(cdn_cache_control),
            surrogate_control: policy_value(surrogate_control),
            surrogate_key: None,
            cache_tag: None,
            // Replaced in `resolve`.
            last_modified: HeaderValue::from_static(""),
            html,
        };
        PendingHeaders { shared, own }
    }
}

impl PendingHeaders {
    fn resolve(self, block: &Frozen) -> PageHeaders {
        let PendingHeaders { shared, own } = self;
        PageHeaders {
            surrogate_key: own.surrogate_key.map(|r| block.value(r)),
            cache_tag: own.cache_tag.map(|r| block.value(r)),
            last_modified: block.value(own.last_modified),
            ..shared
        }
    }
}

/// Everything specific to one page (bodies, ETags, keys, date) written
/// into one buffer, then cut into `Bytes` and header values that share its
/// single allocation: a hit touches one reference count and adjacent
/// memory instead of a dozen scattered allocations.
/// `Sun, 01 Mar 2026 12:30:00 GMT`.
const HTTP_DATE_LEN: usize = 29;

struct Block {
    buf: Vec<u8>,
}

impl Block {
    fn with_capacity(capacity: usize) -> Block {
        Block {
            buf: Vec::with_capacity(capacity),
        }
    }

    fn push(&mut self, bytes: impl AsRef<[u8]>) -> Range<usize> {
        let start = self.buf.len();
        self.buf.extend_from_slice(bytes.as_ref());
        start..self.buf.len()
    }

    fn freeze(mut self) -> Frozen {
        // Only if the estimate was off (keys dropped as unusable): exact is
        // what the cache's memory budget counts.
        if self.buf.capacity() - self.buf.len() > 64 {
            self.buf.shrink_to_fit();
        }
        Frozen(Bytes::from(self.buf))
    }
}

struct Frozen(Bytes);

impl Frozen {
    fn slice(&self, range: Range<usize>) -> Bytes {
        self.0.slice(range)
    }

    /// For values built here from numbers and checked keys and tags, which
    /// are always visible ASCII.
    fn value(&self, range: Range<usize>) -> HeaderValue {
        HeaderValue::from_maybe_shared(self.slice(range)).expect("built from visible ASCII only")
    }
}

/// A header value many pages carry, as a `'static` one: cloning it for a
/// response then costs no reference count. `None` if `value` cannot be a
/// header value. Past [`MAX_SHARED_VALUES`] distinct values, new ones are
/// allocated per page instead.
fn shared_value(value: &str) -> Option<HeaderValue> {
    static SHARED: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    HeaderValue::from_str(value).ok()?;
    let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    let set = shared.get_or_insert_with(HashSet::new);
    let kept = match set.get(value) {
        Some(kept) => *kept,
        None if set.len() < MAX_SHARED_VALUES => {
            let kept: &'static str = Box::leak(value.into());
            set.insert(kept);
            kept
        }
        None => return HeaderValue::from_str(value).ok(),
    };
    Some(HeaderValue::from_static(kept))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// An IMF-fixdate (RFC 9110 §5.6.7), the only form a sender may generate.
pub fn http_date(at: DateTime<Utc>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Whether `etag` is a valid opaque tag (RFC 9110 §8.8.3: visible
/// characters except `"`), so `"{etag}{suffix}"` can be sent.
fn valid_etag(etag: &str) -> bool {
    !etag.is_empty()
        && etag
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x7e).contains(&b))
}

/// Keys go into space- and comma-separated lists, so a key may only hold
/// visible ASCII other than the comma.
fn usable_keys<'k>(path: &str, keys: &'k [String]) -> Vec<&'k str> {
    let ok = |k: &str| !k.is_empty() && k.bytes().all(|b| b.is_ascii_graphic() && b != b',');
    let (good, bad): (Vec<&str>, Vec<&str>) = keys.iter().map(String::as_str).partition(|k| ok(k));
    if !bad.is_empty() {
        tracing::warn!(path, skipped = ?bad, "surrogate keys that cannot be listed in a header");
    }
    good
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// The page served for unknown paths until the renderer provides one.
pub(super) fn builtin_not_found() -> CachedPage {
    CachedPage::from_page(Page {
        path: String::new(),
        entry_id: None,
        status: 404,
        content_type: "text/plain; charset=utf-8".into(),
        identity: b"Not Found\n".to_vec(),
        br: Vec::new(),
        gzip: Vec::new(),
        etag: "keel-not-found".into(),
        last_modified: DateTime::<Utc>::UNIX_EPOCH,
        surrogate_keys: vec!["404".into()],
        // Short everywhere, as a fallback: a 404 carries its path's key,
        // so the publish of that path purges it at the edge anyway.
        cache_policy: CachePolicy {
            browser_max_age: 10,
            edge_max_age: 10,
            stale_while_revalidate: 10,
            stale_if_error: 60,
            immutable: false,
        },
        seq: 0,
    })
}
