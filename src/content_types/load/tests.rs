//! One small valid site, and one bad fixture per check: each case changes or
//! removes files of the valid site and expects a problem naming the file,
//! the field where there is one, and the reason.

use std::path::Path;

use tempfile::TempDir;

use crate::content_types::ContentTypes;

use super::*;

mod links;
mod schema;

const TEAM: &str = r#"
route = "/teams/{slug}"
title_field = "name"

[fields.name]
kind = "string"
required = true

[related.matches]
type = "match"
references = ["home_team"]
order = "kickoff"
"#;

const MATCH: &str = r#"
route = "/matches/{slug}"

[cache]
browser_max_age = 10
edge_max_age = "1m"

[prewarm]
field = "kickoff"
before = "30m"
after = "3h"

[fields.home_team]
kind = "reference"
to = "team"

[fields.kickoff]
kind = "datetime"

[fields.status]
kind = "enum"
values = ["scheduled", "live"]
default = "scheduled"

[fields.report]
kind = "markdown"
"#;

const HOME: &str = r#"
path = "/"

[queries.live]
type = "match"
filter = { status = "live" }
order = "-kickoff"
limit = 5
"#;

const PAGE: &str =
    r#"{% extends "_site/base.html" %}{% block content %}{{ entry.slug }}{% endblock %}"#;

fn valid_site() -> Vec<(&'static str, String)> {
    vec![
        ("team/type.toml", TEAM.into()),
        ("team/page.html", PAGE.into()),
        ("match/type.toml", MATCH.into()),
        ("match/page.html", PAGE.into()),
        ("home/listing.toml", HOME.into()),
        ("home/page.html", PAGE.into()),
        (
            "_site/base.html",
            "<main>{% block content %}{% endblock %}</main>".into(),
        ),
        ("README.md", "top-level files are ignored".into()),
    ]
}

/// Writes the valid site with `changes` applied (`None` removes a file).
fn site_with(changes: &[(&str, Option<&str>)]) -> TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut files = valid_site();
    for (path, content) in changes {
        files.retain(|(p, _)| p != path);
        if let Some(content) = content {
            files.push((path, (*content).to_owned()));
        }
    }
    for (path, content) in files {
        write(dir.path(), path, content.as_bytes());
    }
    dir
}

fn write(root: &Path, path: &str, content: &[u8]) {
    let full = root.join(path);
    if let Some(parent) = full.parent() {
        std::fs::create_dir_all(parent).expect("create folder");
    }
    std::fs::write(full, content).expect("write fixture");
}

fn load_with(changes: &[(&str, Option<&str>)]) -> Result<ContentTypes, CheckErrors> {
    let dir = site_with(changes);
    ContentTypes::load(dir.path())
}

fn problems(changes: &[(&str, Option<&str>)]) -> Vec<CheckError> {
    match load_with(changes) {
        Ok(_) => panic!("expected problems for {changes:?}"),
        Err(errors) => errors.0,
    }
}

/// Asserts one problem in `file` (a path suffix) about `field` whose reason
/// contains `needle`.
#[track_caller]
fn expect_problem(changes: &[(&str, Option<&str>)], file: &str, field: Option<&str>, needle: &str) {
    let found = problems(changes);
    let hit = found.iter().any(|e| {
        e.file.ends_with(file) && e.field.as_deref() == field && e.reason.contains(needle)
    });
    let listed: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert!(
        hit,
        "expected {file} {field:?} ~ {needle:?}, got:\n{}",
        listed.join("\n")
    );
}

fn replace(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "fixture lacks {from:?}");
    text.replacen(from, to, 1)
}

