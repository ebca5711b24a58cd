//! Colours of partition pictures: random region colours, a perceptually ordered ramp for
//! values, and a palette of distinct colours for layers.

use plotters::style::RGBColor;
use serde::{Deserialize, Serialize};

/// An sRGB colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl From<Rgb> for RGBColor {
    fn from(c: Rgb) -> Self {
        RGBColor(c.0, c.1, c.2)
    }
}

/// Ten distinct colours (matplotlib's "tab10"), for layers.
pub(crate) const PALETTE: [Rgb; 10] = [
    Rgb(31, 119, 180),
    Rgb(255, 127, 14),
    Rgb(44, 160, 44),
    Rgb(214, 39, 40),
    Rgb(148, 103, 189),
    Rgb(140, 86, 75),
    Rgb(227, 119, 194),
    Rgb(127, 127, 127),
    Rgb(188, 189, 34),
    Rgb(23, 190, 207),
];

/// Control points of the viridis colour map, evenly spaced on [0, 1].
const VIRIDIS: [Rgb; 9] = [
    Rgb(68, 1, 84),
    Rgb(71, 44, 122),
    Rgb(59, 81, 139),
    Rgb(44, 113, 142),
    Rgb(33, 144, 141),
    Rgb(39, 173, 129),
    Rgb(92, 200, 99),
    Rgb(170, 220, 50),
    Rgb(253, 231, 37),
];

/// The viridis colour of `t` in [0, 1] (clamped), linearly interpolated.
pub(crate) fn viridis(t: f64) -> Rgb {
    let x = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 } * (VIRIDIS.len() - 1) as f64;
    let i = (x.floor() as usize).min(VIRIDIS.len() - 2);
    let f = x - i as f64;
    let mix = |a: u8, b: u8| (a as f64 + f * (b as f64 - a as f64)).round() as u8;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    Rgb(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// The light random colour of a region with activation code `code` (fixed by the code and `seed`).
pub(crate) fn region_colour(code: &[u64], seed: u64) -> Rgb {
    random_light(code.iter().fold(seed, |h, &c| h.rotate_left(17) ^ c))
}

/// A light random colour determined by `key` (the same key always gets the same colour).
pub(crate) fn random_light(key: u64) -> Rgb {
    let h = mix64(key);
    let channel = |shift: u32| 110 + ((h >> shift) & 0xff) as u32 * 145 / 255;
    Rgb(channel(0) as u8, channel(8) as u8, channel(16) as u8)
}

/// splitmix64's finaliser: spreads nearby keys over all bits.
fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viridis_ends_and_clamps() {
        assert_eq!(viridis(0.0), VIRIDIS[0]);
        assert_eq!(viridis(1.0), VIRIDIS[8]);
        assert_eq!(viridis(7.0), VIRIDIS[8]);
        assert_eq!(viridis(f64::NAN), VIRIDIS[0]);
    }

    #[test]
    fn random_colours_are_deterministic_and_light() {
        assert_eq!(random_light(5), random_light(5));
        assert_ne!(random_light(5), random_light(6));
        let c = random_light(12345);
        assert!(c.0 >= 110 && c.1 >= 110 && c.2 >= 110);
    }
}
