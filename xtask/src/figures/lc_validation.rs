//! LC sanity and validation on random networks (paper 2, appendix A and Fig. 15): no training.

use super::{chart_files, Check, Context, Figure, Outcome};
use crate::Scale;
use tessera_lc::{Directions, Frame, LcOptions, LocalComplexity};
use tessera_net::{mlp, Activation, Network};
use tessera_plot::curves::{Chart, Series};

/// Mean LC (sum over layers) of `net` at each point of `points` (row-major), per radius.
fn mean_lc(net: &Network<f64>, frame: &Frame, radii: &[f64], points: &[f64]) -> anyhow::Result<Vec<f64>> {
    let lc = LocalComplexity::new(net, LcOptions::new(Directions::Shared(frame.clone()), radii.to_vec()))?;
    let counts = lc.count_points(points)?;
    let n = points.len() / net.input_width();
    Ok((0..radii.len())
        .map(|k| counts.iter().filter(|c| c.radius_index == k).map(|c| c.total() as f64).sum::<f64>() / n as f64)
        .collect())
}

/// A `depth`-hidden-layer MLP of constant `width` on `d` inputs.
fn deep_mlp(d: usize, width: usize, depth: usize, activation: Activation) -> anyhow::Result<Network<f64>> {
    let mut widths = vec![d];
    widths.extend(std::iter::repeat_n(width, depth));
    widths.push(10);
    Ok(mlp(&widths, activation)?)
}

/// P2 appendix A: with zero biases and identity activations every hyperplane passes through the
/// origin, so LC at the origin must count every neuron, for every radius and every P >= 1.
pub struct LinearSanity;

impl LinearSanity {
    fn size(scale: Scale) -> (usize, usize) {
        match scale {
            Scale::Smoke => (32, 6),
            Scale::Cpu => (64, 10),
            Scale::Paper => (400, 50),
        }
    }
}

impl Figure for LinearSanity {
    fn id(&self) -> &'static str {
        "lc-linear-sanity"
    }
    fn title(&self) -> &'static str {
        "LC recovers every hyperplane of a zero-bias linear MLP at the origin"
    }
    fn paper_reference(&self) -> &'static str {
        "P2 App. A"
    }
    fn setup(&self, scale: Scale) -> String {
        let (w, d) = Self::size(scale);
        format!(
            "MLP 784 → {d}×{w} → 10 with LeakyReLU(slope 1) (identity) and zero biases, PyTorch-default weights; \
             LC at the origin for r ∈ {{1e-4, 1e-2, 1, 10}} and P ∈ {{1, 2, 10}}, shared seeded frame."
        )
    }
    fn run(&self, ctx: &Context) -> anyhow::Result<Outcome> {
        let (width, depth) = Self::size(ctx.scale);
        let mut net = deep_mlp(784, width, depth, Activation::LeakyRelu { slope: 1.0 })?;
        net.init_pytorch_default(0, 1.0);
        for id in 0..net.nodes().len() {
            if let Some(bias) = net.params_mut(id).tensors.get_mut(1) {
                bias.iter_mut().for_each(|b| *b = 0.0);
            }
        }
        let neurons = width * depth;
        let radii = [1e-4, 1e-2, 1.0, 10.0];
        let mut outcome = Outcome::default();
        let mut table = String::from("| P | r = 1e-4 | r = 1e-2 | r = 1 | r = 10 |\n| --- | --- | --- | --- | --- |\n");
        let mut chart = Chart {
            title: "LC at the origin of a zero-bias linear MLP".into(),
            x_label: "radius r".into(),
            y_label: "LC".into(),
            log_x: true,
            ..Chart::default()
        };
        for p in [1, 2, 10] {
            let frame = Frame::random(784, p, 7)?;
            let lc = mean_lc(&net, &frame, &radii, &vec![0.0; 784])?;
            let listed = lc.iter().map(|v| v.to_string()).collect::<Vec<_>>();
            table += &format!("| {p} | {} |\n", listed.join(" | "));
            let all = lc.iter().all(|&v| v == neurons as f64);
            outcome.checks.push(Check::new(
                format!("P = {p}: LC = {neurons} neurons at every r"),
                all,
                format!("LC at r = 1e-4, 1e-2, 1, 10: {}", listed.join(", ")),
            ));
            chart.series.push(Series::new(format!("P = {p}"), radii.iter().copied().zip(lc).collect()));
        }
        // Drawn last, dashed black, so that it stays visible on the curves it should equal.
        let expected = Series::new("neurons", radii.iter().map(|&r| (r, neurons as f64)).collect());
        chart.series.push(expected.dashed().with_color((0, 0, 0)));
        outcome.images = vec![chart_files(&[chart], 1, &ctx.figure_dir(self.id())?, "linear_sanity")?];
        outcome.notes.push(table);
        Ok(outcome)
    }
}

/// P2 Fig. 15: a random LeakyReLU MLP; LC as the neighbourhood centre moves from 0 to 10·1,
/// for several P (at r = 5) and several r (at P = 20).
pub struct ShiftedNeighbourhood;

struct ShiftSetup {
    width: usize,
    depth: usize,
    shifts: usize,
    ps: Vec<usize>,
    radii: Vec<f64>,
}

impl ShiftedNeighbourhood {
    fn setup_for(scale: Scale) -> ShiftSetup {
        match scale {
            Scale::Smoke => {
                ShiftSetup { width: 50, depth: 8, shifts: 11, ps: vec![2, 22, 42], radii: vec![0.5, 2.0, 5.0] }
            }
            _ => ShiftSetup {
                width: 100,
                depth: 18,
                shifts: 50,
                ps: vec![2, 22, 42, 82, 162],
                radii: vec![0.1, 0.5, 1.0, 2.0, 5.0],
            },
        }
    }
}

