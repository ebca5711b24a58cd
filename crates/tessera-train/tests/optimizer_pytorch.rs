//! The optimizers follow `torch.optim` step by step: trajectories recorded from PyTorch
//! (`tests/fixtures/make_optimizer_fixture.py`, committed with its output) are replayed here,
//! feeding the same gradients, and every parameter must match after every step.

use serde::Deserialize;
use tessera_net::Scalar;
use tessera_train::{Optimizer, OptimizerConfig, OptimizerKind};

#[derive(Deserialize)]
struct Fixture {
    torch_version: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    kind: String,
    dtype: String,
    lr: f64,
    weight_decay: f64,
    momentum: f64,
    betas: [f64; 2],
    eps: f64,
    start: Vec<f64>,
    grads: Vec<Vec<f64>>,
    params_after_each_step: Vec<Vec<f64>>,
}

impl Case {
    fn config(&self) -> OptimizerConfig {
        let kind = match self.kind.as_str() {
            "adam" => OptimizerKind::Adam,
            "adamw" => OptimizerKind::AdamW,
            "sgd" => OptimizerKind::Sgd,
            other => panic!("fixture has an unknown optimizer '{other}'"),
        };
        OptimizerConfig {
            kind,
            lr: self.lr,
            weight_decay: self.weight_decay,
            momentum: self.momentum,
            betas: self.betas,
            eps: self.eps,
        }
    }

    fn label(&self) -> String {
        format!("{} {} lr {} wd {} momentum {}", self.kind, self.dtype, self.lr, self.weight_decay, self.momentum)
    }

    /// Replays the recorded gradients; `rel_tol` is relative to the parameter's magnitude.
    fn replay<T: Scalar>(&self, rel_tol: f64) {
        let cast = |v: &[f64]| v.iter().map(|&x| T::from_f64(x)).collect::<Vec<T>>();
        let mut params = cast(&self.start);
        let mut optimizer = Optimizer::<T>::new(self.config(), &[params.len()]).unwrap();
        for (step, (grad, expected)) in self.grads.iter().zip(&self.params_after_each_step).enumerate() {
            optimizer.step(vec![params.as_mut_slice()], &[cast(grad)]).unwrap();
            for (i, (got, want)) in params.iter().zip(expected).enumerate() {
                let got = got.to_f64();
                assert!(
                    (got - want).abs() <= rel_tol * want.abs().max(1e-3),
                    "{}: step {} parameter {i}: tessera {got:e}, PyTorch {want:e}",
                    self.label(),
                    step + 1
                );
            }
        }
    }
}

fn fixture() -> Fixture {
    let text = include_str!("fixtures/optimizer_trajectories.json");
    serde_json::from_str(text).expect("the committed optimizer fixture parses")
}

#[test]
fn every_optimizer_matches_pytorch_after_every_step_in_f64_and_f32() {
    let fixture = fixture();
    assert!(fixture.torch_version.starts_with('2'), "fixture from torch {}", fixture.torch_version);
    let kinds: std::collections::BTreeSet<&str> = fixture.cases.iter().map(|c| c.kind.as_str()).collect();
    assert_eq!(kinds.into_iter().collect::<Vec<_>>(), ["adam", "adamw", "sgd"]);
    for case in &fixture.cases {
        assert!(case.grads.len() >= 5, "{}: too few steps to test bias correction", case.label());
        match case.dtype.as_str() {
            "f64" => case.replay::<f64>(1e-12),
            "f32" => case.replay::<f32>(2e-6),
            other => panic!("fixture has an unknown dtype '{other}'"),
        }
    }
}

#[test]
fn a_changed_hyper_parameter_breaks_the_match_so_the_fixture_discriminates() {
    // Guards the test above: the fixture is sensitive to the details it claims to check
    // (coupled vs decoupled decay, the second beta).
    let fixture = fixture();
    let case = fixture.cases.iter().find(|c| c.kind == "adamw" && c.dtype == "f64" && c.weight_decay >= 1.0).unwrap();
    for mutate in [
        (|c: &mut OptimizerConfig| c.kind = OptimizerKind::Adam) as fn(&mut OptimizerConfig),
        |c: &mut OptimizerConfig| c.betas[1] = 0.999,
    ] {
        let mut config = case.config();
        mutate(&mut config);
        let mut params = case.start.clone();
        let mut optimizer = Optimizer::<f64>::new(config, &[params.len()]).unwrap();
        for grad in &case.grads {
            optimizer.step(vec![params.as_mut_slice()], std::slice::from_ref(grad)).unwrap();
        }
        let last = case.params_after_each_step.last().unwrap();
        let worst = params.iter().zip(last).map(|(a, b)| (a - b).abs() / b.abs().max(1e-3)).fold(0.0, f64::max);
        assert!(worst > 1e-6, "a mutated optimizer still matched PyTorch (worst relative difference {worst:e})");
    }
}
