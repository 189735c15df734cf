//! What ties files together: routes and paths, references between types,
//! queries and templates.

use super::*;

#[test]
fn routes_and_paths() {
    let route = |r: &str| {
        replace(
            MATCH,
            "route = \"/matches/{slug}\"",
            &format!("route = \"{r}\""),
        )
    };
    for (bad, needle) in [
        ("/matches", "exactly one {slug}"),
        ("/matches/{id}", "exactly one {slug}"),
        ("/m/{slug}/{page}", "braces"),
        ("matches/{slug}", "must start with"),
        ("/m-{slug}", "whole path segment"),
        ("/{slug}/x", "could match /api"),
        ("/api/{slug}", "could match /api"),
    ] {
        expect_problem(
            &[("match/type.toml", Some(&route(bad)))],
            "match/type.toml",
            None,
            needle,
        );
    }
    let t = replace(
        TEAM,
        "route = \"/teams/{slug}\"",
        "route = \"/matches/{slug}\"",
    );
    expect_problem(
        &[("team/type.toml", Some(&t))],
        "team/type.toml",
        None,
        "is also the route of type \"match\"",
    );
    let t = replace(
        TEAM,
        "route = \"/teams/{slug}\"",
        "route = \"/{slug}/{slug}\"",
    );
    expect_problem(
        &[("team/type.toml", Some(&t))],
        "team/type.toml",
        None,
        "exactly one",
    );
    let t = replace(
        TEAM,
        "route = \"/teams/{slug}\"",
        "route = \"/{slug}/live\"",
    );
    expect_problem(
        &[("team/type.toml", Some(&t))],
        "team/type.toml",
        None,
        "overlaps the route \"/matches/{slug}\"",
    );

    let listing = |path: &str| replace(HOME, "path = \"/\"", &format!("path = \"{path}\""));
    expect_problem(
        &[("home/listing.toml", Some(&listing("/matches/featured")))],
        "home/listing.toml",
        None,
        "collides with the route of type \"match\"",
    );
    expect_problem(
        &[("home/listing.toml", Some(&listing("/m/{slug}")))],
        "home/listing.toml",
        None,
        "no placeholders",
    );
    expect_problem(
        &[("home/listing.toml", Some(&listing("/metrics")))],
        "home/listing.toml",
        None,
        "keel serves itself",
    );
    expect_problem(
        &[("home/listing.toml", Some(&listing("/news/")))],
        "home/listing.toml",
        None,
        "empty segment",
    );
    expect_problem(
        &[
            ("news/listing.toml", Some(HOME)),
            ("news/page.html", Some(PAGE)),
        ],
        "news/listing.toml",
        None,
        "is also the path of listing \"home\"",
    );
}

#[test]
fn references_to_missing_types_and_wrong_fields() {
    let m = replace(MATCH, "to = \"team\"", "to = \"player\"");
    expect_problem(
        &[("match/type.toml", Some(&m))],
        "match/type.toml",
        Some("home_team"),
        "`to` names no content type: \"player\"",
    );
    let t = replace(TEAM, "type = \"match\"", "type = \"fixture\"");
    expect_problem(
        &[("team/type.toml", Some(&t))],
        "team/type.toml",
        None,
        "related.matches.type: no content type named \"fixture\"",
    );
    let h = replace(HOME, "type = \"match\"", "type = \"fixture\"");
    expect_problem(
        &[("home/listing.toml", Some(&h))],
        "home/listing.toml",
        None,
        "queries.live.type: no content type named \"fixture\"",
    );
    for (refs, needle) in [
        (
            "[\"kickoff\"]",
            "\"kickoff\" is of kind datetime, not a reference",
        ),
        (
            "[\"away_team\"]",
            "type \"match\" has no field \"away_team\"",
        ),
        ("[]", "name at least one reference field"),
    ] {
        let t = replace(TEAM, "[\"home_team\"]", refs);
        expect_problem(
            &[("team/type.toml", Some(&t))],
            "team/type.toml",
            None,
            needle,
        );
    }
    // A reference to another type cannot list the owner's matches.
    let m = format!("{MATCH}\n[fields.venue]\nkind = \"reference\"\nto = \"match\"\n");
    let t = replace(TEAM, "[\"home_team\"]", "[\"venue\"]");
    expect_problem(
        &[("match/type.toml", Some(&m)), ("team/type.toml", Some(&t))],
        "team/type.toml",
        None,
        "\"venue\" references \"match\", not \"team\"",
    );
    // A type that failed to parse is not also reported as missing.
    let found = problems(&[("team/type.toml", Some("route = 5"))]);
    assert_eq!(found.len(), 1, "{}", CheckErrors(found.clone()));
}

