//! `CachedPage`: the header values and weight built once per page.

use actix_web::http::StatusCode;

use super::header;
use crate::cache::testing::{LAST_MODIFIED_HTTP, etag_of, html_page, json_page};
use crate::cache::*;
use crate::model::Page;

#[test]
fn cached_page_prebuilds_every_header() {
    let page = CachedPage::from_page(html_page("/matches/a", "<p>A</p>"));
    let h = page.headers();
    assert_eq!(header(&h.content_type), "text/html; charset=utf-8");
    assert_eq!(
        header(&h.cache_control),
        "public, max-age=60, s-maxage=300, stale-while-revalidate=30, stale-if-error=86400"
    );
    assert_eq!(
        header(&h.cdn_cache_control),
        "public, max-age=300, stale-while-revalidate=30, stale-if-error=86400"
    );
    assert_eq!(
        header(&h.surrogate_control),
        "max-age=300, stale-while-revalidate=30, stale-if-error=86400"
    );
    assert_eq!(
        h.surrogate_key.as_ref().map(header),
        Some("match:1 type:match home")
    );
    assert_eq!(
        h.cache_tag.as_ref().map(header),
        Some("match:1,type:match,home")
    );
    assert_eq!(header(&h.last_modified), LAST_MODIFIED_HTTP);
    assert_eq!(
        h.content_security_policy().map(header),
        Some(CONTENT_SECURITY_POLICY)
    );
    assert_eq!(h.referrer_policy().map(header), Some(REFERRER_POLICY));

    let tag = etag_of("<p>A</p>");
    let etag = |e: Encoding| {
        page.representation(e)
            .1
            .etag
            .as_ref()
            .map(header)
            .map(str::to_owned)
    };
    assert_eq!(etag(Encoding::Identity), Some(format!("\"{tag}\"")));
    assert_eq!(etag(Encoding::Brotli), Some(format!("\"{tag}-br\"")));
    assert_eq!(etag(Encoding::Gzip), Some(format!("\"{tag}-gz\"")));
    assert_eq!(
        &page.representation(Encoding::Brotli).1.body[..],
        b"br:<p>A</p>"
    );
    assert_eq!(
        &page.representation(Encoding::Gzip).1.body[..],
        b"gz:<p>A</p>"
    );

    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.seq(), 3);
    assert_eq!(page.last_modified(), 1_772_368_200);
    assert_eq!(page.freshness(), Freshness::Fresh);
    page.mark_stale();
    assert_eq!(page.freshness(), Freshness::Stale);
    assert!(page.fetched_at() <= std::time::Instant::now());
}

#[test]
fn non_html_pages_get_no_html_policies_and_missing_encodings_fall_back() {
    let page = CachedPage::from_page(json_page("/api/v1/content/match/a", "{}"));
    let h = page.headers();
    assert_eq!(header(&h.content_type), "application/json");
    assert!(h.content_security_policy().is_none() && h.referrer_policy().is_none());
    assert!(h.surrogate_key.is_none() && h.cache_tag.is_none());
    assert!(!page.has(Encoding::Brotli) && !page.has(Encoding::Gzip));
    assert_eq!(page.representation(Encoding::Brotli).0, Encoding::Identity);
    assert_eq!(page.representation(Encoding::Gzip).0, Encoding::Identity);

    // The media type is matched without regard to case.
    let upper = CachedPage::from_page(Page {
        content_type: "Text/HTML".into(),
        ..html_page("/x", "x")
    });
    assert!(upper.headers().content_security_policy().is_some());
}

