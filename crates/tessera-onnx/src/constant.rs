//! Constant tensors (initializers, `Constant` nodes, folded shapes) decoded to `f64`, and the
//! broadcasting checks that turn them into per-channel parameters.

use crate::proto::tensor_proto::{DataLocation, DataType};
use crate::proto::TensorProto;
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

/// A constant tensor: ONNX dims (batch axis included where the graph has one) and values in
/// row-major order. Integer tensors (shapes, indices) are stored exactly: `|v| < 2^53`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Constant {
    pub dims: Vec<usize>,
    pub values: Vec<f64>,
    /// Whether the ONNX element type is an integer type (division truncates).
    pub integer: bool,
}

impl Constant {
    /// A floating-point constant.
    pub fn new(dims: Vec<usize>, values: Vec<f64>) -> Result<Self, String> {
        let expected: usize = dims.iter().product();
        if expected != values.len() {
            return Err(format!("dims {dims:?} need {expected} values, found {}", values.len()));
        }
        Ok(Self { dims, values, integer: false })
    }

    /// The same constant with an integer (`true`) or floating-point element type.
    pub fn typed(self, integer: bool) -> Self {
        Self { integer, ..self }
    }

    /// The values as integers (shape and index tensors); fails on fractions.
    pub fn as_ints(&self) -> Result<Vec<i64>, String> {
        self.values
            .iter()
            .map(|&v| if v.fract() == 0.0 { Ok(v as i64) } else { Err(format!("{v} is not an integer")) })
            .collect()
    }

    /// The values of a constant that must hold exactly `len` numbers (any dims of that size).
    pub fn vector_of_len(&self, len: usize) -> Result<Vec<f64>, String> {
        if self.values.len() != len {
            return Err(format!("expected {len} values, found dims {:?}", self.dims));
        }
        Ok(self.values.clone())
    }

    /// The constant as one value per channel of a tensor whose per-sample shape is `sample`
    /// (channels are `sample[0]`; a `[D]` sample has `D` channels). It must broadcast to
    /// `[batch, sample..]` and be the same along every axis but the channel axis.
    pub fn per_channel(&self, sample: &[usize]) -> Result<Vec<f64>, String> {
        let full_rank = sample.len() + 1;
        let mismatch = || format!("dims {:?} do not broadcast per channel over [batch, {sample:?}]", self.dims);
        if self.dims.len() > full_rank {
            return Err(mismatch());
        }
        // Right-align the constant's axes with [batch, sample..]; axis `full_rank - r + i`.
        let first_axis = full_rank - self.dims.len();
        for (i, &d) in self.dims.iter().enumerate() {
            let axis = first_axis + i;
            let target = if axis == 0 { 1 } else { sample[axis - 1] };
            if d != 1 && d != target {
                return Err(mismatch());
            }
        }
        let channels = sample[0];
        let varies = || format!("dims {:?}: values differ along a non-channel axis", self.dims);
        let channel_axis = 1usize.checked_sub(first_axis).filter(|&a| self.dims[a] == channels);
        let Some(axis) = channel_axis else {
            // No channel axis: one value broadcast everywhere.
            let v = self.values[0];
            return if self.values.iter().all(|&x| x == v) { Ok(vec![v; channels]) } else { Err(varies()) };
        };
        let inner: usize = self.dims[axis + 1..].iter().product();
        let mut per_channel: Vec<Option<f64>> = vec![None; channels];
        for (flat, &v) in self.values.iter().enumerate() {
            let seen = &mut per_channel[(flat / inner) % channels];
            if seen.is_some_and(|s| s != v) {
                return Err(varies());
            }
            *seen = Some(v);
        }
        Ok(per_channel.into_iter().map(|c| c.expect("every channel has a value")).collect())
    }
}

/// Reads tensors stored outside the model file (`torch.onnx.export` writes `model.onnx.data`
/// beside the model), each file once.
pub(crate) struct ExternalData {
    base_dir: PathBuf,
    files: HashMap<String, Vec<u8>>,
}

impl ExternalData {
    /// External files are looked up relative to the directory of `model_path`.
    pub fn beside(model_path: &Path) -> Self {
        let base_dir = model_path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self { base_dir, files: HashMap::new() }
    }

    fn slice(&mut self, location: &str, offset: usize, length: Option<usize>) -> Result<&[u8], String> {
        let relative = Path::new(location);
        if !relative.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(format!("external data location '{location}' must be a plain relative path"));
        }
        if !self.files.contains_key(location) {
            let path = self.base_dir.join(relative);
            let bytes =
                std::fs::read(&path).map_err(|e| format!("cannot read external data {}: {e}", path.display()))?;
            self.files.insert(location.to_string(), bytes);
        }
        let bytes = &self.files[location];
        let end = length.map_or(Some(bytes.len()), |l| offset.checked_add(l));
        match end {
            Some(end) if offset <= end && end <= bytes.len() => Ok(&bytes[offset..end]),
            _ => Err(format!("external data '{location}' has {} bytes, the tensor needs more", bytes.len())),
        }
    }
}

