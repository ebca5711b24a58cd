//! `tessera data` (not yet available).

/// Arguments of `tessera data`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`tessera data` is not yet available")
}
