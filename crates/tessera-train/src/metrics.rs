//! The metrics files of a run: `metrics.jsonl` (one JSON object per evaluation step) and
//! `metrics.csv` (the same rows; the header is the first row's keys). Values are written in
//! the shortest form that reads back to the same `f64`; NaN is `null` in JSON and `NaN` in CSV.
//! Nothing time-dependent goes here (timings have their own file), so equal runs give
//! byte-identical metrics files. `MetricsTable` reads them back (from the JSON lines, through
//! serde), for whoever analyses a finished run.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use crate::error::{Result, TrainError};
use crate::evaluate::Metrics;

/// File name of the metrics log, one JSON object per evaluation step.
pub const METRICS_JSONL: &str = "metrics.jsonl";
/// File name of the same metrics as a CSV table.
pub const METRICS_CSV: &str = "metrics.csv";

/// Appends rows to both metrics files.
pub struct MetricsLog {
    jsonl: PathBuf,
    csv: PathBuf,
    columns: Option<Vec<String>>,
}

impl MetricsLog {
    /// The log of `run_dir`, keeping only the rows of steps before `keep_before` (all rows when
    /// `None`); rows past a resumed checkpoint are dropped so they are recomputed identically.
    pub fn open(run_dir: &Path, keep_before: Option<u64>) -> Result<Self> {
        let jsonl = run_dir.join(METRICS_JSONL);
        let csv = run_dir.join(METRICS_CSV);
        let mut columns = None;
        if jsonl.exists() {
            let kept = rows_before(&jsonl, keep_before)?;
            truncate_lines(&jsonl, kept)?;
            if csv.exists() {
                truncate_lines(&csv, kept + 1)?;
                columns = read_header(&csv)?;
            }
            if kept == 0 {
                std::fs::write(&csv, "").map_err(|e| TrainError::file(&csv, e))?;
                columns = None;
            }
        }
        Ok(Self { jsonl, csv, columns })
    }

    /// Record the metrics of `step`. The first row fixes the CSV columns; later rows must have
    /// the same keys in the same order.
    pub fn append(&mut self, step: u64, metrics: &Metrics) -> Result<()> {
        let keys: Vec<String> =
            std::iter::once("step".to_string()).chain(metrics.iter().map(|(k, _)| k.clone())).collect();
        match &self.columns {
            None => {
                append_line(&self.csv, &keys.join(","))?;
                self.columns = Some(keys);
            }
            Some(cols) if *cols != keys => {
                return Err(TrainError::file(
                    &self.csv,
                    format!("step {step}: metrics columns changed from {cols:?} to {keys:?}"),
                ))
            }
            Some(_) => {}
        }
        let json_fields: Vec<String> = std::iter::once(format!("\"step\":{step}"))
            .chain(metrics.iter().map(|(k, v)| format!("{}:{}", json_string(k), json_number(*v))))
            .collect();
        append_line(&self.jsonl, &format!("{{{}}}", json_fields.join(",")))?;
        let csv_fields: Vec<String> =
            std::iter::once(step.to_string()).chain(metrics.iter().map(|(_, v)| csv_number(*v))).collect();
        append_line(&self.csv, &csv_fields.join(","))
    }
}

/// One row of `metrics.jsonl` as written by `MetricsLog::append`.
#[derive(serde::Deserialize)]
struct Row {
    step: u64,
    /// Every other key; `null` stands for a value that was not finite.
    #[serde(flatten)]
    values: BTreeMap<String, Option<f64>>,
}

/// A run's metrics read back: the evaluation steps and, per metric, one value per step
/// (NaN where the run recorded a non-finite value).
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsTable {
    steps: Vec<u64>,
    columns: BTreeMap<String, Vec<f64>>,
}

impl MetricsTable {
    /// Read `run_dir/metrics.jsonl`. A line that is not a JSON object of numbers, a row whose
    /// keys differ from the first row's, or a file without rows is an error naming the file and
    /// the row.
    pub fn read(run_dir: &Path) -> Result<Self> {
        let path = run_dir.join(METRICS_JSONL);
        let text = std::fs::read_to_string(&path).map_err(|e| TrainError::file(&path, e))?;
        Self::parse(&text).map_err(|message| TrainError::file(&path, message))
    }

    fn parse(text: &str) -> std::result::Result<Self, String> {
        let mut steps = Vec::new();
        let mut columns: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for (index, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let row: Row = serde_json::from_str(line).map_err(|e| format!("row {}: {e}", index + 1))?;
            if steps.is_empty() {
                columns = row.values.keys().map(|k| (k.clone(), Vec::new())).collect();
            } else if !row.values.keys().eq(columns.keys()) {
                return Err(format!("row {} (step {}) has other metrics than the first row", index + 1, row.step));
            }
            for (key, value) in row.values {
                columns.get_mut(&key).expect("keys checked above").push(value.unwrap_or(f64::NAN));
            }
            steps.push(row.step);
        }
        if steps.is_empty() {
            return Err("no metric rows".into());
        }
        Ok(Self { steps, columns })
    }