/// Decode an ONNX tensor to `f64` values (float, double, int32 and int64 element types).
pub(crate) fn decode_tensor(t: &TensorProto, external: &mut ExternalData) -> Result<Constant, String> {
    let dims = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("negative dimension {d}")))
        .collect::<Result<Vec<_>, _>>()?;
    let data_type = DataType::try_from(t.data_type()).unwrap_or(DataType::Undefined);
    let width = match data_type {
        DataType::Float | DataType::Int32 => 4,
        DataType::Double | DataType::Int64 => 8,
        other => {
            return Err(format!(
                "element type {} is not supported (float, double, int32, int64 are; convert the model \
                 to float32 before exporting)",
                other.as_str_name()
            ))
        }
    };
    let raw = if t.data_location() == DataLocation::External {
        Some(external_bytes(t, external)?)
    } else {
        t.raw_data.as_deref().map(<[u8]>::to_vec)
    };
    let values: Vec<f64> = match raw {
        Some(bytes) => {
            if bytes.len() % width != 0 {
                return Err(format!("raw data of {} bytes is not a whole number of elements", bytes.len()));
            }
            bytes.chunks_exact(width).map(|b| decode_le(data_type, b)).collect()
        }
        None => match data_type {
            DataType::Float => t.float_data.iter().map(|&v| v as f64).collect(),
            DataType::Double => t.double_data.clone(),
            DataType::Int32 => t.int32_data.iter().map(|&v| v as f64).collect(),
            _ => t.int64_data.iter().map(|&v| v as f64).collect(),
        },
    };
    Ok(Constant::new(dims, values)?.typed(matches!(data_type, DataType::Int32 | DataType::Int64)))
}

fn external_bytes(t: &TensorProto, external: &mut ExternalData) -> Result<Vec<u8>, String> {
    let entry = |key: &str| t.external_data.iter().find(|e| e.key() == key).map(|e| e.value().to_string());
    let number = |key: &str| -> Result<Option<usize>, String> {
        entry(key).map(|v| v.parse().map_err(|_| format!("external data {key} '{v}' is not a number"))).transpose()
    };
    let location = entry("location").ok_or("stored as external data without a 'location'")?;
    let offset = number("offset")?.unwrap_or(0);
    Ok(external.slice(&location, offset, number("length")?)?.to_vec())
}

fn decode_le(data_type: DataType, b: &[u8]) -> f64 {
    match data_type {
        DataType::Float => f32::from_le_bytes(b.try_into().expect("4 bytes")) as f64,
        DataType::Int32 => i32::from_le_bytes(b.try_into().expect("4 bytes")) as f64,
        DataType::Double => f64::from_le_bytes(b.try_into().expect("8 bytes")),
        _ => i64::from_le_bytes(b.try_into().expect("8 bytes")) as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn constant(dims: &[usize], values: &[f64]) -> Constant {
        Constant::new(dims.to_vec(), values.to_vec()).unwrap()
    }

    #[test]
    fn per_channel_accepts_channel_vectors_and_scalars() {
        let c = constant(&[1, 3, 1, 1], &[1.0, 2.0, 3.0]);
        assert_eq!(c.per_channel(&[3, 4, 4]).unwrap(), vec![1.0, 2.0, 3.0]);
        assert_eq!(constant(&[3], &[1.0, 2.0, 3.0]).per_channel(&[3]).unwrap(), vec![1.0, 2.0, 3.0]);
        assert_eq!(constant(&[1], &[0.5]).per_channel(&[2, 2, 2]).unwrap(), vec![0.5, 0.5]);
        assert_eq!(constant(&[], &[0.5]).per_channel(&[2]).unwrap(), vec![0.5, 0.5]);
    }

    #[test]
    fn per_channel_refuses_spatial_variation_and_wrong_sizes() {
        assert!(constant(&[2, 1, 2], &[1.0, 2.0, 3.0, 4.0]).per_channel(&[2, 3, 2]).is_err());
        assert!(constant(&[4], &[1.0; 4]).per_channel(&[3]).is_err());
        assert!(constant(&[2, 3], &[1.0; 6]).per_channel(&[3]).is_err(), "a per-sample (batch) constant");
        // A [3] constant over a [C=2, H, W=3] tensor varies along W, not channels.
        assert!(constant(&[3], &[1.0, 2.0, 3.0]).per_channel(&[2, 3, 3]).is_err());
    }

    #[test]
    fn decode_reads_raw_and_typed_data() {
        let mut external = ExternalData::beside(Path::new("model.onnx"));
        let raw = TensorProto {
            dims: vec![2],
            data_type: Some(DataType::Float as i32),
            raw_data: Some([1.5f32.to_le_bytes(), (-2.0f32).to_le_bytes()].concat()),
            ..Default::default()
        };
        assert_eq!(decode_tensor(&raw, &mut external).unwrap().values, vec![1.5, -2.0]);
        let ints = TensorProto {
            dims: vec![2],
            data_type: Some(DataType::Int64 as i32),
            int64_data: vec![-1, 36],
            ..Default::default()
        };
        assert_eq!(decode_tensor(&ints, &mut external).unwrap().as_ints().unwrap(), vec![-1, 36]);
        let short = TensorProto { dims: vec![3], float_data: vec![1.0], data_type: Some(1), ..Default::default() };
        assert!(decode_tensor(&short, &mut external).unwrap_err().contains("need 3 values"));
    }
}
