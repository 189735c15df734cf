//! The live-match console: for an entry of a type with `[console]`, a
//! score button, a status button or a commentary line is one click that
//! validates, saves and publishes in one transaction (the editor's
//! `update_and_publish`, version-checked like `If-Match`), then shows how
//! long it took and what readers now see.

use std::time::Instant;

use actix_web::{HttpResponse, get, post, web};
use minijinja::context;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::entries::{content_type, form_version, parse_id, redirect, title};
use super::view::{me, shared_views as views};
use super::{Admin, AdminError, Person, Posted};
use crate::content_types::{Console, ContentType};
use crate::editor::Patch;
use crate::error::AppError;
use crate::model::Entry;
use crate::store::Role;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(console_page).service(console_act);
}

fn console_of<'a>(
    admin: &'a Admin,
    type_name: &str,
) -> Result<(&'a ContentType, &'a Console), AdminError> {
    let ty = content_type(admin, type_name)?;
    let console = ty.console.as_ref().ok_or_else(|| {
        AdminError::NotFound(format!("{} entries have no live console", ty.label))
    })?;
    Ok((ty, console))
}

#[derive(Debug, Deserialize)]
struct Done {
    did: Option<String>,
    ms: Option<u64>,
    stale: Option<u8>,
}

fn int(data: &Value, field: &str) -> i64 {
    data.get(field).and_then(Value::as_i64).unwrap_or(0)
}

/// A team name (or any referenced title) for the scoreline: the
/// referenced entry's title field, if the score fields are paired with
/// reference fields of the same prefix (`home_score` with `home_team`).
async fn side_names(
    admin: &Admin,
    ty: &ContentType,
    entry: &Entry,
    console: &Console,
) -> Vec<String> {
    let mut names = Vec::new();
    for score in &console.scores {
        let prefix = score.strip_suffix("_score").unwrap_or(score);
        let reference = ty
            .reference_fields()
            .find(|r| r.name.starts_with(prefix))
            .and_then(|r| {
                entry
                    .data
                    .get(r.name)
                    .and_then(Value::as_str)
                    .map(|id| (r.to, id.to_owned()))
            });
        let name = match reference {
            Some((to, id)) => match id.parse::<Uuid>() {
                Ok(id) => match admin.editor.store().entry(id).await {
                    Ok(Some(target)) => admin.editor.types().get(to).map(|t| title(t, &target)),
                    _ => None,
                },
                Err(_) => None,
            },
            None => None,
        };
        names.push(name.unwrap_or_else(|| humanize(prefix)));
    }
    names
}

fn humanize(s: &str) -> String {
    let mut c = s.replace('_', " ");
    if let Some(first) = c.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    c
}

#[get("/entries/{type}/{id}/console")]
async fn console_page(
    person: Person,
    admin: web::Data<Admin>,
    path: web::Path<(String, String)>,
    done: web::Query<Done>,
) -> Result<HttpResponse, AdminError> {
    let (type_name, id) = path.into_inner();
    let (ty, console) = console_of(&admin, &type_name)?;
    let id = parse_id(&id)?;
    let entry = admin.editor.get(&ty.name, id).await?;
    let names = side_names(&admin, ty, &entry, console).await;
    let tz = super::entries::zone(&admin);
    let scores: Vec<_> = console
        .scores
        .iter()
        .zip(&names)
        .map(|(field, name)| context! { field, name, value => int(&entry.data, field) })
        .collect();
    let status_values = console
        .status
        .as_ref()
        .and_then(|f| ty.field(f))
        .map(|f| match &f.kind {
            crate::content_types::FieldKind::Enum { values } => values.clone(),
            _ => Vec::new(),
        })
        .unwrap_or_default();
    let current_status = console
        .status
        .as_ref()
        .and_then(|f| entry.data.get(f))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let lines: Vec<String> = console
        .commentary
        .as_ref()
        .and_then(|f| entry.data.get(f))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .rev()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let live = entry.published_data.as_ref().map(|data| {
        let score_line: Vec<String> = console.scores.iter().map(|f| int(data, f).to_string()).collect();
        let latest = console
            .commentary
            .as_ref()
            .and_then(|f| data.get(f))
            .and_then(Value::as_array)
            .and_then(|a| a.last())
            .and_then(Value::as_str)
            .map(str::to_owned);
        context! {
            score => score_line.join("–"),
            status => console.status.as_ref().and_then(|f| data.get(f)).and_then(Value::as_str).map(str::to_owned),
            latest,
            url => entry.published_slug.as_ref().map(|s| ty.path_for(s)),
            published_at => entry.published_at.map(|t| t.with_timezone(&tz).format("%H:%M:%S %Z").to_string()),
        }
    });
    Ok(views().page(
        "console.html",
        context! {
            me => me(&person),
            type_name => &ty.name,
            label => &ty.label,
            id => entry.id.to_string(),
            version => entry.version,
            title => names.join(" v "),
            scores,
            status_values,
            current_status,
            has_commentary => console.commentary.is_some(),
            lines,
            live,
            changes => entry.has_unpublished_changes(),
            did => &done.did,
            ms => done.ms,
            stale => done.stale.is_some(),
        },
    ))
}

