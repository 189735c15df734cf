//! Content types: the schema files under `--content-types DIR` turned into
//! checked `ContentType`s and `Listing`s, entry validation, listing and
//! related queries, and the template environment pages render with. Loaded
//! once at start-up (keel refuses to start on any problem); never reads the
//! store, never renders a page itself.
//!
//! # Directory layout
//!
//! ```text
//! content-types/
//!   match/type.toml  match/page.html     one folder per type (the folder name is the type name)
//!   home/listing.toml home/page.html     one folder per listing page
//!   _site/base.html  _site/404.html      `_`-prefixed folders: shared templates only
//! ```
//!
//! Type, listing, field and query names are `[a-z][a-z0-9_]*` (at most 64
//! characters). Entries starting with `.` are ignored everywhere (editor
//! files, the `..data` links of Kubernetes volume mounts), as are files at
//! the top level (a README). Every other file in a folder, subfolders
//! included, is a template named `<folder>/<path>` (`match/page.html`,
//! `_site/base.html`). Any other `.toml` file directly in a type or listing
//! folder is an error (a misspelt schema file would otherwise pass as a
//! template), as is a folder with neither or both schema files. An empty or
//! missing directory is an error.
//!
//! # `type.toml`
//!
//! ```toml
//! label = "Match"                  # optional, default: the name, capitalised
//! route = "/matches/{slug}"        # required
//! template = "page.html"           # optional, relative to the folder
//! title_field = "name"             # optional: a string or slug field
//! surrogate_keys = ["competition"] # optional: string/slug/enum fields whose
//!                                  # values tag the pages for CDN purges
//!
//! [cache]                          # optional; a key left out keeps CachePolicy::default()
//! browser_max_age = "10s"          # seconds (integer) or humantime ("30s", "5m", "1d")
//! edge_max_age = "30s"
//! stale_while_revalidate = "30s"
//! stale_if_error = "1d"
//!
//! [cache.live]                     # optional: the policy while an entry is live
//! field = "status"                 # an enum field of this type
//! values = ["live"]                # values that make the entry live
//! stale_if_error = "1m"            # any [cache] key; the others as in [cache]
//!
//! [prewarm]                        # optional; all three keys required
//! field = "kickoff"                # a datetime field of this type
//! before = "30m"
//! after = "3h"
//!
//! [console]                        # optional: the app's live console for this type
//! scores = ["home_score", "away_score"]  # integer fields with +1/-1 buttons
//! status = "status"                # an enum field, one button per value
//! commentary = "commentary"        # a list of string/text: lines appended
//!
//! [fields.home_team]               # declared order is kept
//! kind = "reference"
//! to = "team"
//! required = true
//! label = "Home team"              # optional, default: the name humanised
//! help = "The side playing at home"
//!
//! [related.matches]                # optional: `lists.matches` on this type's pages
//! type = "match"
//! references = ["home_team", "away_team"]
//! filter = { status = "finished" } # optional, as in listing queries
//! order = "kickoff"
//! limit = 50
//! ```
//!
//! **Routes** start with `/`, contain `{slug}` exactly once as a whole path
//! segment, and otherwise only `[a-z0-9._~-]` segments (no empty, `.` or
//! `..` segments, no trailing `/`). No two routes may match the same path,
//! and no route may reach a path keel serves itself ([`RESERVED_PATHS`]).
//!
//! **Durations** are whole seconds: an integer, or a humantime string that
//! comes to whole seconds.
//!
//! **Field kinds** and the keys they take (besides `kind`, `label`, `help`,
//! `required` (default false) and `default`):
//!
//! | kind | value | keys |
//! |---|---|---|
//! | `string` | one line of text | `max_length`, `unique` |
//! | `text` | text, newlines allowed | `max_length` |
//! | `markdown` | Markdown source | `max_length` |
//! | `slug` | a slug (see [`validate_slug`]) | `max_length`, `unique` |
//! | `integer` | integral, fits i64 | `min`, `max`, `unique` |
//! | `number` | finite | `min`, `max` |
//! | `boolean` | true/false | |
//! | `datetime` | RFC 3339, stored as UTC | |
//! | `enum` | one of `values` | `values` (non-empty, distinct) |
//! | `reference` | an entry's UUID | `to` (a type) |
//! | `image` | `{"media": "<uuid>", "alt": "…", "caption": "…", "credit": "…"}` | |
//! | `list` | an array | `of` (any kind but list and markdown), `min`/`max` item counts; `max_length`, `values`, `to` apply to the items |
//!
//! An image names an uploaded image by id (a publish refuses one that does
//! not exist) and carries this use's words: `alt` is required (at most
//! [`MAX_ALT_LEN`] characters, not blank), `caption` and `credit` are
//! optional; other keys are refused. A list of images is a gallery.
//! Images cannot be filtered or ordered on.
//!
//! `max_length` counts characters. A key that does not apply to the kind is
//! an error, as is any unknown key. `default` must itself be valid for the
//! field (a TOML datetime or an RFC 3339 string for datetimes). `unique` is
//! enforced by the API. Field names `id`, `type`, `slug`, `published_at`,
//! `created_at` and `updated_at` are reserved for entry metadata.
//!
//! # `listing.toml`
//!
//! ```toml
//! path = "/"                       # fixed, unique, matched by no type route
//! title = "Home"                   # optional, default: the name, capitalised
//! template = "page.html"           # optional
//! [cache]                          # as for types
//!
//! [queries.live]                   # `lists.live` in the template
//! type = "match"
//! filter = { status = ["live", "scheduled"] }
//! order = "kickoff"
//! limit = 20
//! ```
//!
//! **Queries** run on published entries only. `filter` maps a field to a
//! value or a list of values: the entry matches when its value is one of them
//! (for a list field, when any item is); every filter must match. Filters may
//! name data fields (not text or markdown) or the metadata fields `slug`,
//! `published_at`, `created_at` and `updated_at`; values are checked like
//! field values. `order` names an orderable field (not markdown, reference or
//! list) or a metadata field, `-field` for descending; entries without a
//! value come last, ties go by creation order; default `-published_at`. Enum
//! fields order by their position in `values`. `limit` is 1 to
//! [`MAX_LIMIT`], default [`DEFAULT_LIMIT`].
//!
//! **Archive** (optional, one per listing): every published entry of a type
//! that matches `filter` gets a page per period of a datetime field, so
//! every entry has a listing page and a publish re-renders a bounded few:
//!
//! ```toml
//! [archive]
//! type = "article"
//! filter = { tags = "news" }       # optional, as in queries
//! order = "-published_at"          # a datetime field or metadata, `-` for descending
//! by = "day"                       # "day" (/news/2026/12/05) or "month" (/matches/2026/12)
//! ```
//!
//! The period is taken from the `order` field, in UTC. A page lists at most
//! [`MAX_BUCKET`] entries; a period holding more continues on numbered
//! pages (`/matches/2026/12/page/2`, up to [`MAX_BUCKET_PAGES`]), all
//! rendered by a publish into it: choose `day` for a list that can have
//! more than a few thousand in a month. Pages link their neighbours (`<link rel="prev/next">`), the
//! listing's first page links the newest, and a period left empty loses its
//! page.
//!
//! **Groups** (optional, instead of an archive): a page per value of a
//! field, each listing the entries with that value (for a list field, each
//! item is a group):
//!
//! ```toml
//! [groups]
//! type = "match"
//! field = "competition"            # string, slug or enum (or a list of them)
//! filter = { status = "finished" } # optional, as in queries
//! order = "-kickoff"
//! limit = 100
//! ```
//!
//! A group's page is `{path}/{key}`, the key being the value as lowercase
//! letters, digits and `-` (`Premier Cup` is `/competitions/premier-cup`);
//! the listing's first page lists the groups. A publish re-renders the
//! pages of the groups its entry leaves and enters; an emptied group loses
//! its page.
//!
//! # Render context (the contract with the renderer)
//!
//! An *item* is `{ id, type, slug, url, published_at, updated_at, data }`
//! built from an entry's published state. In `data`, markdown fields are
//! already rendered to sanitised HTML (safe strings), and reference fields
//! (and list-of-reference items) are expanded one level to the referenced
//! entry's `{ id, type, slug, url, data }`; a reference to an entry that is
//! not published is left out. Absent optional fields are absent.
//!
//! - Entry pages (`<type>/<template>`): `entry` (an item), `lists` (`{ <related
//!   name>: [items] }`), `site` (`{ name, now }`, `now` as RFC 3339).
//! - Listing pages: `listing` (`{ path, title }`), `lists` (`{ <query name>:
//!   [items] }`), `archive` (`{ latest }`, the newest archive page as
//!   `{ bucket, label, url }`, when the listing has an archive), `site`.
//! - A listing with groups also gets `groups` on its first page (`[{ key,
//!   label, url }]`, by label); a group's page (the listing's template)
//!   gets `listing`, `lists` (`{ group: [items] }`), `group` (`{ key,
//!   label, url }`), `site`.
//! - Archive pages (the listing's template): `listing`, `lists` (`{ archive:
//!   [items] }`), `archive` (`{ bucket, earlier, later, page, pages }`,
//!   `page` the page's number in its period and `pages` `[{ n, url }]`
//!   when the period spans more than one; the others each `{ bucket,
//!   label, url }`), `site`.
//! - `_site/404.html`: `site`.
//! - `_site/robots.txt` (optional; keel writes a default): `site` with
//!   `base_url` and `sitemap` (the index URL).
//!
//! Templates compile with undefined values chaining to nothing (so absent
//! optional fields render empty), auto-escaping for `.html`/`.htm`/`.xml`
//! names, a `token` filter (a value as a group's key: `Premier Cup` is
//! `premier-cup`), and a `datetime` filter (`{{ t | datetime }}`, or with a chrono
//! format string `{{ t | datetime("%H:%M") }}`, always in UTC).
//!
//! Images: in `data`, an image field whose media exists is the item `{
//! media, alt, caption, credit, width, height, variants }` (`variants`
//! narrowest first, each `{ url, width, height, format }`; `width` and
//! `height` the largest variant's; the words are the entry's, not the
//! library's); one whose media is gone is left out, as are such items of a
//! gallery. Referenced entries' images are expanded the same way. Functions:
//! `picture(image, sizes="100vw", loading="lazy")` writes a `<picture>`
//! (WebP source, JPEG or PNG `<img>` with `srcset`, width, height, alt;
//! `loading="eager"` adds `fetchpriority="high"`), `image_variant(image,
//! width=1200)` is the fallback file nearest the width as `{ url, path,
//! width, height, format }` with an absolute `url`, and `image_url(image,
//! width=1200)` its `url`. Each renders nothing for a value that is no
//! image.

