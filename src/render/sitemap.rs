//! The files crawlers read (sitemaps.org, RFC 9309): `/robots.txt`, the
//! sitemap index `/sitemap.xml`, and one sitemap file per day of
//! publishing (`/sitemaps/2026-12-06.xml`, continued in
//! `/sitemaps/2026-12-06-2.xml` past 50,000 URLs). A publish rewrites the
//! files of the days its entry leaves and enters (the other days' files
//! stand); the publisher's indexer rewrites the index after them.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use quick_xml::escape::escape;

use crate::content_types::ContentTypes;
use crate::model::{CachePolicy, Link};

/// URLs per sitemap file at most (sitemaps.org).
pub const MAX_URLS: usize = 50_000;
/// Sitemap files an index lists at most (sitemaps.org): 136 years of days.
pub const MAX_FILES: usize = 50_000;
pub const INDEX_PATH: &str = "/sitemap.xml";
pub const ROBOTS_PATH: &str = "/robots.txt";
/// Where the day files live.
pub const FILES_PREFIX: &str = "/sitemaps/";
pub const XML: &str = "application/xml; charset=utf-8";
pub const TEXT: &str = "text/plain; charset=utf-8";

/// How crawlers and the edge may keep these files: they change with every
/// publish, but nobody reads them at match speed.
pub const CACHE: CachePolicy = CachePolicy {
    browser_max_age: 300,
    edge_max_age: 300,
    stale_while_revalidate: 60,
    stale_if_error: 86_400,
    immutable: false,
};

/// The path of the `part`th file (from 1) of a day.
pub fn file_path(day: &str, part: usize) -> String {
    if part <= 1 {
        format!("{FILES_PREFIX}{day}.xml")
    } else {
        format!("{FILES_PREFIX}{day}-{part}.xml")
    }
}

