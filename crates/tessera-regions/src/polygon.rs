//! Convex polygons of slice coordinates: validation, area, splitting and clipping by lines.
//! Edges carry labels so that a computation can tell which cut made which edge.

use crate::cell::{crossing, eval, sign_class, tolerance, Affine, Cell, Point, NO_LABEL, REL_TOL};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

/// A convex polygon with counter-clockwise vertices.
#[derive(Clone, Debug, PartialEq)]
pub struct Polygon {
    points: SmallVec<[Point; INLINE_VERTICES]>,
    /// `labels[i]` labels the edge from `points[i]` to `points[i + 1]`.
    labels: SmallVec<[u32; INLINE_VERTICES]>,
}

/// Vertices kept without a heap allocation: most regions of a slice have at most this many, and
/// a refinement splits hundreds of thousands of them.
const INLINE_VERTICES: usize = 8;

/// A segment of slice coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// Start point.
    pub from: Point,
    /// End point.
    pub to: Point,
}

impl Segment {
    /// Euclidean length.
    pub fn length(&self) -> f64 {
        (self.to[0] - self.from[0]).hypot(self.to[1] - self.from[1])
    }
}

impl Polygon {
    /// A convex polygon from its vertices in either orientation. Repeated consecutive vertices
    /// are dropped and collinear ones kept; fails on fewer than three vertices, non-finite
    /// coordinates, zero area or a reflex corner.
    pub fn convex(points: &[Point]) -> Result<Self, String> {
        if let Some(p) = points.iter().find(|p| !p[0].is_finite() || !p[1].is_finite()) {
            return Err(format!("vertex {p:?} is not finite"));
        }
        let mut pts: Vec<Point> = Vec::with_capacity(points.len());
        for &p in points {
            if pts.last() != Some(&p) {
                pts.push(p);
            }
        }
        while pts.len() > 1 && pts.first() == pts.last() {
            pts.pop();
        }
        if pts.len() < 3 {
            return Err(format!("needs at least 3 distinct vertices, got {}", pts.len()));
        }
        let area = signed_area(&pts);
        let extent = pts.iter().fold(0.0f64, |m, p| m.max(p[0].abs()).max(p[1].abs()));
        let perimeter: f64 = (0..pts.len()).map(|i| norm(sub(pts[(i + 1) % pts.len()], pts[i]))).sum();
        // Zero up to rounding: thinner than REL_TOL of the coordinates' size.
        if area.abs() <= REL_TOL * extent * perimeter {
            return Err("has zero area".into());
        }
        if area < 0.0 {
            pts.reverse();
        }
        let n = pts.len();
        for i in 0..n {
            let (a, b, c) = (pts[i], pts[(i + 1) % n], pts[(i + 2) % n]);
            let turn = cross(sub(b, a), sub(c, b));
            let scale = norm(sub(b, a)) * norm(sub(c, b));
            if turn < -REL_TOL * scale {
                return Err(format!("is not convex: the corner at {b:?} turns the wrong way"));
            }
        }
        Ok(Self::from_ccw(pts))
    }

    /// An axis-aligned square of half-width `h` around `center`.
    pub fn square(center: Point, h: f64) -> Self {
        let [x, y] = center;
        Self::from_ccw(vec![[x - h, y - h], [x + h, y - h], [x + h, y + h], [x - h, y + h]])
    }

    fn from_ccw(points: Vec<Point>) -> Self {
        let labels = smallvec::smallvec![NO_LABEL; points.len()];
        Self { points: SmallVec::from_vec(points), labels }
    }

    /// The vertices, counter-clockwise.
    pub fn points(&self) -> &[Point] {
        &self.points
    }

    /// The vertices, counter-clockwise.
    pub fn into_points(self) -> Vec<Point> {
        self.points.into_vec()
    }

    /// Area (non-negative for the counter-clockwise order kept here).
    pub fn area(&self) -> f64 {
        signed_area(&self.points)
    }

    /// The average of the vertices: inside, since the polygon is convex.
    pub fn vertex_mean(&self) -> Point {
        let n = self.points.len() as f64;
        let s = self.points.iter().fold([0.0, 0.0], |s, p| [s[0] + p[0], s[1] + p[1]]);
        [s[0] / n, s[1] / n]
    }

    /// Whether `p` is inside or on the boundary (within a tolerance relative to the edges).
    pub fn contains(&self, p: Point) -> bool {
        let n = self.points.len();
        (0..n).all(|i| {
            let (a, b) = (self.points[i], self.points[(i + 1) % n]);
            cross(sub(b, a), sub(p, a)) >= -REL_TOL * norm(sub(b, a)) * (norm(sub(p, a)) + norm(sub(b, a)))
        })
    }

    /// The intersection with another convex polygon, if it has an interior.
    pub fn intersection(&self, other: &Polygon) -> Option<Polygon> {
        let n = other.points.len();
        let mut out = self.clone();
        for i in 0..n {
            let (a, b) = (other.points[i], other.points[(i + 1) % n]);
            // Inside of edge a->b (counter-clockwise): cross(b - a, p - a) >= 0.
            let f = [a[0] * b[1] - a[1] * b[0], a[1] - b[1], b[0] - a[0]];
            out = out.clip(&f, 0.0, NO_LABEL)?;
        }
        Some(out)
    }

    /// Where the line `f = 0` crosses the polygon, if it does.
    pub(crate) fn chord(&self, f: &Affine) -> Option<Segment> {
        self.split(f, 0.0, NO_LABEL).map(|(_, _, s)| s)
    }

