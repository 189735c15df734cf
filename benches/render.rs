//! Publish-time costs of a realistic match page and article: markdown to
//! sanitized HTML, the template, each compression, the whole page (render
//! and compress both the HTML and the JSON document), and validating an
//! entry. `cargo bench --bench render`.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use keel::content_types::ContentTypes;
use keel::metrics::Metrics;
use keel::model::{Entry, EntryStatus};
use keel::render::{Renderer, Snapshot, brotli, gzip, markdown};
use serde_json::{Value, json};
use uuid::Uuid;

fn published(type_name: &str, slug: &str, data: Value) -> Entry {
    let at = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
    Entry {
        id: Uuid::now_v7(),
        type_name: type_name.into(),
        slug: slug.into(),
        status: EntryStatus::Published,
        version: 2,
        data: data.clone(),
        published_slug: Some(slug.into()),
        published_data: Some(data),
        created_at: at,
        updated_at: at,
        published_at: Some(at),
        publish_at: None,
    }
}

/// A long match report: sections, a table, a list, quotes and footnotes.
fn report() -> String {
    let mut md = String::from("## Match report\n\n");
    for i in 0..12 {
        md.push_str(&format!(
            "### Minute {m}\n\nHarbour City pressed high from the start and **Northgate** struggled \
             to play out from the back. The [home side](https://example.com/teams/harbour-city) \
             created chance after chance.[^{i}]\n\n> \"We knew the first twenty minutes would \
             decide it,\" said the captain.\n\n- Shots: {s}\n- Corners: {c}\n- ~~Offside~~ goal\n\n",
            m = i * 7,
            s = i * 2,
            c = i
        ));
    }
    md.push_str(
        "| | Home | Away |\n|---|---|---|\n| Possession | 58% | 42% |\n| Shots | 17 | 6 |\n\n",
    );
    for i in 0..12 {
        md.push_str(&format!("[^{i}]: Opta data, minute {}.\n", i * 7));
    }
    md
}

struct Fixture {
    renderer: Renderer,
    snapshot: Snapshot,
    the_match: Entry,
    article: Entry,
    types: Arc<ContentTypes>,
}

fn fixture() -> Fixture {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("content-types");
    let types = Arc::new(ContentTypes::load(&dir).expect("demo types load"));
    let home = published(
        "team",
        "harbour-city",
        json!({"name": "Harbour City FC", "country": "England", "founded": 1887}),
    );
    let away = published(
        "team",
        "northgate-rovers",
        json!({"name": "Northgate Rovers", "country": "England", "founded": 1902}),
    );
    let (home_id, away_id) = (home.id.to_string(), away.id.to_string());
    let the_match = published(
        "match",
        "harbour-city-vs-northgate-rovers",
        json!({
            "home_team": home_id, "away_team": away_id,
            "competition": "Premier Cup", "kickoff": "2026-11-25T19:45:00Z",
            "venue": "Quayside Ground", "status": "finished", "home_score": 3, "away_score": 1,
            "report": report(),
        }),
    );
    let article = published(
        "article",
        "what-to-watch",
        json!({"title": "What to watch", "body": report(), "tags": ["preview"],
               "match": the_match.id.to_string()}),
    );
    let mut entries = vec![home, away, the_match.clone(), article.clone()];
    // A season of other matches for the teams' related lists.
    for i in 0..40 {
        entries.push(published(
            "match",
            &format!("other-{i}"),
            json!({"home_team": home_id, "away_team": away_id, "competition": "Premier Cup",
                   "kickoff": "2026-10-01T15:00:00Z", "status": "finished"}),
        ));
    }
    Fixture {
        renderer: Renderer::new(types.clone(), "keel", Arc::new(Metrics::new())),
        snapshot: Snapshot::new(entries, 1),
        the_match,
        article,
        types,
    }
}

fn benches(c: &mut Criterion) {
    let f = fixture();
    let now = Utc::now();
    let ty = f.types.get("match").expect("match type");
    let html = f
        .renderer
        .entry_html(ty, &f.the_match, &f.snapshot, now)
        .expect("renders");
    eprintln!("match page: {} bytes of HTML", html.len());

    let md = report();
    c.bench_function("markdown+sanitize (match report)", |b| {
        b.iter(|| markdown::to_safe_html(&md))
    });
    c.bench_function("template (match page)", |b| {
        b.iter(|| f.renderer.entry_html(ty, &f.the_match, &f.snapshot, now))
    });
    let mut group = c.benchmark_group("compress match page");
    group.sample_size(10);
    for q in [5, 9, 11] {
        group.bench_function(format!("brotli q{q}"), |b| {
            b.iter(|| brotli(html.as_bytes(), q))
        });
    }
    group.bench_function("gzip best", |b| b.iter(|| gzip(html.as_bytes())));
    group.finish();

    let mut group = c.benchmark_group("publish-time render");
    group.sample_size(10);
    group.bench_function("match: html + json, rendered and compressed", |b| {
        b.iter(|| f.renderer.entry_pages(&f.the_match, &f.snapshot, now))
    });
    group.bench_function("article: html + json, rendered and compressed", |b| {
        b.iter(|| f.renderer.entry_pages(&f.article, &f.snapshot, now))
    });
    group.finish();

    let draft = f.the_match.data.clone();
    c.bench_function("validate a match entry", |b| b.iter(|| ty.validate(&draft)));
}

criterion_group!(render, benches);
criterion_main!(render);
