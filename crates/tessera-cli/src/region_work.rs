//! Running an exact count or slice partition with its progress on stderr (regions so far, the
//! layer being split, the rate, the elapsed time) and Ctrl-C stopping it, shared by `count`
//! and `slice`.

use tessera_progress::{Reporter, Status};
use tessera_regions::{CountProgress, RegionError};

/// What a region command is called and how it says it can be made smaller.
pub struct RegionWork<'a> {
    /// The command, e.g. "slice" (labels the progress lines).
    pub label: &'a str,
    /// What it was doing, for other errors, e.g. "partitioning the slice".
    pub doing: &'a str,
    /// Besides `--max-regions`, the flag that makes the work smaller, e.g. "shrink --radius".
    pub smaller: &'a str,
}

impl RegionWork<'_> {
    /// Run `work` with a fresh progress it reports to; Ctrl-C cancels it, and a region limit or
    /// interruption becomes an error naming the flags and how far it got.
    pub fn run<T>(&self, work: impl FnOnce(&CountProgress) -> Result<T, RegionError>) -> anyhow::Result<T> {
        crate::interrupt::listen();
        let progress = CountProgress::new();
        let result = tessera_progress::watch(Reporter::new(self.label, None), || status(&progress), || work(&progress));
        result.map_err(|e| match e {
            RegionError::TooManyRegions { .. } => {
                anyhow::anyhow!("{e}: raise --max-regions or {}", self.smaller)
            }
            RegionError::Interrupted { regions } => {
                let (layer, layers) = progress.layer();
                anyhow::anyhow!(
                    "{} interrupted (Ctrl-C) after {regions} complete regions, at kinked layer {layer}/{layers}; \
                     nothing written",
                    self.label
                )
            }
            other => anyhow::Error::new(other).context(self.doing.to_string()),
        })
    }
}

/// What the work has done so far; passes a Ctrl-C on to it.
fn status(progress: &CountProgress) -> Status {
    if crate::interrupt::requested() {
        progress.cancel();
    }
    let (layer, layers) = progress.layer();
    let message =
        format!("kinked layer {layer}/{layers}: {} regions ({:.0} regions/s)", progress.regions(), progress.rate());
    Status { position: progress.regions() as u64, message, eta: None }
}
