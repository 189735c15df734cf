//! Rendering: a published entry (or a listing) and the published state
//! around it become HTML through the type's template, then a stored `Page`
//! with brotli and gzip beside the identity bytes. Pure and synchronous: the
//! caller runs it on a blocking thread, never on a request thread, and never
//! inside a store transaction.

mod compress;
mod context;
mod keys;
pub mod markdown;
pub mod sitemap;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use chrono::{DateTime, Utc};
use minijinja::{Environment, context};

pub use compress::{BROTLI_QUALITY, PageSpec, brotli, build_page, etag_of, gzip};
pub use context::Snapshot;
pub use keys::MAX_KEYS_BYTES;

use keys::Keys;

use crate::content_types::{Archive, ContentType, ContentTypes, Listing, MAX_BUCKET};
use crate::metrics::Metrics;
use crate::model::{Entry, Link, Page, SiteSettings};

pub const HTML: &str = "text/html; charset=utf-8";
pub const JSON: &str = "application/json";
/// The shared not-found template, rendered once per node.
const NOT_FOUND_TEMPLATE: &str = "_site/404.html";
/// A site's own robots.txt template, when it has one (else the built-in).
const ROBOTS_TEMPLATE: &str = "_site/robots.txt";
/// Where the site is served when no base URL is configured (the default
/// listen address).
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8080";

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("template {template}: {message}")]
    Template { template: String, message: String },
    #[error("entry {0} has no published state")]
    NotPublished(crate::model::EntryId),
    #[error("unknown content type {0:?}")]
    UnknownType(String),
}

/// Renders pages from templates loaded once at start-up.
pub struct Renderer {
    types: Arc<ContentTypes>,
    /// Written only when the site's settings change (the time zone is a
    /// global the `datetime` filter reads, in macros too).
    env: RwLock<Environment<'static>>,
    /// The site as pages show it; replaced whole when an admin saves.
    site: RwLock<Arc<Site>>,
    metrics: Arc<Metrics>,
    /// Brotli quality of the stored pages.
    quality: u32,
    /// `--base-url`: the origin when the settings name none.
    flag_base_url: String,
}

/// The site's settings as rendering uses them, the base URL resolved.
#[derive(Debug, Clone)]
struct Site {
    name: String,
    description: String,
    /// The public origin, without a trailing `/`.
    base_url: String,
    time_zone: String,
}

impl Renderer {
    pub fn new(
        types: Arc<ContentTypes>,
        site_name: impl Into<String>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let env = types.environment();
        Renderer {
            types,
            env: RwLock::new(env),
            site: RwLock::new(Arc::new(Site {
                name: site_name.into(),
                description: String::new(),
                base_url: DEFAULT_BASE_URL.to_owned(),
                time_zone: "UTC".into(),
            })),
            metrics,
            quality: BROTLI_QUALITY,
            flag_base_url: DEFAULT_BASE_URL.to_owned(),
        }
    }

    /// The public origin (`https://news.example`) sitemaps and robots.txt
    /// name URLs under, unless the site's settings name another.
    pub fn with_base_url(mut self, base: &url::Url) -> Self {
        self.flag_base_url = base.as_str().trim_end_matches('/').to_owned();
        let mut site = (*self.current()).clone();
        site.base_url = self.flag_base_url.clone();
        self.site = RwLock::new(Arc::new(site));
        self
    }

    /// Renders with these settings from now on (name, description, base
    /// URL, time zone); pages already stored keep theirs until re-rendered.
    pub fn apply(&self, settings: &SiteSettings) {
        let base_url = if settings.base_url.is_empty() {
            self.flag_base_url.clone()
        } else {
            settings.base_url.trim_end_matches('/').to_owned()
        };
        let site = Site {
            name: settings.name.clone(),
            description: settings.description.clone(),
            base_url,
            time_zone: settings.time_zone.clone(),
        };
        self.env
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .add_global("time_zone", site.time_zone.clone());
        *self.site.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(site);
    }

