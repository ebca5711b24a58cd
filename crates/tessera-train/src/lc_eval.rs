//! Local complexity at every evaluation step, measured by tessera-lc on fixed point sets: the
//! first `train_points` training samples, the first `test_points` test samples and
//! `random_points` points uniform in the data domain, with one frame (seeded once) shared by
//! every point and every step, as the reference code does.
//!
//! Columns, per set `S` in {train, test, random} and radius `R`: `lc_S_rR_mean`, `_std`,
//! `_ci99` of the total over counted layers, and with `per_layer` the mean of each layer,
//! `lc_S_rR_layer_k_mean` (the output layer comes last when `count_output_layer` is set, and is
//! then part of the total, as in the official code's MLP numbers).

use tessera_data::Domain;
use tessera_lc::{Directions, Frame, InMemoryPoints, LcError, LcOptions, LocalComplexity, PointSource, UniformBox};
use tessera_net::{Network, Scalar};

use crate::config::{LcConfig, RunConfig};
use crate::data::Points;
use crate::error::{Result, TrainError};
use crate::evaluate::{Evaluator, Metrics};

/// LC of train, test and random points at every radius.
pub struct LcEvaluator {
    frame: Frame,
    radii: Vec<f64>,
    count_output: bool,
    per_layer: bool,
    /// `(set name, row-major f64 coordinates)`.
    sets: Vec<(String, Vec<f64>)>,
    dim: usize,
}

impl LcEvaluator {
    /// Fix the frame and the point sets of a run.
    pub fn new<T: Scalar>(config: &LcConfig, train: &Points<T>, test: &Points<T>, domain: &Domain) -> Result<Self> {
        let dim = train.inputs.width();
        let lc_error = |e: LcError| TrainError::Lc(e.to_string());
        let frame = Frame::random(dim, config.p, RunConfig::seed_of(config.frame_seed)).map_err(lc_error)?;
        let as_f64 = |p: &Points<T>, n: usize| -> Vec<f64> {
            let rows = n.min(p.len());
            p.inputs.data[..rows * dim].iter().map(|v| v.to_f64()).collect()
        };
        let mut sets = vec![
            ("train".to_string(), as_f64(train, config.train_points)),
            ("test".to_string(), as_f64(test, config.test_points)),
        ];
        if config.random_points > 0 {
            let lower = domain.lower().iter().map(|&v| f64::from(v)).collect();
            let upper = domain.upper().iter().map(|&v| f64::from(v)).collect();
            let seed = RunConfig::seed_of(config.random_seed);
            let mut random = UniformBox::new("random", lower, upper, config.random_points, seed).map_err(lc_error)?;
            sets.push(("random".to_string(), random.next_batch(config.random_points).map_err(lc_error)?.coords));
        }
        sets.retain(|(_, coords)| !coords.is_empty());
        Ok(Self {
            frame,
            radii: config.radii.clone(),
            count_output: config.count_output_layer,
            per_layer: config.per_layer,
            sets,
            dim,
        })
    }
}

impl<T: Scalar> Evaluator<T> for LcEvaluator {
    fn name(&self) -> &str {
        "lc"
    }

    fn evaluate(&mut self, net: &Network<T>, _step: u64) -> Result<Metrics> {
        let mut options = LcOptions::new(Directions::Shared(self.frame.clone()), self.radii.clone());
        options.count_output = self.count_output;
        let lc_error = |e: LcError| TrainError::Lc(e.to_string());
        let lc = LocalComplexity::new(net, options).map_err(lc_error)?;
        let mut metrics = Metrics::new();
        for (set, coords) in &self.sets {
            let mut points = InMemoryPoints::new(set.as_str(), self.dim, coords.clone()).map_err(lc_error)?;
            let summary = lc.run(&mut points, |_| Ok::<(), LcError>(())).map_err(lc_error)?;
            for radius in &summary.radii {
                let key = |what: &str| format!("lc_{set}_r{}_{what}", radius.radius);
                metrics.push((key("mean"), radius.total.mean));
                metrics.push((key("std"), radius.total.std));
                metrics.push((key("ci99"), radius.total.ci99));
                if self.per_layer {
                    for (layer, stat) in summary.layers.iter().zip(&radius.layers) {
                        metrics.push((key(&format!("{layer}_mean")), stat.mean));
                    }
                }
            }
        }
        Ok(metrics)
    }
}
