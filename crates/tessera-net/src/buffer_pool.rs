//! Buffers handed back by work that no longer needs them, for later work of any size to reuse:
//! the per-node gradients of a backward pass (kept in `Gradients` across training steps) and
//! the maps passed between the chunks of an exact partition (`tessera-regions`, behind a
//! mutex). Reusing a buffer skips the allocation and the operating system's zero-filling of
//! fresh pages.

use crate::{Scalar, Tensor};

/// Buffers of `T` ready for reuse. Taking one picks the smallest held buffer that fits, so a
/// loop repeating the same requests (a training step, the chunks of one partition) stops
/// allocating once it has seen each size; when none fits, the largest held buffer is replaced by
/// a fresh one of the requested size, so the pool never holds more buffers than were ever in
/// use at once.
#[derive(Clone, Debug)]
pub struct BufferPool<T> {
    held: Vec<Vec<T>>,
}

impl<T> Default for BufferPool<T> {
    fn default() -> Self {
        Self { held: Vec::new() }
    }
}

impl<T: Scalar> BufferPool<T> {
    /// A pool holding nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Buffers held now.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Whether the pool holds no buffer.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// `len` values that are stale (whatever the buffer held before, zeros where it grew): the
    /// caller must write every one.
    pub fn stale(&mut self, len: usize) -> Vec<T> {
        let fitting = (0..self.held.len()).filter(|&i| self.held[i].capacity() >= len);
        let mut buffer = match fitting.min_by_key(|&i| self.held[i].capacity()) {
            Some(i) => self.held.swap_remove(i),
            None => {
                // Dropping the largest buffer (rather than growing it) copies nothing.
                if let Some(largest) = (0..self.held.len()).max_by_key(|&i| self.held[i].capacity()) {
                    self.held.swap_remove(largest);
                }
                Vec::with_capacity(len)
            }
        };
        buffer.truncate(len);
        buffer.resize(len, T::zero());
        buffer
    }

    /// `len` zeros.
    pub fn zeros(&mut self, len: usize) -> Vec<T> {
        let mut buffer = self.stale(len);
        buffer.fill(T::zero());
        buffer
    }

    /// Keep `buffer` for later requests (one without memory is dropped).
    pub fn give(&mut self, buffer: Vec<T>) {
        if buffer.capacity() > 0 {
            self.held.push(buffer);
        }
    }

    /// A batch of `shape` holding stale values (see `stale`).
    pub fn stale_tensor(&mut self, batch: usize, shape: &[usize]) -> Tensor<T> {
        let data = self.stale(batch * shape.iter().product::<usize>());
        Tensor { shape: shape.to_vec(), batch, data }
    }

    /// A batch of zeros of `shape`.
    pub fn zeros_tensor(&mut self, batch: usize, shape: &[usize]) -> Tensor<T> {
        let data = self.zeros(batch * shape.iter().product::<usize>());
        Tensor { shape: shape.to_vec(), batch, data }
    }

    /// A copy of `x`.
    pub fn copy_of(&mut self, x: &Tensor<T>) -> Tensor<T> {
        let mut t = self.stale_tensor(x.batch, &x.shape);
        t.data.copy_from_slice(&x.data);
        t
    }

    /// Keep `t`'s buffer for later requests.
    pub fn give_tensor(&mut self, t: Tensor<T>) {
        self.give(t.data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_smallest_buffer_that_fits_and_keeps_what_it_is_given() {
        let mut pool = BufferPool::<f32>::new();
        let (small, large) = (pool.zeros(10), pool.stale(100));
        let (small_at, large_at) = (small.as_ptr(), large.as_ptr());
        pool.give(large);
        pool.give(small);
        let taken = pool.stale(8);
        assert_eq!((taken.len(), taken.as_ptr()), (8, small_at));
        let taken_large = pool.zeros(50);
        assert_eq!(taken_large.as_ptr(), large_at);
        assert!(taken_large.iter().all(|&v| v == 0.0));
        assert!(pool.is_empty());
    }

    #[test]
    fn a_request_nothing_fits_replaces_the_largest_buffer() {
        let mut pool = BufferPool::<f64>::new();
        let buffers = [pool.stale(4), pool.stale(16)];
        buffers.into_iter().for_each(|b| pool.give(b));
        let big = pool.stale(64);
        assert_eq!(big.len(), 64);
        assert_eq!(pool.len(), 1);
        assert!(pool.stale(4).capacity() < 16);
    }

    #[test]
    fn tensors_have_the_requested_shape_and_copies_equal_their_source() {
        let mut pool = BufferPool::<f64>::new();
        let x = Tensor::from_vec(&[2, 3], (0..12).map(f64::from).collect()).unwrap();
        pool.give_tensor(x.clone());
        let zeros = pool.zeros_tensor(2, &[3, 2]);
        assert_eq!((zeros.batch, zeros.shape.as_slice(), zeros.data.as_slice()), (2, &[3, 2][..], &[0.0; 12][..]));
        pool.give_tensor(zeros);
        assert_eq!(pool.copy_of(&x), x);
    }
}
