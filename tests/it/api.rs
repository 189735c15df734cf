//! The editor API over real HTTP, on both backends: auth, every route and
//! status, validation, optimistic concurrency, scheduling, OpenAPI.

use std::time::Duration;

use keel::config::ServeConfig;
use keel::store::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestStore, copy_dir, demo_content_types, test_config};
use crate::on_both_backends;

on_both_backends!(
    fixture: requests_without_a_valid_token_are_401,
    editors_cannot_manage_tokens_but_admins_can,
    create_returns_201_with_location_and_etag,
    invalid_input_is_rejected_with_every_problem_named,
    duplicate_slugs_are_409,
    list_is_keyset_paginated_and_filtered,
    patch_merges_and_honours_if_match,
    racing_editors_with_if_match_exactly_one_wins,
    publish_requires_published_references_and_appends_an_event,
    unpublish_and_delete_append_events,
    revisions_list_every_version_with_its_author,
    scheduled_publish_fires_once,
    a_scheduled_entry_that_can_no_longer_publish_is_unscheduled,
    content_types_are_described,
    bad_bodies_are_4xx_problems_and_change_nothing,
    unique_fields_refuse_a_value_already_used,
    patch_and_delete_without_if_match_are_428_and_change_nothing,
    patch_with_publish_saves_and_publishes_as_one_version,
    withdrawing_a_referenced_entry_is_409_unless_forced,
    writers_draft_but_cannot_publish,
    editorial_actions_are_in_the_audit_log_with_who_and_where,
);

struct Api {
    app: TestApp,
    editor: String,
    admin: String,
}

async fn setup(store: TestStore) -> Api {
    setup_with(store, |c| c).await
}

async fn setup_with(store: TestStore, tweak: impl FnOnce(ServeConfig) -> ServeConfig) -> Api {
    let config = tweak(test_config(&store.url));
    let app = TestApp::spawn_with(config, store.store.clone(), Some(store)).await;
    let editor = app.token("desk", Role::Editor).await;
    let admin = app.token("ops", Role::Admin).await;
    Api { app, editor, admin }
}

struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Api {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.call_as(&self.editor, method, path, body, None).await
    }

    async fn call_as(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        if_match: Option<&str>,
    ) -> Reply {
        // PATCH and DELETE need If-Match (428 without); tests that do not
        // name a version mean "whatever is current". `required_if_match...`
        // sends none on purpose.
        let if_match = if_match.or(match method {
            Method::PATCH | Method::DELETE => Some("*"),
            _ => None,
        });
        let mut req = self.app.api(method, path, token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        if let Some(v) = if_match {
            req = req.header("If-Match", v);
        }
        reply(req.send().await.expect("request")).await
    }

    async fn create(&self, ty: &str, slug: &str, data: Value) -> Reply {
        self.call(
            Method::POST,
            &format!("/api/v1/entries/{ty}"),
            Some(json!({"slug": slug, "data": data})),
        )
        .await
    }

    async fn created_id(&self, ty: &str, slug: &str, data: Value) -> String {
        let r = self.create(ty, slug, data).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["id"].as_str().unwrap().to_owned()
    }

    async fn published_team(&self, slug: &str) -> String {
        let id = self.created_id("team", slug, json!({"name": slug})).await;
        let r = self
            .call(
                Method::POST,
                &format!("/api/v1/entries/team/{id}/publish"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        id
    }
}

async fn reply(resp: reqwest::Response) -> Reply {
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn assert_problem(r: &Reply, status: StatusCode) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(
        r.headers["content-type"], "application/problem+json",
        "{:?}",
        r.headers
    );
    for key in ["type", "title", "status", "detail"] {
        assert!(
            r.body.get(key).is_some(),
            "problem without {key}: {}",
            r.body
        );
    }
    assert_eq!(r.body["status"], status.as_u16());
}

fn pointers(r: &Reply) -> Vec<String> {
    r.body["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["pointer"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn requests_without_a_valid_token_are_401(store: TestStore) {
    let api = setup(store).await;
    let no_token = reply(api.app.get("/api/v1/entries/team").await).await;
    assert_problem(&no_token, StatusCode::UNAUTHORIZED);
    assert_eq!(no_token.headers["www-authenticate"], "Bearer");
    let unknown = api
        .call_as("keel_nope", Method::GET, "/api/v1/entries/team", None, None)
        .await;
    assert_problem(&unknown, StatusCode::UNAUTHORIZED);
    let basic = reply(
        api.app
            .client
            .get(format!("{}/api/v1/entries/team", api.app.addr))
            .header("Authorization", "Basic eDp5")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(&basic, StatusCode::UNAUTHORIZED);

    let ok = api.call(Method::GET, "/api/v1/entries/team", None).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.headers["cache-control"], "private, no-store");

    // last_used is recorded (asynchronously, at most once a minute).
    let mut used = None;
    for _ in 0..50 {
        used = api
            .app
            .store
            .tokens()
            .await
            .unwrap()
            .into_iter()
            .find(|t| t.name == "desk")
            .and_then(|t| t.last_used_at);
        if used.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(used.is_some(), "last_used_at was never written");
    api.app.store.revoke_token("desk").await.unwrap();
    let revoked = api.call(Method::GET, "/api/v1/entries/team", None).await;
    assert_problem(&revoked, StatusCode::UNAUTHORIZED);
}

async fn editors_cannot_manage_tokens_but_admins_can(store: TestStore) {
    let api = setup(store).await;
    let forbidden = api.call(Method::GET, "/api/v1/tokens", None).await;
    assert_problem(&forbidden, StatusCode::FORBIDDEN);
    let body = json!({"name": "intern", "role": "editor"});
    let forbidden = api
        .call(Method::POST, "/api/v1/tokens", Some(body.clone()))
        .await;
    assert_problem(&forbidden, StatusCode::FORBIDDEN);

    let created = api
        .call_as(
            &api.admin,
            Method::POST,
            "/api/v1/tokens",
            Some(body.clone()),
            None,
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    let works = api
        .call_as(&secret, Method::GET, "/api/v1/entries/team", None, None)
        .await;
    assert_eq!(works.status, StatusCode::OK);
    let dup = api
        .call_as(&api.admin, Method::POST, "/api/v1/tokens", Some(body), None)
        .await;
    assert_problem(&dup, StatusCode::CONFLICT);
    let bad = api
        .call_as(
            &api.admin,
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"name": "", "role": "root"})),
            None,
        )
        .await;
    assert_problem(&bad, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(pointers(&bad), vec!["/name", "/role"]);

    let list = api
        .call_as(&api.admin, Method::GET, "/api/v1/tokens", None, None)
        .await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 3);
    assert!(!list.body.to_string().contains(&secret));

    let revoke = api
        .call_as(
            &api.admin,
            Method::DELETE,
            "/api/v1/tokens/intern",
            None,
            None,
        )
        .await;
    assert_eq!(revoke.status, StatusCode::NO_CONTENT);
    let gone = api
        .call_as(&secret, Method::GET, "/api/v1/entries/team", None, None)
        .await;
    assert_problem(&gone, StatusCode::UNAUTHORIZED);
    let again = api
        .call_as(
            &api.admin,
            Method::DELETE,
            "/api/v1/tokens/intern",
            None,
            None,
        )
        .await;
    assert_problem(&again, StatusCode::NOT_FOUND);
}

async fn create_returns_201_with_location_and_etag(store: TestStore) {
    let api = setup(store).await;
    let r = api
        .create("team", "rovers", json!({"name": "Rovers", "founded": 1902}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().unwrap();
    assert_eq!(
        r.headers["location"],
        format!("/api/v1/entries/team/{id}").as_str()
    );
    assert_eq!(r.headers["etag"], "\"1\"");
    assert_eq!(r.headers["cache-control"], "private, no-store");
    for key in [
        "id",
        "type",
        "slug",
        "status",
        "version",
        "data",
        "created_at",
        "updated_at",
        "published_at",
        "publish_at",
    ] {
        assert!(r.body.get(key).is_some(), "no {key} in {}", r.body);
    }
    assert_eq!(r.body["type"], "team");
    assert_eq!(r.body["status"], "draft");
    assert_eq!(r.body["version"], 1);
    assert_eq!(r.body["data"]["name"], "Rovers");

    let got = api
        .call(Method::GET, &format!("/api/v1/entries/team/{id}"), None)
        .await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.headers["etag"], "\"1\"");
    assert_eq!(got.body, r.body);

    // The same id under another type, an unknown id and a non-id are all 404.
    for path in [
        format!("/api/v1/entries/match/{id}"),
        format!("/api/v1/entries/team/{}", uuid::Uuid::now_v7()),
        "/api/v1/entries/team/not-an-id".to_owned(),
    ] {
        assert_problem(
            &api.call(Method::GET, &path, None).await,
            StatusCode::NOT_FOUND,
        );
    }
    let unknown_type = api.create("player", "x", json!({})).await;
    assert_problem(&unknown_type, StatusCode::NOT_FOUND);
}

async fn invalid_input_is_rejected_with_every_problem_named(store: TestStore) {
    let api = setup(store).await;
    let r = api
        .create(
            "match",
            "Bad Slug",
            json!({
                "home_team": "not-a-uuid",
                "competition": 7,
                "kickoff": "tomorrow",
                "status": "postponed",
                "home_score": -1,
                "away_score": 1.5,
                "mascot": "lion",
            }),
        )
        .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY);
    let ptrs = pointers(&r);
    for p in [
        "/slug",
        "/data/home_team",
        "/data/away_team",
        "/data/competition",
        "/data/kickoff",
        "/data/status",
        "/data/home_score",
        "/data/away_score",
        "/data/mascot",
    ] {
        assert!(
            ptrs.contains(&p.to_owned()),
            "no problem for {p} in {ptrs:?}"
        );
    }
    for e in r.body["errors"].as_array().unwrap() {
        assert!(!e["message"].as_str().unwrap().is_empty());
    }

    // References must name existing entries of the right type.
    let team = api.created_id("team", "rovers", json!({"name": "R"})).await;
    let missing = uuid::Uuid::now_v7().to_string();
    let r = api
        .create(
            "match",
            "m",
            json!({"home_team": missing, "away_team": team, "competition": "Cup", "kickoff": "2026-11-25T19:45:00Z"}),
        )
        .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(pointers(&r), vec!["/data/home_team"]);

    for slug in [
        "a/b",
        "..",
        "a b",
        "ÄPFEL",
        "caf\u{e9}",
        "",
        "-x",
        "x\u{200b}y",
    ] {
        let r = api.create("team", slug, json!({"name": "x"})).await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            pointers(&r).contains(&"/slug".to_owned()),
            "slug {slug:?}: {}",
            r.body
        );
    }
    assert_eq!(
        api.app.store.count_entries().await.unwrap(),
        1,
        "nothing invalid was stored"
    );
}

async fn duplicate_slugs_are_409(store: TestStore) {
    let api = setup(store).await;
    api.created_id("team", "rovers", json!({"name": "R"})).await;
    let r = api.create("team", "rovers", json!({"name": "Other"})).await;
    assert_problem(&r, StatusCode::CONFLICT);
    assert!(r.body["detail"].as_str().unwrap().contains("rovers"));
}

async fn list_is_keyset_paginated_and_filtered(store: TestStore) {
    let api = setup(store).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            api.created_id("team", &format!("t{i}"), json!({"name": format!("T{i}")}))
                .await,
        );
    }
    api.call(
        Method::POST,
        &format!("/api/v1/entries/team/{}/publish", ids[2]),
        None,
    )
    .await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/entries/team?limit=2&cursor={c}"),
            None => "/api/v1/entries/team?limit=2".to_owned(),
        };
        let r = api.call(Method::GET, &path, None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let items = r.body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_owned()));
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ids);

    let published = api
        .call(Method::GET, "/api/v1/entries/team?status=published", None)
        .await;
    let items = published.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], ids[2].as_str());
    let drafts = api
        .call(
            Method::GET,
            "/api/v1/entries/team?status=draft&limit=1000",
            None,
        )
        .await;
    assert_eq!(
        drafts.body["items"].as_array().unwrap().len(),
        4,
        "limit is capped, not refused"
    );

    for bad in [
        "status=live",
        "limit=0",
        "limit=x",
        "cursor=zzz",
        "sort=name",
    ] {
        let r = api
            .call(Method::GET, &format!("/api/v1/entries/team?{bad}"), None)
            .await;
        assert_problem(&r, StatusCode::BAD_REQUEST);
    }
}

