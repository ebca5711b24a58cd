//! A run's standard charts, from its metrics as `tessera_train::MetricsTable` reads them back:
//! accuracy (and PGD accuracy) and, per radius, the LC of every measured point set against
//! training steps. The same charts serve a `tessera train` run (`cargo xtask plot-run`, the
//! figures) and a folder of checkpoints measured by `tessera lc --checkpoints`, whose metrics have
//! the same columns: `lc_{SET}_r{R}_mean` and `_ci99`.

use crate::curves::{draw_charts, Chart, Series, RANDOM, TEST, TRAIN};
use crate::error::Result;
use std::path::Path;
use tessera_train::MetricsTable;

/// Metric `name` as `(step, value)` points (none if the table does not have it).
pub fn metric_points(metrics: &MetricsTable, name: &str) -> Vec<(f64, f64)> {
    let Some(values) = metrics.column(name) else { return Vec::new() };
    metrics.steps().iter().zip(values).map(|(&s, &v)| (s as f64, v)).collect()
}

/// Steps on a log axis start at 1: step 0 is drawn at 1 (as the paper's plots do).
fn on_log_axis(points: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    points.into_iter().map(|(s, v)| (s.max(1.0), v)).collect()
}

/// The `(set, radius)` pairs of the LC columns `lc_{SET}_r{R}_mean`, the radius as written.
/// Per-layer columns (`lc_{SET}_r{R}_layer_k_mean`) are not pairs: their R does not parse.
fn lc_columns(metrics: &MetricsTable) -> Vec<(String, String)> {
    metrics
        .names()
        .filter_map(|name| {
            let (set, radius) = name.strip_prefix("lc_")?.strip_suffix("_mean")?.rsplit_once("_r")?;
            radius.parse::<f64>().ok()?;
            Some((set.to_string(), radius.to_string()))
        })
        .collect()
}

/// The radii of the table's LC columns, smallest first.
fn radii(metrics: &MetricsTable) -> Vec<String> {
    let mut radii: Vec<String> = lc_columns(metrics).into_iter().map(|(_, r)| r).collect();
    radii.sort_by(|a, b| a.parse::<f64>().unwrap_or(f64::NAN).total_cmp(&b.parse().unwrap_or(f64::NAN)));
    radii.dedup();
    radii
}

/// The point sets measured at radius `r`: train, test and random first (the paper's colours),
/// then any other set in name order.
fn sets_at(metrics: &MetricsTable, r: &str) -> Vec<String> {
    let mut sets: Vec<String> =
        lc_columns(metrics).into_iter().filter(|(_, radius)| radius == r).map(|(s, _)| s).collect();
    let rank = |set: &str| ["train", "test", "random"].iter().position(|&s| s == set).unwrap_or(3);
    sets.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    sets
}

/// A log-step chart with `markers` (dashed vertical lines at steps).
pub fn step_chart(title: String, y_label: &str, markers: &[f64]) -> Chart {
    Chart {
        title,
        x_label: "step".into(),
        y_label: y_label.into(),
        log_x: true,
        markers: markers.to_vec(),
        ..Chart::default()
    }
}

/// "TITLE: PANEL", or just "PANEL" without a title.
fn panel_title(title: &str, panel: &str) -> String {
    if title.is_empty() {
        panel.to_string()
    } else {
        format!("{title}: {panel}")
    }
}

/// The LC chart of every point set measured at radius `r` (train green, test orange, random
/// blue, others in the palette's order), with 99 % CI bands.
pub fn lc_chart(metrics: &MetricsTable, title: &str, r: &str, markers: &[f64]) -> Chart {
    let mut chart = step_chart(panel_title(title, &format!("LC, r = {r}")), "local complexity", markers);
    for set in sets_at(metrics, r) {
        let mean = metric_points(metrics, &format!("lc_{set}_r{r}_mean"));
        let ci = metric_points(metrics, &format!("lc_{set}_r{r}_ci99"));
        let band = mean.iter().zip(&ci).map(|(m, c)| (m.1 - c.1, m.1 + c.1)).collect();
        let color = match set.as_str() {
            "train" => Some(TRAIN),
            "test" => Some(TEST),
            "random" => Some(RANDOM),
            _ => None,
        };
        chart.series.push(Series { color, ..Series::new(set, on_log_axis(mean)).with_band(band) });
    }
    chart
}

