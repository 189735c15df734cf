//! Images over real HTTP, on both backends: uploads of every accepted
//! format (raw bytes and multipart) made in the test, every refusal with
//! its status and message, metadata stripped and orientation applied, the
//! variants served from the cache with immutable headers and 304s, the
//! library's listing, description and delete, and the cleanup.

use image::{DynamicImage, Rgba, RgbaImage};
use keel::media::samples::{
    GPS_RATIONALS, exif, insert_after_soi, jpeg, photo, png, png_claiming, webp_lossless,
};
use keel::store::Role;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestStore, test_config};
use crate::on_both_backends;

on_both_backends!(
    fixture: every_accepted_format_is_stored_and_served_immutable,
    refused_uploads_name_the_problem_and_store_nothing,
    variants_carry_no_gps_and_come_out_upright,
    the_library_is_listed_searched_and_described,
    an_unused_image_is_deleted_and_its_urls_answer_404,
    cleanup_collects_old_unused_images_only,
    the_app_uploads_lists_and_deletes_images,
    a_replaced_image_keeps_answering_until_the_cleanup_collects_it,
    a_prewarmed_match_pins_its_pictures,
);

/// Uploads small enough that the 413 case needs no big buffer.
const TEST_UPLOAD_LIMIT: usize = 400 * 1024;

struct Media {
    app: TestApp,
    writer: String,
    editor: String,
    admin: String,
}

async fn setup(store: TestStore) -> Media {
    let config = keel::config::ServeConfig {
        max_upload_bytes: TEST_UPLOAD_LIMIT,
        ..test_config(&store.url)
    };
    let app = TestApp::spawn_with(config, store.store.clone(), Some(store)).await;
    let writer = app.token("stringer", Role::Writer).await;
    let editor = app.token("desk", Role::Editor).await;
    let admin = app.token("ops", Role::Admin).await;
    Media {
        app,
        writer,
        editor,
        admin,
    }
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply {
        status,
        headers,
        body,
    }
}

impl Media {
    async fn cleanup(&self, token: &str, body: Value) -> Reply {
        self.call(Method::POST, "/api/v1/media/cleanup", token, Some(body))
            .await
    }

    async fn upload(&self, token: &str, query: &str, mime: &str, bytes: Vec<u8>) -> Reply {
        let response = self
            .app
            .api(Method::POST, &format!("/api/v1/media{query}"), token)
            .header("content-type", mime)
            .body(bytes)
            .send()
            .await
            .expect("upload");
        reply(response).await
    }

