//! Publishing: a visible change (publish, unpublish, delete) is rendered
//! first, from the published state read at a known event seq with the change
//! applied in memory, and then committed in one short transaction with its
//! pages and its event. If another change touched the same pages in between,
//! the store refuses the write and the pages are rendered again, so two
//! publishes racing on a listing both end up on it. Rendering runs on
//! blocking threads, never on request threads and never inside a
//! transaction.
//!
//! Publishes arriving together on one node commit as a group: one read of
//! what they touch, one render of the pages they share (the home page, the
//! listings, a team page showing two live matches), one transaction with
//! each change version-checked. During a live match eight editors' score
//! updates cost about two publishes instead of eight in a row, and they no
//! longer refuse each other over the listings they all re-render. A group
//! that fails commits its changes one by one, so one editor's stale version
//! never fails another editor's publish.

mod import;
mod plan;
mod read;
mod refine;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SubsecRound, Utc};
use futures_util::future::try_join_all;
use tokio::sync::{Semaphore, oneshot};

pub use plan::{Plan, plan};
pub use refine::Refiner;

use read::{Archives, Pending};

use crate::cache::LocalWrite;
use crate::content_types::{ContentTypes, SITEMAP_LIST, archive_list, group_list};
use crate::error::AppError;
use crate::model::{Entry, EntryId, EntryIndex, Page, PageWrite};
use crate::render::{ArchiveNav, RenderError, Renderer, Snapshot, sitemap};
use crate::store::{
    EntryOp, EventEntry, GroupedOp, IndexedEntry, NewEvent, Store, StoreError, Write, WriteOutcome,
};

/// Attempts at rendering a change before giving up on concurrent writers.
const ATTEMPTS: usize = 8;
/// Pages per write when re-rendering everything.
pub const RENDER_ALL_BATCH: usize = 50;
/// Entries per transaction when rebuilding the list rows.
const INDEX_BATCH: u32 = 1000;
/// Changes committed together at most: bounds one group's render work.
const GROUP: usize = 32;
/// How long a group waits for publishes announced on this node (being
/// validated) to join it, at most.
const JOIN_WAIT: std::time::Duration = std::time::Duration::from_millis(20);
/// How long the sitemap index waits after a day file changed, gathering
/// the publishes meanwhile into one rewrite.
const INDEX_SETTLE: std::time::Duration = std::time::Duration::from_secs(1);

/// Cheap to clone: a group commits on its own task, apart from the request
/// that started it.
#[derive(Clone)]
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
    /// Recompresses committed pages at the best quality, when the renderer
    /// uses a fast one.
    refiner: Option<Refiner>,
    /// Wakes the task rewriting the sitemap index after day files change.
    indexer: Option<Arc<tokio::sync::Notify>>,
    /// Changes waiting to be committed as the next group.
    queue: Arc<Mutex<Queue>>,
    /// Publishes announced (their checks running) but not yet queued.
    arriving: Arc<tokio::sync::watch::Sender<usize>>,
    /// Groups and re-render batches on one node take turns: they re-render
    /// the same hot listings, so running them at once only makes them refuse
    /// each other. Nodes still race, and the store's outdated-pages check
    /// referees that.
    turn: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<Queued>,
    /// A task is committing groups; it takes what is queued until none is.
    committing: bool,
}

struct Queued {
    change: Change,
    done: oneshot::Sender<Result<WriteOutcome, AppError>>,
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

    /// A committed page's body recompressed smaller (same bytes, same
    /// version).
    async fn refined(&self, _page: Page) {}
}

#[async_trait::async_trait]
impl PageSink for crate::cache::PageCache {
    fn begin(&self, paths: &[&str]) -> Option<LocalWrite> {
        Some(self.begin_local(paths))
    }

    async fn apply(&self, pages: &[PageWrite]) {
        crate::cache::PageCache::apply(self, pages).await;
    }

