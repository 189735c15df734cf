//! What templates see: the published state as `Snapshot`, and entries turned
//! into template items (markdown rendered and sanitized, references expanded
//! one level, images given their variants) or into the JSON delivery
//! document.

use std::collections::{BTreeMap, HashMap};

use minijinja::Value as TplValue;
use minijinja::value::Serde;
use serde_json::{Map, Value, json};

use super::markdown;
use crate::content_types::{ContentType, ContentTypes, FieldKind, media_of};
use crate::model::{Entry, EntryId, Media, MediaId};

/// The published entries pages are rendered from: those the pages show
/// (never the whole site; see `publish::read`), adjusted in memory with the
/// change being published, so a publish renders the state it is about to
/// commit.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    by_id: HashMap<EntryId, Entry>,
    /// The images those entries show. An image never changes once
    /// uploaded, so a copy read at any time is as good as the row.
    media: HashMap<MediaId, Media>,
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
        Snapshot {
            by_id,
            media: HashMap::new(),
            seq,
        }
    }

    pub fn media(&self, id: MediaId) -> Option<&Media> {
        self.media.get(&id)
    }

    pub fn insert_media(&mut self, media: impl IntoIterator<Item = Media>) {
        self.media.extend(media.into_iter().map(|m| (m.id, m)));
    }

    /// The images the held entries show that are not held yet, each once:
    /// what a publish reads (in one query) before rendering.
    pub fn missing_media(&self, types: &ContentTypes) -> Vec<MediaId> {
        let mut ids: Vec<MediaId> = self
            .by_id
            .values()
            .filter_map(|e| Some((types.get(&e.type_name)?, e.published_data.as_ref()?)))
            .filter(|(ty, _)| ty.has_images())
            .flat_map(|(ty, data)| ty.images(data))
            .map(|i| i.media)
            .filter(|id| !self.media.contains_key(id))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
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
            Some(FieldKind::Image) => image(value, snapshot).map(|v| TplValue::from(Serde(v))),
            Some(FieldKind::List { of, .. }) if matches!(of.as_ref(), FieldKind::Image) => {
                let items: Vec<Value> = value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| image(v, snapshot))
                    .collect();
                Some(TplValue::from(Serde(items)))
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
        TplValue::from(Serde(data_with_images(types, target, snapshot))),
    );
    Some(TplValue::from(out))
}

/// An image with what its media says: `{ media, alt, caption, credit,
/// width, height, variants }`. `None` when the media is not in the snapshot
/// (deleted since): the page then shows no image rather than a broken one.
fn image(value: &Value, snapshot: &Snapshot) -> Option<Value> {
    let media = snapshot.media(media_of(value)?)?;
    // The words are this use's own (the entry's), never the library's: a
    // page does not change when the library entry is edited, so it needs
    // no re-render then.
    let mut out = value.as_object()?.clone();
    let largest = media.variants.iter().max_by_key(|v| v.width);
    out.insert(
        "width".into(),
        Value::from(largest.map_or(media.width, |v| v.width)),
    );
    out.insert(
        "height".into(),
        Value::from(largest.map_or(media.height, |v| v.height)),
    );
    let variants = media
        .variants
        .iter()
        .map(|v| json!({ "url": v.path, "width": v.width, "height": v.height, "format": v.format }))
        .collect();
    out.insert("variants".into(), Value::Array(variants));
    Some(Value::Object(out))
}

/// An entry's published data with its images expanded (and those whose
/// media is gone left out), for the one level a reference is expanded.
fn data_with_images(types: &ContentTypes, entry: &Entry, snapshot: &Snapshot) -> Value {
    let data = entry.published_data.clone().unwrap_or(Value::Null);
    match (types.get(&entry.type_name), data) {
        (Some(ty), Value::Object(fields)) if ty.has_images() => {
            Value::Object(expand_images(ty, fields, snapshot))
        }
        (_, data) => data,
    }
}

fn expand_images(
    ty: &ContentType,
    mut fields: Map<String, Value>,
    snapshot: &Snapshot,
) -> Map<String, Value> {
    for name in ty.image_fields() {
        let Some(value) = fields.remove(name) else {
            continue;
        };
        let expanded = match value {
            Value::Array(items) => Some(Value::Array(
                items.iter().filter_map(|v| image(v, snapshot)).collect(),
            )),
            one => image(&one, snapshot),
        };
        if let Some(v) = expanded {
            fields.insert(name.to_owned(), v);
        }
    }
    fields
}

/// The JSON delivery document of a published entry: its published data with
/// references expanded one level and images given their variants, and its
/// markdown fields rendered to sanitized HTML under `html`.
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
                // An image whose media is gone stays as stored: clients see
                // which one it was, without variants.
                Some(FieldKind::Image) => image(value, snapshot).unwrap_or_else(|| value.clone()),
                Some(FieldKind::List { of, .. }) if matches!(of.as_ref(), FieldKind::Image) => {
                    Value::Array(
                        value
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|v| image(v, snapshot).unwrap_or_else(|| v.clone()))
                            .collect(),
                    )
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
            "data": data_with_images(types, t, snapshot),
        }),
        None => json!({ "id": value }),
    }
}
