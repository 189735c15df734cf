//! `Store::write` on SQLite: the entry op, its revision, the event with the
//! next gap-free seq and the page changes, in the caller's IMMEDIATE
//! transaction. Any error returns before commit, so nothing is left behind.

use chrono::{DateTime, SubsecRound, Utc};
use rusqlite::{OptionalExtension, Transaction, params};
use serde_json::Value;
use uuid::Uuid;

use super::codec::{ENTRY_COLUMNS, entry_row, json, now, or_duplicate, ts};
use crate::model::{Entry, EntryId, EntryStatus, Page, PageWrite};
use crate::store::{EntryOp, NewEvent, StoreError, StoreResult, Write, WriteOutcome};

pub(super) fn apply(tx: &Transaction<'_>, write: Write) -> StoreResult<WriteOutcome> {
    let now = ts(write.at.map_or_else(now, |at| at.trunc_subsecs(6)))?;
    let stamp = Stamp {
        author: &write.author,
        now: &now,
    };
    let touched = apply_op(tx, &write.op, stamp)?;
    let mut others = Vec::with_capacity(write.others.len());
    for other in &write.others {
        let stamp = Stamp {
            author: &other.author,
            ..stamp
        };
        others.push(apply_op(tx, &other.op, stamp)?.result_entry);
    }
    super::index::replace(tx, &write.index)?;
    // The IMMEDIATE transaction already holds the database's only write lock,
    // which is what the counter row's lock gives on PostgreSQL: no other
    // write can take a seq or add an event until this one commits.
    let seq = match &write.event {
        Some(_) => Some(next_seq(tx)?),
        None => None,
    };
    if let Some(base) = write.pages_base_seq {
        check_pages_current(tx, base, &write.pages)?;
        check_dependencies_current(tx, base, &write.depends_on)?;
    }
    if let (Some(event), Some(seq)) = (&write.event, seq) {
        insert_event(tx, seq, event, touched.event_entry, &now)?;
    }
    for page in &write.pages {
        match page {
            PageWrite::Upsert(page) => upsert_page(tx, page, seq.unwrap_or(page.seq), &now)?,
            PageWrite::Delete(path) => {
                tx.prepare_cached("DELETE FROM pages WHERE path = ?1")?
                    .execute([path])?;
            }
        }
    }
    let loaded = |id: Option<EntryId>| match id {
        Some(id) => load(tx, id)?.ok_or(StoreError::NotFound).map(Some),
        None => Ok(None),
    };
    let entry = loaded(touched.result_entry)?;
    let others = others
        .into_iter()
        .map(loaded)
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(WriteOutcome { entry, seq, others })
}

/// Who made the write and when, as recorded on every row it adds.
#[derive(Clone, Copy)]
struct Stamp<'a> {
    author: &'a str,
    now: &'a str,
}

/// Which entry a write touched: the one its event names, and the one its
/// outcome returns (none after a delete).
struct Touched {
    event_entry: Option<EntryId>,
    result_entry: Option<EntryId>,
}

impl Touched {
    fn kept(id: EntryId) -> Self {
        Touched {
            event_entry: Some(id),
            result_entry: Some(id),
        }
    }
}

