//! Exact region counts in cross-polytope neighbourhoods against independent references:
//! hyperplane-arrangement face counts (one hidden layer), LC's vertex sign-change count, the
//! forward pass at every region and at dense random samples (deeper nets, conv, max pool,
//! residual).

mod polytope_support;

use nalgebra::{Matrix2, Matrix3, Vector2, Vector3};
use polytope_support::*;
use proptest::prelude::*;
use tessera_net::{Activation, GraphBuilder, Mode, Network, Op, Tensor};
use tessera_regions::polytope::{
    count_regions, count_regions_with_progress, CountProgress, KinkKind, Neighborhood, PolytopeOptions,
};
use tessera_regions::RegionError;
use tessera_regions::{partition_slice, PartitionOptions, Slice};

/// First-layer hyperplanes `c_j + g_j . t` of `net` on `nbhd`.
fn first_layer_in_t(net: &Network<f64>, nbhd: &Neighborhood) -> Vec<(f64, Vec<f64>)> {
    let d = nbhd.center().len();
    let (w, b) = (&net.params(1).tensors[0], &net.params(1).tensors[1]);
    (0..b.len())
        .map(|j| {
            let row = &w[j * d..(j + 1) * d];
            let c = row.iter().zip(nbhd.center()).map(|(a, x)| a * x).sum::<f64>() + b[j];
            let g = (0..nbhd.dim())
                .map(|p| nbhd.radius() * row.iter().zip(nbhd.direction(p)).map(|(a, v)| a * v).sum::<f64>())
                .collect();
            (c, g)
        })
        .collect()
}

fn crosses_cross_polytope(c: f64, g: &[f64]) -> bool {
    c.abs() < g.iter().fold(0.0f64, |m, v| m.max(v.abs()))
}

fn l1(t: &[f64]) -> f64 {
    t.iter().map(|v| v.abs()).sum()
}

/// Faces of a generic line arrangement inside the square `|t|_1 < 1`:
/// 1 + lines that cross it + crossing points inside it.
fn line_arrangement_regions(lines: &[(f64, Vec<f64>)]) -> usize {
    let crossing: Vec<&(f64, Vec<f64>)> = lines.iter().filter(|(c, g)| crosses_cross_polytope(*c, g)).collect();
    let mut points = 0;
    for (i, a) in crossing.iter().enumerate() {
        for b in &crossing[i + 1..] {
            let m = Matrix2::new(a.1[0], a.1[1], b.1[0], b.1[1]);
            if let Some(t) = m.lu().solve(&Vector2::new(-a.0, -b.0)) {
                points += usize::from(l1(t.as_slice()) < 1.0);
            }
        }
    }
    1 + crossing.len() + points
}

/// Zaslavsky's count for a generic plane arrangement inside the octahedron `|t|_1 < 1`:
/// 1 + planes meeting it + pairwise intersection lines meeting it + triple points inside it.
fn plane_arrangement_regions(planes: &[(f64, Vec<f64>)]) -> usize {
    let crossing: Vec<&(f64, Vec<f64>)> = planes.iter().filter(|(c, g)| crosses_cross_polytope(*c, g)).collect();
    let n = crossing.len();
    let (mut lines, mut points) = (0, 0);
    for i in 0..n {
        for j in i + 1..n {
            lines += usize::from(line_meets_octahedron(crossing[i], crossing[j]));
            for k in j + 1..n {
                let [a, b, c] = [crossing[i], crossing[j], crossing[k]];
                let m = Matrix3::from_rows(&[row3(&a.1), row3(&b.1), row3(&c.1)]);
                if let Some(t) = m.lu().solve(&Vector3::new(-a.0, -b.0, -c.0)) {
                    points += usize::from(l1(t.as_slice()) < 1.0);
                }
            }
        }
    }
    1 + n + lines + points
}

fn row3(g: &[f64]) -> nalgebra::RowVector3<f64> {
    nalgebra::RowVector3::new(g[0], g[1], g[2])
}

