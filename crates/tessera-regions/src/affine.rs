//! The affine map of a piece (a region under construction), shared by every engine.
//!
//! On a piece, every tensor of the network is an affine function of the piece's `dim`
//! coordinates (slices: 2, paths: 1, neighbourhoods: P). It is stored as `dim + 1` rows of the
//! tensor's width: row 0 the value at the origin of the coordinates, row `1 + k` the derivative
//! along coordinate `k`; affine nodes map these rows with `OffsetRows::EveryNth(dim + 1)`.

use tessera_net::{AffineMap, Tensor};

/// The `dim + 1` rows of one piece's map of a tensor of `width` units.
#[derive(Clone, Copy)]
pub(crate) struct PieceRows<'a> {
    rows: &'a [f64],
    width: usize,
}

/// An affine function of a piece's coordinates, as an engine stores it.
pub(crate) trait UnitAffine: Sized {
    /// Unit `i`'s function on the piece.
    fn read(rows: PieceRows<'_>, i: usize) -> Self;
    /// The zero function of `dim` coordinates.
    fn zero(dim: usize) -> Self;
    /// `slope * self + offset`.
    fn affine(self, slope: f64, offset: f64) -> Self;
}

impl<'a> PieceRows<'a> {
    pub fn new(rows: &'a [f64], width: usize) -> Self {
        debug_assert!(width > 0 && rows.len().is_multiple_of(width) && rows.len() >= width);
        Self { rows, width }
    }

    /// Number of coordinates.
    pub fn dim(self) -> usize {
        self.rows.len() / self.width - 1
    }

    /// Unit `i`'s value at the origin (`row == 0`) or derivative along coordinate `row - 1`.
    #[inline]
    pub fn coefficient(self, row: usize, i: usize) -> f64 {
        self.rows[row * self.width + i]
    }

    /// Unit `i`'s function.
    #[inline]
    pub fn unit<A: UnitAffine>(self, i: usize) -> A {
        A::read(self, i)
    }

    /// Every unit's function, in order.
    pub fn units<A: UnitAffine>(self) -> Vec<A> {
        (0..self.width).map(|i| A::read(self, i)).collect()
    }

    /// The whole map as `y = A t + c` (`A` row-major, units x coordinates).
    pub fn affine_map(self) -> AffineMap<f64> {
        let dim = self.dim();
        let a = (0..self.width).flat_map(|j| (1..=dim).map(move |row| self.coefficient(row, j))).collect();
        AffineMap { inputs: dim, outputs: self.width, a, c: self.rows[..self.width].to_vec() }
    }
}

/// `[c, a1, a2]`: the planar form of slices and paths (paths have `a2 = 0`).
impl UnitAffine for [f64; 3] {
    #[inline]
    fn read(rows: PieceRows<'_>, i: usize) -> Self {
        let a2 = if rows.dim() == 2 { rows.coefficient(2, i) } else { 0.0 };
        [rows.coefficient(0, i), rows.coefficient(1, i), a2]
    }

    fn zero(_dim: usize) -> Self {
        [0.0; 3]
    }

    fn affine(self, slope: f64, offset: f64) -> Self {
        [slope * self[0] + offset, slope * self[1], slope * self[2]]
    }
}

/// The map rows of the listed pieces of a batch, in that order (each piece owns
/// `rows_per_piece` rows).
pub(crate) fn gather_pieces(value: &Tensor<f64>, pieces: &[usize], rows_per_piece: usize) -> Tensor<f64> {
    let block = rows_per_piece * value.width();
    let mut data = Vec::with_capacity(block * pieces.len());
    for &k in pieces {
        data.extend_from_slice(&value.data[k * block..(k + 1) * block]);
    }
    Tensor { shape: value.shape.clone(), batch: rows_per_piece * pieces.len(), data }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_affine_map_of_rows_evaluates_like_the_rows() {
        // Two units, three coordinates: rows c, d/dt1, d/dt2, d/dt3.
        let rows = [1.0, -2.0, 0.5, 3.0, 0.0, 1.0, -1.0, 4.0];
        let map = PieceRows::new(&rows, 2).affine_map();
        let t = [0.3, -0.7, 2.0];
        let expected: Vec<f64> =
            (0..2).map(|j| rows[j] + (0..3).map(|k| rows[(k + 1) * 2 + j] * t[k]).sum::<f64>()).collect();
        assert_eq!(map.apply(&t), expected);
        assert_eq!(PieceRows::new(&rows[..6], 2).unit::<[f64; 3]>(1), [-2.0, 3.0, 1.0]);
        assert_eq!(PieceRows::new(&rows[..4], 2).unit::<[f64; 3]>(0), [1.0, 0.5, 0.0]);
    }
}
