//! The editor API's wire types: what requests carry and responses return.
//! They derive their OpenAPI schemas, so the document follows the code.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::model::{Entry, EntryStatus, Revision};

/// An entry as the editor API returns it; `data` is the working copy.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntryView {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub type_name: String,
    pub slug: String,
    #[schema(value_type = String, example = "draft")]
    pub status: EntryStatus,
    pub version: i64,
    #[schema(value_type = Object)]
    pub data: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    pub publish_at: Option<DateTime<Utc>>,
    /// The slug readers address while published (it changes only when a
    /// new version is published).
    pub published_slug: Option<String>,
    /// The working copy differs from the live version: readers see the
    /// live one until the entry is published again.
    pub unpublished_changes: bool,
}

impl From<Entry> for EntryView {
    fn from(e: Entry) -> Self {
        let unpublished_changes = e.has_unpublished_changes();
        EntryView {
            unpublished_changes,
            published_slug: e.published_slug,
            id: e.id,
            type_name: e.type_name,
            slug: e.slug,
            status: e.status,
            version: e.version,
            data: e.data,
            created_at: e.created_at,
            updated_at: e.updated_at,
            published_at: e.published_at,
            publish_at: e.publish_at,
        }
    }
}

/// Body of `POST /api/v1/entries/{type}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEntry {
    /// Lowercase `[a-z0-9-]`, unique within the type.
    pub slug: String,
    #[schema(value_type = Object)]
    pub data: Value,
}

/// Body of `PATCH /api/v1/entries/{type}/{id}`: fields in `data` replace the
/// working copy's; `null` removes an optional field.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchEntry {
    pub slug: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: Map<String, Value>,
}

/// Body of `POST .../publish` (optional): publish at a future time.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    /// RFC 3339; absent or in the past publishes now.
    pub at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntryList {
    pub items: Vec<EntryView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevisionView {
    pub version: i64,
    /// create, update, publish, schedule, unpublish or delete.
    pub action: String,
    pub slug: String,
    #[schema(value_type = Object)]
    pub data: Value,
    /// Name of the token that made the change.
    pub author: String,
    pub created_at: DateTime<Utc>,
}

impl From<Revision> for RevisionView {
    fn from(r: Revision) -> Self {
        RevisionView {
            version: r.version,
            action: r.action,
            slug: r.slug,
            data: r.data,
            author: r.author,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevisionList {
    pub items: Vec<RevisionView>,
}

/// RFC 9457 problem details.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemDoc {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: String,
    pub errors: Option<Vec<FieldErrorDoc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FieldErrorDoc {
    /// JSON Pointer into the request body, e.g. `/data/kickoff`.
    pub pointer: String,
    pub message: String,
}
