//! Training learns on real data: a small MLP trained for a few hundred steps on 1000 real MNIST
//! digits classifies held-out test digits well. A wrong pairing of parameters and gradients, a
//! sign error in a backward rule or a broken batch gather leaves the network near chance, so
//! this test fails on any of them.

use std::path::{Path, PathBuf};

use tessera_net::Network;
use tessera_train::checkpoint::checkpoint_dir;
use tessera_train::evaluate::loss_and_accuracy;
use tessera_train::{load_run_data, Points, RunConfig, RunControl, RunOutcome, Session};

/// `shared/data` beside the checkout. In CI (`CI` set) its absence fails the test; elsewhere
/// the test is skipped with a note.
fn shared_data() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if dir.join("mnist").is_dir() {
        return Some(dir);
    }
    assert!(std::env::var_os("CI").is_none(), "CI must have the MNIST data at {}", dir.display());
    eprintln!("skipped: no MNIST under {}", dir.display());
    None
}

const STEPS: u64 = 300;

fn config(data_dir: &Path, extra: &[String]) -> RunConfig {
    let text = format!(
        r#"
        seed = 11
        [data]
        dataset = "mnist"
        dir = "{}"
        train_size = 1000
        test_size = 2000
        [model]
        hidden = [64]
        dtype = "f32"
        [optim]
        kind = "adam"
        lr = 2e-3
        weight_decay = 0.0
        [train]
        steps = {STEPS}
        batch_size = 100
        loss = "cross_entropy"
        checkpoint_at_eval = false
        [eval]
        count = 3
        [lc]
        enabled = false
        "#,
        data_dir.display()
    );
    RunConfig::from_toml_str(&text, "learns_mnist", extra).unwrap()
}

/// Final (train, test) accuracy of a run trained to the end.
fn train_and_measure(data_dir: &Path, extra: &[String]) -> (f64, f64) {
    let config = config(data_dir, extra);
    let dir = tempfile::tempdir().unwrap();
    let mut session = Session::create(config.clone(), dir.path()).unwrap();
    assert_eq!(session.run(&RunControl::default()).unwrap(), RunOutcome::Finished { step: STEPS });
    let net = Network::<f32>::load(&checkpoint_dir(dir.path(), STEPS)).unwrap();
    let data = load_run_data(&config).unwrap();
    let accuracy = |points: &Points<f32>| loss_and_accuracy(&net, points, config.train.loss, 500).unwrap().1;
    (accuracy(&Points::from_dataset(&data.train)), accuracy(&Points::from_dataset(&data.test)))
}

#[test]
fn mlp_on_1000_mnist_digits_reaches_80_percent_test_accuracy_in_300_steps() {
    let Some(data_dir) = shared_data() else { return };
    let (train, test) = train_and_measure(&data_dir, &[]);
    assert!(train > 0.97, "train accuracy {train:.3} after {STEPS} steps");
    assert!(test > 0.80, "test accuracy {test:.3} after {STEPS} steps (chance is 0.1)");
}

#[test]
fn the_same_run_with_random_labels_does_not_generalise() {
    // The control: what the network learns above comes from the labels, not from a leak of
    // test information or an accuracy computed on the wrong rows.
    let Some(data_dir) = shared_data() else { return };
    let (_, test) = train_and_measure(&data_dir, &["data.random_labels=true".to_string()]);
    assert!(test < 0.2, "test accuracy {test:.3} with random training labels");
}
