//! Resolves the queries of listings and related lists against every declared
//! type: field and metadata names, filter values, orders, limits and the
//! reference fields a related list follows. Runs once all types are drafted.
//! A type whose file could not be parsed (or a field that failed) still
//! counts as declared: queries naming it are not reported a second time.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use indexmap::IndexMap;

use super::check::{Problems, TypeDraft, cache_policy, template_name};
use super::field::{check_name, humanize};
use super::model::{Archive, Bucketing, FieldKind, Groups, Listing, MAX_BUCKET};
use super::query::{
    Condition, DEFAULT_LIMIT, FieldRef, MAX_LIMIT, MetaField, Order, Query, RelatedQuery,
};
use super::route;
use super::schema::{RawArchive, RawGroups, RawListing, RawQuery, RawRelated, toml_to_json};

/// Every draft by name, plus the names of types whose file failed to parse.
pub(super) struct Catalog<'a> {
    pub drafts: &'a BTreeMap<String, TypeDraft>,
    pub declared: &'a BTreeSet<String>,
}

/// The raw parts of a query, from a listing or a related table.
struct QuerySpec<'r> {
    type_name: &'r str,
    filter: &'r IndexMap<String, toml::Value>,
    order: Option<&'r str>,
    limit: Option<i64>,
}

enum Lookup {
    Known(FieldRef, FieldKind),
    /// Already reported elsewhere.
    Skip,
    Unknown,
}

