//! `AppError`: the only error type that meets HTTP. Every failure leaves as
//! RFC 9457 `application/problem+json` with a stable `code`; validation
//! problems list each field by JSON Pointer, and an unavailable database adds
//! `Retry-After` so clients back off instead of hammering.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::content_types::FieldError;
use crate::store::StoreError;

/// Seconds a client should wait before retrying while the database is away.
const RETRY_AFTER_SECS: &str = "5";

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    /// `expected` is what the client asked for: a version, or the
    /// `If-Match` header as sent.
    #[error("the entry is at version {found}, not {expected}")]
    VersionMismatch { expected: String, found: i64 },
    /// A change that must name the version it was made against came
    /// without `If-Match` (RFC 6585, section 3).
    #[error("{0}")]
    PreconditionRequired(String),
    /// Published entries still refer to the entry being withdrawn.
    #[error("{detail}")]
    Referenced {
        detail: String,
        referrers: Vec<Referrer>,
    },
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A request well formed but impossible to act on (an image file that
    /// is damaged or too large in pixels); the message says why.
    #[error("{0}")]
    Unprocessable(String),
    #[error("{} invalid field(s)", .0.len())]
    Validation(Vec<FieldError>),
    #[error("the database is unavailable; try again shortly")]
    Unavailable(#[source] StoreError),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The wire shape of a problem (RFC 9457 plus keel's `code` and `errors`).
#[derive(Debug, Serialize)]
pub struct Problem<'a> {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: &'a str,
    pub status: u16,
    pub detail: String,
    pub code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<&'a [FieldError]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrers: Option<&'a [Referrer]>,
}

/// A published entry that refers to one being withdrawn (a `409`'s
/// `referrers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Referrer {
    pub id: uuid::Uuid,
    #[serde(rename = "type")]
    pub type_name: String,
    pub slug: String,
}

impl Referrer {
    /// `entry` as a referrer: named by its live slug.
    pub fn published(entry: crate::model::Entry) -> Referrer {
        Referrer {
            id: entry.id,
            slug: entry.published_slug.unwrap_or(entry.slug),
            type_name: entry.type_name,
        }
    }

    /// "1 published entry: match \"a-v-b\"", "2 published entries: ...",
    /// for a `409`'s detail.
    pub fn describe(referrers: &[Referrer]) -> String {
        let names: Vec<String> = referrers
            .iter()
            .map(|r| format!("{} {:?}", r.type_name, r.slug))
            .collect();
        format!(
            "{} published entr{}: {}",
            names.len(),
            if names.len() == 1 { "y" } else { "ies" },
            names.join(", ")
        )
    }
}

impl AppError {
    pub fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        AppError::Internal(Box::new(e))
    }

    /// Stable, machine-readable identifier of the kind of problem.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthorized(_) => "unauthorized",
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound(_) => "not-found",
            AppError::BadRequest(_) => "bad-request",
            AppError::Conflict(_) => "conflict",
            AppError::VersionMismatch { .. } => "version-mismatch",
            AppError::PreconditionRequired(_) => "precondition-required",
            AppError::Referenced { .. } => "referenced",
            AppError::PayloadTooLarge(_) => "payload-too-large",
            AppError::UnsupportedMediaType(_) => "unsupported-media-type",
            AppError::Unprocessable(_) => "unprocessable",
            AppError::Validation(_) => "validation-failed",
            AppError::Unavailable(_) => "database-unavailable",
            AppError::Internal(_) => "internal",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            AppError::Unauthorized(_) => "Authentication required",
            AppError::Forbidden(_) => "Not allowed",
            AppError::NotFound(_) => "Not found",
            AppError::BadRequest(_) => "Bad request",
            AppError::Conflict(_) => "Conflict",
            AppError::VersionMismatch { .. } => "Version mismatch",
            AppError::PreconditionRequired(_) => "Precondition required",
            AppError::Referenced { .. } => "Still referenced",
            AppError::PayloadTooLarge(_) => "Request body too large",
            AppError::UnsupportedMediaType(_) => "Unsupported media type",
            AppError::Unprocessable(_) => "Unprocessable content",
            AppError::Validation(_) => "Validation failed",
            AppError::Unavailable(_) => "Service unavailable",
            AppError::Internal(_) => "Internal error",
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => AppError::NotFound("no such entry".into()),
            StoreError::Conflict { expected, found } => AppError::VersionMismatch {
                expected: expected.to_string(),
                found,
            },
            StoreError::Duplicate(what) => AppError::Conflict(format!("{what} already exists")),
            StoreError::InvalidState(why) => AppError::Conflict(why),
            e @ StoreError::Unavailable(_) => AppError::Unavailable(e),
            e => AppError::internal(e),
        }
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::VersionMismatch { .. } => StatusCode::PRECONDITION_FAILED,
            AppError::PreconditionRequired(_) => StatusCode::PRECONDITION_REQUIRED,
            AppError::Referenced { .. } => StatusCode::CONFLICT,
            AppError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::Unprocessable(_) | AppError::Validation(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = ?self, "request failed");
        }
        // Internal details stay in the log, not in the response.
        let detail = match self {
            AppError::Internal(_) => "the server failed to handle the request".to_owned(),
            other => other.to_string(),
        };
        let problem = Problem {
            type_uri: format!("/problems/{}", self.code()),
            title: self.title(),
            status: status.as_u16(),
            detail,
            code: self.code(),
            errors: match self {
                AppError::Validation(errors) => Some(errors),
                _ => None,
            },
            referrers: match self {
                AppError::Referenced { referrers, .. } => Some(referrers),
                _ => None,
            },
        };
        let mut response = HttpResponse::build(status);
        response
            .content_type("application/problem+json")
            .insert_header((header::CACHE_CONTROL, "private, no-store"));
        match self {
            AppError::Unauthorized(_) => {
                response
                    .insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
            }
            AppError::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS));
            }
            _ => {}
        }
        response.json(problem)
    }
}
