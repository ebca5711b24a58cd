//! Conv2d, MaxPool2d and AvgPool2d (forward and backward, with stride, padding and, for pooling,
//! ceil mode), and the f32 batch norm of a training step, agree with direct loop
//! implementations written here from the definitions.

mod fixtures;

use fixtures::{random_batch, randomize, relative_max_diff, rng, window_cells};
use proptest::prelude::*;
use tessera_net::{Activation, GraphBuilder, Mode, Network, Op, Tensor, Wants};

const TOL: f64 = 1e-12;
/// Sums of up to a few hundred f32 products, relative to the largest magnitude.
const F32_TOL: f64 = 1e-5;
/// Batch norm's input gradient is a difference of sums (`g - mean(g) - xhat mean(g xhat)`),
/// which loses a few more bits.
const BN_F32_TOL: f64 = 1e-4;

/// Geometry shared by conv and pooling: input `[C, H, W]`, kernel, stride, padding, output size.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    channels: usize,
    in_hw: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    /// Pooling only: PyTorch's ceil_mode.
    ceil_mode: bool,
}

impl Geometry {
    /// Output size; in ceil mode rounded up, unless the last window would start in the right
    /// padding (PyTorch's rule, written here from its definition).
    fn out_hw(&self) -> [usize; 2] {
        [0, 1].map(|a| {
            let span = self.in_hw[a] + 2 * self.padding[a] - self.kernel[a];
            if !self.ceil_mode {
                return span / self.stride[a] + 1;
            }
            let out = span.div_ceil(self.stride[a]) + 1;
            if (out - 1) * self.stride[a] >= self.in_hw[a] + self.padding[a] {
                out - 1
            } else {
                out
            }
        })
    }
    /// Average pooling's divisor of output `(oy, ox)`: its window's cells inside the padded
    /// input (all of the kernel but for a partial ceil-mode window).
    fn divisor(&self, (oy, ox): (usize, usize)) -> f64 {
        let extent = |a: usize, o: usize| {
            let start = o * self.stride[a];
            (start + self.kernel[a]).min(self.in_hw[a] + 2 * self.padding[a]) - start
        };
        (extent(0, oy) * extent(1, ox)) as f64
    }
    fn in_shape(&self) -> [usize; 3] {
        [self.channels, self.in_hw[0], self.in_hw[1]]
    }
    /// Input coordinates `(y, x)` read by output `(oy, ox)` at kernel cell `(ky, kx)`, if not padding.
    fn source(&self, (oy, ox): (usize, usize), (ky, kx): (usize, usize)) -> Option<(usize, usize)> {
        let y = (oy * self.stride[0] + ky) as isize - self.padding[0] as isize;
        let x = (ox * self.stride[1] + kx) as isize - self.padding[1] as isize;
        let inside = y >= 0 && x >= 0 && (y as usize) < self.in_hw[0] && (x as usize) < self.in_hw[1];
        inside.then_some((y as usize, x as usize))
    }
}

/// Window geometries; pooling ones (padding at most half the kernel) also draw ceil_mode.
fn geometry(pooling: bool) -> impl Strategy<Value = Geometry> {
    let sizes = (1usize..=3, 1usize..=7, 1usize..=7, 1usize..=4, 1usize..=4, 1usize..=3, 1usize..=3);
    (sizes, 0usize..=2, 0usize..=2, any::<bool>())
        .prop_map(move |((channels, h, w, kh, kw, sh, sw), ph, pw, ceil)| {
            let padding = if pooling { [ph.min(kh / 2), pw.min(kw / 2)] } else { [ph, pw] };
            let ceil_mode = pooling && ceil;
            Geometry { channels, in_hw: [h, w], kernel: [kh, kw], stride: [sh, sw], padding, ceil_mode }
        })
        .prop_filter("kernel fits the padded input", |g| (0..2).all(|a| g.kernel[a] <= g.in_hw[a] + 2 * g.padding[a]))
}

