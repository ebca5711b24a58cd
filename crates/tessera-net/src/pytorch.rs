//! Import of PyTorch `nn.Sequential` models: the state dict saved as safetensors (keys `0.weight`,
//! `0.bias`, `3.running_mean`, ...) plus the architecture as `print(model)` writes it, preceded
//! by a line `input: C,H,W` (or `input: D`). See docs/formats.md for the three lines of Python.

use crate::network::{GraphBuilder, NodeId};
use crate::op::{Activation, Op};
use crate::{NetError, Network, Result, Scalar};
use std::collections::HashMap;
use std::path::Path;

/// One parsed line `(index): Name(args)` of a printed `nn.Sequential`.
#[derive(Debug)]
struct Module {
    index: usize,
    kind: String,
    positional: Vec<String>,
    named: HashMap<String, String>,
}

/// Load a PyTorch `nn.Sequential` from its printed architecture and its state dict (safetensors).
pub fn load_sequential<T: Scalar>(architecture: &Path, weights: &Path) -> Result<Network<T>> {
    let text = std::fs::read_to_string(architecture)
        .map_err(|e| NetError::File { path: architecture.to_path_buf(), message: e.to_string() })?;
    let fail = |message: String| NetError::PrintedSequential { path: architecture.to_path_buf(), message };
    let (input_shape, modules) = parse_printed_sequential(&text).map_err(fail)?;
    let (mut net, keys) = build_sequential::<T>(&input_shape, &modules).map_err(|e| match e {
        NetError::Invalid(m) => fail(m),
        other => other,
    })?;
    let bytes =
        std::fs::read(weights).map_err(|e| NetError::File { path: weights.to_path_buf(), message: e.to_string() })?;
    net.load_weights(&bytes, weights, &keys)?;
    Ok(net)
}

/// Split `print(model)` text into the input shape and the module lines.
fn parse_printed_sequential(text: &str) -> std::result::Result<(Vec<usize>, Vec<Module>), String> {
    let mut input = None;
    let mut modules = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(shape) = line.strip_prefix("input:") {
            let dims: std::result::Result<Vec<usize>, _> =
                shape.split([',', 'x', ' ']).filter(|s| !s.is_empty()).map(str::parse).collect();
            input = Some(dims.map_err(|_| format!("line {}: cannot read input shape '{}'", n + 1, shape.trim()))?);
        } else if line.starts_with('(') {
            refuse_container(line).map_err(|m| format!("line {}: {m}", n + 1))?;
            modules.push(parse_module(line).map_err(|m| format!("line {}: {m}", n + 1))?);
        } else if !(line.is_empty() || line == ")" || line.starts_with("Sequential(")) {
            return Err(format!("line {}: unexpected text '{line}' (only a flat nn.Sequential is supported)", n + 1));
        }
    }
    let input = input.ok_or("missing the line 'input: C,H,W' (or 'input: D') giving the input shape")?;
    if modules.is_empty() {
        return Err("no modules found (expected lines like '(0): Linear(...)')".into());
    }
    Ok((input, modules))
}

/// A module line that opens a block (`(2): Sequential(`, `(0): BasicBlock(`) holds nested
/// modules, which a flat import cannot place: refuse it by index and name.
fn refuse_container(line: &str) -> std::result::Result<(), String> {
    let Some(head) = line.strip_suffix('(') else { return Ok(()) };
    let (index, kind) = head[1..].split_once("):").unwrap_or(("?", head));
    Err(format!(
        "module ({}) {} holds nested modules; only a flat nn.Sequential is supported: rebuild the \
         model as one nn.Sequential of its layers (or export it to ONNX, see docs/pytorch.md)",
        index.trim(),
        kind.trim()
    ))
}

