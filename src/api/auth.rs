//! Bearer-token authentication for the editor API. A request's secret is
//! hashed, looked up by hash and compared in constant time; `last_used` is
//! written at most once a minute per token, so authentication does not cost
//! a database write per request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use subtle::ConstantTimeEq;

use crate::auth::hash_token;
use crate::error::AppError;
use crate::store::{Role, Store};

const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// Verifies tokens against the store.
pub struct Authenticator {
    store: Arc<dyn Store>,
    /// When each token's `last_used` was last written by this node.
    touched: Mutex<HashMap<String, Instant>>,
}

/// The authenticated caller of an editor request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub role: Role,
}

impl Principal {
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
    pub fn new(store: Arc<dyn Store>) -> Self {
        Authenticator {
            store,
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
        })
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

impl FromRequest for Principal {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let auth = req.app_data::<web::Data<Authenticator>>().cloned();
        let header = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().map(str::to_owned));
        Box::pin(async move {
            let auth = auth.ok_or_else(|| {
                AppError::internal(std::io::Error::other("authenticator not configured"))
            })?;
            let header = match header {
                Some(Ok(v)) => Some(v),
                Some(Err(_)) => {
                    return Err(AppError::Unauthorized(
                        "Authorization header is not valid ASCII".into(),
                    ));
                }
                None => None,
            };
            auth.authenticate(header.as_deref()).await
        })
    }
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
