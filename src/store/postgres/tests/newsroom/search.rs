//! Entry search: word prefixes of the slug and short strings, filters,
//! keyset paging, hostile input, and the index it goes through.

use std::str::FromStr;
use std::time::Duration;

use serde_json::{Value, json};
use tokio_postgres::{NoTls, SimpleQueryMessage};

use super::super::super::newsroom::search::{FOLD_FROM, FOLD_TO, prefix_query, search_query};
use super::super::harness::{self, TestStore};
use super::at;
use crate::model::{Entry, EntryStatus};
use crate::store::{EntryOp, EntrySearch, Store, Write};

async fn entry(store: &TestStore, type_name: &str, slug: &str, data: Value) -> Entry {
    let op = EntryOp::Create {
        type_name: type_name.to_owned(),
        slug: slug.to_owned(),
        data,
    };
    let outcome = store.write(Write::new(op, "tester")).await.expect("create");
    outcome.entry.expect("the entry")
}

fn search(text: &str) -> EntrySearch {
    EntrySearch {
        type_name: "team".to_owned(),
        text: text.to_owned(),
        status: None,
        unpublished_changes: false,
        scheduled: false,
        before: None,
        limit: 50,
    }
}

async fn slugs(store: &TestStore, search: &EntrySearch) -> Vec<String> {
    let found = store.search_entries(search).await.expect("search");
    found.into_iter().map(|e| e.slug).collect()
}

#[tokio::test]
async fn search_finds_word_prefixes_of_the_slug_and_short_strings() {
    let Some(store) = harness::store().await else {
        return;
    };
    let long = format!("Hidden {}", "word ".repeat(50));
    let rovers = entry(
        &store,
        "team",
        "northgate-rovers",
        json!({
            "name": "Northgate Rovers FC", "city": "Zürich", "body": long,
            "founded": 18_890, "active": true, "tags": ["tagged"], "ground": "U-21 Park"
        }),
    )
    .await;
    entry(
        &store,
        "team",
        "southbank-united",
        json!({ "name": "Southbank United" }),
    )
    .await;
    entry(
        &store,
        "match",
        "rovers-v-united",
        json!({ "title": "Rovers v United" }),
    )
    .await;

    let rovers_only = vec![rovers.slug.clone()];
    for text in [
        "rov",
        "ROVERS",
        "north rov",
        "Northgate-Rov",
        "FC",
        "zurich",
        "ZÜR",
        "zü",
    ] {
        assert_eq!(slugs(&store, &search(text)).await, rovers_only, "{text:?}");
    }
    // Hyphens and other punctuation separate words in the data too.
    assert_eq!(slugs(&store, &search("u21")).await, Vec::<String>::new());
    assert_eq!(slugs(&store, &search("u 21 park")).await, rovers_only);
    // Only short strings: not bodies, numbers, flags or nested values.
    for text in ["hidden", "18890", "true", "tagged", "rovers united"] {
        assert!(slugs(&store, &search(text)).await.is_empty(), "{text:?}");
    }
    // The whole search must match: every word a prefix of some word.
    assert_eq!(
        slugs(&store, &search("united")).await,
        vec!["southbank-united"]
    );
    let newest_first = vec!["southbank-united".to_owned(), rovers.slug.clone()];
    assert_eq!(slugs(&store, &search("")).await, newest_first);
    assert_eq!(slugs(&store, &search(" -- ")).await, newest_first);
    // The found entry is the whole row.
    let found = store.search_entries(&search("rov")).await.expect("search");
    assert_eq!(found, vec![rovers]);
}

#[tokio::test]
async fn search_follows_updates_and_deletes() {
    let Some(store) = harness::store().await else {
        return;
    };
    let team = entry(&store, "team", "old-name", json!({ "name": "Old Name" })).await;
    let update = EntryOp::Update {
        id: team.id,
        expected_version: Some(team.version),
        slug: "fresh-slug".to_owned(),
        data: json!({ "name": "Brand New" }),
    };
    let outcome = store.write(Write::new(update, "t")).await.expect("update");
    let updated = outcome.entry.expect("entry");
    assert!(slugs(&store, &search("old")).await.is_empty());
    assert_eq!(
        slugs(&store, &search("fresh brand")).await,
        vec!["fresh-slug"]
    );
    let delete = EntryOp::Delete {
        id: team.id,
        expected_version: Some(updated.version),
    };
    store.write(Write::new(delete, "t")).await.expect("delete");
    assert!(slugs(&store, &search("fresh")).await.is_empty());
    assert!(slugs(&store, &search("")).await.is_empty());
}

