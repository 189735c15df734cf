//! The checked content model: what a `type.toml` or `listing.toml` becomes
//! once every rule has passed. Everything here is immutable after loading and
//! serialises to the shape the API shows clients (fields in declared order,
//! durations in seconds).

use std::time::Duration;

use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use serde::{Serialize, Serializer};
use serde_json::Value;
use uuid::Uuid;

use super::query::{Query, RelatedQuery};
use super::route::Route;
use crate::model::{CachePolicy, EntryId};

/// One content type, e.g. `match`.
#[derive(Debug, Clone, Serialize)]
pub struct ContentType {
    /// The folder name: `[a-z][a-z0-9_]*`.
    pub name: String,
    pub label: String,
    pub route: Route,
    /// The page template's environment name, e.g. `match/page.html`.
    pub template: String,
    /// The string or slug field that titles an entry in listings and admin.
    pub title_field: Option<String>,
    /// Fields whose values become surrogate keys (`competition:premier-cup`)
    /// on this type's pages, so the edge can purge by them.
    pub surrogate_key_fields: Vec<String>,
    #[serde(serialize_with = "values_in_order")]
    pub fields: IndexMap<String, Field>,
    pub cache: CachePolicy,
    /// A shorter policy while an entry is live (a match being played): a
    /// score that changes by the minute must not be served a day old when
    /// the origin fails.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_cache: Option<LiveCache>,
    pub prewarm: Option<PrewarmRule>,
    /// The live console's fields, for entries changed by the minute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console: Option<Console>,
    /// Lists rendered on this type's pages, by name (`lists.<name>`).
    #[serde(serialize_with = "values_in_order")]
    pub related: IndexMap<String, RelatedQuery>,
}

/// One field of a content type.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Field {
    pub name: String,
    pub label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    #[serde(flatten)]
    pub kind: FieldKind,
    pub required: bool,
    /// Already validated and normalised for the field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// Enforced by the API across entries of the type (string, slug, integer).
    pub unique: bool,
}

/// A field's kind with the constraints that belong to it. A list's `of` is
/// never itself a list or markdown.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum FieldKind {
    /// One line of plain text.
    String {
        #[serde(skip_serializing_if = "Option::is_none")]
        max_length: Option<u32>,
    },
    /// Plain text, newlines allowed.
    Text {
        #[serde(skip_serializing_if = "Option::is_none")]
        max_length: Option<u32>,
    },
    /// Markdown source; rendered to sanitised HTML for templates.
    Markdown {
        #[serde(skip_serializing_if = "Option::is_none")]
        max_length: Option<u32>,
    },
    Slug {
        #[serde(skip_serializing_if = "Option::is_none")]
        max_length: Option<u32>,
    },
    Integer {
        #[serde(skip_serializing_if = "Option::is_none")]
        min: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        max: Option<i64>,
    },
    Number {
        #[serde(skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        max: Option<f64>,
    },
    Boolean,
    /// RFC 3339, stored normalised to UTC.
    Datetime,
    Enum {
        values: Vec<String>,
    },
    /// The UUID of an entry of type `to`.
    Reference {
        to: String,
    },
    /// An uploaded image with its alt text, caption and credit (see
    /// `image.rs`).
    Image,
    /// `min`/`max` bound the number of items.
    List {
        of: Box<FieldKind>,
        #[serde(skip_serializing_if = "Option::is_none")]
        min: Option<u32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        max: Option<u32>,
    },
}

impl FieldKind {
    /// The keyword used in `type.toml`.
    pub fn keyword(&self) -> &'static str {
        match self {
            FieldKind::String { .. } => "string",
            FieldKind::Text { .. } => "text",
            FieldKind::Markdown { .. } => "markdown",
            FieldKind::Slug { .. } => "slug",
            FieldKind::Integer { .. } => "integer",
            FieldKind::Number { .. } => "number",
            FieldKind::Boolean => "boolean",
            FieldKind::Datetime => "datetime",
            FieldKind::Enum { .. } => "enum",
            FieldKind::Reference { .. } => "reference",
            FieldKind::Image => "image",
            FieldKind::List { .. } => "list",
        }
    }
}

/// The cache policy of an entry whose enum `field` holds one of `values`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveCache {
    pub field: String,
    pub values: Vec<String>,
    pub policy: CachePolicy,
}

impl LiveCache {
    /// True when the entry's (published) data makes it live.
    pub fn is_live(&self, data: &Value) -> bool {
        data.get(&self.field)
            .and_then(Value::as_str)
            .is_some_and(|v| self.values.iter().any(|live| live == v))
    }
}

