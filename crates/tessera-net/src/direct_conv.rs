//! Direct 3x3 convolution (stride 1 or 2, padding 1) in f32 on AVX-512 or AVX2 + FMA: forward,
//! input gradient and weight gradient of one sample, without im2col.
//!
//! With few channels (the 16- to 64-channel stages of a ResNet, a CNN's first layers) an
//! im2col + GEMM convolution copies every input value nine times and packs it for the GEMM, for
//! only `cout` multiply-adds per copied value. Here the sample is copied once, into a
//! zero-bordered `[C][H + 2][W + 2]` buffer, and the kernels read vectors of 16 (or 8) output
//! positions straight from it at the nine kernel offsets (see `Planes`), with the output
//! channels of a block in registers.
//!
//! On small planes (8x8 outputs and less) vectors of positions waste lanes on the border
//! columns and the rounding up, so a second family of kernels puts 16 (or 8) output channels in
//! a vector instead, at a block of a few output positions, each input value broadcast. The
//! weight gradient uses that layout wherever the output channels fill vectors: with the output
//! gradient transposed to `[positions][channels]` its sums stay in registers and L1 over
//! chunks of positions, and need no reduction across lanes. `Planes::lanes_suit` and
//! `Planes::weight_grad_lanes_suit` choose, from measurements on one AVX-512 core.
//!
//! A stride-2 convolution first splits each padded plane into its four phases (even and odd
//! rows times even and odd columns): every kernel cell then reads one phase at a unit shift, and
//! the same kernels apply. Its input gradient is, per phase of the padded input, a stride-1
//! correlation of the padded output gradient with the kernel cells of that phase (4, 2, 2 and 1
//! of them), scattered back to the input positions of the phase.
//!
//! Sums run over input channels and kernel cells in that order in both layouts (the same bits
//! either way; the weight gradient: over positions, in lanes then across them or in chunks), so
//! results differ from the im2col path by floating-point reassociation only.

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

    const fn lanes(self) -> usize {
        match self {
            Isa::Avx512 => 16,
            Isa::Avx2 => 8,
        }
    }

    /// Whether vectors of output channels are the faster for a correlation whose output
    /// positions fill `positions / span` of the position vectors. Measured on one core of the
    /// Intel machine (AVX2 by forcing its kernels): AVX-512 from a fifth wasted (8x8 outputs,
    /// 64->64: 141-145 against 118-128 GFLOP/s); AVX2 from 30 % (4x4: 52 against 43; at 8x8
    /// 55 against 59).
    fn channels_beat_positions(self, positions: usize, span: usize) -> bool {
        match self {
            Isa::Avx512 => 5 * positions <= 4 * span,
            Isa::Avx2 => 10 * positions <= 7 * span,
        }
    }

    /// Whether the channels-in-lanes weight gradient is the faster: with AVX-512 at every size
    /// measured (3->16 at 32x32: 68 against 47-59 GFLOP/s; 128->128 at 4x4: 99-102 against 39);
    /// with AVX2's 16 registers its blocks of sums spill, and vectors of positions win (16->16
    /// at 32x32: 52 against 42; 32->32 at 16x16: 60 against 53).
    fn weight_grad_by_channels(self) -> bool {
        self == Isa::Avx512
    }

    /// Vectors of output channels in a register block of the channels-in-lanes correlation.
    const fn lane_channels(self) -> usize {
        match self {
            Isa::Avx512 => 4,
            Isa::Avx2 => 2,
        }
    }
}

/// Whether the direct kernels handle this convolution: f32 on a CPU with AVX-512 or AVX2 + FMA,
/// one group, a 3x3 kernel with padding 1 and stride 1 or 2 (the same on both axes).
pub(crate) fn applies<T: 'static>(group: &ConvGroup, groups: usize) -> bool {
    let w = &group.window;
    let stride_fits = match w.stride {
        [1, 1] => w.in_hw == w.out_hw,
        [2, 2] => (0..2).all(|a| w.out_hw[a] == w.in_hw[a].div_ceil(2)),
        _ => false,
    };
    std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>()
        && groups == 1
        && w.kernel == [3, 3]
        && w.padding == [1, 1]
        && stride_fits
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

/// A reused buffer of `T` as the f32 buffer it is (`applies` checked that `T` is f32); a
/// `Vec`, not a slice, because the kernels resize their scratch.
#[allow(clippy::ptr_arg)]
pub(crate) fn as_f32_vec<T: 'static>(v: &mut Vec<T>) -> &mut Vec<f32> {
    (v as &mut dyn std::any::Any).downcast_mut().expect("the direct kernels run on f32")
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

/// The weights of a correlation of the output gradient (channel roles swapped), for kernel
/// cells `cells` (indices `ky * 3 + kx`): `[cout][cells.len()][cin]` holding `w[co][ci][k]`.
fn gathered_weights(weight: &[f32], cin: usize, cout: usize, cells: &[usize], out: &mut [f32]) {
    let n = cells.len();
    for co in 0..cout {
        for ci in 0..cin {
            for (j, &k) in cells.iter().enumerate() {
                out[(co * n + j) * cin + ci] = weight[(co * cin + ci) * 9 + k];
            }
        }
    }
}

/// How the input planes of a correlation are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// `[C][H + 2][W + 2]`, a zero border around each plane.
    Padded,
    /// `[C][4][H' + 1][W' + 1]`: the four phases (row parity, then column parity) of the padded
    /// plane, `H'` and `W'` being the output size of a stride-2 convolution.
    Phases,
}

/// The geometry of one sample's correlation and the instruction set that runs on it.
///
/// The kernels compute output `(y, x)` at the flat position `y * row + x` for every `x < row`
/// (the extra columns, and the rounding up to whole vectors, are discarded), and read kernel
/// cell `k` at that position plus `cells[k]` in the channel's input planes: a vector of
/// consecutive positions then reads consecutive inputs at every kernel cell.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Planes {
    isa: Isa,
    /// The size of one unpadded input plane.
    in_hw: [usize; 2],
    /// The size of one output plane.
    out_hw: [usize; 2],
    layout: Layout,
    /// Flat positions per output row.
    row: usize,
    /// Input values per channel, as the kernels read them.
    channel_len: usize,
    /// Offset of each kernel cell read, from the flat output position.
    cells: [usize; 9],
    cell_count: usize,
    /// Which kernels run: by `lanes_suit`'s rule (`None`), or forced by a test.
    lanes: Option<bool>,
}