    fn current(&self) -> Arc<Site> {
        self.site.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn base_url(&self) -> String {
        self.current().base_url.clone()
    }

    /// The zone the site shows times in.
    pub fn time_zone(&self) -> chrono_tz::Tz {
        self.current().time_zone.parse().unwrap_or(chrono_tz::UTC)
    }

    /// Compresses at `quality` instead of the default (a bulk import trades
    /// a few percent of size for many times the speed).
    pub fn with_brotli_quality(mut self, quality: u32) -> Self {
        self.quality = quality;
        self
    }

    pub fn types(&self) -> &Arc<ContentTypes> {
        &self.types
    }

    /// The public path of an entry's JSON delivery document.
    pub fn json_path(type_name: &str, slug: &str) -> String {
        format!("/api/v1/content/{type_name}/{slug}")
    }

    /// The HTML page and the JSON document of a published entry.
    pub fn entry_pages(
        &self,
        entry: &Entry,
        snapshot: &Snapshot,
        now: DateTime<Utc>,
    ) -> Result<[Page; 2], RenderError> {
        let html = self.entry_html_page(entry, snapshot, now)?;
        let (ty, slug) = self.published(entry)?;
        let json = context::json_document(&self.types, entry, snapshot);
        let path = Self::json_path(&ty.name, slug);
        let keys = self.entry_keys(ty, entry, &path).finish();
        let spec = self.entry_spec(ty, entry, path, keys, JSON, now);
        Ok([html, build_page(spec, json, self.quality)])
    }

    /// The HTML page of a published entry alone (its related lists changed,
    /// which its JSON document does not show).
    pub fn entry_html_page(
        &self,
        entry: &Entry,
        snapshot: &Snapshot,
        now: DateTime<Utc>,
    ) -> Result<Page, RenderError> {
        let (ty, slug) = self.published(entry)?;
        let related = self.related(ty, entry, snapshot);
        let html = self.timed(|| self.entry_html_with(ty, entry, &related, snapshot, now))?;
        let path = ty.path_for(slug);
        let mut keys = self.entry_keys(ty, entry, &path);
        for (_, items) in &related {
            keys.show_all(items.iter().copied());
        }
        let spec = self.entry_spec(ty, entry, path, keys.finish(), HTML, now);
        Ok(build_page(spec, html.into_bytes(), self.quality))
    }

    fn published<'a>(
        &'a self,
        entry: &'a Entry,
    ) -> Result<(&'a ContentType, &'a str), RenderError> {
        let ty = self.type_of(entry)?;
        let slug = entry
            .published_slug
            .as_deref()
            .ok_or(RenderError::NotPublished(entry.id))?;
        Ok((ty, slug))
    }

    fn entry_spec(
        &self,
        ty: &ContentType,
        entry: &Entry,
        path: String,
        surrogate_keys: Vec<String>,
        content_type: &'static str,
        now: DateTime<Utc>,
    ) -> PageSpec {
        PageSpec {
            path,
            entry_id: Some(entry.id),
            status: 200,
            content_type,
            surrogate_keys,
            cache_policy: ty.cache_for(entry.published_data.as_ref()),
            last_modified: now,
        }
    }

    /// The HTML of an entry's page; `entry` must carry published state (a
    /// preview passes a draft dressed as published).
    pub fn entry_html(
        &self,
        ty: &ContentType,
        entry: &Entry,
        snapshot: &Snapshot,
        now: DateTime<Utc>,
    ) -> Result<String, RenderError> {
        let related = self.related(ty, entry, snapshot);
        self.entry_html_with(ty, entry, &related, snapshot, now)
    }