fn parse_module(line: &str) -> std::result::Result<Module, String> {
    let (index, rest) = line[1..].split_once("):").ok_or("expected '(index): Module(...)'")?;
    let index = index.trim().parse().map_err(|_| format!("bad module index '{index}'"))?;
    let rest = rest.trim();
    let open = rest.find('(').ok_or("expected '(' after the module name")?;
    let kind = rest[..open].to_string();
    let body = rest[open + 1..].strip_suffix(')').ok_or("expected ')' at the end of the line")?;
    if body.contains(':') {
        return Err(format!("nested module '{kind}' is not supported; flatten it into one nn.Sequential"));
    }
    let (mut positional, mut named) = (Vec::new(), HashMap::new());
    for arg in split_top_level(body) {
        match arg.split_once('=') {
            Some((k, v)) => {
                named.insert(k.trim().to_string(), v.trim().to_string());
            }
            None => positional.push(arg.trim().to_string()),
        }
    }
    Ok(Module { index, kind, positional, named })
}

/// Split on commas that are not inside parentheses.
fn split_top_level(body: &str) -> Vec<String> {
    let (mut parts, mut depth, mut cur) = (Vec::new(), 0i32, String::new());
    for ch in body.chars() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    if !cur.trim().is_empty() {
        parts.push(cur);
    }
    parts
}

impl Module {
    /// Argument `name` (or positional `pos`), or `default`.
    fn arg(&self, name: &str, pos: Option<usize>) -> Option<&str> {
        self.named
            .get(name)
            .map(String::as_str)
            .or_else(|| pos.and_then(|p| self.positional.get(p)).map(String::as_str))
    }

    fn usize_arg(&self, name: &str, pos: Option<usize>) -> Result<usize> {
        let v = self.arg(name, pos).ok_or_else(|| self.error(format!("missing argument '{name}'")))?;
        v.parse().map_err(|_| self.error(format!("argument {name}={v} is not an integer")))
    }

    /// An int or an `(a, b)` pair, as PyTorch prints kernel sizes, strides and paddings.
    fn pair_arg(&self, name: &str, pos: Option<usize>, default: Option<[usize; 2]>) -> Result<[usize; 2]> {
        let Some(v) = self.arg(name, pos) else {
            return default.ok_or_else(|| self.error(format!("missing argument '{name}'")));
        };
        let nums: Vec<usize> = v
            .trim_matches(|c| c == '(' || c == ')')
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim().parse())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| self.error(format!("argument {name}={v} is not an integer or a pair")))?;
        match nums.as_slice() {
            [a] => Ok([*a, *a]),
            [a, b] => Ok([*a, *b]),
            _ => Err(self.error(format!("argument {name}={v} is not an integer or a pair"))),
        }
    }

    fn f64_arg(&self, name: &str, pos: Option<usize>, default: f64) -> Result<f64> {
        self.arg(name, pos)
            .map_or(Ok(default), |v| v.parse().map_err(|_| self.error(format!("argument {name}={v} is not a number"))))
    }

    fn flag(&self, name: &str, default: bool) -> bool {
        self.arg(name, None).map_or(default, |v| v == "True")
    }

    /// Refuse an argument whose value is not the only one the IR supports.
    fn require(&self, name: &str, supported: &[&str]) -> Result<()> {
        match self.arg(name, None) {
            Some(v) if !supported.contains(&v) => {
                Err(self.error(format!("{name}={v} is not supported (supported: {})", supported.join(" or "))))
            }
            _ => Ok(()),
        }
    }

    fn error(&self, message: String) -> NetError {
        NetError::Invalid(format!("module ({}) {}: {message}", self.index, self.kind))
    }
}

