//! Cross-crate checks through the facade: what is saved is what is measured, and the LC proxy
//! agrees with the exact partition where theory says it must.

use tessera::lc::{Directions, Frame, LcOptions, LocalComplexity};
use tessera::net::{mlp, Activation, Network};
use tessera::regions::polytope::{count_regions, Neighborhood, PolytopeOptions};
use tessera::regions::{partition_slice, PartitionOptions, Slice};

fn small_net(seed: u64) -> Network<f64> {
    let mut net = mlp(&[6, 12, 12, 3], Activation::Relu).unwrap();
    net.init_pytorch_default(seed, 1.0);
    net
}

#[test]
fn saved_model_reloads_with_identical_lc_and_slice_partition() {
    let net = small_net(3);
    let dir = tempfile::tempdir().unwrap();
    net.save(dir.path()).unwrap();
    let loaded = Network::<f64>::load(dir.path()).unwrap();
    let frame = Frame::random(6, 3, 1).unwrap();
    let points: Vec<f64> = (0..60).map(|i| ((i * 7919) % 101) as f64 / 50.0 - 1.0).collect();
    let lc_of = |n: &Network<f64>| {
        let lc = LocalComplexity::new(n, LcOptions::new(Directions::Shared(frame.clone()), vec![0.1, 0.5])).unwrap();
        lc.count_points(&points).unwrap()
    };
    assert_eq!(lc_of(&net), lc_of(&loaded));
    let slice = Slice::around_point(&points[..6], 1.5, 4).unwrap();
    let regions = |n: &Network<f64>| partition_slice(n, &slice, &PartitionOptions::default()).unwrap().num_regions();
    assert_eq!(regions(&net), regions(&loaded));
}

#[test]
fn first_layer_lc_equals_first_layer_neurons_cutting_the_exact_neighbourhood() {
    let net = small_net(9);
    let frame = Frame::random(6, 3, 2).unwrap();
    let center = [0.2, -0.1, 0.4, 0.0, 0.3, -0.2];
    for radius in [0.05, 0.3, 1.0] {
        let lc = LocalComplexity::new(&net, LcOptions::new(Directions::Shared(frame.clone()), vec![radius])).unwrap();
        let counts = lc.count_points(&center).unwrap();
        let nbhd = Neighborhood::new(center.to_vec(), frame.directions().to_vec(), frame.p(), radius).unwrap();
        let exact = count_regions(&net, &nbhd, &PolytopeOptions::default()).unwrap();
        assert_eq!(counts[0].per_layer[0] as usize, exact.layers[0].cutting_units, "r = {radius}");
        // Each cutting hyperplane adds at least one region.
        assert!(exact.num_regions > counts[0].per_layer[0] as usize);
    }
}