/// Does the line where both planes vanish pass through the open octahedron? `|p + s u|_1` is
/// convex and piecewise linear in s, minimal at a breakpoint `s = -p_i / u_i`.
fn line_meets_octahedron(a: &(f64, Vec<f64>), b: &(f64, Vec<f64>)) -> bool {
    let (ga, gb) = (Vector3::from_column_slice(&a.1), Vector3::from_column_slice(&b.1));
    let u = ga.cross(&gb);
    // The point of the line closest to the origin: a combination of the two normals.
    let gram = Matrix2::new(ga.dot(&ga), ga.dot(&gb), ga.dot(&gb), gb.dot(&gb));
    let Some(coef) = gram.lu().solve(&Vector2::new(-a.0, -b.0)) else { return false };
    let p = ga * coef[0] + gb * coef[1];
    (0..3).filter(|&i| u[i] != 0.0).any(|i| l1((p - u * (p[i] / u[i])).as_slice()) < 1.0)
}

/// Upper bound on the regions cut by n hyperplanes in R^P: sum_{k <= P} C(n, k).
fn arrangement_upper_bound(n: usize, dim: usize) -> usize {
    (0..=dim.min(n)).map(|k| (0..k).fold(1usize, |acc, i| acc * (n - i) / (i + 1))).sum()
}

