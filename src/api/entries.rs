//! Entry handlers: extract, call the `Editor`, map to HTTP. Every response
//! that returns an entry carries `ETag: "<version>"` for `If-Match`.

use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::Deserialize;
use uuid::Uuid;

use super::auth::Principal;
use super::model::{
    CreateEntry, EntryList, EntryView, PatchEntry, PublishRequest, RevisionList, RevisionView,
};
use crate::accounts::Accounts;
use crate::editor::{Editor, IfMatch, Patch};
use crate::error::AppError;
use crate::model::{Entry, EntryStatus};
use crate::store::EntryQuery;

const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 100;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(create_entry)
        .service(list_entries)
        .service(get_entry)
        .service(patch_entry)
        .service(delete_entry)
        .service(publish_entry)
        .service(unpublish_entry)
        .service(list_revisions)
        .service(get_revision);
}

fn entry_response(mut builder: actix_web::HttpResponseBuilder, entry: Entry) -> HttpResponse {
    builder
        .insert_header((header::ETAG, format!("\"{}\"", entry.version)))
        .json(EntryView::from(entry))
}

/// Records an editorial action in the audit log (best effort: the
/// entry's revision already records it durably).
async fn audit(
    accounts: &Accounts,
    who: &Principal,
    action: &str,
    type_name: &str,
    id: Uuid,
    detail: serde_json::Value,
) {
    let target = format!("{type_name}/{id}");
    accounts
        .record(&who.actor(), action, &target, Some(id), detail)
        .await;
}

/// Ids that are not UUIDs name no entry: a 404, like any unknown id.
fn parse_id(type_name: &str, raw: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(raw).map_err(|_| AppError::NotFound(format!("no {type_name} entry {raw:?}")))
}

/// `If-Match: "<version>"` (or a list, or `*`); none means any version.
fn if_match(headers: &HeaderMap) -> Result<IfMatch, AppError> {
    match headers.get(header::IF_MATCH) {
        None => Ok(IfMatch::Any),
        Some(_) => required_if_match(headers, ""),
    }
}

/// `If-Match` where a change must name the version it was made against
/// (PATCH, DELETE): without one, two editors could overwrite each other
/// unknowingly, so the request is refused with `428` saying what to send.
/// `*` is an explicit "whatever is current".
fn required_if_match(headers: &HeaderMap, method: &str) -> Result<IfMatch, AppError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Err(AppError::PreconditionRequired(format!(
            "{method} needs an If-Match header with the version you last read: the ETag of \
             GET /api/v1/entries/{{type}}/{{id}} (e.g. If-Match: \"3\"), or If-Match: * to \
             change whatever version is current"
        )));
    };
    let value = value
        .to_str()
        .map_err(|_| AppError::BadRequest("If-Match is not visible ASCII".into()))?;
    IfMatch::parse(value).map_err(AppError::BadRequest)
}

