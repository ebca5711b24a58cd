//! The data of a run, as the `[data]` section asks: a training subset drawn without replacement,
//! the test set, optional random labels and normalization, or a generated regression set; and
//! batches of it as tensors.

use tessera_data::{DataDir, Dataset, DatasetKind, Domain, RegressionSet, Split};
use tessera_net::{Scalar, Tensor};

use crate::config::{DataConfig, RunConfig};
use crate::error::{Result, TrainError};
use crate::loss::Targets;

/// Points as a tensor (the sample shape of the dataset) with their targets: one label per row
/// (classification) or, for regression, real values.
#[derive(Clone, Debug, PartialEq)]
pub struct Points<T> {
    /// The samples, one row each.
    pub inputs: Tensor<T>,
    /// Class of each row (all 0 for regression, whose network has one output per target).
    pub labels: Vec<u8>,
    /// Regression targets, `values.len() / len()` per row, row-major; empty for classification.
    pub values: Vec<f64>,
}

impl<T: Scalar> Points<T> {
    /// Labelled points.
    pub fn new(inputs: Tensor<T>, labels: Vec<u8>) -> Self {
        Self { inputs, labels, values: Vec::new() }
    }

    /// All samples of `data`, converted to `T`.
    pub fn from_dataset(data: &Dataset) -> Self {
        let values = data.images().iter().map(|&v| T::from_f64(f64::from(v))).collect();
        let inputs = Tensor { shape: data.sample_shape().to_vec(), batch: data.len(), data: values };
        Self::new(inputs, data.labels().to_vec())
    }

    /// The same points with regression targets `values` (a whole number of values per row).
    pub fn with_values(mut self, values: Vec<f64>) -> Result<Self> {
        if self.is_empty() || !values.len().is_multiple_of(self.len()) {
            return Err(TrainError::Shape(format!(
                "{} regression targets cannot be split evenly over {} points",
                values.len(),
                self.len()
            )));
        }
        self.values = values;
        Ok(self)
    }

    /// What the network's outputs are compared with.
    pub fn targets(&self) -> Targets<'_> {
        if self.values.is_empty() {
            Targets::Classes(&self.labels)
        } else {
            Targets::Values(&self.values)
        }
    }

    /// Regression targets per row (0 for classification).
    fn values_per_row(&self) -> usize {
        self.values.len().checked_div(self.len()).unwrap_or(0)
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.inputs.batch
    }

    /// Whether there is no point.
    pub fn is_empty(&self) -> bool {
        self.inputs.batch == 0
    }

    /// The first `n` points (all when `n` is 0 or too large).
    pub fn first(&self, n: usize) -> Self {
        let n = if n == 0 { self.len() } else { n.min(self.len()) };
        self.rows(0, n)
    }

    /// The points at `indices`, in order.
    pub fn gather(&self, indices: &[usize]) -> Self {
        let mut out = Self::new(Tensor { shape: Vec::new(), batch: 0, data: Vec::new() }, Vec::new());
        self.gather_into(indices, &mut out);
        out
    }

    /// The points at `indices` written into `out`, reusing its buffers.
    pub fn gather_into(&self, indices: &[usize], out: &mut Points<T>) {
        let w = self.inputs.width();
        out.inputs.shape.clone_from(&self.inputs.shape);
        out.inputs.batch = indices.len();
        out.inputs.data.clear();
        out.labels.clear();
        out.values.clear();
        let k = self.values_per_row();
        for &i in indices {
            out.inputs.data.extend_from_slice(self.inputs.row(i));
            out.labels.push(self.labels[i]);
            out.values.extend_from_slice(&self.values[i * k..(i + 1) * k]);
        }
        debug_assert_eq!(out.inputs.data.len(), indices.len() * w);
    }

    /// Rows `start..end` (inputs and targets).
    pub fn rows(&self, start: usize, end: usize) -> Self {
        let k = self.values_per_row();
        Self {
            inputs: self.inputs.rows(start, end),
            labels: self.labels[start..end].to_vec(),
            values: self.values[start * k..end * k].to_vec(),
        }
    }
}

