//! Publishing: a visible change (publish, unpublish, delete) is rendered
//! first, from the published state read at a known event seq with the change
//! applied in memory, and then committed in one short transaction with its
//! pages and its event. If another change touched the same pages in between,
//! the store refuses the write and the pages are rendered again, so two
//! publishes racing on a listing both end up on it. Rendering runs on
//! blocking threads, never on request threads and never inside a
//! transaction.

mod plan;
mod read;

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Utc;
use tokio::sync::Semaphore;

pub use plan::{Plan, plan};

use read::{Archives, Pending};

use crate::cache::LocalWrite;
use crate::content_types::{ContentTypes, archive_list};
use crate::error::AppError;
use crate::model::{Entry, EntryId, EntryIndex, PageWrite};
use crate::render::{ArchiveNav, RenderError, Renderer, Snapshot};
use crate::store::{EntryOp, IndexedEntry, NewEvent, Store, StoreError, Write, WriteOutcome};

/// Attempts at rendering a change before giving up on concurrent writers.
const ATTEMPTS: usize = 8;
/// Pages per write when re-rendering everything.
pub const RENDER_ALL_BATCH: usize = 50;
/// Entries per transaction when rebuilding the list rows.
const INDEX_BATCH: u32 = 1000;

pub struct Publisher {
    store: Arc<dyn Store>,
    types: Arc<ContentTypes>,
    renderer: Arc<Renderer>,
    /// This node's cache, updated right after a commit (other nodes learn
    /// of it from the event log).
    cache: Option<Arc<dyn PageSink>>,
    /// Bounds concurrent page renders to the cores, so a burst of publishes
    /// queues instead of starving the runtime's blocking pool.
    render_slots: Arc<Semaphore>,
    /// Publishes on one node take turns: they all re-render the same hot
    /// listings, so running them at once only makes them refuse each other
    /// (and retry) during a burst of live updates. Nodes still race, and the
    /// store's outdated-pages check referees that.
    turn: tokio::sync::Mutex<()>,
}

/// Where committed pages go on this node (the page cache).
#[async_trait::async_trait]
pub trait PageSink: Send + Sync {
    /// Called before a write of these paths is committed; the returned
    /// guard lives until its pages have been applied (or the write failed).
    fn begin(&self, _paths: &[&str]) -> Option<LocalWrite> {
        None
    }

    async fn apply(&self, pages: &[PageWrite]);
}

#[async_trait::async_trait]
impl PageSink for crate::cache::PageCache {
    fn begin(&self, paths: &[&str]) -> Option<LocalWrite> {
        Some(self.begin_local(paths))
    }

    async fn apply(&self, pages: &[PageWrite]) {
        crate::cache::PageCache::apply(self, pages).await;
    }
}

/// A change to commit: the store op and the entry's state before and after.
pub struct Change {
    pub op: EntryOp,
    pub kind: &'static str,
    pub author: String,
    pub before: Option<Entry>,
    pub after: Option<Entry>,
}

