//! Which pages a change touches, computed explicitly from the listings'
//! queries, the related lists and the references between entries, never
//! "re-render everything".

use std::collections::BTreeSet;

use crate::content_types::{ContentTypes, sitemap_day};
use crate::model::{Entry, EntryId};
use crate::render::{Renderer, Snapshot};

/// The pages to render and the paths to remove for one change.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Published entries whose page (HTML and JSON) must be rendered.
    pub entries: BTreeSet<EntryId>,
    /// Published entries whose HTML page lists the change (a team page's
    /// matches): the page only, as their JSON document shows no related
    /// lists. An entry in `entries` too is rendered whole.
    pub related: BTreeSet<EntryId>,
    /// Listings (by folder name) to render.
    pub listings: BTreeSet<String>,
    /// Archive pages to render, as (listing, bucket); one the change
    /// empties is removed instead.
    pub buckets: BTreeSet<(String, String)>,
    /// Buckets the change's entry enters or leaves: their neighbours' links
    /// may change, so the neighbours are rendered too.
    pub relink: BTreeSet<(String, String)>,
    /// Group pages to render, as (listing, key); one the change empties is
    /// removed instead (and its listing's first page, which lists the
    /// groups, rendered).
    pub groups: BTreeSet<(String, String)>,
    /// Paths whose pages must disappear.
    pub deletes: BTreeSet<String>,
    /// Days (`2026-12-06`) whose sitemap files list the change.
    pub sitemap_days: BTreeSet<String>,
    /// The sitemap index. Publishes leave it to the node's indexer (see
    /// `Publisher::with_sitemap_indexer`): it lists every day, so it grows
    /// with the archive's age.
    pub sitemap_index: bool,
    /// `/robots.txt` and the sitemap index (start-up, `keel render --all`).
    pub site: bool,
}

impl Plan {
    /// Every entry with a page to render, whole or HTML only.
    pub fn entry_pages(&self) -> impl Iterator<Item = &EntryId> {
        self.entries
            .iter()
            .chain(self.related.iter().filter(|id| !self.entries.contains(id)))
    }

    /// Adds another change's pages (a group renders each page once).
    pub fn merge(&mut self, other: Plan) {
        self.entries.extend(other.entries);
        self.related.extend(other.related);
        self.listings.extend(other.listings);
        self.buckets.extend(other.buckets);
        self.relink.extend(other.relink);
        self.groups.extend(other.groups);
        self.deletes.extend(other.deletes);
        self.sitemap_days.extend(other.sitemap_days);
        self.sitemap_index |= other.sitemap_index;
        self.site |= other.site;
    }

    /// True when the sitemap index is rendered.
    pub fn renders_index(&self) -> bool {
        self.site || self.sitemap_index
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
            && self.related.is_empty()
            && self.listings.is_empty()
            && self.buckets.is_empty()
            && self.groups.is_empty()
            && self.deletes.is_empty()
            && self.sitemap_days.is_empty()
            && !self.renders_index()
    }
}

/// The plan for an entry going from `before` to `after` (their published
/// states matter; `None` for absent). `snapshot` holds, with the change
/// already applied, at least the published entries that reference this one
/// and the owners of the related lists showing it or them (`read_around`).
pub fn plan(
    types: &ContentTypes,
    before: Option<&Entry>,
    after: Option<&Entry>,
    snapshot: &Snapshot,
) -> Plan {
    let before = before.filter(|e| e.published_data.is_some());
    let after = after.filter(|e| e.published_data.is_some());
    let mut plan = Plan::default();

    if let Some(a) = after {
        plan.entries.insert(a.id);
    }
    if let Some(b) = before {
        let moved = after.is_none_or(|a| a.published_slug != b.published_slug);
        if let (true, Some(ty), Some(slug)) =
            (moved, types.get(&b.type_name), b.published_slug.as_deref())
        {
            plan.deletes.insert(ty.path_for(slug));
            plan.deletes.insert(Renderer::json_path(&ty.name, slug));
        }
    }
    // A sitemap lists where each page is and when it was last published.
    let link = |e: &Entry| Some((e.published_slug.clone()?, e.published_at?));
    let (was, is) = (before.and_then(link), after.and_then(link));
    if was != is {
        for (_, at) in [was, is].into_iter().flatten() {
            plan.sitemap_days.insert(sitemap_day(at));
        }
    }
    for listing in types.listings() {
        let Some(archive) = &listing.archive else {
            continue;
        };
        let (from, to) = (
            before.and_then(|e| archive.bucket(e)),
            after.and_then(|e| archive.bucket(e)),
        );
        let moved = from != to;
        if moved && (from.is_some() || to.is_some()) {
            // The first page links to the newest bucket.
            plan.listings.insert(listing.name.clone());
        }
        for bucket in [from, to].into_iter().flatten() {
            let key = (listing.name.clone(), bucket);
            if moved {
                plan.relink.insert(key.clone());
            }
            plan.buckets.insert(key);
        }
    }
    for state in [before, after].into_iter().flatten() {
        for listing in types.listings_showing(state) {
            plan.listings.insert(listing.name.clone());
        }
        plan.groups.extend(groups_of(types, state));
        for (_, owner) in types.related_owners(state) {
            if snapshot.get(owner).is_some() {
                plan.related.insert(owner);
            }
        }
    }
    // Pages that show this entry through a reference (a match page shows its
    // teams' names), and the listings and related lists that show those
    // pages' entries.
    let id = before.or(after).map(|e| e.id);
    if let Some(id) = id {
        for referrer in snapshot.all() {
            if referrer.id == id || !references(types, referrer, id) {
                continue;
            }
            plan.entries.insert(referrer.id);
            for listing in types.listings_showing(referrer) {
                plan.listings.insert(listing.name.clone());
            }
            for listing in types.listings() {
                if let Some(bucket) = listing.archive.as_ref().and_then(|a| a.bucket(referrer)) {
                    plan.buckets.insert((listing.name.clone(), bucket));
                }
            }
            plan.groups.extend(groups_of(types, referrer));
            // A team page lists its matches with both teams' names: renaming
            // one team changes the other team's page too.
            for (_, owner) in types.related_owners(referrer) {
                if snapshot.get(owner).is_some() {
                    plan.related.insert(owner);
                }
            }
        }
    }
    plan
}

/// The group pages showing an entry's published state, as (listing, key).
pub fn groups_of(types: &ContentTypes, entry: &Entry) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for listing in types.listings() {
        if let Some(groups) = &listing.groups {
            out.extend(
                groups
                    .of(entry)
                    .into_iter()
                    .map(|(key, _)| (listing.name.clone(), key)),
            );
        }
    }
    out
}

fn references(types: &ContentTypes, entry: &Entry, target: EntryId) -> bool {
    match (types.get(&entry.type_name), entry.published_data.as_ref()) {
        (Some(ty), Some(data)) => ty.references(data).iter().any(|r| r.id == target),
        _ => false,
    }
}
