//! Regression training end to end: a config naming the toy regression set trains a small net
//! with MSE against real-valued targets, like any other run.

use tessera_train::metrics::MetricsTable;
use tessera_train::{RunConfig, RunControl, RunOutcome, Session};

#[test]
fn mse_regression_trains_a_small_net_to_a_small_error_on_the_toy_target() {
    let text = r#"
        seed = 1
        [data]
        dataset = "gated-sin-cos"
        train_size = 400
        test_size = 200
        [model]
        hidden = [32, 32]
        [optim]
        lr = 0.01
        weight_decay = 0.0
        [train]
        steps = 1500
        batch_size = 100
        loss = "mse"
        [eval]
        count = 5
        [lc]
        radii = [0.5]
        p = 2
        train_points = 20
        test_points = 20
        random_points = 20
    "#;
    let config = RunConfig::from_toml_str(text, "toy regression", &[]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut session = Session::create(config, dir.path()).unwrap();
    assert_eq!(session.run(&RunControl::default()).unwrap(), RunOutcome::Finished { step: 1500 });
    let metrics = MetricsTable::read(dir.path()).unwrap();
    let loss = metrics.column("train_loss").unwrap();
    let (first, last) = (loss[0], *loss.last().unwrap());
    // The target's mean square is about 0.5 (half the box is 0); a fit must get far below it.
    assert!(first > 0.3, "initial loss {first}");
    assert!(last < 0.25 * first && last < 0.1, "train loss {first} -> {last}");
    assert!(metrics.column("train_acc").unwrap().iter().all(|a| a.is_nan()), "accuracy is undefined");
    assert!(metrics.column("lc_train_r0.5_mean").is_some());
}
