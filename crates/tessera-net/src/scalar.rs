//! The two floating-point types the IR runs in, and the GEMM kernel each one uses.

use rayon::prelude::*;
use std::fmt::Debug;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub, SubAssign};

/// A floating-point element type: `f32` (fast training) or `f64` (geometry, exact partitions).
pub trait Scalar:
    Copy
    + Send
    + Sync
    + Debug
    + Default
    + PartialOrd
    + PartialEq
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + Sum
    + 'static
{
    /// Name used in saved files ("F32" / "F64").
    const DTYPE: &'static str;
    /// Additive identity.
    fn zero() -> Self;
    /// Multiplicative identity.
    fn one() -> Self;
    /// Conversion from `f64` (rounding for `f32`).
    fn from_f64(v: f64) -> Self;
    /// Exact widening to `f64`.
    fn to_f64(self) -> f64;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Absolute value.
    fn abs(self) -> Self;
    /// Neither NaN nor infinite.
    fn is_finite(self) -> bool;
    /// The larger of the two (IEEE `max`: a NaN operand loses).
    fn max(self, other: Self) -> Self;

    /// `C = alpha * A * B + beta * C` on strided row/column layouts (see `matrixmultiply`).
    ///
    /// # Safety
    /// The strides and sizes must describe memory inside the given slices.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm_raw(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );
}

macro_rules! impl_scalar {
    ($t:ty, $name:literal, $gemm:path) => {
        impl Scalar for $t {
            const DTYPE: &'static str = $name;
            #[inline]
            fn zero() -> Self {
                0.0
            }
            #[inline]
            fn one() -> Self {
                1.0
            }
            #[inline]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            #[inline]
            fn max(self, other: Self) -> Self {
                <$t>::max(self, other)
            }
            unsafe fn gemm_raw(
                m: usize,
                k: usize,
                n: usize,
                alpha: Self,
                a: *const Self,
                rsa: isize,
                csa: isize,
                b: *const Self,
                rsb: isize,
                csb: isize,
                beta: Self,
                c: *mut Self,
                rsc: isize,
                csc: isize,
            ) {
                #[cfg(target_arch = "x86_64")]
                if let Some(strides) = packed_strides(m, k, n, alpha == 1.0, [rsa, csa, rsb, csb, rsc, csc]) {
                    let [rsa, csa, rsb, csb, rsc] = strides;
                    // SAFETY: the caller's contract; `packed_strides` checked the rest.
                    return unsafe {
                        crate::packed_gemm::gemm((m, k, n), (a, rsa, csa), (b, rsb, csb), beta, (c, rsc))
                    };
                }
                unsafe { $gemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
            }
        }
    };
}

/// The strides for `packed_gemm` when it takes this product (AVX-512F, alpha = 1, C row-major,
/// nothing empty, no negative stride); `None` sends it to matrixmultiply.
#[cfg(target_arch = "x86_64")]
fn packed_strides(m: usize, k: usize, n: usize, unit_alpha: bool, strides: [isize; 6]) -> Option<[usize; 5]> {
    let [rsa, csa, rsb, csb, rsc, csc] = strides.map(|s| usize::try_from(s).ok());
    let usable = unit_alpha && m > 0 && k > 0 && n > 0 && csc == Some(1) && crate::packed_gemm::available();
    usable.then_some([rsa?, csa?, rsb?, csb?, rsc?])
}

impl_scalar!(f32, "F32", matrixmultiply::sgemm);
impl_scalar!(f64, "F64", matrixmultiply::dgemm);

/// A borrowed strided matrix view: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub struct MatRef<'a, T> {
    /// The underlying storage.
    pub data: &'a [T],
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Row stride, in elements.
    pub rs: usize,
    /// Column stride, in elements.
    pub cs: usize,
}

impl<'a, T> MatRef<'a, T> {
    /// Row-major `rows x cols`.
    pub fn new(data: &'a [T], rows: usize, cols: usize) -> Self {
        Self { data, rows, cols, rs: cols, cs: 1 }
    }
    /// View `data`, a row-major `cols x rows` matrix, as its transpose (`rows x cols`).
    pub fn transposed(data: &'a [T], rows: usize, cols: usize) -> Self {
        Self { data, rows, cols, rs: 1, cs: rows }
    }
    /// Rows `r0..r1` of this view.
    pub fn row_range(self, r0: usize, r1: usize) -> Self {
        Self { data: &self.data[(r0 * self.rs).min(self.data.len())..], rows: r1 - r0, ..self }
    }
    /// Columns `c0..c1` of this view.
    pub fn col_range(self, c0: usize, c1: usize) -> Self {
        Self { data: &self.data[(c0 * self.cs).min(self.data.len())..], cols: c1 - c0, ..self }
    }
    fn fits(&self) -> bool {
        self.rows == 0 || self.cols == 0 || (self.rows - 1) * self.rs + (self.cols - 1) * self.cs < self.data.len()
    }
}

/// `out (m x n, row-major) = a (m x k) * b (k x n) + beta * out`.
pub fn gemm<T: Scalar>(a: MatRef<T>, b: MatRef<T>, beta: T, out: &mut [T]) {
    assert!(out.len() >= a.rows * b.cols, "gemm output too small");
    // SAFETY: `out` holds the m x n result (asserted above).
    unsafe { gemm_into(a, b, beta, out.as_mut_ptr(), b.cols) }
}

