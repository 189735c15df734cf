use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

use super::*;
use crate::model::EntryStatus;

fn id(n: u128) -> EntryId {
    Uuid::from_u128(n)
}

/// A published match entry; `n` orders ids (creation order).
fn published(n: u128, data: Value) -> Entry {
    let at = Utc
        .with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
        .single()
        .expect("valid time");
    Entry {
        id: id(n),
        type_name: "match".into(),
        slug: format!("m{n}"),
        status: EntryStatus::Published,
        version: 1,
        data: data.clone(),
        published_slug: Some(format!("m{n}")),
        published_data: Some(data),
        created_at: at,
        updated_at: at,
        published_at: Some(at + chrono::Duration::minutes(i64::try_from(n).unwrap_or(0))),
        publish_at: None,
    }
}

fn status_kind() -> FieldKind {
    FieldKind::Enum {
        values: vec!["scheduled".into(), "live".into(), "finished".into()],
    }
}

fn query(filter: Vec<Condition>, order: Order, limit: u32) -> Query {
    Query {
        type_name: "match".into(),
        filter,
        order,
        limit,
    }
}

fn data_ref(name: &str) -> FieldRef {
    FieldRef::Data(name.into())
}

fn ids(entries: &[&Entry]) -> Vec<EntryId> {
    entries.iter().map(|e| e.id).collect()
}

#[test]
fn filters_use_published_data_and_membership() {
    let live = Condition::new(
        data_ref("status"),
        &status_kind(),
        &[json!("live"), json!("scheduled")],
    )
    .expect("valid filter");
    let q = query(vec![live], Order::default_order(), 10);
    let mut draft_only = published(1, json!({ "status": "live" }));
    draft_only.published_data = None;
    let mut changed_in_draft = published(2, json!({ "status": "finished" }));
    changed_in_draft.data = json!({ "status": "live" });
    let mut other_type = published(3, json!({ "status": "live" }));
    other_type.type_name = "article".into();
    assert!(q.matches(&published(4, json!({ "status": "scheduled" }))));
    assert!(!q.matches(&draft_only));
    assert!(!q.matches(&changed_in_draft));
    assert!(!q.matches(&other_type));
    assert!(!q.matches(&published(5, json!({}))));
}

#[test]
fn filter_values_are_checked_and_normalised() {
    let bad = Condition::new(data_ref("status"), &status_kind(), &[json!("postponed")]);
    assert!(
        bad.expect_err("not an enum value")
            .contains("must be one of")
    );
    assert!(Condition::new(data_ref("status"), &status_kind(), &[]).is_err());
    let body = Condition::new(
        data_ref("body"),
        &FieldKind::Markdown { max_length: None },
        &[json!("x")],
    );
    assert!(
        body.expect_err("markdown")
            .contains("cannot filter on markdown")
    );

    // The offset is normalised, so equal instants match.
    let at = Condition::new(
        data_ref("kickoff"),
        &FieldKind::Datetime,
        &[json!("2026-03-14T17:00:00+02:00")],
    )
    .expect("valid datetime");
    let q = query(vec![at], Order::default_order(), 10);
    assert!(q.matches(&published(1, json!({ "kickoff": "2026-03-14T15:00:00Z" }))));
    assert!(!q.matches(&published(2, json!({ "kickoff": "2026-03-14T16:00:00Z" }))));
}

#[test]
fn list_fields_match_when_any_item_does_and_numbers_by_value() {
    let tags = FieldKind::List {
        of: Box::new(FieldKind::String { max_length: None }),
        min: None,
        max: None,
    };
    let q = query(
        vec![
            Condition::new(data_ref("tags"), &tags, &[json!("derby")]).expect("valid"),
            Condition::new(
                data_ref("score"),
                &FieldKind::Number {
                    min: None,
                    max: None,
                },
                &[json!(2)],
            )
            .expect("valid"),
        ],
        Order::default_order(),
        10,
    );
    assert!(q.matches(&published(
        1,
        json!({ "tags": ["cup", "derby"], "score": 2.0 })
    )));
    assert!(!q.matches(&published(2, json!({ "tags": ["cup"], "score": 2 }))));
    assert!(!q.matches(&published(3, json!({ "tags": "derby", "score": 2 }))));
}