#[post("/entries/{type}/{id}/console")]
async fn console_act(
    posted: Posted,
    admin: web::Data<Admin>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AdminError> {
    let started = Instant::now();
    let Posted { person, form } = posted;
    person.require(Role::Editor, "Publishing from the live console")?;
    let (type_name, id) = path.into_inner();
    let (ty, console) = console_of(&admin, &type_name)?;
    let id = parse_id(&id)?;
    let if_match = form_version(&form)?;
    let base = format!("/admin/entries/{}/{id}/console", ty.name);
    let entry = admin.editor.get(&ty.name, id).await?;
    let mut data = Map::new();
    let did = match form.get("op") {
        Some("score") => {
            let field = form.get("field").unwrap_or_default();
            if !console.scores.iter().any(|s| s == field) {
                return Err(AdminError::BadRequest(format!(
                    "{field:?} is not a score of this console"
                )));
            }
            let delta: i64 = match form.get("delta") {
                Some("1") => 1,
                Some("-1") => -1,
                other => {
                    return Err(AdminError::BadRequest(format!(
                        "a score changes by 1 or -1, not {other:?}"
                    )));
                }
            };
            let value = (int(&entry.data, field) + delta).max(0);
            data.insert(field.to_owned(), Value::from(value));
            format!("{field} {value}")
        }
        Some("status") => {
            let field = console
                .status
                .as_ref()
                .ok_or_else(|| AdminError::BadRequest("this console has no status".into()))?;
            let value = form.get("value").unwrap_or_default();
            data.insert(field.clone(), Value::from(value));
            format!("status {value}")
        }
        Some("line") => {
            let field = console
                .commentary
                .as_ref()
                .ok_or_else(|| AdminError::BadRequest("this console has no commentary".into()))?;
            let text = form.get("text").unwrap_or_default().trim();
            if text.is_empty() {
                return Err(AdminError::BadRequest(
                    "write the commentary line first".into(),
                ));
            }
            let minute = form.get("minute").unwrap_or_default().trim();
            let line = if minute.is_empty() {
                text.to_owned()
            } else {
                format!("{minute}' {text}")
            };
            let mut lines = entry
                .data
                .get(field)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            lines.push(Value::from(line));
            data.insert(field.clone(), Value::Array(lines));
            "commentary".to_owned()
        }
        other => {
            return Err(AdminError::BadRequest(format!(
                "unknown console action {other:?}"
            )));
        }
    };
    let patch = Patch { slug: None, data };
    let published = admin
        .editor
        .update_and_publish(&ty.name, id, patch, &if_match, &person.user.email)
        .await;
    match published {
        Ok(entry) => {
            let ms = started.elapsed().as_millis();
            let target = format!("{}/{id}", ty.name);
            let detail = json!({"console": did, "version": entry.version, "ms": ms});
            admin
                .accounts
                .record(&person.actor(), "entry.publish", &target, Some(id), detail)
                .await;
            let did = super::error::urlencode(&did);
            Ok(redirect(&format!("{base}?did={did}&ms={ms}")))
        }
        // Someone else changed it since this page was loaded: nothing was
        // saved; the console shows the current state to click again on.
        Err(AppError::VersionMismatch { .. }) => Ok(redirect(&format!("{base}?stale=1"))),
        Err(e) => Err(e.into()),
    }
}
