//! Forms generated from content-type schemas: each field kind becomes an
//! input (and back), and the editor's per-field problems (RFC 9457 JSON
//! Pointers such as `/data/kickoff` or `/data/tags/2`) are shown next to
//! the field they point into. Values travel as text; turning text into
//! the field's JSON type happens here, so a bad number is named like any
//! other problem.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use minijinja::{Value as TplValue, context};
use serde_json::{Map, Value};

use super::request::Form;
use crate::content_types::{ContentType, Field, FieldError, FieldKind};

/// Field names in the form are `data.<name>`; the slug is `slug`.
const PREFIX: &str = "data.";

/// The widget a field kind is edited with.
fn widget(kind: &FieldKind) -> &'static str {
    match kind {
        FieldKind::String { .. } | FieldKind::Slug { .. } => "line",
        FieldKind::Text { .. } => "text",
        FieldKind::Markdown { .. } => "markdown",
        FieldKind::Integer { .. } | FieldKind::Number { .. } => "number",
        FieldKind::Boolean => "boolean",
        FieldKind::Datetime => "datetime",
        FieldKind::Enum { .. } => "enum",
        FieldKind::Reference { .. } => "reference",
        FieldKind::Image => "image",
        FieldKind::List { .. } => "list",
    }
}

/// What the template needs to draw one field: its input's name, label,
/// widget, current text, options, constraints and any problems.
pub fn fields(
    ty: &ContentType,
    data: &Value,
    errors: &[FieldError],
    titles: &std::collections::HashMap<String, String>,
    tz: Tz,
) -> Vec<TplValue> {
    ty.fields
        .values()
        .map(|field| {
            let value = data.get(&field.name);
            let own_errors: Vec<String> = errors
                .iter()
                .filter(|e| pointer_field(&e.pointer) == Some(field.name.as_str()))
                .map(|e| e.message.clone())
                .collect();
            let (min, max, step) = match &field.kind {
                FieldKind::Integer { min, max } => {
                    (min.map(|v| v.to_string()), max.map(|v| v.to_string()), "1")
                }
                FieldKind::Number { min, max } => (
                    min.map(|v| v.to_string()),
                    max.map(|v| v.to_string()),
                    "any",
                ),
                _ => (None, None, ""),
            };
            let (options, to) = match &field.kind {
                FieldKind::Enum { values } => (values.clone(), None),
                FieldKind::Reference { to } => (Vec::new(), Some(to.clone())),
                FieldKind::List { of, .. } => match of.as_ref() {
                    FieldKind::Reference { to } => (Vec::new(), Some(to.clone())),
                    _ => (Vec::new(), None),
                },
                _ => (Vec::new(), None),
            };
            context! {
                name => format!("{PREFIX}{}", field.name),
                id => format!("f-{}", field.name),
                label => &field.label,
                help => &field.help,
                kind => field.kind.keyword(),
                widget => widget(&field.kind),
                item_kind => match &field.kind {
                    FieldKind::List { of, .. } => of.keyword(),
                    _ => "",
                },
                required => field.required,
                text => value.map(|v| as_text(&field.kind, v, tz)).unwrap_or_default(),
                zone => tz.name(),
                checked => value.and_then(Value::as_bool).unwrap_or(false),
                max_length => max_length(&field.kind),
                min, max, step, options, to,
                // The entries referenced, as `{id, title}`, to show and link.
                targets => value
                    .map(|v| match v {
                        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
                        Value::String(id) => vec![id.as_str()],
                        _ => Vec::new(),
                    })
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|id| titles.get(id).map(|t| context! { id, title => t }))
                    .collect::<Vec<_>>(),
                // An image's parts, each in an input of its own.
                image => match (&field.kind, value) {
                    (FieldKind::Image, Some(v)) => image_parts(v),
                    _ => image_parts(&Value::Null),
                },
                errors => own_errors,
            }
        })
        .collect()
}

/// The inputs of an image field, by part (`media`, `alt`, ...).
const IMAGE_PARTS: [&str; 4] = ["media", "alt", "caption", "credit"];

fn image_parts(value: &Value) -> TplValue {
    TplValue::from_pairs(
        IMAGE_PARTS
            .iter()
            .map(|part| (*part, value.get(part).and_then(Value::as_str).unwrap_or(""))),
    )
}

