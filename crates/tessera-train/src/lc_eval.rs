//! Local complexity at every evaluation step, measured by tessera-lc on fixed point sets: the
//! first `train_points` training samples, the first `test_points` test samples and
//! `random_points` points uniform in the data domain, with one frame (seeded once) shared by
//! every point and every step, as the reference code does.
//!
//! Columns, per set `S` in {train, test, random} and radius `R`: `lc_S_rR_mean`, `_std`,
//! `_ci99` of the total over counted layers, and with `per_layer` the mean of each layer,
//! `lc_S_rR_layer_k_mean` (the output layer comes last when `count_output_layer` is set, and is
//! then part of the total, as in the official code's MLP numbers). `layers` chooses the counted
//! activation layers; by default those the paper counts (see `LayerGroup::Auto`), BN always in
//! evaluation mode.

use tessera_data::Domain;
use tessera_lc::{
    Directions, Frame, InMemoryPoints, LayerSelection, LcError, LcOptions, LocalComplexity, PointSource, SetSummary,
    UniformBox,
};
use tessera_net::{Network, Scalar};

use crate::config::{CountedLayers, LayerGroup, LcConfig, RunConfig};
use crate::data::Points;
use crate::error::{Result, TrainError};
use crate::evaluate::{Evaluator, Metrics};

/// LC of train, test and random points at every radius.
pub struct LcEvaluator {
    frame: Frame,
    radii: Vec<f64>,
    count_output: bool,
    per_layer: bool,
    layers: CountedLayers,
    /// `(set name, row-major f64 coordinates)`.
    sets: Vec<(String, Vec<f64>)>,
    dim: usize,
}

impl LcEvaluator {
    /// Fix the frame and the point sets of a run.
    pub fn new<T: Scalar>(config: &LcConfig, train: &Points<T>, test: &Points<T>, domain: &Domain) -> Result<Self> {
        let dim = train.inputs.width();
        let lc_error = |e: LcError| TrainError::Lc(e.to_string());
        let frame = Frame::random(dim, config.p, RunConfig::seed_of(config.frame_seed)).map_err(lc_error)?;
        let as_f64 = |p: &Points<T>, n: usize| -> Vec<f64> {
            let rows = n.min(p.len());
            p.inputs.data[..rows * dim].iter().map(|v| v.to_f64()).collect()
        };
        let mut sets = vec![
            ("train".to_string(), as_f64(train, config.train_points)),
            ("test".to_string(), as_f64(test, config.test_points)),
        ];
        if config.random_points > 0 {
            let lower = domain.lower().iter().map(|&v| f64::from(v)).collect();
            let upper = domain.upper().iter().map(|&v| f64::from(v)).collect();
            let seed = RunConfig::seed_of(config.random_seed);
            let mut random = UniformBox::new("random", lower, upper, config.random_points, seed).map_err(lc_error)?;
            sets.push(("random".to_string(), random.next_batch(config.random_points).map_err(lc_error)?.coords));
        }
        sets.retain(|(_, coords)| !coords.is_empty());
        Ok(Self {
            frame,
            radii: config.radii.clone(),
            count_output: config.count_output_layer,
            per_layer: config.per_layer,
            layers: config.layers.clone(),
            sets,
            dim,
        })
    }
}

impl<T: Scalar> Evaluator<T> for LcEvaluator {
    fn name(&self) -> &str {
        "lc"
    }

    fn evaluate(&mut self, net: &Network<T>, _step: u64) -> Result<Metrics> {
        let mut options = LcOptions::new(Directions::Shared(self.frame.clone()), self.radii.clone());
        options.count_output = self.count_output;
        options.layers = layer_selection(&self.layers, net);
        let lc_error = |e: LcError| TrainError::Lc(e.to_string());
        let lc = LocalComplexity::new(net, options).map_err(lc_error)?;
        let mut metrics = Metrics::new();
        for (set, coords) in &self.sets {
            let mut points = InMemoryPoints::new(set.as_str(), self.dim, coords.clone()).map_err(lc_error)?;
            let summary = lc.run(&mut points, |_| Ok::<(), LcError>(())).map_err(lc_error)?;
            metrics.extend(summary_metrics(&summary, self.per_layer));
        }
        Ok(metrics)
    }
}

