//! The inner loop of every slice: each neuron's largest and smallest pre-activation over a
//! cell's vertices, and the largest magnitude of the terms that make them up.
//!
//! Neurons go in blocks of `LANES` held in registers while the vertices stream past, compiled
//! for AVX2 when the CPU has it (`simd`). Every lane does the same operations in the same
//! order, so the results are bit for bit those of the plain loop.

use crate::cell::Point;
use tessera_net::simd::with_avx2;

/// Neurons per block.
const LANES: usize = 8;

/// The extremes of one neuron over a cell's vertices.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Extremes {
    /// The largest value at a vertex.
    pub high: f64,
    /// The smallest value at a vertex.
    pub low: f64,
    /// The largest `|c| + |a1 u1| + |a2 u2|` at a vertex: the scale of the value's rounding.
    pub magnitude: f64,
}

/// Hand `visit` each neuron `i` of the map rows `c`, `a1`, `a2` (`c + a1 u1 + a2 u2`) in
/// order, with its extremes over `vertices`.
pub(crate) fn vertex_extremes(vertices: &[Point], rows: [&[f64]; 3], visit: impl FnMut(usize, Extremes)) {
    with_avx2(
        #[inline(always)]
        || extremes(vertices, rows, visit),
    )
}

#[inline(always)]
fn extremes(vertices: &[Point], [c, a1, a2]: [&[f64]; 3], mut visit: impl FnMut(usize, Extremes)) {
    let width = c.len();
    let blocks = width / LANES * LANES;
    for start in (0..blocks).step_by(LANES) {
        let block = start..start + LANES;
        let (c, a1, a2) = (lanes(&c[block.clone()]), lanes(&a1[block.clone()]), lanes(&a2[block.clone()]));
        let (mut h, mut l, mut m) = ([f64::MIN; LANES], [f64::MAX; LANES], [0.0f64; LANES]);
        for p in vertices {
            for k in 0..LANES {
                let (v, size) = value_and_size(c[k], a1[k], a2[k], p);
                h[k] = h[k].max(v);
                l[k] = l[k].min(v);
                m[k] = m[k].max(size);
            }
        }
        for k in 0..LANES {
            visit(start + k, Extremes { high: h[k], low: l[k], magnitude: m[k] });
        }
    }
    for i in blocks..width {
        let (mut h, mut l, mut m) = (f64::MIN, f64::MAX, 0.0f64);
        for p in vertices {
            let (v, size) = value_and_size(c[i], a1[i], a2[i], p);
            h = h.max(v);
            l = l.min(v);
            m = m.max(size);
        }
        visit(i, Extremes { high: h, low: l, magnitude: m });
    }
}

#[inline(always)]
fn lanes(x: &[f64]) -> [f64; LANES] {
    x.try_into().expect("a block of LANES")
}

/// `c + a1 u1 + a2 u2` at `p`, and the magnitude of its terms.
#[inline(always)]
fn value_and_size(c: f64, a1: f64, a2: f64, p: &Point) -> (f64, f64) {
    let (t1, t2) = (a1 * p[0], a2 * p[1]);
    (c + t1 + t2, c.abs() + t1.abs() + t2.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_and_tail_agree_bit_for_bit_with_the_plain_loop() {
        let width = 2 * LANES + 3;
        let rows: Vec<Vec<f64>> = (0..3)
            .map(|r| (0..width).map(|i| ((i * 7 + r * 13) as f64 * 0.37).sin() * 10f64.powi(r as i32 - 1)).collect())
            .collect();
        let vertices = [[0.3, -1.2], [1.7, 0.4], [-0.9, 2.2], [0.1, 0.05], [-2.0, -0.3]];
        let mut got = Vec::new();
        vertex_extremes(&vertices, [&rows[0], &rows[1], &rows[2]], |i, e| got.push((i, e)));
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), (0..width).collect::<Vec<_>>());
        for (i, e) in got {
            let values: Vec<(f64, f64)> =
                vertices.iter().map(|p| value_and_size(rows[0][i], rows[1][i], rows[2][i], p)).collect();
            let high = values.iter().fold(f64::MIN, |a, v| a.max(v.0));
            let low = values.iter().fold(f64::MAX, |a, v| a.min(v.0));
            let size = values.iter().fold(0.0f64, |a, v| a.max(v.1));
            assert_eq!(
                [e.high, e.low, e.magnitude].map(f64::to_bits),
                [high, low, size].map(f64::to_bits),
                "neuron {i}"
            );
        }
    }
}
