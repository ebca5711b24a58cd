//! Partition pictures are written as PNG and SVG, with text from the embedded font, and bad
//! requests are clear errors.

use std::path::Path;
use tessera_net::{mlp, Activation};
use tessera_plot::curves::{Chart, Series};
use tessera_plot::{draw_partition, draw_partition_grid, BoundaryColours, Fill, PartitionStyle, PlotError};
use tessera_regions::{partition_slice, Partition, PartitionOptions, Slice};

fn small_partition() -> Partition {
    let mut net = mlp::<f64>(&[3, 8, 8, 3], Activation::Relu).unwrap();
    net.init_pytorch_default(4, 1.0);
    let slice = Slice::through_points(&[0.0, 0.0, 1.0], &[1.0, 0.0, 0.0], &[0.0, 1.0, 0.5], 1.5).unwrap();
    partition_slice(&net, &slice, &PartitionOptions::default()).unwrap()
}

fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{} is not a PNG", path.display());
}

fn assert_svg_with_text(path: &Path, text: &str) {
    let svg = std::fs::read_to_string(path).unwrap();
    assert!(svg.starts_with("<svg") || svg.contains("<svg"), "{} is not an SVG", path.display());
    assert!(svg.contains(text), "{} lacks the text {text:?}", path.display());
}

#[test]
fn partition_pictures_are_written_as_png_and_svg_in_every_fill() {
    let p = small_partition();
    let dir = tempfile::tempdir().unwrap();
    let title = format!("Num Regions {}", p.num_regions());
    for (i, fill) in [Fill::Random { seed: 1 }, Fill::SlopeNorm, Fill::Blank].into_iter().enumerate() {
        let style = PartitionStyle {
            fill,
            boundaries: if i == 1 { BoundaryColours::PerLayer } else { BoundaryColours::Black },
            title: Some(title.clone()),
            width: 300,
            ..PartitionStyle::default()
        };
        let (png, svg) = (dir.path().join(format!("p{i}.png")), dir.path().join(format!("p{i}.svg")));
        draw_partition(&p, &style, &png).unwrap();
        draw_partition(&p, &style, &svg).unwrap();
        assert_png(&png);
        assert_svg_with_text(&svg, &title);
    }
}

#[test]
fn bad_requests_are_errors_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let err = draw_partition(&small_partition(), &PartitionStyle::default(), &dir.path().join("p.jpg")).unwrap_err();
    assert!(matches!(err, PlotError::Format { .. }), "{err}");
    assert!(err.to_string().contains("p.jpg"));
    let missing_dir = dir.path().join("no/such/dir/p.png");
    let err = draw_partition(&small_partition(), &PartitionStyle::default(), &missing_dir).unwrap_err();
    assert!(err.to_string().contains("no/such/dir"), "{err}");
}

/// Width and height of a PNG, from its header.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (word(16), word(20))
}

#[test]
fn a_partition_grid_draws_each_panel_with_its_own_style_beside_an_optional_chart() {
    let p = small_partition();
    let dir = tempfile::tempdir().unwrap();
    let panel = |layers: usize| PartitionStyle {
        fill: Fill::SlopeNormLog { lo: 0.1, hi: 10.0 },
        layers: Some(layers),
        title: Some(format!("after layer {layers}")),
        ..PartitionStyle::default()
    };
    let panels = [(&p, panel(1)), (&p, panel(2)), (&p, panel(2))];
    let chart = Chart {
        title: "the chart".into(),
        series: vec![Series::new("s", vec![(0.0, 1.0), (1.0, 2.0)])],
        ..Chart::default()
    };
    for (name, chart) in [("alone", None), ("beside", Some(&chart))] {
        let (png, svg) = (dir.path().join(format!("{name}.png")), dir.path().join(format!("{name}.svg")));
        draw_partition_grid(&panels, 2, chart, &png).unwrap();
        draw_partition_grid(&panels, 2, chart, &svg).unwrap();
        assert_png(&png);
        assert_svg_with_text(&svg, "after layer 1");
        assert_svg_with_text(&svg, "after layer 2");
        // Two columns and two rows of 300-px panels, the chart 620 px wide beside them.
        let expected = if chart.is_some() { (620 + 600, 600) } else { (600, 600) };
        assert_eq!(png_size(&png), expected, "{name}");
    }
}
