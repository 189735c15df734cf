//! Images on PostgreSQL (src/model/media.rs): the `media` row with its
//! original, the variants' rows and their pages, and which published
//! entries use an image. Creating and deleting append to the event log the
//! way a write does (counter lock, NOTIFY at commit), so every node's
//! follower learns the variants' paths. Each image is read with its
//! variants in one statement.

use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use tokio_postgres::Row;
use tokio_postgres::types::{Json, ToSql};
use uuid::Uuid;

use super::error::{duplicate_or, pg_error};
use super::rows::{self, get};
use super::write::{append_event, execute, next_seq, upsert_page};
use super::{PgStore, now};
use crate::model::{
    EntryId, Media, MediaChange, MediaId, MediaQuery, MediaVariant, NewMedia, Page,
};
use crate::store::{MediaDeletion, NewEvent, StoreError, StoreResult};

/// Unique constraint named in `Duplicate` messages (migration V9).
const MEDIA_HASH: &str = "media_hash_key";

/// The columns [`media`] reads, the variants as one JSON array, narrowest
/// first; for a `SELECT … FROM media` or an `UPDATE media … RETURNING`.
macro_rules! media_columns {
    () => {
        "id, hash, name, alt, caption, credit, focal_x, focal_y, format, width, height, size, \
         created_at, created_by, coalesce((SELECT jsonb_agg(jsonb_build_object('path', v.path, \
         'width', v.width, 'height', v.height, 'format', v.format, 'bytes', v.bytes) \
         ORDER BY v.width, v.format, v.path) \
         FROM media_variants v WHERE v.media_id = media.id), '[]'::jsonb) AS variants"
    };
}

macro_rules! select_media {
    ($rest:literal) => {
        concat!("SELECT ", media_columns!(), " FROM media ", $rest)
    };
}

fn media(row: &Row) -> StoreResult<Media> {
    let dimension = |column: &str| -> StoreResult<u32> {
        let value: i32 = get(row, column)?;
        u32::try_from(value).map_err(|_| {
            StoreError::Backend(format!("column {column} holds a negative {value}").into())
        })
    };
    let focal_x: Option<f32> = get(row, "focal_x")?;
    let focal_y: Option<f32> = get(row, "focal_y")?;
    Ok(Media {
        id: MediaId::from(get::<Uuid>(row, "id")?),
        hash: get(row, "hash")?,
        name: get(row, "name")?,
        alt: get(row, "alt")?,
        caption: get(row, "caption")?,
        credit: get(row, "credit")?,
        focal: focal_x.zip(focal_y),
        format: get(row, "format")?,
        width: dimension("width")?,
        height: dimension("height")?,
        size: get(row, "size")?,
        created_at: get(row, "created_at")?,
        created_by: get(row, "created_by")?,
        variants: get::<Json<Vec<MediaVariant>>>(row, "variants")?.0,
    })
}

/// A pixel count as the `integer` columns hold it.
fn int(value: u32, what: &str) -> StoreResult<i32> {
    i32::try_from(value)
        .map_err(|_| StoreError::InvalidState(format!("{what} {value} is too large to store")))
}

impl PgStore {
    pub(super) async fn insert_media(
        &self,
        media: &NewMedia,
        variants: &[MediaVariant],
        pages: &[Page],
        event: &NewEvent,
    ) -> StoreResult<(Media, i64)> {
        let mut client = self.conn("create_media").await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        // Dropping the transaction on an error rolls it back.
        let created = insert_media_in(&tx, media, variants, pages, event).await?;
        tx.commit().await.map_err(pg_error)?;
        Ok(created)
    }

    pub(super) async fn select_media(&self, id: MediaId) -> StoreResult<Option<Media>> {
        let sql = select_media!("WHERE id = $1");
        let row = self.row("media", sql, &[&id.uuid()]).await?;
        row.as_ref().map(media).transpose()
    }

    pub(super) async fn select_media_by_hash(&self, hash: &str) -> StoreResult<Option<Media>> {
        let sql = select_media!("WHERE hash = $1");
        let row = self.row("media_by_hash", sql, &[&hash]).await?;
        row.as_ref().map(media).transpose()
    }

