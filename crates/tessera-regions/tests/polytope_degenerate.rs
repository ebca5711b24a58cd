//! Degenerate arrangements are counted right (coincident, parallel, concurrent and zero
//! neurons, boundaries through vertices and along facets, max-pool ties), and bad input is a
//! clear error.

mod polytope_support;

use polytope_support::*;
use proptest::prelude::*;
use tessera_net::{mlp, Activation, GraphBuilder, Network, Op};
use tessera_regions::polytope::{count_regions, partition_neighborhood, Neighborhood, PolytopeOptions};
use tessera_regions::RegionError;

fn count(net: &Network<f64>, nbhd: &Neighborhood) -> (usize, Vec<usize>) {
    let c = count_regions(net, nbhd, &PolytopeOptions::default()).unwrap();
    (c.num_regions, c.layers.iter().map(|l| l.cutting_units).collect())
}

/// `net` (an MLP `[d, n, ..]`) with extra first-layer neurons: for each `(source, scale)`, a
/// copy of neuron `source` multiplied by `scale` (0 gives a neuron that is zero everywhere);
/// the extra neurons' outgoing weights are zero.
fn with_extra_neurons(net: &Network<f64>, extra: &[(usize, f64)]) -> Network<f64> {
    let widths: Vec<usize> = std::iter::once(net.input_width())
        .chain((1..net.nodes().len()).filter_map(|id| match net.node(id).op {
            Op::Dense { out_features, .. } => Some(out_features),
            _ => None,
        }))
        .collect();
    let (d, n) = (widths[0], widths[1]);
    let mut grown = widths.clone();
    grown[1] += extra.len();
    let mut out = mlp::<f64>(&grown, Activation::Relu).unwrap();
    for id in 1..net.nodes().len() {
        *out.params_mut(id) = net.params(id).clone();
    }
    let (w, b) = (&net.params(1).tensors[0], &net.params(1).tensors[1]);
    let p1 = out.params_mut(1);
    for &(source, scale) in extra {
        p1.tensors[0].extend(w[source * d..(source + 1) * d].iter().map(|v| v * scale));
        p1.tensors[1].push(b[source] * scale);
    }
    // The next dense layer reads the extra neurons with zero weights.
    let next = &mut out.params_mut(3).tensors[0];
    let rows = next.len() / n;
    *next = (0..rows)
        .flat_map(|r| net.params(3).tensors[0][r * n..(r + 1) * n].iter().copied().chain(extra.iter().map(|_| 0.0)))
        .collect();
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10, ..ProptestConfig::default() })]

    #[test]
    fn coincident_and_zero_neurons_add_no_region(seed in 0u64..10_000, dim in 2usize..4, deep in any::<bool>()) {
        let widths: &[usize] = if deep { &[6, 8, 6, 2] } else { &[6, 8, 2] };
        let net = random_mlp(widths, seed);
        let nbhd = neighborhood(6, dim, 1.5, seed);
        let (regions, cutting) = count(&net, &nbhd);
        let copies = [(0, 1.0), (1, 2.5), (2, -1.0), (2, -0.5), (3, 0.0)];
        let grown = with_extra_neurons(&net, &copies);
        let (grown_regions, grown_cutting) = count(&grown, &nbhd);
        prop_assert_eq!(grown_regions, regions);
        // Copies of cutting neurons cut too (their sign changes in the neighbourhood); the zero
        // neuron never does.
        let first = count_regions(&net, &nbhd, &PolytopeOptions::default()).unwrap();
        let part = partition_neighborhood(&net, &nbhd, &PolytopeOptions::default()).unwrap();
        let cuts = |j: usize| part.regions.iter().any(|r| r.codes[0][j] != part.regions[0].codes[0][j]);
        let copied_cutting = copies.iter().filter(|(j, s)| *s != 0.0 && cuts(*j)).count();
        prop_assert_eq!(grown_cutting[0], cutting[0] + copied_cutting);
        prop_assert_eq!(&grown_cutting[1..], &cutting[1..]);
        prop_assert_eq!(first.num_regions, regions);
    }
}

