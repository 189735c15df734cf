//! Pre-warm: holding the pages readers are about to ask for before they ask.
//! A content type's pre-warm rule (matches: 30 minutes before kick-off until
//! 3 hours after) selects entries by time; their pages, their JSON
//! documents and the listings that show them are loaded on every node in
//! batched queries and pinned against eviction while the window lasts,
//! optionally requested through the CDN too ([`edge`]). At boot a node
//! warms those plus its most recent pages before it reports ready.
//!
//! The timetable (each candidate entry's window and paths) holds only the
//! entries whose windows can be open on the day of the round: they are read
//! from the type's pre-warm list by the day their window opens, a few range
//! scans whatever the archive's size. It is read again only after the event
//! log moved or the day changed, so a tick during a quiet spike costs no
//! query at all.

pub mod edge;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{Mutex, watch};

use self::edge::{EdgeReport, EdgeWarmer};
use crate::cache::{PageCache, WarmReport};
use crate::content_types::{ContentTypes, prewarm_day, prewarm_list};
use crate::model::{EntryId, MediaId};
use crate::render::Renderer;
use crate::store::{Store, StoreResult};

/// Most recent pages considered at boot; their bodies are only read up to
/// the byte budget.
const RECENT_LIMIT: u32 = 50_000;

/// An entry whose type pre-warms, with its window and pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Candidate {
    #[serde(rename = "type")]
    pub type_name: String,
    #[schema(value_type = String, format = Uuid)]
    pub id: EntryId,
    pub slug: String,
    /// The datetime the rule is anchored on (kick-off).
    pub anchor: DateTime<Utc>,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Its page and its JSON document.
    pub paths: Vec<String>,
    /// Paths of the listings that show it.
    pub listings: Vec<String>,
    /// Paths of the image variants its page shows (every width and
    /// format: which one a reader's browser picks is the browser's).
    pub media: Vec<String>,
}

impl Candidate {
    pub fn is_active(&self, at: DateTime<Utc>) -> bool {
        self.from <= at && at <= self.until
    }
}

/// What is pinned at one instant.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Plan {
    pub at: DateTime<Utc>,
    pub entries: Vec<Candidate>,
    /// Listing paths showing at least one of the entries.
    pub listings: Vec<String>,
    /// Every path to hold, entries' first.
    pub paths: Vec<String>,
}

impl Plan {
    fn new(at: DateTime<Utc>, timetable: &[Candidate]) -> Plan {
        let entries: Vec<Candidate> = timetable
            .iter()
            .filter(|c| c.is_active(at))
            .cloned()
            .collect();
        let listings: BTreeSet<&str> = entries
            .iter()
            .flat_map(|c| c.listings.iter().map(String::as_str))
            .collect();
        let listings: Vec<String> = listings.into_iter().map(str::to_owned).collect();
        let mut paths: Vec<String> = entries.iter().flat_map(|c| c.paths.clone()).collect();
        let media: BTreeSet<&str> = entries
            .iter()
            .flat_map(|c| c.media.iter().map(String::as_str))
            .collect();
        paths.extend(media.into_iter().map(str::to_owned));
        paths.extend(listings.iter().cloned());
        Plan {
            at,
            entries,
            listings,
            paths,
        }
    }
}

/// Entries read per day of a pre-warm list: far above any fixture list.
const PREWARM_DAY_LIMIT: u32 = 10_000;

