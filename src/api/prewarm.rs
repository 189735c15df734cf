//! `POST /api/v1/prewarm` (admin): runs a pre-warm round now, on this node,
//! and reports what it pinned, what it read from the store and what it sent
//! through the edge. Every node runs the same rounds on its own schedule;
//! this is for an operator who wants a kick-off warm before the next tick.

use actix_web::{HttpResponse, post, web};

use super::auth::Principal;
use crate::error::AppError;
use crate::prewarm::{Outcome, Prewarmer};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(prewarm_now);
}

#[utoipa::path(
    post,
    path = "/api/v1/prewarm",
    tag = "operations",
    responses(
        (status = 200, description = "What this node pinned and loaded, and what it requested through the edge", body = Outcome),
        super::problems::Unauthorized,
        super::problems::Forbidden,
        super::problems::Unavailable,
    ),
    security(("bearer" = []))
)]
#[post("/prewarm")]
async fn prewarm_now(
    who: Principal,
    prewarmer: web::Data<Prewarmer>,
) -> Result<HttpResponse, AppError> {
    who.require_admin()?;
    let outcome = prewarmer.round(chrono::Utc::now(), true).await?;
    Ok(HttpResponse::Ok().json(outcome))
}
