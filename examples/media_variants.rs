//! Times `keel::media::variants` on a 12-megapixel photo-like JPEG made in
//! memory, and scores WebP against the JPEG fallback at matched visual
//! quality (SSIMULACRA2) at 1024 pixels wide.
//!
//! cargo run --release --example media_variants
//!
//! Prints, for each of 3 runs, the total time; the median; the time each
//! format's encoder takes for the full set of widths and the bytes it makes;
//! then the quality comparison.

use std::time::Instant;

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageEncoder, RgbImage};
use keel::media::{self, Format, JPEG_QUALITY, Limits, WEBP_QUALITY};
use ssimulacra2::{ColorPrimaries, Rgb, TransferCharacteristic, compute_frame_ssimulacra2};

const WIDTH: u32 = 4000;
const HEIGHT: u32 = 3000;
const RUNS: usize = 3;
const COMPARE_WIDTH: u32 = 1024;

fn main() {
    let started = Instant::now();
    let original = photo(WIDTH, HEIGHT);
    let mut upload = Vec::new();
    JpegEncoder::new_with_quality(&mut upload, 90)
        .write_image(original.as_raw(), WIDTH, HEIGHT, ExtendedColorType::Rgb8)
        .expect("the source JPEG encodes");
    println!(
        "source: {WIDTH}x{HEIGHT} JPEG (quality 90), {} bytes, made in {:?}",
        upload.len(),
        started.elapsed()
    );

    let limits = Limits::default();
    println!("threads: {}", limits.max_threads);
    let mut totals = Vec::new();
    let mut last = Vec::new();
    for run in 1..=RUNS {
        let started = Instant::now();
        let (_, variants) = media::variants(&upload, &limits, None).expect("variants");
        let took = started.elapsed();
        println!("run {run}: {} variants in {took:.2?}", variants.len());
        totals.push(took);
        last = variants;
    }
    totals.sort();
    println!("median total: {:.2?} (target: under 2 s)", totals[RUNS / 2]);

    for format in [Format::Webp, Format::Jpeg] {
        let sizes: Vec<String> = last
            .iter()
            .filter(|v| v.format == format)
            .map(|v| format!("{}w {} B", v.width, v.bytes.len()))
            .collect();
        println!("{format}: {}", sizes.join(", "));
    }

    // Each encoder alone, single-threaded, over the widths it is given.
    let widths = media::variant_widths(WIDTH);
    let resized: Vec<(u32, u32, Vec<u8>)> = widths.iter().map(|&w| resize(&original, w)).collect();
    for format in [Format::Webp, Format::Jpeg] {
        let started = Instant::now();
        let bytes: usize = resized
            .iter()
            .map(|(w, h, pixels)| {
                media::encode_pixels(pixels, *w, *h, false, format, None)
                    .expect("encodes")
                    .len()
            })
            .sum();
        println!(
            "{format} encode, all widths, one thread: {:.2?}, {bytes} bytes",
            started.elapsed()
        );
    }

    compare(&original);
}

/// WebP against JPEG at 1024 wide: the JPEG fallback at its default
/// quality, then the lowest WebP quality that scores at least as well.
fn compare(original: &RgbImage) {
    let (w, h, reference) = resize(original, COMPARE_WIDTH);
    let score_of = |format, quality: f32| {
        let bytes =
            media::encode_pixels(&reference, w, h, false, format, Some(quality)).expect("encodes");
        (score(&reference, w, h, &bytes), bytes.len())
    };
    println!(
        "\nSSIMULACRA2 at {w}x{h} (higher is better; 70 is high quality, 90 visually lossless):"
    );
    for quality in [70.0, 82.0, 90.0] {
        let (s, bytes) = score_of(Format::Jpeg, quality);
        println!("  JPEG q{quality:<3} {s:6.2} {bytes:7} B");
    }
    for quality in [70.0, 80.0, 88.0, 95.0] {
        let (s, bytes) = score_of(Format::Webp, quality);
        println!("  WebP q{quality:<3} {s:6.2} {bytes:7} B");
    }

    let (jpeg_score, jpeg_bytes) = score_of(Format::Jpeg, f32::from(JPEG_QUALITY));
    let (mut low, mut high) = (1u32, 100u32);
    while low < high {
        let mid = (low + high) / 2;
        if score_of(Format::Webp, mid as f32).0 >= jpeg_score {
            high = mid;
        } else {
            low = mid + 1;
        }
    }
    let (webp_score, webp_bytes) = score_of(Format::Webp, low as f32);
    println!(
        "matched: JPEG q{JPEG_QUALITY} scores {jpeg_score:.2} in {jpeg_bytes} B; \
         WebP q{low} scores {webp_score:.2} in {webp_bytes} B: {:.0}% smaller",
        saving(webp_bytes, jpeg_bytes)
    );
    let (default_score, default_bytes) = score_of(Format::Webp, WEBP_QUALITY);
    println!(
        "defaults: WebP q{WEBP_QUALITY} scores {default_score:.2} in {default_bytes} B, \
         {:.0}% smaller than the JPEG fallback",
        saving(default_bytes, jpeg_bytes)
    );
}