#[test]
fn the_valid_site_loads() {
    let types = load_with(&[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        types.types().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["match", "team"]
    );
    let m = types.get("match").expect("match");
    assert_eq!((m.cache.browser_max_age, m.cache.edge_max_age), (10, 60));
    assert_eq!(m.template, "match/page.html");
    assert_eq!(m.label, "Match");
    assert_eq!(types.listings().count(), 1);
    assert_eq!(
        types
            .match_path("/teams/reds")
            .map(|(t, s)| (t.name.as_str(), s)),
        Some(("team", "reds"))
    );
    assert!(types.has_template("_site/base.html") && types.has_template("home/page.html"));
    assert!(types.environment().get_template("team/page.html").is_ok());
}

#[test]
fn problems_display_file_field_and_reason() {
    let m = replace(MATCH, "kind = \"datetime\"", "kind = \"datetim\"");
    let found = problems(&[("match/type.toml", Some(&m))]);
    let line = found
        .iter()
        .map(ToString::to_string)
        .find(|l| l.contains("datetim\""))
        .expect("reported");
    assert!(
        line.ends_with("match/type.toml: field \"kickoff\": unknown field kind \"datetim\" (expected one of string, text, markdown, integer, number, boolean, datetime, slug, enum, reference, image, list)"),
        "{line}"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let m = replace(MATCH, "kind = \"datetime\"", "kind = \"datetim\"");
    let m = replace(&m, "to = \"team\"", "to = \"player\"");
    let h = replace(HOME, "limit = 5", "limit = 0");
    let found = problems(&[
        ("match/type.toml", Some(&m)),
        ("home/listing.toml", Some(&h)),
        ("team/page.html", Some("{% if %}")),
        ("stray/notes.txt", Some("x")),
    ]);
    // kickoff's kind, home_team's target, the limit, the template, the folder
    // (and the prewarm field and query order naming the broken `kickoff` stay quiet).
    assert_eq!(found.len(), 5, "{}", CheckErrors(found.clone()));
}

#[test]
fn toml_syntax_and_unknown_keys() {
    expect_problem(
        &[(
            "match/type.toml",
            Some("route = \"/m/{slug}\"\n[fields.x\nkind = 1\n"),
        )],
        "match/type.toml",
        None,
        "line 2",
    );
    let m = replace(MATCH, "route =", "rout =");
    expect_problem(
        &[("match/type.toml", Some(&m))],
        "match/type.toml",
        None,
        "unknown field `rout`",
    );
    let m = replace(MATCH, "route =", "colour = 1\nroute =");
    expect_problem(
        &[("match/type.toml", Some(&m))],
        "match/type.toml",
        None,
        "line 2, column 1: unknown field `colour`",
    );
    let m = replace(
        MATCH,
        "kind = \"datetime\"",
        "kind = \"datetime\"\nlable = \"Kick-off\"",
    );
    expect_problem(
        &[("match/type.toml", Some(&m))],
        "match/type.toml",
        Some("kickoff"),
        "unknown field `lable`",
    );
    let m = replace(MATCH, "edge_max_age", "edge_ttl");
    expect_problem(
        &[("match/type.toml", Some(&m))],
        "match/type.toml",
        None,
        "unknown field `edge_ttl`",
    );
    let t = replace(TEAM, "order = \"kickoff\"", "order = \"kickoff\"\nsort = 1");
    expect_problem(
        &[("team/type.toml", Some(&t))],
        "team/type.toml",
        None,
        "related.matches: unknown field `sort`",
    );
    let h = replace(HOME, "limit = 5", "limit = 5\nreferences = []");
    expect_problem(
        &[("home/listing.toml", Some(&h))],
        "home/listing.toml",
        None,
        "queries.live: unknown field `references`",
    );
    let h = replace(HOME, "path =", "title = 3\npath =");
    expect_problem(
        &[("home/listing.toml", Some(&h))],
        "home/listing.toml",
        None,
        "invalid type",
    );
}

#[test]
fn folders() {
    expect_problem(
        &[("stray/page.html", Some("x"))],
        "stray",
        None,
        "has neither type.toml nor listing.toml",
    );
    expect_problem(
        &[("match/listing.toml", Some(HOME))],
        "match",
        None,
        "has both",
    );
    expect_problem(
        &[("My-Type/type.toml", Some(TEAM))],
        "My-Type",
        None,
        "folder name: invalid name",
    );
    expect_problem(
        &[("match/types.toml", Some("x = 1"))],
        "match/types.toml",
        None,
        "unexpected file",
    );
    let empty = tempfile::tempdir().expect("temp dir");
    let found = ContentTypes::load(empty.path()).expect_err("empty dir");
    assert!(
        found.0[0].reason.contains("no content types found"),
        "{found}"
    );
    let missing = empty.path().join("nope");
    let found = ContentTypes::load(&missing).expect_err("missing dir");
    assert!(
        found.0[0]
            .reason
            .contains("cannot read the content-types directory"),
        "{found}"
    );
    let only_listing = site_with(&[
        ("match/type.toml", None),
        ("team/type.toml", None),
        ("match/page.html", None),
        ("team/page.html", None),
    ]);
    let found = ContentTypes::load(only_listing.path()).expect_err("listings but no types");
    assert!(
        found
            .0
            .iter()
            .any(|e| e.reason.contains("no content types found")),
        "{found}"
    );
}

#[test]
fn records_hash_type_and_shared_sources() {
    let hash = |changes: &[(&str, Option<&str>)], name: &str| {
        let types = load_with(changes).unwrap_or_else(|e| panic!("{e}"));
        types
            .records()
            .into_iter()
            .find(|r| r.name == name)
            .map(|r| r.hash)
            .expect("record")
    };
    let base = hash(&[], "match");
    assert_eq!(base, hash(&[], "match"));
    assert_ne!(
        base,
        hash(&[("match/page.html", Some("{{ entry.slug }}"))], "match")
    );
    assert_ne!(
        base,
        hash(
            &[("_site/base.html", Some("{% block content %}{% endblock %}"))],
            "match"
        )
    );
    assert_eq!(
        base,
        hash(&[("team/page.html", Some("{{ entry.slug }}"))], "match")
    );
}
