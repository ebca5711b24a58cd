//! Damaged run configs are errors naming the file, never panics: the paper's MNIST config is
//! truncated and has bytes overwritten at random, including bytes that make it invalid UTF-8.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use tessera_train::{RunConfig, TrainError};

fn paper_config() -> (PathBuf, Vec<u8>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/mnist_mlp_init1.toml");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (path, bytes)
}

/// Writes `bytes` as a config file and loads it.
fn load_bytes(bytes: &[u8]) -> (tempfile::TempDir, Result<RunConfig, TrainError>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.toml");
    std::fs::write(&path, bytes).unwrap();
    let result = RunConfig::load(&path, &[]);
    (dir, result)
}

#[test]
fn the_intact_paper_config_loads() {
    let (path, _) = paper_config();
    let config = RunConfig::load(&path, &[]).unwrap();
    assert_eq!(config.model.hidden, vec![200, 200, 200]);
}

#[test]
fn invalid_utf8_and_bad_toml_are_config_errors_naming_the_file() {
    for bytes in [&b"seed = 1\n\xff\xfe[data]\n"[..], b"[model\nhidden = [1"] {
        let (_dir, result) = load_bytes(bytes);
        let err = result.unwrap_err();
        assert!(matches!(err, TrainError::File { .. } | TrainError::Config { .. }), "{err}");
        assert!(err.to_string().contains("damaged.toml"), "{err}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn truncated_or_overwritten_configs_load_or_fail_naming_the_file(
        cut in 0.0f64..=1.0,
        edits in proptest::collection::vec((0.0f64..1.0, any::<u8>()), 0..4),
    ) {
        let (_, mut bytes) = paper_config();
        bytes.truncate((cut * bytes.len() as f64) as usize);
        let len = bytes.len();
        for (at, value) in edits {
            if len > 0 {
                bytes[((at * len as f64) as usize).min(len - 1)] = value;
            }
        }
        let (_dir, result) = load_bytes(&bytes);
        if let Err(e) = result {
            prop_assert!(e.to_string().contains("damaged.toml"), "error without the file name: {e}");
        }
    }
}
