//! Listing and related queries, evaluated in memory on PUBLISHED entries
//! (`published_data`, `published_slug`, `published_at`). The renderer uses
//! `select` to fill `lists.<name>` and `matches`/`owners` to work out which
//! pages an entry change touches; nothing here reads the store or the clock.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use serde_json::Value;
use uuid::Uuid;

use super::model::FieldKind;
use super::validate::{FieldError, check_value, numbers_equal};
use crate::model::{Entry, EntryId};

/// Results per query when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 100;
/// The largest `limit` a query may ask for.
pub const MAX_LIMIT: u32 = 1000;

/// Entry metadata a query may filter or order by, besides data fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaField {
    /// The published slug.
    Slug,
    PublishedAt,
    CreatedAt,
    UpdatedAt,
}

impl MetaField {
    pub const ALL: [MetaField; 4] = [
        MetaField::Slug,
        MetaField::PublishedAt,
        MetaField::CreatedAt,
        MetaField::UpdatedAt,
    ];

    pub fn name(self) -> &'static str {
        match self {
            MetaField::Slug => "slug",
            MetaField::PublishedAt => "published_at",
            MetaField::CreatedAt => "created_at",
            MetaField::UpdatedAt => "updated_at",
        }
    }

    pub fn parse(name: &str) -> Option<MetaField> {
        MetaField::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The kind its values have, for checking filter values.
    pub fn kind(self) -> FieldKind {
        match self {
            MetaField::Slug => FieldKind::Slug { max_length: None },
            _ => FieldKind::Datetime,
        }
    }
}

/// What a filter or order names: entry metadata or a data field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldRef {
    Meta(MetaField),
    Data(String),
}

impl FieldRef {
    pub fn name(&self) -> &str {
        match self {
            FieldRef::Meta(m) => m.name(),
            FieldRef::Data(name) => name,
        }
    }

    /// The published value of this field, if the entry is published and has it.
    fn value(&self, entry: &Entry) -> Option<Value> {
        let time = |t: Option<DateTime<Utc>>| t.map(|t| Value::String(t.to_rfc3339()));
        match self {
            FieldRef::Meta(MetaField::Slug) => entry.published_slug.clone().map(Value::String),
            FieldRef::Meta(MetaField::PublishedAt) => time(entry.published_at),
            FieldRef::Meta(MetaField::CreatedAt) => time(Some(entry.created_at)),
            FieldRef::Meta(MetaField::UpdatedAt) => time(Some(entry.updated_at)),
            FieldRef::Data(name) => entry.published_data.as_ref()?.get(name).cloned(),
        }
    }
}

impl fmt::Display for FieldRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for FieldRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// How values of a field compare, decided once from its kind.
#[derive(Debug, Clone, PartialEq)]
enum Compare {
    Text,
    Number,
    Boolean,
    Time,
    /// Enum values order by their position in `values`, not alphabetically.
    Rank(Vec<String>),
}

impl Compare {
    fn for_kind(kind: &FieldKind) -> Option<Compare> {
        Some(match kind {
            FieldKind::String { .. } | FieldKind::Text { .. } | FieldKind::Slug { .. } => {
                Compare::Text
            }
            FieldKind::Integer { .. } | FieldKind::Number { .. } => Compare::Number,
            FieldKind::Boolean => Compare::Boolean,
            FieldKind::Datetime => Compare::Time,
            FieldKind::Enum { values } => Compare::Rank(values.clone()),
            FieldKind::Markdown { .. }
            | FieldKind::Reference { .. }
            | FieldKind::Image
            | FieldKind::List { .. } => {
                return None;
            }
        })
    }

    fn key(&self, value: &Value) -> Option<Key> {
        Some(match self {
            Compare::Text => Key::Text(value.as_str()?.to_owned()),
            Compare::Number => Key::Number(value.as_f64()?),
            Compare::Boolean => Key::Boolean(value.as_bool()?),
            Compare::Time => Key::Time(parse_time(value)?),
            Compare::Rank(values) => {
                let s = value.as_str()?;
                Key::Rank(values.iter().position(|v| v == s)?)
            }
        })
    }
}

