//! The app's templates, compiled into the binary and rendered with
//! minijinja. Auto-escaping is on for every template (their names end in
//! `.html`), so whatever an entry holds is shown as text; the only HTML
//! passed through is keel's own sanitised markdown.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use minijinja::{Environment, Value, context};

use super::assets;

const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("templates/layout.html")),
    ("macros.html", include_str!("templates/macros.html")),
    ("error.html", include_str!("templates/error.html")),
    ("login.html", include_str!("templates/login.html")),
    ("home.html", include_str!("templates/home.html")),
    ("list.html", include_str!("templates/list.html")),
    ("edit.html", include_str!("templates/edit.html")),
    ("console.html", include_str!("templates/console.html")),
    ("history.html", include_str!("templates/history.html")),
    ("users.html", include_str!("templates/users.html")),
    ("media.html", include_str!("templates/media.html")),
    ("audit.html", include_str!("templates/audit.html")),
    ("settings.html", include_str!("templates/settings.html")),
];

pub struct Views {
    env: Environment<'static>,
}

impl Views {
    pub fn new() -> Views {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("admin template {name}: {e:#}"));
        }
        env.add_global("css", assets::url("admin.css"));
        env.add_global("js", assets::url("admin.js"));
        Views { env }
    }

    /// A page with status 200.
    pub fn page(&self, name: &str, ctx: Value) -> HttpResponse {
        self.with_status(StatusCode::OK, name, ctx)
    }

    pub fn with_status(&self, status: StatusCode, name: &str, ctx: Value) -> HttpResponse {
        match self.env.get_template(name).and_then(|t| t.render(ctx)) {
            Ok(html) => HttpResponse::build(status)
                .content_type("text/html; charset=utf-8")
                .body(html),
            Err(e) => {
                tracing::error!(template = name, error = %format!("{e:#}"), "admin template failed");
                HttpResponse::InternalServerError()
                    .content_type("text/plain; charset=utf-8")
                    .body("the page could not be rendered; the error is logged")
            }
        }
    }
}

impl Default for Views {
    fn default() -> Self {
        Views::new()
    }
}

/// The one environment (templates are fixed at build time).
pub fn shared_views() -> &'static Views {
    static VIEWS: OnceLock<Views> = OnceLock::new();
    VIEWS.get_or_init(Views::new)
}

pub fn error_page(status: StatusCode, message: &str) -> HttpResponse {
    shared_views().with_status(
        status,
        "error.html",
        context! {
            status => status.as_u16(),
            reason => status.canonical_reason().unwrap_or("Error"),
            message => message,
        },
    )
}

/// The signed-in person as every page's layout shows them: name, role,
/// what their role allows, and the CSRF token the page's forms carry.
pub fn me(person: &super::Person) -> Value {
    use crate::store::Role;
    context! {
        name => &person.user.name,
        email => &person.user.email,
        role => person.user.role.as_str(),
        csrf => person.csrf(),
        may_publish => person.may(Role::Editor),
        is_admin => person.may(Role::Admin),
    }
}