/// An image from its inputs (`data.hero.media`, `data.hero.alt`, ...):
/// absent when all are empty; otherwise media and alt are always given, so
/// that validation names an empty one.
fn image_from(form: &Form, name: &str) -> Option<Value> {
    let mut image = Map::new();
    for part in IMAGE_PARTS {
        let text = form.get(&format!("{name}.{part}")).unwrap_or("").trim();
        if !text.is_empty() || matches!(part, "media" | "alt") {
            image.insert(part.to_owned(), Value::from(text));
        }
    }
    let empty = image.values().all(|v| v.as_str() == Some(""));
    (!empty).then_some(Value::Object(image))
}

/// `/data/tags/2` -> `tags`.
pub fn pointer_field(pointer: &str) -> Option<&str> {
    pointer.strip_prefix("/data/")?.split('/').next()
}

fn max_length(kind: &FieldKind) -> Option<u32> {
    match kind {
        FieldKind::String { max_length }
        | FieldKind::Text { max_length }
        | FieldKind::Markdown { max_length }
        | FieldKind::Slug { max_length } => *max_length,
        _ => None,
    }
}

/// A stored value as the text its input shows.
fn as_text(kind: &FieldKind, value: &Value, tz: Tz) -> String {
    match (kind, value) {
        (FieldKind::Datetime, Value::String(s)) => DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&tz).format("%Y-%m-%dT%H:%M").to_string())
            .unwrap_or_else(|_| s.clone()),
        (FieldKind::Image, Value::Object(_)) => value.to_string(),
        (FieldKind::List { of, .. }, Value::Array(items)) => items
            .iter()
            .map(|item| as_text(of, item, tz))
            .collect::<Vec<_>>()
            .join("\n"),
        (_, Value::String(s)) => s.clone(),
        (_, Value::Null) => String::new(),
        (_, other) => other.to_string(),
    }
}

/// The entry's data from a submitted form: every field of the type, each
/// text turned into its kind's JSON (an empty optional field is absent).
/// Text that cannot be the field's type is a problem at its pointer.
pub fn data_from(ty: &ContentType, form: &Form, tz: Tz) -> (Map<String, Value>, Vec<FieldError>) {
    let mut data = Map::new();
    let mut errors = Vec::new();
    for field in ty.fields.values() {
        let name = format!("{PREFIX}{}", field.name);
        if matches!(field.kind, FieldKind::Image) {
            if form.has(&format!("{name}.media")) {
                let image = image_from(form, &name).unwrap_or(Value::Null);
                data.insert(field.name.clone(), image);
            }
            continue;
        }
        if !form.has(&name) {
            continue;
        }
        let raw = form.get(&name).unwrap_or_default();
        match parse(field, raw, tz) {
            Ok(Some(value)) => {
                data.insert(field.name.clone(), value);
            }
            // Absent: a merge patch's null removes the field.
            Ok(None) => {
                data.insert(field.name.clone(), Value::Null);
            }
            Err(message) => errors.push(FieldError {
                pointer: format!("/data/{}", field.name),
                message,
            }),
        }
    }
    (data, errors)
}

fn parse(field: &Field, raw: &str, tz: Tz) -> Result<Option<Value>, String> {
    if let FieldKind::List { of, .. } = &field.kind {
        let mut items = Vec::new();
        for (i, line) in raw.lines().map(str::trim).enumerate() {
            if line.is_empty() {
                continue;
            }
            match parse_one(of, line, tz) {
                Ok(value) => items.push(value),
                Err(e) => return Err(format!("line {}: {e}", i + 1)),
            }
        }
        return Ok((!items.is_empty()).then_some(Value::Array(items)));
    }
    if matches!(field.kind, FieldKind::Boolean) {
        return Ok(Some(Value::Bool(raw == "true")));
    }
    let text = match field.kind {
        // Whitespace is content in prose.
        FieldKind::Text { .. } | FieldKind::Markdown { .. } => raw.replace("\r\n", "\n"),
        _ => raw.trim().to_owned(),
    };
    if text.trim().is_empty() {
        return Ok(None);
    }
    parse_one(&field.kind, &text, tz).map(Some)
}

