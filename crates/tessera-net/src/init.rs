//! PyTorch-default initialisation, so runs are comparable with the paper's code.

use crate::op::Op;
use crate::{Network, Scalar};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

impl<T: Scalar> Network<T> {
    /// Weights and biases of dense and conv nodes uniform in `[-1/sqrt(fan_in), 1/sqrt(fan_in)]`
    /// (what PyTorch's `kaiming_uniform_(a=sqrt(5))` and bias rule amount to); batch norm at
    /// weight 1, bias 0, running mean 0 and variance 1. Then every parameter is multiplied by
    /// `init_scale` (the paper's grokking runs use 8).
    pub fn init_pytorch_default(&mut self, seed: u64, init_scale: f64) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for id in 0..self.nodes().len() {
            let op = self.node(id).op.clone();
            let params = self.params_mut(id);
            match op {
                Op::Dense { .. } | Op::Conv2d { .. } => {
                    let bound = 1.0 / (op.fan_in().unwrap_or(1) as f64).sqrt();
                    for t in params.tensors.iter_mut() {
                        t.iter_mut().for_each(|v| *v = T::from_f64(rng.random_range(-bound..=bound)));
                    }
                }
                Op::BatchNorm { .. } => {
                    params.tensors[0].iter_mut().for_each(|v| *v = T::one());
                    params.tensors[1].iter_mut().for_each(|v| *v = T::zero());
                    if let Some(r) = params.running.as_mut() {
                        r.mean.iter_mut().for_each(|v| *v = T::zero());
                        r.var.iter_mut().for_each(|v| *v = T::one());
                    }
                }
                _ => {}
            }
        }
        self.scale_parameters(init_scale);
    }
}
