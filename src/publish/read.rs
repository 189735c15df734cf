//! What a publish reads: exactly the published entries its pages show,
//! never the whole site. The entry's referrers and related owners decide
//! the plan; then each planned page's lists are read as their own ordered,
//! limited range scans (`Store::listed`), and everything those pages
//! expand one reference deep is fetched by id. The result is a partial
//! `Snapshot` that renders the same pages the full published state would.
//!
//! Why a partial snapshot renders the same lists: a list read with one
//! more row than its limit holds the list's true first `limit` entries even
//! after the change being published leaves it; any other entry the
//! snapshot holds that matches the list is a real member too; and the
//! renderer orders and cuts every list by the same byte keys the store
//! sorts by.

use std::collections::BTreeSet;

use futures_util::future::try_join_all;

use super::{Plan, Publisher};
use crate::content_types::{listing_list, related_list};
use crate::error::AppError;
use crate::model::{Entry, EntryId};
use crate::render::Snapshot;

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
    /// or them. Read at `seq`.
    pub(super) async fn read_around(
        &self,
        before: Option<&Entry>,
        after: Option<&Entry>,
        seq: i64,
    ) -> Result<Snapshot, AppError> {
        let published = |e: &&Entry| e.published_data.is_some();
        let (before, after) = (before.filter(published), after.filter(published));
        let Some(id) = before.or(after).map(|e| e.id) else {
            return Ok(Snapshot::new(Vec::new(), seq));
        };
        let referrers = self.store.referrers(id).await?;
        let mut owners = BTreeSet::new();
        for state in [before, after].into_iter().flatten().chain(&referrers) {
            owners.extend(self.types.related_owners(state).into_iter().map(|(_, o)| o));
        }
        owners.remove(&id);
        let owners: Vec<EntryId> = owners.into_iter().collect();
        let owners = self.store.entries_by_ids(&owners).await?;
        let mut snapshot = Snapshot::new(referrers.into_iter().chain(owners), seq);
        snapshot.apply(id, after);
        Ok(snapshot)
    }

    /// Adds to `snapshot` what the plan's pages show: each planned entry's
    /// related lists, each planned listing's queries, and every entry those
    /// expand one reference deep. `pending` is re-applied last, so the
    /// change wins over any copy of the entry read from the store.
    pub(super) async fn read_for(
        &self,
        snapshot: &mut Snapshot,
        plan: &Plan,
        pending: Option<Pending<'_>>,
    ) -> Result<(), AppError> {
        let store = &self.store;
        let mut lists = Vec::new();
        for id in &plan.entries {
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
        let (related, listed) =
            futures_util::try_join!(try_join_all(lists), try_join_all(listing_lists))?;
        snapshot.insert_missing(related.into_iter().chain(listed).flatten());

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
            .filter(|id| snapshot.get(*id).is_none() && pending.is_none_or(|p| p.id != *id))
            .collect();
        if !missing.is_empty() {
            snapshot.insert_missing(store.entries_by_ids(&missing).await?);
        }
        if let Some(p) = pending {
            snapshot.apply(p.id, p.after);
        }
        Ok(())
    }
}
