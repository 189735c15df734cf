//! The records of the newsroom app the store keeps: people and their
//! sessions, the audit log, site settings, review requests and entry
//! search. Like the rest of the store they carry no backend detail; what
//! they mean (password hashing, expiry, roles) is decided in `accounts`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::Role;
use crate::model::{EntryId, EntryStatus};

pub type UserId = Uuid;

/// A person who signs in to `/admin`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: UserId,
    /// Lowercase; unique.
    pub email: String,
    pub name: String,
    pub role: Role,
    /// The PHC string of the Argon2id hash; never leaves the server.
    #[serde(skip)]
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set while the account is disabled: no sign-in, no session works.
    pub disabled_at: Option<DateTime<Utc>>,
}

/// A new account; `email` already normalised (trimmed, lowercase).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
}

/// Changes to an account; `None` leaves a field as it is. Disabling an
/// account or changing its password ends all of its sessions in the same
/// transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserChange {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub password_hash: Option<String>,
    /// `Some(true)` disables, `Some(false)` enables.
    pub disabled: Option<bool>,
}

/// A signed-in browser. The cookie holds a 256-bit secret; the store keeps
/// only its SHA-256 (`id_hash`), like token hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    #[serde(skip)]
    pub id_hash: String,
    pub user_id: UserId,
    /// The token every state-changing form and request must echo.
    #[serde(skip)]
    pub csrf: String,
    pub created_at: DateTime<Utc>,
    /// Updated at most once a minute (idle expiry counts from it).
    pub last_seen_at: DateTime<Utc>,
    /// The absolute end, whatever the activity.
    pub expires_at: DateTime<Utc>,
    pub address: String,
    pub user_agent: String,
}

/// One entry of the audit log: who did what, when, from where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditRecord {
    /// Increasing; the keyset for paging back in time.
    pub id: i64,
    pub at: DateTime<Utc>,
    /// The person's email, the token's name, or `scheduler`/`cli`.
    pub actor: String,
    /// `user`, `token` or `system`.
    pub actor_kind: String,
    /// e.g. `entry.publish`, `entry.submit`, `user.disable`, `login.failed`.
    pub action: String,
    /// What it was done to: `match/<id>`, `user/<email>`, `settings`, ...
    pub target: String,
    #[schema(value_type = Option<String>)]
    pub entry_id: Option<EntryId>,
    /// Details of the action (a review comment, the fields changed).
    #[schema(value_type = Object)]
    pub detail: Value,
    /// The client's address, as the server saw it.
    pub address: String,
}

/// An audit entry to record; the store sets `id` and `at`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAudit {
    pub actor: String,
    pub actor_kind: String,
    pub action: String,
    pub target: String,
    pub entry_id: Option<EntryId>,
    pub detail: Value,
    pub address: String,
}

/// A page of the audit log, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditQuery {
    /// Only records with an `id` below this one (the previous page's last).
    pub before: Option<i64>,
    pub entry_id: Option<EntryId>,
    pub actor: Option<String>,
    /// Only actions starting with this (`entry.`, `login`).
    pub action_prefix: Option<String>,
    pub limit: u32,
}

/// The site's settings as stored: a JSON object (`name`, `base_url`,
/// `description`, `time_zone`), versioned like entries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SettingsRecord {
    pub data: Value,
    /// 0 before the first save.
    pub version: i64,
    pub updated_at: Option<DateTime<Utc>>,
    pub updated_by: Option<String>,
}

/// Where an entry stands in review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReviewState {
    /// A writer asked for it to be published.
    Submitted,
    /// An editor sent it back with a comment.
    Returned,
}

impl ReviewState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewState::Submitted => "submitted",
            ReviewState::Returned => "returned",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "submitted" => Some(ReviewState::Submitted),
            "returned" => Some(ReviewState::Returned),
            _ => None,
        }
    }
}

/// An entry's open review request (at most one per entry; approving it
/// removes it, the audit log keeps every step).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Review {
    pub entry_id: EntryId,
    pub type_name: String,
    pub state: ReviewState,
    /// The entry version the step was taken on: a review of an older
    /// version is out of date.
    pub version: i64,
    pub actor: String,
    pub comment: String,
    pub at: DateTime<Utc>,
}

/// Entries of one type matching a search, newest first by id.
#[derive(Debug, Clone, PartialEq)]
pub struct EntrySearch {
    pub type_name: String,
    /// Words to find, each as a prefix (`rov` finds Rovers), in the slug
    /// and the short strings of the working copy (titles, names: string
    /// values of at most 200 characters, so not article bodies), ignoring
    /// case and accents; every word must match. Empty lists everything.
    pub text: String,
    pub status: Option<EntryStatus>,
    /// Only entries whose working copy differs from the live one.
    pub unpublished_changes: bool,
    /// Only entries with a publish scheduled.
    pub scheduled: bool,
    /// Only entries whose id sorts before this one (keyset, newest first).
    pub before: Option<EntryId>,
    pub limit: u32,
}
