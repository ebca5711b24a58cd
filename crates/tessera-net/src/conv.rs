//! Convolution by im2col + GEMM, and the pooling windows, on single samples.
//! Batch-level parallelism lives in `forward` and `backward`.

use crate::scalar::{gemm, MatRef};
use crate::Scalar;

/// Geometry of a 2-D sliding window over a `[C, H, W]` sample.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub channels: usize,
    pub in_hw: [usize; 2],
    pub out_hw: [usize; 2],
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

impl Window {
    pub fn out_len(&self) -> usize {
        self.out_hw[0] * self.out_hw[1]
    }
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

    /// Input coordinate read by output position `o` at kernel offset `k` along `axis`, if inside.
    #[inline]
    fn source(&self, axis: usize, o: usize, k: usize) -> Option<usize> {
        let pos = (o * self.stride[axis] + k) as isize - self.padding[axis] as isize;
        (pos >= 0 && (pos as usize) < self.in_hw[axis]).then_some(pos as usize)
    }

    /// Visit every (output position, input position) pair of channel-free window cells:
    /// `f(kernel_index, out_index, Some(in_index))`, `None` where the cell is padding.
    #[inline]
    pub fn for_each_cell(&self, mut f: impl FnMut(usize, usize, Option<usize>)) {
        let [kh, kw] = self.kernel;
        let [oh, ow] = self.out_hw;
        for i in 0..kh {
            for j in 0..kw {
                let k = i * kw + j;
                for oy in 0..oh {
                    let sy = self.source(0, oy, i);
                    for ox in 0..ow {
                        let src = match (sy, self.source(1, ox, j)) {
                            (Some(y), Some(x)) => Some(y * self.in_hw[1] + x),
                            _ => None,
                        };
                        f(k, oy * ow + ox, src);
                    }
                }
            }
        }
    }
}

/// im2col of one sample: `col[(c*kh*kw + k) * out_len + p] = x[c][source(p, k)]` (0 in padding).
pub fn im2col<T: Scalar>(w: &Window, x: &[T], col: &mut [T]) {
    let (out_len, in_len, kk) = (w.out_len(), w.in_len(), w.kernel[0] * w.kernel[1]);
    for c in 0..w.channels {
        let xc = &x[c * in_len..(c + 1) * in_len];
        let base = c * kk * out_len;
        w.for_each_cell(|k, p, src| {
            col[base + k * out_len + p] = src.map_or(T::zero(), |s| xc[s]);
        });
    }
}

/// The adjoint of `im2col`: accumulate `col` back into `dx`.
pub fn col2im<T: Scalar>(w: &Window, col: &[T], dx: &mut [T]) {
    let (out_len, in_len, kk) = (w.out_len(), w.in_len(), w.kernel[0] * w.kernel[1]);
    for c in 0..w.channels {
        let dxc = &mut dx[c * in_len..(c + 1) * in_len];
        let base = c * kk * out_len;
        w.for_each_cell(|k, p, src| {
            if let Some(s) = src {
                dxc[s] += col[base + k * out_len + p];
            }
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
    gemm(
        MatRef::new(weight, cout, w.col_rows()),
        MatRef::new(cols, w.col_rows(), w.out_len()),
        T::zero(),
        out,
    );
}

/// Average pooling of one sample (padding cells count as zeros, as PyTorch's default).
pub fn avg_pool_sample<T: Scalar>(w: &Window, x: &[T], out: &mut [T]) {
    let scale = T::one() / T::from_f64((w.kernel[0] * w.kernel[1]) as f64);
    let (out_len, in_len) = (w.out_len(), w.in_len());
    out.iter_mut().for_each(|v| *v = T::zero());
    for c in 0..w.channels {
        let (xc, oc) = (&x[c * in_len..(c + 1) * in_len], &mut out[c * out_len..(c + 1) * out_len]);
        w.for_each_cell(|_, p, src| {
            if let Some(s) = src {
                oc[p] += xc[s] * scale;
            }
        });
    }
}

/// The adjoint of `avg_pool_sample`.
pub fn avg_pool_adjoint<T: Scalar>(w: &Window, dout: &[T], dx: &mut [T]) {
    let scale = T::one() / T::from_f64((w.kernel[0] * w.kernel[1]) as f64);
    let (out_len, in_len) = (w.out_len(), w.in_len());
    for c in 0..w.channels {
        let (dc, dxc) = (&dout[c * out_len..(c + 1) * out_len], &mut dx[c * in_len..(c + 1) * in_len]);
        w.for_each_cell(|_, p, src| {
            if let Some(s) = src {
                dxc[s] += dc[p] * scale;
            }
        });
    }
}

/// Max pooling of one sample; `argmax[o]` receives the in-sample index of the winning input
/// (the first maximum in window order; padding never wins).
pub fn max_pool_sample<T: Scalar>(w: &Window, x: &[T], out: &mut [T], argmax: &mut [u32]) {
    let (out_len, in_len) = (w.out_len(), w.in_len());
    let mut best: Vec<Option<(T, usize)>> = vec![None; out_len];
    for c in 0..w.channels {
        best.iter_mut().for_each(|b| *b = None);
        let xc = &x[c * in_len..(c + 1) * in_len];
        w.for_each_cell(|_, p, src| {
            if let Some(s) = src {
                if best[p].is_none_or(|(v, _)| xc[s] > v) {
                    best[p] = Some((xc[s], s));
                }
            }
        });
        for (p, b) in best.iter().enumerate() {
            // A window always holds at least one real cell because padding <= kernel / 2.
            let (v, s) = b.expect("pooling window without input cells");
            out[c * out_len + p] = v;
            argmax[c * out_len + p] = (c * in_len + s) as u32;
        }
    }
}
