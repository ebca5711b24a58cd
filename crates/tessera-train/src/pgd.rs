//! L∞ projected gradient descent (PGD) attacks and adversarial accuracy.
//!
//! For each point `x` with label `y`: start at `x + δ`, `δ` uniform in `[-ε, ε]` per coordinate,
//! clamped to the data domain; then `steps` times: `x' ← x' + α·sign(∇ₓ CE(f(x'), y))`,
//! projected onto `[x - ε, x + ε]` and clamped to the domain (`sign(0) = 0`, as `torch.sign`).
//!
//! The loss attacked is the cross-entropy of the logits even for networks trained with MSE, as
//! the paper's reference code does.
//!
//! A point counts as robust only when the network classifies it correctly at the clean point
//! and at every iterate, the random start and the final point included: the attack keeps any
//! success it finds. This makes adversarial accuracy at most the clean accuracy on the same
//! points by construction; the reference code judges the final iterate only, which can only
//! report a higher (never lower) adversarial accuracy.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tessera_net::{Gradients, Mode, Network, Scalar, Tape, Tensor, Wants};

use crate::data::Points;
use crate::error::{Result, TrainError};
use crate::evaluate::{Evaluator, Metrics};
use crate::loss::{argmax, Loss, Targets};

/// The per-coordinate box inputs must stay in.
#[derive(Clone, Debug, PartialEq)]
pub struct InputBox<T> {
    /// Lower bound per input coordinate.
    pub lower: Vec<T>,
    /// Upper bound per input coordinate.
    pub upper: Vec<T>,
}

impl<T: Scalar> InputBox<T> {
    /// An unbounded box of `width` coordinates.
    pub fn unbounded(width: usize) -> Self {
        Self { lower: vec![T::from_f64(f64::NEG_INFINITY); width], upper: vec![T::from_f64(f64::INFINITY); width] }
    }

    /// From a dataset's domain.
    pub fn from_domain(domain: &tessera_data::Domain) -> Self {
        let conv = |v: &[f32]| v.iter().map(|&x| T::from_f64(f64::from(x))).collect();
        Self { lower: conv(domain.lower()), upper: conv(domain.upper()) }
    }

    fn clamp(&self, j: usize, v: T) -> T {
        clamp(v, self.lower[j], self.upper[j])
    }
}

/// One attack's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PgdAttack {
    /// Radius of the L∞ ball around each clean point.
    pub eps: f64,
    /// Step size of each signed-gradient step.
    pub alpha: f64,
    /// Number of steps.
    pub steps: usize,
}

/// What an attack returns: the final iterates and, per point, whether the network was right at
/// the clean point and at every iterate.
#[derive(Clone, Debug)]
pub struct PgdOutcome<T> {
    /// The last iterate of each point.
    pub adversarial: Tensor<T>,
    /// Per point: classified correctly at the clean point and at every iterate.
    pub robust: Vec<bool>,
}

impl PgdAttack {
    /// Attack `points` (labelled) within `domain`; `rng` draws the random starts.
    pub fn run<T: Scalar>(
        &self,
        net: &Network<T>,
        points: &Points<T>,
        domain: &InputBox<T>,
        rng: &mut ChaCha8Rng,
    ) -> Result<PgdOutcome<T>> {
        let x = &points.inputs;
        if domain.lower.len() != x.width() {
            return Err(TrainError::Shape(format!(
                "domain has {} coordinates, points {}",
                domain.lower.len(),
                x.width()
            )));
        }
        let mut robust = predictions_match(&net.forward(x, Mode::Eval)?, &points.labels);
        let eps = T::from_f64(self.eps);
        let mut adv = x.clone();
        for (i, v) in adv.data.iter_mut().enumerate() {
            let delta = T::from_f64(rng.random_range(-self.eps..=self.eps));
            *v = domain.clamp(i % x.width(), *v + delta);
        }
        // One tape, loss gradient and set of gradient buffers for every step: a fresh batch of
        // activations per step cost more in zero-filled pages than the convolutions themselves.
        let (mut tape, mut grad_out, mut grads) = (Tape::empty(), Tensor::empty(), Gradients::default());
        for _ in 0..self.steps {
            net.forward_tape_into(&adv, Mode::Eval, &mut tape)?;
            and_assign(&mut robust, &predictions_match(tape.output(), &points.labels));
            Loss::CrossEntropy.value_and_grad_into(tape.output(), Targets::Classes(&points.labels), &mut grad_out)?;
            net.backward_into(&tape, &grad_out, Wants::INPUT, &mut grads);
            let grad = grads.input.as_ref().expect("input gradient was asked for");
            let step = T::from_f64(self.alpha);
            for (i, (a, (g, x0))) in adv.data.iter_mut().zip(grad.data.iter().zip(&x.data)).enumerate() {
                let moved = *a + step * sign(*g);
                *a = domain.clamp(i % x.width(), clamp(moved, *x0 - eps, *x0 + eps));
            }
        }
        and_assign(&mut robust, &predictions_match(&net.forward(&adv, Mode::Eval)?, &points.labels));
        Ok(PgdOutcome { adversarial: adv, robust })
    }
}

