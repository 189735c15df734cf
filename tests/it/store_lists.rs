//! The store's half of "what shows what", on both backends: list rows
//! written with an entry's published state and read back in the list's
//! order, limited, in the database; referrers; and the rebuild. Entries
//! and rows come from the demo content types, as a publish makes them.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use keel::content_types::ContentTypes;
use keel::model::{Entry, EntryId, EntryIndex};
use keel::store::{EntryOp, IndexedEntry, Store, Write};
use serde_json::{Value, json};

use crate::helpers::demo_content_types;
use crate::on_both_backends;

type S = Arc<dyn Store>;

on_both_backends!(
    store:
    a_list_comes_back_in_its_order_with_ties_by_id,
    a_list_is_limited_and_filtered_in_the_database,
    a_match_going_live_leaves_upcoming_and_enters_live_in_one_write,
    related_lists_are_kept_per_owner,
    referrers_are_the_published_entries_that_reference_an_entry,
    unpublishing_or_deleting_removes_an_entry_from_every_list,
    a_rebuild_replaces_every_row_and_records_the_signature,
    published_entries_are_walked_by_id,
    archive_buckets_are_owners_found_near_each_other,
    the_sitemap_rows_name_each_page_by_the_day_it_was_published,
);

fn types() -> ContentTypes {
    ContentTypes::load(&demo_content_types()).expect("demo content types")
}

/// Creates an entry and publishes it with its rows, as the publisher does.
async fn published(store: &S, types: &ContentTypes, ty: &str, slug: &str, data: Value) -> Entry {
    let created = store
        .write(Write::new(
            EntryOp::Create {
                type_name: ty.into(),
                slug: slug.into(),
                data,
            },
            "t",
        ))
        .await
        .expect("create")
        .entry
        .expect("entry");
    publish(store, types, created).await
}

/// Publishes the entry's working copy with the rows of that state.
async fn publish(store: &S, types: &ContentTypes, entry: Entry) -> Entry {
    let index = types.index_of(&as_published(&entry));
    store
        .write(
            Write::new(
                EntryOp::Publish {
                    id: entry.id,
                    expected_version: Some(entry.version),
                },
                "t",
            )
            .with_index(vec![index]),
        )
        .await
        .expect("publish")
        .entry
        .expect("entry")
}

/// The entry as it will be once its working copy is published.
fn as_published(entry: &Entry) -> Entry {
    Entry {
        published_slug: Some(entry.slug.clone()),
        published_data: Some(entry.data.clone()),
        published_at: Some(entry.published_at.unwrap_or_else(Utc::now)),
        ..entry.clone()
    }
}

async fn update(store: &S, entry: &Entry, data: Value) -> Entry {
    store
        .write(Write::new(
            EntryOp::Update {
                id: entry.id,
                expected_version: Some(entry.version),
                slug: entry.slug.clone(),
                data,
            },
            "t",
        ))
        .await
        .expect("update")
        .entry
        .expect("entry")
}

async fn team(store: &S, types: &ContentTypes, slug: &str) -> Entry {
    published(store, types, "team", slug, json!({"name": slug})).await
}

async fn two_teams(store: &S, types: &ContentTypes) -> (Entry, Entry) {
    (team(store, types, "a").await, team(store, types, "b").await)
}

async fn a_match(store: &S, types: &ContentTypes, slug: &str, data: Value) -> Entry {
    published(store, types, "match", slug, data).await
}

fn fixture(home: &Entry, away: &Entry, kickoff: DateTime<Utc>, status: &str) -> Value {
    json!({
        "home_team": home.id, "away_team": away.id, "competition": "Cup",
        "kickoff": kickoff.to_rfc3339(), "status": status,
    })
}

fn ids(entries: &[Entry]) -> Vec<EntryId> {
    entries.iter().map(|e| e.id).collect()
}

/// The ids the in-memory query (what a full read would render) selects.
fn selected(types: &ContentTypes, listing: &str, query: &str, pool: &[Entry]) -> Vec<EntryId> {
    let listing = types
        .listings()
        .find(|l| l.name == listing)
        .expect("listing");
    listing.queries[query]
        .select(pool)
        .into_iter()
        .map(|e| e.id)
        .collect()
}

