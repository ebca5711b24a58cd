//! Intervals of a path parameter: the one-dimensional cells of exact path transitions.

use crate::cell::{classes, crossing, eval, tolerance, Affine, Cell, Point, NO_LABEL};

/// The interval `[t0, t1]` of a segment's parameter, stored as points `[t, 0]`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Interval {
    ends: [Point; 2],
    /// Which cut made each end.
    labels: [u32; 2],
}

impl Interval {
    pub(crate) fn new(t0: f64, t1: f64) -> Self {
        Self { ends: [[t0, 0.0], [t1, 0.0]], labels: [NO_LABEL; 2] }
    }

    pub(crate) fn bounds(&self) -> [f64; 2] {
        [self.ends[0][0], self.ends[1][0]]
    }
}

impl Cell for Interval {
    const DIM: usize = 1;
    type Boundary = f64;

    fn vertices(&self) -> &[Point] {
        &self.ends
    }

    fn split(&self, f: &Affine, floor: f64, label: u32) -> Option<(Self, Self, f64)> {
        let values = [eval(f, self.ends[0]), eval(f, self.ends[1])];
        let class = classes(&values, tolerance(&self.ends, f, floor));
        if class[0] * class[1] >= 0 {
            return None;
        }
        let x = crossing(self.ends[0], self.ends[1], values[0], values[1]);
        let left = Self { ends: [self.ends[0], x], labels: [self.labels[0], label] };
        let right = Self { ends: [x, self.ends[1]], labels: [label, self.labels[1]] };
        Some(if class[0] < 0 { (left, right, x[0]) } else { (right, left, x[0]) })
    }

    fn relabelled(&self, label: u32) -> Self {
        Self { ends: self.ends, labels: [label; 2] }
    }

    fn labelled(&self, label: u32) -> Vec<f64> {
        (0..2).filter(|&i| self.labels[i] == label).map(|i| self.ends[i][0]).collect()
    }

    fn interior_point(&self) -> Point {
        [(self.ends[0][0] + self.ends[1][0]) / 2.0, 0.0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_orders_the_sides_by_sign() {
        let (neg, pos, t) = Interval::new(0.0, 1.0).split(&[0.25, -1.0, 0.0], 0.0, 3).unwrap();
        assert_eq!(t, 0.25);
        assert_eq!(neg.bounds(), [0.25, 1.0]);
        assert_eq!(pos.bounds(), [0.0, 0.25]);
        assert_eq!(neg.labelled(3), vec![0.25]);
    }
}
