//! The pictures show what they claim: written PNG files are decoded and their pixels checked
//! against the geometry that was drawn (boundary lines where the partition's boundaries are,
//! fills inside regions, the decision boundary in red, a curve where its points are).

use std::path::Path;

use tessera_net::{mlp, Activation};
use tessera_plot::curves::{draw_charts, Chart, Series, TRAIN};
use tessera_plot::{draw_partition, Fill, PartitionStyle};
use tessera_regions::{partition_slice, Partition, PartitionOptions, Point, Slice};

/// A decoded RGB picture.
struct Picture {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

impl Picture {
    fn read(path: &Path) -> Self {
        let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
        let mut reader = decoder.read_info().unwrap();
        let mut buffer = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buffer).unwrap();
        let channels = info.color_type.samples();
        assert!(channels >= 3, "{} is not an RGB picture", path.display());
        let rgb = buffer[..info.buffer_size()].chunks(channels).flat_map(|p| [p[0], p[1], p[2]]).collect();
        Self { width: info.width, height: info.height, rgb }
    }

    fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = ((y * self.width + x) * 3) as usize;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// Pixel centres whose colour satisfies `is`.
    fn pixels_where(&self, is: impl Fn([u8; 3]) -> bool) -> Vec<[f64; 2]> {
        let mut found = Vec::new();
        for y in 0..self.height {
            for x in 0..self.width {
                if is(self.pixel(x, y)) {
                    found.push([x as f64, y as f64]);
                }
            }
        }
        found
    }

    /// Whether a pixel within `radius` of `p` satisfies `is`.
    fn any_near(&self, p: [f64; 2], radius: f64, is: impl Fn([u8; 3]) -> bool) -> bool {
        let r = radius.ceil() as i64;
        (-r..=r).flat_map(|dy| (-r..=r).map(move |dx| (dx, dy))).any(|(dx, dy)| {
            let (x, y) = (p[0].round() as i64 + dx, p[1].round() as i64 + dy);
            x >= 0 && y >= 0 && x < self.width as i64 && y < self.height as i64 && is(self.pixel(x as u32, y as u32))
        })
    }
}

const WIDTH: u32 = 416;
/// `draw_partition` leaves this many pixels around the plot area.
const MARGIN: f64 = 8.0;

/// Lines are anti-aliased: a boundary pixel is a clearly darker grey.
fn is_black(c: [u8; 3]) -> bool {
    c[0] == c[1] && c[1] == c[2] && c[0] < 160
}
fn is_white(c: [u8; 3]) -> bool {
    c == [255, 255, 255]
}
fn is_red(c: [u8; 3]) -> bool {
    c[1] == c[2] && c[0] > 200 && c[1] < 160
}

/// A 3-input MLP sliced through three points: tens of regions and a decision boundary (the
/// first initialisation seed whose slice has both).
fn partition() -> Partition {
    let slice = Slice::through_points(&[0.0, 0.0, 1.0], &[1.0, 0.0, 0.0], &[0.0, 1.0, 0.5], 3.0).unwrap();
    (0..100)
        .map(|seed| {
            let mut net = mlp::<f64>(&[3, 8, 8, 2], Activation::Relu).unwrap();
            net.init_pytorch_default(seed, 1.0);
            partition_slice(&net, &slice, &PartitionOptions::default()).unwrap()
        })
        .find(|p| p.num_regions() >= 10 && p.decision_boundary.len() >= 3)
        .expect("some seed gives a slice with regions and a decision boundary")
}

/// Slice coordinates to pixel centres of a `draw_partition` picture without a title.
fn to_pixels(p: &Partition) -> impl Fn(Point) -> [f64; 2] {
    let xs = p.slice.domain.iter().map(|q| q[0]);
    let (x0, x1) = (xs.clone().fold(f64::MAX, f64::min), xs.fold(f64::MIN, f64::max));
    let y1 = p.slice.domain.iter().map(|q| q[1]).fold(f64::MIN, f64::max);
    // Square pixels: the height follows the domain's aspect ratio.
    let scale = (WIDTH as f64 - 2.0 * MARGIN) / (x1 - x0);
    move |u| [MARGIN + (u[0] - x0) * scale, MARGIN + (y1 - u[1]) * scale]
}

fn distance_to_segment(p: [f64; 2], a: [f64; 2], b: [f64; 2]) -> f64 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 { (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2).clamp(0.0, 1.0) } else { 0.0 };
    ((p[0] - a[0] - t * dx).powi(2) + (p[1] - a[1] - t * dy).powi(2)).sqrt()
}

/// Every pixel of colour `is` lies within `reach` pixels of a segment (half the line width plus
/// anti-aliasing), and every segment is drawn along its length.
fn assert_segments_drawn(
    picture: &Picture,
    segments: &[[[f64; 2]; 2]],
    reach: f64,
    is: fn([u8; 3]) -> bool,
    what: &str,
) {
    let coloured = picture.pixels_where(is);
    assert!(!coloured.is_empty(), "no {what} pixels at all");
    for p in &coloured {
        let nearest = segments.iter().map(|s| distance_to_segment(*p, s[0], s[1])).fold(f64::MAX, f64::min);
        assert!(nearest <= reach, "{what} pixel at {p:?} is {nearest:.1} px from every segment");
    }
    let mut missing = Vec::new();
    for s in segments {
        for t in [0.25, 0.5, 0.75] {
            let q = [s[0][0] + t * (s[1][0] - s[0][0]), s[0][1] + t * (s[1][1] - s[0][1])];
            if !picture.any_near(q, 1.5, is) {
                missing.push((s, t));
            }
        }
    }
    assert!(missing.is_empty(), "{} of {} {what} segments not drawn: {missing:?}", missing.len(), segments.len());
}

