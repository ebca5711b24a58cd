//! Direction rows carried through the network, and the cross-polytope vertex rows built from
//! centres and directions at any node.

use crate::sign::{LayerKinks, NotANumber, SignSets};
use crate::ZeroSign;
use rayon::prelude::*;
use std::borrow::Cow;
use tessera_net::{Scalar, Tensor};

/// Images of the P frame directions at one node (linear parts only: no offsets).
#[derive(Clone, Debug)]
pub(crate) enum DirRows<T> {
    /// P rows shared by every point (the frame is shared and no kink lies upstream).
    Shared(Tensor<T>),
    /// P rows per tracked point, point after point.
    PerPoint(Tensor<T>),
}

impl<T: Scalar> DirRows<T> {
    /// Direction `p` of the point in slot `slot` (its position among the tracked points).
    pub fn row(&self, slot: usize, p: usize, num_dirs: usize) -> &[T] {
        match self {
            DirRows::Shared(t) => t.row(p),
            DirRows::PerPoint(t) => t.row(slot * num_dirs + p),
        }
    }

    /// Per-point rows for `slots` points (shared rows repeated).
    pub fn per_point(&self, slots: usize) -> Cow<'_, Tensor<T>> {
        match self {
            DirRows::PerPoint(t) => Cow::Borrowed(t),
            DirRows::Shared(t) => {
                let data = (0..slots).flat_map(|_| t.data.iter().copied()).collect();
                Cow::Owned(Tensor { shape: t.shape.clone(), batch: t.batch * slots, data })
            }
        }
    }
}

/// `+1` for the first P vertices, `-1` for the last P; and the direction each uses.
#[inline]
pub(crate) fn vertex_side(vertex: usize, num_dirs: usize) -> (bool, usize) {
    if vertex < num_dirs {
        (true, vertex)
    } else {
        (false, vertex - num_dirs)
    }
}

/// `out = center + step * dir`.
#[inline]
pub(crate) fn offset_row<T: Scalar>(center: &[T], dir: &[T], step: T, out: &mut [T]) {
    for ((o, &c), &d) in out.iter_mut().zip(center).zip(dir) {
        *o = offset(c, d, step);
    }
}

/// One coordinate of a vertex: every vertex row is computed with this arithmetic.
#[inline(always)]
fn offset<T: Scalar>(center: T, dir: T, step: T) -> T {
    center + step * dir
}

/// What one appended row is: a copy, or `center + step * dir` (`offset_row`'s arithmetic).
pub(crate) enum RowFrom<'a, T> {
    Copy(&'a [T]),
    Offset { center: &'a [T], dir: &'a [T], step: T },
}

/// Append `rows` rows of `width` to `data`, row `r` as `row_from(r)` says, written in parallel
/// straight into the vector's spare capacity: row blocks filled right after being zeroed cost
/// twice the memory traffic (zeroing was ~8 % of an LC pass at r = 0.5).
pub(crate) fn append_rows<'a, T: Scalar>(
    data: &mut Vec<T>,
    rows: usize,
    width: usize,
    row_from: impl Fn(usize) -> RowFrom<'a, T> + Sync,
) {
    let len = rows * width;
    if len == 0 {
        return;
    }
    let start = data.len();
    data.reserve(len);
    data.spare_capacity_mut()[..len].par_chunks_mut(width).enumerate().for_each(|(r, row)| match row_from(r) {
        RowFrom::Copy(src) => {
            assert_eq!(src.len(), width, "copied row width");
            row.iter_mut().zip(src).for_each(|(o, &s)| {
                o.write(s);
            });
        }
        RowFrom::Offset { center, dir, step } => {
            assert!(center.len() == width && dir.len() == width, "offset row width");
            row.iter_mut().zip(center).zip(dir).for_each(|((o, &c), &d)| {
                o.write(offset(c, d, step));
            });
        }
    });
    // SAFETY: every one of the `len` elements after `start` was written above (each row's
    // source has exactly `width` elements, asserted), and `reserve` made room for them.
    unsafe { data.set_len(start + len) };
}

/// The vertex rows of every point at every radius: row `(b * R + rho) * 2P + v` is
/// `centers[b] ± radii[rho] * dirs[b, p]` with the vertex order of `Frame::vertices`.
pub(crate) fn vertex_rows<T: Scalar>(
    centers: &Tensor<T>,
    dirs: &DirRows<T>,
    radii: &[T],
    num_dirs: usize,
) -> Tensor<T> {
    let width = centers.width();
    let per_point = radii.len() * 2 * num_dirs;
    let mut out = Tensor::zeros(centers.batch * per_point, &centers.shape);
    out.data.par_chunks_mut(per_point * width).enumerate().for_each(|(b, block)| {
        for (k, row) in block.chunks_mut(width).enumerate() {
            let (radius, vertex) = (radii[k / (2 * num_dirs)], k % (2 * num_dirs));
            let (plus, p) = vertex_side(vertex, num_dirs);
            let step = if plus { radius } else { -radius };
            offset_row(centers.row(b), dirs.row(b, p, num_dirs), step, row);
        }
    });
    out
}

/// Piece changes per group of `group_len` consecutive rows; the error names the first group
/// with a NaN.
pub(crate) fn count_groups<T: Scalar>(
    values: &Tensor<T>,
    group_len: usize,
    zero: ZeroSign,
    kinks: LayerKinks,
) -> Result<Vec<u32>, usize> {
    let width = values.width();
    values
        .data
        .par_chunks(group_len * width)
        .enumerate()
        .map(|(g, group)| {
            let mut sets = SignSets::new(width, zero, kinks);
            group.chunks(width).for_each(|row| sets.absorb(row));
            sets.count_changes().map_err(|NotANumber| g)
        })
        .collect()
}
