//! `keel import`: entries from another system, one JSON object per line
//! (`{"type", "slug", "data", "status", "published_at"}`, and optionally the
//! `id` other lines' references use). Each line is checked as the editor API
//! checks a create and a publish; a bad line is reported with its number and
//! skipped, or stops the run. Good lines are committed in batches, each one
//! transaction with the entries' list rows and their own pages; the pages
//! they share are rendered once at the end. An entry already in the database
//! with the same slug and content counts as imported, so a run that was
//! interrupted is simply run again.

use std::collections::HashMap;
use std::io::BufRead;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use crate::content_types::{ContentType, ContentTypes, validate_slug};
use crate::error::AppError;
use crate::model::{Entry, EntryId, EntryStatus};
use crate::publish::{Plan, Publisher};
use crate::store::Store;

/// Brotli quality of imported pages. Quality 11 costs about 40 ms per
/// 11 KB page, which caps an import near 50 entries a second on two cores;
/// quality 5 takes about 2 ms for output a few percent larger. The next
/// publish of a page (or `keel render --all`) compresses it at 11.
pub const IMPORT_BROTLI_QUALITY: u32 = 5;

/// What to do with a line that cannot be imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnError {
    /// Report it and go on with the next line.
    Skip,
    /// Report it and stop (lines before it are kept).
    Stop,
}

pub struct Options {
    pub on_error: OnError,
    /// Entries per transaction.
    pub batch: usize,
    /// Lines in the input, when known (for the ETA).
    pub total_lines: Option<usize>,
}

/// A line that was not imported.
#[derive(Debug, Clone, PartialEq)]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

#[derive(Debug, Default)]
pub struct Report {
    pub lines: usize,
    pub imported: usize,
    /// Already in the database with the same slug and content (a resumed run).
    pub present: usize,
    pub errors: Vec<LineError>,
    /// The run stopped at a bad line (`OnError::Stop`).
    pub stopped: bool,
    pub pages: usize,
    pub elapsed: Duration,
}

impl Report {
    pub fn entries_per_second(&self) -> f64 {
        self.imported as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} line(s): {} imported, {} already present, {} rejected{}; {} page(s) rendered; {:.1} s, {:.0} entries/s",
            self.lines,
            self.imported,
            self.present,
            self.errors.len(),
            if self.stopped { " (stopped)" } else { "" },
            self.pages,
            self.elapsed.as_secs_f64(),
            self.entries_per_second()
        )
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    #[serde(rename = "type")]
    type_name: String,
    slug: String,
    data: Value,
    #[serde(default)]
    status: Status,
    published_at: Option<DateTime<Utc>>,
    id: Option<EntryId>,
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Status {
    Draft,
    #[default]
    Published,
}

/// What the run knows of entries it wrote (not necessarily committed yet),
/// for references and uniqueness between lines.
struct Seen {
    /// (type, slug) -> line.
    slugs: HashMap<(String, String), usize>,
    /// id -> (type, published).
    ids: HashMap<EntryId, (String, bool)>,
    /// (type, field, value) -> line.
    unique: HashMap<(String, String, String), usize>,
}

