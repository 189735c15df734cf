//! Stale-while-revalidate and stale-if-error: copies past their lifetime or
//! superseded by an event are served while one refresh per path runs, and
//! a store failure never costs a cached page.

use std::time::{Duration, Instant};

use super::*;
use crate::model::CachePolicy;
use crate::store::{EntryOp, NewEvent, Write};

/// A page fresh for one second in the process.
fn short_lived(path: &str, body: &str) -> Page {
    Page {
        cache_policy: CachePolicy {
            browser_max_age: 1,
            edge_max_age: 1,
            stale_while_revalidate: 1,
            stale_if_error: 1,
            immutable: false,
        },
        ..html_page(path, body)
    }
}

/// Commits page changes with their event, as publishing does; returns the seq.
pub(super) async fn commit(fx: &Fixture, pages: Vec<PageWrite>) -> i64 {
    let paths = pages.iter().map(|p| p.path().to_owned()).collect();
    let event = NewEvent {
        kind: "test".into(),
        paths,
        keys: Vec::new(),
        entries: Vec::new(),
    };
    fx.store
        .write(
            Write::new(EntryOp::None, "t")
                .with_pages(pages, None)
                .with_event(event),
        )
        .await
        .expect("write")
        .seq
        .expect("an event was written")
}

pub(super) async fn refreshes_done(cache: &PageCache) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while cache.refreshes_running() > 0 {
        assert!(Instant::now() < deadline, "refresh never finished");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn stale_body(lookup: &Lookup) -> &[u8] {
    match lookup {
        Lookup::Stale(page) => &page.representation(Encoding::Identity).1.body,
        other => panic!("expected a stale page, got {other:?}"),
    }
}

#[tokio::test]
async fn past_its_lifetime_a_page_is_served_stale_while_one_refresh_runs() {
    let fx = Fixture::new().await;
    fx.publish(vec![short_lived("/a", "A")]).await;
    let cache = Arc::new(fx.cache());
    cache.load_index().await.expect("index");
    assert!(matches!(cache.lookup("/a").await, Lookup::Fetched(_)));
    let before = fx.queries("page");
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let readers = (0..20).map(|_| {
        let cache = cache.clone();
        async move { cache.lookup("/a").await }
    });
    for lookup in futures_util::future::join_all(readers).await {
        assert_eq!(stale_body(&lookup), b"A");
    }
    refreshes_done(&cache).await;

    assert!(matches!(cache.lookup("/a").await, Lookup::Hit(_)));
    assert_eq!(fx.queries("page") - before, 1, "one refresh for 20 readers");
    assert_eq!(fx.cache_requests("stale"), 20);
}

#[tokio::test]
async fn an_event_serves_the_old_copy_until_the_refresh_brings_the_new_one() {
    let fx = Fixture::new().await;
    commit(&fx, vec![PageWrite::Upsert(html_page("/a", "v1"))]).await;
    let cache = fx.cache();
    cache.load_index().await.expect("index");
    assert!(matches!(cache.lookup("/a").await, Lookup::Fetched(_)));
    let seq = commit(&fx, vec![PageWrite::Upsert(html_page("/a", "v2"))]).await;

    cache.apply_event(seq, &["/a".to_owned()]).await;
    assert_eq!(stale_body(&cache.lookup("/a").await), b"v1");
    refreshes_done(&cache).await;
    let current = cache.lookup("/a").await;
    assert!(matches!(current, Lookup::Hit(_)));
    assert_eq!(body_of(&current), b"v2");

    // Applying it again (as the publishing node does) costs nothing.
    let queries = fx.queries("page");
    cache.apply_event(seq, &["/a".to_owned()]).await;
    assert!(matches!(cache.lookup("/a").await, Lookup::Hit(_)));
    assert_eq!(fx.queries("page"), queries);
}

#[tokio::test]
async fn an_event_deleting_a_page_removes_it_after_the_refresh() {
    let fx = Fixture::new().await;
    commit(&fx, vec![PageWrite::Upsert(html_page("/a", "v1"))]).await;
    let cache = fx.cache();
    cache.load_index().await.expect("index");
    assert!(matches!(cache.lookup("/a").await, Lookup::Fetched(_)));
    let seq = commit(&fx, vec![PageWrite::Delete("/a".into())]).await;

    cache.apply_event(seq, &["/a".to_owned()]).await;
    refreshes_done(&cache).await;
    assert!(matches!(cache.lookup("/a").await, Lookup::NotFound));
    assert!(!cache.index().contains("/a"));
}

#[tokio::test]
async fn an_event_for_an_uncached_path_indexes_it_without_a_query() {
    let fx = Fixture::new().await;
    let cache = fx.cache();
    cache.load_index().await.expect("index");
    let seq = commit(&fx, vec![PageWrite::Upsert(html_page("/new", "N"))]).await;
    let queries = fx.queries("page");

    cache.apply_event(seq, &["/new".to_owned()]).await;
    assert_eq!(fx.queries("page"), queries);
    assert!(cache.index().contains("/new"));
    assert!(matches!(cache.lookup("/new").await, Lookup::Fetched(_)));
}

#[tokio::test]
async fn a_failing_store_never_costs_the_stale_page() {
    let fx = Fixture::new().await;
    fx.publish(vec![short_lived("/a", "A")]).await;
    let cache = fx.cache();
    cache.load_index().await.expect("index");
    assert!(matches!(cache.lookup("/a").await, Lookup::Fetched(_)));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    fx.break_pages_table();

    assert_eq!(stale_body(&cache.lookup("/a").await), b"A");
    refreshes_done(&cache).await;
    let failed_once = fx.queries("page");
    // Inside the retry backoff: still the old page, no new query.
    assert_eq!(stale_body(&cache.lookup("/a").await), b"A");
    assert_eq!(fx.queries("page"), failed_once);
    // After the backoff a reader starts one more attempt.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(stale_body(&cache.lookup("/a").await), b"A");
    refreshes_done(&cache).await;
    assert_eq!(fx.queries("page"), failed_once + 1);

    // Past freshness + stale-if-error (1 s + 1 s) the copy is no longer
    // served while the store fails, but it is still held.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(matches!(cache.lookup("/a").await, Lookup::Unavailable));
    assert!(cache.pages.get("/a").await.is_some(), "never evicted");
    assert!(cache.index().contains("/a"));
}

/// The writing node's own event can arrive before its pages are applied;
/// it must not cost a re-read of every page.
#[tokio::test]
async fn an_event_for_a_local_write_in_progress_waits_for_its_end() {
    let fx = Fixture::new().await;
    let first = commit(&fx, vec![PageWrite::Upsert(html_page("/a", "A1"))]).await;
    let cache = Arc::new(fx.cache());
    cache.load_index().await.expect("index");
    assert!(matches!(cache.lookup("/a").await, Lookup::Fetched(_)));
    let before = fx.queries("page");

    // The local write commits; its event is followed before the pages land.
    let mut local = cache.begin_local(&["/a"]);
    let mut page = html_page("/a", "A2");
    page.seq = commit(&fx, vec![PageWrite::Upsert(page.clone())]).await;
    assert!(page.seq > first);
    cache.apply_event(page.seq, &["/a".to_owned()]).await;
    assert!(
        matches!(cache.lookup("/a").await, Lookup::Hit(_)),
        "not marked stale"
    );
    cache.apply(&[PageWrite::Upsert(page.clone())]).await;
    local.committed(Some(page.seq));
    drop(local);
    refreshes_done(&cache).await;
    assert_eq!(fx.queries("page"), before, "no re-read of its own write");
    assert!(matches!(&cache.lookup("/a").await, Lookup::Hit(p) if p.seq() == page.seq));

    // A newer write from elsewhere seen meanwhile, then the local write
    // fails: the path is refreshed to the newer version when it ends.
    let local = cache.begin_local(&["/a"]);
    let newer = commit(&fx, vec![PageWrite::Upsert(html_page("/a", "A3"))]).await;
    cache.apply_event(newer, &["/a".to_owned()]).await;
    drop(local);
    refreshes_done(&cache).await;
    assert_eq!(fx.queries("page"), before + 1);
    match cache.lookup("/a").await {
        Lookup::Hit(p) => assert_eq!(p.seq(), newer),
        other => panic!("expected the newer page, got {other:?}"),
    }
}

/// What a node reports holding: an event counts once the new bytes of
/// every cached page it changed are in memory, not when it is read.
#[tokio::test]
async fn a_node_holds_an_event_once_its_cached_pages_are_refreshed() {
    let fx = Fixture::new().await;
    let first = commit(&fx, vec![PageWrite::Upsert(html_page("/a", "v1"))]).await;
    let cache = fx.cache();
    cache.load_index().await.expect("index");
    cache.note_applied(first);
    assert!(matches!(cache.lookup("/a").await, Lookup::Fetched(_)));
    assert_eq!(cache.held_seq().await, first);

    // The refresh fails: the old copy is all this node has.
    let second = commit(&fx, vec![PageWrite::Upsert(html_page("/a", "v2"))]).await;
    let third = commit(&fx, vec![PageWrite::Upsert(html_page("/b", "B"))]).await;
    fx.break_pages_table();
    cache.apply_event(second, &["/a".to_owned()]).await;
    refreshes_done(&cache).await;
    assert_eq!(cache.applied_seq(), second);
    assert_eq!(cache.held_seq().await, first, "v1 is still served");

    // A later event for a page it does not cache is held at once, but not
    // past the one it still owes; the heartbeat's retry fails again.
    cache.apply_event(third, &["/b".to_owned()]).await;
    assert_eq!(cache.held_seq().await, first);
    refreshes_done(&cache).await;
    assert_eq!(cache.held_seq().await, first, "retried, failed again");

    // The store is back: the next heartbeat's retry brings v2, with no
    // reader asking for the page, and every event is held.
    fx.mend_pages_table();
    assert_eq!(cache.held_seq().await, first);
    refreshes_done(&cache).await;
    assert_eq!(cache.held_seq().await, third);
    assert_eq!(body_of(&cache.lookup("/a").await), b"v2");
}