impl Planes {
    /// The planes of the forward pass and weight gradient of a window that `applies` accepted.
    pub(crate) fn of(window: &Window) -> Self {
        let isa = Isa::detect().expect("direct convolution on a CPU without AVX2");
        let (in_hw, out_hw) = (window.in_hw, window.out_hw);
        if window.stride == [1, 1] {
            let row = in_hw[1] + 2;
            let cells = std::array::from_fn(|k| (k / 3) * row + k % 3);
            let channel_len = (in_hw[0] + 2) * row;
            return Self {
                isa,
                in_hw,
                out_hw,
                layout: Layout::Padded,
                row,
                channel_len,
                cells,
                cell_count: 9,
                lanes: None,
            };
        }
        let row = out_hw[1] + 1;
        let phase_len = (out_hw[0] + 1) * row;
        let cells = std::array::from_fn(|k| {
            let (ky, kx) = (k / 3, k % 3);
            ((ky % 2) * 2 + kx % 2) * phase_len + (ky / 2) * row + kx / 2
        });
        Self {
            isa,
            in_hw,
            out_hw,
            layout: Layout::Phases,
            row,
            channel_len: 4 * phase_len,
            cells,
            cell_count: 9,
            lanes: None,
        }
    }

    /// The correlations of the padded output gradient that make the input gradient, each with
    /// the kernel cells it reads (indices `ky * 3 + kx`) and the phase `(row, column)` of the
    /// padded input it fills: one for stride 1 (the kernel turned by 180 degrees), four for
    /// stride 2.
    fn input_grad_parts(window: &Window) -> Vec<(Self, Vec<usize>, [usize; 2])> {
        let isa = Isa::detect().expect("direct convolution on a CPU without AVX2");
        let out_hw = window.out_hw;
        let row = out_hw[1] + 2;
        let planes = |shifts: &[(usize, usize)], hw: [usize; 2]| Self {
            isa,
            in_hw: out_hw,
            out_hw: hw,
            layout: Layout::Padded,
            row,
            channel_len: (out_hw[0] + 2) * row,
            cells: std::array::from_fn(|j| shifts.get(j).map_or(0, |&(dy, dx)| dy * row + dx)),
            cell_count: shifts.len(),
            lanes: None,
        };
        if window.stride == [1, 1] {
            let shifts: Vec<(usize, usize)> = (0..9).map(|j| (j / 3, j % 3)).collect();
            return vec![(planes(&shifts, out_hw), (0..9).rev().collect(), [1, 1])];
        }
        // Phase (a, b) of the padded input at (i, j) is the sum over the cells (ky, kx) of
        // that parity of w[ky][kx] g[i - ky / 2][j - kx / 2]: in the output gradient padded by
        // one, a read at (i, j) + (1 - ky / 2, 1 - kx / 2).
        let phase_hw = [out_hw[0] + 1, out_hw[1] + 1];
        [[0, 0], [0, 1], [1, 0], [1, 1]]
            .into_iter()
            .map(|[a, b]| {
                let ks: Vec<usize> = (0..9).filter(|k| (k / 3) % 2 == a && (k % 3) % 2 == b).collect();
                let shifts: Vec<(usize, usize)> = ks.iter().map(|k| (1 - k / 3 / 2, 1 - k % 3 / 2)).collect();
                (planes(&shifts, phase_hw), ks, [a, b])
            })
            .collect()
    }

    /// Zeros after the last input plane: the reads of the discarded positions of the last
    /// vectors run past it.
    fn slack(self) -> usize {
        self.span() + self.cells.iter().max().copied().unwrap_or(0) + self.isa.lanes()
    }
    /// Flat output positions per channel, whole vectors.
    fn span(self) -> usize {
        (self.out_hw[0] * self.row).next_multiple_of(self.isa.lanes())
    }
    fn vectors(self) -> usize {
        self.span() / self.isa.lanes()
    }

    /// Copy the planes of `x` (any number of samples, one after the other) into `planes` as the
    /// kernels read them: with a zero border, split into phases for stride 2.
    pub(crate) fn pad(self, x: &[f32], planes: &mut Vec<f32>) {
        let [h, w] = self.in_hw;
        let count = x.len() / (h * w);
        // Each plane is zeroed just before it is filled, while it is in cache, rather than the
        // whole buffer in one pass before.
        planes.resize(count * self.channel_len + self.slack(), 0.0);
        let (body, slack) = planes.split_at_mut(count * self.channel_len);
        slack.fill(0.0);
        let sources = x.chunks_exact(h * w).zip(body.chunks_exact_mut(self.channel_len));
        match self.layout {
            Layout::Padded => {
                for (src, dst) in sources {
                    dst.fill(0.0);
                    for (row, out) in src.chunks_exact(w).zip(dst[self.row + 1..].chunks_mut(self.row)) {
                        out[..w].copy_from_slice(row);
                    }
                }
            }
            Layout::Phases => {
                let phase_len = self.channel_len / 4;
                for (src, dst) in sources {
                    dst.fill(0.0);
                    // Input (y, x) sits at (y + 1, x + 1) of the padded plane.
                    for (y, row) in src.chunks_exact(w).enumerate() {
                        let padded_y = y + 1;
                        let (parity, i) = (padded_y % 2, padded_y / 2);
                        let (even_start, odd_start) = ((parity * 2) * phase_len, (parity * 2 + 1) * phase_len);
                        let (head, tail) = dst.split_at_mut(odd_start);
                        let even = &mut head[even_start + i * self.row..][1..self.row];
                        let odd = &mut tail[i * self.row..][..self.row];
                        split_columns(row, odd, even);
                    }
                }
            }
        }
    }

