//! Images on SQLite (src/model/media.rs): the `media` row with its
//! original, the variants' rows and their pages, and which published
//! entries use an image. Writes take the caller's IMMEDIATE transaction,
//! whose lock is the database's only write lock: the in-use check and the
//! delete cannot be split by a publish. Reads read each image with its
//! variants in one statement.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, Row, Transaction, params};

use super::codec::{Id, Json, Ts, json, now, or_duplicate, ts};
use super::queries::{all, one};
use super::write::{insert_event, next_seq, upsert_page};
use crate::model::{
    EntryId, Media, MediaChange, MediaId, MediaQuery, MediaVariant, NewMedia, Page,
};
use crate::store::{MediaDeletion, NewEvent, StoreError, StoreResult};

/// `SELECT` of every column [`media_row`] reads, the variants as one JSON
/// array, narrowest first.
const SELECT_MEDIA: &str = "SELECT id, hash, name, alt, caption, credit, focal_x, focal_y, \
     format, width, height, size, created_at, created_by, \
     (SELECT json_group_array(json_object('path', v.path, 'width', v.width, \
        'height', v.height, 'format', v.format, 'bytes', v.bytes) \
        ORDER BY v.width, v.format, v.path) \
      FROM media_variants AS v WHERE v.media_id = media.id) \
     FROM media";

fn media_row(row: &Row<'_>) -> rusqlite::Result<Media> {
    let focal_x: Option<f64> = row.get(6)?;
    let focal_y: Option<f64> = row.get(7)?;
    Ok(Media {
        id: MediaId::from(row.get::<_, Id>(0)?.0),
        hash: row.get(1)?,
        name: row.get(2)?,
        alt: row.get(3)?,
        caption: row.get(4)?,
        credit: row.get(5)?,
        // Stored from an f32, so narrowing back is exact.
        focal: focal_x.zip(focal_y).map(|(x, y)| (x as f32, y as f32)),
        format: row.get(8)?,
        width: row.get(9)?,
        height: row.get(10)?,
        size: row.get(11)?,
        created_at: row.get::<_, Ts>(12)?.0,
        created_by: row.get(13)?,
        variants: row.get::<_, Json<Vec<MediaVariant>>>(14)?.0,
    })
}

pub(super) fn create(
    tx: &Transaction<'_>,
    media: &NewMedia,
    variants: &[MediaVariant],
    pages: &[Page],
    event: &NewEvent,
) -> StoreResult<(Media, i64)> {
    let at = ts(now())?;
    tx.prepare_cached(
        "INSERT INTO media (id, hash, name, alt, caption, credit, focal_x, focal_y, format, \
         width, height, size, original, created_at, created_by) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?
    .execute(params![
        media.id.to_string(),
        media.hash,
        media.name,
        media.alt,
        media.caption,
        media.credit,
        media.focal.map(|f| f.0),
        media.focal.map(|f| f.1),
        media.format,
        media.width,
        media.height,
        media.original.len() as i64,
        media.original,
        at,
        media.created_by,
    ])
    .map_err(|err| or_duplicate(err, || format!("media with hash {:?}", media.hash)))?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO media_variants (path, media_id, width, height, format, bytes) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for v in variants {
        insert
            .execute(params![
                v.path,
                media.id.to_string(),
                v.width,
                v.height,
                v.format,
                v.bytes
            ])
            .map_err(|err| or_duplicate(err, || format!("media variant {:?}", v.path)))?;
    }
    let seq = next_seq(tx)?;
    insert_event(tx, seq, event, None, &at)?;
    for page in pages {
        upsert_page(tx, page, seq, &at)?;
    }
    let created = by_id(tx, media.id)?
        .ok_or_else(|| StoreError::Backend("the media row just inserted is missing".into()))?;
    Ok((created, seq))
}

pub(super) fn by_id(conn: &Connection, id: MediaId) -> StoreResult<Option<Media>> {
    let sql = format!("{SELECT_MEDIA} WHERE id = ?1");
    one(conn, &sql, [id.to_string()], media_row)
}

pub(super) fn by_hash(conn: &Connection, hash: &str) -> StoreResult<Option<Media>> {
    let sql = format!("{SELECT_MEDIA} WHERE hash = ?1");
    one(conn, &sql, [hash], media_row)
}

pub(super) fn by_ids(conn: &Connection, ids: &[MediaId]) -> StoreResult<Vec<Media>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    let sql = format!("{SELECT_MEDIA} WHERE id IN (SELECT value FROM json_each(?1))");
    all(conn, &sql, [json(&ids)?], media_row)
}

pub(super) fn list(conn: &Connection, query: &MediaQuery) -> StoreResult<Vec<Media>> {
    // instr, not LIKE: the text is matched as typed, `%` and `_` too. The
    // bundled SQLite's lower() folds ASCII letters only (PostgreSQL's folds
    // every letter), which covers what editors type to find an image.
    let sql = format!(
        "{SELECT_MEDIA} WHERE (?1 IS NULL OR id < ?1) \
         AND (?2 IS NULL OR instr(lower(name || ' ' || alt), lower(?2)) > 0) \
         ORDER BY id DESC LIMIT ?3"
    );
    let before = query.before.map(|id| id.to_string());
    all(conn, &sql, params![before, query.q, query.limit], media_row)
}