#[test]
fn an_immutable_page_is_cached_for_a_year_without_revalidation() {
    let page = CachedPage::from_page(Page {
        content_type: "image/webp".into(),
        br: Vec::new(),
        gzip: Vec::new(),
        cache_policy: crate::model::CachePolicy {
            browser_max_age: 31_536_000,
            edge_max_age: 31_536_000,
            stale_while_revalidate: 0,
            stale_if_error: 0,
            immutable: true,
        },
        ..html_page("/media/0123abcd/crest-320.webp", "RIFF")
    });
    let h = page.headers();
    assert_eq!(
        header(&h.cache_control),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(
        header(&h.cdn_cache_control),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(header(&h.surrogate_control), "max-age=31536000");
    assert!(h.content_security_policy().is_none());
}

#[test]
fn pages_share_policy_values_and_keep_their_own_in_one_block() {
    let a = CachedPage::from_page(html_page("/matches/a", "<p>A</p>"));
    let b = CachedPage::from_page(html_page("/matches/b", "<p>B</p>"));
    let at = |v: &actix_web::http::header::HeaderValue| v.as_bytes().as_ptr();
    let (ha, hb) = (a.headers(), b.headers());
    for (x, y) in [
        (&ha.content_type, &hb.content_type),
        (&ha.cache_control, &hb.cache_control),
        (&ha.cdn_cache_control, &hb.cdn_cache_control),
        (&ha.surrogate_control, &hb.surrogate_control),
    ] {
        assert_eq!(at(x), at(y), "{x:?} is built once for every page");
    }
    // ETags, keys and date of one page lie side by side, its bodies after
    // them in the same allocation.
    let (_, br) = a.representation(Encoding::Brotli);
    let (_, identity) = a.representation(Encoding::Identity);
    let start = at(identity.etag.as_ref().expect("etag")) as usize;
    let offset = |ptr: *const u8| (ptr as usize).wrapping_sub(start);
    for value in [
        br.etag.as_ref().expect("etag"),
        ha.surrogate_key.as_ref().expect("keys"),
        ha.cache_tag.as_ref().expect("tags"),
        &ha.last_modified,
    ] {
        assert!(offset(at(value)) < 256, "{value:?} is not beside the etag");
    }
    assert!(offset(identity.body.as_ptr()) < 256);
    assert!(offset(br.body.as_ptr()) < 4096);
}

#[test]
fn values_that_cannot_be_headers_are_replaced_or_left_out() {
    let page = CachedPage::from_page(Page {
        status: 1000,
        content_type: "text/html\n<script>".into(),
        etag: "a\"b".into(),
        surrogate_keys: vec![
            "ok".into(),
            "has space".into(),
            "a,b".into(),
            String::new(),
            "é".into(),
        ],
        ..html_page("/bad", "bad")
    });
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(
        header(&page.headers().content_type),
        "application/octet-stream"
    );
    assert!(page.representation(Encoding::Identity).1.etag.is_none());
    assert!(page.representation(Encoding::Brotli).1.etag.is_none());
    assert_eq!(
        page.headers().surrogate_key.as_ref().map(header),
        Some("ok")
    );
    assert_eq!(page.headers().cache_tag.as_ref().map(header), Some("ok"));
}

#[test]
fn weight_counts_every_encoding_and_the_header_values() {
    let body = "x".repeat(10_000);
    let page = CachedPage::from_page(html_page("/big", &body));
    let bodies = 3 * 10_000 + 3 + 3;
    let weight = usize::try_from(page.weight()).expect("fits");
    assert!(weight > bodies + 200, "weight {weight} ignores headers");
    assert!(
        weight < bodies + 2_000,
        "weight {weight} is far above the bytes held"
    );
}

#[test]
fn a_verified_log_extends_freshness_from_the_verification() {
    let mut stored = html_page("/matches/a", "<p>A</p>");
    stored.cache_policy.edge_max_age = 10;
    stored.cache_policy.stale_if_error = 60;
    let page = CachedPage::from_page(stored);
    let fetched = page.fetched_at();
    let secs = std::time::Duration::from_secs;
    let later = fetched + secs(15);
    assert_eq!(page.freshness_at(later, None), Freshness::Stale);
    // Verified before the fetch: no news about this copy.
    assert_eq!(page.freshness_at(later, Some(fetched)), Freshness::Stale);
    // Verified 8 s after the fetch: current until 18 s.
    assert_eq!(
        page.freshness_at(later, Some(fetched + secs(8))),
        Freshness::Fresh
    );
    assert_eq!(
        page.freshness_at(fetched + secs(19), Some(fetched + secs(8))),
        Freshness::Stale
    );
    // stale-if-error counts from the same extended end.
    page.refresh_failed(later);
    assert!(!page.beyond_stale_if_error(fetched + secs(75), Some(fetched + secs(8))));
    assert!(page.beyond_stale_if_error(fetched + secs(75), None));
    // An event's mark wins over any verification.
    page.mark_stale();
    assert_eq!(
        page.freshness_at(later, Some(fetched + secs(8))),
        Freshness::Stale
    );
}
