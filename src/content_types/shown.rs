//! What each list shows, as rows for the store: a published entry's place
//! in every listing query and related list it matches, the entries it
//! references and the images it shows. Archive rows are owned by their
//! bucket (`2026/12`), group rows by their group's key (`premier-cup`),
//! pre-warm rows by the day the entry's warm window opens, sitemap rows by
//! the day the entry was last published. The publisher writes them with the
//! entry's published state and reads a list back as one ordered, limited
//! range scan.

use sha2::{Digest, Sha256};

use super::{ContentType, ContentTypes, Listing};
use crate::model::{Entry, EntryId, EntryIndex, Listed, MediaId};

/// Bumped when the meaning of the rows changes, so stored rows are rebuilt.
const FORMAT: &str = "keel-list-index-3 memcomparable-0.2";

impl ContentTypes {
    /// The rows of an entry's published state (none when unpublished).
    pub fn index_of(&self, entry: &Entry) -> EntryIndex {
        let mut index = EntryIndex::empty(entry.id);
        let Some(data) = entry.published_data.as_ref() else {
            return index;
        };
        for listing in self.listings() {
            for (name, query) in &listing.queries {
                if query.matches(entry) {
                    index.listed.push(Listed {
                        list: listing_list(listing, name),
                        owner: String::new(),
                        key: query.order.sort_key(entry),
                    });
                }
            }
        }
        for listing in self.listings() {
            let Some(archive) = &listing.archive else {
                continue;
            };
            if let Some(bucket) = archive.bucket(entry) {
                index.listed.push(Listed {
                    list: archive_list(listing),
                    owner: bucket,
                    key: archive.query.order.sort_key(entry),
                });
            }
        }
        for listing in self.listings() {
            let Some(groups) = &listing.groups else {
                continue;
            };
            for (key, _) in groups.of(entry) {
                index.listed.push(Listed {
                    list: group_list(listing),
                    owner: key,
                    key: groups.query.order.sort_key(entry),
                });
            }
        }
        for ty in self.types() {
            for (name, related) in &ty.related {
                for owner in related.owners(entry) {
                    index.listed.push(Listed {
                        list: related_list(ty, name),
                        owner: owner.to_string(),
                        key: related.query.order.sort_key(entry),
                    });
                }
            }
        }
        if let Some(ty) = self.get(&entry.type_name)
            && let Some((from, _)) = ty.prewarm.as_ref().and_then(|rule| rule.window(data))
        {
            index.listed.push(Listed {
                list: prewarm_list(ty),
                owner: prewarm_day(from),
                key: time_key(from, entry.id),
            });
        }
        if let (Some(slug), Some(at)) = (&entry.published_slug, entry.published_at)
            && !slug.is_empty()
        {
            index.listed.push(Listed {
                list: SITEMAP_LIST.to_owned(),
                owner: sitemap_day(at),
                key: time_key(at, entry.id),
            });
        }
        if let Some(ty) = self.get(&entry.type_name) {
            let mut refs: Vec<EntryId> = ty.references(data).into_iter().map(|r| r.id).collect();
            refs.sort_unstable();
            refs.dedup();
            refs.retain(|id| *id != entry.id);
            index.references = refs;
            let mut media: Vec<MediaId> = ty.images(data).into_iter().map(|i| i.media).collect();
            media.sort_unstable();
            media.dedup();
            index.media = media;
        }
        index
    }

    /// A digest of every list definition, reference and image field: when it
    /// differs from the one the store's rows were built with, they are
    /// rebuilt from the published entries.
    pub fn index_signature(&self) -> String {
        let mut hash = Sha256::new();
        hash.update(FORMAT);
        for listing in self.listings() {
            hash.update(listing.name.as_bytes());
            let queries = serde_json::to_vec(&listing.queries).expect("queries serialize");
            hash.update(&queries);
            let archive = serde_json::to_vec(&listing.archive).expect("archive serializes");
            hash.update(&archive);
            let groups = serde_json::to_vec(&listing.groups).expect("groups serialize");
            hash.update(&groups);
        }
        for ty in self.types() {
            hash.update(ty.name.as_bytes());
            let related = serde_json::to_vec(&ty.related).expect("related lists serialize");
            hash.update(&related);
            let prewarm = serde_json::to_vec(&ty.prewarm).expect("prewarm rule serializes");
            hash.update(&prewarm);
            for field in ty.reference_fields() {
                hash.update(field.name.as_bytes());
            }
            for name in ty.image_fields() {
                hash.update(b"image:");
                hash.update(name.as_bytes());
            }
        }
        hex::encode(hash.finalize())
    }
}

/// The list name of a listing's query.
pub fn listing_list(listing: &Listing, query: &str) -> String {
    format!("{}/{query}", listing.name)
}

/// The list name of a listing's groups (its owners are the groups' keys).
pub fn group_list(listing: &Listing) -> String {
    format!("{}@group", listing.name)
}

/// The list name of a listing's archive (its owners are the buckets).
pub fn archive_list(listing: &Listing) -> String {
    format!("{}@archive", listing.name)
}

/// The list of a pre-warming type's entries, owned by the day their warm
/// window opens (`2026-12-05`), so a pre-warm round reads only the days
/// whose windows can be open.
pub fn prewarm_list(ty: &ContentType) -> String {
    format!("{}@prewarm", ty.name)
}

/// The owner of a warm window in its type's pre-warm list.
pub fn prewarm_day(from: chrono::DateTime<chrono::Utc>) -> String {
    from.format("%Y-%m-%d").to_string()
}

/// Every published entry's page, owned by the day (UTC) it was last
/// published: one sitemap file per day, so a publish rewrites today's file
/// and the one the entry left, never the whole sitemap.
pub const SITEMAP_LIST: &str = "@sitemap";

/// The owner of an entry last published at `at` in [`SITEMAP_LIST`].
pub fn sitemap_day(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

/// Oldest first, ties by id: unique and ordered within an owner.
fn time_key(at: chrono::DateTime<chrono::Utc>, id: EntryId) -> Vec<u8> {
    let mut key = (at.timestamp_micros() as u64 ^ (1 << 63))
        .to_be_bytes()
        .to_vec();
    key.extend_from_slice(id.as_bytes());
    key
}

/// The list name of a type's related list (its owner is the page's entry).
pub fn related_list(ty: &ContentType, name: &str) -> String {
    format!("{}/{name}", ty.name)
}