/// `[console]`: what the live console edits, each change saved and
/// published in one click.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Console {
    /// Integer fields with +1/-1 buttons (home and away score).
    pub scores: Vec<String>,
    /// An enum field set with one button per value (scheduled, live, ...).
    pub status: Option<String>,
    /// A list of strings or texts: each line the console adds is appended
    /// (`67' Goal! ...`).
    pub commentary: Option<String>,
}

/// When an entry's pages are pre-warmed: from `before` ahead of the datetime
/// in `field` until `after` past it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrewarmRule {
    pub field: String,
    #[serde(serialize_with = "as_seconds")]
    pub before: Duration,
    #[serde(serialize_with = "as_seconds")]
    pub after: Duration,
}

impl PrewarmRule {
    /// The warm window of an entry, from its (normalised) data; `None` when
    /// the field is absent or not a datetime.
    pub fn window(&self, data: &Value) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let at = DateTime::parse_from_rfc3339(data.get(&self.field)?.as_str()?)
            .ok()?
            .with_timezone(&Utc);
        let before = chrono::Duration::from_std(self.before).ok()?;
        let after = chrono::Duration::from_std(self.after).ok()?;
        Some((
            at.checked_sub_signed(before)?,
            at.checked_add_signed(after)?,
        ))
    }

    /// True when `now` lies inside the entry's warm window.
    pub fn is_active(&self, data: &Value, now: DateTime<Utc>) -> bool {
        self.window(data)
            .is_some_and(|(start, end)| start <= now && now <= end)
    }
}

/// A listing page, e.g. `/` or `/matches`.
#[derive(Debug, Clone, Serialize)]
pub struct Listing {
    /// The folder name.
    pub name: String,
    pub path: String,
    pub title: String,
    pub template: String,
    pub cache: CachePolicy,
    /// Given to the template as `lists.<name>`, in declared order.
    pub queries: IndexMap<String, Query>,
    /// Older entries, one page per day or month (`{path}/2026/12`), so
    /// every entry has a page and a publish re-renders a bounded few.
    pub archive: Option<Archive>,
    /// One page per value of a field (`{path}/premier-cup`): the
    /// competitions, the tags.
    pub groups: Option<Groups>,
}

/// A listing's groups: the entries of `query` split by the value of
/// `field` (each item of a list field), a page per value, each ordered and
/// limited by the query.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Groups {
    pub query: Query,
    pub field: String,
}

impl Groups {
    /// The groups the entry's published state is in, as (key, value): the
    /// key is the value as a path segment (`Premier Cup` is
    /// `premier-cup`); values that spell no key are in no group.
    pub fn of(&self, entry: &crate::model::Entry) -> Vec<(String, String)> {
        if !self.query.matches(entry) {
            return Vec::new();
        }
        let Some(value) = entry
            .published_data
            .as_ref()
            .and_then(|d| d.get(&self.field))
        else {
            return Vec::new();
        };
        let values: &[serde_json::Value] = match value {
            serde_json::Value::Array(items) => items,
            one => std::slice::from_ref(one),
        };
        let mut out: Vec<(String, String)> = Vec::new();
        for value in values.iter().filter_map(|v| v.as_str()) {
            let key = value_token(value);
            if !key.is_empty() && out.iter().all(|(k, _)| *k != key) {
                out.push((key, value.to_owned()));
            }
        }
        out
    }
}

/// A value as a lowercase path segment or surrogate key: ASCII letters and
/// digits, other runs of characters become one `-`.
pub fn value_token(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// A listing's archive: the entries of `query` (no limit beyond
/// `MAX_BUCKET`) grouped by the day or month of its datetime order field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Archive {
    pub query: Query,
    pub by: Bucketing,
}

/// How archive pages split time (in UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bucketing {
    Day,
    Month,
}

/// Entries on one archive page at most; a bucket holding more continues on
/// numbered pages (`/matches/2026/12/page/2`).
pub const MAX_BUCKET: u32 = 1000;
/// Pages one bucket spans at most (a publish into it reads and renders
/// them all): choose day buckets for a list that can pass
/// `MAX_BUCKET * MAX_BUCKET_PAGES` in a month.
pub const MAX_BUCKET_PAGES: u32 = 50;

impl Archive {
    /// The entry's bucket (`2026/12` or `2026/12/05`), when its published
    /// state is in the archive's query.
    pub fn bucket(&self, entry: &crate::model::Entry) -> Option<String> {
        if !self.query.matches(entry) {
            return None;
        }
        let at = self.query.order_time(entry)?;
        Some(match self.by {
            Bucketing::Month => at.format("%Y/%m").to_string(),
            Bucketing::Day => at.format("%Y/%m/%d").to_string(),
        })
    }

