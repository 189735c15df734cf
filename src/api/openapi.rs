//! The OpenAPI 3.1 document, generated from the handlers' annotations and the
//! wire types' schemas; `tests/it/api.rs` checks it lists every route.

use actix_web::{HttpResponse, get};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::model;
use super::{entries, outbox, prewarm, tokens, types};

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
        types::list_types,
        types::get_type,
        tokens::list_tokens,
        tokens::create_token,
        tokens::revoke_token,
        prewarm::prewarm_now,
        outbox::outbox_status,
        openapi_json,
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
    )),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
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
