//! The database goes away under a serving node and comes back: warmed pages
//! keep answering, writes are refused with a clear 503, readiness says the
//! database is down, the app answers 503 pages and refuses sign-in, and
//! everything recovers without a restart. The outage
//! is a TCP proxy between keel and PostgreSQL that the test cuts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use keel::config::{DatabaseUrl, ServeConfig};
use keel::store::Role;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::admin::{Browser, PASSWORD};
use crate::helpers::{TestApp, TestStore, test_config};

/// Forwards loopback connections to PostgreSQL until cut.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(target: &'static str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (up2, links2) = (up.clone(), links.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: connection refused by a dead server
                }
                let link = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                links2.lock().await.push(link);
            }
        });
        Proxy {
            port,
            up,
            links,
            accept,
        }
    }

    /// The database "dies": every open connection breaks, new ones fail.
    async fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().await.drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_outage_serves_stale_refuses_writes_and_recovers() {
    let Some(fixture) = TestStore::postgres().await else {
        return;
    };
    let proxy = Proxy::start("127.0.0.1:5432").await;
    let mut via_proxy = url::Url::parse(&fixture.raw_url).unwrap();
    via_proxy.set_port(Some(proxy.port)).unwrap();
    let url = DatabaseUrl::parse(via_proxy.as_str()).unwrap();
    let config = ServeConfig {
        demo: true,
        event_poll: Duration::from_millis(500),
        ..test_config(&url)
    };
    let direct = fixture.store.clone();
    let app = TestApp::spawn_with(config, direct.clone(), Some(fixture)).await;
    let token = app.token("desk", Role::Editor).await;
    let mut editor = Browser::signed_in(&app, "ed@example.com", Role::Editor).await;

    // Warm every page.
    let paths = direct.page_paths().await.unwrap();
    assert!(paths.len() > 40);
    for p in &paths {
        assert_eq!(app.get(p).await.status(), 200, "{p}");
    }

    proxy.cut().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    let mut served = 0;
    while tokio::time::Instant::now() < deadline {
        for p in &paths {
            let r = app.get(p).await;
            assert_eq!(r.status(), 200, "{p} while the database is down");
            served += 1;
        }
    }
    assert!(served >= paths.len());
    let write = app
        .api(reqwest::Method::POST, "/api/v1/entries/team", &token)
        .json(&json!({"slug": "during-outage", "data": {"name": "X"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), 503);
    assert!(write.headers().contains_key("retry-after"));
    assert_eq!(write.headers()["content-type"], "application/problem+json");
    // An image upload too: refused before its body is read, nothing kept.
    let photo = keel::media::samples::jpeg(&keel::media::samples::photo(800, 600), None);
    let upload = app
        .api(reqwest::Method::POST, "/api/v1/media?alt=Outage", &token)
        .header("content-type", "image/jpeg")
        .body(photo)
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 503);
    assert!(upload.headers().contains_key("retry-after"));
    assert_eq!(upload.headers()["content-type"], "application/problem+json");
    let ready: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["database"]["status"], "down", "{ready}");
    // The app says so too, on a page an editor can read, and refuses to
    // sign anyone in rather than calling their password wrong.
    let home = editor.get("/admin").await;
    assert_eq!(home.status, 503, "{}", home.body);
    assert!(home.headers.contains_key("retry-after"));
    assert!(
        home.body.contains("database is unavailable"),
        "{}",
        home.body
    );
    let mut newcomer = Browser::new(&app);
    let login = newcomer.get("/admin/login").await;
    assert_eq!(login.status, 200, "the sign-in form needs no database");
    let refused = newcomer.sign_in("ed@example.com", PASSWORD).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert!(refused.headers.contains_key("retry-after"));
    assert_eq!(
        direct.count_entries().await.unwrap(),
        22,
        "nothing half-written"
    );
    let library = direct
        .media_list(&keel::model::MediaQuery {
            q: None,
            before: None,
            limit: 100,
        })
        .await
        .unwrap();
    assert_eq!(library.len(), 11, "the demo's images and no other");

    // The database comes back: writes work again and pages update, no restart.
    proxy.restore();
    let team = direct
        .published_entry_by_slug("team", "harbour-city")
        .await
        .unwrap()
        .unwrap();
    let base = format!("/api/v1/entries/team/{}", team.id);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = app
            .api(reqwest::Method::PATCH, &base, &token)
            .header("If-Match", "*")
            .json(&json!({"data": {"name": "Harbour Revived"}}))
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            break;
        }
        assert_eq!(r.status(), 503, "only 'unavailable' while recovering");
        assert!(
            tokio::time::Instant::now() < deadline,
            "writes never recovered"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let r = app
        .api(reqwest::Method::POST, &format!("{base}/publish"), &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page = app.get("/teams/harbour-city").await.text().await.unwrap();
    assert!(page.contains("Harbour Revived"));
    let ready: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["database"]["status"], "up", "{ready}");
    // The editor's session outlived the outage.
    let home = editor.get("/admin").await;
    assert_eq!(home.status, 200, "{}", home.body);
}