#[tokio::test]
async fn search_filters_by_status_schedule_and_unpublished_changes() {
    let Some(store) = harness::store().await else {
        return;
    };
    let draft = entry(&store, "team", "draft-side", json!({ "name": "Side" })).await;
    let live = entry(&store, "team", "live-side", json!({ "name": "Side" })).await;
    let changed = entry(&store, "team", "changed-side", json!({ "name": "Side" })).await;
    let moved = entry(&store, "team", "moved-side", json!({ "name": "Side" })).await;
    let soon = entry(&store, "team", "soon-side", json!({ "name": "Side" })).await;
    let publish = |e: &Entry| EntryOp::Publish {
        id: e.id,
        expected_version: Some(e.version),
    };
    let mut published = Vec::new();
    for e in [&live, &changed, &moved] {
        let outcome = store
            .write(Write::new(publish(e), "t"))
            .await
            .expect("publish");
        published.push(outcome.entry.expect("entry"));
    }
    let edit = |e: &Entry, slug: &str, data: Value| EntryOp::Update {
        id: e.id,
        expected_version: Some(e.version),
        slug: slug.to_owned(),
        data,
    };
    let op = edit(&published[1], "changed-side", json!({ "name": "Side B" }));
    store.write(Write::new(op, "t")).await.expect("edit data");
    let op = edit(&published[2], "moved-side-2", json!({ "name": "Side" }));
    store.write(Write::new(op, "t")).await.expect("edit slug");
    let schedule = EntryOp::Schedule {
        id: soon.id,
        expected_version: Some(soon.version),
        at: at() + chrono::Duration::days(1),
    };
    store
        .write(Write::new(schedule, "t"))
        .await
        .expect("schedule");

    let with = |f: &dyn Fn(&mut EntrySearch)| {
        let mut s = search("side");
        f(&mut s);
        s
    };
    let published_only = with(&|s| s.status = Some(EntryStatus::Published));
    assert_eq!(
        slugs(&store, &published_only).await,
        vec!["moved-side-2", "changed-side", "live-side"]
    );
    let drafts = with(&|s| s.status = Some(EntryStatus::Draft));
    assert_eq!(slugs(&store, &drafts).await, vec![draft.slug.clone()]);
    let scheduled = with(&|s| s.scheduled = true);
    assert_eq!(slugs(&store, &scheduled).await, vec!["soon-side"]);
    let unpublished = with(&|s| s.unpublished_changes = true);
    assert_eq!(
        slugs(&store, &unpublished).await,
        vec!["moved-side-2", "changed-side"]
    );
    let both = with(&|s| {
        s.unpublished_changes = true;
        s.text = "side b".to_owned();
    });
    assert_eq!(slugs(&store, &both).await, vec!["changed-side"]);
    let none = with(&|s| {
        s.scheduled = true;
        s.status = Some(EntryStatus::Draft);
    });
    assert!(slugs(&store, &none).await.is_empty());
}

#[tokio::test]
async fn search_pages_newest_first_by_id() {
    let Some(store) = harness::store().await else {
        return;
    };
    let mut ids = Vec::new();
    for i in 0..5 {
        let data = json!({ "name": format!("Club {i}") });
        ids.push(entry(&store, "team", &format!("club-{i}"), data).await.id);
        entry(&store, "team", &format!("other-{i}"), json!({})).await;
    }
    ids.reverse();
    for text in ["club", ""] {
        let mut seen = Vec::new();
        let mut before = None;
        loop {
            let page = EntrySearch {
                before,
                limit: 2,
                ..search(text)
            };
            let found = store.search_entries(&page).await.expect("search");
            if found.is_empty() {
                break;
            }
            before = found.last().map(|e| e.id);
            seen.extend(found.into_iter().map(|e| e.id));
        }
        if text == "club" {
            assert_eq!(seen, ids);
        } else {
            assert_eq!(seen.len(), 10);
            assert!(seen.windows(2).all(|w| w[0] > w[1]));
        }
    }
}

#[tokio::test]
async fn hostile_search_text_never_fails() {
    let Some(store) = harness::store().await else {
        return;
    };
    entry(
        &store,
        "team",
        "o-neill-rovers",
        json!({ "name": "O'Neill & Co" }),
    )
    .await;
    let long_word = "x".repeat(5000);
    let many_words = "a ".repeat(3000);
    let all_chars: String = (0u32..0x3000).filter_map(char::from_u32).collect();
    let hostile = [
        "'",
        "''",
        "\"",
        "\\",
        ":*",
        "a:*",
        "&",
        "|",
        "!",
        "!a",
        "(",
        ")",
        "(a | b) & !c",
        "a & | b",
        "<->",
        "a <-> b",
        "a<2>b",
        "' OR 1=1 --",
        "'; DROP TABLE entries; --",
        "\0",
        "a\0b",
        "💥",
        "日本語",
        "Ωmega",
        "İstanbul",
        "ß",
        "x²",
        "١٢٣",
        "e\u{301}",
        "%",
        "_",
        "$1",
        "::",
        "*",
        "o'neill",
        "O'Neill & Co",
        &long_word,
        &many_words,
        &all_chars,
    ];
    for text in hostile {
        let found = store.search_entries(&search(text)).await;
        assert!(found.is_ok(), "{text:?}: {found:?}");
    }
    assert_eq!(
        slugs(&store, &search("o'neill & co")).await,
        vec!["o-neill-rovers"]
    );
}

