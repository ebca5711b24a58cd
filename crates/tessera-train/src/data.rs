//! The data of a run, as the `[data]` section asks: a training subset drawn without replacement,
//! the test set, optional random labels and normalization; and batches of it as tensors.

use tessera_data::{DataDir, Dataset, DatasetKind, Domain, Split};
use tessera_net::{Scalar, Tensor};

use crate::config::{DataConfig, RunConfig};
use crate::error::{Result, TrainError};

/// Labelled points as a tensor (the sample shape of the dataset) plus one label per row.
#[derive(Clone, Debug, PartialEq)]
pub struct Points<T> {
    /// The samples, one row each.
    pub inputs: Tensor<T>,
    /// Class of each row.
    pub labels: Vec<u8>,
}

impl<T: Scalar> Points<T> {
    /// All samples of `data`, converted to `T`.
    pub fn from_dataset(data: &Dataset) -> Self {
        let values = data.images().iter().map(|&v| T::from_f64(f64::from(v))).collect();
        let inputs = Tensor { shape: data.sample_shape().to_vec(), batch: data.len(), data: values };
        Self { inputs, labels: data.labels().to_vec() }
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
        Self { inputs: self.inputs.rows(0, n), labels: self.labels[..n.min(self.labels.len())].to_vec() }
    }

    /// The points at `indices`, in order.
    pub fn gather(&self, indices: &[usize]) -> Self {
        let mut out = Self { inputs: Tensor { shape: Vec::new(), batch: 0, data: Vec::new() }, labels: Vec::new() };
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
        for &i in indices {
            out.inputs.data.extend_from_slice(self.inputs.row(i));
            out.labels.push(self.labels[i]);
        }
        debug_assert_eq!(out.inputs.data.len(), indices.len() * w);
    }

    /// Rows `start..end` (inputs and labels).
    pub fn rows(&self, start: usize, end: usize) -> Self {
        Self { inputs: self.inputs.rows(start, end), labels: self.labels[start..end].to_vec() }
    }
}

/// The training and test sets of a run.
#[derive(Clone, Debug)]
pub struct RunData {
    /// The training set (possibly a subset).
    pub train: Dataset,
    /// The test set (possibly a subset).
    pub test: Dataset,
}

impl RunData {
    /// The box random points are drawn from and attacks clamp to (the training set's domain).
    pub fn domain(&self) -> &Domain {
        self.train.domain()
    }
}

/// Toy datasets generated in memory, with their default sizes.
const TOY_DEFAULT_SIZE: usize = 1000;

/// Load (or generate) the data `config.data` describes.
pub fn load_run_data(config: &RunConfig) -> Result<RunData> {
    let data = &config.data;
    let seed = RunConfig::seed_of(data.subset_seed);
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
    Ok(RunData { train, test })
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
    fn unknown_dataset_is_named() {
        let config = RunConfig::from_toml_str("[data]\ndataset = \"imagenet\"\n", "t", &[]).unwrap();
        let e = load_run_data(&config).unwrap_err().to_string();
        assert!(e.contains("imagenet"), "{e}");
    }
}
