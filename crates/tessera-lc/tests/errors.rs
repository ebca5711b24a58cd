//! Bad input gives an error that names the problem; nothing panics.

mod common;

use common::*;
use tessera_lc::{
    Directions, Frame, InMemoryPoints, LayerSelection, LcError, LcOptions, LocalComplexity, Method, PointBatch,
    UniformBox,
};
use tessera_net::Activation;

fn net() -> tessera_net::Network<f64> {
    random_mlp(&[4, 5, 2], Activation::Relu, 0)
}

fn shared(p: usize) -> Directions {
    Directions::Shared(Frame::random(4, p, 0).unwrap())
}

#[test]
fn a_frame_of_the_wrong_width_is_rejected() {
    let frame = Frame::random(3, 2, 0).unwrap();
    let err = LocalComplexity::new(&net(), LcOptions::new(Directions::Shared(frame), vec![0.1])).err().unwrap();
    assert!(matches!(err, LcError::FrameWidth { got: 3, expected: 4, .. }), "{err}");
    assert!(err.to_string().contains("3 coordinates") && err.to_string().contains("has 4"), "{err}");
}

#[test]
fn more_directions_than_input_dimensions_is_rejected() {
    assert!(matches!(Frame::random(4, 5, 0), Err(LcError::TooManyDirections { p: 5, dim: 4, .. })));
    let o = LcOptions::new(Directions::PerPoint { p: 5, seed: 0 }, vec![0.1]);
    let err = LocalComplexity::new(&net(), o).err().unwrap();
    assert!(matches!(err, LcError::TooManyDirections { p: 5, dim: 4, .. }), "{err}");
    let o = LcOptions::new(Directions::PerPoint { p: 0, seed: 0 }, vec![0.1]);
    assert!(matches!(LocalComplexity::new(&net(), o), Err(LcError::NoDirections { .. })));
}

#[test]
fn radii_must_be_positive_and_finite() {
    for bad in [0.0, -0.5, f64::NAN, f64::INFINITY] {
        let err = LocalComplexity::new(&net(), LcOptions::new(shared(2), vec![0.1, bad])).err().unwrap();
        assert!(matches!(err, LcError::BadRadius { .. }), "{bad}: {err}");
    }
    let err = LocalComplexity::new(&net(), LcOptions::new(shared(2), vec![])).err().unwrap();
    assert!(matches!(err, LcError::NoRadii), "{err}");
}

#[test]
fn points_of_the_wrong_width_are_rejected() {
    let net = net();
    let lc = LocalComplexity::new(&net, LcOptions::new(shared(2), vec![0.1])).unwrap();
    let batch = PointBatch { indices: vec![0, 1], coords: vec![0.0; 6] };
    assert!(matches!(lc.count_batch(&batch), Err(LcError::PointWidth { got: 3, expected: 4, .. })));
    let mut source = InMemoryPoints::new("three-d", 3, vec![0.0; 9]).unwrap();
    let err = lc.run(&mut source, |_| Ok::<_, LcError>(())).unwrap_err();
    assert!(err.to_string().contains("three-d") && err.to_string().contains("3 coordinates"), "{err}");
    let batch = PointBatch { indices: vec![7], coords: vec![0.0, f64::NAN, 0.0, 0.0] };
    let err = lc.count_batch(&batch).unwrap_err();
    assert!(matches!(err, LcError::NonFinitePoint { index: 7, coordinate: 1, .. }), "{err}");
}

#[test]
fn an_empty_point_set_is_rejected() {
    let net = net();
    for method in METHODS {
        let lc = LocalComplexity::new(&net, options(4, 2, 0, &[0.1], method)).unwrap();
        let mut source = UniformBox::cube("nothing", 4, 0.0, 1.0, 0, 0).unwrap();
        let err = lc.run(&mut source, |_| Ok::<_, LcError>(())).unwrap_err();
        assert!(matches!(&err, LcError::EmptyPointSet { set } if set == "nothing"), "{err}");
        assert!(matches!(lc.count_points(&[]), Err(LcError::EmptyPointSet { .. })));
    }
}

#[test]
fn layer_selection_must_name_existing_layers() {
    let mut o = LcOptions::new(shared(2), vec![0.1]);
    o.layers = LayerSelection::Only(vec![2]);
    let err = LocalComplexity::new(&net(), o.clone()).err().unwrap();
    assert!(matches!(err, LcError::LayerOutOfRange { index: 2, available: 1 }), "{err}");
    assert!(err.to_string().contains("has 1 activation layer,"), "singular for one layer: {err}");
    o.layers = LayerSelection::Only(vec![]);
    assert!(matches!(LocalComplexity::new(&net(), o), Err(LcError::NoLayers)));
}

#[test]
fn a_network_without_activations_counts_only_its_output() {
    let linear = random_mlp::<f64>(&[4, 2], Activation::Relu, 0);
    let o = LcOptions { method: Method::Linearized, ..LcOptions::new(shared(2), vec![0.1]) };
    assert!(matches!(LocalComplexity::new(&linear, o.clone()), Err(LcError::NoLayers)));
    let c = counts(&linear, o.reference_compatible(), &[0.5; 4]);
    assert_eq!(c[0].per_layer.len(), 1);
}