impl Figure for ShiftedNeighbourhood {
    fn id(&self) -> &'static str {
        "lc-shift"
    }
    fn title(&self) -> &'static str {
        "LC of a random leaky-ReLU MLP as the neighbourhood moves away from the origin"
    }
    fn paper_reference(&self) -> &'static str {
        "P2 Fig. 15"
    }
    fn setup(&self, scale: Scale) -> String {
        let s = Self::setup_for(scale);
        format!(
            "MLP 784 → {}×{} → 10, LeakyReLU(0.01), PyTorch-default init (seed 0). Centre t·1 for {} values of t in [0, 10]. \
             Left: P ∈ {:?} at r = 5. Right: r ∈ {:?} at P = 20.",
            s.depth, s.width, s.shifts, s.ps, s.radii
        )
    }
    fn run(&self, ctx: &Context) -> anyhow::Result<Outcome> {
        let s = Self::setup_for(ctx.scale);
        let mut net = deep_mlp(784, s.width, s.depth, Activation::LeakyRelu { slope: 0.01 })?;
        net.init_pytorch_default(0, 1.0);
        let ts: Vec<f64> = (0..s.shifts).map(|k| 10.0 * k as f64 / (s.shifts - 1) as f64).collect();
        let centres: Vec<f64> = ts.iter().flat_map(|&t| std::iter::repeat_n(t, 784)).collect();
        let per_point = |frame: &Frame, radii: &[f64]| -> anyhow::Result<Vec<Vec<f64>>> {
            // One row per radius, one column per shift.
            let lc = LocalComplexity::new(&net, LcOptions::new(Directions::Shared(frame.clone()), radii.to_vec()))?;
            let counts = lc.count_points(&centres)?;
            Ok((0..radii.len())
                .map(|k| {
                    let mut row = vec![0.0; ts.len()];
                    counts.iter().filter(|c| c.radius_index == k).for_each(|c| row[c.index] = c.total() as f64);
                    row
                })
                .collect())
        };
        let mut by_p = Vec::new();
        for &p in &s.ps {
            by_p.push(per_point(&Frame::random(784, p, 1)?, &[5.0])?.remove(0));
        }
        let by_r = per_point(&Frame::random(784, 20, 1)?, &s.radii)?;
        let series = |rows: &[Vec<f64>], label: &dyn Fn(usize) -> String| -> Vec<Series> {
            rows.iter()
                .enumerate()
                .map(|(k, row)| Series::new(label(k), ts.iter().copied().zip(row.iter().copied()).collect()))
                .collect()
        };
        let charts = [
            Chart {
                title: "r = 5, varying P".into(),
                x_label: "shift t".into(),
                y_label: "LC".into(),
                series: series(&by_p, &|k| format!("P = {}", s.ps[k])),
                ..Chart::default()
            },
            Chart {
                title: "P = 20, varying r".into(),
                x_label: "shift t".into(),
                y_label: "LC".into(),
                series: series(&by_r, &|k| format!("r = {}", s.radii[k])),
                ..Chart::default()
            },
        ];
        let image = chart_files(&charts, 2, &ctx.figure_dir(self.id())?, "lc_shift")?;
        let mean = |row: &Vec<f64>| row.iter().sum::<f64>() / row.len() as f64;
        let falls = by_p.iter().chain(&by_r).all(|row| row[0] > *row.last().unwrap());
        let grows_with_p = by_p.windows(2).all(|w| mean(&w[1]) > mean(&w[0]));
        let grows_with_r = by_r.windows(2).all(|w| mean(&w[1]) > mean(&w[0]));
        let fmt = |rows: &[Vec<f64>]| {
            rows.iter().map(|r| format!("{:.1}→{:.1}", r[0], r.last().unwrap())).collect::<Vec<_>>().join(", ")
        };
        let means = |rows: &[Vec<f64>]| rows.iter().map(|r| format!("{:.1}", mean(r))).collect::<Vec<_>>().join(", ");
        // The paper's numbers at r = 5 for its width-100 depth-18 net, as ranges around them.
        let small = ctx.scale == Scale::Smoke;
        let why = "the smoke net is smaller than the paper's";
        let (few, most) = (&by_p[0], by_p.last().expect("several P"));
        let ranges = [
            ("P = 2 at t = 0 ≈ 160", few[0], 130.0, 190.0),
            ("P = 2 at t = 10 ≈ 12", *few.last().unwrap(), 6.0, 20.0),
            ("largest P at t = 0 ≈ 250–265", most[0], 220.0, 290.0),
            ("largest P at t = 10 ≈ 23–25", *most.last().unwrap(), 15.0, 35.0),
        ];
        let mut checks = vec![
            Check::new(
                "LC at t = 0 exceeds LC at t = 10 (every curve)",
                falls,
                format!("P sweep {}; r sweep {}", fmt(&by_p), fmt(&by_r)),
            ),
            Check::new("mean LC grows strictly with P", grows_with_p, means(&by_p)),
            Check::new("mean LC grows strictly with r", grows_with_r, means(&by_r)),
        ];
        for (name, value, low, high) in ranges {
            checks.push(crate::checks::within(&format!("P2 Fig. 15: {name}"), value, low, high).unless(small, why));
        }
        Ok(Outcome {
            images: vec![image],
            checks,
            notes: vec!["Paper ballpark at r = 5 (width 100, depth 18): ≈160 (P = 2) to ≈250–265 (P ≥ 62) at t = 0; ≈12 to ≈25 at t = 10.".into()],
        })
    }
}