#[derive(Debug, PartialEq)]
enum Key {
    Text(String),
    Number(f64),
    Boolean(bool),
    Time(DateTime<Utc>),
    Rank(usize),
}

fn parse_time(value: &Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value.as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `field = value` or `field = [values]`: the entry matches when its value
/// is one of `values` (for a list field: when any item is).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Condition {
    pub field: FieldRef,
    /// Checked and normalised for the field when the query was loaded.
    pub values: Vec<Value>,
    #[serde(skip)]
    many: bool,
    #[serde(skip)]
    time: bool,
}

impl Condition {
    /// Checks the values against the field's kind (an item's kind for a
    /// list field). Markdown, text and image fields cannot be filtered on.
    pub fn new(field: FieldRef, kind: &FieldKind, values: &[Value]) -> Result<Condition, String> {
        let (item, many) = match kind {
            FieldKind::List { of, .. } => (of.as_ref(), true),
            other => (other, false),
        };
        if matches!(
            item,
            FieldKind::Markdown { .. } | FieldKind::Text { .. } | FieldKind::Image
        ) {
            return Err(format!("cannot filter on {} field {field}", item.keyword()));
        }
        if values.is_empty() {
            return Err(format!("filter on {field} lists no values"));
        }
        let mut errors: Vec<FieldError> = Vec::new();
        let checked: Vec<Value> = values
            .iter()
            .filter_map(|v| check_value(item, v, "", &mut errors))
            .collect();
        if let Some(first) = errors.first() {
            return Err(format!("filter value for {field} {}", first.message));
        }
        Ok(Condition {
            field,
            values: checked,
            many,
            time: matches!(item, FieldKind::Datetime),
        })
    }

    fn matches(&self, entry: &Entry) -> bool {
        let Some(value) = self.field.value(entry) else {
            return false;
        };
        match (&value, self.many) {
            (Value::Array(items), true) => items.iter().any(|i| self.accepts(i)),
            (_, false) => self.accepts(&value),
            _ => false,
        }
    }

    fn accepts(&self, value: &Value) -> bool {
        self.values.iter().any(|wanted| {
            if self.time {
                parse_time(value).is_some() && parse_time(value) == parse_time(wanted)
            } else {
                match (value, wanted) {
                    (Value::Number(a), Value::Number(b)) => numbers_equal(a, b),
                    _ => value == wanted,
                }
            }
        })
    }
}

/// Sort order: a field, ascending unless written `-field`. Entries without a
/// value sort last either way; ties go by id (creation order).
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub field: FieldRef,
    pub descending: bool,
    compare: Compare,
}

impl Order {
    /// Fails for kinds without a useful order (markdown, reference, image,
    /// list).
    pub fn new(field: FieldRef, kind: &FieldKind, descending: bool) -> Result<Order, String> {
        let compare = Compare::for_kind(kind)
            .ok_or_else(|| format!("cannot order by {} field {field}", kind.keyword()))?;
        Ok(Order {
            field,
            descending,
            compare,
        })
    }

    /// True when the order is by a datetime (what archives bucket by).
    pub fn is_by_time(&self) -> bool {
        self.compare == Compare::Time
    }

    /// Newest published first: the order when a query names none.
    pub fn default_order() -> Order {
        Order {
            field: FieldRef::Meta(MetaField::PublishedAt),
            descending: true,
            compare: Compare::Time,
        }
    }

    fn key(&self, entry: &Entry) -> Option<Key> {
        self.compare.key(&self.field.value(entry)?)
    }

