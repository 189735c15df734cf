//! Operations endpoints: `/healthz` says the process is alive and never
//! touches the database; `/readyz` says whether this node can serve, with
//! the reasons as JSON so an operator sees why it is not.

use actix_web::{HttpResponse, get, web};
use serde_json::json;

use crate::startup::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz).service(readyz);
}

#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({ "status": "alive" }))
}

#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let database = match state.store.ping().await {
        Ok(()) => json!({ "status": "up", "backend": state.store.backend() }),
        Err(e) => {
            json!({ "status": "down", "backend": state.store.backend(), "error": e.to_string() })
        }
    };
    let ready = database["status"] == "up";
    let body = json!({
        "status": if ready { "ready" } else { "not ready" },
        "database": database,
    });
    let mut response = if ready {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    response
        .insert_header(("Cache-Control", "no-store"))
        .json(body)
}
