//! The records the store keeps and the writes it accepts, beyond the
//! domain model: events, entry ops, writes, tokens and content-type records.
//! They carry no backend detail.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{Entry, EntryId, EntryIndex, EntryStatus, PageWrite};

/// An entry in the ordered event log that every node follows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Gap-free and in commit order: once a reader has seen `seq = n`, no
    /// event below `n` can commit later.
    pub seq: i64,
    pub kind: String,
    pub entry_id: Option<EntryId>,
    /// Public paths whose pages changed (or disappeared) with this event.
    pub paths: Vec<String>,
    /// Surrogate keys to purge at the edge. They include the id of every
    /// entry whose published state the write changed (a group's event names
    /// only its first in `entry_id`): the outdated-pages check reads them.
    pub keys: Vec<String>,
    /// The entries the write changed, as they were then.
    pub entries: Vec<EventEntry>,
    pub created_at: DateTime<Utc>,
}

/// An entry an event changed: what its webhook names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventEntry {
    pub id: EntryId,
    #[serde(rename = "type")]
    pub type_name: String,
    /// The published slug (the working slug of one never published).
    pub slug: String,
    /// `None` once unpublished or deleted.
    pub published_at: Option<DateTime<Utc>>,
}

/// The event a write appends, in the same transaction as the write.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewEvent {
    pub kind: String,
    pub paths: Vec<String>,
    pub keys: Vec<String>,
    pub entries: Vec<EventEntry>,
}

/// A stored page's path, seq and size, without its bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageSummary {
    pub path: String,
    pub seq: i64,
    /// Bytes of the stored bodies, every encoding.
    pub bytes: i64,
}

/// What a write does to its entry. Every op but `Create` and `None` names the
/// entry and, optionally, the version the writer last saw: a different
/// current version fails the whole write with `StoreError::Conflict`.
#[derive(Debug, Clone, PartialEq)]
pub enum EntryOp {
    /// A pages-only write (a listing re-render, `keel render --all`).
    None,
    Create {
        type_name: String,
        slug: String,
        data: Value,
    },
    /// A whole entry brought from another system (`keel import`), with the
    /// id the importer chose (so its list rows can go in the same write):
    /// a draft, or published as of `published_at` with the same slug and
    /// data. A slug taken in the type fails with `Duplicate`.
    Import {
        id: EntryId,
        type_name: String,
        slug: String,
        data: Value,
        published_at: Option<DateTime<Utc>>,
    },
    /// Replace the working copy (the caller has merged and validated it).
    Update {
        id: EntryId,
        expected_version: Option<i64>,
        slug: String,
        data: Value,
    },
    /// Copy the working copy to the published snapshot, now.
    Publish {
        id: EntryId,
        expected_version: Option<i64>,
    },
    /// Replace the working copy (merged and validated) and publish it, as
    /// one version: a save that is live at once, or not at all.
    PublishDraft {
        id: EntryId,
        expected_version: Option<i64>,
        slug: String,
        data: Value,
    },
    /// Publish later; the scheduler publishes it when due.
    Schedule {
        id: EntryId,
        expected_version: Option<i64>,
        at: DateTime<Utc>,
    },
    /// Cancel a scheduled publish; the entry goes back to published (if a
    /// version is live) or draft, its working copy kept.
    Unschedule {
        id: EntryId,
        expected_version: Option<i64>,
    },
    /// Withdraw the published snapshot (and any scheduled publish).
    Unpublish {
        id: EntryId,
        expected_version: Option<i64>,
    },
    Delete {
        id: EntryId,
        expected_version: Option<i64>,
    },
}

/// One more entry change in a write, with the author its revision records.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupedOp {
    pub op: EntryOp,
    pub author: String,
}

/// Everything that must commit together: one entry change (or a publisher's
/// group of them), their revisions, the pages they re-rendered and the event
/// announcing them.
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    pub op: EntryOp,
    /// Further entry changes committed in the same transaction, after `op`:
    /// a publisher's group of concurrent publishes sharing one render of the
    /// pages they all touch. Each is version-checked like `op`; any failure
    /// fails the whole write. Writers list them by entry id, so two groups
    /// lock their entries in one order.
    pub others: Vec<GroupedOp>,
    /// Recorded on the revision.
    pub author: String,
    pub event: Option<NewEvent>,
    pub pages: Vec<PageWrite>,
    /// The event seq the pages were rendered from. When set, the write fails
    /// with `StoreError::PagesOutdated` if a later event touched any of the
    /// same paths, so the caller re-renders instead of overwriting a listing
    /// with one that misses a concurrent publish.
    pub pages_base_seq: Option<i64>,
    /// Entries the pages show (the rendered entries and those they refer
    /// to). With `pages_base_seq`, a later event about one of them also
    /// makes the write `PagesOutdated`: a referenced team renamed meanwhile
    /// must not leave its old name on a page no later event re-renders.
    pub depends_on: Vec<EntryId>,
    /// The list and reference rows of entries whose published state this
    /// write changes, replacing theirs in the same transaction.
    pub index: Vec<EntryIndex>,
    /// The time the write records (`published_at`, `updated_at`, the
    /// revision); commit time when unset. A publish passes the time its pages
    /// and list rows were computed with, so the stored entry sorts and buckets
    /// exactly where its rows say (a publish at 23:59:59.999 must not land in
    /// tomorrow's archive page while its rows point at today's).
    pub at: Option<DateTime<Utc>>,
}

