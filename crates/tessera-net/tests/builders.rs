//! The ready-made architectures have the paper's sizes and run.

use tessera_net::{cnn, mlp, preact_resnet18, Activation, CnnSpec, Mode, Op, Tensor};

#[test]
fn paper_mlp_has_the_expected_parameter_count_and_layers() {
    let net = mlp::<f32>(&[784, 200, 200, 200, 10], Activation::Relu).unwrap();
    assert_eq!(net.num_parameters(), 784 * 200 + 200 + 2 * (200 * 200 + 200) + 200 * 10 + 10);
    assert_eq!(net.activation_ids().len(), 3);
    assert_eq!(net.input_shape(), &[784]);
    assert_eq!(net.output_width(), 10);
    assert_eq!(net.leading_affine_len(), 2);
}

#[test]
fn small_cifar_cnn_maps_32x32x3_images_to_10_logits() {
    let spec = CnnSpec::small_cifar();
    let mut net = cnn::<f32>(&spec).unwrap();
    assert_eq!(net.shape(net.output_id()), &[10]);
    let expected = (3 * 9 + 1) * 32 + (32 * 9 + 1) * 64 + (4096 + 1) * 128 + (128 + 1) * 10;
    assert_eq!(net.num_parameters(), expected);
    let pools = net.nodes().iter().filter(|n| matches!(n.op, Op::MaxPool2d { .. })).count();
    assert_eq!(pools, 2);
    net.init_pytorch_default(0, 1.0);
    let y = net.forward(&Tensor::zeros(2, &[3, 32, 32]), Mode::Eval).unwrap();
    assert_eq!((y.batch, y.shape.as_slice()), (2, &[10][..]));
}

#[test]
fn cnn_spec_survives_json() {
    let spec = CnnSpec { batch_norm: true, ..CnnSpec::small_cifar() };
    let text = serde_json::to_string(&spec).unwrap();
    assert_eq!(serde_json::from_str::<CnnSpec>(&text).unwrap(), spec);
}

#[test]
fn preact_resnet18_has_16_activation_layers_and_runs_on_two_images() {
    for batch_norm in [false, true] {
        let mut net = preact_resnet18::<f32>([3, 32, 32], 16, 10, batch_norm).unwrap();
        assert_eq!(net.activation_ids().len(), 16);
        assert_eq!(net.nodes().iter().filter(|n| matches!(n.op, Op::Add)).count(), 8);
        let bn = net.nodes().iter().filter(|n| matches!(n.op, Op::BatchNorm { .. })).count();
        assert_eq!(bn, if batch_norm { 16 } else { 0 });
        assert_eq!(net.shape(net.output_id()), &[10]);
        net.init_pytorch_default(1, 1.0);
        let x =
            Tensor::from_vec(&[3, 32, 32], (0..2 * 3 * 32 * 32).map(|i| ((i % 97) as f32) / 97.0).collect()).unwrap();
        let (y, taps) = net.forward_with_taps(&x, Mode::Eval, true).unwrap();
        assert_eq!(y.batch, 2);
        assert!(y.data.iter().all(|v| v.is_finite()));
        assert_eq!(taps.len(), 16);
        assert_eq!(taps[0].shape, vec![16, 32, 32]);
        assert_eq!(taps[15].shape, vec![128, 4, 4]);
    }
}
