//! The app in a real browser: Debian's Chromium, headless, driven through
//! WebDriver (chromedriver) with fantoccini. One newsroom's day, at 1280
//! and at 390 px wide: sign in, create teams and a match with every field
//! kind (references through the search picker, a markdown preview, a hero
//! picture uploaded to the library and placed with the image picker), see a
//! problem next to its field, submit for review as a writer, approve as an
//! editor, see the public page, run the live console and see the reader's
//! page follow, restore a revision, sign out; then an admin, with the
//! keyboard only (every focus visible), signs in and renames the site,
//! and the public pages follow. A screenshot of each step is written to
//! `target/browser/<width>/` for review.
//!
//! Skipped (one printed line) when chromedriver is not installed, unless
//! `CI=true`; `.ci/run` installs `chromium` and `chromium-driver`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::helpers::{TestApp, TestStore, in_ci};
use keel::accounts::{Accounts, SessionPolicy};
use keel::store::Role;

const PASSWORD: &str = "a long enough password";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// chromedriver on a free port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn installed() -> bool {
    let found = Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists();
    if !found {
        assert!(
            !in_ci(),
            "CI=true but {CHROMEDRIVER} or {CHROMIUM} is missing (apt-get install chromium chromium-driver)"
        );
        println!(
            "skipped: Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)"
        );
    }
    found
}

async fn driver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    // Owned at once, so a failed start still kills and reaps it.
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let status = format!("{}/status", driver.url);
    for _ in 0..100 {
        if reqwest::get(&status)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return driver;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not answer on {}", driver.url);
}

/// A browser window of one width, its screenshots numbered in order.
struct Tab {
    client: Client,
    base: String,
    shots: PathBuf,
    taken: usize,
}

