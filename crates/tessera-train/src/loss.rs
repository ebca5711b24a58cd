//! Losses of a batch of network outputs against integer labels, with their gradient with respect
//! to the outputs (what `Network::backward` takes).

use serde::{Deserialize, Serialize};
use tessera_net::{Scalar, Tensor};

use crate::error::{Result, TrainError};

/// A training loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// Mean squared error against one-hot targets, averaged over every element of the batch
    /// (`nn.MSELoss()` on `one_hot(labels)`), as in the paper's MNIST runs.
    Mse,
    /// Cross-entropy of the log-softmax of the outputs, averaged over the batch
    /// (`nn.CrossEntropyLoss()`).
    CrossEntropy,
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
        check_labels(outputs, labels)?;
        let classes = outputs.width();
        let total: f64 = outputs
            .data
            .chunks(classes)
            .zip(labels)
            .map(|(row, &label)| match self {
                Loss::Mse => squared_error(row, label),
                Loss::CrossEntropy => cross_entropy(row, label),
            })
            .sum();
        Ok(total / self.denominator(outputs.batch, classes))
    }

    /// The mean loss and its gradient with respect to `outputs`.
    pub fn value_and_grad<T: Scalar>(self, outputs: &Tensor<T>, labels: &[u8]) -> Result<LossValue<T>> {
        let value = self.value(outputs, labels)?;
        let classes = outputs.width();
        let scale = 1.0 / self.denominator(outputs.batch, classes);
        let mut grad = Tensor::zeros(outputs.batch, &outputs.shape);
        for ((g, row), &label) in grad.data.chunks_mut(classes).zip(outputs.data.chunks(classes)).zip(labels) {
            match self {
                Loss::Mse => squared_error_grad(row, label, scale, g),
                Loss::CrossEntropy => cross_entropy_grad(row, label, scale, g),
            }
        }
        Ok(LossValue { value, grad })
    }

    /// What the summed per-sample terms are divided by: every element (MSE) or every sample (CE).
    fn denominator(self, batch: usize, classes: usize) -> f64 {
        match self {
            Loss::Mse => (batch * classes) as f64,
            Loss::CrossEntropy => batch as f64,
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
