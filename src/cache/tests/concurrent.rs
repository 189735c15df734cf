//! The cache's rules under load: readers on several threads hammer the hit
//! path (and the slow path on a miss) while a publisher commits new
//! versions, events mark copies stale, a page is deleted, and a budget far
//! below the site's size keeps moka evicting. Afterwards every rule holds
//! as it does with one reader: the newest versions are served, the deleted
//! page and unknown paths are not found (without a query, and unknown paths
//! without a cache read), pinned pages are served without a query, and the
//! bytes held stay within the budget, with the hit path's index holding
//! nothing moka does not count.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::swr::{commit, refreshes_done};
use super::*;

const PAGES: usize = 100;
const DELETED: &str = "/p/99";

fn path(i: usize) -> String {
    format!("/p/{i}")
}

fn version(i: usize, v: usize) -> Page {
    html_page(&path(i), &format!("{i:04}-v{v}-{}", "x".repeat(4_000)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_and_a_publisher_at_once_keep_every_rule() {
    let fx = Fixture::new().await;
    // About 13 KB a page: a third of the site fits.
    let budget: u64 = 450_000;
    let cache = Arc::new(fx.cache_of(budget));
    fx.publish((0..PAGES).map(|i| version(i, 0)).collect())
        .await;
    cache.load_index().await.expect("index");
    let pinned: Vec<String> = (0..5).map(path).collect();
    cache.warm_and_pin(&pinned).await.expect("pinned");

    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..3u64)
        .map(|r| {
            let (cache, stop, answered) = (cache.clone(), stop.clone(), answered.clone());
            let shard = fx.metrics.shards.new_shard();
            tokio::spawn(async move {
                let mut x = 0x9e37_79b9_7f4a_7c15_u64 ^ r;
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let p = path(x as usize % PAGES);
                    let now = Instant::now();
                    if cache.hit_with(&p, now, &shard, |page| page.seq()).is_none() {
                        match cache.lookup_at(&p, now, &shard).await {
                            Lookup::Hit(_) | Lookup::Stale(_) | Lookup::Fetched(_) => {}
                            Lookup::NotFound => assert_eq!(p, DELETED, "published, not found"),
                            Lookup::Unavailable => panic!("{p} unavailable"),
                        }
                    }
                    let unknown = format!("/nowhere/{}", x % 50);
                    assert!(matches!(
                        cache.lookup_at(&unknown, now, &shard).await,
                        Lookup::NotFound
                    ));
                    n += 1;
                    if n.is_multiple_of(32) {
                        answered.fetch_add(32, Ordering::Relaxed);
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();

    // The publisher: 20 rounds of new versions of ten pages, each applied
    // as the follower applies an event (stale, then refreshed); the page
    // deleted half way.
    let updated: Vec<usize> = (10..20).collect();
    let mut last = 0;
    for round in 1..=20 {
        let writes = updated
            .iter()
            .map(|i| PageWrite::Upsert(version(*i, round)))
            .collect();
        last = commit(&fx, writes).await;
        let paths: Vec<String> = updated.iter().map(|i| path(*i)).collect();
        cache.apply_event(last, &paths).await;
        if round == 10 {
            let seq = commit(&fx, vec![PageWrite::Delete(DELETED.into())]).await;
            cache.apply_event(seq, &[DELETED.to_owned()]).await;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Readers keep going past the last event for a while: on a busy
    // machine they may have had little CPU during the rounds.
    let deadline = Instant::now() + Duration::from_secs(30);
    while answered.load(Ordering::Relaxed) < 3_000 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.await.expect("a reader panicked");
    }
    assert!(answered.load(Ordering::Relaxed) >= 3_000, "the readers ran");
    refreshes_done(&cache).await;

    // The newest version of every updated page.
    for i in &updated {
        match cache.lookup(&path(*i)).await {
            Lookup::Hit(page) | Lookup::Fetched(page) => {
                assert_eq!(page.seq(), last, "{}", path(*i));
                let body = &page.representation(Encoding::Identity).1.body;
                assert!(body.starts_with(format!("{i:04}-v20-").as_bytes()));
            }
            other => panic!("{}: {other:?}", path(*i)),
        }
    }
    // Gone, and unknown paths, without a query.
    let queries = fx.queries("page");
    assert!(matches!(cache.lookup(DELETED).await, Lookup::NotFound));
    let gets = cache.pages.gets();
    assert!(matches!(cache.lookup("/nowhere/1").await, Lookup::NotFound));
    assert_eq!(cache.pages.gets(), gets, "an unknown path reads no cache");
    // Pinned pages outlived all that eviction.
    for p in &pinned {
        assert!(matches!(cache.lookup(p).await, Lookup::Hit(_)), "{p}");
    }
    assert_eq!(fx.queries("page"), queries, "no page was read for these");
    // Within the budget, and the index holds only what moka counts (and
    // the pins, which a lookup puts back).
    cache.refresh_gauges().await;
    let bytes = fx.metrics.cache_bytes.get();
    let entries = usize::try_from(fx.metrics.cache_entries.get()).expect("entries");
    assert!(
        bytes <= i64::try_from(budget).expect("fits"),
        "{bytes} bytes held"
    );
    assert!(entries < PAGES / 2, "{entries} entries: evictions happened");
    assert!(
        cache.indexed() <= entries + pinned.len(),
        "{} indexed, {entries} in moka",
        cache.indexed()
    );
}