    pub(super) async fn select_media_by_ids(&self, ids: &[MediaId]) -> StoreResult<Vec<Media>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = ids.iter().map(|id| id.uuid()).collect();
        let sql = select_media!("WHERE id = ANY($1)");
        let rows = self.rows("media_by_ids", sql, &[&ids]).await?;
        rows.iter().map(media).collect()
    }

    pub(super) async fn select_media_list(&self, query: &MediaQuery) -> StoreResult<Vec<Media>> {
        // strpos, not LIKE: the text is matched as typed, `%` and `_` too.
        let sql = select_media!(
            "WHERE ($1::uuid IS NULL OR id < $1) \
             AND ($2::text IS NULL OR strpos(lower(name || ' ' || alt), lower($2)) > 0) \
             ORDER BY id DESC LIMIT $3"
        );
        let before = query.before.map(MediaId::uuid);
        let limit = i64::from(query.limit);
        let params: [&(dyn ToSql + Sync); 3] = [&before, &query.q, &limit];
        let rows = self.rows("media_list", sql, &params).await?;
        rows.iter().map(media).collect()
    }

    pub(super) async fn select_media_original(&self, id: MediaId) -> StoreResult<Option<Vec<u8>>> {
        let sql = "SELECT original FROM media WHERE id = $1";
        let row = self.row("media_original", sql, &[&id.uuid()]).await?;
        row.as_ref().map(rows::scalar).transpose()
    }

    pub(super) async fn change_media(
        &self,
        id: MediaId,
        change: &MediaChange,
    ) -> StoreResult<Media> {
        let sql = concat!(
            "UPDATE media SET alt = coalesce($2, alt), \
             caption = CASE WHEN $3 THEN $4 ELSE caption END, \
             credit = CASE WHEN $5 THEN $6 ELSE credit END, \
             focal_x = CASE WHEN $7 THEN $8 ELSE focal_x END, \
             focal_y = CASE WHEN $7 THEN $9 ELSE focal_y END \
             WHERE id = $1 RETURNING ",
            media_columns!()
        );
        let focal = change.focal.map(|f| (f.map(|f| f.0), f.map(|f| f.1)));
        let (caption, credit) = (
            change.caption.clone().flatten(),
            change.credit.clone().flatten(),
        );
        let (focal_x, focal_y) = (focal.and_then(|f| f.0), focal.and_then(|f| f.1));
        let params: [&(dyn ToSql + Sync); 9] = [
            &id.uuid(),
            &change.alt,
            &change.caption.is_some(),
            &caption,
            &change.credit.is_some(),
            &credit,
            &focal.is_some(),
            &focal_x,
            &focal_y,
        ];
        let row = self.row("update_media", sql, &params).await?;
        media(&row.ok_or(StoreError::NotFound)?)
    }

    pub(super) async fn select_media_users(&self, id: MediaId) -> StoreResult<Vec<EntryId>> {
        let sql = "SELECT entry_id FROM media_uses WHERE media_id = $1 ORDER BY entry_id";
        let rows = self.rows("media_users", sql, &[&id.uuid()]).await?;
        rows.iter().map(rows::scalar).collect()
    }

    pub(super) async fn remove_media(
        &self,
        id: MediaId,
        event: &NewEvent,
    ) -> StoreResult<MediaDeletion> {
        let mut client = self.conn("delete_media").await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        let deletion = remove_media_in(&tx, id, event).await?;
        // Refused: nothing was written, and dropping rolls back as well.
        tx.commit().await.map_err(pg_error)?;
        Ok(deletion)
    }

    pub(super) async fn select_unused_media(
        &self,
        older_than: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<Media>> {
        let sql = select_media!(
            "WHERE created_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM media_uses u WHERE u.media_id = media.id) \
             ORDER BY created_at, id LIMIT $2"
        );
        let limit = i64::from(limit);
        let rows = self
            .rows("unused_media", sql, &[&older_than, &limit])
            .await?;
        rows.iter().map(media).collect()
    }

    pub(super) async fn select_media_in_drafts(
        &self,
        ids: &[MediaId],
    ) -> StoreResult<Vec<MediaId>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // Every value of a "media" key at any depth: an image field, alone
        // or in a list, whatever its name.
        let sql = "SELECT DISTINCT m.value #>> '{}' FROM entries e, \
                   jsonb_path_query(e.data, 'strict $.**.media') AS m(value) \
                   WHERE (e.published_data IS NULL OR e.data <> e.published_data) \
                   AND jsonb_typeof(m.value) = 'string' AND (m.value #>> '{}') = ANY($1)";
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let rows = self.rows("media_in_drafts", sql, &[&ids]).await?;
        rows.iter()
            .map(|row| {
                let id: String = row.get(0);
                id.parse::<MediaId>()
                    .map_err(|e| StoreError::Backend(e.into()))
            })
            .collect()
    }
}