#[utoipa::path(
    post,
    path = "/api/v1/entries/{type}",
    tag = "entries",
    params(("type" = String, Path, description = "Content type name")),
    request_body = CreateEntry,
    responses(
        (status = 201, description = "Draft created", body = EntryView,
         headers(("Location" = String), ("ETag" = String))),
        super::problems::BadRequest,
        super::problems::Unauthorized,
        super::problems::NotFound,
        super::problems::Conflict,
        super::problems::PayloadTooLarge,
        super::problems::UnsupportedMediaType,
        super::problems::Unprocessable,
        super::problems::Unavailable,
    ),
    security(("bearer" = []))
)]
#[post("/entries/{type}")]
async fn create_entry(
    who: Principal,
    editor: web::Data<Editor>,
    accounts: web::Data<Accounts>,
    path: web::Path<String>,
    body: web::Json<CreateEntry>,
) -> Result<HttpResponse, AppError> {
    let type_name = path.into_inner();
    let body = body.into_inner();
    let entry = editor
        .create(&type_name, &body.slug, body.data, &who.name)
        .await?;
    let detail = serde_json::json!({"slug": entry.slug});
    audit(
        &accounts,
        &who,
        "entry.create",
        &type_name,
        entry.id,
        detail,
    )
    .await;
    let location = format!("/api/v1/entries/{type_name}/{}", entry.id);
    let mut builder = HttpResponse::Created();
    builder.insert_header((header::LOCATION, location));
    Ok(entry_response(builder, entry))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// draft, published or scheduled.
    status: Option<String>,
    /// Page size, 1 to 100 (default 20).
    limit: Option<u32>,
    /// `next_cursor` from the previous page.
    cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/entries/{type}",
    tag = "entries",
    params(("type" = String, Path, description = "Content type name"), ListParams),
    responses(
        (status = 200, description = "A page of entries, oldest first", body = EntryList),
        super::problems::BadRequest,
        super::problems::Unauthorized,
        super::problems::NotFound,
    ),
    security(("bearer" = []))
)]
#[get("/entries/{type}")]
async fn list_entries(
    _who: Principal,
    editor: web::Data<Editor>,
    path: web::Path<String>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, AppError> {
    let type_name = path.into_inner();
    editor.content_type(&type_name)?;
    let params = params.into_inner();
    let status = params
        .status
        .as_deref()
        .map(|s| {
            EntryStatus::parse(s).ok_or_else(|| {
                AppError::BadRequest(format!(
                    "status {s:?} is not one of draft, published, scheduled"
                ))
            })
        })
        .transpose()?;
    let limit = match params.limit {
        None => DEFAULT_LIMIT,
        Some(0) => return Err(AppError::BadRequest("limit must be at least 1".into())),
        Some(n) => n.min(MAX_LIMIT),
    };
    let after = params
        .cursor
        .as_deref()
        .map(|c| {
            Uuid::parse_str(c)
                .map_err(|_| AppError::BadRequest(format!("cursor {c:?} is not a valid cursor")))
        })
        .transpose()?;
    // One more than asked tells whether another page exists.
    let mut items = editor
        .store()
        .entries(&EntryQuery {
            type_name,
            status,
            after,
            limit: limit + 1,
        })
        .await?;
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next_cursor = if more {
        items.last().map(|e| e.id.to_string())
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(EntryList {
        items: items.into_iter().map(EntryView::from).collect(),
        next_cursor,
    }))
}

#[utoipa::path(
    get,
    path = "/api/v1/entries/{type}/{id}",
    tag = "entries",
    params(("type" = String, Path), ("id" = String, Path)),
    responses(
        (status = 200, description = "The entry", body = EntryView, headers(("ETag" = String))),
        super::problems::Unauthorized,
        super::problems::NotFound,
    ),
    security(("bearer" = []))
)]
#[get("/entries/{type}/{id}")]
async fn get_entry(
    _who: Principal,
    editor: web::Data<Editor>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (type_name, id) = path.into_inner();
    let entry = editor.get(&type_name, parse_id(&type_name, &id)?).await?;
    Ok(entry_response(HttpResponse::Ok(), entry))
}

