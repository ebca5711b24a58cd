//! Convolution by im2col + GEMM, and the pooling windows, on single samples.
//! Batch-level parallelism lives in `forward` and `backward`.

use crate::scalar::{gemm, MatRef};
use crate::Scalar;

/// Geometry of a 2-D sliding window over a `[C, H, W]` sample.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// Channels `C` (pooling keeps them; convolution reads all of them).
    pub channels: usize,
    /// Input height and width.
    pub in_hw: [usize; 2],
    /// Output height and width.
    pub out_hw: [usize; 2],
    /// Window height and width.
    pub kernel: [usize; 2],
    /// Step between windows, per axis.
    pub stride: [usize; 2],
    /// Implicit zero padding on each side, per axis.
    pub padding: [usize; 2],
}

/// One channel group of a convolution: its window (over the group's input channels) and its
/// output channels. Group `g` reads input channels `g * window.channels..` and writes output
/// channels `g * cout..`, with the weight rows of those output channels.
#[derive(Clone, Copy, Debug)]
pub struct ConvGroup {
    /// The window over one group's input channels.
    pub window: Window,
    /// Output channels per group.
    pub cout: usize,
}

impl ConvGroup {
    /// The index ranges of group `g` in the weights, an input sample and an output sample.
    #[inline]
    pub fn group_ranges(&self, g: usize) -> (std::ops::Range<usize>, std::ops::Range<usize>, std::ops::Range<usize>) {
        let (weights, inputs, outputs) = (
            self.cout * self.window.col_rows(),
            self.window.channels * self.window.in_len(),
            self.cout * self.window.out_len(),
        );
        (g * weights..(g + 1) * weights, g * inputs..(g + 1) * inputs, g * outputs..(g + 1) * outputs)
    }
}

/// The input cells of one pooling window inside the input: a `rows x cols` block starting at
/// `first`, rows `row_stride` apart.
#[derive(Clone, Copy, Debug)]
struct Cells {
    first: usize,
    rows: usize,
    cols: usize,
    row_stride: usize,
}

impl Cells {
    /// The input indices, row by row.
    #[inline]
    fn indices(self) -> impl Iterator<Item = usize> {
        (0..self.rows).flat_map(move |i| {
            let start = self.first + i * self.row_stride;
            start..start + self.cols
        })
    }
}