    fn push(&mut self, p: Point, label: u32) {
        self.points.push(p);
        self.labels.push(label);
    }

    fn with_capacity(n: usize) -> Self {
        Self { points: SmallVec::with_capacity(n), labels: SmallVec::with_capacity(n) }
    }
}

impl Cell for Polygon {
    const DIM: usize = 2;
    type Boundary = Segment;

    fn vertices(&self) -> &[Point] {
        &self.points
    }

    fn split(&self, f: &Affine, floor: f64, label: u32) -> Option<(Self, Self, Segment)> {
        // Values are recomputed rather than stored: a split should not allocate beyond its parts.
        let tol = tolerance(&self.points, f, floor);
        let value_class = |p: Point| {
            let v = eval(f, p);
            (v, sign_class(v, tol))
        };
        let classes = || self.points.iter().map(|&p| value_class(p).1);
        if !(classes().any(|c| c == 1) && classes().any(|c| c == -1)) {
            return None;
        }
        let n = self.points.len();
        let (mut neg, mut pos) = (Self::with_capacity(n + 2), Self::with_capacity(n + 2));
        // Index in `pos` of the point that starts the cut edge.
        let mut cut_start = 0;
        for i in 0..n {
            let j = (i + 1) % n;
            let (p, l) = (self.points[i], self.labels[i]);
            let ((vp, cp), (vq, cq)) = (value_class(p), value_class(self.points[j]));
            if cp >= 0 {
                if cp == 0 && cq < 0 {
                    cut_start = pos.points.len();
                }
                pos.push(p, if cp == 0 && cq < 0 { label } else { l });
            }
            if cp <= 0 {
                neg.push(p, if cp == 0 && cq > 0 { label } else { l });
            }
            if cp * cq < 0 {
                let x = crossing(p, self.points[j], vp, vq);
                if cp > 0 {
                    cut_start = pos.points.len();
                    pos.push(x, label);
                    neg.push(x, l);
                } else {
                    neg.push(x, label);
                    pos.push(x, l);
                }
            }
        }
        let cut = Segment { from: pos.points[cut_start], to: pos.points[(cut_start + 1) % pos.points.len()] };
        Some((neg, pos, cut))
    }

    fn relabelled(&self, label: u32) -> Self {
        Self { points: self.points.clone(), labels: smallvec::smallvec![label; self.points.len()] }
    }

    fn labelled(&self, label: u32) -> Vec<Segment> {
        let n = self.points.len();
        (0..n)
            .filter(|&i| self.labels[i] == label)
            .map(|i| Segment { from: self.points[i], to: self.points[(i + 1) % n] })
            .collect()
    }

    fn interior_point(&self) -> Point {
        self.vertex_mean()
    }
}

fn signed_area(pts: &[Point]) -> f64 {
    let n = pts.len();
    let twice: f64 = (0..n).map(|i| cross(pts[i], pts[(i + 1) % n])).sum();
    twice / 2.0
}

#[inline]
fn sub(a: Point, b: Point) -> Point {
    [a[0] - b[0], a[1] - b[1]]
}

#[inline]
fn cross(a: Point, b: Point) -> f64 {
    a[0] * b[1] - a[1] * b[0]
}

#[inline]
fn norm(a: Point) -> f64 {
    a[0].hypot(a[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clockwise_input_is_reoriented_and_concave_input_refused() {
        let cw = Polygon::convex(&[[0.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, 0.0]]).unwrap();
        assert!((cw.area() - 1.0).abs() < 1e-15);
        let dart = [[0.0, 0.0], [2.0, 0.0], [1.0, 0.5], [1.0, 2.0]];
        assert!(Polygon::convex(&dart).unwrap_err().contains("not convex"));
        assert!(Polygon::convex(&[[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]).is_err());
    }

    #[test]
    fn split_keeps_area_and_returns_the_chord() {
        let sq = Polygon::square([0.0, 0.0], 1.0);
        let (neg, pos, cut) = sq.split(&[0.2, 1.0, 1.0], 0.0, 7).unwrap();
        assert!((neg.area() + pos.area() - 4.0).abs() < 1e-14);
        for p in [cut.from, cut.to] {
            assert!(eval(&[0.2, 1.0, 1.0], p).abs() < 1e-14);
        }
        assert_eq!(pos.labelled(7).len(), 1);
        assert_eq!(neg.labelled(7).len(), 1);
    }

    #[test]
    fn a_line_through_two_corners_splits_into_two_triangles() {
        let sq = Polygon::square([0.0, 0.0], 1.0);
        let (neg, pos, cut) = sq.split(&[0.0, 1.0, -1.0], 0.0, 0).unwrap();
        assert_eq!((neg.points().len(), pos.points().len()), (3, 3));
        assert!((cut.length() - 8f64.sqrt()).abs() < 1e-14);
        // Touching one corner only is not a cut.
        assert!(sq.split(&[-2.0, 1.0, 1.0], 0.0, 0).is_none());
    }

    #[test]
    fn intersection_of_shifted_squares() {
        let a = Polygon::square([0.0, 0.0], 1.0);
        let b = Polygon::square([1.0, 1.0], 1.0);
        assert!((a.intersection(&b).unwrap().area() - 1.0).abs() < 1e-14);
        assert!(a.intersection(&Polygon::square([3.0, 0.0], 1.0)).is_none());
    }
}
