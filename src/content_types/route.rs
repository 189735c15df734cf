//! Public URL shapes: a type's route pattern (`/matches/{slug}`) and a
//! listing's fixed path (`/matches`). Owns the path grammar, matching a
//! request path to a slug, and the overlap test that keeps every public path
//! answerable by exactly one type or listing. Never touches the store.

use serde::{Serialize, Serializer};

use super::validate::validate_slug;

/// The one placeholder a route carries.
pub const SLUG_PLACEHOLDER: &str = "{slug}";

/// Paths the server answers itself; no route or listing may reach them.
/// `/api` covers everything below it as well.
pub const RESERVED_PATHS: [&str; 5] = ["/api", "/admin", "/healthz", "/readyz", "/metrics"];

/// Pages keel renders for crawlers (served like any page, so not in
/// [`RESERVED_PATHS`]); no route or listing may claim them. `/sitemaps`
/// covers everything below it as well.
pub const SITE_FILES: [&str; 3] = ["/robots.txt", "/sitemap.xml", "/sitemaps"];

/// A checked route pattern: `prefix` + slug + `suffix`, where the slug fills
/// one whole path segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pattern: String,
    prefix: String,
    suffix: String,
}

impl Route {
    /// Checks a pattern: it starts with `/`, its segments are non-empty and
    /// made of `[a-z0-9._~-]` (no `.`/`..` segments), and exactly one segment
    /// is `{slug}`.
    pub fn parse(pattern: &str) -> Result<Route, String> {
        let placeholders = pattern.matches(SLUG_PLACEHOLDER).count();
        if placeholders != 1 {
            return Err(format!(
                "route {pattern:?} must contain exactly one {SLUG_PLACEHOLDER} placeholder (found {placeholders})"
            ));
        }
        let segments = split_segments(pattern)?;
        for segment in &segments {
            if segment.contains(SLUG_PLACEHOLDER) && *segment != SLUG_PLACEHOLDER {
                return Err(format!(
                    "route {pattern:?}: {SLUG_PLACEHOLDER} must be a whole path segment, not part of {segment:?}"
                ));
            }
            if *segment != SLUG_PLACEHOLDER {
                check_static_segment(pattern, segment)?;
            }
        }
        let (prefix, suffix) = pattern
            .split_once(SLUG_PLACEHOLDER)
            .expect("the placeholder was counted above");
        Ok(Route {
            pattern: pattern.to_owned(),
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// The public path of the entry with this slug.
    pub fn path_for(&self, slug: &str) -> String {
        let mut path = String::with_capacity(self.prefix.len() + slug.len() + self.suffix.len());
        path.push_str(&self.prefix);
        path.push_str(slug);
        path.push_str(&self.suffix);
        path
    }

    /// The slug a request path names, if the path has this route's shape and
    /// the slug is well formed.
    pub fn match_path<'p>(&self, path: &'p str) -> Option<&'p str> {
        let slug = path
            .strip_prefix(self.prefix.as_str())?
            .strip_suffix(self.suffix.as_str())?;
        validate_slug(slug).ok().map(|()| slug)
    }

    fn segments(&self) -> Vec<&str> {
        self.pattern.split('/').skip(1).collect()
    }

    /// True when some path is matched by both routes.
    pub fn overlaps(&self, other: &Route) -> bool {
        let (a, b) = (self.segments(), other.segments());
        a.len() == b.len()
            && a.iter()
                .zip(&b)
                .all(|(x, y)| segment_overlaps(x, y) || segment_overlaps(y, x))
    }

    /// True when this route can produce the fixed path (e.g. a listing's).
    pub fn covers(&self, path: &str) -> bool {
        self.match_path(path).is_some()
    }

    /// The reserved path this route could shadow, if any.
    pub fn reserved_clash(&self) -> Option<&'static str> {
        let segments = self.segments();
        RESERVED_PATHS
            .iter()
            .copied()
            .find(|reserved| {
                let name = &reserved[1..];
                let first = segments.first().copied().unwrap_or_default();
                let first_hits = first == name || first == SLUG_PLACEHOLDER;
                // `/api` reserves its whole subtree; the others one path each.
                first_hits && (segments.len() == 1 || *reserved == "/api")
            })
            .or_else(|| {
                // A slug cannot spell `robots.txt` or `sitemap.xml` (no dots);
                // the sitemaps folder is taken whole.
                (self.segments().first().copied() == Some("sitemaps")).then_some("/sitemaps")
            })
    }
}

/// Where one route segment is `{slug}`, the other static segment must be
/// something a slug can spell for the two to overlap.
fn segment_overlaps(x: &str, y: &str) -> bool {
    x == y || (x == SLUG_PLACEHOLDER && (y == SLUG_PLACEHOLDER || validate_slug(y).is_ok()))
}

impl Serialize for Route {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.pattern)
    }
}

/// Checks a listing's fixed path: `/`, or segments as in a route but with no
/// placeholder or braces at all.
pub fn check_fixed_path(path: &str) -> Result<(), String> {
    if path.contains(['{', '}']) {
        return Err(format!("path {path:?} must be fixed: no placeholders"));
    }
    if path == "/" {
        return Ok(());
    }
    for segment in split_segments(path)? {
        check_static_segment(path, segment)?;
    }
    Ok(())
}

