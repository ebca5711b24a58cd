//! A training run's metrics table (the `metrics.csv` tessera-train writes), its standard
//! pictures, and the shape checks the paper's phenomena call for.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use tessera_plot::curves::{draw_charts, Chart, Series, RANDOM, TEST, TRAIN};

/// (step, value) pairs, or (step, (low, high)) for bands.
pub type Curve = Vec<(f64, f64)>;

/// The numeric columns of a run's `metrics.csv`, by name.
pub struct Metrics {
    pub header: Vec<String>,
    pub rows: Vec<Vec<f64>>,
}

impl Metrics {
    pub fn read(run_dir: &Path) -> anyhow::Result<Self> {
        let path = run_dir.join("metrics.csv");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let mut lines = text.lines();
        let header: Vec<String> = lines.next().context("empty metrics.csv")?.split(',').map(str::to_string).collect();
        let rows = lines
            .map(|l| l.split(',').map(|v| v.parse::<f64>().unwrap_or(f64::NAN)).collect::<Vec<f64>>())
            .filter(|r| r.len() == header.len())
            .collect::<Vec<_>>();
        if rows.is_empty() {
            bail!("{}: no metric rows", path.display());
        }
        Ok(Self { header, rows })
    }

    /// Column `name` as (step, value) pairs; `None` if absent.
    pub fn series(&self, name: &str) -> Option<Vec<(f64, f64)>> {
        let col = self.header.iter().position(|h| h == name)?;
        Some(self.rows.iter().map(|r| (r[0], r[col])).collect())
    }

    /// Mean LC of `set` at radius `r` with its 99 % CI band.
    pub fn lc(&self, set: &str, r: &str) -> Option<(Curve, Curve)> {
        let mean = self.series(&format!("lc_{set}_r{r}_mean"))?;
        let ci = self.series(&format!("lc_{set}_r{r}_ci99"))?;
        let band = mean.iter().zip(&ci).map(|(m, c)| (m.1 - c.1, m.1 + c.1)).collect();
        Some((mean, band))
    }

    /// Radii present in the LC columns, as written in the header.
    pub fn radii(&self) -> Vec<String> {
        let mut radii: Vec<String> = self
            .header
            .iter()
            .filter_map(|h| h.strip_prefix("lc_train_r")?.strip_suffix("_mean").map(str::to_string))
            .filter(|r| !r.contains("_layer"))
            .collect();
        radii.dedup();
        radii
    }
}

/// Steps on a log axis start at 1: step 0 is drawn at 1 (as the paper's plots do).
fn shift(points: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    points.into_iter().map(|(s, v)| (s.max(1.0), v)).collect()
}

/// Draw accuracy and LC curves of a run into `out` (`.png` or `.svg`).
pub fn plot_run(metrics: &Metrics, title: &str, markers: &[f64], out: &Path) -> anyhow::Result<PathBuf> {
    let mut acc = Chart {
        title: format!("{title}: accuracy"),
        x_label: "step".into(),
        y_label: "accuracy".into(),
        log_x: true,
        markers: markers.to_vec(),
        ..Chart::default()
    };
    for (name, label, color) in [("train_acc", "train", TRAIN), ("test_acc", "test", TEST)] {
        if let Some(s) = metrics.series(name) {
            acc.series.push(Series::new(label, shift(s)).with_color(color));
        }
    }
    // Adversarial curves in reds and purples, apart from the train/test colours.
    const ADVERSARIAL: [(u8, u8, u8); 4] = [(214, 39, 40), (148, 103, 189), (140, 86, 75), (227, 119, 194)];
    for (k, h) in metrics.header.iter().filter(|h| h.starts_with("pgd_acc_eps")).enumerate() {
        let eps = h.trim_start_matches("pgd_acc_eps");
        let series = Series::new(format!("PGD ε={eps}"), shift(metrics.series(h).unwrap_or_default()));
        acc.series.push(series.with_color(ADVERSARIAL[k % ADVERSARIAL.len()]).dashed());
    }
    let mut charts = vec![acc];
    for r in metrics.radii() {
        let mut chart = Chart {
            title: format!("{title}: LC, r = {r}"),
            x_label: "step".into(),
            y_label: "local complexity".into(),
            log_x: true,
            markers: markers.to_vec(),
            ..Chart::default()
        };
        for (set, color) in [("train", TRAIN), ("test", TEST), ("random", RANDOM)] {
            if let Some((mean, band)) = metrics.lc(set, &r) {
                chart.series.push(Series::new(set, shift(mean)).with_band(band).with_color(color));
            }
        }
        charts.push(chart);
    }
    let columns = charts.len();
    draw_charts(&charts, columns, out)?;
    Ok(out.to_path_buf())
}

/// The three LC phases of a curve: first descent to an early minimum, ascent to a maximum,
/// late decline. Returns (start, first minimum, peak, final) with their steps.
pub struct Phases {
    pub start: (f64, f64),
    pub first_min: (f64, f64),
    pub peak: (f64, f64),
    pub last: (f64, f64),
}

impl Phases {
    /// Find the phases; the first minimum is searched in the first `early` steps.
    pub fn of(curve: &[(f64, f64)], early: f64) -> Option<Self> {
        let start = *curve.first()?;
        let last = *curve.last()?;
        let first_min = curve.iter().filter(|p| p.0 <= early).copied().min_by(|a, b| a.1.total_cmp(&b.1))?;
        let peak = curve.iter().filter(|p| p.0 > first_min.0).copied().max_by(|a, b| a.1.total_cmp(&b.1))?;
        Some(Self { start, first_min, peak, last })
    }

    /// Descent (min < 0.8 × start), ascent (peak > 1.2 × min) and a late decline to below
    /// the first minimum.
    pub fn double_descent(&self) -> bool {
        self.first_min.1 < 0.8 * self.start.1 && self.peak.1 > 1.2 * self.first_min.1 && self.last.1 < self.first_min.1
    }

    pub fn describe(&self) -> String {
        let f = |(s, v): (f64, f64)| format!("{v:.2} @ {s}");
        format!(
            "start {}, first min {}, peak {}, final {}",
            f(self.start),
            f(self.first_min),
            f(self.peak),
            f(self.last)
        )
    }
}
