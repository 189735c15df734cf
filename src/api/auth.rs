//! Bearer-token authentication for the editor API. A request's secret is
//! hashed, looked up by hash and compared in constant time; `last_used` is
//! written at most once a minute per token, so authentication does not cost
//! a database write per request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, ResponseError, web};
use futures_util::future::LocalBoxFuture;
use subtle::ConstantTimeEq;

use crate::auth::hash_token;
use crate::error::AppError;
use crate::store::{Role, Store};

const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// Verifies tokens against the store.
pub struct Authenticator {
    store: Arc<dyn Store>,
    accounts: Arc<crate::accounts::Accounts>,
    /// When each token's `last_used` was last written by this node.
    touched: Mutex<HashMap<String, Instant>>,
}

/// The authenticated caller of an editor request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub role: Role,
    /// A machine's token or a signed-in person.
    pub kind: crate::accounts::ActorKind,
    /// The client's address, for the audit log.
    pub address: String,
}

impl Principal {
    /// Who this is in the audit log.
    pub fn actor(&self) -> crate::accounts::Actor {
        crate::accounts::Actor {
            name: self.name.clone(),
            kind: self.kind,
            role: self.role,
            address: self.address.clone(),
        }
    }

    /// Site-wide operations (pre-warm, purge, re-render, token management).
    pub fn require_admin(&self) -> Result<(), AppError> {
        self.require(Role::Admin, "this operation")
    }

    /// What changes what readers see: publish, schedule, unpublish, delete.
    pub fn require_publisher(&self) -> Result<(), AppError> {
        self.require(
            Role::Editor,
            "publishing, scheduling, unpublishing and deleting",
        )
    }

    fn require(&self, least: Role, what: &str) -> Result<(), AppError> {
        if self.role >= least {
            return Ok(());
        }
        Err(AppError::Forbidden(format!(
            "{:?} has role {}; {what} needs {}{}",
            self.name,
            self.role.as_str(),
            least.as_str(),
            if least == Role::Admin {
                ""
            } else {
                " or admin"
            },
        )))
    }
}

impl Authenticator {
    pub fn new(store: Arc<dyn Store>, accounts: Arc<crate::accounts::Accounts>) -> Self {
        Authenticator {
            store,
            accounts,
            touched: Mutex::new(HashMap::new()),
        }
    }

    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AppError> {
        let secret = bearer_secret(authorization)?;
        let hash = hash_token(secret);
        let token = self
            .store
            .token_by_hash(&hash)
            .await?
            .filter(|t| bool::from(t.hash.as_bytes().ct_eq(hash.as_bytes())))
            .ok_or_else(|| AppError::Unauthorized("unknown or revoked token".into()))?;
        if self.due_for_touch(&token.name) {
            let store = self.store.clone();
            let name = token.name.clone();
            // Bookkeeping only: never delay or fail the request for it.
            tokio::spawn(async move {
                if let Err(e) = store.touch_token(&name, chrono::Utc::now()).await {
                    tracing::warn!(token = %name, error = %e, "could not record token use");
                }
            });
        }
        Ok(Principal {
            name: token.name,
            role: token.role,
            kind: crate::accounts::ActorKind::Token,
            address: String::new(),
        })
    }

    /// Whether `headers` carry a credential this node accepts: a known
    /// token (unless `sessions_only`), or a live session, without the CSRF
    /// check a change also needs; the handler makes that one, and checks
    /// the role. The front asks this before it reads an upload's body.
    pub async fn admits(
        &self,
        headers: &header::HeaderMap,
        sessions_only: bool,
    ) -> Result<(), AppError> {
        let authorization = headers.get(header::AUTHORIZATION);
        if !sessions_only && let Some(value) = authorization {
            let value = value.to_str().map_err(|_| {
                AppError::Unauthorized("Authorization header is not valid ASCII".into())
            })?;
            return self.authenticate(Some(value)).await.map(drop);
        }
        match crate::admin::session_cookie_in(headers) {
            Some(secret) => self.by_session(&secret, true, None, false).await.map(drop),
            None if sessions_only => Err(AppError::Unauthorized(
                "no session; sign in at /admin/login".into(),
            )),
            None => self.authenticate(None).await.map(drop),
        }
    }

    fn due_for_touch(&self, name: &str) -> bool {
        let now = Instant::now();
        let mut touched = self.touched.lock().unwrap_or_else(|p| p.into_inner());
        match touched.get(name) {
            Some(at) if now.duration_since(*at) < TOUCH_EVERY => false,
            _ => {
                touched.insert(name.to_owned(), now);
                true
            }
        }
    }
}

