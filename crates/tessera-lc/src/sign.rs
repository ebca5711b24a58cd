//! Per-neuron sign bookkeeping over the vertices of a neighbourhood: which signs a neuron's
//! pre-activation took, and whether it took more than one (its hyperplane cuts the hull).

use serde::{Deserialize, Serialize};
use tessera_net::simd::with_avx512;
use tessera_net::{Activation, Scalar};

/// How an exact zero pre-activation counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZeroSign {
    /// Zero is a sign of its own, as `torch.sign` (the reference code): a neuron that is zero
    /// on one vertex and positive on another counts.
    #[default]
    OwnSign,
    /// Zero counts as positive (the side ReLU's slope 1 takes).
    Positive,
}

const NEGATIVE: u8 = 1;
const ZERO: u8 = 2;
const POSITIVE: u8 = 4;
const NOT_A_NUMBER: u8 = 8;

/// The sign code of `v` (a NaN has a code of its own).
#[inline(always)]
fn sign_code<T: Scalar>(v: T, zero: ZeroSign) -> u8 {
    let zero_code = match zero {
        ZeroSign::OwnSign => ZERO,
        ZeroSign::Positive => POSITIVE,
    };
    let z = T::zero();
    let code = ((v < z) as u8 * NEGATIVE) | ((v == z) as u8 * zero_code) | ((v > z) as u8 * POSITIVE);
    // A NaN compares false with everything: no sign at all.
    code | ((code == 0) as u8 * NOT_A_NUMBER)
}

/// Where the pieces of a counted layer's units meet.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum LayerKinks {
    /// One kink at 0 (the ReLU family, and the output layer's signs).
    AtZero,
    /// A clamp's two kinks, `lo < hi`.
    Clamp { lo: f64, hi: f64 },
}

impl LayerKinks {
    /// The kinks of an activation layer.
    pub fn of(activation: Activation) -> Self {
        match activation {
            Activation::Clamp { lo, hi } => LayerKinks::Clamp { lo, hi },
            _ => LayerKinks::AtZero,
        }
    }
}

/// The set of pieces each neuron of one layer took over the vertices seen so far. A piece is
/// recorded as the sign of the pre-activation relative to each kink (low four bits: the first
/// kink, high four: the second); a neuron lies on one piece exactly when each kink saw one sign.
pub(crate) struct SignSets {
    seen: Vec<u8>,
    zero: ZeroSign,
    kinks: LayerKinks,
}

/// A neuron took a NaN pre-activation somewhere.
#[derive(Debug)]
pub(crate) struct NotANumber;

impl SignSets {
    pub fn new(width: usize, zero: ZeroSign, kinks: LayerKinks) -> Self {
        Self { seen: vec![0; width], zero, kinks }
    }

    /// Forget every vertex seen.
    pub fn clear(&mut self) {
        self.seen.iter_mut().for_each(|s| *s = 0);
    }

    /// The piece code of one pre-activation.
    #[inline(always)]
    pub fn code<T: Scalar>(&self, v: T) -> u8 {
        match self.kinks {
            LayerKinks::AtZero => sign_code(v, self.zero),
            LayerKinks::Clamp { lo, hi } => clamp_code(v, lo, hi, self.zero),
        }
    }

    /// Whether `a` and `b` lie on the same piece (a value on a kink takes the piece above).
    #[inline(always)]
    pub fn same_piece<T: Scalar>(&self, a: T, b: T) -> bool {
        match self.kinks {
            LayerKinks::AtZero => (a < T::zero()) == (b < T::zero()),
            LayerKinks::Clamp { lo, hi } => {
                let (lo, hi) = (T::from_f64(lo), T::from_f64(hi));
                (a < lo) == (b < lo) && (a < hi) == (b < hi)
            }
        }
    }

    /// Record that neuron `unit` took the piece `code` on some vertex.
    #[inline]
    pub fn mark(&mut self, unit: usize, code: u8) {
        self.seen[unit] |= code;
    }

    /// Record the pre-activations of one vertex.
    /// Compiled for AVX-512 where the CPU has it: at large radii, with most vertices exact,
    /// this loop was an eighth of an LC pass with two lanes.
    pub fn absorb<T: Scalar>(&mut self, values: &[T]) {
        let (zero, kinks, seen) = (self.zero, self.kinks, &mut self.seen);
        with_avx512(
            #[inline(always)]
            || match kinks {
                LayerKinks::AtZero => seen.iter_mut().zip(values).for_each(|(s, &v)| *s |= sign_code(v, zero)),
                LayerKinks::Clamp { lo, hi } => {
                    seen.iter_mut().zip(values).for_each(|(s, &v)| *s |= clamp_code(v, lo, hi, zero))
                }
            },
        )
    }

