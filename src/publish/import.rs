//! The publisher's half of `keel import`: a batch of whole entries written
//! in one transaction with their list rows and their own pages (HTML and
//! JSON), and the pages they share (listings, archive pages, the pages of
//! the entries they appear on, the sitemap files of their days) collected and rendered once at the end,
//! however many batches touched them.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::read::Pending;
use super::{ATTEMPTS, Plan, Publisher, RENDER_ALL_BATCH, dependencies, event};
use crate::content_types::{archive_list, sitemap_day};
use crate::error::AppError;
use crate::model::{Entry, EntryIndex};
use crate::render::Snapshot;
use crate::store::{EntryOp, GroupedOp, StoreError, Write};

/// A batch rendered and ready to commit.
pub struct PreparedBatch {
    entries: Vec<Entry>,
    write: Write,
}

impl Publisher {
    /// Renders the own pages of `entries` (their final states, ids chosen
    /// by the importer). `context` is the batch committed just before, which
    /// this one may refer to and which may not be committed yet: the import
    /// renders one batch while it writes the previous one.
    pub async fn prepare_import(
        &self,
        entries: Vec<Entry>,
        context: &[Entry],
        author: &str,
    ) -> Result<PreparedBatch, AppError> {
        let Some((first, rest)) = entries.split_first() else {
            return Ok(PreparedBatch {
                entries,
                write: Write::new(EntryOp::None, author),
            });
        };
        let published: Vec<&Entry> = entries
            .iter()
            .filter(|e| e.published_data.is_some())
            .collect();
        let index: Vec<EntryIndex> = published.iter().map(|e| self.types.index_of(e)).collect();
        let pending: Vec<Pending<'_>> = entries
            .iter()
            .map(|e| Pending {
                id: e.id,
                after: Some(e),
            })
            .collect();
        let own = Plan {
            entries: published.iter().map(|e| e.id).collect(),
            ..Plan::default()
        };
        let others: Vec<GroupedOp> = rest
            .iter()
            .map(|e| GroupedOp {
                op: import_op(e),
                author: author.to_owned(),
            })
            .collect();
        let seq = self.store.last_seq().await?;
        let mut snapshot = Snapshot::new(context.iter().cloned(), seq);
        let archives = self.read_for(&mut snapshot, &own, &pending).await?;
        let shown = dependencies(&self.types, &own, &snapshot);
        let pages = self.render(&own, archives, Arc::new(snapshot)).await?;
        // Every entry the write changes is in its event (the outdated-pages
        // check reads their ids among its keys).
        let keys = entries
            .iter()
            .filter_map(|e| super::event_entry(None, Some(e)))
            .collect();
        let write = Write::new(import_op(first), author)
            .with_others(others)
            .with_event(event("import", &pages, keys))
            .with_pages(pages, Some(seq))
            .with_dependencies(shown)
            .with_index(index);
        Ok(PreparedBatch { entries, write })
    }

    /// Commits a prepared batch; renders it again if a page it shows
    /// changed meanwhile. Returns the shared pages its entries touch.
    pub async fn commit_import(&self, batch: PreparedBatch) -> Result<Plan, AppError> {
        let PreparedBatch { entries, mut write } = batch;
        let author = write.author.clone();
        for _ in 0..ATTEMPTS {
            if matches!(write.op, EntryOp::None) {
                return Ok(Plan::default());
            }
            match self.write_and_apply(write).await {
                Ok(_) => {
                    let published: Vec<&Entry> = entries
                        .iter()
                        .filter(|e| e.published_data.is_some())
                        .collect();
                    return Ok(self.shared_pages(&published));
                }
                Err(StoreError::PagesOutdated { .. }) => {
                    write = self
                        .prepare_import(entries.clone(), &[], &author)
                        .await?
                        .write;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::Conflict(
            "pages kept changing during the import".into(),
        ))
    }

    /// What published `entries` show up on besides their own pages: the
    /// listings showing them, their archive pages, and the entries whose
    /// related lists hold them.
    pub fn shared_pages(&self, entries: &[&Entry]) -> Plan {
        let mut plan = Plan::default();
        for entry in entries {
            for listing in self.types.listings_showing(entry) {
                plan.listings.insert(listing.name.clone());
            }
            for listing in self.types.listings() {
                if let Some(bucket) = listing.archive.as_ref().and_then(|a| a.bucket(entry)) {
                    plan.listings.insert(listing.name.clone());
                    plan.buckets.insert((listing.name.clone(), bucket));
                }
            }
            for (_, owner) in self.types.related_owners(entry) {
                plan.related.insert(owner);
            }
            for (listing, key) in super::plan::groups_of(&self.types, entry) {
                plan.listings.insert(listing.clone());
                plan.groups.insert((listing, key));
            }
            if let (Some(_), Some(at)) = (&entry.published_slug, entry.published_at) {
                plan.sitemap_days.insert(sitemap_day(at));
            }
        }
        plan
    }

    /// Renders the shared pages an import collected, in bounded batches,
    /// with the archive pages next to new ones (their links changed).
    /// Returns the number of pages.
    pub async fn finish_import(&self, mut plan: Plan) -> Result<usize, AppError> {
        let mut neighbours = BTreeSet::new();
        for (name, bucket) in &plan.buckets {
            if let Some(listing) = self.types.listings().find(|l| &l.name == name) {
                let near = self
                    .store
                    .list_owners_near(&archive_list(listing), bucket)
                    .await?;
                neighbours.extend(near.into_iter().map(|b| (name.clone(), b)));
            }
        }
        plan.buckets.extend(neighbours);
        let mut total = 0;
        let ids: Vec<_> = plan.related.iter().copied().collect();
        for chunk in ids.chunks(RENDER_ALL_BATCH) {
            let batch = Plan {
                related: chunk.iter().copied().collect(),
                ..Plan::default()
            };
            total += self.render_batch(&batch).await?;
        }
        let buckets: Vec<_> = plan.buckets.into_iter().collect();
        for chunk in buckets.chunks(RENDER_ALL_BATCH) {
            let batch = Plan {
                buckets: chunk.iter().cloned().collect(),
                ..Plan::default()
            };
            total += self.render_batch(&batch).await?;
        }
        let groups: Vec<_> = plan.groups.into_iter().collect();
        for chunk in groups.chunks(RENDER_ALL_BATCH) {
            let batch = Plan {
                groups: chunk.iter().cloned().collect(),
                ..Plan::default()
            };
            total += self.render_batch(&batch).await?;
        }
        let days: Vec<_> = plan.sitemap_days.into_iter().collect();
        for chunk in days.chunks(RENDER_ALL_BATCH) {
            let batch = Plan {
                sitemap_days: chunk.iter().cloned().collect(),
                ..Plan::default()
            };
            total += self.render_batch(&batch).await?;
        }
        let listings = Plan {
            listings: plan.listings,
            sitemap_index: true,
            ..Plan::default()
        };
        total += self.render_batch(&listings).await?;
        Ok(total)
    }
}

fn import_op(entry: &Entry) -> EntryOp {
    EntryOp::Import {
        id: entry.id,
        type_name: entry.type_name.clone(),
        slug: entry.slug.clone(),
        data: entry.data.clone(),
        published_at: entry.published_data.as_ref().and(entry.published_at),
    }
}
