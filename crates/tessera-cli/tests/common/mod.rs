//! What the command-line tests share: the shared data, the fixtures, running the built binary.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `TESSERA_DATA` when set, else the first `shared/data` holding MNIST in or above the
/// workspace. In CI (`CI` set) its absence fails the test; elsewhere the test skips, saying so.
pub fn shared_data() -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = match std::env::var_os("TESSERA_DATA").filter(|v| !v.is_empty()) {
        Some(dir) => vec![PathBuf::from(dir)],
        None => {
            let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
            let workspace = std::fs::canonicalize(&workspace).unwrap_or(workspace);
            workspace.ancestors().map(|dir| dir.join("shared/data")).collect()
        }
    };
    if let Some(dir) = candidates.iter().find(|dir| dir.join("mnist").is_dir()) {
        return Some(dir.clone());
    }
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(!ci, "CI runs need MNIST in the shared data (CI is set); looked in {candidates:?}");
    eprintln!("skipped (CI is not set): no MNIST in {candidates:?}");
    None
}

/// A file in `tests/fixtures`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// The `tessera` binary of this build.
pub fn tessera() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
}

/// What a run that was interrupted by Ctrl-C after its first progress line said.
pub struct Interrupted {
    /// Seconds until the first progress line.
    pub first_line_after: f64,
    /// Whether the command succeeded (it finished before the interrupt reached it).
    pub success: bool,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

/// Run `command` with stderr piped (not a terminal, so progress comes as plain lines every half
/// second), send it SIGINT once it writes a line starting with `progress_prefix`, and collect
/// the rest. A watchdog kills it after `limit`.
pub fn interrupt_after_first_progress_line(
    mut command: Command,
    progress_prefix: &str,
    limit: Duration,
) -> Interrupted {
    let started = Instant::now();
    let mut child: Child = command
        .env("TESSERA_PROGRESS_SECONDS", "0.5")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tessera");
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(limit);
        // The process may be gone already; then kill fails, harmlessly.
        drop(Command::new("kill").args(["-KILL", &pid.to_string()]).status());
    });
    drop(watchdog);
    let mut stderr = String::new();
    let mut first_line_after = None;
    for line in BufReader::new(child.stderr.take().expect("piped stderr")).lines() {
        let line = line.expect("stderr is text");
        if first_line_after.is_none() && line.starts_with(progress_prefix) {
            first_line_after = Some(started.elapsed().as_secs_f64());
            let sent = Command::new("kill").args(["-INT", &pid.to_string()]).status().expect("run kill");
            assert!(sent.success(), "could not send SIGINT");
        }
        stderr.push_str(&line);
        stderr.push('\n');
    }
    let status = child.wait().expect("wait for tessera");
    let first_line_after = first_line_after.unwrap_or_else(|| panic!("no progress line in:\n{stderr}"));
    Interrupted { first_line_after, success: status.success(), stderr }
}
