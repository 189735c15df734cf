//! The read queries of the SQLite store (entries, revisions, events, pages,
//! content types). Each takes a plain connection and runs one statement;
//! lists of ids or paths travel as one JSON array, expanded with `json_each`,
//! so a batch is one statement however long it is.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Params, Row, params};

use super::codec::{
    ENTRY_COLUMNS, EVENT_COLUMNS, Id, PAGE_COLUMNS, REVISION_COLUMNS, Ts, content_type_row,
    entry_row, event_row, json, page_row, revision_row, ts,
};
use crate::model::{Entry, EntryId, Link, Page, Revision};
use crate::store::{ContentTypeRecord, EntryQuery, Event, PageSummary, StoreResult};

/// Runs a cached statement and collects every row.
pub(super) fn all<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> StoreResult<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, map)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Runs a cached statement expected to return at most one row.
pub(super) fn one<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    map: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> StoreResult<Option<T>> {
    Ok(conn
        .prepare_cached(sql)?
        .query_row(params, map)
        .optional()?)
}

pub(super) fn content_types(conn: &Connection) -> StoreResult<Vec<ContentTypeRecord>> {
    all(
        conn,
        "SELECT name, schema, hash FROM content_types ORDER BY name",
        [],
        content_type_row,
    )
}

pub(super) fn entry(conn: &Connection, id: EntryId) -> StoreResult<Option<Entry>> {
    let sql = format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE id = ?1");
    one(conn, &sql, [id.to_string()], entry_row)
}

pub(super) fn entry_by_slug(
    conn: &Connection,
    type_name: &str,
    slug: &str,
) -> StoreResult<Option<Entry>> {
    let sql = format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE type = ?1 AND slug = ?2");
    one(conn, &sql, [type_name, slug], entry_row)
}

pub(super) fn published_entry_by_slug(
    conn: &Connection,
    type_name: &str,
    slug: &str,
) -> StoreResult<Option<Entry>> {
    let sql =
        format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE type = ?1 AND published_slug = ?2");
    one(conn, &sql, [type_name, slug], entry_row)
}

/// The filters are written into the SQL only when present: an
/// `(?1 IS NULL OR id > ?1)` form would keep SQLite from seeking the
/// `(type, id)` index to the cursor, and every page would rescan the type.
pub(super) fn entries(conn: &Connection, query: &EntryQuery) -> StoreResult<Vec<Entry>> {
    let mut sql = format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE type = ?1");
    let status = query.status.map(|s| s.as_str());
    let after = query.after.map(|id| id.to_string());
    if status.is_some() {
        sql.push_str(" AND status = ?2");
    }
    if after.is_some() {
        sql.push_str(" AND id > ?3");
    }
    sql.push_str(" ORDER BY id LIMIT ?4");
    // Unused numbered parameters are allowed to stay unbound (NULL).
    let mut stmt = conn.prepare_cached(&sql)?;
    stmt.raw_bind_parameter(1, &query.type_name)?;
    if let Some(status) = status {
        stmt.raw_bind_parameter(2, status)?;
    }
    if let Some(after) = &after {
        stmt.raw_bind_parameter(3, after)?;
    }
    stmt.raw_bind_parameter(4, i64::from(query.limit))?;
    let mut rows = stmt.raw_query();
    let mut entries = Vec::new();
    while let Some(row) = rows.next()? {
        entries.push(entry_row(row)?);
    }
    Ok(entries)
}

pub(super) fn published_entries(conn: &Connection, type_name: &str) -> StoreResult<Vec<Entry>> {
    let sql = format!(
        "SELECT {ENTRY_COLUMNS} FROM entries \
         WHERE type = ?1 AND published_data IS NOT NULL ORDER BY id"
    );
    all(conn, &sql, [type_name], entry_row)
}

pub(super) fn entries_by_ids(conn: &Connection, ids: &[EntryId]) -> StoreResult<Vec<Entry>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = ids.iter().map(EntryId::to_string).collect();
    let sql = format!(
        "SELECT {ENTRY_COLUMNS} FROM entries WHERE id IN (SELECT value FROM json_each(?1))"
    );
    all(conn, &sql, [json(&ids)?], entry_row)
}