fn predictions_match<T: Scalar>(outputs: &Tensor<T>, labels: &[u8]) -> Vec<bool> {
    outputs.data.chunks(outputs.width()).zip(labels).map(|(row, &y)| argmax(row) == usize::from(y)).collect()
}

fn and_assign(acc: &mut [bool], other: &[bool]) {
    acc.iter_mut().zip(other).for_each(|(a, &b)| *a &= b);
}

fn sign<T: Scalar>(v: T) -> T {
    if v > T::zero() {
        T::one()
    } else if v < T::zero() {
        -T::one()
    } else {
        T::zero()
    }
}

fn clamp<T: Scalar>(v: T, lo: T, hi: T) -> T {
    if v < lo {
        lo
    } else if v > hi {
        hi
    } else {
        v
    }
}

/// `pgd_clean_acc` and `pgd_acc_eps{ε}` for every ε, on a fixed set of test points.
pub struct PgdEvaluator<T> {
    points: Points<T>,
    domain: InputBox<T>,
    eps: Vec<f64>,
    alpha: f64,
    steps: usize,
    seed: u64,
    batch_size: usize,
}

impl<T: Scalar> PgdEvaluator<T> {
    /// An evaluator attacking `points` inside `domain` with the attacks of `config`, `batch_size` points at a time.
    pub fn new(points: Points<T>, domain: InputBox<T>, config: &crate::config::PgdConfig, batch_size: usize) -> Self {
        Self {
            points,
            domain,
            eps: config.eps.clone(),
            alpha: config.alpha,
            steps: config.steps,
            seed: crate::config::RunConfig::seed_of(config.seed),
            batch_size,
        }
    }
}

impl<T: Scalar> Evaluator<T> for PgdEvaluator<T> {
    fn name(&self) -> &str {
        "pgd"
    }

    fn evaluate(&mut self, net: &Network<T>, step: u64) -> Result<Metrics> {
        let n = self.points.len().max(1) as f64;
        let clean = predictions_match(&net.forward(&self.points.inputs, Mode::Eval)?, &self.points.labels);
        let mut metrics = vec![("pgd_clean_acc".to_string(), clean.iter().filter(|&&c| c).count() as f64 / n)];
        for (k, &eps) in self.eps.iter().enumerate() {
            // One random stream per (step, eps): the same network and step give the same numbers.
            let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
            rng.set_stream(step.wrapping_mul(1024).wrapping_add(k as u64));
            let attack = PgdAttack { eps, alpha: self.alpha, steps: self.steps };
            let mut robust = 0;
            for start in (0..self.points.len()).step_by(self.batch_size.max(1)) {
                let chunk = self.points.rows(start, (start + self.batch_size).min(self.points.len()));
                robust += attack.run(net, &chunk, &self.domain, &mut rng)?.robust.iter().filter(|&&r| r).count();
            }
            metrics.push((format!("pgd_acc_eps{eps}"), robust as f64 / n));
        }
        Ok(metrics)
    }
}
