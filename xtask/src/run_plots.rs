//! A finished run's standard pictures (accuracy, adversarial accuracy and LC curves against
//! steps: `tessera_plot::run_charts`, shared with `tessera lc --checkpoints`) and its metrics as
//! curves and as one CSV table, read through `tessera_train::MetricsTable`.

use crate::checks::Curve;
use std::path::Path;
use tessera_plot::run_charts::metric_points;
pub use tessera_plot::run_charts::{accuracy_chart, lc_chart, step_chart};
use tessera_train::MetricsTable;

/// Draw accuracy (and PGD accuracy) and LC curves of a run into `out` (`.png` or `.svg`).
pub fn plot_run(metrics: &MetricsTable, title: &str, markers: &[f64], out: &Path) -> anyhow::Result<()> {
    Ok(tessera_plot::run_charts::plot_run(metrics, title, markers, out)?)
}

/// Metric `name` as a curve (empty if the run did not record it).
pub fn curve(metrics: &MetricsTable, name: &str) -> Curve {
    Curve::new(metric_points(metrics, name))
}

/// Every metric of a run as one wide CSV table (step, then the metrics in name order).
pub fn metrics_csv(metrics: &MetricsTable) -> String {
    let names: Vec<&str> = metrics.names().collect();
    let mut text = format!("step,{}\n", names.join(","));
    for (i, step) in metrics.steps().iter().enumerate() {
        let row: Vec<String> = names.iter().map(|n| metrics.column(n).expect("listed")[i].to_string()).collect();
        text.push_str(&format!("{step},{}\n", row.join(",")));
    }
    text
}
