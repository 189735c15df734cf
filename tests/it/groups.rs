//! Group pages, on both backends through the real server: a page per
//! competition under `/competitions`, listed on the listing's first page,
//! kept right when a match changes competition or a competition empties.

use serde_json::json;

use crate::helpers::{TestApp, TestStore};
use crate::on_both_backends;

on_both_backends!(
    fixture:
    each_competition_has_a_page_listed_on_the_first_page,
);

async fn page(app: &TestApp, path: &str) -> (u16, String) {
    let r = app.get(path).await;
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn each_competition_has_a_page_listed_on_the_first_page(t: TestStore) {
    let app = TestApp::spawn(t, false).await;
    let token = app.token("editor", keel::store::Role::Editor).await;
    let (status, first) = page(&app, "/competitions").await;
    assert_eq!(status, 404, "no published listing page yet: {first}");
    let home = app
        .publish_new(&token, "team", "home", json!({"name": "Home"}))
        .await;
    let away = app
        .publish_new(&token, "team", "away", json!({"name": "Away"}))
        .await;
    let fixture = |competition: &str, kickoff: &str| {
        json!({"home_team": home, "away_team": away, "competition": competition,
               "kickoff": kickoff, "status": "finished"})
    };
    app.publish_new(
        &token,
        "match",
        "league-1",
        fixture("Premier Cup", "2026-10-01T15:00:00Z"),
    )
    .await;
    app.publish_new(
        &token,
        "match",
        "league-2",
        fixture("Premier Cup", "2026-11-01T15:00:00Z"),
    )
    .await;
    let cup = fixture("FA Cup", "2026-11-08T15:00:00Z");
    let cup_id = app.publish_new(&token, "match", "cup-1", cup.clone()).await;

    let (status, first) = page(&app, "/competitions").await;
    assert_eq!(status, 200, "{first}");
    let fa = first
        .find("href=\"/competitions/fa-cup\">FA Cup</a>")
        .expect("FA Cup listed");
    let premier = first
        .find("href=\"/competitions/premier-cup\">Premier Cup</a>")
        .expect("Premier Cup listed");
    assert!(fa < premier, "groups are listed by label: {first}");
    let (status, premier) = page(&app, "/competitions/premier-cup").await;
    assert_eq!(status, 200, "{premier}");
    assert!(premier.contains("<h1>Premier Cup</h1>"), "{premier}");
    let newest = premier.find("/matches/league-2").expect("league-2 listed");
    let oldest = premier.find("/matches/league-1").expect("league-1 listed");
    assert!(newest < oldest, "newest kick-off first: {premier}");
    assert!(!premier.contains("/matches/cup-1"), "{premier}");
    let (_, cup_page) = page(&app, "/competitions/fa-cup").await;
    assert!(cup_page.contains("/matches/cup-1"), "{cup_page}");
    let (_, match_page) = page(&app, "/matches/cup-1").await;
    assert!(
        match_page.contains("<a href=\"/competitions/fa-cup\">FA Cup</a>"),
        "a match links its competition: {match_page}"
    );

    // The cup match moves to the Premier Cup: the FA Cup empties, so its
    // page goes and the first page stops listing it.
    let mut moved = cup;
    moved["competition"] = json!("Premier Cup");
    app.republish(&token, "match", &cup_id, moved).await;
    let (status, _) = page(&app, "/competitions/fa-cup").await;
    assert_eq!(status, 404);
    let (_, first) = page(&app, "/competitions").await;
    assert!(!first.contains("FA Cup"), "{first}");
    assert!(first.contains("/competitions/premier-cup"), "{first}");
    let (_, premier) = page(&app, "/competitions/premier-cup").await;
    for slug in ["league-1", "league-2", "cup-1"] {
        assert!(
            premier.contains(&format!("/matches/{slug}")),
            "{slug}: {premier}"
        );
    }

    // A team renamed is renamed on the competition page that lists its
    // matches.
    app.republish(&token, "team", &home, json!({"name": "Renamed"}))
        .await;
    let (_, premier) = page(&app, "/competitions/premier-cup").await;
    assert!(premier.contains("Renamed"), "{premier}");
}