mod check;
mod field;
mod files;
mod image;
mod load;
mod model;
mod picture;
mod query;
mod resolve;
mod route;
mod schema;
mod shown;
mod templates;
mod validate;

#[cfg(test)]
mod demo_tests;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use minijinja::Environment;

pub use field::FIELD_KINDS;
pub use files::{LISTING_FILE, TYPE_FILE};
pub use image::{ImageUse, MAX_ALT_LEN, MAX_CAPTION_LEN, MAX_CREDIT_LEN, is_image, media_of};
pub use load::{CheckError, CheckErrors};
pub use model::{
    Archive, Bucketing, Console, ContentType, Field, FieldKind, Groups, Listing, MAX_BUCKET,
    MAX_BUCKET_PAGES, PrewarmRule, Reference, ReferenceField, value_token,
};
pub use query::{
    Condition, DEFAULT_LIMIT, FieldRef, MAX_LIMIT, MetaField, Order, Query, RelatedQuery,
};
pub use route::{RESERVED_PATHS, Route};
pub use shown::{
    SITEMAP_LIST, archive_list, group_list, listing_list, prewarm_day, prewarm_list, related_list,
    sitemap_day,
};
pub use templates::DEFAULT_DATETIME_FORMAT;
pub use validate::{FieldError, MAX_SLUG_LEN, validate_slug};

