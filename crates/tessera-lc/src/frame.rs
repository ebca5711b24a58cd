//! The frame: P orthonormal directions in input space that span every LC neighbourhood, and the
//! cross-polytope vertices `x ± r v_p` it gives around a point.

use crate::{LcError, Result};
use nalgebra::DMatrix;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Largest `|<v_i, v_j> - delta_ij|` accepted for a frame read from a file (after each row is
/// scaled to unit length, as the reference code does); leaves room for `float32` files.
const LOADED_ORTHONORMALITY_TOLERANCE: f64 = 1e-5;

/// P orthonormal directions in a d-dimensional input space, stored as the rows of a `P x d`
/// row-major matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    dim: usize,
    directions: Vec<f64>,
}

impl Frame {
    /// The Q factor of the QR decomposition of a `dim x p` matrix of standard normal entries
    /// drawn from `seed` (column signs fixed so that R has a positive diagonal, which makes the
    /// frame uniformly distributed).
    pub fn random(dim: usize, p: usize, seed: u64) -> Result<Self> {
        check_count(p, dim, "random frame")?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let gaussian: Vec<f64> = (0..dim * p).map(|_| StandardNormal.sample(&mut rng)).collect();
        let qr = DMatrix::from_row_slice(dim, p, &gaussian).qr();
        let (q, r) = (qr.q(), qr.r());
        let mut directions = Vec::with_capacity(p * dim);
        for j in 0..p {
            let sign = if r[(j, j)] < 0.0 { -1.0 } else { 1.0 };
            directions.extend(q.column(j).iter().map(|v| sign * v));
        }
        Ok(Self { dim, directions })
    }

    /// A frame from `P x dim` row-major rows; each row is scaled to unit length and the rows
    /// must then be orthonormal. `name` (e.g. the file) appears in errors.
    pub fn from_rows(rows: Vec<f64>, dim: usize, name: &str) -> Result<Self> {
        if dim == 0 || rows.is_empty() {
            return Err(LcError::NoDirections { frame: name.into() });
        }
        if !rows.len().is_multiple_of(dim) {
            return Err(LcError::FrameWidth { frame: name.into(), got: rows.len(), expected: dim });
        }
        check_count(rows.len() / dim, dim, name)?;
        let mut frame = Self { dim, directions: rows };
        for row in frame.directions.chunks_mut(dim) {
            let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
            if !(norm > 0.0 && norm.is_finite()) {
                return Err(LcError::NotOrthonormal { frame: name.into(), deviation: f64::NAN });
            }
            row.iter_mut().for_each(|v| *v /= norm);
        }
        let deviation = frame.orthonormality_error();
        // Also rejects a NaN deviation.
        if deviation.is_nan() || deviation > LOADED_ORTHONORMALITY_TOLERANCE {
            return Err(LcError::NotOrthonormal { frame: name.into(), deviation });
        }
        Ok(frame)
    }

    /// Number of directions P.
    pub fn p(&self) -> usize {
        self.directions.len() / self.dim
    }

    /// Input-space dimension d.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Direction `p` (unit length).
    pub fn direction(&self, p: usize) -> &[f64] {
        &self.directions[p * self.dim..(p + 1) * self.dim]
    }

    /// All directions, `P x d` row-major.
    pub fn directions(&self) -> &[f64] {
        &self.directions
    }

    /// Fail unless the directions live in a space of `expected` coordinates.
    pub fn check_width(&self, expected: usize, name: &str) -> Result<()> {
        if self.dim != expected {
            return Err(LcError::FrameWidth { frame: name.into(), got: self.dim, expected });
        }
        Ok(())
    }

    /// The 2P vertices of the cross-polytope of radius `radius` around `center`, `2P x d`
    /// row-major: `center + r v_1, .., center + r v_P, center - r v_1, .., center - r v_P`
    /// (the reference code's order).
    pub fn vertices(&self, center: &[f64], radius: f64) -> Vec<f64> {
        [radius, -radius]
            .iter()
            .flat_map(|&step| {
                self.directions.chunks(self.dim).flat_map(move |v| center.iter().zip(v).map(move |(c, v)| c + step * v))
            })
            .collect()
    }

    /// Largest `|<v_i, v_j> - delta_ij|` over all pairs of directions.
    pub fn orthonormality_error(&self) -> f64 {
        let rows: Vec<&[f64]> = self.directions.chunks(self.dim).collect();
        let mut worst = 0.0f64;
        for (i, a) in rows.iter().enumerate() {
            for (j, b) in rows.iter().enumerate().skip(i) {
                let dot: f64 = a.iter().zip(*b).map(|(x, y)| x * y).sum();
                let target = if i == j { 1.0 } else { 0.0 };
                worst = worst.max((dot - target).abs());
            }
        }
        worst
    }
}

/// A seed for the frame of the point with index `index` when every point gets its own frame:
/// distinct per point and per base seed (SplitMix64 finaliser of their combination).
pub fn per_point_seed(seed: u64, index: usize) -> u64 {
    let mut z = seed ^ (index as u64).wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// P must be between 1 and d.
pub(crate) fn check_count(p: usize, dim: usize, name: &str) -> Result<()> {
    if p == 0 {
        return Err(LcError::NoDirections { frame: name.into() });
    }
    if p > dim {
        return Err(LcError::TooManyDirections { frame: name.into(), p, dim });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_frames_are_reproducible_and_differ_between_seeds() {
        let a = Frame::random(10, 4, 7).unwrap();
        assert_eq!(a, Frame::random(10, 4, 7).unwrap());
        assert_ne!(a, Frame::random(10, 4, 8).unwrap());
        assert_eq!((a.p(), a.dim()), (4, 10));
    }

    #[test]
    fn a_full_frame_is_an_orthonormal_basis() {
        let f = Frame::random(6, 6, 1).unwrap();
        assert!(f.orthonormality_error() < 1e-12);
    }

    #[test]
    fn more_directions_than_dimensions_or_none_are_errors() {
        let err = Frame::random(3, 4, 0).unwrap_err().to_string();
        assert!(err.contains("4 directions") && err.contains("3-dimensional"), "{err}");
        assert!(matches!(Frame::random(3, 0, 0), Err(LcError::NoDirections { .. })));
    }

    #[test]
    fn loaded_rows_are_normalised_and_must_be_orthogonal() {
        let f = Frame::from_rows(vec![2.0, 0.0, 0.0, 0.0, 0.5, 0.0], 3, "rows").unwrap();
        assert_eq!(f.direction(0), [1.0, 0.0, 0.0]);
        assert_eq!(f.direction(1), [0.0, 1.0, 0.0]);
        let err = Frame::from_rows(vec![1.0, 0.0, 1.0, 1.0], 2, "skew.npy").unwrap_err().to_string();
        assert!(err.contains("skew.npy") && err.contains("not orthonormal"), "{err}");
        let err = Frame::from_rows(vec![1.0, 0.0, 0.0], 2, "odd").unwrap_err();
        assert!(matches!(err, LcError::FrameWidth { .. }), "{err}");
    }

    #[test]
    fn per_point_seeds_differ() {
        let seeds: std::collections::HashSet<u64> = (0..1000).map(|i| per_point_seed(3, i)).collect();
        assert_eq!(seeds.len(), 1000);
        assert_ne!(per_point_seed(3, 0), per_point_seed(4, 0));
    }
}
