//! `GET /api/v1/outbox` (admin): what the edges and webhooks are owed and
//! how sending to them goes, and which nodes hold which events. The same
//! figures as the `keel_outbox_*` metrics, from the store, so any node
//! answers for all.

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Principal;
use crate::error::AppError;
use crate::startup::AppState;
use crate::store::Delivery;

/// Delivery attempts listed per destination.
const RECENT: u32 = 20;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(outbox_status);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxStatus {
    /// The event log's last seq.
    pub last_seq: i64,
    /// Nodes with a live heartbeat.
    pub nodes: Vec<NodeView>,
    pub destinations: Vec<DestinationView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NodeView {
    pub node: String,
    /// Every event up to this one is in the node's memory.
    pub held_seq: i64,
    /// Events it does not hold yet.
    pub behind: i64,
    pub seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DestinationView {
    /// `varnish:URL`, `fastly:SERVICE`, `cloudflare:ZONE`, `webhook:NAME`.
    pub destination: String,
    /// The last seq it acknowledged.
    pub seq: i64,
    /// Events not yet acknowledged.
    pub backlog: i64,
    /// The node sending to it, while its lease runs.
    pub holder: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    /// The latest attempts, newest first.
    pub deliveries: Vec<Delivery>,
}

#[utoipa::path(
    get,
    path = "/api/v1/outbox",
    tag = "operations",
    responses(
        (status = 200, description = "Each destination's cursor, backlog, sender and latest attempts; the live nodes and what they hold", body = OutboxStatus),
        super::problems::Unauthorized,
        super::problems::Forbidden,
        super::problems::Unavailable,
    ),
    security(("bearer" = []))
)]
#[get("/outbox")]
async fn outbox_status(
    who: Principal,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    who.require_admin()?;
    let store = &state.store;
    let (last_seq, nodes, cursors) =
        futures_util::try_join!(store.last_seq(), store.live_nodes(), store.outbox_cursors())?;
    let mut destinations = Vec::with_capacity(cursors.len());
    for cursor in cursors {
        let deliveries = store.deliveries(&cursor.destination, RECENT).await?;
        let live_lease = cursor.lease_until.filter(|until| *until > Utc::now());
        destinations.push(DestinationView {
            backlog: (last_seq - cursor.seq).max(0),
            holder: live_lease.and(cursor.holder),
            lease_until: live_lease,
            destination: cursor.destination,
            seq: cursor.seq,
            deliveries,
        });
    }
    let nodes = nodes
        .into_iter()
        .map(|n| NodeView {
            behind: (last_seq - n.held_seq).max(0),
            node: n.node,
            held_seq: n.held_seq,
            seen_at: n.seen_at,
            expires_at: n.expires_at,
        })
        .collect();
    let status = OutboxStatus {
        last_seq,
        nodes,
        destinations,
    };
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "private, no-store"))
        .json(status))
}