impl Write {
    pub fn new(op: EntryOp, author: impl Into<String>) -> Self {
        Write {
            op,
            others: Vec::new(),
            author: author.into(),
            event: None,
            pages: Vec::new(),
            pages_base_seq: None,
            depends_on: Vec::new(),
            index: Vec::new(),
            at: None,
        }
    }

    pub fn with_others(mut self, ops: Vec<GroupedOp>) -> Self {
        self.others = ops;
        self
    }

    pub fn at(mut self, at: DateTime<Utc>) -> Self {
        self.at = Some(at);
        self
    }

    pub fn with_event(mut self, event: NewEvent) -> Self {
        self.event = Some(event);
        self
    }

    pub fn with_pages(mut self, pages: Vec<PageWrite>, base_seq: Option<i64>) -> Self {
        self.pages = pages;
        self.pages_base_seq = base_seq;
        self
    }

    pub fn with_index(mut self, index: Vec<EntryIndex>) -> Self {
        self.index = index;
        self
    }

    pub fn with_dependencies(mut self, entries: Vec<EntryId>) -> Self {
        self.depends_on = entries;
        self
    }
}

/// A rebuild's rows for one entry, computed from the entry at `version`.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexedEntry {
    pub version: i64,
    pub index: EntryIndex,
}

/// What a committed write produced.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteOutcome {
    /// The entry after the write; `None` after a delete or a pages-only write.
    pub entry: Option<Entry>,
    /// The seq of the appended event, if the write carried one.
    pub seq: Option<i64>,
    /// The entries after each of `Write::others`, in order.
    pub others: Vec<Option<Entry>>,
}

/// Keyset-paginated listing of entries of one type, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryQuery {
    pub type_name: String,
    pub status: Option<EntryStatus>,
    /// Only entries whose id sorts after this one.
    pub after: Option<EntryId>,
    pub limit: u32,
}

/// What a person or token may do; each role may do everything the ones
/// before it may (the order is the derive's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Drafts and submitting them for review.
    Writer,
    /// Also review, publish, schedule, unpublish and delete.
    Editor,
    /// Also accounts, tokens, site settings and site-wide operations.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Writer, Role::Editor, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Writer => "writer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// An API token as stored: only the SHA-256 of the secret, never the secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiToken {
    pub name: String,
    pub role: Role,
    /// Lowercase hex SHA-256 of the bearer secret.
    #[serde(skip)]
    pub hash: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A running node's report: every event up to `held_seq` is applied and
/// its pages' new bytes are in the node's memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeHeartbeat {
    pub node: String,
    pub held_seq: i64,
    pub seen_at: DateTime<Utc>,
    /// Past this the node counts as gone (it stopped without saying so).
    pub expires_at: DateTime<Utc>,
}

/// A destination's place in the event log and who sends to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxCursor {
    pub destination: String,
    /// The last seq the destination acknowledged.
    pub seq: i64,
    /// The node holding the lease, while `lease_until` lies ahead.
    pub holder: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// One attempt to deliver the events `first_seq..=last_seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    pub destination: String,
    pub first_seq: i64,
    pub last_seq: i64,
    /// 1 for the first try of these events.
    pub attempt: i32,
    pub ok: bool,
    /// The HTTP status the destination answered, if it answered.
    pub status: Option<i32>,
    /// What the destination said, or why it could not be reached.
    pub detail: String,
    pub duration_ms: i64,
    pub node: String,
    pub at: DateTime<Utc>,
}

/// What deleting an image did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaDeletion {
    /// Gone with its pages and variants; the event has this seq.
    Deleted { seq: i64 },
    /// Nothing changed: these published entries show it.
    InUse(Vec<EntryId>),
}

/// A connection pool's state, for the dashboards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// Connections open, busy or idle.
    pub size: usize,
    /// Idle connections ready for a query.
    pub idle: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
}