/// The published entries of pre-warming types whose windows can be open at
/// some time on `at`'s day (UTC), with their windows, earliest first: per
/// such type, one range scan per day a window open then can have started,
/// and one read of the images they show.
pub async fn timetable(
    store: &dyn Store,
    types: &ContentTypes,
    at: DateTime<Utc>,
) -> StoreResult<Vec<Candidate>> {
    let mut candidates = Vec::new();
    let mut shown: Vec<(usize, Vec<MediaId>)> = Vec::new();
    let today = at.date_naive();
    let day_start = today.and_time(chrono::NaiveTime::MIN).and_utc();
    for ty in types.types() {
        let Some(rule) = &ty.prewarm else { continue };
        let span = chrono::Duration::from_std(rule.before + rule.after).unwrap_or_default();
        let list = prewarm_list(ty);
        let mut entries = Vec::new();
        let mut day = (day_start - span).date_naive();
        while day <= today {
            let owner = prewarm_day(day.and_time(chrono::NaiveTime::MIN).and_utc());
            let found = store.listed(&list, &owner, PREWARM_DAY_LIMIT).await?;
            if found.len() >= PREWARM_DAY_LIMIT as usize {
                tracing::warn!(list, day = %owner, "more pre-warm windows open on one day than a read takes; some are not pre-warmed");
            }
            entries.extend(found);
            let Some(next) = day.succ_opt() else { break };
            day = next;
        }
        for entry in entries {
            let (Some(data), Some(slug)) = (&entry.published_data, &entry.published_slug) else {
                continue;
            };
            let Some((from, until)) = rule.window(data) else {
                continue;
            };
            let media = types.index_of(&entry).media;
            if !media.is_empty() {
                shown.push((candidates.len(), media));
            }
            candidates.push(Candidate {
                type_name: ty.name.clone(),
                id: entry.id,
                slug: slug.clone(),
                anchor: from + chrono::Duration::from_std(rule.before).unwrap_or_default(),
                from,
                until,
                paths: vec![ty.path_for(slug), Renderer::json_path(&ty.name, slug)],
                listings: types
                    .listings_showing(&entry)
                    .map(|l| l.path.clone())
                    .collect(),
                media: Vec::new(),
            });
        }
    }
    if !shown.is_empty() {
        let ids: Vec<MediaId> = shown
            .iter()
            .flat_map(|(_, ids)| ids.iter().copied())
            .collect();
        let variants: HashMap<MediaId, Vec<String>> = store
            .media_by_ids(&ids)
            .await?
            .into_iter()
            .map(|m| (m.id, m.variants.into_iter().map(|v| v.path).collect()))
            .collect();
        for (at, ids) in shown {
            candidates[at].media = ids
                .iter()
                .filter_map(|id| variants.get(id))
                .flatten()
                .cloned()
                .collect();
        }
    }
    candidates.sort_by(|a, b| (a.from, &a.slug).cmp(&(b.from, &b.slug)));
    Ok(candidates)
}

/// What is pinned at `at`, read from the store (for `keel prewarm --at`).
pub async fn plan_at(
    store: &dyn Store,
    types: &ContentTypes,
    at: DateTime<Utc>,
) -> StoreResult<Plan> {
    Ok(Plan::new(at, &timetable(store, types, at).await?))
}

/// The outcome of one pre-warm round.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Outcome {
    #[serde(flatten)]
    pub plan: Plan,
    /// Paths pinned now.
    pub pinned: usize,
    pub warm: WarmReport,
    /// Requests sent through the CDN, when `--edge-url` is set.
    pub edge: Option<EdgeReport>,
}

/// What a node loaded before it reported ready.
#[derive(Debug, Clone, Serialize)]
pub struct BootReport {
    pub pinned: WarmReport,
    pub recent: WarmReport,
    /// Byte budget for recent pages (`--warm-share` of the cache).
    pub budget_bytes: u64,
    pub millis: u64,
}

struct State {
    /// The timetable, the applied seq it was read at and the day it is for.
    timetable: Option<(i64, chrono::NaiveDate, Arc<Vec<Candidate>>)>,
}

/// Runs pre-warm rounds for one node; shared by the scheduler task and the
/// admin endpoint (one round at a time).
pub struct Prewarmer {
    store: Arc<dyn Store>,
    types: Arc<ContentTypes>,
    cache: Arc<PageCache>,
    edge: Option<EdgeWarmer>,
    state: Mutex<State>,
}

impl Prewarmer {
    pub fn new(
        store: Arc<dyn Store>,
        types: Arc<ContentTypes>,
        cache: Arc<PageCache>,
        edge: Option<EdgeWarmer>,
    ) -> Prewarmer {
        Prewarmer {
            store,
            types,
            cache,
            edge,
            state: Mutex::new(State { timetable: None }),
        }
    }

    /// Pins and loads what is inside a window at `at`; with an edge, sends
    /// warm-up requests for pages it has not sent in their current version
    /// (every page when `all_to_edge`).
    pub async fn round(&self, at: DateTime<Utc>, all_to_edge: bool) -> StoreResult<Outcome> {
        let mut state = self.state.lock().await;
        let timetable = self.current_timetable(&mut state, at).await?;
        let plan = Plan::new(at, &timetable);
        let warm = self.cache.warm_and_pin(&plan.paths).await?;
        let pinned = self.cache.pinned_count();
        drop(state);
        let edge = match &self.edge {
            Some(edge) => Some(edge.warm(&self.cache, &plan.paths, all_to_edge).await),
            None => None,
        };
        Ok(Outcome {
            plan,
            pinned,
            warm,
            edge,
        })
    }

