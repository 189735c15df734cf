//! What a publish reads: exactly the published entries its pages show,
//! never the whole site. The entry's referrers and related owners decide
//! the plan; then each planned page's lists are read as their own ordered,
//! limited range scans (`Store::listed`), and everything those pages
//! expand one reference deep is fetched by id, then the images all of those
//! show, in one query. The result is a partial `Snapshot` that renders the
//! same pages the full published state would.
//!
//! Why a partial snapshot renders the same lists: a list read with one
//! more row than its limit holds the list's true first `limit` entries even
//! after the change being published leaves it; any other entry the
//! snapshot holds that matches the list is a real member too; and the
//! renderer orders and cuts every list by the same byte keys the store
//! sorts by.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::future::try_join_all;

use super::{Plan, Publisher};
use crate::content_types::{
    Listing, MAX_BUCKET, MAX_BUCKET_PAGES, SITEMAP_LIST, archive_list, group_list, listing_list,
    related_list, sitemap_day,
};
use crate::error::AppError;
use crate::model::{Entry, EntryId, Link};
use crate::render::{ArchiveNav, Snapshot};
use crate::store::StoreResult;

/// A change about to commit: the entry and its published state after it
/// (`None`, or an entry without published state, removes it).
#[derive(Clone, Copy)]
pub(super) struct Pending<'a> {
    pub id: EntryId,
    pub after: Option<&'a Entry>,
}

impl Publisher {
    /// The entries the change's plan needs to be decided: those that
    /// reference the entry and the owners of the related lists showing it
    /// or them.
    pub(super) async fn read_around(
        &self,
        before: Option<&Entry>,
        after: Option<&Entry>,
    ) -> Result<Vec<Entry>, AppError> {
        let published = |e: &&Entry| e.published_data.is_some();
        let (before, after) = (before.filter(published), after.filter(published));
        let Some(id) = before.or(after).map(|e| e.id) else {
            return Ok(Vec::new());
        };
        let referrers = self.store.referrers(id).await?;
        let mut owners = BTreeSet::new();
        for state in [before, after].into_iter().flatten().chain(&referrers) {
            owners.extend(self.types.related_owners(state).into_iter().map(|(_, o)| o));
        }
        owners.remove(&id);
        let owners: Vec<EntryId> = owners.into_iter().collect();
        let owners = self.store.entries_by_ids(&owners).await?;
        Ok(referrers.into_iter().chain(owners).collect())
    }

