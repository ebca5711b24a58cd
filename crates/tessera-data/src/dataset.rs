//! The in-memory labelled dataset and the operations the experiments need on it: subsets drawn
//! by seed, random labels, scaling and per-channel normalization, one-hot targets.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::domain::Domain;
use crate::error::{DataError, Result};

/// Which part of a dataset's official split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// The training set.
    Train,
    /// The test set.
    Test,
}

impl Split {
    /// "train" or "test".
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Split {
    type Err = DataError;

    fn from_str(text: &str) -> Result<Self> {
        match text.to_ascii_lowercase().as_str() {
            "train" => Ok(Split::Train),
            "test" => Ok(Split::Test),
            other => Err(DataError::InvalidArgument(format!("unknown split '{other}' (expected train or test)"))),
        }
    }
}

/// A labelled classification dataset held in memory.
///
/// Inputs are `f32`, sample-major and row-major: sample `i` is `images[i*d .. (i+1)*d]` with
/// `d = dim()`, laid out as `sample_shape` (channels first, e.g. `[1, 28, 28]` for MNIST,
/// `[3, 32, 32]` for CIFAR, `[2]` for toy data). The constructor checks that the parts fit
/// together and that every label is below `num_classes`; the fields are private so that this
/// stays true.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    name: String,
    images: Vec<f32>,
    labels: Vec<u8>,
    sample_shape: Vec<usize>,
    num_classes: usize,
    domain: Domain,
    source_files: Vec<PathBuf>,
}

impl Dataset {
    /// Builds a dataset whose domain is the unit cube `[0, 1]^d` (images scaled from bytes).
    pub fn new(
        name: impl Into<String>,
        images: Vec<f32>,
        labels: Vec<u8>,
        sample_shape: Vec<usize>,
        num_classes: usize,
    ) -> Result<Self> {
        let dim = checked_dim(&sample_shape)?;
        check_num_classes(num_classes)?;
        if images.len() != labels.len() * dim {
            return Err(DataError::InvalidDataset(format!(
                "{} labels of samples of shape {} need {} values, got {}",
                labels.len(),
                shape_text(&sample_shape),
                labels.len() * dim,
                images.len()
            )));
        }
        if let Some(index) = labels.iter().position(|&l| usize::from(l) >= num_classes) {
            return Err(DataError::InvalidDataset(format!(
                "sample {index} has label {}, but there are only {num_classes} classes",
                labels[index]
            )));
        }
        Ok(Dataset {
            name: name.into(),
            images,
            labels,
            sample_shape,
            num_classes,
            domain: Domain::unit_cube(dim),
            source_files: Vec::new(),
        })
    }

    /// Replaces the domain box; it must have one interval per input coordinate.
    pub fn with_domain(mut self, domain: Domain) -> Result<Self> {
        if domain.dim() != self.dim() {
            return Err(DataError::InvalidArgument(format!(
                "domain has {} coordinates, samples have {}",
                domain.dim(),
                self.dim()
            )));
        }
        self.domain = domain;
        Ok(self)
    }

    /// Renames the dataset.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Records the files the dataset was read from (shown in reports, kept by subsets).
    pub fn with_source_files(mut self, files: Vec<PathBuf>) -> Self {
        self.source_files = files;
        self
    }

    /// The dataset's name, e.g. "mnist-train".
    pub fn name(&self) -> &str {
        &self.name
    }

    /// All inputs, `len() * dim()` values, sample-major.
    pub fn images(&self) -> &[f32] {
        &self.images
    }

    /// One label per sample.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// The shape of one sample, channels first.
    pub fn sample_shape(&self) -> &[usize] {
        &self.sample_shape
    }

    /// The number of classes; every label is below it.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// The box the inputs live in (`[0,1]^d` for images, transformed by `normalize`).
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// The files the samples were read from (empty for generated data).
    pub fn source_files(&self) -> &[PathBuf] {
        &self.source_files
    }

    /// The number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The number of input coordinates per sample (the product of `sample_shape`).
    pub fn dim(&self) -> usize {
        self.sample_shape.iter().product()
    }

