//! Entries in the app: lists with search, filters and keyset paging; the
//! form generated from the type's schema; and every action on an entry
//! (save, publish, schedule, unpublish, delete, submit for review,
//! approve, send back), each through the same `Editor` the API uses, so
//! the rules (validation, references, versions, roles) are the same.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use minijinja::{Value as TplValue, context};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::form;
use super::request::Form;
use super::view::{me, shared_views as views};
use super::{Admin, AdminError, Person, Posted};
use crate::content_types::{ContentType, FieldError};
use crate::editor::{IfMatch, Patch};
use crate::error::AppError;
use crate::model::{Entry, EntryStatus};
use crate::render::markdown;
use crate::store::{EntrySearch, Review, ReviewState, Role};

const PAGE: u32 = 25;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(search_json)
        .service(new_form)
        .service(create)
        .service(edit)
        .service(act)
        .service(markdown_preview);
}

pub(super) fn content_type<'a>(
    admin: &'a Admin,
    name: &str,
) -> Result<&'a ContentType, AdminError> {
    admin
        .editor
        .types()
        .get(name)
        .ok_or_else(|| AdminError::NotFound(format!("no content type {name:?}")))
}

pub(super) fn parse_id(raw: &str) -> Result<Uuid, AdminError> {
    Uuid::parse_str(raw).map_err(|_| AdminError::NotFound(format!("no entry {raw:?}")))
}

/// What lists and pickers call an entry: its title field, else its slug.
pub fn title(ty: &ContentType, entry: &Entry) -> String {
    ty.title_field
        .as_ref()
        .and_then(|f| entry.data.get(f))
        .and_then(Value::as_str)
        .filter(|t| !t.trim().is_empty())
        .map_or_else(|| entry.slug.clone(), str::to_owned)
}

/// A time as the site shows it: in its zone, the zone named.
pub(super) fn time(t: Option<DateTime<Utc>>, tz: Tz) -> Option<String> {
    t.map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string())
}

/// The site's time zone, which the app's times are shown and entered in.
pub(super) fn zone(admin: &Admin) -> Tz {
    admin.editor.publisher().renderer().time_zone()
}

fn row(ty: &ContentType, e: &Entry, tz: Tz) -> TplValue {
    context! {
        id => e.id.to_string(),
        title => title(ty, e),
        slug => &e.slug,
        status => e.status.as_str(),
        changes => e.has_unpublished_changes(),
        updated => time(Some(e.updated_at), tz),
        publish_at => time(e.publish_at, tz),
    }
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    q: Option<String>,
    status: Option<String>,
    /// `changes` (unpublished changes) or `scheduled`.
    filter: Option<String>,
    before: Option<String>,
}

async fn search(
    admin: &Admin,
    ty: &ContentType,
    query: &ListQuery,
    limit: u32,
) -> Result<(Vec<Entry>, Option<String>), AdminError> {
    let status = match query.status.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(EntryStatus::parse(s).ok_or_else(|| {
            AdminError::BadRequest(format!("status {s:?} is not draft, published or scheduled"))
        })?),
        None => None,
    };
    let before = match query.before.as_deref().filter(|s| !s.is_empty()) {
        Some(b) => Some(
            Uuid::parse_str(b)
                .map_err(|_| AdminError::BadRequest(format!("{b:?} is not a page cursor")))?,
        ),
        None => None,
    };
    let filter = query.filter.as_deref().unwrap_or_default();
    let search = EntrySearch {
        type_name: ty.name.clone(),
        text: query.q.clone().unwrap_or_default(),
        status,
        unpublished_changes: filter == "changes",
        scheduled: filter == "scheduled",
        before,
        limit: limit + 1,
    };
    let mut found = admin
        .editor
        .store()
        .search_entries(&search)
        .await
        .map_err(AppError::from)?;
    let more = found.len() > limit as usize;
    found.truncate(limit as usize);
    let next = more
        .then(|| found.last().map(|e| e.id.to_string()))
        .flatten();
    Ok((found, next))
}

