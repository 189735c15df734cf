//! The app at `/admin` over real HTTP, as a browser without JavaScript
//! uses it: sign-in, sessions, CSRF, roles, the forms generated from the
//! schemas, review, and what the app refuses. (The browser tests drive the
//! same pages in Chromium.)

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use serde_json::json;

use crate::helpers::{TestApp, TestStore};
use crate::on_both_backends;
use keel::accounts::{Accounts, SessionPolicy};
use keel::store::Role;

on_both_backends!(
    fixture: signing_in_sets_a_strict_http_only_cookie_and_signing_out_ends_it,
    every_app_page_has_a_strict_content_security_policy,
    forms_without_the_sessions_csrf_token_are_403_and_change_nothing,
    writers_save_and_submit_but_cannot_publish_in_the_app_or_the_api,
    a_disabled_accounts_sessions_stop_working_at_once,
    sign_in_is_rate_limited_per_account,
    stored_markup_is_shown_as_text,
    the_form_shows_each_problem_next_to_its_field,
    an_editor_approves_a_submitted_draft_and_readers_see_it,
    lists_search_titles_and_slugs,
    the_live_console_publishes_each_click_and_readers_see_it,
    an_old_version_is_restored_as_the_working_copy,
    an_admin_manages_accounts_and_reads_the_audit_log,
    new_site_settings_reach_every_page,
);

pub(crate) const PASSWORD: &str = "a long enough password";

/// A browser without JavaScript: keeps its cookies, follows nothing.
pub(crate) struct Browser {
    addr: String,
    client: reqwest::Client,
    cookies: Vec<(String, String)>,
    /// Sent as `X-Forwarded-For`, as a proxy in front would.
    forwarded_for: Option<String>,
}

pub(crate) struct Page {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Page {
    /// The value of the first `<input name=...>` on the page.
    pub(crate) fn input(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no input {name} in {}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].to_owned()
    }

    pub(crate) fn location(&self) -> &str {
        self.headers[LOCATION].to_str().unwrap()
    }
}

