//! Per-neuron sign bookkeeping over the vertices of a neighbourhood: which signs a neuron's
//! pre-activation took, and whether it took more than one (its hyperplane cuts the hull).

use serde::{Deserialize, Serialize};
use tessera_net::Scalar;

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
#[inline]
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

/// The set of signs each neuron of one layer took over the vertices seen so far.
pub(crate) struct SignSets {
    seen: Vec<u8>,
    zero: ZeroSign,
}

/// A neuron took a NaN pre-activation somewhere.
#[derive(Debug)]
pub(crate) struct NotANumber;

impl SignSets {
    pub fn new(width: usize, zero: ZeroSign) -> Self {
        Self { seen: vec![0; width], zero }
    }

    /// Forget every vertex seen.
    pub fn clear(&mut self) {
        self.seen.iter_mut().for_each(|s| *s = 0);
    }

    /// The sign code of one pre-activation.
    #[inline]
    pub fn code<T: Scalar>(&self, v: T) -> u8 {
        sign_code(v, self.zero)
    }

    /// Record that neuron `unit` took the sign `code` on some vertex.
    #[inline]
    pub fn mark(&mut self, unit: usize, code: u8) {
        self.seen[unit] |= code;
    }

    /// Record the pre-activations of one vertex.
    pub fn absorb<T: Scalar>(&mut self, values: &[T]) {
        let zero = self.zero;
        for (seen, &v) in self.seen.iter_mut().zip(values) {
            *seen |= sign_code(v, zero);
        }
    }

    /// Number of neurons whose sign was not the same on every vertex seen.
    pub fn count_changes(&self) -> Result<u32, NotANumber> {
        let mut changes = 0;
        for &s in &self.seen {
            if s & NOT_A_NUMBER != 0 {
                return Err(NotANumber);
            }
            changes += (s.count_ones() > 1) as u32;
        }
        Ok(changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes(vertices: &[&[f64]], zero: ZeroSign) -> u32 {
        let mut s = SignSets::new(vertices[0].len(), zero);
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

    #[test]
    fn nan_is_reported_and_clear_forgets() {
        let mut s = SignSets::new(1, ZeroSign::OwnSign);
        s.absorb(&[f32::NAN]);
        assert!(s.count_changes().is_err());
        s.clear();
        s.absorb(&[1.0f32]);
        assert_eq!(s.count_changes().unwrap(), 0);
    }
}