fn parse_one(kind: &FieldKind, text: &str, tz: Tz) -> Result<Value, String> {
    match kind {
        FieldKind::Integer { .. } => text
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("{text:?} is not a whole number")),
        FieldKind::Number { .. } => text
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| format!("{text:?} is not a number")),
        FieldKind::Boolean => match text {
            "true" | "yes" | "1" => Ok(Value::Bool(true)),
            "false" | "no" | "0" => Ok(Value::Bool(false)),
            _ => Err(format!("{text:?} is not true or false")),
        },
        // `datetime-local` sends 2026-05-30T18:30 (no zone): a time in the
        // site's zone, as the form says.
        FieldKind::Datetime => local_time(text, tz)
            .map(|t| Value::from(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))),
        // A gallery's lines: one image each, as JSON.
        FieldKind::Image => match serde_json::from_str::<Value>(text) {
            Ok(image @ Value::Object(_)) => Ok(image),
            _ => Err(format!(
                "{text:?} is not an image: {{\"media\": \"<id>\", \"alt\": \"...\"}}"
            )),
        },
        _ => Ok(Value::from(text)),
    }
}

/// A `datetime-local` value (or RFC 3339 with an offset) as UTC, the
/// local time read in `tz`. A time a clock change skips is refused; one it
/// repeats is the earlier.
pub fn local_time(text: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| format!("{text:?} is not a date and time (2026-05-30T18:30)"))?;
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| {
            format!(
                "{text} does not exist in {} (the clocks change then)",
                tz.name()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_name_their_field() {
        assert_eq!(pointer_field("/data/tags/2"), Some("tags"));
        assert_eq!(pointer_field("/data/kickoff"), Some("kickoff"));
        assert_eq!(pointer_field("/slug"), None);
    }

    #[test]
    fn texts_become_json_of_the_fields_kind() {
        let int = FieldKind::Integer {
            min: None,
            max: None,
        };
        assert_eq!(parse_one(&int, "42", chrono_tz::UTC), Ok(Value::from(42)));
        assert!(
            parse_one(&int, "4.2", chrono_tz::UTC)
                .unwrap_err()
                .contains("whole number")
        );
        let number = FieldKind::Number {
            min: None,
            max: None,
        };
        assert_eq!(
            parse_one(&number, "52.5", chrono_tz::UTC),
            Ok(Value::from(52.5))
        );
        assert!(parse_one(&number, "NaN", chrono_tz::UTC).is_err());
        assert_eq!(
            parse_one(&FieldKind::Datetime, "2026-05-30T18:30", chrono_tz::UTC),
            Ok(Value::from("2026-05-30T18:30:00Z"))
        );
        assert!(parse_one(&FieldKind::Datetime, "tomorrow", chrono_tz::UTC).is_err());
        let london: Tz = "Europe/London".parse().unwrap();
        assert_eq!(
            parse_one(&FieldKind::Datetime, "2026-07-01T15:00", london),
            Ok(Value::from("2026-07-01T14:00:00Z")),
            "summer time is an hour ahead"
        );
        assert!(
            parse_one(&FieldKind::Datetime, "2026-03-29T01:30", london)
                .unwrap_err()
                .contains("clocks change")
        );
    }

    #[test]
    fn an_image_is_edited_as_its_parts() {
        let id = "0190b2a4-7c1e-7d3a-9f00-1234567890ab";
        let form = |pairs: &[(&str, &str)]| {
            Form(
                pairs
                    .iter()
                    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                    .collect(),
            )
        };
        let filled = form(&[
            ("data.hero.media", id),
            ("data.hero.alt", " The cup "),
            ("data.hero.caption", ""),
            ("data.hero.credit", "AP"),
        ]);
        assert_eq!(
            image_from(&filled, "data.hero"),
            Some(serde_json::json!({"media": id, "alt": "The cup", "credit": "AP"}))
        );
        let no_alt = form(&[("data.hero.media", id), ("data.hero.alt", "")]);
        assert_eq!(
            image_from(&no_alt, "data.hero"),
            Some(serde_json::json!({"media": id, "alt": ""})),
            "an empty alt reaches validation, which names it"
        );
        let empty = form(&[("data.hero.media", ""), ("data.hero.alt", " ")]);
        assert_eq!(image_from(&empty, "data.hero"), None);

        let line = format!(r#"{{"media": "{id}", "alt": "x"}}"#);
        let item = parse_one(&FieldKind::Image, &line, chrono_tz::UTC).expect("an image");
        assert_eq!(item["alt"], "x");
        let shown = as_text(&FieldKind::Image, &item, chrono_tz::UTC);
        assert_eq!(serde_json::from_str::<Value>(&shown).ok(), Some(item));
        assert!(parse_one(&FieldKind::Image, id, chrono_tz::UTC).is_err());
    }
}
