//! The rules that depend on a request's header lines: their size, `Host`,
//! `Connection`, `Expect` and the body's framing (RFC 9112 §6), read in
//! one pass; and the byte classes the path and `Host` checks use.

use httparse::Header;

use super::head::{BodyFraming, MAX_FIELD_LINE};
use super::reject::{Reason, Rejection};

/// What the header lines say about framing and the connection.
pub(super) struct Fields {
    pub close: bool,
    pub keep_alive: bool,
    pub body: BodyFraming,
    pub expect_continue: bool,
}

impl Fields {
    /// One pass over the header lines, with every rule that depends on
    /// them: their size, `Host`, `Connection`, `Expect` and the framing.
    pub fn read(headers: &[Header<'_>], http10: bool) -> Result<Fields, Rejection> {
        let mut fields = Fields {
            close: false,
            keep_alive: false,
            body: BodyFraming::None,
            expect_continue: false,
        };
        let mut hosts = 0u32;
        let mut lengths: Option<&[u8]> = None;
        let mut codings = Codings::default();
        for header in headers {
            let name = header.name;
            let value = header.value;
            if name.len() + value.len() > MAX_FIELD_LINE {
                return Err(Rejection::new(
                    Reason::FieldTooLarge,
                    "a header line is over 8 KiB",
                ));
            }
            if name.eq_ignore_ascii_case("host") {
                hosts += 1;
                if !is_host(value.trim_ascii()) {
                    return Err(Rejection::new(
                        Reason::Host,
                        "the Host header is not a valid host",
                    ));
                }
            } else if name.eq_ignore_ascii_case("connection") {
                for token in value.split(|&b| b == b',') {
                    let token = token.trim_ascii();
                    if token.eq_ignore_ascii_case(b"close") {
                        fields.close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        fields.keep_alive = true;
                    }
                }
            } else if name.eq_ignore_ascii_case("content-length") {
                if lengths.replace(value).is_some() {
                    return Err(Rejection::new(
                        Reason::ContentLength,
                        "more than one Content-Length header",
                    ));
                }
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                codings.add(value);
            } else if name.eq_ignore_ascii_case("expect") {
                if !value.trim_ascii().eq_ignore_ascii_case(b"100-continue") {
                    return Err(Rejection::new(
                        Reason::Expectation,
                        "the only expectation this server meets is 100-continue",
                    ));
                }
                fields.expect_continue = true;
            }
        }
        // RFC 9112 §3.2: exactly one Host in HTTP/1.1, at most one in 1.0.
        if hosts > 1 || (hosts == 0 && !http10) {
            return Err(Rejection::new(
                Reason::Host,
                "an HTTP/1.1 request needs exactly one Host header",
            ));
        }
        fields.body = match (codings.seen, lengths) {
            (true, _) => codings.framing(http10, lengths.is_some())?,
            (false, Some(value)) => content_length(value)?,
            (false, None) => BodyFraming::None,
        };
        if fields.body == BodyFraming::None {
            // Nothing to wait for.
            fields.expect_continue = false;
        }
        Ok(fields)
    }
}

/// `Content-Length`: digits only (RFC 9110 §8.6), one value. A list such
/// as `5, 5` is refused like two lines, as nginx does.
fn content_length(value: &[u8]) -> Result<BodyFraming, Rejection> {
    let digits = value.trim_ascii();
    let invalid = || {
        Rejection::new(
            Reason::ContentLength,
            "Content-Length must be a single decimal number",
        )
    };
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    let length = digits
        .iter()
        .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
    Ok(match length {
        0 => BodyFraming::None,
        n => BodyFraming::Length(n),
    })
}

/// The transfer codings named across every `Transfer-Encoding` line, in
/// order.
#[derive(Default)]
struct Codings {
    seen: bool,
    chunked: u32,
    last_is_chunked: bool,
    others: bool,
}

impl Codings {
    fn add(&mut self, value: &[u8]) {
        self.seen = true;
        for coding in value.split(|&b| b == b',') {
            let coding = coding.trim_ascii();
            if coding.is_empty() {
                continue;
            }
            self.last_is_chunked = coding.eq_ignore_ascii_case(b"chunked");
            if self.last_is_chunked {
                self.chunked += 1;
            } else {
                self.others = true;
            }
        }
    }

    /// RFC 9112 §6.1 and §6.3: chunked must come last and once, never
    /// beside Content-Length (a smuggling vector) nor in HTTP/1.0; other
    /// codings are not implemented (501).
    fn framing(&self, http10: bool, with_length: bool) -> Result<BodyFraming, Rejection> {
        let refuse = |detail| Err(Rejection::new(Reason::TransferEncoding, detail));
        if http10 {
            return refuse("Transfer-Encoding is not allowed in an HTTP/1.0 request");
        }
        if with_length {
            return refuse("a request may not carry both Transfer-Encoding and Content-Length");
        }
        if !self.last_is_chunked || self.chunked != 1 {
            return refuse("chunked must be the final transfer coding, applied once");
        }
        if self.others {
            return Err(Rejection::new(
                Reason::UnsupportedCoding,
                "only the chunked transfer coding is implemented",
            ));
        }
        Ok(BodyFraming::Chunked)
    }
}

/// RFC 9110 §7.2: `uri-host [ ":" port ]`, possibly empty; checked
/// generously (reg-name, IPv4 and IP-literal characters).
fn is_host(value: &[u8]) -> bool {
    value.iter().all(|&b| HOST[usize::from(b)])
}

/// Byte classes as tables: one load per byte on the hit path, where a
/// chain of comparisons cost about ten instructions a byte.
const fn byte_class(extra: &[u8]) -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        table[extra[i] as usize] = true;
        i += 1;
    }
    table
}

/// RFC 3986 unreserved, sub-delims, `:`, `%` and the brackets of an IP
/// literal.
const HOST: [bool; 256] = byte_class(b"-._~%!$&'()*+,;=:[]");

/// RFC 3986 `pchar` and `/`, without `%`: unreserved, sub-delims, `:`, `@`.
pub(super) const PLAIN: [bool; 256] = byte_class(b"-._~!$&'()*+,;=:@/");
