//! From upright pixels to the encoded variants: one resize per width from
//! the full-resolution pixels (Lanczos3), then lossy WebP and the fallback
//! for each, spread over a few threads.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::ImageEncoder;
use image::codecs::png::{CompressionType, FilterType as PngFilter, PngEncoder};
use jpeg_encoder::{ChromaSubsamplingMethod, ColorType, SamplingFactor};

use super::crop::Rect;
use super::decode::Pixels;
use super::{Format, MediaError, Variant, parallel, variant_widths};

/// libwebp's quality (0–100) for every WebP variant: the lowest that
/// matches the JPEG fallback's visual quality.
///
/// Matched by SSIMULACRA2 (`examples/media_variants.rs` prints the
/// comparison) on a photo-like image at 1024 wide: JPEG at 82 scores about
/// 77 and WebP needs 88 to score as well, which it does in about a third
/// fewer bytes. WebP at 80 is smaller still but scores about 65: visibly
/// softer than the fallback, and readers with WebP are most readers.
pub const WEBP_QUALITY: f32 = 88.0;

/// The JPEG fallback's quality (1–100, libjpeg's scale), with 4:2:0 chroma,
/// progressive scans and optimised Huffman tables.
///
/// 82 scores about 77 by SSIMULACRA2 on a photo-like image (70 is "high
/// quality", 90 "visually lossless"): no visible blocking at 1x or 2x. At 90
/// it gains 4 points for 47% more bytes; at 70 it loses 8 points and shows
/// its blocks.
pub const JPEG_QUALITY: u8 = 82;

/// libwebp's effort (0–6): 4 is its default, the knee of its speed and size
/// curve; 6 saves about 2% for about twice the time.
const WEBP_METHOD: i32 = 4;

/// The longest side a WebP can have.
const WEBP_MAX_SIDE: u32 = 16383;

struct Resized<D = Vec<u8>> {
    width: u32,
    height: u32,
    data: D,
}

pub(super) fn variants(
    pixels: Pixels,
    rect: Rect,
    threads: usize,
) -> Result<Vec<Variant>, MediaError> {
    // WebP's limit, the tighter of the two formats': a very tall image
    // loses the widths it would exceed it at.
    let mut widths: Vec<u32> = variant_widths(rect.width)
        .into_iter()
        .filter(|&width| scaled_height(rect, width) <= WEBP_MAX_SIDE)
        .collect();
    if widths.is_empty() {
        return Err(MediaError::TooTall {
            width: rect.width,
            height: rect.height,
            max: WEBP_MAX_SIDE,
        });
    }
    // Largest first: the costliest jobs start first and the small ones
    // fill the gaps.
    widths.sort_unstable_by(|a, b| b.cmp(a));
    let resized = parallel::map(&widths, threads, |&width| resize(&pixels, rect, width));
    let alpha = pixels.alpha;
    drop(pixels);
    let fallback = if alpha { Format::Png } else { Format::Jpeg };
    let jobs: Vec<(usize, Format)> = (0..resized.len())
        .flat_map(|i| [(i, Format::Webp), (i, fallback)])
        .collect();
    let encoded = parallel::map(&jobs, threads, |&(i, format)| {
        let image = resized[i].as_ref().map_err(Clone::clone)?;
        encode(image, alpha, format)
    });
    let mut variants = Vec::with_capacity(jobs.len());
    for (&(i, format), bytes) in jobs.iter().zip(encoded) {
        let image = resized[i].as_ref().map_err(Clone::clone)?;
        variants.push(Variant {
            width: image.width,
            height: image.height,
            format,
            bytes: bytes?,
        });
    }
    variants.sort_by_key(|v| (v.width, v.format != Format::Webp));
    Ok(variants)
}

fn resize(pixels: &Pixels, rect: Rect, width: u32) -> Result<Resized, MediaError> {
    let channels = pixels.channels();
    let height = scaled_height(rect, width);
    if width == rect.width {
        let stride = pixels.width as usize * channels;
        let row = rect.width as usize * channels;
        let left = rect.x as usize * channels;
        let data = pixels
            .data
            .chunks_exact(stride)
            .skip(rect.y as usize)
            .take(rect.height as usize)
            .flat_map(|line| &line[left..left + row])
            .copied()
            .collect();
        return Ok(Resized {
            width,
            height,
            data,
        });
    }
    let pixel_type = if pixels.alpha {
        PixelType::U8x4
    } else {
        PixelType::U8x3
    };
    let failed = |problem: String| MediaError::Resize { problem };
    let source = ImageRef::new(pixels.width, pixels.height, &pixels.data, pixel_type)
        .map_err(|error| failed(error.to_string()))?;
    let mut target = Image::new(width, height, pixel_type);
    // Lanczos3 over CatmullRom: a little sharper at the 2.5× to 12×
    // reductions a camera photo gets, for a resize that is still a small
    // part of the time the encoders take. Alpha is premultiplied for the
    // filter (the resizer's default), so transparent pixels don't bleed
    // their colour into the edges.
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
        .crop(
            f64::from(rect.x),
            f64::from(rect.y),
            f64::from(rect.width),
            f64::from(rect.height),
        );
    Resizer::new()
        .resize(&source, &mut target, &options)
        .map_err(|error| failed(error.to_string()))?;
    Ok(Resized {
        width,
        height,
        data: target.into_vec(),
    })
}