    /// A bucket as readers see it: `December 2026`, `5 December 2026`.
    pub fn label(&self, bucket: &str) -> String {
        let mut parts = bucket.split('/');
        let (year, month, day) = (parts.next(), parts.next(), parts.next());
        let month = month
            .and_then(|m| m.parse::<usize>().ok())
            .and_then(|m| MONTHS.get(m.wrapping_sub(1)))
            .copied()
            .unwrap_or("");
        match day {
            Some(d) => format!(
                "{} {month} {}",
                d.trim_start_matches('0'),
                year.unwrap_or("")
            ),
            None => format!("{month} {}", year.unwrap_or("")),
        }
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

impl Listing {
    /// True when the entry's published state appears in any of this
    /// listing's queries (ignoring `limit`, so a caller re-rendering on this
    /// answer may re-render once too often, never once too few).
    pub fn shows(&self, entry: &crate::model::Entry) -> bool {
        self.queries.values().any(|q| q.matches(entry))
    }

    /// The public path of a group's page.
    pub fn group_path(&self, key: &str) -> String {
        format!("{}/{key}", self.path.trim_end_matches('/'))
    }

    /// The public path of an archive bucket.
    pub fn bucket_path(&self, bucket: &str) -> String {
        format!("{}/{bucket}", self.path.trim_end_matches('/'))
    }

    /// The public path of page `n` (from 1) of an archive bucket.
    pub fn bucket_page_path(&self, bucket: &str, n: usize) -> String {
        match n {
            0 | 1 => self.bucket_path(bucket),
            n => format!("{}/page/{n}", self.bucket_path(bucket)),
        }
    }
}

/// A reference field as the renderer and the API see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReferenceField<'a> {
    pub name: &'a str,
    /// The referenced type.
    pub to: &'a str,
    /// A list of references rather than one.
    pub many: bool,
}

/// One reference value found in an entry's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub id: EntryId,
    /// The type the field requires the target to be.
    pub to: String,
    /// JSON Pointer of the value, e.g. `/data/home_team` or `/data/teams/1`.
    pub pointer: String,
}

impl ContentType {
    /// The public path of this type's entry with that slug.
    pub fn path_for(&self, slug: &str) -> String {
        self.route.path_for(slug)
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.get(name)
    }

    /// The cache policy of an entry's pages, from its published data.
    pub fn cache_for(&self, data: Option<&Value>) -> CachePolicy {
        match (&self.live_cache, data) {
            (Some(live), Some(data)) if live.is_live(data) => live.policy,
            _ => self.cache,
        }
    }

    /// Reference and list-of-reference fields, in declared order.
    pub fn reference_fields(&self) -> impl Iterator<Item = ReferenceField<'_>> {
        self.fields.values().filter_map(|f| match &f.kind {
            FieldKind::Reference { to } => Some(ReferenceField {
                name: &f.name,
                to,
                many: false,
            }),
            FieldKind::List { of, .. } => match of.as_ref() {
                FieldKind::Reference { to } => Some(ReferenceField {
                    name: &f.name,
                    to,
                    many: true,
                }),
                _ => None,
            },
            _ => None,
        })
    }

    /// Names of the markdown fields, in declared order.
    pub fn markdown_fields(&self) -> impl Iterator<Item = &str> {
        self.fields
            .values()
            .filter(|f| matches!(f.kind, FieldKind::Markdown { .. }))
            .map(|f| f.name.as_str())
    }

    /// Every well-formed reference in `data` (validated data, or any data:
    /// malformed values are skipped), for existence checks.
    pub fn references(&self, data: &Value) -> Vec<Reference> {
        let mut found = Vec::new();
        for field in self.reference_fields() {
            let pointer = format!("/data/{}", field.name);
            match data.get(field.name) {
                Some(Value::String(s)) if !field.many => {
                    if let Ok(id) = Uuid::parse_str(s) {
                        found.push(Reference {
                            id,
                            to: field.to.to_owned(),
                            pointer,
                        });
                    }
                }
                Some(Value::Array(items)) if field.many => {
                    for (i, item) in items.iter().enumerate() {
                        if let Some(id) = item.as_str().and_then(|s| Uuid::parse_str(s).ok()) {
                            found.push(Reference {
                                id,
                                to: field.to.to_owned(),
                                pointer: format!("{pointer}/{i}"),
                            });
                        }
                    }
                }
                _ => {}
            }
        }
        found
    }

    /// The entry's title from `title_field`, if the type has one and the
    /// data carries it.
    pub fn title_of<'d>(&self, data: &'d Value) -> Option<&'d str> {
        data.get(self.title_field.as_deref()?)?.as_str()
    }
}

fn values_in_order<V: Serialize, S: Serializer>(
    map: &IndexMap<String, V>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(map.values())
}

fn as_seconds<S: Serializer>(d: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(d.as_secs())
}
