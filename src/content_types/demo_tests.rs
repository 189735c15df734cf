//! The demo site's `content-types/` loads cleanly, keeps its field contract,
//! and every page template renders from a sample context shaped like the
//! renderer's (see the module docs), including with optional fields absent.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use minijinja::Value;
use minijinja::value::Serde;
use serde_json::json;

use super::*;
use crate::model::{CachePolicy, Entry};

fn demo() -> ContentTypes {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("content-types");
    ContentTypes::load(&dir).unwrap_or_else(|e| panic!("demo content types must load:\n{e}"))
}

fn field_names(ty: &ContentType) -> Vec<&str> {
    ty.fields.keys().map(String::as_str).collect()
}

#[test]
fn demo_types_keep_their_contract() {
    let types = demo();
    let names: Vec<&str> = types.types().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["article", "match", "team"]);

    let team = types.get("team").expect("team");
    assert_eq!(team.route.as_str(), "/teams/{slug}");
    assert_eq!(
        field_names(team),
        ["name", "country", "founded", "honours", "bio", "crest"]
    );
    assert!(!team.fields["crest"].required, "existing teams stay valid");
    assert!(team.fields["name"].required);
    assert_eq!(team.markdown_fields().collect::<Vec<_>>(), ["bio"]);
    assert_eq!(
        team.related["matches"].references,
        ["home_team", "away_team"]
    );

    let m = types.get("match").expect("match");
    assert_eq!(m.path_for("derby"), "/matches/derby");
    assert_eq!(
        field_names(m),
        [
            "home_team",
            "away_team",
            "competition",
            "kickoff",
            "venue",
            "status",
            "home_score",
            "away_score",
            "attendance",
            "home_possession",
            "neutral_venue",
            "commentary",
            "report",
            "hero"
        ]
    );
    // Between them, the demo types use every kind the app's forms draw.
    let kinds: std::collections::BTreeSet<&str> = types
        .types()
        .flat_map(|t| t.fields.values().map(|f| f.kind.keyword()))
        .collect();
    for kind in [
        "string",
        "text",
        "markdown",
        "integer",
        "number",
        "boolean",
        "datetime",
        "enum",
        "reference",
        "image",
        "list",
    ] {
        assert!(kinds.contains(kind), "no demo field of kind {kind}");
    }
    let console = m.console.as_ref().expect("matches have a live console");
    assert_eq!(console.scores, ["home_score", "away_score"]);
    assert_eq!(console.status.as_deref(), Some("status"));
    assert_eq!(console.commentary.as_deref(), Some("commentary"));
    assert_eq!(m.fields["status"].default, Some(json!("scheduled")));
    assert_eq!(
        m.fields["home_score"].kind,
        FieldKind::Integer {
            min: Some(0),
            max: None
        }
    );
    let prewarm = m.prewarm.as_ref().expect("match pre-warms");
    assert_eq!(prewarm.field, "kickoff");
    assert_eq!(prewarm.before, Duration::from_secs(30 * 60));
    assert_eq!(prewarm.after, Duration::from_secs(3 * 3600));
    assert_eq!(m.cache.browser_max_age, 10);
    assert_eq!(m.cache.edge_max_age, 30);
    let refs: Vec<_> = m.reference_fields().map(|r| (r.name, r.to)).collect();
    assert_eq!(refs, [("home_team", "team"), ("away_team", "team")]);

    let article = types.get("article").expect("article");
    assert_eq!(article.route.as_str(), "/news/{slug}");
    assert_eq!(
        field_names(article),
        ["title", "body", "tags", "match", "hero", "gallery"]
    );
    assert_eq!(
        article.image_fields().collect::<Vec<_>>(),
        ["hero", "gallery"]
    );
    assert!(!article.fields["match"].required);
    assert!(matches!(
        article.fields["tags"].kind,
        FieldKind::List { .. }
    ));

    let paths: Vec<&str> = types.listings().map(|l| l.path.as_str()).collect();
    assert_eq!(paths, ["/competitions", "/", "/matches", "/news"]);
    let competitions = types.listing_at("/competitions").expect("competitions");
    let groups = competitions.groups.as_ref().expect("competition groups");
    assert_eq!(groups.field, "competition");
    assert_eq!(
        competitions.group_path("premier-cup"),
        "/competitions/premier-cup"
    );
    assert_eq!(
        crate::content_types::value_token("Premier Cup"),
        "premier-cup"
    );
    let matches = types.listing_at("/matches").expect("matches");
    let archive = matches.archive.as_ref().expect("matches archive");
    assert_eq!(archive.by, crate::content_types::Bucketing::Month);
    assert_eq!(matches.bucket_path("2026/12"), "/matches/2026/12");
    assert_eq!(archive.label("2026/12"), "December 2026");
    let news = types.listing_at("/news").expect("news");
    let archive = news.archive.as_ref().expect("news archive");
    assert_eq!(archive.by, crate::content_types::Bucketing::Day);
    assert_eq!(archive.label("2026/12/05"), "5 December 2026");
    assert_eq!(types.listing_at("/").expect("home").queries.len(), 3);
    assert_eq!(
        types
            .match_path("/news/big-win")
            .map(|(t, s)| (t.name.as_str(), s)),
        Some(("article", "big-win"))
    );
    assert!(types.match_path("/matches").is_none());
    assert!(types.has_template("_site/404.html"));
    assert_ne!(team.cache, CachePolicy::default());
}

