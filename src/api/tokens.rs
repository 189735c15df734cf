//! Token management over HTTP (admin only): list, create, revoke. The same
//! operations as `keel token`, for operators without shell access.

use actix_web::{HttpResponse, delete, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Principal;
use crate::auth::{generate_token, hash_token};
use crate::editor::Editor;
use crate::error::AppError;
use crate::store::{ApiToken, Role};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list_tokens)
        .service(create_token)
        .service(revoke_token);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    pub name: String,
    /// writer, editor or admin.
    pub role: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<ApiToken> for TokenView {
    fn from(t: ApiToken) -> Self {
        TokenView {
            name: t.name,
            role: t.role.as_str().to_owned(),
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub name: String,
    /// writer, editor or admin.
    pub role: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub token: TokenView,
    /// The secret: shown once, never stored.
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenList {
    pub items: Vec<TokenView>,
}

#[utoipa::path(
    get,
    path = "/api/v1/tokens",
    tag = "tokens",
    responses(
        (status = 200, description = "Every token, revoked ones included", body = TokenList),
        super::problems::Unauthorized,
        super::problems::Forbidden,
    ),
    security(("bearer" = []))
)]
#[get("/tokens")]
async fn list_tokens(who: Principal, editor: web::Data<Editor>) -> Result<HttpResponse, AppError> {
    who.require_admin()?;
    let items = editor.store().tokens().await?;
    Ok(HttpResponse::Ok().json(TokenList {
        items: items.into_iter().map(TokenView::from).collect(),
    }))
}

#[utoipa::path(
    post,
    path = "/api/v1/tokens",
    tag = "tokens",
    request_body = CreateToken,
    responses(
        (status = 201, description = "Created; the secret is in the body, once", body = CreatedToken),
        super::problems::Unauthorized,
        super::problems::Forbidden,
        super::problems::Conflict,
        super::problems::Unprocessable,
    ),
    security(("bearer" = []))
)]
#[post("/tokens")]
async fn create_token(
    who: Principal,
    editor: web::Data<Editor>,
    accounts: web::Data<crate::accounts::Accounts>,
    body: web::Json<CreateToken>,
) -> Result<HttpResponse, AppError> {
    who.require_admin()?;
    let body = body.into_inner();
    let mut errors = Vec::new();
    let name = body.name.trim();
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@');
    if name.is_empty() || name.len() > 64 || !name.chars().all(allowed) {
        // The name appears in URLs (DELETE /api/v1/tokens/{name}) and logs.
        errors.push(crate::content_types::FieldError {
            pointer: "/name".into(),
            message: "name must be 1 to 64 of A-Z a-z 0-9 - _ . @".into(),
        });
    }
    let role = Role::parse(&body.role);
    if role.is_none() {
        errors.push(crate::content_types::FieldError {
            pointer: "/role".into(),
            message: format!("role {:?} is not one of writer, editor, admin", body.role),
        });
    }
    let Some(role) = role.filter(|_| errors.is_empty()) else {
        return Err(AppError::Validation(errors));
    };
    let secret = generate_token();
    let token = editor
        .store()
        .create_token(name, role, &hash_token(&secret))
        .await?;
    let detail = serde_json::json!({"role": role.as_str()});
    accounts
        .record(
            &who.actor(),
            "token.create",
            &format!("token/{name}"),
            None,
            detail,
        )
        .await;
    Ok(HttpResponse::Created().json(CreatedToken {
        token: token.into(),
        secret,
    }))
}

#[utoipa::path(
    delete,
    path = "/api/v1/tokens/{name}",
    tag = "tokens",
    params(("name" = String, Path)),
    responses(
        (status = 204, description = "Revoked"),
        super::problems::Unauthorized,
        super::problems::Forbidden,
        super::problems::NotFound,
    ),
    security(("bearer" = []))
)]
#[delete("/tokens/{name}")]
async fn revoke_token(
    who: Principal,
    editor: web::Data<Editor>,
    accounts: web::Data<crate::accounts::Accounts>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    who.require_admin()?;
    let name = path.into_inner();
    editor
        .store()
        .revoke_token(&name)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound => {
                AppError::NotFound(format!("no active token named {name:?}"))
            }
            other => other.into(),
        })?;
    let target = format!("token/{name}");
    accounts
        .record(
            &who.actor(),
            "token.revoke",
            &target,
            None,
            serde_json::Value::Null,
        )
        .await;
    Ok(HttpResponse::NoContent().finish())
}
