//! Conditional GET (RFC 9110 §13): If-None-Match against the chosen
//! representation's ETag, else If-Modified-Since against Last-Modified.
//! Scans header bytes in place; a date is parsed only when a client sends
//! one that is not byte-for-byte our own Last-Modified.

use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::http::header::{HeaderValue, HttpDate, IF_MODIFIED_SINCE, IF_NONE_MATCH};

use super::RequestHeaders;

/// True when the client's copy is current and a 304 should be sent.
/// `etag` is the selected representation's quoted tag; `last_modified` its
/// Unix seconds and `last_modified_value` the header we send for it.
pub fn not_modified<H: RequestHeaders + ?Sized>(
    headers: &H,
    etag: Option<&HeaderValue>,
    last_modified: i64,
    last_modified_value: &HeaderValue,
) -> bool {
    let mut tags = headers.field_values(&IF_NONE_MATCH).peekable();
    if tags.peek().is_some() {
        // §13.2.2: when If-None-Match is present, If-Modified-Since is not
        // evaluated; ETags are the more precise validator.
        let etag = etag.map(HeaderValue::as_bytes);
        return tags.any(|value| none_match_fails(value, etag));
    }
    match headers.field_values(&IF_MODIFIED_SINCE).next() {
        Some(since) => unmodified_since(since, last_modified, last_modified_value),
        None => false,
    }
}

/// Whether an If-None-Match field value matches (so the condition fails and
/// a 304 is due): `*`, or any listed tag equal to ours under the weak
/// comparison (a `W/` prefix is ignored). Malformed members are skipped.
fn none_match_fails(mut value: &[u8], etag: Option<&[u8]>) -> bool {
    loop {
        value = skip_separators(value);
        let Some(&first) = value.first() else {
            return false;
        };
        if first == b'*' {
            return true;
        }
        let unprefixed = value.strip_prefix(b"W/").unwrap_or(value);
        let tag_len = match unprefixed.split_first() {
            Some((b'"', rest)) => rest.iter().position(|&b| b == b'"').map(|end| end + 2),
            _ => None,
        };
        match tag_len {
            Some(len) => {
                if etag == Some(&unprefixed[..len]) {
                    return true;
                }
                value = &unprefixed[len..];
            }
            None => {
                // Not an entity-tag: skip to the next member.
                let next = value.iter().position(|&b| b == b',').unwrap_or(value.len());
                value = &value[next..];
            }
        }
    }
}

fn skip_separators(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|&b| !matches!(b, b' ' | b'\t' | b','))
        .unwrap_or(s.len());
    &s[start..]
}

/// If-Modified-Since holds when the page changed no later than the given
/// date. An invalid date is ignored (§13.1.3), which means "send the page".
fn unmodified_since(since: &[u8], last_modified: i64, ours: &HeaderValue) -> bool {
    // Browsers echo our Last-Modified back verbatim: compare bytes before
    // paying for a date parse.
    if since == ours.as_bytes() {
        return true;
    }
    let Some(date) = std::str::from_utf8(since)
        .ok()
        .and_then(|s| s.parse::<HttpDate>().ok())
    else {
        return false;
    };
    match SystemTime::from(date).duration_since(UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_secs()).is_ok_and(|since| last_modified <= since),
        // A date before 1970 precedes every page.
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderMap, HeaderName};

    use super::*;

    const TAG: &str = "\"abc123-br\"";
    /// 2026-03-01T12:30:00Z
    const LAST_MODIFIED: i64 = 1_772_368_200;
    const LAST_MODIFIED_HTTP: &str = "Sun, 01 Mar 2026 12:30:00 GMT";

    fn check(fields: &[(HeaderName, &str)], etag: Option<&str>) -> bool {
        let mut headers = HeaderMap::new();
        for (name, value) in fields {
            headers.append(
                name.clone(),
                HeaderValue::from_str(value).expect("test header"),
            );
        }
        let etag = etag.map(|e| HeaderValue::from_str(e).expect("test etag"));
        let ours = HeaderValue::from_static(LAST_MODIFIED_HTTP);
        not_modified(&headers, etag.as_ref(), LAST_MODIFIED, &ours)
    }

    fn inm(value: &str) -> bool {
        check(&[(IF_NONE_MATCH, value)], Some(TAG))
    }

    fn ims(value: &str) -> bool {
        check(&[(IF_MODIFIED_SINCE, value)], Some(TAG))
    }

    #[test]
    fn if_none_match_exact_list_weak_and_star() {
        assert!(inm(TAG));
        assert!(inm("\"other\", \"abc123-br\""));
        assert!(inm("\"other\",\"abc123-br\",\"third\""));
        assert!(inm("W/\"abc123-br\""));
        assert!(inm("\"x\", W/\"abc123-br\""));
        assert!(inm("*"));
        assert!(inm("  *  "));
    }

    #[test]
    fn if_none_match_mismatches() {
        assert!(
            !inm("\"abc123\""),
            "identity tag does not match the br representation"
        );
        assert!(!inm("\"abc123-gz\""));
        assert!(!inm("abc123-br"), "unquoted tags are not entity-tags");
        assert!(!inm("\"ABC123-BR\""), "comparison is case-sensitive");
        assert!(!inm("w/\"abc123-br\""), "the weak prefix is case-sensitive");
        assert!(!inm(""));
        assert!(!inm("\"abc123-br"), "unterminated");
        assert!(!inm(",,, ,"));
    }

    #[test]
    fn malformed_members_are_skipped_not_fatal() {
        assert!(inm("junk, \"abc123-br\""));
        assert!(inm("\"a,b\", \"abc123-br\""), "commas may sit inside a tag");
        assert!(!inm("\"abc123-br,\""));
    }

    #[test]
    fn several_if_none_match_lines_are_combined() {
        assert!(check(
            &[(IF_NONE_MATCH, "\"a\""), (IF_NONE_MATCH, TAG)],
            Some(TAG)
        ));
    }

    #[test]
    fn without_an_etag_only_star_matches() {
        assert!(check(&[(IF_NONE_MATCH, "*")], None));
        assert!(!check(&[(IF_NONE_MATCH, TAG)], None));
    }

    #[test]
    fn if_modified_since_compares_seconds() {
        assert!(ims(LAST_MODIFIED_HTTP));
        assert!(ims("Sun, 01 Mar 2026 12:30:01 GMT"));
        assert!(ims("Mon, 01 Jan 2035 00:00:00 GMT"));
        assert!(!ims("Sun, 01 Mar 2026 12:29:59 GMT"));
        assert!(!ims("Thu, 01 Jan 1970 00:00:00 GMT"));
        // Obsolete formats a recipient must accept (RFC 9110 §5.6.7).
        assert!(ims("Sunday, 01-Mar-26 12:30:00 GMT"));
        assert!(ims("Sun Mar  1 12:30:00 2026"));
    }

    #[test]
    fn invalid_if_modified_since_is_ignored() {
        assert!(!ims("yesterday"));
        assert!(!ims(""));
        assert!(!ims("Sun, 01 Mar 2026 12:30:00"));
    }

    #[test]
    fn if_none_match_takes_precedence_over_if_modified_since() {
        let both = |tag: &str| {
            check(
                &[
                    (IF_NONE_MATCH, tag),
                    (IF_MODIFIED_SINCE, LAST_MODIFIED_HTTP),
                ],
                Some(TAG),
            )
        };
        assert!(
            !both("\"stale\""),
            "a mismatching tag wins over a matching date"
        );
        assert!(both(TAG));
    }

    #[test]
    fn no_validators_means_modified() {
        assert!(!check(&[], Some(TAG)));
    }
}
