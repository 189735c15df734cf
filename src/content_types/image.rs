//! The `image` field kind: an uploaded image placed in an entry, with the
//! words that belong to this use of it (`{"media": "<uuid>", "alt": "…",
//! "caption": "…", "credit": "…"}`). Checks the shape only; whether the
//! media exists is the editor's question at publish, and what it renders
//! to is the renderer's.

use serde_json::{Map, Value};

use super::model::{ContentType, FieldKind};
use super::validate::{FieldError, escape_pointer, json_kind, text};
use crate::model::MediaId;

/// Longest alt text, in characters: a sentence or two, not an essay.
pub const MAX_ALT_LEN: u32 = 500;
/// Longest caption, in characters.
pub const MAX_CAPTION_LEN: u32 = 1000;
/// Longest credit, in characters.
pub const MAX_CREDIT_LEN: u32 = 200;

/// The keys an image value may have.
const KEYS: [&str; 4] = ["media", "alt", "caption", "credit"];

/// One image value found in an entry's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUse {
    pub media: MediaId,
    /// JSON Pointer of the value, e.g. `/data/hero` or `/data/gallery/2`.
    pub pointer: String,
}

/// Checks an image value, pushing each problem at the pointer of the key it
/// is about; returns the value normalised (text trimmed, the id lowercase
/// and hyphenated, empty optional texts left out) when there was none.
pub(super) fn check_image(
    value: &Value,
    pointer: &str,
    errors: &mut Vec<FieldError>,
) -> Option<Value> {
    let Value::Object(object) = value else {
        errors.push(FieldError {
            pointer: pointer.to_owned(),
            message: format!(
                "expected an image: an object with media and alt (got {})",
                json_kind(value)
            ),
        });
        return None;
    };
    let before = errors.len();
    let mut push = |key: &str, message: String| {
        errors.push(FieldError {
            pointer: format!("{pointer}/{}", escape_pointer(key)),
            message,
        });
    };
    for key in object.keys().filter(|k| !KEYS.contains(&k.as_str())) {
        push(
            key,
            format!("unknown key {key:?}: an image has media, alt, caption and credit"),
        );
    }
    let mut out = Map::new();
    match object.get("media").filter(|v| !v.is_null()) {
        None => push("media", "is required: the id of an uploaded image".into()),
        Some(v) => match v.as_str().map(str::parse::<MediaId>) {
            Some(Ok(id)) => {
                out.insert("media".into(), Value::String(id.to_string()));
            }
            _ => push(
                "media",
                format!("must be the UUID of an uploaded image (got {v})"),
            ),
        },
    }
    match object.get("alt").filter(|v| !v.is_null()) {
        None => push(
            "alt",
            "is required: describe the image for readers who cannot see it".into(),
        ),
        Some(v) => match text(v, Some(MAX_ALT_LEN)).map(str::trim) {
            Ok("") => push(
                "alt",
                "must not be empty: describe the image for readers who cannot see it".into(),
            ),
            Ok(alt) => {
                out.insert("alt".into(), Value::from(alt));
            }
            Err(message) => push("alt", message),
        },
    }
    for (key, max) in [("caption", MAX_CAPTION_LEN), ("credit", MAX_CREDIT_LEN)] {
        let Some(v) = object.get(key).filter(|v| !v.is_null()) else {
            continue;
        };
        match text(v, Some(max)).map(str::trim) {
            Ok("") => {}
            Ok(s) => {
                out.insert(key.into(), Value::from(s));
            }
            Err(message) => push(key, message),
        }
    }
    (errors.len() == before).then_some(Value::Object(out))
}

/// The media id of an image value, when it names one.
pub fn media_of(value: &Value) -> Option<MediaId> {
    value.get("media")?.as_str()?.parse().ok()
}

impl ContentType {
    /// Names of the image and list-of-image fields, in declared order.
    pub fn image_fields(&self) -> impl Iterator<Item = &str> {
        self.fields
            .values()
            .filter(|f| is_image(&f.kind))
            .map(|f| f.name.as_str())
    }

