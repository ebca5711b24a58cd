//! Convex cells of a slice (polygons) or path (intervals), and how an affine function of the
//! cell's coordinates sits on them, decided with tolerances relative to the magnitudes involved.

/// An affine function of cell coordinates, `f(u) = c + a1 u1 + a2 u2`, stored as `[c, a1, a2]`
/// (paths use `u2 = 0`).
pub type Affine = [f64; 3];

/// A point of cell coordinates (paths use the first coordinate only).
pub type Point = [f64; 2];

/// Label of an edge (or interval end) that no cut of the current computation created.
pub(crate) const NO_LABEL: u32 = u32::MAX;

/// Relative tolerance: a vertex whose value is within `REL_TOL` times the magnitude of the
/// terms that make it up lies on the zero set. Far above the rounding of the affine maps
/// (about 1e-13 of those magnitudes after a few layers), far below any region worth counting.
pub(crate) const REL_TOL: f64 = 1e-10;

#[inline]
pub(crate) fn eval(f: &Affine, p: Point) -> f64 {
    f[0] + f[1] * p[0] + f[2] * p[1]
}

/// The size of the terms that make up `f(p)`: what rounding errors scale with.
#[inline]
fn magnitude(f: &Affine, p: Point) -> f64 {
    f[0].abs() + (f[1] * p[0]).abs() + (f[2] * p[1]).abs()
}

/// The on-the-zero-set tolerance of `f` over `points`; `floor` is the magnitude of the operands
/// when `f` is a difference of two functions (so that equal functions compare as equal).
#[inline]
pub(crate) fn tolerance(points: &[Point], f: &Affine, floor: f64) -> f64 {
    REL_TOL * points.iter().fold(floor, |m, &p| m.max(magnitude(f, p)))
}

/// The largest magnitude of `f` over `points` (the `floor` of differences taken from `f`).
pub(crate) fn max_magnitude(points: &[Point], f: &Affine) -> f64 {
    points.iter().fold(0.0, |m, &p| m.max(magnitude(f, p)))
}

/// Where an affine function stands on a convex cell (decided at its vertices).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    /// Non-negative everywhere and positive somewhere.
    Positive,
    /// Non-positive everywhere and negative somewhere.
    Negative,
    /// Zero (within tolerance) on the whole cell.
    Zero,
    /// Strictly positive somewhere and strictly negative elsewhere: the zero set cuts the cell.
    Both,
}

/// Classify `f` on the convex hull of `points`.
pub(crate) fn side(points: &[Point], f: &Affine, floor: f64) -> Side {
    let tol = tolerance(points, f, floor);
    let (mut pos, mut neg) = (false, false);
    for &p in points {
        let v = eval(f, p);
        pos |= v > tol;
        neg |= v < -tol;
    }
    match (pos, neg) {
        (true, true) => Side::Both,
        (true, false) => Side::Positive,
        (false, true) => Side::Negative,
        (false, false) => Side::Zero,
    }
}

/// Sign class of each value: -1, 0 (within `tol` of zero) or +1.
pub(crate) fn classes(values: &[f64], tol: f64) -> Vec<i8> {
    values.iter().map(|&v| sign_class(v, tol)).collect()
}

/// Sign class of a value: -1, 0 (within `tol` of zero) or +1.
#[inline]
pub(crate) fn sign_class(v: f64, tol: f64) -> i8 {
    if v > tol {
        1
    } else if v < -tol {
        -1
    } else {
        0
    }
}

/// The point where `f` vanishes on the segment `p q`, given `f(p)` and `f(q)` of opposite
/// signs. Computed from the lexicographically smaller end, so that two cells sharing the
/// segment get the same point.
pub(crate) fn crossing(p: Point, q: Point, fp: f64, fq: f64) -> Point {
    let ((a, fa), (b, fb)) = if p <= q { ((p, fp), (q, fq)) } else { ((q, fq), (p, fp)) };
    let t = fa / (fa - fb);
    [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])]
}

/// A convex cell the refinement can cut: an interval of a path or a convex polygon of a slice.
pub(crate) trait Cell: Clone + Send + Sync {
    /// Number of coordinates; affine maps on the cell carry `DIM + 1` rows.
    const DIM: usize;
    /// What a cut leaves behind: a point of a path, a segment of a slice.
    type Boundary: Clone + Send + Sync;

    /// The vertices (interval ends or polygon corners).
    fn vertices(&self) -> &[Point];
    /// The parts where `f <= 0` and `f >= 0` and the boundary between them, when `f` takes both
    /// signs beyond tolerance on the cell; the new boundary is labelled `label`.
    fn split(&self, f: &Affine, floor: f64, label: u32) -> Option<(Self, Self, Self::Boundary)>;
    /// The same cell with every edge (or end) labelled `label`.
    fn relabelled(&self, label: u32) -> Self;
    /// The boundary pieces labelled `label`.
    fn labelled(&self, label: u32) -> Vec<Self::Boundary>;
    /// A point strictly inside.
    fn interior_point(&self) -> Point;

    /// Where `f` stands on the cell.
    fn side(&self, f: &Affine, floor: f64) -> Side {
        side(self.vertices(), f, floor)
    }

    /// The part where `f >= 0`, or `None` when it has no interior. `Zero` sides are the
    /// caller's business (they are ties), so they keep the whole cell here.
    fn clip(&self, f: &Affine, floor: f64, label: u32) -> Option<Self> {
        match self.side(f, floor) {
            Side::Positive | Side::Zero => Some(self.clone()),
            Side::Negative => None,
            Side::Both => self.split(f, floor, label).map(|(_, pos, _)| pos),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_functions_compare_as_zero_through_the_floor() {
        let pts = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]];
        let f = [1.0, 2.0, 3.0];
        let g = [1.0 + 1e-15, 2.0, 3.0];
        let d = [f[0] - g[0], f[1] - g[1], f[2] - g[2]];
        let floor = max_magnitude(&pts, &f) + max_magnitude(&pts, &g);
        assert_eq!(side(&pts, &d, floor), Side::Zero);
        assert_eq!(side(&pts, &[0.0; 3], 0.0), Side::Zero);
    }

    #[test]
    fn crossing_is_symmetric_in_its_ends() {
        let (p, q) = ([0.1, 0.7], [0.9, -0.3]);
        assert_eq!(crossing(p, q, 0.3, -0.7), crossing(q, p, -0.7, 0.3));
    }
}
