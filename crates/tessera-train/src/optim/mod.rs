//! Optimizers with PyTorch's update rules (`torch.optim.SGD`, `Adam`, `AdamW`, single-tensor
//! CPU path), acting on `Network::trainable_mut()` and `Gradients::params` (same order).
//!
//! Per element, with learning rate `lr`, weight decay `wd`, gradient `g` and step count `t`
//! (starting at 1):
//! - SGD: `g += wd·p`; with momentum `μ`: `b = g` on the first step, else `b = μ·b + g`
//!   (dampening 0, no Nesterov), `g = b`; then `p -= lr·g`.
//! - Adam: `g += wd·p` (coupled L2); `m += (1-β1)·(g - m)` (PyTorch's `lerp`);
//!   `v = β2·v + (1-β2)·g²`; `p -= (lr / (1-β1^t))·m / (sqrt(v) / sqrt(1-β2^t) + eps)`.
//! - AdamW: `p *= 1 - lr·wd` (decoupled decay, before the Adam step), then Adam without `wd`.
//!
//! The per-element work is split over rayon tasks by parameter chunks; the arithmetic of each
//! element does not depend on the split, so results are identical for any thread count.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tessera_net::Scalar;

use crate::error::{Result, TrainError};

mod quiet;

use quiet::{AdamScalars, QuietBounds, QuietFloat};

/// Which update rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Stochastic gradient descent, with optional momentum.
    Sgd,
    /// Adam (weight decay added to the gradient, as `torch.optim.Adam`).
    Adam,
    /// AdamW (decoupled weight decay, as `torch.optim.AdamW`).
    AdamW,
}

/// Hyper-parameters of an optimizer (the `[optim]` section of a run config).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizerConfig {
    /// The update rule.
    pub kind: OptimizerKind,
    /// Learning rate.
    pub lr: f64,
    /// L2 penalty added to the gradient (SGD, Adam) or decoupled decay (AdamW).
    pub weight_decay: f64,
    /// SGD momentum (0 for plain SGD).
    pub momentum: f64,
    /// Adam's `(β1, β2)`.
    pub betas: [f64; 2],
    /// Adam's `eps`, added to the bias-corrected root of the second moment.
    pub eps: f64,
}

impl Default for OptimizerConfig {
    /// AdamW with lr 1e-3 and weight decay 0.01, the paper's setting.
    fn default() -> Self {
        Self { kind: OptimizerKind::AdamW, lr: 1e-3, weight_decay: 0.01, momentum: 0.0, betas: [0.9, 0.999], eps: 1e-8 }
    }
}

impl OptimizerConfig {
    /// Reject values PyTorch would reject (negative rates, betas outside `[0, 1)`).
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(TrainError::config("[optim]", m));
        if !(self.lr.is_finite() && self.lr >= 0.0) {
            return bad(format!("lr must be finite and >= 0, got {}", self.lr));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad(format!("weight_decay must be finite and >= 0, got {}", self.weight_decay));
        }
        if !(self.momentum.is_finite() && self.momentum >= 0.0) {
            return bad(format!("momentum must be finite and >= 0, got {}", self.momentum));
        }
        if self.betas.iter().any(|b| !(0.0..1.0).contains(b)) {
            return bad(format!("betas must be in [0, 1), got {:?}", self.betas));
        }
        if !(self.eps.is_finite() && self.eps >= 0.0) {
            return bad(format!("eps must be finite and >= 0, got {}", self.eps));
        }
        Ok(())
    }

    /// Names of the per-parameter state buffers, in storage order.
    fn buffer_names(&self) -> &'static [&'static str] {
        match self.kind {
            OptimizerKind::Sgd if self.momentum != 0.0 => &["momentum_buffer"],
            OptimizerKind::Sgd => &[],
            OptimizerKind::Adam | OptimizerKind::AdamW => &["exp_avg", "exp_avg_sq"],
        }
    }
}

/// An optimizer and its state: the step count and per-parameter buffers.
#[derive(Clone, Debug, PartialEq)]
pub struct Optimizer<T> {
    config: OptimizerConfig,
    steps_taken: u64,
    /// `buffers[k][j]`: buffer `k` (see `buffer_names`) of trainable tensor `j`.
    buffers: Vec<Vec<Vec<T>>>,
}

