//! `.npy` files named on the command line, read through `tessera-data` and handed to
//! `tessera-lc`: frames of shape `(P, d)` and point sets streamed in batches.

use anyhow::Context;
use std::path::Path;
use tessera_data::npy::{self, NpyRows};
use tessera_lc::{Frame, LcError, PointBatch, PointSource};

/// The frame saved in `path` (rows of `input_width` values, made unit length and checked
/// orthonormal).
pub fn load_frame(path: &Path, input_width: usize) -> anyhow::Result<Frame> {
    let rows = NpyRows::open(path)?.expect_width(input_width).context("reading the frame")?;
    Ok(Frame::from_rows(rows.read_all()?, input_width, &path.display().to_string())?)
}

/// Saves `frame` as a `(P, d)` float64 array.
pub fn save_frame(path: &Path, frame: &Frame) -> anyhow::Result<()> {
    Ok(npy::write_rows(path, frame.directions(), frame.p(), frame.dim())?)
}

/// The points of a `.npy` file, streamed in batches; the set is named after the file stem.
pub struct NpyPoints {
    name: String,
    file: NpyRows,
    next: usize,
}

impl NpyPoints {
    /// Opens `path`, whose rows must have `input_width` values.
    pub fn open(path: &Path, input_width: usize) -> anyhow::Result<Self> {
        let file = NpyRows::open(path)?.expect_width(input_width)?;
        let name = path.file_stem().map_or_else(|| "npy".into(), |s| s.to_string_lossy().into_owned());
        Ok(Self { name, file, next: 0 })
    }
}

impl PointSource for NpyPoints {
    fn name(&self) -> &str {
        &self.name
    }
    fn dim(&self) -> usize {
        self.file.width()
    }
    fn len(&self) -> usize {
        self.file.rows()
    }
    fn next_batch(&mut self, max: usize) -> tessera_lc::Result<PointBatch> {
        let end = (self.next + max).min(self.file.rows());
        let mut coords = Vec::new();
        self.file
            .read_rows(end - self.next, &mut coords)
            .map_err(|e| LcError::BadPointSet { set: self.name.clone(), message: e.to_string() })?;
        let batch = PointBatch { indices: (self.next..end).collect(), coords };
        self.next = end;
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_lc::{Directions, InMemoryPoints, LcOptions, LocalComplexity};
    use tessera_net::{mlp, Activation};

    /// Every count of a source, for comparing sources.
    fn counts(lc: &LocalComplexity<f64>, source: &mut dyn PointSource) -> Vec<tessera_lc::PointCounts> {
        let mut rows = Vec::new();
        lc.run(source, |batch| {
            rows.extend_from_slice(batch);
            Ok::<_, LcError>(())
        })
        .unwrap();
        rows
    }

    #[test]
    fn npy_points_give_the_same_counts_as_the_same_points_in_memory() {
        let mut net = mlp::<f64>(&[4, 9, 9, 2], Activation::Relu).unwrap();
        net.init_pytorch_default(3, 1.0);
        let points: Vec<f64> = (0..36).map(|v| (v as f64 * 0.37).sin()).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("adversarial.npy");
        npy::write_rows(&path, &points, 9, 4).unwrap();
        let frame = Frame::random(4, 3, 1).unwrap();
        let options = LcOptions { batch_points: Some(4), ..LcOptions::new(Directions::Shared(frame), vec![0.2, 2.0]) };
        let lc = LocalComplexity::new(&net, options).unwrap();
        let mut from_file = NpyPoints::open(&path, 4).unwrap();
        assert_eq!((from_file.name(), from_file.dim(), from_file.len()), ("adversarial", 4, 9));
        let mut in_memory = InMemoryPoints::new("adversarial", 4, points).unwrap();
        assert_eq!(counts(&lc, &mut from_file), counts(&lc, &mut in_memory));
    }

    #[test]
    fn frames_round_trip_and_files_of_the_wrong_width_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frame.npy");
        let frame = Frame::random(5, 2, 4).unwrap();
        save_frame(&path, &frame).unwrap();
        let back = load_frame(&path, 5).unwrap();
        assert!(back.directions().iter().zip(frame.directions()).all(|(a, b)| (a - b).abs() < 1e-12));
        let message = format!("{:#}", load_frame(&path, 4).unwrap_err());
        assert!(message.contains("frame.npy") && message.contains("expected 4"), "{message}");
        let message = format!("{:#}", NpyPoints::open(&path, 3).err().unwrap());
        assert!(message.contains("frame.npy") && message.contains("expected 3"), "{message}");
    }
}
