//! A packed GEMM for AVX-512 machines that returns exactly what matrixmultiply's AVX-512 path
//! returns, with faster packing and without an allocation per call.
//!
//! Why it exists: matrixmultiply packs a row-major left operand and a column-major right operand
//! one element at a time (its general-layout path), and the dense layers' products `X W^T` and
//! `G W` have exactly those layouts; it also allocates its packing buffers at every call. In an f32
//! MNIST training step that packing was ~14 % of the time. Here the operands are packed through
//! register transposes and the buffers stay with the thread.
//!
//! Why the bits are the same: matrixmultiply's AVX-512 kernels (16 x 16 for f32, 8 x 8 for f64)
//! compute every element of C the same way, whatever the tile: a chain of FMAs over one depth block
//! of `KC` = 256, in order, starting from +0, then `c = ab` (first block, beta = 0) or
//! `c = beta * c + ab` (two roundings, `beta * c` first). The block sizes below are its defaults,
//! the loop over depth blocks runs in the same order, and the kernels below do the same arithmetic;
//! tile and panel sizes only decide which elements are computed together, never how. The
//! property test in this file compares both bit for bit. Only `alpha = 1` with a row-major C is
//! handled; every other call, and every machine without AVX-512F, goes to matrixmultiply, which then
//! picks its own (non-AVX-512) kernel exactly as before.
//!
//! `TESSERA_GEMM=matrixmultiply` in the environment turns this path off (for A/B timing).

use std::arch::x86_64::*;
use std::cell::RefCell;
use std::ops::{Add, Mul};
use std::ptr::copy_nonoverlapping;
use std::sync::OnceLock;

/// matrixmultiply's default blocking (`archparam_defaults`): depth, rows of A and columns of B per
/// packed block. Only `KC` decides results.
const KC: usize = 256;
const MC: usize = 64;
const NC: usize = 1024;

/// Whether this process multiplies through this module (AVX-512F present, not turned off).
pub(crate) fn available() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        is_x86_feature_detected!("avx512f") && std::env::var("TESSERA_GEMM").as_deref() != Ok("matrixmultiply")
    })
}

/// An element type with an AVX-512 micro-kernel of `W x W` and a `T x T` register transpose.
pub(crate) trait Packed: Copy + Default + PartialEq + Mul<Output = Self> + Add<Output = Self> + 'static {
    /// Side of the micro-tile (matrixmultiply's MR = NR for this type).
    const W: usize;
    /// Side of the register transpose used to pack an operand that is contiguous along the depth.
    const T: usize;
    /// Zero and one.
    const ZERO: Self;
    /// Multiplicative identity.
    const ONE: Self;
    /// `C[0..W, 0..W] = ab` (beta = 0) or `beta * C + ab`, `ab` the product of one packed panel of
    /// A and one of B over `kc`; C row-major with row stride `rsc`.
    ///
    /// # Safety
    /// AVX-512F; `a`, `b` hold `kc * W` elements, 64-byte aligned; C's tile is in bounds.
    unsafe fn full_tile(kc: usize, a: *const Self, b: *const Self, beta: Self, c: *mut Self, rsc: usize);
    /// `ab` of one panel pair into `tile` (row-major, `W x W`, 64-byte aligned), at least its first
    /// `rows` rows: a tile cut by the matrix's last rows runs a kernel of a quarter, half or three
    /// quarters of the rows instead of multiplying padding.
    ///
    /// # Safety
    /// As `full_tile`.
    unsafe fn tile(kc: usize, a: *const Self, b: *const Self, tile: *mut Self, rows: usize);
    /// Transpose a `T x T` block: row `i` of the block is `T` consecutive elements at
    /// `src + i * s_row`; column `d` goes to `dst + d * W` (`T` elements).
    ///
    /// # Safety
    /// AVX-512F; every address in bounds.
    unsafe fn transpose_block(src: *const Self, s_row: usize, dst: *mut Self);
}

/// One element of C past its micro-tile's epilogue, as matrixmultiply's masked kernel writes it.
#[inline(always)]
fn merge<T: Packed>(c: &mut T, ab: T, beta: T) {
    *c = if beta == T::ZERO { ab } else { *c * beta + ab };
}