#[utoipa::path(
    patch,
    path = "/api/v1/entries/{type}/{id}",
    tag = "entries",
    params(("type" = String, Path), ("id" = String, Path),
           ("If-Match" = String, Header, description = "Expected version, e.g. \"3\", or * (required)"),
           PatchParams),
    request_body = PatchEntry,
    responses(
        (status = 200, description = "Updated (and, with `publish=true`, published)", body = EntryView, headers(("ETag" = String))),
        super::problems::BadRequest,
        super::problems::Unauthorized,
        super::problems::Forbidden,
        super::problems::NotFound,
        super::problems::Conflict,
        super::problems::PreconditionFailed,
        super::problems::PreconditionRequired,
        super::problems::PayloadTooLarge,
        super::problems::UnsupportedMediaType,
        super::problems::Unprocessable,
        super::problems::Unavailable,
    ),
    security(("bearer" = []))
)]
#[patch("/entries/{type}/{id}")]
async fn patch_entry(
    who: Principal,
    editor: web::Data<Editor>,
    accounts: web::Data<Accounts>,
    path: web::Path<(String, String)>,
    params: web::Query<PatchParams>,
    req: actix_web::HttpRequest,
    body: web::Json<PatchEntry>,
) -> Result<HttpResponse, AppError> {
    let (type_name, id) = path.into_inner();
    let id = parse_id(&type_name, &id)?;
    let if_match = required_if_match(req.headers(), "PATCH")?;
    let body = body.into_inner();
    let patch = Patch {
        slug: body.slug,
        data: body.data,
    };
    let (entry, action) = if params.publish {
        who.require_publisher()?;
        let entry = editor
            .update_and_publish(&type_name, id, patch, &if_match, &who.name)
            .await?;
        (entry, "entry.publish")
    } else {
        let entry = editor
            .update(&type_name, id, patch, &if_match, &who.name)
            .await?;
        (entry, "entry.update")
    };
    let detail = serde_json::json!({"version": entry.version});
    audit(&accounts, &who, action, &type_name, id, detail).await;
    Ok(entry_response(HttpResponse::Ok(), entry))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PatchParams {
    /// `true`: save and publish in one transaction (one version), live at
    /// once or not changed at all.
    #[serde(default)]
    publish: bool,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WithdrawParams {
    /// `true`: go ahead although published entries refer to this one
    /// (their pages are re-rendered without it); otherwise such a request
    /// is refused with `409` listing them.
    #[serde(default)]
    force: bool,
}

#[utoipa::path(
    delete,
    path = "/api/v1/entries/{type}/{id}",
    tag = "entries",
    params(("type" = String, Path), ("id" = String, Path),
           ("If-Match" = String, Header, description = "Expected version, or * (required)"),
           WithdrawParams),
    responses(
        (status = 204, description = "Deleted"),
        super::problems::BadRequest,
        super::problems::Unauthorized,
        super::problems::Forbidden,
        super::problems::NotFound,
        super::problems::Conflict,
        super::problems::PreconditionFailed,
        super::problems::PreconditionRequired,
        super::problems::Unavailable,
    ),
    security(("bearer" = []))
)]
#[delete("/entries/{type}/{id}")]
async fn delete_entry(
    who: Principal,
    editor: web::Data<Editor>,
    accounts: web::Data<Accounts>,
    path: web::Path<(String, String)>,
    params: web::Query<WithdrawParams>,
    req: actix_web::HttpRequest,
) -> Result<HttpResponse, AppError> {
    let (type_name, id) = path.into_inner();
    let id = parse_id(&type_name, &id)?;
    let if_match = required_if_match(req.headers(), "DELETE")?;
    who.require_publisher()?;
    editor
        .delete(&type_name, id, &if_match, params.force, &who.name)
        .await?;
    let detail = serde_json::json!({"force": params.force});
    audit(&accounts, &who, "entry.delete", &type_name, id, detail).await;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    post,
    path = "/api/v1/entries/{type}/{id}/publish",
    tag = "entries",
    params(("type" = String, Path), ("id" = String, Path),
           ("If-Match" = Option<String>, Header, description = "Expected version")),
    request_body(content = Option<PublishRequest>, description = "Optional: {\"at\": RFC 3339} to schedule"),
    responses(
        (status = 200, description = "Published (or scheduled)", body = EntryView, headers(("ETag" = String))),
        super::problems::BadRequest,
        super::problems::Unauthorized,
        super::problems::Forbidden,
        super::problems::NotFound,
        super::problems::Conflict,
        super::problems::PreconditionFailed,
        super::problems::PayloadTooLarge,
        super::problems::UnsupportedMediaType,
        super::problems::Unprocessable,
        super::problems::Unavailable,
    ),
    security(("bearer" = []))
)]
#[post("/entries/{type}/{id}/publish")]
async fn publish_entry(
    who: Principal,
    editor: web::Data<Editor>,
    accounts: web::Data<Accounts>,
    path: web::Path<(String, String)>,
    req: actix_web::HttpRequest,
    payload: web::Payload,
    limit: web::Data<super::BodyLimit>,
) -> Result<HttpResponse, AppError> {
    let (type_name, id) = path.into_inner();
    let id = parse_id(&type_name, &id)?;
    who.require_publisher()?;
    let body = super::read_body(payload, &limit).await?;
    let at = publish_request(&req, &body)?.at;
    let entry = editor
        .publish(&type_name, id, at, &if_match(req.headers())?, &who.name)
        .await?;
    let action = match entry.status {
        EntryStatus::Scheduled => "entry.schedule",
        _ => "entry.publish",
    };
    let detail = serde_json::json!({"version": entry.version, "publish_at": entry.publish_at});
    audit(&accounts, &who, action, &type_name, id, detail).await;
    Ok(entry_response(HttpResponse::Ok(), entry))
}