/// Build the network and the map from its parameter names to state-dict keys.
fn build_sequential<T: Scalar>(input: &[usize], modules: &[Module]) -> Result<(Network<T>, HashMap<String, String>)> {
    let mut b = GraphBuilder::new(input);
    let mut keys = HashMap::new();
    let mut last: NodeId = 0;
    let mut channels = *input.first().unwrap_or(&0);
    for m in modules {
        let op = match m.kind.as_str() {
            "Linear" => Some(Op::Dense {
                in_features: m.usize_arg("in_features", Some(0))?,
                out_features: m.usize_arg("out_features", Some(1))?,
                bias: m.flag("bias", true),
            }),
            "Conv2d" => {
                m.require("dilation", &["1", "(1, 1)"])?;
                m.require("padding_mode", &["zeros", "'zeros'"])?;
                Some(Op::Conv2d {
                    in_channels: m.usize_arg("in_channels", Some(0))?,
                    out_channels: m.usize_arg("out_channels", Some(1))?,
                    kernel: m.pair_arg("kernel_size", Some(2), None)?,
                    stride: m.pair_arg("stride", Some(3), Some([1, 1]))?,
                    padding: m.pair_arg("padding", Some(4), Some([0, 0]))?,
                    bias: m.flag("bias", true),
                    groups: m.arg("groups", None).map_or(Ok(1), |_| m.usize_arg("groups", None))?,
                })
            }
            "MaxPool2d" | "AvgPool2d" => {
                m.require("dilation", &["1", "(1, 1)"])?;
                m.require("ceil_mode", &["False", "True"])?;
                m.require("count_include_pad", &["True"])?;
                let kernel = m.pair_arg("kernel_size", Some(0), None)?;
                let stride = m.pair_arg("stride", Some(1), Some(kernel))?;
                let padding = m.pair_arg("padding", Some(2), Some([0, 0]))?;
                let ceil_mode = m.flag("ceil_mode", false);
                Some(if m.kind == "MaxPool2d" {
                    Op::MaxPool2d { kernel, stride, padding, ceil_mode }
                } else {
                    Op::AvgPool2d { kernel, stride, padding, ceil_mode }
                })
            }
            "BatchNorm1d" | "BatchNorm2d" => {
                m.require("affine", &["True"])?;
                m.require("track_running_stats", &["True"])?;
                Some(Op::BatchNorm {
                    channels: m.usize_arg("num_features", Some(0))?,
                    eps: m.f64_arg("eps", None, 1e-5)?,
                    momentum: m.f64_arg("momentum", None, 0.1)?,
                })
            }
            "ReLU" => Some(Op::Activation { activation: Activation::Relu }),
            "LeakyReLU" => Some(Op::Activation {
                activation: Activation::LeakyRelu { slope: m.f64_arg("negative_slope", Some(0), 0.01)? },
            }),
            "ReLU6" => Some(Op::Activation { activation: Activation::RELU6 }),
            "ChannelShuffle" => Some(Op::ChannelShuffle { groups: m.usize_arg("groups", Some(0))? }),
            "Hardtanh" => Some(Op::Activation {
                activation: Activation::Clamp {
                    lo: m.f64_arg("min_val", Some(0), -1.0)?,
                    hi: m.f64_arg("max_val", Some(1), 1.0)?,
                },
            }),
            "Flatten" => Some(Op::Flatten),
            "Identity" | "Dropout" | "Dropout2d" => None,
            other => {
                return Err(m.error(format!(
                    "unknown or unsupported module '{other}' (supported: Linear, Conv2d, MaxPool2d, AvgPool2d, \
                     BatchNorm1d/2d, ReLU, LeakyReLU, ReLU6, Hardtanh, ChannelShuffle, Flatten, Identity, Dropout)"
                )))
            }
        };
        let Some(op) = op else { continue };
        if let Op::Conv2d { in_channels, .. } = op {
            if in_channels != channels {
                return Err(
                    m.error(format!("expects {in_channels} input channels, the previous layer gives {channels}"))
                );
            }
        }
        if let Op::Conv2d { out_channels, .. } = op {
            channels = out_channels;
        }
        let name_base = m.kind.to_lowercase();
        let params: Vec<&str> = op.param_names().to_vec();
        let is_bn = matches!(op, Op::BatchNorm { .. });
        last = b.push(&name_base, op, &[last]);
        let node_name = format!("{name_base}{last}");
        let buffers: &[&str] = if is_bn { &["running_mean", "running_var"] } else { &[] };
        for p in params.iter().chain(buffers) {
            keys.insert(format!("{node_name}.{p}"), format!("{}.{p}", m.index));
        }
    }
    Ok((b.build()?, keys))
}
