//! The write transaction: entry op, revision, counter, pages, event and
//! NOTIFY, committed together or not at all. Locks are always taken in the
//! same order, entry row then counter row, so two writers cannot deadlock.

use chrono::{DateTime, Utc};
use deadpool_postgres::{Object, Transaction};
use serde_json::Value;
use tokio_postgres::types::{Json, ToSql};
use uuid::Uuid;

use super::EVENTS_CHANNEL;
use super::error::{ENTRY_PUBLISHED_SLUG, ENTRY_SLUG, duplicate_or, pg_error};
use super::rows::{self, returning_entry, select_entries};
use crate::model::{Entry, EntryId, EntryStatus, Page, PageWrite};
use crate::store::{EntryOp, NewEvent, StoreError, StoreResult, Write, WriteOutcome};

/// Runs `write` in one transaction on `client`; on error the transaction is
/// rolled back (explicitly, or by the driver when it is dropped).
pub(super) async fn apply(
    client: &mut Object,
    write: &Write,
    now: DateTime<Utc>,
) -> StoreResult<WriteOutcome> {
    let tx = client.transaction().await.map_err(pg_error)?;
    match apply_in(&tx, write, now).await {
        Ok(outcome) => {
            tx.commit().await.map_err(pg_error)?;
            Ok(outcome)
        }
        Err(e) => {
            // The error is what matters; a failed rollback means the
            // connection is gone, and the server discards the transaction.
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

async fn apply_in(
    tx: &Transaction<'_>,
    write: &Write,
    now: DateTime<Utc>,
) -> StoreResult<WriteOutcome> {
    let (entry_id, entry) = entry_op(tx, &write.op, &write.author, now).await?;
    let mut others = Vec::with_capacity(write.others.len());
    for other in &write.others {
        others.push(entry_op(tx, &other.op, &other.author, now).await?.1);
    }
    super::index::replace(tx, &write.index).await?;
    if write.event.is_none() && write.pages.is_empty() {
        return Ok(WriteOutcome {
            entry,
            seq: None,
            others,
        });
    }

    // Taking the counter row lock before anything else in the log makes
    // every earlier event committed (or rolled back) by now, so the
    // outdated-pages check below sees all of them.
    let seq = if write.event.is_some() {
        Some(next_seq(tx).await?)
    } else {
        counter(tx, LOCK_COUNTER).await?;
        None
    };

    if let Some(base) = write.pages_base_seq {
        check_pages_current(tx, write, base).await?;
        check_dependencies_current(tx, &write.depends_on, base).await?;
    }
    for page in &write.pages {
        write_page(tx, page, seq, now).await?;
    }
    if let (Some(event), Some(seq)) = (&write.event, seq) {
        append_event(tx, seq, event, entry_id, now).await?;
    }
    Ok(WriteOutcome { entry, seq, others })
}

/// Inserts the event with its seq (from [`next_seq`], in this transaction)
/// and NOTIFYs it, which listeners receive at commit, never for a
/// rolled-back write.
pub(super) async fn append_event(
    tx: &Transaction<'_>,
    seq: i64,
    event: &NewEvent,
    entry_id: Option<EntryId>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let insert = "INSERT INTO events (seq, kind, entry_id, paths, keys, created_at, entries) \
                  VALUES ($1, $2, $3, $4, $5, $6, $7)";
    let entries = Json(&event.entries);
    let params: [&(dyn ToSql + Sync); 7] = [
        &seq,
        &event.kind,
        &entry_id,
        &event.paths,
        &event.keys,
        &now,
        &entries,
    ];
    execute(tx, insert, &params).await?;
    let notify = "SELECT pg_notify($1, $2::bigint::text)";
    execute(tx, notify, &[&EVENTS_CHANNEL, &seq]).await
}

/// Applies the entry op; returns the entry id the event should carry and
/// the entry as it is after the write.
async fn entry_op(
    tx: &Transaction<'_>,
    op: &EntryOp,
    author: &str,
    now: DateTime<Utc>,
) -> StoreResult<(Option<EntryId>, Option<Entry>)> {
    let (entry, action) = match op {
        EntryOp::None => return Ok((None, None)),
        EntryOp::Create {
            type_name,
            slug,
            data,
        } => {
            let sql = concat!(
                "INSERT INTO entries (id, type, slug, status, version, data, created_at, updated_at) \
                 VALUES ($1, $2, $3, 'draft', 1, $4, $5, $5)",
                returning_entry!()
            );
            let id = Uuid::now_v7();
            let params: [&(dyn ToSql + Sync); 5] = [&id, type_name, slug, data, &now];
            (
                returning(tx, sql, &params, type_name, slug).await?,
                "create",
            )
        }
        EntryOp::Import {
            id,
            type_name,
            slug,
            data,
            published_at,
        } => {
            let sql = concat!(
                "INSERT INTO entries (id, type, slug, status, version, data, created_at, updated_at, \
                   published_slug, published_data, published_at) \
                 VALUES ($1, $2, $3, CASE WHEN $5::timestamptz IS NULL THEN 'draft' ELSE 'published' END, \
                   1, $4, $6, $6, CASE WHEN $5::timestamptz IS NULL THEN NULL ELSE $3 END, \
                   CASE WHEN $5::timestamptz IS NULL THEN NULL ELSE $4::jsonb END, $5)",
                returning_entry!()
            );
            let params: [&(dyn ToSql + Sync); 6] = [id, type_name, slug, data, published_at, &now];
            (
                returning(tx, sql, &params, type_name, slug).await?,
                "import",
            )
        }
        EntryOp::Update {
            id,
            expected_version,
            slug,
            data,
        } => {
            let current = lock_entry(tx, *id, *expected_version).await?;
            let sql = concat!(
                "UPDATE entries SET slug = $2, data = $3, version = version + 1, updated_at = $4 \
                 WHERE id = $1",
                returning_entry!()
            );
            let params: [&(dyn ToSql + Sync); 4] = [id, slug, data, &now];
            (
                returning(tx, sql, &params, &current.type_name, slug).await?,
                "update",
            )
        }
        EntryOp::Publish {
            id,
            expected_version,
        } => {
            let current = lock_entry(tx, *id, *expected_version).await?;
            let sql = concat!(
                "UPDATE entries SET published_slug = slug, published_data = data, \
                 status = 'published', published_at = $2, publish_at = NULL, \
                 version = version + 1, updated_at = $2 WHERE id = $1",
                returning_entry!()
            );
            let params: [&(dyn ToSql + Sync); 2] = [id, &now];
            (
                returning(tx, sql, &params, &current.type_name, &current.slug).await?,
                "publish",
            )
        }
        EntryOp::PublishDraft {
            id,
            expected_version,
            slug,
            data,
        } => {
            let current = lock_entry(tx, *id, *expected_version).await?;
            let sql = concat!(
                "UPDATE entries SET slug = $2, data = $3, published_slug = $2, published_data = $3, \
                 status = 'published', published_at = $4, publish_at = NULL, \
                 version = version + 1, updated_at = $4 WHERE id = $1",
                returning_entry!()
            );
            let params: [&(dyn ToSql + Sync); 4] = [id, slug, data, &now];
            (
                returning(tx, sql, &params, &current.type_name, slug).await?,
                "publish",
            )
        }
        EntryOp::Schedule {
            id,
            expected_version,
            at,
        } => {
            let current = lock_entry(tx, *id, *expected_version).await?;
            let sql = concat!(
                "UPDATE entries SET status = 'scheduled', publish_at = $2, \
                 version = version + 1, updated_at = $3 WHERE id = $1",
                returning_entry!()
            );
            let params: [&(dyn ToSql + Sync); 3] = [id, at, &now];
            (
                returning(tx, sql, &params, &current.type_name, &current.slug).await?,
                "schedule",
            )
        }
        EntryOp::Unschedule {
            id,
            expected_version,
        } => {
            let current = lock_entry(tx, *id, *expected_version).await?;
            if current.status != EntryStatus::Scheduled {
                return Err(StoreError::InvalidState("entry is not scheduled".into()));
            }
            let sql = concat!(
                "UPDATE entries SET publish_at = NULL, \
                 status = CASE WHEN published_data IS NULL THEN 'draft' ELSE 'published' END, \
                 version = version + 1, updated_at = $2 WHERE id = $1",
                returning_entry!()
            );
            let params: [&(dyn ToSql + Sync); 2] = [id, &now];
            (
                returning(tx, sql, &params, &current.type_name, &current.slug).await?,
                "unschedule",
            )
        }
        EntryOp::Unpublish {
            id,
            expected_version,
        } => {
            let current = lock_entry(tx, *id, *expected_version).await?;
            if current.status == EntryStatus::Draft {
                return Err(StoreError::InvalidState("entry is not published".into()));
            }
            let sql = concat!(
                "UPDATE entries SET published_slug = NULL, published_data = NULL, \
                 published_at = NULL, publish_at = NULL, status = 'draft', \
                 version = version + 1, updated_at = $2 WHERE id = $1",
                returning_entry!()
            );
            let params: [&(dyn ToSql + Sync); 2] = [id, &now];
            (
                returning(tx, sql, &params, &current.type_name, &current.slug).await?,
                "unpublish",
            )
        }
        EntryOp::Delete {
            id,
            expected_version,
        } => {
            let current = lock_entry(tx, *id, *expected_version).await?;
            execute(tx, "DELETE FROM entries WHERE id = $1", &[id]).await?;
            let version = current.version + 1;
            let revision = Revision {
                action: "delete",
                version,
                slug: &current.slug,
                data: &current.data,
            };
            insert_revision(tx, current.id, revision, author, now).await?;
            return Ok((Some(current.id), None));
        }
    };
    let revision = Revision {
        action,
        version: entry.version,
        slug: &entry.slug,
        // For a publish this is also what was published.
        data: &entry.data,
    };
    insert_revision(tx, entry.id, revision, author, now).await?;
    Ok((Some(entry.id), Some(entry)))
}

/// Locks the entry row (the first lock of the transaction) and checks the
/// version the writer expects.
async fn lock_entry(
    tx: &Transaction<'_>,
    id: EntryId,
    expected: Option<i64>,
) -> StoreResult<Entry> {
    let statement = tx
        .prepare_cached(select_entries!("WHERE id = $1 FOR UPDATE"))
        .await
        .map_err(pg_error)?;
    let row = tx.query_opt(&statement, &[&id]).await.map_err(pg_error)?;
    let entry = rows::entry(&row.ok_or(StoreError::NotFound)?)?;
    match expected {
        Some(expected) if expected != entry.version => Err(StoreError::Conflict {
            expected,
            found: entry.version,
        }),
        _ => Ok(entry),
    }
}

/// Runs an entry INSERT/UPDATE ... RETURNING, naming a unique violation by
/// the slug and type it collides on.
async fn returning(
    tx: &Transaction<'_>,
    sql: &'static str,
    params: &[&(dyn ToSql + Sync)],
    type_name: &str,
    slug: &str,
) -> StoreResult<Entry> {
    let statement = tx.prepare_cached(sql).await.map_err(pg_error)?;
    let row = tx.query_one(&statement, params).await.map_err(|e| {
        duplicate_or(e, |constraint| match constraint {
            ENTRY_SLUG => Some(format!("slug {slug:?} in type {type_name:?}")),
            ENTRY_PUBLISHED_SLUG => Some(format!("published slug {slug:?} in type {type_name:?}")),
            _ => None,
        })
    })?;
    rows::entry(&row)
}

/// What a revision records besides the entry id, author and time.
struct Revision<'a> {
    action: &'static str,
    version: i64,
    slug: &'a str,
    data: &'a Value,
}

async fn insert_revision(
    tx: &Transaction<'_>,
    entry_id: EntryId,
    r: Revision<'_>,
    author: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let sql = "INSERT INTO revisions (entry_id, version, action, slug, data, author, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7)";
    let params: [&(dyn ToSql + Sync); 7] = [
        &entry_id, &r.version, &r.action, &r.slug, r.data, &author, &now,
    ];
    execute(tx, sql, &params).await
}

/// Fails with `PagesOutdated` if an event after `base` touched a path this
/// write carries. Runs under the counter lock, so no such event can commit
/// between this check and ours.
async fn check_pages_current(tx: &Transaction<'_>, write: &Write, base: i64) -> StoreResult<()> {
    if write.pages.is_empty() {
        return Ok(());
    }
    let paths: Vec<&str> = write.pages.iter().map(PageWrite::path).collect();
    // `&&` can use the array overlap before the unnest finds which path.
    let sql = "SELECT e.seq, p.path FROM events e CROSS JOIN LATERAL unnest(e.paths) AS p(path) \
               WHERE e.seq > $1 AND e.paths && $2::text[] AND p.path = ANY($2::text[]) \
               ORDER BY e.seq DESC LIMIT 1";
    refuse_if_newer(tx, sql, &paths, base, |path: String| path).await
}

/// Refuses pages rendered before a later event about an entry they show.
async fn check_dependencies_current(
    tx: &Transaction<'_>,
    entries: &[EntryId],
    base: i64,
) -> StoreResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    // A group's event names its first entry; every entry it changed is
    // among its keys. Only the few events since `base` are scanned.
    let ids: Vec<String> = entries.iter().map(ToString::to_string).collect();
    let sql = "SELECT seq, coalesce(entry_id::text, '') FROM events \
               WHERE seq > $1 AND (entry_id::text = ANY($2::text[]) OR keys && $2::text[]) \
               ORDER BY seq LIMIT 1";
    refuse_if_newer(tx, sql, &ids, base, |entry: String| {
        format!("(entry {entry}, shown on them)")
    })
    .await
}

/// Runs `sql` (`$1`: the base seq, `$2`: `items`; selects a later event's
/// seq and what it touched); `PagesOutdated` naming that if there is one.
async fn refuse_if_newer<I, T>(
    tx: &Transaction<'_>,
    sql: &str,
    items: &I,
    base: i64,
    describe: impl FnOnce(T) -> String,
) -> StoreResult<()>
where
    I: ToSql + Sync,
    T: for<'a> tokio_postgres::types::FromSql<'a>,
{
    let statement = tx.prepare_cached(sql).await.map_err(pg_error)?;
    let row = tx
        .query_opt(&statement, &[&base, items])
        .await
        .map_err(pg_error)?;
    match row {
        None => Ok(()),
        Some(row) => {
            let newer: i64 = row.try_get(0).map_err(pg_error)?;
            let what: T = row.try_get(1).map_err(pg_error)?;
            Err(StoreError::PagesOutdated {
                base,
                newer,
                path: describe(what),
            })
        }
    }
}

async fn write_page(
    tx: &Transaction<'_>,
    page: &PageWrite,
    event_seq: Option<i64>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    match page {
        PageWrite::Delete(path) => execute(tx, "DELETE FROM pages WHERE path = $1", &[path]).await,
        PageWrite::Upsert(page) => upsert_page(tx, page, event_seq.unwrap_or(page.seq), now).await,
    }
}

pub(super) async fn upsert_page(
    tx: &Transaction<'_>,
    page: &Page,
    seq: i64,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let sql = "INSERT INTO pages (path, entry_id, status, content_type, identity, br, gzip, etag, \
               last_modified, surrogate_keys, cache_policy, seq, updated_at, immutable) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
               ON CONFLICT (path) DO UPDATE SET entry_id = EXCLUDED.entry_id, \
               status = EXCLUDED.status, content_type = EXCLUDED.content_type, \
               identity = EXCLUDED.identity, br = EXCLUDED.br, gzip = EXCLUDED.gzip, \
               etag = EXCLUDED.etag, last_modified = EXCLUDED.last_modified, \
               surrogate_keys = EXCLUDED.surrogate_keys, cache_policy = EXCLUDED.cache_policy, \
               seq = EXCLUDED.seq, updated_at = EXCLUDED.updated_at, immutable = EXCLUDED.immutable";
    let status = i32::from(page.status);
    let policy = Json(crate::store::policy_json(&page.cache_policy)?);
    let params: [&(dyn ToSql + Sync); 14] = [
        &page.path,
        &page.entry_id,
        &status,
        &page.content_type,
        &page.identity,
        &page.br,
        &page.gzip,
        &page.etag,
        &page.last_modified,
        &page.surrogate_keys,
        &policy,
        &seq,
        &now,
        &page.cache_policy.immutable,
    ];
    execute(tx, sql, &params).await
}

pub(super) async fn execute(
    tx: &Transaction<'_>,
    sql: &'static str,
    params: &[&(dyn ToSql + Sync)],
) -> StoreResult<()> {
    let statement = tx.prepare_cached(sql).await.map_err(pg_error)?;
    tx.execute(&statement, params)
        .await
        .map_err(pg_error)
        .map(drop)
}

/// Takes the next seq; the row lock is held until commit, so seqs commit
/// in order and a rollback returns its number.
const NEXT_SEQ: &str = "UPDATE event_counter SET seq = seq + 1 WHERE id = 1 RETURNING seq";
/// Same lock, without taking a number (pages-only writes).
const LOCK_COUNTER: &str = "SELECT seq FROM event_counter WHERE id = 1 FOR UPDATE";

/// Takes the next seq under the counter row's lock (see [`NEXT_SEQ`]).
pub(super) async fn next_seq(tx: &Transaction<'_>) -> StoreResult<i64> {
    counter(tx, NEXT_SEQ).await
}

async fn counter(tx: &Transaction<'_>, sql: &'static str) -> StoreResult<i64> {
    let statement = tx.prepare_cached(sql).await.map_err(pg_error)?;
    let row = tx.query_opt(&statement, &[]).await.map_err(pg_error)?;
    let row = row.ok_or_else(|| StoreError::Backend("the event counter row is missing".into()))?;
    rows::scalar(&row)
}