#[test]
fn meta_fields_filter_on_the_published_slug() {
    let slug = Condition::new(
        FieldRef::Meta(MetaField::Slug),
        &MetaField::Slug.kind(),
        &[json!("m1")],
    )
    .expect("valid slug");
    let q = query(vec![slug], Order::default_order(), 10);
    let mut renamed = published(1, json!({}));
    renamed.slug = "new-name".into();
    assert!(q.matches(&renamed));
    assert!(!q.matches(&published(2, json!({}))));
}

#[test]
fn select_orders_with_missing_values_last_ties_by_id_and_limits() {
    let entries = [
        published(1, json!({ "kickoff": "2026-03-14T15:00:00Z" })),
        published(2, json!({})),
        published(3, json!({ "kickoff": "2026-03-14T12:00:00+00:00" })),
        published(4, json!({ "kickoff": "2026-03-14T15:00:00Z" })),
        published(5, json!({ "kickoff": "2026-03-13T09:00:00.5Z" })),
    ];
    let asc = Order::new(data_ref("kickoff"), &FieldKind::Datetime, false).expect("orderable");
    let desc = Order::new(data_ref("kickoff"), &FieldKind::Datetime, true).expect("orderable");
    assert_eq!(
        ids(&query(vec![], asc.clone(), 10).select(&entries)),
        [5, 3, 1, 4, 2].map(id)
    );
    assert_eq!(
        ids(&query(vec![], desc, 10).select(&entries)),
        [4, 1, 3, 5, 2].map(id)
    );
    assert_eq!(ids(&query(vec![], asc, 2).select(&entries)), [5, 3].map(id));
    // Default order: newest published first.
    assert_eq!(
        ids(&query(vec![], Order::default_order(), 2).select(&entries)),
        [5, 4].map(id)
    );
}

#[test]
fn enums_order_by_declaration_and_unorderable_kinds_are_refused() {
    let entries = [
        published(1, json!({ "status": "finished" })),
        published(2, json!({ "status": "scheduled" })),
        published(3, json!({ "status": "live" })),
    ];
    let order = Order::new(data_ref("status"), &status_kind(), false).expect("orderable");
    assert_eq!(
        ids(&query(vec![], order, 10).select(&entries)),
        [2, 3, 1].map(id)
    );
    for kind in [
        FieldKind::Markdown { max_length: None },
        FieldKind::Reference { to: "team".into() },
    ] {
        assert!(Order::new(data_ref("x"), &kind, false).is_err());
    }
}

#[test]
fn queries_serialise_for_clients() {
    let filter =
        Condition::new(data_ref("status"), &status_kind(), &[json!("live")]).expect("valid");
    let order = Order::new(data_ref("kickoff"), &FieldKind::Datetime, true).expect("orderable");
    assert_eq!(
        serde_json::to_value(query(vec![filter], order, 5)).expect("serialisable"),
        json!({ "type": "match", "filter": [{ "field": "status", "values": ["live"] }], "order": "-kickoff", "limit": 5 })
    );
}

#[test]
fn related_queries_follow_references_to_the_owner() {
    let (home, away, other) = (id(100), id(101), id(102));
    let related = RelatedQuery {
        name: "matches".into(),
        query: query(
            vec![],
            Order::new(data_ref("kickoff"), &FieldKind::Datetime, false).expect("orderable"),
            10,
        ),
        references: vec!["home_team".into(), "away_team".into()],
    };
    let a = published(
        1,
        json!({ "home_team": home.to_string(), "away_team": away.to_string(), "kickoff": "2026-03-02T00:00:00Z" }),
    );
    let b = published(
        2,
        json!({ "home_team": away.to_string(), "away_team": other.to_string(), "kickoff": "2026-03-01T00:00:00Z" }),
    );
    let mut unpublished = published(3, json!({ "home_team": home.to_string() }));
    unpublished.published_data = None;
    assert_eq!(related.owners(&a), [home, away]);
    assert!(related.owners(&unpublished).is_empty());
    assert!(related.matches(&b, other) && !related.matches(&b, home));
    let all = [a.clone(), b.clone(), unpublished];
    assert_eq!(ids(&related.select(&all, away)), [b.id, a.id]);
    assert_eq!(ids(&related.select(&all, home)), [a.id]);

    let many = RelatedQuery {
        references: vec!["teams".into()],
        ..related
    };
    let c = published(4, json!({ "teams": [other.to_string(), home.to_string()] }));
    assert_eq!(many.owners(&c), [other, home]);
}
