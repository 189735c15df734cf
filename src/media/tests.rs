//! Every file here is made in the test: photos from gradients and noise,
//! EXIF and PNG headers written byte by byte (see [`super::samples`]).

use image::codecs::png::PngEncoder;
use image::{DynamicImage, ExtendedColorType, ImageEncoder, Rgb, RgbImage, Rgba, RgbaImage};

use super::samples::*;
use super::*;

fn decode(variant: &Variant) -> DynamicImage {
    let format = match variant.format {
        Format::Jpeg => image::ImageFormat::Jpeg,
        Format::Png => image::ImageFormat::Png,
        Format::Webp => image::ImageFormat::WebP,
    };
    image::load_from_memory_with_format(&variant.bytes, format).unwrap()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn limits() -> Limits {
    Limits::default()
}

fn widths(variants: &[Variant], format: Format) -> Vec<u32> {
    variants
        .iter()
        .filter(|v| v.format == format)
        .map(|v| v.width)
        .collect()
}

/// Checks every variant is what it says: its format sniffs as stated, it
/// decodes to its stated size, and it carries no metadata.
fn check_variants(variants: &[Variant]) {
    for variant in variants {
        assert_eq!(sniff::sniff(&variant.bytes), Ok(variant.format));
        let decoded = decode(variant);
        assert_eq!(
            (decoded.width(), decoded.height()),
            (variant.width, variant.height),
            "{variant:?}"
        );
        for marker in [&b"Exif"[..], b"EXIF", b"eXIf", b"XMP ", b"iCCP", b"ICCP"] {
            assert!(
                !contains(&variant.bytes, marker),
                "{variant:?} has {marker:?}"
            );
        }
    }
}

#[test]
fn media_jpeg_round_trips_as_webp_and_jpeg() {
    let bytes = jpeg(&photo(700, 500), None);
    let source = inspect(&bytes, &limits()).unwrap();
    assert_eq!(
        (source.format, source.width, source.height),
        (Format::Jpeg, 700, 500)
    );
    assert!(!source.has_alpha);
    assert_eq!(source.hash.len(), 20);
    assert!(
        source
            .hash
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );

    let (made, variants) = super::variants(&bytes, &limits(), None).unwrap();
    assert_eq!(made, source);
    assert_eq!(widths(&variants, Format::Webp), [320, 640, 700]);
    assert_eq!(widths(&variants, Format::Jpeg), [320, 640, 700]);
    assert_eq!(variants.len(), 6);
    assert_eq!(variants[0].height, 229);
    check_variants(&variants);
}

#[test]
fn media_opaque_png_gets_a_jpeg_fallback() {
    let image = DynamicImage::ImageRgb8(photo(400, 300));
    let (source, variants) = super::variants(&png(&image), &limits(), None).unwrap();
    assert_eq!(
        (source.format, source.width, source.height),
        (Format::Png, 400, 300)
    );
    assert_eq!(widths(&variants, Format::Jpeg), [320, 400]);
    assert!(widths(&variants, Format::Png).is_empty());
    check_variants(&variants);

    // An alpha channel with every pixel opaque is no reason for a PNG.
    let opaque_rgba = DynamicImage::ImageRgba8(image.to_rgba8());
    let (source, variants) = super::variants(&png(&opaque_rgba), &limits(), None).unwrap();
    assert!(!source.has_alpha);
    assert_eq!(widths(&variants, Format::Jpeg), [320, 400]);
}

#[test]
fn media_png_with_alpha_keeps_it_in_webp_and_png() {
    let image = RgbaImage::from_fn(500, 250, |x, y| {
        let alpha = if x < 250 { 255 } else { (y % 256) as u8 };
        Rgba([200, (x % 256) as u8, 40, alpha])
    });
    let bytes = png(&DynamicImage::ImageRgba8(image));
    assert!(inspect(&bytes, &limits()).unwrap().has_alpha);
    let (source, variants) = super::variants(&bytes, &limits(), None).unwrap();
    assert!(source.has_alpha);
    assert_eq!(widths(&variants, Format::Webp), [320, 500]);
    assert_eq!(widths(&variants, Format::Png), [320, 500]);
    assert!(widths(&variants, Format::Jpeg).is_empty());
    check_variants(&variants);
    for variant in &variants {
        let decoded = decode(variant);
        assert!(decoded.color().has_alpha(), "{variant:?}");
        let decoded = decoded.to_rgba8();
        let (x, y) = (variant.width - 1, variant.height / 10);
        assert!(
            decoded.get_pixel(x, y).0[3] < 128,
            "{variant:?} lost its alpha"
        );
        assert_eq!(decoded.get_pixel(2, variant.height / 2).0[3], 255);
    }
}

#[test]
fn media_webp_round_trips() {
    let bytes = webp_lossless(&DynamicImage::ImageRgb8(photo(330, 200)));
    let source = inspect(&bytes, &limits()).unwrap();
    assert_eq!(
        (source.format, source.width, source.height),
        (Format::Webp, 330, 200)
    );
    let (_, variants) = super::variants(&bytes, &limits(), None).unwrap();
    assert_eq!(widths(&variants, Format::Webp), [320, 330]);
    assert_eq!(widths(&variants, Format::Jpeg), [320, 330]);
    check_variants(&variants);
}

#[test]
fn media_grey_png_becomes_colour_variants() {
    let grey = DynamicImage::ImageRgb8(photo(120, 90)).grayscale();
    let (_, variants) = super::variants(&png(&grey), &limits(), None).unwrap();
    assert_eq!(widths(&variants, Format::Jpeg), [120]);
    check_variants(&variants);
}

#[test]
fn media_never_upscales() {
    assert_eq!(variant_widths(4000), [320, 640, 1024, 1600]);
    assert_eq!(variant_widths(1600), [320, 640, 1024, 1600]);
    assert_eq!(variant_widths(1601), [320, 640, 1024, 1600]);
    assert_eq!(variant_widths(1200), [320, 640, 1024, 1200]);
    assert_eq!(variant_widths(640), [320, 640]);
    assert_eq!(variant_widths(200), [200]);
    assert_eq!(variant_widths(1), [1]);

    let (_, variants) = super::variants(&jpeg(&photo(1700, 300), None), &limits(), None).unwrap();
    assert_eq!(widths(&variants, Format::Webp), [320, 640, 1024, 1600]);
    assert_eq!(variants.last().unwrap().height, 282);
    let (_, variants) = super::variants(&jpeg(&photo(90, 30), None), &limits(), None).unwrap();
    assert_eq!(widths(&variants, Format::Webp), [90]);
    assert_eq!(variants[0].height, 30);
}

#[test]
fn media_strips_exif_gps_and_xmp() {
    let xmp = b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta xmlns:x='adobe:ns:meta/'>\
        <rdf:Description exif:GPSLatitude='51,33.36N'/></x:xmpmeta>";
    let with_exif = jpeg(&photo(400, 300), Some(exif(1, true)));
    let bytes = insert_after_soi(&with_exif, 0xE1, xmp);
    assert!(contains(&bytes, &GPS_RATIONALS) && contains(&bytes, b"Exif\0\0"));

    let (_, variants) = super::variants(&bytes, &limits(), None).unwrap();
    check_variants(&variants);
    for variant in &variants {
        assert!(
            !contains(&variant.bytes, &GPS_RATIONALS[..16]),
            "{variant:?}"
        );
        assert!(!contains(&variant.bytes, b"GPSLatitude"), "{variant:?}");
        assert!(!contains(&variant.bytes, b"adobe"), "{variant:?}");
        if variant.format == Format::Jpeg {
            assert!(
                app_markers(&variant.bytes).iter().all(|&m| m == 0xE0),
                "{variant:?}"
            );
        }
    }
}

/// The APPn markers in a JPEG's header segments.
fn app_markers(jpeg: &[u8]) -> Vec<u8> {
    let mut markers = Vec::new();
    let mut at = 2;
    while jpeg[at] == 0xFF && jpeg[at + 1] != 0xDA {
        let marker = jpeg[at + 1];
        if (0xE0..=0xEF).contains(&marker) {
            markers.push(marker);
        }
        at += 2 + usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
    }
    markers
}

#[test]
fn media_applies_exif_orientation() {
    // Stored 40×20 with a red left edge; orientation 6 says "turn 90°
    // clockwise to view", which puts that edge at the top.
    let stored = RgbImage::from_fn(40, 20, |x, _| {
        if x < 6 {
            Rgb([230, 20, 20])
        } else {
            Rgb([20, 40, 230])
        }
    });
    let bytes = jpeg(&stored, Some(exif(6, false)));
    let source = inspect(&bytes, &limits()).unwrap();
    assert_eq!((source.width, source.height), (20, 40));

    let (_, variants) = super::variants(&bytes, &limits(), None).unwrap();
    assert_eq!(variants.len(), 2);
    check_variants(&variants);
    for variant in &variants {
        assert_eq!((variant.width, variant.height), (20, 40));
        let upright = decode(variant).to_rgb8();
        let top = upright.get_pixel(10, 1).0;
        let bottom = upright.get_pixel(10, 38).0;
        assert!(top[0] > 150 && top[2] < 100, "{variant:?}: top is {top:?}");
        assert!(
            bottom[2] > 150 && bottom[0] < 100,
            "{variant:?}: bottom is {bottom:?}"
        );
    }
}

#[test]
fn media_converts_an_icc_profile_to_srgb() {
    let flat = RgbImage::from_pixel(64, 64, Rgb([60, 180, 90]));
    let with_profile = |icc: Vec<u8>| {
        let mut out = Vec::new();
        let mut encoder = PngEncoder::new(&mut out);
        encoder.set_icc_profile(icc).unwrap();
        encoder
            .write_image(flat.as_raw(), 64, 64, ExtendedColorType::Rgb8)
            .unwrap();
        out
    };
    let centre = |bytes: &[u8]| {
        let (_, variants) = variants(bytes, &limits(), None).unwrap();
        let jpeg = variants.iter().find(|v| v.format == Format::Jpeg).unwrap();
        decode(jpeg).to_rgb8().get_pixel(32, 32).0
    };
    let close = |a: [u8; 3], b: [u8; 3]| a.iter().zip(b).all(|(&a, b)| a.abs_diff(b) <= 4);

    let srgb = centre(&with_profile(
        moxcms::ColorProfile::new_srgb().encode().unwrap(),
    ));
    assert!(close(srgb, [60, 180, 90]), "{srgb:?}");
    // Display P3's green is greener than sRGB can show: converted, it is
    // clipped and the red pushed to zero.
    let p3 = centre(&with_profile(
        moxcms::ColorProfile::new_display_p3().encode().unwrap(),
    ));
    assert!(!close(p3, [60, 180, 90]), "{p3:?}");
    assert!(p3[1] > 180, "{p3:?}");
}

#[test]
fn media_focal_point_crop_keeps_the_subject() {
    // A red dot at (0.8, 0.5) of a white 400×200 image.
    let image = RgbImage::from_fn(400, 200, |x, y| {
        let (dx, dy) = (x as i32 - 320, y as i32 - 100);
        if dx * dx + dy * dy <= 64 {
            Rgb([255, 0, 0])
        } else {
            Rgb([255, 255, 255])
        }
    });
    let bytes = png(&DynamicImage::ImageRgb8(image));
    let square = |focus| Crop {
        aspect_width: 1,
        aspect_height: 1,
        focus,
    };
    let on_dot = square(FocalPoint { x: 0.8, y: 0.5 });
    assert_eq!(
        crop_rect(400, 200, &on_dot).unwrap(),
        Rect {
            x: 200,
            y: 0,
            width: 200,
            height: 200
        }
    );
    let (source, variants) = super::variants(&bytes, &limits(), Some(on_dot)).unwrap();
    assert_eq!((source.width, source.height), (400, 200));
    assert_eq!(widths(&variants, Format::Webp), [200]);
    for variant in &variants {
        assert_eq!((variant.width, variant.height), (200, 200));
        let pixel = decode(variant).to_rgb8().get_pixel(120, 100).0;
        assert!(pixel[0] > 200 && pixel[1] < 80, "{variant:?}: {pixel:?}");
    }

    // Centred instead, the dot falls outside the square.
    let (_, variants) =
        super::variants(&bytes, &limits(), Some(square(FocalPoint::default()))).unwrap();
    let decoded = decode(&variants[0]).to_rgb8();
    assert!(decoded.pixels().all(|p| p.0[1] > 200));
}

#[test]
fn media_crop_rect_is_clamped_to_the_image() {
    let hero = |x, y| Crop {
        aspect_width: 16,
        aspect_height: 9,
        focus: FocalPoint { x, y },
    };
    let full = Rect::full(4000, 2250);
    assert_eq!(crop_rect(4000, 3000, &hero(0.5, 0.0)).unwrap(), full);
    assert_eq!(
        crop_rect(4000, 3000, &hero(0.5, 1.0)).unwrap(),
        Rect { y: 750, ..full }
    );
    assert_eq!(
        crop_rect(4000, 3000, &hero(0.5, 0.5)).unwrap(),
        Rect { y: 375, ..full }
    );
    // Already wider than 16:9: the full height, shifted to the focus.
    assert_eq!(
        crop_rect(1000, 100, &hero(0.0, 0.5)).unwrap(),
        Rect {
            x: 0,
            y: 0,
            width: 178,
            height: 100
        }
    );
    assert!(matches!(
        crop_rect(100, 100, &hero(1.5, 0.5)),
        Err(MediaError::InvalidCrop { .. })
    ));
    assert!(matches!(
        crop_rect(100, 100, &hero(f64::NAN, 0.5)),
        Err(MediaError::InvalidCrop { .. })
    ));
    let flat = Crop {
        aspect_width: 0,
        aspect_height: 1,
        focus: FocalPoint::default(),
    };
    assert!(matches!(
        crop_rect(100, 100, &flat),
        Err(MediaError::InvalidCrop { .. })
    ));
}

#[test]
fn media_refuses_svg() {
    let svg = b"<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>";
    assert_eq!(inspect(svg, &limits()), Err(MediaError::Svg));
    let bare = b"\xEF\xBB\xBF\n  <svg viewBox=\"0 0 10 10\"></svg>";
    assert_eq!(
        super::variants(bare, &limits(), None).unwrap_err(),
        MediaError::Svg
    );
    assert!(MediaError::Svg.to_string().contains("SVG"));
}

#[test]
fn media_refuses_other_formats_naming_them() {
    let named = |bytes: &[u8]| match inspect(bytes, &limits()) {
        Err(MediaError::Unsupported { what }) => what,
        other => panic!("{other:?}"),
    };
    assert!(named(b"GIF89a\x01\0\x01\0\0\0\0;").contains("GIF"));
    let mut bmp = b"BM\x46\0\0\0\0\0\0\0\x36\0\0\0\x28\0\0\0".to_vec();
    bmp.extend([0; 40]);
    assert!(named(&bmp).contains("BMP"));
    let avif = b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf\0\0\0\0";
    assert!(named(avif).contains("AVIF"));
    let heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic";
    assert!(named(heic).contains("HEIC"));
    assert!(named(b"%PDF-1.7\n").contains("PDF"));
    assert!(named(b"<!DOCTYPE html><html></html>").contains("HTML"));

    let message = MediaError::Unsupported {
        what: "a GIF image",
    }
    .to_string();
    assert!(
        message.contains("GIF") && message.contains("JPEG, PNG or WebP"),
        "{message}"
    );
}

#[test]
fn media_refuses_random_and_empty_bytes() {
    let mut noise = Noise(42);
    let random: Vec<u8> = (0..4096).map(|_| noise.byte()).collect();
    assert_eq!(inspect(&random, &limits()), Err(MediaError::Unrecognised));
    assert_eq!(
        super::variants(&random, &limits(), None).unwrap_err(),
        MediaError::Unrecognised
    );
    assert_eq!(inspect(b"", &limits()), Err(MediaError::Empty));
}

#[test]
fn media_truncated_jpeg_is_named() {
    let bytes = jpeg(&photo(300, 200), None);
    let cut = &bytes[..bytes.len() * 2 / 3];
    let error = super::variants(cut, &limits(), None).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the JPEG file is damaged: it ends before its image data is complete"
    );
    assert_eq!(inspect(cut, &limits()), Err(error));

    let headers_only = &bytes[..20];
    let error = inspect(headers_only, &limits()).unwrap_err();
    assert!(error.to_string().contains("ends before"), "{error}");
}

