//! Blocks of the model zoo exported by PyTorch (`fixtures/make_zoo_fixtures.py`), from both
//! exporters: a MobileNetV2 inverted residual (ReLU6 as ONNX Clip, a depthwise convolution, a
//! Hardtanh), a ResNeXt bottleneck (a grouped convolution), a DenseNet block (concatenation),
//! two ShuffleNetV2 units (split or slice, concatenation, channel shuffle) and GoogLeNet's
//! Inception block with ceil-mode pooling. They import with PyTorch's outputs, LC per layer
//! equal to a direct computation from the forward pass of every vertex, and exact slice
//! regions whose affine maps are the forward pass.

mod common;

use common::{assert_close, import, outputs, record};
use tessera_lc::{Directions, Frame, LcOptions, LocalComplexity, Method};
use tessera_net::{Activation, Mode, Network, Op, Tensor};
use tessera_regions::{partition_slice, PartitionOptions, Slice};

/// Relative agreement with PyTorch asked of the zoo blocks (the exporters fold batch norm into
/// the convolutions in float32).
const PYTORCH_REL: f64 = 1e-5;

/// The fixture names: each block from the dynamo exporter (external data) and TorchScript.
const BLOCKS: [&str; 10] = [
    "inverted_residual",
    "inverted_residual_torchscript",
    "resnext_block",
    "resnext_block_torchscript",
    "densenet_block",
    "densenet_block_torchscript",
    "shufflenet_unit",
    "shufflenet_unit_torchscript",
    "inception_block",
    "inception_block_torchscript",
];

/// The block's recorded outputs (the JSON is shared by both exporters' files).
fn record_of(name: &str) -> common::Record {
    record(name.trim_end_matches("_torchscript"))
}

#[test]
fn zoo_block_outputs_equal_pytorch_outputs_from_both_exporters() {
    for name in BLOCKS {
        let (net, _) = import(name);
        let rec = record_of(name);
        let y = outputs(&net, &rec);
        assert_close(&y, &rec.output_f32, PYTORCH_REL, &format!("{name}: vs PyTorch float32"));
        assert_close(&y, &rec.output_f64, PYTORCH_REL, &format!("{name}: vs PyTorch float64"));
    }
}

#[test]
fn inverted_residual_imports_relu6_and_hardtanh_as_clamps_and_a_depthwise_conv() {
    for name in &BLOCKS[..2] {
        let (net, _) = import(name);
        let activations: Vec<Activation> = net.activation_ids().iter().map(|&i| net.activation(i).unwrap()).collect();
        assert_eq!(activations, [Activation::RELU6, Activation::RELU6, Activation::Clamp { lo: -2.0, hi: 2.0 }]);
        let depthwise = net.nodes().iter().any(|n| matches!(n.op, Op::Conv2d { in_channels: 12, groups: 12, .. }));
        assert!(depthwise, "{name}: no depthwise conv");
    }
    let (net, _) = import("resnext_block");
    assert!(net.nodes().iter().any(|n| matches!(n.op, Op::Conv2d { in_channels: 8, groups: 4, .. })));
}

/// How many nodes of `net` satisfy `is`.
fn count_nodes(net: &Network<f64>, is: impl Fn(&Op) -> bool) -> usize {
    net.nodes().iter().filter(|n| is(&n.op)).count()
}

