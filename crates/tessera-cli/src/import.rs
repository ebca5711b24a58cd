//! `tessera import`: a model from PyTorch to a tessera model directory — an ONNX file (e.g. from
//! `torch.onnx.export`), or a printed `nn.Sequential` with its state dict as safetensors.

use anyhow::Context;
use std::path::PathBuf;
use tessera_net::Network;

/// Arguments of `tessera import`.
#[derive(clap::Args)]
pub struct Args {
    /// The model: an `.onnx` file (weights stored as external data are read from beside it), or
    /// the `print(model)` text of a flat nn.Sequential preceded by a line `input: C,H,W` (then
    /// pass `--weights`; see docs/formats.md).
    pub model: PathBuf,
    /// The state dict of a printed nn.Sequential, saved with safetensors' `save_file`.
    #[arg(long, value_name = "SAFETENSORS")]
    pub weights: Option<PathBuf>,
    /// The model directory to write (architecture.json + weights.safetensors).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    crate::output_paths::check_output_dir(&args.out)?;
    let net = match &args.weights {
        Some(weights) => tessera_net::pytorch::load_sequential::<f64>(&args.model, weights)?,
        None if crate::model::is_onnx(&args.model) => crate::model::import_onnx_model(&args.model)?,
        None => anyhow::bail!(
            "{}: not an .onnx file; a printed nn.Sequential also needs its state dict: \
             tessera import {} --weights model.safetensors --out {}",
            args.model.display(),
            args.model.display(),
            args.out.display()
        ),
    };
    net.save(&args.out).with_context(|| format!("saving the model to {}", args.out.display()))?;
    println!("imported {} -> {}: {}", args.model.display(), args.out.display(), describe(&net));
    Ok(())
}

/// "N nodes, K activation layers (M neurons), P parameters".
fn describe(net: &Network<f64>) -> String {
    let activations = net.activation_ids();
    let neurons: usize = activations.iter().map(|&id| net.shape(id).iter().product::<usize>()).sum();
    let layers = if activations.len() == 1 { "activation layer" } else { "activation layers" };
    format!(
        "{} nodes, {} {layers} ({neurons} neurons), {} parameters",
        net.nodes().len(),
        activations.len(),
        net.num_parameters()
    )
}
