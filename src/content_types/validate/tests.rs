use indexmap::IndexMap;
use serde_json::{Value, json};

use super::*;
use crate::content_types::model::Field;
use crate::content_types::route::Route;
use crate::model::CachePolicy;

fn field(name: &str, kind: FieldKind) -> Field {
    Field {
        name: name.into(),
        label: name.into(),
        help: None,
        kind,
        required: false,
        default: None,
        unique: false,
    }
}

/// One field of every kind, some required, some with defaults.
fn every_kind() -> ContentType {
    let mut fields = IndexMap::new();
    let mut add = |f: Field| {
        fields.insert(f.name.clone(), f);
    };
    add(Field {
        required: true,
        ..field(
            "title",
            FieldKind::String {
                max_length: Some(5),
            },
        )
    });
    add(field("notes", FieldKind::Text { max_length: None }));
    add(field(
        "body",
        FieldKind::Markdown {
            max_length: Some(10),
        },
    ));
    add(field("handle", FieldKind::Slug { max_length: None }));
    add(Field {
        default: Some(json!(0)),
        ..field(
            "score",
            FieldKind::Integer {
                min: Some(0),
                max: Some(10),
            },
        )
    });
    add(field(
        "ratio",
        FieldKind::Number {
            min: Some(0.0),
            max: Some(1.0),
        },
    ));
    add(field("featured", FieldKind::Boolean));
    add(Field {
        required: true,
        ..field("kickoff", FieldKind::Datetime)
    });
    add(Field {
        default: Some(json!("scheduled")),
        ..field(
            "status",
            FieldKind::Enum {
                values: vec!["scheduled".into(), "live".into()],
            },
        )
    });
    add(field("team", FieldKind::Reference { to: "team".into() }));
    add(field(
        "tags",
        FieldKind::List {
            of: Box::new(FieldKind::String {
                max_length: Some(3),
            }),
            min: None,
            max: Some(3),
        },
    ));
    add(field(
        "teams",
        FieldKind::List {
            of: Box::new(FieldKind::Reference { to: "team".into() }),
            min: Some(1),
            max: None,
        },
    ));
    ContentType {
        name: "thing".into(),
        label: "Thing".into(),
        route: Route::parse("/things/{slug}").expect("valid route"),
        template: "thing/page.html".into(),
        title_field: Some("title".into()),
        surrogate_key_fields: Vec::new(),
        fields,
        cache: CachePolicy::default(),
        live_cache: None,
        prewarm: None,
        console: None,
        related: IndexMap::new(),
    }
}

const TEAM: &str = "0190A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B";

fn errors(data: Value) -> Vec<(String, String)> {
    every_kind()
        .validate(&data)
        .expect_err("invalid data")
        .into_iter()
        .map(|e| (e.pointer, e.message))
        .collect()
}

fn pointers(data: Value) -> Vec<String> {
    errors(data).into_iter().map(|(p, _)| p).collect()
}

#[test]
fn valid_data_is_normalised_with_defaults() {
    let data = json!({
        "title": "Hi", "kickoff": "2026-03-14T17:00:00+02:00", "team": TEAM,
        "teams": [TEAM], "score": 3.0, "ratio": 0.5, "featured": false,
        "notes": "line one\nline two", "body": "*x*", "handle": "a-b", "tags": ["abc"],
        "status": null,
    });
    let out = every_kind().validate(&data).expect("valid");
    assert_eq!(
        out,
        json!({
            "title": "Hi", "notes": "line one\nline two", "body": "*x*", "handle": "a-b",
            "score": 3, "ratio": 0.5, "featured": false, "kickoff": "2026-03-14T15:00:00Z",
            "status": "scheduled", "team": TEAM.to_lowercase(), "tags": ["abc"],
            "teams": [TEAM.to_lowercase()],
        })
    );
    let minimal = every_kind()
        .validate(&json!({ "title": "Hi", "kickoff": "2026-03-14T15:00:00.250Z" }))
        .expect("valid");
    assert_eq!(
        minimal,
        json!({ "title": "Hi", "score": 0, "kickoff": "2026-03-14T15:00:00.250Z", "status": "scheduled" })
    );
}

