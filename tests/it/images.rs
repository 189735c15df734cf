//! Images in entries through the real server, on both backends: an image
//! value is checked key by key, a draft may name an image not uploaded yet
//! but a publish may not, and a published article's page shows its images
//! as responsive `<picture>`s and shares the lead one with OpenGraph tags,
//! while the store records which entry shows which image.

use chrono::Utc;
use keel::model::{CachePolicy, Media, MediaId, MediaVariant, NewMedia, Page, page_key};
use keel::store::NewEvent;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestStore, test_config};
use crate::on_both_backends;

on_both_backends!(
    fixture:
    image_values_are_checked_key_by_key,
    a_publish_naming_an_image_not_uploaded_is_refused_at_the_field,
    a_published_article_shows_and_shares_its_images,
);

const BASE: &str = "https://news.example";

async fn spawn(t: &TestStore) -> TestApp {
    let config = keel::config::ServeConfig {
        base_url: url::Url::parse(BASE).unwrap(),
        ..test_config(&t.url)
    };
    TestApp::spawn_with(config, t.store.clone(), None).await
}

/// Stores an image as the upload API does: WebP and JPEG at 320, 1024 and
/// 1600 pixels wide, 4:3.
async fn upload(app: &TestApp, name: &str) -> Media {
    let id = MediaId::now_v7();
    let media = NewMedia {
        id,
        hash: format!("{:020x}", id.uuid().as_u128() & 0xffff_ffff_ffff_ffff_ffff),
        name: name.into(),
        alt: "Library alt".into(),
        caption: None,
        credit: Some("Photo: Agency".into()),
        focal: None,
        format: "image/jpeg".into(),
        width: 4000,
        height: 3000,
        original: vec![0xff, 0xd8, 0xff, 0xe0, 1, 2, 3],
        created_by: "alice@example.com".into(),
    };
    let mut variants = Vec::new();
    for width in [320, 1024, 1600] {
        for (ext, format) in [("webp", "image/webp"), ("jpg", "image/jpeg")] {
            variants.push(MediaVariant {
                path: format!("/media/{}/{name}-{width}.{ext}", media.hash),
                width,
                height: width * 3 / 4,
                format: format.into(),
                bytes: 10,
            });
        }
    }
    let pages: Vec<Page> = variants
        .iter()
        .map(|v| Page {
            path: v.path.clone(),
            entry_id: None,
            status: 200,
            content_type: v.format.clone(),
            identity: vec![7; 10],
            br: Vec::new(),
            gzip: Vec::new(),
            etag: format!("{}-{}", media.hash, v.width),
            last_modified: Utc::now(),
            surrogate_keys: vec![page_key(&v.path)],
            cache_policy: CachePolicy {
                immutable: true,
                ..CachePolicy::default()
            },
            seq: 0,
        })
        .collect();
    let event = NewEvent {
        kind: "media".into(),
        paths: variants.iter().map(|v| v.path.clone()).collect(),
        keys: variants.iter().map(|v| page_key(&v.path)).collect(),
        entries: Vec::new(),
    };
    app.store
        .create_media(&media, &variants, &pages, event)
        .await
        .expect("create_media")
        .0
}

/// A JSON request to the editor API: (status, body).
async fn call(app: &TestApp, token: &str, method: Method, path: &str, body: Value) -> (u16, Value) {
    let r = app
        .api(method, path, token)
        .header("If-Match", "*")
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The (pointer, message) of each problem of a 422.
fn problems(body: &Value) -> Vec<(String, String)> {
    body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            let text = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
            (text("pointer"), text("message"))
        })
        .collect()
}

async fn image_values_are_checked_key_by_key(t: TestStore) {
    let app = spawn(&t).await;
    let token = app.token("editor", keel::store::Role::Editor).await;
    let data = json!({
        "title": "T", "body": "B",
        "hero": { "media": "not-a-uuid", "alt": "  ", "size": "big" },
        "gallery": [{ "alt": "x" }, "0190b2a4-7c1e-7d3a-9f00-1234567890ab"],
    });
    let (status, body) = call(
        &app,
        &token,
        Method::POST,
        "/api/v1/entries/article",
        json!({ "slug": "bad-images", "data": data }),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let found = problems(&body);
    let pointers: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        pointers,
        [
            "/data/hero/size",
            "/data/hero/media",
            "/data/hero/alt",
            "/data/gallery/0/media",
            "/data/gallery/1",
        ],
        "{body}"
    );
    assert!(found[2].1.contains("must not be empty"), "{found:?}");
    assert!(found[4].1.contains("expected an image"), "{found:?}");

    let article: Value = app
        .api(Method::GET, "/api/v1/content-types/article", &token)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let fields = article["fields"].as_array().expect("fields");
    let kind = |name: &str| {
        fields
            .iter()
            .find(|f| f["name"] == name)
            .map(|f| (f["kind"].clone(), f["of"].clone()))
    };
    assert_eq!(kind("hero"), Some((json!("image"), Value::Null)));
    assert_eq!(
        kind("gallery").map(|(k, of)| (k, of["kind"].clone())),
        Some((json!("list"), json!("image")))
    );
}

