//! Point sets are streamed in batches: results do not depend on the batch size, and the
//! summary is the statistics of the per-point rows.

mod common;

use common::*;
use tessera_lc::{InMemoryPoints, LcError, LcOptions, LocalComplexity, Method, PointCounts, UniformBox};
use tessera_net::Activation;

fn collect(
    lc: &LocalComplexity<f64>,
    source: &mut dyn tessera_lc::PointSource,
) -> (Vec<PointCounts>, tessera_lc::SetSummary) {
    let mut rows = Vec::new();
    let summary = lc
        .run(source, |batch| {
            rows.extend_from_slice(batch);
            Ok::<_, LcError>(())
        })
        .unwrap();
    (rows, summary)
}

/// Batches are counted several at a time (one per thread, 3 here, so that 23 points in batches
/// of 5 leave a short last group); rows still come back in point order.
#[test]
fn batch_size_and_concurrent_batches_do_not_change_the_counts_or_their_order() {
    let net = random_mlp::<f64>(&[6, 12, 12, 3], Activation::Relu, 4);
    let points = random_points(23, 6, 0.0, 1.0, 9);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
    let mut results = Vec::new();
    for batch in [1, 5, 64] {
        let o = LcOptions { batch_points: Some(batch), ..options(6, 3, 2, &[0.1, 1.0], Method::Linearized) };
        let lc = LocalComplexity::new(&net, o).unwrap();
        let mut source = InMemoryPoints::new("train", 6, points.clone()).unwrap();
        results.push(pool.install(|| collect(&lc, &mut source).0));
    }
    assert_eq!(results[0], results[1]);
    assert_eq!(results[0], results[2]);
    assert_eq!(results[0].len(), 46);
    assert_eq!(results[0][3].index, 1);
    assert_eq!(results[0][3].radius, 1.0);
}

#[test]
fn the_summary_is_the_mean_and_spread_of_the_rows() {
    let net = random_mlp::<f64>(&[5, 10, 10, 2], Activation::Relu, 1);
    let lc = LocalComplexity::new(&net, options(5, 2, 0, &[0.3, 3.0], Method::Linearized)).unwrap();
    let mut source = UniformBox::cube("random", 5, 0.0, 1.0, 40, 3).unwrap();
    let (rows, summary) = collect(&lc, &mut source);
    assert_eq!((summary.set.as_str(), summary.points), ("random", 40));
    assert_eq!(summary.layers, ["layer_1", "layer_2"]);
    for (k, radius) in summary.radii.iter().enumerate() {
        let totals: Vec<f64> = rows.iter().filter(|r| r.radius_index == k).map(|r| f64::from(r.total())).collect();
        let mean = totals.iter().sum::<f64>() / 40.0;
        let var = totals.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / 39.0;
        assert!((radius.total.mean - mean).abs() < 1e-9);
        assert!((radius.total.std - var.sqrt()).abs() < 1e-9);
        assert!((radius.total.ci99 - 2.576 * var.sqrt() / 40f64.sqrt()).abs() < 1e-9);
        let layer_sum: f64 = radius.layers.iter().map(|l| l.mean).sum();
        assert!((layer_sum - mean).abs() < 1e-9);
    }
}