impl Publisher {
    pub fn new(
        store: Arc<dyn Store>,
        types: Arc<ContentTypes>,
        renderer: Arc<Renderer>,
        cache: Option<Arc<dyn PageSink>>,
    ) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Publisher {
            store,
            types,
            renderer,
            cache,
            render_slots: Arc::new(Semaphore::new(cores)),
            turn: tokio::sync::Mutex::new(()),
        }
    }

    pub fn renderer(&self) -> &Arc<Renderer> {
        &self.renderer
    }

    /// Renders and commits a visible change with its pages and event.
    pub async fn commit(&self, change: Change) -> Result<WriteOutcome, AppError> {
        let _turn = self.turn.lock().await;
        let id = change
            .before
            .as_ref()
            .or(change.after.as_ref())
            .map(|e| e.id);
        let index = id.map(|id| match &change.after {
            Some(after) => self.types.index_of(after),
            None => EntryIndex::empty(id),
        });
        for _ in 0..ATTEMPTS {
            let seq = self.store.last_seq().await?;
            let (before, after) = (change.before.as_ref(), change.after.as_ref());
            let mut snapshot = self.read_around(before, after, seq).await?;
            let plan = plan(&self.types, before, after, &snapshot);
            let pending = id.map(|id| Pending { id, after });
            let archives = self.read_for(&mut snapshot, &plan, pending).await?;
            let shown = dependencies(&self.types, &plan, &snapshot);
            let pages = self.render(&plan, archives, Arc::new(snapshot)).await?;
            let mut keys: Vec<String> = Vec::new();
            if let Some(e) = change.before.as_ref().or(change.after.as_ref()) {
                keys.push(e.id.to_string());
            }
            let write = Write::new(change.op.clone(), change.author.clone())
                .with_event(event(change.kind, &pages, keys))
                .with_pages(pages, Some(seq))
                .with_dependencies(shown)
                .with_index(index.clone().into_iter().collect());
            // The rows and pages were computed with the predicted state's
            // time; the store records that time, not its own.
            let write = match &change.after {
                Some(after) => write.at(after.updated_at),
                None => write,
            };
            match self.write_and_apply(write).await {
                Ok(outcome) => return Ok(outcome),
                Err(StoreError::PagesOutdated { path, newer, .. }) => {
                    tracing::debug!(%path, newer, "pages changed under a publish; rendering again");
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::Conflict(
            "the pages this change affects kept changing; try again".into(),
        ))
    }

    /// Re-renders every published entry and listing, in bounded batches
    /// read by id, each committed with its own event. Returns the number of
    /// pages.
    pub async fn render_all(&self, batch: usize) -> Result<usize, AppError> {
        let per_batch = u32::try_from((batch / 2).max(1)).unwrap_or(u32::MAX);
        let mut total = 0;
        let mut after = None;
        loop {
            let entries = self.store.published_page(after, per_batch).await?;
            let Some(last) = entries.last() else { break };
            after = Some(last.id);
            let plan = Plan {
                entries: entries.iter().map(|e| e.id).collect(),
                ..Plan::default()
            };
            total += self.render_batch(&plan).await?;
        }
        let listings = Plan {
            listings: self.types.listings().map(|l| l.name.clone()).collect(),
            ..Plan::default()
        };
        total += self.render_batch(&listings).await?;
        for listing in self.types.listings().filter(|l| l.archive.is_some()) {
            let owners = self.store.list_owners(&archive_list(listing)).await?;
            for chunk in owners.chunks(batch.max(1)) {
                let plan = Plan {
                    buckets: chunk
                        .iter()
                        .map(|b| (listing.name.clone(), b.clone()))
                        .collect(),
                    ..Plan::default()
                };
                total += self.render_batch(&plan).await?;
            }
        }
        Ok(total)
    }

    async fn render_batch(&self, plan: &Plan) -> Result<usize, AppError> {
        let _turn = self.turn.lock().await;
        for _ in 0..ATTEMPTS {
            let seq = self.store.last_seq().await?;
            let ids: Vec<EntryId> = plan.entries.iter().copied().collect();
            let mut snapshot = Snapshot::new(self.store.entries_by_ids(&ids).await?, seq);
            let archives = self.read_for(&mut snapshot, plan, None).await?;
            let shown = dependencies(&self.types, plan, &snapshot);
            let pages = self.render(plan, archives, Arc::new(snapshot)).await?;
            let count = pages.len();
            let write = Write::new(EntryOp::None, "render")
                .with_event(event("render", &pages, Vec::new()))
                .with_pages(pages, Some(seq))
                .with_dependencies(shown);
            match self.write_and_apply(write).await {
                Ok(_) => return Ok(count),
                Err(StoreError::PagesOutdated { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::Conflict(
            "pages kept changing during the re-render".into(),
        ))
    }

    /// What an entry's page would show with `draft` as its published state
    /// (the editor's preview): its lists and references, read as a publish
    /// reads them.
    pub async fn preview_snapshot(&self, draft: &Entry) -> Result<Snapshot, AppError> {
        let seq = self.store.last_seq().await?;
        let mut snapshot = Snapshot::new(Vec::new(), seq);
        snapshot.apply(draft.id, Some(draft));
        let plan = Plan {
            entries: [draft.id].into(),
            ..Plan::default()
        };
        let pending = Pending {
            id: draft.id,
            after: Some(draft),
        };
        self.read_for(&mut snapshot, &plan, Some(pending)).await?;
        Ok(snapshot)
    }

    /// Rebuilds the list and reference rows when the content types' lists
    /// changed since they were built (or were never built: a database from
    /// before they existed). Walks the published entries by id in batches;
    /// O(site), so it runs only when the definitions change.
    pub async fn ensure_index(&self) -> Result<(), AppError> {
        let signature = self.types.index_signature();
        if self.store.index_signature().await?.as_deref() == Some(signature.as_str()) {
            return Ok(());
        }
        let start = std::time::Instant::now();
        let (mut after, mut entries) = (None, 0usize);
        loop {
            let page = self.store.published_page(after, INDEX_BATCH).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            entries += page.len();
            let rows: Vec<IndexedEntry> = page
                .iter()
                .map(|e| IndexedEntry {
                    version: e.version,
                    index: self.types.index_of(e),
                })
                .collect();
            self.store.write_index(&rows).await?;
        }
        self.store.finish_index(&signature).await?;
        tracing::info!(
            entries,
            elapsed_ms = start.elapsed().as_millis() as u64,
            "list index rebuilt for the current content types"
        );
        Ok(())
    }

    async fn render(
        &self,
        plan: &Plan,
        archives: Archives,
        snapshot: Arc<Snapshot>,
    ) -> Result<Vec<PageWrite>, AppError> {
        let mut tasks = tokio::task::JoinSet::new();
        let now = Utc::now();
        // One blocking task per target, at most one per core at a time.
        let mut spawn = |job: RenderJob| {
            let (renderer, snapshot, slots) = (
                self.renderer.clone(),
                snapshot.clone(),
                self.render_slots.clone(),
            );
            tasks.spawn(async move {
                let slot = slots.acquire_owned().await;
                tokio::task::spawn_blocking(move || {
                    // Held by the blocking work itself, so a cancelled publish
                    // cannot free the core while its compression still runs.
                    let _slot = slot;
                    match job {
                        RenderJob::Entry(entry) => renderer
                            .entry_pages(&entry, &snapshot, now)
                            .map(|pages| pages.into_iter().map(PageWrite::Upsert).collect()),
                        RenderJob::Listing(listing, nav) => renderer
                            .listing_page(&listing, &snapshot, &nav, now)
                            .map(|p| vec![PageWrite::Upsert(p)]),
                        RenderJob::Archive(listing, bucket, nav) => renderer
                            .archive_page(&listing, &bucket, &nav, &snapshot, now)
                            .map(|page| {
                                vec![match page {
                                    Some(page) => PageWrite::Upsert(page),
                                    None => PageWrite::Delete(listing.bucket_path(&bucket)),
                                }]
                            }),
                    }
                })
                .await
            });
        };
        for id in &plan.entries {
            if let Some(entry) = snapshot.get(*id) {
                spawn(RenderJob::Entry(Box::new(entry.clone())));
            }
        }
        for name in &plan.listings {
            if let Some(listing) = self.types.listings().find(|l| &l.name == name) {
                let nav = archives.firsts.get(name).cloned().unwrap_or_default();
                spawn(RenderJob::Listing(Box::new(listing.clone()), nav));
            }
        }
        for (name, bucket, nav) in archives.pages {
            if let Some(listing) = self.types.listings().find(|l| l.name == name) {
                spawn(RenderJob::Archive(Box::new(listing.clone()), bucket, nav));
            }
        }
        let mut rendered: Vec<PageWrite> = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let pages = joined
                .map_err(AppError::internal)?
                .map_err(AppError::internal)?
                .map_err(render_error)?;
            rendered.extend(pages);
        }
        // A path both rendered and deleted (a slug handed over) is rendered.
        let kept: BTreeSet<&str> = rendered.iter().map(PageWrite::path).collect();
        let mut writes: Vec<PageWrite> = plan
            .deletes
            .iter()
            .filter(|p| !kept.contains(p.as_str()))
            .map(|p| PageWrite::Delete(p.clone()))
            .collect();
        writes.extend(rendered);
        Ok(writes)
    }

    /// Commits a write and puts its pages in this node's cache, with the
    /// cache told beforehand so the write's own event costs no re-read.
    async fn write_and_apply(&self, write: Write) -> Result<WriteOutcome, StoreError> {
        let written = write.pages.clone();
        let paths: Vec<&str> = written.iter().map(PageWrite::path).collect();
        let mut local = self.cache.as_ref().and_then(|sink| sink.begin(&paths));
        let outcome = self.store.write(write).await?;
        self.after_commit(written.clone(), outcome.seq).await;
        if let Some(local) = &mut local {
            local.committed(outcome.seq);
        }
        Ok(outcome)
    }

    async fn after_commit(&self, mut pages: Vec<PageWrite>, seq: Option<i64>) {
        if let Some(seq) = seq {
            for p in &mut pages {
                if let PageWrite::Upsert(page) = p {
                    page.seq = seq;
                }
            }
        }
        if let Some(cache) = &self.cache {
            cache.apply(&pages).await;
        }
    }
}

enum RenderJob {
    Entry(Box<Entry>),
    Listing(Box<crate::content_types::Listing>, ArchiveNav),
    Archive(Box<crate::content_types::Listing>, String, ArchiveNav),
}

/// The event announcing a set of page changes: every path, and the keys
/// the edge should purge: the entries whose pages were written and the
/// listings. Type and field keys are left out on purpose: one live score
/// must not purge every match page at the CDN.
/// The entries whose published state the plan's entry pages show: each
/// rendered entry and those it refers to. (Listings and related lists need
/// no entry here: a change to an entry they show re-renders them, so the
/// paths already collide.)
fn dependencies(types: &ContentTypes, plan: &Plan, snapshot: &Snapshot) -> Vec<EntryId> {
    let mut shown = BTreeSet::new();
    for id in &plan.entries {
        shown.insert(*id);
        let Some(entry) = snapshot.get(*id) else {
            continue;
        };
        if let (Some(ty), Some(data)) = (types.get(&entry.type_name), &entry.published_data) {
            shown.extend(ty.references(data).into_iter().map(|r| r.id));
        }
    }
    shown.into_iter().collect()
}

fn event(kind: &str, pages: &[PageWrite], mut keys: Vec<String>) -> NewEvent {
    let mut paths = Vec::with_capacity(pages.len());
    for p in pages {
        paths.push(p.path().to_owned());
        if let PageWrite::Upsert(page) = p {
            let own = match page.entry_id {
                Some(id) => id.to_string(),
                None => match page
                    .surrogate_keys
                    .iter()
                    .find(|k| k.starts_with("listing:"))
                {
                    Some(listing) => listing.clone(),
                    None => continue,
                },
            };
            if !keys.contains(&own) {
                keys.push(own);
            }
        }
    }
    NewEvent {
        kind: kind.to_owned(),
        paths,
        keys,
    }
}

fn render_error(e: RenderError) -> AppError {
    AppError::internal(e)
}
