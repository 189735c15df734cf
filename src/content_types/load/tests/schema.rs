//! Field definitions and type-level settings.

use super::*;

fn with_field(table: &str) -> String {
    format!("{MATCH}\n[fields.extra]\n{table}\n")
}

#[track_caller]
fn expect_field_problem(table: &str, needle: &str) {
    expect_problem(
        &[("match/type.toml", Some(&with_field(table)))],
        "match/type.toml",
        Some("extra"),
        needle,
    );
}

#[test]
fn field_definitions() {
    for (table, needle) in [
        ("kind = \"enum\"", "non-empty `values`"),
        ("kind = \"enum\"\nvalues = []", "non-empty `values`"),
        ("kind = \"enum\"\nvalues = [\"a\", \"a\"]", "listed twice"),
        (
            "kind = \"enum\"\nvalues = [\"a\"]\ndefault = \"b\"",
            "default: must be one of: a",
        ),
        (
            "kind = \"integer\"\ndefault = \"x\"",
            "default: expected an integer",
        ),
        (
            "kind = \"integer\"\ndefault = 1.5",
            "default: expected an integer",
        ),
        (
            "kind = \"integer\"\nmin = 0\ndefault = -1",
            "default: must be at least 0",
        ),
        (
            "kind = \"datetime\"\ndefault = \"tomorrow\"",
            "default: must be an RFC 3339",
        ),
        (
            "kind = \"datetime\"\ndefault = 2026-03-14T15:00:00",
            "default: must be an RFC 3339",
        ),
        (
            "kind = \"slug\"\ndefault = \"Not A Slug\"",
            "default: is not a valid slug",
        ),
        (
            "kind = \"list\"\nof = \"string\"\nmax_length = 2\ndefault = [\"ok\", \"long\"]",
            "default (item 1): must be at most 2 characters",
        ),
        (
            "kind = \"integer\"\nmin = 5\nmax = 1",
            "min (5) is greater than max (1)",
        ),
        (
            "kind = \"number\"\nmin = 1.5\nmax = 1",
            "min (1.5) is greater than max (1)",
        ),
        (
            "kind = \"list\"\nof = \"string\"\nmin = 3\nmax = 2",
            "min (3) is greater than max (2)",
        ),
        (
            "kind = \"list\"\nof = \"string\"\nmin = -1",
            "non-negative integer",
        ),
        ("kind = \"integer\"\nmin = 0.5", "min must be an integer"),
        (
            "kind = \"string\"\nvalues = [\"a\"]",
            "key \"values\" does not apply to kind string",
        ),
        (
            "kind = \"text\"\nunique = true",
            "key \"unique\" does not apply to kind text",
        ),
        (
            "kind = \"boolean\"\nmax_length = 3",
            "key \"max_length\" does not apply",
        ),
        (
            "kind = \"string\"\nmax_length = 0",
            "max_length must be at least 1",
        ),
        (
            "kind = \"string\"\nto = \"team\"",
            "key \"to\" does not apply",
        ),
        (
            "kind = \"string\"\nof = \"string\"",
            "key \"of\" does not apply",
        ),
        ("kind = \"reference\"", "a reference needs `to`"),
        ("kind = \"list\"", "a list needs `of`"),
        (
            "kind = \"list\"\nof = \"list\"",
            "lists of lists are not supported",
        ),
        (
            "kind = \"list\"\nof = \"markdown\"",
            "lists of markdown are not supported",
        ),
        (
            "kind = \"list\"\nof = \"strin\"",
            "unknown item kind \"strin\"",
        ),
        ("kind = \"list\"\nof = \"enum\"", "non-empty `values`"),
        ("kind = \"number\"\nmin = nan", "finite number"),
        ("kind = \"string\"\nrequired = \"yes\"", "invalid type"),
    ] {
        expect_field_problem(table, needle);
    }
    let reserved = format!("{MATCH}\n[fields.slug]\nkind = \"string\"\n");
    expect_problem(
        &[("match/type.toml", Some(&reserved))],
        "match/type.toml",
        Some("slug"),
        "reserved",
    );
    let bad_name = format!("{MATCH}\n[fields.Home-Team]\nkind = \"string\"\n");
    expect_problem(
        &[("match/type.toml", Some(&bad_name))],
        "match/type.toml",
        Some("Home-Team"),
        "invalid name",
    );
}

#[test]
fn image_fields_and_galleries() {
    for (table, needle) in [
        (
            "kind = \"image\"\nmax_length = 10",
            "key \"max_length\" does not apply to kind image",
        ),
        (
            "kind = \"image\"\nto = \"team\"",
            "key \"to\" does not apply",
        ),
        ("kind = \"image\"\nmin = 1", "key \"min\" does not apply"),
        (
            "kind = \"image\"\ndefault = \"x\"",
            "default: expected an image",
        ),
        (
            "kind = \"imag\"",
            "(expected one of string, text, markdown, integer, number, boolean, datetime, slug, enum, reference, image, list)",
        ),
    ] {
        expect_field_problem(table, needle);
    }
    let m = with_field("kind = \"list\"\nof = \"image\"\nmax = 12");
    let types = load_with(&[("match/type.toml", Some(&m))]).unwrap_or_else(|e| panic!("{e}"));
    let extra = &types.get("match").expect("match").fields["extra"];
    assert_eq!(
        extra.kind,
        crate::content_types::FieldKind::List {
            of: Box::new(crate::content_types::FieldKind::Image),
            min: None,
            max: Some(12),
        }
    );
    assert_eq!(
        serde_json::to_value(extra).expect("serializes")["of"],
        serde_json::json!({ "kind": "image" })
    );
}