    /// The number of channels: the first axis of `sample_shape` (for `[2]`-shaped toy data each
    /// coordinate is its own channel).
    pub fn channels(&self) -> usize {
        self.sample_shape[0]
    }

    /// The inputs of sample `i`. Panics if `i >= len()`, like slice indexing.
    pub fn sample(&self, i: usize) -> &[f32] {
        let d = self.dim();
        &self.images[i * d..(i + 1) * d]
    }

    /// The inputs of sample `i`, or `None` past the end.
    pub fn get(&self, i: usize) -> Option<&[f32]> {
        (i < self.len()).then(|| self.sample(i))
    }

    /// How many samples each class has.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes];
        for &label in &self.labels {
            counts[usize::from(label)] += 1;
        }
        counts
    }

    /// The samples at `indices`, in that order (repeats allowed).
    pub fn subset(&self, indices: &[usize]) -> Result<Dataset> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.len()) {
            return Err(DataError::InvalidArgument(format!(
                "index {bad} is out of range for {} ({} samples)",
                self.name,
                self.len()
            )));
        }
        let d = self.dim();
        let mut images = Vec::with_capacity(indices.len() * d);
        for &i in indices {
            images.extend_from_slice(self.sample(i));
        }
        Ok(Dataset {
            images,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            ..self.clone_without_samples()
        })
    }

    /// `n` distinct samples drawn without replacement by `seed` (see
    /// [`indices_without_replacement`]), in the order drawn.
    pub fn subset_without_replacement(&self, n: usize, seed: u64) -> Result<Dataset> {
        let indices = indices_without_replacement(self.len(), n, seed)?;
        self.subset(&indices)
    }

    /// The first `n` samples (all of them when `n >= len()`).
    pub fn first(&self, n: usize) -> Dataset {
        let n = n.min(self.len());
        Dataset {
            images: self.images[..n * self.dim()].to_vec(),
            labels: self.labels[..n].to_vec(),
            ..self.clone_without_samples()
        }
    }

    /// Replaces every label by one drawn uniformly from the classes, seeded (the
    /// "random labels" experiments).
    pub fn with_random_labels(mut self, seed: u64) -> Dataset {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let classes = self.num_classes;
        for label in &mut self.labels {
            // `classes <= 256` is checked at construction, so the label fits in a byte.
            *label = rng.random_range(0..classes) as u8;
        }
        self
    }

    /// Maps the domain box onto `[0, 1]^d` coordinate by coordinate (a coordinate whose interval
    /// is a single point maps to 0). Images read by this crate are already in `[0, 1]`.
    pub fn scale_to_unit_box(mut self) -> Dataset {
        let d = self.dim();
        let lower = self.domain.lower().to_vec();
        let width: Vec<f32> = (self.domain.upper().iter().zip(&lower)).map(|(hi, lo)| hi - lo).collect();
        for sample in self.images.chunks_exact_mut(d) {
            for (x, (lo, w)) in sample.iter_mut().zip(lower.iter().zip(&width)) {
                *x = if *w > 0.0 { (*x - lo) / w } else { 0.0 };
            }
        }
        self.domain = Domain::unit_cube(d);
        self
    }

    /// Per-channel normalization `x -> (x - mean[c]) / std[c]`, the domain transformed alike.
    /// `mean` and `std` have one value per channel (or a single value for all channels); every
    /// `std` must be positive and finite.
    pub fn normalize(mut self, mean: &[f32], std: &[f32]) -> Result<Dataset> {
        let shift = self.per_coordinate(mean, "mean")?;
        let scale = self.per_coordinate(std, "std")?;
        if let Some(s) = scale.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(DataError::InvalidArgument(format!("normalization std must be positive and finite, got {s}")));
        }
        if let Some(m) = shift.iter().find(|m| !m.is_finite()) {
            return Err(DataError::InvalidArgument(format!("normalization mean must be finite, got {m}")));
        }
        for sample in self.images.chunks_exact_mut(shift.len()) {
            for (x, (m, s)) in sample.iter_mut().zip(shift.iter().zip(&scale)) {
                *x = (*x - m) / s;
            }
        }
        self.domain = self.domain.affine_image(&shift, &scale);
        Ok(self)
    }

    /// The mean and (population) standard deviation of each channel over all samples, computed
    /// in `f64`; what [`Dataset::normalize`] is usually given (from the training set).
    pub fn channel_statistics(&self) -> (Vec<f32>, Vec<f32>) {
        let channels = self.channels();
        let per_channel = self.dim() / channels;
        let mut sum = vec![0.0f64; channels];
        let mut sum_sq = vec![0.0f64; channels];
        for sample in self.images.chunks_exact(self.dim()) {
            for (c, plane) in sample.chunks_exact(per_channel).enumerate() {
                for &x in plane {
                    sum[c] += f64::from(x);
                    sum_sq[c] += f64::from(x) * f64::from(x);
                }
            }
        }
        let count = (self.len() * per_channel).max(1) as f64;
        let mean: Vec<f64> = sum.iter().map(|s| s / count).collect();
        let std = (sum_sq.iter().zip(&mean)).map(|(sq, m)| (sq / count - m * m).max(0.0).sqrt() as f32).collect();
        (mean.iter().map(|&m| m as f32).collect(), std)
    }

    /// The inputs converted to `f64` (for training and exact geometry in double precision).
    pub fn to_f64(&self) -> Vec<f64> {
        self.images.iter().map(|&x| f64::from(x)).collect()
    }

    /// The labels as one-hot rows, `len() * num_classes()` values.
    pub fn one_hot<T: From<u8>>(&self) -> Vec<T> {
        one_hot_rows(&self.labels, self.num_classes)
    }

    /// Splits the dataset into its inputs and labels.
    pub fn into_parts(self) -> (Vec<f32>, Vec<u8>) {
        (self.images, self.labels)
    }

    /// Expands per-channel values (or one value for all channels) to one value per coordinate.
    fn per_coordinate(&self, values: &[f32], what: &str) -> Result<Vec<f32>> {
        let channels = self.channels();
        let per_channel = self.dim() / channels;
        let per_channel_values: Vec<f32> = match values.len() {
            1 => vec![values[0]; channels],
            n if n == channels => values.to_vec(),
            n => {
                return Err(DataError::InvalidArgument(format!(
                    "normalization {what} has {n} values, {} has {channels} channels",
                    self.name
                )))
            }
        };
        Ok(per_channel_values.iter().flat_map(|&v| std::iter::repeat_n(v, per_channel)).collect())
    }

    /// A copy of everything but the samples, for building subsets.
    fn clone_without_samples(&self) -> Dataset {
        Dataset {
            name: self.name.clone(),
            images: Vec::new(),
            labels: Vec::new(),
            sample_shape: self.sample_shape.clone(),
            num_classes: self.num_classes,
            domain: self.domain.clone(),
            source_files: self.source_files.clone(),
        }
    }
}

