//! The app's media library: every image with a thumbnail, searched by name
//! or alt text, an upload form (the file, its alt text, caption, credit and
//! an optional crop), and deletes for editors. Uploads are
//! `multipart/form-data` with the session's CSRF token as a field; the
//! work is the [`Library`]'s, as for the API.

use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, get, post, web};
use minijinja::context;
use serde::Deserialize;
use serde_json::json;

use super::entries::redirect;
use super::request::refuse_cross_site;
use super::view::{me, shared_views as views};
use super::{AdminError, Person, Posted};
use crate::accounts::{Accounts, csrf_matches};
use crate::api::media::{Body, UploadParams, check_size, content_type, multipart, read_upload};
use crate::error::AppError;
use crate::library::{Library, Uploaded};
use crate::model::{Media, MediaId, MediaQuery};
use crate::store::Role;

const PAGE: u32 = 48;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(library_page).service(upload).service(delete);
}

#[derive(Debug, Default, Deserialize)]
struct Query {
    q: Option<String>,
    before: Option<String>,
    done: Option<String>,
}

/// An image as the library page shows it.
fn card(m: &Media) -> minijinja::Value {
    let thumb = m
        .variants
        .iter()
        .find(|v| v.format == "image/webp")
        .or(m.variants.first())
        .map(|v| v.path.clone());
    let src = m
        .variants
        .iter()
        .rev()
        .find(|v| v.format != "image/webp")
        .map(|v| v.path.clone());
    context! {
        id => m.id.to_string(),
        name => &m.name,
        alt => &m.alt,
        caption => &m.caption,
        credit => &m.credit,
        width => m.width,
        height => m.height,
        thumb,
        src,
        variants => m.variants.len(),
        created => m.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        created_by => &m.created_by,
    }
}

async fn page(
    library: &Library,
    person: &Person,
    query: Query,
    problem: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, AdminError> {
    let before = match query.before.as_deref() {
        Some(raw) => Some(
            raw.parse::<MediaId>()
                .map_err(|_| AdminError::BadRequest(format!("{raw:?} is not a page of images")))?,
        ),
        None => None,
    };
    let q = query
        .q
        .map(|q| q.trim().to_owned())
        .filter(|q| !q.is_empty() && !q.contains('\0'));
    let mut items = library
        .list(&MediaQuery {
            q: q.clone(),
            before,
            limit: PAGE + 1,
        })
        .await?;
    let more = items.len() > PAGE as usize;
    items.truncate(PAGE as usize);
    let next = more
        .then(|| items.last().map(|m| m.id.to_string()))
        .flatten();
    Ok(views().with_status(
        status,
        "media.html",
        context! {
            me => me(person),
            images => items.iter().map(card).collect::<Vec<_>>(),
            q,
            next,
            notice => query.done,
            problem,
            max_mb => library.limits().max_bytes / (1024 * 1024),
        },
    ))
}

#[get("/media")]
async fn library_page(
    person: Person,
    library: web::Data<Library>,
    query: web::Query<Query>,
) -> Result<HttpResponse, AdminError> {
    page(&library, &person, query.into_inner(), None, StatusCode::OK).await
}

/// A multipart upload from a signed-in person, with the CSRF token checked
/// before the image is looked at.
#[post("/media")]
async fn upload(
    req: HttpRequest,
    payload: web::Payload,
    library: web::Data<Library>,
    accounts: web::Data<Accounts>,
) -> Result<HttpResponse, AdminError> {
    refuse_cross_site(&req)?;
    let person = <Person as FromRequest>::extract(&req).await?;
    let body = read_upload(&library, payload).await?;
    let Body::Multipart(boundary) = content_type(req.headers())? else {
        return Err(AdminError::BadRequest(
            "the upload form is sent as multipart/form-data".into(),
        ));
    };
    let parsed = multipart(body, &boundary, UploadParams::default(), &["csrf"]).await;
    // The token is checked before any problem with the file is reported.
    let csrf = match &parsed {
        Ok((_, fields)) => fields.iter().rev().find(|(n, _)| n == "csrf"),
        Err(_) => None,
    };
    if !csrf.is_some_and(|(_, token)| csrf_matches(&person.session, token)) {
        return Err(AdminError::Csrf);
    }
    let outcome = match parsed {
        Ok((upload, _)) => match check_size(&library, &upload) {
            Ok(()) => library.upload(upload, &person.user.email).await,
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    match outcome {
        Ok(Uploaded::Created(media)) => {
            accounts
                .record(
                    &person.actor(),
                    "media.upload",
                    &format!("media/{}", media.id),
                    None,
                    json!({"name": media.name, "hash": media.hash}),
                )
                .await;
            Ok(redirect(&format!(
                "/admin/media?done={}",
                urlencode(&format!(
                    "Uploaded {} ({}×{}).",
                    media.name, media.width, media.height
                ))
            )))
        }
        Ok(Uploaded::Existing(media)) => Ok(redirect(&format!(
            "/admin/media?done={}",
            urlencode(&format!(
                "That file is already in the library as {}.",
                media.name
            ))
        ))),
        // The file's problem is shown above the form, with its status.
        Err(
            e @ (AppError::BadRequest(_)
            | AppError::PayloadTooLarge(_)
            | AppError::UnsupportedMediaType(_)
            | AppError::Unprocessable(_)
            | AppError::Validation(_)),
        ) => {
            let status = actix_web::ResponseError::status_code(&e);
            let problem = match &e {
                AppError::Validation(errors) => errors
                    .iter()
                    .map(|f| format!("{}: {}", f.pointer.trim_start_matches('/'), f.message))
                    .collect::<Vec<_>>()
                    .join("; "),
                other => other.to_string(),
            };
            page(&library, &person, Query::default(), Some(problem), status).await
        }
        Err(e) => Err(e.into()),
    }
}

#[post("/media/{id}/delete")]
async fn delete(
    posted: Posted,
    library: web::Data<Library>,
    accounts: web::Data<Accounts>,
    path: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    let Posted { person, .. } = posted;
    person.require(Role::Editor, "Deleting images")?;
    let id: MediaId = path
        .parse()
        .map_err(|_| AdminError::NotFound(format!("no image {:?}", path.as_str())))?;
    match library.delete(id).await {
        Ok(media) => {
            accounts
                .record(
                    &person.actor(),
                    "media.delete",
                    &format!("media/{id}"),
                    None,
                    json!({"name": media.name, "hash": media.hash}),
                )
                .await;
            Ok(redirect(&format!(
                "/admin/media?done={}",
                urlencode(&format!("Deleted {}.", media.name))
            )))
        }
        Err(e @ AppError::Referenced { .. }) => {
            page(
                &library,
                &person,
                Query::default(),
                Some(e.to_string()),
                StatusCode::CONFLICT,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
