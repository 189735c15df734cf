//! `GET /api/v1/audit` (admin): the audit log of editorial and admin
//! actions, newest first, by page.

use actix_web::{HttpResponse, get, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::auth::Principal;
use crate::editor::Editor;
use crate::error::AppError;
use crate::store::{AuditQuery, AuditRecord};

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 200;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(audit_log);
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// `next_before` from the previous page.
    before: Option<i64>,
    /// Only actions on this entry.
    entry: Option<Uuid>,
    /// Only actions by this person (email) or token (name).
    actor: Option<String>,
    /// Only actions starting with this, e.g. `entry.` or `login`.
    action: Option<String>,
    /// Page size, 1 to 200 (default 50).
    limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditRecord>,
    /// Pass as `before` for the next (older) page; `null` on the last.
    pub next_before: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "audit",
    params(AuditParams),
    responses(
        (status = 200, description = "Who did what, when and from where, newest first", body = AuditPage),
        super::problems::BadRequest,
        super::problems::Unauthorized,
        super::problems::Forbidden,
        super::problems::Unavailable,
    ),
    security(("bearer" = []), ("session" = []))
)]
#[get("/audit")]
async fn audit_log(
    who: Principal,
    editor: web::Data<Editor>,
    params: web::Query<AuditParams>,
) -> Result<HttpResponse, AppError> {
    who.require_admin()?;
    let params = params.into_inner();
    let limit = match params.limit {
        None => DEFAULT_LIMIT,
        Some(0) => return Err(AppError::BadRequest("limit must be at least 1".into())),
        Some(n) => n.min(MAX_LIMIT),
    };
    let query = AuditQuery {
        before: params.before,
        entry_id: params.entry,
        actor: params.actor,
        action_prefix: params.action,
        limit: limit + 1,
    };
    let mut items = editor.store().audit(&query).await?;
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next_before = if more {
        items.last().map(|r| r.id)
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(AuditPage { items, next_before }))
}
