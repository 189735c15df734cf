//! Page cache behaviour against a real SQLite store, with database work read
//! from the store's own query counter (`keel_db_queries_total{op}`).

use std::sync::Arc;

use actix_web::http::StatusCode;

use super::testing::{Fixture, html_page};
use super::*;
use crate::model::{Page, PageWrite};

fn header(value: &actix_web::http::header::HeaderValue) -> &str {
    value.to_str().expect("visible ASCII header")
}

fn body_of(lookup: &Lookup) -> &[u8] {
    match lookup {
        Lookup::Hit(page) | Lookup::Fetched(page) => {
            &page.representation(Encoding::Identity).1.body
        }
        other => panic!("expected a page, got {other:?}"),
    }
}

mod concurrent;
mod page;
mod swr;

#[tokio::test]
async fn load_index_reads_only_published_pages() {
    let fx = Fixture::new().await;
    let gone = Page {
        status: 404,
        ..html_page("/404", "missing")
    };
    fx.publish(vec![
        html_page("/", "home"),
        html_page("/matches/a", "A"),
        gone,
    ])
    .await;
    let cache = fx.cache();
    assert_eq!(cache.load_index().await.expect("index"), 2);
    assert!(cache.index().contains("/") && cache.index().contains("/matches/a"));
    assert!(!cache.index().contains("/404"));
}

#[tokio::test]
async fn reloading_the_index_drops_cached_pages_no_longer_published() {
    let fx = Fixture::new().await;
    fx.publish(vec![html_page("/kept", "K")]).await;
    let cache = fx.cache();
    // Cached through an event the store no longer reflects (e.g. missed
    // deletes while the follower was disconnected).
    cache
        .apply(&[
            PageWrite::Upsert(html_page("/kept", "K")),
            PageWrite::Upsert(html_page("/gone", "G")),
        ])
        .await;
    assert!(matches!(cache.lookup("/gone").await, Lookup::Hit(_)));

    assert_eq!(cache.load_index().await.expect("index"), 1);
    assert!(matches!(cache.lookup("/gone").await, Lookup::NotFound));
    assert!(matches!(cache.lookup("/kept").await, Lookup::Hit(_)));
}

#[tokio::test]
async fn unknown_paths_are_not_found_without_a_query() {
    let fx = Fixture::new().await;
    fx.publish(vec![html_page("/matches/a", "A")]).await;
    let cache = fx.cache();
    cache.load_index().await.expect("index");
    let before = fx.queries("page");

    for path in ["/nope", "/matches/a/", "/MATCHES/A", "/matches/a?x=1", ""] {
        assert!(
            matches!(cache.lookup(path).await, Lookup::NotFound),
            "{path}"
        );
    }
    assert_eq!(fx.queries("page"), before);
    assert_eq!(fx.queries("pages"), 0);
    assert_eq!(fx.cache_requests("negative"), 5);
    assert_eq!(fx.cache_requests("miss"), 0);
    // Answered from the index alone: moka (whose reads write memory every
    // worker shares) and the pinned set were never read.
    assert_eq!(cache.pages.gets(), 0);
    assert!(matches!(
        cache.lookup("/matches/a").await,
        Lookup::Fetched(_)
    ));
    assert_eq!(cache.pages.gets(), 1, "a published path does read them");
}

/// The index decides before the cache does: a copy held for a path the
/// index no longer has (a deletion between its two steps) is not served
/// by the slow path, and nothing is read to find that out.
#[tokio::test]
async fn a_path_out_of_the_index_is_not_found_whatever_is_cached() {
    let fx = Fixture::new().await;
    let cache = fx.cache();
    cache
        .apply(&[PageWrite::Upsert(html_page("/going", "G"))])
        .await;
    // The first step of a delete: the index no longer has the path.
    assert!(cache.index().remove("/going"));
    let gets = cache.pages.gets();

    assert!(matches!(cache.lookup("/going").await, Lookup::NotFound));
    assert_eq!(cache.pages.gets(), gets);
    assert_eq!(fx.cache_requests("negative"), 1);
    assert_eq!(fx.queries("page"), 0);
}