async fn a_list_comes_back_in_its_order_with_ties_by_id(store: S) {
    let types = types();
    let (a, b) = two_teams(&store, &types).await;
    let t0 = Utc::now() + Duration::days(1);
    // Kick-offs out of creation order, with two ties.
    let mut matches = Vec::new();
    for (i, hours) in [5, 1, 3, 1, 3, 0].into_iter().enumerate() {
        let data = fixture(&a, &b, t0 + Duration::hours(hours), "scheduled");
        matches.push(published(&store, &types, "match", &format!("m{i}"), data).await);
    }
    let listed = store.listed("matches/fixtures", "", 100).await.unwrap();
    assert_eq!(
        ids(&listed),
        selected(&types, "matches", "fixtures", &matches)
    );
    let kickoffs: Vec<&str> = listed
        .iter()
        .map(|m| {
            m.published_data.as_ref().unwrap()["kickoff"]
                .as_str()
                .unwrap()
        })
        .collect();
    let mut sorted = kickoffs.clone();
    sorted.sort();
    assert_eq!(kickoffs, sorted, "ascending by kickoff");
    // A tie goes by id (creation order).
    assert!(listed[1].id < listed[2].id && listed[3].id < listed[4].id);

    // Newest first: articles by published_at descending.
    let mut articles = Vec::new();
    for i in 0..4 {
        let data = json!({"title": format!("a{i}"), "body": "x"});
        articles.push(published(&store, &types, "article", &format!("a{i}"), data).await);
    }
    let latest = store.listed("home/latest", "", 100).await.unwrap();
    let expected: Vec<EntryId> = articles.iter().rev().map(|a| a.id).collect();
    assert_eq!(ids(&latest), expected);
    assert_eq!(ids(&latest), selected(&types, "home", "latest", &latest));
}

async fn a_list_is_limited_and_filtered_in_the_database(store: S) {
    let types = types();
    let (a, b) = two_teams(&store, &types).await;
    let t0 = Utc::now() + Duration::days(1);
    let mut all = Vec::new();
    for i in 0..14 {
        let status = if i % 2 == 0 { "scheduled" } else { "finished" };
        let data = fixture(&a, &b, t0 + Duration::hours(i), status);
        all.push(published(&store, &types, "match", &format!("m{i}"), data).await);
    }
    // A draft never shows, whatever rows say.
    let draft = store
        .write(Write::new(
            EntryOp::Create {
                type_name: "match".into(),
                slug: "draft".into(),
                data: fixture(&a, &b, t0, "scheduled"),
            },
            "t",
        ))
        .await
        .unwrap()
        .entry
        .unwrap();
    let upcoming = store.listed("home/upcoming", "", 3).await.unwrap();
    assert_eq!(upcoming.len(), 3);
    assert!(
        upcoming
            .iter()
            .all(|m| m.published_data.as_ref().unwrap()["status"] == "scheduled")
    );
    assert_eq!(
        ids(&upcoming),
        selected(&types, "home", "upcoming", &all)[..3].to_vec()
    );
    let every = store.listed("home/upcoming", "", 100).await.unwrap();
    assert_eq!(every.len(), 7);
    assert!(!ids(&every).contains(&draft.id));
    assert!(store.listed("home/live", "", 100).await.unwrap().is_empty());
    assert!(store.listed("no/such", "", 100).await.unwrap().is_empty());
}

async fn a_match_going_live_leaves_upcoming_and_enters_live_in_one_write(store: S) {
    let types = types();
    let (a, b) = two_teams(&store, &types).await;
    let kickoff = Utc::now() + Duration::minutes(5);
    let m = a_match(
        &store,
        &types,
        "final",
        fixture(&a, &b, kickoff, "scheduled"),
    )
    .await;
    assert_eq!(
        ids(&store.listed("home/upcoming", "", 10).await.unwrap()),
        vec![m.id]
    );
    assert!(store.listed("home/live", "", 10).await.unwrap().is_empty());

    let live = update(&store, &m, fixture(&a, &b, kickoff, "live")).await;
    // An unpublished working copy changes no list.
    assert_eq!(
        ids(&store.listed("home/upcoming", "", 10).await.unwrap()),
        vec![m.id]
    );
    publish(&store, &types, live).await;
    assert!(
        store
            .listed("home/upcoming", "", 10)
            .await
            .unwrap()
            .is_empty()
    );
    let now_live = store.listed("home/live", "", 10).await.unwrap();
    assert_eq!(ids(&now_live), vec![m.id]);
    assert_eq!(
        now_live[0].published_data.as_ref().unwrap()["status"],
        "live"
    );
    // Still on /matches, once.
    assert_eq!(
        ids(&store.listed("matches/fixtures", "", 10).await.unwrap()),
        vec![m.id]
    );
}

