//! Curve charts render to PNG and SVG with their labels, including log axes and bands.

use tessera_plot::curves::{charts_csv, draw_charts, Chart, Series, TRAIN};

fn lc_chart() -> Chart {
    let steps: Vec<f64> = (0..40).map(|k| 10f64.powf(k as f64 / 8.0)).collect();
    let mean: Vec<(f64, f64)> = steps.iter().map(|&s| (s, 5.0 + s.ln().sin())).collect();
    let band = mean.iter().map(|&(_, m)| (m - 0.3, m + 0.3)).collect();
    Chart {
        title: "train LC".into(),
        x_label: "step".into(),
        y_label: "LC".into(),
        log_x: true,
        series: vec![
            Series::new("train", mean).with_band(band).with_color(TRAIN),
            Series::new("flat", vec![(0.0, 1.0), (1e4, 1.0)]).dashed(),
        ],
        markers: vec![10.0, 1000.0],
    }
}

#[test]
fn svg_chart_contains_title_and_legend_labels() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lc.svg");
    draw_charts(&[lc_chart(), lc_chart()], 2, &path).unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.contains("train LC") && svg.contains("flat"), "labels missing from the SVG");
}

#[test]
fn png_chart_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lc.png");
    draw_charts(&[lc_chart()], 1, &path).unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() > 1000);
    if let Ok(keep) = std::env::var("TESSERA_KEEP_PLOTS") {
        std::fs::copy(&path, std::path::Path::new(&keep).join("lc.png")).unwrap();
    }
}

#[test]
fn unknown_extension_is_an_error_naming_the_file() {
    let err = draw_charts(&[lc_chart()], 1, std::path::Path::new("/tmp/x.jpgx")).unwrap_err().to_string();
    assert!(err.contains("x.jpgx"), "{err}");
}

#[test]
fn charts_csv_has_one_row_per_point_with_band_bounds_where_a_series_has_a_band() {
    let mut chart = lc_chart();
    chart.title = "LC, train".into();
    let csv = charts_csv(&[chart]);
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], "panel,series,x,y,low,high");
    assert_eq!(rows.len(), 1 + 40 + 2, "header, 40 banded points, 2 flat points");
    assert!(rows[1].starts_with("\"LC, train\",train,1,"), "quoted panel title: {}", rows[1]);
    let banded: Vec<&str> = rows[1].rsplitn(3, ',').collect();
    let (low, high): (f64, f64) = (banded[1].parse().unwrap(), banded[0].parse().unwrap());
    assert!((high - low - 0.6).abs() < 1e-12, "band bounds written: {}", rows[1]);
    assert!(rows[42].ends_with(",1,,"), "no band: empty bounds: {}", rows[42]);
}
