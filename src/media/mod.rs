//! Media: turns the bytes of an uploaded image into the responsive
//! variants readers get, once, with nothing of the original's metadata.
//!
//! Pure: no store, no HTTP, no clock. The upload API calls [`inspect`] to
//! refuse a bad file cheaply, then [`variants`] off the request threads;
//! storing and serving what comes back is the caller's.
//!
//! - The format is sniffed from the bytes ([`Format`]: JPEG, PNG, WebP).
//!   Anything else is refused with an [`MediaError`] naming what it looks
//!   like; SVG has an error of its own. An animated WebP or PNG is taken
//!   as its first frame.
//! - Size limits ([`Limits`]) are checked before any pixel is decoded: the
//!   file's length, then the dimensions its header claims (decompression
//!   bombs), then the decoders run under a memory limit.
//! - The EXIF orientation is applied, an embedded ICC profile is converted
//!   to sRGB, and every variant is re-encoded from pixels: no EXIF (so no
//!   GPS position), no XMP, no ICC profile reaches a reader. The outputs are
//!   untagged sRGB, which is what browsers assume.
//! - Widths [`WIDTHS`], never upscaled, each as lossy WebP and a fallback:
//!   JPEG for opaque images, PNG for images with transparency.
//! - An optional [`Crop`] to an aspect ratio around a focal point.

mod crop;
mod decode;
mod encode;
mod parallel;
pub mod samples;
mod sniff;
#[cfg(test)]
mod tests;

use std::fmt;

use sha2::{Digest, Sha256};

pub use crop::{Crop, FocalPoint, Rect, crop_rect};
pub use encode::{JPEG_QUALITY, WEBP_QUALITY, encode_pixels};

/// The widths every image is offered at (CSS pixels at 1x up to a full-width
/// hero at 2x on a phone); see [`variant_widths`] for what a smaller image
/// gets.
pub const WIDTHS: [u32; 4] = [320, 640, 1024, 1600];

/// Hex digits of the content hash: 80 bits, plenty to tell one newsroom's
/// uploads apart while keeping URLs short.
const HASH_HEX_LEN: usize = 20;

/// What one upload may cost.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The largest file accepted, in bytes.
    pub max_bytes: usize,
    /// The most pixels (width × height, as the header claims) accepted;
    /// checked before decoding.
    pub max_pixels: u64,
    /// At most this many threads (the calling one included) resize and
    /// encode one upload's variants. The caller bounds how many uploads
    /// run at once; this bounds each one.
    pub max_threads: usize,
}

impl Default for Limits {
    /// 20 MiB and 50 megapixels: a full-resolution file from a current
    /// full-frame camera fits, and decoding the largest accepted image
    /// takes at most about 200 MB (RGBA).
    fn default() -> Self {
        Limits {
            max_bytes: 20 * 1024 * 1024,
            max_pixels: 50_000_000,
            max_threads: std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(4),
        }
    }
}

/// The accepted formats, of a source and of a variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Jpeg,
    Png,
    Webp,
}

