//! What templates see: the published state as `Snapshot`, and entries turned
//! into template items (markdown rendered and sanitized, references expanded
//! one level) or into the JSON delivery document.

use std::collections::{BTreeMap, HashMap};

use minijinja::Value as TplValue;
use minijinja::value::Serde;
use serde_json::{Map, Value, json};

use super::markdown;
use crate::content_types::{ContentTypes, FieldKind};
use crate::model::{Entry, EntryId};

/// The published entries pages are rendered from: those the pages show
/// (never the whole site; see `publish::read`), adjusted in memory with the
/// change being published, so a publish renders the state it is about to
/// commit.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    by_id: HashMap<EntryId, Entry>,
    /// The event seq the store was at when the snapshot was read.
    pub seq: i64,
}

impl Snapshot {
    /// Keeps only entries with a published state.
    pub fn new(entries: impl IntoIterator<Item = Entry>, seq: i64) -> Self {
        let by_id = entries
            .into_iter()
            .filter(|e| e.published_data.is_some())
            .map(|e| (e.id, e))
            .collect();
        Snapshot { by_id, seq }
    }

    pub fn get(&self, id: EntryId) -> Option<&Entry> {
        self.by_id.get(&id)
    }

    /// Published entries of a type, in no particular order.
    pub fn of_type<'a>(&'a self, type_name: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        self.by_id
            .values()
            .filter(move |e| e.type_name == type_name)
    }

    pub fn all(&self) -> impl Iterator<Item = &Entry> {
        self.by_id.values()
    }

    /// Adds published entries it does not hold yet (one it holds may be
    /// the change being published, which must win over the stored copy).
    pub fn insert_missing(&mut self, entries: impl IntoIterator<Item = Entry>) {
        for e in entries {
            if e.published_data.is_some() {
                self.by_id.entry(e.id).or_insert(e);
            }
        }
    }

    /// Applies a pending change: the entry's state after it (`None` or an
    /// unpublished state removes it).
    pub fn apply(&mut self, id: EntryId, after: Option<&Entry>) {
        match after {
            Some(e) if e.published_data.is_some() => {
                self.by_id.insert(id, e.clone());
            }
            _ => {
                self.by_id.remove(&id);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

fn url_of(types: &ContentTypes, entry: &Entry) -> Option<String> {
    let ty = types.get(&entry.type_name)?;
    Some(ty.path_for(entry.published_slug.as_deref()?))
}

fn time(t: Option<chrono::DateTime<chrono::Utc>>) -> TplValue {
    t.map(|t| TplValue::from(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)))
        .unwrap_or(TplValue::from(()))
}

/// A template item: `{ id, type, slug, url, published_at, updated_at, data }`.
pub fn item(types: &ContentTypes, entry: &Entry, snapshot: &Snapshot) -> TplValue {
    let mut out: BTreeMap<&str, TplValue> = BTreeMap::new();
    out.insert("id", TplValue::from(entry.id.to_string()));
    out.insert("type", TplValue::from(entry.type_name.clone()));
    out.insert(
        "slug",
        TplValue::from(entry.published_slug.clone().unwrap_or_default()),
    );
    out.insert(
        "url",
        TplValue::from(url_of(types, entry).unwrap_or_default()),
    );
    out.insert("published_at", time(entry.published_at));
    // The row's updated_at moves with draft edits; readers see the published state.
    out.insert("updated_at", time(entry.published_at));
    out.insert("data", item_data(types, entry, snapshot));
    TplValue::from(out)
}

fn item_data(types: &ContentTypes, entry: &Entry, snapshot: &Snapshot) -> TplValue {
    let Some(Value::Object(data)) = entry.published_data.as_ref() else {
        return TplValue::from(BTreeMap::<String, TplValue>::new());
    };
    let ty = types.get(&entry.type_name);
    let mut out: BTreeMap<String, TplValue> = BTreeMap::new();
    for (name, value) in data {
        let kind = ty.and_then(|t| t.field(name)).map(|f| &f.kind);
        let converted = match kind {
            Some(FieldKind::Markdown { .. }) => value
                .as_str()
                .map(|s| TplValue::from_safe_string(markdown::to_safe_html(s))),
            Some(FieldKind::Reference { .. }) => reference(types, value, snapshot),
            Some(FieldKind::List { of, .. })
                if matches!(of.as_ref(), FieldKind::Reference { .. }) =>
            {
                let items: Vec<TplValue> = value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| reference(types, v, snapshot))
                    .collect();
                Some(TplValue::from(items))
            }
            _ => Some(TplValue::from(Serde(value))),
        };
        if let Some(v) = converted {
            out.insert(name.clone(), v);
        }
    }
    TplValue::from(out)
}

/// A referenced entry, one level deep: `{ id, type, slug, url, data }`. A
/// reference to an entry that is not published is left out.
fn reference(types: &ContentTypes, value: &Value, snapshot: &Snapshot) -> Option<TplValue> {
    let id = value.as_str().and_then(|s| uuid::Uuid::parse_str(s).ok())?;
    let target = snapshot.get(id)?;
    let mut out: BTreeMap<&str, TplValue> = BTreeMap::new();
    out.insert("id", TplValue::from(target.id.to_string()));
    out.insert("type", TplValue::from(target.type_name.clone()));
    out.insert(
        "slug",
        TplValue::from(target.published_slug.clone().unwrap_or_default()),
    );
    out.insert(
        "url",
        TplValue::from(url_of(types, target).unwrap_or_default()),
    );
    out.insert(
        "data",
        TplValue::from(Serde(
            target.published_data.as_ref().unwrap_or(&Value::Null),
        )),
    );
    Some(TplValue::from(out))
}

/// The JSON delivery document of a published entry: its published data with
/// references expanded one level, and its markdown fields rendered to
/// sanitized HTML under `html`.
pub fn json_document(types: &ContentTypes, entry: &Entry, snapshot: &Snapshot) -> Vec<u8> {
    let ty = types.get(&entry.type_name);
    let data = entry.published_data.clone().unwrap_or(Value::Null);
    let mut expanded = Map::new();
    let mut html = Map::new();
    if let Value::Object(fields) = &data {
        for (name, value) in fields {
            let kind = ty.and_then(|t| t.field(name)).map(|f| &f.kind);
            let v = match kind {
                Some(FieldKind::Reference { .. }) => json_reference(types, value, snapshot),
                Some(FieldKind::List { of, .. })
                    if matches!(of.as_ref(), FieldKind::Reference { .. }) =>
                {
                    Value::Array(
                        value
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|v| json_reference(types, v, snapshot))
                            .collect(),
                    )
                }
                Some(FieldKind::Markdown { .. }) => {
                    if let Some(s) = value.as_str() {
                        html.insert(name.clone(), Value::from(markdown::to_safe_html(s)));
                    }
                    value.clone()
                }
                _ => value.clone(),
            };
            expanded.insert(name.clone(), v);
        }
    }
    let doc = json!({
        "id": entry.id,
        "type": entry.type_name,
        "slug": entry.published_slug,
        "url": url_of(types, entry),
        "published_at": entry.published_at,
        "updated_at": entry.published_at,
        "data": expanded,
        "html": html,
    });
    serde_json::to_vec(&doc).expect("JSON values serialize")
}

/// A reference in the JSON document: the target's `{ id, type, slug, url,
/// data }` when published, else just `{ id }` so clients see the link broke.
fn json_reference(types: &ContentTypes, value: &Value, snapshot: &Snapshot) -> Value {
    let target = value
        .as_str()
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
        .and_then(|id| snapshot.get(id));
    match target {
        Some(t) => json!({
            "id": t.id,
            "type": t.type_name,
            "slug": t.published_slug,
            "url": url_of(types, t),
            "data": t.published_data,
        }),
        None => json!({ "id": value }),
    }
}