/// A one-hidden-layer net whose neurons are `beta + alpha . t` on `nbhd`.
fn neurons_in_t(nbhd: &Neighborhood, neurons: &[(Vec<f64>, f64)]) -> Network<f64> {
    let d = nbhd.center().len();
    let mut net = random_mlp(&[d, neurons.len(), 2], 1);
    for (j, (alpha, beta)) in neurons.iter().enumerate() {
        set_neuron_in_t(&mut net, nbhd, j, alpha, *beta);
    }
    net
}

#[test]
fn concurrent_lines_through_the_centre_give_two_regions_per_line() {
    let nbhd = neighborhood(5, 2, 0.7, 3);
    for k in 1..=4usize {
        let lines: Vec<(Vec<f64>, f64)> = (0..k)
            .map(|j| {
                let angle = 0.3 + std::f64::consts::PI * j as f64 / k as f64;
                (vec![angle.cos(), angle.sin()], 0.0)
            })
            .collect();
        let (regions, cutting) = count(&neurons_in_t(&nbhd, &lines), &nbhd);
        assert_eq!((regions, cutting[0]), (2 * k, k), "{k} concurrent lines");
    }
    // Three lines through (0.2, 0.1), away from the centre: 6 regions, not the generic 7.
    let off_centre = vec![(vec![1.0, 0.0], -0.2), (vec![0.0, 1.0], -0.1), (vec![1.0, 1.0], -0.3)];
    assert_eq!(count(&neurons_in_t(&nbhd, &off_centre), &nbhd), (6, vec![3]));
}

#[test]
fn concurrent_planes_through_the_centre_give_the_central_arrangement_count() {
    // Three generic planes through the origin of R^3 cut it into 8 octants-like cones.
    let nbhd = neighborhood(6, 3, 0.7, 4);
    let planes = vec![(vec![1.0, 0.2, -0.3], 0.0), (vec![0.1, 1.0, 0.4], 0.0), (vec![-0.2, 0.3, 1.0], 0.0)];
    assert_eq!(count(&neurons_in_t(&nbhd, &planes), &nbhd).0, 8);
}

#[test]
fn parallel_lines_and_lines_touching_a_vertex_or_a_facet_are_counted_right() {
    let nbhd = neighborhood(5, 2, 0.7, 5);
    let parallel = |a: f64| (vec![1.0, 0.0], -a);
    let mut lines: Vec<(Vec<f64>, f64)> = [-0.6, -0.2, 0.3, 0.7].into_iter().map(parallel).collect();
    assert_eq!(count(&neurons_in_t(&nbhd, &lines), &nbhd), (5, vec![4]));
    // Outside the domain, through the vertex e1 only (1 - t1 >= 0), along the facet
    // t1 + t2 = 1, and through the vertex -e2 from outside (t2 + 1 >= 0 with slope): none cuts.
    lines.push(parallel(1.5));
    lines.push((vec![-1.0, 0.0], 1.0));
    lines.push((vec![1.0, 1.0], -1.0));
    lines.push((vec![0.3, 1.0], 1.0));
    assert_eq!(count(&neurons_in_t(&nbhd, &lines), &nbhd), (5, vec![4]));
}

#[test]
fn a_network_that_is_zero_everywhere_has_one_region() {
    let mut net = random_mlp(&[6, 5, 5, 2], 2);
    for id in [1, 3] {
        net.params_mut(id).tensors.iter_mut().for_each(|t| t.iter_mut().for_each(|v| *v = 0.0));
    }
    let nbhd = neighborhood(6, 3, 2.0, 2);
    assert_eq!(count(&net, &nbhd), (1, vec![0, 0]));
}

#[test]
fn max_pool_ties_go_to_the_first_window_input_as_in_the_forward_pass() {
    // Pool the raw 2x2 input. On the neighbourhood x_0 = x_1 = 0.5 + r t1 / sqrt2,
    // x_2 = 0.5 + r t2 / sqrt2, x_3 = 0.5 - r t2 / sqrt2: input 1 always ties with input 0 and
    // never wins; the other three each win a cone.
    let mut b = GraphBuilder::new(&[1, 2, 2]);
    let pool =
        b.push("pool", Op::MaxPool2d { kernel: [2, 2], stride: [2, 2], padding: [0, 0], ceil_mode: false }, &[0]);
    let flat = b.flatten(pool);
    b.dense(flat, 1, 1);
    let mut net = b.build::<f64>().unwrap();
    net.init_pytorch_default(0, 1.0);
    let s = std::f64::consts::FRAC_1_SQRT_2;
    let frame = vec![s, s, 0.0, 0.0, 0.0, 0.0, s, -s];
    let nbhd = Neighborhood::new(vec![0.5; 4], frame, 2, 0.3).unwrap();
    let part = partition_neighborhood(&net, &nbhd, &PolytopeOptions::default()).unwrap();
    let mut winners: Vec<u32> = part.regions.iter().map(|r| r.codes[0][0]).collect();
    winners.sort();
    assert_eq!(winners, vec![0, 2, 3]);
    assert!(check_regions_against_forward(&net, &nbhd, &part) < 1e-12);
}

