//! The format from the first bytes (never from a name or a Content-Type),
//! and the cheap structural checks that catch a file cut short before a
//! decoder sees it.

use super::{Format, MediaError};

/// How far into a text file to look for an `<svg` element: past an XML
/// declaration, comments and a DOCTYPE, not through a whole document.
const TEXT_SNIFF_LEN: usize = 4096;

pub(super) fn sniff(bytes: &[u8]) -> Result<Format, MediaError> {
    let unsupported = |what| Err(MediaError::Unsupported { what });
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(Format::Jpeg);
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok(Format::Png);
    }
    if bytes.len() >= 12 && &bytes[..4] == b"RIFF" {
        return match &bytes[8..12] {
            b"WEBP" => Ok(Format::Webp),
            b"AVI " => unsupported("a video (AVI)"),
            b"WAVE" => unsupported("a sound file (WAV)"),
            _ => unsupported("a RIFF file"),
        };
    }
    if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        return unsupported("a GIF image");
    }
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        return unsupported(iso_media(bytes));
    }
    if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        return unsupported("a TIFF image or a camera raw file");
    }
    if is_bmp(bytes) {
        return unsupported("a BMP image");
    }
    if bytes.starts_with(&[0xFF, 0x0A]) || bytes.starts_with(b"\0\0\0\x0cJXL \r\n\x87\n") {
        return unsupported("a JPEG XL image");
    }
    if bytes.starts_with(&[0, 0, 1, 0]) {
        return unsupported("an icon (ICO)");
    }
    if bytes.starts_with(b"8BPS") {
        return unsupported("a Photoshop document");
    }
    if bytes.starts_with(b"%PDF-") {
        return unsupported("a PDF document");
    }
    if bytes.starts_with(b"%!PS") {
        return unsupported("a PostScript or EPS file");
    }
    if bytes.starts_with(b"PK\x03\x04") {
        return unsupported("a ZIP archive (or an office document)");
    }
    if bytes.starts_with(&[0x1F, 0x8B]) {
        return unsupported("a gzip-compressed file (a compressed SVG, perhaps)");
    }
    match markup(bytes) {
        Some(Markup::Svg) => Err(MediaError::Svg),
        Some(Markup::Html) => unsupported("a web page (HTML)"),
        Some(Markup::Xml) => unsupported("an XML document"),
        None => Err(MediaError::Unrecognised),
    }
}

/// Names an ISO base media file (the family of AVIF, HEIC and MP4) by its
/// brands: the major one, then the compatible ones.
fn iso_media(bytes: &[u8]) -> &'static str {
    let size = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let end = size.clamp(12, bytes.len().min(256));
    let brands = bytes[8..end]
        .chunks_exact(4)
        // Offsets 12..16 hold the minor version, not a brand.
        .enumerate()
        .filter(|&(i, _)| i != 1)
        .map(|(_, b)| b);
    let mut found = "a video or an ISO media file";
    for brand in brands {
        match brand {
            // No AVIF decoder is built in: the pure-Rust ones are not
            // mature, and dav1d would add a system library.
            b"avif" | b"avis" => return "an AVIF image (AVIF uploads are not supported yet)",
            b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" | b"mif1" | b"msf1" => {
                found = "a HEIC/HEIF photo (set the phone to 'Most Compatible', or export as JPEG)"
            }
            b"crx " => return "a camera raw file (Canon CR3)",
            _ => {}
        }
    }
    found
}

fn is_bmp(bytes: &[u8]) -> bool {
    // "BM" alone starts too many things: a known DIB header size too.
    bytes.len() >= 18
        && bytes.starts_with(b"BM")
        && matches!(
            u32::from_le_bytes([bytes[14], bytes[15], bytes[16], bytes[17]]),
            12 | 40 | 52 | 56 | 64 | 108 | 124
        )
}

enum Markup {
    Svg,
    Html,
    Xml,
}

fn markup(bytes: &[u8]) -> Option<Markup> {
    let head = &bytes[..bytes.len().min(TEXT_SNIFF_LEN)];
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let start = head.iter().position(|b| !b.is_ascii_whitespace())?;
    if head[start] != b'<' {
        return None;
    }
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    if text.contains("<svg") {
        Some(Markup::Svg)
    } else if text.contains("<html") || text.contains("<!doctype html") {
        Some(Markup::Html)
    } else {
        Some(Markup::Xml)
    }
}

/// What a cut-short file looks like without decoding it. The JPEG decoder
/// forgives a missing end (it fills the rest with grey), so this is where a
/// truncated JPEG is caught; a WebP says its own length in its first bytes.
/// A PNG's chunks are checked by its decoder.
pub(super) fn check_complete(bytes: &[u8], format: Format) -> Result<(), MediaError> {
    let truncated = |problem: &str| {
        Err(MediaError::Corrupt {
            format,
            problem: problem.to_owned(),
        })
    };
    match format {
        Format::Jpeg => match jpeg_scan_start(bytes) {
            ScanStart::At(scan) => {
                // Entropy-coded data escapes every 0xFF, so an end-of-image
                // marker after the first scan can only be the real one.
                // Looked for from the end, where it nearly always is.
                if bytes[scan..].windows(2).rev().any(|w| w == [0xFF, 0xD9]) {
                    Ok(())
                } else {
                    truncated("it ends before its image data is complete")
                }
            }
            ScanStart::CutShort => truncated("it ends before its image data begins"),
            ScanStart::Unclear => Ok(()),
        },
        Format::Webp => {
            let riff_len = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
            if bytes.len() < riff_len.saturating_add(8) {
                truncated("it ends before its image data is complete")
            } else {
                Ok(())
            }
        }
        Format::Png => {
            if bytes.len() < 33 {
                truncated("it ends inside its header")
            } else {
                Ok(())
            }
        }
    }
}

enum ScanStart {
    At(usize),
    CutShort,
    /// Not a marker where one should be: the decoder names the problem.
    Unclear,
}

/// Walks the JPEG's marker segments to the start of its first scan.
fn jpeg_scan_start(bytes: &[u8]) -> ScanStart {
    let mut at = 2;
    loop {
        // Fill bytes (0xFF) may pad between segments.
        while bytes.get(at) == Some(&0xFF) && bytes.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (bytes.get(at), bytes.get(at + 1)) else {
            return if at + 1 >= bytes.len() {
                ScanStart::CutShort
            } else {
                ScanStart::Unclear
            };
        };
        // Standalone markers carry no length.
        if marker == 0x01 || (0xD0..=0xD7).contains(&marker) {
            at += 2;
            continue;
        }
        if marker == 0xD9 {
            return ScanStart::CutShort;
        }
        let Some(len) = bytes.get(at + 2..at + 4) else {
            return ScanStart::CutShort;
        };
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        let next = at + 2 + len;
        if next > bytes.len() {
            return ScanStart::CutShort;
        }
        if marker == 0xDA {
            return ScanStart::At(next);
        }
        at = next;
    }
}