fn apply_op(tx: &Transaction<'_>, op: &EntryOp, stamp: Stamp<'_>) -> StoreResult<Touched> {
    let now = stamp.now;
    match op {
        EntryOp::None => Ok(Touched {
            event_entry: None,
            result_entry: None,
        }),
        EntryOp::Create {
            type_name,
            slug,
            data,
        } => create(tx, type_name, slug, data, stamp),
        EntryOp::Import {
            id,
            type_name,
            slug,
            data,
            published_at,
        } => {
            let published = published_at.map(ts).transpose()?;
            tx.prepare_cached(
                "INSERT INTO entries (id, type, slug, status, version, data, created_at, updated_at, \
                   published_slug, published_data, published_at) \
                 VALUES (?1, ?2, ?3, CASE WHEN ?5 IS NULL THEN 'draft' ELSE 'published' END, 1, ?4, \
                   ?6, ?6, CASE WHEN ?5 IS NULL THEN NULL ELSE ?3 END, \
                   CASE WHEN ?5 IS NULL THEN NULL ELSE ?4 END, ?5)",
            )?
            .execute(params![
                id.to_string(),
                type_name,
                slug,
                json(data)?,
                published,
                now
            ])
            .map_err(|err| or_duplicate(err, || format!("slug {slug:?} in type {type_name:?}")))?;
            revision(tx, *id, 1, "import", slug, data, stamp)?;
            Ok(Touched::kept(*id))
        }
        EntryOp::Update {
            id,
            expected_version,
            slug,
            data,
        } => {
            let current = current(tx, *id, *expected_version)?;
            tx.prepare_cached(
                "UPDATE entries SET slug = ?2, data = ?3, version = version + 1, updated_at = ?4 \
                 WHERE id = ?1",
            )?
            .execute(params![id.to_string(), slug, json(data)?, now])
            .map_err(|err| {
                or_duplicate(err, || {
                    format!("slug {slug:?} in type {:?}", current.type_name)
                })
            })?;
            let next = current.version + 1;
            revision(tx, *id, next, "update", slug, data, stamp)?;
            Ok(Touched::kept(*id))
        }
        EntryOp::Publish {
            id,
            expected_version,
        } => {
            let current = current(tx, *id, *expected_version)?;
            tx.prepare_cached(
                "UPDATE entries SET published_slug = slug, published_data = data, \
                 status = 'published', published_at = ?2, publish_at = NULL, \
                 version = version + 1, updated_at = ?2 WHERE id = ?1",
            )?
            .execute(params![id.to_string(), now])
            .map_err(|err| {
                or_duplicate(err, || {
                    format!(
                        "published slug {:?} in type {:?}",
                        current.slug, current.type_name
                    )
                })
            })?;
            record(tx, &current, "publish", stamp)?;
            Ok(Touched::kept(*id))
        }
        EntryOp::PublishDraft {
            id,
            expected_version,
            slug,
            data,
        } => {
            let current = current(tx, *id, *expected_version)?;
            tx.prepare_cached(
                "UPDATE entries SET slug = ?2, data = ?3, published_slug = ?2, published_data = ?3, \
                 status = 'published', published_at = ?4, publish_at = NULL, \
                 version = version + 1, updated_at = ?4 WHERE id = ?1",
            )?
            .execute(params![id.to_string(), slug, json(data)?, now])
            .map_err(|err| {
                or_duplicate(err, || format!("slug {slug:?} in type {:?}", current.type_name))
            })?;
            revision(tx, *id, current.version + 1, "publish", slug, data, stamp)?;
            Ok(Touched::kept(*id))
        }
        EntryOp::Schedule {
            id,
            expected_version,
            at,
        } => schedule(tx, *id, *expected_version, *at, stamp),
        EntryOp::Unschedule {
            id,
            expected_version,
        } => {
            let current = current(tx, *id, *expected_version)?;
            if current.status != EntryStatus::Scheduled {
                return Err(StoreError::InvalidState("entry is not scheduled".into()));
            }
            tx.prepare_cached(
                "UPDATE entries SET publish_at = NULL, \
                 status = CASE WHEN published_data IS NULL THEN 'draft' ELSE 'published' END, \
                 version = version + 1, updated_at = ?2 WHERE id = ?1",
            )?
            .execute(params![id.to_string(), now])?;
            record(tx, &current, "unschedule", stamp)?;
            Ok(Touched::kept(*id))
        }
        EntryOp::Unpublish {
            id,
            expected_version,
        } => {
            let current = current(tx, *id, *expected_version)?;
            if current.status == EntryStatus::Draft {
                return Err(StoreError::InvalidState("entry is not published".into()));
            }
            tx.prepare_cached(
                "UPDATE entries SET published_slug = NULL, published_data = NULL, \
                 published_at = NULL, publish_at = NULL, status = 'draft', \
                 version = version + 1, updated_at = ?2 WHERE id = ?1",
            )?
            .execute(params![id.to_string(), now])?;
            record(tx, &current, "unpublish", stamp)?;
            Ok(Touched::kept(*id))
        }
        EntryOp::Delete {
            id,
            expected_version,
        } => {
            let current = current(tx, *id, *expected_version)?;
            tx.prepare_cached("DELETE FROM entries WHERE id = ?1")?
                .execute([id.to_string()])?;
            record(tx, &current, "delete", stamp)?;
            Ok(Touched {
                event_entry: Some(*id),
                result_entry: None,
            })
        }
    }
}

