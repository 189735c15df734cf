//! Uploaded images: the original's metadata and the responsive variants
//! made from it once, at upload. The variants are served as ordinary pages
//! at content-hashed paths; this module only describes them, so the API can
//! list and explain an image without reading any body.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Media ids are UUIDv7 like entry ids (unique without a round trip,
/// ordered by creation, so the library pages newest first by id), but a
/// type of their own: an entry id cannot be passed where an image is meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MediaId(Uuid);

impl MediaId {
    /// A fresh id, ordered after every id this process made before it.
    pub fn now_v7() -> Self {
        MediaId(Uuid::now_v7())
    }

    pub fn uuid(self) -> Uuid {
        self.0
    }
}

impl From<Uuid> for MediaId {
    fn from(id: Uuid) -> Self {
        MediaId(id)
    }
}

impl fmt::Display for MediaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for MediaId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(MediaId)
    }
}

/// An uploaded image as the library shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Media {
    pub id: MediaId,
    /// Hex digest of the original's bytes: the same upload twice is one
    /// image, and the variants' paths (`/media/{hash}/…`) never change
    /// meaning, so they can be cached forever.
    pub hash: String,
    /// The uploaded file's name, without its extension.
    pub name: String,
    pub alt: String,
    pub caption: Option<String>,
    pub credit: Option<String>,
    /// The point to keep in view when cropping, as fractions of width and
    /// height from the top left (0.0..=1.0).
    pub focal: Option<(f32, f32)>,
    /// The original's media type (`image/jpeg`).
    pub format: String,
    pub width: u32,
    pub height: u32,
    /// Bytes of the original.
    pub size: i64,
    pub created_at: DateTime<Utc>,
    /// The person or token that uploaded it.
    pub created_by: String,
    /// Narrowest first.
    pub variants: Vec<MediaVariant>,
}

/// One responsive variant: a page at `path` holds its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaVariant {
    /// `/media/{hash}/{name}-{width}.{ext}`.
    pub path: String,
    pub width: u32,
    pub height: u32,
    /// Its media type (`image/webp`, `image/jpeg` or `image/png`).
    pub format: String,
    pub bytes: i64,
}

/// An upload, checked and stripped, ready to store with its variants.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMedia {
    pub id: MediaId,
    pub hash: String,
    pub name: String,
    pub alt: String,
    pub caption: Option<String>,
    pub credit: Option<String>,
    pub focal: Option<(f32, f32)>,
    pub format: String,
    pub width: u32,
    pub height: u32,
    /// The bytes as uploaded, kept to make variants again; never served
    /// (they may carry the photographer's metadata, GPS included).
    pub original: Vec<u8>,
    pub created_by: String,
}

/// Changes to an image's description; `None` leaves a field as it is.
/// The pixels never change: a new image is a new upload.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaChange {
    pub alt: Option<String>,
    /// `Some(None)` clears the caption.
    pub caption: Option<Option<String>>,
    pub credit: Option<Option<String>>,
    pub focal: Option<Option<(f32, f32)>>,
}

/// A page of the media library, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaQuery {
    /// Case-insensitive text the name or the alt text contains.
    pub q: Option<String>,
    /// Only media older than this one (the last of the previous page).
    pub before: Option<MediaId>,
    pub limit: u32,
}
