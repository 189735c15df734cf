//! The newsroom's app at `/admin`: server-rendered pages (minijinja
//! templates and a stylesheet and script embedded in the binary) on top of
//! the same `Editor` the JSON API uses, for people signed in with a
//! session ([`crate::accounts`]). Every page is `private, no-store` with a
//! strict Content-Security-Policy (no inline script or style); every
//! state-changing form carries the session's CSRF token, checked before
//! the handler runs ([`Posted`]). It works without JavaScript; the script
//! only adds previews, pickers and confirmations. Readers never reach it:
//! `/admin` is reserved from content routes and the front passes it to
//! actix-web like the editor API.

mod assets;
mod console;
mod entries;
mod error;
mod form;
mod history;
mod login;
mod media;
mod people;
mod request;
mod settings;
mod view;

use std::sync::Arc;

use actix_web::http::header;
use actix_web::middleware::DefaultHeaders;
use actix_web::web;

use crate::accounts::Accounts;
use crate::editor::Editor;

pub use self::error::AdminError;
pub use self::request::{Person, Posted};

/// The session cookie's secret, if the request carries one.
pub fn session_cookie(req: &actix_web::HttpRequest) -> Option<String> {
    session_cookie_in(req.headers())
}

/// The session cookie's secret among a request's fields, if there is one.
pub fn session_cookie_in(headers: &actix_web::http::header::HeaderMap) -> Option<String> {
    request::cookie_in(headers, crate::accounts::SESSION_COOKIE).filter(|s| !s.is_empty())
}

/// The policy of every app page: scripts and styles only from keel itself,
/// no plugins, no framing, forms only to keel.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// What the app's handlers share (built once, outside the worker factory).
pub struct Admin {
    pub editor: Editor,
    pub accounts: Arc<Accounts>,
}

impl Admin {
    pub fn new(editor: Editor, accounts: Arc<Accounts>) -> Admin {
        Admin { editor, accounts }
    }
}

/// The `/admin` scope: security headers on every response, then the pages.
pub fn scope() -> actix_web::Scope<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    web::scope("/admin")
        .wrap(
            DefaultHeaders::new()
                .add((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
                .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                .add((header::X_FRAME_OPTIONS, "DENY"))
                .add((header::REFERRER_POLICY, "same-origin"))
                .add(("Cross-Origin-Opener-Policy", "same-origin"))
                .add((header::CACHE_CONTROL, "private, no-store")),
        )
        .configure(assets::routes)
        .configure(login::routes)
        .configure(people::routes)
        .configure(settings::routes)
        .configure(media::routes)
        .configure(console::routes)
        .configure(history::routes)
        .configure(entries::routes)
}