#[test]
fn records_describe_each_type_with_a_stable_hash() {
    let (a, b) = (demo().records(), demo().records());
    assert_eq!(a, b);
    assert_eq!(a.len(), 3);
    for record in &a {
        assert_eq!(record.hash.len(), 64);
        assert!(record.hash.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(record.schema["name"], json!(record.name));
    }
    let m = a.iter().find(|r| r.name == "match").expect("match record");
    assert_eq!(m.schema["fields"][0]["name"], json!("home_team"));
    assert_eq!(m.schema["fields"][0]["kind"], json!("reference"));
    assert_eq!(m.schema["prewarm"]["before"], json!(1800));
    assert_eq!(m.schema["route"], json!("/matches/{slug}"));
}

fn team_item(slug: &str, name: &str) -> serde_json::Value {
    json!({
        "id": "01900000-0000-7000-8000-000000000001", "type": "team", "slug": slug,
        "url": format!("/teams/{slug}"), "data": { "name": name },
    })
}

fn match_item(status: &str) -> serde_json::Value {
    json!({
        "id": "01900000-0000-7000-8000-000000000002", "type": "match", "slug": "reds-v-blues",
        "url": "/matches/reds-v-blues", "published_at": "2026-03-01T09:00:00Z",
        "updated_at": "2026-03-14T15:30:00Z",
        "data": {
            "home_team": team_item("reds", "Reds & Co"), "away_team": team_item("blues", "Blues"),
            "competition": "League", "kickoff": "2026-03-14T15:00:00Z", "status": status,
            "home_score": 2, "away_score": 1,
        },
    })
}

fn article_item() -> serde_json::Value {
    json!({
        "id": "01900000-0000-7000-8000-000000000003", "type": "article", "slug": "big-win",
        "url": "/news/big-win", "published_at": "2026-03-14T18:00:00Z",
        "updated_at": "2026-03-14T18:00:00Z",
        "data": { "title": "A <big> win", "tags": ["league"] },
    })
}

/// The context the renderer builds, with the markdown field as a safe string.
fn context(
    entry: serde_json::Value,
    markdown: Option<(&str, &str)>,
    lists: serde_json::Value,
) -> Value {
    let to_map = |v: &serde_json::Value| -> BTreeMap<String, Value> {
        v.as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), Value::from(Serde(v))))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut data = to_map(&entry["data"]);
    if let Some((field, html)) = markdown {
        data.insert(field.to_owned(), Value::from_safe_string(html.to_owned()));
    }
    let mut item = to_map(&entry);
    item.insert("data".into(), Value::from(data));
    minijinja::context! {
        entry => Value::from(item),
        lists => Value::from(Serde(&lists)),
        site => Value::from(Serde(json!({ "name": "Matchday", "now": "2026-03-14T15:31:00Z",
            "base_url": "https://news.example" }))),
    }
}

