//! The neighbourhood: the cross-polytope `conv{x0 ± r v_p}` and its coordinates `t`.

use crate::error::{check_finite, check_positive, RegionError, Result, ORTHONORMAL_TOLERANCE};
use crate::slice::dot;

/// The cross-polytope `conv{x0 ± r v_p}`: centre `x0` (width d), P orthonormal directions
/// (rows of a P x d matrix, as tessera-lc's frame), radius `r`.
#[derive(Clone, Debug)]
pub struct Neighborhood {
    center: Vec<f64>,
    directions: Vec<f64>,
    dim: usize,
    radius: f64,
}

impl Neighborhood {
    /// Check and build; `directions` is row-major P x d with `d = center.len()`.
    pub fn new(center: Vec<f64>, directions: Vec<f64>, dim: usize, radius: f64) -> Result<Self> {
        let width = center.len();
        check_positive("radius r", radius)?;
        let dimension = |problem: String| RegionError::Argument {
            name: "neighbourhood dimension P".into(),
            value: dim.to_string(),
            problem,
        };
        if dim == 0 {
            return Err(dimension("must be at least 1".into()));
        }
        if dim > width {
            return Err(dimension(format!("exceeds the input width d = {width}")));
        }
        if directions.len() != dim * width {
            return Err(RegionError::FrameLength { got: directions.len(), dim, width });
        }
        check_finite("point", &center)?;
        check_finite("frame", &directions)?;
        check_orthonormal(&directions, dim, width)?;
        Ok(Self { center, directions, dim, radius })
    }

    /// P.
    pub fn dim(&self) -> usize {
        self.dim
    }
    /// Radius of the cross-polytope, in input units.
    pub fn radius(&self) -> f64 {
        self.radius
    }
    /// The centre `x0`.
    pub fn center(&self) -> &[f64] {
        &self.center
    }
    /// Direction `p` (a row of the frame).
    pub fn direction(&self, p: usize) -> &[f64] {
        let d = self.center.len();
        &self.directions[p * d..(p + 1) * d]
    }

    /// The input-space point of coordinates `t`: `x0 + r * sum_p t_p v_p`.
    pub fn point(&self, t: &[f64]) -> Vec<f64> {
        let mut x = self.center.clone();
        for (p, &tp) in t.iter().enumerate() {
            x.iter_mut().zip(self.direction(p)).for_each(|(xi, &v)| *xi += self.radius * tp * v);
        }
        x
    }

    /// The affine map `t -> x` as `P + 1` rows: `x0`, then `r v_p`.
    pub(super) fn input_rows(&self) -> Vec<f64> {
        let mut rows = self.center.clone();
        rows.extend(self.directions.iter().map(|v| self.radius * v));
        rows
    }
}

fn check_orthonormal(directions: &[f64], dim: usize, width: usize) -> Result<()> {
    let row = |p: usize| &directions[p * width..(p + 1) * width];
    for i in 0..dim {
        for j in 0..=i {
            let value = dot(row(i), row(j));
            let target = if i == j { 1.0 } else { 0.0 };
            if (value - target).abs() > ORTHONORMAL_TOLERANCE {
                return Err(RegionError::NotOrthonormal { row: i, col: j, value });
            }
        }
    }
    Ok(())
}