/// `C (m x n, row-major, row stride rsc) = A B + beta C` for strided A and B.
///
/// # Safety
/// Strides and sizes describe memory inside the caller's buffers; `m, k, n > 0`; AVX-512F present
/// (`available()`).
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm<T: Packed>(
    (m, k, n): (usize, usize, usize),
    (a, rsa, csa): (*const T, usize, usize),
    (b, rsb, csb): (*const T, usize, usize),
    beta: T,
    (c, rsc): (*mut T, usize),
) {
    debug_assert!(m > 0 && k > 0 && n > 0);
    with_buffers::<T, _>(k.min(KC), n.min(NC), |apack, bpack| unsafe {
        gemm_blocks((m, k, n), (a, rsa, csa), (b, rsb, csb), beta, (c, rsc), (apack, bpack))
    });
}

/// matrixmultiply's loops 5, 4 and 3: columns of B by `NC`, the depth by `KC` (in order: the
/// results depend on it), rows of A by `MC`; B packed once per depth block.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_blocks<T: Packed>(
    (m, k, n): (usize, usize, usize),
    (a, rsa, csa): (*const T, usize, usize),
    (b, rsb, csb): (*const T, usize, usize),
    beta: T,
    (c, rsc): (*mut T, usize),
    (apack, bpack): (*mut T, *mut T),
) {
    for j0 in (0..n).step_by(NC) {
        let nc = (n - j0).min(NC);
        for (block, k0) in (0..k).step_by(KC).enumerate() {
            let kc = (k - k0).min(KC);
            unsafe { pack(bpack, b.add(k0 * rsb + j0 * csb), (nc, csb), (kc, rsb)) };
            let beta = if block == 0 { beta } else { T::ONE };
            for i0 in (0..m).step_by(MC) {
                let mc = (m - i0).min(MC);
                unsafe {
                    pack(apack, a.add(i0 * rsa + k0 * csa), (mc, rsa), (kc, csa));
                    multiply_packed(kc, (apack, mc), (bpack, nc), beta, (c.add(i0 * rsc + j0), rsc));
                }
            }
        }
    }
}

/// Every micro-tile of one packed `mc x kc` block of A against one packed `kc x nc` block of B.
#[inline(always)]
unsafe fn multiply_packed<T: Packed>(
    kc: usize,
    (apack, mc): (*const T, usize),
    (bpack, nc): (*const T, usize),
    beta: T,
    (c, rsc): (*mut T, usize),
) {
    let w = T::W;
    for jp in 0..nc.div_ceil(w) {
        let cols = (nc - jp * w).min(w);
        let bp = unsafe { bpack.add(jp * kc * w) };
        for ip in 0..mc.div_ceil(w) {
            let rows = (mc - ip * w).min(w);
            let ap = unsafe { apack.add(ip * kc * w) };
            let ct = unsafe { c.add(ip * w * rsc + jp * w) };
            if rows == w && cols == w {
                unsafe { T::full_tile(kc, ap, bp, beta, ct, rsc) };
            } else {
                unsafe { partial_tile(kc, ap, bp, beta, (ct, rsc), (rows, cols)) };
            }
        }
    }
}

/// A tile cut by the matrix's edge: the kernel into a scratch tile, then element by element.
#[inline(never)]
unsafe fn partial_tile<T: Packed>(
    kc: usize,
    ap: *const T,
    bp: *const T,
    beta: T,
    (c, rsc): (*mut T, usize),
    (rows, cols): (usize, usize),
) {
    // The larger of a 16 x 16 f32 and an 8 x 8 f64 tile.
    let mut scratch = Aligned([0u8; 1024]);
    let tile = scratch.0.as_mut_ptr() as *mut T;
    unsafe { T::tile(kc, ap, bp, tile, rows) };
    for i in 0..rows {
        for j in 0..cols {
            // SAFETY: i < rows, j < cols lie inside both the scratch tile and C's tile.
            unsafe { merge(&mut *c.add(i * rsc + j), *tile.add(i * T::W + j), beta) };
        }
    }
}

