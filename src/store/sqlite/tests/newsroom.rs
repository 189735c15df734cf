//! The newsroom's records: accounts and sessions, the audit log, site
//! settings, review requests and entry search (the V5 schema).

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::super::SqliteStore;
use super::{create, fresh, migrations, op_write};
use crate::model::{Entry, EntryId, EntryStatus};
use crate::store::{
    AuditQuery, EntryOp, EntrySearch, NewAudit, NewUser, Review, ReviewState, Role, Session, Store,
    StoreError, User, UserChange, Write,
};

fn new_user(email: &str, role: Role) -> NewUser {
    NewUser {
        email: email.into(),
        name: format!("Name of {email}"),
        role,
        password_hash: format!("$argon2id$hash-of-{email}"),
    }
}

fn session_of(user: &User, id_hash: &str) -> Session {
    let created = Utc.with_ymd_and_hms(2021, 4, 1, 9, 0, 0).unwrap() + Duration::microseconds(3);
    Session {
        id_hash: id_hash.into(),
        user_id: user.id,
        csrf: format!("csrf-{id_hash}"),
        created_at: created,
        last_seen_at: created,
        // Already past: the store does not judge expiry.
        expires_at: created + Duration::hours(12),
        address: "203.0.113.7".into(),
        user_agent: "Mozilla/5.0 (test)".into(),
    }
}

#[tokio::test]
async fn users_are_created_listed_by_email_and_looked_up() {
    let (store, _dir) = fresh().await;
    let before = Utc::now() - Duration::seconds(1);
    let zoe = store
        .create_user(&new_user("zoe@example.com", Role::Writer))
        .await
        .unwrap();
    let adam = store
        .create_user(&new_user("adam@example.com", Role::Admin))
        .await
        .unwrap();
    assert_eq!(zoe.id.get_version_num(), 7);
    assert_ne!(zoe.id, adam.id);
    assert_eq!(zoe.email, "zoe@example.com");
    assert_eq!(zoe.name, "Name of zoe@example.com");
    assert_eq!(zoe.role, Role::Writer);
    assert_eq!(zoe.password_hash, "$argon2id$hash-of-zoe@example.com");
    assert_eq!(zoe.created_at, zoe.updated_at);
    assert!(zoe.created_at > before);
    assert_eq!(zoe.disabled_at, None);

    // What was returned is what is stored.
    assert_eq!(
        store.users().await.unwrap(),
        vec![adam.clone(), zoe.clone()]
    );
    assert_eq!(
        store.user_by_email("zoe@example.com").await.unwrap(),
        Some(zoe.clone())
    );
    assert_eq!(store.user_by_email("ZOE@example.com").await.unwrap(), None);
    assert_eq!(store.user_by_email("nobody@x").await.unwrap(), None);
    assert_eq!(store.user(adam.id).await.unwrap(), Some(adam.clone()));
    assert_eq!(store.user(Uuid::now_v7()).await.unwrap(), None);

    let err = store
        .create_user(&new_user("zoe@example.com", Role::Editor))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Duplicate(w) if w == r#"email "zoe@example.com""#),
        "{err:?}"
    );
    assert_eq!(store.users().await.unwrap().len(), 2);
}

