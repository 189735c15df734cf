//! Entries: the editors' working copy and the published snapshot readers
//! see, with their history. The one shape the store, the content types, the
//! renderer and the publisher all use.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// Entry ids are UUIDv7: unique without a round trip and ordered by creation,
/// so keyset pagination over `id` lists entries oldest first.
pub type EntryId = Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryStatus {
    /// Never published, or unpublished since.
    Draft,
    /// The published snapshot is live.
    Published,
    /// A publish is due at `publish_at`; nothing is live until then.
    Scheduled,
}

impl EntryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryStatus::Draft => "draft",
            EntryStatus::Published => "published",
            EntryStatus::Scheduled => "scheduled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "draft" => Some(EntryStatus::Draft),
            "published" => Some(EntryStatus::Published),
            "scheduled" => Some(EntryStatus::Scheduled),
            _ => None,
        }
    }
}

/// One entry: the editors' working copy (`slug`, `data`) and, once published,
/// the snapshot readers see (`published_slug`, `published_data`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub id: EntryId,
    #[serde(rename = "type")]
    pub type_name: String,
    pub slug: String,
    pub status: EntryStatus,
    /// Starts at 1 and grows by exactly one per change (optimistic concurrency).
    pub version: i64,
    pub data: Value,
    pub published_slug: Option<String>,
    pub published_data: Option<Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    pub publish_at: Option<DateTime<Utc>>,
}

impl Entry {
    /// Whether the working copy differs from what readers see (an entry
    /// never published has nothing live to differ from).
    pub fn has_unpublished_changes(&self) -> bool {
        match (&self.published_slug, &self.published_data) {
            (Some(slug), Some(data)) => *slug != self.slug || *data != self.data,
            _ => false,
        }
    }
}

/// One change to an entry, as recorded in its history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revision {
    pub entry_id: EntryId,
    pub version: i64,
    /// What the change was: `create`, `update`, `publish`, `schedule`,
    /// `unschedule` (a due entry that could no longer be published),
    /// `unpublish` or `delete`.
    pub action: String,
    pub slug: String,
    pub data: Value,
    /// Name of the token (or CLI user) that made the change.
    pub author: String,
    pub created_at: DateTime<Utc>,
}