pub(super) fn entries_with_value(
    conn: &Connection,
    type_name: &str,
    field: &str,
    value: &serde_json::Value,
) -> StoreResult<Vec<Entry>> {
    // Both sides through json_extract, so a JSON string compares as text and
    // a number as a number; the path quotes the key.
    let sql = format!(
        "SELECT {ENTRY_COLUMNS} FROM entries \
         WHERE type = ?1 AND json_extract(data, ?2) = json_extract(?3, '$') ORDER BY id"
    );
    let path = format!("$.{}", json(&field)?);
    all(
        conn,
        &sql,
        params![type_name, path, json(value)?],
        entry_row,
    )
}

pub(super) fn due_scheduled(
    conn: &Connection,
    now: DateTime<Utc>,
    limit: u32,
) -> StoreResult<Vec<Entry>> {
    let sql = format!(
        "SELECT {ENTRY_COLUMNS} FROM entries \
         WHERE status = 'scheduled' AND publish_at <= ?1 ORDER BY publish_at, id LIMIT ?2"
    );
    all(conn, &sql, params![ts(now)?, limit], entry_row)
}

pub(super) fn count_entries(conn: &Connection) -> StoreResult<i64> {
    Ok(one(conn, "SELECT COUNT(*) FROM entries", [], |row| row.get(0))?.unwrap_or(0))
}

pub(super) fn revisions(conn: &Connection, id: EntryId) -> StoreResult<Vec<Revision>> {
    let sql =
        format!("SELECT {REVISION_COLUMNS} FROM revisions WHERE entry_id = ?1 ORDER BY version");
    all(conn, &sql, [id.to_string()], revision_row)
}

pub(super) fn revision(
    conn: &Connection,
    id: EntryId,
    version: i64,
) -> StoreResult<Option<Revision>> {
    let sql =
        format!("SELECT {REVISION_COLUMNS} FROM revisions WHERE entry_id = ?1 AND version = ?2");
    one(conn, &sql, params![id.to_string(), version], revision_row)
}

pub(super) fn events_since(conn: &Connection, after: i64, limit: u32) -> StoreResult<Vec<Event>> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2");
    all(conn, &sql, params![after, limit], event_row)
}

/// Read from the counter, the authority for seqs: it only moves on commit.
pub(super) fn last_seq(conn: &Connection) -> StoreResult<i64> {
    Ok(one(
        conn,
        "SELECT seq FROM event_counter WHERE id = 1",
        [],
        |row| row.get(0),
    )?
    .unwrap_or(0))
}

pub(super) fn page(conn: &Connection, path: &str) -> StoreResult<Option<Page>> {
    let sql = format!("SELECT {PAGE_COLUMNS} FROM pages WHERE path = ?1");
    one(conn, &sql, [path], page_row)
}

pub(super) fn pages(conn: &Connection, paths: &[String]) -> StoreResult<Vec<Page>> {
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let sql =
        format!("SELECT {PAGE_COLUMNS} FROM pages WHERE path IN (SELECT value FROM json_each(?1))");
    all(conn, &sql, [json(paths)?], page_row)
}

pub(super) fn recent_pages(conn: &Connection, limit: u32) -> StoreResult<Vec<PageSummary>> {
    // length() of a blob comes from the record header; the bodies are not read.
    all(
        conn,
        "SELECT path, seq, length(identity) + length(br) + length(gzip) \
         FROM pages WHERE status = 200 ORDER BY seq DESC, path LIMIT ?1",
        [limit],
        |row| {
            Ok(PageSummary {
                path: row.get(0)?,
                seq: row.get(1)?,
                bytes: row.get(2)?,
            })
        },
    )
}

pub(super) fn page_paths(conn: &Connection) -> StoreResult<Vec<String>> {
    all(
        conn,
        "SELECT path FROM pages WHERE status = 200 ORDER BY path",
        [],
        |row| row.get(0),
    )
}

pub(super) fn listed(
    conn: &Connection,
    list: &str,
    owner: &str,
    limit: u32,
) -> StoreResult<Vec<Entry>> {
    let sql = format!(
        "SELECT {ENTRY_COLUMNS} FROM listed JOIN entries ON entries.id = listed.entry_id \
         WHERE listed.list = ?1 AND listed.owner = ?2 AND published_data IS NOT NULL \
         ORDER BY listed.sort_key LIMIT ?3"
    );
    all(conn, &sql, params![list, owner, limit], entry_row)
}

