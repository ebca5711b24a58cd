//! The box a dataset's inputs live in: what random points are drawn from and what attacks clamp to.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};

/// An axis-aligned box in input space, one `[lower, upper]` interval per coordinate.
///
/// Raw images live in `[0, 1]^d`; after per-channel normalization each coordinate's interval is
/// transformed with its channel's mean and standard deviation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Domain {
    lower: Vec<f32>,
    upper: Vec<f32>,
}

impl Domain {
    /// A box from per-coordinate bounds; rejects unequal lengths, non-finite bounds and
    /// `lower > upper`.
    pub fn new(lower: Vec<f32>, upper: Vec<f32>) -> Result<Self> {
        if lower.len() != upper.len() {
            return Err(DataError::InvalidArgument(format!(
                "domain bounds have {} lower and {} upper values",
                lower.len(),
                upper.len()
            )));
        }
        let bad = lower.iter().zip(&upper).position(|(lo, hi)| !(lo.is_finite() && hi.is_finite() && lo <= hi));
        if let Some(j) = bad {
            return Err(DataError::InvalidArgument(format!(
                "domain coordinate {j} has bounds [{}, {}]",
                lower[j], upper[j]
            )));
        }
        Ok(Domain { lower, upper })
    }

    /// The cube `[lo, hi]^dim` (the two bounds are put in order if given the other way round).
    pub fn cube(dim: usize, lo: f32, hi: f32) -> Self {
        let (lo, hi) = (lo.min(hi), lo.max(hi));
        Domain { lower: vec![lo; dim], upper: vec![hi; dim] }
    }

    /// The unit cube `[0, 1]^dim`, the domain of images scaled from bytes.
    pub fn unit_cube(dim: usize) -> Self {
        Self::cube(dim, 0.0, 1.0)
    }

    /// The smallest box holding every point of `points` (row-major, `dim` values per point).
    /// Non-finite values are ignored; an empty set gives the unit cube.
    pub fn bounding_box(points: &[f32], dim: usize) -> Self {
        if dim == 0 || points.len() < dim {
            return Self::unit_cube(dim);
        }
        let mut lower = vec![f32::INFINITY; dim];
        let mut upper = vec![f32::NEG_INFINITY; dim];
        for point in points.chunks_exact(dim) {
            for (j, &x) in point.iter().enumerate().filter(|(_, x)| x.is_finite()) {
                lower[j] = lower[j].min(x);
                upper[j] = upper[j].max(x);
            }
        }
        for (lo, hi) in lower.iter_mut().zip(upper.iter_mut()) {
            if lo > hi {
                (*lo, *hi) = (0.0, 1.0);
            }
        }
        Domain { lower, upper }
    }

    /// The number of coordinates.
    pub fn dim(&self) -> usize {
        self.lower.len()
    }

    /// The lower bound of every coordinate.
    pub fn lower(&self) -> &[f32] {
        &self.lower
    }

    /// The upper bound of every coordinate.
    pub fn upper(&self) -> &[f32] {
        &self.upper
    }

    /// `Some((lo, hi))` when every coordinate has the same interval.
    pub fn as_cube(&self) -> Option<(f32, f32)> {
        let lo = *self.lower.first()?;
        let hi = *self.upper.first()?;
        let same = self.lower.iter().all(|&x| x == lo) && self.upper.iter().all(|&x| x == hi);
        same.then_some((lo, hi))
    }

    /// Whether `point` (of length `dim`) lies in the box.
    pub fn contains(&self, point: &[f32]) -> bool {
        point.len() == self.dim()
            && point.iter().zip(self.lower.iter().zip(&self.upper)).all(|(x, (lo, hi))| lo <= x && x <= hi)
    }

    /// Clamps points to the box in place; `points` is row-major with `dim` values per point (a
    /// trailing partial point is clamped coordinate by coordinate too).
    pub fn clamp(&self, points: &mut [f32]) {
        if self.dim() == 0 {
            return;
        }
        for point in points.chunks_mut(self.dim()) {
            for (x, (lo, hi)) in point.iter_mut().zip(self.lower.iter().zip(&self.upper)) {
                *x = x.clamp(*lo, *hi);
            }
        }
    }

    /// `n` points drawn uniformly from the box (row-major, `n * dim` values), seeded.
    pub fn sample_uniform(&self, n: usize, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut points = Vec::with_capacity(n * self.dim());
        for _ in 0..n {
            for (lo, hi) in self.lower.iter().zip(&self.upper) {
                points.push(lo + (hi - lo) * rng.random::<f32>());
            }
        }
        points
    }

    /// The image of the box under `x -> (x - shift) / scale`, coordinate by coordinate, where
    /// `shift` and `scale` are given per coordinate; `scale` must be positive.
    pub(crate) fn affine_image(&self, shift: &[f32], scale: &[f32]) -> Domain {
        let map = |bounds: &[f32]| -> Vec<f32> {
            bounds.iter().zip(shift.iter().zip(scale)).map(|(x, (m, s))| (x - m) / s).collect()
        };
        Domain { lower: map(&self.lower), upper: map(&self.upper) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_inverted_and_mismatched_bounds() {
        assert!(Domain::new(vec![0.0], vec![1.0]).is_ok());
        assert!(Domain::new(vec![1.0], vec![0.0]).is_err());
        assert!(Domain::new(vec![0.0, 0.0], vec![1.0]).is_err());
        assert!(Domain::new(vec![f32::NAN], vec![1.0]).is_err());
    }

    #[test]
    fn cube_orders_its_bounds() {
        assert_eq!(Domain::cube(3, 2.0, -1.0).as_cube(), Some((-1.0, 2.0)));
    }

    #[test]
    fn uniform_samples_are_inside_and_seeded() {
        let domain = Domain::new(vec![-1.0, 10.0], vec![1.0, 20.0]).unwrap();
        let points = domain.sample_uniform(500, 3);
        assert_eq!(points.len(), 1000);
        assert!(points.chunks(2).all(|p| domain.contains(p)));
        assert_eq!(points, domain.sample_uniform(500, 3));
        assert_ne!(points, domain.sample_uniform(500, 4));
    }

    #[test]
    fn clamp_projects_onto_the_box() {
        let domain = Domain::unit_cube(2);
        let mut points = vec![-0.5, 0.5, 2.0, 1.0];
        domain.clamp(&mut points);
        assert_eq!(points, vec![0.0, 0.5, 1.0, 1.0]);
    }

    #[test]
    fn bounding_box_is_tight() {
        let domain = Domain::bounding_box(&[0.0, 5.0, -2.0, 7.0, 1.0, 6.0], 2);
        assert_eq!(domain.lower(), &[-2.0, 5.0]);
        assert_eq!(domain.upper(), &[1.0, 7.0]);
    }
}