fn create(
    tx: &Transaction<'_>,
    type_name: &str,
    slug: &str,
    data: &Value,
    stamp: Stamp<'_>,
) -> StoreResult<Touched> {
    let id = Uuid::now_v7();
    tx.prepare_cached(
        "INSERT INTO entries (id, type, slug, status, version, data, created_at, updated_at) \
         VALUES (?1, ?2, ?3, 'draft', 1, ?4, ?5, ?5)",
    )?
    .execute(params![
        id.to_string(),
        type_name,
        slug,
        json(data)?,
        stamp.now
    ])
    .map_err(|err| or_duplicate(err, || format!("slug {slug:?} in type {type_name:?}")))?;
    revision(tx, id, 1, "create", slug, data, stamp)?;
    Ok(Touched::kept(id))
}

fn schedule(
    tx: &Transaction<'_>,
    id: EntryId,
    expected_version: Option<i64>,
    at: DateTime<Utc>,
    stamp: Stamp<'_>,
) -> StoreResult<Touched> {
    let at = ts(at)?;
    let current = current(tx, id, expected_version)?;
    tx.prepare_cached(
        "UPDATE entries SET status = 'scheduled', publish_at = ?2, \
         version = version + 1, updated_at = ?3 WHERE id = ?1",
    )?
    .execute(params![id.to_string(), at, stamp.now])?;
    record(tx, &current, "schedule", stamp)?;
    Ok(Touched::kept(id))
}

/// The entry as it is now, if the writer's expected version (when given)
/// still matches. Inside the IMMEDIATE transaction nothing can change it
/// between this read and the update that follows.
fn current(tx: &Transaction<'_>, id: EntryId, expected: Option<i64>) -> StoreResult<Entry> {
    let entry = load(tx, id)?.ok_or(StoreError::NotFound)?;
    match expected {
        Some(expected) if expected != entry.version => Err(StoreError::Conflict {
            expected,
            found: entry.version,
        }),
        _ => Ok(entry),
    }
}

fn load(tx: &Transaction<'_>, id: EntryId) -> StoreResult<Option<Entry>> {
    let sql = format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE id = ?1");
    Ok(tx
        .prepare_cached(&sql)?
        .query_row([id.to_string()], entry_row)
        .optional()?)
}

/// Records the op on `before` as the next version, with the slug and data
/// it kept (publish, schedule, unpublish) or removed (delete).
fn record(tx: &Transaction<'_>, before: &Entry, action: &str, stamp: Stamp<'_>) -> StoreResult<()> {
    let version = before.version + 1;
    revision(
        tx,
        before.id,
        version,
        action,
        &before.slug,
        &before.data,
        stamp,
    )
}

fn revision(
    tx: &Transaction<'_>,
    id: EntryId,
    version: i64,
    action: &str,
    slug: &str,
    data: &Value,
    stamp: Stamp<'_>,
) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO revisions (entry_id, version, action, slug, data, author, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        id.to_string(),
        version,
        action,
        slug,
        json(data)?,
        stamp.author,
        stamp.now
    ])?;
    Ok(())
}

