//! Admin pages: the accounts of the people who sign in (create, change
//! role, disable and enable, set a new password) and the audit log. Both
//! need the admin role; every change is itself in the audit log.

use actix_web::{HttpResponse, get, post, web};
use minijinja::context;
use serde::Deserialize;
use serde_json::json;

use super::entries::redirect;
use super::view::{me, shared_views as views};
use super::{Admin, AdminError, Person, Posted};
use crate::accounts::{AccountError, normalize_email};
use crate::error::AppError;
use crate::store::{AuditQuery, Role, UserChange};

const AUDIT_PAGE: u32 = 50;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(users_list).service(change_users).service(audit);
}

#[derive(Debug, Deserialize)]
struct Done {
    done: Option<String>,
}

async fn users_page(
    admin: &Admin,
    person: &Person,
    notice: Option<String>,
    problem: Option<String>,
    status: actix_web::http::StatusCode,
) -> Result<HttpResponse, AdminError> {
    let accounts = admin
        .accounts
        .store()
        .users()
        .await
        .map_err(AppError::from)?;
    let rows: Vec<_> = accounts
        .iter()
        .map(|u| {
            context! {
                email => &u.email,
                name => &u.name,
                role => u.role.as_str(),
                disabled => u.disabled_at.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()),
                me => u.id == person.user.id,
            }
        })
        .collect();
    Ok(views().with_status(
        status,
        "users.html",
        context! {
            me => me(person),
            users => rows,
            roles => Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            notice,
            problem,
        },
    ))
}

#[get("/users")]
async fn users_list(
    person: Person,
    admin: web::Data<Admin>,
    done: web::Query<Done>,
) -> Result<HttpResponse, AdminError> {
    person.require(Role::Admin, "Managing accounts")?;
    let notice = done.done.clone();
    users_page(
        &admin,
        &person,
        notice,
        None,
        actix_web::http::StatusCode::OK,
    )
    .await
}

#[post("/users")]
async fn change_users(posted: Posted, admin: web::Data<Admin>) -> Result<HttpResponse, AdminError> {
    let Posted { person, form } = posted;
    person.require(Role::Admin, "Managing accounts")?;
    let accounts = &admin.accounts;
    let actor = person.actor();
    let action = form.get("action").unwrap_or_default().to_owned();
    let email = normalize_email(form.get("email").unwrap_or_default());
    let role = form.get("role").map(|r| {
        Role::parse(r).ok_or_else(|| AdminError::BadRequest(format!("{r:?} is not a role")))
    });
    let outcome: Result<String, AccountError> = async {
        let email = email?;
        let target = format!("user/{email}");
        if action == "create" {
            let role = role
                .unwrap_or(Ok(Role::Writer))
                .map_err(|e| AccountError::Invalid("role", e.to_string()))?;
            let name = form.get("name").unwrap_or_default();
            let password = form.get("password").unwrap_or_default();
            let user = accounts.create_user(&email, name, role, password).await?;
            accounts
                .record(
                    &actor,
                    "user.create",
                    &target,
                    None,
                    json!({"role": user.role.as_str()}),
                )
                .await;
            return Ok(format!("Account {} created.", user.email));
        }
        let user = accounts
            .store()
            .user_by_email(&email)
            .await?
            .ok_or_else(|| AccountError::Invalid("email", format!("no account {email:?}")))?;
        if user.id == person.user.id && matches!(action.as_str(), "disable" | "role") {
            return Err(AccountError::Invalid(
                "account",
                "you cannot disable or demote your own account; ask another admin".into(),
            ));
        }
        match action.as_str() {
            "disable" | "enable" => {
                accounts.set_disabled(user.id, action == "disable").await?;
                accounts
                    .record(
                        &actor,
                        &format!("user.{action}"),
                        &target,
                        None,
                        serde_json::Value::Null,
                    )
                    .await;
                Ok(format!("{} {action}d.", user.email))
            }
            "password" => {
                let password = form.get("password").unwrap_or_default();
                accounts.reset_password(&user, password).await?;
                accounts
                    .record(
                        &actor,
                        "user.reset-password",
                        &target,
                        None,
                        serde_json::Value::Null,
                    )
                    .await;
                Ok(format!(
                    "New password set for {}; their sessions ended.",
                    user.email
                ))
            }
            "role" => {
                let role = role
                    .ok_or_else(|| AccountError::Invalid("role", "choose a role".into()))?
                    .map_err(|e| AccountError::Invalid("role", e.to_string()))?;
                let change = UserChange {
                    role: Some(role),
                    ..UserChange::default()
                };
                accounts.store().update_user(user.id, &change).await?;
                accounts
                    .record(
                        &actor,
                        "user.role",
                        &target,
                        None,
                        json!({"role": role.as_str()}),
                    )
                    .await;
                Ok(format!("{} is now {}.", user.email, role.as_str()))
            }
            other => Err(AccountError::Invalid(
                "action",
                format!("unknown action {other:?}"),
            )),
        }
    }
    .await;
    match outcome {
        Ok(notice) => Ok(redirect(&format!(
            "/admin/users?done={}",
            super::error::urlencode(&notice)
        ))),
        Err(AccountError::Invalid(field, reason)) => {
            let problem = format!("{field}: {reason}");
            users_page(
                &admin,
                &person,
                None,
                Some(problem),
                actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(AccountError::Store(crate::store::StoreError::Duplicate(what))) => {
            let problem = format!("{what} already has an account");
            users_page(
                &admin,
                &person,
                None,
                Some(problem),
                actix_web::http::StatusCode::CONFLICT,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize)]
struct AuditFilter {
    actor: Option<String>,
    action: Option<String>,
    before: Option<i64>,
}

#[get("/audit")]
async fn audit(
    person: Person,
    admin: web::Data<Admin>,
    filter: web::Query<AuditFilter>,
) -> Result<HttpResponse, AdminError> {
    person.require(Role::Admin, "Reading the audit log")?;
    let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.trim().is_empty());
    let query = AuditQuery {
        before: filter.before,
        entry_id: None,
        actor: nonempty(&filter.actor),
        action_prefix: nonempty(&filter.action),
        limit: AUDIT_PAGE + 1,
    };
    let mut records = admin
        .accounts
        .store()
        .audit(&query)
        .await
        .map_err(AppError::from)?;
    let more = records.len() > AUDIT_PAGE as usize;
    records.truncate(AUDIT_PAGE as usize);
    let next = more
        .then(|| records.last().map(|r| r.id))
        .flatten()
        .map(|before| {
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            if let Some(a) = nonempty(&filter.actor) {
                q.append_pair("actor", &a);
            }
            if let Some(a) = nonempty(&filter.action) {
                q.append_pair("action", &a);
            }
            q.append_pair("before", &before.to_string());
            format!("/admin/audit?{}", q.finish())
        });
    let rows: Vec<_> = records
        .iter()
        .map(|r| {
            context! {
                at => r.at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                actor => &r.actor,
                kind => &r.actor_kind,
                action => &r.action,
                target => &r.target,
                address => &r.address,
                detail => if r.detail.is_null() { String::new() } else { r.detail.to_string() },
            }
        })
        .collect();
    Ok(views().page(
        "audit.html",
        context! {
            me => me(&person),
            rows,
            actor => filter.actor.as_deref().unwrap_or_default(),
            action => filter.action.as_deref().unwrap_or_default(),
            next,
        },
    ))
}