#[tokio::test]
async fn a_miss_is_fetched_once_then_served_from_memory() {
    let fx = Fixture::new().await;
    fx.publish(vec![html_page("/matches/a", "A")]).await;
    let cache = fx.cache();
    cache.load_index().await.expect("index");

    let first = cache.lookup("/matches/a").await;
    assert!(matches!(first, Lookup::Fetched(_)));
    assert_eq!(body_of(&first), b"A");
    for _ in 0..3 {
        let again = cache.lookup("/matches/a").await;
        assert!(matches!(again, Lookup::Hit(_)));
        assert_eq!(body_of(&again), b"A");
    }
    assert_eq!(fx.queries("page"), 1);
    assert_eq!(
        (fx.cache_requests("miss"), fx.cache_requests("hit")),
        (1, 3)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_misses_make_one_query() {
    let fx = Fixture::new().await;
    fx.publish(vec![html_page("/matches/hot", "hot")]).await;
    let cache = Arc::new(fx.cache());
    cache.load_index().await.expect("index");

    let barrier = Arc::new(tokio::sync::Barrier::new(50));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (cache, barrier) = (cache.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                cache.lookup("/matches/hot").await
            })
        })
        .collect();
    for task in tasks {
        let lookup = task.await.expect("task");
        assert!(matches!(lookup, Lookup::Fetched(_) | Lookup::Hit(_)));
        assert_eq!(body_of(&lookup), b"hot");
    }
    assert_eq!(fx.queries("page"), 1);
    assert_eq!(fx.cache_requests("miss") + fx.cache_requests("hit"), 50);
}

#[tokio::test]
async fn apply_caches_upserts_and_forgets_deletes_without_queries() {
    let fx = Fixture::new().await;
    let cache = fx.cache();
    cache
        .apply(&[
            PageWrite::Upsert(html_page("/a", "A1")),
            PageWrite::Upsert(html_page("/b", "B")),
        ])
        .await;
    assert!(matches!(cache.lookup("/a").await, Lookup::Hit(_)));

    cache
        .apply(&[PageWrite::Upsert(html_page("/a", "A2"))])
        .await;
    let replaced = cache.lookup("/a").await;
    assert!(matches!(replaced, Lookup::Hit(_)));
    assert_eq!(body_of(&replaced), b"A2");

    cache.apply(&[PageWrite::Delete("/b".into())]).await;
    assert!(matches!(cache.lookup("/b").await, Lookup::NotFound));
    assert!(!cache.index().contains("/b"));

    // A page written with another status is not served at its path.
    let withdrawn = Page {
        status: 404,
        ..html_page("/a", "gone")
    };
    cache.apply(&[PageWrite::Upsert(withdrawn)]).await;
    assert!(matches!(cache.lookup("/a").await, Lookup::NotFound));
    assert_eq!(fx.queries("page"), 0);
}

#[tokio::test]
async fn an_indexed_path_the_store_no_longer_has_becomes_not_found() {
    let fx = Fixture::new().await;
    let cache = fx.cache();
    cache.index().insert("/ghost");

    assert!(matches!(cache.lookup("/ghost").await, Lookup::NotFound));
    assert!(!cache.index().contains("/ghost"));
    assert!(matches!(cache.lookup("/ghost").await, Lookup::NotFound));
    assert_eq!(fx.queries("page"), 1);
}

#[tokio::test]
async fn a_store_failure_is_unavailable_and_not_cached() {
    let fx = Fixture::new().await;
    fx.publish(vec![html_page("/a", "A")]).await;
    let cache = fx.cache();
    cache.load_index().await.expect("index");
    fx.break_pages_table();

    assert!(matches!(cache.lookup("/a").await, Lookup::Unavailable));
    assert!(matches!(cache.lookup("/a").await, Lookup::Unavailable));
    assert_eq!(fx.cache_requests("error"), 2);
    assert_eq!(fx.queries("page"), 2, "errors are retried, not cached");
    assert!(cache.index().contains("/a"), "a failure is not a deletion");
}

#[tokio::test]
async fn a_write_during_a_fetch_drops_the_fetched_copy() {
    let fx = Fixture::new().await;
    fx.publish(vec![html_page("/a", "old")]).await;
    let cache = fx.cache();
    cache.load_index().await.expect("index");
    let stamp = cache.index().stamp("/a").expect("indexed");
    // A write lands while the fetch is in flight: the index moves on.
    cache.index().insert("/a");

    assert!(matches!(
        cache.fetch("/a", stamp, &cache.shard).await,
        Lookup::Fetched(_)
    ));
    assert!(
        matches!(cache.lookup("/a").await, Lookup::Fetched(_)),
        "the possibly outdated copy must not stay cached"
    );
    assert!(matches!(cache.lookup("/a").await, Lookup::Hit(_)));
}