/// `gemm` into an m x n block of a row-major matrix whose rows are `rsc` elements apart.
///
/// # Safety
/// `out + i * rsc + j` must be valid for writes for every `i < m`, `j < n`, and no other thread
/// may touch those elements meanwhile.
unsafe fn gemm_into<T: Scalar>(a: MatRef<T>, b: MatRef<T>, beta: T, out: *mut T, rsc: usize) {
    assert_eq!(a.cols, b.rows, "gemm inner dimensions");
    assert!(a.fits() && b.fits(), "gemm operand out of bounds");
    if a.rows == 0 || b.cols == 0 {
        return;
    }
    // SAFETY: the asserts above keep every strided access of a and b inside their slices; the
    // output is the caller's promise.
    unsafe {
        T::gemm_raw(
            a.rows,
            a.cols,
            b.cols,
            T::one(),
            a.data.as_ptr(),
            a.rs as isize,
            a.cs as isize,
            b.data.as_ptr(),
            b.rs as isize,
            b.cs as isize,
            beta,
            out,
            rsc as isize,
            1,
        );
    }
}

/// `gemm` split over the thread pool, along the rows of `a` or, when `b` is the wider operand,
/// along its columns: every task packs all of the operand it does not split, so splitting the
/// other way would pack the larger one once per thread. Results are the same bits either way (a
/// split never cuts the inner dimension). Products under 2^15 multiply-adds per task run inline.
pub fn par_gemm<T: Scalar>(a: MatRef<T>, b: MatRef<T>, beta: T, out: &mut [T]) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let threads = rayon::current_num_threads().max(1);
    let tasks = threads.min((m * k * n) >> 15).max(1);
    if tasks == 1 {
        return gemm(a, b, beta, out);
    }
    if n > m {
        // Bands of whole micro-tile columns (16 covers both types' tiles).
        let band = n.div_ceil(tasks).next_multiple_of(16);
        assert!(out.len() >= m * n, "gemm output too small");
        let out = SharedOut(out.as_mut_ptr());
        (0..n.div_ceil(band)).into_par_iter().for_each(|t| {
            let (c0, c1) = (t * band, ((t + 1) * band).min(n));
            // SAFETY: column bands are disjoint, every band lies inside `out` (asserted above).
            unsafe { gemm_into(a, b.col_range(c0, c1), beta, out.column(c0), n) };
        });
    } else {
        let rows = m.div_ceil(tasks);
        out[..m * n].par_chunks_mut(rows * n).enumerate().for_each(|(t, o)| {
            gemm(a.row_range(t * rows, t * rows + o.len() / n), b, beta, o);
        });
    }
}

/// The output pointer shared by the tasks of `par_gemm`, each writing its own column band.
#[derive(Clone, Copy)]
struct SharedOut<T>(*mut T);

impl<T> SharedOut<T> {
    /// The first row's element `c` (a method, so that closures capture the wrapper, not the pointer).
    fn column(self, c: usize) -> *mut T {
        self.0.wrapping_add(c)
    }
}
// SAFETY: only `par_gemm` uses it, with disjoint column bands per task.
unsafe impl<T: Send> Send for SharedOut<T> {}
unsafe impl<T: Send> Sync for SharedOut<T> {}

/// The sum of `values` with eight independent partial sums: a single running sum is bound by
/// the latency of one addition per element and cannot be vectorised.
pub fn fast_sum<T: Scalar>(values: &[T]) -> T {
    fast_sum_of(values, |v| v)
}

/// `sum_i term(values[i])`, in the eight partial sums of `fast_sum`.
pub fn fast_sum_of<T: Scalar>(values: &[T], term: impl Fn(T) -> T) -> T {
    let mut lanes = [T::zero(); 8];
    let (chunks, rest) = values.as_chunks::<8>();
    let tail: T = rest.iter().map(|&v| term(v)).sum();
    for chunk in chunks {
        lanes.iter_mut().zip(chunk).for_each(|(l, &v)| *l += term(v));
    }
    lanes.iter().copied().sum::<T>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(len: usize, seed: u64) -> Vec<f32> {
        (0..len).map(|i| (((i as u64 * 2654435761 + seed * 97) % 1000) as f32 - 500.0) / 97.0).collect()
    }

    /// Splitting a product over threads, by rows or by column bands, never changes a bit; the
    /// shapes cover both splits, a band cut by the matrix's edge and strided operands.
    #[test]
    fn par_gemm_equals_one_gemm_for_row_and_column_splits() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        for &(m, k, n) in &[(37, 300, 450), (450, 300, 37), (64, 64, 65), (200, 784, 200), (5, 3, 2)] {
            let (a, b) = (matrix(m * k, 1), matrix(k * n, 2));
            for (a, b) in [
                (MatRef::new(&a, m, k), MatRef::new(&b, k, n)),
                (MatRef::transposed(&a, m, k), MatRef::transposed(&b, k, n)),
            ] {
                for beta in [0.0, 1.0] {
                    let mut single = matrix(m * n, 3);
                    let mut split = single.clone();
                    gemm(a, b, beta, &mut single);
                    pool.install(|| par_gemm(a, b, beta, &mut split));
                    assert!(single.iter().zip(&split).all(|(x, y)| x.to_bits() == y.to_bits()), "{m}x{k}x{n}");
                }
            }
        }
    }
}