    async fn refined(&self, page: Page) {
        self.refine(page).await;
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

/// A change on its way to the publisher (see `Publisher::announce`).
pub struct Announced {
    publisher: Publisher,
    queued: bool,
}

impl Announced {
    pub async fn commit(mut self, change: Change) -> Result<WriteOutcome, AppError> {
        let publisher = self.publisher.clone();
        publisher.enqueue(change, &mut self).await
    }

    fn arrived(&mut self) {
        if !std::mem::replace(&mut self.queued, true) {
            self.publisher.arriving.send_modify(|n| *n -= 1);
        }
    }
}

impl Drop for Announced {
    /// A change that never arrives (its checks failed) stops being awaited.
    fn drop(&mut self) {
        self.arrived();
    }
}

impl Change {
    fn entry(&self) -> Option<EntryId> {
        self.before.as_ref().or(self.after.as_ref()).map(|e| e.id)
    }
}

/// The change's state after it, with a publish's time set to the group's:
/// the time the store records for every change in the write.
fn stamped(change: &Change, at: DateTime<Utc>) -> Option<Entry> {
    let mut after = change.after.clone()?;
    if matches!(
        change.op,
        EntryOp::Publish { .. } | EntryOp::PublishDraft { .. }
    ) {
        after.published_at = Some(at);
        after.updated_at = at;
    }
    Some(after)
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
            refiner: None,
            indexer: None,
            queue: Arc::default(),
            arriving: Arc::new(tokio::sync::watch::Sender::new(0)),
            turn: Arc::default(),
        }
    }

    /// Pages this publisher commits are recompressed by `refiner`.
    pub fn with_refiner(mut self, refiner: Refiner) -> Self {
        self.refiner = Some(refiner);
        self
    }

