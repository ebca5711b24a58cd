//! Small graphs built with the protobuf types: the attributes and foldings the PyTorch fixtures
//! do not exercise compute what ONNX defines.

mod common;

use common::*;
use proptest::prelude::*;
use tessera_net::{Mode, Network, Op, Tensor};

fn forward(net: &Network<f64>, x: &[f64]) -> Vec<f64> {
    net.forward(&Tensor::from_vec(net.input_shape(), x.to_vec()).expect("input"), Mode::Eval).expect("forward").data
}

fn kinds(net: &Network<f64>) -> Vec<&'static str> {
    net.nodes().iter().map(|n| n.op.kind_name()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// ONNX Gemm is `alpha * A * op(B) + beta * C`, with `op(B) = B^T` when `transB = 1`.
    #[test]
    fn gemm_import_computes_alpha_a_op_b_plus_beta_c(
        trans_b in any::<bool>(),
        alpha in -2.0f32..2.0,
        beta in -2.0f32..2.0,
        b in prop::collection::vec(-1.0f32..1.0, 6),
        c in prop::collection::vec(-1.0f32..1.0, 3),
        x in prop::collection::vec(-1.0f64..1.0, 2),
    ) {
        let b_dims: [i64; 2] = if trans_b { [3, 2] } else { [2, 3] };
        let attributes = vec![
            float_attribute("alpha", alpha),
            float_attribute("beta", beta),
            int_attribute("transB", trans_b as i64),
        ];
        let nodes = vec![onnx_node("Gemm", &["x", "b", "c"], "y", attributes)];
        let model = model_of(&[2], nodes, vec![initializer("b", &b_dims, &b), initializer("c", &[3], &c)]);
        let (net, _) = import_model(&model).expect("import");
        let (alpha, beta) = (alpha.to_string().parse::<f64>().unwrap(), beta.to_string().parse::<f64>().unwrap());
        let b_at = |k: usize, m: usize| if trans_b { b[m * 2 + k] } else { b[k * 3 + m] } as f64;
        let expected: Vec<f64> =
            (0..3).map(|m| alpha * (0..2).map(|k| x[k] * b_at(k, m)).sum::<f64>() + beta * c[m] as f64).collect();
        let y = forward(&net, &x);
        for (got, want) in y.iter().zip(&expected) {
            prop_assert!((got - want).abs() <= 1e-12 * (1.0 + want.abs()), "{y:?} vs {expected:?}");
        }
    }
}

#[test]
fn matmul_with_constant_node_weights_and_bias_is_one_dense_layer() {
    let weight = tessera_onnx::proto::AttributeProto {
        t: Some(initializer("", &[2, 2], &[1.0, 2.0, 3.0, 4.0])),
        ..tensor_attribute("value")
    };
    let nodes = vec![
        onnx_node("Constant", &[], "w", vec![weight]),
        onnx_node("Constant", &[], "c", vec![floats_attribute("value_floats", &[0.5, -0.5])]),
        onnx_node("MatMul", &["x", "w"], "m", vec![]),
        onnx_node("Add", &["c", "m"], "y", vec![]),
    ];
    let (net, _) = import_model(&model_of(&[2], nodes, vec![])).expect("import");
    assert_eq!(kinds(&net), ["input", "dense"]);
    // [1, 1] . [[1, 2], [3, 4]] + [0.5, -0.5]
    assert_eq!(forward(&net, &[1.0, 1.0]), vec![4.5, 5.5]);
}

#[test]
fn conv_auto_pad_same_is_symmetric_padding_and_an_odd_total_is_refused() {
    let conv = |kernel: i64| {
        let values = vec![1.0; (kernel * kernel) as usize];
        let nodes = vec![onnx_node("Conv", &["x", "w"], "y", vec![string_attribute("auto_pad", "SAME_UPPER")])];
        model_of(&[1, 4, 4], nodes, vec![initializer("w", &[1, 1, kernel, kernel], &values)])
    };
    let (net, _) = import_model(&conv(3)).expect("a 3x3 SAME convolution pads 1 on each side");
    assert!(matches!(net.node(1).op, Op::Conv2d { padding: [1, 1], .. }));
    assert_eq!(net.shape(1), [1, 4, 4]);
    let message = import_model(&conv(2)).expect_err("a 2x2 SAME convolution pads one side only").to_string();
    assert!(message.contains("auto_pad=SAME_UPPER") && message.contains("cannot be split evenly"), "{message}");
}

