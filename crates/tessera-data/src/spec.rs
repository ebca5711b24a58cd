//! `DATASET:SPLIT[:N[:seed=S]]`: how commands name a dataset split and the points taken from
//! it, and loading those points (all of them, a selection, or one point).

use std::fmt;
use std::str::FromStr;

use crate::catalog::DatasetKind;
use crate::data_dir::DataDir;
use crate::dataset::{indices_without_replacement, Dataset, Split};
use crate::error::{DataError, Result};

/// A dataset split and which of its points to use: all of them, the first `N`, or `N` drawn
/// without replacement by a seed. Written `DATASET:SPLIT[:N[:seed=S]]`, e.g. `mnist:test`,
/// `mnist:test:1000`, `cifar10:train:500:seed=3`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DatasetSpec {
    /// The dataset.
    pub kind: DatasetKind,
    /// The split.
    pub split: Split,
    /// How many points (at most; all when `None`).
    pub count: Option<usize>,
    /// Draw the points by this seed instead of taking the first ones.
    pub seed: Option<u64>,
}

/// The points a [`DatasetSpec`] selects.
#[derive(Clone, Debug, PartialEq)]
pub struct Selection {
    /// The selected samples, in selection order (with the split's shape, classes and domain).
    pub dataset: Dataset,
    /// Each selected sample's index in the full split.
    pub indices: Vec<usize>,
}

impl DatasetSpec {
    /// All points of a split.
    pub fn new(kind: DatasetKind, split: Split) -> Self {
        Self { kind, split, count: None, seed: None }
    }

    /// The name point sets get in outputs, e.g. "mnist-test".
    pub fn set_name(&self) -> String {
        format!("{}-{}", self.kind.name(), self.split)
    }

    /// Indices into a split of `len` samples: the first `count` (capped at `len`), or `count`
    /// drawn without replacement by `seed`, in the order drawn.
    pub fn selected_indices(&self, len: usize) -> Result<Vec<usize>> {
        let n = self.count.unwrap_or(len).min(len);
        match self.seed {
            Some(seed) => indices_without_replacement(len, n, seed),
            None => Ok((0..n).collect()),
        }
    }

    /// Finds the split through `dirs`, reads it and selects its points.
    pub fn load(&self, dirs: &DataDir) -> Result<Selection> {
        let full = dirs.load(self.kind, self.split)?;
        let indices = self.selected_indices(full.len())?;
        let dataset = if indices.len() == full.len() && self.seed.is_none() { full } else { full.subset(&indices)? };
        Ok(Selection { dataset, indices })
    }

    /// The points at `positions` in the selection (the split's own indices when no `N` is
    /// given), as `f64`, reading the split once.
    pub fn points(&self, dirs: &DataDir, positions: &[usize]) -> Result<Vec<Vec<f64>>> {
        let selection = self.load(dirs)?;
        positions
            .iter()
            .map(|&index| {
                selection.dataset.get(index).map(|x| x.iter().map(|&v| f64::from(v)).collect()).ok_or_else(|| {
                    DataError::PointOutOfRange { dataset: self.to_string(), index, len: selection.dataset.len() }
                })
            })
            .collect()
    }

    /// One point, e.g. `mnist:test` point 0 for `--point 0 --dataset mnist:test`.
    pub fn point(&self, dirs: &DataDir, index: usize) -> Result<Vec<f64>> {
        Ok(self.points(dirs, &[index])?.remove(0))
    }
}

impl fmt::Display for DatasetSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.split)?;
        if let Some(count) = self.count {
            write!(f, ":{count}")?;
        }
        if let Some(seed) = self.seed {
            write!(f, ":seed={seed}")?;
        }
        Ok(())
    }
}

impl FromStr for DatasetSpec {
    type Err = DataError;