/// Elements per rayon task: large enough to amortise scheduling.
const CHUNK: usize = 1 << 13;

/// Per-step scalars of the update, computed once in `f64` like PyTorch's Python-side scalars.
#[derive(Clone, Copy)]
struct StepScalars<T> {
    lr: T,
    momentum: T,
    first_step: bool,
    /// Weight decay and Adam's scalars (`adam.weight_decay` is SGD's too).
    adam: AdamScalars<T>,
}

impl<T: Scalar> Optimizer<T> {
    /// A fresh optimizer for trainable tensors of the given lengths (buffers start at zero).
    pub fn new(config: OptimizerConfig, tensor_lens: &[usize]) -> Result<Self> {
        config.validate()?;
        let buffers =
            config.buffer_names().iter().map(|_| tensor_lens.iter().map(|&n| vec![T::zero(); n]).collect()).collect();
        Ok(Self { config, steps_taken: 0, buffers })
    }

    /// The hyper-parameters it was built with.
    pub fn config(&self) -> &OptimizerConfig {
        &self.config
    }

    /// How many updates have been applied.
    pub fn steps_taken(&self) -> u64 {
        self.steps_taken
    }

    /// Apply one update to `params` given `grads` (same order and lengths).
    pub fn step(&mut self, mut params: Vec<&mut [T]>, grads: &[Vec<T>]) -> Result<()> {
        self.check_lengths(&params, grads)?;
        self.steps_taken += 1;
        let scalars = self.scalars();
        let rule = Rule::of(&self.config);
        let lanes = chunk_lanes(&mut params, grads, &mut self.buffers);
        lanes.into_par_iter().for_each(|lane| update_lane(rule, &scalars, lane));
        Ok(())
    }

    fn check_lengths(&self, params: &[&mut [T]], grads: &[Vec<T>]) -> Result<()> {
        let expected = self.buffers.first().map(Vec::len).unwrap_or(params.len());
        if params.len() != grads.len() || params.len() != expected {
            return Err(TrainError::Shape(format!(
                "optimizer holds state for {expected} tensors, given {} parameters and {} gradients",
                params.len(),
                grads.len()
            )));
        }
        for (j, (p, g)) in params.iter().zip(grads).enumerate() {
            let state_len = self.buffers.first().map(|b| b[j].len()).unwrap_or(p.len());
            if p.len() != g.len() || p.len() != state_len {
                return Err(TrainError::Shape(format!(
                    "tensor {j}: parameter has {} values, gradient {}, optimizer state {state_len}",
                    p.len(),
                    g.len()
                )));
            }
        }
        Ok(())
    }

    fn scalars(&self) -> StepScalars<T> {
        let c = &self.config;
        let t = self.steps_taken as i32;
        let [beta1, beta2] = c.betas;
        StepScalars {
            lr: T::from_f64(c.lr),
            momentum: T::from_f64(c.momentum),
            first_step: self.steps_taken == 1,
            adam: AdamScalars {
                weight_decay: T::from_f64(c.weight_decay),
                decay_factor: T::from_f64(1.0 - c.lr * c.weight_decay),
                one_minus_beta1: T::from_f64(1.0 - beta1),
                beta2: T::from_f64(beta2),
                one_minus_beta2: T::from_f64(1.0 - beta2),
                step_size: T::from_f64(c.lr / (1.0 - beta1.powi(t))),
                bias_correction2_sqrt: T::from_f64((1.0 - beta2.powi(t)).sqrt()),
                eps: T::from_f64(c.eps),
            },
        }
    }

    /// The state buffers as `(name, tensor index, values)`, for checkpoints.
    pub fn state_tensors(&self) -> Vec<(String, &[T])> {
        let names = self.config.buffer_names();
        self.buffers
            .iter()
            .zip(names)
            .flat_map(|(per_tensor, name)| {
                per_tensor.iter().enumerate().map(move |(j, b)| (format!("{name}.{j}"), b.as_slice()))
            })
            .collect()
    }

