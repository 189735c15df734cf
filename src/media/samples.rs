//! Images made in code, for tests, benchmarks and the demo seed: nothing
//! can be downloaded where keel is built, and a file made from a formula
//! is the same on every machine. Photo-like gradients with noise (so
//! encoders have detail to keep), EXIF blocks written byte by byte (with
//! an orientation and a GPS position that must never reach a reader).

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{DynamicImage, ExtendedColorType, ImageEncoder, Rgb, RgbImage};

/// A deterministic xorshift: noise without a dependency.
pub struct Noise(pub u64);

impl Noise {
    pub fn draw(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn byte(&mut self) -> u8 {
        (self.draw() >> 24) as u8
    }
}

pub fn photo(width: u32, height: u32) -> RgbImage {
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    RgbImage::from_fn(width, height, |x, y| {
        let n = i32::from(noise.byte() % 24) - 12;
        let r = (x * 255 / width) as i32 + n;
        let g = (y * 255 / height) as i32 + n;
        let b = (((x + y) * 128 / (width + height)) + 64) as i32 + n;
        Rgb([r, g, b].map(|c| c.clamp(0, 255) as u8))
    })
}

pub fn jpeg(image: &RgbImage, exif: Option<Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = JpegEncoder::new_with_quality(&mut out, 92);
    if let Some(exif) = exif {
        encoder
            .set_exif_metadata(exif)
            .expect("an EXIF block fits in a JPEG segment");
    }
    encoder
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            ExtendedColorType::Rgb8,
        )
        .expect("encoding into memory");
    out
}

pub fn png(image: &DynamicImage) -> Vec<u8> {
    let mut out = Vec::new();
    image
        .write_with_encoder(PngEncoder::new(&mut out))
        .expect("encoding into memory");
    out
}

pub fn webp_lossless(image: &DynamicImage) -> Vec<u8> {
    let mut out = Vec::new();
    image
        .write_with_encoder(WebPEncoder::new_lossless(&mut out))
        .expect("encoding into memory");
    out
}

/// A big-endian TIFF block (what follows "Exif\0\0" in APP1): IFD0 with an
/// orientation and a pointer to a GPS IFD holding a latitude and longitude.
pub fn exif(orientation: u16, gps: bool) -> Vec<u8> {
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
    let entries: u16 = if gps { 2 } else { 1 };
    tiff.extend(entries.to_be_bytes());
    // Orientation: SHORT, one value, left-justified in the value field.
    tiff.extend([0x01, 0x12, 0, 3, 0, 0, 0, 1]);
    tiff.extend(orientation.to_be_bytes());
    tiff.extend([0, 0]);
    let gps_ifd = 8 + 2 + 12 * u32::from(entries) + 4;
    if gps {
        tiff.extend([0x88, 0x25, 0, 4, 0, 0, 0, 1]);
        tiff.extend(gps_ifd.to_be_bytes());
    }
    tiff.extend([0, 0, 0, 0]);
    if gps {
        let rationals = gps_ifd + 2 + 12 * 4 + 4;
        tiff.extend(4u16.to_be_bytes());
        tiff.extend([0, 1, 0, 2, 0, 0, 0, 2, b'N', 0, 0, 0]);
        tiff.extend([0, 2, 0, 5, 0, 0, 0, 3]);
        tiff.extend(rationals.to_be_bytes());
        tiff.extend([0, 3, 0, 2, 0, 0, 0, 2, b'W', 0, 0, 0]);
        tiff.extend([0, 4, 0, 5, 0, 0, 0, 3]);
        tiff.extend((rationals + 24).to_be_bytes());
        tiff.extend([0, 0, 0, 0]);
        tiff.extend(GPS_RATIONALS);
    }
    tiff
}

/// 51° 33' 21.7" N, 0° 16' 45.3" W as six RATIONALs: bytes that would
/// only be in a variant if the location leaked.
pub const GPS_RATIONALS: [u8; 48] = [
    0, 0, 0, 51, 0, 0, 0, 1, 0, 0, 0, 33, 0, 0, 0, 1, 0, 0, 0x08, 0x7A, 0, 0, 0, 100, //
    0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 16, 0, 0, 0, 1, 0, 0, 0x01, 0xC5, 0, 0, 0, 10,
];

pub fn insert_after_soi(jpeg: &[u8], marker: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    out.extend([0xFF, marker]);
    out.extend(
        u16::try_from(payload.len() + 2)
            .expect("a segment is under 64 KiB")
            .to_be_bytes(),
    );
    out.extend(payload);
    out.extend(&jpeg[2..]);
    out
}

pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG chunk with its length and CRC.
pub fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut chunk = u32::try_from(data.len())
        .expect("a chunk is under 4 GiB")
        .to_be_bytes()
        .to_vec();
    chunk.extend(kind);
    chunk.extend(data);
    let crc = crc32(&chunk[4..]);
    chunk.extend(crc.to_be_bytes());
    chunk
}

/// A PNG whose header claims `width`×`height` pixels and whose data is one
/// tiny IDAT: a decompression bomb if anything decoded it.
pub fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    let mut bomb = b"\x89PNG\r\n\x1a\n".to_vec();
    bomb.extend(png_chunk(b"IHDR", &ihdr));
    bomb.extend(png_chunk(b"IDAT", &[0x78, 0x9C, 0x03, 0, 0, 0, 0, 1]));
    bomb.extend(png_chunk(b"IEND", &[]));
    bomb
}
