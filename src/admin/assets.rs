//! The app's stylesheet and script, compiled into the binary and served
//! at content-hashed URLs (`/admin/assets/admin.3f2a9c1b.css`) that never
//! change meaning, so a browser keeps them for a year and a new build's
//! pages name new URLs.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use sha2::{Digest, Sha256};

const FILES: &[(&str, &str, &str)] = &[
    (
        "admin.css",
        "text/css; charset=utf-8",
        include_str!("static/admin.css"),
    ),
    (
        "admin.js",
        "text/javascript; charset=utf-8",
        include_str!("static/admin.js"),
    ),
];

struct Asset {
    name: &'static str,
    hashed: String,
    content_type: &'static str,
    body: &'static str,
}

fn assets() -> &'static [Asset] {
    static ASSETS: OnceLock<Vec<Asset>> = OnceLock::new();
    ASSETS.get_or_init(|| {
        FILES
            .iter()
            .map(|(name, content_type, body)| {
                let hash = hex::encode(&Sha256::digest(body.as_bytes())[..6]);
                let (stem, ext) = name
                    .rsplit_once('.')
                    .expect("asset names have an extension");
                Asset {
                    name,
                    hashed: format!("{stem}.{hash}.{ext}"),
                    content_type,
                    body,
                }
            })
            .collect()
    })
}

/// The URL pages use for an asset.
pub fn url(name: &str) -> String {
    let asset = assets()
        .iter()
        .find(|a| a.name == name)
        .unwrap_or_else(|| panic!("no admin asset {name}"));
    format!("/admin/assets/{}", asset.hashed)
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(serve_asset);
}

#[get("/assets/{file}")]
async fn serve_asset(file: web::Path<String>) -> HttpResponse {
    let file = file.into_inner();
    let Some(found) = assets().iter().find(|a| a.hashed == file || a.name == file) else {
        return super::view::error_page(
            actix_web::http::StatusCode::NOT_FOUND,
            &format!("no asset {file:?}"),
        );
    };
    // A hashed name never changes content; the plain name may.
    let cache = if found.hashed == file {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    HttpResponse::Ok()
        .content_type(found.content_type)
        .insert_header((header::CACHE_CONTROL, cache))
        .body(found.body)
}
