//! Media handlers: uploads (the raw bytes, or `multipart/form-data`), the
//! library's listing and search, an image's description, its delete and
//! the explicit cleanup. The work is the [`Library`]'s.

use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::auth::Principal;
use crate::accounts::Accounts;
use crate::error::AppError;
use crate::library::{Cleanup, Library, Upload, Uploaded};
use crate::model::{Media, MediaChange, MediaId, MediaQuery, MediaVariant};

const DEFAULT_LIMIT: u32 = 30;
const MAX_LIMIT: u32 = 100;
/// Room for a multipart body's boundaries and text fields around the file.
pub const UPLOAD_OVERHEAD: usize = 64 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(upload_media)
        .service(cleanup_media)
        .service(list_media)
        .service(get_media)
        .service(patch_media)
        .service(delete_media);
}

/// An image in the library.
#[derive(Debug, Serialize, ToSchema)]
pub struct MediaView {
    pub id: Uuid,
    /// Names the uploaded bytes (and crop): part of every variant's URL.
    pub hash: String,
    pub name: String,
    /// The library's alt text: what the app suggests when the image is
    /// placed (an image field carries its own).
    pub alt: String,
    pub caption: Option<String>,
    pub credit: Option<String>,
    /// `[x, y]`, fractions of width and height from the top left.
    pub focal: Option<[f32; 2]>,
    /// The original's media type.
    pub format: String,
    /// The original's upright size in pixels.
    pub width: u32,
    pub height: u32,
    /// Bytes of the original (never served to readers).
    pub size: i64,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    /// The widest fallback (JPEG or PNG) variant's path: a URL for any
    /// client.
    pub src: String,
    /// Every variant, narrowest first; each path answers with
    /// `Cache-Control: public, max-age=31536000, immutable`.
    pub variants: Vec<VariantView>,
}

/// One responsive variant.
#[derive(Debug, Serialize, ToSchema)]
pub struct VariantView {
    /// `/media/{hash}/{name}-{width}.{ext}`.
    pub path: String,
    pub width: u32,
    pub height: u32,
    /// `image/webp`, `image/jpeg` or `image/png`.
    pub format: String,
    pub bytes: i64,
}

impl From<Media> for MediaView {
    fn from(m: Media) -> Self {
        let src = m
            .variants
            .iter()
            .rev()
            .find(|v| v.format != "image/webp")
            .or(m.variants.last())
            .map(|v| v.path.clone())
            .unwrap_or_default();
        MediaView {
            id: m.id.uuid(),
            hash: m.hash,
            name: m.name,
            alt: m.alt,
            caption: m.caption,
            credit: m.credit,
            focal: m.focal.map(|(x, y)| [x, y]),
            format: m.format,
            width: m.width,
            height: m.height,
            size: m.size,
            created_at: m.created_at,
            created_by: m.created_by,
            src,
            variants: m.variants.into_iter().map(VariantView::from).collect(),
        }
    }
}