    fn from_str(text: &str) -> Result<Self> {
        let bad = |problem: String| DataError::BadDatasetSpec { spec: text.to_string(), problem };
        let parts: Vec<&str> = text.split(':').collect();
        let (kind, split) = match parts[..] {
            [kind, split, ..] if parts.len() <= 4 => (kind, split),
            [_] => return Err(bad("the split is missing".into())),
            _ => return Err(bad(format!("{} parts separated by ':', at most 4", parts.len()))),
        };
        let kind: DatasetKind = kind.parse().map_err(|_| bad(format!("unknown dataset '{kind}'")))?;
        let split: Split = split.parse().map_err(|_| bad(format!("unknown split '{split}'")))?;
        let count = match parts.get(2) {
            Some(n) => match n.parse::<usize>() {
                Ok(0) => return Err(bad("N, the number of points, must be at least 1".into())),
                Ok(n) => Some(n),
                Err(_) => return Err(bad(format!("N, the number of points, is '{n}'"))),
            },
            None => None,
        };
        let seed = match parts.get(3) {
            Some(part) => {
                let digits = part.strip_prefix("seed=").ok_or_else(|| bad(format!("'{part}' is not seed=S")))?;
                Some(digits.parse::<u64>().map_err(|_| bad(format!("the seed '{digits}' is not a whole number")))?)
            }
            None => None,
        };
        Ok(Self { kind, split, count, seed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::test_files::{idx_images, idx_labels};

    #[test]
    fn specs_parse_and_print_back() {
        for text in ["mnist:test", "cifar10:train:500", "fashion-mnist:train:1000:seed=3"] {
            assert_eq!(text.parse::<DatasetSpec>().unwrap().to_string(), text);
        }
        let spec: DatasetSpec = "MNIST:Train:10:seed=7".parse().unwrap();
        assert_eq!(spec, DatasetSpec { kind: DatasetKind::Mnist, split: Split::Train, count: Some(10), seed: Some(7) });
        assert_eq!(spec.set_name(), "mnist-train");
    }

    #[test]
    fn bad_specs_say_what_is_wrong_and_show_the_form() {
        let problem = |text: &str| match text.parse::<DatasetSpec>() {
            Err(error @ DataError::BadDatasetSpec { .. }) => error.to_string(),
            other => panic!("{text}: {other:?}"),
        };
        assert!(problem("mnist").contains("the split is missing"));
        assert!(problem("mnist").contains("DATASET:SPLIT[:N[:seed=S]]"));
        assert!(problem("imagenet:test").contains("unknown dataset 'imagenet'"));
        assert!(problem("mnist:valid").contains("unknown split 'valid'"));
        assert!(problem("mnist:test:many").contains("N, the number of points, is 'many'"));
        assert!(problem("mnist:test:0").contains("at least 1"));
        assert!(problem("mnist:test:10:3").contains("'3' is not seed=S"));
        assert!(problem("mnist:test:10:seed=x").contains("the seed 'x'"));
        assert!(problem("mnist:test:1:seed=1:more").contains("5 parts"));
    }

    #[test]
    fn selections_take_the_first_points_or_draw_them_by_seed() {
        let first = "mnist:test:3".parse::<DatasetSpec>().unwrap();
        assert_eq!(first.selected_indices(10).unwrap(), [0, 1, 2]);
        assert_eq!(first.selected_indices(2).unwrap(), [0, 1], "N is capped at the split's size");
        let drawn = "mnist:test:3:seed=5".parse::<DatasetSpec>().unwrap();
        assert_eq!(drawn.selected_indices(10).unwrap(), indices_without_replacement(10, 3, 5).unwrap());
    }

    /// A data root holding an MNIST-layout test split of 3 one-pixel images valued 0, 51, 102.
    fn tiny_mnist_root() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("mnist");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("t10k-images-idx3-ubyte"), idx_images(3, 1, 1, &[0, 51, 102])).unwrap();
        std::fs::write(dir.join("t10k-labels-idx1-ubyte"), idx_labels(&[4, 5, 6])).unwrap();
        root
    }

    #[test]
    fn points_are_loaded_by_index_and_out_of_range_is_an_error_naming_the_dataset() {
        let root = tiny_mnist_root();
        let dirs = DataDir::from_roots(vec![root.path().to_path_buf()]);
        let spec: DatasetSpec = "mnist:test".parse().unwrap();
        assert_eq!(spec.point(&dirs, 2).unwrap(), [f64::from(102.0f32 / 255.0)]);
        assert_eq!(spec.points(&dirs, &[1, 0]).unwrap(), [[f64::from(51.0f32 / 255.0)], [0.0]]);
        let error = spec.point(&dirs, 3).unwrap_err();
        assert!(matches!(error, DataError::PointOutOfRange { index: 3, len: 3, .. }), "{error}");
        assert!(error.to_string().contains("mnist:test has 3 points"), "{error}");
        let selection = "mnist:test:2:seed=1".parse::<DatasetSpec>().unwrap().load(&dirs).unwrap();
        assert_eq!(selection.indices, indices_without_replacement(3, 2, 1).unwrap());
        let labels: Vec<u8> = selection.indices.iter().map(|&i| [4, 5, 6][i]).collect();
        assert_eq!(selection.dataset.labels(), labels);
    }
}