#[test]
fn spatial_mean_without_keepdims_is_a_global_average_pool_then_flatten() {
    let attributes = vec![ints_attribute("axes", &[-2, -1]), int_attribute("keepdims", 0)];
    let model = model_of(&[2, 2, 2], vec![onnx_node("ReduceMean", &["x"], "y", attributes)], vec![]);
    let (net, _) = import_model(&model).expect("import");
    assert_eq!(kinds(&net), ["input", "avg_pool2d", "flatten"]);
    assert_eq!(forward(&net, &[1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 0.0, 8.0]), vec![2.5, 2.0]);
    let channel_mean =
        model_of(&[2, 2, 2], vec![onnx_node("ReduceMean", &["x"], "y", vec![ints_attribute("axes", &[1])])], vec![]);
    let message = import_model(&channel_mean).expect_err("a mean over channels is not pooling").to_string();
    assert!(message.contains("ReduceMean over axes [1]"), "{message}");
}

#[test]
fn global_max_pool_and_bias_added_to_a_biasless_conv() {
    let nodes = vec![
        onnx_node("Conv", &["x", "w"], "conv", vec![]),
        onnx_node("Add", &["conv", "c"], "biased", vec![]),
        onnx_node("GlobalMaxPool", &["biased"], "y", vec![]),
    ];
    let initializers =
        vec![initializer("w", &[2, 1, 1, 1], &[1.0, -1.0]), initializer("c", &[1, 2, 1, 1], &[10.0, 20.0])];
    let (net, _) = import_model(&model_of(&[1, 2, 2], nodes, initializers)).expect("import");
    assert_eq!(kinds(&net), ["input", "conv2d", "max_pool2d"]);
    assert!(matches!(net.node(1).op, Op::Conv2d { bias: true, .. }));
    assert_eq!(forward(&net, &[1.0, 2.0, 3.0, -4.0]), vec![13.0, 24.0]);
}

/// ceil_mode=1 (PyTorch's rule) adds a partial last window: on 5 x 5 a 2 x 2 / 2 pool has
/// 3 x 3 outputs; the max is over the window's cells inside the input, the average divides by
/// them (no padding here).
#[test]
fn pools_in_ceil_mode_have_partial_border_windows() {
    let pool = |op_type: &str| {
        let attributes = vec![
            ints_attribute("kernel_shape", &[2, 2]),
            ints_attribute("strides", &[2, 2]),
            int_attribute("ceil_mode", 1),
        ];
        model_of(&[1, 5, 5], vec![onnx_node(op_type, &["x"], "y", attributes)], vec![])
    };
    let x: Vec<f64> = (0..25).map(f64::from).collect();
    let (net, _) = import_model(&pool("MaxPool")).expect("import");
    assert!(matches!(net.node(1).op, Op::MaxPool2d { ceil_mode: true, .. }));
    assert_eq!(net.shape(1), [1, 3, 3]);
    assert_eq!(forward(&net, &x), vec![6.0, 8.0, 9.0, 16.0, 18.0, 19.0, 21.0, 23.0, 24.0]);
    let (net, _) = import_model(&pool("AveragePool")).expect("import");
    let y = forward(&net, &x);
    assert_eq!((y[0], y[2], y[8]), (3.0, 6.5, 24.0), "{y:?}");
}