impl Browser {
    pub(crate) fn new(app: &TestApp) -> Browser {
        Browser {
            addr: app.addr.clone(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Vec::new(),
            forwarded_for: None,
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self
            .client
            .request(method, format!("{}{path}", self.addr))
            .header("Cookie", self.cookie_header());
        match &self.forwarded_for {
            Some(value) => r.header("X-Forwarded-For", value),
            None => r,
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn keep(&mut self, response: reqwest::Response) -> Page {
        for value in response.headers().get_all(SET_COOKIE) {
            let value = value.to_str().unwrap();
            let (pair, _) = value.split_once(';').unwrap_or((value, ""));
            let (name, v) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != name);
            if !value.contains("Max-Age=0") {
                self.cookies.push((name.to_owned(), v.to_owned()));
            }
        }
        Page {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Page {
        let r = self
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .unwrap();
        self.keep(r).await
    }

    pub(crate) async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let r = self
            .request(reqwest::Method::POST, path)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(form).unwrap())
            .send()
            .await
            .unwrap();
        self.keep(r).await
    }

    /// A form sent with its own encoding (an upload's multipart body).
    pub(crate) async fn post_body(
        &mut self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Page {
        let r = self
            .request(reqwest::Method::POST, path)
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        self.keep(r).await
    }

    pub(crate) async fn sign_in(&mut self, email: &str, password: &str) -> Page {
        let form = self.get("/admin/login").await;
        let csrf = form.input("csrf");
        self.post(
            "/admin/login",
            &[
                ("email", email),
                ("password", password),
                ("csrf", &csrf),
                ("next", "/admin"),
            ],
        )
        .await
    }

    /// Signed in as a new account with `role`.
    pub(crate) async fn signed_in(app: &TestApp, email: &str, role: Role) -> Browser {
        let accounts = Accounts::new(app.store.clone(), SessionPolicy::default());
        accounts
            .create_user(email, "Test Person", role, PASSWORD)
            .await
            .unwrap();
        let mut browser = Browser::new(app);
        let page = browser.sign_in(email, PASSWORD).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        browser
    }

    /// The CSRF token of the signed-in session, from any app page.
    pub(crate) async fn csrf(&mut self) -> String {
        self.get("/admin").await.input("csrf")
    }
}

async fn app(t: TestStore) -> TestApp {
    TestApp::spawn(t, false).await
}

/// An app on SQLite configured by `configure`, with an editor account
/// `ed@example.com` (password [`PASSWORD`]).
async fn sqlite_app_with_editor(configure: impl FnOnce(&mut keel::config::ServeConfig)) -> TestApp {
    let store = TestStore::sqlite().await;
    let mut config = crate::helpers::test_config(&store.url);
    configure(&mut config);
    let app = TestApp::spawn_with(config, store.store.clone(), Some(store)).await;
    Accounts::new(app.store.clone(), SessionPolicy::default())
        .create_user("ed@example.com", "Ed", Role::Editor, PASSWORD)
        .await
        .unwrap();
    app
}

async fn signing_in_sets_a_strict_http_only_cookie_and_signing_out_ends_it(t: TestStore) {
    let app = app(t).await;
    let mut browser = Browser::signed_in(&app, "ed@example.com", Role::Editor).await;
    let home = browser.get("/admin").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("Test Person"), "{}", home.body);

    let mut fresh = Browser::new(&app);
    let login = fresh.get("/admin/login").await;
    let csrf = login.input("csrf");
    let signed = fresh
        .post(
            "/admin/login",
            &[
                ("email", "ED@example.com "),
                ("password", PASSWORD),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    assert_eq!(signed.location(), "/admin");
    let cookie = signed
        .headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with("keel_session="))
        .expect("a session cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP here: {cookie}");

    let csrf = browser.csrf().await;
    let out = browser.post("/admin/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let after = browser.get("/admin").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert!(after.location().starts_with("/admin/login"));

    // Wrong password: one message for every failure, 401, no cookie.
    let mut stranger = Browser::new(&app);
    let page = stranger.sign_in("ed@example.com", "not the password").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.body.contains("wrong email or password"));
    let unknown = stranger.sign_in("nobody@example.com", PASSWORD).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(!stranger.cookies.iter().any(|(n, _)| n == "keel_session"));
}

async fn every_app_page_has_a_strict_content_security_policy(t: TestStore) {
    let app = app(t).await;
    let mut browser = Browser::signed_in(&app, "ed@example.com", Role::Editor).await;
    let team = app
        .publish_new(
            &app.token("t", Role::Editor).await,
            "team",
            "rovers",
            json!({"name": "Rovers"}),
        )
        .await;
    for path in [
        "/admin/login".to_owned(),
        "/admin".to_owned(),
        "/admin/entries/team".to_owned(),
        "/admin/entries/team/new".to_owned(),
        format!("/admin/entries/team/{team}"),
        format!("/admin/entries/team/{team}/history"),
        "/admin/users".to_owned(),
        "/admin/audit".to_owned(),
        "/admin/entries/nope".to_owned(),
    ] {
        let page = browser.get(&path).await;
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(page.headers["cache-control"], "private, no-store", "{path}");
        assert_eq!(page.headers["x-content-type-options"], "nosniff", "{path}");
        assert!(!page.body.contains("<script>"), "{path}: no inline script");
        assert!(!page.body.contains("style=\""), "{path}: no inline style");
    }
}

async fn forms_without_the_sessions_csrf_token_are_403_and_change_nothing(t: TestStore) {
    let app = app(t).await;
    let mut browser = Browser::signed_in(&app, "ed@example.com", Role::Editor).await;
    let token = app.token("t", Role::Editor).await;
    let team = app
        .publish_new(&token, "team", "rovers", json!({"name": "Rovers"}))
        .await;
    let path = format!("/admin/entries/team/{team}");
    let edit = browser.get(&path).await;
    let version = edit.input("version");
    for csrf in [None, Some("keel_wrong"), Some("")] {
        let mut form = vec![
            ("version", version.as_str()),
            ("action", "save_publish"),
            ("slug", "rovers"),
            ("data.name", "Hijacked"),
        ];
        if let Some(c) = csrf {
            form.push(("csrf", c));
        }
        let page = browser.post(&path, &form).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{csrf:?}");
        assert!(page.body.contains("another site"), "{}", page.body);
    }
    // Another person's token is not this session's.
    let mut other = Browser::signed_in(&app, "other@example.com", Role::Editor).await;
    let theirs = other.csrf().await;
    let page = browser
        .post(
            &path,
            &[
                ("csrf", &theirs),
                ("version", &version),
                ("action", "unpublish"),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    // A browser says the request came from elsewhere: refused even with the token.
    let mine = browser.csrf().await;
    let r = browser
        .client
        .post(format!("{}{path}", app.addr))
        .header("Cookie", browser.cookie_header())
        .header("Sec-Fetch-Site", "cross-site")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(
            serde_urlencoded::to_string([
                ("csrf", mine.as_str()),
                ("version", &version),
                ("action", "unpublish"),
                ("confirm", "yes"),
            ])
            .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Sign-out needs it too.
    assert_eq!(
        browser.post("/admin/logout", &[]).await.status,
        StatusCode::FORBIDDEN
    );
    // Sign-in needs its own token (a login form posted from another site).
    let mut forger = Browser::new(&app);
    let page = forger
        .post(
            "/admin/login",
            &[("email", "ed@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);

    let entry = app
        .store
        .entry(team.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.version, 2, "nothing changed");
    assert_eq!(entry.data["name"], "Rovers");
    assert!(
        app.get("/teams/rovers")
            .await
            .text()
            .await
            .unwrap()
            .contains("Rovers")
    );
}

async fn writers_save_and_submit_but_cannot_publish_in_the_app_or_the_api(t: TestStore) {
    let app = app(t).await;
    let mut writer = Browser::signed_in(&app, "w@example.com", Role::Writer).await;
    let csrf = writer.csrf().await;
    let created = writer
        .post(
            "/admin/entries/team/new",
            &[
                ("csrf", &csrf),
                ("action", "save"),
                ("slug", "rovers"),
                ("data.name", "Rovers"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let path = created.location().split('?').next().unwrap().to_owned();
    let id: uuid::Uuid = path.rsplit('/').next().unwrap().parse().unwrap();
    let edit = writer.get(&path).await;
    assert!(
        !edit.body.contains("value=\"save_publish\""),
        "no publish button for writers"
    );
    let version = edit.input("version");
    for action in ["save_publish", "publish", "unpublish", "delete", "return"] {
        let page = writer
            .post(
                &path,
                &[
                    ("csrf", &csrf),
                    ("version", &version),
                    ("action", action),
                    ("confirm", "yes"),
                    ("slug", "rovers"),
                    ("data.name", "Rovers"),
                    ("comment", "x"),
                ],
            )
            .await;
        assert_eq!(
            page.status,
            StatusCode::FORBIDDEN,
            "{action}: {}",
            page.body
        );
        assert!(page.body.contains("editor role"), "{action}: {}", page.body);
    }
    // The API with the same session: a writer's publish is refused too.
    let api = writer
        .client
        .post(format!("{}/api/v1/entries/team/{id}/publish", app.addr))
        .header("Cookie", writer.cookie_header())
        .header("X-CSRF-Token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::FORBIDDEN);
    // ... and an API change with the session but without its CSRF header.
    let api = writer
        .client
        .patch(format!("{}/api/v1/entries/team/{id}", app.addr))
        .header("Cookie", writer.cookie_header())
        .header("If-Match", "*")
        .json(&json!({"data": {"name": "Sneaky"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::FORBIDDEN);
    let submitted = writer
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("action", "submit"),
                ("comment", "ready"),
            ],
        )
        .await;
    assert_eq!(
        submitted.status,
        StatusCode::SEE_OTHER,
        "{}",
        submitted.body
    );
    let entry = app.store.entry(id).await.unwrap().unwrap();
    assert_eq!(entry.status, keel::model::EntryStatus::Draft);
    assert_eq!(entry.data["name"], "Rovers");
    let review = app
        .store
        .review(id)
        .await
        .unwrap()
        .expect("a review request");
    assert_eq!(review.actor, "w@example.com");
    assert_eq!(review.comment, "ready");
    let revisions = app.store.revisions(id).await.unwrap();
    assert_eq!(
        revisions[0].author, "w@example.com",
        "revisions name the person"
    );
}

async fn a_disabled_accounts_sessions_stop_working_at_once(t: TestStore) {
    let app = app(t).await;
    let mut browser = Browser::signed_in(&app, "ed@example.com", Role::Editor).await;
    assert_eq!(browser.get("/admin").await.status, StatusCode::OK);
    let accounts = Accounts::new(app.store.clone(), SessionPolicy::default());
    let user = app
        .store
        .user_by_email("ed@example.com")
        .await
        .unwrap()
        .unwrap();
    accounts.set_disabled(user.id, true).await.unwrap();
    let page = browser.get("/admin").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "signed out at once");
    let again = Browser::new(&app).sign_in("ed@example.com", PASSWORD).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
}

async fn sign_in_is_rate_limited_per_account(t: TestStore) {
    let app = app(t).await;
    let accounts = Accounts::new(app.store.clone(), SessionPolicy::default());
    accounts
        .create_user("ed@example.com", "Ed", Role::Editor, PASSWORD)
        .await
        .unwrap();
    let mut browser = Browser::new(&app);
    for _ in 0..keel::accounts::LIMIT_PER_ACCOUNT_AND_ADDRESS {
        let page = browser.sign_in("ed@example.com", "guess guess guess").await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    }
    // Now even the right password is refused, without being checked.
    let page = browser.sign_in("ed@example.com", PASSWORD).await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS, "{}", page.body);
    assert!(page.headers.contains_key("retry-after"));
    assert!(page.body.contains("too many failed sign-ins"));
    // Another account from the same address is not locked by it.
    accounts
        .create_user("w@example.com", "W", Role::Writer, PASSWORD)
        .await
        .unwrap();
    let other = Browser::new(&app).sign_in("w@example.com", PASSWORD).await;
    assert_eq!(other.status, StatusCode::SEE_OTHER);
    let failures = app
        .store
        .count_audit(
            "login.failed",
            Some("ed@example.com"),
            None,
            chrono::Utc::now() - chrono::TimeDelta::hours(1),
        )
        .await
        .unwrap();
    assert_eq!(failures, keel::accounts::LIMIT_PER_ACCOUNT_AND_ADDRESS);
    // Without a trusted proxy, a client cannot dodge the limit by naming
    // another address itself.
    let mut spoofer = Browser::new(&app);
    spoofer.forwarded_for = Some("198.51.100.99".into());
    let page = spoofer.sign_in("ed@example.com", PASSWORD).await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
}

/// Behind a CDN the operator trusts, guesses from one reader's address
/// lock out that address only: the editor signs in from the newsroom.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_the_limit_counts_the_client() {
    let app = sqlite_app_with_editor(|config| {
        config.trusted_proxies = keel::client::TrustedProxies::new(vec![
            keel::client::parse_proxy("127.0.0.0/8").unwrap(),
        ]);
    })
    .await;
    let mut attacker = Browser::new(&app);
    attacker.forwarded_for = Some("1.2.3.4, 203.0.113.5".into());
    for _ in 0..keel::accounts::LIMIT_PER_ACCOUNT_AND_ADDRESS {
        let page = attacker
            .sign_in("ed@example.com", "guess guess guess")
            .await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    }
    let page = attacker.sign_in("ed@example.com", PASSWORD).await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
    let mut editor = Browser::new(&app);
    editor.forwarded_for = Some("198.51.100.20".into());
    let page = editor.sign_in("ed@example.com", PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    // The audit log names the client the proxy saw, not the proxy or
    // what the client wrote to the left of it.
    let since = chrono::Utc::now() - chrono::TimeDelta::hours(1);
    let store = &app.store;
    let by = |address: &'static str| store.count_audit("login.failed", None, Some(address), since);
    assert_eq!(
        by("203.0.113.5").await.unwrap(),
        keel::accounts::LIMIT_PER_ACCOUNT_AND_ADDRESS
    );
    assert_eq!(by("127.0.0.1").await.unwrap(), 0);
    assert_eq!(by("1.2.3.4").await.unwrap(), 0);
}

async fn stored_markup_is_shown_as_text(t: TestStore) {
    let app = app(t).await;
    let token = app.token("t", Role::Editor).await;
    let evil = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'";
    let id = app
        .publish_new(
            &token,
            "team",
            "evil",
            json!({"name": evil, "country": evil, "bio": format!("**bold** {evil}")}),
        )
        .await;
    let mut browser = Browser::signed_in(&app, "ed@example.com", Role::Editor).await;
    for path in [
        "/admin/entries/team".to_owned(),
        format!("/admin/entries/team/{id}"),
        "/admin/entries/team?q=%3Cscript%3E".to_owned(),
    ] {
        let page = browser.get(&path).await;
        assert!(
            !page.body.contains("<script>alert"),
            "{path}: {}",
            page.body
        );
        assert!(!page.body.contains("<img src=x"), "{path}");
        assert!(
            page.body.contains("&lt;script&gt;alert(1)&lt;"),
            "{path}: {}",
            page.body
        );
    }
    // The markdown preview goes through the same sanitiser as pages.
    let csrf = browser.csrf().await;
    let preview = browser
        .post(
            "/admin/markdown",
            &[("csrf", &csrf), ("source", &format!("**bold** {evil}"))],
        )
        .await;
    assert!(preview.body.contains("<strong>bold</strong>"));
    assert!(
        !preview.body.contains("<script>") && !preview.body.contains("onerror"),
        "{}",
        preview.body
    );
}

async fn the_form_shows_each_problem_next_to_its_field(t: TestStore) {
    let app = app(t).await;
    let mut browser = Browser::signed_in(&app, "ed@example.com", Role::Editor).await;
    let csrf = browser.csrf().await;
    let page = browser
        .post(
            "/admin/entries/team/new",
            &[
                ("csrf", &csrf),
                ("action", "save"),
                ("slug", "Not A Slug"),
                ("data.name", ""),
                ("data.founded", "1700"),
            ],
        )
        .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    for id in ["f-slug-errors", "f-name-errors", "f-founded-errors"] {
        assert!(
            page.body.contains(&format!("id=\"{id}\"")),
            "{id} missing: {}",
            page.body
        );
    }
    assert!(page.body.contains("aria-invalid=\"true\""));
    // What was typed is kept.
    assert!(page.body.contains("value=\"1700\""));
    assert_eq!(
        app.store.count_entries().await.unwrap(),
        0,
        "nothing created"
    );
}

async fn an_editor_approves_a_submitted_draft_and_readers_see_it(t: TestStore) {
    let app = app(t).await;
    let mut writer = Browser::signed_in(&app, "w@example.com", Role::Writer).await;
    let csrf = writer.csrf().await;
    let created = writer
        .post(
            "/admin/entries/team/new",
            &[
                ("csrf", &csrf),
                ("action", "save"),
                ("slug", "rovers"),
                ("data.name", "Rovers"),
                ("data.founded", "1888"),
                ("data.bio", "Founded by *dockers*."),
            ],
        )
        .await;
    let path = created.location().split('?').next().unwrap().to_owned();
    let version = writer.get(&path).await.input("version");
    writer
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("action", "submit"),
                ("comment", "please check"),
            ],
        )
        .await;
    assert_eq!(app.get("/teams/rovers").await.status(), 404);

    let mut editor = Browser::signed_in(&app, "ed@example.com", Role::Editor).await;
    let home = editor.get("/admin").await;
    assert!(
        home.body.contains("please check"),
        "the queue shows it: {}",
        home.body
    );
    assert!(
        home.body
            .contains(">Rovers</a> <span class=\"meta\">Team · from w@example.com"),
        "by title and type: {}",
        home.body
    );
    let edit = editor.get(&path).await;
    assert!(edit.body.contains("Submitted for review"));
    assert!(edit.body.contains("value=\"approve\""));
    let csrf = editor.csrf().await;
    let approved = editor
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("version", &edit.input("version")),
                ("action", "approve"),
                ("at", ""),
            ],
        )
        .await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.body);
    let page = app.get("/teams/rovers").await.text().await.unwrap();
    assert!(
        page.contains("<h1>Rovers</h1>") && page.contains("<em>dockers</em>"),
        "{page}"
    );
    let id: uuid::Uuid = path.rsplit('/').next().unwrap().parse().unwrap();
    assert!(
        app.store.review(id).await.unwrap().is_none(),
        "the request is done"
    );
    let steps: Vec<String> = app
        .store
        .audit(&keel::store::AuditQuery {
            entry_id: Some(id),
            limit: 20,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .rev()
        .map(|r| format!("{} {}", r.action, r.actor))
        .collect();
    assert_eq!(
        steps,
        [
            "entry.create w@example.com",
            "entry.submit w@example.com",
            "entry.approve ed@example.com"
        ]
    );

    // Unpublished changes are named field by field.
    let csrf = editor.csrf().await;
    let edit = editor.get(&path).await;
    editor
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("version", &edit.input("version")),
                ("action", "save"),
                ("slug", "rovers"),
                ("data.name", "Rovers FC"),
            ],
        )
        .await;
    let edit = editor.get(&path).await;
    assert!(
        edit.body
            .contains("href=\"#diff-h\">unpublished changes</a>"),
        "the badge leads to the diff: {}",
        edit.body
    );
    assert!(edit.body.contains("id=\"diff-h\""));
    assert!(edit.body.contains("<del>Rovers</del>") && edit.body.contains("<ins>Rovers FC</ins>"));
    let list = editor.get("/admin/entries/team?filter=changes").await;
    assert!(
        list.body.contains(&format!(
            "{}#diff-h\">unpublished changes</a>",
            path.replace('/', "&#x2f;")
        )),
        "{}",
        list.body
    );
}

async fn lists_search_titles_and_slugs(t: TestStore) {
    let app = app(t).await;
    let token = app.token("t", Role::Editor).await;
    for (slug, name) in [
        ("northgate-rovers", "Northgate Rovers"),
        ("harbour-city", "Harbour City"),
        ("zurich", "FC Zürich"),
    ] {
        app.publish_new(&token, "team", slug, json!({"name": name}))
            .await;
    }
    let mut browser = Browser::signed_in(&app, "ed@example.com", Role::Editor).await;
    let found = browser.get("/admin/entries/team?q=rov").await;
    assert!(found.body.contains("Northgate Rovers"), "{}", found.body);
    assert!(!found.body.contains("Harbour City"));
    let found = browser.get("/admin/entries/team?q=HARB").await;
    assert!(found.body.contains("Harbour City") && !found.body.contains("Northgate"));
    let json = browser.get("/admin/entries/team/search.json?q=city").await;
    let items: serde_json::Value = serde_json::from_str(&json.body).unwrap();
    assert_eq!(items["items"][0]["title"], "Harbour City");
    let hostile = browser.get("/admin/entries/team?q=%22*%20OR%20(").await;
    assert_eq!(hostile.status, StatusCode::OK);
}

/// Two published teams and a scheduled match between them; the match's id.
async fn fixture_match(app: &TestApp) -> String {
    let token = app.token("desk", Role::Editor).await;
    let home = app
        .publish_new(&token, "team", "harbour", json!({"name": "Harbour City"}))
        .await;
    let away = app
        .publish_new(
            &token,
            "team",
            "rovers",
            json!({"name": "Northgate Rovers"}),
        )
        .await;
    app.publish_new(
        &token,
        "match",
        "harbour-v-rovers",
        json!({"home_team": home, "away_team": away, "competition": "Cup",
               "kickoff": "2026-05-01T15:00:00Z"}),
    )
    .await
}

async fn the_live_console_publishes_each_click_and_readers_see_it(t: TestStore) {
    let app = app(t).await;
    let id = fixture_match(&app).await;
    let mut editor = Browser::signed_in(&app, "ed@example.com", Role::Editor).await;
    let console = format!("/admin/entries/match/{id}/console");
    let page = editor.get(&console).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("Harbour City v Northgate Rovers"),
        "{}",
        page.body
    );
    let csrf = page.input("csrf");

    let click = |version: String, extra: Vec<(&'static str, String)>| {
        let mut form = vec![("csrf", csrf.clone()), ("version", version)];
        form.extend(extra);
        form
    };
    let mut version = page.input("version");
    for (op, extra) in [
        (
            "status",
            vec![("op", "status".to_owned()), ("value", "live".to_owned())],
        ),
        (
            "score",
            vec![
                ("op", "score".to_owned()),
                ("field", "home_score".to_owned()),
                ("delta", "1".to_owned()),
            ],
        ),
        (
            "line",
            vec![
                ("op", "line".to_owned()),
                ("minute", "67".to_owned()),
                ("text", "Goal! A header from the corner.".to_owned()),
            ],
        ),
    ] {
        let form = click(version.clone(), extra);
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let done = editor.post(&console, &pairs).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{op}: {}", done.body);
        assert!(done.location().contains("ms="), "{op}: {}", done.location());
        let page = editor.get(done.location()).await;
        assert!(page.body.contains("Published ("), "{op}: {}", page.body);
        version = page.input("version");
    }
    let reader = app
        .get("/matches/harbour-v-rovers")
        .await
        .text()
        .await
        .unwrap();
    assert!(reader.contains("1 – 0"), "{reader}");
    assert!(
        reader.contains("67&#x27; Goal! A header from the corner.") || reader.contains("67' Goal!"),
        "{reader}"
    );
    let entry = app.store.entry(id.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(entry.status, keel::model::EntryStatus::Published);
    assert!(!entry.has_unpublished_changes());
    assert_eq!(entry.version.to_string(), version);

    // A click on a page that is out of date saves nothing.
    let stale = click(
        "2".to_owned(),
        vec![
            ("op", "score".to_owned()),
            ("field", "home_score".to_owned()),
            ("delta", "1".to_owned()),
        ],
    );
    let pairs: Vec<(&str, &str)> = stale.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let done = editor.post(&console, &pairs).await;
    assert!(done.location().contains("stale=1"), "{}", done.location());
    let after = app.store.entry(id.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(after.version, entry.version);
    assert_eq!(after.data["home_score"], 1);

    // Writers cannot publish from it.
    let mut writer = Browser::signed_in(&app, "w@example.com", Role::Writer).await;
    let wcsrf = writer.csrf().await;
    let refused = writer
        .post(
            &console,
            &[
                ("csrf", &wcsrf),
                ("version", &version),
                ("op", "score"),
                ("field", "home_score"),
                ("delta", "1"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

async fn an_old_version_is_restored_as_the_working_copy(t: TestStore) {
    let app = app(t).await;
    let token = app.token("desk", Role::Editor).await;
    let id = app
        .publish_new(
            &token,
            "team",
            "rovers",
            json!({"name": "Rovers", "country": "England"}),
        )
        .await;
    app.republish(
        &token,
        "team",
        &id,
        json!({"name": "Rovers FC", "country": null, "founded": 1888}),
    )
    .await;
    let mut editor = Browser::signed_in(&app, "ed@example.com", Role::Editor).await;
    let history = editor
        .get(&format!("/admin/entries/team/{id}/history"))
        .await;
    assert_eq!(history.status, StatusCode::OK);
    assert!(
        history.body.contains("Restore version 1"),
        "{}",
        history.body
    );
    // The preview opens in the browser with the session alone.
    let preview = editor.get(&format!("/preview/team/{id}")).await;
    assert_eq!(preview.status, StatusCode::OK);
    let csrf = history.input("csrf");
    let version = history.input("version");
    let done = editor
        .post(
            &format!("/admin/entries/team/{id}/history"),
            &[("csrf", &csrf), ("version", &version), ("restore", "1")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let entry = app.store.entry(id.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(entry.data, json!({"name": "Rovers", "country": "England"}));
    assert!(
        entry.has_unpublished_changes(),
        "restoring does not publish"
    );
    assert!(
        app.get("/teams/rovers")
            .await
            .text()
            .await
            .unwrap()
            .contains("Rovers FC")
    );
    let edit = editor
        .get(&format!("/admin/entries/team/{id}?done=restored"))
        .await;
    assert!(edit.body.contains("Restored"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_tls_the_session_cookie_is_secure() {
    let app = sqlite_app_with_editor(|config| config.sessions.secure_cookie = true).await;
    let page = Browser::new(&app).sign_in("ed@example.com", PASSWORD).await;
    let cookie = page
        .headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with("keel_session="))
        .expect("a session cookie");
    assert!(cookie.ends_with("; Secure"), "{cookie}");
}

async fn an_admin_manages_accounts_and_reads_the_audit_log(t: TestStore) {
    let app = app(t).await;
    let mut editor = Browser::signed_in(&app, "ed@example.com", Role::Editor).await;
    assert_eq!(
        editor.get("/admin/users").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        editor.get("/admin/audit").await.status,
        StatusCode::FORBIDDEN
    );
    let mut admin = Browser::signed_in(&app, "root@example.com", Role::Admin).await;
    let csrf = admin.csrf().await;
    let weak = admin
        .post(
            "/admin/users",
            &[
                ("csrf", &csrf),
                ("action", "create"),
                ("email", "new@example.com"),
                ("name", "New"),
                ("role", "writer"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        weak.body
            .contains("password: must be at least 12 characters"),
        "{}",
        weak.body
    );
    let created = admin
        .post(
            "/admin/users",
            &[
                ("csrf", &csrf),
                ("action", "create"),
                ("email", "New@Example.com"),
                ("name", "New Person"),
                ("role", "writer"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let again = admin
        .post(
            "/admin/users",
            &[
                ("csrf", &csrf),
                ("action", "create"),
                ("email", "new@example.com"),
                ("name", "Twin"),
                ("role", "writer"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    let mut newcomer = Browser::new(&app);
    assert_eq!(
        newcomer.sign_in("new@example.com", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    for (action, extra) in [
        ("role", ("role", "editor")),
        ("disable", ("x", "")),
        ("enable", ("x", "")),
    ] {
        let page = admin
            .post(
                "/admin/users",
                &[
                    ("csrf", &csrf),
                    ("action", action),
                    ("email", "new@example.com"),
                    extra,
                ],
            )
            .await;
        assert_eq!(
            page.status,
            StatusCode::SEE_OTHER,
            "{action}: {}",
            page.body
        );
    }
    let user = app
        .store
        .user_by_email("new@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.role, Role::Editor);
    assert!(user.disabled_at.is_none());
    assert_eq!(
        newcomer.get("/admin").await.status,
        StatusCode::SEE_OTHER,
        "disabling ended the session"
    );
    let own = admin
        .post(
            "/admin/users",
            &[
                ("csrf", &csrf),
                ("action", "disable"),
                ("email", "root@example.com"),
            ],
        )
        .await;
    assert_eq!(own.status, StatusCode::UNPROCESSABLE_ENTITY);
    let reset = admin
        .post(
            "/admin/users",
            &[
                ("csrf", &csrf),
                ("action", "password"),
                ("email", "new@example.com"),
                ("password", "another long password"),
            ],
        )
        .await;
    assert_eq!(reset.status, StatusCode::SEE_OTHER);
    assert_eq!(
        Browser::new(&app)
            .sign_in("new@example.com", "another long password")
            .await
            .status,
        StatusCode::SEE_OTHER
    );

    let log = admin.get("/admin/audit?action=user.").await;
    assert_eq!(log.status, StatusCode::OK);
    for action in [
        "user.create",
        "user.role",
        "user.disable",
        "user.enable",
        "user.reset-password",
    ] {
        assert!(log.body.contains(action), "{action} missing: {}", log.body);
    }
    assert!(log.body.contains("root@example.com"));
    let logins = admin.get("/admin/audit?action=login").await;
    assert!(logins.body.contains("127.0.0.1"), "the address is recorded");
}

async fn new_site_settings_reach_every_page(t: TestStore) {
    let app = TestApp::spawn(t, true).await;
    let mut editor = Browser::signed_in(&app, "ed@example.com", Role::Editor).await;
    assert_eq!(
        editor.get("/admin/settings").await.status,
        StatusCode::FORBIDDEN
    );
    let mut admin = Browser::signed_in(&app, "root@example.com", Role::Admin).await;
    let form = admin.get("/admin/settings").await;
    assert_eq!(form.status, StatusCode::OK);
    assert_eq!(form.input("name"), "keel");
    let csrf = form.input("csrf");
    let version = form.input("version");
    let bad = admin
        .post(
            "/admin/settings",
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("name", "Matchday"),
                ("base_url", "ftp://x"),
                ("description", ""),
                ("time_zone", "Mars/Olympus"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    for id in ["s-base_url-errors", "s-time_zone-errors"] {
        assert!(
            bad.body.contains(&format!("id=\"{id}\"")),
            "{id}: {}",
            bad.body
        );
    }
    let saved = admin
        .post(
            "/admin/settings",
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("name", "Matchday Times"),
                ("base_url", "https://news.example/"),
                ("description", "Scores as they happen"),
                ("time_zone", "Europe/London"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let stale = admin
        .post(
            "/admin/settings",
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("name", "Other"),
                ("base_url", ""),
                ("description", ""),
                ("time_zone", "UTC"),
            ],
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT);

    // Every stored page is re-rendered in the background; the not-found
    // page follows the settings event.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let matches = app.get("/matches").await.text().await.unwrap();
        let missing = app.get("/no/such/page").await.text().await.unwrap();
        let done = matches.contains("<title>Fixtures and results · Matchday Times</title>")
            || matches.contains("Matchday Times</title>");
        let robots = app.get("/robots.txt").await.text().await.unwrap();
        if done
            && missing.contains("Matchday Times")
            && robots.contains("https://news.example/sitemap.xml")
        {
            assert!(
                matches.contains("<link rel=\"canonical\" href=\"https://news.example/matches\">"),
                "{matches}"
            );
            assert!(
                matches.contains("<meta name=\"description\" content=\"Scores as they happen\">")
            );
            assert!(matches.contains("property=\"og:site_name\" content=\"Matchday Times\""));
            assert!(
                matches.contains(" GMT") || matches.contains(" BST"),
                "times in the site's zone: {matches}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "pages never showed the new settings: {matches}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let robots = app.get("/robots.txt").await.text().await.unwrap();
    assert!(
        robots.contains("https://news.example/sitemap.xml"),
        "{robots}"
    );
    let log = admin.get("/admin/audit?action=settings").await;
    assert!(log.body.contains("settings.update"));

    // The app's times are entered and shown in the site's zone.
    let teams = app.store.published_entries("team").await.unwrap();
    let form = admin.get("/admin/entries/match/new").await;
    assert!(
        form.body.contains("datetime, Europe&#x2f;London"),
        "{}",
        form.body
    );
    let csrf = form.input("csrf");
    let created = admin
        .post(
            "/admin/entries/match/new",
            &[
                ("csrf", &csrf),
                ("action", "save"),
                ("slug", "summer-friendly"),
                ("data.home_team", &teams[0].id.to_string()),
                ("data.away_team", &teams[1].id.to_string()),
                ("data.competition", "Friendly"),
                ("data.kickoff", "2026-07-01T15:00"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let id: uuid::Uuid = created
        .location()
        .split('?')
        .next()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let entry = app.store.entry(id).await.unwrap().unwrap();
    assert_eq!(
        entry.data["kickoff"], "2026-07-01T14:00:00Z",
        "15:00 in London in July is 14:00 UTC"
    );
    let edit = admin.get(created.location()).await;
    assert!(
        edit.body.contains("value=\"2026-07-01T15:00\""),
        "shown as entered"
    );
}