/// Pack `len x depth` elements of `src` (element `(i, d)` at `src[i * s_len + d * s_depth]`) into
/// panels of `W` along `len`: `dst[(p * depth + d) * W + r] = src(p * W + r, d)`, zeros past `len`
/// (matrixmultiply's packed layout).
#[inline(always)]
unsafe fn pack<T: Packed>(dst: *mut T, src: *const T, (len, s_len): (usize, usize), (depth, s_depth): (usize, usize)) {
    let w = T::W;
    for p in 0..len.div_ceil(w) {
        let rows = (len - p * w).min(w);
        let out = unsafe { dst.add(p * depth * w) };
        let base = unsafe { src.add(p * w * s_len) };
        if rows == w && s_len == 1 {
            for d in 0..depth {
                unsafe { copy_nonoverlapping(base.add(d * s_depth), out.add(d * w), w) };
            }
        } else if rows == w && s_depth == 1 {
            unsafe { pack_transposing(out, base, s_len, depth) };
        } else {
            unsafe { pack_elementwise(out, base, (rows, s_len), (0..depth, s_depth)) };
        }
    }
}

/// One full panel whose rows are contiguous along the depth: `T x T` register transposes, the
/// depth's remainder element by element.
#[inline(always)]
unsafe fn pack_transposing<T: Packed>(out: *mut T, base: *const T, s_len: usize, depth: usize) {
    let (w, t) = (T::W, T::T);
    let whole = depth / t * t;
    for d0 in (0..whole).step_by(t) {
        for r0 in (0..w).step_by(t) {
            unsafe { T::transpose_block(base.add(r0 * s_len + d0), s_len, out.add(d0 * w + r0)) };
        }
    }
    unsafe { pack_elementwise(out, base, (w, s_len), (whole..depth, 1)) };
}

/// The general layout (and the panel cut by the edge): one element at a time, zeros past `rows`.
#[inline(always)]
unsafe fn pack_elementwise<T: Packed>(
    out: *mut T,
    base: *const T,
    (rows, s_len): (usize, usize),
    (depths, s_depth): (std::ops::Range<usize>, usize),
) {
    let w = T::W;
    for d in depths {
        for r in 0..w {
            let v = if r < rows { unsafe { *base.add(r * s_len + d * s_depth) } } else { T::ZERO };
            unsafe { *out.add(d * w + r) = v };
        }
    }
}

#[repr(align(64))]
#[derive(Clone, Copy)]
struct Aligned<const N: usize>([u8; N]);

type Line = Aligned<64>;

thread_local! {
    /// This thread's packing buffers (A~ then B~), kept between calls: at most
    /// `KC * (MC + NC)` elements, 2.1 MB in f64.
    static BUFFERS: RefCell<Vec<Line>> = const { RefCell::new(Vec::new()) };
}

/// Run `f` with this thread's packed-A buffer (`KC x MC`) and packed-B buffer (`kc x nc`, rounded up
/// to whole panels), both 64-byte aligned.
fn with_buffers<T: Packed, R>(kc: usize, nc: usize, f: impl FnOnce(*mut T, *mut T) -> R) -> R {
    let elements_per_line = 64 / size_of::<T>();
    let a_lines = (kc * MC.next_multiple_of(T::W)).div_ceil(elements_per_line);
    let b_lines = (kc * nc.next_multiple_of(T::W)).div_ceil(elements_per_line);
    let run = |lines: &mut Vec<Line>| {
        if lines.len() < a_lines + b_lines {
            lines.resize(a_lines + b_lines, Aligned([0; 64]));
        }
        let base = lines.as_mut_ptr();
        // SAFETY: both regions lie inside `lines`, which outlives `f`.
        f(base as *mut T, unsafe { base.add(a_lines) } as *mut T)
    };
    BUFFERS.with(|cell| match cell.try_borrow_mut() {
        Ok(mut lines) => run(&mut lines),
        // Re-entered on this thread (a GEMM inside a GEMM's caller-supplied work): own buffers.
        Err(_) => run(&mut Vec::new()),
    })
}

