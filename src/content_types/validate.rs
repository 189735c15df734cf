//! Entry validation: checks a complete working copy against its type and
//! returns it normalised, or every problem at once as JSON Pointers. Called by
//! the editor API before any write; never looks anything up in the store
//! (whether a referenced entry exists is the caller's question).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Number, Value};
use uuid::Uuid;

use super::image::check_image;
use super::model::{ContentType, FieldKind};

/// Longest slug accepted, in characters.
pub const MAX_SLUG_LEN: usize = 128;

/// One problem with an entry, as reported in a `422`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// JSON Pointer into the request, e.g. `/data/kickoff` or `/data/tags/2`.
    pub pointer: String,
    pub message: String,
}

/// Checks a slug: 1 to 128 characters of `a-z`, `0-9` and `-`, not starting
/// or ending with `-` and without `--`. Being plain ASCII, a slug can never
/// smuggle `/`, `..`, spaces, uppercase or Unicode look-alikes into a URL,
/// and each spelling has one canonical form.
pub fn validate_slug(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    let len = s.chars().count();
    if len > MAX_SLUG_LEN {
        return Err(format!(
            "must be at most {MAX_SLUG_LEN} characters (got {len})"
        ));
    }
    if let Some(bad) = s
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "character {bad:?} is not allowed: use lowercase a-z, 0-9 and '-'"
        ));
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Err("must not start or end with '-'".into());
    }
    if s.contains("--") {
        return Err("must not contain \"--\"".into());
    }
    Ok(())
}

impl ContentType {
    /// Validates a complete working copy. On success returns it normalised:
    /// absent (or null) optional fields with a default get it, other absent
    /// or null optional fields are left out, datetimes become RFC 3339 UTC,
    /// references lowercase hyphenated UUIDs, images trimmed, integral numbers in integer
    /// fields integers. On failure returns every problem found.
    pub fn validate(&self, data: &Value) -> Result<Value, Vec<FieldError>> {
        let mut errors = Vec::new();
        let Some(object) = data.as_object() else {
            errors.push(FieldError {
                pointer: "/data".into(),
                message: format!("must be an object (got {})", json_kind(data)),
            });
            return Err(errors);
        };
        for key in object.keys() {
            if !self.fields.contains_key(key) {
                errors.push(FieldError {
                    pointer: format!("/data/{}", escape_pointer(key)),
                    message: format!("unknown field for type {}", self.name),
                });
            }
        }
        let mut normalised = Map::new();
        for field in self.fields.values() {
            let pointer = format!("/data/{}", field.name);
            let given = object.get(&field.name).filter(|v| !v.is_null());
            let value = match (given, &field.default) {
                (Some(v), _) => v,
                // Defaults were checked when the type was loaded.
                (None, Some(default)) => {
                    normalised.insert(field.name.clone(), default.clone());
                    continue;
                }
                (None, None) if field.required => {
                    errors.push(FieldError {
                        pointer,
                        message: "is required".into(),
                    });
                    continue;
                }
                (None, None) => continue,
            };
            if let Some(v) = check_value(&field.kind, value, &pointer, &mut errors) {
                normalised.insert(field.name.clone(), v);
            }
        }
        if errors.is_empty() {
            Ok(Value::Object(normalised))
        } else {
            Err(errors)
        }
    }
}

/// Checks one value against a kind, pushing each problem with its pointer;
/// returns the normalised value when there was none.
pub(super) fn check_value(
    kind: &FieldKind,
    value: &Value,
    pointer: &str,
    errors: &mut Vec<FieldError>,
) -> Option<Value> {
    match check_scalar(kind, value, pointer, errors) {
        Ok(v) => v,
        Err(message) => {
            errors.push(FieldError {
                pointer: pointer.to_owned(),
                message,
            });
            None
        }
    }
}