#[test]
fn boundary_pixels_lie_exactly_on_the_partitions_boundary_segments() {
    let p = partition();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("boundaries.png");
    let style =
        PartitionStyle { width: WIDTH, fill: Fill::Blank, decision_width: 0, anchors: false, ..Default::default() };
    draw_partition(&p, &style, &path).unwrap();
    let picture = Picture::read(&path);
    let px = to_pixels(&p);
    let segments: Vec<_> = p.layers.iter().flat_map(|l| &l.boundary).map(|s| [px(s.from), px(s.to)]).collect();
    assert_segments_drawn(&picture, &segments, 2.5, is_black, "boundary");
}

#[test]
fn a_layer_limit_draws_exactly_the_boundaries_of_the_first_layers() {
    let p = partition();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("first_layer.png");
    let style = PartitionStyle {
        width: WIDTH,
        fill: Fill::Blank,
        layers: Some(1),
        decision_width: 0,
        anchors: false,
        ..Default::default()
    };
    draw_partition(&p, &style, &path).unwrap();
    let picture = Picture::read(&path);
    let px = to_pixels(&p);
    let segments: Vec<_> = p.layers[0].boundary.iter().map(|s| [px(s.from), px(s.to)]).collect();
    assert_segments_drawn(&picture, &segments, 2.5, is_black, "first-layer boundary");
}

#[test]
fn decision_boundary_pixels_are_red_and_lie_on_the_decision_segments() {
    let p = partition();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("decision.png");
    let style = PartitionStyle {
        width: WIDTH,
        fill: Fill::Blank,
        boundary_width: 0,
        decision_width: 2,
        anchors: false,
        ..Default::default()
    };
    draw_partition(&p, &style, &path).unwrap();
    let picture = Picture::read(&path);
    let px = to_pixels(&p);
    let segments: Vec<_> = p.decision_boundary.iter().map(|s| [px(s.from), px(s.to)]).collect();
    assert_segments_drawn(&picture, &segments, 3.5, is_red, "decision boundary");
}

#[test]
fn region_interiors_are_filled_with_distinct_non_white_colours() {
    let p = partition();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fill.png");
    let style = PartitionStyle {
        width: WIDTH,
        fill: Fill::Random { seed: 3 },
        boundary_width: 0,
        decision_width: 0,
        anchors: false,
        ..Default::default()
    };
    draw_partition(&p, &style, &path).unwrap();
    let picture = Picture::read(&path);
    let px = to_pixels(&p);
    let scale = px([1.0, 0.0])[0] - px([0.0, 0.0])[0];
    // Regions of at least 400 px² hold their centroid's pixel well inside them.
    let big: Vec<_> = p.regions.iter().filter(|r| r.area * scale * scale >= 400.0).collect();
    assert!(big.len() >= 5, "only {} large regions", big.len());
    let colours: Vec<[u8; 3]> = big
        .iter()
        .map(|r| {
            let n = r.polygon.len() as f64;
            let c = r.polygon.iter().fold([0.0, 0.0], |s, q| [s[0] + q[0] / n, s[1] + q[1] / n]);
            let q = px(c);
            picture.pixel(q[0].round() as u32, q[1].round() as u32)
        })
        .collect();
    assert!(colours.iter().all(|&c| !is_white(c) && !is_black(c)), "unfilled region centres: {colours:?}");
    let distinct: std::collections::BTreeSet<_> = colours.iter().collect();
    assert!(distinct.len() * 5 >= colours.len() * 4, "{} colours for {} regions", distinct.len(), colours.len());
}

/// The median pixel row of `TRAIN`-coloured pixels in the left and right fifths of the picture.
fn curve_rows(path: &Path) -> (f64, f64, usize) {
    let picture = Picture::read(path);
    let train = picture.pixels_where(|c| c == [TRAIN.0, TRAIN.1, TRAIN.2]);
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let w = picture.width as f64;
    let left: Vec<f64> = train.iter().filter(|p| p[0] < 0.3 * w).map(|p| p[1]).collect();
    let right: Vec<f64> = train.iter().filter(|p| p[0] > 0.7 * w).map(|p| p[1]).collect();
    assert!(!left.is_empty() && !right.is_empty(), "{}: the curve does not span the chart", path.display());
    (median(left), median(right), train.len())
}

#[test]
fn a_rising_curve_is_drawn_rising_and_a_falling_one_falling() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows = Vec::new();
    for (name, rising) in [("rising", true), ("falling", false)] {
        let points: Vec<(f64, f64)> =
            (0..=40).map(|i| (10f64.powf(i as f64 / 10.0), if rising { i as f64 } else { 40.0 - i as f64 })).collect();
        let chart = Chart {
            title: name.into(),
            x_label: "step".into(),
            y_label: "LC".into(),
            log_x: true,
            series: vec![Series::new("train", points).with_color(TRAIN)],
            markers: vec![],
        };
        let path = dir.path().join(format!("{name}.png"));
        draw_charts(&[chart], 1, &path).unwrap();
        rows.push(curve_rows(&path));
    }
    let ((rise_left, rise_right, n), (fall_left, fall_right, _)) = (rows[0], rows[1]);
    assert!(n >= 200, "only {n} curve pixels");
    // Pixel rows grow downwards.
    assert!(rise_left > rise_right + 50.0, "rising curve: left row {rise_left}, right row {rise_right}");
    assert!(fall_left + 50.0 < fall_right, "falling curve: left row {fall_left}, right row {fall_right}");
}
