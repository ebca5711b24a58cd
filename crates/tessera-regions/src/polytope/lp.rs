//! Linear programs over polytopes inside the unit cross-polytope `{t : |t|_1 <= 1}` of R^P:
//! the Chebyshev ball (largest inscribed ball), solved with good_lp's pure-Rust `microlp`
//! backend.
//!
//! The cross-polytope has 2^P facets, too many to list for P = 25, so the LP uses a lifted
//! form: `t = u - w` with `u, w >= 0` and `sum (u + w) <= 1`, a single row (the usual
//! `-s_i <= t_i <= s_i` form needs 2P + 1 rows and is several times slower in microlp). A ball of
//! radius `rho` around `t` fits in the cross-polytope iff `|t|_1 + rho * sqrt(P) <= 1` (every
//! facet normal has Euclidean norm `sqrt(P)`).

use crate::slice::{dot, norm};
use good_lp::{microlp, variable, Expression, ProblemVariables, ResolutionError, Solution, SolverModel, Variable};
use serde::{Deserialize, Serialize};

/// The half-space `normal . t <= offset`, with `normal` of unit Euclidean norm (so `offset -
/// normal . t` is the distance of `t` to the boundary).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HalfSpace {
    /// Unit normal.
    pub normal: Vec<f64>,
    /// Right-hand side: distance of the boundary from the origin along `normal`.
    pub offset: f64,
}

impl HalfSpace {
    /// `g . t + c <= 0`, normalised; `None` when `g` is zero (no boundary in t).
    pub fn from_affine_nonpositive(c: f64, g: &[f64]) -> Option<Self> {
        let length = norm(g);
        (length > 0.0 && length.is_finite())
            .then(|| HalfSpace { normal: g.iter().map(|v| v / length).collect(), offset: -c / length })
    }

    /// Signed distance of `t` to the boundary, positive inside.
    pub fn slack(&self, t: &[f64]) -> f64 {
        self.offset - dot(&self.normal, t)
    }
}

/// A ball in t-coordinates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ball {
    /// Centre, in t-coordinates.
    pub center: Vec<f64>,
    /// Radius (Euclidean).
    pub radius: f64,
}

/// The largest ball inside the unit cross-polytope (centre at the origin).
pub fn cross_polytope_inball(dim: usize) -> Ball {
    Ball { center: vec![0.0; dim], radius: 1.0 / (dim as f64).sqrt() }
}

/// Radius of the largest ball around `t` inside the cross-polytope and the half-spaces
/// (negative when `t` is outside).
pub fn inscribed_radius<'a>(t: &[f64], halfspaces: impl IntoIterator<Item = &'a HalfSpace>) -> f64 {
    let cross = (1.0 - t.iter().map(|v| v.abs()).sum::<f64>()) / (t.len() as f64).sqrt();
    halfspaces.into_iter().map(|h| h.slack(t)).fold(cross, f64::min)
}

/// Errors of the LP backend other than an empty polytope.
#[derive(Debug, thiserror::Error)]
#[error("LP solver failed on a {vars}-variable Chebyshev-ball problem with {rows} rows: {source}")]
pub struct LpError {
    vars: usize,
    rows: usize,
    #[source]
    source: ResolutionError,
}

/// The Chebyshev ball of `{t : |t|_1 <= 1, h.normal . t <= h.offset for h in halfspaces}`, or
/// `None` if that set is empty. The returned radius is recomputed from the returned centre
/// (never larger than what the centre really admits, whatever the LP's tolerances).
pub fn chebyshev_ball<'a>(
    dim: usize,
    halfspaces: impl Iterator<Item = &'a HalfSpace> + Clone,
) -> Result<Option<Ball>, LpError> {
    // t = u - w with u, w >= 0: then |t|_1 <= sum(u + w), with equality at u = t+, w = t-,
    // so one row bounds the l1 norm and every other bound is a simple variable bound.
    let mut vars = ProblemVariables::new();
    let u: Vec<Variable> = vars.add_vector(variable().min(0.0).max(1.0), dim);
    let w: Vec<Variable> = vars.add_vector(variable().min(0.0).max(1.0), dim);
    let rho = vars.add(variable().min(0.0).max(1.0));
    let mut model = vars.maximise(rho).using(microlp);
    let mut l1: Expression = u.iter().chain(&w).copied().sum();
    l1.add_mul((dim as f64).sqrt(), rho);
    model.add_constraint(l1.leq(1.0));
    let mut rows = 1;
    for h in halfspaces.clone() {
        rows += 1;
        let mut row = Expression::with_capacity(2 * dim + 1);
        for ((&up, &wp), &a) in u.iter().zip(&w).zip(&h.normal) {
            row.add_mul(a, up);
            row.add_mul(-a, wp);
        }
        row.add_mul(1.0, rho);
        model.add_constraint(row.leq(h.offset));
    }
    match model.solve() {
        Ok(solution) => {
            let center: Vec<f64> = u.iter().zip(&w).map(|(&up, &wp)| solution.value(up) - solution.value(wp)).collect();
            let radius = inscribed_radius(&center, halfspaces);
            Ok(Some(Ball { center, radius }))
        }
        Err(ResolutionError::Infeasible) => Ok(None),
        Err(source) => Err(LpError { vars: 2 * dim + 1, rows, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_cross_polytope_ball_is_centred_with_radius_one_over_sqrt_p() {
        for dim in [1, 2, 5, 25] {
            let ball = chebyshev_ball(dim, [].iter()).unwrap().unwrap();
            assert!((ball.radius - 1.0 / (dim as f64).sqrt()).abs() < 1e-9, "dim {dim}: {ball:?}");
        }
    }

    #[test]
    fn half_square_ball_touches_the_cut_and_two_facets() {
        // {|t1| + |t2| <= 1, t1 >= 0}: a right triangle with legs sqrt(2) and hypotenuse 2;
        // inradius = (a + b - c) / 2 = sqrt(2) - 1 = 0.4142...
        let h = HalfSpace::from_affine_nonpositive(0.0, &[-1.0, 0.0]).unwrap();
        let ball = chebyshev_ball(2, [h].iter()).unwrap().unwrap();
        assert!((ball.radius - (std::f64::consts::SQRT_2 - 1.0)).abs() < 1e-9, "{ball:?}");
    }

    #[test]
    fn disjoint_halfspaces_give_no_ball() {
        let a = HalfSpace::from_affine_nonpositive(0.5, &[1.0, 0.0]).unwrap(); // t1 <= -0.5
        let b = HalfSpace::from_affine_nonpositive(0.5, &[-1.0, 0.0]).unwrap(); // t1 >= 0.5
        assert!(chebyshev_ball(2, [a, b].iter()).unwrap().is_none());
    }

    #[test]
    fn zero_gradient_is_not_a_halfspace() {
        assert!(HalfSpace::from_affine_nonpositive(1.0, &[0.0, 0.0]).is_none());
    }
}