/// The metrics columns of one point set's LC, as a run records them: per radius `R`,
/// `lc_{SET}_r{R}_mean`, `_std` and `_ci99` of the total, and with `per_layer` the mean of each
/// counted layer, `lc_{SET}_r{R}_{LAYER}_mean` (`tessera lc --checkpoints` writes the same).
pub fn summary_metrics(summary: &SetSummary, per_layer: bool) -> Metrics {
    let mut metrics = Metrics::new();
    for radius in &summary.radii {
        let key = |what: &str| format!("lc_{}_r{}_{what}", summary.set, radius.radius);
        metrics.push((key("mean"), radius.total.mean));
        metrics.push((key("std"), radius.total.std));
        metrics.push((key("ci99"), radius.total.ci99));
        if per_layer {
            for (layer, stat) in summary.layers.iter().zip(&radius.layers) {
                metrics.push((key(&format!("{layer}_mean")), stat.mean));
            }
        }
    }
    metrics
}

/// The layers `layers` names on `net`: "auto" is the convolutional layers if `net` has any.
pub fn layer_selection<T: Scalar>(layers: &CountedLayers, net: &Network<T>) -> LayerSelection {
    match layers {
        CountedLayers::Numbers(numbers) => LayerSelection::Only(numbers.clone()),
        CountedLayers::Named(LayerGroup::All) => LayerSelection::All,
        CountedLayers::Named(LayerGroup::Conv) => LayerSelection::Convolutional,
        CountedLayers::Named(LayerGroup::Auto) => {
            let has_feature_maps = net.activation_ids().iter().any(|&id| net.shape(id).len() == 3);
            if has_feature_maps {
                LayerSelection::Convolutional
            } else {
                LayerSelection::All
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_net::{cnn, mlp, preact_resnet18, Activation, CnnSpec, NodeId, Op, Tensor};

    /// The nodes whose inputs LC counts under `layers`, with their widths.
    fn counted(net: &Network<f32>, layers: &CountedLayers) -> Vec<(NodeId, usize)> {
        let frame = Frame::random(net.input_width(), 2, 0).unwrap();
        let mut options = LcOptions::new(Directions::Shared(frame), vec![0.1]);
        options.layers = layer_selection(layers, net);
        let lc = LocalComplexity::new(net, options).unwrap();
        lc.layers().iter().map(|l| (l.node, l.width)).collect()
    }

    /// The op feeding node `id`.
    fn input_op(net: &Network<f32>, id: NodeId) -> &Op {
        &net.node(net.node(id).inputs[0]).op
    }

    #[test]
    fn default_layers_of_a_cnn_are_its_conv_layers_every_channel_and_position() {
        for batch_norm in [false, true] {
            let net = cnn::<f32>(&CnnSpec { batch_norm, ..CnnSpec::small_cifar() }).unwrap();
            let layers = counted(&net, &CountedLayers::default());
            assert_eq!(layers.iter().map(|l| l.1).collect::<Vec<_>>(), vec![32 * 32 * 32, 64 * 16 * 16]);
            let expected_feed = if batch_norm { "batch_norm" } else { "conv" };
            for (id, _) in &layers {
                let feed = input_op(&net, *id);
                let kind = if matches!(feed, Op::BatchNorm { .. }) { "batch_norm" } else { "conv" };
                assert!(matches!(feed, Op::BatchNorm { .. } | Op::Conv2d { .. }), "layer {id}");
                assert_eq!(kind, expected_feed);
            }
            // The dense head's ReLU is left out by default, counted with "all".
            assert_eq!(counted(&net, &CountedLayers::Named(LayerGroup::All)).len(), 3);
            assert_eq!(counted(&net, &CountedLayers::Numbers(vec![3])).len(), 1);
        }
    }

    #[test]
    fn default_layers_of_the_resnet_are_the_16_block_relus_residual_sums_included() {
        for batch_norm in [false, true] {
            let net = preact_resnet18::<f32>([3, 32, 32], 4, 10, batch_norm).unwrap();
            let layers = counted(&net, &CountedLayers::default());
            assert_eq!(layers.len(), 16);
            assert_eq!(layers[0].1, 4 * 32 * 32);
            assert_eq!(layers[15].1, 32 * 4 * 4);
            // Blocks 2..8 begin with the ReLU of the previous block's residual sum (through BN).
            let reads_sum = layers
                .iter()
                .filter(|(id, _)| {
                    let feed = net.node(*id).inputs[0];
                    let sum = if batch_norm { net.node(feed).inputs[0] } else { feed };
                    matches!(net.node(sum).op, Op::Add)
                })
                .count();
            assert_eq!(reads_sum, 7);
            if batch_norm {
                assert!(layers.iter().all(|(id, _)| matches!(input_op(&net, *id), Op::BatchNorm { .. })));
            }
        }
    }

    #[test]
    fn default_layers_of_an_mlp_are_all_hidden_layers_and_conv_is_refused() {
        let net = mlp::<f32>(&[6, 5, 4, 2], Activation::Relu).unwrap();
        assert_eq!(counted(&net, &CountedLayers::default()).len(), 2);
        let frame = Frame::random(6, 2, 0).unwrap();
        let mut options = LcOptions::new(Directions::Shared(frame), vec![0.1]);
        options.layers = layer_selection(&CountedLayers::Named(LayerGroup::Conv), &net);
        assert!(matches!(LocalComplexity::new(&net, options).err(), Some(LcError::NoConvolutionalLayers)));
    }

    #[test]
    fn point_sets_are_the_first_train_and_test_points_and_random_points_in_the_data_box() {
        let points = |offset: f32, n: usize| {
            let data: Vec<f32> = (0..n * 4).map(|i| offset + i as f32 / 100.0).collect();
            Points::new(Tensor::from_vec(&[4], data).unwrap(), vec![0; n])
        };
        let (train, test) = (points(0.0, 5), points(0.5, 6));
        let domain = Domain::new(vec![-1.0, 0.0, 2.0, 3.0], vec![-0.5, 0.1, 4.0, 3.5]).unwrap();
        let config = LcConfig { train_points: 3, test_points: 4, random_points: 50, ..LcConfig::default() };
        let config = LcConfig { frame_seed: Some(0), random_seed: Some(1), p: 2, ..config };
        let lc = LcEvaluator::new(&config, &train, &test, &domain).unwrap();
        let names: Vec<&str> = lc.sets.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["train", "test", "random"]);
        let as_f64 =
            |p: &Points<f32>, n: usize| -> Vec<f64> { p.inputs.data[..n * 4].iter().map(|&v| f64::from(v)).collect() };
        assert_eq!(lc.sets[0].1, as_f64(&train, 3));
        assert_eq!(lc.sets[1].1, as_f64(&test, 4));
        let random = &lc.sets[2].1;
        assert_eq!(random.len(), 50 * 4);
        for row in random.chunks(4) {
            for ((&v, &lo), &hi) in row.iter().zip(domain.lower()).zip(domain.upper()) {
                assert!(f64::from(lo) <= v && v <= f64::from(hi), "{v} outside [{lo}, {hi}]");
            }
        }
    }

    #[test]
    fn layers_are_read_from_the_config_and_auto_is_not_written() {
        let c = RunConfig::from_toml_str("[lc]\nlayers = \"conv\"\n", "t", &[]).unwrap();
        assert_eq!(c.lc.layers, CountedLayers::Named(LayerGroup::Conv));
        let c = RunConfig::from_toml_str("", "t", &["lc.layers=[1, 3]".into()]).unwrap();
        assert_eq!(c.lc.layers, CountedLayers::Numbers(vec![1, 3]));
        let default = RunConfig::from_toml_str("", "t", &[]).unwrap();
        assert!(!default.to_toml().unwrap().contains("layers"));
        assert!(RunConfig::from_toml_str("[lc]\nlayers = \"dense\"\n", "t", &[]).is_err());
    }
}
