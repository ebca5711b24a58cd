//! Inconsistent graphs are refused when the network is built, and a batch of the wrong width is
//! refused by forward, each with an error naming the node and the shapes involved.

use tessera_net::{mlp, Activation, GraphBuilder, Mode, NetError, Network, Node, Op, Tensor};

fn build_error(b: GraphBuilder) -> NetError {
    b.build::<f64>().expect_err("the graph is inconsistent")
}

#[test]
fn dense_with_wrong_in_features_is_refused_naming_the_node() {
    let mut b = GraphBuilder::new(&[5]);
    b.dense(0, 4, 3);
    let err = build_error(b);
    assert!(matches!(err, NetError::Shape { node: 1, .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("dense1") && message.contains("[4]") && message.contains("[5]"), "{message}");
}

#[test]
fn dense_on_an_image_without_flatten_is_refused() {
    let mut b = GraphBuilder::new(&[1, 2, 2]);
    b.dense(0, 4, 3);
    assert!(matches!(build_error(b), NetError::Shape { node: 1, .. }));
}

#[test]
fn conv_kernel_larger_than_the_padded_input_is_refused() {
    let mut b = GraphBuilder::new(&[1, 3, 3]);
    let op = Op::Conv2d {
        in_channels: 1,
        out_channels: 2,
        kernel: [5, 5],
        stride: [1, 1],
        padding: [0, 0],
        bias: true,
        groups: 1,
    };
    b.push("conv", op, &[0]);
    let message = build_error(b).to_string();
    assert!(message.contains("does not fit") && message.contains("[5, 5]"), "{message}");
}

#[test]
fn conv_with_wrong_input_channels_is_refused() {
    let mut b = GraphBuilder::new(&[3, 8, 8]);
    b.conv3x3(0, 2, 4, 1, true);
    let message = build_error(b).to_string();
    assert!(message.contains("[2, H, W]") && message.contains("[3, 8, 8]"), "{message}");
}

#[test]
fn pooling_window_that_does_not_fit_or_is_mostly_padding_is_refused() {
    let mut b = GraphBuilder::new(&[1, 2, 2]);
    b.push("pool", Op::MaxPool2d { kernel: [3, 3], stride: [1, 1], padding: [0, 0], ceil_mode: false }, &[0]);
    assert!(build_error(b).to_string().contains("does not fit"));
    let mut b = GraphBuilder::new(&[1, 4, 4]);
    b.push("pool", Op::AvgPool2d { kernel: [2, 2], stride: [2, 2], padding: [2, 2], ceil_mode: false }, &[0]);
    assert!(build_error(b).to_string().contains("padding"));
    let mut b = GraphBuilder::new(&[1, 4, 4]);
    b.push("pool", Op::MaxPool2d { kernel: [2, 2], stride: [0, 0], padding: [0, 0], ceil_mode: false }, &[0]);
    assert!(matches!(build_error(b), NetError::Shape { .. }));
}

#[test]
fn add_of_different_shapes_is_refused() {
    let mut b = GraphBuilder::new(&[4]);
    let d = b.dense(0, 4, 3);
    b.add(d, 0);
    let message = build_error(b).to_string();
    assert!(message.contains("different shapes") && message.contains("[3]") && message.contains("[4]"), "{message}");
}

#[test]
fn input_that_is_not_an_earlier_node_is_refused() {
    let mut b = GraphBuilder::new(&[4]);
    b.push("relu", Op::Activation { activation: Activation::Relu }, &[1]);
    let err = build_error(b);
    assert!(matches!(err, NetError::BadInput { node: 1, input: 1, .. }), "{err:?}");
    let mut b = GraphBuilder::new(&[4]);
    b.push("relu", Op::Activation { activation: Activation::Relu }, &[7]);
    assert!(build_error(b).to_string().contains("input 7 is not an earlier node"));
}

#[test]
fn wrong_number_of_inputs_and_misplaced_input_nodes_are_refused() {
    let mut b = GraphBuilder::new(&[4]);
    b.push("add", Op::Add, &[0]);
    assert!(build_error(b).to_string().contains("takes 2 input(s), got 1"));
    let mut b = GraphBuilder::new(&[4]);
    b.push("input", Op::Input { shape: vec![4] }, &[]);
    assert!(build_error(b).to_string().contains("only the first node"));
    let first_not_input = vec![Node { name: "x".into(), op: Op::Flatten, inputs: vec![] }];
    assert!(Network::<f64>::new(first_not_input).is_err());
    assert!(matches!(Network::<f64>::new(vec![]), Err(NetError::Empty)));
}

#[test]
fn batch_norm_over_the_wrong_channel_count_or_bad_eps_is_refused() {
    let mut b = GraphBuilder::new(&[3, 2, 2]);
    b.batch_norm(0, 2);
    assert!(matches!(build_error(b), NetError::Shape { .. }));
    let mut b = GraphBuilder::new(&[3]);
    b.push("bn", Op::BatchNorm { channels: 3, eps: 0.0, momentum: 0.1 }, &[0]);
    assert!(build_error(b).to_string().contains("eps > 0"));
}

#[test]
fn degenerate_shapes_are_refused() {
    assert!(GraphBuilder::new(&[0]).build::<f64>().is_err());
    assert!(mlp::<f64>(&[4], Activation::Relu).is_err());
    assert!(mlp::<f64>(&[4, 0, 2], Activation::Relu).is_err());
    let mut b = GraphBuilder::new(&[2]);
    b.activation(0, Activation::LeakyRelu { slope: f64::NAN });
    assert!(build_error(b).to_string().contains("slope"));
}

#[test]
fn forward_of_the_wrong_input_width_is_an_input_width_error() {
    let net = mlp::<f64>(&[4, 3, 2], Activation::Relu).unwrap();
    let x = Tensor::from_vec(&[5], vec![0.0; 10]).unwrap();
    let err = net.forward(&x, Mode::Eval).unwrap_err();
    assert!(matches!(err, NetError::InputWidth { got: 5, expected: 4, .. }), "{err:?}");
    assert!(err.to_string().contains("width 5") && err.to_string().contains("expects 4"));
    assert!(matches!(net.forward_tape(&x, Mode::Train), Err(NetError::InputWidth { .. })));
    assert!(matches!(net.forward_with_taps(&x, Mode::Eval, true), Err(NetError::InputWidth { .. })));
    assert!(matches!(net.pattern_at(&[0.0; 3]), Err(NetError::InputLength { .. }) | Err(NetError::InputWidth { .. })));
    assert!(net.affine_map_at(&[0.0; 7]).is_err());
}

#[test]
fn forward_of_a_tensor_whose_data_does_not_match_its_batch_is_refused() {
    let net = mlp::<f64>(&[4, 3, 2], Activation::Relu).unwrap();
    let x = Tensor { shape: vec![4], batch: 3, data: vec![0.0; 10] };
    let message = net.forward(&x, Mode::Eval).unwrap_err().to_string();
    assert!(message.contains("holds 10 values") && message.contains("batch 3"), "{message}");
}

#[test]
fn a_tensor_of_data_that_is_not_a_whole_number_of_samples_is_refused() {
    assert!(matches!(Tensor::<f32>::from_vec(&[3], vec![0.0; 7]), Err(NetError::InputLength { len: 7, width: 3 })));
}

#[test]
fn conv_groups_that_do_not_divide_the_channels_are_refused() {
    let mut b = GraphBuilder::new(&[4, 5, 5]);
    let op = Op::Conv2d {
        in_channels: 4,
        out_channels: 6,
        kernel: [3, 3],
        stride: [1, 1],
        padding: [1, 1],
        bias: true,
        groups: 4,
    };
    b.push("conv", op, &[0]);
    let message = build_error(b).to_string();
    assert!(message.contains("groups 4 must divide both 4 input and 6 output channels"), "{message}");
}