impl From<MediaVariant> for VariantView {
    fn from(v: MediaVariant) -> Self {
        VariantView {
            path: v.path,
            width: v.width,
            height: v.height,
            format: v.format,
            bytes: v.bytes,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MediaList {
    pub items: Vec<MediaView>,
    /// Pass as `before` for the next (older) page; absent on the last.
    pub next_cursor: Option<String>,
}

/// The description sent with an upload, in the query string (a raw body)
/// or as form fields (multipart).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    /// The file's name, for the variants' URLs (a multipart file part
    /// brings its own).
    name: Option<String>,
    /// Alt text the app suggests when the image is placed.
    alt: Option<String>,
    caption: Option<String>,
    credit: Option<String>,
    /// Where the subject is: `x,y`, fractions of width and height (`0.5,0.3`).
    focal: Option<String>,
    /// Crop every variant to this aspect ratio around the focal point:
    /// `16:9`, `1:1`.
    aspect: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/v1/media",
    tag = "media",
    params(UploadParams),
    request_body(
        description = "The image's bytes with its own Content-Type (image/jpeg, image/png, \
                       image/webp), or multipart/form-data with a `file` part and optional \
                       `alt`, `caption`, `credit`, `focal`, `aspect` fields. The format is \
                       sniffed from the bytes, never taken from the name or the header.",
        content(
            (Vec<u8> = "image/jpeg"),
            (Vec<u8> = "image/png"),
            (Vec<u8> = "image/webp"),
            (Object = "multipart/form-data"),
        )
    ),
    responses(
        (status = 201, description = "Stored with its variants", body = MediaView,
         headers(("Location" = String))),
        (status = 200, description = "The same bytes (and crop) were uploaded before: that image",
         body = MediaView),
        super::problems::BadRequest,
        super::problems::Unauthorized,
        super::problems::PayloadTooLarge,
        super::problems::UnsupportedMediaType,
        super::problems::Unprocessable,
        super::problems::Unavailable,
    ),
    security(("bearer" = []))
)]
#[post("/media")]
async fn upload_media(
    who: Principal,
    library: web::Data<Library>,
    accounts: web::Data<Accounts>,
    req: actix_web::HttpRequest,
    params: web::Query<UploadParams>,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    let body = read_upload(&library, payload).await?;
    let upload = match content_type(req.headers())? {
        Body::Image => {
            let mut upload = described(params.into_inner())?;
            upload.bytes = body;
            upload
        }
        Body::Multipart(boundary) => {
            multipart(body, &boundary, params.into_inner(), &[])
                .await?
                .0
        }
    };
    check_size(&library, &upload)?;
    let (mut builder, media) = match library.upload(upload, &who.name).await? {
        Uploaded::Created(media) => {
            let mut builder = HttpResponse::Created();
            builder.insert_header((header::LOCATION, format!("/api/v1/media/{}", media.id)));
            let detail = serde_json::json!({"name": media.name, "hash": media.hash});
            accounts
                .record(
                    &who.actor(),
                    "media.upload",
                    &format!("media/{}", media.id),
                    None,
                    detail,
                )
                .await;
            (builder, media)
        }
        Uploaded::Existing(media) => (HttpResponse::Ok(), media),
    };
    Ok(builder.json(MediaView::from(media)))
}

/// An upload's whole body: the largest image and a form's fields around it.
pub(crate) async fn read_upload(
    library: &Library,
    payload: web::Payload,
) -> Result<web::Bytes, AppError> {
    let limit = library.limits().max_bytes + UPLOAD_OVERHEAD;
    super::read_body(payload, &super::BodyLimit(limit)).await
}

/// The file itself within `--max-upload-bytes` (a multipart body may be a
/// little larger).
pub(crate) fn check_size(library: &Library, upload: &Upload) -> Result<(), AppError> {
    let max = library.limits().max_bytes;
    if upload.bytes.len() > max {
        return Err(crate::media::MediaError::TooLarge {
            bytes: upload.bytes.len(),
            max,
        }
        .into());
    }
    Ok(())
}

pub(crate) enum Body {
    Image,
    Multipart(String),
}

pub(crate) fn content_type(headers: &HeaderMap) -> Result<Body, AppError> {
    let refuse = || {
        AppError::UnsupportedMediaType(
            "send the image's bytes with its Content-Type (image/jpeg, image/png or image/webp), \
             or a multipart/form-data body with a `file` part"
                .into(),
        )
    };
    let value = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(refuse)?;
    let mime: mime::Mime = value.parse().map_err(|_| refuse())?;
    match (mime.type_(), mime.subtype()) {
        // The exact image type does not matter: the bytes are sniffed.
        (mime::IMAGE, _) | (mime::APPLICATION, mime::OCTET_STREAM) => Ok(Body::Image),
        (mime::MULTIPART, mime::FORM_DATA) => multer::parse_boundary(value)
            .map(Body::Multipart)
            .map_err(|e| AppError::BadRequest(format!("bad multipart Content-Type: {e}"))),
        _ => Err(refuse()),
    }
}

/// The upload's description from the query string, checked.
fn described(params: UploadParams) -> Result<Upload, AppError> {
    Ok(Upload {
        bytes: Default::default(),
        file_name: params.name,
        alt: params.alt.unwrap_or_default(),
        caption: params.caption,
        credit: params.credit,
        focal: params.focal.as_deref().map(parse_focal).transpose()?,
        aspect: params.aspect.as_deref().map(parse_aspect).transpose()?,
    })
}

fn parse_focal(raw: &str) -> Result<(f32, f32), AppError> {
    let bad = || {
        AppError::BadRequest(format!(
            "focal {raw:?} is not a point: give x,y as fractions of width and height (0.5,0.3)"
        ))
    };
    let (x, y) = raw.split_once(',').ok_or_else(bad)?;
    let x: f32 = x.trim().parse().map_err(|_| bad())?;
    let y: f32 = y.trim().parse().map_err(|_| bad())?;
    if !x.is_finite() || !y.is_finite() {
        return Err(bad());
    }
    Ok((x, y))
}

fn parse_aspect(raw: &str) -> Result<(u32, u32), AppError> {
    let bad = || {
        AppError::BadRequest(format!(
            "aspect {raw:?} is not an aspect ratio: give width:height (16:9, 1:1)"
        ))
    };
    let (w, h) = raw.split_once(':').ok_or_else(bad)?;
    Ok((
        w.trim().parse().map_err(|_| bad())?,
        h.trim().parse().map_err(|_| bad())?,
    ))
}

/// Reads a multipart body already in memory: the `file` part, and text
/// fields that override the query string's. Fields named in `extra` (the
/// app's `csrf`) are returned for the caller; any other is refused.
pub(crate) async fn multipart(
    body: web::Bytes,
    boundary: &str,
    mut params: UploadParams,
    extra: &[&str],
) -> Result<(Upload, Vec<(String, String)>), AppError> {
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut form = multer::Multipart::new(stream, boundary);
    let mut file = None;
    let mut others = Vec::new();
    let bad = |e: multer::Error| AppError::BadRequest(format!("bad multipart body: {e}"));
    while let Some(field) = form.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        let slot = match name.as_str() {
            "file" => {
                if file.is_some() {
                    return Err(AppError::BadRequest(
                        "the multipart body has more than one `file` part: upload one image \
                         per request"
                            .into(),
                    ));
                }
                let file_name = field.file_name().map(str::to_owned);
                file = Some((file_name, field.bytes().await.map_err(bad)?));
                continue;
            }
            "alt" => &mut params.alt,
            "caption" => &mut params.caption,
            "credit" => &mut params.credit,
            "focal" => &mut params.focal,
            "aspect" => &mut params.aspect,
            "name" => &mut params.name,
            other if extra.contains(&other) => {
                let text = field.text().await.map_err(bad)?;
                others.push((name, text));
                continue;
            }
            other => {
                return Err(AppError::BadRequest(format!(
                    "unknown multipart field {other:?}: expected file, alt, caption, credit, \
                     focal, aspect or name"
                )));
            }
        };
        let text = field.text().await.map_err(bad)?;
        *slot = Some(text).filter(|t| !t.trim().is_empty());
    }
    let Some((file_name, bytes)) = file.filter(|(_, bytes)| !bytes.is_empty()) else {
        return Err(AppError::BadRequest(
            "the multipart body has no `file` part holding the image".into(),
        ));
    };
    let name = params.name.take().or(file_name);
    let mut upload = described(params)?;
    upload.file_name = name;
    upload.bytes = bytes;
    Ok((upload, others))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Text the name or the alt text contains (any case).
    q: Option<String>,
    /// `next_cursor` from the previous page.
    before: Option<String>,
    /// Page size, 1 to 100 (default 30).
    limit: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/api/v1/media",
    tag = "media",
    params(ListParams),
    responses(
        (status = 200, description = "A page of the library, newest first", body = MediaList),
        super::problems::BadRequest,
        super::problems::Unauthorized,
        super::problems::Unavailable,
    ),
    security(("bearer" = []))
)]
#[get("/media")]
async fn list_media(
    _who: Principal,
    library: web::Data<Library>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, AppError> {
    let params = params.into_inner();
    let limit = match params.limit {
        None => DEFAULT_LIMIT,
        Some(0) => return Err(AppError::BadRequest("limit must be at least 1".into())),
        Some(n) => n.min(MAX_LIMIT),
    };
    let before = params
        .before
        .as_deref()
        .map(|c| {
            c.parse::<MediaId>()
                .map_err(|_| AppError::BadRequest(format!("before {c:?} is not a valid cursor")))
        })
        .transpose()?;
    let q = params
        .q
        .map(|q| q.trim().to_owned())
        .filter(|q| !q.is_empty());
    if q.as_deref().is_some_and(|q| q.contains('\0')) {
        return Err(AppError::BadRequest(
            "q must not contain NUL characters".into(),
        ));
    }
    let mut items = library
        .list(&MediaQuery {
            q,
            before,
            limit: limit + 1,
        })
        .await?;
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next_cursor = more
        .then(|| items.last().map(|m| m.id.to_string()))
        .flatten();
    Ok(HttpResponse::Ok().json(MediaList {
        items: items.into_iter().map(MediaView::from).collect(),
        next_cursor,
    }))
}

/// Ids that are not UUIDs name no image: a 404, like any unknown id.
fn parse_id(raw: &str) -> Result<MediaId, AppError> {
    raw.parse()
        .map_err(|_| AppError::NotFound(format!("no image {raw:?}")))
}

#[utoipa::path(
    get,
    path = "/api/v1/media/{id}",
    tag = "media",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "The image", body = MediaView),
        super::problems::Unauthorized,
        super::problems::NotFound,
        super::problems::Unavailable,
    ),
    security(("bearer" = []))
)]
#[get("/media/{id}")]
async fn get_media(
    _who: Principal,
    library: web::Data<Library>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let media = library.get(parse_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(MediaView::from(media)))
}