/// The input channels output channel `o` reads when `cin` inputs and `cout` outputs form
/// `groups` groups, with each one's index in the weight's second axis.
fn group_inputs(o: usize, cin: usize, cout: usize, groups: usize) -> impl Iterator<Item = (usize, usize)> {
    let (cin_g, group) = (cin / groups, o / (cout / groups));
    (0..cin_g).map(move |k| (group * cin_g + k, k))
}

/// Direct convolution: `y[b, o, oy, ox] = bias[o] + sum_{c, ky, kx} w[o, c', ky, kx] x[b, c, iy, ix]`
/// over the input channels `c` of `o`'s group (`c'` is `c`'s index in the group).
fn direct_conv(g: &Geometry, cout: usize, groups: usize, w: &[f64], bias: Option<&[f64]>, x: &Tensor<f64>) -> Vec<f64> {
    let [oh, ow] = g.out_hw();
    let [kh, kw] = g.kernel;
    let [cin, h, wd] = g.in_shape();
    let cin_g = cin / groups;
    let mut y = vec![0.0; x.batch * cout * oh * ow];
    for b in 0..x.batch {
        for o in 0..cout {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = bias.map_or(0.0, |bias| bias[o]);
                    for (c, k) in group_inputs(o, cin, cout, groups) {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                if let Some((iy, ix)) = g.source((oy, ox), (ky, kx)) {
                                    acc += w[((o * cin_g + k) * kh + ky) * kw + kx] * x.row(b)[(c * h + iy) * wd + ix];
                                }
                            }
                        }
                    }
                    y[((b * cout + o) * oh + oy) * ow + ox] = acc;
                }
            }
        }
    }
    y
}