#[test]
fn the_query_has_only_prefix_words_joined_by_and() {
    assert_eq!(prefix_query(""), None);
    assert_eq!(prefix_query(" -':*&|!() "), None);
    assert_eq!(
        prefix_query("Zürich FC").as_deref(),
        Some("zurich:* & fc:*")
    );
    assert_eq!(
        prefix_query("a:*&b|c!(d)").as_deref(),
        Some("a:* & b:* & c:* & d:*")
    );
    assert_eq!(
        prefix_query("ÉTÉ été u-21").as_deref(),
        Some("ete:* & u:* & 21:*")
    );
    assert_eq!(
        prefix_query("Łódź ŞİŞLİ").as_deref(),
        Some("lodz:* & sisli:*")
    );
    let many: String = (0..40).map(|i| format!("w{i} ")).collect();
    let query = prefix_query(&many).expect("words");
    assert_eq!(query.matches(":*").count(), 16);
    let long = prefix_query(&"y".repeat(1000)).expect("a word");
    assert_eq!(long.len(), 200 + 2);
    assert_eq!(FOLD_FROM.chars().count(), FOLD_TO.chars().count());
    assert!(FOLD_TO.chars().all(|c| c.is_ascii_alphabetic()));
}

#[tokio::test]
async fn the_index_folds_letters_as_the_query_does() {
    let Some(store) = harness::store().await else {
        return;
    };
    // One word per folded letter, numbered so a misaligned pair shows.
    let text: String = FOLD_FROM
        .chars()
        .enumerate()
        .map(|(i, c)| format!("k{i}{c} "))
        .collect();
    let mut expected: Vec<String> = text
        .split_whitespace()
        .map(|w| {
            let query = prefix_query(w).expect("a word");
            query.trim_end_matches(":*").to_owned()
        })
        .collect();
    expected.sort();
    let client = store.conn("test").await.expect("connection");
    let row = client
        .query_one(
            "SELECT array_agg(lexeme ORDER BY lexeme) FROM \
             unnest(keel_search_text($1, '{}'))",
            &[&text],
        )
        .await
        .expect("lexemes");
    let mut lexemes: Vec<String> = row.get(0);
    lexemes.sort();
    assert_eq!(lexemes, expected);
}

#[tokio::test]
async fn search_uses_the_search_index_on_a_few_thousand_entries() {
    let Some(store) = harness::store().await else {
        return;
    };
    let client = store.conn("test").await.expect("connection");
    client
        .batch_execute(
            "INSERT INTO entries (id, type, slug, status, version, data, created_at, updated_at) \
             SELECT gen_random_uuid(), CASE WHEN i % 4 = 0 THEN 'match' ELSE 'team' END, \
               'team-' || i || '-' || md5(i::text), 'draft', 1, \
               jsonb_build_object('name', 'Club ' || md5(i::text), 'body', repeat('text ', 60)), \
               now(), now() \
             FROM generate_series(1, 4000) AS i; \
             ANALYZE entries",
        )
        .await
        .expect("rows");
    entry(
        &store,
        "team",
        "northgate-rovers",
        json!({ "name": "Northgate Rovers" }),
    )
    .await;
    // What the store prepares for a search with text, planned both ways:
    // the first runs of a prepared statement get a plan for their values,
    // later ones may get the generic plan.
    let rov = search("rov");
    let (words, status, limit) = (prefix_query(&rov.text), None, 50);
    let query = search_query(&rov, &words, &status, &limit);
    assert_eq!(query.params.len(), 3);
    let sql = query.sql.clone();
    let mut config = tokio_postgres::Config::from_str(&store.db.url).expect("url");
    config.connect_timeout(Duration::from_secs(2));
    let (own, connection) = config.connect(NoTls).await.expect("connects");
    let connection = tokio::spawn(connection);
    own.batch_execute(&format!("PREPARE search(text, text, bigint) AS {sql}"))
        .await
        .expect("prepare");
    for mode in ["force_custom_plan", "force_generic_plan"] {
        own.batch_execute(&format!("SET plan_cache_mode = {mode}"))
            .await
            .expect("mode");
        let messages = own
            .simple_query("EXPLAIN EXECUTE search('team', 'rov:*', 50)")
            .await
            .expect("explain");
        let plan: Vec<String> = messages
            .iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
                _ => None,
            })
            .collect();
        let plan = plan.join("\n");
        assert!(plan.contains("entries_search_idx"), "{mode}:\n{plan}");
    }
    drop(own);
    let _ = connection.await;
    let found = slugs(&store, &search("rov")).await;
    assert_eq!(found, vec!["northgate-rovers"]);
}
