//! End-to-end runs on toy data: determinism for a seed, and bit-exact resumption.

use std::path::Path;

use tessera_net::Network;
use tessera_train::checkpoint::checkpoint_dir;
use tessera_train::metrics::{METRICS_CSV, METRICS_JSONL};
use tessera_train::run::CONFIG_FILE;
use tessera_train::{RunConfig, RunControl, RunOutcome, Session};

/// A tiny run: two moons, MLP 2-8-8-2, MSE, AdamW, 40 steps of batch 16, LC and PGD on.
fn tiny_config(extra: &[&str]) -> RunConfig {
    let text = r#"
        seed = 3
        [data]
        dataset = "moons"
        train_size = 64
        test_size = 32
        [model]
        hidden = [8, 8]
        [optim]
        lr = 0.01
        [train]
        steps = 40
        batch_size = 16
        [eval]
        count = 6
        batch_size = 20
        [lc]
        radii = [0.05, 0.5]
        p = 2
        train_points = 16
        test_points = 16
        random_points = 16
        [pgd]
        enabled = true
        eps = [0.1, 0.3]
        alpha = 0.05
        steps = 5
        points = 16
    "#;
    let overrides: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    RunConfig::from_toml_str(text, "tiny", &overrides).unwrap()
}

fn run_to_end(config: RunConfig, dir: &Path) {
    let mut session = Session::create(config, dir).unwrap();
    let outcome = session.run(&RunControl::default()).unwrap();
    assert_eq!(outcome, RunOutcome::Finished { step: 40 });
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn final_weights(dir: &Path) -> Network<f64> {
    Network::load(&checkpoint_dir(dir, 40)).unwrap()
}

#[test]
fn same_config_and_seed_give_identical_metrics_files() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    run_to_end(tiny_config(&[]), a.path());
    run_to_end(tiny_config(&[]), b.path());
    for file in [METRICS_JSONL, METRICS_CSV, CONFIG_FILE] {
        assert_eq!(read(&a.path().join(file)), read(&b.path().join(file)), "{file} differs");
    }
    let csv = String::from_utf8(read(&a.path().join(METRICS_CSV))).unwrap();
    let header = csv.lines().next().unwrap();
    let columns =
        ["step", "train_loss", "test_acc", "lc_train_r0.05_mean", "lc_random_r0.5_layer_2_mean", "pgd_acc_eps0.3"];
    for column in columns {
        assert!(header.split(',').any(|c| c == column), "missing {column} in {header}");
    }
    // Steps 0, 1, 2, 4, 9, 19 (or so) and 40: one row each.
    assert!(csv.lines().count() >= 6);

    let other_seed = tempfile::tempdir().unwrap();
    run_to_end(tiny_config(&["seed=4"]), other_seed.path());
    assert_ne!(read(&a.path().join(METRICS_CSV)), read(&other_seed.path().join(METRICS_CSV)));
}

/// Run `extra` uninterrupted and interrupted at step 13 then resumed; both must end with the
/// same bytes in the final weights and the metrics.
fn check_resume_is_bit_identical(extra: &[&str]) {
    let (whole, parts) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    run_to_end(tiny_config(extra), whole.path());

    // Stop at step 13 (not an evaluation step: the checkpoint is written because of the stop).
    let mut session = Session::create(tiny_config(extra), parts.path()).unwrap();
    let stop = RunControl { pause_at: Some(13), ..RunControl::default() };
    let outcome = session.run(&stop).unwrap();
    assert_eq!(outcome, RunOutcome::Interrupted { step: 13, checkpoint: checkpoint_dir(parts.path(), 13) });
    drop(session);

    let mut resumed = Session::resume(parts.path(), Some(&tiny_config(extra))).unwrap();
    assert_eq!(resumed.step(), 13);
    assert_eq!(resumed.run(&RunControl::default()).unwrap(), RunOutcome::Finished { step: 40 });

    assert_eq!(final_weights(whole.path()), final_weights(parts.path()), "{extra:?}");
    let weights = |d: &Path| read(&checkpoint_dir(d, 40).join("weights.safetensors"));
    assert_eq!(weights(whole.path()), weights(parts.path()), "{extra:?}");
    assert_eq!(read(&whole.path().join(METRICS_CSV)), read(&parts.path().join(METRICS_CSV)), "{extra:?}");
}

#[test]
fn interrupted_run_resumed_from_its_checkpoint_ends_bit_identical() {
    check_resume_is_bit_identical(&[]);
}

#[test]
fn resume_is_bit_identical_for_f32_batch_norm_and_every_optimizer() {
    let quick = ["lc.enabled=false", "pgd.enabled=false"];
    let variants: [&[&str]; 4] = [
        &["model.dtype=f32"],
        &["model.batch_norm=true"],
        &["optim.kind=sgd", "optim.momentum=0.9", "optim.lr=0.05"],
        &["optim.kind=adam", "train.loss=cross_entropy", "train.batch_size=24"],
    ];
    for variant in variants {
        let extra: Vec<&str> = quick.iter().chain(variant).copied().collect();
        check_resume_is_bit_identical(&extra);
    }
}

#[test]
fn stop_flag_checkpoints_and_resume_after_an_evaluation_step_repeats_it_identically() {
    let (whole, parts) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    run_to_end(tiny_config(&[]), whole.path());

    let mut session = Session::create(tiny_config(&[]), parts.path()).unwrap();
    let control = RunControl::default();
    control.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(matches!(session.run(&control).unwrap(), RunOutcome::Interrupted { step: 0, .. }));
    drop(session);
    // Resume with the step-9 evaluation in the middle; then stop at exactly that step.
    let mut session = Session::resume(parts.path(), None).unwrap();
    let pause = RunControl { pause_at: Some(9), ..RunControl::default() };
    assert!(matches!(session.run(&pause).unwrap(), RunOutcome::Interrupted { step: 9, .. }));
    drop(session);
    let mut session = Session::resume(parts.path(), None).unwrap();
    session.run(&RunControl::default()).unwrap();
    assert_eq!(read(&whole.path().join(METRICS_JSONL)), read(&parts.path().join(METRICS_JSONL)));
    assert_eq!(final_weights(whole.path()), final_weights(parts.path()));
}

#[test]
fn an_existing_run_is_not_overwritten_and_a_changed_config_is_not_resumed() {
    let dir = tempfile::tempdir().unwrap();
    run_to_end(tiny_config(&["train.steps=40"]), dir.path());
    let again = Session::create(tiny_config(&[]), dir.path()).err().expect("second create must fail").to_string();
    assert!(again.contains("already holds a run"), "{again}");
    let changed =
        Session::resume(dir.path(), Some(&tiny_config(&["optim.lr=0.5"]))).err().expect("must fail").to_string();
    assert!(changed.contains("lr = 0.5"), "{changed}");
    let empty = tempfile::tempdir().unwrap();
    assert!(Session::resume(empty.path(), None).is_err());
}

#[test]
fn only_the_newest_checkpoint_keeps_optimizer_state_by_default() {
    let dir = tempfile::tempdir().unwrap();
    run_to_end(tiny_config(&[]), dir.path());
    let with_state: Vec<_> = std::fs::read_dir(dir.path().join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("optimizer.safetensors").exists())
        .collect();
    assert_eq!(with_state, vec![checkpoint_dir(dir.path(), 40)]);
    assert!(checkpoint_dir(dir.path(), 0).join("weights.safetensors").exists());
}