    /// Rewrites the sitemap index on its own task, `INDEX_SETTLE` after
    /// publishes changed day files, once for all of them: the index lists
    /// every day of the archive, too much to render with each live score.
    pub fn with_sitemap_indexer(mut self) -> Self {
        let wake = Arc::new(tokio::sync::Notify::new());
        self.indexer = Some(wake.clone());
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                wake.notified().await;
                tokio::time::sleep(INDEX_SETTLE).await;
                let plan = Plan {
                    sitemap_index: true,
                    ..Plan::default()
                };
                let mut pause = INDEX_SETTLE;
                while let Err(e) = this.render_batch(&plan).await {
                    tracing::warn!(error = %e, "sitemap index not rewritten; trying again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_secs(60));
                }
            }
        });
        self
    }

    /// The permits renders take (one per core); background compression
    /// takes them too.
    pub fn render_slots(&self) -> Arc<Semaphore> {
        self.render_slots.clone()
    }

    pub fn renderer(&self) -> &Arc<Renderer> {
        &self.renderer
    }

    /// Renders and commits a visible change with its pages and event, in a
    /// group with the changes queued beside it.
    pub async fn commit(&self, change: Change) -> Result<WriteOutcome, AppError> {
        self.announce().commit(change).await
    }

    async fn enqueue(
        &self,
        change: Change,
        announced: &mut Announced,
    ) -> Result<WriteOutcome, AppError> {
        let (done, outcome) = oneshot::channel();
        let lead = {
            let mut queue = self.queue.lock().expect("publish queue");
            queue.waiting.push(Queued { change, done });
            !std::mem::replace(&mut queue.committing, true)
        };
        announced.arrived();
        if lead {
            // On its own task: the groups hold other editors' changes, which
            // commit even if this request goes away.
            let this = self.clone();
            tokio::spawn(async move { this.drain().await });
        }
        // Dropped unanswered only by a panic while committing its group.
        outcome.await.unwrap_or_else(|_| {
            Err(AppError::internal(std::io::Error::other(
                "the publish's group ended without an answer",
            )))
        })
    }

    /// Announces a change about to be committed (its checks are running):
    /// a group starting meanwhile waits for it (up to `JOIN_WAIT`) instead
    /// of rendering the pages they share twice, one after the other. Only
    /// publishes in flight cost that wait; a publish alone starts at once.
    pub fn announce(&self) -> Announced {
        self.arriving.send_modify(|n| *n += 1);
        Announced {
            publisher: self.clone(),
            queued: false,
        }
    }

    /// Commits queued groups until the queue is empty.
    async fn drain(self) {
        loop {
            let mut arriving = self.arriving.subscribe();
            let _ = tokio::time::timeout(JOIN_WAIT, arriving.wait_for(|n| *n == 0)).await;
            let group: Vec<Queued> = {
                let mut queue = self.queue.lock().expect("publish queue");
                if queue.waiting.is_empty() {
                    queue.committing = false;
                    return;
                }
                let n = queue.waiting.len().min(GROUP);
                queue.waiting.drain(..n).collect()
            };
            // A panic fails this group's callers (their senders drop), not
            // every later publish on the node.
            let this = self.clone();
            let _ = tokio::spawn(async move { this.commit_group(group).await }).await;
        }
    }

    async fn commit_group(&self, mut group: Vec<Queued>) {
        let _turn = self.turn.lock().await;
        // Entries are locked in id order, so two nodes' groups cannot
        // deadlock on each other.
        group.sort_by_key(|q| q.change.entry());
        if group.len() > 1 {
            let changes: Vec<&Change> = group.iter().map(|q| &q.change).collect();
            match self.commit_changes(&changes).await {
                Ok(outcomes) => {
                    for (queued, outcome) in group.into_iter().zip(outcomes) {
                        let _ = queued.done.send(Ok(outcome));
                    }
                    return;
                }
                Err(e) => {
                    tracing::debug!(error = %e, changes = group.len(), "group publish failed; committing its changes one by one");
                }
            }
        }
        for queued in group {
            let outcome = self.commit_changes(&[&queued.change]).await;
            let _ = queued.done.send(outcome.map(|mut o| o.remove(0)));
        }
    }

    /// Renders and commits these changes in one write; an outcome each.
    async fn commit_changes(&self, changes: &[&Change]) -> Result<Vec<WriteOutcome>, AppError> {
        let at = Utc::now().trunc_subsecs(6);
        let afters: Vec<Option<Entry>> = changes.iter().map(|c| stamped(c, at)).collect();
        let pending: Vec<Pending<'_>> = changes
            .iter()
            .zip(&afters)
            .filter_map(|(c, after)| {
                Some(Pending {
                    id: c.entry()?,
                    after: after.as_ref(),
                })
            })
            .collect();
        let index: Vec<EntryIndex> = pending
            .iter()
            .map(|p| match p.after {
                Some(after) => self.types.index_of(after),
                None => EntryIndex::empty(p.id),
            })
            .collect();
        let mut kinds: Vec<&str> = changes.iter().map(|c| c.kind).collect();
        kinds.dedup();
        let entries: Vec<EventEntry> = changes
            .iter()
            .zip(&afters)
            .filter_map(|(c, after)| event_entry(c.before.as_ref(), after.as_ref()))
            .collect();
        for _ in 0..ATTEMPTS {
            let seq = self.store.last_seq().await?;
            let around = try_join_all(
                changes
                    .iter()
                    .zip(&afters)
                    .map(|(c, after)| self.read_around(c.before.as_ref(), after.as_ref())),
            )
            .await?;
            let mut snapshot = Snapshot::new(around.into_iter().flatten(), seq);
            for p in &pending {
                snapshot.apply(p.id, p.after);
            }
            let mut planned = Plan::default();
            for (c, after) in changes.iter().zip(&afters) {
                planned.merge(plan(
                    &self.types,
                    c.before.as_ref(),
                    after.as_ref(),
                    &snapshot,
                ));
            }
            let archives = self.read_for(&mut snapshot, &planned, &pending).await?;
            let shown = dependencies(&self.types, &planned, &snapshot);
            let pages = self.render(&planned, archives, Arc::new(snapshot)).await?;
            let (first, rest) = changes.split_first().expect("a group has a change");
            let others = rest
                .iter()
                .map(|c| GroupedOp {
                    op: c.op.clone(),
                    author: c.author.clone(),
                })
                .collect();
            let write = Write::new(first.op.clone(), first.author.clone())
                .with_others(others)
                .with_event(event(&kinds.join(","), &pages, entries.clone()))
                .with_pages(pages, Some(seq))
                .with_dependencies(shown)
                .with_index(index.clone())
                // The rows and pages were computed with this time; the store
                // records it, not its own.
                .at(at);
            match self.write_and_apply(write).await {
                Ok(outcome) => {
                    let mut outcomes = vec![WriteOutcome {
                        entry: outcome.entry,
                        seq: outcome.seq,
                        others: Vec::new(),
                    }];
                    outcomes.extend(outcome.others.into_iter().map(|entry| WriteOutcome {
                        entry,
                        seq: outcome.seq,
                        others: Vec::new(),
                    }));
                    return Ok(outcomes);
                }
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
        for listing in self.types.listings().filter(|l| l.groups.is_some()) {
            let keys = self.store.list_owners(&group_list(listing)).await?;
            for chunk in keys.chunks(batch.max(1)) {
                let plan = Plan {
                    groups: chunk
                        .iter()
                        .map(|k| (listing.name.clone(), k.clone()))
                        .collect(),
                    ..Plan::default()
                };
                total += self.render_batch(&plan).await?;
            }
        }
        total += self.render_site_files(batch).await?;
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

    /// Renders every day's sitemap files, then the index and robots.txt.
    async fn render_site_files(&self, batch: usize) -> Result<usize, AppError> {
        let mut total = 0;
        let days = self.store.list_owners(SITEMAP_LIST).await?;
        for chunk in days.chunks(batch.max(1)) {
            let plan = Plan {
                sitemap_days: chunk.iter().cloned().collect(),
                ..Plan::default()
            };
            total += self.render_batch(&plan).await?;
        }
        let site = Plan {
            site: true,
            ..Plan::default()
        };
        Ok(total + self.render_batch(&site).await?)
    }

    /// Brings `/robots.txt` and the sitemaps up to date with the configured
    /// base URL (and the site's robots.txt template): re-renders every
    /// sitemap file when the stored index or robots.txt differ from what
    /// this node would write (first start, a new base URL), else nothing.
    pub async fn ensure_site_files(&self) -> Result<(), AppError> {
        let now = Utc::now();
        let paths = [
            sitemap::INDEX_PATH.to_owned(),
            sitemap::ROBOTS_PATH.to_owned(),
        ];
        let (files, stored) =
            futures_util::try_join!(self.store.sitemap_files(), self.store.pages(&paths))?;
        let index = self.renderer.sitemap_index_page(&files, now);
        let robots = self.renderer.robots_page(now).map_err(render_error)?;
        let stored_as = |page: &Page| stored.iter().find(|s| s.path == page.path);
        let same = |page: &Page| stored_as(page).is_some_and(|s| s.etag == page.etag);
        if same(&index) && same(&robots) {
            return Ok(());
        }
        // Day files under another base URL, or never written (a database
        // from before sitemaps): every day is rendered again. Otherwise
        // only the index and robots.txt are behind (the last publishes
        // before a stop).
        let other_base = stored_as(&index).is_some_and(|s| {
            let xml = String::from_utf8_lossy(&s.identity);
            let ours = format!("<loc>{}/", self.renderer.base_url());
            xml.contains("<loc>") && !xml.contains(&ours)
        });
        let robots_changed = stored_as(&robots).is_some() && !same(&robots);
        let unwritten = files.is_empty() && !self.store.list_owners(SITEMAP_LIST).await?.is_empty();
        if !(robots_changed || other_base || unwritten) {
            let site = Plan {
                site: true,
                ..Plan::default()
            };
            self.render_batch(&site).await?;
            return Ok(());
        }
        let start = std::time::Instant::now();
        let pages = self.render_site_files(RENDER_ALL_BATCH).await?;
        tracing::info!(
            pages,
            base_url = self.renderer.base_url(),
            elapsed_ms = start.elapsed().as_millis() as u64,
            "sitemaps and robots.txt rendered for this base URL"
        );
        Ok(())
    }

    async fn render_batch(&self, plan: &Plan) -> Result<usize, AppError> {
        let _turn = self.turn.lock().await;
        for _ in 0..ATTEMPTS {
            let seq = self.store.last_seq().await?;
            let ids: Vec<EntryId> = plan.entry_pages().copied().collect();
            let mut snapshot = Snapshot::new(self.store.entries_by_ids(&ids).await?, seq);
            let archives = self.read_for(&mut snapshot, plan, &[]).await?;
            let shown = dependencies(&self.types, plan, &snapshot);
            let pages = self.render(plan, archives, Arc::new(snapshot)).await?;
            let count = pages
                .iter()
                .filter(|p| matches!(p, PageWrite::Upsert(_)))
                .count();
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
        self.read_for(&mut snapshot, &plan, &[pending]).await?;
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
        mut archives: Archives,
        snapshot: Arc<Snapshot>,
    ) -> Result<Vec<PageWrite>, AppError> {
        let sitemaps = archives.sitemaps.take();
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
                        RenderJob::Html(entry) => renderer
                            .entry_html_page(&entry, &snapshot, now)
                            .map(|page| vec![PageWrite::Upsert(page)]),
                        RenderJob::Listing(listing, nav, groups) => renderer
                            .listing_page(&listing, &snapshot, &nav, &groups, now)
                            .map(|p| vec![PageWrite::Upsert(p)]),
                        RenderJob::Group(listing, key) => renderer
                            .group_page(&listing, &key, &snapshot, now)
                            .map(|page| {
                                vec![match page {
                                    Some(page) => PageWrite::Upsert(page),
                                    None => PageWrite::Delete(listing.group_path(&key)),
                                }]
                            }),
                        RenderJob::Sitemap(day, links) => Ok(renderer
                            .sitemap_pages(&day, &links, now)
                            .into_iter()
                            .map(PageWrite::Upsert)
                            .collect()),
                        RenderJob::Robots => renderer
                            .robots_page(now)
                            .map(|page| vec![PageWrite::Upsert(page)]),
                        RenderJob::Archive(listing, bucket, nav) => renderer
                            .archive_pages(&listing, &bucket, &nav, &snapshot, now)
                            .map(|pages| {
                                // The page after the last goes (an emptied
                                // bucket's first): a write removes fewer than
                                // a page's worth of a bucket's entries.
                                let after = listing.bucket_page_path(&bucket, pages.len() + 1);
                                let mut writes: Vec<PageWrite> =
                                    pages.into_iter().map(PageWrite::Upsert).collect();
                                writes.push(PageWrite::Delete(after));
                                writes
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
        for id in plan.related.iter().filter(|id| !plan.entries.contains(id)) {
            if let Some(entry) = snapshot.get(*id) {
                spawn(RenderJob::Html(Box::new(entry.clone())));
            }
        }
        let listings: BTreeSet<&String> =
            plan.listings.iter().chain(archives.hubs.keys()).collect();
        for name in listings {
            if let Some(listing) = self.types.listings().find(|l| &l.name == name) {
                let nav = archives.firsts.get(name).cloned().unwrap_or_default();
                let groups = archives.hubs.get(name).cloned().unwrap_or_default();
                spawn(RenderJob::Listing(Box::new(listing.clone()), nav, groups));
            }
        }
        for (name, key) in &plan.groups {
            if let Some(listing) = self.types.listings().find(|l| &l.name == name) {
                spawn(RenderJob::Group(Box::new(listing.clone()), key.clone()));
            }
        }
        for (name, bucket, nav) in archives.pages {
            if let Some(listing) = self.types.listings().find(|l| l.name == name) {
                spawn(RenderJob::Archive(Box::new(listing.clone()), bucket, nav));
            }
        }
        let files = sitemaps.and_then(|sitemaps| {
            for (day, links) in sitemaps.days {
                spawn(RenderJob::Sitemap(day, links));
            }
            sitemaps.files
        });
        if plan.site {
            spawn(RenderJob::Robots);
        }
        let mut rendered: Vec<PageWrite> = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let pages = joined
                .map_err(AppError::internal)?
                .map_err(AppError::internal)?
                .map_err(render_error)?;
            rendered.extend(pages);
        }
        // The file after a day's last part goes (an emptied day's first): a
        // write removes fewer than 50,000 of a day's entries.
        for day in &plan.sitemap_days {
            let parts = rendered
                .iter()
                .filter(|w| sitemap::day_of(w.path()) == Some(day.as_str()))
                .count();
            rendered.push(PageWrite::Delete(sitemap::file_path(day, parts + 1)));
        }
        if let Some(files) = files {
            let index = self.sitemap_index(plan, files, &rendered, now).await?;
            rendered.push(index);
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

    /// The sitemap index once this plan's day files are written (`files`:
    /// the stored ones before).
    async fn sitemap_index(
        &self,
        plan: &Plan,
        files: Vec<(String, DateTime<Utc>)>,
        rendered: &[PageWrite],
        now: DateTime<Utc>,
    ) -> Result<PageWrite, AppError> {
        let planned =
            |path: &str| sitemap::day_of(path).is_some_and(|d| plan.sitemap_days.contains(d));
        let mut listed: Vec<(String, DateTime<Utc>)> =
            files.into_iter().filter(|(p, _)| !planned(p)).collect();
        listed.extend(rendered.iter().filter_map(|w| match w {
            PageWrite::Upsert(page) if planned(&page.path) => Some((page.path.clone(), now)),
            _ => None,
        }));
        let renderer = self.renderer.clone();
        let slot = self.render_slots.clone().acquire_owned().await;
        let index = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            renderer.sitemap_index_page(&listed, now)
        })
        .await
        .map_err(AppError::internal)?;
        Ok(PageWrite::Upsert(index))
    }

    /// Commits a write and puts its pages in this node's cache, with the
    /// cache told beforehand so the write's own event costs no re-read.
    async fn write_and_apply(&self, write: Write) -> Result<WriteOutcome, StoreError> {
        let written = write.pages.clone();
        let paths: Vec<&str> = written.iter().map(PageWrite::path).collect();
        let mut local = self.cache.as_ref().and_then(|sink| sink.begin(&paths));
        let outcome = self.store.write(write).await?;
        if let Some(wake) = &self.indexer {
            let day_files = written.iter().any(|w| sitemap::day_of(w.path()).is_some());
            let indexed = written.iter().any(|w| w.path() == sitemap::INDEX_PATH);
            if day_files && !indexed {
                wake.notify_one();
            }
        }
        let applied = self.after_commit(written, outcome.seq).await;
        if let Some(refiner) = &self.refiner {
            refiner.submit(applied);
        }
        if let Some(local) = &mut local {
            local.committed(outcome.seq);
        }
        Ok(outcome)
    }

    /// Puts committed pages (stamped with their seq) in this node's cache;
    /// returns them.
    async fn after_commit(&self, mut pages: Vec<PageWrite>, seq: Option<i64>) -> Vec<PageWrite> {
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
        pages
    }
}

enum RenderJob {
    Entry(Box<Entry>),
    Html(Box<Entry>),
    Listing(
        Box<crate::content_types::Listing>,
        ArchiveNav,
        Vec<(String, String)>,
    ),
    /// A group's page.
    Group(Box<crate::content_types::Listing>, String),
    Archive(Box<crate::content_types::Listing>, String, ArchiveNav),
    /// A day's sitemap files.
    Sitemap(String, Vec<crate::model::Link>),
    Robots,
}

/// The entries whose published state the plan's entry pages show: each
/// rendered entry and those it refers to. (Listings and related lists need
/// no entry here: a change to an entry they show re-renders them, so the
/// paths already collide.)
fn dependencies(types: &ContentTypes, plan: &Plan, snapshot: &Snapshot) -> Vec<EntryId> {
    let mut shown = BTreeSet::new();
    for id in plan.entry_pages() {
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

/// The event announcing a set of page changes: every path, the entries
/// the write changed, and the keys the edge should purge: the entries' ids
/// (the store's outdated-pages check reads them, and the pages showing them
/// are among the paths), then each path's own key (so exactly the pages
/// written or removed, and a 404 the edge holds for a newly published
/// path). Type and field keys are left out on purpose: one live score must
/// not purge every match page at the CDN.
fn event(kind: &str, pages: &[PageWrite], entries: Vec<EventEntry>) -> NewEvent {
    let paths: Vec<String> = pages.iter().map(|p| p.path().to_owned()).collect();
    let mut keys: indexmap::IndexSet<String> = entries.iter().map(|e| e.id.to_string()).collect();
    keys.extend(paths.iter().map(|p| crate::model::page_key(p)));
    NewEvent {
        kind: kind.to_owned(),
        paths,
        keys: keys.into_iter().collect(),
        entries,
    }
}

/// An entry a change made, as the event records it: its state after the
/// change, or before it for a delete.
pub(crate) fn event_entry(before: Option<&Entry>, after: Option<&Entry>) -> Option<EventEntry> {
    let entry = after.or(before)?;
    let slug = entry
        .published_slug
        .clone()
        .or_else(|| before.and_then(|b| b.published_slug.clone()))
        .unwrap_or_else(|| entry.slug.clone());
    Some(EventEntry {
        id: entry.id,
        type_name: entry.type_name.clone(),
        slug,
        published_at: after.and_then(|a| a.published_at),
    })
}

fn render_error(e: RenderError) -> AppError {
    AppError::internal(e)
}
