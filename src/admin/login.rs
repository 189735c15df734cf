//! Signing in and out, and the app's home page. Sign-in has no session to
//! carry a CSRF token yet, so the form is protected by a double-submit
//! token: a random value in a `SameSite=Strict` cookie that the form must
//! repeat (a page on another site can set neither).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use minijinja::context;

use super::request::{address, cookie, read_form, refuse_cross_site, set_cookie};
use super::view::shared_views as views;
use super::{Admin, AdminError, Person, Posted};
use crate::accounts::{AccountError, SESSION_COOKIE};
use crate::store::{ReviewState, Role};

const LOGIN_CSRF_COOKIE: &str = "keel_login";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(login_form)
        .service(login)
        .service(logout)
        .service(home)
        .service(home_slash);
}

/// Only paths within the app: an open redirect would let a link to
/// keel's sign-in page send people anywhere.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/admin") && !n.starts_with("//") && !n.contains('\\') => {
            n.to_owned()
        }
        _ => "/admin".to_owned(),
    }
}

#[derive(serde::Deserialize)]
struct NextQuery {
    next: Option<String>,
}

fn login_page(
    status: StatusCode,
    next: &str,
    email: &str,
    message: Option<&str>,
    secure: bool,
) -> HttpResponse {
    let token = crate::auth::generate_token();
    let mut response = views().with_status(
        status,
        "login.html",
        context! { next, email, message, csrf => &token },
    );
    if let Ok(value) = set_cookie(LOGIN_CSRF_COOKIE, &token, 3600, secure).parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[get("/login")]
async fn login_form(admin: web::Data<Admin>, query: web::Query<NextQuery>) -> HttpResponse {
    let next = safe_next(query.next.as_deref());
    let secure = admin.accounts.policy().secure_cookie;
    login_page(StatusCode::OK, &next, "", None, secure)
}

#[post("/login")]
async fn login(
    req: HttpRequest,
    admin: web::Data<Admin>,
    payload: web::Payload,
) -> Result<HttpResponse, AdminError> {
    refuse_cross_site(&req)?;
    let form = read_form(&req, payload.into_inner()).await?;
    let expected = cookie(&req, LOGIN_CSRF_COOKIE).unwrap_or_default();
    let presented = form.get("csrf").unwrap_or_default();
    if expected.is_empty()
        || !bool::from(subtle::ConstantTimeEq::ct_eq(
            expected.as_bytes(),
            presented.as_bytes(),
        ))
    {
        return Err(AdminError::Csrf);
    }
    let next = safe_next(form.get("next"));
    let email = form.get("email").unwrap_or_default();
    let password = form.get("password").unwrap_or_default();
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let policy = admin.accounts.policy();
    match admin
        .accounts
        .sign_in(email, password, &address(&req), user_agent)
        .await
    {
        Ok(signed_in) => {
            let cookie = set_cookie(
                SESSION_COOKIE,
                &signed_in.secret,
                policy.absolute.as_secs(),
                policy.secure_cookie,
            );
            Ok(HttpResponse::SeeOther()
                .insert_header((header::LOCATION, next))
                .insert_header((header::SET_COOKIE, cookie))
                // The sign-in token has done its job.
                .append_header((
                    header::SET_COOKIE,
                    set_cookie(LOGIN_CSRF_COOKIE, "", 0, policy.secure_cookie),
                ))
                .finish())
        }
        Err(e @ (AccountError::InvalidCredentials | AccountError::TooManyAttempts { .. })) => {
            let status = match e {
                AccountError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::UNAUTHORIZED,
            };
            let mut page = login_page(
                status,
                &next,
                email,
                Some(&e.to_string()),
                policy.secure_cookie,
            );
            if let AccountError::TooManyAttempts { retry_after } = e
                && let Ok(value) = retry_after.as_secs().to_string().parse()
            {
                page.headers_mut().insert(header::RETRY_AFTER, value);
            }
            Ok(page)
        }
        Err(e) => Err(e.into()),
    }
}

#[post("/logout")]
async fn logout(posted: Posted, admin: web::Data<Admin>) -> Result<HttpResponse, AdminError> {
    let person = posted.person;
    admin
        .accounts
        .sign_out(&person.session, &person.actor())
        .await?;
    let secure = admin.accounts.policy().secure_cookie;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/admin/login"))
        .insert_header((
            header::SET_COOKIE,
            set_cookie(SESSION_COOKIE, "", 0, secure),
        ))
        .finish())
}

#[get("")]
async fn home(person: Person, admin: web::Data<Admin>) -> Result<HttpResponse, AdminError> {
    let types: Vec<_> = admin
        .editor
        .types()
        .types()
        .map(|t| context! { name => &t.name, label => &t.label })
        .collect();
    let store = admin.editor.store();
    let awaiting = if person.may(Role::Editor) {
        store
            .reviews(Some(ReviewState::Submitted), 50)
            .await
            .map_err(crate::error::AppError::from)?
    } else {
        Vec::new()
    };
    let returned: Vec<_> = store
        .reviews(Some(ReviewState::Returned), 200)
        .await
        .map_err(crate::error::AppError::from)?
        .into_iter()
        .filter(|r| person.may(Role::Editor) || r.actor == person.user.email)
        .collect();
    let ids: Vec<_> = awaiting
        .iter()
        .chain(&returned)
        .map(|r| r.entry_id)
        .collect();
    let titles = super::entries::titles_of(&admin, &ids).await?;
    let labels: std::collections::HashMap<&str, &str> = admin
        .editor
        .types()
        .types()
        .map(|t| (t.name.as_str(), t.label.as_str()))
        .collect();
    // A deleted entry's request keeps its id as its name.
    let item = |r: &crate::store::Review| {
        let id = r.entry_id.to_string();
        context! {
            href => format!("/admin/entries/{}/{id}", r.type_name),
            title => titles.get(&id).cloned().unwrap_or_else(|| id.clone()),
            label => labels.get(r.type_name.as_str()).copied().unwrap_or(&r.type_name),
            actor => &r.actor,
            comment => &r.comment,
            at => super::entries::time(Some(r.at), super::entries::zone(&admin)),
        }
    };
    Ok(views().page(
        "home.html",
        context! {
            me => super::view::me(&person),
            types,
            awaiting => awaiting.iter().map(item).collect::<Vec<_>>(),
            returned => returned.iter().map(item).collect::<Vec<_>>(),
        },
    ))
}

#[get("/")]
async fn home_slash() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/admin"))
        .finish()
}
