//! The site under test and the traffic drawn from it. Paths are discovered
//! from keel itself (the editor API lists published entries and their
//! routes when a token is given; otherwise the HTML is crawled from `/`),
//! ranked by how hot they are on a match day (home page and live matches
//! first, then matches by how close their kick-off is, then news and
//! teams), and drawn by a Zipf law over that rank.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use hyper::Method;
use hyper::header::HeaderValue;
use rand::Rng;
use rand_distr::{Distribution, Zipf};
use serde_json::Value;

use crate::http::Api;

#[derive(Debug, Clone, PartialEq)]
pub struct SitePath {
    pub path: String,
    /// Lower is hotter.
    pub heat: f64,
}

/// A match that is live now: the target of `--live-updates`.
#[derive(Debug, Clone)]
pub struct LiveMatch {
    pub id: String,
}

#[derive(Debug, Default)]
pub struct Site {
    /// Hottest first.
    pub paths: Vec<SitePath>,
    pub live: Vec<LiveMatch>,
    /// How the paths were found, for the report.
    pub source: String,
}

impl Site {
    /// Ranks the collected paths, hottest first (ties by path, so a run is
    /// repeatable).
    pub fn from_paths(mut paths: Vec<SitePath>, live: Vec<LiveMatch>, source: String) -> Site {
        paths.sort_by(|a, b| a.heat.total_cmp(&b.heat).then_with(|| a.path.cmp(&b.path)));
        paths.dedup_by(|a, b| a.path == b.path);
        Site {
            paths,
            live,
            source,
        }
    }
}

/// Finds the published site: through the editor API when the client has a
/// token, else by crawling links from `/` (at most `max_paths` pages).
pub async fn discover(api: &Api, now: DateTime<Utc>, max_paths: usize) -> anyhow::Result<Site> {
    if api.has_token() {
        discover_by_api(api, now).await
    } else {
        let paths = crawl(api, &["/"], max_paths).await?;
        let paths = paths
            .into_iter()
            .enumerate()
            .map(|(i, path)| SitePath {
                heat: if path == "/" { 0.0 } else { 1.0 + i as f64 },
                path,
            })
            .collect();
        Ok(Site::from_paths(
            paths,
            Vec::new(),
            "crawled from / (no token: no JSON documents, no live updates)".into(),
        ))
    }
}

/// The paths listed in `file`, one per line, hottest first; blank lines
/// are skipped.
pub fn from_file(file: &std::path::Path) -> anyhow::Result<Site> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| anyhow::anyhow!("--paths {}: {e}", file.display()))?;
    Site::from_listed(&text).map_err(|e| anyhow::anyhow!("--paths {}: {e}", file.display()))
}

impl Site {
    fn from_listed(text: &str) -> Result<Site, String> {
        let mut paths = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, line) in text.lines().map(str::trim).enumerate() {
            if line.is_empty() || !seen.insert(line) {
                continue;
            }
            if !line.starts_with('/') {
                return Err(format!(
                    "line {}: {line:?} is not a path starting with /",
                    i + 1
                ));
            }
            paths.push(SitePath {
                path: line.to_string(),
                heat: i as f64,
            });
        }
        if paths.is_empty() {
            return Err("no paths listed".into());
        }
        Ok(Site::from_paths(
            paths,
            Vec::new(),
            "listed with --paths".into(),
        ))
    }
}

