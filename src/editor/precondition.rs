//! `If-Match` on an entry's version (RFC 9110, section 13.1.1): `*`, or a
//! list of entity tags compared strongly with the entry's ETag (`"<version>"`).
//! A weak tag (`W/"3"`) or a tag that is not a version never matches, so the
//! request fails its precondition (412) rather than being called malformed.

use crate::error::AppError;
use crate::model::Entry;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum IfMatch {
    /// No header, or `*` (the entry exists, whatever its version).
    #[default]
    Any,
    /// The versions named by strong tags, and the header as sent (for the
    /// error message).
    Tags { versions: Vec<i64>, raw: String },
}

impl IfMatch {
    /// Parses a header value; `Err` names what is malformed.
    pub fn parse(raw: &str) -> Result<IfMatch, String> {
        let trimmed = raw.trim();
        if trimmed == "*" {
            return Ok(IfMatch::Any);
        }
        let mut versions = Vec::new();
        let mut rest = trimmed;
        loop {
            rest = rest.trim_start();
            let weak = rest.starts_with("W/");
            if weak {
                rest = &rest[2..];
            }
            let Some(tail) = rest.strip_prefix('"') else {
                return Err(format!(
                    "If-Match must be * or entity tags in quotes, as in the ETag (e.g. \"3\"); got {trimmed:?}"
                ));
            };
            let Some(end) = tail.find('"') else {
                return Err(format!(
                    "If-Match has an unterminated entity tag: {trimmed:?}"
                ));
            };
            let opaque = &tail[..end];
            if !weak && let Ok(version) = opaque.parse::<i64>() {
                versions.push(version);
            }
            rest = tail[end + 1..].trim_start();
            if rest.is_empty() {
                break;
            }
            let Some(next) = rest.strip_prefix(',') else {
                return Err(format!(
                    "If-Match entity tags must be separated by commas: {trimmed:?}"
                ));
            };
            rest = next;
        }
        Ok(IfMatch::Tags {
            versions,
            raw: trimmed.to_owned(),
        })
    }

    /// Exactly this version, as `If-Match: "<version>"` says.
    pub fn version(version: i64) -> IfMatch {
        IfMatch::Tags {
            versions: vec![version],
            raw: format!("\"{version}\""),
        }
    }

    pub fn is_any(&self) -> bool {
        matches!(self, IfMatch::Any)
    }

    /// `Ok` when `current` satisfies the precondition.
    pub fn check(&self, current: &Entry) -> Result<(), AppError> {
        match self {
            IfMatch::Any => Ok(()),
            IfMatch::Tags { versions, .. } if versions.contains(&current.version) => Ok(()),
            IfMatch::Tags { raw, .. } => Err(AppError::VersionMismatch {
                expected: raw.clone(),
                found: current.version,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(raw: &str) -> Vec<i64> {
        match IfMatch::parse(raw).unwrap() {
            IfMatch::Tags { versions, .. } => versions,
            IfMatch::Any => panic!("{raw} parsed as *"),
        }
    }

    #[test]
    fn star_and_lists_of_strong_tags() {
        assert_eq!(IfMatch::parse(" * "), Ok(IfMatch::Any));
        assert_eq!(tags("\"3\""), [3]);
        assert_eq!(tags("\"3\", \"4\",\"7\""), [3, 4, 7]);
    }

    #[test]
    fn weak_and_foreign_tags_never_match() {
        assert_eq!(tags("W/\"3\""), Vec::<i64>::new());
        assert_eq!(tags("W/\"3\", \"4\""), [4]);
        assert_eq!(tags("\"abc\""), Vec::<i64>::new());
        // A comma inside an opaque tag is part of it.
        assert_eq!(tags("\"1,2\", \"5\""), [5]);
    }

    #[test]
    fn malformed_headers_are_named() {
        for raw in ["3", "\"3", "\"3\" \"4\"", "W/3", ""] {
            let err = IfMatch::parse(raw).unwrap_err();
            assert!(err.contains("If-Match"), "{raw:?}: {err}");
        }
    }
}
