//! The list and reference rows on PostgreSQL (see `crate::model::shown`):
//! replaced per batch of entries inside the caller's transaction, in four
//! statements whatever the batch's size.

use deadpool_postgres::Transaction;
use uuid::Uuid;

use super::error::pg_error;
use super::write::execute as run;
use crate::model::EntryIndex;
use crate::store::StoreResult;

/// Replaces each entry's rows with the given ones.
pub(super) async fn replace(tx: &Transaction<'_>, rows: &[EntryIndex]) -> StoreResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let entries: Vec<Uuid> = rows.iter().map(|r| r.entry).collect();
    let (mut lists, mut owners, mut keys, mut listed_ids) = (vec![], vec![], vec![], vec![]);
    let (mut targets, mut sources) = (vec![], vec![]);
    for index in rows {
        for row in &index.listed {
            lists.push(row.list.as_str());
            owners.push(row.owner.as_str());
            keys.push(row.key.as_slice());
            listed_ids.push(index.entry);
        }
        for target in &index.references {
            targets.push(*target);
            sources.push(index.entry);
        }
    }
    run(
        tx,
        "DELETE FROM listed WHERE entry_id = ANY($1)",
        &[&entries],
    )
    .await?;
    run(
        tx,
        "DELETE FROM entry_refs WHERE source = ANY($1)",
        &[&entries],
    )
    .await?;
    if !lists.is_empty() {
        let insert = "INSERT INTO listed (list, owner, sort_key, entry_id) \
                      SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::uuid[]) \
                      ON CONFLICT (list, owner, sort_key) DO UPDATE SET entry_id = EXCLUDED.entry_id";
        run(tx, insert, &[&lists, &owners, &keys, &listed_ids]).await?;
    }
    if !targets.is_empty() {
        let insert = "INSERT INTO entry_refs (target, source) \
                      SELECT * FROM unnest($1::uuid[], $2::uuid[]) ON CONFLICT DO NOTHING";
        run(tx, insert, &[&targets, &sources]).await?;
    }
    Ok(())
}

pub(super) async fn clear(tx: &Transaction<'_>) -> StoreResult<()> {
    tx.batch_execute("DELETE FROM list_index; DELETE FROM listed; DELETE FROM entry_refs;")
        .await
        .map_err(pg_error)
}

pub(super) async fn finish(tx: &Transaction<'_>, signature: &str) -> StoreResult<()> {
    let upsert = "INSERT INTO list_index (id, signature) VALUES (1, $1) \
                  ON CONFLICT (id) DO UPDATE SET signature = EXCLUDED.signature";
    run(tx, upsert, &[&signature]).await
}