/// Draw accuracy (and PGD accuracy) and LC curves of a run into `out` (`.png` or `.svg`): one
/// LC chart per radius, and the accuracy chart first unless nothing in the table is an
/// accuracy (a folder of checkpoints measured by `tessera lc` has LC only).
pub fn plot_run(metrics: &MetricsTable, title: &str, markers: &[f64], out: &Path) -> Result<()> {
    let accuracy = accuracy_chart(metrics, title, markers);
    let mut charts: Vec<Chart> = (!accuracy.series.is_empty()).then_some(accuracy).into_iter().collect();
    charts.extend(radii(metrics).iter().map(|r| lc_chart(metrics, title, r, markers)));
    let columns = charts.len();
    draw_charts(&charts, columns, out)
}

/// The chart of train and test accuracy and every recorded PGD accuracy, with `markers`.
pub fn accuracy_chart(metrics: &MetricsTable, title: &str, markers: &[f64]) -> Chart {
    let mut acc = step_chart(panel_title(title, "accuracy"), "accuracy", markers);
    for (name, label, color) in [("train_acc", "train", TRAIN), ("test_acc", "test", TEST)] {
        let points = metric_points(metrics, name);
        if !points.is_empty() {
            acc.series.push(Series::new(label, on_log_axis(points)).with_color(color));
        }
    }
    // Adversarial curves in reds and purples, apart from the train/test colours.
    const ADVERSARIAL: [(u8, u8, u8); 4] = [(214, 39, 40), (148, 103, 189), (140, 86, 75), (227, 119, 194)];
    for (k, name) in metrics.names().filter(|h| h.starts_with("pgd_acc_eps")).enumerate() {
        let eps = name.trim_start_matches("pgd_acc_eps");
        let series = Series::new(format!("PGD ε={eps}"), on_log_axis(metric_points(metrics, name)));
        acc.series.push(series.with_color(ADVERSARIAL[k % ADVERSARIAL.len()]).dashed());
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table of `columns`, each with the values `values` at steps 0, 10, 100.
    fn table(columns: &[&str]) -> MetricsTable {
        let rows: String = [0, 10, 100]
            .iter()
            .map(|step| {
                let cells: Vec<String> = columns.iter().map(|c| format!("\"{c}\":{}", step + 1)).collect();
                format!("{{\"step\":{step},{}}}\n", cells.join(","))
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(tessera_train::metrics::METRICS_JSONL), rows).unwrap();
        MetricsTable::read(dir.path()).unwrap()
    }

    #[test]
    fn without_a_title_a_panel_is_named_alone() {
        assert_eq!(panel_title("", "accuracy"), "accuracy");
        assert_eq!(panel_title("init 8", "LC, r = 0.05"), "init 8: LC, r = 0.05");
    }

    #[test]
    fn radii_come_from_every_set_in_numeric_order_and_per_layer_columns_are_not_sets() {
        let metrics = table(&[
            "lc_test_r10_mean",
            "lc_test_r2_mean",
            "lc_test_r2_ci99",
            "lc_test_r2_layer_1_mean",
            "lc_my_run_r2_mean",
            "lc_random_r2_mean",
            "lc_train_r2_mean",
            "train_acc",
        ]);
        assert_eq!(radii(&metrics), ["2", "10"]);
        assert_eq!(sets_at(&metrics, "2"), ["train", "test", "random", "my_run"]);
        let chart = lc_chart(&metrics, "", "2", &[]);
        let labels: Vec<&str> = chart.series.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["train", "test", "random", "my_run"]);
        // Step 0 is drawn at 1 on the log axis; the band is mean ± ci99.
        let test = &chart.series[1];
        assert_eq!(test.points, [(1.0, 1.0), (10.0, 11.0), (100.0, 101.0)]);
        assert_eq!(test.band.as_ref().unwrap()[1], (0.0, 22.0));
    }

    #[test]
    fn a_table_without_accuracy_is_drawn_as_lc_charts_only() {
        let metrics = table(&["lc_test_r0.5_mean", "lc_test_r0.5_ci99"]);
        assert!(accuracy_chart(&metrics, "", &[]).series.is_empty());
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("lc.svg");
        plot_run(&metrics, "run", &[], &out).unwrap();
        let svg = std::fs::read_to_string(out).unwrap();
        assert!(svg.contains("LC, r = 0.5") && !svg.contains("accuracy"), "an LC chart only");
    }
}