/// The f32 and f64 micro-kernels: `ab[i] += a[i] * b` over the depth, one vector of B per step
/// and a broadcast of A per row (matrixmultiply's `kernel_target_avx512`), and their `Packed` impls.
macro_rules! kernels {
    ($t:ty, $w:literal, $side:literal, $transpose:ident, $v:ty, $zero:ident, $load:ident, $loadu:ident,
     $storeu:ident, $set1:ident, $fmadd:ident, $mul:ident, $add:ident, $product:ident, $full:ident,
     $store_tile:ident) => {
        impl Packed for $t {
            const W: usize = $w;
            const T: usize = $side;
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;

            #[inline(always)]
            unsafe fn full_tile(kc: usize, a: *const $t, b: *const $t, beta: $t, c: *mut $t, rsc: usize) {
                unsafe { $full(kc, a, b, beta, c, rsc) }
            }
            #[inline(always)]
            unsafe fn tile(kc: usize, a: *const $t, b: *const $t, tile: *mut $t, rows: usize) {
                unsafe { $store_tile(kc, a, b, tile, rows) }
            }
            #[inline(always)]
            unsafe fn transpose_block(src: *const $t, s_row: usize, dst: *mut $t) {
                unsafe { $transpose(src, s_row, dst) }
            }
        }

        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn $product<const R: usize>(kc: usize, a: *const $t, b: *const $t) -> [$v; R] {
            let mut ab = [$zero(); R];
            let step = |ab: &mut [$v; R], k: usize| {
                let (ak, bv) = unsafe { (a.add(k * $w), $load(b.add(k * $w))) };
                for (i, acc) in ab.iter_mut().enumerate() {
                    *acc = unsafe { $fmadd($set1(*ak.add(i)), bv, *acc) };
                }
            };
            // Four depth steps per iteration, as matrixmultiply: the loop's own cost is otherwise
            // a tenth of the kernel's.
            let whole = kc / 4 * 4;
            for k in (0..whole).step_by(4) {
                step(&mut ab, k);
                step(&mut ab, k + 1);
                step(&mut ab, k + 2);
                step(&mut ab, k + 3);
            }
            for k in whole..kc {
                step(&mut ab, k);
            }
            ab
        }

        #[target_feature(enable = "avx512f")]
        unsafe fn $full(kc: usize, a: *const $t, b: *const $t, beta: $t, c: *mut $t, rsc: usize) {
            let ab = unsafe { $product::<$w>(kc, a, b) };
            if beta == 0.0 {
                for (i, &v) in ab.iter().enumerate() {
                    unsafe { $storeu(c.add(i * rsc), v) };
                }
            } else {
                let betav = $set1(beta);
                for (i, &v) in ab.iter().enumerate() {
                    let row = unsafe { c.add(i * rsc) };
                    // beta * c rounded first, then + ab: matrixmultiply's `fma(alpha = 1, ab, beta * c)`.
                    unsafe { $storeu(row, $add(v, $mul($loadu(row), betav))) };
                }
            }
        }

        #[target_feature(enable = "avx512f")]
        unsafe fn $store_tile(kc: usize, a: *const $t, b: *const $t, tile: *mut $t, rows: usize) {
            #[target_feature(enable = "avx512f")]
            unsafe fn rows_of<const R: usize>(kc: usize, a: *const $t, b: *const $t, tile: *mut $t) {
                let ab = unsafe { $product::<R>(kc, a, b) };
                for (i, &v) in ab.iter().enumerate() {
                    unsafe { $storeu(tile.add(i * $w), v) };
                }
            }
            const Q: usize = $w / 4;
            match rows.div_ceil(Q) {
                1 => unsafe { rows_of::<Q>(kc, a, b, tile) },
                2 => unsafe { rows_of::<{ 2 * Q }>(kc, a, b, tile) },
                3 => unsafe { rows_of::<{ 3 * Q }>(kc, a, b, tile) },
                _ => unsafe { rows_of::<$w>(kc, a, b, tile) },
            }
        }
    };
}

kernels!(
    f32,
    16,
    8,
    transpose8_f32,
    __m512,
    _mm512_setzero_ps,
    _mm512_load_ps,
    _mm512_loadu_ps,
    _mm512_storeu_ps,
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    _mm512_mul_ps,
    _mm512_add_ps,
    product_f32,
    full_tile_f32,
    store_tile_f32
);
kernels!(
    f64,
    8,
    4,
    transpose4_f64,
    __m512d,
    _mm512_setzero_pd,
    _mm512_load_pd,
    _mm512_loadu_pd,
    _mm512_storeu_pd,
    _mm512_set1_pd,
    _mm512_fmadd_pd,
    _mm512_mul_pd,
    _mm512_add_pd,
    product_f64,
    full_tile_f64,
    store_tile_f64
);

