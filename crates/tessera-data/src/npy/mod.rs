//! `.npy` files of points and frames, as NumPy users write them with `np.save`.
//!
//! Accepted: format versions 1.0, 2.0 and 3.0; dtype `float32` or `float64` in either byte
//! order (`<f4`, `>f8`, ...); C or Fortran order (`np.save(f, q.T)` of a QR factor is
//! Fortran-ordered); shape `(N, d)` or `(N, C, H, W)`. The first axis indexes rows (points,
//! directions); the other axes are flattened in C order, so a `(C, H, W)` sample becomes the
//! same row as the network's NCHW input. Anything else (another dtype, rank or row width, a file
//! shorter or longer than its header says) is a [`DataError`] naming the file and what was
//! expected.
//!
//! C-ordered files are streamed row by row; Fortran-ordered ones are read whole and reordered.

mod header;

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};
use crate::file_bytes::check_length;
use header::{read_header, Header};

/// What a row of the file is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FloatType {
    F32 { big_endian: bool },
    F64 { big_endian: bool },
}

impl FloatType {
    /// The accepted dtypes: `f4`/`f8` in any byte order (`=` and `|` mean this machine's).
    fn from_descr(descr: &str) -> Option<Self> {
        let (order, code) = match descr.as_bytes().first()? {
            b'<' | b'>' | b'=' | b'|' => descr.split_at(1),
            _ => ("=", descr),
        };
        let big_endian = match order {
            ">" => true,
            "<" => false,
            _ => cfg!(target_endian = "big"),
        };
        match code {
            "f4" => Some(FloatType::F32 { big_endian }),
            "f8" => Some(FloatType::F64 { big_endian }),
            _ => None,
        }
    }

    fn size(self) -> usize {
        match self {
            FloatType::F32 { .. } => 4,
            FloatType::F64 { .. } => 8,
        }
    }

    /// Appends the values of `bytes` (a whole number of items) to `out`.
    fn decode(self, bytes: &[u8], out: &mut Vec<f64>) {
        let items = bytes.chunks_exact(self.size());
        match self {
            FloatType::F32 { big_endian } => out.extend(items.map(|b| {
                let b = [b[0], b[1], b[2], b[3]];
                f64::from(if big_endian { f32::from_be_bytes(b) } else { f32::from_le_bytes(b) })
            })),
            FloatType::F64 { big_endian } => out.extend(items.map(|b| {
                let b = [b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]];
                if big_endian {
                    f64::from_be_bytes(b)
                } else {
                    f64::from_le_bytes(b)
                }
            })),
        }
    }
}

/// NumPy's name for a dtype string, for messages: `<u1` -> `uint8`, `>f2` -> `float16`.
fn numpy_dtype_name(descr: &str) -> String {
    let code = descr.trim_start_matches(['<', '>', '=', '|']);
    let (kind, size) = code.split_at(code.find(|c: char| c.is_ascii_digit()).unwrap_or(code.len()));
    let bits = size.parse::<u32>().ok().map(|bytes| bytes * 8);
    let sized = |base: &str| bits.map_or_else(|| base.to_string(), |b| format!("{base}{b}"));
    match kind {
        "f" => sized("float"),
        "i" => sized("int"),
        "u" => sized("uint"),
        "c" => sized("complex"),
        "b" | "?" => "bool".into(),
        "U" => "str".into(),
        "S" | "a" => "bytes".into(),
        "O" => "object".into(),
        "M" => "datetime64".into(),
        "m" => "timedelta64".into(),
        "V" => "void".into(),
        _ => "unknown".into(),
    }
}

