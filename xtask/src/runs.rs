//! The run engine: figures declare the training runs they need as resolved configs; each run is
//! stored once under `OUT/runs/HASH/`, where HASH is `RunConfig::content_hash` (every setting
//! and seed, not the machine's data folder), and shared by every figure that needs it.
//!
//! A run's folder holds `run.toml` (the resolved config it was asked for) and, once training
//! starts, what `tessera train` writes (`config.toml`, metrics, checkpoints). Missing runs are
//! trained here, `jobs` at a time, or listed as self-contained `tessera train` command lines for
//! a cluster; either way a later reproduction finds a finished run by its hash and trains
//! nothing. Training resumes an interrupted run from its newest checkpoint.

use anyhow::{bail, Context as _};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;
use tessera_train::{is_finished, MetricsTable, RunConfig, RunControl, RunOutcome, Session};

/// The resolved config a run folder was asked for (read by the listed command lines).
pub const REQUEST_FILE: &str = "run.toml";

/// A run a figure needs, with a label for progress messages.
#[derive(Clone)]
pub struct RunRequest {
    pub label: String,
    pub config: RunConfig,
}

/// What `train_missing` did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TrainSummary {
    /// Runs trained (or resumed and finished) by this call.
    pub trained: usize,
    /// Runs found finished and reused.
    pub reused: usize,
}

/// The run folders of one output directory.
pub struct RunStore {
    root: PathBuf,
}

impl RunStore {
    /// The store of `out` (runs live in `out/runs`).
    pub fn new(out: &Path) -> Self {
        Self { root: out.join("runs") }
    }

    /// The folder of the run of `config`.
    pub fn dir(&self, config: &RunConfig) -> anyhow::Result<PathBuf> {
        Ok(self.root.join(config.content_hash()?))
    }

    /// The folder and metrics of the finished run of `config`.
    pub fn finished(&self, config: &RunConfig) -> anyhow::Result<(PathBuf, MetricsTable)> {
        let dir = self.dir(config)?;
        if !is_finished(&dir)? {
            bail!("run {} is not finished; reproduce-figures trains it", dir.display());
        }
        let metrics = MetricsTable::read(&dir)?;
        Ok((dir, metrics))
    }

    /// The requests whose runs are not finished, one per hash, in the order first requested.
    pub fn missing(&self, requests: &[RunRequest]) -> anyhow::Result<Vec<RunRequest>> {
        let mut seen = BTreeMap::new();
        let mut missing = Vec::new();
        for request in requests {
            let dir = self.dir(&request.config)?;
            if seen.insert(dir.clone(), ()).is_none() && !is_finished(&dir)? {
                missing.push(request.clone());
            }
        }
        Ok(missing)
    }

    /// How many distinct runs `requests` name.
    pub fn distinct(&self, requests: &[RunRequest]) -> anyhow::Result<usize> {
        let dirs: anyhow::Result<std::collections::BTreeSet<PathBuf>> =
            requests.iter().map(|r| self.dir(&r.config)).collect();
        Ok(dirs?.len())
    }

    /// Write the run's `run.toml` (if absent) and return its folder.
    fn prepare(&self, config: &RunConfig) -> anyhow::Result<PathBuf> {
        let dir = self.dir(config)?;
        let request = dir.join(REQUEST_FILE);
        if !request.exists() {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            std::fs::write(&request, config.to_toml()?).with_context(|| format!("writing {}", request.display()))?;
        }
        Ok(dir)
    }

    /// The command line that trains (or resumes) the run of `config` with nothing else at hand;
    /// writes its `run.toml` first. Paths are absolute so the line runs from any folder.
    pub fn command_line(&self, config: &RunConfig) -> anyhow::Result<String> {
        let dir = absolute(&self.prepare(config)?)?;
        Ok(format!(
            "tessera train {} --out {} --resume --quiet",
            shell_quote(&dir.join(REQUEST_FILE)),
            shell_quote(&dir)
        ))
    }

    /// Train every missing run of `requests`, `jobs` at a time. Each job is a thread driving one
    /// `Session`; their parallel parts share rayon's one global pool (one thread per core), so
    /// more jobs do not oversubscribe the cores. `control.stop` stops every job at its next step
    /// with a checkpoint.
    pub fn train_missing(
        &self,
        requests: &[RunRequest],
        jobs: usize,
        control: &RunControl,
    ) -> anyhow::Result<TrainSummary> {
        let missing = self.missing(requests)?;
        let summary = TrainSummary { trained: missing.len(), reused: self.distinct(requests)? - missing.len() };
        if missing.is_empty() {
            return Ok(summary);
        }
        let total = missing.len();
        // Reversed, so that popping takes the runs in the order they were requested.
        let queue = Mutex::new(missing.into_iter().enumerate().rev().collect::<Vec<_>>());
        let next = || queue.lock().expect("no job panics while holding the queue").pop();
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..jobs.clamp(1, total))
                .map(|_| {
                    scope.spawn(|| -> anyhow::Result<()> {
                        while let Some((k, request)) = next() {
                            eprintln!("[run {}/{total}] {} …", k + 1, request.label);
                            let started = Instant::now();
                            let dir = self.train_one(&request.config, control)?;
                            eprintln!(
                                "[run {}/{total}] {} done in {:.0} s ({})",
                                k + 1,
                                request.label,
                                started.elapsed().as_secs_f64(),
                                dir.display()
                            );
                        }
                        Ok(())
                    })
                })
                .collect();
            workers.into_iter().try_for_each(|w| w.join().expect("a training job panicked"))
        })?;
        Ok(summary)
    }

    /// Train (or resume) one run to its end, as the listed command line would.
    fn train_one(&self, config: &RunConfig, control: &RunControl) -> anyhow::Result<PathBuf> {
        let dir = self.prepare(config)?;
        let requested = RunConfig::load(&dir.join(REQUEST_FILE), &[])?;
        let mut session = if dir.join(tessera_train::run::CONFIG_FILE).exists() {
            Session::resume(&dir, Some(&requested)).with_context(|| format!("resuming {}", dir.display()))?
        } else {
            Session::create(requested, &dir)?
        };
        match session.run(control)? {
            RunOutcome::Finished { .. } => Ok(dir),
            RunOutcome::Interrupted { step, .. } => {
                bail!("run {} stopped at step {step}; rerun to resume it", dir.display())
            }
        }
    }
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))
}

