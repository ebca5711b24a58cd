//! `tessera train CONFIG.toml [--set key=value ...] [--out DIR] [--resume]`: a training run
//! that records loss, accuracy, local complexity and adversarial accuracy at log-spaced steps.
//! Ctrl-C stops at the next step with a checkpoint; `--resume` continues bit-exactly.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use tessera_train::{RunConfig, RunControl, RunOutcome, Session};

/// Arguments of `tessera train`.
#[derive(clap::Args)]
pub struct Args {
    /// Run configuration (TOML with sections data, model, optim, train, eval, lc, pgd).
    config: PathBuf,
    /// Override a config value with a dotted key, e.g. `--set model.init_scale=8` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Run directory (default: runs/<config file name>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the run in the output directory from its newest checkpoint, or start it there
    /// if the directory holds no run yet (so one command line both starts and resumes a run).
    #[arg(long)]
    resume: bool,
    /// Do not show the progress bar.
    #[arg(long)]
    quiet: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let config = RunConfig::load(&args.config, &args.set)?;
    let out = args.out.clone().unwrap_or_else(|| default_run_dir(&args.config));
    let started = out.join(tessera_train::run::CONFIG_FILE).exists();
    let mut session =
        if args.resume && started { Session::resume(&out, Some(&config))? } else { Session::create(config, &out)? };
    if session.step() > 0 {
        eprintln!("resuming {} at step {}", out.display(), session.step());
    }
    let control = Arc::new(RunControl { progress: !args.quiet, ..RunControl::default() });
    install_interrupt_handler(Arc::clone(&control))?;
    match session.run(&control)? {
        RunOutcome::Finished { step } => {
            println!("finished {step} steps; metrics in {}", out.join(tessera_train::metrics::METRICS_CSV).display());
        }
        RunOutcome::Interrupted { step, checkpoint } => {
            println!(
                "interrupted at step {step}; checkpoint {}\nresume with: tessera train {} --out {} --resume{}",
                checkpoint.display(),
                args.config.display(),
                out.display(),
                args.set.iter().map(|s| format!(" --set {s}")).collect::<String>()
            );
        }
    }
    Ok(())
}

/// `runs/<config stem>`.
fn default_run_dir(config: &Path) -> PathBuf {
    let stem = config.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "run".into());
    PathBuf::from("runs").join(stem)
}

/// The first Ctrl-C asks the run to stop at the next step boundary (with a checkpoint); a second
/// one exits at once.
fn install_interrupt_handler(control: Arc<RunControl>) -> anyhow::Result<()> {
    ctrlc::set_handler(move || {
        if control.stop.swap(true, std::sync::atomic::Ordering::SeqCst) {
            eprintln!("\nsecond interrupt: exiting without a checkpoint");
            std::process::exit(130);
        }
        eprintln!("\ninterrupt: stopping after the current step and writing a checkpoint (Ctrl-C again to quit now)");
    })
    .context("installing the Ctrl-C handler")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_with_an_unknown_dataset_fails_without_leaving_a_run_folder() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("bad.toml");
        std::fs::write(&config, "[data]\ndataset = \"imagenet\"\n").unwrap();
        let out = dir.path().join("runs/bad");
        let args = Args { config, set: Vec::new(), out: Some(out.clone()), resume: false, quiet: true };
        let message = format!("{:#}", run(args).expect_err("an unknown dataset is an error"));
        assert!(message.contains("imagenet"), "{message}");
        assert!(!out.exists() && !dir.path().join("runs").exists(), "an empty run folder was left behind");
    }
}