/// The training and test sets of a run.
#[derive(Clone, Debug)]
pub struct RunData {
    /// The training set (possibly a subset). A regression set's inputs come as a dataset of one
    /// class, so that the network gets one output per target.
    pub train: Dataset,
    /// The test set (possibly a subset).
    pub test: Dataset,
    /// Real-valued targets of a regression run; `None` for classification.
    pub regression: Option<RegressionTargets>,
}

/// The targets of a regression run, one value per point (one network output).
#[derive(Clone, Debug, PartialEq)]
pub struct RegressionTargets {
    /// The targets of the training set's points, in order.
    pub train: Vec<f64>,
    /// The targets of the test set's points, in order.
    pub test: Vec<f64>,
}

impl RunData {
    /// The box random points are drawn from and attacks clamp to (the training set's domain).
    pub fn domain(&self) -> &Domain {
        self.train.domain()
    }

    /// The training points with their targets.
    pub fn train_points<T: Scalar>(&self) -> Result<Points<T>> {
        Self::points(&self.train, self.regression.as_ref().map(|r| &r.train))
    }

    /// The test points with their targets.
    pub fn test_points<T: Scalar>(&self) -> Result<Points<T>> {
        Self::points(&self.test, self.regression.as_ref().map(|r| &r.test))
    }

    fn points<T: Scalar>(data: &Dataset, values: Option<&Vec<f64>>) -> Result<Points<T>> {
        let points = Points::from_dataset(data);
        match values {
            Some(values) => points.with_values(values.clone()),
            None => Ok(points),
        }
    }
}

/// The regression datasets `[data] dataset` may name (their targets are real values).
pub const REGRESSION_DATASETS: [&str; 1] = ["gated-sin-cos"];

/// Whether `dataset` names a regression dataset.
pub fn is_regression(dataset: &str) -> bool {
    REGRESSION_DATASETS.contains(&dataset)
}

/// Toy datasets generated in memory, with their default sizes.
const TOY_DEFAULT_SIZE: usize = 1000;

/// Load (or generate) the data `config.data` describes.
pub fn load_run_data(config: &RunConfig) -> Result<RunData> {
    let data = &config.data;
    let seed = RunConfig::seed_of(data.subset_seed);
    if is_regression(&data.dataset) {
        return regression_data(data, seed);
    }
    let (mut train, mut test) = match data.dataset.as_str() {
        "moons" | "circles" | "spiral" => toy_pair(data, seed)?,
        name => {
            let kind: DatasetKind = name.parse().map_err(|e| TrainError::config("[data]", e))?;
            let dirs = DataDir::resolve(data.dir.as_deref());
            let full_train = dirs.load(kind, Split::Train)?;
            let train = if data.train_size == 0 || data.train_size == full_train.len() {
                full_train
            } else {
                full_train.subset_without_replacement(data.train_size, seed)?
            };
            let test = dirs.load(kind, Split::Test)?;
            let test = if data.test_size == 0 { test } else { test.first(data.test_size) };
            (train, test)
        }
    };
    if data.random_labels {
        train = train.with_random_labels(seed);
    }
    if data.normalize {
        let (mean, std) = train.channel_statistics();
        train = train.normalize(&mean, &std)?;
        test = test.normalize(&mean, &std)?;
    }
    Ok(RunData { train, test, regression: None })
}

/// The generated regression sets of `[data]` (the paper's 2-D toy target on `[-10, 10]^2`):
/// training and test points drawn with different seeds from the same box.
fn regression_data(data: &DataConfig, seed: u64) -> Result<RunData> {
    let size = |n: usize| if n == 0 { TOY_DEFAULT_SIZE } else { n };
    let train = tessera_data::gated_sin_cos(size(data.train_size), seed);
    let test = tessera_data::gated_sin_cos(size(data.test_size), seed.wrapping_add(0x7e57));
    let targets = |set: &RegressionSet| set.targets().iter().map(|&t| f64::from(t)).collect();
    let regression = Some(RegressionTargets { train: targets(&train), test: targets(&test) });
    Ok(RunData { train: single_class(&train)?, test: single_class(&test)?, regression })
}

