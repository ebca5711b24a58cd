//! What is measured at an evaluation step. Each measurement is an `Evaluator` plug-in that
//! returns named values; the run records them in order as one row of the metrics files.

use tessera_net::{Mode, Network, Scalar};

use crate::data::Points;
use crate::error::Result;
use crate::loss::{correct_count, Loss, Targets};

/// Named values measured at one step, in a fixed order (the metrics columns).
pub type Metrics = Vec<(String, f64)>;

/// One kind of measurement taken at every evaluation step.
pub trait Evaluator<T: Scalar>: Send {
    /// A short name for timings and messages ("train", "lc", "pgd").
    fn name(&self) -> &str;

    /// Measure `net` after `step` optimizer updates. The network is used in evaluation mode
    /// (batch norm with running statistics). The same network and step must give the same
    /// values: evaluators that draw random numbers seed them from `step`.
    fn evaluate(&mut self, net: &Network<T>, step: u64) -> Result<Metrics>;
}

/// Mean loss and accuracy of a network on points, in batches of `batch_size`. Accuracy is NaN
/// for regression targets (there is no class to get right).
pub fn loss_and_accuracy<T: Scalar>(
    net: &Network<T>,
    points: &Points<T>,
    loss: Loss,
    batch_size: usize,
) -> Result<(f64, f64)> {
    let n = points.len();
    if n == 0 {
        return Ok((f64::NAN, f64::NAN));
    }
    let (mut loss_sum, mut correct) = (0.0, 0);
    for start in (0..n).step_by(batch_size.max(1)) {
        let chunk = points.rows(start, (start + batch_size).min(n));
        let out = net.forward(&chunk.inputs, Mode::Eval)?;
        loss_sum += loss.value_for(&out, chunk.targets())? * chunk.len() as f64;
        correct += correct_count(&out, &chunk.labels);
    }
    let accuracy = match points.targets() {
        Targets::Classes(_) => correct as f64 / n as f64,
        Targets::Values(_) => f64::NAN,
    };
    Ok((loss_sum / n as f64, accuracy))
}

/// `{prefix}_loss` and `{prefix}_acc` on a fixed set of points.
pub struct LossAccuracy<T> {
    prefix: String,
    points: Points<T>,
    loss: Loss,
    batch_size: usize,
}

impl<T: Scalar> LossAccuracy<T> {
    /// Loss and accuracy of `points`, reported as `{prefix}_loss` and `{prefix}_acc`, `batch_size` points at a time.
    pub fn new(prefix: &str, points: Points<T>, loss: Loss, batch_size: usize) -> Self {
        Self { prefix: prefix.to_string(), points, loss, batch_size }
    }
}

impl<T: Scalar> Evaluator<T> for LossAccuracy<T> {
    fn name(&self) -> &str {
        &self.prefix
    }

    fn evaluate(&mut self, net: &Network<T>, _step: u64) -> Result<Metrics> {
        let (loss, acc) = loss_and_accuracy(net, &self.points, self.loss, self.batch_size)?;
        Ok(vec![(format!("{}_loss", self.prefix), loss), (format!("{}_acc", self.prefix), acc)])
    }
}