/// LC's count per activation layer: neurons whose pre-activation sign is not the same at the
/// 2P vertices `x0 ± r v_p` (zero is its own sign).
fn lc_vertex_counts(net: &Network<f64>, nbhd: &Neighborhood) -> Vec<usize> {
    let vertices: Vec<Vec<f64>> = (0..nbhd.dim())
        .flat_map(|p| {
            let mut plus = vec![0.0; nbhd.dim()];
            plus[p] = 1.0;
            let minus: Vec<f64> = plus.iter().map(|v| -v).collect();
            [nbhd.point(&plus), nbhd.point(&minus)]
        })
        .collect();
    let x = Tensor::from_vec(net.input_shape(), vertices.concat()).unwrap();
    let (_, taps) = net.forward_with_taps(&x, Mode::Eval, true).unwrap();
    taps.iter()
        .map(|pre| {
            let w = pre.width();
            let sign = |v: f64| (v > 0.0) as i8 - (v < 0.0) as i8;
            (0..w).filter(|&j| (1..pre.batch).any(|i| sign(pre.row(i)[j]) != sign(pre.row(0)[j]))).count()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn one_hidden_layer_p2_count_equals_line_arrangement_faces(seed in 0u64..10_000, width in 4usize..14) {
        let net = random_mlp(&[6, width, 3], seed);
        let nbhd = neighborhood(6, 2, 1.5, seed);
        let count = count_regions(&net, &nbhd, &PolytopeOptions::default()).unwrap();
        prop_assert_eq!(count.num_regions, line_arrangement_regions(&first_layer_in_t(&net, &nbhd)));
    }

    #[test]
    fn one_hidden_layer_p3_count_equals_plane_arrangement_faces_and_bounds_samples(
        seed in 0u64..10_000, width in 3usize..10,
    ) {
        let net = random_mlp(&[5, width, 2], seed);
        let nbhd = neighborhood(5, 3, 1.5, seed);
        let part = partition(&net, &nbhd);
        let planes = first_layer_in_t(&net, &nbhd);
        let exact = part.count.num_regions;
        let cutting = planes.iter().filter(|(c, g)| crosses_cross_polytope(*c, g)).count();
        let sampled = sampled_patterns(&net, &nbhd, 4000, seed).len();
        prop_assert!(sampled <= exact, "sampled {} > exact {}", sampled, exact);
        prop_assert!(exact <= arrangement_upper_bound(cutting, 3));
        prop_assert_eq!(exact, plane_arrangement_regions(&planes));
    }

    #[test]
    fn first_layer_cutting_neurons_equal_lc_vertex_count_and_deeper_layers_bound_it(
        seed in 0u64..10_000, dim in 2usize..5,
    ) {
        let net = random_mlp(&[8, 10, 8, 3], seed);
        let nbhd = neighborhood(8, dim, 0.8, seed);
        let count = count_regions(&net, &nbhd, &PolytopeOptions::default()).unwrap();
        let lc = lc_vertex_counts(&net, &nbhd);
        prop_assert_eq!(count.layers[0].cutting_units, lc[0]);
        for (layer, lc_count) in count.layers.iter().zip(&lc) {
            prop_assert!(layer.cutting_units >= *lc_count, "{:?} vs LC {}", layer, lc_count);
        }
    }

    #[test]
    fn deep_mlp_regions_match_forward_and_contain_every_sampled_pattern(seed in 0u64..10_000, dim in 2usize..4) {
        let net = random_mlp(&[6, 8, 8, 6, 2], seed);
        let nbhd = neighborhood(6, dim, 1.0, seed);
        let part = partition(&net, &nbhd);
        prop_assert!(check_regions_against_forward(&net, &nbhd, &part) < 1e-9);
        let codes: std::collections::HashSet<_> = part.regions.iter().map(|r| &r.codes).collect();
        prop_assert_eq!(codes.len(), part.regions.len(), "two regions share a pattern");
        prop_assert_eq!(sampled_patterns_missing(&net, &nbhd, &part, 3000, seed), 0, "sampled patterns missing from the enumeration");
        prop_assert_eq!(part.count.layers.last().unwrap().regions, part.count.num_regions);
    }

    /// Clamp neurons split regions at both kinks: every region's map and pieces are the forward
    /// pass's at its centre, and every piece pattern met by dense sampling is a region.
    #[test]
    fn clamp_mlp_regions_match_forward_and_contain_every_sampled_pattern(seed in 0u64..10_000, dim in 2usize..4) {
        let net = random_mlp_of(&[6, 8, 8, 2], Activation::Clamp { lo: -0.2, hi: 0.3 }, seed);
        let nbhd = neighborhood(6, dim, 1.0, seed);
        let part = partition(&net, &nbhd);
        prop_assert!(check_regions_against_forward(&net, &nbhd, &part) < 1e-9);
        let codes: std::collections::HashSet<_> = part.regions.iter().map(|r| &r.codes).collect();
        prop_assert_eq!(codes.len(), part.regions.len(), "two regions share a pattern");
        prop_assert_eq!(sampled_patterns_missing(&net, &nbhd, &part, 3000, seed), 0, "sampled patterns missing from the enumeration");
    }

    /// The depth-first count, in chunks of the minimum size or of the default size, keeps no
    /// region and gives the partition's region count, layer by layer.
    #[test]
    fn depth_first_count_in_any_chunk_size_equals_the_partition_region_count(seed in 0u64..10_000, dim in 2usize..4) {
        let net = random_mlp(&[6, 10, 10, 8, 2], seed);
        let nbhd = neighborhood(6, dim, 1.5, seed);
        let part = partition(&net, &nbhd);
        prop_assert_eq!(part.regions.len(), part.count.num_regions);
        for chunk_bytes in [1, PolytopeOptions::default().chunk_bytes] {
            let options = PolytopeOptions { chunk_bytes, ..PolytopeOptions::default() };
            let progress = CountProgress::new();
            let count = count_regions_with_progress(&net, &nbhd, &options, &progress).unwrap();
            prop_assert_eq!(&count, &part.count);
            prop_assert_eq!(progress.regions(), count.num_regions);
            prop_assert_eq!(progress.layer(), (3, 3));
        }
    }

    #[test]
    fn p2_neighborhood_count_equals_slice_count_of_the_same_rotated_square(seed in 0u64..10_000, conv in any::<bool>()) {
        let (net, width) = if conv { (conv_pool_net(seed, true), 16) } else { (random_mlp(&[6, 8, 8, 6, 2], seed), 6) };
        let nbhd = neighborhood(width, 2, 1.5, seed);
        let count = count_regions(&net, &nbhd, &PolytopeOptions::default()).unwrap();
        let scaled = |p: usize| nbhd.direction(p).iter().map(|v| v * nbhd.radius()).collect::<Vec<f64>>();
        let square = [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]];
        let slice = Slice::new(nbhd.center().to_vec(), scaled(0), scaled(1), &square).unwrap();
        let options = PartitionOptions { decision_boundary: false, ..PartitionOptions::default() };
        let sliced = partition_slice(&net, &slice, &options).unwrap();
        prop_assert_eq!(count.num_regions, sliced.num_regions());
    }
}

/// conv(1->2, 3x3, pad 1) - ReLU - maxpool 2 - dense(8->4) - ReLU - dense(4->2) on 1x4x4.
fn conv_pool_net(seed: u64, relu_before_pool: bool) -> Network<f64> {
    let mut b = GraphBuilder::new(&[1, 4, 4]);
    let mut last = b.conv3x3(0, 1, 2, 1, true);
    if relu_before_pool {
        last = b.activation(last, Activation::Relu);
    }
    last = b.push("pool", Op::MaxPool2d { kernel: [2, 2], stride: [2, 2], padding: [0, 0], ceil_mode: false }, &[last]);
    last = b.flatten(last);
    last = b.dense(last, 8, 4);
    last = b.activation(last, Activation::Relu);
    b.dense(last, 4, 2);
    let mut net = b.build::<f64>().unwrap();
    net.init_pytorch_default(seed, 1.0);
    net
}

/// dense(6->6) - ReLU - dense(6->6) - ReLU - add(skip from the first ReLU) - dense(6->2), with
/// leaky ReLU in the block to exercise slopes other than 0 and 1.
fn residual_net(seed: u64) -> Network<f64> {
    let mut b = GraphBuilder::new(&[6]);
    let d1 = b.dense(0, 6, 6);
    let a1 = b.activation(d1, Activation::Relu);
    let d2 = b.dense(a1, 6, 6);
    let a2 = b.activation(d2, Activation::LeakyRelu { slope: 0.1 });
    let sum = b.add(a1, a2);
    let a3 = b.activation(sum, Activation::Abs);
    b.dense(a3, 6, 2);
    let mut net = b.build::<f64>().unwrap();
    net.init_pytorch_default(seed, 1.0);
    net
}

#[test]
fn conv_maxpool_regions_match_forward_and_contain_every_sampled_pattern() {
    for (seed, relu) in [(1, true), (2, false), (3, true)] {
        let net = conv_pool_net(seed, relu);
        let nbhd = neighborhood(16, 3, 1.5, seed);
        let part = partition(&net, &nbhd);
        assert!(check_regions_against_forward(&net, &nbhd, &part) < 1e-9);
        assert_eq!(
            sampled_patterns_missing(&net, &nbhd, &part, 3000, seed),
            0,
            "seed {seed}: sampled patterns missing"
        );
        let pool = part.count.layers.iter().find(|l| l.kind == KinkKind::MaxPool).unwrap();
        assert_eq!(pool.units, 8);
        assert!(pool.cutting_units > 0, "seed {seed}: radius too small to exercise pooling: {:?}", part.count);
    }
}

#[test]
fn residual_regions_match_forward_and_contain_every_sampled_pattern() {
    for seed in [4, 5] {
        let net = residual_net(seed);
        let nbhd = neighborhood(6, 3, 1.0, seed);
        let part = partition(&net, &nbhd);
        assert!(check_regions_against_forward(&net, &nbhd, &part) < 1e-9);
        assert_eq!(
            sampled_patterns_missing(&net, &nbhd, &part, 3000, seed),
            0,
            "seed {seed}: sampled patterns missing"
        );
        assert!(part.count.num_regions > 3, "{:?}", part.count);
    }
}

#[test]
fn p25_neighborhood_of_a_small_radius_is_counted_exactly() {
    let net = random_mlp(&[64, 32, 32, 4], 9);
    let nbhd = neighborhood(64, 25, 0.3, 9);
    let part = partition(&net, &nbhd);
    let lc = lc_vertex_counts(&net, &nbhd);
    assert_eq!(part.count.layers[0].cutting_units, lc[0]);
    assert!(lc[0] > 0, "radius too small to cut anything: {:?}", part.count);
    assert!(check_regions_against_forward(&net, &nbhd, &part) < 1e-9);
    assert!(part.count.num_regions > lc[0], "each cutting first-layer neuron adds a region");
}

#[test]
fn a_cancelled_count_stops_with_interrupted() {
    let net = random_mlp(&[6, 10, 10, 8, 2], 3);
    let nbhd = neighborhood(6, 3, 1.5, 3);
    let progress = CountProgress::new();
    progress.cancel();
    let err = count_regions_with_progress(&net, &nbhd, &PolytopeOptions::default(), &progress).unwrap_err();
    assert!(matches!(err, RegionError::Interrupted { regions: 0 }), "{err}");
    // Cancelled from another thread while counting: stops with what was complete by then.
    let wide = random_mlp(&[8, 20, 20, 2], 5);
    let nbhd = neighborhood(8, 4, 2.0, 5);
    let full = count_regions(&wide, &nbhd, &PolytopeOptions::default()).unwrap().num_regions;
    let progress = CountProgress::new();
    let options = PolytopeOptions { chunk_bytes: 1, ..PolytopeOptions::default() };
    let result = std::thread::scope(|scope| {
        scope.spawn(|| {
            while progress.regions() == 0 {
                std::thread::yield_now();
            }
            progress.cancel();
        });
        count_regions_with_progress(&wide, &nbhd, &options, &progress)
    });
    match result {
        Err(RegionError::Interrupted { regions }) => assert!(regions > 0 && regions < full, "{regions} of {full}"),
        other => panic!("expected Interrupted, got {other:?}"),
    }
}