fn render(types: &ContentTypes, template: &str, ctx: Value) -> String {
    let env = types.environment();
    env.get_template(template)
        .and_then(|t| t.render(ctx))
        .unwrap_or_else(|e| panic!("{template} must render: {e:#}"))
}

#[test]
fn entry_pages_render_full_and_sparse_contexts() {
    let types = demo();
    let report = Some(("report", "<p>Two <em>late</em> goals.</p>"));
    let page = render(
        &types,
        "match/page.html",
        context(
            match_item("live"),
            report,
            json!({ "articles": [article_item()] }),
        ),
    );
    assert!(page.contains("Reds &amp; Co"), "{page}");
    assert!(page.contains("2 – 1"));
    assert!(
        page.contains("<em>late</em>"),
        "markdown HTML is not escaped again"
    );
    assert!(page.contains("A &lt;big&gt; win"), "text is escaped");
    assert!(page.contains("href=\"/teams/blues\""), "{page}");
    assert!(page.contains("Sat 14 Mar 2026, 15:00 UTC"));
    assert!(
        page.contains("<title>Reds &amp; Co v Blues · Matchday</title>"),
        "{page}"
    );

    // A referenced team left out (unpublished) and no optional fields.
    let sparse = json!({ "id": "x", "type": "match", "slug": "tbc", "url": "/matches/tbc",
        "data": { "competition": "Cup", "kickoff": "2026-04-01T19:45:00Z", "status": "scheduled" } });
    let page = render(&types, "match/page.html", context(sparse, None, json!({})));
    assert!(page.contains("TBC v TBC"), "{page}");
    assert!(!page.contains("–"), "no score before kick-off");

    let bio = Some(("bio", "<p>Founded by <strong>dockers</strong>.</p>"));
    let team = json!({ "id": "t", "type": "team", "slug": "reds", "url": "/teams/reds",
        "data": { "name": "Reds", "country": "England", "founded": 1892 } });
    let page = render(
        &types,
        "team/page.html",
        context(team, bio, json!({ "matches": [match_item("finished")] })),
    );
    assert!(page.contains("Founded 1892") && page.contains("<strong>dockers</strong>"));
    assert!(page.contains("href=\"/matches/reds-v-blues\""));
    let bare = json!({ "id": "t", "type": "team", "slug": "x", "url": "/teams/x", "data": { "name": "X" } });
    let page = render(&types, "team/page.html", context(bare, None, json!({})));
    assert!(page.contains("No matches yet."));

    let mut article = article_item();
    article["data"]["match"] = json!({ "id": "m", "type": "match", "slug": "reds-v-blues",
        "url": "/matches/reds-v-blues", "data": { "competition": "League", "kickoff": "2026-03-14T15:00:00Z" } });
    let body = Some(("body", "<p>Report.</p>"));
    let page = render(
        &types,
        "article/page.html",
        context(article, body, json!({})),
    );
    assert!(
        page.contains("About the match") && page.contains("<li>league</li>"),
        "{page}"
    );
}

/// An image item as the renderer builds it, WebP and JPEG at two widths.
fn image_item(alt: &str, caption: Option<&str>) -> serde_json::Value {
    let mut variants = Vec::new();
    for (w, h) in [(320, 213), (1600, 1067)] {
        for (ext, format) in [("webp", "image/webp"), ("jpg", "image/jpeg")] {
            variants.push(json!({ "url": format!("/media/ff00/goal-{w}.{ext}"),
                "width": w, "height": h, "format": format }));
        }
    }
    json!({ "media": "0190b2a4-7c1e-7d3a-9f00-1234567890ab", "alt": alt, "caption": caption,
        "credit": "Photo: Ann Lens", "width": 1600, "height": 1067, "variants": variants })
}

