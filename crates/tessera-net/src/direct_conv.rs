//! Direct 3x3 convolution (stride 1, padding 1) in f32 on AVX-512 or AVX2 + FMA: forward,
//! input gradient and weight gradient of one sample, without im2col.
//!
//! With few channels (the 16- to 64-channel stages of a ResNet, a CNN's first layers) an
//! im2col + GEMM convolution copies every input value nine times and packs it for the GEMM, for
//! only `cout` multiply-adds per copied value. Here the sample is copied once, into a
//! zero-bordered `[C][H + 2][W + 2]` buffer, and the kernels read vectors of 16 (or 8) output
//! positions straight from it at the nine kernel offsets (see `Planes`), with the output
//! channels of a block in registers.
//!
//! Sums run over input channels and kernel cells in that order (the weight gradient: over
//! positions in lanes, then across lanes), so results differ from the im2col path by
//! floating-point reassociation only.

use crate::conv::{ConvGroup, Window};

/// The instruction set the kernels run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Isa {
    /// 16 lanes.
    Avx512,
    /// 8 lanes (AVX2 + FMA).
    Avx2,
}

impl Isa {
    /// The widest instruction set this CPU has.
    fn detect() -> Option<Isa> {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f") {
                return Some(Isa::Avx512);
            }
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                return Some(Isa::Avx2);
            }
        }
        None
    }

    fn lanes(self) -> usize {
        match self {
            Isa::Avx512 => 16,
            Isa::Avx2 => 8,
        }
    }
}

/// Whether the direct kernels handle this convolution: f32 on a CPU with AVX-512 or AVX2 + FMA,
/// one group, a 3x3 kernel with stride 1 and padding 1.
pub(crate) fn applies<T: 'static>(group: &ConvGroup, groups: usize) -> bool {
    let w = &group.window;
    std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>()
        && groups == 1
        && w.kernel == [3, 3]
        && w.stride == [1, 1]
        && w.padding == [1, 1]
        && w.in_hw == w.out_hw
        && w.in_hw[0] > 0
        && w.in_hw[1] > 0
        && Isa::detect().is_some()
}

/// View a slice of `T` as f32; `applies` checked that `T` is f32.
pub(crate) fn as_f32<T: 'static>(s: &[T]) -> &[f32] {
    assert_eq!(std::any::TypeId::of::<T>(), std::any::TypeId::of::<f32>());
    // SAFETY: T is f32 (asserted above).
    unsafe { std::slice::from_raw_parts(s.as_ptr().cast(), s.len()) }
}

/// Mutable `as_f32`.
pub(crate) fn as_f32_mut<T: 'static>(s: &mut [T]) -> &mut [f32] {
    assert_eq!(std::any::TypeId::of::<T>(), std::any::TypeId::of::<f32>());
    // SAFETY: T is f32 (asserted above).
    unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast(), s.len()) }
}

/// The weights `[cout][cin][3][3]` rearranged as the correlation kernel reads them,
/// `[cin][ky][kx][cout]` (the output channels of one cell side by side).
pub(crate) fn forward_weights(weight: &[f32], cin: usize, cout: usize, out: &mut Vec<f32>) {
    out.resize(weight.len(), 0.0);
    for co in 0..cout {
        for ci in 0..cin {
            for k in 0..9 {
                out[(ci * 9 + k) * cout + co] = weight[(co * cin + ci) * 9 + k];
            }
        }
    }
}

/// The weights of the input gradient: a correlation of the padded output gradient with the
/// kernel turned by 180 degrees and the channel roles swapped, `[cout][ky][kx][cin]` holding
/// `w[co][ci][2 - ky][2 - kx]`.
pub(crate) fn input_grad_weights(weight: &[f32], cin: usize, cout: usize, out: &mut Vec<f32>) {
    out.resize(weight.len(), 0.0);
    for co in 0..cout {
        for ci in 0..cin {
            for k in 0..9 {
                out[(co * 9 + 8 - k) * cin + ci] = weight[(co * cin + ci) * 9 + k];
            }
        }
    }
}