#[test]
fn query_fields_orders_filters_and_limits() {
    let q = |from: &str, to: &str| replace(HOME, from, to);
    for (listing, needle) in [
        (
            q("order = \"-kickoff\"", "order = \"-kickof\""),
            "queries.live.order: type \"match\" has no field \"kickof\"",
        ),
        (
            q("order = \"-kickoff\"", "order = \"report\""),
            "cannot order by markdown field report",
        ),
        (
            q("order = \"-kickoff\"", "order = \"home_team\""),
            "cannot order by reference field",
        ),
        (
            q("{ status = \"live\" }", "{ state = \"live\" }"),
            "queries.live.filter: type \"match\" has no field \"state\"",
        ),
        (
            q("{ status = \"live\" }", "{ status = \"postponed\" }"),
            "queries.live.filter.status: filter value for status must be one of",
        ),
        (
            q("{ status = \"live\" }", "{ status = [] }"),
            "lists no values",
        ),
        (
            q("{ status = \"live\" }", "{ report = \"x\" }"),
            "cannot filter on markdown",
        ),
        (
            q("{ status = \"live\" }", "{ published_at = \"soon\" }"),
            "must be an RFC 3339",
        ),
        (
            q("limit = 5", "limit = 0"),
            "queries.live.limit: must be between 1 and 1000",
        ),
        (q("limit = 5", "limit = 5000"), "must be between 1 and 1000"),
        (q("[queries.live]", "[queries.Live]"), "invalid name"),
    ] {
        expect_problem(
            &[("home/listing.toml", Some(&listing))],
            "home/listing.toml",
            None,
            needle,
        );
    }
    let t = replace(TEAM, "order = \"kickoff\"", "order = \"date\"");
    expect_problem(
        &[("team/type.toml", Some(&t))],
        "team/type.toml",
        None,
        "related.matches.order: type \"match\" has no field \"date\"",
    );
    // Meta fields are always available.
    let h = q("order = \"-kickoff\"", "order = \"-updated_at\"");
    let h = replace(&h, "{ status = \"live\" }", "{ slug = [\"a\", \"b\"] }");
    assert!(load_with(&[("home/listing.toml", Some(&h))]).is_ok());
}

#[test]
fn templates() {
    expect_problem(
        &[("match/page.html", None)],
        "match/type.toml",
        None,
        "template: \"page.html\" not found in folder \"match\"",
    );
    let m = format!("template = \"show.html\"\n{MATCH}");
    expect_problem(
        &[("match/type.toml", Some(&m))],
        "match/type.toml",
        None,
        "\"show.html\" not found",
    );
    let m = format!("template = \"../team/page.html\"\n{MATCH}");
    expect_problem(
        &[("match/type.toml", Some(&m))],
        "match/type.toml",
        None,
        "without \"..\"",
    );
    expect_problem(
        &[("team/page.html", Some("<p>\n{{ entry.slug }\n</p>"))],
        "team/page.html",
        None,
        "template error: syntax error",
    );
    expect_problem(
        &[("team/page.html", Some("{% for x in y %}"))],
        "team/page.html",
        None,
        "(in team/page.html:1)",
    );
    expect_problem(
        &[(
            "team/page.html",
            Some("\n{% extends \"_site/layout.html\" %}"),
        )],
        "team/page.html",
        None,
        "line 2: refers to template \"_site/layout.html\", which does not exist",
    );
    expect_problem(
        &[("_site/bad.html", Some("{% include 'team/nope.html' %}"))],
        "_site/bad.html",
        None,
        "does not exist",
    );
    let dir = site_with(&[]);
    write(dir.path(), "_site/logo.html", &[0xff, 0xfe, 0x00]);
    let found = ContentTypes::load(dir.path()).expect_err("non-UTF-8 template");
    assert!(
        found
            .0
            .iter()
            .any(|e| e.file.ends_with("_site/logo.html") && e.reason.contains("UTF-8"))
    );
    // Templates in subfolders are named by their path; hidden files are skipped.
    let types = load_with(&[
        ("match/parts/row.html", Some("row")),
        ("match/.page.html.swp", Some("{%")),
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        types.has_template("match/parts/row.html") && !types.has_template("match/.page.html.swp")
    );
}