/// A shape as Python prints it: `(3, 4)`, `(784,)`, `()`.
fn python_shape(shape: &[u64]) -> String {
    match shape {
        [single] => format!("({single},)"),
        _ => format!("({})", shape.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")),
    }
}

/// Where the values come from.
enum Values {
    /// C order: read from the file as asked.
    Streamed { reader: BufReader<File>, float: FloatType },
    /// Fortran order: read whole and reordered to C order.
    InMemory { values: Vec<f64>, next: usize },
}

/// An open `.npy` file of rows (see the module documentation for what is accepted); rows are
/// read front to back.
pub struct NpyRows {
    path: PathBuf,
    shape: Vec<u64>,
    rows: usize,
    width: usize,
    next_row: usize,
    values: Values,
}

impl NpyRows {
    /// Opens `path` and checks its header, dtype, shape and size; values are read on demand.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| DataError::io(path, e))?;
        let file_len = file.metadata().map_err(|e| DataError::io(path, e))?.len();
        let mut reader = BufReader::new(file);
        let header = read_header(&mut reader, path)?;
        let float = check_dtype(&header, path)?;
        let (rows, width) = check_shape(&header.shape, path)?;
        let data_len = (rows as u64)
            .checked_mul(width as u64)
            .and_then(|n| n.checked_mul(float.size() as u64))
            .and_then(|n| n.checked_add(header.data_offset))
            .ok_or_else(|| DataError::BadHeader {
                path: path.to_path_buf(),
                problem: format!("shape {} is too large", python_shape(&header.shape)),
            })?;
        check_length(path, file_len, data_len)?;
        let values = if header.fortran_order {
            let mut bytes = Vec::with_capacity((data_len - header.data_offset) as usize);
            reader.read_to_end(&mut bytes).map_err(|e| DataError::io(path, e))?;
            let mut values = Vec::with_capacity(rows * width);
            float.decode(&bytes, &mut values);
            Values::InMemory { values: fortran_to_c_order(&values, &header.shape), next: 0 }
        } else {
            Values::Streamed { reader, float }
        };
        Ok(Self { path: path.to_path_buf(), shape: header.shape, rows, width, next_row: 0, values })
    }

    /// The number of rows (the first axis).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Values per row (the product of all axes but the first).
    pub fn width(&self) -> usize {
        self.width
    }

    /// The array's shape as written in the file.
    pub fn shape(&self) -> &[u64] {
        &self.shape
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Fails unless rows have `expected` values (e.g. the network's input width).
    pub fn expect_width(self, expected: usize) -> Result<Self> {
        if self.width != expected {
            return Err(DataError::NpyWidth {
                path: self.path,
                shape: python_shape(&self.shape),
                width: self.width,
                expected,
            });
        }
        Ok(self)
    }

    /// Appends the next `n` rows to `out`, row-major; fails past the last row.
    pub fn read_rows(&mut self, n: usize, out: &mut Vec<f64>) -> Result<()> {
        let end = self.end_of(n)?;
        let count = n * self.width;
        match &mut self.values {
            Values::Streamed { reader, float } => {
                let mut bytes = vec![0u8; count * float.size()];
                reader.read_exact(&mut bytes).map_err(|e| DataError::io(&self.path, e))?;
                out.reserve(count);
                float.decode(&bytes, out);
            }
            Values::InMemory { values, next } => {
                out.extend_from_slice(&values[*next..*next + count]);
                *next += count;
            }
        }
        self.next_row = end;
        Ok(())
    }

    /// Skips the next `n` rows without decoding them.
    pub fn skip_rows(&mut self, n: usize) -> Result<()> {
        let end = self.end_of(n)?;
        match &mut self.values {
            Values::Streamed { reader, float } => {
                let bytes = (n * self.width * float.size()) as i64;
                reader.seek_relative(bytes).map_err(|e| DataError::io(&self.path, e))?;
            }
            Values::InMemory { next, .. } => *next += n * self.width,
        }
        self.next_row = end;
        Ok(())
    }

    /// Every remaining row, row-major.
    pub fn read_all(mut self) -> Result<Vec<f64>> {
        let mut out = Vec::new();
        self.read_rows(self.rows - self.next_row, &mut out)?;
        Ok(out)
    }

    /// The row index after reading `n` more rows, if the file has them.
    fn end_of(&self, n: usize) -> Result<usize> {
        match self.next_row.checked_add(n) {
            Some(end) if end <= self.rows => Ok(end),
            _ => Err(DataError::NpyRowOutOfRange {
                path: self.path.clone(),
                row: self.next_row.saturating_add(n).saturating_sub(1),
                rows: self.rows,
            }),
        }
    }
}

/// Row `row` (from 0) of the `.npy` file at `path`.
pub fn read_row(path: &Path, row: usize) -> Result<Vec<f64>> {
    let mut file = NpyRows::open(path)?;
    if row >= file.rows() {
        return Err(DataError::NpyRowOutOfRange { path: path.to_path_buf(), row, rows: file.rows() });
    }
    file.skip_rows(row)?;
    let mut values = Vec::with_capacity(file.width());
    file.read_rows(1, &mut values)?;
    Ok(values)
}

/// The one row of a `.npy` file that holds a single point (shape `(1, d)` or `(1, C, H, W)`).
pub fn read_single_row(path: &Path) -> Result<Vec<f64>> {
    let file = NpyRows::open(path)?;
    if file.rows() != 1 {
        return Err(DataError::NpyShape {
            path: path.to_path_buf(),
            shape: python_shape(file.shape()),
            problem: "expected a single point, shape (1, d) or (1, C, H, W)".into(),
        });
    }
    file.read_all()
}

/// Writes `data` (`rows x width` values, row-major) as a C-ordered little-endian `float64` array
/// of shape `(rows, width)`, as `np.save` would.
pub fn write_rows(path: &Path, data: &[f64], rows: usize, width: usize) -> Result<()> {
    if rows.checked_mul(width) != Some(data.len()) {
        return Err(DataError::InvalidArgument(format!(
            "{}: {} values do not make {rows} rows of {width}",
            path.display(),
            data.len()
        )));
    }
    let mut dict = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({rows}, {width}), }}");
    // NumPy pads the header with spaces and a newline so the data starts on a 64-byte boundary.
    let unpadded = 10 + dict.len() + 1;
    dict.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    dict.push('\n');
    let header_len = u16::try_from(dict.len()).map_err(|_| DataError::InvalidArgument("shape too long".into()))?;
    let write = || -> std::io::Result<()> {
        let mut out = BufWriter::new(File::create(path)?);
        out.write_all(b"\x93NUMPY\x01\x00")?;
        out.write_all(&header_len.to_le_bytes())?;
        out.write_all(dict.as_bytes())?;
        for v in data {
            out.write_all(&v.to_le_bytes())?;
        }
        out.flush()
    };
    write().map_err(|e| DataError::io(path, e))
}