/// The reserved path a fixed path equals or lies under, if any.
pub fn reserved_clash(path: &str) -> Option<&'static str> {
    RESERVED_PATHS
        .iter()
        .chain(&SITE_FILES)
        .copied()
        .find(|reserved| {
            let subtree = matches!(*reserved, "/api" | "/sitemaps");
            path == *reserved
                || (subtree
                    && path
                        .strip_prefix(reserved)
                        .is_some_and(|r| r.starts_with('/')))
        })
}

fn split_segments(path: &str) -> Result<Vec<&str>, String> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!("{path:?} must start with \"/\""));
    };
    let segments: Vec<&str> = rest.split('/').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(format!(
            "{path:?} has an empty segment (a doubled or trailing \"/\")"
        ));
    }
    Ok(segments)
}

fn check_static_segment(path: &str, segment: &str) -> Result<(), String> {
    if segment.contains(['{', '}']) {
        return Err(format!(
            "{path:?}: only the {SLUG_PLACEHOLDER} placeholder may use braces (found {segment:?})"
        ));
    }
    if segment == "." || segment == ".." {
        return Err(format!("{path:?} must not contain a {segment:?} segment"));
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "-._~".contains(c);
    if let Some(bad) = segment.chars().find(|c| !allowed(*c)) {
        return Err(format!(
            "{path:?}: character {bad:?} is not allowed in a path (use lowercase a-z, 0-9, '-', '.', '_', '~')"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_builds_paths() {
        let route = Route::parse("/matches/{slug}").expect("valid route");
        assert_eq!(route.path_for("derby-2026"), "/matches/derby-2026");
        assert_eq!(route.match_path("/matches/derby-2026"), Some("derby-2026"));
        let nested = Route::parse("/news/{slug}/amp").expect("valid route");
        assert_eq!(nested.match_path("/news/a-b/amp"), Some("a-b"));
        assert_eq!(nested.match_path("/news/a-b"), None);
    }

    #[test]
    fn match_path_rejects_malformed_slugs() {
        let route = Route::parse("/matches/{slug}").expect("valid route");
        for path in [
            "/matches/",
            "/matches/a/b",
            "/matches/UPPER",
            "/matches/..",
            "/matches/a%20b",
            "/teams/x",
        ] {
            assert_eq!(route.match_path(path), None, "{path}");
        }
    }

    #[test]
    fn rejects_bad_patterns() {
        for (pattern, needle) in [
            ("matches/{slug}", "must start with"),
            ("/matches", "exactly one"),
            ("/{slug}/{slug}", "exactly one"),
            ("/m-{slug}", "whole path segment"),
            ("/{id}/{slug}", "braces"),
            ("/matches//{slug}", "empty segment"),
            ("/matches/{slug}/", "empty segment"),
            ("/Matches/{slug}", "not allowed"),
            ("/../{slug}", "segment"),
        ] {
            let err = Route::parse(pattern).expect_err(pattern);
            assert!(err.contains(needle), "{pattern}: {err}");
        }
    }

    #[test]
    fn overlap_detection() {
        let r = |p: &str| Route::parse(p).expect("valid route");
        assert!(r("/matches/{slug}").overlaps(&r("/matches/{slug}")));
        assert!(r("/matches/{slug}").overlaps(&r("/{slug}/live")));
        assert!(!r("/matches/{slug}").overlaps(&r("/teams/{slug}")));
        assert!(!r("/matches/{slug}").overlaps(&r("/matches/{slug}/amp")));
        // "a.b" is not a slug, so no slug can fill in for it.
        assert!(!r("/{slug}/x").overlaps(&r("/a.b/{slug}")));
        assert!(r("/matches/{slug}").covers("/matches/featured"));
        assert!(!r("/matches/{slug}").covers("/matches"));
    }

    #[test]
    fn reserved_paths_are_protected() {
        let r = |p: &str| Route::parse(p).expect("valid route");
        assert!(r("/{slug}").reserved_clash().is_some());
        assert_eq!(r("/api/{slug}").reserved_clash(), Some("/api"));
        assert_eq!(r("/{slug}/feed").reserved_clash(), Some("/api"));
        assert_eq!(r("/metrics/{slug}").reserved_clash(), None);
        assert_eq!(reserved_clash("/api/v1/x"), Some("/api"));
        assert_eq!(reserved_clash("/metrics"), Some("/metrics"));
        assert_eq!(reserved_clash("/apis"), None);
        assert_eq!(reserved_clash("/robots.txt"), Some("/robots.txt"));
        assert_eq!(reserved_clash("/sitemap.xml"), Some("/sitemap.xml"));
        assert_eq!(reserved_clash("/sitemaps/x"), Some("/sitemaps"));
        assert_eq!(reserved_clash("/sitemapsx"), None);
        assert_eq!(r("/sitemaps/{slug}").reserved_clash(), Some("/sitemaps"));
        assert_eq!(r("/news/{slug}").reserved_clash(), None);
    }

    #[test]
    fn fixed_paths() {
        assert!(check_fixed_path("/").is_ok());
        assert!(check_fixed_path("/matches").is_ok());
        assert!(check_fixed_path("/matches/{slug}").is_err());
        assert!(check_fixed_path("matches").is_err());
        assert!(check_fixed_path("/matches/").is_err());
    }
}