/// 8 x 8 f32 transpose (unpack, shuffle, lane permute).
#[target_feature(enable = "avx512f")]
unsafe fn transpose8_f32(src: *const f32, s_row: usize, dst: *mut f32) {
    let r: [__m256; 8] = std::array::from_fn(|i| unsafe { _mm256_loadu_ps(src.add(i * s_row)) });
    let t = [
        _mm256_unpacklo_ps(r[0], r[1]),
        _mm256_unpackhi_ps(r[0], r[1]),
        _mm256_unpacklo_ps(r[2], r[3]),
        _mm256_unpackhi_ps(r[2], r[3]),
        _mm256_unpacklo_ps(r[4], r[5]),
        _mm256_unpackhi_ps(r[4], r[5]),
        _mm256_unpacklo_ps(r[6], r[7]),
        _mm256_unpackhi_ps(r[6], r[7]),
    ];
    let s = [
        _mm256_shuffle_ps::<0x44>(t[0], t[2]),
        _mm256_shuffle_ps::<0xEE>(t[0], t[2]),
        _mm256_shuffle_ps::<0x44>(t[1], t[3]),
        _mm256_shuffle_ps::<0xEE>(t[1], t[3]),
        _mm256_shuffle_ps::<0x44>(t[4], t[6]),
        _mm256_shuffle_ps::<0xEE>(t[4], t[6]),
        _mm256_shuffle_ps::<0x44>(t[5], t[7]),
        _mm256_shuffle_ps::<0xEE>(t[5], t[7]),
    ];
    for d in 0..4 {
        unsafe {
            _mm256_storeu_ps(dst.add(d * 16), _mm256_permute2f128_ps::<0x20>(s[d], s[d + 4]));
            _mm256_storeu_ps(dst.add((d + 4) * 16), _mm256_permute2f128_ps::<0x31>(s[d], s[d + 4]));
        }
    }
}

