//! What the app answers when a page cannot be shown: a redirect to sign
//! in, or an HTML page with the status and a sentence saying what is
//! wrong (never a stack trace). Validation problems are not errors here:
//! the form is shown again with each message beside its field.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use crate::accounts::AccountError;
use crate::error::AppError;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No live session: sign in, then come back to `next`.
    #[error("sign in to continue")]
    SignIn { next: String },
    /// The CSRF token is missing or wrong, or the request came from
    /// another site.
    #[error(
        "this form could not be accepted: it expired or came from another site; reload the page and try again"
    )]
    Csrf,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    App(#[from] AppError),
    /// Never `AccountError::Store`: that becomes `App`, so a database
    /// outage reads the same wherever it was met.
    #[error(transparent)]
    Account(AccountError),
    #[error("{0}")]
    Internal(String),
}

impl From<crate::store::StoreError> for AdminError {
    fn from(e: crate::store::StoreError) -> Self {
        AdminError::App(e.into())
    }
}

impl From<AccountError> for AdminError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Store(e) => e.into(),
            other => AdminError::Account(other),
        }
    }
}

impl AdminError {
    pub fn sign_in(req: &HttpRequest) -> AdminError {
        let next = if req.method() == actix_web::http::Method::GET {
            req.uri()
                .path_and_query()
                .map_or("/admin", |p| p.as_str())
                .to_owned()
        } else {
            "/admin".to_owned()
        };
        AdminError::SignIn { next }
    }
}

impl ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        match self {
            AdminError::SignIn { .. } => StatusCode::SEE_OTHER,
            AdminError::Csrf | AdminError::Forbidden(_) => StatusCode::FORBIDDEN,
            AdminError::NotFound(_) => StatusCode::NOT_FOUND,
            AdminError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AdminError::App(e) => e.status_code(),
            AdminError::Account(AccountError::TooManyAttempts { .. }) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            AdminError::Account(AccountError::InvalidCredentials) => StatusCode::UNAUTHORIZED,
            AdminError::Account(AccountError::Invalid(..)) => StatusCode::UNPROCESSABLE_ENTITY,
            AdminError::Account(AccountError::Store(_)) | AdminError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if let AdminError::SignIn { next } = self {
            let to = format!("/admin/login?next={}", urlencode(next));
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, to))
                .finish();
        }
        if status.is_server_error() {
            tracing::error!(error = ?self, "admin request failed");
        }
        let message = match (self, status.is_server_error()) {
            (AdminError::App(AppError::Unavailable(_)), _) => {
                "The database is unavailable; try again in a few seconds.".to_owned()
            }
            (_, true) => "Something went wrong on the server; it has been logged.".to_owned(),
            (AdminError::App(AppError::Validation(errors)), false) => errors
                .iter()
                .map(|e| format!("{}: {}", e.pointer, e.message))
                .collect::<Vec<_>>()
                .join("; "),
            (other, false) => other.to_string(),
        };
        let mut response = super::view::error_page(status, &message);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
        }
        response
    }
}

/// Percent-encodes a value for a query string.
pub fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