#[test]
fn valid_defaults_are_normalised() {
    let m = with_field("kind = \"datetime\"\ndefault = 2026-03-14T17:00:00+02:00");
    let types = load_with(&[("match/type.toml", Some(&m))]).unwrap_or_else(|e| panic!("{e}"));
    let extra = &types.get("match").expect("match").fields["extra"];
    assert_eq!(
        extra.default,
        Some(serde_json::json!("2026-03-14T15:00:00Z"))
    );
}

#[test]
fn type_level_settings() {
    let m = replace(MATCH, "field = \"kickoff\"", "field = \"start\"");
    expect_problem(
        &[("match/type.toml", Some(&m))],
        "match/type.toml",
        None,
        "prewarm.field: no field named \"start\"",
    );
    let m = replace(MATCH, "field = \"kickoff\"", "field = \"status\"");
    expect_problem(
        &[("match/type.toml", Some(&m))],
        "match/type.toml",
        None,
        "\"status\" is of kind enum; it must be a datetime",
    );
    let m = replace(MATCH, "before = \"30m\"", "before = \"half an hour\"");
    expect_problem(
        &[("match/type.toml", Some(&m))],
        "match/type.toml",
        None,
        "prewarm.before:",
    );
    let m = replace(MATCH, "after = \"3h\"", "");
    expect_problem(
        &[("match/type.toml", Some(&m))],
        "match/type.toml",
        None,
        "missing field `after`",
    );
    let m = replace(MATCH, "edge_max_age = \"1m\"", "edge_max_age = -5");
    expect_problem(
        &[("match/type.toml", Some(&m))],
        "match/type.toml",
        None,
        "cache.edge_max_age: -5 is negative",
    );
    let m = replace(MATCH, "browser_max_age = 10", "browser_max_age = \"500ms\"");
    expect_problem(
        &[("match/type.toml", Some(&m))],
        "match/type.toml",
        None,
        "cache.browser_max_age: 500ms is not a whole number of seconds",
    );
    let t = replace(TEAM, "title_field = \"name\"", "title_field = \"title\"");
    expect_problem(
        &[("team/type.toml", Some(&t))],
        "team/type.toml",
        None,
        "title_field: no field named \"title\"",
    );
    let m = format!("title_field = \"kickoff\"\n{MATCH}");
    expect_problem(
        &[("match/type.toml", Some(&m))],
        "match/type.toml",
        None,
        "it must be a string or slug",
    );
}

#[test]
fn a_live_cache_policy_overrides_only_its_own_keys() {
    let live = "edge_max_age = \"1m\"\n\n[cache.live]\nfield = \"status\"\nvalues = [\"live\"]\nstale_if_error = \"1m\"\n";
    let m = replace(MATCH, "edge_max_age = \"1m\"\n", live);
    let types = load_with(&[("match/type.toml", Some(&m))]).unwrap_or_else(|e| panic!("{e}"));
    let ty = types.get("match").expect("match");
    let live = serde_json::json!({"status": "live"});
    let scheduled = serde_json::json!({"status": "scheduled"});
    assert_eq!(ty.cache_for(Some(&live)).stale_if_error, 60);
    assert_eq!(
        ty.cache_for(Some(&live)).edge_max_age,
        60,
        "kept from [cache]"
    );
    assert_eq!(ty.cache_for(Some(&scheduled)), ty.cache);
    assert_eq!(ty.cache_for(None), ty.cache);

    for (from, to, needle) in [
        (
            "field = \"status\"\nvalues",
            "field = \"kickoff\"\nvalues",
            "cache.live.field: \"kickoff\" is of kind datetime; it must be an enum",
        ),
        (
            "values = [\"live\"]",
            "values = [\"playing\"]",
            "cache.live.values: \"playing\" is not a value of \"status\" (scheduled, live)",
        ),
        (
            "values = [\"live\"]",
            "values = []",
            "cache.live.values: name at least one value",
        ),
        (
            "stale_if_error = \"1m\"\n",
            "stale_if_error = \"soon\"\n",
            "cache.live.stale_if_error:",
        ),
        (
            "field = \"status\"\nvalues",
            "field = \"state\"\nvalues",
            "cache.live.field: no field named \"state\"",
        ),
    ] {
        let bad = replace(&m, from, to);
        expect_problem(
            &[("match/type.toml", Some(&bad))],
            "match/type.toml",
            None,
            needle,
        );
    }
    let home = format!("{HOME}\n[cache.live]\nfield = \"status\"\nvalues = [\"live\"]\n");
    expect_problem(
        &[("home/listing.toml", Some(&home))],
        "home/listing.toml",
        None,
        "cache.live: only a content type's entries can be live",
    );
}

#[test]
fn a_console_names_fields_of_the_kinds_it_changes() {
    for (console, needle) in [
        (
            "scores = [\"status\"]",
            "console.scores: \"status\" is of kind enum; it must be an integer",
        ),
        (
            "status = \"kickoff\"",
            "console.status: \"kickoff\" is of kind datetime; it must be an enum",
        ),
        (
            "commentary = \"report\"",
            "console.commentary: \"report\" is of kind markdown",
        ),
        (
            "scores = [\"goals\"]",
            "console.scores: no field named \"goals\"",
        ),
        (
            "",
            "console: name at least one of scores, status, commentary",
        ),
        ("minute = \"x\"", "unknown field `minute`"),
    ] {
        let m = format!("{MATCH}\n[console]\n{console}\n");
        expect_problem(
            &[("match/type.toml", Some(&m))],
            "match/type.toml",
            None,
            needle,
        );
    }
    let m = format!("{MATCH}\n[console]\nstatus = \"status\"\n");
    let types = load_with(&[("match/type.toml", Some(&m))]).expect("valid");
    let console = types.get("match").unwrap().console.clone().unwrap();
    assert_eq!(console.status.as_deref(), Some("status"));
}
