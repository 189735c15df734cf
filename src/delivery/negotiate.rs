//! Accept-Encoding negotiation (RFC 9110 §12.5.3) over the encodings a page
//! is stored in. Runs on every request, so it scans the header bytes in place
//! and never allocates.

use actix_web::http::header::ACCEPT_ENCODING;

use super::RequestHeaders;
use crate::cache::{CachedPage, Encoding};

/// A q-value in thousandths: RFC 9110 §12.4.2 allows three decimals, so
/// integers compare exactly where floats would not.
type Weight = u16;

const FULL: Weight = 1000;

/// An unlisted identity is acceptable but least preferred: the lowest
/// weight above a refusal, so `br;q=0.5` still picks br, as the client
/// meant, instead of losing to an identity it never asked for.
const IMPLICIT_IDENTITY: Weight = 1;

/// The weights a request gave to the codings keel can send; `None` when the
/// coding was not listed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Preferences {
    br: Option<Weight>,
    gzip: Option<Weight>,
    identity: Option<Weight>,
    any: Option<Weight>,
}

/// Picks the representation of `page` to send for these request headers.
pub fn negotiate<H: RequestHeaders + ?Sized>(headers: &H, page: &CachedPage) -> Encoding {
    let mut values = headers.field_values(&ACCEPT_ENCODING).peekable();
    // No field: any coding is acceptable, but identity is what every
    // client (and every tool a human points at us) can read.
    if values.peek().is_none() {
        return Encoding::Identity;
    }
    let mut prefs = Preferences::default();
    for value in values {
        prefs.add(value);
    }
    prefs.choose(page.has(Encoding::Brotli), page.has(Encoding::Gzip))
}

impl Preferences {
    /// Adds one field line. A listed coding keeps its first weight; an
    /// element with a malformed weight is ignored as if it were not sent.
    fn add(&mut self, value: &[u8]) {
        for element in value.split(|&b| b == b',') {
            let mut parts = element.split(|&b| b == b';');
            let coding = trim(parts.next().unwrap_or_default());
            let mut weight = Some(FULL);
            for param in parts {
                let param = trim(param);
                if let Some(q) = param
                    .strip_prefix(b"q=")
                    .or_else(|| param.strip_prefix(b"Q="))
                {
                    weight = parse_weight(trim(q));
                }
            }
            let Some(weight) = weight else { continue };
            // Dispatch on length first: most elements are then rejected or
            // accepted with a single comparison.
            let slot = match coding.len() {
                1 if coding == b"*" => &mut self.any,
                2 if coding.eq_ignore_ascii_case(b"br") => &mut self.br,
                4 if coding.eq_ignore_ascii_case(b"gzip") => &mut self.gzip,
                6 if coding.eq_ignore_ascii_case(b"x-gzip") => &mut self.gzip,
                8 if coding.eq_ignore_ascii_case(b"identity") => &mut self.identity,
                _ => continue,
            };
            slot.get_or_insert(weight);
        }
    }