    /// The flat offset of output position `q`'s read at kernel cell 0.
    #[inline(always)]
    fn base(self, q: usize) -> usize {
        q / self.out_hw[1] * self.row + q % self.out_hw[1]
    }

    /// Output positions (`H' * W'`).
    fn positions(self) -> usize {
        self.out_hw[0] * self.out_hw[1]
    }

    /// Whether the channels-in-lanes correlation suits `channels` outputs: whole register
    /// blocks of them (64 on AVX-512), on planes so small that vectors of flat positions would
    /// waste many lanes on the border columns and the rounding up (8x8 outputs: a fifth; 4x4:
    /// half; `Isa::channels_beat_positions` says how many is many).
    fn lanes_suit(self, channels: usize) -> bool {
        let whole_blocks = channels.is_multiple_of(self.isa.lanes() * self.isa.lane_channels());
        whole_blocks && self.lanes.unwrap_or(self.isa.channels_beat_positions(self.positions(), self.span()))
    }

    /// Whether the channels-in-lanes weight gradient suits `cout` outputs: whole vectors of
    /// them, on an instruction set where it is the faster (`Isa::weight_grad_by_channels`).
    /// Unlike `weight_grad`'s other kernel it keeps its sums in the L1 cache while it runs over
    /// the samples and reduces no lanes.
    fn weight_grad_lanes_suit(self, cout: usize) -> bool {
        cout.is_multiple_of(self.isa.lanes()) && self.lanes.unwrap_or(self.isa.weight_grad_by_channels())
    }