use crate::model::ContentTypeRecord;
use crate::model::{Entry, EntryId};

// One `ContentTypes` is shared by every worker thread behind an `Arc`.
const _: () = {
    const fn shared<T: Send + Sync + 'static>() {}
    shared::<ContentTypes>();
};

/// Every content type and listing of a directory, checked together, with
/// the compiled templates. Immutable: share it behind an `Arc`.
#[derive(Debug)]
pub struct ContentTypes {
    /// By name, so `types()` iterates in name order.
    types: BTreeMap<String, ContentType>,
    /// By folder name.
    listings: Vec<Listing>,
    records: Vec<ContentTypeRecord>,
    /// Compiled once at load; `environment()` hands out clones, which share
    /// nothing mutable.
    env: Environment<'static>,
    template_names: BTreeSet<String>,
}

impl ContentTypes {
    /// Reads and checks the directory. On failure returns every problem.
    pub fn load(dir: &Path) -> Result<ContentTypes, CheckErrors> {
        let loaded = load::load(dir)?;
        Ok(ContentTypes {
            types: loaded.types,
            listings: loaded.listings,
            records: loaded.records,
            env: loaded.env,
            template_names: loaded.template_names,
        })
    }

    pub fn get(&self, name: &str) -> Option<&ContentType> {
        self.types.get(name)
    }

