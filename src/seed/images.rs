//! The demo site's pictures, drawn in code (nothing can be downloaded where
//! keel is built or tried): a crest per club in its colours, with a
//! transparent background, and a match graphic per big fixture, the two
//! clubs' colours meeting on a floodlit pitch with their crests. Drawn as
//! PNG and uploaded like any editor's file, so they go through the same
//! checks and become the same responsive variants.

use image::{DynamicImage, Rgb, RgbImage, Rgba, RgbaImage, imageops};

use crate::media::samples::{Noise, png};

/// A club's colours and the pattern on its shield.
#[derive(Debug, Clone, Copy)]
pub struct Kit {
    pub primary: [u8; 3],
    pub secondary: [u8; 3],
    pub pattern: Pattern,
}

#[derive(Debug, Clone, Copy)]
pub enum Pattern {
    Stripes,
    Hoops,
    Halves,
    Chevron,
    Sash,
    Cross,
}

/// Crest side in pixels: its variants are 320 and this.
pub const CREST: u32 = 480;
/// A match graphic: 16:9, wide enough for a hero at 2x on a phone.
pub const HERO: (u32, u32) = (1280, 720);

/// A shield in the club's colours on a transparent background, as PNG.
pub fn crest(kit: Kit) -> Vec<u8> {
    png(&DynamicImage::ImageRgba8(crest_image(kit, CREST)))
}

fn crest_image(kit: Kit, size: u32) -> RgbaImage {
    let s = size as f32;
    let outline = [20, 24, 33];
    RgbaImage::from_fn(size, size, |x, y| {
        let (u, v) = ((x as f32 + 0.5) / s, (y as f32 + 0.5) / s);
        match shield(u, v) {
            Shield::Outside => Rgba([0, 0, 0, 0]),
            Shield::Edge => opaque(outline),
            Shield::Inside => {
                let primary = match kit.pattern {
                    Pattern::Stripes => ((u * 7.0) as u32).is_multiple_of(2),
                    Pattern::Hoops => ((v * 6.0) as u32).is_multiple_of(2),
                    Pattern::Halves => u < 0.5,
                    Pattern::Chevron => v < 0.35 + (u - 0.5).abs() * 0.6,
                    Pattern::Sash => (u - v).abs() > 0.12,
                    Pattern::Cross => (u - 0.5).abs() > 0.09 && (v - 0.42).abs() > 0.09,
                };
                // A ball in the upper third: every crest has one.
                let ball = ((u - 0.5).powi(2) + (v - 0.3).powi(2)).sqrt();
                if ball < 0.085 {
                    // A dark patch in the middle and five around the rim.
                    let angle = (v - 0.3).atan2(u - 0.5).to_degrees() + 90.0;
                    let off = (angle.rem_euclid(72.0) - 36.0).abs();
                    let patch = ball < 0.028 || (ball > 0.058 && off > 22.0);
                    opaque(if patch { outline } else { [245, 245, 240] })
                } else if ball < 0.1 {
                    opaque(outline)
                } else {
                    opaque(if primary { kit.primary } else { kit.secondary })
                }
            }
        }
    })
}

enum Shield {
    Outside,
    Edge,
    Inside,
}

/// A heater shield: straight sides down to two-thirds, then arcs to a point.
fn shield(u: f32, v: f32) -> Shield {
    let (left, right, top, bottom) = (0.14, 0.86, 0.08, 0.94);
    let half = (right - left) / 2.0;
    let width_at = |v: f32| {
        if v < 0.62 {
            half
        } else {
            let t = (v - 0.62) / (bottom - 0.62);
            half * (1.0 - t * t).max(0.0).sqrt()
        }
    };
    if !(top..=bottom).contains(&v) {
        return Shield::Outside;
    }
    let from_centre = (u - 0.5).abs();
    let w = width_at(v);
    if from_centre > w {
        Shield::Outside
    } else if from_centre > w - 0.025 || v < top + 0.025 || v > bottom - 0.03 {
        Shield::Edge
    } else {
        Shield::Inside
    }
}

