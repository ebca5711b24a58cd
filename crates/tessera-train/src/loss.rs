//! Losses of a batch of network outputs against integer labels (classification) or real-valued
//! targets (regression), with their gradient with respect to the outputs (what
//! `Network::backward` takes).

use serde::{Deserialize, Serialize};
use tessera_net::{Scalar, Tensor};

use crate::error::{Result, TrainError};

/// A training loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// Mean squared error, averaged over every element of the batch: against one-hot targets
    /// (`nn.MSELoss()` on `one_hot(labels)`, as in the paper's MNIST runs) or against real-valued
    /// targets (regression, as the paper's 2-D toy spline).
    Mse,
    /// Cross-entropy of the log-softmax of the outputs, averaged over the batch
    /// (`nn.CrossEntropyLoss()`).
    CrossEntropy,
}

/// What a batch of outputs is compared with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Targets<'a> {
    /// One class per row.
    Classes(&'a [u8]),
    /// Real values, one per output element, row-major (regression).
    Values(&'a [f64]),
}

/// The mean loss of a batch and its gradient with respect to the outputs.
#[derive(Clone, Debug)]
pub struct LossValue<T> {
    /// The loss, accumulated in `f64`.
    pub value: f64,
    /// dLoss/dOutputs, same shape as the outputs.
    pub grad: Tensor<T>,
}

impl Loss {
    /// The mean loss of `outputs` (one row of logits per sample) against `labels`.
    pub fn value<T: Scalar>(self, outputs: &Tensor<T>, labels: &[u8]) -> Result<f64> {
        self.value_for(outputs, Targets::Classes(labels))
    }

    /// The mean loss and its gradient with respect to `outputs`, against `labels`.
    pub fn value_and_grad<T: Scalar>(self, outputs: &Tensor<T>, labels: &[u8]) -> Result<LossValue<T>> {
        self.value_and_grad_for(outputs, Targets::Classes(labels))
    }

    /// The mean loss of `outputs` against `targets`.
    pub fn value_for<T: Scalar>(self, outputs: &Tensor<T>, targets: Targets<'_>) -> Result<f64> {
        self.check_targets(outputs, targets)?;
        let width = outputs.width();
        let rows = outputs.data.chunks(width);
        let total: f64 = match (self, targets) {
            (Loss::Mse, Targets::Classes(labels)) => rows.zip(labels).map(|(row, &l)| squared_error(row, l)).sum(),
            (Loss::CrossEntropy, Targets::Classes(labels)) => {
                rows.zip(labels).map(|(row, &l)| cross_entropy(row, l)).sum()
            }
            (_, Targets::Values(values)) => {
                outputs.data.iter().zip(values).map(|(y, t)| (y.to_f64() - t).powi(2)).sum()
            }
        };
        Ok(total / self.denominator(outputs.batch, width))
    }

    /// The mean loss and its gradient with respect to `outputs`, against `targets`.
    pub fn value_and_grad_for<T: Scalar>(self, outputs: &Tensor<T>, targets: Targets<'_>) -> Result<LossValue<T>> {
        let mut grad = Tensor::empty();
        let value = self.value_and_grad_into(outputs, targets, &mut grad)?;
        Ok(LossValue { value, grad })
    }

    /// `value_and_grad_for` with the gradient written into `grad` (every value), reusing its
    /// buffer (a training loop's); returns the loss.
    pub fn value_and_grad_into<T: Scalar>(
        self,
        outputs: &Tensor<T>,
        targets: Targets<'_>,
        grad: &mut Tensor<T>,
    ) -> Result<f64> {
        let value = self.value_for(outputs, targets)?;
        let width = outputs.width();
        let scale = 1.0 / self.denominator(outputs.batch, width);
        grad.prepare(outputs.batch, &outputs.shape);
        let rows = grad.data.chunks_mut(width).zip(outputs.data.chunks(width));
        match targets {
            Targets::Classes(labels) => {
                for ((g, row), &label) in rows.zip(labels) {
                    match self {
                        Loss::Mse => squared_error_grad(row, label, scale, g),
                        Loss::CrossEntropy => cross_entropy_grad(row, label, scale, g),
                    }
                }
            }
            Targets::Values(values) => {
                for ((g, y), t) in grad.data.iter_mut().zip(&outputs.data).zip(values) {
                    *g = T::from_f64(2.0 * scale * (y.to_f64() - t));
                }
            }
        }
        Ok(value)
    }

    /// What the summed per-sample terms are divided by: every element (MSE) or every sample (CE).
    fn denominator(self, batch: usize, classes: usize) -> f64 {
        match self {
            Loss::Mse => (batch * classes) as f64,
            Loss::CrossEntropy => batch as f64,
        }
    }

    fn check_targets<T: Scalar>(self, outputs: &Tensor<T>, targets: Targets<'_>) -> Result<()> {
        match targets {
            Targets::Classes(labels) => check_labels(outputs, labels),
            Targets::Values(_) if self == Loss::CrossEntropy => {
                Err(TrainError::Shape("cross-entropy needs class labels, not real-valued targets".into()))
            }
            Targets::Values(values) if values.len() != outputs.data.len() => Err(TrainError::Shape(format!(
                "{} output values ({} rows of {}) but {} targets",
                outputs.data.len(),
                outputs.batch,
                outputs.width(),
                values.len()
            ))),
            Targets::Values(_) => Ok(()),
        }
    }
}

/// The number of rows whose largest output is at the label (ties go to the first index, as
/// `argmax` does).
pub fn correct_count<T: Scalar>(outputs: &Tensor<T>, labels: &[u8]) -> usize {
    outputs.data.chunks(outputs.width()).zip(labels).filter(|(row, &label)| argmax(row) == usize::from(label)).count()
}

/// Index of the first largest value.
pub fn argmax<T: Scalar>(row: &[T]) -> usize {
    let mut best = 0;
    for (i, v) in row.iter().enumerate() {
        if *v > row[best] {
            best = i;
        }
    }
    best
}

fn check_labels<T: Scalar>(outputs: &Tensor<T>, labels: &[u8]) -> Result<()> {
    if outputs.batch != labels.len() {
        return Err(TrainError::Shape(format!("{} output rows but {} labels", outputs.batch, labels.len())));
    }
    if let Some(bad) = labels.iter().find(|&&l| usize::from(l) >= outputs.width()) {
        return Err(TrainError::Shape(format!("label {bad} but the network has {} outputs", outputs.width())));
    }
    Ok(())
}

fn one_hot(label: u8, class: usize) -> f64 {
    f64::from(u8::from(usize::from(label) == class))
}

/// Sum over classes of `(y_c - onehot_c)^2`.
fn squared_error<T: Scalar>(row: &[T], label: u8) -> f64 {
    row.iter().enumerate().map(|(c, y)| (y.to_f64() - one_hot(label, c)).powi(2)).sum()
}

fn squared_error_grad<T: Scalar>(row: &[T], label: u8, scale: f64, grad: &mut [T]) {
    for (c, (g, y)) in grad.iter_mut().zip(row).enumerate() {
        *g = T::from_f64(2.0 * scale * (y.to_f64() - one_hot(label, c)));
    }
}

/// `logsumexp(row) - row[label]`, computed with the row's maximum subtracted.
fn cross_entropy<T: Scalar>(row: &[T], label: u8) -> f64 {
    log_sum_exp(row) - row[usize::from(label)].to_f64()
}

fn cross_entropy_grad<T: Scalar>(row: &[T], label: u8, scale: f64, grad: &mut [T]) {
    let lse = log_sum_exp(row);
    for (c, (g, y)) in grad.iter_mut().zip(row).enumerate() {
        *g = T::from_f64(scale * ((y.to_f64() - lse).exp() - one_hot(label, c)));
    }
}

fn log_sum_exp<T: Scalar>(row: &[T]) -> f64 {
    let max = row.iter().map(|v| v.to_f64()).fold(f64::NEG_INFINITY, f64::max);
    max + row.iter().map(|v| (v.to_f64() - max).exp()).sum::<f64>().ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outputs(rows: &[&[f64]]) -> Tensor<f64> {
        Tensor::from_vec(&[rows[0].len()], rows.concat()).unwrap()
    }

    /// dLoss/dOutput by central differences, one element at a time.
    fn numeric_grad(loss: Loss, y: &Tensor<f64>, labels: &[u8]) -> Vec<f64> {
        let h = 1e-6;
        (0..y.data.len())
            .map(|i| {
                let (mut plus, mut minus) = (y.clone(), y.clone());
                plus.data[i] += h;
                minus.data[i] -= h;
                (loss.value(&plus, labels).unwrap() - loss.value(&minus, labels).unwrap()) / (2.0 * h)
            })
            .collect()
    }

    #[test]
    fn mse_is_mean_over_elements_of_squared_one_hot_error() {
        let y = outputs(&[&[0.5, -1.0, 2.0], &[0.0, 1.0, 0.0]]);
        // Row 0, label 2: 0.25 + 1 + 1 = 2.25; row 1, label 1: 0. Mean over 6 elements.
        assert!((Loss::Mse.value(&y, &[2, 1]).unwrap() - 2.25 / 6.0).abs() < 1e-15);
    }

    #[test]
    fn cross_entropy_matches_log_softmax_by_hand() {
        let y = outputs(&[&[1.0, 2.0, 3.0], &[0.0, 0.0, 0.0]]);
        let lse0 = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln();
        let expected = ((lse0 - 1.0) + 3f64.ln()) / 2.0;
        assert!((Loss::CrossEntropy.value(&y, &[0, 2]).unwrap() - expected).abs() < 1e-14);
    }

    #[test]
    fn cross_entropy_is_stable_for_huge_logits() {
        let y = outputs(&[&[1000.0, -1000.0]]);
        let v = Loss::CrossEntropy.value_and_grad(&y, &[1]).unwrap();
        assert!((v.value - 2000.0).abs() < 1e-9);
        assert!(v.grad.data.iter().all(|g| g.is_finite()));
    }

    #[test]
    fn loss_gradients_match_central_differences() {
        let y = outputs(&[&[0.3, -1.2, 0.7, 2.0], &[-0.4, 0.1, 0.9, -2.2], &[1.5, 1.4, -0.3, 0.0]]);
        let labels = [3, 0, 1];
        for loss in [Loss::Mse, Loss::CrossEntropy] {
            let analytic = loss.value_and_grad(&y, &labels).unwrap().grad.data;
            for (a, n) in analytic.iter().zip(numeric_grad(loss, &y, &labels)) {
                assert!((a - n).abs() < 1e-8 * (1.0 + n.abs()), "{loss:?}: {a} vs {n}");
            }
        }
    }

    #[test]
    fn regression_mse_is_mean_squared_difference_with_central_difference_gradient() {
        let y = outputs(&[&[0.5], &[-1.0], &[2.0]]);
        let t = [1.0, -1.0, 0.0];
        let v = Loss::Mse.value_and_grad_for(&y, Targets::Values(&t)).unwrap();
        assert!((v.value - (0.25 + 0.0 + 4.0) / 3.0).abs() < 1e-15);
        let h = 1e-6;
        for i in 0..3 {
            let (mut plus, mut minus) = (y.clone(), y.clone());
            plus.data[i] += h;
            minus.data[i] -= h;
            let at = |o: &Tensor<f64>| Loss::Mse.value_for(o, Targets::Values(&t)).unwrap();
            let numeric = (at(&plus) - at(&minus)) / (2.0 * h);
            assert!((v.grad.data[i] - numeric).abs() < 1e-8, "{} vs {numeric}", v.grad.data[i]);
        }
    }

    #[test]
    fn regression_targets_must_match_the_outputs_and_refuse_cross_entropy() {
        let y = outputs(&[&[0.5, 1.0]]);
        let e = Loss::Mse.value_for(&y, Targets::Values(&[1.0])).unwrap_err().to_string();
        assert!(e.contains("2 output values") && e.contains("1 targets"), "{e}");
        let e = Loss::CrossEntropy.value_for(&y, Targets::Values(&[1.0, 2.0])).unwrap_err().to_string();
        assert!(e.contains("cross-entropy needs class labels"), "{e}");
    }

    #[test]
    fn wrong_label_count_or_range_is_an_error() {
        let y = outputs(&[&[0.0, 1.0]]);
        assert!(Loss::Mse.value(&y, &[0, 1]).is_err());
        assert!(Loss::CrossEntropy.value(&y, &[2]).is_err());
    }

    #[test]
    fn correct_count_uses_first_argmax() {
        let y = outputs(&[&[1.0, 1.0], &[0.0, 2.0], &[3.0, 2.0]]);
        assert_eq!(correct_count(&y, &[0, 1, 1]), 2);
    }
}