/// A regression set's inputs as a dataset of one class (every label 0), keeping its box.
fn single_class(set: &RegressionSet) -> Result<Dataset> {
    let inputs = set.inputs().to_vec();
    let dataset = Dataset::new(set.name(), inputs, vec![0; set.len()], vec![set.input_dim()], 1)?;
    Ok(dataset.with_domain(set.domain().clone())?)
}

/// Training and test sets of a toy dataset, generated with different seeds.
fn toy_pair(data: &DataConfig, seed: u64) -> Result<(Dataset, Dataset)> {
    let size = |n: usize| if n == 0 { TOY_DEFAULT_SIZE } else { n };
    let make = |n: usize, seed: u64| -> Result<Dataset> {
        Ok(match data.dataset.as_str() {
            "moons" => tessera_data::two_moons(n, data.noise, seed),
            "circles" => tessera_data::circles(n, 0.5, data.noise, seed),
            _ => tessera_data::spiral(n.div_ceil(3), 3, data.noise, seed)?,
        })
    };
    let train = make(size(data.train_size), seed)?;
    let test = make(size(data.test_size), seed.wrapping_add(0x7e57))?;
    // Both sets share one box holding both, so random points and attacks see one domain.
    let (a, b) = (train.domain(), test.domain());
    let lower = a.lower().iter().zip(b.lower()).map(|(x, y)| x.min(*y)).collect();
    let upper = a.upper().iter().zip(b.upper()).map(|(x, y)| x.max(*y)).collect();
    let domain = Domain::new(lower, upper)?;
    Ok((train.with_domain(domain.clone())?, test.with_domain(domain)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toy_data_sizes_and_shared_domain() {
        let config =
            RunConfig::from_toml_str("[data]\ndataset = \"moons\"\ntrain_size = 64\ntest_size = 32\n", "t", &[])
                .unwrap();
        let d = load_run_data(&config).unwrap();
        assert_eq!((d.train.len(), d.test.len()), (64, 32));
        assert_eq!(d.test.domain(), d.train.domain());
        let points: Points<f64> = Points::from_dataset(&d.train);
        assert_eq!(points.inputs.width(), 2);
        assert_eq!(points.gather(&[3, 1]).labels, vec![d.train.labels()[3], d.train.labels()[1]]);
    }

    #[test]
    fn regression_data_carries_the_gated_sin_cos_targets_through_batches() {
        let text = "[data]\ndataset = \"gated-sin-cos\"\ntrain_size = 50\ntest_size = 20\n";
        let config = RunConfig::from_toml_str(text, "t", &[]).unwrap();
        let d = load_run_data(&config).unwrap();
        assert_eq!((d.train.len(), d.test.len(), d.train.num_classes()), (50, 20, 1));
        let points: Points<f64> = d.train_points().unwrap();
        let batch = points.gather(&[7, 2]);
        for (row, i) in [7, 2].into_iter().enumerate() {
            let x = d.train.sample(i);
            assert_eq!(batch.inputs.row(row), &[f64::from(x[0]), f64::from(x[1])]);
            let expected = f64::from(tessera_data::toy::gated_sin_cos_target(x[0], x[1]));
            assert_eq!(batch.values[row], expected);
        }
        assert!(matches!(batch.targets(), Targets::Values(v) if v.len() == 2));
        assert_eq!(points.rows(3, 5).values, points.values[3..5]);
        assert!(matches!(d.test_points::<f64>().unwrap().targets(), Targets::Values(v) if v.len() == 20));
        assert_eq!(d.domain().upper(), &[10.0, 10.0]);
    }

    #[test]
    fn unknown_dataset_is_named() {
        let config = RunConfig::from_toml_str("[data]\ndataset = \"imagenet\"\n", "t", &[]).unwrap();
        let e = load_run_data(&config).unwrap_err().to_string();
        assert!(e.contains("imagenet"), "{e}");
    }
}
