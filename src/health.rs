//! Operations endpoints: `/healthz` says the process is alive and never
//! touches the database; `/readyz` says whether this node can serve, with
//! the database and circuit state as JSON so an operator sees what is
//! degraded. A node listens as soon as it has loaded its published paths,
//! then warms its cache (pinned and recent pages, batched); `/readyz` is
//! `503` until that is done, so a load balancer sends it no spike while cold.

use actix_web::{HttpResponse, get, web};
use serde_json::json;

use crate::startup::AppState;
use crate::store::breaker::BreakerState;

/// How long readiness waits for the database before calling it down.
const PING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz).service(readyz);
}

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "The process is alive (never touches the database)", body = Object))
)]
#[get("/healthz")]
pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({ "status": "alive" }))
}

/// 503 while the boot warm-up runs; then 200, also while the database is
/// down: a warm node serves its pages stale, which beats an empty pool of
/// nodes. The body says what is degraded and what the warm-up loaded.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Warm and able to serve (also while the database is down: the body says what is degraded)", body = Object),
        (status = 503, description = "Still warming its cache (`\"status\": \"warming\"`)", body = Object),
    )
)]
#[get("/readyz")]
pub(crate) async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let ping = tokio::time::timeout(PING_TIMEOUT, state.store.ping()).await;
    let circuit = match state.breaker.state() {
        BreakerState::Closed => "closed",
        BreakerState::Open => "open",
    };
    let database = match ping {
        Ok(Ok(())) => {
            json!({ "status": "up", "backend": state.store.backend(), "circuit": circuit })
        }
        Ok(Err(e)) => json!({
            "status": "down", "backend": state.store.backend(), "circuit": circuit, "error": e.to_string()
        }),
        Err(_) => json!({
            "status": "down", "backend": state.store.backend(), "circuit": circuit,
            "error": format!("no answer within {} ms", PING_TIMEOUT.as_millis())
        }),
    };
    let db_up = database["status"] == "up";
    let warm = state.warmth.report();
    let status = match (&warm, db_up) {
        (None, _) => "warming",
        (Some(_), true) => "ready",
        (Some(_), false) => "degraded",
    };
    let body = json!({
        "status": status,
        "cache": {
            "published_paths": state.cache.index().len(),
            "pinned_paths": state.cache.pinned_count(),
        },
        "warm_up": warm,
        "database": database,
    });
    let mut response = if warm.is_some() {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    response
        .insert_header(("Cache-Control", "no-store"))
        .json(body)
}

/// Keeps the node's gauges current for `/metrics` (readiness, circuit,
/// pool): what `/readyz` says, for dashboards and alerts.
pub async fn run_gauges(
    state: web::Data<AppState>,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    every: std::time::Duration,
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let node = &metrics.node;
    let mut ticks = crate::tasks::Periodic::now(every, shutdown);
    while ticks.next().await {
        node.ready.set(i64::from(state.warmth.report().is_some()));
        let open = state.breaker.state() == BreakerState::Open;
        node.circuit_open.set(i64::from(open));
        if let Some(pool) = state.store.pool_status() {
            let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
            let busy = pool.size.saturating_sub(pool.idle);
            node.pool_connections
                .with_label_values(&["busy"])
                .set(count(busy));
            node.pool_connections
                .with_label_values(&["idle"])
                .set(count(pool.idle));
            node.pool_waiting.set(count(pool.waiting));
        }
    }
}
