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
    /// Group `g`'s weights, input block of sample `x` and output block of sample `out`.
    #[inline]
    pub fn slices<'a, T>(
        &self,
        g: usize,
        weight: &'a [T],
        x: &'a [T],
        out: &'a mut [T],
    ) -> (&'a [T], &'a [T], &'a mut [T]) {
        let (w, inputs, outputs) = self.group_ranges(g);
        (&weight[w], &x[inputs], &mut out[outputs])
    }

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

/// im2col of one sample: `col[(c*kh*kw + k) * out_len + p] = x[c][source(p, k)]` (0 in padding).
pub fn im2col<T: Scalar>(w: &Window, x: &[T], col: &mut [T]) {
    let (out_len, in_len, kk, ow, sx) = (w.out_len(), w.in_len(), w.kernel[0] * w.kernel[1], w.out_hw[1], w.stride[1]);
    for c in 0..w.channels {
        let xc = &x[c * in_len..(c + 1) * in_len];
        let rows = &mut col[c * kk * out_len..(c + 1) * kk * out_len];
        w.for_each_row_segment(|row, oy, source| {
            let segment = &mut rows[row * out_len + oy * ow..row * out_len + (oy + 1) * ow];
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
}

/// The adjoint of `im2col`: accumulate `col` back into `dx`.
pub fn col2im<T: Scalar>(w: &Window, col: &[T], dx: &mut [T]) {
    let (out_len, in_len, kk, ow, sx) = (w.out_len(), w.in_len(), w.kernel[0] * w.kernel[1], w.out_hw[1], w.stride[1]);
    for c in 0..w.channels {
        let dxc = &mut dx[c * in_len..(c + 1) * in_len];
        let rows = &col[c * kk * out_len..(c + 1) * kk * out_len];
        w.for_each_row_segment(|row, oy, source| {
            let Some((lo, hi, start)) = source else { return };
            let segment = &rows[row * out_len + oy * ow + lo..row * out_len + oy * ow + hi];
            dxc[start..].iter_mut().step_by(sx).zip(segment).for_each(|(d, &v)| *d += v);
        });
    }
}

/// `out = weight (Cout x R) * im2col(x)`; `col` is scratch of `R * out_len`.
pub fn conv_sample<T: Scalar>(w: &Window, weight: &[T], cout: usize, x: &[T], col: &mut [T], out: &mut [T]) {
    let cols: &[T] = if w.is_pointwise() {
        x
    } else {
        im2col(w, x, col);
        col
    };
    gemm(MatRef::new(weight, cout, w.col_rows()), MatRef::new(cols, w.col_rows(), w.out_len()), T::zero(), out);
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
    let (out_len, in_len, ow) = (w.out_len(), w.in_len(), w.out_hw[1]);
    for c in 0..w.channels {
        let xc = &x[c * in_len..(c + 1) * in_len];
        let (oc, ac) = (&mut out[c * out_len..(c + 1) * out_len], &mut argmax[c * out_len..(c + 1) * out_len]);
        w.for_each_window(|p, cells| {
            oc[p] = xc[cells.first];
            ac[p] = cells.first as u32;
        });
        // Compare kernel cell by kernel cell across all outputs (window order per output), so
        // that consecutive comparisons are independent; selects, because winners are random.
        w.for_each_row_segment(|_, oy, source| {
            let Some((lo, hi, start)) = source else { return };
            let (outs, wins) = (&mut oc[oy * ow + lo..oy * ow + hi], &mut ac[oy * ow + lo..oy * ow + hi]);
            for (k, (o, a)) in outs.iter_mut().zip(wins).enumerate() {
                let s = start + k * w.stride[1];
                // A mask, not a branch (the compiler turns a select of two values into one).
                let keep = ((xc[s] > *o) as u32).wrapping_sub(1);
                *a = (*a & keep) | (s as u32 & !keep);
                *o = xc[*a as usize];
            }
        });
        ac.iter_mut().for_each(|a| *a += (c * in_len) as u32);
    }
}
