//! A finished run's standard pictures (accuracy, adversarial accuracy and LC curves against
//! steps) and its metrics as curves, read through `tessera_train::MetricsTable`.

use crate::checks::Curve;
use std::path::Path;
use tessera_plot::curves::{draw_charts, Chart, Series, RANDOM, TEST, TRAIN};
use tessera_train::MetricsTable;

/// Metric `name` as a curve (empty if the run did not record it).
pub fn curve(metrics: &MetricsTable, name: &str) -> Curve {
    let Some(values) = metrics.column(name) else { return Curve::default() };
    Curve::new(metrics.steps().iter().zip(values).map(|(&s, &v)| (s as f64, v)).collect())
}

/// Steps on a log axis start at 1: step 0 is drawn at 1 (as the paper's plots do).
fn on_log_axis(curve: Curve) -> Vec<(f64, f64)> {
    curve.points.into_iter().map(|(s, v)| (s.max(1.0), v)).collect()
}

/// Radii of the run's LC columns, as written in their names.
fn radii(metrics: &MetricsTable) -> Vec<String> {
    metrics
        .names()
        .filter_map(|h| h.strip_prefix("lc_train_r")?.strip_suffix("_mean"))
        .filter(|r| !r.contains('_'))
        .map(str::to_string)
        .collect()
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

/// The LC chart of train, test and random points at radius `r`, with 99 % CI bands.
pub fn lc_chart(metrics: &MetricsTable, title: &str, r: &str, markers: &[f64]) -> Chart {
    let mut chart = step_chart(panel_title(title, &format!("LC, r = {r}")), "local complexity", markers);
    for (set, color) in [("train", TRAIN), ("test", TEST), ("random", RANDOM)] {
        let mean = curve(metrics, &format!("lc_{set}_r{r}_mean"));
        let ci = curve(metrics, &format!("lc_{set}_r{r}_ci99"));
        if mean.points.is_empty() {
            continue;
        }
        let band = mean.points.iter().zip(&ci.points).map(|(m, c)| (m.1 - c.1, m.1 + c.1)).collect();
        chart.series.push(Series::new(set, on_log_axis(mean)).with_band(band).with_color(color));
    }
    chart
}

/// Draw accuracy (and PGD accuracy) and LC curves of a run into `out` (`.png` or `.svg`).
pub fn plot_run(metrics: &MetricsTable, title: &str, markers: &[f64], out: &Path) -> anyhow::Result<()> {
    let mut charts = vec![accuracy_chart(metrics, title, markers)];
    charts.extend(radii(metrics).iter().map(|r| lc_chart(metrics, title, r, markers)));
    let columns = charts.len();
    draw_charts(&charts, columns, out)?;
    Ok(())
}

/// The chart of train and test accuracy and every recorded PGD accuracy, with `markers`.
pub fn accuracy_chart(metrics: &MetricsTable, title: &str, markers: &[f64]) -> Chart {
    let mut acc = step_chart(panel_title(title, "accuracy"), "accuracy", markers);
    for (name, label, color) in [("train_acc", "train", TRAIN), ("test_acc", "test", TEST)] {
        let c = curve(metrics, name);
        if !c.points.is_empty() {
            acc.series.push(Series::new(label, on_log_axis(c)).with_color(color));
        }
    }
    // Adversarial curves in reds and purples, apart from the train/test colours.
    const ADVERSARIAL: [(u8, u8, u8); 4] = [(214, 39, 40), (148, 103, 189), (140, 86, 75), (227, 119, 194)];
    for (k, name) in metrics.names().filter(|h| h.starts_with("pgd_acc_eps")).enumerate() {
        let eps = name.trim_start_matches("pgd_acc_eps");
        let series = Series::new(format!("PGD ε={eps}"), on_log_axis(curve(metrics, name)));
        acc.series.push(series.with_color(ADVERSARIAL[k % ADVERSARIAL.len()]).dashed());
    }
    acc
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

#[cfg(test)]
mod panel_title_tests {
    use super::panel_title;

    #[test]
    fn without_a_title_a_panel_is_named_alone() {
        assert_eq!(panel_title("", "accuracy"), "accuracy");
        assert_eq!(panel_title("init 8", "LC, r = 0.05"), "init 8: LC, r = 0.05");
    }
}