    /// `out[q][co] = sum_{ci, k} weights[ci][k][co] * planes[ci][base(q) + cells[k]]` at every
    /// output position `q` (`[positions][cout]`; `cout` whole register blocks, `lanes_suit`).
    fn correlate_lanes(self, planes: &[f32], cin: usize, weights: &[f32], cout: usize, out: &mut Vec<f32>) {
        assert!(planes.len() >= cin * self.channel_len && weights.len() >= cin * self.cell_count * cout);
        assert!(cout.is_multiple_of(self.isa.lanes() * self.isa.lane_channels()));
        out.resize(self.positions() * cout, 0.0);
        let operands = Operands { p: self, planes, cin, weights, cout };
        // SAFETY: `Isa::detect` found the instruction set on this CPU; every read is at a
        // valid output position's kernel cell, inside the channel's planes.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            match self.isa {
                Isa::Avx512 => avx512::correlate_lanes(operands, out),
                Isa::Avx2 => avx2::correlate_lanes(operands, out),
            }
        }
    }

    /// `flat[co][p] = sum_{ci, k} weights[ci][k][co] * planes[ci][p + cells[k]]` at every flat
    /// position `p` (`[cout][span]`).
    fn correlate_flat(self, planes: &[f32], cin: usize, weights: &[f32], cout: usize, flat: &mut Vec<f32>) {
        flat.resize(cout * self.span(), 0.0);
        self.correlate_to(Operands { p: self, planes, cin, weights, cout }, flat, Destination::Flat);
    }

    /// The vectors-of-positions kernel into `out`, laid out as `to` says.
    fn correlate_to(self, operands: Operands, out: &mut [f32], to: Destination) {
        let Operands { planes, cin, weights, cout, .. } = operands;
        assert!(planes.len() >= cin * self.channel_len + self.slack() && weights.len() >= cin * self.cell_count * cout);
        let out_len = match to {
            Destination::Flat => cout * self.span(),
            Destination::Planes => cout * self.positions(),
        };
        assert!(out.len() >= out_len);
        // SAFETY: `Isa::detect` found the instruction set on this CPU; with the slack asserted
        // above, every vector read at a kernel cell lies inside `planes`; the stores stay
        // inside the asserted output length (masked to the output columns with `Planes`).
        #[cfg(target_arch = "x86_64")]
        unsafe {
            match self.isa {
                Isa::Avx512 => avx512::correlate(operands, out, to),
                Isa::Avx2 => avx2::correlate(operands, out, to),
            }
        }
    }

    /// `correlate_flat` at the output positions only, into `out` (`[cout][H'][W']`): the
    /// forward pass with `forward_weights`. `flat` is scratch.
    pub(crate) fn correlate(
        self,
        planes: &[f32],
        cin: usize,
        weights: &[f32],
        cout: usize,
        flat: &mut Vec<f32>,
        out: &mut [f32],
    ) {
        if self.lanes_suit(cout) {
            self.correlate_lanes(planes, cin, weights, cout, flat);
            transpose(flat, self.positions(), cout, out);
            return;
        }
        self.correlate_to(Operands { p: self, planes, cin, weights, cout }, out, Destination::Planes);
    }

    /// `dw[co][ci][ky][kx] += sum_{s, p} grad[s][co][p] * padded[s][ci][p + (ky, kx)]` over
    /// `samples` samples (padded together by `pad`), by the channels-in-lanes kernel where
    /// `weight_grad_lanes_suit`, else by vectors of positions summed over every sample in
    /// registers before reducing across lanes. `flat` and `sums` are scratch: the gradient
    /// `[s][positions][cout]` and the sums `[cin][9][cout]` of the first, the gradient at flat
    /// positions (zero at the discarded ones) of the second.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn weight_grad(
        self,
        padded: &[f32],
        cin: usize,
        grad: &[f32],
        cout: usize,
        samples: usize,
        flat: &mut Vec<f32>,
        sums: &mut Vec<f32>,
        dw: &mut [f32],
    ) {
        assert!(padded.len() >= samples * cin * self.channel_len + self.slack() && dw.len() >= cout * cin * 9);
        if self.weight_grad_lanes_suit(cout) {
            // The output gradient transposed to `[s][positions][cout]`, summed into
            // `[cin][9][cout]`, added to `dw` transposed back.
            let positions = self.positions();
            flat.resize(samples * positions * cout, 0.0);
            let per_sample = grad[..samples * cout * positions].chunks_exact(cout * positions);
            per_sample.zip(flat.chunks_exact_mut(positions * cout)).for_each(|(g, t)| transpose(g, cout, positions, t));
            sums.clear();
            sums.resize(cin * 9 * cout, 0.0);
            // SAFETY: as in `correlate_lanes`; `flat` and `sums` have the lengths it reads.
            #[cfg(target_arch = "x86_64")]
            unsafe {
                match self.isa {
                    Isa::Avx512 => avx512::weight_grad_lanes(self, padded, cin, flat, cout, samples, sums),
                    Isa::Avx2 => avx2::weight_grad_lanes(self, padded, cin, flat, cout, samples, sums),
                }
            }
            for (ci, cell_sums) in sums.chunks_exact(9 * cout).enumerate() {
                for (k, row) in cell_sums.chunks_exact(cout).enumerate() {
                    row.iter().enumerate().for_each(|(co, &v)| dw[(co * cin + ci) * 9 + k] += v);
                }
            }
            return;
        }
        let (span, [h, w]) = (self.span(), self.out_hw);
        flat.resize(samples * cout * span, 0.0);
        for (g, f) in grad[..samples * cout * h * w].chunks_exact(h * w).zip(flat.chunks_exact_mut(span)) {
            f.fill(0.0);
            for (row, dst) in g.chunks_exact(w).zip(f.chunks_mut(self.row)) {
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

/// The even-indexed values of `row` into `even` and the odd-indexed ones into `odd`, in
/// pairs (a loop the compiler turns into vector shuffles).
fn split_columns(row: &[f32], even: &mut [f32], odd: &mut [f32]) {
    let (pairs, last) = row.as_chunks::<2>();
    for ((&[a, b], e), o) in pairs.iter().zip(even.iter_mut()).zip(odd.iter_mut()) {
        (*e, *o) = (a, b);
    }
    if let [v] = last {
        even[pairs.len()] = *v;
    }
}

/// `out[c][r] = m[r][c]` for `m` with `rows` rows of `cols`: 8x8 tiles in AVX registers (the
/// kernels run only where AVX2 is), the edges one value at a time.
fn transpose(m: &[f32], rows: usize, cols: usize, out: &mut [f32]) {
    assert!(m.len() >= rows * cols && out.len() >= rows * cols);
    let mut plain = |r: std::ops::Range<usize>, c: std::ops::Range<usize>| {
        for r in r {
            c.clone().for_each(|c| out[c * rows + r] = m[r * cols + c]);
        }
    };
    #[cfg(target_arch = "x86_64")]
    if Isa::detect().is_some() {
        let (whole_rows, whole_cols) = (rows / 8 * 8, cols / 8 * 8);
        plain(0..whole_rows, whole_cols..cols);
        plain(whole_rows..rows, 0..cols);
        for r0 in (0..whole_rows).step_by(8) {
            for c0 in (0..whole_cols).step_by(8) {
                // SAFETY: AVX is on this CPU (it has AVX2); the tile's rows and columns lie
                // inside both matrices (asserted lengths, whole tiles).
                unsafe { transpose_tile(m, rows, cols, r0, c0, out) };
            }
        }
        return;
    }
    plain(0..rows, 0..cols);
}

/// The 8x8 tile at row `r0`, column `c0` of `transpose`: unpack pairs, shuffle quadruples,
/// swap 128-bit halves.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn transpose_tile(m: &[f32], rows: usize, cols: usize, r0: usize, c0: usize, out: &mut [f32]) {
    use std::arch::x86_64::*;
    let r: [__m256; 8] = std::array::from_fn(|i| _mm256_loadu_ps(m.as_ptr().add((r0 + i) * cols + c0)));
    let t: [__m256; 8] = std::array::from_fn(|i| {
        let (a, b) = (r[i / 2 * 2], r[i / 2 * 2 + 1]);
        if i % 2 == 0 {
            _mm256_unpacklo_ps(a, b)
        } else {
            _mm256_unpackhi_ps(a, b)
        }
    });
    // u[4h + j]: from t[4h + j % 2] and t[4h + j % 2 + 2], low pairs for even j.
    let u: [__m256; 8] = std::array::from_fn(|i| {
        let (h, j) = (i / 4, i % 4);
        let (a, b) = (t[4 * h + j / 2], t[4 * h + j / 2 + 2]);
        if j % 2 == 0 {
            _mm256_shuffle_ps::<0x44>(a, b)
        } else {
            _mm256_shuffle_ps::<0xEE>(a, b)
        }
    });
    for i in 0..8 {
        let (a, b) = (u[i % 4], u[i % 4 + 4]);
        let column = if i < 4 { _mm256_permute2f128_ps::<0x20>(a, b) } else { _mm256_permute2f128_ps::<0x31>(a, b) };
        _mm256_storeu_ps(out.as_mut_ptr().add((c0 + i) * rows + r0), column);
    }
}

/// Where the forward kernel writes: at the flat positions (`[cout][span]`, the discarded ones
/// included), or straight into the output planes `[cout][H'][W']`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Destination {
    Flat,
    Planes,
}

/// What a correlation reads: the planes of `cin` input channels laid out as `p` says, and
/// the weights of `cout` output channels.
#[derive(Clone, Copy)]
struct Operands<'a> {
    p: Planes,
    planes: &'a [f32],
    cin: usize,
    weights: &'a [f32],
    cout: usize,
}

/// The input gradient of one convolution by the direct kernels: the correlations of
/// `Planes::input_grad_parts`, with the weights of each gathered once.
pub(crate) struct InputGrad<'a> {
    /// Each correlation, the range of its weights in `weights` and its phase.
    parts: Vec<(Planes, std::ops::Range<usize>, [usize; 2])>,
    weights: &'a [f32],
    stride: usize,
    /// Input channels and the size of one input plane.
    cin: usize,
    in_hw: [usize; 2],
}

