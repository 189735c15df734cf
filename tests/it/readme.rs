//! The README's examples run as written: each shell block named here is
//! extracted and run in bash against a real server on a fresh database,
//! with `cargo run --release --` standing for this build of `keel`.

use std::process::Command;

use crate::helpers::{TestApp, TestStore, test_config};

/// The first `sh` block after the heading `heading` in the README.
fn shell_block(heading: &str) -> String {
    let readme = include_str!("../../README.md");
    let section = readme
        .split_once(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("README has no heading {heading:?}"))
        .1;
    let block = section
        .split_once("```sh\n")
        .expect("a sh block after the heading")
        .1;
    block
        .split_once("```")
        .expect("the block ends")
        .0
        .to_owned()
}

/// Runs a README block against `app`; returns stdout, failing on any error.
fn run_block(block: &str, app: &TestApp, database_url: &str) -> String {
    let script = format!(
        "set -euo pipefail\n\
         cargo() {{\n\
           if [ \"$1 $2 $3\" != \"run --release --\" ]; then echo \"unexpected: cargo $*\" >&2; return 1; fi\n\
           shift 3; \"$KEEL_BIN\" \"$@\"\n\
         }}\n{}",
        block.replace("http://127.0.0.1:8080", &app.addr)
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("KEEL_BIN", env!("CARGO_BIN_EXE_keel"))
        .env("KEEL_DATABASE_URL", database_url)
        .env("KEEL_LOG", "warn")
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the README block failed ({}):\n{script}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_editor_api_walkthrough_runs_verbatim() {
    let store = TestStore::sqlite().await;
    let config = keel::config::ServeConfig {
        demo: true,
        ..test_config(&store.url)
    };
    let app = TestApp::spawn_with(config, store.store.clone(), None).await;
    let block = shell_block("## The editor API");
    let url = store.raw_url.clone();
    let out = {
        let app = &app;
        tokio::task::block_in_place(|| run_block(&block, app, &url))
    };
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with("<h1>"))
            .collect::<Vec<_>>(),
        ["<h1>Rovers</h1>", "<h1>Rovers FC</h1>"],
        "{out}"
    );
    assert!(out.contains("\"status\":\"published\""), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_images_walkthrough_runs_verbatim_after_the_editor_api_one() {
    let store = TestStore::sqlite().await;
    let config = keel::config::ServeConfig {
        demo: true,
        ..test_config(&store.url)
    };
    let app = TestApp::spawn_with(config, store.store.clone(), None).await;
    // The images block uses the token, API and team of the one before it,
    // as a reader typing both in one terminal would.
    let block = format!(
        "{}\n{}",
        shell_block("## The editor API"),
        shell_block("### Images")
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let url = store.raw_url.clone();
    let out = {
        let app = &app;
        tokio::task::block_in_place(|| {
            run_block(&format!("cd {}\n{block}", dir.path().display()), app, &url)
        })
    };
    let picture = out
        .lines()
        .find(|l| l.starts_with("<picture>"))
        .unwrap_or_else(|| panic!("no <picture> in:\n{out}"));
    assert!(picture.contains(r#"alt="Rovers crest""#), "{picture}");
    assert!(picture.contains("rovers-crest-320.webp 320w"), "{picture}");
    assert!(picture.contains(r#"type="image/webp""#), "{picture}");
    assert!(
        !dir.path().join("crest.png").exists(),
        "the block cleans up"
    );
}