impl Tab {
    async fn open(driver: &Driver, base: &str, width: u32, height: u32) -> Tab {
        let mut caps = serde_json::Map::new();
        // Headless windows have a minimum width above a phone's: the
        // phone's viewport is emulated (what DevTools' device mode does).
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         format!("--window-size={width},{height}")],
                "mobileEmulation": {"deviceMetrics": {"width": width, "height": height, "pixelRatio": 1.0}},
            }),
        );
        let client = ClientBuilder::rustls()
            .expect("a WebDriver client")
            .capabilities(caps)
            .connect(&driver.url)
            .await
            .expect("a Chromium session");
        let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("target/browser")
            .join(width.to_string());
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots).expect("screenshot folder");
        Tab {
            client,
            base: base.to_owned(),
            shots,
            taken: 0,
        }
    }

    async fn go(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("go {path}: {e}"));
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!("no {css} on {}: {e}", self.path().await),
        }
    }

    async fn fill(&self, css: &str, text: &str) {
        let input = self.find(css).await;
        input.clear().await.unwrap();
        input.send_keys(text).await.unwrap();
    }

    /// Sets an input's value by script (a `datetime-local` takes keys in
    /// the browser's locale format; the value is what the form sends).
    async fn set_value(&self, css: &str, value: &str) {
        self.client
            .execute(
                "document.querySelector(arguments[0]).value = arguments[1];",
                vec![json!(css), json!(value)],
            )
            .await
            .unwrap();
    }

    /// Clicks once the element can be clicked (the script reveals some
    /// controls after the page loads).
    async fn click(&self, css: &str) {
        let mut last = None;
        for _ in 0..50 {
            match self.find(css).await.click().await {
                Ok(()) => return,
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("click {css} on {}: {last:?}", self.path().await);
    }

    /// Clicks something that loads a new page and waits for it.
    async fn submit(&self, css: &str) {
        self.mark_page().await;
        self.click(css).await;
        self.await_new_page(&format!("clicking {css}")).await;
    }

    /// Presses keys that load a new page and waits for it.
    async fn press_to_load(&self, keys: &str) {
        self.mark_page().await;
        self.press(keys).await;
        self.await_new_page("a key press").await;
    }

    /// Marks the document: the next one will not carry the mark.
    async fn mark_page(&self) {
        self.client
            .execute("window.keelOldPage = true;", vec![])
            .await
            .unwrap();
    }

    async fn await_new_page(&self, what: &str) {
        for _ in 0..100 {
            let loaded = self
                .client
                .execute(
                    "return window.keelOldPage === undefined && document.readyState === 'complete';",
                    vec![],
                )
                .await;
            if loaded.is_ok_and(|v| v == json!(true)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{what} loaded no new page (still {})", self.path().await);
    }

    async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    async fn value(&self, css: &str) -> String {
        self.find(css)
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default()
    }

    /// Waits for the picture `css` to have loaded (a decoded image).
    async fn loaded(&self, css: &str) {
        for _ in 0..100 {
            let done = self
                .client
                .execute(
                    "const i = document.querySelector(arguments[0]); \
                     return !!i && i.complete && i.naturalWidth > 0;",
                    vec![json!(css)],
                )
                .await
                .unwrap();
            if done == json!(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{css} never showed a picture on {}", self.path().await);
    }

    async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| u.path().to_owned())
            .unwrap_or_default()
    }

    /// The page fits the window: nothing wider than the viewport.
    async fn fits(&self, width: u32) {
        let sizes = self
            .client
            .execute(
                "return [window.innerWidth, document.documentElement.scrollWidth];",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(sizes[0], json!(width), "the viewport is {width} px");
        assert!(
            sizes[1].as_u64().unwrap() <= u64::from(width),
            "{} is wider than {width} px: {sizes}",
            self.path().await
        );
    }

    async fn shot(&mut self, name: &str) {
        self.taken += 1;
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(
            self.shots.join(format!("{:02}-{name}.png", self.taken)),
            png,
        )
        .unwrap();
    }

    async fn sign_in(&mut self, email: &str) {
        self.go("/admin").await;
        assert_eq!(self.path().await, "/admin/login", "signed out first");
        self.fill("#email", email).await;
        self.fill("#password", PASSWORD).await;
        self.submit("form.narrow button[type=submit]").await;
        assert_eq!(self.text("h1").await, "Newsroom");
    }

    async fn sign_out(&mut self) {
        self.submit(".signout button").await;
        assert_eq!(self.path().await, "/admin/login");
    }

    /// Creates a team as the writer and submits it for review; its id.
    async fn team(&mut self, slug: &str, name: &str, first: bool) -> String {
        self.go("/admin/entries/team/new").await;
        self.fill("#f-slug", slug).await;
        self.fill("#f-name", name).await;
        self.fill("#f-country", "England").await;
        self.fill("#f-founded", "1890").await;
        self.fill("#f-honours", "League 1990\nCup 2001").await;
        self.fill("#f-bio", "Founded by **dockers** in 1890.").await;
        self.click(".js-preview").await;
        assert_eq!(
            self.text("#f-bio-preview strong").await,
            "dockers",
            "the markdown preview"
        );
        if first {
            self.shot("team-form-with-preview").await;
        }
        self.submit("button[value=save]").await;
        assert!(self.text(".notice").await.contains("Draft created"));
        let id = self.path().await.rsplit('/').next().unwrap().to_owned();
        self.fill("#f-comment", "ready for the desk").await;
        self.submit("button[value=save_submit]").await;
        assert!(self.text(".notice").await.contains("Submitted for review"));
        id
    }

    /// Sends keys to whatever has the focus, as a keyboard would.
    async fn press(&self, keys: &str) {
        let focused = self.client.active_element().await.unwrap();
        focused.send_keys(keys).await.unwrap();
    }

    /// The focused element's id (else its text), after checking that the
    /// focus shows: an outline, as `:focus-visible` draws it.
    async fn focused(&self) -> String {
        let seen = self
            .client
            .execute(
                "const e = document.activeElement; const s = getComputedStyle(e);
                 return [e.id || e.textContent.trim(), s.outlineStyle, s.outlineWidth];",
                vec![],
            )
            .await
            .unwrap();
        let name = seen[0].as_str().unwrap_or_default().to_owned();
        assert!(
            seen[1] != "none" && seen[2] != "0px",
            "the focus on {name:?} does not show: {seen}"
        );
        name
    }

    /// Presses Tab until `id` has the focus (at most `limit` times), every
    /// stop on the way visibly focused.
    async fn tab_to(&self, id: &str, limit: usize) {
        let mut stops = Vec::new();
        for _ in 0..limit {
            self.press(&Key::Tab).await;
            let at = self.focused().await;
            if at == id {
                return;
            }
            stops.push(at);
        }
        panic!("Tab never reached #{id}; it went {stops:?}");
    }

    /// Replaces the focused field's text by keyboard.
    async fn retype(&self, text: &str) {
        self.press(&(Key::Control + "a")).await;
        self.press(&Key::Backspace).await;
        self.press(text).await;
    }

    /// Chooses an entry in a reference field's search picker.
    async fn pick(&self, field: &str, search: &str) {
        self.fill(&format!("#f-{field}-search"), search).await;
        self.click(&format!("#f-{field}-results button")).await;
        assert_eq!(
            self.value(&format!("#f-{field}")).await.len(),
            36,
            "an id was picked"
        );
    }
}

async fn newsroom_day(driver: &Driver, width: u32, height: u32) {
    let store = TestStore::sqlite().await;
    let app = TestApp::spawn(store, false).await;
    let accounts = Accounts::new(app.store.clone(), SessionPolicy::default());
    for (email, role) in [
        ("wendy@example.com", Role::Writer),
        ("ed@example.com", Role::Editor),
        ("ada@example.com", Role::Admin),
    ] {
        accounts
            .create_user(email, email, role, PASSWORD)
            .await
            .unwrap();
    }
    let mut tab = Tab::open(driver, &app.addr, width, height).await;

    // The writer: two teams and a match, every field kind.
    tab.go("/admin").await;
    tab.shot("sign-in").await;
    tab.sign_in("wendy@example.com").await;
    tab.fits(width).await;
    tab.shot("home-writer").await;
    let harbour = tab.team("harbour-city", "Harbour City", true).await;
    tab.team("northgate-rovers", "Northgate Rovers", false)
        .await;

    // A picture for the match, uploaded to the library.
    let photo =
        std::env::temp_dir().join(format!("keel-browser-{width}-{}.jpg", std::process::id()));
    let jpeg = keel::media::samples::jpeg(&keel::media::samples::photo(1280, 720), None);
    std::fs::write(&photo, jpeg).unwrap();
    tab.go("/admin/media").await;
    tab.find("#file")
        .await
        .send_keys(photo.to_str().unwrap())
        .await
        .unwrap();
    tab.fill("#alt", "The Docks under floodlights").await;
    tab.fill("#credit", "Club photographer").await;
    tab.submit(".upload-form button[type=submit]").await;
    assert!(tab.text(".notice").await.contains("Uploaded"));
    let _ = std::fs::remove_file(&photo);
    tab.shot("media-library").await;
    // A gallery takes a line per picture from the same picker.
    tab.go("/admin/entries/article/new").await;
    tab.fill("#f-gallery-find", "docks").await;
    tab.click("#f-gallery-found button").await;
    let gallery = tab.value("#f-gallery").await;
    let line: serde_json::Value = serde_json::from_str(gallery.trim()).expect("a JSON line");
    assert_eq!(line["alt"], "The Docks under floodlights", "{gallery}");

    tab.go("/admin/entries/match/new").await;
    tab.fill("#f-slug", "harbour-v-northgate").await;
    // The picker fills the id and starts the alt text and credit from
    // the library's.
    tab.fill("#f-hero-find", "floodlights").await;
    tab.click("#f-hero-found button").await;
    assert_eq!(
        tab.value("#f-hero-media").await,
        line["media"].as_str().unwrap()
    );
    assert_eq!(
        tab.value("#f-hero-alt").await,
        "The Docks under floodlights"
    );
    assert_eq!(tab.value("#f-hero-credit").await, "Club photographer");
    tab.loaded("#f-hero-chosen").await;
    tab.client
        .execute(
            "document.getElementById('f-hero').scrollIntoView();",
            vec![],
        )
        .await
        .unwrap();
    tab.shot("image-picker").await;
    tab.fill("#f-hero-alt", "Floodlights over The Docks before kick-off")
        .await;
    tab.pick("home_team", "harb").await;
    tab.pick("away_team", "north").await;
    tab.fill("#f-competition", "Premier Cup").await;
    tab.set_value("#f-kickoff", "2026-12-06T15:00").await;
    tab.fill("#f-venue", "The Docks").await;
    tab.find("#f-status")
        .await
        .select_by_value("scheduled")
        .await
        .unwrap();
    tab.fill("#f-attendance", "31000").await;
    tab.fill("#f-home_possession", "150").await;
    tab.click("#f-neutral_venue").await;
    tab.fill("#f-commentary", "Teams are out").await;
    tab.fill("#f-report", "A *cup final* preview.").await;
    tab.shot("match-form").await;
    tab.submit("button[value=save]").await;
    // The problem is next to its field; what was typed is kept.
    let problem = tab.text("#f-home_possession-errors").await;
    assert!(problem.contains("100"), "{problem}");
    assert_eq!(tab.value("#f-venue").await, "The Docks");
    tab.shot("validation-error-next-to-field").await;
    tab.fill("#f-home_possession", "55.5").await;
    tab.submit("button[value=save]").await;
    assert!(tab.text(".notice").await.contains("Draft created"));
    // A reference says what it points to.
    let chosen = tab.text("[data-widget=reference] .hint").await;
    assert_eq!(chosen, "Now: Harbour City");
    tab.submit("button[value=save_submit]").await;
    assert!(tab.text(".notice").await.contains("Submitted for review"));
    // A writer has no publish button.
    assert!(
        tab.client
            .find(Locator::Css("button[value=save_publish]"))
            .await
            .is_err()
    );
    tab.shot("submitted-for-review").await;
    tab.sign_out().await;

    // The editor: the queue, then approve each.
    tab.sign_in("ed@example.com").await;
    let queue = tab
        .client
        .find_all(Locator::Css("#review-h + ul a"))
        .await
        .unwrap();
    assert_eq!(queue.len(), 3, "two teams and a match wait");
    tab.shot("review-queue").await;
    let mut links = Vec::new();
    for link in queue {
        links.push(link.attr("href").await.unwrap().unwrap());
    }
    for link in &links {
        tab.go(link).await;
        tab.submit("button[value=approve]").await;
        assert!(tab.text(".notice").await.contains("Published"), "{link}");
    }
    tab.shot("approved").await;
    tab.go("/matches/harbour-v-northgate").await;
    let h1 = tab.text("h1").await;
    assert_eq!(h1, "Harbour City v Northgate Rovers");
    let hero = tab.find("picture img").await;
    assert_eq!(
        hero.attr("alt").await.unwrap().as_deref(),
        Some("Floodlights over The Docks before kick-off")
    );
    tab.loaded("picture img").await;
    tab.shot("public-match-page").await;

    // The live console: status, a goal, a commentary line.
    let console = format!("{}/console", links[2]);
    tab.go(&console).await;
    tab.fits(width).await;
    tab.submit("button[name=value][value=live]").await;
    assert!(tab.text("#console-done").await.contains("Published"));
    tab.submit("button[name=delta][value='1']").await;
    tab.fill("#minute", "12").await;
    tab.fill("#text", "Goal! Harbour lead from the spot.").await;
    tab.submit(".line-form button[type=submit]").await;
    let done = tab.text("#console-done").await;
    assert!(
        done.contains("Published (commentary) in") && done.ends_with("ms."),
        "{done}"
    );
    let readers = tab.text("#readers-see").await;
    assert!(
        readers.contains("1–0") && readers.contains("12' Goal!"),
        "{readers}"
    );
    tab.shot("live-console").await;
    // A new URL: the browser keeps the page it saw for its max-age (10 s).
    tab.go("/matches/harbour-v-northgate?after-console").await;
    assert_eq!(tab.text(".scoreline").await, "1 – 0");
    assert!(
        tab.text(".commentary")
            .await
            .contains("12' Goal! Harbour lead from the spot.")
    );
    tab.shot("reader-page-after-console").await;

    // An edit, then the earlier version restored.
    tab.go(&format!("/admin/entries/team/{harbour}")).await;
    tab.fill("#f-name", "Harbour City FC").await;
    tab.submit("button[value=save]").await;
    assert!(tab.text(".state").await.contains("unpublished changes"));
    assert!(tab.text(".diff").await.contains("Harbour City FC"));
    tab.shot("unpublished-changes-diff").await;
    tab.go(&format!("/admin/entries/team/{harbour}/history"))
        .await;
    tab.shot("history").await;
    tab.submit("button[name=restore]").await;
    assert!(tab.text(".notice").await.contains("Restored"));
    assert_eq!(tab.value("#f-name").await, "Harbour City");
    tab.shot("restored").await;

    tab.sign_out().await;
    tab.shot("signed-out").await;

    // An admin, keyboard only: sign in (the email has the focus), then the
    // site settings, the fields reached with Tab, saved with Enter.
    assert_eq!(tab.focused().await, "email");
    tab.press("ada@example.com").await;
    tab.press(&Key::Tab).await;
    assert_eq!(tab.focused().await, "password");
    tab.press(PASSWORD).await;
    tab.press_to_load(&Key::Enter).await;
    assert_eq!(tab.text("h1").await, "Newsroom");
    tab.go("/admin/settings").await;
    tab.tab_to("s-name", 30).await;
    tab.shot("keyboard-focus").await;
    tab.retype("Cup Final Daily").await;
    tab.tab_to("s-time_zone", 5).await;
    tab.retype("Europe/London").await;
    tab.tab_to("Save and re-render the site", 5).await;
    tab.press_to_load(&Key::Enter).await;
    assert!(tab.text(".notice").await.contains("aved"));
    assert_eq!(tab.value("#s-name").await, "Cup Final Daily");
    tab.shot("site-settings-saved").await;
    // Every stored page is re-rendered in the background.
    let mut title = String::new();
    for _ in 0..100 {
        tab.go(&format!(
            "/matches/harbour-v-northgate?settings={}",
            title.len()
        ))
        .await;
        title = tab.client.title().await.unwrap();
        if title.contains("Cup Final Daily") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(title.contains("Cup Final Daily"), "{title}");
    tab.shot("public-page-renamed").await;
    tab.client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newsroom_day_in_chromium_at_1280_and_390_px() {
    if !installed() {
        return;
    }
    let driver = driver().await;
    newsroom_day(&driver, 1280, 900).await;
    newsroom_day(&driver, 390, 844).await;
}