/// The optional publish body. Absent means "now"; anything present must
/// parse, so a mistyped embargo is refused instead of going live at once.
fn publish_request(req: &actix_web::HttpRequest, body: &[u8]) -> Result<PublishRequest, AppError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(PublishRequest::default());
    }
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| m.subtype() == "json" || m.suffix() == Some(mime::JSON));
    if !json {
        return Err(AppError::UnsupportedMediaType(
            "request body must be JSON (Content-Type: application/json)".into(),
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| AppError::BadRequest(format!("request body does not fit: {e}")))
}

#[utoipa::path(
    post,
    path = "/api/v1/entries/{type}/{id}/unpublish",
    tag = "entries",
    params(("type" = String, Path), ("id" = String, Path),
           ("If-Match" = Option<String>, Header, description = "Expected version"),
           WithdrawParams),
    responses(
        (status = 200, description = "Withdrawn; the draft stays", body = EntryView, headers(("ETag" = String))),
        super::problems::BadRequest,
        super::problems::Unauthorized,
        super::problems::Forbidden,
        super::problems::NotFound,
        super::problems::Conflict,
        super::problems::PreconditionFailed,
        super::problems::Unavailable,
    ),
    security(("bearer" = []))
)]
#[post("/entries/{type}/{id}/unpublish")]
async fn unpublish_entry(
    who: Principal,
    editor: web::Data<Editor>,
    accounts: web::Data<Accounts>,
    path: web::Path<(String, String)>,
    params: web::Query<WithdrawParams>,
    req: actix_web::HttpRequest,
) -> Result<HttpResponse, AppError> {
    let (type_name, id) = path.into_inner();
    let id = parse_id(&type_name, &id)?;
    who.require_publisher()?;
    let entry = editor
        .unpublish(
            &type_name,
            id,
            &if_match(req.headers())?,
            params.force,
            &who.name,
        )
        .await?;
    let detail = serde_json::json!({"force": params.force});
    audit(&accounts, &who, "entry.unpublish", &type_name, id, detail).await;
    Ok(entry_response(HttpResponse::Ok(), entry))
}

#[utoipa::path(
    get,
    path = "/api/v1/entries/{type}/{id}/revisions",
    tag = "entries",
    params(("type" = String, Path), ("id" = String, Path)),
    responses(
        (status = 200, description = "Every version, oldest first", body = RevisionList),
        super::problems::Unauthorized,
        super::problems::NotFound,
    ),
    security(("bearer" = []))
)]
#[get("/entries/{type}/{id}/revisions")]
async fn list_revisions(
    _who: Principal,
    editor: web::Data<Editor>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (type_name, id) = path.into_inner();
    let id = parse_id(&type_name, &id)?;
    let revisions = revisions_of(&editor, &type_name, id).await?;
    Ok(HttpResponse::Ok().json(RevisionList {
        items: revisions.into_iter().map(RevisionView::from).collect(),
    }))
}

#[utoipa::path(
    get,
    path = "/api/v1/entries/{type}/{id}/revisions/{version}",
    tag = "entries",
    params(("type" = String, Path), ("id" = String, Path), ("version" = i64, Path)),
    responses(
        (status = 200, description = "One version", body = RevisionView),
        super::problems::Unauthorized,
        super::problems::NotFound,
    ),
    security(("bearer" = []))
)]
#[get("/entries/{type}/{id}/revisions/{version}")]
async fn get_revision(
    _who: Principal,
    editor: web::Data<Editor>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, AppError> {
    let (type_name, id, version) = path.into_inner();
    let id = parse_id(&type_name, &id)?;
    let missing = || AppError::NotFound(format!("entry {id} has no version {version:?}"));
    let number: i64 = version.parse().map_err(|_| missing())?;
    let revisions = revisions_of(&editor, &type_name, id).await?;
    let revision = revisions
        .into_iter()
        .find(|r| r.version == number)
        .ok_or_else(missing)?;
    Ok(HttpResponse::Ok().json(RevisionView::from(revision)))
}

/// History of an entry of this type; kept (and readable) after a delete.
async fn revisions_of(
    editor: &Editor,
    type_name: &str,
    id: Uuid,
) -> Result<Vec<crate::model::Revision>, AppError> {
    editor.content_type(type_name)?;
    let revisions = editor.store().revisions(id).await?;
    let belongs = match editor.store().entry(id).await? {
        Some(entry) => entry.type_name == type_name,
        // Deleted: the history is all that is left; it was written for this type
        // if its first revision is reachable under this type's routes.
        None => !revisions.is_empty(),
    };
    if !belongs || revisions.is_empty() {
        return Err(AppError::NotFound(format!("no {type_name} entry {id}")));
    }
    Ok(revisions)
}