#[test]
fn data_must_be_an_object() {
    assert_eq!(
        errors(json!([1])),
        [(
            "/data".to_owned(),
            "must be an object (got a list)".to_owned()
        )]
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let data = json!({
        "title": "Far too long", "notes": 5, "body": "0123456789A", "handle": "Not Slug",
        "score": 11, "ratio": "half", "featured": "yes", "status": "postponed",
        "team": "not-a-uuid", "tags": ["ok", "long", 7], "teams": [], "extra/field": 1,
    });
    assert_eq!(
        pointers(data),
        [
            "/data/extra~1field",
            "/data/title",
            "/data/notes",
            "/data/body",
            "/data/handle",
            "/data/score",
            "/data/ratio",
            "/data/featured",
            "/data/kickoff",
            "/data/status",
            "/data/team",
            "/data/tags/1",
            "/data/tags/2",
            "/data/teams",
        ]
    );
}

#[test]
fn messages_say_what_is_wrong() {
    let found = errors(json!({
        "title": null, "kickoff": "next tuesday", "score": -1, "status": "x",
        "team": "nope", "tags": ["a", "b", "c", "d"], "ratio": 2,
    }));
    let message = |p: &str| {
        found
            .iter()
            .find(|(ptr, _)| ptr == p)
            .map(|(_, m)| m.clone())
            .unwrap_or_else(|| panic!("no error at {p}: {found:?}"))
    };
    assert_eq!(message("/data/title"), "is required");
    assert!(message("/data/kickoff").starts_with("must be an RFC 3339 date-time"));
    assert_eq!(message("/data/score"), "must be at least 0 (got -1)");
    assert_eq!(message("/data/ratio"), "must be at most 1 (got 2)");
    assert_eq!(message("/data/status"), "must be one of: scheduled, live");
    assert!(message("/data/team").contains("UUID of a team entry"));
    assert_eq!(message("/data/tags"), "must have at most 3 items (got 4)");
}

#[test]
fn integers_must_be_integral_and_fit_i64() {
    let check = |v: Value| {
        let mut errs = Vec::new();
        let kind = FieldKind::Integer {
            min: None,
            max: None,
        };
        (check_value(&kind, &v, "/x", &mut errs), errs)
    };
    assert_eq!(check(json!(7)).0, Some(json!(7)));
    assert_eq!(check(json!(-7.0)).0, Some(json!(-7)));
    for bad in [
        json!(1.5),
        json!(u64::MAX),
        json!(1e19),
        json!("3"),
        json!(true),
    ] {
        let (value, errs) = check(bad.clone());
        assert!(value.is_none() && errs.len() == 1, "{bad}: {errs:?}");
    }
}

#[test]
fn strings_are_single_line_and_counted_in_characters() {
    let kind = FieldKind::String {
        max_length: Some(3),
    };
    let mut errs = Vec::new();
    assert!(check_value(&kind, &json!("éèà"), "/x", &mut errs).is_some());
    assert!(check_value(&kind, &json!("a\nb"), "/x", &mut errs).is_none());
    assert!(check_value(&kind, &json!("a\0"), "/x", &mut errs).is_none());
    assert!(check_value(&kind, &json!("abcd"), "/x", &mut errs).is_none());
    assert_eq!(errs.len(), 3);
    assert!(errs[0].message.contains("single line"));
    assert!(errs[1].message.contains("NUL"));
    assert_eq!(errs[2].message, "must be at most 3 characters (got 4)");
}

#[test]
fn slugs() {
    for good in ["a", "derby-2026", "0-1", &"a".repeat(MAX_SLUG_LEN)] {
        assert_eq!(validate_slug(good), Ok(()), "{good}");
    }
    for bad in [
        "",
        "-a",
        "a-",
        "a--b",
        "A",
        "a b",
        "a/b",
        "..",
        "a.b",
        "a_b",
        "café",
        "\u{0430}",
        "a\u{2010}b",
        &"a".repeat(MAX_SLUG_LEN + 1),
    ] {
        assert!(validate_slug(bad).is_err(), "{bad:?} must be rejected");
    }
}

#[test]
fn references_lists_every_well_formed_reference_with_its_pointer() {
    let ty = every_kind();
    let refs = ty.references(&json!({ "team": TEAM, "teams": ["bad", TEAM] }));
    let found: Vec<(&str, &str)> = refs
        .iter()
        .map(|r| (r.pointer.as_str(), r.to.as_str()))
        .collect();
    assert_eq!(found, [("/data/team", "team"), ("/data/teams/1", "team")]);
    assert!(refs.iter().all(|r| r.id.to_string() == TEAM.to_lowercase()));
}
