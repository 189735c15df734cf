//! Compression in two passes. A publish compresses its pages with a fast
//! brotli quality, so a live score is on every page in milliseconds instead
//! of waiting on quality 11 (about 40 ms per 11 KB page, and a publish
//! renders several). The refiner then recompresses each written page at
//! quality 11 in the background, one page at a time, taking a render slot
//! like a publish does (so it never adds a thread to busy cores), and
//! stores the smaller body if the page still has the same bytes: readers
//! get the smallest encoding for as long as the page stays unchanged, paid
//! once per version. A page waits a second after its last write first, so
//! during a live match the home page is refined between bursts, not after
//! each score.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;

use super::PageSink;
use crate::model::{Page, PageWrite};
use crate::render::brotli;
use crate::store::Store;

/// Pages waiting in the channel at most (each holds its three bodies, so
/// this bounds the memory a burst can pin); beyond, a page keeps its fast
/// encoding until it is next written.
const QUEUE: usize = 1_000;
/// How long a page must stay unchanged before it is refined.
const SETTLE: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct Refiner {
    queue: mpsc::Sender<Page>,
}

impl Refiner {
    /// Starts the background task (on the current runtime); it ends when
    /// the last `Refiner` is dropped.
    pub fn start(
        store: Arc<dyn Store>,
        sink: Option<Arc<dyn PageSink>>,
        quality: u32,
        slots: Arc<Semaphore>,
    ) -> Refiner {
        let (queue, pages) = mpsc::channel(QUEUE);
        tokio::spawn(run(store, sink, quality, slots, pages));
        Refiner { queue }
    }

    /// Queues the pages a commit wrote.
    /// Sitemaps are left at the fast quality: crawlers read them rarely,
    /// and the index is rewritten by every publish.
    pub fn submit(&self, written: Vec<PageWrite>) {
        for write in written {
            if let PageWrite::Upsert(page) = write
                && page.content_type != crate::render::sitemap::XML
                && let Err(full) = self.queue.try_send(page)
            {
                let path = &full.into_inner().path;
                tracing::debug!(%path, "refine queue full; page keeps its fast encoding");
            }
        }
    }
}

async fn run(
    store: Arc<dyn Store>,
    sink: Option<Arc<dyn PageSink>>,
    quality: u32,
    slots: Arc<Semaphore>,
    mut pages: mpsc::Receiver<Page>,
) {
    let mut waiting = Waiting::default();
    loop {
        if waiting.is_empty() {
            match pages.recv().await {
                Some(page) => waiting.add(page),
                None => return,
            }
        }
        while let Ok(page) = pages.try_recv() {
            waiting.add(page);
        }
        let Some(ready_at) = waiting.next_ready_at() else {
            continue;
        };
        if ready_at > Instant::now() {
            // New writes may arrive meanwhile (and push their page back).
            tokio::select! {
                () = tokio::time::sleep_until(ready_at) => {}
                page = pages.recv() => match page {
                    Some(page) => waiting.add(page),
                    None => return,
                },
            }
            continue;
        }
        let Some(mut page) = waiting.pop() else {
            continue;
        };
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let identity = std::mem::take(&mut page.identity);
        let Ok((identity, br)) = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let br = brotli(&identity, quality);
            (identity, br)
        })
        .await
        else {
            continue;
        };
        page.identity = identity;
        if br.len() >= page.br.len() {
            continue;
        }
        match store.refine_page(&page.path, &page.etag, &br).await {
            Ok(true) => {
                page.br = br;
                if let Some(sink) = &sink {
                    sink.refined(page).await;
                }
            }
            Ok(false) => {}
            Err(e) => tracing::debug!(path = %page.path, error = %e, "page not refined"),
        }
    }
}

/// The newest version of each written page, by when it was last written.
#[derive(Default)]
struct Waiting {
    pages: HashMap<String, (Instant, Page)>,
    /// Paths with the time they were queued; an entry whose time no longer
    /// matches its page's (written again since) is skipped.
    order: VecDeque<(Instant, String)>,
}

impl Waiting {
    fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }

    fn add(&mut self, page: Page) {
        let now = Instant::now();
        self.order.push_back((now, page.path.clone()));
        self.pages.insert(page.path.clone(), (now, page));
    }

    /// When the oldest page is due.
    fn next_ready_at(&mut self) -> Option<Instant> {
        while let Some((at, path)) = self.order.front() {
            if self.pages.get(path).is_some_and(|(queued, _)| queued == at) {
                return Some(*at + SETTLE);
            }
            self.order.pop_front();
        }
        None
    }

    fn pop(&mut self) -> Option<Page> {
        let (_, path) = self.order.pop_front()?;
        self.pages.remove(&path).map(|(_, page)| page)
    }
}
