//! `tessera import`: an ONNX model (e.g. from `torch.onnx.export`) to a tessera model directory.

use anyhow::Context;
use std::path::PathBuf;

/// Arguments of `tessera import`.
#[derive(clap::Args)]
pub struct Args {
    /// The ONNX file (weights stored as external data are read from beside it).
    pub model: PathBuf,
    /// The model directory to write (architecture.json + weights.safetensors).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let net = crate::model::import_onnx_model(&args.model)?;
    net.save(&args.out).with_context(|| format!("saving the model to {}", args.out.display()))?;
    let activations = net.activation_ids();
    let neurons: usize = activations.iter().map(|&id| net.shape(id).iter().product::<usize>()).sum();
    println!(
        "imported {} -> {}: {} nodes, {} activation layers ({neurons} neurons), {} parameters",
        args.model.display(),
        args.out.display(),
        net.nodes().len(),
        activations.len(),
        net.num_parameters()
    );
    Ok(())
}