/// The day a sitemap file path belongs to (`2026-12-06`).
pub fn day_of(path: &str) -> Option<&str> {
    let name = path.strip_prefix(FILES_PREFIX)?.strip_suffix(".xml")?;
    let day = name.get(..10)?;
    let rest = &name[10..];
    let numbered = rest
        .strip_prefix('-')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    (rest.is_empty() || numbered).then_some(day)
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The bodies of a day's files, in part order; none when the day holds no
/// entry with a page. `links` are the day's entries, oldest first.
pub fn day_files(types: &ContentTypes, base: &str, links: &[Link]) -> Vec<String> {
    let urls: Vec<(String, DateTime<Utc>)> = links
        .iter()
        .filter_map(|l| {
            let ty = types.get(&l.type_name)?;
            Some((format!("{base}{}", ty.path_for(&l.slug)), l.published_at))
        })
        .collect();
    urls.chunks(MAX_URLS)
        .map(|chunk| {
            document(
                "urlset",
                "url",
                chunk.iter().map(|(loc, at)| (loc.clone(), *at)),
            )
        })
        .collect()
}

/// The index of `files` (path, last modified), newest day first.
pub fn index(base: &str, files: &[(String, DateTime<Utc>)]) -> String {
    // Only day files: a page some other way under /sitemaps/ is not one.
    let mut files: Vec<&(String, DateTime<Utc>)> =
        files.iter().filter(|(p, _)| day_of(p).is_some()).collect();
    files.sort_by(|a, b| b.0.cmp(&a.0));
    if files.len() > MAX_FILES {
        tracing::warn!(
            files = files.len(),
            max = MAX_FILES,
            "more sitemap files than one index may list; the oldest are left out"
        );
        files.truncate(MAX_FILES);
    }
    let entries = files
        .into_iter()
        .map(|(path, at)| (format!("{base}{path}"), *at));
    document("sitemapindex", "sitemap", entries)
}

/// A sitemaps.org document: `<root>` holding one `<item>` per (URL, time).
fn document(
    root: &str,
    item: &str,
    entries: impl ExactSizeIterator<Item = (String, DateTime<Utc>)>,
) -> String {
    let mut xml = String::with_capacity(128 + entries.len() * 120);
    let _ = writeln!(xml, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        xml,
        r#"<{root} xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">"#
    );
    for (loc, at) in entries {
        let _ = writeln!(
            xml,
            "<{item}><loc>{}</loc><lastmod>{}</lastmod></{item}>",
            escape(loc.as_str()),
            time(at)
        );
    }
    let _ = writeln!(xml, "</{root}>");
    xml
}

/// The built-in `/robots.txt`: everything but the APIs and previews may be
/// crawled, and the sitemap index is where the URLs are.
pub fn default_robots(base: &str) -> String {
    format!("User-agent: *\nDisallow: /api/\nDisallow: /preview/\n\nSitemap: {base}{INDEX_PATH}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content_types::ContentTypes;

    fn types() -> ContentTypes {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("content-types");
        ContentTypes::load(&dir).expect("demo types load")
    }

    fn link(slug: &str, at: &str) -> Link {
        Link {
            id: uuid::Uuid::now_v7(),
            type_name: "article".into(),
            slug: slug.into(),
            published_at: at.parse().expect("time"),
        }
    }

    #[test]
    fn day_files_list_each_page_with_its_time() {
        let types = types();
        let links = [
            link("a", "2026-12-06T09:00:00Z"),
            link("b", "2026-12-06T10:30:15Z"),
        ];
        let files = day_files(&types, "https://news.example", &links);
        assert_eq!(files.len(), 1);
        let path = types.get("article").expect("article").path_for("a");
        assert!(files[0].contains(&format!(
            "<url><loc>https://news.example{path}</loc><lastmod>2026-12-06T09:00:00Z</lastmod></url>"
        )));
        assert!(files[0].starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">"));
        assert!(files[0].ends_with("</urlset>\n"));
        assert_eq!(files[0].matches("<url>").count(), 2);
    }

    #[test]
    fn a_day_past_the_limit_continues_in_numbered_files() {
        let types = types();
        let links: Vec<Link> = (0..MAX_URLS + 3)
            .map(|i| link(&format!("s-{i}"), "2026-12-06T09:00:00Z"))
            .collect();
        let files = day_files(&types, "http://x", &links);
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].matches("<url>").count(), MAX_URLS);
        assert_eq!(files[1].matches("<url>").count(), 3);
        assert_eq!(file_path("2026-12-06", 1), "/sitemaps/2026-12-06.xml");
        assert_eq!(file_path("2026-12-06", 2), "/sitemaps/2026-12-06-2.xml");
        assert_eq!(day_of("/sitemaps/2026-12-06-2.xml"), Some("2026-12-06"));
        assert_eq!(day_of("/sitemaps/2026-12-06.xml"), Some("2026-12-06"));
        assert_eq!(day_of("/sitemaps/2026-12-06-x.xml"), None);
        assert_eq!(day_of("/sitemaps/2026.xml"), None);
    }

    #[test]
    fn unknown_types_are_left_out_and_urls_are_escaped() {
        let types = types();
        let mut gone = link("gone", "2026-12-06T09:00:00Z");
        gone.type_name = "no-such-type".into();
        let files = day_files(&types, "https://x.example/a&b", &[gone.clone()]);
        assert!(files.is_empty());
        let files = day_files(
            &types,
            "https://x.example/a&b",
            &[gone, link("ok", "2026-12-06T09:00:00Z")],
        );
        assert!(files[0].contains("https://x.example/a&amp;b/"));
        assert!(!files[0].contains("a&b"));
    }

    #[test]
    fn the_index_lists_files_newest_first() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().expect("time");
        let files = vec![
            (
                "/sitemaps/2026-12-05.xml".to_owned(),
                at("2026-12-05T23:00:00Z"),
            ),
            (
                "/sitemaps/2026-12-06.xml".to_owned(),
                at("2026-12-06T08:00:00Z"),
            ),
        ];
        let xml = index("https://news.example", &files);
        let newest = xml.find("2026-12-06.xml").expect("newest listed");
        let older = xml.find("2026-12-05.xml").expect("older listed");
        assert!(newest < older);
        assert!(xml.contains("<sitemap><loc>https://news.example/sitemaps/2026-12-05.xml</loc><lastmod>2026-12-05T23:00:00Z</lastmod></sitemap>"));
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">"));
        assert_eq!(
            default_robots("https://news.example"),
            "User-agent: *\nDisallow: /api/\nDisallow: /preview/\n\nSitemap: https://news.example/sitemap.xml\n"
        );
    }
}