    /// The piece codes seen per neuron.
    #[cfg(test)]
    pub fn seen(&self) -> &[u8] {
        &self.seen
    }

    /// Number of neurons whose piece was not the same on every vertex seen.
    pub fn count_changes(&self) -> Result<u32, NotANumber> {
        let mut changes = 0;
        match self.kinks {
            LayerKinks::AtZero => {
                for &s in &self.seen {
                    if s & NOT_A_NUMBER != 0 {
                        return Err(NotANumber);
                    }
                    changes += (s.count_ones() > 1) as u32;
                }
            }
            LayerKinks::Clamp { .. } => {
                for &s in &self.seen {
                    if s & (NOT_A_NUMBER | NOT_A_NUMBER << 4) != 0 {
                        return Err(NotANumber);
                    }
                    changes += ((s & 0x0f).count_ones() > 1 || (s >> 4).count_ones() > 1) as u32;
                }
            }
        }
        Ok(changes)
    }
}

/// The signs of `v - lo` (low bits) and `v - hi` (high bits).
#[inline(always)]
fn clamp_code<T: Scalar>(v: T, lo: f64, hi: f64, zero: ZeroSign) -> u8 {
    sign_code(v - T::from_f64(lo), zero) | sign_code(v - T::from_f64(hi), zero) << 4
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes(vertices: &[&[f64]], zero: ZeroSign) -> u32 {
        let mut s = SignSets::new(vertices[0].len(), zero, LayerKinks::AtZero);
        vertices.iter().for_each(|v| s.absorb(v));
        s.count_changes().unwrap()
    }

    #[test]
    fn a_neuron_counts_when_its_sign_is_not_constant() {
        let v: [&[f64]; 2] = [&[1.0, -1.0, 2.0, -0.5], &[3.0, 1.0, -2.0, -0.1]];
        assert_eq!(changes(&v, ZeroSign::OwnSign), 2);
    }

    #[test]
    fn zero_is_its_own_sign_by_default_and_positive_on_request() {
        let v: [&[f64]; 2] = [&[0.0, 0.0, 0.0], &[1.0, -1.0, 0.0]];
        assert_eq!(changes(&v, ZeroSign::OwnSign), 2);
        assert_eq!(changes(&v, ZeroSign::Positive), 1);
    }

    /// A clamp unit counts when its vertices do not all lie on one of its three pieces; a
    /// value on a kink is a piece of its own unless zero counts as positive (then it joins the
    /// piece above).
    #[test]
    fn a_clamp_unit_counts_when_its_vertices_leave_one_piece() {
        let clamp = LayerKinks::Clamp { lo: 0.0, hi: 6.0 };
        let changes = |vertices: &[[f64; 6]], zero| {
            let mut s = SignSets::new(6, zero, clamp);
            vertices.iter().for_each(|v| s.absorb(v));
            s.count_changes().unwrap()
        };
        // Units: all below; all between; all above; below and between; between and above;
        // below and above (jumping the middle piece).
        let v = [[-1.0, 1.0, 7.0, -1.0, 5.0, -2.0], [-2.0, 5.0, 8.0, 1.0, 7.0, 9.0]];
        assert_eq!(changes(&v, ZeroSign::OwnSign), 3);
        // On the kinks: at lo with between, at hi with above, at lo alone.
        let v = [[0.0, 6.0, 0.0, 1.0, 1.0, 1.0], [3.0, 7.0, 0.0, 1.0, 1.0, 1.0]];
        assert_eq!(changes(&v, ZeroSign::OwnSign), 2);
        assert_eq!(changes(&v, ZeroSign::Positive), 0);
        let s = SignSets::new(0, ZeroSign::OwnSign, clamp);
        assert!(s.same_piece(0.0, 5.9) && s.same_piece(6.0, 60.0) && !s.same_piece(-0.1, 0.0));
    }

    #[test]
    fn nan_is_reported_and_clear_forgets() {
        let mut s = SignSets::new(1, ZeroSign::OwnSign, LayerKinks::AtZero);
        s.absorb(&[f32::NAN]);
        assert!(s.count_changes().is_err());
        s.clear();
        s.absorb(&[1.0f32]);
        assert_eq!(s.count_changes().unwrap(), 0);
    }
}
