//! Convex cells of the neighbourhood and how one kinked layer splits them.
//!
//! Whether a unit splits a piece, and a ball inside each of its cells, come from cheap tests
//! first: over the whole cross-polytope a difference of two candidates is bounded by its values
//! at the 2P vertices (LC's test); a cell whose boundary misses the piece's ball keeps that
//! ball, one whose boundary cuts it gets the largest ball of the cut-off cap; balls found for a
//! unit on a whole piece serve its sub-pieces that still contain them. Only then does a
//! Chebyshev-ball LP decide. A cell is kept only if its inradius exceeds `min_inradius`, so
//! slivers of zero volume (duplicate neurons, boundaries through a vertex or along a facet)
//! are never counted.

use super::lp::{chebyshev_ball, Ball, HalfSpace};
use crate::affine::{PieceRows, UnitAffine};
use crate::error::Result;
use crate::kink::KinkUnits;
use crate::slice::{dot, norm};
use std::sync::atomic::{AtomicU64, Ordering};

/// Differences of candidates whose gradient is this small relative to the candidates'
/// magnitudes are constants (exact duplicates, dead units), not boundaries.
const CONSTANT_RELATIVE: f64 = 1e-10;

/// A cell keeps the ball of the cap its bounds cut from its parent's ball (no LP) while that
/// ball keeps this fraction of the parent's radius; smaller ones are recomputed by LP, so balls
/// stay large enough for the cheap "boundary misses the ball" test.
const CAP_BALL_FRACTION: f64 = 0.25;

/// A convex cell: the cross-polytope cut by half-spaces, with an inscribed ball.
#[derive(Clone, Debug)]
pub(super) struct Cell {
    pub halfspaces: Vec<HalfSpace>,
    pub ball: Ball,
}

/// An affine function `c + g . t` of the neighbourhood's coordinates.
#[derive(Clone, Debug)]
pub(super) struct Affine {
    c: f64,
    g: Vec<f64>,
}

impl UnitAffine for Affine {
    fn read(rows: PieceRows<'_>, i: usize) -> Self {
        Self { c: rows.coefficient(0, i), g: (1..=rows.dim()).map(|p| rows.coefficient(p, i)).collect() }
    }

    fn zero(dim: usize) -> Self {
        Self { c: 0.0, g: vec![0.0; dim] }
    }

    fn affine(mut self, slope: f64, offset: f64) -> Self {
        self.c = slope * self.c + offset;
        self.g.iter_mut().for_each(|g| *g *= slope);
        self
    }
}

impl Affine {
    fn at(&self, t: &[f64]) -> f64 {
        self.c + dot(&self.g, t)
    }
    fn minus(&self, other: &Affine) -> Affine {
        Affine { c: self.c - other.c, g: self.g.iter().zip(&other.g).map(|(a, b)| a - b).collect() }
    }
    fn magnitude(&self) -> f64 {
        self.c.abs() + norm(&self.g)
    }
    /// Largest value over the unit cross-polytope (attained at a vertex `±e_p`).
    fn max_over_cross_polytope(&self) -> f64 {
        self.c + self.g.iter().fold(0.0f64, |m, v| m.max(v.abs()))
    }
}

/// How `later - earlier` compares across t: a constant (up to rounding) or a real boundary.
enum Difference {
    Constant(f64),
    Varying(Affine),
}

fn difference(later: &Affine, earlier: &Affine) -> Difference {
    let d = later.minus(earlier);
    let scale = later.magnitude() + earlier.magnitude();
    let gradient = norm(&d.g);
    if gradient <= CONSTANT_RELATIVE * scale {
        let c = if d.c.abs() <= CONSTANT_RELATIVE * scale { 0.0 } else { d.c };
        Difference::Constant(c)
    } else {
        Difference::Varying(d)
    }
}

/// Splits cells by the units of kinked layers, at a fixed resolution; counts its LPs.
pub(super) struct CellSplitter {
    pub dim: usize,
    pub min_inradius: f64,
    pub lp_solves: AtomicU64,
}