fn bearer_secret(authorization: Option<&str>) -> Result<&str, AppError> {
    let value = authorization.ok_or_else(|| {
        AppError::Unauthorized("missing Authorization: Bearer <token> header".into())
    })?;
    let (scheme, secret) = value
        .split_once(' ')
        .ok_or_else(|| AppError::Unauthorized("Authorization must be \"Bearer <token>\"".into()))?;
    if !scheme.eq_ignore_ascii_case("bearer") || secret.trim().is_empty() {
        return Err(AppError::Unauthorized(
            "Authorization must be \"Bearer <token>\"".into(),
        ));
    }
    Ok(secret.trim())
}

impl Authenticator {
    /// A signed-in person's browser calling the API (the app's script, a
    /// preview): the session must be live and, for anything but a read,
    /// the request must carry the session's CSRF token in `X-CSRF-Token`
    /// and not come from another site.
    async fn by_session(
        &self,
        secret: &str,
        safe_method: bool,
        csrf: Option<&str>,
        cross_site: bool,
    ) -> Result<Principal, AppError> {
        let found = self.accounts.session(secret).await.map_err(|e| match e {
            crate::accounts::AccountError::Store(e) => AppError::from(e),
            other => AppError::internal(other),
        })?;
        let Some((session, user)) = found else {
            return Err(AppError::Unauthorized(
                "the session has ended; sign in again at /admin/login".into(),
            ));
        };
        if !safe_method
            && (cross_site || !crate::accounts::csrf_matches(&session, csrf.unwrap_or_default()))
        {
            return Err(AppError::Forbidden(
                "a change made with a session needs the session's X-CSRF-Token header".into(),
            ));
        }
        Ok(Principal {
            name: user.email,
            role: user.role,
            kind: crate::accounts::ActorKind::User,
            address: String::new(),
        })
    }
}

impl FromRequest for Principal {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let auth = req.app_data::<web::Data<Authenticator>>().cloned();
        let header = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().map(str::to_owned));
        let session = crate::admin::session_cookie(req);
        let safe_method = req.method().is_safe();
        let csrf = req
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let cross_site = req
            .headers()
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes() == b"cross-site");
        let address = crate::client::client_address(req);
        Box::pin(async move {
            let auth = auth.ok_or_else(|| {
                AppError::internal(std::io::Error::other("authenticator not configured"))
            })?;
            if header.is_none()
                && let Some(secret) = session
            {
                let mut who = auth
                    .by_session(&secret, safe_method, csrf.as_deref(), cross_site)
                    .await?;
                who.address = address;
                return Ok(who);
            }
            let header = match header {
                Some(Ok(v)) => Some(v),
                Some(Err(_)) => {
                    return Err(AppError::Unauthorized(
                        "Authorization header is not valid ASCII".into(),
                    ));
                }
                None => None,
            };
            let mut who = auth.authenticate(header.as_deref()).await?;
            who.address = address;
            Ok(who)
        })
    }
}

/// The front's [`Gate`](crate::front::Gate): before it reads an image
/// upload's body, or any body over 64 KiB, the caller must have a token or
/// a live session, so nobody unknown can make a node hold megabytes, or
/// take the body budget (`--body-memory-bytes`) from the newsroom. No
/// route takes a body that large from anyone else. The app (`/admin`)
/// takes sessions only, and sends a refused browser to sign in, as it
/// does everywhere.
pub fn body_gate(auth: web::Data<Authenticator>) -> crate::front::Gate {
    std::rc::Rc::new(move |request: &actix_http::Request| {
        let auth = auth.clone();
        let head = request.head();
        let headers = head.headers.clone();
        let path = head.uri.path();
        let app = path == "/admin" || path.starts_with("/admin/");
        let next = if path == super::MEDIA_UPLOAD_PATHS[1] {
            path
        } else {
            "/admin"
        }
        .to_owned();
        Box::pin(async move {
            let refused = auth.admits(&headers, app).await.err()?;
            Some(match refused {
                AppError::Unauthorized(_) if app => {
                    crate::admin::AdminError::SignIn { next }.error_response()
                }
                refused if app => crate::admin::AdminError::App(refused).error_response(),
                refused => refused.error_response(),
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_secrets_are_parsed_strictly() {
        assert_eq!(bearer_secret(Some("Bearer abc")).unwrap(), "abc");
        assert_eq!(bearer_secret(Some("bearer  abc ")).unwrap(), "abc");
        assert!(bearer_secret(None).is_err());
        assert!(bearer_secret(Some("Basic abc")).is_err());
        assert!(bearer_secret(Some("Bearer")).is_err());
        assert!(bearer_secret(Some("Bearer   ")).is_err());
    }
}
