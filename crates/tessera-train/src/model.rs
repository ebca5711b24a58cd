//! Building the network a `[model]` section describes, sized by the data.

use tessera_net::{cnn, mlp_with_norm, preact_resnet18, CnnSpec, Network, Scalar};

use crate::config::{Arch, ModelConfig, RunConfig};
use crate::error::{Result, TrainError};

/// The network of `model` for samples of `sample_shape` and `classes` outputs, initialized as
/// PyTorch does by default and scaled by `init_scale`.
pub fn build_network<T: Scalar>(model: &ModelConfig, sample_shape: &[usize], classes: usize) -> Result<Network<T>> {
    let activation = model.activation()?;
    let mut net = match model.arch {
        Arch::Mlp => {
            let input: usize = sample_shape.iter().product();
            let widths: Vec<usize> =
                std::iter::once(input).chain(model.hidden.iter().copied()).chain([classes]).collect();
            mlp_with_norm(&widths, activation, model.batch_norm)?
        }
        Arch::Cnn => cnn(&CnnSpec {
            input: image_shape(sample_shape)?,
            convs: model.convs.clone(),
            hidden: model.hidden.clone(),
            classes,
            activation,
            batch_norm: model.batch_norm,
        })?,
        Arch::Resnet18 => preact_resnet18(image_shape(sample_shape)?, model.width, classes, model.batch_norm)?,
    };
    net.init_pytorch_default(RunConfig::seed_of(model.init_seed), model.init_scale);
    Ok(net)
}

fn image_shape(sample_shape: &[usize]) -> Result<[usize; 3]> {
    match sample_shape {
        [c, h, w] => Ok([*c, *h, *w]),
        other => Err(TrainError::config(
            "[model]",
            format!("convolutional models need [C, H, W] samples, the data has {other:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mlp_is_sized_by_the_data() {
        let model = ModelConfig { init_seed: Some(0), ..ModelConfig::default() };
        let net = build_network::<f64>(&model, &[1, 28, 28], 10).unwrap();
        assert_eq!((net.input_width(), net.output_width()), (784, 10));
        assert_eq!(net.activation_ids().len(), 3);
    }

    #[test]
    fn cnn_needs_image_samples() {
        let model = ModelConfig { arch: Arch::Cnn, init_seed: Some(0), ..ModelConfig::default() };
        assert!(build_network::<f32>(&model, &[2], 2).is_err());
    }
}