/// The geometry of one sample's planes and the instruction set that runs on them.
///
/// The kernels see a padded plane `[H + 2][W + 2]` as one flat row and compute outputs at the
/// flat positions `y * (W + 2) + x` for every `x < W + 2` (the two extra columns per row, and
/// the rounding up to whole vectors, are discarded): a vector of consecutive positions then
/// reads consecutive inputs at every kernel offset, whatever the width.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Planes {
    h: usize,
    w: usize,
    isa: Isa,
}

impl Planes {
    /// The planes of a window that `applies` accepted.
    pub(crate) fn of(window: &Window) -> Self {
        let isa = Isa::detect().expect("direct convolution on a CPU without AVX2");
        Self { h: window.in_hw[0], w: window.in_hw[1], isa }
    }
    fn padded_width(self) -> usize {
        self.w + 2
    }
    fn padded_len(self) -> usize {
        (self.h + 2) * (self.w + 2)
    }
    /// Zeros after the last padded plane: the discarded positions of its last vectors read
    /// up to `lanes + 2` values past it.
    fn slack(self) -> usize {
        self.isa.lanes() + 2 * self.padded_width() + 2
    }
    /// Flat output positions per channel, whole vectors.
    fn span(self) -> usize {
        (self.h * self.padded_width()).next_multiple_of(self.isa.lanes())
    }
    fn vectors(self) -> usize {
        self.span() / self.isa.lanes()
    }

    /// Copy the planes of `x` (any number of samples, one after the other) into `padded` with a
    /// zero border.
    pub(crate) fn pad(self, x: &[f32], padded: &mut Vec<f32>) {
        let planes = x.len() / (self.h * self.w);
        padded.clear();
        padded.resize(planes * self.padded_len() + self.slack(), 0.0);
        let pw = self.padded_width();
        for (src, dst) in x.chunks_exact(self.h * self.w).zip(padded.chunks_exact_mut(self.padded_len())) {
            for (row, out) in src.chunks_exact(self.w).zip(dst[pw + 1..].chunks_mut(pw)) {
                out[..self.w].copy_from_slice(row);
            }
        }
    }

    /// `out[co][p] = sum_{ci, ky, kx} weights[ci][ky][kx][co] * padded[ci][p + (ky, kx)]`:
    /// the forward pass with `forward_weights`, the input gradient with `input_grad_weights`.
    /// `flat` is scratch for the flat outputs.
    pub(crate) fn correlate(
        self,
        padded: &[f32],
        cin: usize,
        weights: &[f32],
        cout: usize,
        flat: &mut Vec<f32>,
        out: &mut [f32],
    ) {
        assert!(padded.len() >= cin * self.padded_len() + self.slack() && weights.len() >= cin * 9 * cout);
        let (span, pw, w) = (self.span(), self.padded_width(), self.w);
        flat.resize(cout * span, 0.0);
        // SAFETY: `Isa::detect` found the instruction set on this CPU; with the slack asserted
        // above, every vector read at a kernel offset lies inside `padded`.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            match self.isa {
                Isa::Avx512 => avx512::correlate(self, padded, cin, weights, cout, flat),
                Isa::Avx2 => avx2::correlate(self, padded, cin, weights, cout, flat),
            }
        }
        for (o, f) in out[..cout * self.h * w].chunks_exact_mut(self.h * w).zip(flat.chunks_exact(span)) {
            for (row, src) in o.chunks_exact_mut(w).zip(f.chunks(pw)) {
                row.copy_from_slice(&src[..w]);
            }
        }
    }

    /// `dw[co][ci][ky][kx] += sum_{s, p} grad[s][co][p] * padded[s][ci][p + (ky, kx)]` over
    /// `samples` samples (padded together by `pad`): small planes sum over several samples in
    /// registers before reducing across lanes. `flat` is scratch for the gradient at flat
    /// positions (zero at the discarded ones).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn weight_grad(
        self,
        padded: &[f32],
        cin: usize,
        grad: &[f32],
        cout: usize,
        samples: usize,
        flat: &mut Vec<f32>,
        dw: &mut [f32],
    ) {
        assert!(padded.len() >= samples * cin * self.padded_len() + self.slack() && dw.len() >= cout * cin * 9);
        let (span, pw, w) = (self.span(), self.padded_width(), self.w);
        flat.clear();
        flat.resize(samples * cout * span, 0.0);
        for (g, f) in grad[..samples * cout * self.h * w].chunks_exact(self.h * w).zip(flat.chunks_exact_mut(span)) {
            for (row, dst) in g.chunks_exact(w).zip(f.chunks_mut(pw)) {
                dst[..w].copy_from_slice(row);
            }
        }
        // SAFETY: as in `correlate`.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            match self.isa {
                Isa::Avx512 => avx512::weight_grad(self, padded, cin, flat, cout, samples, dw),
                Isa::Avx2 => avx2::weight_grad(self, padded, cin, flat, cout, samples, dw),
            }
        }
    }
}