async fn patch_merges_and_honours_if_match(store: TestStore) {
    let api = setup(store).await;
    let id = api
        .created_id(
            "team",
            "rovers",
            json!({"name": "Rovers", "country": "England"}),
        )
        .await;
    let path = format!("/api/v1/entries/team/{id}");
    let r = api
        .call_as(
            &api.editor,
            Method::PATCH,
            &path,
            Some(json!({"data": {"founded": 1902, "country": null}})),
            Some("\"1\""),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.headers["etag"], "\"2\"");
    assert_eq!(r.body["data"], json!({"name": "Rovers", "founded": 1902}));

    let stale = api
        .call_as(
            &api.editor,
            Method::PATCH,
            &path,
            Some(json!({"data": {"name": "Stale"}})),
            Some("\"1\""),
        )
        .await;
    assert_problem(&stale, StatusCode::PRECONDITION_FAILED);
    let now = api.call(Method::GET, &path, None).await;
    assert_eq!(now.body["data"]["name"], "Rovers");
    assert_eq!(now.body["version"], 2);

    let renamed = api
        .call(Method::PATCH, &path, Some(json!({"slug": "rovers-fc"})))
        .await;
    assert_eq!(renamed.status, StatusCode::OK);
    assert_eq!(renamed.body["slug"], "rovers-fc");

    let invalid = api
        .call(
            Method::PATCH,
            &path,
            Some(json!({"data": {"founded": "long ago", "name": null}})),
        )
        .await;
    assert_problem(&invalid, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(pointers(&invalid), vec!["/data/name", "/data/founded"]);
    let bad_if_match = api
        .call_as(
            &api.editor,
            Method::PATCH,
            &path,
            Some(json!({"data": {}})),
            Some("three"),
        )
        .await;
    assert_problem(&bad_if_match, StatusCode::BAD_REQUEST);
    assert!(
        bad_if_match.body["detail"]
            .as_str()
            .unwrap()
            .contains("If-Match"),
        "{}",
        bad_if_match.body
    );
    // If-Match compares strongly (RFC 9110): a weak tag never matches, even
    // the current version's.
    let weak = api
        .call_as(
            &api.editor,
            Method::PATCH,
            &path,
            Some(json!({"data": {"name": "Weak"}})),
            Some("W/\"3\""),
        )
        .await;
    assert_problem(&weak, StatusCode::PRECONDITION_FAILED);
    assert!(
        weak.body["detail"].as_str().unwrap().contains("W/\"3\""),
        "{}",
        weak.body
    );
    let after = api.call(Method::GET, &path, None).await;
    assert_eq!(after.body["version"], 3, "refused patches change nothing");
    // A list matches if any of its tags does.
    let listed = api
        .call_as(
            &api.editor,
            Method::PATCH,
            &path,
            Some(json!({"data": {"name": "Listed"}})),
            Some("\"1\", W/\"2\", \"3\""),
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(listed.body["version"], 4);
}

async fn racing_editors_with_if_match_exactly_one_wins(store: TestStore) {
    let api = setup(store).await;
    let second = api.app.token("desk-2", Role::Editor).await;
    let id = api
        .created_id("team", "rovers", json!({"name": "Rovers"}))
        .await;
    let path = format!("/api/v1/entries/team/{id}");
    for round in 1..=5 {
        let version = format!("\"{round}\"");
        let (a, b) = tokio::join!(
            api.call_as(
                &api.editor,
                Method::PATCH,
                &path,
                Some(json!({"data": {"name": format!("A{round}")}})),
                Some(&version)
            ),
            api.call_as(
                &second,
                Method::PATCH,
                &path,
                Some(json!({"data": {"name": format!("B{round}")}})),
                Some(&version)
            ),
        );
        let mut statuses = [a.status, b.status];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::PRECONDITION_FAILED],
            "round {round}: {} / {}",
            a.body,
            b.body
        );
    }
    let revisions = api
        .call(Method::GET, &format!("{path}/revisions"), None)
        .await;
    let items = revisions.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 6, "create + one winning update per round");
    let versions: Vec<i64> = items
        .iter()
        .map(|r| r["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, (1..=6).collect::<Vec<_>>());
}

async fn publish_requires_published_references_and_appends_an_event(store: TestStore) {
    let api = setup(store).await;
    let home = api.published_team("home").await;
    let away = api
        .created_id("team", "away", json!({"name": "Away"}))
        .await;
    let id = api
        .created_id("match", "home-vs-away", json!({"home_team": home, "away_team": away, "competition": "Cup", "kickoff": "2026-11-25T19:45:00+01:00"}))
        .await;
    let publish = format!("/api/v1/entries/match/{id}/publish");
    let r = api.call(Method::POST, &publish, None).await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(pointers(&r), vec!["/data/away_team"]);

    api.call(
        Method::POST,
        &format!("/api/v1/entries/team/{away}/publish"),
        None,
    )
    .await;
    let seq_before = api.app.store.last_seq().await.unwrap();
    let r = api.call(Method::POST, &publish, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "published");
    assert!(r.body["published_at"].is_string());
    assert_eq!(
        r.body["data"]["status"], "scheduled",
        "defaults are filled in"
    );
    assert_eq!(r.body["data"]["home_score"], 0);
    assert_eq!(
        r.body["data"]["kickoff"], "2026-11-25T18:45:00Z",
        "datetimes are normalized to UTC"
    );
    let events = api.app.store.events_since(seq_before, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, "publish");
    assert_eq!(events[0].entry_id.unwrap().to_string(), id);
    assert!(
        events[0]
            .paths
            .contains(&"/matches/home-vs-away".to_owned()),
        "{:?}",
        events[0].paths
    );

    let stale = api
        .call_as(&api.editor, Method::POST, &publish, None, Some("\"1\""))
        .await;
    assert_problem(&stale, StatusCode::PRECONDITION_FAILED);

    // A malformed embargo is refused, never published at once.
    let embargoed = api
        .created_id("team", "embargoed", json!({"name": "E"}))
        .await;
    let path = format!("/api/v1/entries/team/{embargoed}/publish");
    for bad in [
        json!({"at": "2026-06-01T20:00:00"}),
        json!({"publish_at": "2030-01-01T00:00:00Z"}),
        json!(["x"]),
    ] {
        let r = api.call(Method::POST, &path, Some(bad.clone())).await;
        assert_problem(&r, StatusCode::BAD_REQUEST);
    }
    let text = reply(
        api.app
            .client
            .post(format!("{}{path}", api.app.addr))
            .bearer_auth(&api.editor)
            .header("Content-Type", "text/plain")
            .body("{\"at\": \"2030-01-01T00:00:00Z\"}")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(&text, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let still = api
        .call(
            Method::GET,
            &format!("/api/v1/entries/team/{embargoed}"),
            None,
        )
        .await;
    assert_eq!(still.body["status"], "draft");
}

async fn unpublish_and_delete_append_events(store: TestStore) {
    let api = setup(store).await;
    let id = api.published_team("rovers").await;
    let base = format!("/api/v1/entries/team/{id}");
    let seq = api.app.store.last_seq().await.unwrap();
    let r = api
        .call(Method::POST, &format!("{base}/unpublish"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "draft");
    let again = api
        .call(Method::POST, &format!("{base}/unpublish"), None)
        .await;
    assert_problem(&again, StatusCode::CONFLICT);

    let stale = api
        .call_as(&api.editor, Method::DELETE, &base, None, Some("\"1\""))
        .await;
    assert_problem(&stale, StatusCode::PRECONDITION_FAILED);
    let deleted = api.call(Method::DELETE, &base, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_problem(
        &api.call(Method::GET, &base, None).await,
        StatusCode::NOT_FOUND,
    );
    assert_problem(
        &api.call(Method::DELETE, &base, None).await,
        StatusCode::NOT_FOUND,
    );
    let kinds: Vec<String> = api
        .app
        .store
        .events_since(seq, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, vec!["unpublish", "delete"]);
}

async fn revisions_list_every_version_with_its_author(store: TestStore) {
    let api = setup(store).await;
    let id = api.created_id("team", "rovers", json!({"name": "A"})).await;
    let base = format!("/api/v1/entries/team/{id}");
    let second = api.app.token("night-desk", Role::Editor).await;
    api.call_as(
        &second,
        Method::PATCH,
        &base,
        Some(json!({"data": {"name": "B"}})),
        None,
    )
    .await;
    api.call(Method::POST, &format!("{base}/publish"), None)
        .await;
    let r = api
        .call(Method::GET, &format!("{base}/revisions"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let items = r.body["items"].as_array().unwrap();
    let summary: Vec<(i64, &str, &str)> = items
        .iter()
        .map(|i| {
            (
                i["version"].as_i64().unwrap(),
                i["action"].as_str().unwrap(),
                i["author"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, "create", "desk"),
            (2, "update", "night-desk"),
            (3, "publish", "desk")
        ]
    );
    assert!(items.iter().all(|i| i["created_at"].is_string()));

    let one = api
        .call(Method::GET, &format!("{base}/revisions/2"), None)
        .await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.body["data"]["name"], "B");
    assert_problem(
        &api.call(Method::GET, &format!("{base}/revisions/9"), None)
            .await,
        StatusCode::NOT_FOUND,
    );
    assert_problem(
        &api.call(Method::GET, &format!("{base}/revisions/x"), None)
            .await,
        StatusCode::NOT_FOUND,
    );
}

async fn a_scheduled_entry_that_can_no_longer_publish_is_unscheduled(store: TestStore) {
    let api = setup_with(store, |c| ServeConfig {
        schedule_every: Duration::from_millis(200),
        ..c
    })
    .await;
    let mut teams = Vec::new();
    for slug in ["rovers", "united"] {
        let id = api.created_id("team", slug, json!({"name": slug})).await;
        let r = api
            .call(
                Method::POST,
                &format!("/api/v1/entries/team/{id}/publish"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        teams.push(id);
    }
    let id = api
        .created_id(
            "match",
            "rovers-v-united",
            json!({"home_team": teams[0], "away_team": teams[1],
                   "competition": "Cup", "kickoff": "2026-05-30T18:00:00Z"}),
        )
        .await;
    let at = chrono::Utc::now() + chrono::Duration::milliseconds(800);
    let r = api
        .call(
            Method::POST,
            &format!("/api/v1/entries/match/{id}/publish"),
            Some(json!({"at": at.to_rfc3339()})),
        )
        .await;
    assert_eq!(r.body["status"], "scheduled", "{}", r.body);
    // Its home team is withdrawn before it is due: it can no longer go live.
    let r = api
        .call(
            Method::POST,
            &format!("/api/v1/entries/team/{}/unpublish", teams[0]),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    let path = format!("/api/v1/entries/match/{id}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = api.call(Method::GET, &path, None).await;
        if now.body["status"] != "scheduled" {
            assert_eq!(now.body["status"], "draft", "{}", now.body);
            assert!(now.body["publish_at"].is_null());
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never unscheduled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let revisions = api.app.store.revisions(id.parse().unwrap()).await.unwrap();
    let last = revisions.last().unwrap();
    assert_eq!(
        (last.action.as_str(), last.author.as_str()),
        ("unschedule", "scheduler")
    );
    assert!(revisions.iter().all(|r| r.action != "publish"));
}

async fn scheduled_publish_fires_once(store: TestStore) {
    let api = setup_with(store, |c| ServeConfig {
        schedule_every: Duration::from_millis(200),
        ..c
    })
    .await;
    let id = api
        .created_id("team", "later", json!({"name": "Later"}))
        .await;
    let at = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let r = api
        .call(
            Method::POST,
            &format!("/api/v1/entries/team/{id}/publish"),
            Some(json!({"at": at.to_rfc3339()})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "scheduled");
    assert!(r.body["publish_at"].is_string());
    let path = format!("/api/v1/entries/team/{id}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = api.call(Method::GET, &path, None).await;
        if now.body["status"] == "published" {
            let published_at: chrono::DateTime<chrono::Utc> =
                now.body["published_at"].as_str().unwrap().parse().unwrap();
            assert!(published_at >= at, "published before its time");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "scheduled publish never fired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let revisions = api.app.store.revisions(id.parse().unwrap()).await.unwrap();
    let publishes = revisions.iter().filter(|r| r.action == "publish").count();
    assert_eq!(publishes, 1);
}

async fn content_types_are_described(store: TestStore) {
    let api = setup(store).await;
    let all = api.call(Method::GET, "/api/v1/content-types", None).await;
    assert_eq!(all.status, StatusCode::OK);
    let names: Vec<&str> = all.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["article", "match", "team"]);
    let m = api
        .call(Method::GET, "/api/v1/content-types/match", None)
        .await;
    assert_eq!(m.status, StatusCode::OK);
    assert_eq!(m.body["route"], "/matches/{slug}");
    let text = m.body.to_string();
    for field in [
        "home_team",
        "away_team",
        "competition",
        "kickoff",
        "venue",
        "status",
        "home_score",
        "away_score",
        "report",
    ] {
        assert!(text.contains(field), "{field} missing from {text}");
    }
    assert_problem(
        &api.call(Method::GET, "/api/v1/content-types/player", None)
            .await,
        StatusCode::NOT_FOUND,
    );
}

async fn bad_bodies_are_4xx_problems_and_change_nothing(store: TestStore) {
    let api = setup_with(store, |c| ServeConfig {
        max_body_bytes: 4096,
        ..c
    })
    .await;
    let id = api
        .created_id("team", "rovers", json!({"name": "Rovers"}))
        .await;
    let path = format!("/api/v1/entries/team/{id}");
    let url = format!("{}{path}", api.app.addr);
    let send = |body: Vec<u8>, content_type: &'static str| {
        api.app
            .client
            .patch(url.clone())
            .bearer_auth(&api.editor)
            .header("If-Match", "*")
            .header("Content-Type", content_type)
            .body(body)
            .send()
    };
    let big = format!("{{\"data\": {{\"bio\": \"{}\"}}}}", "x".repeat(5000));
    assert_problem(
        &reply(
            send(big.clone().into_bytes(), "application/json")
                .await
                .unwrap(),
        )
        .await,
        StatusCode::PAYLOAD_TOO_LARGE,
    );
    // The publish body is read raw (it may be empty): the same limit, the
    // same problem.
    let too_big_publish = api
        .app
        .client
        .post(format!("{url}/publish"))
        .bearer_auth(&api.editor)
        .header("Content-Type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    let problem = reply(too_big_publish).await;
    assert_problem(&problem, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        problem.body["detail"]
            .as_str()
            .unwrap()
            .contains("4096 bytes"),
        "{}",
        problem.body
    );
    assert_problem(
        &reply(
            send(b"{\"data\": {".to_vec(), "application/json")
                .await
                .unwrap(),
        )
        .await,
        StatusCode::BAD_REQUEST,
    );
    assert_problem(
        &reply(
            send(b"{\"data\": {}}".to_vec(), "text/plain")
                .await
                .unwrap(),
        )
        .await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    );
    let unknown = reply(
        send(b"{\"dat\": {}}".to_vec(), "application/json")
            .await
            .unwrap(),
    )
    .await;
    assert_problem(&unknown, StatusCode::BAD_REQUEST);
    assert!(
        unknown.body["detail"].as_str().unwrap().contains("dat"),
        "{}",
        unknown.body
    );
    assert_problem(
        &reply(send(b"[1, 2]".to_vec(), "application/json").await.unwrap()).await,
        StatusCode::BAD_REQUEST,
    );
    assert_problem(
        &reply(send(vec![0xff, 0xfe], "application/json").await.unwrap()).await,
        StatusCode::BAD_REQUEST,
    );
    let huge = reply(
        send(
            b"{\"data\": {\"founded\": 1e400}}".to_vec(),
            "application/json",
        )
        .await
        .unwrap(),
    )
    .await;
    assert!(huge.status.is_client_error(), "{}", huge.body);
    let out_of_range = api
        .call(
            Method::PATCH,
            &path,
            Some(json!({"data": {"founded": 18446744073709551615u64}})),
        )
        .await;
    assert_problem(&out_of_range, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(pointers(&out_of_range), vec!["/data/founded"]);
    let unknown_field = api
        .call(
            Method::PATCH,
            &path,
            Some(json!({"data": {"colour": "red"}})),
        )
        .await;
    assert_problem(&unknown_field, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(pointers(&unknown_field), vec!["/data/colour"]);

    let r = api.call(Method::GET, &path, None).await;
    assert_eq!(r.body["version"], 1, "no bad request changed the entry");
    assert_eq!(r.body["data"], json!({"name": "Rovers"}));
    // The server is still healthy after all of it.
    assert_eq!(api.app.get("/healthz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn openapi_document_lists_every_route() {
    let store = TestStore::sqlite().await;
    let api = setup(store).await;
    let r = reply(api.app.get("/api/v1/openapi.json").await).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = r.body["paths"].as_object().unwrap();
    let expected: &[(&str, &[&str])] = &[
        ("/api/v1/entries/{type}", &["get", "post"]),
        ("/api/v1/entries/{type}/{id}", &["get", "patch", "delete"]),
        ("/api/v1/entries/{type}/{id}/publish", &["post"]),
        ("/api/v1/entries/{type}/{id}/unpublish", &["post"]),
        ("/api/v1/entries/{type}/{id}/revisions", &["get"]),
        ("/api/v1/entries/{type}/{id}/revisions/{version}", &["get"]),
        ("/api/v1/content-types", &["get"]),
        ("/api/v1/content-types/{type}", &["get"]),
        ("/api/v1/media", &["get", "post"]),
        ("/api/v1/media/{id}", &["get", "patch", "delete"]),
        ("/api/v1/media/cleanup", &["post"]),
        ("/api/v1/openapi.json", &["get"]),
        ("/api/v1/tokens", &["get", "post"]),
        ("/api/v1/tokens/{name}", &["delete"]),
        ("/api/v1/prewarm", &["post"]),
        ("/api/v1/outbox", &["get"]),
        ("/api/v1/audit", &["get"]),
        ("/api/v1/content/{type}/{slug}", &["get"]),
        ("/preview/{type}/{id}", &["get"]),
        ("/healthz", &["get"]),
        ("/readyz", &["get"]),
        ("/metrics", &["get"]),
    ];
    for (path, methods) in expected {
        let item = paths.get(*path).unwrap_or_else(|| panic!("{path} missing"));
        for m in *methods {
            assert!(item.get(*m).is_some(), "{m} {path} missing");
        }
    }
    assert_eq!(
        paths.len(),
        expected.len(),
        "undocumented extra paths: {:?}",
        paths.keys()
    );
    // Every status keel can answer is documented where it can happen.
    let statuses = |path: &str, method: &str| -> Vec<String> {
        paths[path][method]["responses"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    for (path, methods) in expected {
        for m in *methods {
            let documented = statuses(path, m);
            for status in [
                "400", "408", "413", "414", "417", "431", "500", "501", "505",
            ] {
                assert!(
                    documented.iter().any(|s| s == status),
                    "{m} {path} lacks {status}"
                );
            }
        }
    }
    let patch = statuses("/api/v1/entries/{type}/{id}", "patch");
    for status in [
        "200", "401", "403", "404", "409", "412", "415", "422", "428", "503",
    ] {
        assert!(
            patch.iter().any(|s| s == status),
            "PATCH lacks {status}: {patch:?}"
        );
    }
    let create = statuses("/api/v1/entries/{type}", "post");
    assert!(create.iter().any(|s| s == "415"), "{create:?}");
}

#[tokio::test]
async fn a_scheduled_publish_fires_once_with_two_servers_on_one_database() {
    let Some(fixture) = TestStore::postgres().await else {
        return;
    };
    let fast = |url| ServeConfig {
        schedule_every: Duration::from_millis(100),
        ..test_config(url)
    };
    let url = fixture.url.clone();
    let store = fixture.store.clone();
    let a = TestApp::spawn_with(fast(&url), store.clone(), Some(fixture)).await;
    let b = TestApp::spawn_with(fast(&url), store.clone(), None).await;
    let token = a.token("desk", Role::Editor).await;
    let mut ids = Vec::new();
    for i in 0..10 {
        let r = reply(
            a.api(Method::POST, "/api/v1/entries/team", &token)
                .json(&json!({"slug": format!("t{i}"), "data": {"name": "T"}}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        let id = r.body["id"].as_str().unwrap().to_owned();
        let at = chrono::Utc::now() + chrono::Duration::milliseconds(800);
        let s = reply(
            b.api(
                Method::POST,
                &format!("/api/v1/entries/team/{id}/publish"),
                &token,
            )
            .json(&json!({"at": at.to_rfc3339()}))
            .send()
            .await
            .unwrap(),
        )
        .await;
        assert_eq!(s.body["status"], "scheduled", "{}", s.body);
        ids.push(id.parse::<uuid::Uuid>().unwrap());
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while store.published_entries("team").await.unwrap().len() < ids.len() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "scheduled publishes did not all fire"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for id in ids {
        let publishes = store
            .revisions(id)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.action == "publish")
            .count();
        assert_eq!(publishes, 1, "entry {id} published {publishes} times");
    }
    let events = store.events_since(0, 1000).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.kind == "publish").count(), 10);
    drop(b);
}

async fn unique_fields_refuse_a_value_already_used(store: TestStore) {
    let types = tempfile::tempdir().unwrap();
    copy_dir(&demo_content_types(), types.path());
    let schema = types.path().join("team/type.toml");
    let text = std::fs::read_to_string(&schema).unwrap();
    let text = text.replace("[fields.name]\n", "[fields.name]\nunique = true\n");
    std::fs::write(&schema, text).unwrap();
    let dir = types.path().to_path_buf();
    let api = setup_with(store, |c| ServeConfig {
        content_types: dir,
        ..c
    })
    .await;
    let first = api
        .created_id("team", "rovers", json!({"name": "Rovers"}))
        .await;
    let dup = api
        .create("team", "rovers-2", json!({"name": "Rovers"}))
        .await;
    assert_problem(&dup, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(pointers(&dup), vec!["/data/name"]);
    let other = api
        .created_id("team", "city", json!({"name": "City"}))
        .await;
    let clash = api
        .call(
            Method::PATCH,
            &format!("/api/v1/entries/team/{other}"),
            Some(json!({"data": {"name": "Rovers"}})),
        )
        .await;
    assert_problem(&clash, StatusCode::UNPROCESSABLE_ENTITY);
    // An entry keeps its own value through an update.
    let own = api
        .call(
            Method::PATCH,
            &format!("/api/v1/entries/team/{first}"),
            Some(json!({"data": {"country": "England"}})),
        )
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
    drop(types);
}

async fn patch_and_delete_without_if_match_are_428_and_change_nothing(store: TestStore) {
    let api = setup(store).await;
    let id = api
        .created_id("team", "rovers", json!({"name": "Rovers"}))
        .await;
    let path = format!("/api/v1/entries/team/{id}");
    let patch = reply(
        api.app
            .api(Method::PATCH, &path, &api.editor)
            .json(&json!({"data": {"name": "Overwritten"}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(&patch, StatusCode::PRECONDITION_REQUIRED);
    assert_eq!(patch.body["code"], "precondition-required");
    let detail = patch.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("If-Match") && detail.contains("ETag"),
        "{detail}"
    );
    let delete = reply(
        api.app
            .api(Method::DELETE, &path, &api.editor)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(&delete, StatusCode::PRECONDITION_REQUIRED);
    let now = api.call(Method::GET, &path, None).await;
    assert_eq!(now.body["version"], 1, "nothing changed: {}", now.body);
    assert_eq!(now.body["data"]["name"], "Rovers");
}

async fn patch_with_publish_saves_and_publishes_as_one_version(store: TestStore) {
    let api = setup(store).await;
    let id = api
        .created_id("team", "rovers", json!({"name": "Rovers"}))
        .await;
    let path = format!("/api/v1/entries/team/{id}");
    let r = api
        .call_as(
            &api.editor,
            Method::PATCH,
            &format!("{path}?publish=true"),
            Some(json!({"data": {"name": "Rovers FC"}})),
            Some("\"1\""),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "published");
    assert_eq!(
        r.body["version"], 2,
        "one version for the save and the publish"
    );
    assert_eq!(r.body["unpublished_changes"], false);
    assert_eq!(r.headers["etag"], "\"2\"");
    let page = api.app.get("/teams/rovers").await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Rovers FC"));

    // An edit without publishing leaves the live version and says so.
    let draft = api
        .call(
            Method::PATCH,
            &path,
            Some(json!({"data": {"name": "Draft"}})),
        )
        .await;
    assert_eq!(draft.body["unpublished_changes"], true, "{}", draft.body);
    assert_eq!(draft.body["status"], "published");

    // Invalid data: nothing saved, nothing published.
    let bad = api
        .call(
            Method::PATCH,
            &format!("{path}?publish=true"),
            Some(json!({"data": {"founded": "long ago"}})),
        )
        .await;
    assert_problem(&bad, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(pointers(&bad), vec!["/data/founded"]);
    let stale = api
        .call_as(
            &api.editor,
            Method::PATCH,
            &format!("{path}?publish=true"),
            Some(json!({"data": {"name": "Stale"}})),
            Some("\"2\""),
        )
        .await;
    assert_problem(&stale, StatusCode::PRECONDITION_FAILED);
    let now = api.call(Method::GET, &path, None).await;
    assert_eq!(now.body["version"], 3);
    assert_eq!(now.body["data"]["name"], "Draft");
    let revisions = api
        .call(Method::GET, &format!("{path}/revisions"), None)
        .await;
    let actions: Vec<&str> = revisions.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["create", "publish", "update"]);
    let unknown = api
        .call(
            Method::PATCH,
            &format!("{path}?publish=yes"),
            Some(json!({})),
        )
        .await;
    assert_problem(&unknown, StatusCode::BAD_REQUEST);
}

async fn withdrawing_a_referenced_entry_is_409_unless_forced(store: TestStore) {
    let api = setup(store).await;
    let home = api
        .app
        .publish_new(&api.editor, "team", "harbour", json!({"name": "Harbour"}))
        .await;
    let away = api
        .app
        .publish_new(&api.editor, "team", "rovers", json!({"name": "Rovers"}))
        .await;
    let m = api
        .app
        .publish_new(
            &api.editor,
            "match",
            "harbour-v-rovers",
            json!({"home_team": home, "away_team": away, "competition": "Cup",
                   "kickoff": "2026-05-01T15:00:00Z"}),
        )
        .await;
    let base = format!("/api/v1/entries/team/{away}");
    for (method, path) in [
        (Method::POST, format!("{base}/unpublish")),
        (Method::DELETE, base.clone()),
    ] {
        let r = api.call(method.clone(), &path, None).await;
        assert_problem(&r, StatusCode::CONFLICT);
        assert_eq!(r.body["code"], "referenced", "{method} {}", r.body);
        assert_eq!(
            r.body["referrers"],
            json!([{"id": m, "type": "match", "slug": "harbour-v-rovers"}])
        );
        assert!(r.body["detail"].as_str().unwrap().contains("force=true"));
    }
    let page = api
        .app
        .get("/matches/harbour-v-rovers")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("/teams/rovers"), "{page}");

    let r = api
        .call(Method::POST, &format!("{base}/unpublish?force=true"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // The match page no longer links the withdrawn team.
    let page = api
        .app
        .get("/matches/harbour-v-rovers")
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("/teams/rovers"), "{page}");
    assert_eq!(api.app.get("/teams/rovers").await.status(), 404);
    let r = api
        .call(Method::DELETE, &format!("{base}?force=true"), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
}

async fn writers_draft_but_cannot_publish(store: TestStore) {
    let api = setup(store).await;
    let writer = api.app.token("stringer", Role::Writer).await;
    let created = api
        .call_as(
            &writer,
            Method::POST,
            "/api/v1/entries/team",
            Some(json!({"slug": "rovers", "data": {"name": "Rovers"}})),
            None,
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap();
    let base = format!("/api/v1/entries/team/{id}");
    let edited = api
        .call_as(
            &writer,
            Method::PATCH,
            &base,
            Some(json!({"data": {"name": "Rovers FC"}})),
            None,
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.body);
    for (method, path, body) in [
        (Method::POST, format!("{base}/publish"), None),
        (
            Method::POST,
            format!("{base}/publish"),
            Some(json!({"at": "2099-01-01T00:00:00Z"})),
        ),
        (
            Method::PATCH,
            format!("{base}?publish=true"),
            Some(json!({"data": {}})),
        ),
        (Method::POST, format!("{base}/unpublish"), None),
        (Method::DELETE, base.clone(), None),
    ] {
        let r = api
            .call_as(&writer, method.clone(), &path, body, None)
            .await;
        assert_problem(&r, StatusCode::FORBIDDEN);
        assert!(
            r.body["detail"].as_str().unwrap().contains("writer"),
            "{method} {path}: {}",
            r.body
        );
    }
    let now = api.call(Method::GET, &base, None).await;
    assert_eq!(now.body["status"], "draft");
    assert_eq!(now.body["version"], 2);
}

async fn editorial_actions_are_in_the_audit_log_with_who_and_where(store: TestStore) {
    let api = setup(store).await;
    let id = api
        .created_id("team", "rovers", json!({"name": "Rovers"}))
        .await;
    let base = format!("/api/v1/entries/team/{id}");
    api.call(Method::POST, &format!("{base}/publish"), None)
        .await;
    api.call(
        Method::PATCH,
        &base,
        Some(json!({"data": {"name": "Rovers FC"}})),
    )
    .await;
    let path = format!("/api/v1/audit?entry={id}");
    let refused = api.call(Method::GET, &path, None).await;
    assert_problem(&refused, StatusCode::FORBIDDEN);
    let log = api
        .call_as(&api.admin, Method::GET, &path, None, None)
        .await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.body);
    let items = log.body["items"].as_array().unwrap();
    let actions: Vec<&str> = items
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["entry.update", "entry.publish", "entry.create"]);
    for r in items {
        assert_eq!(r["actor"], "desk");
        assert_eq!(r["actor_kind"], "token");
        assert_eq!(r["address"], "127.0.0.1");
        assert_eq!(r["target"], format!("team/{id}"));
    }
    let first = api
        .call_as(
            &api.admin,
            Method::GET,
            &format!("{path}&limit=2"),
            None,
            None,
        )
        .await;
    let before = first.body["next_before"].as_i64().expect("another page");
    let rest = api
        .call_as(
            &api.admin,
            Method::GET,
            &format!("{path}&limit=2&before={before}"),
            None,
            None,
        )
        .await;
    assert_eq!(rest.body["items"][0]["action"], "entry.create");
    assert!(rest.body["next_before"].is_null());
    // Token management is an admin action in the log too.
    api.call_as(
        &api.admin,
        Method::POST,
        "/api/v1/tokens",
        Some(json!({"name": "bot", "role": "writer"})),
        None,
    )
    .await;
    let tokens = api
        .call_as(
            &api.admin,
            Method::GET,
            "/api/v1/audit?action=token.",
            None,
            None,
        )
        .await;
    assert_eq!(tokens.body["items"][0]["target"], "token/bot");
    assert_eq!(tokens.body["items"][0]["actor"], "ops");
}
