//! `tessera data`: download the standard dataset files (SHA-256 verified) and show where each
//! dataset is found.

use anyhow::Context;
use std::path::PathBuf;
use tessera_data::{fetch, DataDir, DatasetKind, FetchSpec, Split};

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
        dataset: DatasetKind,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.action {
        Action::Fetch { dataset, dest, base_url, data_dir } => {
            let dest = dest.unwrap_or_else(|| DataDir::resolve(data_dir.as_deref()).fetch_destination(dataset));
            let report = fetch(&FetchSpec::for_dataset(dataset), &dest, base_url.as_deref())
                .with_context(|| format!("fetching {dataset} into {}", dest.display()))?;
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
                    println!(
                        "  {split:?}: {} samples of shape {:?}, {} classes",
                        ds.len(),
                        ds.sample_shape(),
                        ds.num_classes()
                    );
                }
            }
            Ok(())
        }
    }
}
