//! Turns a parsed `type.toml` into a checked draft: route, fields, cache
//! policy, pre-warm rule, title field and template name. Problems are
//! collected, never returned early, so one `keel check` shows them all.
//! Queries wait for `resolve`, once every type is drafted.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use super::field::{build_field, humanize};
use super::load::CheckError;
use super::model::{Console, ContentType, Field, FieldKind, LiveCache, PrewarmRule};
use super::query::RelatedQuery;
use super::route::Route;
use super::schema::{
    RawCache, RawConsole, RawField, RawLiveCache, RawType, parse_duration, parse_seconds,
};
use crate::model::CachePolicy;

/// Every problem found so far.
#[derive(Debug, Default)]
pub(super) struct Problems(pub Vec<CheckError>);

impl Problems {
    pub fn push(&mut self, file: &Path, field: Option<&str>, reason: impl Into<String>) {
        self.0.push(CheckError {
            file: file.to_path_buf(),
            field: field.map(str::to_owned),
            reason: reason.into(),
        });
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// A type with its fields checked; queries are resolved once all exist.
#[derive(Debug)]
pub(super) struct TypeDraft {
    pub name: String,
    pub file: PathBuf,
    pub label: String,
    pub route: Option<Route>,
    pub template: String,
    pub title_field: Option<String>,
    pub surrogate_key_fields: Vec<String>,
    pub fields: IndexMap<String, Field>,
    /// Fields that failed their own checks: queries naming them stay quiet.
    pub broken: BTreeSet<String>,
    pub cache: CachePolicy,
    pub live_cache: Option<LiveCache>,
    pub prewarm: Option<PrewarmRule>,
    pub console: Option<Console>,
    pub raw_related: IndexMap<String, toml::Value>,
}

impl TypeDraft {
    /// `None` when the route failed (already reported).
    pub fn finish(self, related: IndexMap<String, RelatedQuery>) -> Option<ContentType> {
        Some(ContentType {
            name: self.name,
            label: self.label,
            route: self.route?,
            template: self.template,
            title_field: self.title_field,
            surrogate_key_fields: self.surrogate_key_fields,
            fields: self.fields,
            cache: self.cache,
            live_cache: self.live_cache,
            prewarm: self.prewarm,
            console: self.console,
            related,
        })
    }
}

pub(super) fn build_type(
    name: &str,
    file: &Path,
    raw: RawType,
    declared: &BTreeSet<String>,
    p: &mut Problems,
) -> TypeDraft {
    let route = Route::parse(&raw.route)
        .map_err(|e| p.push(file, None, format!("route: {e}")))
        .ok();
    if let Some(clash) = route.as_ref().and_then(Route::reserved_clash) {
        p.push(
            file,
            None,
            format!(
                "route: {:?} could match {clash}, which keel serves itself",
                raw.route
            ),
        );
    }
    let mut fields = IndexMap::new();
    let mut broken = BTreeSet::new();
    for (field_name, value) in raw.fields {
        let built = value
            .try_into::<RawField>()
            .map_err(|e| vec![e.message().trim().to_owned()])
            .and_then(|raw_field| build_field(&field_name, raw_field, declared));
        match built {
            Ok(field) => {
                fields.insert(field_name, field);
            }
            Err(reasons) => {
                for reason in reasons {
                    p.push(file, Some(&field_name), reason);
                }
                broken.insert(field_name);
            }
        }
    }
    let title_field = raw
        .title_field
        .inspect(|t| match fields.get(t).map(|f| &f.kind) {
            Some(FieldKind::String { .. } | FieldKind::Slug { .. }) => {}
            Some(kind) => p.push(
                file,
                None,
                format!(
                    "title_field: {t:?} is of kind {}; it must be a string or slug",
                    kind.keyword()
                ),
            ),
            None if broken.contains(t) => {}
            None => p.push(file, None, format!("title_field: no field named {t:?}")),
        });
    let surrogate_key_fields: Vec<String> = raw
        .surrogate_keys
        .into_iter()
        .filter(|k| match fields.get(k).map(|f| &f.kind) {
            Some(FieldKind::String { .. } | FieldKind::Slug { .. } | FieldKind::Enum { .. }) => {
                true
            }
            Some(kind) => {
                p.push(
                    file,
                    None,
                    format!(
                        "surrogate_keys: {k:?} is of kind {}; it must be a string, slug or enum",
                        kind.keyword()
                    ),
                );
                false
            }
            None if broken.contains(k) => false,
            None => {
                p.push(file, None, format!("surrogate_keys: no field named {k:?}"));
                false
            }
        })
        .collect();
    let prewarm = raw.prewarm.and_then(|raw| {
        let field_ok = match fields.get(&raw.field).map(|f| &f.kind) {
            Some(FieldKind::Datetime) => true,
            Some(kind) => {
                p.push(
                    file,
                    None,
                    format!(
                        "prewarm.field: {:?} is of kind {}; it must be a datetime",
                        raw.field,
                        kind.keyword()
                    ),
                );
                false
            }
            None if broken.contains(&raw.field) => false,
            None => {
                p.push(
                    file,
                    None,
                    format!("prewarm.field: no field named {:?}", raw.field),
                );
                false
            }
        };
        let before = parse_duration(&raw.before)
            .map_err(|e| p.push(file, None, format!("prewarm.before: {e}")));
        let after = parse_duration(&raw.after)
            .map_err(|e| p.push(file, None, format!("prewarm.after: {e}")));
        let (before, after) = (before.ok()?, after.ok()?);
        if before.is_zero() && after.is_zero() {
            p.push(
                file,
                None,
                "prewarm: the window is empty (before and after are both 0)",
            );
            return None;
        }
        field_ok.then_some(PrewarmRule {
            field: raw.field,
            before,
            after,
        })
    });
    let mut raw_cache = raw.cache.unwrap_or_default();
    let raw_live = raw_cache.live.take();
    let cache = cache_policy(raw_cache, file, p);
    let live_cache = raw_live.and_then(|raw| live_cache(raw, cache, &fields, &broken, file, p));
    let console = raw
        .console
        .and_then(|raw| console(raw, &fields, &broken, file, p));
    TypeDraft {
        name: name.to_owned(),
        file: file.to_path_buf(),
        label: raw.label.unwrap_or_else(|| humanize(name)),
        route,
        template: template_name(name, raw.template.as_deref(), file, p),
        title_field,
        surrogate_key_fields,
        fields,
        broken,
        cache,
        live_cache,
        prewarm,
        console,
        raw_related: raw.related,
    }
}

/// Checks `[console]`: scores are integer fields, the status an enum, the
/// commentary a list of strings or texts.
fn console(
    raw: RawConsole,
    fields: &IndexMap<String, Field>,
    broken: &BTreeSet<String>,
    file: &Path,
    p: &mut Problems,
) -> Option<Console> {
    let before = p.len();
    let mut check = |key: &str, name: &str, ok: fn(&FieldKind) -> bool, wanted: &str| match fields
        .get(name)
        .map(|f| &f.kind)
    {
        Some(kind) if ok(kind) => {}
        Some(kind) => p.push(
            file,
            None,
            format!(
                "console.{key}: {name:?} is of kind {}; it must be {wanted}",
                kind.keyword()
            ),
        ),
        None if broken.contains(name) => {}
        None => p.push(
            file,
            None,
            format!("console.{key}: no field named {name:?}"),
        ),
    };
    for name in &raw.scores {
        check(
            "scores",
            name,
            |k| matches!(k, FieldKind::Integer { .. }),
            "an integer",
        );
    }
    if let Some(name) = &raw.status {
        check(
            "status",
            name,
            |k| matches!(k, FieldKind::Enum { .. }),
            "an enum",
        );
    }
    if let Some(name) = &raw.commentary {
        check(
            "commentary",
            name,
            |k| {
                matches!(k, FieldKind::List { of, .. }
                    if matches!(of.as_ref(), FieldKind::String { .. } | FieldKind::Text { .. }))
            },
            "a list of string or text",
        );
    }
    if raw.scores.is_empty() && raw.status.is_none() && raw.commentary.is_none() {
        p.push(
            file,
            None,
            "console: name at least one of scores, status, commentary",
        );
    }
    (p.len() == before).then_some(Console {
        scores: raw.scores,
        status: raw.status,
        commentary: raw.commentary,
    })
}

/// Full environment name of a folder's template (`match/page.html`).
pub(super) fn template_name(
    folder: &str,
    given: Option<&str>,
    file: &Path,
    p: &mut Problems,
) -> String {
    let rel = given.unwrap_or("page.html");
    let bad = rel.is_empty()
        || rel.starts_with('/')
        || rel.contains('\\')
        || rel
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..");
    if bad {
        p.push(
            file,
            None,
            format!("template: {rel:?} must be a file name relative to the folder, without \"..\""),
        );
    }
    format!("{folder}/{rel}")
}

/// A listing's or type's `[cache]`; `[cache.live]` is taken out before
/// (types) or refused (listings).
pub(super) fn cache_policy(raw: RawCache, file: &Path, p: &mut Problems) -> CachePolicy {
    if raw.live.is_some() {
        p.push(
            file,
            None,
            "cache.live: only a content type's entries can be live",
        );
    }
    let keys = [
        raw.browser_max_age,
        raw.edge_max_age,
        raw.stale_while_revalidate,
        raw.stale_if_error,
    ];
    apply_cache_keys(CachePolicy::default(), keys, "cache", file, p)
}

/// Overrides `base` with each given key (in [`CachePolicy`] field order),
/// reporting bad durations under `at`.
fn apply_cache_keys(
    base: CachePolicy,
    values: [Option<toml::Value>; 4],
    at: &str,
    file: &Path,
    p: &mut Problems,
) -> CachePolicy {
    let mut policy = base;
    let slots = [
        ("browser_max_age", &mut policy.browser_max_age),
        ("edge_max_age", &mut policy.edge_max_age),
        ("stale_while_revalidate", &mut policy.stale_while_revalidate),
        ("stale_if_error", &mut policy.stale_if_error),
    ];
    for ((key, slot), value) in slots.into_iter().zip(values) {
        if let Some(value) = value {
            match parse_seconds(&value) {
                Ok(secs) => *slot = secs,
                Err(e) => p.push(file, None, format!("{at}.{key}: {e}")),
            }
        }
    }
    policy
}

/// `[cache.live]`: an enum field of the type, values it allows, and the
/// keys that differ from the type's `[cache]`.
fn live_cache(
    raw: RawLiveCache,
    base: CachePolicy,
    fields: &IndexMap<String, Field>,
    broken: &BTreeSet<String>,
    file: &Path,
    p: &mut Problems,
) -> Option<LiveCache> {
    let before = p.0.len();
    match fields.get(&raw.field).map(|f| &f.kind) {
        Some(FieldKind::Enum { values }) => {
            for v in raw.values.iter().filter(|v| !values.contains(v)) {
                p.push(
                    file,
                    None,
                    format!(
                        "cache.live.values: {v:?} is not a value of {:?} ({})",
                        raw.field,
                        values.join(", ")
                    ),
                );
            }
        }
        Some(kind) => p.push(
            file,
            None,
            format!(
                "cache.live.field: {:?} is of kind {}; it must be an enum",
                raw.field,
                kind.keyword()
            ),
        ),
        None if broken.contains(&raw.field) => {}
        None => p.push(
            file,
            None,
            format!("cache.live.field: no field named {:?}", raw.field),
        ),
    }
    if raw.values.is_empty() {
        p.push(file, None, "cache.live.values: name at least one value");
    }
    let keys = [
        raw.browser_max_age,
        raw.edge_max_age,
        raw.stale_while_revalidate,
        raw.stale_if_error,
    ];
    let policy = apply_cache_keys(base, keys, "cache.live", file, p);
    (p.0.len() == before).then_some(LiveCache {
        field: raw.field,
        values: raw.values,
        policy,
    })
}