/// The float type of the header's dtype, or an error naming the dtype as NumPy does.
fn check_dtype(header: &Header, path: &Path) -> Result<FloatType> {
    let unsupported = |dtype: String, descr: String| DataError::NpyDtype { path: path.to_path_buf(), dtype, descr };
    match &header.descr {
        None => Err(unsupported("a structured (record) dtype".into(), "[...]".into())),
        Some(descr) => FloatType::from_descr(descr).ok_or_else(|| unsupported(numpy_dtype_name(descr), descr.clone())),
    }
}

/// Rows and row width of an accepted shape: `(N, d)` or `(N, C, H, W)` with non-empty rows.
fn check_shape(shape: &[u64], path: &Path) -> Result<(usize, usize)> {
    let bad = |problem: &str| DataError::NpyShape {
        path: path.to_path_buf(),
        shape: python_shape(shape),
        problem: problem.into(),
    };
    if shape.len() != 2 && shape.len() != 4 {
        return Err(bad("expected rows of points, shape (N, d) or (N, C, H, W) (one point: x.reshape(1, -1))"));
    }
    let rows = usize::try_from(shape[0]).map_err(|_| bad("too many rows"))?;
    let width = shape[1..]
        .iter()
        .try_fold(1usize, |acc, &n| usize::try_from(n).ok().and_then(|n| acc.checked_mul(n)))
        .ok_or_else(|| bad("rows are too long"))?;
    if width == 0 {
        return Err(bad("rows hold no values"));
    }
    Ok((rows, width))
}