    /// Restore the step count and buffers saved by `state_tensors`; `lookup` returns the values
    /// stored under a name (or `None` if missing).
    pub fn restore(&mut self, steps_taken: u64, mut lookup: impl FnMut(&str) -> Option<Vec<T>>) -> Result<()> {
        let names = self.config.buffer_names();
        for (per_tensor, name) in self.buffers.iter_mut().zip(names) {
            for (j, b) in per_tensor.iter_mut().enumerate() {
                let key = format!("{name}.{j}");
                let values =
                    lookup(&key).ok_or_else(|| TrainError::Shape(format!("optimizer state '{key}' is missing")))?;
                if values.len() != b.len() {
                    return Err(TrainError::Shape(format!(
                        "optimizer state '{key}' has {} values, the parameter has {}",
                        values.len(),
                        b.len()
                    )));
                }
                *b = values;
            }
        }
        self.steps_taken = steps_taken;
        Ok(())
    }
}

/// The update rule of a config, as the kernel dispatches on it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rule {
    Sgd,
    SgdMomentum,
    /// Adam; `decoupled` for AdamW.
    Adam {
        decoupled: bool,
    },
}

impl Rule {
    fn of(config: &OptimizerConfig) -> Self {
        match config.kind {
            OptimizerKind::Sgd if config.momentum != 0.0 => Rule::SgdMomentum,
            OptimizerKind::Sgd => Rule::Sgd,
            OptimizerKind::Adam => Rule::Adam { decoupled: false },
            OptimizerKind::AdamW => Rule::Adam { decoupled: true },
        }
    }
}

/// A chunk of one trainable tensor with its gradient and state buffers (`b0`, `b1` empty when
/// the rule has fewer buffers).
struct Lane<'a, T> {
    p: &'a mut [T],
    g: &'a [T],
    b0: &'a mut [T],
    b1: &'a mut [T],
}

impl<'a, T: Scalar> Lane<'a, T> {
    /// The same lane as `Lane<U>` when `T` is `U`.
    fn downcast<U: Scalar>(self) -> std::result::Result<Lane<'a, U>, Self> {
        if std::any::TypeId::of::<T>() != std::any::TypeId::of::<U>() {
            return Err(self);
        }
        /// # Safety
        /// `T` and `U` must be the same type.
        unsafe fn cast<T, U>(s: &mut [T]) -> &mut [U] {
            // SAFETY: the same type, so the same layout and length (the caller's contract).
            unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast(), s.len()) }
        }
        // SAFETY: `T` is `U`, checked just above.
        unsafe {
            let g = std::slice::from_raw_parts(self.g.as_ptr().cast(), self.g.len());
            Ok(Lane { p: cast(self.p), g, b0: cast(self.b0), b1: cast(self.b1) })
        }
    }
}

/// Cut every tensor (and its gradient and buffers) into chunks of at most `CHUNK` elements, so
/// one parallel pass covers all tensors, large and small.
fn chunk_lanes<'a, T: Scalar>(
    params: &'a mut [&mut [T]],
    grads: &'a [Vec<T>],
    buffers: &'a mut [Vec<Vec<T>>],
) -> Vec<Lane<'a, T>> {
    let mut per_buffer: Vec<std::slice::IterMut<'a, Vec<T>>> = buffers.iter_mut().map(|b| b.iter_mut()).collect();
    let mut lanes = Vec::new();
    for (p, g) in params.iter_mut().zip(grads) {
        let mut own = per_buffer.iter_mut().map(|it| it.next().expect("one buffer per tensor").as_mut_slice());
        let (b0, b1) = (own.next().unwrap_or_default(), own.next().unwrap_or_default());
        let mut b0_chunks = b0.chunks_mut(CHUNK);
        let mut b1_chunks = b1.chunks_mut(CHUNK);
        for (p, g) in p.chunks_mut(CHUNK).zip(g.chunks(CHUNK)) {
            let b0 = b0_chunks.next().unwrap_or_default();
            let b1 = b1_chunks.next().unwrap_or_default();
            lanes.push(Lane { p, g, b0, b1 });
        }
    }
    lanes
}

/// Update one lane, with AVX2 code when the CPU has it. Rust never contracts `a * b + c` into a
/// fused multiply-add (the one FMA, in `quiet`, is asked for and exact either way), so both paths
/// round identically: results do not depend on the CPU.
fn update_lane<T: Scalar>(rule: Rule, s: &StepScalars<T>, lane: Lane<T>) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA, checked just above.
        return unsafe { update_lane_avx2(rule, s, lane) };
    }
    update_lane_portable(rule, s, lane)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn update_lane_avx2<T: Scalar>(rule: Rule, s: &StepScalars<T>, lane: Lane<T>) {
    update_lane_portable(rule, s, lane)
}