pub(super) fn original(conn: &Connection, id: MediaId) -> StoreResult<Option<Vec<u8>>> {
    one(
        conn,
        "SELECT original FROM media WHERE id = ?1",
        [id.to_string()],
        |row| row.get(0),
    )
}

pub(super) fn update(
    tx: &Transaction<'_>,
    id: MediaId,
    change: &MediaChange,
) -> StoreResult<Media> {
    let focal = change.focal.map(|f| (f.map(|f| f.0), f.map(|f| f.1)));
    let changed = tx
        .prepare_cached(
            "UPDATE media SET alt = coalesce(?2, alt), \
             caption = CASE WHEN ?3 THEN ?4 ELSE caption END, \
             credit = CASE WHEN ?5 THEN ?6 ELSE credit END, \
             focal_x = CASE WHEN ?7 THEN ?8 ELSE focal_x END, \
             focal_y = CASE WHEN ?7 THEN ?9 ELSE focal_y END \
             WHERE id = ?1",
        )?
        .execute(params![
            id.to_string(),
            change.alt,
            change.caption.is_some(),
            change.caption.clone().flatten(),
            change.credit.is_some(),
            change.credit.clone().flatten(),
            focal.is_some(),
            focal.and_then(|f| f.0),
            focal.and_then(|f| f.1),
        ])?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    by_id(tx, id)?.ok_or(StoreError::NotFound)
}

pub(super) fn users(conn: &Connection, id: MediaId) -> StoreResult<Vec<EntryId>> {
    all(
        conn,
        "SELECT entry_id FROM media_uses WHERE media_id = ?1 ORDER BY entry_id",
        [id.to_string()],
        |row| Ok(row.get::<_, Id>(0)?.0),
    )
}

pub(super) fn delete(
    tx: &Transaction<'_>,
    id: MediaId,
    event: &NewEvent,
) -> StoreResult<MediaDeletion> {
    if by_id(tx, id)?.is_none() {
        return Err(StoreError::NotFound);
    }
    let users = users(tx, id)?;
    if !users.is_empty() {
        return Ok(MediaDeletion::InUse(users));
    }
    let at = ts(now())?;
    let seq = next_seq(tx)?;
    insert_event(tx, seq, event, None, &at)?;
    tx.prepare_cached(
        "DELETE FROM pages WHERE path IN (SELECT path FROM media_variants WHERE media_id = ?1)",
    )?
    .execute([id.to_string()])?;
    // The variants' rows go with the image (ON DELETE CASCADE).
    tx.prepare_cached("DELETE FROM media WHERE id = ?1")?
        .execute([id.to_string()])?;
    Ok(MediaDeletion::Deleted { seq })
}

pub(super) fn unused(
    conn: &Connection,
    older_than: DateTime<Utc>,
    limit: u32,
) -> StoreResult<Vec<Media>> {
    let sql = format!(
        "{SELECT_MEDIA} WHERE created_at < ?1 \
         AND NOT EXISTS (SELECT 1 FROM media_uses AS u WHERE u.media_id = media.id) \
         ORDER BY created_at, id LIMIT ?2"
    );
    all(conn, &sql, params![ts(older_than)?, limit], media_row)
}

pub(super) fn in_drafts(conn: &Connection, ids: &[MediaId]) -> StoreResult<Vec<MediaId>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    // Every value of a "media" key at any depth: an image field, alone or
    // in a list, whatever its name.
    let found: Vec<String> = all(
        conn,
        "SELECT DISTINCT t.value FROM entries AS e, json_tree(e.data) AS t \
         WHERE (e.published_data IS NULL OR e.data <> e.published_data) \
         AND t.key = 'media' AND t.type = 'text' \
         AND t.value IN (SELECT value FROM json_each(?1))",
        [json(&ids)?],
        |row| row.get(0),
    )?;
    found
        .iter()
        .map(|id| {
            id.parse::<MediaId>()
                .map_err(|e| StoreError::Backend(e.into()))
        })
        .collect()
}

/// Refuses to record uses of images that do not exist: the foreign key
/// would too, but SQLite's message does not say which image.
pub(super) fn check_exist(tx: &Transaction<'_>, ids: &[MediaId]) -> StoreResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    let missing: Option<String> = one(
        tx,
        "SELECT value FROM json_each(?1) WHERE value NOT IN (SELECT id FROM media) LIMIT 1",
        [json(&ids)?],
        |row| row.get(0),
    )?;
    match missing {
        Some(id) => Err(StoreError::InvalidState(format!(
            "media {id} does not exist (deleted, or never uploaded)"
        ))),
        None => Ok(()),
    }
}
