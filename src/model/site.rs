//! The site's settings: its name, public origin, description and time
//! zone, as an admin sets them in the app. Stored as a JSON object in the
//! store (versioned); read by the renderer for every page's `site`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::content_types::FieldError;

/// The name pages carry until an admin sets one.
pub const DEFAULT_SITE_NAME: &str = "keel";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteSettings {
    /// In every `<title>`, the header and `og:site_name`.
    pub name: String,
    /// The public origin (`https://news.example`), for canonical URLs,
    /// OpenGraph and sitemaps; empty: the `--base-url` flag's.
    #[serde(default)]
    pub base_url: String,
    /// The meta description of pages that have none of their own.
    #[serde(default)]
    pub description: String,
    /// An IANA zone (`Europe/London`): how the site shows times.
    #[serde(default = "utc")]
    pub time_zone: String,
}

fn utc() -> String {
    "UTC".into()
}

impl Default for SiteSettings {
    fn default() -> Self {
        SiteSettings {
            name: DEFAULT_SITE_NAME.into(),
            base_url: String::new(),
            description: String::new(),
            time_zone: utc(),
        }
    }
}

impl SiteSettings {
    /// The stored object, with defaults for what it lacks (`{}` before the
    /// first save).
    pub fn from_stored(data: &Value) -> SiteSettings {
        let mut settings = SiteSettings::default();
        if let Some(o) = data.as_object() {
            let text = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_owned);
            if let Some(name) = text("name").filter(|n| !n.trim().is_empty()) {
                settings.name = name;
            }
            settings.base_url = text("base_url").unwrap_or_default();
            settings.description = text("description").unwrap_or_default();
            if let Some(tz) = text("time_zone").filter(|t| t.parse::<chrono_tz::Tz>().is_ok()) {
                settings.time_zone = tz;
            }
        }
        settings
    }

    /// Checks what an admin submitted; every problem at its pointer.
    pub fn validate(self) -> Result<SiteSettings, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut problem = |field: &str, message: String| {
            errors.push(FieldError {
                pointer: format!("/{field}"),
                message,
            })
        };
        let name = self.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 100 {
            problem("name", "must be 1 to 100 characters".into());
        }
        let description = self.description.trim().to_owned();
        if description.chars().count() > 300 {
            problem("description", "must be at most 300 characters".into());
        }
        let base_url = self.base_url.trim().trim_end_matches('/').to_owned();
        if !base_url.is_empty() {
            match url::Url::parse(&base_url) {
                Ok(u)
                    if matches!(u.scheme(), "http" | "https")
                        && u.host_str().is_some()
                        && u.query().is_none()
                        && u.fragment().is_none() => {}
                _ => problem(
                    "base_url",
                    format!("{base_url:?} is not an http(s) origin like https://news.example"),
                ),
            }
        }
        let time_zone = self.time_zone.trim().to_owned();
        if time_zone.parse::<chrono_tz::Tz>().is_err() {
            problem(
                "time_zone",
                format!("{time_zone:?} is not a time zone name like Europe/London or UTC"),
            );
        }
        if errors.is_empty() {
            Ok(SiteSettings {
                name,
                base_url,
                description,
                time_zone,
            })
        } else {
            Err(errors)
        }
    }

    pub fn zone(&self) -> chrono_tz::Tz {
        self.time_zone.parse().unwrap_or(chrono_tz::UTC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stored_settings_fill_in_defaults() {
        assert_eq!(
            SiteSettings::from_stored(&json!({})),
            SiteSettings::default()
        );
        let s =
            SiteSettings::from_stored(&json!({"name": "Matchday", "time_zone": "Nowhere/Else"}));
        assert_eq!(s.name, "Matchday");
        assert_eq!(s.time_zone, "UTC", "an unknown zone is not used");
    }

    #[test]
    fn every_bad_setting_is_named() {
        let bad = SiteSettings {
            name: " ".into(),
            base_url: "ftp://x".into(),
            description: "x".repeat(301),
            time_zone: "Mars/Olympus".into(),
        };
        let pointers: Vec<String> = bad
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.pointer)
            .collect();
        assert_eq!(
            pointers,
            ["/name", "/description", "/base_url", "/time_zone"]
        );
        let good = SiteSettings {
            name: " Matchday ".into(),
            base_url: "https://news.example/".into(),
            description: "Scores".into(),
            time_zone: "Europe/London".into(),
        }
        .validate()
        .unwrap();
        assert_eq!(good.base_url, "https://news.example");
        assert_eq!(good.name, "Matchday");
    }
}