impl<'a> InputGrad<'a> {
    /// For a window that `applies` accepted, with weights `[cout][cin][3][3]`, gathering them
    /// into `buffer`.
    pub(crate) fn new(window: &Window, weight: &[f32], cout: usize, buffer: &'a mut Vec<f32>) -> Self {
        let cin = window.channels;
        let parts = Planes::input_grad_parts(window);
        // The parts read every kernel cell once between them.
        buffer.resize(cout * 9 * cin, 0.0);
        let mut start = 0;
        let parts = parts
            .into_iter()
            .map(|(planes, cells, phase)| {
                let range = start..start + cout * cells.len() * cin;
                gathered_weights(weight, cin, cout, &cells, &mut buffer[range.clone()]);
                start = range.end;
                (planes, range, phase)
            })
            .collect();
        Self { parts, weights: buffer, stride: window.stride[0], cin, in_hw: window.in_hw }
    }

    /// The input gradient `d` (`[cin][H][W]`, every value written) of one sample from its output
    /// gradient `g` (`[cout][H'][W']`); `padded` and `flat` are scratch.
    pub(crate) fn sample(&self, g: &[f32], cout: usize, padded: &mut Vec<f32>, flat: &mut Vec<f32>, d: &mut [f32]) {
        let (cin, [h, w]) = (self.cin, self.in_hw);
        self.parts[0].0.pad(g, padded);
        if self.stride == 1 {
            let (planes, weights, _) = &self.parts[0];
            planes.correlate(padded, cout, &self.weights[weights.clone()], cin, flat, d);
            return;
        }
        for (planes, weights, [a, b]) in &self.parts {
            if planes.lanes_suit(cin) {
                planes.correlate_lanes(padded, cout, &self.weights[weights.clone()], cin, flat);
                let [ph, pw] = planes.out_hw;
                for i in 0..ph {
                    let Some(y) = phase_input(i, *a, h) else { continue };
                    for j in 0..pw {
                        let Some(x) = phase_input(j, *b, w) else { continue };
                        let values = &flat[(i * pw + j) * cin..][..cin];
                        values.iter().enumerate().for_each(|(ci, &v)| d[(ci * h + y) * w + x] = v);
                    }
                }
                continue;
            }
            planes.correlate_flat(padded, cout, &self.weights[weights.clone()], cin, flat);
            // Row i of phase (a, b) fills the columns 1 - b, 3 - b, .. of its input row.
            for (dc, f) in d[..cin * h * w].chunks_exact_mut(h * w).zip(flat.chunks_exact(planes.span())) {
                for (i, src) in f.chunks(planes.row).take(planes.out_hw[0]).enumerate() {
                    let Some(y) = phase_input(i, *a, h) else { continue };
                    let row = dc[y * w..(y + 1) * w].iter_mut().skip(1 - b).step_by(2);
                    row.zip(&src[1 - b..]).for_each(|(d, &v)| *d = v);
                }
            }
        }
    }
}

/// The input row (or column) of index `i` of the padded input's phase of parity `parity`, of
/// `len` input rows: phase index `i` is padded index `2i + parity`, input index one less (the
/// padded border, index 0 and `len + 1`, is dropped).
fn phase_input(i: usize, parity: usize, len: usize) -> Option<usize> {
    (2 * i + parity).checked_sub(1).filter(|&input| input < len)
}