/// Labels as one-hot rows (`labels.len() * num_classes` values, `1` at the label's column);
/// fails on a label that is not below `num_classes`.
pub fn one_hot<T: From<u8>>(labels: &[u8], num_classes: usize) -> Result<Vec<T>> {
    if let Some(index) = labels.iter().position(|&l| usize::from(l) >= num_classes) {
        return Err(DataError::InvalidArgument(format!(
            "label {} (sample {index}) is not below the number of classes {num_classes}",
            labels[index]
        )));
    }
    Ok(one_hot_rows(labels, num_classes))
}

/// One-hot rows for labels already known to be in range.
fn one_hot_rows<T: From<u8>>(labels: &[u8], num_classes: usize) -> Vec<T> {
    let mut rows = Vec::with_capacity(labels.len() * num_classes);
    for &label in labels {
        rows.extend((0..num_classes).map(|c| T::from(u8::from(c == usize::from(label)))));
    }
    rows
}

/// `n` distinct indices below `population`, drawn without replacement by a `ChaCha8Rng` seeded
/// with `seed`, in the order drawn (a partial Fisher-Yates shuffle, so the same seed always
/// gives the same indices). Fails when `n > population`.
pub fn indices_without_replacement(population: usize, n: usize, seed: u64) -> Result<Vec<usize>> {
    if n > population {
        return Err(DataError::InvalidArgument(format!("cannot draw {n} distinct samples from {population}")));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut indices: Vec<usize> = (0..population).collect();
    for i in 0..n {
        let j = rng.random_range(i..population);
        indices.swap(i, j);
    }
    indices.truncate(n);
    Ok(indices)
}

/// A shape for messages: `[1, 28, 28]`.
pub(crate) fn shape_text(shape: &[usize]) -> String {
    format!("[{}]", shape.iter().map(usize::to_string).collect::<Vec<_>>().join(", "))
}

/// The number of coordinates of a sample shape; rejects empty shapes and zero axes.
fn checked_dim(sample_shape: &[usize]) -> Result<usize> {
    if sample_shape.is_empty() || sample_shape.contains(&0) {
        return Err(DataError::InvalidDataset(format!("sample shape {} has no coordinates", shape_text(sample_shape))));
    }
    sample_shape
        .iter()
        .try_fold(1usize, |acc, &n| acc.checked_mul(n))
        .ok_or_else(|| DataError::InvalidDataset(format!("sample shape {} overflows", shape_text(sample_shape))))
}

/// Labels are bytes, so there are between 1 and 256 classes.
fn check_num_classes(num_classes: usize) -> Result<()> {
    if (1..=256).contains(&num_classes) {
        Ok(())
    } else {
        Err(DataError::InvalidDataset(format!("{num_classes} classes (labels are bytes: 1 to 256 classes)")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn toy(n: usize) -> Dataset {
        let images = (0..n * 2).map(|v| v as f32).collect();
        let labels = (0..n).map(|i| (i % 3) as u8).collect();
        Dataset::new("toy", images, labels, vec![2], 3).unwrap()
    }

    #[test]
    fn constructor_rejects_parts_that_do_not_fit() {
        let problem = |result: Result<Dataset>| match result {
            Err(DataError::InvalidDataset(problem)) => problem,
            other => panic!("{other:?}"),
        };
        assert!(problem(Dataset::new("x", vec![0.0; 5], vec![0, 1], vec![2], 2)).contains("need 4 values, got 5"));
        assert!(problem(Dataset::new("x", vec![0.0; 4], vec![0, 2], vec![2], 2)).contains("sample 1 has label 2"));
        assert!(problem(Dataset::new("x", vec![], vec![], vec![0], 2)).contains("no coordinates"));
        assert!(problem(Dataset::new("x", vec![], vec![], vec![2], 0)).contains("0 classes"));
        assert!(problem(Dataset::new("x", vec![], vec![], vec![2], 257)).contains("257 classes"));
    }

    #[test]
    fn samples_are_rows() {
        let data = toy(4);
        assert_eq!(data.len(), 4);
        assert_eq!(data.dim(), 2);
        assert_eq!(data.sample(2), &[4.0, 5.0]);
        assert_eq!(data.get(4), None);
        assert_eq!(data.class_counts(), vec![2, 1, 1]);
    }

    #[test]
    fn subset_and_first_keep_rows_and_labels_together() {
        let data = toy(5);
        let sub = data.subset(&[4, 1]).unwrap();
        assert_eq!(sub.images(), &[8.0, 9.0, 2.0, 3.0]);
        assert_eq!(sub.labels(), &[1, 1]);
        assert!(data.subset(&[5]).is_err());
        assert_eq!(data.first(2).labels(), &[0, 1]);
        assert_eq!(data.first(99).len(), 5);
    }

    #[test]
    fn subset_without_replacement_fails_when_too_large() {
        assert!(toy(3).subset_without_replacement(4, 0).is_err());
        assert_eq!(toy(3).subset_without_replacement(3, 0).unwrap().len(), 3);
    }

    #[test]
    fn random_labels_are_seeded_and_in_range() {
        let a = toy(200).with_random_labels(1);
        assert_eq!(a, toy(200).with_random_labels(1));
        assert_ne!(a.labels(), toy(200).with_random_labels(2).labels());
        assert!(a.labels().iter().all(|&l| l < 3));
        assert!(a.class_counts().iter().all(|&c| c > 40));
    }

    #[test]
    fn normalization_transforms_data_and_domain() {
        let data = Dataset::new("x", vec![0.0, 1.0, 0.5, 0.5], vec![0, 0], vec![2], 1).unwrap();
        let normalized = data.normalize(&[0.5, 0.0], &[0.5, 2.0]).unwrap();
        assert_eq!(normalized.images(), &[-1.0, 0.5, 0.0, 0.25]);
        assert_eq!(normalized.domain().lower(), &[-1.0, 0.0]);
        assert_eq!(normalized.domain().upper(), &[1.0, 0.5]);
        let back = normalized.scale_to_unit_box();
        assert_eq!(back.images(), &[0.0, 1.0, 0.5, 0.5]);
    }

    #[test]
    fn normalization_rejects_bad_statistics() {
        assert!(toy(2).normalize(&[0.0, 0.0, 0.0], &[1.0]).is_err());
        assert!(toy(2).normalize(&[0.0], &[0.0]).is_err());
        assert!(toy(2).normalize(&[f32::NAN], &[1.0]).is_err());
    }

    #[test]
    fn channel_statistics_of_image_planes() {
        // Two samples of shape [2, 1, 2]: channel 0 holds 0,2 / 2,0; channel 1 holds 1,1 / 1,1.
        let images = vec![0.0, 2.0, 1.0, 1.0, 2.0, 0.0, 1.0, 1.0];
        let data = Dataset::new("x", images, vec![0, 0], vec![2, 1, 2], 1).unwrap();
        let (mean, std) = data.channel_statistics();
        assert_eq!(mean, vec![1.0, 1.0]);
        assert_eq!(std, vec![1.0, 0.0]);
        let normalized = data.normalize(&mean, &[1.0, 1.0]).unwrap();
        assert_eq!(normalized.sample(0), &[-1.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn one_hot_rows_mark_the_label() {
        let rows: Vec<f64> = one_hot(&[2, 0], 3).unwrap();
        assert_eq!(rows, vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
        assert!(one_hot::<f32>(&[3], 3).is_err());
        assert_eq!(toy(2).one_hot::<f32>(), vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn split_parses_and_prints() {
        assert_eq!("Train".parse::<Split>().unwrap(), Split::Train);
        assert_eq!(Split::Test.to_string(), "test");
        let error = "valid".parse::<Split>().unwrap_err().to_string();
        assert!(error.contains("unknown split 'valid'") && error.contains("train or test"), "{error}");
    }

    proptest! {
        #[test]
        fn drawn_indices_are_distinct_in_range_and_seeded(
            population in 0usize..300, fraction in 0.0f64..=1.0, seed in any::<u64>()
        ) {
            let n = (population as f64 * fraction) as usize;
            let indices = indices_without_replacement(population, n, seed).unwrap();
            prop_assert_eq!(indices.len(), n);
            let mut sorted = indices.clone();
            sorted.sort_unstable();
            sorted.dedup();
            prop_assert_eq!(sorted.len(), n);
            prop_assert!(indices.iter().all(|&i| i < population));
            prop_assert_eq!(indices, indices_without_replacement(population, n, seed).unwrap());
        }

        #[test]
        fn normalization_keeps_points_inside_the_transformed_domain(
            values in proptest::collection::vec(0.0f32..=1.0, 6),
            mean in -1.0f32..1.0, std in 0.1f32..3.0
        ) {
            let data = Dataset::new("x", values, vec![0, 0, 0], vec![2], 1).unwrap();
            let normalized = data.normalize(&[mean], &[std]).unwrap();
            for i in 0..normalized.len() {
                let sample = normalized.sample(i);
                let domain = normalized.domain();
                for (j, x) in sample.iter().enumerate() {
                    prop_assert!(domain.lower()[j] - 1e-5 <= *x && *x <= domain.upper()[j] + 1e-5);
                }
            }
        }
    }
}