pub async fn run(
    publisher: &Publisher,
    store: &dyn Store,
    types: &ContentTypes,
    input: impl BufRead,
    options: &Options,
    mut progress: impl FnMut(&str),
) -> Result<Report, AppError> {
    let start = Instant::now();
    let mut report = Report::default();
    let mut seen = Seen {
        slugs: HashMap::new(),
        ids: HashMap::new(),
        unique: HashMap::new(),
    };
    let mut batch: Vec<Entry> = Vec::with_capacity(options.batch);
    let mut shared = Plan::default();
    let mut pipeline = Pipeline::new(publisher.clone());
    let mut last_progress = Instant::now();
    for (n, line) in input.lines().enumerate() {
        let number = n + 1;
        let line = line.map_err(|e| AppError::BadRequest(format!("reading line {number}: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        report.lines += 1;
        match check(store, types, &mut seen, number, &line).await? {
            Checked::New(entry) => batch.push(*entry),
            Checked::Present(entry) => {
                report.present += 1;
                // Its shared pages may not have been rendered before the
                // interruption.
                if entry.published_data.is_some() {
                    shared.merge(publisher.shared_pages(&[&entry]));
                }
            }
            Checked::Bad(message) => {
                let error = LineError {
                    line: number,
                    message,
                };
                progress(&error.to_string());
                report.errors.push(error);
                if options.on_error == OnError::Stop {
                    report.stopped = true;
                    break;
                }
            }
        }
        if batch.len() >= options.batch.max(1) {
            report.imported += batch.len();
            shared.merge(pipeline.push(std::mem::take(&mut batch)).await?);
        }
        if last_progress.elapsed() >= Duration::from_secs(1) {
            last_progress = Instant::now();
            progress(&progress_line(&report, n + 1, options.total_lines, start));
        }
    }
    report.imported += batch.len();
    shared.merge(pipeline.push(batch).await?);
    shared.merge(pipeline.finish().await?);
    progress(&format!(
        "{} entries written; rendering the listings and pages they share",
        report.imported
    ));
    report.pages = publisher.finish_import(shared).await?;
    report.elapsed = start.elapsed();
    Ok(report)
}

/// Batches on their way to the database: each is rendered while the one
/// before it is written, and they commit in order. At most two are in
/// flight, so memory stays bounded whatever the input's size.
struct Pipeline {
    publisher: Publisher,
    in_flight: std::collections::VecDeque<tokio::task::JoinHandle<Result<Plan, AppError>>>,
    /// Batches committed so far; batch `n` waits for `n` before writing.
    committed: std::sync::Arc<tokio::sync::watch::Sender<usize>>,
    pushed: usize,
    previous: std::sync::Arc<Vec<Entry>>,
}

impl Pipeline {
    fn new(publisher: Publisher) -> Self {
        Pipeline {
            publisher,
            in_flight: Default::default(),
            committed: std::sync::Arc::new(tokio::sync::watch::Sender::new(0)),
            pushed: 0,
            previous: Default::default(),
        }
    }

    /// Starts a batch; returns the shared pages of batches that finished.
    async fn push(&mut self, batch: Vec<Entry>) -> Result<Plan, AppError> {
        let mut done = Plan::default();
        while self.in_flight.len() >= 2 {
            done.merge(self.next().await?);
        }
        let batch = std::sync::Arc::new(batch);
        let (publisher, context, committed, turn) = (
            self.publisher.clone(),
            std::mem::replace(&mut self.previous, batch.clone()),
            self.committed.clone(),
            self.pushed,
        );
        self.pushed += 1;
        self.in_flight.push_back(tokio::spawn(async move {
            let prepared = publisher
                .prepare_import(batch.to_vec(), &context, "import")
                .await?;
            let mut order = committed.subscribe();
            let _ = order.wait_for(|n| *n == turn).await;
            let shared = publisher.commit_import(prepared).await;
            if shared.is_ok() {
                committed.send_modify(|n| *n += 1);
            }
            shared
        }));
        Ok(done)
    }

    async fn next(&mut self) -> Result<Plan, AppError> {
        let Some(handle) = self.in_flight.pop_front() else {
            return Ok(Plan::default());
        };
        match handle.await.map_err(AppError::internal).and_then(|r| r) {
            Ok(plan) => Ok(plan),
            Err(e) => {
                // The batches after it wait for it forever: stop them.
                for later in self.in_flight.drain(..) {
                    later.abort();
                }
                Err(e)
            }
        }
    }

    /// Waits for every batch; returns their shared pages.
    async fn finish(&mut self) -> Result<Plan, AppError> {
        let mut done = Plan::default();
        while !self.in_flight.is_empty() {
            done.merge(self.next().await?);
        }
        Ok(done)
    }
}

fn progress_line(report: &Report, read: usize, total: Option<usize>, start: Instant) -> String {
    let rate = report.imported as f64 / start.elapsed().as_secs_f64().max(1e-9);
    let eta = match total {
        Some(total) if rate > 0.0 && read > 0 => {
            let per_line = start.elapsed().as_secs_f64() / read as f64;
            format!(
                ", ETA {:.0} s",
                per_line * total.saturating_sub(read) as f64
            )
        }
        _ => String::new(),
    };
    let of = total.map_or(String::new(), |t| format!(" of {t}"));
    format!(
        "line {read}{of}: {} imported, {} present, {} rejected, {rate:.0} entries/s{eta}",
        report.imported,
        report.present,
        report.errors.len()
    )
}

enum Checked {
    New(Box<Entry>),
    Present(Box<Entry>),
    Bad(String),
}

/// One line checked as a create and a publish would be, against the
/// database and the lines before it.
async fn check(
    store: &dyn Store,
    types: &ContentTypes,
    seen: &mut Seen,
    number: usize,
    raw: &str,
) -> Result<Checked, AppError> {
    let line: Line = match serde_json::from_str(raw) {
        Ok(line) => line,
        Err(e) => return Ok(Checked::Bad(format!("not a valid entry line: {e}"))),
    };
    let Some(ty) = types.get(&line.type_name) else {
        let known: Vec<&str> = types.types().map(|t| t.name.as_str()).collect();
        return Ok(Checked::Bad(format!(
            "unknown type {:?} (known: {})",
            line.type_name,
            known.join(", ")
        )));
    };
    if let Err(message) = validate_slug(&line.slug) {
        return Ok(Checked::Bad(format!("/slug: {message}")));
    }
    if line.status == Status::Draft && line.published_at.is_some() {
        return Ok(Checked::Bad(
            "/published_at: a draft has no publication time".into(),
        ));
    }
    let data = match ty.validate(&line.data) {
        Ok(data) => data,
        Err(errors) => return Ok(Checked::Bad(field_errors(&errors))),
    };
    let key = (ty.name.clone(), line.slug.clone());
    if let Some(earlier) = seen.slugs.get(&key) {
        return Ok(Checked::Bad(format!(
            "duplicate slug: line {earlier} already has {} {:?}",
            ty.name, line.slug
        )));
    }
    let published = line.status == Status::Published;
    if let Some(existing) = store.entry_by_slug(&ty.name, &line.slug).await? {
        let same = existing.data == data
            && existing.published_data.is_some() == published
            && line.id.is_none_or(|id| id == existing.id);
        if !same {
            return Ok(Checked::Bad(format!(
                "duplicate slug: {} {:?} already exists (id {}) with other content",
                ty.name, line.slug, existing.id
            )));
        }
        seen.slugs.insert(key, number);
        seen.ids.insert(existing.id, (ty.name.clone(), published));
        return Ok(Checked::Present(Box::new(existing)));
    }
    if let Some(problem) = reference_problems(store, ty, &data, published, seen).await? {
        return Ok(Checked::Bad(problem));
    }
    if let Some(problem) = unique_problems(store, ty, &data, seen, number).await? {
        return Ok(Checked::Bad(problem));
    }
    let id = match line.id {
        Some(id)
            if seen.ids.contains_key(&id) || !store.entries_by_ids(&[id]).await?.is_empty() =>
        {
            return Ok(Checked::Bad(format!("/id: {id} is taken by another entry")));
        }
        Some(id) => id,
        // Time-ordered by publication, as ids made at the time would be.
        None => {
            let at = line.published_at.unwrap_or_else(Utc::now);
            let ts = uuid::Timestamp::from_unix(
                uuid::NoContext,
                at.timestamp().max(0) as u64,
                at.timestamp_subsec_nanos(),
            );
            Uuid::new_v7(ts)
        }
    };
    seen.slugs.insert(key, number);
    seen.ids.insert(id, (ty.name.clone(), published));
    let now = Utc::now();
    let published_at = published.then(|| line.published_at.unwrap_or(now));
    Ok(Checked::New(Box::new(Entry {
        id,
        type_name: ty.name.clone(),
        slug: line.slug.clone(),
        status: if published {
            EntryStatus::Published
        } else {
            EntryStatus::Draft
        },
        version: 1,
        published_slug: published.then(|| line.slug.clone()),
        published_data: published.then(|| data.clone()),
        data,
        published_at,
        publish_at: None,
        created_at: now,
        updated_at: now,
    })))
}

fn field_errors(errors: &[crate::content_types::FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.pointer, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// References must name entries of the right type, in the database or on
/// an earlier line; a published entry's must be published.
async fn reference_problems(
    store: &dyn Store,
    ty: &ContentType,
    data: &Value,
    published: bool,
    seen: &Seen,
) -> Result<Option<String>, AppError> {
    let refs = ty.references(data);
    let unknown: Vec<EntryId> = refs
        .iter()
        .map(|r| r.id)
        .filter(|id| !seen.ids.contains_key(id))
        .collect();
    let found = if unknown.is_empty() {
        Vec::new()
    } else {
        store.entries_by_ids(&unknown).await?
    };
    let mut problems = Vec::new();
    for r in refs {
        let target = seen.ids.get(&r.id).cloned().or_else(|| {
            found
                .iter()
                .find(|e| e.id == r.id)
                .map(|e| (e.type_name.clone(), e.published_data.is_some()))
        });
        let problem = match target {
            None => Some(format!("no {} entry with id {}", r.to, r.id)),
            Some((type_name, _)) if type_name != r.to => {
                Some(format!("{} is a {type_name}, not a {}", r.id, r.to))
            }
            Some((_, false)) if published => Some(format!("{} {} is not published", r.to, r.id)),
            Some(_) => None,
        };
        if let Some(problem) = problem {
            problems.push(format!("{}: {problem}", r.pointer));
        }
    }
    Ok((!problems.is_empty()).then(|| problems.join("; ")))
}

async fn unique_problems(
    store: &dyn Store,
    ty: &ContentType,
    data: &Value,
    seen: &mut Seen,
    number: usize,
) -> Result<Option<String>, AppError> {
    for field in ty.fields.values().filter(|f| f.unique) {
        let Some(value) = data.get(&field.name).filter(|v| !v.is_null()) else {
            continue;
        };
        let key = (ty.name.clone(), field.name.clone(), value.to_string());
        if let Some(earlier) = seen.unique.get(&key) {
            return Ok(Some(format!(
                "/data/{}: must be unique: line {earlier} already has {value}",
                field.name
            )));
        }
        if let Some(other) = store
            .entries_with_value(&ty.name, &field.name, value)
            .await?
            .first()
        {
            return Ok(Some(format!(
                "/data/{}: must be unique: {} {:?} already has {value}",
                field.name, ty.name, other.slug
            )));
        }
        seen.unique.insert(key, number);
    }
    Ok(None)
}

/// Lines in a file, for the progress line's ETA.
pub fn count_lines(path: &std::path::Path) -> std::io::Result<usize> {
    let file = std::io::BufReader::new(std::fs::File::open(path)?);
    Ok(file.split(b'\n').count())
}
