//! A PyTorch `nn.Sequential` (printed architecture + state dict in safetensors) loads into the IR
//! and computes exactly what the network it came from computes.

use safetensors::tensor::{Dtype, TensorView};
use std::path::Path;
use tessera_net::pytorch::load_sequential;
use tessera_net::{Mode, Network, Tensor};

/// What `print(model)` shows for the fixture model, with the input-shape line tessera needs.
const PRINTED: &str = "input: 1,8,8
Sequential(
  (0): Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
  (1): BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
  (2): ReLU()
  (3): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
  (4): Flatten(start_dim=1, end_dim=-1)
  (5): Linear(in_features=64, out_features=10, bias=True)
  (6): LeakyReLU(negative_slope=0.1)
  (7): Dropout(p=0.5, inplace=False)
  (8): Linear(in_features=10, out_features=3, bias=True)
)
";

/// Write `net`'s parameters under PyTorch's Sequential keys, as `safetensors.torch.save_file` does.
fn write_state_dict(net: &Network<f32>, torch_index: &[usize], path: &Path) {
    let mut entries: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    let with_params: Vec<usize> =
        (0..net.nodes().len()).filter(|&i| !net.node(i).op.param_names().is_empty()).collect();
    for (&node, &index) in with_params.iter().zip(torch_index) {
        let p = net.params(node);
        let shapes = net.node(node).op.param_shapes();
        let mut tensors: Vec<(&str, Vec<usize>, &Vec<f32>)> =
            net.node(node).op.param_names().iter().zip(shapes).zip(&p.tensors).map(|((n, s), t)| (*n, s, t)).collect();
        if let Some(r) = &p.running {
            tensors.push(("running_mean", vec![r.mean.len()], &r.mean));
            tensors.push(("running_var", vec![r.var.len()], &r.var));
        }
        for (name, shape, values) in tensors {
            let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            entries.push((format!("{index}.{name}"), shape, bytes));
        }
    }
    let views: Vec<(String, TensorView)> =
        entries.iter().map(|(n, s, b)| (n.clone(), TensorView::new(Dtype::F32, s.clone(), b).unwrap())).collect();
    std::fs::write(path, safetensors::serialize(views, &None).unwrap()).unwrap();
}

fn native_twin() -> Network<f32> {
    use tessera_net::{Activation, GraphBuilder, Op};
    let mut b = GraphBuilder::new(&[1, 8, 8]);
    let c = b.conv3x3(0, 1, 4, 1, true);
    let n = b.batch_norm(c, 4);
    let a = b.activation(n, Activation::Relu);
    let p = b.push("pool", Op::MaxPool2d { kernel: [2, 2], stride: [2, 2], padding: [0, 0], ceil_mode: false }, &[a]);
    let f = b.flatten(p);
    let d = b.dense(f, 64, 10);
    let l = b.activation(d, Activation::LeakyRelu { slope: 0.1 });
    b.dense(l, 10, 3);
    let mut net: Network<f32> = b.build().unwrap();
    net.init_pytorch_default(7, 1.0);
    let bn = net.params_mut(2).running.as_mut().unwrap();
    bn.mean = vec![0.1, -0.2, 0.3, 0.0];
    bn.var = vec![1.5, 0.5, 2.0, 1.0];
    net
}

fn write_fixture(dir: &Path, printed: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let arch = dir.join("model.txt");
    let weights = dir.join("model.safetensors");
    std::fs::write(&arch, printed).unwrap();
    write_state_dict(&native_twin(), &[0, 1, 5, 8], &weights);
    (arch, weights)
}

#[test]
fn imported_sequential_gives_bit_identical_outputs_to_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let (arch, weights) = write_fixture(dir.path(), PRINTED);
    let imported: Network<f32> = load_sequential(&arch, &weights).unwrap();
    let native = native_twin();
    let x = Tensor::from_vec(&[1, 8, 8], (0..128).map(|i| ((i * 37 % 17) as f32 - 8.0) / 5.0).collect()).unwrap();
    assert_eq!(imported.forward(&x, Mode::Eval).unwrap(), native.forward(&x, Mode::Eval).unwrap());
}

#[test]
fn unsupported_module_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let (arch, weights) = write_fixture(dir.path(), &PRINTED.replace("ReLU()", "GELU(approximate='none')"));
    let err = load_sequential::<f32>(&arch, &weights).unwrap_err().to_string();
    assert!(err.contains("GELU") && err.contains("model.txt"), "{err}");
}

