//! The list and reference rows on SQLite (see `crate::model::shown`):
//! replaced per entry inside the caller's transaction.

use rusqlite::{Transaction, params};

use crate::model::EntryIndex;
use crate::store::StoreResult;

/// Replaces each entry's rows with the given ones.
pub(super) fn replace(tx: &Transaction<'_>, rows: &[EntryIndex]) -> StoreResult<()> {
    for index in rows {
        let id = index.entry.to_string();
        tx.prepare_cached("DELETE FROM listed WHERE entry_id = ?1")?
            .execute([&id])?;
        tx.prepare_cached("DELETE FROM entry_refs WHERE source = ?1")?
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
    }
    Ok(())
}

pub(super) fn clear(tx: &Transaction<'_>) -> StoreResult<()> {
    tx.execute_batch("DELETE FROM list_index; DELETE FROM listed; DELETE FROM entry_refs;")?;
    Ok(())
}

pub(super) fn finish(tx: &Transaction<'_>, signature: &str) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO list_index (id, signature) VALUES (1, ?1) \
         ON CONFLICT (id) DO UPDATE SET signature = excluded.signature",
    )?
    .execute([signature])?;
    Ok(())
}
