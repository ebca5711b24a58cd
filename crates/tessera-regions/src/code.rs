//! Activation codes: the region a point lies in, as one 64-bit hash per kinked layer of the
//! states of that layer's units (the sign of each neuron, the winner of each max-pool window).
//!
//! The hash of a layer is the XOR of one random key per (unit, state) pair (Zobrist hashing),
//! so that a region that differs from its parent in a few units gets its code by XOR-ing a
//! few keys, and the code of a point can be computed from a plain forward pass.

use crate::error::{RegionError, Result};
use crate::kink::{kink_layers, KinkLayer, KinkUnits};
use tessera_net::{Mode, Network, Tensor};

/// The code of a region or point: one hash per kinked layer, in network order.
pub type Code = Vec<u64>;

/// Points per forward pass when codes are computed at many points.
const POINTS_PER_PASS: usize = 256;

/// A bijective 64-bit mix (splitmix64's finaliser).
#[inline]
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The key seed of kinked layer `layer`.
pub(crate) fn layer_seed(layer: usize) -> u64 {
    mix(0x7e55_e7a0_0000_0000 ^ layer as u64)
}

/// The key of `unit` being in `state` (distinct pairs give distinct keys: `mix` is a bijection).
#[inline]
pub(crate) fn unit_key(seed: u64, unit: u32, state: u32) -> u64 {
    mix(seed ^ ((unit as u64) << 32 | state as u64))
}

/// The state of every unit of every kinked layer at each point of a batch: for an activation,
/// the piece its pre-activation lies on (`Activation::piece_at`: for the ReLU family 1 where
/// it is >= 0, else 0); for max pooling, the in-sample index of the winning input.
pub(crate) fn unit_states(net: &Network<f64>, layers: &[KinkLayer], batch: &Tensor<f64>) -> Result<Vec<Vec<Vec<u32>>>> {
    let tape = net.forward_tape(batch, Mode::Eval)?;
    let mut states = vec![Vec::with_capacity(layers.len()); batch.batch];
    for layer in layers {
        match layer.kink {
            KinkUnits::Neurons(act) => {
                let pre = &tape.values[layer.input];
                for (s, row) in states.iter_mut().zip(pre.data.chunks(pre.width())) {
                    s.push(row.iter().map(|&v| act.piece_at(v) as u32).collect());
                }
            }
            KinkUnits::Pools { ref windows } => {
                let winners = tape.argmax[layer.node].as_ref().expect("max-pool argmax on the tape");
                for (s, row) in states.iter_mut().zip(winners.chunks(windows.len())) {
                    s.push(row.to_vec());
                }
            }
        }
    }
    Ok(states)
}

/// The code of one layer's unit states.
pub(crate) fn layer_code(layer: &KinkLayer, states: &[u32]) -> u64 {
    states.iter().enumerate().fold(0, |h, (u, &s)| h ^ layer.key(u as u32, s))
}

/// The activation codes of `points` (concatenated samples of the network's input width), the
/// same codes that `partition_slice` and `path_transitions` give the regions the points lie in.
pub fn activation_codes(net: &Network<f64>, points: &[f64]) -> Result<Vec<Code>> {
    let width = net.input_width();
    if !points.len().is_multiple_of(width) {
        return Err(RegionError::Argument {
            name: "points".into(),
            value: format!("{} values", points.len()),
            problem: format!("not a whole number of points of the input width {width}"),
        });
    }
    let layers = kink_layers(net);
    let mut codes = Vec::with_capacity(points.len() / width);
    for batch in points.chunks(POINTS_PER_PASS * width) {
        let x = Tensor::from_vec(net.input_shape(), batch.to_vec())?;
        for states in unit_states(net, &layers, &x)? {
            codes.push(layers.iter().zip(&states).map(|(l, s)| layer_code(l, s)).collect());
        }
    }
    Ok(codes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_across_units_states_and_layers() {
        let (a, b) = (layer_seed(0), layer_seed(1));
        let keys = [unit_key(a, 0, 0), unit_key(a, 0, 1), unit_key(a, 1, 0), unit_key(b, 0, 0)];
        for i in 0..keys.len() {
            for j in 0..i {
                assert_ne!(keys[i], keys[j]);
            }
        }
    }
}