#[test]
fn media_truncated_png_is_named() {
    let bytes = png(&DynamicImage::ImageRgb8(photo(300, 200)));
    let cut = &bytes[..bytes.len() * 2 / 3];
    let error = super::variants(cut, &limits(), None).unwrap_err();
    assert!(
        matches!(
            &error,
            MediaError::Corrupt {
                format: Format::Png,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("ends before"), "{error}");
}

#[test]
fn media_truncated_webp_is_named() {
    let bytes = webp_lossless(&DynamicImage::ImageRgb8(photo(100, 80)));
    let error = super::variants(&bytes[..bytes.len() / 2], &limits(), None).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the WebP file is damaged: it ends before its image data is complete"
    );
}

#[test]
fn media_refuses_a_pixel_bomb_before_decoding() {
    // A PNG whose header claims 100000×100000 pixels and whose data is a
    // single tiny IDAT: decoding it would need 30 GB.
    let bomb = png_claiming(100_000, 100_000);
    let refused = MediaError::TooManyPixels {
        width: 100_000,
        height: 100_000,
        max: 50_000_000,
    };
    assert_eq!(inspect(&bomb, &limits()), Err(refused.clone()));
    assert_eq!(
        super::variants(&bomb, &limits(), None).unwrap_err(),
        refused
    );
    assert_eq!(
        refused.to_string(),
        "the image is 100000×100000 pixels (10000.0 megapixels); \
         an upload may have at most 50.0 megapixels"
    );

    // A JPEG whose frame header is rewritten to 60000×60000.
    let mut big = jpeg(&photo(64, 64), None);
    let sof = big.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    big[sof + 5..sof + 9].copy_from_slice(&[0xEA, 0x60, 0xEA, 0x60]);
    assert!(matches!(
        inspect(&big, &limits()),
        Err(MediaError::TooManyPixels {
            width: 60_000,
            height: 60_000,
            ..
        })
    ));
}

#[test]
fn media_refuses_too_many_bytes() {
    let bytes = jpeg(&photo(200, 200), None);
    let small = Limits {
        max_bytes: 1000,
        ..limits()
    };
    let error = inspect(&bytes, &small).unwrap_err();
    assert_eq!(
        error,
        MediaError::TooLarge {
            bytes: bytes.len(),
            max: 1000
        }
    );
    assert!(
        error.to_string().ends_with("an upload may be at most 1 kB"),
        "{error}"
    );
    let twenty = MediaError::TooLarge {
        bytes: 25_000_000,
        max: 20 * 1024 * 1024,
    };
    assert_eq!(
        twenty.to_string(),
        "the file is 25.0 MB but an upload may be at most 21.0 MB"
    );
}

#[test]
fn media_hostile_bytes_are_errors_not_panics() {
    let image = DynamicImage::ImageRgb8(photo(64, 48));
    let mut rgba = image.to_rgba8();
    rgba.put_pixel(0, 0, Rgba([0, 0, 0, 0]));
    let sources = [
        jpeg(&image.to_rgb8(), Some(exif(6, true))),
        png(&DynamicImage::ImageRgba8(rgba)),
        webp_lossless(&image),
    ];
    let mut noise = Noise(7);
    for source in &sources {
        for round in 0..150 {
            let mut bytes = source.clone();
            // Keep the signature so the decoder, not the sniffer, is tested.
            let flips = 1 + round % 8;
            for _ in 0..flips {
                let at = 12 + (noise.draw() as usize) % (bytes.len() - 12);
                bytes[at] = noise.byte();
            }
            if round % 5 == 0 {
                bytes.truncate(12 + (noise.draw() as usize) % (bytes.len() - 12));
            }
            let _ = inspect(&bytes, &limits());
            let _ = super::variants(&bytes, &limits(), None);
        }
    }
}

#[test]
fn media_content_hash_is_stable_and_short() {
    let bytes = jpeg(&photo(50, 50), None);
    let once = inspect(&bytes, &limits()).unwrap().hash;
    assert_eq!(once, inspect(&bytes, &limits()).unwrap().hash);
    assert_eq!(once, content_hash(&bytes));
    assert_eq!(content_hash(b"abc"), "ba7816bf8f01cfea4141");
    let mut other = bytes.clone();
    other.push(0);
    assert_ne!(once, content_hash(&other));
}

#[test]
fn media_parallel_map_keeps_order() {
    let items: Vec<u32> = (0..37).collect();
    for threads in [1, 2, 4, 64] {
        assert_eq!(
            parallel::map(&items, threads, |&i| i * 2),
            items.iter().map(|i| i * 2).collect::<Vec<_>>()
        );
    }
    assert!(parallel::map(&[] as &[u32], 4, |&i| i).is_empty());
}

#[test]
fn media_refuses_what_no_variant_can_hold() {
    let sliver = DynamicImage::ImageRgb8(RgbImage::from_pixel(10, 20_000, Rgb([9, 9, 9])));
    assert_eq!(
        super::variants(&png(&sliver), &limits(), None).unwrap_err(),
        MediaError::TooTall {
            width: 10,
            height: 20_000,
            max: 16383
        }
    );
    // Tall but not that tall: only the widths that fit are made.
    let tall = DynamicImage::ImageRgb8(RgbImage::from_pixel(330, 16_500, Rgb([9, 9, 9])));
    let (_, variants) = super::variants(&png(&tall), &limits(), None).unwrap();
    assert_eq!(widths(&variants, Format::Webp), [320]);
    assert_eq!(variants[0].height, 16_000);
}
