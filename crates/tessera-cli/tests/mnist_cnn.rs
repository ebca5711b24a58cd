//! The small MNIST CNN a new user brings from PyTorch (conv, batch norm, ReLU, max pooling,
//! dense; `tests/fixtures/make_mnist_cnn.py` exports it as docs/pytorch.md shows): it imports
//! with PyTorch's outputs, and the long commands on it talk and stop cleanly on Ctrl-C.

mod common;

use common::{fixture, interrupt_after_first_progress_line, shared_data, tessera};
use std::time::Duration;
use tessera_net::{Mode, Tensor};

/// The inputs and PyTorch's float32 outputs recorded by the generator.
struct Record {
    input_shape: Vec<usize>,
    input: Vec<f64>,
    output: Vec<f64>,
}

fn record() -> Record {
    let text = std::fs::read_to_string(fixture("mnist_cnn.json")).expect("read the record");
    let json: serde_json::Value = serde_json::from_str(&text).expect("the record is JSON");
    let numbers = |key: &str| -> Vec<f64> {
        json[key].as_array().expect(key).iter().map(|v| v.as_f64().expect("a number")).collect()
    };
    let input_shape = numbers("input_shape").iter().map(|&v| v as usize).collect();
    Record { input_shape, input: numbers("input"), output: numbers("output") }
}

#[test]
fn imported_outputs_equal_pytorchs_recorded_outputs_within_1e_5_relative() {
    let (net, _) = tessera_onnx::import_onnx::<f64>(&fixture("mnist_cnn.onnx")).expect("import the CNN");
    let record = record();
    let x = Tensor::from_vec(&record.input_shape[1..], record.input.clone()).expect("the recorded batch");
    let y = net.forward(&x, Mode::Eval).expect("forward").data;
    assert_eq!(y.len(), record.output.len());
    let scale = record.output.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    for (k, (got, want)) in y.iter().zip(&record.output).enumerate() {
        assert!((got - want).abs() <= 1e-5 * scale, "logit {k}: tessera {got}, PyTorch {want} (scale {scale})");
    }
    assert!(net.nodes().len() > 6, "conv, ReLU, max pool, dense: {} nodes", net.nodes().len());
}

#[test]
#[cfg(unix)]
fn slice_with_default_flags_reports_progress_and_finishes_or_stops_with_a_clear_message() {
    let Some(data) = shared_data() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s.png");
    let mut command = tessera();
    command.args(["slice", "--model"]).arg(fixture("mnist_cnn.onnx"));
    command.args(["--through", "0,1,2", "--dataset", "mnist:train", "--out"]).arg(&out).arg("--data-dir").arg(&data);
    let run = interrupt_after_first_progress_line(command, "slice: ", Duration::from_secs(60));
    // Finished, stopped by Ctrl-C, or stopped by the default region limit (which memory sets;
    // on this slice the first ReLU alone makes more regions than 2 GiB plans for).
    if run.success {
        assert!(out.exists(), "a finished slice writes its picture:\n{}", run.stderr);
    } else {
        let interrupted =
            run.stderr.contains("slice interrupted (Ctrl-C) after") && run.stderr.contains("nothing written");
        let limited = run.stderr.contains("raise --max-regions or shrink --padding");
        assert!(interrupted || limited, "{}", run.stderr);
        assert!(!out.exists(), "{}", run.stderr);
    }
    assert!(run.stderr.contains("regions"), "progress names the regions so far:\n{}", run.stderr);
}

#[test]
#[cfg(unix)]
fn count_at_p_25_reports_progress_within_seconds_and_stops_cleanly_on_ctrl_c() {
    let Some(data) = shared_data() else { return };
    let mut command = tessera();
    command.args(["count", "--model"]).arg(fixture("mnist_cnn.onnx"));
    command.args(["--point", "0", "--dataset", "mnist:test", "--radius", "0.01", "--p", "25", "--data-dir"]).arg(data);
    let run = interrupt_after_first_progress_line(command, "count: ", Duration::from_secs(60));
    assert!(run.first_line_after < 10.0, "first progress line after {} s", run.first_line_after);
    assert!(run.stderr.contains("kinked layer"), "{}", run.stderr);
    assert!(!run.success && run.stderr.contains("count interrupted (Ctrl-C) after"), "{}", run.stderr);
}