/// `Err` is the one problem with a scalar; lists push per-item problems
/// themselves and return `Ok(None)` when any item failed.
fn check_scalar(
    kind: &FieldKind,
    value: &Value,
    pointer: &str,
    errors: &mut Vec<FieldError>,
) -> Result<Option<Value>, String> {
    let normalised = match kind {
        FieldKind::String { max_length } => {
            let s = text(value, *max_length)?;
            if s.contains(['\n', '\r']) {
                return Err("must be a single line (use kind text for multi-line)".into());
            }
            value.clone()
        }
        FieldKind::Text { max_length } | FieldKind::Markdown { max_length } => {
            text(value, *max_length)?;
            value.clone()
        }
        FieldKind::Slug { max_length } => {
            let s = text(value, *max_length)?;
            validate_slug(s).map_err(|e| format!("is not a valid slug: {e}"))?;
            value.clone()
        }
        FieldKind::Integer { min, max } => {
            let n = integer(value)?;
            bounds(n, *min, *max)?;
            Value::from(n)
        }
        FieldKind::Number { min, max } => {
            let n = value
                .as_f64()
                .filter(|n| n.is_finite())
                .ok_or_else(|| format!("expected a number (got {})", json_kind(value)))?;
            bounds(n, *min, *max)?;
            value.clone()
        }
        FieldKind::Boolean => {
            value
                .as_bool()
                .ok_or_else(|| format!("expected true or false (got {})", json_kind(value)))?;
            value.clone()
        }
        FieldKind::Datetime => Value::String(normalise_datetime(value)?),
        FieldKind::Enum { values } => {
            let s = string(value)?;
            if !values.iter().any(|v| v == s) {
                return Err(format!("must be one of: {}", values.join(", ")));
            }
            value.clone()
        }
        FieldKind::Reference { to } => {
            let s = string(value)?;
            let id = Uuid::parse_str(s)
                .map_err(|_| format!("must be the UUID of a {to} entry (got {s:?})"))?;
            Value::String(id.hyphenated().to_string())
        }
        FieldKind::Image => return Ok(check_image(value, pointer, errors)),
        FieldKind::List { of, min, max } => {
            let Value::Array(items) = value else {
                return Err(format!("expected a list (got {})", json_kind(value)));
            };
            let count = u32::try_from(items.len()).unwrap_or(u32::MAX);
            if let Some(min) = min.filter(|m| count < *m) {
                return Err(format!("must have at least {min} items (got {count})"));
            }
            if let Some(max) = max.filter(|m| count > *m) {
                return Err(format!("must have at most {max} items (got {count})"));
            }
            let before = errors.len();
            let checked: Vec<Value> = items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| check_value(of, item, &format!("{pointer}/{i}"), errors))
                .collect();
            if errors.len() > before {
                return Ok(None);
            }
            Value::Array(checked)
        }
    };
    Ok(Some(normalised))
}

fn string(value: &Value) -> Result<&str, String> {
    value
        .as_str()
        .ok_or_else(|| format!("expected a string (got {})", json_kind(value)))
}

/// A string within `max_length` characters. NUL is refused everywhere:
/// PostgreSQL cannot store it in text or jsonb.
pub(super) fn text(value: &Value, max_length: Option<u32>) -> Result<&str, String> {
    let s = string(value)?;
    if s.contains('\0') {
        return Err("must not contain NUL characters".into());
    }
    if let Some(max) = max_length {
        let len = s.chars().count();
        if len > max as usize {
            return Err(format!("must be at most {max} characters (got {len})"));
        }
    }
    Ok(s)
}

/// An integral JSON number that fits i64; `3.0` counts, `3.5` does not.
fn integer(value: &Value) -> Result<i64, String> {
    let Value::Number(n) = value else {
        return Err(format!("expected an integer (got {})", json_kind(value)));
    };
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    if n.is_u64() {
        return Err("is too large (must fit a 64-bit signed integer)".into());
    }
    let f = n.as_f64().unwrap_or(f64::NAN);
    // 2^63 is exactly representable; anything at or past it does not fit.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if f.fract() != 0.0 || !f.is_finite() {
        return Err(format!("expected an integer (got {n})"));
    }
    if !(-LIMIT..LIMIT).contains(&f) {
        return Err("is out of range (must fit a 64-bit signed integer)".into());
    }
    Ok(f as i64)
}

fn bounds<T: PartialOrd + std::fmt::Display + Copy>(
    n: T,
    min: Option<T>,
    max: Option<T>,
) -> Result<(), String> {
    if let Some(min) = min.filter(|m| n < *m) {
        return Err(format!("must be at least {min} (got {n})"));
    }
    if let Some(max) = max.filter(|m| n > *m) {
        return Err(format!("must be at most {max} (got {n})"));
    }
    Ok(())
}

/// RFC 3339 in, RFC 3339 UTC out (`2026-03-14T15:00:00Z`), so stored
/// datetimes compare and display the same whatever offset an editor sent.
pub(super) fn normalise_datetime(value: &Value) -> Result<String, String> {
    let s = string(value)?;
    let parsed = DateTime::parse_from_rfc3339(s)
        .map_err(|e| format!("must be an RFC 3339 date-time such as 2026-03-14T15:00:00Z ({e})"))?;
    Ok(parsed
        .with_timezone(&Utc)
        .to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// RFC 6901: `~` and `/` in a key must be escaped inside a pointer.
pub(super) fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

pub(super) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Numbers equal by value, whether written as integers or floats; used by
/// query filters on published data.
pub(super) fn numbers_equal(a: &Number, b: &Number) -> bool {
    match (a.as_i64(), b.as_i64()) {
        (Some(x), Some(y)) => x == y,
        _ => a.as_f64() == b.as_f64(),
    }
}

#[cfg(test)]
mod tests;
