//! `.npy` files of row vectors (frames `(P, d)`, point sets `(N, d)` or `(N, C, H, W)`), in
//! `float32` or `float64`, C order; read whole or streamed row by row.

use crate::{LcError, Result};
use npyz::WriterBuilder;
use std::fs::File;
use std::io::{self, BufReader, BufWriter};
use std::path::{Path, PathBuf};

type Values = Box<dyn Iterator<Item = io::Result<f64>> + Send>;

/// An open `.npy` file whose first axis indexes rows and whose other axes are flattened.
pub struct NpyRows {
    path: PathBuf,
    rows: usize,
    width: usize,
    values: Values,
}

impl NpyRows {
    /// Open `path` and read its header; the values are read on demand.
    pub fn open(path: &Path) -> Result<Self> {
        let fail = |message: String| LcError::File { path: path.to_path_buf(), message };
        let file = File::open(path).map_err(|e| fail(format!("cannot open: {e}")))?;
        let npy = npyz::NpyFile::new(BufReader::new(file)).map_err(|e| fail(format!("not a .npy file: {e}")))?;
        if npy.order() != npyz::Order::C {
            return Err(fail("Fortran-ordered array; save it with np.ascontiguousarray first".into()));
        }
        let shape: Vec<usize> = npy.shape().iter().map(|&s| s as usize).collect();
        if shape.len() < 2 {
            return Err(fail(format!("expected an array of rows (at least 2 axes), found shape {shape:?}")));
        }
        let (rows, width) = (shape[0], shape[1..].iter().product());
        let dtype = npy.dtype();
        let values: Values = match npy.try_data::<f64>() {
            Ok(reader) => Box::new(reader),
            Err(npy) => match npy.try_data::<f32>() {
                Ok(reader) => Box::new(reader.map(|v| v.map(f64::from))),
                Err(_) => return Err(fail(format!("dtype {dtype:?} is not float32 or float64"))),
            },
        };
        Ok(Self { path: path.to_path_buf(), rows, width, values })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Values per row (the product of all axes but the first).
    pub fn width(&self) -> usize {
        self.width
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append the next `n` rows to `out`.
    pub fn read_rows(&mut self, n: usize, out: &mut Vec<f64>) -> Result<()> {
        out.reserve(n * self.width);
        for _ in 0..n * self.width {
            match self.values.next() {
                Some(Ok(v)) => out.push(v),
                Some(Err(e)) => return Err(self.fail(format!("read error: {e}"))),
                None => return Err(self.fail("file ends before the rows its header announces".into())),
            }
        }
        Ok(())
    }

    /// Every row, row-major.
    pub fn read_all(mut self) -> Result<Vec<f64>> {
        let mut out = Vec::new();
        self.read_rows(self.rows, &mut out)?;
        Ok(out)
    }

    fn fail(&self, message: String) -> LcError {
        LcError::File { path: self.path.clone(), message }
    }
}

/// Write `data` (`rows x width`, row-major) as a `float64` array of shape `(rows, width)`.
pub fn write_rows(path: &Path, data: &[f64], rows: usize, width: usize) -> Result<()> {
    let fail = |e: io::Error| LcError::File { path: path.to_path_buf(), message: format!("cannot write: {e}") };
    let file = File::create(path).map_err(fail)?;
    let mut writer = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&[rows as u64, width as u64])
        .writer(BufWriter::new(file))
        .begin_nd()
        .map_err(fail)?;
    writer.extend(data.iter().copied()).map_err(fail)?;
    writer.finish().map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.npy");
        let data: Vec<f64> = (0..6).map(f64::from).collect();
        write_rows(&path, &data, 2, 3).unwrap();
        let mut npy = NpyRows::open(&path).unwrap();
        assert_eq!((npy.rows(), npy.width()), (2, 3));
        let mut first = Vec::new();
        npy.read_rows(1, &mut first).unwrap();
        assert_eq!(first, [0.0, 1.0, 2.0]);
        assert!(npy.read_rows(2, &mut first).unwrap_err().to_string().contains("ends before"));
    }

    #[test]
    fn float32_rows_and_image_shaped_arrays_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f32.npy");
        let mut writer = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&[2, 1, 2, 2])
            .writer(BufWriter::new(File::create(&path).unwrap()))
            .begin_nd()
            .unwrap();
        writer.extend((0..8).map(|v| v as f32 * 0.5)).unwrap();
        writer.finish().unwrap();
        let npy = NpyRows::open(&path).unwrap();
        assert_eq!((npy.rows(), npy.width()), (2, 4));
        assert_eq!(npy.read_all().unwrap()[7], 3.5);
    }

    #[test]
    fn unreadable_files_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junk.npy");
        std::fs::write(&path, b"not numpy").unwrap();
        let message = NpyRows::open(&path).err().unwrap().to_string();
        assert!(message.contains("junk.npy") && message.contains("not a .npy"), "{message}");
    }
}
