//! Whole torchvision classifiers (64 x 64 input, random weights) import and give, per layer and
//! point, the LC that a hook-based PyTorch computation gives on the same points and frame.
//!
//! The exported models are megabytes each, so they are not committed: this test is ignored and
//! reads what `bench/torchvision_zoo.py --record NAME` wrote (NAME.onnx and NAME.lc.json, the
//! points, the frame, the radius and PyTorch's counts) to the folder named by
//! `TESSERA_TORCHVISION_DIR`:
//!
//! ```sh
//! python3 bench/torchvision_zoo.py --out /tmp/tv --models squeezenet1_1,shufflenet_v2_x0_5 \
//!     --record squeezenet1_1 --record shufflenet_v2_x0_5
//! TESSERA_TORCHVISION_DIR=/tmp/tv cargo test -p tessera-onnx --test torchvision_zoo -- --ignored
//! ```

use serde::Deserialize;
use std::path::PathBuf;
use tessera_lc::{Directions, Frame, LcOptions, LocalComplexity};

/// What the script records next to each model.
#[derive(Deserialize)]
struct Recorded {
    points: Vec<f64>,
    frame: Vec<f64>,
    radius: f64,
    /// PyTorch's counts: per point, per activation call.
    per_layer: Vec<Vec<u32>>,
}

#[test]
#[ignore = "needs models exported by bench/torchvision_zoo.py --record (TESSERA_TORCHVISION_DIR)"]
fn torchvision_classifiers_give_the_lc_of_pytorch_hooks() {
    let dir = PathBuf::from(std::env::var("TESSERA_TORCHVISION_DIR").expect("TESSERA_TORCHVISION_DIR is not set"));
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("the folder of recorded models") {
        let path = entry.expect("folder entry").path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".lc.json")) else {
            continue;
        };
        let recorded: Recorded =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read the record")).expect("parse the record");
        let (net, _) = tessera_onnx::import_onnx::<f64>(&dir.join(format!("{name}.onnx")))
            .unwrap_or_else(|e| panic!("{name} imports: {e}"));
        let frame = Frame::from_rows(recorded.frame, net.input_width(), name).expect("frame");
        let options = LcOptions::new(Directions::Shared(frame), vec![recorded.radius]);
        let counts = LocalComplexity::new(&net, options).expect("lc").count_points(&recorded.points).expect("count");
        let got: Vec<&[u32]> = counts.iter().map(|c| c.per_layer.as_slice()).collect();
        let want: Vec<&[u32]> = recorded.per_layer.iter().map(Vec::as_slice).collect();
        assert_eq!(got, want, "{name}: LC per layer and point, tessera vs PyTorch hooks");
        checked.push(name.to_string());
    }
    assert!(!checked.is_empty(), "no NAME.lc.json in {}", dir.display());
    eprintln!("checked {}", checked.join(", "));
}