async fn discover_by_api(api: &Api, now: DateTime<Utc>) -> anyhow::Result<Site> {
    let types = api.json(Method::GET, "/api/v1/content-types", None).await?;
    let mut paths = Vec::new();
    let mut live = Vec::new();
    let items = types["items"].as_array().cloned().unwrap_or_default();
    for ty in &items {
        let (Some(name), Some(route)) = (ty["name"].as_str(), ty["route"].as_str()) else {
            continue;
        };
        for (i, entry) in published(api, name).await?.iter().enumerate() {
            let Some(slug) = entry["slug"].as_str() else {
                continue;
            };
            let page = route.replace("{slug}", slug);
            let json = format!("/api/v1/content/{name}/{slug}");
            let (heat, json_heat) = heat_of(name, &entry["data"], now, i);
            if let (true, Some(id)) = (
                name == "match" && entry["data"]["status"] == "live",
                entry["id"].as_str(),
            ) {
                live.push(LiveMatch { id: id.to_string() });
            }
            paths.push(SitePath { path: page, heat });
            paths.push(SitePath {
                path: json,
                heat: json_heat,
            });
        }
    }
    // Listings are not entries: take the ones the home page links to.
    let known: BTreeSet<String> = paths.iter().map(|p| p.path.clone()).collect();
    let home = crawl(api, &["/"], 64).await?;
    for path in home {
        if !known.contains(&path) {
            let heat = if path == "/" { 0.0 } else { 2.0 };
            paths.push(SitePath { path, heat });
        }
    }
    Ok(Site::from_paths(
        paths,
        live,
        "editor API (published entries and their JSON documents) and the listings linked from /"
            .into(),
    ))
}

/// (page heat, JSON document heat) of one entry. Live matches are hottest
/// after the home page; other matches cool by an hour per hour from now.
fn heat_of(type_name: &str, data: &Value, now: DateTime<Utc>, index: usize) -> (f64, f64) {
    match type_name {
        "match" if data["status"] == "live" => (1.0, 3.0),
        "match" => {
            let hours = data["kickoff"]
                .as_str()
                .and_then(|k| DateTime::parse_from_rfc3339(k).ok())
                .map_or(1000.0, |k| {
                    (k.with_timezone(&Utc) - now).num_minutes().abs() as f64 / 60.0
                });
            (10.0 + hours, 10.5 + hours)
        }
        "article" => (1000.0 + index as f64, 1500.0 + index as f64),
        "team" => (2000.0 + index as f64, 2500.0 + index as f64),
        _ => (3000.0 + index as f64, 3500.0 + index as f64),
    }
}

/// Every published entry of a type, following the cursor.
async fn published(api: &Api, type_name: &str) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/entries/{type_name}?status=published&limit=100");
        if let Some(c) = &cursor {
            path.push_str("&cursor=");
            path.push_str(c);
        }
        let page = api.json(Method::GET, &path, None).await?;
        out.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return Ok(out),
        }
    }
}

/// Breadth-first over same-site links of HTML pages answering 200.
async fn crawl(api: &Api, roots: &[&str], max_paths: usize) -> anyhow::Result<Vec<String>> {
    let mut seen: BTreeSet<String> = roots.iter().map(|r| r.to_string()).collect();
    let mut queue: VecDeque<String> = roots.iter().map(|r| r.to_string()).collect();
    let mut found = Vec::new();
    while let Some(path) = queue.pop_front() {
        if found.len() >= max_paths {
            break;
        }
        let reply = api.call(Method::GET, &path, None).await?;
        let html = reply
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/html"));
        if reply.status != 200 || !html {
            continue;
        }
        found.push(path);
        for link in links(&reply.text()) {
            if seen.insert(link.clone()) {
                queue.push_back(link);
            }
        }
    }
    Ok(found)
}

/// Same-site `href="/..."` targets, without query or fragment.
pub fn links(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in html.split("href=\"").skip(1) {
        let Some(end) = part.find('"') else { continue };
        let target = &part[..end];
        if !target.starts_with('/') || target.starts_with("//") {
            continue;
        }
        let target = target.split(['?', '#']).next().unwrap_or(target);
        if !target.is_empty() {
            out.push(target.to_string());
        }
    }
    out
}

/// `Accept-Encoding` a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enc {
    Br,
    Gzip,
    None,
}

impl Enc {
    pub const ALL: [Enc; 3] = [Enc::Br, Enc::Gzip, Enc::None];

