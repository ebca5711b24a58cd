//! Point sets LC is measured on, read in batches so memory stays bounded: points already in
//! memory (e.g. a dataset split chosen by the caller) and uniform random points in a box (the
//! data domain); callers stream other sources (e.g. files) by implementing [`PointSource`].

use crate::{LcError, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A batch of points: `indices[i]` identifies point `i` in its set (its row in the CSV; the
/// per-point frame seed), `coords` holds the points row-major.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PointBatch {
    /// Index of each point in its set.
    pub indices: Vec<usize>,
    /// Coordinates, row-major, `len() x width`.
    pub coords: Vec<f64>,
}

impl PointBatch {
    /// Number of points in the batch.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// Whether the batch holds no point.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
}

/// A named set of points in input space, read front to back in batches.
pub trait PointSource {
    /// The set's name (the CSV `set` column).
    fn name(&self) -> &str;
    /// Coordinates per point.
    fn dim(&self) -> usize;
    /// Number of points in the set.
    fn len(&self) -> usize;
    /// Whether the set has no point.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The next at most `max` points; an empty batch once the set is exhausted.
    fn next_batch(&mut self, max: usize) -> Result<PointBatch>;
}

/// Points held in memory, e.g. a dataset split or subset selected by the caller.
#[derive(Clone, Debug)]
pub struct InMemoryPoints {
    name: String,
    dim: usize,
    coords: Vec<f64>,
    indices: Vec<usize>,
    next: usize,
}

impl InMemoryPoints {
    /// `coords` row-major with `dim` values per point; indices `0..n`.
    pub fn new(name: impl Into<String>, dim: usize, coords: Vec<f64>) -> Result<Self> {
        let name = name.into();
        if dim == 0 || !coords.len().is_multiple_of(dim) {
            return Err(LcError::BadPointSet {
                set: name,
                message: format!("{} values do not make rows of {dim} coordinates", coords.len()),
            });
        }
        let indices = (0..coords.len() / dim).collect();
        Ok(Self { name, dim, coords, indices, next: 0 })
    }

    /// Identify the points by `indices` (e.g. their rows in the full dataset) instead of `0..n`.
    pub fn with_indices(mut self, indices: Vec<usize>) -> Result<Self> {
        if indices.len() != self.indices.len() {
            return Err(LcError::BadPointSet {
                set: self.name,
                message: format!("{} indices for {} points", indices.len(), self.indices.len()),
            });
        }
        self.indices = indices;
        Ok(self)
    }
}

impl PointSource for InMemoryPoints {
    fn name(&self) -> &str {
        &self.name
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn len(&self) -> usize {
        self.indices.len()
    }
    fn next_batch(&mut self, max: usize) -> Result<PointBatch> {
        let end = (self.next + max).min(self.indices.len());
        let batch = PointBatch {
            indices: self.indices[self.next..end].to_vec(),
            coords: self.coords[self.next * self.dim..end * self.dim].to_vec(),
        };
        self.next = end;
        Ok(batch)
    }
}

/// `n` points drawn uniformly from the box `[lower, upper]` by a seeded generator, produced as
/// they are read (the same points for the same seed, whatever the batch size).
#[derive(Clone, Debug)]
pub struct UniformBox {
    name: String,
    lower: Vec<f64>,
    upper: Vec<f64>,
    len: usize,
    next: usize,
    rng: ChaCha8Rng,
}

impl UniformBox {
    /// A box with per-coordinate bounds; each must be finite with `lower <= upper`.
    pub fn new(name: impl Into<String>, lower: Vec<f64>, upper: Vec<f64>, n: usize, seed: u64) -> Result<Self> {
        let name = name.into();
        let bad = |message: String| LcError::BadPointSet { set: name.clone(), message };
        if lower.len() != upper.len() || lower.is_empty() {
            return Err(bad(format!("box has {} lower and {} upper bounds", lower.len(), upper.len())));
        }
        if let Some(j) =
            (0..lower.len()).find(|&j| !(lower[j].is_finite() && upper[j].is_finite() && lower[j] <= upper[j]))
        {
            return Err(bad(format!("coordinate {j} has bounds [{}, {}]", lower[j], upper[j])));
        }
        Ok(Self { name, lower, upper, len: n, next: 0, rng: ChaCha8Rng::seed_from_u64(seed) })
    }

    /// The cube `[lo, hi]^dim` (e.g. `[0, 1]^784` for MNIST).
    pub fn cube(name: impl Into<String>, dim: usize, lo: f64, hi: f64, n: usize, seed: u64) -> Result<Self> {
        Self::new(name, vec![lo; dim], vec![hi; dim], n, seed)
    }
}

impl PointSource for UniformBox {
    fn name(&self) -> &str {
        &self.name
    }
    fn dim(&self) -> usize {
        self.lower.len()
    }
    fn len(&self) -> usize {
        self.len
    }
    fn next_batch(&mut self, max: usize) -> Result<PointBatch> {
        let end = (self.next + max).min(self.len);
        let mut coords = Vec::with_capacity((end - self.next) * self.dim());
        for _ in self.next..end {
            for (lo, hi) in self.lower.iter().zip(&self.upper) {
                coords.push(lo + (hi - lo) * self.rng.random::<f64>());
            }
        }
        let batch = PointBatch { indices: (self.next..end).collect(), coords };
        self.next = end;
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(source: &mut dyn PointSource, batch: usize) -> PointBatch {
        let mut all = PointBatch::default();
        loop {
            let b = source.next_batch(batch).unwrap();
            if b.is_empty() {
                return all;
            }
            all.indices.extend(b.indices);
            all.coords.extend(b.coords);
        }
    }

    #[test]
    fn uniform_points_are_inside_and_independent_of_the_batch_size() {
        let mut a = UniformBox::new("r", vec![-1.0, 10.0], vec![1.0, 20.0], 50, 3).unwrap();
        let mut b = UniformBox::new("r", vec![-1.0, 10.0], vec![1.0, 20.0], 50, 3).unwrap();
        let (a, b) = (drain(&mut a, 7), drain(&mut b, 50));
        assert_eq!(a, b);
        assert_eq!(a.indices, (0..50).collect::<Vec<_>>());
        assert!(a.coords.chunks(2).all(|p| (-1.0..=1.0).contains(&p[0]) && (10.0..=20.0).contains(&p[1])));
    }

    #[test]
    fn bad_boxes_are_rejected() {
        assert!(UniformBox::new("r", vec![1.0], vec![0.0], 5, 0).is_err());
        assert!(UniformBox::new("r", vec![0.0, 0.0], vec![1.0], 5, 0).is_err());
    }

    #[test]
    fn in_memory_points_keep_their_indices() {
        let mut p = InMemoryPoints::new("s", 2, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
            .unwrap()
            .with_indices(vec![10, 20, 30])
            .unwrap();
        let all = drain(&mut p, 2);
        assert_eq!(all.indices, [10, 20, 30]);
        assert_eq!(all.coords[4], 4.0);
        assert!(InMemoryPoints::new("s", 2, vec![0.0; 3]).is_err());
    }
}