impl CellSplitter {
    /// Split `cell` by every unit of a kinked layer whose input map on the cell is `rows`:
    /// the cells, each with the states of all units. `on_region` is called for each cell as
    /// it is found (to count, cancel or stop at a limit).
    pub fn refine_piece(
        &self,
        cell: &Cell,
        kink: &KinkUnits,
        units: usize,
        rows: PieceRows<'_>,
        on_region: &(dyn Fn() -> Result<()> + Sync),
    ) -> Result<Vec<(Vec<u32>, Cell)>> {
        let candidates: Vec<Vec<Affine>> = (0..units).map(|u| kink.candidates(u, rows)).collect();
        let mut states = Vec::with_capacity(units);
        let mut splitting = Vec::new();
        for (u, cands) in candidates.iter().enumerate() {
            let w0 = winner_at(cands, &cell.ball.center);
            states.push(kink.state(u, w0));
            if !(0..cands.len()).any(|v| v != w0 && may_beat(&cands[v], &cands[w0])) {
                continue;
            }
            // A unit that does not split the whole piece splits none of its sub-pieces (one LP
            // here saves one per sub-piece); one that does leaves balls inside its cells, which
            // stay valid in every sub-piece that still contains them.
            match self.cells_of_unit(cell, cands, &BallHints::NONE)?.as_slice() {
                [(w, _)] => states[u] = kink.state(u, *w),
                cells => splitting.push((u, cells.iter().map(|(w, c)| (*w, c.ball.clone())).collect::<Vec<_>>())),
            }
        }
        let mut done = Vec::new();
        let mut stack = vec![(cell.clone(), states, 0usize)];
        while let Some((mut sub, mut states, mut next)) = stack.pop() {
            loop {
                let Some((u, balls)) = splitting.get(next) else {
                    on_region()?;
                    done.push((states, sub));
                    break;
                };
                next += 1;
                let hints = BallHints { balls, valid_in: &cell.halfspaces };
                let mut cells = self.cells_of_unit(&sub, &candidates[*u], &hints)?;
                if cells.len() == 1 {
                    let (w, only) = cells.pop().expect("one cell");
                    states[*u] = kink.state(*u, w);
                    sub = only;
                    continue;
                }
                for (w, part) in cells {
                    let mut part_states = states.clone();
                    part_states[*u] = kink.state(*u, w);
                    stack.push((part, part_states, next));
                }
                break;
            }
        }
        Ok(done)
    }

    /// The cells of `cell` where each candidate wins (those with volume), with the winner.
    fn cells_of_unit(&self, cell: &Cell, cands: &[Affine], hints: &BallHints) -> Result<Vec<(usize, Cell)>> {
        let w0 = winner_at(cands, &cell.ball.center);
        let contenders: Vec<usize> = (0..cands.len()).filter(|&v| v == w0 || may_beat(&cands[v], &cands[w0])).collect();
        if contenders.len() == 1 {
            return Ok(vec![(w0, cell.clone())]);
        }
        let mut kept = Vec::new();
        for &w in &contenders {
            let Some(bounds) = winning_halfspaces(w, &contenders, cands) else { continue };
            let cap = ball_in_cap(&cell.ball, &bounds);
            let ball = if cap.radius >= cell.ball.radius {
                Some(cap)
            } else if let Some(ball) = hints.ball_for(w, cell) {
                Some(ball.clone())
            } else if cap.radius >= CAP_BALL_FRACTION * cell.ball.radius {
                Some(cap)
            } else {
                self.chebyshev(&cell.halfspaces, &bounds)?
            };
            if let Some(ball) = ball.filter(|b| b.radius > self.min_inradius) {
                kept.push((w, bounds, ball));
            }
        }
        Ok(match kept.len() {
            // Every cell is thinner than the resolution: the unit does not split this piece.
            0 => vec![(w0, cell.clone())],
            1 => {
                let (w, _, ball) = kept.pop().expect("one cell");
                vec![(w, Cell { halfspaces: cell.halfspaces.clone(), ball })]
            }
            _ => kept
                .into_iter()
                .map(|(w, bounds, ball)| {
                    let mut halfspaces = cell.halfspaces.clone();
                    halfspaces.extend(bounds);
                    (w, Cell { halfspaces, ball })
                })
                .collect(),
        })
    }