impl Catalog<'_> {
    fn lookup(&self, draft: &TypeDraft, name: &str) -> Lookup {
        if let Some(meta) = MetaField::parse(name) {
            return Lookup::Known(FieldRef::Meta(meta), meta.kind());
        }
        match draft.fields.get(name) {
            Some(f) => Lookup::Known(FieldRef::Data(name.to_owned()), f.kind.clone()),
            None if draft.broken.contains(name) => Lookup::Skip,
            None => Lookup::Unknown,
        }
    }

    /// Resolves a query, pushing problems (prefixed with `at`, e.g.
    /// `queries.live`). `None` when it failed or names a broken type.
    fn query(&self, at: &str, spec: &QuerySpec<'_>, problems: &mut Vec<String>) -> Option<Query> {
        let Some(draft) = self.drafts.get(spec.type_name) else {
            if !self.declared.contains(spec.type_name) {
                problems.push(format!(
                    "{at}.type: no content type named {:?}",
                    spec.type_name
                ));
            }
            return None;
        };
        let before = problems.len();
        let unknown = |field: &str| {
            format!(
                "type {:?} has no field {field:?} (nor is it one of slug, published_at, created_at, updated_at)",
                spec.type_name
            )
        };
        let mut filter = Vec::new();
        for (field, value) in spec.filter {
            let (field_ref, kind) = match self.lookup(draft, field) {
                Lookup::Known(r, k) => (r, k),
                Lookup::Skip => continue,
                Lookup::Unknown => {
                    problems.push(format!("{at}.filter: {}", unknown(field)));
                    continue;
                }
            };
            let values = match toml_to_json(value) {
                Ok(serde_json::Value::Array(items)) => items,
                Ok(single) => vec![single],
                Err(e) => {
                    problems.push(format!("{at}.filter.{field}: {e}"));
                    continue;
                }
            };
            match Condition::new(field_ref, &kind, &values) {
                Ok(c) => filter.push(c),
                Err(e) => problems.push(format!("{at}.filter.{field}: {e}")),
            }
        }
        let order = match spec.order {
            None => Some(Order::default_order()),
            Some(text) => {
                let (descending, name) = match text.strip_prefix('-') {
                    Some(rest) => (true, rest),
                    None => (false, text),
                };
                match self.lookup(draft, name) {
                    Lookup::Known(r, k) => Order::new(r, &k, descending)
                        .map_err(|e| problems.push(format!("{at}.order: {e}")))
                        .ok(),
                    Lookup::Skip => None,
                    Lookup::Unknown => {
                        problems.push(format!("{at}.order: {}", unknown(name)));
                        None
                    }
                }
            }
        };
        let limit = match spec.limit {
            None => DEFAULT_LIMIT,
            Some(n) => match u32::try_from(n) {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    problems.push(format!(
                        "{at}.limit: must be between 1 and {MAX_LIMIT} (got {n})"
                    ));
                    DEFAULT_LIMIT
                }
            },
        };
        let order = order?;
        (problems.len() == before).then(|| Query {
            type_name: spec.type_name.to_owned(),
            filter,
            order,
            limit,
        })
    }

    /// The `[related.*]` lists of one type.
    pub fn related(&self, owner: &TypeDraft, p: &mut Problems) -> IndexMap<String, RelatedQuery> {
        let mut out = IndexMap::new();
        for (name, value) in &owner.raw_related {
            let at = format!("related.{name}");
            let mut problems = Vec::new();
            if let Err(e) = check_name(name) {
                problems.push(format!("{at}: {e}"));
            }
            match value.clone().try_into::<RawRelated>() {
                Err(e) => problems.push(format!("{at}: {}", e.message().trim())),
                Ok(raw) => {
                    let spec = QuerySpec {
                        type_name: &raw.type_name,
                        filter: &raw.filter,
                        order: raw.order.as_deref(),
                        limit: raw.limit,
                    };
                    let query = self.query(&at, &spec, &mut problems);
                    self.check_references(&at, &owner.name, &raw, &mut problems);
                    if let (Some(query), true) = (query, problems.is_empty()) {
                        out.insert(
                            name.clone(),
                            RelatedQuery {
                                name: name.clone(),
                                query,
                                references: raw.references,
                            },
                        );
                    }
                }
            }
            for reason in problems {
                p.push(&owner.file, None, reason);
            }
        }
        out
    }

    fn check_references(
        &self,
        at: &str,
        owner: &str,
        raw: &RawRelated,
        problems: &mut Vec<String>,
    ) {
        if raw.references.is_empty() {
            problems.push(format!(
                "{at}.references: name at least one reference field of {:?}",
                raw.type_name
            ));
        }
        let Some(target) = self.drafts.get(&raw.type_name) else {
            return;
        };
        for name in &raw.references {
            let kind = match target.fields.get(name) {
                Some(f) => &f.kind,
                None if target.broken.contains(name) => continue,
                None => {
                    problems.push(format!(
                        "{at}.references: type {:?} has no field {name:?}",
                        raw.type_name
                    ));
                    continue;
                }
            };
            let to = match kind {
                FieldKind::Reference { to } => to,
                FieldKind::List { of, .. } => match of.as_ref() {
                    FieldKind::Reference { to } => to,
                    _ => &String::new(),
                },
                _ => &String::new(),
            };
            if to.is_empty() {
                problems.push(format!(
                    "{at}.references: {name:?} is of kind {}, not a reference",
                    kind.keyword()
                ));
            } else if to != owner {
                problems.push(format!(
                    "{at}.references: {name:?} references {to:?}, not {owner:?}"
                ));
            }
        }
    }

    fn archive(&self, value: &toml::Value, problems: &mut Vec<String>) -> Option<Archive> {
        let raw = match value.clone().try_into::<RawArchive>() {
            Ok(raw) => raw,
            Err(e) => {
                problems.push(format!("archive: {}", e.message().trim()));
                return None;
            }
        };
        let by = match raw.by.as_str() {
            "day" => Some(Bucketing::Day),
            "month" => Some(Bucketing::Month),
            other => {
                problems.push(format!("archive.by: {other:?} is not day or month"));
                None
            }
        };
        let spec = QuerySpec {
            type_name: &raw.type_name,
            filter: &raw.filter,
            order: raw.order.as_deref(),
            limit: Some(i64::from(MAX_BUCKET)),
        };
        let query = self.query("archive", &spec, problems)?;
        if !query.order.is_by_time() {
            problems.push(format!(
                "archive.order: {} is not a datetime, so it cannot be split by {}",
                query.order.field, raw.by
            ));
            return None;
        }
        Some(Archive { query, by: by? })
    }

    fn groups(&self, value: &toml::Value, problems: &mut Vec<String>) -> Option<Groups> {
        let raw = match value.clone().try_into::<RawGroups>() {
            Ok(raw) => raw,
            Err(e) => {
                problems.push(format!("groups: {}", e.message().trim()));
                return None;
            }
        };
        let spec = QuerySpec {
            type_name: &raw.type_name,
            filter: &raw.filter,
            order: raw.order.as_deref(),
            limit: raw.limit,
        };
        let query = self.query("groups", &spec, problems)?;
        let kind = self
            .drafts
            .get(&raw.type_name)
            .and_then(|t| t.fields.get(&raw.field))
            .map(|f| &f.kind);
        let item = match kind {
            Some(FieldKind::List { of, .. }) => Some(of.as_ref()),
            other => other,
        };
        match item {
            Some(FieldKind::String { .. } | FieldKind::Slug { .. } | FieldKind::Enum { .. }) => {
                Some(Groups {
                    query,
                    field: raw.field,
                })
            }
            Some(other) => {
                problems.push(format!(
                    "groups.field: {:?} is of kind {}; groups need string, slug or enum values (or a list of them)",
                    raw.field,
                    other.keyword()
                ));
                None
            }
            None => {
                problems.push(format!(
                    "groups.field: type {:?} has no field {:?}",
                    raw.type_name, raw.field
                ));
                None
            }
        }
    }

    pub fn listing(
        &self,
        name: &str,
        file: &Path,
        raw: RawListing,
        p: &mut Problems,
    ) -> Option<Listing> {
        let before = p.0.len();
        if let Err(e) = route::check_fixed_path(&raw.path) {
            p.push(file, None, format!("path: {e}"));
        } else if let Some(clash) = route::reserved_clash(&raw.path) {
            p.push(
                file,
                None,
                format!(
                    "path: {:?} is under {clash}, which keel serves itself",
                    raw.path
                ),
            );
        }
        let template = template_name(name, raw.template.as_deref(), file, p);
        let cache = cache_policy(raw.cache.unwrap_or_default(), file, p);
        let mut queries = IndexMap::new();
        for (query_name, value) in &raw.queries {
            let at = format!("queries.{query_name}");
            let mut problems = Vec::new();
            if let Err(e) = check_name(query_name) {
                problems.push(format!("{at}: {e}"));
            }
            match value.clone().try_into::<RawQuery>() {
                Err(e) => problems.push(format!("{at}: {}", e.message().trim())),
                Ok(q) => {
                    let spec = QuerySpec {
                        type_name: &q.type_name,
                        filter: &q.filter,
                        order: q.order.as_deref(),
                        limit: q.limit,
                    };
                    if let Some(query) = self.query(&at, &spec, &mut problems) {
                        queries.insert(query_name.clone(), query);
                    }
                }
            }
            for reason in problems {
                p.push(file, None, reason);
            }
        }
        let archive = raw.archive.as_ref().and_then(|value| {
            let mut problems = Vec::new();
            let archive = self.archive(value, &mut problems);
            for reason in problems {
                p.push(file, None, reason);
            }
            archive
        });
        let groups = raw.groups.as_ref().and_then(|value| {
            let mut problems = Vec::new();
            let groups = self.groups(value, &mut problems);
            for reason in problems {
                p.push(file, None, reason);
            }
            groups
        });
        if archive.is_some() && groups.is_some() {
            // Both would own the pages below the listing's path.
            p.push(
                file,
                None,
                "a listing has an [archive] or [groups], not both".to_owned(),
            );
        }
        (p.0.len() == before).then(|| Listing {
            name: name.to_owned(),
            title: raw.title.unwrap_or_else(|| humanize(name)),
            path: raw.path,
            template,
            cache,
            queries,
            archive,
            groups,
        })
    }
}
