//! `tessera lc` (not yet available).

/// Arguments of `tessera lc`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`tessera lc` is not yet available")
}