impl Window {
    /// Output positions per channel (`out_h * out_w`).
    pub fn out_len(&self) -> usize {
        self.out_hw[0] * self.out_hw[1]
    }
    /// Input positions per channel (`in_h * in_w`).
    pub fn in_len(&self) -> usize {
        self.in_hw[0] * self.in_hw[1]
    }
    /// Rows of the im2col matrix: one per (channel, kernel row, kernel column).
    pub fn col_rows(&self) -> usize {
        self.channels * self.kernel[0] * self.kernel[1]
    }
    /// A 1x1, stride-1, unpadded window: im2col is the identity.
    pub fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1] && self.stride == [1, 1] && self.padding == [0, 0]
    }

    /// The output positions `lo..hi` along `axis` whose source at kernel offset `k` lies inside
    /// the input (the others read padding).
    #[inline]
    fn valid_outputs(&self, axis: usize, k: usize) -> (usize, usize) {
        let (s, p, n, out) = (self.stride[axis], self.padding[axis], self.in_hw[axis], self.out_hw[axis]);
        // Source of output o is o * s + k - p; it must lie in 0..n.
        let lo = p.saturating_sub(k).div_ceil(s);
        let hi = if n + p > k { ((n + p - k - 1) / s + 1).min(out) } else { 0 };
        (lo.min(hi), hi)
    }

    /// The kernel offsets `lo..hi` along `axis` that read inside the input at output `o`.
    #[inline]
    fn valid_kernel(&self, axis: usize, o: usize) -> (usize, usize) {
        let start = o * self.stride[axis];
        let lo = self.padding[axis].saturating_sub(start);
        let hi = (self.in_hw[axis] + self.padding[axis]).saturating_sub(start).min(self.kernel[axis]);
        (lo.min(hi), hi)
    }

    /// Input index of output `(oy, ox)` at kernel offset `(ky, kx)`; the offset must be valid.
    #[inline]
    fn source_index(&self, (oy, ox): (usize, usize), (ky, kx): (usize, usize)) -> usize {
        let y = oy * self.stride[0] + ky - self.padding[0];
        let x = ox * self.stride[1] + kx - self.padding[1];
        y * self.in_hw[1] + x
    }

    /// The cells of output `o`'s window along `axis` that lie inside the padded input: the
    /// kernel size, but fewer for a ceil-mode window that runs past the border.
    #[inline]
    fn padded_extent(&self, axis: usize, o: usize) -> usize {
        let start = o * self.stride[axis];
        let end = (start + self.kernel[axis]).min(self.in_hw[axis] + 2 * self.padding[axis]);
        end - start
    }

    /// Average pooling's `1 / divisor` per output position: one over the window's cells inside
    /// the padded input (PyTorch's divisor with `count_include_pad=True`).
    pub fn mean_scales<T: Scalar>(&self) -> Vec<T> {
        let [oh, ow] = self.out_hw;
        let mut scales = Vec::with_capacity(oh * ow);
        for oy in 0..oh {
            for ox in 0..ow {
                let cells = self.padded_extent(0, oy) * self.padded_extent(1, ox);
                scales.push(T::one() / T::from_f64(cells as f64));
            }
        }
        scales
    }

    /// Visit every output position with its window clipped to the input:
    /// `f(out_index, Cells { first, rows, cols })`, the cells being `first + i * W + j` for
    /// `i < rows`, `j < cols` (in window order).
    #[inline]
    fn for_each_window(&self, mut f: impl FnMut(usize, Cells)) {
        let [oh, ow] = self.out_hw;
        for oy in 0..oh {
            let (ky0, ky1) = self.valid_kernel(0, oy);
            for ox in 0..ow {
                let (kx0, kx1) = self.valid_kernel(1, ox);
                let first = self.source_index((oy, ox), (ky0, kx0));
                f(oy * ow + ox, Cells { first, rows: ky1 - ky0, cols: kx1 - kx0, row_stride: self.in_hw[1] });
            }
        }
    }

    /// The inputs of every window (channel-major, then row-major over output positions), as
    /// in-sample indices in window order (kernel row, then column; padding skipped): the order
    /// in which max pooling breaks ties (the first maximum wins).
    pub fn inputs_of_windows(&self) -> Vec<Vec<u32>> {
        let (out_len, in_len) = (self.out_len(), self.in_len());
        let mut windows = vec![Vec::new(); self.channels * out_len];
        for c in 0..self.channels {
            self.for_each_window(|p, cells| {
                windows[c * out_len + p] = cells.indices().map(|s| (c * in_len + s) as u32).collect();
            });
        }
        windows
    }

    /// The `(kernel offset, output position)` pairs along `axis` whose window reads input
    /// position `pos` (`out * stride + offset - padding == pos`).
    pub fn readers(&self, axis: usize, pos: usize) -> impl Iterator<Item = (usize, usize)> {
        let (kernel, stride, padding, out) =
            (self.kernel[axis], self.stride[axis], self.padding[axis], self.out_hw[axis]);
        (0..kernel).filter_map(move |k| {
            let t = (pos + padding).checked_sub(k)?;
            (t % stride == 0 && t / stride < out).then_some((k, t / stride))
        })
    }

    /// Visit every im2col row segment of one channel: `f(row, oy, source)` for kernel cell
    /// `row = ky * kw + kx` and output row `oy`, where `source` maps the output columns to input
    /// indices as `(first valid ox, end of valid ox, input index of the first valid ox)`, or `None`
    /// if the whole segment reads padding.
    #[inline]
    fn for_each_row_segment(&self, mut f: impl FnMut(usize, usize, Option<(usize, usize, usize)>)) {
        let [kh, kw] = self.kernel;
        for ky in 0..kh {
            let (oy0, oy1) = self.valid_outputs(0, ky);
            for kx in 0..kw {
                let (ox0, ox1) = self.valid_outputs(1, kx);
                let row = ky * kw + kx;
                for oy in 0..self.out_hw[0] {
                    let inside = oy >= oy0 && oy < oy1 && ox0 < ox1;
                    f(row, oy, inside.then(|| (ox0, ox1, self.source_index((oy, ox0), (ky, kx)))));
                }
            }
        }
    }
}

/// im2col of one sample: `col[(c*kh*kw + k) * ld + p] = x[c][source(p, k)]` (0 in padding),
/// where `ld >= out_len` is the length of a row of `col` (several samples side by side).
pub fn im2col<T: Scalar>(w: &Window, x: &[T], col: &mut [T], ld: usize) {
    let (out_len, in_len, kk, ow, sx) = (w.out_len(), w.in_len(), w.kernel[0] * w.kernel[1], w.out_hw[1], w.stride[1]);
    for c in 0..w.channels {
        let xc = &x[c * in_len..(c + 1) * in_len];
        let rows = &mut col[c * kk * ld..];
        w.for_each_row_segment(|row, oy, source| {
            let segment = &mut rows[row * ld + oy * ow..row * ld + (oy + 1) * ow];
            let Some((lo, hi, start)) = source else {
                segment.fill(T::zero());
                return;
            };
            segment[..lo].fill(T::zero());
            segment[hi..].fill(T::zero());
            if sx == 1 {
                segment[lo..hi].copy_from_slice(&xc[start..start + hi - lo]);
            } else {
                segment[lo..hi].iter_mut().zip(xc[start..].iter().step_by(sx)).for_each(|(d, &v)| *d = v);
            }
        });
    }
    debug_assert!(ld >= out_len);
}