/// The kernels for one instruction set: `$features` for `target_feature`, vectors of type `$v`
/// holding `LANES` floats, `CHANNEL_BLOCK x VECTOR_BLOCK` accumulators in the forward kernel and
/// `CHANNEL_BLOCK x 3` in the weight gradient.
macro_rules! kernels {
    ($module:ident, $features:literal, $v:ty, $lanes:literal, $channel_block:literal, $vector_block:literal,
     $isa:expr, $lane_positions:literal,
     $zero:ident, $load:ident, $store:ident, $store_lanes:path, $set1:ident, $fmadd:ident, $hsum:path) => {
        mod $module {
            #[allow(unused_imports)]
            use super::horizontal_sum_256;
            use super::{Destination, Isa, Operands, Planes};
            use std::arch::x86_64::*;

            const LANES: usize = $lanes;
            const CHANNEL_BLOCK: usize = $channel_block;
            const VECTOR_BLOCK: usize = $vector_block;
            const LANE_CHANNELS: usize = $isa.lane_channels();
            const LANE_POSITIONS: usize = $lane_positions;
            /// Output positions a chunk of the channels-in-lanes weight gradient covers.
            const WEIGHT_GRAD_POSITIONS: usize = 64;

            #[target_feature(enable = $features)]
            pub(super) unsafe fn correlate(o: Operands, out: &mut [f32], to: Destination) {
                let (p, cout) = (o.p, o.cout);
                let paired = p.vectors() / VECTOR_BLOCK * VECTOR_BLOCK;
                let mut co = 0;
                while co < cout {
                    let block = if cout - co >= CHANNEL_BLOCK { CHANNEL_BLOCK } else { 1 };
                    for v in (0..paired).step_by(VECTOR_BLOCK) {
                        match block {
                            CHANNEL_BLOCK => correlate_block::<CHANNEL_BLOCK, VECTOR_BLOCK>(&o, (co, v), out, to),
                            _ => correlate_block::<1, VECTOR_BLOCK>(&o, (co, v), out, to),
                        }
                    }
                    for v in paired..p.vectors() {
                        match block {
                            CHANNEL_BLOCK => correlate_block::<CHANNEL_BLOCK, 1>(&o, (co, v), out, to),
                            _ => correlate_block::<1, 1>(&o, (co, v), out, to),
                        }
                    }
                    co += block;
                }
            }

            /// Output channels `co..co + B` at output vectors `v..v + V`, kept in `B * V` registers.
            #[inline(always)]
            unsafe fn correlate_block<const B: usize, const V: usize>(
                o: &Operands,
                (co, v): (usize, usize),
                out: &mut [f32],
                to: Destination,
            ) {
                let (p, padded, cin, weights, cout) = (&o.p, o.planes, o.cin, o.weights, o.cout);
                let corners: [usize; V] = std::array::from_fn(|j| (v + j) * LANES);
                let cells = &p.cells[..p.cell_count];
                let mut acc = [[$zero(); V]; B];
                for ci in 0..cin {
                    let plane = padded.as_ptr().add(ci * p.channel_len);
                    let cell_weights = weights.as_ptr().add(ci * cells.len() * cout + co);
                    for (k, &shift) in cells.iter().enumerate() {
                        let inputs: [$v; V] = std::array::from_fn(|j| $load(plane.add(corners[j] + shift)));
                        for (b, acc) in acc.iter_mut().enumerate() {
                            let w = $set1(*cell_weights.add(k * cout + b));
                            for (a, &x) in acc.iter_mut().zip(&inputs) {
                                *a = $fmadd(w, x, *a);
                            }
                        }
                    }
                }
                if to == Destination::Flat {
                    for (b, acc) in acc.iter().enumerate() {
                        for (j, a) in acc.iter().enumerate() {
                            $store(out.as_mut_ptr().add((co + b) * p.span() + (v + j) * LANES), *a);
                        }
                    }
                    return;
                }
                // Each output row a vector reaches gets the lanes of its columns < W' by a
                // masked store: lane `l` of the vector at flat position `f` is column
                // `f + l - y * row` of row `y`.
                let [h, w] = p.out_hw;
                for j in 0..V {
                    let f = (v + j) * LANES;
                    let mut y = f / p.row;
                    while y < h && y * p.row < f + LANES {
                        let row_start = y * p.row;
                        let (lo, hi) = (row_start.saturating_sub(f), (row_start + w).min(f + LANES).saturating_sub(f));
                        for (b, acc) in acc.iter().enumerate().filter(|_| hi > lo) {
                            let row = out.as_mut_ptr().add((co + b) * h * w + y * w);
                            $store_lanes(row.wrapping_add(f).wrapping_sub(row_start), lo, hi, acc[j]);
                        }
                        y += 1;
                    }
                }
            }

            /// `Planes::correlate_lanes`: blocks of `LANE_CHANNELS` vectors of output channels at
            /// `LANE_POSITIONS` output positions in registers (at 6, the 24 sums, the weights and
            /// the broadcast input need more than 32 registers and two sums spill).
            #[target_feature(enable = $features)]
            pub(super) unsafe fn correlate_lanes(o: Operands, out: &mut [f32]) {
                let (positions, cout) = (o.p.positions(), o.cout);
                assert!(cout.is_multiple_of(LANE_CHANNELS * LANES));
                let whole = positions / LANE_POSITIONS * LANE_POSITIONS;
                for co in (0..cout).step_by(LANE_CHANNELS * LANES) {
                    for q in (0..whole).step_by(LANE_POSITIONS) {
                        lanes_block::<LANE_CHANNELS, LANE_POSITIONS>(&o, co, q, out);
                    }
                    // The last positions in one block of their number, not one by one: a block
                    // of one position has too few independent sums.
                    match positions - whole {
                        0 => {}
                        1 => lanes_block::<LANE_CHANNELS, 1>(&o, co, whole, out),
                        2 => lanes_block::<LANE_CHANNELS, 2>(&o, co, whole, out),
                        3 => lanes_block::<LANE_CHANNELS, 3>(&o, co, whole, out),
                        4 => lanes_block::<LANE_CHANNELS, 4>(&o, co, whole, out),
                        more => unreachable!("{more} positions left after the whole blocks"),
                    }
                }
            }

            /// Output channels `co..co + C * LANES` at output positions `q..q + P`, kept in
            /// `C * P` registers; the sums run in `correlate_block`'s order.
            #[inline(always)]
            unsafe fn lanes_block<const C: usize, const P: usize>(o: &Operands, co: usize, q: usize, out: &mut [f32]) {
                let (p, padded, cin, weights, cout) = (&o.p, o.planes, o.cin, o.weights, o.cout);
                assert!(q + P <= p.positions() && (q + P) * cout <= out.len());
                let bases: [usize; P] = std::array::from_fn(|j| p.base(q + j));
                let cells = &p.cells[..p.cell_count];
                let mut acc = [[$zero(); C]; P];
                for ci in 0..cin {
                    let plane = padded.as_ptr().add(ci * p.channel_len);
                    let cell_weights = weights.as_ptr().add(ci * cells.len() * cout + co);
                    for (k, &shift) in cells.iter().enumerate() {
                        let w: [$v; C] = std::array::from_fn(|c| $load(cell_weights.add(k * cout + c * LANES)));
                        for (acc, &base) in acc.iter_mut().zip(&bases) {
                            let x = $set1(*plane.add(base + shift));
                            for (a, &w) in acc.iter_mut().zip(&w) {
                                *a = $fmadd(w, x, *a);
                            }
                        }
                    }
                }
                for (j, acc) in acc.iter().enumerate() {
                    for (c, a) in acc.iter().enumerate() {
                        $store(out.as_mut_ptr().add((q + j) * cout + co + c * LANES), *a);
                    }
                }
            }

            /// `Planes::weight_grad` by channels in lanes: per chunk of samples, input channel and block of
            /// output channels, the sums of a few kernel cells in registers, loaded from and
            /// stored to `sums` around the chunk's positions (which stay in the L1 cache).
            #[target_feature(enable = $features)]
            pub(super) unsafe fn weight_grad_lanes(
                p: Planes,
                padded: &[f32],
                cin: usize,
                grads: &[f32],
                cout: usize,
                samples: usize,
                sums: &mut [f32],
            ) {
                let chunk = (WEIGHT_GRAD_POSITIONS / p.positions()).clamp(1, samples.max(1));
                for first in (0..samples).step_by(chunk) {
                    let chunk = first..(first + chunk).min(samples);
                    for ci in 0..cin {
                        let mut co = 0;
                        while co < cout {
                            let vectors = (cout - co) / LANES;
                            let block = if vectors >= 4 {
                                sums_block::<6, 4>(p, padded, cin, grads, cout, chunk.clone(), ci, co, 0, sums);
                                sums_block::<3, 4>(p, padded, cin, grads, cout, chunk.clone(), ci, co, 6, sums);
                                4
                            } else if vectors >= 2 {
                                sums_block::<9, 2>(p, padded, cin, grads, cout, chunk.clone(), ci, co, 0, sums);
                                2
                            } else {
                                sums_block::<9, 1>(p, padded, cin, grads, cout, chunk.clone(), ci, co, 0, sums);
                                1
                            };
                            co += block * LANES;
                        }
                    }
                }
            }

            /// `sums[ci][k][co..co + C * LANES]` for kernel cells `k..k + K`, over the positions
            /// of samples `chunk`.
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            unsafe fn sums_block<const K: usize, const C: usize>(
                p: Planes,
                padded: &[f32],
                cin: usize,
                grads: &[f32],
                cout: usize,
                chunk: std::ops::Range<usize>,
                ci: usize,
                co: usize,
                k: usize,
                sums: &mut [f32],
            ) {
                let dst = sums.as_mut_ptr().add((ci * 9 + k) * cout + co);
                let mut acc: [[$v; C]; K] =
                    std::array::from_fn(|j| std::array::from_fn(|c| $load(dst.add(j * cout + c * LANES))));
                let shifts: [usize; K] = std::array::from_fn(|j| p.cells[k + j]);
                let [h, w] = p.out_hw;
                for s in chunk {
                    let plane = padded.as_ptr().add((s * cin + ci) * p.channel_len);
                    let mut g = grads.as_ptr().add(s * h * w * cout + co);
                    for y in 0..h {
                        for x in 0..w {
                            let base = plane.add(y * p.row + x);
                            let gs: [$v; C] = std::array::from_fn(|c| $load(g.add(c * LANES)));
                            for (acc, &shift) in acc.iter_mut().zip(&shifts) {
                                let x = $set1(*base.add(shift));
                                for (a, &g) in acc.iter_mut().zip(&gs) {
                                    *a = $fmadd(g, x, *a);
                                }
                            }
                            g = g.add(cout);
                        }
                    }
                }
                for (j, acc) in acc.iter().enumerate() {
                    for (c, a) in acc.iter().enumerate() {
                        $store(dst.add(j * cout + c * LANES), *a);
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
                    let plane = padded.as_ptr().add((s * cin + ci) * p.channel_len);
                    let cells: [usize; 3] = std::array::from_fn(|kx| p.cells[ky * 3 + kx]);
                    let grads = grad.as_ptr().add((s * cout + co) * p.span());
                    for v in 0..p.vectors() {
                        let corner = plane.add(v * LANES);
                        let inputs: [$v; 3] = std::array::from_fn(|kx| $load(corner.add(cells[kx])));
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
    Isa::Avx512,
    5,
    _mm512_setzero_ps,
    _mm512_loadu_ps,
    _mm512_storeu_ps,
    super::store_lanes_512,
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
    Isa::Avx2,
    5,
    _mm256_setzero_ps,
    _mm256_loadu_ps,
    _mm256_storeu_ps,
    super::store_lanes_256,
    _mm256_set1_ps,
    _mm256_fmadd_ps,
    horizontal_sum_256
);

/// Store lanes `lo..hi` of `v` at `to + lo ..= to + hi - 1` (nothing else is written: masked
/// stores suppress the other lanes, faults included).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn store_lanes_512(to: *mut f32, lo: usize, hi: usize, v: std::arch::x86_64::__m512) {
    let mask = ((1u32 << hi) - (1u32 << lo)) as u16;
    std::arch::x86_64::_mm512_mask_storeu_ps(to, mask, v);
}

/// `store_lanes_512` for an AVX vector.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn store_lanes_256(to: *mut f32, lo: usize, hi: usize, v: std::arch::x86_64::__m256) {
    use std::arch::x86_64::*;
    let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let from_lo = _mm256_cmpgt_epi32(lane, _mm256_set1_epi32(lo as i32 - 1));
    let below_hi = _mm256_cmpgt_epi32(_mm256_set1_epi32(hi as i32), lane);
    _mm256_maskstore_ps(to, _mm256_and_si256(from_lo, below_hi), v);
}

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

    /// Plain loops of a 3x3 convolution with padding 1 and `stride`, inputs `[s][cin][h][w]`,
    /// weights `[cout][cin][3][3]`, output gradient `g` `[s][cout][oh][ow]`: the output of
    /// sample 0, and over all samples the weight and input gradients.
    fn reference(
        [h, w]: [usize; 2],
        stride: usize,
        x: &[f32],
        cin: usize,
        wt: &[f32],
        g: &[f32],
        cout: usize,
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let (oh, ow) = ((h - 1) / stride + 1, (w - 1) / stride + 1);
        let samples = x.len() / (cin * h * w);
        let source = |oy: usize, ox: usize, k: usize| {
            let (y, xx) = ((oy * stride + k / 3) as isize - 1, (ox * stride + k % 3) as isize - 1);
            let inside = y >= 0 && xx >= 0 && (y as usize) < h && (xx as usize) < w;
            inside.then(|| y as usize * w + xx as usize)
        };
        let (mut out, mut dw, mut dx) = (vec![0.0; cout * oh * ow], vec![0.0; cout * cin * 9], vec![0.0; x.len()]);
        for s in 0..samples {
            for co in 0..cout {
                for p in 0..oh * ow {
                    let grad = g[(s * cout + co) * oh * ow + p];
                    for ci in 0..cin {
                        for k in 0..9 {
                            let Some(q) = source(p / ow, p % ow, k) else { continue };
                            let (input, weight) = ((s * cin + ci) * h * w + q, (co * cin + ci) * 9 + k);
                            if s == 0 {
                                out[co * oh * ow + p] += wt[weight] * x[input];
                            }
                            dw[weight] += grad * x[input];
                            dx[input] += grad * wt[weight];
                        }
                    }
                }
            }
        }
        (out, dw, dx)
    }

    /// The forward output of sample 0, the weight gradient and the input gradient of every
    /// sample by the kernels of `isa`, with vectors of channels (`lanes`) or of positions.
    fn direct(
        isa: Isa,
        lanes: bool,
        window: &Window,
        x: &[f32],
        wt: &[f32],
        g: &[f32],
        cout: usize,
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let (cin, samples) = (window.channels, x.len() / window.channels / window.in_len());
        let planes = Planes { isa, lanes: Some(lanes), ..Planes::of(window) };
        // Scratch that holds garbage, as reused scratch does: the kernels must write every
        // value they read.
        let (mut padded, mut flat, mut weights) = (vec![f32::NAN; 1 << 16], vec![f32::NAN; 1 << 16], Vec::new());
        planes.pad(x, &mut padded);
        forward_weights(wt, cin, cout, &mut weights);
        let mut out = vec![f32::NAN; cout * window.out_len()];
        planes.correlate(&padded, cin, &weights, cout, &mut flat, &mut out);
        let mut dw = vec![0.0; cout * cin * 9];
        planes.weight_grad(&padded, cin, g, cout, samples, &mut flat, &mut Vec::new(), &mut dw);
        let mut gathered = Vec::new();
        let mut input_grad = InputGrad::new(window, wt, cout, &mut gathered);
        input_grad.parts.iter_mut().for_each(|part| part.0 = Planes { isa, lanes: Some(lanes), ..part.0 });
        let mut dx = vec![f32::NAN; x.len()];
        for (gs, ds) in g.chunks(cout * window.out_len()).zip(dx.chunks_mut(cin * window.in_len())) {
            input_grad.sample(gs, cout, &mut padded, &mut flat, ds);
        }
        (out, dw, dx)
    }

    /// The tiled transpose moves every value where the plain loop does, with edges of every
    /// width in both directions.
    #[test]
    fn transpose_equals_plain_loops() {
        for (rows, cols) in [(8, 8), (16, 24), (1, 9), (9, 1), (13, 21), (32, 17), (7, 7), (0, 5)] {
            let m: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
            let mut out = vec![f32::NAN; rows * cols];
            transpose(&m, rows, cols, &mut out);
            for (r, c) in (0..rows).flat_map(|r| (0..cols).map(move |c| (r, c))) {
                assert_eq!(out[c * rows + r], m[r * cols + c], "{rows}x{cols} at ({r}, {c})");
            }
        }
    }

    /// Every instruction set this CPU has (the CI machine may lack AVX-512, this one AVX2
    /// paths would otherwise go untested), with vectors of positions and of channels, gives the
    /// plain loops' results to f32 rounding, for stride 1 and stride 2, even and odd sizes,
    /// channel counts that fill every register block of the channels-in-lanes kernels and ones
    /// they do not take, samples in one or several chunks; and the two layouts' forward
    /// outputs and input gradients are the same bits (the same sums in the same order).
    #[test]
    fn kernels_of_every_instruction_set_and_layout_equal_plain_loops() {
        let isas = [Isa::Avx512, Isa::Avx2]
            .into_iter()
            .filter(|&isa| Isa::detect().is_some_and(|best| best == isa || isa == Isa::Avx2));
        let value = |i: usize| ((i * 7919 % 1009) as f32 / 1009.0) - 0.5;
        // (h, w, cin, cout): channel counts the channels-in-lanes kernels do not take, then ones
        // that fill each of their register blocks and leave each number of positions over
        // (forward: cout a multiple of 64; input gradient: cin).
        #[rustfmt::skip]
        let shapes: [[usize; 4]; 13] = [
            [3, 5, 2, 9], [4, 4, 3, 17], [2, 16, 1, 8], [5, 8, 4, 3], [7, 1, 2, 2],
            [4, 4, 16, 32], [5, 3, 32, 48], [9, 8, 48, 128], [3, 7, 16, 64],
            [5, 5, 64, 64], [1, 11, 16, 16], [3, 3, 64, 16], [2, 4, 16, 64],
        ];
        for isa in isas {
            for stride in [1, 2] {
                for [h, w, cin, cout] in shapes {
                    let (oh, ow) = ((h - 1) / stride + 1, (w - 1) / stride + 1);
                    let window = Window {
                        channels: cin,
                        in_hw: [h, w],
                        out_hw: [oh, ow],
                        kernel: [3, 3],
                        stride: [stride; 2],
                        padding: [1, 1],
                    };
                    let samples = 3;
                    let x: Vec<f32> = (0..samples * cin * h * w).map(value).collect();
                    let wt: Vec<f32> = (0..cin * 9 * cout).map(|i| value(i + 5)).collect();
                    let g: Vec<f32> = (0..samples * cout * oh * ow).map(|i| value(i + 11)).collect();
                    let expected = reference([h, w], stride, &x, cin, &wt, &g, cout);
                    let by_positions = direct(isa, false, &window, &x, &wt, &g, cout);
                    let by_channels = direct(isa, true, &window, &x, &wt, &g, cout);
                    for (lanes, (out, dw, dx)) in [(false, &by_positions), (true, &by_channels)] {
                        let pairs = out.iter().zip(&expected.0).chain(dw.iter().zip(&expected.1));
                        for (a, b) in pairs.chain(dx.iter().zip(&expected.2)) {
                            let close = (a - b).abs() < 1e-5 * (cin * 9 * samples) as f32;
                            assert!(
                                close,
                                "{isa:?} lanes {lanes} stride {stride} {h}x{w} {cin}->{cout}: {a} against {b}"
                            );
                        }
                    }
                    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&by_positions.0), bits(&by_channels.0), "{isa:?} {h}x{w} {cin}->{cout} outputs");
                    assert_eq!(
                        bits(&by_positions.2),
                        bits(&by_channels.2),
                        "{isa:?} {h}x{w} {cin}->{cout} input gradients"
                    );
                }
            }
        }
    }
}
