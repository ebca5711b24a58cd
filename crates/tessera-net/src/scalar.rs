//! The two floating-point types the IR runs in, and the GEMM kernel each one uses.

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
                $gemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc)
            }
        }
    };
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
    fn fits(&self) -> bool {
        self.rows == 0 || self.cols == 0 || (self.rows - 1) * self.rs + (self.cols - 1) * self.cs < self.data.len()
    }
}

/// `out (m x n, row-major) = a (m x k) * b (k x n) + beta * out`.
pub fn gemm<T: Scalar>(a: MatRef<T>, b: MatRef<T>, beta: T, out: &mut [T]) {
    assert_eq!(a.cols, b.rows, "gemm inner dimensions");
    assert!(a.fits() && b.fits(), "gemm operand out of bounds");
    assert!(out.len() >= a.rows * b.cols, "gemm output too small");
    if a.rows == 0 || b.cols == 0 {
        return;
    }
    // SAFETY: the asserts above keep every strided access inside the slices.
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
            out.as_mut_ptr(),
            b.cols as isize,
            1,
        );
    }
}

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
