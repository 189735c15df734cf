//! Site settings (admins): the site's name, public origin, description
//! and time zone. Saving stores them (versioned, with a `settings` event
//! every node follows to reload them), renders with them from then on and
//! re-renders every stored page in the background, so titles, meta
//! descriptions, OpenGraph tags, canonical URLs and times all follow.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use minijinja::context;
use serde::Deserialize;
use serde_json::json;

use super::entries::redirect;
use super::view::{me, shared_views as views};
use super::{Admin, AdminError, Person, Posted};
use crate::content_types::FieldError;
use crate::error::AppError;
use crate::model::SiteSettings;
use crate::store::{Role, StoreError};

/// Pages per transaction when everything is re-rendered.
const RENDER_BATCH: usize = 50;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(settings_form).service(save_settings);
}

#[derive(Debug, Deserialize)]
struct Done {
    done: Option<String>,
}

fn page(
    person: &Person,
    settings: &SiteSettings,
    version: i64,
    errors: &[FieldError],
    notice: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    let errors_of = |field: &str| -> Vec<String> {
        errors
            .iter()
            .filter(|e| e.pointer == format!("/{field}"))
            .map(|e| e.message.clone())
            .collect()
    };
    let general: Vec<String> = errors
        .iter()
        .filter(|e| e.pointer.is_empty())
        .map(|e| e.message.clone())
        .collect();
    views().with_status(
        status,
        "settings.html",
        context! {
            me => me(person),
            s => minijinja::Value::from(minijinja::value::Serde(settings)),
            version,
            notice,
            general,
            name_errors => errors_of("name"),
            base_url_errors => errors_of("base_url"),
            description_errors => errors_of("description"),
            time_zone_errors => errors_of("time_zone"),
            zones => chrono_tz::TZ_VARIANTS.iter().map(|z| z.name()).collect::<Vec<_>>(),
        },
    )
}

#[get("/settings")]
async fn settings_form(
    person: Person,
    admin: web::Data<Admin>,
    done: web::Query<Done>,
) -> Result<HttpResponse, AdminError> {
    person.require(Role::Admin, "Changing the site's settings")?;
    let stored = admin
        .editor
        .store()
        .site_settings()
        .await
        .map_err(AppError::from)?;
    let settings = SiteSettings::from_stored(&stored.data);
    let notice = done.done.as_deref().map(|_| {
        "Saved. Every page is being re-rendered with the new settings; the site follows within moments."
    });
    Ok(page(
        &person,
        &settings,
        stored.version,
        &[],
        notice,
        StatusCode::OK,
    ))
}

#[post("/settings")]
async fn save_settings(
    posted: Posted,
    admin: web::Data<Admin>,
) -> Result<HttpResponse, AdminError> {
    let Posted { person, form } = posted;
    person.require(Role::Admin, "Changing the site's settings")?;
    let version: i64 = form
        .get("version")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| AdminError::BadRequest("the form has no version; reload the page".into()))?;
    let submitted = SiteSettings {
        name: form.get("name").unwrap_or_default().to_owned(),
        base_url: form.get("base_url").unwrap_or_default().to_owned(),
        description: form.get("description").unwrap_or_default().to_owned(),
        time_zone: form.get("time_zone").unwrap_or_default().to_owned(),
    };
    let settings = match submitted.clone().validate() {
        Ok(settings) => settings,
        Err(errors) => {
            return Ok(page(
                &person,
                &submitted,
                version,
                &errors,
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            ));
        }
    };
    let data = serde_json::to_value(&settings).map_err(AppError::internal)?;
    let store = admin.editor.store();
    match store
        .save_site_settings(&data, version, &person.user.email)
        .await
    {
        Ok(_) => {}
        Err(StoreError::Conflict { found, .. }) => {
            let errors = [FieldError {
                pointer: String::new(),
                message: format!(
                    "someone saved the settings meanwhile (now version {found}); reload to see theirs"
                ),
            }];
            return Ok(page(
                &person,
                &submitted,
                version,
                &errors,
                None,
                StatusCode::CONFLICT,
            ));
        }
        Err(e) => return Err(AppError::from(e).into()),
    }
    let publisher = admin.editor.publisher().clone();
    publisher.renderer().apply(&settings);
    admin
        .accounts
        .record(
            &person.actor(),
            "settings.update",
            "settings",
            None,
            json!(settings),
        )
        .await;
    // Every page shows the site's name: all of them, in the background.
    tokio::spawn(async move {
        match publisher.render_all(RENDER_BATCH).await {
            Ok(pages) => tracing::info!(pages, "re-rendered every page with the new site settings"),
            Err(e) => tracing::warn!(error = %e, "re-rendering after a settings change failed"),
        }
    });
    Ok(redirect("/admin/settings?done=saved"))
}