    /// Sends the pinned pages among `paths` (just purged at the edge)
    /// through the edge again, so it fetches their new version before
    /// readers ask for it. Nothing without `--edge-url`.
    pub async fn rewarm(&self, paths: &[String]) -> Option<EdgeReport> {
        let edge = self.edge.as_ref()?;
        let pinned: HashSet<Arc<str>> = self.cache.pinned_paths().into_iter().collect();
        let due: Vec<String> = paths
            .iter()
            .filter(|p| pinned.contains(p.as_str()))
            .cloned()
            .collect();
        if due.is_empty() {
            return None;
        }
        Some(edge.rewarm(&self.cache, &due).await)
    }

    /// Whether pre-warmed pages are also requested through an edge.
    pub fn has_edge(&self) -> bool {
        self.edge.is_some()
    }

    /// The boot warm-up: the pinned pages, then the most recently written
    /// pages while they fit in `budget_bytes`.
    pub async fn boot(&self, budget_bytes: u64) -> StoreResult<BootReport> {
        let started = std::time::Instant::now();
        let pinned = self.round(Utc::now(), false).await?.warm;
        let room = budget_bytes.saturating_sub(pinned.bytes);
        let mut used = 0u64;
        let recent: Vec<String> = self
            .store
            .recent_pages(RECENT_LIMIT)
            .await?
            .into_iter()
            .take_while(|page| {
                used = used.saturating_add(u64::try_from(page.bytes).unwrap_or(0));
                used <= room
            })
            .map(|page| page.path)
            .collect();
        let mut recent_report = self.cache.warm(&recent).await?;
        recent_report.queries += 1;
        Ok(BootReport {
            pinned,
            recent: recent_report,
            budget_bytes,
            millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        })
    }

    async fn current_timetable(
        &self,
        state: &mut State,
        at: DateTime<Utc>,
    ) -> StoreResult<Arc<Vec<Candidate>>> {
        // Read before the query: an event applied meanwhile makes the next
        // round read again.
        let seq = self.cache.applied_seq();
        let day = at.date_naive();
        if let Some((at_seq, at_day, timetable)) = &state.timetable
            && (*at_seq, *at_day) == (seq, day)
        {
            return Ok(timetable.clone());
        }
        let timetable = Arc::new(timetable(&*self.store, &self.types, at).await?);
        state.timetable = Some((seq, day, timetable.clone()));
        Ok(timetable)
    }
}

/// Readiness: false until the boot warm-up finished.
#[derive(Debug)]
pub struct Warmth {
    sender: watch::Sender<Option<BootReport>>,
}

impl Default for Warmth {
    fn default() -> Self {
        Warmth {
            sender: watch::channel(None).0,
        }
    }
}

impl Warmth {
    pub fn report(&self) -> Option<BootReport> {
        self.sender.borrow().clone()
    }

    pub fn is_warm(&self) -> bool {
        self.sender.borrow().is_some()
    }

    fn set(&self, report: BootReport) {
        self.sender.send_replace(Some(report));
    }
}

/// Background task: the boot warm-up (retried with backoff until it
/// succeeds), then a pre-warm round every `every` until `shutdown`.
pub async fn run(
    prewarmer: Arc<Prewarmer>,
    warmth: Arc<Warmth>,
    budget_bytes: u64,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match prewarmer.boot(budget_bytes).await {
            Ok(report) => {
                tracing::info!(
                    pinned = report.pinned.paths,
                    recent = report.recent.loaded,
                    queries = report.pinned.queries + report.recent.queries,
                    millis = report.millis,
                    "warm: ready"
                );
                warmth.set(report);
                break;
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "boot warm-up failed; not ready yet");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    let mut ticks = crate::tasks::Periodic::after(every, shutdown);
    while ticks.next().await {
        match prewarmer.round(Utc::now(), false).await {
            Ok(outcome) if outcome.warm.loaded > 0 => tracing::info!(
                entries = outcome.plan.entries.len(),
                pinned = outcome.pinned,
                loaded = outcome.warm.loaded,
                "pre-warmed"
            ),
            Ok(_) => {}
            // The pins stay as they were; the next tick tries again.
            Err(e) => tracing::warn!(error = %e, "pre-warm round failed"),
        }
    }
}
