//! A batch of samples: `batch` rows, each a row-major tensor of `shape`.

use crate::{NetError, Result, Scalar};

/// A sample-major batch. Row `i` (`data[i*width..(i+1)*width]`) is sample `i`, laid out
/// row-major in `shape` (e.g. `[C, H, W]` for images, `[D]` for vectors).
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor<T> {
    /// Per-sample shape.
    pub shape: Vec<usize>,
    /// Number of samples (rows).
    pub batch: usize,
    /// `batch * shape.product()` values, sample-major.
    pub data: Vec<T>,
}

impl<T: Scalar> Tensor<T> {
    /// A batch of zeros.
    pub fn zeros(batch: usize, shape: &[usize]) -> Self {
        let width: usize = shape.iter().product();
        Self { shape: shape.to_vec(), batch, data: vec![T::zero(); batch * width] }
    }

    /// A batch of no samples, holding no memory (a buffer to be filled).
    pub fn empty() -> Self {
        Self { shape: Vec::new(), batch: 0, data: Vec::new() }
    }

    /// Make this a batch of `batch` samples of `shape`, keeping the buffer: the values are
    /// left as they were (zeros where the buffer grew), so the caller must write every one.
    pub fn prepare(&mut self, batch: usize, shape: &[usize]) {
        self.shape.clear();
        self.shape.extend_from_slice(shape);
        self.batch = batch;
        self.data.resize(batch * self.width(), T::zero());
    }

    /// Make this a copy of `x` viewed in `shape` (same width), keeping the buffer.
    pub fn copy_reshaped(&mut self, x: &Tensor<T>, shape: &[usize]) {
        self.shape.clear();
        self.shape.extend_from_slice(shape);
        self.batch = x.batch;
        self.data.clone_from(&x.data);
    }

    /// Wrap `data` as a batch of samples of `shape`; the length must be a multiple of the width.
    pub fn from_vec(shape: &[usize], data: Vec<T>) -> Result<Self> {
        let width: usize = shape.iter().product();
        if width == 0 || !data.len().is_multiple_of(width) {
            return Err(NetError::InputLength { len: data.len(), width });
        }
        Ok(Self { shape: shape.to_vec(), batch: data.len() / width, data })
    }

    /// Elements per sample.
    pub fn width(&self) -> usize {
        self.shape.iter().product()
    }

    /// Sample `i` as a slice.
    pub fn row(&self, i: usize) -> &[T] {
        let w = self.width();
        &self.data[i * w..(i + 1) * w]
    }

    /// Sample `i` as a mutable slice.
    pub fn row_mut(&mut self, i: usize) -> &mut [T] {
        let w = self.width();
        &mut self.data[i * w..(i + 1) * w]
    }

    /// The same data viewed with another per-sample shape of equal width.
    pub fn reshaped(mut self, shape: &[usize]) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), self.width());
        self.shape = shape.to_vec();
        self
    }

    /// Convert the element type.
    pub fn cast<U: Scalar>(&self) -> Tensor<U> {
        Tensor {
            shape: self.shape.clone(),
            batch: self.batch,
            data: self.data.iter().map(|v| U::from_f64(v.to_f64())).collect(),
        }
    }

    /// Rows `start..end` as a new tensor.
    pub fn rows(&self, start: usize, end: usize) -> Self {
        let w = self.width();
        Self { shape: self.shape.clone(), batch: end - start, data: self.data[start * w..end * w].to_vec() }
    }
}
