//! Degenerate arrangements are handled and counted right, and bad input is a clear error.

mod common;

use common::assert_exact_partition;
use tessera_net::{mlp, Activation, GraphBuilder, Network, Op};
use tessera_regions::{activation_codes, partition_slice, path_transitions, PartitionOptions, RegionError, Slice};

/// The identity plane of a 2-D input space over the square `[-1, 1]^2`.
fn unit_square() -> Slice {
    Slice::new(vec![0.0, 0.0], vec![1.0, 0.0], vec![0.0, 1.0], &[[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])
        .unwrap()
}

/// A one-hidden-layer ReLU net on 2-D inputs whose neuron `i` is `w_i . x + b_i`, with a
/// second layer of two neurons and two outputs (weights fixed, non-degenerate).
fn net_with_neurons(neurons: &[([f64; 2], f64)]) -> Network<f64> {
    let n = neurons.len();
    let mut net = mlp::<f64>(&[2, n, 2, 2], Activation::Relu).unwrap();
    net.init_pytorch_default(7, 1.0);
    let p = net.params_mut(1);
    p.tensors[0] = neurons.iter().flat_map(|(w, _)| *w).collect();
    p.tensors[1] = neurons.iter().map(|(_, b)| *b).collect();
    net
}

fn partition(net: &Network<f64>, slice: &Slice) -> tessera_regions::Partition {
    let p = partition_slice(net, slice, &PartitionOptions::default()).unwrap();
    assert_exact_partition(net, slice, &p, 64);
    p
}

#[test]
fn neurons_sharing_one_hyperplane_count_as_one_boundary() {
    // u1 = -0.3 three times: scaled, and with the opposite orientation.
    let net = net_with_neurons(&[([1.0, 0.0], 0.3), ([2.0, 0.0], 0.6), ([-1.0, 0.0], -0.3)]);
    let slice = unit_square();
    let p = partition(&net, &slice);
    assert_eq!(p.layers[0].regions, 2);
    assert_eq!(p.layers[0].boundary.len(), 1);
    let path =
        path_transitions(&net, &[slice.point([-1.0, 0.1]), slice.point([1.0, 0.1])], &Default::default()).unwrap();
    let first_layer: Vec<u32> =
        path.transitions.iter().flat_map(|t| &t.units).filter(|u| u.layer == 0).map(|u| u.unit).collect();
    assert_eq!(first_layer, vec![0, 1, 2], "all three neurons switch at the same transition");
}

#[test]
fn lines_through_polygon_vertices_split_cleanly() {
    // The diagonal through two corners, two lines through the centre (a vertex of the
    // diagonal's pieces), and a line touching only the corner (1, 1).
    let net = net_with_neurons(&[([1.0, -1.0], 0.0), ([1.0, 0.0], 0.0), ([0.0, 1.0], 0.0), ([1.0, 1.0], -2.0)]);
    let p = partition(&net, &unit_square());
    assert_eq!(p.layers[0].regions, 6);
    assert_eq!(p.layers[0].boundary.iter().filter(|s| s.unit == 3).count(), 0, "a touching line is no boundary");
}

#[test]
fn parallel_lines_make_strips() {
    let net = net_with_neurons(&[([1.0, 0.0], 0.5), ([1.0, 0.0], 0.0), ([-2.0, 0.0], 1.0), ([1.0, 0.0], -0.25)]);
    let p = partition(&net, &unit_square());
    assert_eq!(p.layers[0].regions, 5);
}

#[test]
fn a_neuron_that_is_zero_everywhere_makes_no_boundary() {
    let net = net_with_neurons(&[([0.0, 0.0], 0.0), ([1.0, 0.5], 0.1), ([0.0, 0.0], 0.7)]);
    let p = partition(&net, &unit_square());
    assert_eq!(p.layers[0].regions, 2);
    assert!(p.layers[0].boundary.iter().all(|s| s.unit == 1));
}

#[test]
fn max_pool_ties_between_identical_inputs_follow_the_forward_pass() {
    // Pixels (x1, x2, x2, -x1) pooled 2x2: pixels 1 and 2 are the same function, so pixel 2
    // never wins; the winner switches between pixels 0, 1 and 3.
    let mut b = GraphBuilder::new(&[1, 2, 2]);
    let pool = Op::MaxPool2d { kernel: [2, 2], stride: [2, 2], padding: [0, 0], ceil_mode: false };
    let m = b.push("maxpool", pool, &[0]);
    let f = b.flatten(m);
    b.dense(f, 1, 1);
    let mut net: Network<f64> = b.build().unwrap();
    net.init_pytorch_default(1, 1.0);
    let domain = [[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]];
    let slice = Slice::new(vec![0.0; 4], vec![1.0, 0.0, 0.0, -1.0], vec![0.0, 1.0, 1.0, 0.0], &domain).unwrap();
    let p = partition(&net, &slice);
    // max(u1, u2, -u1) = |u1| or u2: three cells.
    assert_eq!(p.num_regions(), 3);
}

#[test]
fn wrong_widths_are_errors_naming_the_argument() {
    let net = mlp::<f64>(&[3, 4, 2], Activation::Relu).unwrap();
    let err = partition_slice(&net, &unit_square(), &PartitionOptions::default()).unwrap_err();
    assert!(matches!(err, RegionError::Width { expected: 3, got: 2, .. }), "{err}");
    assert!(err.to_string().contains("slice origin"));
    let err = path_transitions(&net, &[vec![0.0; 3], vec![1.0; 4]], &Default::default()).unwrap_err();
    assert!(err.to_string().contains("path point 1"), "{err}");
    let err = activation_codes(&net, &[0.0; 5]).unwrap_err();
    assert!(err.to_string().contains("input width 3"), "{err}");
    let err = Slice::through_points(&[0.0; 3], &[1.0; 3], &[1.0; 2], 1.2).unwrap_err();
    assert!(err.to_string().contains("anchor c"), "{err}");
}

#[test]
fn collinear_anchors_are_an_error() {
    let (a, b, c) = (vec![0.0, 1.0, 2.0], vec![1.0, 2.0, 3.0], vec![3.0, 4.0, 5.0]);
    assert!(matches!(Slice::through_points(&a, &b, &c, 1.2), Err(RegionError::CollinearAnchors)));
    assert!(matches!(Slice::through_points(&a, &a, &c, 1.2), Err(RegionError::CollinearAnchors)));
}

#[test]
fn non_convex_or_degenerate_domains_are_errors() {
    let e = || (vec![0.0, 0.0], vec![1.0, 0.0], vec![0.0, 1.0]);
    let (o, e1, e2) = e();
    let dart = [[0.0, 0.0], [2.0, 0.0], [1.0, 0.5], [1.0, 2.0]];
    let err = Slice::new(o, e1, e2, &dart).unwrap_err();
    assert!(err.to_string().contains("not convex"), "{err}");
    let (o, e1, e2) = e();
    assert!(matches!(Slice::new(o, e1, e2, &[[0.0, 0.0], [1.0, 1.0]]), Err(RegionError::Domain(_))));
    let (o, e1, _) = e();
    assert!(matches!(
        Slice::new(o, e1.clone(), e1, &[[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]),
        Err(RegionError::DependentDirections)
    ));
    // A domain edited into a non-convex shape after construction is refused at use.
    let mut slice = unit_square();
    slice.domain = dart.to_vec();
    let net = mlp::<f64>(&[2, 3, 2], Activation::Relu).unwrap();
    assert!(matches!(partition_slice(&net, &slice, &Default::default()), Err(RegionError::Domain(_))));
}

#[test]
fn non_finite_input_and_short_paths_are_errors() {
    let err = Slice::new(vec![f64::NAN, 0.0], vec![1.0, 0.0], vec![0.0, 1.0], &[[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        .unwrap_err();
    assert!(matches!(&err, RegionError::NonFinite { what, index: 0 } if what == "origin"), "{err}");
    assert!(Slice::around_point(&[0.0; 3], -1.0, 0).unwrap_err().to_string().contains("half_width"));
    let net = mlp::<f64>(&[2, 3, 2], Activation::Relu).unwrap();
    assert!(matches!(path_transitions(&net, &[vec![0.0; 2]], &Default::default()), Err(RegionError::Path(_))));
    let same = vec![vec![0.5; 2], vec![0.5; 2]];
    assert!(matches!(path_transitions(&net, &same, &Default::default()), Err(RegionError::Path(_))));
}

#[test]
fn too_many_regions_is_an_error_not_an_allocation() {
    let mut net = mlp::<f64>(&[2, 30, 2], Activation::Relu).unwrap();
    net.init_pytorch_default(3, 1.0);
    let options = PartitionOptions { max_regions: 3, ..Default::default() };
    let slice = Slice::around_point(&[0.0, 0.0], 5.0, 1).unwrap();
    assert!(matches!(partition_slice(&net, &slice, &options), Err(RegionError::TooManyRegions { limit: 3, .. })));
}