    /// The evaluation steps, in order.
    pub fn steps(&self) -> &[u64] {
        &self.steps
    }

    /// The values of metric `name`, one per step; `None` if the run did not record it.
    pub fn column(&self, name: &str) -> Option<&[f64]> {
        self.columns.get(name).map(Vec::as_slice)
    }

    /// The names of the recorded metrics, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.columns.keys().map(String::as_str)
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("strings always serialize")
}

fn json_number(v: f64) -> String {
    if v.is_finite() {
        format!("{v:?}")
    } else {
        "null".into()
    }
}

fn csv_number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else {
        format!("{v:?}")
    }
}

fn append_line(path: &Path, line: &str) -> Result<()> {
    let mut f = OpenOptions::new().create(true).append(true).open(path).map_err(|e| TrainError::file(path, e))?;
    writeln!(f, "{line}").map_err(|e| TrainError::file(path, e))
}

/// How many leading rows of a JSON-lines file have `step < keep_before`.
fn rows_before(path: &Path, keep_before: Option<u64>) -> Result<usize> {
    let file = File::open(path).map_err(|e| TrainError::file(path, e))?;
    let mut kept = 0;
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|e| TrainError::file(path, e))?;
        if line.trim().is_empty() {
            break;
        }
        let row: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| TrainError::file(path, format!("row {}: {e}", kept + 1)))?;
        let step = row.get("step").and_then(|s| s.as_u64());
        match (step, keep_before) {
            (None, _) => return Err(TrainError::file(path, format!("row {} has no step", kept + 1))),
            (Some(s), Some(limit)) if s >= limit => break,
            _ => kept += 1,
        }
    }
    Ok(kept)
}

/// Keep the first `lines` lines of a text file.
fn truncate_lines(path: &Path, lines: usize) -> Result<()> {
    let text = std::fs::read_to_string(path).map_err(|e| TrainError::file(path, e))?;
    let kept: String = text.split_inclusive('\n').take(lines).collect();
    std::fs::write(path, kept).map_err(|e| TrainError::file(path, e))
}

fn read_header(path: &Path) -> Result<Option<Vec<String>>> {
    let text = std::fs::read_to_string(path).map_err(|e| TrainError::file(path, e))?;
    Ok(text.lines().next().filter(|l| !l.is_empty()).map(|l| l.split(',').map(str::to_string).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(v: f64) -> Metrics {
        vec![("loss".into(), v), ("acc".into(), f64::NAN)]
    }

    #[test]
    fn rows_are_written_and_truncated_on_resume() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = MetricsLog::open(dir.path(), None).unwrap();
        for step in [0, 1, 5] {
            log.append(step, &row(0.1 * step as f64)).unwrap();
        }
        let csv = std::fs::read_to_string(dir.path().join(METRICS_CSV)).unwrap();
        assert_eq!(csv, "step,loss,acc\n0,0.0,NaN\n1,0.1,NaN\n5,0.5,NaN\n");
        let jsonl = std::fs::read_to_string(dir.path().join(METRICS_JSONL)).unwrap();
        assert_eq!(jsonl.lines().nth(1).unwrap(), "{\"step\":1,\"loss\":0.1,\"acc\":null}");

        let mut resumed = MetricsLog::open(dir.path(), Some(5)).unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join(METRICS_CSV)).unwrap().lines().count(), 3);
        resumed.append(5, &row(0.5)).unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join(METRICS_CSV)).unwrap(), csv);
        assert!(resumed.append(6, &vec![("other".into(), 1.0)]).is_err());
    }

    #[test]
    fn table_reads_back_what_the_log_wrote_with_nan_for_null() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = MetricsLog::open(dir.path(), None).unwrap();
        for step in [0, 3] {
            log.append(step, &row(0.25 * step as f64)).unwrap();
        }
        let table = MetricsTable::read(dir.path()).unwrap();
        assert_eq!(table.steps(), &[0, 3]);
        assert_eq!(table.column("loss").unwrap(), &[0.0, 0.75]);
        assert!(table.column("acc").unwrap().iter().all(|v| v.is_nan()));
        assert_eq!(table.names().collect::<Vec<_>>(), ["acc", "loss"]);
        assert!(table.column("step").is_none());
    }

    #[test]
    fn table_rejects_bad_cells_changed_columns_and_empty_files_naming_the_row() {
        let bad_cell = MetricsTable::parse("{\"step\":0,\"loss\":1.0}\n{\"step\":1,\"loss\":\"x\"}\n").unwrap_err();
        assert!(bad_cell.starts_with("row 2:"), "{bad_cell}");
        let changed = MetricsTable::parse("{\"step\":0,\"loss\":1.0}\n{\"step\":1,\"acc\":1.0}\n").unwrap_err();
        assert!(changed.contains("row 2 (step 1) has other metrics"), "{changed}");
        assert_eq!(MetricsTable::parse("\n").unwrap_err(), "no metric rows");
        let dir = tempfile::tempdir().unwrap();
        let missing = MetricsTable::read(dir.path()).unwrap_err().to_string();
        assert!(missing.contains(METRICS_JSONL), "{missing}");
    }
}