/// The kernels for one instruction set: `$features` for `target_feature`, vectors of type `$v`
/// holding `LANES` floats, `CHANNEL_BLOCK x VECTOR_BLOCK` accumulators in the forward kernel and
/// `CHANNEL_BLOCK x 3` in the weight gradient.
macro_rules! kernels {
    ($module:ident, $features:literal, $v:ty, $lanes:literal, $channel_block:literal, $vector_block:literal,
     $zero:ident, $load:ident, $store:ident, $set1:ident, $fmadd:ident, $hsum:path) => {
        mod $module {
            #[allow(unused_imports)]
            use super::horizontal_sum_256;
            use super::Planes;
            use std::arch::x86_64::*;

            const LANES: usize = $lanes;
            const CHANNEL_BLOCK: usize = $channel_block;
            const VECTOR_BLOCK: usize = $vector_block;

            #[target_feature(enable = $features)]
            pub(super) unsafe fn correlate(
                p: Planes,
                padded: &[f32],
                cin: usize,
                weights: &[f32],
                cout: usize,
                out: &mut [f32],
            ) {
                let paired = p.vectors() / VECTOR_BLOCK * VECTOR_BLOCK;
                let mut co = 0;
                while co < cout {
                    let block = if cout - co >= CHANNEL_BLOCK { CHANNEL_BLOCK } else { 1 };
                    for v in (0..paired).step_by(VECTOR_BLOCK) {
                        match block {
                            CHANNEL_BLOCK => correlate_block::<CHANNEL_BLOCK, VECTOR_BLOCK>(
                                p, padded, cin, weights, cout, co, v, out,
                            ),
                            _ => correlate_block::<1, VECTOR_BLOCK>(p, padded, cin, weights, cout, co, v, out),
                        }
                    }
                    for v in paired..p.vectors() {
                        match block {
                            CHANNEL_BLOCK => {
                                correlate_block::<CHANNEL_BLOCK, 1>(p, padded, cin, weights, cout, co, v, out)
                            }
                            _ => correlate_block::<1, 1>(p, padded, cin, weights, cout, co, v, out),
                        }
                    }
                    co += block;
                }
            }

            /// Output channels `co..co + B` at output vectors `v..v + V`, kept in `B * V` registers.
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            unsafe fn correlate_block<const B: usize, const V: usize>(
                p: Planes,
                padded: &[f32],
                cin: usize,
                weights: &[f32],
                cout: usize,
                co: usize,
                v: usize,
                out: &mut [f32],
            ) {
                let pw = p.padded_width();
                let corners: [usize; V] = std::array::from_fn(|j| (v + j) * LANES);
                let mut acc = [[$zero(); V]; B];
                for ci in 0..cin {
                    let plane = padded.as_ptr().add(ci * p.padded_len());
                    let cell_weights = weights.as_ptr().add(ci * 9 * cout + co);
                    for k in 0..9 {
                        let shift = (k / 3) * pw + k % 3;
                        let inputs: [$v; V] = std::array::from_fn(|j| $load(plane.add(corners[j] + shift)));
                        for (b, acc) in acc.iter_mut().enumerate() {
                            let w = $set1(*cell_weights.add(k * cout + b));
                            for (a, &x) in acc.iter_mut().zip(&inputs) {
                                *a = $fmadd(w, x, *a);
                            }
                        }
                    }
                }
                for (b, acc) in acc.iter().enumerate() {
                    for (j, a) in acc.iter().enumerate() {
                        $store(out.as_mut_ptr().add((co + b) * p.span() + (v + j) * LANES), *a);
                    }
                }
            }

            #[target_feature(enable = $features)]
            pub(super) unsafe fn weight_grad(
                p: Planes,
                padded: &[f32],
                cin: usize,
                grad: &[f32],
                cout: usize,
                samples: usize,
                dw: &mut [f32],
            ) {
                let mut co = 0;
                while co < cout {
                    let block = if cout - co >= CHANNEL_BLOCK { CHANNEL_BLOCK } else { 1 };
                    for ci in 0..cin {
                        for ky in 0..3 {
                            match block {
                                CHANNEL_BLOCK => weight_grad_block::<CHANNEL_BLOCK>(
                                    p, padded, cin, grad, cout, samples, co, ci, ky, dw,
                                ),
                                _ => weight_grad_block::<1>(p, padded, cin, grad, cout, samples, co, ci, ky, dw),
                            }
                        }
                    }
                    co += block;
                }
            }

            /// The weight gradient of output channels `co..co + B`, input channel `ci` and kernel row
            /// `ky` (three columns): `3 * B` registers summed over every output vector of every
            /// sample.
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            unsafe fn weight_grad_block<const B: usize>(
                p: Planes,
                padded: &[f32],
                cin: usize,
                grad: &[f32],
                cout: usize,
                samples: usize,
                co: usize,
                ci: usize,
                ky: usize,
                dw: &mut [f32],
            ) {
                let mut acc = [[$zero(); 3]; B];
                for s in 0..samples {
                    let plane = padded.as_ptr().add((s * cin + ci) * p.padded_len() + ky * p.padded_width());
                    let grads = grad.as_ptr().add((s * cout + co) * p.span());
                    for v in 0..p.vectors() {
                        let corner = plane.add(v * LANES);
                        let inputs: [$v; 3] = std::array::from_fn(|kx| $load(corner.add(kx)));
                        for (b, acc) in acc.iter_mut().enumerate() {
                            let g = $load(grads.add(b * p.span() + v * LANES));
                            for (a, &x) in acc.iter_mut().zip(&inputs) {
                                *a = $fmadd(g, x, *a);
                            }
                        }
                    }
                }
                for (b, acc) in acc.iter().enumerate() {
                    for (kx, a) in acc.iter().enumerate() {
                        dw[((co + b) * cin + ci) * 9 + ky * 3 + kx] += $hsum(*a);
                    }
                }
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
kernels!(
    avx512,
    "avx512f",
    __m512,
    16,
    8,
    2,
    _mm512_setzero_ps,
    _mm512_loadu_ps,
    _mm512_storeu_ps,
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    _mm512_reduce_add_ps
);
#[cfg(target_arch = "x86_64")]
kernels!(
    avx2,
    "avx2,fma",
    __m256,
    8,
    4,
    2,
    _mm256_setzero_ps,
    _mm256_loadu_ps,
    _mm256_storeu_ps,
    _mm256_set1_ps,
    _mm256_fmadd_ps,
    horizontal_sum_256
);

/// The sum of the eight lanes of an AVX vector.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn horizontal_sum_256(v: std::arch::x86_64::__m256) -> f32 {
    use std::arch::x86_64::*;
    let quad = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let pair = _mm_add_ps(quad, _mm_movehl_ps(quad, quad));
    _mm_cvtss_f32(_mm_add_ss(pair, _mm_shuffle_ps(pair, pair, 1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain loops: `out[co][y][x] = sum w[ci][ky][kx][co] x[ci][y + ky - 1][x + kx - 1]` and
    /// `dw[co][ci][k] = sum g[s][co][y][x] x[s][ci][y + ky - 1][x + kx - 1]`.
    fn reference(
        h: usize,
        w: usize,
        x: &[f32],
        cin: usize,
        wt: &[f32],
        g: &[f32],
        cout: usize,
    ) -> (Vec<f32>, Vec<f32>) {
        let samples = x.len() / (cin * h * w);
        let at = |s: usize, ci: usize, y: isize, xx: isize| {
            let inside = y >= 0 && xx >= 0 && (y as usize) < h && (xx as usize) < w;
            if inside {
                x[((s * cin + ci) * h + y as usize) * w + xx as usize]
            } else {
                0.0
            }
        };
        let (mut out, mut dw) = (vec![0.0; cout * h * w], vec![0.0; cout * cin * 9]);
        for s in 0..samples {
            for co in 0..cout {
                for (p, o) in out[co * h * w..(co + 1) * h * w].iter_mut().enumerate() {
                    let (y, xx) = ((p / w) as isize, (p % w) as isize);
                    for ci in 0..cin {
                        for k in 0..9 {
                            let v = at(s, ci, y + (k / 3) as isize - 1, xx + (k % 3) as isize - 1);
                            if s == 0 {
                                *o += wt[(ci * 9 + k) * cout + co] * v;
                            }
                            dw[(co * cin + ci) * 9 + k] += g[(s * cout + co) * h * w + p] * v;
                        }
                    }
                }
            }
        }
        (out, dw)
    }

    /// Every instruction set this CPU has (the CI machine may lack AVX-512, this one AVX2
    /// paths would otherwise go untested) gives the plain loops' results to f32 rounding.
    #[test]
    fn kernels_of_every_instruction_set_equal_plain_loops() {
        let isas = [Isa::Avx512, Isa::Avx2]
            .into_iter()
            .filter(|&isa| Isa::detect().is_some_and(|best| best == isa || isa == Isa::Avx2));
        let value = |i: usize| ((i * 7919 % 1009) as f32 / 1009.0) - 0.5;
        for isa in isas {
            for (h, w, cin, cout) in [(3, 5, 2, 9), (4, 4, 3, 17), (2, 16, 1, 8), (5, 8, 4, 3)] {
                let samples = 2;
                let x: Vec<f32> = (0..samples * cin * h * w).map(value).collect();
                let wt: Vec<f32> = (0..cin * 9 * cout).map(|i| value(i + 5)).collect();
                let g: Vec<f32> = (0..samples * cout * h * w).map(|i| value(i + 11)).collect();
                let (expected_out, expected_dw) = reference(h, w, &x, cin, &wt, &g, cout);
                let planes = Planes { h, w, isa };
                let (mut padded, mut flat) = (Vec::new(), Vec::new());
                planes.pad(&x, &mut padded);
                let mut out = vec![0.0; cout * h * w];
                planes.correlate(&padded, cin, &wt, cout, &mut flat, &mut out);
                let mut dw = vec![0.0; cout * cin * 9];
                planes.weight_grad(&padded, cin, &g, cout, samples, &mut flat, &mut dw);
                for (a, b) in out.iter().zip(&expected_out).chain(dw.iter().zip(&expected_dw)) {
                    assert!((a - b).abs() < 1e-4, "{isa:?} {h}x{w} {cin}->{cout}: {a} against {b}");
                }
            }
        }
    }
}
