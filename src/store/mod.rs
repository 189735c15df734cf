//! The store: the single source of truth behind one `Store` trait, with an
//! embedded SQLite backend (the default, one node) and a PostgreSQL backend
//! (many nodes). Everything that must agree commits in one transaction:
//! an entry change, its revision, its rendered pages and the event that
//! announces them. The store never renders, compresses or calls the network.

pub mod breaker;
pub mod instrumented;
mod newsroom;
pub mod postgres;
mod records;
pub mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use newsroom::*;
pub use records::*;

use crate::config::DatabaseUrl;
use crate::model::{
    ContentTypeRecord, Entry, EntryId, Link, Media, MediaChange, MediaId, MediaQuery, MediaVariant,
    NewMedia, Page, Revision,
};

pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("version conflict: expected {expected}, found {found}")]
    Conflict { expected: i64, found: i64 },
    /// A unique constraint would be broken (a slug taken in its type, a
    /// published path taken, an active token name in use).
    #[error("{0} already exists")]
    Duplicate(String),
    /// A later event re-rendered one of the paths this write carries.
    #[error("pages were rendered from seq {base} but seq {newer} changed {path}")]
    PagesOutdated { base: i64, newer: i64, path: String },
    /// The write is not allowed in the entry's current state (e.g. publishing
    /// a deleted entry is `NotFound`, but unpublishing a draft is this).
    #[error("invalid state: {0}")]
    InvalidState(String),
    /// The database cannot be reached or no connection came in time.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] BoxError),
    #[error("migration failed: {0}")]
    Migration(#[source] BoxError),
    #[error("database error: {0}")]
    Backend(#[source] BoxError),
}

impl StoreError {
    /// True when retrying later may succeed (the database was unreachable).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// One interface, two backends; `tests/it/store_conformance.rs` holds both to
/// the same behaviour.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Applies pending migrations; returns how many ran (0 when up to date).
    async fn migrate(&self) -> StoreResult<usize>;

    /// A cheap round trip, for readiness.
    async fn ping(&self) -> StoreResult<()>;

    /// The connection pool's state, where the backend has a pool of
    /// network connections (PostgreSQL).
    fn pool_status(&self) -> Option<PoolStatus> {
        None
    }

    // --- content types ---

    /// Records the loaded content types (insert or replace by name).
    async fn sync_content_types(&self, types: &[ContentTypeRecord]) -> StoreResult<()>;

    async fn content_types(&self) -> StoreResult<Vec<ContentTypeRecord>>;

    // --- entries ---

    /// Applies one write atomically: the entry op (version checked), its
    /// revision, the page changes and the event (with the next gap-free seq).
    /// On any error nothing is left behind.
    async fn write(&self, write: Write) -> StoreResult<WriteOutcome>;

    async fn entry(&self, id: EntryId) -> StoreResult<Option<Entry>>;

    /// Looks up by the working-copy slug within a type.
    async fn entry_by_slug(&self, type_name: &str, slug: &str) -> StoreResult<Option<Entry>>;

    /// Looks up by the published slug within a type (what readers address).
    async fn published_entry_by_slug(
        &self,
        type_name: &str,
        slug: &str,
    ) -> StoreResult<Option<Entry>>;

    /// Keyset page of entries, ordered by id.
    async fn entries(&self, query: &EntryQuery) -> StoreResult<Vec<Entry>>;

    /// Every published entry of a type (listings and dependency computation).
    async fn published_entries(&self, type_name: &str) -> StoreResult<Vec<Entry>>;

    /// Entries by id, in no particular order; unknown ids are skipped.
    async fn entries_by_ids(&self, ids: &[EntryId]) -> StoreResult<Vec<Entry>>;

    /// Entries of a type whose working-copy `field` equals `value` (JSON
    /// equality), for `unique` fields.
    async fn entries_with_value(
        &self,
        type_name: &str,
        field: &str,
        value: &serde_json::Value,
    ) -> StoreResult<Vec<Entry>>;

    /// Scheduled entries whose `publish_at` is at or before `now`.
    async fn due_scheduled(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<Vec<Entry>>;

    /// Number of entries (all statuses, deleted ones excluded).
    async fn count_entries(&self) -> StoreResult<i64>;

    // --- what shows what ---

    /// The published entries of a list (`Listed::list` and `owner`), in
    /// its order, at most `limit`: one range scan, whatever the site's size.
    async fn listed(&self, list: &str, owner: &str, limit: u32) -> StoreResult<Vec<Entry>>;

    /// The owners (archive buckets) of a list closest to `owner`: up to two
    /// below it and two above it, in order (owners compare as text; `~`
    /// sorts after every bucket). Two each way, so a neighbour the pending
    /// change empties can be skipped.
    async fn list_owners_near(&self, list: &str, owner: &str) -> StoreResult<Vec<String>>;

    /// Every owner of a list, in order (re-rendering every archive page).
    async fn list_owners(&self, list: &str) -> StoreResult<Vec<String>>;

    /// Where the entries of a list are, in its order, at most `limit`,
    /// without their data: a sitemap file lists thousands.
    async fn listed_links(&self, list: &str, owner: &str, limit: u32) -> StoreResult<Vec<Link>>;

    /// Published entries whose published data references `id`.
    async fn referrers(&self, id: EntryId) -> StoreResult<Vec<Entry>>;

    /// Keyset page of the published entries of every type, by id (for
    /// rebuilding the list rows and re-rendering everything in batches).
    async fn published_page(&self, after: Option<EntryId>, limit: u32) -> StoreResult<Vec<Entry>>;

    /// The signature the list rows were built for; `None` before the first
    /// build or during a rebuild.
    async fn index_signature(&self) -> StoreResult<Option<String>>;

    /// Replaces the rows of these entries (a rebuild's batch), each only if
    /// the entry is still at the version its rows were computed from: a
    /// publish committed meanwhile wrote its own rows, which stay. Nothing
    /// is cleared first, so publishes during a rebuild (on this node or
    /// another) always find every entry on its lists, and two nodes
    /// rebuilding at once only repeat each other's work.
    async fn write_index(&self, rows: &[IndexedEntry]) -> StoreResult<()>;

    /// Ends a rebuild: drops the rows of entries no longer published and
    /// records that the rows now match `signature`.
    async fn finish_index(&self, signature: &str) -> StoreResult<()>;

    // --- revisions ---

    /// All revisions of an entry, oldest first (kept after a delete).
    async fn revisions(&self, id: EntryId) -> StoreResult<Vec<Revision>>;

    async fn revision(&self, id: EntryId, version: i64) -> StoreResult<Option<Revision>>;

    // --- events ---

    /// Events with `seq > after`, in seq order, at most `limit`.
    async fn events_since(&self, after: i64, limit: u32) -> StoreResult<Vec<Event>>;

    /// The highest committed seq (0 when the log is empty).
    async fn last_seq(&self) -> StoreResult<i64>;

    // --- pages ---

    async fn page(&self, path: &str) -> StoreResult<Option<Page>>;

    /// Replaces a stored page's brotli body with a smaller one of the same
    /// bytes, if the page still has `etag` (the same identity bytes). No
    /// event: what readers get does not change, only its size. Returns
    /// whether the page was updated.
    async fn refine_page(&self, path: &str, etag: &str, br: &[u8]) -> StoreResult<bool>;

    /// Pages for many paths in one query; missing paths are skipped.
    async fn pages(&self, paths: &[String]) -> StoreResult<Vec<Page>>;

    /// Every stored page path with status 200.
    async fn page_paths(&self) -> StoreResult<Vec<String>>;

    /// Every stored sitemap file (`/sitemaps/…`) with its last-modified
    /// time, in path order: what the sitemap index lists.
    async fn sitemap_files(&self) -> StoreResult<Vec<(String, DateTime<Utc>)>>;

    /// The `limit` most recently written 200 pages, newest first, by path
    /// with their size: what a starting node warms without reading bodies
    /// it has no room for.
    async fn recent_pages(&self, limit: u32) -> StoreResult<Vec<PageSummary>>;

    // --- tokens ---

    /// Stores a new token; `Duplicate` if an active token has that name.
    async fn create_token(&self, name: &str, role: Role, hash: &str) -> StoreResult<ApiToken>;

    /// Every token, revoked ones included, by creation time.
    async fn tokens(&self) -> StoreResult<Vec<ApiToken>>;

    /// The active (not revoked) token with this hash.
    async fn token_by_hash(&self, hash: &str) -> StoreResult<Option<ApiToken>>;

    /// Revokes the active token of that name; `NotFound` if there is none.
    async fn revoke_token(&self, name: &str) -> StoreResult<()>;

    /// Records a use of the active token of that name; nothing (and no
    /// error) when there is none, e.g. revoked since it authenticated.
    async fn touch_token(&self, name: &str, at: DateTime<Utc>) -> StoreResult<()>;

    // --- nodes and the outbox (src/outbox) ---

    /// Records that `node` holds every event up to `held_seq`, live for
    /// `ttl` from now by the database's clock (one clock for every node);
    /// a zero `ttl` says the node is leaving.
    async fn heartbeat(&self, node: &str, held_seq: i64, ttl: Duration) -> StoreResult<()>;

    /// The nodes whose heartbeat has not expired, by name.
    async fn live_nodes(&self) -> StoreResult<Vec<NodeHeartbeat>>;

    /// Takes or renews `node`'s lease on sending to `destination` for
    /// `ttl`, creating its cursor at `start` (the log's end: a new
    /// destination has nothing to catch up on) the first time. The cursor's
    /// seq when `node` holds the lease, `None` while another node does. A
    /// zero `ttl` gives the lease up.
    async fn lease_destination(
        &self,
        destination: &str,
        node: &str,
        ttl: Duration,
        start: i64,
    ) -> StoreResult<Option<i64>>;

    /// Moves the cursor from `from` to `to` if it is still at `from` and
    /// `node` still holds the lease; false (and nothing changed) otherwise.
    async fn advance_cursor(
        &self,
        destination: &str,
        node: &str,
        from: i64,
        to: i64,
    ) -> StoreResult<bool>;

    /// Every destination's cursor, by name.
    async fn outbox_cursors(&self) -> StoreResult<Vec<OutboxCursor>>;

    /// Records an attempt; only the latest [`DELIVERIES_KEPT`] of a
    /// destination are kept.
    async fn log_delivery(&self, delivery: &Delivery) -> StoreResult<()>;

    /// A destination's latest attempts, newest first.
    async fn deliveries(&self, destination: &str, limit: u32) -> StoreResult<Vec<Delivery>>;

    // --- people and sessions (src/accounts) ---

    /// Stores a new account with a new id; `Duplicate` if the email is taken.
    async fn create_user(&self, user: &NewUser) -> StoreResult<User>;

    /// Every account, by email.
    async fn users(&self) -> StoreResult<Vec<User>>;

    /// The account with this (lowercase) email.
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>>;

    async fn user(&self, id: UserId) -> StoreResult<Option<User>>;

    /// Applies the change (`updated_at` set); `NotFound` for an unknown id.
    /// Disabling or a new password deletes the account's sessions in the
    /// same transaction.
    async fn update_user(&self, id: UserId, change: &UserChange) -> StoreResult<User>;

    async fn create_session(&self, session: &Session) -> StoreResult<()>;

    /// The session with this id hash and its account, if both exist and
    /// the account is not disabled (expiry is the caller's to judge).
    async fn session(&self, id_hash: &str) -> StoreResult<Option<(Session, User)>>;

    /// Records activity on a session (idle expiry counts from it).
    async fn touch_session(&self, id_hash: &str, at: DateTime<Utc>) -> StoreResult<()>;

    /// Ends a session (signing out); nothing when there is none.
    async fn delete_session(&self, id_hash: &str) -> StoreResult<()>;

    // --- the audit log ---

    /// Appends a record (the store sets its id and time); returns it.
    async fn record_audit(&self, record: &NewAudit) -> StoreResult<AuditRecord>;

    /// A page of the log, newest first.
    async fn audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>>;

    /// How many records of `action` since `since` name this target (when
    /// given) or came from this address (when given): the sign-in limit.
    async fn count_audit(
        &self,
        action: &str,
        target: Option<&str>,
        address: Option<&str>,
        since: DateTime<Utc>,
    ) -> StoreResult<i64>;

    // --- site settings ---

    /// The stored settings; version 0 and `{}` before the first save.
    async fn site_settings(&self) -> StoreResult<SettingsRecord>;

    /// Replaces the settings if they are still at `expected_version`
    /// (`Conflict` otherwise), appending an event of kind `settings` (no
    /// paths) in the same transaction so every node reloads them.
    async fn save_site_settings(
        &self,
        data: &serde_json::Value,
        expected_version: i64,
        by: &str,
    ) -> StoreResult<SettingsRecord>;

    // --- review ---

    /// Inserts or replaces the entry's open review request.
    async fn set_review(&self, review: &Review) -> StoreResult<()>;

    /// Removes the entry's review request, if any.
    async fn clear_review(&self, entry_id: EntryId) -> StoreResult<()>;

    async fn review(&self, entry_id: EntryId) -> StoreResult<Option<Review>>;

    /// Open review requests in a state (all states with `None`), oldest
    /// first, at most `limit`.
    async fn reviews(&self, state: Option<ReviewState>, limit: u32) -> StoreResult<Vec<Review>>;

    // --- search ---

    /// Entries of a type matching the search, newest first (by id).
    async fn search_entries(&self, search: &EntrySearch) -> StoreResult<Vec<Entry>>;

    // --- media (src/model/media.rs) ---

    /// Stores an upload with its variants' rows, their pages and the event
    /// announcing the pages, in one transaction; returns the image and the
    /// event's seq. `Duplicate` if an image with the same hash exists (see
    /// [`Store::media_by_hash`]).
    async fn create_media(
        &self,
        media: &NewMedia,
        variants: &[MediaVariant],
        pages: &[Page],
        event: NewEvent,
    ) -> StoreResult<(Media, i64)>;

    async fn media(&self, id: MediaId) -> StoreResult<Option<Media>>;

    async fn media_by_hash(&self, hash: &str) -> StoreResult<Option<Media>>;

    /// Images by id, in no particular order; unknown ids are skipped. One
    /// query however many a page shows.
    async fn media_by_ids(&self, ids: &[MediaId]) -> StoreResult<Vec<Media>>;

    /// A page of the library, newest first.
    async fn media_list(&self, query: &MediaQuery) -> StoreResult<Vec<Media>>;

    /// The original's bytes.
    async fn media_original(&self, id: MediaId) -> StoreResult<Option<Vec<u8>>>;

    /// Applies the change; `NotFound` for an unknown id.
    async fn update_media(&self, id: MediaId, change: &MediaChange) -> StoreResult<Media>;

    /// The published entries that show the image, by id.
    async fn media_users(&self, id: MediaId) -> StoreResult<Vec<EntryId>>;

    /// Deletes the image, its variants and their pages with the event (its
    /// paths are the caller's to list), unless a published entry shows it:
    /// the check and the delete are one transaction, so a publish cannot
    /// start using it in between. `NotFound` for an unknown id.
    async fn delete_media(&self, id: MediaId, event: NewEvent) -> StoreResult<MediaDeletion>;

    /// Up to `limit` images created before `older_than` that no published
    /// entry shows, oldest first: candidates for a cleanup (drafts are the
    /// caller's to check).
    async fn unused_media(&self, older_than: DateTime<Utc>, limit: u32) -> StoreResult<Vec<Media>>;

    /// Which of `ids` an entry's working copy shows where it differs from
    /// what is live (a draft, a scheduled publish, unpublished changes):
    /// a cleanup must spare them, or the next publish of that entry fails.
    /// Live uses are in `media_uses` already. One pass over the entries
    /// with pending changes, however many ids.
    async fn media_in_drafts(&self, ids: &[MediaId]) -> StoreResult<Vec<MediaId>>;
}

/// A page's cache policy as the `cache_policy` column holds it: without
/// `immutable`, which has a column of its own, so it is stored once.
fn policy_json(policy: &crate::model::CachePolicy) -> StoreResult<serde_json::Value> {
    let mut value = serde_json::to_value(policy).map_err(|err| StoreError::Backend(err.into()))?;
    if let Some(fields) = value.as_object_mut() {
        fields.remove("immutable");
    }
    Ok(value)
}

/// Delivery attempts kept per destination.
pub const DELIVERIES_KEPT: i64 = 1000;

/// Opens the backend the URL names.
pub async fn open(url: &DatabaseUrl) -> StoreResult<Arc<dyn Store>> {
    match url {
        DatabaseUrl::Sqlite(path) => Ok(Arc::new(sqlite::SqliteStore::open(path).await?)),
        DatabaseUrl::Postgres(url) => Ok(Arc::new(postgres::PgStore::connect(url).await?)),
    }
}