    /// The entries of each of the type's related lists on the entry's page.
    fn related<'s>(
        &self,
        ty: &'s ContentType,
        entry: &Entry,
        snapshot: &'s Snapshot,
    ) -> Vec<(&'s str, Vec<&'s Entry>)> {
        ty.related
            .iter()
            .map(|(name, related)| {
                let items = related.select(snapshot.of_type(&related.query.type_name), entry.id);
                (name.as_str(), items)
            })
            .collect()
    }

    /// Named lists of entries as templates see them (`lists.<name>`).
    fn item_lists<'n>(
        &self,
        lists: &[(&'n str, Vec<&Entry>)],
        snapshot: &Snapshot,
    ) -> HashMap<&'n str, Vec<minijinja::Value>> {
        lists
            .iter()
            .map(|(name, items)| {
                let items = items
                    .iter()
                    .map(|e| context::item(&self.types, e, snapshot))
                    .collect();
                (*name, items)
            })
            .collect()
    }

    fn entry_html_with(
        &self,
        ty: &ContentType,
        entry: &Entry,
        related: &[(&str, Vec<&Entry>)],
        snapshot: &Snapshot,
        now: DateTime<Utc>,
    ) -> Result<String, RenderError> {
        let lists = self.item_lists(related, snapshot);
        let path = entry
            .published_slug
            .as_deref()
            .map(|slug| ty.path_for(slug));
        let ctx = context! {
            entry => context::item(&self.types, entry, snapshot),
            lists => lists,
            site => self.site(now, path.as_deref()),
        };
        self.render_template(&ty.template, ctx)
    }

    /// A listing's first page; `archive` links to its newest archive page,
    /// `groups` are its groups (key, label) when it has any.
    pub fn listing_page(
        &self,
        listing: &Listing,
        snapshot: &Snapshot,
        archive: &ArchiveNav,
        groups: &[(String, String)],
        now: DateTime<Utc>,
    ) -> Result<Page, RenderError> {
        let selected: Vec<(&str, Vec<&Entry>)> = listing
            .queries
            .iter()
            .map(|(name, query)| {
                (
                    name.as_str(),
                    query.select(snapshot.of_type(&query.type_name)),
                )
            })
            .collect();
        let html = self.timed(|| {
            let lists = self.item_lists(&selected, snapshot);
            let archive = listing.archive.as_ref().map(|a| {
                context! { latest => archive.earlier.as_deref().map(|b| bucket_link(listing, a, b)) }
            });
            let groups = listing.groups.as_ref().map(|_| {
                groups
                    .iter()
                    .map(|(key, label)| group_link(listing, key, label))
                    .collect::<Vec<_>>()
            });
            let ctx = context! {
                listing => context! { path => listing.path.clone(), title => listing.title.clone() },
                lists => lists,
                archive => archive,
                groups => groups,
                site => self.site(now, Some(&listing.path)),
            };
            self.render_template(&listing.template, ctx)
        })?;
        let shown = selected.iter().flat_map(|(_, items)| items.iter().copied());
        Ok(self.listing_spec(listing, listing.path.clone(), shown, now, html))
    }

    /// One group's page (`/competitions/premier-cup`): the group's entries
    /// as `lists.group`, in the listing's order and limit, with `group` (`{
    /// key, label, url }`). `None` when the group is empty (its page is
    /// removed).
    pub fn group_page(
        &self,
        listing: &Listing,
        key: &str,
        snapshot: &Snapshot,
        now: DateTime<Utc>,
    ) -> Result<Option<Page>, RenderError> {
        let Some(groups) = &listing.groups else {
            return Ok(None);
        };
        let mut label = None;
        let members = snapshot.of_type(&groups.query.type_name).filter(|e| {
            groups.of(e).into_iter().any(|(k, l)| {
                let hit = k == key;
                if hit && label.is_none() {
                    label = Some(l);
                }
                hit
            })
        });
        let entries = groups.query.select(members);
        let Some(label) = label.filter(|_| !entries.is_empty()) else {
            return Ok(None);
        };
        let html = self.timed(|| {
            let items: Vec<_> = entries
                .iter()
                .map(|e| context::item(&self.types, e, snapshot))
                .collect();
            let ctx = context! {
                listing => context! { path => listing.path.clone(), title => listing.title.clone() },
                lists => context! { group => items },
                group => group_link(listing, key, &label),
                site => self.site(now, Some(&listing.group_path(key))),
            };
            self.render_template(&listing.template, ctx)
        })?;
        Ok(Some(self.listing_spec(
            listing,
            listing.group_path(key),
            entries.iter().copied(),
            now,
            html,
        )))
    }

    /// An archive bucket's pages (`/matches/2026/12`, then
    /// `/matches/2026/12/page/2` past `MAX_BUCKET` entries): the bucket's
    /// entries as `lists.archive`, with links to the neighbouring buckets
    /// and to the bucket's other pages. Empty when the bucket is (its page
    /// is removed).
    pub fn archive_pages(
        &self,
        listing: &Listing,
        bucket: &str,
        nav: &ArchiveNav,
        snapshot: &Snapshot,
        now: DateTime<Utc>,
    ) -> Result<Vec<Page>, RenderError> {
        let Some(archive) = &listing.archive else {
            return Ok(Vec::new());
        };
        // The bucket first, then the order: a snapshot holds other buckets.
        let members = snapshot
            .of_type(&archive.query.type_name)
            .filter(|e| archive.bucket(e).as_deref() == Some(bucket));
        let entries = archive.query.ordered(members);
        let parts: Vec<&[&Entry]> = entries.chunks(MAX_BUCKET as usize).collect();
        let links: Vec<minijinja::Value> = match parts.len() {
            0 | 1 => Vec::new(),
            n => (1..=n)
                .map(|n| context! { n => n, url => listing.bucket_page_path(bucket, n) })
                .collect(),
        };
        let mut pages = Vec::with_capacity(parts.len());
        for (i, part) in parts.into_iter().enumerate() {
            let html = self.timed(|| {
                let items: Vec<_> = part
                    .iter()
                    .map(|e| context::item(&self.types, e, snapshot))
                    .collect();
                let ctx = context! {
                    listing => context! { path => listing.path.clone(), title => listing.title.clone() },
                    lists => context! { archive => items },
                    archive => context! {
                        bucket => bucket_link(listing, archive, bucket),
                        earlier => nav.earlier.as_deref().map(|b| bucket_link(listing, archive, b)),
                        later => nav.later.as_deref().map(|b| bucket_link(listing, archive, b)),
                        page => i + 1,
                        pages => links.clone(),
                    },
                    site => self.site(now, Some(&listing.bucket_page_path(bucket, i + 1))),
                };
                self.render_template(&listing.template, ctx)
            })?;
            let path = listing.bucket_page_path(bucket, i + 1);
            pages.push(self.listing_spec(listing, path, part.iter().copied(), now, html));
        }
        Ok(pages)
    }

    /// A listing's page at `path` showing `shown`.
    fn listing_spec<'e>(
        &self,
        listing: &Listing,
        path: String,
        shown: impl IntoIterator<Item = &'e Entry>,
        now: DateTime<Utc>,
        html: String,
    ) -> Page {
        let mut keys = Keys::new(&path);
        keys.push(format!("listing:{}", listing.name));
        let queries = listing
            .queries
            .values()
            .chain(listing.archive.iter().map(|a| &a.query))
            .chain(listing.groups.iter().map(|g| &g.query));
        for q in queries {
            keys.push(q.type_name.clone());
        }
        keys.show_all(shown);
        build_page(
            PageSpec {
                path,
                entry_id: None,
                status: 200,
                content_type: HTML,
                surrogate_keys: keys.finish(),
                cache_policy: listing.cache,
                last_modified: now,
            },
            html.into_bytes(),
            self.quality,
        )
    }

    /// The not-found page (status 404), from `_site/404.html` when the site
    /// has one.
    pub fn not_found_page(&self, now: DateTime<Utc>) -> Result<Page, RenderError> {
        let html = if self.types.has_template(NOT_FOUND_TEMPLATE) {
            self.render_template(
                NOT_FOUND_TEMPLATE,
                context! { site => self.site(now, None) },
            )?
        } else {
            "<!doctype html><title>Not found</title><h1>Not found</h1>".to_owned()
        };
        Ok(build_page(
            PageSpec {
                path: "/404".into(),
                entry_id: None,
                status: 404,
                content_type: HTML,
                surrogate_keys: vec!["404".into()],
                cache_policy: crate::model::CachePolicy {
                    browser_max_age: 60,
                    edge_max_age: 60,
                    stale_while_revalidate: 60,
                    stale_if_error: 3600,
                    immutable: false,
                },
                last_modified: now,
            },
            html.into_bytes(),
            self.quality,
        ))
    }

    /// A day's sitemap files (`links` oldest first), in part order; empty
    /// when the day has none.
    pub fn sitemap_pages(&self, day: &str, links: &[Link], now: DateTime<Utc>) -> Vec<Page> {
        let base_url = self.base_url();
        let bodies = self.timed(|| sitemap::day_files(&self.types, &base_url, links));
        bodies
            .into_iter()
            .enumerate()
            .map(|(i, xml)| self.site_file(sitemap::file_path(day, i + 1), sitemap::XML, xml, now))
            .collect()
    }

    /// The sitemap index of these files (path, last modified).
    pub fn sitemap_index_page(
        &self,
        files: &[(String, DateTime<Utc>)],
        now: DateTime<Utc>,
    ) -> Page {
        let base_url = self.base_url();
        let xml = self.timed(|| sitemap::index(&base_url, files));
        self.site_file(sitemap::INDEX_PATH.into(), sitemap::XML, xml, now)
    }

    /// `/robots.txt`, from `_site/robots.txt` when the site has one (its
    /// context: `site`, with `site.base_url` and `site.sitemap`).
    pub fn robots_page(&self, now: DateTime<Utc>) -> Result<Page, RenderError> {
        let text = if self.types.has_template(ROBOTS_TEMPLATE) {
            let current = self.current();
            let site = context! {
                name => current.name.clone(),
                base_url => current.base_url.clone(),
                sitemap => format!("{}{}", current.base_url, sitemap::INDEX_PATH),
            };
            self.render_template(ROBOTS_TEMPLATE, context! { site => site })?
        } else {
            sitemap::default_robots(&self.base_url())
        };
        Ok(self.site_file(sitemap::ROBOTS_PATH.into(), sitemap::TEXT, text, now))
    }

    fn site_file(
        &self,
        path: String,
        content_type: &'static str,
        body: String,
        now: DateTime<Utc>,
    ) -> Page {
        let mut keys = Keys::new(&path);
        keys.push(if content_type == sitemap::TEXT {
            "robots"
        } else {
            "sitemap"
        });
        build_page(
            PageSpec {
                path,
                entry_id: None,
                status: 200,
                content_type,
                surrogate_keys: keys.finish(),
                cache_policy: sitemap::CACHE,
                last_modified: now,
            },
            body.into_bytes(),
            self.quality,
        )
    }

    /// Keys a CDN can purge the entry's page at `path` by: the path, the
    /// entry, its type, the entries it references, and the type's key
    /// fields' values.
    fn entry_keys(&self, ty: &ContentType, entry: &Entry, path: &str) -> Keys {
        let mut keys = Keys::new(path);
        keys.push(entry.id.to_string());
        keys.push(ty.name.clone());
        if let Some(data) = entry.published_data.as_ref() {
            for r in ty.references(data) {
                keys.push(r.id.to_string());
            }
            for field in &ty.surrogate_key_fields {
                if let Some(value) = data.get(field).and_then(|v| v.as_str()) {
                    keys.push(format!("{field}:{}", key_token(value)));
                }
            }
        }
        keys
    }

    fn type_of(&self, entry: &Entry) -> Result<&ContentType, RenderError> {
        self.types
            .get(&entry.type_name)
            .ok_or_else(|| RenderError::UnknownType(entry.type_name.clone()))
    }

    /// `site` in templates: name, description, base URL, time zone, the
    /// render time, and the page's canonical URL when it has a path.
    fn site(&self, now: DateTime<Utc>, path: Option<&str>) -> minijinja::Value {
        let site = self.current();
        context! {
            name => site.name.clone(),
            description => site.description.clone(),
            base_url => site.base_url.clone(),
            time_zone => site.time_zone.clone(),
            url => path.map(|p| format!("{}{p}", site.base_url)),
            now => now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }

    fn render_template(&self, name: &str, ctx: minijinja::Value) -> Result<String, RenderError> {
        let err = |e: minijinja::Error| RenderError::Template {
            template: name.to_owned(),
            message: format!("{e:#}"),
        };
        self.env
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get_template(name)
            .map_err(err)?
            .render(ctx)
            .map_err(err)
    }

    fn timed<T>(&self, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = f();
        self.metrics.renders.inc();
        self.metrics
            .render_duration
            .observe(start.elapsed().as_secs_f64());
        out
    }
}

/// The buckets beside an archive page (or, for a listing's first page,
/// `earlier` is its newest bucket).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveNav {
    pub earlier: Option<String>,
    pub later: Option<String>,
}

/// `{ bucket, label, url }` of an archive page, for templates.
fn bucket_link(listing: &Listing, archive: &Archive, bucket: &str) -> minijinja::Value {
    context! {
        bucket => bucket,
        label => archive.label(bucket),
        url => listing.bucket_path(bucket),
    }
}

/// `{ key, label, url }` of a group's page, for templates.
fn group_link(listing: &Listing, key: &str, label: &str) -> minijinja::Value {
    context! {
        key => key,
        label => label,
        url => listing.group_path(key),
    }
}

/// A surrogate key token: keys are space- and comma-separated on the wire,
/// so values become lowercase words joined by `-`.
fn key_token(value: &str) -> String {
    crate::content_types::value_token(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_tokens_are_wire_safe() {
        assert_eq!(key_token("Premier Cup"), "premier-cup");
        assert_eq!(key_token("  A, B "), "a-b");
    }
}
