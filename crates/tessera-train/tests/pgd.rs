//! PGD against a linear classifier, whose L∞ worst case is known in closed form, and the
//! guarantee that adversarial accuracy never exceeds clean accuracy.

use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tessera_net::{mlp, Activation, Network, Tensor};
use tessera_train::config::PgdConfig;
use tessera_train::{Evaluator, InputBox, PgdAttack, PgdEvaluator, Points};

/// A 2-class linear classifier `f(x) = W x + b` on `d` inputs.
fn linear(w: &[f64], b: [f64; 2]) -> Network<f64> {
    let d = w.len() / 2;
    let mut net = mlp::<f64>(&[d, 2], Activation::Relu).unwrap();
    let params = net.params_mut(1);
    params.tensors[0] = w.to_vec();
    params.tensors[1] = b.to_vec();
    net
}

/// The margin `f_y(x) - f_other(x)` of a linear classifier.
fn margin(w: &[f64], b: [f64; 2], x: &[f64], y: usize) -> f64 {
    let d = x.len();
    let score = |c: usize| w[c * d..(c + 1) * d].iter().zip(x).map(|(a, b)| a * b).sum::<f64>() + b[c];
    score(y) - score(1 - y)
}

/// The analytic L∞ worst case inside `[lo, hi]^d`: every coordinate pushed by `eps` against the
/// sign of `w_y - w_other`, then clamped to the domain.
fn worst_case(w: &[f64], x: &[f64], y: usize, eps: f64, lo: f64, hi: f64) -> Vec<f64> {
    let d = x.len();
    (0..d).map(|j| (x[j] - eps * (w[y * d + j] - w[(1 - y) * d + j]).signum()).clamp(lo, hi)).collect()
}

fn points(x: Vec<f64>, d: usize, labels: Vec<u8>) -> Points<f64> {
    Points::new(Tensor::from_vec(&[d], x).unwrap(), labels)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn pgd_on_a_linear_classifier_reaches_the_analytic_worst_case_within_eps(
        w in prop::collection::vec(-1.0f64..1.0, 6),
        b in (-0.3f64..0.3, -0.3f64..0.3),
        x in prop::collection::vec(0.0f64..1.0, 3),
        y in 0u8..2,
        eps in 0.01f64..0.4,
        seed in 0u64..1000,
        bounded in any::<bool>(),
    ) {
        // The class rows must differ in every coordinate, so every sign is defined.
        prop_assume!((0..3).all(|j| (w[j] - w[3 + j]).abs() > 0.05));
        let b = [b.0, b.1];
        let net = linear(&w, b);
        let (lo, hi) = if bounded { (0.0, 1.0) } else { (f64::NEG_INFINITY, f64::INFINITY) };
        let domain = if bounded { InputBox { lower: vec![0.0; 3], upper: vec![1.0; 3] } } else { InputBox::unbounded(3) };
        // alpha * steps >= 2 eps: enough to cross the whole ball from any random start.
        let attack = PgdAttack { eps, alpha: eps / 2.0, steps: 5 };
        let pts = points(x.clone(), 3, vec![y]);
        let out = attack.run(&net, &pts, &domain, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap();
        let expected = worst_case(&w, &x, y as usize, eps, lo, hi);
        for (j, (a, e)) in out.adversarial.data.iter().zip(&expected).enumerate() {
            prop_assert!((a - e).abs() <= 1e-12, "coordinate {}: {} vs {}", j, a, e);
            prop_assert!((a - x[j]).abs() <= eps * (1.0 + 1e-12), "left the eps ball");
        }
        // Robust exactly when the worst case is still classified correctly.
        let m = margin(&w, b, &expected, y as usize);
        prop_assume!(m.abs() > 1e-9);
        prop_assert_eq!(out.robust[0], m > 0.0);
    }

    #[test]
    fn adversarial_accuracy_never_exceeds_clean_accuracy(seed in 0u64..500, eps in 0.0f64..0.5) {
        let mut net = mlp::<f64>(&[4, 6, 3], Activation::Relu).unwrap();
        net.init_pytorch_default(seed, 2.0);
        let inputs = tessera_data::uniform_box(24, 4, 0.0, 1.0, seed);
        // Labels from the network itself on half the points, so clean accuracy is not zero.
        let clean_out = net.forward(&Tensor::from_vec(&[4], inputs.iter().map(|&v| f64::from(v)).collect()).unwrap(),
            tessera_net::Mode::Eval).unwrap();
        let labels: Vec<u8> = clean_out.data.chunks(3).enumerate()
            .map(|(i, r)| if i % 2 == 0 { tessera_train::loss::argmax(r) as u8 } else { (i % 3) as u8 })
            .collect();
        let pts = points(inputs.iter().map(|&v| f64::from(v)).collect(), 4, labels);
        let config = PgdConfig { enabled: true, eps: vec![eps, eps * 2.0], alpha: 0.05, steps: 4, points: 24, seed: Some(seed) };
        let mut eval = PgdEvaluator::new(pts, InputBox { lower: vec![0.0; 4], upper: vec![1.0; 4] }, &config, 7);
        let metrics = eval.evaluate(&net, 3).unwrap();
        let clean = metrics[0].1;
        prop_assert!(clean >= 0.5);
        for (name, acc) in &metrics[1..] {
            prop_assert!(*acc <= clean, "{} = {} > clean {}", name, acc, clean);
        }
        // Evaluating again at the same step gives the same numbers (seeded from the step).
        prop_assert_eq!(eval.evaluate(&net, 3).unwrap(), metrics);
    }
}

#[test]
fn zero_eps_attack_is_the_clean_accuracy() {
    let net = linear(&[1.0, -1.0, -1.0, 1.0], [0.0, 0.0]);
    let pts = points(vec![0.9, 0.1, 0.1, 0.9, 0.6, 0.4], 2, vec![0, 1, 1]);
    let config = PgdConfig { enabled: true, eps: vec![0.0], alpha: 0.1, steps: 3, points: 3, seed: Some(0) };
    let mut eval = PgdEvaluator::new(pts, InputBox::unbounded(2), &config, 10);
    let m = eval.evaluate(&net, 0).unwrap();
    assert_eq!(m[0], ("pgd_clean_acc".to_string(), 2.0 / 3.0));
    assert_eq!(m[1], ("pgd_acc_eps0".to_string(), 2.0 / 3.0));
}
