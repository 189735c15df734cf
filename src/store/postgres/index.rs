//! The list, reference and media-use rows on PostgreSQL (see
//! `crate::model::shown`): replaced per batch of entries inside the
//! caller's transaction, in six statements whatever the batch's size.

use std::collections::HashMap;

use deadpool_postgres::Transaction;
use uuid::Uuid;

use super::error::{missing_media, pg_error};
use super::write::execute as run;
use crate::model::EntryIndex;
use crate::store::{IndexedEntry, StoreResult};

/// Replaces each entry's rows with the given ones.
pub(super) async fn replace(tx: &Transaction<'_>, rows: &[EntryIndex]) -> StoreResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let entries: Vec<Uuid> = rows.iter().map(|r| r.entry).collect();
    let (mut lists, mut owners, mut keys, mut listed_ids) = (vec![], vec![], vec![], vec![]);
    let (mut targets, mut sources) = (vec![], vec![]);
    let (mut media, mut users) = (vec![], vec![]);
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
        for id in &index.media {
            media.push(id.uuid());
            users.push(index.entry);
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
    run(
        tx,
        "DELETE FROM media_uses WHERE entry_id = ANY($1)",
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
    if !media.is_empty() {
        // The foreign key locks each image's row (KEY SHARE) until commit,
        // so a delete of one waits for this publish and then finds it in
        // use; an image already deleted fails the publish here.
        let insert = "INSERT INTO media_uses (media_id, entry_id) \
                      SELECT * FROM unnest($1::uuid[], $2::uuid[]) ON CONFLICT DO NOTHING";
        let statement = tx.prepare_cached(insert).await.map_err(pg_error)?;
        tx.execute(&statement, &[&media, &users])
            .await
            .map_err(missing_media)?;
    }
    Ok(())
}

/// A rebuild's batch: the rows of entries still at the version they were
/// computed from. The share locks hold that version until commit: a publish
/// of one of them waits, then replaces these rows with its own; a publish
/// that got there first is seen here and its rows are left alone.
pub(super) async fn rebuild(tx: &Transaction<'_>, rows: &[IndexedEntry]) -> StoreResult<()> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.index.entry).collect();
    let current: HashMap<Uuid, i64> = tx
        .query(
            "SELECT id, version FROM entries WHERE id = ANY($1) ORDER BY id FOR SHARE",
            &[&ids],
        )
        .await
        .map_err(pg_error)?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let kept: Vec<EntryIndex> = rows
        .iter()
        .filter(|r| current.get(&r.index.entry) == Some(&r.version))
        .map(|r| r.index.clone())
        .collect();
    replace(tx, &kept).await
}

pub(super) async fn finish(tx: &Transaction<'_>, signature: &str) -> StoreResult<()> {
    tx.batch_execute(
        "DELETE FROM listed l WHERE NOT EXISTS \
           (SELECT 1 FROM entries e WHERE e.id = l.entry_id AND e.published_data IS NOT NULL); \
         DELETE FROM entry_refs r WHERE NOT EXISTS \
           (SELECT 1 FROM entries e WHERE e.id = r.source AND e.published_data IS NOT NULL); \
         DELETE FROM media_uses u WHERE NOT EXISTS \
           (SELECT 1 FROM entries e WHERE e.id = u.entry_id AND e.published_data IS NOT NULL);",
    )
    .await
    .map_err(pg_error)?;
    let upsert = "INSERT INTO list_index (id, signature) VALUES (1, $1) \
                  ON CONFLICT (id) DO UPDATE SET signature = EXCLUDED.signature";
    run(tx, upsert, &[&signature]).await
}
