//! Archive pages, on both backends through the real server: one page per
//! month of kick-offs under `/matches`, linked to their neighbours with
//! rel=prev/next, kept right when a match moves between months or a month
//! empties, and touched only where the change lands.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestStore};
use crate::on_both_backends;

on_both_backends!(
    fixture:
    every_match_is_on_its_month_page_linked_to_its_neighbours,
    a_match_moving_months_relinks_the_archive_and_an_empty_month_goes,
);

struct Site {
    app: TestApp,
    token: String,
    home: String,
    away: String,
}

async fn site(t: TestStore) -> Site {
    let app = TestApp::spawn(t, false).await;
    let token = app.token("editor", keel::store::Role::Editor).await;
    let home = app
        .publish_new(&token, "team", "home", json!({"name": "Home"}))
        .await;
    let away = app
        .publish_new(&token, "team", "away", json!({"name": "Away"}))
        .await;
    Site {
        app,
        token,
        home,
        away,
    }
}

impl Site {
    async fn fixture(&self, slug: &str, kickoff: &str) -> String {
        let data = json!({"home_team": self.home, "away_team": self.away,
                          "competition": "Cup", "kickoff": kickoff, "status": "finished"});
        self.app.publish_new(&self.token, "match", slug, data).await
    }

    async fn page(&self, path: &str) -> (u16, String) {
        let r = self.app.get(path).await;
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// Changes a match's working copy and publishes it.
    async fn republish(&self, id: &str, data: Value) {
        let r = self
            .app
            .api(
                Method::PATCH,
                &format!("/api/v1/entries/match/{id}"),
                &self.token,
            )
            .header("If-Match", "*")
            .json(&json!({ "data": data }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        let r = self
            .app
            .api(
                Method::POST,
                &format!("/api/v1/entries/match/{id}/publish"),
                &self.token,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
}

/// The (rel, href) link elements of a page's head.
/// The page's `prev`/`next` links (its canonical link is not navigation).
fn rels(html: &str) -> Vec<(String, String)> {
    let head = html.split("</head>").next().unwrap_or("");
    head.split("<link rel=\"")
        .skip(1)
        .filter_map(|rest| {
            let (rel, rest) = rest.split_once('"')?;
            let href = rest.split("href=\"").nth(1)?.split('"').next()?;
            Some((rel.to_owned(), href.to_owned()))
        })
        .filter(|(rel, _)| rel != "canonical")
        .collect()
}

fn link(rel: &str, href: &str) -> (String, String) {
    (rel.to_owned(), href.to_owned())
}

async fn every_match_is_on_its_month_page_linked_to_its_neighbours(t: TestStore) {
    let s = site(t).await;
    s.fixture("oct-a", "2026-10-03T15:00:00Z").await;
    s.fixture("oct-b", "2026-10-20T15:00:00Z").await;
    s.fixture("nov", "2026-11-07T15:00:00Z").await;
    s.fixture("dec", "2026-12-26T15:00:00Z").await;

    let (status, oct) = s.page("/matches/2026/10").await;
    assert_eq!(status, 200);
    assert!(oct.contains("October 2026"), "{oct}");
    assert!(oct.contains("/matches/oct-a") && oct.contains("/matches/oct-b"));
    assert!(!oct.contains("/matches/nov\""));
    assert_eq!(rels(&oct), vec![link("next", "/matches/2026/11")]);

    let (_, nov) = s.page("/matches/2026/11").await;
    assert!(nov.contains("/matches/nov"));
    assert_eq!(
        rels(&nov),
        vec![
            link("prev", "/matches/2026/10"),
            link("next", "/matches/2026/12")
        ]
    );
    let (_, dec) = s.page("/matches/2026/12").await;
    assert_eq!(rels(&dec), vec![link("prev", "/matches/2026/11")]);
    // The first page leads into the archive at its newest month.
    let (_, first) = s.page("/matches").await;
    assert_eq!(rels(&first), vec![link("next", "/matches/2026/12")]);
    assert_eq!(s.page("/matches/2026/09").await.0, 404);

    // A score change re-renders its own month, not the others.
    let store = &s.app.store;
    let dec = s.app.find_entry(&s.token, "match", |m| m["slug"] == "dec");
    let dec_id = dec.await["id"].as_str().unwrap().to_owned();
    let seq = store.last_seq().await.unwrap();
    let mut data = json!({"home_score": 3});
    data["status"] = json!("finished");
    s.republish(&dec_id, data).await;
    let events = store.events_since(seq, 10).await.unwrap();
    let paths: Vec<&str> = events
        .iter()
        .flat_map(|e| e.paths.iter())
        .map(String::as_str)
        .collect();
    assert!(paths.contains(&"/matches/2026/12"), "{paths:?}");
    assert!(!paths.contains(&"/matches/2026/11") && !paths.contains(&"/matches/2026/10"));
    assert!(s.page("/matches/2026/12").await.1.contains("3–"));
}

async fn a_match_moving_months_relinks_the_archive_and_an_empty_month_goes(t: TestStore) {
    let s = site(t).await;
    s.fixture("oct", "2026-10-03T15:00:00Z").await;
    let nov = s.fixture("nov", "2026-11-07T15:00:00Z").await;
    s.fixture("dec", "2026-12-26T15:00:00Z").await;

    // November's only match is moved to January: November's page goes,
    // its neighbours link past it, and January joins the end.
    s.republish(&nov, json!({"kickoff": "2027-01-09T15:00:00Z"}))
        .await;
    assert_eq!(s.page("/matches/2026/11").await.0, 404);
    let (_, oct) = s.page("/matches/2026/10").await;
    assert_eq!(rels(&oct), vec![link("next", "/matches/2026/12")]);
    let (_, dec) = s.page("/matches/2026/12").await;
    assert_eq!(
        rels(&dec),
        vec![
            link("prev", "/matches/2026/10"),
            link("next", "/matches/2027/01")
        ]
    );
    let (status, jan) = s.page("/matches/2027/01").await;
    assert_eq!(status, 200);
    assert!(jan.contains("/matches/nov"));
    assert_eq!(rels(&jan), vec![link("prev", "/matches/2026/12")]);
    assert_eq!(
        rels(&s.page("/matches").await.1),
        vec![link("next", "/matches/2027/01")]
    );

    // Unpublished, it leaves January empty: that page goes too.
    let r = s
        .app
        .api(
            Method::POST,
            &format!("/api/v1/entries/match/{nov}/unpublish"),
            &s.token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(s.page("/matches/2027/01").await.0, 404);
    assert_eq!(
        rels(&s.page("/matches/2026/12").await.1),
        vec![link("prev", "/matches/2026/10")]
    );
    assert_eq!(
        rels(&s.page("/matches").await.1),
        vec![link("next", "/matches/2026/12")]
    );
}
