//! Checks one `[fields.<name>]` table and builds its `Field`: the kind, the
//! keys that apply to it, bounds, enum values, reference targets and the
//! default (validated like an entry value). Reports every problem of the
//! field, not just the first.

use std::collections::BTreeSet;

use super::model::{Field, FieldKind};
use super::query::MetaField;
use super::schema::{RawField, toml_to_json};
use super::validate::check_value;

/// Every kind keyword, in the order error messages list them.
pub const FIELD_KINDS: [&str; 12] = [
    "string",
    "text",
    "markdown",
    "integer",
    "number",
    "boolean",
    "datetime",
    "slug",
    "enum",
    "reference",
    "image",
    "list",
];

/// Longest field (and type) name.
const MAX_NAME_LEN: usize = 64;

/// Checks a type, listing, field or query name: `[a-z][a-z0-9_]*`, at most
/// 64 characters, so names are safe in paths, JSON Pointers and templates.
pub(super) fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let starts_well = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !starts_well || !rest_ok || name.len() > MAX_NAME_LEN {
        return Err(format!(
            "invalid name {name:?}: use a lowercase letter then a-z, 0-9 or '_' (at most {MAX_NAME_LEN})"
        ));
    }
    Ok(())
}

/// `home_team` -> `Home team`: the label when none is given.
pub(super) fn humanize(name: &str) -> String {
    let spaced = name.replace('_', " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => spaced,
    }
}

/// Builds a field, or returns all of its problems. `types` names every
/// declared content type, for `to`.
pub(super) fn build_field(
    name: &str,
    raw: RawField,
    types: &BTreeSet<String>,
) -> Result<Field, Vec<String>> {
    let mut problems = Vec::new();
    if let Err(e) = check_name(name) {
        problems.push(e);
    }
    if MetaField::parse(name).is_some() || name == "id" || name == "type" {
        problems.push(format!(
            "the name {name:?} is reserved for entry metadata; choose another"
        ));
    }
    if !FIELD_KINDS.contains(&raw.kind.as_str()) {
        problems.push(format!(
            "unknown field kind {:?} (expected one of {})",
            raw.kind,
            FIELD_KINDS.join(", ")
        ));
        return Err(problems);
    }
    check_applicable_keys(&raw, &mut problems);
    let kind = build_kind(&raw, types, &mut problems);
    let default = match (&kind, &raw.default) {
        (Some(kind), Some(value)) => check_default(kind, value, &mut problems),
        _ => None,
    };
    match kind {
        Some(kind) if problems.is_empty() => Ok(Field {
            name: name.to_owned(),
            label: raw.label.unwrap_or_else(|| humanize(name)),
            help: raw.help,
            kind,
            required: raw.required,
            default,
            unique: raw.unique.unwrap_or(false),
        }),
        _ => Err(problems),
    }
}

/// The kind whose constraints apply: a list's item kind for `max_length`,
/// `values` and `to`; the field's own kind for the rest.
fn check_applicable_keys(raw: &RawField, problems: &mut Vec<String>) {
    let kind = raw.kind.as_str();
    let item = if kind == "list" {
        raw.of.as_deref().unwrap_or("")
    } else {
        kind
    };
    let rules: [(&str, bool, bool, &str); 7] = [
        ("of", raw.of.is_some(), kind == "list", "list"),
        (
            "max_length",
            raw.max_length.is_some(),
            matches!(item, "string" | "text" | "markdown" | "slug"),
            "string, text, markdown and slug (and lists of them)",
        ),
        (
            "min",
            raw.min.is_some(),
            matches!(kind, "integer" | "number" | "list"),
            "integer, number and list",
        ),
        (
            "max",
            raw.max.is_some(),
            matches!(kind, "integer" | "number" | "list"),
            "integer, number and list",
        ),
        (
            "unique",
            raw.unique.is_some(),
            matches!(kind, "string" | "slug" | "integer"),
            "string, slug and integer",
        ),
        (
            "values",
            raw.values.is_some(),
            item == "enum",
            "enum (and lists of enum)",
        ),
        (
            "to",
            raw.to.is_some(),
            item == "reference",
            "reference (and lists of reference)",
        ),
    ];
    for (key, present, applies, kinds) in rules {
        if present && !applies {
            problems.push(format!(
                "key {key:?} does not apply to kind {kind} (only to {kinds})"
            ));
        }
    }
}

fn build_kind(
    raw: &RawField,
    types: &BTreeSet<String>,
    problems: &mut Vec<String>,
) -> Option<FieldKind> {
    if raw.kind != "list" {
        return build_item_kind(&raw.kind, raw, types, problems);
    }
    let of = match raw.of.as_deref() {
        None => {
            problems.push("a list needs `of`, the kind of its items".into());
            return None;
        }
        Some("list") => {
            problems.push("lists of lists are not supported".into());
            return None;
        }
        Some("markdown") => {
            problems.push("lists of markdown are not supported (use one markdown field)".into());
            return None;
        }
        Some(of) if !FIELD_KINDS.contains(&of) => {
            problems.push(format!(
                "unknown item kind {of:?} in `of` (expected one of {})",
                FIELD_KINDS.join(", ")
            ));
            return None;
        }
        Some(of) => build_item_kind(of, raw, types, problems)?,
    };
    let min = count_bound("min", raw.min.as_ref(), problems);
    let max = count_bound("max", raw.max.as_ref(), problems);
    check_order(min, max, problems);
    Some(FieldKind::List {
        of: Box::new(of),
        min,
        max,
    })
}

