//! Accounts and sessions, the audit log, site settings, review requests and
//! entry search (in `search`).

mod search;

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::json;

use super::super::{EVENTS_CHANNEL, PgStore};
use super::harness::{self, TestStore};
use crate::model::EntryId;
use crate::store::{
    AuditQuery, EntrySearch, NewAudit, NewUser, Review, ReviewState, Role, Session, Store,
    StoreError, User, UserChange,
};

fn new_user(email: &str, role: Role) -> NewUser {
    NewUser {
        email: email.to_owned(),
        name: format!("Name of {email}"),
        role,
        password_hash: format!("$argon2id$hash-of-{email}"),
    }
}

fn at() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

fn session_of(user: &User, id_hash: &str) -> Session {
    let now = at();
    Session {
        id_hash: id_hash.to_owned(),
        user_id: user.id,
        csrf: format!("csrf-{id_hash}"),
        created_at: now,
        last_seen_at: now,
        expires_at: now + chrono::Duration::hours(12),
        address: "192.0.2.7".to_owned(),
        user_agent: "tests".to_owned(),
    }
}

async fn user_with_session(store: &TestStore, email: &str, id_hash: &str) -> (User, Session) {
    let user = store
        .create_user(&new_user(email, Role::Writer))
        .await
        .expect("create user");
    let session = session_of(&user, id_hash);
    store.create_session(&session).await.expect("session");
    (user, session)
}

