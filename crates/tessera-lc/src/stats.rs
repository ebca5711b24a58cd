//! Statistics of LC over a point set, per radius and per layer: mean, standard deviation and the
//! 99% confidence interval of the mean, accumulated in one streaming pass.

use crate::PointCounts;
use serde::{Deserialize, Serialize};

/// The normal quantile of a two-sided 99% interval.
const Z_99: f64 = 2.576;

/// Mean and spread of one quantity over the points of a set.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    /// Number of points.
    pub n: usize,
    /// Mean over the points.
    pub mean: f64,
    /// Sample standard deviation (divides by n - 1, as `torch.std`); 0 for a single point.
    pub std: f64,
    /// Half-width of the 99% confidence interval of the mean: `2.576 std / sqrt(n)`.
    pub ci99: f64,
}

/// Welford's running mean and sum of squared deviations.
#[derive(Clone, Copy, Debug, Default)]
struct Running {
    n: usize,
    mean: f64,
    m2: f64,
}

impl Running {
    fn push(&mut self, x: f64) {
        self.n += 1;
        let delta = x - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (x - self.mean);
    }

    fn stat(&self) -> Stat {
        let std = if self.n > 1 { (self.m2 / (self.n - 1) as f64).sqrt() } else { 0.0 };
        let ci99 = if self.n > 0 { Z_99 * std / (self.n as f64).sqrt() } else { 0.0 };
        Stat { n: self.n, mean: self.mean, std, ci99 }
    }
}

/// Statistics of one radius: per counted layer, and of the total (LC itself).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RadiusSummary {
    /// The cross-polytope radius.
    pub radius: f64,
    /// One statistic per counted layer, in the set's layer order.
    pub layers: Vec<Stat>,
    /// Statistic of the per-point total over the counted layers (the LC).
    pub total: Stat,
}

/// Statistics of one point set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SetSummary {
    /// Name of the point set.
    pub set: String,
    /// Number of points summarised.
    pub points: usize,
    /// Names of the counted layers, in column order.
    pub layers: Vec<String>,
    /// One summary per radius, in the order measured.
    pub radii: Vec<RadiusSummary>,
}

/// Accumulates `PointCounts` into a `SetSummary`.
#[derive(Clone, Debug)]
pub struct SummaryBuilder {
    set: String,
    layers: Vec<String>,
    radii: Vec<f64>,
    /// Per radius: one accumulator per layer, then the total.
    running: Vec<Vec<Running>>,
}

impl SummaryBuilder {
    /// An empty builder for point set `set`, with the counted layer names and the radii.
    pub fn new(set: impl Into<String>, layers: Vec<String>, radii: Vec<f64>) -> Self {
        let running = vec![vec![Running::default(); layers.len() + 1]; radii.len()];
        Self { set: set.into(), layers, radii, running }
    }

    /// Add counts; their radius must be one of the builder's radii.
    pub fn add(&mut self, counts: &[PointCounts]) {
        for c in counts {
            let acc = &mut self.running[c.radius_index];
            for (a, &v) in acc.iter_mut().zip(&c.per_layer) {
                a.push(f64::from(v));
            }
            acc[self.layers.len()].push(f64::from(c.total()));
        }
    }

    /// The statistics of everything added so far.
    pub fn finish(&self) -> SetSummary {
        let radii = self
            .radii
            .iter()
            .zip(&self.running)
            .map(|(&radius, acc)| {
                let (layers, total) = acc.split_at(self.layers.len());
                RadiusSummary { radius, layers: layers.iter().map(Running::stat).collect(), total: total[0].stat() }
            })
            .collect::<Vec<_>>();
        let points = radii.first().map_or(0, |r| r.total.n);
        SetSummary { set: self.set.clone(), points, layers: self.layers.clone(), radii }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_std_and_interval_match_the_textbook_formulas() {
        let mut b = SummaryBuilder::new("s", vec!["a".into()], vec![0.1]);
        let counts: Vec<PointCounts> = [2u32, 4, 4, 4, 5, 5, 7, 9]
            .iter()
            .enumerate()
            .map(|(i, &v)| PointCounts { index: i, radius_index: 0, radius: 0.1, per_layer: vec![v] })
            .collect();
        b.add(&counts);
        let s = b.finish();
        let t = s.radii[0].total;
        assert_eq!((s.points, t.n), (8, 8));
        assert!((t.mean - 5.0).abs() < 1e-12);
        let std = (32.0f64 / 7.0).sqrt();
        assert!((t.std - std).abs() < 1e-12);
        assert!((t.ci99 - 2.576 * std / 8f64.sqrt()).abs() < 1e-12);
        assert_eq!(s.radii[0].layers[0], t);
    }
}
