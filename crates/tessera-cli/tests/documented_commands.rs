//! Docs that are tests: every `tessera …` and `cargo tessera …` command in a shell block of
//! README.md and docs/*.md (docs/runs/README.md included) runs against the built binary, at a
//! small scale where the doc says so, and a failure names the doc file and line.
//!
//! The convention (also in docs/ARCHITECTURE.md): HTML comments right before a fenced `sh`
//! block, invisible on the rendered page, say how CI runs it:
//! - `<!-- ci: skip: REASON -->`: the block is not run (listed with the reason);
//! - `<!-- ci: replace: OLD => NEW -->`: OLD is replaced by NEW in the block's commands;
//! - `<!-- ci: train: ARGS -->`: ARGS are appended to each `tessera train` of the block.
//!
//! Each doc file's blocks run in order in one fresh folder holding `configs/` (the repository's),
//! `model.onnx` (the small MNIST CNN of `tests/fixtures`) and `model.txt` + `model.safetensors`
//! (a printed nn.Sequential and its state dict); `TESSERA_DATA` points at the shared data, as
//! `--data-dir` would. Each command is printed with the seconds it took.

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

/// The docs whose commands are tests.
fn documented_files(root: &Path) -> Vec<PathBuf> {
    let mut files = vec![root.join("README.md"), root.join("docs/runs/README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ exists")
        .map(|entry| entry.expect("readable docs/").path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// One documented command.
#[derive(Debug, PartialEq)]
struct Documented {
    /// Line of the doc where the command starts (from 1).
    line: usize,
    /// The command as run: the arguments after `tessera`.
    args: Vec<String>,
}

/// What a doc file asks CI to run.
#[derive(Debug, Default, PartialEq)]
struct DocCommands {
    commands: Vec<Documented>,
    /// (line of the block, reason) of each skipped block.
    skipped: Vec<(usize, String)>,
}

/// How the next block is run, from the `<!-- ci: … -->` comments before it.
#[derive(Default)]
struct Directives {
    skip: Option<String>,
    replace: Vec<(String, String)>,
    train: Vec<String>,
}

impl Directives {
    fn read(&mut self, comment: &str, file: &str, line: usize) {
        let body = comment.trim().trim_start_matches("<!--").trim_end_matches("-->").trim();
        let Some(directive) = body.strip_prefix("ci:") else { return };
        let directive = directive.trim();
        if let Some(reason) = directive.strip_prefix("skip:") {
            self.skip = Some(reason.trim().to_string());
        } else if let Some(pair) = directive.strip_prefix("replace:") {
            let (old, new) = pair.split_once("=>").unwrap_or_else(|| panic!("{file}:{line}: replace needs OLD => NEW"));
            self.replace.push((old.trim().to_string(), new.trim().to_string()));
        } else if let Some(args) = directive.strip_prefix("train:") {
            self.train.extend(args.split_whitespace().map(str::to_string));
        } else {
            panic!("{file}:{line}: unknown ci directive '{directive}' (skip:, replace:, train:)");
        }
    }
}

/// The commands of a markdown text, with the directives applied.
fn extract(text: &str, file: &str) -> DocCommands {
    let mut out = DocCommands::default();
    let mut directives = Directives::default();
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l)).peekable();
    while let Some((number, line)) = lines.next() {
        let trimmed = line.trim();
        if trimmed.starts_with("<!--") {
            directives.read(trimmed, file, number);
            continue;
        }
        let Some(language) = trimmed.strip_prefix("```") else { continue };
        let shell = matches!(language.trim(), "sh" | "bash" | "shell" | "console");
        let mut block = Vec::new();
        for (n, l) in lines.by_ref() {
            if l.trim().starts_with("```") {
                break;
            }
            block.push((n, l));
        }
        let d = std::mem::take(&mut directives);
        if !shell {
            continue;
        }
        if let Some(reason) = d.skip {
            out.skipped.push((number, reason));
            continue;
        }
        out.commands.extend(commands_of_block(&block, &d));
    }
    out
}

/// The `tessera` commands of one block: continuation lines joined, comments dropped.
fn commands_of_block(block: &[(usize, &str)], directives: &Directives) -> Vec<Documented> {
    let mut commands = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for &(number, line) in block {
        let (start, mut text) = match pending.take() {
            Some((start, text)) => (start, text + " " + line.trim()),
            None => (number, line.trim().to_string()),
        };
        if let Some(joined) = text.strip_suffix('\\') {
            pending = Some((start, joined.trim_end().to_string()));
            continue;
        }
        if let Some(hash) = text.find(" #") {
            text.truncate(hash);
        }
        let Some(rest) = text.strip_prefix("tessera ").or_else(|| text.strip_prefix("cargo tessera ")) else {
            continue;
        };
        let mut rest = rest.to_string();
        for (old, new) in &directives.replace {
            rest = rest.replace(old, new);
        }
        let mut args: Vec<String> = rest.split_whitespace().map(str::to_string).collect();
        if args.first().is_some_and(|a| a == "train") {
            args.extend(directives.train.iter().cloned());
        }
        commands.push(Documented { line: start, args });
    }
    commands
}

/// A fresh folder with what the docs assume is at hand.
fn working_folder(root: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary folder");
    let configs = dir.path().join("configs");
    std::fs::create_dir(&configs).expect("configs/");
    for entry in std::fs::read_dir(root.join("configs")).expect("configs/ exists") {
        let path = entry.expect("readable configs/").path();
        std::fs::copy(&path, configs.join(path.file_name().expect("a file"))).expect("copy a config");
    }
    for (fixture, name) in [
        ("mnist_cnn.onnx", "model.onnx"),
        ("mnist_sequential.txt", "model.txt"),
        ("mnist_sequential.safetensors", "model.safetensors"),
    ] {
        std::fs::copy(common::fixture(fixture), dir.path().join(name)).expect("copy a fixture");
    }
    dir
}

#[test]
fn every_documented_command_runs_at_small_scale() {
    let Some(data) = common::shared_data() else { return };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let (mut report, mut failures, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
    for path in documented_files(&root) {
        let name = path.strip_prefix(&root).unwrap_or(&path).display().to_string();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let doc = extract(&text, &name);
        skipped.extend(doc.skipped.iter().map(|(line, reason)| format!("{name}:{line}: skipped: {reason}")));
        if doc.commands.is_empty() {
            continue;
        }
        let folder = working_folder(&root);
        for command in &doc.commands {
            let started = Instant::now();
            let output = common::tessera()
                .args(&command.args)
                .current_dir(folder.path())
                .env("TESSERA_DATA", &data)
                .output()
                .expect("run tessera");
            let seconds = started.elapsed().as_secs_f64();
            let line = format!("{name}:{}: tessera {}", command.line, command.args.join(" "));
            eprintln!("{seconds:7.2} s  {line}");
            report.push(format!("{seconds:7.2} s  {line}"));
            if !output.status.success() {
                let stderr = String::from_utf8_lossy(&output.stderr);
                let tail: Vec<&str> = stderr.lines().rev().take(8).collect::<Vec<_>>().into_iter().rev().collect();
                failures.push(format!("{line}\n    {}", tail.join("\n    ")));
            }
        }
    }
    println!("documented commands (seconds, doc:line, command as run):\n{}", report.join("\n"));
    println!("skipped blocks:\n{}", if skipped.is_empty() { "  none".to_string() } else { skipped.join("\n") });
    assert!(report.len() >= 10, "expected the README's and docs' commands, found {}", report.len());
    assert!(failures.is_empty(), "documented commands that fail:\n{}", failures.join("\n"));
}

#[test]
fn blocks_are_read_with_their_directives_continuations_and_comments() {
    let text = "intro\n<!-- ci: replace: :1000 => :20 -->\n<!-- ci: train: --set train.steps=5 -->\n```sh\n\
                tessera train c.toml --out r   # slow\ntessera lc --points mnist:test:1000 \\\n    --out lc.csv\n\
                cargo build\n```\n<!-- ci: skip: needs Python -->\n```sh\ntessera import m.onnx --out m\n```\n\
                ```python\ntessera = 1\n```\n```sh\ncargo tessera count --p 2\n```\n";
    let doc = extract(text, "x.md");
    let args: Vec<(usize, String)> = doc.commands.iter().map(|c| (c.line, c.args.join(" "))).collect();
    assert_eq!(
        args,
        [
            (5, "train c.toml --out r --set train.steps=5".to_string()),
            (6, "lc --points mnist:test:20 --out lc.csv".to_string()),
            (18, "count --p 2".to_string()),
        ]
    );
    assert_eq!(doc.skipped, [(11, "needs Python".to_string())]);
}
