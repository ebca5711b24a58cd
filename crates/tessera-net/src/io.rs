//! Saving and loading: architecture as JSON, weights as safetensors (see docs/formats.md).

use crate::network::{Node, NodeParams};
use crate::{NetError, Network, Result, Scalar};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// File name of the architecture inside a model directory.
pub const ARCHITECTURE_FILE: &str = "architecture.json";
/// File name of the weights inside a model directory.
pub const WEIGHTS_FILE: &str = "weights.safetensors";
const FORMAT: &str = "tessera-net/1";

/// The JSON document describing a network's graph.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ArchitectureDoc {
    format: String,
    nodes: Vec<Node>,
}

fn file_error(path: &Path, message: impl std::fmt::Display) -> NetError {
    NetError::File { path: path.to_path_buf(), message: message.to_string() }
}

impl<T: Scalar> Network<T> {
    /// Write `dir/architecture.json` and `dir/weights.safetensors` (element type `T`).
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| file_error(dir, e))?;
        let doc = ArchitectureDoc { format: FORMAT.into(), nodes: self.nodes().to_vec() };
        let arch_path = dir.join(ARCHITECTURE_FILE);
        let json = serde_json::to_string_pretty(&doc).map_err(|e| file_error(&arch_path, e))?;
        std::fs::write(&arch_path, json).map_err(|e| file_error(&arch_path, e))?;
        let weights_path = dir.join(WEIGHTS_FILE);
        std::fs::write(&weights_path, self.weights_to_safetensors()?).map_err(|e| file_error(&weights_path, e))
    }

    /// Serialise every parameter and buffer as `node_name.param` tensors.
    pub fn weights_to_safetensors(&self) -> Result<Vec<u8>> {
        let mut named: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        for (id, node) in self.nodes().iter().enumerate() {
            for (name, shape, values) in tensors_of(node, self.params(id)) {
                named.push((format!("{}.{}", node.name, name), shape, to_bytes(values)));
            }
        }
        let dtype = if T::DTYPE == "F32" { Dtype::F32 } else { Dtype::F64 };
        let views: Vec<(String, TensorView)> = named
            .iter()
            .map(|(n, s, b)| {
                Ok((n.clone(), TensorView::new(dtype, s.clone(), b).map_err(|e| NetError::Invalid(e.to_string()))?))
            })
            .collect::<Result<_>>()?;
        safetensors::serialize(views, &None).map_err(|e| NetError::Invalid(e.to_string()))
    }

    /// Load a model directory written by `save` (weights of either element type are converted).
    pub fn load(dir: &Path) -> Result<Self> {
        let arch_path = dir.join(ARCHITECTURE_FILE);
        let text = std::fs::read_to_string(&arch_path).map_err(|e| file_error(&arch_path, e))?;
        let doc: ArchitectureDoc = serde_json::from_str(&text)
            .map_err(|e| NetError::Architecture { path: arch_path.clone(), message: e.to_string() })?;
        if doc.format != FORMAT {
            return Err(NetError::Architecture {
                path: arch_path,
                message: format!("format '{}' is not '{FORMAT}'", doc.format),
            });
        }
        let mut net = Network::new(doc.nodes)?;
        let weights_path = dir.join(WEIGHTS_FILE);
        let bytes = std::fs::read(&weights_path).map_err(|e| file_error(&weights_path, e))?;
        net.load_weights(&bytes, &weights_path, &HashMap::new())?;
        Ok(net)
    }

    /// Fill parameters from safetensors bytes; `keys` maps each internal `node.param` name to
    /// the key it has in the file. Checks shapes and finiteness.
    pub fn load_weights(&mut self, bytes: &[u8], path: &Path, keys: &HashMap<String, String>) -> Result<()> {
        let st = SafeTensors::deserialize(bytes)
            .map_err(|e| file_error(path, format!("not a valid safetensors file: {e}")))?;
        for id in 0..self.nodes().len() {
            let node = self.node(id).clone();
            let shapes = expected_shapes(&node);
            for (k, (pname, shape)) in shapes.iter().enumerate() {
                let internal = format!("{}.{}", node.name, pname);
                let key = keys.get(&internal).cloned().unwrap_or_else(|| internal.clone());
                let view = st
                    .tensor(&key)
                    .map_err(|_| NetError::MissingParam { name: key.clone(), path: path.to_path_buf() })?;
                let values = read_values::<T>(&view, &key, path)?;
                if view.shape() != shape.as_slice() {
                    return Err(NetError::ParamShape {
                        name: key,
                        expected: shape.clone(),
                        found: view.shape().to_vec(),
                    });
                }
                let p = self.params_mut(id);
                match k.checked_sub(p.tensors.len()) {
                    None => p.tensors[k] = values,
                    Some(0) => p.running.as_mut().expect("buffers").mean = values,
                    Some(_) => p.running.as_mut().expect("buffers").var = values,
                }
            }
        }
        self.check_finite().map_err(|e| file_error(path, e))
    }
}

/// Parameter and buffer names of a node, in storage order.
fn param_keys(node: &Node) -> Vec<&'static str> {
    let mut keys = node.op.param_names().to_vec();
    if matches!(node.op, crate::Op::BatchNorm { .. }) {
        keys.extend(["running_mean", "running_var"]);
    }
    keys
}

fn expected_shapes(node: &Node) -> Vec<(&'static str, Vec<usize>)> {
    let mut shapes = node.op.param_shapes();
    if let crate::Op::BatchNorm { channels, .. } = node.op {
        shapes.extend([vec![channels], vec![channels]]);
    }
    param_keys(node).into_iter().zip(shapes).collect()
}

fn tensors_of<'a, T: Scalar>(node: &Node, p: &'a NodeParams<T>) -> Vec<(&'static str, Vec<usize>, &'a [T])> {
    let mut values: Vec<&[T]> = p.tensors.iter().map(Vec::as_slice).collect();
    if let Some(r) = &p.running {
        values.extend([r.mean.as_slice(), r.var.as_slice()]);
    }
    expected_shapes(node).into_iter().zip(values).map(|((n, s), v)| (n, s, v)).collect()
}

fn to_bytes<T: Scalar>(values: &[T]) -> Vec<u8> {
    if T::DTYPE == "F32" {
        values.iter().flat_map(|v| (v.to_f64() as f32).to_le_bytes()).collect()
    } else {
        values.iter().flat_map(|v| v.to_f64().to_le_bytes()).collect()
    }
}

fn read_values<T: Scalar>(view: &TensorView, key: &str, path: &Path) -> Result<Vec<T>> {
    let data = view.data();
    let values: Vec<T> = match view.dtype() {
        Dtype::F32 => {
            data.chunks_exact(4).map(|b| T::from_f64(f32::from_le_bytes(b.try_into().unwrap()) as f64)).collect()
        }
        Dtype::F64 => data.chunks_exact(8).map(|b| T::from_f64(f64::from_le_bytes(b.try_into().unwrap()))).collect(),
        other => {
            return Err(file_error(path, format!("tensor '{key}' has dtype {other:?}; only F32 and F64 are supported")))
        }
    };
    if let Some(index) = values.iter().position(|v| !v.is_finite()) {
        return Err(file_error(path, NetError::NonFinite { name: key.to_string(), index }));
    }
    Ok(values)
}
