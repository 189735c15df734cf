//! Node heartbeats, destination cursors and leases, and the delivery log
//! (src/outbox). Times come from the database's clock, so nodes whose
//! clocks disagree still agree on who is live and who holds a lease.

use std::time::Duration;

use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::PgStore;
use super::rows::get;
use crate::store::{DELIVERIES_KEPT, Delivery, NodeHeartbeat, OutboxCursor, StoreResult};

fn millis(ttl: Duration) -> f64 {
    ttl.as_secs_f64() * 1000.0
}

impl PgStore {
    pub(super) async fn put_heartbeat(
        &self,
        node: &str,
        held_seq: i64,
        ttl: Duration,
    ) -> StoreResult<()> {
        if ttl.is_zero() {
            let sql = "DELETE FROM node_heartbeats WHERE node = $1";
            return self.execute("heartbeat", sql, &[&node]).await.map(drop);
        }
        let sql = "INSERT INTO node_heartbeats (node, held_seq, seen_at, expires_at) \
                   VALUES ($1, $2, now(), now() + $3::float8 * interval '1 millisecond') \
                   ON CONFLICT (node) DO UPDATE SET held_seq = EXCLUDED.held_seq, \
                   seen_at = EXCLUDED.seen_at, expires_at = EXCLUDED.expires_at";
        self.execute("heartbeat", sql, &[&node, &held_seq, &millis(ttl)])
            .await
            .map(drop)
    }

    pub(super) async fn select_live_nodes(&self) -> StoreResult<Vec<NodeHeartbeat>> {
        let sql = "SELECT node, held_seq, seen_at, expires_at FROM node_heartbeats \
                   WHERE expires_at > now() ORDER BY node";
        let rows = self.rows("live_nodes", sql, &[]).await?;
        rows.iter().map(heartbeat).collect()
    }

    pub(super) async fn take_lease(
        &self,
        destination: &str,
        node: &str,
        ttl: Duration,
        start: i64,
    ) -> StoreResult<Option<i64>> {
        if ttl.is_zero() {
            let sql = "UPDATE outbox_cursors SET holder = NULL, lease_until = NULL \
                       WHERE destination = $1 AND holder = $2";
            self.execute("lease_destination", sql, &[&destination, &node])
                .await?;
            return Ok(None);
        }
        // ON CONFLICT re-checks the WHERE against the latest row version, so
        // two nodes racing for a free lease cannot both get it.
        let sql = "INSERT INTO outbox_cursors (destination, seq, holder, lease_until, updated_at) \
                   VALUES ($1, $4, $2, now() + $3::float8 * interval '1 millisecond', now()) \
                   ON CONFLICT (destination) DO UPDATE \
                   SET holder = EXCLUDED.holder, lease_until = EXCLUDED.lease_until \
                   WHERE outbox_cursors.holder IS NULL OR outbox_cursors.holder = EXCLUDED.holder \
                   OR outbox_cursors.lease_until <= now() \
                   RETURNING seq";
        let params: [&(dyn ToSql + Sync); 4] = [&destination, &node, &millis(ttl), &start];
        let row = self.row("lease_destination", sql, &params).await?;
        row.map(|r| get(&r, "seq")).transpose()
    }

    pub(super) async fn move_cursor(
        &self,
        destination: &str,
        node: &str,
        from: i64,
        to: i64,
    ) -> StoreResult<bool> {
        let sql = "UPDATE outbox_cursors SET seq = $4, updated_at = now() \
                   WHERE destination = $1 AND holder = $2 AND seq = $3";
        let params: [&(dyn ToSql + Sync); 4] = [&destination, &node, &from, &to];
        Ok(self.execute("advance_cursor", sql, &params).await? == 1)
    }

    pub(super) async fn select_cursors(&self) -> StoreResult<Vec<OutboxCursor>> {
        let sql = "SELECT destination, seq, holder, lease_until, updated_at FROM outbox_cursors \
                   ORDER BY destination";
        let rows = self.rows("outbox_cursors", sql, &[]).await?;
        rows.iter()
            .map(|row| {
                Ok(OutboxCursor {
                    destination: get(row, "destination")?,
                    seq: get(row, "seq")?,
                    holder: get(row, "holder")?,
                    lease_until: get(row, "lease_until")?,
                    updated_at: get(row, "updated_at")?,
                })
            })
            .collect()
    }

    pub(super) async fn insert_delivery(&self, d: &Delivery) -> StoreResult<()> {
        let sql = "INSERT INTO outbox_deliveries (destination, first_seq, last_seq, attempt, ok, \
                   status, detail, duration_ms, node, at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
        let params: [&(dyn ToSql + Sync); 10] = [
            &d.destination,
            &d.first_seq,
            &d.last_seq,
            &d.attempt,
            &d.ok,
            &d.status,
            &d.detail,
            &d.duration_ms,
            &d.node,
            &d.at,
        ];
        self.execute("log_delivery", sql, &params).await?;
        let trim = "DELETE FROM outbox_deliveries WHERE destination = $1 AND id <= \
                    (SELECT id FROM outbox_deliveries WHERE destination = $1 \
                     ORDER BY id DESC OFFSET $2 LIMIT 1)";
        self.execute("log_delivery", trim, &[&d.destination, &DELIVERIES_KEPT])
            .await
            .map(drop)
    }

    pub(super) async fn select_deliveries(
        &self,
        destination: &str,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>> {
        let sql = "SELECT destination, first_seq, last_seq, attempt, ok, status, detail, \
                   duration_ms, node, at FROM outbox_deliveries WHERE destination = $1 \
                   ORDER BY id DESC LIMIT $2";
        let rows = self
            .rows("deliveries", sql, &[&destination, &i64::from(limit)])
            .await?;
        rows.iter().map(delivery).collect()
    }
}

fn heartbeat(row: &Row) -> StoreResult<NodeHeartbeat> {
    Ok(NodeHeartbeat {
        node: get(row, "node")?,
        held_seq: get(row, "held_seq")?,
        seen_at: get(row, "seen_at")?,
        expires_at: get(row, "expires_at")?,
    })
}

fn delivery(row: &Row) -> StoreResult<Delivery> {
    Ok(Delivery {
        destination: get(row, "destination")?,
        first_seq: get(row, "first_seq")?,
        last_seq: get(row, "last_seq")?,
        attempt: get(row, "attempt")?,
        ok: get(row, "ok")?,
        status: get(row, "status")?,
        detail: get(row, "detail")?,
        duration_ms: get(row, "duration_ms")?,
        node: get(row, "node")?,
        at: get(row, "at")?,
    })
}
