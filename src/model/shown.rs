//! What shows what: the bookkeeping that lets a publish read only what it
//! touches. Each published entry has rows saying which lists it appears in
//! (a listing's query, or a related list on another entry's page) and at
//! which sort position, and which entries it references. The store keeps
//! them in the same transaction as the entry's published state, so a
//! listing's page is one range scan and an entry's referrers one lookup.

use super::{EntryId, MediaId};

/// One list an entry appears in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Listed {
    /// `{listing}/{query}` or `{type}/{related list}`: folder names are
    /// unique across listings and types, so these never collide.
    pub list: String,
    /// The entry whose page shows the list (a related list), or empty (a
    /// listing's query).
    pub owner: String,
    /// The entry's position: byte order is the list's order, ties broken
    /// by id, so keys in one list are unique.
    pub key: Vec<u8>,
}

/// Everything one entry's published state puts in the bookkeeping; empty
/// when it is not published.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryIndex {
    pub entry: EntryId,
    pub listed: Vec<Listed>,
    /// Entries its published data references (one row each).
    pub references: Vec<EntryId>,
    /// Images its published data shows (one row each): an image in use
    /// cannot be deleted, and a publish naming a deleted one fails.
    pub media: Vec<MediaId>,
}

impl EntryIndex {
    /// No rows: the entry is not published (or was deleted).
    pub fn empty(entry: EntryId) -> Self {
        EntryIndex {
            entry,
            ..EntryIndex::default()
        }
    }
}

/// What a sitemap says about a published entry: where its page is and when
/// it was last published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub id: EntryId,
    pub type_name: String,
    /// The published slug.
    pub slug: String,
    pub published_at: chrono::DateTime<chrono::Utc>,
}
