//! The list, reference and media-use rows on SQLite (see
//! `crate::model::shown`): replaced per entry inside the caller's
//! transaction.

use rusqlite::{OptionalExtension, Transaction, params};

use crate::model::EntryIndex;
use crate::store::{IndexedEntry, StoreResult};

/// Replaces each entry's rows with the given ones.
pub(super) fn replace(tx: &Transaction<'_>, rows: &[EntryIndex]) -> StoreResult<()> {
    for index in rows {
        let id = index.entry.to_string();
        tx.prepare_cached("DELETE FROM listed WHERE entry_id = ?1")?
            .execute([&id])?;
        tx.prepare_cached("DELETE FROM entry_refs WHERE source = ?1")?
            .execute([&id])?;
        tx.prepare_cached("DELETE FROM media_uses WHERE entry_id = ?1")?
            .execute([&id])?;
        let mut insert = tx.prepare_cached(
            "INSERT OR REPLACE INTO listed (list, owner, sort_key, entry_id) \
             VALUES (?1, ?2, ?3, ?4)",
        )?;
        for row in &index.listed {
            insert.execute(params![row.list, row.owner, row.key, id])?;
        }
        let mut insert =
            tx.prepare_cached("INSERT OR IGNORE INTO entry_refs (target, source) VALUES (?1, ?2)")?;
        for target in &index.references {
            insert.execute(params![target.to_string(), id])?;
        }
        super::media::check_exist(tx, &index.media)?;
        let mut insert = tx.prepare_cached(
            "INSERT OR IGNORE INTO media_uses (media_id, entry_id) VALUES (?1, ?2)",
        )?;
        for media in &index.media {
            insert.execute(params![media.to_string(), id])?;
        }
    }
    Ok(())
}

/// A rebuild's batch: the rows of entries still at the version they were
/// computed from (the write lock held since the transaction began keeps it
/// so until commit).
pub(super) fn rebuild(tx: &Transaction<'_>, rows: &[IndexedEntry]) -> StoreResult<()> {
    let mut current = Vec::with_capacity(rows.len());
    let mut version = tx.prepare_cached("SELECT version FROM entries WHERE id = ?1")?;
    for row in rows {
        let found: Option<i64> = version
            .query_row([row.index.entry.to_string()], |r| r.get(0))
            .optional()?;
        if found == Some(row.version) {
            current.push(row.index.clone());
        }
    }
    replace(tx, &current)
}

pub(super) fn finish(tx: &Transaction<'_>, signature: &str) -> StoreResult<()> {
    tx.execute_batch(
        "DELETE FROM listed WHERE entry_id NOT IN \
           (SELECT id FROM entries WHERE published_data IS NOT NULL); \
         DELETE FROM entry_refs WHERE source NOT IN \
           (SELECT id FROM entries WHERE published_data IS NOT NULL); \
         DELETE FROM media_uses WHERE entry_id NOT IN \
           (SELECT id FROM entries WHERE published_data IS NOT NULL);",
    )?;
    tx.prepare_cached(
        "INSERT INTO list_index (id, signature) VALUES (1, ?1) \
         ON CONFLICT (id) DO UPDATE SET signature = excluded.signature",
    )?
    .execute([signature])?;
    Ok(())
}