impl Format {
    pub fn mime(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Webp => "image/webp",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::Png => "png",
            Format::Webp => "webp",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Jpeg => "JPEG",
            Format::Png => "PNG",
            Format::Webp => "WebP",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an upload is, as sniffed and measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub format: Format,
    /// Upright width and height: after the EXIF orientation, before any crop.
    pub width: u32,
    pub height: u32,
    /// From [`inspect`]: the file has an alpha channel. From [`variants`]:
    /// some pixel is actually transparent (an opaque image stored with an
    /// alpha channel gets a JPEG fallback, not a PNG).
    pub has_alpha: bool,
    /// The first 80 bits of the SHA-256 of the uploaded bytes, in lowercase
    /// hex: the same upload always gets the same immutable URLs. A cropped
    /// set must add the crop to its key: the hash names the original.
    pub hash: String,
}

/// One encoded variant, ready to store and serve as is.
#[derive(Clone, PartialEq, Eq)]
pub struct Variant {
    pub width: u32,
    pub height: u32,
    pub format: Format,
    pub bytes: Vec<u8>,
}

impl fmt::Debug for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Variant")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("format", &self.format)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// Why an upload was refused (every variant but [`MediaError::Resize`] and
/// [`MediaError::Encode`] is the uploader's to fix: 413 for [`MediaError::TooLarge`], 415 for a
/// format refused, 422 for the rest) or could not be processed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum MediaError {
    #[error("the file is empty")]
    Empty,
    #[error(
        "the file is {} but an upload may be at most {}",
        megabytes(*bytes as u64),
        megabytes(*max as u64)
    )]
    TooLarge { bytes: usize, max: usize },
    #[error(
        "the image is {width}×{height} pixels ({}); an upload may have at most {}",
        megapixels(u64::from(*width) * u64::from(*height)),
        megapixels(*max)
    )]
    TooManyPixels { width: u32, height: u32, max: u64 },
    #[error(
        "the image is {width}×{height} pixels: too tall for its width to be offered \
         (a variant may be at most {max} pixels tall)"
    )]
    TooTall { width: u32, height: u32, max: u32 },
    #[error(
        "SVG images are refused: they can carry scripts and links; \
         export the graphic as PNG or WebP and upload that"
    )]
    Svg,
    #[error("the file looks like {what}, which is not accepted: upload a JPEG, PNG or WebP image")]
    Unsupported { what: &'static str },
    #[error("the file is not an image in a known format: upload a JPEG, PNG or WebP image")]
    Unrecognised,
    #[error("the {format} file is damaged: {problem}")]
    Corrupt { format: Format, problem: String },
    #[error("the {format} file can't be decoded: {problem}; re-save it as a standard {format}")]
    Undecodable { format: Format, problem: String },
    #[error("the crop is invalid: {problem}")]
    InvalidCrop { problem: &'static str },
    #[error("the image could not be resized: {problem}")]
    Resize { problem: String },
    #[error("the {format} variant could not be made: {problem}")]
    Encode { format: Format, problem: String },
}

fn megabytes(bytes: u64) -> String {
    if bytes >= 1_000_000 {
        format!("{:.1} MB", bytes as f64 / 1_000_000.0)
    } else {
        format!("{} kB", bytes.div_ceil(1000))
    }
}

fn megapixels(pixels: u64) -> String {
    format!("{:.1} megapixels", pixels as f64 / 1_000_000.0)
}

/// Sniffs the format and reads the header: no pixel is decoded. Refuses
/// what [`variants`] would refuse before decoding (size, format, pixel
/// count, a file cut short where that shows without decoding).
pub fn inspect(bytes: &[u8], limits: &Limits) -> Result<Source, MediaError> {
    let format = check_bytes(bytes, limits)?;
    let header = decode::open(bytes, format, limits)?;
    let (width, height) = header.upright_dimensions();
    Ok(Source {
        format,
        width,
        height,
        has_alpha: header.has_alpha_channel(),
        hash: content_hash(bytes),
    })
}

/// Decodes the upload once and makes every variant: for each of
/// [`variant_widths`] of the (cropped) image, a lossy WebP and a JPEG (or a
/// PNG where some pixel is transparent), ordered by width, WebP first.
///
/// Synchronous and CPU-bound (about half a second for a 12-megapixel photo
/// on two threads): call it off the request threads.
pub fn variants(
    bytes: &[u8],
    limits: &Limits,
    crop: Option<Crop>,
) -> Result<(Source, Vec<Variant>), MediaError> {
    let format = check_bytes(bytes, limits)?;
    let header = decode::open(bytes, format, limits)?;
    let image = header.decode()?;
    let rect = match crop {
        Some(crop) => crop_rect(image.width, image.height, &crop)?,
        None => Rect::full(image.width, image.height),
    };
    let source = Source {
        format,
        width: image.width,
        height: image.height,
        has_alpha: image.alpha,
        hash: content_hash(bytes),
    };
    let variants = encode::variants(image, rect, limits.max_threads)?;
    Ok((source, variants))
}

/// The widths made for an image (or crop) `width` pixels wide: those of
/// [`WIDTHS`] it can fill, plus its own width when it is narrower than the
/// largest and not already listed, so a small image is still offered at
/// full sharpness. Never wider than the image: upscaling adds bytes, not
/// detail.
pub fn variant_widths(width: u32) -> Vec<u32> {
    let mut widths: Vec<u32> = WIDTHS.iter().copied().filter(|&w| w <= width).collect();
    let largest = WIDTHS[WIDTHS.len() - 1];
    if width < largest && !widths.contains(&width) {
        widths.push(width);
    }
    widths
}

fn check_bytes(bytes: &[u8], limits: &Limits) -> Result<Format, MediaError> {
    if bytes.is_empty() {
        return Err(MediaError::Empty);
    }
    if bytes.len() > limits.max_bytes {
        return Err(MediaError::TooLarge {
            bytes: bytes.len(),
            max: limits.max_bytes,
        });
    }
    let format = sniff::sniff(bytes)?;
    sniff::check_complete(bytes, format)?;
    Ok(format)
}

fn content_hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut hash = hex::encode(digest);
    hash.truncate(HASH_HEX_LEN);
    hash
}
