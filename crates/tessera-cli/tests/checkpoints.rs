//! `tessera lc --checkpoints` and `tessera slice --checkpoints` over two folders of three tiny
//! checkpoints (tessera model directories written by `Network::save`, and the committed ONNX
//! exports of a PyTorch MLP, `tests/fixtures/make_onnx_checkpoints.py`): the metrics of every
//! step equal `tessera lc --model` on that checkpoint alone, the region counts equal
//! `tessera slice --model`, the metrics read back through `MetricsTable` (what the run charts
//! read), and a second run into the same folder measures only the new steps.

mod common;

use common::{fixture, interrupt_after_first_progress_line, tessera};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tessera_net::{mlp, Activation};
use tessera_train::MetricsTable;

/// The LC settings every command of these tests shares (random points need no dataset).
const LC_ARGS: [&str; 9] = ["--random", "12", "--box=-1,1", "--radius", "0.1,0.5", "--p", "4", "--seed", "3"];

/// Run `tessera ARGS`, failing with its stderr if it fails; its stderr.
fn run_ok(args: &[&str]) -> String {
    let output = tessera().args(args).output().expect("run tessera");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "tessera {} failed:\n{stderr}", args.join(" "));
    stderr
}

/// Run `tessera ARGS`, expecting it to fail; its stderr.
fn run_err(args: &[&str]) -> String {
    let output = tessera().args(args).output().expect("run tessera");
    assert!(!output.status.success(), "tessera {} succeeded", args.join(" "));
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn text(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp paths")
}

/// A folder of a 6-16-16-3 MLP saved at steps 0, 7 and 30 (three inits stand in for training).
fn model_dir_checkpoints(root: &Path) -> PathBuf {
    let dir = root.join("run/checkpoints");
    for (step, seed) in [(0, 1), (7, 2), (30, 3)] {
        let mut net = mlp::<f64>(&[6, 16, 16, 3], Activation::Relu).unwrap();
        net.init_pytorch_default(seed, 1.0);
        net.save(&dir.join(format!("step_{step}"))).unwrap();
    }
    dir
}

/// `tessera lc --model` on one checkpoint: its summary's sets.
fn lc_of_one(model: &Path, scratch: &Path) -> Vec<Value> {
    let csv = scratch.join("one.csv");
    let mut args = vec!["lc", "--model", text(model), "--out", text(&csv)];
    args.extend(LC_ARGS);
    run_ok(&args);
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(scratch.join("one.summary.json")).unwrap()).unwrap();
    summary["sets"].as_array().unwrap().clone()
}

