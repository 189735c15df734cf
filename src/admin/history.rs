//! An entry's history: every version (who, what, when) merged with the
//! review steps and other actions from the audit log, and restoring an
//! old version as the working copy (a new version; publishing it is a
//! separate, deliberate step).

use actix_web::{HttpResponse, get, post, web};
use minijinja::context;
use serde_json::{Map, Value, json};

use super::entries::{content_type, form_version, parse_id, redirect, time, title};
use super::view::{me, shared_views as views};
use super::{Admin, AdminError, Person, Posted};
use crate::editor::Patch;
use crate::error::AppError;
use crate::store::AuditQuery;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(history).service(restore);
}

#[get("/entries/{type}/{id}/history")]
async fn history(
    person: Person,
    admin: web::Data<Admin>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AdminError> {
    let (type_name, id) = path.into_inner();
    let ty = content_type(&admin, &type_name)?;
    let id = parse_id(&id)?;
    let entry = admin.editor.get(&ty.name, id).await?;
    let tz = super::entries::zone(&admin);
    let store = admin.editor.store();
    let revisions = store.revisions(id).await.map_err(AppError::from)?;
    let steps = store
        .audit(&AuditQuery {
            entry_id: Some(id),
            limit: 200,
            ..AuditQuery::default()
        })
        .await
        .map_err(AppError::from)?;
    let versions: Vec<_> = revisions
        .iter()
        .rev()
        .map(|r| {
            context! {
                version => r.version,
                action => &r.action,
                author => &r.author,
                at => time(Some(r.created_at), tz),
                slug => &r.slug,
                data => serde_json::to_string_pretty(&r.data).unwrap_or_default(),
                current => r.version == entry.version,
            }
        })
        .collect();
    let steps: Vec<_> = steps
        .iter()
        .map(|s| {
            context! {
                action => &s.action,
                actor => &s.actor,
                at => time(Some(s.at), tz),
                comment => s.detail.get("comment").and_then(Value::as_str),
                address => &s.address,
            }
        })
        .collect();
    Ok(views().page(
        "history.html",
        context! {
            me => me(&person),
            type_name => &ty.name,
            label => &ty.label,
            id => id.to_string(),
            title => title(ty, &entry),
            version => entry.version,
            versions,
            steps,
        },
    ))
}

#[post("/entries/{type}/{id}/history")]
async fn restore(
    posted: Posted,
    admin: web::Data<Admin>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AdminError> {
    let Posted { person, form } = posted;
    let (type_name, id) = path.into_inner();
    let id = parse_id(&id)?;
    let if_match = form_version(&form)?;
    let from: i64 = form
        .get("restore")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| AdminError::BadRequest("say which version to restore".into()))?;
    let current = admin.editor.get(&type_name, id).await?;
    let old = admin
        .editor
        .store()
        .revision(id, from)
        .await
        .map_err(AppError::from)?
        .ok_or_else(|| AdminError::NotFound(format!("entry {id} has no version {from}")))?;
    // The old version replaces the whole working copy: fields it did not
    // have are removed (a merge patch's nulls).
    let mut data: Map<String, Value> = old.data.as_object().cloned().unwrap_or_default();
    if let Some(now) = current.data.as_object() {
        for key in now.keys() {
            data.entry(key.clone()).or_insert(Value::Null);
        }
    }
    let patch = Patch {
        slug: Some(old.slug.clone()),
        data,
    };
    let entry = admin
        .editor
        .update(&type_name, id, patch, &if_match, &person.user.email)
        .await?;
    let target = format!("{type_name}/{id}");
    admin
        .accounts
        .record(
            &person.actor(),
            "entry.restore",
            &target,
            Some(id),
            json!({"from": from, "version": entry.version}),
        )
        .await;
    Ok(redirect(&format!(
        "/admin/entries/{type_name}/{id}?done=restored"
    )))
}
