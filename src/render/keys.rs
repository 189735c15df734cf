//! The surrogate keys a page carries: its own path key (what publishes
//! purge), its entry, type and listing, and the ids of every entry it shows
//! (a listing's matches, a team's matches), so an edge can be purged by
//! what a page shows. Built at render time, never per request.
//!
//! Key lists stay within what every edge accepts in one response header:
//! Varnish's default `http_resp_hdr_len` is 8 KB (a longer header makes it
//! fail the fetch), Fastly's `Surrogate-Key` and Cloudflare's `Cache-Tag`
//! take 16 KB. A page showing more entries than fit in [`MAX_KEYS_BYTES`]
//! (an archive month of 1,000 matches) carries the shown entries' type
//! keys instead of their ids: a purge by type still reaches it.

use crate::model::{Entry, page_key};

/// Bytes of a page's keys joined by one separator each.
pub const MAX_KEYS_BYTES: usize = 8000;

/// Collects a page's keys in order, without repeats.
pub(super) struct Keys {
    own: Vec<String>,
    shown: Vec<String>,
    shown_types: Vec<String>,
}

impl Keys {
    /// Keys starting with the page's path key.
    pub fn new(path: &str) -> Keys {
        Keys {
            own: vec![page_key(path)],
            shown: Vec::new(),
            shown_types: Vec::new(),
        }
    }

    /// A key that names the page itself (its entry, type, listing, field
    /// values): always kept.
    pub fn push(&mut self, key: impl Into<String>) {
        let key = key.into();
        if !self.own.contains(&key) {
            self.own.push(key);
        }
    }

    /// An entry the page shows.
    pub fn show(&mut self, entry: &Entry) {
        let id = entry.id.to_string();
        if !self.own.contains(&id) && !self.shown.contains(&id) {
            self.shown.push(id);
        }
        if !self.shown_types.contains(&entry.type_name) {
            self.shown_types.push(entry.type_name.clone());
        }
    }

    pub fn show_all<'e>(&mut self, entries: impl IntoIterator<Item = &'e Entry>) {
        for entry in entries {
            self.show(entry);
        }
    }

    /// The page's keys: its own, then the shown entries' ids, or their
    /// types when the ids would pass [`MAX_KEYS_BYTES`].
    pub fn finish(self) -> Vec<String> {
        let Keys {
            mut own,
            shown,
            shown_types,
        } = self;
        let size = |keys: &[String]| keys.iter().map(|k| k.len() + 1).sum::<usize>();
        if size(&own) + size(&shown) <= MAX_KEYS_BYTES {
            own.extend(shown);
        } else {
            for ty in shown_types {
                if !own.contains(&ty) {
                    own.push(ty);
                }
            }
        }
        own
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EntryStatus;

    fn entry(ty: &str) -> Entry {
        let at = chrono::Utc::now();
        Entry {
            id: uuid::Uuid::now_v7(),
            type_name: ty.into(),
            slug: "slug".into(),
            status: EntryStatus::Published,
            version: 1,
            data: serde_json::json!({}),
            published_slug: Some("slug".into()),
            published_data: Some(serde_json::json!({})),
            created_at: at,
            updated_at: at,
            published_at: Some(at),
            publish_at: None,
        }
    }

    #[test]
    fn a_page_carries_its_path_its_own_keys_and_what_it_shows() {
        let shown = [entry("match"), entry("article")];
        let mut keys = Keys::new("/Teams/Reds");
        keys.push("team");
        keys.push("team");
        keys.show_all(&shown);
        keys.show(&shown[0]);
        let keys = keys.finish();
        assert_eq!(
            keys,
            [
                "path:/teams/reds".to_owned(),
                "team".to_owned(),
                shown[0].id.to_string(),
                shown[1].id.to_string(),
            ]
        );
    }

    #[test]
    fn too_many_shown_entries_become_their_types() {
        let shown: Vec<Entry> = (0..1000).map(|_| entry("match")).collect();
        let mut keys = Keys::new("/matches/2026/05");
        keys.push("listing:matches");
        keys.show_all(&shown);
        assert_eq!(
            keys.finish(),
            ["path:/matches/2026/05", "listing:matches", "match"]
        );
        let few: Vec<Entry> = (0..200).map(|_| entry("match")).collect();
        let mut keys = Keys::new("/matches");
        keys.show_all(&few);
        let keys = keys.finish();
        assert_eq!(keys.len(), 201);
        assert!(keys.iter().map(|k| k.len() + 1).sum::<usize>() <= MAX_KEYS_BYTES);
    }
}
