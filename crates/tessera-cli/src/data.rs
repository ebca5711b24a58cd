//! `tessera data`: download the standard dataset files (SHA-256 verified) and show where each
//! dataset is found.

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use tessera_data::{fetch, DataDir, DatasetKind, DownloadProgress, FetchSpec, Split};

/// Arguments of `tessera data`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Download a dataset's standard files and verify their SHA-256 sums.
    Fetch {
        /// mnist, fashion-mnist, cifar10 or cifar100.
        dataset: DatasetKind,
        /// Destination folder (default: the first data root's subfolder for the dataset).
        #[arg(long)]
        dest: Option<PathBuf>,
        /// Fetch from this base URL instead of the standard one (a mirror).
        #[arg(long)]
        base_url: Option<String>,
        /// Data root (default: $TESSERA_DATA, ./data, ../shared/data).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Say where a dataset is found (or what is missing), and its size.
    Info {
        /// mnist, fashion-mnist, cifar10 or cifar100.
        dataset: DatasetKind,
        /// Data root searched first (then $TESSERA_DATA, ./data, ../shared/data).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.action {
        Action::Fetch { dataset, dest, base_url, data_dir } => {
            let dest = dest.unwrap_or_else(|| DataDir::resolve(data_dir.as_deref()).fetch_destination(dataset));
            let mut bar = DownloadBar::default();
            let report = fetch(&FetchSpec::for_dataset(dataset), &dest, base_url.as_deref(), &mut |p| bar.update(p))
                .with_context(|| format!("fetching {dataset} into {}", dest.display()))?;
            bar.finish();
            for f in &report.downloaded {
                println!("downloaded and verified {f}");
            }
            for f in &report.already_present {
                println!("already present and intact {f}");
            }
            println!("{dataset} is in {}", dest.display());
            Ok(())
        }
        Action::Info { dataset, data_dir } => {
            let dirs = DataDir::resolve(data_dir.as_deref());
            for split in [Split::Train, Split::Test] {
                println!("{}", dirs.explain_search(dataset, split));
                if let Ok(ds) = dirs.load(dataset, split) {
                    let shape = ds.sample_shape().iter().map(usize::to_string).collect::<Vec<_>>().join("x");
                    println!("  {split}: {} samples of shape {shape}, {} classes", ds.len(), ds.num_classes());
                }
            }
            Ok(())
        }
    }
}

/// One progress bar per downloaded file (indicatif hides it when stderr is not a terminal).
#[derive(Default)]
struct DownloadBar {
    current: Option<(String, ProgressBar)>,
}

impl DownloadBar {
    fn update(&mut self, progress: DownloadProgress<'_>) {
        if self.current.as_ref().is_none_or(|(name, _)| name != progress.file_name) {
            self.finish();
            let bar = ProgressBar::new(progress.total.unwrap_or(0));
            let template = "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})";
            bar.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()));
            bar.set_message(progress.file_name.to_string());
            self.current = Some((progress.file_name.to_string(), bar));
        }
        if let Some((_, bar)) = &self.current {
            bar.set_position(progress.received);
        }
    }

    fn finish(&mut self) {
        if let Some((_, bar)) = self.current.take() {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(subcommand)]
        action: Action,
    }

    #[test]
    fn every_argument_of_data_info_and_fetch_has_a_description() {
        let command = Cli::command();
        for sub in ["info", "fetch"] {
            let sub = command.find_subcommand(sub).unwrap();
            for arg in sub.get_arguments() {
                let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
                assert!(!help.is_empty(), "{} --{}: no help", sub.get_name(), arg.get_id());
            }
        }
    }
}
