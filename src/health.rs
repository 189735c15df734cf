//! Operations endpoints: `/healthz` says the process is alive and never
//! touches the database; `/readyz` says whether this node can serve, with
//! the database and circuit state as JSON so an operator sees what is
//! degraded. A node only starts listening once warm (its published paths
//! loaded), so a listening node is ready.

use actix_web::{HttpResponse, get, web};
use serde_json::json;

use crate::startup::AppState;
use crate::store::breaker::BreakerState;

/// How long readiness waits for the database before calling it down.
const PING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz).service(readyz);
}

#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({ "status": "alive" }))
}

/// 200 once this node has loaded its published paths (it can answer every
/// reader from memory or a miss), also while the database is down: stale
/// pages beat an empty pool of nodes. The body says what is degraded.
#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
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
    let body = json!({
        "status": if db_up { "ready" } else { "degraded" },
        "cache": { "published_paths": state.cache.index().len() },
        "database": database,
    });
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(body)
}
