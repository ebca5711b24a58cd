//! `tessera train` (not yet available).

/// Arguments of `tessera train`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`tessera train` is not yet available")
}
