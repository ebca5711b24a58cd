//! The neighbourhood is the cross-polytope the definition asks for.

use proptest::prelude::*;
use tessera_lc::Frame;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn directions_are_orthonormal_and_vertices_lie_at_distance_r(
        dim in 1usize..60,
        p_fraction in 0.0f64..1.0,
        seed in any::<u64>(),
        log_r in -4.0f64..3.0,
        center in prop::collection::vec(-5.0f64..5.0, 60),
    ) {
        let p = 1 + ((dim - 1) as f64 * p_fraction) as usize;
        let frame = Frame::random(dim, p, seed).unwrap();
        prop_assert!(frame.orthonormality_error() <= 1e-12, "{}", frame.orthonormality_error());
        let r = 10f64.powf(log_r);
        let x = &center[..dim];
        let vertices = frame.vertices(x, r);
        prop_assert_eq!(vertices.len(), 2 * p * dim);
        for (k, v) in vertices.chunks(dim).enumerate() {
            let dist = v.iter().zip(x).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt();
            // Rounding of x + r v is relative to |x|, not to r.
            let tolerance = 1e-12 * (r + x.iter().fold(0.0f64, |m, c| m.max(c.abs())));
            prop_assert!((dist - r).abs() <= tolerance, "vertex {k}: |v - x| = {dist}, r = {r}");
            // Antipodal pairs: vertex k and k + P are x + r v_k and x - r v_k.
            if k < p {
                let opposite = &vertices[(k + p) * dim..(k + p + 1) * dim];
                prop_assert!(v.iter().zip(opposite).zip(x).all(|((a, b), c)| (a + b - 2.0 * c).abs() <= 2.0 * tolerance));
            }
        }
    }
}