#[tokio::test]
async fn update_user_applies_only_the_given_fields() {
    let (store, _dir) = fresh().await;
    let user = store
        .create_user(&new_user("ed@example.com", Role::Writer))
        .await
        .unwrap();

    let renamed = store
        .update_user(
            user.id,
            &UserChange {
                name: Some("Ed Itor".into()),
                ..UserChange::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.name, "Ed Itor");
    assert_eq!(renamed.role, Role::Writer);
    assert_eq!(renamed.password_hash, user.password_hash);
    assert_eq!(renamed.created_at, user.created_at);
    assert!(renamed.updated_at >= user.updated_at);
    assert_eq!(renamed.disabled_at, None);
    assert_eq!(store.user(user.id).await.unwrap(), Some(renamed.clone()));

    let promoted = store
        .update_user(
            user.id,
            &UserChange {
                role: Some(Role::Editor),
                ..UserChange::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (promoted.name.as_str(), promoted.role),
        ("Ed Itor", Role::Editor)
    );
    assert_eq!(store.user(user.id).await.unwrap(), Some(promoted));

    let err = store
        .update_user(Uuid::now_v7(), &UserChange::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

#[tokio::test]
async fn sessions_come_with_their_user_and_can_be_touched_and_ended() {
    let (store, _dir) = fresh().await;
    let user = store
        .create_user(&new_user("s@example.com", Role::Editor))
        .await
        .unwrap();
    let session = session_of(&user, "hash-1");
    store.create_session(&session).await.unwrap();
    // Expired long ago, and still returned: expiry is the caller's call.
    assert_eq!(
        store.session("hash-1").await.unwrap(),
        Some((session.clone(), user.clone()))
    );
    assert_eq!(store.session("hash-unknown").await.unwrap(), None);

    let seen = Utc.with_ymd_and_hms(2021, 4, 1, 9, 30, 0).unwrap() + Duration::microseconds(9);
    store.touch_session("hash-1", seen).await.unwrap();
    let (touched, _) = store.session("hash-1").await.unwrap().unwrap();
    assert_eq!(touched.last_seen_at, seen);
    assert_eq!(touched.created_at, session.created_at);
    // Touching or ending a session that is not there is no error.
    store.touch_session("hash-unknown", seen).await.unwrap();
    store.delete_session("hash-1").await.unwrap();
    assert_eq!(store.session("hash-1").await.unwrap(), None);
    store.delete_session("hash-1").await.unwrap();

    // A session whose account is gone is no session.
    let orphan = Session {
        user_id: Uuid::now_v7(),
        ..session_of(&user, "hash-orphan")
    };
    store.create_session(&orphan).await.unwrap();
    assert_eq!(store.session("hash-orphan").await.unwrap(), None);
}

#[tokio::test]
async fn disabling_a_user_ends_its_sessions_and_hides_new_ones() {
    let (store, _dir) = fresh().await;
    let user = store
        .create_user(&new_user("d@example.com", Role::Writer))
        .await
        .unwrap();
    let other = store
        .create_user(&new_user("o@example.com", Role::Writer))
        .await
        .unwrap();
    for hash in ["d-1", "d-2"] {
        store
            .create_session(&session_of(&user, hash))
            .await
            .unwrap();
    }
    store
        .create_session(&session_of(&other, "o-1"))
        .await
        .unwrap();

    let disable = UserChange {
        disabled: Some(true),
        ..UserChange::default()
    };
    let disabled = store.update_user(user.id, &disable).await.unwrap();
    let disabled_at = disabled.disabled_at.expect("disabled_at set");
    assert_eq!(disabled.updated_at, disabled_at);
    assert_eq!(store.session("d-1").await.unwrap(), None);
    assert_eq!(store.session("d-2").await.unwrap(), None);
    // Only that account's sessions ended.
    assert!(store.session("o-1").await.unwrap().is_some());
    let rows: i64 = store
        .pool
        .read("test", |conn| {
            Ok(conn.query_row("SELECT COUNT(*) FROM sessions", [], |r| r.get(0))?)
        })
        .await
        .unwrap();
    assert_eq!(rows, 1);

    // A session made for a disabled account does not work.
    store
        .create_session(&session_of(&user, "d-3"))
        .await
        .unwrap();
    assert_eq!(store.session("d-3").await.unwrap(), None);

    // Disabling again keeps the first time.
    let again = store.update_user(user.id, &disable).await.unwrap();
    assert_eq!(again.disabled_at, Some(disabled_at));

    let enabled = store
        .update_user(
            user.id,
            &UserChange {
                disabled: Some(false),
                ..UserChange::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(enabled.disabled_at, None);
    assert_eq!(store.user(user.id).await.unwrap(), Some(enabled.clone()));
    store
        .create_session(&session_of(&user, "d-4"))
        .await
        .unwrap();
    assert_eq!(
        store.session("d-4").await.unwrap().map(|(_, u)| u),
        Some(enabled)
    );
}

#[tokio::test]
async fn a_new_password_ends_the_sessions_but_other_changes_do_not() {
    let (store, _dir) = fresh().await;
    let user = store
        .create_user(&new_user("p@example.com", Role::Admin))
        .await
        .unwrap();
    store
        .create_session(&session_of(&user, "p-1"))
        .await
        .unwrap();
    store
        .update_user(
            user.id,
            &UserChange {
                name: Some("P".into()),
                role: Some(Role::Editor),
                disabled: Some(false),
                ..UserChange::default()
            },
        )
        .await
        .unwrap();
    assert!(store.session("p-1").await.unwrap().is_some());

    let changed = store
        .update_user(
            user.id,
            &UserChange {
                password_hash: Some("$argon2id$new".into()),
                ..UserChange::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(changed.password_hash, "$argon2id$new");
    assert_eq!(changed.disabled_at, None);
    assert_eq!(store.session("p-1").await.unwrap(), None);
    assert_eq!(
        store
            .user_by_email("p@example.com")
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "$argon2id$new"
    );
}

fn audit_of(actor: &str, action: &str, entry_id: Option<EntryId>) -> NewAudit {
    NewAudit {
        actor: actor.into(),
        actor_kind: "user".into(),
        action: action.into(),
        target: match entry_id {
            Some(id) => format!("match/{id}"),
            None => format!("user/{actor}"),
        },
        entry_id,
        detail: json!({"comment": format!("{action} by {actor}")}),
        address: "198.51.100.1".into(),
    }
}

#[tokio::test]
async fn audit_records_page_newest_first_and_filter() {
    let (store, _dir) = fresh().await;
    let entry = Uuid::now_v7();
    let before = Utc::now() - Duration::seconds(1);
    let first = store
        .record_audit(&audit_of("ann@x", "entry.submit", Some(entry)))
        .await
        .unwrap();
    assert!(first.at > before);
    assert_eq!(first.actor, "ann@x");
    assert_eq!(first.target, format!("match/{entry}"));
    assert_eq!(first.entry_id, Some(entry));
    assert_eq!(first.detail, json!({"comment": "entry.submit by ann@x"}));
    let mut records = vec![first];
    for (actor, action, entry_id) in [
        ("bob@x", "entry.publish", Some(entry)),
        ("ann@x", "login.failed", None),
        ("bob@x", "entry_publish", None),
        ("cli", "entry.delete", Some(Uuid::now_v7())),
        ("ann@x", "login", None),
    ] {
        records.push(
            store
                .record_audit(&audit_of(actor, action, entry_id))
                .await
                .unwrap(),
        );
    }
    assert!(records.windows(2).all(|w| w[0].id < w[1].id));
    let newest: Vec<_> = records.iter().rev().cloned().collect();

    let all = AuditQuery {
        limit: 100,
        ..AuditQuery::default()
    };
    assert_eq!(store.audit(&all).await.unwrap(), newest);

    // Keyset paging: each page starts below the previous page's last id.
    let mut paged = Vec::new();
    let mut query = AuditQuery {
        limit: 4,
        ..all.clone()
    };
    loop {
        let page = store.audit(&query).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 4);
        query.before = Some(page.last().unwrap().id);
        paged.extend(page);
    }
    assert_eq!(paged, newest);

    let ids = |records: Vec<crate::store::AuditRecord>| -> Vec<i64> {
        records.into_iter().map(|r| r.id).collect()
    };
    let of_entry = AuditQuery {
        entry_id: Some(entry),
        ..all.clone()
    };
    assert_eq!(
        ids(store.audit(&of_entry).await.unwrap()),
        vec![records[1].id, records[0].id]
    );
    let of_ann = AuditQuery {
        actor: Some("ann@x".into()),
        ..all.clone()
    };
    assert_eq!(
        ids(store.audit(&of_ann).await.unwrap()),
        vec![records[5].id, records[2].id, records[0].id]
    );
    assert!(
        store
            .audit(&AuditQuery {
                actor: Some("ann".into()),
                ..all.clone()
            })
            .await
            .unwrap()
            .is_empty()
    );
    let prefix = |p: &str| AuditQuery {
        action_prefix: Some(p.into()),
        ..all.clone()
    };
    // `entry.` is not `entry_`: the dot is no wildcard, nor `_`.
    assert_eq!(
        ids(store.audit(&prefix("entry.")).await.unwrap()),
        vec![records[4].id, records[1].id, records[0].id]
    );
    assert_eq!(
        ids(store.audit(&prefix("entry_")).await.unwrap()),
        vec![records[3].id]
    );
    assert_eq!(
        ids(store.audit(&prefix("login")).await.unwrap()),
        vec![records[5].id, records[2].id]
    );
    assert!(store.audit(&prefix("%")).await.unwrap().is_empty());
    assert!(store.audit(&prefix("entr_")).await.unwrap().is_empty());
    assert_eq!(store.audit(&prefix("")).await.unwrap(), newest);
    // Filters combine, and with the cursor and the limit.
    let combined = AuditQuery {
        actor: Some("bob@x".into()),
        action_prefix: Some("entry".into()),
        before: Some(records[3].id),
        limit: 1,
        ..AuditQuery::default()
    };
    assert_eq!(
        ids(store.audit(&combined).await.unwrap()),
        vec![records[1].id]
    );
    assert!(
        store
            .audit(&AuditQuery {
                limit: 0,
                ..all.clone()
            })
            .await
            .unwrap()
            .is_empty()
    );
}

/// Inserts an audit row at a chosen time (the store stamps `record_audit`
/// with its own clock).
async fn audit_at(
    store: &SqliteStore,
    at: DateTime<Utc>,
    action: &str,
    target: &str,
    address: &str,
) {
    let (at, action, target, address) = (
        super::super::codec::ts(at).unwrap(),
        action.to_owned(),
        target.to_owned(),
        address.to_owned(),
    );
    store
        .pool
        .write("test", move |tx| {
            tx.execute(
                "INSERT INTO audit_log (at, actor, actor_kind, action, target, entry_id, detail, \
                 address) VALUES (?1, '', 'system', ?2, ?3, NULL, '{}', ?4)",
                rusqlite::params![at, action, target, address],
            )?;
            Ok(())
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn count_audit_counts_an_action_in_a_window_by_target_or_address() {
    let (store, _dir) = fresh().await;
    let t0 = Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap();
    let minute = Duration::minutes(1);
    audit_at(&store, t0, "login.failed", "user/a@x", "10.0.0.1").await;
    audit_at(&store, t0 + minute, "login.failed", "user/a@x", "10.0.0.2").await;
    audit_at(
        &store,
        t0 + minute * 2,
        "login.failed",
        "user/b@x",
        "10.0.0.1",
    )
    .await;
    audit_at(
        &store,
        t0 + minute * 3,
        "login.failed",
        "user/a@x",
        "10.0.0.1",
    )
    .await;
    audit_at(&store, t0 + minute * 3, "login", "user/a@x", "10.0.0.1").await;

    let count = |target: Option<&'static str>, address: Option<&'static str>, since| {
        let store = &store;
        async move {
            store
                .count_audit("login.failed", target, address, since)
                .await
                .unwrap()
        }
    };
    assert_eq!(count(None, None, t0).await, 4);
    assert_eq!(count(Some("user/a@x"), None, t0).await, 3);
    assert_eq!(count(None, Some("10.0.0.1"), t0).await, 3);
    assert_eq!(count(Some("user/a@x"), Some("10.0.0.1"), t0).await, 2);
    // The window starts at `since`, inclusive.
    assert_eq!(count(Some("user/a@x"), None, t0 + minute).await, 2);
    assert_eq!(
        count(
            Some("user/a@x"),
            None,
            t0 + minute + Duration::microseconds(1)
        )
        .await,
        1
    );
    assert_eq!(count(None, Some("10.0.0.1"), t0 + minute * 3).await, 1);
    assert_eq!(count(None, None, t0 + minute * 4).await, 0);
    assert_eq!(count(Some("user/c@x"), None, t0).await, 0);
    assert_eq!(store.count_audit("login", None, None, t0).await.unwrap(), 1);
    assert_eq!(
        store.count_audit("login.", None, None, t0).await.unwrap(),
        0
    );

    // What `record_audit` stamps counts from now.
    let now = Utc::now() - Duration::seconds(1);
    store
        .record_audit(&NewAudit {
            actor: "a@x".into(),
            actor_kind: "user".into(),
            action: "login.failed".into(),
            target: "user/a@x".into(),
            entry_id: None,
            detail: json!({}),
            address: "10.0.0.9".into(),
        })
        .await
        .unwrap();
    assert_eq!(count(None, None, now).await, 1);
    assert_eq!(count(None, Some("10.0.0.9"), t0).await, 1);
}

#[tokio::test]
async fn site_settings_are_versioned_and_each_save_is_an_event() {
    let (store, _dir) = fresh().await;
    let initial = store.site_settings().await.unwrap();
    assert_eq!(initial.data, json!({}));
    assert_eq!(initial.version, 0);
    assert_eq!((initial.updated_at, initial.updated_by), (None, None));

    // An entry write first: the settings event takes the next seq after it.
    create(&store, "match", "m", json!({})).await;
    let entry_event = store
        .write(Write::new(EntryOp::None, "tester").with_event(super::event("render", &["/"])))
        .await
        .unwrap()
        .seq
        .unwrap();

    let data = json!({"name": "Northgate Gazette", "time_zone": "Europe/Zurich"});
    let err = store
        .save_site_settings(&data, 1, "admin@x")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                expected: 1,
                found: 0
            }
        ),
        "{err:?}"
    );
    assert_eq!(store.last_seq().await.unwrap(), entry_event);

    let before = Utc::now() - Duration::seconds(1);
    let saved = store.save_site_settings(&data, 0, "admin@x").await.unwrap();
    assert_eq!(saved.data, data);
    assert_eq!(saved.version, 1);
    assert_eq!(saved.updated_by.as_deref(), Some("admin@x"));
    let saved_at = saved.updated_at.expect("updated_at");
    assert!(saved_at > before);
    assert_eq!(store.site_settings().await.unwrap(), saved);

    assert_eq!(store.last_seq().await.unwrap(), entry_event + 1);
    let events = store.events_since(entry_event, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.seq, entry_event + 1);
    assert_eq!(event.kind, "settings");
    assert_eq!(event.entry_id, None);
    assert!(event.paths.is_empty() && event.keys.is_empty() && event.entries.is_empty());
    assert_eq!(event.created_at, saved_at);

    // A save from a stale copy fails and leaves no event behind.
    let err = store
        .save_site_settings(&json!({"name": "Stale"}), 0, "other@x")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                expected: 0,
                found: 1
            }
        ),
        "{err:?}"
    );
    assert_eq!(store.site_settings().await.unwrap(), saved);
    assert_eq!(store.last_seq().await.unwrap(), entry_event + 1);

    let next = store
        .save_site_settings(&json!({"name": "Gazette"}), 1, "other@x")
        .await
        .unwrap();
    assert_eq!(next.version, 2);
    assert_eq!(next.updated_by.as_deref(), Some("other@x"));
    assert_eq!(store.site_settings().await.unwrap(), next);
    // Gap-free: the entry writes and settings saves share one counter.
    let seqs: Vec<i64> = store
        .events_since(0, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, (1..=entry_event + 2).collect::<Vec<_>>());
    let created = store
        .write(
            op_write(EntryOp::Create {
                type_name: "match".into(),
                slug: "after-settings".into(),
                data: json!({}),
            })
            .with_event(super::event("create", &[])),
        )
        .await
        .unwrap();
    assert_eq!(created.seq, Some(entry_event + 3));
}

fn review_of(entry_id: EntryId, state: ReviewState, at: DateTime<Utc>) -> Review {
    Review {
        entry_id,
        type_name: "article".into(),
        state,
        version: 3,
        actor: "writer@x".into(),
        comment: format!("{} at {at}", state.as_str()),
        at,
    }
}

#[tokio::test]
async fn reviews_are_upserted_listed_oldest_first_and_cleared() {
    let (store, _dir) = fresh().await;
    let t0 = Utc.with_ymd_and_hms(2026, 6, 1, 8, 0, 0).unwrap() + Duration::microseconds(5);
    let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let ra = review_of(a, ReviewState::Submitted, t0 + Duration::minutes(2));
    let rb = review_of(b, ReviewState::Returned, t0 + Duration::minutes(1));
    let rc = review_of(c, ReviewState::Submitted, t0);
    for review in [&ra, &rb, &rc] {
        store.set_review(review).await.unwrap();
    }
    assert_eq!(store.review(a).await.unwrap(), Some(ra.clone()));
    assert_eq!(store.review(Uuid::now_v7()).await.unwrap(), None);
    assert_eq!(
        store.reviews(None, 10).await.unwrap(),
        vec![rc.clone(), rb.clone(), ra.clone()]
    );
    assert_eq!(
        store
            .reviews(Some(ReviewState::Submitted), 10)
            .await
            .unwrap(),
        vec![rc.clone(), ra.clone()]
    );
    assert_eq!(
        store
            .reviews(Some(ReviewState::Returned), 10)
            .await
            .unwrap(),
        vec![rb.clone()]
    );
    assert_eq!(
        store.reviews(None, 2).await.unwrap(),
        vec![rc.clone(), rb.clone()]
    );

    // One request per entry: a new step replaces the old one.
    let returned = Review {
        state: ReviewState::Returned,
        version: 4,
        actor: "editor@x".into(),
        comment: "Needs a source".into(),
        at: t0 + Duration::minutes(3),
        ..rc.clone()
    };
    store.set_review(&returned).await.unwrap();
    assert_eq!(store.review(c).await.unwrap(), Some(returned.clone()));
    assert_eq!(
        store.reviews(None, 10).await.unwrap(),
        vec![rb.clone(), ra.clone(), returned.clone()]
    );
    assert_eq!(
        store
            .reviews(Some(ReviewState::Submitted), 10)
            .await
            .unwrap(),
        vec![ra.clone()]
    );

    store.clear_review(a).await.unwrap();
    assert_eq!(store.review(a).await.unwrap(), None);
    store.clear_review(a).await.unwrap();
    assert_eq!(store.reviews(None, 10).await.unwrap(), vec![rb, returned]);
}

fn search(text: &str) -> EntrySearch {
    EntrySearch {
        type_name: "team".into(),
        text: text.into(),
        status: None,
        unpublished_changes: false,
        scheduled: false,
        before: None,
        limit: 50,
    }
}

async fn found(store: &SqliteStore, search: &EntrySearch) -> Vec<String> {
    store
        .search_entries(search)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.slug)
        .collect()
}

async fn update(store: &SqliteStore, entry: &Entry, slug: &str, data: Value) -> Entry {
    store
        .write(op_write(EntryOp::Update {
            id: entry.id,
            expected_version: None,
            slug: slug.into(),
            data,
        }))
        .await
        .unwrap()
        .entry
        .unwrap()
}

#[tokio::test]
async fn search_finds_word_prefixes_of_slugs_and_short_strings() {
    let (store, _dir) = fresh().await;
    let long_bio = format!("Founded by miners {}", "and so on ".repeat(30));
    assert!(long_bio.chars().count() > 200);
    let rovers = create(
        &store,
        "team",
        "northgate-rovers",
        json!({"name": "Northgate Rovers", "city": "Leeds", "bio": long_bio, "founded": 1899}),
    )
    .await;
    // The slug carries no name: only the data can match the name.
    let zurich = create(
        &store,
        "team",
        "club-42",
        json!({"name": "FC Zürich", "nested": {"name": "Hidden"}}),
    )
    .await;
    create(&store, "team", "ifk", json!({"name": "Malmo FF"})).await;
    // Another type with the same words is never found.
    create(
        &store,
        "match",
        "rovers-v-malmo",
        json!({"title": "Rovers v Malmö"}),
    )
    .await;

    // Empty text lists the type, newest first.
    assert_eq!(
        found(&store, &search("")).await,
        ["ifk", "club-42", "northgate-rovers"]
    );
    // Prefixes of the slug's words and of the name's.
    assert_eq!(found(&store, &search("rov")).await, ["northgate-rovers"]);
    assert_eq!(found(&store, &search("north")).await, ["northgate-rovers"]);
    assert_eq!(found(&store, &search("Leed")).await, ["northgate-rovers"]);
    assert_eq!(found(&store, &search("club")).await, ["club-42"]);
    assert_eq!(found(&store, &search("42")).await, ["club-42"]);
    assert_eq!(found(&store, &search("fc")).await, ["club-42"]);
    assert_eq!(found(&store, &search("f")).await, ["ifk", "club-42"]);
    // Every word must match, in any order, each as a prefix.
    assert_eq!(
        found(&store, &search("rov north")).await,
        ["northgate-rovers"]
    );
    assert_eq!(found(&store, &search("ff malm")).await, ["ifk"]);
    assert!(found(&store, &search("rov malmo")).await.is_empty());
    // Case and diacritics do not matter, either way round.
    assert_eq!(found(&store, &search("Zurich")).await, ["club-42"]);
    assert_eq!(found(&store, &search("zür")).await, ["club-42"]);
    assert_eq!(found(&store, &search("ZÜR")).await, ["club-42"]);
    assert_eq!(found(&store, &search("Malmö")).await, ["ifk"]);
    assert_eq!(
        found(&store, &search("NORTHGATE")).await,
        ["northgate-rovers"]
    );
    // Long strings (bodies) and nested values are not indexed; nor numbers.
    assert!(found(&store, &search("miners")).await.is_empty());
    assert!(found(&store, &search("hidden")).await.is_empty());
    assert!(found(&store, &search("1899")).await.is_empty());
    // Only whole-word prefixes: no infix matches.
    assert!(found(&store, &search("gate")).await.is_empty());
    // Punctuation splits words like spaces do.
    assert_eq!(
        found(&store, &search("northgate-rov")).await,
        ["northgate-rovers"]
    );
    assert_eq!(found(&store, &search("  fc,zür.  ")).await, ["club-42"]);

    // The full entries come back.
    let hits = store.search_entries(&search("rovers")).await.unwrap();
    assert_eq!(hits, vec![store.entry(rovers.id).await.unwrap().unwrap()]);
    let hits = store.search_entries(&search("zurich")).await.unwrap();
    assert_eq!(hits, vec![zurich]);
}

#[tokio::test]
async fn search_follows_updates_and_deletes() {
    let (store, _dir) = fresh().await;
    let team = create(
        &store,
        "team",
        "old-slug",
        json!({"name": "Albion Athletic"}),
    )
    .await;
    assert_eq!(found(&store, &search("albion")).await, ["old-slug"]);

    let team = update(
        &store,
        &team,
        "new-slug",
        json!({"name": "Borough Athletic"}),
    )
    .await;
    assert!(found(&store, &search("albion")).await.is_empty());
    assert!(found(&store, &search("old")).await.is_empty());
    assert_eq!(found(&store, &search("borough")).await, ["new-slug"]);
    assert_eq!(found(&store, &search("new athletic")).await, ["new-slug"]);

    // A publish (no change to slug or data) keeps it indexed.
    store
        .write(op_write(EntryOp::Publish {
            id: team.id,
            expected_version: None,
        }))
        .await
        .unwrap();
    assert_eq!(found(&store, &search("borough")).await, ["new-slug"]);

    store
        .write(op_write(EntryOp::Delete {
            id: team.id,
            expected_version: None,
        }))
        .await
        .unwrap();
    assert!(found(&store, &search("borough")).await.is_empty());
    assert!(found(&store, &search("")).await.is_empty());
    let (index_rows, keys): (i64, i64) = store
        .pool
        .read("test", |conn| {
            Ok(conn.query_row(
                "SELECT (SELECT COUNT(*) FROM entry_search WHERE entry_search MATCH '\"borough\"'), \
                 (SELECT COUNT(*) FROM entry_search_keys)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .await
        .unwrap();
    assert_eq!((index_rows, keys), (0, 0));

    // Imported entries are indexed too.
    let id = Uuid::now_v7();
    store
        .write(op_write(EntryOp::Import {
            id,
            type_name: "team".into(),
            slug: "imported-side".into(),
            data: json!({"name": "Castle Wanderers"}),
            published_at: None,
        }))
        .await
        .unwrap();
    assert_eq!(found(&store, &search("wander")).await, ["imported-side"]);
}

#[tokio::test]
async fn search_filters_and_pages_newest_first() {
    let (store, _dir) = fresh().await;
    let mut teams = Vec::new();
    for i in 0..7 {
        teams.push(
            create(
                &store,
                "team",
                &format!("city-team-{i}"),
                json!({"name": format!("City Team {i}")}),
            )
            .await,
        );
    }
    let publish = |id| {
        op_write(EntryOp::Publish {
            id,
            expected_version: None,
        })
    };
    // 1 and 2 published; 2 then edited (unpublished changes); 3 published
    // then its slug changed; 4 scheduled; the rest drafts.
    store.write(publish(teams[1].id)).await.unwrap();
    store.write(publish(teams[2].id)).await.unwrap();
    update(
        &store,
        &teams[2],
        "city-team-2",
        json!({"name": "City Team 2 edited"}),
    )
    .await;
    store.write(publish(teams[3].id)).await.unwrap();
    update(
        &store,
        &teams[3],
        "city-team-3-renamed",
        json!({"name": "City Team 3"}),
    )
    .await;
    // Re-saving the same data and slug is no unpublished change.
    store.write(publish(teams[5].id)).await.unwrap();
    update(
        &store,
        &teams[5],
        "city-team-5",
        json!({"name": "City Team 5"}),
    )
    .await;
    store
        .write(op_write(EntryOp::Schedule {
            id: teams[4].id,
            expected_version: None,
            at: Utc::now() + Duration::days(1),
        }))
        .await
        .unwrap();

    let all = search("city");
    assert_eq!(
        found(&store, &all).await,
        [
            "city-team-6",
            "city-team-5",
            "city-team-4",
            "city-team-3-renamed",
            "city-team-2",
            "city-team-1",
            "city-team-0"
        ]
    );
    let published = EntrySearch {
        status: Some(EntryStatus::Published),
        ..all.clone()
    };
    assert_eq!(
        found(&store, &published).await,
        [
            "city-team-5",
            "city-team-3-renamed",
            "city-team-2",
            "city-team-1"
        ]
    );
    let drafts = EntrySearch {
        status: Some(EntryStatus::Draft),
        ..search("")
    };
    assert_eq!(found(&store, &drafts).await, ["city-team-6", "city-team-0"]);
    let scheduled = EntrySearch {
        scheduled: true,
        ..all.clone()
    };
    assert_eq!(found(&store, &scheduled).await, ["city-team-4"]);
    let changed = EntrySearch {
        unpublished_changes: true,
        ..search("")
    };
    assert_eq!(
        found(&store, &changed).await,
        ["city-team-3-renamed", "city-team-2"]
    );
    // Filters and words combine.
    let changed_edited = EntrySearch {
        unpublished_changes: true,
        ..search("edit")
    };
    assert_eq!(found(&store, &changed_edited).await, ["city-team-2"]);
    let none = EntrySearch {
        status: Some(EntryStatus::Draft),
        ..search("edit")
    };
    assert!(found(&store, &none).await.is_empty());

    // Keyset pages of 3, with words and without.
    for text in ["", "team city"] {
        let mut query = EntrySearch {
            limit: 3,
            ..search(text)
        };
        let mut pages = Vec::new();
        loop {
            let page = store.search_entries(&query).await.unwrap();
            if page.is_empty() {
                break;
            }
            assert!(page.len() <= 3);
            query.before = Some(page.last().unwrap().id);
            pages.push(page.into_iter().map(|e| e.slug).collect::<Vec<_>>());
        }
        assert_eq!(pages.len(), 3, "{text:?}");
        assert_eq!(
            pages.concat(),
            found(&store, &search(text)).await,
            "{text:?}"
        );
    }
    let before_three = EntrySearch {
        before: Some(teams[3].id),
        ..search("city")
    };
    assert_eq!(
        found(&store, &before_three).await,
        ["city-team-2", "city-team-1", "city-team-0"]
    );
}

#[tokio::test]
async fn search_treats_hostile_input_as_words() {
    let (store, _dir) = fresh().await;
    create(
        &store,
        "team",
        "a-team",
        json!({"name": "A OR B", "city": "Near"}),
    )
    .await;
    create(&store, "team", "other", json!({"name": "Zeta"})).await;
    let hostile = [
        "\"",
        "\"\"",
        "\"a",
        "*",
        "a*",
        "**",
        "a OR b",
        "OR",
        "AND",
        "NOT",
        "a NOT b",
        "NEAR(",
        "NEAR(a b, 2)",
        ")",
        "(",
        "()",
        "^a",
        "name:zeta",
        "-zeta",
        "+",
        "{name city}: x",
        "\u{0}",
        "🙂",
        "zeta 🙂",
        "\u{301}",
        "e\u{301}",
        "\u{93f}",
        "नमस्ते",
        "\u{e000}",
        "€ ¥",
        "'; DROP TABLE entries; --",
        "\\",
        "  \t\n ",
    ];
    for text in hostile {
        let result = store.search_entries(&search(text)).await;
        assert!(result.is_ok(), "{text:?}: {result:?}");
    }
    // Operators typed in the box are words.
    assert_eq!(found(&store, &search("a OR b")).await, ["a-team"]);
    assert_eq!(found(&store, &search("NEAR(")).await, ["a-team"]);
    assert_eq!(found(&store, &search("\"zeta\"")).await, ["other"]);
    assert_eq!(found(&store, &search("zet*")).await, ["other"]);
    // A word FTS5 reads as no token at all (a lone vowel sign) is ignored
    // beside others (alone, it matches nothing).
    assert_eq!(found(&store, &search("zeta \u{93f}")).await, ["other"]);
    assert_eq!(
        found(&store, &search("name:zeta")).await,
        Vec::<String>::new()
    );
    // Text without a word lists everything.
    for text in ["\"", "*", "()", "  ", "-", "€ ¥"] {
        assert_eq!(
            found(&store, &search(text)).await,
            ["other", "a-team"],
            "{text:?}"
        );
    }
    assert!(
        store
            .entry_by_slug("team", "other")
            .await
            .unwrap()
            .is_some()
    );
}

#[test]
fn match_queries_quote_every_word_as_a_prefix() {
    use super::super::newsroom::match_query;
    assert_eq!(match_query(""), None);
    assert_eq!(match_query(" \t*()\"- "), None);
    assert_eq!(match_query("rov"), Some("\"rov\"*".into()));
    assert_eq!(
        match_query("Zürich  NEAR(a,b) OR"),
        Some("\"Zürich\"* \"NEAR\"* \"a\"* \"b\"* \"OR\"*".into())
    );
    assert_eq!(match_query("say \"hi\""), Some("\"say\"* \"hi\"*".into()));
}

#[tokio::test]
async fn the_newsroom_migration_keeps_tokens_and_indexes_existing_entries() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("keel.db"))
        .await
        .unwrap();
    let applied = store
        .pool
        .with_writer("test", |conn| {
            let report = super::super::embedded::migrations::runner()
                .set_target(refinery::Target::Version(4))
                .run(conn)
                .map_err(|err| StoreError::Migration(err.into()))?;
            Ok(report.applied_migrations().len())
        })
        .await
        .unwrap();
    assert_eq!(applied, 4);
    // Before V5 a token cannot be a writer.
    assert!(
        store
            .create_token("w", Role::Writer, "hash-w")
            .await
            .is_err()
    );
    let ci = store
        .create_token("ci", Role::Editor, "hash-ci")
        .await
        .unwrap();
    store.revoke_token("ci").await.unwrap();
    let admin = store
        .create_token("ci", Role::Admin, "hash-admin")
        .await
        .unwrap();
    let rovers = create(
        &store,
        "team",
        "northgate-rovers",
        json!({"name": "Northgate Rovers", "bio": "x".repeat(300)}),
    )
    .await;
    let zurich = create(&store, "team", "club-9", json!({"name": "FC Zürich"})).await;
    let tokens_before = store.tokens().await.unwrap();

    assert_eq!(store.migrate().await.unwrap(), migrations() - 4);
    let tokens = store.tokens().await.unwrap();
    assert_eq!(tokens, tokens_before);
    assert_eq!(tokens[0].name, ci.name);
    assert!(tokens[0].revoked_at.is_some());
    assert_eq!(tokens[1], admin);
    assert_eq!(
        store.token_by_hash("hash-admin").await.unwrap(),
        Some(admin)
    );
    // The active-name rule still holds, and writers are allowed now.
    assert!(matches!(
        store.create_token("ci", Role::Editor, "hash-3").await,
        Err(StoreError::Duplicate(_))
    ));
    store
        .create_token("w", Role::Writer, "hash-w")
        .await
        .unwrap();

    // The entries that were there are found.
    assert_eq!(found(&store, &search("rov")).await, ["northgate-rovers"]);
    assert_eq!(found(&store, &search("zurich")).await, ["club-9"]);
    assert!(found(&store, &search("xxx")).await.is_empty());
    // And they stay in step with later writes.
    update(
        &store,
        &rovers,
        "northgate-rovers",
        json!({"name": "Northgate Town"}),
    )
    .await;
    assert_eq!(
        found(&store, &search("rovers northgate")).await,
        ["northgate-rovers"]
    );
    assert_eq!(found(&store, &search("town")).await, ["northgate-rovers"]);
    store
        .write(op_write(EntryOp::Delete {
            id: zurich.id,
            expected_version: None,
        }))
        .await
        .unwrap();
    assert!(found(&store, &search("zurich")).await.is_empty());
    let new = create(&store, "team", "new-side", json!({"name": "Zürich Nord"})).await;
    assert_eq!(found(&store, &search("zur")).await, [new.slug]);
}
