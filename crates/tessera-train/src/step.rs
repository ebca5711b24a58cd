//! One optimizer update: forward in training mode, loss, backward, batch-norm running
//! statistics, optimizer step, with the buffers a loop reuses from step to step.

use tessera_net::{with_workers_awake, Gradients, Mode, Network, Scalar, Tape, Tensor, Wants};

use crate::data::Points;
use crate::error::Result;
use crate::loss::Loss;
use crate::optim::Optimizer;

/// The mini-batch, tape, loss-gradient and gradient buffers of a training loop, kept across
/// steps so that a step does not allocate (and the operating system zero-fill) them again.
pub struct StepScratch<T> {
    /// The batch of the next step (fill it, e.g. with `Points::gather_into`).
    pub batch: Points<T>,
    tape: Tape<T>,
    loss_grad: Tensor<T>,
    grads: Gradients<T>,
}

impl<T: Scalar> Default for StepScratch<T> {
    fn default() -> Self {
        Self {
            batch: Points::new(Tensor { shape: vec![0], batch: 0, data: Vec::new() }, Vec::new()),
            tape: Tape::empty(),
            loss_grad: Tensor::empty(),
            grads: Gradients::default(),
        }
    }
}

impl<T: Scalar> StepScratch<T> {
    /// Buffers whose first batch is `batch`.
    pub fn with_batch(batch: Points<T>) -> Self {
        Self { batch, ..Self::default() }
    }

    /// One update of `net` on `self.batch`; returns the batch loss.
    ///
    /// Batch norm runs in training mode and its running statistics are updated as PyTorch does
    /// during the forward pass. The whole step runs on rayon's pool, so its parallel parts do not
    /// each pay the hand-off from the calling thread, with the other workers kept awake between
    /// them (`with_workers_awake`: waking a sleeping worker costs as much as a layer's half of a
    /// product on some machines).
    pub fn step(&mut self, net: &mut Network<T>, optimizer: &mut Optimizer<T>, loss: Loss) -> Result<f64> {
        let Self { batch, tape, loss_grad, grads } = self;
        with_workers_awake(|| {
            net.forward_tape_into(&batch.inputs, Mode::Train, tape)?;
            let value = loss.value_and_grad_into(tape.output(), batch.targets(), loss_grad)?;
            net.backward_into(tape, loss_grad, Wants::PARAMS, grads);
            net.update_running_stats(tape);
            optimizer.step(net.trainable_mut(), &grads.params)?;
            Ok(value)
        })
    }
}

/// One update of `net` on `batch` with fresh buffers (see `StepScratch::step`).
pub fn training_step<T: Scalar>(
    net: &mut Network<T>,
    optimizer: &mut Optimizer<T>,
    loss: Loss,
    batch: &Points<T>,
) -> Result<f64> {
    let mut scratch = StepScratch::with_batch(batch.clone());
    scratch.step(net, optimizer, loss)
}
