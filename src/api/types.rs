//! `GET /api/v1/content-types[/{type}]`: the schemas, so a client can build
//! its forms (fields, kinds, constraints, routes).

use actix_web::{HttpResponse, get, web};
use serde_json::json;

use super::auth::Principal;
use crate::editor::Editor;
use crate::error::AppError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list_types).service(get_type);
}

#[utoipa::path(
    get,
    path = "/api/v1/content-types",
    tag = "content types",
    responses(
        (status = 200, description = "Every content type", body = Object),
        super::problems::Unauthorized,
    ),
    security(("bearer" = []))
)]
#[get("/content-types")]
async fn list_types(_who: Principal, editor: web::Data<Editor>) -> HttpResponse {
    let items: Vec<_> = editor.types().types().collect();
    HttpResponse::Ok().json(json!({ "items": items }))
}

#[utoipa::path(
    get,
    path = "/api/v1/content-types/{type}",
    tag = "content types",
    params(("type" = String, Path)),
    responses(
        (status = 200, description = "One content type", body = Object),
        super::problems::Unauthorized,
        super::problems::NotFound,
    ),
    security(("bearer" = []))
)]
#[get("/content-types/{type}")]
async fn get_type(
    _who: Principal,
    editor: web::Data<Editor>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let ty = editor.content_type(&path)?;
    Ok(HttpResponse::Ok().json(ty))
}