/// Takes the next seq from the single counter row. Because it is taken
/// inside the write's transaction, a rollback returns it and no gap is left.
pub(super) fn next_seq(tx: &Transaction<'_>) -> StoreResult<i64> {
    tx.prepare_cached("UPDATE event_counter SET seq = seq + 1 WHERE id = 1 RETURNING seq")?
        .query_row([], |row| row.get(0))
        .optional()?
        .ok_or_else(|| StoreError::Backend("the event_counter row is missing".into()))
}

/// Fails if an event after `base` touched a path these pages carry: they
/// were rendered from data that is no longer current. Runs before this
/// write's own event is inserted.
fn check_pages_current(tx: &Transaction<'_>, base: i64, pages: &[PageWrite]) -> StoreResult<()> {
    if pages.is_empty() {
        return Ok(());
    }
    let paths: Vec<&str> = pages.iter().map(PageWrite::path).collect();
    let newer: Option<(i64, String)> = tx
        .prepare_cached(
            "SELECT e.seq, p.value FROM events AS e, json_each(e.paths) AS p \
             WHERE e.seq > ?1 AND p.value IN (SELECT value FROM json_each(?2)) \
             ORDER BY e.seq LIMIT 1",
        )?
        .query_row(params![base, json(&paths)?], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    match newer {
        Some((newer, path)) => Err(StoreError::PagesOutdated { base, newer, path }),
        None => Ok(()),
    }
}

/// Refuses pages rendered before a later event about an entry they show.
fn check_dependencies_current(
    tx: &Transaction<'_>,
    base: i64,
    entries: &[EntryId],
) -> StoreResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = entries.iter().map(ToString::to_string).collect();
    let newer: Option<(i64, String)> = tx
        .prepare_cached(
            "SELECT seq, coalesce(entry_id, '') FROM events \
             WHERE seq > ?1 AND (entry_id IN (SELECT value FROM json_each(?2)) \
               OR EXISTS (SELECT 1 FROM json_each(events.keys) AS k \
                          WHERE k.value IN (SELECT value FROM json_each(?2)))) \
             ORDER BY seq LIMIT 1",
        )?
        .query_row(params![base, json(&ids)?], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    match newer {
        Some((newer, entry)) => Err(StoreError::PagesOutdated {
            base,
            newer,
            path: format!("(entry {entry}, shown on them)"),
        }),
        None => Ok(()),
    }
}

pub(super) fn insert_event(
    tx: &Transaction<'_>,
    seq: i64,
    event: &NewEvent,
    entry: Option<EntryId>,
    now: &str,
) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO events (seq, kind, entry_id, paths, keys, created_at, entries) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        seq,
        event.kind,
        entry.map(|id| id.to_string()),
        json(&event.paths)?,
        json(&event.keys)?,
        now,
        json(&event.entries)?
    ])?;
    Ok(())
}

pub(super) fn upsert_page(
    tx: &Transaction<'_>,
    page: &Page,
    seq: i64,
    now: &str,
) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO pages (path, entry_id, status, content_type, identity, br, gzip, etag, \
         last_modified, surrogate_keys, cache_policy, seq, updated_at, immutable) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
         ON CONFLICT (path) DO UPDATE SET entry_id = excluded.entry_id, \
         status = excluded.status, content_type = excluded.content_type, \
         identity = excluded.identity, br = excluded.br, gzip = excluded.gzip, \
         etag = excluded.etag, last_modified = excluded.last_modified, \
         surrogate_keys = excluded.surrogate_keys, cache_policy = excluded.cache_policy, \
         seq = excluded.seq, updated_at = excluded.updated_at, immutable = excluded.immutable",
    )?
    .execute(params![
        page.path,
        page.entry_id.map(|id| id.to_string()),
        page.status,
        page.content_type,
        page.identity,
        page.br,
        page.gzip,
        page.etag,
        ts(page.last_modified)?,
        json(&page.surrogate_keys)?,
        json(&crate::store::policy_json(&page.cache_policy)?)?,
        seq,
        now,
        page.cache_policy.immutable
    ])?;
    Ok(())
}