    pub fn name(self) -> &'static str {
        match self {
            Enc::Br => "br",
            Enc::Gzip => "gzip",
            Enc::None => "none",
        }
    }

    /// What a client of that kind sends (a browser offers gzip as well).
    pub fn header(self) -> Option<HeaderValue> {
        match self {
            Enc::Br => Some(HeaderValue::from_static("br, gzip")),
            Enc::Gzip => Some(HeaderValue::from_static("gzip")),
            Enc::None => None,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// `br=60,gzip=30,none=10`: relative weights of each `Accept-Encoding`.
pub fn parse_encodings(spec: &str) -> Result<[f64; 3], String> {
    let mut weights = [0.0; 3];
    for part in spec.split(',') {
        let (name, weight) = part.trim().split_once('=').ok_or_else(|| {
            format!("encoding mix {part:?}: expected NAME=WEIGHT (e.g. br=60,gzip=30,none=10)")
        })?;
        let enc = Enc::ALL
            .into_iter()
            .find(|e| e.name() == name.trim())
            .ok_or_else(|| format!("encoding mix: unknown encoding {name:?} (br, gzip or none)"))?;
        let w: f64 = weight
            .trim()
            .parse()
            .ok()
            .filter(|w: &f64| w.is_finite() && *w >= 0.0)
            .ok_or_else(|| format!("encoding mix: weight of {name} must be a number >= 0"))?;
        weights[enc.index()] = w;
    }
    if weights.iter().sum::<f64>() <= 0.0 {
        return Err("encoding mix: at least one weight must be above 0".into());
    }
    Ok(weights)
}

/// One reader request, as drawn.
#[derive(Debug, Clone)]
pub struct Pick {
    /// Index into the site's paths, or `None` for an unknown path.
    pub path: Option<usize>,
    pub unknown: Option<String>,
    pub enc: Enc,
    /// Send `If-None-Match` with the last ETag seen for this variant.
    pub conditional: bool,
}

/// Draws requests: Zipf over the ranked paths, the encoding mix, and the
/// shares of conditional and unknown-path requests.
pub struct Traffic {
    zipf: Zipf<f64>,
    encodings: [f64; 3],
    unknown_share: f64,
    conditional_share: f64,
    /// Last ETag seen per path and encoding (learned from responses, since
    /// each representation has its own).
    etags: Vec<[Mutex<Option<HeaderValue>>; 3]>,
}

impl Traffic {
    pub fn new(
        paths: usize,
        zipf_s: f64,
        encodings: [f64; 3],
        unknown_share: f64,
        conditional_share: f64,
    ) -> Result<Traffic, String> {
        if paths == 0 {
            return Err("the site has no published paths to request".into());
        }
        let zipf =
            Zipf::new(paths as f64, zipf_s).map_err(|e| format!("--zipf-s {zipf_s}: {e}"))?;
        Ok(Traffic {
            zipf,
            encodings,
            unknown_share,
            conditional_share,
            etags: (0..paths).map(|_| Default::default()).collect(),
        })
    }

    pub fn pick(&self, rng: &mut impl Rng) -> Pick {
        let enc = self.pick_encoding(rng);
        if rng.random::<f64>() < self.unknown_share {
            let n: u32 = rng.random();
            let unknown = if n.is_multiple_of(2) {
                format!("/matches/no-such-match-{n:08x}")
            } else {
                format!("/missing/{n:08x}")
            };
            return Pick {
                path: None,
                unknown: Some(unknown),
                enc,
                conditional: false,
            };
        }
        let rank = self.zipf.sample(rng) as usize;
        Pick {
            path: Some(rank.saturating_sub(1).min(self.etags.len() - 1)),
            unknown: None,
            enc,
            conditional: rng.random::<f64>() < self.conditional_share,
        }
    }

    fn pick_encoding(&self, rng: &mut impl Rng) -> Enc {
        let total: f64 = self.encodings.iter().sum();
        let mut x = rng.random::<f64>() * total;
        for enc in Enc::ALL {
            x -= self.encodings[enc.index()];
            if x < 0.0 {
                return enc;
            }
        }
        Enc::None
    }

    pub fn etag(&self, path: usize, enc: Enc) -> Option<HeaderValue> {
        self.etags[path][enc.index()]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn learn_etag(&self, path: usize, enc: Enc, etag: &HeaderValue) {
        let mut slot = self.etags[path][enc.index()]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if slot.as_ref() != Some(etag) {
            *slot = Some(etag.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn listed_paths_keep_their_order_and_reject_non_paths() {
        let site = Site::from_listed("/b\n\n/a\n/b\n").unwrap();
        let paths: Vec<&str> = site.paths.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["/b", "/a"]);
        let err = Site::from_listed("/a\nteams/x\n").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        assert!(Site::from_listed("\n").is_err());
    }

    #[test]
    fn zipf_sends_most_requests_to_the_few_hottest_paths() {
        let t = Traffic::new(300, 1.0, [1.0, 0.0, 0.0], 0.0, 0.0).unwrap();
        let mut rng = StdRng::seed_from_u64(7);
        let mut counts = vec![0u32; 300];
        for _ in 0..100_000 {
            counts[t.pick(&mut rng).path.unwrap()] += 1;
        }
        let top5: u32 = counts[..5].iter().sum();
        let bottom150: u32 = counts[150..].iter().sum();
        // H(300) ~ 6.28, so the top 5 draw (1+1/2+..+1/5)/6.28 ~ 36%.
        assert!((33_000..40_000).contains(&top5), "top 5 got {top5}");
        assert!(bottom150 < 13_000, "bottom half got {bottom150}");
        assert!(counts[0] > 4 * counts[9], "{} vs {}", counts[0], counts[9]);
    }

    #[test]
    fn shares_of_unknown_and_conditional_requests_and_encodings_hold() {
        let t = Traffic::new(50, 1.0, [60.0, 30.0, 10.0], 0.1, 0.2).unwrap();
        let mut rng = StdRng::seed_from_u64(1);
        let picks: Vec<Pick> = (0..50_000).map(|_| t.pick(&mut rng)).collect();
        let share = |f: &dyn Fn(&Pick) -> bool| {
            picks.iter().filter(|p| f(p)).count() as f64 / picks.len() as f64
        };
        assert!((share(&|p| p.unknown.is_some()) - 0.1).abs() < 0.01);
        assert!((share(&|p| p.conditional) - 0.18).abs() < 0.01);
        assert!((share(&|p| p.enc == Enc::Br) - 0.6).abs() < 0.01);
        assert!((share(&|p| p.enc == Enc::None) - 0.1).abs() < 0.01);
        assert!(
            picks
                .iter()
                .all(|p| p.path.is_some() != p.unknown.is_some())
        );
    }

    #[test]
    fn encoding_mixes_parse_and_bad_ones_are_named() {
        assert_eq!(
            parse_encodings("br=60,gzip=30,none=10"),
            Ok([60.0, 30.0, 10.0])
        );
        assert_eq!(parse_encodings("gzip=1"), Ok([0.0, 1.0, 0.0]));
        assert!(parse_encodings("zstd=5").unwrap_err().contains("zstd"));
        assert!(parse_encodings("br").unwrap_err().contains("NAME=WEIGHT"));
        assert!(parse_encodings("br=0").unwrap_err().contains("above 0"));
        assert!(parse_encodings("br=x").unwrap_err().contains(">= 0"));
    }

    #[test]
    fn ranking_puts_home_and_live_matches_first() {
        let now = Utc::now();
        let data = |status: &str, hours: i64| serde_json::json!({ "status": status, "kickoff": (now + chrono::Duration::hours(hours)).to_rfc3339() });
        let mut paths = vec![SitePath {
            path: "/".into(),
            heat: 0.0,
        }];
        for (slug, status, hours) in [
            ("far", "scheduled", 48),
            ("live", "live", -1),
            ("soon", "scheduled", 2),
        ] {
            let (heat, _) = heat_of("match", &data(status, hours), now, 0);
            paths.push(SitePath {
                path: format!("/matches/{slug}"),
                heat,
            });
        }
        let (heat, _) = heat_of("team", &Value::Null, now, 0);
        paths.push(SitePath {
            path: "/teams/a".into(),
            heat,
        });
        let site = Site::from_paths(paths, Vec::new(), String::new());
        let order: Vec<_> = site.paths.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            order,
            [
                "/",
                "/matches/live",
                "/matches/soon",
                "/matches/far",
                "/teams/a"
            ]
        );
    }

    #[test]
    fn links_are_same_site_paths_only() {
        let html = r#"<a href="/matches/a?x=1">a</a><a href="https://x.org/">x</a>
            <a href="//cdn/x">c</a><a href="/teams/b#top">b</a><link href="/">"#;
        assert_eq!(links(html), ["/matches/a", "/teams/b", "/"]);
    }
}