#[get("/entries/{type}")]
async fn list(
    person: Person,
    admin: web::Data<Admin>,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AdminError> {
    let ty = content_type(&admin, &path)?;
    let (found, next) = search(&admin, ty, &query, PAGE).await?;
    let tz = zone(&admin);
    let rows: Vec<_> = found.iter().map(|e| row(ty, e, tz)).collect();
    let next_url = next.map(|cursor| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("q", query.q.as_deref()),
            ("status", query.status.as_deref()),
            ("filter", query.filter.as_deref()),
        ] {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                q.append_pair(k, v);
            }
        }
        q.append_pair("before", &cursor);
        format!("/admin/entries/{}?{}", ty.name, q.finish())
    });
    Ok(views().page(
        "list.html",
        context! {
            me => me(&person),
            type_name => &ty.name,
            label => &ty.label,
            rows,
            q => query.q.as_deref().unwrap_or_default(),
            status => query.status.as_deref().unwrap_or_default(),
            filter => query.filter.as_deref().unwrap_or_default(),
            paged => query.before.is_some(),
            next_url,
        },
    ))
}

/// The reference picker's suggestions: `[{id, title, slug, status}]`.
#[get("/entries/{type}/search.json")]
async fn search_json(
    _person: Person,
    admin: web::Data<Admin>,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AdminError> {
    let ty = content_type(&admin, &path)?;
    let (found, _) = search(&admin, ty, &query, 10).await?;
    let items: Vec<Value> = found
        .iter()
        .map(|e| json!({"id": e.id, "title": title(ty, e), "slug": e.slug, "status": e.status.as_str()}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

/// Everything the edit page shows for an entry (or a new one when `entry`
/// is `None`), with the form showing `data`/`slug` and `errors` beside
/// their fields.
struct EditPage<'a> {
    ty: &'a ContentType,
    entry: Option<&'a Entry>,
    slug: &'a str,
    data: &'a Value,
    errors: &'a [FieldError],
    notice: Option<String>,
    review: Option<&'a Review>,
    /// What the referenced entries are called, by id.
    titles: std::collections::HashMap<String, String>,
    /// The site's zone: the form's times are in it.
    tz: Tz,
}

impl EditPage<'_> {
    fn render(&self, person: &Person, status: StatusCode) -> HttpResponse {
        let fields = form::fields(self.ty, self.data, self.errors, &self.titles, self.tz);
        let general: Vec<String> = self
            .errors
            .iter()
            .filter(|e| form::pointer_field(&e.pointer).is_none() && e.pointer != "/slug")
            .map(|e| e.message.clone())
            .collect();
        let slug_errors: Vec<String> = self
            .errors
            .iter()
            .filter(|e| e.pointer == "/slug")
            .map(|e| e.message.clone())
            .collect();
        let entry = self.entry.map(|e| {
            context! {
                id => e.id.to_string(),
                version => e.version,
                status => e.status.as_str(),
                changes => e.has_unpublished_changes(),
                live_url => e.published_slug.as_ref().map(|s| self.ty.path_for(s)),
                published_at => time(e.published_at, self.tz),
                publish_at => time(e.publish_at, self.tz),
                updated => time(Some(e.updated_at), self.tz),
                diff => diff(self.ty, e),
                title => title(self.ty, e),
                console => self.ty.console.is_some(),
            }
        });
        let review = self.review.map(|r| {
            context! {
                state => r.state.as_str(),
                actor => &r.actor,
                comment => &r.comment,
                at => time(Some(r.at), self.tz),
                current => self.entry.is_some_and(|e| e.version == r.version),
            }
        });
        views().with_status(
            status,
            "edit.html",
            context! {
                me => me(person),
                type_name => &self.ty.name,
                label => &self.ty.label,
                zone => self.tz.name(),
                entry,
                slug => self.slug,
                slug_errors,
                fields,
                general,
                notice => &self.notice,
                review,
            },
        )
    }
}

/// Field by field, what the working copy changes against the live
/// version: `[{field, label, live, draft}]`.
fn diff(ty: &ContentType, e: &Entry) -> Vec<TplValue> {
    let Some(live) = e.published_data.as_ref() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if e.published_slug.as_deref() != Some(e.slug.as_str()) {
        out.push(context! {
            field => "slug", label => "Slug",
            live => e.published_slug.clone().unwrap_or_default(), draft => &e.slug,
        });
    }
    for field in ty.fields.values() {
        let (a, b) = (live.get(&field.name), e.data.get(&field.name));
        if a != b {
            let show = |v: Option<&Value>| match v {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            out.push(context! {
                field => &field.name, label => &field.label,
                live => show(a), draft => show(b),
            });
        }
    }
    out
}

#[get("/entries/{type}/new")]
async fn new_form(
    person: Person,
    admin: web::Data<Admin>,
    path: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    let ty = content_type(&admin, &path)?;
    let defaults: serde_json::Map<String, Value> = ty
        .fields
        .values()
        .filter_map(|f| f.default.clone().map(|d| (f.name.clone(), d)))
        .collect();
    let data = Value::Object(defaults);
    Ok(EditPage {
        ty,
        entry: None,
        slug: "",
        data: &data,
        errors: &[],
        notice: None,
        review: None,
        titles: reference_titles(&admin, ty, &data).await?,
        tz: zone(&admin),
    }
    .render(&person, StatusCode::OK))
}

#[post("/entries/{type}/new")]
async fn create(
    posted: Posted,
    admin: web::Data<Admin>,
    path: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    let Posted { person, form } = posted;
    let ty = content_type(&admin, &path)?;
    let slug = form.get("slug").unwrap_or_default().trim().to_owned();
    let (fields, mut errors) = form::data_from(ty, &form, zone(&admin));
    let data = Value::Object(fields.into_iter().filter(|(_, v)| !v.is_null()).collect());
    if errors.is_empty() {
        match admin
            .editor
            .create(&ty.name, &slug, data.clone(), &person.user.email)
            .await
        {
            Ok(entry) => {
                let target = format!("{}/{}", ty.name, entry.id);
                admin
                    .accounts
                    .record(
                        &person.actor(),
                        "entry.create",
                        &target,
                        Some(entry.id),
                        json!({"slug": entry.slug}),
                    )
                    .await;
                return Ok(redirect(&format!(
                    "/admin/entries/{}/{}?done=created",
                    ty.name, entry.id
                )));
            }
            Err(AppError::Validation(found)) => errors = found,
            Err(AppError::Conflict(message)) => errors.push(FieldError {
                pointer: "/slug".into(),
                message,
            }),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(EditPage {
        ty,
        entry: None,
        slug: &slug,
        data: &data,
        errors: &errors,
        notice: None,
        review: None,
        titles: reference_titles(&admin, ty, &data).await?,
        tz: zone(&admin),
    }
    .render(&person, StatusCode::UNPROCESSABLE_ENTITY))
}

#[derive(Debug, Deserialize)]
struct EditQuery {
    done: Option<String>,
}

/// What a finished action says on the page it redirects to.
fn notice(done: Option<&str>) -> Option<String> {
    let text = match done? {
        "created" => "Draft created.",
        "saved" => "Saved. Readers still see the published version until you publish.",
        "published" => "Published: readers see this version now.",
        "scheduled" => "Scheduled.",
        "unpublished" => "Unpublished: readers no longer see it.",
        "submitted" => "Submitted for review.",
        "returned" => "Sent back to the writer with your comment.",
        "restored" => "Restored as the working copy; publish to make it live.",
        _ => return None,
    };
    Some(text.to_owned())
}

#[get("/entries/{type}/{id}")]
async fn edit(
    person: Person,
    admin: web::Data<Admin>,
    path: web::Path<(String, String)>,
    query: web::Query<EditQuery>,
) -> Result<HttpResponse, AdminError> {
    let (type_name, id) = path.into_inner();
    let ty = content_type(&admin, &type_name)?;
    let entry = admin.editor.get(&ty.name, parse_id(&id)?).await?;
    let review = admin
        .editor
        .store()
        .review(entry.id)
        .await
        .map_err(AppError::from)?;
    Ok(EditPage {
        ty,
        entry: Some(&entry),
        slug: &entry.slug,
        data: &entry.data,
        errors: &[],
        notice: notice(query.done.as_deref()),
        review: review.as_ref(),
        titles: reference_titles(&admin, ty, &entry.data).await?,
        tz: zone(&admin),
    }
    .render(&person, StatusCode::OK))
}

pub(super) fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish()
}

/// The version the form was loaded at, as `If-Match` would name it: a
/// change made meanwhile by someone else is a conflict, never overwritten.
pub(super) fn form_version(form: &Form) -> Result<IfMatch, AdminError> {
    form.get("version")
        .and_then(|v| v.parse::<i64>().ok())
        .map(IfMatch::version)
        .ok_or_else(|| AdminError::BadRequest("the form has no version; reload the page".into()))
}

#[post("/entries/{type}/{id}")]
async fn act(
    posted: Posted,
    admin: web::Data<Admin>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AdminError> {
    let Posted { person, form } = posted;
    let (type_name, id) = path.into_inner();
    let ty = content_type(&admin, &type_name)?;
    let id = parse_id(&id)?;
    let action = form.get("action").unwrap_or("save").to_owned();
    let if_match = form_version(&form)?;
    let editor = &admin.editor;
    let author = person.user.email.clone();
    let target = format!("{}/{id}", ty.name);
    let actor = person.actor();
    let base = format!("/admin/entries/{}/{id}", ty.name);
    let needs_editor = |what: &str| person.require(Role::Editor, what);
    let outcome: Result<&str, AppError> = match action.as_str() {
        "save" | "save_publish" | "save_submit" => {
            if action == "save_publish" {
                needs_editor("Publishing")?;
            }
            let (fields, errors) = form::data_from(ty, &form, zone(&admin));
            let slug = form.get("slug").map(|s| s.trim().to_owned());
            if !errors.is_empty() {
                return show_errors(&admin, &person, ty, id, &form, errors).await;
            }
            let patch = Patch { slug, data: fields };
            let saved = if action == "save_publish" {
                editor
                    .update_and_publish(&ty.name, id, patch, &if_match, &author)
                    .await
            } else {
                editor.update(&ty.name, id, patch, &if_match, &author).await
            };
            match saved {
                Ok(entry) => {
                    let (event, done) = match action.as_str() {
                        "save_publish" => ("entry.publish", "published"),
                        _ => ("entry.update", "saved"),
                    };
                    admin
                        .accounts
                        .record(
                            &actor,
                            event,
                            &target,
                            Some(id),
                            json!({"version": entry.version}),
                        )
                        .await;
                    if action == "save_publish" {
                        clear_review(&admin, id).await;
                    }
                    if action == "save_submit" {
                        submit(
                            &admin,
                            &person,
                            &entry,
                            form.get("comment").unwrap_or_default(),
                        )
                        .await?;
                        Ok("submitted")
                    } else {
                        Ok(done)
                    }
                }
                Err(AppError::Validation(errors)) => {
                    return show_errors(&admin, &person, ty, id, &form, errors).await;
                }
                Err(e) => Err(e),
            }
        }
        "submit" => {
            let entry = editor.get(&ty.name, id).await?;
            if_match.check(&entry)?;
            submit(
                &admin,
                &person,
                &entry,
                form.get("comment").unwrap_or_default(),
            )
            .await?;
            Ok("submitted")
        }
        "publish" | "approve" => {
            needs_editor("Publishing")?;
            let at = match form.get("at").filter(|a| !a.trim().is_empty()) {
                Some(at) => Some(parse_schedule(at, zone(&admin))?),
                None => None,
            };
            let entry = editor.publish(&ty.name, id, at, &if_match, &author).await?;
            let event = match (action.as_str(), entry.status) {
                ("approve", _) => "entry.approve",
                (_, EntryStatus::Scheduled) => "entry.schedule",
                _ => "entry.publish",
            };
            let detail = json!({"version": entry.version, "publish_at": entry.publish_at});
            admin
                .accounts
                .record(&actor, event, &target, Some(id), detail)
                .await;
            clear_review(&admin, id).await;
            Ok(if entry.status == EntryStatus::Scheduled {
                "scheduled"
            } else {
                "published"
            })
        }
        "return" => {
            needs_editor("Sending back for changes")?;
            let comment = form.get("comment").unwrap_or_default().trim();
            if comment.is_empty() {
                return Err(AdminError::BadRequest(
                    "say what needs changing: the comment is required when sending back".into(),
                ));
            }
            let entry = editor.get(&ty.name, id).await?;
            let review = Review {
                entry_id: id,
                type_name: ty.name.clone(),
                state: ReviewState::Returned,
                version: entry.version,
                actor: person.user.email.clone(),
                comment: comment.to_owned(),
                at: Utc::now(),
            };
            editor.store().set_review(&review).await?;
            admin
                .accounts
                .record(
                    &actor,
                    "entry.return",
                    &target,
                    Some(id),
                    json!({"comment": comment}),
                )
                .await;
            Ok("returned")
        }
        "unpublish" | "delete" => {
            needs_editor("Unpublishing and deleting")?;
            if form.get("confirm") != Some("yes") {
                return Err(AdminError::BadRequest(format!(
                    "tick the box to confirm that you want to {action} this entry"
                )));
            }
            let force = form.get("force") == Some("yes");
            if action == "unpublish" {
                editor
                    .unpublish(&ty.name, id, &if_match, force, &author)
                    .await?;
            } else {
                editor
                    .delete(&ty.name, id, &if_match, force, &author)
                    .await?;
            }
            admin
                .accounts
                .record(
                    &actor,
                    &format!("entry.{action}"),
                    &target,
                    Some(id),
                    json!({"force": force}),
                )
                .await;
            if action == "delete" {
                clear_review(&admin, id).await;
                return Ok(redirect(&format!(
                    "/admin/entries/{}?done=deleted",
                    ty.name
                )));
            }
            Ok("unpublished")
        }
        other => {
            return Err(AdminError::BadRequest(format!("unknown action {other:?}")));
        }
    };
    Ok(redirect(&format!("{base}?done={}", outcome?)))
}

async fn submit(
    admin: &Admin,
    person: &Person,
    entry: &Entry,
    comment: &str,
) -> Result<(), AdminError> {
    let review = Review {
        entry_id: entry.id,
        type_name: entry.type_name.clone(),
        state: ReviewState::Submitted,
        version: entry.version,
        actor: person.user.email.clone(),
        comment: comment.trim().to_owned(),
        at: Utc::now(),
    };
    admin
        .editor
        .store()
        .set_review(&review)
        .await
        .map_err(AppError::from)?;
    let target = format!("{}/{}", entry.type_name, entry.id);
    admin
        .accounts
        .record(
            &person.actor(),
            "entry.submit",
            &target,
            Some(entry.id),
            json!({"version": entry.version, "comment": review.comment}),
        )
        .await;
    Ok(())
}

/// An approved or published entry's review request is done.
async fn clear_review(admin: &Admin, id: Uuid) {
    if let Err(e) = admin.editor.store().clear_review(id).await {
        tracing::warn!(entry = %id, error = %e, "could not clear the review request");
    }
}

/// The titles of the entries `data`'s reference fields name (one store
/// query), so the form shows what an id stands for.
async fn reference_titles(
    admin: &Admin,
    ty: &ContentType,
    data: &Value,
) -> Result<std::collections::HashMap<String, String>, AdminError> {
    let ids: Vec<Uuid> = ty.references(data).into_iter().map(|r| r.id).collect();
    titles_of(admin, &ids).await
}

/// What lists call each of `ids` (one store query), by id.
pub(super) async fn titles_of(
    admin: &Admin,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<String, String>, AdminError> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    let found = admin
        .editor
        .store()
        .entries_by_ids(ids)
        .await
        .map_err(AppError::from)?;
    Ok(found
        .iter()
        .filter_map(|e| {
            let t = admin.editor.types().get(&e.type_name)?;
            Some((e.id.to_string(), title(t, e)))
        })
        .collect())
}

/// The schedule field: a `datetime-local` value in the site's zone, or
/// RFC 3339.
fn parse_schedule(raw: &str, tz: Tz) -> Result<DateTime<Utc>, AdminError> {
    form::local_time(raw.trim(), tz).map_err(AdminError::BadRequest)
}

/// The form again, with what was sent and each problem beside its field.
async fn show_errors(
    admin: &Admin,
    person: &Person,
    ty: &ContentType,
    id: Uuid,
    form: &Form,
    errors: Vec<FieldError>,
) -> Result<HttpResponse, AdminError> {
    let entry = admin.editor.get(&ty.name, id).await?;
    let (fields, _) = form::data_from(ty, form, zone(admin));
    let mut data = entry.data.as_object().cloned().unwrap_or_default();
    for (k, v) in fields {
        if v.is_null() {
            data.remove(&k);
        } else {
            data.insert(k, v);
        }
    }
    // Text that did not parse is shown as typed.
    for e in &errors {
        if let Some(name) = form::pointer_field(&e.pointer)
            && let Some(raw) = form.get(&format!("data.{name}"))
            && !data.contains_key(name)
        {
            data.insert(name.to_owned(), Value::from(raw));
        }
    }
    let slug = form
        .get("slug")
        .map_or_else(|| entry.slug.clone(), str::to_owned);
    let data = Value::Object(data);
    let review = admin
        .editor
        .store()
        .review(id)
        .await
        .map_err(AppError::from)?;
    Ok(EditPage {
        ty,
        entry: Some(&entry),
        slug: &slug,
        data: &data,
        errors: &errors,
        notice: None,
        review: review.as_ref(),
        titles: reference_titles(admin, ty, &data).await?,
        tz: zone(admin),
    }
    .render(person, StatusCode::UNPROCESSABLE_ENTITY))
}

/// Markdown rendered as readers will get it (sanitised), for the editor's
/// preview button.
#[post("/markdown")]
async fn markdown_preview(posted: Posted) -> HttpResponse {
    let source = posted.form.get("source").unwrap_or_default().to_owned();
    let html = web::block(move || markdown::to_safe_html(&source))
        .await
        .unwrap_or_default();
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html)
}