fn scaled_height(rect: Rect, width: u32) -> u32 {
    let height = (u64::from(rect.height) * u64::from(width) + u64::from(rect.width) / 2)
        / u64::from(rect.width);
    (height as u32).max(1)
}

fn encode(image: &Resized, alpha: bool, format: Format) -> Result<Vec<u8>, MediaError> {
    encode_pixels(&image.data, image.width, image.height, alpha, format, None)
}

/// Encodes RGB8 pixels (RGBA8 with `alpha`) as `format` with the settings
/// every variant gets; `quality` overrides [`WEBP_QUALITY`] or
/// [`JPEG_QUALITY`] (PNG is lossless and ignores it).
pub fn encode_pixels(
    pixels: &[u8],
    width: u32,
    height: u32,
    alpha: bool,
    format: Format,
    quality: Option<f32>,
) -> Result<Vec<u8>, MediaError> {
    let channels = if alpha { 4 } else { 3 };
    if pixels.len() != width as usize * height as usize * channels || width == 0 || height == 0 {
        return Err(MediaError::Encode {
            format,
            problem: format!("{} bytes are not {width}×{height} pixels", pixels.len()),
        });
    }
    let image = Resized {
        width,
        height,
        data: pixels,
    };
    let failed = |problem: String| MediaError::Encode { format, problem };
    match format {
        Format::Webp => webp_lossy(&image, alpha, quality.unwrap_or(WEBP_QUALITY)).map_err(failed),
        Format::Jpeg if alpha => Err(failed("JPEG has no alpha channel".to_owned())),
        Format::Jpeg => {
            let quality = quality.map_or(JPEG_QUALITY, |q| q.round().clamp(1.0, 100.0) as u8);
            jpeg(&image, quality).map_err(failed)
        }
        Format::Png => png(&image, alpha).map_err(failed),
    }
}

fn webp_lossy(image: &Resized<&[u8]>, alpha: bool, quality: f32) -> Result<Vec<u8>, String> {
    let encoder = if alpha {
        webp::Encoder::from_rgba(image.data, image.width, image.height)
    } else {
        webp::Encoder::from_rgb(image.data, image.width, image.height)
    };
    let mut config = webp::WebPConfig::new().map_err(|()| "libwebp refused its defaults")?;
    config.quality = quality;
    config.method = WEBP_METHOD;
    // Only the pixels are written: this encoder has no way to add EXIF,
    // XMP or ICC chunks.
    let encoded = encoder
        .encode_advanced(&config)
        .map_err(|error| format!("libwebp: {error:?}"))?;
    Ok(encoded.to_vec())
}

fn jpeg(image: &Resized<&[u8]>, quality: u8) -> Result<Vec<u8>, String> {
    let (width, height) = (
        u16::try_from(image.width).map_err(|_| "too wide for JPEG")?,
        u16::try_from(image.height).map_err(|_| "too tall for JPEG")?,
    );
    let mut out = Vec::with_capacity(image.data.len() / 8);
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality);
    encoder.set_sampling_factor(SamplingFactor::F_2_2);
    encoder.set_chroma_subsampling_method(ChromaSubsamplingMethod::Average);
    encoder.set_progressive(true);
    encoder.set_optimized_huffman_tables(true);
    // No APP segments are added: the file is the JFIF header and pixels.
    encoder
        .encode(image.data, width, height, ColorType::Rgb)
        .map_err(|error| error.to_string())?;
    Ok(out)
}

fn png(image: &Resized<&[u8]>, alpha: bool) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    // Default (not Best) compression: PNG is only the fallback for the few
    // browsers without WebP, and Best costs several times the time.
    PngEncoder::new_with_quality(&mut out, CompressionType::Default, PngFilter::Adaptive)
        .write_image(
            image.data,
            image.width,
            image.height,
            if alpha {
                image::ExtendedColorType::Rgba8
            } else {
                image::ExtendedColorType::Rgb8
            },
        )
        .map_err(|error| error.to_string())?;
    Ok(out)
}