#[tokio::test]
async fn users_are_created_found_listed_by_email_and_emails_are_unique() {
    let Some(store) = harness::store().await else {
        return;
    };
    let before = at();
    let zoe = store
        .create_user(&new_user("zoe@example.com", Role::Admin))
        .await
        .expect("create");
    let amy = store
        .create_user(&new_user("amy@example.com", Role::Editor))
        .await
        .expect("create");
    assert_eq!(zoe.id.get_version_num(), 7);
    assert_eq!(
        (zoe.email.as_str(), zoe.role, zoe.disabled_at),
        ("zoe@example.com", Role::Admin, None)
    );
    assert_eq!(zoe.password_hash, "$argon2id$hash-of-zoe@example.com");
    assert_eq!(zoe.created_at, zoe.updated_at);
    assert!(zoe.created_at >= before);

    assert_eq!(
        store.users().await.expect("list"),
        vec![amy.clone(), zoe.clone()]
    );
    let found = store.user_by_email("zoe@example.com").await.expect("read");
    assert_eq!(found, Some(zoe.clone()));
    assert_eq!(
        store.user_by_email("ZOE@example.com").await.expect("read"),
        None
    );
    assert_eq!(store.user(amy.id).await.expect("read"), Some(amy));
    assert_eq!(store.user(uuid::Uuid::now_v7()).await.expect("read"), None);

    match store
        .create_user(&new_user("zoe@example.com", Role::Writer))
        .await
    {
        Err(StoreError::Duplicate(what)) => assert_eq!(what, r#"email "zoe@example.com""#),
        other => panic!("expected a duplicate, got {other:?}"),
    }
}

#[tokio::test]
async fn update_user_changes_only_what_is_given_and_unknown_ids_are_not_found() {
    let Some(store) = harness::store().await else {
        return;
    };
    let (user, session) = user_with_session(&store, "ed@example.com", "h-ed").await;
    let renamed = store
        .update_user(
            user.id,
            &UserChange {
                name: Some("Ed".to_owned()),
                role: Some(Role::Editor),
                ..UserChange::default()
            },
        )
        .await
        .expect("update");
    assert_eq!((renamed.name.as_str(), renamed.role), ("Ed", Role::Editor));
    assert_eq!(renamed.password_hash, user.password_hash);
    assert_eq!(
        (renamed.created_at, renamed.disabled_at),
        (user.created_at, None)
    );
    assert!(renamed.updated_at >= user.updated_at);
    assert_eq!(
        store.user(user.id).await.expect("read"),
        Some(renamed.clone())
    );
    // Neither disabling nor a new password: the session lives on.
    let (kept, _) = store.session("h-ed").await.expect("read").expect("session");
    assert_eq!(kept, session);

    let unknown = store
        .update_user(uuid::Uuid::now_v7(), &UserChange::default())
        .await;
    assert!(matches!(unknown, Err(StoreError::NotFound)), "{unknown:?}");
}

#[tokio::test]
async fn disabling_ends_sessions_and_a_disabled_user_has_none() {
    let Some(store) = harness::store().await else {
        return;
    };
    let (user, session) = user_with_session(&store, "dan@example.com", "h-1").await;
    let (other, other_session) = user_with_session(&store, "eve@example.com", "h-2").await;
    assert_eq!(
        store.session("h-1").await.expect("read"),
        Some((session.clone(), user.clone()))
    );

    let disable = UserChange {
        disabled: Some(true),
        ..UserChange::default()
    };
    let disabled = store.update_user(user.id, &disable).await.expect("disable");
    let since = disabled.disabled_at.expect("disabled");
    assert_eq!(store.session("h-1").await.expect("read"), None);
    // A session made while disabled (say, in a race) does not work either.
    store
        .create_session(&session_of(&user, "h-3"))
        .await
        .expect("session");
    assert_eq!(store.session("h-3").await.expect("read"), None);
    // Disabling again keeps the first time, and ends sessions again.
    let again = store.update_user(user.id, &disable).await.expect("disable");
    assert_eq!(again.disabled_at, Some(since));

    let enabled = store
        .update_user(
            user.id,
            &UserChange {
                disabled: Some(false),
                ..UserChange::default()
            },
        )
        .await
        .expect("enable");
    assert_eq!(enabled.disabled_at, None);
    assert_eq!(store.session("h-1").await.expect("read"), None);
    assert_eq!(store.session("h-3").await.expect("read"), None);
    // Another account's session was not touched.
    assert_eq!(
        store.session("h-2").await.expect("read"),
        Some((other_session, other))
    );
}

#[tokio::test]
async fn a_new_password_ends_the_sessions_of_that_account_only() {
    let Some(store) = harness::store().await else {
        return;
    };
    let (user, _) = user_with_session(&store, "pat@example.com", "h-pat").await;
    store
        .create_session(&session_of(&user, "h-pat-2"))
        .await
        .expect("second session");
    let (other, _) = user_with_session(&store, "sam@example.com", "h-sam").await;
    let changed = store
        .update_user(
            user.id,
            &UserChange {
                password_hash: Some("$argon2id$new".to_owned()),
                ..UserChange::default()
            },
        )
        .await
        .expect("update");
    assert_eq!(changed.password_hash, "$argon2id$new");
    assert_eq!(store.session("h-pat").await.expect("read"), None);
    assert_eq!(store.session("h-pat-2").await.expect("read"), None);
    let (_, owner) = store.session("h-sam").await.expect("read").expect("kept");
    assert_eq!(owner, other);
}

#[tokio::test]
async fn sessions_are_touched_and_deleted_and_their_ids_are_unique() {
    let Some(store) = harness::store().await else {
        return;
    };
    let (user, session) = user_with_session(&store, "kim@example.com", "h-kim").await;
    assert_eq!(store.session("nope").await.expect("read"), None);
    let later = session.last_seen_at + chrono::Duration::seconds(90);
    store.touch_session("h-kim", later).await.expect("touch");
    store
        .touch_session("nope", later)
        .await
        .expect("touching no session is harmless");
    let (touched, _) = store
        .session("h-kim")
        .await
        .expect("read")
        .expect("session");
    assert_eq!(touched.last_seen_at, later);
    assert_eq!(touched.expires_at, session.expires_at);

    assert!(matches!(
        store.create_session(&session_of(&user, "h-kim")).await,
        Err(StoreError::Duplicate(_))
    ));
    store.delete_session("h-kim").await.expect("delete");
    assert_eq!(store.session("h-kim").await.expect("read"), None);
    store
        .delete_session("h-kim")
        .await
        .expect("deleting no session is harmless");
}

#[tokio::test]
async fn with_the_database_down_newsroom_calls_are_unavailable() {
    // Bind then release a port so nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free local port")
        .port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/none");
    let store = PgStore::connect(&url)
        .await
        .expect("the pool connects lazily");
    let unavailable = |r: Result<(), StoreError>| r.is_err_and(|e| e.is_unavailable());
    assert!(unavailable(store.session("h").await.map(drop)));
    let record = audit("a", "login.failed", "user/a", None);
    assert!(unavailable(store.record_audit(&record).await.map(drop)));
    assert!(unavailable(
        store.save_site_settings(&json!({}), 0, "a").await.map(drop)
    ));
    let search = EntrySearch {
        type_name: "team".to_owned(),
        text: "rov".to_owned(),
        status: None,
        unpublished_changes: false,
        scheduled: false,
        before: None,
        limit: 10,
    };
    assert!(unavailable(store.search_entries(&search).await.map(drop)));
}

fn audit(actor: &str, action: &str, target: &str, entry_id: Option<EntryId>) -> NewAudit {
    NewAudit {
        actor: actor.to_owned(),
        actor_kind: "user".to_owned(),
        action: action.to_owned(),
        target: target.to_owned(),
        entry_id,
        detail: json!({ "why": action }),
        address: "198.51.100.1".to_owned(),
    }
}

#[tokio::test]
async fn the_audit_log_pages_newest_first_and_filters() {
    let Some(store) = harness::store().await else {
        return;
    };
    let entry = uuid::Uuid::now_v7();
    let before = at();
    let first = store
        .record_audit(&audit("ann", "entry.submit", "match/1", Some(entry)))
        .await
        .expect("record");
    assert_eq!(
        (first.actor.as_str(), first.action.as_str(), first.entry_id),
        ("ann", "entry.submit", Some(entry))
    );
    assert_eq!(first.detail, json!({ "why": "entry.submit" }));
    assert!(first.at >= before - chrono::Duration::seconds(5));
    let mut ids = vec![first.id];
    for (actor, action, entry_id) in [
        ("bob", "entry.publish", Some(entry)),
        ("bob", "login.failed", None),
        ("ann", "entryXpublish", None),
        ("cli", "user.disable", None),
    ] {
        let record = audit(actor, action, "t", entry_id);
        ids.push(store.record_audit(&record).await.expect("record").id);
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let page = |query: AuditQuery| {
        let store = &store;
        async move {
            let records = store.audit(&query).await.expect("audit");
            records.iter().map(|r| r.id).collect::<Vec<_>>()
        }
    };
    let all = AuditQuery {
        limit: 10,
        ..AuditQuery::default()
    };
    let newest_first: Vec<i64> = ids.iter().rev().copied().collect();
    assert_eq!(page(all.clone()).await, newest_first);
    let first_page = page(AuditQuery {
        limit: 2,
        ..all.clone()
    })
    .await;
    assert_eq!(first_page, newest_first[..2]);
    let next = page(AuditQuery {
        limit: 2,
        before: first_page.last().copied(),
        ..all.clone()
    })
    .await;
    assert_eq!(next, newest_first[2..4]);
    let by_entry = AuditQuery {
        entry_id: Some(entry),
        ..all.clone()
    };
    assert_eq!(page(by_entry).await, vec![ids[1], ids[0]]);
    let by_actor = AuditQuery {
        actor: Some("ann".to_owned()),
        ..all.clone()
    };
    assert_eq!(page(by_actor).await, vec![ids[3], ids[0]]);
    let prefixed = |prefix: &str| AuditQuery {
        action_prefix: Some(prefix.to_owned()),
        ..all.clone()
    };
    assert_eq!(page(prefixed("entry.")).await, vec![ids[1], ids[0]]);
    assert_eq!(page(prefixed("login")).await, vec![ids[2]]);
    // The prefix is literal: no LIKE wildcards.
    assert_eq!(page(prefixed("entry_")).await, Vec::<i64>::new());
    assert_eq!(page(prefixed("%")).await, Vec::<i64>::new());
    let combined = AuditQuery {
        actor: Some("bob".to_owned()),
        action_prefix: Some("entry.".to_owned()),
        before: Some(ids[2]),
        ..all.clone()
    };
    assert_eq!(page(combined).await, vec![ids[1]]);
}

#[tokio::test]
async fn count_audit_counts_an_action_since_a_time_by_target_or_address() {
    let Some(store) = harness::store().await else {
        return;
    };
    let failed = |target: &str, address: &str| NewAudit {
        address: address.to_owned(),
        ..audit("anonymous", "login.failed", target, None)
    };
    let first = store
        .record_audit(&failed("user/a@x", "10.0.0.1"))
        .await
        .expect("record");
    for (target, address) in [("user/a@x", "10.0.0.2"), ("user/b@x", "10.0.0.1")] {
        store
            .record_audit(&failed(target, address))
            .await
            .expect("record");
    }
    store
        .record_audit(&audit("a@x", "login.ok", "user/a@x", None))
        .await
        .expect("record");
    let since = first.at;
    let count = |target: Option<&'static str>, address: Option<&'static str>, since| {
        let store = &store;
        async move {
            store
                .count_audit("login.failed", target, address, since)
                .await
                .expect("count")
        }
    };
    assert_eq!(count(None, None, since).await, 3);
    assert_eq!(count(Some("user/a@x"), None, since).await, 2);
    assert_eq!(count(None, Some("10.0.0.1"), since).await, 2);
    assert_eq!(count(Some("user/a@x"), Some("10.0.0.1"), since).await, 1);
    assert_eq!(count(Some("user/c@x"), None, since).await, 0);
    let later = since + chrono::Duration::hours(1);
    assert_eq!(count(None, None, later).await, 0);
    let earlier = since - chrono::Duration::hours(1);
    assert_eq!(count(Some("user/a@x"), None, earlier).await, 2);
}

#[tokio::test]
async fn settings_are_versioned_and_each_save_appends_a_settings_event() {
    let Some(store) = harness::store().await else {
        return;
    };
    let initial = store.site_settings().await.expect("read");
    assert_eq!(
        (
            initial.data,
            initial.version,
            initial.updated_at,
            initial.updated_by
        ),
        (json!({}), 0, None, None)
    );
    let entry_write = harness::create("match", "a").with_event(harness::event("created", &["/a"]));
    let seq = store
        .write(entry_write)
        .await
        .expect("write")
        .seq
        .expect("seq");

    let data = json!({ "name": "Northgate Gazette", "time_zone": "Europe/Zurich" });
    let before = at();
    let saved = store
        .save_site_settings(&data, 0, "admin@example.com")
        .await
        .expect("save");
    assert_eq!((&saved.data, saved.version), (&data, 1));
    assert_eq!(saved.updated_by.as_deref(), Some("admin@example.com"));
    assert!(saved.updated_at.expect("updated_at") >= before);
    assert_eq!(store.site_settings().await.expect("read"), saved);

    let stale = store.save_site_settings(&json!({}), 0, "other").await;
    assert!(
        matches!(
            stale,
            Err(StoreError::Conflict {
                expected: 0,
                found: 1
            })
        ),
        "{stale:?}"
    );
    let ahead = store.save_site_settings(&json!({}), 5, "other").await;
    assert!(matches!(
        ahead,
        Err(StoreError::Conflict {
            expected: 5,
            found: 1
        })
    ));
    let second = store
        .save_site_settings(&json!({ "name": "Gazette" }), 1, "ed@example.com")
        .await
        .expect("save");
    assert_eq!(second.version, 2);
    assert_eq!(store.site_settings().await.expect("read"), second);

    // Conflicts took no seq: the two saves have the next two.
    let events = store.events_since(seq, 10).await.expect("events");
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, vec![seq + 1, seq + 2]);
    for event in &events {
        assert_eq!((event.kind.as_str(), event.entry_id), ("settings", None));
        assert!(event.paths.is_empty() && event.keys.is_empty() && event.entries.is_empty());
    }
    assert_eq!(events[0].created_at, saved.updated_at.expect("updated_at"));
    assert_eq!(store.last_seq().await.expect("seq"), seq + 2);
}

#[tokio::test]
async fn concurrent_first_saves_of_the_settings_make_one_version() {
    let Some(store) = harness::store().await else {
        return;
    };
    let saves = (0..4).map(|i| {
        let store = store.store.clone();
        tokio::spawn(async move {
            store
                .save_site_settings(&json!({ "name": i }), 0, "racer")
                .await
        })
    });
    let outcomes = futures_util::future::join_all(saves).await;
    let mut won = 0;
    for outcome in outcomes {
        match outcome.expect("task") {
            Ok(record) => {
                won += 1;
                assert_eq!(record.version, 1);
            }
            Err(StoreError::Conflict {
                expected: 0,
                found: 1,
            }) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(store.site_settings().await.expect("read").version, 1);
    assert_eq!(store.last_seq().await.expect("seq"), 1);
}

#[tokio::test]
async fn a_settings_save_is_notified_on_the_events_channel() {
    let Some(store) = harness::store().await else {
        return;
    };
    let (_client, mut rx, listener) = harness::listen_events(&store.db.url).await;
    store
        .save_site_settings(&json!({ "name": "x" }), 0, "admin")
        .await
        .expect("save");
    let received = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a notification arrives")
        .expect("the listener is running");
    assert_eq!(received, (EVENTS_CHANNEL.to_owned(), "1".to_owned()));
    listener.abort();
}

fn review(entry_id: EntryId, state: ReviewState, minutes: i64) -> Review {
    Review {
        entry_id,
        type_name: "match".to_owned(),
        state,
        version: 3,
        actor: "writer@example.com".to_owned(),
        comment: format!("{state:?} at {minutes}"),
        at: at() - chrono::Duration::minutes(60 - minutes),
    }
}

#[tokio::test]
async fn reviews_are_upserted_cleared_and_listed_oldest_first() {
    let Some(store) = harness::store().await else {
        return;
    };
    let [a, b, c] = [0; 3].map(|_| uuid::Uuid::now_v7());
    let a1 = review(a, ReviewState::Submitted, 10);
    store.set_review(&a1).await.expect("set");
    assert_eq!(store.review(a).await.expect("read"), Some(a1));
    let a2 = Review {
        version: 4,
        ..review(a, ReviewState::Returned, 30)
    };
    store.set_review(&a2).await.expect("replace");
    assert_eq!(store.review(a).await.expect("read"), Some(a2.clone()));
    let b1 = review(b, ReviewState::Submitted, 20);
    let c1 = review(c, ReviewState::Submitted, 5);
    store.set_review(&b1).await.expect("set");
    store.set_review(&c1).await.expect("set");

    let all = store.reviews(None, 10).await.expect("list");
    assert_eq!(all, vec![c1.clone(), b1.clone(), a2.clone()]);
    let submitted = store
        .reviews(Some(ReviewState::Submitted), 10)
        .await
        .expect("list");
    assert_eq!(submitted, vec![c1.clone(), b1.clone()]);
    let returned = store
        .reviews(Some(ReviewState::Returned), 10)
        .await
        .expect("list");
    assert_eq!(returned, vec![a2]);
    assert_eq!(
        store.reviews(None, 1).await.expect("list"),
        vec![c1.clone()]
    );

    store.clear_review(a).await.expect("clear");
    store
        .clear_review(a)
        .await
        .expect("clearing nothing is harmless");
    assert_eq!(store.review(a).await.expect("read"), None);
    assert_eq!(store.reviews(None, 10).await.expect("list"), vec![c1, b1]);
}
