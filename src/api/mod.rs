//! The editor JSON API under `/api/v1/`: bearer tokens, problem+json errors,
//! `private, no-store` on every response. Handlers stay thin: extract, call
//! the `Editor`, map the result.

mod audit;
pub mod auth;
mod entries;
pub(crate) mod media;
pub mod model;
pub mod openapi;
mod outbox;
pub mod preview;
mod prewarm;
mod problems;
mod tokens;
mod types;

use actix_web::error::JsonPayloadError;
use actix_web::http::header;
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpRequest, web};

use crate::error::AppError;

/// The `/api/v1` scope with the JSON body rules (size limit, media type,
/// errors that name the offending field). Register public routes under
/// `/api/v1` (the delivery API) before it: the scope matches the prefix.
pub fn scope(
    max_body_bytes: usize,
) -> actix_web::Scope<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    web::scope("/api/v1")
        // Drafts and editor data must never be stored by a browser or CDN.
        .wrap(DefaultHeaders::new().add((header::CACHE_CONTROL, "private, no-store")))
        .configure(routes(max_body_bytes))
}

fn routes(max_body_bytes: usize) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(
            web::JsonConfig::default()
                .limit(max_body_bytes)
                .content_type_required(true)
                .content_type(|mime| mime.subtype() == "json" || mime.suffix() == Some(mime::JSON))
                .error_handler(move |err, _req: &HttpRequest| {
                    json_error(err, max_body_bytes).into()
                }),
        )
        .app_data(web::Data::new(BodyLimit(max_body_bytes)))
        .app_data(web::QueryConfig::default().error_handler(|err, _req| {
            AppError::BadRequest(format!("bad query string: {err}")).into()
        }))
        .app_data(web::PathConfig::default().error_handler(|err, _req| {
            AppError::NotFound(format!("no such resource: {err}")).into()
        }))
        .configure(entries::routes)
        .configure(types::routes)
        .configure(media::routes)
        .configure(tokens::routes)
        .configure(prewarm::routes)
        .configure(outbox::routes)
        .configure(audit::routes)
        .service(openapi::openapi_json);
    }
}

/// Where images are uploaded (the API, the app's form): the requests whose
/// body may be as large as `--max-upload-bytes`.
pub const MEDIA_UPLOAD_PATHS: [&str; 2] = ["/api/v1/media", "/admin/media"];
pub use auth::body_gate;
pub use media::UPLOAD_OVERHEAD;

/// `--max-body-bytes`, for handlers that read a raw body.
pub(crate) struct BodyLimit(pub usize);

/// Reads a whole raw body within the limit; overflow and read errors are
/// problems like every other, never actix's plain-text ones.
pub(crate) async fn read_body(
    payload: web::Payload,
    limit: &BodyLimit,
) -> Result<web::Bytes, AppError> {
    match payload.to_bytes_limited(limit.0).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(e)) => Err(AppError::BadRequest(format!(
            "could not read the request body: {e}"
        ))),
        Err(_) => Err(AppError::PayloadTooLarge(format!(
            "request body exceeds the limit of {} bytes",
            limit.0
        ))),
    }
}

fn json_error(err: JsonPayloadError, limit: usize) -> AppError {
    match err {
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            AppError::PayloadTooLarge(format!("request body exceeds the limit of {limit} bytes"))
        }
        JsonPayloadError::ContentType => AppError::UnsupportedMediaType(
            "request body must be JSON (Content-Type: application/json)".into(),
        ),
        JsonPayloadError::Deserialize(e) => {
            if e.is_data() {
                AppError::BadRequest(format!("request body does not fit: {e}"))
            } else {
                AppError::BadRequest(format!("request body is not valid JSON: {e}"))
            }
        }
        other => AppError::BadRequest(format!("could not read the request body: {other}")),
    }
}
