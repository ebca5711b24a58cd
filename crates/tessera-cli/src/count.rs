//! `tessera count` (not yet available).

/// Arguments of `tessera count`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`tessera count` is not yet available")
}
