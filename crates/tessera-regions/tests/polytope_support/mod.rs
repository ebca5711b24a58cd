//! Shared helpers of the `polytope_*` tests: seeded frames, networks whose first-layer neurons
//! are given directly in t-coordinates, sampling of the cross-polytope, patterns from the
//! forward pass.
#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp1, StandardNormal};
use std::collections::HashSet;
use tessera_net::{mlp, Activation, Mode, Network, Op, Tensor};
use tessera_regions::polytope::{partition_neighborhood, Neighborhood, PolytopeOptions, PolytopePartition};

/// `dim` orthonormal rows in R^width (Gram–Schmidt of seeded Gaussian vectors).
pub fn frame(width: usize, dim: usize, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut rows: Vec<Vec<f64>> = Vec::new();
    while rows.len() < dim {
        let mut v: Vec<f64> = (0..width).map(|_| StandardNormal.sample(&mut rng)).collect();
        for r in &rows {
            let d: f64 = v.iter().zip(r).map(|(a, b)| a * b).sum();
            v.iter_mut().zip(r).for_each(|(a, b)| *a -= d * b);
        }
        let n = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        if n > 1e-6 {
            rows.push(v.iter().map(|a| a / n).collect());
        }
    }
    rows.concat()
}

pub fn random_point(width: usize, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    (0..width).map(|_| rng.random::<f64>()).collect()
}

pub fn neighborhood(width: usize, dim: usize, radius: f64, seed: u64) -> Neighborhood {
    Neighborhood::new(random_point(width, seed), frame(width, dim, seed), dim, radius).unwrap()
}

/// A PyTorch-initialised ReLU MLP.
pub fn random_mlp(widths: &[usize], seed: u64) -> Network<f64> {
    random_mlp_of(widths, Activation::Relu, seed)
}

/// A PyTorch-initialised MLP of `activation`.
pub fn random_mlp_of(widths: &[usize], activation: Activation, seed: u64) -> Network<f64> {
    let mut net = mlp::<f64>(widths, activation).unwrap();
    net.init_pytorch_default(seed, 1.0);
    net
}

/// Set first-layer neuron `j` (dense node 1) to `h(t) = beta + alpha . t` on `nbhd`:
/// weights `sum_p alpha_p v_p / r`, bias `beta - w . x0`.
pub fn set_neuron_in_t(net: &mut Network<f64>, nbhd: &Neighborhood, j: usize, alpha: &[f64], beta: f64) {
    let d = nbhd.center().len();
    let mut w = vec![0.0; d];
    for (p, &a) in alpha.iter().enumerate() {
        w.iter_mut().zip(nbhd.direction(p)).for_each(|(wi, &v)| *wi += a * v / nbhd.radius());
    }
    let wx: f64 = w.iter().zip(nbhd.center()).map(|(a, b)| a * b).sum();
    let params = net.params_mut(1);
    params.tensors[0][j * d..(j + 1) * d].copy_from_slice(&w);
    params.tensors[1][j] = beta - wx;
}

/// `n` points uniform in the unit cross-polytope of R^dim.
pub fn sample_cross_polytope(dim: usize, n: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let e: Vec<f64> = (0..=dim).map(|_| Exp1.sample(&mut rng)).collect();
            let total: f64 = e.iter().sum();
            e[..dim].iter().map(|v| if rng.random::<bool>() { v / total } else { -v / total }).collect()
        })
        .collect()
}

/// The codes of every kinked node at each point, as the partition reports them.
pub fn forward_codes(net: &Network<f64>, points: &[Vec<f64>]) -> Vec<Vec<Vec<u32>>> {
    let x = Tensor::from_vec(net.input_shape(), points.concat()).unwrap();
    let tape = net.forward_tape(&x, Mode::Eval).unwrap();
    let kinked: Vec<usize> = (0..net.nodes().len()).filter(|&id| !net.node(id).op.is_affine()).collect();
    (0..points.len())
        .map(|i| {
            kinked
                .iter()
                .map(|&id| match net.node(id).op {
                    Op::Activation { activation } => tape.values[net.node(id).inputs[0]]
                        .row(i)
                        .iter()
                        .map(|&v| activation.piece_at(v) as u32)
                        .collect(),
                    _ => {
                        let w = tape.values[id].width();
                        tape.argmax[id].as_ref().unwrap()[i * w..(i + 1) * w].to_vec()
                    }
                })
                .collect()
        })
        .collect()
}

/// Distinct kink patterns met at `n` uniform samples of the neighbourhood.
pub fn sampled_patterns(net: &Network<f64>, nbhd: &Neighborhood, n: usize, seed: u64) -> HashSet<Vec<Vec<u32>>> {
    let points: Vec<Vec<f64>> = sample_cross_polytope(nbhd.dim(), n, seed).iter().map(|t| nbhd.point(t)).collect();
    forward_codes(net, &points).into_iter().collect()
}

pub fn partition(net: &Network<f64>, nbhd: &Neighborhood) -> PolytopePartition {
    partition_neighborhood(net, nbhd, &PolytopeOptions::default()).unwrap()
}

/// How many of the activation patterns met by `n` seeded samples of `nbhd` no region of `part`
/// has (0 when the enumeration is complete).
pub fn sampled_patterns_missing(
    net: &Network<f64>,
    nbhd: &Neighborhood,
    part: &PolytopePartition,
    n: usize,
    seed: u64,
) -> usize {
    let codes: HashSet<&Vec<Vec<u32>>> = part.regions.iter().map(|r| &r.codes).collect();
    sampled_patterns(net, nbhd, n, seed).iter().filter(|pattern| !codes.contains(pattern)).count()
}

/// Every region's output map equals the forward pass at its interior point, and its codes are
/// the forward pass's codes there; returns the largest relative error.
pub fn check_regions_against_forward(net: &Network<f64>, nbhd: &Neighborhood, part: &PolytopePartition) -> f64 {
    let points: Vec<Vec<f64>> = part.regions.iter().map(|r| nbhd.point(&r.ball.center)).collect();
    let codes = forward_codes(net, &points);
    let out = net.forward(&Tensor::from_vec(net.input_shape(), points.concat()).unwrap(), Mode::Eval).unwrap();
    let mut worst = 0.0f64;
    for (k, region) in part.regions.iter().enumerate() {
        assert!(region.ball.radius > 0.0);
        assert_eq!(region.codes, codes[k], "region {k}: codes differ from the forward pass at its centre");
        let mapped = region.output.apply(&region.ball.center);
        for (a, b) in mapped.iter().zip(out.row(k)) {
            worst = worst.max((a - b).abs() / (1.0 + b.abs()));
        }
    }
    worst
}