/// Split (two outputs), Concat of network tensors, the channel shuffle's Reshape / Transpose /
/// Reshape and a channel Slice route the channels as ONNX defines; any other reshape of the
/// grouped view, and a Transpose of a plain tensor, are refused.
#[test]
fn split_concat_shuffle_and_slice_route_channels() {
    let ints =
        |name: &str, values: &[i64]| onnx_node("Constant", &[], name, vec![ints_attribute("value_ints", values)]);
    let nodes_until_transpose = || {
        let mut split = onnx_node("Split", &["x"], "a", vec![int_attribute("axis", 1)]);
        split.output.push("b".into());
        vec![
            split,
            onnx_node("Concat", &["b", "a"], "ba", vec![int_attribute("axis", 1)]),
            ints("grouped", &[-1, 2, 2, 1, 1]),
            onnx_node("Reshape", &["ba", "grouped"], "view", vec![]),
            onnx_node("Transpose", &["view"], "swapped", vec![ints_attribute("perm", &[0, 2, 1, 3, 4])]),
        ]
    };
    let mut nodes = nodes_until_transpose();
    nodes.extend([
        ints("flat", &[-1, 4, 1, 1]),
        onnx_node("Reshape", &["swapped", "flat"], "shuffled", vec![]),
        ints("starts", &[1]),
        ints("ends", &[3]),
        ints("axes", &[1]),
        onnx_node("Slice", &["shuffled", "starts", "ends", "axes"], "y", vec![]),
    ]);
    let (net, _) = import_model(&model_of(&[4, 1, 1], nodes, vec![])).expect("import");
    let routing = ["slice_channels", "slice_channels", "concat", "channel_shuffle", "slice_channels"];
    assert_eq!(kinds(&net)[1..], routing);
    // [0, 1, 2, 3] -> halves [0, 1], [2, 3] -> [2, 3, 0, 1] -> shuffled [2, 0, 3, 1] -> [0, 3].
    assert_eq!(forward(&net, &[0.0, 1.0, 2.0, 3.0]), vec![0.0, 3.0]);

    // Flattening the transposed view directly would lose the shuffle's order: refused.
    let mut flattened = nodes_until_transpose();
    flattened.extend([ints("flat", &[-1, 4]), onnx_node("Reshape", &["swapped", "flat"], "y", vec![])]);
    let message = import_model(&model_of(&[4, 1, 1], flattened, vec![])).expect_err("a flattened view").to_string();
    assert!(message.contains("only back to [batch, 4, 1, 1]"), "{message}");

    let transpose = vec![onnx_node("Transpose", &["x"], "y", vec![ints_attribute("perm", &[0, 1, 3, 2])])];
    let message = import_model(&model_of(&[1, 2, 2], transpose, vec![])).expect_err("a plain transpose").to_string();
    assert!(message.contains("Transpose with perm [0, 1, 3, 2] is not supported"), "{message}");
}

/// Clip with constant bounds, as inputs (opset 11 on) or attributes (before), is a clamp; a
/// lower bound of 0 alone is a ReLU; a bound computed by the network, or an upper bound alone,
/// is refused naming the node.
#[test]
fn clip_with_constant_bounds_is_a_clamp_and_other_bounds_are_refused() {
    let x = [-7.0, -0.5, 0.0, 3.0, 6.0, 9.0];
    let inputs = model_of(
        &[6],
        vec![onnx_node("Clip", &["x", "lo", "hi"], "y", vec![])],
        vec![initializer("lo", &[], &[0.0]), initializer("hi", &[], &[6.0])],
    );
    let (net, _) = import_model(&inputs).expect("import");
    assert_eq!(net.activation(1), Some(tessera_net::Activation::RELU6));
    assert_eq!(forward(&net, &x), vec![0.0, 0.0, 0.0, 3.0, 6.0, 6.0]);
    let attributes = vec![float_attribute("min", -1.0), float_attribute("max", 1.0)];
    let (net, _) = import_model(&model_of(&[6], vec![onnx_node("Clip", &["x"], "y", attributes)], vec![])).unwrap();
    assert_eq!(forward(&net, &x), vec![-1.0, -0.5, 0.0, 1.0, 1.0, 1.0]);
    let lower_only =
        model_of(&[6], vec![onnx_node("Clip", &["x", "lo"], "y", vec![])], vec![initializer("lo", &[], &[0.0])]);
    let (net, _) = import_model(&lower_only).expect("import");
    assert_eq!(net.activation(1), Some(tessera_net::Activation::Relu));
    let upper_only =
        model_of(&[6], vec![onnx_node("Clip", &["x", "", "hi"], "y", vec![])], vec![initializer("hi", &[], &[6.0])]);
    let message = import_model(&upper_only).expect_err("min(x, 6) alone").to_string();
    assert!(message.contains("'my_clip'") && message.contains("min -inf, max 6"), "{message}");
    let computed = model_of(&[6], vec![onnx_node("Clip", &["x", "x"], "y", vec![])], vec![]);
    let message = import_model(&computed).expect_err("a bound from the network").to_string();
    assert!(message.contains("min bound") && message.contains("must be a constant"), "{message}");
}

/// ONNX `group`: the weight's second axis holds one group's input channels; a depthwise 1x1
/// conv scales each channel by its own weight.
#[test]
fn depthwise_conv_group_scales_each_channel_by_its_own_weight() {
    let nodes = vec![onnx_node("Conv", &["x", "w"], "y", vec![int_attribute("group", 2)])];
    let initializers = vec![initializer("w", &[2, 1, 1, 1], &[2.0, -3.0])];
    let (net, _) = import_model(&model_of(&[2, 1, 2], nodes, initializers)).expect("import");
    assert!(matches!(net.node(1).op, Op::Conv2d { in_channels: 2, out_channels: 2, groups: 2, .. }));
    assert_eq!(forward(&net, &[1.0, 2.0, 3.0, 4.0]), vec![2.0, 4.0, -9.0, -12.0]);
}
