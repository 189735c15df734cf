//! The error responses of the editor API, declared once for the OpenAPI
//! document: each is an RFC 9457 problem with a fixed status. Handlers list
//! the ones they can return.

use utoipa::IntoResponses;

use super::model::ProblemDoc;

macro_rules! problems {
    ($($(#[$doc:meta])* $name:ident = $status:literal;)*) => {
        $(
            $(#[$doc])*
            #[derive(IntoResponses)]
            #[response(status = $status, content_type = "application/problem+json")]
            #[allow(dead_code)] // exists for its schema
            pub struct $name(ProblemDoc);
        )*
    };
}

problems! {
    /// Malformed request: bad JSON, unknown top-level field, bad query parameter or If-Match.
    BadRequest = 400;
    /// Missing, unknown or revoked token (with `WWW-Authenticate: Bearer`).
    Unauthorized = 401;
    /// The token's role does not allow this operation.
    Forbidden = 403;
    /// No such content type, entry, revision or token.
    NotFound = 404;
    /// Conflicting state: a slug or name already taken, an entry not published, a concurrent change, or (code `referenced`, with `referrers`) published entries still referring to the entry being withdrawn.
    Conflict = 409;
    /// The entry is not at the `If-Match` version; nothing changed.
    PreconditionFailed = 412;
    /// A change that must name a version came without `If-Match` (RFC 6585); send the entry's ETag, or `*`.
    PreconditionRequired = 428;
    /// The request body is over the configured limit (an image over `--max-upload-bytes`).
    PayloadTooLarge = 413;
    /// The request body is not JSON; or an upload is not a JPEG, PNG or WebP image (SVG, GIF, HEIC…: the format is named).
    UnsupportedMediaType = 415;
    /// Invalid slug or data (code `validation-failed`: every problem, each with a JSON Pointer); or an image that cannot be used (code `unprocessable`: damaged, cut short, too many pixels), the detail naming what is wrong.
    Unprocessable = 422;
    /// The database is unavailable (with `Retry-After`).
    Unavailable = 503;
}