fn saving(smaller: usize, larger: usize) -> f64 {
    100.0 * (1.0 - smaller as f64 / larger as f64)
}

fn score(reference: &[u8], width: u32, height: u32, encoded: &[u8]) -> f64 {
    let decoded = image::load_from_memory(encoded).expect("decodes").to_rgb8();
    let frame = |pixels: &[u8]| {
        let data = pixels
            .chunks_exact(3)
            .map(|p| [p[0], p[1], p[2]].map(|c| f32::from(c) / 255.0))
            .collect();
        Rgb::new(
            data,
            width as usize,
            height as usize,
            TransferCharacteristic::SRGB,
            ColorPrimaries::BT709,
        )
        .expect("frame")
    };
    compute_frame_ssimulacra2(frame(reference), frame(decoded.as_raw())).expect("score")
}

fn resize(original: &RgbImage, width: u32) -> (u32, u32, Vec<u8>) {
    let height =
        (u64::from(original.height()) * u64::from(width) / u64::from(original.width())) as u32;
    let source = ImageRef::new(
        original.width(),
        original.height(),
        original.as_raw(),
        PixelType::U8x3,
    )
    .expect("source");
    let mut target = Image::new(width, height, PixelType::U8x3);
    Resizer::new()
        .resize(
            &source,
            &mut target,
            &ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3)),
        )
        .expect("resize");
    (width, height, target.into_vec())
}

/// A photo-like scene: a sky gradient over a mown pitch, textured with
/// several octaves of smooth noise, a crowd of soft-edged discs, and a
/// sensor's grain; it compresses like a photo, unlike flat colour.
fn photo(width: u32, height: u32) -> RgbImage {
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let lattice: Vec<f32> = (0..257 * 257)
        .map(|_| (next() % 1000) as f32 / 1000.0)
        .collect();
    let smooth = |x: f32, y: f32| {
        let (xi, yi) = (x.floor() as usize % 256, y.floor() as usize % 256);
        let (fx, fy) = (x.fract(), y.fract());
        let at = |i: usize, j: usize| lattice[j * 257 + i];
        let top = at(xi, yi) * (1.0 - fx) + at(xi + 1, yi) * fx;
        let bottom = at(xi, yi + 1) * (1.0 - fx) + at(xi + 1, yi + 1) * fx;
        top * (1.0 - fy) + bottom * fy
    };
    let discs: Vec<(f32, f32, f32, [f32; 3])> = (0..60)
        .map(|_| {
            let x = (next() % u64::from(width)) as f32;
            let y = (height as f32 * 0.35) + (next() % u64::from(height * 6 / 10)) as f32;
            let r = 15.0 + (next() % 110) as f32;
            let colour = [0, 1, 2].map(|_| (next() % 256) as f32);
            (x, y, r, colour)
        })
        .collect();
    let horizon = height as f32 * 0.4;
    RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32, y as f32);
        let texture = 40.0 * smooth(fx / 97.0, fy / 97.0)
            + 24.0 * smooth(fx / 23.0, fy / 23.0)
            + 14.0 * smooth(fx / 5.0, fy / 5.0)
            - 39.0;
        let mut c = if fy < horizon {
            let t = fy / horizon;
            [90.0 + 90.0 * t, 140.0 + 70.0 * t, 220.0 - 10.0 * t]
        } else {
            let stripe = if (x / 300) % 2 == 0 { 18.0 } else { -18.0 };
            [
                60.0 + texture,
                130.0 + texture + stripe,
                50.0 + texture * 0.5,
            ]
        };
        for &(dx, dy, r, colour) in &discs {
            let d = ((fx - dx).powi(2) + (fy - dy).powi(2)).sqrt();
            let cover = (r - d + 1.0).clamp(0.0, 1.0);
            if cover > 0.0 {
                let shade = 1.0 - 0.4 * (d / r);
                for i in 0..3 {
                    c[i] = c[i] * (1.0 - cover) + colour[i] * shade * cover;
                }
            }
        }
        let grain = (next() % 9) as f32 - 4.0;
        image::Rgb(c.map(|v| (v + grain).clamp(0.0, 255.0) as u8))
    })
}
