//! Requests the front refuses: why (a fixed set of reasons, each with its
//! status), counted in `keel_http_rejected_total{reason}` and logged at
//! debug only, since anyone can send them (one line each would be a log
//! flood on demand). The answer is an RFC 9457 problem naming what is
//! wrong, and the connection closes after it: once framing is in doubt,
//! nothing more read on it can be trusted.

use actix_web::http::StatusCode;

/// Why a request was refused; the label of `keel_http_rejected_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// httparse refused the head (bad token, obs-fold, whitespace before a
    /// colon, NUL, bare CR, no version).
    Malformed,
    RequestLineTooLong,
    FieldTooLarge,
    HeadTooLarge,
    TooManyHeaders,
    Host,
    Target,
    ContentLength,
    TransferEncoding,
    UnsupportedCoding,
    Version,
    Expectation,
    BodyTooLarge,
    /// A chunked body that breaks its own framing.
    Chunked,
    /// The head or the body stopped arriving, or the body came too slowly.
    Timeout,
    /// The request bodies being read already hold their memory budget
    /// (`--body-memory-bytes`); the client may retry shortly.
    Busy,
}

impl Reason {
    pub const ALL: [Reason; 16] = [
        Reason::Malformed,
        Reason::RequestLineTooLong,
        Reason::FieldTooLarge,
        Reason::HeadTooLarge,
        Reason::TooManyHeaders,
        Reason::Host,
        Reason::Target,
        Reason::ContentLength,
        Reason::TransferEncoding,
        Reason::UnsupportedCoding,
        Reason::Version,
        Reason::Expectation,
        Reason::BodyTooLarge,
        Reason::Chunked,
        Reason::Timeout,
        Reason::Busy,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::RequestLineTooLong => "request_line_too_long",
            Reason::FieldTooLarge => "field_too_large",
            Reason::HeadTooLarge => "head_too_large",
            Reason::TooManyHeaders => "too_many_headers",
            Reason::Host => "host",
            Reason::Target => "target",
            Reason::ContentLength => "content_length",
            Reason::TransferEncoding => "transfer_encoding",
            Reason::UnsupportedCoding => "unsupported_coding",
            Reason::Version => "version",
            Reason::Expectation => "expectation",
            Reason::BodyTooLarge => "body_too_large",
            Reason::Chunked => "chunked",
            Reason::Timeout => "timeout",
            Reason::Busy => "busy",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Reason::RequestLineTooLong => StatusCode::URI_TOO_LONG,
            // RFC 6585 §5, where nginx answers 400.
            Reason::FieldTooLarge | Reason::HeadTooLarge | Reason::TooManyHeaders => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            Reason::UnsupportedCoding => StatusCode::NOT_IMPLEMENTED,
            Reason::Version => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            Reason::Expectation => StatusCode::EXPECTATION_FAILED,
            Reason::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Reason::Timeout => StatusCode::REQUEST_TIMEOUT,
            Reason::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Reason::Malformed
            | Reason::Host
            | Reason::Target
            | Reason::ContentLength
            | Reason::TransferEncoding
            | Reason::Chunked => StatusCode::BAD_REQUEST,
        }
    }

    /// Seconds a client should wait before trying again (RFC 9110 §10.2.3),
    /// for the refusals that are about the server's state, not the request.
    pub fn retry_after(self) -> Option<&'static [u8]> {
        match self {
            Reason::Busy => Some(b"2"),
            _ => None,
        }
    }

    /// The problem type's code: the label, kebab-case like the API's.
    fn code(self) -> String {
        self.label().replace('_', "-")
    }
}

/// A refused request: the reason and a sentence naming what is wrong.
#[derive(Debug)]
pub struct Rejection {
    pub reason: Reason,
    pub detail: String,
    /// For `HTTP/1.x` with x above 1: where the minor digit is, so the
    /// request can be served as HTTP/1.1 instead (RFC 9112 §2.3).
    pub newer_minor: Option<usize>,
}

impl Rejection {
    pub fn new(reason: Reason, detail: &str) -> Rejection {
        Rejection {
            reason,
            detail: detail.to_owned(),
            newer_minor: None,
        }
    }

    /// The problem document sent with the status.
    pub fn body(&self) -> Vec<u8> {
        let status = self.reason.status();
        let code = self.reason.code();
        let problem = crate::error::Problem {
            type_uri: format!("/problems/{code}"),
            title: status.canonical_reason().unwrap_or("Bad request"),
            status: status.as_u16(),
            detail: self.detail.clone(),
            code: &code,
            errors: None,
            referrers: None,
        };
        serde_json::to_vec(&problem).unwrap_or_default()
    }
}