async fn a_publish_naming_an_image_not_uploaded_is_refused_at_the_field(t: TestStore) {
    let app = spawn(&t).await;
    let token = app.token("editor", keel::store::Role::Editor).await;
    let gone = MediaId::now_v7();
    let (status, body) = call(
        &app,
        &token,
        Method::POST,
        "/api/v1/entries/article",
        json!({ "slug": "early", "data": {
            "title": "T", "body": "B", "hero": { "media": gone, "alt": "A goal" } } }),
    )
    .await;
    assert_eq!(
        status, 201,
        "a draft may name an image still uploading: {body}"
    );
    let id = body["id"].as_str().expect("id").to_owned();

    let publish = format!("/api/v1/entries/article/{id}/publish");
    let (status, body) = call(&app, &token, Method::POST, &publish, json!({})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        problems(&body),
        [(
            "/data/hero".to_owned(),
            format!("no image {gone}; upload it first")
        )]
    );

    let real = upload(&app, "goal").await;
    let patch = format!("/api/v1/entries/article/{id}?publish=true");
    let data = json!({ "hero": { "media": real.id, "alt": "A goal" },
        "gallery": [{ "media": real.id, "alt": "Again" }, { "media": gone, "alt": "Gone" }] });
    let (status, body) = call(&app, &token, Method::PATCH, &patch, json!({ "data": data })).await;
    assert_eq!(status, 422, "{body}");
    let pointers: Vec<String> = problems(&body).into_iter().map(|(p, _)| p).collect();
    assert_eq!(pointers, ["/data/gallery/1"]);
    assert_eq!(
        app.get("/news/early").await.status(),
        404,
        "nothing was published"
    );
    assert!(app.store.media_users(real.id).await.unwrap().is_empty());
}

async fn a_published_article_shows_and_shares_its_images(t: TestStore) {
    let app = spawn(&t).await;
    let token = app.token("editor", keel::store::Role::Editor).await;
    let hero = upload(&app, "celebration").await;
    let crowd = upload(&app, "crowd").await;
    let id = app
        .publish_new(
            &token,
            "article",
            "cup-won",
            json!({
                "title": "Cup won", "body": "At last.",
                "hero": { "media": hero.id, "alt": "Fans <celebrate> & \"sing\"",
                    "caption": "The final whistle", "credit": "Photo: Agency" },
                "gallery": [{ "media": crowd.id, "alt": "The crowd" },
                    { "media": hero.id, "alt": "Again" }],
            }),
        )
        .await;

    let page = app.get("/news/cup-won").await.text().await.expect("page");
    let h = &hero.hash;
    let picture = format!(
        "<picture><source type=\"image/webp\" srcset=\"/media/{h}/celebration-320.webp 320w, \
         /media/{h}/celebration-1024.webp 1024w, /media/{h}/celebration-1600.webp 1600w\" \
         sizes=\"(min-width: 46rem) 44rem, 100vw\"><img src=\"/media/{h}/celebration-1024.jpg\" \
         srcset=\"/media/{h}/celebration-320.jpg 320w, /media/{h}/celebration-1024.jpg 1024w, \
         /media/{h}/celebration-1600.jpg 1600w\" sizes=\"(min-width: 46rem) 44rem, 100vw\" \
         width=\"1600\" height=\"1200\" alt=\"Fans &lt;celebrate&gt; &amp; &quot;sing&quot;\" \
         loading=\"eager\" decoding=\"async\" fetchpriority=\"high\"></picture>"
    );
    assert!(page.contains(&picture), "no lead picture in {page}");
    assert!(
        page.contains(
            "<figcaption>The final whistle <span class=\"credit\">Photo: Agency</span></figcaption>"
        ),
        "{page}"
    );
    for tag in [
        format!("<meta property=\"og:image\" content=\"{BASE}/media/{h}/celebration-1024.jpg\">"),
        "<meta property=\"og:image:width\" content=\"1024\">".to_owned(),
        "<meta property=\"og:image:height\" content=\"768\">".to_owned(),
        "<meta property=\"og:image:alt\" content=\"Fans &lt;celebrate&gt; &amp; &quot;sing&quot;\">"
            .to_owned(),
        "<meta name=\"twitter:card\" content=\"summary_large_image\">".to_owned(),
    ] {
        assert!(page.contains(&tag), "{tag} missing from {page}");
    }
    assert_eq!(
        page.matches("loading=\"lazy\"").count(),
        2,
        "the gallery's two pictures load lazily"
    );

    let doc: Value = app
        .get("/api/v1/content/article/cup-won")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(doc["data"]["hero"]["width"], 1600);
    let first = &doc["data"]["gallery"][0]["variants"][0];
    assert_eq!(first["width"], 320, "narrowest first: {doc}");
    let url = first["url"].as_str().expect("a variant's url");
    assert!(
        url.starts_with(&format!("/media/{}/crowd-320.", crowd.hash)),
        "{doc}"
    );

    let listing = app.get("/news").await.text().await.expect("listing");
    assert!(
        listing.contains(&format!("/media/{h}/celebration-320.jpg 320w")),
        "the listing shows a thumbnail: {listing}"
    );

    let users = |m: &Media| {
        let (store, id) = (app.store.clone(), m.id);
        async move { store.media_users(id).await.expect("media_users") }
    };
    let id = uuid::Uuid::parse_str(&id).expect("an entry id");
    assert_eq!(users(&hero).await, [id]);
    assert_eq!(users(&crowd).await, [id]);
}
