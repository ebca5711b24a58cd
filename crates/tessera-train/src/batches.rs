//! Seeded random mini-batches, as PyTorch's `DataLoader(shuffle=True)` draws them.
//!
//! The exact scheme: the training set of `n` samples is visited epoch by epoch. Epoch `e` uses a
//! fresh permutation of `0..n`: a Fisher–Yates shuffle (for `i` from `n-1` down to 1, swap `i`
//! with a uniform `j` in `0..=i`) driven by a `ChaCha8Rng` seeded with `seed` on stream `e`. The
//! permutation is cut into consecutive batches of `batch_size`; the last one is smaller when
//! `batch_size` does not divide `n` (PyTorch's `drop_last=False`), or skipped with `drop_last`.
//!
//! The batch of optimizer step `t` (counting from 0) depends only on `(seed, n, batch_size,
//! drop_last, t)`, so the sampler's whole state is the step number: a resumed run draws exactly
//! the batches an uninterrupted one would.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Result, TrainError};

/// Draws the sample indices of each optimizer step.
#[derive(Clone, Debug)]
pub struct BatchSampler {
    samples: usize,
    batch_size: usize,
    drop_last: bool,
    seed: u64,
    /// The permutation of the epoch last asked for, cached.
    cached: Option<(u64, Vec<usize>)>,
}

impl BatchSampler {
    /// A sampler over `samples` points in batches of `batch_size`, reshuffled every epoch from
    /// `seed`; `drop_last` skips each epoch's last, smaller batch. Errors when no batch can be
    /// drawn (a size of zero, or `drop_last` with `batch_size > samples`).
    pub fn new(samples: usize, batch_size: usize, drop_last: bool, seed: u64) -> Result<Self> {
        if samples == 0 || batch_size == 0 {
            return Err(TrainError::config(
                "[train]",
                format!("cannot draw batches of {batch_size} from {samples} samples"),
            ));
        }
        if drop_last && batch_size > samples {
            return Err(TrainError::config(
                "[train]",
                format!("batch_size {batch_size} exceeds the {samples} training samples and drop_last is set"),
            ));
        }
        Ok(Self { samples, batch_size, drop_last, seed, cached: None })
    }

    /// Batches per epoch.
    pub fn batches_per_epoch(&self) -> usize {
        if self.drop_last {
            self.samples / self.batch_size
        } else {
            self.samples.div_ceil(self.batch_size)
        }
    }

    /// The sample indices of optimizer step `step` (0-based).
    pub fn batch(&mut self, step: u64) -> &[usize] {
        let per_epoch = self.batches_per_epoch() as u64;
        let (epoch, k) = (step / per_epoch, (step % per_epoch) as usize);
        if self.cached.as_ref().map(|(e, _)| *e) != Some(epoch) {
            self.cached = Some((epoch, epoch_permutation(self.samples, self.seed, epoch)));
        }
        let order = &self.cached.as_ref().expect("just cached").1;
        let start = k * self.batch_size;
        &order[start..(start + self.batch_size).min(self.samples)]
    }
}

/// The permutation of `0..n` used in `epoch`.
pub fn epoch_permutation(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(epoch);
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        order.swap(i, j);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_epoch_visits_every_sample_once() {
        let mut s = BatchSampler::new(10, 3, false, 7).unwrap();
        assert_eq!(s.batches_per_epoch(), 4);
        for epoch in 0..3u64 {
            let mut seen: Vec<usize> = (0..4).flat_map(|k| s.batch(epoch * 4 + k).to_vec()).collect();
            assert_eq!(s.batch(epoch * 4 + 3).len(), 1);
            seen.sort();
            assert_eq!(seen, (0..10).collect::<Vec<_>>());
        }
    }

    #[test]
    fn epochs_differ_and_seeds_repeat() {
        let mut a = BatchSampler::new(50, 50, true, 1).unwrap();
        let mut b = BatchSampler::new(50, 50, true, 1).unwrap();
        let first = a.batch(0).to_vec();
        assert_ne!(first, a.batch(1).to_vec());
        // Random access gives the same batches as sequential access.
        assert_eq!(b.batch(1).to_vec(), a.batch(1).to_vec());
        assert_eq!(b.batch(0).to_vec(), first);
    }

    #[test]
    fn drop_last_skips_the_partial_batch() {
        let mut s = BatchSampler::new(10, 3, true, 0).unwrap();
        assert_eq!(s.batches_per_epoch(), 3);
        assert!((0..9).all(|t| s.batch(t).len() == 3));
        assert!(BatchSampler::new(2, 3, true, 0).is_err());
        assert!(BatchSampler::new(0, 3, false, 0).is_err());
    }
}