/// `path` as one POSIX shell word.
fn shell_quote(path: &Path) -> String {
    let text = path.display().to_string();
    if text.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+:=,".contains(c)) {
        text
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// A run of a few steps on generated two-moons data (no dataset files needed).
    fn tiny(seed: u64) -> RunRequest {
        let text = "[data]\ndataset = \"moons\"\ntrain_size = 64\ntest_size = 32\n\
                    [model]\nhidden = [8, 8]\n[train]\nsteps = 12\nbatch_size = 16\n\
                    [eval]\ncount = 4\n[lc]\nradii = [0.1]\np = 2\ntrain_points = 8\ntest_points = 8\nrandom_points = 8\n";
        let config = RunConfig::from_toml_str(text, "tiny", &[format!("seed={seed}")]).unwrap();
        RunRequest { label: format!("tiny seed {seed}"), config }
    }

    /// The `tessera` binary of this workspace: the one `cargo test --workspace` built beside
    /// this test (tessera-cli's tests need it), else built on demand.
    fn tessera_binary() -> PathBuf {
        let test_exe = std::env::current_exe().expect("the test knows its executable");
        let profile_dir = test_exe.parent().and_then(Path::parent).expect("target/PROFILE/deps/TEST");
        let beside = profile_dir.join(format!("tessera{}", std::env::consts::EXE_SUFFIX));
        if beside.exists() {
            return beside;
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let output = Command::new(cargo)
            .args(["build", "-p", "tessera-cli", "--bin", "tessera", "--message-format=json"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("running cargo build");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let stdout = String::from_utf8(output.stdout).unwrap();
        let executable = stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find_map(|m| m.get("executable").and_then(|e| e.as_str()).map(PathBuf::from));
        executable.expect("cargo reports the tessera executable")
    }

    #[test]
    fn a_listed_command_line_trains_a_run_that_reproduction_then_finds_by_hash() {
        let out = tempfile::tempdir().unwrap();
        let store = RunStore::new(out.path());
        let requests = [tiny(0), tiny(0), tiny(1)];
        let missing = store.missing(&requests).unwrap();
        assert_eq!(missing.len(), 2, "the same config twice is one run");
        let line = store.command_line(&missing[0].config).unwrap();
        assert!(line.starts_with("tessera train "), "{line}");
        let bin_dir = tessera_binary().parent().unwrap().to_path_buf();
        let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
        let status = Command::new("sh").args(["-c", &line]).env("PATH", path).status().unwrap();
        assert!(status.success(), "{line}");
        assert_eq!(store.missing(&requests).unwrap().len(), 1, "the listed run is found by its hash");
        let first = store.train_missing(&requests, 2, &RunControl::default()).unwrap();
        assert_eq!(first, TrainSummary { trained: 1, reused: 1 });
        let again = store.train_missing(&requests, 2, &RunControl::default()).unwrap();
        assert_eq!(again, TrainSummary { trained: 0, reused: 2 });
        let (_, metrics) = store.finished(&requests[0].config).unwrap();
        assert_eq!(*metrics.steps().last().unwrap(), 12);
    }

    #[test]
    fn an_interrupted_run_resumes_to_the_same_metrics_as_an_uninterrupted_one() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let request = tiny(3);
        let paused = RunControl { pause_at: Some(5), ..RunControl::default() };
        let stopped = RunStore::new(a.path()).train_missing(std::slice::from_ref(&request), 1, &paused);
        assert!(stopped.unwrap_err().to_string().contains("stopped at step 5"));
        let store = RunStore::new(a.path());
        let resumed = store.train_missing(std::slice::from_ref(&request), 1, &RunControl::default()).unwrap();
        assert_eq!(resumed.trained, 1);
        let fresh = RunStore::new(b.path());
        fresh.train_missing(std::slice::from_ref(&request), 1, &RunControl::default()).unwrap();
        assert_eq!(store.finished(&request.config).unwrap().1, fresh.finished(&request.config).unwrap().1);
    }

    #[test]
    fn shell_quote_leaves_plain_paths_and_quotes_the_rest() {
        assert_eq!(shell_quote(Path::new("/tmp/out/runs/ab12")), "/tmp/out/runs/ab12");
        assert_eq!(shell_quote(Path::new("/tmp/my out/it's")), r"'/tmp/my out/it'\''s'");
    }
}