    async fn call(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Reply {
        let mut request = self.app.api(method, path, token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        reply(request.send().await.expect("request")).await
    }

    async fn library(&self) -> Vec<Value> {
        let list = self
            .call(Method::GET, "/api/v1/media", &self.writer, None)
            .await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.body);
        list.body["items"].as_array().expect("items").clone()
    }
}

/// A multipart/form-data body with a file part and text fields.
fn multipart(
    file_name: &str,
    mime: &str,
    bytes: &[u8],
    fields: &[(&str, &str)],
) -> (String, Vec<u8>) {
    let boundary = "keel-test-boundary-7d1c";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; \
             filename=\"{file_name}\"\r\nContent-Type: {mime}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend(bytes);
    body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn transparent_badge(size: u32) -> DynamicImage {
    let c = size as f32 / 2.0;
    DynamicImage::ImageRgba8(RgbaImage::from_fn(size, size, |x, y| {
        let d = ((x as f32 - c).powi(2) + (y as f32 - c).powi(2)).sqrt();
        if d < c * 0.8 {
            Rgba([200, 16, 46, 255])
        } else {
            Rgba([0, 0, 0, 0])
        }
    }))
}

fn paths(media: &Value) -> Vec<String> {
    media["variants"]
        .as_array()
        .expect("variants")
        .iter()
        .map(|v| v["path"].as_str().expect("path").to_owned())
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn every_accepted_format_is_stored_and_served_immutable(store: TestStore) {
    let m = setup(store).await;
    // JPEG as raw bytes, from a writer, described in the query string.
    let photo_bytes = jpeg(&photo(900, 600), None);
    let up = m
        .upload(
            &m.writer,
            "?name=Kick%20Off!.JPG&alt=Players%20at%20kick-off&credit=Agency&focal=0.5,0.4",
            "image/jpeg",
            photo_bytes.clone(),
        )
        .await;
    assert_eq!(up.status, StatusCode::CREATED, "{}", up.body);
    let id = up.body["id"].as_str().expect("id").to_owned();
    assert_eq!(
        up.headers["location"].to_str().unwrap(),
        format!("/api/v1/media/{id}")
    );
    assert_eq!(up.body["width"], 900);
    assert_eq!(up.body["height"], 600);
    assert_eq!(up.body["format"], "image/jpeg");
    assert_eq!(up.body["name"], "kick-off");
    assert_eq!(up.body["alt"], "Players at kick-off");
    assert_eq!(up.body["credit"], "Agency");
    let hash = up.body["hash"].as_str().unwrap().to_owned();
    let widths: Vec<(u64, String)> = up.body["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["width"].as_u64().unwrap(),
                v["format"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(u64, String)> = [320, 640, 900]
        .into_iter()
        .flat_map(|w| [(w, "image/jpeg".to_owned()), (w, "image/webp".to_owned())])
        .collect();
    assert_eq!(widths, expected);
    assert_eq!(
        paths(&up.body)[0],
        format!("/media/{hash}/kick-off-320.jpg")
    );
    assert_eq!(up.body["src"], format!("/media/{hash}/kick-off-900.jpg"));

    // Every variant answers from the server with the immutable policy, its
    // own type, nosniff, keys a purge can reach, and no Vary (one coding).
    for path in paths(&up.body) {
        let response = m.app.get(&path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap();
        let ext = path.rsplit('.').next().unwrap();
        let mime = if ext == "webp" {
            "image/webp"
        } else {
            "image/jpeg"
        };
        assert_eq!(headers["content-type"], mime, "{path}");
        assert_eq!(
            headers["cache-control"],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert!(headers.get("vary").is_none(), "{path}: {headers:?}");
        assert!(headers.get("content-encoding").is_none());
        let keys = headers["surrogate-key"].to_str().unwrap();
        assert!(keys.contains(&format!("media:{id}")), "{keys}");
        let sniffed = keel::media::inspect(&body, &keel::media::Limits::default()).unwrap();
        assert_eq!(sniffed.format.mime(), mime);
        // Revalidation: the ETag gets a 304 with no body.
        let etag = headers["etag"].clone();
        let again = m
            .app
            .client
            .get(format!("{}{path}", m.app.addr))
            .header("if-none-match", etag.clone())
            .header("accept-encoding", "br, gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
        assert_eq!(again.headers()["etag"], etag);
        assert!(again.headers().get("vary").is_none());
    }

    // The same bytes again: the same image, 200, nothing new stored.
    let again = m
        .upload(&m.editor, "?alt=other", "image/jpeg", photo_bytes)
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["id"], id);
    assert_eq!(again.body["alt"], "Players at kick-off");

    // PNG with transparency, as multipart: WebP and PNG variants.
    let (mime, body) = multipart(
        "club crest.png",
        "image/png",
        &png(&transparent_badge(400)),
        &[("alt", "Club crest"), ("aspect", "1:1")],
    );
    let crest = m.upload(&m.editor, "", &mime, body).await;
    assert_eq!(crest.status, StatusCode::CREATED, "{}", crest.body);
    assert_eq!(crest.body["name"], "club-crest");
    assert_eq!(crest.body["alt"], "Club crest");
    let formats: Vec<&str> = crest.body["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["format"].as_str().unwrap())
        .collect();
    assert!(
        formats.contains(&"image/png") && formats.contains(&"image/webp"),
        "{formats:?}"
    );
    assert!(!formats.contains(&"image/jpeg"), "{formats:?}");
    let png_path = paths(&crest.body)
        .into_iter()
        .find(|p| p.ends_with(".png"))
        .unwrap();
    let response = m.app.get(&png_path).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/png");

    // WebP, sent as application/octet-stream: the bytes decide.
    let webp = webp_lossless(&DynamicImage::ImageRgb8(photo(500, 300)));
    let w = m
        .upload(
            &m.writer,
            "?name=pitch.webp",
            "application/octet-stream",
            webp,
        )
        .await;
    assert_eq!(w.status, StatusCode::CREATED, "{}", w.body);
    assert_eq!(w.body["format"], "image/webp");
    assert_eq!(
        (w.body["width"].as_u64(), w.body["height"].as_u64()),
        (Some(500), Some(300))
    );

    // A PNG declared as JPEG is still taken for what it is.
    let liar = m
        .upload(
            &m.writer,
            "",
            "image/jpeg",
            png(&DynamicImage::ImageRgb8(photo(200, 100))),
        )
        .await;
    assert_eq!(liar.status, StatusCode::CREATED, "{}", liar.body);
    assert_eq!(liar.body["format"], "image/png");

    assert_eq!(m.library().await.len(), 4);
    let metrics = m.app.metrics().await;
    assert!(!metrics.is_empty());
}

async fn refused_uploads_name_the_problem_and_store_nothing(store: TestStore) {
    let m = setup(store).await;
    let refused = |status: StatusCode, needle: &'static str| {
        move |r: Reply| {
            assert_eq!(r.status, status, "{}", r.body);
            assert_eq!(
                r.headers["content-type"], "application/problem+json",
                "{}",
                r.body
            );
            let detail = r.body["detail"].as_str().unwrap_or_default().to_owned();
            assert!(detail.contains(needle), "{needle:?} not in {detail:?}");
        }
    };
    let svg = br#"<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#;
    refused(StatusCode::UNSUPPORTED_MEDIA_TYPE, "SVG")(
        m.upload(&m.writer, "", "image/svg+xml", svg.to_vec()).await,
    );
    refused(StatusCode::UNSUPPORTED_MEDIA_TYPE, "SVG")(
        m.upload(&m.writer, "", "image/png", svg.to_vec()).await,
    );
    refused(StatusCode::UNSUPPORTED_MEDIA_TYPE, "GIF")(
        m.upload(
            &m.writer,
            "",
            "image/gif",
            b"GIF89a\x01\0\x01\0\0\0\0;".to_vec(),
        )
        .await,
    );
    refused(StatusCode::UNSUPPORTED_MEDIA_TYPE, "not an image")(
        m.upload(&m.writer, "", "image/jpeg", b"hello, this is text".to_vec())
            .await,
    );
    refused(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Content-Type")(
        m.upload(&m.writer, "", "text/plain", jpeg(&photo(64, 64), None))
            .await,
    );
    refused(StatusCode::UNPROCESSABLE_ENTITY, "empty")(
        m.upload(&m.writer, "", "image/jpeg", Vec::new()).await,
    );
    // Cut short: damaged, named.
    let whole = jpeg(&photo(300, 200), None);
    refused(StatusCode::UNPROCESSABLE_ENTITY, "JPEG file is damaged")(
        m.upload(
            &m.writer,
            "",
            "image/jpeg",
            whole[..whole.len() * 2 / 3].to_vec(),
        )
        .await,
    );
    // A decompression bomb: refused from its header, before decoding.
    let bomb = png_claiming(100_000, 100_000);
    refused(StatusCode::UNPROCESSABLE_ENTITY, "megapixels")(
        m.upload(&m.writer, "", "image/png", bomb).await,
    );
    // Over --max-upload-bytes, raw and in multipart.
    let big = vec![0xFF; TEST_UPLOAD_LIMIT + 1];
    refused(StatusCode::PAYLOAD_TOO_LARGE, "at most")(
        m.upload(&m.writer, "", "image/jpeg", big.clone()).await,
    );
    let (mime, body) = multipart("big.jpg", "image/jpeg", &big, &[]);
    refused(StatusCode::PAYLOAD_TOO_LARGE, "at most")(m.upload(&m.writer, "", &mime, body).await);
    // Bad descriptions.
    let small = jpeg(&photo(64, 64), None);
    refused(StatusCode::BAD_REQUEST, "focal")(
        m.upload(&m.writer, "?focal=left", "image/jpeg", small.clone())
            .await,
    );
    let outside = m
        .upload(&m.writer, "?focal=1.5,0.5", "image/jpeg", small.clone())
        .await;
    assert_eq!(
        outside.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        outside.body
    );
    assert_eq!(outside.body["errors"][0]["pointer"], "/focal");
    refused(StatusCode::BAD_REQUEST, "aspect")(
        m.upload(&m.writer, "?aspect=wide", "image/jpeg", small.clone())
            .await,
    );
    let long_alt = "a".repeat(501);
    let too_long = m
        .upload(
            &m.writer,
            &format!("?alt={long_alt}"),
            "image/jpeg",
            small.clone(),
        )
        .await;
    assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(too_long.body["errors"][0]["pointer"], "/alt");
    refused(StatusCode::BAD_REQUEST, "unknown field")(
        m.upload(&m.writer, "?colour=red", "image/jpeg", small.clone())
            .await,
    );
    let (mime, body) = multipart("x.jpg", "image/jpeg", &small, &[]);
    let no_file = without_file_part(body);
    refused(StatusCode::BAD_REQUEST, "no `file` part")(
        m.upload(&m.writer, "", &mime, no_file).await,
    );
    // No token: 401, whatever the body.
    let anonymous = m
        .app
        .client
        .post(format!("{}/api/v1/media", m.app.addr))
        .header("content-type", "image/jpeg")
        .body(small)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    assert!(
        m.library().await.is_empty(),
        "a refused upload left an image"
    );
}

/// A test multipart body with its file part renamed, so it has none.
fn without_file_part(body: Vec<u8>) -> Vec<u8> {
    let from = b"name=\"file\"";
    let at = body
        .windows(from.len())
        .position(|w| w == from)
        .expect("a file part");
    let mut out = body[..at].to_vec();
    out.extend(b"name=\"caption\"");
    out.extend(&body[at + from.len()..]);
    out
}

async fn variants_carry_no_gps_and_come_out_upright(store: TestStore) {
    let m = setup(store).await;
    // Stored landscape (400×240) with orientation 6: upright it is portrait.
    let raw = jpeg(&photo(400, 240), None);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(exif(6, true));
    let tagged = insert_after_soi(&raw, 0xE1, &app1);
    assert!(contains(&tagged, &GPS_RATIONALS));
    let up = m
        .upload(&m.writer, "?name=away-end", "image/jpeg", tagged)
        .await;
    assert_eq!(up.status, StatusCode::CREATED, "{}", up.body);
    assert_eq!(
        (up.body["width"].as_u64(), up.body["height"].as_u64()),
        (Some(240), Some(400))
    );
    for v in up.body["variants"].as_array().unwrap() {
        let path = v["path"].as_str().unwrap();
        let bytes = m.app.get(path).await.bytes().await.unwrap();
        assert!(
            !contains(&bytes, &GPS_RATIONALS),
            "{path} carries the GPS position"
        );
        assert!(!contains(&bytes, b"Exif"), "{path} carries EXIF");
        let decoded = image::load_from_memory(&bytes).unwrap();
        assert_eq!(
            (decoded.width(), decoded.height()),
            (
                v["width"].as_u64().unwrap() as u32,
                v["height"].as_u64().unwrap() as u32
            )
        );
        assert!(decoded.height() > decoded.width(), "{path} is not upright");
    }
}

async fn the_library_is_listed_searched_and_described(store: TestStore) {
    let m = setup(store).await;
    let mut ids = Vec::new();
    for (i, alt) in [
        "Goal celebration",
        "Manager on the touchline",
        "Goal line save",
    ]
    .into_iter()
    .enumerate()
    {
        let bytes = jpeg(&photo(120 + i as u32, 80), None);
        let up = m
            .upload(
                &m.writer,
                &format!("?alt={}", alt.replace(' ', "%20")),
                "image/jpeg",
                bytes,
            )
            .await;
        assert_eq!(up.status, StatusCode::CREATED, "{}", up.body);
        ids.push(up.body["id"].as_str().unwrap().to_owned());
    }
    // Newest first, a page at a time.
    let page = m
        .call(Method::GET, "/api/v1/media?limit=2", &m.writer, None)
        .await;
    let items: Vec<&str> = page.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(items, [ids[2].as_str(), ids[1].as_str()]);
    let cursor = page.body["next_cursor"].as_str().unwrap().to_owned();
    let rest = m
        .call(
            Method::GET,
            &format!("/api/v1/media?before={cursor}"),
            &m.writer,
            None,
        )
        .await;
    assert_eq!(rest.body["items"][0]["id"], ids[0]);
    assert!(rest.body["next_cursor"].is_null());
    // Search by alt text, any case.
    let found = m
        .call(Method::GET, "/api/v1/media?q=GOAL", &m.writer, None)
        .await;
    assert_eq!(found.body["items"].as_array().unwrap().len(), 2);
    let bad = m
        .call(Method::GET, "/api/v1/media?before=nope", &m.writer, None)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let nul = m
        .call(Method::GET, "/api/v1/media?q=a%00b", &m.writer, None)
        .await;
    assert_eq!(nul.status, StatusCode::BAD_REQUEST, "{}", nul.body);

    // Describe: alt and caption change, null clears, the rest stays.
    let path = format!("/api/v1/media/{}", ids[0]);
    let patched = m
        .call(
            Method::PATCH,
            &path,
            &m.writer,
            Some(json!({"alt": "Winning goal", "caption": "Late drama", "focal": [0.2, 0.3]})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["alt"], "Winning goal");
    assert_eq!(patched.body["caption"], "Late drama");
    assert_eq!(patched.body["focal"], json!([0.2, 0.3]));
    let cleared = m
        .call(
            Method::PATCH,
            &path,
            &m.writer,
            Some(json!({"caption": null})),
        )
        .await;
    assert_eq!(cleared.body["caption"], Value::Null);
    assert_eq!(cleared.body["alt"], "Winning goal");
    let got = m.call(Method::GET, &path, &m.writer, None).await;
    assert_eq!(got.body, cleared.body);
    let invalid = m
        .call(
            Method::PATCH,
            &path,
            &m.writer,
            Some(json!({"focal": [2, 0]})),
        )
        .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    // PostgreSQL cannot hold NUL: a 422 naming the field, not a 500.
    let nul = m
        .call(
            Method::PATCH,
            &path,
            &m.writer,
            Some(json!({"caption": "a\u{0}b"})),
        )
        .await;
    assert_eq!(nul.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", nul.body);
    assert_eq!(nul.body["errors"][0]["pointer"], "/caption");
    let unknown = m
        .call(Method::PATCH, &path, &m.writer, Some(json!({"width": 10})))
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    for missing in [
        "/api/v1/media/not-an-id",
        "/api/v1/media/0190f5e4-0000-7000-8000-000000000000",
    ] {
        let r = m.call(Method::GET, missing, &m.writer, None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{missing}");
    }
}

async fn an_unused_image_is_deleted_and_its_urls_answer_404(store: TestStore) {
    let m = setup(store).await;
    let up = m
        .upload(&m.writer, "", "image/jpeg", jpeg(&photo(400, 300), None))
        .await;
    let id = up.body["id"].as_str().unwrap().to_owned();
    let variant = paths(&up.body)[0].clone();
    assert_eq!(m.app.get(&variant).await.status(), StatusCode::OK);
    let path = format!("/api/v1/media/{id}");
    // Writers draft; deleting is an editor's.
    let writer = m.call(Method::DELETE, &path, &m.writer, None).await;
    assert_eq!(writer.status, StatusCode::FORBIDDEN);
    let deleted = m.call(Method::DELETE, &path, &m.editor, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    assert_eq!(m.app.get(&variant).await.status(), StatusCode::NOT_FOUND);
    let again = m.call(Method::DELETE, &path, &m.editor, None).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert!(m.library().await.is_empty());
    let audit = m.call(Method::GET, "/api/v1/audit", &m.admin, None).await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|i| i["action"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        actions.contains(&"media.upload") && actions.contains(&"media.delete"),
        "{actions:?}"
    );
}

async fn cleanup_collects_old_unused_images_only(store: TestStore) {
    let m = setup(store).await;
    let old = m
        .upload(&m.writer, "", "image/jpeg", jpeg(&photo(160, 90), None))
        .await;
    let old_id = old.body["id"].as_str().unwrap().to_owned();
    let old_variant = paths(&old.body)[0].clone();
    // Admins only.
    let editor = m.cleanup(&m.editor, json!({"older_than": "0s"})).await;
    assert_eq!(editor.status, StatusCode::FORBIDDEN);
    let bad = m.cleanup(&m.admin, json!({"older_than": "soon"})).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    // Younger than the cut-off: kept.
    let young = m.cleanup(&m.admin, json!({"older_than": "1h"})).await;
    assert_eq!(young.status, StatusCode::OK, "{}", young.body);
    assert_eq!(young.body["deleted"], json!([]));
    // A dry run names it and deletes nothing.
    let dry = m
        .cleanup(&m.admin, json!({"older_than": "0s", "dry_run": true}))
        .await;
    assert_eq!(dry.body["deleted"][0]["id"], old_id);
    assert_eq!(m.app.get(&old_variant).await.status(), StatusCode::OK);
    // Collected.
    let done = m.cleanup(&m.admin, json!({"older_than": "0s"})).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body["deleted"][0]["id"], old_id);
    assert_eq!(
        m.app.get(&old_variant).await.status(),
        StatusCode::NOT_FOUND
    );
    assert!(m.library().await.is_empty());
}

async fn the_app_uploads_lists_and_deletes_images(store: TestStore) {
    use crate::admin::Browser;
    let m = setup(store).await;
    let mut writer = Browser::signed_in(&m.app, "writer@example.com", Role::Writer).await;
    let csrf = writer.csrf().await;
    let page = writer.get("/admin/media").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("No images yet"), "{}", page.body);
    assert!(page.body.contains(r#"enctype="multipart/form-data""#));

    // Without the session's token: refused before the file is looked at.
    let photo_bytes = jpeg(&photo(640, 360), None);
    let (mime, body) = multipart(
        "Derby.jpg",
        "image/jpeg",
        &photo_bytes,
        &[("alt", "Derby day")],
    );
    let forged = writer.post_body("/admin/media", &mime, body).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(m.library().await.is_empty());

    let fields = [
        ("csrf", csrf.as_str()),
        ("alt", "Derby day"),
        ("aspect", ""),
    ];
    let (mime, body) = multipart("Derby.jpg", "image/jpeg", &photo_bytes, &fields);
    let done = writer.post_body("/admin/media", &mime, body).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let listed = writer.get(done.location()).await;
    assert!(
        listed.body.contains("Uploaded derby (640×360)."),
        "{}",
        listed.body
    );
    assert!(
        listed.body.contains(r#"alt="Derby day""#),
        "{}",
        listed.body
    );
    let library = m.library().await;
    assert_eq!(library.len(), 1);
    let id = library[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(library[0]["created_by"], "writer@example.com");

    // A damaged file: the page again, its problem named, with its status.
    let (mime, body) = multipart(
        "cut.jpg",
        "image/jpeg",
        &photo_bytes[..photo_bytes.len() / 2],
        &[("csrf", csrf.as_str())],
    );
    let damaged = writer.post_body("/admin/media", &mime, body).await;
    assert_eq!(damaged.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        damaged.body.contains("JPEG file is damaged"),
        "{}",
        damaged.body
    );
    let (mime, body) = multipart(
        "x.svg",
        "image/svg+xml",
        b"<svg/>",
        &[("csrf", csrf.as_str())],
    );
    let svg = writer.post_body("/admin/media", &mime, body).await;
    assert_eq!(svg.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(svg.body.contains("SVG images are refused"), "{}", svg.body);

    // Search, then delete: writers may not, editors may.
    let found = writer.get("/admin/media?q=derby").await;
    assert!(found.body.contains(&id));
    let none = writer.get("/admin/media?q=nothing-like-it").await;
    assert!(none.body.contains("No image matches."), "{}", none.body);
    let refused = writer
        .post(&format!("/admin/media/{id}/delete"), &[("csrf", &csrf)])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let mut editor = Browser::signed_in(&m.app, "editor@example.com", Role::Editor).await;
    let csrf = editor.csrf().await;
    let deleted = editor
        .post(&format!("/admin/media/{id}/delete"), &[("csrf", &csrf)])
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER, "{}", deleted.body);
    assert!(m.library().await.is_empty());
}

/// The newsroom's cycle: an article shows an image; the image cannot be
/// deleted while it does; the article's image is replaced and the page
/// shows the new one while the old URLs still answer (immutable, cached
/// anywhere); the old image is then unused and a cleanup collects it,
/// sparing one a draft names.
async fn a_replaced_image_keeps_answering_until_the_cleanup_collects_it(store: TestStore) {
    let m = setup(store).await;
    let first = m
        .upload(
            &m.writer,
            "?name=first",
            "image/jpeg",
            jpeg(&photo(800, 450), None),
        )
        .await;
    let second = m
        .upload(
            &m.writer,
            "?name=second",
            "image/jpeg",
            jpeg(&photo(801, 450), None),
        )
        .await;
    let drafted = m
        .upload(
            &m.writer,
            "?name=drafted",
            "image/jpeg",
            jpeg(&photo(802, 450), None),
        )
        .await;
    let (first_id, second_id) = (
        first.body["id"].as_str().unwrap().to_owned(),
        second.body["id"].as_str().unwrap().to_owned(),
    );
    let hero = |id: &str, alt: &str| json!({"media": id, "alt": alt});
    let data = |hero: Value| json!({"title": "Derby day", "body": "It was loud.", "hero": hero});
    let article = m
        .app
        .publish_new(
            &m.editor,
            "article",
            "derby-day",
            data(hero(&first_id, "First <photo>")),
        )
        .await;
    let page = m.app.get("/news/derby-day").await.text().await.unwrap();
    let first_jpg = format!(
        "/media/{}/first-800.jpg",
        first.body["hash"].as_str().unwrap()
    );
    assert!(page.contains(&first_jpg), "{page}");
    assert!(page.contains(r#"alt="First &lt;photo&gt;""#), "{page}");
    assert!(page.contains(r#"width="800" height="450""#), "{page}");

    // Shown by a published article: 409 naming it, nothing deleted.
    let refused = m
        .call(
            Method::DELETE,
            &format!("/api/v1/media/{first_id}"),
            &m.editor,
            None,
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert_eq!(refused.body["code"], "referenced");
    assert_eq!(refused.body["referrers"][0]["id"], article);
    assert_eq!(refused.body["referrers"][0]["slug"], "derby-day");
    assert_eq!(m.app.get(&first_jpg).await.status(), StatusCode::OK);

    // Replaced: the page shows the new image; the old URL still answers.
    m.app
        .republish(
            &m.editor,
            "article",
            &article,
            data(hero(&second_id, "Second photo")),
        )
        .await;
    let page = m.app.get("/news/derby-day").await.text().await.unwrap();
    let second_hash = second.body["hash"].as_str().unwrap();
    assert!(
        page.contains(&format!("/media/{second_hash}/second-801.jpg")),
        "{page}"
    );
    assert!(!page.contains(&first_jpg), "{page}");
    let old = m.app.get(&first_jpg).await;
    assert_eq!(old.status(), StatusCode::OK);
    assert_eq!(
        old.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );

    // A draft names the third image: the cleanup spares it.
    let draft = m
        .call(
            Method::POST,
            "/api/v1/entries/article",
            &m.writer,
            Some(json!({"slug": "next-week", "data": data(hero(drafted.body["id"].as_str().unwrap(), "Soon"))})),
        )
        .await;
    assert_eq!(draft.status, StatusCode::CREATED, "{}", draft.body);
    let done = m.cleanup(&m.admin, json!({"older_than": "0s"})).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let deleted: Vec<&str> = done.body["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(deleted, [first_id.as_str()]);
    assert_eq!(done.body["spared"], json!([drafted.body["id"]]));
    assert_eq!(m.app.get(&first_jpg).await.status(), StatusCode::NOT_FOUND);
    // The image in use and the one in a draft still answer.
    for kept in [&second, &drafted] {
        let path = paths(&kept.body)[0].clone();
        assert_eq!(m.app.get(&path).await.status(), StatusCode::OK, "{path}");
    }
    let page = m.app.get("/news/derby-day").await;
    assert_eq!(page.status(), StatusCode::OK);
}

/// A match about to kick off is pre-warmed with every variant of the
/// picture its page shows.
async fn a_prewarmed_match_pins_its_pictures(store: TestStore) {
    let m = setup(store).await;
    let hero = m
        .upload(
            &m.writer,
            "?name=kick-off",
            "image/jpeg",
            jpeg(&photo(700, 400), None),
        )
        .await;
    let home = m
        .app
        .publish_new(&m.editor, "team", "home-side", json!({"name": "Home Side"}))
        .await;
    let away = m
        .app
        .publish_new(&m.editor, "team", "away-side", json!({"name": "Away Side"}))
        .await;
    let kickoff = (chrono::Utc::now() + chrono::Duration::minutes(10))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    m.app
        .publish_new(
            &m.editor,
            "match",
            "home-side-vs-away-side",
            json!({"home_team": home, "away_team": away, "competition": "Cup",
                   "kickoff": kickoff, "hero": {"media": hero.body["id"], "alt": "Kick-off"}}),
        )
        .await;
    let round = m
        .call(Method::POST, "/api/v1/prewarm", &m.admin, None)
        .await;
    assert_eq!(round.status, StatusCode::OK, "{}", round.body);
    let pinned: Vec<&str> = round.body["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    let variants = paths(&hero.body);
    assert_eq!(
        variants.len(),
        6,
        "320, 640 and 700 px, each in WebP and JPEG"
    );
    for path in &variants {
        assert!(pinned.contains(&path.as_str()), "{path} not in {pinned:?}");
    }
    assert_eq!(round.body["entries"][0]["media"], json!(variants));
}