async fn related_lists_are_kept_per_owner(store: S) {
    let types = types();
    let (a, b, c) = (
        team(&store, &types, "a").await,
        team(&store, &types, "b").await,
        team(&store, &types, "c").await,
    );
    let t0 = Utc::now();
    let ab = a_match(&store, &types, "ab", fixture(&a, &b, t0, "finished")).await;
    let ca = a_match(
        &store,
        &types,
        "ca",
        fixture(&c, &a, t0 - Duration::days(1), "finished"),
    )
    .await;
    let of = |t: &Entry| t.id.to_string();
    assert_eq!(
        ids(&store.listed("team/matches", &of(&a), 50).await.unwrap()),
        vec![ca.id, ab.id]
    );
    assert_eq!(
        ids(&store.listed("team/matches", &of(&b), 50).await.unwrap()),
        vec![ab.id]
    );
    assert_eq!(
        ids(&store.listed("team/matches", &of(&c), 50).await.unwrap()),
        vec![ca.id]
    );

    // An article about a match is on that match's page only.
    let story = json!({"title": "Report", "body": "x", "match": ab.id});
    let article = published(&store, &types, "article", "report", story).await;
    assert_eq!(
        ids(&store.listed("match/articles", &of(&ab), 10).await.unwrap()),
        vec![article.id]
    );
    assert!(
        store
            .listed("match/articles", &of(&ca), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn referrers_are_the_published_entries_that_reference_an_entry(store: S) {
    let types = types();
    let (a, b) = two_teams(&store, &types).await;
    let m = a_match(&store, &types, "m", fixture(&a, &b, Utc::now(), "live")).await;
    let story = json!({"title": "Report", "body": "x", "match": m.id});
    let article = published(&store, &types, "article", "report", story).await;
    assert_eq!(ids(&store.referrers(a.id).await.unwrap()), vec![m.id]);
    assert_eq!(ids(&store.referrers(m.id).await.unwrap()), vec![article.id]);
    assert!(store.referrers(article.id).await.unwrap().is_empty());

    // The article now names no match: it refers to nothing.
    let article = update(&store, &article, json!({"title": "Report", "body": "x"})).await;
    publish(&store, &types, article).await;
    assert!(store.referrers(m.id).await.unwrap().is_empty());
}

async fn unpublishing_or_deleting_removes_an_entry_from_every_list(store: S) {
    let types = types();
    let (a, b) = two_teams(&store, &types).await;
    let m = a_match(&store, &types, "m", fixture(&a, &b, Utc::now(), "live")).await;
    let n = a_match(&store, &types, "n", fixture(&a, &b, Utc::now(), "live")).await;
    store
        .write(
            Write::new(
                EntryOp::Unpublish {
                    id: m.id,
                    expected_version: None,
                },
                "t",
            )
            .with_index(vec![EntryIndex::empty(m.id)]),
        )
        .await
        .unwrap();
    store
        .write(
            Write::new(
                EntryOp::Delete {
                    id: n.id,
                    expected_version: None,
                },
                "t",
            )
            .with_index(vec![EntryIndex::empty(n.id)]),
        )
        .await
        .unwrap();
    for (list, owner) in [
        ("home/live", String::new()),
        ("matches/fixtures", String::new()),
        ("team/matches", a.id.to_string()),
    ] {
        assert!(
            store.listed(list, &owner, 10).await.unwrap().is_empty(),
            "{list}"
        );
    }
    assert!(store.referrers(a.id).await.unwrap().is_empty());
}

async fn a_rebuild_replaces_every_row_and_records_the_signature(store: S) {
    let types = types();
    assert_eq!(store.index_signature().await.unwrap(), None);
    let (a, b) = two_teams(&store, &types).await;
    let m = a_match(&store, &types, "m", fixture(&a, &b, Utc::now(), "live")).await;
    let at = |e: &Entry, index: EntryIndex| IndexedEntry {
        version: e.version,
        index,
    };
    // Rows computed from the entry's current version replace its rows.
    store
        .write_index(&[at(&m, EntryIndex::empty(m.id))])
        .await
        .unwrap();
    assert!(store.listed("home/live", "", 10).await.unwrap().is_empty());
    assert!(store.referrers(a.id).await.unwrap().is_empty());

    let all = store.published_page(None, 100).await.unwrap();
    let rows: Vec<IndexedEntry> = all.iter().map(|e| at(e, types.index_of(e))).collect();
    store.write_index(&rows).await.unwrap();
    // Writing the same rows twice leaves one copy.
    store.write_index(&rows).await.unwrap();
    assert_eq!(
        ids(&store.listed("home/live", "", 10).await.unwrap()),
        vec![m.id]
    );
    assert_eq!(ids(&store.referrers(a.id).await.unwrap()), vec![m.id]);

    // Rows computed from an older version lose to the publish that moved
    // the entry on (it wrote its own).
    let stale = IndexedEntry {
        version: m.version - 1,
        index: EntryIndex::empty(m.id),
    };
    store.write_index(&[stale]).await.unwrap();
    assert_eq!(
        ids(&store.listed("home/live", "", 10).await.unwrap()),
        vec![m.id]
    );

    // Rows of an entry that is not published (here: left by a rebuild that
    // read it just before an unpublish) are dropped when the rebuild ends,
    // so they cannot surface when it is published again without them.
    let draft = store
        .write(Write::new(
            EntryOp::Create {
                type_name: "match".into(),
                slug: "draft".into(),
                data: fixture(&a, &b, Utc::now(), "live"),
            },
            "t",
        ))
        .await
        .unwrap()
        .entry
        .unwrap();
    let mut left = types.index_of(&m);
    left.entry = draft.id;
    for row in &mut left.listed {
        row.key.push(0xff);
    }
    store.write_index(&[at(&draft, left)]).await.unwrap();
    store.finish_index(&types.index_signature()).await.unwrap();
    assert_eq!(
        store.index_signature().await.unwrap(),
        Some(types.index_signature())
    );
    let op = EntryOp::Publish {
        id: draft.id,
        expected_version: None,
    };
    store.write(Write::new(op, "t")).await.unwrap();
    assert_eq!(
        ids(&store.listed("home/live", "", 10).await.unwrap()),
        vec![m.id]
    );
    assert_eq!(ids(&store.referrers(a.id).await.unwrap()), vec![m.id]);
    store.finish_index("other").await.unwrap();
    assert_eq!(
        store.index_signature().await.unwrap().as_deref(),
        Some("other")
    );
}

async fn published_entries_are_walked_by_id(store: S) {
    let types = types();
    let mut made = Vec::new();
    for i in 0..7 {
        made.push(team(&store, &types, &format!("t{i}")).await.id);
    }
    store
        .write(Write::new(
            EntryOp::Create {
                type_name: "team".into(),
                slug: "draft".into(),
                data: json!({"name": "d"}),
            },
            "t",
        ))
        .await
        .unwrap();
    let (mut seen, mut after) = (Vec::new(), None);
    loop {
        let page = store.published_page(after, 3).await.unwrap();
        let Some(last) = page.last() else { break };
        assert!(page.len() <= 3);
        after = Some(last.id);
        seen.extend(ids(&page));
    }
    made.sort();
    assert_eq!(seen, made);
}

async fn archive_buckets_are_owners_found_near_each_other(store: S) {
    let types = types();
    let (a, b) = two_teams(&store, &types).await;
    let months = ["2026-01", "2026-03", "2026-04", "2026-07", "2026-11"];
    let mut by_month = Vec::new();
    for (i, month) in months.iter().enumerate() {
        let kickoff: DateTime<Utc> = format!("{month}-10T15:00:00Z").parse().unwrap();
        let data = fixture(&a, &b, kickoff, "finished");
        by_month.push(a_match(&store, &types, &format!("m{i}"), data).await);
    }
    let buckets: Vec<String> = months.iter().map(|m| m.replace('-', "/")).collect();
    assert_eq!(store.list_owners("matches@archive").await.unwrap(), buckets);
    for (m, bucket) in by_month.iter().zip(&buckets) {
        let listed = store.listed("matches@archive", bucket, 10).await.unwrap();
        assert_eq!(ids(&listed), vec![m.id]);
    }
    // Two on each side, nearest last below and first above; the owner
    // itself is not one of them, whether or not it exists.
    let near = store
        .list_owners_near("matches@archive", "2026/04")
        .await
        .unwrap();
    assert_eq!(near, ["2026/01", "2026/03", "2026/07", "2026/11"]);
    let near = store
        .list_owners_near("matches@archive", "2026/02")
        .await
        .unwrap();
    assert_eq!(near, ["2026/01", "2026/03", "2026/04"]);
    let near = store
        .list_owners_near("matches@archive", "~")
        .await
        .unwrap();
    assert_eq!(near, ["2026/07", "2026/11"]);
    assert!(
        store
            .list_owners_near("no@archive", "~")
            .await
            .unwrap()
            .is_empty()
    );
}

async fn the_sitemap_rows_name_each_page_by_the_day_it_was_published(store: S) {
    let types = types();
    assert!(store.list_owners("@sitemap").await.unwrap().is_empty());
    let (a, b) = two_teams(&store, &types).await;
    let days = store.list_owners("@sitemap").await.unwrap();
    let day = keel::content_types::sitemap_day(a.published_at.unwrap());
    assert!(days.contains(&day), "{days:?}");
    let links = store.listed_links("@sitemap", &day, 100).await.unwrap();
    let mine: Vec<_> = links
        .iter()
        .filter(|l| l.id == a.id || l.id == b.id)
        .collect();
    assert_eq!(mine.len(), 2, "{links:?}");
    // Oldest first, with what a sitemap needs and nothing more.
    assert_eq!(mine[0].id, a.id);
    assert_eq!(mine[0].type_name, "team");
    assert_eq!(Some(mine[0].slug.clone()), a.published_slug);
    assert_eq!(Some(mine[0].published_at), a.published_at);
    assert_eq!(
        store.listed_links("@sitemap", &day, 1).await.unwrap().len(),
        1
    );
}