/// Changes to the library's description; absent fields stay, `null`
/// clears an optional one. The pixels never change: a new image is a new
/// upload.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchMedia {
    pub alt: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub caption: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub credit: Option<Option<String>>,
    /// `[x, y]`, fractions of width and height.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<[f32; 2]>)]
    pub focal: Option<Option<[f32; 2]>>,
}

/// A field that is present (even as `null`) is `Some`.
fn present<'de, T, D>(de: D) -> Result<Option<T>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    T::deserialize(de).map(Some)
}

#[utoipa::path(
    patch,
    path = "/api/v1/media/{id}",
    tag = "media",
    params(("id" = Uuid, Path)),
    request_body = PatchMedia,
    responses(
        (status = 200, description = "The image as changed", body = MediaView),
        super::problems::BadRequest,
        super::problems::Unauthorized,
        super::problems::NotFound,
        super::problems::UnsupportedMediaType,
        super::problems::Unprocessable,
        super::problems::Unavailable,
    ),
    security(("bearer" = []))
)]
#[patch("/media/{id}")]
async fn patch_media(
    who: Principal,
    library: web::Data<Library>,
    accounts: web::Data<Accounts>,
    path: web::Path<String>,
    body: web::Json<PatchMedia>,
) -> Result<HttpResponse, AppError> {
    let id = parse_id(&path)?;
    let body = body.into_inner();
    let change = MediaChange {
        alt: body.alt,
        caption: body.caption,
        credit: body.credit,
        focal: body.focal.map(|f| f.map(|[x, y]| (x, y))),
    };
    let media = library.update(id, &change).await?;
    accounts
        .record(
            &who.actor(),
            "media.update",
            &format!("media/{id}"),
            None,
            serde_json::json!({}),
        )
        .await;
    Ok(HttpResponse::Ok().json(MediaView::from(media)))
}