#[test]
fn unsupported_conv_attribute_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let printed = PRINTED.replace("padding=(1, 1))", "padding=(1, 1), dilation=(2, 2))");
    let (arch, weights) = write_fixture(dir.path(), &printed);
    let err = load_sequential::<f32>(&arch, &weights).unwrap_err().to_string();
    assert!(err.contains("dilation=(2, 2)"), "{err}");
    // Groups load, but must divide the channels (the first conv has one input channel).
    let printed = PRINTED.replace("padding=(1, 1))", "padding=(1, 1), groups=2)");
    let (arch, weights) = write_fixture(dir.path(), &printed);
    let err = load_sequential::<f32>(&arch, &weights).unwrap_err().to_string();
    assert!(err.contains("groups 2 must divide both 1 input and 4 output channels"), "{err}");
}

#[test]
fn missing_input_shape_line_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let (arch, weights) = write_fixture(dir.path(), &PRINTED.replace("input: 1,8,8\n", ""));
    let err = load_sequential::<f32>(&arch, &weights).unwrap_err().to_string();
    assert!(err.contains("input"), "{err}");
}

#[test]
fn missing_state_dict_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    // Index 5 in the text but the state dict stores the Linear under "5.": shift it to 6.
    let printed = PRINTED.replace("(5): Linear", "(6): Linear").replace("(6): LeakyReLU", "(5): LeakyReLU");
    let (arch, weights) = write_fixture(dir.path(), &printed);
    let err = load_sequential::<f32>(&arch, &weights).unwrap_err().to_string();
    assert!(err.contains("6.weight"), "{err}");
}

#[test]
fn nested_sequential_is_refused_naming_the_module() {
    let dir = tempfile::tempdir().unwrap();
    let nested = "input: 4\nSequential(\n  (0): Linear(in_features=4, out_features=3, bias=True)\n  (1): Sequential(\n    (0): ReLU()\n  )\n)\n";
    let (arch, weights) = write_fixture(dir.path(), nested);
    let err = load_sequential::<f32>(&arch, &weights).unwrap_err();
    assert!(matches!(err, tessera_net::NetError::PrintedSequential { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("module (1) Sequential") && message.contains("nested"), "{message}");
    assert!(!message.contains("JSON"), "a printed Sequential is not JSON: {message}");
}

/// `nn.ReLU6` and `nn.Hardtanh` load as clamps with PyTorch's bounds (Hardtanh's defaults -1, 1).
#[test]
fn relu6_and_hardtanh_load_as_clamps() {
    use tessera_net::Activation;
    let dir = tempfile::tempdir().unwrap();
    let hardtanh = PRINTED.replace("ReLU()", "ReLU6(inplace=True)");
    let printed = hardtanh.replace("LeakyReLU(negative_slope=0.1)", "Hardtanh(min_val=-2.0, max_val=0.5)");
    let (arch, weights) = write_fixture(dir.path(), &printed);
    let imported: Network<f32> = load_sequential(&arch, &weights).unwrap();
    let activations: Vec<Activation> =
        imported.activation_ids().iter().map(|&i| imported.activation(i).unwrap()).collect();
    assert_eq!(activations, [Activation::RELU6, Activation::Clamp { lo: -2.0, hi: 0.5 }]);
    let (arch, weights) = write_fixture(dir.path(), &PRINTED.replace("ReLU()", "Hardtanh()"));
    let imported: Network<f32> = load_sequential(&arch, &weights).unwrap();
    assert_eq!(imported.activation(3), Some(Activation::Clamp { lo: -1.0, hi: 1.0 }));
}

/// `ceil_mode=True` pools and `nn.ChannelShuffle` load as the IR's ceil-mode pool and shuffle.
#[test]
fn ceil_mode_pools_and_channel_shuffles_load() {
    use tessera_net::Op;
    let dir = tempfile::tempdir().unwrap();
    let printed =
        PRINTED.replace("ceil_mode=False", "ceil_mode=True").replace("(2): ReLU()", "(2): ChannelShuffle(groups=2)");
    let (arch, weights) = write_fixture(dir.path(), &printed);
    let imported: Network<f32> = load_sequential(&arch, &weights).unwrap();
    assert_eq!(imported.node(3).op, Op::ChannelShuffle { groups: 2 });
    assert!(matches!(imported.node(4).op, Op::MaxPool2d { ceil_mode: true, .. }));
    assert_eq!(imported.shape(4), [4, 4, 4]);
}