#[inline(always)]
fn update_lane_portable<T: Scalar>(rule: Rule, s: &StepScalars<T>, lane: Lane<T>) {
    match rule {
        Rule::Sgd => lane.p.iter_mut().zip(lane.g).for_each(|(p, &g)| sgd_plain(p, g, s)),
        Rule::SgdMomentum => {
            lane.p.iter_mut().zip(lane.g).zip(lane.b0).for_each(|((p, &g), b)| sgd_momentum(p, g, b, s))
        }
        Rule::Adam { decoupled } => {
            let lane = match lane.downcast::<f32>() {
                Ok(lane) => return adam_lane(&s.adam.cast(), lane, decoupled),
                Err(lane) => lane,
            };
            let lane = match lane.downcast::<f64>() {
                Ok(lane) => return adam_lane(&s.adam.cast(), lane, decoupled),
                Err(lane) => lane,
            };
            let Lane { p, g, b0, b1 } = lane;
            let each = |(((p, &g), m), v)| quiet::adam_plain(p, g, m, v, &s.adam, decoupled);
            p.iter_mut().zip(g).zip(b0).zip(b1).for_each(each)
        }
    }
}

/// Adam over a lane of `f32` or `f64`, in blocks: a block whose moments are all zero or far
/// from the subnormals takes the plain formula, the others `quiet::adam` (same bits, more work
/// per element, no subnormal arithmetic). Index loops over slices of one length, with the rule
/// fixed per call, so that they inline into the AVX2 function and vectorise (an iterator
/// chain's `fold` stayed a separate scalar function).
#[inline(always)]
fn adam_lane<T: QuietFloat>(s: &AdamScalars<T>, lane: Lane<T>, decoupled: bool) {
    if decoupled {
        adam_blocks::<T, true>(s, lane)
    } else {
        adam_blocks::<T, false>(s, lane)
    }
}

#[inline(always)]
fn adam_blocks<T: QuietFloat, const DECOUPLED: bool>(s: &AdamScalars<T>, lane: Lane<T>) {
    const BLOCK: usize = 64;
    let bounds = QuietBounds::new(s.step_size, s.eps, s.one_minus_beta1, s.beta2);
    let Lane { p, g, b0: m, b1: v } = lane;
    for start in (0..p.len()).step_by(BLOCK) {
        let end = (start + BLOCK).min(p.len());
        let n = end - start;
        let (p, g, m, v) = (&mut p[start..end], &g[start..end], &mut m[start..end], &mut v[start..end]);
        let near_subnormal = (0..n).fold(false, |any, i| any | m[i].is_near_subnormal() | v[i].is_near_subnormal());
        if near_subnormal {
            for i in 0..n {
                quiet::adam(&mut p[i], g[i], &mut m[i], &mut v[i], s, &bounds, DECOUPLED);
            }
        } else {
            for i in 0..n {
                quiet::adam_plain(&mut p[i], g[i], &mut m[i], &mut v[i], s, DECOUPLED);
            }
        }
    }
}

#[inline(always)]
fn sgd_plain<T: Scalar>(p: &mut T, g: T, s: &StepScalars<T>) {
    let d = g + s.adam.weight_decay * *p;
    *p += -s.lr * d;
}