    fn chebyshev(&self, halfspaces: &[HalfSpace], extra: &[HalfSpace]) -> Result<Option<Ball>> {
        self.lp_solves.fetch_add(1, Ordering::Relaxed);
        Ok(chebyshev_ball(self.dim, halfspaces.iter().chain(extra))?)
    }
}

/// A ball inside `ball` and inside every half-space of `bounds`: the largest ball of the cap
/// cut off by each bounding hyperplane in turn (the whole ball where no hyperplane meets it).
pub(super) fn ball_in_cap(ball: &Ball, bounds: &[HalfSpace]) -> Ball {
    let mut cap = ball.clone();
    for h in bounds {
        let slack = h.slack(&cap.center);
        if slack < cap.radius {
            // The cap {x in ball : slack(x) >= 0} holds the ball of radius (radius + slack) / 2
            // whose centre moves (radius - slack) / 2 against the normal.
            let shift = (cap.radius - slack) / 2.0;
            cap.center.iter_mut().zip(&h.normal).for_each(|(c, n)| *c -= shift * n);
            cap.radius = (cap.radius + slack) / 2.0;
        }
    }
    cap
}

/// Balls known to lie inside a unit's cells of a larger piece (the first `valid_in.len()`
/// half-spaces of every cell they are offered to): one still inside a sub-piece is a ball of
/// the same cell there, no LP needed.
struct BallHints<'a> {
    balls: &'a [(usize, Ball)],
    valid_in: &'a [HalfSpace],
}

impl BallHints<'_> {
    const NONE: BallHints<'static> = BallHints { balls: &[], valid_in: &[] };

    fn ball_for(&self, candidate: usize, cell: &Cell) -> Option<&Ball> {
        let added = &cell.halfspaces[self.valid_in.len()..];
        self.balls
            .iter()
            .find(|(w, b)| *w == candidate && added.iter().all(|h| h.slack(&b.center) >= b.radius))
            .map(|(_, b)| b)
    }
}

/// The candidate with the largest value at `t` (the earliest on ties, as the forward pass).
fn winner_at(cands: &[Affine], t: &[f64]) -> usize {
    let mut best = 0;
    let mut best_value = cands[0].at(t);
    for (v, cand) in cands.iter().enumerate().skip(1) {
        let value = cand.at(t);
        if value > best_value {
            (best, best_value) = (v, value);
        }
    }
    best
}

/// Can `rival` exceed `leader` somewhere in the cross-polytope (vertex bound)?
fn may_beat(rival: &Affine, leader: &Affine) -> bool {
    match difference(rival, leader) {
        Difference::Constant(_) => false,
        Difference::Varying(d) => d.max_over_cross_polytope() > 0.0,
    }
}

/// The half-spaces where candidate `w` beats every other contender (ties to the earlier one);
/// `None` if `w` can never win (it loses to a constant margin or a tie).
fn winning_halfspaces(w: usize, contenders: &[usize], cands: &[Affine]) -> Option<Vec<HalfSpace>> {
    let mut bounds = Vec::new();
    for &v in contenders.iter().filter(|&&v| v != w) {
        match difference(&cands[v], &cands[w]) {
            Difference::Constant(c) if c > 0.0 || (c == 0.0 && v < w) => return None,
            Difference::Constant(_) => {}
            Difference::Varying(d) => bounds.extend(HalfSpace::from_affine_nonpositive(d.c, &d.g)),
        }
    }
    Some(bounds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn cap_ball_lies_inside_the_parent_ball_and_every_bound(
            center in prop::collection::vec(-0.3f64..0.3, 3),
            radius in 0.01f64..0.5,
            planes in prop::collection::vec((prop::collection::vec(-1.0f64..1.0, 3), -0.5f64..0.5), 1..4),
        ) {
            let ball = Ball { center, radius };
            let bounds: Vec<HalfSpace> =
                planes.iter().filter_map(|(g, c)| HalfSpace::from_affine_nonpositive(*c, g)).collect();
            let cap = ball_in_cap(&ball, &bounds);
            let shift = cap.center.iter().zip(&ball.center).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt();
            prop_assert!(shift + cap.radius <= ball.radius * (1.0 + 1e-12));
            if cap.radius > 0.0 {
                for h in &bounds {
                    prop_assert!(h.slack(&cap.center) >= cap.radius - 1e-12);
                }
            }
        }
    }
}
