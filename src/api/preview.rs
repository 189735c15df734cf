//! `GET /preview/{type}/{id}`: an editor sees the working copy rendered as
//! its page would be, against what is published now. Rendered on demand,
//! on a blocking thread, and never stored or cached anywhere.

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use uuid::Uuid;

use super::auth::Principal;
use crate::editor::Editor;
use crate::error::AppError;
use crate::model::Entry;
use crate::render::HTML;

#[utoipa::path(
    get,
    path = "/preview/{type}/{id}",
    tag = "entries",
    params(("type" = String, Path), ("id" = String, Path)),
    responses(
        (status = 200, description = "The working copy rendered as its page (private, no-store)", content_type = "text/html", body = String),
        super::problems::Unauthorized,
        super::problems::NotFound,
        super::problems::Unavailable,
    ),
    security(("bearer" = []), ("session" = []))
)]
#[get("/preview/{type}/{id}")]
pub async fn preview(
    _who: Principal,
    editor: web::Data<Editor>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (type_name, id) = path.into_inner();
    let id = Uuid::parse_str(&id)
        .map_err(|_| AppError::NotFound(format!("no {type_name} entry {id:?}")))?;
    let entry = editor.get(&type_name, id).await?;
    let draft = Entry {
        published_slug: Some(entry.slug.clone()),
        published_data: Some(entry.data.clone()),
        published_at: entry.published_at.or(Some(entry.updated_at)),
        ..entry
    };
    let snapshot = editor.publisher().preview_snapshot(&draft).await?;
    let renderer = editor.publisher().renderer().clone();
    let types = editor.types_arc();
    let html = web::block(move || {
        let ty = types
            .get(&draft.type_name)
            .ok_or_else(|| AppError::NotFound(format!("no content type {:?}", draft.type_name)))?;
        renderer
            .entry_html(ty, &draft, &snapshot, chrono::Utc::now())
            .map_err(AppError::internal)
    })
    .await
    .map_err(AppError::internal)??;
    Ok(HttpResponse::Ok()
        .content_type(HTML)
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data: https:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ))
        .body(html))
}
