//! Seeded toy data in two dimensions: two moons, concentric circles, K-armed spirals, the
//! regression target of the paper's 2-D example, and uniform points in a box.

use std::f32::consts::PI;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::dataset::Dataset;
use crate::domain::Domain;
use crate::error::{DataError, Result};

/// The half-width of the box of the regression example: inputs lie in `[-10, 10]^2`.
pub const GATED_SIN_COS_HALF_WIDTH: f32 = 10.0;

/// Points with real-valued targets (regression).
#[derive(Clone, Debug, PartialEq)]
pub struct RegressionSet {
    name: String,
    inputs: Vec<f32>,
    targets: Vec<f32>,
    input_dim: usize,
    domain: Domain,
}

impl RegressionSet {
    /// The set's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// All inputs, `len() * input_dim()` values, point-major.
    pub fn inputs(&self) -> &[f32] {
        &self.inputs
    }

    /// One target per point.
    pub fn targets(&self) -> &[f32] {
        &self.targets
    }

    /// Coordinates per input point.
    pub fn input_dim(&self) -> usize {
        self.input_dim
    }

    /// The box the inputs were drawn from.
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// The number of points.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether there are no points.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }
}

/// The regression target of the paper's 2-D example: `(sin x1 + cos x2) * 1{x1 < 0}`.
pub fn gated_sin_cos_target(x1: f32, x2: f32) -> f32 {
    if x1 < 0.0 {
        x1.sin() + x2.cos()
    } else {
        0.0
    }
}

/// `n` points uniform in `[-10, 10]^2` with targets [`gated_sin_cos_target`], seeded.
pub fn gated_sin_cos(n: usize, seed: u64) -> RegressionSet {
    let domain = Domain::cube(2, -GATED_SIN_COS_HALF_WIDTH, GATED_SIN_COS_HALF_WIDTH);
    let inputs = domain.sample_uniform(n, seed);
    let targets = inputs.chunks_exact(2).map(|p| gated_sin_cos_target(p[0], p[1])).collect();
    RegressionSet { name: "gated-sin-cos".into(), inputs, targets, input_dim: 2, domain }
}

/// `n` points (row-major, `n * dim` values) uniform in `[lo, hi]^dim`, seeded.
pub fn uniform_box(n: usize, dim: usize, lo: f32, hi: f32, seed: u64) -> Vec<f32> {
    Domain::cube(dim, lo, hi).sample_uniform(n, seed)
}

/// Two interleaved half circles (as scikit-learn's `make_moons`): class 0 the upper arc of the
/// unit circle, class 1 the lower arc shifted to `(1, 0.5)`; Gaussian noise of standard
/// deviation `|noise|`; samples shuffled by `seed`. The domain is the points' bounding box.
pub fn two_moons(n: usize, noise: f32, seed: u64) -> Dataset {
    let outer = n / 2;
    let inner = n - outer;
    let mut points = Vec::with_capacity(n);
    for t in evenly_spaced(outer, PI, true) {
        points.push(([t.cos(), t.sin()], 0));
    }
    for t in evenly_spaced(inner, PI, true) {
        points.push(([1.0 - t.cos(), 0.5 - t.sin()], 1));
    }
    labelled_points("two-moons", points, noise, 2, seed)
}

/// Two concentric circles (as scikit-learn's `make_circles`): class 0 of radius 1, class 1 of
/// radius `inner_radius`; Gaussian noise `|noise|`; shuffled by `seed`.
pub fn circles(n: usize, inner_radius: f32, noise: f32, seed: u64) -> Dataset {
    let outer = n / 2;
    let inner = n - outer;
    let mut points = Vec::with_capacity(n);
    for t in evenly_spaced(outer, 2.0 * PI, false) {
        points.push(([t.cos(), t.sin()], 0));
    }
    for t in evenly_spaced(inner, 2.0 * PI, false) {
        points.push(([inner_radius * t.cos(), inner_radius * t.sin()], 1));
    }
    labelled_points("circles", points, noise, 2, seed)
}