    /// Adds to `snapshot` what the plan's pages show: each planned entry's
    /// related lists, each planned listing's queries, each planned archive
    /// page's bucket, every entry those expand one reference deep, and the
    /// images they all show.
    /// `pending` (the changes being committed) is re-applied last, so the
    /// changes win over any copy of their entries read from the store. Returns the archive pages to render and
    /// the links of the listings' first pages.
    pub(super) async fn read_for(
        &self,
        snapshot: &mut Snapshot,
        plan: &Plan,
        pending: &[Pending<'_>],
    ) -> Result<Archives, AppError> {
        let store = &self.store;
        let mut lists = Vec::new();
        for id in plan.entry_pages() {
            let Some(ty) = snapshot.get(*id).and_then(|e| self.types.get(&e.type_name)) else {
                continue;
            };
            for (name, related) in &ty.related {
                let list = related_list(ty, name);
                let limit = related.query.limit.saturating_add(1);
                lists.push(async move { store.listed(&list, &id.to_string(), limit).await });
            }
        }
        let mut listing_lists = Vec::new();
        for listing in self
            .types
            .listings()
            .filter(|l| plan.listings.contains(&l.name))
        {
            for (name, query) in &listing.queries {
                let list = listing_list(listing, name);
                let limit = query.limit.saturating_add(1);
                listing_lists.push(async move { store.listed(&list, "", limit).await });
            }
        }
        let bucket_reads = plan
            .buckets
            .iter()
            .filter_map(|(l, b)| Some((self.listing(l)?, b.clone())));
        let mut buckets: Vec<(&Listing, String)> = bucket_reads.collect();
        // Owners near every planned bucket, and near the end ("~") for each
        // planned listing's link to its newest bucket.
        let mut near: Vec<(&Listing, String)> = buckets.clone();
        for listing in self.types.listings() {
            if listing.archive.is_some() && plan.listings.contains(&listing.name) {
                near.push((listing, LAST.to_owned()));
            }
        }
        let owners = try_join_all(near.iter().map(|(listing, bucket)| async move {
            let list = archive_list(listing);
            store.list_owners_near(&list, bucket).await
        }));
        let groups: Vec<(&Listing, &str)> = plan
            .groups
            .iter()
            .filter_map(|(l, k)| Some((self.listing(l)?, k.as_str())))
            .collect();
        let group_reads = try_join_all(groups.iter().map(|(listing, key)| async move {
            let Some(g) = &listing.groups else {
                return Ok(Vec::new());
            };
            let limit = g.query.limit.saturating_add(1);
            store.listed(&group_list(listing), key, limit).await
        }));
        let (related, listed, owners, bucketed, sitemaps, grouped) = futures_util::try_join!(
            try_join_all(lists),
            try_join_all(listing_lists),
            owners,
            self.read_buckets(&buckets),
            self.read_sitemaps(plan, pending),
            group_reads
        )?;
        // A group holding entries besides the changed ones exists before
        // and after the change: the listing's list of groups stays.
        let mut hubs: BTreeSet<String> = groups
            .iter()
            .zip(&grouped)
            .filter(|(_, rows)| rows.iter().all(|e| pending.iter().any(|p| p.id == e.id)))
            .map(|((l, _), _)| l.name.clone())
            .collect();
        hubs.extend(
            self.types
                .listings()
                .filter(|l| l.groups.is_some() && plan.listings.contains(&l.name))
                .map(|l| l.name.clone()),
        );
        snapshot.insert_missing(grouped.into_iter().flatten());
        // A bucket that holds other entries than the changed ones exists
        // before and after the change: its neighbours keep their links.
        let lasting: BTreeSet<(String, String)> = buckets
            .iter()
            .zip(&bucketed)
            .filter(|(_, rows)| rows.iter().any(|e| pending.iter().all(|p| p.id != e.id)))
            .map(|((l, b), _)| (l.name.clone(), b.clone()))
            .collect();
        let read = related.into_iter().chain(listed).chain(bucketed);
        snapshot.insert_missing(read.flatten());
        for p in pending {
            snapshot.apply(p.id, p.after);
        }

        let mut known: BTreeSet<(String, String)> = plan.buckets.clone();
        for ((listing, _), found) in near.iter().zip(owners) {
            known.extend(found.into_iter().map(|b| (listing.name.clone(), b)));
        }
        // A bucket the change creates or empties changes its neighbours'
        // links: render them.
        let live = |known: &BTreeSet<(String, String)>, snapshot: &Snapshot| {
            let mut live = known.clone();
            live.retain(|(l, b)| !self.is_empty_bucket(l, b, plan, snapshot));
            live
        };
        let mut extra = Vec::new();
        for (l, b) in plan.relink.iter().filter(|key| !lasting.contains(*key)) {
            let nav = neighbours(&live(&known, snapshot), l, b);
            for n in [nav.earlier, nav.later].into_iter().flatten() {
                let key = (l.clone(), n);
                if !plan.buckets.contains(&key)
                    && let Some(listing) = self.listing(l)
                {
                    extra.push((listing, key.1));
                }
            }
        }
        extra.sort_by(|a, b| (&a.0.name, &a.1).cmp(&(&b.0.name, &b.1)));
        extra.dedup_by(|a, b| a.0.name == b.0.name && a.1 == b.1);
        if !extra.is_empty() {
            snapshot.insert_missing(self.read_buckets(&extra).await?.into_iter().flatten());
            buckets.extend(extra);
        }

        let hubs = self.read_hubs(snapshot, plan, &hubs, pending).await?;

        let mut wanted: BTreeSet<EntryId> = BTreeSet::new();
        for entry in snapshot.all() {
            if let (Some(ty), Some(data)) =
                (self.types.get(&entry.type_name), &entry.published_data)
            {
                wanted.extend(ty.references(data).into_iter().map(|r| r.id));
            }
        }
        let missing: Vec<EntryId> = wanted
            .into_iter()
            .filter(|id| snapshot.get(*id).is_none() && pending.iter().all(|p| p.id != *id))
            .collect();
        if !missing.is_empty() {
            snapshot.insert_missing(store.entries_by_ids(&missing).await?);
        }
        for p in pending {
            snapshot.apply(p.id, p.after);
        }
        let media = snapshot.missing_media(&self.types);
        if !media.is_empty() {
            snapshot.insert_media(store.media_by_ids(&media).await?);
        }

        let live = live(&known, snapshot);
        let pages = buckets
            .into_iter()
            .map(|(listing, bucket)| {
                let nav = neighbours(&live, &listing.name, &bucket);
                (listing.name.clone(), bucket, nav)
            })
            .collect();
        let firsts = plan
            .listings
            .iter()
            .map(|l| (l.clone(), neighbours(&live, l, LAST)))
            .collect();
        Ok(Archives {
            pages,
            firsts,
            sitemaps,
            hubs,
        })
    }

    /// The groups each of `hubs` (listings with groups whose first page is
    /// rendered) lists once the change is applied, as (key, label), and
    /// the lists of those first pages not planned already.
    async fn read_hubs(
        &self,
        snapshot: &mut Snapshot,
        plan: &Plan,
        hubs: &BTreeSet<String>,
        pending: &[Pending<'_>],
    ) -> Result<BTreeMap<String, Vec<(String, String)>>, AppError> {
        let store = &self.store;
        let mut out = BTreeMap::new();
        for listing in self.types.listings().filter(|l| hubs.contains(&l.name)) {
            let Some(groups) = &listing.groups else {
                continue;
            };
            if !plan.listings.contains(&listing.name) {
                let reads = listing.queries.iter().map(|(name, query)| async move {
                    let list = listing_list(listing, name);
                    store.listed(&list, "", query.limit.saturating_add(1)).await
                });
                snapshot.insert_missing(try_join_all(reads).await?.into_iter().flatten());
                for p in pending {
                    snapshot.apply(p.id, p.after);
                }
            }
            let list = group_list(listing);
            let keys = store.list_owners(&list).await?;
            // One row more than the changes: a group with any other entry
            // shows one.
            let rows = u32::try_from(pending.len() + 1).unwrap_or(u32::MAX);
            let firsts = try_join_all(keys.iter().map(|key| {
                let list = &list;
                async move { store.listed(list, key, rows).await }
            }))
            .await?;
            let mut found: BTreeMap<String, String> = BTreeMap::new();
            for (key, rows) in keys.iter().zip(firsts) {
                let label = rows
                    .iter()
                    .filter(|e| pending.iter().all(|p| p.id != e.id))
                    .flat_map(|e| groups.of(e))
                    .find(|(k, _)| k == key);
                if let Some((key, label)) = label {
                    found.insert(key, label);
                }
            }
            // The changed entries' own groups, as they are after the change.
            for p in pending {
                for (key, label) in p.after.map(|e| groups.of(e)).unwrap_or_default() {
                    found.entry(key).or_insert(label);
                }
            }
            let mut list: Vec<(String, String)> = found.into_iter().collect();
            list.sort_by_cached_key(|(key, label)| (label.to_lowercase(), key.clone()));
            out.insert(listing.name.clone(), list);
        }
        Ok(out)
    }

    /// The planned days' sitemap rows with the pending changes applied,
    /// and the stored sitemap files when the plan renders the index.
    async fn read_sitemaps(
        &self,
        plan: &Plan,
        pending: &[Pending<'_>],
    ) -> StoreResult<Option<Sitemaps>> {
        if plan.sitemap_days.is_empty() && !plan.renders_index() {
            return Ok(None);
        }
        let store = &self.store;
        let days = try_join_all(plan.sitemap_days.iter().map(|day| async move {
            // A whole day: its files are rewritten together (bounded by
            // what was published that day, not by the archive).
            let mut links = store.listed_links(SITEMAP_LIST, day, u32::MAX).await?;
            links.retain(|l| pending.iter().all(|p| p.id != l.id));
            for p in pending {
                if let Some(link) = p.after.and_then(link_of)
                    && sitemap_day(link.published_at) == *day
                {
                    links.push(link);
                }
            }
            links.sort_by_key(|l| (l.published_at, l.id));
            Ok::<_, crate::store::StoreError>((day.clone(), links))
        }));
        let files = async {
            match plan.renders_index() {
                true => store.sitemap_files().await.map(Some),
                false => Ok(None),
            }
        };
        let (days, files) = futures_util::try_join!(days, files)?;
        Ok(Some(Sitemaps { days, files }))
    }

    fn listing(&self, name: &str) -> Option<&Listing> {
        self.types.listings().find(|l| l.name == name)
    }

    /// Every entry of these buckets, as one range scan each.
    async fn read_buckets(&self, buckets: &[(&Listing, String)]) -> StoreResult<Vec<Vec<Entry>>> {
        let store = &self.store;
        try_join_all(buckets.iter().map(|(listing, bucket)| async move {
            let list = archive_list(listing);
            let most = MAX_BUCKET * MAX_BUCKET_PAGES;
            let rows = store.listed(&list, bucket, most + 1).await?;
            if rows.len() > most as usize {
                // Its pages list the first `most`; the rest are reachable only
                // through their own pages until the bucket is narrowed.
                tracing::warn!(
                    listing = %listing.name,
                    bucket = %bucket,
                    max = most,
                    "archive bucket holds more entries than its pages list; use by = \"day\""
                );
            }
            Ok(rows)
        }))
        .await
    }

    /// True when a bucket this publish read holds no entry once the change
    /// is applied (its page goes, and its neighbours link past it).
    fn is_empty_bucket(
        &self,
        listing: &str,
        bucket: &str,
        plan: &Plan,
        snapshot: &Snapshot,
    ) -> bool {
        let key = (listing.to_owned(), bucket.to_owned());
        if !plan.buckets.contains(&key) {
            return false;
        }
        let Some(archive) = self.listing(listing).and_then(|l| l.archive.as_ref()) else {
            return true;
        };
        !snapshot
            .of_type(&archive.query.type_name)
            .any(|e| archive.bucket(e).as_deref() == Some(bucket))
    }
}

/// Sorts after every bucket: the owner whose earlier neighbour is the
/// newest bucket.
const LAST: &str = "~";

/// What archive pages a publish renders, and with which links.
#[derive(Debug, Default)]
pub(super) struct Archives {
    /// (listing, bucket, links).
    pub pages: Vec<(String, String, ArchiveNav)>,
    /// A listing's first page's link to its newest bucket.
    pub firsts: BTreeMap<String, ArchiveNav>,
    /// When the plan renders the sitemap.
    pub sitemaps: Option<Sitemaps>,
    /// Listings with groups whose first page is rendered, with the groups
    /// it lists (key, label).
    pub hubs: BTreeMap<String, Vec<(String, String)>>,
}

/// A published entry as its sitemap shows it.
fn link_of(entry: &Entry) -> Option<Link> {
    entry.published_data.as_ref()?;
    Some(Link {
        id: entry.id,
        type_name: entry.type_name.clone(),
        slug: entry.published_slug.clone()?,
        published_at: entry.published_at?,
    })
}

/// What a publish renders the sitemap from.
#[derive(Debug, Default)]
pub(super) struct Sitemaps {
    /// The planned days and their entries, oldest first.
    pub days: Vec<(String, Vec<Link>)>,
    /// Every stored sitemap file (path, last modified) before the change,
    /// when the index is rendered.
    pub files: Option<Vec<(String, chrono::DateTime<chrono::Utc>)>>,
}

/// The buckets beside `bucket` among the live ones of a listing.
fn neighbours(live: &BTreeSet<(String, String)>, listing: &str, bucket: &str) -> ArchiveNav {
    let of_listing = live.iter().filter(|(l, _)| l == listing).map(|(_, b)| b);
    ArchiveNav {
        earlier: of_listing
            .clone()
            .filter(|b| b.as_str() < bucket)
            .max()
            .cloned(),
        later: of_listing.filter(|b| b.as_str() > bucket).min().cloned(),
    }
}