    /// True when the type has an image or list-of-image field.
    pub fn has_images(&self) -> bool {
        self.image_fields().next().is_some()
    }

    /// Every image in `data` that names a media id (malformed values are
    /// skipped), in field order, for existence checks and the media-use
    /// rows.
    pub fn images(&self, data: &Value) -> Vec<ImageUse> {
        let mut found = Vec::new();
        for name in self.image_fields() {
            let pointer = format!("/data/{name}");
            match data.get(name) {
                Some(Value::Array(items)) => {
                    for (i, item) in items.iter().enumerate() {
                        if let Some(media) = media_of(item) {
                            found.push(ImageUse {
                                media,
                                pointer: format!("{pointer}/{i}"),
                            });
                        }
                    }
                }
                Some(one) => {
                    if let Some(media) = media_of(one) {
                        found.push(ImageUse { media, pointer });
                    }
                }
                None => {}
            }
        }
        found
    }
}

/// An image, or a list of them.
pub fn is_image(kind: &FieldKind) -> bool {
    match kind {
        FieldKind::Image => true,
        FieldKind::List { of, .. } => matches!(of.as_ref(), FieldKind::Image),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ID: &str = "0190b2a4-7c1e-7d3a-9f00-1234567890ab";

    fn check(value: Value) -> Result<Value, Vec<(String, String)>> {
        let mut errors = Vec::new();
        match check_image(&value, "/data/hero", &mut errors) {
            Some(v) if errors.is_empty() => Ok(v),
            _ => Err(errors.into_iter().map(|e| (e.pointer, e.message)).collect()),
        }
    }

    #[test]
    fn a_full_image_is_normalised() {
        let upper = ID.to_uppercase();
        let checked = check(json!({
            "media": upper, "alt": "  The captain lifts the cup ",
            "caption": "Champions again", "credit": " Photo: A. Reporter", "extra": null,
        }));
        assert!(checked.is_err(), "unknown keys are refused even when null");
        let checked = check(json!({
            "media": upper, "alt": "  The captain lifts the cup ",
            "caption": "Champions again", "credit": " Photo: A. Reporter",
        }))
        .expect("valid");
        assert_eq!(
            checked,
            json!({
                "media": ID, "alt": "The captain lifts the cup",
                "caption": "Champions again", "credit": "Photo: A. Reporter",
            })
        );
        let bare = check(json!({"media": ID, "alt": "x", "caption": " ", "credit": null}));
        assert_eq!(bare.expect("valid"), json!({"media": ID, "alt": "x"}));
    }

    #[test]
    fn each_problem_is_named_at_its_key() {
        let errors = check(json!({"media": "not-a-uuid", "alt": "   ", "size": 3})).unwrap_err();
        let pointers: Vec<&str> = errors.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            pointers,
            ["/data/hero/size", "/data/hero/media", "/data/hero/alt"]
        );
        assert!(errors[0].1.contains("unknown key \"size\""), "{errors:?}");
        assert!(errors[1].1.contains("UUID"), "{errors:?}");
        assert!(errors[2].1.contains("must not be empty"), "{errors:?}");

        let missing = check(json!({})).unwrap_err();
        assert_eq!(
            missing.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
            ["/data/hero/media", "/data/hero/alt"]
        );
        assert!(missing.iter().all(|(_, m)| m.starts_with("is required")));

        let long = check(json!({"media": ID, "alt": "a".repeat(501), "credit": 7})).unwrap_err();
        assert_eq!(long[0].0, "/data/hero/alt");
        assert!(long[0].1.contains("at most 500"), "{long:?}");
        assert_eq!(long[1].0, "/data/hero/credit");

        let not_object = check(json!(ID)).unwrap_err();
        assert_eq!(not_object[0].0, "/data/hero");
        assert!(not_object[0].1.contains("got a string"), "{not_object:?}");
        assert!(check(json!({"media": 12, "alt": "x"})).is_err());
    }
}