fn opaque([r, g, b]: [u8; 3]) -> Rgba<u8> {
    Rgba([r, g, b, 255])
}

/// A match graphic: the home colours from the left and the away colours
/// from the right meeting on a diagonal over a striped pitch under
/// floodlights, each club's crest on its side. As PNG.
pub fn match_graphic(home: Kit, away: Kit) -> Vec<u8> {
    let (w, h) = HERO;
    let mut noise = Noise(0x5EED_CAFE_F00D_0001);
    let mut canvas = RgbImage::from_fn(w, h, |x, y| {
        let (u, v) = (x as f32 / w as f32, y as f32 / h as f32);
        // Grass stripes below the horizon, night sky above.
        let base = if v > 0.45 {
            let stripe = ((u * 10.0 + v * 3.0) as u32).is_multiple_of(2);
            if stripe {
                [36u8, 120, 54]
            } else {
                [44, 138, 62]
            }
        } else {
            [14u8, 20, 40]
        };
        // The clubs' colours sweep in from each side to a diagonal.
        let split = 0.5 + (v - 0.5) * 0.25;
        let (kit, reach) = if u < split {
            (home.primary, (split - u) / split)
        } else {
            (away.primary, (u - split) / (1.0 - split))
        };
        let tint = (reach * 1.4).min(0.85);
        // Floodlights: two bright pools near the top corners.
        let light = [(0.15, 0.05), (0.85, 0.05)]
            .iter()
            .map(|(lx, ly)| {
                let d = ((u - lx).powi(2) * 3.0 + (v - ly).powi(2) * 5.0).sqrt();
                (0.35 - d).max(0.0) * 2.2
            })
            .sum::<f32>();
        let grain = f32::from(noise.byte() % 12) - 6.0;
        let channel = |i: usize| {
            let mixed = f32::from(base[i]) * (1.0 - tint) + f32::from(kit[i]) * tint;
            (mixed + light * 255.0 + grain).clamp(0.0, 255.0) as u8
        };
        Rgb([channel(0), channel(1), channel(2)])
    });
    let size = h * 2 / 5;
    for (kit, cx) in [(home, w / 4), (away, w * 3 / 4)] {
        let badge = crest_image(kit, size);
        let (x0, y0) = (cx - size / 2, h / 2 - size / 2);
        for (x, y, &Rgba([r, g, b, a])) in badge.enumerate_pixels() {
            if a > 0 {
                canvas.put_pixel(x0 + x, y0 + y, Rgb([r, g, b]));
            }
        }
    }
    // A bar across the foot, where a site would set the score.
    let bar = RgbImage::from_pixel(w, h / 10, Rgb([15, 18, 26]));
    imageops::overlay(&mut canvas, &bar, 0, i64::from(h - h / 10));
    png(&DynamicImage::ImageRgb8(canvas))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIT: Kit = Kit {
        primary: [200, 16, 46],
        secondary: [250, 250, 250],
        pattern: Pattern::Chevron,
    };

    #[test]
    fn seed_crest_is_a_shield_on_transparency() {
        let bytes = crest(KIT);
        let image = image::load_from_memory(&bytes).unwrap().to_rgba8();
        assert_eq!(image.dimensions(), (CREST, CREST));
        assert_eq!(image.get_pixel(2, 2)[3], 0, "a corner is transparent");
        assert_eq!(
            image.get_pixel(CREST / 2, CREST / 2)[3],
            255,
            "the middle is not"
        );
    }

    const KITS_AWAY: Kit = Kit {
        primary: [24, 43, 92],
        secondary: [240, 240, 236],
        pattern: Pattern::Stripes,
    };

    #[test]
    fn seed_match_graphic_is_an_opaque_hero() {
        let bytes = match_graphic(KIT, KITS_AWAY);
        let image = image::load_from_memory(&bytes).unwrap();
        assert_eq!((image.width(), image.height()), HERO);
        assert!(!image.color().has_alpha());
    }
}