/// Reorders values stored with the first axis fastest (Fortran) into C order (last axis
/// fastest), for the same `shape`.
fn fortran_to_c_order(values: &[f64], shape: &[u64]) -> Vec<f64> {
    let shape: Vec<usize> = shape.iter().map(|&n| n as usize).collect();
    let strides: Vec<usize> = shape
        .iter()
        .scan(1usize, |acc, &n| {
            let stride = *acc;
            *acc *= n;
            Some(stride)
        })
        .collect();
    let mut index = vec![0usize; shape.len()];
    let mut out = Vec::with_capacity(values.len());
    for _ in 0..values.len() {
        out.push(values[index.iter().zip(&strides).map(|(i, s)| i * s).sum::<usize>()]);
        for axis in (0..shape.len()).rev() {
            index[axis] += 1;
            if index[axis] < shape[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
    out
}

/// Writers of `.npy` bytes for tests here and in other modules.
#[cfg(test)]
pub(crate) mod test_files {
    /// A version 1.0 `.npy` file: header dict from the parts, padded as NumPy pads it, then
    /// `data` as given.
    pub fn npy_bytes(descr: &str, fortran_order: bool, shape: &str, data: &[u8]) -> Vec<u8> {
        let order = if fortran_order { "True" } else { "False" };
        let mut dict = format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {shape}, }}");
        let unpadded = 10 + dict.len() + 1;
        dict.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
        dict.push('\n');
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        bytes.extend_from_slice(dict.as_bytes());
        bytes.extend_from_slice(data);
        bytes
    }

    /// `values` as little- or big-endian `f4` or `f8` bytes.
    pub fn float_bytes(values: &[f64], size: usize, big_endian: bool) -> Vec<u8> {
        values
            .iter()
            .flat_map(|&v| match (size, big_endian) {
                (4, false) => (v as f32).to_le_bytes().to_vec(),
                (4, true) => (v as f32).to_be_bytes().to_vec(),
                (_, false) => v.to_le_bytes().to_vec(),
                (_, true) => v.to_be_bytes().to_vec(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::test_files::*;
    use super::*;
    use proptest::prelude::*;

    /// The 2 x 3 matrix [[0, 1, 2], [3, 4, 5]] in C order and in Fortran (column-major) order.
    const C_ORDER: [f64; 6] = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0];
    const FORTRAN_ORDER: [f64; 6] = [0.0, 3.0, 1.0, 4.0, 2.0, 5.0];

    fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn every_byte_order_size_and_memory_order_reads_the_same_matrix() {
        let dir = tempfile::tempdir().unwrap();
        for (size, code) in [(4, "f4"), (8, "f8")] {
            for (big_endian, order) in [(false, '<'), (true, '>')] {
                for (fortran, stored) in [(false, C_ORDER), (true, FORTRAN_ORDER)] {
                    let descr = format!("{order}{code}");
                    let bytes = npy_bytes(&descr, fortran, "(2, 3)", &float_bytes(&stored, size, big_endian));
                    let file = NpyRows::open(&write(&dir, "m.npy", &bytes)).unwrap();
                    assert_eq!((file.rows(), file.width()), (2, 3), "{descr} fortran={fortran}");
                    assert_eq!(file.read_all().unwrap(), C_ORDER, "{descr} fortran={fortran}");
                }
            }
        }
    }

    #[test]
    fn image_shaped_arrays_flatten_each_sample_in_chw_order_in_either_memory_order() {
        // Shape (2, 2, 1, 2): value 1000 n + 100 c + w, stored in C then in Fortran order.
        let value = |n: usize, c: usize, w: usize| (1000 * n + 100 * c + w) as f64;
        let mut c_order = Vec::new();
        for n in 0..2 {
            for c in 0..2 {
                for w in 0..2 {
                    c_order.push(value(n, c, w));
                }
            }
        }
        let mut fortran = Vec::new();
        for w in 0..2 {
            for c in 0..2 {
                for n in 0..2 {
                    fortran.push(value(n, c, w));
                }
            }
        }
        let dir = tempfile::tempdir().unwrap();
        for (is_fortran, stored) in [(false, &c_order), (true, &fortran)] {
            let bytes = npy_bytes("<f8", is_fortran, "(2, 2, 1, 2)", &float_bytes(stored, 8, false));
            let file = NpyRows::open(&write(&dir, "x.npy", &bytes)).unwrap();
            assert_eq!((file.rows(), file.width()), (2, 4));
            assert_eq!(file.read_all().unwrap(), c_order, "fortran={is_fortran}");
        }
    }

    #[test]
    fn rows_stream_skip_and_run_out_with_an_error_naming_the_row() {
        let dir = tempfile::tempdir().unwrap();
        for fortran in [false, true] {
            let stored = if fortran { FORTRAN_ORDER } else { C_ORDER };
            let path = write(&dir, "m.npy", &npy_bytes("<f8", fortran, "(2, 3)", &float_bytes(&stored, 8, false)));
            let mut file = NpyRows::open(&path).unwrap();
            file.skip_rows(1).unwrap();
            let mut row = Vec::new();
            file.read_rows(1, &mut row).unwrap();
            assert_eq!(row, [3.0, 4.0, 5.0]);
            let error = file.read_rows(1, &mut row).unwrap_err();
            assert!(matches!(error, DataError::NpyRowOutOfRange { row: 2, rows: 2, .. }), "{error}");
            assert_eq!(read_row(&path, 1).unwrap(), [3.0, 4.0, 5.0]);
            let message = read_row(&path, 7).unwrap_err().to_string();
            assert!(message.contains("m.npy") && message.contains("row 7") && message.contains("2 rows"), "{message}");
        }
    }

    #[test]
    fn written_rows_read_back_and_keep_numpy_alignment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.npy");
        write_rows(&path, &C_ORDER, 2, 3).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!((bytes.len() - 6 * 8) % 64, 0, "data starts on a 64-byte boundary");
        assert_eq!(NpyRows::open(&path).unwrap().read_all().unwrap(), C_ORDER);
        assert!(matches!(write_rows(&path, &C_ORDER, 4, 2), Err(DataError::InvalidArgument(_))));
    }

    #[test]
    fn a_single_point_file_must_hold_one_row() {
        let dir = tempfile::tempdir().unwrap();
        let one = dir.path().join("one.npy");
        write_rows(&one, &[0.5, 0.25], 1, 2).unwrap();
        assert_eq!(read_single_row(&one).unwrap(), [0.5, 0.25]);
        let two = dir.path().join("two.npy");
        write_rows(&two, &C_ORDER, 2, 3).unwrap();
        let error = read_single_row(&two).unwrap_err();
        assert!(matches!(&error, DataError::NpyShape { shape, .. } if shape == "(2, 3)"), "{error}");
        assert!(error.to_string().contains("single point"), "{error}");
    }

    #[test]
    fn integer_dtypes_are_refused_with_numpy_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "pixels.npy", &npy_bytes("|u1", false, "(2, 3)", &[0, 1, 2, 3, 4, 5]));
        let error = NpyRows::open(&path).err().unwrap();
        assert!(matches!(&error, DataError::NpyDtype { dtype, descr, .. } if dtype == "uint8" && descr == "|u1"));
        let message = error.to_string();
        assert!(
            message.contains("pixels.npy") && message.contains("uint8") && message.contains("float32"),
            "{message}"
        );
        assert!(!message.contains("Plain") && !message.contains("TypeStr"), "{message}");
        assert_eq!(numpy_dtype_name("<i8"), "int64");
        assert_eq!(numpy_dtype_name("<f2"), "float16");
        assert_eq!(numpy_dtype_name("<c16"), "complex128");
        assert_eq!(numpy_dtype_name("|b1"), "bool");
        assert_eq!(numpy_dtype_name("<U7"), "str");
    }

    #[test]
    fn wrong_ranks_and_widths_say_what_was_expected() {
        let dir = tempfile::tempdir().unwrap();
        let flat = write(&dir, "flat.npy", &npy_bytes("<f8", false, "(3,)", &float_bytes(&[1.0; 3], 8, false)));
        let error = NpyRows::open(&flat).err().unwrap();
        assert!(matches!(&error, DataError::NpyShape { shape, .. } if shape == "(3,)"), "{error}");
        assert!(error.to_string().contains("(N, d) or (N, C, H, W)"), "{error}");
        let hwc = write(&dir, "hw.npy", &npy_bytes("<f8", false, "(1, 2, 1)", &float_bytes(&[1.0; 2], 8, false)));
        assert!(matches!(NpyRows::open(&hwc), Err(DataError::NpyShape { .. })));
        let path = dir.path().join("m.npy");
        write_rows(&path, &C_ORDER, 2, 3).unwrap();
        let error = NpyRows::open(&path).unwrap().expect_width(784).err().unwrap();
        assert!(matches!(error, DataError::NpyWidth { width: 3, expected: 784, .. }), "{error}");
        let message = error.to_string();
        assert!(message.contains("m.npy") && message.contains("(2, 3)") && message.contains("784"), "{message}");
    }

    #[test]
    fn sizes_that_disagree_with_the_header_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let data = float_bytes(&C_ORDER, 8, false);
        let short = write(&dir, "short.npy", &npy_bytes("<f8", false, "(2, 3)", &data[..40]));
        let error = NpyRows::open(&short).err().unwrap();
        assert!(matches!(error, DataError::Truncated { expected: 176, actual: 168, .. }), "{error}");
        let long = write(&dir, "long.npy", &npy_bytes("<f8", false, "(2, 3)", &[&data[..], &[0; 8]].concat()));
        assert!(matches!(NpyRows::open(&long), Err(DataError::TrailingData { expected: 176, actual: 184, .. })));
        let huge = write(&dir, "huge.npy", &npy_bytes("<f8", true, "(4294967296, 4294967296, 4294967296, 9)", &data));
        assert!(matches!(NpyRows::open(&huge), Err(DataError::NpyShape { .. } | DataError::BadHeader { .. })));
        let junk = write(&dir, "junk.npy", b"not numpy at all");
        let error = NpyRows::open(&junk).err().unwrap();
        assert!(matches!(&error, DataError::BadHeader { problem, .. } if problem.contains("not a .npy")), "{error}");
    }

    /// A valid file of `rows x width` float64 values in either memory order.
    fn valid_file() -> impl Strategy<Value = Vec<u8>> {
        (1usize..4, 1usize..4, any::<bool>(), any::<bool>()).prop_map(|(rows, width, fortran, big_endian)| {
            let values: Vec<f64> = (0..rows * width).map(|v| v as f64 * 0.5).collect();
            let descr = if big_endian { ">f8" } else { "<f8" };
            npy_bytes(descr, fortran, &format!("({rows}, {width})"), &float_bytes(&values, 8, big_endian))
        })
    }

    proptest! {
        #[test]
        fn any_truncation_is_refused_as_truncated_or_a_cut_header(bytes in valid_file(), cut in 0.0f64..1.0) {
            let dir = tempfile::tempdir().unwrap();
            let cut = (bytes.len() as f64 * cut) as usize;
            let path = write(&dir, "cut.npy", &bytes[..cut]);
            let result = NpyRows::open(&path).and_then(NpyRows::read_all);
            prop_assert!(
                matches!(result, Err(DataError::Truncated { .. } | DataError::BadHeader { .. })),
                "cut at {}: {:?}", cut, result.map(|v| v.len())
            );
        }

        #[test]
        fn corrupted_bytes_give_values_or_an_error_never_a_panic(
            bytes in valid_file(),
            flips in proptest::collection::vec((0.0f64..1.0, any::<u8>()), 1..6),
        ) {
            let mut bytes = bytes;
            for (at, value) in flips {
                let at = (bytes.len() as f64 * at) as usize;
                bytes[at] = value;
            }
            let dir = tempfile::tempdir().unwrap();
            let path = write(&dir, "bad.npy", &bytes);
            match NpyRows::open(&path).and_then(NpyRows::read_all) {
                Ok(values) => prop_assert!(values.len() <= bytes.len() / 8),
                Err(error) => prop_assert!(matches!(
                    error,
                    DataError::BadHeader { .. } | DataError::NpyDtype { .. } | DataError::NpyShape { .. }
                        | DataError::Truncated { .. } | DataError::TrailingData { .. }
                ), "{}", error),
            }
        }
    }
}
