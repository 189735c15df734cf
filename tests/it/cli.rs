//! The `keel` binary as an operator uses it: check, migrate, tokens, seed.

use std::path::Path;
use std::process::{Command, Output};

use crate::helpers::{TestStore, copy_dir, demo_content_types};

fn keel(args: &[&str], database_url: &str, content_types: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(args)
        .env("KEEL_DATABASE_URL", database_url)
        .env("KEEL_CONTENT_TYPES", content_types)
        .env("KEEL_LOG", "warn")
        .output()
        .expect("run keel")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("keel.db").display())
}

#[test]
fn check_accepts_the_demo_content_types() {
    let dir = tempfile::tempdir().unwrap();
    let out = keel(&["check"], &sqlite_url(dir.path()), &demo_content_types());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("ok"));
}

/// A copy of the demo types with one schema file replaced.
fn broken_types(type_name: &str, schema: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&demo_content_types(), dir.path());
    std::fs::write(dir.path().join(type_name).join("type.toml"), schema).unwrap();
    dir
}

fn assert_check_fails(types: &Path, file: &str, field: &str, reason: &str) {
    let db = tempfile::tempdir().unwrap();
    let out = keel(&["check"], &sqlite_url(db.path()), types);
    let err = stderr(&out);
    assert!(!out.status.success(), "check passed on a broken type");
    assert!(err.contains(file), "no file {file:?} in: {err}");
    assert!(err.contains(field), "no field {field:?} in: {err}");
    assert!(
        err.to_lowercase().contains(reason),
        "no reason {reason:?} in: {err}"
    );
}

#[test]
fn check_names_the_file_and_field_of_an_unknown_kind() {
    let types = broken_types(
        "team",
        "route = \"/teams/{slug}\"\n[fields.name]\nkind = \"string\"\nrequired = true\n[fields.founded]\nkind = \"integr\"\n",
    );
    assert_check_fails(types.path(), "team/type.toml", "founded", "integr");
}

#[test]
fn check_names_a_key_an_image_field_does_not_take() {
    let types = broken_types(
        "team",
        "route = \"/teams/{slug}\"\n[fields.name]\nkind = \"string\"\n[fields.crest]\nkind = \"image\"\nmax_length = 10\n",
    );
    assert_check_fails(
        types.path(),
        "team/type.toml",
        "crest",
        "does not apply to kind image",
    );
}

#[test]
fn check_names_a_route_without_its_placeholder() {
    let types = broken_types(
        "team",
        "route = \"/teams/\"\n[fields.name]\nkind = \"string\"\n",
    );
    assert_check_fails(types.path(), "team/type.toml", "route", "{slug}");
}

#[test]
fn check_names_a_reference_to_a_missing_type() {
    let types = broken_types(
        "team",
        "route = \"/teams/{slug}\"\n[fields.name]\nkind = \"string\"\n[fields.coach]\nkind = \"reference\"\nto = \"coach\"\n",
    );
    assert_check_fails(types.path(), "team/type.toml", "coach", "coach");
}

#[test]
fn serve_refuses_to_start_on_an_invalid_type() {
    let types = broken_types("team", "route = \"/teams/\"\n");
    let db = tempfile::tempdir().unwrap();
    let out = keel(
        &["serve", "--listen", "127.0.0.1:0"],
        &sqlite_url(db.path()),
        types.path(),
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("team/type.toml"), "{}", stderr(&out));
}

#[test]
fn migrate_twice_applies_nothing_the_second_time() {
    let db = tempfile::tempdir().unwrap();
    let url = sqlite_url(db.path());
    let first = keel(&["migrate"], &url, &demo_content_types());
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(!stdout(&first).starts_with("0 "), "{}", stdout(&first));
    let second = keel(&["migrate"], &url, &demo_content_types());
    assert!(second.status.success());
    assert!(
        stdout(&second).starts_with("0 migration"),
        "{}",
        stdout(&second)
    );
}

