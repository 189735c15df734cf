//! From bytes to upright sRGB pixels: the header first (dimensions checked
//! against the limit before any pixel is decoded), then one decode under a
//! memory limit, the EXIF orientation and the ICC profile applied.

use std::io::{self, Cursor};
use std::panic::{self, AssertUnwindSafe};

use image::codecs::jpeg::JpegDecoder;
use image::codecs::png::PngDecoder;
use image::codecs::webp::WebPDecoder;
use image::error::{ImageError, LimitErrorKind};
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder};
use moxcms::{ColorProfile, DataColorSpace, Layout, TransformOptions};

use super::{Format, Limits, MediaError};

/// Headroom over the decoded pixels themselves for a decoder's own buffers
/// (a PNG's compressed chunks, a JPEG's coefficients).
const DECODER_HEADROOM: u64 = 64 * 1024 * 1024;

/// Decoded, upright, sRGB pixels: RGB8, or RGBA8 when some pixel is
/// transparent.
pub(super) struct Pixels {
    pub width: u32,
    pub height: u32,
    pub alpha: bool,
    pub data: Vec<u8>,
}

impl Pixels {
    pub fn channels(&self) -> usize {
        if self.alpha { 4 } else { 3 }
    }
}

/// A decoder that has read the header and nothing else.
pub(super) struct Header<'a> {
    format: Format,
    decoder: Box<dyn ImageDecoder + 'a>,
    orientation: Orientation,
    limits: image::Limits,
}

pub(super) fn open<'a>(
    bytes: &'a [u8],
    format: Format,
    limits: &Limits,
) -> Result<Header<'a>, MediaError> {
    let mut memory = image::Limits::default();
    memory.max_alloc = Some(
        limits
            .max_pixels
            .saturating_mul(8)
            .saturating_add(DECODER_HEADROOM),
    );
    let fail = |error| decode_error(format, error);
    let reader = Cursor::new(bytes);
    let mut decoder = guard(format, || {
        let decoder: Box<dyn ImageDecoder + 'a> = match format {
            Format::Jpeg => Box::new(JpegDecoder::new(reader).map_err(fail)?),
            // The PNG decoder takes its memory limit when it is made, for
            // the chunks it reads before the pixels.
            Format::Png => Box::new(PngDecoder::with_limits(reader, memory.clone()).map_err(fail)?),
            Format::Webp => Box::new(WebPDecoder::new(reader).map_err(fail)?),
        };
        Ok(decoder)
    })?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(MediaError::Corrupt {
            format,
            problem: format!("its header says it is {width}×{height} pixels"),
        });
    }
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(MediaError::TooManyPixels {
            width,
            height,
            max: limits.max_pixels,
        });
    }
    // A damaged EXIF block must not refuse a photo: it is upright or not.
    let orientation =
        guard(format, || Ok(decoder.orientation().ok()))?.unwrap_or(Orientation::NoTransforms);
    Ok(Header {
        format,
        decoder,
        orientation,
        limits: memory,
    })
}

impl Header<'_> {
    pub fn upright_dimensions(&self) -> (u32, u32) {
        let (width, height) = self.decoder.dimensions();
        if turns_sideways(self.orientation) {
            (height, width)
        } else {
            (width, height)
        }
    }

    pub fn has_alpha_channel(&self) -> bool {
        self.decoder.color_type().has_alpha()
    }

    pub fn decode(self) -> Result<Pixels, MediaError> {
        let Header {
            format,
            mut decoder,
            orientation,
            limits,
        } = self;
        let fail = |error| decode_error(format, error);
        // A profile that can't be read is ignored: the pixels are then
        // taken as sRGB, as a browser would.
        let icc = guard(format, || Ok(decoder.icc_profile().ok().flatten()))?;
        decoder.set_limits(limits).map_err(fail)?;
        let mut image = guard(format, || DynamicImage::from_decoder(decoder).map_err(fail))?;
        image.apply_orientation(orientation);
        let (width, height) = (image.width(), image.height());
        let alpha = image.color().has_alpha() && has_transparency(&image);
        let mut data = if alpha {
            image.into_rgba8().into_raw()
        } else {
            image.into_rgb8().into_raw()
        };
        if let Some(icc) = icc {
            to_srgb(&icc, alpha, &mut data);
        }
        Ok(Pixels {
            width,
            height,
            alpha,
            data,
        })
    }
}