#[utoipa::path(
    delete,
    path = "/api/v1/media/{id}",
    tag = "media",
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted with its variants; their URLs answer 404"),
        super::problems::Unauthorized,
        super::problems::Forbidden,
        super::problems::NotFound,
        super::problems::Conflict,
        super::problems::Unavailable,
    ),
    security(("bearer" = []))
)]
#[delete("/media/{id}")]
async fn delete_media(
    who: Principal,
    library: web::Data<Library>,
    accounts: web::Data<Accounts>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    who.require_publisher()?;
    let id = parse_id(&path)?;
    let media = library.delete(id).await?;
    accounts
        .record(
            &who.actor(),
            "media.delete",
            &format!("media/{id}"),
            None,
            serde_json::json!({"name": media.name, "hash": media.hash}),
        )
        .await;
    Ok(HttpResponse::NoContent().finish())
}

/// What to collect.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CleanupRequest {
    /// Only images uploaded longer ago than this (`30d`, `12h`): a fresh
    /// upload is about to be placed.
    pub older_than: String,
    /// Report what would be deleted, delete nothing.
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CleanupReport {
    pub dry_run: bool,
    /// Deleted (or, in a dry run, to be deleted): shown by nothing.
    pub deleted: Vec<MediaView>,
    /// Not shown by anything live, but named by a draft or pending change.
    pub spared: Vec<Uuid>,
}

impl From<Cleanup> for CleanupReport {
    fn from(c: Cleanup) -> Self {
        CleanupReport {
            dry_run: c.dry_run,
            deleted: c.deleted.into_iter().map(MediaView::from).collect(),
            spared: c.spared.into_iter().map(MediaId::uuid).collect(),
        }
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/media/cleanup",
    tag = "media",
    request_body = CleanupRequest,
    responses(
        (status = 200, description = "What was (or would be) deleted", body = CleanupReport),
        super::problems::BadRequest,
        super::problems::Unauthorized,
        super::problems::Forbidden,
        super::problems::Unavailable,
    ),
    security(("bearer" = []))
)]
#[post("/media/cleanup")]
async fn cleanup_media(
    who: Principal,
    library: web::Data<Library>,
    accounts: web::Data<Accounts>,
    body: web::Json<CleanupRequest>,
) -> Result<HttpResponse, AppError> {
    who.require_admin()?;
    let age = humantime::parse_duration(&body.older_than).map_err(|e| {
        AppError::BadRequest(format!(
            "older_than {:?} is not a duration (30d, 12h): {e}",
            body.older_than
        ))
    })?;
    let older_than = chrono::Duration::from_std(age)
        .ok()
        .and_then(|age| Utc::now().checked_sub_signed(age))
        .ok_or_else(|| {
            AppError::BadRequest(format!("older_than {:?} is too long", body.older_than))
        })?;
    let report = library.cleanup(older_than, body.dry_run).await?;
    if !report.dry_run {
        let ids: Vec<String> = report.deleted.iter().map(|m| m.id.to_string()).collect();
        accounts
            .record(
                &who.actor(),
                "media.cleanup",
                "media",
                None,
                serde_json::json!({"deleted": ids}),
            )
            .await;
    }
    Ok(HttpResponse::Ok().json(CleanupReport::from(report)))
}