#[tokio::test]
async fn a_tiny_budget_evicts_and_the_gauges_show_it() {
    let fx = Fixture::new().await;
    let budget = 100_000;
    let cache = fx.cache_of(budget);
    let body = "y".repeat(10_000);
    let writes: Vec<_> = (0..20)
        .map(|i| PageWrite::Upsert(html_page(&format!("/p/{i}"), &body)))
        .collect();
    cache.apply(&writes).await;

    let entries = fx.metrics.cache_entries.get();
    let bytes = fx.metrics.cache_bytes.get();
    assert!(
        (1..=3).contains(&entries),
        "{entries} entries of ~30 KB in 100 KB"
    );
    assert!(
        bytes <= i64::try_from(budget).expect("fits"),
        "{bytes} bytes held"
    );
    // Evicted pages stay published: they are fetched again, not 404.
    assert_eq!(cache.index().len(), 20);
}

#[tokio::test]
async fn gauges_count_entries_and_bytes_after_apply() {
    let fx = Fixture::new().await;
    let cache = fx.cache();
    let (a, b) = (html_page("/a", "A"), html_page("/bb", "BB"));
    let weight = |p: &Page| {
        i64::from(CachedPage::from_page(p.clone()).weight())
            + i64::try_from(p.path.len()).expect("fits")
    };
    let expected = weight(&a) + weight(&b);
    cache
        .apply(&[PageWrite::Upsert(a), PageWrite::Upsert(b)])
        .await;
    assert_eq!(fx.metrics.cache_entries.get(), 2);
    assert_eq!(fx.metrics.cache_bytes.get(), expected);

    cache.apply(&[PageWrite::Delete("/a".into())]).await;
    assert_eq!(fx.metrics.cache_entries.get(), 1);
}

#[tokio::test]
async fn housekeeping_refreshes_gauges_until_shutdown() {
    let fx = Fixture::new().await;
    fx.publish(vec![html_page("/a", "A")]).await;
    let cache = Arc::new(fx.cache());
    cache.load_index().await.expect("index");
    let (stop, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(run_housekeeping(
        cache.clone(),
        std::time::Duration::from_millis(10),
        rx,
    ));

    // A miss inserts without touching the gauges; the task catches up.
    assert!(matches!(cache.lookup("/a").await, Lookup::Fetched(_)));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while fx.metrics.cache_entries.get() != 1 {
        assert!(std::time::Instant::now() < deadline, "gauge never updated");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    stop.send(true).expect("task listening");
    tokio::time::timeout(std::time::Duration::from_secs(5), task)
        .await
        .expect("task stops")
        .expect("task ok");
}

#[tokio::test]
async fn the_not_found_page_is_built_in_until_replaced_and_never_evicted() {
    let fx = Fixture::new().await;
    // A budget smaller than the page: it lives outside the moka cache.
    let cache = fx.cache_of(1024);

    let builtin = cache.not_found();
    assert_eq!(builtin.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        header(&builtin.headers().content_type),
        "text/plain; charset=utf-8"
    );
    assert_eq!(
        &builtin.representation(Encoding::Identity).1.body[..],
        b"Not Found\n"
    );

    let custom = Page {
        status: 404,
        ..html_page("/404", "<h1>Not here</h1>")
    };
    cache.set_not_found(CachedPage::from_page(custom));
    cache
        .apply(&[PageWrite::Upsert(html_page("/filler", &"z".repeat(4096)))])
        .await;
    let page = cache.not_found();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        &page.representation(Encoding::Identity).1.body[..],
        b"<h1>Not here</h1>"
    );
    // The borrowed page is the same one.
    let lent = cache.with_not_found(|page| page.representation(Encoding::Identity).1.body.clone());
    assert_eq!(&lent[..], b"<h1>Not here</h1>");
}

#[tokio::test]
async fn taking_back_a_copy_leaves_a_newer_one_and_drops_only_its_own() {
    let pages = pages::Pages::new(1 << 20);
    let path: Arc<str> = Arc::from("/matches/a");
    let old = Arc::new(CachedPage::from_page(html_page("/matches/a", "old")));
    let new = Arc::new(CachedPage::from_page(Page {
        seq: 2,
        ..html_page("/matches/a", "new")
    }));
    pages.insert(path.clone(), old.clone()).await;
    pages.insert(path.clone(), new.clone()).await;
    // The writer of `old` lost a race: taking it back must not drop `new`.
    pages.invalidate_copy(&path, &old).await;
    let held = pages.get(&path).await.expect("the newer copy stays");
    assert!(Arc::ptr_eq(&held, &new));
    assert_eq!(pages.indexed(), 1);
    pages.invalidate_copy(&path, &new).await;
    pages.moka().run_pending_tasks().await;
    assert!(pages.get(&path).await.is_none());
    assert_eq!(pages.indexed(), 0);
}