fn turns_sideways(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

fn has_transparency(image: &DynamicImage) -> bool {
    match image {
        DynamicImage::ImageRgba8(pixels) => pixels.pixels().any(|p| p.0[3] != u8::MAX),
        DynamicImage::ImageLumaA8(pixels) => pixels.pixels().any(|p| p.0[1] != u8::MAX),
        DynamicImage::ImageRgba16(pixels) => pixels.pixels().any(|p| p.0[3] != u16::MAX),
        DynamicImage::ImageLumaA16(pixels) => pixels.pixels().any(|p| p.0[1] != u16::MAX),
        other => other.to_rgba8().pixels().any(|p| p.0[3] != u8::MAX),
    }
}

/// Converts pixels in the colour space an RGB ICC profile describes (a
/// phone's Display P3, Adobe RGB) to sRGB, so they look the same untagged.
/// Grey and CMYK profiles are left alone: the decoder has already made RGB
/// of those, and grey's usual gamma is close enough to sRGB's.
fn to_srgb(icc: &[u8], alpha: bool, data: &mut Vec<u8>) {
    let Ok(profile) = ColorProfile::new_from_slice(icc) else {
        return;
    };
    if profile.color_space != DataColorSpace::Rgb {
        return;
    }
    let srgb = ColorProfile::new_srgb();
    let layout = if alpha { Layout::Rgba } else { Layout::Rgb };
    let Ok(transform) =
        profile.create_transform_8bit(layout, &srgb, layout, TransformOptions::default())
    else {
        return;
    };
    let mut converted = vec![0; data.len()];
    if transform.transform(data, &mut converted).is_ok() {
        *data = converted;
    }
}

/// Runs a decoder step, turning a panic into an error naming the format.
/// The JPEG decoder (zune-jpeg 0.5.15) has fuzzer-found panics still open
/// upstream, and the input is anyone's upload: a missed case must cost that
/// upload, not the worker thread. The panic hook still reports it.
fn guard<T>(format: Format, step: impl FnOnce() -> Result<T, MediaError>) -> Result<T, MediaError> {
    panic::catch_unwind(AssertUnwindSafe(step)).unwrap_or_else(|_| {
        Err(MediaError::Corrupt {
            format,
            problem: "its data is malformed in a way the decoder can't read".to_owned(),
        })
    })
}

fn decode_error(format: Format, error: ImageError) -> MediaError {
    match error {
        ImageError::IoError(error) if error.kind() == io::ErrorKind::UnexpectedEof => {
            MediaError::Corrupt {
                format,
                problem: "it ends before its image data is complete".to_owned(),
            }
        }
        ImageError::Decoding(error) => MediaError::Corrupt {
            format,
            problem: decoder_words(&error),
        },
        ImageError::Limits(error) => match error.kind() {
            LimitErrorKind::InsufficientMemory => MediaError::Undecodable {
                format,
                problem: "decoding it needs more memory than an upload may use".to_owned(),
            },
            _ => MediaError::Undecodable {
                format,
                problem: error.to_string(),
            },
        },
        ImageError::Unsupported(error) => MediaError::Undecodable {
            format,
            problem: error.to_string(),
        },
        other => MediaError::Corrupt {
            format,
            problem: other.to_string(),
        },
    }
}

/// The decoder's own words, without image's "Format error decoding X:"
/// preamble (the message already names the format).
fn decoder_words(error: &image::error::DecodingError) -> String {
    use std::error::Error;
    let words = match error.source() {
        Some(cause) => cause.to_string(),
        None => error.to_string(),
    };
    if words.is_empty() {
        "its data is malformed".to_owned()
    } else {
        words
    }
}
