//! Node heartbeats, destination cursors and leases, and the delivery log
//! (src/outbox). One process uses an SQLite file, so its clock is the only
//! one and leases only matter across restarts.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, Row, Transaction, params};

use super::codec::{Ts, now, ts};
use super::queries::{all, one};
use crate::store::{DELIVERIES_KEPT, Delivery, NodeHeartbeat, OutboxCursor, StoreResult};

fn after(ttl: Duration) -> StoreResult<(String, String)> {
    let at = now();
    let until = at + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(1));
    Ok((ts(at)?, ts(until)?))
}

pub(super) fn heartbeat(
    tx: &Transaction<'_>,
    node: &str,
    held_seq: i64,
    ttl: Duration,
) -> StoreResult<()> {
    if ttl.is_zero() {
        tx.prepare_cached("DELETE FROM node_heartbeats WHERE node = ?1")?
            .execute([node])?;
        return Ok(());
    }
    let (at, until) = after(ttl)?;
    tx.prepare_cached(
        "INSERT INTO node_heartbeats (node, held_seq, seen_at, expires_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (node) DO UPDATE SET held_seq = excluded.held_seq, \
         seen_at = excluded.seen_at, expires_at = excluded.expires_at",
    )?
    .execute(params![node, held_seq, at, until])?;
    Ok(())
}

pub(super) fn live_nodes(conn: &Connection) -> StoreResult<Vec<NodeHeartbeat>> {
    all(
        conn,
        "SELECT node, held_seq, seen_at, expires_at FROM node_heartbeats \
         WHERE expires_at > ?1 ORDER BY node",
        [ts(now())?],
        |row| {
            Ok(NodeHeartbeat {
                node: row.get(0)?,
                held_seq: row.get(1)?,
                seen_at: row.get::<_, Ts>(2)?.0,
                expires_at: row.get::<_, Ts>(3)?.0,
            })
        },
    )
}

pub(super) fn lease(
    tx: &Transaction<'_>,
    destination: &str,
    node: &str,
    ttl: Duration,
    start: i64,
) -> StoreResult<Option<i64>> {
    if ttl.is_zero() {
        tx.prepare_cached(
            "UPDATE outbox_cursors SET holder = NULL, lease_until = NULL \
             WHERE destination = ?1 AND holder = ?2",
        )?
        .execute([destination, node])?;
        return Ok(None);
    }
    let (at, until) = after(ttl)?;
    one(
        tx,
        "INSERT INTO outbox_cursors (destination, seq, holder, lease_until, updated_at) \
         VALUES (?1, ?4, ?2, ?3, ?5) \
         ON CONFLICT (destination) DO UPDATE \
         SET holder = excluded.holder, lease_until = excluded.lease_until \
         WHERE outbox_cursors.holder IS NULL OR outbox_cursors.holder = excluded.holder \
         OR outbox_cursors.lease_until <= ?5 \
         RETURNING seq",
        params![destination, node, until, start, at],
        |row| row.get(0),
    )
}

pub(super) fn advance(
    tx: &Transaction<'_>,
    destination: &str,
    node: &str,
    from: i64,
    to: i64,
) -> StoreResult<bool> {
    let changed = tx
        .prepare_cached(
            "UPDATE outbox_cursors SET seq = ?4, updated_at = ?5 \
             WHERE destination = ?1 AND holder = ?2 AND seq = ?3",
        )?
        .execute(params![destination, node, from, to, ts(now())?])?;
    Ok(changed == 1)
}

pub(super) fn cursors(conn: &Connection) -> StoreResult<Vec<OutboxCursor>> {
    all(
        conn,
        "SELECT destination, seq, holder, lease_until, updated_at FROM outbox_cursors \
         ORDER BY destination",
        [],
        |row| {
            Ok(OutboxCursor {
                destination: row.get(0)?,
                seq: row.get(1)?,
                holder: row.get(2)?,
                lease_until: row.get::<_, Option<Ts>>(3)?.map(|t| t.0),
                updated_at: row.get::<_, Ts>(4)?.0,
            })
        },
    )
}

pub(super) fn log_delivery(tx: &Transaction<'_>, d: &Delivery) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO outbox_deliveries (destination, first_seq, last_seq, attempt, ok, status, \
         detail, duration_ms, node, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        d.destination,
        d.first_seq,
        d.last_seq,
        d.attempt,
        d.ok,
        d.status,
        d.detail,
        d.duration_ms,
        d.node,
        ts(d.at)?
    ])?;
    tx.prepare_cached(
        "DELETE FROM outbox_deliveries WHERE destination = ?1 AND id <= \
         (SELECT id FROM outbox_deliveries WHERE destination = ?1 \
          ORDER BY id DESC LIMIT 1 OFFSET ?2)",
    )?
    .execute(params![d.destination, DELIVERIES_KEPT])?;
    Ok(())
}

pub(super) fn deliveries(
    conn: &Connection,
    destination: &str,
    limit: u32,
) -> StoreResult<Vec<Delivery>> {
    all(
        conn,
        "SELECT destination, first_seq, last_seq, attempt, ok, status, detail, duration_ms, \
         node, at FROM outbox_deliveries WHERE destination = ?1 ORDER BY id DESC LIMIT ?2",
        params![destination, limit],
        delivery,
    )
}

fn delivery(row: &Row<'_>) -> rusqlite::Result<Delivery> {
    let at: DateTime<Utc> = row.get::<_, Ts>(9)?.0;
    Ok(Delivery {
        destination: row.get(0)?,
        first_seq: row.get(1)?,
        last_seq: row.get(2)?,
        attempt: row.get(3)?,
        ok: row.get(4)?,
        status: row.get(5)?,
        detail: row.get(6)?,
        duration_ms: row.get(7)?,
        node: row.get(8)?,
        at,
    })
}