async fn insert_media_in(
    tx: &Transaction<'_>,
    m: &NewMedia,
    variants: &[MediaVariant],
    pages: &[Page],
    event: &NewEvent,
) -> StoreResult<(Media, i64)> {
    let at = now();
    let sql = concat!(
        "INSERT INTO media (id, hash, name, alt, caption, credit, focal_x, focal_y, format, \
         width, height, size, original, created_at, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING ",
        media_columns!()
    );
    let size = m.original.len() as i64;
    let (focal_x, focal_y) = (m.focal.map(|f| f.0), m.focal.map(|f| f.1));
    let (width, height) = (int(m.width, "width")?, int(m.height, "height")?);
    let params: [&(dyn ToSql + Sync); 15] = [
        &m.id.uuid(),
        &m.hash,
        &m.name,
        &m.alt,
        &m.caption,
        &m.credit,
        &focal_x,
        &focal_y,
        &m.format,
        &width,
        &height,
        &size,
        &m.original,
        &at,
        &m.created_by,
    ];
    let statement = tx.prepare_cached(sql).await.map_err(pg_error)?;
    tx.query_one(&statement, &params).await.map_err(|e| {
        duplicate_or(e, |constraint| {
            (constraint == MEDIA_HASH).then(|| format!("media with hash {:?}", m.hash))
        })
    })?;
    if !variants.is_empty() {
        let mut columns = (vec![], vec![], vec![], vec![], vec![]);
        for v in variants {
            columns.0.push(v.path.as_str());
            columns.1.push(int(v.width, "variant width")?);
            columns.2.push(int(v.height, "variant height")?);
            columns.3.push(v.format.as_str());
            columns.4.push(v.bytes);
        }
        let sql = "INSERT INTO media_variants (media_id, path, width, height, format, bytes) \
                   SELECT $1::uuid, * FROM unnest($2::text[], $3::int[], $4::int[], $5::text[], $6::bigint[])";
        let statement = tx.prepare_cached(sql).await.map_err(pg_error)?;
        let params: [&(dyn ToSql + Sync); 6] = [
            &m.id.uuid(),
            &columns.0,
            &columns.1,
            &columns.2,
            &columns.3,
            &columns.4,
        ];
        tx.execute(&statement, &params).await.map_err(|e| {
            duplicate_or(e, |constraint| {
                (constraint == "media_variants_pkey").then(|| "a media variant path".to_owned())
            })
        })?;
    }
    let seq = next_seq(tx).await?;
    for page in pages {
        upsert_page(tx, page, seq, at).await?;
    }
    append_event(tx, seq, event, None, at).await?;
    // Read after the variants went in: the INSERT's RETURNING saw none.
    let statement = tx
        .prepare_cached(select_media!("WHERE id = $1"))
        .await
        .map_err(pg_error)?;
    let row = tx
        .query_one(&statement, &[&m.id.uuid()])
        .await
        .map_err(pg_error)?;
    Ok((media(&row)?, seq))
}

/// The row lock taken first is what makes the in-use check hold until
/// commit: a publish recording a use of this image must take a KEY SHARE
/// lock on the same row (the foreign key of `media_uses`), which waits for
/// this transaction and then fails on the missing key. A publish that got
/// there first holds its lock until it commits; the FOR UPDATE waits for
/// it, and the check (a new snapshot, under READ COMMITTED) sees its row.
/// Lock order is media row, then counter row; a publish takes its media
/// locks before the counter too, so the two cannot deadlock.
async fn remove_media_in(
    tx: &Transaction<'_>,
    id: MediaId,
    event: &NewEvent,
) -> StoreResult<MediaDeletion> {
    let uuid = id.uuid();
    let lock = tx
        .prepare_cached("SELECT id FROM media WHERE id = $1 FOR UPDATE")
        .await
        .map_err(pg_error)?;
    if tx
        .query_opt(&lock, &[&uuid])
        .await
        .map_err(pg_error)?
        .is_none()
    {
        return Err(StoreError::NotFound);
    }
    let users = tx
        .prepare_cached("SELECT entry_id FROM media_uses WHERE media_id = $1 ORDER BY entry_id")
        .await
        .map_err(pg_error)?;
    let users: Vec<EntryId> = tx
        .query(&users, &[&uuid])
        .await
        .map_err(pg_error)?
        .iter()
        .map(rows::scalar)
        .collect::<StoreResult<_>>()?;
    if !users.is_empty() {
        return Ok(MediaDeletion::InUse(users));
    }
    let at = now();
    let seq = next_seq(tx).await?;
    let pages = "DELETE FROM pages WHERE path IN \
                 (SELECT path FROM media_variants WHERE media_id = $1)";
    execute(tx, pages, &[&uuid]).await?;
    // The variants' rows go with it (ON DELETE CASCADE).
    execute(tx, "DELETE FROM media WHERE id = $1", &[&uuid]).await?;
    append_event(tx, seq, event, None, at).await?;
    Ok(MediaDeletion::Deleted { seq })
}