/// Any kind but list; for a list field, the item kind.
fn build_item_kind(
    keyword: &str,
    raw: &RawField,
    types: &BTreeSet<String>,
    problems: &mut Vec<String>,
) -> Option<FieldKind> {
    let max_length = match raw.max_length {
        Some(n) if n < 1 => {
            problems.push(format!("max_length must be at least 1 (got {n})"));
            None
        }
        Some(n) => {
            let fits = u32::try_from(n).ok();
            if fits.is_none() {
                problems.push(format!("max_length {n} is too large"));
            }
            fits
        }
        None => None,
    };
    let bounds_apply = keyword == raw.kind;
    Some(match keyword {
        "string" => FieldKind::String { max_length },
        "text" => FieldKind::Text { max_length },
        "markdown" => FieldKind::Markdown { max_length },
        "slug" => FieldKind::Slug { max_length },
        "boolean" => FieldKind::Boolean,
        "datetime" => FieldKind::Datetime,
        "image" => FieldKind::Image,
        "integer" if bounds_apply => {
            let min = integer_bound("min", raw.min.as_ref(), problems);
            let max = integer_bound("max", raw.max.as_ref(), problems);
            check_order(min, max, problems);
            FieldKind::Integer { min, max }
        }
        "integer" => FieldKind::Integer {
            min: None,
            max: None,
        },
        "number" if bounds_apply => {
            let min = number_bound("min", raw.min.as_ref(), problems);
            let max = number_bound("max", raw.max.as_ref(), problems);
            check_order(min, max, problems);
            FieldKind::Number { min, max }
        }
        "number" => FieldKind::Number {
            min: None,
            max: None,
        },
        "enum" => FieldKind::Enum {
            values: enum_values(raw.values.as_deref(), problems)?,
        },
        "reference" => {
            let Some(to) = &raw.to else {
                problems.push("a reference needs `to`, the referenced type".into());
                return None;
            };
            if !types.contains(to) {
                problems.push(format!("`to` names no content type: {to:?}"));
                return None;
            }
            FieldKind::Reference { to: to.clone() }
        }
        _ => return None,
    })
}

fn enum_values(values: Option<&[String]>, problems: &mut Vec<String>) -> Option<Vec<String>> {
    let values = values.unwrap_or_default();
    if values.is_empty() {
        problems.push("an enum needs a non-empty `values` list".into());
        return None;
    }
    let mut seen = BTreeSet::new();
    for v in values {
        if v.is_empty() {
            problems.push("enum values must not be empty strings".into());
        } else if !seen.insert(v.as_str()) {
            problems.push(format!("enum value {v:?} is listed twice"));
        }
    }
    Some(values.to_vec())
}

fn integer_bound(key: &str, v: Option<&toml::Value>, problems: &mut Vec<String>) -> Option<i64> {
    let v = v?;
    let n = v.as_integer();
    if n.is_none() {
        problems.push(format!("{key} must be an integer (got {})", v.type_str()));
    }
    n
}

fn number_bound(key: &str, v: Option<&toml::Value>, problems: &mut Vec<String>) -> Option<f64> {
    let v = v?;
    #[allow(clippy::cast_precision_loss)] // bounds are compared as f64 anyway
    let n = v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
    match n {
        Some(n) if n.is_finite() => Some(n),
        _ => {
            problems.push(format!("{key} must be a finite number (got {v})"));
            None
        }
    }
}

fn count_bound(key: &str, v: Option<&toml::Value>, problems: &mut Vec<String>) -> Option<u32> {
    let v = v?;
    let n = v.as_integer().and_then(|n| u32::try_from(n).ok());
    if n.is_none() {
        problems.push(format!(
            "{key} of a list is an item count: a non-negative integer (got {v})"
        ));
    }
    n
}

fn check_order<T: PartialOrd + std::fmt::Display>(
    min: Option<T>,
    max: Option<T>,
    problems: &mut Vec<String>,
) {
    if let (Some(min), Some(max)) = (min, max)
        && min > max
    {
        problems.push(format!("min ({min}) is greater than max ({max})"));
    }
}

fn check_default(
    kind: &FieldKind,
    value: &toml::Value,
    problems: &mut Vec<String>,
) -> Option<serde_json::Value> {
    let json = match toml_to_json(value) {
        Ok(json) => json,
        Err(e) => {
            problems.push(format!("default: {e}"));
            return None;
        }
    };
    let mut errors = Vec::new();
    let checked = check_value(kind, &json, "", &mut errors);
    for e in errors {
        let at = if e.pointer.is_empty() {
            String::new()
        } else {
            format!(" (item {})", e.pointer.trim_start_matches('/'))
        };
        problems.push(format!("default{at}: {}", e.message));
    }
    checked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("home_team").is_ok());
        assert!(check_name("a1").is_ok());
        for bad in ["", "1a", "_a", "Home", "home-team", "é", &"a".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn labels_are_humanized() {
        assert_eq!(humanize("home_team"), "Home team");
        assert_eq!(humanize("x"), "X");
    }
}
