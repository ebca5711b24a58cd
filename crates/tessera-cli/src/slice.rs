//! `tessera slice` (not yet available).

/// Arguments of `tessera slice`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`tessera slice` is not yet available")
}
