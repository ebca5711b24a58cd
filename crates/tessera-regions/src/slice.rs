//! Two-dimensional slices of input space: the plane `x0 + u1 e1 + u2 e2` and a convex domain
//! polygon of `(u1, u2)`.

use crate::cell::{Point, REL_TOL};
use crate::error::{check_positive, check_width, RegionError, Result};
use crate::polygon::Polygon;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

/// A plane of input space and the convex domain of it to partition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Slice {
    /// The input at `u = (0, 0)`.
    pub origin: Vec<f64>,
    /// `e1` and `e2`: the input moves by `e_k` when `u_k` grows by one.
    pub directions: [Vec<f64>; 2],
    /// The domain, counter-clockwise, in `u`.
    pub domain: Vec<Point>,
    /// Points to mark in pictures (the anchors a slice was built from), in `u`.
    #[serde(default)]
    pub anchors: Vec<Point>,
}

impl Slice {
    /// A slice given explicitly. The directions must span a plane (they need not be
    /// orthonormal) and the domain must be a convex polygon (either orientation).
    pub fn new(origin: Vec<f64>, e1: Vec<f64>, e2: Vec<f64>, domain: &[Point]) -> Result<Self> {
        let width = origin.len();
        if width == 0 {
            return Err(RegionError::Argument {
                name: "origin".into(),
                value: "[]".into(),
                problem: "a slice needs a non-empty origin".into(),
            });
        }
        check_width("origin", &origin, width)?;
        check_width("direction e1", &e1, width)?;
        check_width("direction e2", &e2, width)?;
        if gram_schmidt(&e1, &e2).is_none() {
            return Err(RegionError::DependentDirections);
        }
        let domain = Polygon::convex(domain).map_err(RegionError::Domain)?.into_points();
        Ok(Self { origin, directions: [e1, e2], domain, anchors: Vec::new() })
    }

    /// The paper's slice through three points: centred at their centroid `m`, spanned by the
    /// unit vector along `a - m` and the Gram–Schmidt residual of `b - m`; the domain is the
    /// square of half-width `padding` times the largest distance of an anchor to `m`.
    pub fn through_points(a: &[f64], b: &[f64], c: &[f64], padding: f64) -> Result<Self> {
        check_width("anchor b", b, a.len())?;
        check_width("anchor c", c, a.len())?;
        check_positive("padding", padding)?;
        let m: Vec<f64> = (0..a.len()).map(|i| (a[i] + b[i] + c[i]) / 3.0).collect();
        let rel = |x: &[f64]| -> Vec<f64> { x.iter().zip(&m).map(|(v, c)| v - c).collect() };
        let (ra, rb, rc) = (rel(a), rel(b), rel(c));
        let (e1, e2) = gram_schmidt(&ra, &rb).ok_or(RegionError::CollinearAnchors)?;
        let reach = [&ra, &rb, &rc].iter().map(|r| norm(r)).fold(0.0, f64::max);
        let anchors = [&ra, &rb, &rc].iter().map(|r| [dot(r, &e1), dot(r, &e2)]).collect();
        let domain = Polygon::square([0.0, 0.0], padding * reach).into_points();
        Ok(Self { origin: m, directions: [e1, e2], domain, anchors })
    }

    /// The square of half-width `half_width` around `center` in a plane spanned by two
    /// orthonormal directions drawn from `seed` (Gaussian, then Gram–Schmidt).
    pub fn around_point(center: &[f64], half_width: f64, seed: u64) -> Result<Self> {
        check_width("center", center, center.len())?;
        check_positive("half_width", half_width)?;
        if center.len() < 2 {
            return Err(RegionError::Width { what: "center".into(), got: center.len(), expected: 2 });
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        loop {
            let mut draw = || -> Vec<f64> { (0..center.len()).map(|_| StandardNormal.sample(&mut rng)).collect() };
            let (g1, g2) = (draw(), draw());
            if let Some((e1, e2)) = gram_schmidt(&g1, &g2) {
                let domain = Polygon::square([0.0, 0.0], half_width).into_points();
                return Ok(Self { origin: center.to_vec(), directions: [e1, e2], domain, anchors: vec![[0.0, 0.0]] });
            }
        }
    }

    /// The same slice with other points marked.
    pub fn with_anchors(mut self, anchors: Vec<Point>) -> Self {
        self.anchors = anchors;
        self
    }

    /// Dimension of the input space the slice lives in.
    pub fn width(&self) -> usize {
        self.origin.len()
    }

    /// The input at slice coordinates `u`.
    pub fn point(&self, u: Point) -> Vec<f64> {
        let [e1, e2] = &self.directions;
        (0..self.width()).map(|i| self.origin[i] + u[0] * e1[i] + u[1] * e2[i]).collect()
    }

    /// The domain as a polygon.
    pub fn domain_polygon(&self) -> Result<Polygon> {
        Polygon::convex(&self.domain).map_err(RegionError::Domain)
    }

    /// Check that the slice lives in an input space of width `expected` and is well formed
    /// (its fields are public, so they are checked again before use).
    pub(crate) fn check(&self, expected: usize) -> Result<Polygon> {
        check_width("slice origin", &self.origin, expected)?;
        check_width("slice direction e1", &self.directions[0], expected)?;
        check_width("slice direction e2", &self.directions[1], expected)?;
        if gram_schmidt(&self.directions[0], &self.directions[1]).is_none() {
            return Err(RegionError::DependentDirections);
        }
        self.domain_polygon()
    }
}

pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub(crate) fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// Orthonormal `(q1, q2)` spanning `a` and `b`, or `None` when they are (nearly) dependent.
fn gram_schmidt(a: &[f64], b: &[f64]) -> Option<(Vec<f64>, Vec<f64>)> {
    let (na, nb) = (norm(a), norm(b));
    if !(na > 0.0 && nb > 0.0) {
        return None;
    }
    let q1: Vec<f64> = a.iter().map(|v| v / na).collect();
    let along = dot(b, &q1);
    let r: Vec<f64> = b.iter().zip(&q1).map(|(v, q)| v - along * q).collect();
    let nr = norm(&r);
    // Below this, the residual is rounding noise of b's components.
    (nr > 1e3 * REL_TOL * nb).then(|| (q1, r.iter().map(|v| v / nr).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_of_a_three_point_slice_map_back_to_the_points() {
        let (a, b, c) = (vec![1.0, 0.0, 2.0], vec![0.0, 3.0, 1.0], vec![-1.0, 1.0, 0.0]);
        let s = Slice::through_points(&a, &b, &c, 1.2).unwrap();
        for (u, x) in s.anchors.iter().zip([&a, &b, &c]) {
            let back = s.point(*u);
            assert!(back.iter().zip(x.iter()).all(|(p, q)| (p - q).abs() < 1e-12));
        }
        assert!(dot(&s.directions[0], &s.directions[1]).abs() < 1e-14);
    }

    #[test]
    fn collinear_anchors_are_an_error() {
        let err = Slice::through_points(&[0.0, 0.0], &[1.0, 1.0], &[2.0, 2.0], 1.0).unwrap_err();
        assert!(matches!(err, RegionError::CollinearAnchors));
    }

    #[test]
    fn random_directions_are_orthonormal_and_seeded() {
        let s = Slice::around_point(&[0.5; 10], 0.1, 3).unwrap();
        let [e1, e2] = &s.directions;
        assert!((norm(e1) - 1.0).abs() < 1e-14 && (norm(e2) - 1.0).abs() < 1e-14 && dot(e1, e2).abs() < 1e-14);
        assert_eq!(s, Slice::around_point(&[0.5; 10], 0.1, 3).unwrap());
    }
}