#[inline(always)]
fn sgd_momentum<T: Scalar>(p: &mut T, g: T, b: &mut T, s: &StepScalars<T>) {
    let d = g + s.adam.weight_decay * *p;
    *b = if s.first_step { d } else { *b * s.momentum + d };
    *p += -s.lr * *b;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(config: OptimizerConfig, p0: &[f64], grads: &[&[f64]]) -> Vec<f64> {
        let mut p = p0.to_vec();
        let mut opt = Optimizer::<f64>::new(config, &[p.len()]).unwrap();
        for g in grads {
            opt.step(vec![p.as_mut_slice()], &[g.to_vec()]).unwrap();
        }
        p
    }

    fn close(a: &[f64], b: &[f64]) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= 1e-14 * (1.0 + y.abs()), "{a:?} vs {b:?}");
        }
    }

    fn cfg(kind: OptimizerKind, lr: f64, weight_decay: f64, momentum: f64) -> OptimizerConfig {
        OptimizerConfig { kind, lr, weight_decay, momentum, ..OptimizerConfig::default() }
    }

    #[test]
    fn sgd_momentum_matches_pytorch_by_hand() {
        // torch.optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.5), p0 = [1, -2]
        // step 1: d = g + 0.5 p = [0.5+0.5, 0.25-1] = [1, -0.75]; b = d; p = [0.9, -1.925]
        // step 2: d = [-0.2 + 0.45, 1 - 0.9625] = [0.25, 0.0375];
        //         b = 0.9 b + d = [1.15, -0.6375]; p = [0.785, -1.86125]
        let p = run(cfg(OptimizerKind::Sgd, 0.1, 0.5, 0.9), &[1.0, -2.0], &[&[0.5, 0.25], &[-0.2, 1.0]]);
        close(&p, &[0.785, -1.86125]);
    }

    #[test]
    fn plain_sgd_is_p_minus_lr_g() {
        let p = run(cfg(OptimizerKind::Sgd, 0.5, 0.0, 0.0), &[1.0, 2.0], &[&[0.2, -0.4]]);
        close(&p, &[0.9, 2.2]);
    }

    /// Two Adam steps written out from PyTorch's formulas, with bias correction.
    fn adam_by_hand(p0: f64, g: [f64; 2], lr: f64, wd: f64, decoupled: bool) -> f64 {
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
        let (mut p, mut m, mut v) = (p0, 0.0, 0.0);
        for (t, g) in g.into_iter().enumerate() {
            let t = (t + 1) as i32;
            let g = if decoupled {
                p *= 1.0 - lr * wd;
                g
            } else {
                g + wd * p
            };
            m += (1.0 - b1) * (g - m);
            v = v * b2 + (1.0 - b2) * g * g;
            let denom = v.sqrt() / (1.0 - b2.powi(t)).sqrt() + eps;
            p += -(lr / (1.0 - b1.powi(t))) * m / denom;
        }
        p
    }

    #[test]
    fn adam_first_step_is_lr_times_sign_by_bias_correction() {
        // After bias correction m_hat = g, v_hat = g^2, so p1 = p0 - lr * g / (|g| + eps).
        let p = run(cfg(OptimizerKind::Adam, 0.01, 0.0, 0.0), &[1.0, -1.0], &[&[0.3, -2e-3]]);
        close(&p, &[1.0 - 0.01 * 0.3 / (0.3 + 1e-8), -1.0 + 0.01 * 2e-3 / (2e-3 + 1e-8)]);
        // Literal values (computed once with the formula above in Python):
        assert!((p[0] - 0.990_000_000_333_333_3).abs() < 1e-15);
    }

    #[test]
    fn adam_two_steps_with_coupled_l2_match_formulas() {
        let p = run(cfg(OptimizerKind::Adam, 0.1, 0.2, 0.0), &[1.5], &[&[0.4], &[-0.3]]);
        close(&p, &[adam_by_hand(1.5, [0.4, -0.3], 0.1, 0.2, false)]);
    }

    #[test]
    fn adamw_decays_parameters_before_the_adam_step() {
        let p = run(cfg(OptimizerKind::AdamW, 0.1, 0.2, 0.0), &[1.5], &[&[0.4], &[-0.3]]);
        close(&p, &[adam_by_hand(1.5, [0.4, -0.3], 0.1, 0.2, true)]);
        // With a zero gradient AdamW only decays: p = p0 (1 - lr wd) (m = v = 0, update 0).
        let q = run(cfg(OptimizerKind::AdamW, 0.1, 0.2, 0.0), &[2.0], &[&[0.0]]);
        close(&q, &[2.0 * 0.98]);
        // Adam's coupled L2 differs: the decay goes through the normalised step instead.
        let r = run(cfg(OptimizerKind::Adam, 0.1, 0.2, 0.0), &[2.0], &[&[0.0]]);
        assert!((r[0] - (2.0 - 0.1 * 0.4 / (0.4 + 1e-8))).abs() < 1e-15);
    }

    /// The vectorised lanes (quiet elements included) give the plain formula's bits: 3000
    /// elements over 1000 steps, a quarter starting with subnormal moments and no gradient, half of them losing
    /// their gradient after step 20 so that their first moments decay into the subnormals (f32).
    fn lanes_match_the_plain_formula<T: Scalar>(kind: OptimizerKind) {
        let n = 3000;
        let config = OptimizerConfig { kind, ..OptimizerConfig::default() };
        let mut opt = Optimizer::<T>::new(config.clone(), &[n]).unwrap();
        let init = |i: usize| T::from_f64(((i * 7919) % 1000) as f64 / 1000.0 - 0.5);
        let mut p: Vec<T> = (0..n).map(init).collect();
        // A quarter of the moments start subnormal (f64 would need thousands of steps to get there).
        let min_normal = if T::DTYPE == "F32" { f32::MIN_POSITIVE as f64 } else { f64::MIN_POSITIVE };
        let tiny = |i: usize| T::from_f64(if i.is_multiple_of(4) { min_normal * (i % 97) as f64 / 100.0 } else { 0.0 });
        let (mut m, mut v): (Vec<T>, Vec<T>) = ((0..n).map(tiny).collect(), (0..n).map(tiny).collect());
        opt.restore(0, |name| Some(if name.starts_with("exp_avg_sq") { v.clone() } else { m.clone() })).unwrap();
        let mut plain_p = p.clone();
        for step in 1..=1000 {
            let g: Vec<T> = (0..n)
                .map(|i| {
                    if i.is_multiple_of(4) || (step > 20 && i % 2 == 0) {
                        T::zero()
                    } else {
                        T::from_f64(((i + step) % 13) as f64 * 1e-3)
                    }
                })
                .collect();
            opt.step(vec![p.as_mut_slice()], std::slice::from_ref(&g)).unwrap();
            let s = opt.scalars().adam;
            for i in 0..n {
                quiet::adam_plain(&mut plain_p[i], g[i], &mut m[i], &mut v[i], &s, kind == OptimizerKind::AdamW);
            }
        }
        let state = opt.state_tensors();
        assert!(p.iter().zip(&plain_p).all(|(a, b)| a.to_f64().to_bits() == b.to_f64().to_bits()));
        assert!(state[0].1.iter().zip(&m).all(|(a, b)| a.to_f64().to_bits() == b.to_f64().to_bits()));
        assert!(state[1].1.iter().zip(&v).all(|(a, b)| a.to_f64().to_bits() == b.to_f64().to_bits()));
        let subnormal = m.iter().filter(|x| x.to_f64() != 0.0 && x.to_f64().abs() < min_normal).count();
        // (Adam's coupled decay keeps the gradient nonzero; f64 needs far more steps.)
        if T::DTYPE == "F32" && kind == OptimizerKind::AdamW {
            assert!(subnormal > n / 4, "{subnormal} subnormal first moments");
        }
    }

    #[test]
    fn adamw_and_adam_lanes_match_the_plain_formula_bit_for_bit() {
        lanes_match_the_plain_formula::<f32>(OptimizerKind::AdamW);
        lanes_match_the_plain_formula::<f32>(OptimizerKind::Adam);
        lanes_match_the_plain_formula::<f64>(OptimizerKind::AdamW);
    }

    #[test]
    fn state_round_trips_and_mismatched_lengths_are_errors() {
        let mut opt = Optimizer::<f64>::new(OptimizerConfig::default(), &[2, 1]).unwrap();
        let mut a = vec![1.0, 2.0];
        let mut b = vec![3.0];
        opt.step(vec![&mut a, &mut b], &[vec![0.1, 0.2], vec![0.3]]).unwrap();
        let saved: Vec<(String, Vec<f64>)> = opt.state_tensors().into_iter().map(|(n, v)| (n, v.to_vec())).collect();
        let mut fresh = Optimizer::<f64>::new(OptimizerConfig::default(), &[2, 1]).unwrap();
        fresh.restore(1, |k| saved.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())).unwrap();
        assert_eq!(fresh, opt);
        assert!(opt.step(vec![&mut a], &[vec![0.1, 0.2]]).is_err());
        assert!(opt.step(vec![&mut a, &mut b], &[vec![0.1], vec![0.3]]).is_err());
    }

    #[test]
    fn invalid_hyper_parameters_are_rejected() {
        let bad = OptimizerConfig { betas: [0.9, 1.0], ..OptimizerConfig::default() };
        assert!(Optimizer::<f64>::new(bad, &[1]).is_err());
        let bad = OptimizerConfig { lr: -1.0, ..OptimizerConfig::default() };
        assert!(Optimizer::<f64>::new(bad, &[1]).is_err());
    }
}