/// `classes` spiral arms of `n_per_class` points each: arm `k` runs from the origin to radius 1
/// while its angle turns by 4 radians from `2πk / classes`; the angle gets Gaussian noise
/// `|noise|` (radians), the points none; shuffled by `seed`. Between 1 and 256 classes.
pub fn spiral(n_per_class: usize, classes: usize, noise: f32, seed: u64) -> Result<Dataset> {
    if !(1..=256).contains(&classes) {
        return Err(DataError::InvalidArgument(format!("a spiral needs 1 to 256 arms, got {classes}")));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut points = Vec::with_capacity(n_per_class * classes);
    for k in 0..classes {
        let start = 2.0 * PI * k as f32 / classes as f32;
        for r in evenly_spaced(n_per_class, 1.0, true) {
            let t = start + 4.0 * r + noise.abs() * gaussian(&mut rng);
            points.push(([r * t.sin(), r * t.cos()], k as u8));
        }
    }
    shuffle(&mut points, &mut rng);
    Ok(dataset_from_points("spiral", points, classes))
}

/// `n` values `0, step, 2 step, ...` covering `[0, end]` (`inclusive`) or `[0, end)`.
fn evenly_spaced(n: usize, end: f32, inclusive: bool) -> impl Iterator<Item = f32> {
    let intervals = if inclusive { n.saturating_sub(1).max(1) } else { n.max(1) };
    let step = end / intervals as f32;
    (0..n).map(move |i| i as f32 * step)
}

/// Adds noise to the points, shuffles them and builds the dataset.
fn labelled_points(name: &str, mut points: Vec<([f32; 2], u8)>, noise: f32, classes: usize, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for (point, _) in &mut points {
        for x in point.iter_mut() {
            *x += noise.abs() * gaussian(&mut rng);
        }
    }
    shuffle(&mut points, &mut rng);
    dataset_from_points(name, points, classes)
}

/// A 2-D dataset whose domain is the points' bounding box. Labels are below `classes <= 256`
/// by construction.
fn dataset_from_points(name: &str, points: Vec<([f32; 2], u8)>, classes: usize) -> Dataset {
    let images: Vec<f32> = points.iter().flat_map(|(p, _)| *p).collect();
    let labels = points.iter().map(|(_, l)| *l).collect();
    let domain = Domain::bounding_box(&images, 2);
    Dataset::new(name, images, labels, vec![2], classes)
        .and_then(|data| data.with_domain(domain))
        .unwrap_or_else(|e| unreachable!("toy data is valid by construction: {e}"))
}

fn gaussian(rng: &mut ChaCha8Rng) -> f32 {
    rng.sample(StandardNormal)
}

/// Fisher-Yates shuffle with the given generator.
fn shuffle<T>(items: &mut [T], rng: &mut ChaCha8Rng) {
    for i in (1..items.len()).rev() {
        let j = rng.random_range(0..=i);
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moons_are_balanced_seeded_and_near_their_arcs() {
        let moons = two_moons(101, 0.0, 7);
        assert_eq!(moons.len(), 101);
        assert_eq!(moons.class_counts(), vec![50, 51]);
        assert_eq!(moons, two_moons(101, 0.0, 7));
        for i in 0..moons.len() {
            let [x, y] = [moons.sample(i)[0], moons.sample(i)[1]];
            let radius = match moons.labels()[i] {
                0 => (x * x + y * y).sqrt(),
                _ => ((x - 1.0).powi(2) + (y - 0.5).powi(2)).sqrt(),
            };
            assert!((radius - 1.0).abs() < 1e-5);
        }
        assert_ne!(two_moons(100, 0.1, 1).images(), two_moons(100, 0.1, 2).images());
    }

    #[test]
    fn circles_have_their_radii() {
        let data = circles(40, 0.5, 0.0, 3);
        for i in 0..data.len() {
            let p = data.sample(i);
            let radius = (p[0] * p[0] + p[1] * p[1]).sqrt();
            let expected = if data.labels()[i] == 0 { 1.0 } else { 0.5 };
            assert!((radius - expected).abs() < 1e-5);
        }
        assert!(data.domain().contains(data.sample(0)));
    }

    #[test]
    fn spiral_has_k_arms_within_the_unit_disc() {
        let data = spiral(50, 5, 0.1, 11).unwrap();
        assert_eq!(data.num_classes(), 5);
        assert_eq!(data.class_counts(), vec![50; 5]);
        assert!(data.images().chunks(2).all(|p| p[0].hypot(p[1]) <= 1.0 + 1e-6));
        assert!(spiral(10, 0, 0.0, 0).is_err());
        assert!(spiral(10, 257, 0.0, 0).is_err());
    }

    #[test]
    fn regression_target_is_gated_by_the_sign_of_x1() {
        assert_eq!(gated_sin_cos_target(1.0, 2.0), 0.0);
        assert!((gated_sin_cos_target(-1.0, 0.0) - ((-1.0f32).sin() + 1.0)).abs() < 1e-7);
        let set = gated_sin_cos(1000, 5);
        assert_eq!((set.len(), set.input_dim()), (1000, 2));
        assert!(set.inputs().iter().all(|x| (-10.0..=10.0).contains(x)));
        let gated = set.inputs().chunks(2).zip(set.targets()).filter(|(p, _)| p[0] >= 0.0);
        assert!(gated.clone().count() > 400);
        assert!(gated.into_iter().all(|(_, &t)| t == 0.0));
        assert_eq!(set, gated_sin_cos(1000, 5));
    }

    #[test]
    fn uniform_box_fills_the_box() {
        let points = uniform_box(2000, 3, -2.0, 4.0, 9);
        assert_eq!(points.len(), 6000);
        assert!(points.iter().all(|x| (-2.0..=4.0).contains(x)));
        let mean = points.iter().sum::<f32>() / points.len() as f32;
        assert!((mean - 1.0).abs() < 0.1, "{mean}");
    }
}