/// Direct adjoint of the convolution: (dW, db, dx) for output gradient `gy`.
fn direct_conv_backward(
    g: &Geometry,
    cout: usize,
    groups: usize,
    w: &[f64],
    x: &Tensor<f64>,
    gy: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let [oh, ow] = g.out_hw();
    let [kh, kw] = g.kernel;
    let [cin, h, wd] = g.in_shape();
    let cin_g = cin / groups;
    let (mut dw, mut db, mut dx) = (vec![0.0; w.len()], vec![0.0; cout], vec![0.0; x.data.len()]);
    let in_width = cin * h * wd;
    for b in 0..x.batch {
        for o in 0..cout {
            for oy in 0..oh {
                for ox in 0..ow {
                    let gv = gy[((b * cout + o) * oh + oy) * ow + ox];
                    db[o] += gv;
                    for (c, k) in group_inputs(o, cin, cout, groups) {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                if let Some((iy, ix)) = g.source((oy, ox), (ky, kx)) {
                                    let wi = ((o * cin_g + k) * kh + ky) * kw + kx;
                                    let xi = b * in_width + (c * h + iy) * wd + ix;
                                    dw[wi] += gv * x.data[xi];
                                    dx[xi] += gv * w[wi];
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    (dw, db, dx)
}

/// Direct pooling forward and backward. Max: the first largest cell in window order wins and
/// padding never does; average: padding counts as zero, divisor `kh * kw` but the cells inside
/// the padded input for a partial ceil-mode window (PyTorch, `count_include_pad=True`).
fn direct_pool(g: &Geometry, max: bool, x: &Tensor<f64>, gy: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let [oh, ow] = g.out_hw();
    let in_width = x.width();
    let (mut y, mut dx) = (Vec::new(), vec![0.0; x.data.len()]);
    for b in 0..x.batch {
        for c in 0..g.channels {
            for oy in 0..oh {
                for ox in 0..ow {
                    let cells: Vec<(usize, f64)> =
                        window_cells(x.row(b), &g.in_shape(), c, (oy, ox), g.kernel, g.stride, g.padding)
                            .into_iter()
                            .flatten()
                            .collect();
                    let gv = gy[y.len()];
                    if max {
                        let (index, value) =
                            cells.iter().fold(cells[0], |best, &cell| if cell.1 > best.1 { cell } else { best });
                        y.push(value);
                        dx[b * in_width + index] += gv;
                    } else {
                        let area = g.divisor((oy, ox));
                        y.push(cells.iter().map(|&(_, v)| v).sum::<f64>() / area);
                        cells.iter().for_each(|&(index, _)| dx[b * in_width + index] += gv / area);
                    }
                }
            }
        }
    }
    (y, dx)
}

fn single_op_net(g: &Geometry, op: Op, seed: u64) -> Network<f64> {
    let mut b = GraphBuilder::new(&g.in_shape());
    b.push("op", op, &[0]);
    let mut net = b.build().expect("valid single-op network");
    randomize(&mut net, &mut rng(seed));
    net
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Grouped and depthwise convolutions included (`groups` divides both channel counts).
    #[test]
    fn conv2d_forward_and_backward_equal_direct_loops(
        g in geometry(false), cout_per_group in 1usize..=3, groups in 1usize..=3, bias: bool, batch in 1usize..=3,
        seed: u64,
    ) {
        let g = Geometry { channels: g.channels * groups, ..g };
        let cout = cout_per_group * groups;
        let op = Op::Conv2d {
            in_channels: g.channels, out_channels: cout, kernel: g.kernel, stride: g.stride,
            padding: g.padding, bias, groups,
        };
        let net = single_op_net(&g, op, seed);
        let mut r = rng(seed ^ 1);
        let x = random_batch::<f64>(&mut r, batch, &g.in_shape());
        let params = net.trainable();
        let expected = direct_conv(&g, cout, groups, params[0], bias.then(|| params[1]), &x);
        let tape = net.forward_tape(&x, Mode::Eval).unwrap();
        let y = tape.output();
        prop_assert_eq!(&y.shape, &vec![cout, g.out_hw()[0], g.out_hw()[1]]);
        prop_assert!(relative_max_diff(&y.data, &expected) < TOL);

        let gy = random_batch::<f64>(&mut r, batch, &y.shape);
        let grads = net.backward(&tape, &gy, Wants::ALL);
        let (dw, db, dx) = direct_conv_backward(&g, cout, groups, params[0], &x, &gy.data);
        prop_assert!(relative_max_diff(&grads.params[0], &dw) < TOL);
        if bias {
            prop_assert!(relative_max_diff(&grads.params[1], &db) < TOL);
        }
        prop_assert!(relative_max_diff(&grads.input.unwrap().data, &dx) < TOL);
    }

    /// The f32 path of 3x3 convolutions with padding 1 and stride 1 or 2 (direct kernels on
    /// AVX2 and AVX-512 CPUs): channel counts that do and do not fill a register block of 4 or
    /// 8, planes that fill whole vectors and planes that do not, even and odd sizes.
    #[test]
    fn conv3x3_f32_forward_and_backward_equal_f64_direct_loops_to_f32_rounding(
        cin in 1usize..=6, cout in 1usize..=17, h in 1usize..=6, w in 1usize..=17, stride in 1usize..=2, bias: bool,
        batch in 1usize..=3, seed: u64,
    ) {
        check_conv3x3_f32(cin, cout, [h, w], stride, bias, batch, seed)?;
    }

    /// The same with channel counts that fill the vectors of the kernels that hold output
    /// channels in lanes (16 on AVX-512, 8 on AVX2; correlations in blocks of 64 / 16), on the
    /// small planes where they run: their forward, input and weight gradients against the f64
    /// loops too.
    #[test]
    fn conv3x3_f32_with_channels_in_lanes_equals_f64_direct_loops_to_f32_rounding(
        cin in prop::sample::select(vec![3usize, 16, 64]), cout in prop::sample::select(vec![16usize, 48, 64, 128]),
        h in 1usize..=9, w in 1usize..=9, stride in 1usize..=2, batch in 1usize..=2, seed: u64,
    ) {
        check_conv3x3_f32(cin, cout, [h, w], stride, false, batch, seed)?;
    }

    #[test]
    fn max_pool_forward_and_backward_equal_direct_loops(g in geometry(true), batch in 1usize..=3, seed: u64) {
        check_pool(g, true, batch, seed)?;
    }

    #[test]
    fn avg_pool_forward_and_backward_equal_direct_loops(g in geometry(true), batch in 1usize..=3, seed: u64) {
        check_pool(g, false, batch, seed)?;
    }
}

/// One f32 3x3 convolution (padding 1) against the f64 loops: weights and inputs rounded to f32
/// first, so that only the f32 arithmetic differs; forward, weight, bias and input gradients.
fn check_conv3x3_f32(
    cin: usize,
    cout: usize,
    [h, w]: [usize; 2],
    stride: usize,
    bias: bool,
    batch: usize,
    seed: u64,
) -> Result<(), TestCaseError> {
    let g = Geometry {
        channels: cin,
        in_hw: [h, w],
        kernel: [3, 3],
        stride: [stride; 2],
        padding: [1, 1],
        ceil_mode: false,
    };
    // Weights and inputs rounded to f32 first, so that only the f32 arithmetic differs.
    let net = single_op_net(&g, Op::conv3x3(cin, cout, stride, bias), seed).cast::<f32>();
    let exact = net.cast::<f64>();
    let mut r = rng(seed ^ 1);
    let x = random_batch::<f32>(&mut r, batch, &g.in_shape());
    let x64 = Tensor::from_vec(&g.in_shape(), x.data.iter().map(|&v| f64::from(v)).collect()).unwrap();
    let params = exact.trainable();
    let expected = direct_conv(&g, cout, 1, params[0], bias.then(|| params[1]), &x64);
    let tape = net.forward_tape(&x, Mode::Eval).unwrap();
    let y: Vec<f64> = tape.output().data.iter().map(|&v| f64::from(v)).collect();
    prop_assert!(relative_max_diff(&y, &expected) < F32_TOL);

    let gy = random_batch::<f32>(&mut r, batch, &tape.output().shape);
    let gy64: Vec<f64> = gy.data.iter().map(|&v| f64::from(v)).collect();
    let grads = net.backward(&tape, &gy, Wants::ALL);
    let (dw, db, dx) = direct_conv_backward(&g, cout, 1, params[0], &x64, &gy64);
    let widen = |v: &[f32]| v.iter().map(|&v| f64::from(v)).collect::<Vec<f64>>();
    prop_assert!(relative_max_diff(&widen(&grads.params[0]), &dw) < F32_TOL);
    if bias {
        prop_assert!(relative_max_diff(&widen(&grads.params[1]), &db) < F32_TOL);
    }
    prop_assert!(relative_max_diff(&widen(&grads.input.unwrap().data), &dx) < F32_TOL);
    Ok(())
}

fn check_pool(g: Geometry, max: bool, batch: usize, seed: u64) -> Result<(), TestCaseError> {
    let (kernel, stride, padding, ceil_mode) = (g.kernel, g.stride, g.padding, g.ceil_mode);
    let op = if max {
        Op::MaxPool2d { kernel, stride, padding, ceil_mode }
    } else {
        Op::AvgPool2d { kernel, stride, padding, ceil_mode }
    };
    let net = single_op_net(&g, op, seed);
    let mut r = rng(seed);
    let x = random_batch::<f64>(&mut r, batch, &g.in_shape());
    let tape = net.forward_tape(&x, Mode::Eval).unwrap();
    let y = tape.output();
    prop_assert_eq!(&y.shape, &vec![g.channels, g.out_hw()[0], g.out_hw()[1]]);
    let gy = random_batch::<f64>(&mut r, batch, &y.shape);
    let (expected_y, expected_dx) = direct_pool(&g, max, &x, &gy.data);
    prop_assert!(relative_max_diff(&y.data, &expected_y) < TOL);
    let grads = net.backward(&tape, &gy, Wants::INPUT);
    prop_assert!(relative_max_diff(&grads.input.unwrap().data, &expected_dx) < TOL);
    Ok(())
}

/// Batch norm in training mode followed by an activation that scales the negative side
/// (`slope`), written from the definitions in f64: the activation's output, and from its output
/// gradient `ga` the gradients of gamma, beta and the input. Samples `[c][spatial]`.
fn direct_batch_norm_activation(
    x: &[f64],
    (gamma, beta, eps): (&[f64], &[f64], f64),
    slope: f64,
    ga: &[f64],
    spatial: usize,
) -> [Vec<f64>; 4] {
    let c = gamma.len();
    let n = (x.len() / c) as f64;
    let channel = |i: usize| (i / spatial) % c;
    let (mut mean, mut var) = (vec![0.0; c], vec![0.0; c]);
    x.iter().enumerate().for_each(|(i, &v)| mean[channel(i)] += v / n);
    x.iter().enumerate().for_each(|(i, &v)| var[channel(i)] += (v - mean[channel(i)]).powi(2) / n);
    let xhat: Vec<f64> =
        x.iter().enumerate().map(|(i, &v)| (v - mean[channel(i)]) / (var[channel(i)] + eps).sqrt()).collect();
    let y: Vec<f64> = xhat.iter().enumerate().map(|(i, &h)| gamma[channel(i)] * h + beta[channel(i)]).collect();
    let a = y.iter().map(|&v| if v < 0.0 { slope * v } else { v }).collect();
    let gy: Vec<f64> = ga.iter().zip(&y).map(|(&g, &v)| if v < 0.0 { slope * g } else { g }).collect();
    let (mut d_gamma, mut d_beta) = (vec![0.0; c], vec![0.0; c]);
    for (i, (&g, &h)) in gy.iter().zip(&xhat).enumerate() {
        d_gamma[channel(i)] += g * h;
        d_beta[channel(i)] += g;
    }
    let dx = (0..x.len())
        .map(|i| {
            let k = channel(i);
            gamma[k] / (var[k] + eps).sqrt() * (gy[i] - d_beta[k] / n - xhat[i] * d_gamma[k] / n)
        })
        .collect();
    [a, d_gamma, d_beta, dx]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// The f32 batch norm of a training step, run fused with the ReLU, leaky ReLU or absolute
    /// value after it (one pass per channel forward and backward).
    #[test]
    fn batch_norm_then_activation_f32_train_step_equals_f64_definition_to_f32_rounding(
        channels in 1usize..=5, h in 1usize..=6, w in 1usize..=9, batch in 1usize..=3, slope_case in 0usize..3,
        seed: u64,
    ) {
        let (activation, slope) = [
            (Activation::Relu, 0.0), (Activation::LeakyRelu { slope: 0.25 }, 0.25), (Activation::Abs, -1.0),
        ][slope_case];
        prop_assume!(batch * h * w > 1);
        let mut b = GraphBuilder::new(&[channels, h, w]);
        let bn = b.batch_norm(0, channels);
        b.activation(bn, activation);
        let mut net: Network<f64> = b.build().expect("valid network");
        randomize(&mut net, &mut rng(seed));
        let net = net.cast::<f32>();
        let widen = |v: &[f32]| v.iter().map(|&v| f64::from(v)).collect::<Vec<f64>>();
        let mut r = rng(seed ^ 1);
        let x = random_batch::<f32>(&mut r, batch, &[channels, h, w]);
        let ga = random_batch::<f32>(&mut r, batch, &[channels, h, w]);
        let (gamma, beta) = (widen(net.trainable()[0]), widen(net.trainable()[1]));
        let expected = direct_batch_norm_activation(&widen(&x.data), (&gamma, &beta, 1e-5), slope, &widen(&ga.data), h * w);
        let tape = net.forward_tape(&x, Mode::Train).unwrap();
        let grads = net.backward(&tape, &ga, Wants::ALL);
        let got = [widen(&tape.output().data), widen(&grads.params[0]), widen(&grads.params[1]), widen(&grads.input.unwrap().data)];
        for (what, (got, expected)) in ["output", "gamma gradient", "beta gradient", "input gradient"].iter().zip(got.iter().zip(&expected)) {
            let diff = relative_max_diff(got, expected);
            prop_assert!(diff < BN_F32_TOL, "{}: relative difference {}", what, diff);
        }
    }
}
