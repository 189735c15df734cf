//! Crops to an aspect ratio that keep the subject: the largest rectangle of
//! that shape, centred on the focal point as far as the edges allow.

use super::MediaError;

/// Where the subject is, as fractions of the upright image's width and
/// height (0,0 top left; 1,1 bottom right).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FocalPoint {
    pub x: f64,
    pub y: f64,
}

impl Default for FocalPoint {
    fn default() -> Self {
        FocalPoint { x: 0.5, y: 0.5 }
    }
}

/// A crop to `aspect_width:aspect_height` (1:1 for a crest, 16:9 for a hero)
/// around `focus`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Crop {
    pub aspect_width: u32,
    pub aspect_height: u32,
    pub focus: FocalPoint,
}

/// A rectangle of the upright image, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl Rect {
    pub fn full(width: u32, height: u32) -> Rect {
        Rect {
            x: 0,
            y: 0,
            width,
            height,
        }
    }
}

/// The rectangle `crop` takes from an upright `width`×`height` image: as
/// large as the aspect ratio allows, centred on the focal point, shifted
/// inwards where centring would leave the image.
pub fn crop_rect(width: u32, height: u32, crop: &Crop) -> Result<Rect, MediaError> {
    if crop.aspect_width == 0 || crop.aspect_height == 0 {
        return Err(MediaError::InvalidCrop {
            problem: "both sides of the aspect ratio must be at least 1",
        });
    }
    let FocalPoint { x, y } = crop.focus;
    if !(0.0..=1.0).contains(&x) || !(0.0..=1.0).contains(&y) {
        return Err(MediaError::InvalidCrop {
            problem: "the focal point must lie within the image (x and y from 0 to 1)",
        });
    }
    let ratio = f64::from(crop.aspect_width) / f64::from(crop.aspect_height);
    let (w, h) = (f64::from(width), f64::from(height));
    let (crop_width, crop_height) = if w / h > ratio {
        (clamp_side(h * ratio, width), height)
    } else {
        (width, clamp_side(w / ratio, height))
    };
    Ok(Rect {
        x: place(x * w, crop_width, width),
        y: place(y * h, crop_height, height),
        width: crop_width,
        height: crop_height,
    })
}

fn clamp_side(side: f64, limit: u32) -> u32 {
    (side.round() as u32).clamp(1, limit)
}

/// The start of a `side`-long span centred on `centre`, kept inside
/// `0..limit`.
fn place(centre: f64, side: u32, limit: u32) -> u32 {
    let start = (centre - f64::from(side) / 2.0).round();
    (start.max(0.0) as u32).min(limit - side)
}