/// Every step's metrics equal the summary of `tessera lc --model` on its checkpoint: mean, std,
/// ci99 of the total and the per-layer means, at every radius.
fn assert_rows_equal_single_runs(table: &MetricsTable, checkpoints: &[(u64, PathBuf)], scratch: &Path) {
    assert_eq!(table.steps(), checkpoints.iter().map(|c| c.0).collect::<Vec<_>>());
    for (row, (step, model)) in checkpoints.iter().enumerate() {
        let sets = lc_of_one(model, scratch);
        assert_eq!(sets.len(), 1);
        let layers: Vec<&str> = sets[0]["layers"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
        assert_eq!(layers, ["layer_1", "layer_2"]);
        for radius in sets[0]["radii"].as_array().unwrap() {
            let r = radius["radius"].as_f64().unwrap();
            let value = |name: String| table.column(&name).unwrap_or_else(|| panic!("no column {name}"))[row];
            for what in ["mean", "std", "ci99"] {
                let expected = radius["total"][what].as_f64().unwrap();
                assert_eq!(value(format!("lc_random_r{r}_{what}")), expected, "step {step}, r {r}, {what}");
            }
            for (k, layer) in layers.iter().enumerate() {
                let expected = radius["layers"][k]["mean"].as_f64().unwrap();
                assert_eq!(value(format!("lc_random_r{r}_{layer}_mean")), expected, "step {step}, {layer}");
            }
        }
    }
}

fn steps_and_paths(dir: &Path, names: &[(u64, &str)]) -> Vec<(u64, PathBuf)> {
    names.iter().map(|(step, name)| (*step, dir.join(name))).collect()
}

#[test]
fn lc_over_model_directories_equals_lc_of_each_checkpoint_and_resumes_with_new_steps_only() {
    let root = tempfile::tempdir().unwrap();
    let dir = model_dir_checkpoints(root.path());
    // The last checkpoint arrives after a first measurement.
    let later = root.path().join("later");
    std::fs::rename(dir.join("step_30"), &later).unwrap();
    let out = root.path().join("lc");
    let mut args = vec!["lc", "--checkpoints", text(&dir), "--out", text(&out)];
    args.extend(LC_ARGS);
    let first = run_ok(&args);
    assert!(first.contains("lc step 0 (1/2): mean LC at r = 0.1, 0.5: random"), "{first}");
    assert_eq!(MetricsTable::read(&out).unwrap().steps(), [0, 7]);

    std::fs::rename(&later, dir.join("step_30")).unwrap();
    let second = run_ok(&args);
    assert!(second.contains("2 of 3 steps already in") && second.contains("lc step 30 (1/1)"), "{second}");
    assert!(!second.contains("lc step 0 "), "step 0 measured again: {second}");

    let table = MetricsTable::read(&out).expect("the run charts' reader reads the metrics");
    let checkpoints = steps_and_paths(&dir, &[(0, "step_0"), (7, "step_7"), (30, "step_30")]);
    assert_rows_equal_single_runs(&table, &checkpoints, root.path());
    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert!(
        csv.starts_with("step,lc_random_r0.1_mean,lc_random_r0.1_std,lc_random_r0.1_ci99,lc_random_r0.1_layer_1_mean,")
    );
    assert_eq!(csv.lines().count(), 4, "a header and one row per step, none twice:\n{csv}");
    for picture in ["lc.png", "lc.svg"] {
        assert!(out.join(picture).metadata().unwrap().len() > 1000, "{picture} drawn");
    }

    // The same folder with other settings is refused, naming the setting.
    let mut other = args.clone();
    let p = other.len() - 3;
    other[p] = "5";
    let message = run_err(&other);
    assert!(message.contains("other settings") && message.contains("p: then 4, now 5"), "{message}");
}

#[test]
fn lc_over_onnx_checkpoints_equals_lc_of_each_export() {
    let root = tempfile::tempdir().unwrap();
    let dir = fixture("checkpoints");
    let out = root.path().join("lc");
    let mut args = vec!["lc", "--checkpoints", text(&dir), "--out", text(&out)];
    args.extend(LC_ARGS);
    run_ok(&args);
    let table = MetricsTable::read(&out).unwrap();
    let checkpoints = steps_and_paths(&dir, &[(0, "step_0.onnx"), (20, "step-20.onnx"), (100, "100.onnx")]);
    assert_rows_equal_single_runs(&table, &checkpoints, root.path());
    // Training moved the weights: the steps do not all measure the same.
    let means = table.column("lc_random_r0.5_mean").unwrap();
    assert!(means.iter().any(|&m| m != means[0]), "{means:?}");
}

/// `tessera slice --model` on one checkpoint: its region count.
fn regions_of_one(model: &Path, slice_args: &[&str], scratch: &Path) -> u64 {
    let json = scratch.join("one.json");
    let png = scratch.join("one.png");
    let mut args = vec!["slice", "--model", text(model), "--out", text(&png), "--json", text(&json)];
    args.extend(slice_args);
    run_ok(&args);
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    summary["num_regions"].as_u64().unwrap()
}

#[test]
fn slice_over_checkpoints_counts_what_each_checkpoint_alone_counts() {
    let root = tempfile::tempdir().unwrap();
    let center = root.path().join("center.npy");
    tessera_data::npy::write_rows(&center, &[0.1, -0.2, 0.3, 0.0, 0.5, -0.4], 1, 6).unwrap();
    let slice_args = ["--center", text(&center), "--half-width", "1.5", "--seed", "2"];
    let folders = [
        (model_dir_checkpoints(root.path()), vec![(0, "step_0"), (7, "step_7"), (30, "step_30")]),
        (fixture("checkpoints"), vec![(0, "step_0.onnx"), (20, "step-20.onnx"), (100, "100.onnx")]),
    ];
    for (dir, names) in folders {
        let montage = root.path().join("montage.png");
        let json = root.path().join("montage.json");
        let mut args =
            vec!["slice", "--checkpoints", text(&dir), "--out", text(&montage), "--svg", "--json", text(&json)];
        args.extend(slice_args);
        let stderr = run_ok(&args);
        assert!(stderr.contains("slice step 0 (1/3):"), "{stderr}");
        assert!(montage.metadata().unwrap().len() > 1000 && montage.with_extension("svg").exists());
        let expected: String = steps_and_paths(&dir, &names)
            .iter()
            .map(|(step, model)| format!("{step},{}\n", regions_of_one(model, &slice_args, root.path())))
            .collect();
        let counts = std::fs::read_to_string(montage.with_extension("csv")).unwrap();
        assert_eq!(counts, format!("step,regions\n{expected}"));
        let summary: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert_eq!(summary["checkpoints"].as_array().unwrap().len(), 3);
        assert_eq!(summary["slice"]["half_width"], 1.5);
    }
}

#[test]
fn checkpoints_and_model_exclude_each_other_and_a_bad_folder_is_named() {
    let root = tempfile::tempdir().unwrap();
    let both = run_err(&["lc", "--model", "m", "--checkpoints", "c", "--random", "2", "--out", "x"]);
    assert!(
        both.contains("--model") && both.contains("--checkpoints") && both.contains("cannot be used with"),
        "{both}"
    );
    let neither = run_err(&["slice", "--center-index", "0", "--half-width", "1", "--out", "x.png"]);
    assert!(neither.contains("--model") && neither.contains("--checkpoints"), "{neither}");
    std::fs::write(root.path().join("notes.txt"), b"").unwrap();
    let out = root.path().join("lc");
    let message = run_err(&["lc", "--checkpoints", text(root.path()), "--random", "2", "--out", text(&out)]);
    assert!(message.contains("notes.txt: not named by step"), "{message}");
}

#[test]
fn lc_over_checkpoints_interrupted_after_a_step_resumes_to_the_same_metrics_as_one_run() {
    let root = tempfile::tempdir().unwrap();
    // Checkpoints big enough that a step takes a noticeable time, so Ctrl-C lands mid-folder.
    let dir = root.path().join("checkpoints");
    for step in [0u64, 5, 50, 500] {
        let mut net = mlp::<f64>(&[784, 200, 200, 10], Activation::Relu).unwrap();
        net.init_pytorch_default(step, 1.0);
        net.save(&dir.join(format!("step_{step}"))).unwrap();
    }
    let lc = |out: &Path| {
        let mut command = tessera();
        command.args(["lc", "--checkpoints", text(&dir), "--random", "600", "--radius", "0.05", "--p", "25"]);
        command.args(["--out", text(out)]);
        command
    };
    let resumed = root.path().join("resumed");
    let run = interrupt_after_first_progress_line(lc(&resumed), "lc step 0 (1/4): mean LC", Duration::from_secs(120));
    let measured = MetricsTable::read(&resumed).unwrap().steps().to_vec();
    if run.success {
        eprintln!("the measurement finished before Ctrl-C reached it; resuming is tested on a finished folder");
    } else {
        assert!(run.stderr.contains("interrupted (Ctrl-C) at step"), "{}", run.stderr);
        assert!(measured.len() < 4 && measured[0] == 0, "{measured:?}");
    }
    let rerun = lc(&resumed).output().unwrap();
    assert!(rerun.status.success(), "{}", String::from_utf8_lossy(&rerun.stderr));
    let whole = root.path().join("whole");
    assert!(lc(&whole).output().unwrap().status.success());
    for file in ["metrics.csv", "metrics.jsonl"] {
        let (a, b) = (std::fs::read_to_string(resumed.join(file)), std::fs::read_to_string(whole.join(file)));
        assert_eq!(a.unwrap(), b.unwrap(), "{file}: interrupted and resumed = one run");
    }
}