/// The adjoint of `im2col`: accumulate `col` (rows of length `ld`) back into `dx`.
pub fn col2im<T: Scalar>(w: &Window, col: &[T], ld: usize, dx: &mut [T]) {
    let (in_len, kk, ow, sx) = (w.in_len(), w.kernel[0] * w.kernel[1], w.out_hw[1], w.stride[1]);
    for c in 0..w.channels {
        let dxc = &mut dx[c * in_len..(c + 1) * in_len];
        let rows = &col[c * kk * ld..];
        w.for_each_row_segment(|row, oy, source| {
            let Some((lo, hi, start)) = source else { return };
            let segment = &rows[row * ld + oy * ow + lo..row * ld + oy * ow + hi];
            if sx == 1 {
                dxc[start..start + hi - lo].iter_mut().zip(segment).for_each(|(d, &v)| *d += v);
            } else {
                dxc[start..].iter_mut().step_by(sx).zip(segment).for_each(|(d, &v)| *d += v);
            }
        });
    }
}

/// Output positions a GEMM of a convolution should cover at least: the weights are packed once
/// per GEMM, so samples with few output positions are put side by side (`samples_per_gemm`).
const MIN_GEMM_COLUMNS: usize = 512;

/// How many samples one GEMM of this window covers.
pub fn samples_per_gemm(w: &Window) -> usize {
    (MIN_GEMM_COLUMNS / w.out_len().max(1)).max(1)
}

/// The layout of `count` samples' `rows x block` parts side by side in one GEMM operand: the
/// matching ranges (per-sample layout `[count][sample_width]` with the part at `offset`, wide
/// layout `rows x (count * block)`) of every block.
#[derive(Clone, Copy, Debug)]
pub struct SideBySide {
    /// Values per sample in the per-sample layout.
    pub sample_width: usize,
    /// Where the part starts inside a sample.
    pub offset: usize,
    /// Rows of the part.
    pub rows: usize,
    /// Values per row of the part (output positions).
    pub block: usize,
    /// Samples side by side.
    pub count: usize,
}

impl SideBySide {
    fn ranges(self) -> impl Iterator<Item = (std::ops::Range<usize>, std::ops::Range<usize>)> {
        (0..self.count).flat_map(move |s| {
            (0..self.rows).map(move |r| {
                let a = s * self.sample_width + self.offset + r * self.block;
                let b = (r * self.count + s) * self.block;
                (a..a + self.block, b..b + self.block)
            })
        })
    }

    /// Gather the samples' parts into the wide layout.
    pub fn gather<T: Copy>(self, samples: &[T], wide: &mut [T]) {
        self.ranges().for_each(|(a, b)| wide[b].copy_from_slice(&samples[a]));
    }

    /// Scatter the wide layout back into the samples' parts.
    pub fn scatter<T: Copy>(self, wide: &[T], samples: &mut [T]) {
        self.ranges().for_each(|(a, b)| samples[a].copy_from_slice(&wide[b]));
    }
}

/// Forward of `count` consecutive samples `x` (group by group) into `out`: im2col side by side,
/// one GEMM per group, and the result written back per sample. `col` and `wide` are scratch.
#[allow(clippy::too_many_arguments)]
pub fn conv_samples<T: Scalar>(
    group: &ConvGroup,
    groups: usize,
    weight: &[T],
    x: &[T],
    out: &mut [T],
    count: usize,
    col: &mut Vec<T>,
    wide: &mut Vec<T>,
) {
    let w = &group.window;
    let (rows, plen) = (w.col_rows(), w.out_len());
    let (in_w, out_w) = (x.len() / count, out.len() / count);
    let ld = count * plen;
    col.resize(rows * ld, T::zero());
    for g in 0..groups {
        let (wr, xr, orows) = group.group_ranges(g);
        for s in 0..count {
            im2col(w, &x[s * in_w + xr.start..s * in_w + xr.end], &mut col[s * plen..], ld);
        }
        let (a, b) = (MatRef::new(&weight[wr], group.cout, rows), MatRef::new(col, rows, ld));
        if count == 1 {
            gemm(a, b, T::zero(), &mut out[orows]);
        } else {
            wide.resize(group.cout * ld, T::zero());
            gemm(a, b, T::zero(), wide);
            let layout = SideBySide { sample_width: out_w, offset: orows.start, rows: group.cout, block: plen, count };
            layout.scatter(wide, out);
        }
    }
}