    /// Every type, in name order.
    pub fn types(&self) -> impl Iterator<Item = &ContentType> {
        self.types.values()
    }

    /// Every listing, in folder-name order.
    pub fn listings(&self) -> impl Iterator<Item = &Listing> {
        self.listings.iter()
    }

    /// The listing served at exactly this path.
    pub fn listing_at(&self, path: &str) -> Option<&Listing> {
        self.listings.iter().find(|l| l.path == path)
    }

    /// The type whose route matches the path, with the slug it names. Routes
    /// never overlap, so at most one type matches.
    pub fn match_path<'p>(&self, path: &'p str) -> Option<(&ContentType, &'p str)> {
        self.types
            .values()
            .find_map(|ty| ty.route.match_path(path).map(|slug| (ty, slug)))
    }

    /// The types as recorded in the store: schema JSON and a hex SHA-256 of
    /// the type's folder plus the shared (`_`) folders, so a template change
    /// shows up as a new hash.
    pub fn records(&self) -> Vec<ContentTypeRecord> {
        self.records.clone()
    }

    /// The template environment: every template under `<folder>/<file>`,
    /// auto-escaping HTML, the `datetime` filter. Call once and keep it.
    pub fn environment(&self) -> Environment<'static> {
        self.env.clone()
    }

    /// True when a template of that name was loaded (e.g. `_site/404.html`).
    pub fn has_template(&self, name: &str) -> bool {
        self.template_names.contains(name)
    }

    /// Listings whose queries include the entry's published state. To find
    /// every listing a change touches, ask for the entry before and after.
    pub fn listings_showing<'a>(&'a self, entry: &'a Entry) -> impl Iterator<Item = &'a Listing> {
        self.listings.iter().filter(move |l| l.shows(entry))
    }

    /// Entries whose pages list this entry through a related query, with
    /// their type (e.g. both teams of a match). Ask before and after a change.
    pub fn related_owners(&self, entry: &Entry) -> Vec<(&ContentType, EntryId)> {
        let mut owners = Vec::new();
        for ty in self.types.values() {
            for related in ty.related.values() {
                for id in related.owners(entry) {
                    if !owners
                        .iter()
                        .any(|(t, o): &(&ContentType, EntryId)| t.name == ty.name && *o == id)
                    {
                        owners.push((ty, id));
                    }
                }
            }
        }
        owners
    }
}
