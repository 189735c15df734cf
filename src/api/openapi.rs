//! The OpenAPI 3.1 document, generated from the handlers' annotations and the
//! wire types' schemas; `tests/it/api.rs` checks it lists every route.

use actix_web::{HttpResponse, get};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::model;
use super::{audit, entries, media, outbox, prewarm, tokens, types};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "keel editor API",
        description = "Structured content in, pre-rendered pages out. Errors are RFC 9457 problem+json."
    ),
    paths(
        entries::create_entry,
        entries::list_entries,
        entries::get_entry,
        entries::patch_entry,
        entries::delete_entry,
        entries::publish_entry,
        entries::unpublish_entry,
        entries::list_revisions,
        entries::get_revision,
        media::upload_media,
        media::list_media,
        media::get_media,
        media::patch_media,
        media::delete_media,
        media::cleanup_media,
        types::list_types,
        types::get_type,
        tokens::list_tokens,
        tokens::create_token,
        tokens::revoke_token,
        prewarm::prewarm_now,
        outbox::outbox_status,
        audit::audit_log,
        openapi_json,
        content_document,
        super::preview::preview,
        crate::health::healthz,
        crate::health::readyz,
        metrics_text,
    ),
    components(schemas(
        model::EntryView,
        model::CreateEntry,
        model::PatchEntry,
        model::PublishRequest,
        model::EntryList,
        model::RevisionView,
        model::RevisionList,
        model::ProblemDoc,
        model::FieldErrorDoc,
        media::MediaView,
        media::VariantView,
        media::MediaList,
        media::PatchMedia,
        media::CleanupRequest,
        media::CleanupReport,
        tokens::TokenView,
        tokens::CreateToken,
        tokens::CreatedToken,
        tokens::TokenList,
        crate::prewarm::Outcome,
        crate::prewarm::Plan,
        crate::prewarm::Candidate,
        crate::cache::WarmReport,
        crate::prewarm::edge::EdgeReport,
        outbox::OutboxStatus,
        outbox::NodeView,
        outbox::DestinationView,
        crate::store::Delivery,
        audit::AuditPage,
        crate::store::AuditRecord,
    )),
    modifiers(&BearerAuth, &EveryStatus)
)]
pub struct ApiDoc;

/// The answers any request can get whatever its route, added to every
/// operation so a client generated from the document knows them all: the
/// HTTP front's refusals (README, "What keel refuses"), a handler that
/// failed, and, where the request is authenticated (a store lookup), the
/// database being away.
struct EveryStatus;

const FRONT_STATUSES: [(&str, &str); 9] = [
    ("400", "Malformed request: head, query string, path or body"),
    (
        "408",
        "The request head or body took longer than --request-timeout",
    ),
    ("413", "The request body is over --max-body-bytes"),
    ("414", "The request line is over 8 KiB"),
    ("417", "An Expect other than 100-continue"),
    (
        "431",
        "A header line over 8 KiB, a head over 32 KiB or more than 100 header lines",
    ),
    (
        "500",
        "The server failed to handle the request (logged; the body says nothing more)",
    ),
    ("501", "A transfer coding other than chunked"),
    ("505", "An HTTP version other than 1.0 and 1.1"),
];

impl Modify for EveryStatus {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let problem = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ProblemDoc")))
                        .build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
            ];
            for operation in operations.into_iter().flatten() {
                let responses = &mut operation.responses.responses;
                for (status, description) in FRONT_STATUSES {
                    responses
                        .entry(status.to_owned())
                        .or_insert_with(|| problem(description).into());
                }
                if operation.security.is_some() {
                    responses.entry("503".to_owned()).or_insert_with(|| {
                        problem("The database is unavailable (with Retry-After)").into()
                    });
                }
            }
        }
    }
}

/// The JSON delivery API, answered from the page cache like every page.
#[utoipa::path(
    get,
    path = "/api/v1/content/{type}/{slug}",
    tag = "delivery",
    params(
        ("type" = String, Path, description = "Content type name"),
        ("slug" = String, Path, description = "The entry's published slug"),
        ("Accept-Encoding" = Option<String>, Header, description = "br, gzip or identity"),
        ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer"),
    ),
    responses(
        (status = 200, description = "The published entry: its data with references expanded one level and markdown rendered under `html`", body = Object,
         headers(("ETag" = String), ("Cache-Control" = String), ("CDN-Cache-Control" = String),
                 ("Surrogate-Key" = String), ("Cache-Tag" = String), ("Cache-Status" = String),
                 ("Last-Modified" = String), ("Vary" = String))),
        (status = 304, description = "Not modified: the If-None-Match ETag is current"),
        (status = 404, description = "No published entry at this path (answered from memory)", content_type = "application/problem+json", body = super::model::ProblemDoc),
        (status = 405, description = "Only GET and HEAD", content_type = "application/problem+json", body = super::model::ProblemDoc),
        (status = 503, description = "Not in memory and the database is unavailable (with Retry-After)", content_type = "application/problem+json", body = super::model::ProblemDoc),
    )
)]
#[allow(dead_code)] // documents a route the delivery path serves
fn content_document() {}

/// Prometheus metrics.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus text format (on --ops-listen when set; 404 on --listen then)", content_type = "text/plain", body = String),
        (status = 404, description = "Served on --ops-listen only", content_type = "application/problem+json", body = super::model::ProblemDoc),
    )
)]
#[allow(dead_code)] // documents a route served by crate::metrics
fn metrics_text() {}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        // A signed-in person's browser (the /admin app); state-changing
        // requests with it must also carry X-CSRF-Token.
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::accounts::SESSION_COOKIE,
            ))),
        );
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    responses((status = 200, description = "This document", body = Object))
)]
#[get("/openapi.json")]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