#[test]
fn densenet_shufflenet_and_inception_import_concats_shuffles_slices_and_ceil_mode_pools() {
    for suffix in ["", "_torchscript"] {
        let (net, _) = import(&format!("densenet_block{suffix}"));
        assert_eq!(count_nodes(&net, |op| *op == Op::Concat), 2, "densenet_block{suffix}");

        let (net, _) = import(&format!("shufflenet_unit{suffix}"));
        assert_eq!(count_nodes(&net, |op| *op == Op::Concat), 2, "shufflenet_unit{suffix}");
        assert_eq!(count_nodes(&net, |op| *op == Op::ChannelShuffle { groups: 2 }), 2, "shufflenet_unit{suffix}");
        // The stride-1 unit's chunk: the first half passes through, the second through the branch.
        let halves = [Op::SliceChannels { start: 0, end: 4 }, Op::SliceChannels { start: 4, end: 8 }];
        assert_eq!(count_nodes(&net, |op| halves.contains(op)), 2, "shufflenet_unit{suffix}");

        let (net, _) = import(&format!("inception_block{suffix}"));
        let ceil_max = count_nodes(&net, |op| matches!(op, Op::MaxPool2d { ceil_mode: true, .. }));
        let ceil_avg = count_nodes(&net, |op| matches!(op, Op::AvgPool2d { ceil_mode: true, padding: [1, 1], .. }));
        assert_eq!((ceil_max, ceil_avg), (2, 1), "inception_block{suffix}");
        // 8 x 8 -> 4 x 4 by the 3 x 3 / 2 max pool: rounding down would give 3 x 3.
        assert!(matches!(net.node(1).op, Op::MaxPool2d { .. }), "inception_block{suffix}");
        assert_eq!(net.shape(1), [4, 4, 4], "inception_block{suffix}");
    }
}

/// Per activation layer, the units whose pre-activation lies on more than one piece of the
/// activation over the 2P vertices, from a forward pass of every vertex.
fn direct_lc(net: &Network<f64>, frame: &Frame, x: &[f64], radius: f64) -> Vec<u32> {
    let vertices = Tensor::from_vec(net.input_shape(), frame.vertices(x, radius)).unwrap();
    let (_, taps) = net.forward_with_taps(&vertices, Mode::Eval, true).unwrap();
    net.activation_ids()
        .iter()
        .zip(&taps)
        .map(|(&id, pre)| {
            let activation = net.activation(id).unwrap();
            let width = pre.width();
            let piece = |v: usize, i: usize| activation.piece_at(pre.data[v * width + i]);
            (0..width).filter(|&i| (1..pre.batch).any(|v| piece(v, i) != piece(0, i))).count() as u32
        })
        .collect()
}

#[test]
fn zoo_block_lc_per_layer_equals_the_direct_computation() {
    for name in BLOCKS {
        let (net, _) = import(name);
        let rec = record_of(name);
        let width = net.input_width();
        let frame = Frame::random(width, 4, 3).unwrap();
        for radius in [0.3, 3.0, 30.0] {
            for method in [Method::Plain, Method::AffineShortcut, Method::Linearized] {
                let mut options = LcOptions::new(Directions::Shared(frame.clone()), vec![radius]);
                options.method = method;
                let lc = LocalComplexity::new(&net, options).unwrap();
                let counts = lc.count_points(&rec.input).unwrap();
                for (x, got) in rec.input.chunks(width).zip(&counts) {
                    let direct = direct_lc(&net, &frame, x, radius);
                    assert_eq!(got.per_layer, direct, "{name}, radius {radius}, {method:?}");
                }
            }
        }
        // The radii are large enough that every layer has some crossing around some point.
        let mut crossings = vec![0; net.activation_ids().len()];
        for x in rec.input.chunks(width) {
            crossings.iter_mut().zip(direct_lc(&net, &frame, x, 30.0)).for_each(|(c, d)| *c += d);
        }
        assert!(crossings.iter().all(|&c| c > 0), "{name}: {crossings:?}");
    }
}

#[test]
fn zoo_block_slice_regions_have_the_forward_pass_as_affine_maps() {
    for name in ["inverted_residual", "resnext_block", "densenet_block", "shufflenet_unit", "inception_block"] {
        let (net, _) = import(name);
        let rec = record_of(name);
        let slice = Slice::around_point(&rec.input[..net.input_width()], 0.5, 7).unwrap();
        let partition = partition_slice(&net, &slice, &PartitionOptions::default()).unwrap();
        assert!(partition.num_regions() > 1, "{name}: the slice crosses no kink");
        let points: Vec<f64> = partition.regions.iter().flat_map(|r| slice.point(r.interior_point())).collect();
        let y = net.forward(&Tensor::from_vec(net.input_shape(), points).unwrap(), Mode::Eval).unwrap();
        for (k, region) in partition.regions.iter().enumerate() {
            let mapped = region.evaluate(region.interior_point());
            assert_close(&mapped, y.row(k), 1e-9, &format!("{name}: region {k}"));
        }
    }
}