#[test]
fn constant_pool_inputs_tie_everywhere_and_leave_one_region() {
    let mut b = GraphBuilder::new(&[1, 4, 4]);
    let conv = b.conv3x3(0, 1, 1, 1, true);
    let pool =
        b.push("pool", Op::MaxPool2d { kernel: [2, 2], stride: [2, 2], padding: [0, 0], ceil_mode: false }, &[conv]);
    let flat = b.flatten(pool);
    b.dense(flat, 4, 2);
    let mut net = b.build::<f64>().unwrap();
    net.init_pytorch_default(0, 1.0);
    net.params_mut(1).tensors[0].iter_mut().for_each(|v| *v = 0.0);
    let nbhd = neighborhood(16, 3, 1.0, 6);
    let part = partition_neighborhood(&net, &nbhd, &PolytopeOptions::default()).unwrap();
    assert_eq!(part.count.num_regions, 1);
    assert_eq!(part.regions[0].codes[0], vec![0, 2, 8, 10]);
    assert!(check_regions_against_forward(&net, &nbhd, &part) < 1e-12);
}

#[test]
fn bad_neighborhoods_are_clear_errors() {
    let frame2 = frame(4, 2, 0);
    let point = vec![0.5; 4];
    let msg = |r: Result<Neighborhood, RegionError>| r.unwrap_err().to_string();
    for radius in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(msg(Neighborhood::new(point.clone(), frame2.clone(), 2, radius)).contains("radius"));
    }
    assert!(msg(Neighborhood::new(point.clone(), vec![], 0, 1.0)).contains("at least 1"));
    let too_many = msg(Neighborhood::new(point.clone(), frame(4, 4, 0).repeat(2), 8, 1.0));
    assert!(too_many.contains("P = 8") && too_many.contains("d = 4"), "{too_many}");
    assert!(msg(Neighborhood::new(point.clone(), frame2[..7].to_vec(), 2, 1.0)).contains("expected P x d"));
    let skew = vec![1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0];
    assert!(msg(Neighborhood::new(point.clone(), skew, 2, 1.0)).contains("not orthonormal"));
    let mut nan_point = point.clone();
    nan_point[2] = f64::NAN;
    assert!(msg(Neighborhood::new(nan_point, frame2, 2, 1.0)).contains("point has a non-finite value at index 2"));
}

#[test]
fn bad_counts_are_clear_errors() {
    let net = random_mlp(&[5, 8, 2], 0);
    let wrong_width = neighborhood(4, 2, 1.0, 0);
    let err = count_regions(&net, &wrong_width, &PolytopeOptions::default()).unwrap_err().to_string();
    assert!(err.contains("width 4") && err.contains("width 5"), "{err}");
    let nbhd = neighborhood(5, 2, 3.0, 0);
    let tiny = PolytopeOptions { max_regions: 2, ..PolytopeOptions::default() };
    let err = count_regions(&net, &nbhd, &tiny).unwrap_err().to_string();
    assert!(err.contains("more than 2 regions") && err.contains("act2"), "{err}");
    let zero_tol = PolytopeOptions { min_inradius: 0.0, ..PolytopeOptions::default() };
    assert!(count_regions(&net, &nbhd, &zero_tol).unwrap_err().to_string().contains("min_inradius"));
    let mut broken = net.clone();
    broken.params_mut(1).tensors[1][3] = f64::NAN;
    let err = count_regions(&broken, &nbhd, &PolytopeOptions::default()).unwrap_err().to_string();
    assert!(err.contains("non-finite"), "{err}");
}