#[test]
fn pages_show_their_images_and_share_the_lead_one() {
    let types = demo();
    let site = json!({ "name": "Matchday", "base_url": "https://news.example" });
    let mut article = article_item();
    article["data"]["hero"] = image_item("Nine rises to score", Some("The winner"));
    article["data"]["gallery"] = json!([image_item("Fans <sing>", None)]);
    let ctx = context(article, Some(("body", "<p>Report.</p>")), json!({}));
    let page = render(&types, "article/page.html", ctx);
    for tag in [
        r#"<meta property="og:image" content="https://news.example/media/ff00/goal-1600.jpg">"#,
        r#"<meta property="og:image:width" content="1600">"#,
        r#"<meta property="og:image:height" content="1067">"#,
        r#"<meta property="og:image:alt" content="Nine rises to score">"#,
        r#"<meta name="twitter:card" content="summary_large_image">"#,
    ] {
        assert!(page.contains(tag), "{tag} missing from {page}");
    }
    assert!(
        page.contains(r#"loading="eager" decoding="async" fetchpriority="high">"#),
        "the lead image is fetched first: {page}"
    );
    assert!(
        page.contains(
            r#"<figcaption>The winner <span class="credit">Photo: Ann Lens</span></figcaption>"#
        ),
        "{page}"
    );
    assert!(
        page.contains(r#"alt="Fans &lt;sing&gt;" loading="lazy""#),
        "the gallery loads lazily: {page}"
    );

    let mut with_hero = match_item("finished");
    with_hero["data"]["hero"] = image_item("Captains shake hands", None);
    let page = render(
        &types,
        "match/page.html",
        context(with_hero, None, json!({})),
    );
    assert!(
        page.contains(r#"content="https://news.example/media/ff00/goal-1600.jpg""#),
        "{page}"
    );
    assert!(
        page.contains("<picture><source type=\"image/webp\""),
        "{page}"
    );

    let page = render(
        &types,
        "match/page.html",
        context(match_item("live"), None, json!({})),
    );
    assert!(
        !page.contains("og:image") && !page.contains("<picture") && !page.contains("twitter:card"),
        "no image, no image tags: {page}"
    );

    let team = json!({ "id": "t", "type": "team", "slug": "reds", "url": "/teams/reds",
        "data": { "name": "Reds", "crest": image_item("The Reds' crest", None) } });
    let page = render(&types, "team/page.html", context(team, None, json!({})));
    assert!(
        page.contains(r#"<div class="crest"><picture>"#) && page.contains(r#"sizes="6rem""#),
        "{page}"
    );

    let mut listed = article_item();
    listed["data"]["hero"] = image_item("Nine rises to score", None);
    let ctx = minijinja::context! {
        listing => Value::from(Serde(json!({ "path": "/news", "title": "News" }))),
        lists => Value::from(Serde(json!({ "latest": [listed] }))),
        site => Value::from(Serde(&site)),
    };
    let page = render(&types, "news/page.html", ctx);
    assert!(
        page.contains(r#"<a class="thumb" href="/news/big-win""#),
        "{page}"
    );
}

#[test]
fn listing_pages_and_404_render() {
    let types = demo();
    let listing = |path: &str, title: &str, lists: serde_json::Value| {
        minijinja::context! {
            listing => Value::from(Serde(json!({ "path": path, "title": title }))),
            lists => Value::from(Serde(&lists)),
            site => Value::from(Serde(json!({ "name": "Matchday", "now": "2026-03-14T15:31:00Z" }))),
        }
    };
    let full = json!({ "live": [match_item("live")], "upcoming": [match_item("scheduled")], "latest": [article_item()] });
    let page = render(&types, "home/page.html", listing("/", "Home", full));
    assert!(
        page.contains("Live now") && page.contains("2–1") && page.contains("Sat 14 Mar, 15:00 UTC")
    );
    assert!(page.contains("A &lt;big&gt; win"));
    let page = render(&types, "home/page.html", listing("/", "Home", json!({})));
    assert!(
        !page.contains("Live now")
            && page.contains("No matches scheduled.")
            && page.contains("No news yet.")
    );

    let page = render(
        &types,
        "matches/page.html",
        listing(
            "/matches",
            "Matches",
            json!({ "results": [match_item("finished")] }),
        ),
    );
    assert!(page.contains("<h1>Matches</h1>") && page.contains("Reds &amp; Co v Blues"));
    assert!(page.contains("No matches scheduled."));

    let ctx = minijinja::context! { site => Value::from(Serde(json!({ "name": "Matchday" }))) };
    let page = render(&types, "_site/404.html", ctx);
    assert!(page.contains("Page not found"));
    assert!(!page.contains("<script"), "no scripts under a strict CSP");
}

fn published_entry(type_name: &str, n: u128, data: serde_json::Value) -> Entry {
    let at = chrono::DateTime::parse_from_rfc3339("2026-03-14T12:00:00Z")
        .expect("valid time")
        .to_utc();
    Entry {
        id: uuid::Uuid::from_u128(n),
        type_name: type_name.into(),
        slug: format!("e{n}"),
        status: crate::model::EntryStatus::Published,
        version: 1,
        data: data.clone(),
        published_slug: Some(format!("e{n}")),
        published_data: Some(data),
        created_at: at,
        updated_at: at,
        published_at: Some(at),
        publish_at: None,
    }
}

#[test]
fn demo_dependencies_are_explicit() {
    let types = demo();
    let (home, away) = (uuid::Uuid::from_u128(1), uuid::Uuid::from_u128(2));
    let m = types.get("match").expect("match");
    let data = m
        .validate(&json!({
            "home_team": home.to_string(), "away_team": away.to_string(),
            "competition": "League", "kickoff": "2026-03-14T15:00:00Z", "status": "live",
        }))
        .expect("valid match");
    let live = published_entry("match", 10, data.clone());
    let shown: Vec<&str> = types
        .listings_showing(&live)
        .map(|l| l.path.as_str())
        .collect();
    assert_eq!(shown, ["/", "/matches"]);
    let owners: Vec<(&str, uuid::Uuid)> = types
        .related_owners(&live)
        .into_iter()
        .map(|(t, id)| (t.name.as_str(), id))
        .collect();
    assert_eq!(owners, [("team", home), ("team", away)]);

    let mut finished = data;
    finished["status"] = json!("finished");
    let finished = published_entry("match", 10, finished);
    let shown: Vec<&str> = types
        .listings_showing(&finished)
        .map(|l| l.path.as_str())
        .collect();
    assert_eq!(shown, ["/matches"], "a finished match leaves the home page");

    let (hero, other) = (
        "0190b2a4-7c1e-7d3a-9f00-000000000001",
        "0190b2a4-7c1e-7d3a-9f00-000000000002",
    );
    let article = published_entry(
        "article",
        11,
        json!({ "title": "T", "body": "B", "match": live.id.to_string(),
            "hero": { "media": hero, "alt": "a" },
            "gallery": [{ "media": other, "alt": "b" }, { "media": hero, "alt": "c" }] }),
    );
    let media: Vec<String> = types
        .index_of(&article)
        .media
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(media, [hero, other], "each image once, hero and gallery");
    let mut draft = article.clone();
    draft.published_data = None;
    assert!(types.index_of(&draft).media.is_empty());
    let owners: Vec<(&str, uuid::Uuid)> = types
        .related_owners(&article)
        .into_iter()
        .map(|(t, id)| (t.name.as_str(), id))
        .collect();
    assert_eq!(owners, [("match", live.id)]);

    let prewarm = m.prewarm.as_ref().expect("match pre-warms");
    let kickoff = chrono::DateTime::parse_from_rfc3339("2026-03-14T15:00:00Z")
        .expect("valid time")
        .to_utc();
    assert!(prewarm.is_active(&live.data, kickoff - chrono::Duration::minutes(30)));
    assert!(prewarm.is_active(&live.data, kickoff + chrono::Duration::hours(3)));
    assert!(!prewarm.is_active(&live.data, kickoff - chrono::Duration::minutes(31)));
}