    /// The entry's position in this order as bytes whose byte order is the
    /// order itself, so the store can sort and range-scan a list without
    /// knowing fields or kinds, and memory and database agree by
    /// construction. Entries without a value come last either way; ties go
    /// by id (reversed with the order).
    pub fn sort_key(&self, entry: &Entry) -> Vec<u8> {
        let key = self.key(entry);
        let mut out = Vec::with_capacity(40);
        // Written before the reversal applies: absent sorts last both ways.
        out.push(u8::from(key.is_none()));
        let mut ser = memcomparable::Serializer::new(out);
        ser.set_reverse(self.descending);
        let written = match key {
            Some(Key::Text(s)) => s.serialize(&mut ser),
            Some(Key::Number(n)) => n.serialize(&mut ser),
            Some(Key::Boolean(b)) => b.serialize(&mut ser),
            Some(Key::Time(t)) => (t.timestamp(), t.timestamp_subsec_nanos()).serialize(&mut ser),
            Some(Key::Rank(r)) => (r as u64).serialize(&mut ser),
            None => Ok(()),
        };
        let written = written.and_then(|()| entry.id.as_u64_pair().serialize(&mut ser));
        // Writing plain values into a Vec cannot fail.
        written.expect("memcomparable writes to a Vec");
        ser.into_inner()
    }
}

impl Serialize for Order {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let sign = if self.descending { "-" } else { "" };
        serializer.serialize_str(&format!("{sign}{}", self.field))
    }
}

/// Entries of one type, filtered, ordered and limited.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Query {
    #[serde(rename = "type")]
    pub type_name: String,
    pub filter: Vec<Condition>,
    pub order: Order,
    pub limit: u32,
}

impl Query {
    /// True when the entry is a published entry of the type that passes every
    /// filter. `limit` is not considered.
    pub fn matches(&self, entry: &Entry) -> bool {
        entry.type_name == self.type_name
            && entry.published_data.is_some()
            && self.filter.iter().all(|c| c.matches(entry))
    }

    /// The value of the order field as a time, when it is a datetime.
    pub fn order_time(&self, entry: &Entry) -> Option<DateTime<Utc>> {
        match self.order.key(entry)? {
            Key::Time(t) => Some(t),
            _ => None,
        }
    }

    /// The matching entries in order, at most `limit` of them.
    pub fn select<'a>(&self, entries: impl IntoIterator<Item = &'a Entry>) -> Vec<&'a Entry> {
        let mut all = self.ordered(entries);
        all.truncate(self.limit as usize);
        all
    }

    /// Every matching entry, in order (`limit` not applied).
    pub fn ordered<'a>(&self, entries: impl IntoIterator<Item = &'a Entry>) -> Vec<&'a Entry> {
        let mut keyed: Vec<(Vec<u8>, &Entry)> = entries
            .into_iter()
            .filter(|e| self.matches(e))
            .map(|e| (self.order.sort_key(e), e))
            .collect();
        keyed.sort_unstable_by(|(a, _), (b, _)| a.cmp(b));
        keyed.into_iter().map(|(_, e)| e).collect()
    }
}

/// A list on an entry's page: entries of `query.type_name` whose reference
/// fields named in `references` point at the page's entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RelatedQuery {
    pub name: String,
    #[serde(flatten)]
    pub query: Query,
    /// Reference (or list-of-reference) fields of `query.type_name` that
    /// point at the owning type.
    pub references: Vec<String>,
}

impl RelatedQuery {
    /// The entries whose pages list this entry: the ids its published
    /// reference fields name, if it passes the query's filters.
    pub fn owners(&self, entry: &Entry) -> Vec<EntryId> {
        if !self.query.matches(entry) {
            return Vec::new();
        }
        let Some(data) = entry.published_data.as_ref() else {
            return Vec::new();
        };
        let mut ids: Vec<EntryId> = Vec::new();
        for field in &self.references {
            let values: &[Value] = match data.get(field) {
                Some(Value::Array(items)) => items,
                Some(v) => std::slice::from_ref(v),
                None => &[],
            };
            let found = values
                .iter()
                .filter_map(|v| Uuid::parse_str(v.as_str()?).ok());
            for id in found {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        ids
    }

    /// True when the entry belongs in `owner`'s list (ignoring `limit`).
    pub fn matches(&self, entry: &Entry, owner: EntryId) -> bool {
        self.owners(entry).contains(&owner)
    }

    /// `owner`'s list: matching entries in order, at most `limit`.
    pub fn select<'a>(
        &self,
        entries: impl IntoIterator<Item = &'a Entry>,
        owner: EntryId,
    ) -> Vec<&'a Entry> {
        self.query
            .select(entries.into_iter().filter(|e| self.matches(e, owner)))
    }
}

#[cfg(test)]
mod tests;