    /// The available coding with the highest weight; ties go to the smaller
    /// body (br, then gzip, then identity). Identity is acceptable unless
    /// refused; when everything is refused identity is sent anyway, as RFC
    /// 9110 allows, rather than a 406 nobody handles.
    fn choose(&self, has_br: bool, has_gzip: bool) -> Encoding {
        let weight =
            |listed: Option<Weight>, default: Weight| listed.or(self.any).unwrap_or(default);
        let candidates = [
            (
                Encoding::Brotli,
                if has_br { weight(self.br, 0) } else { 0 },
            ),
            (
                Encoding::Gzip,
                if has_gzip { weight(self.gzip, 0) } else { 0 },
            ),
            (Encoding::Identity, weight(self.identity, IMPLICIT_IDENTITY)),
        ];
        let mut best = (Encoding::Identity, 0);
        for (encoding, w) in candidates {
            if w > best.1 {
                best = (encoding, w);
            }
        }
        best.0
    }
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`.
fn parse_weight(q: &[u8]) -> Option<Weight> {
    let (int, frac) = match q.iter().position(|&b| b == b'.') {
        Some(dot) => (&q[..dot], &q[dot + 1..]),
        None => (q, &[][..]),
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    match int {
        b"1" => frac.iter().all(|&d| d == b'0').then_some(FULL),
        b"0" => {
            let mut thousandths: Weight = 0;
            for i in 0..3 {
                let digit = frac.get(i).map_or(0, |d| Weight::from(d - b'0'));
                thousandths = thousandths * 10 + digit;
            }
            Some(thousandths)
        }
        _ => None,
    }
}

fn trim(s: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = s.iter().position(|b| !is_ows(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !is_ows(b)).map_or(start, |e| e + 1);
    &s[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use Encoding::{Brotli, Gzip, Identity};

    fn prefs(value: &str) -> Preferences {
        let mut p = Preferences::default();
        p.add(value.as_bytes());
        p
    }

    /// The coding chosen for `value` when the page has every encoding.
    fn pick(value: &str) -> Encoding {
        prefs(value).choose(true, true)
    }

    #[test]
    fn weights_parse_per_the_grammar() {
        let cases: &[(&str, Option<Weight>)] = &[
            ("1", Some(1000)),
            ("1.", Some(1000)),
            ("1.0", Some(1000)),
            ("1.000", Some(1000)),
            ("0", Some(0)),
            ("0.", Some(0)),
            ("0.5", Some(500)),
            ("0.05", Some(50)),
            ("0.001", Some(1)),
            ("0.999", Some(999)),
            ("1.001", None),
            ("1.5", None),
            ("2", None),
            ("0.0001", None),
            (".5", None),
            ("-1", None),
            ("0.5x", None),
            ("abc", None),
            ("", None),
            ("0..5", None),
        ];
        for (q, want) in cases {
            assert_eq!(parse_weight(q.as_bytes()), *want, "q={q}");
        }
    }

    #[test]
    fn common_browser_headers() {
        assert_eq!(pick("gzip, deflate, br, zstd"), Brotli);
        assert_eq!(pick("gzip, deflate"), Gzip);
        assert_eq!(pick("br"), Brotli);
        assert_eq!(pick("gzip"), Gzip);
        assert_eq!(pick("identity"), Identity);
        assert_eq!(pick("deflate, zstd"), Identity);
        assert_eq!(pick(""), Identity);
    }

    #[test]
    fn highest_weight_wins_and_ties_prefer_br_then_gzip() {
        assert_eq!(pick("br;q=0.5, gzip;q=0.8"), Gzip);
        assert_eq!(pick("br;q=0.8, gzip;q=0.8"), Brotli);
        assert_eq!(pick("gzip;q=1, br;q=1"), Brotli);
        assert_eq!(pick("gzip;q=0.5, identity"), Identity);
        assert_eq!(pick("gzip, identity"), Gzip);
        assert_eq!(pick("br;q=0.001, identity;q=0.001"), Brotli);
    }

    #[test]
    fn zero_refuses_a_coding() {
        assert_eq!(pick("br;q=0, gzip"), Gzip);
        assert_eq!(pick("br;q=0, gzip;q=0"), Identity);
        assert_eq!(pick("br;q=0.000"), Identity);
    }

    #[test]
    fn star_covers_unlisted_codings_only() {
        assert_eq!(pick("*"), Brotli);
        assert_eq!(pick("gzip, *;q=0.5"), Gzip);
        assert_eq!(pick("br;q=0, *"), Gzip);
        assert_eq!(pick("*;q=0, gzip"), Gzip);
        assert_eq!(pick("*;q=0.3, identity;q=0.2"), Brotli);
    }

    #[test]
    fn identity_is_acceptable_unless_refused() {
        // Nothing acceptable is available: identity, as it is not refused.
        assert_eq!(prefs("br").choose(false, false), Identity);
        // Unlisted, it ranks below any listed coding, however low.
        assert_eq!(pick("br;q=0.1"), Brotli);
        assert_eq!(pick("gzip;q=0.001"), Gzip);
        // Explicitly or by `*` refused, identity is still sent when nothing
        // else can be.
        assert_eq!(prefs("identity;q=0").choose(false, false), Identity);
        assert_eq!(prefs("*;q=0").choose(false, false), Identity);
        assert_eq!(prefs("identity;q=0, gzip;q=0.1").choose(true, true), Gzip);
        // `*;q=0` with a more specific identity entry keeps identity.
        assert_eq!(prefs("*;q=0, identity").choose(true, true), Identity);
        assert_eq!(
            prefs("*;q=0, identity;q=0.5, br;q=0.4").choose(true, true),
            Identity
        );
    }

    #[test]
    fn only_available_encodings_are_chosen() {
        assert_eq!(prefs("br").choose(false, true), Identity);
        assert_eq!(prefs("br, gzip").choose(false, true), Gzip);
        assert_eq!(prefs("br;q=0.1, gzip").choose(true, false), Brotli);
        assert_eq!(prefs("*").choose(false, true), Gzip);
        assert_eq!(prefs("*").choose(false, false), Identity);
    }

    #[test]
    fn case_and_whitespace_are_tolerated() {
        assert_eq!(pick("BR"), Brotli);
        assert_eq!(pick("GZip"), Gzip);
        assert_eq!(pick("x-gzip"), Gzip);
        assert_eq!(pick("  br ; q=0 ,\tgzip ;Q=0.9 "), Gzip);
        assert_eq!(pick("br;q=0.2,gzip;q=0.3"), Gzip);
        assert_eq!(pick(",,br,,"), Brotli);
        assert_eq!(pick("br; level=5; q=0.4, gzip;q=0.3"), Brotli);
    }

    #[test]
    fn malformed_weights_drop_the_element() {
        assert_eq!(pick("br;q=abc, gzip"), Gzip);
        assert_eq!(pick("br;q=1.5, gzip;q=0.1"), Gzip);
        assert_eq!(pick("br;q=, gzip;q=0.1"), Gzip);
        assert_eq!(pick("br;q=-1"), Identity);
        // A malformed weight for identity is ignored: it stays acceptable,
        // as an unlisted identity is.
        assert_eq!(prefs("identity;q=x").choose(false, false), Identity);
        assert_eq!(prefs("identity;q=x, gzip;q=0.5").choose(true, true), Gzip);
    }

    #[test]
    fn first_listing_of_a_coding_wins() {
        assert_eq!(pick("br;q=0, br"), Identity);
        assert_eq!(pick("br, br;q=0"), Brotli);
    }

    #[test]
    fn several_field_lines_are_combined() {
        let mut p = Preferences::default();
        p.add(b"br;q=0");
        p.add(b"gzip");
        assert_eq!(p.choose(true, true), Gzip);
    }

    #[test]
    fn non_utf8_and_binary_noise_is_harmless() {
        let mut p = Preferences::default();
        p.add(b"\xff\xfe;q=1, br;q=0.\xff, gzip");
        assert_eq!(p.choose(true, true), Gzip);
    }
}