#[test]
fn an_unsupported_database_url_is_a_clear_error() {
    let out = keel(&["migrate"], "mysql://localhost/x", &demo_content_types());
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("unsupported database URL"),
        "{}",
        stderr(&out)
    );
}

/// Every file of the SQLite database (main, WAL, shared memory), as bytes.
fn sqlite_bytes(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        all.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    all
}

#[test]
fn token_create_prints_only_the_secret_and_stores_only_its_hash() {
    let db = tempfile::tempdir().unwrap();
    let url = sqlite_url(db.path());
    let out = keel(
        &["token", "create", "--name", "desk", "--role", "admin"],
        &url,
        &demo_content_types(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = stdout(&out);
    let secret = printed.trim();
    assert_eq!(
        printed.lines().count(),
        1,
        "stdout holds the token only: {printed:?}"
    );
    assert!(secret.starts_with("keel_") && secret.len() > 40);

    let bytes = sqlite_bytes(db.path());
    let hash = keel::auth::hash_token(secret);
    let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(!contains(secret), "the plaintext token is in the database");
    assert!(contains(&hash), "the token's hash is not in the database");

    let list = keel(&["token", "list"], &url, &demo_content_types());
    assert!(stdout(&list).contains("desk") && stdout(&list).contains("admin"));
    assert!(!stdout(&list).contains(secret));

    let dup = keel(
        &["token", "create", "--name", "desk"],
        &url,
        &demo_content_types(),
    );
    assert!(!dup.status.success());
    assert!(stderr(&dup).contains("desk"), "{}", stderr(&dup));

    let revoke = keel(&["token", "revoke", "desk"], &url, &demo_content_types());
    assert!(revoke.status.success(), "{}", stderr(&revoke));
    let again = keel(&["token", "revoke", "desk"], &url, &demo_content_types());
    assert!(!again.status.success());
}

#[test]
fn seed_requires_a_choice() {
    let db = tempfile::tempdir().unwrap();
    let out = keel(&["seed"], &sqlite_url(db.path()), &demo_content_types());
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--demo"));
}

#[tokio::test]
async fn seed_demo_works_on_postgres_too() {
    let Some(store) = TestStore::postgres().await else {
        return;
    };
    let url = store.raw_url.clone();
    let out =
        tokio::task::spawn_blocking(move || keel(&["seed", "--demo"], &url, &demo_content_types()))
            .await
            .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("seeded 6 teams, 12 matches, 4 articles, 11 images"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        store.store.published_entries("match").await.unwrap().len(),
        12
    );
}

#[test]
fn render_all_re_renders_every_published_page() {
    let db = tempfile::tempdir().unwrap();
    let url = sqlite_url(db.path());
    let seed = keel(&["seed", "--demo"], &url, &demo_content_types());
    assert!(seed.status.success(), "{}", stderr(&seed));
    let refused = keel(&["render"], &url, &demo_content_types());
    assert!(!refused.status.success());
    let out = keel(
        &["render", "--all", "--batch", "8"],
        &url,
        &demo_content_types(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // 22 entries, each an HTML page and a JSON document, 4 listings, their
    // archive pages (the demo's kick-offs may span two months), a page per
    // competition, and the sitemaps.
    let rendered: u32 = stdout(&out)
        .trim()
        .strip_suffix(" page(s) rendered")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", stdout(&out)));
    let conn = rusqlite::Connection::open(db.path().join("keel.db")).unwrap();
    let archive: i64 = conn
        .query_row(
            "SELECT count(*) FROM pages WHERE path GLOB '/matches/[0-9]*' OR path GLOB '/news/[0-9]*'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert!(archive >= 2, "{archive} archive pages");
    let sitemaps: i64 = conn
        .query_row(
            "SELECT count(*) FROM pages WHERE path GLOB '/sitemaps/*.xml'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    let site: i64 = conn
        .query_row(
            "SELECT count(*) FROM pages WHERE path IN ('/sitemap.xml', '/robots.txt')",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert!(sitemaps >= 1, "{sitemaps} sitemap files");
    let groups: i64 = conn
        .query_row(
            "SELECT count(*) FROM pages WHERE path GLOB '/competitions/*'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert!(groups >= 1, "{groups} competition pages");
    assert_eq!(site, 2);
    // The sitemap index is written once, with robots.txt.
    assert_eq!(
        i64::from(rendered),
        22 * 2 + 4 + archive + groups + sitemaps + 2
    );
}

#[test]
fn prewarm_at_shows_what_would_be_pinned_then() {
    let db = tempfile::tempdir().unwrap();
    let url = sqlite_url(db.path());
    let types = demo_content_types();
    let seed = keel(&["seed", "--demo"], &url, &types);
    assert!(seed.status.success(), "{}", stderr(&seed));

    // The demo's live matches kicked off an hour ago and now; the next one
    // kicks off in two hours (windows: 30 min before to 3 h after).
    let now = keel(&["prewarm", "--at", "+1h", "--json"], &url, &types);
    assert!(now.status.success(), "{}", stderr(&now));
    let plan: serde_json::Value = serde_json::from_slice(&now.stdout).unwrap();
    let slugs = |plan: &serde_json::Value| -> Vec<String> {
        plan["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["slug"].as_str().unwrap().to_owned())
            .collect()
    };
    let live = slugs(&plan);
    assert_eq!(live.len(), 2, "{plan}");
    assert!(
        plan["listings"]
            .as_array()
            .unwrap()
            .contains(&"/matches".into())
    );
    let later = keel(&["prewarm", "--at", "+150m", "--json"], &url, &types);
    let later: serde_json::Value = serde_json::from_slice(&later.stdout).unwrap();
    let later = slugs(&later);
    assert_eq!(later.len(), 2, "{later:?}");
    assert_ne!(live, later, "the window moved on");

    let table = keel(&["prewarm", "--at", "+1h"], &url, &types);
    let text = stdout(&table);
    assert!(text.contains("2 entries"), "{text}");
    assert!(text.contains(&format!("/matches/{}", live[0])), "{text}");

    let empty = keel(&["prewarm", "--at", "2000-01-01T00:00:00Z"], &url, &types);
    assert!(stdout(&empty).contains("0 entries"), "{}", stdout(&empty));

    let bad = keel(&["prewarm", "--at", "tomorrow"], &url, &types);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("RFC 3339"), "{}", stderr(&bad));
}

/// Bad outbox settings stop `keel serve` before it listens, naming what is
/// wrong.
#[test]
fn serve_refuses_bad_edge_and_webhook_settings() {
    let dir = tempfile::tempdir().unwrap();
    let hooks = dir.path().join("webhooks.toml");
    std::fs::write(
        &hooks,
        "[[webhook]]\nname = \"search\"\nurl = \"http://127.0.0.1:9/\"\nsecret = \"too-short\"\n",
    )
    .unwrap();
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let unreachable = format!("varnish:http://127.0.0.1:{free}");
    let cases: [(Vec<&str>, &str); 4] = [
        (
            vec!["serve", "--edge-purge", "akamai:http://x"],
            "unknown purge kind \"akamai\"",
        ),
        (
            vec!["serve", "--edge-purge", &unreachable],
            "is unreachable",
        ),
        (
            vec!["serve", "--webhooks", hooks.to_str().unwrap()],
            "webhook \"search\": the secret is 9 bytes; at least 32",
        ),
        (
            vec!["serve", "--edge-purge", "fastly:abc"],
            "set --fastly-api-token or KEEL_FASTLY_API_TOKEN",
        ),
    ];
    for (args, needle) in cases {
        let mut args = args.clone();
        args.extend(["--listen", "127.0.0.1:0"]);
        let out = keel(&args, &sqlite_url(dir.path()), &demo_content_types());
        assert!(!out.status.success(), "{args:?} started");
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
}
