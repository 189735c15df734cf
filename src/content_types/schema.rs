//! The TOML files as written: `type.toml` and `listing.toml` deserialised
//! with `deny_unknown_fields`, before any rule is checked. Tables whose
//! entries are checked one by one (fields, related lists, queries) stay
//! `toml::Value` here so that one bad entry does not hide the others.

use std::time::Duration;

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawType {
    pub label: Option<String>,
    pub route: String,
    pub template: Option<String>,
    pub title_field: Option<String>,
    #[serde(default)]
    pub surrogate_keys: Vec<String>,
    pub cache: Option<RawCache>,
    pub prewarm: Option<RawPrewarm>,
    pub console: Option<RawConsole>,
    #[serde(default)]
    pub fields: IndexMap<String, toml::Value>,
    #[serde(default)]
    pub related: IndexMap<String, toml::Value>,
}

/// A type's `[console]`: the fields the live console changes in one click.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConsole {
    #[serde(default)]
    pub scores: Vec<String>,
    pub status: Option<String>,
    pub commentary: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawListing {
    pub path: String,
    pub title: Option<String>,
    pub template: Option<String>,
    pub cache: Option<RawCache>,
    #[serde(default)]
    pub queries: IndexMap<String, toml::Value>,
    pub archive: Option<toml::Value>,
    pub groups: Option<toml::Value>,
}

/// A listing's `[groups]`: a query and the field whose values name the
/// groups.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGroups {
    #[serde(rename = "type")]
    pub type_name: String,
    pub field: String,
    #[serde(default)]
    pub filter: IndexMap<String, toml::Value>,
    pub order: Option<String>,
    pub limit: Option<i64>,
}

/// A listing's `[archive]`: a query without a limit, and `by`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawArchive {
    #[serde(rename = "type")]
    pub type_name: String,
    #[serde(default)]
    pub filter: IndexMap<String, toml::Value>,
    pub order: Option<String>,
    pub by: String,
}

/// Each value: whole seconds as an integer, or a humantime string (`"5m"`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCache {
    pub browser_max_age: Option<toml::Value>,
    pub edge_max_age: Option<toml::Value>,
    pub stale_while_revalidate: Option<toml::Value>,
    pub stale_if_error: Option<toml::Value>,
    /// Content types only: the policy while an entry is live.
    pub live: Option<RawLiveCache>,
}

/// `[cache.live]`: while `field` holds one of `values`, these keys replace
/// the type's own (the rest are kept).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLiveCache {
    pub field: String,
    pub values: Vec<String>,
    pub browser_max_age: Option<toml::Value>,
    pub edge_max_age: Option<toml::Value>,
    pub stale_while_revalidate: Option<toml::Value>,
    pub stale_if_error: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPrewarm {
    pub field: String,
    pub before: toml::Value,
    pub after: toml::Value,
}

/// One `[fields.<name>]` table. Keys that do not apply to the kind are
/// rejected when the field is checked.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawField {
    pub kind: String,
    pub label: Option<String>,
    pub help: Option<String>,
    #[serde(default)]
    pub required: bool,
    pub default: Option<toml::Value>,
    pub min: Option<toml::Value>,
    pub max: Option<toml::Value>,
    pub max_length: Option<i64>,
    pub unique: Option<bool>,
    pub values: Option<Vec<String>>,
    pub to: Option<String>,
    pub of: Option<String>,
}

/// One `[queries.<name>]` table of a listing.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawQuery {
    #[serde(rename = "type")]
    pub type_name: String,
    #[serde(default)]
    pub filter: IndexMap<String, toml::Value>,
    pub order: Option<String>,
    pub limit: Option<i64>,
}

/// One `[related.<name>]` table of a type.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRelated {
    #[serde(rename = "type")]
    pub type_name: String,
    pub references: Vec<String>,
    #[serde(default)]
    pub filter: IndexMap<String, toml::Value>,
    pub order: Option<String>,
    pub limit: Option<i64>,
}

/// Converts TOML to JSON for validation: TOML datetimes become their RFC 3339
/// text (a datetime field then checks the offset), non-finite floats fail.
pub(super) fn toml_to_json(value: &toml::Value) -> Result<Value, String> {
    Ok(match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .ok_or_else(|| format!("{f} is not a finite number"))?,
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(
            items
                .iter()
                .map(toml_to_json)
                .collect::<Result<Vec<_>, _>>()?,
        ),
        toml::Value::Table(table) => Value::Object(
            table
                .iter()
                .map(|(k, v)| Ok((k.clone(), toml_to_json(v)?)))
                .collect::<Result<serde_json::Map<_, _>, String>>()?,
        ),
    })
}

/// A duration given as whole seconds or as a humantime string. Fractions of
/// a second are refused: every consumer (HTTP headers, the scheduler) works
/// in whole seconds.
pub(super) fn parse_duration(value: &toml::Value) -> Result<Duration, String> {
    let duration = match value {
        toml::Value::Integer(secs) => u64::try_from(*secs)
            .map(Duration::from_secs)
            .map_err(|_| format!("{secs} is negative"))?,
        toml::Value::String(text) => humantime::parse_duration(text).map_err(|e| {
            format!("{text:?} is not a duration ({e}); use seconds or e.g. \"30s\", \"5m\", \"1d\"")
        })?,
        other => {
            return Err(format!(
                "expected seconds or a duration string like \"5m\" (got a {})",
                other.type_str()
            ));
        }
    };
    if duration.subsec_nanos() != 0 {
        return Err(format!(
            "{} is not a whole number of seconds",
            humantime::format_duration(duration)
        ));
    }
    Ok(duration)
}

/// A duration that must fit the `u32` seconds of a cache policy.
pub(super) fn parse_seconds(value: &toml::Value) -> Result<u32, String> {
    let duration = parse_duration(value)?;
    u32::try_from(duration.as_secs()).map_err(|_| format!("{}s is too long", duration.as_secs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_seconds_and_humantime() {
        let v = |s: &str| toml::Value::String(s.into());
        assert_eq!(parse_seconds(&toml::Value::Integer(30)), Ok(30));
        assert_eq!(parse_seconds(&v("30s")), Ok(30));
        assert_eq!(parse_seconds(&v("5m")), Ok(300));
        assert_eq!(parse_seconds(&v("1d")), Ok(86_400));
        assert_eq!(parse_seconds(&v("1h 30m")), Ok(5_400));
        assert!(parse_seconds(&toml::Value::Integer(-1)).is_err());
        assert!(parse_seconds(&v("soon")).is_err());
        assert!(parse_seconds(&v("1500ms")).is_err());
        assert!(parse_seconds(&toml::Value::Boolean(true)).is_err());
        assert!(parse_seconds(&v("200years")).is_err());
    }

    #[test]
    fn toml_values_convert_to_json() {
        let table: toml::Table =
            toml::from_str("a = 1\nb = 2.5\nc = 1979-05-27T07:32:00Z\nd = [true, \"x\"]")
                .expect("valid TOML");
        let json = toml_to_json(&toml::Value::Table(table)).expect("convertible");
        assert_eq!(
            json,
            serde_json::json!({"a": 1, "b": 2.5, "c": "1979-05-27T07:32:00Z", "d": [true, "x"]})
        );
        assert!(toml_to_json(&toml::Value::Float(f64::NAN)).is_err());
    }
}
