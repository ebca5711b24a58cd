//! The inner loop of every slice: each neuron's largest and smallest pre-activation over a
//! cell's vertices, and the largest magnitude of the terms that make them up.
//!
//! Neurons go in blocks of `LANES` held in registers while the vertices stream past, and the
//! loop is compiled a second time for AVX2, taken when the CPU has it (the workspace builds
//! for baseline x86-64, whose SSE2 holds two lanes). Either way every lane does the same
//! operations in the same order (no fused multiply-add), so the results are bit for bit those
//! of the plain loop.

use crate::cell::Point;

/// Neurons per block.
const LANES: usize = 8;

/// Per neuron `i` of the map rows `c`, `a1`, `a2` (`c + a1 u1 + a2 u2`) over `vertices`:
/// the largest value, the smallest, and the largest `|c| + |a1 u1| + |a2 u2|` (the scale of
/// the rounding in the value), written into `high`, `low` and `magnitude`.
pub(crate) fn vertex_extremes(vertices: &[Point], rows: [&[f64]; 3], out: [&mut [f64]; 3]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, the only feature the function is compiled with.
        return unsafe { extremes_avx2(vertices, rows, out) };
    }
    extremes(vertices, rows, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn extremes_avx2(vertices: &[Point], rows: [&[f64]; 3], out: [&mut [f64]; 3]) {
    extremes(vertices, rows, out)
}

#[inline(always)]
fn extremes(vertices: &[Point], [c, a1, a2]: [&[f64]; 3], [high, low, magnitude]: [&mut [f64]; 3]) {
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
        high[block.clone()].copy_from_slice(&h);
        low[block.clone()].copy_from_slice(&l);
        magnitude[block].copy_from_slice(&m);
    }
    for i in blocks..width {
        let (mut h, mut l, mut m) = (f64::MIN, f64::MAX, 0.0f64);
        for p in vertices {
            let (v, size) = value_and_size(c[i], a1[i], a2[i], p);
            h = h.max(v);
            l = l.min(v);
            m = m.max(size);
        }
        (high[i], low[i], magnitude[i]) = (h, l, m);
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
        let mut got = [vec![0.0; width], vec![0.0; width], vec![0.0; width]];
        let [h, l, m] = &mut got;
        vertex_extremes(&vertices, [&rows[0], &rows[1], &rows[2]], [h, l, m]);
        for i in 0..width {
            let values: Vec<(f64, f64)> =
                vertices.iter().map(|p| value_and_size(rows[0][i], rows[1][i], rows[2][i], p)).collect();
            let high = values.iter().fold(f64::MIN, |a, v| a.max(v.0));
            let low = values.iter().fold(f64::MAX, |a, v| a.min(v.0));
            let size = values.iter().fold(0.0f64, |a, v| a.max(v.1));
            assert_eq!(
                [got[0][i], got[1][i], got[2][i]].map(f64::to_bits),
                [high, low, size].map(f64::to_bits),
                "neuron {i}"
            );
        }
    }
}
