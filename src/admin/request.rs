//! Who is asking and whether they may change anything: [`Person`] (a
//! live session, else a redirect to sign in) and [`Posted`] (a person, a
//! form body, and the session's CSRF token in it, checked before any
//! handler that changes state can run). Cookies are read and written here.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;

use super::{Admin, AdminError};
use crate::accounts::{Actor, SESSION_COOKIE, csrf_matches};
use crate::store::{Role, Session, User};

/// Largest form the app accepts (an article body is far below it).
const MAX_FORM_BYTES: usize = 2 * 1024 * 1024;

/// A signed-in person and their session.
#[derive(Debug, Clone)]
pub struct Person {
    pub user: User,
    pub session: Session,
    /// The client's address, for the audit log.
    pub address: String,
}

impl Person {
    pub fn actor(&self) -> Actor {
        Actor::person(&self.user, &self.address)
    }

    pub fn may(&self, role: Role) -> bool {
        self.user.role >= role
    }

    /// `Forbidden` naming the role needed for `what`.
    pub fn require(&self, role: Role, what: &str) -> Result<(), AdminError> {
        if self.may(role) {
            return Ok(());
        }
        Err(AdminError::Forbidden(format!(
            "{what} needs the {} role; you are {}",
            role.as_str(),
            self.user.role.as_str()
        )))
    }

    pub fn csrf(&self) -> &str {
        &self.session.csrf
    }

    async fn extract(req: &HttpRequest) -> Result<Person, AdminError> {
        let admin = admin(req)?;
        let Some(secret) = cookie(req, SESSION_COOKIE) else {
            return Err(AdminError::sign_in(req));
        };
        match admin.accounts.session(&secret).await? {
            Some((session, user)) => Ok(Person {
                user,
                session,
                address: address(req),
            }),
            None => Err(AdminError::sign_in(req)),
        }
    }
}

impl FromRequest for Person {
    type Error = AdminError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Person::extract(&req).await })
    }
}

/// A form a signed-in person sent, with the session's CSRF token verified.
#[derive(Debug)]
pub struct Posted {
    pub person: Person,
    pub form: Form,
}

impl FromRequest for Posted {
    type Error = AdminError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            refuse_cross_site(&req)?;
            let person = Person::extract(&req).await?;
            let form = read_form(&req, payload).await?;
            let presented = form
                .get("csrf")
                .map(str::to_owned)
                .or_else(|| header_str(&req, "x-csrf-token").map(str::to_owned))
                .unwrap_or_default();
            if !csrf_matches(&person.session, &presented) {
                return Err(AdminError::Csrf);
            }
            Ok(Posted { person, form })
        })
    }
}

/// A form body as sent: every name/value pair in order (names may repeat).
#[derive(Debug, Default, Clone)]
pub struct Form(pub Vec<(String, String)>);

impl Form {
    /// The last value sent for `name` (a hidden default followed by a
    /// checkbox: the checkbox wins when checked).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| n == name)
    }
}

/// Reads an `application/x-www-form-urlencoded` body.
pub async fn read_form(req: &HttpRequest, payload: Payload) -> Result<Form, AdminError> {
    let form_type = header_str(req, header::CONTENT_TYPE.as_str())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| m.essence_str() == "application/x-www-form-urlencoded");
    if !form_type {
        return Err(AdminError::BadRequest(
            "the app's forms are sent as application/x-www-form-urlencoded".into(),
        ));
    }
    let mut payload = payload;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = futures_util::StreamExt::next(&mut payload).await {
        let chunk =
            chunk.map_err(|e| AdminError::BadRequest(format!("could not read the form: {e}")))?;
        if body.len() + chunk.len() > MAX_FORM_BYTES {
            return Err(AdminError::BadRequest(format!(
                "the form is larger than {MAX_FORM_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
        .map(Form)
        .map_err(|e| AdminError::BadRequest(format!("the form could not be read: {e}")))
}

/// A browser says when a request comes from another site (Fetch Metadata);
/// such a request never changes anything, whatever it carries.
pub fn refuse_cross_site(req: &HttpRequest) -> Result<(), AdminError> {
    if header_str(req, "sec-fetch-site") == Some("cross-site") {
        return Err(AdminError::Csrf);
    }
    Ok(())
}

pub(super) fn admin(req: &HttpRequest) -> Result<&Admin, AdminError> {
    req.app_data::<web::Data<Admin>>()
        .map(|d| d.get_ref())
        .ok_or_else(|| AdminError::Internal("the app is not configured".into()))
}

fn header_str<'r>(req: &'r HttpRequest, name: &str) -> Option<&'r str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The value of a cookie (the last one of that name).
pub fn cookie(req: &HttpRequest, name: &str) -> Option<String> {
    cookie_in(req.headers(), name)
}

/// The value of a cookie in a request's fields (the last one of that name).
pub fn cookie_in(headers: &header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(n, _)| *n == name)
        .map(|(_, v)| v.trim_matches('"').to_owned())
        .next_back()
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, path `/` (previews
/// and the API read the session too), `Secure` when configured.
pub fn set_cookie(name: &str, value: &str, max_age_secs: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}")
}

/// The client's address (behind trusted proxies, the one they name).
pub fn address(req: &HttpRequest) -> String {
    crate::client::client_address(req)
}