pub(super) fn referrers(conn: &Connection, id: EntryId) -> StoreResult<Vec<Entry>> {
    let sql = format!(
        "SELECT {ENTRY_COLUMNS} FROM entry_refs JOIN entries ON entries.id = entry_refs.source \
         WHERE entry_refs.target = ?1 AND published_data IS NOT NULL ORDER BY entries.id"
    );
    all(conn, &sql, [id.to_string()], entry_row)
}

pub(super) fn published_page(
    conn: &Connection,
    after: Option<EntryId>,
    limit: u32,
) -> StoreResult<Vec<Entry>> {
    let sql = format!(
        "SELECT {ENTRY_COLUMNS} FROM entries \
         WHERE published_data IS NOT NULL AND (?1 IS NULL OR id > ?1) ORDER BY id LIMIT ?2"
    );
    all(
        conn,
        &sql,
        params![after.map(|id| id.to_string()), limit],
        entry_row,
    )
}

pub(super) fn index_signature(conn: &Connection) -> StoreResult<Option<String>> {
    one(
        conn,
        "SELECT signature FROM list_index WHERE id = 1",
        [],
        |row| row.get(0),
    )
}

pub(super) fn list_owners_near(
    conn: &Connection,
    list: &str,
    owner: &str,
) -> StoreResult<Vec<String>> {
    let sql = "WITH e1 AS (SELECT max(owner) AS o FROM listed WHERE list = ?1 AND owner < ?2), \
         e2 AS (SELECT max(owner) AS o FROM listed WHERE list = ?1 AND owner < (SELECT o FROM e1)), \
         l1 AS (SELECT min(owner) AS o FROM listed WHERE list = ?1 AND owner > ?2), \
         l2 AS (SELECT min(owner) AS o FROM listed WHERE list = ?1 AND owner > (SELECT o FROM l1)) \
         SELECT o FROM e2 UNION ALL SELECT o FROM e1 UNION ALL SELECT o FROM l1 \
         UNION ALL SELECT o FROM l2";
    let found: Vec<Option<String>> = all(conn, sql, params![list, owner], |row| row.get(0))?;
    Ok(found.into_iter().flatten().collect())
}

pub(super) fn list_owners(conn: &Connection, list: &str) -> StoreResult<Vec<String>> {
    // One index probe per owner, not a scan of every row of the list.
    all(
        conn,
        "WITH RECURSIVE o(owner) AS ( \
           SELECT min(owner) FROM listed WHERE list = ?1 \
           UNION ALL \
           SELECT (SELECT min(owner) FROM listed WHERE list = ?1 AND owner > o.owner) \
           FROM o WHERE o.owner IS NOT NULL) \
         SELECT owner FROM o WHERE owner IS NOT NULL",
        [list],
        |row| row.get(0),
    )
}

pub(super) fn listed_links(
    conn: &Connection,
    list: &str,
    owner: &str,
    limit: u32,
) -> StoreResult<Vec<Link>> {
    all(
        conn,
        "SELECT entries.id, type, published_slug, published_at FROM listed \
         JOIN entries ON entries.id = listed.entry_id \
         WHERE listed.list = ?1 AND listed.owner = ?2 AND published_data IS NOT NULL \
         ORDER BY listed.sort_key LIMIT ?3",
        params![list, owner, limit],
        |row| {
            Ok(Link {
                id: row.get::<_, Id>(0)?.0,
                type_name: row.get(1)?,
                slug: row.get(2)?,
                published_at: row.get::<_, Ts>(3)?.0,
            })
        },
    )
}

pub(super) fn sitemap_files(conn: &Connection) -> StoreResult<Vec<(String, DateTime<Utc>)>> {
    // Paths compare as bytes: '0' follows '/', so this is the /sitemaps/ subtree.
    all(
        conn,
        "SELECT path, last_modified FROM pages \
         WHERE path >= '/sitemaps/' AND path < '/sitemaps0' AND status = 200 ORDER BY path",
        [],
        |row| Ok((row.get(0)?, row.get::<_, Ts>(1)?.0)),
    )
}