/// Average pooling of one sample: padding cells count as zeros (PyTorch's default
/// `count_include_pad=True`), and a window divides by its cells inside the padded input (all
/// `kh * kw` but for a ceil-mode window at the border).
pub fn avg_pool_sample<T: Scalar>(w: &Window, x: &[T], out: &mut [T]) {
    let (out_len, in_len) = (w.out_len(), w.in_len());
    let scales = w.mean_scales::<T>();
    for c in 0..w.channels {
        let (xc, oc) = (&x[c * in_len..(c + 1) * in_len], &mut out[c * out_len..(c + 1) * out_len]);
        w.for_each_window(|p, cells| oc[p] = cells.indices().map(|s| xc[s]).sum::<T>() * scales[p]);
    }
}

/// The adjoint of `avg_pool_sample`.
pub fn avg_pool_adjoint<T: Scalar>(w: &Window, dout: &[T], dx: &mut [T]) {
    let (out_len, in_len) = (w.out_len(), w.in_len());
    let scales = w.mean_scales::<T>();
    for c in 0..w.channels {
        let (dc, dxc) = (&dout[c * out_len..(c + 1) * out_len], &mut dx[c * in_len..(c + 1) * in_len]);
        w.for_each_window(|p, cells| {
            let share = dc[p] * scales[p];
            cells.indices().for_each(|s| dxc[s] += share);
        });
    }
}

/// Max pooling of one sample; `argmax[o]` receives the in-sample index of the winning input
/// (the first maximum in window order; padding never wins, and every window holds at least one
/// input cell because padding <= kernel / 2).
pub fn max_pool_sample<T: Scalar>(w: &Window, x: &[T], out: &mut [T], argmax: &mut [u32]) {
    let (out_len, in_len) = (w.out_len(), w.in_len());
    for c in 0..w.channels {
        let xc = &x[c * in_len..(c + 1) * in_len];
        let (oc, ac) = (&mut out[c * out_len..(c + 1) * out_len], &mut argmax[c * out_len..(c + 1) * out_len]);
        w.for_each_window(|p, cells| {
            let (mut best, mut winner) = (xc[cells.first], cells.first);
            for i in 0..cells.rows {
                let row = cells.first + i * cells.row_stride;
                for (s, &v) in (row..).zip(&xc[row..row + cells.cols]) {
                    // Selects, not branches (winners are random); strictly greater keeps the first.
                    let greater = v > best;
                    best = if greater { v } else { best };
                    winner = if greater { s } else { winner };
                }
            }
            oc[p] = best;
            ac[p] = (c * in_len + winner) as u32;
        });
    }
}

/// Samples per parallel task of a convolution over `batch` samples, whole GEMM blocks of
/// `per_gemm` samples: about four tasks per thread, so that a thread slowed by other work on
/// the machine does not hold up the rest.
pub(crate) fn samples_per_task(batch: usize, per_gemm: usize) -> usize {
    batch.div_ceil(4 * rayon::current_num_threads().max(1)).max(1).next_multiple_of(per_gemm)
}

/// The buffers of one parallel task of a convolution. Kept across nodes and training steps (in
/// the `Tape` forward, in `Gradients` backward), they grow to the largest node's needs in the
/// first step and are reused after it.
#[derive(Clone, Debug)]
pub(crate) struct ConvTask<T> {
    /// The task's partial weight and bias gradients (backward).
    pub(crate) weight_grad: Vec<T>,
    pub(crate) bias_grad: Vec<T>,
    /// The im2col matrix; for the direct kernels, the zero-bordered planes.
    pub(crate) col: Vec<T>,
    /// GEMM outputs of samples side by side (`SideBySide`); for the direct kernels, the
    /// correlation at flat positions.
    pub(crate) wide: Vec<T>,
    /// The column gradient of the input-gradient GEMM (backward).
    pub(crate) dcol: Vec<T>,
}

impl<T> Default for ConvTask<T> {
    fn default() -> Self {
        Self { weight_grad: Vec::new(), bias_grad: Vec::new(), col: Vec::new(), wide: Vec::new(), dcol: Vec::new() }
    }
}

/// What the convolutions of one pass reuse from the last: per-task buffers, and the weights
/// rearranged for the direct kernels.
#[derive(Clone, Debug)]
pub(crate) struct ConvScratch<T> {
    tasks: Vec<ConvTask<T>>,
    weights: Vec<T>,
}

impl<T> Default for ConvScratch<T> {
    fn default() -> Self {
        Self { tasks: Vec::new(), weights: Vec::new() }
    }
}

impl<T> ConvScratch<T> {
    /// The rearranged-weights buffer and the buffers of `count` tasks.
    pub(crate) fn split(&mut self, count: usize) -> (&mut Vec<T>, &mut [ConvTask<T>]) {
        if self.tasks.len() < count {
            self.tasks.resize_with(count, ConvTask::default);
        }
        (&mut self.weights, &mut self.tasks[..count])
    }
}