/// 4 x 4 f64 transpose.
#[target_feature(enable = "avx512f")]
unsafe fn transpose4_f64(src: *const f64, s_row: usize, dst: *mut f64) {
    let r: [__m256d; 4] = std::array::from_fn(|i| unsafe { _mm256_loadu_pd(src.add(i * s_row)) });
    let t = [
        _mm256_unpacklo_pd(r[0], r[1]),
        _mm256_unpackhi_pd(r[0], r[1]),
        _mm256_unpacklo_pd(r[2], r[3]),
        _mm256_unpackhi_pd(r[2], r[3]),
    ];
    unsafe {
        _mm256_storeu_pd(dst, _mm256_permute2f128_pd::<0x20>(t[0], t[2]));
        _mm256_storeu_pd(dst.add(8), _mm256_permute2f128_pd::<0x20>(t[1], t[3]));
        _mm256_storeu_pd(dst.add(16), _mm256_permute2f128_pd::<0x31>(t[0], t[2]));
        _mm256_storeu_pd(dst.add(24), _mm256_permute2f128_pd::<0x31>(t[1], t[3]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A strided operand: `rows x cols` with element `(i, j)` at `i * rs + j * cs`.
    #[derive(Debug, Clone, Copy)]
    enum Layout {
        RowMajor,
        ColumnMajor,
        /// Row-major with padding after each row (a sub-matrix view).
        PaddedRows,
        /// Neither stride 1 (every other element of a wider matrix).
        Scattered,
    }

    impl Layout {
        fn strides(self, rows: usize, cols: usize) -> (usize, usize) {
            match self {
                Layout::RowMajor => (cols, 1),
                Layout::ColumnMajor => (1, rows),
                Layout::PaddedRows => (cols + 3, 1),
                Layout::Scattered => (2 * cols + 1, 2),
            }
        }
        fn footprint(self, rows: usize, cols: usize) -> usize {
            let (rs, cs) = self.strides(rows, cols);
            (rows - 1) * rs + (cols - 1) * cs + 1
        }
    }

    fn layout() -> impl Strategy<Value = Layout> {
        prop_oneof![
            Just(Layout::RowMajor),
            Just(Layout::ColumnMajor),
            Just(Layout::PaddedRows),
            Just(Layout::Scattered)
        ]
    }

    /// Values with exact zeros of both signs and repeated magnitudes among them, so that
    /// cancellations and signed-zero rules are exercised.
    fn values(len: usize, seed: u64) -> Vec<f64> {
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                match (state >> 60) as u8 {
                    0 => 0.0,
                    1 => -0.0,
                    2 => 0.5,
                    _ => ((state >> 11) as f64 / (1u64 << 53) as f64) * 4.0 - 2.0,
                }
            })
            .collect()
    }

    /// `packed_gemm::gemm` and matrixmultiply on the same operands, C compared bit for bit (a NaN
    /// only needs to be a NaN: its payload follows the operand order of one instruction).
    macro_rules! compare {
        ($t:ty, $reference:path, $dims:expr, $layouts:expr, $beta:expr, $seed:expr) => {{
            let (m, k, n): (usize, usize, usize) = $dims;
            let (la, lb): (Layout, Layout) = $layouts;
            let a: Vec<$t> = values(la.footprint(m, k), $seed).into_iter().map(|v| v as $t).collect();
            let b: Vec<$t> = values(lb.footprint(k, n), $seed + 1).into_iter().map(|v| v as $t).collect();
            let mut c0: Vec<$t> = values(m * n, $seed + 2).into_iter().map(|v| v as $t).collect();
            if $beta == 0.0 {
                c0.iter_mut().step_by(7).for_each(|v| *v = <$t>::NAN); // must be ignored
            }
            let (rsa, csa) = la.strides(m, k);
            let (rsb, csb) = lb.strides(k, n);
            let (mut ours, mut theirs) = (c0.clone(), c0);
            unsafe {
                gemm::<$t>((m, k, n), (a.as_ptr(), rsa, csa), (b.as_ptr(), rsb, csb), $beta, (ours.as_mut_ptr(), n));
                $reference(
                    m,
                    k,
                    n,
                    1.0,
                    a.as_ptr(),
                    rsa as isize,
                    csa as isize,
                    b.as_ptr(),
                    rsb as isize,
                    csb as isize,
                    $beta,
                    theirs.as_mut_ptr(),
                    n as isize,
                    1,
                );
            }
            for (i, (x, y)) in ours.iter().zip(&theirs).enumerate() {
                let same = x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan());
                prop_assert!(same, "element {} ({}, {}): {:e} vs matrixmultiply {:e}", i, i / n, i % n, x, y);
            }
        }};
    }

    fn dims() -> impl Strategy<Value = (usize, usize, usize)> {
        // k past two depth blocks (256), m past the row block (64), n past one tile row.
        (1usize..=140, prop_oneof![1usize..=40, 200usize..=600], 1usize..=70)
    }

    fn beta() -> impl Strategy<Value = f64> {
        prop_oneof![Just(0.0), Just(1.0), Just(0.5), Just(-3.0)]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(if cfg!(debug_assertions) { 64 } else { 2000 }))]

        #[test]
        fn f32_product_is_bit_identical_to_matrixmultiply(
            dims in dims(), la in layout(), lb in layout(), beta in beta(), seed in any::<u32>()
        ) {
            if available() {
                compare!(f32, matrixmultiply::sgemm, dims, (la, lb), beta as f32, seed as u64);
            }
        }

        #[test]
        fn f64_product_is_bit_identical_to_matrixmultiply(
            dims in dims(), la in layout(), lb in layout(), beta in beta(), seed in any::<u32>()
        ) {
            if available() {
                compare!(f64, matrixmultiply::dgemm, dims, (la, lb), beta, seed as u64);
            }
        }
    }

    /// Past `NC` = 1024 columns the right operand is packed in two column blocks.
    #[test]
    fn wide_products_past_the_column_block_are_bit_identical() {
        if !available() {
            return;
        }
        let run = || -> Result<(), TestCaseError> {
            compare!(f32, matrixmultiply::sgemm, (70, 300, 1100), (Layout::RowMajor, Layout::ColumnMajor), 1.0f32, 7);
            compare!(f64, matrixmultiply::dgemm, (33, 260, 1030), (Layout::ColumnMajor, Layout::RowMajor), 0.0, 8);
            Ok(())
        };
        run().unwrap();
    }

    #[test]
    fn transposes_move_every_element_to_its_mirror() {
        if !available() {
            return;
        }
        let src: Vec<f32> = (0..8 * 11).map(|v| v as f32).collect();
        let mut dst = vec![f32::NAN; 8 * 16];
        unsafe { transpose8_f32(src.as_ptr(), 11, dst.as_mut_ptr()) };
        for d in 0..8 {
            for r in 0..8 {
                assert_eq!(dst[d * 16 + r], src[r * 11 + d]);
            }
        }
        let src: Vec<f64> = (0..4 * 5).map(|v| v as f64).collect();
        let mut dst = vec![f64::NAN; 4 * 8];
        unsafe { transpose4_f64(src.as_ptr(), 5, dst.as_mut_ptr()) };
        for d in 0..4 {
            for r in 0..4 {
                assert_eq!(dst[d * 8 + r], src[r * 5 + d]);
            }
        }
    }
}
